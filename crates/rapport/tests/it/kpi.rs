//! Management information: the roll-up consumer gives what a rebuild gives and a replay changes
//! nothing; figures carry their n and interval; each role sees only its own figures; the API
//! serves the catalogue, a figure, the drill-down and the CSV export.

use app::{App, AppError, KpiQuery};
use domain::{MessageKind, Principal, Status};

use crate::support::*;

const DAY: i64 = 86_400_000;

/// `count` conversations over a few days: conversation i gets its first reply after (i+1)*10
/// minutes; every third is solved with one reply, every fifth solved after two replies and then
/// reopened by the customer.
async fn play(app: &App, team: &Team, count: i64) -> Vec<i64> {
    let mut numbers = Vec::new();
    for i in 0..count {
        let start = T0 + (i % 3) * DAY + i * MIN;
        let c = app
            .create_conversation(
                &Principal::System,
                inbound(
                    &format!("c{i}@x.test"),
                    "Help",
                    "Please help",
                    Some(team.support),
                ),
                start,
            )
            .await
            .unwrap();
        let n = c.number;
        numbers.push(n);
        let reply_at = start + (i + 1) * 10 * MIN;
        post_message(app, &team.agent, n, MessageKind::Reply, "On it", reply_at).await;
        if i % 3 == 0 {
            app.add_message(
                &team.agent,
                n,
                message(MessageKind::Note, "done"),
                Some(Status::Solved),
                reply_at + MIN,
            )
            .await
            .unwrap();
        } else if i % 5 == 0 {
            app.add_message(
                &team.agent,
                n,
                message(MessageKind::Reply, "Fixed"),
                Some(Status::Solved),
                reply_at + 2 * MIN,
            )
            .await
            .unwrap();
            let customer = Principal::Customer { id: c.customer.id };
            post_message(
                app,
                &customer,
                n,
                MessageKind::Customer,
                "Still broken",
                reply_at + 3 * MIN,
            )
            .await;
        }
    }
    numbers
}

fn period() -> KpiQuery {
    KpiQuery {
        from: Some(T0 - DAY),
        to: Some(T0 + 10 * DAY),
        ..KpiQuery::default()
    }
}

fn value(reports: &[app::KpiReport], key: &str) -> ::kpi::Figure {
    reports
        .iter()
        .find(|r| r.figure.key == key)
        .unwrap_or_else(|| panic!("{key} missing"))
        .figure
        .clone()
}

#[tokio::test]
async fn the_live_rollups_equal_a_rebuild_and_a_replay_changes_nothing() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        // The consumer's first run folds the log so far at once (the team's events); the
        // conversations then come in its small batches.
        rollup_everything(&app, 7).await;
        assert_ne!(
            app.store.cursor(app::KPI_CONSUMER).await.unwrap(),
            Some(store::Cursor::default())
        );
        let numbers = play(&app, &team, 40).await;
        // Small batches: facts must carry over between batches exactly.
        rollup_everything(&app, 7).await;
        let now = T0 + 5 * DAY;
        let live = app
            .kpi_reports(&team.manager, &period(), now)
            .await
            .unwrap();

        let first = value(&live, "first_reply_median");
        assert_eq!(first.n, 40, "{}", db.name);
        // First replies took 10, 20, …, 400 minutes: the median is 200 or 210 minutes, within
        // the ±2.5% of the binning.
        let median = first.value.unwrap();
        assert!(
            (200.0 * 60.0 * 0.97..=210.0 * 60.0 * 1.03).contains(&median),
            "median {median}"
        );
        assert!(first.ci_low.unwrap() <= median && median <= first.ci_high.unwrap());
        assert!(!first.too_few_cases);

        let solved_with_one = (0..40).filter(|i| i % 3 == 0).count() as u64;
        let solved_with_two = (0..40).filter(|i| i % 3 != 0 && i % 5 == 0).count() as u64;
        let fcr = value(&live, "first_contact_resolution");
        assert_eq!(fcr.n, solved_with_one + solved_with_two);
        assert!((fcr.value.unwrap() - 100.0 * solved_with_one as f64 / fcr.n as f64).abs() < 1e-9);
        assert!(fcr.too_few_cases, "{} cases are too few to judge", fcr.n);
        assert_eq!(fcr.status, "too_few_cases");
        let reopened = value(&live, "reopen_rate");
        assert!(
            (reopened.value.unwrap() - 100.0 * solved_with_two as f64 / fcr.n as f64).abs() < 1e-9
        );
        let volume = value(&live, "volume");
        assert_eq!(volume.value, Some(40.0));
        let backlog = value(&live, "backlog");
        assert_eq!(
            backlog.value,
            Some((40 - solved_with_one) as f64),
            "reopened ones are open again"
        );

        // Nothing new: a replay reads nothing and changes nothing.
        assert_eq!(app.run_kpi_rollups(7, T0).await.unwrap(), 0);
        // A rebuild from the whole log gives the same figures.
        app.rebuild_kpi_rollups(&Principal::System, 5, T0)
            .await
            .unwrap();
        let rebuilt = app
            .kpi_reports(&team.manager, &period(), now)
            .await
            .unwrap();
        let figures = |r: &[app::KpiReport]| r.iter().map(|x| x.figure.clone()).collect::<Vec<_>>();
        assert_eq!(figures(&rebuilt), figures(&live), "{}", db.name);

        // Drill-down: the conversations behind the first-reply figure are all 40.
        let mut drilled = app
            .kpi_drill(&team.manager, "first_reply_median", &period(), 1000, now)
            .await
            .unwrap();
        drilled.sort_unstable();
        let mut expected = numbers.clone();
        expected.sort_unstable();
        assert_eq!(drilled, expected);

        // The rebuilt facts take the live consumer's upserts (their key survived the rebuild,
        // which on PostgreSQL swaps in a fresh table), and a second rebuild, which finds the
        // first one's indexes under their own names, gives the live figures again.
        play(&app, &team, 3).await;
        rollup_everything(&app, 7).await;
        let live = app
            .kpi_reports(&team.manager, &period(), now)
            .await
            .unwrap();
        assert_eq!(value(&live, "volume").value, Some(43.0), "{}", db.name);
        app.rebuild_kpi_rollups(&Principal::System, 5, T0)
            .await
            .unwrap();
        let rebuilt = app
            .kpi_reports(&team.manager, &period(), now)
            .await
            .unwrap();
        assert_eq!(figures(&rebuilt), figures(&live), "{}", db.name);
        let drilled = app
            .kpi_drill(&team.manager, "first_reply_median", &period(), 1000, now)
            .await
            .unwrap();
        assert_eq!(drilled.len(), 43, "{}", db.name);
        db.finish().await;
    }
}

#[tokio::test]
async fn each_role_sees_only_its_own_figures_and_only_admins_change_targets() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        play(&app, &team, 6).await;
        rollup_everything(&app, 100).await;
        let now = T0 + 5 * DAY;
        let mine = KpiQuery {
            agent: Some(team.agent_id),
            ..period()
        };
        let support = KpiQuery {
            group: Some(team.support),
            ..period()
        };
        let billing = KpiQuery {
            group: Some(team.billing),
            ..period()
        };

        assert!(app.kpi_reports(&team.manager, &period(), now).await.is_ok());
        assert!(app.kpi_reports(&team.admin, &billing, now).await.is_ok());
        // An agent: their own figures only.
        assert!(app.kpi_reports(&team.agent, &mine, now).await.is_ok());
        assert!(matches!(
            app.kpi_reports(&team.agent, &period(), now).await,
            Err(AppError::Forbidden(_))
        ));
        assert!(matches!(
            app.kpi_reports(&team.agent, &support, now).await,
            Err(AppError::Forbidden(_))
        ));
        let other = KpiQuery {
            agent: Some(team.biller_id),
            ..period()
        };
        assert!(matches!(
            app.kpi_reports(&team.agent, &other, now).await,
            Err(AppError::Forbidden(_))
        ));
        // A lead: their groups.
        assert!(app.kpi_reports(&team.lead, &support, now).await.is_ok());
        assert!(matches!(
            app.kpi_reports(&team.lead, &billing, now).await,
            Err(AppError::Forbidden(_))
        ));
        assert!(matches!(
            app.kpi_reports(&team.lead, &period(), now).await,
            Err(AppError::Forbidden(_))
        ));
        // Customers see no KPIs at all.
        let customer = Principal::Customer { id: 1 };
        assert!(app.kpi_catalogue(&customer).await.is_err());
        assert!(app
            .kpi_drill(&team.agent, "volume", &period(), 10, now)
            .await
            .is_err());

        let settings = ::kpi::KpiSettings {
            target: Some(3600.0),
            amber: Some(7200.0),
            red: Some(14400.0),
            owner: "Ann".into(),
        };
        assert!(matches!(
            app.update_kpi_settings(&team.manager, "first_reply_median", settings.clone(), now)
                .await,
            Err(AppError::Forbidden(_))
        ));
        let record = app
            .update_kpi_settings(&team.admin, "first_reply_median", settings.clone(), now)
            .await
            .unwrap();
        assert!(record.customised);
        assert_eq!(
            (record.target, record.owner.as_str()),
            (Some(3600.0), "Ann")
        );
        let report = app
            .kpi_report(&team.manager, "first_reply_median", &period(), now)
            .await
            .unwrap();
        assert_eq!(report.figure.target, Some(3600.0));
        assert!(matches!(
            app.update_kpi_settings(&team.admin, "no_such_kpi", settings, now)
                .await,
            Err(AppError::NotFound(_))
        ));
        // The change is an event with its actor (on PostgreSQL it becomes readable once other
        // tests' older transactions end).
        let recorded = whole_log(&app.store)
            .await
            .iter()
            .any(|e| e.kind == "kpi_settings_changed" && e.actor_kind == "agent");
        assert!(recorded, "no kpi_settings_changed event ({})", db.name);
        db.finish().await;
    }
}

async fn get(router: &axum::Router, uri: &str, token: &str) -> (axum::http::StatusCode, String) {
    let answer = bearer(router, "GET", uri, token, None).await;
    (answer.status, answer.text())
}

#[tokio::test]
async fn the_api_serves_the_catalogue_figures_drill_down_and_csv() {
    use axum::http::StatusCode;
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        play(&app, &team, 12).await;
        rollup_everything(&app, 100).await;
        let admin = app
            .create_token(&Principal::System, "admin", &[domain::Scope::Admin], T0)
            .await
            .unwrap()
            .secret;
        let state = web::AppState::new(app.clone(), std::sync::Arc::new(|| T0 + 5 * DAY), false);
        let router = web::router(state);

        let (status, body) = get(&router, "/api/v1/kpis", &admin).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let catalogue: serde_json::Value = serde_json::from_str(&body).unwrap();
        let keys: Vec<&str> = catalogue["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["key"].as_str().unwrap())
            .collect();
        for key in [
            "first_reply_median",
            "csat",
            "nps",
            "ces",
            "sla_first_reply",
            "backlog",
            "volume",
        ] {
            assert!(keys.contains(&key), "{key} not in {keys:?}");
        }
        assert!(catalogue["items"][0]["definition"].as_str().unwrap().len() > 20);

        let (status, body) = get(
            &router,
            "/api/v1/kpis/first_reply_median?from=2025-12-31&to=2026-01-10",
            &admin,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let figure: serde_json::Value = serde_json::from_str(&body).unwrap();
        for field in [
            "key",
            "value",
            "unit",
            "n",
            "ci_low",
            "ci_high",
            "target",
            "status",
            "too_few_cases",
        ] {
            assert!(figure.get(field).is_some(), "{field} missing from {figure}");
        }
        assert_eq!(figure["n"], 12);
        assert_eq!(figure["unit"], "seconds");
        assert_eq!(figure["too_few_cases"], true, "12 cases are too few");

        let (status, body) = get(
            &router,
            &format!(
                "/api/v1/kpis/volume/conversations?from=2025-12-31&to=2026-01-10&group={}",
                team.support
            ),
            &admin,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let drill: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(drill["conversations"].as_array().unwrap().len(), 12);

        let (status, body) = get(
            &router,
            "/api/v1/kpi-figures?from=2025-12-31&to=2026-01-10&format=csv",
            &admin,
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        let mut lines = body.lines();
        assert!(lines
            .next()
            .unwrap()
            .starts_with("key,name,value,unit,n,ci_low,ci_high,target,status"));
        assert!(
            lines.any(|l| l.starts_with("volume,Volume,12,count,12,")),
            "{body}"
        );

        assert_eq!(
            get(&router, "/api/v1/kpis/nope", &admin).await.0,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            get(&router, "/api/v1/kpis/volume?from=yesterday", &admin)
                .await
                .0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            get(&router, "/api/v1/kpis/volume?group=1&agent=2", &admin)
                .await
                .0,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn an_exception_alert_is_raised_once_when_a_kpi_crosses_its_threshold() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        play(&app, &team, 40).await;
        rollup_everything(&app, 1000).await;
        let now = T0 + 5 * DAY;
        // First replies took 10 to 400 minutes: red past two minutes.
        first_reply_thresholds(&app, &team.admin, STRICT, "Ann", now).await;
        let raised = app.check_kpi_alerts(now).await.unwrap();
        assert!(
            raised.contains(&"first_reply_median".to_string()),
            "{raised:?}"
        );
        // Judged again with nothing changed: nothing new.
        assert!(app.check_kpi_alerts(now + MIN).await.unwrap().is_empty());
        let alerts = app.kpi_alerts(&team.manager).await.unwrap();
        let alert = alerts
            .iter()
            .find(|a| a.key == "first_reply_median")
            .unwrap();
        assert_eq!(alert.status, "red");
        assert!(app.kpi_alerts(&team.lead).await.is_ok());
        assert!(matches!(
            app.kpi_alerts(&team.agent).await,
            Err(AppError::Forbidden(_))
        ));
        // Relaxed thresholds: back to green, which is news too.
        first_reply_thresholds(&app, &team.admin, RELAXED, "Ann", now).await;
        assert_eq!(
            app.check_kpi_alerts(now + 2 * MIN).await.unwrap(),
            vec!["first_reply_median".to_string()]
        );
        assert!(app
            .kpi_alerts(&team.manager)
            .await
            .unwrap()
            .iter()
            .all(|a| a.key != "first_reply_median"));
        db.finish().await;
    }
}

#[tokio::test]
async fn benchmark_sets_are_imported_by_administrators_with_their_sources() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let csv = "index,country,period,level,entity,score_0_100,change_stated,source_url,source_kind,note\n\
                   ACSI,US,Q4 2023,national,U.S. overall,77.8,+0.9%,https://www.theacsi.org/x,publisher page,\"record high; 212,512\"\n\
                   UKCSI,UK,Jan 2024,national,UK all-sector,76.9,,https://example.org/y,publisher,\n";
        assert!(matches!(
            app.import_benchmarks(&team.manager, "Published", csv, T0)
                .await,
            Err(AppError::Forbidden(_))
        ));
        let bad = csv.replace("76.9", "176.9");
        match app
            .import_benchmarks(&team.admin, "Published", &bad, T0)
            .await
        {
            Err(AppError::Invalid(message)) => assert!(message.starts_with("line 3"), "{message}"),
            other => panic!("expected a clear error, got {other:?}"),
        }
        assert_eq!(
            app.import_benchmarks(&team.admin, "Published", csv, T0)
                .await
                .unwrap(),
            2
        );
        // Importing the set again replaces it.
        assert_eq!(
            app.import_benchmarks(&team.admin, "Published", csv, T0)
                .await
                .unwrap(),
            2
        );
        let rows = app.benchmarks(&team.agent).await.unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].note, "record high; 212,512");
        assert!(app
            .benchmarks(&Principal::Customer { id: 1 })
            .await
            .is_err());

        let admin = app
            .create_token(&Principal::System, "admin", &[domain::Scope::Admin], T0)
            .await
            .unwrap()
            .secret;
        let router = web::router(web::AppState::new(
            app.clone(),
            std::sync::Arc::new(|| T0),
            false,
        ));
        let (status, body) = get(&router, "/api/v1/kpi-benchmarks", &admin).await;
        assert_eq!(status, axum::http::StatusCode::OK);
        assert!(
            body.contains("\"source_url\":\"https://www.theacsi.org/x\""),
            "{body}"
        );
        db.finish().await;
    }
}

/// Every published figure of the shared data set imports (43 rows with their sources).
#[tokio::test]
async fn the_shared_sector_benchmarks_import() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data/benchmarks/csat_sector_benchmarks.csv");
    let Ok(text) = std::fs::read_to_string(&path) else {
        if std::env::var("RAPPORT_REQUIRE_SHARED").is_ok_and(|v| v == "1") {
            panic!("RAPPORT_REQUIRE_SHARED=1 but {} is missing", path.display());
        }
        eprintln!("skipped: ../shared/data/benchmarks is not here");
        return;
    };
    let db = sqlite().await;
    let app = db.app();
    let rows = app
        .import_benchmarks(&Principal::System, "Published indices", &text, T0)
        .await
        .unwrap();
    assert_eq!(rows, 43);
    db.finish().await;
}

/// A rebuild writes a conversation's facts once the log has moved on from it, and forgets
/// them; when the log comes back to that conversation (solved and reopened after many other
/// events), the rebuild reads the facts back and goes on from them. With pages of two events,
/// the early conversations are written long before their last events: the rebuilt figures and
/// drill-downs are still the live consumer's.
#[tokio::test]
async fn a_rebuild_that_meets_a_conversation_again_after_writing_it_goes_on_from_its_facts() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let early = play(&app, &team, 4).await;
        // Forty more conversations: hundreds of events between the early ones' replies and
        // what happens to them next.
        play(&app, &team, 40).await;
        let later = T0 + 4 * DAY;
        for (k, &n) in early.iter().enumerate() {
            let at = later + k as i64 * 10 * MIN;
            let customer = Principal::Customer {
                id: app.conversation(&team.agent, n).await.unwrap().customer.id,
            };
            post_message(&app, &customer, n, MessageKind::Customer, "Any news?", at).await;
            app.add_message(
                &team.agent,
                n,
                message(MessageKind::Reply, "Sorted now"),
                Some(Status::Solved),
                at + MIN,
            )
            .await
            .unwrap();
            post_message(
                &app,
                &customer,
                n,
                MessageKind::Customer,
                "Not quite",
                at + 2 * MIN,
            )
            .await;
        }
        rollup_everything(&app, 7).await;
        let now = T0 + 6 * DAY;
        let live = app
            .kpi_reports(&team.manager, &period(), now)
            .await
            .unwrap();
        let live_drills = drills(&app, &team.manager, now).await;
        for n in &early {
            assert!(live_drills[2].contains(n), "{n} was reopened");
        }

        app.rebuild_kpi_rollups(&Principal::System, 2, T0)
            .await
            .unwrap();
        let rebuilt = app
            .kpi_reports(&team.manager, &period(), now)
            .await
            .unwrap();
        let figures = |r: &[app::KpiReport]| r.iter().map(|x| x.figure.clone()).collect::<Vec<_>>();
        assert_eq!(figures(&rebuilt), figures(&live), "{}", db.name);
        assert_eq!(
            drills(&app, &team.manager, now).await,
            live_drills,
            "{}",
            db.name
        );
        db.finish().await;
    }
}

/// The conversations behind the first reply, resolution and reopen figures of [`period`].
async fn drills(app: &App, by: &Principal, now: i64) -> Vec<Vec<i64>> {
    let mut out = Vec::new();
    for key in ["first_reply_median", "resolution_median", "reopen_rate"] {
        let mut numbers = app.kpi_drill(by, key, &period(), 1000, now).await.unwrap();
        numbers.sort_unstable();
        out.push(numbers);
    }
    out
}

/// A bucket row with its counts (the histogram text is what `kpi::hist` writes).
fn bucket(dim: &str, value: &str, measure: &str, day: i64, n: i64) -> store::KpiRollupRow {
    store::KpiRollupRow {
        dim: dim.to_string(),
        dim_value: value.to_string(),
        measure: measure.to_string(),
        day,
        n,
        total: n as f64,
        total_sq: n as f64,
        hist: format!("1:{n}"),
    }
}

/// The stored buckets of `days`, sorted.
async fn buckets_of(db: &TestDb, days: &[i64]) -> Vec<store::KpiRollupRow> {
    let mut all = Vec::new();
    for dim in ["agent", "group"] {
        for value in (0..200).map(|v| v.to_string()) {
            for &day in days {
                all.extend(
                    db.store
                        .kpi_rollups(dim, &value, day, day + 1)
                        .await
                        .unwrap(),
                );
            }
        }
    }
    all.sort_by(|a, b| {
        (&a.dim, &a.dim_value, &a.measure, a.day).cmp(&(&b.dim, &b.dim_value, &b.measure, b.day))
    });
    all
}

/// A batch merges into exactly the buckets of its keys, whether a day it touches is read in one
/// scan (many buckets of that day) or bucket by bucket (a few): stored counts are added to, new
/// keys inserted, and the other buckets of a scanned day, of another slice or measure with the
/// same texts in other columns, stay as they were.
#[tokio::test]
async fn merging_a_batch_reads_each_buckets_stored_counts_whether_its_day_is_scanned_or_not() {
    for db in backends().await {
        // Day 100: 150 agent buckets stored (n = 1) and one bucket per agent of another measure
        // the batches never touch. Day 200: two stored buckets.
        let mut stored: Vec<store::KpiRollupRow> = (0..150)
            .map(|a| bucket("agent", &a.to_string(), "volume", 100, 1))
            .collect();
        stored.extend((0..150).map(|a| bucket("agent", &a.to_string(), "csat", 100, 7)));
        stored.push(bucket("group", "1", "volume", 200, 1));
        stored.push(bucket("group", "2", "volume", 200, 1));
        let mut tx = db.store.begin().await.unwrap();
        tx.put_kpi_rollups(&stored).await.unwrap();
        tx.commit().await.unwrap();

        // The batch: agents 50..200 on day 100 (100 stored, 50 new: a scanned day), group 1
        // (stored) and group 3 (new) on day 200 (looked up), each counting 2 more cases.
        let mut batch: Vec<store::KpiRollupRow> = (50..200)
            .map(|a| bucket("agent", &a.to_string(), "volume", 100, 0))
            .collect();
        batch.push(bucket("group", "1", "volume", 200, 0));
        batch.push(bucket("group", "3", "volume", 200, 0));
        let mut tx = db.store.begin().await.unwrap();
        tx.merge_kpi_rollups(&mut batch, |_, old, row| {
            let before = old.map_or(0, |old| old.n);
            *row = store::KpiRollupRow {
                dim: std::mem::take(&mut row.dim),
                dim_value: std::mem::take(&mut row.dim_value),
                measure: std::mem::take(&mut row.measure),
                ..bucket("", "", "", row.day, before + 2)
            };
            Ok(())
        })
        .await
        .unwrap();
        tx.commit().await.unwrap();

        let mut expected: Vec<store::KpiRollupRow> = (0..200)
            .map(|a| {
                bucket(
                    "agent",
                    &a.to_string(),
                    "volume",
                    100,
                    if a < 50 {
                        1
                    } else if a < 150 {
                        3
                    } else {
                        2
                    },
                )
            })
            .collect();
        expected.extend((0..150).map(|a| bucket("agent", &a.to_string(), "csat", 100, 7)));
        expected.push(bucket("group", "1", "volume", 200, 3));
        expected.push(bucket("group", "2", "volume", 200, 1));
        expected.push(bucket("group", "3", "volume", 200, 2));
        expected.sort_by(|a, b| {
            (&a.dim, &a.dim_value, &a.measure, a.day).cmp(&(
                &b.dim,
                &b.dim_value,
                &b.measure,
                b.day,
            ))
        });
        assert_eq!(buckets_of(&db, &[100, 200]).await, expected, "{}", db.name);
        db.finish().await;
    }
}

/// Two nodes run the roll-up consumer at once, in small batches, each reading its next batch
/// ahead while the other moves the cursor: every event is still folded exactly once, so the
/// figures equal a rebuild's. (Threads of their own: on SQLite a node that waits for the
/// file's write lock blocks its thread, as a second process would.)
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_rolling_up_at_once_fold_every_event_once() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        rollup_everything(&app, 7).await;
        play(&app, &team, 40).await;
        let node = db.another_node().await;
        let other = node.app();
        let run = |app: App| async move {
            let mut read = 0;
            loop {
                match app.run_kpi_rollups(3, T0).await.unwrap() {
                    0 => return read,
                    n => read += n,
                }
                tokio::task::yield_now().await;
            }
        };
        let (mine, theirs) = tokio::join!(
            tokio::spawn(run(app.clone())),
            tokio::spawn(run(other.clone()))
        );
        let (mine, theirs) = (mine.unwrap(), theirs.unwrap());
        // Most runs interleave the two (a fast node may now and then take every batch).
        eprintln!("{}: the nodes read {mine} and {theirs} events", db.name);
        let now = T0 + 5 * DAY;
        let live = app
            .kpi_reports(&team.manager, &period(), now)
            .await
            .unwrap();
        assert_eq!(value(&live, "volume").value, Some(40.0), "{}", db.name);
        app.rebuild_kpi_rollups(&Principal::System, 5, T0)
            .await
            .unwrap();
        let rebuilt = app
            .kpi_reports(&team.manager, &period(), now)
            .await
            .unwrap();
        let figures = |r: &[app::KpiReport]| r.iter().map(|x| x.figure.clone()).collect::<Vec<_>>();
        assert_eq!(figures(&rebuilt), figures(&live), "{}", db.name);
        node.finish().await;
        db.finish().await;
    }
}

/// The backlog's ages are read page by page: pages of any size walk exactly the conversations
/// open now, each once.
#[tokio::test]
async fn the_backlog_is_read_page_by_page_each_open_conversation_once() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let mut open = Vec::new();
        for i in 0..11 {
            let c = app
                .create_conversation(
                    &Principal::System,
                    inbound(
                        &format!("b{i}@x.test"),
                        "Backlog",
                        "Hello",
                        Some(team.support),
                    ),
                    T0 + i * MIN,
                )
                .await
                .unwrap();
            if i % 4 == 1 {
                let patch = app::Patch {
                    status: Some(Status::Solved),
                    ..Default::default()
                };
                app.update_conversation(&team.admin, c.number, patch, T0 + DAY)
                    .await
                    .unwrap();
            } else {
                open.push((c.number, T0 + i * MIN));
            }
        }
        for limit in [1, 3, 8, 100] {
            let (mut after, mut walked) = (0, Vec::new());
            loop {
                let page = db
                    .store
                    .backlog_created_ats(Some(team.support), None, after, limit)
                    .await
                    .unwrap();
                walked.extend(page.iter().copied());
                match page.last() {
                    Some((number, _)) if page.len() as i64 == limit => after = *number,
                    _ => break,
                }
            }
            assert_eq!(walked, open, "{}: pages of {limit}", db.name);
        }
        let other_group = db
            .store
            .backlog_created_ats(Some(team.billing), None, 0, 100)
            .await
            .unwrap();
        assert!(other_group.is_empty(), "{}", db.name);
        db.finish().await;
    }
}
