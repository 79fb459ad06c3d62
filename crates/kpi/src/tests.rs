#![allow(clippy::unwrap_used)]
use std::collections::HashMap;

use domain::{Channel, EventPayload, MessageKind, Priority, SlaMetric, Status};

use crate::catalogue::{catalogue, find};
use crate::figure::{compare, figure, Inputs};
use crate::fold::{apply, day_of, Aggregate, ConversationFacts, FoldEvent, FoldPayload, Rollup};
use crate::measure::{DimKind, Measure, Slice};

const T0: i64 = 1_767_225_600_000; // 2026-01-01T00:00:00Z
const MIN: i64 = 60_000;

fn created(group: Option<i64>) -> EventPayload {
    EventPayload::Created {
        subject: "s".into(),
        channel: Channel::Email,
        status: Status::New,
        priority: Priority::Normal,
        customer_id: 7,
        group_id: group,
        assignee_id: None,
    }
}

fn reply() -> EventPayload {
    EventPayload::MessageAdded {
        message_id: 1,
        message_kind: MessageKind::Reply,
        channel: Channel::Email,
    }
}

fn customer_message() -> EventPayload {
    EventPayload::MessageAdded {
        message_id: 2,
        message_kind: MessageKind::Customer,
        channel: Channel::Email,
    }
}

fn status(from: Status, to: Status) -> EventPayload {
    EventPayload::StatusChanged { from, to }
}

fn fold(events: &[(i64, &str, Option<i64>, EventPayload)]) -> (Option<ConversationFacts>, Rollup) {
    let mut facts = None;
    let mut rollup = Rollup::default();
    for (at, actor, id, payload) in events {
        let Some(payload) = FoldPayload::of(payload) else {
            continue;
        };
        apply(
            &mut facts,
            FoldEvent {
                at: *at,
                actor_kind: actor,
                actor_id: *id,
                payload,
            },
            None,
            &mut rollup,
        );
    }
    (facts, rollup)
}

fn agg(rollup: &Rollup, measure: Measure, slice: Slice) -> Option<&Aggregate> {
    rollup
        .iter()
        .find(|(k, _)| k.measure == measure && k.slice == slice)
        .map(|(_, a)| a)
}

#[test]
fn first_reply_resolution_and_first_contact_resolution() {
    let (_, rollup) = fold(&[
        (T0, "customer", Some(7), created(Some(3))),
        (T0 + 30 * MIN, "agent", Some(5), reply()),
        (T0 + 40 * MIN, "agent", Some(5), reply()),
        (
            T0 + 90 * MIN,
            "agent",
            Some(5),
            status(Status::Open, Status::Solved),
        ),
    ]);
    let first = agg(&rollup, Measure::FirstReply, Slice::all()).unwrap();
    assert_eq!((first.count, first.sum), (1, 1800.0));
    // The replying agent gets the first reply; the group of the conversation too.
    assert!(agg(&rollup, Measure::FirstReply, Slice::of(DimKind::Agent, "5")).is_some());
    assert!(agg(&rollup, Measure::FirstReply, Slice::of(DimKind::Group, "3")).is_some());
    let resolution = agg(&rollup, Measure::Resolution, Slice::all()).unwrap();
    assert_eq!(resolution.sum, 5400.0);
    // Two replies: not a first-contact resolution.
    let solved = agg(&rollup, Measure::Solved, Slice::all()).unwrap();
    assert_eq!((solved.count, solved.sum), (1, 0.0));
    assert_eq!(
        agg(&rollup, Measure::Replies, Slice::all()).unwrap().sum,
        2.0
    );
}

#[test]
fn an_agents_opening_message_is_not_the_first_reply() {
    let (_, rollup) = fold(&[
        (T0, "agent", Some(5), created(None)),
        (T0, "agent", Some(5), reply()),
        (T0 + 60 * MIN, "customer", Some(7), customer_message()),
        (T0 + 70 * MIN, "agent", Some(5), reply()),
    ]);
    assert_eq!(
        agg(&rollup, Measure::FirstReply, Slice::all()).unwrap().sum,
        4200.0
    );
}

#[test]
fn reopen_counts_once_and_resolution_only_the_first_solve() {
    let (_, rollup) = fold(&[
        (T0, "customer", Some(7), created(None)),
        (T0 + MIN, "agent", Some(5), reply()),
        (
            T0 + 2 * MIN,
            "agent",
            Some(5),
            status(Status::Open, Status::Solved),
        ),
        (
            T0 + 3 * MIN,
            "customer",
            Some(7),
            status(Status::Solved, Status::Open),
        ),
        (
            T0 + 4 * MIN,
            "agent",
            Some(5),
            status(Status::Open, Status::Solved),
        ),
        (
            T0 + 5 * MIN,
            "customer",
            Some(7),
            status(Status::Solved, Status::Open),
        ),
    ]);
    assert_eq!(
        agg(&rollup, Measure::Reopened, Slice::all()).unwrap().count,
        1
    );
    assert_eq!(
        agg(&rollup, Measure::Resolution, Slice::all())
            .unwrap()
            .count,
        1
    );
    let solved = agg(&rollup, Measure::Solved, Slice::all()).unwrap();
    assert_eq!(
        (solved.count, solved.sum),
        (1, 1.0),
        "one reply then solved: first contact"
    );
}

#[test]
fn an_sla_cycle_counts_once_and_a_breach_is_never_met() {
    let breach = EventPayload::SlaBreached {
        metric: SlaMetric::FirstReply,
        cycle: 1,
        at: T0 + MIN,
    };
    let fulfil = EventPayload::SlaFulfilled {
        metric: SlaMetric::FirstReply,
        cycle: 1,
        at: T0 + 2 * MIN,
    };
    let fulfil_next = EventPayload::SlaFulfilled {
        metric: SlaMetric::NextReply,
        cycle: 2,
        at: T0 + 3 * MIN,
    };
    let (_, rollup) = fold(&[
        (T0, "customer", Some(7), created(None)),
        (T0 + MIN, "system", None, breach),
        (T0 + 2 * MIN, "system", None, fulfil.clone()),
        (T0 + 2 * MIN, "system", None, fulfil),
        (T0 + 3 * MIN, "system", None, fulfil_next),
    ]);
    let first = agg(&rollup, Measure::SlaFirstReply, Slice::all()).unwrap();
    assert_eq!((first.count, first.sum), (1, 0.0));
    let next = agg(&rollup, Measure::SlaNextReply, Slice::all()).unwrap();
    assert_eq!((next.count, next.sum), (1, 1.0));
}

#[test]
fn events_of_an_unseen_conversation_are_ignored_and_tags_count_volume_once() {
    let (facts, rollup) = fold(&[(T0, "agent", Some(5), reply())]);
    assert!(facts.is_none() && rollup.is_empty());
    let tag = |t: &str| EventPayload::TagAdded { tag: t.into() };
    let (_, rollup) = fold(&[
        (T0, "customer", Some(7), created(None)),
        (T0 + 2 * 86_400_000, "agent", Some(5), tag("billing")),
        (
            T0 + 2 * 86_400_000,
            "agent",
            Some(5),
            EventPayload::TagRemoved {
                tag: "billing".into(),
            },
        ),
        (T0 + 3 * 86_400_000, "agent", Some(5), tag("billing")),
    ]);
    let by_tag: Vec<_> = rollup
        .iter()
        .filter(|(k, _)| k.slice.kind == DimKind::Tag)
        .collect();
    assert_eq!(by_tag.len(), 1);
    // Volume by contact reason is bucketed on the creation day.
    assert_eq!(by_tag[0].0.day, day_of(T0));
    assert_eq!(by_tag[0].1.count, 1);
}

#[test]
fn surveys_feed_csat_ces_and_nps() {
    let answer = |kind: &str, score, min, max| EventPayload::SurveyAnswered {
        survey_id: 1,
        kind: kind.into(),
        score,
        scale_min: min,
        scale_max: max,
        comment: None,
        kudos_agent_id: Some(9),
    };
    let (_, rollup) = fold(&[
        (T0, "customer", Some(7), created(None)),
        (T0 + MIN, "customer", Some(7), answer("csat", 4, 1, 5)),
        (T0 + MIN, "customer", Some(7), answer("csat", 3, 1, 5)),
        (T0 + MIN, "customer", Some(7), answer("nps", 10, 0, 10)),
        (T0 + MIN, "customer", Some(7), answer("ces", 6, 1, 7)),
    ]);
    let csat = agg(&rollup, Measure::Csat, Slice::all()).unwrap();
    assert_eq!((csat.count, csat.sum), (2, 1.0));
    assert!(
        agg(&rollup, Measure::Csat, Slice::of(DimKind::Agent, "9")).is_some(),
        "kudos names the agent"
    );
    assert_eq!(agg(&rollup, Measure::Nps, Slice::all()).unwrap().count, 1);
    assert_eq!(agg(&rollup, Measure::Ces, Slice::all()).unwrap().sum, 6.0);
}

fn inputs_with(measure: Measure, values: &[f64]) -> Inputs {
    let mut a = Aggregate::default();
    for &v in values {
        a.observe(measure, v);
    }
    let mut measures = HashMap::new();
    measures.insert(measure, a);
    Inputs {
        measures,
        backlog_ages: Default::default(),
    }
}

#[test]
fn figures_carry_n_intervals_and_say_when_cases_are_too_few() {
    let csat = find("csat").unwrap();
    let few = inputs_with(Measure::Csat, &[1.0, 1.0, 0.0]);
    let f = figure(&csat, &csat.defaults, &few);
    assert_eq!(f.n, 3);
    assert!(f.too_few_cases);
    assert_eq!(f.status, "too_few_cases");
    let many: Vec<f64> = (0..200)
        .map(|i| if i % 10 == 0 { 0.0 } else { 1.0 })
        .collect();
    let f = figure(&csat, &csat.defaults, &inputs_with(Measure::Csat, &many));
    assert_eq!(f.value, Some(90.0));
    let wilson = stats::proportion::wilson(180, 200).unwrap();
    assert!((f.ci_low.unwrap() - 100.0 * wilson.low).abs() < 1e-9);
    assert_eq!(f.status, "green");
    let empty = figure(&csat, &csat.defaults, &Inputs::default());
    assert_eq!((empty.value, empty.n, empty.status), (None, 0, "unknown"));
}

#[test]
fn durations_are_red_when_slow_and_change_is_tested() {
    let first = find("first_reply_median").unwrap();
    let slow: Vec<f64> = (0..100).map(|i| 30.0 * 3600.0 + f64::from(i)).collect();
    let f = figure(
        &first,
        &first.defaults,
        &inputs_with(Measure::FirstReply, &slow),
    );
    assert_eq!(f.status, "red");
    let fast: Vec<f64> = (0..100).map(|i| 600.0 + f64::from(i)).collect();
    let test = compare(
        &first,
        &inputs_with(Measure::FirstReply, &slow),
        &inputs_with(Measure::FirstReply, &fast),
    )
    .unwrap();
    assert!(test.significant);
    let same = compare(
        &first,
        &inputs_with(Measure::FirstReply, &fast),
        &inputs_with(Measure::FirstReply, &fast),
    )
    .unwrap();
    assert!(!same.significant);
}

#[test]
fn the_catalogue_documents_every_kpi_and_keys_are_unique() {
    let all = catalogue();
    let mut keys: Vec<_> = all.iter().map(|k| k.key).collect();
    keys.sort_unstable();
    keys.dedup();
    assert_eq!(keys.len(), all.len());
    for k in &all {
        assert!(
            !k.name.is_empty() && k.definition.len() > 20 && !k.formula.is_empty(),
            "{} undocumented",
            k.key
        );
    }
    for required in [
        "first_reply_median",
        "resolution_p90",
        "sla_resolution",
        "backlog",
        "reopen_rate",
        "first_contact_resolution",
        "replies_per_conversation",
        "volume",
        "csat",
        "ces",
        "nps",
    ] {
        assert!(find(required).is_some(), "{required} missing");
    }
}

#[test]
fn the_synthetic_stream_folds_into_every_measure_it_feeds() {
    let mut facts: HashMap<i64, Option<ConversationFacts>> = HashMap::new();
    let mut rollup = Rollup::default();
    for (c, at, actor, id, payload) in crate::synthetic::events(10_000, T0) {
        apply(
            facts.entry(c).or_default(),
            FoldEvent {
                at,
                actor_kind: actor,
                actor_id: id,
                payload: FoldPayload::of(&payload).unwrap(),
            },
            None,
            &mut rollup,
        );
    }
    let created: u64 = rollup
        .iter()
        .filter(|(k, _)| k.measure == Measure::Created && k.slice == Slice::all())
        .map(|(_, a)| a.count)
        .sum();
    assert_eq!(created, 1000);
}

/// A figure reads only the measures its computation names, so loading just those (one KPI's
/// page) gives the same figure and the same comparison as loading every measure.
#[test]
fn each_figure_needs_only_the_measures_its_computation_names() {
    let mut facts: HashMap<i64, Option<ConversationFacts>> = HashMap::new();
    let mut rollup = Rollup::default();
    for (conversation, at, actor, id, payload) in crate::synthetic::events(5_000, T0) {
        apply(
            facts.entry(conversation).or_default(),
            FoldEvent {
                at,
                actor_kind: actor,
                actor_id: id,
                payload: FoldPayload::of(&payload).unwrap(),
            },
            None,
            &mut rollup,
        );
    }
    let halves = |first: bool| {
        let mut measures: HashMap<Measure, Aggregate> = HashMap::new();
        for (key, a) in rollup.iter() {
            if key.slice == Slice::all() && (key.day % 2 == 0) == first {
                measures.entry(key.measure).or_default().merge(a);
            }
        }
        measures
    };
    let (all_now, all_before) = (halves(true), halves(false));
    let only = |measures: &HashMap<Measure, Aggregate>, needed: &[Measure]| Inputs {
        measures: measures
            .iter()
            .filter(|(m, _)| needed.contains(m))
            .map(|(m, a)| (*m, a.clone()))
            .collect(),
        backlog_ages: Default::default(),
    };
    let full = |measures: &HashMap<Measure, Aggregate>| only(measures, Measure::ALL);
    let mut compared = 0;
    for definition in catalogue() {
        let needed = definition.computation.measures();
        assert_eq!(
            needed.is_empty(),
            definition.computation.is_live(),
            "{}",
            definition.key
        );
        let (now, before) = (only(&all_now, &needed), only(&all_before, &needed));
        assert_eq!(
            figure(&definition, &definition.defaults, &now),
            figure(&definition, &definition.defaults, &full(&all_now)),
            "{}",
            definition.key
        );
        let change = compare(&definition, &before, &now);
        assert_eq!(
            change,
            compare(&definition, &full(&all_before), &full(&all_now)),
            "{}",
            definition.key
        );
        compared += usize::from(change.is_some());
    }
    assert!(compared > 5, "the synthetic log makes most KPIs comparable");
}

fn sorted(rollup: &Rollup) -> Vec<(crate::fold::BucketKey, Aggregate)> {
    let mut buckets: Vec<_> = rollup.iter().map(|(k, a)| (k, a.clone())).collect();
    buckets.sort_by(|a, b| a.0.cmp(&b.0));
    buckets
}

/// The fold reads stored payloads through its own narrow shapes; they must read exactly what the
/// full payload says, for every kind it folds, escapes in text included.
#[test]
fn stored_payloads_read_as_the_payloads_they_were_written_from() {
    let mut payloads: Vec<EventPayload> = crate::synthetic::events(2_000, T0)
        .into_iter()
        .map(|(_, _, _, _, payload)| payload)
        .collect();
    payloads.extend([
        EventPayload::TagAdded {
            tag: "caf\u{e9} \"quoted\" \\ tab\t".into(),
        },
        EventPayload::TagRemoved { tag: "x\ny".into() },
        EventPayload::SlaBreached {
            metric: SlaMetric::Resolution,
            cycle: 3,
            at: T0,
        },
        EventPayload::GroupChanged {
            from: Some(1),
            to: None,
        },
        EventPayload::PriorityChanged {
            from: Priority::Low,
            to: Priority::Urgent,
        },
        EventPayload::SurveyAnswered {
            survey_id: 1,
            kind: "nps".into(),
            score: 9,
            scale_min: 0,
            scale_max: 10,
            comment: Some("fine, \"really\"".into()),
            kudos_agent_id: None,
        },
        EventPayload::SurveyAnswered {
            survey_id: 1,
            kind: "unknown".into(),
            score: 9,
            scale_min: 0,
            scale_max: 10,
            comment: None,
            kudos_agent_id: None,
        },
        EventPayload::SubjectChanged {
            from: "a".into(),
            to: "b".into(),
        },
    ]);
    for payload in &payloads {
        let json = payload.to_json();
        let read = FoldPayload::parse(payload.kind(), &json).unwrap();
        assert_eq!(read, FoldPayload::of(payload), "{json}");
        assert!(
            read.is_some()
                || !crate::FOLDED_KINDS.contains(&payload.kind())
                || json.contains("unknown"),
            "{json}"
        );
    }
    assert!(FoldPayload::parse("status_changed", "{\"kind\":\"status_changed\"}").is_err());
    assert!(FoldPayload::parse("tag_added", "not json").is_err());
}

/// Folding the conversations in two parts (as two threads do) and merging the parts gives the
/// same buckets as folding everything in one.
#[test]
fn folding_in_parts_and_merging_equals_folding_at_once() {
    let events = crate::synthetic::events(20_000, T0);
    let fold_where = |keep: &dyn Fn(i64) -> bool| {
        let mut facts: HashMap<i64, Option<ConversationFacts>> = HashMap::new();
        let mut rollup = Rollup::default();
        for (c, at, actor, id, payload) in &events {
            if keep(*c) {
                apply(
                    facts.entry(*c).or_default(),
                    FoldEvent {
                        at: *at,
                        actor_kind: actor,
                        actor_id: *id,
                        payload: FoldPayload::of(payload).unwrap(),
                    },
                    None,
                    &mut rollup,
                );
            }
        }
        rollup
    };
    let whole = fold_where(&|_| true);
    // Different tag orders on each side: the merge renumbers tags by name.
    let mut merged = fold_where(&|c| c % 3 == 0);
    merged.merge(fold_where(&|c| c % 3 != 0));
    let (whole, merged) = (sorted(&whole), sorted(&merged));
    assert_eq!(whole.len(), merged.len());
    for ((key, a), (other_key, b)) in whole.iter().zip(&merged) {
        assert_eq!(key, other_key);
        assert_eq!((a.count, &a.hist), (b.count, &b.hist), "{key:?}");
        assert!(
            (a.sum - b.sum).abs() <= 1e-6 * a.sum.abs().max(1.0),
            "{key:?}"
        );
    }
}

/// The facts a rebuild stores per conversation read back as they were, tags with spaces,
/// quotes and separators included; facts stored as JSON by earlier versions still read.
#[test]
fn conversation_facts_round_trip_through_their_stored_text() {
    let mut facts = ConversationFacts {
        created_at: T0,
        channel: Channel::Chat,
        priority: Priority::Urgent,
        group: Some(3),
        assignee: None,
        tags: vec!["a b".into(), "x;\"y\" ]".into()],
        counted_tags: vec!["a b".into(), "gone".into()],
        opened_by_agent: true,
        opening_seen: false,
        first_reply_at: Some(T0 + MIN),
        first_solved_at: None,
        reopened_at: Some(T0 + 9 * MIN),
        public_replies: 7,
        solved: true,
        sla_counted: vec![(0, 1), (3, 12)],
    };
    let text = facts.encode();
    assert!(text.len() < 100, "{text}");
    assert_eq!(
        ConversationFacts::decode(&text, facts.columns()),
        Ok(facts.clone())
    );
    facts.tags.clear();
    facts.counted_tags.clear();
    facts.sla_counted.clear();
    facts.opened_by_agent = false;
    facts.solved = false;
    let text = facts.encode();
    assert_eq!(
        ConversationFacts::decode(&text, facts.columns()),
        Ok(facts.clone())
    );
    let json = serde_json::to_string(&facts).unwrap();
    assert_eq!(
        ConversationFacts::decode(&json, crate::fold::FactColumns::default()),
        Ok(facts)
    );
    assert!(ConversationFacts::decode("email", Default::default()).is_err());
    assert!(ConversationFacts::decode("fax low - 0 - [[],[]]", Default::default()).is_err());
    assert!(ConversationFacts::decode("email low - x - [[],[]]", Default::default()).is_err());
    assert!(ConversationFacts::decode("email low - 0 1 [[],[]]", Default::default()).is_err());
}

/// With a business calendar, buckets are the team's local days: around the spring change in
/// Brussels (UTC+1 before, UTC+2 after), an instant just after local midnight belongs to the
/// new local day although it is still the previous day in UTC. Without a calendar, UTC days.
#[test]
fn buckets_are_local_days_of_the_calendar_across_a_daylight_saving_change() {
    let brussels = calendar::CalendarSpec {
        time_zone: "Europe/Brussels".into(),
        hours: "mon-fri 09:00-17:00".into(),
        holidays: vec![],
        exceptions: vec![],
    }
    .build()
    .unwrap();
    let at = |text: &str| calendar::parse_instant(text).unwrap();
    // Noon UTC falls on the same date in Brussels.
    let local = |date: &str| brussels.local_day(at(&format!("{date}T12:00:00Z"))) as i32;
    // 00:30 on 28 March (UTC+1), created; 00:30 on 30 March (UTC+2, after the change), solved.
    let created = at("2026-03-27T23:30:00Z");
    let solved = at("2026-03-29T22:30:00Z");
    let events = [
        (created, "customer", Some(7), created_payload()),
        (
            solved,
            "agent",
            Some(5),
            status(Status::Open, Status::Solved),
        ),
    ];
    let days_of = |calendar: Option<&calendar::Calendar>| {
        let mut facts = None;
        let mut rollup = Rollup::default();
        for (at, actor, id, payload) in &events {
            apply(
                &mut facts,
                FoldEvent {
                    at: *at,
                    actor_kind: actor,
                    actor_id: *id,
                    payload: FoldPayload::of(payload).unwrap(),
                },
                calendar,
                &mut rollup,
            );
        }
        let day = |measure| {
            rollup
                .iter()
                .find(|(k, _)| k.measure == measure && k.slice == Slice::all())
                .map(|(k, _)| k.day)
                .unwrap()
        };
        (day(Measure::Created), day(Measure::Resolution))
    };
    assert_eq!(
        days_of(Some(&brussels)),
        (local("2026-03-28"), local("2026-03-30"))
    );
    assert_eq!(days_of(None), (day_of(created), day_of(solved)));
    assert_eq!(
        (day_of(created), day_of(solved)),
        (local("2026-03-27"), local("2026-03-29"))
    );
    // A local day's bounds: the spring day is 23 hours long.
    let spring = local("2026-03-29");
    assert_eq!(
        crate::fold::local_day_start(Some(&brussels), spring + 1)
            - crate::fold::local_day_start(Some(&brussels), spring),
        23 * 60 * MIN
    );
    assert_eq!(
        crate::fold::local_day_of(Some(&brussels), at("2026-03-28T23:00:00Z")),
        spring
    );
}

fn created_payload() -> EventPayload {
    created(None)
}

/// One random event of a random log: conversation, milliseconds after the previous event,
/// actor (0 customer, 1 agent, 2 API token, 3 system), actor id, what happened, and a small
/// number the payload takes its values from.
type RandomEvent = (i64, i64, u8, i64, u8, u8);

fn random_payload(what: u8, n: u8, at: i64) -> FoldPayload<'static> {
    let status = [
        Status::New,
        Status::Open,
        Status::Pending,
        Status::Solved,
        Status::Closed,
    ][usize::from(n) % 5];
    let priority = [
        Priority::Low,
        Priority::Normal,
        Priority::High,
        Priority::Urgent,
    ][usize::from(n) % 4];
    let id = (!n.is_multiple_of(3)).then_some(i64::from(n % 4));
    let tag =
        std::borrow::Cow::Borrowed(["billing", "login", "a tag", "\"q\""][usize::from(n) % 4]);
    match what % 12 {
        0 => FoldPayload::Created {
            channel: [Channel::Email, Channel::Web, Channel::Chat][usize::from(n) % 3],
            status,
            priority,
            group: id,
            assignee: n.is_multiple_of(2).then_some(i64::from(n % 5)),
        },
        1 | 2 => FoldPayload::MessageAdded {
            kind: MessageKind::Reply,
        },
        3 => FoldPayload::MessageAdded {
            kind: [MessageKind::Customer, MessageKind::Note][usize::from(n) % 2],
        },
        4 | 5 => FoldPayload::StatusChanged { to: status },
        6 => FoldPayload::PriorityChanged { to: priority },
        7 => FoldPayload::GroupChanged { to: id },
        8 => FoldPayload::AssigneeChanged { to: id },
        9 => FoldPayload::TagAdded { tag },
        10 => {
            if n.is_multiple_of(2) {
                FoldPayload::TagRemoved { tag }
            } else {
                FoldPayload::SlaCycleEnded {
                    metric: [SlaMetric::FirstReply, SlaMetric::Resolution][usize::from(n / 2) % 2],
                    cycle: u32::from(n % 3),
                    at: at - i64::from(n) * MIN,
                    met: n % 4 == 1,
                }
            }
        }
        _ => {
            let (measure, min, max) = [
                (Measure::Csat, 1, 5),
                (Measure::Ces, 1, 7),
                (Measure::Nps, 0, 10),
            ][usize::from(n) % 3];
            FoldPayload::SurveyAnswered {
                measure,
                score: min + i64::from(n) % (max - min + 1),
                scale_min: min,
                scale_max: max,
                kudos_agent: id,
            }
        }
    }
}

/// Folds a random log into one roll-up, event by event; and each event into a roll-up of its
/// own, merged in log order. Each bucket is met by both in the same order, so even the sums
/// are equal to the bit.
fn fold_both_ways(
    log: &[RandomEvent],
    calendar: Option<&calendar::Calendar>,
) -> (Rollup, Rollup, HashMap<i64, Option<ConversationFacts>>) {
    let mut facts: HashMap<i64, Option<ConversationFacts>> = HashMap::new();
    let mut other_facts = facts.clone();
    let (mut whole, mut merged) = (Rollup::default(), Rollup::default());
    let mut at = T0;
    for &(conversation, gap, actor, actor_id, what, n) in log {
        at += gap;
        let event = FoldEvent {
            at,
            actor_kind: ["customer", "agent", "api_token", "system"][usize::from(actor) % 4],
            actor_id: Some(actor_id),
            payload: random_payload(what, n, at),
        };
        apply(
            facts.entry(conversation).or_default(),
            event.clone(),
            calendar,
            &mut whole,
        );
        let mut alone = Rollup::default();
        apply(
            other_facts.entry(conversation).or_default(),
            event,
            calendar,
            &mut alone,
        );
        merged.merge(alone);
    }
    assert_eq!(facts, other_facts);
    (whole, merged, facts)
}

proptest::proptest! {
    /// The fold finds each observation's buckets through rows it remembers per day and slice
    /// set; on random logs (every kind of event, slices changing between events, days
    /// changing, with and without a business calendar) that is the same as finding them anew.
    #[test]
    fn folding_a_random_log_equals_merging_each_event_folded_alone(
        log in proptest::collection::vec(
            (0i64..5, 0i64..30 * 3_600_000, 0u8..4, 1i64..6, 0u8..12, 0u8..24),
            1..120,
        ),
        with_calendar in proptest::bool::ANY,
    ) {
        let brussels = calendar::CalendarSpec {
            time_zone: "Europe/Brussels".into(),
            hours: "mon-fri 09:00-17:00".into(),
            holidays: vec![],
            exceptions: vec![],
        }
        .build()
        .unwrap();
        let calendar = with_calendar.then_some(&brussels);
        let (whole, merged, _) = fold_both_ways(&log, calendar);
        proptest::prop_assert_eq!(whole.len(), merged.len());
        proptest::prop_assert_eq!(sorted(&whole), sorted(&merged));
        proptest::prop_assert_eq!(whole.days(), merged.days());
    }
}

/// A payload of every kind the fold reads, its values drawn from `pick`.
fn payload_of(kind: u8, pick: &[i64; 6], text: &str) -> EventPayload {
    let at = |i: usize, n: usize| pick[i].unsigned_abs() as usize % n;
    let optional = |i: usize| (pick[i] % 3 != 0).then_some(pick[i]);
    let status = Status::ALL[at(0, Status::ALL.len())];
    let priority = Priority::ALL[at(1, Priority::ALL.len())];
    let metric = SlaMetric::ALL[at(2, SlaMetric::ALL.len())];
    match kind % 11 {
        0 => EventPayload::Created {
            subject: text.into(),
            channel: Channel::ALL[at(3, Channel::ALL.len())],
            status,
            priority,
            customer_id: pick[4],
            group_id: optional(5),
            assignee_id: optional(4),
        },
        1 => EventPayload::MessageAdded {
            message_id: pick[0],
            message_kind: MessageKind::ALL[at(1, MessageKind::ALL.len())],
            channel: Channel::ALL[at(3, Channel::ALL.len())],
        },
        2 => EventPayload::StatusChanged {
            from: Status::ALL[at(5, Status::ALL.len())],
            to: status,
        },
        3 => EventPayload::PriorityChanged {
            from: Priority::ALL[at(5, Priority::ALL.len())],
            to: priority,
        },
        4 => EventPayload::GroupChanged {
            from: optional(3),
            to: optional(4),
        },
        5 => EventPayload::AssigneeChanged {
            from: optional(3),
            to: optional(5),
        },
        6 => EventPayload::TagAdded { tag: text.into() },
        7 => EventPayload::TagRemoved { tag: text.into() },
        8 => EventPayload::SlaBreached {
            metric,
            cycle: pick[3] as u32,
            at: pick[4],
        },
        9 => EventPayload::SlaFulfilled {
            metric,
            cycle: pick[3] as u32,
            at: pick[4],
        },
        _ => EventPayload::SurveyAnswered {
            survey_id: pick[0],
            kind: ["csat", "ces", "nps", "other"][at(1, 4)].into(),
            score: pick[2],
            scale_min: pick[3],
            scale_max: pick[4],
            comment: (pick[5] % 2 == 0).then(|| text.to_string()),
            kudos_agent_id: optional(5),
        },
    }
}

proptest::proptest! {
    /// The compact reader (`fold/compact.rs`) agrees with serde on every payload the fold reads
    /// and on edited ones (whitespace, escapes, fields twice, wrong types, broken text): it
    /// reads the same, or leaves the payload to serde.
    #[test]
    fn the_compact_reader_reads_what_serde_reads(
        kind in 0u8..11,
        pick in proptest::array::uniform6(proptest::strategy::Strategy::prop_map(proptest::num::i64::ANY, |n| n % 100_000)),
        text in "[a-z \"\\\\é\u{1}]{0,8}",
        edit in 0u8..5,
        at in 0usize..200,
        piece in proptest::sample::select(vec![" ", "\"", "1", ".5", "null", "\\", "}", ",\"to\":\"open\"", ",\"x\":[1]", "e3", "-"]),
        kind_of_json in proptest::bool::ANY,
    ) {
        let payload = payload_of(kind, &pick, &text);
        let json = domain::compact_json::edited(&payload.to_json(), edit, at, piece);
        // The log's kind column says what the payload is; try it on another kind's text too.
        let kind = if kind_of_json { payload.kind() } else { crate::FOLDED_KINDS[usize::from(kind) % crate::FOLDED_KINDS.len()] };
        let read = FoldPayload::parse(kind, &json).ok();
        let by_serde = FoldPayload::parse_with_serde(kind, &json).ok();
        proptest::prop_assert_eq!(read, by_serde, "{} {}", kind, json);
    }
}
