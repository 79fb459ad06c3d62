//! `rapport bench ui`: the server-side render time of the agent's conversation page for a
//! 200-message conversation (session lookup, database reads and template, through the real
//! router without a socket). Prints a JSON report with the median and 99th percentile.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::Request;
use domain::{MessageKind, Principal, Role};
use serde_json::json;
use tower::ServiceExt;

use crate::bench::{percentile, round};
use crate::config::Config;
use crate::now_millis;

pub async fn ui(config: &Config, messages: usize, requests: usize) -> anyhow::Result<()> {
    let store = config.open_store().await?;
    anyhow::ensure!(
        store.count(store::Table::Conversations).await? == 0,
        "`rapport bench ui` needs an empty database: give it its own --data directory"
    );
    let app = app::App::new(store.clone(), config.settings());
    let now = now_millis();
    let group = app.add_group(&Principal::System, "Bench", now).await?;
    let agent_id = app
        .add_agent(
            &Principal::System,
            "bench-ui@bench.test",
            "Bench Agent",
            Role::Agent,
            "bench-ui-password",
            &["Bench".to_string()],
            now,
        )
        .await?;
    let agent = app.agent_principal(agent_id).await?;
    let texts = crate::demo::samples();
    let first = &texts[0];
    let created = app
        .create_conversation(
            &Principal::System,
            app::NewConversationInput {
                subject: first.subject.clone(),
                customer: app::CustomerInput {
                    email: Some("long-story@bench.test".into()),
                    name: Some("Long Story".into()),
                    phone: None,
                    chat: None,
                },
                message: app::MessageInput {
                    kind: MessageKind::Customer,
                    text: first.customer_text.clone(),
                    attachments: vec![],
                },
                channel: domain::Channel::Email,
                priority: None,
                group_id: Some(group),
                assignee_id: None,
                tags: vec!["bench".into()],
                custom_fields: serde_json::Map::new(),
            },
            now,
        )
        .await?;
    let customer = Principal::Customer {
        id: created.customer.id,
    };
    for i in 1..messages.max(1) {
        let sample = &texts[i % texts.len()];
        let (by, kind, text) = match i % 3 {
            0 => (
                &agent,
                MessageKind::Reply,
                sample.agent_reply.clone().unwrap_or_default(),
            ),
            1 => (
                &customer,
                MessageKind::Customer,
                sample.customer_text.clone(),
            ),
            _ => (
                &agent,
                MessageKind::Note,
                format!("Note {i}: checked the order history."),
            ),
        };
        let text = if text.trim().is_empty() {
            format!("Message {i}")
        } else {
            text
        };
        app.add_message(
            by,
            created.number,
            app::MessageInput {
                kind,
                text,
                attachments: vec![],
            },
            None,
            now + i as i64,
        )
        .await?;
    }
    let session = app
        .login("bench-ui@bench.test", "bench-ui-password", now)
        .await?
        .session;
    let state = web::AppState::new(app, Arc::new(now_millis), false);
    let router = ui::router(state);
    let uri = format!("/app/conversations/{}", created.number);
    let mut times = Vec::with_capacity(requests);
    let mut bytes = 0;
    for _ in 0..requests.max(1) + 20 {
        let request = Request::builder()
            .uri(&uri)
            .header(
                "cookie",
                format!("{}={session}", web::extract::SESSION_COOKIE),
            )
            .body(Body::empty())?;
        let started = Instant::now();
        let response = router.clone().oneshot(request).await?;
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(status.is_success(), "the page answered {status}");
        bytes = body.len();
    }
    // The first requests warm the caches; they are not counted.
    let mut times = times.split_off(20);
    times.sort_by(f64::total_cmp);
    store.close().await;
    let report = json!({
        "database": if config.database_url.is_some() { "postgres" } else { "sqlite" },
        "conversation_messages": messages,
        "page_bytes": bytes,
        "requests": times.len(),
        "p50_ms": round(percentile(&times, 0.5)),
        "p99_ms": round(percentile(&times, 0.99)),
        "max_ms": round(times.last().copied().unwrap_or(f64::NAN)),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}
