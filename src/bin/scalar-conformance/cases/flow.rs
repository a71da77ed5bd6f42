//! Many frames at once: order under a burst, paging through every channel, and what a
//! subscriber that cannot keep up sees (§9, `slow_consumer`).

use super::*;
use std::sync::atomic::AtomicBool;

pub(super) fn fanout_keeps_the_order_of_a_burst(x: &Ctx) -> Result<Verdict, Fail> {
    let ch = x.channel("ord");
    let (mut a, _) = x.client("oa")?;
    let (mut b, _) = x.client("ob")?;
    a.sub(&ch, 2)?;
    b.sub(&ch, 2)?;
    let mut burst = Vec::new();
    for i in 0..50u64 {
        burst.extend(frame(&cbor(&map(&[
            (0, u(6)),
            (1, u(100 + i)),
            (2, t(&ch)),
            (6, t(&format!("n{i}"))),
        ]))));
    }
    a.bytes(&burst)?;
    for i in 0..50 {
        let e = b.event()?;
        if text(&e, 6) != Some(format!("n{i}").as_str()) {
            return Err(format!("Event {i} of the burst arrived as {:?}", text(&e, 6)));
        }
    }
    Ok(Pass)
}

pub(super) fn topics_pages_list_every_channel_once(x: &Ctx) -> Result<Verdict, Fail> {
    if let Some(n) = x.max_subs.filter(|&n| n < 5) {
        return Ok(Verdict::Skip(format!(
            "needs 5 subscriptions, the server allows {n}"
        )));
    }
    let (mut c, _) = x.client("tl")?;
    let mine: Vec<String> = (0..5).map(|_| x.channel("tl")).collect();
    for (i, ch) in mine.iter().enumerate() {
        c.sub(ch, 10 + i as u64)?;
    }
    let mut seen: Vec<String> = Vec::new();
    let mut start = 0;
    loop {
        c.send(&map(&[(0, u(11)), (1, u(3)), (14, u(start)), (15, u(2))]))?;
        let v = c.reply()?;
        let total = uint(&v, 16).ok_or("TopicList without total")?;
        let page = get(&v, 17)
            .and_then(Value::as_array)
            .ok_or("TopicList without topics")?;
        seen.extend(page.iter().filter_map(|n| n.as_text().map(str::to_string)));
        start += 2;
        if start >= total || page.is_empty() || start > 100_000 {
            break;
        }
    }
    let sorted = seen.windows(2).all(|w| w[0] < w[1]);
    let all_once = mine.iter().all(|m| seen.iter().filter(|s| *s == m).count() == 1);
    match (sorted, all_once) {
        (true, true) => Ok(Pass),
        _ => Err(format!(
            "pages of 2: sorted {sorted}, each of ours once {all_once}"
        )),
    }
}

pub(super) fn a_slow_consumer_gets_an_unbroken_run_then_503(x: &Ctx) -> Result<Verdict, Fail> {
    let ch = x.channel("slow");
    let (mut reader, _) = x.client("sr")?;
    let (mut writer, _) = x.client("sw")?;
    reader.sub(&ch, 2)?;
    writer.sub(&ch, 2)?;
    let pad = "p".repeat(15_000);
    let (done, cut_off) = (AtomicBool::new(false), AtomicBool::new(false));
    std::thread::scope(|s| {
        // The writer publishes up to 3000 large Messages (45 MB) until the reader is done.
        let flood = s.spawn(|| -> Result<(), Fail> {
            let flooded = (|| -> Result<(), Fail> {
                for i in 0..3000u64 {
                    if done.load(Ordering::Relaxed) {
                        break;
                    }
                    writer.say(&ch, &format!("{i:06}{pad}"), 10 + i)?;
                    // Sub again (it is idempotent) to see the subscriber count: it drops to 1
                    // when the server cuts the reader off.
                    if i % 10 == 9 && uint(&writer.sub(&ch, 5000 + i)?, 19) == Some(1) {
                        cut_off.store(true, Ordering::Relaxed);
                        break;
                    }
                }
                Ok(())
            })();
            // Whatever became of the writer, or the reader would wait for good (found by an
            // outside implementer's server, whose echo the writer refused: the suite hung).
            done.store(true, Ordering::Relaxed);
            flooded.map_err(|e| format!("the writer: {e}"))
        });
        // The reader does not read until the server has cut it off (the writer sees the
        // subscriber count drop), then reads as fast as it can: the last frames must reach it
        // within the server's grace period (§9).
        let mut next = 0u64;
        let result = loop {
            while !cut_off.load(Ordering::Relaxed) && !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(2));
            }
            let v = match reader.recv() {
                Ok(v) => v,
                Err(e) => break Err(format!("after {next} Events: {e}")),
            };
            match kind(&v) {
                Some(7) => {
                    let n = text(&v, 6)
                        .and_then(|b| b.get(..6))
                        .and_then(|d| d.parse::<u64>().ok());
                    if n != Some(next) {
                        break Err(format!("Event {n:?} where {next} was due: the run is broken"));
                    }
                    next += 1;
                }
                Some(3) if uint(&v, 9) == Some(503) && get(&v, 1).is_none() => {
                    break reader.expect_bye_and_close(503).map(|()| next);
                }
                _ => break Err(format!("after {next} Events: {}", show(&v))),
            }
            if next >= 3000 {
                break Err("3000 Events read and no slow_consumer: the server buffers without bound?".into());
            }
        };
        done.store(true, Ordering::Relaxed);
        let flooded = flood.join().unwrap_or_else(|_| Err("the writer panicked".into()));
        flooded.and(result).map(|_| Pass)
    })
}

/// §9: replies a client's own requests produce never make it a slow consumer. A client fills
/// a channel with 100 Messages of 15,000 bytes, reads one Catchup of them to learn a page's
/// size, then sends as many more (at most 2000) as make some 24 MB of replies, more than
/// socket buffers hold, without reading; waits half a second, and reads: every Catchup is
/// answered, in order, each with the first one's Events ([`PIPELINE_PUSHBACK`], a SHOULD: a
/// server that cuts the client off as a slow consumer, 503, is advisory). Skipped without
/// history.
pub(super) fn pipelined_catchups_are_answered_not_cut_off(x: &Ctx) -> Result<Verdict, Fail> {
    const MESSAGES: u64 = 100;
    const REPLIES: usize = 24_000_000;
    let (mut c, _) = x.client("pl")?;
    if let Some(skip) = needs_history(&mut c, x)? {
        return Ok(skip);
    }
    let ch = x.channel("pl");
    c.sub(&ch, 2)?;
    let pad = "p".repeat(15_000);
    for i in 0..MESSAGES {
        c.say(&ch, &format!("{i:06}{pad}"), 10 + i)?;
    }
    let catchup = |seq: u64| map(&[(0, u(13)), (1, u(seq)), (2, t(&ch)), (15, u(MESSAGES))]);
    let (first, _, per_catchup) = super::catchup(&mut c, &ch, &[(15, u(MESSAGES))], None)?;
    let page = first.iter().map(String::len).sum::<usize>().max(1);
    let catchups = (REPLIES / page).clamp(1, 2000) as u64;
    for seq in 1000..1000 + catchups {
        c.send(&catchup(seq))?;
    }
    std::thread::sleep(Duration::from_millis(500));
    // Each Catchup's replay, in order: its Events (as many as the first one had), then its
    // CatchupEnd.
    let (mut seq, mut events) = (1000, 0u64);
    while seq < 1000 + catchups {
        let v = c.next().map_err(|e| format!("answering Catchup {seq}: {e}"))?;
        match (kind(&v), uint(&v, 1)) {
            (Some(7), Some(s)) if s == seq => events += 1,
            (Some(14), Some(s)) if s == seq => {
                if events != per_catchup {
                    return Err(format!(
                        "pipelined Catchup {} of {catchups} replayed {events} Events, the first \
                         {per_catchup}",
                        seq - 999
                    ));
                }
                (seq, events) = (seq + 1, 0);
            }
            (Some(3), None) if uint(&v, 9) == Some(503) => {
                return advisory(
                    PIPELINE_PUSHBACK,
                    &format!(
                        "slow_consumer (503) after {} of {catchups} pipelined Catchups \
                         ({per_catchup} Events each) were answered",
                        seq - 1000
                    ),
                );
            }
            _ => {
                return Err(format!(
                    "answering Catchup {seq}, after {events} Events: {}",
                    show(&v)
                ));
            }
        }
    }
    Ok(Pass)
}
