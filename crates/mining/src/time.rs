//! Timestamps: ISO 8601 text to milliseconds since the epoch (UTC), and back.
//!
//! XES dates are almost always `YYYY-MM-DDTHH:MM:SS(.fff)?(Z|±HH:MM)`. A hand-written parser
//! reads that shape in a few nanoseconds; anything else goes to jiff, which knows the rest of
//! RFC 3339 and ISO 8601. A date and time without an offset is read as UTC.

/// Parses an ISO 8601 / RFC 3339 timestamp to milliseconds since the epoch (UTC).
/// Fractions finer than a millisecond are truncated.
///
/// ```
/// assert_eq!(mining::parse_timestamp_millis("1970-01-01T01:00:00+01:00"), Some(0));
/// assert_eq!(mining::parse_timestamp_millis("1970-01-01 00:00:01.5"), Some(1500));
/// ```
pub fn parse_timestamp_millis(text: &str) -> Option<i64> {
    fast_path(text.as_bytes()).or_else(|| slow_path(text))
}

/// Formats milliseconds since the epoch as `YYYY-MM-DDTHH:MM:SS.fff+00:00`, the form ProM,
/// Disco and pm4py all read.
pub fn format_timestamp_millis(millis: i64) -> String {
    let days = millis.div_euclid(86_400_000);
    let in_day = millis.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}+00:00",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

fn digits(bytes: &[u8]) -> Option<i64> {
    let mut value = 0i64;
    for &byte in bytes {
        if !byte.is_ascii_digit() {
            return None;
        }
        value = value * 10 + i64::from(byte - b'0');
    }
    Some(value)
}

fn fast_path(bytes: &[u8]) -> Option<i64> {
    if bytes.len() < 19
        || bytes[4] != b'-'
        || bytes[7] != b'-'
        || !(bytes[10] == b'T' || bytes[10] == b' ')
        || bytes[13] != b':'
        || bytes[16] != b':'
    {
        return None;
    }
    let year = digits(&bytes[0..4])?;
    let month = digits(&bytes[5..7])?;
    let day = digits(&bytes[8..10])?;
    let hour = digits(&bytes[11..13])?;
    let minute = digits(&bytes[14..16])?;
    let second = digits(&bytes[17..19])?;
    if !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let mut rest = &bytes[19..];
    let mut millis = 0i64;
    if let Some((b'.', fraction)) = rest.split_first() {
        let length = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if length == 0 {
            return None;
        }
        let mut scale = 100;
        for &digit in &fraction[..length.min(3)] {
            millis += i64::from(digit - b'0') * scale;
            scale /= 10;
        }
        rest = &fraction[length..];
    }
    let offset_minutes = match rest {
        [] | [b'Z'] | [b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] | [sign @ (b'+' | b'-'), h1, h2, m1, m2] => {
            let hours = digits(&[*h1, *h2])?;
            let minutes = digits(&[*m1, *m2])?;
            if hours > 23 || minutes > 59 {
                return None;
            }
            let total = hours * 60 + minutes;
            if *sign == b'-' {
                -total
            } else {
                total
            }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    Some(
        ((days * 86_400 + hour * 3600 + minute * 60 + second) - offset_minutes * 60) * 1000
            + millis,
    )
}

fn slow_path(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(timestamp) = text.parse::<jiff::Timestamp>() {
        return Some(timestamp.as_millisecond());
    }
    if let Ok(zoned) = text.parse::<jiff::Zoned>() {
        return Some(zoned.timestamp().as_millisecond());
    }
    let civil = text.parse::<jiff::civil::DateTime>().ok()?;
    Some(
        civil
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()?
            .timestamp()
            .as_millisecond(),
    )
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day count since 1970-01-01 (inverse of `days_from_civil`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn timestamps_in_the_usual_xes_shapes_are_read_as_utc_milliseconds() {
        let cases = [
            ("2010-03-31T16:59:42+02:00", 1_270_047_582_000),
            ("2010-03-31T14:59:42Z", 1_270_047_582_000),
            ("2010-03-31T14:59:42.123Z", 1_270_047_582_123),
            ("2010-03-31T14:59:42.1239+00:00", 1_270_047_582_123),
            ("2010-03-31T09:59:42.5-05:00", 1_270_047_582_500),
            ("2010-03-31 14:59:42", 1_270_047_582_000),
            ("1969-12-31T23:59:59.999Z", -1),
            ("2012-02-29T00:00:00Z", 1_330_473_600_000),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_timestamp_millis(text), Some(expected), "{text}");
        }
    }

    #[test]
    fn shapes_the_fast_path_does_not_know_go_to_jiff() {
        // Offset with seconds precision and a named zone are jiff's.
        assert_eq!(
            parse_timestamp_millis("2010-03-31T16:59:42+02:00[Europe/Brussels]"),
            Some(1_270_047_582_000)
        );
        assert_eq!(
            parse_timestamp_millis("2010-03-31T14:59"),
            Some(1_270_047_540_000)
        );
    }

    #[test]
    fn impossible_dates_are_refused() {
        for text in [
            "2011-02-29T00:00:00Z",
            "2010-13-01T00:00:00Z",
            "yesterday",
            "",
        ] {
            assert_eq!(parse_timestamp_millis(text), None, "{text}");
        }
    }

    proptest! {
        #[test]
        fn the_fast_path_agrees_with_jiff(millis in -2_000_000_000_000i64..4_000_000_000_000i64) {
            let text = format_timestamp_millis(millis);
            prop_assert_eq!(fast_path(text.as_bytes()), Some(millis));
            prop_assert_eq!(slow_path(&text), Some(millis));
        }
    }
}
