//! Improvement initiatives: a change that really moved its KPI is called a significant
//! improvement, one that did not is "no clear change", and one without data "too few cases";
//! only managers and administrators record and read them, each recording is an event, and the
//! API and the page serve them.

use ::kpi::initiative::Outcome;
use app::{AppError, InitiativeInput};
use axum::http::StatusCode;
use domain::{MessageKind, Principal, Status};

use crate::process_page::Pages;
use crate::support::*;

const DAY: i64 = 86_400_000;
const HOUR: i64 = 3_600_000;
/// The change starts four weeks after T0; the test looks at it four weeks and a day later.
const START: i64 = T0 + 28 * DAY;
const NOW: i64 = START + 29 * DAY;

/// 40 conversations in each group before the start and 40 after, one every 12 hours, each
/// answered and solved by its group's agent. Support answered in about 5 hours before and 20
/// minutes after; Billing in 30, 60 or 90 minutes throughout.
async fn play(app: &app::App, team: &Team) {
    for (period_start, support_delay) in [(T0, 5 * HOUR), (START, 20 * MIN)] {
        for i in 0..40 {
            let at = period_start + i * 12 * HOUR;
            for (group, agent, delay) in [
                (team.support, &team.agent, support_delay + (i % 3) * MIN),
                (team.billing, &team.biller, (1 + i % 3) * 30 * MIN),
            ] {
                let c = app
                    .create_conversation(
                        &Principal::System,
                        inbound(
                            &format!("c{i}-{group}@x.test"),
                            "Invoice",
                            "Hello",
                            Some(group),
                        ),
                        at,
                    )
                    .await
                    .unwrap();
                app.add_message(
                    agent,
                    c.number,
                    message(MessageKind::Reply, "Done"),
                    Some(Status::Solved),
                    at + delay,
                )
                .await
                .unwrap();
            }
        }
    }
}

fn input(name: &str, kpi: &str, group: Option<i64>, started_at: i64) -> InitiativeInput {
    InitiativeInput {
        name: name.into(),
        description: String::new(),
        kpi: kpi.into(),
        group_id: group,
        started_at,
        started_on: None,
        period_days: None,
    }
}

#[tokio::test]
async fn an_initiative_is_judged_on_its_kpi_before_and_after_the_start() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        play(&app, &team).await;
        rollup_everything(&app, 1000).await;

        let faster = app
            .record_initiative(
                &team.manager,
                input(
                    "Support answers from a shared inbox",
                    "first_reply_median",
                    Some(team.support),
                    START,
                ),
                NOW,
            )
            .await
            .unwrap();
        assert_eq!(faster.verdict.outcome, Outcome::Improved, "{faster:#?}");
        let (before, after) = (
            faster.verdict.before.clone().unwrap(),
            faster.verdict.after.clone().unwrap(),
        );
        assert_eq!((before.n, after.n), (40, 40), "{}", db.name);
        assert!(before.value.unwrap() > 4.0 * 3600.0 && after.value.unwrap() < 3600.0);
        assert!(faster.verdict.test.as_ref().unwrap().significant);
        assert_eq!(faster.verdict.after_from, START - START % DAY);
        assert_eq!(
            faster.verdict.after_to - faster.verdict.after_from,
            28 * DAY
        );
        assert_eq!(
            faster.verdict.before_to - faster.verdict.before_from,
            28 * DAY
        );
        assert!(faster.verdict.summary.contains("for the better"));

        let same = app
            .record_initiative(
                &team.admin,
                input(
                    "Billing reads the FAQ",
                    "first_reply_median",
                    Some(team.billing),
                    START,
                ),
                NOW,
            )
            .await
            .unwrap();
        assert_eq!(same.verdict.outcome, Outcome::NoClearChange, "{same:#?}");
        assert_eq!(same.verdict.before.as_ref().unwrap().n, 40);

        let empty = app
            .record_initiative(
                &team.manager,
                input(
                    "Last year's rota",
                    "first_reply_median",
                    None,
                    T0 - 200 * DAY,
                ),
                NOW,
            )
            .await
            .unwrap();
        assert_eq!(empty.verdict.outcome, Outcome::TooFewCases);
        let planned = app
            .record_initiative(
                &team.manager,
                input("Next month's rota", "csat", None, NOW + 10 * DAY),
                NOW,
            )
            .await
            .unwrap();
        assert_eq!(planned.verdict.outcome, Outcome::TooFewCases);
        assert!(planned.verdict.summary.contains("not started"));

        // Halfway through the period after, the comparison is of the days so far.
        let halfway = app
            .initiative(&team.manager, faster.id, START + 14 * DAY + HOUR)
            .await
            .unwrap();
        assert_eq!(
            halfway.verdict.after_to - halfway.verdict.after_from,
            15 * DAY
        );
        assert!(halfway.verdict.summary.contains("still running"));

        let listed = app.initiatives(&team.manager, NOW).await.unwrap();
        let names: Vec<&str> = listed.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "Next month's rota",
                "Billing reads the FAQ",
                "Support answers from a shared inbox",
                "Last year's rota"
            ],
            "the most recently started first"
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn only_managers_record_initiatives_on_a_kpi_of_the_catalogue_and_each_is_an_event() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let good = || input("Shorter macros", "first_reply_median", None, START);
        for who in [
            &team.agent,
            &team.lead,
            &team.biller,
            &Principal::Customer { id: 1 },
        ] {
            assert!(matches!(
                app.record_initiative(who, good(), NOW).await,
                Err(AppError::Forbidden(_))
            ));
            assert!(matches!(
                app.initiatives(who, NOW).await,
                Err(AppError::Forbidden(_))
            ));
        }
        let bad = [
            input("", "first_reply_median", None, START),
            input("Unknown KPI", "happiness", None, START),
            input("Live KPI", "backlog", None, START),
            input("Unknown group", "first_reply_median", Some(999_999), START),
            InitiativeInput {
                period_days: Some(3),
                ..good()
            },
        ];
        for input in bad {
            let name = input.name.clone();
            assert!(
                matches!(
                    app.record_initiative(&team.manager, input, NOW).await,
                    Err(AppError::Invalid(_))
                ),
                "{name}"
            );
        }
        let recorded = app
            .record_initiative(&team.manager, good(), NOW)
            .await
            .unwrap();
        assert!(matches!(
            app.initiative(&team.manager, recorded.id + 1000, NOW).await,
            Err(AppError::NotFound(_))
        ));
        let events = whole_log(&app.store).await;
        let event = events
            .iter()
            .find(|e| e.kind == "initiative_recorded")
            .unwrap_or_else(|| panic!("no initiative_recorded event ({})", db.name));
        assert_eq!(event.actor_kind, "agent");
        assert!(event.conversation.is_none());
        let payload: serde_json::Value = serde_json::from_str(&event.payload).unwrap();
        assert_eq!(payload["initiative_id"], recorded.id);
        assert_eq!(payload["kpi"], "first_reply_median");
        assert_eq!(payload["started_at"], START);
        db.finish().await;
    }
}

#[tokio::test]
async fn the_api_and_the_page_record_and_show_initiatives_with_their_verdicts() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        play(&app, &team).await;
        rollup_everything(&app, 1000).await;
        let admin = app
            .create_token(&Principal::System, "admin", &[domain::Scope::Admin], T0)
            .await
            .unwrap()
            .secret;
        let reader = app
            .create_token(
                &Principal::System,
                "reader",
                &[domain::Scope::ConversationsRead],
                T0,
            )
            .await
            .unwrap()
            .secret;
        let state = web::AppState::new(app.clone(), std::sync::Arc::new(|| NOW), false);
        let router = web::router(state);

        let (status, created) = bearer_json(
            &router,
            "POST",
            "/api/v1/initiatives",
            &admin,
            Some(serde_json::json!({
                "name": "Support answers from a shared inbox",
                "kpi": "first_reply_median",
                "group_id": team.support,
                "started_at": "2026-01-29",
            })),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        assert_eq!(created["verdict"]["outcome"], "improved", "{created}");
        assert_eq!(created["verdict"]["label"], "Significant improvement");
        assert_eq!(created["verdict"]["before"]["n"], 40);
        assert_eq!(created["verdict"]["after_from"], "2026-01-29T00:00:00Z");
        assert_eq!(created["polarity"], "lower_is_better");
        assert_eq!(created["group_name"], "Support");
        let id = created["id"].as_i64().unwrap();

        let (status, one) = bearer_json(
            &router,
            "GET",
            &format!("/api/v1/initiatives/{id}"),
            &admin,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(one["verdict"]["outcome"], "improved");
        let (status, list) = bearer_json(&router, "GET", "/api/v1/initiatives", &admin, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(list["total"], 1);
        assert_eq!(list["items"][0]["id"], id);

        for (uri, expected) in [
            ("/api/v1/initiatives/999999", StatusCode::NOT_FOUND),
            ("/api/v1/initiatives/first", StatusCode::NOT_FOUND),
        ] {
            assert_eq!(
                bearer_json(&router, "GET", uri, &admin, None).await.0,
                expected
            );
        }
        assert_eq!(
            bearer_json(&router, "GET", "/api/v1/initiatives", &reader, None)
                .await
                .0,
            StatusCode::FORBIDDEN
        );
        for body in [
            serde_json::json!({"name": "x", "kpi": "nope", "started_at": "2026-01-29"}),
            serde_json::json!({"name": "x", "kpi": "csat", "started_at": "soon"}),
            serde_json::json!({"name": "x", "kpi": "csat", "started_at": "2026-01-29", "period_days": 1000}),
        ] {
            let (status, error) =
                bearer_json(&router, "POST", "/api/v1/initiatives", &admin, Some(body)).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error}");
            assert!(error["error"]["message"].as_str().unwrap().len() > 10);
        }
        let (status, _) = bearer_json(
            &router,
            "POST",
            "/api/v1/initiatives",
            &admin,
            Some(serde_json::json!({"name": "x", "kpi": "csat", "started_at": "2026-01-29", "colour": "red"})),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "unknown fields are refused"
        );

        // The page: the list with its verdict, and the form.
        let pages = Pages::new(db.app(), NOW);
        let manager = pages.sign_in("manager@t.test", "pw-1234").await;
        let page = pages.get("/app/initiatives", &manager).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("Support answers from a shared inbox"));
        assert!(page.body.contains("data-outcome=\"improved\""));
        assert!(page.body.contains("Significant improvement"));
        assert!(!page.body.contains("style="), "no inline style");
        assert!(
            !page.body.contains("<option value=\"backlog\">"),
            "live KPIs cannot be compared"
        );
        let fields = |csrf: &str| {
            vec![
                ("csrf", csrf.to_string()),
                ("name", "Billing reads the FAQ".to_string()),
                ("kpi", "first_reply_median".to_string()),
                ("group", team.billing.to_string()),
                ("started", "2026-01-29".to_string()),
                ("period_days", "28".to_string()),
            ]
        };
        let post = |pairs: Vec<(&'static str, String)>| {
            let pages = &pages;
            let manager = &manager;
            async move {
                let pairs: Vec<(&str, &str)> =
                    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
                pages.post("/app/initiatives", manager, &pairs).await
            }
        };
        let refused = post(fields("not-the-token")).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        let mut bad = fields(&manager.csrf);
        bad[2].1 = "happiness".into();
        assert_eq!(post(bad).await.status, StatusCode::UNPROCESSABLE_ENTITY);
        let saved = post(fields(&manager.csrf)).await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
        let page = pages.get(&saved.location, &manager).await;
        assert!(page.body.contains("Recorded."));
        assert!(page.body.contains("Billing reads the FAQ"));
        assert!(page.body.contains("data-outcome=\"no_clear_change\""));
        db.finish().await;
    }
}
