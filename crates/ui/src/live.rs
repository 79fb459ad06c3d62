//! Live updates of the workspace over server-sent events (`GET /app/events`), and presence
//! (`POST /app/conversations/{n}/presence`: who is viewing or replying to a conversation).
//!
//! One poller per server tails the event log and fans each batch out to every open stream
//! through a tokio broadcast channel, so N agents cost one read of the log per tick, not N.
//! The poller runs only while someone listens. Each stream keeps what its agent may see
//! (`app::LiveAudience`, decided in `app` with the visibility rules), names every event with
//! its position in the log, and resumes after `Last-Event-ID` from the database, so a
//! reconnecting browser misses nothing. A stream that falls behind the broadcast catches up
//! from the database the same way. Presence is kept in the store with an expiry
//! (`app/src/presence.rs`), so it is shared by every node; it is not an event in the log (it
//! changes nothing). The same poller reads its change counter every tick, reads who is present
//! only when the counter moved or someone shown expired, and sends what changed on the same
//! streams.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use app::{ConversationPresence, LiveAudience, LiveEvent, PresenceState};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use domain::Principal;
use store::Cursor;
use tokio::sync::{broadcast, mpsc, watch, Notify};
use web::AppState;

use crate::error::{PageError, PageResult};
use crate::form::Form;
use crate::session::Viewer;

/// How often the poller looks for new events.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Events read from the log per query.
const BATCH: u32 = 500;
/// A stream that resumes further back than this many events is told to reload instead.
const MAX_REPLAY: usize = 2_000;
/// How often a stream checks that its session is still valid (and re-reads the agent's groups).
const SESSION_RECHECK: Duration = Duration::from_secs(30);

/// What the poller sends to every stream (and to every chat socket).
#[derive(Clone)]
pub(crate) enum Message {
    Events(Arc<Vec<LiveEvent>>),
    /// Who is on a conversation now (nobody: `people` is empty).
    Presence(Arc<ConversationPresence>),
}

/// The presence a server last told its streams of, to send only what changed.
#[derive(Debug, Default)]
struct PresenceShown {
    /// The store's change counter when this was read.
    version: i64,
    by_conversation: BTreeMap<i64, ConversationPresence>,
}

impl PresenceShown {
    /// Who is present now, as the store says at the start of a poller.
    async fn read(state: &AppState) -> app::Result<PresenceShown> {
        // The counter before the rows: a change between the two reads is read again.
        let version = state.app.presence_version().await?;
        let now = state.app.presence_now(state.now()).await?;
        let mut shown = PresenceShown::default();
        shown.replace(version, now);
        Ok(shown)
    }

    /// Whether someone shown has expired by `now` (nobody writes when presence runs out).
    fn expired_by(&self, now: i64) -> bool {
        self.by_conversation
            .values()
            .flat_map(|c| &c.people)
            .any(|p| p.expires_at <= now)
    }

    /// Takes what the store says now and answers the conversations whose people (or what
    /// they do) changed: a renewal alone changes nothing shown; a conversation that nobody
    /// is on any more is answered with nobody.
    fn replace(
        &mut self,
        version: i64,
        now: Vec<ConversationPresence>,
    ) -> Vec<ConversationPresence> {
        fn who(c: &ConversationPresence) -> Vec<(i64, PresenceState)> {
            c.people.iter().map(|p| (p.agent_id, p.state)).collect()
        }
        let mut now: BTreeMap<i64, ConversationPresence> =
            now.into_iter().map(|c| (c.conversation, c)).collect();
        let mut changed = Vec::new();
        for (number, before) in &self.by_conversation {
            if !now.contains_key(number) {
                changed.push(ConversationPresence {
                    people: Vec::new(),
                    ..before.clone()
                });
            }
        }
        for (number, after) in &now {
            if self.by_conversation.get(number).map(who) != Some(who(after)) {
                changed.push(after.clone());
            }
        }
        changed.sort_by_key(|c| c.conversation);
        self.version = version;
        std::mem::swap(&mut self.by_conversation, &mut now);
        changed
    }
}

#[derive(Default)]
struct Poller {
    running: bool,
    /// The position of the last batch broadcast: where a stream that wants only what comes
    /// next starts.
    head: Cursor,
}

struct Inner {
    sender: broadcast::Sender<Message>,
    poller: tokio::sync::Mutex<Poller>,
    /// Wakes the poller before its next tick (presence was just posted to this node).
    nudge: Notify,
    closed: watch::Sender<bool>,
}

/// The live hub of one server: the log poller, what it last showed of presence and every
/// open stream.
/// Cheap to clone. [`Live::close`] ends every stream (for a graceful shutdown).
#[derive(Clone)]
pub struct Live {
    inner: Arc<Inner>,
}

impl Default for Live {
    fn default() -> Self {
        let (sender, _) = broadcast::channel(1024);
        let (closed, _) = watch::channel(false);
        Live {
            inner: Arc::new(Inner {
                sender,
                poller: tokio::sync::Mutex::new(Poller::default()),
                nudge: Notify::new(),
                closed,
            }),
        }
    }
}

fn is_after(a: Cursor, b: Cursor) -> bool {
    (a.tx_pos, a.event_id) > (b.tx_pos, b.event_id)
}

impl Live {
    /// Ends every open stream and the poller; later streams end at once. The server calls
    /// this when it shuts down, because an open stream would otherwise hold it up.
    pub fn close(&self) {
        let _ = self.inner.closed.send(true);
    }

    fn is_closed(&self) -> bool {
        *self.inner.closed.borrow()
    }

    /// Changes when the server shuts down (see [`Live::close`]).
    pub(crate) fn closed(&self) -> watch::Receiver<bool> {
        self.inner.closed.subscribe()
    }

    /// Joins the broadcast and starts the poller if nobody listened. Returns the receiver
    /// and the position of the last batch broadcast before it joined.
    pub(crate) async fn subscribe(
        &self,
        state: &AppState,
    ) -> app::Result<(broadcast::Receiver<Message>, Cursor)> {
        let mut poller = self.inner.poller.lock().await;
        let receiver = self.inner.sender.subscribe();
        if !poller.running {
            poller.head = state.app.live_head().await?;
            // Read before anyone is told the poller runs, so a change made after this
            // subscription is one the poller sees as a change.
            let presence = PresenceShown::read(state).await?;
            poller.running = true;
            tokio::spawn(poll(self.clone(), state.clone(), poller.head, presence));
        }
        Ok((receiver, poller.head))
    }

    /// Has the poller look at presence now rather than at its next tick (presence was
    /// posted to this node; other nodes see it at their next tick).
    fn nudge(&self) {
        self.inner.nudge.notify_one();
    }
}

/// Sends the streams what changed in presence since the poller last looked: reads the
/// store's change counter (one row), and who is present only when it moved or when someone
/// shown has expired.
async fn follow_presence(live: &Live, state: &AppState, shown: &mut PresenceShown) {
    let now = state.now();
    let version = match state.app.presence_version().await {
        Ok(version) => version,
        Err(e) => {
            tracing::warn!(error = %e, "live updates could not read presence; will retry");
            return;
        }
    };
    if version == shown.version && !shown.expired_by(now) {
        return;
    }
    match state.app.presence_now(now).await {
        Ok(present) => {
            for update in shown.replace(version, present) {
                let _ = live.inner.sender.send(Message::Presence(Arc::new(update)));
            }
        }
        Err(e) => tracing::warn!(error = %e, "live updates could not read presence; will retry"),
    }
}

/// The server's one reader of the log for live updates: reads what is new every tick and
/// broadcasts it, until nobody listens (or the server stops).
async fn poll(live: Live, state: AppState, mut head: Cursor, mut presence: PresenceShown) {
    let mut closed = live.inner.closed.subscribe();
    loop {
        loop {
            match state.app.live_events_after(head, BATCH).await {
                Ok(batch) => {
                    // Broadcast and move the head together, so that a stream joining now
                    // either receives this batch or starts after it.
                    let mut poller = live.inner.poller.lock().await;
                    if !batch.events.is_empty() {
                        let _ = live
                            .inner
                            .sender
                            .send(Message::Events(Arc::new(batch.events)));
                    }
                    head = batch.next;
                    poller.head = head;
                    if batch.read < BATCH as usize {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "live updates could not read the log; will retry");
                    break;
                }
            }
        }
        follow_presence(&live, &state, &mut presence).await;
        {
            let mut poller = live.inner.poller.lock().await;
            if live.inner.sender.receiver_count() == 0 || live.is_closed() {
                poller.running = false;
                return;
            }
        }
        tokio::select! {
            _ = closed.changed() => {}
            _ = live.inner.nudge.notified() => {}
            _ = tokio::time::sleep(POLL_INTERVAL) => {}
        }
    }
}

fn change_event(event: &LiveEvent) -> Event {
    let data = serde_json::json!({
        "conversation": event.conversation,
        "kind": event.kind,
        "event": event.id,
    });
    Event::default()
        .event("change")
        .id(app::position_text(event.position))
        .data(data.to_string())
}

fn presence_event(update: &ConversationPresence, me: Option<i64>) -> Event {
    let people: Vec<serde_json::Value> = update
        .people
        .iter()
        .filter(|p| Some(p.agent_id) != me)
        .map(|p| serde_json::json!({"name": p.name, "state": p.state.as_str()}))
        .collect();
    let data = serde_json::json!({"conversation": update.conversation, "people": people});
    Event::default().event("presence").data(data.to_string())
}

/// The SSE answer that forwards what a stream's task sends, with keep-alives.
fn event_stream(mut events: mpsc::Receiver<Event>) -> Response {
    let body = futures_util::stream::poll_fn(move |cx| {
        events
            .poll_recv(cx)
            .map(|event| event.map(Ok::<Event, Infallible>))
    });
    Sse::new(body)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response()
}

/// One open stream: replays from the database after its start, then follows the broadcast.
struct Stream {
    state: AppState,
    live: Live,
    session: String,
    audience: LiveAudience,
    last: Cursor,
    out: mpsc::Sender<Event>,
}

impl Stream {
    /// Sends what the log holds after `last` (what this agent may see). Past `MAX_REPLAY`
    /// events, the page is told to reload instead. `false`: the browser is gone.
    async fn catch_up(&mut self) -> bool {
        let mut replayed = 0;
        loop {
            let batch = match self.state.app.live_events_after(self.last, BATCH).await {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::warn!(error = %e, "a live stream could not catch up");
                    return false;
                }
            };
            for event in &batch.events {
                if self.audience.hears(event) && self.out.send(change_event(event)).await.is_err() {
                    return false;
                }
            }
            self.last = batch.next;
            replayed += batch.read;
            if batch.read < BATCH as usize {
                return true;
            }
            if replayed >= MAX_REPLAY {
                let head = match self.state.app.live_head().await {
                    Ok(head) => head,
                    Err(_) => return false,
                };
                if is_after(head, self.last) {
                    self.last = head;
                }
                let reset = Event::default()
                    .event("reset")
                    .id(app::position_text(self.last))
                    .data("{}");
                return self.out.send(reset).await.is_ok();
            }
        }
    }

    async fn run(mut self, mut receiver: broadcast::Receiver<Message>, replay: bool) {
        if replay && !self.catch_up().await {
            return;
        }
        let mut closed = self.live.inner.closed.subscribe();
        if *closed.borrow() {
            return;
        }
        let mut recheck = tokio::time::interval(SESSION_RECHECK);
        recheck.tick().await;
        loop {
            tokio::select! {
                _ = closed.changed() => return,
                _ = self.out.closed() => return,
                _ = recheck.tick() => {
                    let still = self.state.app.session_principal(&self.session, self.state.now()).await;
                    match still.map(|(principal, _)| self.state.app.live_audience(&principal)) {
                        Ok(Ok(audience)) => self.audience = audience,
                        _ => return,
                    }
                }
                message = receiver.recv() => match message {
                    Ok(Message::Events(events)) => {
                        for event in events.iter() {
                            if !is_after(event.position, self.last) {
                                continue;
                            }
                            self.last = event.position;
                            if self.audience.hears(event)
                                && self.out.send(change_event(event)).await.is_err()
                            {
                                return;
                            }
                        }
                    }
                    Ok(Message::Presence(update)) => {
                        if self.audience.sees(&update.reach)
                            && self.out.send(presence_event(&update, self.audience.agent_id())).await.is_err()
                        {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        if !self.catch_up().await {
                            return;
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        }
    }
}

/// `GET /app/events`: the live stream of the signed-in agent. It starts after
/// `Last-Event-ID` (a reconnecting browser sends it), else after `?since=` (the position the
/// page was rendered at), else at the newest event.
pub(crate) async fn events(
    State(state): State<AppState>,
    Extension(live): Extension<Live>,
    viewer: Viewer,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> PageResult<Response> {
    let audience = state.app.live_audience(&viewer.principal)?;
    let query = Form::from_query(query.as_deref());
    let since = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty())
        .map(str::to_string)
        .or_else(|| query.get("since").map(str::to_string));
    let since = since.as_deref().map(app::parse_position).transpose()?;
    let (receiver, head) = live.subscribe(&state).await?;
    let (out, events) = mpsc::channel::<Event>(64);
    let stream = Stream {
        session: viewer.session().to_string(),
        state,
        live,
        audience,
        last: since.unwrap_or(head),
        out,
    };
    tokio::spawn(stream.run(receiver, since.is_some()));
    Ok(event_stream(events))
}

/// `GET /portal/conversations/{number}/events?seen=…`: the live stream of a customer's open
/// conversation page. It carries no content and nothing from the log: only a `change` event
/// when what the page shows (the status and the public messages, `app::PortalDigest`) differs
/// from what it showed (`seen`, the digest the page was rendered with, or `Last-Event-ID`,
/// the digest of the last change announced), and the page then fetches itself again. A note, or any change to another conversation, sends nothing. The
/// conversation must be the customer's own (a 404 otherwise), and the session is checked again
/// every 30 s.
pub(crate) async fn portal_events(
    State(state): State<AppState>,
    Extension(live): Extension<Live>,
    viewer: Viewer,
    Path(number): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> PageResult<Response> {
    let number = number
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(PageError::NotFound)?;
    // A reconnecting browser names the last change it heard of (each event's id is the
    // digest it announces); a new page, what it was rendered with.
    let query = Form::from_query(query.as_deref());
    let seen = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.trim().is_empty())
        .or_else(|| query.get("seen"))
        .unwrap_or_default()
        .to_string();
    // Checks that the conversation is the customer's, before anything is subscribed.
    state.app.portal_digest(&viewer.principal, number).await?;
    // Subscribe before reading the state the stream compares with, so no change falls between.
    let (receiver, _) = live.subscribe(&state).await?;
    let (out, events) = mpsc::channel::<Event>(8);
    let stream = PortalStream {
        state,
        live,
        session: viewer.session().to_string(),
        principal: viewer.principal.clone(),
        number,
        seen,
        out,
    };
    tokio::spawn(stream.run(receiver));
    Ok(event_stream(events))
}

/// One customer's stream on one of their conversations.
struct PortalStream {
    state: AppState,
    live: Live,
    session: String,
    principal: Principal,
    number: i64,
    /// The digest the page shows.
    seen: String,
    out: mpsc::Sender<Event>,
}

impl PortalStream {
    /// Compares what the page shows with the conversation now and tells the page when they
    /// differ. `false`: the stream should end (the browser left, or the conversation is no
    /// longer the customer's).
    async fn sync(&mut self) -> bool {
        match self
            .state
            .app
            .portal_digest(&self.principal, self.number)
            .await
        {
            Ok(digest) if digest.matches(&self.seen) => true,
            Ok(digest) => {
                self.seen = digest.as_str().to_string();
                let data = serde_json::json!({"conversation": self.number});
                let event = Event::default()
                    .event("change")
                    .id(digest.as_str())
                    .data(data.to_string());
                self.out.send(event).await.is_ok()
            }
            Err(app::AppError::NotFound(_) | app::AppError::Forbidden(_)) => false,
            Err(e) => {
                tracing::warn!(error = %e, "a portal stream could not read its conversation");
                true
            }
        }
    }

    async fn run(mut self, mut receiver: broadcast::Receiver<Message>) {
        if !self.sync().await {
            return;
        }
        let mut closed = self.live.closed();
        if *closed.borrow() {
            return;
        }
        let mut recheck = tokio::time::interval(SESSION_RECHECK);
        recheck.tick().await;
        loop {
            let keep_going = tokio::select! {
                _ = closed.changed() => false,
                _ = self.out.closed() => false,
                _ = recheck.tick() => {
                    let still = self.state.app.session_principal(&self.session, self.state.now()).await;
                    matches!(still, Ok((principal, _)) if principal == self.principal)
                }
                message = receiver.recv() => match message {
                    Ok(Message::Events(events)) => {
                        if events.iter().any(|e| e.conversation == self.number) {
                            self.sync().await
                        } else {
                            true
                        }
                    }
                    Ok(Message::Presence(_)) => true,
                    Err(broadcast::error::RecvError::Lagged(_)) => self.sync().await,
                    Err(broadcast::error::RecvError::Closed) => false,
                },
            };
            if !keep_going {
                return;
            }
        }
    }
}

/// `POST /app/conversations/{number}/presence` (`state=viewing|typing|left`, with the
/// session's CSRF token): announces the agent on the conversation and answers who else is
/// there, as JSON.
pub(crate) async fn presence(
    State(state): State<AppState>,
    Extension(live): Extension<Live>,
    viewer: Viewer,
    Path(number): Path<String>,
    body: Bytes,
) -> PageResult<Response> {
    let form = Form::from_body(&body);
    viewer.check_csrf(&form)?;
    let number = number
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or(PageError::NotFound)?;
    if !matches!(viewer.principal, Principal::Agent { .. }) {
        return Err(PageError::NotFound);
    }
    let presence_state = match form.get("state") {
        Some("left") => None,
        other => Some(
            PresenceState::parse(other.unwrap_or_default()).ok_or_else(|| {
                PageError::Invalid(format!(
                    "state {:?} is not one of viewing, typing, left",
                    other.unwrap_or_default()
                ))
            })?,
        ),
    };
    let others = state
        .app
        .set_presence(&viewer.principal, number, presence_state, state.now())
        .await?;
    live.nudge();
    let people: Vec<serde_json::Value> = others
        .into_iter()
        .map(|p| serde_json::json!({"name": p.name, "state": p.state.as_str()}))
        .collect();
    Ok((
        StatusCode::OK,
        [(header::CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({"conversation": number, "people": people})),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::Present;
    use domain::permission::Reach;

    fn on(conversation: i64, people: &[(i64, &str, PresenceState, i64)]) -> ConversationPresence {
        ConversationPresence {
            conversation,
            reach: Reach {
                group_id: Some(1),
                assignee_id: None,
                customer_id: 9,
            },
            people: people
                .iter()
                .map(|&(agent_id, name, state, expires_at)| Present {
                    agent_id,
                    name: name.to_string(),
                    state,
                    expires_at,
                })
                .collect(),
        }
    }

    fn names(updates: &[ConversationPresence]) -> Vec<(i64, Vec<String>)> {
        updates
            .iter()
            .map(|u| {
                (
                    u.conversation,
                    u.people.iter().map(|p| p.name.clone()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn presence_is_announced_when_who_is_there_changes_and_not_when_renewed() {
        use PresenceState::{Typing, Viewing};
        let mut shown = PresenceShown::default();
        // Ann arrives on 5.
        let changed = shown.replace(1, vec![on(5, &[(1, "Ann", Viewing, 30_000)])]);
        assert_eq!(names(&changed), vec![(5, vec!["Ann".to_string()])]);
        assert!(!shown.expired_by(29_999));
        assert!(shown.expired_by(30_000));
        // Bo arrives typing; Ann renewed meanwhile: only 5 is announced, with both.
        let changed = shown.replace(
            2,
            vec![on(
                5,
                &[(1, "Ann", Viewing, 40_000), (2, "Bo", Typing, 41_000)],
            )],
        );
        assert_eq!(
            names(&changed),
            vec![(5, vec!["Ann".to_string(), "Bo".to_string()])]
        );
        // Renewals alone announce nothing, but push the expiry back.
        let changed = shown.replace(
            2,
            vec![on(
                5,
                &[(1, "Ann", Viewing, 50_000), (2, "Bo", Typing, 51_000)],
            )],
        );
        assert!(changed.is_empty());
        assert!(!shown.expired_by(45_000));
        // Bo goes from typing to viewing: a change.
        let changed = shown.replace(
            3,
            vec![on(
                5,
                &[(1, "Ann", Viewing, 50_000), (2, "Bo", Viewing, 51_000)],
            )],
        );
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].people[1].state, Viewing);
        // Ann expires and Bo moves to 6: 5 is announced with nobody, 6 with Bo.
        let changed = shown.replace(4, vec![on(6, &[(2, "Bo", Viewing, 60_000)])]);
        assert_eq!(
            names(&changed),
            vec![(5, Vec::new()), (6, vec!["Bo".to_string()])]
        );
        assert_eq!(
            changed[0].reach.customer_id, 9,
            "nobody, on the same audience"
        );
        assert_eq!(shown.by_conversation.len(), 1);
    }
}
