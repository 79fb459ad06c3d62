//! Reading the whole event log (roll-up rebuilds, the process log) as a stream of pages.
//!
//! One scanner, [`Store::scan_event_pages`]: each page keeps its events' texts in one buffer,
//! borrowed by the reader, so reading an event allocates nothing, and the reader hands pages
//! back to be filled again. On SQLite the scan opens its own read-only connection on a blocking
//! thread, inside one read transaction, and sends whole pages: the database is read on one
//! core while the caller works on the other. PostgreSQL streams rows efficiently: there the
//! pages come from [`Store::events_after`] (below the horizon of committed transactions), read
//! ahead by a task.
//!
//! A reader that wants only some kinds of event says whether the others may be skipped by the
//! query ([`ScanKinds::Only`], the process log) or must still be counted, because its
//! position has to pass them ([`ScanKinds::Keep`], the KPI refold, whose cursor goes on from
//! the end of the log).

use std::ops::Range;

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::mpsc;

use crate::{Cursor, Pools, Result, Store, Tx};

/// Pages read ahead of the caller.
const AHEAD: usize = 2;

/// Which events a whole-log scan reads and keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanKinds {
    /// Only events of these kinds (every kind when empty): the query skips the others, so
    /// they are never copied out of the database, nor counted.
    Only(&'static [&'static str]),
    /// Every event is read and counted (it moves [`EventPage::last`]), and those of these
    /// kinds are kept (every kind when empty).
    Keep(&'static [&'static str]),
}

impl ScanKinds {
    /// The kinds the query selects (none: every kind).
    fn in_query(self) -> &'static [&'static str] {
        match self {
            ScanKinds::Only(kinds) => kinds,
            ScanKinds::Keep(_) => &[],
        }
    }

    /// Whether an event of `kind` read by the query is kept.
    fn keeps(self, kind: &str) -> bool {
        match self {
            ScanKinds::Only(_) => true,
            ScanKinds::Keep(kinds) => kinds.is_empty() || kinds.contains(&kind),
        }
    }
}

/// One event of an [`EventPage`], its texts borrowed from the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRef<'a> {
    pub id: i64,
    pub tx_pos: i64,
    pub conversation: Option<i64>,
    pub kind: &'a str,
    pub actor_kind: &'a str,
    pub actor_id: Option<i64>,
    pub at: i64,
    pub payload: &'a str,
}

#[derive(Debug, Clone)]
struct PagedEvent {
    id: i64,
    tx_pos: i64,
    conversation: Option<i64>,
    actor_id: Option<i64>,
    at: i64,
    kind: Range<usize>,
    actor_kind: Range<usize>,
    payload: Range<usize>,
}

/// A page of a whole-log scan ([`Store::scan_event_pages`]): the events of the kinds asked
/// for, their texts in one buffer, and how far the scan read (events of other kinds count as
/// read, and move [`EventPage::last`], without being kept).
#[derive(Debug, Default)]
pub struct EventPage {
    events: Vec<PagedEvent>,
    text: String,
    read: usize,
    last: Option<Cursor>,
}

impl EventPage {
    /// The events kept, in log order.
    pub fn iter(&self) -> impl Iterator<Item = EventRef<'_>> + '_ {
        self.events.iter().map(move |e| EventRef {
            id: e.id,
            tx_pos: e.tx_pos,
            conversation: e.conversation,
            kind: self.text.get(e.kind.clone()).unwrap_or_default(),
            actor_kind: self.text.get(e.actor_kind.clone()).unwrap_or_default(),
            actor_id: e.actor_id,
            at: e.at,
            payload: self.text.get(e.payload.clone()).unwrap_or_default(),
        })
    }

    /// The number of events kept.
    pub fn len(&self) -> usize {
        self.events.len()
    }

    /// True when no event was kept (others may have been read).
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// The number of events read for this page, kept or not.
    pub fn read(&self) -> usize {
        self.read
    }

    /// The position after the last event read for this page, kept or not.
    pub fn last(&self) -> Option<Cursor> {
        self.last
    }

    fn clear(&mut self) {
        self.events.clear();
        self.text.clear();
        self.read = 0;
        self.last = None;
    }

    fn text_range(&mut self, text: &str) -> Range<usize> {
        let start = self.text.len();
        self.text.push_str(text);
        start..self.text.len()
    }

    /// Counts an event as read, and keeps it when `keep`.
    fn push(&mut self, event: EventRef<'_>, keep: bool) {
        self.read += 1;
        self.last = Some(Cursor {
            tx_pos: event.tx_pos,
            event_id: event.id,
        });
        if !keep {
            return;
        }
        let kind = self.text_range(event.kind);
        let actor_kind = self.text_range(event.actor_kind);
        let payload = self.text_range(event.payload);
        self.events.push(PagedEvent {
            id: event.id,
            tx_pos: event.tx_pos,
            conversation: event.conversation,
            actor_id: event.actor_id,
            at: event.at,
            kind,
            actor_kind,
            payload,
        });
    }
}

/// The pages of [`Store::scan_event_pages`], in log order; the channel closes after the last
/// (or after an error, which is sent).
pub struct EventPages {
    receive: mpsc::Receiver<Result<EventPage>>,
    spare: std::sync::mpsc::Sender<EventPage>,
}

impl EventPages {
    /// The next page; `None` after the last.
    pub async fn recv(&mut self) -> Option<Result<EventPage>> {
        self.receive.recv().await
    }

    /// [`EventPages::recv`] for a reader on a thread of its own (outside the async runtime).
    pub fn blocking_recv(&mut self) -> Option<Result<EventPage>> {
        self.receive.blocking_recv()
    }

    /// Hands a page back, so that the scan fills it again instead of allocating another.
    pub fn recycle(&self, page: EventPage) {
        let _ = self.spare.send(page);
    }
}

/// A page to fill: one handed back, or a new one.
fn spare_page(spare: &std::sync::mpsc::Receiver<EventPage>, page: u32) -> EventPage {
    match spare.try_recv() {
        Ok(mut reused) => {
            reused.clear();
            reused
        }
        Err(_) => EventPage {
            events: Vec::with_capacity(page as usize),
            ..EventPage::default()
        },
    }
}

impl Store {
    /// Every event after `from`, in log order, in [`EventPage`]s of up to `page` events read;
    /// `kinds` says which events are read and which kept. The channel closes after the last
    /// page (or after an error, which is sent). On SQLite the pages are filled on a blocking
    /// thread inside one read transaction, with no allocation per event; on PostgreSQL from
    /// [`Store::events_after`], below the horizon of committed transactions.
    pub fn scan_event_pages(&self, from: Cursor, page: u32, kinds: ScanKinds) -> EventPages {
        let (send, receive) = mpsc::channel(AHEAD);
        let (spare, spares) = std::sync::mpsc::channel();
        let page = page.max(1);
        match &self.pools {
            Pools::Sqlite { path, .. } => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || {
                    if let Err(err) = scan_sqlite_pages(&path, from, page, kinds, &spares, &send) {
                        let _ = send.blocking_send(Err(err));
                    }
                });
            }
            Pools::Postgres(_) => {
                let store = self.clone();
                tokio::spawn(async move {
                    let mut cursor = from;
                    loop {
                        let events = match store
                            .events_after_of_kinds(cursor, page, kinds.in_query())
                            .await
                        {
                            Ok(events) => events,
                            Err(err) => {
                                let _ = send.send(Err(err)).await;
                                break;
                            }
                        };
                        let full = events.len() >= page as usize;
                        let mut filled = spare_page(&spares, page);
                        for e in &events {
                            let event = EventRef {
                                id: e.id,
                                tx_pos: e.tx_pos,
                                conversation: e.conversation,
                                kind: &e.kind,
                                actor_kind: &e.actor_kind,
                                actor_id: e.actor_id,
                                at: e.at,
                                payload: &e.payload,
                            };
                            filled.push(event, kinds.keeps(&e.kind));
                        }
                        let last = filled.last();
                        if filled.read() > 0 && send.send(Ok(filled)).await.is_err() {
                            break;
                        }
                        match last {
                            Some(next) if full => cursor = next,
                            _ => break,
                        }
                    }
                });
            }
        }
        EventPages { receive, spare }
    }
}

/// SQLite: reads the log's pages one at a time ahead of a writer, on a read-only connection of
/// its own, on a blocking thread (the live KPI consumer reads its next batch so while it writes
/// the last one). Each page is read in a read transaction of its own, which ends with the page:
/// a reader that held one snapshot for many batches would keep the WAL from being checkpointed
/// and restarted, and the writer's commits would then grow the file.
pub struct PageReader {
    conn: Connection,
}

impl Store {
    /// A [`PageReader`] on SQLite; `None` on PostgreSQL.
    pub fn page_reader(&self) -> Result<Option<PageReader>> {
        let Pools::Sqlite { path, .. } = &self.pools else {
            return Ok(None);
        };
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        Ok(Some(PageReader { conn }))
    }
}

impl PageReader {
    /// Reads, on a blocking thread, what [`Tx::event_page_after`] with `keep` would read after
    /// `from` from the log as committed now, into `page` (emptied first), then runs `then` on
    /// the page on that thread (the KPI consumer parses the payloads there, off the writer's
    /// core); hands the reader back with the page and what `then` made of it.
    pub fn read<T, F>(
        self,
        from: Cursor,
        limit: u32,
        keep: &'static [&'static str],
        mut page: EventPage,
        then: F,
    ) -> tokio::task::JoinHandle<(PageReader, Result<(EventPage, T)>)>
    where
        T: Send + 'static,
        F: FnOnce(&EventPage) -> T + Send + 'static,
    {
        tokio::task::spawn_blocking(move || {
            page.clear();
            let read = page_after_sqlite(&self.conn, from, limit, ScanKinds::Keep(keep), &mut page);
            (
                self,
                read.map(|()| {
                    let made = then(&page);
                    (page, made)
                }),
            )
        })
    }
}

/// A text column borrowed from the row (no copy).
/// An event read by `SELECT id, tx_pos, conversation, kind, actor_kind, actor_id, at, payload`,
/// its texts borrowed from the row.
fn event_ref<'a>(row: &'a rusqlite::Row<'_>) -> rusqlite::Result<EventRef<'a>> {
    Ok(EventRef {
        id: row.get(0)?,
        tx_pos: row.get(1)?,
        conversation: row.get(2)?,
        kind: text_column(row, 3)?,
        actor_kind: text_column(row, 4)?,
        actor_id: row.get(5)?,
        at: row.get(6)?,
        payload: text_column(row, 7)?,
    })
}

fn text_column<'a>(row: &'a rusqlite::Row<'_>, index: usize) -> rusqlite::Result<&'a str> {
    match row.get_ref(index)? {
        ValueRef::Text(bytes) => std::str::from_utf8(bytes).map_err(rusqlite::Error::Utf8Error),
        other => Err(rusqlite::Error::InvalidColumnType(
            index,
            format!("column {index}"),
            other.data_type(),
        )),
    }
}

fn scan_sqlite_pages(
    path: &std::path::Path,
    from: Cursor,
    page: u32,
    kinds: ScanKinds,
    spares: &std::sync::mpsc::Receiver<EventPage>,
    send: &mpsc::Sender<Result<EventPage>>,
) -> Result<()> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // One read transaction: the scan sees one consistent log even while writers append.
    conn.execute_batch("BEGIN")?;
    let in_query = kinds.in_query();
    let mut statement = conn.prepare(&format!(
        "SELECT id, tx_pos, conversation, kind, actor_kind, actor_id, at, payload FROM events WHERE id > ?1{} ORDER BY id",
        kind_filter(in_query.len(), 2, '?')
    ))?;
    let mut parameters: Vec<&dyn rusqlite::ToSql> = vec![&from.event_id];
    parameters.extend(in_query.iter().map(|kind| kind as &dyn rusqlite::ToSql));
    let mut rows = statement.query(parameters.as_slice())?;
    let mut filling = spare_page(spares, page);
    while let Some(row) = rows.next()? {
        let event = event_ref(row)?;
        let kind = event.kind;
        filling.push(event, kinds.keeps(kind));
        if filling.read() == page as usize {
            let full = std::mem::replace(&mut filling, spare_page(spares, page));
            if send.blocking_send(Ok(full)).is_err() {
                return Ok(()); // The reader went away.
            }
        }
    }
    if filling.read() > 0 {
        let _ = send.blocking_send(Ok(filling));
    }
    Ok(())
}

/// SQLite: fills `page` with up to `limit` events after `from`, in log order, on the writer's
/// connection (inside its transaction), each text copied once into the page's buffer.
fn page_after_sqlite(
    conn: &Connection,
    from: Cursor,
    limit: u32,
    kinds: ScanKinds,
    page: &mut EventPage,
) -> Result<()> {
    let in_query = kinds.in_query();
    let mut statement = conn.prepare_cached(&format!(
        "SELECT id, tx_pos, conversation, kind, actor_kind, actor_id, at, payload FROM events WHERE id > ?1{} ORDER BY id LIMIT ?{}",
        kind_filter(in_query.len(), 2, '?'),
        in_query.len() + 2
    ))?;
    let limit = i64::from(limit);
    let mut parameters: Vec<&dyn rusqlite::ToSql> = vec![&from.event_id];
    parameters.extend(in_query.iter().map(|kind| kind as &dyn rusqlite::ToSql));
    parameters.push(&limit);
    let mut rows = statement.query(parameters.as_slice())?;
    while let Some(row) = rows.next()? {
        let event = event_ref(row)?;
        let kind = event.kind;
        page.push(event, kinds.keeps(kind));
    }
    Ok(())
}

impl Tx {
    /// The next `limit` events after `cursor` that are safe to consume, in consumer order (as
    /// [`Tx::events_after`]), as one [`EventPage`] that keeps those of the kinds in `keep`
    /// (every kind when empty); every event read moves [`EventPage::last`]. On SQLite read in
    /// the transaction without an allocation per event (the roll-up consumer reads its batches
    /// so).
    pub async fn event_page_after(
        &mut self,
        cursor: Cursor,
        limit: u32,
        keep: &'static [&'static str],
    ) -> Result<EventPage> {
        let kinds = ScanKinds::Keep(keep);
        let mut page = EventPage::default();
        if let Tx::Sqlite(t) = self {
            let conn: &mut crate::sqlite::Conn = t;
            page_after_sqlite(conn.raw(), cursor, limit, kinds, &mut page)?;
            return Ok(page);
        }
        for e in self.events_after(cursor, limit).await? {
            let event = EventRef {
                id: e.id,
                tx_pos: e.tx_pos,
                conversation: e.conversation,
                kind: &e.kind,
                actor_kind: &e.actor_kind,
                actor_id: e.actor_id,
                at: e.at,
                payload: &e.payload,
            };
            page.push(event, kinds.keeps(&e.kind));
        }
        Ok(page)
    }
}

/// ` AND kind IN ($first, …)` for `count` kinds, numbered from `first` (`?first, …` with
/// `marker` `?`, as rusqlite writes them); nothing when there are none (every kind).
pub(crate) fn kind_filter(count: usize, first: usize, marker: char) -> String {
    if count == 0 {
        return String::new();
    }
    let placeholders: Vec<String> = (first..first + count)
        .map(|i| format!("{marker}{i}"))
        .collect();
    format!(" AND kind IN ({})", placeholders.join(", "))
}
