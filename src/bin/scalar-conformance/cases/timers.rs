//! Timers and limits (§4 Ping, §8, §9): run only when the run is told the server's settings
//! (start the server with short timeouts for these), else skipped.

use super::*;
use std::time::Instant;

fn skip(what: &str) -> Result<Verdict, Fail> {
    Ok(Verdict::Skip(format!("give {what} to run it")))
}

/// The next frame within `secs` + 3 s, without answering Pings.
fn within(c: &mut Raw, secs: u64) -> Result<Value, Fail> {
    let start = Instant::now();
    loop {
        match c.recv() {
            Ok(v) => return Ok(v),
            Err(e) if e.contains("in time") && start.elapsed() < Duration::from_secs(secs + 3) => {}
            Err(e) => return Err(e),
        }
    }
}

pub(super) fn timer_handshake_timeout_closes_a_silent_connection(x: &Ctx) -> Result<Verdict, Fail> {
    let Some(secs) = x.handshake_timeout else {
        return skip("--handshake-timeout");
    };
    let mut c = x.raw()?;
    let v = within(&mut c, secs)?;
    if kind(&v) != Some(3) || uint(&v, 9) != Some(203) || get(&v, 1).is_some() {
        return Err(format!("expected Error 203 without seq, got {}", show(&v)));
    }
    c.expect_bye_and_close(203)?;
    Ok(Pass)
}

pub(super) fn timer_an_idle_client_is_pinged(x: &Ctx) -> Result<Verdict, Fail> {
    let Some(secs) = x.idle_timeout else {
        return skip("--idle-timeout");
    };
    let (mut c, _) = x.client("ip")?;
    let v = within(&mut c, secs)?;
    if kind(&v) != Some(4) || uint(&v, 4).is_none() {
        return Err(format!("expected a Ping with a time, got {}", show(&v)));
    }
    // Answered, the connection stays.
    c.send(&map(&[(0, u(5)), (4, get(&v, 4).cloned().unwrap_or(u(0)))]))?;
    c.send(&map(&[(0, u(4)), (1, u(8)), (4, u(8))]))?;
    let p = c.reply()?;
    match (kind(&p), uint(&p, 1)) {
        (Some(5), Some(8)) => Ok(Pass),
        _ => Err(format!(
            "after answering the Ping, expected Pong, got {}",
            show(&p)
        )),
    }
}

pub(super) fn timer_an_unanswered_ping_closes(x: &Ctx) -> Result<Verdict, Fail> {
    let (Some(idle), Some(ping)) = (x.idle_timeout, x.ping_timeout) else {
        return skip("--idle-timeout and --ping-timeout");
    };
    let (mut c, _) = x.client("up")?;
    let v = within(&mut c, idle)?;
    if kind(&v) != Some(4) {
        return Err(format!("expected a Ping, got {}", show(&v)));
    }
    let v = within(&mut c, ping)?;
    if kind(&v) != Some(3) || uint(&v, 9) != Some(204) {
        return Err(format!("expected Error 204, got {}", show(&v)));
    }
    c.expect_bye_and_close(204)?;
    Ok(Pass)
}

pub(super) fn the_subscription_limit_is_502(x: &Ctx) -> Result<Verdict, Fail> {
    let Some(n) = x.max_subs else {
        return skip("--max-subs");
    };
    let (mut c, _) = x.client("sl")?;
    for i in 0..n {
        c.sub(&x.channel("sl"), 10 + i)
            .map_err(|e| format!("Sub {} of --max-subs {n}: {e}", i + 1))?;
    }
    c.send(&map(&[(0, u(8)), (1, u(5)), (2, t(&x.channel("sl")))]))?;
    c.expect_error(502, Some(5))
        .map_err(|e| format!("Sub {} past --max-subs {n}: {e}", n + 1))?;
    Ok(Pass)
}

/// §4 Sub, §9: channels and watched IDs together count against the subscription limit, and a
/// Sub of what the connection already has is no error, at the limit too (found by mutation
/// testing: a server that counted channels alone, or counted a repeated Sub, passed every
/// case).
pub(super) fn the_subscription_limit_counts_watches_not_repeats(x: &Ctx) -> Result<Verdict, Fail> {
    let Some(n) = x.max_subs.filter(|&n| n >= 2) else {
        return skip("--max-subs (2 or more)");
    };
    let (mut c, _) = x.client("sw")?;
    let first = x.channel("sw");
    c.sub(&first, 10)?;
    for i in 1..n - 1 {
        c.sub(&x.channel("sw"), 10 + i)
            .map_err(|e| format!("Sub {} of --max-subs {n}: {e}", i + 1))?;
    }
    let watched = x.user("swu");
    let meta = c.sub(&watched, 8)?;
    if get(&meta, 18).and_then(Value::as_bool) != Some(true) {
        return Err(format!(
            "watching {watched}: expected Meta subscribed, got {}",
            show(&meta)
        ));
    }
    c.send(&map(&[(0, u(8)), (1, u(5)), (2, t(&x.channel("sw")))]))?;
    c.expect_error(502, Some(5)).map_err(|e| {
        format!(
            "a channel past {} channels and 1 watched ID (--max-subs {n}): {e}",
            n - 1
        )
    })?;
    for (what, topic, seq) in [("channel", &first, 6), ("watched ID", &watched, 7)] {
        let again = c
            .sub(topic, seq)
            .map_err(|e| format!("at the limit, Sub of a {what} it has: {e}"))?;
        if get(&again, 18).and_then(Value::as_bool) != Some(true) {
            return Err(format!("at the limit, Sub of a {what} it has: {}", show(&again)));
        }
    }
    Ok(Pass)
}
