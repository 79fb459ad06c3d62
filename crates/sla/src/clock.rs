//! The SLA clock: a fold over a conversation's events, under a policy set.
//!
//! "Where is the SLA clock?" → here. [`SlaClock::apply`] takes one event (the live path),
//! [`SlaClock::advance_to`] records the warnings and breaches that have come due by `now`
//! (the scheduler's tick), and [`recompute`] does both over a whole log. The clock is plain
//! data (serde), so the live path can keep it between events. Applying the events one by
//! one, with ticks in between, gives exactly what [`recompute`] gives from the whole log.

use std::borrow::Cow;

use domain::{Channel, EventPayload, MessageKind, Priority, Status};
use serde::{Deserialize, Serialize};

use crate::policy::{Facts, Metric, Policy, PolicySet, Target};
use crate::transition::{SlaTransition, TransitionKind};
use crate::Millis;

/// What a clock reads of an event of one of the kinds in [`crate::CLOCK_INPUT_KINDS`]:
/// those fields only, small and borrowed (a recompute reads ten million of them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClockInput<'a> {
    Created {
        channel: Channel,
        status: Status,
        priority: Priority,
        group: Option<i64>,
        /// The customer who opened the conversation (whose organisation a policy may match).
        customer: i64,
    },
    MessageAdded(MessageKind),
    StatusChanged(Status),
    PriorityChanged(Priority),
    GroupChanged(Option<i64>),
    TagAdded(Cow<'a, str>),
    TagRemoved(Cow<'a, str>),
}

impl ClockInput<'_> {
    /// What a clock reads of `event`; `None` for a kind no clock reads.
    pub fn of(event: &EventPayload) -> Option<ClockInput<'_>> {
        Some(match event {
            EventPayload::Created {
                channel,
                status,
                priority,
                group_id,
                customer_id,
                ..
            } => ClockInput::Created {
                channel: *channel,
                status: *status,
                priority: *priority,
                group: *group_id,
                customer: *customer_id,
            },
            EventPayload::MessageAdded { message_kind, .. } => {
                ClockInput::MessageAdded(*message_kind)
            }
            EventPayload::StatusChanged { to, .. } => ClockInput::StatusChanged(*to),
            EventPayload::PriorityChanged { to, .. } => ClockInput::PriorityChanged(*to),
            EventPayload::GroupChanged { to, .. } => ClockInput::GroupChanged(*to),
            EventPayload::TagAdded { tag } => ClockInput::TagAdded(Cow::Borrowed(tag)),
            EventPayload::TagRemoved { tag } => ClockInput::TagRemoved(Cow::Borrowed(tag)),
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Phase {
    /// No cycle has started.
    Idle,
    Running,
    Paused,
    Fulfilled,
}

/// One metric's clock: the current cycle only (earlier cycles live on in the transitions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MetricClock {
    pub(crate) cycle: u32,
    pub(crate) phase: Phase,
    pub(crate) started_at: Millis,
    /// The cycle's finished running periods, `[start, end)`, kept so that a new target
    /// (another calendar or basis) can re-measure the elapsed time exactly.
    pub(crate) periods: Vec<(Millis, Millis)>,
    /// Set while running: the start of the current running period.
    pub(crate) running_since: Option<Millis>,
    /// `periods` measured under `target` (in wall time when there is no target).
    pub(crate) elapsed_closed: Millis,
    pub(crate) target: Option<Target>,
    pub(crate) due_at: Option<Millis>,
    pub(crate) warn_at: Option<Millis>,
    pub(crate) warned_at: Option<Millis>,
    pub(crate) breached_at: Option<Millis>,
    pub(crate) fulfilled_at: Option<Millis>,
}

impl MetricClock {
    pub(crate) fn idle() -> MetricClock {
        MetricClock {
            cycle: 0,
            phase: Phase::Idle,
            started_at: 0,
            periods: Vec::new(),
            running_since: None,
            elapsed_closed: 0,
            target: None,
            due_at: None,
            warn_at: None,
            warned_at: None,
            breached_at: None,
            fulfilled_at: None,
        }
    }

    /// Running or paused: the cycle is in progress.
    fn is_live(&self) -> bool {
        matches!(self.phase, Phase::Running | Phase::Paused)
    }

    fn measure(&self, policies: &PolicySet, start: Millis, end: Millis) -> Millis {
        match &self.target {
            Some(target) => policies.measure(target, start, end),
            None => end - start,
        }
    }

    fn elapsed_at(&self, policies: &PolicySet, now: Millis) -> Millis {
        let running = match self.running_since {
            Some(since) if now > since => self.measure(policies, since, now),
            _ => 0,
        };
        self.elapsed_closed + running
    }

    /// Closes the current running period at `at`, counting it into the elapsed time.
    fn stop_running(&mut self, policies: &PolicySet, at: Millis) {
        let elapsed = self.elapsed_at(policies, at);
        if let Some(since) = self.running_since.take() {
            push_period(&mut self.periods, since, at);
        }
        self.elapsed_closed = elapsed;
    }

    /// Recomputes when the warning and the breach fall due, as of `now`.
    fn schedule(&mut self, policies: &PolicySet, now: Millis) {
        let Some(target) = self.target.filter(|_| self.is_live()) else {
            self.due_at = None;
            self.warn_at = None;
            return;
        };
        let elapsed = self.elapsed_at(policies, now);
        let running = self.phase == Phase::Running;
        // A threshold already passed (a shorter target, say) falls due now, even while
        // paused; otherwise it falls due only while running.
        let due = |threshold: Millis| {
            if elapsed >= threshold {
                Some(now)
            } else if running {
                policies.add(&target, now, threshold - elapsed)
            } else {
                None
            }
        };
        if self.breached_at.is_none() {
            self.due_at = due(target.duration);
        } else if !running {
            self.due_at = None;
        }
        if self.warned_at.is_none() {
            // No warning after the fact: once breached, a warning has nothing to say.
            self.warn_at = match self.breached_at {
                Some(_) => None,
                None => target.warn_after.and_then(due),
            };
        }
    }
}

/// The SLA clocks of one conversation. Build it with [`SlaClock::new`], feed it the
/// conversation's events in log order with [`SlaClock::apply`], and read it with
/// [`SlaClock::state`] and [`SlaClock::next_deadline`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaClock {
    pub(crate) organisation: Option<i64>,
    /// `None` until the `created` event.
    pub(crate) facts: Option<Facts>,
    /// The matching policy's position in the policy set.
    pub(crate) policy: Option<usize>,
    /// The latest instant applied or advanced to.
    pub(crate) last_at: Millis,
    /// Whether any public message (the customer's or an agent's) has been added.
    pub(crate) public_message_seen: bool,
    pub(crate) metrics: [MetricClock; 4],
}

/// Whether a warning or a breach is next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeadlineKind {
    /// The warning share of a target will have elapsed.
    Warning,
    /// A target will have elapsed.
    Breach,
}

/// The next instant at which [`SlaClock::advance_to`] will record something: what a
/// scheduler indexes. It stays valid until the next event of the conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deadline {
    /// When it falls due (advancing to this instant records it).
    pub at: Millis,
    /// Which metric.
    pub metric: Metric,
    /// Warning or breach.
    pub kind: DeadlineKind,
}

/// Where one metric stands at an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MetricState {
    /// Which metric.
    pub metric: Metric,
    /// Which measurement (1 for the first).
    pub cycle: u32,
    /// The target in force (`None`: the metric is followed but has no target).
    pub target: Option<Target>,
    /// When the cycle started.
    pub started_at: Millis,
    /// When the target runs out if the clock keeps running; `None` while paused,
    /// fulfilled, or without a target.
    pub due_at: Option<Millis>,
    /// Whether the clock is paused.
    pub paused: bool,
    /// When the metric was met (for resolution: the latest solve, cleared on reopen).
    pub fulfilled_at: Option<Millis>,
    /// When the warning share elapsed.
    pub warned_at: Option<Millis>,
    /// When the target elapsed unmet. A breach, once recorded, stands.
    pub breached_at: Option<Millis>,
    /// Time counted so far in the target's basis (business or calendar), in milliseconds.
    pub elapsed: Millis,
    /// Target minus elapsed: negative when overdue; `None` without a target.
    pub left: Option<Millis>,
}

/// The SLA state of a conversation at an instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlaState {
    /// The policy that applies now.
    pub policy_id: Option<i64>,
    /// Every metric that has started, in [`Metric::ALL`] order.
    pub metrics: Vec<MetricState>,
}

impl SlaState {
    /// The state of one metric, if it has started.
    pub fn metric(&self, metric: Metric) -> Option<&MetricState> {
        self.metrics.iter().find(|m| m.metric == metric)
    }
}

/// Whether clocks count in this status under this policy: new and open always; on-hold
/// unless the policy pauses it; pending (waiting on the customer), solved and closed never.
fn clocks_run(status: Status, policy: Option<&Policy>) -> bool {
    match status {
        Status::New | Status::Open => true,
        Status::OnHold => !policy.is_some_and(|p| p.on_hold_pauses),
        Status::Pending | Status::Solved | Status::Closed => false,
    }
}

fn emit(
    out: &mut Vec<SlaTransition>,
    at: Millis,
    metric: Metric,
    m: &MetricClock,
    kind: TransitionKind,
) {
    if m.target.is_some() || matches!(kind, TransitionKind::Applied { .. }) {
        out.push(SlaTransition {
            at,
            metric,
            cycle: m.cycle,
            kind,
        });
    }
}

fn applied(target: Option<Target>) -> TransitionKind {
    TransitionKind::Applied {
        policy_id: target.map(|t| t.policy_id),
        target: target.map(|t| t.duration),
        basis: target.map(|t| t.basis),
    }
}

impl SlaClock {
    /// A clock for a conversation of a customer in `organisation`, before any event.
    pub fn new(organisation: Option<i64>) -> SlaClock {
        SlaClock {
            organisation,
            facts: None,
            policy: None,
            last_at: Millis::MIN,
            public_message_seen: false,
            metrics: [
                MetricClock::idle(),
                MetricClock::idle(),
                MetricClock::idle(),
                MetricClock::idle(),
            ],
        }
    }

    /// Makes this clock what [`SlaClock::new`] makes, keeping its allocations: a recompute
    /// folds a million conversations through one clock.
    pub fn reset(&mut self, organisation: Option<i64>) {
        self.organisation = organisation;
        self.facts = None;
        self.policy = None;
        self.last_at = Millis::MIN;
        self.public_message_seen = false;
        for metric in &mut self.metrics {
            let mut periods = std::mem::take(&mut metric.periods);
            periods.clear();
            *metric = MetricClock::idle();
            metric.periods = periods;
        }
    }

    /// Applies one event of the conversation at instant `at`, appending the transitions it
    /// causes to `out`. Warnings and breaches due up to and including `at` are recorded
    /// first: a reply at the very instant a target runs out is late. Events must come in
    /// log order; one dated before an earlier one counts as happening with it.
    ///
    /// An event of a kind the clock does not read ([`ClockInput::of`] is `None`: an
    /// assignment, a merge, the clocks' own transitions) changes nothing, not even the
    /// instant the clock has reached: a clock is a function of its inputs alone, which is
    /// what lets a recompute read only those (`store::SLA_INPUT_KINDS`).
    pub fn apply(
        &mut self,
        policies: &PolicySet,
        at: Millis,
        event: &EventPayload,
        out: &mut Vec<SlaTransition>,
    ) {
        if let Some(input) = ClockInput::of(event) {
            self.apply_input(policies, at, &input, out);
        }
    }

    /// [`SlaClock::apply`] for what the clock reads of an input event (as
    /// [`crate::read_stored`] reads it from the log, say).
    pub fn apply_input(
        &mut self,
        policies: &PolicySet,
        at: Millis,
        input: &ClockInput<'_>,
        out: &mut Vec<SlaTransition>,
    ) {
        let at = at.max(self.last_at);
        self.advance_to(policies, at, out);
        match input {
            ClockInput::Created {
                channel,
                status,
                priority,
                group,
                ..
            } => {
                if self.facts.is_none() {
                    self.create(policies, at, *channel, *status, *priority, *group, out);
                }
                return;
            }
            _ if self.facts.is_none() => return,
            ClockInput::MessageAdded(message_kind) => {
                self.message_added(policies, at, *message_kind, out);
                self.settle(policies, at, out);
                return;
            }
            ClockInput::StatusChanged(to) => {
                // No condition looks at the status: the policy stays.
                self.update_facts(|f| f.status = *to);
                self.settle(policies, at, out);
                return;
            }
            ClockInput::PriorityChanged(to) => self.update_facts(|f| f.priority = *to),
            ClockInput::GroupChanged(to) => self.update_facts(|f| f.group = *to),
            ClockInput::TagAdded(tag) => self.update_facts(|f| {
                if let Err(position) = f.tags.binary_search_by(|t| t.as_str().cmp(tag)) {
                    f.tags.insert(position, tag.to_string());
                }
            }),
            ClockInput::TagRemoved(tag) => self.update_facts(|f| {
                if let Ok(position) = f.tags.binary_search_by(|t| t.as_str().cmp(tag)) {
                    f.tags.remove(position);
                }
            }),
        }
        if let Some(facts) = &self.facts {
            self.policy = policies.matching(facts);
        }
        self.settle(policies, at, out);
    }

    fn update_facts(&mut self, change: impl FnOnce(&mut Facts)) {
        if let Some(facts) = &mut self.facts {
            change(facts);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn create(
        &mut self,
        policies: &PolicySet,
        at: Millis,
        channel: Channel,
        status: Status,
        priority: Priority,
        group: Option<i64>,
        out: &mut Vec<SlaTransition>,
    ) {
        let facts = Facts {
            status,
            priority,
            channel,
            group,
            organisation: self.organisation,
            tags: Vec::new(),
        };
        self.policy = policies.matching(&facts);
        self.facts = Some(facts);
        self.start_cycle(policies, Metric::FirstReply, at, out);
        self.start_cycle(policies, Metric::Resolution, at, out);
        self.settle(policies, at, out);
    }

    fn message_added(
        &mut self,
        policies: &PolicySet,
        at: Millis,
        kind: MessageKind,
        out: &mut Vec<SlaTransition>,
    ) {
        match kind {
            MessageKind::Note => {}
            MessageKind::Customer => {
                self.public_message_seen = true;
                // Next reply measures each customer message after an agent has replied; a
                // cycle already waiting for a reply is not restarted by more messages.
                let first_reply = &self.metrics[Metric::FirstReply.index()];
                let next_reply = &self.metrics[Metric::NextReply.index()];
                if first_reply.phase == Phase::Fulfilled && !next_reply.is_live() {
                    self.start_cycle(policies, Metric::NextReply, at, out);
                }
            }
            MessageKind::Reply => {
                // An agent who opens a conversation with a public message has not replied
                // to anyone: the next public agent reply is the first reply.
                let opens_the_conversation = !self.public_message_seen;
                self.public_message_seen = true;
                if !opens_the_conversation {
                    self.fulfil(policies, Metric::FirstReply, at, out);
                }
                self.fulfil(policies, Metric::NextReply, at, out);
                self.fulfil(policies, Metric::PeriodicUpdate, at, out);
                self.start_cycle(policies, Metric::PeriodicUpdate, at, out);
            }
        }
    }

    fn start_cycle(
        &mut self,
        policies: &PolicySet,
        metric: Metric,
        at: Millis,
        out: &mut Vec<SlaTransition>,
    ) {
        let Some(facts) = &self.facts else { return };
        let run = clocks_run(facts.status, policies.policy(self.policy));
        let target = policies.target(self.policy, metric, facts.priority);
        let m = &mut self.metrics[metric.index()];
        *m = MetricClock {
            cycle: m.cycle + 1,
            phase: if run { Phase::Running } else { Phase::Paused },
            started_at: at,
            running_since: run.then_some(at),
            target,
            ..MetricClock::idle()
        };
        if target.is_some() {
            emit(out, at, metric, m, applied(target));
            if !run {
                emit(out, at, metric, m, TransitionKind::Paused);
            }
        }
        m.schedule(policies, at);
    }

    fn fulfil(
        &mut self,
        policies: &PolicySet,
        metric: Metric,
        at: Millis,
        out: &mut Vec<SlaTransition>,
    ) {
        let m = &mut self.metrics[metric.index()];
        if !m.is_live() {
            return;
        }
        m.stop_running(policies, at);
        m.phase = Phase::Fulfilled;
        m.fulfilled_at = Some(at);
        m.warn_at = None;
        emit(out, at, metric, m, TransitionKind::Fulfilled);
    }

    /// Brings every metric in line with the status and the policy: pauses, resumes,
    /// fulfils or reopens resolution, and re-targets cycles in progress.
    fn settle(&mut self, policies: &PolicySet, at: Millis, out: &mut Vec<SlaTransition>) {
        let Some(facts) = &self.facts else { return };
        let run = clocks_run(facts.status, policies.policy(self.policy));
        let solved = matches!(facts.status, Status::Solved | Status::Closed);
        let priority = facts.priority;
        for metric in Metric::ALL {
            let new_target = policies.target(self.policy, metric, priority);
            let m = &mut self.metrics[metric.index()];
            let mut reopened = false;
            if metric == Metric::Resolution {
                if solved && m.is_live() {
                    m.stop_running(policies, at);
                    m.phase = Phase::Fulfilled;
                    m.fulfilled_at = Some(at);
                    m.warn_at = None;
                    emit(out, at, metric, m, TransitionKind::Fulfilled);
                } else if !solved && m.phase == Phase::Fulfilled {
                    // Reopened: resolution counts on from where it stopped.
                    m.phase = Phase::Paused;
                    m.fulfilled_at = None;
                    reopened = true;
                }
            }
            if !m.is_live() {
                continue;
            }
            // Deadlines are absolute instants: they need recomputing only when the
            // target or the phase changes, which keeps an event cheap.
            let mut changed = reopened;
            if new_target != m.target {
                changed = true;
                m.target = new_target;
                // Re-measure the cycle so far under the new target's calendar and basis.
                let elapsed_closed: Millis = m
                    .periods
                    .iter()
                    .map(|(start, end)| m.measure(policies, *start, *end))
                    .sum();
                m.elapsed_closed = elapsed_closed;
                emit(out, at, metric, m, applied(new_target));
            }
            match (m.phase, run) {
                (Phase::Paused, true) => {
                    changed = true;
                    m.phase = Phase::Running;
                    m.running_since = Some(at);
                    emit(out, at, metric, m, TransitionKind::Resumed);
                }
                (Phase::Running, false) => {
                    changed = true;
                    m.stop_running(policies, at);
                    m.phase = Phase::Paused;
                    emit(out, at, metric, m, TransitionKind::Paused);
                }
                (Phase::Paused, false) if reopened => {
                    emit(out, at, metric, m, TransitionKind::Paused);
                }
                _ => {}
            }
            if changed {
                m.schedule(policies, at);
            }
        }
    }

    /// Records the warnings and breaches due at or before `now`, appending them to `out`
    /// (each with the instant it fell due). Advancing again to the same or an earlier
    /// instant records nothing.
    pub fn advance_to(&mut self, _policies: &PolicySet, now: Millis, out: &mut Vec<SlaTransition>) {
        if now < self.last_at {
            return;
        }
        self.last_at = now;
        for metric in Metric::ALL {
            let m = &mut self.metrics[metric.index()];
            if !m.is_live() || m.target.is_none() {
                continue;
            }
            if let (None, Some(warn_at)) = (m.warned_at, m.warn_at) {
                if warn_at <= now {
                    m.warned_at = Some(warn_at);
                    emit(out, warn_at, metric, m, TransitionKind::Warned);
                }
            }
            if let (None, Some(due_at)) = (m.breached_at, m.due_at) {
                if due_at <= now {
                    m.breached_at = Some(due_at);
                    emit(out, due_at, metric, m, TransitionKind::Breached);
                }
            }
        }
    }

    /// Records the warnings and breaches due at or before `now` like [`SlaClock::advance_to`],
    /// but moves the clock only to the instant each one fell due, not to `now`: an event
    /// that is folded in later (one that committed a moment after `now` was read) still
    /// counts at its own instant, and the stored clock is a function of the log and the
    /// deadlines passed, so recording the same history again gives the same clock.
    ///
    /// ```
    /// # use sla::{Conditions, Metric, Policy, PolicySet, SlaClock, TargetRule, TimeBasis};
    /// # use domain::{Channel, EventPayload, Priority, Status};
    /// let minute = 60_000;
    /// let policies = PolicySet::new(
    ///     vec![Policy {
    ///         id: 1,
    ///         name: "Everyone".into(),
    ///         conditions: Conditions::default(),
    ///         calendar: None,
    ///         targets: vec![TargetRule {
    ///             metric: Metric::FirstReply,
    ///             priority: Priority::Normal,
    ///             minutes: 60,
    ///             basis: TimeBasis::Calendar,
    ///         }],
    ///         warn_at_percent: None,
    ///         on_hold_pauses: false,
    ///     }],
    ///     vec![],
    /// )
    /// .unwrap();
    /// let created = EventPayload::Created {
    ///     subject: "Help".into(),
    ///     channel: Channel::Email,
    ///     status: Status::New,
    ///     priority: Priority::Normal,
    ///     customer_id: 1,
    ///     group_id: None,
    ///     assignee_id: None,
    /// };
    /// let (mut at_now, mut through_due) = (SlaClock::new(None), SlaClock::new(None));
    /// let mut out = Vec::new();
    /// at_now.apply(&policies, 0, &created, &mut out);
    /// through_due.apply(&policies, 0, &created, &mut out);
    /// out.clear();
    /// through_due.advance_through_due(&policies, 90 * minute, &mut out);
    /// assert_eq!(out.len(), 1, "the breach at 60 minutes");
    /// // Advanced to 60 minutes (the breach), not to 90: the same clock at any later `now`.
    /// let mut later = through_due.clone();
    /// later.advance_through_due(&policies, 120 * minute, &mut Vec::new());
    /// assert_eq!(later, through_due);
    /// at_now.advance_to(&policies, 90 * minute, &mut Vec::new());
    /// assert_ne!(at_now, through_due);
    /// ```
    pub fn advance_through_due(
        &mut self,
        policies: &PolicySet,
        now: Millis,
        out: &mut Vec<SlaTransition>,
    ) {
        // Each step records at least one of at most two deadlines per metric.
        for _ in 0..2 * Metric::ALL.len() {
            match self.next_deadline() {
                Some(deadline) if deadline.at <= now && deadline.at >= self.last_at => {
                    self.advance_to(policies, deadline.at, out)
                }
                Some(deadline) if deadline.at <= now => {
                    // Due before the last event folded in: record it there.
                    let at = self.last_at;
                    self.advance_to(policies, at, out)
                }
                _ => return,
            }
        }
    }

    /// The next warning or breach to record, for a scheduler to index. `None` when every
    /// clock is paused, fulfilled, already breached, or without a target.
    pub fn next_deadline(&self) -> Option<Deadline> {
        let mut next: Option<Deadline> = None;
        for metric in Metric::ALL {
            let m = &self.metrics[metric.index()];
            if !m.is_live() || m.target.is_none() {
                continue;
            }
            let candidates = [
                (
                    m.warned_at.is_none().then_some(m.warn_at).flatten(),
                    DeadlineKind::Warning,
                ),
                (
                    m.breached_at.is_none().then_some(m.due_at).flatten(),
                    DeadlineKind::Breach,
                ),
            ];
            for (at, kind) in candidates {
                if let Some(at) = at {
                    if next.is_none_or(|n| at < n.at) {
                        next = Some(Deadline { at, metric, kind });
                    }
                }
            }
        }
        next
    }

    /// When the earliest running target runs out (in the past when it is overdue): the
    /// `due_at` of [`SlaClock::state`]'s earliest running metric, without measuring time.
    pub fn next_breach_at(&self) -> Option<Millis> {
        self.metrics
            .iter()
            .filter(|m| m.phase == Phase::Running)
            .filter_map(|m| m.due_at)
            .min()
    }

    /// Whether a recorded warning or breach still calls for escalation: its cycle is the
    /// metric's current one and is still in progress (running or paused, not met). A warning
    /// or breach of a cycle that was met, or of an earlier cycle, is history: nobody can act
    /// on it any more.
    pub fn calls_for_escalation(&self, transition: &SlaTransition) -> bool {
        let m = &self.metrics[transition.metric.index()];
        matches!(
            transition.kind,
            TransitionKind::Warned | TransitionKind::Breached
        ) && m.cycle == transition.cycle
            && m.is_live()
    }

    /// Where each metric stands at `now` (at or after the last event; advance first so
    /// that warnings and breaches due by then are recorded).
    pub fn state(&self, policies: &PolicySet, now: Millis) -> SlaState {
        let now = now.max(self.last_at);
        let metrics = Metric::ALL
            .iter()
            .map(|metric| (*metric, &self.metrics[metric.index()]))
            .filter(|(_, m)| m.phase != Phase::Idle)
            .map(|(metric, m)| {
                let elapsed = m.elapsed_at(policies, now);
                MetricState {
                    metric,
                    cycle: m.cycle,
                    target: m.target,
                    started_at: m.started_at,
                    due_at: if m.phase == Phase::Running {
                        m.due_at
                    } else {
                        None
                    },
                    paused: m.phase == Phase::Paused,
                    fulfilled_at: m.fulfilled_at,
                    warned_at: m.warned_at,
                    breached_at: m.breached_at,
                    elapsed,
                    left: m.target.map(|t| t.duration - elapsed),
                }
            })
            .collect();
        SlaState {
            policy_id: policies.policy(self.policy).map(|p| p.id),
            metrics,
        }
    }
}

/// Appends `[start, end)` to the running periods, joining it to the last one when they
/// touch (a re-target closes no period, so this keeps the list short).
fn push_period(periods: &mut Vec<(Millis, Millis)>, start: Millis, end: Millis) {
    match periods.last_mut() {
        Some(last) if last.1 == start => last.1 = end,
        _ if end > start => periods.push((start, end)),
        _ => {}
    }
}

/// The result of folding a whole log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recomputed {
    /// The clock after the last event, advanced to `now` (keep it for the live path).
    pub clock: SlaClock,
    /// Where each metric stands at `now`.
    pub state: SlaState,
    /// Every transition that should be in the log by `now`, in time order.
    pub transitions: Vec<SlaTransition>,
    /// The next warning or breach after `now`.
    pub next_deadline: Option<Deadline>,
}

/// Rebuilds a conversation's SLA state from its whole history: the events in log order
/// (with their instants), under `policies`, as of `now`. Deterministic: the same input
/// always gives the same transitions, so [`crate::diff_transitions`] against the recorded
/// ones tells what a recompute must append (nothing, the second time).
pub fn recompute<'e>(
    policies: &PolicySet,
    organisation: Option<i64>,
    events: impl IntoIterator<Item = (Millis, &'e EventPayload)>,
    now: Millis,
) -> Recomputed {
    let mut clock = SlaClock::new(organisation);
    // A typical conversation records a few dozen transitions: allocate once.
    let mut transitions = Vec::with_capacity(32);
    for (at, event) in events {
        clock.apply(policies, at, event, &mut transitions);
    }
    clock.advance_to(policies, now, &mut transitions);
    transitions.sort_by_key(|t| t.at);
    Recomputed {
        state: clock.state(policies, now),
        next_deadline: clock.next_deadline(),
        clock,
        transitions,
    }
}
