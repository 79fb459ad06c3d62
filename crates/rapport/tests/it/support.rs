//! Test databases on both backends, and small fixtures.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Once;

use app::{App, Settings};
use domain::{Principal, Role};
use store::Store;

/// A store for one test, on one backend; dropped with `finish`.
pub struct TestDb {
    pub name: &'static str,
    pub store: Store,
    _dir: Option<tempfile::TempDir>,
    schema: Option<(String, String)>,
}

impl TestDb {
    pub fn app(&self) -> App {
        App::new(self.store.clone(), Settings::default())
    }

    pub async fn finish(self) {
        self.store.close().await;
        if let Some((url, schema)) = &self.schema {
            let _ = Store::drop_postgres_schema(url, schema).await;
        }
    }
}

pub async fn sqlite() -> TestDb {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = Store::open_sqlite(dir.path()).await.expect("open sqlite");
    TestDb {
        name: "sqlite",
        store,
        _dir: Some(dir),
        schema: None,
    }
}

/// The PostgreSQL URL for tests, or `None` (with a notice) when there is none and CI does not demand it.
pub fn postgres_url() -> Option<String> {
    static NOTICE: Once = Once::new();
    match std::env::var("DATABASE_URL") {
        Ok(url) if url.starts_with("postgres") => Some(url),
        _ => {
            if std::env::var("RAPPORT_REQUIRE_POSTGRES").is_ok_and(|v| v == "1") {
                panic!("RAPPORT_REQUIRE_POSTGRES=1 but DATABASE_URL does not point at PostgreSQL");
            }
            NOTICE.call_once(|| {
                eprintln!("PostgreSQL suite skipped: set DATABASE_URL=postgres://... to run it")
            });
            None
        }
    }
}

pub async fn postgres() -> Option<TestDb> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let url = postgres_url()?;
    let schema = format!(
        "t{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst),
        rand::random::<u32>()
    );
    let store = Store::open_postgres(&url, Some(&schema), 8)
        .await
        .expect("open postgres");
    Some(TestDb {
        name: "postgres",
        store,
        _dir: None,
        schema: Some((url, schema)),
    })
}

/// Every backend this run can reach: SQLite always, PostgreSQL when configured.
pub async fn backends() -> Vec<TestDb> {
    let mut dbs = vec![sqlite().await];
    if let Some(pg) = postgres().await {
        dbs.push(pg);
    }
    dbs
}

pub const T0: i64 = 1_767_261_600_000; // 2026-01-01T10:00:00Z
pub const MIN: i64 = 60_000;

/// A small team: groups Support and Billing; one agent of each role.
pub struct Team {
    pub support: i64,
    pub billing: i64,
    pub admin: Principal,
    pub manager: Principal,
    pub lead: Principal,
    /// In Support only.
    pub agent: Principal,
    /// In Billing only.
    pub biller: Principal,
    pub agent_id: i64,
    pub biller_id: i64,
}

pub async fn team(app: &App) -> Team {
    let sys = Principal::System;
    let support = app.add_group(&sys, "Support", T0).await.expect("group");
    let billing = app.add_group(&sys, "Billing", T0).await.expect("group");
    let make = |email: &'static str, role: Role, groups: Vec<String>| {
        let app = app.clone();
        async move {
            let id = app
                .add_agent(
                    &Principal::System,
                    email,
                    email,
                    role,
                    "pw-1234",
                    &groups,
                    T0,
                )
                .await
                .expect("agent");
            (id, app.agent_principal(id).await.expect("principal"))
        }
    };
    let (_, admin) = make("admin@t.test", Role::Admin, vec![]).await;
    let (_, manager) = make("manager@t.test", Role::Manager, vec![]).await;
    let (_, lead) = make("lead@t.test", Role::Lead, vec!["Support".into()]).await;
    let (agent_id, agent) = make("agent@t.test", Role::Agent, vec!["Support".into()]).await;
    let (biller_id, biller) = make("biller@t.test", Role::Agent, vec!["Billing".into()]).await;
    Team {
        support,
        billing,
        admin,
        manager,
        lead,
        agent,
        biller,
        agent_id,
        biller_id,
    }
}

/// A customer-opened conversation input.
pub fn inbound(
    email: &str,
    subject: &str,
    text: &str,
    group: Option<i64>,
) -> app::NewConversationInput {
    app::NewConversationInput {
        subject: subject.into(),
        customer: app::CustomerInput {
            email: Some(email.into()),
            name: None,
            phone: None,
            chat: None,
        },
        message: message(domain::MessageKind::Customer, text),
        channel: domain::Channel::Email,
        priority: None,
        group_id: group,
        assignee_id: None,
        tags: vec![],
        custom_fields: serde_json::Map::new(),
    }
}

pub fn message(kind: domain::MessageKind, text: &str) -> app::MessageInput {
    app::MessageInput {
        kind,
        text: text.into(),
        attachments: vec![],
    }
}

/// Runs the search indexer until it has consumed every event. On PostgreSQL a consumer
/// waits for transactions still open anywhere in the database (other tests run at the same
/// time), so this may take a few rounds. Returns how many events it read.
pub async fn index_everything(app: &App) -> usize {
    let last = app.store.last_event_id().await.expect("last event");
    let mut read = 0;
    for _ in 0..500 {
        read += app.run_search_indexer(2, T0).await.expect("indexer");
        let cursor = app
            .store
            .cursor(app::SEARCH_CONSUMER)
            .await
            .expect("cursor")
            .unwrap_or_default();
        if cursor.event_id >= last {
            return read;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the search indexer did not catch up");
}
