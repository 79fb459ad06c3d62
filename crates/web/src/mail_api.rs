//! The e-mail channel over HTTP: the delivery state of a conversation's mail, the support
//! mailboxes, and the quarantine (administrators).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::dto::{time, ItemsOut};
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, Auth};
use crate::AppState;

type ApiResult<T> = Result<T, ApiError>;

fn parse_id(text: &str, what: &str) -> ApiResult<i64> {
    text.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("{what} {text:?} not found")))
}

/// An e-mail Rapport sent or is sending for a conversation.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboundMailOut {
    pub id: i64,
    /// The conversation message it carries (absent for automatic mail).
    pub message_id: Option<i64>,
    /// Its Message-ID header.
    pub header_message_id: String,
    pub to: String,
    pub automatic: bool,
    /// queued, sent, deferred (will retry) or failed.
    pub state: String,
    pub attempts: i64,
    /// Why the last attempt did not deliver it.
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<store::OutboundMailRow> for OutboundMailOut {
    fn from(row: store::OutboundMailRow) -> Self {
        OutboundMailOut {
            id: row.id,
            message_id: row.message,
            header_message_id: row.header_message_id,
            to: row.recipients,
            automatic: row.automatic,
            state: row.state,
            attempts: row.attempts,
            last_error: row.last_error,
            created_at: time(row.created_at),
            updated_at: time(row.updated_at),
        }
    }
}

#[utoipa::path(get, path = "/api/v1/conversations/{number}/mail", tag = "mail", params(("number" = i64, Path)),
    responses((status = 200, body = ItemsOut<OutboundMailOut>, description = "The conversation's outgoing e-mail and its delivery state"),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn conversation_mail(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(number): Path<String>,
) -> ApiResult<Json<ItemsOut<OutboundMailOut>>> {
    let number = parse_id(&number, "conversation")?;
    let views = state.app.outbound_mail(&principal, number).await?;
    Ok(Json(ItemsOut::all(views)))
}

/// A support address.
#[derive(Debug, Serialize, ToSchema)]
pub struct MailboxOut {
    pub id: i64,
    pub address: String,
    pub name: String,
    pub group_id: Option<i64>,
    /// New conversations get an automatic acknowledgement.
    pub acknowledge: bool,
    pub created_at: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailboxIn {
    pub address: String,
    #[serde(default)]
    pub name: String,
    /// The group (by name) that receives its new conversations.
    pub group: Option<String>,
    #[serde(default)]
    pub acknowledge: bool,
}

#[utoipa::path(get, path = "/api/v1/mailboxes", tag = "mail",
    responses((status = 200, body = ItemsOut<MailboxOut>), (status = 403, body = ErrorBody)))]
pub async fn list_mailboxes(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> ApiResult<Json<ItemsOut<MailboxOut>>> {
    if !principal.can_administer() {
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "only administrators see the mailboxes",
        ));
    }
    let items = state
        .app
        .mailboxes()
        .await?
        .into_iter()
        .map(|m| MailboxOut {
            id: m.id,
            address: m.address,
            name: m.name,
            group_id: m.group_id,
            acknowledge: m.acknowledge,
            created_at: time(m.created_at),
        });
    Ok(Json(ItemsOut::all(items)))
}

#[utoipa::path(post, path = "/api/v1/mailboxes", tag = "mail", request_body = MailboxIn,
    responses((status = 201, body = MailboxOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_mailbox(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(body): ApiJson<MailboxIn>,
) -> ApiResult<(StatusCode, Json<MailboxOut>)> {
    let now = state.now();
    let id = state
        .app
        .add_mailbox(
            &principal,
            &body.address,
            &body.name,
            body.group.as_deref(),
            body.acknowledge,
            now,
        )
        .await?;
    let mailbox = state
        .app
        .mailboxes()
        .await?
        .into_iter()
        .find(|m| m.id == id)
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, "the new mailbox vanished"))?;
    Ok((
        StatusCode::CREATED,
        Json(MailboxOut {
            id: mailbox.id,
            address: mailbox.address,
            name: mailbox.name,
            group_id: mailbox.group_id,
            acknowledge: mailbox.acknowledge,
            created_at: time(mailbox.created_at),
        }),
    ))
}

/// A message Rapport could not take in, kept with the reason.
#[derive(Debug, Serialize, ToSchema)]
pub struct QuarantinedOut {
    pub id: i64,
    pub received_at: String,
    /// smtp, lmtp, imap or import.
    pub transport: String,
    pub mail_from: String,
    pub recipients: String,
    pub size: i64,
    pub reason: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct QuarantineQuery {
    /// Only entries with a greater id (the last id of the previous page).
    pub after: Option<i64>,
    /// At most this many (1–1000, default 100).
    pub limit: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/mail/quarantine", tag = "mail", params(QuarantineQuery),
    responses((status = 200, body = ItemsOut<QuarantinedOut>), (status = 403, body = ErrorBody)))]
pub async fn quarantine(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Query(query): Query<QuarantineQuery>,
) -> ApiResult<Json<ItemsOut<QuarantinedOut>>> {
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let rows = state
        .app
        .quarantine(&principal, query.after.unwrap_or(0).max(0), limit)
        .await?;
    let next_cursor = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.id.to_string()))
        .flatten();
    let items = rows.into_iter().map(|m| QuarantinedOut {
        id: m.id,
        received_at: time(m.received_at),
        transport: m.transport,
        mail_from: m.mail_from,
        recipients: m.recipients,
        size: m.size,
        reason: m.reason,
    });
    Ok(Json(ItemsOut {
        next_cursor,
        ..ItemsOut::all(items)
    }))
}

#[utoipa::path(post, path = "/api/v1/mail/quarantine/{id}/release", tag = "mail", params(("id" = i64, Path)),
    responses((status = 202, description = "Released: it is processed again, leniently"),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn release(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_id(&id, "inbound message")?;
    state
        .app
        .release_quarantined(&principal, id, state.now())
        .await?;
    Ok(StatusCode::ACCEPTED)
}
