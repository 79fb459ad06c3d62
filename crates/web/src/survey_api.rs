//! Surveys over HTTP: the settings of the survey after a solved conversation
//! (administrators), the answers and their CSV export (managers and administrators), and
//! priorities research: attributes, invitations and the responses as the CSV that
//! `rapport analyze ipa` and `rapport analyze key-drivers` read. Permissions are decided in
//! `app`.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use domain::survey::{Scale, SurveyChannel, SurveyKind};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::dto::{time, ItemsOut};
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiQuery, Auth};
use crate::AppState;

type ApiResult<T> = Result<T, ApiError>;

fn default_csat_min() -> i64 {
    1
}
fn default_csat_max() -> i64 {
    5
}
fn default_delay() -> i64 {
    60
}
fn default_channel() -> String {
    "email".into()
}
fn default_rate() -> f64 {
    1.0
}
fn default_min_days() -> i64 {
    30
}
fn default_answer_days() -> i64 {
    14
}

/// The survey sent after a conversation is solved.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SurveySettingsIn {
    /// Whether solved conversations are surveyed.
    pub enabled: bool,
    /// `csat`, `ces` (1–7) or `nps` (0–10).
    pub kind: String,
    /// The lowest CSAT score: 0 or 1 (default 1).
    #[serde(default = "default_csat_min")]
    pub csat_scale_min: i64,
    /// The highest CSAT score, up to 10 (default 5).
    #[serde(default = "default_csat_max")]
    pub csat_scale_max: i64,
    /// The question; empty for the kind's default.
    #[serde(default)]
    pub question: String,
    /// Minutes after the solve (0 to 43200; default 60).
    #[serde(default = "default_delay")]
    pub delay_minutes: i64,
    /// `email` (an automatic e-mail with a link; also in the portal) or `portal` (default `email`).
    #[serde(default = "default_channel")]
    pub channel: String,
    /// The share of solved conversations surveyed, 0 to 1 (default 1).
    #[serde(default = "default_rate")]
    pub sampling_rate: f64,
    /// At most one survey per customer within this many days (0 to 365; default 30).
    #[serde(default = "default_min_days")]
    pub min_days_between: i64,
    /// How long a link can be answered, in days (1 to 90; default 14).
    #[serde(default = "default_answer_days")]
    pub answer_days: i64,
    /// The http(s) address customers reach this server at; e-mailed links start with it.
    pub public_url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SurveySettingsOut {
    pub enabled: bool,
    pub kind: String,
    pub csat_scale_min: i64,
    pub csat_scale_max: i64,
    /// The question as set (empty: the default).
    pub question: String,
    /// The question customers see.
    pub question_asked: String,
    /// The scale of the kind in force.
    pub scale_min: i64,
    pub scale_max: i64,
    pub delay_minutes: i64,
    pub channel: String,
    pub sampling_rate: f64,
    pub min_days_between: i64,
    pub answer_days: i64,
    pub public_url: String,
    pub updated_at: String,
}

impl From<app::SurveySettingsView> for SurveySettingsOut {
    fn from(v: app::SurveySettingsView) -> Self {
        let s = v.settings;
        let scale = s.kind.scale(s.csat_scale);
        SurveySettingsOut {
            enabled: s.enabled,
            kind: s.kind.as_str().into(),
            csat_scale_min: s.csat_scale.min,
            csat_scale_max: s.csat_scale.max,
            question_asked: if s.question.is_empty() {
                s.kind.default_question().into()
            } else {
                s.question.clone()
            },
            question: s.question,
            scale_min: scale.min,
            scale_max: scale.max,
            delay_minutes: s.delay_minutes,
            channel: s.channel.as_str().into(),
            sampling_rate: s.sampling_rate,
            min_days_between: s.min_days_between,
            answer_days: s.answer_days,
            public_url: s.public_url,
            updated_at: time(v.updated_at),
        }
    }
}

impl TryFrom<SurveySettingsIn> for app::SurveySettings {
    type Error = ApiError;

    fn try_from(s: SurveySettingsIn) -> Result<Self, ApiError> {
        let kind = SurveyKind::parse(&s.kind).ok_or_else(|| {
            ApiError::new(
                ErrorCode::ValidationFailed,
                format!("kind {:?} is not one of csat, ces, nps", s.kind),
            )
        })?;
        let channel = SurveyChannel::parse(&s.channel).ok_or_else(|| {
            ApiError::new(
                ErrorCode::ValidationFailed,
                format!("channel {:?} is not one of email, portal", s.channel),
            )
        })?;
        Ok(app::SurveySettings {
            enabled: s.enabled,
            kind,
            csat_scale: Scale {
                min: s.csat_scale_min,
                max: s.csat_scale_max,
            },
            question: s.question,
            delay_minutes: s.delay_minutes,
            channel,
            sampling_rate: s.sampling_rate,
            min_days_between: s.min_days_between,
            answer_days: s.answer_days,
            public_url: s.public_url,
        })
    }
}

#[utoipa::path(get, path = "/api/v1/surveys/settings", tag = "surveys",
    responses((status = 200, body = SurveySettingsOut), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn get_settings(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> ApiResult<Json<SurveySettingsOut>> {
    Ok(Json(state.app.survey_settings(&principal).await?.into()))
}

#[utoipa::path(put, path = "/api/v1/surveys/settings", tag = "surveys", request_body = SurveySettingsIn,
    responses((status = 200, body = SurveySettingsOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "A value is out of its range")))]
pub async fn put_settings(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<SurveySettingsIn>,
) -> ApiResult<Json<SurveySettingsOut>> {
    let settings = app::SurveySettings::try_from(input)?;
    let now = state.now();
    Ok(Json(
        state
            .app
            .set_survey_settings(&principal, settings, now)
            .await?
            .into(),
    ))
}

/// Filters of the answer list and its export; each left out matches anything.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AnswerParams {
    /// `csat`, `ces` or `nps`.
    pub kind: Option<String>,
    /// Answered at or after this instant (RFC 3339), or on or after this day (`YYYY-MM-DD`, a
    /// local day of the business calendar, as the KPIs count days).
    pub from: Option<String>,
    /// Answered before this instant (RFC 3339), or before this day (`YYYY-MM-DD`, a local day:
    /// the day after the last).
    pub to: Option<String>,
    /// The conversation's group.
    pub group: Option<i64>,
    /// The conversation's assignee.
    pub agent: Option<i64>,
    /// The agent the customer gave kudos to.
    pub kudos_agent: Option<i64>,
    /// The `next_cursor` of the previous page (not for the export).
    pub cursor: Option<String>,
    /// 1 to 500, default 50 (not for the export).
    pub limit: Option<u32>,
}

impl AnswerParams {
    fn query(&self) -> ApiResult<app::SurveyAnswerQuery> {
        let kind = self
            .kind
            .as_deref()
            .map(|k| {
                SurveyKind::parse(k).ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InvalidParameter,
                        format!("kind {k:?} is not one of csat, ces, nps"),
                    )
                })
            })
            .transpose()?;
        let cursor = self
            .cursor
            .as_deref()
            .map(|c| {
                c.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InvalidParameter,
                        "cursor is the next_cursor of the previous page",
                    )
                })
            })
            .transpose()?;
        if self.limit.is_some_and(|l| !(1..=500).contains(&l)) {
            return Err(ApiError::new(
                ErrorCode::InvalidParameter,
                "limit is from 1 to 500",
            ));
        }
        let (from, from_date) = crate::kpi_api::bound(self.from.as_deref(), "from")?;
        let (to, to_date) = crate::kpi_api::bound(self.to.as_deref(), "to")?;
        Ok(app::SurveyAnswerQuery {
            kind,
            from,
            to,
            from_date,
            to_date,
            group_id: self.group,
            assignee_id: self.agent,
            kudos_agent_id: self.kudos_agent,
            cursor,
            limit: self.limit,
        })
    }
}

/// An answered survey.
#[derive(Debug, Serialize, ToSchema)]
pub struct SurveyAnswerOut {
    pub survey_id: i64,
    pub conversation: i64,
    pub subject: String,
    pub customer_id: i64,
    pub customer_name: String,
    /// csat, ces or nps.
    pub kind: String,
    pub score: i64,
    pub scale_min: i64,
    pub scale_max: i64,
    pub comment: Option<String>,
    pub kudos_agent_id: Option<i64>,
    pub kudos_agent_name: Option<String>,
    /// email or portal.
    pub channel: String,
    pub group_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub sent_at: String,
    pub answered_at: String,
}

impl From<store::SurveyAnswerRow> for SurveyAnswerOut {
    fn from(r: store::SurveyAnswerRow) -> Self {
        SurveyAnswerOut {
            survey_id: r.id,
            conversation: r.conversation,
            subject: r.subject,
            customer_id: r.customer_id,
            customer_name: r.customer_name,
            kind: r.kind,
            score: r.score,
            scale_min: r.scale_min,
            scale_max: r.scale_max,
            comment: r.comment,
            kudos_agent_id: r.kudos_agent_id,
            kudos_agent_name: r.kudos_agent_name,
            channel: r.channel,
            group_id: r.group_id,
            assignee_id: r.assignee_id,
            sent_at: time(r.sent_at),
            answered_at: time(r.answered_at),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/surveys/answers", tag = "surveys", params(AnswerParams),
    responses((status = 200, body = ItemsOut<SurveyAnswerOut>, description = "Answered surveys, newest first; `total` counts this page"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_answers(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(params): ApiQuery<AnswerParams>,
) -> ApiResult<Json<ItemsOut<SurveyAnswerOut>>> {
    let query = params.query()?;
    let page = state.app.survey_answers(&principal, &query).await?;
    Ok(Json(ItemsOut {
        next_cursor: page.next_cursor.map(|c| c.to_string()),
        ..ItemsOut::all(page.items)
    }))
}

fn csv_response(filename: &str, body: String) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{filename}\""),
            ),
        ],
        body,
    )
        .into_response()
}

#[utoipa::path(get, path = "/api/v1/surveys/answers.csv", tag = "surveys", params(AnswerParams),
    responses((status = 200, content_type = "text/csv", body = String, description = "Every answer matching the filters, newest first, one per row"),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn export_answers(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(params): ApiQuery<AnswerParams>,
) -> ApiResult<Response> {
    let query = params.query()?;
    let csv = state.app.survey_answers_csv(&principal, &query).await?;
    Ok(csv_response("survey-answers.csv", csv))
}

/// A service attribute of priorities research.
#[derive(Debug, Serialize, ToSchema)]
pub struct AttributeOut {
    pub id: i64,
    /// Names the CSV columns `importance_<key>` and `performance_<key>`.
    pub key: String,
    pub label: String,
    pub description: String,
    /// One of the five SERVQUAL dimensions.
    pub builtin: bool,
    /// Asked in new responses.
    pub active: bool,
    pub position: i64,
}

impl From<store::ResearchAttributeRow> for AttributeOut {
    fn from(r: store::ResearchAttributeRow) -> Self {
        AttributeOut {
            id: r.id,
            key: r.key,
            label: r.label,
            description: r.description,
            builtin: r.builtin,
            active: r.active,
            position: r.position,
        }
    }
}

/// One of the team's own attributes, e.g. `first_reply_speed`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributeIn {
    /// Lowercase letters, digits and underscores, starting with a letter (at most 40).
    pub key: String,
    pub label: String,
    #[serde(default)]
    pub description: String,
}

/// A change to an attribute (its key never changes).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttributeUpdateIn {
    pub label: String,
    #[serde(default)]
    pub description: String,
    pub active: bool,
}

#[utoipa::path(get, path = "/api/v1/surveys/priorities/attributes", tag = "surveys",
    responses((status = 200, body = ItemsOut<AttributeOut>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_attributes(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> ApiResult<Json<ItemsOut<AttributeOut>>> {
    let views = state.app.research_attributes(&principal).await?;
    Ok(Json(ItemsOut::all(views)))
}

#[utoipa::path(post, path = "/api/v1/surveys/priorities/attributes", tag = "surveys", request_body = AttributeIn,
    responses((status = 201, body = AttributeOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "The key is taken"), (status = 422, body = ErrorBody)))]
pub async fn create_attribute(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<AttributeIn>,
) -> ApiResult<(StatusCode, Json<AttributeOut>)> {
    let now = state.now();
    let row = state
        .app
        .add_research_attribute(
            &principal,
            app::AttributeInput {
                key: input.key,
                label: input.label,
                description: input.description,
            },
            now,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(row.into())))
}

#[utoipa::path(put, path = "/api/v1/surveys/priorities/attributes/{id}", tag = "surveys", params(("id" = i64, Path)),
    request_body = AttributeUpdateIn,
    responses((status = 200, body = AttributeOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_attribute(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
    ApiJson(input): ApiJson<AttributeUpdateIn>,
) -> ApiResult<Json<AttributeOut>> {
    let id = id.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
        ApiError::new(
            ErrorCode::NotFound,
            format!("research attribute {id:?} not found"),
        )
    })?;
    let row = state
        .app
        .update_research_attribute(
            &principal,
            id,
            &input.label,
            &input.description,
            input.active,
        )
        .await?;
    Ok(Json(row.into()))
}

/// Customers to invite to priorities research.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InvitationsIn {
    /// 1 to 1000 customer ids.
    pub customer_ids: Vec<i64>,
}

/// A customer's research link (send it to them; it is shown only now).
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationOut {
    pub id: i64,
    pub customer_id: i64,
    pub link: String,
    pub expires_at: String,
}

#[utoipa::path(post, path = "/api/v1/surveys/priorities/invitations", tag = "surveys", request_body = InvitationsIn,
    responses((status = 201, body = ItemsOut<InvitationOut>, description = "One link per customer, answerable once within 30 days"),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody, description = "A customer does not exist"), (status = 422, body = ErrorBody)))]
pub async fn create_invitations(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<InvitationsIn>,
) -> ApiResult<(StatusCode, Json<ItemsOut<InvitationOut>>)> {
    let now = state.now();
    let items = state
        .app
        .invite_to_research(&principal, &input.customer_ids, now)
        .await?
        .into_iter()
        .map(|i| InvitationOut {
            id: i.id,
            customer_id: i.customer_id,
            link: i.link,
            expires_at: time(i.expires_at),
        });
    Ok((StatusCode::CREATED, Json(ItemsOut::all(items))))
}

#[utoipa::path(get, path = "/api/v1/surveys/priorities/responses.csv", tag = "surveys",
    responses((status = 200, content_type = "text/csv", body = String,
               description = "One respondent per row: respondent_id, importance_<key> and performance_<key> per attribute, overall_satisfaction (the input of `rapport analyze ipa` and `key-drivers`)"),
              (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn export_responses(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> ApiResult<Response> {
    let csv = state.app.research_csv(&principal).await?;
    Ok(csv_response("priorities-research.csv", csv))
}
