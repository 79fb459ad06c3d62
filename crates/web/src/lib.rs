//! The HTTP adapter: the JSON API under `/api/v1`, its OpenAPI document, health and
//! metrics. Handlers only translate between HTTP and the use cases in `app`; permissions
//! are decided there, not here.

mod api;
pub mod dto;
pub mod error;
pub mod extract;
mod initiatives_api;
mod kpi_api;
mod mail_api;
mod openapi;
mod sla_api;
mod survey_api;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tower_http::catch_panic::CatchPanicLayer;

use crate::error::{ApiError, ErrorCode};

pub use openapi::openapi_json;

/// Largest request body accepted (attachments travel base64 inside JSON).
pub const MAX_BODY_BYTES: usize = 16 << 20;

/// A clock: milliseconds since the epoch. The binary passes the real one; tests a fake.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub app: app::App,
    pub clock: Clock,
    pub secure_cookies: bool,
    pub login_limiter: Arc<LoginLimiter>,
    metrics: Option<PrometheusHandle>,
}

impl AppState {
    pub fn new(app: app::App, clock: Clock, secure_cookies: bool) -> AppState {
        AppState {
            app,
            clock,
            secure_cookies,
            login_limiter: Arc::new(LoginLimiter::default()),
            metrics: metrics_handle(),
        }
    }

    pub fn now(&self) -> i64 {
        (self.clock)()
    }
}

/// Counts failed sign-ins per address: after 10 failures within 5 minutes, that address
/// is refused until the window passes.
#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<String, (u32, i64)>>,
}

impl LoginLimiter {
    const MAX_FAILURES: u32 = 10;
    const WINDOW_MILLIS: i64 = 5 * 60_000;

    pub fn allow(&self, key: &str, now: i64) -> bool {
        let Ok(map) = self.failures.lock() else {
            return true;
        };
        match map.get(key) {
            Some((count, since)) => {
                *count < Self::MAX_FAILURES || now - since > Self::WINDOW_MILLIS
            }
            None => true,
        }
    }

    pub fn failed(&self, key: &str, now: i64) {
        let Ok(mut map) = self.failures.lock() else {
            return;
        };
        if map.len() > 100_000 {
            map.retain(|_, (_, since)| now - *since <= Self::WINDOW_MILLIS);
        }
        let entry = map.entry(key.to_string()).or_insert((0, now));
        if now - entry.1 > Self::WINDOW_MILLIS {
            *entry = (0, now);
        }
        entry.0 += 1;
    }
}

/// The process-wide Prometheus recorder (installed once; later calls share it).
fn metrics_handle() -> Option<PrometheusHandle> {
    static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();
    HANDLE
        .get_or_init(|| PrometheusBuilder::new().install_recorder().ok())
        .clone()
}

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/auth/login", post(api::login))
        .route("/auth/logout", post(api::logout))
        .route("/auth/me", get(api::me))
        .route(
            "/conversations",
            post(api::create_conversation).get(api::list_conversations),
        )
        .route(
            "/conversations/{number}",
            get(api::get_conversation).patch(api::patch_conversation),
        )
        .route(
            "/conversations/{number}/messages",
            post(api::post_message).get(api::list_messages),
        )
        .route("/conversations/{number}/events", get(api::list_events))
        .route(
            "/conversations/{number}/merge",
            post(api::merge_conversation),
        )
        .route(
            "/conversations/{number}/chat-email-code",
            post(api::send_chat_email_code),
        )
        .route("/queues", get(api::queues))
        .route("/customers/{id}", get(api::get_customer))
        .route("/customers/{id}/merge", post(api::merge_customer))
        .route("/attachments/{id}", get(api::get_attachment))
        .route("/tokens", post(api::create_token).get(api::list_tokens))
        .route("/tokens/{id}", axum::routing::delete(api::revoke_token))
        .route("/agents", post(api::create_agent).get(api::list_agents))
        .route("/groups", post(api::create_group).get(api::list_groups))
        .route(
            "/conversations/{number}/mail",
            get(mail_api::conversation_mail),
        )
        .route(
            "/mailboxes",
            get(mail_api::list_mailboxes).post(mail_api::create_mailbox),
        )
        .route("/mail/quarantine", get(mail_api::quarantine))
        .route("/mail/quarantine/{id}/release", post(mail_api::release))
        .route(
            "/calendars",
            get(sla_api::list_calendars).post(sla_api::create_calendar),
        )
        .route(
            "/calendars/{id}",
            get(sla_api::get_calendar)
                .put(sla_api::put_calendar)
                .delete(sla_api::delete_calendar),
        )
        .route(
            "/sla-policies",
            get(sla_api::list_policies).post(sla_api::create_policy),
        )
        .route(
            "/sla-policies/{id}",
            get(sla_api::get_policy)
                .put(sla_api::put_policy)
                .delete(sla_api::delete_policy),
        )
        .route(
            "/conversations/{number}/sla",
            get(sla_api::conversation_sla),
        )
        .route(
            "/surveys/settings",
            get(survey_api::get_settings).put(survey_api::put_settings),
        )
        .route("/surveys/answers", get(survey_api::list_answers))
        .route("/surveys/answers.csv", get(survey_api::export_answers))
        .route(
            "/surveys/priorities/attributes",
            get(survey_api::list_attributes).post(survey_api::create_attribute),
        )
        .route(
            "/surveys/priorities/attributes/{id}",
            axum::routing::put(survey_api::put_attribute),
        )
        .route(
            "/surveys/priorities/invitations",
            post(survey_api::create_invitations),
        )
        .route(
            "/surveys/priorities/responses.csv",
            get(survey_api::export_responses),
        )
        .route("/kpis", get(kpi_api::list_kpis))
        .route("/kpis/{key}", get(kpi_api::get_kpi).put(kpi_api::put_kpi))
        .route("/kpis/{key}/conversations", get(kpi_api::drill_kpi))
        .route("/kpi-figures", get(kpi_api::kpi_figures))
        .route("/kpi-alerts", get(kpi_api::kpi_alerts))
        .route(
            "/kpi-benchmarks",
            get(kpi_api::list_benchmarks).post(kpi_api::import_benchmarks),
        )
        .route(
            "/initiatives",
            get(initiatives_api::list_initiatives).post(initiatives_api::create_initiative),
        )
        .route("/initiatives/{id}", get(initiatives_api::get_initiative));
    Router::new()
        .nest("/api/v1", api)
        .route("/api/openapi.json", get(openapi_document))
        .route("/healthz", get(api::healthz))
        .route("/metrics", get(metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn(record_request))
        .layer(middleware::from_fn(security_headers))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::new(
                ErrorCode::Internal,
                "something went wrong on our side; it has been logged",
            )
            .into_response()
        }))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::new(
        ErrorCode::NotFound,
        "no such endpoint; see /api/openapi.json",
    )
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this endpoint does not take that method; see /api/openapi.json",
    )
}

async fn openapi_document() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], openapi_json()).into_response()
}

async fn metrics(State(state): State<AppState>) -> Response {
    match &state.metrics {
        Some(handle) => ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render()).into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, Json(serde_json::json!({"error": {"code": "unavailable", "message": "metrics are not recorded in this process"}}))).into_response(),
    }
}

/// Counts requests and their latency per route and status.
async fn record_request(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    let method = request.method().as_str().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let elapsed: Duration = started.elapsed();
    metrics::counter!("rapport_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("rapport_http_request_seconds", "method" => method, "route" => route)
        .record(elapsed.as_secs_f64());
    response
}

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
