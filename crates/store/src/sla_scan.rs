//! Reading every conversation's log and stored SLA clock for a recompute, a batch of
//! conversations at a time, ahead of the caller and outside the writer.
//!
//! A batch ([`SlaBatch`]) holds a range of conversation numbers, the stored clocks of those
//! conversations and their clocks' inputs: their events of the kinds in [`SLA_INPUT_KINDS`],
//! by conversation, then in log order, each as the text of its `clock_input` column (what the
//! clock reads of it, `sla::read_clock_input`). On SQLite that is one range of the partial
//! index `events_clock_inputs` (migrations 0031 and 0032), which holds the instants and texts
//! too, so no row of `events` is looked up. Texts live in one buffer per batch, so reading an event
//! allocates nothing; the caller hands batches back to be filled again.
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
/// partial index `events_clock_inputs` holds, and the only ones [`Store::scan_sla_batches`]
/// reads.
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
    id: Option<i64>,
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
    /// The event's id: always for the last event of its conversation whose input the
    /// scan's `holds_input` accepts, and for those after it; `None` where it was not read
    /// (SQLite reads no other, as no clock needs one: `through_event_id` is the last
    /// input's).
    pub id: Option<i64>,
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

    fn push_event(&mut self, id: Option<i64>, conversation: i64, at: i64, input: &[u8]) {
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
    /// [`SLA_INPUT_KINDS`], each as its `clock_input` text (on SQLite read from the index
    /// `events_clock_inputs` alone). `holds_input` tells the texts a clock reads an input
    /// from: of each conversation's events, only the last it accepts and those after it are
    /// sure to come with their ids ([`BatchEventRef::id`]).
    pub fn scan_sla_batches(&self, batch: u32, holds_input: fn(&str) -> bool) -> SlaBatches {
        let (send, receive) = mpsc::channel(AHEAD);
        let (spare, spares) = std::sync::mpsc::channel();
        let batch = batch.max(1);
        match &self.pools {
            Pools::Sqlite { path, .. } => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || {
                    if let Err(err) = scan_sqlite(&path, batch, holds_input, &spares, &send) {
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
            into.push_event(Some(*id), *conversation, *at, input.as_bytes());
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

/// The scan's read of a range of conversations' inputs: its `WHERE` is the partial index
/// `events_clock_inputs`'s, whose columns are all it reads, so PostgreSQL can read that index
/// alone.
const INPUTS_SQL: &str = "SELECT id, conversation, at, clock_input FROM events \
     WHERE conversation >= $1 AND conversation <= $2 AND clock_input IS NOT NULL ORDER BY conversation, id";

/// [`INPUTS_SQL`] on SQLite, which reads the index `events_clock_inputs` alone, and
/// backwards: reading a column costs (rusqlite asks SQLite its type, then its value), and so
/// the scan reads the id only where it is wanted, from each conversation's last input on
/// (each batch's events are put back in log order). The index is named: SQLite's planner
/// does not count an indexed virtual column as covered, and on a
/// loaded database (1M conversations, with `ANALYZE`'s statistics) it took
/// `events_conversation` and looked up every row: 20.5 CPU-s for a recompute that changed
/// nothing, against 3.7 with the index named. With `INDEXED BY` the query fails rather than
/// use another index.
const INPUTS_SQL_SQLITE: &str = "SELECT conversation, at, clock_input, id FROM events INDEXED BY events_clock_inputs \
     WHERE conversation >= $1 AND conversation <= $2 AND clock_input IS NOT NULL ORDER BY conversation DESC, id DESC";

fn scan_sqlite(
    path: &std::path::Path,
    batch: u32,
    holds_input: fn(&str) -> bool,
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
        // Backwards, so that each conversation's last input comes first: only the ids up to
        // it are read.
        let mut rows = events.query((first, last))?;
        let mut reading = None;
        let mut wants_id = true;
        while let Some(row) = rows.next()? {
            let conversation: i64 = row.get(0)?;
            if reading != Some(conversation) {
                reading = Some(conversation);
                wants_id = true;
            }
            let input = bytes_column(row, 2)?.unwrap_or_default();
            let id = if wants_id {
                wants_id = !std::str::from_utf8(input).is_ok_and(holds_input);
                Some(row.get(3)?)
            } else {
                None
            };
            filling.push_event(id, conversation, row.get(1)?, input);
        }
        filling.events.reverse();
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
    use super::{batch_ranges, count_distinct, SlaBatch, INPUTS_SQL_SQLITE, SLA_INPUT_KINDS};

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
        batch.push_event(Some(1), 7, 10, "+ caf\u{e9}".as_bytes());
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
        batch.push_event(Some(2), 8, 10, &e[..1]);
        batch.push_event(Some(2), 8, 11, &e[1..]);
        assert!(batch.seal().is_err());
        batch.clear();
        batch.push_event(Some(3), 9, 10, &[b'{', 0xff, b'}']);
        assert!(batch.seal().is_err());
        batch.clear();
        batch.push_event(Some(4), 9, 10, b"{}");
        batch.seal().unwrap();
        assert_eq!(
            batch.events().map(|e| e.id).collect::<Vec<_>>(),
            vec![Some(4)]
        );
    }

    /// The scan reads the index of the clocks' inputs alone: the plan of its query on the
    /// migrated schema is a search of that index, every column it reads comes from the index
    /// (the virtual `clock_input` too: no opcode reads the table's row), and the migrations
    /// derive the text for the kinds the clock reads.
    #[test]
    fn the_scan_reads_the_index_of_the_clocks_inputs_alone() {
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
                "SEARCH events USING INDEX events_clock_inputs (conversation>? AND conversation<?)"
                    .to_string()
            ]
        );
        let root = |name: &str| -> i64 {
            conn.query_row(
                "SELECT rootpage FROM sqlite_schema WHERE name = ?1",
                [name],
                |r| r.get(0),
            )
            .unwrap()
        };
        let (table, index) = (root("events"), root("events_clock_inputs"));
        // (opcode, p1, p2) of the scan's bytecode.
        let code: Vec<(String, i64, i64)> = conn
            .prepare(&format!("EXPLAIN {INPUTS_SQL_SQLITE}"))
            .unwrap()
            .query_map((1, 100), |row| Ok((row.get(1)?, row.get(2)?, row.get(3)?)))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        let cursor_on = |page: i64| {
            code.iter()
                .find(|(op, _, p2)| op == "OpenRead" && *p2 == page)
                .map(|(_, p1, _)| *p1)
        };
        let index_cursor = cursor_on(index).unwrap();
        let reads: Vec<i64> = code
            .iter()
            .filter(|(op, _, _)| op == "Column" || op == "IdxRowid")
            .map(|(_, p1, _)| *p1)
            .collect();
        assert_eq!(reads, vec![index_cursor; 4], "{code:?}");
        if let Some(table_cursor) = cursor_on(table) {
            assert!(
                !code.iter().any(|(op, p1, _)| *p1 == table_cursor
                    && ["SeekRowid", "NotExists", "Column", "Rowid"].contains(&op.as_str())),
                "{code:?}"
            );
        }
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
}
