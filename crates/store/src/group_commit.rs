//! Group commit for SQLite: many use cases share one transaction and one fsync.
//!
//! SQLite has one writer. Each use case gets a SAVEPOINT inside the writer's open
//! transaction, does its work while holding the writer, and releases the savepoint on
//! commit. It then queues for the writer once more (the lock is fair, first come first
//! served): everyone who queued before it adds their work to the same transaction. When it
//! gets the writer back, either somebody already committed the batch, or it commits the
//! batch itself. Either way `commit` returns only once the batch is durable (WAL, FULL), so
//! "acknowledged" still means "on disk". A use case that fails or is dropped leaves its
//! savepoint behind; the next holder rolls it back, so it never reaches the disk.

use std::collections::VecDeque;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use sqlx::{Executor, SqliteConnection};
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::{Result, StoreError};

/// Largest number of use cases in one batch; a full batch commits at once.
const MAX_BATCH: u32 = 64;

pub(crate) struct Writer {
    pub(crate) conn: SqliteConnection,
    in_tx: bool,
    /// A savepoint whose use case ended without committing: to roll back first.
    dangling: Option<String>,
    /// The id of the open batch.
    batch: u64,
    members: u32,
    next_savepoint: u64,
    /// Batches whose COMMIT failed, with the reason (the most recent few).
    failures: VecDeque<(u64, String)>,
}

pub(crate) type SharedWriter = Arc<Mutex<Writer>>;

pub(crate) fn shared(conn: SqliteConnection) -> SharedWriter {
    Arc::new(Mutex::new(Writer {
        conn,
        in_tx: false,
        dangling: None,
        batch: 1,
        members: 0,
        next_savepoint: 1,
        failures: VecDeque::new(),
    }))
}

impl Writer {
    /// Rolls back what a failed use case left behind.
    async fn settle(&mut self) -> Result<()> {
        if let Some(savepoint) = self.dangling.take() {
            self.conn
                .execute(format!("ROLLBACK TO {savepoint}; RELEASE {savepoint}").as_str())
                .await?;
        }
        Ok(())
    }

    /// Commits the open batch, if any, and records a failure for its members to find.
    pub(crate) async fn commit_batch(&mut self) -> Result<()> {
        self.settle().await?;
        if !self.in_tx {
            return Ok(());
        }
        let result = self.conn.execute("COMMIT").await;
        self.in_tx = false;
        self.members = 0;
        let batch = self.batch;
        self.batch += 1;
        if let Err(err) = result {
            let _ = self.conn.execute("ROLLBACK").await;
            self.failures.push_back((batch, err.to_string()));
            if self.failures.len() > 256 {
                self.failures.pop_front();
            }
            return Err(err.into());
        }
        Ok(())
    }
}

/// One use case's share of the writer: a savepoint in the open batch.
pub struct SqliteTx {
    guard: Option<OwnedMutexGuard<Writer>>,
    writer: SharedWriter,
    savepoint: String,
}

impl SqliteTx {
    pub(crate) async fn begin(writer: &SharedWriter) -> Result<SqliteTx> {
        let mut guard = writer.clone().lock_owned().await;
        guard.settle().await?;
        if !guard.in_tx {
            guard.conn.execute("BEGIN IMMEDIATE").await?;
            guard.in_tx = true;
        }
        let savepoint = format!("uc{}", guard.next_savepoint);
        guard.next_savepoint += 1;
        guard
            .conn
            .execute(format!("SAVEPOINT {savepoint}").as_str())
            .await?;
        guard.members += 1;
        Ok(SqliteTx {
            guard: Some(guard),
            writer: writer.clone(),
            savepoint,
        })
    }

    /// Makes this use case's work durable (with whatever else shares its batch).
    pub(crate) async fn commit(mut self) -> Result<()> {
        let mut guard = self
            .guard
            .take()
            .ok_or_else(|| StoreError::Corrupt("transaction already finished".into()))?;
        if let Err(err) = guard
            .conn
            .execute(format!("RELEASE {}", self.savepoint).as_str())
            .await
        {
            guard.dangling = Some(self.savepoint.clone());
            return Err(err.into());
        }
        let batch = guard.batch;
        if guard.members >= MAX_BATCH {
            return guard.commit_batch().await;
        }
        drop(guard);
        // Queue again behind everyone waiting; whoever is first back commits the batch.
        let mut guard = self.writer.lock().await;
        if guard.batch == batch {
            return guard.commit_batch().await;
        }
        match guard.failures.iter().find(|(b, _)| *b == batch) {
            Some((_, reason)) => Err(StoreError::Corrupt(format!("the commit failed: {reason}"))),
            None => Ok(()),
        }
    }

    pub(crate) async fn rollback(mut self) -> Result<()> {
        if let Some(mut guard) = self.guard.take() {
            guard
                .conn
                .execute(format!("ROLLBACK TO {0}; RELEASE {0}", self.savepoint).as_str())
                .await?;
            guard.members = guard.members.saturating_sub(1);
        }
        Ok(())
    }
}

impl Drop for SqliteTx {
    fn drop(&mut self) {
        if let Some(guard) = self.guard.as_mut() {
            guard.dangling = Some(self.savepoint.clone());
        }
    }
}

impl Deref for SqliteTx {
    type Target = SqliteConnection;
    fn deref(&self) -> &SqliteConnection {
        match &self.guard {
            Some(guard) => &guard.conn,
            // Unreachable: the guard is only taken by commit and rollback, which consume the Tx.
            None => unreachable_conn(),
        }
    }
}

impl DerefMut for SqliteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
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
