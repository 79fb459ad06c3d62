//! `rapport bench imap`: how fast the IMAP poller drains a full mailbox.
//!
//! 1. Starts its own Dovecot (loopback, a temporary folder) and fills one INBOX with N
//!    messages of about 10 KiB, written into the Maildir as a local delivery agent would,
//!    then indexed by Dovecot (not timed as part of the drain).
//! 2. Each run drains that INBOX into a fresh SQLite store (`DATA/imap-run-K`) with
//!    `imap::poll_once`, exactly as `rapport mail poll` does: sizes, batched fetches, each batch
//!    durable with the cursor, then `\Seen` set on the server. Meanwhile one worker runs the
//!    `mail.ingest` jobs back to back, as the server's background loop does, so the drain is
//!    measured with ingestion competing for the machine.
//! 3. Reports, per run and as the median over runs, messages/s of the drain (accepted
//!    durably) and the time until every message is a conversation message.
//!
//! It prints a JSON report on stdout.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use domain::Principal;
use serde_json::json;

use crate::bench::{percentile, round};
use crate::bench_mail::{message, MAILBOX};
use crate::config::Config;
use crate::demo::samples;
use crate::now_millis;

pub struct ImapBenchOptions {
    pub messages: usize,
    pub message_bytes: usize,
    pub runs: usize,
}

const USER: &str = "bench@bench.test";
const PASSWORD: &str = "bench-password";

pub async fn imap(config: &Config, options: &ImapBenchOptions) -> anyhow::Result<()> {
    anyhow::ensure!(
        config.database_url.is_none(),
        "`rapport bench imap` measures the embedded SQLite store (give --data DIR)"
    );
    anyhow::ensure!(
        options.messages > 0 && options.runs > 0,
        "--messages and --runs must be at least 1"
    );
    anyhow::ensure!(
        imap::dovecot::Dovecot::installed(),
        "`rapport bench imap` starts its own Dovecot: install it with \
         `apt-get install dovecot-imapd` (it runs as root, loopback only)"
    );
    let run_dirs: Vec<_> = (1..=options.runs)
        .map(|k| config.data.join(format!("imap-run-{k}")))
        .collect();
    if let Some(taken) = run_dirs.iter().find(|d| d.exists()) {
        anyhow::bail!(
            "{} exists; give `rapport bench imap` a data directory of its own (--data DIR)",
            taken.display()
        );
    }
    let peer_dir = tempfile::Builder::new()
        .prefix("rapport-bench-imap")
        .tempdir()
        .context("a temporary folder for Dovecot")?;
    let dovecot = imap::dovecot::Dovecot::start(peer_dir.path(), &[(USER, PASSWORD)], "")
        .map_err(anyhow::Error::msg)?;

    eprintln!("filling the INBOX with {} messages", options.messages);
    let texts = samples();
    let filled_at = Instant::now();
    let count = dovecot
        .deliver_to_inbox(
            USER,
            (0..options.messages).map(|n| message(&texts, n % 97, n as u64, options.message_bytes)),
        )
        .map_err(anyhow::Error::msg)?;
    let fill_seconds = filled_at.elapsed().as_secs_f64();
    let in_dovecot = dovecot
        .status(USER, "INBOX", "messages")
        .map_err(anyhow::Error::msg)?;
    anyhow::ensure!(
        in_dovecot == count as u64,
        "Dovecot holds {in_dovecot} messages, not {count}"
    );

    let mut runs = Vec::new();
    for (k, data) in run_dirs.iter().enumerate() {
        eprintln!(
            "run {} of {}: draining into {}",
            k + 1,
            options.runs,
            data.display()
        );
        let run = drain_once(config, data, dovecot.port, options.messages).await?;
        runs.push(run);
    }
    let median = |key: &str| {
        let mut values: Vec<f64> = runs.iter().filter_map(|r| r[key].as_f64()).collect();
        values.sort_by(f64::total_cmp);
        round(percentile(&values, 0.5))
    };
    let report = json!({
        "database": "sqlite",
        "messages": options.messages,
        "message_bytes": options.message_bytes,
        "fill_seconds": round(fill_seconds),
        "runs": runs,
        "median": {
            "drain_per_second": median("drain_per_second"),
            "drain_seconds": median("drain_seconds"),
            "all_ingested_seconds": median("all_ingested_seconds"),
            "ingested_per_second": median("ingested_per_second"),
        },
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// Drains the INBOX once into a fresh store at `data`, ingestion running alongside.
async fn drain_once(
    config: &Config,
    data: &std::path::Path,
    port: u16,
    expected: usize,
) -> anyhow::Result<serde_json::Value> {
    std::fs::create_dir_all(data)?;
    let store = store::Store::open_sqlite(data).await?;
    let app = app::App::new(store.clone(), config.settings());
    app.add_mailbox(
        &Principal::System,
        MAILBOX,
        "Bench",
        None,
        false,
        now_millis(),
    )
    .await?;
    let account = imap::Account {
        name: format!("{USER}@127.0.0.1"),
        host: "127.0.0.1".into(),
        port,
        security: imap::Security::None,
        tls_ca_file: None,
        user: USER.into(),
        password: PASSWORD.into(),
        folder: "INBOX".into(),
        mailbox: MAILBOX.into(),
        after: imap::AfterAction::Seen,
        poll_interval: Duration::from_secs(60),
        limits: imap::Limits {
            max_message_bytes: u64::try_from(config.max_message_bytes).unwrap_or(u64::MAX),
            ..imap::Limits::default()
        },
    };
    let drained = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let worker = {
        let app = app.clone();
        let drained = drained.clone();
        tokio::spawn(async move { ingest_until_done(&app, &drained).await })
    };
    let clock: imap::Clock = Arc::new(now_millis);
    let report = imap::poll_once(&app, &account, &clock).await;
    let drain_seconds = started.elapsed().as_secs_f64();
    drained.store(true, Ordering::SeqCst);
    let ingested = worker.await.context("the ingest worker")??;
    let all_ingested_seconds = started.elapsed().as_secs_f64();
    let report = report?;
    let states = app.store.inbound_mail_states().await?;
    store.close().await;
    anyhow::ensure!(
        report.accepted.len() == expected,
        "the drain accepted {} messages, not {expected}",
        report.accepted.len()
    );
    Ok(json!({
        "accepted": report.accepted.len(),
        "acted_on": report.acted_on,
        "drain_seconds": round(drain_seconds),
        "drain_per_second": round(expected as f64 / drain_seconds),
        "ingested": ingested,
        "all_ingested_seconds": round(all_ingested_seconds),
        "ingested_per_second": round(expected as f64 / all_ingested_seconds),
        "inbound_states": states.into_iter().collect::<std::collections::BTreeMap<_, _>>(),
    }))
}

/// Runs due jobs back to back until the drain is over and no job is left; how many ran.
async fn ingest_until_done(app: &app::App, drained: &AtomicBool) -> anyhow::Result<u64> {
    let worker = format!("bench-imap-{}", std::process::id());
    let mut ran = 0u64;
    loop {
        let finished = drained.load(Ordering::SeqCst);
        match app.run_one_job(&worker, now_millis()).await? {
            app::JobOutcome::Nothing if finished => return Ok(ran),
            app::JobOutcome::Nothing => tokio::time::sleep(Duration::from_millis(5)).await,
            _ => ran += 1,
        }
    }
}
