//! Reading the whole event log (roll-up rebuilds, recomputes) as a stream of pages.
//!
//! On SQLite the scan opens its own read-only connection on a blocking thread, inside one
//! read transaction, and sends whole pages: the database is read on one core while the
//! caller folds on the other.
//! PostgreSQL streams rows efficiently: there the pages come from [`Store::events_after`],
//! read ahead by a task.

use rusqlite::{Connection, OpenFlags};
use tokio::sync::mpsc;

use crate::{Cursor, EventRow, Pools, Result, Store};

/// Pages read ahead of the caller.
const AHEAD: usize = 2;

impl Store {
    /// Every event after `from`, in log order, in pages of up to `page` events; the channel
    /// closes after the last page (or after an error, which is sent). On PostgreSQL the scan
    /// stops at the horizon of committed transactions, as [`Store::events_after`] does.
    pub fn scan_events(&self, from: Cursor, page: u32) -> mpsc::Receiver<Result<Vec<EventRow>>> {
        self.scan_events_of_kinds(from, page, &[])
    }

    /// [`Store::scan_events`] for a reader that wants only some kinds of event (all of them
    /// when `kinds` is empty): the others are skipped by the query, so they are never copied
    /// out of the database nor sent. A page is full when it has `page` events of these kinds.
    pub fn scan_events_of_kinds(
        &self,
        from: Cursor,
        page: u32,
        kinds: &'static [&'static str],
    ) -> mpsc::Receiver<Result<Vec<EventRow>>> {
        let (send, receive) = mpsc::channel(AHEAD);
        let page = page.max(1);
        match &self.pools {
            Pools::Sqlite { path, .. } => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || {
                    if let Err(err) = scan_sqlite(&path, from, page, kinds, &send) {
                        let _ = send.blocking_send(Err(err));
                    }
                });
            }
            Pools::Postgres(_) => {
                let store = self.clone();
                tokio::spawn(async move {
                    let mut cursor = from;
                    loop {
                        let events = store.events_after_of_kinds(cursor, page, kinds).await;
                        let (last, full) = match &events {
                            Ok(events) => (
                                events.last().map(Cursor::after),
                                events.len() >= page as usize,
                            ),
                            Err(_) => (None, false),
                        };
                        if send.send(events).await.is_err() || !full {
                            break;
                        }
                        match last {
                            Some(next) => cursor = next,
                            None => break,
                        }
                    }
                });
            }
        }
        receive
    }
}

fn scan_sqlite(
    path: &std::path::Path,
    from: Cursor,
    page: u32,
    kinds: &[&str],
    send: &mpsc::Sender<Result<Vec<EventRow>>>,
) -> Result<()> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // One read transaction: the scan sees one consistent log even while writers append.
    conn.execute_batch("BEGIN")?;
    let mut statement = conn.prepare(&format!(
        "SELECT id, tx_pos, conversation, kind, actor_kind, actor_id, at, payload FROM events WHERE id > ?1{} ORDER BY id",
        kind_filter(kinds.len(), 2, '?')
    ))?;
    let mut parameters: Vec<&dyn rusqlite::ToSql> = vec![&from.event_id];
    parameters.extend(kinds.iter().map(|kind| kind as &dyn rusqlite::ToSql));
    let mut rows = statement.query(parameters.as_slice())?;
    let mut batch = Vec::with_capacity(page as usize);
    while let Some(row) = rows.next()? {
        batch.push(EventRow {
            id: row.get(0)?,
            tx_pos: row.get(1)?,
            conversation: row.get(2)?,
            kind: row.get(3)?,
            actor_kind: row.get(4)?,
            actor_id: row.get(5)?,
            at: row.get(6)?,
            payload: row.get(7)?,
        });
        if batch.len() == page as usize {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(page as usize));
            if send.blocking_send(Ok(full)).is_err() {
                return Ok(()); // The reader went away.
            }
        }
    }
    if !batch.is_empty() {
        let _ = send.blocking_send(Ok(batch));
    }
    Ok(())
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
