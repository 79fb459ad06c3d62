//! Group commit for SQLite: many use cases share one transaction and one fsync.
//!
//! SQLite has one writer. Each use case gets a SAVEPOINT inside the writer's open
//! transaction, does its work while holding the writer, and releases the savepoint on
//! commit. It then queues for the writer once more (the lock is fair, first come first
//! served): everyone who queued before it adds their work to the same transaction. When it
//! gets the writer back, either somebody already committed the batch, or it commits the
//! batch itself. A use case that fails or is dropped leaves its savepoint behind; the next
//! holder rolls it back, so it never reaches the disk.
//!
//! The use case that begins the transaction needs no savepoint: its work is the whole
//! transaction so far, and rolling it back is rolling the transaction back. So SQLite copies
//! no page it changes to a sub-journal (which spills to a temporary file past 64 KiB: for a
//! recompute's batch of 2,000 clocks, about 3% of its writer's time went there).
//!
//! The fsync is not taken under the writer: the connection runs `synchronous = NORMAL`, so a
//! COMMIT writes the batch's frames to the WAL without waiting for the disk, and the writer
//! goes on to the next batch at once. Each member then waits in [`Syncer::durable`] until an
//! `fdatasync` of the WAL file that began after its batch committed has returned, one sync
//! covering every batch committed before it (the classic group commit of a log). So
//! `commit` still returns only once the work is on disk: "acknowledged" means "durable".

use std::collections::{HashMap, VecDeque};
use std::ops::{Deref, DerefMut};
use std::panic::Location;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::sqlite::Conn;
use crate::{Result, StoreError};

/// The writer holds one use case at a time, so one savepoint name serves them all, and its
/// statements are prepared once.
const SAVEPOINT_USE_CASE: &str = "SAVEPOINT use_case";
const RELEASE_USE_CASE: &str = "RELEASE use_case";
const ROLLBACK_USE_CASE: &str = "ROLLBACK TO use_case";

/// Largest number of use cases in one batch; a full batch commits at once.
const MAX_BATCH: u32 = 64;

pub(crate) struct Writer {
    pub(crate) conn: Conn,
    in_tx: bool,
    /// The savepoint of a use case that ended without committing: to roll back first.
    dangling: bool,
    /// The transaction, begun by a use case that ended without committing (and nobody else
    /// has joined it): to roll back first.
    dangling_whole: bool,
    /// The id of the open batch.
    batch: u64,
    members: u32,
    /// Batches whose COMMIT failed, with the reason (the most recent few).
    failures: VecDeque<(u64, String)>,
    pub(crate) syncer: Arc<Syncer>,
}

pub(crate) type SharedWriter = Arc<Mutex<Writer>>;

/// `conn` must run in WAL mode with `synchronous = NORMAL`; `wal` is its WAL file.
pub(crate) fn shared(conn: Conn, wal: PathBuf) -> SharedWriter {
    Arc::new(Mutex::new(Writer {
        conn,
        in_tx: false,
        dangling: false,
        dangling_whole: false,
        batch: 1,
        members: 0,
        failures: VecDeque::new(),
        syncer: Arc::new(Syncer {
            wal,
            committed: AtomicU64::new(0),
            synced: Mutex::new(0),
            enabled: AtomicBool::new(true),
        }),
    }))
}

/// Makes committed batches durable with one `fdatasync` of the WAL for many batches.
pub(crate) struct Syncer {
    wal: PathBuf,
    /// The last batch whose COMMIT returned.
    committed: AtomicU64,
    /// The last batch known to be on disk; held while a sync runs, so syncs take turns.
    synced: Mutex<u64>,
    /// Off during bulk loads (`synchronous = OFF`): nothing waits for the disk.
    enabled: AtomicBool,
}

impl Syncer {
    /// Returns once `batch` (already committed) is on disk.
    pub(crate) async fn durable(&self, batch: u64) -> Result<()> {
        if !self.enabled.load(Ordering::Acquire) {
            return Ok(());
        }
        let mut synced = self.synced.lock().await;
        if *synced >= batch {
            return Ok(());
        }
        // Everything committed by now is in the WAL file: one sync covers it all.
        let upto = self.committed.load(Ordering::Acquire);
        let wal = self.wal.clone();
        tokio::task::spawn_blocking(move || std::fs::File::open(&wal)?.sync_data())
            .await
            .map_err(|e| StoreError::Corrupt(format!("the WAL sync did not run: {e}")))?
            .map_err(|e| StoreError::Corrupt(format!("cannot sync the WAL to disk: {e}")))?;
        *synced = upto.max(batch);
        Ok(())
    }

    pub(crate) fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Ordering::Release);
    }
}

impl Writer {
    /// Rolls back what a failed use case left behind.
    async fn settle(&mut self) -> Result<()> {
        if std::mem::take(&mut self.dangling_whole) {
            self.roll_back_whole()?;
        }
        if std::mem::take(&mut self.dangling) {
            self.conn.run_cached(ROLLBACK_USE_CASE)?;
            self.conn.run_cached(RELEASE_USE_CASE)?;
        }
        Ok(())
    }

    /// Rolls back the open transaction, which holds one use case's work alone (SQLite may
    /// have rolled it back already, after an I/O error).
    fn roll_back_whole(&mut self) -> Result<()> {
        if !self.conn.raw().is_autocommit() {
            self.conn.run_cached("ROLLBACK")?;
        }
        self.in_tx = false;
        self.members = 0;
        Ok(())
    }

    /// Commits the open batch, if any, and records a failure for its members to find.
    /// Answers the batch to wait for with [`Syncer::durable`] (the last one committed when
    /// none was open).
    pub(crate) async fn commit_batch(&mut self) -> Result<u64> {
        self.settle().await?;
        if !self.in_tx {
            return Ok(self.syncer.committed.load(Ordering::Acquire));
        }
        let result = self.conn.run_cached("COMMIT");
        self.in_tx = false;
        self.members = 0;
        let batch = self.batch;
        self.batch += 1;
        if let Err(err) = result {
            let _ = self.conn.batch("ROLLBACK");
            self.failures.push_back((batch, err.to_string()));
            if self.failures.len() > 256 {
                self.failures.pop_front();
            }
            return Err(err.into());
        }
        self.syncer.committed.store(batch, Ordering::Release);
        Ok(batch)
    }

    /// Commits the open batch and waits until everything committed is on disk (for
    /// maintenance: backups, closing, switching modes; it holds the writer meanwhile).
    pub(crate) async fn commit_durably(&mut self) -> Result<()> {
        let batch = self.commit_batch().await?;
        self.syncer.clone().durable(batch).await
    }
}

/// How long each holder kept the one writer, by the place in the code that began the
/// transaction (`rapport_sqlite_writer_hold_seconds{site="crates/app/src/sla.rs:983"}`),
/// and `site="commit"` for committing a batch. Everything else waits meanwhile, so this
/// is where the latency of writes comes from.
fn record_hold(site: &'static Location<'static>, held: std::time::Duration) {
    metrics::histogram!("rapport_sqlite_writer_hold_seconds", "site" => site_label(site))
        .record(held.as_secs_f64());
}

/// `file:line` of a place that begins transactions, made once per place: the places are
/// the `begin` calls in the code, so the labels are few and live as long as the process.
fn site_label(site: &'static Location<'static>) -> &'static str {
    static LABELS: std::sync::OnceLock<std::sync::Mutex<HashMap<(usize, u32), &'static str>>> =
        std::sync::OnceLock::new();
    let key = (site.file().as_ptr() as usize, site.line());
    let Ok(mut labels) = LABELS.get_or_init(Default::default).lock() else {
        return "unknown";
    };
    labels
        .entry(key)
        .or_insert_with(|| Box::leak(format!("{}:{}", site.file(), site.line()).into_boxed_str()))
}

fn record_commit_hold(since: Instant) {
    metrics::histogram!("rapport_sqlite_writer_hold_seconds", "site" => "commit")
        .record(since.elapsed().as_secs_f64());
}

/// One use case's share of the writer: a savepoint in the open batch.
pub struct SqliteTx {
    guard: Option<OwnedMutexGuard<Writer>>,
    writer: SharedWriter,
    /// Where the transaction began, and when it got the writer.
    site: &'static Location<'static>,
    held_since: Instant,
    /// Whether this use case began the transaction (and so has no savepoint).
    whole: bool,
}

impl SqliteTx {
    pub(crate) async fn begin(
        writer: &SharedWriter,
        site: &'static Location<'static>,
    ) -> Result<SqliteTx> {
        let mut guard = writer.clone().lock_owned().await;
        let held_since = Instant::now();
        guard.settle().await?;
        let whole = !guard.in_tx;
        if whole {
            guard.conn.run_cached("BEGIN IMMEDIATE")?;
        } else {
            guard.conn.run_cached(SAVEPOINT_USE_CASE)?;
        }
        guard.in_tx = true;
        guard.members += 1;
        Ok(SqliteTx {
            guard: Some(guard),
            writer: writer.clone(),
            site,
            held_since,
            whole,
        })
    }

    /// Makes this use case's work durable (with whatever else shares its batch).
    pub(crate) async fn commit(mut self) -> Result<()> {
        let mut guard = self
            .guard
            .take()
            .ok_or_else(|| StoreError::Corrupt("transaction already finished".into()))?;
        if !self.whole {
            if let Err(err) = guard.conn.run_cached(RELEASE_USE_CASE) {
                guard.dangling = true;
                return Err(err.into());
            }
        }
        let batch = guard.batch;
        let syncer = guard.syncer.clone();
        if guard.members >= MAX_BATCH {
            // The use case's own hold ends where the batch's commit begins.
            let committing = Instant::now();
            let committed = guard.commit_batch().await;
            drop(guard);
            record_hold(self.site, committing.duration_since(self.held_since));
            record_commit_hold(committing);
            committed?;
            return syncer.durable(batch).await;
        }
        drop(guard);
        record_hold(self.site, self.held_since.elapsed());
        // Queue again behind everyone waiting; whoever is first back commits the batch.
        let mut guard = self.writer.lock().await;
        if guard.batch == batch {
            let committing = Instant::now();
            let committed = guard.commit_batch().await;
            record_commit_hold(committing);
            committed?;
        } else if let Some((_, reason)) = guard.failures.iter().find(|(b, _)| *b == batch) {
            return Err(StoreError::Corrupt(format!("the commit failed: {reason}")));
        }
        drop(guard);
        // The disk, outside the writer: the next batch is already being written meanwhile.
        syncer.durable(batch).await
    }

    pub(crate) async fn rollback(mut self) -> Result<()> {
        if let Some(mut guard) = self.guard.take() {
            if self.whole {
                // Nobody joined while this use case held the writer: its work is the whole
                // transaction.
                let rolled_back = guard.roll_back_whole();
                if rolled_back.is_err() {
                    guard.dangling_whole = true;
                }
                drop(guard);
                record_hold(self.site, self.held_since.elapsed());
                return rolled_back;
            }
            let rolled_back = guard
                .conn
                .run_cached(ROLLBACK_USE_CASE)
                .and_then(|()| guard.conn.run_cached(RELEASE_USE_CASE));
            if rolled_back.is_err() {
                guard.dangling = true;
            } else {
                guard.members = guard.members.saturating_sub(1);
                // Nobody else's work is in the open transaction: end it, so that the
                // database's write lock is not held for nothing (another process, such as a
                // second node or a CLI command on the same file, would wait for it).
                if guard.members == 0 && guard.in_tx {
                    guard.conn.run_cached("ROLLBACK")?;
                    guard.in_tx = false;
                }
            }
            drop(guard);
            record_hold(self.site, self.held_since.elapsed());
            rolled_back?;
        }
        Ok(())
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        if let Some(mut guard) = self.guard.take() {
            if self.whole {
                guard.dangling_whole = true;
            } else {
                guard.dangling = true;
            }
            drop(guard);
            record_hold(self.site, self.held_since.elapsed());
        }
    }
}

impl Deref for SqliteTx {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        match &self.guard {
            Some(guard) => &guard.conn,
            // Unreachable: the guard is only taken by commit and rollback, which consume the Tx.
            None => unreachable_conn(),
        }
    }
}

impl DerefMut for SqliteTx {
    fn deref_mut(&mut self) -> &mut Conn {
        match &mut self.guard {
            Some(guard) => &mut guard.conn,
            None => unreachable_conn(),
        }
    }
}

#[allow(clippy::panic)]
fn unreachable_conn() -> ! {
    panic!("a finished transaction was used")
}
