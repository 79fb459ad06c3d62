//! The pages (`ui` crate), driven through the same router the server runs: sign-in,
//! CSRF on every form, the portal's boundaries, the security headers, and the time it
//! takes to render a long conversation.

use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use axum::Router;
use domain::{MessageKind, Principal};

use crate::support::*;

pub(crate) struct Ui {
    router: Router,
    pub(crate) db: TestDb,
}

pub(crate) struct Page {
    pub(crate) status: StatusCode,
    headers: HeaderMap,
    pub(crate) body: String,
}

impl Page {
    pub(crate) fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// `name=value` of each cookie the response sets, with its attributes.
    fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect()
    }

    fn cookie(&self, name: &str) -> Option<String> {
        self.set_cookies()
            .into_iter()
            .map(|c| c.split(';').next().unwrap().to_string())
            .find(|c| c.starts_with(&format!("{name}=")))
    }

    /// The first hidden CSRF field of the page.
    pub(crate) fn csrf(&self) -> String {
        let start = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a csrf field")
            + 19;
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_string()
    }
}

/// A signed-in browser: its cookie and the session's CSRF token.
pub(crate) struct Browser {
    cookie: String,
    pub(crate) csrf: String,
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            b' ' => "+".into(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

impl Ui {
    pub(crate) async fn new(db: TestDb) -> Ui {
        Ui::with_cookies(db, false).await
    }

    /// The pages as served behind HTTPS (`secure_cookies`).
    pub(crate) async fn with_cookies(db: TestDb, secure_cookies: bool) -> Ui {
        let state = web::AppState::new(db.app(), Arc::new(|| T0), secure_cookies);
        Ui {
            router: web::router(state.clone()).merge(::ui::router(state)),
            db,
        }
    }

    pub(crate) async fn send(
        &self,
        method: &str,
        uri: &str,
        cookie: Option<&str>,
        body: Option<String>,
    ) -> Page {
        let answer = browse(&self.router, method, uri, cookie, body).await;
        Page {
            status: answer.status,
            body: answer.text(),
            headers: answer.headers,
        }
    }

    /// A request with a body of any type (a multipart form, say).
    pub(crate) async fn send_typed(
        &self,
        uri: &str,
        who: &Browser,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Vec<u8>) {
        let headers = [
            ("cookie", who.cookie.clone()),
            ("content-type", content_type.to_string()),
        ];
        let answer = send(&self.router, "POST", uri, &headers, body).await;
        (answer.status, answer.body)
    }

    /// The raw bytes behind a GET (a download).
    pub(crate) async fn download(&self, uri: &str, who: &Browser) -> (StatusCode, Vec<u8>) {
        let answer = browse(&self.router, "GET", uri, Some(&who.cookie), None).await;
        (answer.status, answer.body)
    }

    pub(crate) async fn get(&self, uri: &str, who: &Browser) -> Page {
        self.send("GET", uri, Some(&who.cookie), None).await
    }

    pub(crate) async fn post(&self, uri: &str, who: &Browser, pairs: &[(&str, &str)]) -> Page {
        self.send("POST", uri, Some(&who.cookie), Some(form(pairs)))
            .await
    }

    /// Signs in through the form, as a browser does.
    pub(crate) async fn sign_in(&self, email: &str, password: &str) -> Browser {
        let login = self.send("GET", "/login", None, None).await;
        assert_eq!(login.status, StatusCode::OK);
        let pairing = login.cookie("rapport_login").expect("the form's cookie");
        let token = login.csrf();
        let signed_in = self
            .send(
                "POST",
                "/login",
                Some(&pairing),
                Some(form(&[
                    ("csrf", &token),
                    ("email", email),
                    ("password", password),
                ])),
            )
            .await;
        assert_eq!(
            signed_in.status,
            StatusCode::SEE_OTHER,
            "{}",
            signed_in.body
        );
        let cookie = signed_in
            .cookie("rapport_session")
            .expect("a session cookie");
        let home = signed_in.location().to_string();
        let page = self.send("GET", &home, Some(&cookie), None).await;
        assert_eq!(page.status, StatusCode::OK, "{home}: {}", page.body);
        Browser {
            csrf: page.csrf(),
            cookie,
        }
    }
}

/// A conversation opened by `email`, who gets the portal password `pw-cust`.
async fn customer_conversation(
    ui: &Ui,
    email: &str,
    subject: &str,
    group: Option<i64>,
) -> (i64, i64) {
    let app = ui.db.app();
    let view = app
        .create_conversation(
            &Principal::System,
            inbound(email, subject, "Hello, where is it?", group),
            T0,
        )
        .await
        .unwrap();
    app.set_customer_password(&Principal::System, view.customer.id, "pw-cust")
        .await
        .unwrap();
    (view.number, view.customer.id)
}

#[tokio::test]
async fn pages_need_sign_in_and_carry_a_strict_content_security_policy() {
    for db in backends().await {
        let ui = Ui::new(db).await;
        for path in [
            "/app",
            "/app/conversations/1",
            "/portal",
            "/portal/conversations/1",
            "/portal/new",
        ] {
            let page = ui.send("GET", path, None, None).await;
            assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
            assert!(
                page.location().starts_with("/login?next="),
                "{path} → {}",
                page.location()
            );
        }
        let post = ui
            .send("POST", "/app/bulk", None, Some("n=1&status=solved".into()))
            .await;
        assert_eq!(post.status, StatusCode::SEE_OTHER);
        assert_eq!(post.location(), "/login");

        for path in ["/login", "/assets/app.css", "/assets/app.js", "/app"] {
            let page = ui.send("GET", path, None, None).await;
            let csp = page.headers["content-security-policy"].to_str().unwrap();
            assert_eq!(csp, ::ui::CONTENT_SECURITY_POLICY, "{path}");
            assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"));
            assert_eq!(page.headers["x-frame-options"], "DENY");
            assert_eq!(page.headers["x-content-type-options"], "nosniff");
        }
        let login = ui.send("GET", "/login", None, None).await;
        assert_eq!(login.headers["cache-control"], "no-store");
        assert!(!login.body.contains("<script>"), "no inline script");
        assert!(!login.body.contains("style="), "no inline style");
        assert!(login
            .body
            .contains("<script src=\"/assets/app.js\" defer></script>"));
        ui.db.finish().await;
    }
}

#[tokio::test]
async fn sign_in_needs_the_form_token_and_starts_a_fresh_session() {
    for db in backends().await {
        let ui = Ui::new(db).await;
        team(&ui.db.app()).await;
        let login = ui.send("GET", "/login", None, None).await;
        let pairing = login.cookie("rapport_login").unwrap();
        let token = login.csrf();
        let creds = [("email", "agent@t.test"), ("password", "pw-1234")];

        // Without the token, or with a token that does not match the browser's cookie.
        let no_token = ui
            .send("POST", "/login", Some(&pairing), Some(form(&creds)))
            .await;
        assert_eq!(no_token.status, StatusCode::FORBIDDEN);
        assert!(no_token.cookie("rapport_session").is_none());
        let mut forged = creds.to_vec();
        forged.push(("csrf", "attacker-chosen"));
        let wrong = ui
            .send(
                "POST",
                "/login",
                Some("rapport_login=attacker-chosen-too"),
                Some(form(&forged)),
            )
            .await;
        assert_eq!(wrong.status, StatusCode::FORBIDDEN);
        assert!(wrong.cookie("rapport_session").is_none());

        // A wrong password keeps the address and says what is wrong.
        let bad = ui
            .send(
                "POST",
                "/login",
                Some(&pairing),
                Some(form(&[
                    ("csrf", &token),
                    ("email", "agent@t.test"),
                    ("password", "nope"),
                ])),
            )
            .await;
        assert_eq!(bad.status, StatusCode::UNAUTHORIZED);
        assert!(
            bad.body.contains("value=\"agent@t.test\"") && bad.body.contains("password is wrong")
        );

        // A browser that arrives with a session (planted or old) gets a new one, and the old one ends.
        let old = ui.sign_in("agent@t.test", "pw-1234").await;
        let mut with_token = creds.to_vec();
        with_token.push(("csrf", &token));
        with_token.push(("next", "/app/conversations/7"));
        let fresh = ui
            .send(
                "POST",
                "/login",
                Some(&format!("{pairing}; {}", old.cookie)),
                Some(form(&with_token)),
            )
            .await;
        assert_eq!(fresh.status, StatusCode::SEE_OTHER);
        assert_eq!(fresh.location(), "/app/conversations/7");
        let session = fresh
            .set_cookies()
            .into_iter()
            .find(|c| c.starts_with("rapport_session="))
            .unwrap();
        assert!(
            session.contains("HttpOnly")
                && session.contains("SameSite=Lax")
                && session.contains("Path=/"),
            "{session}"
        );
        let new_cookie = fresh.cookie("rapport_session").unwrap();
        assert_ne!(new_cookie, old.cookie);
        assert_eq!(
            ui.get("/app", &old).await.status,
            StatusCode::SEE_OTHER,
            "the old session is revoked"
        );
        let new = Browser {
            cookie: new_cookie,
            csrf: String::new(),
        };
        assert_eq!(ui.get("/app", &new).await.status, StatusCode::OK);

        // Only local paths are followed after sign-in.
        let login = ui
            .send("GET", "/login?next=//evil.test/x", None, None)
            .await;
        assert!(!login.body.contains("evil.test"));

        // Signing out needs the session's token, then ends the session.
        let me = ui.sign_in("agent@t.test", "pw-1234").await;
        assert_eq!(
            ui.post("/logout", &me, &[]).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(ui.get("/app", &me).await.status, StatusCode::OK);
        let out = ui.post("/logout", &me, &[("csrf", &me.csrf)]).await;
        assert_eq!(out.status, StatusCode::SEE_OTHER);
        assert!(out
            .cookie("rapport_session")
            .is_some_and(|c| c == "rapport_session="));
        assert_eq!(ui.get("/app", &me).await.status, StatusCode::SEE_OTHER);
        ui.db.finish().await;
    }
}

#[tokio::test]
async fn every_form_post_needs_the_session_csrf_token() {
    for db in backends().await {
        let ui = Ui::new(db).await;
        let team = team(&ui.db.app()).await;
        let (number, _) =
            customer_conversation(&ui, "ann@x.test", "Where is my order?", Some(team.support))
                .await;
        let agent = ui.sign_in("agent@t.test", "pw-1234").await;
        let app = ui.db.app();
        let uri = format!("/app/conversations/{number}/messages");
        for csrf in [None, Some("wrong")] {
            let mut pairs = vec![("kind", "reply"), ("text", "Forged reply")];
            if let Some(csrf) = csrf {
                pairs.push(("csrf", csrf));
            }
            assert_eq!(
                ui.post(&uri, &agent, &pairs).await.status,
                StatusCode::FORBIDDEN
            );
            let update = ui
                .post(
                    &format!("/app/conversations/{number}"),
                    &agent,
                    &[("status", "solved")],
                )
                .await;
            assert_eq!(update.status, StatusCode::FORBIDDEN);
            let bulk = ui
                .post(
                    "/app/bulk",
                    &agent,
                    &[("n", &number.to_string()), ("status", "solved")],
                )
                .await;
            assert_eq!(bulk.status, StatusCode::FORBIDDEN);
        }
        assert_eq!(
            app.messages(&team.agent, number).await.unwrap().len(),
            1,
            "nothing forged was written"
        );
        assert_eq!(
            app.conversation(&team.agent, number).await.unwrap().status,
            domain::Status::New
        );

        // With the token: a reply, a note, an assignment and a tag, then a bulk status change.
        let reply = ui
            .post(
                &uri,
                &agent,
                &[
                    ("csrf", &agent.csrf),
                    ("kind", "reply"),
                    ("text", "It ships today."),
                    ("status", "pending"),
                ],
            )
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
        assert!(reply
            .location()
            .starts_with(&format!("/app/conversations/{number}#m")));
        ui.post(
            &uri,
            &agent,
            &[
                ("csrf", &agent.csrf),
                ("kind", "note"),
                ("text", "Customer is a VIP."),
            ],
        )
        .await;
        let agent_id = team.agent_id.to_string();
        let update = ui
            .post(
                &format!("/app/conversations/{number}"),
                &agent,
                &[
                    ("csrf", &agent.csrf),
                    ("assignee", &agent_id),
                    ("add_tag", "vip"),
                ],
            )
            .await;
        assert_eq!(update.status, StatusCode::SEE_OTHER, "{}", update.body);
        let view = app.conversation(&team.agent, number).await.unwrap();
        assert_eq!(view.status, domain::Status::Pending);
        assert_eq!(view.assignee.map(|a| a.id), Some(team.agent_id));
        assert_eq!(view.tags, vec!["vip".to_string()]);
        let bulk = ui
            .post(
                "/app/bulk",
                &agent,
                &[
                    ("csrf", &agent.csrf),
                    ("n", &number.to_string()),
                    ("status", "solved"),
                    ("return", "/app?status=unsolved"),
                ],
            )
            .await;
        assert_eq!(bulk.status, StatusCode::SEE_OTHER);
        assert_eq!(bulk.location(), "/app?status=unsolved&done=1");
        assert_eq!(
            app.conversation(&team.agent, number).await.unwrap().status,
            domain::Status::Solved
        );

        // The workspace shows the queue and the conversation with its timeline.
        let list = ui.get("/app?status=solved", &agent).await;
        assert_eq!(list.status, StatusCode::OK);
        assert!(list.body.contains("Where is my order?") && list.body.contains("Mine"));
        let page = ui
            .get(&format!("/app/conversations/{number}"), &agent)
            .await;
        assert_eq!(page.status, StatusCode::OK);
        for text in [
            "It ships today.",
            "Customer is a VIP.",
            "Internal note",
            "change",
            "ann@x.test",
        ] {
            assert!(page.body.contains(text), "missing {text:?}");
        }
        ui.db.finish().await;
    }
}

#[tokio::test]
async fn a_customer_sees_only_their_own_conversations_and_gets_404_for_others() {
    for db in backends().await {
        let ui = Ui::new(db).await;
        let team = team(&ui.db.app()).await;
        let (mine, _) =
            customer_conversation(&ui, "ann@x.test", "Ann's parcel", Some(team.support)).await;
        let (theirs, _) =
            customer_conversation(&ui, "bob@x.test", "Bob's invoice", Some(team.billing)).await;
        let app = ui.db.app();
        post_message(
            &app,
            &team.lead,
            mine,
            MessageKind::Note,
            "Internal: check the depot",
            T0 + MIN,
        )
        .await;
        post_message(
            &app,
            &team.agent,
            mine,
            MessageKind::Reply,
            "It is on its way.",
            T0 + 2 * MIN,
        )
        .await;

        let ann = ui.sign_in("ann@x.test", "pw-cust").await;
        let home = ui.get("/portal", &ann).await;
        assert!(
            home.body.contains("Ann&#x27;s parcel") || home.body.contains("Ann&#39;s parcel"),
            "{}",
            home.body
        );
        assert!(!home.body.contains("Bob"));
        let page = ui.get(&format!("/portal/conversations/{mine}"), &ann).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("It is on its way."));
        assert!(
            !page.body.contains("check the depot"),
            "customers never see notes"
        );

        let other = ui
            .get(&format!("/portal/conversations/{theirs}"), &ann)
            .await;
        assert_eq!(other.status, StatusCode::NOT_FOUND);
        assert!(!other.body.contains("Bob"));
        assert_eq!(
            ui.get("/portal/conversations/999999", &ann).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            ui.get("/portal/conversations/abc", &ann).await.status,
            StatusCode::NOT_FOUND
        );
        let via_app = ui.get(&format!("/app/conversations/{theirs}"), &ann).await;
        assert_eq!(via_app.status, StatusCode::SEE_OTHER);
        assert_eq!(
            ui.get(via_app.location(), &ann).await.status,
            StatusCode::NOT_FOUND
        );
        let write = ui
            .post(
                &format!("/portal/conversations/{theirs}/messages"),
                &ann,
                &[("csrf", &ann.csrf), ("text", "hi")],
            )
            .await;
        assert_eq!(write.status, StatusCode::NOT_FOUND);
        assert_eq!(
            app.messages(&Principal::System, theirs)
                .await
                .unwrap()
                .len(),
            1
        );

        // A reply, and a new request; what a customer types is shown as text, never as markup.
        let reply = ui
            .post(
                &format!("/portal/conversations/{mine}/messages"),
                &ann,
                &[
                    ("csrf", &ann.csrf),
                    ("text", "<script>alert(1)</script> thanks"),
                ],
            )
            .await;
        assert_eq!(reply.status, StatusCode::SEE_OTHER);
        let page = ui.get(&format!("/portal/conversations/{mine}"), &ann).await;
        assert!(
            page.body
                .contains("&lt;script&gt;alert(1)&lt;/script&gt; thanks"),
            "{}",
            page.body
        );
        assert!(!page.body.contains("<script>alert"));
        let created = ui
            .post(
                "/portal/conversations",
                &ann,
                &[
                    ("csrf", &ann.csrf),
                    ("subject", "A new question"),
                    ("text", "Do you ship abroad?"),
                ],
            )
            .await;
        assert_eq!(created.status, StatusCode::SEE_OTHER, "{}", created.body);
        let page = ui.get(created.location(), &ann).await;
        assert!(page.body.contains("Do you ship abroad?"));
        ui.db.finish().await;
    }
}

#[tokio::test]
/// Its render time is measured by `rapport bench ui`, not here.
async fn the_page_of_a_200_message_conversation_renders_every_message() {
    let ui = Ui::new(sqlite().await).await;
    let team = team(&ui.db.app()).await;
    let (number, _) =
        customer_conversation(&ui, "long@x.test", "A long story", Some(team.support)).await;
    let app = ui.db.app();
    let customer = Principal::Customer {
        id: app
            .conversation(&Principal::System, number)
            .await
            .unwrap()
            .customer
            .id,
    };
    for i in 1..200 {
        let (by, kind) = match i % 3 {
            0 => (&team.agent, MessageKind::Reply),
            1 => (&customer, MessageKind::Customer),
            _ => (&team.agent, MessageKind::Note),
        };
        let text = format!("Message {i}: the parcel left the depot, then it came back, and now we wait.\n\nSecond paragraph.");
        post_message(&app, by, number, kind, &text, T0 + i * MIN).await;
    }
    assert_eq!(app.messages(&team.agent, number).await.unwrap().len(), 200);
    let agent = ui.sign_in("agent@t.test", "pw-1234").await;
    let uri = format!("/app/conversations/{number}");
    let first = ui.get(&uri, &agent).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.body.matches("class=\"message message-").count(), 200);

    ui.db.finish().await;
}

#[tokio::test]
async fn the_dashboard_shows_figures_with_their_cases_and_only_admins_set_targets() {
    for db in backends().await {
        let ui = Ui::new(db).await;
        let app = ui.db.app();
        let team = team(&app).await;
        for i in 0..4 {
            let c = app
                .create_conversation(
                    &Principal::System,
                    inbound(
                        &format!("d{i}@x.test"),
                        "Dashboard",
                        "Hello",
                        Some(team.support),
                    ),
                    T0 - 3_600_000,
                )
                .await
                .unwrap();
            post_message(
                &app,
                &team.agent,
                c.number,
                MessageKind::Reply,
                "Hi",
                T0 - 1_800_000,
            )
            .await;
        }
        for _ in 0..500 {
            app.run_kpi_rollups(1000, T0).await.unwrap();
            let cursor = app
                .store
                .cursor(app::KPI_CONSUMER)
                .await
                .unwrap()
                .unwrap_or_default();
            if cursor.event_id >= app.store.last_event_id().await.unwrap() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }

        let manager = ui.sign_in("manager@t.test", "pw-1234").await;
        let page = ui.get("/app/dashboard", &manager).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("First reply time (median)"));
        assert!(page.body.contains("The whole team"));
        // Four cases: the figure is shown with its n and flagged, never judged.
        assert!(page.body.contains("<td>4</td>"), "{}", page.body);
        assert!(page.body.contains("Too few cases"));
        assert!(!page.body.contains("style="), "no inline style");

        // An agent sees their own figures by default, and not the team's.
        let agent = ui.sign_in("agent@t.test", "pw-1234").await;
        let mine = ui.get("/app/dashboard", &agent).await;
        assert_eq!(mine.status, StatusCode::OK);
        assert!(mine.body.contains("Your own figures"));
        let team_page = ui
            .get(&format!("/app/dashboard?group={}", team.support), &agent)
            .await;
        assert_eq!(team_page.status, StatusCode::FORBIDDEN);

        // The definition page: managers read it, only administrators change it.
        let record = ui.get("/app/kpis/first_reply_median", &manager).await;
        assert_eq!(record.status, StatusCode::OK);
        assert!(record
            .body
            .contains("Time from the creation of a conversation"));
        assert!(!record.body.contains("name=\"target\""));
        let refused = ui
            .post(
                "/app/kpis/first_reply_median",
                &manager,
                &[
                    ("csrf", &manager.csrf),
                    ("target", "3600"),
                    ("owner", "Ann"),
                ],
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        let admin = ui.sign_in("admin@t.test", "pw-1234").await;
        let no_csrf = ui
            .post(
                "/app/kpis/first_reply_median",
                &admin,
                &[("target", "3600"), ("owner", "Ann")],
            )
            .await;
        assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
        let saved = ui
            .post(
                "/app/kpis/first_reply_median",
                &admin,
                &[
                    ("csrf", &admin.csrf),
                    ("target", "3600"),
                    ("amber", ""),
                    ("red", "7200"),
                    ("owner", "Ann"),
                ],
            )
            .await;
        assert_eq!(saved.status, StatusCode::OK, "{}", saved.body);
        assert!(saved.body.contains("Saved."));
        assert!(saved.body.contains("value=\"3600\""));
        let bad = ui
            .post(
                "/app/kpis/first_reply_median",
                &admin,
                &[("csrf", &admin.csrf), ("target", "soon"), ("owner", "Ann")],
            )
            .await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", bad.body);

        // Drill-down to the conversations behind the volume.
        let drill = ui
            .get("/app/kpis/volume/conversations?days=7", &manager)
            .await;
        assert_eq!(drill.status, StatusCode::OK);
        assert_eq!(
            drill.body.matches("href=\"/app/conversations/").count(),
            4,
            "{}",
            drill.body
        );
        ui.db.finish().await;
    }
}

/// The n-th occurrence order of `#number` links in a page.
fn row_order(body: &str, numbers: &[i64]) -> Vec<i64> {
    let mut found: Vec<(usize, i64)> = numbers
        .iter()
        .map(|n| {
            let at = body
                .find(&format!("id=\"n{n}\""))
                .unwrap_or_else(|| panic!("#{n} is not listed"));
            (at, *n)
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, n)| n).collect()
}

#[tokio::test]
async fn the_queue_shows_time_to_the_next_breach_and_the_side_panel_each_target() {
    use ::sla::{Conditions, TargetRule};
    use domain::{Priority, SlaBasis, SlaMetric};
    for db in backends().await {
        let ui = Ui::new(db).await;
        let app = ui.db.app();
        let team = team(&app).await;
        let policy = app::PolicyInput {
            name: "Everyone".into(),
            position: None,
            conditions: Conditions::default(),
            calendar_id: None,
            targets: vec![
                TargetRule {
                    metric: SlaMetric::FirstReply,
                    priority: Priority::Normal,
                    minutes: 60,
                    basis: SlaBasis::Calendar,
                },
                TargetRule {
                    metric: SlaMetric::Resolution,
                    priority: Priority::Normal,
                    minutes: 24 * 60,
                    basis: SlaBasis::Calendar,
                },
            ],
            warn_at_percent: Some(50),
            on_hold_pauses: true,
        };
        app.add_sla_policy(&team.admin, policy, T0 - 200 * MIN)
            .await
            .unwrap();
        let open = |email: &'static str, at: i64| {
            let app = app.clone();
            let support = team.support;
            async move {
                app.create_conversation(
                    &Principal::System,
                    inbound(email, "Parcel", "Where is it?", Some(support)),
                    at,
                )
                .await
                .unwrap()
                .number
            }
        };
        // The page's clock is T0: first reply overdue by 10m, warned with 20m left, 55m left.
        let fine = open("fine@x.test", T0 - 5 * MIN).await;
        let late = open("late@x.test", T0 - 70 * MIN).await;
        let warned = open("warned@x.test", T0 - 40 * MIN).await;
        app.recompute_sla(T0).await.unwrap();

        let agent = ui.sign_in("agent@t.test", "pw-1234").await;
        let list = ui.get("/app?sort=sla", &agent).await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.body);
        assert!(list
            .body
            .contains("<option value=\"sla\" selected>Next SLA breach</option>"));
        assert_eq!(
            row_order(&list.body, &[fine, late, warned]),
            vec![late, warned, fine],
            "{}: soonest breach first",
            ui.db.name
        );
        assert!(list.body.contains("sla-breached\""), "{}", list.body);
        assert!(list.body.contains(">overdue 10m</span>"), "{}", list.body);
        assert!(list.body.contains("sla sla-warned"), "{}", list.body);
        assert!(list.body.contains(">20m left</span>"));
        assert!(list.body.contains("sla sla-ok"));
        assert!(list.body.contains(">55m left</span>"));

        let page = ui.get(&format!("/app/conversations/{late}"), &agent).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("Service level"));
        assert!(page.body.contains("<strong>First reply</strong>"));
        assert!(
            page.body.contains("overdue by 10m of calendar time"),
            "{}",
            page.body
        );
        assert!(page.body.contains("<strong>Resolution</strong>"));
        assert!(
            page.body.contains("22h 50m of calendar time left"),
            "{}",
            page.body
        );
        assert!(page.body.contains("<summary>SLA history ("));
        assert!(page.body.contains("First reply: breached"));

        // A reply meets the first reply: it leaves the panel.
        post_message(
            &app,
            &team.agent,
            late,
            MessageKind::Reply,
            "On its way",
            T0,
        )
        .await;
        let page = ui.get(&format!("/app/conversations/{late}"), &agent).await;
        assert!(
            !page.body.contains("<strong>First reply</strong>"),
            "{}",
            page.body
        );
        assert!(page.body.contains("<strong>Resolution</strong>"));

        // Another group's conversation stays a 404, SLA panel and all.
        let biller = ui.sign_in("biller@t.test", "pw-1234").await;
        let hidden = ui.get(&format!("/app/conversations/{late}"), &biller).await;
        assert_eq!(hidden.status, StatusCode::NOT_FOUND);
        let list = ui.get("/app?sort=sla", &biller).await;
        assert!(!list.body.contains(&format!("id=\"n{late}\"")));
        ui.db.finish().await;
    }
}

/// A `multipart/form-data` body with text fields and (name, bytes) files.
fn multipart(fields: &[(&str, &str)], files: &[(&str, &[u8])]) -> (String, Vec<u8>) {
    let boundary = "----rapport-test-7MA4YWxkTrZu0gW";
    let mut body = Vec::new();
    for (name, value) in fields {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
        );
    }
    for (filename, data) in files {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{filename}\"\r\nContent-Type: application/pdf\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn the_composer_attaches_files_stored_as_blobs_and_downloaded_by_who_may_see_them() {
    for db in backends().await {
        let ui = Ui::new(db).await;
        let app = ui.db.app();
        let team = team(&app).await;
        let (number, _) =
            customer_conversation(&ui, "ann@x.test", "Invoice", Some(team.support)).await;
        let agent = ui.sign_in("agent@t.test", "pw-1234").await;
        let page = ui
            .get(&format!("/app/conversations/{number}"), &agent)
            .await;
        assert!(page.body.contains("enctype=\"multipart/form-data\""));
        assert!(page
            .body
            .contains("<label for=\"files\">Attach files</label>"));

        let invoice: Vec<u8> = b"%PDF-1.4\r\n--not a boundary\r\n\x00\xff binary"
            .iter()
            .copied()
            .cycle()
            .take(5000)
            .collect();
        let uri = format!("/app/conversations/{number}/messages");
        let (content_type, body) = multipart(
            &[
                ("kind", "reply"),
                ("text", "Here is your invoice."),
                ("status", ""),
            ],
            &[("invoice 42.pdf", &invoice)],
        );
        let (status, _) = ui.send_typed(&uri, &agent, &content_type, body).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "no CSRF token, no message");

        let (content_type, body) = multipart(
            &[
                ("csrf", &agent.csrf),
                ("kind", "reply"),
                ("text", "Here is your invoice."),
                ("status", ""),
            ],
            &[("invoice 42.pdf", &invoice), ("", b"")],
        );
        let (status, answer) = ui.send_typed(&uri, &agent, &content_type, body).await;
        assert_eq!(
            status,
            StatusCode::SEE_OTHER,
            "{}",
            String::from_utf8_lossy(&answer)
        );
        let page = ui
            .get(&format!("/app/conversations/{number}"), &agent)
            .await;
        assert!(page.body.contains("Here is your invoice."));
        let start = page
            .body
            .find("href=\"/api/v1/attachments/")
            .expect("a download link")
            + 6;
        let end = page.body[start..].find('"').unwrap() + start;
        let link = page.body[start..end].to_string();
        assert!(page.body.contains(">invoice 42.pdf</a>"));
        let (status, bytes) = ui.download(&link, &agent).await;
        assert_eq!((status, bytes == invoice), (StatusCode::OK, true));
        let id: i64 = link.rsplit('/').next().unwrap().parse().unwrap();
        let (row, _) = ui.db.store.attachment(id).await.unwrap().unwrap();
        assert_eq!(row.blob_sha256.len(), 64, "addressed by its SHA-256");
        assert_eq!(
            ui.db.store.blob(&row.blob_sha256).await.unwrap(),
            Some(invoice.clone())
        );
        let biller = ui.sign_in("biller@t.test", "pw-1234").await;
        let (status, _) = ui.download(&link, &biller).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "another group's file stays hidden"
        );

        // Over the limit: a clear error, and nothing is added.
        let big = vec![b'x'; app::MAX_ATTACHMENT_BYTES + 1];
        let (content_type, body) = multipart(
            &[("csrf", &agent.csrf), ("kind", "note"), ("text", "Too big")],
            &[("big.bin", &big)],
        );
        let (status, answer) = ui.send_typed(&uri, &agent, &content_type, body).await;
        let answer = String::from_utf8_lossy(&answer);
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            answer.contains("The files are too large: attach at most 10 MiB"),
            "{answer}"
        );
        let messages = app.messages(&Principal::System, number).await.unwrap();
        assert!(messages.iter().all(|m| !m.text.contains("Too big")));
        ui.db.finish().await;
    }
}

#[tokio::test]
async fn behind_https_every_cookie_is_secure_http_only_and_same_site() {
    for db in backends().await {
        let ui = Ui::with_cookies(db, true).await;
        let app = ui.db.app();
        team(&app).await;
        let login = ui.send("GET", "/login", None, None).await;
        let pairing = login.cookie("rapport_login").unwrap();
        let signed_in = ui
            .send(
                "POST",
                "/login",
                Some(&pairing),
                Some(form(&[
                    ("csrf", &login.csrf()),
                    ("email", "agent@t.test"),
                    ("password", "pw-1234"),
                ])),
            )
            .await;
        assert_eq!(signed_in.status, StatusCode::SEE_OTHER);
        let session = signed_in.cookie("rapport_session").unwrap();
        let home = ui.send("GET", "/app", Some(&session), None).await;
        let csrf = home.csrf();
        let signed_out = ui
            .send(
                "POST",
                "/logout",
                Some(&session),
                Some(form(&[("csrf", &csrf)])),
            )
            .await;
        let cookies: Vec<String> = [&login, &signed_in, &signed_out]
            .iter()
            .flat_map(|page| page.set_cookies())
            .collect();
        assert!(cookies.len() >= 3, "{cookies:?}");
        for cookie in &cookies {
            for attribute in ["; Secure", "; HttpOnly", "; SameSite="] {
                assert!(cookie.contains(attribute), "{cookie} lacks {attribute}");
            }
        }
        // The session ended with the sign-out.
        assert_eq!(
            ui.send("GET", "/app", Some(&session), None).await.status,
            StatusCode::SEE_OTHER
        );
        ui.db.finish().await;
    }
}

#[tokio::test]
async fn remote_images_in_an_email_stay_blocked_until_the_agent_asks_for_them() {
    for db in backends().await {
        let ui = Ui::new(db).await;
        let app = ui.db.app();
        let team = team(&app).await;
        support_mailbox(&app).await;
        let raw = "From: Ann <ann@x.test>\r\nTo: support@t.test\r\nSubject: Our logo\r\n\
            Message-ID: <logo@x.test>\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
            <p>See the logo:</p><img src=\"https://tracker.test/pixel.gif?u=ann\" alt=\"logo\">\r\n";
        let id = app
            .accept_mail(
                app::AcceptedMail {
                    transport: app::Transport::Smtp,
                    mail_from: "ann@x.test".into(),
                    recipients: vec!["support@t.test".into()],
                    raw: raw.as_bytes().to_vec(),
                },
                T0,
            )
            .await
            .unwrap();
        assert_eq!(app.ingest_mail(id, T0).await.unwrap(), "message");
        let list = app
            .list_conversations(
                &team.admin,
                app::ListQuery {
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let number = list.items[0].number;
        let message = app.messages(&team.admin, number).await.unwrap()[0].id;
        let admin = ui.sign_in("admin@t.test", "pw-1234").await;
        let uri = format!("/app/conversations/{number}");

        let blocked = ui.get(&uri, &admin).await;
        assert_eq!(blocked.status, StatusCode::OK);
        assert!(blocked.body.contains("See the logo:"));
        assert!(
            !blocked.body.contains(" src=\"https://tracker.test"),
            "{}",
            blocked.body
        );
        assert!(blocked
            .body
            .contains(&format!("?images={message}#m{message}")));
        let policy = |page: &Page| {
            page.headers["content-security-policy"]
                .to_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(policy(&blocked), ::ui::CONTENT_SECURITY_POLICY);

        // The agent asks for this message's images: they load, without a referrer, and
        // only images are let in from other sites.
        let shown = ui.get(&format!("{uri}?images={message}"), &admin).await;
        assert_eq!(shown.status, StatusCode::OK);
        assert!(
            shown.body.contains(
                "referrerpolicy=\"no-referrer\" src=\"https://tracker.test/pixel.gif?u=ann\""
            ),
            "{}",
            shown.body
        );
        assert!(shown.body.contains("Block them again"));
        let relaxed = policy(&shown);
        assert!(
            relaxed.contains("img-src 'self' data: https: http:"),
            "{relaxed}"
        );
        assert!(relaxed.contains("script-src 'self';") && relaxed.contains("default-src 'none'"));
        // Another message's id (or none of this page's) shows nothing more.
        for other in [format!("{}", message + 1000), "x".to_string()] {
            let page = ui.get(&format!("{uri}?images={other}"), &admin).await;
            assert!(!page.body.contains(" src=\"https://tracker.test"));
            assert_eq!(policy(&page), ::ui::CONTENT_SECURITY_POLICY);
        }
        ui.db.finish().await;
    }
}

#[tokio::test]
async fn the_list_searches_filters_and_sorts_and_bulk_actions_assign_tag_and_set_status() {
    for db in backends().await {
        let ui = Ui::new(db).await;
        let app = ui.db.app();
        let team = team(&app).await;
        let mut numbers = Vec::new();
        for (i, (email, subject, text)) in [
            ("a@x.test", "Printer jam", "The printer eats paper."),
            (
                "b@x.test",
                "Invoice too high",
                "My invoice shows twice the amount.",
            ),
            ("c@x.test", "Parcel lost", "The parcel never came."),
        ]
        .into_iter()
        .enumerate()
        {
            let created = app
                .create_conversation(
                    &Principal::System,
                    inbound(email, subject, text, Some(team.support)),
                    T0 + i as i64 * MIN,
                )
                .await
                .unwrap();
            numbers.push(created.number);
        }
        // The first customer also wrote with the web form: the side panel lists it.
        let mut by_form = inbound(
            "a@x.test",
            "Toner order",
            "Two cartridges, please.",
            Some(team.support),
        );
        by_form.channel = domain::Channel::Web;
        let other = app
            .create_conversation(&Principal::System, by_form, T0 + 10 * MIN)
            .await
            .unwrap()
            .number;
        index_everything(&app).await;
        let lead = ui.sign_in("lead@t.test", "pw-1234").await;
        let page = ui
            .get(&format!("/app/conversations/{}", numbers[0]), &lead)
            .await;
        assert!(page.body.contains("Other conversations"));
        assert!(page
            .body
            .contains(&format!("href=\"/app/conversations/{other}\"")));
        assert!(page.body.contains("Toner order"));
        let rows = |page: &Page| -> Vec<&str> {
            ["Printer jam", "Invoice too high", "Parcel lost"]
                .into_iter()
                .filter(|s| page.body.contains(s))
                .collect()
        };
        // Search.
        let found = ui.get("/app?status=all&q=invoice", &lead).await;
        assert_eq!(found.status, StatusCode::OK);
        assert_eq!(rows(&found), ["Invoice too high"]);
        // Sort: newest first, oldest first.
        let newest = ui.get("/app?status=all&sort=-created_at", &lead).await;
        let oldest = ui.get("/app?status=all&sort=created_at", &lead).await;
        let at = |page: &Page, s: &str| page.body.find(s).unwrap();
        assert!(at(&newest, "Parcel lost") < at(&newest, "Printer jam"));
        assert!(at(&oldest, "Printer jam") < at(&oldest, "Parcel lost"));

        // Bulk: the first two assigned to the lead and tagged, then solved.
        let (first, second) = (numbers[0].to_string(), numbers[1].to_string());
        let bulk = ui
            .post(
                "/app/bulk",
                &lead,
                &[
                    ("csrf", &lead.csrf),
                    ("n", &first),
                    ("n", &second),
                    ("assignee", "me"),
                    ("add_tag", "batch-1"),
                    ("return", "/app?status=all"),
                ],
            )
            .await;
        assert_eq!(bulk.status, StatusCode::SEE_OTHER, "{}", bulk.body);
        for &n in &numbers[..2] {
            let view = app.conversation(&team.admin, n).await.unwrap();
            assert_eq!(view.tags, ["batch-1"]);
            assert!(view.assignee.is_some());
        }
        let third = app.conversation(&team.admin, numbers[2]).await.unwrap();
        assert!(third.tags.is_empty() && third.assignee.is_none());
        // Filters: by tag, by assignee.
        let tagged = ui.get("/app?status=all&tag=batch-1", &lead).await;
        assert_eq!(rows(&tagged), ["Printer jam", "Invoice too high"]);
        let mine = ui.get("/app?status=all&assignee=me", &lead).await;
        assert_eq!(rows(&mine), ["Printer jam", "Invoice too high"]);
        let nobody = ui.get("/app?status=all&assignee=none", &lead).await;
        assert_eq!(rows(&nobody), ["Parcel lost"]);
        let solve = ui
            .post(
                "/app/bulk",
                &lead,
                &[
                    ("csrf", &lead.csrf),
                    ("n", &first),
                    ("n", &second),
                    ("status", "solved"),
                ],
            )
            .await;
        assert_eq!(solve.status, StatusCode::SEE_OTHER);
        let unsolved = ui.get("/app?status=unsolved", &lead).await;
        assert_eq!(rows(&unsolved), ["Parcel lost"]);
        // Nothing ticked: a clear refusal, nothing changed.
        let none = ui
            .post(
                "/app/bulk",
                &lead,
                &[("csrf", &lead.csrf), ("status", "open")],
            )
            .await;
        assert_eq!(
            none.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            none.body
        );
        ui.db.finish().await;
    }
}
