//! Business calendars: when is the team open, and how much business time lies between two
//! instants?
//!
//! A [`Calendar`] is weekly opening hours ([`WeeklyHours`], several intervals a day) in an
//! IANA time zone, with holidays ([`Holiday`]: single dates or every year) and exceptions
//! ([`Exception`]: a date with hours of its own, or closed). The arithmetic works on
//! instants in milliseconds since the Unix epoch (UTC), like the rest of Rapport:
//! [`Calendar::add`], [`Calendar::between`], [`Calendar::next_opening`] and
//! [`Calendar::is_open`].
//!
//! # What "open" means
//!
//! An instant is open when its local wall-clock time falls in an opening interval of its
//! local date. Precedence for a date: an exception, else a holiday (closed), else the
//! weekly hours. So across daylight-saving changes:
//!
//! - Business time is real elapsed time. On the night clocks spring forward, a 24-hour day
//!   has 23 business hours; on the night they fall back, it has 25. `09:00-17:00` is
//!   always 8 hours unless a change happens inside it.
//! - Wall-clock times that do not exist (the skipped hour) are never open; wall-clock
//!   times that happen twice (the repeated hour) are open both times.
//! - Intervals ending at `24:00` join the next day's `00:00` intervals, so business time
//!   runs on across midnight.
//!
//! ```
//! use calendar::Calendar;
//! let brussels = Calendar::from_spec(&calendar::CalendarSpec {
//!     time_zone: "Europe/Brussels".into(),
//!     hours: "mon-fri 09:00-17:00".into(),
//!     holidays: vec!["--12-25".into()],
//!     exceptions: vec![],
//! })?;
//! let start = calendar::parse_instant("2026-11-26T16:00:00+01:00")?;
//! let done = brussels.add(start, 60 * 60_000)?;
//! // 60 business minutes from 16:00 end at closing time, not at the next opening.
//! assert_eq!(brussels.format_instant(done)?, "2026-11-26T17:00:00+01:00");
//! // Friday 16:30 plus an hour is Monday 09:30.
//! let friday = calendar::parse_instant("2026-11-27T16:30:00+01:00")?;
//! let monday = brussels.add(friday, 60 * 60_000)?;
//! assert_eq!(brussels.format_instant(monday)?, "2026-11-30T09:30:00+01:00");
//! assert_eq!(brussels.between(friday, monday), 60 * 60_000);
//! # Ok::<(), calendar::CalendarError>(())
//! ```
//!
//! # Speed
//!
//! Without an index, arithmetic walks the calendar day by day, converting through the time
//! zone. [`Calendar::with_index`] precomputes the open spans of a period (a few thousand
//! entries for ten years) so that `add` and `between` inside it are two binary searches.
//! Both paths give the same answers; a property test checks it.

mod cli;
mod hours;
mod spans;

use std::collections::{BTreeMap, BTreeSet};

use jiff::civil::Date;
use jiff::tz::TimeZone;
use jiff::Timestamp;

pub use cli::{parse_instant, CalendarSpec};
pub use hours::{DayHours, Exception, Holiday, OpeningInterval, WeeklyHours};

use spans::{SpanCursor, SpanIndex};

/// Instants: whole milliseconds since the Unix epoch, in UTC (as `domain::Millis`).
pub type Millis = i64;

/// One minute in milliseconds.
pub const MINUTE_MILLIS: Millis = 60_000;

/// One day in milliseconds (of UTC or of a fixed offset; local days may be 23 or 25 hours).
pub(crate) const DAY_MILLIS: Millis = 86_400_000;

/// How many days in a row a calendar may be closed before [`Calendar::add`] and
/// [`Calendar::next_opening`] give up with [`CalendarError::NeverOpens`] (about 11 years).
pub const MAX_CLOSED_DAYS: u32 = 4_000;

/// A calendar that cannot be built, or a question it cannot answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalendarError {
    /// Opening hours that do not parse or make no sense.
    #[error("{0}")]
    Hours(String),
    /// A holiday that does not parse.
    #[error("{0}")]
    Holiday(String),
    /// An exception that does not parse.
    #[error("{0}")]
    Exception(String),
    /// A time zone name the zone database does not know.
    #[error("time zone {0:?} is not known; use an IANA name such as Europe/Brussels or America/New_York")]
    UnknownZone(String),
    /// An instant that does not parse.
    #[error("{0}")]
    Instant(String),
    /// The calendar has no opening time for [`MAX_CLOSED_DAYS`] days from an instant.
    #[error("the calendar has no opening hours in the {MAX_CLOSED_DAYS} days after {after}; check its hours, holidays and exceptions")]
    NeverOpens {
        /// The instant searched from, as RFC 3339 in UTC.
        after: String,
    },
    /// A negative business duration was asked for.
    #[error("a business duration cannot be negative (got {0} ms)")]
    NegativeDuration(Millis),
    /// The answer would lie outside the years -9999 to 9999.
    #[error("the answer lies outside the supported years (-9999 to 9999)")]
    OutOfRange,
}

/// Weekly opening hours in a time zone, with holidays and exceptions. See the crate
/// documentation for what "open" means across midnight and daylight-saving changes.
#[derive(Debug, Clone)]
pub struct Calendar {
    zone: TimeZone,
    weekly: WeeklyHours,
    /// Single-date holidays, as local days since 1970-01-01.
    holidays: BTreeSet<i64>,
    /// Yearly holidays: bit `d` of `yearly[m]` is set for month `m`, day `d`.
    yearly: [u32; 13],
    /// Exceptions, by local day since 1970-01-01.
    exceptions: BTreeMap<i64, DayHours>,
    index: Option<SpanIndex>,
}

impl Calendar {
    /// A calendar with `weekly` hours in `zone`, no holidays and no exceptions.
    pub fn new(zone: TimeZone, weekly: WeeklyHours) -> Calendar {
        Calendar {
            zone,
            weekly,
            holidays: BTreeSet::new(),
            yearly: [0; 13],
            exceptions: BTreeMap::new(),
            index: None,
        }
    }

    /// Builds a calendar from its text form (time zone name, hours, holidays, exceptions).
    pub fn from_spec(spec: &CalendarSpec) -> Result<Calendar, CalendarError> {
        spec.build()
    }

    /// Adds a holiday (closed all day unless an exception gives the date hours).
    /// Drops any index: call [`Calendar::with_index`] last.
    pub fn with_holiday(mut self, holiday: Holiday) -> Calendar {
        match holiday {
            Holiday::Date(date) => {
                self.holidays.insert(days_from_date(date));
            }
            Holiday::Yearly { month, day } => {
                if let (Ok(month), Ok(day)) = (usize::try_from(month), u32::try_from(day)) {
                    if let Some(mask) = self.yearly.get_mut(month) {
                        *mask |= 1 << (day & 31);
                    }
                }
            }
        }
        self.index = None;
        self
    }

    /// Gives a date hours of its own (or closes it), overriding the weekly hours and any
    /// holiday. A later exception for the same date replaces an earlier one. Drops any
    /// index: call [`Calendar::with_index`] last.
    pub fn with_exception(mut self, exception: Exception) -> Calendar {
        self.exceptions
            .insert(days_from_date(exception.date), exception.hours);
        self.index = None;
        self
    }

    /// Precomputes the open spans between `from` and `to`, so that arithmetic inside that
    /// period is a binary search instead of a walk through the days. Answers are the same
    /// with or without it. Ten years of office hours take about 100 KB.
    pub fn with_index(mut self, from: Millis, to: Millis) -> Calendar {
        self.index = SpanIndex::build(&self, from, to);
        self
    }

    /// The calendar's time zone.
    pub fn zone(&self) -> &TimeZone {
        &self.zone
    }

    /// The local day (days since 1970-01-01 on the calendar's wall clock) of an instant.
    ///
    /// ```
    /// # use calendar::{Calendar, WeeklyHours};
    /// let brussels = jiff::tz::TimeZone::get("Europe/Brussels").unwrap();
    /// let calendar = Calendar::new(brussels, WeeklyHours::always_open());
    /// // 2026-03-28T23:30:00Z is 00:30 on 29 March in Brussels (UTC+1 that night).
    /// let instant = calendar::parse_instant("2026-03-28T23:30:00Z").unwrap();
    /// assert_eq!(calendar.local_day(instant), calendar.local_day(instant - 23 * 3_600_000) + 1);
    /// ```
    pub fn local_day(&self, instant: Millis) -> i64 {
        let offset = Timestamp::from_millisecond(instant)
            .map(|t| self.zone.to_offset(t).seconds())
            .unwrap_or(0);
        (instant + i64::from(offset) * 1000).div_euclid(DAY_MILLIS)
    }

    /// The first instant of a local day (days since 1970-01-01): its midnight, or the first
    /// instant after midnight when a daylight-saving change skips it. A day outside the
    /// supported years starts as a UTC day would.
    pub fn local_day_start(&self, day: i64) -> Millis {
        let (year, month, day_of_month) = civil_from_days(day);
        i16::try_from(year)
            .ok()
            .and_then(|year| Date::new(year, month as i8, day_of_month as i8).ok())
            .and_then(|date| date.to_zoned(self.zone.clone()).ok())
            .and_then(|zoned| zoned.start_of_day().ok())
            .map(|start| start.timestamp().as_millisecond())
            .unwrap_or(day * DAY_MILLIS)
    }

    /// The usual weekly hours.
    pub fn weekly_hours(&self) -> &WeeklyHours {
        &self.weekly
    }

    /// The hours of a local date, after holidays and exceptions.
    pub fn hours_on(&self, date: Date) -> &DayHours {
        self.hours_on_day(days_from_date(date))
    }

    /// The hours of a local day (days since 1970-01-01).
    pub(crate) fn hours_on_day(&self, day: i64) -> &DayHours {
        static CLOSED: DayHours = DayHours::closed_const();
        if let Some(hours) = self.exceptions.get(&day) {
            return hours;
        }
        if self.holidays.contains(&day) || self.is_yearly_holiday(day) {
            return &CLOSED;
        }
        // 1970-01-01 was a Thursday, which is 3 counted from Monday.
        let monday_zero = (day + 3).rem_euclid(7);
        self.weekly
            .by_index(usize::try_from(monday_zero).unwrap_or_default())
    }

    fn is_yearly_holiday(&self, day: i64) -> bool {
        if self.yearly.iter().all(|mask| *mask == 0) {
            return false;
        }
        let (_, month, day_of_month) = civil_from_days(day);
        self.yearly[usize::from(month)] & (1 << day_of_month) != 0
    }

    /// Whether the calendar is open at `instant`.
    pub fn is_open(&self, instant: Millis) -> bool {
        matches!(self.spans(instant, instant.saturating_add(1)).next(), Some((start, _)) if start == instant)
    }

    /// The first instant at or after `instant` at which the calendar is open (`instant`
    /// itself when it is open then).
    pub fn next_opening(&self, instant: Millis) -> Result<Millis, CalendarError> {
        if let Some(index) = &self.index {
            if let Some(opening) = index.next_opening(instant) {
                return Ok(opening);
            }
        }
        match self.spans(instant, Millis::MAX).next() {
            Some((start, _)) => Ok(start),
            None => Err(self.never_opens(instant)),
        }
    }

    /// The earliest instant at which `business` milliseconds of open time have passed
    /// since `start`.
    ///
    /// - 60 minutes from 16:00 on a day that closes at 17:00 is 17:00 that day, not the
    ///   next opening: the time has passed at closing.
    /// - Adding zero returns `start`, open or not: no time needs to pass. (Ask
    ///   [`Calendar::next_opening`] for when work can start.)
    /// - From a closed instant, the count starts at the next opening.
    ///
    /// For any `start` and `business >= 0`: `between(start, add(start, business)) ==
    /// business`, and `add` never decreases when `start` or `business` grows.
    pub fn add(&self, start: Millis, business: Millis) -> Result<Millis, CalendarError> {
        if business < 0 {
            return Err(CalendarError::NegativeDuration(business));
        }
        if business == 0 {
            return Ok(start);
        }
        if let Some(index) = &self.index {
            if let Some(answer) = index.add(start, business) {
                return match answer {
                    spans::IndexedAdd::Done(end) => Ok(end),
                    // Past the index, walk on; a calendar that never opens again is reported
                    // from `start`, as without the index.
                    spans::IndexedAdd::Beyond { from, remaining } => {
                        self.add_by_walking(from, remaining).map_err(|e| match e {
                            CalendarError::NeverOpens { .. } => self.never_opens(start),
                            other => other,
                        })
                    }
                };
            }
        }
        self.add_by_walking(start, business)
    }

    fn add_by_walking(&self, start: Millis, business: Millis) -> Result<Millis, CalendarError> {
        let mut remaining = business;
        for (span_start, span_end) in self.spans(start, Millis::MAX) {
            let length = span_end - span_start;
            if remaining <= length {
                return Ok(span_start + remaining);
            }
            remaining -= length;
        }
        Err(self.never_opens(start))
    }

    /// The business time, in milliseconds, from `start` to `end`: how much of `[start,
    /// end)` the calendar is open. Negative when `end` is before `start`
    /// (`between(a, b) == -between(b, a)`), and additive: `between(a, b) + between(b, c)
    /// == between(a, c)`.
    pub fn between(&self, start: Millis, end: Millis) -> Millis {
        if end < start {
            return -self.between(end, start);
        }
        let Some(index) = &self.index else {
            return self.between_by_walking(start, end);
        };
        let (covered_from, covered_to) = index.covers();
        let mut total = 0;
        if start < covered_from {
            total += self.between_by_walking(start, end.min(covered_from));
        }
        let (inside_from, inside_to) = (start.max(covered_from), end.min(covered_to));
        if inside_from < inside_to {
            total += index.between(inside_from, inside_to);
        }
        if end > covered_to {
            total += self.between_by_walking(start.max(covered_to), end);
        }
        total
    }

    fn between_by_walking(&self, start: Millis, end: Millis) -> Millis {
        self.spans(start, end)
            .map(|(span_start, span_end)| span_end.min(end) - span_start)
            .filter(|length| *length > 0)
            .sum()
    }

    /// The open spans `[start, end)` from `from` on, in order, clipped to start at `from`;
    /// the walk stops at `until`, or after [`MAX_CLOSED_DAYS`] closed days in a row when
    /// `until` is `Millis::MAX`.
    pub(crate) fn spans(&self, from: Millis, until: Millis) -> SpanCursor<'_> {
        SpanCursor::new(self, from, until)
    }

    /// Formats an instant as RFC 3339 with the calendar zone's offset at that instant,
    /// such as `2026-11-26T17:00:00+01:00`.
    pub fn format_instant(&self, instant: Millis) -> Result<String, CalendarError> {
        let timestamp =
            Timestamp::from_millisecond(instant).map_err(|_| CalendarError::OutOfRange)?;
        let offset = self.zone.to_offset(timestamp);
        Ok(timestamp.display_with_offset(offset).to_string())
    }

    fn never_opens(&self, after: Millis) -> CalendarError {
        let after = Timestamp::from_millisecond(after)
            .map(|t| t.to_string())
            .unwrap_or_else(|_| after.to_string());
        CalendarError::NeverOpens { after }
    }
}

/// Local days since 1970-01-01 of a civil date.
fn days_from_date(date: Date) -> i64 {
    days_from_civil(
        i64::from(date.year()),
        i64::from(date.month()),
        i64::from(date.day()),
    )
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub(crate) fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The (year, month, day) of a day count since 1970-01-01 (Howard Hinnant's algorithm).
pub(crate) fn civil_from_days(days: i64) -> (i64, u8, u8) {
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
    // Both fit: month is 1..=12 and day 1..=31 by construction.
    (year, month as u8, day as u8)
}

#[cfg(test)]
mod tests;
