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
