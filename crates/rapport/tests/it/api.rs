//! The HTTP API, driven through the router without a socket, on every backend.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::Router;
use domain::Principal;
use serde_json::{json, Value};

use crate::support::*;

struct Api {
    router: Router,
    db: TestDb,
}

struct Reply {
    status: StatusCode,
    body: Value,
    cookie: Option<String>,
}

impl Reply {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

/// How a request authenticates.
#[derive(Clone)]
enum As {
    Nobody,
    Bearer(String),
    Session {
        cookie: String,
        csrf: Option<String>,
    },
}

impl Api {
    async fn new(db: TestDb) -> Api {
        let app = db.app();
        let state = web::AppState::new(app, Arc::new(|| T0), false);
        Api {
            router: web::router(state),
            db,
        }
    }

    async fn raw(
        &self,
        method: &str,
        uri: &str,
        who: &As,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Reply {
        let mut headers = Vec::new();
        if let Some(ct) = content_type {
            headers.push(("content-type", ct.to_string()));
        }
        match who {
            As::Nobody => {}
            As::Bearer(token) => headers.push(("authorization", format!("Bearer {token}"))),
            As::Session { cookie, csrf } => {
                headers.push(("cookie", cookie.clone()));
                if let Some(csrf) = csrf {
                    headers.push(("x-csrf-token", csrf.clone()));
                }
            }
        }
        let answer = send(&self.router, method, uri, &headers, body).await;
        let status = answer.status;
        let cookie = answer.cookies().into_iter().next();
        let body = answer.json();
        Reply {
            status,
            body,
            cookie,
        }
    }

    async fn call(&self, method: &str, uri: &str, who: &As, body: Option<Value>) -> Reply {
        match body {
            Some(body) => {
                self.raw(
                    method,
                    uri,
                    who,
                    Some("application/json"),
                    body.to_string().into_bytes(),
                )
                .await
            }
            None => self.raw(method, uri, who, None, vec![]).await,
        }
    }

    async fn login(&self, email: &str, password: &str) -> As {
        let reply = self
            .call(
                "POST",
                "/api/v1/auth/login",
                &As::Nobody,
                Some(json!({"email": email, "password": password})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        As::Session {
            cookie: reply.cookie.expect("a session cookie"),
            csrf: reply.body["csrf_token"].as_str().map(String::from),
        }
    }

    async fn token(&self, scopes: &[domain::Scope]) -> As {
        let token = self
            .db
            .app()
            .create_token(&Principal::System, "test", scopes, T0)
            .await
            .unwrap();
        As::Bearer(token.secret)
    }
}

fn new_conversation(email: &str, group: Option<i64>) -> Value {
    json!({"subject": "Where is my order?", "customer": {"email": email, "name": "Ann Lee"},
           "message": {"kind": "customer", "text": "Ordered a week ago."}, "group_id": group, "tags": ["order"]})
}

#[tokio::test]
async fn create_read_reply_and_audit_over_http() {
    for db in backends().await {
        let api = Api::new(db).await;
        let team = team(&api.db.app()).await;
        let agent = api.login("agent@t.test", "pw-1234").await;
        let created = api
            .call(
                "POST",
                "/api/v1/conversations",
                &agent,
                Some(new_conversation("ann@x.test", Some(team.support))),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        for field in [
            "number",
            "subject",
            "status",
            "priority",
            "group",
            "assignee",
            "tags",
            "customer",
            "created_at",
            "updated_at",
        ] {
            assert!(
                created.body.get(field).is_some(),
                "missing {field}: {}",
                created.body
            );
        }
        assert_eq!(created.body["status"], "new");
        assert_eq!(created.body["customer"]["email"], "ann@x.test");
        let number = created.body["number"].as_i64().unwrap();

        let reply = api
            .call(
                "POST",
                &format!("/api/v1/conversations/{number}/messages"),
                &agent,
                Some(json!({"kind": "reply", "text": "It ships today.", "status": "pending"})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        assert_eq!(reply.body["conversation"]["status"], "pending");

        let patched = api
            .call(
                "PATCH",
                &format!("/api/v1/conversations/{number}"),
                &agent,
                Some(
                    json!({"priority": "high", "assignee_id": team.agent_id, "add_tags": ["vip"]}),
                ),
            )
            .await;
        assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
        assert_eq!(patched.body["assignee"]["email"], "agent@t.test");

        let events = api
            .call(
                "GET",
                &format!("/api/v1/conversations/{number}/events"),
                &agent,
                None,
            )
            .await;
        let kinds: Vec<&str> = events.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .collect();
        assert_eq!(
            kinds,
            [
                "created",
                "tag_added",
                "message_added",
                "message_added",
                "status_changed",
                "priority_changed",
                "assignee_changed",
                "tag_added"
            ]
        );
        assert_eq!(
            events.body["items"][0]["actor"],
            json!({"kind": "agent", "id": team.agent_id})
        );

        let list = api
            .call(
                "GET",
                "/api/v1/conversations?status=pending&assignee=me&sort=-updated_at&limit=10",
                &agent,
                None,
            )
            .await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.body);
        assert_eq!(list.body["total"], 1);
        assert!(list.body.get("next_cursor").is_some());

        let customer_id = created.body["customer"]["id"].as_i64().unwrap();
        let customer = api
            .call(
                "GET",
                &format!("/api/v1/customers/{customer_id}"),
                &agent,
                None,
            )
            .await;
        assert_eq!(customer.body["conversations"][0]["number"], number);
        assert_eq!(
            customer.body["identities"][0],
            json!({"kind": "email", "value": "ann@x.test"})
        );

        let queues = api.call("GET", "/api/v1/queues", &agent, None).await;
        assert_eq!(queues.body["mine"], 1);
        api.db.finish().await;
    }
}

#[tokio::test]
async fn sessions_need_csrf_for_writes_and_logout_ends_them() {
    let api = Api::new(sqlite().await).await;
    team(&api.db.app()).await;
    let As::Session { cookie, csrf } = api.login("agent@t.test", "pw-1234").await else {
        panic!()
    };
    let without = As::Session {
        cookie: cookie.clone(),
        csrf: None,
    };
    let wrong = As::Session {
        cookie: cookie.clone(),
        csrf: Some("nope".into()),
    };
    let right = As::Session {
        cookie: cookie.clone(),
        csrf,
    };
    let body = new_conversation("b@x.test", None);
    assert_eq!(
        api.call(
            "POST",
            "/api/v1/conversations",
            &without,
            Some(body.clone())
        )
        .await
        .code(),
        "csrf_failed"
    );
    assert_eq!(
        api.call("POST", "/api/v1/conversations", &wrong, Some(body.clone()))
            .await
            .code(),
        "csrf_failed"
    );
    assert_eq!(
        api.call("GET", "/api/v1/conversations", &without, None)
            .await
            .status,
        StatusCode::OK,
        "reads need no CSRF token"
    );
    assert_eq!(
        api.call("POST", "/api/v1/conversations", &right, Some(body))
            .await
            .status,
        StatusCode::CREATED
    );
    assert_eq!(
        api.call("POST", "/api/v1/auth/logout", &right, None)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        api.call("GET", "/api/v1/conversations", &right, None)
            .await
            .code(),
        "unauthenticated"
    );
    api.db.finish().await;
}

#[tokio::test]
async fn sign_in_failures_are_uniform_and_rate_limited() {
    let api = Api::new(sqlite().await).await;
    team(&api.db.app()).await;
    let wrong = api
        .call(
            "POST",
            "/api/v1/auth/login",
            &As::Nobody,
            Some(json!({"email": "agent@t.test", "password": "x"})),
        )
        .await;
    let unknown = api
        .call(
            "POST",
            "/api/v1/auth/login",
            &As::Nobody,
            Some(json!({"email": "who@t.test", "password": "x"})),
        )
        .await;
    assert_eq!(
        (wrong.status, wrong.code()),
        (StatusCode::UNAUTHORIZED, "bad_credentials")
    );
    assert_eq!(
        unknown.body, wrong.body,
        "the answer does not tell which addresses exist"
    );
    for _ in 0..9 {
        api.call(
            "POST",
            "/api/v1/auth/login",
            &As::Nobody,
            Some(json!({"email": "agent@t.test", "password": "x"})),
        )
        .await;
    }
    let limited = api
        .call(
            "POST",
            "/api/v1/auth/login",
            &As::Nobody,
            Some(json!({"email": "agent@t.test", "password": "pw-1234"})),
        )
        .await;
    assert_eq!(
        (limited.status, limited.code()),
        (StatusCode::TOO_MANY_REQUESTS, "rate_limited")
    );
    api.db.finish().await;
}

#[tokio::test]
async fn each_role_and_token_scope_is_held_to_its_boundary_over_http() {
    for db in backends().await {
        let api = Api::new(db).await;
        let app = api.db.app();
        let team = team(&app).await;
        let billing = app
            .create_conversation(
                &Principal::System,
                inbound("cust@x.test", "Bill", "b", Some(team.billing)),
                T0,
            )
            .await
            .unwrap();
        let other = app
            .create_conversation(
                &Principal::System,
                inbound("other@x.test", "Other", "o", Some(team.support)),
                T0,
            )
            .await
            .unwrap();
        app.set_customer_password(&Principal::System, billing.customer.id, "cust-pw")
            .await
            .unwrap();
        let path = format!("/api/v1/conversations/{}", billing.number);
        let other_path = format!("/api/v1/conversations/{}", other.number);

        let agent = api.login("agent@t.test", "pw-1234").await;
        let biller = api.login("biller@t.test", "pw-1234").await;
        let manager = api.login("manager@t.test", "pw-1234").await;
        let customer = api.login("cust@x.test", "cust-pw").await;
        assert_eq!(
            api.call("GET", &path, &agent, None).await.status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            api.call("GET", &path, &biller, None).await.status,
            StatusCode::OK
        );
        assert_eq!(
            api.call("GET", &path, &manager, None).await.status,
            StatusCode::OK
        );
        assert_eq!(
            api.call("GET", &path, &customer, None).await.status,
            StatusCode::OK
        );
        assert_eq!(
            api.call("GET", &other_path, &customer, None).await.status,
            StatusCode::NOT_FOUND,
            "a customer editing the URL gets 404"
        );
        assert_eq!(
            api.call("GET", &format!("{path}/events"), &customer, None)
                .await
                .code(),
            "forbidden"
        );
        let note = api
            .call(
                "POST",
                &format!("{path}/messages"),
                &customer,
                Some(json!({"kind": "note", "text": "x"})),
            )
            .await;
        assert_eq!(note.code(), "forbidden");
        let seen = api.call("GET", &path, &customer, None).await;
        assert_eq!(
            seen.body["group"],
            Value::Null,
            "customers do not see the team's internals"
        );
        assert_eq!(seen.body["tags"], json!([]));
        let own = api
            .call(
                "POST",
                &format!("{path}/messages"),
                &customer,
                Some(json!({"kind": "customer", "text": "any news?"})),
            )
            .await;
        assert_eq!(own.status, StatusCode::CREATED, "{}", own.body);
        assert_eq!(
            api.call(
                "POST",
                "/api/v1/tokens",
                &agent,
                Some(json!({"name": "x", "scopes": ["admin"]}))
            )
            .await
            .code(),
            "forbidden"
        );
        assert_eq!(
            api.call(
                "POST",
                "/api/v1/agents",
                &manager,
                Some(json!({"email": "n@t.test", "role": "agent", "password": "pw-1234"}))
            )
            .await
            .code(),
            "forbidden"
        );

        let read = api.token(&[domain::Scope::ConversationsRead]).await;
        let write = api.token(&[domain::Scope::ConversationsWrite]).await;
        let customers = api.token(&[domain::Scope::CustomersRead]).await;
        assert_eq!(
            api.call("GET", &path, &read, None).await.status,
            StatusCode::OK
        );
        assert_eq!(
            api.call("PATCH", &path, &read, Some(json!({"priority": "low"})))
                .await
                .code(),
            "forbidden"
        );
        assert_eq!(
            api.call("PATCH", &path, &write, Some(json!({"priority": "low"})))
                .await
                .status,
            StatusCode::OK
        );
        assert_eq!(
            api.call("GET", &path, &customers, None).await.status,
            StatusCode::NOT_FOUND
        );
        let cust = api
            .call(
                "GET",
                &format!("/api/v1/customers/{}", billing.customer.id),
                &customers,
                None,
            )
            .await;
        assert_eq!(cust.status, StatusCode::OK);
        assert_eq!(
            cust.body["conversations"],
            json!([]),
            "customers:read alone shows no conversations"
        );
        assert_eq!(
            api.call("GET", &path, &As::Nobody, None).await.code(),
            "unauthenticated"
        );
        assert_eq!(
            api.call("GET", &path, &As::Bearer("rpt_forged".into()), None)
                .await
                .code(),
            "unauthenticated"
        );
        let admin = api.token(&[domain::Scope::Admin]).await;
        let created = api
            .call(
                "POST",
                "/api/v1/tokens",
                &admin,
                Some(json!({"name": "ci", "scopes": ["conversations:read"]})),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED);
        let fresh = As::Bearer(created.body["token"].as_str().unwrap().to_string());
        assert_eq!(
            api.call("GET", "/api/v1/auth/me", &fresh, None).await.body["scopes"],
            json!(["conversations:read"])
        );
        // The team list is the service team's; groups are hidden from customers only.
        assert_eq!(
            api.call("GET", "/api/v1/agents", &customer, None)
                .await
                .code(),
            "forbidden"
        );
        assert_eq!(
            api.call("GET", "/api/v1/agents", &read, None).await.code(),
            "forbidden"
        );
        assert_eq!(
            api.call("GET", "/api/v1/agents", &customers, None)
                .await
                .status,
            StatusCode::OK
        );
        assert_eq!(
            api.call("GET", "/api/v1/agents", &agent, None).await.body["total"],
            5
        );
        assert_eq!(
            api.call("GET", "/api/v1/groups", &customer, None)
                .await
                .code(),
            "forbidden"
        );
        assert_eq!(
            api.call("GET", "/api/v1/groups", &read, None).await.body["total"],
            2
        );
        api.db.finish().await;
    }
}

#[tokio::test]
async fn bad_input_gets_a_json_error_never_a_500() {
    for db in backends().await {
        bad_input_on(db).await;
    }
}

async fn bad_input_on(db: TestDb) {
    let api = Api::new(db).await;
    let team = team(&api.db.app()).await;
    let admin = api.token(&[domain::Scope::Admin]).await;
    let created = api
        .call(
            "POST",
            "/api/v1/conversations",
            &admin,
            Some(new_conversation("c@x.test", Some(team.support))),
        )
        .await;
    let number = created.body["number"].as_i64().unwrap();
    let path = format!("/api/v1/conversations/{number}");
    let json_ct = Some("application/json");
    type Case<'a> = (
        &'a str,
        String,
        Option<&'a str>,
        Vec<u8>,
        StatusCode,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        ("POST", "/api/v1/conversations".into(), json_ct, b"{not json".to_vec(), StatusCode::BAD_REQUEST, "invalid_json"),
        ("POST", "/api/v1/conversations".into(), json_ct, br#"{"subject": 5}"#.to_vec(), StatusCode::BAD_REQUEST, "invalid_json"),
        ("POST", "/api/v1/conversations".into(), json_ct, br#"{"subject":"a","message":{"kind":"customer","text":"x"},"customer":{"email":"a@b.test"},"surprise":1}"#.to_vec(), StatusCode::BAD_REQUEST, "invalid_json"),
        ("POST", "/api/v1/conversations".into(), None, br#"{}"#.to_vec(), StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
        ("POST", "/api/v1/conversations".into(), json_ct, vec![b' '; web::MAX_BODY_BYTES + 10], StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
        ("POST", "/api/v1/conversations".into(), json_ct, br#"{"subject":" ","message":{"kind":"customer","text":"x"},"customer":{"email":"a@b.test"}}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        ("POST", "/api/v1/conversations".into(), json_ct, br#"{"subject":"s","message":{"kind":"customer","text":"x"},"customer":{"email":"not-an-address"}}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        ("POST", "/api/v1/conversations".into(), json_ct, br#"{"subject":"s","message":{"kind":"shout","text":"x"},"customer":{"email":"a@b.test"}}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        ("PATCH", path.clone(), json_ct, br#"{"status":"closed"}"#.to_vec(), StatusCode::CONFLICT, "invalid_transition"),
        ("PATCH", path.clone(), json_ct, br#"{"status":"sleeping"}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        ("PATCH", path.clone(), json_ct, br#"{"assignee_id": 999}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        ("PATCH", path.clone(), json_ct, br#"{"add_tags": ["two words"]}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        ("GET", "/api/v1/conversations/999999".into(), None, vec![], StatusCode::NOT_FOUND, "not_found"),
        ("GET", "/api/v1/conversations/abc".into(), None, vec![], StatusCode::NOT_FOUND, "not_found"),
        ("GET", "/api/v1/conversations/-1".into(), None, vec![], StatusCode::NOT_FOUND, "not_found"),
        ("GET", "/api/v1/conversations?limit=lots".into(), None, vec![], StatusCode::BAD_REQUEST, "invalid_parameter"),
        ("GET", "/api/v1/conversations?sort=sideways".into(), None, vec![], StatusCode::BAD_REQUEST, "invalid_parameter"),
        ("GET", "/api/v1/conversations?cursor=%%%".into(), None, vec![], StatusCode::BAD_REQUEST, "invalid_parameter"),
        ("GET", "/api/v1/conversations?bogus=1".into(), None, vec![], StatusCode::BAD_REQUEST, "invalid_parameter"),
        ("GET", "/api/v1/nothing-here".into(), None, vec![], StatusCode::NOT_FOUND, "not_found"),
        ("DELETE", path.clone(), None, vec![], StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
        ("POST", format!("{path}/messages"), json_ct, br#"{"kind":"reply","text":""}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        ("POST", format!("{path}/merge"), json_ct, format!(r#"{{"into": {number}}}"#).into_bytes(), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
        ("POST", "/api/v1/tokens".into(), json_ct, br#"{"name":"x","scopes":["root"]}"#.to_vec(), StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
    ];
    for (method, uri, content_type, body, status, code) in cases {
        let reply = api.raw(method, &uri, &admin, content_type, body).await;
        assert_eq!(
            (reply.status, reply.code()),
            (status, code),
            "{method} {uri}: {}",
            reply.body
        );
        assert!(reply.body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
    api.db.finish().await;
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let api = Api::new(sqlite().await).await;
    let doc = api
        .call("GET", "/api/openapi.json", &As::Nobody, None)
        .await;
    assert_eq!(doc.body["openapi"], "3.1.0");
    let paths: Vec<&String> = doc.body["paths"].as_object().unwrap().keys().collect();
    for expected in [
        "/healthz",
        "/api/v1/auth/login",
        "/api/v1/auth/logout",
        "/api/v1/auth/me",
        "/api/v1/conversations",
        "/api/v1/conversations/{number}",
        "/api/v1/conversations/{number}/messages",
        "/api/v1/conversations/{number}/events",
        "/api/v1/conversations/{number}/merge",
        "/api/v1/conversations/{number}/chat-email-code",
        "/api/v1/queues",
        "/api/v1/customers/{id}",
        "/api/v1/customers/{id}/merge",
        "/api/v1/attachments/{id}",
        "/api/v1/tokens",
        "/api/v1/agents",
        "/api/v1/groups",
    ] {
        assert!(
            paths.iter().any(|p| *p == expected),
            "{expected} is not documented"
        );
    }
    // And every documented path answers something other than "no such endpoint".
    for path in paths {
        let concrete = path.replace("{number}", "1").replace("{id}", "1");
        let reply = api.call("GET", &concrete, &As::Nobody, None).await;
        assert!(
            !(reply.status == StatusCode::NOT_FOUND
                && reply.body["error"]["message"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("no such endpoint")),
            "{path}"
        );
    }
    let health = api.call("GET", "/healthz", &As::Nobody, None).await;
    assert_eq!(health.body, json!({"status": "ok", "database": "sqlite"}));
    api.db.finish().await;
}

#[tokio::test]
async fn mailboxes_quarantine_and_delivery_state_over_http() {
    for db in backends().await {
        let api = Api::new(db).await;
        let app = api.db.app();
        team(&app).await;
        let admin = api.login("admin@t.test", "pw-1234").await;
        let agent = api.login("agent@t.test", "pw-1234").await;
        let created = api
            .call(
                "POST",
                "/api/v1/mailboxes",
                &admin,
                Some(json!({"address": "help@mx.test", "group": "Support", "acknowledge": false})),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        assert_eq!(created.body["address"], "help@mx.test");
        let refused = api
            .call(
                "POST",
                "/api/v1/mailboxes",
                &agent,
                Some(json!({"address": "x@mx.test"})),
            )
            .await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert_eq!(
            api.call("GET", "/api/v1/mailboxes", &agent, None)
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            api.call("GET", "/api/v1/mail/quarantine", &agent, None)
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        // A message that is not mail lands in the quarantine, with its reason; the admin releases it.
        let bad = app
            .accept_mail(
                app::AcceptedMail {
                    transport: app::Transport::Smtp,
                    mail_from: "x@example.org".into(),
                    recipients: vec!["help@mx.test".into()],
                    raw: b"\x00\x01 not mail".to_vec(),
                },
                T0,
            )
            .await
            .unwrap();
        app.ingest_mail(bad, T0).await.unwrap();
        let list = api
            .call("GET", "/api/v1/mail/quarantine", &admin, None)
            .await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.body);
        assert_eq!(list.body["items"][0]["id"], bad);
        assert!(list.body["items"][0]["reason"]
            .as_str()
            .is_some_and(|r| !r.is_empty()));
        let release = api
            .call(
                "POST",
                &format!("/api/v1/mail/quarantine/{bad}/release"),
                &admin,
                Some(json!({})),
            )
            .await;
        assert_eq!(release.status, StatusCode::ACCEPTED, "{}", release.body);
        let again = api
            .call(
                "POST",
                &format!("/api/v1/mail/quarantine/{bad}/release"),
                &admin,
                Some(json!({})),
            )
            .await;
        assert_eq!(
            again.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "only quarantined mail is released"
        );
        // A reply on an e-mail conversation is queued as mail; its state is visible to agents.
        let mail = "From: ann@example.org\r\nTo: help@mx.test\r\nSubject: Hi\r\nMessage-ID: <h1@example.org>\r\n\r\nHello\r\n";
        let id = app
            .accept_mail(
                app::AcceptedMail {
                    transport: app::Transport::Smtp,
                    mail_from: "ann@example.org".into(),
                    recipients: vec!["help@mx.test".into()],
                    raw: mail.as_bytes().to_vec(),
                },
                T0,
            )
            .await
            .unwrap();
        app.ingest_mail(id, T0).await.unwrap();
        let number = app
            .store
            .inbound_mail(id)
            .await
            .unwrap()
            .unwrap()
            .conversation
            .unwrap();
        let reply = api
            .call(
                "POST",
                &format!("/api/v1/conversations/{number}/messages"),
                &agent,
                Some(json!({"kind": "reply", "text": "Hello Ann"})),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        let state = api
            .call(
                "GET",
                &format!("/api/v1/conversations/{number}/mail"),
                &agent,
                None,
            )
            .await;
        assert_eq!(state.status, StatusCode::OK, "{}", state.body);
        assert_eq!(state.body["items"][0]["state"], "queued");
        assert_eq!(state.body["items"][0]["to"], "ann@example.org");
        api.db.finish().await;
    }
}

#[tokio::test]
async fn administrators_list_and_revoke_tokens_and_a_revoked_token_is_refused() {
    for db in backends().await {
        let api = Api::new(db).await;
        team(&api.db.app()).await;
        let admin = api.login("admin@t.test", "pw-1234").await;
        let agent = api.login("agent@t.test", "pw-1234").await;
        let token = api.token(&[domain::Scope::ConversationsRead]).await;
        assert_eq!(
            api.call("GET", "/api/v1/conversations", &token, None)
                .await
                .status,
            StatusCode::OK
        );
        let list = api.call("GET", "/api/v1/tokens", &admin, None).await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.body);
        let item = &list.body["items"][0];
        assert_eq!(item["scopes"], json!(["conversations:read"]));
        assert!(
            item.get("token").is_none() && item.get("token_hash").is_none(),
            "no secret is shown"
        );
        let id = item["id"].as_i64().unwrap();
        assert_eq!(
            api.call("GET", "/api/v1/tokens", &agent, None).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            api.call("DELETE", &format!("/api/v1/tokens/{id}"), &agent, None)
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        let revoked = api
            .call("DELETE", &format!("/api/v1/tokens/{id}"), &admin, None)
            .await;
        assert_eq!(revoked.status, StatusCode::NO_CONTENT, "{}", revoked.body);
        assert_eq!(
            api.call("GET", "/api/v1/conversations", &token, None)
                .await
                .status,
            StatusCode::UNAUTHORIZED
        );
        let again = api
            .call("DELETE", &format!("/api/v1/tokens/{id}"), &admin, None)
            .await;
        assert_eq!(again.status, StatusCode::NOT_FOUND);
        let list = api.call("GET", "/api/v1/tokens", &admin, None).await;
        assert!(list.body["items"][0]["revoked_at"].is_string());
        api.db.finish().await;
    }
}
