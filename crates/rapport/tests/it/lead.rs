//! The team lead's and the administrator's pages of management information: one KPI is computed
//! alone exactly as in the full report, the team view (queues, SLA at risk, each agent's load,
//! each number with its conversations) per role, a KPI alert e-mailed to its owner once, and the
//! benchmark import and survey settings forms.

use ::sla::{Conditions, TargetRule};
use app::{App, AppError, CalendarInput, KpiQuery, PolicyInput, TeamList};
use axum::http::StatusCode;
use domain::{MessageKind, Principal, Priority, SlaBasis, SlaMetric, Status};

use crate::process_page::{Browser, Page, Pages};
use crate::support::*;

const DAY: i64 = 86_400_000;

/// `count` conversations in Support, each answered after 30 minutes, every other one solved.
async fn answered(app: &App, team: &Team, count: i64) {
    for i in 0..count {
        let start = T0 + i * MIN;
        let n = app
            .create_conversation(
                &Principal::System,
                inbound(
                    &format!("k{i}@x.test"),
                    "Help",
                    "Please",
                    Some(team.support),
                ),
                start,
            )
            .await
            .unwrap()
            .number;
        let status = (i % 2 == 0).then_some(Status::Solved);
        app.add_message(
            &team.agent,
            n,
            message(MessageKind::Reply, "Done"),
            status,
            start + 30 * MIN,
        )
        .await
        .unwrap();
    }
}

#[tokio::test]
async fn one_kpi_alone_is_the_same_figure_as_in_the_whole_report() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        answered(&app, &team, 12).await;
        rollup_everything(&app, 7).await;
        let now = T0 + DAY;
        for query in [
            KpiQuery::default(),
            KpiQuery {
                group: Some(team.support),
                ..KpiQuery::default()
            },
            KpiQuery {
                channel: Some("email".into()),
                ..KpiQuery::default()
            },
        ] {
            let all = app.kpi_reports(&team.manager, &query, now).await.unwrap();
            assert!(all.len() > 10);
            for record in ::kpi::catalogue() {
                let alone = app.kpi_report(&team.manager, record.key, &query, now).await;
                match all.iter().find(|r| r.figure.key == record.key) {
                    Some(expected) => {
                        let alone = alone.unwrap();
                        assert_eq!(alone.figure, expected.figure, "{}", record.key);
                        assert_eq!(alone.previous, expected.previous, "{}", record.key);
                        assert_eq!(alone.change, expected.change, "{}", record.key);
                        assert_eq!((alone.from, alone.to), (expected.from, expected.to));
                        assert_eq!(alone.slice, expected.slice);
                    }
                    // The live backlog is not kept per channel.
                    None => assert!(matches!(alone, Err(AppError::Invalid(_))), "{}", record.key),
                }
            }
        }
        // The same permission as the whole report.
        assert!(matches!(
            app.kpi_report(&team.agent, "volume", &KpiQuery::default(), now)
                .await,
            Err(AppError::Forbidden(_))
        ));
        assert!(matches!(
            app.kpi_report(&team.manager, "no_such_kpi", &KpiQuery::default(), now)
                .await,
            Err(AppError::NotFound(_))
        ));
        db.finish().await;
    }
}

fn first_reply_policy(calendar_id: i64) -> PolicyInput {
    PolicyInput {
        name: "Everyone".into(),
        position: None,
        conditions: Conditions::default(),
        calendar_id: Some(calendar_id),
        targets: vec![TargetRule {
            metric: SlaMetric::FirstReply,
            priority: Priority::Normal,
            minutes: 240,
            basis: SlaBasis::Calendar,
        }],
        warn_at_percent: Some(50),
        on_hold_pauses: true,
    }
}

/// What the team view is tested on, at T0 (first replies due 4 h after creation, warned at 2 h).
struct Floor {
    /// Support, assigned to the agent, created 200 min ago: due in 40 min.
    late: i64,
    /// Support, unassigned, created 150 min ago: warned, due in 90 min.
    warned: i64,
    /// Support, assigned to the agent, created 10 min ago: neither.
    fresh: i64,
    /// Billing, created 200 min ago: at risk, but not the Support lead's.
    billing: i64,
    /// Support, the agent's, waiting on the customer.
    pending: i64,
    /// Support, the agent's, solved 5 minutes ago.
    solved: i64,
}

async fn floor(app: &App, team: &Team) -> Floor {
    let calendar = app
        .add_sla_calendar(
            &team.admin,
            CalendarInput {
                name: "Office".into(),
                time_zone: "UTC".into(),
                hours: "mon-fri 09:00-17:00".into(),
                holidays: vec![],
                exceptions: vec![],
            },
            T0 - DAY,
        )
        .await
        .unwrap();
    app.add_sla_policy(&team.admin, first_reply_policy(calendar.id), T0 - DAY)
        .await
        .unwrap();
    let open = |subject: &'static str, group: i64, assignee: Option<i64>, ago: i64| {
        let app = app.clone();
        async move {
            let mut input = inbound("c@x.test", subject, "Hello", Some(group));
            input.assignee_id = assignee;
            app.create_conversation(&Principal::System, input, T0 - ago * MIN)
                .await
                .unwrap()
                .number
        }
    };
    let late = open("Late", team.support, Some(team.agent_id), 200).await;
    let warned = open("Warned", team.support, None, 150).await;
    let fresh = open("Fresh", team.support, Some(team.agent_id), 10).await;
    let billing = open("Billing", team.billing, None, 200).await;
    let pending = open("Pending", team.support, Some(team.agent_id), 60).await;
    app.add_message(
        &team.agent,
        pending,
        message(MessageKind::Reply, "Which order?"),
        Some(Status::Pending),
        T0 - 30 * MIN,
    )
    .await
    .unwrap();
    let solved = open("Solved", team.support, Some(team.agent_id), 60).await;
    app.add_message(
        &team.agent,
        solved,
        message(MessageKind::Reply, "Done"),
        Some(Status::Solved),
        T0 - 5 * MIN,
    )
    .await
    .unwrap();
    clocks_catch_up(app, 50, T0).await;
    Floor {
        late,
        warned,
        fresh,
        billing,
        pending,
        solved,
    }
}

#[tokio::test]
async fn the_team_view_shows_queues_risks_and_loads_to_leads_and_managers_only() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let f = floor(&app, &team).await;

        // The lead: Support only.
        let view = app.team_view(&team.lead, T0).await.unwrap();
        assert_eq!(view.queues.len(), 1, "{:?}", view.queues);
        let support = &view.queues[0];
        assert_eq!(support.group_id, Some(team.support));
        assert_eq!(support.new + support.open, 3, "{support:?}");
        assert_eq!(support.pending, 1);
        assert_eq!(support.unassigned, 1, "only Warned is unassigned");
        let risky: Vec<i64> = view.at_risk.iter().map(|r| r.number).collect();
        assert_eq!(risky, vec![f.late, f.warned], "soonest breach first");
        assert_eq!(view.at_risk[0].breach_at, T0 + 40 * MIN);
        assert_eq!(view.at_risk[0].metric, Some(SlaMetric::FirstReply));
        assert!(view.at_risk.iter().all(|r| r.warned));
        assert!(!risky.contains(&f.fresh) && !risky.contains(&f.pending));
        let agent = view
            .agents
            .iter()
            .find(|a| a.agent_id == team.agent_id)
            .unwrap();
        assert_eq!((agent.open, agent.pending, agent.solved_today), (2, 1, 1));
        assert_eq!(agent.oldest_open, Some((f.late, T0 - 200 * MIN)));
        assert!(
            view.agents.iter().all(|a| a.agent_id != team.biller_id),
            "the biller is not in the lead's groups"
        );
        // The lists behind the numbers.
        assert_eq!(
            app.team_conversations(&team.lead, TeamList::AtRisk, 50, T0)
                .await
                .unwrap(),
            vec![f.late, f.warned]
        );
        assert_eq!(
            app.team_conversations(
                &team.lead,
                TeamList::SolvedToday {
                    agent: team.agent_id
                },
                50,
                T0
            )
            .await
            .unwrap(),
            vec![f.solved]
        );

        // A manager: every group, every risk.
        let view = app.team_view(&team.manager, T0).await.unwrap();
        assert_eq!(view.queues.len(), 2);
        let mut risky: Vec<i64> = view.at_risk.iter().map(|r| r.number).collect();
        assert_eq!(risky.pop(), Some(f.warned));
        risky.sort();
        assert_eq!(risky, vec![f.late, f.billing]);
        assert!(view.agents.iter().any(|a| a.agent_id == team.biller_id));
        assert!(app.team_view(&team.admin, T0).await.is_ok());

        // Agents are refused, and so is the list behind a number.
        for agent in [&team.agent, &team.biller] {
            assert!(matches!(
                app.team_view(agent, T0).await,
                Err(AppError::Forbidden(_))
            ));
            assert!(matches!(
                app.team_conversations(agent, TeamList::AtRisk, 10, T0)
                    .await,
                Err(AppError::Forbidden(_))
            ));
        }

        // Time passes: an hour later Late has breached and is no longer "at risk".
        let later = app.team_view(&team.lead, T0 + 60 * MIN).await.unwrap();
        let risky: Vec<i64> = later.at_risk.iter().map(|r| r.number).collect();
        assert_eq!(risky, vec![f.warned]);
        db.finish().await;
    }
}

#[tokio::test]
async fn the_team_page_links_every_number_to_its_conversations_and_refuses_agents() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let f = floor(&app, &team).await;
        let ui = Pages::new(app.clone(), T0);

        let lead = ui.sign_in("lead@t.test", "pw-1234").await;
        let page = ui.get("/app/team", &lead).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let agent = team.agent_id;
        for expected in [
            format!("/app?status=pending&#38;assignee={agent}"),
            format!("/app?status=new%2Copen%2Con_hold&#38;assignee={agent}"),
            format!("/app/team/conversations?show=solved_today&#38;agent={agent}"),
            format!("/app/conversations/{}", f.late),
            format!("/app/conversations/{}", f.warned),
            format!(
                "/app?status=unsolved&#38;group={}&#38;assignee=none",
                team.support
            ),
            "/app/team/conversations?show=at_risk".to_string(),
            "data-live-region=\"risk\"".to_string(),
            "data-live=\"/app/events?since=".to_string(),
        ] {
            assert!(page.body.contains(&expected), "{expected} in {}", page.body);
        }
        assert!(!page.body.contains("Billing"), "not the lead's group");
        assert!(!page.body.contains(&format!("data-risk=\"{}\"", f.fresh)));

        // The numbers' lists: the drill-down pages.
        let drill = ui
            .get(
                &format!("/app/team/conversations?show=solved_today&agent={agent}"),
                &lead,
            )
            .await;
        assert_eq!(drill.status, StatusCode::OK);
        assert!(drill
            .body
            .contains(&format!("/app/conversations/{}", f.solved)));
        let drill = ui.get("/app/team/conversations?show=at_risk", &lead).await;
        assert!(drill
            .body
            .contains(&format!("/app/conversations/{}", f.late)));
        assert!(!drill
            .body
            .contains(&format!("/app/conversations/{}", f.billing)));
        assert_eq!(
            ui.get("/app/team/conversations?show=everything", &lead)
                .await
                .status,
            StatusCode::UNPROCESSABLE_ENTITY
        );
        // What the queue link opens lists the same conversations the number counts.
        let list = ui
            .get(&format!("/app?status=pending&assignee={agent}"), &lead)
            .await;
        assert!(list
            .body
            .contains(&format!("/app/conversations/{}", f.pending)));

        for (email, status) in [
            ("manager@t.test", StatusCode::OK),
            ("admin@t.test", StatusCode::OK),
            ("agent@t.test", StatusCode::FORBIDDEN),
            ("biller@t.test", StatusCode::FORBIDDEN),
        ] {
            let who = ui.sign_in(email, "pw-1234").await;
            let page = ui.get("/app/team", &who).await;
            assert_eq!(page.status, status, "{email}");
            assert_eq!(
                page.body.contains("href=\"/app/team\""),
                status == StatusCode::OK,
                "{email}: the frame links the team view to those who may open it"
            );
            assert_eq!(
                ui.get("/app/team/conversations?show=at_risk", &who)
                    .await
                    .status,
                status,
                "{email}"
            );
        }
        db.finish().await;
    }
}

/// Every mail queued about no conversation: (recipient, subject and text). Read by id, not
/// from the log, which on PostgreSQL is read only below the horizon of other tests' open
/// transactions.
async fn notices(app: &App) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut missing = 0;
    for id in 1.. {
        let Some(row) = app.store.outbound_mail(id).await.unwrap() else {
            missing += 1;
            if missing > 50 {
                break;
            }
            continue;
        };
        if row.conversation.is_some() {
            continue;
        }
        let raw = app.store.blob(&row.raw_sha256).await.unwrap().unwrap();
        let parsed = mail_parser::MessageParser::default().parse(&raw).unwrap();
        let text = format!(
            "{}\n{}",
            parsed.subject().unwrap_or_default(),
            parsed.body_text(0).unwrap_or_default()
        );
        out.push((row.recipients, text));
    }
    out
}

#[tokio::test]
async fn a_kpi_alert_is_mailed_to_the_kpis_owner_once_with_a_link_to_the_kpi() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        support_mailbox(&app).await;
        answered(&app, &team, 40).await;
        rollup_everything(&app, 7).await;
        let now = T0 + DAY;
        let about = |mails: &[(String, String)]| {
            mails
                .iter()
                .filter(|(_, text)| text.contains("/app/kpis/first_reply_median"))
                .cloned()
                .collect::<Vec<_>>()
        };
        // Replies after 30 minutes: red past two.
        first_reply_thresholds(&app, &team.admin, STRICT, "Manager@T.test", now).await;
        let raised = app.check_kpi_alerts(now).await.unwrap();
        assert!(raised.contains(&"first_reply_median".to_string()));
        let mails = about(&notices(&app).await);
        assert_eq!(mails.len(), 1, "{mails:?}");
        let (to, text) = &mails[0];
        assert_eq!(to, "manager@t.test");
        assert!(
            text.contains("KPI alert: First reply time (median) is red"),
            "{text}"
        );
        assert!(
            text.contains("http://127.0.0.1:8080/app/kpis/first_reply_median"),
            "{text}"
        );

        // Judged again, nothing changed: no second e-mail, for this KPI or any other.
        let before = notices(&app).await.len();
        assert!(app.check_kpi_alerts(now + MIN).await.unwrap().is_empty());
        assert_eq!(notices(&app).await.len(), before);

        // Back to green, now owned by the team leads (a role): they hear it.
        first_reply_thresholds(&app, &team.admin, RELAXED, "team lead", now).await;
        assert_eq!(
            app.check_kpi_alerts(now + 2 * MIN).await.unwrap(),
            vec!["first_reply_median".to_string()]
        );
        let mails = about(&notices(&app).await);
        assert_eq!(mails.len(), 2);
        assert_eq!(mails[1].0, "lead@t.test");
        assert!(mails[1].1.contains("back on target"), "{}", mails[1].1);

        // An owner who is nobody here: the alert stands, nobody is mailed.
        first_reply_thresholds(&app, &team.admin, STRICT, "The board", now).await;
        let before = notices(&app).await.len();
        assert_eq!(
            app.check_kpi_alerts(now + 3 * MIN).await.unwrap(),
            vec!["first_reply_median".to_string()]
        );
        assert_eq!(notices(&app).await.len(), before);
        db.finish().await;
    }
}

async fn post_settings(ui: &Pages, who: &Browser, fields: Vec<(&'static str, String)>) -> Page {
    let pairs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ui.post("/app/surveys/settings", who, &pairs).await
}

const BENCHMARK_CSV: &str = "index,country,period,level,entity,score,source_url,source_kind,note\n\
ACSI,US,2024,sector,Banks,78.0,https://example.test/acsi,published,\n";

#[tokio::test]
async fn administrators_import_benchmarks_and_set_surveys_in_forms_that_keep_what_was_typed() {
    for db in backends().await {
        let app = db.app();
        let _team = team(&app).await;
        let ui = Pages::new(app.clone(), T0);
        let admin = ui.sign_in("admin@t.test", "pw-1234").await;

        // Benchmarks.
        let page = ui.get("/app/benchmarks", &admin).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("<label for=\"csv\">"));
        let bad = ui
            .post(
                "/app/benchmarks",
                &admin,
                &[
                    ("csrf", &admin.csrf),
                    ("set", "Sectors 2024"),
                    ("csv", "not,a,benchmark\n1,2,3"),
                ],
            )
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);
        assert!(bad.body.contains("role=\"alert\""));
        assert!(
            bad.body.contains("value=\"Sectors 2024\""),
            "the set name is kept"
        );
        assert!(bad.body.contains("not,a,benchmark"), "the CSV is kept");
        let no_csrf = ui
            .post(
                "/app/benchmarks",
                &admin,
                &[("set", "Sectors 2024"), ("csv", BENCHMARK_CSV)],
            )
            .await;
        assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
        let good = ui
            .post(
                "/app/benchmarks",
                &admin,
                &[
                    ("csrf", &admin.csrf),
                    ("set", "Sectors 2024"),
                    ("csv", BENCHMARK_CSV),
                ],
            )
            .await;
        assert_eq!(good.status, StatusCode::OK, "{}", good.body);
        assert!(good.body.contains("Imported 1 figures"), "{}", good.body);
        assert!(good.body.contains("data-set=\"Sectors 2024\""));
        let stored = app.benchmarks(&Principal::System).await.unwrap();
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].entity, "Banks");

        // Survey settings.
        let page = ui.get("/app/surveys/settings", &admin).await;
        assert_eq!(page.status, StatusCode::OK);
        for label in [
            "for=\"scale_max\"",
            "for=\"delay_minutes\"",
            "for=\"channel\"",
            "for=\"sampling_percent\"",
            "for=\"min_days_between\"",
        ] {
            assert!(page.body.contains(label), "{label}");
        }
        let fields = |scale_max: &'static str, delay: &'static str| {
            vec![
                ("csrf", admin.csrf.clone()),
                ("enabled", "1".to_string()),
                ("kind", "csat".to_string()),
                ("scale_min", "1".to_string()),
                ("scale_max", scale_max.to_string()),
                ("question", "How did we do?".to_string()),
                ("delay_minutes", delay.to_string()),
                ("channel", "portal".to_string()),
                ("sampling_percent", "25".to_string()),
                ("min_days_between", "14".to_string()),
                ("answer_days", "10".to_string()),
                ("public_url", "https://help.example.test".to_string()),
            ]
        };
        let refused = post_settings(&ui, &admin, fields("42", "90")).await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            refused.body
        );
        assert!(refused.body.contains("role=\"alert\""));
        assert!(
            refused.body.contains("value=\"42\""),
            "the typed scale is kept"
        );
        assert!(refused.body.contains("value=\"How did we do?\""));
        let refused = post_settings(&ui, &admin, fields("5", "soon")).await;
        assert_eq!(refused.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(refused.body.contains("value=\"soon\""));
        assert!(
            refused.body.contains("the delay must be a whole number"),
            "{}",
            refused.body
        );
        let saved = post_settings(&ui, &admin, fields("5", "90")).await;
        assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
        let settings = app
            .survey_settings(&Principal::System)
            .await
            .unwrap()
            .settings;
        assert_eq!((settings.csat_scale.min, settings.csat_scale.max), (1, 5));
        assert_eq!(settings.delay_minutes, 90);
        assert_eq!(settings.channel, domain::survey::SurveyChannel::Portal);
        assert!((settings.sampling_rate - 0.25).abs() < 1e-9);
        assert_eq!(settings.min_days_between, 14);
        assert_eq!(settings.question, "How did we do?");

        // Nobody else opens or posts these forms.
        for email in ["manager@t.test", "lead@t.test", "agent@t.test"] {
            let who = ui.sign_in(email, "pw-1234").await;
            for path in ["/app/benchmarks", "/app/surveys/settings"] {
                assert_eq!(
                    ui.get(path, &who).await.status,
                    StatusCode::FORBIDDEN,
                    "{email} {path}"
                );
            }
            let posted = ui
                .post(
                    "/app/benchmarks",
                    &who,
                    &[("csrf", &who.csrf), ("set", "Mine"), ("csv", BENCHMARK_CSV)],
                )
                .await;
            assert_eq!(posted.status, StatusCode::FORBIDDEN, "{email}");
        }
        assert_eq!(app.benchmarks(&Principal::System).await.unwrap().len(), 1);
        db.finish().await;
    }
}
