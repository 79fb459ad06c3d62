//! The JSON shapes of the API. Inputs refuse unknown fields; outputs carry RFC 3339 times.

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Renders milliseconds since the epoch as RFC 3339 in UTC.
pub fn time(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

fn time_opt(ms: Option<i64>) -> Option<String> {
    ms.map(time)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LoginResponse {
    /// Send this in the `X-CSRF-Token` header of every cookie-authenticated write.
    pub csrf_token: String,
    /// `agent` or `customer`.
    pub kind: String,
    pub id: i64,
    pub expires_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Me {
    /// `agent`, `customer` or `token`.
    pub kind: String,
    pub id: i64,
    pub role: Option<String>,
    pub groups: Vec<i64>,
    pub scopes: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerIn {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub chat: Option<String>,
    pub name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentIn {
    pub filename: String,
    #[serde(default = "octet_stream")]
    pub content_type: String,
    /// The file's bytes, base64 (standard alphabet).
    pub data_base64: String,
}

fn octet_stream() -> String {
    "application/octet-stream".into()
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageIn {
    /// `customer`, `reply` or `note`.
    pub kind: String,
    pub text: String,
    #[serde(default)]
    pub attachments: Vec<AttachmentIn>,
    /// Status to set with this message (agents), e.g. `pending` or `solved`.
    pub status: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewConversationIn {
    pub subject: String,
    /// Required for agents and tokens; ignored for signed-in customers.
    pub customer: Option<CustomerIn>,
    pub message: MessageIn,
    /// `email`, `web`, `chat`, `api`, `phone`, `sms` or `social`; default `api`.
    pub channel: Option<String>,
    /// `low`, `normal`, `high` or `urgent`; default `normal`.
    pub priority: Option<String>,
    pub group_id: Option<i64>,
    pub assignee_id: Option<i64>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
}

/// A change to a conversation. Absent fields stay as they are; `null` clears group or assignee.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatchIn {
    pub status: Option<String>,
    pub priority: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub group_id: Option<Option<i64>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<i64>)]
    pub assignee_id: Option<Option<i64>>,
    pub subject: Option<String>,
    /// Replaces the whole tag set.
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub add_tags: Vec<String>,
    #[serde(default)]
    pub remove_tags: Vec<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
}

fn double_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeIn {
    /// The number (or customer id) to merge into.
    pub into: i64,
}

/// A new code to confirm a chat's address was queued.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatEmailCodeOut {
    /// The address typed into the chat, where the code goes (only the customer sees the code).
    pub email: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Comma-separated statuses, e.g. `new,open`; `unsolved` stands for new, open, pending and on-hold.
    pub status: Option<String>,
    /// A group id, or `none`.
    pub group: Option<String>,
    /// An agent id, `me`, or `none`.
    pub assignee: Option<String>,
    pub tag: Option<String>,
    pub customer: Option<i64>,
    /// Full-text search over subjects and messages.
    pub q: Option<String>,
    /// `-updated_at` (default), `updated_at`, `-created_at`, `created_at`, `-priority`, `-number`, `number`,
    /// `sla` (soonest SLA breach first; conversations without a running target last).
    pub sort: Option<String>,
    pub cursor: Option<String>,
    /// 1 to 100, default 25.
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct GroupOut {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentOut {
    pub id: i64,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerSummary {
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationOut {
    pub number: i64,
    pub subject: String,
    pub channel: String,
    pub status: String,
    pub priority: String,
    pub group: Option<GroupOut>,
    pub assignee: Option<AgentOut>,
    pub customer: CustomerSummary,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    pub message_count: i64,
    pub created_at: String,
    pub updated_at: String,
    pub solved_at: Option<String>,
    pub closed_at: Option<String>,
    pub merged_into: Option<i64>,
}

impl From<app::ConversationView> for ConversationOut {
    fn from(v: app::ConversationView) -> Self {
        ConversationOut {
            number: v.number,
            subject: v.subject,
            channel: v.channel.as_str().into(),
            status: v.status.as_str().into(),
            priority: v.priority.as_str().into(),
            group: v.group.map(|g| GroupOut {
                id: g.id,
                name: g.name,
            }),
            assignee: v.assignee.map(|a| AgentOut {
                id: a.id,
                name: a.name,
                email: a.email,
            }),
            customer: CustomerSummary {
                id: v.customer.id,
                name: v.customer.name,
                email: v.customer.email,
            },
            tags: v.tags,
            custom_fields: v.custom_fields,
            message_count: v.message_count,
            created_at: time(v.created_at),
            updated_at: time(v.updated_at),
            solved_at: time_opt(v.solved_at),
            closed_at: time_opt(v.closed_at),
            merged_into: v.merged_into,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ActorOut {
    /// `agent`, `customer`, `api_token` or `system`.
    pub kind: String,
    pub id: Option<i64>,
}

impl From<domain::Actor> for ActorOut {
    fn from(a: domain::Actor) -> Self {
        ActorOut {
            kind: a.kind().into(),
            id: a.id(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AttachmentOut {
    pub id: i64,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
    /// Where to download it.
    pub url: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MessageOut {
    pub id: i64,
    pub conversation: i64,
    pub kind: String,
    pub channel: String,
    pub author: ActorOut,
    pub text: String,
    /// Sanitised HTML for display.
    pub html: String,
    pub created_at: String,
    pub attachments: Vec<AttachmentOut>,
}

impl From<app::MessageView> for MessageOut {
    fn from(m: app::MessageView) -> Self {
        MessageOut {
            id: m.id,
            conversation: m.conversation,
            kind: m.kind.as_str().into(),
            channel: m.channel.as_str().into(),
            author: m.author.into(),
            text: m.text,
            html: m.html,
            created_at: time(m.created_at),
            attachments: m
                .attachments
                .into_iter()
                .map(|a| AttachmentOut {
                    url: format!("/api/v1/attachments/{}", a.id),
                    id: a.id,
                    filename: a.filename,
                    content_type: a.content_type,
                    size: a.size,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PostedMessageOut {
    pub message: MessageOut,
    /// The conversation after the message (a follow-up, when the customer wrote on a closed one).
    pub conversation: ConversationOut,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct EventOut {
    pub id: i64,
    pub conversation: Option<i64>,
    pub kind: String,
    pub actor: ActorOut,
    pub at: String,
    #[schema(value_type = Object)]
    pub payload: serde_json::Value,
}

impl From<app::EventView> for EventOut {
    fn from(e: app::EventView) -> Self {
        EventOut {
            id: e.id,
            conversation: e.conversation,
            kind: e.kind,
            actor: e.actor.into(),
            at: time(e.at),
            payload: e.payload,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConversationListOut {
    pub items: Vec<ConversationOut>,
    pub total: i64,
    pub next_cursor: Option<String>,
    /// True when a search (`q`) matched more messages than it looks at (the most recent
    /// 2,000): then `total` counts only those, and a narrower search finds the rest.
    pub total_is_lower_bound: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ItemsOut<T> {
    pub items: Vec<T>,
    pub total: i64,
    pub next_cursor: Option<String>,
}

impl<T> ItemsOut<T> {
    /// Every item on one page: the total is their number and there is no next page.
    pub(crate) fn all<V: Into<T>>(items: impl IntoIterator<Item = V>) -> ItemsOut<T> {
        let items: Vec<T> = items.into_iter().map(Into::into).collect();
        ItemsOut {
            total: items.len() as i64,
            items,
            next_cursor: None,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct IdentityOut {
    /// `email`, `phone` or `chat`.
    pub kind: String,
    pub value: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerOut {
    pub id: i64,
    pub name: String,
    pub organization: Option<String>,
    pub identities: Vec<IdentityOut>,
    /// Every conversation of theirs that you may see, on every channel, newest first.
    pub conversations: Vec<ConversationOut>,
    pub merged_into: Option<i64>,
    pub created_at: String,
}

impl From<app::CustomerView> for CustomerOut {
    fn from(c: app::CustomerView) -> Self {
        CustomerOut {
            id: c.id,
            name: c.name,
            organization: c.organization,
            identities: c
                .identities
                .into_iter()
                .map(|(k, v)| IdentityOut {
                    kind: k.as_str().into(),
                    value: v,
                })
                .collect(),
            conversations: c.conversations.into_iter().map(Into::into).collect(),
            merged_into: c.merged_into,
            created_at: time(c.created_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CountOut {
    pub id: Option<i64>,
    pub name: String,
    pub count: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct QueuesOut {
    pub mine: i64,
    pub unassigned: i64,
    pub open: i64,
    pub pending: i64,
    pub on_hold: i64,
    pub by_group: Vec<CountOut>,
    pub by_tag: Vec<CountOut>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTokenIn {
    pub name: String,
    /// Any of `conversations:read`, `conversations:write`, `customers:read`, `admin`.
    pub scopes: Vec<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct NewTokenOut {
    pub id: i64,
    /// Shown once: send it as `Authorization: Bearer TOKEN`.
    pub token: String,
}

/// An API token as administrators see it (never its secret).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenOut {
    pub id: i64,
    pub name: String,
    pub scopes: Vec<String>,
    pub created_by: String,
    pub created_at: String,
    /// When it was revoked (absent while it works).
    pub revoked_at: Option<String>,
}

impl From<app::TokenView> for TokenOut {
    fn from(t: app::TokenView) -> Self {
        TokenOut {
            id: t.id,
            name: t.name,
            scopes: t.scopes,
            created_by: t.created_by,
            created_at: time(t.created_at),
            revoked_at: time_opt(t.revoked_at),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewAgentIn {
    pub email: String,
    pub name: Option<String>,
    /// `agent`, `lead`, `manager` or `admin`.
    pub role: String,
    pub password: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewGroupIn {
    pub name: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedOut {
    pub id: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AgentListItem {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: String,
    pub active: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub database: String,
}
