//! `rapport kpi …` and `rapport bench kpi`: management information from the command line. The
//! logic lives in `app` (`App::run_kpi_rollups`, `App::kpi_reports`) and the `kpi` crate; this
//! file only wires and prints.

use std::time::Instant;

use anyhow::Context;
use domain::Principal;
use store::Value;

/// KPIs and their roll-ups.
#[derive(clap::Subcommand)]
pub enum KpiCommand {
    /// Forgets every roll-up and folds the whole event log again. Prints one line: events read
    /// and seconds taken.
    Rebuild {
        #[command(flatten)]
        db: crate::DbArgs,
    },
    /// Imports a set of published benchmark figures (CSV with index, entity, score_0_100,
    /// source_url, …), replacing the set of that name. Prints how many figures it holds.
    ImportBenchmarks {
        #[command(flatten)]
        db: crate::DbArgs,
        file: std::path::PathBuf,
        /// The set's name (default: the file's name).
        #[arg(long)]
        set: Option<String>,
    },
    /// Every KPI's figure (or one KPI's) for a period and slice, as JSON on stdout.
    Show {
        #[command(flatten)]
        db: crate::DbArgs,
        /// One KPI key (default: all).
        key: Option<String>,
        /// First day, YYYY-MM-DD (a local day of the business calendar, as the roll-ups
        /// count days); default 28 days before --to.
        #[arg(long)]
        from: Option<String>,
        /// Day after the last, YYYY-MM-DD (a local day, like --from); default tomorrow.
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        group: Option<i64>,
        #[arg(long)]
        agent: Option<i64>,
    },
}

/// A typed day; the app reads it as that local day of the team's calendar.
fn day(text: &str) -> anyhow::Result<jiff::civil::Date> {
    text.parse()
        .with_context(|| format!("{text:?} is not a YYYY-MM-DD date"))
}

pub async fn run(config: Option<std::path::PathBuf>, command: KpiCommand) -> anyhow::Result<()> {
    match command {
        KpiCommand::Rebuild { db } => {
            let config = crate::load(config, db, None)?;
            let store = config.open_store().await?;
            let app = app::App::new(store.clone(), config.settings());
            let started = Instant::now();
            let events = app
                .rebuild_kpi_rollups(&Principal::System, 20_000, crate::now_millis())
                .await
                .context("rebuilding the KPI roll-ups failed")?;
            println!(
                "rebuilt KPI roll-ups: {events} events in {:.2} s",
                started.elapsed().as_secs_f64()
            );
            store.close().await;
            Ok(())
        }
        KpiCommand::ImportBenchmarks { db, file, set } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let set = set.unwrap_or_else(|| {
                file.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "benchmarks".into())
            });
            let config = crate::load(config, db, None)?;
            let store = config.open_store().await?;
            let app = app::App::new(store.clone(), config.settings());
            let rows = app
                .import_benchmarks(&Principal::System, &set, &text, crate::now_millis())
                .await?;
            println!("imported {rows} benchmark figures as set {set:?}");
            store.close().await;
            Ok(())
        }
        KpiCommand::Show {
            db,
            key,
            from,
            to,
            group,
            agent,
        } => {
            let config = crate::load(config, db, None)?;
            let store = config.open_store().await?;
            let app = app::App::new(store.clone(), config.settings());
            let now = crate::now_millis();
            app.run_kpi_rollups(20_000, now).await?;
            let query = app::KpiQuery {
                from_date: from.as_deref().map(day).transpose()?,
                to_date: to.as_deref().map(day).transpose()?,
                group,
                agent,
                ..app::KpiQuery::default()
            };
            let text = match key {
                Some(key) => serde_json::to_string_pretty(
                    &app.kpi_report(&Principal::System, &key, &query, now)
                        .await?,
                )?,
                None => serde_json::to_string_pretty(
                    &app.kpi_reports(&Principal::System, &query, now).await?,
                )?,
            };
            println!("{text}");
            store.close().await;
            Ok(())
        }
    }
}

/// `rapport bench kpi`: the roll-up consumer and the manager dashboard on a large log.
#[derive(clap::Args)]
pub struct BenchArgs {
    #[command(flatten)]
    db: crate::DbArgs,
    /// Events to load when the log is empty (10 per conversation, over 90 days).
    #[arg(long, default_value_t = 10_000_000)]
    events: usize,
    /// Timed dashboard reads (every KPI for the last 28 days, with the previous period).
    #[arg(long, default_value_t = 200)]
    reads: usize,
    /// Events appended after the rebuild (new conversations over the next 90 days) for the
    /// live consumer to catch up on, timed (0: no consumer figure). They stay in the log.
    #[arg(long, default_value_t = 1_000_000)]
    consumer_events: usize,
    /// Events per batch of the live consumer (each batch one transaction with its cursor;
    /// `rapport kpi rollup` takes 20,000, the server 1,000 per run).
    #[arg(long, default_value_t = 20_000)]
    consumer_batch: u32,
}

/// 2026-01-01T00:00:00Z: where the synthetic log starts.
const SYNTHETIC_START: i64 = 1_767_225_600_000;

/// Appends `count` synthetic events (`kpi::synthetic`) over `days` days from `start`, their ids after
/// `after_id` and their conversations numbered after `after_conversation`, 50,000 per
/// transaction. Returns the last id.
async fn append_synthetic(
    store: &store::Store,
    count: usize,
    (start, days): (i64, i64),
    after_id: i64,
    after_conversation: i64,
) -> anyhow::Result<i64> {
    let mut stream = kpi::synthetic::stream_over(count, start, days).peekable();
    let mut id = after_id;
    while stream.peek().is_some() {
        let mut tx = store.begin().await?;
        let rows: Vec<Vec<Value>> = stream
            .by_ref()
            .take(50_000)
            .map(|(conversation, at, actor_kind, actor_id, payload)| {
                id += 1;
                vec![
                    Value::Int(id),
                    Value::Int(after_conversation + conversation + 1),
                    Value::Text(payload.kind().to_string()),
                    Value::Text(actor_kind.to_string()),
                    actor_id.map(Value::Int).unwrap_or(Value::Null),
                    Value::Int(at),
                    Value::Text(payload.to_json()),
                ]
            })
            .collect();
        tx.insert_rows(
            "events",
            &[
                "id",
                "conversation",
                "kind",
                "actor_kind",
                "actor_id",
                "at",
                "payload",
            ],
            &rows,
        )
        .await?;
        tx.commit().await?;
    }
    Ok(id)
}

/// Loads (once) `--events` synthetic events (`kpi::synthetic`: created, assigned, tagged, first
/// reply, customer message, reply, solved, SLA fulfilled, CSAT), then measures, in one run:
/// the pure fold over the same events in memory (the ceiling), a scan of the whole log without
/// folding (the read ceiling: the pages the rebuild folds), a full rebuild of the roll-ups from
/// the database (events/s, seconds, and the process's peak resident memory during it), the
/// dashboard's figures read from the roll-ups (median and p99), and the live consumer catching
/// up on `--consumer-events` events appended to the log (events/s). Prints one JSON object.
/// The synthetic events are made and folded a million at a time, so a log of ten million
/// needs no more memory than the rebuild itself.
pub async fn bench(config: Option<std::path::PathBuf>, args: BenchArgs) -> anyhow::Result<()> {
    const CHUNK: usize = 1_000_000;
    let config = crate::load(config, args.db, None)?;
    let store = config.open_store().await?;
    let app = app::App::new(store.clone(), config.settings());
    let start = SYNTHETIC_START;
    let loaded = store.count_events().await?;
    if loaded == 0 {
        let started = Instant::now();
        store.set_bulk_load(true).await?;
        let id = append_synthetic(&store, args.events, (start, 90), 0, 0).await?;
        store.set_bulk_load(false).await?;
        store.reset_sequences().await?;
        eprintln!(
            "loaded {id} events in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    let events = store.count_events().await?;

    // The ceiling: the pure fold over the same events, in memory (only the fold is timed, not
    // making the events).
    let mut fold_seconds = 0.0;
    let mut folded = 0usize;
    {
        let mut facts = kpi::FactsMap::default();
        let mut rollup = kpi::Rollup::default();
        let mut stream = kpi::synthetic::stream(args.events, start).peekable();
        while stream.peek().is_some() {
            let chunk: Vec<kpi::synthetic::SyntheticEvent> = stream.by_ref().take(CHUNK).collect();
            let started = Instant::now();
            for (conversation, at, actor_kind, actor_id, payload) in &chunk {
                let Some(payload) = kpi::FoldPayload::of(payload) else {
                    continue;
                };
                kpi::apply_boxed(
                    facts.entry(*conversation).or_default(),
                    kpi::FoldEvent {
                        at: *at,
                        actor_kind,
                        actor_id: *actor_id,
                        payload,
                    },
                    None,
                    &mut rollup,
                );
            }
            fold_seconds += started.elapsed().as_secs_f64();
            folded += chunk.len();
        }
    }
    let fold_rate = folded as f64 / fold_seconds;

    // The rebuild's read ceiling: the log read into the pages the rebuild folds (texts
    // borrowed from one buffer per page, pages reused), nothing folded.
    let started = Instant::now();
    let mut paged = 0usize;
    let mut pages = store.scan_event_pages(
        store::Cursor::default(),
        50_000,
        store::ScanKinds::Keep(kpi::FOLDED_KINDS),
    );
    while let Some(page) = pages.recv().await {
        let page = page?;
        paged += page.read();
        std::hint::black_box(page.iter().map(|e| e.payload.len()).sum::<usize>());
        pages.recycle(page);
    }
    drop(pages);
    let page_scan_seconds = started.elapsed().as_secs_f64();
    let page_scan_rate = paged as f64 / page_scan_seconds;

    let rss_before = reset_peak_rss();
    let started = Instant::now();
    let read = app
        .rebuild_kpi_rollups(&Principal::System, 50_000, crate::now_millis())
        .await?;
    let rebuild_seconds = started.elapsed().as_secs_f64();
    let rebuild_peak_rss = peak_rss();
    let rollup_rate = read as f64 / rebuild_seconds;

    let now = start + 90 * 86_400_000;
    let query = app::KpiQuery {
        from: Some(now - 28 * 86_400_000),
        to: Some(now),
        ..app::KpiQuery::default()
    };
    let mut times = Vec::with_capacity(args.reads);
    for _ in 0..args.reads {
        let t = Instant::now();
        let reports = app.kpi_reports(&Principal::System, &query, now).await?;
        std::hint::black_box(reports.len());
        times.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);

    // The live consumer catching up on events appended after the rebuild (over the days after
    // the log, as densely as the log): new conversations after the log's (their numbers after every id of the log, so none is taken), folded
    // batch by batch with the facts and buckets read, merged and written back.
    let mut consumer = serde_json::Value::Null;
    if args.consumer_events > 0 {
        // At the log's density: as many days as the log spends on that many events.
        let last = store.count_events().await?;
        let days = ((90 * args.consumer_events as i64) / last.max(1)).max(1);
        append_synthetic(&store, args.consumer_events, (now, days), last, last).await?;
        store.reset_sequences().await?;
        let started = Instant::now();
        let caught_up = app
            .run_kpi_rollups(args.consumer_batch, crate::now_millis())
            .await?;
        let seconds = started.elapsed().as_secs_f64();
        let rate = caught_up as f64 / seconds;
        consumer = serde_json::json!({
            "events_read": caught_up,
            "batch": args.consumer_batch,
            "seconds": (seconds * 100.0).round() / 100.0,
            "events_per_second": rate.round(),
            "ratio_to_page_scan": (rate / page_scan_rate * 1000.0).round() / 1000.0,
        });
    }

    let mib = |bytes: Option<u64>| bytes.map(|b| (b as f64 / 1_048_576.0).round());
    let report = serde_json::json!({
        "events": events,
        "fold_in_memory_events_per_second": fold_rate.round(),
        "page_scan_events_read": paged,
        "page_scan_seconds": (page_scan_seconds * 100.0).round() / 100.0,
        "page_scan_events_per_second": page_scan_rate.round(),
        "rebuild_events_read": read,
        "rebuild_seconds": (rebuild_seconds * 100.0).round() / 100.0,
        "rollup_events_per_second": rollup_rate.round(),
        "ratio_to_in_memory_fold": (rollup_rate / fold_rate * 1000.0).round() / 1000.0,
        "ratio_to_page_scan": (rollup_rate / page_scan_rate * 1000.0).round() / 1000.0,
        "rss_mib_before_rebuild": mib(rss_before),
        "rebuild_peak_rss_mib": mib(rebuild_peak_rss),
        "dashboard_reads": args.reads,
        "dashboard_ms_median": crate::bench::percentile(&times, 0.5),
        "dashboard_ms_p99": crate::bench::percentile(&times, 0.99),
        "consumer": consumer,
        "database": if config.database_url.is_some() { "postgres" } else { "sqlite" },
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    store.close().await;
    Ok(())
}

/// A field of this process's `/proc/self/status` in bytes (Linux; `None` elsewhere).
fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Resets the process's peak resident memory to what it uses now (Linux: `clear_refs` 5) and
/// answers that.
fn reset_peak_rss() -> Option<u64> {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
    status_bytes("VmRSS:")
}

/// The process's peak resident memory since the last [`reset_peak_rss`].
fn peak_rss() -> Option<u64> {
    status_bytes("VmHWM:")
}
