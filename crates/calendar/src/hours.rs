//! Opening hours as people write them: `"mon-fri 09:00-12:30 13:30-17:00, sat 10:00-14:00"`,
//! holidays (`2026-12-25`, or `--12-25` every year) and exceptions (`2026-12-24 09:00-12:00`,
//! `2026-12-31 closed`).

use std::fmt;
use std::str::FromStr;

use jiff::civil::Date;

use crate::CalendarError;

/// Minutes in a day; an interval may end at `24:00`, which is this value.
pub(crate) const MINUTES_PER_DAY: u16 = 24 * 60;

/// One opening interval of a day, in local wall-clock minutes since midnight:
/// `[start, end)`, with `end` up to 1440 (`24:00`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OpeningInterval {
    start_minute: u16,
    end_minute: u16,
}

impl OpeningInterval {
    /// An interval from `start_minute` to `end_minute` (minutes since local midnight,
    /// end exclusive, at most 1440). Refuses empty or reversed intervals.
    pub fn new(start_minute: u16, end_minute: u16) -> Result<OpeningInterval, CalendarError> {
        if end_minute > MINUTES_PER_DAY || start_minute >= end_minute {
            return Err(CalendarError::Hours(format!(
                "{}-{}: an opening interval must end after it starts, at 24:00 at the latest",
                format_minute(start_minute),
                format_minute(end_minute)
            )));
        }
        Ok(OpeningInterval {
            start_minute,
            end_minute,
        })
    }

    /// Where the interval starts, in minutes since local midnight.
    pub fn start_minute(&self) -> u16 {
        self.start_minute
    }

    /// Where the interval ends (exclusive), in minutes since local midnight; 1440 is `24:00`.
    pub fn end_minute(&self) -> u16 {
        self.end_minute
    }
}

impl fmt::Display for OpeningInterval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}-{}",
            format_minute(self.start_minute),
            format_minute(self.end_minute)
        )
    }
}

impl FromStr for OpeningInterval {
    type Err = CalendarError;

    /// Parses `HH:MM-HH:MM`; the end may be `24:00`.
    fn from_str(text: &str) -> Result<OpeningInterval, CalendarError> {
        let bad = || {
            CalendarError::Hours(format!(
                "{text:?} is not an opening interval; write it as HH:MM-HH:MM, such as 09:00-17:00 (24:00 may end a day)"
            ))
        };
        let (start, end) = text.trim().split_once('-').ok_or_else(bad)?;
        let start = parse_clock_time(start).ok_or_else(bad)?;
        let end = parse_clock_time(end).ok_or_else(bad)?;
        if start == MINUTES_PER_DAY {
            return Err(bad());
        }
        OpeningInterval::new(start, end)
    }
}

/// Parses `H:MM` or `HH:MM` (00:00 to 24:00) into minutes since midnight.
fn parse_clock_time(text: &str) -> Option<u16> {
    let (hours, minutes) = text.split_once(':')?;
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(hours) || hours.len() > 2 || !all_digits(minutes) || minutes.len() != 2 {
        return None;
    }
    let hours: u16 = hours.parse().ok()?;
    let minutes: u16 = minutes.parse().ok()?;
    let total = hours * 60 + minutes;
    (minutes < 60 && total <= MINUTES_PER_DAY).then_some(total)
}

fn format_minute(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

/// The opening intervals of one day: sorted, disjoint and not touching (overlapping or
/// adjoining intervals are joined). Empty means closed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct DayHours {
    intervals: Vec<OpeningInterval>,
}

impl DayHours {
    /// A closed day.
    pub fn closed() -> DayHours {
        DayHours::default()
    }

    /// A closed day, usable in a `static`.
    pub(crate) const fn closed_const() -> DayHours {
        DayHours {
            intervals: Vec::new(),
        }
    }

    /// The union of `intervals`, in any order, overlapping or not.
    pub fn from_intervals(intervals: impl IntoIterator<Item = OpeningInterval>) -> DayHours {
        let mut hours = DayHours::closed();
        for interval in intervals {
            hours.add(interval);
        }
        hours
    }

    /// Adds an interval, joining it with any it overlaps or touches.
    pub fn add(&mut self, interval: OpeningInterval) {
        self.intervals.push(interval);
        self.intervals.sort_unstable();
        let mut joined: Vec<OpeningInterval> = Vec::with_capacity(self.intervals.len());
        for next in self.intervals.drain(..) {
            match joined.last_mut() {
                Some(last) if next.start_minute <= last.end_minute => {
                    last.end_minute = last.end_minute.max(next.end_minute);
                }
                _ => joined.push(next),
            }
        }
        self.intervals = joined;
    }

    /// The intervals, sorted and disjoint.
    pub fn intervals(&self) -> &[OpeningInterval] {
        &self.intervals
    }

    /// Whether the day has no opening time.
    pub fn is_closed(&self) -> bool {
        self.intervals.is_empty()
    }
}

impl fmt::Display for DayHours {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.intervals.is_empty() {
            return f.write_str("closed");
        }
        for (i, interval) in self.intervals.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{interval}")?;
        }
        Ok(())
    }
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// The usual opening hours of each weekday (Monday first), in local wall-clock time.
///
/// Written as a comma-separated list of entries, each a weekday or a range of weekdays
/// followed by one or more intervals: `"mon-fri 09:00-12:30 13:30-17:00, sat 10:00-14:00"`.
/// Days not mentioned are closed. A range may wrap past Sunday (`fri-mon`). A day that is
/// mentioned twice opens at the union of its intervals. A night shift is written as two
/// intervals, `mon-fri 22:00-24:00, tue-sat 00:00-06:00`: business time runs on across
/// midnight.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct WeeklyHours {
    days: [DayHours; 7],
}

impl WeeklyHours {
    /// Hours open every day around the clock (`mon-sun 00:00-24:00`).
    pub fn always_open() -> WeeklyHours {
        let all_day = DayHours::from_intervals([OpeningInterval {
            start_minute: 0,
            end_minute: MINUTES_PER_DAY,
        }]);
        WeeklyHours {
            days: std::array::from_fn(|_| all_day.clone()),
        }
    }

    /// The hours of one weekday.
    pub fn day(&self, weekday: jiff::civil::Weekday) -> &DayHours {
        &self.days[usize::from(weekday.to_monday_zero_offset().unsigned_abs())]
    }

    /// The hours of the weekday `monday_zero` (0 = Monday … 6 = Sunday).
    pub(crate) fn by_index(&self, monday_zero: usize) -> &DayHours {
        &self.days[monday_zero % 7]
    }

    /// Whether no weekday has any opening time.
    pub fn is_never_open(&self) -> bool {
        self.days.iter().all(DayHours::is_closed)
    }
}

impl fmt::Display for WeeklyHours {
    /// Writes one entry per open weekday, in the form that [`WeeklyHours::from_str`] reads.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (name, hours) in DAY_NAMES.iter().zip(&self.days) {
            if hours.is_closed() {
                continue;
            }
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{name} {hours}")?;
        }
        Ok(())
    }
}

impl FromStr for WeeklyHours {
    type Err = CalendarError;

    fn from_str(text: &str) -> Result<WeeklyHours, CalendarError> {
        let mut week = WeeklyHours::default();
        if text.trim().is_empty() {
            return Err(CalendarError::Hours(
                "the opening hours are empty; write them such as \"mon-fri 09:00-17:00\"".into(),
            ));
        }
        for entry in text.split(',') {
            let mut words = entry.split_whitespace();
            let Some(days) = words.next() else {
                return Err(CalendarError::Hours(format!(
                    "{text:?} has an empty entry between commas"
                )));
            };
            let days = parse_day_range(days)?;
            let intervals = words
                .map(str::parse::<OpeningInterval>)
                .collect::<Result<Vec<_>, _>>()?;
            if intervals.is_empty() {
                return Err(CalendarError::Hours(format!(
                    "{:?} has no opening times; write them after the days, such as \"mon-fri 09:00-17:00\" (days left out are closed)",
                    entry.trim()
                )));
            }
            for day in days {
                for interval in &intervals {
                    week.days[day].add(*interval);
                }
            }
        }
        Ok(week)
    }
}

/// Parses `mon` or `mon-fri` (wrapping past Sunday is allowed) into Monday-zero indexes.
fn parse_day_range(text: &str) -> Result<Vec<usize>, CalendarError> {
    let day = |name: &str| {
        let name = name.to_ascii_lowercase();
        DAY_NAMES.iter().position(|d| *d == name).ok_or_else(|| {
            CalendarError::Hours(format!(
                "{text:?} is not a weekday or a range of weekdays; use mon, tue, wed, thu, fri, sat, sun, or a range such as mon-fri"
            ))
        })
    };
    match text.split_once('-') {
        None => Ok(vec![day(text)?]),
        Some((first, last)) => {
            let (first, last) = (day(first)?, day(last)?);
            let count = (last + 7 - first) % 7 + 1;
            Ok((0..count).map(|i| (first + i) % 7).collect())
        }
    }
}

/// A day off: one date, or a month and day every year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Holiday {
    /// One date, written `2026-12-25`.
    Date(Date),
    /// The same month and day every year, written `--12-25` (ISO 8601's form for a date
    /// without a year). `--02-29` is a holiday in leap years only.
    Yearly {
        /// 1 to 12.
        month: i8,
        /// 1 to 31.
        day: i8,
    },
}

impl FromStr for Holiday {
    type Err = CalendarError;

    fn from_str(text: &str) -> Result<Holiday, CalendarError> {
        let text = text.trim();
        let bad = || {
            CalendarError::Holiday(format!(
                "{text:?} is not a holiday; write a date such as 2026-12-25, or --12-25 for every 25 December"
            ))
        };
        if let Some(month_day) = text.strip_prefix("--") {
            let (month, day) = month_day.split_once('-').ok_or_else(bad)?;
            if month.len() != 2 || day.len() != 2 {
                return Err(bad());
            }
            let month: i8 = month.parse().map_err(|_| bad())?;
            let day: i8 = day.parse().map_err(|_| bad())?;
            // 2024 is a leap year, so every month-day that exists in some year is accepted.
            Date::new(2024, month, day).map_err(|_| bad())?;
            return Ok(Holiday::Yearly { month, day });
        }
        text.parse::<Date>().map(Holiday::Date).map_err(|_| bad())
    }
}

impl fmt::Display for Holiday {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Holiday::Date(date) => write!(f, "{date}"),
            Holiday::Yearly { month, day } => write!(f, "--{month:02}-{day:02}"),
        }
    }
}

/// A date with hours of its own, overriding the weekly hours and any holiday:
/// `2026-12-24 09:00-12:00` or `2026-12-31 closed`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Exception {
    /// The local date.
    pub date: Date,
    /// Its hours (closed when empty).
    pub hours: DayHours,
}

impl FromStr for Exception {
    type Err = CalendarError;

    fn from_str(text: &str) -> Result<Exception, CalendarError> {
        let bad = || {
            CalendarError::Exception(format!(
                "{text:?} is not an exception; write a date and its hours, such as \"2026-12-24 09:00-12:00\" or \"2026-12-31 closed\""
            ))
        };
        let mut words = text.split_whitespace();
        let date: Date = words.next().ok_or_else(bad)?.parse().map_err(|_| bad())?;
        let rest: Vec<&str> = words.collect();
        let hours = match rest.as_slice() {
            [] => return Err(bad()),
            ["closed"] => DayHours::closed(),
            intervals => DayHours::from_intervals(
                intervals
                    .iter()
                    .map(|i| i.parse::<OpeningInterval>())
                    .collect::<Result<Vec<_>, _>>()?,
            ),
        };
        Ok(Exception { date, hours })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn weekly_hours_read_as_people_write_them() {
        let cases = [
            ("mon-fri 09:00-17:00", "mon 09:00-17:00, tue 09:00-17:00, wed 09:00-17:00, thu 09:00-17:00, fri 09:00-17:00"),
            ("mon-fri 09:00-12:30 13:30-17:00, sat 10:00-14:00", "mon 09:00-12:30 13:30-17:00, tue 09:00-12:30 13:30-17:00, wed 09:00-12:30 13:30-17:00, thu 09:00-12:30 13:30-17:00, fri 09:00-12:30 13:30-17:00, sat 10:00-14:00"),
            ("sun 00:00-24:00", "sun 00:00-24:00"),
            ("fri-mon 8:00-9:00", "mon 08:00-09:00, fri 08:00-09:00, sat 08:00-09:00, sun 08:00-09:00"),
            // Overlapping and touching intervals join; a day mentioned twice gets the union.
            ("mon 09:00-12:00 11:00-13:00 13:00-14:00, MON 16:00-17:00", "mon 09:00-14:00 16:00-17:00"),
        ];
        for (text, expected) in cases {
            let week: WeeklyHours = text.parse().unwrap();
            assert_eq!(week.to_string(), expected, "{text}");
            assert_eq!(week.to_string().parse::<WeeklyHours>().unwrap(), week);
        }
    }

    #[test]
    fn bad_hours_are_refused_with_a_reason() {
        let cases = [
            ("", "empty"),
            ("mon-fri", "no opening times"),
            ("monday 09:00-17:00", "not a weekday"),
            ("mon 17:00-09:00", "must end after it starts"),
            ("mon 09:00-09:00", "must end after it starts"),
            ("mon 24:00-24:00", "not an opening interval"),
            ("mon 09:00-24:01", "not an opening interval"),
            ("mon 9-17", "not an opening interval"),
            ("mon 09:60-10:00", "not an opening interval"),
            ("mon 09:00-17:00,", "empty entry"),
        ];
        for (text, reason) in cases {
            let error = text.parse::<WeeklyHours>().unwrap_err().to_string();
            assert!(error.contains(reason), "{text:?}: {error}");
        }
    }

    #[test]
    fn holidays_are_dates_or_yearly_month_days() {
        assert_eq!(
            "2026-12-25".parse::<Holiday>().unwrap(),
            Holiday::Date(Date::new(2026, 12, 25).unwrap())
        );
        assert_eq!(
            "--12-25".parse::<Holiday>().unwrap(),
            Holiday::Yearly { month: 12, day: 25 }
        );
        assert_eq!("--02-29".parse::<Holiday>().unwrap().to_string(), "--02-29");
        for bad in ["--02-30", "--13-01", "12-25", "2026-02-30", "--1-1", "xmas"] {
            assert!(bad.parse::<Holiday>().is_err(), "{bad}");
        }
    }

    #[test]
    fn exceptions_are_a_date_with_hours_or_closed() {
        let short: Exception = "2026-12-24 09:00-12:00".parse().unwrap();
        assert_eq!(short.hours.to_string(), "09:00-12:00");
        let closed: Exception = "2026-12-31 closed".parse().unwrap();
        assert!(closed.hours.is_closed());
        for bad in [
            "2026-12-24",
            "2026-12-24 closed 09:00-10:00",
            "24/12 09:00-12:00",
        ] {
            assert!(bad.parse::<Exception>().is_err(), "{bad}");
        }
    }
}
