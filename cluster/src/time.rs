//! The one date format of the project: RFC 3339 in UTC to the millisecond
//! (`2026-12-01T06:50:01.123Z`), written by the ha agent and by the host alike, so stamps
//! from both sides order against each other.
use std::time::SystemTime;

/// `2026-12-01T06:50:01.123Z`.
pub fn rfc3339(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

/// `06:50:01.123` (UTC): enough where a header already gives the date.
pub fn time_of_day(at: SystemTime) -> String {
    // Fixed width: `YYYY-MM-DDT` before, `Z` after.
    rfc3339(at)[11..23].to_string()
}

/// Reads an RFC 3339 time in UTC (`Z`), with any number of fraction digits.
pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339(text).ok()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn at(secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(secs * 1000 + millis)
    }

    #[test]
    fn formats_utc_to_the_millisecond() {
        assert_eq!(rfc3339(at(0, 0)), "1970-01-01T00:00:00.000Z");
        // A leap day.
        assert_eq!(rfc3339(at(1_709_214_330, 250)), "2024-02-29T13:45:30.250Z");
        assert_eq!(time_of_day(at(1_709_214_330, 250)), "13:45:30.250");
        // Below a millisecond is cut, never rounded up into the next second.
        let late = at(1_767_225_599, 999) + Duration::from_micros(900);
        assert_eq!(rfc3339(late), "2025-12-31T23:59:59.999Z");
    }

    #[test]
    fn parses_what_it_formats() {
        let t = at(1_709_214_330, 250);
        assert_eq!(parse_rfc3339(&rfc3339(t)), Some(t));
        assert_eq!(
            parse_rfc3339("2024-02-29T13:45:30Z"),
            Some(at(1_709_214_330, 0))
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T13:45:30.250123Z"),
            Some(t + Duration::from_nanos(123_000))
        );
    }

    #[test]
    fn rejects_what_is_not_a_utc_timestamp() {
        for bad in [
            "",
            "member-join",
            "2024-02-29",
            "2024-02-29T13:45:30",
            "2024-13-01T00:00:00Z",
            "2024-02-29T15:45:30+02:00",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }
}
