//! The use cases: what agents, customers, API clients and Rapport itself can do.
//!
//! Each use case is one transaction: it checks the principal's permission first, changes
//! the current state, and appends the events that explain the change, all committed
//! together. HTTP handlers, the CLI and (later) the mail listeners are thin adapters
//! over these functions. Time is always passed in (`now`, milliseconds UTC).

mod admin;
mod auth;
mod chat;
mod consumers;
mod conversations;
mod create_batch;
mod customers;
mod imap;
mod initiatives;
mod kpi;
mod kpi_refold;
mod live;
mod mail;
mod outbound;
mod portal_links;
mod presence;
mod process;
mod process_log;
mod rate;
mod routing;
mod sla;
mod surveys;
mod team;
mod views;
mod webform;

use domain::conversation::FieldError;
use domain::customer::IdentityError;
use domain::{Actor, EventPayload, TransitionError};
use store::{NewEvent, Store, StoreError, Tx};

pub use crate::sla::{
    CalendarInput, CalendarView, Escalation, OrganisationChoice, PolicyInput, PolicyView, QueueSla,
    SlaHistoryItem, SlaMetricView, SlaRun, SlaView, SLA_CONSUMER, SLA_ESCALATE_JOB,
};
pub use admin::{AgentAdminView, GroupAdminView, MailboxInput};
pub use auth::{LoginOutcome, NewToken, TokenView};
pub use chat::{
    ChatAuthor, ChatHandle, ChatLine, ChatSocket, ChatView, ChatVisitor, StartedChat,
    CHAT_CODE_TTL_MILLIS, CHAT_SOCKET_TTL_MILLIS, MAX_CHAT_CODES, MAX_CHAT_CODE_ATTEMPTS,
    MAX_CHAT_MESSAGE_CHARS, MAX_TRANSCRIPTS_PER_CHAT,
};
pub use consumers::{JobOutcome, SEARCH_CONSUMER};
pub use conversations::{
    AttachmentInput, ConversationList, CustomerInput, ListQuery, MessageInput,
    NewConversationInput, Patch, PostedMessage, MAX_ATTACHMENT_BYTES,
};
pub use customers::CustomerView;
pub use imap::{new_lease_holder, ImapBatchOutcome, ImapFolder, ImapMessage, LeaseWatch};
pub use initiatives::{InitiativeInput, InitiativeVerdict, InitiativeView};
pub use kpi::{
    KpiAlert, KpiQuery, KpiRecord, KpiReport, ALERT_PERIOD_DAYS, KPI_CONSUMER, RECOMPUTING,
    RECOMPUTING_NOTICE,
};
pub use live::{parse_position, position_text, LiveAudience, LiveBatch, LiveEvent, PortalDigest};
pub use mail::{mailbox_of, AcceptedMail, Transport, MAIL_INGEST_JOB};
pub use mining::OrgDimension;
pub use outbound::{MailSender, SendOutcome, MAIL_ACKNOWLEDGE_JOB, MAIL_SEND_JOB};
pub use portal_links::{MAX_PORTAL_LINKS_PER_WINDOW, PORTAL_LINK_TTL_MILLIS};
pub use presence::{ConversationPresence, PresenceState, Present, PRESENCE_TTL_MILLIS};
pub use process::{
    EdgeRow, PingPongRow, ProcessCases, ProcessDrill, ProcessMap, ProcessQuery, ReworkRow,
    VariantRow, MEDIAN_MIN_COUNT, PROCESS_DRILL_LIMIT, PROCESS_LOG_MAX_AGE_MS,
};
pub use rate::RateLimit;
pub use routing::{parse_web_topics, ChannelRouting, MAX_WEB_FORM_TOPICS};
pub use store::{ConversationFilter, ConversationSort, Dialect, QueueCounts};
pub use surveys::{
    AnswerOutcome, AttributeInput, KudosChoice, OpenSurvey, ResearchAnswer, ResearchForm,
    ResearchInvitation, SurveyAnswer, SurveyAnswerPage, SurveyAnswerQuery, SurveyForm,
    SurveyOutcome, SurveySettings, SurveySettingsView, SurveyState, SURVEY_SEND_JOB,
};
pub use team::{
    AgentLoad, SlaRisk, TeamList, TeamQueue, TeamView, AT_RISK_CANDIDATES, AT_RISK_WITHIN_MILLIS,
};
pub use views::{
    AgentRef, AttachmentView, ConversationView, CustomerRef, EventView, GroupRef, MessageView,
};
pub use webform::{WebFormInput, WebFormReceipt, WebFormTokens, WEB_FORM_TOKEN_TTL_MILLIS};

/// Settings that shape the rules (not the wiring).
#[derive(Debug, Clone)]
pub struct Settings {
    /// A solved conversation closes after this many days without a customer reply.
    pub auto_close_days: u32,
    /// How long a sign-in lasts.
    pub session_days: u32,
    /// Where people reach this server (`https://help.example.com`, no trailing slash): the
    /// start of links sent by e-mail, such as portal sign-in links.
    pub public_url: String,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            auto_close_days: 4,
            session_days: 14,
            public_url: "http://127.0.0.1:8080".into(),
        }
    }
}

/// The application: the store plus the rules' settings. Cheap to clone.
#[derive(Clone)]
pub struct App {
    pub store: Store,
    pub settings: Settings,
    /// The conversation-token key of outgoing mail, loaded once (see [`App::mail_thread_key`]).
    mail_key: std::sync::Arc<std::sync::OnceLock<::mail::ThreadKey>>,
    /// Where outgoing mail goes (none: it waits, deferred, until a relay is configured).
    mail_sender: Option<std::sync::Arc<dyn MailSender>>,
    /// The process map's log and analyses, kept in memory for a short time (`process.rs`).
    process_cache: std::sync::Arc<process::ProcessCache>,
    /// Creates waiting to be opened together (PostgreSQL; `create_batch.rs`).
    create_queue: std::sync::Arc<create_batch::CreateQueue>,
}

/// Why a use case refused or failed, in terms an adapter can map to its protocol.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Not there, or not visible to this principal (the two are indistinguishable on purpose).
    #[error("{0} not found")]
    NotFound(String),
    /// Visible but not allowed (e.g. a read-only token writing).
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("{0}")]
    Conflict(String),
    #[error("e-mail or password is wrong")]
    BadCredentials,
    #[error("sign in first: the session or token is missing, expired or revoked")]
    Unauthenticated,
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for AppError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Conflict(what) => {
                AppError::Conflict(format!("{what}: that value is already taken"))
            }
            other => AppError::Store(other),
        }
    }
}

impl From<FieldError> for AppError {
    fn from(err: FieldError) -> Self {
        AppError::Invalid(err.to_string())
    }
}

impl From<IdentityError> for AppError {
    fn from(err: IdentityError) -> Self {
        AppError::Invalid(err.to_string())
    }
}

pub type Result<T, E = AppError> = std::result::Result<T, E>;

impl App {
    pub fn new(store: Store, settings: Settings) -> App {
        App {
            store,
            settings,
            mail_key: Default::default(),
            mail_sender: None,
            process_cache: Default::default(),
            create_queue: Default::default(),
        }
    }

    /// The same application, sending mail through `sender`.
    pub fn with_mail_sender(mut self, sender: std::sync::Arc<dyn MailSender>) -> App {
        self.mail_sender = Some(sender);
        self
    }
}

/// Appends one event to the transaction.
pub(crate) async fn record(
    tx: &mut Tx,
    conversation: Option<i64>,
    actor: Actor,
    at: i64,
    payload: &EventPayload,
) -> Result<()> {
    let json = payload.to_json();
    Ok(tx
        .append_event(&NewEvent {
            conversation,
            kind: payload.kind(),
            actor_kind: actor.kind(),
            actor_id: actor.id(),
            at,
            payload: &json,
        })
        .await?)
}
