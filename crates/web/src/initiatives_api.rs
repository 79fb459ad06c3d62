//! Improvement initiatives over HTTP: record one (`POST /api/v1/initiatives`), list them
//! (`GET /api/v1/initiatives`) and read one (`GET /api/v1/initiatives/{id}`), each with the
//! verdict of its KPI before and after the start.

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

/// A change a manager made, and the KPI it should move.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InitiativeIn {
    /// What changed, e.g. `Billing questions routed by category`.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// A key of the KPI catalogue (`GET /api/v1/kpis`), e.g. `first_reply_median`.
    pub kpi: String,
    /// Judge the KPI of this group only (default: the whole team).
    pub group_id: Option<i64>,
    /// When the change took effect: an RFC 3339 instant or a `YYYY-MM-DD` date (a local day of
    /// the business calendar, as the KPIs count days).
    pub started_at: String,
    /// Days in each compared period, before and after the start (7 to 366, default 28).
    pub period_days: Option<i64>,
}

/// The KPI before and after the start, and what Rapport makes of it.
#[derive(Debug, Serialize, ToSchema)]
pub struct VerdictOut {
    /// `improved`, `worsened`, `no_clear_change` or `too_few_cases`.
    pub outcome: String,
    /// The same, for a person.
    pub label: String,
    /// A sentence with the cases and the p-value the verdict rests on.
    pub summary: String,
    pub before_from: String,
    pub before_to: String,
    pub after_from: String,
    /// The end of the period after (the end of today while it is still running).
    pub after_to: String,
    /// The KPI's figure before the start: value, unit, n, ci_low, ci_high, too_few_cases, …
    #[schema(value_type = Option<Object>)]
    pub before: Option<kpi::Figure>,
    /// The KPI's figure after the start.
    #[schema(value_type = Option<Object>)]
    pub after: Option<kpi::Figure>,
    /// The significance test: test, statistic (positive: higher after), p_value, significant.
    #[schema(value_type = Option<Object>)]
    pub test: Option<stats::significance::TestResult>,
}

/// An initiative with its verdict.
#[derive(Debug, Serialize, ToSchema)]
pub struct InitiativeOut {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub kpi: String,
    pub kpi_name: String,
    /// higher_is_better or lower_is_better.
    pub polarity: String,
    pub group_id: Option<i64>,
    pub group_name: Option<String>,
    pub started_at: String,
    pub period_days: i64,
    /// The agent who recorded it.
    pub created_by: Option<i64>,
    pub created_at: String,
    pub verdict: VerdictOut,
}

impl From<app::InitiativeView> for InitiativeOut {
    fn from(v: app::InitiativeView) -> Self {
        let verdict = v.verdict;
        InitiativeOut {
            id: v.id,
            name: v.name,
            description: v.description,
            kpi: v.kpi,
            kpi_name: v.kpi_name,
            polarity: match v.polarity {
                kpi::catalogue::Polarity::HigherIsBetter => "higher_is_better",
                kpi::catalogue::Polarity::LowerIsBetter => "lower_is_better",
            }
            .to_string(),
            group_id: v.group_id,
            group_name: v.group_name,
            started_at: time(v.started_at),
            period_days: v.period_days,
            created_by: v.created_by,
            created_at: time(v.created_at),
            verdict: VerdictOut {
                outcome: verdict.outcome.as_str().to_string(),
                label: verdict.outcome.label().to_string(),
                summary: verdict.summary,
                before_from: time(verdict.before_from),
                before_to: time(verdict.before_to),
                after_from: time(verdict.after_from),
                after_to: time(verdict.after_to),
                before: verdict.before,
                after: verdict.after,
                test: verdict.test,
            },
        }
    }
}

#[utoipa::path(post, path = "/api/v1/initiatives", tag = "initiatives", request_body = InitiativeIn,
    responses((status = 201, body = InitiativeOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "Unknown or live KPI, unknown group, bad date or period")))]
pub async fn create_initiative(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<InitiativeIn>,
) -> ApiResult<(StatusCode, Json<InitiativeOut>)> {
    let (started_at, started_on) = crate::kpi_api::bound(Some(&input.started_at), "started_at")
        .map_err(|e| ApiError::new(ErrorCode::ValidationFailed, e.message))?;
    let view = state
        .app
        .record_initiative(
            &principal,
            app::InitiativeInput {
                name: input.name,
                description: input.description,
                kpi: input.kpi,
                group_id: input.group_id,
                started_at: started_at.unwrap_or_default(),
                started_on,
                period_days: input.period_days,
            },
            state.now(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(view.into())))
}

#[utoipa::path(get, path = "/api/v1/initiatives", tag = "initiatives",
    responses((status = 200, body = ItemsOut<InitiativeOut>, description = "Every initiative with its verdict, the most recently started first"),
              (status = 403, body = ErrorBody)))]
pub async fn list_initiatives(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> ApiResult<Json<ItemsOut<InitiativeOut>>> {
    let views = state.app.initiatives(&principal, state.now()).await?;
    Ok(Json(ItemsOut {
        total: views.len() as i64,
        items: views.into_iter().map(Into::into).collect(),
        next_cursor: None,
    }))
}

#[utoipa::path(get, path = "/api/v1/initiatives/{id}", tag = "initiatives", params(("id" = i64, Path)),
    responses((status = 200, body = InitiativeOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_initiative(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<InitiativeOut>> {
    let id = id.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        ApiError::new(ErrorCode::NotFound, format!("initiative {id:?} not found"))
    })?;
    let view = state.app.initiative(&principal, id, state.now()).await?;
    Ok(Json(view.into()))
}
