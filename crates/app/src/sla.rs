//! Service standards in the product: business calendars and SLA policies (administered
//! here), each conversation's SLA clock kept by a consumer of the log, a tick that records
//! the warnings and breaches that have come due, escalations, and `recompute`.
//!
//! The clock of a conversation is stored (`sla_states`) with the last event folded into it
//! and the version of the calendars and policies it was computed under. The live path
//! ([`App::run_sla_clocks`]) is a consumer with a durable cursor, like the search indexer:
//! it reads new events in log order, advances each conversation's clock, and appends the
//! transitions as `sla_*` events in the same transaction as the clock and the cursor. A
//! clock computed under older policies, or a conversation seen for the first time, is
//! rebuilt from the conversation's whole log instead, the same way [`App::recompute_sla`]
//! does, so the live path and a recompute agree. A clock reads only the kinds in
//! [`::sla::CLOCK_INPUT_KINDS`]: any other event (an assignment, say) changes no clock and
//! is not written for. Per conversation, input events commit in id order (each use case
//! holds the conversation's row lock while it appends), so `through_event_id`, the last
//! input folded in, tells exactly which events a clock has seen.
//!
//! Warnings and breaches that fall due between events are found by [`App::run_sla_tick`]
//! through the `next_deadline_at` index. A recorded warning or breach (live path, tick or
//! recompute) queues an escalation job with a unique key when its cycle is still in progress
//! (`SlaClock::calls_for_escalation`: one whose cycle was met since is history) and it was
//! not escalated before; the job marks the escalation done in the same transaction as its
//! effects, so it takes effect exactly once even when it runs twice.

use std::collections::{BTreeMap, HashMap};

use ::sla::{
    ClockInput, Conditions, DeadlineKind, LogEntry, Policy, PolicySet, SlaClock, SlaTransition,
    TargetRule, TransitionKind,
};
use calendar::CalendarSpec;
use domain::{Actor, EventPayload, Principal, Priority, SlaBasis, SlaMetric, Status};
use serde::{Deserialize, Serialize};
use store::{Cursor, EventRow, NewEvent, SlaCalendarRow, SlaPolicyRow, SlaStateRow, Tx};

use crate::views::{corrupt, priority_from_rank, priority_rank, status_of};
use crate::{record, App, AppError, Result};

/// The name under which the SLA clocks keep their cursor.
pub const SLA_CONSUMER: &str = "sla";
/// Escalates a warning or a breach (payload: [`Escalation`] as JSON).
pub const SLA_ESCALATE_JOB: &str = "sla_escalate";

/// A business calendar as written by an administrator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarInput {
    pub name: String,
    pub time_zone: String,
    pub hours: String,
    pub holidays: Vec<String>,
    pub exceptions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CalendarView {
    pub id: i64,
    pub name: String,
    pub time_zone: String,
    pub hours: String,
    pub holidays: Vec<String>,
    pub exceptions: Vec<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An SLA policy as written by an administrator. `position` orders the policies (the first
/// that matches applies); when absent, a new policy goes last and an updated one stays.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyInput {
    pub name: String,
    pub position: Option<i64>,
    pub conditions: Conditions,
    pub calendar_id: Option<i64>,
    pub targets: Vec<TargetRule>,
    pub warn_at_percent: Option<u8>,
    pub on_hold_pauses: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyView {
    pub id: i64,
    pub name: String,
    pub position: i64,
    pub conditions: Conditions,
    pub calendar_id: Option<i64>,
    pub targets: Vec<TargetRule>,
    pub warn_at_percent: Option<u8>,
    pub on_hold_pauses: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An organisation, as a policy's conditions offer it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganisationChoice {
    pub id: i64,
    pub name: String,
}

/// Where one metric of a conversation stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaMetricView {
    pub metric: SlaMetric,
    pub cycle: u32,
    pub policy_id: Option<i64>,
    /// The target in force, in milliseconds of `basis` time.
    pub target_ms: Option<i64>,
    pub basis: Option<SlaBasis>,
    pub started_at: i64,
    /// When the target runs out if the clock keeps running (absent while paused or met).
    pub due_at: Option<i64>,
    pub paused: bool,
    pub fulfilled_at: Option<i64>,
    pub warned_at: Option<i64>,
    pub breached_at: Option<i64>,
    /// Time counted so far, in the target's basis (business time for business targets).
    pub elapsed_ms: i64,
    /// Target minus elapsed, in the target's basis: negative when overdue.
    pub left_ms: Option<i64>,
}

/// One SLA transition of the conversation's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaHistoryItem {
    pub at: i64,
    /// `applied`, `paused`, `resumed`, `warned`, `breached`, `fulfilled` or `escalated`.
    pub kind: String,
    pub metric: SlaMetric,
    pub cycle: u32,
}

/// The SLA state of a conversation at an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaView {
    pub conversation: i64,
    pub policy_id: Option<i64>,
    pub as_of: i64,
    /// Metrics with a cycle in progress or met, in a fixed order.
    pub metrics: Vec<SlaMetricView>,
    /// The next warning or breach, if a clock is running towards one.
    pub next_deadline_at: Option<i64>,
    pub history: Vec<SlaHistoryItem>,
}

/// Where a conversation of a queue stands against its SLA: its earliest running target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueSla {
    pub conversation: i64,
    /// When the earliest running target not yet met runs out (in the past when overdue).
    pub next_breach_at: Option<i64>,
    /// A running target not yet met is breached.
    pub breached: bool,
    /// A running target not yet met has passed its warning (and none is breached).
    pub warned: bool,
}

/// What a recompute did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SlaRun {
    /// The conversations read: those with clock inputs or a stored clock (every
    /// conversation has its `created` event).
    pub conversations: usize,
    pub events_appended: usize,
    /// Clocks stored because they changed (a second run writes none).
    pub states_written: usize,
    /// Recorded transitions read back from the log: only for conversations whose stored
    /// digest could not vouch for the transitions expected (a second run reads none).
    pub transitions_read: usize,
}

/// The payload of an escalation job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Escalation {
    pub conversation: i64,
    pub metric: SlaMetric,
    pub cycle: u32,
    /// `warned` or `breached`.
    pub reason: String,
}

/// The calendars and policies in force, checked.
pub(crate) struct Rules {
    pub(crate) version: i64,
    pub(crate) policies: PolicySet,
}

impl Rules {
    /// The rules with the calendars' open spans indexed around `now` for a recompute, which
    /// measures business time at every event of every log: from [`RECOMPUTE_INDEX_PAST`]
    /// before `now` to [`RECOMPUTE_INDEX_AHEAD`] after it. Same answers (outside the period
    /// the calendars walk as before), a fraction of the cost.
    fn indexed_for_recompute(self, now: i64) -> Rules {
        Rules {
            version: self.version,
            policies: self.policies.with_calendar_index(
                now.saturating_sub(RECOMPUTE_INDEX_PAST),
                now.saturating_add(RECOMPUTE_INDEX_AHEAD),
            ),
        }
    }
}

/// How far back a recompute indexes the calendars (ten years: a few thousand open spans a
/// calendar, built once a run).
const RECOMPUTE_INDEX_PAST: i64 = 10 * 366 * 86_400_000;

/// How far ahead a recompute indexes the calendars: the deadlines of the cycles in progress.
const RECOMPUTE_INDEX_AHEAD: i64 = 2 * 366 * 86_400_000;

fn json_list(text: &str, what: &str) -> Result<Vec<String>> {
    serde_json::from_str(text).map_err(|e| corrupt(format!("{what}: {e}")))
}

fn calendar_view(row: SlaCalendarRow) -> Result<CalendarView> {
    Ok(CalendarView {
        holidays: json_list(&row.holidays, "calendar holidays")?,
        exceptions: json_list(&row.exceptions, "calendar exceptions")?,
        id: row.id,
        name: row.name,
        time_zone: row.time_zone,
        hours: row.hours,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn policy_view(row: SlaPolicyRow) -> Result<PolicyView> {
    Ok(PolicyView {
        conditions: serde_json::from_str(&row.conditions)
            .map_err(|e| corrupt(format!("policy {} conditions: {e}", row.id)))?,
        targets: serde_json::from_str(&row.targets)
            .map_err(|e| corrupt(format!("policy {} targets: {e}", row.id)))?,
        warn_at_percent: row.warn_at_percent.and_then(|p| u8::try_from(p).ok()),
        id: row.id,
        name: row.name,
        position: row.position,
        calendar_id: row.calendar_id,
        on_hold_pauses: row.on_hold_pauses,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

fn calendar_spec(view: &CalendarView) -> CalendarSpec {
    CalendarSpec {
        time_zone: view.time_zone.clone(),
        hours: view.hours.clone(),
        holidays: view.holidays.clone(),
        exceptions: view.exceptions.clone(),
    }
}

/// Checks and compiles the policies (in order) against the calendars.
fn policy_set(calendars: &[CalendarView], policies: &[PolicyView]) -> Result<PolicySet> {
    let mut named = Vec::with_capacity(calendars.len());
    for c in calendars {
        let calendar = calendar_spec(c)
            .build()
            .map_err(|e| AppError::Invalid(format!("calendar {:?}: {e}", c.name)))?;
        named.push((c.name.clone(), calendar));
    }
    let mut compiled = Vec::with_capacity(policies.len());
    for p in policies {
        let calendar = match p.calendar_id {
            None => None,
            Some(id) => Some(
                calendars
                    .iter()
                    .find(|c| c.id == id)
                    .map(|c| c.name.clone())
                    .ok_or_else(|| {
                        AppError::Invalid(format!(
                            "SLA policy {:?} uses calendar {id}, which does not exist",
                            p.name
                        ))
                    })?,
            ),
        };
        compiled.push(Policy {
            id: p.id,
            name: p.name.clone(),
            conditions: p.conditions.clone(),
            calendar,
            targets: p.targets.clone(),
            warn_at_percent: p.warn_at_percent,
            on_hold_pauses: p.on_hold_pauses,
        });
    }
    PolicySet::new(compiled, named).map_err(|e| AppError::Invalid(e.to_string()))
}

pub(crate) async fn load_rules(tx: &mut Tx) -> Result<Rules> {
    let version = tx.sla_version().await?;
    rules(version, tx.sla_calendars().await?, tx.sla_policies().await?)
}

/// The rules as [`load_rules`] reads them, read without the writer.
pub(crate) async fn read_rules(store: &store::Store) -> Result<Rules> {
    let version = store.sla_version().await?;
    rules(
        version,
        store.sla_calendars().await?,
        store.sla_policies().await?,
    )
}

/// The rules compiled from the stored calendars and policies of `version`.
fn rules(
    version: i64,
    calendars: Vec<SlaCalendarRow>,
    policies: Vec<SlaPolicyRow>,
) -> Result<Rules> {
    let calendars = calendars
        .into_iter()
        .map(calendar_view)
        .collect::<Result<Vec<_>>>()?;
    let policies = policies
        .into_iter()
        .map(policy_view)
        .collect::<Result<Vec<_>>>()?;
    Ok(Rules {
        version,
        policies: policy_set(&calendars, &policies)?,
    })
}

fn must_administer(by: &Principal) -> Result<()> {
    if by.can_administer() {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "only administrators manage business calendars and SLA policies".into(),
        ))
    }
}

fn check_calendar(input: &CalendarInput) -> Result<()> {
    if input.name.trim().is_empty() {
        return Err(AppError::Invalid("a calendar needs a name".into()));
    }
    CalendarSpec {
        time_zone: input.time_zone.clone(),
        hours: input.hours.clone(),
        holidays: input.holidays.clone(),
        exceptions: input.exceptions.clone(),
    }
    .build()
    .map_err(|e| AppError::Invalid(format!("calendar {:?}: {e}", input.name)))?;
    Ok(())
}

async fn check_policy_calendar(tx: &mut Tx, input: &PolicyInput) -> Result<()> {
    if input.name.trim().is_empty() {
        return Err(AppError::Invalid("an SLA policy needs a name".into()));
    }
    let organisations = &input.conditions.organisations;
    let known = tx.existing_organizations(organisations).await?;
    if let Some(unknown) = organisations.iter().find(|id| !known.contains(id)) {
        return Err(AppError::Invalid(format!(
            "SLA policy {:?} names organisation {unknown}, which does not exist",
            input.name
        )));
    }
    let Some(id) = input.calendar_id else {
        return Ok(());
    };
    if tx.sla_calendars().await?.iter().any(|c| c.id == id) {
        Ok(())
    } else {
        Err(AppError::Invalid(format!(
            "SLA policy {:?} uses calendar {id}, which does not exist; add it first or fix the id",
            input.name
        )))
    }
}

fn calendar_row(id: i64, input: &CalendarInput, now: i64) -> SlaCalendarRow {
    SlaCalendarRow {
        id,
        name: input.name.trim().to_string(),
        time_zone: input.time_zone.trim().to_string(),
        hours: input.hours.clone(),
        holidays: serde_json::Value::from(input.holidays.clone()).to_string(),
        exceptions: serde_json::Value::from(input.exceptions.clone()).to_string(),
        created_at: now,
        updated_at: now,
    }
}

fn policy_row(id: i64, position: i64, input: &PolicyInput, now: i64) -> SlaPolicyRow {
    SlaPolicyRow {
        id,
        name: input.name.trim().to_string(),
        position,
        conditions: serde_json::to_string(&input.conditions).unwrap_or_else(|_| "{}".into()),
        calendar_id: input.calendar_id,
        targets: serde_json::to_string(&input.targets).unwrap_or_else(|_| "[]".into()),
        warn_at_percent: input.warn_at_percent.map(i64::from),
        on_hold_pauses: input.on_hold_pauses,
        created_at: now,
        updated_at: now,
    }
}

fn transition_payload(t: &SlaTransition) -> EventPayload {
    let (metric, cycle, at) = (t.metric, t.cycle, t.at);
    match &t.kind {
        TransitionKind::Applied {
            policy_id,
            target,
            basis,
        } => EventPayload::SlaApplied {
            metric,
            cycle,
            at,
            policy_id: *policy_id,
            target_ms: *target,
            basis: *basis,
        },
        TransitionKind::Paused => EventPayload::SlaPaused { metric, cycle, at },
        TransitionKind::Resumed => EventPayload::SlaResumed { metric, cycle, at },
        TransitionKind::Warned => EventPayload::SlaWarned { metric, cycle, at },
        TransitionKind::Breached => EventPayload::SlaBreached { metric, cycle, at },
        TransitionKind::Fulfilled => EventPayload::SlaFulfilled { metric, cycle, at },
    }
}

/// The transition an `sla_*` event records (`None` for other events and escalations).
fn recorded_transition(payload: &EventPayload) -> Option<SlaTransition> {
    let (metric, cycle, at, kind) = match payload {
        EventPayload::SlaApplied {
            metric,
            cycle,
            at,
            policy_id,
            target_ms,
            basis,
        } => (
            metric,
            cycle,
            at,
            TransitionKind::Applied {
                policy_id: *policy_id,
                target: *target_ms,
                basis: *basis,
            },
        ),
        EventPayload::SlaPaused { metric, cycle, at } => {
            (metric, cycle, at, TransitionKind::Paused)
        }
        EventPayload::SlaResumed { metric, cycle, at } => {
            (metric, cycle, at, TransitionKind::Resumed)
        }
        EventPayload::SlaWarned { metric, cycle, at } => {
            (metric, cycle, at, TransitionKind::Warned)
        }
        EventPayload::SlaBreached { metric, cycle, at } => {
            (metric, cycle, at, TransitionKind::Breached)
        }
        EventPayload::SlaFulfilled { metric, cycle, at } => {
            (metric, cycle, at, TransitionKind::Fulfilled)
        }
        _ => return None,
    };
    Some(SlaTransition {
        at: *at,
        metric: *metric,
        cycle: *cycle,
        kind,
    })
}

/// Whether an event moves an SLA clock: one of the kinds in [`::sla::CLOCK_INPUT_KINDS`].
fn is_clock_input(payload: &EventPayload) -> bool {
    ::sla::is_clock_input(payload)
}

fn parse_event(row: &EventRow) -> Option<EventPayload> {
    serde_json::from_str(&row.payload).ok()
}

/// Appends the transitions as events, and queues the escalations they call for
/// ([`queue_escalations`]); `clock` is the conversation's clock after them.
async fn append_transitions(
    tx: &mut Tx,
    conversation: i64,
    transitions: &[SlaTransition],
    clock: &SlaClock,
    now: i64,
) -> Result<usize> {
    for t in transitions {
        record(
            tx,
            Some(conversation),
            Actor::System,
            t.at,
            &transition_payload(t),
        )
        .await?;
    }
    let escalations: Vec<(i64, &SlaTransition)> = transitions
        .iter()
        .filter(|t| clock.calls_for_escalation(t))
        .map(|t| (conversation, t))
        .collect();
    queue_escalations(tx, &escalations, now).await?;
    Ok(transitions.len())
}

/// Queues an escalation job for each newly recorded warning or breach that calls for one
/// (its cycle still in progress: `SlaClock::calls_for_escalation`), unless that warning or
/// breach of that cycle was escalated before (a recompute under a new policy can record it
/// again at another instant). The job's unique key and the escalation's row, written with
/// its effects, make it take effect once however often it is queued or run.
async fn queue_escalations(
    tx: &mut Tx,
    escalations: &[(i64, &SlaTransition)],
    now: i64,
) -> Result<()> {
    if escalations.is_empty() {
        return Ok(());
    }
    let conversations: Vec<i64> = escalations.iter().map(|(c, _)| *c).collect();
    let done: std::collections::HashSet<(i64, String, i64, String)> = tx
        .sla_escalations_of(&conversations)
        .await?
        .into_iter()
        .collect();
    for (conversation, t) in escalations {
        let reason = match t.kind {
            TransitionKind::Warned => "warned",
            TransitionKind::Breached => "breached",
            _ => continue,
        };
        let key = (
            *conversation,
            t.metric.as_str().to_string(),
            i64::from(t.cycle),
            reason.to_string(),
        );
        if done.contains(&key) {
            continue;
        }
        let job = Escalation {
            conversation: *conversation,
            metric: t.metric,
            cycle: t.cycle,
            reason: reason.into(),
        };
        let payload = serde_json::to_string(&job).unwrap_or_default();
        let unique = format!(
            "{SLA_ESCALATE_JOB}:{conversation}:{}:{}:{reason}",
            t.metric.as_str(),
            t.cycle
        );
        tx.enqueue_job(SLA_ESCALATE_JOB, &payload, now, Some(&unique), 5, now)
            .await?;
    }
    Ok(())
}

/// The row that stores `clock`, encoded into `text` (a buffer a caller may reuse: take it
/// back from the row's `clock` when the row is not kept); `transitions_digest` is the digest
/// of every transition the clock has made (under `rules`), all of which the log records once
/// this row's transitions are appended (`None`: not known).
fn state_row(
    conversation: i64,
    rules: &Rules,
    through_event_id: i64,
    clock: &SlaClock,
    now: i64,
    transitions_digest: Option<i64>,
    mut text: String,
) -> SlaStateRow {
    let next = clock.next_deadline();
    clock.encode_into(&mut text);
    SlaStateRow {
        conversation,
        version: rules.version,
        through_event_id,
        clock: text,
        next_deadline_at: next.map(|d| d.at),
        next_deadline_kind: next.map(|d| {
            match d.kind {
                DeadlineKind::Warning => "warning",
                DeadlineKind::Breach => "breach",
            }
            .to_string()
        }),
        // An overdue target keeps its (past) due instant, so the queue sorted by the next
        // breach shows breached conversations first, not below those still in time.
        next_breach_at: clock.next_breach_at(),
        updated_at: now,
        transitions_digest,
    }
}

/// The digest a stored state had, with the transitions its clock made since (`appended`)
/// added; `None` stays `None`.
fn digest_after(stored: Option<i64>, appended: &[SlaTransition]) -> Option<i64> {
    stored.map(|d| d.wrapping_add(::sla::transitions_digest(appended)))
}

fn parse_clock(row: &SlaStateRow) -> Result<SlaClock> {
    SlaClock::decode(&row.clock).map_err(|e| {
        corrupt(format!(
            "SLA clock of conversation {}: {e}",
            row.conversation
        ))
    })
}

/// A conversation's log, read for rebuilding its clock.
#[derive(Default)]
struct ConversationLog<'a> {
    /// What the clock reads of the events that move it ([`::sla::CLOCK_INPUT_KINDS`]), with
    /// their instants, in log order.
    inputs: Vec<(i64, ClockInput<'a>)>,
    /// The transitions the log records.
    recorded: Vec<SlaTransition>,
    /// The customer who opened the conversation.
    customer: Option<i64>,
    /// The last input. Not the last event: an `sla_*` event can commit (from the tick or a
    /// recompute, which do not hold the conversation) while a use case holding the
    /// conversation has yet to commit an input with a smaller id, and the live path must
    /// still fold that one in.
    through: Option<i64>,
}

impl<'a> ConversationLog<'a> {
    fn read(events: &'a [EventRow]) -> ConversationLog<'a> {
        let mut log = ConversationLog::default();
        for row in events {
            log.push(row.id, row.at, &row.payload);
        }
        log
    }

    fn clear(&mut self) {
        self.inputs.clear();
        self.recorded.clear();
        self.customer = None;
        self.through = None;
    }

    /// Adds the next event of the log, read from its JSON alone (its kind too, as the live
    /// path reads it); an event whose JSON does not hold what its kind promises is left out,
    /// as the live path leaves it out.
    fn push(&mut self, id: i64, at: i64, payload: &'a str) {
        match ::sla::read_logged(payload) {
            Ok(LogEntry::Input(payload)) => {
                if let ClockInput::Created { customer, .. } = &payload {
                    self.customer.get_or_insert(*customer);
                }
                self.through = Some(id);
                self.inputs.push((at, payload));
            }
            Ok(LogEntry::Transition(t)) => self.recorded.push(t),
            Ok(LogEntry::Other | LogEntry::Escalated) | Err(_) => {}
        }
    }

    /// Adds the next input of the log, read from the log's `clock_input` text (as a
    /// recompute's scan reads it); a text that holds no input (`?`: a payload without a field
    /// the clock reads) is left out, as the live path leaves out such a payload.
    fn push_input(&mut self, id: i64, at: i64, text: &'a str) {
        if let Some(input) = ::sla::read_clock_input(text) {
            if let ClockInput::Created { customer, .. } = &input {
                self.customer.get_or_insert(*customer);
            }
            self.through = Some(id);
            self.inputs.push((at, input));
        }
    }

    /// The clock rebuilt from the inputs under `rules`, advanced through every warning and
    /// breach due by `now`, with every transition it makes (in the order made) and the last
    /// input; `None` for a conversation with no events but the clocks' own.
    fn expected(
        &self,
        rules: &Rules,
        organisation: Option<i64>,
        now: i64,
    ) -> Option<(Vec<SlaTransition>, SlaClock, i64)> {
        let mut clock = SlaClock::new(organisation);
        let mut transitions = Vec::with_capacity(32);
        let through = self.fold_into(rules, organisation, now, &mut clock, &mut transitions)?;
        Some((transitions, clock, through))
    }

    /// [`ConversationLog::expected`] into a clock and a list the caller reuses (both are
    /// reset first); the last input.
    fn fold_into(
        &self,
        rules: &Rules,
        organisation: Option<i64>,
        now: i64,
        clock: &mut SlaClock,
        transitions: &mut Vec<SlaTransition>,
    ) -> Option<i64> {
        let through = self.through?;
        clock.reset(organisation);
        transitions.clear();
        for (at, input) in &self.inputs {
            clock.apply_input(&rules.policies, *at, input, transitions);
        }
        clock.advance_through_due(&rules.policies, now, transitions);
        Some(through)
    }

    /// [`ConversationLog::expected`] from a log read whole (its transitions too): the
    /// transitions the log lacks (in time order), the clock, and the row to store.
    fn rebuild(
        &self,
        rules: &Rules,
        conversation: i64,
        organisation: Option<i64>,
        now: i64,
    ) -> Option<(Vec<SlaTransition>, SlaClock, SlaStateRow)> {
        let (expected, clock, through) = self.expected(rules, organisation, now)?;
        let missing = missing_transitions(&expected, &self.recorded);
        // Once `missing` is appended, the log records every transition the clock made.
        let digest = ::sla::transitions_digest(&expected);
        let row = state_row(
            conversation,
            rules,
            through,
            &clock,
            now,
            Some(digest),
            String::new(),
        );
        Some((missing, clock, row))
    }
}

/// The expected transitions the recorded ones lack, in time order.
fn missing_transitions(
    expected: &[SlaTransition],
    recorded: &[SlaTransition],
) -> Vec<SlaTransition> {
    let mut missing = ::sla::diff_transitions(expected, recorded).missing;
    missing.sort_by_key(|t| t.at);
    missing
}

/// Rebuilds a conversation's clock from its whole log as of `now`, appends the transitions
/// the log lacks, and stores the clock. The caller holds the conversation's SLA state
/// ([`Tx::lock_sla_states`]). Returns how many events it appended.
async fn rebuild(tx: &mut Tx, rules: &Rules, conversation: i64, now: i64) -> Result<usize> {
    let events = tx.events_of_conversation(conversation).await?;
    let log = ConversationLog::read(&events);
    let organisation = match log.customer {
        Some(id) => tx.customer(id).await?.and_then(|c| c.organization_id),
        None => None,
    };
    let Some((missing, clock, row)) = log.rebuild(rules, conversation, organisation, now) else {
        return Ok(0);
    };
    let appended = append_transitions(tx, conversation, &missing, &clock, now).await?;
    tx.put_sla_state(&row).await?;
    Ok(appended)
}

/// Folds new events of one conversation into its stored clock (computed under `rules`):
/// the transitions and the clock to store; `None` when no event is new to it.
fn advance(
    rules: &Rules,
    state: &SlaStateRow,
    events: &[&EventRow],
    now: i64,
) -> Result<Option<(Vec<SlaTransition>, SlaClock, SlaStateRow)>> {
    let mut clock = parse_clock(state)?;
    let mut through = state.through_event_id;
    let mut out = Vec::new();
    for row in events {
        if row.id <= through {
            continue;
        }
        if let Some(payload) = parse_event(row).filter(is_clock_input) {
            through = row.id;
            clock.apply(&rules.policies, row.at, &payload, &mut out);
        }
    }
    if through == state.through_event_id {
        return Ok(None);
    }
    let digest = digest_after(state.transitions_digest, &out);
    let row = state_row(
        state.conversation,
        rules,
        through,
        &clock,
        now,
        digest,
        String::new(),
    );
    Ok(Some((out, clock, row)))
}

/// What a batch of the live path read and folded, to write under the writer if nothing
/// read has moved meanwhile.
struct ClockBatch {
    /// The rules' version the clocks were folded under.
    version: i64,
    /// The conversations the batch moves, and their stored clocks as read.
    numbers: Vec<i64>,
    stored: Vec<SlaStateRow>,
    /// Per conversation, the transitions to append, and the clocks to store.
    transitions: Vec<(i64, Vec<SlaTransition>, SlaClock)>,
    rows: Vec<SlaStateRow>,
}

/// Whether the stored clocks held under the writer are those read before (by conversation).
fn same_states(read: &[SlaStateRow], held: Vec<SlaStateRow>) -> bool {
    let read: HashMap<i64, &SlaStateRow> = read.iter().map(|s| (s.conversation, s)).collect();
    held.len() == read.len()
        && held
            .iter()
            .all(|h| read.get(&h.conversation).is_some_and(|r| *r == h))
}

/// A conversation whose stored clock or log a recompute must complete.
struct Rebuilt<'a> {
    conversation: i64,
    /// The transitions the log lacks, in time order.
    missing: Vec<SlaTransition>,
    /// Of `missing`, those the rebuilt clock calls for an escalation of
    /// ([`SlaClock::calls_for_escalation`]).
    escalations: Vec<SlaTransition>,
    /// The row to store; `None` when the stored one already says the same.
    row: Option<SlaStateRow>,
    /// The stored row the rebuild was compared with, as read (`None`: there was none).
    stored: Option<store::BatchStateRef<'a>>,
}

/// The instant to rebuild a stored clock as of: `now`, or the instant its writer advanced
/// it to when that is later. A clock rebuilt to an earlier instant than the one stored would
/// lack the warnings and breaches the tick recorded since (a recompute's `now` is taken when
/// it starts, and a tick may run later while it goes on), and the next tick would record
/// them again.
fn not_before_stored(now: i64, stored_at: Option<i64>) -> i64 {
    stored_at.map_or(now, |at| at.max(now))
}

/// A conversation of a recompute batch whose stored digest could not vouch for its expected
/// transitions (none stored, or another multiset: the rules changed, say): the transitions
/// its log records must be read to know which ones it lacks ([`resolve_unsure`]).
struct Unsure<'a> {
    conversation: i64,
    expected: Vec<SlaTransition>,
    clock: SlaClock,
    through: i64,
    /// The instant the clock was rebuilt as of.
    now: i64,
    /// The stored row as read.
    stored: Option<store::BatchStateRef<'a>>,
}

/// Rebuilds the clocks of a batch of conversations in memory, as read (the scan reads only
/// the clocks' inputs), and keeps those whose stored clock or log must change. When the expected transitions have the stored digest, they are the transitions
/// the stored clock made, all in the log: none is missing. The others are returned as
/// [`Unsure`]. Pure: no store, no writer.
fn fold_batch<'a>(
    batch: &'a store::SlaBatch,
    rules: &Rules,
    organisations: &HashMap<i64, i64>,
    now: i64,
    trust_digests: bool,
) -> (Vec<Rebuilt<'a>>, Vec<Unsure<'a>>) {
    let mut log = ConversationLog::default();
    // One clock and one list for the whole batch; only the conversations kept are copied.
    let mut clock = SlaClock::new(None);
    let mut expected = Vec::with_capacity(32);
    // The clock's text, encoded to compare with the stored one: one buffer while unchanged.
    let mut text = String::with_capacity(512);
    // Room for every conversation of the batch: no rows moved while it fills.
    let mut out = Vec::with_capacity(batch.conversations());
    let mut unsure = Vec::new();
    let mut states = batch.states().peekable();
    let mut events = batch.events().peekable();
    while let Some(first) = events.peek().copied() {
        let conversation = first.conversation;
        log.clear();
        while let Some(e) = events.next_if(|e| e.conversation == conversation) {
            log.push_input(e.id, e.at, e.input);
        }
        while states.next_if(|s| s.conversation < conversation).is_some() {}
        let stored = states.next_if(|s| s.conversation == conversation);
        let organisation = log.customer.and_then(|c| organisations.get(&c).copied());
        let now = not_before_stored(now, stored.map(|s| s.updated_at));
        let Some(through) = log.fold_into(rules, organisation, now, &mut clock, &mut expected)
        else {
            continue;
        };
        let digest = ::sla::transitions_digest(&expected);
        let vouched = trust_digests && stored.is_some_and(|s| s.transitions_digest == Some(digest));
        if !vouched {
            unsure.push(Unsure {
                conversation,
                expected: expected.clone(),
                clock: clock.clone(),
                through,
                now,
                stored,
            });
            continue;
        }
        // The stored clock made exactly these transitions, and the log records them.
        let row = state_row(
            conversation,
            rules,
            through,
            &clock,
            now,
            Some(digest),
            std::mem::take(&mut text),
        );
        if stored.is_some_and(|s| s.says(&row)) {
            text = row.clock;
            continue;
        }
        // The row keeps the buffer; `text` is empty, and the next encode gives it room.
        out.push(Rebuilt {
            conversation,
            missing: Vec::new(),
            escalations: Vec::new(),
            row: Some(row),
            stored,
        });
    }
    (out, unsure)
}

/// Settles the [`Unsure`] conversations of a batch with the transitions their logs record
/// (`recorded`: their events of [`::sla::TRANSITION_KINDS`]): what each lacks, and the row
/// with the digest of its expected transitions (all in the log once the missing ones are
/// appended). Pure.
fn resolve_unsure<'a>(
    unsure: Vec<Unsure<'a>>,
    recorded: &[EventRow],
    rules: &Rules,
) -> Vec<Rebuilt<'a>> {
    let mut logged: HashMap<i64, Vec<SlaTransition>> = HashMap::new();
    for e in recorded {
        if let (Some(conversation), Ok(LogEntry::Transition(t))) =
            (e.conversation, ::sla::read_logged(&e.payload))
        {
            logged.entry(conversation).or_default().push(t);
        }
    }
    let mut out = Vec::new();
    for u in unsure {
        let recorded = logged.get(&u.conversation).map_or(&[][..], Vec::as_slice);
        let missing = missing_transitions(&u.expected, recorded);
        let digest = ::sla::transitions_digest(&u.expected);
        let row = state_row(
            u.conversation,
            rules,
            u.through,
            &u.clock,
            u.now,
            Some(digest),
            String::new(),
        );
        let same = u.stored.is_some_and(|s| s.says(&row));
        if same && missing.is_empty() {
            continue;
        }
        let escalations = missing
            .iter()
            .filter(|t| u.clock.calls_for_escalation(t))
            .cloned()
            .collect();
        out.push(Rebuilt {
            conversation: u.conversation,
            missing,
            escalations,
            row: (!same).then_some(row),
            stored: u.stored,
        });
    }
    out
}

fn next_priority(priority: Priority) -> Priority {
    match priority {
        Priority::Low => Priority::Normal,
        Priority::Normal => Priority::High,
        Priority::High | Priority::Urgent => Priority::Urgent,
    }
}

/// Records a change of the calendars or policies by `by` and commits it with a new SLA
/// version, so that every clock is rebuilt under the new rules.
async fn commit_sla_change(
    mut tx: Tx,
    by: &Principal,
    now: i64,
    changed: &EventPayload,
) -> Result<()> {
    record(&mut tx, None, by.actor(), now, changed).await?;
    tx.bump_sla_version().await?;
    tx.commit().await?;
    Ok(())
}

impl App {
    /// The business calendars (administrators only).
    pub async fn sla_calendars(&self, by: &Principal) -> Result<Vec<CalendarView>> {
        must_administer(by)?;
        self.store
            .sla_calendars()
            .await?
            .into_iter()
            .map(calendar_view)
            .collect()
    }

    /// Adds a business calendar (administrators only).
    pub async fn add_sla_calendar(
        &self,
        by: &Principal,
        input: CalendarInput,
        now: i64,
    ) -> Result<CalendarView> {
        must_administer(by)?;
        check_calendar(&input)?;
        let mut tx = self.store.begin().await?;
        let kpi_zone = crate::kpi::kpi_time_zone(&mut tx).await?;
        let mut row = calendar_row(0, &input, now);
        row.id = tx.insert_sla_calendar(&row).await?;
        crate::kpi::rewind_kpi_rollups_if_days_moved(&mut tx, kpi_zone, now).await?;
        let changed = EventPayload::SlaCalendarChanged {
            calendar_id: row.id,
            name: row.name.clone(),
            change: "added".into(),
        };
        commit_sla_change(tx, by, now, &changed).await?;
        calendar_view(row)
    }

    /// Replaces a business calendar (administrators only). Clocks follow after a recompute
    /// (the live path rebuilds each conversation's clock at its next event); when the KPI
    /// roll-ups' days move to another time zone, their consumer is rewound to refold the log.
    pub async fn update_sla_calendar(
        &self,
        by: &Principal,
        id: i64,
        input: CalendarInput,
        now: i64,
    ) -> Result<CalendarView> {
        must_administer(by)?;
        check_calendar(&input)?;
        let mut tx = self.store.begin().await?;
        let existing = tx.sla_calendars().await?;
        let Some(old) = existing.into_iter().find(|c| c.id == id) else {
            return Err(AppError::NotFound(format!("calendar {id}")));
        };
        let kpi_zone = crate::kpi::kpi_time_zone(&mut tx).await?;
        let mut row = calendar_row(id, &input, now);
        row.created_at = old.created_at;
        tx.update_sla_calendar(&row).await?;
        load_rules(&mut tx).await?;
        // The KPI roll-ups count days in the first calendar's time zone: a new zone refolds them.
        crate::kpi::rewind_kpi_rollups_if_days_moved(&mut tx, kpi_zone, now).await?;
        let changed = EventPayload::SlaCalendarChanged {
            calendar_id: id,
            name: row.name.clone(),
            change: "updated".into(),
        };
        commit_sla_change(tx, by, now, &changed).await?;
        calendar_view(row)
    }

    /// Deletes a business calendar no policy uses (administrators only).
    pub async fn delete_sla_calendar(&self, by: &Principal, id: i64, now: i64) -> Result<()> {
        must_administer(by)?;
        let mut tx = self.store.begin().await?;
        let kpi_zone = crate::kpi::kpi_time_zone(&mut tx).await?;
        let name = tx
            .sla_calendars()
            .await?
            .into_iter()
            .find(|c| c.id == id)
            .map(|c| c.name)
            .unwrap_or_default();
        let users = tx.policies_using_calendar(id).await?;
        if !users.is_empty() {
            return Err(AppError::Conflict(format!(
                "the calendar {name} is used by the SLA {} {}; give {} another calendar or delete {} first",
                if users.len() == 1 { "policy" } else { "policies" },
                users.join(", "),
                if users.len() == 1 { "it" } else { "them" },
                if users.len() == 1 { "it" } else { "them" },
            )));
        }
        if !tx.delete_sla_calendar(id).await? {
            return Err(AppError::NotFound(format!("calendar {id}")));
        }
        crate::kpi::rewind_kpi_rollups_if_days_moved(&mut tx, kpi_zone, now).await?;
        let changed = EventPayload::SlaCalendarChanged {
            calendar_id: id,
            name,
            change: "deleted".into(),
        };
        commit_sla_change(tx, by, now, &changed).await
    }

    /// The calendars and policies in force, checked and compiled, as the clocks use them
    /// (for benches and tools that fold logs themselves), indexed around `now` as
    /// [`App::recompute_sla`] indexes them.
    pub async fn compiled_sla_policies(&self, now: i64) -> Result<PolicySet> {
        let mut tx = self.store.begin().await?;
        let rules = load_rules(&mut tx).await?.indexed_for_recompute(now);
        tx.rollback().await?;
        Ok(rules.policies)
    }

    /// The organisations a policy may name in its conditions (administrators only).
    pub async fn sla_organisations(&self, by: &Principal) -> Result<Vec<OrganisationChoice>> {
        must_administer(by)?;
        Ok(self
            .store
            .organizations()
            .await?
            .into_iter()
            .map(|o| OrganisationChoice {
                id: o.id,
                name: o.name,
            })
            .collect())
    }

    /// The SLA policies in match order (administrators only).
    pub async fn sla_policies(&self, by: &Principal) -> Result<Vec<PolicyView>> {
        must_administer(by)?;
        self.store
            .sla_policies()
            .await?
            .into_iter()
            .map(policy_view)
            .collect()
    }

    /// Adds an SLA policy (administrators only); it is checked with the others.
    pub async fn add_sla_policy(
        &self,
        by: &Principal,
        input: PolicyInput,
        now: i64,
    ) -> Result<PolicyView> {
        must_administer(by)?;
        let mut tx = self.store.begin().await?;
        let last = tx
            .sla_policies()
            .await?
            .iter()
            .map(|p| p.position)
            .max()
            .unwrap_or(0);
        check_policy_calendar(&mut tx, &input).await?;
        let position = input.position.unwrap_or(last + 1);
        let mut row = policy_row(0, position, &input, now);
        row.id = tx.insert_sla_policy(&row).await?;
        load_rules(&mut tx).await?;
        let changed = EventPayload::SlaPolicyChanged {
            policy_id: row.id,
            name: row.name.clone(),
            change: "added".into(),
        };
        commit_sla_change(tx, by, now, &changed).await?;
        policy_view(row)
    }

    /// Replaces an SLA policy (administrators only).
    pub async fn update_sla_policy(
        &self,
        by: &Principal,
        id: i64,
        input: PolicyInput,
        now: i64,
    ) -> Result<PolicyView> {
        must_administer(by)?;
        let mut tx = self.store.begin().await?;
        let Some(old) = tx.sla_policies().await?.into_iter().find(|p| p.id == id) else {
            return Err(AppError::NotFound(format!("SLA policy {id}")));
        };
        check_policy_calendar(&mut tx, &input).await?;
        let mut row = policy_row(id, input.position.unwrap_or(old.position), &input, now);
        row.created_at = old.created_at;
        tx.update_sla_policy(&row).await?;
        load_rules(&mut tx).await?;
        let changed = EventPayload::SlaPolicyChanged {
            policy_id: id,
            name: row.name.clone(),
            change: "updated".into(),
        };
        commit_sla_change(tx, by, now, &changed).await?;
        policy_view(row)
    }

    /// Deletes an SLA policy (administrators only).
    pub async fn delete_sla_policy(&self, by: &Principal, id: i64, now: i64) -> Result<()> {
        must_administer(by)?;
        let mut tx = self.store.begin().await?;
        let name = tx
            .sla_policies()
            .await?
            .into_iter()
            .find(|p| p.id == id)
            .map(|p| p.name)
            .unwrap_or_default();
        if !tx.delete_sla_policy(id).await? {
            return Err(AppError::NotFound(format!("SLA policy {id}")));
        }
        let changed = EventPayload::SlaPolicyChanged {
            policy_id: id,
            name,
            change: "deleted".into(),
        };
        commit_sla_change(tx, by, now, &changed).await
    }

    /// Where the SLA clocks of a conversation stand at `now`, with their history, for
    /// whoever may see the conversation. Read only: what has come due but is not recorded
    /// yet shows in the figures, and the tick records it.
    pub async fn conversation_sla(&self, by: &Principal, number: i64, now: i64) -> Result<SlaView> {
        self.conversation(by, number).await?;
        let mut tx = self.store.begin().await?;
        let rules = load_rules(&mut tx).await?;
        let state = self.store.sla_state(number).await?;
        let clock = match state.filter(|s| s.version == rules.version) {
            Some(state) => {
                // Events the live path has not folded in yet (a reply a moment ago) count.
                let mut clock = parse_clock(&state)?;
                let mut ignored = Vec::new();
                for event in tx.events_of_conversation(number).await? {
                    if event.id <= state.through_event_id {
                        continue;
                    }
                    if let Some(payload) = parse_event(&event).filter(is_clock_input) {
                        clock.apply(&rules.policies, event.at, &payload, &mut ignored);
                    }
                }
                clock
            }
            None => {
                // Not computed yet (or under older policies): fold the log in memory.
                let events = tx.events_of_conversation(number).await?;
                let inputs: Vec<(i64, EventPayload)> = events
                    .iter()
                    .filter_map(|e| Some((e.at, parse_event(e).filter(is_clock_input)?)))
                    .collect();
                let customer = inputs.iter().find_map(|(_, p)| match p {
                    EventPayload::Created { customer_id, .. } => Some(*customer_id),
                    _ => None,
                });
                let organisation = match customer {
                    Some(id) => tx.customer(id).await?.and_then(|c| c.organization_id),
                    None => None,
                };
                ::sla::recompute(
                    &rules.policies,
                    organisation,
                    inputs.iter().map(|(at, p)| (*at, p)),
                    now,
                )
                .clock
            }
        };
        tx.rollback().await?;
        let mut clock = clock;
        let mut ignored = Vec::new();
        clock.advance_to(&rules.policies, now, &mut ignored);
        let state = clock.state(&rules.policies, now);
        let history = self
            .store
            .conversation_events(number)
            .await?
            .iter()
            .filter(|e| e.conversation == Some(number))
            .filter_map(|e| {
                let payload = parse_event(e)?;
                let (metric, cycle, kind) = match &payload {
                    EventPayload::SlaEscalated { metric, cycle, .. } => {
                        (*metric, *cycle, "escalated".to_string())
                    }
                    other => {
                        let t = recorded_transition(other)?;
                        (t.metric, t.cycle, t.kind.as_str().to_string())
                    }
                };
                Some(SlaHistoryItem {
                    at: e.at,
                    kind,
                    metric,
                    cycle,
                })
            })
            .collect();
        Ok(SlaView {
            conversation: number,
            policy_id: state.policy_id,
            as_of: now,
            metrics: state
                .metrics
                .iter()
                .map(|m| SlaMetricView {
                    metric: m.metric,
                    cycle: m.cycle,
                    policy_id: m.target.map(|t| t.policy_id),
                    target_ms: m.target.map(|t| t.duration),
                    basis: m.target.map(|t| t.basis),
                    started_at: m.started_at,
                    due_at: m.due_at,
                    paused: m.paused,
                    fulfilled_at: m.fulfilled_at,
                    warned_at: m.warned_at,
                    breached_at: m.breached_at,
                    elapsed_ms: m.elapsed,
                    left_ms: m.left,
                })
                .collect(),
            next_deadline_at: clock.next_deadline().map(|d| d.at),
            history,
        })
    }

    /// Where each of these conversations stands against its SLA at `now`, for a page of a
    /// queue: only the conversations `by` may see, in the order asked; a conversation with
    /// no clock yet has no running target. Read only, like [`App::conversation_sla`].
    pub async fn queue_sla(
        &self,
        by: &Principal,
        numbers: &[i64],
        now: i64,
    ) -> Result<Vec<QueueSla>> {
        let visible: Vec<i64> = self
            .store
            .conversations_by_number(numbers)
            .await?
            .iter()
            .filter(|row| by.can_see(&crate::conversations::reach(row)))
            .map(|row| row.number)
            .collect();
        let states = self.store.sla_states_of(&visible).await?;
        let mut tx = self.store.begin().await?;
        let rules = load_rules(&mut tx).await?;
        tx.rollback().await?;
        let mut out = Vec::with_capacity(visible.len());
        for number in visible {
            let Some(state) = states.iter().find(|s| s.conversation == number) else {
                out.push(QueueSla {
                    conversation: number,
                    next_breach_at: None,
                    breached: false,
                    warned: false,
                });
                continue;
            };
            if state.version != rules.version {
                // Computed under older policies: the stored instant is the best there is
                // until the clock is rebuilt.
                out.push(QueueSla {
                    conversation: number,
                    next_breach_at: state.next_breach_at,
                    breached: state.next_breach_at.is_some_and(|at| at <= now),
                    warned: false,
                });
                continue;
            }
            let mut clock = parse_clock(state)?;
            let mut ignored = Vec::new();
            clock.advance_to(&rules.policies, now, &mut ignored);
            let running: Vec<_> = clock
                .state(&rules.policies, now)
                .metrics
                .into_iter()
                .filter(|m| m.fulfilled_at.is_none() && m.due_at.is_some())
                .collect();
            let breached = running.iter().any(|m| m.breached_at.is_some());
            out.push(QueueSla {
                conversation: number,
                next_breach_at: running.iter().filter_map(|m| m.due_at).min(),
                breached,
                warned: !breached && running.iter().any(|m| m.warned_at.is_some()),
            });
        }
        Ok(out)
    }

    /// The live path: folds new events into the SLA clocks, a batch at a time. Each batch
    /// commits the transitions, the clocks and the cursor together; returns how many
    /// events it read.
    ///
    /// Everything is read and folded without the writer: the events, the rules, the stored
    /// clocks, and for a conversation seen for the first time (or clocked under older
    /// rules) its whole log and its customer's organisation. The writer is taken only to
    /// write, after checking that nothing read has moved meanwhile: the cursor (another
    /// node clocked the batch), the rules' version, and the stored clocks of the batch's
    /// conversations (the tick or a recompute wrote one). If anything moved, the batch is
    /// read again.
    pub async fn run_sla_clocks(&self, batch: u32, now: i64) -> Result<usize> {
        let mut total = 0;
        loop {
            let cursor = self.store.cursor(SLA_CONSUMER).await?.unwrap_or_default();
            let events = self.store.events_after(cursor, batch).await?;
            let Some(last) = events.last() else {
                return Ok(total);
            };
            let next = Cursor::after(last);
            let read = self.read_sla_batch(&events, now).await?;
            let mut tx = self.store.begin().await?;
            if tx.lock_cursor(SLA_CONSUMER, now).await? != cursor {
                tx.rollback().await?;
                continue;
            }
            if let Some(read) = &read {
                if tx.sla_version().await? != read.version
                    || !same_states(&read.stored, tx.lock_sla_states(&read.numbers).await?)
                {
                    tx.rollback().await?;
                    tokio::task::yield_now().await;
                    continue;
                }
                for (conversation, transitions, clock) in &read.transitions {
                    append_transitions(&mut tx, *conversation, transitions, clock, now).await?;
                }
                tx.put_sla_states(&read.rows).await?;
            }
            tx.set_cursor(SLA_CONSUMER, next, now).await?;
            tx.commit().await?;
            total += events.len();
            if events.len() < batch as usize {
                return Ok(total);
            }
        }
    }

    /// Folds a batch of the log into the clocks it moves, reading without the writer;
    /// `None` when no event of the batch belongs to a conversation's clock.
    async fn read_sla_batch(&self, events: &[EventRow], now: i64) -> Result<Option<ClockBatch>> {
        // Each conversation's inputs in this batch (they move `through`).
        let mut inputs: BTreeMap<i64, Vec<&EventRow>> = BTreeMap::new();
        for event in events {
            if let Some(conversation) = event.conversation {
                if ::sla::CLOCK_INPUT_KINDS.contains(&event.kind.as_str()) {
                    inputs.entry(conversation).or_default().push(event);
                }
            }
        }
        if inputs.is_empty() {
            return Ok(None);
        }
        let numbers: Vec<i64> = inputs.keys().copied().collect();
        let rules = read_rules(&self.store).await?;
        let stored: Vec<SlaStateRow> = self.store.sla_states_of(&numbers).await?;
        let written_at: HashMap<i64, i64> = stored
            .iter()
            .map(|s| (s.conversation, s.updated_at))
            .collect();
        let mut current: HashMap<i64, &SlaStateRow> = stored
            .iter()
            .filter(|s| s.version == rules.version)
            .map(|s| (s.conversation, s))
            .collect();
        // The others are rebuilt from their whole log (as committed now, which may reach
        // past this batch), read in one query.
        let unread: Vec<i64> = numbers
            .iter()
            .copied()
            .filter(|n| !current.contains_key(n))
            .collect();
        let unread_events = if unread.is_empty() {
            Vec::new()
        } else {
            self.store.events_of_conversations_in(&unread).await?
        };
        let mut logs: HashMap<i64, ConversationLog<'_>> = HashMap::new();
        for events in unread_events.chunk_by(|a, b| a.conversation == b.conversation) {
            if let Some(n) = events.first().and_then(|e| e.conversation) {
                logs.insert(n, ConversationLog::read(events));
            }
        }
        let customers: Vec<i64> = logs.values().filter_map(|log| log.customer).collect();
        let organisations: HashMap<i64, Option<i64>> = if customers.is_empty() {
            HashMap::new()
        } else {
            self.store
                .customer_organisations(&customers)
                .await?
                .into_iter()
                .collect()
        };
        let mut out = ClockBatch {
            version: rules.version,
            numbers,
            transitions: Vec::new(),
            rows: Vec::new(),
            stored: Vec::new(),
        };
        for (conversation, events) in &inputs {
            if let Some(state) = current.remove(conversation) {
                if let Some((transitions, clock, row)) = advance(&rules, state, events, now)? {
                    out.transitions.push((*conversation, transitions, clock));
                    out.rows.push(row);
                }
            } else if let Some(log) = logs.get(conversation) {
                let organisation = log
                    .customer
                    .and_then(|id| organisations.get(&id).copied().flatten());
                let at = not_before_stored(now, written_at.get(conversation).copied());
                if let Some((transitions, clock, row)) =
                    log.rebuild(&rules, *conversation, organisation, at)
                {
                    out.transitions.push((*conversation, transitions, clock));
                    out.rows.push(row);
                }
            }
        }
        out.stored = stored;
        Ok(Some(out))
    }

    /// The scheduler's tick: records the warnings and breaches that have come due by
    /// `now`, found through the `next_deadline_at` index, and queues their escalations.
    /// Returns how many it recorded.
    pub async fn run_sla_tick(&self, batch: u32, now: i64) -> Result<usize> {
        let mut recorded = 0;
        let mut seen = std::collections::HashSet::new();
        loop {
            let mut tx = self.store.begin().await?;
            let due = tx.sla_states_due(now, batch).await?;
            if due.is_empty() || due.iter().all(|s| seen.contains(&s.conversation)) {
                tx.rollback().await?;
                return Ok(recorded);
            }
            let rules = load_rules(&mut tx).await?;
            for state in &due {
                seen.insert(state.conversation);
                if state.version != rules.version {
                    let at = not_before_stored(now, Some(state.updated_at));
                    recorded += rebuild(&mut tx, &rules, state.conversation, at).await?;
                    continue;
                }
                let mut clock = parse_clock(state)?;
                let mut out = Vec::new();
                // Advance only to each instant that fell due, not to `now`: an event that
                // commits a moment later still counts at its own instant.
                clock.advance_through_due(&rules.policies, now, &mut out);
                recorded +=
                    append_transitions(&mut tx, state.conversation, &out, &clock, now).await?;
                let row = state_row(
                    state.conversation,
                    &rules,
                    state.through_event_id,
                    &clock,
                    now,
                    digest_after(state.transitions_digest, &out),
                    String::new(),
                );
                tx.put_sla_state(&row).await?;
            }
            tx.commit().await?;
            if due.len() < batch as usize {
                return Ok(recorded);
            }
        }
    }

    /// Rebuilds every conversation's SLA clock from the log under the current calendars
    /// and policies, appends the transitions the log lacks, and queues the escalations of
    /// the warnings and breaches it records whose cycle is still in progress (never for one
    /// escalated before, nor for history: a cycle met since). A second run appends nothing
    /// and writes nothing.
    ///
    /// The log and the stored clocks are read ahead, outside the writer, a batch of
    /// conversations at a time ([`store::Store::scan_sla_batches`]: only the events of the
    /// kinds a clock reads, each as its `clock_input` text), and folded in memory; only then
    /// does a short transaction per batch take the writer and write the clocks that changed,
    /// each only where the stored one is still the one read
    /// ([`store::Tx::put_sla_states_unmoved`]), and the missing transitions of those (one the
    /// live path or the tick changed meanwhile is rebuilt from the log inside the transaction
    /// instead).
    pub async fn recompute_sla(&self, now: i64) -> Result<SlaRun> {
        self.recompute_sla_trusting(now, true).await
    }

    /// [`App::recompute_sla`], reading every conversation's recorded transitions back from
    /// the log instead of trusting the digests the stored clocks keep of them: slower, and
    /// it appends what the log lacks even when `sla_states` says otherwise (a repair after
    /// the clocks and the log were restored from different backups, say).
    pub async fn recompute_sla_reading_every_log(&self, now: i64) -> Result<SlaRun> {
        self.recompute_sla_trusting(now, false).await
    }

    async fn recompute_sla_trusting(&self, now: i64, digests: bool) -> Result<SlaRun> {
        const BATCH: u32 = 2_000;
        let mut run = SlaRun::default();
        let mut tx = self.store.begin().await?;
        let mut rules = load_rules(&mut tx).await?.indexed_for_recompute(now);
        let organisations: HashMap<i64, i64> = tx
            .customers_with_organisation()
            .await?
            .into_iter()
            .collect();
        tx.rollback().await?;
        let mut batches = self.store.scan_sla_batches(BATCH);
        while let Some(batch) = batches.recv().await {
            let batch = batch?;
            run.conversations += batch.conversations();
            loop {
                let (mut rebuilt, unsure) =
                    fold_batch(&batch, &rules, &organisations, now, digests);
                if !unsure.is_empty() {
                    let numbers: Vec<i64> = unsure.iter().map(|u| u.conversation).collect();
                    let recorded = self
                        .store
                        .events_of_kinds(&numbers, ::sla::TRANSITION_KINDS)
                        .await?;
                    run.transitions_read += recorded.len();
                    rebuilt.extend(resolve_unsure(unsure, &recorded, &rules));
                }
                match self.write_sla_batch(&rules, &mut rebuilt, now).await? {
                    Some((appended, written)) => {
                        run.events_appended += appended;
                        run.states_written += written;
                        break;
                    }
                    None => {
                        // The calendars or policies changed meanwhile: fold again under them.
                        let mut tx = self.store.begin().await?;
                        rules = load_rules(&mut tx).await?.indexed_for_recompute(now);
                        tx.rollback().await?;
                    }
                }
            }
            batches.recycle(batch);
        }
        Ok(run)
    }

    /// Writes one batch of rebuilt clocks in one transaction; `None` (and nothing written)
    /// when the calendars and policies are no longer those of `rules`.
    async fn write_sla_batch(
        &self,
        rules: &Rules,
        rebuilt: &mut [Rebuilt<'_>],
        now: i64,
    ) -> Result<Option<(usize, usize)>> {
        if rebuilt.is_empty() {
            return Ok(Some((0, 0)));
        }
        let mut tx = self.store.begin().await?;
        if tx.sla_version().await? != rules.version {
            tx.rollback().await?;
            return Ok(None);
        }
        // Each changed clock is written only where the stored one is still the one read; the
        // others only lack transitions, and their clocks are compared.
        let mut changed: Vec<(Option<store::BatchStateRef<'_>>, SlaStateRow)> =
            Vec::with_capacity(rebuilt.len());
        let mut unchanged: Vec<(i64, Option<store::BatchStateRef<'_>>)> = Vec::new();
        for r in rebuilt.iter_mut() {
            match r.row.take() {
                Some(row) => changed.push((r.stored, row)),
                None => unchanged.push((r.conversation, r.stored)),
            }
        }
        // The live path or the tick moved these clocks since they were read: each is
        // rebuilt in place below, and nothing the fold found for it is written.
        let moved = tx.put_sla_states_unmoved(&changed).await?;
        let mut written = changed.len() - moved.len();
        let mut aged: HashMap<i64, Option<i64>> = moved.into_iter().collect();
        aged.extend(tx.sla_states_moved(&unchanged).await?);
        let mut appended: Vec<(i64, &SlaTransition)> = Vec::new();
        let mut escalations: Vec<(i64, &SlaTransition)> = Vec::new();
        for r in rebuilt.iter() {
            if aged.contains_key(&r.conversation) {
                continue;
            }
            appended.extend(r.missing.iter().map(|t| (r.conversation, t)));
            escalations.extend(r.escalations.iter().map(|t| (r.conversation, t)));
        }
        let payloads: Vec<(i64, i64, EventPayload, String)> = appended
            .iter()
            .map(|(conversation, t)| {
                let payload = transition_payload(t);
                let json = payload.to_json();
                (*conversation, t.at, payload, json)
            })
            .collect();
        let new_events: Vec<NewEvent> = payloads
            .iter()
            .map(|(conversation, at, payload, json)| NewEvent {
                conversation: Some(*conversation),
                kind: payload.kind(),
                actor_kind: Actor::System.kind(),
                actor_id: Actor::System.id(),
                at: *at,
                payload: json,
            })
            .collect();
        tx.append_events(&new_events).await?;
        queue_escalations(&mut tx, &escalations, now).await?;
        let mut events = new_events.len();
        let mut aged: Vec<(i64, Option<i64>)> = aged.into_iter().collect();
        aged.sort_unstable();
        for (conversation, written_at) in aged {
            let at = not_before_stored(now, written_at);
            events += rebuild(&mut tx, rules, conversation, at).await?;
            written += 1;
        }
        tx.commit().await?;
        Ok(Some((events, written)))
    }

    /// Runs an escalation job: tells the group's lead (an `sla_escalated` event naming
    /// them) and, on a breach, raises the priority one step and hands the conversation
    /// to that lead. Marked done in the same transaction, so it happens once.
    pub(crate) async fn run_sla_escalation(&self, payload: &str, now: i64) -> Result<()> {
        let job: Escalation = serde_json::from_str(payload)
            .map_err(|e| AppError::Invalid(format!("escalation job payload: {e}")))?;
        let number = job.conversation;
        let mut tx = self.store.begin().await?;
        let Some(mut row) = tx.conversation_for_update(number).await? else {
            return Ok(());
        };
        if !tx
            .mark_sla_escalated(
                number,
                job.metric.as_str(),
                i64::from(job.cycle),
                &job.reason,
                now,
            )
            .await?
        {
            tx.rollback().await?;
            return Ok(());
        }
        let lead = match row.group_id {
            Some(group) => tx.group_lead(group).await?,
            None => None,
        };
        let status = status_of(&row)?;
        let open = row.merged_into.is_none() && status != Status::Closed;
        if job.reason == "breached" && open {
            let before = row.clone();
            let from = priority_from_rank(row.priority).unwrap_or(Priority::Normal);
            let to = next_priority(from);
            if to != from {
                let change = EventPayload::PriorityChanged { from, to };
                record(&mut tx, Some(number), Actor::System, now, &change).await?;
                row.priority = priority_rank(to);
            }
            if lead.is_some() && row.assignee_id != lead {
                let change = EventPayload::AssigneeChanged {
                    from: row.assignee_id,
                    to: lead,
                };
                record(&mut tx, Some(number), Actor::System, now, &change).await?;
                row.assignee_id = lead;
            }
            if row != before {
                row.updated_at = now;
                tx.update_conversation(&row).await?;
            }
        }
        let escalated = EventPayload::SlaEscalated {
            metric: job.metric,
            cycle: job.cycle,
            reason: job.reason.clone(),
            notified: lead,
        };
        record(&mut tx, Some(number), Actor::System, now, &escalated).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    /// The store's table (SQLite) and index (PostgreSQL) of the clocks' inputs, and so a
    /// recompute's scan, hold exactly the kinds a clock reads.
    #[test]
    fn the_store_reads_the_kinds_a_clock_reads() {
        assert_eq!(store::SLA_INPUT_KINDS, ::sla::CLOCK_INPUT_KINDS);
    }
}
