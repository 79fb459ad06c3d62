//! SLA transitions: the events an SLA clock adds to the log, and the diff that makes
//! `rapport sla recompute` idempotent.

use serde::{Deserialize, Serialize};

use crate::policy::{Metric, TimeBasis};
use crate::Millis;

/// Something that happened to one metric's clock, at the instant it happened (a breach
/// found late by the scheduler still carries the instant the target ran out).
///
/// A transition is identified by all its fields: recomputing from the same events,
/// policies and calendars gives the same transitions, so the log can be compared with
/// them ([`diff_transitions`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SlaTransition {
    /// When it happened.
    pub at: Millis,
    /// Which metric.
    pub metric: Metric,
    /// Which measurement of the metric: 1 for the first; next-reply and periodic-update
    /// start a new cycle each time (see the crate documentation).
    pub cycle: u32,
    /// What happened.
    pub kind: TransitionKind,
}

/// What happened to a metric's clock.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TransitionKind {
    /// A target now applies: when a cycle starts with a target, and whenever the target of
    /// a cycle in progress changes (priority or policy change). `policy_id` is `None`
    /// when no target applies any more.
    Applied {
        /// The policy that set the target.
        policy_id: Option<i64>,
        /// The target, in milliseconds.
        target: Option<Millis>,
        /// How the target's time is counted.
        basis: Option<TimeBasis>,
    },
    /// The clock stopped counting (pending, on hold when the policy says so, solved).
    Paused,
    /// The clock counts again.
    Resumed,
    /// The warning share of the target has elapsed.
    Warned,
    /// The target has elapsed without fulfilment.
    Breached,
    /// The metric was met (a reply was sent; the conversation was solved).
    Fulfilled,
}

impl TransitionKind {
    /// The stored kind name, as in the `kind` tag.
    pub fn as_str(&self) -> &'static str {
        match self {
            TransitionKind::Applied { .. } => "applied",
            TransitionKind::Paused => "paused",
            TransitionKind::Resumed => "resumed",
            TransitionKind::Warned => "warned",
            TransitionKind::Breached => "breached",
            TransitionKind::Fulfilled => "fulfilled",
        }
    }
}

/// How the recorded transitions of a conversation differ from the expected ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TransitionDiff {
    /// Expected but not recorded: append these.
    pub missing: Vec<SlaTransition>,
    /// Recorded but no longer expected (the policies or calendars changed since): the log
    /// keeps them, as history; the state comes from the recomputation.
    pub superseded: Vec<SlaTransition>,
}

impl TransitionDiff {
    /// Whether the log already holds exactly what is expected.
    pub fn is_empty(&self) -> bool {
        self.missing.is_empty() && self.superseded.is_empty()
    }
}

/// Compares expected with recorded transitions as multisets (order does not matter).
/// After appending `missing`, the same comparison finds nothing missing: a second
/// recompute changes nothing.
pub fn diff_transitions(expected: &[SlaTransition], recorded: &[SlaTransition]) -> TransitionDiff {
    let mut expected: Vec<&SlaTransition> = expected.iter().collect();
    let mut recorded: Vec<&SlaTransition> = recorded.iter().collect();
    expected.sort_unstable();
    recorded.sort_unstable();
    let mut diff = TransitionDiff::default();
    let (mut e, mut r) = (0, 0);
    while e < expected.len() || r < recorded.len() {
        match (expected.get(e), recorded.get(r)) {
            (Some(x), Some(y)) if x == y => {
                e += 1;
                r += 1;
            }
            (Some(x), Some(y)) if x < y => {
                diff.missing.push((*x).clone());
                e += 1;
            }
            (Some(x), None) => {
                diff.missing.push((*x).clone());
                e += 1;
            }
            (_, Some(y)) => {
                diff.superseded.push((*y).clone());
                r += 1;
            }
            (None, None) => break,
        }
    }
    diff
}
