//! The refold: the KPI roll-ups computed again from the whole log (a rebuild, or the roll-up
//! consumer's first run), with the writing overlapping the reading.
//!
//! Three threads share the work. The store reads the log ahead into pages on a thread of its
//! own; the fold runs on a blocking thread ([`fold_log`]); and the refold's task holds the
//! transaction that replaces every bucket and fact, writing the facts of the conversations the
//! fold is done with while the fold goes on. A conversation is done with when no event of it
//! came for [`IDLE_PAGES`] pages: its facts are written and dropped from memory, so memory
//! holds the conversations active in the last pages (and a bit per conversation written), not
//! every conversation of the log. When the log comes back to a conversation written early (a
//! survey answered weeks later), the fold reads its facts back from the transaction before it
//! folds the page (all such conversations of a page in one query), and writes them again
//! later. The events are folded in log order whatever is written when, so the buckets and facts
//! are those of a fold in memory. The buckets, bounded by days × slices rather than by
//! conversations, are written at the end with the cursor.

use std::collections::{HashMap, HashSet};

use calendar::Calendar;
use kpi::{ConversationFacts, FoldHasher, Rollup};
use store::{Cursor, EventPages, KpiFactsRow, KpiRollupRow, ScanKinds};
use tokio::sync::{mpsc, oneshot};

use crate::kpi::{facts_of_row, facts_row, fold_input, kpi_time_zone, row_of, KPI_CONSUMER};
use crate::views::corrupt;
use crate::{App, Result};

/// Pages without an event of a conversation after which the fold writes its facts and forgets
/// them.
const IDLE_PAGES: u64 = 8;

/// Facts rows per message to the writer.
const WRITE_CHUNK: usize = 4_096;

/// Messages from the fold to the writer, handled in order (so a read-back sees every row sent
/// before it). Facts go as they are and the writer encodes them: the fold's thread is the
/// busier one.
enum ToWriter {
    Facts(Vec<(i64, Box<ConversationFacts>)>),
    ReadBack(Vec<i64>, oneshot::Sender<Vec<KpiFactsRow>>),
}

/// What the fold hands back at the end of the log.
struct Folded {
    rollups: Vec<KpiRollupRow>,
    /// After the last event read.
    cursor: Cursor,
    read: usize,
}

/// A conversation the fold keeps in memory: its facts (`None` before its `created` event) and
/// the number of the last page that had an event of it.
struct Active {
    seen: u64,
    facts: Option<Box<ConversationFacts>>,
}

/// The conversations whose facts were written and forgotten: a bit per id for ids from 0 to
/// [`Written::BITS`] (conversation ids are a dense sequence from 1), a set beyond.
#[derive(Default)]
struct Written {
    bits: Vec<u64>,
    others: HashSet<i64>,
}

impl Written {
    const BITS: i64 = 1 << 30;

    fn insert(&mut self, id: i64) {
        if (0..Self::BITS).contains(&id) {
            let word = (id / 64) as usize;
            if self.bits.len() <= word {
                self.bits.resize(word + 1, 0);
            }
            if let Some(bits) = self.bits.get_mut(word) {
                *bits |= 1 << (id % 64);
            }
        } else {
            self.others.insert(id);
        }
    }

    /// Forgets `id`; true when it was there.
    fn remove(&mut self, id: i64) -> bool {
        if (0..Self::BITS).contains(&id) {
            let bit = 1u64 << (id % 64);
            match self.bits.get_mut((id / 64) as usize) {
                Some(bits) if *bits & bit != 0 => {
                    *bits &= !bit;
                    true
                }
                _ => false,
            }
        } else {
            self.others.remove(&id)
        }
    }
}

/// The writer went away: it failed, and reports why itself.
fn writer_gone<E>(_: E) -> crate::AppError {
    corrupt("the KPI refold's writer stopped".into())
}

/// Writes the facts of `done` (in conversation order) and marks them written.
fn write_facts(
    mut done: Vec<(i64, Box<ConversationFacts>)>,
    written: &mut Written,
    send: &mpsc::Sender<ToWriter>,
) -> Result<()> {
    done.sort_unstable_by_key(|(conversation, _)| *conversation);
    for (conversation, _) in &done {
        written.insert(*conversation);
    }
    let mut done = done.into_iter().peekable();
    while done.peek().is_some() {
        let chunk = done.by_ref().take(WRITE_CHUNK).collect();
        send.blocking_send(ToWriter::Facts(chunk))
            .map_err(writer_gone)?;
    }
    Ok(())
}

/// The fold's thread: folds every page in log order, sends the facts of conversations idle for
/// [`IDLE_PAGES`] pages to the writer (and, at the end, all the others), and asks it for the
/// facts of written conversations that the log comes back to.
fn fold_log(
    mut pages: EventPages,
    calendar: Option<Calendar>,
    send: mpsc::Sender<ToWriter>,
) -> Result<Folded> {
    let calendar = calendar.as_ref();
    let mut active: HashMap<i64, Active, FoldHasher> = HashMap::default();
    let mut written = Written::default();
    let mut rollup = Rollup::default();
    let mut cursor = Cursor::default();
    let mut read = 0;
    let mut page_number = 0u64;
    while let Some(page) = pages.blocking_recv() {
        let page = page?;
        let Some(last) = page.last() else { break };
        cursor = last;
        read += page.read();
        page_number += 1;
        let mut back: Vec<i64> = page
            .iter()
            .filter_map(|event| event.conversation)
            .filter(|conversation| written.remove(*conversation))
            .collect();
        if !back.is_empty() {
            back.sort_unstable();
            let (reply, answer) = oneshot::channel();
            send.blocking_send(ToWriter::ReadBack(back, reply))
                .map_err(writer_gone)?;
            for row in answer.blocking_recv().map_err(writer_gone)? {
                let facts = facts_of_row(&row)?;
                active.insert(
                    row.conversation_id,
                    Active {
                        seen: page_number,
                        facts: Some(Box::new(facts)),
                    },
                );
            }
        }
        for event in page.iter() {
            let Some((conversation, event)) = fold_input(event) else {
                continue;
            };
            let slot = active.entry(conversation).or_insert(Active {
                seen: page_number,
                facts: None,
            });
            slot.seen = page_number;
            kpi::apply_boxed(&mut slot.facts, event, calendar, &mut rollup);
        }
        pages.recycle(page);
        let idle: Vec<(i64, Box<ConversationFacts>)> = active
            .extract_if(|_, slot| slot.seen + IDLE_PAGES <= page_number)
            .filter_map(|(conversation, slot)| Some((conversation, slot.facts?)))
            .collect();
        if !idle.is_empty() {
            write_facts(idle, &mut written, &send)?;
        }
    }
    drop(pages);
    let rest = active
        .drain()
        .filter_map(|(conversation, slot)| Some((conversation, slot.facts?)))
        .collect();
    write_facts(rest, &mut written, &send)?;
    let rollups = rollup.iter().map(|(key, agg)| row_of(&key, agg)).collect();
    Ok(Folded {
        rollups,
        cursor,
        read,
    })
}

impl App {
    /// Folds the whole log again and replaces every bucket, every fact and the cursor with the
    /// result, in one transaction (see the module's comment for how the work is shared). With
    /// `from_start`, only while the consumer's cursor is still at the start of the log: when
    /// another run got there first it gives way (`None`). The transaction, taken first, holds
    /// the cursor (on SQLite, the writer) while the log is read, so dashboards show the old
    /// figures until the new ones commit; when the roll-ups' time zone changed meanwhile
    /// (PostgreSQL), it folds again in the new days.
    pub(crate) async fn refold(
        &self,
        batch: u32,
        now: i64,
        from_start: bool,
    ) -> Result<Option<usize>> {
        if from_start && self.store.log_head().await? == Cursor::default() {
            return Ok(Some(0)); // An empty log: nothing to write, and no writer taken.
        }
        loop {
            let mut tx = self.store.begin().await?;
            let current = tx.lock_cursor(KPI_CONSUMER, now).await?;
            if from_start && current != Cursor::default() {
                tx.rollback().await?;
                return Ok(None);
            }
            let zone = kpi_time_zone(&mut tx).await?;
            let calendar = self.kpi_calendar(&mut tx).await?;
            let refold = tx.begin_kpi_refold().await?;
            let pages = self.store.scan_event_pages(
                Cursor::default(),
                batch,
                ScanKinds::Keep(kpi::FOLDED_KINDS),
            );
            let (send, mut receive) = mpsc::channel(4);
            let fold = tokio::task::spawn_blocking(move || fold_log(pages, calendar, send));
            while let Some(message) = receive.recv().await {
                match message {
                    ToWriter::Facts(facts) => {
                        let rows: Vec<KpiFactsRow> = facts
                            .iter()
                            .map(|(conversation, facts)| facts_row(*conversation, facts))
                            .collect();
                        tx.put_refold_facts(&refold, &rows).await?;
                    }
                    ToWriter::ReadBack(conversations, reply) => {
                        let rows = tx.refold_facts(&refold, &conversations).await?;
                        let _ = reply.send(rows);
                    }
                }
            }
            let mut folded = fold
                .await
                .map_err(|e| corrupt(format!("the KPI refold's fold stopped: {e}")))??;
            if kpi_time_zone(&mut tx).await? != zone {
                tx.rollback().await?;
                continue;
            }
            tx.finish_kpi_refold(refold, &mut folded.rollups).await?;
            tx.set_cursor(KPI_CONSUMER, folded.cursor, now).await?;
            tx.commit().await?;
            return Ok(Some(folded.read));
        }
    }
}
