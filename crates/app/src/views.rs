//! What use cases hand back: conversations, messages and events with the names a person
//! needs (group, assignee, customer) already resolved.

use std::collections::HashMap;

use domain::{Actor, Channel, MessageKind, Priority, Status};
use store::{ConversationRow, EventRow, MessageRow, StoreError};

use crate::{App, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupRef {
    pub id: i64,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentRef {
    pub id: i64,
    pub name: String,
    pub email: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerRef {
    pub id: i64,
    pub name: String,
    pub email: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConversationView {
    pub number: i64,
    pub subject: String,
    pub channel: Channel,
    pub status: Status,
    pub priority: Priority,
    pub group: Option<GroupRef>,
    pub assignee: Option<AgentRef>,
    pub customer: CustomerRef,
    pub tags: Vec<String>,
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
    pub message_count: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub solved_at: Option<i64>,
    pub closed_at: Option<i64>,
    pub merged_into: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachmentView {
    pub id: i64,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageView {
    pub id: i64,
    pub conversation: i64,
    pub kind: MessageKind,
    pub channel: Channel,
    pub author: Actor,
    pub text: String,
    pub html: String,
    pub created_at: i64,
    pub attachments: Vec<AttachmentView>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EventView {
    pub id: i64,
    pub conversation: Option<i64>,
    pub kind: String,
    pub actor: Actor,
    pub at: i64,
    pub payload: serde_json::Value,
}

pub(crate) fn corrupt(what: String) -> crate::AppError {
    crate::AppError::Store(StoreError::Corrupt(what))
}

/// Priorities are stored as their rank so that queues sort by them.
pub(crate) fn priority_rank(priority: Priority) -> i64 {
    match priority {
        Priority::Low => 0,
        Priority::Normal => 1,
        Priority::High => 2,
        Priority::Urgent => 3,
    }
}

pub(crate) fn priority_from_rank(rank: i64) -> Option<Priority> {
    Priority::ALL
        .iter()
        .copied()
        .find(|p| priority_rank(*p) == rank)
}

pub(crate) fn status_of(row: &ConversationRow) -> Result<Status> {
    Status::parse(&row.status).ok_or_else(|| {
        corrupt(format!(
            "conversation {} has status {:?}",
            row.number, row.status
        ))
    })
}

pub(crate) fn fields_of(row: &ConversationRow) -> serde_json::Map<String, serde_json::Value> {
    serde_json::from_str(&row.custom_fields).unwrap_or_default()
}

impl App {
    /// Resolves names for a batch of conversation rows.
    pub(crate) async fn conversation_views(
        &self,
        rows: Vec<ConversationRow>,
    ) -> Result<Vec<ConversationView>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let numbers: Vec<i64> = rows.iter().map(|r| r.number).collect();
        let mut details: HashMap<i64, store::ConversationDetail> = self
            .store
            .conversation_details(&numbers)
            .await?
            .into_iter()
            .map(|d| (d.number, d))
            .collect();
        rows.into_iter()
            .map(|row| {
                let detail = details
                    .remove(&row.number)
                    .unwrap_or(store::ConversationDetail {
                        number: row.number,
                        group_name: None,
                        assignee_name: None,
                        assignee_email: None,
                        customer_name: None,
                        customer_email: None,
                        tags: None,
                    });
                view_of(row, &detail)
            })
            .collect()
    }

    pub(crate) async fn conversation_view(&self, row: ConversationRow) -> Result<ConversationView> {
        let number = row.number;
        self.conversation_views(vec![row])
            .await?
            .pop()
            .ok_or_else(|| corrupt(format!("conversation {number} vanished")))
    }
}

/// A conversation as people see it: its row with the names beside it.
pub(crate) fn view_of(
    row: ConversationRow,
    detail: &store::ConversationDetail,
) -> Result<ConversationView> {
    let status = status_of(&row)?;
    let priority = priority_from_rank(row.priority).ok_or_else(|| {
        corrupt(format!(
            "conversation {} has priority {}",
            row.number, row.priority
        ))
    })?;
    let channel = Channel::parse(&row.channel).ok_or_else(|| {
        corrupt(format!(
            "conversation {} has channel {:?}",
            row.number, row.channel
        ))
    })?;
    Ok(ConversationView {
        number: row.number,
        subject: row.subject.clone(),
        channel,
        status,
        priority,
        group: row.group_id.map(|id| GroupRef {
            id,
            name: detail.group_name.clone().unwrap_or_default(),
        }),
        assignee: row.assignee_id.map(|id| AgentRef {
            name: detail.assignee_name.clone().unwrap_or_default(),
            email: detail.assignee_email.clone().unwrap_or_default(),
            id,
        }),
        customer: CustomerRef {
            id: row.customer_id,
            name: detail.customer_name.clone().unwrap_or_default(),
            email: detail.customer_email.clone(),
        },
        tags: sorted_tags(detail.tags.as_deref()),
        custom_fields: fields_of(&row),
        message_count: row.message_count,
        created_at: row.created_at,
        updated_at: row.updated_at,
        solved_at: row.solved_at,
        closed_at: row.closed_at,
        merged_into: row.merged_into,
    })
}

pub(crate) fn message_view(
    row: MessageRow,
    attachments: Vec<AttachmentView>,
) -> Result<MessageView> {
    Ok(MessageView {
        id: row.id,
        conversation: row.conversation,
        kind: MessageKind::parse(&row.kind)
            .ok_or_else(|| corrupt(format!("message {} has kind {:?}", row.id, row.kind)))?,
        channel: Channel::parse(&row.channel)
            .ok_or_else(|| corrupt(format!("message {} has channel {:?}", row.id, row.channel)))?,
        author: Actor::from_parts(&row.author_kind, row.author_id).ok_or_else(|| {
            corrupt(format!(
                "message {} has author {:?}",
                row.id, row.author_kind
            ))
        })?,
        text: row.body_text,
        html: row.body_html,
        created_at: row.created_at,
        attachments,
    })
}

pub(crate) fn event_view(row: EventRow) -> Result<EventView> {
    Ok(EventView {
        id: row.id,
        conversation: row.conversation,
        actor: Actor::from_parts(&row.actor_kind, row.actor_id)
            .ok_or_else(|| corrupt(format!("event {} has actor {:?}", row.id, row.actor_kind)))?,
        payload: serde_json::from_str(&row.payload)
            .map_err(|e| corrupt(format!("event {} payload: {e}", row.id)))?,
        kind: row.kind,
        at: row.at,
    })
}

/// What a customer may see of a conversation: not the team's internals (group, tags,
/// custom fields, the agent's e-mail address). Others see everything they can reach.
pub(crate) fn for_viewer(mut view: ConversationView, by: &domain::Principal) -> ConversationView {
    if matches!(by, domain::Principal::Customer { .. }) {
        view.group = None;
        view.tags.clear();
        view.custom_fields.clear();
        if let Some(agent) = &mut view.assignee {
            agent.email.clear();
        }
    }
    view
}

fn sorted_tags(joined: Option<&str>) -> Vec<String> {
    let mut tags: Vec<String> = joined
        .unwrap_or_default()
        .split(' ')
        .filter(|t| !t.is_empty())
        .map(String::from)
        .collect();
    tags.sort();
    tags
}
