//! The SLA clock as stored, and the log as a recompute reads it: fast paths for reading and
//! writing a million clocks.
//!
//! [`SlaClock::encode`] writes a clock as a short line of text, "s4" (`crate::clock_text`:
//! about a twelfth of its JSON), and [`SlaClock::decode`] reads it back; the encoding is
//! canonical (one clock, one text), so a recompute tells an unchanged clock by comparing
//! texts. [`SlaClock::decode`] also reads the texts ("s1" to "s3") and the JSON that older
//! versions stored.
//!
//! [`read_stored`] reads a stored event of the log for the clock: only the fields the clock
//! uses, from the JSON of the kinds in [`CLOCK_INPUT_KINDS`] and [`TRANSITION_KINDS`]; any
//! other kind is [`LogEntry::Other`] without looking at its JSON (no clock reads it, see
//! [`SlaClock::apply`]). [`read_logged`] reads the same from the JSON alone, its kind from the
//! payload's own `"kind"`, as the live path reads it. (A recompute reads no payload: it reads
//! the log's `clock_input` texts, [`crate::read_clock_input`].)

use std::borrow::Cow;

use domain::{Channel, EventPayload, MessageKind, Priority, SlaBasis, SlaMetric, Status};
use serde::Deserialize;

use crate::clock::{ClockInput, MetricClock, Phase, SlaClock};
use crate::policy::{Facts, Target};
use crate::transition::{SlaTransition, TransitionKind};
use crate::Millis;

/// The event kinds whose payload moves a clock ([`SlaClock::apply`] reads them, see
/// [`is_clock_input`]); an event of any other kind changes no clock.
pub const CLOCK_INPUT_KINDS: &[&str] = &[
    "created",
    "message_added",
    "status_changed",
    "priority_changed",
    "group_changed",
    "tag_added",
    "tag_removed",
];

/// The event kinds that record an [`SlaTransition`].
pub const TRANSITION_KINDS: &[&str] = &[
    "sla_applied",
    "sla_paused",
    "sla_resumed",
    "sla_warned",
    "sla_breached",
    "sla_fulfilled",
];

/// Whether `event` is of a kind in [`CLOCK_INPUT_KINDS`]: one that moves a clock.
pub fn is_clock_input(event: &EventPayload) -> bool {
    ClockInput::of(event).is_some()
}

/// A stored event, as the clock reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum LogEntry<'a> {
    /// An event that moves the clock (give it to [`SlaClock::apply_input`]).
    Input(ClockInput<'a>),
    /// Any other event of the conversation that is not the clocks' own: no clock reads it.
    Other,
    /// A transition the log records.
    Transition(SlaTransition),
    /// An escalation: the clocks' own, and not a transition.
    Escalated,
}

mod fields {
    use super::*;

    #[derive(Deserialize)]
    pub struct Created {
        pub channel: Channel,
        pub status: Status,
        pub priority: Priority,
        pub customer_id: i64,
        pub group_id: Option<i64>,
    }

    // The fields the clock does not read are still required: a payload without them is
    // not what its kind promises.
    #[derive(Deserialize)]
    pub struct MessageAdded {
        #[allow(dead_code)]
        pub message_id: i64,
        pub message_kind: MessageKind,
        #[allow(dead_code)]
        pub channel: Channel,
    }

    #[derive(Deserialize)]
    pub struct Change<T> {
        #[allow(dead_code)]
        pub from: T,
        pub to: T,
    }

    #[derive(Deserialize)]
    pub struct Tag<'a> {
        #[serde(borrow)]
        pub tag: Cow<'a, str>,
    }

    #[derive(Deserialize)]
    pub struct Transition {
        pub metric: SlaMetric,
        pub cycle: u32,
        pub at: i64,
        #[serde(default)]
        pub policy_id: Option<i64>,
        #[serde(default)]
        pub target_ms: Option<i64>,
        #[serde(default)]
        pub basis: Option<SlaBasis>,
    }
}

/// Reads a stored event of `kind` (the log's `kind` column) with its JSON `payload`, for the
/// clock; an error when the JSON does not hold what the kind promises. Reads only the fields
/// the clock uses, and no JSON at all for kinds the clock does not read.
///
/// The compact JSON the log's writer makes is read by `domain::compact_json`; any payload
/// that reader does not take whole goes to serde, so both give the same answers (a property
/// test checks it).
pub fn read_stored<'a>(kind: &str, payload: &'a str) -> Result<LogEntry<'a>, serde_json::Error> {
    match read_compact(kind, Object::Whole(payload)) {
        Some(entry) => Ok(entry),
        None => read_stored_by_serde(kind, payload),
    }
}

/// Reads a stored event from its JSON alone, for the clock: its kind is the payload's own
/// `"kind"` field, as the live path reads it (serde's `EventPayload` is tagged by it), so the
/// log's `kind` column need not be read. Otherwise as [`read_stored`]: an error when the JSON
/// holds no kind (or holds it twice), or does not hold what its kind promises.
///
/// The payloads the log's writer makes start with their kind, which is read in place; any
/// other goes to serde (a property test checks that both agree).
pub fn read_logged(payload: &str) -> Result<LogEntry<'_>, serde_json::Error> {
    match read_logged_compact(payload) {
        Some(entry) => Ok(entry),
        None => read_logged_by_serde(payload),
    }
}

/// [`read_logged`] by `domain::compact_json`: `None` when that reader does not take the
/// payload whole (then serde decides).
pub(crate) fn read_logged_compact(payload: &str) -> Option<LogEntry<'_>> {
    let (kind, rest) = domain::compact_json::tagged(payload, "kind")?;
    read_compact(kind, Object::Tagged(rest))
}

/// [`read_logged`] by serde alone (what the compact reader must agree with).
pub(crate) fn read_logged_by_serde(payload: &str) -> Result<LogEntry<'_>, serde_json::Error> {
    #[derive(Deserialize)]
    struct Kind<'a> {
        #[serde(borrow)]
        kind: Cow<'a, str>,
    }
    let Kind { kind } = serde_json::from_str(payload)?;
    read_stored_by_serde(&kind, payload)
}

/// A payload's JSON object as the compact reader reads it: whole, or after its tag.
#[derive(Clone, Copy)]
pub(crate) enum Object<'a> {
    Whole(&'a str),
    Tagged(domain::compact_json::Tagged<'a>),
}

impl<'a> Object<'a> {
    /// Whether the object is one the compact reader takes whole, when read from the JSON
    /// alone (serde reads the kind of such a payload only from a whole object); read by
    /// kind, the JSON of a kind the clock does not read is not looked at.
    fn whole(self) -> Option<()> {
        match self {
            Object::Whole(_) => Some(()),
            Object::Tagged(tagged) => tagged.fields([]).map(|_: [_; 0]| ()),
        }
    }

    fn fields<const N: usize>(
        self,
        names: [&str; N],
    ) -> Option<[Option<domain::compact_json::Raw<'a>>; N]> {
        match self {
            Object::Whole(json) => domain::compact_json::fields(json, names),
            Object::Tagged(tagged) => tagged.fields(names),
        }
    }
}

/// [`read_stored`] by `domain::compact_json`: `None` when that reader does not take the
/// payload whole (then serde decides).
pub(crate) fn read_compact<'a>(kind: &str, payload: Object<'a>) -> Option<LogEntry<'a>> {
    use domain::compact_json::{optional_int, required_int, required_text};
    let transition = |kind: fn(Option<i64>, Option<i64>, Option<SlaBasis>) -> TransitionKind| {
        let [metric, cycle, at, policy_id, target_ms, basis] =
            payload.fields(["metric", "cycle", "at", "policy_id", "target_ms", "basis"])?;
        let basis = match basis {
            None | Some(domain::compact_json::Raw::Null) => None,
            text => Some(SlaBasis::parse(required_text(text)?)?),
        };
        Some(LogEntry::Transition(SlaTransition {
            at: required_int(at)?,
            metric: SlaMetric::parse(required_text(metric)?)?,
            cycle: u32::try_from(required_int(cycle)?).ok()?,
            kind: kind(optional_int(policy_id)?, optional_int(target_ms)?, basis),
        }))
    };
    let change = |read: fn(&str) -> Option<Status>| -> Option<(Status, Status)> {
        let [from, to] = payload.fields(["from", "to"])?;
        Some((read(required_text(from)?)?, read(required_text(to)?)?))
    };
    Some(match kind {
        "created" => {
            let [channel, status, priority, customer_id, group_id] =
                payload.fields(["channel", "status", "priority", "customer_id", "group_id"])?;
            LogEntry::Input(ClockInput::Created {
                channel: Channel::parse(required_text(channel)?)?,
                status: Status::parse(required_text(status)?)?,
                priority: Priority::parse(required_text(priority)?)?,
                customer: required_int(customer_id)?,
                group: optional_int(group_id)?,
            })
        }
        "message_added" => {
            let [message_id, message_kind, channel] =
                payload.fields(["message_id", "message_kind", "channel"])?;
            // Every field serde requires is checked, read or not, so that both readers
            // take the same payloads.
            required_int(message_id)?;
            Channel::parse(required_text(channel)?)?;
            LogEntry::Input(ClockInput::MessageAdded(MessageKind::parse(
                required_text(message_kind)?,
            )?))
        }
        "status_changed" => {
            let (_, to) = change(Status::parse)?;
            LogEntry::Input(ClockInput::StatusChanged(to))
        }
        "priority_changed" => {
            let [from, to] = payload.fields(["from", "to"])?;
            Priority::parse(required_text(from)?)?;
            LogEntry::Input(ClockInput::PriorityChanged(Priority::parse(
                required_text(to)?,
            )?))
        }
        "group_changed" => {
            let [from, to] = payload.fields(["from", "to"])?;
            optional_int(from)?;
            LogEntry::Input(ClockInput::GroupChanged(optional_int(to)?))
        }
        "tag_added" | "tag_removed" => {
            let [tag] = payload.fields(["tag"])?;
            let tag = Cow::Borrowed(required_text(tag)?);
            LogEntry::Input(if kind == "tag_added" {
                ClockInput::TagAdded(tag)
            } else {
                ClockInput::TagRemoved(tag)
            })
        }
        "sla_applied" => transition(|policy_id, target, basis| TransitionKind::Applied {
            policy_id,
            target,
            basis,
        })?,
        "sla_paused" => transition(|_, _, _| TransitionKind::Paused)?,
        "sla_resumed" => transition(|_, _, _| TransitionKind::Resumed)?,
        "sla_warned" => transition(|_, _, _| TransitionKind::Warned)?,
        "sla_breached" => transition(|_, _, _| TransitionKind::Breached)?,
        "sla_fulfilled" => transition(|_, _, _| TransitionKind::Fulfilled)?,
        // Read by kind alone; from the JSON alone, the JSON must still be an object.
        "sla_escalated" => payload.whole().map(|()| LogEntry::Escalated)?,
        _ => payload.whole().map(|()| LogEntry::Other)?,
    })
}

/// [`read_stored`] by serde alone (what the compact reader must agree with).
pub(crate) fn read_stored_by_serde<'a>(
    kind: &str,
    payload: &'a str,
) -> Result<LogEntry<'a>, serde_json::Error> {
    let transition = |kind: TransitionKind, p: fields::Transition| {
        LogEntry::Transition(SlaTransition {
            at: p.at,
            metric: p.metric,
            cycle: p.cycle,
            kind,
        })
    };
    Ok(match kind {
        "created" => {
            let p: fields::Created = serde_json::from_str(payload)?;
            LogEntry::Input(ClockInput::Created {
                channel: p.channel,
                status: p.status,
                priority: p.priority,
                customer: p.customer_id,
                group: p.group_id,
            })
        }
        "message_added" => {
            let p: fields::MessageAdded = serde_json::from_str(payload)?;
            LogEntry::Input(ClockInput::MessageAdded(p.message_kind))
        }
        "status_changed" => {
            let p: fields::Change<Status> = serde_json::from_str(payload)?;
            LogEntry::Input(ClockInput::StatusChanged(p.to))
        }
        "priority_changed" => {
            let p: fields::Change<Priority> = serde_json::from_str(payload)?;
            LogEntry::Input(ClockInput::PriorityChanged(p.to))
        }
        "group_changed" => {
            let p: fields::Change<Option<i64>> = serde_json::from_str(payload)?;
            LogEntry::Input(ClockInput::GroupChanged(p.to))
        }
        "tag_added" => LogEntry::Input(ClockInput::TagAdded(
            serde_json::from_str::<fields::Tag<'a>>(payload)?.tag,
        )),
        "tag_removed" => LogEntry::Input(ClockInput::TagRemoved(
            serde_json::from_str::<fields::Tag<'a>>(payload)?.tag,
        )),
        "sla_applied" => {
            let p: fields::Transition = serde_json::from_str(payload)?;
            let kind = TransitionKind::Applied {
                policy_id: p.policy_id,
                target: p.target_ms,
                basis: p.basis,
            };
            transition(kind, p)
        }
        "sla_paused" => transition(TransitionKind::Paused, serde_json::from_str(payload)?),
        "sla_resumed" => transition(TransitionKind::Resumed, serde_json::from_str(payload)?),
        "sla_warned" => transition(TransitionKind::Warned, serde_json::from_str(payload)?),
        "sla_breached" => transition(TransitionKind::Breached, serde_json::from_str(payload)?),
        "sla_fulfilled" => transition(TransitionKind::Fulfilled, serde_json::from_str(payload)?),
        "sla_escalated" => LogEntry::Escalated,
        _ => LogEntry::Other,
    })
}

/// Why a stored clock could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("stored SLA clock: {0}")]
pub struct ClockTextError(pub(crate) String);

/// The first field of the comma-separated texts older versions wrote: their version. Read,
/// no longer written ("s4" is, `crate::clock_text`). "s3" wrote every instant but
/// `last_at` as its distance back from `last_at` (a few digits instead of thirteen), each
/// such distance and each duration in the largest of hours, minutes or seconds that divides
/// it (`90m` for 5,400,000 ms: targets, warnings and business-hour spans are whole minutes),
/// and the time basis as one letter; "s2" wrote durations and distances in milliseconds; "s1"
/// also wrote instants whole.
const VERSION: &str = "s3";
const VERSION_2: &str = "s2";
const VERSION_1: &str = "s1";

/// The units of a time written in "s3", largest first: milliseconds in each, and the suffix.
const UNITS: [(i64, char); 3] = [(3_600_000, 'h'), (60_000, 'm'), (1_000, 's')];

/// Reads the fields back, in the order they were written.
struct Reader<'a> {
    fields: std::str::Split<'a, char>,
    /// "s2" and "s3": the instant the others were written relative to; "s1": `None` (written
    /// whole).
    base: Option<Millis>,
    /// "s3": times are written in [`UNITS`].
    units: bool,
}

impl<'a> Reader<'a> {
    /// The instant a written value stands for.
    fn instant_of(&self, value: i64) -> Millis {
        self.base.map_or(value, |base| base.wrapping_sub(value))
    }

    fn instant(&mut self) -> Result<Millis, ClockTextError> {
        let value = self.millis()?;
        Ok(self.instant_of(value))
    }

    fn opt_instant(&mut self) -> Result<Option<Millis>, ClockTextError> {
        Ok(self.opt_millis()?.map(|value| self.instant_of(value)))
    }

    /// A time in milliseconds (see [`Writer::millis`]).
    fn millis(&mut self) -> Result<i64, ClockTextError> {
        let field = self.next()?;
        self.millis_of(field)
    }

    fn opt_millis(&mut self) -> Result<Option<i64>, ClockTextError> {
        match self.next()? {
            "" => Ok(None),
            field => self.millis_of(field).map(Some),
        }
    }

    fn millis_of(&self, field: &str) -> Result<i64, ClockTextError> {
        let unit = if self.units {
            UNITS
                .iter()
                .find(|(_, suffix)| field.ends_with(*suffix))
                .copied()
        } else {
            None
        };
        let (digits, size) = match unit {
            Some((size, suffix)) => (field.strip_suffix(suffix).unwrap_or(field), size),
            None => (field, 1),
        };
        digits
            .parse::<i64>()
            .ok()
            .and_then(|value| value.checked_mul(size))
            .ok_or_else(|| ClockTextError(format!("{field:?} is not a time")))
    }

    fn next(&mut self) -> Result<&'a str, ClockTextError> {
        self.fields
            .next()
            .ok_or_else(|| ClockTextError("the text ends too early".into()))
    }

    fn int(&mut self) -> Result<i64, ClockTextError> {
        let field = self.next()?;
        field
            .parse()
            .map_err(|_| ClockTextError(format!("{field:?} is not a number")))
    }

    fn opt(&mut self) -> Result<Option<i64>, ClockTextError> {
        match self.next()? {
            "" => Ok(None),
            field => field
                .parse()
                .map(Some)
                .map_err(|_| ClockTextError(format!("{field:?} is not a number"))),
        }
    }

    fn count(&mut self) -> Result<usize, ClockTextError> {
        let field = self.next()?;
        field
            .parse()
            .map_err(|_| ClockTextError(format!("{field:?} is not a count")))
    }

    fn flag(&mut self) -> Result<bool, ClockTextError> {
        match self.next()? {
            "0" => Ok(false),
            "1" => Ok(true),
            field => Err(ClockTextError(format!("{field:?} is not 0 or 1"))),
        }
    }

    fn parsed<T>(
        &mut self,
        what: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<T, ClockTextError> {
        let field = self.next()?;
        parse(field).ok_or_else(|| ClockTextError(format!("{field:?} is not a {what}")))
    }

    fn unescaped(&mut self) -> Result<String, ClockTextError> {
        let field = self.next()?;
        if !field.contains('%') {
            return Ok(field.to_string());
        }
        Ok(field.replace("%2C", ",").replace("%25", "%"))
    }
}

fn phase_of(code: &str) -> Option<Phase> {
    Some(match code {
        "i" => Phase::Idle,
        "r" => Phase::Running,
        "p" => Phase::Paused,
        "f" => Phase::Fulfilled,
        _ => return None,
    })
}

fn basis_of(code: &str) -> Option<SlaBasis> {
    match code {
        "b" => Some(SlaBasis::Business),
        "c" => Some(SlaBasis::Calendar),
        _ => None,
    }
}

impl SlaClock {
    /// The clock as a short line of text, to store (read it with [`SlaClock::decode`]).
    /// Canonical: two clocks are equal exactly when their texts are.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        self.encode_into(&mut out);
        out
    }

    /// [`SlaClock::encode`] into `out`, which is cleared first (so a caller encoding many
    /// clocks reuses one buffer); an empty buffer is given room for a clock at once.
    pub fn encode_into(&self, out: &mut String) {
        crate::clock_text::encode_into(self, out);
    }

    /// Reads a clock written by [`SlaClock::encode`], or the JSON older versions stored.
    pub fn decode(text: &str) -> Result<SlaClock, ClockTextError> {
        if text.starts_with(crate::clock_text::VERSION) {
            return crate::clock_text::decode(text);
        }
        if text.starts_with('{') {
            return serde_json::from_str(text).map_err(|e| ClockTextError(e.to_string()));
        }
        let mut r = Reader {
            fields: text.split(','),
            base: None,
            units: false,
        };
        let s1 = match r.next()? {
            VERSION => {
                r.units = true;
                false
            }
            VERSION_2 => false,
            VERSION_1 => true,
            _ => {
                return Err(ClockTextError(format!(
                    "the text does not start with {VERSION:?}, {VERSION_2:?} or {VERSION_1:?}"
                )))
            }
        };
        let organisation = r.opt()?;
        let policy = match r.opt()? {
            None => None,
            Some(p) => Some(usize::try_from(p).map_err(|_| ClockTextError(format!("policy {p}")))?),
        };
        let last_at = r.int()?;
        if !s1 {
            r.base = Some(last_at);
        }
        let public_message_seen = r.flag()?;
        let facts = if r.flag()? {
            let status = r.parsed("status", Status::parse)?;
            let priority = r.parsed("priority", Priority::parse)?;
            let channel = r.parsed("channel", Channel::parse)?;
            let group = r.opt()?;
            let facts_organisation = r.opt()?;
            let count = r.count()?;
            let mut tags = Vec::with_capacity(count.min(64));
            for _ in 0..count {
                tags.push(r.unescaped()?);
            }
            Some(Facts {
                status,
                priority,
                channel,
                group,
                organisation: facts_organisation,
                tags,
            })
        } else {
            None
        };
        let mut metrics = [
            MetricClock::idle(),
            MetricClock::idle(),
            MetricClock::idle(),
            MetricClock::idle(),
        ];
        for m in &mut metrics {
            let cycle = r.int()?;
            m.cycle = u32::try_from(cycle).map_err(|_| ClockTextError(format!("cycle {cycle}")))?;
            m.phase = r.parsed("phase", phase_of)?;
            m.started_at = r.instant()?;
            m.running_since = r.opt_instant()?;
            m.elapsed_closed = r.millis()?;
            m.due_at = r.opt_instant()?;
            m.warn_at = r.opt_instant()?;
            m.warned_at = r.opt_instant()?;
            m.breached_at = r.opt_instant()?;
            m.fulfilled_at = r.opt_instant()?;
            m.target = if r.flag()? {
                let policy_id = r.int()?;
                let duration = r.millis()?;
                let basis = if s1 {
                    // "s1" wrote the basis's own name.
                    r.parsed("basis", SlaBasis::parse)?
                } else {
                    r.parsed("basis", basis_of)?
                };
                let calendar = match r.opt()? {
                    None => None,
                    Some(c) => Some(
                        u32::try_from(c).map_err(|_| ClockTextError(format!("calendar {c}")))?,
                    ),
                };
                let warn_after = r.opt_millis()?;
                Some(Target {
                    policy_id,
                    duration,
                    basis,
                    calendar,
                    warn_after,
                })
            } else {
                None
            };
            let count = r.count()?;
            m.periods = Vec::with_capacity(count.min(64));
            for _ in 0..count {
                let start = r.instant()?;
                let end = r.instant()?;
                m.periods.push((start, end));
            }
        }
        if r.fields.next().is_some() {
            return Err(ClockTextError("the text goes on after the clock".into()));
        }
        Ok(SlaClock {
            organisation,
            facts,
            policy,
            last_at,
            public_message_seen,
            metrics,
        })
    }
}
