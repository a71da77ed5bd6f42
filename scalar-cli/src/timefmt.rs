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

/// A broken-down civil time.
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    min: u32,
    sec: u32,
}

/// Converts days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
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

fn civil(secs: i64) -> Civil {
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

/// Local clock time, `HH:MM:SS`.
pub fn local_hms(ms: u64) -> String {
    let c = local(ms);
    format!("{:02}:{:02}:{:02}", c.hour, c.min, c.sec)
}

/// Local date and time, `YYYY-MM-DD HH:MM:SS`.
pub fn local_datetime(ms: u64) -> String {
    let c = local(ms);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.min, c.sec
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00.000Z");
        // The time of the test vectors in PROTOCOL.md.
        assert_eq!(rfc3339_utc(1_764_000_000_000), "2025-11-24T16:00:00.000Z");
        assert_eq!(rfc3339_utc(951_782_400_123), "2000-02-29T00:00:00.123Z");
        assert_eq!(rfc3339_utc(4_102_444_799_999), "2099-12-31T23:59:59.999Z");
    }

    #[test]
    fn local_formats_have_fixed_width() {
        assert_eq!(local_hms(1_764_000_000_000).len(), 8);
        assert_eq!(local_datetime(1_764_000_000_000).len(), 19);
    }
}
