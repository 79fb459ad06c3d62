//! KPI days are the business calendar's local days everywhere: a period typed as dates (in the
//! app, the API and `rapport kpi show`) covers those local days, the same as the buckets, and so
//! do an improvement initiative's start typed as a date and the date bounds of the survey
//! answers; and a new time zone for the roll-ups' calendar rewinds the roll-up consumer, which
//! refolds the log into the new days at once, the figures saying meanwhile that they are being
//! recomputed (never zeros).

use app::{App, CalendarInput, KpiQuery};
use domain::Principal;

use crate::support::*;

const HOUR: i64 = 3_600_000;
/// 2026-01-02T00:00:00Z.
const JAN_2: i64 = 1_767_312_000_000;
/// Los Angeles is eight hours behind UTC in January: its 2 January runs from 08:00Z to
/// 08:00Z on the 3rd.
const LA: &str = "America/Los_Angeles";

/// Three conversations: one late on 1 January in Los Angeles (06:00Z on the 2nd), two on
/// 2 January there (10:00Z on the 2nd and 07:00Z on the 3rd). In UTC days: two on the 2nd and
/// one on the 3rd.
async fn three_conversations(app: &App, team: &Team) -> Vec<i64> {
    let mut numbers = Vec::new();
    for (i, at) in [JAN_2 + 6 * HOUR, JAN_2 + 10 * HOUR, JAN_2 + 31 * HOUR]
        .into_iter()
        .enumerate()
    {
        let c = app
            .create_conversation(
                &Principal::System,
                inbound(
                    &format!("d{i}@x.test"),
                    "Help",
                    "Please",
                    Some(team.support),
                ),
                at,
            )
            .await
            .unwrap();
        numbers.push(c.number);
    }
    numbers
}

fn office(time_zone: &str, hours: &str) -> CalendarInput {
    CalendarInput {
        name: "Office".into(),
        time_zone: time_zone.into(),
        hours: hours.into(),
        holidays: vec![],
        exceptions: vec![],
    }
}

fn dates(from: &str, to: &str) -> KpiQuery {
    KpiQuery {
        from_date: Some(from.parse().unwrap()),
        to_date: Some(to.parse().unwrap()),
        ..KpiQuery::default()
    }
}

const NOW: i64 = JAN_2 + 5 * 24 * HOUR;

async fn volume(app: &App, team: &Team, query: &KpiQuery) -> Option<f64> {
    app.kpi_report(&team.manager, "volume", query, NOW)
        .await
        .unwrap()
        .figure
        .value
}

async fn drilled(app: &App, team: &Team, query: &KpiQuery) -> Vec<i64> {
    let mut numbers = app
        .kpi_drill(&team.manager, "volume", query, 1000, NOW)
        .await
        .unwrap();
    numbers.sort_unstable();
    numbers
}

#[tokio::test]
async fn a_period_typed_as_dates_is_the_local_days_of_the_calendar() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        app.add_sla_calendar(&team.admin, office(LA, "mon-fri 09:00-17:00"), T0)
            .await
            .unwrap();
        let numbers = three_conversations(&app, &team).await;
        rollup_everything(&app, 100).await;

        // 2 January as a date is 2 January in Los Angeles: the second and third conversations
        // (UTC midnight would have started the period on 1 January there and counted all three).
        let jan_2 = dates("2026-01-02", "2026-01-03");
        assert_eq!(volume(&app, &team, &jan_2).await, Some(2.0), "{}", db.name);
        assert_eq!(drilled(&app, &team, &jan_2).await, numbers[1..].to_vec());
        assert_eq!(
            drilled(&app, &team, &dates("2026-01-01", "2026-01-02")).await,
            numbers[..1].to_vec(),
            "{}",
            db.name
        );
        // The same figures as the buckets of that local day given as instants.
        let local_day = KpiQuery {
            from: Some(JAN_2 + 8 * HOUR),
            to: Some(JAN_2 + 32 * HOUR),
            ..KpiQuery::default()
        };
        let by_dates = app.kpi_reports(&team.manager, &jan_2, NOW).await.unwrap();
        let by_instants = app
            .kpi_reports(&team.manager, &local_day, NOW)
            .await
            .unwrap();
        let figures = |r: &[app::KpiReport]| {
            r.iter()
                .map(|x| (x.figure.clone(), x.from, x.to, x.previous.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(figures(&by_dates), figures(&by_instants), "{}", db.name);
        assert_eq!(by_dates[0].from, JAN_2 + 8 * HOUR);

        // A bound given both ways is refused, not guessed.
        let both = KpiQuery {
            from: Some(JAN_2),
            ..dates("2026-01-02", "2026-01-03")
        };
        assert!(matches!(
            app.kpi_report(&team.manager, "volume", &both, NOW).await,
            Err(app::AppError::Invalid(_))
        ));

        // The API reads a date the same way; an instant stays an instant.
        let admin = app
            .create_token(&Principal::System, "admin", &[domain::Scope::Admin], T0)
            .await
            .unwrap()
            .secret;
        let state = web::AppState::new(app.clone(), std::sync::Arc::new(|| NOW), false);
        let router = web::router(state);
        for (uri, expected, from) in [
            (
                "/api/v1/kpis/volume?from=2026-01-02&to=2026-01-03",
                2.0,
                "2026-01-02T08:00:00Z",
            ),
            (
                "/api/v1/kpis/volume?from=2026-01-01&to=2026-01-02",
                1.0,
                "2026-01-01T08:00:00Z",
            ),
            (
                "/api/v1/kpis/volume?from=2026-01-02T08:00:00Z&to=2026-01-03T08:00:00Z",
                2.0,
                "2026-01-02T08:00:00Z",
            ),
        ] {
            let answer = bearer(&router, "GET", uri, &admin, None).await;
            assert_eq!(answer.status, axum::http::StatusCode::OK, "{uri}");
            let body: serde_json::Value = serde_json::from_str(&answer.text()).unwrap();
            assert_eq!(body["value"], expected, "{uri} on {}: {body}", db.name);
            assert_eq!(body["from"], from, "{uri}");
        }
        let answer = bearer(
            &router,
            "GET",
            "/api/v1/kpis/volume?from=yesterday",
            &admin,
            None,
        )
        .await;
        assert_eq!(answer.status, axum::http::StatusCode::BAD_REQUEST);
        db.finish().await;
    }
}

#[tokio::test]
async fn rapport_kpi_show_reads_dates_as_local_days() {
    let dir = tempfile::tempdir().unwrap();
    let store = store::Store::open_sqlite(dir.path()).await.unwrap();
    let app = App::new(store.clone(), app::Settings::default());
    let team = team(&app).await;
    app.add_sla_calendar(&team.admin, office(LA, "mon-fri 09:00-17:00"), T0)
        .await
        .unwrap();
    three_conversations(&app, &team).await;
    store.close().await;
    let data = dir.path().to_str().unwrap();
    for (from, to, expected) in [
        ("2026-01-02", "2026-01-03", 2.0),
        ("2026-01-01", "2026-01-02", 1.0),
    ] {
        let out = rapport_ok(&[
            "kpi", "show", "volume", "--data", data, "--from", from, "--to", to,
        ]);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["value"], expected, "{from}..{to}: {report}");
    }
}

#[tokio::test]
async fn a_new_time_zone_for_the_calendar_refolds_the_rollups_into_its_days() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let calendar = app
            .add_sla_calendar(&team.admin, office("UTC", "mon-fri 09:00-17:00"), T0)
            .await
            .unwrap();
        let numbers = three_conversations(&app, &team).await;
        rollup_everything(&app, 100).await;
        let jan_2 = dates("2026-01-02", "2026-01-03");
        // In UTC days, 2 January holds the first two.
        assert_eq!(drilled(&app, &team, &jan_2).await, numbers[..2].to_vec());

        // New hours in the same zone: the days stay, the roll-ups too (no refold needed).
        app.update_sla_calendar(
            &team.admin,
            calendar.id,
            office("UTC", "mon-sat 08:00-18:00"),
            T0,
        )
        .await
        .unwrap();
        assert_eq!(volume(&app, &team, &jan_2).await, Some(2.0), "{}", db.name);

        // A new zone: in the same transaction the roll-ups are forgotten and the consumer is
        // rewound, so nothing is counted in the old days meanwhile…
        app.update_sla_calendar(
            &team.admin,
            calendar.id,
            office(LA, "mon-sat 08:00-18:00"),
            T0,
        )
        .await
        .unwrap();
        assert_recomputing(&app, &team, &jan_2, db.name).await;
        // … and its next run refolds the whole log into Los Angeles days, in one transaction
        // however small its batches.
        app.run_kpi_rollups(2, T0).await.unwrap();
        assert!(!app.kpi_rollups_recomputing().await.unwrap());
        rollup_everything(&app, 2).await;
        assert_eq!(drilled(&app, &team, &jan_2).await, numbers[1..].to_vec());
        assert_eq!(volume(&app, &team, &jan_2).await, Some(2.0), "{}", db.name);
        assert_eq!(
            volume(&app, &team, &dates("2026-01-01", "2026-01-02")).await,
            Some(1.0),
            "{}",
            db.name
        );
        // What a rebuild in the new days gives.
        let live = app.kpi_reports(&team.manager, &jan_2, NOW).await.unwrap();
        app.rebuild_kpi_rollups(&Principal::System, 5, T0)
            .await
            .unwrap();
        let rebuilt = app.kpi_reports(&team.manager, &jan_2, NOW).await.unwrap();
        let figures = |r: &[app::KpiReport]| r.iter().map(|x| x.figure.clone()).collect::<Vec<_>>();
        assert_eq!(figures(&rebuilt), figures(&live), "{}", db.name);
        db.finish().await;
    }
}

/// While the roll-ups are recomputed, every figure kept in them says so (no value, status
/// `recomputing`, no previous period), in the app, the API and the page; the drill-down
/// answers that it cannot list the conversations yet; the exception alerts raise nothing; and
/// the live backlog, which does not come from the roll-ups, is still shown.
async fn assert_recomputing(app: &App, team: &Team, period: &KpiQuery, name: &str) {
    assert!(app.kpi_rollups_recomputing().await.unwrap(), "{name}");
    let reports = app.kpi_reports(&team.manager, period, NOW).await.unwrap();
    for report in &reports {
        if report.figure.key.starts_with("backlog") {
            assert!(!report.recomputing, "{name}: {report:?}");
            continue;
        }
        assert!(report.recomputing, "{name}: {report:?}");
        assert_eq!(report.figure.value, None, "{name}: {report:?}");
        assert_eq!(report.figure.status, app::RECOMPUTING, "{name}");
        assert!(report.previous.is_none() && report.change.is_none());
    }
    assert_eq!(
        reports
            .iter()
            .find(|r| r.figure.key == "backlog")
            .and_then(|r| r.figure.value),
        Some(3.0),
        "{name}"
    );
    assert!(matches!(
        app.kpi_drill(&team.manager, "volume", period, 1000, NOW)
            .await,
        Err(app::AppError::Conflict(_))
    ));
    let raised = app.check_kpi_alerts(NOW).await.unwrap();
    assert!(
        raised.iter().all(|key| key.starts_with("backlog")),
        "{name}: {raised:?}"
    );
    let admin = app
        .create_token(
            &Principal::System,
            "recomputing",
            &[domain::Scope::Admin],
            T0,
        )
        .await
        .unwrap()
        .secret;
    let router = web::router(web::AppState::new(
        app.clone(),
        std::sync::Arc::new(|| NOW),
        false,
    ));
    let answer = bearer(
        &router,
        "GET",
        "/api/v1/kpis/volume?from=2026-01-02&to=2026-01-03",
        &admin,
        None,
    )
    .await;
    assert_eq!(answer.status, axum::http::StatusCode::OK);
    let body = answer.json();
    assert_eq!(body["recomputing"], true, "{name}: {body}");
    assert_eq!(body["status"], "recomputing", "{body}");
    assert!(body["value"].is_null(), "{body}");
    let answer = bearer(
        &router,
        "GET",
        "/api/v1/kpis/volume/conversations?from=2026-01-02&to=2026-01-03",
        &admin,
        None,
    )
    .await;
    assert_eq!(answer.status, axum::http::StatusCode::CONFLICT, "{name}");
}

#[tokio::test]
async fn before_the_first_run_of_the_consumer_the_figures_say_they_are_being_computed() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        three_conversations(&app, &team).await;
        let jan_2 = dates("2026-01-02", "2026-01-03");
        assert_recomputing(&app, &team, &jan_2, db.name).await;
        rollup_everything(&app, 1000).await;
        let report = app
            .kpi_report(&team.manager, "volume", &jan_2, NOW)
            .await
            .unwrap();
        assert!(!report.recomputing);
        assert_eq!(report.figure.value, Some(2.0), "{}", db.name);
        db.finish().await;
    }
}

#[tokio::test]
async fn an_initiative_started_on_a_date_starts_on_that_local_day() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        app.add_sla_calendar(&team.admin, office(LA, "mon-fri 09:00-17:00"), T0)
            .await
            .unwrap();
        three_conversations(&app, &team).await;
        rollup_everything(&app, 100).await;
        let input = app::InitiativeInput {
            name: "Shorter replies".into(),
            kpi: "volume".into(),
            started_on: Some("2026-01-02".parse().unwrap()),
            period_days: Some(7),
            ..app::InitiativeInput::default()
        };
        let view = app
            .record_initiative(&team.manager, input.clone(), NOW)
            .await
            .unwrap();
        // Midnight in Los Angeles, not UTC midnight.
        assert_eq!(view.started_at, JAN_2 + 8 * HOUR, "{}", db.name);
        assert_eq!(view.verdict.after_from, JAN_2 + 8 * HOUR);
        assert_eq!(view.verdict.before_to, JAN_2 + 8 * HOUR);
        // The period after so far is 2 to 6 January there, which holds two of the three; the
        // period before it has as many local days (27 December to 1 January).
        assert_eq!(view.verdict.before_from, JAN_2 + 8 * HOUR - 5 * 24 * HOUR);
        assert_eq!(view.verdict.after.as_ref().unwrap().n, 2, "{}", db.name);
        // Both an instant and a date: refused, not guessed.
        let both = app::InitiativeInput {
            started_at: JAN_2,
            ..input
        };
        assert!(matches!(
            app.record_initiative(&team.manager, both, NOW).await,
            Err(app::AppError::Invalid(_))
        ));

        // The API reads a date the same way; an instant stays an instant.
        let admin = app
            .create_token(&Principal::System, "admin", &[domain::Scope::Admin], T0)
            .await
            .unwrap()
            .secret;
        let router = web::router(web::AppState::new(
            app.clone(),
            std::sync::Arc::new(|| NOW),
            false,
        ));
        for (started_at, expected) in [
            ("2026-01-02", "2026-01-02T08:00:00Z"),
            ("2026-01-02T00:00:00Z", "2026-01-02T00:00:00Z"),
        ] {
            let (status, created) = bearer_json(
                &router,
                "POST",
                "/api/v1/initiatives",
                &admin,
                Some(serde_json::json!({
                    "name": "Shorter replies",
                    "kpi": "volume",
                    "started_at": started_at,
                    "period_days": 7,
                })),
            )
            .await;
            assert_eq!(status, axum::http::StatusCode::CREATED, "{created}");
            assert_eq!(created["started_at"], expected, "{}: {created}", db.name);
        }
        let (_, created) = bearer_json(
            &router,
            "POST",
            "/api/v1/initiatives",
            &admin,
            Some(serde_json::json!({"name": "x", "kpi": "volume", "started_at": "2026-01-02"})),
        )
        .await;
        assert_eq!(created["verdict"]["after_from"], "2026-01-02T08:00:00Z");
        db.finish().await;
    }
}

#[tokio::test]
async fn the_date_bounds_of_the_survey_answers_are_local_days() {
    use app::{SurveyAnswer, SurveyOutcome, SurveySettings};
    use domain::survey::{Scale, SurveyChannel, SurveyKind};
    use domain::{MessageKind, Status};
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        app.add_sla_calendar(&team.admin, office(LA, "mon-fri 09:00-17:00"), T0)
            .await
            .unwrap();
        let settings = SurveySettings {
            enabled: true,
            kind: SurveyKind::Csat,
            csat_scale: Scale { min: 1, max: 5 },
            question: String::new(),
            delay_minutes: 0,
            channel: SurveyChannel::Portal,
            sampling_rate: 1.0,
            min_days_between: 0,
            answer_days: 14,
            public_url: "https://help.t.test/".into(),
        };
        app.set_survey_settings(&Principal::System, settings, T0)
            .await
            .unwrap();
        // Answered late on 1 January in Los Angeles (06:00Z on the 2nd), and twice on 2 January
        // there (10:00Z on the 2nd and 07:00Z on the 3rd).
        let mut surveys = Vec::new();
        for (i, answered_at) in [JAN_2 + 6 * HOUR, JAN_2 + 10 * HOUR, JAN_2 + 31 * HOUR]
            .into_iter()
            .enumerate()
        {
            let opened = JAN_2 - 24 * HOUR;
            let c = app
                .create_conversation(
                    &Principal::System,
                    inbound(
                        &format!("s{i}@x.test"),
                        "Help",
                        "Please",
                        Some(team.support),
                    ),
                    opened,
                )
                .await
                .unwrap();
            app.add_message(
                &team.agent,
                c.number,
                message(MessageKind::Reply, "Done"),
                Some(Status::Solved),
                opened + HOUR,
            )
            .await
            .unwrap();
            let token = match app
                .send_survey(c.number, opened + HOUR, opened + HOUR, opened + HOUR)
                .await
                .unwrap()
            {
                SurveyOutcome::Sent { token, .. } => token,
                other => panic!("not surveyed: {other:?}"),
            };
            let form = app
                .survey_form(&token, opened + HOUR)
                .await
                .unwrap()
                .form_token;
            app.answer_survey(
                &token,
                &form,
                SurveyAnswer {
                    score: 5,
                    comment: None,
                    kudos_agent_id: None,
                },
                answered_at,
            )
            .await
            .unwrap();
            surveys.push(c.number);
        }
        let answered = |query: app::SurveyAnswerQuery| {
            let app = app.clone();
            async move {
                let mut numbers: Vec<i64> = app
                    .survey_answers(&Principal::System, &query)
                    .await
                    .unwrap()
                    .items
                    .into_iter()
                    .map(|r| r.conversation)
                    .collect();
                numbers.sort_unstable();
                numbers
            }
        };
        let on_jan_2 = app::SurveyAnswerQuery {
            from_date: Some("2026-01-02".parse().unwrap()),
            to_date: Some("2026-01-03".parse().unwrap()),
            ..app::SurveyAnswerQuery::default()
        };
        assert_eq!(
            answered(on_jan_2.clone()).await,
            surveys[1..].to_vec(),
            "{}",
            db.name
        );
        let on_jan_1 = app::SurveyAnswerQuery {
            from_date: Some("2026-01-01".parse().unwrap()),
            to_date: Some("2026-01-02".parse().unwrap()),
            ..app::SurveyAnswerQuery::default()
        };
        assert_eq!(
            answered(on_jan_1).await,
            surveys[..1].to_vec(),
            "{}",
            db.name
        );
        let both = app::SurveyAnswerQuery {
            from: Some(JAN_2),
            ..on_jan_2
        };
        assert!(matches!(
            app.survey_answers(&Principal::System, &both).await,
            Err(app::AppError::Invalid(_))
        ));

        // The API and its CSV export read a date the same way; an instant stays an instant.
        let admin = app
            .create_token(&Principal::System, "admin", &[domain::Scope::Admin], T0)
            .await
            .unwrap()
            .secret;
        let router = web::router(web::AppState::new(
            app.clone(),
            std::sync::Arc::new(|| NOW),
            false,
        ));
        for (query, expected) in [
            ("from=2026-01-02&to=2026-01-03", &surveys[1..]),
            ("from=2026-01-01&to=2026-01-02", &surveys[..1]),
            (
                "from=2026-01-02T00:00:00Z&to=2026-01-03T00:00:00Z",
                &surveys[..2],
            ),
        ] {
            let (status, body) = bearer_json(
                &router,
                "GET",
                &format!("/api/v1/surveys/answers?{query}"),
                &admin,
                None,
            )
            .await;
            assert_eq!(status, axum::http::StatusCode::OK, "{body}");
            let mut numbers: Vec<i64> = body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["conversation"].as_i64().unwrap())
                .collect();
            numbers.sort_unstable();
            assert_eq!(numbers, expected.to_vec(), "{query} on {}", db.name);
            let csv = bearer(
                &router,
                "GET",
                &format!("/api/v1/surveys/answers.csv?{query}"),
                &admin,
                None,
            )
            .await;
            assert_eq!(csv.status, axum::http::StatusCode::OK);
            assert_eq!(csv.text().lines().count(), 1 + expected.len(), "{query}");
        }
        let (status, _) = bearer_json(
            &router,
            "GET",
            "/api/v1/surveys/answers?from=yesterday",
            &admin,
            None,
        )
        .await;
        assert_eq!(status, axum::http::StatusCode::BAD_REQUEST);
        db.finish().await;
    }
}
