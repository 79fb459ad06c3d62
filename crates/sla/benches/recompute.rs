//! Recomputes the SLA state of synthetic conversations on one core, as `rapport sla
//! recompute` would after a policy change.
//!
//! ```text
//! cargo bench -p sla --bench recompute                    # 1,000,000 conversations, 5 runs
//! SLA_BENCH_CONVERSATIONS=100000 SLA_BENCH_RUNS=3 cargo bench -p sla --bench recompute
//! ```
//!
//! The events are generated before timing (10 per conversation: creation, customer
//! messages, replies, notes, pending and open, a priority or tag change, solved), with
//! instants spread over 2026. Only the recompute is timed: fold, advance to `now`, state,
//! transitions and next deadline, with a business calendar (Brussels office hours with
//! holidays, indexed for 2025 to 2027). Then the clocks of up to 200,000 of them are written
//! as the text `sla_states` stores and read back, timed per clock.

use std::hint::black_box;
use std::time::Instant;

use calendar::{parse_instant, CalendarSpec};
use domain::{Channel, EventPayload, MessageKind, Priority, Status};
use sla::{Conditions, Metric, Millis, Policy, PolicySet, TargetRule, TimeBasis};

const MINUTE: Millis = 60_000;

/// A small, fast, deterministic generator (xorshift64*), so the bench needs no crates.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> i64 {
        i64::try_from(self.next() % n).unwrap_or_default()
    }
}

fn policies() -> Result<PolicySet, Box<dyn std::error::Error>> {
    let calendar = CalendarSpec {
        time_zone: "Europe/Brussels".into(),
        hours: "mon-fri 08:30-12:30 13:00-17:30, sat 10:00-14:00".into(),
        holidays: vec!["--01-01".into(), "--12-25".into(), "2026-04-06".into()],
        exceptions: vec!["2026-12-24 08:30-12:00".into()],
    }
    .build()?
    .with_index(
        parse_instant("2025-01-01T00:00:00Z")?,
        parse_instant("2028-01-01T00:00:00Z")?,
    );
    let every_priority = |metric: Metric, minutes: [u32; 4], basis: TimeBasis| {
        Priority::ALL
            .iter()
            .zip(minutes)
            .map(move |(priority, minutes)| TargetRule {
                metric,
                priority: *priority,
                minutes,
                basis,
            })
    };
    let targets = |scale: u32| -> Vec<TargetRule> {
        every_priority(
            Metric::FirstReply,
            [480, 240, 60, 30].map(|m| m / scale),
            TimeBasis::Business,
        )
        .chain(every_priority(
            Metric::NextReply,
            [960, 480, 120, 60].map(|m| m / scale),
            TimeBasis::Business,
        ))
        .chain(every_priority(
            Metric::PeriodicUpdate,
            [4320, 2880, 1440, 240],
            TimeBasis::Calendar,
        ))
        .chain(every_priority(
            Metric::Resolution,
            [4800, 2400, 960, 480].map(|m| m / scale),
            TimeBasis::Business,
        ))
        .collect()
    };
    let policy = |id: i64, conditions: Conditions, scale: u32, on_hold_pauses: bool| Policy {
        id,
        name: format!("policy {id}"),
        conditions,
        calendar: Some("office".into()),
        targets: targets(scale),
        warn_at_percent: Some(80),
        on_hold_pauses,
    };
    Ok(PolicySet::new(
        vec![
            policy(
                1,
                Conditions {
                    tags: vec!["vip".into()],
                    ..Default::default()
                },
                4,
                true,
            ),
            policy(
                2,
                Conditions {
                    groups: vec![3],
                    ..Default::default()
                },
                2,
                false,
            ),
            policy(
                3,
                Conditions {
                    channels: vec![Channel::Chat],
                    ..Default::default()
                },
                2,
                false,
            ),
            policy(4, Conditions::default(), 1, false),
        ],
        vec![("office".into(), calendar)],
    )?)
}

/// One synthetic conversation of exactly ten events, appended to `events`.
fn conversation(random: &mut Random, start: Millis, events: &mut Vec<(Millis, EventPayload)>) {
    let mut t = start;
    // Moves time on by up to `upto_minutes` and returns the new instant.
    fn gap(random: &mut Random, t: &mut Millis, upto_minutes: u64) -> Millis {
        *t += random.below(upto_minutes) * MINUTE + random.below(60_000);
        *t
    }
    let channel = [Channel::Email, Channel::Web, Channel::Chat]
        [usize::try_from(random.below(3)).unwrap_or_default()];
    let priority = Priority::ALL[usize::try_from(random.below(4)).unwrap_or_default()];
    let message = |kind| EventPayload::MessageAdded {
        message_id: 1,
        message_kind: kind,
        channel,
    };
    events.push((
        t,
        EventPayload::Created {
            subject: String::new(),
            channel,
            status: Status::New,
            priority,
            customer_id: 1,
            group_id: (random.below(4) == 0).then_some(3),
            assignee_id: None,
        },
    ));
    events.push((t, message(MessageKind::Customer)));
    events.push((gap(random, &mut t, 600), message(MessageKind::Note)));
    events.push((gap(random, &mut t, 900), message(MessageKind::Reply)));
    events.push((
        t,
        EventPayload::StatusChanged {
            from: Status::New,
            to: Status::Pending,
        },
    ));
    events.push((gap(random, &mut t, 3000), message(MessageKind::Customer)));
    events.push((
        t,
        EventPayload::StatusChanged {
            from: Status::Pending,
            to: Status::Open,
        },
    ));
    let change = match random.below(3) {
        0 => EventPayload::TagAdded { tag: "vip".into() },
        1 => EventPayload::PriorityChanged {
            from: priority,
            to: Priority::Urgent,
        },
        _ => EventPayload::GroupChanged {
            from: None,
            to: Some(3),
        },
    };
    events.push((gap(random, &mut t, 120), change));
    events.push((gap(random, &mut t, 2000), message(MessageKind::Reply)));
    events.push((
        gap(random, &mut t, 3000),
        EventPayload::StatusChanged {
            from: Status::Open,
            to: Status::Solved,
        },
    ));
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let count: usize =
        std::env::var("SLA_BENCH_CONVERSATIONS").map_or(Ok(1_000_000), |v| v.parse())?;
    let runs: usize = std::env::var("SLA_BENCH_RUNS").map_or(Ok(5), |v| v.parse())?;
    let policies = policies()?;
    let year_start = parse_instant("2026-01-01T00:00:00Z")?;
    let now = parse_instant("2027-03-01T00:00:00Z")?;

    let generating = Instant::now();
    let mut random = Random(0x5eed_2026);
    let mut events: Vec<(Millis, EventPayload)> = Vec::with_capacity(count * 10);
    let mut bounds: Vec<(usize, usize)> = Vec::with_capacity(count);
    for _ in 0..count {
        let first = events.len();
        let start = year_start + random.below(360 * 24 * 60) * MINUTE;
        conversation(&mut random, start, &mut events);
        bounds.push((first, events.len()));
    }
    println!(
        "generated {count} conversations, {} events in {:.1} s (not timed below)",
        events.len(),
        generating.elapsed().as_secs_f64()
    );

    let mut rates = Vec::with_capacity(runs);
    let mut cpu_rates = Vec::with_capacity(runs);
    for run in 1..=runs {
        let cpu_started = cpu_time_seconds();
        let started = Instant::now();
        let mut transitions = 0usize;
        for (first, end) in &bounds {
            let result = sla::recompute(
                &policies,
                None,
                events[*first..*end].iter().map(|(t, e)| (*t, e)),
                now,
            );
            transitions += result.transitions.len();
            black_box(&result);
        }
        let seconds = started.elapsed().as_secs_f64();
        let rate = count as f64 / seconds;
        let cpu = match (cpu_started, cpu_time_seconds()) {
            (Some(before), Some(after)) if after > before => {
                cpu_rates.push(count as f64 / (after - before));
                format!(
                    ", {:.3} s on the CPU ({:.0} conversations per CPU-second)",
                    after - before,
                    count as f64 / (after - before)
                )
            }
            _ => String::new(),
        };
        println!(
            "run {run}: {seconds:.3} s wall, {rate:.0} conversations/s, {:.0} events/s, {transitions} transitions{cpu}",
            events.len() as f64 / seconds
        );
        rates.push(rate);
    }
    println!(
        "median of {runs} runs: {:.0} conversations/s (wall clock) on one thread",
        median(&mut rates)
    );
    if !cpu_rates.is_empty() {
        println!(
            "median of {runs} runs: {:.0} conversations per CPU-second of that thread",
            median(&mut cpu_rates)
        );
    }
    stored_text(&policies, &events, &bounds, now, runs);
    Ok(())
}

/// Times writing the clocks as the text `sla_states` stores (`SlaClock::encode_into`, into
/// one buffer, as a recompute does) and reading them back (`SlaClock::decode`), over the
/// clocks of up to 200,000 of the conversations; and the digest of their transitions
/// (`sla::transitions_digest`, which the stored clock keeps).
fn stored_text(
    policies: &PolicySet,
    events: &[(Millis, EventPayload)],
    bounds: &[(usize, usize)],
    now: Millis,
    runs: usize,
) {
    let (clocks, transitions): (Vec<sla::SlaClock>, Vec<Vec<sla::SlaTransition>>) = bounds
        .iter()
        .take(200_000)
        .map(|(first, end)| {
            let result = sla::recompute(
                policies,
                None,
                events[*first..*end].iter().map(|(t, e)| (*t, e)),
                now,
            );
            (result.clock, result.transitions)
        })
        .unzip();
    let transition_count: usize = transitions.iter().map(Vec::len).sum();
    let texts: Vec<String> = clocks.iter().map(sla::SlaClock::encode).collect();
    let bytes: usize = texts.iter().map(String::len).sum();
    let mut encode = Vec::with_capacity(runs);
    let mut decode = Vec::with_capacity(runs);
    let mut digest = Vec::with_capacity(runs);
    let mut text = String::new();
    for _ in 0..runs {
        let started = Instant::now();
        for clock in &clocks {
            clock.encode_into(&mut text);
            black_box(&text);
        }
        encode.push(started.elapsed().as_secs_f64() * 1e9 / clocks.len().max(1) as f64);
        let started = Instant::now();
        for text in &texts {
            black_box(sla::SlaClock::decode(text).is_ok());
        }
        decode.push(started.elapsed().as_secs_f64() * 1e9 / texts.len().max(1) as f64);
        let started = Instant::now();
        for made in &transitions {
            black_box(sla::transitions_digest(made));
        }
        digest.push(started.elapsed().as_secs_f64() * 1e9 / transition_count.max(1) as f64);
    }
    println!(
        "stored text of {} clocks ({:.0} bytes on average): median of {runs} runs {:.0} ns to write one, {:.0} ns to read one",
        clocks.len(),
        bytes as f64 / texts.len().max(1) as f64,
        median(&mut encode),
        median(&mut decode)
    );
    println!(
        "digest of their {transition_count} transitions: median of {runs} runs {:.1} ns a transition",
        median(&mut digest)
    );
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or_default()
}

/// This thread's time on the CPU (Linux: the first field of /proc/thread-self/schedstat,
/// in nanoseconds), so a figure taken on a busy machine still says what one core does.
fn cpu_time_seconds() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let nanoseconds: f64 = text.split_whitespace().next()?.parse().ok()?;
    Some(nanoseconds / 1e9)
}
