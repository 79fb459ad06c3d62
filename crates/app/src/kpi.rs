//! Management information in the product: the roll-up consumer that folds the event log into
//! daily buckets (durable cursor, idempotent, below the PostgreSQL horizon like every consumer),
//! its rebuild, the KPI catalogue with the administrators' settings, figures for a period and a
//! slice with the change from the previous period, and the drill-down to the conversations.

use std::collections::HashMap;

use calendar::Calendar;
use domain::{EventPayload, Principal, Role};
use kpi::{
    Aggregate, BucketKey, ConversationFacts, DimKind, FactsMap, FoldEvent, FoldPayload, Histogram,
    Inputs, KpiDefinition, KpiSettings, Measure, Rollup, Slice,
};
use serde::Serialize;
use store::{Cursor, DrillOn, KpiFactsRow, KpiRollupRow, KpiSettingsRow, Tx};

use crate::views::corrupt;
use crate::{App, AppError, Result};

/// The name under which the roll-up consumer keeps its cursor.
pub const KPI_CONSUMER: &str = "kpi_rollups";

const DAY_MS: i64 = 86_400_000;

/// The status of a figure while the roll-ups are being computed from the start of the log.
pub const RECOMPUTING: &str = "recomputing";

/// What a reader is told while the roll-ups are being computed from the start of the log.
pub const RECOMPUTING_NOTICE: &str = "the KPI roll-ups are being computed again from the whole event log (after a change of the business calendar's time zone, or before their first run); the figures are back once that is done";

/// A KPI record as people see it: the catalogue's definition with the settings in force.
#[derive(Debug, Clone, Serialize)]
pub struct KpiRecord {
    #[serde(flatten)]
    pub definition: KpiDefinition,
    pub target: Option<f64>,
    pub amber: Option<f64>,
    pub red: Option<f64>,
    pub owner: String,
    /// True when an administrator changed the defaults.
    pub customised: bool,
}

/// Which period and slice a figure is for. `from`/`to` are milliseconds; the period is rounded
/// out to whole days of the team's business calendar (local days in its time zone; UTC days
/// when there is no calendar), the days the roll-ups are bucketed in. A bound a person typed
/// as a date goes in `from_date`/`to_date` instead: that local day of the same calendar.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KpiQuery {
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// The first day, as a date: that local day (not UTC midnight). Instead of `from`.
    pub from_date: Option<jiff::civil::Date>,
    /// The day after the last, as a date: that local day. Instead of `to`.
    pub to_date: Option<jiff::civil::Date>,
    pub group: Option<i64>,
    pub agent: Option<i64>,
    pub channel: Option<String>,
    pub priority: Option<String>,
    pub tag: Option<String>,
}

/// A figure with its period, the previous period's figure and whether the change is significant.
#[derive(Debug, Clone, Serialize)]
pub struct KpiReport {
    #[serde(flatten)]
    pub figure: kpi::Figure,
    pub name: String,
    pub polarity: kpi::catalogue::Polarity,
    /// The period, as the starts of the team's local days in milliseconds (`from` included,
    /// `to` excluded).
    pub from: i64,
    pub to: i64,
    pub slice: String,
    pub previous: Option<kpi::Figure>,
    pub change: Option<stats::significance::TestResult>,
    /// The roll-ups are being computed from the start of the log (see
    /// [`App::kpi_rollups_recomputing`]): the figure has no value yet and its status says
    /// `recomputing`, rather than showing zeros.
    pub recomputing: bool,
}

fn aggregate_of(row: &KpiRollupRow) -> Result<Aggregate> {
    counts_of(row).map_err(|e| {
        corrupt(format!(
            "roll-up {} {} day {}: {e}",
            row.measure, row.dim, row.day
        ))
    })
}

/// The aggregate of a stored row's counts; an error says what does not read.
fn counts_of(row: &KpiRollupRow) -> std::result::Result<Aggregate, String> {
    Ok(Aggregate {
        count: u64::try_from(row.n).unwrap_or(0),
        sum: row.total,
        sum_sq: row.total_sq,
        hist: Histogram::decode(&row.hist)?,
    })
}

pub(crate) fn row_of(key: &BucketKey, agg: &Aggregate) -> KpiRollupRow {
    let mut row = key_row(key);
    fill(&mut row, agg);
    row
}

/// The row of a bucket's key, its counts still empty (see [`fill`]).
fn key_row(key: &BucketKey) -> KpiRollupRow {
    KpiRollupRow {
        dim: key.slice.kind.as_str().to_string(),
        dim_value: key.slice.value.clone(),
        measure: key.measure.as_str().to_string(),
        day: i64::from(key.day),
        n: 0,
        total: 0.0,
        total_sq: 0.0,
        hist: String::new(),
    }
}

/// Writes an aggregate into a bucket's row.
fn fill(row: &mut KpiRollupRow, agg: &Aggregate) {
    row.n = i64::try_from(agg.count).unwrap_or(i64::MAX);
    row.total = agg.sum;
    row.total_sq = agg.sum_sq;
    row.hist = agg.hist.encode();
}

pub(crate) fn facts_row(conversation: i64, facts: &ConversationFacts) -> KpiFactsRow {
    KpiFactsRow {
        conversation_id: conversation,
        created_at: facts.created_at,
        first_reply_at: facts.first_reply_at,
        first_solved_at: facts.first_solved_at,
        reopened_at: facts.reopened_at,
        group_id: facts.group,
        assignee_id: facts.assignee,
        facts: facts.encode(),
    }
}

/// The conversation of an event the fold reads, and what the fold reads of it; `None` for
/// others (skipped unparsed) and for a payload that does not parse (skipped too: the log's
/// writer produced it, so it cannot be repaired here, and one bad row must not stop management
/// information).
pub(crate) fn fold_input(event: store::EventRef<'_>) -> Option<(i64, FoldEvent<'_>)> {
    let conversation = event.conversation?;
    let payload = match FoldPayload::parse(event.kind, event.payload) {
        Ok(Some(payload)) => payload,
        Ok(None) => return None,
        Err(err) => {
            tracing::warn!(event = event.id, kind = %event.kind, %err, "an event's payload does not parse; the KPI roll-ups skip it");
            return None;
        }
    };
    Some((
        conversation,
        FoldEvent {
            at: event.at,
            actor_kind: event.actor_kind,
            actor_id: event.actor_id,
            payload,
        },
    ))
}

/// Folds an event into `facts` and `rollup` (see [`fold_input`]).
fn fold_event(
    event: store::EventRef<'_>,
    facts: &mut FactsMap,
    calendar: Option<&Calendar>,
    rollup: &mut Rollup,
) {
    if let Some((conversation, event)) = fold_input(event) {
        kpi::apply_boxed(
            facts.entry(conversation).or_default(),
            event,
            calendar,
            rollup,
        );
    }
}

/// The facts of a stored row.
pub(crate) fn facts_of_row(row: &KpiFactsRow) -> Result<ConversationFacts> {
    let columns = kpi::FactColumns {
        created_at: row.created_at,
        first_reply_at: row.first_reply_at,
        first_solved_at: row.first_solved_at,
        reopened_at: row.reopened_at,
        group: row.group_id,
        assignee: row.assignee_id,
    };
    ConversationFacts::decode(&row.facts, columns).map_err(|e| {
        corrupt(format!(
            "kpi facts of conversation {}: {e}",
            row.conversation_id
        ))
    })
}

/// The facts rows of `facts`, in conversation order.
fn facts_rows(facts: &FactsMap) -> impl Iterator<Item = KpiFactsRow> + '_ {
    let mut conversations: Vec<i64> = facts
        .iter()
        .filter(|(_, state)| state.is_some())
        .map(|(conversation, _)| *conversation)
        .collect();
    conversations.sort_unstable();
    conversations.into_iter().filter_map(move |conversation| {
        let state = facts.get(&conversation)?.as_deref()?;
        Some(facts_row(conversation, state))
    })
}

/// What the fold reads of each event of a page, in the page's order ([`fold_input`]: `None`
/// for an event it skips), parsed on the reader's thread with the page read ahead, owning its
/// texts so that it travels with the page.
type ParsedPage = Vec<Option<(i64, FoldPayload<'static>)>>;

/// [`fold_input`] of every event of a page (see [`ParsedPage`]).
fn parse_page(page: &store::EventPage) -> ParsedPage {
    page.iter()
        .map(|event| {
            fold_input(event)
                .map(|(conversation, event)| (conversation, event.payload.into_owned()))
        })
        .collect()
}

/// A page being read ahead: the reader comes back with it, and with its events parsed.
type PageRead = tokio::task::JoinHandle<(
    store::PageReader,
    store::Result<(store::EventPage, ParsedPage)>,
)>;

/// The live consumer's next batch read ahead on SQLite: while a batch is folded and written in
/// the writer's transaction, a [`store::PageReader`] reads the next one on its own read-only
/// connection, on the other core, in a short read transaction of its own.
///
/// A page read ahead is used only when it is exactly what the transaction would read: it
/// starts at the cursor the transaction locked (no other consumer moved it meanwhile) and it
/// is full. SQLite's event ids commit in order, so the first `batch` events after the cursor
/// that had committed when the page was read are the first `batch` events after the cursor
/// now. A page that is not full may lack events committed since: the transaction reads that
/// batch itself.
struct ReadAhead {
    /// The reader, while no page is being read.
    reader: Option<store::PageReader>,
    /// The page being read and where it starts.
    pending: Option<(Cursor, PageRead)>,
    /// A page folded, to be filled again.
    spare: Option<store::EventPage>,
}

impl ReadAhead {
    /// On SQLite; `None` on PostgreSQL (or when the reader's connection does not open: the
    /// transaction then reads every batch).
    fn new(store: &store::Store) -> Option<ReadAhead> {
        match store.page_reader() {
            Ok(reader) => reader.map(|reader| ReadAhead {
                reader: Some(reader),
                pending: None,
                spare: None,
            }),
            Err(err) => {
                tracing::warn!(%err, "the KPI consumer cannot read its batches ahead");
                None
            }
        }
    }

    /// Starts reading the `batch` events after `from`.
    fn start(&mut self, from: Cursor, batch: u32) {
        if let Some(reader) = self.reader.take() {
            let page = self.spare.take().unwrap_or_default();
            self.pending = Some((
                from,
                reader.read(from, batch, kpi::FOLDED_KINDS, page, parse_page),
            ));
        }
    }

    /// The page read ahead when it starts at `cursor` and holds `batch` events read; `None`
    /// otherwise (the transaction then reads the batch itself).
    async fn page_at(
        &mut self,
        cursor: Cursor,
        batch: u32,
    ) -> Option<(store::EventPage, ParsedPage)> {
        let (from, pending) = self.pending.take()?;
        let (reader, page) = match pending.await {
            Ok(done) => done,
            Err(err) => {
                tracing::warn!(%err, "reading the KPI consumer's next batch ahead stopped");
                return None;
            }
        };
        self.reader = Some(reader);
        let page = match page {
            Ok(page) => page,
            Err(err) => {
                // The transaction reads the batch itself, and meets the error if it lasts.
                tracing::warn!(%err, "reading the KPI consumer's next batch ahead failed");
                return None;
            }
        };
        if from != cursor || page.0.read() != batch as usize {
            self.spare = Some(page.0);
            return None;
        }
        Some(page)
    }

    /// Keeps a folded page to be filled again.
    fn recycle(&mut self, page: store::EventPage) {
        self.spare = Some(page);
    }
}

fn both_given(bound: &str) -> AppError {
    AppError::Invalid(format!(
        "{bound} is given both as an instant and as a date; give one"
    ))
}

/// The number of a local day typed as a date: days since 1970-01-01, the numbering of
/// [`kpi::local_day_of`] in every time zone.
fn local_day_of_date(date: jiff::civil::Date) -> Result<i64> {
    date.since(jiff::civil::date(1970, 1, 1))
        .map(|span| i64::from(span.get_days()))
        .map_err(|e| AppError::Invalid(format!("the date {date}: {e}")))
}

/// The first instant of a date read as a local day of `calendar` (UTC without one).
pub(crate) fn local_date_start(
    calendar: Option<&Calendar>,
    date: jiff::civil::Date,
) -> Result<i64> {
    let day = local_day_of_date(date)?;
    let day = i32::try_from(day)
        .map_err(|_| AppError::Invalid(format!("the date {date} is out of range")))?;
    Ok(kpi::local_day_start(calendar, day))
}

/// A bound given as an instant or as a date (that local day of `calendar`), not both.
pub(crate) fn instant_or_date(
    instant: Option<i64>,
    date: Option<jiff::civil::Date>,
    bound: &str,
    calendar: Option<&Calendar>,
) -> Result<Option<i64>> {
    match (instant, date) {
        (Some(_), Some(_)) => Err(both_given(bound)),
        (_, Some(date)) => Ok(Some(local_date_start(calendar, date)?)),
        (instant, None) => Ok(instant),
    }
}

/// The time zone the roll-ups count days in: that of the first calendar by name (see
/// `App::kpi_calendar`), none (UTC) without a calendar.
pub(crate) async fn kpi_time_zone(tx: &mut Tx) -> Result<Option<String>> {
    Ok(tx
        .sla_calendars()
        .await?
        .into_iter()
        .next()
        .map(|row| row.time_zone))
}

/// After a change of the calendars in `tx`: when the roll-ups' days moved to another time zone
/// (`before` is [`kpi_time_zone`] before the change), forgets the buckets and the facts and
/// rewinds the roll-up consumer in the same transaction, as migration 0014 did, so that its
/// next run folds the whole log again into the new local days. Returns whether it rewound.
pub(crate) async fn rewind_kpi_rollups_if_days_moved(
    tx: &mut Tx,
    before: Option<String>,
    now: i64,
) -> Result<bool> {
    if kpi_time_zone(tx).await? == before {
        return Ok(false);
    }
    // Locked first, as the consumer and the rebuild do, so a batch folding meanwhile finishes
    // before the rewind and the consumer sees the rewound cursor (and the new calendar) next.
    tx.lock_cursor(KPI_CONSUMER, now).await?;
    tx.clear_kpi_rollups().await?;
    tx.set_cursor(KPI_CONSUMER, Cursor::default(), now).await?;
    Ok(true)
}

/// The calendar of a stored row (the roll-ups' calendar; none without a row).
fn calendar_of(row: Option<store::SlaCalendarRow>) -> Result<Option<Calendar>> {
    let Some(row) = row else {
        return Ok(None);
    };
    let spec = calendar::CalendarSpec {
        time_zone: row.time_zone.clone(),
        hours: row.hours.clone(),
        holidays: serde_json::from_str(&row.holidays)
            .map_err(|e| corrupt(format!("calendar holidays: {e}")))?,
        exceptions: serde_json::from_str(&row.exceptions)
            .map_err(|e| corrupt(format!("calendar exceptions: {e}")))?,
    };
    Ok(Some(spec.build().map_err(|e| {
        AppError::Invalid(format!("calendar {:?}: {e}", row.name))
    })?))
}

impl App {
    /// The calendar that business-time KPIs count in: the first calendar by name, if any.
    pub(crate) async fn kpi_calendar(&self, tx: &mut Tx) -> Result<Option<Calendar>> {
        calendar_of(tx.sla_calendars().await?.into_iter().next())
    }

    /// [`App::kpi_calendar`] with its time zone, read without a write transaction.
    async fn read_kpi_calendar(&self) -> Result<(Option<String>, Option<Calendar>)> {
        let row = self.store.sla_calendars().await?.into_iter().next();
        let zone = row.as_ref().map(|row| row.time_zone.clone());
        Ok((zone, calendar_of(row)?))
    }

    /// The calendar whose time zone the team's days are counted in (see `kpi_calendar`).
    pub(crate) async fn team_calendar(&self) -> Result<Option<Calendar>> {
        Ok(self.read_kpi_calendar().await?.1)
    }

    /// The time zone the team's days are counted in: the business calendar's (see
    /// `kpi_calendar`), UTC without a calendar. For showing those days' dates.
    pub async fn team_time_zone(&self) -> Result<jiff::tz::TimeZone> {
        Ok(self
            .team_calendar()
            .await?
            .map_or(jiff::tz::TimeZone::UTC, |c| c.zone().clone()))
    }

    /// The first instant of the team's day at `now` (local midnight in the business calendar's
    /// time zone, UTC midnight without a calendar).
    pub(crate) async fn team_day_start(&self, now: i64) -> Result<i64> {
        let calendar = self.team_calendar().await?;
        let calendar = calendar.as_ref();
        Ok(kpi::local_day_start(
            calendar,
            kpi::local_day_of(calendar, now),
        ))
    }

    /// Folds new events into the roll-ups; returns how many events it read. Each batch commits
    /// the buckets and the facts together with the cursor, so a crash replays at most the batch
    /// that did not commit, from the facts as they were before it.
    ///
    /// From the start of the log (the first run, or after a new time zone rewound the consumer)
    /// it folds the whole log at once, as a rebuild does, and commits it in one transaction:
    /// until then the figures say they are being recomputed ([`App::kpi_rollups_recomputing`])
    /// instead of showing part of the log.
    pub async fn run_kpi_rollups(&self, batch: u32, now: i64) -> Result<usize> {
        let mut total = 0;
        // Loaded with the first batch that has events, then kept for the rest of the run: a
        // calendar changed meanwhile applies from the next run, unless the change moved the
        // days and rewound the cursor (`rewind_kpi_rollups_if_days_moved`): then it is loaded
        // again, so the refold counts in the new days.
        let mut calendar: Option<Option<Calendar>> = None;
        let mut expected: Option<Cursor> = None;
        // Made at the first full batch (a run that reads one short batch opens no reader).
        let mut ahead: Option<ReadAhead> = None;
        let mut ahead_tried = false;
        loop {
            let mut tx = self.store.begin().await?;
            let cursor = tx.lock_cursor(KPI_CONSUMER, now).await?;
            if cursor == Cursor::default() {
                tx.rollback().await?;
                match self.refold(batch, now, true).await? {
                    Some(0) => return Ok(total),
                    Some(read) => total += read,
                    None => {} // Another run refolded meanwhile.
                }
                calendar = None;
                expected = None;
                continue;
            }
            let read_ahead = match ahead.as_mut() {
                Some(ahead) => ahead.page_at(cursor, batch).await,
                None => None,
            };
            let (page, parsed) = match read_ahead {
                Some((page, parsed)) => (page, Some(parsed)),
                // Not read ahead (the first batch, another consumer moved the cursor, or the
                // page read ahead was not full): read in the transaction, parsed as folded.
                None => (
                    tx.event_page_after(cursor, batch, kpi::FOLDED_KINDS)
                        .await?,
                    None,
                ),
            };
            let Some(next) = page.last() else {
                tx.rollback().await?;
                return Ok(total);
            };
            if page.read() == batch as usize {
                if !ahead_tried {
                    ahead_tried = true;
                    ahead = ReadAhead::new(&self.store);
                }
                if let Some(ahead) = ahead.as_mut() {
                    ahead.start(next, batch);
                }
            }
            if calendar.is_none() || expected.is_some_and(|e| e != cursor) {
                calendar = Some(self.kpi_calendar(&mut tx).await?);
            }
            expected = Some(next);
            let read = page.read();
            self.fold_batch(
                &mut tx,
                &page,
                parsed,
                calendar.as_ref().and_then(Option::as_ref),
            )
            .await?;
            tx.set_cursor(KPI_CONSUMER, next, now).await?;
            tx.commit().await?;
            if let Some(ahead) = ahead.as_mut() {
                ahead.recycle(page);
            }
            total += read;
            if read < batch as usize {
                return Ok(total);
            }
        }
    }

    /// True while the roll-ups are being computed from the start of the log: before the
    /// consumer's first run, and after a new time zone for the roll-ups' calendar rewound it,
    /// until its refold commits. Their figures are not the log's meanwhile.
    pub async fn kpi_rollups_recomputing(&self) -> Result<bool> {
        Ok(self.store.consumer_at_start_of_log(KPI_CONSUMER).await?)
    }

    /// Folds a batch of events into the stored facts and buckets: reads the facts of the
    /// batch's conversations and the buckets the batch touches (and only those), merges,
    /// writes them back. `parsed` is the page's [`ParsedPage`] when it was read ahead (else
    /// each event is parsed here, alike).
    async fn fold_batch(
        &self,
        tx: &mut Tx,
        page: &store::EventPage,
        parsed: Option<ParsedPage>,
        calendar: Option<&Calendar>,
    ) -> Result<()> {
        let mut ids: Vec<i64> = page.iter().filter_map(|e| e.conversation).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut facts = FactsMap::with_capacity_and_hasher(ids.len(), Default::default());
        for row in tx.kpi_facts(&ids).await? {
            let state = facts_of_row(&row)?;
            facts.insert(row.conversation_id, Some(Box::new(state)));
        }
        let mut rollup = Rollup::default();
        match parsed {
            Some(parsed) => {
                for (event, input) in page.iter().zip(parsed) {
                    let Some((conversation, payload)) = input else {
                        continue;
                    };
                    let event = FoldEvent {
                        at: event.at,
                        actor_kind: event.actor_kind,
                        actor_id: event.actor_id,
                        payload,
                    };
                    let state = facts.entry(conversation).or_default();
                    kpi::apply_boxed(state, event, calendar, &mut rollup);
                }
            }
            None => {
                for event in page.iter() {
                    fold_event(event, &mut facts, calendar, &mut rollup);
                }
            }
        }
        let (mut rows, fresh): (Vec<KpiRollupRow>, Vec<&Aggregate>) =
            rollup.iter().map(|(key, agg)| (key_row(&key), agg)).unzip();
        tx.merge_kpi_rollups(&mut rows, |i, stored, row| {
            let Some(&fresh) = fresh.get(i) else {
                return Err(format!("no bucket {i} in the batch"));
            };
            match stored {
                Some(old) => {
                    // `old` holds the counts; `row` the key (see `Tx::merge_kpi_rollups`).
                    let mut merged = counts_of(old).map_err(|e| {
                        format!("roll-up {} {} day {}: {e}", row.measure, row.dim, row.day)
                    })?;
                    merged.merge(fresh);
                    fill(row, &merged);
                }
                None => fill(row, fresh),
            }
            Ok(())
        })
        .await?;
        tx.put_kpi_facts(&facts_rows(&facts).collect::<Vec<_>>())
            .await?;
        Ok(())
    }

    /// Forgets every roll-up and folds the whole log again (after a change of definitions, or
    /// to check the live roll-ups). Administrators only. Returns the number of events read.
    ///
    /// The new buckets, facts and cursor replace the old ones in one transaction, written as
    /// the log is read (see `kpi_refold.rs`), so dashboards show the old figures until the new
    /// ones are complete, and the live consumer carries on from the last event folded.
    pub async fn rebuild_kpi_rollups(&self, by: &Principal, batch: u32, now: i64) -> Result<usize> {
        if !by.can_administer() {
            return Err(AppError::Forbidden(
                "only administrators rebuild the roll-ups".into(),
            ));
        }
        let read = self.refold(batch, now, false).await?.unwrap_or_default();
        // Whatever was appended while the log was being read.
        Ok(read + self.run_kpi_rollups(batch, now).await?)
    }

    fn can_see_kpis(by: &Principal, query: &KpiQuery) -> Result<()> {
        match by {
            Principal::System => Ok(()),
            Principal::Agent {
                role: Role::Manager | Role::Admin,
                ..
            } => Ok(()),
            Principal::Agent {
                id,
                role: Role::Lead,
                groups,
            } => {
                if query.agent == Some(*id) || query.group.is_some_and(|g| groups.contains(&g)) {
                    Ok(())
                } else {
                    Err(AppError::Forbidden(
                        "team leads see the figures of their own groups (group=…) and their own (agent=…)".into(),
                    ))
                }
            }
            Principal::Agent { id, .. } => {
                if query.agent == Some(*id) && query.group.is_none() {
                    Ok(())
                } else {
                    Err(AppError::Forbidden(
                        "agents see their own figures only (agent=<your id>)".into(),
                    ))
                }
            }
            Principal::Token { .. }
                if by.can_administer()
                    || by.visibility() == domain::permission::Visibility::All =>
            {
                Ok(())
            }
            _ => Err(AppError::Forbidden("KPIs are for the service team".into())),
        }
    }

    /// The KPI catalogue with the settings in force. Every member of the team may read it.
    pub async fn kpi_catalogue(&self, by: &Principal) -> Result<Vec<KpiRecord>> {
        if matches!(by, Principal::Customer { .. })
            || by.visibility() == domain::permission::Visibility::Nothing
        {
            return Err(AppError::Forbidden("KPIs are for the service team".into()));
        }
        let settings: HashMap<String, KpiSettingsRow> = self
            .store
            .kpi_settings()
            .await?
            .into_iter()
            .map(|s| (s.key.clone(), s))
            .collect();
        Ok(kpi::catalogue()
            .into_iter()
            .map(|definition| {
                let (s, customised) = match settings.get(definition.key) {
                    Some(row) => (
                        KpiSettings {
                            target: row.target,
                            amber: row.amber,
                            red: row.red,
                            owner: row.owner.clone(),
                        },
                        true,
                    ),
                    None => (definition.defaults.clone(), false),
                };
                KpiRecord {
                    definition,
                    target: s.target,
                    amber: s.amber,
                    red: s.red,
                    owner: s.owner,
                    customised,
                }
            })
            .collect())
    }

    /// One KPI record; `NotFound` for an unknown key.
    pub async fn kpi_record(&self, by: &Principal, key: &str) -> Result<KpiRecord> {
        self.kpi_catalogue(by)
            .await?
            .into_iter()
            .find(|k| k.definition.key == key)
            .ok_or_else(|| AppError::NotFound(format!("KPI {key:?}")))
    }

    /// Changes a KPI's target, thresholds and owner (administrators). Recorded as an event.
    pub async fn update_kpi_settings(
        &self,
        by: &Principal,
        key: &str,
        settings: KpiSettings,
        now: i64,
    ) -> Result<KpiRecord> {
        if !by.can_administer() {
            return Err(AppError::Forbidden(
                "only administrators change KPI targets".into(),
            ));
        }
        if kpi::find(key).is_none() {
            return Err(AppError::NotFound(format!("KPI {key:?}")));
        }
        for (what, value) in [
            ("target", settings.target),
            ("amber", settings.amber),
            ("red", settings.red),
        ] {
            if value.is_some_and(|v| !v.is_finite()) {
                return Err(AppError::Invalid(format!("{what} must be a finite number")));
            }
        }
        if settings.owner.trim().is_empty() || settings.owner.len() > 200 {
            return Err(AppError::Invalid(
                "owner must be 1 to 200 characters".into(),
            ));
        }
        let mut tx = self.store.begin().await?;
        tx.put_kpi_settings(&KpiSettingsRow {
            key: key.to_string(),
            target: settings.target,
            amber: settings.amber,
            red: settings.red,
            owner: settings.owner.trim().to_string(),
            updated_at: now,
        })
        .await?;
        crate::record(
            &mut tx,
            None,
            by.actor(),
            now,
            &EventPayload::KpiSettingsChanged {
                key: key.to_string(),
                target: settings.target,
                amber: settings.amber,
                red: settings.red,
                owner: settings.owner.trim().to_string(),
            },
        )
        .await?;
        tx.commit().await?;
        self.kpi_record(by, key).await
    }

    fn slice_of(query: &KpiQuery) -> Result<Slice> {
        let chosen: Vec<Slice> = [
            query
                .group
                .map(|g| Slice::of(DimKind::Group, g.to_string())),
            query
                .agent
                .map(|a| Slice::of(DimKind::Agent, a.to_string())),
            query
                .channel
                .clone()
                .map(|c| Slice::of(DimKind::Channel, c)),
            query
                .priority
                .clone()
                .map(|p| Slice::of(DimKind::Priority, p)),
            query.tag.clone().map(|t| Slice::of(DimKind::Tag, t)),
        ]
        .into_iter()
        .flatten()
        .collect();
        match chosen.len() {
            0 => Ok(Slice::all()),
            1 => Ok(chosen.into_iter().next().unwrap_or_else(Slice::all)),
            _ => Err(AppError::Invalid(
                "choose one slice: group, agent, channel, priority or tag (roll-ups are kept per dimension)".into(),
            )),
        }
    }

    /// The period of a query in whole local days of `calendar` (see [`KpiQuery`]): `to`
    /// defaults to the end of today, `from` to 28 days before `to`.
    fn period_of(query: &KpiQuery, now: i64, calendar: Option<&Calendar>) -> Result<(i64, i64)> {
        let day = |at: i64| i64::from(kpi::local_day_of(calendar, at));
        let to_day = match (query.to, query.to_date) {
            (Some(_), Some(_)) => return Err(both_given("to")),
            (_, Some(date)) => local_day_of_date(date)?,
            (Some(to), None) => day(to - 1) + 1,
            (None, None) => day(now) + 1,
        };
        let from_day = match (query.from, query.from_date) {
            (Some(_), Some(_)) => return Err(both_given("from")),
            (_, Some(date)) => local_day_of_date(date)?,
            (Some(from), None) => day(from),
            (None, None) => to_day - 28,
        };
        if from_day >= to_day {
            return Err(AppError::Invalid("from must be before to".into()));
        }
        if to_day - from_day > 3 * 366 {
            return Err(AppError::Invalid(
                "a period may span at most three years".into(),
            ));
        }
        Ok((from_day, to_day))
    }

    /// The roll-ups of a slice over whole days, as figure inputs; `only` narrows them to the
    /// measures one KPI reads (histograms of other measures are not decoded).
    async fn inputs(
        &self,
        slice: &Slice,
        from_day: i64,
        to_day: i64,
        only: Option<&[Measure]>,
    ) -> Result<Inputs> {
        let mut measures: HashMap<Measure, Aggregate> = HashMap::new();
        for row in self
            .store
            .kpi_rollups(slice.kind.as_str(), &slice.value, from_day, to_day)
            .await?
        {
            let Some(measure) = Measure::parse(&row.measure) else {
                continue;
            };
            if only.is_some_and(|needed| !needed.contains(&measure)) {
                continue;
            }
            measures
                .entry(measure)
                .or_default()
                .merge(&aggregate_of(&row)?);
        }
        Ok(Inputs {
            measures,
            backlog_ages: Histogram::new(),
        })
    }

    async fn backlog_ages(&self, query: &KpiQuery, now: i64) -> Result<Histogram> {
        const PAGE: i64 = 20_000;
        let mut ages = Histogram::new();
        let mut after = 0;
        loop {
            let page = self
                .store
                .backlog_created_ats(query.group, query.agent, after, PAGE)
                .await?;
            for (_, created) in &page {
                ages.add_bin(
                    kpi::Binning::Log.bin((now - created).max(0) as f64 / 1000.0),
                    1,
                );
            }
            match page.last() {
                Some((number, _)) if page.len() as i64 == PAGE => after = *number,
                _ => return Ok(ages),
            }
        }
    }

    /// Every KPI's figure for a period and slice, with the previous period of the same length.
    pub async fn kpi_reports(
        &self,
        by: &Principal,
        query: &KpiQuery,
        now: i64,
    ) -> Result<Vec<KpiReport>> {
        Self::can_see_kpis(by, query)?;
        let records = self.kpi_catalogue(by).await?;
        self.reports_of(records, query, now, None).await
    }

    /// One KPI's figure for a period and slice: only its own measures are read and only its
    /// figure is computed.
    pub async fn kpi_report(
        &self,
        by: &Principal,
        key: &str,
        query: &KpiQuery,
        now: i64,
    ) -> Result<KpiReport> {
        if kpi::find(key).is_none() {
            return Err(AppError::NotFound(format!("KPI {key:?}")));
        }
        Self::can_see_kpis(by, query)?;
        let record = self.kpi_record(by, key).await?;
        let measures = record.definition.computation.measures();
        self.reports_of(vec![record], query, now, Some(&measures))
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| {
                AppError::Invalid(format!(
                    "KPI {key:?} is live and only kept for the team, a group or an agent"
                ))
            })
    }

    /// The figures of `records` (with the previous period and the change). `only`: the
    /// measures those records read, when they are fewer than all.
    async fn reports_of(
        &self,
        records: Vec<KpiRecord>,
        query: &KpiQuery,
        now: i64,
        only: Option<&[Measure]>,
    ) -> Result<Vec<KpiReport>> {
        let slice = Self::slice_of(query)?;
        let calendar = self.team_calendar().await?;
        let calendar = calendar.as_ref();
        let (from_day, to_day) = Self::period_of(query, now, calendar)?;
        let day_start = |day: i64| kpi::local_day_start(calendar, day as i32);
        let length = to_day - from_day;
        // The live backlog is only kept per group and agent.
        let live_kept = matches!(slice.kind, DimKind::All | DimKind::Group | DimKind::Agent);
        let records: Vec<KpiRecord> = records
            .into_iter()
            .filter(|r| live_kept || !r.definition.computation.is_live())
            .collect();
        let any_rolled_up = records.iter().any(|r| !r.definition.computation.is_live());
        let any_live = records.iter().any(|r| r.definition.computation.is_live());
        let recomputing = any_rolled_up && self.kpi_rollups_recomputing().await?;
        let (mut current, previous) = if any_rolled_up && !recomputing {
            (
                self.inputs(&slice, from_day, to_day, only).await?,
                self.inputs(&slice, from_day - length, from_day, only)
                    .await?,
            )
        } else {
            (Inputs::default(), Inputs::default())
        };
        if any_live {
            current.backlog_ages = self.backlog_ages(query, now).await?;
        }
        Ok(records
            .into_iter()
            .map(|r| {
                let settings = KpiSettings {
                    target: r.target,
                    amber: r.amber,
                    red: r.red,
                    owner: r.owner.clone(),
                };
                let mut figure = kpi::figure(&r.definition, &settings, &current);
                let live = r.definition.computation.is_live();
                let (previous_figure, change) = if live {
                    (None, None)
                } else if recomputing {
                    figure = kpi::Figure {
                        value: None,
                        n: 0,
                        ci_low: None,
                        ci_high: None,
                        status: RECOMPUTING,
                        too_few_cases: false,
                        ..figure
                    };
                    (None, None)
                } else {
                    (
                        Some(kpi::figure(&r.definition, &settings, &previous)),
                        kpi::compare(&r.definition, &previous, &current),
                    )
                };
                KpiReport {
                    figure,
                    name: r.definition.name.to_string(),
                    polarity: r.definition.polarity,
                    from: day_start(from_day),
                    to: day_start(to_day),
                    slice: if slice.kind == DimKind::All {
                        "all".to_string()
                    } else {
                        format!("{}={}", slice.kind, slice.value)
                    },
                    previous: previous_figure,
                    change,
                    recomputing: recomputing && !live,
                }
            })
            .collect())
    }

    /// The conversations behind a figure (newest first, at most `limit`), as far as the roll-up
    /// consumer's facts can select them: by creation (volume), first reply, first solve
    /// (resolution, first-contact resolution, replies) or reopen. Survey and SLA figures drill
    /// through the first solve in the period.
    pub async fn kpi_drill(
        &self,
        by: &Principal,
        key: &str,
        query: &KpiQuery,
        limit: i64,
        now: i64,
    ) -> Result<Vec<i64>> {
        Self::can_see_kpis(by, query)?;
        let definition =
            kpi::find(key).ok_or_else(|| AppError::NotFound(format!("KPI {key:?}")))?;
        if query.channel.is_some() || query.priority.is_some() || query.tag.is_some() {
            return Err(AppError::Invalid(
                "drill-down slices by group or agent".into(),
            ));
        }
        use kpi::catalogue::Computation as C;
        let measure = match definition.computation {
            C::Percentile { measure, .. }
            | C::Proportion { measure }
            | C::Mean { measure }
            | C::Count { measure } => Some(measure),
            C::Rate { numerator, .. } => Some(numerator),
            C::NetPromoterScore => Some(Measure::Nps),
            C::Backlog | C::BacklogAge { .. } => None,
        };
        let Some(measure) = measure else {
            return Err(AppError::Invalid(
                "the backlog is live: open the queues instead".into(),
            ));
        };
        let on = match measure {
            Measure::Created => DrillOn::Created,
            Measure::FirstReply | Measure::FirstReplyBusiness => DrillOn::FirstReply,
            Measure::Reopened => DrillOn::Reopened,
            _ => DrillOn::FirstSolved,
        };
        if self.kpi_rollups_recomputing().await? {
            return Err(AppError::Conflict(format!(
                "{RECOMPUTING_NOTICE}; the conversations behind the figure are listed again then"
            )));
        }
        let calendar = self.team_calendar().await?;
        let calendar = calendar.as_ref();
        let (from_day, to_day) = Self::period_of(query, now, calendar)?;
        Ok(self
            .store
            .kpi_drill(
                on,
                kpi::local_day_start(calendar, from_day as i32),
                kpi::local_day_start(calendar, to_day as i32),
                query.group,
                query.agent,
                limit.clamp(1, 1000),
            )
            .await?)
    }
}

/// Who hears of a KPI's alerts: its owner as written in the settings, read as an active
/// agent's e-mail address, else an active agent's name, else a role ("service manager",
/// "manager", "team lead", "lead", "administrator", "admin": every active agent with it).
fn alert_recipients<'a>(owner: &str, agents: &'a [store::AgentRow]) -> Vec<&'a store::AgentRow> {
    let owner = owner.trim().to_lowercase();
    if owner.is_empty() {
        return Vec::new();
    }
    let active = || agents.iter().filter(|a| a.active);
    let by_email: Vec<_> = active()
        .filter(|a| a.email.to_lowercase() == owner)
        .collect();
    if !by_email.is_empty() {
        return by_email;
    }
    let by_name: Vec<_> = active()
        .filter(|a| a.name.trim().to_lowercase() == owner)
        .collect();
    if !by_name.is_empty() {
        return by_name;
    }
    let role = match owner.as_str() {
        "service manager" | "manager" | "managers" => "manager",
        "team lead" | "lead" | "team leads" | "leads" => "lead",
        "administrator" | "admin" | "administrators" | "admins" => "admin",
        _ => return Vec::new(),
    };
    active().filter(|a| a.role == role).collect()
}

fn alert_status_words(status: &str) -> &'static str {
    match status {
        "green" => "back on target",
        "amber" => "amber (watch it)",
        "red" => "red (off target)",
        _ => "without a status",
    }
}

/// A KPI in exception: amber or red over the rolling period.
#[derive(Debug, Clone, Serialize)]
pub struct KpiAlert {
    pub key: String,
    pub name: String,
    pub status: String,
    pub value: Option<f64>,
    pub unit: String,
    pub since: i64,
}

/// The period the exception alerts judge: the 28 days up to now.
pub const ALERT_PERIOD_DAYS: i64 = 28;

impl App {
    /// Judges every KPI team-wide over the last [`ALERT_PERIOD_DAYS`] and records an exception
    /// alert (an event) for each whose status changed to or from amber or red since the last
    /// check. A figure resting on too few cases keeps its previous status. Returns the alerts
    /// raised. Safe with several nodes: the states are locked while judged.
    pub async fn check_kpi_alerts(&self, now: i64) -> Result<Vec<String>> {
        let query = KpiQuery {
            from: Some(now - ALERT_PERIOD_DAYS * DAY_MS),
            to: Some(now),
            ..KpiQuery::default()
        };
        let reports = self.kpi_reports(&Principal::System, &query, now).await?;
        let owners: HashMap<String, String> = self
            .kpi_catalogue(&Principal::System)
            .await?
            .into_iter()
            .map(|r| (r.definition.key.to_string(), r.owner))
            .collect();
        let mailbox = self.store.mailboxes().await?.into_iter().next();
        let agents = self.store.agents().await?;
        let mut tx = self.store.begin().await?;
        let known: HashMap<String, store::KpiAlertRow> = tx
            .kpi_alerts_for_update()
            .await?
            .into_iter()
            .map(|a| (a.key.clone(), a))
            .collect();
        let mut raised = Vec::new();
        for report in &reports {
            let status = report.figure.status;
            if !matches!(status, "green" | "amber" | "red") {
                continue;
            }
            let before = known.get(&report.figure.key).map(|a| a.status.clone());
            if before.as_deref() == Some(status) {
                continue;
            }
            tx.put_kpi_alert(&store::KpiAlertRow {
                key: report.figure.key.clone(),
                status: status.to_string(),
                value: report.figure.value,
                changed_at: now,
            })
            .await?;
            // A first green judgement is recorded quietly; anything else is news.
            if before.is_some() || status != "green" {
                crate::record(
                    &mut tx,
                    None,
                    domain::Actor::System,
                    now,
                    &EventPayload::KpiAlerted {
                        key: report.figure.key.clone(),
                        from: before.clone(),
                        to: status.to_string(),
                        value: report.figure.value,
                    },
                )
                .await?;
                // In the alert's transaction: the owner hears of each alert exactly once.
                let owner = owners
                    .get(&report.figure.key)
                    .map(String::as_str)
                    .unwrap_or_default();
                let recipients = alert_recipients(owner, &agents);
                match (&mailbox, recipients.is_empty()) {
                    (_, true) => tracing::warn!(
                        kpi = %report.figure.key,
                        owner,
                        "a KPI alert was raised, but its owner is no active agent (an e-mail address, a name or a role); nobody was e-mailed"
                    ),
                    (None, false) => tracing::warn!(
                        kpi = %report.figure.key,
                        "a KPI alert was raised, but no mailbox is configured to send it from (add one with `rapport mailbox add`)"
                    ),
                    (Some(mailbox), false) => {
                        for to in recipients {
                            self.queue_alert_mail(
                                &mut tx,
                                mailbox,
                                to,
                                report,
                                before.as_deref(),
                                now,
                            )
                            .await?;
                        }
                    }
                }
                raised.push(report.figure.key.clone());
            }
        }
        tx.commit().await?;
        Ok(raised)
    }

    /// Composes the alert e-mail for one recipient and puts it in the outbound queue, in `tx`.
    async fn queue_alert_mail(
        &self,
        tx: &mut Tx,
        mailbox: &store::MailboxRow,
        to: &store::AgentRow,
        report: &KpiReport,
        before: Option<&str>,
        now: i64,
    ) -> Result<()> {
        let link = format!(
            "{}/app/kpis/{}",
            self.settings.public_url.trim_end_matches('/'),
            report.figure.key
        );
        let status = alert_status_words(report.figure.status);
        let value = match report.figure.value {
            Some(v) => format!("{v:.1} ({})", report.figure.unit),
            None => "no value".to_string(),
        };
        let text = format!(
            "Hello {name},\n\n{kpi} is {status} over the last {days} days: {value}, from {n} cases{was}.\n\n\
             The definition, the figure and the conversations behind it:\n{link}\n\n\
             You receive this because you own this KPI in Rapport.",
            name = to.name,
            kpi = report.name,
            days = ALERT_PERIOD_DAYS,
            n = report.figure.n,
            was = before
                .map(|b| format!(" (it was {})", alert_status_words(b)))
                .unwrap_or_default(),
        );
        let composed = mail::compose::compose_notice(
            &mail::compose::Notice {
                from: mail::Mailbox {
                    address: mailbox.address.clone(),
                    name: Some(mailbox.name.clone()),
                },
                to: mail::Mailbox {
                    address: to.email.clone(),
                    name: Some(to.name.clone()),
                },
                subject: format!("KPI alert: {} is {status}", report.name),
                text,
                date_ms: now,
            },
            rand::random(),
        )
        .map_err(|e| AppError::Invalid(format!("cannot compose the KPI alert e-mail: {e}")))?;
        self.enqueue_outbound(
            tx,
            &crate::outbound::Queued {
                conversation: None,
                message_id: None,
                composed: &composed,
                from: &mailbox.address,
                to: &to.email,
                automatic: true,
            },
            now,
        )
        .await?;
        Ok(())
    }

    /// The KPIs in exception now (managers, admins and leads).
    pub async fn kpi_alerts(&self, by: &Principal) -> Result<Vec<KpiAlert>> {
        if !matches!(
            by,
            Principal::System
                | Principal::Agent {
                    role: Role::Manager | Role::Admin | Role::Lead,
                    ..
                }
        ) && !by.can_administer()
        {
            return Err(AppError::Forbidden(
                "exception alerts are for managers and team leads".into(),
            ));
        }
        Ok(self
            .store
            .kpi_alerts()
            .await?
            .into_iter()
            .filter_map(|a| {
                let definition = kpi::find(&a.key)?;
                Some(KpiAlert {
                    name: definition.name.to_string(),
                    unit: definition.unit.as_str().to_string(),
                    key: a.key,
                    status: a.status,
                    value: a.value,
                    since: a.changed_at,
                })
            })
            .collect())
    }

    /// Replaces the benchmark set `set_name` with the figures of a CSV text (administrators).
    /// Returns how many figures it holds.
    pub async fn import_benchmarks(
        &self,
        by: &Principal,
        set_name: &str,
        csv: &str,
        now: i64,
    ) -> Result<usize> {
        if !by.can_administer() {
            return Err(AppError::Forbidden(
                "only administrators import benchmarks".into(),
            ));
        }
        let set_name = set_name.trim();
        if set_name.is_empty() || set_name.len() > 100 {
            return Err(AppError::Invalid(
                "a benchmark set needs a name of 1 to 100 characters".into(),
            ));
        }
        let figures = kpi::benchmarks::parse_csv(csv).map_err(AppError::Invalid)?;
        let rows: Vec<store::KpiBenchmarkRow> = figures
            .into_iter()
            .map(|b| store::KpiBenchmarkRow {
                id: 0,
                set_name: set_name.to_string(),
                index_name: b.index,
                country: b.country,
                period: b.period,
                level: b.level,
                entity: b.entity,
                score: b.score,
                source_url: b.source_url,
                source_kind: b.source_kind,
                note: b.note,
                imported_at: now,
            })
            .collect();
        let mut tx = self.store.begin().await?;
        tx.replace_kpi_benchmarks(set_name, &rows).await?;
        crate::record(
            &mut tx,
            None,
            by.actor(),
            now,
            &EventPayload::BenchmarksImported {
                set_name: set_name.to_string(),
                rows: rows.len() as i64,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(rows.len())
    }

    /// Every imported benchmark figure (the whole team may read them).
    pub async fn benchmarks(&self, by: &Principal) -> Result<Vec<store::KpiBenchmarkRow>> {
        if matches!(by, Principal::Customer { .. })
            || by.visibility() == domain::permission::Visibility::Nothing
        {
            return Err(AppError::Forbidden(
                "benchmarks are for the service team".into(),
            ));
        }
        Ok(self.store.kpi_benchmarks().await?)
    }
}
