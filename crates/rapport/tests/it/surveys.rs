//! Surveys after solved conversations and priorities research, on every backend: who is
//! surveyed (sampling, once per customer per N days, reopened, undeliverable), the survey
//! e-mail, links that record nothing until a person submits, answers recorded once, kudos
//! only for agents who replied, closed and unknown links, the portal, the API's permissions
//! per role, and the research export run through `rapport analyze`.

use std::sync::Arc;

use app::{AnswerOutcome, App, JobOutcome, SurveyAnswer, SurveyOutcome, SurveySettings};
use axum::http::StatusCode;
use axum::Router;
use domain::survey::{sampled, Scale, SkipReason, SurveyChannel, SurveyKind};
use domain::{EventPayload, MessageKind, Principal, Status, DAY_MILLIS};
use serde_json::{json, Value};

use crate::support::*;

const DELAY_MINUTES: i64 = 60;

fn settings(rate: f64, channel: SurveyChannel, min_days: i64) -> SurveySettings {
    SurveySettings {
        enabled: true,
        kind: SurveyKind::Csat,
        csat_scale: Scale { min: 1, max: 5 },
        question: String::new(),
        delay_minutes: DELAY_MINUTES,
        channel,
        sampling_rate: rate,
        min_days_between: min_days,
        answer_days: 14,
        public_url: "https://help.t.test/".into(),
    }
}

async fn enable(app: &App, rate: f64, channel: SurveyChannel, min_days: i64) {
    app.set_survey_settings(&Principal::System, settings(rate, channel, min_days), T0)
        .await
        .unwrap();
}

/// A conversation from `email`, answered and solved by the team's agent `at + 5 min`.
/// Returns its number and when it was solved.
async fn solved(app: &App, team: &Team, email: &str, at: i64) -> (i64, i64) {
    let c = app
        .create_conversation(
            &Principal::System,
            inbound(
                email,
                "Where is my parcel?",
                "It has not arrived.",
                Some(team.support),
            ),
            at,
        )
        .await
        .unwrap();
    let solved_at = at + 5 * MIN;
    app.add_message(
        &team.agent,
        c.number,
        message(MessageKind::Reply, "It arrives tomorrow."),
        Some(Status::Solved),
        solved_at,
    )
    .await
    .unwrap();
    (c.number, solved_at)
}

fn due(solved_at: i64) -> i64 {
    solved_at + DELAY_MINUTES * MIN
}

async fn run_due_jobs(app: &App, now: i64) {
    for _ in 0..200 {
        if app.run_one_job("test", now).await.unwrap() == JobOutcome::Nothing {
            return;
        }
    }
    panic!("jobs kept coming");
}

async fn payloads(app: &App, number: i64, kind: &str) -> Vec<EventPayload> {
    app.store
        .conversation_events(number)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == kind)
        .map(|e| serde_json::from_str(&e.payload).unwrap())
        .collect()
}

/// What the send job decides for conversation `number` when its survey falls due.
async fn send_when_due(app: &App, number: i64, solved_at: i64) -> SurveyOutcome {
    app.send_survey(number, solved_at, due(solved_at), due(solved_at))
        .await
        .unwrap()
}

async fn sent_token(app: &App, number: i64, solved_at: i64) -> String {
    match send_when_due(app, number, solved_at).await {
        SurveyOutcome::Sent { token, .. } => token,
        other => panic!("conversation {number} was not surveyed: {other:?}"),
    }
}

async fn customer_of(app: &App, number: i64) -> i64 {
    app.conversation(&Principal::System, number)
        .await
        .unwrap()
        .customer
        .id
}

/// The customer of conversation `number`, who may now sign in to the portal with `pw-1234`.
async fn portal_customer(app: &App, number: i64) -> i64 {
    let customer = customer_of(app, number).await;
    app.set_customer_password(&Principal::System, customer, "pw-1234")
        .await
        .unwrap();
    customer
}

/// Portal surveys of every solved conversation, and one sent for a conversation `email`
/// opened at T0 and solved: its number, when it was solved and the survey's link token.
async fn portal_survey(app: &App, team: &Team, email: &str) -> (i64, i64, String) {
    enable(app, 1.0, SurveyChannel::Portal, 30).await;
    let (number, solved_at) = solved(app, team, email, T0).await;
    let token = sent_token(app, number, solved_at).await;
    (number, solved_at, token)
}

/// The form token of the survey behind `token` when it is due.
async fn form_token(app: &App, token: &str, solved_at: i64) -> String {
    app.survey_form(token, due(solved_at))
        .await
        .unwrap()
        .form_token
}

#[tokio::test]
async fn the_send_job_surveys_by_email_once_per_customer_within_n_days() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        app.add_mailbox(
            &Principal::System,
            "support@t.test",
            "Support",
            Some("Support"),
            false,
            T0,
        )
        .await
        .unwrap();
        enable(&app, 1.0, SurveyChannel::Email, 30).await;

        let (first, first_solved) = solved(&app, &team, "ann@c.test", T0).await;
        // Not yet due: nothing is sent.
        run_due_jobs(&app, due(first_solved) - MIN).await;
        assert!(
            payloads(&app, first, "survey_sent").await.is_empty(),
            "{}",
            db.name
        );
        run_due_jobs(&app, due(first_solved)).await;
        let sent = payloads(&app, first, "survey_sent").await;
        assert_eq!(sent.len(), 1, "{}", db.name);
        let EventPayload::SurveySent {
            survey_id,
            kind,
            channel,
        } = &sent[0]
        else {
            panic!("{sent:?}")
        };
        assert_eq!((kind.as_str(), channel.as_str()), ("csat", "email"));

        // The invitation is an automatic e-mail through the outbound queue, with the link.
        let mails = app
            .store
            .outbound_mail_of_conversation(first)
            .await
            .unwrap();
        let survey_mail = mails
            .iter()
            .find(|m| m.automatic)
            .expect("the survey e-mail");
        assert_eq!(survey_mail.recipients, "ann@c.test");
        let raw = app
            .store
            .blob(&survey_mail.raw_sha256)
            .await
            .unwrap()
            .unwrap();
        let raw = String::from_utf8_lossy(&raw).replace("=\r\n", "");
        assert!(raw.contains("Auto-Submitted: auto-replied"), "{raw}");
        let start = raw.find("https://help.t.test/survey/").expect("the link") + 27;
        let token: String = raw[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect();
        let form = app.survey_form(&token, due(first_solved)).await.unwrap();
        assert_eq!(form.id, *survey_id);
        assert_eq!(form.scale, Scale { min: 1, max: 5 });

        // The same customer's next solved conversation, ten days later: no second survey.
        let (second, second_solved) = solved(&app, &team, "ann@c.test", T0 + 10 * DAY_MILLIS).await;
        run_due_jobs(&app, due(second_solved)).await;
        assert!(
            payloads(&app, second, "survey_sent").await.is_empty(),
            "{}",
            db.name
        );
        // Reruns decide the same.
        for _ in 0..2 {
            assert_eq!(
                send_when_due(&app, second, second_solved).await,
                SurveyOutcome::Skipped(SkipReason::SurveyedRecently)
            );
            assert_eq!(
                send_when_due(&app, first, first_solved).await,
                SurveyOutcome::Skipped(SkipReason::AlreadySurveyed)
            );
        }
        // After the N days, the customer is asked again.
        let (third, third_solved) = solved(&app, &team, "ann@c.test", T0 + 40 * DAY_MILLIS).await;
        run_due_jobs(&app, due(third_solved)).await;
        assert_eq!(
            payloads(&app, third, "survey_sent").await.len(),
            1,
            "{}",
            db.name
        );

        // Reopened before the survey fell due: not surveyed.
        let (reopened, reopened_solved) = solved(&app, &team, "bob@c.test", T0).await;
        post_message(
            &app,
            &Principal::System,
            reopened,
            MessageKind::Customer,
            "Still not here.",
            reopened_solved + 10 * MIN,
        )
        .await;
        assert_eq!(
            send_when_due(&app, reopened, reopened_solved).await,
            SurveyOutcome::Skipped(SkipReason::NoLongerSolved)
        );

        // An address that bounced hard gets no survey.
        let mut tx = app.store.begin().await.unwrap();
        tx.set_address_undeliverable("cid@c.test", "550 no such user", T0)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let (bounced, bounced_solved) = solved(&app, &team, "cid@c.test", T0).await;
        assert_eq!(
            send_when_due(&app, bounced, bounced_solved).await,
            SurveyOutcome::Skipped(SkipReason::Undeliverable)
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn sampling_follows_a_hash_of_the_conversation_so_reruns_agree() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        enable(&app, 0.4, SurveyChannel::Portal, 0).await;
        let mut surveyed = 0;
        for i in 0..16 {
            let (number, solved_at) =
                solved(&app, &team, &format!("c{i}@s.test"), T0 + i * MIN).await;
            let first = send_when_due(&app, number, solved_at).await;
            let expected_in = sampled(number, 0.4);
            assert_eq!(
                matches!(first, SurveyOutcome::Sent { .. }),
                expected_in,
                "#{number}"
            );
            let again = app
                .send_survey(number, solved_at, due(solved_at), due(solved_at) + MIN)
                .await
                .unwrap();
            let expected_again = if expected_in {
                SurveyOutcome::Skipped(SkipReason::AlreadySurveyed)
            } else {
                SurveyOutcome::Skipped(SkipReason::NotSampled)
            };
            assert_eq!(again, expected_again, "#{number}");
            surveyed += usize::from(expected_in);
        }
        assert!(surveyed > 0 && surveyed < 16, "{surveyed} of 16 sampled");
        db.finish().await;
    }
}

/// The pages, through the same router as the server, at a fixed `now`.
fn pages(app: &App, now: i64) -> Router {
    let state = web::AppState::new(app.clone(), Arc::new(move || now), false);
    web::router(state.clone()).merge(::ui::router(state))
}

struct Page {
    status: StatusCode,
    body: String,
}

/// A form posted by someone who is not signed in (a survey link is all they have).
async fn submit(router: &Router, uri: &str, form: String) -> Page {
    visit(router, "POST", uri, None, Some(form)).await
}

/// A page request, signed in by `cookie` when given, with a form body when given.
async fn visit(
    router: &Router,
    method: &str,
    uri: &str,
    cookie: Option<&str>,
    body: Option<String>,
) -> Page {
    let answer = browse(router, method, uri, cookie, body).await;
    Page {
        status: answer.status,
        body: answer.text(),
    }
}

fn hidden(body: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {name} field in {body}"))
        + marker.len();
    let end = body[start..].find('"').unwrap() + start;
    body[start..end].to_string()
}

async fn answered_count(app: &App, number: i64) -> usize {
    payloads(app, number, "survey_answered").await.len()
}

#[tokio::test]
async fn opening_a_link_records_nothing_and_a_submit_records_once() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let (number, solved_at, token) = portal_survey(&app, &team, "dee@c.test").await;
        let router = pages(&app, due(solved_at) + MIN);
        let uri = format!("/survey/{token}");

        // A scanner (or the customer) opens the link, twice: the question, nothing recorded.
        for _ in 0..2 {
            let page = visit(&router, "GET", &uri, None, None).await;
            assert_eq!(page.status, StatusCode::OK, "{}", db.name);
            assert!(page.body.contains("How satisfied are you"), "{}", page.body);
            assert!(!page.body.contains("<script>"), "no inline script");
        }
        assert_eq!(answered_count(&app, number).await, 0, "{}", db.name);
        let page = visit(&router, "GET", &uri, None, None).await;
        let form = hidden(&page.body, "form");

        // A POST without the page's form token, or without a score, records nothing.
        let forged = submit(&router, &uri, "score=5".into()).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        let no_score = submit(&router, &uri, format!("form={form}&comment=hi")).await;
        assert_eq!(no_score.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            no_score.body.contains("choose a score"),
            "{}",
            no_score.body
        );
        assert_eq!(answered_count(&app, number).await, 0);

        // The person's submit records the answer, with its comment and kudos, once.
        let agent_id = team.agent_id;
        let body = format!("form={form}&score=4&comment=Quick+and+kind&kudos={agent_id}");
        let done = submit(&router, &uri, body.clone()).await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.body);
        assert!(done.body.contains("Thank you"), "{}", done.body);
        let again = submit(&router, &uri, body.replace("score=4", "score=1")).await;
        assert!(again.body.contains("Already answered"), "{}", again.body);
        let reopen = visit(&router, "GET", &uri, None, None).await;
        assert!(reopen.body.contains("Already answered"), "{}", reopen.body);
        let answers = payloads(&app, number, "survey_answered").await;
        assert_eq!(
            answers,
            vec![EventPayload::SurveyAnswered {
                survey_id: app.survey_form(&token, T0).await.unwrap().id,
                kind: "csat".into(),
                score: 4,
                scale_min: 1,
                scale_max: 5,
                comment: Some("Quick and kind".into()),
                kudos_agent_id: Some(agent_id),
            }],
            "{}",
            db.name
        );
        // The answer event names the customer as its actor.
        let event = app
            .store
            .conversation_events(number)
            .await
            .unwrap()
            .into_iter()
            .find(|e| e.kind == "survey_answered")
            .unwrap();
        let customer = customer_of(&app, number).await;
        assert_eq!(
            (event.actor_kind.as_str(), event.actor_id),
            ("customer", Some(customer))
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn kudos_go_only_to_agents_who_replied_publicly() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        enable(&app, 1.0, SurveyChannel::Portal, 30).await;
        let (number, solved_at) = solved(&app, &team, "eve@c.test", T0).await;
        // The lead only wrote an internal note: no kudos choice for them.
        post_message(
            &app,
            &team.lead,
            number,
            MessageKind::Note,
            "Checked.",
            solved_at + MIN,
        )
        .await;
        let token = sent_token(&app, number, solved_at).await;
        let now = due(solved_at);
        let form = app.survey_form(&token, now).await.unwrap();
        let choices: Vec<i64> = form.kudos_choices.iter().map(|c| c.agent_id).collect();
        assert_eq!(choices, vec![team.agent_id], "{}", db.name);

        for stranger in [team.biller_id, 999_999] {
            let refused = app
                .answer_survey(
                    &token,
                    &form.form_token,
                    SurveyAnswer {
                        score: 5,
                        comment: None,
                        kudos_agent_id: Some(stranger),
                    },
                    now,
                )
                .await;
            assert!(
                matches!(refused, Err(app::AppError::Invalid(_))),
                "{refused:?}"
            );
        }
        // Through the page too: the answer is refused with the reason, nothing recorded.
        let router = pages(&app, now);
        let page = visit(
            &router,
            "POST",
            &format!("/survey/{token}"),
            None,
            Some(format!(
                "form={}&score=5&kudos={}",
                form.form_token, team.biller_id
            )),
        )
        .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.body.contains("replied to you"), "{}", page.body);
        assert_eq!(answered_count(&app, number).await, 0);
        // A score off the scale is refused as well.
        let off_scale = app
            .answer_survey(
                &token,
                &form.form_token,
                SurveyAnswer {
                    score: 6,
                    ..Default::default()
                },
                now,
            )
            .await;
        assert!(matches!(off_scale, Err(app::AppError::Invalid(_))));
        let ok = app
            .answer_survey(
                &token,
                &form.form_token,
                SurveyAnswer {
                    score: 5,
                    comment: None,
                    kudos_agent_id: Some(team.agent_id),
                },
                now,
            )
            .await
            .unwrap();
        assert_eq!(ok, AnswerOutcome::Recorded);
        db.finish().await;
    }
}

#[tokio::test]
async fn closed_and_unknown_links_say_so_and_record_nothing() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let (number, solved_at, token) = portal_survey(&app, &team, "fay@c.test").await;
        let form = form_token(&app, &token, solved_at).await;
        // answer_days is 14: on day 15 the link has closed.
        let late = pages(&app, due(solved_at) + 15 * DAY_MILLIS);
        let uri = format!("/survey/{token}");
        let page = visit(&late, "GET", &uri, None, None).await;
        assert_eq!(page.status, StatusCode::GONE, "{}", db.name);
        assert!(page.body.contains("has closed"), "{}", page.body);
        let post = submit(&late, &uri, format!("form={form}&score=3")).await;
        assert_eq!(post.status, StatusCode::GONE);
        assert_eq!(answered_count(&app, number).await, 0);

        for unknown in [
            "/survey/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "/survey/short",
            "/research/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ] {
            let page = visit(&late, "GET", unknown, None, None).await;
            assert_eq!(page.status, StatusCode::NOT_FOUND, "{unknown}");
            assert!(page.body.contains("not valid"), "{}", page.body);
            let post = submit(&late, unknown, "score=3".into()).await;
            assert_eq!(post.status, StatusCode::NOT_FOUND, "{unknown}");
        }
        db.finish().await;
    }
}

#[tokio::test]
async fn signed_in_customers_answer_their_own_surveys_in_the_portal() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        enable(&app, 1.0, SurveyChannel::Portal, 30).await;
        let (number, solved_at) = solved(&app, &team, "gus@c.test", T0).await;
        let (other, other_solved) = solved(&app, &team, "hal@c.test", T0).await;
        sent_token(&app, number, solved_at).await;
        sent_token(&app, other, other_solved).await;
        let now = due(solved_at) + MIN;
        portal_customer(&app, number).await;
        let login = app.login("gus@c.test", "pw-1234", now).await.unwrap();
        let cookie = format!("rapport_session={}", login.session);
        let router = pages(&app, now);

        let home = visit(&router, "GET", "/portal", Some(&cookie), None).await;
        assert_eq!(home.status, StatusCode::OK);
        let mine = app
            .store
            .survey_of_conversation(number)
            .await
            .unwrap()
            .unwrap();
        let theirs = app
            .store
            .survey_of_conversation(other)
            .await
            .unwrap()
            .unwrap();
        assert!(
            home.body.contains(&format!("/portal/surveys/{}", mine.id)),
            "{}",
            home.body
        );
        assert!(!home
            .body
            .contains(&format!("/portal/surveys/{}", theirs.id)));

        // Someone else's survey is not there for this customer.
        let page = visit(
            &router,
            "GET",
            &format!("/portal/surveys/{}", theirs.id),
            Some(&cookie),
            None,
        )
        .await;
        assert_eq!(page.status, StatusCode::NOT_FOUND);
        let uri = format!("/portal/surveys/{}", mine.id);
        let page = visit(&router, "GET", &uri, Some(&cookie), None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert_eq!(answered_count(&app, number).await, 0);
        // The session's CSRF token is required.
        let forged = visit(&router, "POST", &uri, Some(&cookie), Some("score=2".into())).await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);
        let done = visit(
            &router,
            "POST",
            &uri,
            Some(&cookie),
            Some(format!(
                "csrf={}&score=2&comment=Too+slow",
                login.csrf_token
            )),
        )
        .await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.body);
        assert_eq!(answered_count(&app, number).await, 1, "{}", db.name);
        let home = visit(&router, "GET", "/portal", Some(&cookie), None).await;
        assert!(
            !home.body.contains(&uri),
            "an answered survey leaves the list"
        );
        db.finish().await;
    }
}

struct Reply {
    status: StatusCode,
    content_type: String,
    body: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// How a request authenticates: a bearer token, or a session cookie with its CSRF token.
enum Who {
    Nobody,
    Bearer(String),
    Session(String, String),
}

async fn call(router: &Router, method: &str, uri: &str, who: &Who, body: Option<Value>) -> Reply {
    let mut headers = Vec::new();
    match who {
        Who::Nobody => {}
        Who::Bearer(token) => headers.push(("authorization", format!("Bearer {token}"))),
        Who::Session(session, csrf) => {
            headers.push(("cookie", format!("rapport_session={session}")));
            headers.push(("x-csrf-token", csrf.clone()));
        }
    }
    if body.is_some() {
        headers.push(("content-type", "application/json".to_string()));
    }
    let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    let answer = send(router, method, uri, &headers, body).await;
    Reply {
        status: answer.status,
        content_type: answer.header("content-type"),
        body: answer.text(),
    }
}

#[tokio::test]
async fn the_survey_api_answers_each_role_as_the_role_table_says() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let (number, solved_at, token) = portal_survey(&app, &team, "ivy@c.test").await;
        let form = form_token(&app, &token, solved_at).await;
        app.answer_survey(
            &token,
            &form,
            SurveyAnswer {
                score: 3,
                comment: Some("=cmd|' /C calc'!A0, said \"ok\"".into()),
                kudos_agent_id: Some(team.agent_id),
            },
            due(solved_at),
        )
        .await
        .unwrap();
        let ivy = portal_customer(&app, number).await;

        let router = web::router(web::AppState::new(
            app.clone(),
            Arc::new(|| T0 + DAY_MILLIS),
            false,
        ));
        let mut who = Vec::new();
        for (name, email) in [
            ("admin", "admin@t.test"),
            ("manager", "manager@t.test"),
            ("lead", "lead@t.test"),
            ("agent", "agent@t.test"),
        ] {
            let pw = "pw-1234";
            let login = app.login(email, pw, T0).await.unwrap();
            who.push((name, Who::Session(login.session, login.csrf_token)));
        }
        let login = app.login("ivy@c.test", "pw-1234", T0).await.unwrap();
        who.push(("customer", Who::Session(login.session, login.csrf_token)));
        let read_token = app
            .create_token(
                &Principal::System,
                "r",
                &[
                    domain::Scope::ConversationsRead,
                    domain::Scope::CustomersRead,
                ],
                T0,
            )
            .await
            .unwrap();
        who.push(("read token", Who::Bearer(read_token.secret)));
        let admin_token = app
            .create_token(&Principal::System, "a", &[domain::Scope::Admin], T0)
            .await
            .unwrap();
        who.push(("admin token", Who::Bearer(admin_token.secret)));

        let settings_body = json!({"enabled": true, "kind": "nps", "public_url": "https://help.t.test",
                                   "sampling_rate": 0.5, "min_days_between": 60});
        let attribute_body =
            |i: usize| json!({"key": format!("own_{i}"), "label": "Speed of first reply"});
        // (who, settings GET/PUT, answers and exports, research attributes POST)
        let table = [
            ("admin", true, true, true),
            ("manager", false, true, false),
            ("lead", false, false, false),
            ("agent", false, false, false),
            ("customer", false, false, false),
            ("read token", false, false, false),
            ("admin token", true, true, true),
        ];
        for (i, (name, administer, read_results, add_attribute)) in table.into_iter().enumerate() {
            let w = &who.iter().find(|(n, _)| *n == name).unwrap().1;
            let requests = [
                (
                    "GET",
                    "/api/v1/surveys/settings",
                    None,
                    administer,
                    StatusCode::OK,
                ),
                (
                    "PUT",
                    "/api/v1/surveys/settings",
                    Some(settings_body.clone()),
                    administer,
                    StatusCode::OK,
                ),
                (
                    "GET",
                    "/api/v1/surveys/answers?kind=csat",
                    None,
                    read_results,
                    StatusCode::OK,
                ),
                (
                    "GET",
                    "/api/v1/surveys/answers.csv",
                    None,
                    read_results,
                    StatusCode::OK,
                ),
                (
                    "GET",
                    "/api/v1/surveys/priorities/attributes",
                    None,
                    read_results,
                    StatusCode::OK,
                ),
                (
                    "POST",
                    "/api/v1/surveys/priorities/attributes",
                    Some(attribute_body(i)),
                    add_attribute,
                    StatusCode::CREATED,
                ),
                (
                    "POST",
                    "/api/v1/surveys/priorities/invitations",
                    Some(json!({"customer_ids": [ivy]})),
                    read_results,
                    StatusCode::CREATED,
                ),
                (
                    "GET",
                    "/api/v1/surveys/priorities/responses.csv",
                    None,
                    read_results,
                    StatusCode::OK,
                ),
            ];
            let mut replies = Vec::new();
            for (method, uri, body, allowed, success) in requests {
                let r = call(&router, method, uri, w, body).await;
                let want = if allowed {
                    success
                } else {
                    StatusCode::FORBIDDEN
                };
                assert_eq!(r.status, want, "{name} {method} {uri}: {}", r.body);
                replies.push(r);
            }
            if read_results {
                let r = &replies[2];
                let items = r.json()["items"].as_array().cloned().unwrap_or_default();
                assert_eq!(items.len(), 1, "{}", r.body);
                assert_eq!(items[0]["score"], 3);
                assert_eq!(items[0]["kudos_agent_id"], team.agent_id);
                let r = &replies[3];
                assert!(r.content_type.starts_with("text/csv"), "{}", r.content_type);
                assert_eq!(r.body.lines().count(), 2, "{}", r.body);
                // A comment that looks like a formula is defused and quoted.
                assert!(
                    r.body.contains("\"'=cmd|' /C calc'!A0, said \"\"ok\"\"\""),
                    "{}",
                    r.body
                );
                let link = replies[6].json()["items"][0]["link"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                assert!(link.starts_with("https://help.t.test/research/"), "{link}");
            }
        }
        let r = call(
            &router,
            "GET",
            "/api/v1/surveys/answers",
            &Who::Nobody,
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);

        // Bad input gets a clear error.
        let admin = &who[0].1;
        for (body, code) in [
            (
                json!({"enabled": true, "kind": "stars", "public_url": "https://x.test"}),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                json!({"enabled": true, "kind": "csat", "public_url": "https://x.test", "sampling_rate": 2}),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                json!({"enabled": true, "kind": "csat", "public_url": "x"}),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                json!({"enabled": true, "kind": "csat", "csat_scale_max": 20, "public_url": "https://x.test"}),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (json!({"enabled": true}), StatusCode::BAD_REQUEST),
        ] {
            let r = call(
                &router,
                "PUT",
                "/api/v1/surveys/settings",
                admin,
                Some(body.clone()),
            )
            .await;
            assert_eq!(r.status, code, "{body}: {}", r.body);
        }
        for bad in ["kind=stars", "from=yesterday", "limit=0", "cursor=x"] {
            let r = call(
                &router,
                "GET",
                &format!("/api/v1/surveys/answers?{bad}"),
                admin,
                None,
            )
            .await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.body);
        }
        let r = call(&router, "GET", "/api/v1/surveys/settings", admin, None).await;
        assert_eq!(r.json()["kind"], "nps");
        assert_eq!(
            (r.json()["scale_min"].clone(), r.json()["scale_max"].clone()),
            (json!(0), json!(10))
        );
        db.finish().await;
    }
}

/// Deterministic ratings with a structure the analyses can find: reliability matters most
/// and performs worst, empathy performs best; overall satisfaction follows reliability and
/// responsiveness.
fn ratings_of(respondent: i64, attributes: &[(i64, String)]) -> app::ResearchAnswer {
    let wobble = |k: i64| ((respondent * 7 + k * 13) % 3) - 1; // -1, 0 or 1
    let mut ratings = Vec::new();
    let mut performance_of = std::collections::HashMap::new();
    for (k, (id, key)) in attributes.iter().enumerate() {
        let k = k as i64;
        let (importance, performance) = match key.as_str() {
            "reliability" => (7, 3 + (respondent % 3)),
            "responsiveness" => (6, 4 + (respondent % 2)),
            "assurance" => (5, 5),
            "empathy" => (3, 6),
            "tangibles" => (2, 4),
            _ => (4, 4),
        };
        let importance = (importance + wobble(k)).clamp(1, 7);
        let performance = (performance + wobble(k + 1)).clamp(1, 7);
        performance_of.insert(key.clone(), performance);
        // One respondent in ten leaves tangibles out.
        if key == "tangibles" && respondent % 10 == 0 {
            continue;
        }
        ratings.push((*id, Some(importance), Some(performance)));
    }
    let overall =
        (performance_of["reliability"] + performance_of["responsiveness"]) / 2 + respondent % 2;
    app::ResearchAnswer {
        ratings,
        overall_satisfaction: Some(overall.clamp(1, 7)),
    }
}

/// Invites `count` new customers to research and answers for each through the use cases.
async fn collect_research(app: &App, team: &Team, count: i64) {
    let attributes: Vec<(i64, String)> = app
        .research_attributes(&Principal::System)
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.id, a.key))
        .collect();
    assert_eq!(attributes.len(), 5, "the SERVQUAL dimensions are built in");
    let mut customers = Vec::new();
    for i in 0..count {
        let (number, _) = solved(app, team, &format!("r{i}@research.test"), T0 + i * MIN).await;
        customers.push(customer_of(app, number).await);
    }
    let invitations = app
        .invite_to_research(&team.manager, &customers, T0)
        .await
        .unwrap();
    for (i, invitation) in invitations.iter().enumerate() {
        let form = app
            .research_form(&invitation.token, T0 + DAY_MILLIS)
            .await
            .unwrap();
        let outcome = app
            .answer_research(
                &invitation.token,
                &form.form_token,
                ratings_of(i as i64, &attributes),
                T0 + DAY_MILLIS,
            )
            .await
            .unwrap();
        assert_eq!(outcome, AnswerOutcome::Recorded);
    }
}

fn analyze(args: &[&str]) -> Value {
    serde_json::from_slice(&rapport_ok(args).stdout).unwrap()
}

/// `rapport survey priorities export` of the SQLite data in `data` to `csv`.
fn export_research(data: &std::path::Path, csv: &std::path::Path) {
    rapport_ok(&[
        "survey",
        "priorities",
        "export",
        "--data",
        data.to_str().unwrap(),
        "--csv",
        csv.to_str().unwrap(),
    ]);
}

fn check_analyses(csv: &std::path::Path, respondents: i64) {
    let path = csv.to_str().unwrap();
    let ipa = analyze(&["analyze", "ipa", "--csv", path]);
    let text = ipa.to_string();
    for key in [
        "reliability",
        "responsiveness",
        "assurance",
        "empathy",
        "tangibles",
    ] {
        assert!(text.contains(key), "{key} in {text}");
    }
    let attributes = ipa["attributes"].as_array().expect("attributes");
    assert_eq!(attributes.len(), 5, "{text}");
    let reliability = attributes
        .iter()
        .find(|a| a["name"] == "reliability")
        .unwrap();
    assert_eq!(reliability["n"], respondents);
    assert_eq!(reliability["quadrant"], "concentrate_here", "{text}");
    let empathy = attributes.iter().find(|a| a["name"] == "empathy").unwrap();
    assert_eq!(empathy["quadrant"], "possible_overkill", "{text}");
    let tangibles = attributes
        .iter()
        .find(|a| a["name"] == "tangibles")
        .unwrap();
    assert!(
        tangibles["n"].as_i64().unwrap() < respondents,
        "missing ratings are left out"
    );

    let drivers = analyze(&[
        "analyze",
        "key-drivers",
        "--csv",
        path,
        "--outcome",
        "overall_satisfaction",
        "--drivers",
        "performance_reliability,performance_responsiveness,performance_empathy",
    ]);
    assert!(drivers["n"].as_i64().unwrap() > 0, "{drivers}");
    assert!(drivers["r_squared"].as_f64().unwrap() > 0.5, "{drivers}");
}

#[tokio::test]
async fn the_priorities_export_runs_through_rapport_analyze() {
    // SQLite, end to end through the binary: `rapport survey priorities export`, then
    // `rapport analyze ipa` and `analyze key-drivers` on the file it wrote.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    {
        let store = store::Store::open_sqlite(&data).await.unwrap();
        let app = App::new(store.clone(), app::Settings::default());
        let team = team(&app).await;
        collect_research(&app, &team, 40).await;
        store.close().await;
    }
    let csv = dir.path().join("research.csv");
    export_research(&data, &csv);
    let text = std::fs::read_to_string(&csv).unwrap();
    let header = text.lines().next().unwrap();
    assert_eq!(
        header,
        "respondent_id,importance_reliability,performance_reliability,importance_responsiveness,\
         performance_responsiveness,importance_assurance,performance_assurance,importance_empathy,\
         performance_empathy,importance_tangibles,performance_tangibles,overall_satisfaction"
    );
    assert_eq!(text.lines().count(), 41);
    check_analyses(&csv, 40);

    // PostgreSQL: the same export from the use case, through the same analyses.
    if let Some(db) = postgres().await {
        let app = db.app();
        let team = team(&app).await;
        collect_research(&app, &team, 40).await;
        let csv = dir.path().join("research-pg.csv");
        std::fs::write(&csv, app.research_csv(&team.manager).await.unwrap()).unwrap();
        check_analyses(&csv, 40);
        db.finish().await;
    }
}

#[tokio::test]
async fn the_research_page_records_only_a_submit_and_only_once() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let (number, _) = solved(&app, &team, "joy@c.test", T0).await;
        let joy = customer_of(&app, number).await;
        let invitation = app
            .invite_to_research(&team.manager, &[joy], T0)
            .await
            .unwrap()
            .remove(0);
        let router = pages(&app, T0 + MIN);
        let uri = format!("/research/{}", invitation.token);
        let page = visit(&router, "GET", &uri, None, None).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("Reliability") && page.body.contains("Empathy"));
        assert_eq!(
            app.store.research_responses().await.unwrap().len(),
            0,
            "a GET records nothing"
        );
        let form = hidden(&page.body, "form");
        let attributes = app.research_attributes(&Principal::System).await.unwrap();
        let reliability = attributes
            .iter()
            .find(|a| a.key == "reliability")
            .unwrap()
            .id;
        let empty = submit(&router, &uri, format!("form={form}")).await;
        assert_eq!(
            empty.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            empty.body
        );
        let body =
            format!("form={form}&importance_{reliability}=7&performance_{reliability}=3&overall=5");
        let done = submit(&router, &uri, body.clone()).await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.body);
        let again = submit(&router, &uri, body).await;
        assert!(again.body.contains("Already answered"), "{}", again.body);
        assert_eq!(
            app.store.research_responses().await.unwrap(),
            vec![(1, Some(5))],
            "{}",
            db.name
        );
        let csv = app.research_csv(&team.admin).await.unwrap();
        assert_eq!(
            csv,
            "respondent_id,importance_reliability,performance_reliability,overall_satisfaction\nr1,7,3,5\n"
        );
        db.finish().await;
    }
}

#[test]
fn the_demo_seeds_answered_surveys_and_priorities_research() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    seed_demo(&data, 200);
    let csv = dir.path().join("research.csv");
    export_research(&data, &csv);
    let ipa = analyze(&["analyze", "ipa", "--csv", csv.to_str().unwrap()]);
    assert_eq!(ipa["rows"], 150, "about 150 research responses");
    assert_eq!(
        ipa["attributes"].as_array().unwrap().len(),
        7,
        "SERVQUAL and the team's two"
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = store::Store::open_sqlite(&data).await.unwrap();
        let app = App::new(store.clone(), app::Settings::default());
        let page = app
            .survey_answers(&Principal::System, &app::SurveyAnswerQuery { limit: Some(500), ..Default::default() })
            .await
            .unwrap();
        assert!(page.items.len() >= 10, "{} answers", page.items.len());
        assert!(page.items.iter().all(|a| (1..=5).contains(&a.score) && a.kind == "csat"));
        // Every answer is in the log as an event of the surveyed conversation.
        let a = &page.items[0];
        let events = payloads(&app, a.conversation, "survey_answered").await;
        assert!(
            matches!(&events[..], [EventPayload::SurveyAnswered { survey_id, score, .. }] if *survey_id == a.id && *score == a.score),
            "{events:?}"
        );
        assert_eq!(payloads(&app, a.conversation, "survey_sent").await.len(), 1);
        store.close().await;
    });
}

/// Changing the survey settings is an event naming who changed them and what is now in force;
/// an agent may not change them, and a refused change records nothing.
#[tokio::test]
async fn a_survey_settings_change_is_recorded_with_its_actor() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let domain::Actor::Agent(admin_id) = team.admin.actor() else {
            panic!("the team's administrator is an agent");
        };
        let mut changed = settings(0.25, SurveyChannel::Portal, 45);
        changed.kind = SurveyKind::Nps;
        changed.question = "Would you recommend us?".into();
        assert!(matches!(
            app.set_survey_settings(&team.agent, changed.clone(), T0)
                .await,
            Err(app::AppError::Forbidden(_))
        ));
        app.set_survey_settings(&team.admin, changed, T0 + MIN)
            .await
            .unwrap();
        let recorded: Vec<store::EventRow> = whole_log(&app.store)
            .await
            .into_iter()
            .filter(|e| e.kind == "survey_settings_changed")
            .collect();
        assert_eq!(recorded.len(), 1, "{}", db.name);
        let event = &recorded[0];
        assert_eq!(
            (
                event.actor_kind.as_str(),
                event.actor_id,
                event.at,
                event.conversation
            ),
            ("agent", Some(admin_id), T0 + MIN, None),
            "{}",
            db.name
        );
        let payload: EventPayload = serde_json::from_str(&event.payload).unwrap();
        assert_eq!(
            payload,
            EventPayload::SurveySettingsChanged {
                enabled: true,
                survey_kind: "nps".into(),
                csat_scale_min: 1,
                csat_scale_max: 5,
                question: "Would you recommend us?".into(),
                delay_minutes: DELAY_MINUTES,
                channel: "portal".into(),
                sampling_rate: 0.25,
                min_days_between: 45,
                answer_days: 14,
                // As stored: without the trailing slash.
                public_url: "https://help.t.test".into(),
            },
            "{}",
            db.name
        );
    }
}
