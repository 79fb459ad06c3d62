//! SLA policies: which conversations a policy covers, and its targets per metric and
//! priority. The first policy whose conditions match a conversation applies.

use calendar::Calendar;
use domain::{Channel, Priority, Status};
use serde::{Deserialize, Serialize};

use crate::Millis;

/// What a target measures (`domain::SlaMetric`, so that events can name it). The exact
/// definitions are in the crate documentation.
pub use domain::SlaMetric as Metric;

pub(crate) fn priority_index(priority: Priority) -> usize {
    match priority {
        Priority::Low => 0,
        Priority::Normal => 1,
        Priority::High => 2,
        Priority::Urgent => 3,
    }
}

/// How a target's time is counted (`domain::SlaBasis`): business time (only while the
/// policy's calendar is open) or calendar time (around the clock).
pub use domain::SlaBasis as TimeBasis;

/// One target of a policy: `minutes` of `basis` time for `metric` at `priority`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetRule {
    /// What is measured.
    pub metric: Metric,
    /// For conversations of this priority.
    pub priority: Priority,
    /// The target, in minutes (at least 1).
    pub minutes: u32,
    /// Business or calendar time.
    pub basis: TimeBasis,
}

/// Which conversations a policy covers. Each list left empty matches anything; a list
/// with values matches when the conversation's value is one of them. All tags listed must
/// be on the conversation.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Conditions {
    /// Group ids (a conversation without a group matches only an empty list).
    pub groups: Vec<i64>,
    /// Priorities.
    pub priorities: Vec<Priority>,
    /// Channels (the conversation's first channel).
    pub channels: Vec<Channel>,
    /// Organisation ids of the customer.
    pub organisations: Vec<i64>,
    /// Tags that must all be present (normalised: lower case).
    pub tags: Vec<String>,
}

/// An SLA policy: conditions, a business calendar and targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Stable id, recorded in the `applied` transitions.
    pub id: i64,
    /// A name people recognise.
    pub name: String,
    /// Which conversations it covers.
    #[serde(default)]
    pub conditions: Conditions,
    /// The name of the calendar for business-time targets (required when any target is
    /// in business time).
    #[serde(default)]
    pub calendar: Option<String>,
    /// The targets; a metric and priority without a target is not measured.
    pub targets: Vec<TargetRule>,
    /// Warn when this percentage of a target has elapsed (1 to 99); no warnings when absent.
    #[serde(default)]
    pub warn_at_percent: Option<u8>,
    /// Whether on-hold pauses the clocks (pending always does: the team waits on the customer).
    #[serde(default)]
    pub on_hold_pauses: bool,
}

/// A policy set that cannot be used, with what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// Two policies share an id.
    #[error("two SLA policies have the id {0}; give each policy its own id")]
    DuplicateId(i64),
    /// A policy names a calendar that is not in the set.
    #[error("SLA policy {policy:?} uses calendar {calendar:?}, which is not defined; define it or fix the name")]
    UnknownCalendar {
        /// The policy's name.
        policy: String,
        /// The calendar it names.
        calendar: String,
    },
    /// A business-time target without a calendar.
    #[error("SLA policy {0:?} has a business-time target but no calendar; name its calendar or use calendar time")]
    BusinessTimeWithoutCalendar(String),
    /// A zero-minute target.
    #[error("SLA policy {policy:?} has a target of 0 minutes for {metric} at {priority} priority; targets are at least 1 minute")]
    ZeroTarget {
        /// The policy's name.
        policy: String,
        /// The metric.
        metric: &'static str,
        /// The priority.
        priority: Priority,
    },
    /// Two targets for the same metric and priority.
    #[error("SLA policy {policy:?} has two targets for {metric} at {priority} priority; keep one")]
    DuplicateTarget {
        /// The policy's name.
        policy: String,
        /// The metric.
        metric: &'static str,
        /// The priority.
        priority: Priority,
    },
    /// A condition tag that no conversation can carry.
    #[error("SLA policy {policy:?} requires tag {tag:?}, which is not a valid tag (letters, digits, '-', '_', ':' or '.')")]
    BadTag {
        /// The policy's name.
        policy: String,
        /// The tag as written.
        tag: String,
    },
    /// A warning share outside 1 to 99 percent.
    #[error("SLA policy {policy:?} warns at {percent}% of a target; use 1 to 99, or no warning")]
    WarnShare {
        /// The policy's name.
        policy: String,
        /// The share given.
        percent: u8,
    },
}

/// A resolved target: how long, how counted, and with which calendar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Target {
    /// The policy that set it.
    pub policy_id: i64,
    /// How long, in milliseconds.
    pub duration: Millis,
    /// Business or calendar time.
    pub basis: TimeBasis,
    /// The business calendar's position in the [`PolicySet`] (business time only).
    pub(crate) calendar: Option<u32>,
    /// The warning threshold, in milliseconds of elapsed time.
    pub warn_after: Option<Millis>,
}

#[derive(Debug, Clone)]
struct CompiledPolicy {
    policy: Policy,
    /// `targets[metric][priority]`.
    targets: [[Option<Target>; 4]; 4],
}

/// The policies in order, with the calendars they use: checked once, then used for every
/// conversation. A clock is computed against one set: after a policy change, recompute.
#[derive(Debug, Clone)]
pub struct PolicySet {
    policies: Vec<CompiledPolicy>,
    calendars: Vec<Calendar>,
}

/// The facts about a conversation that policies look at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Facts {
    pub(crate) status: Status,
    pub(crate) priority: Priority,
    pub(crate) channel: Channel,
    pub(crate) group: Option<i64>,
    pub(crate) organisation: Option<i64>,
    /// Sorted and without duplicates.
    pub(crate) tags: Vec<String>,
}

impl PolicySet {
    /// Checks the policies (in match order) against the named calendars.
    pub fn new(
        policies: Vec<Policy>,
        calendars: Vec<(String, Calendar)>,
    ) -> Result<PolicySet, PolicyError> {
        let (names, calendars): (Vec<String>, Vec<Calendar>) = calendars.into_iter().unzip();
        let mut compiled: Vec<CompiledPolicy> = Vec::with_capacity(policies.len());
        for mut policy in policies {
            for tag in &mut policy.conditions.tags {
                *tag =
                    domain::conversation::normalize_tag(tag).map_err(|_| PolicyError::BadTag {
                        policy: policy.name.clone(),
                        tag: tag.clone(),
                    })?;
            }
            policy.conditions.tags.sort();
            policy.conditions.tags.dedup();
            if compiled.iter().any(|p| p.policy.id == policy.id) {
                return Err(PolicyError::DuplicateId(policy.id));
            }
            if let Some(percent) = policy.warn_at_percent {
                if !(1..=99).contains(&percent) {
                    return Err(PolicyError::WarnShare {
                        policy: policy.name.clone(),
                        percent,
                    });
                }
            }
            let calendar = match &policy.calendar {
                None => None,
                Some(name) => Some(
                    names
                        .iter()
                        .position(|n| n == name)
                        .and_then(|i| u32::try_from(i).ok())
                        .ok_or_else(|| PolicyError::UnknownCalendar {
                            policy: policy.name.clone(),
                            calendar: name.clone(),
                        })?,
                ),
            };
            let mut targets = [[None; 4]; 4];
            for rule in &policy.targets {
                if rule.minutes == 0 {
                    return Err(PolicyError::ZeroTarget {
                        policy: policy.name.clone(),
                        metric: rule.metric.as_str(),
                        priority: rule.priority,
                    });
                }
                if rule.basis == TimeBasis::Business && calendar.is_none() {
                    return Err(PolicyError::BusinessTimeWithoutCalendar(
                        policy.name.clone(),
                    ));
                }
                let slot = &mut targets[rule.metric.index()][priority_index(rule.priority)];
                if slot.is_some() {
                    return Err(PolicyError::DuplicateTarget {
                        policy: policy.name.clone(),
                        metric: rule.metric.as_str(),
                        priority: rule.priority,
                    });
                }
                let duration = Millis::from(rule.minutes) * calendar::MINUTE_MILLIS;
                *slot = Some(Target {
                    policy_id: policy.id,
                    duration,
                    basis: rule.basis,
                    calendar: (rule.basis == TimeBasis::Business)
                        .then_some(calendar)
                        .flatten(),
                    warn_after: policy
                        .warn_at_percent
                        .map(|percent| duration * Millis::from(percent) / 100),
                });
            }
            compiled.push(CompiledPolicy { policy, targets });
        }
        Ok(PolicySet {
            policies: compiled,
            calendars,
        })
    }

    /// The same policies with every calendar's open spans indexed for `[from, to)`
    /// ([`calendar::Calendar::with_index`]): business time inside the period is then two
    /// binary searches instead of a walk through the time zone, day by day. The answers are
    /// the same; outside the period the calendars walk as before.
    pub fn with_calendar_index(mut self, from: Millis, to: Millis) -> PolicySet {
        self.calendars = self
            .calendars
            .into_iter()
            .map(|calendar| calendar.with_index(from, to))
            .collect();
        self
    }

    /// The policies, in match order.
    pub fn policies(&self) -> impl Iterator<Item = &Policy> {
        self.policies.iter().map(|p| &p.policy)
    }

    /// The position of the first policy whose conditions match.
    pub(crate) fn matching(&self, facts: &Facts) -> Option<usize> {
        self.policies
            .iter()
            .position(|p| conditions_match(&p.policy.conditions, facts))
    }

    pub(crate) fn policy(&self, index: Option<usize>) -> Option<&Policy> {
        index.and_then(|i| self.policies.get(i)).map(|p| &p.policy)
    }

    /// The target of `metric` under policy `index` at `priority`.
    pub(crate) fn target(
        &self,
        index: Option<usize>,
        metric: Metric,
        priority: Priority,
    ) -> Option<Target> {
        self.policies.get(index?)?.targets[metric.index()][priority_index(priority)]
    }

    /// Time counted by `target` in `[start, end)`.
    pub(crate) fn measure(&self, target: &Target, start: Millis, end: Millis) -> Millis {
        match self.calendar_of(target) {
            Some(calendar) => calendar.between(start, end),
            None => end - start,
        }
    }

    /// The instant at which `amount > 0` of `target` time has passed since `start`;
    /// `None` when the calendar never opens again.
    pub(crate) fn add(&self, target: &Target, start: Millis, amount: Millis) -> Option<Millis> {
        match self.calendar_of(target) {
            Some(calendar) => calendar.add(start, amount).ok(),
            None => start.checked_add(amount),
        }
    }

    fn calendar_of(&self, target: &Target) -> Option<&Calendar> {
        match target.basis {
            TimeBasis::Calendar => None,
            TimeBasis::Business => target
                .calendar
                .and_then(|i| self.calendars.get(usize::try_from(i).ok()?)),
        }
    }
}

fn conditions_match(conditions: &Conditions, facts: &Facts) -> bool {
    let one_of = |list: &[i64], value: Option<i64>| {
        list.is_empty() || value.is_some_and(|v| list.contains(&v))
    };
    one_of(&conditions.groups, facts.group)
        && one_of(&conditions.organisations, facts.organisation)
        && (conditions.priorities.is_empty() || conditions.priorities.contains(&facts.priority))
        && (conditions.channels.is_empty() || conditions.channels.contains(&facts.channel))
        && conditions
            .tags
            .iter()
            .all(|tag| facts.tags.binary_search(tag).is_ok())
}
