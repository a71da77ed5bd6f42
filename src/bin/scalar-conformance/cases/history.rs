//! Catchup and Search (§4). On a server that keeps no history these cases are skipped.

use super::*;

pub(super) fn catchup_replays_or_says_unavailable(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, user) = x.client("cu")?;
    let ch = x.channel("cu");
    c.sub(&ch, 2)?;
    for (i, body) in ["a", "b", "c"].iter().enumerate() {
        c.say(&ch, body, 3 + i as u64)?;
    }
    c.send(&map(&[(0, u(13)), (1, u(9)), (2, t(&ch)), (15, u(10))]))?;
    let mut got = Vec::new();
    loop {
        let v = c.reply()?;
        match kind(&v) {
            Some(7) if uint(&v, 1) == Some(9) => {
                check_event(&v, &user, &ch, text(&v, 6).unwrap_or(""))?;
                got.push(text(&v, 6).unwrap_or("").to_string());
            }
            Some(14) => {
                return match uint(&v, 22) {
                    Some(2) if got.is_empty() => Ok(Verdict::Skip("the server keeps no history".into())),
                    Some(0) if got == ["a", "b", "c"] && uint(&v, 15) == Some(3) => Ok(Pass),
                    s => Err(format!("CatchupEnd status {s:?} after {got:?}")),
                };
            }
            _ => return Err(format!("during a Catchup: {}", show(&v))),
        }
    }
}

pub(super) fn catchup_needs_a_subscription(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("cs")?;
    let ch = x.channel("cs");
    c.send(&map(&[(0, u(13)), (1, u(9)), (2, t(&ch)), (15, u(10))]))?;
    c.expect_error(403, Some(9))?;
    Ok(Pass)
}

pub(super) fn catchup_count_0_replays_nothing(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("c0")?;
    if let Some(skip) = needs_history(&mut c, x)? {
        return Ok(skip);
    }
    let (ch, _) = fill(&mut c, x, &["a", "b"])?;
    match catchup(&mut c, &ch, &[(15, u(0))], None)? {
        (got, 1, 0) if got.is_empty() => Ok(Pass),
        other => Err(format!(
            "count 0 gave {other:?}, expected nothing and status 1 (more)"
        )),
    }
}

pub(super) fn catchup_pages_backward_with_before(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("cb")?;
    if let Some(skip) = needs_history(&mut c, x)? {
        return Ok(skip);
    }
    let (ch, echoes) = fill(&mut c, x, &["1", "2", "3", "4", "5"])?;
    let (page, status, _) = catchup(&mut c, &ch, &[(15, u(2))], None)?;
    if page != ["4", "5"] || status != 1 {
        return Err(format!("the newest 2 were {page:?} (status {status})"));
    }
    let before = get(&echoes[3], 5).cloned().ok_or("no id")?;
    let (page, status, _) = catchup(&mut c, &ch, &[(15, u(2)), (24, before)], None)?;
    if page != ["2", "3"] || status != 1 {
        return Err(format!("2 before \"4\" were {page:?} (status {status})"));
    }
    let before = get(&echoes[1], 5).cloned().ok_or("no id")?;
    match catchup(&mut c, &ch, &[(15, u(2)), (24, before)], None)? {
        (p, 0, 1) if p == ["1"] => Ok(Pass),
        other => Err(format!("the oldest page was {other:?}")),
    }
}

pub(super) fn catchup_pages_forward_with_after(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("cf")?;
    if let Some(skip) = needs_history(&mut c, x)? {
        return Ok(skip);
    }
    let (ch, echoes) = fill(&mut c, x, &["1", "2", "3", "4"])?;
    let after = get(&echoes[0], 5).cloned().ok_or("no id")?;
    let (page, status, _) = catchup(&mut c, &ch, &[(15, u(2)), (21, after)], None)?;
    if page != ["2", "3"] || status != 1 {
        return Err(format!("2 after \"1\" were {page:?} (status {status})"));
    }
    let after = get(&echoes[2], 5).cloned().ok_or("no id")?;
    match catchup(&mut c, &ch, &[(15, u(2)), (21, after)], None)? {
        (p, 0, 1) if p == ["4"] => Ok(Pass),
        other => Err(format!("the last page was {other:?}")),
    }
}

pub(super) fn catchup_of_an_unknown_id_is_status_3(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("cu")?;
    if let Some(skip) = needs_history(&mut c, x)? {
        return Ok(skip);
    }
    let (ch, _) = fill(&mut c, x, &["a"])?;
    match catchup(
        &mut c,
        &ch,
        &[(15, u(5)), (21, Value::Bytes(vec![0x5a; 32]))],
        None,
    )? {
        (p, 3, 0) if p.is_empty() => Ok(Pass),
        other => Err(format!("an unknown `after` gave {other:?}")),
    }
}

pub(super) fn catchup_between_two_times(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("ct")?;
    if let Some(skip) = needs_history(&mut c, x)? {
        return Ok(skip);
    }
    let (ch, echoes) = fill(&mut c, x, &["1", "2", "3", "4"])?;
    let time = |i: usize| uint(&echoes[i], 4).ok_or("no time");
    let (since, until) = (time(0)?, time(3)?);
    match catchup(&mut c, &ch, &[(15, u(10)), (20, u(since)), (23, u(until))], None)? {
        (p, 0, 2) if p == ["2", "3"] => Ok(Pass),
        other => Err(format!("strictly between the first and last times: {other:?}")),
    }
}

pub(super) fn catchup_of_a_reserved_name_is_unavailable(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("cr")?;
    let name = format!("!motd@{}", x.domain);
    match catchup(&mut c, &name, &[(15, u(5))], None)? {
        (p, 2, 0) if p.is_empty() => Ok(Pass),
        other => Err(format!("a reserved name's history gave {other:?}")),
    }
}

pub(super) fn your_own_id_reads_your_direct_messages(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut a, alice) = x.client("ia")?;
    if let Some(skip) = needs_history(&mut a, x)? {
        return Ok(skip);
    }
    let (mut b, _) = x.client("ib")?;
    b.say(&alice, "for alice", 3)?;
    a.event()?;
    match catchup(&mut a, &alice, &[(15, u(10))], None)? {
        (p, 0, 1) if p == ["for alice"] => Ok(Pass),
        other => Err(format!("alice's inbox was {other:?}")),
    }
}

pub(super) fn a_free_name_taken_again_reads_nothing_it_got_before(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut a, alice) = x.client("fa")?;
    if let Some(skip) = needs_history(&mut a, x)? {
        return Ok(skip);
    }
    let (mut b, _) = x.client("fb")?;
    b.say(&alice, "for the first holder", 3)?;
    a.event()?;
    drop(a);
    // Anyone may take the name now, without a password: not the first holder's messages.
    let mut again = x.raw()?;
    again.ident(&alice)?;
    match catchup(&mut again, &alice, &[(15, u(10))], None)? {
        (p, _, _) if p.is_empty() => Ok(Pass),
        other => Err(format!("the name's next holder read {other:?}")),
    }
}

pub(super) fn another_id_reads_the_conversation(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut a, alice) = x.client("ca")?;
    if let Some(skip) = needs_history(&mut a, x)? {
        return Ok(skip);
    }
    let (mut b, bob) = x.client("cb")?;
    a.say(&bob, "hi bob", 3)?;
    b.event()?;
    b.say(&alice, "hi alice", 3)?;
    a.event()?;
    match catchup(&mut a, &bob, &[(15, u(10))], None)? {
        (p, 0, 2) if p == ["hi bob", "hi alice"] => Ok(Pass),
        other => Err(format!("the conversation was {other:?}")),
    }
}

pub(super) fn search_finds_whole_words(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("se")?;
    let (ch, _) = fill(
        &mut c,
        x,
        &["release notes are out", "no match here", "Release day"],
    )?;
    match catchup(&mut c, &ch, &[(15, u(10))], Some("release"))? {
        (_, 2, 0) => Ok(Verdict::Skip("the server has no search index".into())),
        (p, 0, 2) if p == ["release notes are out", "Release day"] => Ok(Pass),
        other => Err(format!("searching \"release\" gave {other:?}")),
    }
}

pub(super) fn search_words_end_at_emoji(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("sw")?;
    let (ch, _) = fill(&mut c, x, &["thanks🙂see you", "thanksgiving", "wave👋🏽ok"])?;
    let mut found = |q: &str| searched(&mut c, &ch, q);
    match (found("thanks")?, found("ok")?) {
        (None, _) | (_, None) => Ok(Verdict::Skip("the server has no search index".into())),
        (Some(a), Some(b)) if a == ["thanks🙂see you"] && b == ["wave👋🏽ok"] => Ok(Pass),
        other => Err(format!("\"thanks\" and \"ok\" found {other:?}")),
    }
}

pub(super) fn search_finds_chinese_and_japanese_characters_in_a_row(x: &Ctx) -> Result<Verdict, Fail> {
    // "日本" is in both, "本語" in a row only in the first, "日語" in neither.
    hits_are(
        x,
        "sj",
        &["日本語もテストします。", "日本の語学"],
        &[("テスト", 1), ("本語", 1), ("日本", 2), ("日語", 0)],
    )
}

pub(super) fn search_ignores_accents_typed_either_way(x: &Ctx) -> Result<Verdict, Fail> {
    // "café" precomposed, "ёлка" as "е" and a combining diaeresis (U+0308), "καλημέρα"
    // precomposed: each found without its accents, and the accented query finds the plain
    // word; "cafe" is no prefix of "cafeteria".
    hits_are(
        x,
        "sa",
        &[
            "un café noir",
            "е\u{308}лка и καλημέρα",
            "cafeteria",
            "cafe au lait",
        ],
        &[
            ("cafe", 2),
            ("café", 2),
            ("елка", 1),
            ("ёлка", 1),
            ("καλημερα", 1),
        ],
    )
}

pub(super) fn search_finds_korean_syllables_in_a_row(x: &Ctx) -> Result<Verdict, Fail> {
    // "서울" (Seoul) is found without its particle "에서", in the first message only; "에서"
    // in the first two; "울서" in none, though they hold its syllables; "서서" and "사과" in
    // none, where their syllables stand on either side of a space (Korean's word breaks).
    hits_are(
        x,
        "sk",
        &["서울에서 만나요", "울산에서 서핑", "회사 과장님"],
        &[
            ("서울", 1),
            ("에서", 2),
            ("만나", 1),
            ("울서", 0),
            ("서서", 0),
            ("사과", 0),
            ("회사", 1),
        ],
    )
}

/// Passes if each query, searched in a channel of `bodies`, finds as many messages as it says.
fn hits_are(x: &Ctx, who: &str, bodies: &[&str], want: &[(&str, usize)]) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client(who)?;
    let (ch, _) = fill(&mut c, x, bodies)?;
    let mut got = Vec::new();
    for &(q, _) in want {
        match searched(&mut c, &ch, q)? {
            None => return Ok(Verdict::Skip("the server has no search index".into())),
            Some(p) => got.push((q, p.len())),
        }
    }
    match got == want {
        true => Ok(Pass),
        false => Err(format!("the searches found (query, messages) {got:?}")),
    }
}

/// The bodies a Search of `ch` for `query` found (up to 10), or `None` from a server without
/// a search index (status 2).
fn searched(c: &mut Raw, ch: &str, query: &str) -> Result<Option<Vec<String>>, Fail> {
    match catchup(c, ch, &[(15, u(10))], Some(query))? {
        (_, 2, 0) => Ok(None),
        (p, 0, _) => Ok(Some(p)),
        other => Err(format!("searching \"{query}\" gave {other:?}")),
    }
}

pub(super) fn an_empty_query_is_malformed(x: &Ctx) -> Result<Verdict, Fail> {
    refused_in_channel(
        x,
        "eq",
        |ch| vec![(0, u(15)), (2, t(ch)), (15, u(5)), (25, t(""))],
        100,
    )
}

/// Sends Conversations (71) with `fields`; the ConversationList's users, times, status and
/// cursor, or a skip if the server does not know the type (103) or keeps no history.
fn conversations(c: &mut Raw, fields: &[(u64, Value)]) -> Result<Result<Listed, Verdict>, Fail> {
    // The fields given first: the sort keeps their order, and the dedup the first of a key.
    let mut pairs = fields.to_vec();
    pairs.extend([(0, u(71)), (1, u(12)), (15, u(10))]);
    pairs.sort_by_key(|&(k, _)| k);
    pairs.dedup_by_key(|p| p.0);
    c.send(&map(&pairs))?;
    let v = c.reply()?;
    if kind(&v) == Some(3) && uint(&v, 9) == Some(103) {
        return Ok(Err(Verdict::Skip(
            "the server does not know Conversations (103)".into(),
        )));
    }
    if kind(&v) != Some(72) || uint(&v, 1) != Some(12) {
        return Err(format!(
            "Conversations: expected a ConversationList, got {}",
            show(&v)
        ));
    }
    let users: Vec<String> = match get(&v, 48) {
        Some(Value::Array(a)) => (a.iter())
            .map(|x| {
                x.as_text()
                    .map(str::to_string)
                    .ok_or(format!("a user that is no text: {x:?}"))
            })
            .collect::<Result<_, _>>()?,
        other => return Err(format!("ConversationList users: {other:?}")),
    };
    let times: Vec<u64> = match get(&v, 64) {
        Some(Value::Array(a)) => (a.iter())
            .map(|x| {
                (x.as_integer().and_then(|i| u64::try_from(i).ok()))
                    .ok_or(format!("a time that is no uint: {x:?}"))
            })
            .collect::<Result<_, _>>()?,
        other => return Err(format!("ConversationList times: {other:?}")),
    };
    if users.len() != times.len() {
        return Err(format!("{} users but {} times", users.len(), times.len()));
    }
    match uint(&v, 22) {
        Some(2) if users.is_empty() => Ok(Err(Verdict::Skip("the server keeps no history".into()))),
        Some(status @ 0..=1) => Ok(Ok(Listed {
            page: users.into_iter().zip(times).collect(),
            status,
            cursor: text(&v, 45).map(str::to_string),
        })),
        s => Err(format!("ConversationList status {s:?}")),
    }
}

/// A ConversationList, read.
struct Listed {
    page: Vec<(String, u64)>,
    status: u64,
    cursor: Option<String>,
}

/// Two fresh users that `me` talked with, one each way, the second 20 ms later (times of two
/// topics are not ordered otherwise); the list is theirs, sorted bytewise, each with the time
/// of its newest Event.
fn talk(x: &Ctx, me: &mut Raw, user: &str) -> Result<Vec<(String, u64)>, Fail> {
    let (mut b, bob) = x.client("vb")?;
    let (mut c, carol) = x.client("vc")?;
    let to_bob = me.say(&bob, "hi", 3)?;
    b.event()?;
    std::thread::sleep(std::time::Duration::from_millis(20));
    let from_carol = c.say(user, "hi", 3)?;
    me.event()?;
    let mut both = vec![
        (bob, uint(&to_bob, 4).unwrap_or(0)),
        (carol, uint(&from_carol, 4).unwrap_or(0)),
    ];
    both.sort();
    Ok(both)
}

pub(super) fn conversations_list_both_directions(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut a, alice) = x.client("va")?;
    let both = talk(x, &mut a, &alice)?;
    match conversations(&mut a, &[])? {
        Err(skip) => Ok(skip),
        Ok(l) if l.page == both && l.status == 0 && l.cursor.is_none() => Ok(Pass),
        Ok(l) => Err(format!(
            "the list was {:?} (status {}, cursor {:?}), expected {both:?} (status 0)",
            l.page, l.status, l.cursor
        )),
    }
}

pub(super) fn conversations_page_by_cursor_and_since(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut a, alice) = x.client("vp")?;
    let both = talk(x, &mut a, &alice)?;
    // Pages of one, on by each cursor: a page may hold fewer (§4), never more, and the cursor
    // moves on; together, the list once, in order.
    let (mut all, mut cursor, mut ended) = (Vec::new(), None::<String>, false);
    for _ in 0..10 {
        let mut fields = vec![(15, u(1))];
        fields.extend(cursor.as_deref().map(|c| (45, t(c))));
        let page = match conversations(&mut a, &fields)? {
            Err(skip) => return Ok(skip),
            Ok(l) => l,
        };
        if page.page.len() > 1 {
            return Err(format!("count 1 gave {:?}", page.page));
        }
        all.extend(page.page);
        match (page.status, page.cursor) {
            (1, Some(next)) if cursor.as_ref().is_none_or(|c| next > *c) => cursor = Some(next),
            (0, None) => {
                ended = true;
                break;
            }
            (s, c) => return Err(format!("status {s} with cursor {c:?} after {cursor:?}")),
        }
    }
    if !ended {
        return Err(format!("no status 0 within 10 pages of one, for {both:?}"));
    }
    if all != both {
        return Err(format!("paged by one: {all:?}, expected {both:?}"));
    }
    // `since` the older newest time leaves the other one.
    let older = both.iter().min_by_key(|(_, t)| *t).map_or(0, |&(_, t)| t);
    let newer: Vec<_> = both.iter().filter(|(_, t)| *t > older).cloned().collect();
    if newer.is_empty() {
        return Ok(Verdict::Skip(
            "the two conversations' times are equal 20 ms apart: since cannot be told".into(),
        ));
    }
    let Ok(since) = conversations(&mut a, &[(20, u(older))])? else {
        return Err("the list since a time was refused".into());
    };
    match since.page == newer && since.status == 0 {
        true => Ok(Pass),
        false => Err(format!("since {older}: {:?}, expected {newer:?}", since.page)),
    }
}

/// §4 Search: a query with no words (symbols, emoji) matches nothing (status 0); a word of two
/// characters or more followed by `*` SHOULD match the words it begins ("deploy*": "deploy",
/// "deployment", "Deployed", not "redeploy": [`STARRED_WORD`]; a server that matches "deploy"
/// whole is advisory),
/// and a one-character one asks for that word alone.
pub(super) fn search_a_starred_word_and_a_query_without_words(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("ss")?;
    let bodies = [
        "deploy now",
        "the deployment",
        "Deployed it",
        "redeploy later",
        "d day",
    ];
    let (ch, _) = fill(&mut c, x, &bodies)?;
    if searched(&mut c, &ch, "deploy")?.is_none() {
        return Ok(Verdict::Skip("the server has no search index".into()));
    }
    match searched(&mut c, &ch, "🙂 !! ✓")? {
        Some(none) if none.is_empty() => {}
        other => {
            return Err(format!(
                "a query without words: expected nothing, status 0; got {other:?}"
            ));
        }
    }
    let starred = searched(&mut c, &ch, "deploy*")?.unwrap_or_default();
    if starred == ["deploy now"] {
        return advisory(STARRED_WORD, "\"deploy*\" matched the word deploy alone");
    }
    let short = searched(&mut c, &ch, "d*")?.unwrap_or_default();
    match (
        starred == ["deploy now", "the deployment", "Deployed it"],
        short == ["d day"],
    ) {
        (true, true) => Ok(Pass),
        _ => Err(format!("\"deploy*\" found {starred:?}, \"d*\" found {short:?}")),
    }
}

/// §4 Catchup: status 0 says every matching Event was sent, 1 that more exist; a page whose
/// `count` Events are exactly those left, backward or forward, is complete (found by mutation
/// testing: a server that said "more" when the oldest Event filled a backward page exactly
/// passed every case).
pub(super) fn a_page_that_holds_exactly_what_is_left_is_complete(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("ce")?;
    if let Some(skip) = needs_history(&mut c, x)? {
        return Ok(skip);
    }
    let (ch, echoes) = fill(&mut c, x, &["1", "2", "3"])?;
    let id = |i: usize| get(&echoes[i], 5).cloned().ok_or("no id");
    let pages = [
        ("the newest 3 of 3", vec![(15, u(3))], ["1", "2", "3"].as_slice()),
        ("2 before \"3\"", vec![(15, u(2)), (24, id(2)?)], &["1", "2"]),
        ("2 after \"1\"", vec![(15, u(2)), (21, id(0)?)], &["2", "3"]),
    ];
    for (what, extra, want) in pages {
        match catchup(&mut c, &ch, &extra, None)? {
            (p, 0, _) if p == want => {}
            other => {
                return Err(format!(
                    "{what}: {other:?}, expected {want:?} with status 0 (complete)"
                ));
            }
        }
    }
    Ok(Pass)
}

/// §4 Catchup: `after` or `before` naming an Event of another topic is `unknown_id` (status 3),
/// with nothing replayed (found by mutation testing: a server that took any topic's Event as
/// an anchor passed every case).
pub(super) fn an_anchor_of_another_topic_is_status_3(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("ao")?;
    if let Some(skip) = needs_history(&mut c, x)? {
        return Ok(skip);
    }
    let (ch, _) = fill(&mut c, x, &["here 1", "here 2"])?;
    let (_, there) = fill(&mut c, x, &["there"])?;
    let id = get(&there[0], 5).cloned().ok_or("no id")?;
    for (key, name) in [(21, "after"), (24, "before")] {
        match catchup(&mut c, &ch, &[(15, u(5)), (key, id.clone())], None)? {
            (p, 3, 0) if p.is_empty() => {}
            other => {
                return Err(format!(
                    "`{name}` another channel's Event: {other:?}, expected nothing and status 3"
                ));
            }
        }
    }
    Ok(Pass)
}

/// §4 Catchup: the CatchupEnd names the topic as asked; a conversation's replayed Events keep
/// their real topics (found by mutation testing: a server that named the asker's own ID in a
/// conversation's CatchupEnd passed every case).
pub(super) fn a_conversation_s_catchup_end_names_the_topic_asked(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut a, alice) = x.client("ta")?;
    if let Some(skip) = needs_history(&mut a, x)? {
        return Ok(skip);
    }
    let (mut b, bob) = x.client("tb")?;
    b.say(&alice, "hi alice", 3)?;
    a.event()?;
    a.send(&map(&[(0, u(13)), (1, u(77)), (2, t(&bob)), (15, u(5))]))?;
    let e = a.reply()?;
    let end = a.reply()?;
    match (kind(&e), text(&e, 2), kind(&end), uint(&end, 1), text(&end, 2)) {
        (Some(7), Some(real), Some(14), Some(77), Some(asked)) if real == alice && asked == bob => Ok(Pass),
        _ => Err(format!(
            "a Catchup of {bob}: replay {} (topic {:?}), then {} (topic {:?}); expected the \
             Event on {alice}, then CatchupEnd on {bob}",
            show(&e),
            text(&e, 2),
            show(&end),
            text(&end, 2)
        )),
    }
}

/// §4 Search: a Search of a topic finds that topic's Events only, as a Catchup of it reads them
/// (found by mutation testing: a server whose Search looked in every topic passed every case,
/// each case's words being its own).
pub(super) fn search_finds_the_topic_s_events_only(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("st")?;
    // One word, this run's alone: what another topic holds is this case's own.
    let word = x.fresh("wombat");
    let (here, _) = fill(&mut c, x, &[&format!("{word} here")])?;
    let (there, _) = fill(&mut c, x, &[&format!("{word} there")])?;
    for (ch, want) in [(&here, "here"), (&there, "there")] {
        match searched(&mut c, ch, &word)? {
            None => return Ok(Verdict::Skip("the server has no search index".into())),
            Some(p) if p == [format!("{word} {want}")] => {}
            Some(p) => {
                return Err(format!(
                    "searching {ch} for \"{word}\" found {p:?}, expected [\"{word} {want}\"]"
                ));
            }
        }
    }
    Ok(Pass)
}

/// §4 Search: bounds and paging are Catchup's: `before` a match finds only older ones, `after`
/// only newer ones (found by mutation testing: a server whose Search ignored `before` passed
/// every case).
pub(super) fn search_pages_by_before_and_after(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("sb")?;
    // This run's own word: another case's Events, in another topic, are not in the way.
    let w = x.fresh("deploy");
    let [one, two, three] = ["one", "two", "three"].map(|n| format!("{w} {n}"));
    let bodies = [one.as_str(), "nothing here", two.as_str(), three.as_str()];
    let (ch, echoes) = fill(&mut c, x, &bodies)?;
    let id = |i: usize| get(&echoes[i], 5).cloned().ok_or("no id");
    let pages = [
        (
            "2 before the third",
            vec![(15, u(2)), (24, id(3)?)],
            vec![&one, &two],
            0,
        ),
        (
            "1 before the second",
            vec![(15, u(1)), (24, id(2)?)],
            vec![&one],
            0,
        ),
        ("1 after the first", vec![(15, u(1)), (21, id(0)?)], vec![&two], 1),
        (
            "2 after the second",
            vec![(15, u(2)), (21, id(2)?)],
            vec![&three],
            0,
        ),
    ];
    for (what, extra, want, status) in pages {
        match catchup(&mut c, &ch, &extra, Some(&w))? {
            (_, 2, 0) => return Ok(Verdict::Skip("the server has no search index".into())),
            (p, s, _) if p.iter().eq(want.iter().copied()) && s == status => {}
            other => {
                return Err(format!(
                    "searching \"{w}\", {what} match: {other:?}, expected {want:?} with status {status}"
                ));
            }
        }
    }
    Ok(Pass)
}

/// §4 Search: Search replays only Events with a text body, whatever their `ctype`; blob bodies
/// are never matched, even when their bytes spell the word (found by mutation testing: a
/// server that indexed blobs as text passed every case).
pub(super) fn search_never_matches_a_blob_body(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("sx")?;
    let word = x.fresh("kiwi");
    let ch = x.channel("sx");
    c.sub(&ch, 2)?;
    let text = format!("{word} as text");
    let blob = format!("{word} as bytes");
    for (seq, body, ctype) in [
        (3, t(&text), "text/markdown"),
        (4, Value::Bytes(blob.clone().into_bytes()), "text/plain"),
        (
            5,
            Value::Bytes(blob.clone().into_bytes()),
            "application/octet-stream",
        ),
    ] {
        c.send(&map(&[
            (0, u(6)),
            (1, u(seq)),
            (2, t(&ch)),
            (6, body),
            (7, t(ctype)),
        ]))?;
        let echo = c.reply()?;
        if kind(&echo) != Some(7) || uint(&echo, 1) != Some(seq) {
            return Err(format!("Message {seq}: expected the echo, got {}", show(&echo)));
        }
    }
    match searched(&mut c, &ch, &word)? {
        None => Ok(Verdict::Skip("the server has no search index".into())),
        Some(p) if p == [text.as_str()] => Ok(Pass),
        Some(p) => Err(format!(
            "searching \"{word}\" found {p:?}, expected the text body alone (blob bodies are never matched)"
        )),
    }
}

/// §4 Catchup: every Event replayed satisfies all the bounds given, whichever of them decides
/// the direction: `after` with `before`, `after` with a `since` on either side of it, `before`
/// with `until` (found by mutation testing: a server whose forward pages ignored `before`, or
/// whose `since` replaced `after`, passed every case).
pub(super) fn catchup_keeps_to_every_bound_given(x: &Ctx) -> Result<Verdict, Fail> {
    let (mut c, _) = x.client("cb")?;
    if let Some(skip) = needs_history(&mut c, x)? {
        return Ok(skip);
    }
    let (ch, echoes) = fill(&mut c, x, &["1", "2", "3", "4", "5"])?;
    let id = |i: usize| get(&echoes[i], 5).cloned().ok_or("no id");
    let time = |i: usize| uint(&echoes[i], 4).map(u).ok_or("no time");
    let ranges = [
        (
            "after \"1\", before \"4\"",
            vec![(21, id(0)?), (24, id(3)?)],
            ["2", "3"],
        ),
        (
            "after \"3\", since the time of \"1\"",
            vec![(20, time(0)?), (21, id(2)?)],
            ["4", "5"],
        ),
        (
            "after \"1\", since the time of \"3\"",
            vec![(20, time(2)?), (21, id(0)?)],
            ["4", "5"],
        ),
        (
            "before \"5\", until the time of \"3\"",
            vec![(23, time(2)?), (24, id(4)?)],
            ["1", "2"],
        ),
    ];
    for (what, mut extra, want) in ranges {
        extra.push((15, u(10)));
        match catchup(&mut c, &ch, &extra, None)? {
            (p, 0, _) if p == want => {}
            other => {
                return Err(format!(
                    "{what}: {other:?}, expected {want:?} with status 0 (complete)"
                ));
            }
        }
    }
    Ok(Pass)
}
