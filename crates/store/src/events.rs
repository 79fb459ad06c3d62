//! The event log and its consumers' cursors.
//!
//! Consumers (search indexing, later roll-ups, webhooks, scorecards) read events in
//! order and remember how far they got. On SQLite there is one writer, so event ids
//! commit in order and the id alone is a position. On PostgreSQL ids from a sequence can
//! commit out of order (a transaction that took id 5 may commit after the one that took
//! id 6), so each event also records its transaction id (`tx_pos`, an `xid8`) and
//! consumers read in (tx_pos, id) order, only below the oldest transaction still running
//! (`pg_snapshot_xmin`): every transaction below it has finished, and every later one gets
//! a larger id, so no event can ever appear behind a consumer's cursor.

use crate::{bind_all, run, Dialect, EventRow, Result, Store, Tx, Value};

/// A consumer's position in the log: the last event it has handled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cursor {
    pub tx_pos: i64,
    pub event_id: i64,
}

impl Cursor {
    /// The position just after this event.
    pub fn after(event: &EventRow) -> Cursor {
        Cursor {
            tx_pos: event.tx_pos,
            event_id: event.id,
        }
    }
}

/// An event about to be appended.
#[derive(Debug, Clone)]
pub struct NewEvent<'a> {
    pub conversation: Option<i64>,
    pub kind: &'a str,
    pub actor_kind: &'a str,
    pub actor_id: Option<i64>,
    pub at: i64,
    pub payload: &'a str,
}

/// The columns of an [`EventRow`], as each database reads them.
pub(crate) fn event_columns(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "id, tx_pos, conversation, kind, actor_kind, actor_id, at, payload",
        Dialect::Postgres => "id, tx_pos::text::bigint AS tx_pos, conversation, kind, actor_kind, actor_id, at, payload",
    }
}

/// A PostgreSQL write transaction that holds back the events it appends and sends them in
/// one multi-row INSERT just before COMMIT, or before the transaction itself reads the log
/// ([`Tx::flush_events`]). A use case that appends three events then costs one round trip
/// to the server instead of three. Nothing else in a transaction refers to an event's id
/// (no foreign key, no trigger), so when the rows are sent changes nothing but the cost.
pub struct PgTx {
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
    pending: Vec<OwnedEvent>,
}

struct OwnedEvent {
    conversation: Option<i64>,
    kind: String,
    actor_kind: String,
    actor_id: Option<i64>,
    at: i64,
    payload: String,
}

impl PgTx {
    pub(crate) fn new(tx: sqlx::Transaction<'static, sqlx::Postgres>) -> PgTx {
        PgTx {
            tx,
            pending: Vec::new(),
        }
    }

    fn hold(&mut self, event: &NewEvent<'_>) {
        self.pending.push(OwnedEvent {
            conversation: event.conversation,
            kind: event.kind.to_string(),
            actor_kind: event.actor_kind.to_string(),
            actor_id: event.actor_id,
            at: event.at,
            payload: event.payload.to_string(),
        });
    }

    /// Sends the held events, in the order they were appended (ids ascend with it).
    async fn flush(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.pending);
        if let [e] = pending.as_slice() {
            // One event: the prepared single-row statement.
            sqlx::query(
                "INSERT INTO events (conversation, kind, actor_kind, actor_id, at, payload) VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(e.conversation).bind(&e.kind).bind(&e.actor_kind).bind(e.actor_id).bind(e.at).bind(&e.payload)
            .execute(&mut *self.tx)
            .await?;
            return Ok(());
        }
        let opt = |v: Option<i64>| v.map(Value::Int).unwrap_or(Value::Null);
        for chunk in pending.chunks(1_000) {
            let rows: Vec<Vec<Value>> = chunk
                .iter()
                .map(|e| {
                    vec![
                        opt(e.conversation),
                        Value::Text(e.kind.clone()),
                        Value::Text(e.actor_kind.clone()),
                        opt(e.actor_id),
                        Value::Int(e.at),
                        Value::Text(e.payload.clone()),
                    ]
                })
                .collect();
            let (values, args) = crate::bulk::values_list(Dialect::Postgres, &rows);
            let sql = format!(
                "INSERT INTO events (conversation, kind, actor_kind, actor_id, at, payload) VALUES {values}"
            );
            bind_all!(sqlx::query(&sql), &args)
                .execute(&mut *self.tx)
                .await?;
        }
        Ok(())
    }

    pub(crate) async fn commit(mut self) -> Result<()> {
        self.flush().await?;
        self.tx.commit().await?;
        Ok(())
    }

    pub(crate) async fn rollback(self) -> Result<()> {
        self.tx.rollback().await?;
        Ok(())
    }
}

impl std::ops::Deref for PgTx {
    type Target = sqlx::PgConnection;
    fn deref(&self) -> &sqlx::PgConnection {
        &self.tx
    }
}

impl std::ops::DerefMut for PgTx {
    fn deref_mut(&mut self) -> &mut sqlx::PgConnection {
        &mut self.tx
    }
}

impl Tx {
    /// Appends an event; it becomes visible with the rest of the transaction. On
    /// PostgreSQL it is sent with the transaction's other events at the latest at COMMIT.
    pub async fn append_event(&mut self, event: &NewEvent<'_>) -> Result<()> {
        self.append_events(std::slice::from_ref(event)).await
    }

    /// Appends an event at once and returns its id (after any events held back, so ids keep
    /// the order of appending). For callers that need the id; [`Tx::append_event`] is cheaper.
    pub async fn append_event_now(&mut self, event: &NewEvent<'_>) -> Result<i64> {
        self.flush_events().await?;
        run!(tx self, |c| Ok(sqlx::query_scalar(
            "INSERT INTO events (conversation, kind, actor_kind, actor_id, at, payload) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id")
            .bind(event.conversation).bind(event.kind).bind(event.actor_kind).bind(event.actor_id)
            .bind(event.at).bind(event.payload).fetch_one(&mut *c).await?))
    }

    /// Appends several events, in order (ids ascend with the slice).
    pub async fn append_events(&mut self, events: &[NewEvent<'_>]) -> Result<()> {
        match self {
            Tx::Sqlite(t) => {
                // One prepared statement run per event: nothing to parse per batch.
                for e in events {
                    crate::sqlite::query(
                        "INSERT INTO events (conversation, kind, actor_kind, actor_id, at, payload) VALUES ($1, $2, $3, $4, $5, $6)")
                        .bind(e.conversation).bind(e.kind).bind(e.actor_kind).bind(e.actor_id).bind(e.at).bind(e.payload)
                        .execute(&mut **t).await?;
                }
            }
            Tx::Postgres(t) => events.iter().for_each(|e| t.hold(e)),
        }
        Ok(())
    }

    /// Sends the events this transaction holds back (PostgreSQL): every method of `Tx` that
    /// reads the `events` table calls it first, so a transaction always reads its own events.
    pub(crate) async fn flush_events(&mut self) -> Result<()> {
        match self {
            Tx::Sqlite(_) => Ok(()),
            Tx::Postgres(t) => t.flush().await,
        }
    }

    /// Reads a consumer's cursor and holds it for this transaction (on PostgreSQL the row
    /// is locked, so two nodes running the same consumer take turns).
    pub async fn lock_cursor(&mut self, consumer: &str, now: i64) -> Result<Cursor> {
        let lock = if self.dialect() == Dialect::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let sql = format!("SELECT tx_pos, event_id FROM consumer_cursors WHERE name = $1{lock}");
        run!(tx self, |c| {
            sqlx::query("INSERT INTO consumer_cursors (name, tx_pos, event_id, updated_at) VALUES ($1, 0, 0, $2) ON CONFLICT DO NOTHING")
                .bind(consumer).bind(now).execute(&mut *c).await?;
            let (tx_pos, event_id): (i64, i64) = sqlx::query_as(&sql).bind(consumer).fetch_one(&mut *c).await?;
            Ok(Cursor { tx_pos, event_id })
        })
    }

    pub async fn set_cursor(&mut self, consumer: &str, cursor: Cursor, now: i64) -> Result<()> {
        run!(tx self, |c| sqlx::query("UPDATE consumer_cursors SET tx_pos = $1, event_id = $2, updated_at = $3 WHERE name = $4")
            .bind(cursor.tx_pos).bind(cursor.event_id).bind(now).bind(consumer).execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }

    /// The next events after `cursor` that are safe to consume, in consumer order.
    pub async fn events_after(&mut self, cursor: Cursor, limit: u32) -> Result<Vec<EventRow>> {
        self.flush_events().await?;
        let columns = event_columns(self.dialect());
        match self {
            Tx::Sqlite(t) => Ok(crate::sqlite::query_as(&format!(
                "SELECT {columns} FROM events WHERE id > $1 ORDER BY id LIMIT $2"
            ))
            .bind(cursor.event_id)
            .bind(i64::from(limit))
            .fetch_all(&mut **t)
            .await?),
            Tx::Postgres(t) => Ok(sqlx::query_as(&format!(
                "SELECT {columns} FROM events \
                 WHERE (tx_pos, id) > (($1::bigint)::text::xid8, $2) \
                   AND tx_pos < pg_snapshot_xmin(pg_current_snapshot()) \
                 ORDER BY events.tx_pos, events.id LIMIT $3"
            ))
            .bind(cursor.tx_pos)
            .bind(cursor.event_id)
            .bind(i64::from(limit))
            .fetch_all(&mut **t)
            .await?),
        }
    }
}

impl Store {
    /// The audit trail of a conversation, oldest first, including the events of
    /// conversations merged into it.
    pub async fn conversation_events(&self, conversation: i64) -> Result<Vec<EventRow>> {
        let sql = format!(
            "SELECT {} FROM events WHERE conversation = $1 \
             OR conversation IN (SELECT number FROM conversations WHERE merged_into = $1) ORDER BY at, id",
            event_columns(self.dialect())
        );
        run!(read self, |p| Ok(sqlx::query_as(&sql).bind(conversation).fetch_all(p).await?))
    }

    pub async fn cursor(&self, consumer: &str) -> Result<Option<Cursor>> {
        let row: Option<(i64, i64)> = run!(read self, |p| sqlx::query_as("SELECT tx_pos, event_id FROM consumer_cursors WHERE name = $1")
            .bind(consumer).fetch_optional(p).await?);
        Ok(row.map(|(tx_pos, event_id)| Cursor { tx_pos, event_id }))
    }
}

impl Store {
    /// The id of the newest event (0 when there is none).
    pub async fn last_event_id(&self) -> Result<i64> {
        run!(read self, |p| Ok(sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM events").fetch_one(p).await?))
    }
}

impl Store {
    /// Conversation events in id order, `limit` at a time after `after_id` (for whole-log
    /// reads such as the process log; not for consumers, which follow the horizon instead).
    pub async fn conversation_events_page(
        &self,
        after_id: i64,
        limit: i64,
    ) -> Result<Vec<EventRow>> {
        let sql = format!(
            "SELECT {} FROM events WHERE id > $1 AND conversation IS NOT NULL ORDER BY id LIMIT $2",
            event_columns(self.dialect())
        );
        run!(long_read self, |c| Ok(sqlx::query_as(&sql).bind(after_id).bind(limit).fetch_all(c).await?))
    }
}

/// Who may see a conversation, as the live feed needs it: (number, group, assignee, customer).
pub type ConversationReach = (i64, Option<i64>, Option<i64>, i64);

impl Store {
    /// The events after `cursor` that are safe to read, in consumer order, without a
    /// transaction or a stored cursor: for readers that keep their position in memory (the
    /// live feed of the workspace). The same horizon as [`Tx::events_after`] applies, so on
    /// PostgreSQL an event that commits late is read late, never skipped.
    pub async fn events_after(&self, cursor: Cursor, limit: u32) -> Result<Vec<EventRow>> {
        let columns = event_columns(self.dialect());
        let limit = i64::from(limit);
        match self.dialect() {
            Dialect::Sqlite => {
                let sql =
                    format!("SELECT {columns} FROM events WHERE id > $1 ORDER BY id LIMIT $2");
                run!(long_read self, |p| Ok(sqlx::query_as(&sql)
                    .bind(cursor.event_id).bind(limit).fetch_all(p).await?))
            }
            Dialect::Postgres => {
                let sql = format!(
                    "SELECT {columns} FROM events \
                     WHERE (tx_pos, id) > (($1::bigint)::text::xid8, $2) \
                       AND tx_pos < pg_snapshot_xmin(pg_current_snapshot()) \
                     ORDER BY events.tx_pos, events.id LIMIT $3"
                );
                run!(long_read self, |p| Ok(sqlx::query_as(&sql)
                    .bind(cursor.tx_pos).bind(cursor.event_id).bind(limit).fetch_all(p).await?))
            }
        }
    }

    /// [`Store::events_after`] for only these kinds of event (all when `kinds` is empty): the
    /// whole-log scan on PostgreSQL ([`Store::scan_event_pages`] with [`crate::ScanKinds::Only`]).
    pub(crate) async fn events_after_of_kinds(
        &self,
        cursor: Cursor,
        limit: u32,
        kinds: &[&str],
    ) -> Result<Vec<EventRow>> {
        if kinds.is_empty() {
            return self.events_after(cursor, limit).await;
        }
        let columns = event_columns(self.dialect());
        // Placeholders in the order they are bound: position, kinds, limit.
        let (sql, mut args) = match self.dialect() {
            Dialect::Sqlite => (
                format!(
                    "SELECT {columns} FROM events WHERE id > $1{} ORDER BY id LIMIT ${}",
                    crate::scan::kind_filter(kinds.len(), 2, '$'),
                    kinds.len() + 2
                ),
                vec![crate::Arg::Int(cursor.event_id)],
            ),
            Dialect::Postgres => (
                format!(
                    "SELECT {columns} FROM events \
                     WHERE (tx_pos, id) > (($1::bigint)::text::xid8, $2) \
                       AND tx_pos < pg_snapshot_xmin(pg_current_snapshot()){} \
                     ORDER BY events.tx_pos, events.id LIMIT ${}",
                    crate::scan::kind_filter(kinds.len(), 3, '$'),
                    kinds.len() + 3
                ),
                vec![
                    crate::Arg::Int(cursor.tx_pos),
                    crate::Arg::Int(cursor.event_id),
                ],
            ),
        };
        args.extend(
            kinds
                .iter()
                .map(|kind| crate::Arg::Text((*kind).to_string())),
        );
        args.push(crate::Arg::Int(i64::from(limit)));
        run!(read self, |p| Ok(crate::bind_all!(sqlx::query_as(&sql), &args).fetch_all(p).await?))
    }

    /// The position of the newest event that is safe to read (below the horizon on
    /// PostgreSQL): where a live reader that wants only what comes next starts.
    pub async fn log_head(&self) -> Result<Cursor> {
        let sql = match self.dialect() {
            Dialect::Sqlite => "SELECT 0, id FROM events ORDER BY id DESC LIMIT 1",
            Dialect::Postgres => {
                "SELECT tx_pos::text::bigint, id FROM events \
                 WHERE tx_pos < pg_snapshot_xmin(pg_current_snapshot()) \
                 ORDER BY events.tx_pos DESC, events.id DESC LIMIT 1"
            }
        };
        let row: Option<(i64, i64)> =
            run!(read self, |p| sqlx::query_as(sql).fetch_optional(p).await?);
        Ok(row
            .map(|(tx_pos, event_id)| Cursor { tx_pos, event_id })
            .unwrap_or_default())
    }

    /// Group, assignee and customer of each of these conversations (those that exist).
    pub async fn conversation_reaches(&self, numbers: &[i64]) -> Result<Vec<ConversationReach>> {
        if numbers.is_empty() {
            return Ok(Vec::new());
        }
        let placeholders: Vec<String> = (1..=numbers.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT number, group_id, assignee_id, customer_id FROM conversations WHERE number IN ({})",
            placeholders.join(", ")
        );
        let args: Vec<crate::Arg> = numbers.iter().map(|n| crate::Arg::Int(*n)).collect();
        run!(read self, |p| Ok(crate::bind_all!(sqlx::query_as(&sql), &args).fetch_all(p).await?))
    }
}
