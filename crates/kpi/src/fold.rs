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
//! Buckets are days of the instant the fact happened (the reply, the solve, the answer) on the
//! team's wall clock: local days in the business calendar's time zone, UTC days without a
//! calendar. Volume is bucketed on the creation day.

use std::borrow::Cow;
use std::collections::HashMap;

use calendar::Calendar;
use domain::{Channel, EventPayload, MessageKind, Priority, SlaMetric, Status};
use serde::{Deserialize, Serialize};

use crate::hist::Histogram;
use crate::measure::{DimKind, Measure, Slice};

mod compact;

const DAY_MS: i64 = 86_400_000;

/// The hasher of the fold's maps. The fold hashes small keys (a conversation id, a bucket key)
/// millions of times per rebuild; SipHash, the standard one, cost more than the fold's own work.
/// foldhash is fast on such keys and still seeded per map.
pub type FoldHasher = foldhash::fast::RandomState;

/// Each conversation's facts, as the consumer keeps them while it folds (`None` until its
/// `created` event); see [`apply_boxed`]. Boxed, so that the map's table holds small entries:
/// a first fold keeps every conversation of the log, and a table of whole facts cost more
/// than the facts (at twice the entries, and twice again while it grows).
pub type FactsMap = HashMap<i64, Option<Box<ConversationFacts>>, FoldHasher>;

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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConversationFacts {
    pub created_at: i64,
    pub channel: Channel,
    pub priority: Priority,
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

/// The instants and owners of a conversation's facts that are stored as columns of their own
/// (for the drill-down); [`ConversationFacts::encode`] leaves them out of the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FactColumns {
    pub created_at: i64,
    pub first_reply_at: Option<i64>,
    pub first_solved_at: Option<i64>,
    pub reopened_at: Option<i64>,
    pub group: Option<i64>,
    pub assignee: Option<i64>,
}

impl ConversationFacts {
    /// The facts kept as columns.
    pub fn columns(&self) -> FactColumns {
        FactColumns {
            created_at: self.created_at,
            first_reply_at: self.first_reply_at,
            first_solved_at: self.first_solved_at,
            reopened_at: self.reopened_at,
            group: self.group,
            assignee: self.assignee,
        }
    }

    /// The rest as a short text (a rebuild writes one per conversation, so its size counts):
    /// `channel priority flags replies sla-cycles [tags,counted-tags]`, e.g.
    /// `email high os 2 0.1,3.1 [["refund"],["refund"]]`. Flags: `a` an agent opened it, `o` the
    /// opening was seen, `s` solved now (`-` for none); SLA cycles as metric.cycle (`-` for none).
    pub fn encode(&self) -> String {
        let mut flags = String::new();
        for (set, flag) in [
            (self.opened_by_agent, 'a'),
            (self.opening_seen, 'o'),
            (self.solved, 's'),
        ] {
            if set {
                flags.push(flag);
            }
        }
        if flags.is_empty() {
            flags.push('-');
        }
        let sla = if self.sla_counted.is_empty() {
            "-".to_string()
        } else {
            self.sla_counted
                .iter()
                .map(|(metric, cycle)| format!("{metric}.{cycle}"))
                .collect::<Vec<_>>()
                .join(",")
        };
        let tags = serde_json::to_string(&(&self.tags, &self.counted_tags))
            .unwrap_or_else(|_| "[[],[]]".to_string());
        format!(
            "{} {} {flags} {} {sla} {tags}",
            self.channel.as_str(),
            self.priority.as_str(),
            self.public_replies
        )
    }

    /// Reads the text of [`ConversationFacts::encode`] (or the JSON of every fact that earlier
    /// versions stored) with the columns; an error says what does not read.
    pub fn decode(text: &str, columns: FactColumns) -> Result<ConversationFacts, String> {
        if text.starts_with('{') {
            return serde_json::from_str(text).map_err(|e| format!("facts JSON: {e}"));
        }
        let mut parts = text.splitn(6, ' ');
        let mut next = |what: &str| {
            parts
                .next()
                .ok_or_else(|| format!("the facts {text:?} lack their {what}"))
        };
        let channel = next("channel")?;
        let channel =
            Channel::parse(channel).ok_or_else(|| format!("unknown channel {channel:?}"))?;
        let priority = next("priority")?;
        let priority =
            Priority::parse(priority).ok_or_else(|| format!("unknown priority {priority:?}"))?;
        let flags = next("flags")?;
        let replies = next("replies")?;
        let public_replies = replies
            .parse()
            .map_err(|_| format!("replies must be a whole number, got {replies:?}"))?;
        let sla = next("SLA cycles")?;
        let sla_counted = if sla == "-" {
            Vec::new()
        } else {
            sla.split(',')
                .map(|pair| {
                    pair.split_once('.')
                        .and_then(|(m, c)| Some((m.parse().ok()?, c.parse().ok()?)))
                        .ok_or_else(|| format!("an SLA cycle must be metric.cycle, got {pair:?}"))
                })
                .collect::<Result<Vec<(u8, u32)>, String>>()?
        };
        let (tags, counted_tags): (Vec<String>, Vec<String>) =
            serde_json::from_str(next("tags")?).map_err(|e| format!("facts tags: {e}"))?;
        Ok(ConversationFacts {
            created_at: columns.created_at,
            channel,
            priority,
            group: columns.group,
            assignee: columns.assignee,
            tags,
            counted_tags,
            opened_by_agent: flags.contains('a'),
            opening_seen: flags.contains('o'),
            first_reply_at: columns.first_reply_at,
            first_solved_at: columns.first_solved_at,
            reopened_at: columns.reopened_at,
            public_replies,
            solved: flags.contains('s'),
            sla_counted,
        })
    }
}

/// What the fold reads of an event's payload: only the fields it needs, borrowed from the
/// stored JSON where they are text, so folding an event allocates nothing.
#[derive(Debug, Clone, PartialEq)]
pub enum FoldPayload<'a> {
    Created {
        channel: Channel,
        status: Status,
        priority: Priority,
        group: Option<i64>,
        assignee: Option<i64>,
    },
    MessageAdded {
        kind: MessageKind,
    },
    StatusChanged {
        to: Status,
    },
    PriorityChanged {
        to: Priority,
    },
    GroupChanged {
        to: Option<i64>,
    },
    AssigneeChanged {
        to: Option<i64>,
    },
    TagAdded {
        tag: Cow<'a, str>,
    },
    TagRemoved {
        tag: Cow<'a, str>,
    },
    /// An SLA cycle ended: `met` when fulfilled, not when breached.
    SlaCycleEnded {
        metric: SlaMetric,
        cycle: u32,
        at: i64,
        met: bool,
    },
    SurveyAnswered {
        /// [`Measure::Csat`], [`Measure::Ces`] or [`Measure::Nps`].
        measure: Measure,
        score: i64,
        scale_min: i64,
        scale_max: i64,
        kudos_agent: Option<i64>,
    },
}

/// The stored JSON of the payloads the fold reads, one shape per kind. serde skips every other
/// field (the `kind` tag, the subject, a survey's comment) without copying it.
mod stored {
    use std::borrow::Cow;

    use domain::{Channel, MessageKind, Priority, SlaMetric, Status};
    use serde::Deserialize;

    #[derive(Deserialize)]
    pub struct Created {
        pub channel: Channel,
        pub status: Status,
        pub priority: Priority,
        pub group_id: Option<i64>,
        pub assignee_id: Option<i64>,
    }

    #[derive(Deserialize)]
    pub struct MessageAdded {
        pub message_kind: MessageKind,
    }

    #[derive(Deserialize)]
    pub struct To<T> {
        pub to: T,
    }

    #[derive(Deserialize)]
    pub struct Tag<'a> {
        #[serde(borrow)]
        pub tag: Cow<'a, str>,
    }

    #[derive(Deserialize)]
    pub struct SlaCycle {
        pub metric: SlaMetric,
        pub cycle: u32,
        pub at: i64,
    }

    #[derive(Deserialize)]
    pub struct SurveyAnswered<'a> {
        #[serde(borrow)]
        pub survey_kind: Cow<'a, str>,
        pub score: i64,
        pub scale_min: i64,
        pub scale_max: i64,
        pub kudos_agent_id: Option<i64>,
    }
}

fn survey_measure(kind: &str) -> Option<Measure> {
    match kind {
        "csat" => Some(Measure::Csat),
        "ces" => Some(Measure::Ces),
        "nps" => Some(Measure::Nps),
        _ => None,
    }
}

impl<'a> FoldPayload<'a> {
    /// The same payload owning its texts (a tag is copied; nothing else borrows), so that it
    /// can outlive the page it was read from.
    pub fn into_owned(self) -> FoldPayload<'static> {
        match self {
            FoldPayload::Created {
                channel,
                status,
                priority,
                group,
                assignee,
            } => FoldPayload::Created {
                channel,
                status,
                priority,
                group,
                assignee,
            },
            FoldPayload::MessageAdded { kind } => FoldPayload::MessageAdded { kind },
            FoldPayload::StatusChanged { to } => FoldPayload::StatusChanged { to },
            FoldPayload::PriorityChanged { to } => FoldPayload::PriorityChanged { to },
            FoldPayload::GroupChanged { to } => FoldPayload::GroupChanged { to },
            FoldPayload::AssigneeChanged { to } => FoldPayload::AssigneeChanged { to },
            FoldPayload::TagAdded { tag } => FoldPayload::TagAdded {
                tag: Cow::Owned(tag.into_owned()),
            },
            FoldPayload::TagRemoved { tag } => FoldPayload::TagRemoved {
                tag: Cow::Owned(tag.into_owned()),
            },
            FoldPayload::SlaCycleEnded {
                metric,
                cycle,
                at,
                met,
            } => FoldPayload::SlaCycleEnded {
                metric,
                cycle,
                at,
                met,
            },
            FoldPayload::SurveyAnswered {
                measure,
                score,
                scale_min,
                scale_max,
                kudos_agent,
            } => FoldPayload::SurveyAnswered {
                measure,
                score,
                scale_min,
                scale_max,
                kudos_agent,
            },
        }
    }

    /// What the fold reads of a payload; `None` for payloads it does not read.
    pub fn of(payload: &'a EventPayload) -> Option<FoldPayload<'a>> {
        Some(match payload {
            EventPayload::Created {
                channel,
                status,
                priority,
                group_id,
                assignee_id,
                ..
            } => FoldPayload::Created {
                channel: *channel,
                status: *status,
                priority: *priority,
                group: *group_id,
                assignee: *assignee_id,
            },
            EventPayload::MessageAdded { message_kind, .. } => FoldPayload::MessageAdded {
                kind: *message_kind,
            },
            EventPayload::StatusChanged { to, .. } => FoldPayload::StatusChanged { to: *to },
            EventPayload::PriorityChanged { to, .. } => FoldPayload::PriorityChanged { to: *to },
            EventPayload::GroupChanged { to, .. } => FoldPayload::GroupChanged { to: *to },
            EventPayload::AssigneeChanged { to, .. } => FoldPayload::AssigneeChanged { to: *to },
            EventPayload::TagAdded { tag } => FoldPayload::TagAdded {
                tag: Cow::Borrowed(tag),
            },
            EventPayload::TagRemoved { tag } => FoldPayload::TagRemoved {
                tag: Cow::Borrowed(tag),
            },
            EventPayload::SlaBreached { metric, cycle, at } => FoldPayload::SlaCycleEnded {
                metric: *metric,
                cycle: *cycle,
                at: *at,
                met: false,
            },
            EventPayload::SlaFulfilled { metric, cycle, at } => FoldPayload::SlaCycleEnded {
                metric: *metric,
                cycle: *cycle,
                at: *at,
                met: true,
            },
            EventPayload::SurveyAnswered {
                kind,
                score,
                scale_min,
                scale_max,
                kudos_agent_id,
                ..
            } => FoldPayload::SurveyAnswered {
                measure: survey_measure(kind)?,
                score: *score,
                scale_min: *scale_min,
                scale_max: *scale_max,
                kudos_agent: *kudos_agent_id,
            },
            _ => return None,
        })
    }

    /// Reads the stored JSON payload of an event of `kind` (the log's `kind` column): `Ok(None)`
    /// for kinds the fold does not read (without parsing), an error when the JSON does not hold
    /// what the kind promises.
    ///
    /// The compact JSON the log's writer makes is read by a reader of its own (`compact.rs`),
    /// which reads only the fields the fold needs; a payload that reader does not take whole
    /// is read by serde, as before.
    pub fn parse(kind: &str, json: &'a str) -> Result<Option<FoldPayload<'a>>, serde_json::Error> {
        if let Some(read) = compact::parse(kind, json) {
            return Ok(read);
        }
        Self::parse_with_serde(kind, json)
    }

    /// [`FoldPayload::parse`] by serde alone (what the compact reader must agree with).
    pub fn parse_with_serde(
        kind: &str,
        json: &'a str,
    ) -> Result<Option<FoldPayload<'a>>, serde_json::Error> {
        Ok(Some(match kind {
            "created" => {
                let p: stored::Created = serde_json::from_str(json)?;
                FoldPayload::Created {
                    channel: p.channel,
                    status: p.status,
                    priority: p.priority,
                    group: p.group_id,
                    assignee: p.assignee_id,
                }
            }
            "message_added" => {
                let p: stored::MessageAdded = serde_json::from_str(json)?;
                FoldPayload::MessageAdded {
                    kind: p.message_kind,
                }
            }
            "status_changed" => FoldPayload::StatusChanged {
                to: serde_json::from_str::<stored::To<Status>>(json)?.to,
            },
            "priority_changed" => FoldPayload::PriorityChanged {
                to: serde_json::from_str::<stored::To<Priority>>(json)?.to,
            },
            "group_changed" => FoldPayload::GroupChanged {
                to: serde_json::from_str::<stored::To<Option<i64>>>(json)?.to,
            },
            "assignee_changed" => FoldPayload::AssigneeChanged {
                to: serde_json::from_str::<stored::To<Option<i64>>>(json)?.to,
            },
            "tag_added" => FoldPayload::TagAdded {
                tag: serde_json::from_str::<stored::Tag<'a>>(json)?.tag,
            },
            "tag_removed" => FoldPayload::TagRemoved {
                tag: serde_json::from_str::<stored::Tag<'a>>(json)?.tag,
            },
            "sla_breached" | "sla_fulfilled" => {
                let p: stored::SlaCycle = serde_json::from_str(json)?;
                FoldPayload::SlaCycleEnded {
                    metric: p.metric,
                    cycle: p.cycle,
                    at: p.at,
                    met: kind == "sla_fulfilled",
                }
            }
            "survey_answered" => {
                let p: stored::SurveyAnswered<'a> = serde_json::from_str(json)?;
                let Some(measure) = survey_measure(&p.survey_kind) else {
                    return Ok(None);
                };
                FoldPayload::SurveyAnswered {
                    measure,
                    score: p.score,
                    scale_min: p.scale_min,
                    scale_max: p.scale_max,
                    kudos_agent: p.kudos_agent_id,
                }
            }
            _ => return Ok(None),
        }))
    }
}

/// One event as the fold reads it.
#[derive(Debug, Clone)]
pub struct FoldEvent<'a> {
    /// When it happened, milliseconds since the epoch.
    pub at: i64,
    /// `agent`, `customer`, `api_token` or `system`.
    pub actor_kind: &'a str,
    pub actor_id: Option<i64>,
    pub payload: FoldPayload<'a>,
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
        self.add(value, measure.binning().bin(value));
    }

    /// Counts one observation whose bin is already known.
    fn add(&mut self, value: f64, bin: i32) {
        self.count += 1;
        self.sum += value;
        self.sum_sq += value * value;
        self.hist.add_bin(bin, 1);
    }

    /// Adds another aggregate of the same measure.
    pub fn merge(&mut self, other: &Aggregate) {
        self.count += other.count;
        self.sum += other.sum;
        self.sum_sq += other.sum_sq;
        self.hist.merge(&other.hist);
    }
}

/// A slice as the fold keys its buckets: plain values, no text, so an observation allocates
/// nothing. Tags are numbered in the order the roll-up first meets them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum SliceKey {
    All,
    Group(i64),
    Agent(i64),
    Channel(Channel),
    Priority(Priority),
    Tag(u32),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    day: i32,
    measure: Measure,
    slice: SliceKey,
}

/// The number of measures: each (day, slice) row of a [`Rollup`] has a cell per measure.
const MEASURES: usize = Measure::ALL.len();

/// Observations gathered from a batch of events, ready to be added to the stored buckets.
///
/// An observation counts in several slices (the team, the group, the agent, …) on one day, and
/// the observations of one event share their slices and day (a first solve makes four). So the
/// buckets are found in two steps: the (day, slice) rows of the observation's slices are looked
/// up once per event (`targets`), and each row holds the bucket of every measure by number.
#[derive(Debug, Default)]
pub struct Rollup {
    /// The buckets, in the order they were first observed, and their keys.
    aggregates: Vec<Aggregate>,
    keys: Vec<Key>,
    /// The (day, slice) rows, by their key.
    rows: HashMap<(i32, SliceKey), u32, FoldHasher>,
    /// Per row, its slice and, per measure, 1 + the index of its bucket in `aggregates` (0 for
    /// none yet).
    cells: Vec<(SliceKey, [u32; MEASURES])>,
    /// The tags met so far, by number, and their numbers.
    tags: Vec<String>,
    tag_numbers: HashMap<String, u32, FoldHasher>,
    /// The slices of the observation being made (kept to reuse its memory).
    slices: Vec<SliceKey>,
    /// The rows of `slices` on the day `targets_day`; `None` when the slices changed since.
    targets: Vec<u32>,
    targets_day: Option<i32>,
    /// Recently met local days as (first instant, first instant of the next day, day), by the
    /// UTC day modulo their number: most events fall on a day met just before.
    days: [(i64, i64, i32); 8],
}

/// The day number of an instant on the team's wall clock: the calendar's local day, or the UTC
/// day without a calendar.
pub fn local_day_of(calendar: Option<&Calendar>, at_ms: i64) -> i32 {
    match calendar {
        Some(calendar) => calendar.local_day(at_ms) as i32,
        None => day_of(at_ms),
    }
}

/// The first instant of a day numbered by [`local_day_of`].
pub fn local_day_start(calendar: Option<&Calendar>, day: i32) -> i64 {
    match calendar {
        Some(calendar) => calendar.local_day_start(i64::from(day)),
        None => day_start(day),
    }
}

impl Rollup {
    /// The bucket day of an instant (see [`local_day_of`]), remembering the day's bounds.
    fn day(&mut self, calendar: Option<&Calendar>, at: i64) -> i32 {
        let Some(calendar) = calendar else {
            return day_of(at);
        };
        let slot = at.div_euclid(DAY_MS).rem_euclid(self.days.len() as i64) as usize;
        if let Some(&(start, end, day)) = self.days.get(slot) {
            if start <= at && at < end {
                return day;
            }
        }
        let day = calendar.local_day(at);
        let (start, end) = (
            calendar.local_day_start(day),
            calendar.local_day_start(day + 1),
        );
        if let Some(cached) = self.days.get_mut(slot) {
            if start <= at && at < end {
                *cached = (start, end, day as i32);
            }
        }
        day as i32
    }

    fn tag_number(&mut self, tag: &str) -> u32 {
        if let Some(&number) = self.tag_numbers.get(tag) {
            return number;
        }
        let number = self.tags.len() as u32;
        self.tags.push(tag.to_string());
        self.tag_numbers.insert(tag.to_string(), number);
        number
    }

    /// Chooses the slices a conversation's observation counts in: the whole team, its group,
    /// `agent`, its channel, its priority and each of its tags.
    fn select(&mut self, state: &ConversationFacts, agent: Option<i64>) {
        let mut slices = std::mem::take(&mut self.slices);
        slices.clear();
        slices.push(SliceKey::All);
        if let Some(group) = state.group {
            slices.push(SliceKey::Group(group));
        }
        if let Some(agent) = agent {
            slices.push(SliceKey::Agent(agent));
        }
        slices.push(SliceKey::Channel(state.channel));
        slices.push(SliceKey::Priority(state.priority));
        for tag in &state.tags {
            slices.push(SliceKey::Tag(self.tag_number(tag)));
        }
        self.slices = slices;
        self.targets_day = None;
    }

    /// Selects one slice only.
    fn select_only(&mut self, slice: SliceKey) {
        self.slices.clear();
        self.slices.push(slice);
        self.targets_day = None;
    }

    /// The row of (day, slice), made when new.
    fn row(&mut self, day: i32, slice: SliceKey) -> u32 {
        let next = self.cells.len() as u32;
        let row = *self.rows.entry((day, slice)).or_insert(next);
        if row == next {
            self.cells.push((slice, [0; MEASURES]));
        }
        row
    }

    /// The bucket of `measure` in `row`, made when new.
    fn bucket(&mut self, row: u32, day: i32, measure: Measure) -> Option<&mut Aggregate> {
        let (slice, cells) = self.cells.get_mut(row as usize)?;
        let slice = *slice;
        let cell = cells.get_mut(measure as usize)?;
        if *cell == 0 {
            self.aggregates.push(Aggregate::default());
            self.keys.push(Key {
                day,
                measure,
                slice,
            });
            *cell = self.aggregates.len() as u32;
        }
        let index = *cell as usize - 1;
        self.aggregates.get_mut(index)
    }

    /// Counts `value` in every selected slice.
    fn observe(&mut self, day: i32, measure: Measure, value: f64) {
        let bin = measure.binning().bin(value);
        self.add_selected(day, measure, value, bin);
    }

    /// Counts `value` in `bin` in every selected slice on `day`.
    fn add_selected(&mut self, day: i32, measure: Measure, value: f64, bin: i32) {
        if self.targets_day != Some(day) {
            let mut targets = std::mem::take(&mut self.targets);
            targets.clear();
            for i in 0..self.slices.len() {
                if let Some(&slice) = self.slices.get(i) {
                    targets.push(self.row(day, slice));
                }
            }
            self.targets = targets;
            self.targets_day = Some(day);
        }
        for i in 0..self.targets.len() {
            let Some(&row) = self.targets.get(i) else {
                continue;
            };
            if let Some(aggregate) = self.bucket(row, day, measure) {
                aggregate.add(value, bin);
            }
        }
    }

    fn slice(&self, key: SliceKey) -> Slice {
        match key {
            SliceKey::All => Slice::all(),
            SliceKey::Group(group) => Slice::of(DimKind::Group, group.to_string()),
            SliceKey::Agent(agent) => Slice::of(DimKind::Agent, agent.to_string()),
            SliceKey::Channel(channel) => Slice::of(DimKind::Channel, channel.as_str()),
            SliceKey::Priority(priority) => Slice::of(DimKind::Priority, priority.as_str()),
            SliceKey::Tag(number) => Slice::of(
                DimKind::Tag,
                self.tags.get(number as usize).cloned().unwrap_or_default(),
            ),
        }
    }

    fn bucket_key(&self, key: &Key) -> BucketKey {
        BucketKey {
            day: key.day,
            measure: key.measure,
            slice: self.slice(key.slice),
        }
    }

    /// The number of buckets.
    pub fn len(&self) -> usize {
        self.aggregates.len()
    }

    /// True when nothing was observed.
    pub fn is_empty(&self) -> bool {
        self.aggregates.is_empty()
    }

    /// Every bucket, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (BucketKey, &Aggregate)> + '_ {
        self.keys
            .iter()
            .zip(&self.aggregates)
            .map(|(key, aggregate)| (self.bucket_key(key), aggregate))
    }

    /// The days that have a bucket, each once, in order.
    pub fn days(&self) -> Vec<i32> {
        let mut days: Vec<i32> = self.keys.iter().map(|k| k.day).collect();
        days.sort_unstable();
        days.dedup();
        days
    }

    /// Adds every bucket of `other` (folded from other conversations, e.g. on another thread).
    pub fn merge(&mut self, other: Rollup) {
        let numbers: Vec<u32> = other.tags.iter().map(|t| self.tag_number(t)).collect();
        for (mut key, aggregate) in other.keys.into_iter().zip(other.aggregates) {
            if let SliceKey::Tag(number) = key.slice {
                key.slice = SliceKey::Tag(numbers.get(number as usize).copied().unwrap_or(number));
            }
            let row = self.row(key.day, key.slice);
            let fresh = self
                .cells
                .get(row as usize)
                .and_then(|(_, cells)| cells.get(key.measure as usize))
                == Some(&0);
            match self.bucket(row, key.day, key.measure) {
                Some(mine) if fresh => *mine = aggregate,
                Some(mine) => mine.merge(&aggregate),
                None => {}
            }
        }
        self.targets_day = None;
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
    match created(&event, calendar, out) {
        Some(state) => *facts = Some(state),
        None => {
            if let Some(state) = facts.as_mut() {
                apply_to(state, event, calendar, out);
            }
        }
    }
}

/// [`apply`] for the boxed facts of a [`FactsMap`].
pub fn apply_boxed(
    facts: &mut Option<Box<ConversationFacts>>,
    event: FoldEvent<'_>,
    calendar: Option<&Calendar>,
    out: &mut Rollup,
) {
    match created(&event, calendar, out) {
        Some(state) => match facts {
            Some(boxed) => **boxed = state,
            None => *facts = Some(Box::new(state)),
        },
        None => {
            if let Some(state) = facts.as_mut() {
                apply_to(state, event, calendar, out);
            }
        }
    }
}

/// A conversation's first facts when `event` is its creation (counted in `out`).
fn created(
    event: &FoldEvent<'_>,
    calendar: Option<&Calendar>,
    out: &mut Rollup,
) -> Option<ConversationFacts> {
    if let FoldPayload::Created {
        channel,
        status,
        priority,
        group,
        assignee,
    } = event.payload
    {
        let state = ConversationFacts {
            created_at: event.at,
            channel,
            priority,
            group,
            assignee,
            tags: Vec::new(),
            counted_tags: Vec::new(),
            opened_by_agent: event.actor_kind == "agent",
            opening_seen: false,
            first_reply_at: None,
            first_solved_at: None,
            reopened_at: None,
            public_replies: 0,
            solved: is_solved(status),
            sla_counted: Vec::new(),
        };
        out.select(&state, None);
        let day = out.day(calendar, event.at);
        out.observe(day, Measure::Created, 1.0);
        return Some(state);
    }
    None
}

/// Applies an event other than a creation to a conversation's facts.
fn apply_to(
    state: &mut ConversationFacts,
    event: FoldEvent<'_>,
    calendar: Option<&Calendar>,
    out: &mut Rollup,
) {
    match event.payload {
        FoldPayload::MessageAdded {
            kind: MessageKind::Reply,
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
                out.select(state, agent);
                let day = out.day(calendar, event.at);
                out.observe(
                    day,
                    Measure::FirstReply,
                    seconds(state.created_at, event.at),
                );
                if let Some(business) = business_seconds(calendar, state.created_at, event.at) {
                    out.observe(day, Measure::FirstReplyBusiness, business);
                }
            }
        }
        FoldPayload::MessageAdded {
            kind: MessageKind::Customer,
        } => {
            // A customer writing first on a conversation an agent opened: the agent's next
            // public message answers it.
            state.opening_seen = true;
        }
        FoldPayload::StatusChanged { to } => {
            let now_solved = is_solved(to);
            if now_solved && !state.solved && state.first_solved_at.is_none() {
                state.first_solved_at = Some(event.at);
                out.select(state, state.assignee);
                let day = out.day(calendar, event.at);
                out.observe(
                    day,
                    Measure::Resolution,
                    seconds(state.created_at, event.at),
                );
                if let Some(business) = business_seconds(calendar, state.created_at, event.at) {
                    out.observe(day, Measure::ResolutionBusiness, business);
                }
                let first_contact = state.public_replies == 1;
                out.observe(day, Measure::Solved, if first_contact { 1.0 } else { 0.0 });
                out.observe(day, Measure::Replies, f64::from(state.public_replies));
            } else if !now_solved && state.solved && state.reopened_at.is_none() {
                state.reopened_at = Some(event.at);
                out.select(state, state.assignee);
                let day = out.day(calendar, event.at);
                out.observe(day, Measure::Reopened, 1.0);
            }
            state.solved = now_solved;
        }
        FoldPayload::PriorityChanged { to } => state.priority = to,
        FoldPayload::GroupChanged { to } => state.group = to,
        FoldPayload::AssigneeChanged { to } => state.assignee = to,
        FoldPayload::TagAdded { tag } => {
            if !state.tags.iter().any(|t| *t == tag) {
                state.tags.push(tag.to_string());
            }
            if !state.counted_tags.iter().any(|t| *t == tag) {
                state.counted_tags.push(tag.to_string());
                let number = out.tag_number(&tag);
                out.select_only(SliceKey::Tag(number));
                let day = out.day(calendar, state.created_at);
                out.observe(day, Measure::Created, 1.0);
            }
        }
        FoldPayload::TagRemoved { tag } => state.tags.retain(|t| *t != tag),
        FoldPayload::SlaCycleEnded {
            metric,
            cycle,
            at,
            met,
        } => {
            let key = (metric.index() as u8, cycle);
            if !state.sla_counted.contains(&key) {
                state.sla_counted.push(key);
                out.select(state, state.assignee);
                let day = out.day(calendar, at);
                out.observe(day, Measure::of_sla(metric), if met { 1.0 } else { 0.0 });
            }
        }
        FoldPayload::SurveyAnswered {
            measure,
            score,
            scale_min,
            scale_max,
            kudos_agent,
        } => {
            out.select(state, kudos_agent.or(state.assignee));
            let day = out.day(calendar, event.at);
            let score = score as f64;
            if measure == Measure::Csat {
                // Satisfied: the top two points of a scale of five or more points, the top
                // point of a shorter one. The histogram keeps the score.
                let top = if scale_max - scale_min >= 4 {
                    (scale_max - 1) as f64
                } else {
                    scale_max as f64
                };
                let satisfied = if score >= top { 1.0 } else { 0.0 };
                let bin = score.round() as i32;
                out.add_selected(day, measure, satisfied, bin);
            } else {
                out.observe(day, measure, score);
            }
        }
        _ => {}
    }
}
