//! Open spans: the calendar as a sequence of `[start, end)` instants, computed exactly
//! through the time zone, and an index of them for a period.

use jiff::Timestamp;

use crate::{Calendar, Millis, DAY_MILLIS, MAX_CLOSED_DAYS, MINUTE_MILLIS};

/// The last instant jiff can represent, in milliseconds: the walk's end of time.
fn end_of_time() -> Millis {
    Timestamp::MAX.as_millisecond()
}

/// Walks the open spans of a calendar from an instant on.
///
/// Why segments: between two transitions of the zone the UTC offset is constant, so wall
/// time is UTC plus that offset and each local day's intervals map to instants by one
/// subtraction. Walking segment by segment, and within a segment day by day, gives the
/// exact rule of the crate documentation: an instant is open when its wall-clock time lies
/// in an interval of its wall-clock date, even on days that repeat or skip an hour (or,
/// as in Santiago, repeat the hour before midnight).
pub(crate) struct SpanCursor<'c> {
    calendar: &'c Calendar,
    /// Spans are clipped to `[segment_start, segment_end)`.
    segment_start: Millis,
    segment_end: Millis,
    /// The offset from UTC in this segment, in milliseconds.
    offset: Millis,
    /// The local day (days since 1970-01-01) being read, and the next interval in it.
    day: i64,
    interval: usize,
    /// Stop once a day starts at or after this instant.
    until: Millis,
    /// Days without any open span since the last span (only counted when `until` is open-ended).
    closed_days: u32,
    finished: bool,
}

impl<'c> SpanCursor<'c> {
    pub(crate) fn new(calendar: &'c Calendar, from: Millis, until: Millis) -> SpanCursor<'c> {
        let mut cursor = SpanCursor {
            calendar,
            segment_start: from,
            segment_end: from,
            offset: 0,
            day: 0,
            interval: 0,
            until,
            closed_days: 0,
            finished: from >= until,
        };
        if !cursor.finished {
            cursor.enter_segment(from);
        }
        cursor
    }

    fn enter_segment(&mut self, start: Millis) {
        let Ok(timestamp) = Timestamp::from_millisecond(start) else {
            self.finished = true;
            return;
        };
        let zone = &self.calendar.zone;
        self.offset = Millis::from(zone.to_offset(timestamp).seconds()) * 1_000;
        self.segment_start = start;
        self.segment_end = zone
            .following(timestamp)
            .map(|transition| transition.timestamp().as_millisecond())
            .find(|at| *at > start)
            .unwrap_or_else(end_of_time);
        self.day = (start + self.offset).div_euclid(DAY_MILLIS);
        self.interval = 0;
    }
}

impl Iterator for SpanCursor<'_> {
    type Item = (Millis, Millis);

    fn next(&mut self) -> Option<(Millis, Millis)> {
        while !self.finished {
            let day_start = self.day * DAY_MILLIS - self.offset;
            let intervals = self.calendar.hours_on_day(self.day).intervals();
            while let Some(interval) = intervals.get(self.interval) {
                self.interval += 1;
                let start = day_start + Millis::from(interval.start_minute()) * MINUTE_MILLIS;
                let end = day_start + Millis::from(interval.end_minute()) * MINUTE_MILLIS;
                let (start, end) = (start.max(self.segment_start), end.min(self.segment_end));
                if start < end {
                    self.closed_days = 0;
                    return Some((start, end));
                }
            }
            self.day += 1;
            self.interval = 0;
            self.closed_days += 1;
            let next_day_start = self.day * DAY_MILLIS - self.offset;
            if self.until == Millis::MAX && self.closed_days > MAX_CLOSED_DAYS {
                self.finished = true;
            } else if next_day_start >= self.segment_end {
                // The next day begins in a later segment, whose offset may differ: move there.
                if self.segment_end >= end_of_time() || self.segment_end >= self.until {
                    self.finished = true;
                } else {
                    self.enter_segment(self.segment_end);
                }
            } else if next_day_start >= self.until {
                // The next day begins in this segment after `until`: nothing more to read.
                self.finished = true;
            }
        }
        None
    }
}

/// The open spans of a period, with the business time before each, so that `add` and
/// `between` inside the period are a look-up and a short search.
#[derive(Debug, Clone)]
pub(crate) struct SpanIndex {
    from: Millis,
    to: Millis,
    starts: Vec<Millis>,
    ends: Vec<Millis>,
    /// `before[i]`: business time in `[from, starts[i])`; `before[len]` is the total.
    before: Vec<Millis>,
    /// `by_day[d]`: how many spans end at or before `from + d` days (24 hours of UTC
    /// time, not calendar days), for `d` from 0 to past `to`: the spans to search for an
    /// instant lie between two neighbours of this table.
    by_day: Vec<usize>,
}

/// The step of [`SpanIndex::by_day`]: 24 hours.
const DAY: Millis = 86_400_000;

/// What the index says about an addition.
pub(crate) enum IndexedAdd {
    /// The answer.
    Done(Millis),
    /// The period ends first: `remaining` business time is left to add from `from`.
    Beyond { from: Millis, remaining: Millis },
}

impl SpanIndex {
    pub(crate) fn build(calendar: &Calendar, from: Millis, to: Millis) -> Option<SpanIndex> {
        if to <= from {
            return None;
        }
        let mut index = SpanIndex {
            from,
            to,
            starts: Vec::new(),
            ends: Vec::new(),
            before: vec![0],
            by_day: Vec::new(),
        };
        let mut total = 0;
        for (start, end) in calendar.spans(from, to) {
            if start >= to {
                break;
            }
            let end = end.min(to);
            index.starts.push(start);
            index.ends.push(end);
            total += end - start;
            index.before.push(total);
        }
        let mut ended = 0;
        let mut day_start = from;
        loop {
            while index.ends.get(ended).is_some_and(|end| *end <= day_start) {
                ended += 1;
            }
            index.by_day.push(ended);
            if day_start > to || day_start == Millis::MAX {
                break;
            }
            day_start = day_start.saturating_add(DAY);
        }
        Some(index)
    }

    /// The covered period `[from, to]`.
    pub(crate) fn covers(&self) -> (Millis, Millis) {
        (self.from, self.to)
    }

    /// The span at or after `instant` (the first that ends after it) and the business time
    /// before `instant`, for `instant` in the covered period: the spans ending before the
    /// day of `instant` are counted in [`SpanIndex::by_day`], and those of that day are
    /// searched.
    fn position(&self, instant: Millis) -> (usize, Millis) {
        let day = usize::try_from((instant - self.from).max(0) / DAY).unwrap_or(usize::MAX);
        let low = self.by_day.get(day).copied().unwrap_or(self.ends.len());
        let high = self
            .by_day
            .get(day.saturating_add(1))
            .copied()
            .unwrap_or(self.ends.len())
            .max(low);
        let i = low
            + self
                .ends
                .get(low..high)
                .unwrap_or_default()
                .partition_point(|end| *end <= instant);
        let mut position = self.before[i];
        if let Some(start) = self.starts.get(i) {
            if *start < instant {
                position += instant - start;
            }
        }
        (i, position)
    }

    pub(crate) fn between(&self, start: Millis, end: Millis) -> Millis {
        let (_, before_start) = self.position(start);
        let (_, before_end) = self.position(end);
        before_end - before_start
    }

    pub(crate) fn next_opening(&self, instant: Millis) -> Option<Millis> {
        if instant < self.from || instant >= self.to {
            return None;
        }
        let i = self.ends.partition_point(|end| *end <= instant);
        self.starts.get(i).map(|start| (*start).max(instant))
    }

    /// Adds `business > 0` from `start`; `None` when `start` is outside the period.
    pub(crate) fn add(&self, start: Millis, business: Millis) -> Option<IndexedAdd> {
        if start < self.from || start >= self.to {
            return None;
        }
        let total = self.before.last().copied().unwrap_or_default();
        let (i, before_start) = self.position(start);
        let target = before_start.checked_add(business)?;
        if target > total {
            return Some(IndexedAdd::Beyond {
                from: self.to,
                remaining: target - total,
            });
        }
        // The first span that ends with at least `target` business time behind it; the
        // target is reached strictly inside it or at its end (the earliest instant).
        let j = i + gallop(&self.before[i + 1..], |before_end| before_end < target);
        Some(IndexedAdd::Done(self.starts[j] + (target - self.before[j])))
    }
}

/// The number of leading elements of `sorted` for which `below` holds (like
/// `partition_point`), found by doubling steps from the front and then a binary search.
fn gallop(sorted: &[Millis], below: impl Fn(Millis) -> bool) -> usize {
    let mut step = 1;
    let mut low = 0;
    while low + step <= sorted.len() && below(sorted[low + step - 1]) {
        low += step;
        step *= 2;
    }
    let high = (low + step).min(sorted.len());
    low + sorted[low..high].partition_point(|value| below(*value))
}
