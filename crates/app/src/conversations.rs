//! Conversation use cases: create, add messages, change, merge, read, list, search, queues.

use base64::Engine;
use domain::conversation::{
    check_field_name, check_message_text, clean_subject, normalize_tag, text_to_html,
};
use domain::permission::Reach;
use domain::{
    normalize_identity, Actor, Channel, EventPayload, IdentityKind, MessageKind, Principal,
    Priority, Status, DAY_MILLIS,
};
use store::{
    ConversationFilter, ConversationRow, ConversationSort, NewConversation, NewMessage,
    QueueCounts, StoreError, Tx,
};

use crate::mail::MailOrigin;
use crate::views::{
    event_view, fields_of, for_viewer, message_view, priority_from_rank, priority_rank, status_of,
    AttachmentView,
};
use crate::{record, App, AppError, ConversationView, EventView, MessageView, Result};

/// Who the customer is, by any of their addresses.
#[derive(Debug, Clone, Default)]
pub struct CustomerInput {
    pub email: Option<String>,
    pub phone: Option<String>,
    pub chat: Option<String>,
    pub name: Option<String>,
}

/// A file attached to a message.
#[derive(Debug, Clone)]
pub struct AttachmentInput {
    pub filename: String,
    pub content_type: String,
    pub data: Vec<u8>,
}

/// A message as typed.
#[derive(Debug, Clone)]
pub struct MessageInput {
    pub kind: MessageKind,
    pub text: String,
    pub attachments: Vec<AttachmentInput>,
}

/// Everything needed to open a conversation.
#[derive(Debug, Clone)]
pub struct NewConversationInput {
    pub subject: String,
    pub customer: CustomerInput,
    pub message: MessageInput,
    pub channel: Channel,
    pub priority: Option<Priority>,
    pub group_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub tags: Vec<String>,
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
}

/// A change to a conversation's fields; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct Patch {
    pub status: Option<Status>,
    pub priority: Option<Priority>,
    /// `Some(None)` removes the group.
    pub group_id: Option<Option<i64>>,
    /// `Some(None)` unassigns.
    pub assignee_id: Option<Option<i64>>,
    pub subject: Option<String>,
    /// Replaces the whole tag set.
    pub tags: Option<Vec<String>>,
    pub add_tags: Vec<String>,
    pub remove_tags: Vec<String>,
    /// Custom fields to set; a `null` value clears one.
    pub custom_fields: serde_json::Map<String, serde_json::Value>,
}

/// The result of posting a message. A customer who writes on a closed conversation
/// starts a follow-up: then `conversation` is the new one.
#[derive(Debug, Clone)]
pub struct PostedMessage {
    pub message: MessageView,
    pub conversation: ConversationView,
}

/// What to list.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub filter: ConversationFilter,
    pub sort: ConversationSort,
    pub cursor: Option<String>,
    pub limit: u32,
}

#[derive(Debug, Clone)]
pub struct ConversationList {
    pub items: Vec<ConversationView>,
    pub total: i64,
    pub next_cursor: Option<String>,
    /// A search matched more than it looks at: `total` is a lower bound.
    pub total_is_lower_bound: bool,
}

/// Largest attachment accepted through the API, in bytes.
pub const MAX_ATTACHMENT_BYTES: usize = 10 << 20;

pub(crate) fn reach(row: &ConversationRow) -> Reach {
    Reach {
        group_id: row.group_id,
        assignee_id: row.assignee_id,
        customer_id: row.customer_id,
    }
}

pub(crate) fn not_found(number: i64) -> AppError {
    AppError::NotFound(format!("conversation {number}"))
}

fn encode_cursor(value: i64, number: i64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{value}:{number}"))
}

fn decode_cursor(cursor: &str) -> Result<(i64, i64)> {
    let bad = || AppError::Invalid("the cursor is not one this server handed out".into());
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    let text = String::from_utf8(bytes).map_err(|_| bad())?;
    let (value, number) = text.split_once(':').ok_or_else(bad)?;
    Ok((
        value.parse().map_err(|_| bad())?,
        number.parse().map_err(|_| bad())?,
    ))
}

impl App {
    /// Opens a conversation with its first message. Agents and tokens open it for the
    /// customer named in the input (found by any address, or created); a signed-in customer
    /// opens it for themselves.
    pub async fn create_conversation(
        &self,
        by: &Principal,
        input: NewConversationInput,
        now: i64,
    ) -> Result<ConversationView> {
        self.create_conversation_with(by, input, None, now).await
    }

    /// [`App::create_conversation`], optionally recording in the same transaction that an
    /// inbound e-mail became its first message.
    pub(crate) async fn create_conversation_with(
        &self,
        by: &Principal,
        input: NewConversationInput,
        origin: Option<&MailOrigin>,
        now: i64,
    ) -> Result<ConversationView> {
        let (subject, tags) = self.check_new_conversation(by, &input).await?;
        if origin.is_none() && input.message.attachments.is_empty() && self.opens_together() {
            return self.create_queued(by, input, subject, tags, now).await;
        }
        self.create_alone(by, &input, &subject, &tags, origin, now)
            .await
    }

    /// Checks who opens a conversation and what with; returns its subject and its tags, cleaned
    /// (each tag once).
    pub(crate) async fn check_new_conversation(
        &self,
        by: &Principal,
        input: &NewConversationInput,
    ) -> Result<(String, Vec<String>)> {
        if !by.can_create_conversation() {
            return Err(AppError::Forbidden(
                "this token may not create conversations (it needs conversations:write)".into(),
            ));
        }
        let subject = clean_subject(&input.subject)?;
        check_message_text(&input.message.text)?;
        let customer_opens = matches!(by, Principal::Customer { .. });
        if customer_opens && input.message.kind != MessageKind::Customer {
            return Err(AppError::Forbidden(
                "customers open conversations with their own message".into(),
            ));
        }
        let mut tags: Vec<String> = Vec::with_capacity(input.tags.len());
        for tag in &input.tags {
            let tag = normalize_tag(tag)?;
            if !tags.contains(&tag) {
                tags.push(tag);
            }
        }
        for name in input.custom_fields.keys() {
            check_field_name(name)?;
        }
        if customer_opens && (input.group_id.is_some() || input.assignee_id.is_some()) {
            return Err(AppError::Forbidden(
                "customers cannot choose the group or the agent".into(),
            ));
        }
        self.check_assignment(input.group_id, input.assignee_id)
            .await?;
        Ok((subject, tags))
    }

    /// Opens one conversation in a transaction of its own (checked by the caller).
    pub(crate) async fn create_alone(
        &self,
        by: &Principal,
        input: &NewConversationInput,
        subject: &str,
        tags: &[String],
        origin: Option<&MailOrigin>,
        now: i64,
    ) -> Result<ConversationView> {
        // Two first contacts from one new address at once race to create the customer;
        // the loser sees a uniqueness conflict and simply tries again.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.try_create(by, input, subject, tags, origin, now).await {
                Err(AppError::Conflict(_)) if attempt < 3 => continue,
                other => return other.map(|view| for_viewer(view, by)),
            }
        }
    }

    async fn try_create(
        &self,
        by: &Principal,
        input: &NewConversationInput,
        subject: &str,
        tags: &[String],
        origin: Option<&MailOrigin>,
        now: i64,
    ) -> Result<ConversationView> {
        let mut tx = self.store.begin().await?;
        let (row, detail) = self
            .create_in_tx(&mut tx, by, input, subject, tags, origin, None, now)
            .await?;
        tx.commit().await?;
        // Answered from what was written: no read after the commit.
        crate::views::view_of(row, &detail)
    }

    /// Opens a conversation in `tx` (checked by the caller): the row, its first message and
    /// their events. `customer_channel`: where a customer principal writes from (the portal,
    /// `web`, when not said). Returns the row with the names and tags a view shows beside it.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn create_in_tx(
        &self,
        tx: &mut Tx,
        by: &Principal,
        input: &NewConversationInput,
        subject: &str,
        tags: &[String],
        origin: Option<&MailOrigin>,
        customer_channel: Option<Channel>,
        now: i64,
    ) -> Result<(ConversationRow, store::ConversationDetail)> {
        let actor = by.actor();
        let customer_id = match by {
            Principal::Customer { id } => *id,
            _ => find_or_create_customer(tx, &input.customer, now).await?,
        };
        let mut row = new_row(input, subject, customer_id, now);
        let mut detail = tx
            .insert_conversation_detailed(&NewConversation {
                // Its first message, added below.
                message_count: 1,
                ..new_conversation(&row)
            })
            .await?;
        let number = detail.number;
        row.number = number;
        record(tx, Some(number), actor, now, &created_event(input, &row)).await?;
        let mut added = Vec::with_capacity(tags.len());
        for tag in tags {
            if tx.add_tag(number, tag).await? {
                added.push(tag.as_str());
                record(
                    tx,
                    Some(number),
                    actor,
                    now,
                    &EventPayload::TagAdded { tag: tag.clone() },
                )
                .await?;
            }
        }
        add_message_in_tx(
            tx,
            &mut row,
            by,
            &input.message,
            origin,
            customer_channel,
            now,
        )
        .await?;
        // The row was inserted with its first message counted: nothing left to write.
        debug_assert_eq!(row.message_count, 1);
        detail.tags = (!added.is_empty()).then(|| added.join(" "));
        Ok((row, detail))
    }

    /// Checks that a group and an agent exist, and that the agent belongs to the group.
    async fn check_assignment(
        &self,
        group_id: Option<i64>,
        assignee_id: Option<i64>,
    ) -> Result<()> {
        if let Some(group) = group_id {
            if !self.store.groups().await?.iter().any(|g| g.id == group) {
                return Err(AppError::Invalid(format!("group {group} does not exist")));
            }
        }
        if let Some(agent) = assignee_id {
            let row = self
                .store
                .agent(agent)
                .await?
                .ok_or_else(|| AppError::Invalid(format!("agent {agent} does not exist")))?;
            if !row.active {
                return Err(AppError::Invalid(format!(
                    "agent {} is deactivated",
                    row.email
                )));
            }
            if let Some(group) = group_id {
                if !self.store.agent_groups(agent).await?.contains(&group) {
                    return Err(AppError::Invalid(format!(
                        "agent {} is not a member of group {group}",
                        row.email
                    )));
                }
            }
        }
        Ok(())
    }

    /// Adds a message. Customers' messages reopen what waits or is solved (and start a
    /// follow-up when the conversation is closed); replies move a new conversation to open,
    /// or to `status_after` when the agent chose one.
    pub async fn add_message(
        &self,
        by: &Principal,
        number: i64,
        message: MessageInput,
        status_after: Option<Status>,
        now: i64,
    ) -> Result<PostedMessage> {
        self.add_message_with(by, number, message, status_after, None, now)
            .await
    }

    /// [`App::add_message`], optionally recording in the same transaction that an inbound
    /// e-mail became this message.
    pub(crate) async fn add_message_with(
        &self,
        by: &Principal,
        number: i64,
        message: MessageInput,
        status_after: Option<Status>,
        origin: Option<&MailOrigin>,
        now: i64,
    ) -> Result<PostedMessage> {
        self.add_message_via(by, number, message, status_after, origin, None, now)
            .await
    }

    /// [`App::add_message_with`], with the channel a customer principal writes from
    /// (`None`: the portal, `web`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn add_message_via(
        &self,
        by: &Principal,
        number: i64,
        message: MessageInput,
        status_after: Option<Status>,
        origin: Option<&MailOrigin>,
        customer_channel: Option<Channel>,
        now: i64,
    ) -> Result<PostedMessage> {
        check_message_text(&message.text)?;
        let current = self
            .store
            .conversation(number)
            .await?
            .ok_or_else(|| not_found(number))?;
        if !by.can_see(&reach(&current)) {
            return Err(not_found(number));
        }
        if !by.can_add_message(&reach(&current), message.kind) {
            return Err(AppError::Forbidden(format!(
                "you may not add a {} here",
                message.kind
            )));
        }
        if status_after.is_some() && !by.can_update(&reach(&current)) {
            return Err(AppError::Forbidden("you may not change the status".into()));
        }
        let actor = by.actor();
        // A public reply on an e-mail conversation goes out by e-mail: the signing key is
        // loaded before the transaction (loading it may write).
        let mail_key = if message.kind == MessageKind::Reply && current.channel == "email" {
            Some(self.mail_thread_key().await?)
        } else {
            None
        };
        let mut tx = self.store.begin().await?;
        let mut row = tx
            .conversation_for_update(number)
            .await?
            .ok_or_else(|| not_found(number))?;
        if let Some(target) = row.merged_into {
            return Err(AppError::Invalid(format!(
                "conversation {number} was merged into {target}; write there"
            )));
        }
        let status = status_of(&row)?;
        if status == Status::Closed {
            if message.kind != MessageKind::Customer {
                return Err(AppError::Transition(domain::TransitionError::Closed));
            }
            // The customer wrote again after the case closed: a follow-up conversation.
            let follow_up = tx
                .insert_conversation(&NewConversation {
                    subject: &row.subject,
                    channel: &row.channel,
                    status: Status::New.as_str(),
                    priority: row.priority,
                    group_id: row.group_id,
                    assignee_id: None,
                    customer_id: row.customer_id,
                    custom_fields: "{}",
                    message_count: 0,
                    now,
                })
                .await?;
            let channel = Channel::parse(&row.channel).unwrap_or(Channel::Email);
            let priority = priority_from_rank(row.priority).unwrap_or(Priority::Normal);
            record(
                &mut tx,
                Some(number),
                actor,
                now,
                &EventPayload::FollowUpCreated { follow_up },
            )
            .await?;
            record(
                &mut tx,
                Some(follow_up),
                actor,
                now,
                &EventPayload::Created {
                    subject: row.subject.clone(),
                    channel,
                    status: Status::New,
                    priority,
                    customer_id: row.customer_id,
                    group_id: row.group_id,
                    assignee_id: None,
                },
            )
            .await?;
            let mut new_row = tx
                .conversation_for_update(follow_up)
                .await?
                .ok_or_else(|| not_found(follow_up))?;
            let message_id = add_message_in_tx(
                &mut tx,
                &mut new_row,
                by,
                &message,
                origin,
                customer_channel,
                now,
            )
            .await?;
            tx.update_conversation(&new_row).await?;
            tx.commit().await?;
            return self.posted(by, message_id, new_row).await;
        }
        let message_id = add_message_in_tx(
            &mut tx,
            &mut row,
            by,
            &message,
            origin,
            customer_channel,
            now,
        )
        .await?;
        if let Some(key) = &mail_key {
            let attachments = message
                .attachments
                .iter()
                .map(|a| ::mail::compose::OutgoingAttachment {
                    filename: a.filename.clone(),
                    content_type: a.content_type.clone(),
                    bytes: a.data.clone(),
                })
                .collect();
            self.queue_mail(
                &mut tx,
                &row,
                key,
                crate::outbound::OutgoingMail {
                    text: &message.text,
                    attachments,
                    message_id: Some(message_id),
                    automatic: false,
                },
                now,
            )
            .await?;
        }
        let next = match message.kind {
            MessageKind::Customer => status.after_customer_message().unwrap_or(status),
            MessageKind::Reply => status_after.unwrap_or_else(|| status.after_agent_reply()),
            MessageKind::Note => status_after.unwrap_or(status),
        };
        if next != status {
            let next = status.transition(next)?;
            self.apply_status(&mut tx, &mut row, status, next, actor, now)
                .await?;
        }
        tx.update_conversation(&row).await?;
        tx.commit().await?;
        self.posted(by, message_id, row).await
    }

    async fn posted(
        &self,
        by: &Principal,
        message_id: i64,
        row: ConversationRow,
    ) -> Result<PostedMessage> {
        let messages = self.store.messages(row.number).await?;
        let message = messages
            .into_iter()
            .find(|m| m.id == message_id)
            .ok_or_else(|| not_found(row.number))?;
        let attachments = self
            .attachment_views(row.number, Some(message_id))
            .await?
            .into_iter()
            .map(|(_, a)| a)
            .collect();
        Ok(PostedMessage {
            message: message_view(message, attachments)?,
            conversation: for_viewer(self.conversation_view(row).await?, by),
        })
    }

    /// Sets a new status, with its timestamps, its event and (for solved) the auto-close timer.
    async fn apply_status(
        &self,
        tx: &mut Tx,
        row: &mut ConversationRow,
        from: Status,
        to: Status,
        actor: Actor,
        now: i64,
    ) -> Result<()> {
        row.status = to.as_str().to_string();
        row.updated_at = now;
        match to {
            Status::Solved => {
                row.solved_at = Some(now);
                let run_at = now + i64::from(self.settings.auto_close_days) * DAY_MILLIS;
                let key = format!("auto_close:{}:{now}", row.number);
                let payload = serde_json::json!({ "number": row.number }).to_string();
                tx.enqueue_job(
                    crate::consumers::AUTO_CLOSE_JOB,
                    &payload,
                    run_at,
                    Some(&key),
                    5,
                    now,
                )
                .await?;
                crate::surveys::schedule_survey(tx, row.number, now).await?;
            }
            Status::Closed => row.closed_at = Some(now),
            _ if from == Status::Solved => row.solved_at = None,
            _ => {}
        }
        record(
            tx,
            Some(row.number),
            actor,
            now,
            &EventPayload::StatusChanged { from, to },
        )
        .await?;
        Ok(())
    }

    /// Changes a conversation's fields; each actual change is an event.
    pub async fn update_conversation(
        &self,
        by: &Principal,
        number: i64,
        patch: Patch,
        now: i64,
    ) -> Result<ConversationView> {
        let current = self
            .store
            .conversation(number)
            .await?
            .ok_or_else(|| not_found(number))?;
        if !by.can_see(&reach(&current)) {
            return Err(not_found(number));
        }
        if !by.can_update(&reach(&current)) {
            return Err(AppError::Forbidden(format!(
                "you may not change conversation {number}"
            )));
        }
        let subject = patch.subject.as_deref().map(clean_subject).transpose()?;
        let normalize = |tags: &[String]| {
            tags.iter()
                .map(|t| normalize_tag(t))
                .collect::<Result<Vec<_>, _>>()
        };
        let set_tags = patch.tags.as_deref().map(normalize).transpose()?;
        let add_tags = normalize(&patch.add_tags)?;
        let remove_tags = normalize(&patch.remove_tags)?;
        for name in patch.custom_fields.keys() {
            check_field_name(name)?;
        }
        let actor = by.actor();
        let mut tx = self.store.begin().await?;
        let mut row = tx
            .conversation_for_update(number)
            .await?
            .ok_or_else(|| not_found(number))?;
        // Decide on the row as it is now, locked: a change made since the first read is
        // neither undone nor allowed to widen what this principal may do.
        if !by.can_update(&reach(&row)) {
            return Err(not_found(number));
        }
        let group_after = patch.group_id.unwrap_or(row.group_id);
        let assignee_after = patch.assignee_id.unwrap_or(row.assignee_id);
        if patch.group_id.is_some() || patch.assignee_id.is_some() {
            self.check_assignment(group_after, assignee_after).await?;
        }
        let before = row.clone();
        let mut tags_changed = false;
        if row.merged_into.is_some() {
            return Err(AppError::Invalid(format!(
                "conversation {number} was merged; change the conversation it was merged into"
            )));
        }
        let status = status_of(&row)?;
        if status == Status::Closed {
            return Err(AppError::Transition(domain::TransitionError::Closed));
        }
        if let Some(subject) = subject {
            if subject != row.subject {
                record(
                    &mut tx,
                    Some(number),
                    actor,
                    now,
                    &EventPayload::SubjectChanged {
                        from: row.subject.clone(),
                        to: subject.clone(),
                    },
                )
                .await?;
                row.subject = subject;
            }
        }
        if let Some(priority) = patch.priority {
            let from = priority_from_rank(row.priority).unwrap_or(Priority::Normal);
            if priority != from {
                record(
                    &mut tx,
                    Some(number),
                    actor,
                    now,
                    &EventPayload::PriorityChanged { from, to: priority },
                )
                .await?;
                row.priority = priority_rank(priority);
            }
        }
        if group_after != row.group_id {
            record(
                &mut tx,
                Some(number),
                actor,
                now,
                &EventPayload::GroupChanged {
                    from: row.group_id,
                    to: group_after,
                },
            )
            .await?;
            row.group_id = group_after;
        }
        if assignee_after != row.assignee_id {
            record(
                &mut tx,
                Some(number),
                actor,
                now,
                &EventPayload::AssigneeChanged {
                    from: row.assignee_id,
                    to: assignee_after,
                },
            )
            .await?;
            row.assignee_id = assignee_after;
        }
        let mut to_add = add_tags;
        let mut to_remove = remove_tags;
        if let Some(set) = set_tags {
            let existing = tx.tags(number).await?;
            to_remove.extend(existing.iter().filter(|t| !set.contains(t)).cloned());
            to_add.extend(set);
        }
        for tag in to_remove {
            if tx.remove_tag(number, &tag).await? {
                tags_changed = true;
                record(
                    &mut tx,
                    Some(number),
                    actor,
                    now,
                    &EventPayload::TagRemoved { tag },
                )
                .await?;
            }
        }
        for tag in to_add {
            if tx.add_tag(number, &tag).await? {
                tags_changed = true;
                record(
                    &mut tx,
                    Some(number),
                    actor,
                    now,
                    &EventPayload::TagAdded { tag },
                )
                .await?;
            }
        }
        if !patch.custom_fields.is_empty() {
            let mut fields = fields_of(&row);
            for (name, value) in patch.custom_fields {
                // Clearing a field that is not set is no change either.
                let changed = fields.get(&name) != Some(&value)
                    && (fields.contains_key(&name) || !value.is_null());
                if changed {
                    if value.is_null() {
                        fields.remove(&name);
                    } else {
                        fields.insert(name.clone(), value.clone());
                    }
                    record(
                        &mut tx,
                        Some(number),
                        actor,
                        now,
                        &EventPayload::FieldSet { name, value },
                    )
                    .await?;
                }
            }
            row.custom_fields = serde_json::Value::Object(fields).to_string();
        }
        if let Some(to) = patch.status {
            if to != status {
                let to = status.transition(to)?;
                self.apply_status(&mut tx, &mut row, status, to, actor, now)
                    .await?;
            }
        }
        // A request that changes nothing writes nothing (and does not reorder queues).
        if row != before || tags_changed {
            row.updated_at = now;
            tx.update_conversation(&row).await?;
        }
        tx.commit().await?;
        self.conversation_view(row).await
    }

    /// Merges conversation `source` into `target`: the messages move, the source is closed
    /// and points at the target; both get an event. The source's events stay where they
    /// were written (the log is immutable) and show in the target's audit trail.
    pub async fn merge_conversations(
        &self,
        by: &Principal,
        source: i64,
        target: i64,
        now: i64,
    ) -> Result<ConversationView> {
        if source == target {
            return Err(AppError::Invalid(
                "a conversation cannot be merged into itself".into(),
            ));
        }
        for number in [source, target] {
            let row = self
                .store
                .conversation(number)
                .await?
                .ok_or_else(|| not_found(number))?;
            if !by.can_see(&reach(&row)) {
                return Err(not_found(number));
            }
            if !by.can_update(&reach(&row)) {
                return Err(AppError::Forbidden(format!(
                    "you may not change conversation {number}"
                )));
            }
        }
        let actor = by.actor();
        let mut tx = self.store.begin().await?;
        // Lock in number order so that two opposite merges cannot deadlock.
        let (first, second) = (source.min(target), source.max(target));
        let a = tx
            .conversation_for_update(first)
            .await?
            .ok_or_else(|| not_found(first))?;
        let b = tx
            .conversation_for_update(second)
            .await?
            .ok_or_else(|| not_found(second))?;
        let (mut src, mut dst) = if a.number == source { (a, b) } else { (b, a) };
        for row in [&src, &dst] {
            if let Some(into) = row.merged_into {
                return Err(AppError::Invalid(format!(
                    "conversation {} was already merged into {into}",
                    row.number
                )));
            }
        }
        if status_of(&dst)? == Status::Closed {
            return Err(AppError::Invalid(format!(
                "conversation {target} is closed; merge into an open one"
            )));
        }
        let moved = tx.move_messages(source, target).await?;
        dst.message_count += moved;
        dst.updated_at = now;
        src.message_count = 0;
        src.merged_into = Some(target);
        let src_status = status_of(&src)?;
        if src_status != Status::Closed {
            record(
                &mut tx,
                Some(source),
                actor,
                now,
                &EventPayload::StatusChanged {
                    from: src_status,
                    to: Status::Closed,
                },
            )
            .await?;
            src.status = Status::Closed.as_str().into();
            src.closed_at = Some(now);
        }
        src.updated_at = now;
        record(
            &mut tx,
            Some(source),
            actor,
            now,
            &EventPayload::MergedInto { target },
        )
        .await?;
        record(
            &mut tx,
            Some(target),
            actor,
            now,
            &EventPayload::MergedFrom {
                source,
                messages_moved: moved,
            },
        )
        .await?;
        tx.update_conversation(&src).await?;
        tx.update_conversation(&dst).await?;
        tx.commit().await?;
        self.conversation_view(dst).await
    }

    /// A conversation this principal may see.
    pub async fn conversation(&self, by: &Principal, number: i64) -> Result<ConversationView> {
        let row = self
            .store
            .conversation(number)
            .await?
            .ok_or_else(|| not_found(number))?;
        if !by.can_see(&reach(&row)) {
            return Err(not_found(number));
        }
        self.conversation_view(row)
            .await
            .map(|view| for_viewer(view, by))
    }

    /// The messages of a conversation, oldest first. Customers do not see internal notes.
    pub async fn messages(&self, by: &Principal, number: i64) -> Result<Vec<MessageView>> {
        self.conversation(by, number).await?;
        let hide_notes = matches!(by, Principal::Customer { .. });
        let attachments = self.attachment_views(number, None).await?;
        self.store
            .messages(number)
            .await?
            .into_iter()
            .filter(|m| !(hide_notes && m.kind == MessageKind::Note.as_str()))
            .map(|m| {
                let mine = attachments
                    .iter()
                    .filter(|(id, _)| *id == m.id)
                    .map(|(_, a)| a.clone())
                    .collect();
                message_view(m, mine)
            })
            .collect()
    }

    async fn attachment_views(
        &self,
        number: i64,
        only: Option<i64>,
    ) -> Result<Vec<(i64, AttachmentView)>> {
        Ok(self
            .store
            .attachments_of_conversation(number)
            .await?
            .into_iter()
            .filter(|a| only.is_none_or(|id| a.message_id == id))
            .map(|a| {
                (
                    a.message_id,
                    AttachmentView {
                        id: a.id,
                        filename: a.filename,
                        content_type: a.content_type,
                        size: a.size,
                    },
                )
            })
            .collect())
    }

    /// An attachment's metadata and bytes, if its conversation is visible.
    pub async fn attachment(&self, by: &Principal, id: i64) -> Result<(AttachmentView, Vec<u8>)> {
        let (row, number) = self
            .store
            .attachment(id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("attachment {id}")))?;
        self.conversation(by, number)
            .await
            .map_err(|_| AppError::NotFound(format!("attachment {id}")))?;
        if matches!(by, Principal::Customer { .. }) {
            let messages = self.messages(by, number).await?;
            if !messages.iter().any(|m| m.id == row.message_id) {
                return Err(AppError::NotFound(format!("attachment {id}")));
            }
        }
        let data = self.store.blob(&row.blob_sha256).await?.ok_or_else(|| {
            AppError::Store(StoreError::Corrupt(format!(
                "blob {} is missing",
                row.blob_sha256
            )))
        })?;
        Ok((
            AttachmentView {
                id: row.id,
                filename: row.filename,
                content_type: row.content_type,
                size: row.size,
            },
            data,
        ))
    }

    /// The audit trail: every event of the conversation (and of those merged into it), each
    /// with its actor. Not for customers.
    pub async fn events(&self, by: &Principal, number: i64) -> Result<Vec<EventView>> {
        if matches!(by, Principal::Customer { .. }) {
            return Err(AppError::Forbidden(
                "the audit trail is for the service team".into(),
            ));
        }
        self.conversation(by, number).await?;
        self.store
            .conversation_events(number)
            .await?
            .into_iter()
            .map(event_view)
            .collect()
    }

    /// A page of the conversations this principal may see.
    pub async fn list_conversations(
        &self,
        by: &Principal,
        query: ListQuery,
    ) -> Result<ConversationList> {
        let after = query.cursor.as_deref().map(decode_cursor).transpose()?;
        let limit = query.limit.clamp(1, 100);
        let page = self
            .store
            .list_conversations(&by.visibility(), &query.filter, query.sort, after, limit)
            .await?;
        let next_cursor = page.next.map(|(v, n)| encode_cursor(v, n));
        Ok(ConversationList {
            items: self
                .conversation_views(page.items)
                .await?
                .into_iter()
                .map(|view| for_viewer(view, by))
                .collect(),
            total: page.total,
            next_cursor,
            total_is_lower_bound: page.total_is_lower_bound,
        })
    }

    /// The queue counts for this principal's sidebar.
    pub async fn queue_counts(&self, by: &Principal) -> Result<QueueCounts> {
        let agent_id = match by {
            Principal::Agent { id, .. } => Some(*id),
            _ => None,
        };
        Ok(self.store.queue_counts(&by.visibility(), agent_id).await?)
    }
}

/// A new conversation's row as it is stored (its number filled in once known, its first
/// message not yet counted): the one place that says how an input becomes a row, whichever
/// way the conversation is opened.
pub(crate) fn new_row(
    input: &NewConversationInput,
    subject: &str,
    customer_id: i64,
    now: i64,
) -> ConversationRow {
    let status = if input.message.kind == MessageKind::Customer {
        Status::New
    } else {
        Status::Open
    };
    ConversationRow {
        number: 0,
        subject: subject.to_string(),
        channel: input.channel.as_str().to_string(),
        status: status.as_str().to_string(),
        priority: priority_rank(input.priority.unwrap_or(Priority::Normal)),
        group_id: input.group_id,
        assignee_id: input.assignee_id,
        customer_id,
        custom_fields: serde_json::Value::Object(input.custom_fields.clone()).to_string(),
        merged_into: None,
        message_count: 0,
        created_at: now,
        updated_at: now,
        solved_at: None,
        closed_at: None,
    }
}

/// The insert of a row made by [`new_row`].
pub(crate) fn new_conversation(row: &ConversationRow) -> NewConversation<'_> {
    NewConversation {
        subject: &row.subject,
        channel: &row.channel,
        status: &row.status,
        priority: row.priority,
        group_id: row.group_id,
        assignee_id: row.assignee_id,
        customer_id: row.customer_id,
        custom_fields: &row.custom_fields,
        message_count: row.message_count,
        now: row.created_at,
    }
}

/// The event that opens the log of a conversation made by [`new_row`].
pub(crate) fn created_event(input: &NewConversationInput, row: &ConversationRow) -> EventPayload {
    EventPayload::Created {
        subject: row.subject.clone(),
        channel: input.channel,
        status: if input.message.kind == MessageKind::Customer {
            Status::New
        } else {
            Status::Open
        },
        priority: input.priority.unwrap_or(Priority::Normal),
        customer_id: row.customer_id,
        group_id: row.group_id,
        assignee_id: row.assignee_id,
    }
}

/// Who a new message is written by and where it comes in. A customer message is authored by
/// the customer, whoever relays it (a token, an agent logging a call); replies and notes by
/// whoever writes them. `customer_channel`: where a customer principal writes from (`None`:
/// the portal, `web`).
pub(crate) fn message_author_channel(
    by: &Principal,
    kind: MessageKind,
    row: &ConversationRow,
    customer_channel: Option<Channel>,
) -> (Actor, Channel) {
    let author = match kind {
        MessageKind::Customer => Actor::Customer(row.customer_id),
        _ => by.actor(),
    };
    let channel = match kind {
        MessageKind::Customer if matches!(by, Principal::Customer { .. }) => {
            customer_channel.unwrap_or(Channel::Web)
        }
        _ => Channel::parse(&row.channel).unwrap_or(Channel::Api),
    };
    (author, channel)
}

/// Finds the customer by any of the given addresses, adding the addresses they did not
/// have yet; or creates the customer (in the organisation of their e-mail domain, if any).
pub(crate) async fn find_or_create_customer(
    tx: &mut Tx,
    input: &CustomerInput,
    now: i64,
) -> Result<i64> {
    let identities = customer_identities(input)?;
    // Look each address up once: who owns it (if anyone) decides both the customer and
    // which addresses are new.
    let mut owners = Vec::with_capacity(identities.len());
    for (kind, value) in &identities {
        owners.push(tx.customer_by_identity(kind.as_str(), value).await?);
    }
    customer_of(tx, input, &identities, &owners, now).await
}

/// The addresses a customer is named by, normalised; at least one.
pub(crate) fn customer_identities(input: &CustomerInput) -> Result<Vec<(IdentityKind, String)>> {
    let mut identities = Vec::new();
    for (kind, value) in [
        (IdentityKind::Email, &input.email),
        (IdentityKind::Phone, &input.phone),
        (IdentityKind::Chat, &input.chat),
    ] {
        if let Some(value) = value {
            identities.push((kind, normalize_identity(kind, value)?));
        }
    }
    if identities.is_empty() {
        return Err(AppError::Invalid(
            "name the customer by at least one of email, phone or chat".into(),
        ));
    }
    Ok(identities)
}

/// The customer of `identities`, given who owns each (`owners`, in the same order): the
/// first owner, with the addresses nobody owned added; or a new customer with all of them.
pub(crate) async fn customer_of(
    tx: &mut Tx,
    input: &CustomerInput,
    identities: &[(IdentityKind, String)],
    owners: &[Option<i64>],
    now: i64,
) -> Result<i64> {
    let Some(customer_id) = owners.iter().flatten().next().copied() else {
        // Nobody owns any of the addresses: a new customer with all of them.
        let email = identities
            .iter()
            .find(|(k, _)| *k == IdentityKind::Email)
            .map(|(_, v)| v.as_str());
        let name = match (input.name.as_deref().map(str::trim), email) {
            (Some(name), _) if !name.is_empty() => name.chars().take(200).collect(),
            (_, Some(email)) => email.split('@').next().unwrap_or(email).to_string(),
            _ => identities[0].1.clone(),
        };
        let domain = email.and_then(|e| e.split_once('@')).map(|(_, d)| d);
        let rows: Vec<(&str, &str)> = identities
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        return Ok(tx
            .insert_customer_with_identities(&name, domain, &rows, now)
            .await?);
    };
    for ((kind, value), owner) in identities.iter().zip(owners) {
        if owner.is_none() {
            tx.insert_identity(customer_id, kind.as_str(), value, now)
                .await?;
        }
    }
    Ok(customer_id)
}

/// Stores a message with its attachments and its event, and counts it on the conversation.
/// `customer_channel`: where a customer principal writes from (`None`: the portal, `web`).
async fn add_message_in_tx(
    tx: &mut Tx,
    row: &mut ConversationRow,
    by: &Principal,
    message: &MessageInput,
    origin: Option<&MailOrigin>,
    customer_channel: Option<Channel>,
    now: i64,
) -> Result<i64> {
    let actor = by.actor();
    let (author, channel) = message_author_channel(by, message.kind, row, customer_channel);
    let html = match origin.and_then(|o| o.html.as_deref()) {
        Some(sanitised) => sanitised.to_string(),
        None => text_to_html(&message.text),
    };
    let message_id = tx
        .insert_message(&NewMessage {
            conversation: row.number,
            kind: message.kind.as_str(),
            channel: channel.as_str(),
            author_kind: author.kind(),
            author_id: author.id(),
            body_text: &message.text,
            body_html: &html,
            now,
        })
        .await?;
    let mut attachment_ids = Vec::with_capacity(message.attachments.len());
    for attachment in &message.attachments {
        if attachment.data.len() > MAX_ATTACHMENT_BYTES {
            return Err(AppError::Invalid(format!(
                "attachment {:?} is larger than {} MiB",
                attachment.filename,
                MAX_ATTACHMENT_BYTES >> 20
            )));
        }
        let filename: String = attachment
            .filename
            .chars()
            .filter(|c| !c.is_control() && *c != '/' && *c != '\\')
            .take(255)
            .collect();
        if filename.trim().is_empty() {
            return Err(AppError::Invalid("an attachment needs a file name".into()));
        }
        let address = tx.put_blob(&attachment.data, now).await?;
        let size = i64::try_from(attachment.data.len()).unwrap_or(i64::MAX);
        let attachment_id = tx
            .insert_attachment(
                message_id,
                &address,
                &filename,
                &attachment.content_type,
                size,
            )
            .await?;
        attachment_ids.push(attachment_id);
    }
    // An e-mail's inline (cid:) images, now stored, are shown from their attachments.
    if let Some(origin) = origin.filter(|o| o.html.is_some() && !o.inline_images.is_empty()) {
        let pointed = mail::html::point_cid_images(&html, |cid| {
            origin
                .inline_images
                .iter()
                .find(|(id, _)| id == cid)
                .and_then(|(_, at)| attachment_ids.get(*at))
                .map(|id| format!("/api/v1/attachments/{id}"))
        });
        if pointed != html {
            tx.set_message_html(message_id, &pointed).await?;
        }
    }
    record(
        tx,
        Some(row.number),
        actor,
        now,
        &EventPayload::MessageAdded {
            message_id,
            message_kind: message.kind,
            channel,
        },
    )
    .await?;
    if let Some(origin) = origin {
        crate::mail::record_mail_origin(tx, origin, row.number, message_id, now).await?;
    }
    row.message_count += 1;
    row.updated_at = now;
    Ok(message_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        assert_eq!(
            decode_cursor(&encode_cursor(1_700_000_000_000, 42)).ok(),
            Some((1_700_000_000_000, 42))
        );
        assert!(decode_cursor("not a cursor").is_err());
        assert!(
            decode_cursor(&base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("1:x")).is_err()
        );
    }
}
