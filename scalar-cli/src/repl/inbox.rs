//! At start, for an account: the direct messages that reached it while this client was away
//! (the server keeps them, PROTOCOL.md §4 Message), read from where the client last left the
//! inbox ([`crate::marks`]) before the editor starts.

use super::catchup;
use super::gaps;
use super::shared::{Shared, Shown};

/// For an account: shows the direct messages that reached it since this client last left
/// it ([`crate::marks`]), which the server kept while it was away; then marks where it is now.
pub fn show_since_last_run(shared: &Shared, conn: &mut crate::conn::Conn) {
    let user = {
        let st = shared.state();
        if !st.logged_in {
            return;
        }
        st.user.clone()
    };
    let (mark, wrong) = crate::marks::load(crate::marks::Book::Inbox, &user);
    if let Some(why) = wrong {
        let me = crate::names::short(&user, &shared.state().domain).to_string();
        shared.screen.error(format!(
            "{why}: direct messages sent to you while you were away may not be shown here \
             (/msg {me}, then /history, reads them)"
        ));
    }
    let Some(mark) = mark else {
        first_mark(shared, conn, &user);
        return shared.keep_mark();
    };
    // A run that shows none goes on marking the last one shown before it.
    if let Some(last) = mark.last {
        shared.state().last.entry(user.clone()).or_insert(last);
    }
    let start = gaps::Start {
        last: mark.last,
        // No direct message was ever shown here since the first run found the inbox empty:
        // every one there is news, whatever this machine's clock said when it left.
        lost_at: if mark.last.is_some() { mark.left_at } else { 0 },
    };
    match catchup::since_last_run(shared, conn, start, mark.left_at) {
        Ok(restored) => restored.show(shared),
        Err(e) => {
            // The connection failed, or a reply may still come on it and be taken for a live
            // one: it is dropped, and the reconnect reads this gap (kept, so the mark stays at
            // its start meanwhile).
            let gap = gaps::Unfilled::new(start);
            let mut st = shared.state();
            st.unfilled.insert(user.clone(), gap);
            st.redial = Some("to read your inbox");
            drop(st);
            let _ = conn.stream().shutdown(std::net::Shutdown::Both);
            shared
                .screen
                .error(format!("at start, your inbox could not be read ({e})"));
        }
    }
    shared.keep_mark();
}

/// The first run of an account on this machine: its mark starts at the inbox's newest
/// message, which is not shown as news, but said to be there.
fn first_mark(shared: &Shared, conn: &mut crate::conn::Conn, user: &str) {
    let mut held = Vec::new();
    match catchup::newest_in_inbox(shared, conn, &mut held) {
        Ok(newest) => {
            if let Some(last) = newest {
                shared.state().last.insert(user.to_string(), last);
                let me = crate::names::short(user, &shared.state().domain).to_string();
                // Found by QA: "kept track of it" read as jargon to a new user.
                shared.screen.info(format!(
                    "you have direct messages from before this client first ran here for you \
                     (not shown as new): /msg {me}, then /history, shows them"
                ));
            }
            for e in &held {
                shared.show_event(e, Shown::Live);
            }
        }
        Err(e) => {
            // A reply may still come on it and be taken for a live one.
            let _ = conn.stream().shutdown(std::net::Shutdown::Both);
            shared.screen.error(format!(
                "at start, your inbox could not be read ({e}): its older direct messages may be \
                 shown as missed at the next start"
            ));
        }
    }
}
