//! IMAP intake: what the poller (`crates/imap`) takes from a mailbox folder is accepted like
//! mail from the SMTP listener, a batch per transaction, and the folder's cursor moves in that
//! same transaction. So a crash leaves either the whole batch accepted with the cursor past it,
//! or neither; a message fetched again (the action on it was not confirmed, or the server
//! renumbered the folder with a new UIDVALIDITY) is recognised by its bytes and not accepted
//! twice.

use std::collections::HashMap;

use domain::{Actor, EventPayload};

use crate::mail::{insert_accepted, AcceptedMail, Transport, MAIL_INGEST_JOB};
use crate::{record, App, AppError, Result};

/// A polled folder, as the poller names it, under one UIDVALIDITY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImapFolder {
    /// The account's name (e.g. `support@imap.example.com`): with `folder`, the cursor's key.
    pub account: String,
    pub folder: String,
    pub uid_validity: i64,
}

/// A message fetched from the folder.
#[derive(Debug, Clone)]
pub struct ImapMessage {
    pub uid: i64,
    /// The envelope sender as far as the message tells (its Return-Path), or empty.
    pub mail_from: String,
    pub raw: Vec<u8>,
    /// Set when the message is not taken in but quarantined at once with this reason (it is
    /// too large to fetch, or fetching it keeps failing); it stays in the folder untouched.
    pub quarantine: Option<String>,
}

/// What a batch became.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImapBatchOutcome {
    /// Inbound ids of the messages taken in for processing (each has a `mail.ingest` job).
    pub accepted: Vec<i64>,
    /// Inbound ids of the messages put straight into the quarantine.
    pub quarantined: Vec<i64>,
    /// Messages that had been taken before (recognised by their bytes), not accepted again.
    pub duplicates: usize,
}

impl App {
    /// Where polling of a folder stands: (UIDVALIDITY, the last UID taken).
    pub async fn imap_cursor(&self, account: &str, folder: &str) -> Result<Option<(i64, i64)>> {
        Ok(self.store.imap_cursor(account, folder).await?)
    }

    /// Starts a folder's cursor under `uid_validity` with nothing taken yet: the first poll,
    /// or the server changed UIDVALIDITY (every UID before means nothing now). Actions still
    /// pending under the old numbering are dropped; the messages still there are fetched
    /// again, recognised, and their actions applied under the new numbering.
    pub async fn reset_imap_cursor(&self, folder: &ImapFolder, now: i64) -> Result<()> {
        let mut tx = self.store.begin().await?;
        tx.set_imap_cursor(&folder.account, &folder.folder, folder.uid_validity, 0, now)
            .await?;
        tx.drop_stale_imap_actions(&folder.account, &folder.folder, folder.uid_validity)
            .await?;
        tx.forget_imap_fetch_failures(&folder.account, &folder.folder, folder.uid_validity, 0)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Accepts a batch of fetched messages for the support address `recipient` and moves the
    /// folder's cursor to `last_uid`, in one transaction: durable before the poller applies
    /// the configured action (set \Seen, move, delete) on the server. A message taken before
    /// is not accepted again; its action is due again at its new UID.
    pub async fn accept_imap_batch(
        &self,
        folder: &ImapFolder,
        recipient: &str,
        messages: Vec<ImapMessage>,
        last_uid: i64,
        now: i64,
    ) -> Result<ImapBatchOutcome> {
        if recipient.trim().is_empty() {
            return Err(AppError::Invalid(
                "an IMAP account needs the support address its mail is for".into(),
            ));
        }
        if let Some(bad) = messages.iter().find(|m| m.uid > last_uid || m.uid < 1) {
            return Err(AppError::Invalid(format!(
                "UID {} is outside the batch (1 to {last_uid})",
                bad.uid
            )));
        }
        let mut outcome = ImapBatchOutcome::default();
        let mut tx = self.store.begin().await?;
        for message in messages {
            let address = tx.put_blob(&message.raw, now).await?;
            // A quarantined message stays in the folder: no action is due on it.
            let action_pending = message.quarantine.is_none();
            if tx
                .imap_message_inbound(&folder.account, &folder.folder, &address)
                .await?
                .is_some()
            {
                tx.resight_imap_message(
                    &folder.account,
                    &folder.folder,
                    &address,
                    folder.uid_validity,
                    message.uid,
                    action_pending,
                    now,
                )
                .await?;
                outcome.duplicates += 1;
                continue;
            }
            let mail = AcceptedMail {
                transport: Transport::Imap,
                mail_from: message.mail_from,
                recipients: vec![recipient.to_string()],
                raw: message.raw,
            };
            let id = insert_accepted(&mut tx, &mail, &address, now).await?;
            match message.quarantine {
                None => {
                    tx.enqueue_job(MAIL_INGEST_JOB, &id.to_string(), now, None, 5, now)
                        .await?;
                    outcome.accepted.push(id);
                }
                Some(reason) => {
                    tx.set_inbound_outcome(id, "quarantined", Some(&reason), None, None, now)
                        .await?;
                    record(
                        &mut tx,
                        None,
                        Actor::System,
                        now,
                        &EventPayload::MailProcessed {
                            inbound_id: id,
                            outcome: "quarantined".into(),
                            reason: Some(reason),
                        },
                    )
                    .await?;
                    outcome.quarantined.push(id);
                }
            }
            tx.insert_imap_message(
                &folder.account,
                &folder.folder,
                &address,
                id,
                folder.uid_validity,
                message.uid,
                action_pending,
                now,
            )
            .await?;
        }
        tx.advance_imap_cursor(
            &folder.account,
            &folder.folder,
            folder.uid_validity,
            last_uid,
            now,
        )
        .await?;
        tx.forget_imap_fetch_failures(
            &folder.account,
            &folder.folder,
            folder.uid_validity,
            last_uid,
        )
        .await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// UIDs whose action is still to be applied (the poller stopped between the commit and
    /// the server's answer), lowest first, at most `limit`.
    pub async fn imap_pending_actions(&self, folder: &ImapFolder, limit: i64) -> Result<Vec<i64>> {
        Ok(self
            .store
            .imap_pending_actions(&folder.account, &folder.folder, folder.uid_validity, limit)
            .await?)
    }

    /// The server confirmed the action on the messages with UIDs `first..=last`.
    pub async fn imap_actions_done(
        &self,
        folder: &ImapFolder,
        first: i64,
        last: i64,
    ) -> Result<()> {
        let mut tx = self.store.begin().await?;
        tx.imap_actions_done(
            &folder.account,
            &folder.folder,
            folder.uid_validity,
            first,
            last,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The messages of the folder whose fetch failed, by UID: (failed lone fetches, the
    /// last error). Kept in the store, so that a restart or another node goes on counting.
    pub async fn imap_fetch_failures(
        &self,
        folder: &ImapFolder,
    ) -> Result<HashMap<i64, (i64, String)>> {
        Ok(self
            .store
            .imap_fetch_failures(&folder.account, &folder.folder, folder.uid_validity)
            .await?
            .into_iter()
            .map(|row| (row.uid, (row.failures, row.last_error)))
            .collect())
    }

    /// Records that fetching the messages `uids` failed with `error`: each failure counts
    /// when the message was fetched alone (`counted`); a failed batch only marks its
    /// messages to be fetched alone. The cursor passing them forgets them.
    pub async fn record_imap_fetch_failure(
        &self,
        folder: &ImapFolder,
        uids: &[i64],
        counted: bool,
        error: &str,
        now: i64,
    ) -> Result<()> {
        let mut tx = self.store.begin().await?;
        for &uid in uids {
            tx.record_imap_fetch_failure(
                &folder.account,
                &folder.folder,
                folder.uid_validity,
                uid,
                counted,
                error,
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Takes or renews the lease on a polled folder for `holder` (a name unique to one
    /// poller, see [`new_lease_holder`]), so that only one node polls a folder at a time.
    /// `false` while another poller holds it.
    ///
    /// A lease held by another is taken over only once `watch` (this poller's memory of it)
    /// has seen the same holder with the same renewal count for `lease_millis`, measured
    /// between two readings of `now` on this node. So no node's clock is compared with
    /// another's: the clocks may disagree by any amount. The cost: after a holder dies
    /// without giving its lease up, a new poller waits one whole lease from its first look.
    pub async fn hold_imap_lease(
        &self,
        account: &str,
        folder: &str,
        holder: &str,
        watch: &mut LeaseWatch,
        now: i64,
        lease_millis: i64,
    ) -> Result<bool> {
        if lease_millis <= 0 {
            return Err(AppError::Invalid("an IMAP lease must last a while".into()));
        }
        if holder.is_empty() {
            return Err(AppError::Invalid("an IMAP lease needs a holder".into()));
        }
        let mut tx = self.store.begin().await?;
        let current = tx.imap_lease_holder(account, folder).await?;
        let take_over = match &current {
            Some((other, renewals)) if other != holder => {
                watch.stale(other, *renewals, now, lease_millis)
            }
            _ => None,
        };
        let held = tx
            .hold_imap_lease(
                account,
                folder,
                holder,
                take_over.as_ref().map(|(h, n)| (h.as_str(), *n)),
                now.saturating_add(lease_millis),
            )
            .await?;
        tx.commit().await?;
        if held {
            *watch = LeaseWatch::default();
        }
        Ok(held)
    }

    /// Gives up the lease on a folder (if `holder` has it), so another node can take over
    /// at once.
    pub async fn release_imap_lease(
        &self,
        account: &str,
        folder: &str,
        holder: &str,
    ) -> Result<()> {
        let mut tx = self.store.begin().await?;
        tx.release_imap_lease(account, folder, holder).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// What a poller standing by has seen of another's lease on a folder: the holder and its
/// renewal count, and when (on this node's clock) it first saw exactly those.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeaseWatch {
    seen: Option<(String, i64)>,
    since: i64,
}

impl LeaseWatch {
    /// The holder and count to take the lease over from, when they have stayed the same for
    /// a whole lease since this watch first saw them; otherwise notes them and answers `None`.
    fn stale(
        &mut self,
        holder: &str,
        renewals: i64,
        now: i64,
        lease_millis: i64,
    ) -> Option<(String, i64)> {
        match &self.seen {
            Some((h, n)) if h == holder && *n == renewals => (now.saturating_sub(self.since)
                >= lease_millis)
                .then(|| (holder.to_string(), renewals)),
            _ => {
                self.seen = Some((holder.to_string(), renewals));
                self.since = now;
                None
            }
        }
    }
}

/// A name for one poller's leases, unique across nodes and restarts.
pub fn new_lease_holder() -> String {
    format!("{}-{:016x}", std::process::id(), rand::random::<u64>())
}
