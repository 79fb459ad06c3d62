//! The text forms used by configuration and by `rapport calendar`: a calendar written as
//! strings, instants in RFC 3339, and the answers the command prints.

use jiff::tz::TimeZone;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::{Calendar, CalendarError, Exception, Holiday, Millis, WeeklyHours, MINUTE_MILLIS};

/// A calendar as people write it, in configuration or on the command line.
///
/// ```text
/// time_zone  = "Europe/Brussels"
/// hours      = "mon-fri 09:00-12:30 13:30-17:00, sat 10:00-14:00"
/// holidays   = ["2026-05-14", "--12-25"]        # a date, or --MM-DD every year
/// exceptions = ["2026-12-24 09:00-12:00", "2026-12-31 closed"]
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalendarSpec {
    /// An IANA time zone name, such as `Europe/Brussels`.
    pub time_zone: String,
    /// Weekly hours: see [`WeeklyHours`].
    pub hours: String,
    /// Holidays: `2026-12-25` (that date) or `--12-25` (every 25 December).
    #[serde(default)]
    pub holidays: Vec<String>,
    /// Exceptions: `2026-12-24 09:00-12:00` or `2026-12-31 closed`.
    #[serde(default)]
    pub exceptions: Vec<String>,
}

impl CalendarSpec {
    /// Parses every part; the first problem is reported.
    pub fn build(&self) -> Result<Calendar, CalendarError> {
        let zone = TimeZone::get(self.time_zone.trim())
            .map_err(|_| CalendarError::UnknownZone(self.time_zone.clone()))?;
        let hours: WeeklyHours = self.hours.parse()?;
        let mut calendar = Calendar::new(zone, hours);
        for holiday in &self.holidays {
            calendar = calendar.with_holiday(holiday.parse::<Holiday>()?);
        }
        for exception in &self.exceptions {
            calendar = calendar.with_exception(exception.parse::<Exception>()?);
        }
        Ok(calendar)
    }

    /// The answer of `rapport calendar add`: the earliest instant at which `minutes`
    /// business minutes have passed since `start`, as RFC 3339 in the calendar's zone.
    pub fn answer_add(&self, start: &str, minutes: u64) -> Result<String, CalendarError> {
        let calendar = self.build()?;
        let start = parse_instant(start)?;
        let business = i64::try_from(minutes)
            .ok()
            .and_then(|minutes| minutes.checked_mul(MINUTE_MILLIS))
            .ok_or(CalendarError::OutOfRange)?;
        calendar.format_instant(calendar.add(start, business)?)
    }

    /// The answer of `rapport calendar between`: the whole business minutes from `start`
    /// to `end` (negative when `end` is earlier; a part minute is dropped).
    pub fn answer_between(&self, start: &str, end: &str) -> Result<String, CalendarError> {
        let calendar = self.build()?;
        let (start, end) = (parse_instant(start)?, parse_instant(end)?);
        Ok((calendar.between(start, end) / MINUTE_MILLIS).to_string())
    }
}

/// Parses an RFC 3339 instant with its offset (`2026-11-26T16:00:00+01:00` or `…Z`) into
/// milliseconds since the epoch. Refuses a fraction finer than a millisecond, which the
/// arithmetic could not honour exactly.
pub fn parse_instant(text: &str) -> Result<Millis, CalendarError> {
    let timestamp: Timestamp = text.trim().parse().map_err(|_| {
        CalendarError::Instant(format!(
            "{text:?} is not an RFC 3339 instant; write a date, a time and an offset, such as 2026-11-26T16:00:00+01:00"
        ))
    })?;
    if timestamp.subsec_nanosecond() % 1_000_000 != 0 {
        return Err(CalendarError::Instant(format!(
            "{text:?} has a fraction of a second finer than a millisecond; calendars count whole milliseconds"
        )));
    }
    Ok(timestamp.as_millisecond())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn spec(hours: &str, holidays: &[&str]) -> CalendarSpec {
        CalendarSpec {
            time_zone: "Europe/Brussels".into(),
            hours: hours.into(),
            holidays: holidays.iter().map(|h| h.to_string()).collect(),
            exceptions: vec![],
        }
    }

    /// The outputs that outside scripts rely on, byte for byte.
    #[test]
    fn the_command_answers_are_exactly_as_documented() {
        let office = spec("mon-fri 09:00-17:00", &["2026-12-25"]);
        let cases = [
            // The time has passed at closing, not at the next opening.
            ("2026-11-26T16:00:00+01:00", 60, "2026-11-26T17:00:00+01:00"),
            ("2026-11-26T15:00:00Z", 60, "2026-11-26T17:00:00+01:00"),
            ("2026-11-26T16:00:00+01:00", 61, "2026-11-27T09:01:00+01:00"),
            // Zero minutes is the start itself, even when closed.
            ("2026-11-28T03:00:00+01:00", 0, "2026-11-28T03:00:00+01:00"),
            // From a closed instant the count starts at the next opening.
            ("2026-11-28T03:00:00+01:00", 30, "2026-11-30T09:30:00+01:00"),
            // The holiday is skipped; the answer is in the zone's offset of its own date.
            ("2026-12-24T16:30:00+01:00", 60, "2026-12-28T09:30:00+01:00"),
            ("2026-10-23T16:30:00+02:00", 60, "2026-10-26T09:30:00+01:00"),
        ];
        for (start, minutes, expected) in cases {
            assert_eq!(
                office.answer_add(start, minutes).unwrap(),
                expected,
                "{start} + {minutes}"
            );
        }
        let between = [
            (
                "2026-11-26T16:00:00+01:00",
                "2026-11-27T09:30:00+01:00",
                "90",
            ),
            (
                "2026-11-27T09:30:00+01:00",
                "2026-11-26T16:00:00+01:00",
                "-90",
            ),
            (
                "2026-11-26T16:00:00+01:00",
                "2026-11-26T16:00:59+01:00",
                "0",
            ),
            (
                "2026-12-21T00:00:00+01:00",
                "2026-12-28T00:00:00+01:00",
                "1920",
            ),
        ];
        for (start, end, expected) in between {
            assert_eq!(office.answer_between(start, end).unwrap(), expected);
        }
    }

    #[test]
    fn bad_command_input_is_explained() {
        let office = spec("mon-fri 09:00-17:00", &[]);
        let cases = [
            (office.answer_add("2026-11-26T16:00:00", 1), "RFC 3339"),
            (
                office.answer_add("2026-11-26T16:00:00.0000001Z", 1),
                "finer than a millisecond",
            ),
            (
                CalendarSpec {
                    time_zone: "Europe/Brusels".into(),
                    ..office.clone()
                }
                .answer_add("2026-11-26T16:00:00Z", 1),
                "time zone \"Europe/Brusels\" is not known",
            ),
            (
                spec("mon-fri 09:00-17:00", &["25/12"]).answer_add("2026-11-26T16:00:00Z", 1),
                "not a holiday",
            ),
            (
                office.answer_add("2026-11-26T16:00:00Z", u64::MAX),
                "outside the supported years",
            ),
        ];
        for (answer, reason) in cases {
            let error = answer.unwrap_err().to_string();
            assert!(error.contains(reason), "{error}");
        }
    }
}
