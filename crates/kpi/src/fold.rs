//! The roll-up fold: each event of the log, with what is known of its conversation so far,
//! becomes observations in day buckets. The consumer in `app` keeps the per-conversation
//! [`ConversationFacts`] durably beside the buckets and the cursor, so a batch that is replayed
//! after a crash starts from the facts as they were before it.
//!
//! Definitions (the catalogue repeats them for people):
//! - first reply: creation to the first public agent reply. When an agent opened the conversation
//!   with a public message, that opening message is not a reply; the next one counts.
//! - resolution: creation to the first time the conversation became solved (or closed).
//! - first-contact resolution: solved for the first time with exactly one public agent reply.
//! - reopened: a solved or closed conversation became new, open, pending or on hold again; counted
//!   once per conversation.
//! - SLA attainment: every cycle of an SLA metric that ended, met (fulfilled before any breach)
//!   or missed (breached); a cycle counts once, at the first of the two.
//!
//! Buckets are UTC days of the instant the fact happened (the reply, the solve, the answer);
//! volume is bucketed on the creation day.

use std::collections::HashMap;

use calendar::Calendar;
use domain::{EventPayload, MessageKind, SlaMetric, Status};
use serde::{Deserialize, Serialize};

use crate::hist::Histogram;
use crate::measure::{DimKind, Measure, Slice};

const DAY_MS: i64 = 86_400_000;

/// The event kinds the fold reads; a consumer may skip every other event without parsing it.
pub const FOLDED_KINDS: &[&str] = &[
    "created",
    "message_added",
    "status_changed",
    "priority_changed",
    "group_changed",
    "assignee_changed",
    "tag_added",
    "tag_removed",
    "sla_breached",
    "sla_fulfilled",
    "survey_answered",
];

/// The UTC day number (days since 1970-01-01) of an instant in milliseconds.
pub fn day_of(at_ms: i64) -> i32 {
    at_ms.div_euclid(DAY_MS) as i32
}

/// The first instant (milliseconds) of a UTC day number.
pub fn day_start(day: i32) -> i64 {
    i64::from(day) * DAY_MS
}

/// What the fold remembers of one conversation between events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConversationFacts {
    pub created_at: i64,
    pub channel: String,
    pub priority: String,
    pub group: Option<i64>,
    pub assignee: Option<i64>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Tags already counted in the volume by tag (a tag removed and added again counts once).
    #[serde(default)]
    pub counted_tags: Vec<String>,
    /// An agent opened the conversation; their opening public message is not a reply.
    #[serde(default)]
    pub opened_by_agent: bool,
    #[serde(default)]
    pub opening_seen: bool,
    pub first_reply_at: Option<i64>,
    pub first_solved_at: Option<i64>,
    pub reopened_at: Option<i64>,
    #[serde(default)]
    pub public_replies: u32,
    #[serde(default)]
    pub solved: bool,
    /// SLA cycles already counted, as (metric index, cycle).
    #[serde(default)]
    pub sla_counted: Vec<(u8, u32)>,
}

impl ConversationFacts {
    fn slices(&self, agent: Option<i64>) -> Vec<Slice> {
        let mut slices = Vec::with_capacity(5 + self.tags.len());
        slices.push(Slice::all());
        if let Some(group) = self.group {
            slices.push(Slice::of(DimKind::Group, group.to_string()));
        }
        if let Some(agent) = agent {
            slices.push(Slice::of(DimKind::Agent, agent.to_string()));
        }
        slices.push(Slice::of(DimKind::Channel, self.channel.clone()));
        slices.push(Slice::of(DimKind::Priority, self.priority.clone()));
        for tag in &self.tags {
            slices.push(Slice::of(DimKind::Tag, tag.clone()));
        }
        slices
    }
}

/// One event as the fold reads it.
#[derive(Debug, Clone, Copy)]
pub struct FoldEvent<'a> {
    /// When it happened, milliseconds since the epoch.
    pub at: i64,
    /// `agent`, `customer`, `api_token` or `system`.
    pub actor_kind: &'a str,
    pub actor_id: Option<i64>,
    pub payload: &'a EventPayload,
}

/// The key of a roll-up row.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BucketKey {
    pub day: i32,
    pub measure: Measure,
    pub slice: Slice,
}

/// What a roll-up row holds: enough to merge buckets and compute every KPI of the catalogue.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Aggregate {
    pub count: u64,
    pub sum: f64,
    pub sum_sq: f64,
    pub hist: Histogram,
}

impl Aggregate {
    /// Counts one observation.
    pub fn observe(&mut self, measure: Measure, value: f64) {
        self.count += 1;
        self.sum += value;
        self.sum_sq += value * value;
        self.hist.add_bin(measure.binning().bin(value), 1);
    }

    /// Adds another aggregate of the same measure.
    pub fn merge(&mut self, other: &Aggregate) {
        self.count += other.count;
        self.sum += other.sum;
        self.sum_sq += other.sum_sq;
        self.hist.merge(&other.hist);
    }
}

/// Observations gathered from a batch of events, ready to be added to the stored buckets.
#[derive(Debug, Default)]
pub struct Rollup {
    pub buckets: HashMap<BucketKey, Aggregate>,
}

impl Rollup {
    fn observe(&mut self, day: i32, measure: Measure, slices: &[Slice], value: f64) {
        for slice in slices {
            self.buckets
                .entry(BucketKey {
                    day,
                    measure,
                    slice: slice.clone(),
                })
                .or_default()
                .observe(measure, value);
        }
    }

    /// The number of observations (each counted once per slice).
    pub fn len(&self) -> usize {
        self.buckets.len()
    }

    /// True when nothing was observed.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }
}

fn seconds(from: i64, to: i64) -> f64 {
    (to - from).max(0) as f64 / 1000.0
}

fn business_seconds(calendar: Option<&Calendar>, from: i64, to: i64) -> Option<f64> {
    calendar.map(|c| c.between(from, to.max(from)) as f64 / 1000.0)
}

fn is_solved(status: Status) -> bool {
    matches!(status, Status::Solved | Status::Closed)
}

/// Applies one event to its conversation's facts, adding what it makes observable to `out`.
/// `facts` is `None` until the conversation's `created` event; events of a conversation whose
/// creation the fold never saw are ignored.
pub fn apply(
    facts: &mut Option<ConversationFacts>,
    event: FoldEvent<'_>,
    calendar: Option<&Calendar>,
    out: &mut Rollup,
) {
    if let EventPayload::Created {
        channel,
        status,
        priority,
        group_id,
        assignee_id,
        ..
    } = event.payload
    {
        let state = ConversationFacts {
            created_at: event.at,
            channel: channel.as_str().to_string(),
            priority: priority.as_str().to_string(),
            group: *group_id,
            assignee: *assignee_id,
            opened_by_agent: event.actor_kind == "agent",
            solved: is_solved(*status),
            ..ConversationFacts::default()
        };
        out.observe(day_of(event.at), Measure::Created, &state.slices(None), 1.0);
        *facts = Some(state);
        return;
    }
    let Some(state) = facts.as_mut() else { return };
    match event.payload {
        EventPayload::MessageAdded {
            message_kind: MessageKind::Reply,
            ..
        } if matches!(event.actor_kind, "agent" | "api_token") => {
            if state.opened_by_agent && !state.opening_seen {
                state.opening_seen = true;
                return;
            }
            state.public_replies += 1;
            if state.first_reply_at.is_none() {
                state.first_reply_at = Some(event.at);
                let agent = if event.actor_kind == "agent" {
                    event.actor_id
                } else {
                    state.assignee
                };
                let slices = state.slices(agent);
                let day = day_of(event.at);
                out.observe(
                    day,
                    Measure::FirstReply,
                    &slices,
                    seconds(state.created_at, event.at),
                );
                if let Some(business) = business_seconds(calendar, state.created_at, event.at) {
                    out.observe(day, Measure::FirstReplyBusiness, &slices, business);
                }
            }
        }
        EventPayload::MessageAdded {
            message_kind: MessageKind::Customer,
            ..
        } => {
            // A customer writing first on a conversation an agent opened: the agent's next
            // public message answers it.
            state.opening_seen = true;
        }
        EventPayload::StatusChanged { to, .. } => {
            let now_solved = is_solved(*to);
            if now_solved && !state.solved && state.first_solved_at.is_none() {
                state.first_solved_at = Some(event.at);
                let slices = state.slices(state.assignee);
                let day = day_of(event.at);
                out.observe(
                    day,
                    Measure::Resolution,
                    &slices,
                    seconds(state.created_at, event.at),
                );
                if let Some(business) = business_seconds(calendar, state.created_at, event.at) {
                    out.observe(day, Measure::ResolutionBusiness, &slices, business);
                }
                let first_contact = state.public_replies == 1;
                out.observe(
                    day,
                    Measure::Solved,
                    &slices,
                    if first_contact { 1.0 } else { 0.0 },
                );
                out.observe(
                    day,
                    Measure::Replies,
                    &slices,
                    f64::from(state.public_replies),
                );
            } else if !now_solved && state.solved && state.reopened_at.is_none() {
                state.reopened_at = Some(event.at);
                out.observe(
                    day_of(event.at),
                    Measure::Reopened,
                    &state.slices(state.assignee),
                    1.0,
                );
            }
            state.solved = now_solved;
        }
        EventPayload::PriorityChanged { to, .. } => state.priority = to.as_str().to_string(),
        EventPayload::GroupChanged { to, .. } => state.group = *to,
        EventPayload::AssigneeChanged { to, .. } => state.assignee = *to,
        EventPayload::TagAdded { tag } => {
            if !state.tags.contains(tag) {
                state.tags.push(tag.clone());
            }
            if !state.counted_tags.contains(tag) {
                state.counted_tags.push(tag.clone());
                out.observe(
                    day_of(state.created_at),
                    Measure::Created,
                    &[Slice::of(DimKind::Tag, tag.clone())],
                    1.0,
                );
            }
        }
        EventPayload::TagRemoved { tag } => state.tags.retain(|t| t != tag),
        EventPayload::SlaBreached { metric, cycle, at } => {
            sla_cycle_ended(state, *metric, *cycle, *at, false, out);
        }
        EventPayload::SlaFulfilled { metric, cycle, at } => {
            sla_cycle_ended(state, *metric, *cycle, *at, true, out);
        }
        EventPayload::SurveyAnswered {
            kind,
            score,
            scale_min,
            scale_max,
            kudos_agent_id,
            ..
        } => {
            let agent = kudos_agent_id.or(state.assignee);
            let slices = state.slices(agent);
            let day = day_of(event.at);
            let score = *score as f64;
            match kind.as_str() {
                "csat" => {
                    // Satisfied: the top two points of a scale of five or more points, the top
                    // point of a shorter one.
                    let top = if scale_max - scale_min >= 4 {
                        (*scale_max - 1) as f64
                    } else {
                        *scale_max as f64
                    };
                    let satisfied = if score >= top { 1.0 } else { 0.0 };
                    for slice in &slices {
                        let agg = out
                            .buckets
                            .entry(BucketKey {
                                day,
                                measure: Measure::Csat,
                                slice: slice.clone(),
                            })
                            .or_default();
                        agg.count += 1;
                        agg.sum += satisfied;
                        agg.sum_sq += satisfied;
                        agg.hist.add_bin(score.round() as i32, 1);
                    }
                }
                "ces" => out.observe(day, Measure::Ces, &slices, score),
                "nps" => out.observe(day, Measure::Nps, &slices, score),
                _ => {}
            }
        }
        _ => {}
    }
}

fn sla_cycle_ended(
    state: &mut ConversationFacts,
    metric: SlaMetric,
    cycle: u32,
    at: i64,
    met: bool,
    out: &mut Rollup,
) {
    let key = (metric.index() as u8, cycle);
    if state.sla_counted.contains(&key) {
        return;
    }
    state.sla_counted.push(key);
    out.observe(
        day_of(at),
        Measure::of_sla(metric),
        &state.slices(state.assignee),
        if met { 1.0 } else { 0.0 },
    );
}
