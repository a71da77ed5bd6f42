//! Carbons (PROTOCOL.md §4, Message and Event): a connection that asked in its Ident gets
//! copies of what its user does from its other connections, the direct messages it sends and
//! the presence it says, as XMPP's message carbons do, so that a phone and a laptop show one
//! conversation and one status.

use super::session::Session;
use super::{ConnId, Server};
use crate::proto::{Event, Kind};

/// The copies of one Event: a user has few connections.
pub(super) type Copies = smallvec::SmallVec<[ConnId; 2]>;

impl Server {
    /// `user`'s connections but `except` (one of them) that asked for carbons and that `may`
    /// have this one. Empty, with one lookup, where `except` is the user's only connection.
    pub(super) fn carbon_conns(
        &self,
        user: &str,
        except: Option<ConnId>,
        may: impl Fn(&Session) -> bool,
    ) -> Copies {
        // Without `except` (a publisher that closed before its commit), one connection may be
        // all there is to copy to.
        let others = |c: &&super::channels::Conns| c.len() > usize::from(except.is_some());
        let Some(conns) = self.users.get(user).map(|a| &a.conns).filter(others) else {
            return Copies::new();
        };
        let wants = |s: &Session| s.carbons && may(s);
        conns
            .iter()
            .copied()
            .filter(|&c| Some(c) != except && self.session(c).is_some_and(wants))
            .collect()
    }

    /// The copies of a direct message: its sender's connections that asked, but the publisher
    /// and any recipient, and for an Event committed only now (`--fsync always`) at store
    /// position `committed`, any that took the name since it was accepted (PROTOCOL.md §4, Who
    /// may read what). Empty, with no lookup, for a channel's Events.
    pub(super) fn carbons(
        &self,
        event: &Event<'_>,
        publisher: Option<ConnId>,
        committed: Option<u64>,
    ) -> Copies {
        let (from, topic) = (event.from.as_str(), event.topic.as_str());
        if event.topic.kind() != Kind::User || from == topic {
            return Copies::new();
        }
        let late = committed.map(|pos| self.came_after(from, pos));
        self.carbon_conns(from, publisher, |s| !late.as_ref().is_some_and(|l| l(s)))
    }
}
