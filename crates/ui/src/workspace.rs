//! The agent workspace: queues with counts, a conversation list that filters, sorts,
//! searches and acts in bulk, and the conversation view with its composer and side panel.

use app::{ConversationSort, ConversationView, ListQuery, MessageInput, Patch};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use domain::{MessageKind, Principal, Priority, Status};
use web::AppState;

use crate::error::{PageError, PageResult};
use crate::form::{link, local_path, Form};
use crate::format::{self, Names};
use crate::session::Viewer;
use crate::Layout;

/// A `<select>` option.
pub(crate) struct Choice {
    pub(crate) value: String,
    pub(crate) label: String,
    pub(crate) selected: bool,
}

pub(crate) fn choice(value: impl Into<String>, label: impl Into<String>, selected: bool) -> Choice {
    Choice {
        value: value.into(),
        label: label.into(),
        selected,
    }
}

/// An entry of the queue sidebar.
struct Queue {
    label: String,
    count: i64,
    href: String,
    current: bool,
}

/// A row of the conversation list.
struct Row {
    number: i64,
    subject: String,
    customer: String,
    status: &'static str,
    status_label: &'static str,
    priority: &'static str,
    assignee: String,
    group: String,
    tags: Vec<String>,
    updated: String,
    updated_iso: String,
    href: String,
    sla: Option<SlaCell>,
}

/// Time left to a conversation's next SLA breach, as the list shows it.
struct SlaCell {
    text: String,
    /// `sla-breached` (red), `sla-warned` (amber) or `sla-ok`.
    class: &'static str,
    due: String,
    due_iso: String,
}

fn sla_cell(sla: &app::QueueSla, now: i64) -> Option<SlaCell> {
    let due = sla.next_breach_at?;
    let class = if sla.breached || due <= now {
        "sla-breached"
    } else if sla.warned {
        "sla-warned"
    } else {
        "sla-ok"
    };
    let text = if due <= now {
        format!("overdue {}", format::duration(now - due))
    } else {
        format!("{} left", format::duration(due - now))
    };
    Some(SlaCell {
        text,
        class,
        due: format::time(due),
        due_iso: format::iso(due),
    })
}

/// The list's filter as it appears in the URL; the same names as the API's parameters.
#[derive(Default, Clone)]
struct ListFilter {
    status: String,
    group: String,
    assignee: String,
    tag: String,
    q: String,
    sort: String,
    cursor: String,
}

impl ListFilter {
    fn from_form(form: &Form) -> ListFilter {
        let value = |name: &str| form.get(name).unwrap_or_default().to_string();
        ListFilter {
            status: form.get("status").unwrap_or("unsolved").to_string(),
            group: value("group"),
            assignee: value("assignee"),
            tag: value("tag"),
            q: value("q"),
            sort: value("sort"),
            cursor: value("cursor"),
        }
    }

    fn pairs(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("status", self.status.as_str()),
            ("group", self.group.as_str()),
            ("assignee", self.assignee.as_str()),
            ("tag", self.tag.as_str()),
            ("q", self.q.as_str()),
            ("sort", self.sort.as_str()),
        ]
    }

    fn href(&self) -> String {
        link("/app", &self.pairs())
    }

    fn same_queue(&self, other: &ListFilter) -> bool {
        self.status == other.status
            && self.group == other.group
            && self.assignee == other.assignee
            && self.tag == other.tag
    }

    fn to_query(&self, principal: &Principal) -> PageResult<ListQuery> {
        let bad = |name: &str, value: &str| {
            PageError::Invalid(format!("{name} {value:?} is not a filter this list knows"))
        };
        let mut query = ListQuery {
            limit: 50,
            ..Default::default()
        };
        for s in self
            .status
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            match s {
                "all" => {}
                "unsolved" => query
                    .filter
                    .statuses
                    .extend(["new", "open", "pending", "on_hold"].map(String::from)),
                other => query.filter.statuses.push(
                    Status::parse(other)
                        .ok_or_else(|| bad("status", other))?
                        .as_str()
                        .into(),
                ),
            }
        }
        query.filter.group_id = match self.group.as_str() {
            "" => None,
            "none" => Some(None),
            g => Some(Some(g.parse().map_err(|_| bad("group", g))?)),
        };
        query.filter.assignee_id = match (self.assignee.as_str(), principal) {
            ("", _) => None,
            ("none", _) => Some(None),
            ("me", Principal::Agent { id, .. }) => Some(Some(*id)),
            (a, _) => Some(Some(a.parse().map_err(|_| bad("assignee", a))?)),
        };
        query.filter.tag = Some(self.tag.clone()).filter(|t| !t.is_empty());
        query.filter.q = Some(self.q.clone()).filter(|q| !q.is_empty());
        query.sort = match self.sort.as_str() {
            "" => ConversationSort::default(),
            s => ConversationSort::parse(s).ok_or_else(|| bad("sort", s))?,
        };
        query.cursor = Some(self.cursor.clone()).filter(|c| !c.is_empty());
        Ok(query)
    }
}

fn queue(label: &str, count: i64, filter: ListFilter, current: &ListFilter) -> Queue {
    Queue {
        label: label.to_string(),
        count,
        current: filter.same_queue(current),
        href: filter.href(),
    }
}

fn unsolved() -> ListFilter {
    ListFilter {
        status: "unsolved".into(),
        ..Default::default()
    }
}

/// The sidebar: the fixed queues, then one per group and per tag, each with its count.
async fn sidebar(
    state: &AppState,
    viewer: &Viewer,
    current: &ListFilter,
    names: &Names,
) -> PageResult<Vec<Queue>> {
    let counts = state.app.queue_counts(&viewer.principal).await?;
    let mut queues = vec![
        queue(
            "Mine",
            counts.mine,
            ListFilter {
                assignee: "me".into(),
                ..unsolved()
            },
            current,
        ),
        queue(
            "Unassigned",
            counts.unassigned,
            ListFilter {
                assignee: "none".into(),
                ..unsolved()
            },
            current,
        ),
        queue(
            "All unsolved",
            counts.open + counts.pending + counts.on_hold,
            unsolved(),
            current,
        ),
        queue(
            "New and open",
            counts.open,
            ListFilter {
                status: "new,open".into(),
                ..Default::default()
            },
            current,
        ),
        queue(
            "Pending",
            counts.pending,
            ListFilter {
                status: "pending".into(),
                ..Default::default()
            },
            current,
        ),
        queue(
            "On hold",
            counts.on_hold,
            ListFilter {
                status: "on_hold".into(),
                ..Default::default()
            },
            current,
        ),
    ];
    for (group, count) in counts.by_group {
        let (value, label) = match group {
            Some(id) => (
                id.to_string(),
                names.groups.get(&id).cloned().unwrap_or_default(),
            ),
            None => ("none".to_string(), "No group".to_string()),
        };
        queues.push(queue(
            &format!("Group: {label}"),
            count,
            ListFilter {
                group: value,
                ..unsolved()
            },
            current,
        ));
    }
    for (tag, count) in counts.by_tag.into_iter().take(10) {
        queues.push(queue(
            &format!("Tag: {tag}"),
            count,
            ListFilter { tag, ..unsolved() },
            current,
        ));
    }
    Ok(queues)
}

/// Names of agents and groups, for lists, events and the assignment menus.
async fn names(state: &AppState, viewer: &Viewer) -> PageResult<(Names, Vec<AgentName>)> {
    let agents: Vec<AgentName> = state
        .app
        .agents(&viewer.principal)
        .await?
        .into_iter()
        .filter(|a| a.active)
        .map(|a| AgentName {
            id: a.id,
            name: if a.name.is_empty() { a.email } else { a.name },
        })
        .collect();
    let groups = state.app.groups(&viewer.principal).await?;
    Ok((
        Names {
            agents: agents.iter().map(|a| (a.id, a.name.clone())).collect(),
            groups: groups.into_iter().map(|g| (g.id, g.name)).collect(),
        },
        agents,
    ))
}

/// An agent as the menus show them.
struct AgentName {
    id: i64,
    name: String,
}

fn own_name(viewer: &Viewer, names: &Names) -> String {
    match &viewer.principal {
        Principal::Agent { id, .. } => names.agents.get(id).cloned().unwrap_or_default(),
        _ => String::new(),
    }
}

fn status_choices(current: Option<Status>, with_keep: bool) -> Vec<Choice> {
    let mut choices = Vec::new();
    if with_keep {
        choices.push(choice("", "Keep status", current.is_none()));
    }
    for status in Status::ALL {
        if with_keep && matches!(status, Status::New | Status::Closed) {
            continue;
        }
        choices.push(choice(
            status.as_str(),
            format::status_label(*status),
            Some(*status) == current,
        ));
    }
    choices
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    layout: Layout,
    queues: Vec<Queue>,
    heading: String,
    rows: Vec<Row>,
    total: String,
    filter: ListFilter,
    statuses: Vec<Choice>,
    sorts: Vec<Choice>,
    agents: Vec<Choice>,
    next_href: String,
    here: String,
    notice: String,
}

/// `GET /app`: the sidebar and one page of the chosen queue.
pub(crate) async fn inbox(
    State(state): State<AppState>,
    viewer: Viewer,
    RawQuery(query): RawQuery,
) -> PageResult<Response> {
    if viewer.is_customer() {
        return Ok(Redirect::to("/portal").into_response());
    }
    // Where the log stands before anything is read: the live stream resumes there, so a
    // change made while this page renders is not missed.
    let since = state.app.live_head().await?;
    let form = Form::from_query(query.as_deref());
    let filter = ListFilter::from_form(&form);
    let (names, agents) = names(&state, &viewer).await?;
    let list = state
        .app
        .list_conversations(&viewer.principal, filter.to_query(&viewer.principal)?)
        .await
        .map_err(|e| match e {
            app::AppError::Invalid(message) => PageError::Invalid(message),
            other => other.into(),
        })?;
    let queues = sidebar(&state, &viewer, &filter, &names).await?;
    let heading = queues
        .iter()
        .find(|q| q.current)
        .map(|q| q.label.clone())
        .unwrap_or_else(|| "Conversations".into());
    let heading = if filter.q.is_empty() {
        heading
    } else {
        format!("{heading}: search “{}”", filter.q)
    };
    let now = state.now();
    let numbers: Vec<i64> = list.items.iter().map(|c| c.number).collect();
    let slas = state
        .app
        .queue_sla(&viewer.principal, &numbers, now)
        .await?;
    let rows = list
        .items
        .into_iter()
        .map(|view| {
            let sla = slas
                .iter()
                .find(|s| s.conversation == view.number)
                .and_then(|s| sla_cell(s, now));
            Row { sla, ..row(view) }
        })
        .collect();
    let total = format!(
        "{}{} conversation{}",
        list.total,
        if list.total_is_lower_bound { "+" } else { "" },
        if list.total == 1 { "" } else { "s" }
    );
    let next_href = match &list.next_cursor {
        Some(cursor) => {
            let mut pairs = filter.pairs();
            pairs.push(("cursor", cursor));
            link("/app", &pairs)
        }
        None => String::new(),
    };
    let status_options = [
        ("unsolved", "Unsolved"),
        ("new,open", "New and open"),
        ("new", "New"),
        ("open", "Open"),
        ("pending", "Pending"),
        ("on_hold", "On hold"),
        ("solved", "Solved"),
        ("closed", "Closed"),
        ("all", "Any status"),
    ];
    let sort_options = [
        ("", "Recently updated"),
        ("updated_at", "Least recently updated"),
        ("-created_at", "Newest"),
        ("created_at", "Oldest"),
        ("-priority", "Priority"),
        ("-number", "Number, high to low"),
        ("number", "Number, low to high"),
        ("sla", "Next SLA breach"),
    ];
    let page = InboxPage {
        layout: Layout::signed_in("Conversations", "app", &viewer, &own_name(&viewer, &names))
            .with_live(since),
        heading,
        statuses: status_options
            .iter()
            .map(|(v, l)| choice(*v, *l, filter.status == *v))
            .collect(),
        sorts: sort_options
            .iter()
            .map(|(v, l)| choice(*v, *l, filter.sort == *v))
            .collect(),
        agents: agents
            .iter()
            .map(|a| choice(a.id.to_string(), a.name.clone(), false))
            .collect(),
        queues,
        rows,
        total,
        here: link("/app", &{
            let mut pairs = filter.pairs();
            pairs.push(("cursor", filter.cursor.as_str()));
            pairs
        }),
        notice: notice(&form),
        filter,
        next_href,
    };
    Ok(Html(page.render()?).into_response())
}

fn notice(form: &Form) -> String {
    match (form.get("done"), form.get("failed")) {
        (Some(done), None) => format!("Updated {done} conversation(s)."),
        (Some(done), Some(failed)) => format!(
            "Updated {done} conversation(s); {failed} could not be changed (not allowed, or not a possible status change)."
        ),
        (None, Some(failed)) => format!("{failed} conversation(s) could not be changed."),
        (None, None) => String::new(),
    }
}

fn row(view: ConversationView) -> Row {
    Row {
        href: format!("/app/conversations/{}", view.number),
        number: view.number,
        subject: view.subject,
        customer: view.customer.name,
        status: view.status.as_str(),
        status_label: format::status_label(view.status),
        priority: view.priority.as_str(),
        assignee: view.assignee.map(|a| a.name).unwrap_or_default(),
        group: view.group.map(|g| g.name).unwrap_or_default(),
        tags: view.tags,
        updated: format::time(view.updated_at),
        updated_iso: format::iso(view.updated_at),
        sla: None,
    }
}

/// Adds `key=value` to a local URL.
fn with_param(url: &str, key: &str, value: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!(
        "{url}{separator}{}",
        link("", &[(key, value)]).trim_start_matches('?')
    )
}

/// `POST /app/bulk`: one change (assign, status, tag) to every ticked conversation.
pub(crate) async fn bulk(
    State(state): State<AppState>,
    viewer: Viewer,
    body: Bytes,
) -> PageResult<Response> {
    let form = Form::from_body(&body);
    viewer.check_csrf(&form)?;
    let back = local_path(form.get("return"), "/app").to_string();
    let mut patch = Patch::default();
    if let Some(assignee) = form.get("assignee") {
        patch.assignee_id = Some(match assignee {
            "none" => None,
            "me" => match &viewer.principal {
                Principal::Agent { id, .. } => Some(*id),
                _ => None,
            },
            id => Some(
                id.parse()
                    .map_err(|_| PageError::Invalid(format!("{id:?} is not an agent")))?,
            ),
        });
    }
    if let Some(status) = form.get("status") {
        patch.status = Some(
            Status::parse(status)
                .ok_or_else(|| PageError::Invalid(format!("{status:?} is not a status")))?,
        );
    }
    patch.add_tags = split_tags(form.get("add_tag"));
    let numbers: Vec<i64> = form.all("n").filter_map(|n| n.parse().ok()).collect();
    if numbers.is_empty() {
        return Err(PageError::Invalid(
            "Tick at least one conversation, then choose what to change.".into(),
        ));
    }
    let (mut done, mut failed) = (0, 0);
    for number in numbers {
        match state
            .app
            .update_conversation(&viewer.principal, number, patch.clone(), state.now())
            .await
        {
            Ok(_) => done += 1,
            Err(app::AppError::Store(e)) => {
                tracing::error!(error = %e, number, "bulk change failed");
                return Err(PageError::Internal);
            }
            Err(_) => failed += 1,
        }
    }
    let mut target = with_param(&back, "done", &done.to_string());
    if failed > 0 {
        target = with_param(&target, "failed", &failed.to_string());
    }
    Ok(Redirect::to(&target).into_response())
}

fn split_tags(text: Option<&str>) -> Vec<String> {
    text.unwrap_or_default()
        .split([',', ' '])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect()
}

/// A file attached to a message.
pub(crate) struct Attachment {
    pub(crate) href: String,
    pub(crate) name: String,
    pub(crate) size: String,
}

/// One change in a collapsed run of events.
struct Change {
    text: String,
    who: String,
    at: String,
    at_iso: String,
}

/// An entry of the timeline: a message (`customer`, `reply`, `note`) or a run of
/// changes (`events`), collapsed.
struct Entry {
    kind: &'static str,
    id: i64,
    author: String,
    at: String,
    at_iso: String,
    html: String,
    /// The message has remote images, blocked (a remote image tells the sender when the
    /// mail is read) until the agent asks for them.
    remote_images: bool,
    /// The agent asked for this message's remote images (`?images=<message id>`).
    images_shown: bool,
    attachments: Vec<Attachment>,
    changes: Vec<Change>,
}

/// The sanitised HTML of a message with its blocked remote images let through: each
/// `data-rapport-remote-src` (always an http or https address, see `mail::html`) becomes the
/// image's `src`, sent without a referrer. The page that shows it carries a policy that lets
/// images from other sites load ([`crate::RemoteImagesShown`]).
fn with_remote_images(html: &str) -> String {
    html.replace(
        &format!(" {}=\"", mail::html::REMOTE_SRC_ATTRIBUTE),
        " referrerpolicy=\"no-referrer\" src=\"",
    )
}

pub(crate) fn attachments(list: &[app::AttachmentView]) -> Vec<Attachment> {
    list.iter()
        .map(|a| Attachment {
            href: format!("/api/v1/attachments/{}", a.id),
            name: a.filename.clone(),
            size: format::size(a.size),
        })
        .collect()
}

/// An SLA target of the conversation, as the side panel shows it.
struct SlaTarget {
    metric: &'static str,
    /// `business` or `calendar` time.
    basis: &'static str,
    target: String,
    due: String,
    due_iso: String,
    /// `2h 05m left`, `overdue by 10m`, `paused, 20m left`.
    state: String,
    class: &'static str,
}

/// One line of the conversation's SLA history.
struct SlaLine {
    text: String,
    at: String,
    at_iso: String,
}

fn sla_panel(view: &app::SlaView) -> (Vec<SlaTarget>, Vec<SlaLine>) {
    let targets = view
        .metrics
        .iter()
        .filter(|m| m.fulfilled_at.is_none())
        .filter_map(|m| {
            let target = m.target_ms?;
            let left = m.left_ms.unwrap_or(target);
            let basis = match m.basis {
                Some(domain::SlaBasis::Business) => "business",
                _ => "calendar",
            };
            let (state, class) = if m.breached_at.is_some() || left <= 0 {
                (
                    format!("overdue by {} of {basis} time", format::duration(left)),
                    "sla-breached",
                )
            } else if m.paused {
                (
                    format!("paused, {} of {basis} time left", format::duration(left)),
                    "sla-paused",
                )
            } else {
                (
                    format!("{} of {basis} time left", format::duration(left)),
                    if m.warned_at.is_some() {
                        "sla-warned"
                    } else {
                        "sla-ok"
                    },
                )
            };
            Some(SlaTarget {
                metric: format::sla_metric_label(m.metric),
                basis,
                target: format::duration(target),
                due: m.due_at.map(format::time).unwrap_or_default(),
                due_iso: m.due_at.map(format::iso).unwrap_or_default(),
                state,
                class,
            })
        })
        .collect();
    let history = view
        .history
        .iter()
        .map(|h| SlaLine {
            text: format!(
                "{}: {}{}",
                format::sla_metric_label(h.metric),
                h.kind,
                if h.cycle > 1 {
                    format!(" (cycle {})", h.cycle)
                } else {
                    String::new()
                }
            ),
            at: format::time(h.at),
            at_iso: format::iso(h.at),
        })
        .collect();
    (targets, history)
}

struct Other {
    href: String,
    number: i64,
    subject: String,
    status_label: &'static str,
}

#[derive(Template)]
#[template(path = "conversation.html")]
struct ConversationPage {
    layout: Layout,
    c: ConversationView,
    status_label: &'static str,
    timeline: Vec<Entry>,
    customer_name: String,
    organization: String,
    identities: Vec<(String, String)>,
    /// Addresses typed into this conversation's chat, and whether each was confirmed.
    chat_addresses: Vec<(String, bool)>,
    /// The address a new chat code would go to (the latest one not confirmed), if any.
    chat_code_address: Option<String>,
    /// What became of the last "send a new code" (from `?chat_code=sent`).
    chat_code_notice: String,
    others: Vec<Other>,
    fields: Vec<(String, String)>,
    statuses: Vec<Choice>,
    after_statuses: Vec<Choice>,
    priorities: Vec<Choice>,
    groups: Vec<Choice>,
    agents: Vec<Choice>,
    back: String,
    sla_targets: Vec<SlaTarget>,
    sla_history: Vec<SlaLine>,
    max_attachment_mib: usize,
}

fn parse_number(text: &str) -> PageResult<i64> {
    text.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(PageError::NotFound)
}

/// `GET /app/conversations/{number}`: the timeline, the composer and the side panel.
pub(crate) async fn conversation(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(number): Path<String>,
    RawQuery(query): RawQuery,
) -> PageResult<Response> {
    // `?images=<message id>`: show that message's remote images.
    let query = query.unwrap_or_default();
    let images_of: Option<i64> = form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == "images")
        .and_then(|(_, value)| value.parse().ok());
    let chat_code_sent = form_urlencoded::parse(query.as_bytes())
        .any(|(key, value)| key == "chat_code" && value == "sent");
    if viewer.is_customer() {
        return Ok(Redirect::to(&format!("/portal/conversations/{number}")).into_response());
    }
    let number = parse_number(&number)?;
    let principal = &viewer.principal;
    let since = state.app.live_head().await?;
    let c = state.app.conversation(principal, number).await?;
    let messages = state.app.messages(principal, number).await?;
    let events = state
        .app
        .events(principal, number)
        .await
        .unwrap_or_default();
    let (names, agents) = names(&state, &viewer).await?;
    let customer = state.app.customer(principal, c.customer.id).await.ok();
    let chat_addresses = if c.channel == domain::Channel::Chat {
        state.app.chat_addresses(principal, number).await?
    } else {
        Vec::new()
    };
    let chat_code_address = chat_addresses
        .iter()
        .rev()
        .find(|(_, confirmed)| !confirmed)
        .map(|(address, _)| address.clone());
    let chat_code_notice = match (&chat_code_address, chat_code_sent) {
        (Some(address), true) => {
            format!("A new code was sent to {address}; the customer types it into the chat.")
        }
        _ => String::new(),
    };
    let (sla_targets, sla_history) = match state
        .app
        .conversation_sla(principal, number, state.now())
        .await
    {
        Ok(view) => sla_panel(&view),
        Err(app::AppError::Store(e)) => return Err(app::AppError::Store(e).into()),
        // Policies that no longer check out are the administrators' to fix; the
        // conversation stays workable meanwhile.
        Err(e) => {
            tracing::warn!(error = %e, number, "SLA state not shown");
            (Vec::new(), Vec::new())
        }
    };

    let mut timeline: Vec<(i64, usize, Entry)> = Vec::with_capacity(messages.len() + 8);
    for m in &messages {
        timeline.push((
            m.created_at,
            timeline.len(),
            Entry {
                kind: match m.kind {
                    MessageKind::Customer => "customer",
                    MessageKind::Reply => "reply",
                    MessageKind::Note => "note",
                },
                id: m.id,
                author: names.actor(&m.author, &c.customer.name),
                at: format::time(m.created_at),
                at_iso: format::iso(m.created_at),
                html: if images_of == Some(m.id) {
                    with_remote_images(&m.html)
                } else {
                    m.html.clone()
                },
                remote_images: m.html.contains(mail::html::REMOTE_SRC_ATTRIBUTE),
                images_shown: images_of == Some(m.id),
                attachments: attachments(&m.attachments),
                changes: Vec::new(),
            },
        ));
    }
    for e in &events {
        let Some(text) = format::describe_event(e, &names) else {
            continue;
        };
        timeline.push((
            e.at,
            timeline.len(),
            Entry {
                kind: "events",
                id: e.id,
                author: String::new(),
                at: format::time(e.at),
                at_iso: format::iso(e.at),
                html: String::new(),
                remote_images: false,
                images_shown: false,
                attachments: Vec::new(),
                changes: vec![Change {
                    text,
                    who: names.actor(&e.actor, &c.customer.name),
                    at: format::time(e.at),
                    at_iso: format::iso(e.at),
                }],
            },
        ));
    }
    timeline.sort_by_key(|(at, seq, _)| (*at, *seq));
    // Consecutive changes fold into one collapsed entry.
    let mut folded: Vec<Entry> = Vec::with_capacity(timeline.len());
    for (_, _, entry) in timeline {
        match folded.last_mut() {
            Some(last) if last.kind == "events" && entry.kind == "events" => {
                last.changes.extend(entry.changes);
            }
            _ => folded.push(entry),
        }
    }

    let (customer_name, organization, identities, others) = match customer {
        Some(view) => (
            view.name,
            view.organization.unwrap_or_default(),
            view.identities
                .into_iter()
                .map(|(kind, value)| (kind.as_str().to_string(), value))
                .collect(),
            view.conversations
                .into_iter()
                .filter(|o| o.number != number)
                .take(10)
                .map(|o| Other {
                    href: format!("/app/conversations/{}", o.number),
                    number: o.number,
                    subject: o.subject,
                    status_label: format::status_label(o.status),
                })
                .collect(),
        ),
        None => (
            c.customer.name.clone(),
            String::new(),
            Vec::new(),
            Vec::new(),
        ),
    };
    let fields = c
        .custom_fields
        .iter()
        .map(|(k, v)| {
            let value = match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            (k.clone(), value)
        })
        .collect();
    let group_id = c.group.as_ref().map(|g| g.id);
    let assignee_id = c.assignee.as_ref().map(|a| a.id);
    let mut groups = vec![choice("none", "No group", group_id.is_none())];
    let mut group_list: Vec<(&i64, &String)> = names.groups.iter().collect();
    group_list.sort_by(|a, b| a.1.cmp(b.1));
    groups.extend(
        group_list
            .into_iter()
            .map(|(id, name)| choice(id.to_string(), name.clone(), Some(*id) == group_id)),
    );
    let mut agent_choices = vec![choice("none", "Nobody", assignee_id.is_none())];
    agent_choices.extend(
        agents
            .iter()
            .map(|a| choice(a.id.to_string(), a.name.clone(), Some(a.id) == assignee_id)),
    );
    let page = ConversationPage {
        layout: Layout::signed_in(
            &format!("#{} {}", c.number, c.subject),
            "app",
            &viewer,
            &own_name(&viewer, &names),
        )
        .with_live(since),
        status_label: format::status_label(c.status),
        timeline: folded,
        customer_name,
        organization,
        identities,
        chat_addresses,
        chat_code_address,
        chat_code_notice,
        others,
        fields,
        statuses: status_choices(Some(c.status), false),
        after_statuses: status_choices(None, true),
        priorities: Priority::ALL
            .iter()
            .map(|p| choice(p.as_str(), p.as_str(), *p == c.priority))
            .collect(),
        groups,
        agents: agent_choices,
        back: "/app".into(),
        sla_targets,
        sla_history,
        max_attachment_mib: app::MAX_ATTACHMENT_BYTES >> 20,
        c,
    };
    let images_shown = page
        .timeline
        .iter()
        .any(|e| e.images_shown && e.remote_images);
    let mut response = Html(page.render()?).into_response();
    if images_shown {
        response.extensions_mut().insert(crate::RemoteImagesShown);
    }
    Ok(response)
}

/// The largest composer body read: one attachment at the limit, plus the text. Each file
/// is held to `app::MAX_ATTACHMENT_BYTES` by the use case.
pub(crate) const MAX_COMPOSER_BYTES: usize = app::MAX_ATTACHMENT_BYTES + (1 << 20);

/// `POST /app/conversations/{number}/messages`: a reply or an internal note, with files
/// when the form is sent as `multipart/form-data`.
pub(crate) async fn post_message(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(number): Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Body,
) -> PageResult<Response> {
    let number = parse_number(&number)?;
    let too_large = || {
        PageError::Invalid(format!(
            "The files are too large: attach at most {} MiB to one message.",
            app::MAX_ATTACHMENT_BYTES >> 20
        ))
    };
    let body = axum::body::to_bytes(body, MAX_COMPOSER_BYTES)
        .await
        .map_err(|_| too_large())?;
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let (form, files) = match crate::multipart::boundary(content_type) {
        Some(boundary) => crate::multipart::parse(&body, &boundary).map_err(PageError::Invalid)?,
        None => (Form::from_body(&body), Vec::new()),
    };
    viewer.check_csrf(&form)?;
    let kind = match form.get("kind") {
        Some("note") => MessageKind::Note,
        _ => MessageKind::Reply,
    };
    let status = match form.get("status") {
        Some(s) => Some(
            Status::parse(s).ok_or_else(|| PageError::Invalid(format!("{s:?} is not a status")))?,
        ),
        None => None,
    };
    let total: usize = files.iter().map(|f| f.data.len()).sum();
    if total > app::MAX_ATTACHMENT_BYTES {
        return Err(too_large());
    }
    let attachments = files
        .into_iter()
        .filter(|f| f.field == "files")
        .map(|f| app::AttachmentInput {
            filename: f.filename,
            content_type: f.content_type,
            data: f.data,
        })
        .collect();
    let posted = state
        .app
        .add_message(
            &viewer.principal,
            number,
            MessageInput {
                kind,
                text: form.raw("text").to_string(),
                attachments,
            },
            status,
            state.now(),
        )
        .await?;
    Ok(Redirect::to(&format!(
        "/app/conversations/{}#m{}",
        posted.conversation.number, posted.message.id
    ))
    .into_response())
}

/// `POST /app/conversations/{number}`: status, priority, group, assignee and tags. Only
/// what differs from the conversation as it is now is changed.
pub(crate) async fn update(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(number): Path<String>,
    body: Bytes,
) -> PageResult<Response> {
    let number = parse_number(&number)?;
    let form = Form::from_body(&body);
    viewer.check_csrf(&form)?;
    let current = state.app.conversation(&viewer.principal, number).await?;
    let mut patch = Patch::default();
    if let Some(s) = form.get("status") {
        let status =
            Status::parse(s).ok_or_else(|| PageError::Invalid(format!("{s:?} is not a status")))?;
        patch.status = Some(status).filter(|s| *s != current.status);
    }
    if let Some(p) = form.get("priority") {
        let priority = Priority::parse(p)
            .ok_or_else(|| PageError::Invalid(format!("{p:?} is not a priority")))?;
        patch.priority = Some(priority).filter(|p| *p != current.priority);
    }
    let id_or_none = |text: &str, what: &str| -> PageResult<Option<i64>> {
        match text {
            "none" => Ok(None),
            id => id
                .parse()
                .map(Some)
                .map_err(|_| PageError::Invalid(format!("{id:?} is not a {what}"))),
        }
    };
    if let Some(g) = form.get("group") {
        let group = id_or_none(g, "group")?;
        if group != current.group.as_ref().map(|g| g.id) {
            patch.group_id = Some(group);
        }
    }
    if let Some(a) = form.get("assignee") {
        let assignee = id_or_none(a, "agent")?;
        if assignee != current.assignee.as_ref().map(|a| a.id) {
            patch.assignee_id = Some(assignee);
        }
    }
    patch.add_tags = split_tags(form.get("add_tag"));
    patch.remove_tags = split_tags(form.get("remove_tag"));
    state
        .app
        .update_conversation(&viewer.principal, number, patch, state.now())
        .await?;
    Ok(Redirect::to(&format!("/app/conversations/{number}")).into_response())
}

/// `POST /app/conversations/{number}/chat-code`: mails the chat's customer a new code to
/// confirm the address they typed (the same limits as when the widget asks).
pub(crate) async fn send_chat_code(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(number): Path<String>,
    body: Bytes,
) -> PageResult<Response> {
    let number = parse_number(&number)?;
    let form = Form::from_body(&body);
    viewer.check_csrf(&form)?;
    state
        .app
        .resend_chat_email_code(&viewer.principal, number, state.now())
        .await?;
    Ok(Redirect::to(&format!("/app/conversations/{number}?chat_code=sent")).into_response())
}
