//! The server's lists paged by a name cursor (PROTOCOL.md §4): the channels (Topics, answered
//! by TopicList, with each channel's subscribers and topic line), a channel's members
//! (Members, answered by MemberList, with roles) and its bans, mutes, operators, voiced and
//! invitations, or the server's bans (Targets, answered by TargetList); and the user's own
//! conversations (Conversations, answered by ConversationList). The first page is asked for without a
//! cursor, each next one after the last name of the page before, until a reply has no
//! cursor: pages stay exact while channels and members come and go, which paging by index
//! does not.
//!
//! Both the chat and the one-shot modes read them; each passes the way it sends a request.

use crate::conn::NetError;
use crate::paging::PageError;
use scalar::client::Frame;
use scalar::proto::{
    Action, CatchupStatus, Conversations, ErrorCode, ListQuery, Members, Msg, Name, Role, Targets, Topics,
};

/// How many names one request asks for: the most a page may hold.
const PAGE: u32 = 100;

/// One channel of the topic list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channel {
    /// Its name.
    pub name: String,
    /// How many connections are subscribed, if the server said.
    pub subscribers: Option<u64>,
    /// Its topic line; "" for none.
    pub subject: String,
    /// Its display name; "" for none.
    pub display: String,
}

/// One member of a channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// Its user ID.
    pub id: String,
    /// Its role in the channel.
    pub role: Role,
}

/// A list as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed<T> {
    /// The entries, in the server's (bytewise) order.
    pub items: Vec<T>,
    /// How many entries the server said exist, at the last page.
    pub total: u32,
    /// True if the read stopped at its page bound with more to come.
    pub cut: bool,
}

/// One page: its entries, the total, and the cursor for the next page if there is one.
type Page<T> = (Vec<T>, u32, Option<String>);

/// Reads pages until one has no cursor, at most `max_pages`. `page` asks for the page after a
/// cursor (none: the first).
fn read_all<T, E>(
    max_pages: u32,
    mut page: impl FnMut(Option<&str>) -> Result<Page<T>, E>,
) -> Result<Listed<T>, E> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    let mut total = 0;
    for _ in 0..max_pages {
        let (mut got, t, next) = page(cursor.as_deref())?;
        total = t;
        items.append(&mut got);
        match next {
            // A cursor that does not move on (bytewise forward) would have pages asked for
            // again and again. An empty page may name one that does: a query's page ends
            // where the server stopped looking, whether it found any or not.
            Some(n) if cursor.as_deref().is_none_or(|c| n.as_str() > c) => cursor = Some(n),
            _ => {
                return Ok(Listed {
                    items,
                    total,
                    cut: false,
                });
            }
        }
    }
    Ok(Listed {
        items,
        total,
        cut: true,
    })
}

/// The cursor of a request, from the name a reply gave.
fn cursor(name: Option<&str>) -> Result<Option<Name<'_>>, NetError> {
    name.map(Name::parse)
        .transpose()
        .map_err(|e| NetError::Protocol(format!("the server's cursor is not a name: {e}")))
}

fn unexpected(request: &str, frame: &Frame) -> NetError {
    let got = frame
        .msg()
        .map_or_else(|e| e.to_string(), |m| m.msg_type().label().to_string());
    NetError::Protocol(format!("the server answered {request} with {got}"))
}

/// Every channel of the server (at most `max_pages` pages of 100), with its subscribers and
/// topic line; with `query`, those that match it only (PROTOCOL.md §4, Topics). `ask` sends
/// one Topics (its `seq` is the sender's to set) and returns the reply.
pub fn channels<E: From<NetError>>(
    max_pages: u32,
    query: Option<&str>,
    mut ask: impl FnMut(Topics<'_>) -> Result<Frame, E>,
) -> Result<Listed<Channel>, E> {
    let query = query.and_then(looked_for);
    // Checked here too: a server older than `query` lists every channel.
    let mut check = query.map(ListQuery::new);
    read_all(max_pages, |after| {
        let frame = ask(Topics {
            seq: None,
            start: 0,
            count: PAGE,
            cursor: cursor(after)?,
            query,
        })?;
        let Ok(Msg::TopicList(list)) = frame.msg() else {
            return Err(unexpected("Topics", &frame).into());
        };
        let counts: Vec<u64> = list.counts.map(|c| c.iter().collect()).unwrap_or_default();
        let subjects: Vec<&str> = list.subjects.map(|s| s.iter().collect()).unwrap_or_default();
        let displays: Vec<&str> = list.displays.map(|d| d.iter().collect()).unwrap_or_default();
        let page = list
            .topics
            .iter()
            .enumerate()
            .map(|(i, name)| Channel {
                name: name.as_str().to_string(),
                subscribers: counts.get(i).copied(),
                subject: subjects.get(i).copied().unwrap_or_default().to_string(),
                display: displays.get(i).copied().unwrap_or_default().to_string(),
            })
            .filter(|c: &Channel| {
                check
                    .as_mut()
                    .is_none_or(|q| q.matches(&c.name, &c.display, &c.subject))
            })
            .collect();
        Ok((page, list.total, list.cursor.map(|c| c.as_str().to_string())))
    })
}

/// What a typed query looks for: IRC's `LIST *rust*` means what `rust` does here, and spaces
/// around it mean nothing; `None` for nothing left (`*`: every channel).
pub fn looked_for(typed: &str) -> Option<&str> {
    Some(typed.trim().trim_matches('*').trim()).filter(|q| !q.is_empty())
}

/// The members of `channel` (at most `max_pages` pages of 100), with their roles; with
/// `query`, those whose ID holds it only (PROTOCOL.md §4, Members). `ask` sends one Members
/// and returns the reply.
pub fn members<E: From<NetError>>(
    channel: Name<'_>,
    max_pages: u32,
    query: Option<&str>,
    mut ask: impl FnMut(Members<'_>) -> Result<Frame, E>,
) -> Result<Listed<Member>, E> {
    let query = query.and_then(looked_for);
    // Checked here too: a server older than `query` lists every member.
    let check = query.map(ListQuery::new);
    read_all(max_pages, |after| {
        let frame = ask(Members {
            seq: None,
            topic: channel,
            count: PAGE,
            cursor: cursor(after)?,
            query,
        })?;
        let Ok(Msg::MemberList(list)) = frame.msg() else {
            return Err(unexpected("Members", &frame).into());
        };
        let page = list
            .users
            .iter()
            .zip(list.roles.iter())
            .filter(|(id, _)| check.as_ref().is_none_or(|q| q.matches_id(id.as_str())))
            .map(|(id, role)| Member {
                id: id.as_str().to_string(),
                role: Role::from_u64(role).unwrap_or(Role::Member),
            })
            .collect();
        Ok((page, list.total, list.cursor.map(|c| c.as_str().to_string())))
    })
}

/// One entry of a channel's list, or of the server's bans.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// An ID pattern, or an address range (the server's bans).
    pub entry: String,
    /// Why it is there, if the server said ("" for no reason given).
    pub reason: String,
    /// When it ends (Unix ms), if it does.
    pub until: Option<u64>,
    /// Who set it, if the server said.
    pub by: Option<String>,
    /// When it was set (Unix ms), if the server said.
    pub at: Option<u64>,
}

/// The entries of the list of `topic` that `action` adds to (at most `max_pages` pages of
/// 100): ID patterns, and address ranges in the server's bans. `ask` sends one Targets and
/// returns the reply.
pub fn targets<E: From<NetError>>(
    topic: Name<'_>,
    action: Action,
    max_pages: u32,
    mut ask: impl FnMut(Targets<'_>) -> Result<Frame, E>,
) -> Result<Listed<Target>, E> {
    read_all(max_pages, |after| {
        let frame = ask(Targets {
            seq: None,
            topic,
            action,
            count: PAGE,
            cursor: after,
        })?;
        let Ok(Msg::TargetList(list)) = frame.msg() else {
            return Err(unexpected("Targets", &frame).into());
        };
        let reasons: Vec<&str> = list.reasons.map(|r| r.iter().collect()).unwrap_or_default();
        let untils: Vec<u64> = list.untils.map(|u| u.iter().collect()).unwrap_or_default();
        let setters: Vec<&str> = list.setters.map(|s| s.iter().collect()).unwrap_or_default();
        let set_at: Vec<u64> = list.set_at.map(|t| t.iter().collect()).unwrap_or_default();
        let page = list
            .targets
            .iter()
            .enumerate()
            .map(|(i, entry)| Target {
                entry: entry.to_string(),
                reason: reasons.get(i).copied().unwrap_or_default().to_string(),
                until: untils.get(i).copied().filter(|&t| t > 0),
                by: setters.get(i).filter(|s| !s.is_empty()).map(|s| s.to_string()),
                at: set_at.get(i).copied().filter(|&t| t > 0),
            })
            .collect();
        Ok((page, list.total, list.cursor.map(str::to_string)))
    })
}

/// One of the user's conversations: the other user, and when its newest message came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversation {
    /// The other user's ID (the user's own, for the messages it sent itself).
    pub with: String,
    /// The time of the conversation's newest message (Unix ms).
    pub newest: u64,
}

/// Why the server gave no list of the user's conversations: either way, this does not mean
/// there are none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoList {
    /// It keeps no history to list them from (ConversationList `status` 2).
    NoHistory,
    /// It does not have the type (103): the list is an extension a minimal server leaves out
    /// (PROTOCOL.md §4, "A server without the extension types answers each of 64–74 so").
    Unsupported,
}

impl NoList {
    /// Why there is no list, as the user is told it (the chat and `conversations` alike).
    pub fn said(self) -> &'static str {
        match self {
            NoList::NoHistory => "the server keeps no history, so it has no list of your conversations",
            NoList::Unsupported => {
                "the server has no list of your conversations: it leaves out that optional part of \
                 the protocol"
            }
        }
    }
}

/// The user's conversations (at most `max_pages` pages of 100), those whose newest message came
/// after `since` if it is given (PROTOCOL.md §4, Conversations); [`NoList`] if the server keeps
/// no history to list them from, or has no such list. `ask` sends one Conversations and returns
/// the reply.
pub fn conversations<E: From<NetError> + PageError>(
    max_pages: u32,
    since: Option<u64>,
    mut ask: impl FnMut(Conversations<'_>) -> Result<Frame, E>,
) -> Result<Result<Listed<Conversation>, NoList>, E> {
    let mut kept = true;
    let mut known = true;
    let mut listed = read_all::<_, E>(max_pages, |after| {
        let asked = ask(Conversations {
            seq: None,
            count: PAGE,
            since,
            cursor: cursor(after)?,
        });
        let frame = match asked.map_err(PageError::refusal) {
            Ok(frame) => frame,
            // Only the first page: a server that answered one knows the type, and a 103 later
            // is a fault to report, not an absent list.
            Err(Ok(NetError::Refused { code, .. }))
                if after.is_none() && code == ErrorCode::UnknownType as u16 =>
            {
                known = false;
                return Ok((Vec::new(), 0, None));
            }
            Err(Ok(refused)) => return Err(refused.into()),
            Err(Err(e)) => return Err(e),
        };
        let Ok(Msg::ConversationList(list)) = frame.msg() else {
            return Err(unexpected("Conversations", &frame).into());
        };
        kept = list.status != CatchupStatus::Unavailable;
        // `times` MUST pair with `users` (§4): with one more or less, which time is whose is
        // not known.
        if list.users.len() != list.times.len() {
            let (u, t) = (list.users.len(), list.times.len());
            return Err(
                NetError::Protocol(format!("the server listed {u} conversations with {t} times")).into(),
            );
        }
        let page = (list.users.iter().zip(list.times.iter()))
            .map(|(with, newest)| Conversation {
                with: with.as_str().to_string(),
                newest,
            })
            .collect();
        // Only a page that says more follow leads on; its cursor says from where.
        let next = list.cursor.filter(|_| list.status == CatchupStatus::Truncated);
        Ok((page, 0, next.map(|c| c.as_str().to_string())))
    })?;
    // The server does not count them: what was read is all that is known.
    listed.total = u32::try_from(listed.items.len()).unwrap_or(u32::MAX);
    Ok(match (known, kept) {
        (false, _) => Err(NoList::Unsupported),
        (true, false) => Err(NoList::NoHistory),
        (true, true) => Ok(listed),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A made-up server's list of `n` names, `page` per reply, cursor after the last.
    fn serve(n: usize, page: usize, after: Option<&str>) -> Page<String> {
        let all: Vec<String> = (0..n).map(|i| format!("#c{i:03}@l")).collect();
        let from = after.map_or(0, |a| all.partition_point(|x| x.as_str() <= a));
        let got: Vec<String> = all.iter().skip(from).take(page).cloned().collect();
        let more = from + got.len() < n;
        let next = got.last().cloned().filter(|_| more);
        (got, n as u32, next)
    }

    #[test]
    fn pages_follow_the_cursor() {
        let l = read_all(100, |c| Ok::<_, ()>(serve(250, 100, c))).unwrap();
        assert_eq!((l.items.len(), l.total, l.cut), (250, 250, false));
        assert_eq!(l.items[249], "#c249@l");
        let l = read_all(2, |c| Ok::<_, ()>(serve(250, 100, c))).unwrap();
        assert_eq!((l.items.len(), l.cut), (200, true));
        let l = read_all(100, |c| Ok::<_, ()>(serve(0, 100, c))).unwrap();
        assert_eq!((l.items.len(), l.cut), (0, false));
    }

    #[test]
    fn a_stuck_cursor_ends_the_read() {
        let mut asked = 0;
        let l = read_all(100, |_| {
            asked += 1;
            Ok::<_, ()>((vec![1], 5, Some("#same@l".to_string())))
        })
        .unwrap();
        assert_eq!((asked, l.items.len(), l.cut), (2, 2, false));
        // Nor one that goes back (found in review: a server could have pages asked again and
        // again); an empty page whose cursor moves on is read past (a query's bounded scan).
        let mut asked = 0;
        let l = read_all(100, |c| {
            asked += 1;
            let next = match c {
                None => "#m@l",
                Some("#m@l") => "#z@l",
                Some(_) => "#a@l",
            };
            Ok::<_, ()>((Vec::<u8>::new(), 5, Some(next.to_string())))
        })
        .unwrap();
        assert_eq!((asked, l.items.len(), l.cut), (3, 0, false));
    }

    /// A server older than Members' `query` lists every member: the client still sent the
    /// query (as looked for), and keeps only the IDs that hold it.
    #[test]
    fn members_are_checked_here_against_a_server_that_ignores_the_query() {
        use scalar::proto::{List, MemberList};
        let chan = Name::parse("#c@l").unwrap();
        let ids = ["alice@l", "bob@l", "carol@l"].map(|i| Name::parse(i).unwrap());
        let mut sent = Vec::new();
        let l = members(chan, 10, Some(" *AL* "), |m| {
            sent.push(m.query.map(str::to_string));
            let list = MemberList {
                seq: None,
                topic: chan,
                total: 3,
                users: List::Slice(&ids),
                roles: List::Slice(&[3, 0, 0]),
                cursor: None,
            };
            let framed = Msg::MemberList(list).to_frame().unwrap();
            Ok::<_, NetError>(Frame(framed[2..].to_vec()))
        })
        .unwrap();
        assert_eq!(sent, [Some("AL".to_string())]);
        let got: Vec<(&str, Role)> = l.items.iter().map(|m| (m.id.as_str(), m.role)).collect();
        assert_eq!((got, l.total), (vec![("alice@l", Role::Owner)], 3));
    }

    #[test]
    fn a_query_is_looked_for_without_irc_s_stars() {
        assert_eq!(looked_for(" *rust* "), Some("rust"));
        assert_eq!(looked_for("ru*st"), Some("ru*st"));
        assert_eq!(looked_for("*"), None);
        assert_eq!(looked_for("  "), None);
    }
}
