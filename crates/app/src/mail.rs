//! The e-mail channel's use cases: support mailboxes, accepting inbound mail durably, the
//! quarantine. The protocol adapters (SMTP/LMTP listener, IMAP poller, `rapport mail import`)
//! call these; what a message becomes is decided by the `mail.ingest` job.

use domain::customer::{normalize_identity, IdentityKind};
use domain::{Actor, EventPayload, Principal};
use store::{InboundMailRow, MailboxRow, NewInboundMail};

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
        let size = i64::try_from(mail.raw.len()).unwrap_or(i64::MAX);
        let recipients = mail.recipients.join(",");
        let mut tx = self.store.begin().await?;
        let address = tx.put_blob(&mail.raw, now).await?;
        let id = tx
            .insert_inbound_mail(&NewInboundMail {
                transport: mail.transport.as_str(),
                mail_from: &mail.mail_from,
                recipients: &recipients,
                raw_sha256: &address,
                size,
                received_at: now,
            })
            .await?;
        tx.enqueue_job(MAIL_INGEST_JOB, &id.to_string(), now, None, 5, now)
            .await?;
        record(
            &mut tx,
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
