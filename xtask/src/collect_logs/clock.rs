//! UTC timestamps for the evidence: formatting step times and reading the RFC 3339 times
//! ha's agent writes to /var/log/serf.log. Hand-rolled so xtask needs no date crate.
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const DAY_S: i64 = 86_400;

/// `2024-05-01T12:00:01.123Z`
pub(crate) fn rfc3339(at: SystemTime) -> String {
    let (secs, millis) = unix_parts(at);
    let (y, m, d) = civil_from_days(secs.div_euclid(DAY_S));
    format!("{y:04}-{m:02}-{d:02}T{}.{millis:03}Z", hms(secs))
}

/// `12:00:01.123` (UTC): enough inside one task's README, whose header gives the date.
pub(crate) fn time_of_day(at: SystemTime) -> String {
    let (secs, millis) = unix_parts(at);
    format!("{}.{millis:03}", hms(secs))
}

/// Reads `YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)`; a space may replace the `T`.
pub(crate) fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = text.get(range)?;
        digits
            .bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || !matches!(b[10], b'T' | b't' | b' ')
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month)
        || !(1..=31).contains(&day)
        || hour > 23
        || minute > 59
        || second > 60
    {
        return None;
    }
    let mut rest = &text[19..];
    let mut nanos = 0u32;
    if let Some(fraction) = rest.strip_prefix('.') {
        let len = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if len == 0 {
            return None;
        }
        let digits = &fraction[..len.min(9)];
        nanos = digits.parse::<u32>().ok()? * 10u32.pow(9 - digits.len() as u32);
        rest = &fraction[len..];
    }
    let at = text.len() - rest.len();
    let offset_s = match rest.as_bytes() {
        [b'Z' | b'z'] => 0,
        [sign, _, _, b':', _, _] if matches!(sign, b'+' | b'-') => {
            let seconds = (num(at + 1..at + 3)? * 60 + num(at + 4..at + 6)?) * 60;
            if *sign == b'+' {
                seconds
            } else {
                -seconds
            }
        }
        _ => return None,
    };
    let secs =
        days_from_civil(year, month, day) * DAY_S + hour * 3600 + minute * 60 + second - offset_s;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

fn unix_parts(at: SystemTime) -> (i64, u32) {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    (since.as_secs() as i64, since.subsec_millis())
}

fn hms(secs: i64) -> String {
    let s = secs.rem_euclid(DAY_S);
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (
        if m <= 2 {
            yoe + era * 400 + 1
        } else {
            yoe + era * 400
        },
        m,
        d,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, millis: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, millis * 1_000_000)
    }

    #[test]
    fn formats_utc() {
        assert_eq!(rfc3339(at(0, 0)), "1970-01-01T00:00:00.000Z");
        // 2024-02-29 (a leap day) 13:45:30.250 UTC
        assert_eq!(rfc3339(at(1_709_214_330, 250)), "2024-02-29T13:45:30.250Z");
        assert_eq!(time_of_day(at(1_709_214_330, 250)), "13:45:30.250");
    }

    #[test]
    fn parses_what_it_formats_and_common_variants() {
        let t = at(1_709_214_330, 250);
        assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        assert_eq!(
            parse_rfc3339("2024-02-29T13:45:30Z"),
            Some(at(1_709_214_330, 0))
        );
        assert_eq!(parse_rfc3339("2024-02-29T15:45:30.25+02:00"), Some(t));
        assert_eq!(parse_rfc3339("2024-02-29 13:45:30.250000000Z"), Some(t));
        assert_eq!(
            parse_rfc3339("2024-02-29T13:45:30.250123456789Z"),
            Some(at(1_709_214_330, 250) + Duration::from_nanos(123_456))
        );
    }

    #[test]
    fn rejects_what_is_not_a_timestamp() {
        for bad in [
            "",
            "member-join",
            "2024-02-29",
            "2024-02-29T13:45:30",
            "2024-13-01T00:00:00Z",
            "2024-02-29T13:45:30.Z",
            "2024-02-29T13:45:30+0200",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
