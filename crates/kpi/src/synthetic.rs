//! A deterministic synthetic event stream with the shape of a help desk's log, for the roll-up
//! benchmarks (`cargo bench -p kpi`, `rapport bench kpi`) and tests. Not used by the product.

use domain::{Channel, EventPayload, MessageKind, Priority, SlaMetric, Status};

/// One synthetic event: conversation, time (ms), actor kind, actor id, payload.
pub type SyntheticEvent = (i64, i64, &'static str, Option<i64>, EventPayload);

/// A small deterministic generator (SplitMix64), so runs are comparable.
struct Mix(u64);

impl Mix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// About `events` events (10 per conversation) over 90 days starting at `start_ms`, in time
/// order per conversation and conversation order overall.
pub fn events(events: usize, start_ms: i64) -> Vec<SyntheticEvent> {
    stream(events, start_ms).collect()
}

/// The events of [`events`], made as they are taken (a big log need not fit in memory).
pub fn stream(events: usize, start_ms: i64) -> impl Iterator<Item = SyntheticEvent> {
    stream_over(events, start_ms, 90)
}

/// [`stream`] with the conversations created over `days` days instead of 90 (e.g. more events
/// at the density of a log already loaded).
pub fn stream_over(
    events: usize,
    start_ms: i64,
    days: i64,
) -> impl Iterator<Item = SyntheticEvent> {
    let mut mix = Mix(42);
    let conversations = events.div_ceil(10);
    let span = days.max(1) * 86_400_000;
    (0..conversations as i64)
        .flat_map(move |c| conversation(&mut mix, c, conversations, start_ms, span))
        .take(events)
}

/// The ten events of conversation `c` of `conversations` created over `span` milliseconds.
fn conversation(
    mix: &mut Mix,
    c: i64,
    conversations: usize,
    start_ms: i64,
    span: i64,
) -> Vec<SyntheticEvent> {
    let mut out = Vec::with_capacity(10);
    {
        let created = start_ms + (c * span) / conversations.max(1) as i64;
        let channel = [Channel::Email, Channel::Web, Channel::Chat][mix.below(3) as usize];
        let priority = [
            Priority::Low,
            Priority::Normal,
            Priority::High,
            Priority::Urgent,
        ][mix.below(4) as usize];
        let group = 1 + mix.below(6) as i64;
        let agent = 1 + mix.below(40) as i64;
        let customer = 1 + mix.below(100_000) as i64;
        out.push((
            c,
            created,
            "customer",
            Some(customer),
            EventPayload::Created {
                subject: String::new(),
                channel,
                status: Status::New,
                priority,
                customer_id: customer,
                group_id: Some(group),
                assignee_id: None,
            },
        ));
        let mut t = created + 1000;
        out.push((
            c,
            t,
            "agent",
            Some(agent),
            EventPayload::AssigneeChanged {
                from: None,
                to: Some(agent),
            },
        ));
        t += 1000;
        out.push((
            c,
            t,
            "agent",
            Some(agent),
            EventPayload::TagAdded {
                tag: ["billing", "login", "shipping", "refund"][mix.below(4) as usize].to_string(),
            },
        ));
        t += 60_000 + mix.below(8 * 3_600_000) as i64;
        out.push((
            c,
            t,
            "agent",
            Some(agent),
            EventPayload::MessageAdded {
                message_id: c * 10,
                message_kind: MessageKind::Reply,
                channel,
            },
        ));
        out.push((
            c,
            t,
            "system",
            None,
            EventPayload::SlaFulfilled {
                metric: SlaMetric::FirstReply,
                cycle: 1,
                at: t,
            },
        ));
        t += 60_000 + mix.below(24 * 3_600_000) as i64;
        out.push((
            c,
            t,
            "customer",
            Some(customer),
            EventPayload::MessageAdded {
                message_id: c * 10 + 1,
                message_kind: MessageKind::Customer,
                channel,
            },
        ));
        t += 60_000 + mix.below(4 * 3_600_000) as i64;
        out.push((
            c,
            t,
            "agent",
            Some(agent),
            EventPayload::MessageAdded {
                message_id: c * 10 + 2,
                message_kind: MessageKind::Reply,
                channel,
            },
        ));
        out.push((
            c,
            t,
            "agent",
            Some(agent),
            EventPayload::StatusChanged {
                from: Status::Open,
                to: Status::Solved,
            },
        ));
        out.push((
            c,
            t,
            "system",
            None,
            EventPayload::SlaFulfilled {
                metric: SlaMetric::Resolution,
                cycle: 1,
                at: t,
            },
        ));
        t += 86_400_000;
        out.push((
            c,
            t,
            "customer",
            Some(customer),
            EventPayload::SurveyAnswered {
                survey_id: c,
                kind: "csat".to_string(),
                score: 1 + mix.below(5) as i64,
                scale_min: 1,
                scale_max: 5,
                comment: None,
                kudos_agent_id: None,
            },
        ));
    }
    out
}
