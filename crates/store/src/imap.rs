//! IMAP polling state: the cursor of each polled folder (`imap_cursors`, in 0004_mail.sql) and
//! the messages taken from it by content (`imap_messages`, 0006_imap.sql), which make a
//! re-fetch harmless and remember which after-processing actions are still to be applied;
//! the messages whose fetch failed (`imap_fetch_failures`) and who polls a folder
//! (`imap_leases`, both 0018_imap_failures_and_leases.sql; its `renewals` count, 0026).

use crate::{run, Result, Store, Tx};

stored_row! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct ImapLeaseRow {
        holder: String,
        expires_at: i64,
    }
}

stored_row! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    struct ImapLeaseHolderRow {
        holder: String,
        renewals: i64,
    }
}

stored_row! {
    /// A message of a polled folder whose fetch failed.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ImapFetchFailureRow {
        pub uid: i64,
        /// Failed fetches of it alone; 0 when only its batch failed.
        pub failures: i64,
        pub last_error: String,
    }
}

impl Tx {
    /// Moves a folder's cursor forward to `last_uid`, but only while the folder still has
    /// `uid_validity` and never backwards (two nodes polling the same folder cannot undo each
    /// other's progress). Returns whether it moved.
    pub async fn advance_imap_cursor(
        &mut self,
        account: &str,
        folder: &str,
        uid_validity: i64,
        last_uid: i64,
        now: i64,
    ) -> Result<bool> {
        run!(tx self, |c| Ok(sqlx::query(
            "UPDATE imap_cursors SET last_uid = $4, updated_at = $5 \
             WHERE account = $1 AND folder = $2 AND uid_validity = $3 AND last_uid < $4")
            .bind(account).bind(folder).bind(uid_validity).bind(last_uid).bind(now)
            .execute(&mut *c).await?.rows_affected() == 1))
    }

    /// The inbound message already made from these bytes in this folder, if any.
    pub async fn imap_message_inbound(
        &mut self,
        account: &str,
        folder: &str,
        raw_sha256: &str,
    ) -> Result<Option<i64>> {
        run!(tx self, |c| Ok(sqlx::query_scalar(
            "SELECT inbound_id FROM imap_messages WHERE account = $1 AND folder = $2 AND raw_sha256 = $3")
            .bind(account).bind(folder).bind(raw_sha256).fetch_optional(&mut *c).await?))
    }

    /// Remembers that `inbound_id` was made from the message at (`uid_validity`, `uid`).
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_imap_message(
        &mut self,
        account: &str,
        folder: &str,
        raw_sha256: &str,
        inbound_id: i64,
        uid_validity: i64,
        uid: i64,
        action_pending: bool,
        now: i64,
    ) -> Result<()> {
        run!(tx self, |c| sqlx::query(
            "INSERT INTO imap_messages (account, folder, raw_sha256, inbound_id, uid_validity, uid, action_pending, seen_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
            .bind(account).bind(folder).bind(raw_sha256).bind(inbound_id).bind(uid_validity)
            .bind(uid).bind(action_pending).bind(now).execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }

    /// A message taken before was seen again at a new place (its action applies there).
    #[allow(clippy::too_many_arguments)]
    pub async fn resight_imap_message(
        &mut self,
        account: &str,
        folder: &str,
        raw_sha256: &str,
        uid_validity: i64,
        uid: i64,
        action_pending: bool,
        now: i64,
    ) -> Result<()> {
        run!(tx self, |c| sqlx::query(
            "UPDATE imap_messages SET uid_validity = $4, uid = $5, action_pending = $6, seen_at = $7 \
             WHERE account = $1 AND folder = $2 AND raw_sha256 = $3")
            .bind(account).bind(folder).bind(raw_sha256).bind(uid_validity).bind(uid)
            .bind(action_pending).bind(now).execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }

    /// The server confirmed the action on the messages with UIDs `first..=last`.
    pub async fn imap_actions_done(
        &mut self,
        account: &str,
        folder: &str,
        uid_validity: i64,
        first: i64,
        last: i64,
    ) -> Result<()> {
        run!(tx self, |c| sqlx::query(
            "UPDATE imap_messages SET action_pending = FALSE \
             WHERE account = $1 AND folder = $2 AND uid_validity = $3 AND uid >= $4 AND uid <= $5 AND action_pending")
            .bind(account).bind(folder).bind(uid_validity).bind(first).bind(last)
            .execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }

    /// Forgets actions pending under another UIDVALIDITY: those UIDs mean nothing any more
    /// (the messages still there are seen again under the new numbering).
    pub async fn drop_stale_imap_actions(
        &mut self,
        account: &str,
        folder: &str,
        uid_validity: i64,
    ) -> Result<()> {
        run!(tx self, |c| sqlx::query(
            "UPDATE imap_messages SET action_pending = FALSE \
             WHERE account = $1 AND folder = $2 AND uid_validity <> $3 AND action_pending")
            .bind(account).bind(folder).bind(uid_validity)
            .execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }
}

impl Tx {
    /// Counts a failed fetch of the message at (`uid_validity`, `uid`): `counted` adds one
    /// failure (it was fetched alone), otherwise it is only remembered (its batch failed).
    #[allow(clippy::too_many_arguments)]
    pub async fn record_imap_fetch_failure(
        &mut self,
        account: &str,
        folder: &str,
        uid_validity: i64,
        uid: i64,
        counted: bool,
        error: &str,
        now: i64,
    ) -> Result<()> {
        let add: i64 = if counted { 1 } else { 0 };
        run!(tx self, |c| sqlx::query(
            "INSERT INTO imap_fetch_failures (account, folder, uid_validity, uid, failures, last_error, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (account, folder, uid_validity, uid) DO UPDATE SET \
             failures = imap_fetch_failures.failures + excluded.failures, \
             last_error = excluded.last_error, updated_at = excluded.updated_at")
            .bind(account).bind(folder).bind(uid_validity).bind(uid).bind(add).bind(error).bind(now)
            .execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }

    /// Forgets the failures the cursor has passed (`uid <= up_to_uid`) and those under
    /// another UIDVALIDITY.
    pub async fn forget_imap_fetch_failures(
        &mut self,
        account: &str,
        folder: &str,
        uid_validity: i64,
        up_to_uid: i64,
    ) -> Result<()> {
        run!(tx self, |c| sqlx::query(
            "DELETE FROM imap_fetch_failures WHERE account = $1 AND folder = $2 AND (uid_validity <> $3 OR uid <= $4)")
            .bind(account).bind(folder).bind(uid_validity).bind(up_to_uid)
            .execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }

    /// Who holds the lease on a folder and how often it was taken or renewed (`renewals`):
    /// what a node standing by watches to decide on a takeover.
    pub async fn imap_lease_holder(
        &mut self,
        account: &str,
        folder: &str,
    ) -> Result<Option<(String, i64)>> {
        let row: Option<ImapLeaseHolderRow> = run!(tx self, |c| sqlx::query_as(
            "SELECT holder, renewals FROM imap_leases WHERE account = $1 AND folder = $2")
            .bind(account).bind(folder).fetch_optional(&mut *c).await?);
        Ok(row.map(|r| (r.holder, r.renewals)))
    }

    /// Takes or renews the lease on a folder for `holder`: granted when nobody holds it,
    /// `holder` already does, or `take_over` names the current holder and its `renewals`
    /// exactly (the caller saw them unchanged for a whole lease on its own clock). Every
    /// grant adds one to `renewals`; `expires_at` is only recorded, for people to read, and
    /// never compared with another node's clock. Returns whether `holder` holds it now.
    pub async fn hold_imap_lease(
        &mut self,
        account: &str,
        folder: &str,
        holder: &str,
        take_over: Option<(&str, i64)>,
        expires_at: i64,
    ) -> Result<bool> {
        // No holder is named "" and no count is negative: without a takeover, that arm never holds.
        let (stale_holder, stale_renewals) = take_over.unwrap_or(("", -1));
        run!(tx self, |c| Ok(sqlx::query(
            "INSERT INTO imap_leases (account, folder, holder, expires_at, renewals) VALUES ($1, $2, $3, $6, 0) \
             ON CONFLICT (account, folder) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at, \
             renewals = imap_leases.renewals + 1 \
             WHERE imap_leases.holder = excluded.holder OR (imap_leases.holder = $4 AND imap_leases.renewals = $5)")
            .bind(account).bind(folder).bind(holder).bind(stale_holder).bind(stale_renewals).bind(expires_at)
            .execute(&mut *c).await?.rows_affected() == 1))
    }

    /// Gives the lease up, if `holder` has it.
    pub async fn release_imap_lease(
        &mut self,
        account: &str,
        folder: &str,
        holder: &str,
    ) -> Result<()> {
        run!(tx self, |c| sqlx::query(
            "DELETE FROM imap_leases WHERE account = $1 AND folder = $2 AND holder = $3")
            .bind(account).bind(folder).bind(holder)
            .execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }
}

impl Store {
    /// The messages of a folder (under `uid_validity`) whose fetch failed, lowest UID first.
    pub async fn imap_fetch_failures(
        &self,
        account: &str,
        folder: &str,
        uid_validity: i64,
    ) -> Result<Vec<ImapFetchFailureRow>> {
        run!(read self, |c| Ok(sqlx::query_as(
            "SELECT uid, failures, last_error FROM imap_fetch_failures \
             WHERE account = $1 AND folder = $2 AND uid_validity = $3 ORDER BY uid")
            .bind(account).bind(folder).bind(uid_validity).fetch_all(c).await?))
    }

    /// Who holds the lease on a folder, and until when.
    pub async fn imap_lease(&self, account: &str, folder: &str) -> Result<Option<(String, i64)>> {
        let row: Option<ImapLeaseRow> = run!(read self, |c| sqlx::query_as(
            "SELECT holder, expires_at FROM imap_leases WHERE account = $1 AND folder = $2")
            .bind(account).bind(folder).fetch_optional(c).await?);
        Ok(row.map(|r| (r.holder, r.expires_at)))
    }

    /// UIDs (under `uid_validity`) whose after-processing action is still to be applied,
    /// lowest first.
    pub async fn imap_pending_actions(
        &self,
        account: &str,
        folder: &str,
        uid_validity: i64,
        limit: i64,
    ) -> Result<Vec<i64>> {
        run!(read self, |c| Ok(sqlx::query_scalar(
            "SELECT uid FROM imap_messages WHERE account = $1 AND folder = $2 AND uid_validity = $3 AND action_pending \
             ORDER BY uid LIMIT $4")
            .bind(account).bind(folder).bind(uid_validity).bind(limit).fetch_all(c).await?))
    }

    /// How many messages were taken from a folder (for reports and tests).
    pub async fn imap_message_count(&self, account: &str, folder: &str) -> Result<i64> {
        run!(read self, |c| Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM imap_messages WHERE account = $1 AND folder = $2")
            .bind(account).bind(folder).fetch_one(c).await?))
    }
}
