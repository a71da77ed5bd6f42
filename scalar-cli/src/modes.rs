//! A channel's modes as people write them, IRC-like: `+im` for invite-only and moderated,
//! `+i-m` to change them (PROTOCOL.md §4, SetMeta).
//!
//! The letters come from the server's own table ([`mode_letters`], which writes the records
//! `modes +im`), so that what `/mode` accepts and what the records say cannot drift apart;
//! only the names in words are the client's.

use scalar::proto::modes;
use scalar::server::mode_letters;

/// Each mode bit, in the order the records list them, and its name in words.
const NAMES: [(u64, &str); 5] = [
    (modes::INVITE_ONLY, "invite-only"),
    (modes::MODERATED, "moderated"),
    (modes::REGISTERED_ONLY, "registered-only"),
    (modes::PRIVATE_MEMBERS, "private members"),
    (modes::SECRET, "secret"),
];

/// The letter of one mode bit, as the server writes it.
fn letter(bit: u64) -> Option<char> {
    mode_letters(bit).strip_prefix('+')?.chars().next()
}

/// The bit a letter stands for.
fn bit(letter_typed: char) -> Option<u64> {
    NAMES
        .iter()
        .map(|&(b, _)| b)
        .find(|&b| letter(b) == Some(letter_typed))
}

/// The modes in letters and in words: `+im (invite-only, moderated)`, or `- (none)`.
pub fn describe(bits: u64) -> String {
    let words: Vec<&str> = NAMES
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|&(_, n)| n)
        .collect();
    let words = if words.is_empty() {
        "none".to_string()
    } else {
        words.join(", ")
    };
    format!("{} ({words})", mode_letters(bits))
}

/// The modes of a record's text (`+im`, `-`) in words; text it cannot read is left as it is.
pub fn describe_letters(text: &str) -> String {
    match of_letters(text) {
        Some(b) => describe(b),
        None => text.to_string(),
    }
}

/// The modes a record's text (`+im`, `-`) says, if it can be read.
pub fn of_letters(text: &str) -> Option<u64> {
    if text == "-" {
        return Some(0);
    }
    text.strip_prefix('+')
        .and_then(|l| l.chars().try_fold(0, |acc, c| Some(acc | bit(c)?)))
}

/// Applies a change typed as `+i-m` (or `+im`, `-p`, `+i -m`) to the modes `bits`. Letters are
/// case-sensitive, as IRC's (its `+I` is another mode than `+i`), and each word starts with a
/// sign, so that an argument (`+I bob`) is not read as more letters.
pub fn apply(change: &str, bits: u64) -> Result<u64, String> {
    let mut letters = false;
    let mut out = bits;
    for group in change.split_whitespace() {
        if !group.starts_with(['+', '-']) {
            return Err(format!(
                "{group:?}: say + or - before a mode, as in +i or -m (the modes are {})",
                known_letters()
            ));
        }
        let mut on = true;
        for c in group.chars() {
            match c {
                '+' => on = true,
                '-' => on = false,
                _ => {
                    let b = bit(c).ok_or_else(|| unknown(c))?;
                    letters = true;
                    match on {
                        true => out |= b,
                        false => out &= !b,
                    }
                }
            }
        }
    }
    // A sign with no letter ("+") changes nothing: most likely a letter was forgotten.
    if !letters {
        return Err(format!(
            "a mode change looks like +i-m; the modes are {}",
            known_letters()
        ));
    }
    Ok(out)
}

/// The error for a letter that is no mode, with what IRC's modes of that letter are here.
fn unknown(c: char) -> String {
    let irc = match c {
        'k' => "; a channel has no key: +i and /invite keep strangers out",
        'I' => "; the invitations are /invite's (alone, it lists them)",
        'e' => "; the ban exceptions are /except's (alone, it lists them; an invitation does not lift a ban)",
        'l' => "; a channel has no member limit",
        // InspIRCd's and UnrealIRCd's join flood (+j joins:seconds).
        'j' => "; joins a minute are /meta joins N",
        // Charybdis' and Solanum's quiet list.
        'q' => "; a quiet is /mute PATTERN (alone, it lists the mutes)",
        't' => "; only operators set the topic anyway",
        'n' => "; only members speak in a channel anyway",
        // IRC's user mode +R (Ergo): the user's own, not a channel's.
        'R' => "; your own direct messages only from users who logged in: /dms accounts",
        _ => "",
    };
    format!(
        "unknown mode {c:?}: the modes are {} (+b, +o, +v, +I, +e with an ID: /ban, /op, /voice, \
         /invite, /except){irc}",
        known_letters()
    )
}

/// `i invite-only, m moderated, ...`, for error messages.
fn known_letters() -> String {
    NAMES
        .iter()
        .filter_map(|&(b, n)| Some(format!("{} {n}", letter(b)?)))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letters_and_words() {
        assert_eq!(describe(0), "- (none)");
        assert_eq!(describe(3), "+im (invite-only, moderated)");
        assert_eq!(
            describe(modes::ALL),
            "+imrps (invite-only, moderated, registered-only, private members, secret)"
        );
        assert_eq!(describe_letters("+mp"), "+mp (moderated, private members)");
        assert_eq!(describe_letters("-"), "- (none)");
        assert_eq!(describe_letters("+x"), "+x");
    }

    #[test]
    fn changes() {
        assert_eq!(apply("+im", 0), Ok(3));
        assert_eq!(apply("+i-m", 2), Ok(1));
        assert_eq!(apply("-p +r", 8), Ok(4));
        // As in IRC, +I is not +i (found by QA: `/mode +I` made the channel invite-only).
        assert!(apply("+I", 0).unwrap_err().contains("/invite"));
        assert!(apply("+M", 0).unwrap_err().contains("unknown mode 'M'"));
        assert!(apply("+j", 0).unwrap_err().contains("/meta joins N"));
        // Found by QA: it told to /invite whom a ban should spare, which lets nobody past one.
        let e = apply("+e", 0).unwrap_err();
        assert!(
            e.contains("are /except's") && e.contains("an invitation does not lift a ban"),
            "{e}"
        );
        // A word without a sign is no more letters (found by QA: `+I pim` set +ipm).
        assert!(apply("+i pim", 0).unwrap_err().contains("say + or -"));
        assert!(apply("+m extra", 0).unwrap_err().contains("\"extra\""));
        assert!(apply("+z", 0).unwrap_err().contains("i invite-only, m moderated"));
        assert!(apply("i", 0).unwrap_err().contains("+i"));
        assert!(apply("+", 0).unwrap_err().contains("+i-m"));
        assert!(apply("", 0).is_err());
    }
}
