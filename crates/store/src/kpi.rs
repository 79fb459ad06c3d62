//! Management information: the KPI roll-up buckets, the per-conversation facts of the roll-up
//! consumer, the administrators' KPI settings, and the drill-down from a figure to its
//! conversations.

use crate::{run, Dialect, Result, Store, Tx};

stored_row! {
    /// One roll-up bucket (see `kpi::fold::Aggregate`).
    #[derive(Debug, Clone, PartialEq)]
    pub struct KpiRollupRow {
        pub dim: String,
        pub dim_value: String,
        pub measure: String,
        pub day: i64,
        pub n: i64,
        pub total: f64,
        pub total_sq: f64,
        pub hist: String,
    }
}

stored_row! {
    /// What the roll-up consumer remembers of a conversation.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct KpiFactsRow {
        pub conversation_id: i64,
        pub created_at: i64,
        pub first_reply_at: Option<i64>,
        pub first_solved_at: Option<i64>,
        pub reopened_at: Option<i64>,
        pub group_id: Option<i64>,
        pub assignee_id: Option<i64>,
        /// The rest of `kpi::ConversationFacts`, as `ConversationFacts::encode` writes it.
        pub facts: String,
    }
}

stored_row! {
    /// An administrator's change to a KPI's target, thresholds or owner.
    #[derive(Debug, Clone, PartialEq)]
    pub struct KpiSettingsRow {
        pub key: String,
        pub target: Option<f64>,
        pub amber: Option<f64>,
        pub red: Option<f64>,
        pub owner: String,
        pub updated_at: i64,
    }
}

/// Which instant of a conversation a drill-down selects on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrillOn {
    Created,
    FirstReply,
    FirstSolved,
    Reopened,
}

impl DrillOn {
    fn column(self) -> &'static str {
        match self {
            DrillOn::Created => "created_at",
            DrillOn::FirstReply => "first_reply_at",
            DrillOn::FirstSolved => "first_solved_at",
            DrillOn::Reopened => "reopened_at",
        }
    }
}

/// Rows per multi-row statement (8 columns each stays far below either database's limit on
/// bound parameters).
const CHUNK: usize = 500;

/// SQLite: facts of a refold through one prepared statement, each value bound where it lies
/// (the query facade would look the statement up and copy every text, per row: a refold writes
/// a row per conversation of the log). An upsert: a conversation written early and met again
/// later in the log is written again.
fn put_facts_sqlite(conn: &mut crate::sqlite::Conn, rows: &[KpiFactsRow]) -> Result<()> {
    let mut insert = conn.raw().prepare_cached(
        "INSERT INTO kpi_conversations (conversation_id, created_at, first_reply_at, first_solved_at, reopened_at, group_id, assignee_id, facts) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (conversation_id) DO UPDATE SET created_at = excluded.created_at, \
         first_reply_at = excluded.first_reply_at, first_solved_at = excluded.first_solved_at, \
         reopened_at = excluded.reopened_at, group_id = excluded.group_id, assignee_id = excluded.assignee_id, facts = excluded.facts",
    )?;
    for r in rows {
        insert.execute(rusqlite::params![
            r.conversation_id,
            r.created_at,
            r.first_reply_at,
            r.first_solved_at,
            r.reopened_at,
            r.group_id,
            r.assignee_id,
            r.facts,
        ])?;
    }
    Ok(())
}

/// SQLite: the stored facts of these conversations, one prepared point look-up each (a
/// statement with hundreds of parameters would be prepared again for every batch size).
fn facts_sqlite(conn: &mut crate::sqlite::Conn, conversations: &[i64]) -> Result<Vec<KpiFactsRow>> {
    let mut select = conn.raw().prepare_cached(
        "SELECT conversation_id, created_at, first_reply_at, first_solved_at, reopened_at, group_id, assignee_id, facts \
         FROM kpi_conversations WHERE conversation_id = ?1",
    )?;
    let mut out = Vec::with_capacity(conversations.len());
    for id in conversations {
        let mut rows = select.query([id])?;
        if let Some(row) = rows.next()? {
            out.push(KpiFactsRow {
                conversation_id: row.get(0)?,
                created_at: row.get(1)?,
                first_reply_at: row.get(2)?,
                first_solved_at: row.get(3)?,
                reopened_at: row.get(4)?,
                group_id: row.get(5)?,
                assignee_id: row.get(6)?,
                facts: row.get(7)?,
            });
        }
    }
    Ok(out)
}

/// SQLite: the stored buckets of these keys, one prepared point look-up each.
fn rollups_of_keys_sqlite(
    conn: &mut crate::sqlite::Conn,
    keys: &[KpiRollupKey<'_>],
) -> Result<Vec<KpiRollupRow>> {
    let mut select = conn.raw().prepare_cached(
        "SELECT dim, dim_value, measure, day, n, total, total_sq, hist FROM kpi_rollups \
         WHERE dim = ?1 AND dim_value = ?2 AND measure = ?3 AND day = ?4",
    )?;
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let mut rows = select.query(rusqlite::params![
            key.dim,
            key.dim_value,
            key.measure,
            key.day
        ])?;
        if let Some(row) = rows.next()? {
            out.push(KpiRollupRow {
                dim: row.get(0)?,
                dim_value: row.get(1)?,
                measure: row.get(2)?,
                day: row.get(3)?,
                n: row.get(4)?,
                total: row.get(5)?,
                total_sq: row.get(6)?,
                hist: row.get(7)?,
            });
        }
    }
    Ok(out)
}

/// SQLite: writes (inserts or replaces) buckets, one prepared statement.
fn put_rollups_sqlite(conn: &mut crate::sqlite::Conn, rows: &[KpiRollupRow]) -> Result<()> {
    let mut upsert = conn.raw().prepare_cached(
        "INSERT INTO kpi_rollups (dim, dim_value, measure, day, n, total, total_sq, hist) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (dim, dim_value, measure, day) DO UPDATE SET \
         n = excluded.n, total = excluded.total, total_sq = excluded.total_sq, hist = excluded.hist",
    )?;
    for r in rows {
        upsert.execute(rusqlite::params![
            r.dim,
            r.dim_value,
            r.measure,
            r.day,
            r.n,
            r.total,
            r.total_sq,
            r.hist,
        ])?;
    }
    Ok(())
}

/// A day on which a batch touches at least this many buckets has its stored buckets read in one
/// scan of the day (its index, `kpi_rollups_day`) instead of a look-up of each key: a live batch
/// touches most buckets of its day or two (a slice and measure each), and one statement that
/// walks a day's rows costs less than hundreds of searches of the text key. A day touched by a
/// few late facts (an answer to an old survey) is looked up bucket by bucket.
const DAY_SCAN_MIN: usize = 64;

/// SQLite: the stored counts (and rowids) of the buckets of `rows` on the days they touch often
/// (see [`DAY_SCAN_MIN`]): `found[i]` is set for every row `i` of those days, `None` when the
/// key is not stored. Rows of other days are left for a look-up each.
fn scan_rollup_days(
    raw: &rusqlite::Connection,
    rows: &[KpiRollupRow],
    found: &mut [Option<Option<(i64, KpiRollupRow)>>],
) -> Result<()> {
    use std::collections::HashMap;
    use std::hash::BuildHasher;
    let mut by_day: HashMap<i64, Vec<usize>> = HashMap::new();
    for (i, row) in rows.iter().enumerate() {
        by_day.entry(row.day).or_default().push(i);
    }
    let mut scan = raw.prepare_cached(
        "SELECT rowid, dim, dim_value, measure, n, total, total_sq, hist FROM kpi_rollups WHERE day = ?1",
    )?;
    let hasher = std::collections::hash_map::RandomState::new();
    for (day, indices) in by_day {
        if indices.len() < DAY_SCAN_MIN {
            continue;
        }
        // The batch's keys of the day by the hash of their texts (a stored row's texts are
        // hashed where they lie, not copied); two keys with one hash are looked up instead.
        let mut wanted: HashMap<u64, Option<usize>> = HashMap::with_capacity(indices.len());
        for &i in &indices {
            let Some(row) = rows.get(i) else { continue };
            let hash = hasher.hash_one((
                row.dim.as_str(),
                row.dim_value.as_str(),
                row.measure.as_str(),
            ));
            wanted
                .entry(hash)
                .and_modify(|slot| *slot = None)
                .or_insert(Some(i));
        }
        let mut stored = scan.query([day])?;
        while let Some(r) = stored.next()? {
            let text = |column: usize| -> Result<&str> {
                r.get_ref(column)?
                    .as_str()
                    .map_err(|e| crate::StoreError::Corrupt(format!("a roll-up of day {day}: {e}")))
            };
            let (dim, dim_value, measure) = (text(1)?, text(2)?, text(3)?);
            let hash = hasher.hash_one((dim, dim_value, measure));
            let Some(&Some(i)) = wanted.get(&hash) else {
                continue;
            };
            let (Some(row), Some(slot)) = (rows.get(i), found.get_mut(i)) else {
                continue;
            };
            if row.dim != dim || row.dim_value != dim_value || row.measure != measure {
                continue;
            }
            *slot = Some(Some((
                r.get(0)?,
                KpiRollupRow {
                    dim: String::new(),
                    dim_value: String::new(),
                    measure: String::new(),
                    day,
                    n: r.get(4)?,
                    total: r.get(5)?,
                    total_sq: r.get(6)?,
                    hist: r.get(7)?,
                },
            )));
        }
        // Every other key of the day with a hash of its own is not stored.
        for i in wanted.into_values().flatten() {
            if let Some(slot @ None) = found.get_mut(i) {
                *slot = Some(None);
            }
        }
    }
    Ok(())
}

/// SQLite: [`Tx::merge_kpi_rollups`] a bucket at a time: the stored row of each key, from the
/// scan of its day ([`scan_rollup_days`]) or else one look-up by key (which also gives the
/// row's rowid), then the merged row written back by rowid (no second search of the key's
/// index; the key columns do not change, so no index is touched) or the new row inserted.
fn merge_rollups_sqlite<F>(
    conn: &mut crate::sqlite::Conn,
    rows: &mut [KpiRollupRow],
    fill: &mut F,
) -> Result<()>
where
    F: FnMut(usize, Option<&KpiRollupRow>, &mut KpiRollupRow) -> std::result::Result<(), String>,
{
    let raw = conn.raw();
    let mut found: Vec<Option<Option<(i64, KpiRollupRow)>>> = vec![None; rows.len()];
    scan_rollup_days(raw, rows, &mut found)?;
    let mut select = raw.prepare_cached(
        "SELECT rowid, n, total, total_sq, hist FROM kpi_rollups \
         WHERE dim = ?1 AND dim_value = ?2 AND measure = ?3 AND day = ?4",
    )?;
    let mut update = raw.prepare_cached(
        "UPDATE kpi_rollups SET n = ?1, total = ?2, total_sq = ?3, hist = ?4 WHERE rowid = ?5",
    )?;
    let mut insert = raw.prepare_cached(
        "INSERT INTO kpi_rollups (dim, dim_value, measure, day, n, total, total_sq, hist) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for ((i, row), scanned) in rows.iter_mut().enumerate().zip(found) {
        let stored = match scanned {
            Some(stored) => stored,
            None => {
                let mut found = select.query(rusqlite::params![
                    row.dim,
                    row.dim_value,
                    row.measure,
                    row.day
                ])?;
                match found.next()? {
                    Some(r) => Some((
                        r.get::<_, i64>(0)?,
                        KpiRollupRow {
                            dim: String::new(),
                            dim_value: String::new(),
                            measure: String::new(),
                            day: row.day,
                            n: r.get(1)?,
                            total: r.get(2)?,
                            total_sq: r.get(3)?,
                            hist: r.get(4)?,
                        },
                    )),
                    None => None,
                }
            }
        };
        match stored {
            Some((rowid, old)) => {
                fill(i, Some(&old), row).map_err(crate::StoreError::Corrupt)?;
                update.execute(rusqlite::params![
                    row.n,
                    row.total,
                    row.total_sq,
                    row.hist,
                    rowid
                ])?;
            }
            None => {
                fill(i, None, row).map_err(crate::StoreError::Corrupt)?;
                insert.execute(rusqlite::params![
                    row.dim,
                    row.dim_value,
                    row.measure,
                    row.day,
                    row.n,
                    row.total,
                    row.total_sq,
                    row.hist,
                ])?;
            }
        }
    }
    Ok(())
}

/// The key of a roll-up bucket (the columns of `kpi_rollups`' primary key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KpiRollupKey<'a> {
    pub dim: &'a str,
    pub dim_value: &'a str,
    pub measure: &'a str,
    pub day: i64,
}

/// SQLite: the buckets of a refold, one prepared statement, in key order.
fn insert_rollups_sqlite(conn: &mut crate::sqlite::Conn, rollups: &[KpiRollupRow]) -> Result<()> {
    let mut insert = conn.raw().prepare(
        "INSERT INTO kpi_rollups (dim, dim_value, measure, day, n, total, total_sq, hist) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for r in rollups {
        insert.execute(rusqlite::params![
            r.dim,
            r.dim_value,
            r.measure,
            r.day,
            r.n,
            r.total,
            r.total_sq,
            r.hist,
        ])?;
    }
    Ok(())
}

/// A refold in progress in a transaction: [`Tx::begin_kpi_refold`] emptied the buckets and
/// set up the table the facts go into, [`Tx::put_refold_facts`] writes facts as the fold
/// finishes with them (and [`Tx::refold_facts`] reads back those it meets again), and
/// [`Tx::finish_kpi_refold`] writes the buckets and builds the facts' indexes.
#[derive(Debug)]
pub struct KpiRefold {
    facts_table: &'static str,
    /// The facts' secondary indexes as (name, the SQL that creates it), built at the end.
    indexes: Vec<(String, String)>,
    /// PostgreSQL: the name of the facts' primary key.
    primary_key: String,
}

/// The fresh facts table a refold fills on PostgreSQL (see [`Tx::begin_kpi_refold`]).
const NEXT_FACTS: &str = "kpi_conversations_next";

/// `rows` tuples of `columns` placeholders. SQLite gets anonymous `?`: it looks numbered ones
/// up by name, linearly in their count, which made big statements quadratic.
fn placeholders(dialect: Dialect, rows: usize, columns: usize) -> String {
    let mut sql = String::with_capacity(rows * columns * 5);
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        for c in 0..columns {
            if c > 0 {
                sql.push(',');
            }
            if dialect == Dialect::Sqlite {
                sql.push('?');
            } else {
                sql.push('$');
                sql.push_str(&(r * columns + c + 1).to_string());
            }
        }
        sql.push(')');
    }
    sql
}

fn list(dialect: Dialect, count: usize) -> String {
    let tuple = placeholders(dialect, 1, count);
    tuple[1..tuple.len() - 1].to_string()
}

impl Tx {
    /// The stored facts of these conversations.
    pub async fn kpi_facts(&mut self, conversations: &[i64]) -> Result<Vec<KpiFactsRow>> {
        if let Tx::Sqlite(t) = self {
            return facts_sqlite(t, conversations);
        }
        let mut out = Vec::with_capacity(conversations.len());
        for chunk in conversations.chunks(CHUNK) {
            let sql = format!(
                "SELECT conversation_id, created_at, first_reply_at, first_solved_at, reopened_at, group_id, assignee_id, facts \
                 FROM kpi_conversations WHERE conversation_id IN ({})",
                list(self.dialect(), chunk.len())
            );
            run!(tx self, |c| {
                let mut q = sqlx::query_as(&sql);
                for id in chunk {
                    q = q.bind(id);
                }
                out.extend(q.fetch_all(&mut *c).await?);
            });
        }
        Ok(out)
    }

    /// Writes (inserts or replaces) conversations' facts, each conversation at most once.
    pub async fn put_kpi_facts(&mut self, rows: &[KpiFactsRow]) -> Result<()> {
        self.upsert_facts("kpi_conversations", rows).await
    }

    /// Inserts or replaces facts in `table`: on SQLite one row per statement (one statement
    /// prepared, its values bound where they lie), on PostgreSQL many rows per statement
    /// (round trips count there).
    async fn upsert_facts(&mut self, table: &str, rows: &[KpiFactsRow]) -> Result<()> {
        if let Tx::Sqlite(t) = self {
            // SQLite refolds in place: its facts are always in kpi_conversations.
            debug_assert_eq!(table, "kpi_conversations");
            return put_facts_sqlite(t, rows);
        }
        for chunk in rows.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO {table} (conversation_id, created_at, first_reply_at, first_solved_at, reopened_at, group_id, assignee_id, facts) \
                 VALUES {} ON CONFLICT (conversation_id) DO UPDATE SET created_at = excluded.created_at, \
                 first_reply_at = excluded.first_reply_at, first_solved_at = excluded.first_solved_at, \
                 reopened_at = excluded.reopened_at, group_id = excluded.group_id, assignee_id = excluded.assignee_id, facts = excluded.facts",
                placeholders(self.dialect(), chunk.len(), 8)
            );
            run!(tx self, |c| {
                let mut q = sqlx::query(&sql);
                for r in chunk {
                    q = q.bind(r.conversation_id).bind(r.created_at).bind(r.first_reply_at).bind(r.first_solved_at)
                        .bind(r.reopened_at).bind(r.group_id).bind(r.assignee_id).bind(&r.facts);
                }
                q.execute(&mut *c).await?;
            });
        }
        Ok(())
    }

    /// The stored buckets of these keys (those that exist, in no particular order): the
    /// consumer merges a batch into the buckets it touches, and only into those.
    pub async fn kpi_rollups_of_keys(
        &mut self,
        keys: &[KpiRollupKey<'_>],
    ) -> Result<Vec<KpiRollupRow>> {
        if let Tx::Sqlite(t) = self {
            return rollups_of_keys_sqlite(t, keys);
        }
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(CHUNK) {
            let sql = format!(
                "SELECT dim, dim_value, measure, day, n, total, total_sq, hist FROM kpi_rollups \
                 WHERE (dim, dim_value, measure, day) IN ({})",
                placeholders(self.dialect(), chunk.len(), 4)
            );
            run!(tx self, |c| {
                let mut q = sqlx::query_as(&sql);
                for key in chunk {
                    q = q.bind(key.dim).bind(key.dim_value).bind(key.measure).bind(key.day);
                }
                out.extend(q.fetch_all(&mut *c).await?);
            });
        }
        Ok(out)
    }

    /// Writes (inserts or replaces) buckets, each key at most once.
    pub async fn put_kpi_rollups(&mut self, rows: &[KpiRollupRow]) -> Result<()> {
        if let Tx::Sqlite(t) = self {
            return put_rollups_sqlite(t, rows);
        }
        for chunk in rows.chunks(CHUNK) {
            let sql = format!(
                "INSERT INTO kpi_rollups (dim, dim_value, measure, day, n, total, total_sq, hist) VALUES {} \
                 ON CONFLICT (dim, dim_value, measure, day) DO UPDATE SET n = excluded.n, total = excluded.total, \
                 total_sq = excluded.total_sq, hist = excluded.hist",
                placeholders(self.dialect(), chunk.len(), 8)
            );
            run!(tx self, |c| {
                let mut q = sqlx::query(&sql);
                for r in chunk {
                    q = q.bind(&r.dim).bind(&r.dim_value).bind(&r.measure).bind(r.day).bind(r.n)
                        .bind(r.total).bind(r.total_sq).bind(&r.hist);
                }
                q.execute(&mut *c).await?;
            });
        }
        Ok(())
    }

    /// Merges a batch's buckets into the stored ones and writes them: `rows` holds each
    /// bucket's key (each key at most once); `fill(i, stored, row)` writes row `i`'s counts,
    /// given the counts stored for its key, if any (only the counts: its key columns may be
    /// empty), then the row is written back. On SQLite a
    /// bucket at a time (a look-up, then an update by rowid or an insert); on PostgreSQL the
    /// stored rows of all keys are read first and the rows written in multi-row upserts. An
    /// error from `fill` (a stored row that does not read) is [`crate::StoreError::Corrupt`].
    pub async fn merge_kpi_rollups<F>(
        &mut self,
        rows: &mut [KpiRollupRow],
        mut fill: F,
    ) -> Result<()>
    where
        F: FnMut(
            usize,
            Option<&KpiRollupRow>,
            &mut KpiRollupRow,
        ) -> std::result::Result<(), String>,
    {
        if let Tx::Sqlite(t) = self {
            return merge_rollups_sqlite(t, rows, &mut fill);
        }
        let keys: Vec<KpiRollupKey<'_>> = rows
            .iter()
            .map(|row| KpiRollupKey {
                dim: &row.dim,
                dim_value: &row.dim_value,
                measure: &row.measure,
                day: row.day,
            })
            .collect();
        let stored = self.kpi_rollups_of_keys(&keys).await?;
        let mut by_key: std::collections::HashMap<(&str, &str, &str, i64), &KpiRollupRow> = stored
            .iter()
            .map(|r| {
                (
                    (
                        r.dim.as_str(),
                        r.dim_value.as_str(),
                        r.measure.as_str(),
                        r.day,
                    ),
                    r,
                )
            })
            .collect();
        let mut old: Vec<Option<&KpiRollupRow>> = Vec::with_capacity(rows.len());
        for row in rows.iter() {
            let key = (
                row.dim.as_str(),
                row.dim_value.as_str(),
                row.measure.as_str(),
                row.day,
            );
            old.push(by_key.remove(&key));
        }
        drop(by_key);
        for (i, (row, old)) in rows.iter_mut().zip(old).enumerate() {
            fill(i, old, row).map_err(crate::StoreError::Corrupt)?;
        }
        self.put_kpi_rollups(rows).await
    }

    /// Forgets every bucket and fact (a rebuild starts from the first event).
    pub async fn clear_kpi_rollups(&mut self) -> Result<()> {
        run!(tx self, |c| {
            sqlx::query("DELETE FROM kpi_rollups").execute(&mut *c).await?;
            sqlx::query("DELETE FROM kpi_conversations").execute(&mut *c).await?;
        });
        Ok(())
    }

    /// Starts replacing every bucket and every fact (a rebuild, or a refold from the start of
    /// the log): the facts are then written as the fold finishes with them
    /// ([`Tx::put_refold_facts`]), the buckets at the end ([`Tx::finish_kpi_refold`]). The
    /// facts' secondary indexes are built once, by sorting, at the end, instead of row by row:
    /// on SQLite they are dropped now and created again then (readers keep their snapshot
    /// meanwhile); on PostgreSQL, where dropping an index would lock the table against
    /// drill-downs until the commit, the facts go into a fresh table (with its primary key, for
    /// the upserts and read-backs) that gets its indexes and takes the old one's place at the
    /// very end, so drill-downs read the old facts meanwhile and wait only for the swap.
    pub async fn begin_kpi_refold(&mut self) -> Result<KpiRefold> {
        let indexes = self.secondary_indexes("kpi_conversations").await?;
        match self.dialect() {
            Dialect::Sqlite => {
                self.clear_kpi_rollups().await?;
                for (name, _) in &indexes {
                    let sql = format!("DROP INDEX {name}");
                    run!(tx self, |c| sqlx::query(&sql).execute(&mut *c).await.map(|_| ())?);
                }
                Ok(KpiRefold {
                    facts_table: "kpi_conversations",
                    indexes,
                    primary_key: String::new(),
                })
            }
            Dialect::Postgres => {
                const PRIMARY_KEY: &str = "SELECT conname::text FROM pg_constraint \
                     WHERE conrelid = to_regclass('kpi_conversations') AND contype = 'p'";
                let primary_key: String =
                    run!(tx self, |c| sqlx::query_scalar(PRIMARY_KEY).fetch_one(&mut *c).await?);
                let statements = [
                    "DELETE FROM kpi_rollups".to_string(),
                    format!("DROP TABLE IF EXISTS {NEXT_FACTS}"),
                    format!("CREATE TABLE {NEXT_FACTS} (LIKE kpi_conversations INCLUDING DEFAULTS)"),
                    format!(
                        "ALTER TABLE {NEXT_FACTS} ADD CONSTRAINT {primary_key}_next PRIMARY KEY (conversation_id)"
                    ),
                ];
                for sql in &statements {
                    run!(tx self, |c| sqlx::query(sql).execute(&mut *c).await.map(|_| ())?);
                }
                Ok(KpiRefold {
                    facts_table: NEXT_FACTS,
                    indexes,
                    primary_key,
                })
            }
        }
    }

    /// Writes facts of a refold (inserts or replaces: a conversation the fold wrote early and
    /// met again later is written again), each conversation at most once per call.
    pub async fn put_refold_facts(
        &mut self,
        refold: &KpiRefold,
        rows: &[KpiFactsRow],
    ) -> Result<()> {
        self.upsert_facts(refold.facts_table, rows).await
    }

    /// The facts a refold wrote so far for these conversations (the fold meets them again).
    pub async fn refold_facts(
        &mut self,
        refold: &KpiRefold,
        conversations: &[i64],
    ) -> Result<Vec<KpiFactsRow>> {
        let mut out = Vec::with_capacity(conversations.len());
        for chunk in conversations.chunks(CHUNK) {
            let sql = format!(
                "SELECT conversation_id, created_at, first_reply_at, first_solved_at, reopened_at, group_id, assignee_id, facts \
                 FROM {} WHERE conversation_id IN ({})",
                refold.facts_table,
                list(self.dialect(), chunk.len())
            );
            run!(tx self, |c| {
                let mut q = sqlx::query_as(&sql);
                for id in chunk {
                    q = q.bind(id);
                }
                out.extend(q.fetch_all(&mut *c).await?);
            });
        }
        Ok(out)
    }

    /// Ends a refold: writes every bucket (the emptied table, in key order, plain INSERTs)
    /// and builds the facts' indexes; on PostgreSQL the fresh facts table then takes the old
    /// one's place.
    pub async fn finish_kpi_refold(
        &mut self,
        refold: KpiRefold,
        rollups: &mut [KpiRollupRow],
    ) -> Result<()> {
        rollups.sort_unstable_by(|a, b| {
            (&a.dim, &a.dim_value, &a.measure, a.day).cmp(&(
                &b.dim,
                &b.dim_value,
                &b.measure,
                b.day,
            ))
        });
        if let Tx::Sqlite(t) = self {
            let conn: &mut crate::sqlite::Conn = t;
            insert_rollups_sqlite(conn, rollups)?;
            for (_, create) in &refold.indexes {
                conn.batch(create)?;
            }
            return Ok(());
        }
        const ROLLUPS: &str = "INSERT INTO kpi_rollups (dim, dim_value, measure, day, n, total, total_sq, hist) VALUES ";
        let dialect = self.dialect();
        let statement = |rows: usize| format!("{ROLLUPS}{}", placeholders(dialect, rows, 8));
        let full = statement(CHUNK);
        for chunk in rollups.chunks(CHUNK) {
            let partial;
            let sql = if chunk.len() == CHUNK {
                &full
            } else {
                partial = statement(chunk.len());
                &partial
            };
            run!(tx self, |c| {
                let mut q = sqlx::query(sql);
                for r in chunk {
                    q = q.bind(&r.dim).bind(&r.dim_value).bind(&r.measure).bind(r.day).bind(r.n)
                        .bind(r.total).bind(r.total_sq).bind(&r.hist);
                }
                q.execute(&mut *c).await?;
            });
        }
        self.swap_in_next_facts(&refold).await
    }

    /// PostgreSQL: gives the fresh facts table the old one's indexes (built by sorting, under
    /// names of their own), then drops the old table and renames the new one, its primary key
    /// and its indexes to the old names. Only from the drop on are drill-downs held up, until
    /// the commit.
    async fn swap_in_next_facts(&mut self, refold: &KpiRefold) -> Result<()> {
        let primary_key = &refold.primary_key;
        let mut statements = Vec::new();
        for (name, create) in &refold.indexes {
            // `CREATE INDEX name ON schema.kpi_conversations USING btree (column)`, as
            // pg_indexes writes it: the same index on the fresh table.
            let how = create
                .split_once(" USING ")
                .map(|(_, how)| how)
                .ok_or_else(|| {
                    crate::StoreError::Corrupt(format!("the index {name} reads {create:?}"))
                })?;
            statements.push(format!(
                "CREATE INDEX {name}_next ON {NEXT_FACTS} USING {how}"
            ));
        }
        statements.push("DROP TABLE kpi_conversations".to_string());
        statements.push(format!(
            "ALTER TABLE {NEXT_FACTS} RENAME TO kpi_conversations"
        ));
        statements.push(format!(
            "ALTER TABLE kpi_conversations RENAME CONSTRAINT {primary_key}_next TO {primary_key}"
        ));
        for (name, _) in &refold.indexes {
            statements.push(format!("ALTER INDEX {name}_next RENAME TO {name}"));
        }
        for sql in &statements {
            run!(tx self, |c| sqlx::query(sql).execute(&mut *c).await.map(|_| ())?);
        }
        Ok(())
    }

    /// The indexes of `table` other than its primary key, as (name, the SQL that creates it),
    /// read from the database's catalogue (so they stay as the migrations made them).
    async fn secondary_indexes(&mut self, table: &str) -> Result<Vec<(String, String)>> {
        let sql = match self.dialect() {
            Dialect::Sqlite => {
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = $1 AND sql IS NOT NULL ORDER BY name"
            }
            // The unique indexes (the primary key's) are left out here, not in the query: a
            // condition on `indexdef` may be evaluated on the indexes of every schema before
            // the schema and table conditions, and `pg_get_indexdef` of an index that another
            // session is dropping fails ("could not open relation with OID").
            Dialect::Postgres => {
                "SELECT indexname::text, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = $1 \
                 ORDER BY indexname"
            }
        };
        let postgres = self.dialect() == Dialect::Postgres;
        let indexes: Vec<(String, String)> =
            run!(tx self, |c| sqlx::query_as(sql).bind(table).fetch_all(&mut *c).await?);
        Ok(indexes
            .into_iter()
            .filter(|(_, sql)| !(postgres && sql.starts_with("CREATE UNIQUE INDEX")))
            .collect())
    }

    /// Records an administrator's KPI settings.
    pub async fn put_kpi_settings(&mut self, row: &KpiSettingsRow) -> Result<()> {
        run!(tx self, |c| {
            sqlx::query(
                "INSERT INTO kpi_settings (key, target, amber, red, owner, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (key) DO UPDATE SET target = excluded.target, amber = excluded.amber, red = excluded.red, \
                 owner = excluded.owner, updated_at = excluded.updated_at")
                .bind(&row.key).bind(row.target).bind(row.amber).bind(row.red).bind(&row.owner).bind(row.updated_at)
                .execute(&mut *c).await?;
        });
        Ok(())
    }
}

impl Store {
    /// True while `consumer` has not folded past the start of a log that has events (no cursor
    /// yet, or one rewound to the start): one cheap query, made by every KPI read.
    pub async fn consumer_at_start_of_log(&self, consumer: &str) -> Result<bool> {
        const SQL: &str = "SELECT CAST(CASE \
             WHEN EXISTS (SELECT 1 FROM consumer_cursors WHERE name = $1 AND event_id <> 0) THEN 0 \
             WHEN EXISTS (SELECT 1 FROM events) THEN 1 ELSE 0 END AS BIGINT)";
        let at_start: i64 =
            run!(read self, |p| sqlx::query_scalar(SQL).bind(consumer).fetch_one(p).await?);
        Ok(at_start != 0)
    }

    /// The buckets of one slice between two UTC days (`from_day` included, `to_day` not).
    pub async fn kpi_rollups(
        &self,
        dim: &str,
        dim_value: &str,
        from_day: i64,
        to_day: i64,
    ) -> Result<Vec<KpiRollupRow>> {
        const SQL: &str =
            "SELECT dim, dim_value, measure, day, n, total, total_sq, hist FROM kpi_rollups \
                           WHERE dim = $1 AND dim_value = $2 AND day >= $3 AND day < $4";
        run!(long_read self, |c| Ok(sqlx::query_as(SQL).bind(dim).bind(dim_value).bind(from_day).bind(to_day).fetch_all(c).await?))
    }

    /// The administrators' KPI settings.
    pub async fn kpi_settings(&self) -> Result<Vec<KpiSettingsRow>> {
        const SQL: &str =
            "SELECT key, target, amber, red, owner, updated_at FROM kpi_settings ORDER BY key";
        run!(read self, |c| Ok(sqlx::query_as(SQL).fetch_all(c).await?))
    }

    /// The creation instants of the conversations open now (new, open, pending, on hold),
    /// optionally of one group or one assignee: a page of at most `limit`, as `(number,
    /// created_at)` by number, of those numbered above `after`. Read page by page, so a large
    /// backlog (1.6M open conversations took 30 MB at once) is never held whole.
    pub async fn backlog_created_ats(
        &self,
        group: Option<i64>,
        assignee: Option<i64>,
        after: i64,
        limit: i64,
    ) -> Result<Vec<(i64, i64)>> {
        const SQL: &str = "SELECT number, created_at FROM conversations \
                           WHERE status IN ('new', 'open', 'pending', 'on_hold') AND merged_into IS NULL \
                           AND ($1 IS NULL OR group_id = $1) AND ($2 IS NULL OR assignee_id = $2) \
                           AND number > $3 ORDER BY number LIMIT $4";
        run!(long_read self, |c| Ok(sqlx::query_as(SQL).bind(group).bind(assignee).bind(after).bind(limit).fetch_all(c).await?))
    }

    /// The numbers of the conversations behind a figure: those whose `on` instant falls in
    /// `[from, to)` (milliseconds), optionally of one group or agent (as the roll-up consumer
    /// last saw them), newest first, at most `limit`.
    pub async fn kpi_drill(
        &self,
        on: DrillOn,
        from: i64,
        to: i64,
        group: Option<i64>,
        agent: Option<i64>,
        limit: i64,
    ) -> Result<Vec<i64>> {
        let column = on.column();
        let sql = format!(
            "SELECT k.conversation_id FROM kpi_conversations k \
             WHERE k.{column} >= $1 AND k.{column} < $2 AND ($3 IS NULL OR k.group_id = $3) AND ($4 IS NULL OR k.assignee_id = $4) \
             ORDER BY k.{column} DESC LIMIT $5"
        );
        run!(long_read self, |c| Ok(sqlx::query_scalar(&sql).bind(from).bind(to).bind(group).bind(agent).bind(limit).fetch_all(c).await?))
    }
}

impl Store {
    /// The id of the newest event (0 for an empty log): how big the log is, without a count.
    pub async fn count_events(&self) -> Result<i64> {
        const SQL: &str = "SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM events";
        run!(long_read self, |c| Ok(sqlx::query_scalar(SQL).fetch_one(c).await?))
    }
}

stored_row! {
    /// The last status the alert check recorded for a KPI.
    #[derive(Debug, Clone, PartialEq)]
    pub struct KpiAlertRow {
        pub key: String,
        pub status: String,
        pub value: Option<f64>,
        pub changed_at: i64,
    }
}

stored_row! {
    /// A published benchmark figure as stored.
    #[derive(Debug, Clone, PartialEq)]
    pub struct KpiBenchmarkRow {
        pub id: i64,
        pub set_name: String,
        pub index_name: String,
        pub country: String,
        pub period: String,
        pub level: String,
        pub entity: String,
        pub score: f64,
        pub source_url: String,
        pub source_kind: String,
        pub note: String,
        pub imported_at: i64,
    }
}

impl Tx {
    /// The alert states, locked for this transaction on PostgreSQL (one checker at a time).
    pub async fn kpi_alerts_for_update(&mut self) -> Result<Vec<KpiAlertRow>> {
        let lock = if self.dialect() == Dialect::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let sql =
            format!("SELECT key, status, value, changed_at FROM kpi_alerts ORDER BY key{lock}");
        run!(tx self, |c| Ok(sqlx::query_as(&sql).fetch_all(&mut *c).await?))
    }

    pub async fn put_kpi_alert(&mut self, row: &KpiAlertRow) -> Result<()> {
        run!(tx self, |c| {
            sqlx::query(
                "INSERT INTO kpi_alerts (key, status, value, changed_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (key) DO UPDATE SET status = excluded.status, value = excluded.value, changed_at = excluded.changed_at")
                .bind(&row.key).bind(&row.status).bind(row.value).bind(row.changed_at)
                .execute(&mut *c).await?;
        });
        Ok(())
    }

    /// Replaces a benchmark set with `rows` (their `id` and `set_name` are ignored).
    pub async fn replace_kpi_benchmarks(
        &mut self,
        set_name: &str,
        rows: &[KpiBenchmarkRow],
    ) -> Result<()> {
        run!(tx self, |c| {
            sqlx::query("DELETE FROM kpi_benchmarks WHERE set_name = $1").bind(set_name).execute(&mut *c).await?;
            for r in rows {
                sqlx::query(
                    "INSERT INTO kpi_benchmarks (set_name, index_name, country, period, level, entity, score, source_url, source_kind, note, imported_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
                    .bind(set_name).bind(&r.index_name).bind(&r.country).bind(&r.period).bind(&r.level).bind(&r.entity)
                    .bind(r.score).bind(&r.source_url).bind(&r.source_kind).bind(&r.note).bind(r.imported_at)
                    .execute(&mut *c).await?;
            }
        });
        Ok(())
    }
}

impl Store {
    /// The KPIs whose last recorded status is amber or red.
    pub async fn kpi_alerts(&self) -> Result<Vec<KpiAlertRow>> {
        const SQL: &str = "SELECT key, status, value, changed_at FROM kpi_alerts WHERE status IN ('amber', 'red') ORDER BY changed_at DESC";
        run!(read self, |c| Ok(sqlx::query_as(SQL).fetch_all(c).await?))
    }

    /// Every imported benchmark figure, by set, index and score.
    pub async fn kpi_benchmarks(&self) -> Result<Vec<KpiBenchmarkRow>> {
        const SQL: &str = "SELECT id, set_name, index_name, country, period, level, entity, score, source_url, source_kind, note, imported_at \
                           FROM kpi_benchmarks ORDER BY set_name, index_name, level, score DESC, id";
        run!(read self, |c| Ok(sqlx::query_as(SQL).fetch_all(c).await?))
    }
}
