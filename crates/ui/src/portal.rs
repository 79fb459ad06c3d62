//! The customer portal: a customer sees their own conversations, replies, and opens new
//! ones. Whatever is not theirs is a 404, because the use cases say `NotFound`.

use app::{CustomerInput, MessageInput, NewConversationInput};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use domain::{Actor, Channel, MessageKind, Principal};
use web::AppState;

use crate::error::{PageError, PageResult};
use crate::form::Form;
use crate::format;
use crate::session::Viewer;
use crate::workspace::{attachments, Attachment};
use crate::Layout;

/// The portal is for customers; the team works in `/app`.
fn customer_id(viewer: &Viewer) -> Option<i64> {
    match viewer.principal {
        Principal::Customer { id } => Some(id),
        _ => None,
    }
}

struct Item {
    href: String,
    number: i64,
    subject: String,
    status_label: &'static str,
    updated: String,
    updated_iso: String,
}

/// A survey the customer can still answer.
struct SurveyItem {
    href: String,
    number: i64,
    subject: String,
    kind_label: &'static str,
    until: String,
}

#[derive(Template)]
#[template(path = "portal_home.html")]
struct HomePage {
    layout: Layout,
    items: Vec<Item>,
    surveys: Vec<SurveyItem>,
}

/// `GET /portal`: the customer's conversations, most recently updated first.
pub(crate) async fn home(State(state): State<AppState>, viewer: Viewer) -> PageResult<Response> {
    let Some(id) = customer_id(&viewer) else {
        return Ok(Redirect::to("/app").into_response());
    };
    let me = state.app.customer(&viewer.principal, id).await?;
    let items = me
        .conversations
        .into_iter()
        .map(|c| Item {
            href: format!("/portal/conversations/{}", c.number),
            number: c.number,
            subject: c.subject,
            status_label: format::customer_status_label(c.status),
            updated: format::time(c.updated_at),
            updated_iso: format::iso(c.updated_at),
        })
        .collect();
    let surveys = state
        .app
        .customer_surveys(&viewer.principal, state.now())
        .await?
        .into_iter()
        .map(|s| SurveyItem {
            href: format!("/portal/surveys/{}", s.id),
            number: s.conversation,
            subject: s.subject,
            kind_label: s.kind.label(),
            until: format::time(s.expires_at),
        })
        .collect();
    let page = HomePage {
        layout: Layout::signed_in("Your requests", "portal", &viewer, &me.name),
        items,
        surveys,
    };
    Ok(Html(page.render()?).into_response())
}

struct Message {
    id: i64,
    mine: bool,
    author: String,
    at: String,
    at_iso: String,
    html: String,
    attachments: Vec<Attachment>,
}

#[derive(Template)]
#[template(path = "portal_conversation.html")]
struct ConversationPage {
    layout: Layout,
    number: i64,
    subject: String,
    status_label: &'static str,
    closed: bool,
    messages: Vec<Message>,
}

/// `GET /portal/conversations/{number}`: one of the customer's conversations.
pub(crate) async fn conversation(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(number): Path<String>,
) -> PageResult<Response> {
    if customer_id(&viewer).is_none() {
        return Ok(Redirect::to(&format!("/app/conversations/{number}")).into_response());
    }
    let number = number
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(PageError::NotFound)?;
    let c = state.app.conversation(&viewer.principal, number).await?;
    let messages = state.app.messages(&viewer.principal, number).await?;
    let agent_name = c.assignee.as_ref().map(|a| a.name.clone());
    let messages: Vec<_> = messages
        .into_iter()
        .filter(|m| m.kind != MessageKind::Note)
        .collect();
    let public: Vec<i64> = messages.iter().map(|m| m.id).collect();
    let digest = app::PortalDigest::new(c.status, &public);
    let messages = messages
        .into_iter()
        .map(|m| {
            let mine = matches!(m.author, Actor::Customer(_));
            let author = match (&m.author, &agent_name) {
                (Actor::Customer(_), _) => "You".to_string(),
                (Actor::Agent(id), Some(name))
                    if c.assignee.as_ref().is_some_and(|a| a.id == *id) && !name.is_empty() =>
                {
                    name.clone()
                }
                _ => "Support team".to_string(),
            };
            Message {
                id: m.id,
                mine,
                author,
                at: format::time(m.created_at),
                at_iso: format::iso(m.created_at),
                html: m.html,
                attachments: attachments(&m.attachments),
            }
        })
        .collect();
    let mut layout = Layout::signed_in(&c.subject, "portal", &viewer, "");
    // The page follows its own conversation (see `live::portal_events`).
    layout.live = format!(
        "/portal/conversations/{}/events?seen={}",
        c.number,
        digest.as_str()
    );
    let page = ConversationPage {
        layout,
        number: c.number,
        status_label: format::customer_status_label(c.status),
        closed: c.status == domain::Status::Closed,
        subject: c.subject,
        messages,
    };
    Ok(Html(page.render()?).into_response())
}

/// `POST /portal/conversations/{number}/messages`: the customer writes again. On a
/// closed conversation this opens a follow-up, and the customer is taken there.
pub(crate) async fn post_message(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(number): Path<String>,
    body: Bytes,
) -> PageResult<Response> {
    let form = Form::from_body(&body);
    viewer.check_csrf(&form)?;
    if customer_id(&viewer).is_none() {
        return Err(PageError::NotFound);
    }
    let number = number
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(PageError::NotFound)?;
    let posted = state
        .app
        .add_message(
            &viewer.principal,
            number,
            MessageInput {
                kind: MessageKind::Customer,
                text: form.raw("text").to_string(),
                attachments: Vec::new(),
            },
            None,
            state.now(),
        )
        .await?;
    Ok(Redirect::to(&format!(
        "/portal/conversations/{}#m{}",
        posted.conversation.number, posted.message.id
    ))
    .into_response())
}

#[derive(Template)]
#[template(path = "portal_new.html")]
struct NewPage {
    layout: Layout,
}

/// `GET /portal/new`: the form for a new request.
pub(crate) async fn new_page(viewer: Viewer) -> PageResult<Response> {
    if customer_id(&viewer).is_none() {
        return Ok(Redirect::to("/app").into_response());
    }
    let page = NewPage {
        layout: Layout::signed_in("New request", "portal", &viewer, ""),
    };
    Ok(Html(page.render()?).into_response())
}

/// `POST /portal/conversations`: opens a new request with its first message.
pub(crate) async fn create(
    State(state): State<AppState>,
    viewer: Viewer,
    body: Bytes,
) -> PageResult<Response> {
    let form = Form::from_body(&body);
    viewer.check_csrf(&form)?;
    if customer_id(&viewer).is_none() {
        return Err(PageError::NotFound);
    }
    let input = NewConversationInput {
        subject: form.raw("subject").to_string(),
        customer: CustomerInput::default(),
        message: MessageInput {
            kind: MessageKind::Customer,
            text: form.raw("text").to_string(),
            attachments: Vec::new(),
        },
        channel: Channel::Web,
        priority: None,
        group_id: None,
        assignee_id: None,
        tags: Vec::new(),
        custom_fields: serde_json::Map::new(),
    };
    let view = state
        .app
        .create_conversation(&viewer.principal, input, state.now())
        .await?;
    Ok(Redirect::to(&format!("/portal/conversations/{}", view.number)).into_response())
}
