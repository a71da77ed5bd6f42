//! SetPassword: a session that logged in with its account's password changes it, giving the
//! current one again (PROTOCOL.md §4, SetPassword). The check and the new hash are the
//! accounts thread's work, as a login's; the account's other sessions, which logged in with
//! the old password, are closed once the new one is stored.

use super::auth::{Dance, Failed, throttled_refusal};
use super::{ConnId, Now, Outbox, Password, PasswordCheck, Refused, Server, Verdict};
use crate::proto::*;
use crate::store::password::{MIN_CHARS, too_short};

impl Server {
    /// SetPassword: every check that needs no password, then the accounts thread's. The
    /// connection's input is held until [`password_set`](Server::password_set).
    pub(super) fn set_password(
        &mut self,
        conn: ConnId,
        m: SetPassword<'_>,
        now: &Now,
        out: &mut impl Outbox,
    ) {
        if let Err(refusal) = self.may_set_password(conn, m.new_password, now) {
            return self.fail_refused(conn, m.seq, refusal, out);
        }
        let Some((user, addr)) = self
            .session(conn)
            .and_then(|s| Some((Box::<str>::from(&**s.user.as_ref()?), s.addr())))
        else {
            return;
        };
        self.accounts.tickets += 1;
        let ticket = self.accounts.tickets;
        let job = PasswordCheck {
            conn,
            ticket,
            user: user.clone(),
            password: Password::new(m.password),
            register: false,
            from_pos: 0,
            new_password: Some(Password::new(m.new_password)),
        };
        if !out.verify(job) {
            let refused = Refused::busy("too many password checks in progress; try again in 1 s");
            return self.fail_refused(conn, m.seq, refused, out);
        }
        self.accounts.begin(Some(&user), addr, now.mono);
        if let Some(s) = self.session_mut(conn) {
            s.dance = Some(Box::new(Dance::Changing {
                ticket,
                user,
                seq: m.seq,
                since: now.mono,
            }));
        }
        self.pause(conn);
    }

    /// Why `conn` may not change its password to `new` now, if it may not: only a session that
    /// proved the account's password can (600; it did so over TLS or loopback, so the new one
    /// travels as privately), within the failed attempts allowed (602), to a password as long
    /// as a new account's (609, checked last: it says nothing about the account).
    fn may_set_password(&self, conn: ConnId, new: &str, now: &Now) -> Result<(), Refused> {
        let Some(s) = self.session(conn) else {
            return Err((ErrorCode::AuthRequired, String::new()).into());
        };
        let user = s.user.as_deref().unwrap_or_default();
        if !s.authenticated {
            let reason = format!(
                "{user} did not log in with a password here: only an account's sessions can change it"
            );
            return Err((ErrorCode::AuthRequired, reason).into());
        }
        if let Some(wait) = self.accounts.change_wait(user, s.addr(), now) {
            return Err(throttled_refusal(wait));
        }
        if too_short(new) {
            let reason = format!("a new password needs at least {MIN_CHARS} characters");
            return Err((ErrorCode::WeakPassword, reason).into());
        }
        Ok(())
    }

    /// The accounts thread's verdict on `conn`'s change of password: PasswordSet with the
    /// number of the account's other sessions `closed` for holding the old one, or why not.
    pub(super) fn password_set(
        &mut self,
        conn: ConnId,
        verdict: Verdict,
        closed: usize,
        now: &Now,
        out: &mut impl Outbox,
    ) {
        let Some(s) = self.session_mut(conn) else { return };
        let Some(Dance::Changing { user, seq, .. }) = s.dance.take().map(|d| *d) else {
            return;
        };
        let (addr, peer) = (s.addr(), s.peer.to_canonical());
        // A wrong one is a failed attempt, of the account and the address; a right one is
        // counted apart (each costs the accounts thread two hashes: found in review, a loop of
        // right ones had no bound but the flood rate). A failing store is nobody's.
        let wrong = verdict == Verdict::Rejected;
        let failed = Failed {
            by_name: wrong,
            by_addr: wrong,
        };
        self.accounts.end(Some(&user), addr, failed, now.mono);
        if verdict == Verdict::Accepted {
            self.accounts.changed(&user, now.mono);
        }
        match verdict {
            Verdict::Accepted => {
                log::info!(
                    "conn {conn} from {peer}: {user} changed its password; {closed} other session(s) closed"
                );
                let set = PasswordSet {
                    seq,
                    count: closed as u64,
                };
                out.reply(conn, &Msg::PasswordSet(set));
            }
            Verdict::Rejected => {
                log::info!("conn {conn} from {peer}: wrong password for {user}, changing it");
                let reason = "wrong password: the password is unchanged";
                self.fail(conn, seq, ErrorCode::BadCredentials, reason, out);
            }
            Verdict::Taken | Verdict::Failed => {
                let reason = "the account store failed: the password is unchanged; try again later";
                self.fail(conn, seq, ErrorCode::StoreUnavailable, reason, out);
            }
        }
        self.resume(conn, out);
    }
}
