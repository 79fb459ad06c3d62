//! Management information over HTTP: the KPI catalogue (`GET /api/v1/kpis`), one KPI's figure
//! for a period and slice (`GET /api/v1/kpis/{key}`), administrators' targets
//! (`PUT /api/v1/kpis/{key}`), the drill-down to the conversations behind a figure, and every
//! figure as JSON or CSV (`GET /api/v1/kpi-figures`).

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::dto::ItemsOut;
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiQuery, Auth};
use crate::AppState;

type ApiResult<T> = Result<T, ApiError>;

/// A KPI record: what it means, how it is computed, and the target and thresholds in force.
#[derive(Debug, Serialize, ToSchema)]
pub struct KpiOut {
    pub key: String,
    pub name: String,
    pub definition: String,
    pub formula: String,
    /// seconds, percent, count, score or replies.
    pub unit: String,
    /// higher_is_better or lower_is_better.
    pub polarity: String,
    pub frequency: String,
    pub data_source: String,
    pub target: Option<f64>,
    /// Past this value (in the bad direction) the KPI is amber.
    pub amber: Option<f64>,
    /// Past this value (in the bad direction) the KPI is red.
    pub red: Option<f64>,
    pub owner: String,
    /// True when an administrator changed the defaults.
    pub customised: bool,
}

fn polarity(p: kpi::catalogue::Polarity) -> &'static str {
    match p {
        kpi::catalogue::Polarity::HigherIsBetter => "higher_is_better",
        kpi::catalogue::Polarity::LowerIsBetter => "lower_is_better",
    }
}

impl From<app::KpiRecord> for KpiOut {
    fn from(r: app::KpiRecord) -> Self {
        KpiOut {
            key: r.definition.key.to_string(),
            name: r.definition.name.to_string(),
            definition: r.definition.definition.to_string(),
            formula: r.definition.formula.to_string(),
            unit: r.definition.unit.as_str().to_string(),
            polarity: polarity(r.definition.polarity).to_string(),
            frequency: r.definition.frequency.to_string(),
            data_source: r.definition.data_source.to_string(),
            target: r.target,
            amber: r.amber,
            red: r.red,
            owner: r.owner,
            customised: r.customised,
        }
    }
}

/// Which period and slice. Times are RFC 3339 instants or `YYYY-MM-DD` dates; a date is that
/// local day of the team's business calendar (the days the roll-ups are kept in, UTC days
/// without a calendar), and the period is rounded out to whole such days; the default is the 28
/// days up to today.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct KpiParams {
    pub from: Option<String>,
    pub to: Option<String>,
    pub group: Option<i64>,
    pub agent: Option<i64>,
    pub channel: Option<String>,
    pub priority: Option<String>,
    pub tag: Option<String>,
    /// `json` (default) or `csv` (figures export only).
    pub format: Option<String>,
    /// Drill-down only: at most this many conversations (1 to 1000, default 200).
    pub limit: Option<i64>,
}

/// A period bound: an RFC 3339 instant, or a `YYYY-MM-DD` date that the app reads as a local
/// day of the team's calendar (not UTC midnight).
pub(crate) fn bound(
    text: Option<&str>,
    what: &str,
) -> ApiResult<(Option<i64>, Option<jiff::civil::Date>)> {
    let Some(text) = text else {
        return Ok((None, None));
    };
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return Ok((Some(t.as_millisecond()), None));
    }
    if let Ok(d) = text.parse::<jiff::civil::Date>() {
        return Ok((None, Some(d)));
    }
    Err(ApiError::new(
        ErrorCode::InvalidParameter,
        format!("{what} must be an RFC 3339 instant or a YYYY-MM-DD date, got {text:?}"),
    ))
}

impl KpiParams {
    fn query(&self) -> ApiResult<app::KpiQuery> {
        let (from, from_date) = bound(self.from.as_deref(), "from")?;
        let (to, to_date) = bound(self.to.as_deref(), "to")?;
        Ok(app::KpiQuery {
            from,
            to,
            from_date,
            to_date,
            group: self.group,
            agent: self.agent,
            channel: self.channel.clone(),
            priority: self.priority.clone(),
            tag: self.tag.clone(),
        })
    }
}

/// A KPI's figure for a period and slice, with its n, 95% interval, target and status, and the
/// previous period of the same length with a significance test of the change.
#[derive(Debug, Serialize, ToSchema)]
pub struct KpiFigureOut {
    pub key: String,
    /// Null when there are no cases.
    pub value: Option<f64>,
    pub unit: String,
    pub n: u64,
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub target: Option<f64>,
    /// green, amber, red, too_few_cases, unknown, or recomputing (see `recomputing`).
    pub status: String,
    pub too_few_cases: bool,
    /// True while the roll-ups are being computed again from the whole event log (after a
    /// change of the business calendar's time zone, or before their first run): the figure has
    /// no value until that is done, instead of a zero.
    pub recomputing: bool,
    pub name: String,
    pub from: String,
    pub to: String,
    /// `all`, or the dimension and value, e.g. `group=3`.
    pub slice: String,
    /// The previous period's figure (same fields as this one).
    #[schema(value_type = Option<Object>)]
    pub previous: Option<kpi::Figure>,
    /// The significance test of the change: test, statistic, p_value, significant, verdict.
    #[schema(value_type = Option<Object>)]
    pub change: Option<stats::significance::TestResult>,
}

impl From<app::KpiReport> for KpiFigureOut {
    fn from(r: app::KpiReport) -> Self {
        KpiFigureOut {
            key: r.figure.key,
            value: r.figure.value,
            unit: r.figure.unit.to_string(),
            n: r.figure.n,
            ci_low: r.figure.ci_low,
            ci_high: r.figure.ci_high,
            target: r.figure.target,
            status: r.figure.status.to_string(),
            too_few_cases: r.figure.too_few_cases,
            recomputing: r.recomputing,
            name: r.name,
            from: crate::dto::time(r.from),
            to: crate::dto::time(r.to),
            slice: r.slice,
            previous: r.previous,
            change: r.change,
        }
    }
}

/// New target, thresholds and owner of a KPI.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct KpiSettingsIn {
    pub target: Option<f64>,
    pub amber: Option<f64>,
    pub red: Option<f64>,
    pub owner: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DrillOut {
    pub key: String,
    /// The numbers of the conversations behind the figure, newest first.
    pub conversations: Vec<i64>,
}

#[utoipa::path(get, path = "/api/v1/kpis", tag = "kpis",
    responses((status = 200, body = ItemsOut<KpiOut>, description = "The KPI catalogue"), (status = 403, body = ErrorBody)))]
pub async fn list_kpis(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> ApiResult<Json<ItemsOut<KpiOut>>> {
    let records = state.app.kpi_catalogue(&principal).await?;
    Ok(Json(ItemsOut {
        total: records.len() as i64,
        items: records.into_iter().map(Into::into).collect(),
        next_cursor: None,
    }))
}

#[utoipa::path(get, path = "/api/v1/kpis/{key}", tag = "kpis", params(("key" = String, Path), KpiParams),
    responses((status = 200, body = KpiFigureOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn get_kpi(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(key): Path<String>,
    ApiQuery(params): ApiQuery<KpiParams>,
) -> ApiResult<Json<KpiFigureOut>> {
    let query = params.query()?;
    let report = state
        .app
        .kpi_report(&principal, &key, &query, state.now())
        .await?;
    Ok(Json(report.into()))
}

#[utoipa::path(put, path = "/api/v1/kpis/{key}", tag = "kpis", params(("key" = String, Path)), request_body = KpiSettingsIn,
    responses((status = 200, body = KpiOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn put_kpi(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(key): Path<String>,
    ApiJson(input): ApiJson<KpiSettingsIn>,
) -> ApiResult<Json<KpiOut>> {
    let settings = kpi::KpiSettings {
        target: input.target,
        amber: input.amber,
        red: input.red,
        owner: input.owner,
    };
    let record = state
        .app
        .update_kpi_settings(&principal, &key, settings, state.now())
        .await?;
    Ok(Json(record.into()))
}

#[utoipa::path(get, path = "/api/v1/kpis/{key}/conversations", tag = "kpis", params(("key" = String, Path), KpiParams),
    responses((status = 200, body = DrillOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody)))]
pub async fn drill_kpi(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(key): Path<String>,
    ApiQuery(params): ApiQuery<KpiParams>,
) -> ApiResult<Json<DrillOut>> {
    let query = params.query()?;
    let conversations = state
        .app
        .kpi_drill(
            &principal,
            &key,
            &query,
            params.limit.unwrap_or(200),
            state.now(),
        )
        .await?;
    Ok(Json(DrillOut { key, conversations }))
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

fn number(x: Option<f64>) -> String {
    x.map(|v| format!("{v}")).unwrap_or_default()
}

#[utoipa::path(get, path = "/api/v1/kpi-figures", tag = "kpis", params(KpiParams),
    responses((status = 200, body = ItemsOut<KpiFigureOut>, description = "Every KPI's figure (JSON, or CSV with format=csv)"),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn kpi_figures(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(params): ApiQuery<KpiParams>,
) -> ApiResult<Response> {
    let query = params.query()?;
    let reports = state
        .app
        .kpi_reports(&principal, &query, state.now())
        .await?;
    let figures: Vec<KpiFigureOut> = reports.into_iter().map(Into::into).collect();
    match params.format.as_deref() {
        None | Some("json") => Ok(Json(ItemsOut {
            total: figures.len() as i64,
            items: figures,
            next_cursor: None,
        })
        .into_response()),
        Some("csv") => {
            let mut out = String::from(
                "key,name,value,unit,n,ci_low,ci_high,target,status,too_few_cases,from,to,slice,previous_value,change_p_value,change_significant\n",
            );
            for f in &figures {
                let row = [
                    csv_field(&f.key),
                    csv_field(&f.name),
                    number(f.value),
                    f.unit.clone(),
                    f.n.to_string(),
                    number(f.ci_low),
                    number(f.ci_high),
                    number(f.target),
                    f.status.clone(),
                    f.too_few_cases.to_string(),
                    f.from.clone(),
                    f.to.clone(),
                    csv_field(&f.slice),
                    number(f.previous.as_ref().and_then(|p| p.value)),
                    number(f.change.as_ref().map(|c| c.p_value)),
                    f.change
                        .as_ref()
                        .map(|c| c.significant.to_string())
                        .unwrap_or_default(),
                ];
                out.push_str(&row.join(","));
                out.push('\n');
            }
            Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], out).into_response())
        }
        Some(other) => Err(ApiError::new(
            ErrorCode::InvalidParameter,
            format!("format must be json or csv, got {other:?}"),
        )),
    }
}

/// A KPI in exception (amber or red over the last 28 days, team-wide).
#[derive(Debug, Serialize, ToSchema)]
pub struct KpiAlertOut {
    pub key: String,
    pub name: String,
    /// amber or red.
    pub status: String,
    pub value: Option<f64>,
    pub unit: String,
    pub since: String,
}

#[utoipa::path(get, path = "/api/v1/kpi-alerts", tag = "kpis",
    responses((status = 200, body = ItemsOut<KpiAlertOut>, description = "The KPIs in exception now"), (status = 403, body = ErrorBody)))]
pub async fn kpi_alerts(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> ApiResult<Json<ItemsOut<KpiAlertOut>>> {
    let alerts = state.app.kpi_alerts(&principal).await?;
    Ok(Json(ItemsOut {
        total: alerts.len() as i64,
        items: alerts
            .into_iter()
            .map(|a| KpiAlertOut {
                key: a.key,
                name: a.name,
                status: a.status,
                value: a.value,
                unit: a.unit,
                since: crate::dto::time(a.since),
            })
            .collect(),
        next_cursor: None,
    }))
}

/// A published satisfaction figure of another sector, with its source. A different index from
/// the team's CSAT: a 0–100 index score, not a share of satisfied answers.
#[derive(Debug, Serialize, ToSchema)]
pub struct BenchmarkOut {
    pub id: i64,
    pub set_name: String,
    pub index: String,
    pub country: String,
    pub period: String,
    pub level: String,
    pub entity: String,
    pub score: f64,
    pub source_url: String,
    pub source_kind: String,
    pub note: String,
}

/// A benchmark set to import (replaces the set of that name).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BenchmarksIn {
    pub set_name: String,
    /// CSV text with a header naming index, entity, score_0_100 (or score) and source_url;
    /// optionally country, period, level, source_kind, note.
    pub csv: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BenchmarksImportedOut {
    pub set_name: String,
    pub rows: usize,
}

#[utoipa::path(get, path = "/api/v1/kpi-benchmarks", tag = "kpis",
    responses((status = 200, body = ItemsOut<BenchmarkOut>), (status = 403, body = ErrorBody)))]
pub async fn list_benchmarks(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> ApiResult<Json<ItemsOut<BenchmarkOut>>> {
    let rows = state.app.benchmarks(&principal).await?;
    Ok(Json(ItemsOut {
        total: rows.len() as i64,
        items: rows
            .into_iter()
            .map(|r| BenchmarkOut {
                id: r.id,
                set_name: r.set_name,
                index: r.index_name,
                country: r.country,
                period: r.period,
                level: r.level,
                entity: r.entity,
                score: r.score,
                source_url: r.source_url,
                source_kind: r.source_kind,
                note: r.note,
            })
            .collect(),
        next_cursor: None,
    }))
}

#[utoipa::path(post, path = "/api/v1/kpi-benchmarks", tag = "kpis", request_body = BenchmarksIn,
    responses((status = 201, body = BenchmarksImportedOut), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
              (status = 422, body = ErrorBody, description = "The CSV does not parse; the message names the line")))]
pub async fn import_benchmarks(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(input): ApiJson<BenchmarksIn>,
) -> ApiResult<(axum::http::StatusCode, Json<BenchmarksImportedOut>)> {
    let rows = state
        .app
        .import_benchmarks(&principal, &input.set_name, &input.csv, state.now())
        .await?;
    Ok((
        axum::http::StatusCode::CREATED,
        Json(BenchmarksImportedOut {
            set_name: input.set_name.trim().to_string(),
            rows,
        }),
    ))
}
