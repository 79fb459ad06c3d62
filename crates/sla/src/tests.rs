#![allow(clippy::unwrap_used, clippy::panic)]

use calendar::{parse_instant, CalendarSpec};
use domain::{Channel, EventPayload, MessageKind, Priority, Status};
use proptest::prelude::*;

use super::*;

const MINUTE: Millis = 60_000;

fn at(text: &str) -> Millis {
    parse_instant(text).unwrap()
}

fn office() -> calendar::Calendar {
    CalendarSpec {
        time_zone: "Europe/Brussels".into(),
        hours: "mon-fri 09:00-17:00".into(),
        holidays: vec!["--12-25".into()],
        exceptions: vec![],
    }
    .build()
    .unwrap()
    .with_index(at("2026-01-01T00:00:00Z"), at("2028-01-01T00:00:00Z"))
}

fn rule(metric: Metric, priority: Priority, minutes: u32, basis: TimeBasis) -> TargetRule {
    TargetRule {
        metric,
        priority,
        minutes,
        basis,
    }
}

/// Policy 1 (VIP, tag `vip`): short business targets, on-hold pauses.
/// Policy 2 (everyone): first reply 60 business minutes (30 at high priority), next reply
/// 120, periodic update 24 calendar hours, resolution 8 business hours; warn at 75%.
fn policies() -> PolicySet {
    use Metric::*;
    use TimeBasis::*;
    let vip = Policy {
        id: 1,
        name: "VIP".into(),
        conditions: Conditions {
            tags: vec!["VIP".into()],
            ..Conditions::default()
        },
        calendar: Some("office".into()),
        targets: vec![
            rule(FirstReply, Priority::Normal, 15, Business),
            rule(FirstReply, Priority::High, 10, Business),
            rule(Resolution, Priority::Normal, 120, Business),
        ],
        warn_at_percent: None,
        on_hold_pauses: true,
    };
    let everyone = Policy {
        id: 2,
        name: "Everyone".into(),
        conditions: Conditions::default(),
        calendar: Some("office".into()),
        targets: vec![
            rule(FirstReply, Priority::Normal, 60, Business),
            rule(FirstReply, Priority::High, 30, Business),
            rule(NextReply, Priority::Normal, 120, Business),
            rule(NextReply, Priority::High, 60, Business),
            rule(PeriodicUpdate, Priority::Normal, 24 * 60, Calendar),
            rule(Resolution, Priority::Normal, 8 * 60, Business),
            rule(Resolution, Priority::High, 4 * 60, Business),
        ],
        warn_at_percent: Some(75),
        on_hold_pauses: false,
    };
    PolicySet::new(vec![vip, everyone], vec![("office".into(), office())]).unwrap()
}

fn created(priority: Priority) -> EventPayload {
    EventPayload::Created {
        subject: "Where is my order?".into(),
        channel: Channel::Email,
        status: Status::New,
        priority,
        customer_id: 1,
        group_id: None,
        assignee_id: None,
    }
}

fn message(kind: MessageKind) -> EventPayload {
    EventPayload::MessageAdded {
        message_id: 1,
        message_kind: kind,
        channel: Channel::Email,
    }
}

fn customer() -> EventPayload {
    message(MessageKind::Customer)
}

fn reply() -> EventPayload {
    message(MessageKind::Reply)
}

fn status(from: Status, to: Status) -> EventPayload {
    EventPayload::StatusChanged { from, to }
}

fn priority(to: Priority) -> EventPayload {
    EventPayload::PriorityChanged {
        from: Priority::Normal,
        to,
    }
}

fn tag(tag: &str) -> EventPayload {
    EventPayload::TagAdded { tag: tag.into() }
}

/// What a case expects of the state at `now`; instants are RFC 3339, `None` is "not set".
enum Check {
    Due(Metric, Option<&'static str>),
    Warned(Metric, Option<&'static str>),
    Breached(Metric, Option<&'static str>),
    Fulfilled(Metric, Option<&'static str>),
    Paused(Metric, bool),
    ElapsedMinutes(Metric, i64),
    Cycle(Metric, u32),
    NotStarted(Metric),
    Policy(Option<i64>),
    /// A transition of this kind and metric is in the log at this instant.
    Logged(Metric, &'static str, &'static str),
}

struct Case {
    rule: &'static str,
    events: Vec<(&'static str, EventPayload)>,
    now: &'static str,
    checks: Vec<Check>,
}

fn check_case(case: &Case) {
    let policies = policies();
    let events: Vec<(Millis, &EventPayload)> =
        case.events.iter().map(|(t, e)| (at(t), e)).collect();
    let result = recompute(&policies, None, events.iter().copied(), at(case.now));
    let opt = |text: &Option<&str>| text.map(at);
    for check in &case.checks {
        let metric_state = |metric: &Metric| {
            result
                .state
                .metric(*metric)
                .unwrap_or_else(|| panic!("{}: {metric:?} has not started", case.rule))
        };
        match check {
            Check::Due(m, t) => {
                assert_eq!(metric_state(m).due_at, opt(t), "{}: {m:?} due", case.rule)
            }
            Check::Warned(m, t) => {
                assert_eq!(
                    metric_state(m).warned_at,
                    opt(t),
                    "{}: {m:?} warned",
                    case.rule
                )
            }
            Check::Breached(m, t) => {
                assert_eq!(
                    metric_state(m).breached_at,
                    opt(t),
                    "{}: {m:?} breached",
                    case.rule
                )
            }
            Check::Fulfilled(m, t) => {
                assert_eq!(
                    metric_state(m).fulfilled_at,
                    opt(t),
                    "{}: {m:?} fulfilled",
                    case.rule
                )
            }
            Check::Paused(m, p) => {
                assert_eq!(metric_state(m).paused, *p, "{}: {m:?} paused", case.rule)
            }
            Check::ElapsedMinutes(m, minutes) => assert_eq!(
                metric_state(m).elapsed,
                minutes * MINUTE,
                "{}: {m:?} elapsed",
                case.rule
            ),
            Check::Cycle(m, cycle) => {
                assert_eq!(metric_state(m).cycle, *cycle, "{}: {m:?} cycle", case.rule)
            }
            Check::NotStarted(m) => {
                assert!(
                    result.state.metric(*m).is_none(),
                    "{}: {m:?} started",
                    case.rule
                )
            }
            Check::Policy(id) => assert_eq!(result.state.policy_id, *id, "{}: policy", case.rule),
            Check::Logged(m, kind, t) => assert!(
                result
                    .transitions
                    .iter()
                    .any(|x| x.metric == *m && x.kind.as_str() == *kind && x.at == at(t)),
                "{}: no {kind} of {m:?} at {t} in {:#?}",
                case.rule,
                result.transitions
            ),
        }
    }
}

#[test]
fn sla_clocks_follow_the_documented_rules() {
    use Check::*;
    use Metric::*;
    let cases = vec![
        Case {
            rule: "first reply is due after 60 business minutes and warns at 75%",
            events: vec![("2026-11-26T10:00:00+01:00", created(Priority::Normal))],
            now: "2026-11-26T10:30:00+01:00",
            checks: vec![
                Due(FirstReply, Some("2026-11-26T11:00:00+01:00")),
                Warned(FirstReply, None),
                ElapsedMinutes(FirstReply, 30),
                Due(Resolution, Some("2026-11-27T10:00:00+01:00")),
                NotStarted(NextReply),
                NotStarted(PeriodicUpdate),
                Policy(Some(2)),
            ],
        },
        Case {
            rule: "overnight: late in the day the target runs on the next morning",
            events: vec![("2026-11-26T16:30:00+01:00", created(Priority::Normal))],
            now: "2026-11-26T20:00:00+01:00",
            checks: vec![
                Due(FirstReply, Some("2026-11-27T09:30:00+01:00")),
                ElapsedMinutes(FirstReply, 30),
            ],
        },
        Case {
            rule: "weekends: Friday afternoon is due on Monday",
            events: vec![("2026-11-27T16:30:00+01:00", created(Priority::Normal))],
            now: "2026-11-29T12:00:00+01:00",
            checks: vec![
                Due(FirstReply, Some("2026-11-30T09:30:00+01:00")),
                Breached(FirstReply, None),
            ],
        },
        Case {
            rule: "holidays: Christmas is skipped",
            events: vec![("2026-12-24T16:30:00+01:00", created(Priority::Normal))],
            now: "2026-12-24T17:00:00+01:00",
            checks: vec![Due(FirstReply, Some("2026-12-28T09:30:00+01:00"))],
        },
        Case {
            rule: "DST: a target across the autumn change is due in winter time",
            events: vec![("2026-10-23T16:30:00+02:00", created(Priority::Normal))],
            now: "2026-10-23T16:31:00+02:00",
            checks: vec![
                Due(FirstReply, Some("2026-10-26T09:30:00+01:00")),
                Due(Resolution, Some("2026-10-26T16:30:00+01:00")),
            ],
        },
        Case {
            rule: "a reply in time fulfils first reply and starts periodic update",
            events: vec![
                ("2026-11-26T10:00:00+01:00", created(Priority::Normal)),
                ("2026-11-26T10:00:00+01:00", customer()),
                ("2026-11-26T10:40:00+01:00", reply()),
            ],
            now: "2026-11-26T12:00:00+01:00",
            checks: vec![
                Fulfilled(FirstReply, Some("2026-11-26T10:40:00+01:00")),
                Breached(FirstReply, None),
                ElapsedMinutes(FirstReply, 40),
                Due(FirstReply, None),
                Due(PeriodicUpdate, Some("2026-11-27T10:40:00+01:00")),
                Logged(FirstReply, "fulfilled", "2026-11-26T10:40:00+01:00"),
            ],
        },
        Case {
            rule: "without a reply the target breaches at the due instant",
            events: vec![("2026-11-26T10:00:00+01:00", created(Priority::Normal))],
            now: "2026-11-26T12:00:00+01:00",
            checks: vec![
                Warned(FirstReply, Some("2026-11-26T10:45:00+01:00")),
                Breached(FirstReply, Some("2026-11-26T11:00:00+01:00")),
                ElapsedMinutes(FirstReply, 120),
                Logged(FirstReply, "breached", "2026-11-26T11:00:00+01:00"),
            ],
        },
        Case {
            rule: "a reply at the very due instant is late",
            events: vec![
                ("2026-11-26T10:00:00+01:00", created(Priority::Normal)),
                ("2026-11-26T11:00:00+01:00", reply()),
                ("2026-11-26T11:00:00+01:00", reply()),
            ],
            now: "2026-11-26T11:00:00+01:00",
            checks: vec![
                Breached(FirstReply, Some("2026-11-26T11:00:00+01:00")),
                Fulfilled(FirstReply, Some("2026-11-26T11:00:00+01:00")),
            ],
        },
        Case {
            rule: "pending pauses the reply and resolution clocks",
            events: vec![
                ("2026-11-26T10:00:00+01:00", created(Priority::Normal)),
                (
                    "2026-11-26T10:20:00+01:00",
                    status(Status::New, Status::Pending),
                ),
            ],
            now: "2026-11-30T12:00:00+01:00",
            checks: vec![
                Paused(FirstReply, true),
                ElapsedMinutes(FirstReply, 20),
                Due(FirstReply, None),
                Breached(FirstReply, None),
                Paused(Resolution, true),
                ElapsedMinutes(Resolution, 20),
                Logged(FirstReply, "paused", "2026-11-26T10:20:00+01:00"),
            ],
        },
        Case {
            rule: "resuming after pending counts on from where the clock stopped",
            events: vec![
                ("2026-11-26T10:00:00+01:00", created(Priority::Normal)),
                (
                    "2026-11-26T10:20:00+01:00",
                    status(Status::New, Status::Pending),
                ),
                (
                    "2026-11-26T14:00:00+01:00",
                    status(Status::Pending, Status::Open),
                ),
            ],
            now: "2026-11-26T14:00:00+01:00",
            checks: vec![
                Paused(FirstReply, false),
                Due(FirstReply, Some("2026-11-26T14:40:00+01:00")),
                Logged(FirstReply, "resumed", "2026-11-26T14:00:00+01:00"),
            ],
        },
        Case {
            rule: "on hold counts when the policy does not pause it",
            events: vec![
                ("2026-11-26T10:00:00+01:00", created(Priority::Normal)),
                (
                    "2026-11-26T10:20:00+01:00",
                    status(Status::New, Status::OnHold),
                ),
            ],
            now: "2026-11-26T11:30:00+01:00",
            checks: vec![
                Paused(FirstReply, false),
                Breached(FirstReply, Some("2026-11-26T11:00:00+01:00")),
            ],
        },
        Case {
            rule: "on hold pauses when the policy says so",
            events: vec![
                ("2026-11-26T10:00:00+01:00", created(Priority::Normal)),
                ("2026-11-26T10:00:00+01:00", tag("vip")),
                (
                    "2026-11-26T10:05:00+01:00",
                    status(Status::New, Status::OnHold),
                ),
            ],
            now: "2026-11-26T11:30:00+01:00",
            checks: vec![
                Policy(Some(1)),
                Paused(FirstReply, true),
                ElapsedMinutes(FirstReply, 5),
                Breached(FirstReply, None),
            ],
        },
        Case {
            rule: "a priority change re-targets from the start of the cycle",
            events: vec![
                ("2026-11-26T10:00:00+01:00", created(Priority::Normal)),
                ("2026-11-26T10:20:00+01:00", priority(Priority::High)),
            ],
            now: "2026-11-26T10:25:00+01:00",
            checks: vec![
                Due(FirstReply, Some("2026-11-26T10:30:00+01:00")),
                Due(Resolution, Some("2026-11-26T14:00:00+01:00")),
                Logged(FirstReply, "applied", "2026-11-26T10:20:00+01:00"),
            ],
        },
        Case {
            rule: "a priority change past the new target breaches at the change",
            events: vec![
                ("2026-11-26T10:00:00+01:00", created(Priority::Normal)),
                ("2026-11-26T10:40:00+01:00", priority(Priority::High)),
            ],
            now: "2026-11-26T10:41:00+01:00",
            checks: vec![
                Breached(FirstReply, Some("2026-11-26T10:40:00+01:00")),
                Warned(FirstReply, Some("2026-11-26T10:40:00+01:00")),
            ],
        },
        Case {
            rule: "a tag that matches another policy re-targets (policy change)",
            events: vec![
                ("2026-11-26T10:00:00+01:00", created(Priority::Normal)),
                ("2026-11-26T10:10:00+01:00", tag("vip")),
            ],
            now: "2026-11-26T10:12:00+01:00",
            checks: vec![
                Policy(Some(1)),
                Due(FirstReply, Some("2026-11-26T10:15:00+01:00")),
                Due(Resolution, Some("2026-11-26T12:00:00+01:00")),
                // The VIP policy has no warning share.
                Warned(FirstReply, None),
            ],
        },
        Case {
            rule: "an agent's opening message is not the first reply; the next one is",
            events: vec![
                ("2026-11-26T10:00:00+01:00", created(Priority::Normal)),
                ("2026-11-26T10:01:00+01:00", reply()),
                (
                    "2026-11-26T10:01:00+01:00",
                    status(Status::New, Status::Pending),
                ),
                ("2026-11-26T13:00:00+01:00", customer()),
                (
                    "2026-11-26T13:00:00+01:00",
                    status(Status::Pending, Status::Open),
                ),
                ("2026-11-26T13:20:00+01:00", reply()),
            ],
            now: "2026-11-26T13:30:00+01:00",
            checks: vec![
                Fulfilled(FirstReply, Some("2026-11-26T13:20:00+01:00")),
                ElapsedMinutes(FirstReply, 21),
                Breached(FirstReply, None),
                NotStarted(NextReply),
                Cycle(PeriodicUpdate, 2),
            ],
        },
        Case {
            rule: "next reply measures a customer message after an agent reply",
            events: vec![
                ("2026-11-26T10:00:00+01:00", created(Priority::Normal)),
                ("2026-11-26T10:00:00+01:00", customer()),
                ("2026-11-26T10:10:00+01:00", reply()),
                ("2026-11-26T11:00:00+01:00", customer()),
                ("2026-11-26T11:30:00+01:00", customer()),
            ],
            now: "2026-11-26T14:00:00+01:00",
            checks: vec![
                Cycle(NextReply, 1),
                Breached(NextReply, Some("2026-11-26T13:00:00+01:00")),
                Warned(NextReply, Some("2026-11-26T12:30:00+01:00")),
            ],
        },
        Case {
            rule: "each wait for a reply is a new next-reply cycle",
            events: vec![
                ("2026-11-26T10:00:00+01:00", created(Priority::Normal)),
                ("2026-11-26T10:00:00+01:00", customer()),
                ("2026-11-26T10:10:00+01:00", reply()),
                ("2026-11-26T11:00:00+01:00", customer()),
                ("2026-11-26T11:30:00+01:00", reply()),
                ("2026-11-26T15:00:00+01:00", customer()),
            ],
            now: "2026-11-26T16:00:00+01:00",
            checks: vec![
                Cycle(NextReply, 2),
                Due(NextReply, Some("2026-11-26T17:00:00+01:00")),
                Logged(NextReply, "fulfilled", "2026-11-26T11:30:00+01:00"),
            ],
        },
        Case {
            rule: "solving fulfils resolution; a reopen counts on from where it stopped",
            events: vec![
                ("2026-11-26T10:00:00+01:00", created(Priority::Normal)),
                (
                    "2026-11-26T11:00:00+01:00",
                    status(Status::New, Status::Solved),
                ),
                ("2026-11-27T10:00:00+01:00", customer()),
                (
                    "2026-11-27T10:00:00+01:00",
                    status(Status::Solved, Status::Open),
                ),
            ],
            now: "2026-11-27T11:00:00+01:00",
            checks: vec![
                Fulfilled(Resolution, None),
                ElapsedMinutes(Resolution, 120),
                Due(Resolution, Some("2026-11-27T17:00:00+01:00")),
                Logged(Resolution, "fulfilled", "2026-11-26T11:00:00+01:00"),
                Logged(Resolution, "resumed", "2026-11-27T10:00:00+01:00"),
                // Solved without a reply: first reply paused, resumed on reopen.
                ElapsedMinutes(FirstReply, 120),
                Breached(FirstReply, Some("2026-11-26T11:00:00+01:00")),
            ],
        },
        Case {
            rule: "a solved conversation owes no reply: reply clocks pause",
            events: vec![
                ("2026-11-26T10:00:00+01:00", created(Priority::Normal)),
                (
                    "2026-11-26T10:30:00+01:00",
                    status(Status::New, Status::Solved),
                ),
            ],
            now: "2026-12-10T10:00:00+01:00",
            checks: vec![
                Paused(FirstReply, true),
                Breached(FirstReply, None),
                Fulfilled(Resolution, Some("2026-11-26T10:30:00+01:00")),
                ElapsedMinutes(Resolution, 30),
            ],
        },
        Case {
            rule: "a calendar-time target counts nights and weekends",
            events: vec![
                ("2026-11-27T10:00:00+01:00", created(Priority::Normal)),
                ("2026-11-27T10:00:00+01:00", customer()),
                ("2026-11-27T10:30:00+01:00", reply()),
            ],
            now: "2026-11-29T10:00:00+01:00",
            checks: vec![
                Breached(PeriodicUpdate, Some("2026-11-28T10:30:00+01:00")),
                Warned(PeriodicUpdate, Some("2026-11-28T04:30:00+01:00")),
                ElapsedMinutes(PeriodicUpdate, 47 * 60 + 30),
            ],
        },
    ];
    for case in &cases {
        check_case(case);
    }
}

#[test]
fn bad_policies_are_refused_with_what_to_fix() {
    let base = || Policy {
        id: 1,
        name: "Base".into(),
        conditions: Conditions::default(),
        calendar: None,
        targets: vec![rule(
            Metric::FirstReply,
            Priority::Normal,
            60,
            TimeBasis::Calendar,
        )],
        warn_at_percent: None,
        on_hold_pauses: false,
    };
    let cases: Vec<(Vec<Policy>, &str)> = vec![
        (vec![base(), base()], "two SLA policies have the id 1"),
        (
            vec![Policy {
                calendar: Some("nope".into()),
                ..base()
            }],
            "uses calendar \"nope\", which is not defined",
        ),
        (
            vec![Policy {
                targets: vec![rule(
                    Metric::FirstReply,
                    Priority::Normal,
                    60,
                    TimeBasis::Business,
                )],
                ..base()
            }],
            "business-time target but no calendar",
        ),
        (
            vec![Policy {
                targets: vec![rule(
                    Metric::FirstReply,
                    Priority::Normal,
                    0,
                    TimeBasis::Calendar,
                )],
                ..base()
            }],
            "target of 0 minutes for first_reply at normal priority",
        ),
        (
            vec![Policy {
                targets: vec![
                    rule(Metric::Resolution, Priority::Low, 5, TimeBasis::Calendar),
                    rule(Metric::Resolution, Priority::Low, 6, TimeBasis::Calendar),
                ],
                ..base()
            }],
            "two targets for resolution at low priority",
        ),
        (
            vec![Policy {
                warn_at_percent: Some(100),
                ..base()
            }],
            "warns at 100%",
        ),
        (
            vec![Policy {
                conditions: Conditions {
                    tags: vec!["two words".into()],
                    ..Conditions::default()
                },
                ..base()
            }],
            "requires tag",
        ),
    ];
    for (policies, reason) in cases {
        let error = PolicySet::new(policies, vec![]).unwrap_err().to_string();
        assert!(error.contains(reason), "{error}");
    }
}

#[test]
fn first_matching_policy_wins_on_every_condition() {
    let targeted = |id: i64, conditions: Conditions| Policy {
        id,
        name: format!("policy {id}"),
        conditions,
        calendar: None,
        targets: vec![rule(
            Metric::FirstReply,
            Priority::Normal,
            60,
            TimeBasis::Calendar,
        )],
        warn_at_percent: None,
        on_hold_pauses: false,
    };
    let set = PolicySet::new(
        vec![
            targeted(
                1,
                Conditions {
                    groups: vec![7],
                    ..Default::default()
                },
            ),
            targeted(
                2,
                Conditions {
                    organisations: vec![40],
                    ..Default::default()
                },
            ),
            targeted(
                3,
                Conditions {
                    channels: vec![Channel::Chat],
                    ..Default::default()
                },
            ),
            targeted(
                4,
                Conditions {
                    priorities: vec![Priority::Urgent],
                    ..Default::default()
                },
            ),
            targeted(
                5,
                Conditions {
                    tags: vec!["a".into(), "b".into()],
                    ..Default::default()
                },
            ),
            targeted(6, Conditions::default()),
        ],
        vec![],
    )
    .unwrap();
    let conversation =
        |group: Option<i64>, channel: Channel, priority: Priority| EventPayload::Created {
            subject: "s".into(),
            channel,
            status: Status::New,
            priority,
            customer_id: 1,
            group_id: group,
            assignee_id: None,
        };
    let cases: Vec<(Option<i64>, Vec<EventPayload>, i64)> = vec![
        (
            None,
            vec![conversation(Some(7), Channel::Chat, Priority::Urgent)],
            1,
        ),
        (
            Some(40),
            vec![conversation(Some(8), Channel::Chat, Priority::Urgent)],
            2,
        ),
        (
            Some(41),
            vec![conversation(None, Channel::Chat, Priority::Urgent)],
            3,
        ),
        (
            None,
            vec![conversation(None, Channel::Email, Priority::Urgent)],
            4,
        ),
        (
            None,
            vec![
                conversation(None, Channel::Email, Priority::Low),
                tag("a"),
                tag("b"),
            ],
            5,
        ),
        (
            None,
            vec![conversation(None, Channel::Email, Priority::Low), tag("a")],
            6,
        ),
        (
            None,
            vec![
                conversation(None, Channel::Email, Priority::Low),
                EventPayload::GroupChanged {
                    from: None,
                    to: Some(7),
                },
            ],
            1,
        ),
    ];
    for (organisation, events, expected) in cases {
        let result = recompute(&set, organisation, events.iter().map(|e| (0, e)), 1);
        assert_eq!(result.state.policy_id, Some(expected), "{events:?}");
    }
}

#[test]
fn recompute_is_idempotent_and_a_policy_change_appends_only_the_difference() {
    let events = [
        (at("2026-11-26T10:00:00+01:00"), created(Priority::Normal)),
        (at("2026-11-26T10:00:00+01:00"), customer()),
        (at("2026-11-26T12:00:00+01:00"), reply()),
    ];
    let now = at("2026-11-27T12:00:00+01:00");
    let run = |policies: &PolicySet| {
        recompute(policies, None, events.iter().map(|(t, e)| (*t, e)), now).transitions
    };
    let mut log: Vec<SlaTransition> = Vec::new();
    let first = diff_transitions(&run(&policies()), &log);
    assert!(!first.missing.is_empty());
    log.extend(first.missing);
    assert!(diff_transitions(&run(&policies()), &log).is_empty());

    // The first-reply target becomes 3 business hours: no breach any more, new `applied`.
    let mut changed: Vec<Policy> = policies().policies().cloned().collect();
    for target in &mut changed[1].targets {
        if target.metric == Metric::FirstReply {
            target.minutes = 180;
        }
    }
    let changed = PolicySet::new(changed, vec![("office".into(), office())]).unwrap();
    let second = diff_transitions(&run(&changed), &log);
    assert!(second
        .superseded
        .iter()
        .any(|t| t.kind == TransitionKind::Breached && t.metric == Metric::FirstReply));
    assert!(second.missing.iter().any(
        |t| matches!(t.kind, TransitionKind::Applied { target: Some(m), .. } if m == 180 * MINUTE)
    ));
    log.extend(second.missing);
    let third = diff_transitions(&run(&changed), &log);
    assert!(third.missing.is_empty(), "a second run appends nothing");
}

// ---- properties -------------------------------------------------------------------------

#[derive(Debug, Clone)]
enum Step {
    Customer,
    Reply,
    Note,
    Status(Status),
    Priority(Priority),
    Tag(bool),
    Group(Option<i64>),
}

fn any_step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => Just(Step::Customer),
        3 => Just(Step::Reply),
        1 => Just(Step::Note),
        3 => prop::sample::select(Status::ALL.to_vec()).prop_map(Step::Status),
        1 => prop::sample::select(Priority::ALL.to_vec()).prop_map(Step::Priority),
        1 => any::<bool>().prop_map(Step::Tag),
        1 => prop::option::of(0i64..3).prop_map(Step::Group),
    ]
}

/// A conversation's log: created, then steps at growing instants (some at the same one).
fn any_log() -> impl Strategy<Value = Vec<(Millis, EventPayload)>> {
    let start = at("2026-01-05T00:00:00Z");
    (
        0i64..(300 * 24 * 60),
        prop::sample::select(Priority::ALL.to_vec()),
        prop::collection::vec(
            (any_step(), prop_oneof![Just(0i64), 0i64..600, 0i64..5_000]),
            0..25,
        ),
    )
        .prop_map(move |(offset, first_priority, steps)| {
            let mut t = start + offset * MINUTE;
            let mut log = vec![(t, created(first_priority))];
            let mut status = Status::New;
            let mut priority_now = first_priority;
            for (step, gap) in steps {
                t += gap * MINUTE + gap % 7;
                let event = match step {
                    Step::Customer => customer(),
                    Step::Reply => reply(),
                    Step::Note => message(MessageKind::Note),
                    Step::Status(to) => {
                        let from = status;
                        status = to;
                        EventPayload::StatusChanged { from, to }
                    }
                    Step::Priority(to) => {
                        let from = priority_now;
                        priority_now = to;
                        EventPayload::PriorityChanged { from, to }
                    }
                    Step::Tag(true) => tag("vip"),
                    Step::Tag(false) => EventPayload::TagRemoved { tag: "vip".into() },
                    Step::Group(to) => EventPayload::GroupChanged { from: None, to },
                };
                log.push((t, event));
            }
            log
        })
}

fn sorted(mut transitions: Vec<SlaTransition>) -> Vec<SlaTransition> {
    transitions.sort();
    transitions
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// The live path (one event at a time, ticks of the scheduler in between, the clock
    /// stored as JSON between steps) gives exactly what recomputing the whole log gives.
    #[test]
    fn folding_event_by_event_equals_recomputing_the_whole_log(
        log in any_log(),
        ticks in prop::collection::vec(prop::option::of(0i64..1_000), 25),
        after in 0i64..(10 * 24 * 60),
    ) {
        let policies = policies();
        let now = log.last().map(|(t, _)| *t).unwrap_or_default() + after * MINUTE;
        let whole = recompute(&policies, Some(40), log.iter().map(|(t, e)| (*t, e)), now);

        let mut clock = SlaClock::new(Some(40));
        let mut live = Vec::new();
        for (i, (t, event)) in log.iter().enumerate() {
            // Stored between events, as the text the store keeps or as older versions' JSON.
            let text = clock.encode();
            let decoded = SlaClock::decode(&text).unwrap();
            prop_assert_eq!(&decoded, &clock);
            prop_assert_eq!(&decoded.encode(), &text, "one clock, one text");
            let json = serde_json::to_string(&clock).unwrap();
            prop_assert_eq!(SlaClock::decode(&json).unwrap(), decoded);
            clock = if i % 2 == 0 { SlaClock::decode(&text).unwrap() } else { serde_json::from_str(&json).unwrap() };
            clock.apply(&policies, *t, event, &mut live);
            // A tick somewhere before the next event (or now).
            let next = log.get(i + 1).map_or(now, |(t, _)| *t);
            if let Some(Some(fraction)) = ticks.get(i) {
                let tick = *t + (next - *t) * fraction / 1_000;
                clock.advance_to(&policies, tick, &mut live);
                // Whatever the scheduler is told to wait for lies ahead.
                if let Some(deadline) = clock.next_deadline() {
                    prop_assert!(deadline.at > tick);
                }
            }
        }
        clock.advance_to(&policies, now, &mut live);
        prop_assert_eq!(sorted(live), sorted(whole.transitions.clone()));
        prop_assert_eq!(clock.state(&policies, now), whole.state.clone());
        prop_assert_eq!(clock.next_deadline(), whole.next_deadline);
        prop_assert_eq!(&clock, &whole.clock);
    }

    #[test]
    fn sla_state_invariants_hold_for_any_log(log in any_log(), after in 0i64..(10 * 24 * 60)) {
        let policies = policies();
        let now = log.last().map(|(t, _)| *t).unwrap_or_default() + after * MINUTE;
        let result = recompute(&policies, None, log.iter().map(|(t, e)| (*t, e)), now);
        // Nothing is recorded in the future, and the next deadline lies ahead.
        prop_assert!(result.transitions.iter().all(|t| t.at <= now));
        if let Some(deadline) = result.next_deadline {
            prop_assert!(deadline.at > now);
        }
        for m in &result.state.metrics {
            // Counted time never exceeds the wall time since the cycle began.
            prop_assert!(m.elapsed >= 0 && m.elapsed <= now - m.started_at);
            if let (Some(target), Some(left)) = (m.target, m.left) {
                prop_assert_eq!(left, target.duration - m.elapsed);
                // Overdue and unbreached cannot both be true, unless the time ran out
                // exactly now and a reply at this instant could still come (it is late).
                if left <= 0 && !m.paused && m.fulfilled_at.is_none() {
                    prop_assert!(m.breached_at.is_some());
                }
            }
            if let Some(breached) = m.breached_at {
                prop_assert!(breached >= m.started_at);
            }
            if let (Some(warned), Some(breached)) = (m.warned_at, m.breached_at) {
                prop_assert!(warned <= breached);
            }
        }
        // Recomputing is deterministic: the log it asks for is already complete.
        let again = recompute(&policies, None, log.iter().map(|(t, e)| (*t, e)), now);
        prop_assert!(diff_transitions(&again.transitions, &result.transitions).is_empty());
        // While every clock is paused or done, time passing changes nothing.
        if result.next_deadline.is_none() && result.state.metrics.iter().all(|m| m.paused || m.fulfilled_at.is_some()) {
            let later = result.clock.state(&policies, now + 30 * 24 * 60 * MINUTE);
            prop_assert_eq!(later, result.state);
        }
    }
}

/// Events of kinds the clock does not read, as they are stored.
fn other_events() -> Vec<EventPayload> {
    vec![
        EventPayload::AssigneeChanged {
            from: None,
            to: Some(3),
        },
        EventPayload::SubjectChanged {
            from: "a".into(),
            to: "b".into(),
        },
        EventPayload::FieldSet {
            name: "order".into(),
            value: serde_json::json!("A-1"),
        },
        EventPayload::FollowUpCreated { follow_up: 9 },
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Reading the stored log with `read_stored` (only the fields the clock uses, no JSON
    /// for other kinds) moves the clock exactly as the whole payloads do, and the
    /// transitions read back are the ones written.
    #[test]
    fn the_stored_log_read_for_the_clock_moves_it_as_the_events_do(
        log in any_log(),
        others in prop::collection::vec((0usize..4, any::<bool>()), 25),
        after in 0i64..(10 * 24 * 60),
    ) {
        let policies = policies();
        let extra = other_events();
        let mut events: Vec<(Millis, EventPayload)> = Vec::new();
        for (i, (t, event)) in log.iter().enumerate() {
            events.push((*t, event.clone()));
            if let Some((which, true)) = others.get(i) {
                events.push((*t + 1, extra[*which].clone()));
            }
        }
        let now = events.last().map(|(t, _)| *t).unwrap_or_default() + after * MINUTE;
        let whole = recompute(&policies, Some(40), events.iter().map(|(t, e)| (*t, e)), now);

        let mut clock = SlaClock::new(Some(40));
        let mut out = Vec::new();
        for (t, event) in &events {
            let json = event.to_json();
            match read_stored(event.kind(), &json).unwrap() {
                LogEntry::Input(payload) => {
                    prop_assert!(CLOCK_INPUT_KINDS.contains(&event.kind()));
                    prop_assert!(is_clock_input(event));
                    let of_event = ClockInput::of(event);
                    prop_assert_eq!(Some(&payload), of_event.as_ref());
                    let text = clock_input_text(&payload);
                    let read = read_clock_input(&text);
                    prop_assert_eq!(read.as_ref(), Some(&payload));
                    clock.apply_input(&policies, *t, &payload, &mut out);
                }
                LogEntry::Other => {
                    // Left out, as a recompute's scan leaves it out.
                    prop_assert!(!CLOCK_INPUT_KINDS.contains(&event.kind()));
                    prop_assert!(!is_clock_input(event));
                }
                other => prop_assert!(false, "{:?} read as {:?}", event, other),
            }
        }
        clock.advance_to(&policies, now, &mut out);
        prop_assert_eq!(&clock, &whole.clock);
        prop_assert_eq!(sorted(out), sorted(whole.transitions.clone()));
        for t in &whole.transitions {
            let payload = transition_event(t);
            prop_assert!(TRANSITION_KINDS.contains(&payload.kind()));
            let json = payload.to_json();
            prop_assert_eq!(read_stored(payload.kind(), &json).unwrap(), LogEntry::Transition(t.clone()));
        }
        prop_assert_eq!(clock.next_breach_at(), whole.state.metrics.iter().filter(|m| m.fulfilled_at.is_none()).filter_map(|m| m.due_at).min());
    }
}

/// The event that records a transition, as the product writes it.
fn transition_event(t: &SlaTransition) -> EventPayload {
    let (metric, cycle, at) = (t.metric, t.cycle, t.at);
    match &t.kind {
        TransitionKind::Applied {
            policy_id,
            target,
            basis,
        } => EventPayload::SlaApplied {
            metric,
            cycle,
            at,
            policy_id: *policy_id,
            target_ms: *target,
            basis: *basis,
        },
        TransitionKind::Paused => EventPayload::SlaPaused { metric, cycle, at },
        TransitionKind::Resumed => EventPayload::SlaResumed { metric, cycle, at },
        TransitionKind::Warned => EventPayload::SlaWarned { metric, cycle, at },
        TransitionKind::Breached => EventPayload::SlaBreached { metric, cycle, at },
        TransitionKind::Fulfilled => EventPayload::SlaFulfilled { metric, cycle, at },
    }
}

#[test]
fn a_stored_clock_with_odd_tags_reads_back_and_bad_text_is_an_error() {
    let policies = policies();
    let mut clock = SlaClock::new(None);
    let mut out = Vec::new();
    clock.apply(
        &policies,
        at("2026-01-05T10:00:00Z"),
        &created(Priority::High),
        &mut out,
    );
    for odd in ["a,b", "100%", "%2C", "", "é ü"] {
        clock.apply(&policies, at("2026-01-05T10:01:00Z"), &tag(odd), &mut out);
    }
    let text = clock.encode();
    assert_eq!(SlaClock::decode(&text).unwrap(), clock);
    assert!(
        text.len() * 3 < serde_json::to_string(&clock).unwrap().len(),
        "{text}"
    );
    for bad in [
        "",
        "s1",
        "s2,",
        &text[..text.len() - 3],
        &format!("{text},1"),
        "{\"organisation\":",
    ] {
        assert!(SlaClock::decode(bad).is_err(), "{bad:?}");
    }
}

/// A clock as "s1" wrote it (instants whole).
const S1_CLOCK: &str =
    "s1,,0,1764225840835,1,1,closed,normal,email,3,,1,delivery,1,f,1764220440835,,0,\
    1764243000000,,,,1764222240835,1,1,14400000,business,0,11520000,1,1764220440835,\
    1764222240835,1,p,1764223440835,,0,,,,,,1,1,28800000,business,0,23040000,1,\
    1764223440835,1764224040835,1,p,1764222240835,,1800000,,,,,,1,1,172800000,calendar,,\
    138240000,1,1764222240835,1764224040835,1,f,1764220440835,,0,1764754200000,,,,\
    1764224040835,1,1,144000000,business,0,115200000,1,1764220440835,1764224040835";

/// The same clock as "s2" wrote it (distances and durations in milliseconds).
const S2_CLOCK: &str = "s2,,0,1764225840835,1,1,closed,normal,email,3,,1,delivery,1,f,5400000,,0,\
    -17159165,,,,3600000,1,1,14400000,b,0,11520000,1,5400000,3600000,1,p,2400000,,0,,,,,,\
    1,1,28800000,b,0,23040000,1,2400000,1800000,1,p,3600000,,1800000,,,,,,1,1,172800000,c,,\
    138240000,1,3600000,1800000,1,f,5400000,,0,-528359165,,,,1800000,1,1,144000000,b,0,\
    115200000,1,5400000,1800000";

/// The same clock as "s3" wrote it (times in the largest unit that divides them).
const S3_CLOCK: &str = "s3,,0,1764225840835,1,1,closed,normal,email,3,,1,delivery,1,f,90m,,0,\
    -17159165,,,,1h,1,1,4h,b,0,192m,1,90m,1h,1,p,40m,,0,,,,,,1,1,8h,b,0,384m,1,40m,30m,1,p,1h,,\
    30m,,,,,,1,1,48h,c,,2304m,1,1h,30m,1,f,90m,,0,-528359165,,,,30m,1,1,40h,b,0,32h,1,90m,30m";

/// A clock stored by an earlier version ("s1": instants written whole; "s2": distances and
/// durations in milliseconds; "s3": decimal times in units, between commas) reads back, and
/// is written again as "s4", not much more than half as long as "s3", which reads back the same.
#[test]
fn a_clock_stored_by_an_earlier_version_reads_back_and_is_written_shorter() {
    let (s1, s2, s3) = (S1_CLOCK, S2_CLOCK, S3_CLOCK);
    let clock = SlaClock::decode(s1).unwrap();
    assert_eq!(clock.last_at, 1_764_225_840_835);
    assert_eq!(clock.metrics[0].started_at, 1_764_220_440_835);
    assert_eq!(
        clock.metrics[0].periods,
        vec![(1_764_220_440_835, 1_764_222_240_835)]
    );
    assert_eq!(SlaClock::decode(s2).unwrap(), clock);
    assert_eq!(SlaClock::decode(s3).unwrap(), clock);
    let s4 = clock.encode();
    assert!(s4.starts_with("s4"), "{s4}");
    assert!(
        s4.len() * 10 < s3.len() * 6 && s3.len() * 4 < s2.len() * 3 && s2.len() * 4 < s1.len() * 3,
        "{} against {} against {} against {}: {s4}",
        s4.len(),
        s3.len(),
        s2.len(),
        s1.len()
    );
    assert_eq!(SlaClock::decode(&s4).unwrap(), clock);
    // The tag is written as it is, after its length.
    assert!(s4.contains("8delivery"), "{s4}");
    // Each version reads its own words only: basis words, and units in "s3" alone.
    assert!(SlaClock::decode(&s1.replace("business", "b")).is_err());
    assert!(SlaClock::decode(&s2.replacen(",b,", ",business,", 1)).is_err());
    assert!(SlaClock::decode(&s2.replacen("14400000", "4h", 1)).is_err());
    assert!(SlaClock::decode(&s3.replacen(",b,", ",business,", 1)).is_err());
    // A time out of range, or not a number, is an error.
    for bad in ["153722867280912931h", "h", "4x", "4hm", "-h", "1.5h"] {
        let text = s3.replacen(",4h,", &format!(",{bad},"), 1);
        assert!(SlaClock::decode(&text).is_err(), "{text}");
    }
}

fn any_millis() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        (-1_000_000i64..1_000_000).prop_map(|n| n * 1_000),
        (-1_000_000i64..1_000_000).prop_map(|n| n * 60_000),
        (-1_000_000i64..1_000_000).prop_map(|n| n * 3_600_000),
        prop::sample::select(vec![
            0,
            1,
            -1,
            i64::MAX,
            i64::MIN,
            i64::MIN + 1,
            i64::MAX / 3_600_000 * 3_600_000,
            i64::MIN / 3_600_000 * 3_600_000,
            i64::MIN / 1_000 * 1_000,
        ]),
    ]
}

proptest! {
    /// Any times a clock holds (instants, durations, spans; any `i64`) read back from its
    /// text, and one clock has one text.
    #[test]
    fn any_times_read_back_from_the_text(
        times in proptest::array::uniform8(any_millis()),
    ) {
        let s1 = S1_CLOCK;
        let mut clock = SlaClock::decode(s1).unwrap();
        let [last, started, elapsed, duration, warn, due, start, end] = times;
        clock.last_at = last;
        let m = &mut clock.metrics[0];
        m.started_at = started;
        m.elapsed_closed = elapsed;
        m.due_at = Some(due);
        m.periods = vec![(start, end)];
        if let Some(target) = &mut m.target {
            target.duration = duration;
            target.warn_after = Some(warn);
        }
        let text = clock.encode();
        let read = SlaClock::decode(&text).unwrap();
        prop_assert_eq!(&read, &clock);
        prop_assert_eq!(read.encode(), text);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// A stored text changed anywhere (a byte replaced, dropped or added, or the text cut)
    /// reads as an error, or as a clock whose text it is: no text reads as a clock that would
    /// be written otherwise, so comparing texts is comparing clocks. And none panics.
    #[test]
    fn a_changed_text_is_refused_or_is_its_clocks_text(
        position in any::<prop::sample::Index>(),
        byte in prop::sample::select(
            b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ+/-,.%s\xc3".to_vec()
        ),
        change in 0u8..4,
        tags in prop::collection::vec("\\PC{0,6}", 0..3),
    ) {
        let policies = policies();
        let mut clock = SlaClock::decode(S1_CLOCK).unwrap();
        let mut out = Vec::new();
        for tag_text in &tags {
            clock.apply(&policies, clock.last_at, &tag(tag_text), &mut out);
        }
        let text = clock.encode();
        let mut bytes = text.clone().into_bytes();
        let at = position.index(bytes.len());
        match change {
            0 => bytes[at] = byte,
            1 => { bytes.remove(at); }
            2 => bytes.insert(at, byte),
            _ => bytes.truncate(at),
        }
        let Ok(changed) = String::from_utf8(bytes) else {
            return Ok(());
        };
        if let Ok(read) = SlaClock::decode(&changed) {
            prop_assert_eq!(read.encode(), changed);
        }
    }
}

#[test]
fn an_escalation_is_called_for_only_while_its_cycle_is_in_progress() {
    let policies = policies();
    let start = at("2026-01-05T10:00:00Z");
    let mut clock = SlaClock::new(None);
    let mut out = Vec::new();
    clock.apply(&policies, start, &created(Priority::Normal), &mut out);
    clock.apply(&policies, start, &customer(), &mut out);
    clock.advance_to(&policies, start + 24 * 60 * MINUTE, &mut out);
    let warned: Vec<_> = out
        .iter()
        .filter(|t| t.kind == TransitionKind::Warned)
        .cloned()
        .collect();
    let breached: Vec<_> = out
        .iter()
        .filter(|t| t.kind == TransitionKind::Breached)
        .cloned()
        .collect();
    let first_reply_breach = breached
        .iter()
        .find(|t| t.metric == Metric::FirstReply)
        .unwrap();
    assert!(
        clock.calls_for_escalation(first_reply_breach),
        "overdue and unanswered"
    );
    let first_reply_warning = warned
        .iter()
        .find(|t| t.metric == Metric::FirstReply)
        .unwrap();
    assert!(clock.calls_for_escalation(first_reply_warning));
    let applied = out.iter().find(|t| t.metric == Metric::FirstReply).unwrap();
    assert!(
        !clock.calls_for_escalation(applied),
        "only warnings and breaches escalate"
    );
    clock.apply(&policies, start + 24 * 60 * MINUTE + 1, &reply(), &mut out);
    assert!(
        !clock.calls_for_escalation(first_reply_breach),
        "answered since: history"
    );
    assert!(!clock.calls_for_escalation(first_reply_warning));
}

/// A payload of one of the kinds `read_stored` reads (and one it does not), its values
/// picked from `pick` and `text`.
fn stored_payload(kind: u8, pick: &[i64; 6], text: &str) -> EventPayload {
    let at = |i: usize, n: usize| usize::try_from(pick[i].unsigned_abs() % n as u64).unwrap();
    let optional = |i: usize| (pick[i] % 3 != 0).then_some(pick[i]);
    let metric = domain::SlaMetric::ALL[at(2, domain::SlaMetric::ALL.len())];
    let cycle = u32::try_from(pick[3].unsigned_abs() % 1_000).unwrap();
    match kind % 14 {
        0 => EventPayload::Created {
            subject: text.into(),
            channel: Channel::ALL[at(0, Channel::ALL.len())],
            status: Status::ALL[at(1, Status::ALL.len())],
            priority: Priority::ALL[at(2, Priority::ALL.len())],
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
            to: Status::ALL[at(1, Status::ALL.len())],
        },
        3 => EventPayload::PriorityChanged {
            from: Priority::ALL[at(5, Priority::ALL.len())],
            to: Priority::ALL[at(2, Priority::ALL.len())],
        },
        4 => EventPayload::GroupChanged {
            from: optional(3),
            to: optional(4),
        },
        5 => EventPayload::TagAdded { tag: text.into() },
        6 => EventPayload::TagRemoved { tag: text.into() },
        7 => EventPayload::SlaApplied {
            metric,
            cycle,
            at: pick[4],
            policy_id: optional(0),
            target_ms: optional(5),
            basis: (pick[1] % 3 != 0).then_some(if pick[1] % 2 == 0 {
                domain::SlaBasis::Business
            } else {
                domain::SlaBasis::Calendar
            }),
        },
        8 => EventPayload::SlaPaused {
            metric,
            cycle,
            at: pick[4],
        },
        9 => EventPayload::SlaResumed {
            metric,
            cycle,
            at: pick[4],
        },
        10 => EventPayload::SlaWarned {
            metric,
            cycle,
            at: pick[4],
        },
        11 => EventPayload::SlaBreached {
            metric,
            cycle,
            at: pick[4],
        },
        12 => EventPayload::SlaFulfilled {
            metric,
            cycle,
            at: pick[4],
        },
        _ => EventPayload::AssigneeChanged {
            from: optional(3),
            to: optional(5),
        },
    }
}

/// The JSON with the value of its field `name` (when it has one) replaced by `value`.
fn with_value(json: &str, name: &str, value: &str) -> String {
    let key = format!("\"{name}\":");
    let Some(start) = json.find(&key).map(|i| i + key.len()) else {
        return json.to_string();
    };
    let end = json[start..]
        .find([',', '}'])
        .map_or(json.len(), |i| start + i);
    format!("{}{value}{}", &json[..start], &json[end..])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// `read_stored` (the compact reader first, serde for what it does not take whole) reads
    /// what serde alone reads, on the payloads the product writes and on edited ones
    /// (whitespace, escapes, fields twice, wrong types, `-0`, broken text), also under another
    /// kind's name; and the payloads the product writes, with plain texts, never reach serde.
    #[test]
    fn read_stored_reads_what_serde_reads(
        kind in 0u8..14,
        pick in proptest::array::uniform6(any::<i64>().prop_map(|n| n % 100_000)),
        text in "[a-z \"\\\\é\u{1}]{0,8}",
        edit in 0u8..5,
        at in 0usize..200,
        piece in prop::sample::select(vec![
            " ", "\"", "1", ".5", "-0", "null", "\\", "}", "true", "\"x\"",
            ",\"to\":\"open\"", ",\"from\":null", ",\"x\":[1]", ",\"basis\":\"business\"",
            ",\"cycle\":-1", ",\"cycle\":4294967296", "e3", "-",
        ]),
        other_kind in 0u8..20,
        kind_of_json in any::<bool>(),
        field in prop::sample::select(vec![
            "", "cycle", "at", "metric", "basis", "policy_id", "target_ms", "from", "to",
            "group_id", "customer_id", "channel", "status", "priority", "message_kind",
            "message_id", "tag", "kind",
        ]),
        value in prop::sample::select(vec![
            "-1", "4294967295", "4294967296", "-0", "0", "1.5", "1e2", "\"x\"", "null", "true",
            "\"business\"", "\"open\"", "\"urgent\"", "\"reply\"", "\"email\"",
            "\"first_reply\"", "9223372036854775807", "9223372036854775808", "[]", "{}",
            "\"created\"", "\"tag_added\"", "\"sla_warned\"", "\"sla_escalated\"",
        ]),
    ) {
        let payload = stored_payload(kind, &pick, &text);
        let written = payload.to_json();
        let json = with_value(
            &domain::compact_json::edited(&written, edit, at, piece),
            field,
            value,
        );
        let kinds = [CLOCK_INPUT_KINDS, TRANSITION_KINDS, &["sla_escalated", "assignee_changed"]].concat();
        let kind = if kind_of_json { payload.kind() } else { kinds[usize::from(other_kind) % kinds.len()] };
        let read = read_stored(kind, &json).ok();
        let by_serde = crate::stored::read_stored_by_serde(kind, &json).ok();
        prop_assert_eq!(&read, &by_serde, "{} {}", kind, json);
        // Read from the JSON alone, its kind from its own field.
        let logged = read_logged(&json).ok();
        let logged_by_serde = crate::stored::read_logged_by_serde(&json).ok();
        prop_assert_eq!(&logged, &logged_by_serde, "{}", json);
        let plain = !text.contains(['"', '\\', '\u{1}']);
        if plain {
            prop_assert!(
                crate::stored::read_compact(payload.kind(), crate::stored::Object::Whole(&written)).is_some(),
                "left to serde: {} {}", payload.kind(), written
            );
            prop_assert!(
                crate::stored::read_logged_compact(&written).is_some(),
                "left to serde: {}", written
            );
            prop_assert_eq!(
                read_logged(&written).ok(),
                read_stored(payload.kind(), &written).ok(),
                "{}", written
            );
        }
    }
}

mod digest {
    use super::*;

    fn applied(at: i64, policy: Option<i64>, target: Option<i64>) -> SlaTransition {
        SlaTransition {
            at,
            metric: Metric::FirstReply,
            cycle: 1,
            kind: TransitionKind::Applied {
                policy_id: policy,
                target,
                basis: Some(TimeBasis::Business),
            },
        }
    }

    fn plain(at: i64, metric: Metric, cycle: u32, kind: TransitionKind) -> SlaTransition {
        SlaTransition {
            at,
            metric,
            cycle,
            kind,
        }
    }

    #[test]
    fn the_digest_is_stable_across_releases() {
        // Stored in `sla_states`: if this changes, every stored digest disagrees and the
        // next recompute reads every conversation's transitions back from the log once.
        let t = applied(1_764_220_440_835, Some(3), Some(14_400_000));
        assert_eq!(
            t.fingerprint(),
            0x7874_28c7_f125_f545,
            "{:#x}",
            t.fingerprint()
        );
        assert_eq!(transitions_digest([]), 0);
    }

    #[test]
    fn every_field_moves_the_fingerprint() {
        let base = applied(1_000, Some(1), Some(60_000));
        let variants = [
            applied(1_001, Some(1), Some(60_000)),
            applied(1_000, Some(2), Some(60_000)),
            applied(1_000, None, Some(60_000)),
            applied(1_000, Some(1), Some(60_001)),
            applied(1_000, Some(1), None),
            SlaTransition {
                kind: TransitionKind::Applied {
                    policy_id: Some(1),
                    target: Some(60_000),
                    basis: Some(TimeBasis::Calendar),
                },
                ..base.clone()
            },
            SlaTransition {
                kind: TransitionKind::Applied {
                    policy_id: Some(1),
                    target: Some(60_000),
                    basis: None,
                },
                ..base.clone()
            },
            SlaTransition {
                metric: Metric::Resolution,
                ..base.clone()
            },
            SlaTransition {
                cycle: 2,
                ..base.clone()
            },
            plain(1_000, Metric::FirstReply, 1, TransitionKind::Paused),
            plain(1_000, Metric::FirstReply, 1, TransitionKind::Resumed),
            plain(1_000, Metric::FirstReply, 1, TransitionKind::Warned),
            plain(1_000, Metric::FirstReply, 1, TransitionKind::Breached),
            plain(1_000, Metric::FirstReply, 1, TransitionKind::Fulfilled),
        ];
        let mut seen = std::collections::HashSet::new();
        assert!(seen.insert(base.fingerprint()));
        for v in &variants {
            assert!(seen.insert(v.fingerprint()), "{v:?} shares a fingerprint");
        }
    }

    fn transition() -> impl Strategy<Value = SlaTransition> {
        (
            0i64..5,
            0usize..4,
            1u32..4,
            0u8..6,
            proptest::option::of(0i64..3),
        )
            .prop_map(|(at, metric, cycle, kind, policy)| {
                let kind = match kind {
                    0 => TransitionKind::Applied {
                        policy_id: policy,
                        target: policy.map(|p| p * 1_000),
                        basis: Some(TimeBasis::Business),
                    },
                    1 => TransitionKind::Paused,
                    2 => TransitionKind::Resumed,
                    3 => TransitionKind::Warned,
                    4 => TransitionKind::Breached,
                    _ => TransitionKind::Fulfilled,
                };
                SlaTransition {
                    at,
                    metric: Metric::ALL[metric],
                    cycle,
                    kind,
                }
            })
    }

    proptest! {
        /// Equal multisets have equal digests; the digest of a union is the sum; and (on
        /// these small domains, where collisions would show) different multisets differ.
        #[test]
        fn the_digest_is_the_multiset(
            a in proptest::collection::vec(transition(), 0..8),
            b in proptest::collection::vec(transition(), 0..8),
            seed in any::<u64>(),
        ) {
            let mut shuffled = a.clone();
            let len = shuffled.len();
            if len > 1 {
                for i in 0..len {
                    shuffled.swap(i, (seed as usize).wrapping_add(i * 7) % len);
                }
            }
            prop_assert_eq!(transitions_digest(&a), transitions_digest(&shuffled));
            let union: Vec<SlaTransition> = a.iter().chain(&b).cloned().collect();
            prop_assert_eq!(
                transitions_digest(&union),
                transitions_digest(&a).wrapping_add(transitions_digest(&b))
            );
            let same = diff_transitions(&a, &b).is_empty();
            prop_assert_eq!(same, transitions_digest(&a) == transitions_digest(&b));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    /// A clock reset after any log is the new clock: folding a log through a reused clock
    /// gives what a new clock gives.
    #[test]
    fn a_reset_clock_is_a_new_clock(first in any_log(), second in any_log()) {
        let policies = policies();
        let mut reused = SlaClock::new(Some(40));
        let mut out = Vec::new();
        for (t, event) in &first {
            reused.apply(&policies, *t, event, &mut out);
        }
        reused.reset(None);
        prop_assert_eq!(&reused, &SlaClock::new(None));
        let mut fresh = SlaClock::new(None);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for (t, event) in &second {
            reused.apply(&policies, *t, event, &mut a);
            fresh.apply(&policies, *t, event, &mut b);
        }
        prop_assert_eq!(&reused, &fresh);
        prop_assert_eq!(a, b);
    }
}

/// The kinds the clocks write themselves (transitions, escalations) are never inputs, so a
/// recompute that reads only [`CLOCK_INPUT_KINDS`] never meets them; every other kind is
/// read as no clock's input.
#[test]
fn the_clocks_own_kinds_are_never_inputs() {
    for kind in TRANSITION_KINDS.iter().chain(&["sla_escalated"]) {
        assert!(!CLOCK_INPUT_KINDS.contains(kind), "{kind}");
        assert!(
            !matches!(
                read_stored(kind, "{}"),
                Ok(LogEntry::Input(_) | LogEntry::Other)
            ),
            "{kind}"
        );
    }
    assert_eq!(
        read_stored("sla_escalated", "{}").ok(),
        Some(LogEntry::Escalated)
    );
    for kind in ["assignee_changed", "note_added", "field_set"] {
        assert_eq!(
            read_stored(kind, "{}").ok(),
            Some(LogEntry::Other),
            "{kind}"
        );
    }
}

fn any_clock_input() -> impl Strategy<Value = ClockInput<'static>> {
    let group = prop_oneof![Just(None), any::<i64>().prop_map(Some)];
    let tag = prop_oneof![
        Just(String::new()),
        Just(" two  words ".to_string()),
        Just("-".to_string()),
        Just("caf\u{e9} \"quoted\" \\ \n".to_string()),
        any::<String>(),
    ];
    prop_oneof![
        (
            prop::sample::select(Channel::ALL),
            prop::sample::select(Status::ALL),
            prop::sample::select(Priority::ALL),
            group.clone(),
            any::<i64>(),
        )
            .prop_map(
                |(channel, status, priority, group, customer)| ClockInput::Created {
                    channel,
                    status,
                    priority,
                    group,
                    customer,
                }
            ),
        prop::sample::select(MessageKind::ALL).prop_map(ClockInput::MessageAdded),
        prop::sample::select(Status::ALL).prop_map(ClockInput::StatusChanged),
        prop::sample::select(Priority::ALL).prop_map(ClockInput::PriorityChanged),
        group.prop_map(ClockInput::GroupChanged),
        tag.clone().prop_map(|t| ClockInput::TagAdded(t.into())),
        tag.prop_map(|t| ClockInput::TagRemoved(t.into())),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    /// The log's `clock_input` text reads back as what it was written from, whatever the
    /// group, customer and tag; the texts of two different inputs differ.
    #[test]
    fn a_clock_input_reads_back_from_its_text(a in any_clock_input(), b in any_clock_input()) {
        let text = clock_input_text(&a);
        let read = read_clock_input(&text);
        prop_assert_eq!(read.as_ref(), Some(&a));
        prop_assert_eq!(text == clock_input_text(&b), a == b);
    }

    /// Any other text reads as no input, never a panic; `?` (a payload that lacks a field
    /// the clock reads) and cut or padded texts among them.
    #[test]
    fn a_text_that_is_not_a_clock_input_reads_as_none(a in any_clock_input(), cut in 0usize..40, text in ".{0,40}") {
        let _ = read_clock_input(&text);
        let whole = clock_input_text(&a);
        if let Some(prefix) = whole.get(..cut).filter(|p| p.len() < whole.len()) {
            if let Some(read) = read_clock_input(prefix) {
                // Only a tag, or a number, can be cut and still be read.
                prop_assert!(matches!(
                    read,
                    ClockInput::TagAdded(_) | ClockInput::TagRemoved(_) | ClockInput::Created { .. } | ClockInput::GroupChanged(_)
                ), "{:?} cut to {:?}", a, prefix);
            }
        }
        prop_assert_eq!(read_clock_input("?"), None);
        prop_assert_eq!(read_clock_input(&format!("{whole} ")).is_some(), matches!(a, ClockInput::TagAdded(_) | ClockInput::TagRemoved(_)));
    }
}

#[test]
fn the_clock_input_texts_are_the_ones_the_database_writes() {
    let cases = [
        (
            ClockInput::Created {
                channel: Channel::Email,
                status: Status::New,
                priority: Priority::Normal,
                group: Some(12),
                customer: 345,
            },
            "c email new normal 345 12",
        ),
        (
            ClockInput::Created {
                channel: Channel::Social,
                status: Status::OnHold,
                priority: Priority::Urgent,
                group: None,
                customer: -1,
            },
            "c social on_hold urgent -1 -",
        ),
        (ClockInput::MessageAdded(MessageKind::Reply), "m reply"),
        (ClockInput::StatusChanged(Status::Pending), "s pending"),
        (ClockInput::PriorityChanged(Priority::High), "p high"),
        (ClockInput::GroupChanged(None), "g -"),
        (ClockInput::GroupChanged(Some(7)), "g 7"),
        (
            ClockInput::TagAdded("vip customer".into()),
            "+ vip customer",
        ),
        (ClockInput::TagRemoved("".into()), "- "),
    ];
    for (input, text) in cases {
        assert_eq!(clock_input_text(&input), text);
        assert_eq!(read_clock_input(text), Some(input));
    }
    for bad in [
        "?",
        "",
        "c",
        "m",
        "m ",
        "m replies",
        "x reply",
        "g +7",
        "g 7 ",
        "c email new normal 345",
        "c email new normal 345 12 9",
        "s  open",
        "p",
    ] {
        assert_eq!(read_clock_input(bad), None, "{bad:?}");
    }
}
