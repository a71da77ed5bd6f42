//! Times: the wire's milliseconds since the Unix epoch, shown as local clock time for people and
//! as RFC 3339 UTC for JSON. No date crate: the civil-date arithmetic is a few lines, and the
//! local offset comes from the C library, which already knows the time zone rules.

use std::time::{SystemTime, UNIX_EPOCH};

/// The current time in milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

pub use scalar::civil::rfc3339_utc;
use scalar::civil::{Civil, civil, civil_from_days};

/// The local time zone's offset from UTC at `secs`, in seconds (0 if unknown).
fn local_offset(secs: i64) -> i64 {
    // time_t is 64 bits on every platform this builds for that has a 2038-safe clock; the
    // cast is the identity there.
    let t = secs as libc::time_t;
    // SAFETY: localtime_r only writes the `tm` we own; a zeroed `tm` is a valid value for it.
    unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&t, &mut tm).is_null() {
            0
        } else {
            // c_long: i64 here, i32 on 32-bit targets.
            tm.tm_gmtoff as i64
        }
    }
}

fn local(ms: u64) -> Civil {
    let secs = i64::try_from(ms / 1000).unwrap_or(i64::MAX / 2);
    civil(secs.saturating_add(local_offset(secs)))
}

/// The local calendar day of `ms`, as days since 1970-01-01: equal for two times on the same
/// local date.
pub fn local_day(ms: u64) -> i64 {
    let secs = i64::try_from(ms / 1000).unwrap_or(i64::MAX / 2);
    secs.saturating_add(local_offset(secs)).div_euclid(86_400)
}

/// A day from [`local_day`] for people: `Friday 2026-12-04`.
pub fn day_name(day: i64) -> String {
    // 1970-01-01 was a Thursday.
    const WEEKDAYS: [&str; 7] = [
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
        "Monday",
        "Tuesday",
        "Wednesday",
    ];
    let (year, month, d) = civil_from_days(day);
    let weekday = WEEKDAYS
        .get(day.rem_euclid(7) as usize)
        .copied()
        .unwrap_or_default();
    format!("{weekday} {year:04}-{month:02}-{d:02}")
}

/// Local clock time, `HH:MM:SS`.
pub fn local_hms(ms: u64) -> String {
    let c = local(ms);
    format!("{:02}:{:02}:{:02}", c.hour, c.min, c.sec)
}

/// Local date and time with the zone's abbreviation, `YYYY-MM-DD HH:MM:SS CET`, for a time
/// shown beside the server's, which are UTC (found by QA: a ban's record said 20:15 and its
/// refusal, the next line, 01:15 UTC the next day). Scripts' lines keep [`local_datetime`].
pub fn local_datetime_zoned(ms: u64) -> String {
    format!("{} {}", local_datetime(ms), zone_at(ms))
}

/// The local zone's abbreviation at `ms` (`CET`, `EST`), or its offset where it has none.
pub fn zone_at(ms: u64) -> String {
    let secs = i64::try_from(ms / 1000).unwrap_or(i64::MAX / 2);
    let t = secs as libc::time_t;
    // SAFETY: localtime_r only writes the `tm` we own; tm_zone, when set, points at a
    // NUL-terminated name libc keeps for the life of the process (until the next tzset).
    let zone = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        match libc::localtime_r(&t, &mut tm).is_null() || tm.tm_zone.is_null() {
            true => None,
            false => Some(
                std::ffi::CStr::from_ptr(tm.tm_zone)
                    .to_string_lossy()
                    .into_owned(),
            ),
        }
    };
    zone.filter(|z| !z.is_empty())
        .unwrap_or_else(|| offset_words(local_offset(secs)))
}

/// An offset from UTC as `+01:00`, where the zone has no name.
fn offset_words(offset: i64) -> String {
    let sign = if offset < 0 { '-' } else { '+' };
    let m = offset.unsigned_abs() / 60;
    format!("{sign}{:02}:{:02}", m / 60, m % 60)
}

/// Local date and time, `YYYY-MM-DD HH:MM:SS`.
pub fn local_datetime(ms: u64) -> String {
    let c = local(ms);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.min, c.sec
    )
}

/// Days since 1970-01-01 of a date in the proleptic Gregorian calendar (Howard Hinnant's
/// `days_from_civil`, the inverse of [`civil_from_days`]).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = i64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses a time typed on the command line: milliseconds since the Unix epoch (digits only),
/// or RFC 3339 with an offset (`2025-11-24T16:00:00Z`, `2025-11-24 17:00:00.250+01:00`).
/// `None` for anything else, including a time before 1970.
pub fn parse_time(s: &str) -> Option<u64> {
    let s = s.trim();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().ok();
    }
    let num = |from: usize, len: usize| -> Option<u32> {
        let part = s.get(from..from + len)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let sep = |at: usize, ok: &[u8]| s.as_bytes().get(at).is_some_and(|b| ok.contains(b));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt ") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    let (hour, min, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let max_day = *month_days.get(usize::try_from(month).ok()?.checked_sub(1)?)?;
    // A leap second (60) is read as the last millisecond of its minute.
    if day == 0 || day > max_day || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut rest = s.get(19..)?;
    let mut ms = 0u64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        // Milliseconds: the first three digits, padded; finer digits are dropped.
        let first3: String = frac.get(..digits)?.chars().chain("00".chars()).take(3).collect();
        ms = first3.parse().ok()?;
        rest = frac.get(digits..)?;
    }
    let at = s.len() - rest.len();
    let offset_min: i64 = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), _, _, b':', _, _] => {
            let (oh, om) = (num(at + 1, 2)?, num(at + 4, 2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            let m = i64::from(oh * 60 + om);
            if *sign == b'-' { -m } else { m }
        }
        _ => return None,
    };
    let (sec, ms) = if sec == 60 { (59, 999) } else { (sec, ms) };
    let days = days_from_civil(i64::from(year), month, day);
    let secs = days * 86_400 + i64::from(hour * 3600 + min * 60 + sec) - offset_min * 60;
    u64::try_from(secs).ok()?.checked_mul(1000)?.checked_add(ms)
}

/// The UTC seconds of the local clock reading `secs` (as seconds since 1970 on the local
/// clock): the offset is that in force at the time found, which differs from a guess with the
/// offset of the reading itself only around a change of daylight saving time. `off` is the
/// zone's offset from UTC at a time (the local zone's in use; a made-up zone in tests).
fn local_to_utc_in(secs: i64, off: &dyn Fn(i64) -> i64) -> i64 {
    let guess = secs - off(secs);
    secs - off(guess)
}

/// Every UTC second at which the local clock (whose offset at a time is `off`) read `secs`:
/// one, or two in the hour a change back from daylight saving time repeats (found on a
/// Pacific/Auckland change day: `02:30`, typed at 02:40 after the first one, was taken as
/// the second, still to come, and so as yesterday's). A reading the clock skipped (its
/// change forward) has none; [`local_to_utc_in`]'s answer is given then.
fn local_readings(secs: i64, off: &dyn Fn(i64) -> i64) -> Vec<i64> {
    let guess = local_to_utc_in(secs, off);
    // The offsets in force a few hours either side: a change moves the clock by two hours at
    // most, and two changes are months apart.
    let mut found: Vec<i64> = [off(guess - 4 * 3600), off(guess + 4 * 3600)]
        .into_iter()
        .map(|o| secs - o)
        .filter(|&t| secs - off(t) == t)
        .collect();
    found.sort_unstable();
    found.dedup();
    if found.is_empty() {
        found.push(guess);
    }
    found
}

/// Parses a time typed in the chat (`/history since WHEN`), against `now` (ms): `90m`, `2h`
/// or `3d` ago; `today` or `yesterday` (local midnight); `HH:MM` (local: today, or yesterday
/// if that is still to come); `YYYY-MM-DD` or `YYYY-MM-DD HH:MM` (local); or what
/// [`parse_time`] takes. `None` for anything else.
pub fn parse_when(s: &str, now: u64) -> Option<u64> {
    parse_when_in(s, now, &local_offset)
}

/// [`parse_when`] in the zone whose offset from UTC at a time (seconds) is `off`.
fn parse_when_in(s: &str, now: u64, off: &dyn Fn(i64) -> i64) -> Option<u64> {
    let local_to_utc = |secs| local_to_utc_in(secs, off);
    let lower = s.trim().to_ascii_lowercase();
    let s = lower.as_str();
    let to_ms = |secs: i64| u64::try_from(secs).ok()?.checked_mul(1000);
    if let Some(ago) = ago_ms(s) {
        // Further back than 1970 is from the start.
        return Some(now.saturating_sub(ago));
    }
    // A bare number is milliseconds since 1970, as `history --since` takes it: one before
    // 1973 is a unit forgotten (`90` for `90m`), not a time (found in review).
    if s.bytes().all(|b| b.is_ascii_digit()) && s.parse::<u64>().is_ok_and(|n| n < 100_000_000_000) {
        return None;
    }
    let now_s = i64::try_from(now / 1000).ok()?;
    let today = now_s.saturating_add(off(now_s)).div_euclid(86_400);
    match s {
        "today" => return to_ms(local_to_utc(today * 86_400)),
        "yesterday" => return to_ms(local_to_utc((today - 1) * 86_400)),
        _ => {}
    }
    if let Some(clock) = clock_secs(s) {
        // The latest time today the clock read it, if it has; else yesterday's.
        let today_at = local_readings(today * 86_400 + clock, off)
            .into_iter()
            .filter(|&t| t <= now_s)
            .max();
        return to_ms(today_at.unwrap_or_else(|| local_to_utc((today - 1) * 86_400 + clock)));
    }
    let day = s.get(..10).and_then(local_date);
    let clock = match s.get(10..) {
        Some("") => Some(0),
        Some(rest) => rest.strip_prefix([' ', 't']).and_then(clock_secs),
        None => None,
    };
    match (day, clock) {
        (Some(day), Some(clock)) => to_ms(local_to_utc(day * 86_400 + clock)),
        _ => parse_time(s),
    }
}

/// `ms` rounded up to a whole second: an end shown to the second (`until 14:30:00`) that is
/// not past already.
pub fn ceil_second(ms: u64) -> u64 {
    ms.div_ceil(1000).saturating_mul(1000)
}

/// `30s`, `90m`, `2h`, `3d`, `1w`: that long, in ms (at most 100,000 of the unit).
fn ago_ms(s: &str) -> Option<u64> {
    let unit = match s.as_bytes().last()? {
        b's' => 1_000,
        b'w' => 7 * 86_400_000,
        b'm' => 60_000,
        b'h' => 3_600_000,
        b'd' => 86_400_000,
        _ => return None,
    };
    let n = s.get(..s.len() - 1)?;
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    n.parse::<u64>().ok().filter(|&n| n <= 100_000).map(|n| n * unit)
}

/// `H:MM`, `HH:MM` or either with `:SS`: seconds since midnight.
fn clock_secs(s: &str) -> Option<i64> {
    let (h, rest) = s.split_once(':')?;
    let (m, sec) = match rest.split_once(':') {
        Some((m, sec)) => (m, Some(sec)),
        None => (rest, None),
    };
    let digits = |t: &str, len: std::ops::RangeInclusive<usize>| {
        (len.contains(&t.len()) && t.bytes().all(|b| b.is_ascii_digit())).then(|| t.parse::<i64>().ok())?
    };
    let (h, m) = (digits(h, 1..=2)?, digits(m, 2..=2)?);
    let sec = match sec {
        Some(t) => digits(t, 2..=2)?,
        None => 0,
    };
    (h < 24 && m < 60 && sec < 60).then_some(h * 3600 + m * 60 + sec)
}

/// `YYYY-MM-DD`: days since 1970-01-01, if it is a date.
fn local_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 10 || b.get(4) != Some(&b'-') || b.get(7) != Some(&b'-') {
        return None;
    }
    let part = |r: std::ops::Range<usize>| {
        let t = s.get(r)?;
        t.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| t.parse::<u32>().ok())?
    };
    let (year, month, day) = (part(0..4)?, part(5..7)?, part(8..10)?);
    if !(1..=12).contains(&month) || day == 0 {
        return None;
    }
    let days = days_from_civil(i64::from(year), month, day);
    // 2026-02-30 comes back as March: not a date.
    (civil_from_days(days) == (i64::from(year), month, day)).then_some(days)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_in_the_chat() {
        // 2025-11-24T16:00:00Z, and the local clock's offset then.
        let now = 1_764_000_000_000;
        let off = local_offset(1_764_000_000) * 1000;
        let local = |ms: i64| u64::try_from(ms - off).unwrap();
        assert_eq!(parse_when("90m", now), Some(now - 5_400_000));
        assert_eq!(parse_when("2h", now), Some(now - 7_200_000));
        assert_eq!(parse_when("3d", now), Some(now - 3 * 86_400_000));
        let today = local_day(now) * 86_400_000;
        assert_eq!(parse_when("today", now), Some(local(today)));
        assert_eq!(parse_when("yesterday", now), Some(local(today - 86_400_000)));
        let clock = parse_when("0:00", now).unwrap();
        assert_eq!(clock, local(today), "midnight has come");
        // Later than now on the local clock: yesterday's.
        let now_local = i64::try_from(now).unwrap() + off;
        let later = now_local - today + 60_000;
        if later < 86_400_000 {
            let hm = format!("{:02}:{:02}", later / 3_600_000, later / 60_000 % 60);
            assert!(parse_when(&hm, now).unwrap() < now, "{hm}");
        }
        assert_eq!(
            parse_when("2025-11-24", now),
            Some(local(i64::from(20_416) * 86_400_000))
        );
        assert_eq!(
            parse_when("2025-11-24 17:30", now),
            Some(local(20_416 * 86_400_000 + (17 * 60 + 30) * 60_000))
        );
        assert_eq!(parse_when("2025-11-24T16:00:00Z", now), Some(now));
        assert_eq!(
            parse_when("2025-11-24 17:30:15", now),
            Some(local(20_416 * 86_400_000 + ((17 * 60 + 30) * 60 + 15) * 1000))
        );
        assert_eq!(
            parse_when("2025-11-24T17:30", now),
            parse_when("2025-11-24 17:30", now)
        );
        assert_eq!(parse_when("Yesterday", now), parse_when("yesterday", now));
        assert_eq!(parse_when("2H", now), Some(now - 7_200_000));
        assert_eq!(parse_when("100000d", now), Some(0), "from the start");
        assert_eq!(parse_when("1764000000000", now), Some(now), "milliseconds");
        for bad in [
            "90",
            "",
            "m",
            "5x",
            "24:00",
            "9:5",
            "2025-02-30",
            "2025-11-24 25:00",
            "soon",
            "-2h",
        ] {
            assert_eq!(parse_when(bad, now), None, "{bad:?}");
        }
    }

    /// A zone as Pacific/Auckland's: UTC+13 until `change`, UTC+12 from then (its end of
    /// daylight saving time, when its clock goes from 03:00 back to 02:00).
    fn auckland(change: i64) -> impl Fn(i64) -> i64 {
        move |t| if t < change { 13 * 3600 } else { 12 * 3600 }
    }

    #[test]
    fn a_clock_time_in_the_hour_a_change_repeats_is_the_latest_that_has_come() {
        // 2026-04-04T14:00:00Z: 03:00 NZDT becomes 02:00 NZST, so 02:00 to 03:00 comes twice.
        let change = parse_time("2026-04-04T14:00:00Z").unwrap() as i64 / 1000;
        let zone = auckland(change);
        let at = |s: &str| parse_time(s).unwrap();
        // 02:40 NZDT, the first time round: 02:30 NZDT has come, 02:30 NZST not yet.
        let now = at("2026-04-04T13:40:00Z");
        assert_eq!(
            parse_when_in("02:30", now, &zone),
            Some(at("2026-04-04T13:30:00Z")),
            "not yesterday's"
        );
        // 02:40 NZST, the second time round: both have come; the later one is meant.
        let now = at("2026-04-04T14:40:00Z");
        assert_eq!(
            parse_when_in("02:30", now, &zone),
            Some(at("2026-04-04T14:30:00Z"))
        );
        // Still to come in either: yesterday's; 01:30 and 03:30 come once.
        assert_eq!(
            parse_when_in("02:50", at("2026-04-04T13:40:00Z"), &zone),
            Some(at("2026-04-04T14:50:00Z") - 86_400_000 - 3_600_000)
        );
        assert_eq!(
            parse_when_in("01:30", now, &zone),
            Some(at("2026-04-04T12:30:00Z"))
        );
        assert_eq!(
            parse_when_in("03:30", at("2026-04-04T15:40:00Z"), &zone),
            Some(at("2026-04-04T15:30:00Z"))
        );
        assert_eq!(
            parse_when_in("today", now, &zone),
            Some(at("2026-04-04T11:00:00Z"))
        );
    }

    #[test]
    fn rfc3339() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00.000Z");
        // The time of the test vectors in PROTOCOL.md.
        assert_eq!(rfc3339_utc(1_764_000_000_000), "2025-11-24T16:00:00.000Z");
        assert_eq!(rfc3339_utc(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339_utc(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
    }

    #[test]
    fn names_days() {
        assert_eq!(day_name(0), "Thursday 1970-01-01");
        assert_eq!(day_name(-1), "Wednesday 1969-12-31");
        // The day of the test vectors in PROTOCOL.md, and a leap day.
        assert_eq!(day_name(1_764_000_000 / 86_400), "Monday 2025-11-24");
        assert_eq!(day_name(951_782_400 / 86_400), "Tuesday 2000-02-29");
    }

    #[test]
    fn parses_times() {
        assert_eq!(parse_time("1764000000000"), Some(1_764_000_000_000));
        assert_eq!(parse_time("2025-11-24T16:00:00Z"), Some(1_764_000_000_000));
        assert_eq!(
            parse_time("2025-11-24t17:00:00.25+01:00"),
            Some(1_764_000_000_250)
        );
        assert_eq!(
            parse_time("2025-11-24 15:30:00.1234-00:30"),
            Some(1_764_000_000_123)
        );
        assert_eq!(parse_time("2000-02-29T00:00:00.123Z"), Some(951_782_400_123));
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        for bad in [
            "",
            "yesterday",
            "2025-11-24",
            "2025-11-24T16:00:00",
            "2025-13-01T00:00:00Z",
            "2025-02-29T00:00:00Z",
            "2025-11-24T24:00:00Z",
            "2025-11-24T16:00:00.Z",
            "2025-11-24T16:00:00+0100",
            "1969-12-31T23:59:59Z",
            "-5",
            "１２",
        ] {
            assert_eq!(parse_time(bad), None, "{bad:?}");
        }
        for ms in [0, 951_782_400_123, 1_764_000_000_000, 4_102_444_799_999] {
            assert_eq!(parse_time(&rfc3339_utc(ms)), Some(ms), "round trip of {ms}");
        }
    }

    #[test]
    fn local_formats_have_fixed_width() {
        assert_eq!(local_hms(1_764_000_000_000).len(), 8);
        assert_eq!(local_datetime(1_764_000_000_000).len(), 19);
        let zoned = local_datetime_zoned(1_764_000_000_000);
        let zone = zoned.strip_prefix(&local_datetime(1_764_000_000_000));
        assert!(zone.is_some_and(|z| z.len() > 1 && z.starts_with(' ')), "{zoned}");
        assert_eq!(
            (offset_words(3600), offset_words(-19_800)),
            ("+01:00".into(), "-05:30".into())
        );
    }
}
