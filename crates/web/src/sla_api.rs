//! Service standards over HTTP: business calendars and SLA policies (administrators), and
//! the SLA state of a conversation (whoever may see it).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::dto::{time, ItemsOut};
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, Auth};
use crate::AppState;

type ApiResult<T> = Result<T, ApiError>;

fn parse_id(text: &str, what: &str) -> ApiResult<i64> {
    text.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("{what} {text:?} not found")))
}

fn time_opt(ms: Option<i64>) -> Option<String> {
    ms.map(time)
}

/// A business calendar: weekly hours in an IANA time zone, with holidays and exceptions.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CalendarIn {
    /// A unique name, such as `Brussels office`.
    pub name: String,
    /// An IANA time zone name, such as `Europe/Brussels`.
    pub time_zone: String,
    /// Weekly hours: `mon-fri 09:00-12:30 13:30-17:00, sat 10:00-14:00`.
    pub hours: String,
    /// `2026-12-25` (that date) or `--12-25` (every year).
    #[serde(default)]
    pub holidays: Vec<String>,
    /// `2026-12-24 09:00-12:00` or `2026-12-31 closed`.
    #[serde(default)]
    pub exceptions: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CalendarOut {
    pub id: i64,
    pub name: String,
    pub time_zone: String,
    pub hours: String,
    pub holidays: Vec<String>,
    pub exceptions: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<app::CalendarView> for CalendarOut {
    fn from(v: app::CalendarView) -> Self {
        CalendarOut {
            id: v.id,
            name: v.name,
            time_zone: v.time_zone,
            hours: v.hours,
            holidays: v.holidays,
            exceptions: v.exceptions,
            created_at: time(v.created_at),
            updated_at: time(v.updated_at),
        }
    }
}

impl From<CalendarIn> for app::CalendarInput {
    fn from(c: CalendarIn) -> Self {
        app::CalendarInput {
            name: c.name,
            time_zone: c.time_zone,
            hours: c.hours,
            holidays: c.holidays,
            exceptions: c.exceptions,
        }
    }
}

/// An SLA policy. Policies are matched in `position` order; the first whose conditions
/// match a conversation applies.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PolicyIn {
    pub name: String,
    /// Where it goes in the match order (default: last; an update keeps its place).
    pub position: Option<i64>,
    /// `{"groups": [ids], "priorities": ["high"], "channels": ["email"], "organisations": [ids],
    /// "tags": ["vip"]}`: each list left empty matches anything.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub conditions: sla::Conditions,
    /// The business calendar, required for business-time targets.
    pub calendar_id: Option<i64>,
    /// `[{"metric": "first_reply" | "next_reply" | "periodic_update" | "resolution",
    /// "priority": "low" | "normal" | "high" | "urgent", "minutes": 60,
    /// "basis": "business" | "calendar"}]`.
    #[schema(value_type = Vec<Object>)]
    pub targets: Vec<sla::TargetRule>,
    /// Warn when this share of a target has elapsed (1 to 99).
    pub warn_at_percent: Option<u8>,
    /// Whether on-hold pauses the clocks (pending always does).
    #[serde(default)]
    pub on_hold_pauses: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyOut {
    pub id: i64,
    pub name: String,
    pub position: i64,
    #[schema(value_type = Object)]
    pub conditions: sla::Conditions,
    pub calendar_id: Option<i64>,
    #[schema(value_type = Vec<Object>)]
    pub targets: Vec<sla::TargetRule>,
    pub warn_at_percent: Option<u8>,
    pub on_hold_pauses: bool,
    pub created_at: String,
    pub updated_at: String,
}

impl From<app::PolicyView> for PolicyOut {
    fn from(v: app::PolicyView) -> Self {
        PolicyOut {
            id: v.id,
            name: v.name,
            position: v.position,
            conditions: v.conditions,
            calendar_id: v.calendar_id,
            targets: v.targets,
            warn_at_percent: v.warn_at_percent,
            on_hold_pauses: v.on_hold_pauses,
            created_at: time(v.created_at),
            updated_at: time(v.updated_at),
        }
    }
}

impl From<PolicyIn> for app::PolicyInput {
    fn from(p: PolicyIn) -> Self {
        app::PolicyInput {
            name: p.name,
            position: p.position,
            conditions: p.conditions,
            calendar_id: p.calendar_id,
            targets: p.targets,
            warn_at_percent: p.warn_at_percent,
            on_hold_pauses: p.on_hold_pauses,
        }
    }
}

/// Where one SLA target of a conversation stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlaTargetOut {
    /// first_reply, next_reply, periodic_update or resolution.
    pub metric: String,
    /// Which measurement of the metric (1 for the first).
    pub cycle: u32,
    /// running, paused, met or breached.
    pub state: String,
    pub policy_id: Option<i64>,
    pub target_minutes: Option<i64>,
    /// business or calendar.
    pub basis: Option<String>,
    pub started_at: String,
    /// When the target runs out if the clock keeps running.
    pub due_at: Option<String>,
    pub warned_at: Option<String>,
    pub breached_at: Option<String>,
    pub fulfilled_at: Option<String>,
    /// Time counted so far, in the target's basis (business time for business targets).
    pub elapsed_seconds: i64,
    /// Time left in the target's basis; negative when overdue.
    pub left_seconds: Option<i64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SlaHistoryOut {
    pub at: String,
    /// applied, paused, resumed, warned, breached, fulfilled or escalated.
    pub kind: String,
    pub metric: String,
    pub cycle: u32,
}

/// The SLA state of a conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct SlaOut {
    pub conversation: i64,
    /// The policy that applies now.
    pub policy_id: Option<i64>,
    pub as_of: String,
    /// The next warning or breach, if a clock is running towards one.
    pub next_deadline_at: Option<String>,
    pub targets: Vec<SlaTargetOut>,
    pub history: Vec<SlaHistoryOut>,
}

impl From<app::SlaView> for SlaOut {
    fn from(v: app::SlaView) -> Self {
        SlaOut {
            conversation: v.conversation,
            policy_id: v.policy_id,
            as_of: time(v.as_of),
            next_deadline_at: time_opt(v.next_deadline_at),
            targets: v
                .metrics
                .into_iter()
                .map(|m| SlaTargetOut {
                    metric: m.metric.as_str().into(),
                    cycle: m.cycle,
                    state: if m.breached_at.is_some() && m.fulfilled_at.is_none() {
                        "breached"
                    } else if m.fulfilled_at.is_some() {
                        "met"
                    } else if m.paused {
                        "paused"
                    } else {
                        "running"
                    }
                    .into(),
                    policy_id: m.policy_id,
                    target_minutes: m.target_ms.map(|t| t / 60_000),
                    basis: m.basis.map(|b| b.as_str().into()),
                    started_at: time(m.started_at),
                    due_at: time_opt(m.due_at),
                    warned_at: time_opt(m.warned_at),
                    breached_at: time_opt(m.breached_at),
                    fulfilled_at: time_opt(m.fulfilled_at),
                    elapsed_seconds: m.elapsed_ms / 1000,
                    left_seconds: m.left_ms.map(|l| l / 1000),
                })
                .collect(),
            history: v
                .history
                .into_iter()
                .map(|h| SlaHistoryOut {
                    at: time(h.at),
                    kind: h.kind,
                    metric: h.metric.as_str().into(),
                    cycle: h.cycle,
                })
                .collect(),
        }
    }
}

/// Writes the five handlers of a resource administrators manage alike, business calendars
/// and SLA policies: list, create, read one (404 naming `$what`), replace and delete, each
/// one call of the use case named, each with its own OpenAPI attribute.
macro_rules! administered {
    (
        $what:literal, $in:ty => $out:ty,
        #[$list_doc:meta] $list:ident => $list_uc:ident,
        #[$create_doc:meta] $create:ident => $add_uc:ident,
        #[$get_doc:meta] $get:ident,
        #[$put_doc:meta] $put:ident => $update_uc:ident,
        #[$delete_doc:meta] $delete:ident => $delete_uc:ident $(,)?
    ) => {
        #[$list_doc]
        pub async fn $list(
            State(state): State<AppState>,
            Auth(principal): Auth,
        ) -> ApiResult<Json<ItemsOut<$out>>> {
            Ok(Json(ItemsOut::all(state.app.$list_uc(&principal).await?)))
        }

        #[$create_doc]
        pub async fn $create(
            State(state): State<AppState>,
            Auth(principal): Auth,
            ApiJson(input): ApiJson<$in>,
        ) -> ApiResult<(StatusCode, Json<$out>)> {
            let now = state.now();
            let view = state.app.$add_uc(&principal, input.into(), now).await?;
            Ok((StatusCode::CREATED, Json(view.into())))
        }

        #[$get_doc]
        pub async fn $get(
            State(state): State<AppState>,
            Auth(principal): Auth,
            Path(id): Path<String>,
        ) -> ApiResult<Json<$out>> {
            let id = parse_id(&id, $what)?;
            let view = state
                .app
                .$list_uc(&principal)
                .await?
                .into_iter()
                .find(|v| v.id == id)
                .ok_or_else(|| {
                    ApiError::new(ErrorCode::NotFound, format!("{} {id} not found", $what))
                })?;
            Ok(Json(view.into()))
        }

        #[$put_doc]
        pub async fn $put(
            State(state): State<AppState>,
            Auth(principal): Auth,
            Path(id): Path<String>,
            ApiJson(input): ApiJson<$in>,
        ) -> ApiResult<Json<$out>> {
            let id = parse_id(&id, $what)?;
            let now = state.now();
            let view = state
                .app
                .$update_uc(&principal, id, input.into(), now)
                .await?;
            Ok(Json(view.into()))
        }

        #[$delete_doc]
        pub async fn $delete(
            State(state): State<AppState>,
            Auth(principal): Auth,
            Path(id): Path<String>,
        ) -> ApiResult<StatusCode> {
            let id = parse_id(&id, $what)?;
            state.app.$delete_uc(&principal, id, state.now()).await?;
            Ok(StatusCode::NO_CONTENT)
        }
    };
}

administered! {
    "calendar", CalendarIn => CalendarOut,
    #[utoipa::path(get, path = "/api/v1/calendars", tag = "sla",
    responses((status = 200, body = ItemsOut<CalendarOut>, description = "The business calendars"), (status = 403, body = ErrorBody)))]
    list_calendars => sla_calendars,
    #[utoipa::path(post, path = "/api/v1/calendars", tag = "sla", request_body = CalendarIn,
    responses((status = 201, body = CalendarOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "The name is taken"),
              (status = 422, body = ErrorBody, description = "Hours, holidays, exceptions or time zone do not parse")))]
    create_calendar => add_sla_calendar,
    #[utoipa::path(get, path = "/api/v1/calendars/{id}", tag = "sla", params(("id" = i64, Path)),
    responses((status = 200, body = CalendarOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
    get_calendar,
    #[utoipa::path(put, path = "/api/v1/calendars/{id}", tag = "sla", params(("id" = i64, Path)), request_body = CalendarIn,
    responses((status = 200, body = CalendarOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
    put_calendar => update_sla_calendar,
    #[utoipa::path(delete, path = "/api/v1/calendars/{id}", tag = "sla", params(("id" = i64, Path)),
    responses((status = 204, description = "Deleted"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "A policy still uses the calendar")))]
    delete_calendar => delete_sla_calendar,
}

administered! {
    "SLA policy", PolicyIn => PolicyOut,
    #[utoipa::path(get, path = "/api/v1/sla-policies", tag = "sla",
    responses((status = 200, body = ItemsOut<PolicyOut>, description = "The SLA policies in match order"), (status = 403, body = ErrorBody)))]
    list_policies => sla_policies,
    #[utoipa::path(post, path = "/api/v1/sla-policies", tag = "sla", request_body = PolicyIn,
    responses((status = 201, body = PolicyOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "The name is taken"),
              (status = 422, body = ErrorBody, description = "The policy cannot be used (unknown calendar, a zero or duplicate target, ...)")))]
    create_policy => add_sla_policy,
    #[utoipa::path(get, path = "/api/v1/sla-policies/{id}", tag = "sla", params(("id" = i64, Path)),
    responses((status = 200, body = PolicyOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
    get_policy,
    #[utoipa::path(put, path = "/api/v1/sla-policies/{id}", tag = "sla", params(("id" = i64, Path)), request_body = PolicyIn,
    responses((status = 200, body = PolicyOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
    put_policy => update_sla_policy,
    #[utoipa::path(delete, path = "/api/v1/sla-policies/{id}", tag = "sla", params(("id" = i64, Path)),
    responses((status = 204, description = "Deleted"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
    delete_policy => delete_sla_policy,
}

#[utoipa::path(get, path = "/api/v1/conversations/{number}/sla", tag = "sla", params(("number" = i64, Path)),
    responses((status = 200, body = SlaOut, description = "The SLA targets of the conversation, time left in business time, and their history"),
              (status = 404, body = ErrorBody)))]
pub async fn conversation_sla(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(number): Path<String>,
) -> ApiResult<Json<SlaOut>> {
    let number = parse_id(&number, "conversation")?;
    let now = state.now();
    let view = state.app.conversation_sla(&principal, number, now).await?;
    Ok(Json(view.into()))
}
