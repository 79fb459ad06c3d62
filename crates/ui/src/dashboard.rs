//! Management information for people: the KPI dashboard (figures against targets with their
//! n, 95% interval, status and the change from the previous period), a definition page per KPI
//! where administrators set targets, thresholds and owners, and the drill-down from a figure to
//! the conversations behind it. Every figure comes from `app` (roll-ups), which checks who may
//! see which slice.

use app::{KpiQuery, KpiReport};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use domain::{Principal, Role};
use web::AppState;

use crate::error::{PageError, PageResult};
use crate::form::{link, Form};
use crate::session::Viewer;
use crate::Layout;

const DAY: i64 = 86_400_000;

/// A figure's value as people read it: durations in minutes, hours or days, percentages with
/// one decimal, counts whole.
pub(crate) fn show(value: Option<f64>, unit: &str) -> String {
    let Some(v) = value else { return "–".into() };
    match unit {
        "seconds" => {
            if v < 90.0 {
                format!("{v:.0} s")
            } else if v < 90.0 * 60.0 {
                format!("{:.0} min", v / 60.0)
            } else if v < 48.0 * 3600.0 {
                format!("{:.1} h", v / 3600.0)
            } else {
                format!("{:.1} d", v / 86_400.0)
            }
        }
        "percent" => format!("{v:.1}%"),
        "count" => format!("{v:.0}"),
        _ => format!("{v:.2}"),
    }
}

fn status_label(status: &str) -> &'static str {
    match status {
        "green" => "On target",
        "amber" => "Watch",
        "red" => "Off target",
        "too_few_cases" => "Too few cases",
        app::RECOMPUTING => "Being recomputed",
        _ => "No threshold",
    }
}

/// One row of the dashboard.
struct Line {
    key: String,
    name: String,
    value: String,
    interval: String,
    n: u64,
    target: String,
    status: String,
    status_label: &'static str,
    previous: String,
    change: String,
    definition_href: String,
    drill_href: String,
}

fn line(r: &KpiReport, pairs: &[(&str, &str)]) -> Line {
    let unit = r.figure.unit;
    let interval = match (r.figure.ci_low, r.figure.ci_high) {
        (Some(l), Some(h)) => format!("{} – {}", show(Some(l), unit), show(Some(h), unit)),
        _ if r.figure.value.is_some() && unit == "count" => "exact count".into(),
        _ => "–".into(),
    };
    let change = match &r.change {
        _ if r.recomputing => "being recomputed".into(),
        Some(test) if test.significant => test.verdict.clone().unwrap_or_default(),
        Some(_) => "no clear change".into(),
        None => match &r.previous {
            Some(_) => "too few cases to compare".into(),
            None => "live figure".into(),
        },
    };
    let drillable = !matches!(
        r.figure.key.as_str(),
        "backlog" | "backlog_age_median" | "backlog_age_p90"
    );
    Line {
        key: r.figure.key.clone(),
        name: r.name.clone(),
        value: show(r.figure.value, unit),
        interval,
        n: r.figure.n,
        target: show(r.figure.target, unit),
        status: r.figure.status.to_string(),
        status_label: status_label(r.figure.status),
        previous: r
            .previous
            .as_ref()
            .map(|p| show(p.value, unit))
            .unwrap_or_else(|| "–".into()),
        change,
        definition_href: format!("/app/kpis/{}", r.figure.key),
        drill_href: if drillable {
            link(&format!("/app/kpis/{}/conversations", r.figure.key), pairs)
        } else {
            String::new()
        },
    }
}

/// A KPI in exception, as the dashboard lists it.
struct AlertLine {
    name: String,
    status: String,
    value: String,
    since: String,
    href: String,
}

/// A published figure of another sector.
struct BenchmarkLine {
    index: String,
    entity: String,
    period: String,
    country: String,
    score: String,
    source_url: String,
    source_kind: String,
}

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    alerts: Vec<AlertLine>,
    benchmarks: Vec<BenchmarkLine>,
    team_csat: String,
    layout: Layout,
    heading: String,
    period_label: String,
    slice_label: String,
    lines: Vec<Line>,
    periods: Vec<crate::workspace::Choice>,
    groups: Vec<crate::workspace::Choice>,
    notice: String,
}

/// The period and slice of the dashboard's URL (`days`, `group`, `agent`), defaulting to what
/// the viewer may see: managers the whole team, leads their first group, agents themselves.
fn query_of(form: &Form, viewer: &Viewer, now: i64) -> (KpiQuery, i64) {
    let days = form
        .get("days")
        .and_then(|d| d.parse::<i64>().ok())
        .filter(|d| [7, 28, 90].contains(d))
        .unwrap_or(28);
    let group = form.get("group").and_then(|g| g.parse::<i64>().ok());
    let agent = form.get("agent").and_then(|a| a.parse::<i64>().ok());
    // The app rounds the period out to whole days of the team's time zone: the last `days`
    // days up to and including today.
    let mut query = KpiQuery {
        from: Some(now - (days - 1) * DAY),
        to: Some(now + 1),
        group,
        agent,
        ..KpiQuery::default()
    };
    if group.is_none() && agent.is_none() {
        match &viewer.principal {
            Principal::Agent {
                role: Role::Lead,
                groups,
                id,
            } => match groups.first() {
                Some(g) => query.group = Some(*g),
                None => query.agent = Some(*id),
            },
            Principal::Agent {
                role: Role::Agent,
                id,
                ..
            } => query.agent = Some(*id),
            _ => {}
        }
    }
    (query, days)
}

fn pairs_of(query: &KpiQuery, days: i64) -> Vec<(&'static str, String)> {
    let mut pairs = vec![("days", days.to_string())];
    if let Some(g) = query.group {
        pairs.push(("group", g.to_string()));
    }
    if let Some(a) = query.agent {
        pairs.push(("agent", a.to_string()));
    }
    pairs
}

pub(crate) async fn dashboard(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    if viewer.is_customer() {
        return Ok(Redirect::to("/portal").into_response());
    }
    let now = state.now();
    let form = Form::from_query(raw.as_deref());
    let (query, days) = query_of(&form, &viewer, now);
    let reports = state
        .app
        .kpi_reports(&viewer.principal, &query, now)
        .await?;
    let pairs = pairs_of(&query, days);
    let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let groups = state.app.groups(&viewer.principal).await?;
    let slice_label = match (query.group, query.agent) {
        (Some(g), _) => format!(
            "Group {}",
            groups
                .iter()
                .find(|x| x.id == g)
                .map(|x| x.name.clone())
                .unwrap_or_else(|| g.to_string())
        ),
        (_, Some(a)) if matches!(viewer.principal, Principal::Agent { id, .. } if id == a) => {
            "Your own figures".into()
        }
        (_, Some(a)) => format!("Agent {a}"),
        _ => "The whole team".into(),
    };
    let mut group_choices = vec![crate::workspace::choice(
        "",
        "The whole team",
        query.group.is_none(),
    )];
    group_choices.extend(groups.iter().map(|g| {
        crate::workspace::choice(g.id.to_string(), g.name.clone(), query.group == Some(g.id))
    }));
    let alerts = match state.app.kpi_alerts(&viewer.principal).await {
        Ok(alerts) => alerts
            .into_iter()
            .map(|a| AlertLine {
                status: a.status.clone(),
                value: show(a.value, &a.unit),
                since: crate::format::time(a.since),
                href: format!("/app/kpis/{}", a.key),
                name: a.name,
            })
            .collect(),
        // Agents see no team-wide exceptions.
        Err(app::AppError::Forbidden(_)) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let benchmarks = state
        .app
        .benchmarks(&viewer.principal)
        .await?
        .into_iter()
        .map(|b| BenchmarkLine {
            index: b.index_name,
            entity: b.entity,
            period: b.period,
            country: b.country,
            score: format!("{:.1}", b.score),
            source_url: b.source_url,
            source_kind: b.source_kind,
        })
        .collect();
    let team_csat = reports
        .iter()
        .find(|r| r.figure.key == "csat")
        .map(|r| match (r.figure.value, r.figure.too_few_cases) {
            _ if r.recomputing => "being recomputed".to_string(),
            (Some(v), false) => format!("{v:.1}% satisfied ({} answers)", r.figure.n),
            (Some(v), true) => format!(
                "{v:.1}% satisfied, but only {} answers: too few to compare",
                r.figure.n
            ),
            (None, _) => "no answers in this period".to_string(),
        })
        .unwrap_or_default();
    // No silent zeros while the roll-ups are computed again from the whole log.
    let notice = if reports.iter().any(|r| r.recomputing) {
        format!(
            "Being recomputed: {}. Reload this page in a moment.",
            app::RECOMPUTING_NOTICE
        )
    } else {
        String::new()
    };
    let page = DashboardPage {
        alerts,
        benchmarks,
        team_csat,
        layout: Layout::signed_in("Dashboard", "app", &viewer, ""),
        heading: "Service dashboard".into(),
        period_label: format!("the last {days} days, compared with the {days} days before"),
        slice_label,
        lines: reports.iter().map(|r| line(r, &borrowed)).collect(),
        periods: [7, 28, 90]
            .iter()
            .map(|d| crate::workspace::choice(d.to_string(), format!("Last {d} days"), *d == days))
            .collect(),
        groups: group_choices,
        notice,
    };
    Ok(Html(page.render().map_err(PageError::from)?).into_response())
}

#[derive(Template)]
#[template(path = "kpi.html")]
struct KpiPage {
    layout: Layout,
    record: app::KpiRecord,
    unit: &'static str,
    polarity: &'static str,
    figure: Option<Line>,
    can_edit: bool,
    target: String,
    amber: String,
    red: String,
    notice: String,
}

fn number_text(x: Option<f64>) -> String {
    x.map(|v| format!("{v}")).unwrap_or_default()
}

async fn kpi_page(
    state: &AppState,
    viewer: &Viewer,
    key: &str,
    notice: String,
) -> PageResult<Response> {
    let record = state.app.kpi_record(&viewer.principal, key).await?;
    let now = state.now();
    let (query, days) = query_of(&Form::from_query(None), viewer, now);
    // The figure is shown when the viewer may see the default slice.
    let figure = state
        .app
        .kpi_report(&viewer.principal, key, &query, now)
        .await
        .ok()
        .map(|r| {
            let pairs = pairs_of(&query, days);
            let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
            line(&r, &borrowed)
        });
    let page = KpiPage {
        layout: Layout::signed_in(record.definition.name, "app", viewer, ""),
        unit: record.definition.unit.as_str(),
        polarity: match record.definition.polarity {
            kpi::catalogue::Polarity::HigherIsBetter => "higher is better",
            kpi::catalogue::Polarity::LowerIsBetter => "lower is better",
        },
        figure,
        can_edit: viewer.principal.can_administer(),
        target: number_text(record.target),
        amber: number_text(record.amber),
        red: number_text(record.red),
        record,
        notice,
    };
    Ok(Html(page.render().map_err(PageError::from)?).into_response())
}

pub(crate) async fn definition(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(key): Path<String>,
) -> PageResult<Response> {
    if viewer.is_customer() {
        return Ok(Redirect::to("/portal").into_response());
    }
    kpi_page(&state, &viewer, &key, String::new()).await
}

fn optional_number(form: &Form, name: &str) -> PageResult<Option<f64>> {
    match form.get(name).map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(text) => text
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(Some)
            .ok_or_else(|| PageError::Invalid(format!("{name} must be a number, got {text:?}"))),
    }
}

pub(crate) async fn update(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(key): Path<String>,
    body: Bytes,
) -> PageResult<Response> {
    let form = Form::from_body(&body);
    viewer.check_csrf(&form)?;
    let settings = kpi::KpiSettings {
        target: optional_number(&form, "target")?,
        amber: optional_number(&form, "amber")?,
        red: optional_number(&form, "red")?,
        owner: form.get("owner").unwrap_or_default().to_string(),
    };
    state
        .app
        .update_kpi_settings(&viewer.principal, &key, settings, state.now())
        .await?;
    kpi_page(&state, &viewer, &key, "Saved.".into()).await
}

struct Drilled {
    number: i64,
    subject: String,
    href: String,
}

#[derive(Template)]
#[template(path = "kpi_drill.html")]
struct DrillPage {
    layout: Layout,
    name: String,
    key: String,
    period_label: String,
    rows: Vec<Drilled>,
}

pub(crate) async fn drill(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(key): Path<String>,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    if viewer.is_customer() {
        return Ok(Redirect::to("/portal").into_response());
    }
    let now = state.now();
    let (query, days) = query_of(&Form::from_query(raw.as_deref()), &viewer, now);
    let record = state.app.kpi_record(&viewer.principal, &key).await?;
    let numbers = state
        .app
        .kpi_drill(&viewer.principal, &key, &query, 200, now)
        .await?;
    let mut rows = Vec::with_capacity(numbers.len());
    for number in numbers {
        // A conversation the viewer may not open (merged away, or outside their reach) is left out.
        if let Ok(c) = state.app.conversation(&viewer.principal, number).await {
            rows.push(Drilled {
                number,
                subject: c.subject,
                href: format!("/app/conversations/{number}"),
            });
        }
    }
    let page = DrillPage {
        layout: Layout::signed_in(record.definition.name, "app", &viewer, ""),
        name: record.definition.name.to_string(),
        key,
        period_label: format!("the last {days} days"),
        rows,
    };
    Ok(Html(page.render().map_err(PageError::from)?).into_response())
}
