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

    /// The same database opened again, as a second node would: another writer and readers
    /// on the SQLite file (as another process), another pool on the PostgreSQL schema.
    /// Finishing it closes only its own connections, so finish it before this one.
    pub async fn another_node(&self) -> TestDb {
        let store = match (&self._dir, &self.schema) {
            (Some(dir), _) => Store::open_sqlite(dir.path())
                .await
                .expect("open sqlite again"),
            (None, Some((url, schema))) => Store::open_postgres(url, Some(schema), 8)
                .await
                .expect("open postgres again"),
            (None, None) => panic!("{} is itself another node's database", self.name),
        };
        TestDb {
            name: self.name,
            store,
            _dir: None,
            schema: None,
        }
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

/// What an in-process router answered.
pub struct Answer {
    pub status: axum::http::StatusCode,
    pub headers: axum::http::HeaderMap,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON, or `Null` when it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// `name=value` of each cookie set.
    pub fn cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .map(String::from)
            .collect()
    }

    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string()
    }
}

/// Sends one request through a router without a socket.
pub async fn send(
    router: &axum::Router,
    method: &str,
    uri: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> Answer {
    use tower::ServiceExt;
    let mut request = axum::http::Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, value.as_str());
    }
    let response = router
        .clone()
        .oneshot(request.body(axum::body::Body::from(body)).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap()
        .to_vec();
    Answer {
        status,
        headers,
        body,
    }
}

/// Sends a request with a bearer token and, when given, a JSON body.
pub async fn bearer(
    router: &axum::Router,
    method: &str,
    uri: &str,
    token: &str,
    json: Option<serde_json::Value>,
) -> Answer {
    let mut headers = vec![("authorization", format!("Bearer {token}"))];
    if json.is_some() {
        headers.push(("content-type", "application/json".to_string()));
    }
    let body = json.map(|j| j.to_string().into_bytes()).unwrap_or_default();
    send(router, method, uri, &headers, body).await
}

/// A page request as a browser sends it: the session cookie and a form body when given.
pub async fn browse(
    router: &axum::Router,
    method: &str,
    uri: &str,
    cookie: Option<&str>,
    form: Option<String>,
) -> Answer {
    let mut headers = Vec::new();
    if let Some(cookie) = cookie {
        headers.push(("cookie", cookie.to_string()));
    }
    if form.is_some() {
        headers.push((
            "content-type",
            "application/x-www-form-urlencoded".to_string(),
        ));
    }
    send(
        router,
        method,
        uri,
        &headers,
        form.unwrap_or_default().into_bytes(),
    )
    .await
}

/// [`bearer`], answering the status and the JSON body (`Null` when not JSON).
pub async fn bearer_json(
    router: &axum::Router,
    method: &str,
    uri: &str,
    token: &str,
    json: Option<serde_json::Value>,
) -> (axum::http::StatusCode, serde_json::Value) {
    let answer = bearer(router, method, uri, token, json).await;
    (answer.status, answer.json())
}

/// Runs `step` (one pass of a consumer) until the consumer's cursor has passed every event
/// written so far; on PostgreSQL the horizon waits for transactions still open elsewhere.
async fn catch_up<F, Fut>(app: &App, consumer: &str, mut step: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let last = app.store.last_event_id().await.expect("last event");
    for _ in 0..500 {
        step().await;
        let cursor = app
            .store
            .cursor(consumer)
            .await
            .expect("cursor")
            .unwrap_or_default();
        if cursor.event_id >= last {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the consumer {consumer} did not catch up");
}

/// Runs the KPI roll-up consumer, `batch` events at a time, until it has read every event.
pub async fn rollup_everything(app: &App, batch: u32) {
    catch_up(app, app::KPI_CONSUMER, || async {
        app.run_kpi_rollups(batch, T0).await.expect("roll-ups");
    })
    .await;
}

/// Runs the SLA clocks' live path, `batch` events at a time, until it has read every event.
pub async fn clocks_catch_up(app: &App, batch: u32, now: i64) {
    catch_up(app, app::SLA_CONSUMER, || async {
        app.run_sla_clocks(batch, now).await.expect("SLA clocks");
    })
    .await;
}

/// A server for one test, on 127.0.0.1 and a port the system picks, with a clock the test
/// moves.
pub struct Server {
    /// `http://127.0.0.1:port`
    pub base: String,
    /// `127.0.0.1:port`
    pub addr: String,
    pub db: TestDb,
    clock: std::sync::Arc<std::sync::atomic::AtomicI64>,
    pub client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    pub async fn start(db: TestDb) -> Server {
        let clock = std::sync::Arc::new(std::sync::atomic::AtomicI64::new(T0));
        let now = clock.clone();
        let state = web::AppState::new(
            db.app(),
            std::sync::Arc::new(move || now.load(std::sync::atomic::Ordering::SeqCst)),
            false,
        );
        let live = ::ui::Live::default();
        let router = web::router(state.clone()).merge(::ui::router_with(state, &live));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let base = format!("http://{addr}");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(
                listener,
                router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
                live.close();
            })
            .await
            .unwrap();
        });
        Server {
            base,
            addr,
            db,
            clock,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            stop: Some(stop),
            task,
        }
    }

    /// [`Server::start`] with the small [`Team`]; also answers the server's app.
    pub async fn start_with_team(db: TestDb) -> (Server, App, Team) {
        let server = Server::start(db).await;
        let app = server.db.app();
        let team = team(&app).await;
        (server, app, team)
    }

    pub fn set_time(&self, millis: i64) {
        self.clock
            .store(millis, std::sync::atomic::Ordering::SeqCst);
    }

    /// Stops the server; open event streams end with it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        tokio::time::timeout(std::time::Duration::from_secs(30), self.task)
            .await
            .expect("the server stops although streams or sockets are open")
            .unwrap();
        self.db.finish().await;
    }
}

/// The whole log once every event written so far can be read: on PostgreSQL a reader sees
/// only what lies below the horizon, which other tests' open transactions hold back.
pub async fn whole_log(store: &Store) -> Vec<store::EventRow> {
    let last = store.last_event_id().await.unwrap();
    for _ in 0..1_000 {
        let events = store
            .events_after(store::Cursor::default(), 100_000)
            .await
            .unwrap();
        if events.last().is_some_and(|e| e.id >= last) {
            return events;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the log did not settle");
}

/// The `rapport` binary built for these tests.
pub const BIN: &str = env!("CARGO_BIN_EXE_rapport");

/// `rapport …` as a test runs it: on SQLite (without `DATABASE_URL`), logging only warnings.
pub fn rapport(args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN)
        .args(args)
        .env_remove("DATABASE_URL")
        .env("RAPPORT_LOG", "warn")
        .output()
        .expect("run rapport")
}

/// [`rapport`], failing the test with what the command wrote on stderr unless it succeeds.
pub fn rapport_ok(args: &[&str]) -> std::process::Output {
    let out = rapport(args);
    assert!(
        out.status.success(),
        "rapport {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `by` adds a message of `kind` to conversation `number` at `at`, the status left to the
/// lifecycle rules.
pub async fn post_message(
    app: &App,
    by: &Principal,
    number: i64,
    kind: domain::MessageKind,
    text: &str,
    at: i64,
) -> app::PostedMessage {
    app.add_message(by, number, message(kind, text), None, at)
        .await
        .expect("message added")
}

/// The support address `support@t.test` (no group, no acknowledgement), which mail leaves from.
pub async fn support_mailbox(app: &App) {
    app.add_mailbox(
        &Principal::System,
        "support@t.test",
        "Support",
        None,
        false,
        T0,
    )
    .await
    .expect("mailbox");
}

/// First-reply thresholds (target, amber, red, in seconds) under which a median of a few
/// minutes is red.
pub const STRICT: (f64, f64, f64) = (30.0, 60.0, 120.0);
/// First-reply thresholds under which any median in these tests is green.
pub const RELAXED: (f64, f64, f64) = (30_000.0, 60_000.0, 90_000.0);

/// `by` sets the thresholds of the median first reply KPI, owned by `owner`.
pub async fn first_reply_thresholds(
    app: &App,
    by: &Principal,
    (target, amber, red): (f64, f64, f64),
    owner: &str,
    now: i64,
) {
    let settings = ::kpi::KpiSettings {
        target: Some(target),
        amber: Some(amber),
        red: Some(red),
        owner: owner.into(),
    };
    app.update_kpi_settings(by, "first_reply_median", settings, now)
        .await
        .expect("KPI settings");
}

/// `rapport demo --seed-only` of `conversations` conversations into the data directory `data`.
pub fn seed_demo(data: &std::path::Path, conversations: u32) {
    rapport_ok(&[
        "demo",
        "--data",
        data.to_str().expect("a UTF-8 path"),
        "--seed-only",
        "--conversations",
        &conversations.to_string(),
    ]);
}
