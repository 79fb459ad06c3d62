//! The handlers of `/api/v1`: each turns JSON into a use-case call and back, nothing more.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use domain::{Channel, MessageKind, Principal, Priority, Role, Scope, Status};

use crate::dto::*;
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiQuery, Auth, SESSION_COOKIE};
use crate::AppState;

type ApiResult<T> = Result<T, ApiError>;

fn invalid(message: String) -> ApiError {
    ApiError::new(ErrorCode::ValidationFailed, message)
}

fn parse_status(text: &str) -> ApiResult<Status> {
    Status::parse(text).ok_or_else(|| {
        invalid(format!(
            "status {text:?} is not one of new, open, pending, on_hold, solved, closed"
        ))
    })
}

fn parse_priority(text: &str) -> ApiResult<Priority> {
    Priority::parse(text).ok_or_else(|| {
        invalid(format!(
            "priority {text:?} is not one of low, normal, high, urgent"
        ))
    })
}

fn parse_number(text: &str, what: &str) -> ApiResult<i64> {
    text.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound, format!("{what} {text:?} not found")))
}

fn message_input(m: MessageIn) -> ApiResult<(app::MessageInput, Option<Status>)> {
    let kind = MessageKind::parse(&m.kind).ok_or_else(|| {
        invalid(format!(
            "message kind {:?} is not one of customer, reply, note",
            m.kind
        ))
    })?;
    let mut attachments = Vec::new();
    for a in m.attachments {
        let data = base64::engine::general_purpose::STANDARD
            .decode(a.data_base64.as_bytes())
            .map_err(|e| {
                invalid(format!(
                    "attachment {:?} is not valid base64: {e}",
                    a.filename
                ))
            })?;
        attachments.push(app::AttachmentInput {
            filename: a.filename,
            content_type: a.content_type,
            data,
        });
    }
    let status = m.status.as_deref().map(parse_status).transpose()?;
    Ok((
        app::MessageInput {
            kind,
            text: m.text,
            attachments,
        },
        status,
    ))
}

#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, body = Health), (status = 503, body = ErrorBody)))]
pub async fn healthz(State(state): State<AppState>) -> ApiResult<Json<Health>> {
    state.app.store.ping().await.map_err(|e| {
        tracing::error!(error = %e, "health check failed");
        ApiError::new(ErrorCode::Unavailable, "the database does not answer")
    })?;
    let database = match state.app.store.dialect() {
        store::Dialect::Sqlite => "sqlite",
        store::Dialect::Postgres => "postgres",
    };
    Ok(Json(Health {
        status: "ok".into(),
        database: database.into(),
    }))
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = LoginResponse, description = "Signed in; the session cookie is set"),
              (status = 401, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn login(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let key = body.email.trim().to_lowercase();
    if !state.login_limiter.allow(&key, state.now()) {
        return Err(ApiError::new(
            ErrorCode::RateLimited,
            "too many failed sign-ins for this address; wait a few minutes",
        ));
    }
    let outcome = match state
        .app
        .login(&body.email, &body.password, state.now())
        .await
    {
        Ok(outcome) => outcome,
        Err(err) => {
            state.login_limiter.failed(&key, state.now());
            return Err(err.into());
        }
    };
    let (kind, id) = match outcome.principal {
        Principal::Agent { id, .. } => ("agent", id),
        Principal::Customer { id } => ("customer", id),
        _ => ("unknown", 0),
    };
    let max_age = (outcome.expires_at - state.now()) / 1000;
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let cookie = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        outcome.session
    );
    let body = LoginResponse {
        csrf_token: outcome.csrf_token,
        kind: kind.into(),
        id,
        expires_at: time(outcome.expires_at),
    };
    let mut response = Json(body).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "auth", responses((status = 204, description = "Signed out")))]
pub async fn logout(
    State(state): State<AppState>,
    request: axum::http::request::Parts,
) -> ApiResult<Response> {
    if let Some(session) = crate::extract::session_cookie(&request) {
        state.app.logout(&session, state.now()).await?;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let cookie = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}");
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

#[utoipa::path(get, path = "/api/v1/auth/me", tag = "auth", responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn me(Auth(principal): Auth) -> Json<Me> {
    Json(match principal {
        Principal::Agent { id, role, groups } => Me {
            kind: "agent".into(),
            id,
            role: Some(role.as_str().into()),
            groups,
            scopes: vec![],
        },
        Principal::Customer { id } => Me {
            kind: "customer".into(),
            id,
            role: None,
            groups: vec![],
            scopes: vec![],
        },
        Principal::Token { id, scopes } => Me {
            kind: "token".into(),
            id,
            role: None,
            groups: vec![],
            scopes: scopes.iter().map(|s| s.as_str().into()).collect(),
        },
        Principal::System => Me {
            kind: "system".into(),
            id: 0,
            role: None,
            groups: vec![],
            scopes: vec![],
        },
    })
}

#[utoipa::path(post, path = "/api/v1/conversations", tag = "conversations", request_body = NewConversationIn,
    responses((status = 201, body = ConversationOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_conversation(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(body): ApiJson<NewConversationIn>,
) -> ApiResult<(StatusCode, Json<ConversationOut>)> {
    let (message, _) = message_input(body.message)?;
    let channel = match body.channel.as_deref() {
        Some(text) => Channel::parse(text).ok_or_else(|| {
            invalid(format!(
                "channel {text:?} is not one of email, web, chat, api, phone, sms, social"
            ))
        })?,
        None if matches!(principal, Principal::Customer { .. }) => Channel::Web,
        None => Channel::Api,
    };
    let customer = body
        .customer
        .map(|c| app::CustomerInput {
            email: c.email,
            phone: c.phone,
            chat: c.chat,
            name: c.name,
        })
        .unwrap_or_default();
    let input = app::NewConversationInput {
        subject: body.subject,
        customer,
        message,
        channel,
        priority: body.priority.as_deref().map(parse_priority).transpose()?,
        group_id: body.group_id,
        assignee_id: body.assignee_id,
        tags: body.tags,
        custom_fields: body.custom_fields,
    };
    let view = state
        .app
        .create_conversation(&principal, input, state.now())
        .await?;
    metrics::counter!("rapport_conversations_created_total").increment(1);
    Ok((StatusCode::CREATED, Json(view.into())))
}

#[utoipa::path(get, path = "/api/v1/conversations", tag = "conversations", params(ListParams),
    responses((status = 200, body = ConversationListOut), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list_conversations(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<ConversationListOut>> {
    let mut filter = app::ConversationFilter::default();
    if let Some(statuses) = &params.status {
        for s in statuses.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if s == "unsolved" {
                filter
                    .statuses
                    .extend(["new", "open", "pending", "on_hold"].map(String::from));
            } else {
                filter.statuses.push(
                    parse_status(s)
                        .map_err(|e| ApiError::new(ErrorCode::InvalidParameter, e.message))?
                        .as_str()
                        .into(),
                );
            }
        }
    }
    let bad_param = |name: &str, value: &str| {
        ApiError::new(
            ErrorCode::InvalidParameter,
            format!("{name}={value:?} is not valid"),
        )
    };
    filter.group_id = match params.group.as_deref() {
        None => None,
        Some("none") => Some(None),
        Some(g) => Some(Some(g.parse().map_err(|_| bad_param("group", g))?)),
    };
    filter.assignee_id = match params.assignee.as_deref() {
        None => None,
        Some("none") => Some(None),
        Some("me") => match &principal {
            Principal::Agent { id, .. } => Some(Some(*id)),
            _ => {
                return Err(ApiError::new(
                    ErrorCode::InvalidParameter,
                    "assignee=me is for agents",
                ))
            }
        },
        Some(a) => Some(Some(a.parse().map_err(|_| bad_param("assignee", a))?)),
    };
    filter.tag = params.tag.clone();
    filter.customer_id = params.customer;
    filter.q = params.q.clone().filter(|q| !q.trim().is_empty());
    let sort = match params.sort.as_deref() {
        None => app::ConversationSort::default(),
        Some(s) => app::ConversationSort::parse(s).ok_or_else(|| bad_param("sort", s))?,
    };
    let query = app::ListQuery {
        filter,
        sort,
        cursor: params.cursor.clone(),
        limit: params.limit.unwrap_or(25),
    };
    let list = state
        .app
        .list_conversations(&principal, query)
        .await
        .map_err(|e| match e {
            // The only input the listing itself judges is the cursor.
            app::AppError::Invalid(message) => ApiError::new(ErrorCode::InvalidParameter, message),
            other => other.into(),
        })?;
    Ok(Json(ConversationListOut {
        items: list.items.into_iter().map(Into::into).collect(),
        total: list.total,
        next_cursor: list.next_cursor,
        total_is_lower_bound: list.total_is_lower_bound,
    }))
}

#[utoipa::path(get, path = "/api/v1/conversations/{number}", tag = "conversations", params(("number" = i64, Path)),
    responses((status = 200, body = ConversationOut), (status = 404, body = ErrorBody)))]
pub async fn get_conversation(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(number): Path<String>,
) -> ApiResult<Json<ConversationOut>> {
    let number = parse_number(&number, "conversation")?;
    Ok(Json(
        state.app.conversation(&principal, number).await?.into(),
    ))
}

#[utoipa::path(patch, path = "/api/v1/conversations/{number}", tag = "conversations", params(("number" = i64, Path)), request_body = PatchIn,
    responses((status = 200, body = ConversationOut), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn patch_conversation(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(number): Path<String>,
    ApiJson(body): ApiJson<PatchIn>,
) -> ApiResult<Json<ConversationOut>> {
    let number = parse_number(&number, "conversation")?;
    let patch = app::Patch {
        status: body.status.as_deref().map(parse_status).transpose()?,
        priority: body.priority.as_deref().map(parse_priority).transpose()?,
        group_id: body.group_id,
        assignee_id: body.assignee_id,
        subject: body.subject,
        tags: body.tags,
        add_tags: body.add_tags,
        remove_tags: body.remove_tags,
        custom_fields: body.custom_fields,
    };
    Ok(Json(
        state
            .app
            .update_conversation(&principal, number, patch, state.now())
            .await?
            .into(),
    ))
}

#[utoipa::path(post, path = "/api/v1/conversations/{number}/messages", tag = "conversations", params(("number" = i64, Path)), request_body = MessageIn,
    responses((status = 201, body = PostedMessageOut), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn post_message(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(number): Path<String>,
    ApiJson(body): ApiJson<MessageIn>,
) -> ApiResult<(StatusCode, Json<PostedMessageOut>)> {
    let number = parse_number(&number, "conversation")?;
    let (message, status) = message_input(body)?;
    let posted = state
        .app
        .add_message(&principal, number, message, status, state.now())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(PostedMessageOut {
            message: posted.message.into(),
            conversation: posted.conversation.into(),
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/conversations/{number}/messages", tag = "conversations", params(("number" = i64, Path)),
    responses((status = 200, body = ItemsOut<MessageOut>), (status = 404, body = ErrorBody)))]
pub async fn list_messages(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(number): Path<String>,
) -> ApiResult<Json<ItemsOut<MessageOut>>> {
    let number = parse_number(&number, "conversation")?;
    let views = state.app.messages(&principal, number).await?;
    Ok(Json(ItemsOut::all(views)))
}

#[utoipa::path(get, path = "/api/v1/conversations/{number}/events", tag = "conversations", params(("number" = i64, Path)),
    responses((status = 200, body = ItemsOut<EventOut>, description = "The audit trail, oldest first, each event with its actor"), (status = 404, body = ErrorBody)))]
pub async fn list_events(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(number): Path<String>,
) -> ApiResult<Json<ItemsOut<EventOut>>> {
    let number = parse_number(&number, "conversation")?;
    let views = state.app.events(&principal, number).await?;
    Ok(Json(ItemsOut::all(views)))
}

#[utoipa::path(post, path = "/api/v1/conversations/{number}/merge", tag = "conversations", params(("number" = i64, Path)), request_body = MergeIn,
    responses((status = 200, body = ConversationOut, description = "The surviving conversation"), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn merge_conversation(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(number): Path<String>,
    ApiJson(body): ApiJson<MergeIn>,
) -> ApiResult<Json<ConversationOut>> {
    let number = parse_number(&number, "conversation")?;
    Ok(Json(
        state
            .app
            .merge_conversations(&principal, number, body.into, state.now())
            .await?
            .into(),
    ))
}

#[utoipa::path(post, path = "/api/v1/conversations/{number}/chat-email-code", tag = "conversations", params(("number" = i64, Path)),
    responses((status = 202, body = ChatEmailCodeOut, description = "A new code was queued for the address the customer typed into the conversation's chat (at most 3 codes per chat, whoever asks)"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "Customers ask from the chat; tokens need conversations:write"),
        (status = 404, body = ErrorBody), (status = 422, body = ErrorBody, description = "No address waiting to be confirmed, no mailbox, or the limit was reached")))]
pub async fn send_chat_email_code(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(number): Path<String>,
) -> ApiResult<(StatusCode, Json<ChatEmailCodeOut>)> {
    let number = parse_number(&number, "conversation")?;
    let email = state
        .app
        .resend_chat_email_code(&principal, number, state.now())
        .await?;
    Ok((StatusCode::ACCEPTED, Json(ChatEmailCodeOut { email })))
}

#[utoipa::path(get, path = "/api/v1/queues", tag = "conversations",
    responses((status = 200, body = QueuesOut, description = "Counts for the queue sidebar"), (status = 401, body = ErrorBody)))]
pub async fn queues(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> ApiResult<Json<QueuesOut>> {
    let counts = state.app.queue_counts(&principal).await?;
    let groups = state
        .app
        .store
        .groups()
        .await
        .map_err(app::AppError::from)?;
    let group_name = |id: Option<i64>| match id {
        Some(id) => groups
            .iter()
            .find(|g| g.id == id)
            .map(|g| g.name.clone())
            .unwrap_or_default(),
        None => "(no group)".into(),
    };
    Ok(Json(QueuesOut {
        mine: counts.mine,
        unassigned: counts.unassigned,
        open: counts.open,
        pending: counts.pending,
        on_hold: counts.on_hold,
        by_group: counts
            .by_group
            .into_iter()
            .map(|(id, count)| CountOut {
                id,
                name: group_name(id),
                count,
            })
            .collect(),
        by_tag: counts
            .by_tag
            .into_iter()
            .map(|(name, count)| CountOut {
                id: None,
                name,
                count,
            })
            .collect(),
    }))
}

#[utoipa::path(get, path = "/api/v1/customers/{id}", tag = "customers", params(("id" = i64, Path)),
    responses((status = 200, body = CustomerOut), (status = 404, body = ErrorBody)))]
pub async fn get_customer(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> ApiResult<Json<CustomerOut>> {
    let id = parse_number(&id, "customer")?;
    Ok(Json(state.app.customer(&principal, id).await?.into()))
}

#[utoipa::path(post, path = "/api/v1/customers/{id}/merge", tag = "customers", params(("id" = i64, Path)), request_body = MergeIn,
    responses((status = 200, body = CustomerOut, description = "The surviving customer"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn merge_customer(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<MergeIn>,
) -> ApiResult<Json<CustomerOut>> {
    let id = parse_number(&id, "customer")?;
    Ok(Json(
        state
            .app
            .merge_customers(&principal, id, body.into, state.now())
            .await?
            .into(),
    ))
}

#[utoipa::path(get, path = "/api/v1/attachments/{id}", tag = "conversations", params(("id" = i64, Path)),
    responses((status = 200, description = "The file, as it was uploaded"), (status = 404, body = ErrorBody)))]
pub async fn get_attachment(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let id = parse_number(&id, "attachment")?;
    let (meta, data) = state.app.attachment(&principal, id).await?;
    let content_type = HeaderValue::from_str(&meta.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let safe_name: String = meta
        .filename
        .chars()
        .filter(|c| c.is_ascii_graphic() && *c != '"' || *c == ' ')
        .collect();
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{safe_name}\""))
        .unwrap_or(HeaderValue::from_static("attachment"));
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_DISPOSITION, disposition),
            (
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            ),
        ],
        data,
    )
        .into_response())
}

#[utoipa::path(post, path = "/api/v1/tokens", tag = "admin", request_body = NewTokenIn,
    responses((status = 201, body = NewTokenOut), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_token(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(body): ApiJson<NewTokenIn>,
) -> ApiResult<(StatusCode, Json<NewTokenOut>)> {
    let scopes = body
        .scopes
        .iter()
        .map(|s| Scope::parse(s).ok_or_else(|| invalid(format!("scope {s:?} is not one of conversations:read, conversations:write, customers:read, admin"))))
        .collect::<ApiResult<Vec<_>>>()?;
    let token = state
        .app
        .create_token(&principal, &body.name, &scopes, state.now())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(NewTokenOut {
            id: token.id,
            token: token.secret,
        }),
    ))
}

#[utoipa::path(get, path = "/api/v1/tokens", tag = "admin",
    responses((status = 200, body = ItemsOut<TokenOut>, description = "Every API token, newest first, without secrets"), (status = 403, body = ErrorBody)))]
pub async fn list_tokens(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> ApiResult<Json<ItemsOut<TokenOut>>> {
    let views = state.app.tokens(&principal).await?;
    Ok(Json(ItemsOut::all(views)))
}

#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "admin", params(("id" = i64, Path)),
    responses((status = 204, description = "Revoked: the token is refused from now on"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_token(
    State(state): State<AppState>,
    Auth(principal): Auth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let id = parse_number(&id, "token")?;
    state.app.revoke_token(&principal, id, state.now()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/api/v1/agents", tag = "admin", request_body = NewAgentIn,
    responses((status = 201, body = CreatedOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_agent(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(body): ApiJson<NewAgentIn>,
) -> ApiResult<(StatusCode, Json<CreatedOut>)> {
    let role = Role::parse(&body.role).ok_or_else(|| {
        invalid(format!(
            "role {:?} is not one of agent, lead, manager, admin",
            body.role
        ))
    })?;
    let id = state
        .app
        .add_agent(
            &principal,
            &body.email,
            body.name.as_deref().unwrap_or_default(),
            role,
            &body.password,
            &body.groups,
            state.now(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(CreatedOut { id })))
}

#[utoipa::path(get, path = "/api/v1/agents", tag = "admin", responses((status = 200, body = ItemsOut<AgentListItem>), (status = 403, body = ErrorBody)))]
pub async fn list_agents(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> ApiResult<Json<ItemsOut<AgentListItem>>> {
    let items = state
        .app
        .agents(&principal)
        .await?
        .into_iter()
        .map(|a| AgentListItem {
            id: a.id,
            email: a.email,
            name: a.name,
            role: a.role,
            active: a.active,
        });
    Ok(Json(ItemsOut::all(items)))
}

#[utoipa::path(get, path = "/api/v1/groups", tag = "admin", responses((status = 200, body = ItemsOut<GroupOut>), (status = 403, body = ErrorBody)))]
pub async fn list_groups(
    State(state): State<AppState>,
    Auth(principal): Auth,
) -> ApiResult<Json<ItemsOut<GroupOut>>> {
    let items = state
        .app
        .groups(&principal)
        .await?
        .into_iter()
        .map(|g| GroupOut {
            id: g.id,
            name: g.name,
        });
    Ok(Json(ItemsOut::all(items)))
}

#[utoipa::path(post, path = "/api/v1/groups", tag = "admin", request_body = NewGroupIn,
    responses((status = 201, body = CreatedOut), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_group(
    State(state): State<AppState>,
    Auth(principal): Auth,
    ApiJson(body): ApiJson<NewGroupIn>,
) -> ApiResult<(StatusCode, Json<CreatedOut>)> {
    let id = state
        .app
        .add_group(&principal, &body.name, state.now())
        .await?;
    Ok((StatusCode::CREATED, Json(CreatedOut { id })))
}
