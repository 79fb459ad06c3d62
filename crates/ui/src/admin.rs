//! Administration pages under `/app/admin`: users (agents and their roles), groups and
//! their members, mailboxes (address → group, acknowledgement), business calendars and SLA
//! policies. Every page and form calls a use case that checks that the viewer administers
//! (`App::admin_agents`, `App::sla_policies`, …), so anyone else gets the 403 page.
//!
//! A form that the use case refuses is shown again with what was typed and the reason
//! beside the field it concerns (422), focused; every form carries the CSRF token.

use app::{AppError, CalendarInput, MailboxInput, PolicyInput};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use domain::{Channel, Principal, Priority, Role, SlaBasis, SlaMetric};
use web::AppState;

use crate::error::{PageError, PageResult};
use crate::form::Form;
use crate::session::Viewer;
use crate::workspace::{choice, Choice};
use crate::Layout;

/// What a form holds when shown again: the values typed and an error per field.
#[derive(Default)]
pub(crate) struct Fields {
    values: Vec<(String, String)>,
    errors: Vec<(String, String)>,
}

impl Fields {
    fn typed(form: &Form, names: &[&str]) -> Fields {
        Fields {
            values: names
                .iter()
                .map(|n| (n.to_string(), form.raw(n).to_string()))
                .collect(),
            errors: Vec::new(),
        }
    }

    fn with(mut self, name: &str, value: impl Into<String>) -> Fields {
        self.values.retain(|(k, _)| k != name);
        self.values.push((name.to_string(), value.into()));
        self
    }

    fn error(mut self, name: &str, message: impl Into<String>) -> Fields {
        self.errors.push((name.to_string(), message.into()));
        self
    }

    pub(crate) fn value(&self, name: &str) -> &str {
        self.values
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    pub(crate) fn message(&self, name: &str) -> &str {
        self.errors
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    pub(crate) fn invalid(&self, name: &str) -> bool {
        self.errors.iter().any(|(k, _)| k == name)
    }

    /// The first field in error gets the focus.
    pub(crate) fn focus(&self, name: &str) -> bool {
        self.errors.first().is_some_and(|(k, _)| k == name)
    }

    pub(crate) fn checked(&self, name: &str) -> bool {
        matches!(self.value(name), "on" | "true" | "1")
    }

    fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }
}

/// A refused form: the error beside `field`, or the whole page's error otherwise.
fn refused(
    err: AppError,
    fields: Fields,
    field: impl Fn(&str) -> &'static str,
) -> PageResult<Fields> {
    match err {
        AppError::Invalid(message) | AppError::Conflict(message) => {
            let name = field(&message);
            Ok(fields.error(name, message))
        }
        other => Err(other.into()),
    }
}

fn status_for(fields: &Fields) -> StatusCode {
    if fields.has_errors() {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    }
}

fn notice(query: Option<&str>) -> String {
    let form = Form::from_query(query);
    match form.get("done") {
        Some("created") => "Created.".into(),
        Some("saved") => "Saved.".into(),
        Some("deactivated") => "Deactivated: they can no longer sign in.".into(),
        Some("deleted") => "Deleted.".into(),
        _ => String::new(),
    }
}

fn parse_id(text: &str) -> PageResult<i64> {
    text.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(PageError::NotFound)
}

fn layout(title: &str, viewer: &Viewer) -> Layout {
    Layout::signed_in(title, "app", viewer, "")
}

fn html(status: StatusCode, page: impl Template) -> PageResult<Response> {
    Ok((status, Html(page.render()?)).into_response())
}

/// A list page (200): its frame titled `title` and the notice of the change that led here.
fn list_page<P: Template>(
    title: &str,
    viewer: &Viewer,
    query: Option<String>,
    page: impl FnOnce(Layout, String) -> P,
) -> PageResult<Response> {
    let frame = layout(title, viewer);
    html(StatusCode::OK, page(frame, notice(query.as_deref())))
}

/// The name of the entry whose id is `id` among `entries`, or nothing when there is none.
fn name_among<T>(
    entries: &[T],
    id: Option<i64>,
    id_and_name: impl Fn(&T) -> (i64, &str),
) -> String {
    id.and_then(|id| entries.iter().map(&id_and_name).find(|(x, _)| *x == id))
        .map(|(_, name)| name.to_string())
        .unwrap_or_default()
}

// ---------------------------------------------------------------- overview

#[derive(Template)]
#[template(path = "admin_home.html")]
struct HomePage {
    layout: Layout,
    agents: usize,
    groups: usize,
    mailboxes: usize,
    calendars: usize,
    policies: usize,
}

/// `GET /app/admin`: what there is to administer.
pub(crate) async fn home(State(state): State<AppState>, viewer: Viewer) -> PageResult<Response> {
    let by = &viewer.principal;
    let page = HomePage {
        agents: state.app.admin_agents(by).await?.len(),
        groups: state.app.admin_groups(by).await?.len(),
        mailboxes: state.app.admin_mailboxes(by).await?.len(),
        calendars: state.app.sla_calendars(by).await?.len(),
        policies: state.app.sla_policies(by).await?.len(),
        layout: layout("Administration", &viewer),
    };
    html(StatusCode::OK, page)
}

// ---------------------------------------------------------------- users

struct UserLine {
    id: i64,
    name: String,
    email: String,
    roles: Vec<Choice>,
    role: &'static str,
    active: bool,
    groups: String,
    is_me: bool,
}

#[derive(Template)]
#[template(path = "admin_users.html")]
struct UsersPage {
    layout: Layout,
    users: Vec<UserLine>,
    roles: Vec<Choice>,
    groups: Vec<Choice>,
    f: Fields,
    notice: String,
}

fn role_label(role: Role) -> &'static str {
    match role {
        Role::Agent => "Agent",
        Role::Lead => "Lead",
        Role::Manager => "Manager",
        Role::Admin => "Administrator",
    }
}

async fn users_page(
    state: &AppState,
    viewer: &Viewer,
    f: Fields,
    notice: String,
) -> PageResult<Response> {
    let by = &viewer.principal;
    let agents = state.app.admin_agents(by).await?;
    let groups = state.app.admin_groups(by).await?;
    let me = match by {
        Principal::Agent { id, .. } => Some(*id),
        _ => None,
    };
    let users = agents
        .into_iter()
        .map(|a| UserLine {
            roles: Role::ALL
                .iter()
                .map(|r| choice(r.as_str(), role_label(*r), *r == a.role))
                .collect(),
            role: role_label(a.role),
            groups: groups
                .iter()
                .filter(|g| a.groups.contains(&g.id))
                .map(|g| g.name.clone())
                .collect::<Vec<_>>()
                .join(", "),
            is_me: Some(a.id) == me,
            id: a.id,
            name: a.name,
            email: a.email,
            active: a.active,
        })
        .collect();
    let chosen_role = match f.value("role") {
        "" => "agent",
        r => r,
    };
    let chosen_groups: Vec<&str> = f.value("groups").split(',').collect();
    let page = UsersPage {
        layout: layout("Users", viewer),
        users,
        roles: Role::ALL
            .iter()
            .map(|r| choice(r.as_str(), role_label(*r), r.as_str() == chosen_role))
            .collect(),
        groups: groups
            .iter()
            .map(|g| {
                let id = g.id.to_string();
                let selected = chosen_groups.contains(&id.as_str());
                choice(id, g.name.clone(), selected)
            })
            .collect(),
        notice,
        f,
    };
    let status = status_for(&page.f);
    html(status, page)
}

/// `GET /app/admin/users`.
pub(crate) async fn users(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(query): RawQuery,
) -> PageResult<Response> {
    users_page(&state, &viewer, Fields::default(), notice(query.as_deref())).await
}

/// `POST /app/admin/users`: adds an agent with a role, a first password and groups.
pub(crate) async fn create_user(
    State(state): State<AppState>,
    viewer: Viewer,
    body: Bytes,
) -> PageResult<Response> {
    let form = Form::from_body(&body);
    viewer.check_csrf(&form)?;
    let group_ids: Vec<String> = form.all("groups").map(String::from).collect();
    // The password is never sent back to the browser.
    let mut f =
        Fields::typed(&form, &["email", "name", "role"]).with("groups", group_ids.join(","));
    let role = Role::parse(form.raw("role"));
    if form.get("email").is_none() {
        f = f.error("email", "Enter the agent's e-mail address.");
    }
    if role.is_none() {
        f = f.error("role", "Choose a role.");
    }
    let password = form.raw("password");
    if password.chars().count() < 12 {
        f = f.error("password", "Use a password of at least 12 characters.");
    }
    let names: Vec<String> = {
        let groups = state.app.admin_groups(&viewer.principal).await?;
        group_ids
            .iter()
            .filter_map(|id| groups.iter().find(|g| g.id.to_string() == *id))
            .map(|g| g.name.clone())
            .collect()
    };
    if f.has_errors() {
        return users_page(&state, &viewer, f, String::new()).await;
    }
    let result = state
        .app
        .add_agent(
            &viewer.principal,
            form.raw("email"),
            form.raw("name"),
            role.unwrap_or(Role::Agent),
            password,
            &names,
            state.now(),
        )
        .await;
    match result {
        Ok(_) => Ok(Redirect::to("/app/admin/users?done=created").into_response()),
        Err(e) => {
            let f = refused(e, f, |m| {
                if m.contains("password") {
                    "password"
                } else {
                    "email"
                }
            })?;
            users_page(&state, &viewer, f, String::new()).await
        }
    }
}

/// `POST /app/admin/users/{id}/role`.
pub(crate) async fn set_role(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    body: Bytes,
) -> PageResult<Response> {
    let id = parse_id(&id)?;
    let form = Form::from_body(&body);
    viewer.check_csrf(&form)?;
    let role = Role::parse(form.raw("role"))
        .ok_or_else(|| PageError::Invalid(format!("{:?} is not a role", form.raw("role"))))?;
    state
        .app
        .set_agent_role(&viewer.principal, id, role, state.now())
        .await?;
    Ok(Redirect::to("/app/admin/users?done=saved").into_response())
}

/// `POST /app/admin/users/{id}/deactivate`.
pub(crate) async fn deactivate(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    body: Bytes,
) -> PageResult<Response> {
    let id = parse_id(&id)?;
    let form = Form::from_body(&body);
    viewer.check_csrf(&form)?;
    state
        .app
        .deactivate_agent(&viewer.principal, id, state.now())
        .await?;
    Ok(Redirect::to("/app/admin/users?done=deactivated").into_response())
}

// ---------------------------------------------------------------- groups

struct Member {
    id: i64,
    name: String,
}

struct GroupLine {
    id: i64,
    name: String,
    members: Vec<Member>,
    candidates: Vec<Choice>,
}

#[derive(Template)]
#[template(path = "admin_groups.html")]
struct GroupsPage {
    layout: Layout,
    groups: Vec<GroupLine>,
    f: Fields,
    notice: String,
}

async fn groups_page(
    state: &AppState,
    viewer: &Viewer,
    f: Fields,
    notice: String,
) -> PageResult<Response> {
    let by = &viewer.principal;
    let agents = state.app.admin_agents(by).await?;
    let name_of = |id: i64| {
        agents
            .iter()
            .find(|a| a.id == id)
            .map(|a| format!("{} <{}>", a.name, a.email))
            .unwrap_or_else(|| format!("agent {id}"))
    };
    let groups = state
        .app
        .admin_groups(by)
        .await?
        .into_iter()
        .map(|g| GroupLine {
            members: g
                .members
                .iter()
                .map(|m| Member {
                    id: *m,
                    name: name_of(*m),
                })
                .collect(),
            candidates: agents
                .iter()
                .filter(|a| a.active && !g.members.contains(&a.id))
                .map(|a| choice(a.id.to_string(), format!("{} <{}>", a.name, a.email), false))
                .collect(),
            id: g.id,
            name: g.name,
        })
        .collect();
    let page = GroupsPage {
        layout: layout("Groups", viewer),
        groups,
        notice,
        f,
    };
    let status = status_for(&page.f);
    html(status, page)
}

/// `GET /app/admin/groups`.
pub(crate) async fn groups(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(query): RawQuery,
) -> PageResult<Response> {
    groups_page(&state, &viewer, Fields::default(), notice(query.as_deref())).await
}

/// `POST /app/admin/groups`.
pub(crate) async fn create_group(
    State(state): State<AppState>,
    viewer: Viewer,
    body: Bytes,
) -> PageResult<Response> {
    let form = Form::from_body(&body);
    viewer.check_csrf(&form)?;
    let f = Fields::typed(&form, &["name"]);
    match state
        .app
        .add_group(&viewer.principal, form.raw("name"), state.now())
        .await
    {
        Ok(_) => Ok(Redirect::to("/app/admin/groups?done=created").into_response()),
        Err(e) => {
            let f = refused(e, f, |_| "name")?;
            groups_page(&state, &viewer, f, String::new()).await
        }
    }
}

/// `POST /app/admin/groups/{id}/members`: `agent` joins (`member=yes`) or leaves.
pub(crate) async fn membership(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    body: Bytes,
) -> PageResult<Response> {
    let group = parse_id(&id)?;
    let form = Form::from_body(&body);
    viewer.check_csrf(&form)?;
    let agent = form
        .get("agent")
        .and_then(|a| a.parse::<i64>().ok())
        .ok_or_else(|| PageError::Invalid("Choose an agent.".into()))?;
    let member = form.get("member") == Some("yes");
    state
        .app
        .set_group_member(&viewer.principal, group, agent, member, state.now())
        .await?;
    Ok(Redirect::to("/app/admin/groups?done=saved").into_response())
}

// ---------------------------------------------------------------- mailboxes

struct MailboxLine {
    id: i64,
    address: String,
    name: String,
    group: String,
    acknowledge: bool,
}

#[derive(Template)]
#[template(path = "admin_mailboxes.html")]
struct MailboxesPage {
    layout: Layout,
    mailboxes: Vec<MailboxLine>,
    notice: String,
}

/// `GET /app/admin/mailboxes`.
pub(crate) async fn mailboxes(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(query): RawQuery,
) -> PageResult<Response> {
    let by = &viewer.principal;
    let groups = state.app.admin_groups(by).await?;
    let mailboxes = state
        .app
        .admin_mailboxes(by)
        .await?
        .into_iter()
        .map(|m| MailboxLine {
            group: name_among(&groups, m.group_id, |g| (g.id, &g.name)),
            id: m.id,
            address: m.address,
            name: m.name,
            acknowledge: m.acknowledge,
        })
        .collect();
    list_page("Mailboxes", &viewer, query, |layout, notice| {
        MailboxesPage {
            layout,
            mailboxes,
            notice,
        }
    })
}

#[derive(Template)]
#[template(path = "admin_mailbox.html")]
struct MailboxPage {
    layout: Layout,
    /// 0 for a new mailbox.
    id: i64,
    address: String,
    groups: Vec<Choice>,
    f: Fields,
}

async fn mailbox_page(
    state: &AppState,
    viewer: &Viewer,
    id: i64,
    address: String,
    f: Fields,
) -> PageResult<Response> {
    let groups = state.app.admin_groups(&viewer.principal).await?;
    let chosen = f.value("group").to_string();
    let mut choices = vec![choice("", "No group", chosen.is_empty())];
    choices.extend(groups.into_iter().map(|g| {
        let value = g.id.to_string();
        let selected = value == chosen;
        choice(value, g.name, selected)
    }));
    let title = if id == 0 {
        "New mailbox".to_string()
    } else {
        format!("Mailbox {address}")
    };
    let page = MailboxPage {
        layout: layout(&title, viewer),
        id,
        address,
        groups: choices,
        f,
    };
    let status = status_for(&page.f);
    html(status, page)
}

/// `GET /app/admin/mailboxes/new` and `GET /app/admin/mailboxes/{id}`.
pub(crate) async fn mailbox(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> PageResult<Response> {
    if id == "new" {
        // Checks the viewer administers before showing an empty form.
        state.app.admin_mailboxes(&viewer.principal).await?;
        return mailbox_page(&state, &viewer, 0, String::new(), Fields::default()).await;
    }
    let id = parse_id(&id)?;
    let m = state
        .app
        .admin_mailboxes(&viewer.principal)
        .await?
        .into_iter()
        .find(|m| m.id == id)
        .ok_or(PageError::NotFound)?;
    let f = Fields::default()
        .with("name", m.name)
        .with(
            "group",
            m.group_id.map(|g| g.to_string()).unwrap_or_default(),
        )
        .with("acknowledge", if m.acknowledge { "on" } else { "" })
        .with("acknowledgement", m.acknowledgement.unwrap_or_default());
    mailbox_page(&state, &viewer, id, m.address, f).await
}

/// `POST /app/admin/mailboxes/new` and `POST /app/admin/mailboxes/{id}`.
pub(crate) async fn save_mailbox(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    body: Bytes,
) -> PageResult<Response> {
    let form = Form::from_body(&body);
    viewer.check_csrf(&form)?;
    let by = &viewer.principal;
    let f = Fields::typed(
        &form,
        &["address", "name", "group", "acknowledge", "acknowledgement"],
    );
    let group_id = match form.get("group") {
        None => None,
        Some(g) => Some(
            g.parse::<i64>()
                .map_err(|_| PageError::Invalid(format!("{g:?} is not a group")))?,
        ),
    };
    let input = MailboxInput {
        name: form.raw("name").to_string(),
        group_id,
        acknowledge: f.checked("acknowledge"),
        acknowledgement: form.raw("acknowledgement").to_string(),
    };
    let now = state.now();
    if id == "new" {
        let created = state
            .app
            .add_mailbox_with(by, form.raw("address"), input, now)
            .await
            .map(|_| ());
        return match created {
            Ok(()) => Ok(Redirect::to("/app/admin/mailboxes?done=created").into_response()),
            Err(e) => {
                let f = refused(e, f, |m| {
                    if m.contains("acknowledgement") {
                        "acknowledgement"
                    } else if m.contains("group") {
                        "group"
                    } else {
                        "address"
                    }
                })?;
                mailbox_page(&state, &viewer, 0, String::new(), f).await
            }
        };
    }
    let id = parse_id(&id)?;
    match state.app.update_mailbox(by, id, input, now).await {
        Ok(_) => Ok(Redirect::to("/app/admin/mailboxes?done=saved").into_response()),
        Err(e) => {
            let address = state
                .app
                .admin_mailboxes(by)
                .await?
                .into_iter()
                .find(|m| m.id == id)
                .map(|m| m.address)
                .unwrap_or_default();
            let f = refused(e, f, |m| {
                if m.contains("group") {
                    "group"
                } else {
                    "acknowledgement"
                }
            })?;
            mailbox_page(&state, &viewer, id, address, f).await
        }
    }
}

// ---------------------------------------------------------------- calendars and policies

struct CalendarLine {
    id: i64,
    name: String,
    time_zone: String,
    hours: String,
}

struct PolicyLine {
    id: i64,
    position: i64,
    name: String,
    calendar: String,
    targets: usize,
}

#[derive(Template)]
#[template(path = "admin_sla.html")]
struct SlaPage {
    layout: Layout,
    calendars: Vec<CalendarLine>,
    policies: Vec<PolicyLine>,
    notice: String,
}

/// `GET /app/admin/sla`: the business calendars and the SLA policies in match order.
pub(crate) async fn sla(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(query): RawQuery,
) -> PageResult<Response> {
    let by = &viewer.principal;
    let calendars = state.app.sla_calendars(by).await?;
    let policies = state
        .app
        .sla_policies(by)
        .await?
        .into_iter()
        .map(|p| PolicyLine {
            calendar: name_among(&calendars, p.calendar_id, |c| (c.id, &c.name)),
            id: p.id,
            position: p.position,
            name: p.name,
            targets: p.targets.len(),
        })
        .collect();
    let calendars = calendars
        .into_iter()
        .map(|c| CalendarLine {
            id: c.id,
            name: c.name,
            time_zone: c.time_zone,
            hours: c.hours,
        })
        .collect();
    list_page("Service levels", &viewer, query, |layout, notice| SlaPage {
        layout,
        calendars,
        policies,
        notice,
    })
}

#[derive(Template)]
#[template(path = "admin_calendar.html")]
struct CalendarPage {
    layout: Layout,
    id: i64,
    f: Fields,
}

fn calendar_page(viewer: &Viewer, id: i64, f: Fields) -> PageResult<Response> {
    let title = if id == 0 {
        "New business calendar".to_string()
    } else {
        format!("Business calendar {}", f.value("name"))
    };
    let page = CalendarPage {
        layout: layout(&title, viewer),
        id,
        f,
    };
    let status = status_for(&page.f);
    html(status, page)
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect()
}

/// `GET /app/admin/calendars/new` and `GET /app/admin/calendars/{id}`.
pub(crate) async fn calendar(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> PageResult<Response> {
    let calendars = state.app.sla_calendars(&viewer.principal).await?;
    if id == "new" {
        let f = Fields::default()
            .with("time_zone", "UTC")
            .with("hours", "mon-fri 09:00-17:00");
        return calendar_page(&viewer, 0, f);
    }
    let id = parse_id(&id)?;
    let c = calendars
        .into_iter()
        .find(|c| c.id == id)
        .ok_or(PageError::NotFound)?;
    let f = Fields::default()
        .with("name", c.name)
        .with("time_zone", c.time_zone)
        .with("hours", c.hours)
        .with("holidays", c.holidays.join("\n"))
        .with("exceptions", c.exceptions.join("\n"));
    calendar_page(&viewer, id, f)
}

/// `POST /app/admin/calendars/new` and `POST /app/admin/calendars/{id}`.
pub(crate) async fn save_calendar(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    body: Bytes,
) -> PageResult<Response> {
    let form = Form::from_body(&body);
    viewer.check_csrf(&form)?;
    let f = Fields::typed(
        &form,
        &["name", "time_zone", "hours", "holidays", "exceptions"],
    );
    let input = CalendarInput {
        name: form.raw("name").trim().to_string(),
        time_zone: form.raw("time_zone").trim().to_string(),
        hours: form.raw("hours").trim().to_string(),
        holidays: lines(form.raw("holidays")),
        exceptions: lines(form.raw("exceptions")),
    };
    let (id, result) = if id == "new" {
        (
            0,
            state
                .app
                .add_sla_calendar(&viewer.principal, input, state.now())
                .await
                .map(|_| ()),
        )
    } else {
        let id = parse_id(&id)?;
        (
            id,
            state
                .app
                .update_sla_calendar(&viewer.principal, id, input, state.now())
                .await
                .map(|_| ()),
        )
    };
    match result {
        Ok(()) => Ok(Redirect::to("/app/admin/sla?done=saved").into_response()),
        Err(e) => {
            let f = refused(e, f, calendar_field)?;
            calendar_page(&viewer, id, f)
        }
    }
}

/// Which field of the calendar form an error is about.
fn calendar_field(message: &str) -> &'static str {
    let m = message.to_lowercase();
    if m.contains("needs a name") || m.contains("unique") || m.contains("already") {
        "name"
    } else if m.contains("zone") {
        "time_zone"
    } else if m.contains("holiday") {
        "holidays"
    } else if m.contains("exception") {
        "exceptions"
    } else {
        "hours"
    }
}

#[derive(Template)]
#[template(path = "admin_policy.html")]
struct PolicyPage {
    layout: Layout,
    id: i64,
    calendars: Vec<Choice>,
    groups: Vec<Choice>,
    priorities: Vec<Choice>,
    channels: Vec<Choice>,
    organisations: Vec<Choice>,
    f: Fields,
}

fn metric_text(metric: SlaMetric) -> &'static str {
    match metric {
        SlaMetric::FirstReply => "first_reply",
        SlaMetric::NextReply => "next_reply",
        SlaMetric::PeriodicUpdate => "periodic_update",
        SlaMetric::Resolution => "resolution",
    }
}

/// Targets as the form writes them, one a line: `first_reply high 30 calendar`.
fn targets_text(targets: &[sla::TargetRule]) -> String {
    targets
        .iter()
        .map(|t| {
            format!(
                "{} {} {} {}",
                metric_text(t.metric),
                t.priority.as_str(),
                t.minutes,
                t.basis.as_str()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn parse_targets(text: &str) -> Result<Vec<sla::TargetRule>, String> {
    let mut targets = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words.is_empty() {
            continue;
        }
        let bad = |why: &str| {
            format!("line {}: {why} (write: metric priority minutes basis, e.g. first_reply normal 60 business)", n + 1)
        };
        let [metric, priority, minutes, basis] = words[..] else {
            return Err(bad("four words expected"));
        };
        let metric = [
            SlaMetric::FirstReply,
            SlaMetric::NextReply,
            SlaMetric::PeriodicUpdate,
            SlaMetric::Resolution,
        ]
        .into_iter()
        .find(|m| metric_text(*m) == metric)
        .ok_or_else(|| {
            bad(&format!(
                "{metric:?} is not first_reply, next_reply, periodic_update or resolution"
            ))
        })?;
        let priority = Priority::parse(priority)
            .ok_or_else(|| bad(&format!("{priority:?} is not low, normal, high or urgent")))?;
        let minutes = minutes
            .parse::<u32>()
            .map_err(|_| bad(&format!("{minutes:?} is not a number of minutes")))?;
        let basis = match basis {
            "business" => SlaBasis::Business,
            "calendar" => SlaBasis::Calendar,
            other => return Err(bad(&format!("{other:?} is not business or calendar"))),
        };
        targets.push(sla::TargetRule {
            metric,
            priority,
            minutes,
            basis,
        });
    }
    if targets.is_empty() {
        return Err("a policy needs at least one target".into());
    }
    Ok(targets)
}

async fn policy_page(
    state: &AppState,
    viewer: &Viewer,
    id: i64,
    f: Fields,
) -> PageResult<Response> {
    let by = &viewer.principal;
    let calendars = state.app.sla_calendars(by).await?;
    let groups = state.app.admin_groups(by).await?;
    let organisations = state.app.sla_organisations(by).await?;
    let listed = |name: &str, value: &str| f.value(name).split(',').any(|v| v == value);
    let mut calendar_choices = vec![choice(
        "",
        "None (calendar time only)",
        f.value("calendar").is_empty(),
    )];
    calendar_choices.extend(calendars.into_iter().map(|c| {
        let value = c.id.to_string();
        let selected = f.value("calendar") == value;
        choice(value, c.name, selected)
    }));
    let title = if id == 0 {
        "New SLA policy".to_string()
    } else {
        format!("SLA policy {}", f.value("name"))
    };
    let page = PolicyPage {
        layout: layout(&title, viewer),
        id,
        calendars: calendar_choices,
        groups: groups
            .into_iter()
            .map(|g| {
                let value = g.id.to_string();
                let selected = listed("groups", &value);
                choice(value, g.name, selected)
            })
            .collect(),
        priorities: Priority::ALL
            .iter()
            .map(|p| choice(p.as_str(), p.as_str(), listed("priorities", p.as_str())))
            .collect(),
        channels: Channel::ALL
            .iter()
            .map(|c| choice(c.as_str(), c.as_str(), listed("channels", c.as_str())))
            .collect(),
        organisations: organisations
            .into_iter()
            .map(|o| {
                let value = o.id.to_string();
                let selected = listed("organisations", &value);
                choice(value, o.name, selected)
            })
            .collect(),
        f,
    };
    let status = status_for(&page.f);
    html(status, page)
}

/// `GET /app/admin/policies/new` and `GET /app/admin/policies/{id}`.
pub(crate) async fn policy(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> PageResult<Response> {
    let policies = state.app.sla_policies(&viewer.principal).await?;
    if id == "new" {
        let f = Fields::default()
            .with(
                "targets",
                "first_reply normal 60 business\nresolution normal 480 business",
            )
            .with("warn_at_percent", "75");
        return policy_page(&state, &viewer, 0, f).await;
    }
    let id = parse_id(&id)?;
    let p = policies
        .into_iter()
        .find(|p| p.id == id)
        .ok_or(PageError::NotFound)?;
    let join = |items: Vec<String>| items.join(",");
    let f = Fields::default()
        .with("name", p.name)
        .with("position", p.position.to_string())
        .with(
            "calendar",
            p.calendar_id.map(|c| c.to_string()).unwrap_or_default(),
        )
        .with("targets", targets_text(&p.targets))
        .with(
            "warn_at_percent",
            p.warn_at_percent.map(|w| w.to_string()).unwrap_or_default(),
        )
        .with("on_hold_pauses", if p.on_hold_pauses { "on" } else { "" })
        .with(
            "groups",
            join(p.conditions.groups.iter().map(|g| g.to_string()).collect()),
        )
        .with(
            "priorities",
            join(
                p.conditions
                    .priorities
                    .iter()
                    .map(|x| x.as_str().to_string())
                    .collect(),
            ),
        )
        .with(
            "channels",
            join(
                p.conditions
                    .channels
                    .iter()
                    .map(|x| x.as_str().to_string())
                    .collect(),
            ),
        )
        .with(
            "organisations",
            join(
                p.conditions
                    .organisations
                    .iter()
                    .map(|o| o.to_string())
                    .collect(),
            ),
        )
        .with("tags", p.conditions.tags.join(", "));
    policy_page(&state, &viewer, id, f).await
}

/// `POST /app/admin/policies/new` and `POST /app/admin/policies/{id}`.
pub(crate) async fn save_policy(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    body: Bytes,
) -> PageResult<Response> {
    let form = Form::from_body(&body);
    viewer.check_csrf(&form)?;
    let id = if id == "new" { 0 } else { parse_id(&id)? };
    let all = |name: &str| form.all(name).map(String::from).collect::<Vec<_>>();
    let mut f = Fields::typed(
        &form,
        &[
            "name",
            "position",
            "calendar",
            "targets",
            "warn_at_percent",
            "on_hold_pauses",
            "tags",
        ],
    )
    .with("groups", all("groups").join(","))
    .with("priorities", all("priorities").join(","))
    .with("channels", all("channels").join(","))
    .with("organisations", all("organisations").join(","));
    let position = match form.get("position") {
        None => None,
        Some(p) => match p.parse::<i64>() {
            Ok(p) => Some(p),
            Err(_) => {
                f = f.error("position", format!("{p:?} is not a whole number"));
                None
            }
        },
    };
    let warn_at_percent = match form.get("warn_at_percent") {
        None => None,
        Some(w) => match w.parse::<u8>() {
            Ok(w) if (1..=99).contains(&w) => Some(w),
            _ => {
                f = f.error(
                    "warn_at_percent",
                    "Give a share between 1 and 99, or leave it empty for no warning.",
                );
                None
            }
        },
    };
    let targets = match parse_targets(form.raw("targets")) {
        Ok(t) => t,
        Err(message) => {
            f = f.error("targets", message);
            Vec::new()
        }
    };
    let calendar_id = form.get("calendar").and_then(|c| c.parse::<i64>().ok());
    let conditions = sla::Conditions {
        groups: all("groups")
            .iter()
            .filter_map(|g| g.parse().ok())
            .collect(),
        priorities: all("priorities")
            .iter()
            .filter_map(|p| Priority::parse(p))
            .collect(),
        channels: all("channels")
            .iter()
            .filter_map(|c| Channel::parse(c))
            .collect(),
        organisations: all("organisations")
            .iter()
            .filter_map(|o| o.parse().ok())
            .collect(),
        tags: form
            .raw("tags")
            .split(',')
            .map(|t| t.trim().to_lowercase())
            .filter(|t| !t.is_empty())
            .collect(),
    };
    if f.has_errors() {
        return policy_page(&state, &viewer, id, f).await;
    }
    let input = PolicyInput {
        name: form.raw("name").trim().to_string(),
        position,
        conditions,
        calendar_id,
        targets,
        warn_at_percent,
        on_hold_pauses: f.checked("on_hold_pauses"),
    };
    let result = if id == 0 {
        state
            .app
            .add_sla_policy(&viewer.principal, input, state.now())
            .await
    } else {
        state
            .app
            .update_sla_policy(&viewer.principal, id, input, state.now())
            .await
    };
    match result {
        Ok(_) => Ok(Redirect::to("/app/admin/sla?done=saved").into_response()),
        Err(e) => {
            let f = refused(e, f, |m| {
                let m = m.to_lowercase();
                if m.contains("needs a name") || m.contains("already") {
                    "name"
                } else if m.contains("calendar") {
                    "calendar"
                } else {
                    "targets"
                }
            })?;
            policy_page(&state, &viewer, id, f).await
        }
    }
}

// ---------------------------------------------------------------- deleting

#[derive(Template)]
#[template(path = "admin_delete.html")]
struct DeletePage {
    layout: Layout,
    /// "calendar" or "SLA policy".
    what: &'static str,
    name: String,
    /// What the deletion changes, in a sentence.
    consequence: &'static str,
    action: String,
    back: String,
    /// Why the deletion was refused, if it was.
    error: String,
}

const CALENDAR_GONE: &str = "Policies can no longer use this calendar.";
const POLICY_GONE: &str = "Conversations it matched are matched by the next policy in order, \
     and their SLA clocks follow.";

fn delete_page(page: DeletePage) -> PageResult<Response> {
    let status = if page.error.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    html(status, page)
}

/// What the SLA admin pages can delete, behind one confirmation page and one delete handler.
#[derive(Clone, Copy)]
enum Deletable {
    Calendar,
    Policy,
}

impl Deletable {
    async fn name(self, state: &AppState, viewer: &Viewer, id: i64) -> PageResult<String> {
        let found = match self {
            Deletable::Calendar => state
                .app
                .sla_calendars(&viewer.principal)
                .await?
                .into_iter()
                .find(|c| c.id == id)
                .map(|c| c.name),
            Deletable::Policy => state
                .app
                .sla_policies(&viewer.principal)
                .await?
                .into_iter()
                .find(|p| p.id == id)
                .map(|p| p.name),
        };
        found.ok_or(PageError::NotFound)
    }

    fn page(self, viewer: &Viewer, id: i64, name: String, error: String) -> PageResult<Response> {
        let (what, consequence, path) = match self {
            Deletable::Calendar => ("calendar", CALENDAR_GONE, "calendars"),
            Deletable::Policy => ("SLA policy", POLICY_GONE, "policies"),
        };
        delete_page(DeletePage {
            layout: layout(&format!("Delete the {what} {name}"), viewer),
            what,
            name,
            consequence,
            action: format!("/app/admin/{path}/{id}/delete"),
            back: format!("/app/admin/{path}/{id}"),
            error,
        })
    }

    /// The same use cases as the API's, which record the event with the administrator as actor.
    async fn delete(self, state: &AppState, viewer: &Viewer, id: i64) -> Result<(), AppError> {
        match self {
            Deletable::Calendar => {
                state
                    .app
                    .delete_sla_calendar(&viewer.principal, id, state.now())
                    .await
            }
            Deletable::Policy => {
                state
                    .app
                    .delete_sla_policy(&viewer.principal, id, state.now())
                    .await
            }
        }
    }

    /// The confirmation page.
    async fn confirm(self, state: &AppState, viewer: &Viewer, id: &str) -> PageResult<Response> {
        let id = parse_id(id)?;
        let name = self.name(state, viewer, id).await?;
        self.page(viewer, id, name, String::new())
    }

    /// Deletes when the form confirms it; a refusal (a calendar that a policy still uses) is
    /// shown on the confirmation page with its reason.
    async fn submit(
        self,
        state: &AppState,
        viewer: &Viewer,
        id: &str,
        body: &Bytes,
    ) -> PageResult<Response> {
        let id = parse_id(id)?;
        let form = Form::from_body(body);
        viewer.check_csrf(&form)?;
        let name = self.name(state, viewer, id).await?;
        if form.get("confirm") != Some("yes") {
            return self.page(viewer, id, name, String::new());
        }
        match self.delete(state, viewer, id).await {
            Ok(()) => Ok(Redirect::to("/app/admin/sla?done=deleted").into_response()),
            Err(AppError::Conflict(message)) => self.page(viewer, id, name, message),
            Err(other) => Err(other.into()),
        }
    }
}

/// `GET /app/admin/calendars/{id}/delete`: asks the administrator to confirm.
pub(crate) async fn calendar_delete_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> PageResult<Response> {
    Deletable::Calendar.confirm(&state, &viewer, &id).await
}

/// `POST /app/admin/calendars/{id}/delete`: deletes the calendar when the form confirms it;
/// a calendar that a policy still uses is refused with the policies' names.
pub(crate) async fn delete_calendar(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    body: Bytes,
) -> PageResult<Response> {
    Deletable::Calendar
        .submit(&state, &viewer, &id, &body)
        .await
}

/// `GET /app/admin/policies/{id}/delete`: asks the administrator to confirm.
pub(crate) async fn policy_delete_page(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> PageResult<Response> {
    Deletable::Policy.confirm(&state, &viewer, &id).await
}

/// `POST /app/admin/policies/{id}/delete`: deletes the policy when the form confirms it.
pub(crate) async fn delete_policy(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    body: Bytes,
) -> PageResult<Response> {
    Deletable::Policy.submit(&state, &viewer, &id, &body).await
}

// ---------------------------------------------------------------- web form and chat routing

#[derive(Template)]
#[template(path = "admin_routing.html")]
struct RoutingPage {
    layout: Layout,
    notice: String,
    web_groups: Vec<Choice>,
    chat_groups: Vec<Choice>,
    f: Fields,
}

async fn routing_page(
    state: &AppState,
    viewer: &Viewer,
    notice: String,
    f: Fields,
) -> PageResult<Response> {
    let groups = state.app.admin_groups(&viewer.principal).await?;
    let options = |field: &str| {
        let chosen = f.value(field).to_string();
        let mut choices = vec![choice("", "No group", chosen.is_empty())];
        choices.extend(groups.iter().map(|g| {
            let value = g.id.to_string();
            let selected = value == chosen;
            choice(value, g.name.clone(), selected)
        }));
        choices
    };
    let page = RoutingPage {
        layout: layout("Web form and chat", viewer),
        notice,
        web_groups: options("web_group"),
        chat_groups: options("chat_group"),
        f,
    };
    let status = status_for(&page.f);
    html(status, page)
}

/// `GET /app/admin/routing`: where web form and chat conversations go.
pub(crate) async fn routing(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(query): RawQuery,
) -> PageResult<Response> {
    let groups = state.app.admin_groups(&viewer.principal).await?;
    let routing = state.app.channel_routing().await?;
    let group_name = |id: i64| {
        groups
            .iter()
            .find(|g| g.id == id)
            .map(|g| g.name.clone())
            .unwrap_or_else(|| id.to_string())
    };
    let topics: Vec<String> = routing
        .web_topics
        .iter()
        .map(|(topic, group)| format!("{topic} = {}", group_name(*group)))
        .collect();
    let id_text = |id: Option<i64>| id.map(|g| g.to_string()).unwrap_or_default();
    let f = Fields::default()
        .with("web_group", id_text(routing.web_group_id))
        .with("web_topics", topics.join("\n"))
        .with("chat_group", id_text(routing.chat_group_id));
    routing_page(&state, &viewer, notice(query.as_deref()), f).await
}

/// `POST /app/admin/routing`.
pub(crate) async fn save_routing(
    State(state): State<AppState>,
    viewer: Viewer,
    body: Bytes,
) -> PageResult<Response> {
    let form = Form::from_body(&body);
    viewer.check_csrf(&form)?;
    let by = &viewer.principal;
    let f = Fields::typed(&form, &["web_group", "web_topics", "chat_group"]);
    let group = |field: &str| -> PageResult<Option<i64>> {
        match form.get(field).map(str::trim).filter(|g| !g.is_empty()) {
            None => Ok(None),
            Some(g) => g
                .parse::<i64>()
                .map(Some)
                .map_err(|_| PageError::Invalid(format!("{g:?} is not a group"))),
        }
    };
    let (web_group_id, chat_group_id) = (group("web_group")?, group("chat_group")?);
    let groups: Vec<(i64, String)> = state
        .app
        .admin_groups(by)
        .await?
        .into_iter()
        .map(|g| (g.id, g.name))
        .collect();
    let saved = match app::parse_web_topics(form.raw("web_topics"), &groups) {
        Ok(web_topics) => {
            let routing = app::ChannelRouting {
                web_group_id,
                web_topics,
                chat_group_id,
            };
            state
                .app
                .set_channel_routing(by, routing, state.now())
                .await
                .map(|_| ())
        }
        Err(e) => Err(e),
    };
    match saved {
        Ok(()) => Ok(Redirect::to("/app/admin/routing?done=saved").into_response()),
        Err(e) => {
            let f = refused(e, f, |m| {
                if m.contains("topic") {
                    "web_topics"
                } else {
                    "web_group"
                }
            })?;
            routing_page(&state, &viewer, String::new(), f).await
        }
    }
}
