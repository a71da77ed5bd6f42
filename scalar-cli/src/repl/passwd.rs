//! `/passwd`: the user changes its account's password (SetPassword, PROTOCOL.md §4), typing
//! the current one and the new one twice at the terminal, unseen. Reconnections then log in
//! with the new one.

use super::shared::{ReqError, Shared, Want};
use scalar::proto::{MAX_PASSWORD, Msg, SetPassword};
use scalar::tty::Keys;

/// Asks for the passwords, sends SetPassword and says how it went.
pub fn change(shared: &Shared) -> Result<(), String> {
    if !shared.state().logged_in {
        return Err("/passwd: this session did not log in with a password, so it has none to change".into());
    }
    if !scalar::tty::stdin_is_tty() {
        return Err("/passwd: needs a terminal, to type the passwords unseen".into());
    }
    let (current, new) = typed(shared)?;
    let reply = shared
        .request(Want::Reply, |seq| {
            Msg::SetPassword(SetPassword {
                seq,
                password: &current,
                new_password: &new,
            })
        })
        .map_err(|e| match e {
            // The server's reason says it is unchanged.
            ReqError::Net(e) => format!("/passwd: {e}"),
            ReqError::NotConnected => "/passwd: not connected: the password is unchanged".into(),
            ReqError::Lost | ReqError::Timeout => {
                format!("/passwd: {e}: the password may or may not have changed (the next login tells)")
            }
        })?;
    let Ok(Msg::PasswordSet(set)) = reply.msg() else {
        return Err(
            "the server answered /passwd with something else: the password may or may not have changed"
                .into(),
        );
    };
    let stale = shared.password.replace(new);
    let others = match set.count {
        0 => String::new(),
        1 => "; 1 other session was logged out".into(),
        n => format!("; {n} other sessions were logged out"),
    };
    shared.screen.info(format!("password changed{others}"));
    if let Some(source) = stale {
        shared.screen.info(format!(
            "{source} still holds the old one: change it there before the next start"
        ));
    }
    Ok(())
}

/// The current password and the new one (typed twice), with the printer held meanwhile so
/// that no message lands on the prompt. An empty line cancels.
fn typed(shared: &Shared) -> Result<(String, String), String> {
    shared.screen.flush(std::time::Duration::from_millis(200));
    shared.screen.hold();
    let asked = ask();
    shared.screen.release();
    let (current, new, again) = asked?;
    if new != again {
        return Err("the two new passwords differ: the password is unchanged".into());
    }
    if new.len() > MAX_PASSWORD {
        return Err(format!(
            "a password has at most {MAX_PASSWORD} bytes: the password is unchanged"
        ));
    }
    Ok((current, new))
}

fn ask() -> Result<(String, String, String), String> {
    // Ctrl-C (or Ctrl-\) must not end the chat here, as a signal would (found in review): it
    // comes as a character, and cancels once Enter is pressed.
    let read = |prompt: &str| match scalar::tty::read_secret_with(prompt, Keys::Typed) {
        Ok(p) if p.is_empty() || p.contains(['\u{3}', '\u{1c}']) => {
            Err("cancelled: the password is unchanged".to_string())
        }
        Ok(p) => Ok(p),
        Err(e) => Err(format!("/passwd: {e}")),
    };
    eprintln!("changing your password (an empty line, or Ctrl-C then Enter, cancels)");
    Ok((
        read("current password: ")?,
        read("new password: ")?,
        read("again: ")?,
    ))
}
