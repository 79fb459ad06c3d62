//! Rapport's own log as a process-mining log: the documented mapping, and who may read it.

use domain::{MessageKind, Principal, Status};

use crate::support::{backends, inbound, message, post_message, team, MIN, T0};

#[tokio::test]
async fn the_conversation_log_maps_to_activities_and_only_managers_read_it() {
    for db in backends().await {
        let app = db.app();
        let t = team(&app).await;
        let c = app
            .create_conversation(
                &Principal::System,
                inbound("ann@x.test", "Help", "Hi", Some(t.support)),
                T0,
            )
            .await
            .unwrap();
        app.add_message(
            &t.agent,
            c.number,
            message(MessageKind::Reply, "Hello"),
            Some(Status::Pending),
            T0 + 60_000,
        )
        .await
        .unwrap();
        post_message(
            &app,
            &Principal::System,
            c.number,
            MessageKind::Customer,
            "Thanks",
            T0 + 120_000,
        )
        .await;
        app.add_message(
            &t.agent,
            c.number,
            message(MessageKind::Reply, "Done"),
            Some(Status::Solved),
            T0 + 180_000,
        )
        .await
        .unwrap();
        // The process log is read below the PostgreSQL horizon, like every whole-log scan.
        crate::support::whole_log(&app.store).await;
        for who in [&t.agent, &t.lead] {
            assert!(matches!(
                app.process_log(who).await,
                Err(app::AppError::Forbidden(_))
            ));
        }
        let log = app.process_log(&t.manager).await.unwrap();
        let variants = mining::Variants::discover(&log, &log.classify(mining::Classifier::Name));
        let report = serde_json::to_value(mining::report::variants_report(&variants)).unwrap();
        assert_eq!(
            report[0]["activities"],
            serde_json::json!([
                "Created",
                "First reply",
                "Pending",
                "Customer replied",
                "Agent replied",
                "Solved"
            ]),
            "{}: {report}",
            db.name
        );
        db.finish().await;
    }
}

/// Each case of the log as `activity | resource | group` lines, cases by number.
fn steps_of(log: &mining::EventLog) -> Vec<(String, Vec<String>)> {
    (0..log.case_count())
        .map(|case| {
            let name = log.strings.resolve(log.case_names[case]).to_string();
            let steps = log
                .case_range(case)
                .map(|e| {
                    let text = |id: u32| {
                        if id == mining::NONE {
                            "-".to_string()
                        } else {
                            log.strings.resolve(id).to_string()
                        }
                    };
                    format!(
                        "{} | {} | {} | {}",
                        log.activities.resolve(log.activity[e]),
                        text(log.resource[e]),
                        text(log.group[e]),
                        (log.timestamp[e] - T0) / MIN
                    )
                })
                .collect();
            (name, steps)
        })
        .collect()
}

/// The whole mapping table on interleaved conversations, with SLA events (which the mapping
/// leaves out) between their steps: every case keeps its steps in order, with the resource
/// and the group of the moment.
#[tokio::test]
async fn every_mapped_kind_becomes_its_activity_and_sla_events_are_left_out() {
    use app::{CalendarInput, Patch, PolicyInput};
    use domain::{Priority, SlaBasis, SlaMetric};
    for db in backends().await {
        let app = db.app();
        let t = team(&app).await;
        let calendar = app
            .add_sla_calendar(
                &t.admin,
                CalendarInput {
                    name: "Always".into(),
                    time_zone: "UTC".into(),
                    hours: "mon-sun 00:00-24:00".into(),
                    holidays: vec![],
                    exceptions: vec![],
                },
                T0,
            )
            .await
            .unwrap();
        app.add_sla_policy(
            &t.admin,
            PolicyInput {
                name: "Everyone".into(),
                position: None,
                conditions: ::sla::Conditions::default(),
                calendar_id: Some(calendar.id),
                targets: vec![::sla::TargetRule {
                    metric: SlaMetric::FirstReply,
                    priority: Priority::Normal,
                    minutes: 2,
                    basis: SlaBasis::Calendar,
                }],
                warn_at_percent: Some(50),
                on_hold_pauses: true,
            },
            T0,
        )
        .await
        .unwrap();
        let sys = Principal::System;
        let create = |email: &'static str, group: i64, at: i64| {
            let app = app.clone();
            async move {
                app.create_conversation(
                    &Principal::System,
                    inbound(email, "Help", "Hi", Some(group)),
                    at,
                )
                .await
                .unwrap()
                .number
            }
        };
        let patch = |number: i64, by: Principal, patch: Patch, at: i64| {
            let app = app.clone();
            async move {
                app.update_conversation(&by, number, patch, at)
                    .await
                    .unwrap();
            }
        };
        let say = |number: i64, by: Principal, kind: MessageKind, status: Option<Status>, at| {
            let app = app.clone();
            async move {
                app.add_message(&by, number, message(kind, "text"), status, at)
                    .await
                    .unwrap();
            }
        };
        let one = create("ann@x.test", t.support, T0).await;
        let two = create("bob@x.test", t.billing, T0 + MIN).await;
        // The SLA clocks run between the steps, so their events interleave with the rest.
        crate::support::clocks_catch_up(&app, 100, T0 + 5 * MIN).await;
        patch(
            one,
            t.lead.clone(),
            Patch {
                assignee_id: Some(Some(t.agent_id)),
                ..Default::default()
            },
            T0 + 2 * MIN,
        )
        .await;
        say(one, t.agent.clone(), MessageKind::Note, None, T0 + 3 * MIN).await;
        patch(
            one,
            t.agent.clone(),
            Patch {
                priority: Some(Priority::High),
                ..Default::default()
            },
            T0 + 4 * MIN,
        )
        .await;
        // Support hands it to Billing, Billing answers and sends it back.
        patch(
            one,
            t.agent.clone(),
            Patch {
                group_id: Some(Some(t.billing)),
                assignee_id: Some(None),
                ..Default::default()
            },
            T0 + 5 * MIN,
        )
        .await;
        patch(
            two,
            t.manager.clone(),
            Patch {
                priority: Some(Priority::Low),
                ..Default::default()
            },
            T0 + 6 * MIN,
        )
        .await;
        patch(
            one,
            t.biller.clone(),
            Patch {
                assignee_id: Some(Some(t.biller_id)),
                ..Default::default()
            },
            T0 + 7 * MIN,
        )
        .await;
        crate::support::clocks_catch_up(&app, 100, T0 + 8 * MIN).await;
        say(
            one,
            t.biller.clone(),
            MessageKind::Reply,
            Some(Status::Pending),
            T0 + 8 * MIN,
        )
        .await;
        say(one, sys.clone(), MessageKind::Customer, None, T0 + 9 * MIN).await;
        say(
            one,
            t.biller.clone(),
            MessageKind::Reply,
            Some(Status::OnHold),
            T0 + 10 * MIN,
        )
        .await;
        patch(
            one,
            t.biller.clone(),
            Patch {
                group_id: Some(Some(t.support)),
                assignee_id: Some(Some(t.agent_id)),
                ..Default::default()
            },
            T0 + 11 * MIN,
        )
        .await;
        say(
            one,
            t.agent.clone(),
            MessageKind::Reply,
            Some(Status::Solved),
            T0 + 12 * MIN,
        )
        .await;
        say(one, sys.clone(), MessageKind::Customer, None, T0 + 13 * MIN).await;
        for (status, minute) in [(Status::Solved, 14), (Status::Closed, 15)] {
            let change = Patch {
                status: Some(status),
                ..Default::default()
            };
            patch(one, t.agent.clone(), change, T0 + minute * MIN).await;
        }
        crate::support::clocks_catch_up(&app, 100, T0 + 16 * MIN).await;
        let three = create("cy@x.test", t.billing, T0 + 16 * MIN).await;
        app.merge_conversations(&t.manager, three, two, T0 + 17 * MIN)
            .await
            .unwrap();
        crate::support::clocks_catch_up(&app, 100, T0 + 18 * MIN).await;

        let sla_events = crate::support::whole_log(&app.store)
            .await
            .iter()
            .filter(|e| e.kind.starts_with("sla_") && e.conversation.is_some())
            .count();
        assert!(sla_events > 0, "{}: the SLA clocks wrote events", db.name);
        let log = app.process_log(&t.manager).await.unwrap();
        let steps = steps_of(&log);
        let shown: Vec<String> = steps
            .iter()
            .map(|(case, steps)| format!("{case}:\n  {}", steps.join("\n  ")))
            .collect();
        let shown = shown.join("\n");
        // activity | resource | group | minutes after T0
        let expected: Vec<(String, Vec<&str>)> = vec![
            (
                one.to_string(),
                vec![
                    "Created | system | Support | 0",
                    "Assigned to agent | lead@t.test | Support | 2",
                    "Internal note | agent@t.test | Support | 3",
                    "Priority raised | agent@t.test | Support | 4",
                    "Assigned to group Billing | agent@t.test | Billing | 5",
                    "Assigned to agent | biller@t.test | Billing | 7",
                    "First reply | biller@t.test | Billing | 8",
                    "Pending | biller@t.test | Billing | 8",
                    "Customer replied | system | Billing | 9",
                    "Agent replied | biller@t.test | Billing | 10",
                    "On hold | biller@t.test | Billing | 10",
                    "Assigned to group Support | biller@t.test | Support | 11",
                    "Assigned to agent | biller@t.test | Support | 11",
                    "Agent replied | agent@t.test | Support | 12",
                    "Solved | agent@t.test | Support | 12",
                    "Customer replied | system | Support | 13",
                    "Reopened | system | Support | 13",
                    "Solved | agent@t.test | Support | 14",
                    "Closed | agent@t.test | Support | 15",
                ],
            ),
            (
                two.to_string(),
                vec![
                    "Created | system | Billing | 1",
                    "Priority lowered | manager@t.test | Billing | 6",
                ],
            ),
            (
                three.to_string(),
                vec![
                    "Created | system | Billing | 16",
                    "Closed | manager@t.test | Billing | 17",
                    "Merged | manager@t.test | Billing | 17",
                ],
            ),
        ];
        assert_eq!(
            steps
                .iter()
                .map(|(c, s)| (c.clone(), s.iter().map(String::as_str).collect::<Vec<_>>()))
                .collect::<Vec<_>>(),
            expected
                .iter()
                .map(|(c, s)| (c.clone(), s.clone()))
                .collect::<Vec<_>>(),
            "{}:\n{shown}",
            db.name
        );
        db.finish().await;
    }
}
