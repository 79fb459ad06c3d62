//! The process map for managers (`/app/process`): the map of Rapport's own log as inline SVG,
//! with the simplification sliders and filters as a plain GET form, the variants, and the
//! bottleneck, rework and ping-pong tables, each row linking to the conversations behind it
//! (`/app/process/conversations`). Everything is computed in `app` (`App::process_map`), which
//! checks that the viewer manages.

use app::{OrgDimension, ProcessDrill, ProcessQuery};
use askama::Template;
use axum::extract::{RawQuery, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use web::AppState;

use crate::dashboard::show;
use crate::error::{PageError, PageResult};
use crate::form::{link, Form};
use crate::session::Viewer;
use crate::workspace::{choice, Choice};
use crate::Layout;

const DAY: i64 = 86_400_000;
/// The sliders' starting positions (percent): every activity, the stronger half of the edges.
const DEFAULT_ACTIVITIES: u32 = 100;
const DEFAULT_EDGES: u32 = 50;

/// The page's form, as typed (percentages and dates), and the query it means.
struct Filters {
    activities: u32,
    edges: u32,
    coverage: u32,
    from: String,
    to: String,
    group: String,
    by: &'static str,
    labels: &'static str,
    query: ProcessQuery,
}

fn percent(form: &Form, name: &str, default: u32) -> PageResult<u32> {
    match form.get(name) {
        None => Ok(default),
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|p| *p <= 100)
            .ok_or_else(|| {
                PageError::Invalid(format!(
                    "{name} must be a percentage from 0 to 100, got {text:?}"
                ))
            }),
    }
}

/// The start of a `YYYY-MM-DD` day (UTC), in ms.
fn day_start(text: &str, name: &str) -> PageResult<i64> {
    text.parse::<jiff::civil::Date>()
        .ok()
        .and_then(|d| d.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .map(|z| z.timestamp().as_millisecond())
        .ok_or_else(|| {
            PageError::Invalid(format!("{name} must be a date (YYYY-MM-DD), got {text:?}"))
        })
}

fn filters_of(form: &Form) -> PageResult<Filters> {
    let activities = percent(form, "activities", DEFAULT_ACTIVITIES)?;
    let edges = percent(form, "edges", DEFAULT_EDGES)?;
    let coverage = percent(form, "coverage", 100)?;
    let from = form.get("from").unwrap_or_default().to_string();
    let to = form.get("to").unwrap_or_default().to_string();
    let from_ms = (!from.is_empty())
        .then(|| day_start(&from, "from"))
        .transpose()?;
    // `to` is the last day shown, included.
    let to_ms = (!to.is_empty())
        .then(|| day_start(&to, "to").map(|start| start + DAY))
        .transpose()?;
    let group = form.get("group").unwrap_or_default().to_string();
    let group_id = (!group.is_empty())
        .then(|| {
            group.parse::<i64>().map_err(|_| {
                PageError::Invalid(format!("group must be a group's id, got {group:?}"))
            })
        })
        .transpose()?;
    let (by, dimension) = match form.get("by") {
        None | Some("group") => ("group", OrgDimension::Group),
        Some("agent") => ("agent", OrgDimension::Resource),
        Some(other) => {
            return Err(PageError::Invalid(format!(
                "ping-pong is between groups or agents (by=group or by=agent), got {other:?}"
            )))
        }
    };
    let labels = match form.get("labels") {
        None | Some("count") => "count",
        Some("wait") => "wait",
        Some(other) => {
            return Err(PageError::Invalid(format!(
                "edge labels are count or wait, got {other:?}"
            )))
        }
    };
    Ok(Filters {
        activities,
        edges,
        coverage,
        query: ProcessQuery {
            activities: f64::from(activities) / 100.0,
            edges: f64::from(edges) / 100.0,
            coverage: f64::from(coverage) / 100.0,
            from: from_ms,
            to: to_ms,
            group: group_id,
            ping_pong_by: dimension,
            wait_labels: labels == "wait",
        },
        from,
        to,
        group,
        by,
        labels,
    })
}

impl Filters {
    /// The form's values as URL pairs, so links keep the page's filters.
    fn pairs(&self) -> Vec<(&'static str, String)> {
        vec![
            ("activities", self.activities.to_string()),
            ("edges", self.edges.to_string()),
            ("coverage", self.coverage.to_string()),
            ("from", self.from.clone()),
            ("to", self.to.clone()),
            ("group", self.group.clone()),
            ("by", self.by.to_string()),
            ("labels", self.labels.to_string()),
        ]
    }

    fn link_with(&self, path: &str, extra: &[(&'static str, &str)]) -> String {
        let mut pairs = self.pairs();
        pairs.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        let borrowed: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        link(path, &borrowed)
    }
}

struct VariantLine {
    rank: usize,
    path: String,
    count: u64,
    share: String,
    href: String,
}

struct EdgeLine {
    from: String,
    to: String,
    count: u64,
    total: String,
    median: String,
    p90: String,
    href: String,
}

struct ReworkLine {
    activity: String,
    cases: u64,
    repeats: u64,
    href: String,
}

struct PingPongLine {
    first: String,
    second: String,
    occurrences: u64,
    cases: u64,
    href: String,
}

#[derive(Template)]
#[template(path = "process.html")]
struct ProcessPage {
    layout: Layout,
    activities: u32,
    edges: u32,
    coverage: u32,
    from: String,
    to: String,
    groups: Vec<Choice>,
    by: Vec<Choice>,
    labels: Vec<Choice>,
    summary: String,
    read_at: String,
    svg: String,
    variants: Vec<VariantLine>,
    variant_count: usize,
    by_total: Vec<EdgeLine>,
    by_median: Vec<EdgeLine>,
    median_min_count: u64,
    rework: Vec<ReworkLine>,
    ping_pong: Vec<PingPongLine>,
    ping_pong_of: &'static str,
}

fn edge_lines(filters: &Filters, rows: &[app::EdgeRow]) -> Vec<EdgeLine> {
    rows.iter()
        .map(|e| EdgeLine {
            from: e.from.clone(),
            to: e.to.clone(),
            count: e.count,
            total: show(Some(e.total_seconds), "seconds"),
            median: show(e.median_seconds, "seconds"),
            p90: show(e.p90_seconds, "seconds"),
            href: filters.link_with(
                "/app/process/conversations",
                &[("edge_from", &e.from), ("edge_to", &e.to)],
            ),
        })
        .collect()
}

pub(crate) async fn page(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    if viewer.is_customer() {
        return Ok(Redirect::to("/portal").into_response());
    }
    let filters = filters_of(&Form::from_query(raw.as_deref()))?;
    let map = state
        .app
        .process_map(&viewer.principal, &filters.query, state.now())
        .await?;
    let groups = state.app.groups(&viewer.principal).await?;
    let mut group_choices = vec![choice("", "Every group", filters.group.is_empty())];
    group_choices.extend(groups.iter().map(|g| {
        let id = g.id.to_string();
        let selected = id == filters.group;
        choice(id, g.name.clone(), selected)
    }));
    let drill = "/app/process/conversations";
    let page = ProcessPage {
        layout: Layout::signed_in("Process map", "app", &viewer, ""),
        activities: filters.activities,
        edges: filters.edges,
        coverage: filters.coverage,
        from: filters.from.clone(),
        to: filters.to.clone(),
        groups: group_choices,
        by: vec![
            choice("group", "groups", filters.by == "group"),
            choice("agent", "agents", filters.by == "agent"),
        ],
        labels: vec![
            choice("count", "how often", filters.labels == "count"),
            choice("wait", "median wait", filters.labels == "wait"),
        ],
        summary: format!(
            "{} of {} conversations, {} steps",
            map.cases, map.all_cases, map.events
        ),
        read_at: crate::format::time(map.read_at),
        svg: map.svg.clone(),
        variants: map
            .variants
            .iter()
            .map(|v| VariantLine {
                rank: v.index + 1,
                path: v.activities.join(" → "),
                count: v.count,
                share: format!("{:.1}%", v.share * 100.0),
                href: filters.link_with(drill, &[("variant", &v.index.to_string())]),
            })
            .collect(),
        variant_count: map.variant_count,
        by_total: edge_lines(&filters, &map.bottlenecks_by_total),
        by_median: edge_lines(&filters, &map.bottlenecks_by_median),
        median_min_count: app::MEDIAN_MIN_COUNT,
        rework: map
            .rework
            .iter()
            .map(|r| ReworkLine {
                activity: r.activity.clone(),
                cases: r.cases,
                repeats: r.repeats,
                href: filters.link_with(drill, &[("rework", &r.activity)]),
            })
            .collect(),
        ping_pong: map
            .ping_pong
            .iter()
            .map(|p| PingPongLine {
                first: p.first.clone(),
                second: p.second.clone(),
                occurrences: p.occurrences,
                cases: p.cases,
                href: filters.link_with(drill, &[("ping", &p.first), ("pong", &p.second)]),
            })
            .collect(),
        ping_pong_of: if filters.by == "agent" {
            "agents"
        } else {
            "groups"
        },
    };
    Ok(Html(page.render().map_err(PageError::from)?).into_response())
}

struct Drilled {
    number: i64,
    href: String,
}

#[derive(Template)]
#[template(path = "process_cases.html")]
struct DrillPage {
    layout: Layout,
    what: String,
    back: String,
    total: usize,
    rows: Vec<Drilled>,
    limit: usize,
}

/// The row a drill-down link names, and how the page describes it.
fn drill_of(form: &Form) -> PageResult<(ProcessDrill, String)> {
    if let Some(rank) = form.get("variant") {
        let rank = rank
            .parse::<usize>()
            .map_err(|_| PageError::Invalid(format!("variant must be a rank, got {rank:?}")))?;
        return Ok((ProcessDrill::Variant(rank), format!("variant {}", rank + 1)));
    }
    if let (Some(from), Some(to)) = (form.get("edge_from"), form.get("edge_to")) {
        return Ok((
            ProcessDrill::Edge {
                from: from.to_string(),
                to: to.to_string(),
            },
            format!("“{to}” directly after “{from}”"),
        ));
    }
    if let Some(activity) = form.get("rework") {
        return Ok((
            ProcessDrill::Rework {
                activity: activity.to_string(),
            },
            format!("“{activity}” more than once"),
        ));
    }
    if let (Some(first), Some(second)) = (form.get("ping"), form.get("pong")) {
        return Ok((
            ProcessDrill::PingPong {
                first: first.to_string(),
                second: second.to_string(),
            },
            format!("work went {first} → {second} → {first}"),
        ));
    }
    Err(PageError::Invalid(
        "say which row: variant, edge_from and edge_to, rework, or ping and pong".into(),
    ))
}

pub(crate) async fn drill(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(raw): RawQuery,
) -> PageResult<Response> {
    if viewer.is_customer() {
        return Ok(Redirect::to("/portal").into_response());
    }
    let form = Form::from_query(raw.as_deref());
    let filters = filters_of(&form)?;
    let (row, what) = drill_of(&form)?;
    let found = state
        .app
        .process_cases(&viewer.principal, &filters.query, &row, state.now())
        .await?;
    let page = DrillPage {
        layout: Layout::signed_in("Process map: conversations", "app", &viewer, ""),
        what,
        back: filters.link_with("/app/process", &[]),
        total: found.total,
        rows: found
            .numbers
            .iter()
            .map(|&number| Drilled {
                number,
                href: format!("/app/conversations/{number}"),
            })
            .collect(),
        limit: app::PROCESS_DRILL_LIMIT,
    };
    Ok(Html(page.render().map_err(PageError::from)?).into_response())
}
