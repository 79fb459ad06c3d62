//! Events: the immutable record of every change. An event is written in the same
//! transaction as the change it explains; the audit trail, SLA clocks, roll-ups and
//! process maps are all read from them.

use serde::{Deserialize, Serialize};

use crate::conversation::{Channel, MessageKind, Priority, Status};

/// What happened, with the facts needed to replay it. The `kind` tag is the stored
/// event kind; the rest is the stored payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventPayload {
    /// A conversation began.
    Created {
        subject: String,
        channel: Channel,
        status: Status,
        priority: Priority,
        customer_id: i64,
        group_id: Option<i64>,
        assignee_id: Option<i64>,
    },
    /// A message was added: the customer's, a public reply or an internal note.
    MessageAdded {
        message_id: i64,
        message_kind: MessageKind,
        channel: Channel,
    },
    StatusChanged {
        from: Status,
        to: Status,
    },
    PriorityChanged {
        from: Priority,
        to: Priority,
    },
    GroupChanged {
        from: Option<i64>,
        to: Option<i64>,
    },
    AssigneeChanged {
        from: Option<i64>,
        to: Option<i64>,
    },
    SubjectChanged {
        from: String,
        to: String,
    },
    TagAdded {
        tag: String,
    },
    TagRemoved {
        tag: String,
    },
    /// A custom field was set (`value` is `null` when it was cleared).
    FieldSet {
        name: String,
        value: serde_json::Value,
    },
    /// This conversation was merged into `target`; it now only points there.
    MergedInto {
        target: i64,
    },
    /// Conversation `source` was merged into this one; its messages moved here.
    MergedFrom {
        source: i64,
        messages_moved: i64,
    },
    /// A closed conversation got a follow-up: the customer wrote again.
    FollowUpCreated {
        follow_up: i64,
    },
    /// Two customer records were found to be one person (no conversation: `conversation` is empty).
    CustomerMerged {
        source: i64,
        target: i64,
    },
    /// A support address was configured (no conversation).
    MailboxAdded {
        address: String,
        group_id: Option<i64>,
    },
    /// A message was accepted from SMTP, LMTP, IMAP or an import and stored raw, before the
    /// sender was told so (no conversation yet: `inbound_id` names it).
    MailReceived {
        inbound_id: i64,
        transport: String,
        size: i64,
    },
    /// What an accepted message became: a message, a bounce, a complaint, noise, or a
    /// quarantine entry, with the reason.
    MailProcessed {
        inbound_id: i64,
        outcome: String,
        reason: Option<String>,
    },
    /// An administrator released a quarantined message for processing.
    MailReleased {
        inbound_id: i64,
    },
}

/// The stored name of an event kind.
pub type EventKind = &'static str;

impl EventPayload {
    /// The stored kind, as in the `kind` tag.
    pub fn kind(&self) -> EventKind {
        match self {
            EventPayload::Created { .. } => "created",
            EventPayload::MessageAdded { .. } => "message_added",
            EventPayload::StatusChanged { .. } => "status_changed",
            EventPayload::PriorityChanged { .. } => "priority_changed",
            EventPayload::GroupChanged { .. } => "group_changed",
            EventPayload::AssigneeChanged { .. } => "assignee_changed",
            EventPayload::SubjectChanged { .. } => "subject_changed",
            EventPayload::TagAdded { .. } => "tag_added",
            EventPayload::TagRemoved { .. } => "tag_removed",
            EventPayload::FieldSet { .. } => "field_set",
            EventPayload::MergedInto { .. } => "merged_into",
            EventPayload::MergedFrom { .. } => "merged_from",
            EventPayload::FollowUpCreated { .. } => "follow_up_created",
            EventPayload::CustomerMerged { .. } => "customer_merged",
            EventPayload::MailboxAdded { .. } => "mailbox_added",
            EventPayload::MailReceived { .. } => "mail_received",
            EventPayload::MailProcessed { .. } => "mail_processed",
            EventPayload::MailReleased { .. } => "mail_released",
        }
    }

    /// The payload as stored (JSON text, including the kind tag).
    pub fn to_json(&self) -> String {
        // Serialising a plain enum of strings, numbers and JSON values cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| format!("{{\"kind\":\"{}\"}}", self.kind()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_tag_matches_the_stored_kind() {
        let samples = [
            EventPayload::StatusChanged {
                from: Status::New,
                to: Status::Open,
            },
            EventPayload::TagAdded { tag: "vip".into() },
            EventPayload::MergedFrom {
                source: 4,
                messages_moved: 2,
            },
            EventPayload::CustomerMerged {
                source: 1,
                target: 2,
            },
        ];
        for payload in samples {
            let value: serde_json::Value =
                serde_json::from_str(&payload.to_json()).unwrap_or_default();
            assert_eq!(value["kind"], payload.kind());
            let back: EventPayload = serde_json::from_value(value)
                .unwrap_or(EventPayload::TagAdded { tag: String::new() });
            assert_eq!(back, payload);
        }
    }
}
