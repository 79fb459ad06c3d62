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
    },
}

pub async fn run(config: Option<std::path::PathBuf>, command: SlaCommand) -> anyhow::Result<()> {
    match command {
        SlaCommand::Recompute { db } => {
            let config = crate::load(config, db, None)?;
            let store = config.open_store().await?;
            let app = app::App::new(store.clone(), config.settings());
            let run = app
                .recompute_sla(crate::now_millis())
                .await
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
}

/// Loads (once) `--conversations` SLA clocks with deadlines spread evenly over 30 days, then
/// runs the tick's query (`sla_states_due`: the due warnings and breaches, most overdue
/// first, locked on PostgreSQL) at instants spread over those days, and prints the median,
/// p95 and maximum time per tick.
pub async fn bench(config: Option<std::path::PathBuf>, args: BenchArgs) -> anyhow::Result<()> {
    const DAY: i64 = 86_400_000;
    let config = crate::load(config, args.db, None)?;
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
