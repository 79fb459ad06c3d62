//! The team lead's view (`/app/team`): the queues now, the conversations whose SLA breach is
//! at risk and each agent's load, every number a link to the conversations behind it. The
//! page follows the live stream (a change re-renders the marked regions) and re-renders
//! itself every minute, because time alone brings breaches closer. `app::App::team_view`
//! decides who may see it and what.

use app::TeamList;
use askama::Template;
use axum::extract::{RawQuery, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use web::AppState;

use crate::error::{PageError, PageResult};
use crate::form::{link, Form};
use crate::session::Viewer;
use crate::Layout;

/// A number with the list behind it.
struct Count {
    n: i64,
    href: String,
}

fn count(n: i64, path: &str, pairs: &[(&str, &str)]) -> Count {
    Count {
        n,
        href: link(path, pairs),
    }
}

struct QueueLine {
    name: String,
    new: Count,
    open: Count,
    pending: Count,
    on_hold: Count,
    unassigned: Count,
    total: Count,
}

struct RiskLine {
    number: i64,
    subject: String,
    href: String,
    metric: String,
    breach: String,
    breach_iso: String,
    left: String,
    warned: bool,
    assignee: String,
}

struct AgentLine {
    name: String,
    open: Count,
    pending: Count,
    solved_today: Count,
    oldest: String,
    oldest_href: String,
}

#[derive(Template)]
#[template(path = "team.html")]
struct TeamPage {
    layout: Layout,
    as_of: String,
    queues: Vec<QueueLine>,
    risks: Vec<RiskLine>,
    risks_href: String,
    agents: Vec<AgentLine>,
}

/// "in 42 min", "in 3.5 h", or "overdue".
fn left_text(millis: i64) -> String {
    if millis <= 0 {
        "due now".into()
    } else if millis < 90 * 60_000 {
        format!("in {} min", (millis + 59_999) / 60_000)
    } else {
        format!("in {:.1} h", millis as f64 / 3_600_000.0)
    }
}

fn metric_label(metric: Option<domain::SlaMetric>) -> &'static str {
    match metric {
        Some(domain::SlaMetric::FirstReply) => "First reply",
        Some(domain::SlaMetric::NextReply) => "Next reply",
        Some(domain::SlaMetric::PeriodicUpdate) => "Periodic update",
        Some(domain::SlaMetric::Resolution) => "Resolution",
        None => "SLA",
    }
}

pub(crate) async fn page(State(state): State<AppState>, viewer: Viewer) -> PageResult<Response> {
    if viewer.is_customer() {
        return Ok(Redirect::to("/portal").into_response());
    }
    let now = state.now();
    // Where the log stands before anything is read: the live stream resumes there.
    let since = state.app.live_head().await?;
    let view = state.app.team_view(&viewer.principal, now).await?;
    let names: std::collections::HashMap<i64, String> = state
        .app
        .agents(&viewer.principal)
        .await?
        .into_iter()
        .map(|a| (a.id, a.name))
        .collect();
    let queues = view
        .queues
        .iter()
        .map(|q| {
            let group = q
                .group_id
                .map(|g| g.to_string())
                .unwrap_or_else(|| "none".into());
            let g = group.as_str();
            QueueLine {
                name: q.name.clone(),
                new: count(q.new, "/app", &[("status", "new"), ("group", g)]),
                open: count(q.open, "/app", &[("status", "open"), ("group", g)]),
                pending: count(q.pending, "/app", &[("status", "pending"), ("group", g)]),
                on_hold: count(q.on_hold, "/app", &[("status", "on_hold"), ("group", g)]),
                unassigned: count(
                    q.unassigned,
                    "/app",
                    &[("status", "unsolved"), ("group", g), ("assignee", "none")],
                ),
                total: count(
                    q.new + q.open + q.pending + q.on_hold,
                    "/app",
                    &[("status", "unsolved"), ("group", g)],
                ),
            }
        })
        .collect();
    let risks = view
        .at_risk
        .iter()
        .map(|r| RiskLine {
            number: r.number,
            subject: r.subject.clone(),
            href: format!("/app/conversations/{}", r.number),
            metric: metric_label(r.metric).to_string(),
            breach: crate::format::time(r.breach_at),
            breach_iso: crate::format::iso(r.breach_at),
            left: left_text(r.breach_at - now),
            warned: r.warned,
            assignee: r
                .assignee_id
                .map(|a| {
                    names
                        .get(&a)
                        .cloned()
                        .unwrap_or_else(|| format!("Agent {a}"))
                })
                .unwrap_or_else(|| "Unassigned".into()),
        })
        .collect();
    let agents = view
        .agents
        .iter()
        .map(|a| {
            let id = a.agent_id.to_string();
            let id = id.as_str();
            AgentLine {
                name: a.name.clone(),
                open: count(
                    a.open,
                    "/app",
                    &[("status", "new,open,on_hold"), ("assignee", id)],
                ),
                pending: count(
                    a.pending,
                    "/app",
                    &[("status", "pending"), ("assignee", id)],
                ),
                solved_today: count(
                    a.solved_today,
                    "/app/team/conversations",
                    &[("show", "solved_today"), ("agent", id)],
                ),
                oldest: a
                    .oldest_open
                    .map(|(n, at)| format!("#{n}, since {}", crate::format::time(at)))
                    .unwrap_or_else(|| "–".into()),
                oldest_href: a
                    .oldest_open
                    .map(|(n, _)| format!("/app/conversations/{n}"))
                    .unwrap_or_default(),
            }
        })
        .collect();
    let page = TeamPage {
        layout: Layout::signed_in("Team", "app", &viewer, "").with_live(since),
        as_of: crate::format::time(now),
        queues,
        risks,
        risks_href: link("/app/team/conversations", &[("show", "at_risk")]),
        agents,
    };
    Ok(Html(page.render().map_err(PageError::from)?).into_response())
}

struct Drilled {
    number: i64,
    subject: String,
    href: String,
}

#[derive(Template)]
#[template(path = "team_drill.html")]
struct DrillPage {
    layout: Layout,
    heading: String,
    rows: Vec<Drilled>,
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
    let (list, heading) = match form.get("show") {
        Some("at_risk") => (
            TeamList::AtRisk,
            "Conversations at risk of an SLA breach".to_string(),
        ),
        Some("solved_today") => {
            let agent = form
                .get("agent")
                .and_then(|a| a.parse::<i64>().ok())
                .ok_or_else(|| PageError::Invalid("agent must be an agent's number".into()))?;
            (
                TeamList::SolvedToday { agent },
                format!("Solved today by agent {agent}"),
            )
        }
        _ => {
            return Err(PageError::Invalid(
                "show must be at_risk or solved_today".into(),
            ))
        }
    };
    let now = state.now();
    let numbers = state
        .app
        .team_conversations(&viewer.principal, list, 200, now)
        .await?;
    let heading = match list {
        TeamList::SolvedToday { agent } => state
            .app
            .agents(&viewer.principal)
            .await?
            .into_iter()
            .find(|a| a.id == agent)
            .map(|a| format!("Solved today by {}", a.name))
            .unwrap_or(heading),
        TeamList::AtRisk => heading,
    };
    let mut rows = Vec::with_capacity(numbers.len());
    for number in numbers {
        if let Ok(c) = state.app.conversation(&viewer.principal, number).await {
            rows.push(Drilled {
                number,
                subject: c.subject,
                href: format!("/app/conversations/{number}"),
            });
        }
    }
    let page = DrillPage {
        layout: Layout::signed_in(&heading, "app", &viewer, ""),
        heading,
        rows,
    };
    Ok(Html(page.render().map_err(PageError::from)?).into_response())
}
