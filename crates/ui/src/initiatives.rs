//! Improvement initiatives for managers (`/app/initiatives`): every initiative with its KPI
//! before and after the start and Rapport's verdict, and a form to record one. The comparison
//! and the permission check are in `app` (`App::initiatives`, `App::record_initiative`).

use askama::Template;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use web::AppState;

use crate::dashboard::show;
use crate::error::{PageError, PageResult};
use crate::form::Form;
use crate::session::Viewer;
use crate::workspace::{choice, Choice};
use crate::Layout;

struct Line {
    name: String,
    description: String,
    kpi_href: String,
    kpi_name: String,
    scope: String,
    started: String,
    periods: String,
    before: String,
    after: String,
    outcome: &'static str,
    label: &'static str,
    summary: String,
}

#[derive(Template)]
#[template(path = "initiatives.html")]
struct InitiativesPage {
    layout: Layout,
    lines: Vec<Line>,
    kpis: Vec<Choice>,
    groups: Vec<Choice>,
    notice: String,
}

fn figure_text(figure: Option<&kpi::Figure>, unit: &str) -> String {
    match figure {
        Some(f) if f.value.is_some() => format!("{} ({} cases)", show(f.value, unit), f.n),
        Some(f) => format!("– ({} cases)", f.n),
        None => "–".into(),
    }
}

/// The team's local date of an instant (the days the periods are counted in).
fn date(ms: i64, zone: &jiff::tz::TimeZone) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_zoned(zone.clone()).strftime("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn line(v: &app::InitiativeView, zone: &jiff::tz::TimeZone) -> Line {
    let date = |ms: i64| date(ms, zone);
    let verdict = &v.verdict;
    Line {
        name: v.name.clone(),
        description: v.description.clone(),
        kpi_href: format!("/app/kpis/{}", v.kpi),
        kpi_name: v.kpi_name.clone(),
        scope: v
            .group_name
            .clone()
            .map_or_else(|| "the whole team".into(), |g| format!("group {g}")),
        started: date(v.started_at),
        periods: format!(
            "{} – {} against {} – {}",
            date(verdict.before_from),
            date(verdict.before_to - 1),
            date(verdict.after_from),
            date(verdict.after_to - 1)
        ),
        before: figure_text(verdict.before.as_ref(), v.unit),
        after: figure_text(verdict.after.as_ref(), v.unit),
        outcome: verdict.outcome.as_str(),
        label: verdict.outcome.label(),
        summary: verdict.summary.clone(),
    }
}

async fn render(state: &AppState, viewer: &Viewer, notice: String) -> PageResult<Response> {
    let views = state
        .app
        .initiatives(&viewer.principal, state.now())
        .await?;
    let zone = state.app.team_time_zone().await?;
    let kpis = state
        .app
        .kpi_catalogue(&viewer.principal)
        .await?
        .into_iter()
        .filter(|k| {
            !matches!(
                k.definition.computation,
                kpi::catalogue::Computation::Backlog
                    | kpi::catalogue::Computation::BacklogAge { .. }
            )
        })
        .map(|k| choice(k.definition.key, k.definition.name, false))
        .collect();
    let mut groups = vec![choice("", "The whole team", true)];
    groups.extend(
        state
            .app
            .groups(&viewer.principal)
            .await?
            .into_iter()
            .map(|g| choice(g.id.to_string(), g.name, false)),
    );
    let page = InitiativesPage {
        layout: Layout::signed_in("Improvement initiatives", "app", viewer, ""),
        lines: views.iter().map(|v| line(v, &zone)).collect(),
        kpis,
        groups,
        notice,
    };
    Ok(Html(page.render().map_err(PageError::from)?).into_response())
}

pub(crate) async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    if viewer.is_customer() {
        return Ok(Redirect::to("/portal").into_response());
    }
    let form = Form::from_query(raw.as_deref());
    let notice = if form.get("recorded").is_some() {
        "Recorded. The verdict firms up as the period after the start fills.".to_string()
    } else {
        String::new()
    };
    render(&state, &viewer, notice).await
}

pub(crate) async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    body: Bytes,
) -> PageResult<Response> {
    let form = Form::from_body(&body);
    viewer.check_csrf(&form)?;
    let started = form.get("started").unwrap_or_default();
    // A local day of the team's calendar: the app finds its first instant.
    let started_on = started.parse::<jiff::civil::Date>().map_err(|_| {
        PageError::Invalid(format!(
            "the start must be a date (YYYY-MM-DD), got {started:?}"
        ))
    })?;
    let group_id = match form.get("group") {
        None => None,
        Some(text) => Some(text.parse::<i64>().map_err(|_| {
            PageError::Invalid(format!("group must be a group's id, got {text:?}"))
        })?),
    };
    let period_days = match form.get("period_days") {
        None => None,
        Some(text) => Some(text.parse::<i64>().map_err(|_| {
            PageError::Invalid(format!("the period must be a number of days, got {text:?}"))
        })?),
    };
    state
        .app
        .record_initiative(
            &viewer.principal,
            app::InitiativeInput {
                name: form.raw("name").to_string(),
                description: form.raw("description").to_string(),
                kpi: form.get("kpi").unwrap_or_default().to_string(),
                group_id,
                started_at: 0,
                started_on: Some(started_on),
                period_days,
            },
            state.now(),
        )
        .await?;
    Ok(Redirect::to("/app/initiatives?recorded=1").into_response())
}
