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

impl SlaTransition {
    /// A 64-bit fingerprint of every field, the same on every machine and in every release
    /// (it is stored: [`transitions_digest`]). A change would make every stored digest
    /// disagree: the next recompute would read every conversation's transitions back once.
    pub fn fingerprint(&self) -> u64 {
        let (kind, policy, target, basis) = match &self.kind {
            TransitionKind::Applied {
                policy_id,
                target,
                basis,
            } => (
                1u64,
                policy_id.map_or(0, |p| 1 + p as u64),
                target.map_or(0, |t| 1 + t as u64),
                match basis {
                    None => 0,
                    Some(TimeBasis::Business) => 1,
                    Some(TimeBasis::Calendar) => 2,
                },
            ),
            TransitionKind::Paused => (2, 0, 0, 0),
            TransitionKind::Resumed => (3, 0, 0, 0),
            TransitionKind::Warned => (4, 0, 0, 0),
            TransitionKind::Breached => (5, 0, 0, 0),
            TransitionKind::Fulfilled => (6, 0, 0, 0),
        };
        let metric = self.metric.index() as u64 + 1;
        let mut h = 0x5241_5050_4f52_5431u64; // "RAPPORT1"
        for word in [
            self.at as u64,
            metric,
            u64::from(self.cycle),
            kind,
            policy,
            target,
            basis,
        ] {
            h = mix(h ^ word);
        }
        h
    }
}

/// SplitMix64's finaliser: every input bit moves about half the output bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The digest of a multiset of transitions: the wrapping sum of their fingerprints, so the
/// order does not matter, adding transitions adds their digests
/// (`digest(a ∪ b) == digest(a).wrapping_add(digest(b))`), and two different multisets
/// share a digest with a chance of about 2⁻⁶⁴. A conversation's SLA state stores the digest
/// of the transitions its clock has made (all recorded in the log), so a recompute whose
/// expected transitions have that digest knows the log lacks none of them without reading
/// them back.
pub fn transitions_digest<'a>(transitions: impl IntoIterator<Item = &'a SlaTransition>) -> i64 {
    transitions
        .into_iter()
        .fold(0u64, |sum, t| sum.wrapping_add(t.fingerprint())) as i64
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
