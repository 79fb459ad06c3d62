//! The e-mail channel's use cases: support mailboxes, accepting inbound mail durably, the
//! quarantine. The protocol adapters (SMTP/LMTP listener, IMAP poller, `rapport mail import`)
//! call these; what a message becomes is decided by the `mail.ingest` job.

use std::cell::RefCell;
use std::collections::HashMap;

use domain::customer::{normalize_identity, IdentityKind};
use domain::{Actor, EventPayload, Principal};
use store::{InboundMailRow, MailboxRow, NewInboundMail, Tx};

use crate::{record, App, AppError, Result};

/// The job that turns an accepted message into a conversation message (or a bounce, …).
pub const MAIL_INGEST_JOB: &str = "mail.ingest";

/// How inbound mail arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Smtp,
    Lmtp,
    Imap,
    Import,
}

impl Transport {
    pub fn as_str(&self) -> &'static str {
        match self {
            Transport::Smtp => "smtp",
            Transport::Lmtp => "lmtp",
            Transport::Imap => "imap",
            Transport::Import => "import",
        }
    }
}

/// A message as a listener received it: the envelope and the raw bytes, unparsed.
#[derive(Debug, Clone)]
pub struct AcceptedMail {
    pub transport: Transport,
    /// The envelope sender (empty for bounces: `MAIL FROM:<>`).
    pub mail_from: String,
    /// The envelope recipients the listener accepted.
    pub recipients: Vec<String>,
    pub raw: Vec<u8>,
}

impl App {
    /// Configures a support address; new conversations from it go to `group` (by name).
    pub async fn add_mailbox(
        &self,
        by: &Principal,
        address: &str,
        name: &str,
        group: Option<&str>,
        acknowledge: bool,
        now: i64,
    ) -> Result<i64> {
        if !by.can_administer() {
            return Err(AppError::Forbidden(
                "only administrators configure mailboxes".into(),
            ));
        }
        let address = normalize_identity(IdentityKind::Email, address)?;
        let group_id = match group {
            Some(name) => Some(
                self.store
                    .group_by_name(name)
                    .await?
                    .ok_or_else(|| {
                        AppError::Invalid(format!(
                            "there is no group named {name:?}; add it with `rapport group add`"
                        ))
                    })?
                    .id,
            ),
            None => None,
        };
        let name = if name.trim().is_empty() {
            address.clone()
        } else {
            name.trim().to_string()
        };
        let mut tx = self.store.begin().await?;
        let id = tx
            .insert_mailbox(&address, &name, group_id, acknowledge, now)
            .await
            .map_err(|e| match e {
                store::StoreError::Conflict(_) => {
                    AppError::Conflict(format!("the mailbox {address} is already configured"))
                }
                other => other.into(),
            })?;
        record(
            &mut tx,
            None,
            by.actor(),
            now,
            &EventPayload::MailboxAdded {
                address: address.clone(),
                group_id,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// The configured support addresses (the listeners accept mail for these only).
    pub async fn mailboxes(&self) -> Result<Vec<MailboxRow>> {
        Ok(self.store.mailboxes().await?)
    }

    /// Stores an accepted message durably — raw bytes, envelope, a `mail.ingest` job and the
    /// `mail_received` event in one transaction — and returns its inbound id. Only after this
    /// returns may a listener answer 250: nothing accepted is lost. Concurrent calls share
    /// commits (group commit on SQLite).
    pub async fn accept_mail(&self, mail: AcceptedMail, now: i64) -> Result<i64> {
        if mail.recipients.is_empty() {
            return Err(AppError::Invalid(
                "a message needs at least one recipient".into(),
            ));
        }
        let mut tx = self.store.begin().await?;
        let address = tx.put_blob(&mail.raw, now).await?;
        let id = insert_accepted(&mut tx, &mail, &address, now).await?;
        tx.enqueue_job(MAIL_INGEST_JOB, &id.to_string(), now, None, 5, now)
            .await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Messages in the quarantine, oldest first (administrators only).
    pub async fn quarantine(
        &self,
        by: &Principal,
        after: i64,
        limit: i64,
    ) -> Result<Vec<InboundMailRow>> {
        if !by.can_administer() {
            return Err(AppError::Forbidden(
                "only administrators see the mail quarantine".into(),
            ));
        }
        Ok(self
            .store
            .inbound_mail_in_state("quarantined", after, limit.clamp(1, 1000))
            .await?)
    }

    /// How many inbound messages are in each state (received, message, bounce, …).
    pub async fn inbound_mail_states(&self, by: &Principal) -> Result<Vec<(String, i64)>> {
        if !by.can_administer() {
            return Err(AppError::Forbidden(
                "only administrators see mail intake figures".into(),
            ));
        }
        Ok(self.store.inbound_mail_states().await?)
    }

    /// Releases a quarantined message: it is processed again, leniently (limits lifted; if it
    /// still cannot be read it becomes a conversation carrying the raw message as an attachment).
    pub async fn release_quarantined(
        &self,
        by: &Principal,
        inbound_id: i64,
        now: i64,
    ) -> Result<()> {
        if !by.can_administer() {
            return Err(AppError::Forbidden(
                "only administrators release quarantined mail".into(),
            ));
        }
        let mut tx = self.store.begin().await?;
        let row = tx
            .inbound_mail_for_update(inbound_id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("inbound message {inbound_id}")))?;
        if row.state != "quarantined" {
            return Err(AppError::Invalid(format!(
                "inbound message {inbound_id} is not in the quarantine (it is {})",
                row.state
            )));
        }
        tx.set_inbound_outcome(
            inbound_id,
            "released",
            row.reason.as_deref(),
            None,
            None,
            now,
        )
        .await?;
        tx.enqueue_job(MAIL_INGEST_JOB, &inbound_id.to_string(), now, None, 5, now)
            .await?;
        record(
            &mut tx,
            None,
            by.actor(),
            now,
            &EventPayload::MailReleased { inbound_id },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Records an accepted message whose raw bytes are stored as blob `address`: its inbound
/// row (state `received`) and the `mail_received` event. The caller queues its processing.
pub(crate) async fn insert_accepted(
    tx: &mut store::Tx,
    mail: &AcceptedMail,
    address: &str,
    now: i64,
) -> Result<i64> {
    let size = i64::try_from(mail.raw.len()).unwrap_or(i64::MAX);
    let recipients = mail.recipients.join(",");
    let id = tx
        .insert_inbound_mail(&NewInboundMail {
            transport: mail.transport.as_str(),
            mail_from: &mail.mail_from,
            recipients: &recipients,
            raw_sha256: address,
            size,
            received_at: now,
        })
        .await?;
    record(
        tx,
        None,
        Actor::System,
        now,
        &EventPayload::MailReceived {
            inbound_id: id,
            transport: mail.transport.as_str().to_string(),
            size,
        },
    )
    .await?;
    Ok(id)
}

/// That an inbound e-mail is becoming a conversation message: recorded in the same
/// transaction as the message, so a message is made from an e-mail exactly once.
#[derive(Debug, Clone)]
pub(crate) struct MailOrigin {
    pub inbound_id: i64,
    pub header_message_id: Option<String>,
    /// The sanitised HTML body, shown instead of the text rendered as HTML.
    pub html: Option<String>,
    /// Send the automatic acknowledgement (a new conversation, to a mailbox that sends one,
    /// from a sender that may be answered automatically).
    pub acknowledge: bool,
    /// Why the message must not be answered automatically (list or bulk mail,
    /// X-Auto-Response-Suppress), kept as the inbound message's reason and in its
    /// `mail_processed` event.
    pub no_auto_reply: Option<String>,
    /// The message's attachments that carry a Content-ID: (Content-ID, position among the
    /// message's attachments), so `cid:` images in `html` can point at them once stored.
    pub inline_images: Vec<(String, usize)>,
}

/// Marks the inbound message processed (failing if another worker already did), remembers
/// its Message-ID for threading, and records the event.
pub(crate) async fn record_mail_origin(
    tx: &mut store::Tx,
    origin: &MailOrigin,
    number: i64,
    message_id: i64,
    now: i64,
) -> Result<()> {
    let claimed = tx
        .claim_inbound_outcome(
            origin.inbound_id,
            "message",
            origin.no_auto_reply.as_deref(),
            Some(number),
            origin.header_message_id.as_deref(),
            now,
        )
        .await?;
    if !claimed {
        return Err(AppError::Conflict(format!(
            "inbound message {} was already processed",
            origin.inbound_id
        )));
    }
    if let Some(id) = &origin.header_message_id {
        tx.remember_message_id(id, number, Some(message_id), "in", now)
            .await?;
    }
    if origin.acknowledge {
        let key = format!("mail.acknowledge:{}", origin.inbound_id);
        tx.enqueue_job(
            crate::MAIL_ACKNOWLEDGE_JOB,
            &number.to_string(),
            now,
            Some(&key),
            5,
            now,
        )
        .await?;
    }
    record(
        tx,
        Some(number),
        Actor::System,
        now,
        &EventPayload::MailProcessed {
            inbound_id: origin.inbound_id,
            outcome: "message".into(),
            reason: origin.no_auto_reply.clone(),
        },
    )
    .await?;
    Ok(())
}

/// The threading lookups, answered from what was fetched so far; what was asked and not
/// known is noted, fetched, and the rules run again (they ask little, and only a few times).
#[derive(Default)]
struct ThreadFacts {
    message_ids: HashMap<String, Option<u64>>,
    exists: HashMap<u64, bool>,
    participants: HashMap<(u64, String), bool>,
    missing: RefCell<Vec<Missing>>,
}

enum Missing {
    MessageId(String),
    Exists(u64),
    Participant(u64, String),
}

impl mail::ThreadLookup for ThreadFacts {
    fn conversation_of_message_id(&self, message_id: &str) -> Option<u64> {
        match self.message_ids.get(message_id) {
            Some(known) => *known,
            None => {
                self.missing
                    .borrow_mut()
                    .push(Missing::MessageId(message_id.to_string()));
                None
            }
        }
    }

    fn conversation_exists(&self, number: u64) -> bool {
        match self.exists.get(&number) {
            Some(known) => *known,
            None => {
                self.missing.borrow_mut().push(Missing::Exists(number));
                false
            }
        }
    }

    fn is_participant(&self, number: u64, address: &str) -> bool {
        let key = (number, address.to_lowercase());
        match self.participants.get(&key) {
            Some(known) => *known,
            None => {
                self.missing
                    .borrow_mut()
                    .push(Missing::Participant(key.0, key.1));
                false
            }
        }
    }
}

/// What the longest texts and subjects of e-mail are cut to (the raw message keeps all).
const SUBJECT_CHARS: usize = domain::conversation::MAX_SUBJECT_CHARS;

impl App {
    /// The key that signs conversation tokens in outgoing mail: generated once per
    /// installation, kept in the database so it verifies after restarts and on every node.
    pub async fn mail_thread_key(&self) -> Result<mail::ThreadKey> {
        if let Some(key) = self.mail_key.get() {
            return Ok(key.clone());
        }
        let candidate = hex::encode(rand::random::<[u8; 32]>());
        let mut tx = self.store.begin().await?;
        let secret = tx.instance_secret("mail_thread_key", &candidate).await?;
        tx.commit().await?;
        let key = mail::ThreadKey::new(secret.into_bytes());
        let _ = self.mail_key.set(key.clone());
        Ok(key)
    }

    /// Decides what an accepted message becomes, and makes it so: a customer message in a new
    /// or existing conversation, a bounce or complaint recorded against what Rapport sent,
    /// automatic mail recorded, or a quarantine entry with the reason. Idempotent: a message
    /// already processed is left alone, so the job may safely run twice.
    pub async fn ingest_mail(&self, inbound_id: i64, now: i64) -> Result<String> {
        let Some(row) = self.store.inbound_mail(inbound_id).await? else {
            return Ok("gone".into());
        };
        if !matches!(row.state.as_str(), "received" | "released") {
            return Ok(row.state);
        }
        let released = row.state == "released";
        let raw = self.store.blob(&row.raw_sha256).await?.ok_or_else(|| {
            AppError::Invalid(format!(
                "the raw message of inbound {inbound_id} is missing"
            ))
        })?;
        let mailboxes = self.store.mailboxes().await?;
        let mut options = mail::ReadOptions {
            own_addresses: mailboxes.iter().map(|m| m.address.clone()).collect(),
            ..Default::default()
        };
        if released {
            // An administrator looked at it and let it through: lift the bounds.
            options.limits = mail::Limits {
                max_bytes: usize::MAX,
                max_parts: 100_000,
                max_depth: 200,
                max_header_fields: 1_000_000,
            };
        }
        let mut message = match mail::read_message(&raw, &options) {
            Ok(message) => message,
            Err(quarantine) if !released => {
                return self
                    .finish_inbound(
                        inbound_id,
                        "quarantined",
                        Some(quarantine.reason),
                        None,
                        now,
                    )
                    .await;
            }
            Err(quarantine) => {
                return self
                    .unreadable_to_conversation(&row, &raw, &quarantine.reason, &mailboxes, now)
                    .await;
            }
        };
        // Rapport's own mail come back (a list that redistributes Rapport's reply with From
        // rewritten to the list, and without the X-Loop header) is noise, not a message.
        if let Some(id) = message.message_id.clone() {
            if message.verdict.is_person() && self.store.sent_message_id(&id).await? {
                message
                    .verdict
                    .add(mail::NoiseReason::OwnMessage { message_id: id });
            }
        }
        let key = self.mail_thread_key().await?;
        let decision = self.decide_thread(&message, &key).await?;
        let threaded = match decision {
            mail::ThreadDecision::Existing { number, .. } => i64::try_from(number).ok(),
            mail::ThreadDecision::New => None,
        };
        match message.disposition() {
            mail::Disposition::Bounce => self.record_bounce(inbound_id, &message, now).await,
            mail::Disposition::Complaint => self.record_complaint(inbound_id, &message, now).await,
            mail::Disposition::Automatic => {
                let reason = match message.verdict.reasons() {
                    [] => Some("read receipt".to_string()),
                    reasons => serde_json::to_string(reasons).ok(),
                };
                self.finish_inbound(inbound_id, "noise", reason, threaded, now)
                    .await
            }
            mail::Disposition::Message => {
                let outcome = self
                    .message_from_mail(&row, &message, threaded, &mailboxes, now)
                    .await;
                match outcome {
                    Ok(()) => Ok("message".into()),
                    // Another worker got there first.
                    Err(AppError::Conflict(_)) => Ok("message".into()),
                    // A rule refused it (e.g. no sender): keep it, with the reason.
                    Err(AppError::Invalid(reason))
                    | Err(AppError::Forbidden(reason))
                    | Err(AppError::NotFound(reason)) => {
                        self.finish_inbound(inbound_id, "quarantined", Some(reason), None, now)
                            .await
                    }
                    Err(other) => Err(other),
                }
            }
        }
    }

    async fn decide_thread(
        &self,
        message: &mail::InboundMessage,
        key: &mail::ThreadKey,
    ) -> Result<mail::ThreadDecision> {
        let mut facts = ThreadFacts::default();
        for _ in 0..8 {
            let decision = mail::decide_thread(message, key, &facts);
            let missing = std::mem::take(&mut *facts.missing.borrow_mut());
            if missing.is_empty() {
                return Ok(decision);
            }
            for miss in missing {
                match miss {
                    Missing::MessageId(id) => {
                        let found = self.store.conversation_of_message_id(&id).await?;
                        facts
                            .message_ids
                            .insert(id, found.and_then(|n| u64::try_from(n).ok()));
                    }
                    Missing::Exists(number) => {
                        let found = match i64::try_from(number) {
                            Ok(n) => self.store.conversation(n).await?.is_some(),
                            Err(_) => false,
                        };
                        facts.exists.insert(number, found);
                    }
                    Missing::Participant(number, address) => {
                        let found = match i64::try_from(number) {
                            Ok(n) => self.store.is_mail_participant(n, &address).await?,
                            Err(_) => false,
                        };
                        facts.participants.insert((number, address), found);
                    }
                }
            }
        }
        Ok(mail::ThreadDecision::New)
    }

    /// Records a non-message outcome (quarantine, noise) with its event.
    async fn finish_inbound(
        &self,
        inbound_id: i64,
        outcome: &str,
        reason: Option<String>,
        conversation: Option<i64>,
        now: i64,
    ) -> Result<String> {
        let mut tx = self.store.begin().await?;
        if tx
            .claim_inbound_outcome(
                inbound_id,
                outcome,
                reason.as_deref(),
                conversation,
                None,
                now,
            )
            .await?
        {
            return commit_outcome(tx, inbound_id, conversation, outcome, reason, now).await;
        }
        tx.rollback().await?;
        Ok(outcome.to_string())
    }

    async fn message_from_mail(
        &self,
        row: &InboundMailRow,
        message: &mail::InboundMessage,
        threaded: Option<i64>,
        mailboxes: &[MailboxRow],
        now: i64,
    ) -> Result<()> {
        let from = message
            .from
            .as_ref()
            .map(|m| (m.address.clone(), m.name.clone()))
            .or_else(|| (!row.mail_from.is_empty()).then(|| (row.mail_from.clone(), None)))
            .ok_or_else(|| AppError::Invalid("the message names no sender".into()))?;
        let (text, notes) = message_text(message);
        let mut attachments = Vec::new();
        let mut skipped = Vec::new();
        let mut inline_images = Vec::new();
        for a in &message.attachments {
            if a.bytes.len() > crate::conversations::MAX_ATTACHMENT_BYTES {
                skipped.push(a.filename.clone().unwrap_or_else(|| "(unnamed)".into()));
                continue;
            }
            if let Some(cid) = &a.content_id {
                inline_images.push((cid.clone(), attachments.len()));
            }
            attachments.push(crate::AttachmentInput {
                filename: a
                    .filename
                    .clone()
                    .filter(|f| !f.trim().is_empty())
                    .unwrap_or_else(|| format!("attachment.{}", extension_for(&a.content_type))),
                content_type: a.content_type.clone(),
                data: a.bytes.clone(),
            });
        }
        let mut text = text;
        for note in notes {
            text.push_str(&format!("\n\n[{note}]"));
        }
        if !skipped.is_empty() {
            text.push_str(&format!(
                "\n\n[attachments over {} MiB are kept only in the original message: {}]",
                crate::conversations::MAX_ATTACHMENT_BYTES >> 20,
                skipped.join(", ")
            ));
        }
        let input = crate::MessageInput {
            kind: domain::MessageKind::Customer,
            text,
            attachments,
        };
        let mut origin = MailOrigin {
            inbound_id: row.id,
            header_message_id: message.message_id.clone(),
            html: message.html.clone(),
            acknowledge: false,
            no_auto_reply: match &message.verdict {
                mail::Verdict::NoAutoReply { reasons } => Some(format!(
                    "no automatic answer: {}",
                    serde_json::to_string(reasons).unwrap_or_default()
                )),
                _ => None,
            },
            inline_images,
        };
        if let Some(number) = threaded {
            // Follow merges to the survivor.
            let mut target = number;
            for _ in 0..16 {
                match self.store.conversation(target).await? {
                    Some(c) if c.merged_into.is_some() => {
                        target = c.merged_into.unwrap_or(target);
                    }
                    _ => break,
                }
            }
            self.add_message_with(&Principal::System, target, input, None, Some(&origin), now)
                .await?;
            return Ok(());
        }
        let group_id = group_of_recipients(&row.recipients, mailboxes);
        origin.acknowledge = row
            .recipients
            .split(',')
            .map(mailbox_of)
            .find_map(|r| mailboxes.iter().find(|m| m.address == r))
            .is_some_and(|m| m.acknowledge)
            && message.verdict.may_auto_reply();
        let subject: String = if message.subject.trim().is_empty() {
            "(no subject)".into()
        } else {
            message.subject.chars().take(SUBJECT_CHARS).collect()
        };
        let new = crate::NewConversationInput {
            subject,
            customer: crate::CustomerInput {
                email: Some(from.0),
                name: from.1,
                phone: None,
                chat: None,
            },
            message: input,
            channel: domain::Channel::Email,
            priority: None,
            group_id,
            assignee_id: None,
            tags: vec![],
            custom_fields: serde_json::Map::new(),
        };
        self.create_conversation_with(&Principal::System, new, Some(&origin), now)
            .await?;
        Ok(())
    }

    /// A released message that still cannot be read: a conversation that carries it whole.
    async fn unreadable_to_conversation(
        &self,
        row: &InboundMailRow,
        raw: &[u8],
        reason: &str,
        mailboxes: &[MailboxRow],
        now: i64,
    ) -> Result<String> {
        let group_id = group_of_recipients(&row.recipients, mailboxes);
        let sender = if row.mail_from.contains('@') {
            Some(row.mail_from.clone())
        } else {
            None
        };
        let new = crate::NewConversationInput {
            subject: "Unreadable e-mail (released from the quarantine)".into(),
            customer: crate::CustomerInput {
                email: sender.clone(),
                name: None,
                phone: None,
                chat: sender.is_none().then(|| format!("unknown-sender-{}", row.id)),
            },
            message: crate::MessageInput {
                kind: domain::MessageKind::Customer,
                text: format!(
                    "Rapport could not read this message ({reason}). The original is attached as original.eml."
                ),
                attachments: vec![crate::AttachmentInput {
                    filename: "original.eml".into(),
                    content_type: "message/rfc822".into(),
                    data: raw.iter().copied().take(crate::conversations::MAX_ATTACHMENT_BYTES).collect(),
                }],
            },
            channel: domain::Channel::Email,
            priority: None,
            group_id,
            assignee_id: None,
            tags: vec![],
            custom_fields: serde_json::Map::new(),
        };
        let origin = MailOrigin {
            inbound_id: row.id,
            header_message_id: None,
            html: None,
            acknowledge: false,
            no_auto_reply: None,
            inline_images: Vec::new(),
        };
        match self
            .create_conversation_with(&Principal::System, new, Some(&origin), now)
            .await
        {
            Ok(_) | Err(AppError::Conflict(_)) => Ok("message".into()),
            Err(e) => Err(e),
        }
    }

    /// A delivery report: the outbound message it names fails with the reason, and hard
    /// bounces make the address undeliverable.
    async fn record_bounce(
        &self,
        inbound_id: i64,
        message: &mail::InboundMessage,
        now: i64,
    ) -> Result<String> {
        let Some(mail::Report::Bounce(report)) = &message.report else {
            return self
                .finish_inbound(inbound_id, "bounce", None, None, now)
                .await;
        };
        let mut tx = self.store.begin().await?;
        let outbound = match &report.original_message_id {
            Some(id) => tx.outbound_by_message_id(id).await?,
            None => None,
        };
        let reason = report
            .recipients
            .iter()
            .map(|r| {
                format!(
                    "{}: {}{}",
                    r.address,
                    r.status.as_deref().unwrap_or("failed"),
                    r.diagnostic
                        .as_deref()
                        .map(|d| format!(" ({d})"))
                        .unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        let reason = if reason.is_empty() {
            "delivery failed".to_string()
        } else {
            reason
        };
        let hard = report.recipients.iter().any(|r| r.hard);
        let conversation = outbound.as_ref().and_then(|o| o.conversation);
        if !tx
            .claim_inbound_outcome(
                inbound_id,
                "bounce",
                Some(&reason),
                conversation,
                message.message_id.as_deref(),
                now,
            )
            .await?
        {
            tx.rollback().await?;
            return Ok("bounce".into());
        }
        if let Some(outbound) = &outbound {
            let state = if hard { "failed" } else { "deferred" };
            tx.set_outbound_state(outbound.id, state, Some(&reason), false, now)
                .await?;
        }
        for recipient in report.recipients.iter().filter(|r| r.hard) {
            tx.set_address_undeliverable(&recipient.address.to_lowercase(), &reason, now)
                .await?;
        }
        commit_outcome(tx, inbound_id, conversation, "bounce", Some(reason), now).await
    }

    /// A spam complaint: recorded, and the complaining address gets no more mail.
    async fn record_complaint(
        &self,
        inbound_id: i64,
        message: &mail::InboundMessage,
        now: i64,
    ) -> Result<String> {
        let Some(mail::Report::Complaint(complaint)) = &message.report else {
            return self
                .finish_inbound(inbound_id, "complaint", None, None, now)
                .await;
        };
        let mut tx = self.store.begin().await?;
        let outbound = match &complaint.original_message_id {
            Some(id) => tx.outbound_by_message_id(id).await?,
            None => None,
        };
        let conversation = outbound.as_ref().and_then(|o| o.conversation);
        let reason = format!("{} complaint", complaint.feedback_type);
        if !tx
            .claim_inbound_outcome(
                inbound_id,
                "complaint",
                Some(&reason),
                conversation,
                message.message_id.as_deref(),
                now,
            )
            .await?
        {
            tx.rollback().await?;
            return Ok("complaint".into());
        }
        for address in &complaint.original_recipients {
            tx.set_address_undeliverable(&address.to_lowercase(), &reason, now)
                .await?;
        }
        commit_outcome(tx, inbound_id, conversation, "complaint", Some(reason), now).await
    }
}

/// Records what became of inbound message `inbound_id` (an outcome other than a new message)
/// and commits; answers the outcome.
async fn commit_outcome(
    mut tx: Tx,
    inbound_id: i64,
    conversation: Option<i64>,
    outcome: &str,
    reason: Option<String>,
    now: i64,
) -> Result<String> {
    let processed = EventPayload::MailProcessed {
        inbound_id,
        outcome: outcome.to_string(),
        reason,
    };
    record(&mut tx, conversation, Actor::System, now, &processed).await?;
    tx.commit().await?;
    Ok(outcome.to_string())
}

/// The group of the first support mailbox among the envelope recipients.
fn group_of_recipients(recipients: &str, mailboxes: &[MailboxRow]) -> Option<i64> {
    recipients
        .split(',')
        .map(mailbox_of)
        .find_map(|r| mailboxes.iter().find(|m| m.address == r))
        .and_then(|m| m.group_id)
}

/// The mailbox an envelope address delivers to: lower case, without a `+tag`.
pub fn mailbox_of(address: &str) -> String {
    let address = address.trim().to_lowercase();
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let local = local.split_once('+').map_or(local, |(base, _)| base);
            format!("{local}@{domain}")
        }
        None => address,
    }
}

/// The text of a message as a conversation shows it, cut to the store's limit (the raw
/// message keeps everything), with notes on what was cut.
fn message_text(message: &mail::InboundMessage) -> (String, Vec<String>) {
    let mut notes = Vec::new();
    let mut text = message.text.clone();
    if text.trim().is_empty() {
        text = if message.attachments.is_empty() {
            "(the message has no text)".into()
        } else {
            "(the message has no text, only attachments)".into()
        };
    }
    let limit = domain::conversation::MAX_MESSAGE_BYTES - 200;
    if text.len() > limit {
        let mut cut = limit;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        notes.push("the text was cut at 1 MiB; the original message keeps all of it".into());
    }
    (text, notes)
}

fn extension_for(content_type: &str) -> &'static str {
    match content_type.to_ascii_lowercase().as_str() {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/gif" => "gif",
        "application/pdf" => "pdf",
        "message/rfc822" => "eml",
        "text/plain" => "txt",
        "text/html" => "html",
        _ => "bin",
    }
}
