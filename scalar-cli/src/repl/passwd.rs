//! `/passwd`: the user changes its account's password (SetPassword, PROTOCOL.md §4), typing
//! the current one and the new one twice at the terminal, unseen; from a pipe, the three
//! lines after the command are the passwords, as `scalard account passwd` reads them (never
//! sent as messages). Reconnections then log in with the new one.

use super::shared::{ReqError, Shared, Want};
use scalar::proto::{MAX_PASSWORD, Msg, SetPassword};
use scalar::tty::Keys;

/// What cancelling says.
const CANCELLED: &str = "cancelled: the password is unchanged";

/// Asks for the passwords, sends SetPassword and says how it went.
pub fn change(shared: &Shared) -> Result<(), String> {
    // From a pipe the three lines are taken first, whatever comes of them, so that none is
    // read next as a message (found by QA: a refusal or an empty line published the rest).
    let piped = match scalar::tty::stdin_is_tty() {
        true => None,
        false => Some(three_lines()?),
    };
    let (logged_in, connected) = {
        let st = shared.state();
        (st.logged_in, st.connected)
    };
    if !logged_in {
        return Err(
            "/passwd: this session did not log in with a password here, so it has none to change".into(),
        );
    }
    // Before the passwords are asked for, not after (found by QA).
    if !connected {
        return Err("/passwd: not connected: /reconnect, or wait for the client to reconnect".into());
    }
    let asked = match piped {
        Some(lines) => Ok(Some(lines)),
        None => typed(shared),
    };
    let Some((current, new)) = checked(asked?)? else {
        shared.screen.info(CANCELLED);
        return Ok(());
    };
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
    let same = current == new;
    let stale = shared.password.replace(new);
    let others = match set.count {
        0 => String::new(),
        1 => "; 1 other session was logged out".into(),
        n => format!("; {n} other sessions were logged out"),
    };
    shared.screen.info(format!("password changed{others}"));
    if let Some(source) = stale.filter(|_| !same) {
        shared.screen.info(format!(
            "{source} still holds the old one: change it there before the next start"
        ));
    }
    Ok(())
}

/// The current password and the new one twice, typed at the terminal with the printer held
/// meanwhile so that no message lands on the prompt; `None` if the user cancelled.
fn typed(shared: &Shared) -> Result<Option<Three>, String> {
    shared.screen.flush(std::time::Duration::from_millis(200));
    shared.screen.hold();
    let asked = ask();
    shared.screen.release();
    asked
}

/// The current password, the new one and the new one again.
type Three = (String, String, String);

/// The three lines after `/passwd` in a pipe, all of them (an empty one cancels once all
/// are read).
fn three_lines() -> Result<Three, String> {
    // As the chat reads its lines: bounded, so that a pipe without a line end cannot make
    // one without bound (found in review).
    let read = || match crate::input::read_line(&mut std::io::stdin().lock()) {
        Ok(Some(Ok(line))) => Ok(line),
        Ok(Some(Err(bad))) => Err(format!("/passwd: a line is {}", bad.describe())),
        Ok(None) => Err("/passwd: the input ended before the three passwords".into()),
        Err(e) => Err(format!("/passwd: {e}")),
    };
    Ok((read()?, read()?, read()?))
}

/// The current password and the new one, if `asked` holds the same new one twice and
/// nothing that cancels.
fn checked(asked: Option<Three>) -> Result<Option<(String, String)>, String> {
    let Some((current, new, again)) = asked else {
        return Ok(None);
    };
    if [&current, &new, &again].iter().any(|p| cancels(p)) {
        return Ok(None);
    }
    if new != again {
        return Err("the two new passwords differ: the password is unchanged".into());
    }
    if new.len() > MAX_PASSWORD {
        return Err(format!(
            "a password has at most {MAX_PASSWORD} bytes: the password is unchanged"
        ));
    }
    Ok(Some((current, new)))
}

/// Whether a line cancels: an empty one, or one holding Ctrl-C, Ctrl-\ or Ctrl-Z (which must
/// not end or stop the chat here, as signals would: found in review, they come as characters).
fn cancels(line: &str) -> bool {
    line.is_empty() || line.contains(['\u{3}', '\u{1c}', '\u{1a}'])
}

/// The three lines typed, or `None` at the first that cancels.
fn ask() -> Result<Option<Three>, String> {
    let read = |prompt: &str| match scalar::tty::read_secret_with(prompt, Keys::Typed) {
        Ok(p) if cancels(&p) => Ok(None),
        Ok(p) => Ok(Some(p)),
        Err(e) => Err(format!("/passwd: {e}")),
    };
    if scalar::tty::stdin_is_tty() {
        eprintln!("changing your password (an empty line, or Ctrl-C then Enter, cancels)");
    }
    let Some(current) = read("current password: ")? else {
        return Ok(None);
    };
    let Some(new) = read("new password: ")? else {
        return Ok(None);
    };
    let Some(again) = read("again: ")? else {
        return Ok(None);
    };
    Ok(Some((current, new, again)))
}
