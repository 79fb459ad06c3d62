#![allow(clippy::unwrap_used)]

use super::*;
use proptest::prelude::*;

const HOUR: Millis = 60 * MINUTE_MILLIS;

fn calendar(zone: &str, hours: &str, holidays: &[&str], exceptions: &[&str]) -> Calendar {
    CalendarSpec {
        time_zone: zone.into(),
        hours: hours.into(),
        holidays: holidays.iter().map(|h| h.to_string()).collect(),
        exceptions: exceptions.iter().map(|e| e.to_string()).collect(),
    }
    .build()
    .unwrap()
}

fn at(text: &str) -> Millis {
    parse_instant(text).unwrap()
}

#[test]
fn day_counting_agrees_with_jiff() {
    let epoch = Date::new(1970, 1, 1).unwrap();
    for days in (-800_000..800_000).step_by(997).chain(-400..400) {
        let date = epoch.checked_add(jiff::Span::new().days(days)).unwrap();
        assert_eq!(days_from_date(date), days);
        let (year, month, day) = civil_from_days(days);
        assert_eq!(
            (year, month, day),
            (i64::from(date.year()), date.month() as u8, date.day() as u8)
        );
    }
}

/// One row: in this calendar, business time from `start` to `end` is `minutes`.
struct BetweenCase {
    rule: &'static str,
    zone: &'static str,
    hours: &'static str,
    holidays: &'static [&'static str],
    exceptions: &'static [&'static str],
    start: &'static str,
    end: &'static str,
    minutes: Millis,
}

#[test]
fn business_time_follows_the_calendar_rules() {
    let cases = [
        BetweenCase {
            rule: "a spring-forward day has 23 hours when open around the clock",
            zone: "Europe/Brussels",
            hours: "mon-sun 00:00-24:00",
            holidays: &[],
            exceptions: &[],
            start: "2026-03-29T00:00:00+01:00",
            end: "2026-03-30T00:00:00+02:00",
            minutes: 23 * 60,
        },
        BetweenCase {
            rule: "a fall-back day has 25 hours when open around the clock",
            zone: "Europe/Brussels",
            hours: "mon-sun 00:00-24:00",
            holidays: &[],
            exceptions: &[],
            start: "2026-10-25T00:00:00+02:00",
            end: "2026-10-26T00:00:00+01:00",
            minutes: 25 * 60,
        },
        BetweenCase {
            rule: "office hours on a DST day are still 8 hours",
            zone: "Europe/Brussels",
            hours: "mon-sun 09:00-17:00",
            holidays: &[],
            exceptions: &[],
            start: "2026-03-29T00:00:00+01:00",
            end: "2026-03-30T00:00:00+02:00",
            minutes: 8 * 60,
        },
        BetweenCase {
            rule: "the skipped hour is never open",
            zone: "Europe/Brussels",
            hours: "sun 02:00-03:00",
            holidays: &[],
            exceptions: &[],
            start: "2026-03-28T00:00:00Z",
            end: "2026-03-30T00:00:00Z",
            minutes: 0,
        },
        BetweenCase {
            rule: "the repeated hour is open twice",
            zone: "Europe/Brussels",
            hours: "sun 02:00-03:00",
            holidays: &[],
            exceptions: &[],
            start: "2026-10-24T00:00:00Z",
            end: "2026-10-26T00:00:00Z",
            minutes: 120,
        },
        BetweenCase {
            rule: "an interval across the repeated hour counts only wall times inside it",
            zone: "Europe/Brussels",
            hours: "sun 02:30-04:00",
            holidays: &[],
            exceptions: &[],
            start: "2026-10-24T00:00:00Z",
            end: "2026-10-26T00:00:00Z",
            // 02:30-03:00 summer time, then 02:30-04:00 winter time.
            minutes: 30 + 90,
        },
        BetweenCase {
            rule: "in Santiago the hour before midnight repeats and is open twice",
            zone: "America/Santiago",
            hours: "sat 23:00-24:00",
            holidays: &[],
            exceptions: &[],
            start: "2026-04-03T00:00:00Z",
            end: "2026-04-07T00:00:00Z",
            minutes: 120,
        },
        BetweenCase {
            rule: "a night shift runs on across midnight",
            zone: "Europe/Brussels",
            hours: "mon-fri 22:00-24:00, tue-sat 00:00-06:00",
            holidays: &[],
            exceptions: &[],
            start: "2026-11-23T23:00:00+01:00",
            end: "2026-11-24T01:00:00+01:00",
            minutes: 120,
        },
        BetweenCase {
            rule: "weekends are closed",
            zone: "Europe/Brussels",
            hours: "mon-fri 09:00-17:00",
            holidays: &[],
            exceptions: &[],
            start: "2026-11-27T16:00:00+01:00",
            end: "2026-11-30T10:00:00+01:00",
            minutes: 120,
        },
        BetweenCase {
            rule: "several intervals a day leave the lunch break out",
            zone: "Europe/Brussels",
            hours: "mon-fri 09:00-12:30 13:30-17:00",
            holidays: &[],
            exceptions: &[],
            start: "2026-11-26T12:00:00+01:00",
            end: "2026-11-26T14:00:00+01:00",
            minutes: 60,
        },
        BetweenCase {
            rule: "a holiday is closed, a yearly holiday every year",
            zone: "Europe/Brussels",
            hours: "mon-sun 09:00-17:00",
            holidays: &["2026-12-24", "--12-25"],
            exceptions: &[],
            start: "2026-12-23T00:00:00+01:00",
            end: "2027-12-27T00:00:00+01:00",
            // 369 days from 2026-12-23 to 2027-12-27, less 24 and 25 Dec 2026 and 25 Dec 2027.
            minutes: (369 - 3) * 8 * 60,
        },
        BetweenCase {
            rule: "an exception overrides the weekly hours and a holiday",
            zone: "Europe/Brussels",
            hours: "mon-fri 09:00-17:00",
            holidays: &["--12-24"],
            exceptions: &[
                "2026-12-24 09:00-12:00",
                "2026-12-23 closed",
                "2026-12-26 10:00-11:00",
            ],
            start: "2026-12-21T00:00:00+01:00",
            end: "2026-12-28T00:00:00+01:00",
            // Mon, Tue 8 h; Wed closed; Thu 3 h; Fri 8 h; Sat 1 h.
            minutes: (8 + 8 + 3 + 8 + 1) * 60,
        },
        BetweenCase {
            rule: "a zone with a half-hour DST change (Lord Howe)",
            zone: "Australia/Lord_Howe",
            hours: "sun 01:00-03:00",
            holidays: &[],
            exceptions: &[],
            start: "2026-04-04T00:00:00Z",
            end: "2026-04-06T00:00:00Z",
            // 01:00-02:00 at +11, then clocks go back to 01:30 and 01:30-03:00 at +10:30.
            minutes: 60 + 90,
        },
        BetweenCase {
            rule: "a day skipped by the zone (Samoa, 30 December 2011) has no hours",
            zone: "Pacific/Apia",
            hours: "mon-sun 09:00-17:00",
            holidays: &[],
            exceptions: &[],
            start: "2011-12-29T00:00:00-10:00",
            end: "2011-12-31T00:00:00+14:00",
            minutes: 8 * 60,
        },
    ];
    for case in cases {
        let plain = calendar(case.zone, case.hours, case.holidays, case.exceptions);
        let (start, end) = (at(case.start), at(case.end));
        let indexed = plain
            .clone()
            .with_index(start - 400 * DAY_MILLIS, end + 400 * DAY_MILLIS);
        for calendar in [&plain, &indexed] {
            assert_eq!(
                calendar.between(start, end),
                case.minutes * MINUTE_MILLIS,
                "{}",
                case.rule
            );
            assert_eq!(
                calendar
                    .add(start, case.minutes * MINUTE_MILLIS)
                    .map(|done| done <= end),
                Ok(true),
                "{}",
                case.rule
            );
        }
    }
}

#[test]
fn adding_time_ends_at_the_earliest_instant() {
    let office = calendar("Europe/Brussels", "mon-fri 09:00-17:00", &[], &[]);
    let cases = [
        (
            "closing time, not the next opening",
            "2026-11-26T16:00:00+01:00",
            60,
            "2026-11-26T17:00:00+01:00",
        ),
        (
            "zero is the start itself, even when closed",
            "2026-11-28T12:00:00+01:00",
            0,
            "2026-11-28T12:00:00+01:00",
        ),
        (
            "from closed, counting starts at the opening",
            "2026-11-28T12:00:00+01:00",
            1,
            "2026-11-30T09:01:00+01:00",
        ),
        (
            "a whole week of office hours",
            "2026-11-23T09:00:00+01:00",
            5 * 8 * 60,
            "2026-11-27T17:00:00+01:00",
        ),
        (
            "across the autumn change",
            "2026-10-23T16:00:00+02:00",
            120,
            "2026-10-26T10:00:00+01:00",
        ),
        (
            "across the spring change",
            "2026-03-27T16:00:00+01:00",
            120,
            "2026-03-30T10:00:00+02:00",
        ),
    ];
    for (rule, start, minutes, expected) in cases {
        let done = office.add(at(start), minutes * MINUTE_MILLIS).unwrap();
        assert_eq!(office.format_instant(done).unwrap(), expected, "{rule}");
    }
}

#[test]
fn next_opening_and_is_open_agree() {
    let office = calendar("Europe/Brussels", "mon-fri 09:00-17:00", &[], &[]);
    let friday_evening = at("2026-11-27T17:00:00+01:00");
    assert!(!office.is_open(friday_evening));
    assert!(office.is_open(friday_evening - 1));
    assert_eq!(
        office.next_opening(friday_evening),
        Ok(at("2026-11-30T09:00:00+01:00"))
    );
    let monday_ten = at("2026-11-30T10:00:00+01:00");
    assert_eq!(office.next_opening(monday_ten), Ok(monday_ten));
}

#[test]
fn a_calendar_that_never_opens_says_so() {
    let closed = calendar(
        "Europe/Brussels",
        "mon 09:00-17:00",
        &["--01-05", "--01-12"],
        &["2026-11-30 closed"],
    );
    // Mondays are open in general, so this one finds the next Monday.
    assert!(closed.add(at("2026-11-28T00:00:00Z"), HOUR).is_ok());
    let never = Calendar::new(TimeZone::UTC, WeeklyHours::default());
    let error = never.add(at("2026-11-28T00:00:00Z"), HOUR).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("no opening hours in the 4000 days after 2026-11-28T00:00:00Z"),
        "{error}"
    );
    assert_eq!(never.between(0, 1_000 * DAY_MILLIS), 0);
    assert_eq!(never.add(5, 0), Ok(5));
    assert!(matches!(
        never.add(5, -1),
        Err(CalendarError::NegativeDuration(-1))
    ));
}

/// A calendar shaped by proptest: a zone with interesting transitions, one to three
/// intervals on some weekdays, a few holidays and exceptions.
fn any_calendar() -> impl Strategy<Value = Calendar> {
    let zones = prop::sample::select(vec![
        "Europe/Brussels",
        "America/New_York",
        "America/Santiago",
        "Australia/Lord_Howe",
        "Asia/Kathmandu",
        "America/St_Johns",
        "Pacific/Apia",
        "UTC",
    ]);
    let interval = (0u16..1440, 1u16..720).prop_map(|(start, length)| {
        OpeningInterval::new(start, (start + length).min(1440)).unwrap()
    });
    let day = prop::collection::vec(interval, 0..3).prop_map(DayHours::from_intervals);
    let week = prop::collection::vec(day.clone(), 7);
    let date = (2009i16..2030, 1i8..13, 1i8..29).prop_map(|(y, m, d)| Date::new(y, m, d).unwrap());
    let holiday = prop_oneof![
        date.clone().prop_map(Holiday::Date),
        (1i8..13, 1i8..29).prop_map(|(month, day)| Holiday::Yearly { month, day }),
    ];
    let exception = (date, day).prop_map(|(date, hours)| Exception { date, hours });
    (
        zones,
        week,
        prop::collection::vec(holiday, 0..6),
        prop::collection::vec(exception, 0..6),
    )
        .prop_map(|(zone, week, holidays, exceptions)| {
            let mut text = Vec::new();
            for (name, hours) in ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
                .iter()
                .zip(week)
            {
                if !hours.is_closed() {
                    text.push(format!("{name} {hours}"));
                }
            }
            let weekly = if text.is_empty() {
                WeeklyHours::default()
            } else {
                text.join(", ").parse().unwrap()
            };
            let mut calendar = Calendar::new(TimeZone::get(zone).unwrap(), weekly);
            for holiday in holidays {
                calendar = calendar.with_holiday(holiday);
            }
            for exception in exceptions {
                calendar = calendar.with_exception(exception);
            }
            calendar
        })
}

/// Instants between 2010 and 2029, on whole seconds, so a few land on exact boundaries.
fn any_instant() -> impl Strategy<Value = Millis> {
    let from = at("2010-01-01T00:00:00Z");
    let to = at("2029-01-01T00:00:00Z");
    prop_oneof![
        (from..to).prop_map(|t| t - t % 1_000),
        (from / HOUR..to / HOUR).prop_map(|h| h * HOUR),
    ]
}

/// The definition of "open", checked one minute at a time through jiff's own conversion:
/// the wall-clock time of the instant lies in an interval of its wall-clock date.
fn open_by_definition(calendar: &Calendar, instant: Millis) -> bool {
    let zoned = Timestamp::from_millisecond(instant)
        .unwrap()
        .to_zoned(calendar.zone().clone());
    let minute = u16::try_from(i32::from(zoned.hour()) * 60 + i32::from(zoned.minute())).unwrap();
    calendar
        .hours_on(zoned.date())
        .intervals()
        .iter()
        .any(|i| i.start_minute() <= minute && minute < i.end_minute())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn adding_then_measuring_gives_back_the_duration(
        calendar in any_calendar(), start in any_instant(), minutes in 0i64..20_000
    ) {
        let business = minutes * MINUTE_MILLIS + minutes % 7;
        if let Ok(end) = calendar.add(start, business) {
            prop_assert!(end >= start);
            prop_assert_eq!(calendar.between(start, end), business);
            // Earliest: one millisecond before, the time has not yet passed.
            if business > 0 {
                prop_assert_eq!(calendar.between(start, end - 1), business - 1);
            }
        } else {
            prop_assert!(calendar.weekly_hours().is_never_open());
        }
    }

    #[test]
    fn business_time_matches_the_definition_minute_by_minute(
        calendar in any_calendar(), start in any_instant(), hours in 0i64..80
    ) {
        let start = start - start.rem_euclid(MINUTE_MILLIS);
        let end = start + hours * HOUR;
        let open_minutes = (0..hours * 60)
            .filter(|m| open_by_definition(&calendar, start + m * MINUTE_MILLIS))
            .count();
        prop_assert_eq!(calendar.between(start, end), i64::try_from(open_minutes).unwrap() * MINUTE_MILLIS);
        prop_assert_eq!(calendar.is_open(start), open_by_definition(&calendar, start));
    }

    #[test]
    fn adding_is_monotonic(
        calendar in any_calendar(), start in any_instant(), later_by in 0i64..(10 * DAY_MILLIS),
        minutes in 0i64..5_000, more in 0i64..5_000
    ) {
        let (a, b) = (minutes * MINUTE_MILLIS, (minutes + more) * MINUTE_MILLIS);
        if let (Ok(x), Ok(y), Ok(z)) = (
            calendar.add(start, a), calendar.add(start, b), calendar.add(start + later_by, a)
        ) {
            prop_assert!(x <= y);
            prop_assert!(x <= z);
        }
    }

    #[test]
    fn business_time_is_additive_and_antisymmetric(
        calendar in any_calendar(), a in any_instant(), b in any_instant(), c in any_instant()
    ) {
        prop_assert_eq!(calendar.between(a, b) + calendar.between(b, c), calendar.between(a, c));
        prop_assert_eq!(calendar.between(a, b), -calendar.between(b, a));
        prop_assert!(calendar.between(a, b).abs() <= (b - a).abs());
    }

    #[test]
    fn the_index_changes_no_answer(
        calendar in any_calendar(), from in any_instant(), length in 0i64..(800 * DAY_MILLIS),
        start in any_instant(), end in any_instant(), minutes in 0i64..200_000
    ) {
        let indexed = calendar.clone().with_index(from, from + length);
        let business = minutes * MINUTE_MILLIS + minutes % 13;
        prop_assert_eq!(indexed.add(start, business), calendar.add(start, business));
        prop_assert_eq!(indexed.between(start, end), calendar.between(start, end));
        prop_assert_eq!(indexed.next_opening(start), calendar.next_opening(start));
        prop_assert_eq!(indexed.is_open(start), calendar.is_open(start));
        // Starting inside the period exercises the binary searches.
        let inside = from + length / 2;
        prop_assert_eq!(indexed.add(inside, business), calendar.add(inside, business));
        prop_assert_eq!(indexed.between(inside, end), calendar.between(inside, end));
        prop_assert_eq!(indexed.next_opening(inside), calendar.next_opening(inside));
        // Any hour of a day inside the period (the index looks instants up by day).
        let near = from + (length / 7) * 3 + (minutes * 7_919) % DAY_MILLIS;
        prop_assert_eq!(indexed.between(inside, near), calendar.between(inside, near));
        prop_assert_eq!(indexed.between(near, near + business), calendar.between(near, near + business));
        prop_assert_eq!(indexed.add(near, business), calendar.add(near, business));
    }
}

/// Local days follow the wall clock across daylight-saving changes: the spring day is 23
/// hours long, the autumn day 25, and a zone whose midnight is skipped starts its day at the
/// first instant after the gap.
#[test]
fn local_days_follow_the_wall_clock_across_daylight_saving_changes() {
    let brussels = calendar("Europe/Brussels", "mon-fri 09:00-17:00", &[], &[]);
    let spring = days_from_civil(2026, 3, 29);
    let autumn = days_from_civil(2026, 10, 25);
    // Before the spring change Brussels is UTC+1, after it UTC+2.
    assert_eq!(brussels.local_day_start(spring), at("2026-03-28T23:00:00Z"));
    assert_eq!(
        brussels.local_day_start(spring + 1),
        at("2026-03-29T22:00:00Z")
    );
    assert_eq!(brussels.local_day(at("2026-03-28T22:59:59Z")), spring - 1);
    assert_eq!(brussels.local_day(at("2026-03-28T23:00:00Z")), spring);
    assert_eq!(brussels.local_day(at("2026-03-29T21:59:59Z")), spring);
    assert_eq!(brussels.local_day(at("2026-03-29T22:00:00Z")), spring + 1);
    assert_eq!(
        brussels.local_day_start(spring + 1) - brussels.local_day_start(spring),
        23 * HOUR
    );
    assert_eq!(brussels.local_day_start(autumn), at("2026-10-24T22:00:00Z"));
    assert_eq!(
        brussels.local_day_start(autumn + 1) - brussels.local_day_start(autumn),
        25 * HOUR
    );
    assert_eq!(brussels.local_day(at("2026-10-25T22:59:59Z")), autumn);
    assert_eq!(brussels.local_day(at("2026-10-25T23:00:00Z")), autumn + 1);
    // Santiago de Chile moved its clocks from 00:00 to 01:00 on 2026-09-06: no midnight.
    let santiago = calendar("America/Santiago", "mon-fri 09:00-17:00", &[], &[]);
    let skipped = days_from_civil(2026, 9, 6);
    let start = santiago.local_day_start(skipped);
    assert_eq!(santiago.local_day(start), skipped);
    assert_eq!(santiago.local_day(start - 1), skipped - 1);
    // A day far outside the zone database's range still has a start.
    assert_eq!(
        santiago.local_day(santiago.local_day_start(-700_000)),
        -700_000
    );
}
