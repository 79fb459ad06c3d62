//! The live-chat widget: a page any site can put in an iframe (`/chat`, its own headers
//! allow framing by any site and, unlike the contact form, its one script) and the
//! WebSocket it talks over (`/chat/ws`).
//!
//! The socket speaks JSON text frames. The widget sends `hello` (name, optional e-mail, the
//! visitor handle it kept), `message` (text and a `ref` the acknowledgement repeats),
//! `resume` (the chat's token, after a reload), `verify` (the code e-mailed to the address
//! given), `send_code` (another code), `end` and `transcript` (an optional address).
//! The server answers `ready`, `started` (the token and visitor handle to keep, and whether
//! the address is confirmed or a code was sent to it), `ack` (only once the message is
//! committed), `state` (the whole chat, after `resume`), `message` (a public reply),
//! `verified`, `code_sent`, `ended`, `transcript_queued`, and `error` frames with a code and
//! a sentence for a person. The use cases in `app` decide what the customer sees: this
//! adapter only learns from the server's live feed (the one the agents' streams use) that
//! its conversation changed, and asks `App::chat_view` again.
//!
//! Limits: frames over [`MAX_FRAME_BYTES`] close the socket (1009); messages per chat
//! and chats started per client address are rate-limited with a token bucket each, kept in
//! the store so that the limits hold for all nodes together (`App::take_rate_token`); a client address may hold at most [`ChatOptions::max_sockets_per_address`] sockets
//! open at once on all nodes together (counted in the store, `App::open_chat_socket`; one
//! more gets a `too_many_chats` error frame and is closed with 1013, try again later).
//! Which sites may frame the widget is [`ChatOptions::frame_ancestors`] (any, by default).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use app::{AppError, ChatHandle, ChatLine, ChatSocket, ChatVisitor, RateLimit};
use askama::Template;
use axum::extract::ws::{CloseFrame, Message as Frame, WebSocket, WebSocketUpgrade};
use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::Extension;
use serde_json::{json, Value};
use tokio::sync::broadcast;
use web::AppState;

use crate::error::PageResult;
use crate::limit::ClientAddress;
use crate::live::{Live, Message};

/// The policy of the chat page by default: like every page's (its script and styles from
/// this origin, its socket to this origin), except that any site may frame it.
pub const CHAT_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors *";

/// The chat page's policy when only the sites in `frame_ancestors` (a checked source list,
/// see [`check_frame_ancestors`]) may frame it.
pub fn chat_content_security_policy(frame_ancestors: &str) -> String {
    let base = CHAT_CONTENT_SECURITY_POLICY.trim_end_matches("frame-ancestors *");
    format!("{base}frame-ancestors {frame_ancestors}")
}

/// Which sites may frame the widget unless configured: any.
pub const DEFAULT_CHAT_FRAME_ANCESTORS: &str = "*";
/// Open chat sockets per client address unless configured. Generous, since a whole office
/// behind one address may chat at once; it bounds what one address can hold open.
pub const DEFAULT_CHAT_SOCKETS_PER_ADDRESS: u32 = 20;

/// The configurable side of the chat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatOptions {
    /// The `frame-ancestors` sources of the widget page, e.g. `https://shop.example.com`.
    pub frame_ancestors: String,
    /// Sockets one client address may hold open at once (at least 1).
    pub max_sockets_per_address: u32,
}

impl Default for ChatOptions {
    fn default() -> Self {
        ChatOptions {
            frame_ancestors: DEFAULT_CHAT_FRAME_ANCESTORS.into(),
            max_sockets_per_address: DEFAULT_CHAT_SOCKETS_PER_ADDRESS,
        }
    }
}

/// Checks a `frame-ancestors` source list and returns it with single spaces: `*`, `'self'`,
/// `'none'` (alone), schemes such as `https:`, and hosts such as `https://shop.example.com`,
/// `*.example.com` or `example.com:8443`. Anything that could end the directive or add
/// another (`;`, `,`, quotes, other keywords) is refused with the reason.
pub fn check_frame_ancestors(value: &str) -> Result<String, String> {
    let sources: Vec<&str> = value.split_whitespace().collect();
    let example = "e.g. \"*\", \"'self'\" or \"'self' https://shop.example.com\"";
    if sources.is_empty() {
        return Err(format!(
            "it is empty; give the sites that may embed the chat ({example})"
        ));
    }
    for source in &sources {
        let valid = match *source {
            "*" | "'self'" => true,
            // Without quotes these would be hosts named "self" or "none": surely a slip.
            "self" | "none" => false,
            "'none'" => sources.len() == 1,
            other => is_scheme_source(other) || is_host_source(other),
        };
        if !valid {
            let why = if *source == "'none'" {
                "'none' stands alone".to_string()
            } else if matches!(*source, "self" | "none") {
                format!("write '{source}' with its single quotes")
            } else {
                format!("{source:?} is not a source a browser accepts here")
            };
            return Err(format!("{why} ({example})"));
        }
    }
    Ok(sources.join(" "))
}

/// `https:`, `http:`, …: a scheme followed by a colon.
fn is_scheme_source(source: &str) -> bool {
    source.strip_suffix(':').is_some_and(is_scheme)
}

fn is_scheme(scheme: &str) -> bool {
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
}

/// `[scheme://]host[:port][/path]` with `host` `*`, `*.name` or a name.
fn is_host_source(source: &str) -> bool {
    let rest = match source.split_once("://") {
        Some((scheme, rest)) if is_scheme(scheme) => rest,
        Some(_) => return false,
        None => source,
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    let path_ok = path
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.' | '~' | '%'));
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    };
    let port_ok =
        port.is_none_or(|p| p == "*" || (!p.is_empty() && p.chars().all(|c| c.is_ascii_digit())));
    let name = host.strip_prefix("*.").unwrap_or(host);
    let host_ok = host == "*"
        || (!name.is_empty()
            && name.split('.').all(|label| {
                !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            }));
    path_ok && port_ok && host_ok
}

/// The largest frame the socket reads; a larger one closes it (1009, message too big).
pub const MAX_FRAME_BYTES: usize = 64 << 10;
/// Messages per chat: a burst of 20, then one every 1.5 seconds.
const MESSAGES_PER_CHAT: RateLimit = RateLimit {
    burst: 20,
    refill_millis: 1_500,
};
/// Chats started per client address: a burst of 5, then one a minute.
const STARTS_PER_ADDRESS: RateLimit = RateLimit {
    burst: 5,
    refill_millis: 60_000,
};
/// How often the socket pings the widget (and looks at its chat again, in case a change
/// reached the log while the live feed was catching up).
const KEEPALIVE: Duration = Duration::from_secs(20);

/// The chat sockets' cap (counted in the store, like the rates, across nodes) and the
/// widget page's policy.
pub(crate) struct ChatLimits {
    /// Open sockets per client address, on all nodes together.
    max_sockets: u32,
    /// This node's name in `chat_sockets` (random, per server).
    node: String,
    /// When this node last swept expired socket rows and full rate buckets.
    last_sweep: std::sync::atomic::AtomicI64,
    policy: HeaderValue,
}

impl ChatLimits {
    /// The limits and policy of these options (an unusable policy falls back to the default;
    /// the binary checks the configuration with [`check_frame_ancestors`] first).
    pub(crate) fn new(options: &ChatOptions) -> ChatLimits {
        let policy = check_frame_ancestors(&options.frame_ancestors)
            .ok()
            .and_then(|sources| HeaderValue::try_from(chat_content_security_policy(&sources)).ok())
            .unwrap_or_else(|| HeaderValue::from_static(CHAT_CONTENT_SECURITY_POLICY));
        ChatLimits {
            max_sockets: options.max_sockets_per_address.max(1),
            node: format!("{:016x}", rand::random::<u64>()),
            last_sweep: std::sync::atomic::AtomicI64::new(i64::MIN),
            policy,
        }
    }
}

impl ChatLimits {
    /// Sweeps expired socket rows and full rate buckets, at most once a minute per node
    /// (whichever socket's keepalive comes first).
    async fn sweep_now_and_then(&self, state: &AppState, now: i64) {
        use std::sync::atomic::Ordering;
        let last = self.last_sweep.load(Ordering::Relaxed);
        if now.saturating_sub(last) < SWEEP_EVERY_MILLIS
            || self
                .last_sweep
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        if let Err(e) = state.app.sweep_chat_limits(now).await {
            tracing::warn!(error = %e, "expired chat sockets could not be swept");
        }
    }
}

/// How often a node sweeps expired chat socket rows and full rate buckets.
const SWEEP_EVERY_MILLIS: i64 = 60_000;

/// Headers of the chat page: framable by the configured sites, everything else as strict as
/// every page.
pub(crate) async fn chat_headers(request: Request, next: Next) -> Response {
    let policy = request
        .extensions()
        .get::<Arc<ChatLimits>>()
        .map(|limits| limits.policy.clone())
        .unwrap_or_else(|| HeaderValue::from_static(CHAT_CONTENT_SECURITY_POLICY));
    crate::webform::framable_with(next.run(request).await, policy)
}

#[derive(Template)]
#[template(path = "chat.html")]
struct ChatPage {
    max_chars: usize,
}

/// `GET /chat`: the widget.
pub(crate) async fn page() -> PageResult<Response> {
    let page = ChatPage {
        max_chars: app::MAX_CHAT_MESSAGE_CHARS,
    };
    Ok(Html(page.render()?).into_response())
}

/// `GET /chat/ws`: the widget's socket.
pub(crate) async fn socket(
    State(state): State<AppState>,
    Extension(live): Extension<Live>,
    Extension(limits): Extension<Arc<ChatLimits>>,
    ClientAddress(client): ClientAddress,
    upgrade: WebSocketUpgrade,
) -> Response {
    upgrade
        .max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |mut socket| async move {
            // The place is taken in the store, so the cap holds across nodes, and given back
            // when the connection ends (or, if this node dies, when its row expires).
            let cap = limits.max_sockets;
            let opened = state
                .app
                .open_chat_socket(&limits.node, &client, cap, state.now())
                .await;
            let place = match opened {
                Ok(Some(place)) => place,
                Ok(None) => return refuse_over_cap(socket, cap).await,
                Err(e) => {
                    let _ = send(&mut socket, app_error_frame(&e, None)).await;
                    return;
                }
            };
            let app = state.app.clone();
            Connection {
                state,
                live,
                limits,
                client,
                visitor: None,
                chat: None,
                shown: HashSet::new(),
                ended: false,
                place: place.clone(),
            }
            .run(socket)
            .await;
            if let Err(e) = app.close_chat_socket(&place).await {
                tracing::warn!(error = %e, "a closed chat socket could not be forgotten; its row expires");
            }
        })
}

/// One socket too many from this address: say why, then close with 1013 (try again later),
/// so the widget retries later, when another chat may have closed.
async fn refuse_over_cap(mut socket: WebSocket, cap: u32) {
    let message = format!(
        "Too many chats are open from your network (at most {cap} at once). Close a chat in another tab or window, or try again in a minute."
    );
    let _ = send(&mut socket, error_frame("too_many_chats", &message, None)).await;
    let _ = socket
        .send(Frame::Close(Some(CloseFrame {
            code: 1013,
            reason: "too many open chats from this address".into(),
        })))
        .await;
}

/// An error frame: a stable code and a sentence for a person.
fn error_frame(code: &str, message: &str, reference: Option<&Value>) -> Value {
    let mut frame = json!({"type": "error", "code": code, "message": message});
    if let Some(reference) = reference {
        frame["ref"] = reference.clone();
    }
    frame
}

/// What went wrong in a use case, as an error frame.
fn app_error_frame(error: &AppError, reference: Option<&Value>) -> Value {
    match error {
        AppError::Invalid(message) => error_frame("invalid", message, reference),
        AppError::NotFound(_) => error_frame(
            "not_found",
            "This chat is no longer available. Start a new chat.",
            reference,
        ),
        AppError::Transition(_) => error_frame(
            "ended",
            "This chat has ended. Start a new chat to write to us again.",
            reference,
        ),
        other => {
            tracing::warn!(error = %other, "a chat request failed");
            error_frame(
                "internal",
                "Something went wrong on our side and your last action was not saved. Please try again.",
                reference,
            )
        }
    }
}

fn line_json(line: &ChatLine) -> Value {
    json!({
        "id": line.id,
        "from": line.author.as_str(),
        "name": line.name,
        "text": line.text,
        "at": crate::format::iso(line.at),
    })
}

/// One widget's socket.
struct Connection {
    state: AppState,
    live: Live,
    limits: Arc<ChatLimits>,
    client: String,
    /// Who said hello (before the first message opens the chat).
    visitor: Option<ChatVisitor>,
    chat: Option<ChatHandle>,
    /// The lines the widget has (each is sent once).
    shown: HashSet<i64>,
    ended: bool,
    /// This socket's row among its address's open sockets, renewed on each keepalive.
    place: ChatSocket,
}

/// The socket is gone (or the server is stopping).
struct Gone;

async fn send(socket: &mut WebSocket, frame: Value) -> Result<(), Gone> {
    socket
        .send(Frame::Text(frame.to_string().into()))
        .await
        .map_err(|_| Gone)
}

impl Connection {
    async fn run(mut self, mut socket: WebSocket) {
        // Subscribe before reading anything, so that no change can fall between a read and
        // the subscription.
        let mut receiver = match self.live.subscribe(&self.state).await {
            Ok((receiver, _)) => receiver,
            Err(e) => {
                let _ = send(&mut socket, app_error_frame(&e, None)).await;
                return;
            }
        };
        let mut closed = self.live.closed();
        if *closed.borrow() {
            return;
        }
        let mut keepalive = tokio::time::interval(KEEPALIVE);
        keepalive.tick().await;
        loop {
            let outcome = tokio::select! {
                _ = closed.changed() => {
                    let _ = socket.send(Frame::Close(Some(CloseFrame {
                        code: 1001,
                        reason: "the server is restarting; reconnect".into(),
                    }))).await;
                    return;
                }
                frame = socket.recv() => match frame {
                    None | Some(Ok(Frame::Close(_))) => return,
                    Some(Err(e)) => {
                        // A frame over the limit, or a broken connection.
                        tracing::debug!(error = %e, "a chat socket failed");
                        let _ = socket.send(Frame::Close(Some(CloseFrame {
                            code: 1009,
                            reason: "frames may be at most 64 KiB".into(),
                        }))).await;
                        return;
                    }
                    Some(Ok(Frame::Text(text))) => self.on_text(&mut socket, text.as_str()).await,
                    Some(Ok(Frame::Binary(_))) => send(&mut socket, error_frame(
                        "bad_frame",
                        "The chat speaks JSON text frames, not binary ones.",
                        None,
                    )).await,
                    Some(Ok(_)) => Ok(()),
                },
                message = receiver.recv() => match message {
                    Ok(Message::Events(events)) => {
                        let mine = self.chat.as_ref().map(ChatHandle::conversation);
                        if mine.is_some_and(|n| events.iter().any(|e| e.conversation == n)) {
                            self.sync(&mut socket).await
                        } else {
                            Ok(())
                        }
                    }
                    Ok(Message::Presence(_)) => Ok(()),
                    Err(broadcast::error::RecvError::Lagged(_)) => self.sync(&mut socket).await,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                _ = keepalive.tick() => {
                    match socket.send(Frame::Ping(Vec::new().into())).await {
                        Ok(()) => {
                            let now = self.state.now();
                            if let Err(e) = self.state.app.renew_chat_socket(&self.place, self.chat.as_ref(), now).await {
                                tracing::warn!(error = %e, "a chat socket's row could not be renewed");
                            }
                            self.limits.sweep_now_and_then(&self.state, now).await;
                            self.sync(&mut socket).await
                        }
                        Err(_) => Err(Gone),
                    }
                }
            };
            if outcome.is_err() {
                return;
            }
        }
    }

    /// Sends the lines the widget does not have yet, and `ended` once the chat has ended.
    async fn sync(&mut self, socket: &mut WebSocket) -> Result<(), Gone> {
        let Some(chat) = &self.chat else {
            return Ok(());
        };
        let view = match self.state.app.chat_view(chat).await {
            Ok(view) => view,
            Err(e) => {
                tracing::warn!(error = %e, "a chat could not be read");
                return Ok(());
            }
        };
        for line in &view.lines {
            if self.shown.insert(line.id) {
                send(
                    socket,
                    json!({"type": "message", "message": line_json(line)}),
                )
                .await?;
            }
        }
        if view.ended && !self.ended {
            self.ended = true;
            send(socket, json!({"type": "ended"})).await?;
        }
        Ok(())
    }

    async fn on_text(&mut self, socket: &mut WebSocket, text: &str) -> Result<(), Gone> {
        let frame: Value = match serde_json::from_str(text) {
            Ok(frame @ Value::Object(_)) => frame,
            _ => {
                return send(
                    socket,
                    error_frame(
                        "bad_frame",
                        "A frame must be a JSON object with a \"type\", like {\"type\":\"message\",\"text\":\"Hello\"}.",
                        None,
                    ),
                )
                .await
            }
        };
        let reference = frame.get("ref").filter(|r| r.is_string() || r.is_number());
        let field = |name: &str| frame.get(name).and_then(Value::as_str);
        let now = self.state.now();
        match frame.get("type").and_then(Value::as_str) {
            Some("hello") => {
                if self.chat.is_some() {
                    return send(
                        socket,
                        error_frame("invalid", "This chat has already started.", reference),
                    )
                    .await;
                }
                let visitor = ChatVisitor {
                    name: field("name").unwrap_or_default().to_string(),
                    email: field("email").unwrap_or_default().to_string(),
                    visitor: field("visitor").map(str::to_string),
                };
                match self.state.app.check_chat_visitor(&visitor) {
                    Ok(visitor) => {
                        self.visitor = Some(visitor);
                        send(socket, json!({"type": "ready"})).await
                    }
                    Err(e) => send(socket, app_error_frame(&e, reference)).await,
                }
            }
            Some("resume") => {
                let token = field("token").unwrap_or_default();
                let resumed = match self.state.app.resume_chat(token).await {
                    Ok(chat) => self.state.app.chat_view(&chat).await.map(|v| (chat, v)),
                    Err(e) => Err(e),
                };
                match resumed {
                    Ok((chat, view)) => {
                        self.chat = Some(chat);
                        self.ended = view.ended;
                        self.shown = view.lines.iter().map(|l| l.id).collect();
                        let lines: Vec<Value> = view.lines.iter().map(line_json).collect();
                        send(
                            socket,
                            json!({
                                "type": "state",
                                "conversation": view.conversation,
                                "name": view.visitor_name,
                                "has_email": view.email.is_some(),
                                "email_verified": view.email_verified,
                                "ended": view.ended,
                                "messages": lines,
                            }),
                        )
                        .await
                    }
                    Err(e) => send(socket, app_error_frame(&e, reference)).await,
                }
            }
            Some("message") => {
                let Some(text) = field("text") else {
                    return send(
                        socket,
                        error_frame("bad_frame", "A message needs its \"text\".", reference),
                    )
                    .await;
                };
                self.on_message(socket, text, reference, now).await
            }
            Some("end") => {
                let Some(chat) = &self.chat else {
                    return send(
                        socket,
                        error_frame("invalid", "There is no chat to end yet.", reference),
                    )
                    .await;
                };
                match self.state.app.end_chat(chat, now).await {
                    Ok(()) => {
                        self.ended = true;
                        send(socket, json!({"type": "ended"})).await
                    }
                    Err(e) => send(socket, app_error_frame(&e, reference)).await,
                }
            }
            Some("verify") => {
                let Some(chat) = &self.chat else {
                    return send(
                        socket,
                        error_frame("invalid", "There is no chat yet.", reference),
                    )
                    .await;
                };
                let code = field("code").unwrap_or_default();
                match self.state.app.verify_chat_email(chat, code, now).await {
                    Ok(()) => send(socket, json!({"type": "verified", "ref": reference})).await,
                    Err(e) => send(socket, app_error_frame(&e, reference)).await,
                }
            }
            Some("send_code") => {
                let Some(chat) = &self.chat else {
                    return send(
                        socket,
                        error_frame("invalid", "There is no chat yet.", reference),
                    )
                    .await;
                };
                match self.state.app.send_chat_email_code(chat, now).await {
                    Ok(()) => send(socket, json!({"type": "code_sent", "ref": reference})).await,
                    Err(e) => send(socket, app_error_frame(&e, reference)).await,
                }
            }
            Some("transcript") => {
                let Some(chat) = &self.chat else {
                    return send(
                        socket,
                        error_frame("invalid", "There is no chat to send yet.", reference),
                    )
                    .await;
                };
                let email = field("email");
                match self
                    .state
                    .app
                    .request_chat_transcript(chat, email, now)
                    .await
                {
                    Ok(_) => send(socket, json!({"type": "transcript_queued"})).await,
                    Err(e) => send(socket, app_error_frame(&e, reference)).await,
                }
            }
            Some(other) => {
                let other: String = other.chars().take(40).collect();
                send(
                    socket,
                    error_frame(
                        "bad_frame",
                        &format!("{other:?} is not a frame type this chat knows (hello, message, resume, verify, send_code, end, transcript)."),
                        reference,
                    ),
                )
                .await
            }
            None => {
                send(
                    socket,
                    error_frame("bad_frame", "A frame needs a \"type\".", reference),
                )
                .await
            }
        }
    }

    /// A customer message: the first opens the chat. Acknowledged only once it is durable.
    async fn on_message(
        &mut self,
        socket: &mut WebSocket,
        text: &str,
        reference: Option<&Value>,
        now: i64,
    ) -> Result<(), Gone> {
        if self.chat.is_none() && self.visitor.is_none() {
            return send(
                socket,
                error_frame(
                    "invalid",
                    "Tell us your name first (a \"hello\" frame).",
                    reference,
                ),
            )
            .await;
        }
        let (limit, key) = match &self.chat {
            Some(chat) => (
                MESSAGES_PER_CHAT,
                format!("chat-message:{}", chat.conversation()),
            ),
            None => (STARTS_PER_ADDRESS, format!("chat-start:{}", self.client)),
        };
        let taken = match self.state.app.take_rate_token(&key, limit, now).await {
            Ok(taken) => taken,
            Err(e) => return send(socket, app_error_frame(&e, reference)).await,
        };
        if let Err(wait) = taken {
            let mut frame = error_frame(
                "rate_limited",
                &format!(
                    "You are writing faster than we can read. Please wait {} and send again.",
                    crate::webform::wait_text(wait)
                ),
                reference,
            );
            frame["retry_after_ms"] = json!(wait);
            return send(socket, frame).await;
        }
        if let Some(chat) = &self.chat {
            return match self.state.app.post_chat_message(chat, text, now).await {
                Ok(line) => {
                    self.shown.insert(line.id);
                    send(
                        socket,
                        json!({"type": "ack", "ref": reference, "message": line_json(&line)}),
                    )
                    .await
                }
                Err(e) => send(socket, app_error_frame(&e, reference)).await,
            };
        }
        let Some(visitor) = &self.visitor else {
            return Ok(());
        };
        match self.state.app.start_chat(visitor, text, now).await {
            Ok(started) => {
                self.shown.insert(started.line.id);
                let conversation = started.chat.conversation();
                self.chat = Some(started.chat);
                send(
                    socket,
                    json!({
                        "type": "started",
                        "token": started.token,
                        "visitor": started.visitor,
                        "conversation": conversation,
                        "email_verified": started.email_verified,
                        "email_code_sent": started.email_code_sent,
                    }),
                )
                .await?;
                send(
                    socket,
                    json!({"type": "ack", "ref": reference, "message": line_json(&started.line)}),
                )
                .await
            }
            Err(e) => send(socket, app_error_frame(&e, reference)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_policy_lets_any_site_frame_the_widget() {
        assert_eq!(
            chat_content_security_policy(DEFAULT_CHAT_FRAME_ANCESTORS),
            CHAT_CONTENT_SECURITY_POLICY
        );
        assert!(
            chat_content_security_policy("'self' https://shop.example.com")
                .ends_with("; frame-ancestors 'self' https://shop.example.com")
        );
    }

    #[test]
    fn frame_ancestors_take_the_sources_a_browser_accepts_and_nothing_that_adds_a_directive() {
        for (given, kept) in [
            ("*", "*"),
            ("'self'", "'self'"),
            ("'none'", "'none'"),
            (
                "  'self'   https://shop.example.com ",
                "'self' https://shop.example.com",
            ),
            ("https:", "https:"),
            ("*.example.com", "*.example.com"),
            ("https://*.example.com:8443", "https://*.example.com:8443"),
            ("http://localhost:*", "http://localhost:*"),
            ("https://example.com/help/", "https://example.com/help/"),
            ("'self'\n\thttps://a.example", "'self' https://a.example"),
        ] {
            assert_eq!(check_frame_ancestors(given).as_deref(), Ok(kept), "{given}");
        }
        for bad in [
            "",
            "   ",
            "*; script-src *",
            "https://a.example, https://b.example",
            "'unsafe-inline'",
            "'none' 'self'",
            "self",
            "https://exa_mple.com",
            "none",
            "https://example.com:80a",
            "https://",
        ] {
            let refused = check_frame_ancestors(bad);
            assert!(refused.is_err(), "{bad:?} was accepted: {refused:?}");
        }
    }
}
