//! The process map for managers (`/app/process`): who may open it, what the sliders and
//! filters change, and that each table row drills down to exactly the conversations behind it;
//! and `rapport mine patterns` with the filter flags of the other `mine` commands.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::Router;
use domain::{MessageKind, Principal, Priority, Status};

use crate::support::*;

const DAY: i64 = 86_400_000;

/// A page as a browser gets it.
pub struct Page {
    pub status: StatusCode,
    pub location: String,
    pub body: String,
}

/// The router the server runs (API and pages), with a fixed clock.
pub struct Pages {
    router: Router,
}

/// A signed-in browser.
pub struct Browser {
    pub cookie: String,
    pub csrf: String,
}

fn hidden_csrf(body: &str) -> String {
    let start = body.find("name=\"csrf\" value=\"").expect("a csrf field") + 19;
    let end = body[start..].find('"').unwrap() + start;
    body[start..end].to_string()
}

/// `application/x-www-form-urlencoded`, as a browser writes it.
pub fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                (b as char).to_string()
            }
            b' ' => "+".into(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

impl Pages {
    pub fn new(app: app::App, now: i64) -> Pages {
        let state = web::AppState::new(app, Arc::new(move || now), false);
        Pages {
            router: web::router(state.clone()).merge(::ui::router(state)),
        }
    }

    pub async fn send(
        &self,
        method: &str,
        uri: &str,
        cookie: Option<&str>,
        body: Option<String>,
    ) -> (Page, Vec<String>) {
        let answer = browse(&self.router, method, uri, cookie, body).await;
        let page = Page {
            status: answer.status,
            location: answer.header("location"),
            body: answer.text(),
        };
        (page, answer.cookies())
    }

    pub async fn get(&self, uri: &str, who: &Browser) -> Page {
        self.send("GET", uri, Some(&who.cookie), None).await.0
    }

    pub async fn post(&self, uri: &str, who: &Browser, pairs: &[(&str, &str)]) -> Page {
        let body = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&");
        self.send("POST", uri, Some(&who.cookie), Some(body))
            .await
            .0
    }

    /// Signs in through the form, as a browser does.
    pub async fn sign_in(&self, email: &str, password: &str) -> Browser {
        let (login, cookies) = self.send("GET", "/login", None, None).await;
        let pairing = cookies
            .into_iter()
            .find(|c| c.starts_with("rapport_login="))
            .expect("the form's cookie");
        let body = format!(
            "csrf={}&email={}&password={}",
            encode(&hidden_csrf(&login.body)),
            encode(email),
            encode(password)
        );
        let (signed_in, cookies) = self
            .send("POST", "/login", Some(&pairing), Some(body))
            .await;
        assert_eq!(
            signed_in.status,
            StatusCode::SEE_OTHER,
            "{}",
            signed_in.body
        );
        let cookie = cookies
            .into_iter()
            .find(|c| c.starts_with("rapport_session="))
            .expect("a session cookie");
        let (home, _) = self
            .send("GET", &signed_in.location, Some(&cookie), None)
            .await;
        assert_eq!(home.status, StatusCode::OK, "{}", home.body);
        Browser {
            csrf: hidden_csrf(&home.body),
            cookie,
        }
    }
}

/// The map of a page (its inline SVG).
fn map_of(body: &str) -> &str {
    let start = body.find("<svg").expect("an inline map");
    let end = body[start..].find("</svg>").expect("the end of the map") + start;
    &body[start..end]
}

/// The conversation numbers a drill-down page links to, in page order.
fn linked_conversations(body: &str) -> Vec<i64> {
    body.match_indices("href=\"/app/conversations/")
        .map(|(at, found)| {
            let rest = &body[at + found.len()..];
            rest[..rest.find('"').unwrap()].parse().unwrap()
        })
        .collect()
}

struct Played {
    /// Created → First reply → Solved (the most frequent path).
    plain: Vec<i64>,
    /// Support → Billing → Support, then answered and solved.
    bounced: Vec<i64>,
    /// The customer wrote twice more, each answered: rework.
    chatty: i64,
    /// The one conversation whose priority was raised (a rare step).
    raised: i64,
    /// A plain one, forty days later.
    late: i64,
}

async fn play(app: &app::App, team: &Team) -> Played {
    let system = Principal::System;
    let open = |email: String, at: i64| {
        let app = app.clone();
        let support = team.support;
        async move {
            app.create_conversation(
                &Principal::System,
                inbound(&email, "Where is my parcel?", "Hello", Some(support)),
                at,
            )
            .await
            .unwrap()
            .number
        }
    };
    let reply = |number: i64, status: Option<Status>, at: i64| {
        let app = app.clone();
        let agent = team.agent.clone();
        async move {
            app.add_message(
                &agent,
                number,
                message(MessageKind::Reply, "Here it is"),
                status,
                at,
            )
            .await
            .unwrap();
        }
    };
    let mut plain = Vec::new();
    for i in 0..4 {
        let start = T0 + i * 10 * MIN;
        let n = open(format!("plain{i}@x.test"), start).await;
        reply(n, Some(Status::Solved), start + 30 * MIN).await;
        plain.push(n);
    }
    let mut bounced = Vec::new();
    for i in 0..2 {
        let start = T0 + DAY + i * 10 * MIN;
        let n = open(format!("bounced{i}@x.test"), start).await;
        for (group, at) in [(team.billing, 60 * MIN), (team.support, 3 * 60 * MIN)] {
            let patch = app::Patch {
                group_id: Some(Some(group)),
                ..Default::default()
            };
            app.update_conversation(&team.manager, n, patch, start + at)
                .await
                .unwrap();
        }
        reply(n, Some(Status::Solved), start + 4 * 60 * MIN).await;
        bounced.push(n);
    }
    let start = T0 + 2 * DAY;
    let chatty = open("chatty@x.test".into(), start).await;
    reply(chatty, Some(Status::Pending), start + 10 * MIN).await;
    for round in 1..=2 {
        let at = start + round * 60 * MIN;
        post_message(
            app,
            &system,
            chatty,
            MessageKind::Customer,
            "And another thing",
            at,
        )
        .await;
        reply(chatty, Some(Status::Pending), at + 5 * MIN).await;
    }
    let start = T0 + 3 * DAY;
    let raised = open("raised@x.test".into(), start).await;
    let patch = app::Patch {
        priority: Some(Priority::Urgent),
        ..Default::default()
    };
    app.update_conversation(&team.agent, raised, patch, start + MIN)
        .await
        .unwrap();
    reply(raised, Some(Status::Solved), start + 20 * MIN).await;
    let start = T0 + 40 * DAY;
    let late = open("late@x.test".into(), start).await;
    reply(late, Some(Status::Solved), start + 30 * MIN).await;
    // The process log is read below the PostgreSQL horizon, like every whole-log scan.
    whole_log(&app.store).await;
    Played {
        plain,
        bounced,
        chatty,
        raised,
        late,
    }
}

#[tokio::test]
async fn only_managers_open_the_process_map_and_its_drill_downs() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        play(&app, &team).await;
        for who in [&team.agent, &team.lead, &team.biller] {
            assert!(matches!(
                app.process_map(who, &app::ProcessQuery::default(), T0 + 50 * DAY)
                    .await,
                Err(app::AppError::Forbidden(_))
            ));
        }
        let customer = Principal::Customer { id: 1 };
        assert!(app
            .process_cases(
                &customer,
                &app::ProcessQuery::default(),
                &app::ProcessDrill::Variant(0),
                T0 + 50 * DAY
            )
            .await
            .is_err());

        let pages = Pages::new(db.app(), T0 + 50 * DAY);
        let (anonymous, _) = pages.send("GET", "/app/process", None, None).await;
        assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
        assert!(anonymous.location.starts_with("/login"));
        for email in ["agent@t.test", "lead@t.test"] {
            let browser = pages.sign_in(email, "pw-1234").await;
            let home = pages.get("/app", &browser).await;
            assert!(!home.body.contains("href=\"/app/process\""), "{email}");
            for uri in [
                "/app/process",
                "/app/process/conversations?variant=0",
                "/app/initiatives",
            ] {
                let page = pages.get(uri, &browser).await;
                assert_eq!(page.status, StatusCode::FORBIDDEN, "{email} {uri}");
            }
        }
        for email in ["manager@t.test", "admin@t.test"] {
            let browser = pages.sign_in(email, "pw-1234").await;
            let home = pages.get("/app", &browser).await;
            assert!(home.body.contains("href=\"/app/process\""), "{email}");
            let page = pages.get("/app/process", &browser).await;
            assert_eq!(page.status, StatusCode::OK, "{email}: {}", page.body);
            assert!(page.body.contains("<svg"), "the map is inline");
            assert!(
                !page.body.contains("style="),
                "no inline style: {}",
                db.name
            );
            assert!(!page.body.contains("<script>"), "no inline script");
        }
        db.finish().await;
    }
}

#[tokio::test]
async fn the_sliders_and_filters_change_the_map_and_each_row_drills_to_its_conversations() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let played = play(&app, &team).await;
        let pages = Pages::new(db.app(), T0 + 50 * DAY);
        let manager = pages.sign_in("manager@t.test", "pw-1234").await;

        // Every step and every arrow: the rare "Priority raised" is on the map.
        let full = pages
            .get("/app/process?activities=100&edges=100", &manager)
            .await;
        assert_eq!(full.status, StatusCode::OK, "{}", full.body);
        assert!(
            map_of(&full.body).contains(">Priority raised<"),
            "{}",
            db.name
        );
        assert!(full.body.contains("9 of 9 conversations"), "{}", full.body);
        // Fewer steps: the rarest go first.
        let fewer = pages
            .get("/app/process?activities=40&edges=100", &manager)
            .await;
        assert!(!map_of(&fewer.body).contains(">Priority raised<"));
        assert!(map_of(&fewer.body).contains(">Created<"));
        // Fewer arrows: fewer paths are drawn.
        let arrows = |body: &str| map_of(body).matches("<path d=").count();
        let thin = pages
            .get("/app/process?activities=100&edges=0", &manager)
            .await;
        assert!(
            arrows(&thin.body) < arrows(&full.body),
            "{} < {}",
            arrows(&thin.body),
            arrows(&full.body)
        );
        // Waits instead of counts on the arrows.
        let waits = pages
            .get("/app/process?labels=wait&edges=100", &manager)
            .await;
        assert!(
            map_of(&waits.body).contains(" min<"),
            "median waits label the edges"
        );

        // The time window leaves out the late conversation; the group filter keeps the
        // conversations that were in Billing at some step.
        let window = pages
            .get("/app/process?from=2026-01-01&to=2026-01-20", &manager)
            .await;
        assert!(
            window.body.contains("8 of 9 conversations"),
            "{}",
            window.body
        );
        let billing = pages
            .get(&format!("/app/process?group={}", team.billing), &manager)
            .await;
        assert!(billing.body.contains("2 of 9 conversations"));

        // Drill-downs: each row's link lists exactly its conversations, newest first.
        let sorted = |mut numbers: Vec<i64>| {
            numbers.sort_unstable_by(|a, b| b.cmp(a));
            numbers
        };
        let cases = |uri: String| {
            let pages = &pages;
            let manager = &manager;
            async move {
                let page = pages.get(&uri, manager).await;
                assert_eq!(page.status, StatusCode::OK, "{uri}: {}", page.body);
                linked_conversations(&page.body)
            }
        };
        // The most frequent variant in January: the four plain ones (the late one is in February).
        assert_eq!(
            cases("/app/process/conversations?from=2026-01-01&to=2026-01-31&variant=0".into())
                .await,
            sorted(played.plain.clone())
        );
        let mut plain_and_late = played.plain.clone();
        plain_and_late.push(played.late);
        assert_eq!(
            cases("/app/process/conversations?variant=0".into()).await,
            sorted(plain_and_late)
        );
        // Ping-pong between groups: the two bounced conversations.
        let page = pages.get("/app/process?by=group", &manager).await;
        // Links as a browser reads them (askama writes `&` as `&#38;`).
        let links = page.body.replace("&#38;", "&");
        assert!(links.contains("&ping=Support&pong=Billing"), "{links}");
        assert_eq!(
            cases("/app/process/conversations?by=group&ping=Support&pong=Billing".into()).await,
            sorted(played.bounced.clone())
        );
        // Rework: the customer replied twice in one conversation only.
        assert!(links.contains("&rework=Customer+replied"));
        assert_eq!(
            cases("/app/process/conversations?rework=Customer+replied".into()).await,
            vec![played.chatty]
        );
        // A bottleneck edge: the bounced ones waited in Billing.
        let edge = format!(
            "/app/process/conversations?edge_from={}&edge_to={}",
            encode("Assigned to group Billing"),
            encode("Assigned to group Support")
        );
        assert_eq!(cases(edge).await, sorted(played.bounced.clone()));
        assert_eq!(
            cases(format!(
                "/app/process/conversations?edge_from={}&edge_to={}",
                encode("Created"),
                encode("Priority raised")
            ))
            .await,
            vec![played.raised]
        );
        // Every link on the page leads to a drill-down that lists something.
        for href in links
            .match_indices("href=\"/app/process/conversations?")
            .map(|(at, _)| {
                let rest = &links[at + 6..];
                rest[..rest.find('"').unwrap()].to_string()
            })
        {
            assert!(!cases(href.clone()).await.is_empty(), "{href}");
        }

        // Bad input is a page that says what is wrong.
        for uri in [
            "/app/process?activities=150",
            "/app/process?from=yesterday",
            "/app/process?by=planet",
            "/app/process?from=2026-02-01&to=2026-01-01",
            "/app/process/conversations",
        ] {
            let page = pages.get(uri, &manager).await;
            assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{uri}");
        }
        db.finish().await;
    }
}

fn json_of(output: &std::process::Output) -> serde_json::Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON on stdout")
}

#[test]
fn mine_patterns_prints_rework_ping_pong_bottlenecks_and_handovers_and_the_filters_narrow_the_log()
{
    let dir = tempfile::tempdir().unwrap();
    // c1: ann → bob → ann with a repeated B and a long wait before C; c2 in February.
    let csv = "case,activity,time,agent\n\
               c1,A,2024-01-01T00:00:00Z,ann\n\
               c1,B,2024-01-01T01:00:00Z,bob\n\
               c1,B,2024-01-01T02:00:00Z,bob\n\
               c1,C,2024-01-03T02:00:00Z,ann\n\
               c2,A,2024-02-01T00:00:00Z,ann\n\
               c2,C,2024-02-01T00:10:00Z,ann\n\
               c3,A,2024-02-02T00:00:00Z,ann\n\
               c3,C,2024-02-02T00:10:00Z,ann\n";
    let file = dir.path().join("log.csv");
    std::fs::write(&file, csv).unwrap();
    let file = file.to_str().unwrap();
    let columns = [
        "--case",
        "case",
        "--activity",
        "activity",
        "--timestamp",
        "time",
        "--resource",
        "agent",
    ];
    let run = |command: &str, extra: &[&str]| {
        let mut args = vec!["mine", command, file];
        args.extend(columns);
        args.extend(extra);
        json_of(&rapport(&args))
    };

    let patterns = run("patterns", &["--by", "agent"]);
    let keys: Vec<&str> = patterns
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 4, "{patterns}");
    for key in ["rework", "ping_pong", "bottlenecks", "handovers"] {
        assert!(patterns.get(key).is_some(), "{key} missing from {patterns}");
    }
    assert_eq!(
        patterns["rework"],
        serde_json::json!([{"activity": "B", "cases": 1, "repeats": 1}])
    );
    assert_eq!(
        patterns["ping_pong"],
        serde_json::json!([{"first": "ann", "second": "bob", "occurrences": 1, "cases": 1}])
    );
    assert_eq!(patterns["bottlenecks"][0]["from"], "B");
    assert_eq!(patterns["bottlenecks"][0]["to"], "C");
    assert_eq!(patterns["bottlenecks"][0]["total_seconds"], 172_800.0);
    assert_eq!(patterns["handovers"][0]["from"], "ann");
    assert_eq!(patterns["handovers"][0]["to"], "bob");
    assert_eq!(patterns["handovers"][0]["count"], 1);
    // By group: this log has no groups, so no owners.
    let by_group = run("patterns", &["--by", "group"]);
    assert_eq!(by_group["ping_pong"], serde_json::json!([]));

    // The existing commands keep their output; the filters only narrow the log.
    let all = run("dfg", &[]);
    assert_eq!(all["start"], serde_json::json!({"A": 3}));
    let february = run(
        "dfg",
        &[
            "--from",
            "2024-02-01T00:00:00Z",
            "--to",
            "2024-03-01T00:00:00Z",
        ],
    );
    assert_eq!(february["start"], serde_json::json!({"A": 2}));
    assert_eq!(
        february["edges"],
        serde_json::json!([{"from": "A", "to": "C", "count": 2, "median_seconds": 600.0}])
    );
    let variants = run("variants", &[]);
    assert_eq!(variants.as_array().unwrap().len(), 2);
    let covered = run("variants", &["--coverage", "0.5"]);
    assert_eq!(
        covered,
        serde_json::json!([{"activities": ["A", "C"], "count": 2}])
    );
    let january = run("patterns", &["--to", "2024-01-31T00:00:00Z"]);
    assert_eq!(january["ping_pong"][0]["cases"], 1);
    let svg = dir.path().join("map.svg");
    let map = run(
        "map",
        &["--svg", svg.to_str().unwrap(), "--coverage", "0.5"],
    );
    assert_eq!(map["svg"], svg.to_str().unwrap());
    let picture = std::fs::read_to_string(&svg).unwrap();
    assert!(picture.contains(">A<") && !picture.contains(">B<"));

    // Bad flags are refused with a reason.
    for extra in [
        &["--from", "last tuesday"][..],
        &["--coverage", "2"][..],
        &[
            "--from",
            "2024-02-01T00:00:00Z",
            "--to",
            "2024-01-01T00:00:00Z",
        ][..],
    ] {
        let mut args = vec!["mine", "dfg", file];
        args.extend(columns);
        args.extend(extra);
        let out = rapport(&args);
        assert!(!out.status.success(), "{extra:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
