//! `rapport sla …` and `rapport bench sla`: service standards from the command line. The
//! logic lives in `app` (`App::recompute_sla`) and the `sla` crate; this file only wires and
//! prints.

use std::time::Instant;

use anyhow::Context;

/// Service standards (SLA clocks).
#[derive(clap::Subcommand)]
pub enum SlaCommand {
    /// Rebuilds every conversation's SLA clocks from the log under the current calendars and
    /// policies, and appends the SLA events the log lacks (run it after changing a policy or
    /// a calendar). Prints one line: conversations and events appended. A second run appends
    /// nothing.
    Recompute {
        #[command(flatten)]
        db: crate::DbArgs,
        /// Read every conversation's recorded SLA events back from the log instead of
        /// trusting the digest each stored clock keeps of them (slower): the repair after
        /// `sla_states` and the log were restored from different backups.
        #[arg(long)]
        read_every_log: bool,
    },
}

pub async fn run(config: Option<std::path::PathBuf>, command: SlaCommand) -> anyhow::Result<()> {
    match command {
        SlaCommand::Recompute { db, read_every_log } => {
            let config = crate::load(config, db, None)?;
            let store = config.open_store().await?;
            let app = app::App::new(store.clone(), config.settings());
            let now = crate::now_millis();
            let run = if read_every_log {
                app.recompute_sla_reading_every_log(now).await
            } else {
                app.recompute_sla(now).await
            }
            .context("recomputing the SLA clocks failed")?;
            println!(
                "recomputed SLA clocks: {} conversations, {} events appended",
                run.conversations, run.events_appended
            );
            store.close().await;
            Ok(())
        }
    }
}

/// `rapport bench sla`: how long the scheduler's tick takes to find what has come due.
#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(flatten)]
    db: crate::DbArgs,
    /// Open conversations with a running SLA clock to load when `sla_states` is empty.
    #[arg(long, default_value_t = 1_000_000)]
    conversations: i64,
    /// Ticks to measure.
    #[arg(long, default_value_t = 200)]
    ticks: usize,
    /// How many due clocks one tick takes at most (as the server's tick).
    #[arg(long, default_value_t = 500)]
    batch: u32,
    /// Instead of the tick: time `rapport sla recompute` end to end over N conversations
    /// (loaded with their events as `rapport bench api` loads them, when the database has
    /// none), against the pure fold of the same logs measured in the same run.
    #[arg(long, value_name = "N")]
    recompute: Option<usize>,
    /// Events per conversation loaded for `--recompute`.
    #[arg(long, default_value_t = 10)]
    events_per_conversation: usize,
    /// With `--recompute`: how many times to change the policy and time both passes, in one
    /// process; more than one prints each round, then the medians.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
}

/// Loads (once) `--conversations` SLA clocks with deadlines spread evenly over 30 days, then
/// runs the tick's query (`sla_states_due`: the due warnings and breaches, most overdue
/// first, locked on PostgreSQL) at instants spread over those days, and prints the median,
/// p95 and maximum time per tick.
pub async fn bench(config: Option<std::path::PathBuf>, args: BenchArgs) -> anyhow::Result<()> {
    const DAY: i64 = 86_400_000;
    let config = crate::load(config, args.db, None)?;
    if let Some(conversations) = args.recompute {
        return bench_recompute(
            &config,
            conversations,
            args.events_per_conversation,
            args.rounds,
        )
        .await;
    }
    let store = config.open_store().await?;
    let from = 1_767_225_600_000; // 2026-01-01T00:00:00Z
    let spread = 30 * DAY;
    if store.sla_due_count(i64::MAX).await? == 0 {
        let started = Instant::now();
        store.set_bulk_load(true).await?;
        let mut tx = store.begin().await?;
        tx.bench_fill_sla_states(args.conversations, from, spread)
            .await?;
        tx.commit().await?;
        store.set_bulk_load(false).await?;
        eprintln!(
            "loaded {} SLA clocks in {:.1} s",
            args.conversations,
            started.elapsed().as_secs_f64()
        );
    }
    let total = store.sla_due_count(i64::MAX).await?;
    let mut times = Vec::with_capacity(args.ticks);
    let mut found = 0usize;
    for i in 0..args.ticks {
        // Instants across the whole period: early ticks find a few, late ones a full batch.
        let step = i64::try_from(i).unwrap_or(0) + 1;
        let now = from + spread * step / i64::try_from(args.ticks).unwrap_or(1).max(1);
        let started = Instant::now();
        let mut tx = store.begin().await?;
        let due = tx.sla_states_due(now, args.batch).await?;
        tx.rollback().await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        found += due.len();
    }
    times.sort_by(f64::total_cmp);
    let at = |q: f64| {
        let index = ((times.len() as f64 - 1.0) * q).round() as usize;
        times.get(index).copied().unwrap_or(0.0)
    };
    println!(
        "sla tick over {total} open clocks ({:?}): median {:.2} ms, p95 {:.2} ms, max {:.2} ms per tick ({} ticks, {} due found, batch {})",
        store.dialect(),
        at(0.5),
        at(0.95),
        at(1.0),
        times.len(),
        found,
        args.batch
    );
    store.close().await;
    Ok(())
}

/// The policy the recompute bench adds when there is none: targets for every metric and
/// priority, most in business time on an office calendar with holidays, warnings at 80 %;
/// when there is one, its warning share changes (80 % or 75 %), so each run rebuilds.
async fn bench_policy(app: &app::App, now: i64) -> anyhow::Result<()> {
    use domain::{Priority, SlaBasis, SlaMetric};
    let admin = domain::Principal::System;
    if let Some(policy) = app.sla_policies(&admin).await?.into_iter().next() {
        // Run again on the same data: change the policy (the warning share), so that the
        // first pass is again a rebuild after a policy change.
        let warn_at_percent = Some(if policy.warn_at_percent == Some(80) {
            75
        } else {
            80
        });
        app.update_sla_policy(
            &admin,
            policy.id,
            app::PolicyInput {
                name: policy.name,
                position: Some(policy.position),
                conditions: policy.conditions,
                calendar_id: policy.calendar_id,
                targets: policy.targets,
                warn_at_percent,
                on_hold_pauses: policy.on_hold_pauses,
            },
            now,
        )
        .await?;
        return Ok(());
    }
    let calendar = app
        .add_sla_calendar(
            &admin,
            app::CalendarInput {
                name: "Office".into(),
                time_zone: "Europe/Brussels".into(),
                hours: "mon-fri 08:30-12:30 13:00-17:30, sat 10:00-14:00".into(),
                holidays: vec!["--01-01".into(), "--12-25".into()],
                exceptions: vec![],
            },
            now,
        )
        .await?;
    let mut targets = Vec::new();
    for (metric, minutes, basis) in [
        (
            SlaMetric::FirstReply,
            [480, 240, 60, 30],
            SlaBasis::Business,
        ),
        (
            SlaMetric::NextReply,
            [960, 480, 120, 60],
            SlaBasis::Business,
        ),
        (
            SlaMetric::PeriodicUpdate,
            [4320, 2880, 1440, 240],
            SlaBasis::Calendar,
        ),
        (
            SlaMetric::Resolution,
            [4800, 2400, 960, 480],
            SlaBasis::Business,
        ),
    ] {
        for (priority, minutes) in Priority::ALL.iter().zip(minutes) {
            targets.push(sla::TargetRule {
                metric,
                priority: *priority,
                minutes,
                basis,
            });
        }
    }
    app.add_sla_policy(
        &admin,
        app::PolicyInput {
            name: "Everyone".into(),
            position: None,
            conditions: sla::Conditions::default(),
            calendar_id: Some(calendar.id),
            targets,
            warn_at_percent: Some(80),
            on_hold_pauses: false,
        },
        now,
    )
    .await?;
    Ok(())
}

/// `rapport bench sla --recompute N`: loads N conversations (once), adds a policy (so every
/// clock is stale), then times, in one process: the pure fold of a sample of the logs
/// already in memory (`sla::recompute`, the reference), a recompute that rebuilds every
/// clock and appends the transitions, and a second one that finds nothing to change. With
/// `--rounds R`, the policy changes again before each further round, and the medians of the
/// rounds' CPU times follow.
async fn bench_recompute(
    config: &crate::config::Config,
    conversations: usize,
    events_per_conversation: usize,
    rounds: usize,
) -> anyhow::Result<()> {
    let store = config.open_store().await?;
    let app = app::App::new(store.clone(), config.settings());
    let now = crate::now_millis();
    if store.count(store::Table::Conversations).await? == 0 {
        let options = crate::bench::BenchOptions {
            conversations,
            events_per_conversation,
            clients: 0,
            seconds: 0,
            reads: 0,
        };
        crate::bench::load(&app, &options).await?;
    }
    bench_policy(&app, now).await?;
    let total_conversations = store.count(store::Table::Conversations).await?;

    // The reference: the pure fold over a sample, with the logs parsed and in memory.
    let sample = total_conversations.min(50_000);
    let policies = app.compiled_sla_policies(now).await?;
    let mut tx = store.begin().await?;
    let rows = tx.events_of_conversations(1, sample).await?;
    tx.rollback().await?;
    let mut logs: Vec<Vec<(i64, domain::EventPayload)>> = Vec::new();
    let mut last = None;
    for row in &rows {
        let Ok(payload) = serde_json::from_str::<domain::EventPayload>(&row.payload) else {
            continue;
        };
        if row.conversation != last {
            logs.push(Vec::new());
            last = row.conversation;
        }
        if let Some(log) = logs.last_mut() {
            log.push((row.at, payload));
        }
    }
    let sample_events: usize = logs.iter().map(Vec::len).sum();
    let started = Instant::now();
    let mut transitions = 0usize;
    for log in &logs {
        let result = sla::recompute(&policies, None, log.iter().map(|(at, e)| (*at, e)), now);
        transitions += std::hint::black_box(result).transitions.len();
    }
    let fold_seconds = started.elapsed().as_secs_f64();
    let fold_rate = logs.len() as f64 / fold_seconds;
    eprintln!(
        "pure fold: {} conversations ({sample_events} events, {transitions} transitions) in {:.3} s",
        logs.len(),
        fold_seconds
    );

    const PASSES: [&str; 2] = [
        "rebuild after a policy change",
        "second run, nothing to change",
    ];
    let rounds = rounds.max(1);
    let mut report = Vec::new();
    let mut cpu_seconds: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut counted = 0;
    for round in 1..=rounds {
        if round > 1 {
            bench_policy(&app, now).await?;
        }
        for (pass, name) in PASSES.iter().enumerate() {
            let events = store.count(store::Table::Events).await?;
            let cpu_before = crate::bench::cpu_seconds(std::process::id());
            let started = Instant::now();
            let run = app.recompute_sla(now).await?;
            let seconds = started.elapsed().as_secs_f64();
            let cpu = crate::bench::cpu_seconds(std::process::id()) - cpu_before;
            cpu_seconds[pass].push(cpu);
            counted = run.conversations;
            // The machine's load over the last minute, as the pass ends (others share the cores).
            let load = std::fs::read_to_string("/proc/loadavg")
                .ok()
                .and_then(|text| text.split_whitespace().next().map(str::to_string))
                .unwrap_or_else(|| "unknown".into());
            let rate = run.conversations as f64 / seconds;
            let round = if rounds > 1 {
                format!("round {round}, ")
            } else {
                String::new()
            };
            report.push(format!(
                "{round}{name}: {} conversations ({events} events) in {seconds:.2} s = {rate:.0} conversations/s, {:.0} events/s, \
                 {:.2} x the pure fold; process CPU {cpu:.2} s = {:.0} conversations per CPU-second; \
                 {} events appended, {} clocks written, {} recorded transitions read back; load average {load}",
                run.conversations,
                events as f64 / seconds,
                rate / fold_rate,
                run.conversations as f64 / cpu.max(f64::EPSILON),
                run.events_appended,
                run.states_written,
                run.transitions_read
            ));
        }
    }
    if rounds > 1 {
        for (name, cpu) in PASSES.iter().zip(cpu_seconds.iter_mut()) {
            cpu.sort_by(f64::total_cmp);
            let median = cpu.get(cpu.len() / 2).copied().unwrap_or_default();
            report.push(format!(
                "median of {rounds} rounds, {name}: process CPU {median:.2} s = {:.0} conversations per CPU-second \
                 (each round: {})",
                counted as f64 / median.max(f64::EPSILON),
                cpu.iter()
                    .map(|c| format!("{c:.2}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
    }
    println!(
        "sla recompute over {total_conversations} conversations ({:?}); \
         pure fold {fold_rate:.0} conversations/s ({} conversations in memory)",
        store.dialect(),
        logs.len()
    );
    for line in report {
        println!("  {line}");
    }
    store.close().await;
    Ok(())
}
