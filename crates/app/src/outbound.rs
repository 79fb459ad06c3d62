//! Mail going out: a public reply on an e-mail conversation becomes a MIME message, queued in
//! the same transaction as the reply and sent by the `mail.send` job through the configured
//! relay, with retries and backoff. Its state (queued, sent, deferred, failed with the reason)
//! is recorded as events and shown with the conversation. New conversations from a mailbox
//! that acknowledges get an automatic answer, within the loop rules.

use std::future::Future;
use std::pin::Pin;

use domain::{Actor, EventPayload, Principal};
use store::{ConversationRow, Job, NewOutboundMail, OutboundMailRow, Tx};

use crate::mail::mailbox_of;
use crate::{record, App, AppError, Result};

/// Sends queued mail.
pub const MAIL_SEND_JOB: &str = "mail.send";
/// Sends the automatic acknowledgement of a new conversation.
pub const MAIL_ACKNOWLEDGE_JOB: &str = "mail.acknowledge";

/// How a relay answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Accepted; the relay's answer.
    Sent(String),
    /// Try again later (4xx, connection trouble).
    Transient(String),
    /// Refused for good (5xx).
    Permanent(String),
}

/// The way out: an SMTP relay (the `smtp` crate's client). The use cases only see this.
pub trait MailSender: Send + Sync {
    fn send<'a>(
        &'a self,
        from: &'a str,
        to: &'a [String],
        raw: &'a [u8],
    ) -> Pin<Box<dyn Future<Output = SendOutcome> + Send + 'a>>;
}

/// Composed mail on its way into the outbound queue.
pub(crate) struct Queued<'a> {
    /// The conversation it belongs to (none for a portal sign-in link).
    pub conversation: Option<i64>,
    /// The conversation message it carries (none for automatic mail).
    pub message_id: Option<i64>,
    pub composed: &'a mail::compose::ComposedMessage,
    pub from: &'a str,
    pub to: &'a str,
    pub automatic: bool,
}

/// What to send.
pub(crate) struct OutgoingMail<'a> {
    pub text: &'a str,
    pub attachments: Vec<mail::compose::OutgoingAttachment>,
    pub message_id: Option<i64>,
    pub automatic: bool,
}

const DEFAULT_ACKNOWLEDGEMENT: &str = "Thank you for writing to us. We have received your message \
and will answer as soon as we can. Your reference is #{number}: \"{subject}\".\n\n\
This is an automatic message; there is no need to answer it.";

/// The support address that serves a group (the first configured for it).
fn group_mailbox(
    mailboxes: &[store::MailboxRow],
    group_id: Option<i64>,
) -> Option<&store::MailboxRow> {
    let group = group_id?;
    mailboxes.iter().find(|m| m.group_id == Some(group))
}

impl App {
    /// Composes and queues an e-mail to the conversation's customer, in `tx`. Returns `None`
    /// when there is nobody to write to (no e-mail address, no mailbox).
    pub(crate) async fn queue_mail(
        &self,
        tx: &mut Tx,
        row: &ConversationRow,
        key: &mail::ThreadKey,
        mail_out: OutgoingMail<'_>,
        now: i64,
    ) -> Result<Option<i64>> {
        let Some(to) = tx.customer_email(row.customer_id).await? else {
            return Ok(None);
        };
        let mailboxes = self.store.mailboxes().await?;
        let came_to = tx
            .first_inbound_recipients(row.number)
            .await?
            .and_then(|r| r.split(',').map(mailbox_of).next());
        // The address the customer wrote to, else the address of the conversation's group
        // (a web form or chat conversation), else the first.
        let Some(mailbox) = came_to
            .and_then(|a| mailboxes.iter().find(|m| m.address == a))
            .or_else(|| group_mailbox(&mailboxes, row.group_id))
            .or_else(|| mailboxes.first())
        else {
            return Ok(None);
        };
        let ids = tx.conversation_message_ids(row.number).await?;
        let in_reply_to = ids
            .iter()
            .rev()
            .find(|(_, direction)| direction == "in")
            .map(|(id, _)| id.clone());
        let references: Vec<String> = ids
            .iter()
            .rev()
            .take(20)
            .rev()
            .map(|(id, _)| id.clone())
            .collect();
        let number = u64::try_from(row.number).unwrap_or_default();
        let reply = mail::compose::Reply {
            from: mail::Mailbox {
                address: mailbox.address.clone(),
                name: Some(mailbox.name.clone()),
            },
            to: vec![mail::Mailbox {
                address: to.clone(),
                name: None,
            }],
            cc: vec![],
            subject: row.subject.clone(),
            text: mail_out.text.to_string(),
            html: None,
            attachments: mail_out.attachments,
            conversation: number,
            in_reply_to,
            references,
            automatic: mail_out.automatic,
            date_ms: now,
        };
        let composed = mail::compose::compose_reply(&reply, key, rand::random())
            .map_err(|e| AppError::Invalid(format!("cannot compose the e-mail: {e}")))?;
        let outbound_id = self
            .enqueue_outbound(
                tx,
                &Queued {
                    conversation: Some(row.number),
                    message_id: mail_out.message_id,
                    composed: &composed,
                    from: &mailbox.address,
                    to: &to,
                    automatic: mail_out.automatic,
                },
                now,
            )
            .await?;
        tx.remember_message_id(
            &composed.message_id,
            row.number,
            mail_out.message_id,
            "out",
            now,
        )
        .await?;
        Ok(Some(outbound_id))
    }

    /// Puts composed mail in the outbound queue, in `tx`: its bytes, its row, a `mail_queued`
    /// event and the `mail.send` job; mail to an address that bounced hard before fails at
    /// once, with the reason. Returns the outbound id.
    pub(crate) async fn enqueue_outbound(
        &self,
        tx: &mut Tx,
        mail_out: &Queued<'_>,
        now: i64,
    ) -> Result<i64> {
        let to = mail_out.to;
        let blob = tx.put_blob(&mail_out.composed.bytes, now).await?;
        let outbound_id = tx
            .insert_outbound_mail(&NewOutboundMail {
                conversation: mail_out.conversation,
                message: mail_out.message_id,
                header_message_id: &mail_out.composed.message_id,
                mail_from: mail_out.from,
                recipients: to,
                raw_sha256: &blob,
                automatic: mail_out.automatic,
                now,
            })
            .await?;
        record(
            tx,
            mail_out.conversation,
            Actor::System,
            now,
            &EventPayload::MailQueued {
                outbound_id,
                message_id: mail_out.message_id,
                automatic: mail_out.automatic,
            },
        )
        .await?;
        if let Some(reason) = tx.address_undeliverable(to).await? {
            let error = format!("{to} is undeliverable since an earlier bounce: {reason}");
            tx.set_outbound_state(outbound_id, "failed", Some(&error), false, now)
                .await?;
            record(
                tx,
                mail_out.conversation,
                Actor::System,
                now,
                &EventPayload::MailDelivery {
                    outbound_id,
                    state: "failed".into(),
                    error: Some(error),
                },
            )
            .await?;
        } else {
            let key = format!("mail.send:{outbound_id}");
            tx.enqueue_job(
                MAIL_SEND_JOB,
                &outbound_id.to_string(),
                now,
                Some(&key),
                10,
                now,
            )
            .await?;
        }
        Ok(outbound_id)
    }

    /// The `mail.send` job: one delivery attempt. A transient failure is an error (the job
    /// retries with backoff) until the last attempt, which fails the mail for good.
    pub(crate) async fn send_outbound(&self, job: &Job, now: i64) -> Result<()> {
        let id: i64 = job.payload.trim().parse().map_err(|_| {
            AppError::Invalid(format!(
                "job payload {:?} is not an outbound id",
                job.payload
            ))
        })?;
        let Some(mail) = self.store.outbound_mail(id).await? else {
            return Ok(());
        };
        if matches!(mail.state.as_str(), "sent" | "failed") {
            return Ok(());
        }
        let outcome = match &self.mail_sender {
            None => SendOutcome::Transient(
                "no SMTP relay is configured (set smtp_relay, e.g. RAPPORT_SMTP_RELAY=mail.example.org:587)".into(),
            ),
            Some(sender) => {
                let raw = self.store.blob(&mail.raw_sha256).await?.ok_or_else(|| {
                    AppError::Invalid(format!("the bytes of outbound mail {id} are missing"))
                })?;
                let recipients: Vec<String> =
                    mail.recipients.split(',').map(str::to_string).collect();
                sender.send(&mail.mail_from, &recipients, &raw).await
            }
        };
        let last_attempt = job.attempts >= job.max_attempts;
        let (state, error) = match &outcome {
            SendOutcome::Sent(_) => ("sent", None),
            SendOutcome::Permanent(e) => ("failed", Some(e.clone())),
            SendOutcome::Transient(e) if last_attempt => (
                "failed",
                Some(format!("gave up after {} attempts: {e}", job.attempts)),
            ),
            SendOutcome::Transient(e) => ("deferred", Some(e.clone())),
        };
        self.set_delivery(&mail, state, error.clone(), now).await?;
        match (state, error) {
            ("deferred", Some(e)) => Err(AppError::Invalid(format!("delivery deferred: {e}"))),
            _ => Ok(()),
        }
    }

    async fn set_delivery(
        &self,
        mail: &OutboundMailRow,
        state: &str,
        error: Option<String>,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.store.begin().await?;
        tx.set_outbound_state(mail.id, state, error.as_deref(), true, now)
            .await?;
        record(
            &mut tx,
            mail.conversation,
            Actor::System,
            now,
            &EventPayload::MailDelivery {
                outbound_id: mail.id,
                state: state.into(),
                error,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The `mail.acknowledge` job: answers a new conversation automatically, unless the loop
    /// rules say no (at most a few automatic mails per address and day).
    pub(crate) async fn acknowledge(&self, job: &Job, now: i64) -> Result<()> {
        let number: i64 = job.payload.trim().parse().map_err(|_| {
            AppError::Invalid(format!(
                "job payload {:?} is not a conversation",
                job.payload
            ))
        })?;
        let key = self.mail_thread_key().await?;
        let mailboxes = self.store.mailboxes().await?;
        let mut tx = self.store.begin().await?;
        let Some(row) = tx.conversation_for_update(number).await? else {
            tx.rollback().await?;
            return Ok(());
        };
        let Some(to) = tx.customer_email(row.customer_id).await? else {
            tx.rollback().await?;
            return Ok(());
        };
        let policy = mail::noise::AutoReplyPolicy::default();
        let sent = tx.automatic_mails_to(&to, policy.window_start(now)).await?;
        let decision = mail::noise::auto_reply_decision(
            &mail::Verdict::Person,
            true,
            u32::try_from(sent).unwrap_or(u32::MAX),
            &policy,
        );
        if decision != mail::noise::AutoReplyDecision::Send {
            tx.rollback().await?;
            tracing::info!(conversation = number, ?decision, "no acknowledgement sent");
            return Ok(());
        }
        let came_to = tx
            .first_inbound_recipients(number)
            .await?
            .and_then(|r| r.split(',').map(mailbox_of).next());
        let template = came_to
            .and_then(|a| mailboxes.iter().find(|m| m.address == a))
            .or_else(|| group_mailbox(&mailboxes, row.group_id))
            .and_then(|m| m.acknowledgement.clone())
            .unwrap_or_else(|| DEFAULT_ACKNOWLEDGEMENT.to_string());
        let text = template
            .replace("{number}", &number.to_string())
            .replace("{subject}", &row.subject);
        self.queue_mail(
            &mut tx,
            &row,
            &key,
            OutgoingMail {
                text: &text,
                attachments: vec![],
                message_id: None,
                automatic: true,
            },
            now,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The e-mails of a conversation and their delivery state, for whoever can see it.
    pub async fn outbound_mail(&self, by: &Principal, number: i64) -> Result<Vec<OutboundMailRow>> {
        // Reading the conversation checks that `by` may see it.
        self.conversation(by, number).await?;
        if matches!(by, Principal::Customer { .. }) {
            return Err(AppError::Forbidden(
                "delivery details are for the service team".into(),
            ));
        }
        Ok(self.store.outbound_mail_of_conversation(number).await?)
    }
}
