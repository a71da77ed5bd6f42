//! Read markers (PROTOCOL.md §4, Read markers): the chat tells the server what it showed, per
//! channel and conversation, so that the user's other devices (and this one's next start)
//! know it was read; and it passes over, in the line that names the conversations with news
//! after an absence, those another device read already.
//!
//! Only a session logged in to an account keeps markers on the server; the client sends them
//! from the gaps thread's tick, not per Event, so a busy channel costs a request a second.

use super::catchup::ask;
use super::shared::{ReqError, Shared, State, Want};
use crate::conn::{Conn, NetError};
use crate::event::Received;
use crate::marks::{self, Book, Mark, topic_key};
use scalar::proto::{ErrorCode, MarkRead, Msg, Name};
use std::collections::HashMap;

/// The most markers one tick sends; the rest wait for the next (a chat that joined many
/// busy channels does not burst requests the server holds it to a rate for).
const PER_TICK: usize = 16;

/// The most conversations whose markers an absence's line asks for: it names ten, the
/// newest first.
const MAX_ASKED: usize = 20;

/// The most MarkReads sent and not answered yet: a server that stopped answering is sent no
/// more until it does, or the connection is replaced.
const MAX_IN_FLIGHT: usize = 256;

/// Held while markers are taken and queued, so that a tick's batch cannot be queued after
/// the Bye of a `/quit` that sent the rest.
static SENDING: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// What the chat showed and has not told the server yet.
#[derive(Debug, Default)]
pub struct ReadMarks {
    /// Per marker topic not sent yet: the newest time shown, and when it was first noted
    /// since it was last sent (a count: the one noted longest ago is sent first).
    pending: HashMap<String, (u64, u64)>,
    /// The count the next topic noted gets.
    noted: u64,
    /// MarkReads sent and not answered yet, by `seq`: put back to be sent again if the
    /// connection ends first (a marker never moves back, so twice is harmless).
    in_flight: HashMap<u32, (String, u64)>,
    /// The server keeps no markers (it does not know the type), or not for this session:
    /// nothing more is sent on this connection.
    pub off: bool,
}

impl ReadMarks {
    /// Sends again on a new connection (the server may differ), what was not sent yet
    /// included.
    pub fn reset(&mut self) {
        self.off = false;
    }

    /// The connection ended: what it did not answer is sent again on the next.
    pub fn requeue(&mut self) {
        for (_, (topic, time)) in std::mem::take(&mut self.in_flight) {
            self.note(&topic, time);
        }
    }

    /// Takes up to `max` of the pending markers, to be sent.
    fn take(&mut self, max: usize) -> Vec<(String, u64)> {
        // The map's own order would favour the same topics at every tick.
        let mut waiting: Vec<(u64, &String)> = self.pending.iter().map(|(t, &(_, n))| (n, t)).collect();
        waiting.sort_unstable();
        let keys: Vec<String> = waiting.into_iter().take(max).map(|(_, t)| t.clone()).collect();
        keys.into_iter()
            .filter_map(|k| self.pending.remove_entry(&k).map(|(t, (time, _))| (t, time)))
            .collect()
    }

    /// Notes that the newest Event shown on the marker topic `topic` is at `time`, or later.
    fn note(&mut self, topic: &str, time: u64) {
        let (newest, _) = self
            .pending
            .entry(topic.to_string())
            .or_insert((time, self.noted));
        *newest = (*newest).max(time);
        self.noted += 1;
    }
}

/// The topic whose marker an Event on `topic` from `from` moves, for user `me` of `domain`: a
/// channel's own, a conversation's other user's ID (its sender if it came to `me`, else its
/// topic), if that user is of this server; `None` for another domain's user, whose
/// conversation this server does not keep, and for a reserved name's announcement (the
/// message of the day), on which the server keeps no marker (405).
pub fn marker_topic<'a>(me: &str, domain: &str, topic: &'a str, from: &'a str) -> Option<&'a str> {
    match topic.as_bytes().first() {
        Some(b'#') => return Some(topic),
        Some(b'!') => return None,
        _ => {}
    }
    let other = if topic == me { from } else { topic };
    (other.rsplit_once('@').is_some_and(|(_, d)| d == domain)).then_some(other)
}

impl State {
    /// Notes that `e` was shown to the user: read. Events the server does not keep (presence,
    /// joins) mark nothing: they are no messages. Nor does one shown while a gap before it is
    /// not filled yet (a catch-up refused, or cut at its page bound and read on in the
    /// background: [`super::gaps`]), of its channel or, for a direct message, of the inbox
    /// (what others send comes there): the marker would pass over messages no device showed
    /// (found in review). It moves again with the first message shown after the gap is filled.
    pub fn note_read(&mut self, e: &Received) {
        if !self.logged_in || self.read.off || e.is_unstored() {
            return;
        }
        let Some(topic) = marker_topic(&self.user, &self.domain, &e.topic, &e.from) else {
            return;
        };
        let gap_in = if topic.starts_with('#') {
            topic
        } else {
            self.user.as_str()
        };
        if self.unfilled.contains_key(gap_in) {
            return;
        }
        self.read.note(topic, e.time);
    }
}

/// Sends up to `max` of the markers the chat moved since the last call, each a MarkRead whose
/// reply is not waited for.
pub fn send_marks(shared: &Shared, max: usize) {
    let _sending = SENDING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    queue_marks(shared, max);
}

/// [`send_marks`]' work, with [`SENDING`] held.
fn queue_marks(shared: &Shared, max: usize) {
    let due: Vec<(String, u64)> = {
        let mut st = shared.state();
        if !st.connected || st.read.off {
            return;
        }
        let room = MAX_IN_FLIGHT.saturating_sub(st.read.in_flight.len());
        st.read.take(max.min(room))
    };
    let mut due = due.into_iter();
    while let Some((topic, time)) = due.next() {
        let Ok(name) = Name::parse(&topic) else { continue };
        let numbered = std::cell::Cell::new(None);
        let sent = shared.start_unanswered(Want::Mark, |seq| {
            // Recorded before it is written: its answer cannot come first.
            if let Some(seq) = seq {
                numbered.set(Some(seq));
                shared.state().read.in_flight.insert(seq, (topic.clone(), time));
            }
            Msg::MarkRead(MarkRead {
                seq,
                topic: name,
                time: Some(time),
            })
        });
        if sent.is_err() {
            // Not connected after all: this one and the rest are kept for the next connection.
            let mut st = shared.state();
            if let Some(seq) = numbered.get() {
                st.read.in_flight.remove(&seq);
            }
            for (topic, time) in std::iter::once((topic, time)).chain(due) {
                st.read.note(&topic, time);
            }
            return;
        }
    }
}

/// Whether Error `code`, to a MarkRead, says this connection keeps no markers: a server
/// without the type (103), or a session without an account there (805).
fn refuses_markers(code: u16) -> bool {
    [ErrorCode::UnknownType, ErrorCode::RegisteredOnly]
        .map(|c| c as u16)
        .contains(&code)
}

/// [`send_marks`] at the gaps thread's tick, but never once the user quits: `/quit` sets
/// `quitting` before its own last [`send_marks`] and its Bye, so a tick that gets [`SENDING`]
/// after that one would queue its batch after the Bye (found in review: the tick that woke
/// during `/quit` sent what was shown meanwhile, or what the in-flight bound held back).
pub fn send_due(shared: &Shared) {
    let _sending = SENDING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if shared.quitting.load(std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    queue_marks(shared, PER_TICK);
}

/// Takes the server's answer to the MarkRead numbered `seq` that this client sent: a server
/// that does not know the type (103), or refuses this session markers, is sent no more on
/// this connection.
pub fn answered(shared: &Shared, seq: u32, frame: &scalar::client::Frame) {
    let mut st = shared.state();
    st.read.in_flight.remove(&seq);
    if let Ok(Msg::Error(e)) = frame.msg()
        && refuses_markers(e.code)
    {
        st.read.off = true;
        st.read.pending.clear();
        st.read.in_flight.clear();
    }
}

/// Keeps, for the next start that logs in to the account ([`restore_unsent`]), the markers
/// this chat could not send: it quits while its connection is down (a reconnect pending), or a
/// signal ends it, and what it showed last, and what no connection answered, would be news to
/// the user's other devices. One sent but not answered yet may go twice, which moves nothing.
/// Only a failure is said.
pub fn keep_unsent(shared: &Shared) {
    let Some((user, unsent)) = take_unsent(shared) else {
        return;
    };
    let kept: Vec<(String, Mark)> = unsent
        .iter()
        .map(|(topic, time)| {
            let mark = Mark {
                left_at: *time,
                last: None,
            };
            (topic_key(&user, topic), mark)
        })
        .collect();
    if let Err(why) = marks::save_all(Book::Read, &kept) {
        shared.screen.error(format!(
            "{why}: {} read marker(s) this chat could not send are lost: your other devices may \
             show what you read here as new",
            kept.len()
        ));
    }
}

/// The user and the markers [`keep_unsent`] keeps, taken out of the chat's; `None` if there
/// are none to keep. With [`SENDING`] held: a tick that took its batch and finds the
/// connection gone puts them back only then (found in review: a signal's `keep_unsent` in
/// between found neither them pending nor in flight, and they were lost).
fn take_unsent(shared: &Shared) -> Option<(String, Vec<(String, u64)>)> {
    let _sending = SENDING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut st = shared.state();
    if !st.logged_in || st.read.off {
        return None;
    }
    st.read.requeue();
    let unsent: Vec<(String, u64)> = st.read.take(usize::MAX);
    (!unsent.is_empty()).then(|| (st.user.clone(), unsent))
}

/// Takes the markers an earlier run of this account kept ([`keep_unsent`]): the next ticks
/// send them with this run's (one the server has past them changes nothing there).
pub fn restore_unsent(shared: &Shared) {
    restore_with(shared, |prefix| marks::take(Book::Read, prefix));
}

/// [`restore_unsent`] with markers taken by `take`. With [`SENDING`] held from before they
/// leave the file until the chat holds them, as [`keep_unsent`] takes it: a signal's
/// `keep_unsent` in between found them in neither, and they were lost.
fn restore_with(shared: &Shared, take: impl FnOnce(&str) -> Result<Vec<(String, Mark)>, String>) {
    let user = {
        let st = shared.state();
        if !st.logged_in {
            return;
        }
        st.user.clone()
    };
    let prefix = topic_key(&user, "");
    let _sending = SENDING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    match take(&prefix) {
        Ok(kept) => {
            let mut st = shared.state();
            for (key, mark) in kept {
                if let Some(topic) = key.strip_prefix(&prefix) {
                    st.read.note(topic, mark.left_at);
                }
            }
        }
        Err(why) => shared.screen.error(format!(
            "{why}: read markers an earlier run could not send may not reach the server"
        )),
    }
}

/// The user's marker on `topic` (a channel or a conversation), asked of the server; `None`
/// without one, without an account here, or from a server without markers (which is then
/// asked no more on this connection).
pub fn marker(shared: &Shared, topic: Name<'_>) -> Option<u64> {
    {
        let st = shared.state();
        if !st.logged_in || st.read.off {
            return None;
        }
    }
    let asked = shared.request(Want::Reply, |seq| {
        Msg::MarkRead(MarkRead {
            seq,
            topic,
            time: None,
        })
    });
    match asked {
        Ok(frame) => match frame.msg() {
            Ok(Msg::ReadMark(r)) => r.time,
            _ => None,
        },
        Err(ReqError::Net(NetError::Refused { code, .. })) if refuses_markers(code) => {
            shared.state().read.off = true;
            None
        }
        Err(_) => None,
    }
}

/// The conversations of `moved` (other user, time of the newest message) whose newest
/// message is after the user's marker there, asked of the server on the restore's connection
/// for the [`MAX_ASKED`] newest; the rest are kept as they are. A server without markers, or
/// one that refuses them, leaves the list as it was; the error ends the restore.
pub fn unread_elsewhere(
    shared: &Shared,
    conn: &mut Conn,
    held: &mut Vec<Received>,
    mut moved: Vec<(String, u64)>,
) -> Result<Vec<(String, u64)>, NetError> {
    if !shared.state().logged_in || moved.is_empty() {
        return Ok(moved);
    }
    let mut newest: Vec<(String, u64)> = moved.clone();
    newest.sort_by_key(|&(_, time)| std::cmp::Reverse(time));
    newest.truncate(MAX_ASKED);
    for (with, time) in newest {
        let Ok(name) = Name::parse(&with) else { continue };
        let reply = ask(shared, conn, held, |seq| {
            Msg::MarkRead(MarkRead {
                seq,
                topic: name,
                time: None,
            })
        })?;
        let marker = match reply {
            Ok(frame) => match frame.msg() {
                Ok(Msg::ReadMark(r)) => r.time,
                _ => None,
            },
            // No markers here: the list stands.
            Err(_) => return Ok(moved),
        };
        if marker.is_some_and(|m| m >= time) {
            moved.retain(|(w, _)| *w != with);
        }
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::super::shared::Shown;
    use super::*;

    #[test]
    fn a_marker_is_the_channel_s_or_the_conversation_s_of_this_server() {
        let t = |topic, from| marker_topic("me@l", "l", topic, from);
        assert_eq!(t("#rust@l", "bob@l"), Some("#rust@l"));
        assert_eq!(t("me@l", "bob@l"), Some("bob@l"), "to me: the sender's");
        assert_eq!(t("bob@l", "me@l"), Some("bob@l"), "mine: the recipient's");
        assert_eq!(t("me@l", "me@l"), Some("me@l"), "to myself");
        assert_eq!(t("me@l", "carol@other.org"), None, "another domain's user");
        // Found in review: the message of the day (an Event on !motd@DOMAIN, at each
        // connection) was marked, and the server refused each with 405.
        assert_eq!(t("!motd@l", "op@l"), None, "a reserved name has no marker");
        assert_eq!(t("!wall@l", "!wall@l"), None);
    }

    /// A session of me@l on l, logged in to its account.
    fn logged_in() -> Shared {
        let timeout = std::time::Duration::from_millis(50);
        let screen = super::super::screen::Screen::new();
        let shared = Shared::new("me@l".into(), "l".into(), screen, false, timeout);
        shared.state().logged_in = true;
        shared
    }

    /// Found in review: an ignored user's message, which the chat does not show, was marked
    /// read, so the user's other devices passed over what none of them showed.
    #[test]
    fn what_the_chat_does_not_show_is_not_read() {
        let shared = logged_in();
        shared.state().ignoring.push("bob@l".into());
        let dm = crate::event::text_event("me@l", "bob@l", "hi", None);
        shared.show_event(&dm, Shown::Live);
        assert!(shared.state().read.pending.is_empty(), "a direct message");
        let said = crate::event::Received {
            id: scalar::proto::MsgId([3; 32]),
            ..crate::event::text_event("#rust@l", "bob@l", "hi", None)
        };
        shared.show_event(&said, Shown::Live);
        assert!(shared.state().read.pending.is_empty());
        let shown = crate::event::Received {
            id: scalar::proto::MsgId([2; 32]),
            ..crate::event::text_event("#rust@l", "carol@l", "hi", None)
        };
        shared.show_event(&shown, Shown::Live);
        assert_eq!(
            shared.state().read.pending.get("#rust@l").map(|p| p.0),
            Some(shown.time)
        );
    }

    /// Found in review: when the connection turned out gone as the markers were sent, the
    /// first was kept for the next connection and the others dropped.
    #[test]
    fn markers_that_could_not_be_sent_all_wait_for_the_next_connection() {
        let shared = logged_in();
        for (n, topic) in ["#a@l", "#b@l", "#c@l"].into_iter().enumerate() {
            let e = crate::event::Received {
                id: scalar::proto::MsgId([n as u8 + 1; 32]),
                ..crate::event::text_event(topic, "bob@l", "hi", None)
            };
            shared.show_event(&e, Shown::Live);
        }
        // Counted as connected, but with no way to the server: each send fails.
        shared.online();
        send_marks(&shared, PER_TICK);
        assert_eq!(shared.state().read.pending.len(), 3);
    }

    /// Found in review: a MarkRead queued just before the connection ended, unanswered, was
    /// lost (the server may never have had it). It is sent again on the next connection; one
    /// answered is not.
    #[test]
    fn markers_the_connection_did_not_answer_go_again_on_the_next() {
        let shared = logged_in();
        for topic in ["#a@l", "#b@l"] {
            shared.state().read.note(topic, 5);
        }
        let (out, _inbox) = super::super::shared::outbox().unwrap();
        shared.install(out);
        send_marks(&shared, PER_TICK);
        let in_flight: Vec<(u32, String)> = (shared.state().read.in_flight.iter())
            .map(|(&seq, (topic, _))| (seq, topic.clone()))
            .collect();
        assert_eq!(in_flight.len(), 2);
        assert!(shared.state().read.pending.is_empty());
        let (seq, answered) = &in_flight[0];
        let reply = Msg::ReadMark(scalar::proto::ReadMark {
            seq: Some(*seq),
            topic: Name::parse(answered).unwrap(),
            time: Some(5),
        })
        .to_frame()
        .unwrap();
        assert!(shared.complete(*seq, scalar::client::Frame(reply[2..].to_vec())));
        shared.disconnected();
        let st = shared.state();
        assert!(st.read.in_flight.is_empty());
        let again: Vec<&String> = st.read.pending.keys().collect();
        assert_eq!(again, [&in_flight[1].1], "only the one not answered");
    }

    /// Found in review: the gaps thread's tick, woken during a `/quit`, queued the markers
    /// noted since `/quit` sent its last ones, after the Bye. Once quitting, a tick sends none.
    #[test]
    fn no_tick_sends_markers_once_the_user_quits() {
        let shared = logged_in();
        let (out, inbox) = super::super::shared::outbox().unwrap();
        shared.install(out);
        shared.quitting.store(true, std::sync::atomic::Ordering::SeqCst);
        shared.state().read.note("#a@l", 5);
        send_due(&shared);
        assert!(inbox.frames.try_recv().is_err(), "nothing queued");
        assert_eq!(shared.state().read.pending.len(), 1);
        send_marks(&shared, usize::MAX);
        assert!(inbox.frames.try_recv().is_ok(), "the quit's own sends it");
    }

    /// A signal's [`keep_unsent`] while the start takes the kept markers out of their file
    /// keeps them again, once the chat holds them (it found them in neither before).
    #[test]
    fn markers_being_restored_are_kept_by_a_signal_meanwhile() {
        let shared = std::sync::Arc::new(logged_in());
        let mut signal = None;
        restore_with(&shared, |prefix| {
            let shared = shared.clone();
            signal = Some(std::thread::spawn(move || take_unsent(&shared)));
            // The signal's thread comes now: it waits for the markers to be held.
            std::thread::sleep(std::time::Duration::from_millis(200));
            let mark = Mark {
                left_at: 7,
                last: None,
            };
            Ok(vec![(format!("{prefix}#a@l"), mark)])
        });
        let kept = signal.map(|t| t.join().unwrap().map(|(_, unsent)| unsent));
        assert_eq!(kept, Some(Some(vec![("#a@l".to_string(), 7)])));
    }

    /// Found in review: a signal's [`keep_unsent`] while a tick had taken its batch and not
    /// yet found the connection gone (then it puts the batch back) kept none of that batch.
    #[test]
    fn markers_a_tick_holds_are_kept_once_it_puts_them_back() {
        let shared = std::sync::Arc::new(logged_in());
        shared.state().read.note("#a@l", 5);
        let tick = SENDING.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let batch = shared.state().read.take(PER_TICK);
        let signal = {
            let shared = shared.clone();
            std::thread::spawn(move || take_unsent(&shared))
        };
        std::thread::sleep(std::time::Duration::from_millis(200));
        for (topic, time) in batch {
            shared.state().read.note(&topic, time);
        }
        drop(tick);
        let kept = signal.join().unwrap().map(|(_, unsent)| unsent);
        assert_eq!(kept, Some(vec![("#a@l".to_string(), 5)]));
    }

    /// Found in review: a tick sent the first 16 pending markers in the map's order, so with
    /// more than 16 topics moving each second the same ones went each time and the others
    /// waited until /quit. The one noted longest ago goes first.
    #[test]
    fn a_marker_pending_longest_goes_first() {
        let mut marks = ReadMarks::default();
        let topics: Vec<String> = (0..PER_TICK + 4).map(|i| format!("#c{i}@l")).collect();
        for t in &topics {
            marks.note(t, 1);
        }
        let mut sent = std::collections::HashSet::new();
        for time in 2..12 {
            let due = marks.take(PER_TICK);
            assert_eq!(due.len(), PER_TICK);
            // Each topic sent moves again before the next tick.
            for (t, _) in &due {
                marks.note(t, time);
            }
            sent.extend(due.into_iter().map(|(t, _)| t));
        }
        assert_eq!(sent.len(), topics.len(), "each went within the ticks");
    }

    /// Found in review: a reconnect whose catch-up was cut at its page bound (the rest read in
    /// the background) showed live messages at once, and their marker passed over what the
    /// gap still held, unshown.
    #[test]
    fn nothing_is_marked_read_past_a_gap_not_filled_yet() {
        let mut st = State::default();
        (st.user, st.domain, st.logged_in) = ("me@l".into(), "l".into(), true);
        let start = super::super::gaps::Start {
            last: None,
            lost_at: 1,
        };
        for topic in ["#rust@l", "me@l"] {
            st.unfilled
                .insert(topic.into(), super::super::gaps::Unfilled::new(start));
        }
        let said = crate::event::text_event("#rust@l", "bob@l", "hi", None);
        let to_me = crate::event::text_event("me@l", "bob@l", "hi", None);
        let mine = crate::event::text_event("carol@l", "me@l", "hi", None);
        let elsewhere = crate::event::text_event("#go@l", "bob@l", "hi", None);
        for e in [&said, &to_me, &mine, &elsewhere] {
            st.note_read(e);
        }
        let marked: Vec<&String> = st.read.pending.keys().collect();
        assert_eq!(marked, ["#go@l"], "only where no gap waits");
        st.unfilled.clear();
        st.note_read(&to_me);
        assert!(st.read.pending.contains_key("bob@l"));
    }

    #[test]
    fn only_a_login_notes_what_it_read_and_the_newest_time_wins() {
        let mut st = State::default();
        (st.user, st.domain) = ("me@l".into(), "l".into());
        let mut e = crate::event::text_event("#rust@l", "bob@l", "hi", None);
        e.time = 5;
        st.note_read(&e);
        assert!(st.read.pending.is_empty(), "no account: no markers");
        st.logged_in = true;
        st.note_read(&e);
        e.time = 3;
        st.note_read(&e);
        assert_eq!(st.read.pending.get("#rust@l").map(|p| p.0), Some(5));
        let presence = crate::event::text_event("bob@l", "bob@l", "away", Some("text/x-scalar-presence"));
        st.note_read(&presence);
        assert_eq!(st.read.pending.len(), 1, "presence is no message");
        st.read.off = true;
        e.time = 9;
        st.note_read(&e);
        assert_eq!(
            st.read.pending.get("#rust@l").map(|p| p.0),
            Some(5),
            "a server without markers"
        );
    }
}
