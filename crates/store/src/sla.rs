//! Service standards: business calendars, SLA policies, each conversation's SLA clock and
//! the index a scheduler's tick walks to find what has come due (`sla_states_due`).

use crate::{bind_all, run, Arg, Dialect, EventRow, Result, Store, Tx, Value};

/// The version of a placeholder row that holds a conversation's lock before it has a clock
/// ([`Tx::lock_sla_states`]); real versions start at 1.
const PLACEHOLDER_VERSION: i64 = -1;

/// The placeholders of an `IN (...)` list of `count` values, numbered from 1 on PostgreSQL
/// and anonymous on SQLite (where looking up numbered ones is linear in their count).
pub(crate) fn in_list(dialect: Dialect, count: usize) -> String {
    let one = |i: usize| match dialect {
        Dialect::Postgres => format!("${i}"),
        Dialect::Sqlite => "?".to_string(),
    };
    (1..=count).map(one).collect::<Vec<_>>().join(", ")
}

stored_row! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct SlaCalendarRow {
        pub id: i64,
        pub name: String,
        pub time_zone: String,
        pub hours: String,
        /// JSON array of strings.
        pub holidays: String,
        /// JSON array of strings.
        pub exceptions: String,
        pub created_at: i64,
        pub updated_at: i64,
    }
}

stored_row! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct SlaPolicyRow {
        pub id: i64,
        pub name: String,
        pub position: i64,
        /// JSON (`sla::Conditions`).
        pub conditions: String,
        pub calendar_id: Option<i64>,
        /// JSON (a list of `sla::TargetRule`).
        pub targets: String,
        pub warn_at_percent: Option<i64>,
        pub on_hold_pauses: bool,
        pub created_at: i64,
        pub updated_at: i64,
    }
}

stored_row! {
    /// A conversation's SLA clock as stored.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct SlaStateRow {
        pub conversation: i64,
        /// The `sla_config` version the clock was computed under.
        pub version: i64,
        /// The last event of the conversation folded into the clock.
        pub through_event_id: i64,
        /// `sla::SlaClock`, as `SlaClock::encode` writes it (JSON before).
        pub clock: String,
        pub next_deadline_at: Option<i64>,
        pub next_deadline_kind: Option<String>,
        /// When the earliest running target not yet met runs out: in the past when it is
        /// overdue, `None` when no target is running. The queue's `sla` sort orders by it.
        pub next_breach_at: Option<i64>,
        pub updated_at: i64,
        /// `sla::transitions_digest` of every transition the stored clock has made, all
        /// recorded in the log (kept by every writer that appends them); `None` when not
        /// known (a recompute then reads the transitions back from the log).
        pub transitions_digest: Option<i64>,
    }
}

const CALENDAR_COLUMNS: &str =
    "id, name, time_zone, hours, holidays, exceptions, created_at, updated_at";
const POLICY_COLUMNS: &str = "id, name, position, conditions, calendar_id, targets, warn_at_percent, on_hold_pauses, created_at, updated_at";
pub(crate) const STATE_COLUMNS: &str = "conversation, version, through_event_id, clock, next_deadline_at, next_deadline_kind, next_breach_at, updated_at, transitions_digest";
/// What storing a clock over the stored one replaces: every column but the conversation.
const STATE_REPLACES: &str = "ON CONFLICT (conversation) DO UPDATE SET version = excluded.version, \
    through_event_id = excluded.through_event_id, clock = excluded.clock, next_deadline_at = excluded.next_deadline_at, \
    next_deadline_kind = excluded.next_deadline_kind, next_breach_at = excluded.next_breach_at, updated_at = excluded.updated_at, \
    transitions_digest = excluded.transitions_digest";

/// SQLite: stores clocks with prepared statements, their texts bound where they lie. A
/// clock stored before is updated in place, and only a new one inserted: an upsert
/// (`INSERT … ON CONFLICT`) would copy every page it touches to a statement journal first,
/// which cost a recompute that rewrites a million clocks more than the rewriting.
///
/// Both statements say `OR FAIL`, which for one row is what the default (`OR ABORT`) does:
/// a constraint broken stops the statement with an error, and the caller's transaction is
/// rolled back. Only, SQLite then keeps no statement journal to undo the statement's
/// earlier rows (it has none), which it keeps for these statements by default: a quarter
/// of the CPU of rewriting 200,000 clocks in batches of 2,000 (0.54 s against 0.73 s,
/// measured with Python's sqlite3 on this table).
fn put_states_sqlite(conn: &mut crate::sqlite::Conn, rows: &[SlaStateRow]) -> Result<()> {
    let raw = conn.raw();
    let mut update = raw.prepare_cached(
        "UPDATE OR FAIL sla_states SET version = ?2, through_event_id = ?3, clock = ?4, next_deadline_at = ?5, \
         next_deadline_kind = ?6, next_breach_at = ?7, updated_at = ?8, transitions_digest = ?9 \
         WHERE conversation = ?1",
    )?;
    let mut insert = raw.prepare_cached(&format!(
        "INSERT OR FAIL INTO sla_states ({STATE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
    ))?;
    for row in rows {
        let values = state_params(row);
        if update.execute(values)? == 0 {
            insert.execute(values)?;
        }
    }
    Ok(())
}

/// A clock's fields as the parameters `?1` to `?9` of a statement on SQLite, in the order of
/// [`STATE_COLUMNS`].
pub(crate) fn state_params(row: &SlaStateRow) -> [&dyn rusqlite::ToSql; 9] {
    [
        &row.conversation,
        &row.version,
        &row.through_event_id,
        &row.clock,
        &row.next_deadline_at,
        &row.next_deadline_kind,
        &row.next_breach_at,
        &row.updated_at,
        &row.transitions_digest,
    ]
}

impl Tx {
    /// The version of the calendars and policies (bumped by every change of either).
    pub async fn sla_version(&mut self) -> Result<i64> {
        run!(tx self, |c| Ok(sqlx::query_scalar("SELECT version FROM sla_config WHERE id = 1").fetch_one(&mut *c).await?))
    }

    /// Marks every stored clock as computed under older policies.
    pub async fn bump_sla_version(&mut self) -> Result<i64> {
        run!(tx self, |c| Ok(sqlx::query_scalar("UPDATE sla_config SET version = version + 1 WHERE id = 1 RETURNING version").fetch_one(&mut *c).await?))
    }

    pub async fn insert_sla_calendar(&mut self, row: &SlaCalendarRow) -> Result<i64> {
        run!(tx self, |c| Ok(sqlx::query_scalar(
            "INSERT INTO sla_calendars (name, time_zone, hours, holidays, exceptions, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING id")
            .bind(&row.name).bind(&row.time_zone).bind(&row.hours).bind(&row.holidays).bind(&row.exceptions).bind(row.updated_at)
            .fetch_one(&mut *c).await?))
    }

    /// Returns whether the calendar existed.
    pub async fn update_sla_calendar(&mut self, row: &SlaCalendarRow) -> Result<bool> {
        run!(tx self, |c| Ok(sqlx::query(
            "UPDATE sla_calendars SET name = $1, time_zone = $2, hours = $3, holidays = $4, exceptions = $5, updated_at = $6 WHERE id = $7")
            .bind(&row.name).bind(&row.time_zone).bind(&row.hours).bind(&row.holidays).bind(&row.exceptions).bind(row.updated_at).bind(row.id)
            .execute(&mut *c).await?.rows_affected() > 0))
    }

    /// Returns whether the calendar existed.
    pub async fn delete_sla_calendar(&mut self, id: i64) -> Result<bool> {
        run!(tx self, |c| Ok(sqlx::query("DELETE FROM sla_calendars WHERE id = $1").bind(id)
            .execute(&mut *c).await?.rows_affected() > 0))
    }

    /// The names of the policies that use a calendar.
    pub async fn policies_using_calendar(&mut self, calendar_id: i64) -> Result<Vec<String>> {
        run!(tx self, |c| Ok(sqlx::query_scalar("SELECT name FROM sla_policies WHERE calendar_id = $1 ORDER BY position, id")
            .bind(calendar_id).fetch_all(&mut *c).await?))
    }

    pub async fn insert_sla_policy(&mut self, row: &SlaPolicyRow) -> Result<i64> {
        run!(tx self, |c| Ok(sqlx::query_scalar(
            "INSERT INTO sla_policies (name, position, conditions, calendar_id, targets, warn_at_percent, on_hold_pauses, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING id")
            .bind(&row.name).bind(row.position).bind(&row.conditions).bind(row.calendar_id).bind(&row.targets)
            .bind(row.warn_at_percent).bind(row.on_hold_pauses).bind(row.updated_at)
            .fetch_one(&mut *c).await?))
    }

    /// Returns whether the policy existed.
    pub async fn update_sla_policy(&mut self, row: &SlaPolicyRow) -> Result<bool> {
        run!(tx self, |c| Ok(sqlx::query(
            "UPDATE sla_policies SET name = $1, position = $2, conditions = $3, calendar_id = $4, targets = $5, warn_at_percent = $6, \
             on_hold_pauses = $7, updated_at = $8 WHERE id = $9")
            .bind(&row.name).bind(row.position).bind(&row.conditions).bind(row.calendar_id).bind(&row.targets)
            .bind(row.warn_at_percent).bind(row.on_hold_pauses).bind(row.updated_at).bind(row.id)
            .execute(&mut *c).await?.rows_affected() > 0))
    }

    /// Returns whether the policy existed.
    pub async fn delete_sla_policy(&mut self, id: i64) -> Result<bool> {
        run!(tx self, |c| Ok(sqlx::query("DELETE FROM sla_policies WHERE id = $1").bind(id)
            .execute(&mut *c).await?.rows_affected() > 0))
    }

    /// The calendars, by name.
    pub async fn sla_calendars(&mut self) -> Result<Vec<SlaCalendarRow>> {
        let sql = format!("SELECT {CALENDAR_COLUMNS} FROM sla_calendars ORDER BY name");
        run!(tx self, |c| Ok(sqlx::query_as(&sql).fetch_all(&mut *c).await?))
    }

    /// The policies, in match order.
    pub async fn sla_policies(&mut self) -> Result<Vec<SlaPolicyRow>> {
        let sql = format!("SELECT {POLICY_COLUMNS} FROM sla_policies ORDER BY position, id");
        run!(tx self, |c| Ok(sqlx::query_as(&sql).fetch_all(&mut *c).await?))
    }

    /// The SLA states of these conversations (those that have one, by conversation), held
    /// for this transaction, so that two writers of the same clock take turns.
    ///
    /// On SQLite the one writer already serialises every transaction. On PostgreSQL the rows
    /// are locked (`FOR UPDATE`, in conversation order so that writers never deadlock), and a
    /// conversation without a clock yet first gets a placeholder row to lock: a lock on a row
    /// that does not exist holds nothing, and two transactions that both find no clock would
    /// both append the conversation's transitions. Inserting the placeholder waits for
    /// another transaction's uncommitted row for the same conversation, so the second writer
    /// sees the first one's clock and events. Placeholders are replaced by
    /// [`Tx::put_sla_state`]; readers ignore one that stays (a conversation with no events).
    pub async fn lock_sla_states(&mut self, conversations: &[i64]) -> Result<Vec<SlaStateRow>> {
        let mut numbers = conversations.to_vec();
        numbers.sort_unstable();
        numbers.dedup();
        let postgres = self.dialect() == Dialect::Postgres;
        let mut out = Vec::with_capacity(numbers.len());
        for chunk in numbers.chunks(1_000) {
            let list = in_list(self.dialect(), chunk.len());
            let args: Vec<Arg> = chunk.iter().map(|n| Arg::Int(*n)).collect();
            if postgres {
                let rows: Vec<Vec<Value>> = chunk
                    .iter()
                    .map(|n| {
                        vec![
                            Value::Int(*n),
                            Value::Int(PLACEHOLDER_VERSION),
                            Value::Int(0),
                            Value::Text(String::new()),
                            Value::Int(0),
                        ]
                    })
                    .collect();
                let (values, insert_args) = crate::bulk::values_list(self.dialect(), &rows);
                let insert = format!(
                    "INSERT INTO sla_states (conversation, version, through_event_id, clock, updated_at) VALUES {values} \
                     ON CONFLICT (conversation) DO NOTHING"
                );
                run!(tx self, |c| bind_all!(sqlx::query(&insert), &insert_args).execute(&mut *c).await.map(|_| ())?);
            }
            let lock = if postgres { " FOR UPDATE" } else { "" };
            // Placeholders are locked too, and left out of the answer.
            let select = format!(
                "SELECT {STATE_COLUMNS} FROM sla_states WHERE conversation IN ({list}) ORDER BY conversation{lock}"
            );
            let rows: Vec<SlaStateRow> = run!(tx self, |c| bind_all!(sqlx::query_as(&select), &args).fetch_all(&mut *c).await?);
            out.extend(
                rows.into_iter()
                    .filter(|r| r.version != PLACEHOLDER_VERSION),
            );
        }
        Ok(out)
    }

    pub async fn put_sla_state(&mut self, row: &SlaStateRow) -> Result<()> {
        self.put_sla_states(std::slice::from_ref(row)).await
    }

    /// Stores clocks (inserted or replaced): on SQLite one prepared statement run per row (no
    /// parsing per batch), on PostgreSQL multi-row statements (one round trip per 1,000).
    pub async fn put_sla_states(&mut self, rows: &[SlaStateRow]) -> Result<()> {
        if let Tx::Sqlite(t) = self {
            return put_states_sqlite(t, rows);
        }
        let opt = |v: Option<i64>| v.map(Value::Int).unwrap_or(Value::Null);
        for chunk in rows.chunks(1_000) {
            let values: Vec<Vec<Value>> = chunk
                .iter()
                .map(|row| {
                    vec![
                        Value::Int(row.conversation),
                        Value::Int(row.version),
                        Value::Int(row.through_event_id),
                        Value::Text(row.clock.clone()),
                        opt(row.next_deadline_at),
                        row.next_deadline_kind
                            .clone()
                            .map(Value::Text)
                            .unwrap_or(Value::Null),
                        opt(row.next_breach_at),
                        Value::Int(row.updated_at),
                        opt(row.transitions_digest),
                    ]
                })
                .collect();
            let (values, args) = crate::bulk::values_list(self.dialect(), &values);
            let sql = format!(
                "INSERT INTO sla_states ({STATE_COLUMNS}) VALUES {values} {STATE_REPLACES}"
            );
            run!(tx self, |c| bind_all!(sqlx::query(&sql), &args).execute(&mut *c).await.map(|_| ())?);
        }
        Ok(())
    }

    /// Every event of the conversations numbered `first..=last`, by conversation and then
    /// in log order (one range of the `events_conversation` index).
    pub async fn events_of_conversations(
        &mut self,
        first: i64,
        last: i64,
    ) -> Result<Vec<EventRow>> {
        self.flush_events().await?;
        let columns = crate::events::event_columns(self.dialect());
        let sql = format!(
            "SELECT {columns} FROM events WHERE conversation >= $1 AND conversation <= $2 ORDER BY conversation, id"
        );
        run!(tx self, |c| Ok(sqlx::query_as(&sql).bind(first).bind(last).fetch_all(&mut *c).await?))
    }

    /// Every customer who belongs to an organisation, as (customer, organisation).
    pub async fn customers_with_organisation(&mut self) -> Result<Vec<(i64, i64)>> {
        run!(tx self, |c| Ok(sqlx::query_as("SELECT id, organization_id FROM customers WHERE organization_id IS NOT NULL")
            .fetch_all(&mut *c).await?))
    }

    /// The organisation of each of these customers (those that exist), as (customer, organisation).
    pub async fn customer_organisations(
        &mut self,
        customers: &[i64],
    ) -> Result<Vec<(i64, Option<i64>)>> {
        let mut ids = customers.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(1_000) {
            let sql = format!(
                "SELECT id, organization_id FROM customers WHERE id IN ({})",
                in_list(self.dialect(), chunk.len())
            );
            let args: Vec<Arg> = chunk.iter().map(|n| Arg::Int(*n)).collect();
            let rows: Vec<(i64, Option<i64>)> =
                run!(tx self, |c| bind_all!(sqlx::query_as(&sql), &args).fetch_all(&mut *c).await?);
            out.extend(rows);
        }
        Ok(out)
    }

    /// The SLA states whose next warning or breach is due at `now`, most overdue first:
    /// one range of the `sla_states_due` index. On PostgreSQL the rows are locked and rows
    /// another node holds are skipped, so ticks on several nodes share the work.
    pub async fn sla_states_due(&mut self, now: i64, limit: u32) -> Result<Vec<SlaStateRow>> {
        let lock = if self.dialect() == Dialect::Postgres {
            " FOR UPDATE SKIP LOCKED"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {STATE_COLUMNS} FROM sla_states WHERE next_deadline_at IS NOT NULL AND next_deadline_at <= $1 \
             ORDER BY next_deadline_at LIMIT $2{lock}"
        );
        run!(tx self, |c| Ok(sqlx::query_as(&sql).bind(now).bind(i64::from(limit)).fetch_all(&mut *c).await?))
    }

    /// Every event of one conversation (not of those merged into it), in log order.
    pub async fn events_of_conversation(&mut self, conversation: i64) -> Result<Vec<EventRow>> {
        self.flush_events().await?;
        let columns = crate::events::event_columns(self.dialect());
        let sql = format!("SELECT {columns} FROM events WHERE conversation = $1 ORDER BY id");
        run!(tx self, |c| Ok(sqlx::query_as(&sql).bind(conversation).fetch_all(&mut *c).await?))
    }

    /// The warnings and breaches of these conversations already escalated, as
    /// (conversation, metric, cycle, reason).
    pub async fn sla_escalations_of(
        &mut self,
        conversations: &[i64],
    ) -> Result<Vec<(i64, String, i64, String)>> {
        let mut numbers = conversations.to_vec();
        numbers.sort_unstable();
        numbers.dedup();
        let mut out = Vec::new();
        for chunk in numbers.chunks(1_000) {
            let sql = format!(
                "SELECT conversation, metric, cycle, reason FROM sla_escalations WHERE conversation IN ({})",
                in_list(self.dialect(), chunk.len())
            );
            let args: Vec<Arg> = chunk.iter().map(|n| Arg::Int(*n)).collect();
            let rows: Vec<(i64, String, i64, String)> =
                run!(tx self, |c| bind_all!(sqlx::query_as(&sql), &args).fetch_all(&mut *c).await?);
            out.extend(rows);
        }
        Ok(out)
    }

    /// Records that a warning or breach was escalated; `false` when it already was.
    pub async fn mark_sla_escalated(
        &mut self,
        conversation: i64,
        metric: &str,
        cycle: i64,
        reason: &str,
        now: i64,
    ) -> Result<bool> {
        run!(tx self, |c| Ok(sqlx::query(
            "INSERT INTO sla_escalations (conversation, metric, cycle, reason, at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING")
            .bind(conversation).bind(metric).bind(cycle).bind(reason).bind(now)
            .execute(&mut *c).await?.rows_affected() > 0))
    }

    /// The team lead of a group who is told about escalations: its active agent with the
    /// lead role (the lowest id when there are several).
    pub async fn group_lead(&mut self, group_id: i64) -> Result<Option<i64>> {
        run!(tx self, |c| Ok(sqlx::query_scalar(
            "SELECT a.id FROM agents a JOIN agent_groups g ON g.agent_id = a.id \
             WHERE g.group_id = $1 AND a.role = 'lead' AND a.active ORDER BY a.id LIMIT 1")
            .bind(group_id).fetch_optional(&mut *c).await?))
    }

    /// Conversation numbers after `after`, in order: for walking every conversation.
    pub async fn conversation_numbers_after(&mut self, after: i64, limit: u32) -> Result<Vec<i64>> {
        run!(tx self, |c| Ok(sqlx::query_scalar("SELECT number FROM conversations WHERE number > $1 ORDER BY number LIMIT $2")
            .bind(after).bind(i64::from(limit)).fetch_all(&mut *c).await?))
    }

    /// For `rapport bench sla` only: fills `sla_states` with `count` clocks whose next
    /// deadlines are spread evenly over `[from, from + spread)`.
    pub async fn bench_fill_sla_states(
        &mut self,
        count: i64,
        from: i64,
        spread: i64,
    ) -> Result<()> {
        run!(tx self, |c| sqlx::query(
            "INSERT INTO sla_states (conversation, version, through_event_id, clock, next_deadline_at, next_deadline_kind, next_breach_at, updated_at) \
             WITH RECURSIVE n(x) AS (SELECT CAST(1 AS BIGINT) UNION ALL SELECT x + 1 FROM n WHERE x < $1) \
             SELECT x, 0, 0, '{}', $2 + (x * 7919) % $3, 'breach', $2 + (x * 7919) % $3, $2 FROM n")
            .bind(count).bind(from).bind(spread).execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }
}

impl Store {
    pub async fn sla_calendars(&self) -> Result<Vec<SlaCalendarRow>> {
        let sql = format!("SELECT {CALENDAR_COLUMNS} FROM sla_calendars ORDER BY name");
        run!(read self, |p| Ok(sqlx::query_as(&sql).fetch_all(p).await?))
    }

    pub async fn sla_policies(&self) -> Result<Vec<SlaPolicyRow>> {
        let sql = format!("SELECT {POLICY_COLUMNS} FROM sla_policies ORDER BY position, id");
        run!(read self, |p| Ok(sqlx::query_as(&sql).fetch_all(p).await?))
    }

    pub async fn sla_version(&self) -> Result<i64> {
        run!(read self, |p| Ok(sqlx::query_scalar("SELECT version FROM sla_config WHERE id = 1").fetch_one(p).await?))
    }

    pub async fn sla_state(&self, conversation: i64) -> Result<Option<SlaStateRow>> {
        let sql = format!("SELECT {STATE_COLUMNS} FROM sla_states WHERE conversation = $1 AND version <> {PLACEHOLDER_VERSION}");
        run!(read self, |p| Ok(sqlx::query_as(&sql).bind(conversation).fetch_optional(p).await?))
    }

    /// The SLA states of several conversations (those that have one), for a page of a queue.
    pub async fn sla_states_of(&self, conversations: &[i64]) -> Result<Vec<SlaStateRow>> {
        if conversations.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {STATE_COLUMNS} FROM sla_states WHERE conversation IN ({}) AND version <> {PLACEHOLDER_VERSION}",
            in_list(self.dialect(), conversations.len())
        );
        let args: Vec<Arg> = conversations.iter().map(|n| Arg::Int(*n)).collect();
        run!(read self, |p| Ok(bind_all!(sqlx::query_as(&sql), &args).fetch_all(p).await?))
    }

    /// Every event of these conversations (not of those merged into them), by conversation
    /// and then in log order; read without the writer, for the live SLA path.
    pub async fn events_of_conversations_in(&self, conversations: &[i64]) -> Result<Vec<EventRow>> {
        let columns = crate::events::event_columns(self.dialect());
        let mut out = Vec::new();
        for chunk in conversations.chunks(1_000) {
            let sql = format!(
                "SELECT {columns} FROM events WHERE conversation IN ({}) ORDER BY conversation, id",
                in_list(self.dialect(), chunk.len())
            );
            let args: Vec<Arg> = chunk.iter().map(|n| Arg::Int(*n)).collect();
            let rows: Vec<EventRow> =
                run!(read self, |p| bind_all!(sqlx::query_as(&sql), &args).fetch_all(p).await?);
            out.extend(rows);
        }
        Ok(out)
    }

    /// The organisation of each of these customers (those that exist), as (customer,
    /// organisation); read without the writer.
    pub async fn customer_organisations(
        &self,
        customers: &[i64],
    ) -> Result<Vec<(i64, Option<i64>)>> {
        let mut ids = customers.to_vec();
        ids.sort_unstable();
        ids.dedup();
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(1_000) {
            let sql = format!(
                "SELECT id, organization_id FROM customers WHERE id IN ({})",
                in_list(self.dialect(), chunk.len())
            );
            let args: Vec<Arg> = chunk.iter().map(|n| Arg::Int(*n)).collect();
            let rows: Vec<(i64, Option<i64>)> =
                run!(read self, |p| bind_all!(sqlx::query_as(&sql), &args).fetch_all(p).await?);
            out.extend(rows);
        }
        Ok(out)
    }

    /// How many SLA states have a warning or breach due at `now` (for tests and figures).
    pub async fn sla_due_count(&self, now: i64) -> Result<i64> {
        run!(read self, |p| Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM sla_states WHERE next_deadline_at IS NOT NULL AND next_deadline_at <= $1")
            .bind(now).fetch_one(p).await?))
    }
}
