//! Reading every conversation's log and stored SLA clock for a recompute, a batch of
//! conversations at a time, ahead of the caller and outside the writer.
//!
//! A batch ([`SlaBatch`]) holds a range of conversation numbers, the stored clocks of those
//! conversations and their clocks' inputs: their events of the kinds in [`SLA_INPUT_KINDS`],
//! by conversation, then in log order, each as the text of its `clock_input` column (what the
//! clock reads of it, `sla::read_clock_input`). On SQLite that is one range of the table
//! `sla_inputs` (migration 0033), which a trigger fills with each conversation's inputs, a
//! few rows per conversation, so no row of `events` is read; on PostgreSQL, one range of the
//! covering index `events_clock_inputs` (migration 0032). Texts live in one buffer per batch,
//! so reading an event allocates nothing; the caller hands batches back to be filled again.
//!
//! On SQLite the batches are read on a blocking thread, on a read-only connection of their own,
//! each batch inside one read transaction: one consistent snapshot while writers go on (one
//! snapshot for the whole scan would keep the WAL the caller writes from being checkpointed
//! until the end), read on one core while the caller folds on the other. On PostgreSQL each batch is three queries, the stored
//! clocks first: a clock read before the events can only be older than them, never newer.
//! Either way the caller re-reads, under its write lock, the clocks it is about to replace
//! ([`crate::Tx::lock_sla_states`]) and compares: the snapshot may have aged.

use std::ops::Range;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use tokio::sync::mpsc;

use crate::sla::{state_params, STATE_COLUMNS};
use crate::{bind_all, run, Arg, EventRow, Pools, Result, SlaStateRow, Store};

/// Batches read ahead of the caller.
const AHEAD: usize = 2;

/// The event kinds an SLA clock reads (`sla::CLOCK_INPUT_KINDS`, in the same order): those
/// with a `clock_input` text (migration 0032, which names them in this order), which the
/// table `sla_inputs` (SQLite) and the partial index `events_clock_inputs` (PostgreSQL) hold,
/// and the only ones [`Store::scan_sla_batches`] reads.
pub const SLA_INPUT_KINDS: &[&str] = &[
    "created",
    "message_added",
    "status_changed",
    "priority_changed",
    "group_changed",
    "tag_added",
    "tag_removed",
];

/// The version of placeholder rows (see `Tx::lock_sla_states`), left out of a batch.
const PLACEHOLDER_VERSION: i64 = -1;

#[derive(Debug, Clone)]
struct BatchEvent {
    id: i64,
    conversation: i64,
    at: i64,
    input: Range<usize>,
}

#[derive(Debug, Clone)]
struct BatchState {
    conversation: i64,
    version: i64,
    through_event_id: i64,
    clock: Range<usize>,
    next_deadline_at: Option<i64>,
    next_deadline_kind: Option<Range<usize>>,
    next_breach_at: Option<i64>,
    updated_at: i64,
    transitions_digest: Option<i64>,
}

/// One event of an [`SlaBatch`]: what the clock reads of it, borrowed from the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchEventRef<'a> {
    /// The event's id.
    pub id: i64,
    pub conversation: i64,
    pub at: i64,
    /// The event's `clock_input` text (`sla::read_clock_input` reads it).
    pub input: &'a str,
}

/// A stored SLA clock of an [`SlaBatch`], its texts borrowed from the batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchStateRef<'a> {
    pub conversation: i64,
    pub version: i64,
    pub through_event_id: i64,
    pub clock: &'a str,
    pub next_deadline_at: Option<i64>,
    pub next_deadline_kind: Option<&'a str>,
    pub next_breach_at: Option<i64>,
    pub updated_at: i64,
    pub transitions_digest: Option<i64>,
}

impl BatchStateRef<'_> {
    /// Whether `row` is this stored clock, field for field.
    pub fn is(&self, row: &SlaStateRow) -> bool {
        self.conversation == row.conversation && self.updated_at == row.updated_at && self.says(row)
    }

    /// Whether this stored clock says what `row` says: every field but which conversation
    /// and when it was written.
    pub fn says(&self, row: &SlaStateRow) -> bool {
        self.version == row.version
            && self.through_event_id == row.through_event_id
            && self.next_deadline_at == row.next_deadline_at
            && self.next_deadline_kind == row.next_deadline_kind.as_deref()
            && self.next_breach_at == row.next_breach_at
            && self.transitions_digest == row.transitions_digest
            && self.clock == row.clock
    }
}

impl crate::Tx {
    /// Of these stored clocks, as a recompute read them (`None`: none was stored), those
    /// that are no longer what is stored, each with when the stored one was written; the
    /// clocks are held for this transaction as [`crate::Tx::lock_sla_states`] holds them.
    /// On SQLite (whose one writer already holds every row) one range read, compared where
    /// the rows lie.
    pub async fn sla_states_moved(
        &mut self,
        expected: &[(i64, Option<BatchStateRef<'_>>)],
    ) -> Result<Vec<(i64, Option<i64>)>> {
        let mut expected: Vec<&(i64, Option<BatchStateRef<'_>>)> = expected.iter().collect();
        expected.sort_unstable_by_key(|(n, _)| *n);
        expected.dedup_by_key(|(n, _)| *n);
        let (Some(first), Some(last)) = (expected.first(), expected.last()) else {
            return Ok(Vec::new());
        };
        let (first, last) = (first.0, last.0);
        if let crate::Tx::Sqlite(t) = self {
            return moved_sqlite(t, first, last, &expected);
        }
        let numbers: Vec<i64> = expected.iter().map(|(n, _)| *n).collect();
        let current: std::collections::HashMap<i64, SlaStateRow> = self
            .lock_sla_states(&numbers)
            .await?
            .into_iter()
            .map(|row| (row.conversation, row))
            .collect();
        Ok(expected
            .iter()
            .filter_map(|(n, read)| {
                let now = current.get(n);
                let unmoved = match (now, read) {
                    (Some(now), Some(read)) => read.is(now),
                    (None, None) => true,
                    _ => false,
                };
                (!unmoved).then(|| (*n, now.map(|s| s.updated_at)))
            })
            .collect())
    }
}

impl crate::Tx {
    /// Stores these clocks, each only if the stored clock is still the one a recompute read
    /// (`None`: none was stored), and answers those not written because it is not, as
    /// [`crate::Tx::sla_states_moved`] answers them (with when the stored one was written).
    /// On SQLite, whose one writer already holds every row, each write is a compare-and-set
    /// on the row it replaces, so the rows are not read a second time; on PostgreSQL the
    /// rows are locked and compared first.
    pub async fn put_sla_states_unmoved(
        &mut self,
        rows: &[(Option<BatchStateRef<'_>>, SlaStateRow)],
    ) -> Result<Vec<(i64, Option<i64>)>> {
        if let crate::Tx::Sqlite(t) = self {
            return put_unmoved_sqlite(t, rows);
        }
        let read: Vec<(i64, Option<BatchStateRef<'_>>)> = rows
            .iter()
            .map(|(read, row)| (row.conversation, *read))
            .collect();
        let moved = self.sla_states_moved(&read).await?;
        let unmoved: Vec<SlaStateRow> = rows
            .iter()
            .filter(|(_, row)| !moved.iter().any(|(n, _)| *n == row.conversation))
            .map(|(_, row)| row.clone())
            .collect();
        self.put_sla_states(&unmoved).await?;
        Ok(moved)
    }
}

/// [`crate::Tx::put_sla_states_unmoved`] on SQLite: each row replaces the stored one only
/// where it is as read, or is inserted only where none is stored; a row not written is one
/// that moved.
///
/// "As read" compares the columns a writer sets (`IS` where one may be NULL), but not the
/// next deadline and breach, which are functions of the clock: a stored row whose clock and
/// instant of writing are as read is the row read, deadlines and all. When the row keeps
/// the deadlines read, they are not set either, so SQLite leaves the two indexes on them
/// alone. Fewer values to bind and compare: this is most of a recompute's writing.
fn put_unmoved_sqlite(
    conn: &mut crate::sqlite::Conn,
    rows: &[(Option<BatchStateRef<'_>>, SlaStateRow)],
) -> Result<Vec<(i64, Option<i64>)>> {
    let raw = conn.raw();
    let mut update = raw.prepare_cached(
        "UPDATE OR FAIL sla_states SET version = ?2, through_event_id = ?3, clock = ?4, next_deadline_at = ?5, \
         next_deadline_kind = ?6, next_breach_at = ?7, updated_at = ?8, transitions_digest = ?9 \
         WHERE conversation = ?1 AND version = ?10 AND through_event_id = ?11 AND clock = ?12 \
         AND updated_at = ?13 AND transitions_digest IS ?14",
    )?;
    let mut update_kept = raw.prepare_cached(
        "UPDATE OR FAIL sla_states SET version = ?2, through_event_id = ?3, clock = ?4, updated_at = ?5, \
         transitions_digest = ?6 \
         WHERE conversation = ?1 AND version = ?7 AND through_event_id = ?8 AND clock = ?9 \
         AND updated_at = ?10 AND transitions_digest IS ?11",
    )?;
    let mut insert = raw.prepare_cached(&format!(
        "INSERT INTO sla_states ({STATE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT (conversation) DO NOTHING"
    ))?;
    let mut written_at = raw.prepare_cached(
        "SELECT updated_at FROM sla_states WHERE conversation = ?1 AND version <> ?2",
    )?;
    let mut moved = Vec::new();
    for (read, row) in rows {
        let written = match read {
            Some(read) if read.conversation == row.conversation => {
                let keeps_deadlines = read.next_deadline_at == row.next_deadline_at
                    && read.next_deadline_kind == row.next_deadline_kind.as_deref()
                    && read.next_breach_at == row.next_breach_at;
                if keeps_deadlines {
                    // Bound one by one with their types, every one each time: no dynamic
                    // dispatch on the path of most rows.
                    update_kept.raw_bind_parameter(1, row.conversation)?;
                    update_kept.raw_bind_parameter(2, row.version)?;
                    update_kept.raw_bind_parameter(3, row.through_event_id)?;
                    update_kept.raw_bind_parameter(4, row.clock.as_str())?;
                    update_kept.raw_bind_parameter(5, row.updated_at)?;
                    update_kept.raw_bind_parameter(6, row.transitions_digest)?;
                    update_kept.raw_bind_parameter(7, read.version)?;
                    update_kept.raw_bind_parameter(8, read.through_event_id)?;
                    update_kept.raw_bind_parameter(9, read.clock)?;
                    update_kept.raw_bind_parameter(10, read.updated_at)?;
                    update_kept.raw_bind_parameter(11, read.transitions_digest)?;
                    update_kept.raw_execute()?
                } else {
                    // The stored clock as read.
                    let as_read: [&dyn rusqlite::ToSql; 5] = [
                        &read.version,
                        &read.through_event_id,
                        &read.clock,
                        &read.updated_at,
                        &read.transitions_digest,
                    ];
                    update.execute(rusqlite::params_from_iter(
                        state_params(row).into_iter().chain(as_read),
                    ))?
                }
            }
            Some(_) => 0,
            None => insert.execute(state_params(row))?,
        };
        if written == 0 {
            let at = written_at
                .query_row((row.conversation, PLACEHOLDER_VERSION), |r| r.get(0))
                .optional()?;
            moved.push((row.conversation, at));
        }
    }
    Ok(moved)
}

/// [`crate::Tx::sla_states_moved`] on SQLite: `expected` in conversation order, one number
/// each, from `first` to `last`.
fn moved_sqlite(
    conn: &mut crate::sqlite::Conn,
    first: i64,
    last: i64,
    expected: &[&(i64, Option<BatchStateRef<'_>>)],
) -> Result<Vec<(i64, Option<i64>)>> {
    let mut select = conn.raw().prepare_cached(&format!(
        "SELECT {STATE_COLUMNS} \
         FROM sla_states WHERE conversation >= ?1 AND conversation <= ?2 AND version <> ?3 ORDER BY conversation",
    ))?;
    let mut rows = select.query((first, last, PLACEHOLDER_VERSION))?;
    let mut moved = Vec::new();
    let mut wanted = expected.iter().peekable();
    while let Some(row) = rows.next()? {
        let conversation: i64 = row.get(0)?;
        // Expected clocks before this row had none stored.
        while let Some((n, read)) = wanted.next_if(|(n, _)| *n < conversation) {
            if read.is_some() {
                moved.push((*n, None));
            }
        }
        let Some((n, read)) = wanted.next_if(|(n, _)| *n == conversation) else {
            continue;
        };
        let updated_at: i64 = row.get(7)?;
        // Texts are compared as bytes: equal bytes are equal texts, and no check is needed.
        let same = match read {
            None => false,
            Some(read) => {
                read.version == row.get::<_, i64>(1)?
                    && read.through_event_id == row.get::<_, i64>(2)?
                    && Some(read.clock.as_bytes()) == bytes_column(row, 3)?
                    && read.next_deadline_at == row.get::<_, Option<i64>>(4)?
                    && read.next_deadline_kind.map(str::as_bytes) == bytes_column(row, 5)?
                    && read.next_breach_at == row.get::<_, Option<i64>>(6)?
                    && read.updated_at == updated_at
                    && read.transitions_digest == row.get::<_, Option<i64>>(8)?
            }
        };
        if !same {
            moved.push((*n, Some(updated_at)));
        }
    }
    for (n, read) in wanted {
        if read.is_some() {
            moved.push((*n, None));
        }
    }
    Ok(moved)
}

/// A range of conversations as a recompute reads them ([`Store::scan_sla_batches`]).
#[derive(Debug, Default)]
pub struct SlaBatch {
    /// How many of them have clock inputs or a stored clock (counted by [`SlaBatch::seal`]).
    conversations: usize,
    events: Vec<BatchEvent>,
    states: Vec<BatchState>,
    /// The texts, once the batch is read ([`SlaBatch::seal`]).
    text: String,
    /// The texts' bytes while the batch is read, checked as UTF-8 once at the end.
    raw: Vec<u8>,
}

impl SlaBatch {
    /// How many conversations of the range the batch holds: those with clock inputs or a
    /// stored clock (every conversation has its `created` event).
    pub fn conversations(&self) -> usize {
        self.conversations
    }

    /// Their events of the kinds in [`SLA_INPUT_KINDS`], by conversation and then in log
    /// order.
    pub fn events(&self) -> impl Iterator<Item = BatchEventRef<'_>> + '_ {
        self.events.iter().map(move |e| BatchEventRef {
            id: e.id,
            conversation: e.conversation,
            at: e.at,
            input: self.text.get(e.input.clone()).unwrap_or_default(),
        })
    }

    /// Their stored SLA clocks, by conversation (conversations without one are absent).
    pub fn states(&self) -> impl Iterator<Item = BatchStateRef<'_>> + '_ {
        self.states.iter().map(move |s| BatchStateRef {
            conversation: s.conversation,
            version: s.version,
            through_event_id: s.through_event_id,
            clock: self.text.get(s.clock.clone()).unwrap_or_default(),
            next_deadline_at: s.next_deadline_at,
            next_deadline_kind: s
                .next_deadline_kind
                .clone()
                .and_then(|range| self.text.get(range)),
            next_breach_at: s.next_breach_at,
            updated_at: s.updated_at,
            transitions_digest: s.transitions_digest,
        })
    }

    /// The number of events read.
    pub fn event_count(&self) -> usize {
        self.events.len()
    }

    fn clear(&mut self) {
        self.conversations = 0;
        self.events.clear();
        self.states.clear();
        self.raw = std::mem::take(&mut self.text).into_bytes();
        self.raw.clear();
    }

    fn text_range(&mut self, text: &[u8]) -> Range<usize> {
        let start = self.raw.len();
        self.raw.extend_from_slice(text);
        start..self.raw.len()
    }

    /// Makes the bytes read the batch's text: one UTF-8 check of them all (cheaper than one
    /// per column), and each text must begin and end on a character boundary, so that
    /// each is valid UTF-8 on its own. A text that is not is an error, as reading it
    /// column by column as text was.
    fn seal(&mut self) -> rusqlite::Result<()> {
        let invalid = |e: std::str::Utf8Error| rusqlite::Error::Utf8Error(e);
        let text = String::from_utf8(std::mem::take(&mut self.raw))
            .map_err(|e| invalid(e.utf8_error()))?;
        let pieces = self.events.iter().map(|e| &e.input).chain(
            self.states
                .iter()
                .flat_map(|s| std::iter::once(&s.clock).chain(&s.next_deadline_kind)),
        );
        for piece in pieces {
            if !(text.is_char_boundary(piece.start) && text.is_char_boundary(piece.end)) {
                // A text cut inside a character is not UTF-8 on its own.
                std::str::from_utf8(text.as_bytes().get(piece.clone()).unwrap_or_default())
                    .map_err(invalid)?;
            }
        }
        self.text = text;
        self.conversations = count_distinct(
            self.events.iter().map(|e| e.conversation),
            self.states.iter().map(|s| s.conversation),
        );
        Ok(())
    }

    fn push_event(&mut self, id: i64, conversation: i64, at: i64, input: &[u8]) {
        let input = self.text_range(input);
        self.events.push(BatchEvent {
            id,
            conversation,
            at,
            input,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn push_state(
        &mut self,
        conversation: i64,
        version: i64,
        through_event_id: i64,
        clock: &[u8],
        next_deadline_at: Option<i64>,
        next_deadline_kind: Option<&[u8]>,
        next_breach_at: Option<i64>,
        updated_at: i64,
        transitions_digest: Option<i64>,
    ) {
        let clock = self.text_range(clock);
        let next_deadline_kind = next_deadline_kind.map(|kind| self.text_range(kind));
        self.states.push(BatchState {
            conversation,
            version,
            through_event_id,
            clock,
            next_deadline_at,
            next_deadline_kind,
            next_breach_at,
            updated_at,
            transitions_digest,
        });
    }
}

/// The ranges of conversation numbers a scan reads in turn, `batch` numbers each, from the
/// first conversation to the last (`bounds`; `None`: there is none).
fn batch_ranges(bounds: Option<(i64, i64)>, batch: u32) -> impl Iterator<Item = (i64, i64)> {
    let mut next = bounds.map(|(first, _)| first);
    let end = bounds.map_or(0, |(_, last)| last);
    std::iter::from_fn(move || {
        let first = next.filter(|first| *first <= end)?;
        let last = first.saturating_add(i64::from(batch.max(1)) - 1).min(end);
        next = last.checked_add(1);
        Some((first, last))
    })
}

/// How many distinct numbers two ascending sequences hold together.
fn count_distinct(a: impl Iterator<Item = i64>, b: impl Iterator<Item = i64>) -> usize {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    let mut count = 0;
    let mut last = None;
    loop {
        let next = match (a.peek().copied(), b.peek().copied()) {
            (Some(x), Some(y)) if x <= y => a.next(),
            (Some(_), Some(_)) | (None, Some(_)) => b.next(),
            (Some(_), None) => a.next(),
            (None, None) => return count,
        };
        if next != last {
            count += 1;
            last = next;
        }
    }
}

/// The batches of [`Store::scan_sla_batches`], in conversation order; the channel closes
/// after the last (or after an error, which is sent).
pub struct SlaBatches {
    receive: mpsc::Receiver<Result<SlaBatch>>,
    spare: std::sync::mpsc::Sender<SlaBatch>,
}

impl SlaBatches {
    /// The next batch; `None` after the last.
    pub async fn recv(&mut self) -> Option<Result<SlaBatch>> {
        self.receive.recv().await
    }

    /// Hands a batch back, so that the scan fills it again instead of allocating another.
    pub fn recycle(&self, batch: SlaBatch) {
        let _ = self.spare.send(batch);
    }
}

fn spare_batch(spare: &std::sync::mpsc::Receiver<SlaBatch>) -> SlaBatch {
    match spare.try_recv() {
        Ok(mut reused) => {
            reused.clear();
            reused
        }
        Err(_) => SlaBatch::default(),
    }
}

impl Store {
    /// Every conversation, `batch` conversations at a time in number order, each batch with
    /// the stored SLA clocks and the events of its conversations of the kinds in
    /// [`SLA_INPUT_KINDS`], each as its `clock_input` text (on SQLite read from the table
    /// `sla_inputs`, on PostgreSQL from the index `events_clock_inputs` alone).
    pub fn scan_sla_batches(&self, batch: u32) -> SlaBatches {
        let (send, receive) = mpsc::channel(AHEAD);
        let (spare, spares) = std::sync::mpsc::channel();
        let batch = batch.max(1);
        match &self.pools {
            Pools::Sqlite { path, .. } => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || {
                    if let Err(err) = scan_sqlite(&path, batch, &spares, &send) {
                        let _ = send.blocking_send(Err(err));
                    }
                });
            }
            Pools::Postgres(_) => {
                let store = self.clone();
                tokio::spawn(async move {
                    let bounds = match store.conversation_bounds().await {
                        Ok(bounds) => bounds,
                        Err(err) => {
                            let _ = send.send(Err(err)).await;
                            return;
                        }
                    };
                    for (first, last) in batch_ranges(bounds, batch) {
                        let mut filling = spare_batch(&spares);
                        let read = store.fill_sla_batch(&mut filling, first, last).await;
                        let failed = read.is_err();
                        if send.send(read.map(|()| filling)).await.is_err() || failed {
                            break;
                        }
                    }
                });
            }
        }
        SlaBatches { receive, spare }
    }

    /// The events of these kinds of these conversations, by conversation and then in log
    /// order: for a recompute, the transitions it could not vouch for by their digest.
    pub async fn events_of_kinds(
        &self,
        conversations: &[i64],
        kinds: &[&str],
    ) -> Result<Vec<EventRow>> {
        let mut numbers = conversations.to_vec();
        numbers.sort_unstable();
        numbers.dedup();
        if kinds.is_empty() {
            return Ok(Vec::new());
        }
        let columns = crate::events::event_columns(self.dialect());
        let quoted: Vec<String> = kinds
            .iter()
            .map(|kind| format!("'{}'", kind.replace('\'', "''")))
            .collect();
        let mut out = Vec::new();
        for chunk in numbers.chunks(1_000) {
            let sql = format!(
                "SELECT {columns} FROM events WHERE conversation IN ({}) AND kind IN ({}) ORDER BY conversation, id",
                crate::sla::in_list(self.dialect(), chunk.len()),
                quoted.join(", ")
            );
            let args: Vec<Arg> = chunk.iter().map(|n| Arg::Int(*n)).collect();
            let rows: Vec<EventRow> =
                run!(read self, |p| bind_all!(sqlx::query_as(&sql), &args).fetch_all(p).await?);
            out.extend(rows);
        }
        Ok(out)
    }

    /// The smallest and the largest conversation number (`None`: there is no conversation).
    async fn conversation_bounds(&self) -> Result<Option<(i64, i64)>> {
        let (first, last): (Option<i64>, Option<i64>) = run!(read self, |p| sqlx::query_as(
            "SELECT min(number), max(number) FROM conversations").fetch_one(p).await?);
        Ok(first.zip(last))
    }

    /// One batch from the pool (PostgreSQL): the conversations `first..=last`, their stored
    /// clocks, then their events.
    async fn fill_sla_batch(&self, into: &mut SlaBatch, first: i64, last: i64) -> Result<()> {
        let sql = format!(
            "SELECT {STATE_COLUMNS} \
             FROM sla_states WHERE conversation >= $1 AND conversation <= $2 AND version <> $3 ORDER BY conversation"
        );
        let states: Vec<SlaStateRow> = run!(read self, |p| sqlx::query_as(&sql)
            .bind(first).bind(last).bind(PLACEHOLDER_VERSION).fetch_all(p).await?);
        for s in &states {
            into.push_state(
                s.conversation,
                s.version,
                s.through_event_id,
                s.clock.as_bytes(),
                s.next_deadline_at,
                s.next_deadline_kind.as_deref().map(str::as_bytes),
                s.next_breach_at,
                s.updated_at,
                s.transitions_digest,
            );
        }
        let events: Vec<(i64, i64, i64, String)> = run!(read self, |p| sqlx::query_as(INPUTS_SQL)
            .bind(first).bind(last).fetch_all(p).await?);
        for (id, conversation, at, input) in &events {
            into.push_event(*id, *conversation, *at, input.as_bytes());
        }
        into.seal()?;
        Ok(())
    }
}

/// A text column's bytes borrowed from the row (no copy, no UTF-8 check: see
/// [`SlaBatch::seal`]); `None` for NULL.
fn bytes_column<'a>(
    row: &'a rusqlite::Row<'_>,
    index: usize,
) -> rusqlite::Result<Option<&'a [u8]>> {
    match row.get_ref(index)? {
        ValueRef::Text(bytes) => Ok(Some(bytes)),
        ValueRef::Null => Ok(None),
        other => Err(rusqlite::Error::InvalidColumnType(
            index,
            format!("column {index}"),
            other.data_type(),
        )),
    }
}

/// The scan's read of a range of conversations' inputs on PostgreSQL: its `WHERE` is the
/// partial index `events_clock_inputs`'s, whose columns are all it reads, so PostgreSQL can
/// read that index alone.
const INPUTS_SQL: &str = "SELECT id, conversation, at, clock_input FROM events \
     WHERE conversation >= $1 AND conversation <= $2 AND clock_input IS NOT NULL ORDER BY conversation, id";

/// The scan's read of a range of conversations' inputs on SQLite: their chunks of the table
/// `sla_inputs` (migration 0033), each conversation's in log order. The table is keyed by
/// these two columns (`WITHOUT ROWID`), so the rows are read where they lie.
const INPUTS_SQL_SQLITE: &str = "SELECT conversation, inputs FROM sla_inputs \
     WHERE conversation >= ?1 AND conversation <= ?2 ORDER BY conversation, chunk";

/// Adds to `batch` the inputs of one chunk of `sla_inputs` (migration 0033 writes it): each
/// is `<id> <at> <bytes> <text>`, the text `<bytes>` bytes long, with nothing between two
/// inputs. A chunk that does not read so is an error, as is one whose texts are not UTF-8
/// ([`SlaBatch::seal`] checks them).
fn push_chunk(batch: &mut SlaBatch, conversation: i64, chunk: &[u8]) -> Result<()> {
    let corrupt = || {
        crate::StoreError::Corrupt(format!(
            "the SLA clock inputs kept for conversation {conversation} (table sla_inputs, which a \
             trigger derives from its events) do not read as `<id> <at> <bytes> <text>`"
        ))
    };
    let mut rest = chunk;
    while !rest.is_empty() {
        let id = leading_number(&mut rest).ok_or_else(corrupt)?;
        let at = leading_number(&mut rest).ok_or_else(corrupt)?;
        let length = leading_number(&mut rest)
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(corrupt)?;
        let (text, after) = rest.split_at_checked(length).ok_or_else(corrupt)?;
        batch.push_event(id, conversation, at, text);
        rest = after;
    }
    Ok(())
}

/// The whole number `text` begins with, in decimal (`-` before it when negative) and followed
/// by one space, which is consumed with it; `None` (and `text` as it was) when there is none
/// or it does not fit.
fn leading_number(text: &mut &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, *text),
    };
    // One pass; at most 19 digits, which a u64 holds whatever they are.
    let mut value: u64 = 0;
    let mut length = 0;
    for byte in digits {
        let digit = byte.wrapping_sub(b'0');
        if digit > 9 {
            break;
        }
        if length == 19 {
            return None;
        }
        value = value * 10 + u64::from(digit);
        length += 1;
    }
    if length == 0 || digits.get(length) != Some(&b' ') {
        return None;
    }
    let value = if negative {
        0_i64.checked_sub_unsigned(value)?
    } else {
        i64::try_from(value).ok()?
    };
    *text = digits.get(length + 1..)?;
    Some(value)
}

fn scan_sqlite(
    path: &std::path::Path,
    batch: u32,
    spares: &std::sync::mpsc::Receiver<SlaBatch>,
    send: &mpsc::Sender<Result<SlaBatch>>,
) -> Result<()> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // Plans do not depend on the values bound (as on the store's connections): otherwise,
    // with `ANALYZE`'s statistics, each batch's new bounds re-prepare its statements.
    conn.set_db_config(
        rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
        true,
    )?;
    conn.execute_batch("PRAGMA cache_size = -65536")?;
    let mut states = conn.prepare(&format!(
        "SELECT {STATE_COLUMNS} \
         FROM sla_states WHERE conversation >= ?1 AND conversation <= ?2 AND version <> ?3 ORDER BY conversation",
    ))?;
    let mut events = conn.prepare(INPUTS_SQL_SQLITE)?;
    // The conversations as the scan starts: those created since have their clocks from the
    // live path, under the rules the scan folds under or newer ones.
    let bounds: (Option<i64>, Option<i64>) = conn.query_row(
        // Two subqueries: each reads one end of the table, where one query for both would
        // read it all.
        "SELECT (SELECT min(number) FROM conversations), (SELECT max(number) FROM conversations)",
        [],
        |row| Ok((row.get(0)?, row.get(1)?)),
    )?;
    for (first, last) in batch_ranges(bounds.0.zip(bounds.1), batch) {
        let mut filling = spare_batch(spares);
        // One read transaction per batch: its clocks and logs are one consistent snapshot,
        // and the WAL can be checkpointed between batches (the caller writes as it goes).
        conn.execute_batch("BEGIN")?;
        let mut rows = states.query((first, last, PLACEHOLDER_VERSION))?;
        while let Some(row) = rows.next()? {
            filling.push_state(
                row.get(0)?,
                row.get(1)?,
                row.get(2)?,
                bytes_column(row, 3)?.unwrap_or_default(),
                row.get(4)?,
                bytes_column(row, 5)?,
                row.get(6)?,
                row.get(7)?,
                row.get(8)?,
            );
        }
        let mut rows = events.query((first, last))?;
        while let Some(row) = rows.next()? {
            push_chunk(
                &mut filling,
                row.get(0)?,
                bytes_column(row, 1)?.unwrap_or_default(),
            )?;
        }
        filling.seal()?;
        drop(rows);
        conn.execute_batch("COMMIT")?;
        if send.blocking_send(Ok(filling)).is_err() {
            return Ok(()); // The reader went away.
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::{
        batch_ranges, count_distinct, push_chunk, SlaBatch, INPUTS_SQL_SQLITE, SLA_INPUT_KINDS,
    };

    #[test]
    fn the_scan_reads_the_conversations_in_ranges_from_the_first_to_the_last() {
        let ranges = |bounds, batch| batch_ranges(bounds, batch).collect::<Vec<_>>();
        assert_eq!(ranges(Some((1, 5)), 2), [(1, 2), (3, 4), (5, 5)]);
        assert_eq!(ranges(Some((7, 8)), 2_000), [(7, 8)]);
        assert_eq!(ranges(Some((3, 3)), 1), [(3, 3)]);
        assert_eq!(ranges(Some((1, 4)), 0), [(1, 1), (2, 2), (3, 3), (4, 4)]);
        assert_eq!(ranges(None, 10), []);
        assert_eq!(
            ranges(Some((i64::MAX - 2, i64::MAX)), 2),
            [(i64::MAX - 2, i64::MAX - 1), (i64::MAX, i64::MAX)]
        );
    }

    #[test]
    fn a_batch_counts_each_conversation_once() {
        let count = |a: &[i64], b: &[i64]| count_distinct(a.iter().copied(), b.iter().copied());
        assert_eq!(count(&[1, 1, 2, 5, 5], &[1, 2, 3]), 4);
        assert_eq!(count(&[], &[4, 4]), 1);
        assert_eq!(count(&[9], &[]), 1);
        assert_eq!(count(&[], &[]), 0);
        assert_eq!(count(&[2, 4], &[1, 3, 5]), 5);
    }

    /// A batch's texts are checked as UTF-8 once, whole, and each on its own: two halves of
    /// one character make valid UTF-8 together, yet neither is a text.
    #[test]
    fn a_batch_takes_utf8_texts_and_refuses_a_character_cut_in_two() {
        let mut batch = SlaBatch::default();
        batch.push_event(1, 7, 10, "+ caf\u{e9}".as_bytes());
        batch.push_state(
            7,
            1,
            1,
            "s1,\u{e9}".as_bytes(),
            None,
            Some(b"breach"),
            None,
            10,
            None,
        );
        batch.seal().unwrap();
        let event = batch.events().next().unwrap();
        assert_eq!(event.input, "+ caf\u{e9}");
        let state = batch.states().next().unwrap();
        assert_eq!(
            (state.clock, state.next_deadline_kind),
            ("s1,\u{e9}", Some("breach"))
        );

        // Reused, as the scan reuses it.
        batch.clear();
        let e = "\u{e9}".as_bytes();
        batch.push_event(2, 8, 10, &e[..1]);
        batch.push_event(2, 8, 11, &e[1..]);
        assert!(batch.seal().is_err());
        batch.clear();
        batch.push_event(3, 9, 10, &[b'{', 0xff, b'}']);
        assert!(batch.seal().is_err());
        batch.clear();
        batch.push_event(4, 9, 10, b"{}");
        batch.seal().unwrap();
        assert_eq!(batch.events().map(|e| e.id).collect::<Vec<_>>(), vec![4]);
    }

    /// The scan reads the table of the clocks' inputs where its rows lie: the plan of its
    /// query on the migrated schema is a search of that table's key, and the migrations
    /// derive the text for the kinds the clock reads.
    #[test]
    fn the_scan_reads_the_table_of_the_clocks_inputs_by_its_key() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        for (_, _, script, _) in crate::migrate::MIGRATIONS {
            conn.execute_batch(script).unwrap();
        }
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN QUERY PLAN {INPUTS_SQL_SQLITE}"))
            .unwrap()
            .query_map((1, 100), |row| row.get::<_, String>(3))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert_eq!(
            plan,
            vec![
                "SEARCH sla_inputs USING PRIMARY KEY (conversation>? AND conversation<?)"
                    .to_string()
            ]
        );
        let kinds: Vec<String> = SLA_INPUT_KINDS.iter().map(|k| format!("'{k}'")).collect();
        let kinds = format!("kind IN ({})", kinds.join(", "));
        for migration in [
            include_str!("../migrations/sqlite/0032_events_clock_input.sql"),
            include_str!("../migrations/postgres/0032_events_clock_input.sql"),
        ] {
            assert!(migration.contains(&kinds), "{migration}");
            for kind in SLA_INPUT_KINDS {
                assert!(migration.contains(&format!("WHEN '{kind}' THEN")), "{kind}");
            }
        }
    }

    /// Appends an event to the log (the database derives its `clock_input` from the payload).
    fn append(
        conn: &rusqlite::Connection,
        conversation: Option<i64>,
        kind: &str,
        at: i64,
        payload: &str,
    ) {
        conn.execute(
            "INSERT INTO events (conversation, kind, actor_kind, at, payload) VALUES (?1, ?2, 'system', ?3, ?4)",
            (conversation, kind, at, payload),
        )
        .unwrap();
    }

    /// The conversations' logs as the scan reads them from `sla_inputs`: (conversation, id,
    /// at, text) in order.
    fn scanned(conn: &rusqlite::Connection) -> Vec<(i64, i64, i64, String)> {
        let mut batch = SlaBatch::default();
        let mut select = conn.prepare(INPUTS_SQL_SQLITE).unwrap();
        let mut rows = select.query((i64::MIN, i64::MAX)).unwrap();
        while let Some(row) = rows.next().unwrap() {
            let text: String = row.get(1).unwrap();
            push_chunk(&mut batch, row.get(0).unwrap(), text.as_bytes()).unwrap();
        }
        drop(rows);
        batch.seal().unwrap();
        batch
            .events()
            .map(|e| (e.conversation, e.id, e.at, e.input.to_string()))
            .collect()
    }

    /// What the log holds for the clocks, read from `events` itself.
    fn logged(conn: &rusqlite::Connection) -> Vec<(i64, i64, i64, String)> {
        conn.prepare(
            "SELECT conversation, id, at, clock_input FROM events \
             WHERE clock_input IS NOT NULL AND conversation IS NOT NULL ORDER BY conversation, id",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap()
    }

    /// The table of the clocks' inputs says what the log says, whether the trigger filled it
    /// as events were appended or migration 0033 filled it from a log written before: the
    /// same rows, chunks of 16 inputs in log order, texts of any bytes (a tag with spaces,
    /// digits, a line break, characters beyond ASCII; `?` for an input without its field),
    /// instants before 1970, events no clock reads and events of no conversation left out.
    #[test]
    fn the_table_of_the_clocks_inputs_follows_the_log() {
        const CREATED: &str = r#"{"type":"created","channel":"email","status":"open","priority":"normal","customer_id":7,"group_id":null}"#;
        const TAG: &str = r#"{"type":"tag_added","tag":"vip 12 \nline caf\u00e9 \u4e2d"}"#;
        let write_log = |conn: &rusqlite::Connection| {
            append(conn, Some(2), "created", -5, CREATED);
            append(conn, Some(1), "created", 0, CREATED);
            append(conn, None, "agent_added", 1, r#"{"type":"agent_added"}"#);
            for i in 1..40_i64 {
                let payload = if i % 2 == 0 {
                    r#"{"type":"message_added","message_kind":"reply"}"#
                } else {
                    TAG
                };
                let kind = if i % 2 == 0 {
                    "message_added"
                } else {
                    "tag_added"
                };
                append(conn, Some(1), kind, i, payload);
                if i % 10 == 0 {
                    append(
                        conn,
                        Some(1),
                        "sla_breached",
                        i,
                        r#"{"type":"sla_breached"}"#,
                    );
                }
            }
            append(
                conn,
                Some(2),
                "status_changed",
                50,
                r#"{"type":"status_changed"}"#,
            );
            append(conn, Some(2), "tag_added", 51, TAG);
        };
        let (before, after): (Vec<_>, Vec<_>) =
            crate::migrate::MIGRATIONS.iter().partition(|m| m.0 < 33);
        // Written before 0033: its migration fills the table from the log.
        let old = rusqlite::Connection::open_in_memory().unwrap();
        for (_, _, script, _) in &before {
            old.execute_batch(script).unwrap();
        }
        write_log(&old);
        for (_, _, script, _) in &after {
            old.execute_batch(script).unwrap();
        }
        // Written after: the trigger fills it.
        let new = rusqlite::Connection::open_in_memory().unwrap();
        for (_, _, script, _) in crate::migrate::MIGRATIONS {
            new.execute_batch(script).unwrap();
        }
        write_log(&new);

        let log = logged(&new);
        let texts: Vec<&str> = log.iter().map(|e| e.3.as_str()).collect();
        assert_eq!(log.len(), 43);
        assert_eq!(
            texts
                .iter()
                .filter(|t| **t == "+ vip 12 \nline caf\u{e9} \u{4e2d}")
                .count(),
            21
        );
        assert_eq!(
            texts
                .iter()
                .filter(|t| **t == "c email open normal 7 -")
                .count(),
            2
        );
        assert!(texts.contains(&"?"), "{texts:?}");
        assert_eq!(log.first().map(|e| (e.0, e.2)), Some((1, 0)));
        assert_eq!(scanned(&new), log);
        assert_eq!(logged(&old), log);
        assert_eq!(scanned(&old), log);
        let chunks = |conn: &rusqlite::Connection| -> Vec<(i64, i64, i64, String)> {
            conn.prepare(
                "SELECT conversation, chunk, inputs_count, inputs FROM sla_inputs ORDER BY conversation, chunk",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap()
        };
        let counts: Vec<(i64, i64, i64)> = chunks(&new).iter().map(|c| (c.0, c.1, c.2)).collect();
        assert_eq!(counts, [(1, 0, 16), (1, 1, 16), (1, 2, 8), (2, 0, 3)]);
        assert_eq!(chunks(&old), chunks(&new));
    }

    /// A chunk reads as `<id> <at> <bytes> <text>` again and again, or not at all: anything
    /// else is an error, never a panic nor a text cut short.
    #[test]
    fn a_chunk_that_does_not_read_is_an_error() {
        let read = |chunk: &[u8]| {
            let mut batch = SlaBatch::default();
            push_chunk(&mut batch, 4, chunk)?;
            batch.seal()?;
            Ok::<_, crate::StoreError>(
                batch
                    .events()
                    .map(|e| (e.id, e.at, e.input.to_string()))
                    .collect::<Vec<_>>(),
            )
        };
        assert_eq!(
            read(b"12 -3 7 m reply15 1767225600000 9 + vip tag").unwrap(),
            [
                (12, -3, "m reply".to_string()),
                (15, 1_767_225_600_000, "+ vip tag".to_string())
            ]
        );
        assert_eq!(read(b"").unwrap(), []);
        assert_eq!(
            read(b"-9223372036854775808 9223372036854775807 0 ").unwrap(),
            [(i64::MIN, i64::MAX, String::new())]
        );
        for bad in [
            &b"12 -3 8 m reply"[..],
            b"12 -3",
            b"12 -3 7",
            b"x 1 1 a",
            b"1  1 a",
            b"1 2 -1 a",
            b"1 2 +1 a",
            b"9223372036854775808 1 1 a",
            b"12 -3 7 m reply1",
            "1 2 1 \u{e9}".as_bytes(),
            b"1 2 1 \xff",
        ] {
            assert!(read(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    proptest::proptest! {
        /// Whatever the ids, instants and texts, a chunk written as the trigger writes it
        /// reads back as written; and any bytes at all read as inputs or as an error.
        #[test]
        fn a_chunk_reads_back_what_was_written(
            inputs in proptest::collection::vec((proptest::num::i64::ANY, proptest::num::i64::ANY, ".{0,12}"), 0..6),
            noise in proptest::collection::vec(proptest::num::u8::ANY, 0..40),
        ) {
            let mut chunk = String::new();
            for (id, at, text) in &inputs {
                chunk.push_str(&format!("{id} {at} {} {text}", text.len()));
            }
            let mut batch = SlaBatch::default();
            push_chunk(&mut batch, 1, chunk.as_bytes()).unwrap();
            batch.seal().unwrap();
            let read: Vec<(i64, i64, String)> =
                batch.events().map(|e| (e.id, e.at, e.input.to_string())).collect();
            proptest::prop_assert_eq!(read, inputs);

            let mut batch = SlaBatch::default();
            if push_chunk(&mut batch, 1, &noise).is_ok() {
                let _ = batch.seal();
            }
        }
    }
}
