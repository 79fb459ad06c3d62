//! Bulk loading, for imports and benchmarks: many rows per statement, big transactions,
//! and rebuilding what consumers would otherwise derive row by row.

use crate::{bind_all, run, Arg, Cursor, Dialect, Result, Store, StoreError, Tx};

/// A value in a bulk-loaded row.
#[derive(Debug, Clone)]
pub enum Value {
    Int(i64),
    Text(String),
    Null,
}

/// Tables that may be bulk-loaded, with explicit ids.
const BULK_TABLES: &[&str] = &[
    "organizations",
    "customers",
    "customer_identities",
    "conversations",
    "conversation_tags",
    "messages",
    "events",
];

/// The `(..), (..)` list of a multi-row INSERT for `rows`, with the arguments to bind:
/// `NULL` is written into the statement, the other values are bound. SQLite gets anonymous
/// `?` placeholders (looking up numbered ones by name is linear in their count), PostgreSQL
/// numbered ones. Keep a statement under 8,000 values (SQLite's limit is 32,766).
pub(crate) fn values_list(dialect: Dialect, rows: &[Vec<Value>]) -> (String, Vec<Arg>) {
    let numbered = dialect == Dialect::Postgres;
    let mut sql = String::with_capacity(rows.len() * 32);
    let mut args: Vec<Arg> = Vec::with_capacity(rows.iter().map(Vec::len).sum());
    for (i, row) in rows.iter().enumerate() {
        sql.push_str(if i == 0 { "(" } else { ", (" });
        for (j, value) in row.iter().enumerate() {
            if j > 0 {
                sql.push_str(", ");
            }
            match value {
                Value::Null => sql.push_str("NULL"),
                Value::Int(v) => args.push(Arg::Int(*v)),
                Value::Text(v) => args.push(Arg::Text(v.clone())),
            }
            match value {
                Value::Null => {}
                _ if numbered => sql.push_str(&format!("${}", args.len())),
                _ => sql.push('?'),
            }
        }
        sql.push(')');
    }
    (sql, args)
}

impl Tx {
    /// Inserts `rows` into `table` (one of the bulk-loadable tables) with multi-row INSERTs.
    pub async fn insert_rows(
        &mut self,
        table: &str,
        columns: &[&str],
        rows: &[Vec<Value>],
    ) -> Result<()> {
        if !BULK_TABLES.contains(&table) {
            return Err(StoreError::Corrupt(format!("{table} is not bulk-loadable")));
        }
        if rows.is_empty() || columns.is_empty() {
            return Ok(());
        }
        // Stay well under SQLite's limit of 32,766 parameters per statement.
        let per_statement = (8_000 / columns.len()).max(1);
        for chunk in rows.chunks(per_statement) {
            if let Some(row) = chunk.iter().find(|row| row.len() != columns.len()) {
                return Err(StoreError::Corrupt(format!(
                    "a row for {table} has {} values for {} columns",
                    row.len(),
                    columns.len()
                )));
            }
            let (values, args) = values_list(self.dialect(), chunk);
            let sql = format!(
                "INSERT INTO {table} ({}) VALUES {values}",
                columns.join(", ")
            );
            run!(tx self, |c| bind_all!(sqlx::query(&sql), &args).execute(&mut *c).await.map(|_| ())?);
        }
        Ok(())
    }
}

impl Store {
    /// After loading rows with explicit ids on PostgreSQL, moves each id sequence past
    /// the largest id, so that ordinary inserts continue from there.
    pub async fn reset_sequences(&self) -> Result<()> {
        if self.dialect() != Dialect::Postgres {
            return Ok(());
        }
        let mut tx = self.begin().await?;
        for (table, column) in [
            ("organizations", "id"),
            ("customers", "id"),
            ("customer_identities", "id"),
            ("conversations", "number"),
            ("messages", "id"),
            ("events", "id"),
        ] {
            let sql = format!("SELECT setval(pg_get_serial_sequence('{table}', '{column}'), GREATEST((SELECT MAX({column}) FROM {table}), 1))");
            run!(tx &mut tx, |c| sqlx::query(&sql).execute(&mut *c).await.map(|_| ())?);
        }
        tx.commit().await
    }

    /// Rebuilds the full-text index from every message at once and moves the search
    /// consumer's cursor to the end of the log (for bulk loads; the consumer keeps it
    /// current from then on). Returns the number of messages indexed.
    pub async fn rebuild_search_index(&self, consumer: &str, now: i64) -> Result<u64> {
        let mut tx = self.begin().await?;
        let indexed = match &mut tx {
            Tx::Sqlite(t) => {
                crate::sqlite::query("DELETE FROM message_search")
                    .execute(&mut **t)
                    .await?;
                crate::sqlite::query(
                    "INSERT INTO message_search (rowid, subject, body) \
                     SELECT m.id, c.subject, m.body_text FROM messages m JOIN conversations c ON c.number = m.conversation",
                )
                .execute(&mut **t)
                .await?
                .rows_affected()
            }
            Tx::Postgres(t) => {
                sqlx::query("TRUNCATE message_search")
                    .execute(&mut **t)
                    .await?;
                sqlx::query(
                    "INSERT INTO message_search (message_id, doc) \
                     SELECT m.id, setweight(to_tsvector('simple', c.subject), 'A') || to_tsvector('simple', m.body_text) \
                     FROM messages m JOIN conversations c ON c.number = m.conversation",
                )
                .execute(&mut **t)
                .await?
                .rows_affected()
            }
        };
        tx.flush_events().await?;
        let last: Option<(i64, i64)> = match &mut tx {
            Tx::Sqlite(t) => {
                crate::sqlite::query_as("SELECT tx_pos, id FROM events ORDER BY id DESC LIMIT 1")
                    .fetch_optional(&mut **t)
                    .await?
            }
            Tx::Postgres(t) => sqlx::query_as(
                "SELECT tx_pos::text::bigint, id FROM events ORDER BY events.tx_pos DESC, events.id DESC LIMIT 1",
            )
            .fetch_optional(&mut **t)
            .await?,
        };
        if let Some((tx_pos, event_id)) = last {
            tx.lock_cursor(consumer, now).await?;
            tx.set_cursor(consumer, Cursor { tx_pos, event_id }, now)
                .await?;
        }
        tx.commit().await?;
        Ok(indexed)
    }

    /// Gathers planner statistics after a bulk load.
    pub async fn analyze(&self) -> Result<()> {
        let mut tx = self.begin().await?;
        run!(tx &mut tx, |c| sqlx::query("ANALYZE").execute(&mut *c).await.map(|_| ())?);
        tx.commit().await
    }

    /// Creates the scratch table of the benchmarks' reference measurement.
    pub async fn create_reference_table(&self) -> Result<()> {
        let create = match self.dialect() {
            Dialect::Sqlite => "CREATE TABLE IF NOT EXISTS bench_reference (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)",
            Dialect::Postgres => "CREATE TABLE IF NOT EXISTS bench_reference (id BIGSERIAL PRIMARY KEY, payload TEXT NOT NULL)",
        };
        let mut tx = self.begin().await?;
        run!(tx &mut tx, |c| sqlx::query(create).execute(&mut *c).await.map(|_| ())?);
        tx.commit().await
    }

    /// The benchmarks' reference: one single-row transaction into the scratch table, with
    /// the store's own durability settings.
    pub async fn reference_commit(&self, payload: &str) -> Result<()> {
        let mut tx = self.begin().await?;
        run!(tx &mut tx, |c| sqlx::query("INSERT INTO bench_reference (payload) VALUES ($1)").bind(payload).execute(&mut *c).await.map(|_| ())?);
        tx.commit().await
    }

    pub async fn drop_reference_table(&self) -> Result<()> {
        let mut tx = self.begin().await?;
        run!(tx &mut tx, |c| sqlx::query("DROP TABLE IF EXISTS bench_reference").execute(&mut *c).await.map(|_| ())?);
        tx.commit().await
    }
}

/// The benchmarks' raw SQLite reference: `count` single-row transactions on a plain
/// connection to a scratch database in `dir`, with the same settings as the store (WAL,
/// synchronous=FULL), and no group commit. The caller times it.
pub async fn sqlite_reference_commits(dir: &std::path::Path, count: u32) -> Result<()> {
    let conn = reference_connection(&dir.join("bench-reference.db"))?;
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS bench_reference (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)",
    )?;
    for _ in 0..count {
        conn.execute_batch("BEGIN IMMEDIATE")?;
        conn.prepare_cached("INSERT INTO bench_reference (payload) VALUES (?1)")?
            .execute(["{\"reference\": true}"])?;
        conn.execute_batch("COMMIT")?;
    }
    Ok(())
}

/// A plain connection with the store's durability settings: WAL, `synchronous = FULL`.
fn reference_connection(path: &std::path::Path) -> Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)?;
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    conn.execute_batch("PRAGMA synchronous = FULL")?;
    Ok(conn)
}

/// One parsed inbound message for [`SqliteMailReference`].
pub struct ReferenceMail<'a> {
    pub raw: &'a [u8],
    pub message_id: &'a str,
    pub from: &'a str,
    pub subject: &'a str,
}

/// The mail benchmark's raw ceiling: a plain SQLite connection to a scratch database with the
/// store's durability settings (WAL, synchronous=FULL), inserting each message's raw bytes, its
/// fields and one event, many messages per commit. No use cases, no protocol.
pub struct SqliteMailReference {
    conn: rusqlite::Connection,
    path: std::path::PathBuf,
}

impl SqliteMailReference {
    pub async fn open(dir: &std::path::Path) -> Result<SqliteMailReference> {
        let path = dir.join("bench-mail-reference.db");
        let conn = reference_connection(&path)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS ref_blobs (sha256 TEXT PRIMARY KEY, data BLOB NOT NULL);
             CREATE TABLE IF NOT EXISTS ref_mail (id INTEGER PRIMARY KEY, raw_sha256 TEXT NOT NULL, message_id TEXT, sender TEXT, subject TEXT);
             CREATE TABLE IF NOT EXISTS ref_events (id INTEGER PRIMARY KEY, kind TEXT NOT NULL, payload TEXT NOT NULL);",
        )?;
        Ok(SqliteMailReference { conn, path })
    }

    /// Inserts the messages in one transaction.
    pub async fn insert_batch(&mut self, mails: &[ReferenceMail<'_>]) -> Result<()> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for mail in mails {
            let address = crate::conversations::blob_address(mail.raw);
            tx.prepare_cached(
                "INSERT INTO ref_blobs (sha256, data) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            )?
            .execute(rusqlite::params![address, mail.raw])?;
            let id: i64 = tx
                .prepare_cached("INSERT INTO ref_mail (raw_sha256, message_id, sender, subject) VALUES (?1, ?2, ?3, ?4) RETURNING id")?
                .query_row(rusqlite::params![address, mail.message_id, mail.from, mail.subject], |row| row.get(0))?;
            tx.prepare_cached(
                "INSERT INTO ref_events (kind, payload) VALUES ('mail_received', ?1)",
            )?
            .execute([format!("{{\"inbound_id\":{id}}}")])?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Closes the connection and deletes the scratch database.
    pub async fn remove(self) -> Result<()> {
        self.conn.close().map_err(|(_, err)| err)?;
        for suffix in ["", "-wal", "-shm"] {
            let mut name = self.path.clone().into_os_string();
            name.push(suffix);
            let _ = std::fs::remove_file(name);
        }
        Ok(())
    }
}
