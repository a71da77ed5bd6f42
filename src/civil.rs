//! Civil (calendar) time from Unix time: no date crate, the arithmetic is a few lines. For
//! scalard's log lines and scalar-cli's times.

/// A wait in whole seconds, rounded up, as words for people say it (`wait 6 s`): never less
/// than the wait a number beside it (`retry_after`, in ms rounded up) says.
pub fn ceil_secs(wait: std::time::Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// A broken-down civil time.
pub struct Civil {
    /// The year (proleptic Gregorian).
    pub year: i64,
    /// 1 to 12.
    pub month: u32,
    /// 1 to 31.
    pub day: u32,
    /// 0 to 23.
    pub hour: u32,
    /// 0 to 59.
    pub min: u32,
    /// 0 to 59.
    pub sec: u32,
}

/// Converts days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// The civil time `secs` seconds after the Unix epoch, in UTC (or, given seconds shifted by
/// an offset, in that zone).
pub fn civil(secs: i64) -> Civil {
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400) as u32;
    Civil {
        year,
        month,
        day,
        hour: rem / 3600,
        min: rem / 60 % 60,
        sec: rem % 60,
    }
}

/// A time for people, in UTC to the second: `2025-11-24 16:00:05 UTC` (a reason's words: the
/// reader may be anywhere).
pub fn utc_words(ms: u64) -> String {
    let c = civil(i64::try_from(ms / 1000).unwrap_or(i64::MAX / 2));
    let (y, mo, d, h, mi, s) = (c.year, c.month, c.day, c.hour, c.min, c.sec);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} UTC")
}

/// A UTC time to the second for a file's name, sorting as it reads: `2025-11-24-160005`.
pub fn file_stamp(ms: u64) -> String {
    let c = civil(i64::try_from(ms / 1000).unwrap_or(i64::MAX / 2));
    let (y, mo, d, h, mi, s) = (c.year, c.month, c.day, c.hour, c.min, c.sec);
    format!("{y:04}-{mo:02}-{d:02}-{h:02}{mi:02}{s:02}")
}

/// RFC 3339 in UTC with milliseconds: `2025-11-24T16:00:00.000Z`.
pub fn rfc3339_utc(ms: u64) -> String {
    let secs = i64::try_from(ms / 1000).unwrap_or(i64::MAX / 2);
    let c = civil(secs);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        c.year,
        c.month,
        c.day,
        c.hour,
        c.min,
        c.sec,
        ms % 1000
    )
}
