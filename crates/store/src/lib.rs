//! All SQL lives here. One code base serves SQLite (the embedded default) and PostgreSQL
//! (the scale-out path): [`Store`] holds a pool of either, [`Tx`] a transaction of either,
//! and each operation is written once and expanded for both by the `run!` macro, with a
//! dialect branch only where the databases really differ (full-text search, job claims,
//! the consumer horizon).
//!
//! Instants are `i64` milliseconds since the epoch (UTC); ids are `i64`.

// First, so that its `stored_row!` is there for the modules after it.
#[macro_use]
pub mod sqlite;

mod bulk;
mod chat;
mod conversations;
mod directory;
mod events;
mod group_commit;
mod imap;
mod initiatives;
mod jobs;
mod kpi;
mod mail;
mod migrate;
mod portal;
mod presence;
mod routing;
mod rows;
mod scan;
mod sla;
mod sla_scan;
mod surveys;
mod team;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::PgPool;

pub use bulk::{sqlite_reference_commits, ReferenceMail, SqliteMailReference, Value};
pub use chat::ChatRow;
pub use conversations::{
    ConversationDetail, ConversationFilter, ConversationPage, ConversationSort, NewConversation,
    NewConversationBundle, NewMessage, QueueCounts, SEARCH_WALK_FIRST, SEARCH_WALK_SHARE,
};
pub use directory::Table;
pub use events::{ConversationReach, Cursor, NewEvent};
pub use imap::ImapFetchFailureRow;
pub use initiatives::InitiativeRow;
pub use jobs::{retry_delay_millis, Job};
pub use kpi::{
    DrillOn, KpiAlertRow, KpiBenchmarkRow, KpiFactsRow, KpiRefold, KpiRollupKey, KpiRollupRow,
    KpiSettingsRow,
};
pub use mail::{InboundMailRow, MailboxRow, NewInboundMail, NewOutboundMail, OutboundMailRow};
pub use portal::PortalLinkRow;
pub use presence::PresenceRow;
pub use routing::ChannelRouteRow;
pub use rows::*;
pub use scan::{EventPage, EventPages, EventRef, PageReader, ScanKinds};
pub use sla::{SlaCalendarRow, SlaPolicyRow, SlaStateRow};
pub use sla_scan::{BatchEventRef, BatchStateRef, SlaBatch, SlaBatches, SLA_INPUT_KINDS};
pub use surveys::{
    NewSurveyInvitation, ResearchAttributeRow, ResearchInvitationRow, ResearchRating,
    SurveyAnswerFilter, SurveyAnswerRow, SurveyInvitationRow, SurveySettingsRow,
};
pub use team::{AgentStatusCount, OldestOpen, RunningSla, TeamQueueCount};

/// Everything that can go wrong in the store, in terms the use cases can act on.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (an e-mail already taken, a duplicate name).
    #[error("{0} already exists")]
    Conflict(String),
    /// The stored data does not say what it should (a bad enum value, broken JSON).
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("SQLite error: {0}")]
    Sqlite(#[source] rusqlite::Error),
    #[error("cannot open the database: {0}")]
    Open(String),
    /// A write was sent but its answer never came (its COMMIT failed, or whoever carried it
    /// stopped): it may or may not be stored.
    #[error("the outcome of a write is unknown: {0}")]
    Unknown(String),
}

impl StoreError {
    /// The database cannot serve now (down, busy, out of connections), as opposed to a
    /// request it refuses: worth a retry later.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database(err) => {
                let text = err.to_string();
                text.contains("pool timed out")
                    || text.contains("connection refused")
                    || text.contains("closed")
            }
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(failure, _)) => matches!(
                failure.code,
                rusqlite::ErrorCode::DatabaseBusy
                    | rusqlite::ErrorCode::DatabaseLocked
                    | rusqlite::ErrorCode::DiskFull
                    | rusqlite::ErrorCode::SystemIoFailure
                    | rusqlite::ErrorCode::CannotOpen
            ),
            _ => false,
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        if let rusqlite::Error::SqliteFailure(failure, Some(message)) = &err {
            // "UNIQUE constraint failed: agents.email"
            if failure.code == rusqlite::ErrorCode::ConstraintViolation
                && (failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    || failure.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY)
            {
                let table = message
                    .split_once(": ")
                    .and_then(|(_, columns)| columns.split_once('.'))
                    .map_or("a record", |(table, _)| table);
                return StoreError::Conflict(table.to_string());
            }
        }
        StoreError::Sqlite(err)
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(err: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &err {
            if db.is_unique_violation() {
                return StoreError::Conflict(db.table().unwrap_or("a record").to_string());
            }
        }
        StoreError::Database(err)
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

#[derive(Clone)]
enum Pools {
    /// SQLite allows one writer: one group-committed connection for writes, a pool for reads.
    Sqlite {
        writer: group_commit::SharedWriter,
        readers: std::sync::Arc<sqlite::Readers>,
        /// The database file, for the log scanner's own connection (see `scan`).
        path: std::path::PathBuf,
    },
    Postgres(PgPool),
}

/// The database: a cheap handle to share (clones share the pools).
#[derive(Clone)]
pub struct Store {
    pools: Pools,
}

/// A write transaction on either database. Dropping it without [`Tx::commit`] rolls back.
pub enum Tx {
    /// A savepoint in the group-committed SQLite writer transaction.
    Sqlite(group_commit::SqliteTx),
    Postgres(events::PgTx),
}

/// Runs the same body on whichever connection a [`Tx`] or [`Store`] holds. Inside the body,
/// `$c` is `&mut Connection` (for a Tx) or `&Pool` (for reads); write queries against it
/// once and they run on both databases. On SQLite, `sqlx` in the body names the
/// [`sqlite`] module, which has the same query shape and runs it inline with rusqlite.
macro_rules! run {
    (tx $tx:expr, |$c:ident| $body:expr) => {
        match $tx {
            $crate::Tx::Sqlite(t) => {
                #[allow(unused_imports)]
                use $crate::sqlite as sqlx;
                let $c: &mut $crate::sqlite::Conn = &mut *t;
                $body
            }
            $crate::Tx::Postgres(t) => {
                let $c: &mut sqlx::PgConnection = &mut *t;
                $body
            }
        }
    };
    (read $store:expr, |$c:ident| $body:expr) => {
        match &$store.pools {
            $crate::Pools::Sqlite { readers, .. } => {
                #[allow(unused_imports)]
                use $crate::sqlite as sqlx;
                let $c: &$crate::sqlite::Readers = readers;
                $body
            }
            $crate::Pools::Postgres(pool) => {
                let $c = pool;
                $body
            }
        }
    };
    // A read that may take long (see `sqlite::Long`); the same as `read` on PostgreSQL.
    (long_read $store:expr, |$c:ident| $body:expr) => {
        match &$store.pools {
            $crate::Pools::Sqlite { readers, .. } => {
                #[allow(unused_imports)]
                use $crate::sqlite as sqlx;
                let long = $crate::sqlite::Long(readers);
                let $c = &long;
                $body
            }
            $crate::Pools::Postgres(pool) => {
                let $c = pool;
                $body
            }
        }
    };
}
pub(crate) use run;

/// A value bound to a dynamically built query.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Int(i64),
    Text(String),
}

/// Binds a list of [`Arg`]s to a query of either database.
macro_rules! bind_all {
    ($query:expr, $args:expr) => {{
        let mut q = $query;
        for arg in $args {
            q = match arg {
                $crate::Arg::Int(v) => q.bind(*v),
                $crate::Arg::Text(v) => q.bind(v.clone()),
            };
        }
        q
    }};
}
pub(crate) use bind_all;

/// A PostgreSQL connection idle for at least this long is checked before it is used.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(10);

impl Store {
    /// Opens (creating if needed) the SQLite database `rapport.db` in `data_dir`, in WAL
    /// mode, and brings its schema up to date. Commits are on disk before they return: the
    /// writer syncs the WAL itself, one fsync for many commits (see `group_commit`).
    pub async fn open_sqlite(data_dir: &Path) -> Result<Store> {
        std::fs::create_dir_all(data_dir).map_err(|e| {
            StoreError::Open(format!(
                "cannot create the data directory {}: {e}",
                data_dir.display()
            ))
        })?;
        let path = data_dir.join("rapport.db");
        let open_error = |e: rusqlite::Error| StoreError::Open(format!("{}: {e}", path.display()));
        // Page caches: 32 MiB for the writer, 16 MiB per reader (the OS caches the rest).
        // The writer commits without waiting for the disk; its group commit syncs the WAL.
        let mut writer = sqlite::Conn::open(
            &path,
            sqlite::Settings {
                synchronous: "NORMAL",
                cache_kib: 32768,
                query_only: false,
            },
        )
        .map_err(open_error)?;
        writer
            .batch(&format!(
                "PRAGMA wal_autocheckpoint = {}",
                sqlite::WRITER_AUTOCHECKPOINT_PAGES
            ))
            .map_err(open_error)?;
        let writer = group_commit::shared(writer, data_dir.join("rapport.db-wal"));
        let readers = std::sync::Arc::new(sqlite::Readers::new(
            &path,
            sqlite::Settings {
                synchronous: "FULL",
                cache_kib: 16384,
                query_only: true,
            },
        ));
        sqlite::spawn_checkpointer(&path, std::sync::Arc::downgrade(&readers))
            .map_err(|e| StoreError::Open(format!("cannot start the WAL checkpointer: {e}")))?;
        let store = Store {
            pools: Pools::Sqlite {
                writer,
                readers,
                path,
            },
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Connects to PostgreSQL at `url` and brings the schema up to date. With `schema`,
    /// everything lives in that schema (created if missing): tests use one per test.
    pub async fn open_postgres(
        url: &str,
        schema: Option<&str>,
        max_connections: u32,
    ) -> Result<Store> {
        let mut options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Open(format!("bad database URL: {e}")))?;
        if let Some(schema) = schema {
            if !schema
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(StoreError::Open(format!("bad schema name {schema:?}")));
            }
            let admin = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(options.clone())
                .await
                .map_err(|e| StoreError::Open(format!("cannot connect to PostgreSQL: {e}")))?;
            sqlx::query(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
                .execute(&admin)
                .await?;
            admin.close().await;
            options = options.options([("search_path", schema)]);
        }
        // sqlx checks every idle connection with a round trip before handing it out, and
        // again when it comes back. Under load that is a third of the round trips of a
        // short use case; a connection that came back healthy moments ago is handed out
        // as it is, and only one idle for a while is checked first.
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(30))
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IF_IDLE_FOR {
                        sqlx::Connection::ping(conn).await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(options)
            .await
            .map_err(|e| StoreError::Open(format!("cannot connect to PostgreSQL: {e}")))?;
        let store = Store {
            pools: Pools::Postgres(pool),
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Drops a test schema and everything in it.
    pub async fn drop_postgres_schema(url: &str, schema: &str) -> Result<()> {
        let pool = PgPoolOptions::new().max_connections(1).connect(url).await?;
        sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
            .execute(&pool)
            .await?;
        pool.close().await;
        Ok(())
    }

    pub fn dialect(&self) -> Dialect {
        match self.pools {
            Pools::Sqlite { .. } => Dialect::Sqlite,
            Pools::Postgres(_) => Dialect::Postgres,
        }
    }

    /// Starts a write transaction. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`) so that it never fails half-way for want of it; how long the
    /// caller then holds it is recorded under the caller's place in the code.
    #[track_caller]
    pub fn begin(&self) -> impl std::future::Future<Output = Result<Tx>> + Send + '_ {
        let site = std::panic::Location::caller();
        async move {
            Ok(match &self.pools {
                Pools::Sqlite { writer, .. } => {
                    Tx::Sqlite(group_commit::SqliteTx::begin(writer, site).await?)
                }
                Pools::Postgres(pool) => Tx::Postgres(events::PgTx::new(pool.begin().await?)),
            })
        }
    }

    /// Writes a consistent copy of a live SQLite database to `to` (`VACUUM INTO`).
    pub async fn backup_sqlite(&self, to: &Path) -> Result<()> {
        match &self.pools {
            Pools::Sqlite { writer, .. } => {
                let target = to.to_str().ok_or_else(|| StoreError::Open("the backup path is not UTF-8".into()))?;
                let mut writer = writer.lock().await;
                writer.commit_durably().await?;
                sqlite::query("VACUUM INTO $1").bind(target).execute(&mut writer.conn).await?;
                Ok(())
            }
            Pools::Postgres(_) => Err(StoreError::Open(
                "backup of PostgreSQL is pg_dump's job (or the server's own replication); `rapport backup` is for SQLite".into(),
            )),
        }
    }

    /// Closes every connection (SQLite checkpoints its WAL).
    pub async fn close(&self) {
        match &self.pools {
            Pools::Sqlite {
                writer, readers, ..
            } => {
                readers.close();
                let mut writer = writer.lock().await;
                if writer.commit_durably().await.is_ok() {
                    let _ = writer.conn.batch("PRAGMA wal_checkpoint(TRUNCATE)");
                }
            }
            Pools::Postgres(pool) => pool.close().await,
        }
    }
}

impl Tx {
    pub async fn commit(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => t.commit().await?,
            Tx::Postgres(t) => t.commit().await?,
        }
        Ok(())
    }

    pub async fn rollback(self) -> Result<()> {
        match self {
            Tx::Sqlite(t) => t.rollback().await?,
            Tx::Postgres(t) => t.rollback().await?,
        }
        Ok(())
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Tx::Sqlite(_) => Dialect::Sqlite,
            Tx::Postgres(_) => Dialect::Postgres,
        }
    }
}

impl Store {
    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        run!(read self, |p| sqlx::query("SELECT 1").execute(p).await.map(|_| ())?);
        Ok(())
    }
}

impl Store {
    /// For seeding and bulk imports only: on SQLite, `fast` stops waiting for the disk on
    /// each commit (a crash may then lose the import, which is rerun); `false` restores full
    /// durability. No effect on PostgreSQL.
    pub async fn set_bulk_load(&self, fast: bool) -> Result<()> {
        if let Pools::Sqlite { writer, .. } = &self.pools {
            let sql = if fast {
                "PRAGMA synchronous = OFF"
            } else {
                "PRAGMA synchronous = NORMAL"
            };
            let mut writer = writer.lock().await;
            writer.syncer.set_enabled(true);
            writer.commit_durably().await?;
            writer.conn.batch(sql)?;
            writer.syncer.set_enabled(!fast);
        }
        Ok(())
    }
}

impl Tx {
    /// How many other sessions wait for this transaction, directly or behind another waiter
    /// (for tests that interleave transactions deterministically). `None` on SQLite, where
    /// the one writer makes other transactions wait before they begin.
    pub async fn lock_waiters(&mut self) -> Result<Option<i64>> {
        if self.dialect() == Dialect::Sqlite {
            return Ok(None);
        }
        run!(tx self, |c| Ok(Some(sqlx::query_scalar(
            // pg_locks, not pg_stat_activity: the latter is a snapshot taken once per transaction.
            "WITH RECURSIVE waiting(pid) AS ( \
               SELECT pid FROM pg_locks WHERE NOT granted AND pg_backend_pid() = ANY(pg_blocking_pids(pid)) \
               UNION SELECT l.pid FROM pg_locks l JOIN waiting w ON w.pid = ANY(pg_blocking_pids(l.pid)) WHERE NOT l.granted) \
             SELECT COUNT(*) FROM waiting")
            .fetch_one(&mut *c).await?)))
    }
}
