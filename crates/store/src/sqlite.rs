//! The SQLite side of the store: rusqlite, called inline, behind the shape of sqlx's query
//! builders.
//!
//! Every store operation is written once (see `run!` in the crate root) as
//! `sqlx::query(..).bind(..).fetch_one(c)`. On PostgreSQL that is sqlx. On SQLite the `run!`
//! macro puts this module in scope under the name `sqlx`, so the same text calls the
//! functions below instead. They run the statement on the calling thread, on a connection
//! the caller already holds (the group-committed writer) or takes from a small pool (the
//! readers), with prepared statements cached per connection.
//!
//! Why not sqlx for SQLite too: sqlx-sqlite runs each connection on a worker thread of its own
//! and hands every statement to it and back over channels. A use case of a dozen statements
//! then costs a dozen thread hand-offs, which on a 2-core machine was a third of the server's
//! time. SQLite's own work per statement is a few microseconds; it is cheaper to do it where
//! we are.
//!
//! Placeholders are written `$1, $2, ...` as for PostgreSQL; SQLite sees them as named
//! parameters, and they are bound by their number, so one may be used twice or out of order.

use std::marker::PhantomData;
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::types::{ToSqlOutput, Value};
use rusqlite::{Connection, OpenFlags, ToSql};

pub use rusqlite::Error;

/// How many prepared statements each connection keeps.
const STATEMENT_CACHE: usize = 256;
/// Idle read connections kept open.
const IDLE_READERS: usize = 8;

/// One SQLite connection.
pub struct Conn {
    inner: Connection,
}

/// What opening a connection sets.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// `PRAGMA synchronous`: `NORMAL` for the group-committed writer, `FULL` otherwise.
    pub synchronous: &'static str,
    /// Page cache in KiB.
    pub cache_kib: u32,
    /// Refuses writes (`PRAGMA query_only`): the readers.
    pub query_only: bool,
}

impl Conn {
    /// Opens (creating when allowed) the database at `path` in WAL mode with foreign keys on.
    pub fn open(path: &Path, settings: Settings) -> Result<Conn, Error> {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let inner = Connection::open_with_flags(path, flags)?;
        inner.busy_timeout(Duration::from_secs(10))?;
        inner.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        // Plans do not depend on the values bound: otherwise, with the statistics of ANALYZE
        // (STAT4), binding a new value expires a cached statement and every run re-prepares.
        inner.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )?;
        // Answers the mode it is in; the query form reads (and ignores) that row.
        inner.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
        inner.execute_batch(&format!(
            "PRAGMA synchronous = {}; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY; \
             PRAGMA cache_size = -{}; PRAGMA query_only = {};",
            settings.synchronous, settings.cache_kib, settings.query_only
        ))?;
        Ok(Conn { inner })
    }

    /// Runs statements that take no parameters and answer nothing (BEGIN, SAVEPOINT, scripts).
    pub fn batch(&mut self, sql: &str) -> Result<(), Error> {
        self.inner.execute_batch(sql)
    }

    /// Runs one statement without parameters through the statement cache (SAVEPOINT,
    /// RELEASE, COMMIT: the writer's per-use-case statements, prepared once).
    pub fn run_cached(&mut self, sql: &str) -> Result<(), Error> {
        self.inner.prepare_cached(sql)?.execute([]).map(|_| ())
    }

    /// The underlying connection, for the few things the query shape does not cover.
    pub fn raw(&mut self) -> &mut Connection {
        &mut self.inner
    }
}

/// The read connections: taken for one statement, then put back.
pub struct Readers {
    path: std::path::PathBuf,
    settings: Settings,
    idle: Mutex<Vec<Conn>>,
}

impl Readers {
    pub fn new(path: &Path, settings: Settings) -> Readers {
        Readers {
            path: path.to_path_buf(),
            settings,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn take(&self) -> Result<Conn, Error> {
        let idle = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        match idle {
            Some(conn) => Ok(conn),
            None => Conn::open(&self.path, self.settings),
        }
    }

    fn give_back(&self, conn: Conn) {
        if let Ok(mut idle) = self.idle.lock() {
            if idle.len() < IDLE_READERS {
                idle.push(conn);
            }
        }
    }

    /// Closes the idle connections (the busy ones close when they come back).
    pub fn close(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }
}

/// How often the checkpointer copies the WAL back into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);
/// The writer checkpoints itself only past this many WAL pages (about 80 MiB): a backstop
/// should the checkpointer stop.
pub const WRITER_AUTOCHECKPOINT_PAGES: u32 = 20_000;

/// Copies committed WAL frames back into the database file on a thread of its own, so that
/// the writer never does it while holding the write lock (SQLite's automatic checkpoint runs
/// in the COMMIT that crosses 1,000 pages, and waits for the disk twice). A PASSIVE checkpoint
/// neither waits for nor blocks readers and the writer. The thread ends once `alive` is gone
/// (the store was dropped).
pub fn spawn_checkpointer(path: &Path, alive: std::sync::Weak<Readers>) -> std::io::Result<()> {
    let path = path.to_path_buf();
    std::thread::Builder::new()
        .name("sqlite-checkpoint".into())
        .spawn(move || {
            let settings = Settings {
                synchronous: "NORMAL",
                cache_kib: 1024,
                query_only: false,
            };
            let conn = match Conn::open(&path, settings) {
                Ok(conn) => conn,
                Err(err) => {
                    tracing::error!(%err, "cannot open the checkpoint connection; the writer checkpoints itself");
                    return;
                }
            };
            while alive.strong_count() > 0 {
                std::thread::sleep(CHECKPOINT_EVERY);
                if let Err(err) =
                    conn.inner
                        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
                {
                    tracing::warn!(%err, "WAL checkpoint failed; it is retried");
                }
            }
        })
        .map(|_| ())
}

/// Where a statement runs: a connection held (`&mut Conn`) or one from the readers.
pub trait Executor {
    fn with<R>(self, work: impl FnOnce(&mut Conn) -> Result<R, Error>) -> Result<R, Error>;
}

impl Executor for &mut Conn {
    fn with<R>(self, work: impl FnOnce(&mut Conn) -> Result<R, Error>) -> Result<R, Error> {
        work(self)
    }
}

impl Executor for &Readers {
    fn with<R>(self, work: impl FnOnce(&mut Conn) -> Result<R, Error>) -> Result<R, Error> {
        let mut conn = self.take()?;
        let result = work(&mut conn);
        self.give_back(conn);
        result
    }
}

/// The readers, for a read that may take long (a whole queue counted, a report): on a
/// multi-threaded runtime the worker thread hands its other tasks to another thread while the
/// read runs (`block_in_place`), so that one long read does not hold up the requests queued
/// behind it. Short reads run inline: the hand-over costs more than they do.
pub struct Long<'r>(pub &'r Readers);

impl Executor for &Long<'_> {
    fn with<R>(self, work: impl FnOnce(&mut Conn) -> Result<R, Error>) -> Result<R, Error> {
        let multi_threaded = tokio::runtime::Handle::try_current().is_ok_and(|handle| {
            handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
        });
        if multi_threaded {
            tokio::task::block_in_place(|| self.0.with(work))
        } else {
            self.0.with(work)
        }
    }
}

/// A row read into a value: the stored rows by column name, tuples by position.
pub trait FromRow: Sized {
    fn from_row(row: &rusqlite::Row<'_>) -> Result<Self, Error>;
}

macro_rules! tuple_from_row {
    ($($t:ident $i:tt),+) => {
        impl<$($t: rusqlite::types::FromSql),+> FromRow for ($($t,)+) {
            fn from_row(row: &rusqlite::Row<'_>) -> Result<Self, Error> {
                Ok(($(row.get::<_, $t>($i)?,)+))
            }
        }
    };
}
tuple_from_row!(A 0);
tuple_from_row!(A 0, B 1);
tuple_from_row!(A 0, B 1, C 2);
tuple_from_row!(A 0, B 1, C 2, D 3);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
tuple_from_row!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);

/// What `execute` answers.
#[derive(Debug, Clone, Copy)]
pub struct Done {
    rows_affected: u64,
}

impl Done {
    pub fn rows_affected(&self) -> u64 {
        self.rows_affected
    }
}

/// A statement with its bound values.
pub struct Query<'q> {
    sql: &'q str,
    args: Vec<Value>,
    /// A value that could not be bound (reported when the query runs).
    bad: Option<Error>,
}

/// A statement whose rows become `O`s.
pub struct QueryAs<'q, O> {
    query: Query<'q>,
    out: PhantomData<fn() -> O>,
}

/// A statement whose rows' first column becomes an `O`.
pub struct QueryScalar<'q, O> {
    query: Query<'q>,
    out: PhantomData<fn() -> O>,
}

pub fn query(sql: &str) -> Query<'_> {
    Query {
        sql,
        args: Vec::new(),
        bad: None,
    }
}

pub fn query_as<O: FromRow>(sql: &str) -> QueryAs<'_, O> {
    QueryAs {
        query: query(sql),
        out: PhantomData,
    }
}

pub fn query_scalar<O: rusqlite::types::FromSql>(sql: &str) -> QueryScalar<'_, O> {
    QueryScalar {
        query: query(sql),
        out: PhantomData,
    }
}

impl<'q> Query<'q> {
    pub fn bind<T: ToSql>(mut self, value: T) -> Self {
        match value.to_sql().and_then(owned) {
            Ok(value) => self.args.push(value),
            Err(err) => {
                self.args.push(Value::Null);
                self.bad.get_or_insert(err);
            }
        }
        self
    }

    /// Runs the statement to its end and answers how many rows it changed.
    pub async fn execute(self, on: impl Executor) -> Result<Done, Error> {
        on.with(|conn| {
            self.rows(conn, |_| Ok(true))?;
            Ok(Done {
                rows_affected: conn.inner.changes(),
            })
        })
    }

    /// Prepares (from the cache), binds and steps through the rows, handing each to `each`.
    fn rows(
        self,
        conn: &mut Conn,
        mut each: impl FnMut(&rusqlite::Row<'_>) -> Result<bool, Error>,
    ) -> Result<(), Error> {
        if let Some(err) = self.bad {
            return Err(err);
        }
        let mut statement = conn.inner.prepare_cached(self.sql)?;
        let mut next = 0;
        for index in 1..=statement.parameter_count() {
            let arg = match statement.parameter_name(index).and_then(numbered) {
                Some(number) => number - 1,
                None => {
                    next += 1;
                    next - 1
                }
            };
            let value = self.args.get(arg).ok_or(Error::InvalidParameterCount(
                statement.parameter_count(),
                self.args.len(),
            ))?;
            statement.raw_bind_parameter(index, value)?;
        }
        let mut rows = statement.raw_query();
        while let Some(row) = rows.next()? {
            if !each(row)? {
                break;
            }
        }
        Ok(())
    }
}

/// The number of a `$N` or `?N` parameter.
fn numbered(name: &str) -> Option<usize> {
    let digits = name.strip_prefix('$').or_else(|| name.strip_prefix('?'))?;
    digits.parse().ok().filter(|n| *n >= 1)
}

fn owned(output: ToSqlOutput<'_>) -> Result<Value, Error> {
    match output {
        ToSqlOutput::Borrowed(value) => Ok(value.into()),
        ToSqlOutput::Owned(value) => Ok(value),
        // Other forms (zero blobs, pointers) are not used by the store.
        _ => Err(Error::ToSqlConversionFailure(
            "a value the store does not bind (zero blob or pointer)".into(),
        )),
    }
}

macro_rules! fetchers {
    ($builder:ident, $bound:path, |$row:ident| $decode:expr) => {
        impl<'q, O: $bound> $builder<'q, O> {
            pub fn bind<T: ToSql>(mut self, value: T) -> Self {
                self.query = self.query.bind(value);
                self
            }

            pub async fn fetch_all(self, on: impl Executor) -> Result<Vec<O>, Error> {
                on.with(|conn| {
                    let mut out = Vec::new();
                    self.query.rows(conn, |$row| {
                        out.push($decode);
                        Ok(true)
                    })?;
                    Ok(out)
                })
            }

            pub async fn fetch_optional(self, on: impl Executor) -> Result<Option<O>, Error> {
                on.with(|conn| {
                    let mut out = None;
                    self.query.rows(conn, |$row| {
                        out = Some($decode);
                        Ok(false)
                    })?;
                    Ok(out)
                })
            }

            pub async fn fetch_one(self, on: impl Executor) -> Result<O, Error> {
                self.fetch_optional(on)
                    .await?
                    .ok_or(Error::QueryReturnedNoRows)
            }
        }
    };
}
fetchers!(QueryAs, FromRow, |row| O::from_row(row)?);
fetchers!(QueryScalar, rusqlite::types::FromSql, |row| row
    .get::<_, O>(0)?);

/// A column of `row` by name, looked for first where the struct's field order puts it (most
/// queries select the fields in that order), so reading a row is not a search per column.
pub fn column<T: rusqlite::types::FromSql>(
    row: &rusqlite::Row<'_>,
    position: usize,
    name: &str,
) -> Result<T, Error> {
    let statement: &rusqlite::Statement<'_> = row.as_ref();
    if statement.column_name(position).is_ok_and(|n| n == name) {
        row.get(position)
    } else {
        row.get(name)
    }
}

/// Declares a stored row: the struct, readable by sqlx on PostgreSQL and by column name here.
macro_rules! stored_row {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $($(#[$field_meta:meta])* $field_vis:vis $field:ident : $ty:ty),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(sqlx::FromRow)]
        $vis struct $name {
            $($(#[$field_meta])* $field_vis $field: $ty),*
        }

        impl $crate::sqlite::FromRow for $name {
            // The last field's position is counted and never read.
            #[allow(unused_assignments)]
            fn from_row(row: &rusqlite::Row<'_>) -> Result<Self, $crate::sqlite::Error> {
                let mut position = 0usize;
                Ok($name {
                    $($field: {
                        let value = $crate::sqlite::column(row, position, stringify!($field))?;
                        position += 1;
                        value
                    }),*
                })
            }
        }
    };
}
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_numbered_by_their_name() {
        assert_eq!(numbered("$1"), Some(1));
        assert_eq!(numbered("?12"), Some(12));
        assert_eq!(numbered("$0"), None);
        assert_eq!(numbered(":name"), None);
    }

    #[tokio::test]
    async fn committed_pages_reach_the_database_file_without_the_writer_checkpointing(
    ) -> Result<(), crate::StoreError> {
        let dir = std::env::temp_dir().join(format!("rapport-checkpoint-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let store = crate::Store::open_sqlite(&dir).await?;
        store.create_reference_table().await?;
        let before = std::fs::metadata(dir.join("rapport.db")).map_or(0, |m| m.len());
        // About 8 MiB: past SQLite's own 1,000-page checkpoint, short of the writer's backstop.
        let payload = "x".repeat(4096);
        for _ in 0..2000 {
            store.reference_commit(&payload).await?;
        }
        let mut after = before;
        for _ in 0..100 {
            after = std::fs::metadata(dir.join("rapport.db")).map_or(0, |m| m.len());
            if after > before + 8_000_000 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(
            after > before + 8_000_000,
            "the database file grew from {before} to {after} bytes only"
        );
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }

    #[tokio::test]
    async fn placeholders_bind_by_number_in_any_order() -> Result<(), Error> {
        let dir = std::env::temp_dir().join(format!("rapport-sqlite-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| Error::ToSqlConversionFailure(Box::new(e)))?;
        let mut conn = Conn::open(
            &dir.join("t.db"),
            Settings {
                synchronous: "NORMAL",
                cache_kib: 1024,
                query_only: false,
            },
        )?;
        conn.batch("CREATE TABLE t (a INTEGER, b TEXT, c INTEGER)")?;
        let done = query("INSERT INTO t (c, b, a) VALUES ($2, $3, $2 + $1)")
            .bind(1_i64)
            .bind(10_i64)
            .bind("x")
            .execute(&mut conn)
            .await?;
        assert_eq!(done.rows_affected(), 1);
        let row: (i64, String, i64) = query_as("SELECT a, b, c FROM t")
            .fetch_one(&mut conn)
            .await?;
        assert_eq!(row, (11, "x".to_string(), 10));
        let none: Option<i64> = query_scalar("SELECT a FROM t WHERE b = $1")
            .bind("y")
            .fetch_optional(&mut conn)
            .await?;
        assert_eq!(none, None);
        let missing = query("INSERT INTO t (a) VALUES ($2)")
            .bind(1_i64)
            .execute(&mut conn)
            .await;
        assert!(missing.is_err(), "{missing:?}");
        drop(conn);
        let _ = std::fs::remove_dir_all(&dir);
        Ok(())
    }
}
