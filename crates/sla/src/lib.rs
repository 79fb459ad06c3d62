//! Service standards: SLA policies and the SLA clock.
//!
//! An SLA clock is a function of three things: the conversation's events (the log), the
//! policies ([`PolicySet`], with their business calendars), and `now`. [`recompute`]
//! folds a whole log; [`SlaClock::apply`] folds one event at a time (the live path) and
//! gives the same result. Every change of a clock is an [`SlaTransition`] for the log:
//! applied, paused, resumed, warned, breached, fulfilled. [`diff_transitions`] compares
//! what should be in the log with what is, so `rapport sla recompute` appends only what is
//! missing and a second run changes nothing.
//!
//! # Which policy applies
//!
//! Policies are ordered; the first whose [`Conditions`] match the conversation (group,
//! priority, channel, the customer's organisation, tags) applies. A change of priority,
//! group or tags re-matches at once, and every cycle in progress takes the new target
//! (see re-targeting below).
//!
//! # The metrics, exactly
//!
//! A *public agent reply* is a `message_added` event of kind `reply` (internal notes never
//! count). A *customer message* is one of kind `customer`.
//!
//! - **First reply**: from the `created` event to the first public agent reply. When an
//!   agent opened the conversation with a public message (the first public message is
//!   an agent's), that message is not a reply: the next public agent reply counts.
//!   One cycle per conversation.
//! - **Next reply**: from a customer message that arrives after the first reply has been
//!   met, to the next public agent reply. More customer messages before that reply do not
//!   restart it. Each such wait is a new cycle (1, 2, …).
//! - **Periodic update**: from each public agent reply to the next one, so the customer
//!   hears from the team at least this often. Each public agent reply meets the current
//!   cycle and starts a new one (the agent's opening message too).
//! - **Resolution**: from the `created` event to solved (or closed). It is met each time
//!   the conversation is solved; a reopen takes the fulfilment back and the clock counts on
//!   from where it stopped: time spent solved is not counted. One cycle per conversation.
//!
//! # When clocks count
//!
//! Clocks count while the conversation is new or open. They pause while it is **pending**
//! (the team waits on the customer), while it is **on hold** if the policy says
//! `on_hold_pauses` (otherwise on-hold counts), and the reply clocks (first reply, next
//! reply, periodic update) pause while it is **solved or closed**: a solved conversation
//! owes no reply, and a reopen resumes them. Elapsed time is counted in the target's
//! basis: business time (only while the policy's calendar is open, see the `calendar`
//! crate) or calendar time (around the clock).
//!
//! # Warnings and breaches
//!
//! A target is **breached** at the instant its elapsed time reaches the target without
//! fulfilment (`due_at`); a reply at exactly that instant is late. It is **warned** when
//! the policy's `warn_at_percent` share has elapsed. Both are recorded with the instant
//! they fell due, even when the scheduler notices later, and both stand once recorded.
//! [`SlaClock::next_deadline`] gives the next such instant, for a scheduler to index.
//!
//! # Escalation
//!
//! A warning or breach calls for escalation ([`SlaClock::calls_for_escalation`]) while its
//! cycle is still in progress (running or paused, not met): whoever records it — the live
//! path, the scheduler's tick or a recompute after a policy change — queues the escalation
//! then, and the product runs it once. One recorded after its cycle was met (a recompute that
//! finds a breach in history, or a reply that came after the deadline before the tick saw
//! it) stays in the record but is not escalated: there is nothing left to act on.
//!
//! # Re-targeting
//!
//! When the priority or the matching policy changes, each cycle in progress takes the new
//! target at once (an `applied` transition). Its elapsed time is re-measured from the
//! cycle's running periods under the new target's calendar and basis, so the new target
//! counts from the cycle's start, not from the change. If that time already exceeds the
//! new target, the breach falls due at the change. Met cycles keep the target they were
//! met under.
//!
//! ```
//! use domain::{Channel, EventPayload, MessageKind, Priority, Status};
//! use sla::{Metric, Policy, PolicySet, TargetRule, TimeBasis};
//!
//! let policy = Policy {
//!     id: 1,
//!     name: "Everyone".into(),
//!     conditions: Default::default(),
//!     calendar: None,
//!     targets: vec![TargetRule {
//!         metric: Metric::FirstReply,
//!         priority: Priority::Normal,
//!         minutes: 60,
//!         basis: TimeBasis::Calendar,
//!     }],
//!     warn_at_percent: Some(80),
//!     on_hold_pauses: false,
//! };
//! let policies = PolicySet::new(vec![policy], vec![])?;
//! let created = EventPayload::Created {
//!     subject: "Where is my order?".into(),
//!     channel: Channel::Email,
//!     status: Status::New,
//!     priority: Priority::Normal,
//!     customer_id: 7,
//!     group_id: None,
//!     assignee_id: None,
//! };
//! let minute = 60_000;
//! let result = sla::recompute(&policies, None, [(0, &created)], 50 * minute);
//! let first_reply = result.state.metric(Metric::FirstReply).unwrap();
//! assert_eq!(first_reply.due_at, Some(60 * minute));
//! assert_eq!(first_reply.warned_at, Some(48 * minute));
//! assert_eq!(result.next_deadline.map(|d| d.at), Some(60 * minute));
//! # Ok::<(), sla::PolicyError>(())
//! ```

pub mod clock;
mod clock_text;
mod input_text;
mod policy;
mod stored;
mod transition;

pub use clock::{
    recompute, ClockInput, Deadline, DeadlineKind, MetricState, Recomputed, SlaClock, SlaState,
};
pub use input_text::{clock_input_text, read_clock_input};
pub use policy::{
    Conditions, Metric, Policy, PolicyError, PolicySet, Target, TargetRule, TimeBasis,
};
pub use stored::{
    is_clock_input, read_logged, read_stored, ClockTextError, LogEntry, CLOCK_INPUT_KINDS,
    TRANSITION_KINDS,
};
pub use transition::{
    diff_transitions, transitions_digest, SlaTransition, TransitionDiff, TransitionKind,
};

/// Instants and durations: whole milliseconds (instants since the Unix epoch, UTC), as
/// `domain::Millis`.
pub type Millis = domain::Millis;

#[cfg(test)]
mod tests;
