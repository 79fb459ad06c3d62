//! The e-mail channel's tables: mailboxes, inbound mail (raw, durable before 250), the
//! Message-IDs used for threading, outbound mail with its delivery state, undeliverable
//! addresses and IMAP cursors.

use crate::{run, Result, Store, Tx};

stored_row! {
    /// A support address and the group its new conversations go to.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct MailboxRow {
        pub id: i64,
        pub address: String,
        pub name: String,
        pub group_id: Option<i64>,
        pub acknowledge: bool,
        pub acknowledgement: Option<String>,
        pub created_at: i64,
    }
}

/// A message as it was accepted, before anything is made of it.
#[derive(Debug, Clone)]
pub struct NewInboundMail<'a> {
    /// smtp, lmtp, imap or import.
    pub transport: &'a str,
    pub mail_from: &'a str,
    /// The envelope recipients that were accepted, comma-separated.
    pub recipients: &'a str,
    pub raw_sha256: &'a str,
    pub size: i64,
    pub received_at: i64,
}

stored_row! {
    /// An accepted message and what became of it.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct InboundMailRow {
        pub id: i64,
        pub transport: String,
        pub mail_from: String,
        pub recipients: String,
        pub raw_sha256: String,
        pub size: i64,
        pub received_at: i64,
        /// received, message, bounce, complaint, noise, quarantined, released.
        pub state: String,
        pub reason: Option<String>,
        pub conversation: Option<i64>,
        pub header_message_id: Option<String>,
        pub processed_at: Option<i64>,
    }
}

const INBOUND_COLUMNS: &str = "id, transport, mail_from, recipients, raw_sha256, size, received_at, state, reason, conversation, header_message_id, processed_at";

/// A mail going out, queued with the reply it carries.
#[derive(Debug, Clone)]
pub struct NewOutboundMail<'a> {
    /// Absent for mail about no conversation (a portal sign-in link).
    pub conversation: Option<i64>,
    pub message: Option<i64>,
    pub header_message_id: &'a str,
    pub mail_from: &'a str,
    pub recipients: &'a str,
    pub raw_sha256: &'a str,
    pub automatic: bool,
    pub now: i64,
}

stored_row! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct OutboundMailRow {
        pub id: i64,
        /// Absent for mail about no conversation (a portal sign-in link).
        pub conversation: Option<i64>,
        pub message: Option<i64>,
        pub header_message_id: String,
        pub mail_from: String,
        pub recipients: String,
        pub raw_sha256: String,
        pub automatic: bool,
        /// queued, sent, deferred, failed.
        pub state: String,
        pub attempts: i64,
        pub last_error: Option<String>,
        pub created_at: i64,
        pub updated_at: i64,
    }
}

const OUTBOUND_COLUMNS: &str = "id, conversation, message, header_message_id, mail_from, recipients, raw_sha256, automatic, state, attempts, last_error, created_at, updated_at";

impl Tx {
    pub async fn insert_mailbox(
        &mut self,
        address: &str,
        name: &str,
        group_id: Option<i64>,
        acknowledge: bool,
        now: i64,
    ) -> Result<i64> {
        run!(tx self, |c| Ok(sqlx::query_scalar(
            "INSERT INTO mailboxes (address, name, group_id, acknowledge, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id")
            .bind(address).bind(name).bind(group_id).bind(acknowledge).bind(now).fetch_one(&mut *c).await?))
    }

    pub async fn mailbox(&mut self, id: i64) -> Result<Option<MailboxRow>> {
        run!(tx self, |c| Ok(sqlx::query_as("SELECT * FROM mailboxes WHERE id = $1").bind(id).fetch_optional(&mut *c).await?))
    }

    /// Changes a support address's name, group and acknowledgement (the address stays).
    pub async fn update_mailbox(&mut self, row: &MailboxRow) -> Result<()> {
        run!(tx self, |c| sqlx::query(
            "UPDATE mailboxes SET name = $1, group_id = $2, acknowledge = $3, acknowledgement = $4 WHERE id = $5")
            .bind(&row.name).bind(row.group_id).bind(row.acknowledge).bind(&row.acknowledgement).bind(row.id)
            .execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }

    pub async fn insert_inbound_mail(&mut self, mail: &NewInboundMail<'_>) -> Result<i64> {
        run!(tx self, |c| Ok(sqlx::query_scalar(
            "INSERT INTO inbound_mail (transport, mail_from, recipients, raw_sha256, size, received_at, state) \
             VALUES ($1, $2, $3, $4, $5, $6, 'received') RETURNING id")
            .bind(mail.transport).bind(mail.mail_from).bind(mail.recipients).bind(mail.raw_sha256)
            .bind(mail.size).bind(mail.received_at).fetch_one(&mut *c).await?))
    }

    /// The envelope recipients of the first mail of a conversation (which mailbox it came to).
    pub async fn first_inbound_recipients(&mut self, conversation: i64) -> Result<Option<String>> {
        run!(tx self, |c| Ok(sqlx::query_scalar("SELECT recipients FROM inbound_mail WHERE conversation = $1 ORDER BY id LIMIT 1")
            .bind(conversation).fetch_optional(&mut *c).await?))
    }

    /// The Message-IDs of a conversation, oldest first, with their direction (in or out).
    pub async fn conversation_message_ids(
        &mut self,
        conversation: i64,
    ) -> Result<Vec<(String, String)>> {
        run!(tx self, |c| Ok(sqlx::query_as("SELECT message_id, direction FROM mail_message_ids WHERE conversation = $1 ORDER BY created_at, message_id")
            .bind(conversation).fetch_all(&mut *c).await?))
    }

    /// A customer's first e-mail address.
    pub async fn customer_email(&mut self, customer_id: i64) -> Result<Option<String>> {
        run!(tx self, |c| Ok(sqlx::query_scalar("SELECT value FROM customer_identities WHERE customer_id = $1 AND kind = 'email' ORDER BY id LIMIT 1")
            .bind(customer_id).fetch_optional(&mut *c).await?))
    }

    /// Locks an inbound message for processing (PostgreSQL: `FOR UPDATE`; SQLite has one writer).
    pub async fn inbound_mail_for_update(&mut self, id: i64) -> Result<Option<InboundMailRow>> {
        match self {
            Tx::Sqlite(t) => {
                let c: &mut crate::sqlite::Conn = &mut *t;
                Ok(crate::sqlite::query_as(&format!(
                    "SELECT {INBOUND_COLUMNS} FROM inbound_mail WHERE id = $1"
                ))
                .bind(id)
                .fetch_optional(&mut *c)
                .await?)
            }
            Tx::Postgres(t) => {
                let c: &mut sqlx::PgConnection = &mut *t;
                Ok(sqlx::query_as(&format!(
                    "SELECT {INBOUND_COLUMNS} FROM inbound_mail WHERE id = $1 FOR UPDATE"
                ))
                .bind(id)
                .fetch_optional(&mut *c)
                .await?)
            }
        }
    }

    /// Records what an inbound message became.
    pub async fn set_inbound_outcome(
        &mut self,
        id: i64,
        state: &str,
        reason: Option<&str>,
        conversation: Option<i64>,
        header_message_id: Option<&str>,
        now: i64,
    ) -> Result<()> {
        run!(tx self, |c| sqlx::query(
            "UPDATE inbound_mail SET state = $1, reason = $2, conversation = $3, header_message_id = $4, processed_at = $5 WHERE id = $6")
            .bind(state).bind(reason).bind(conversation).bind(header_message_id).bind(now).bind(id)
            .execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }

    /// Records the outcome of an inbound message that is still waiting to be processed
    /// (received or released); `false` when another worker already did.
    pub async fn claim_inbound_outcome(
        &mut self,
        id: i64,
        state: &str,
        reason: Option<&str>,
        conversation: Option<i64>,
        header_message_id: Option<&str>,
        now: i64,
    ) -> Result<bool> {
        run!(tx self, |c| Ok(sqlx::query(
            "UPDATE inbound_mail SET state = $1, reason = $2, conversation = $3, header_message_id = $4, processed_at = $5 \
             WHERE id = $6 AND state IN ('received', 'released')")
            .bind(state).bind(reason).bind(conversation).bind(header_message_id).bind(now).bind(id)
            .execute(&mut *c).await?.rows_affected() == 1))
    }

    /// The secret called `name`, created from `candidate` the first time it is asked for.
    pub async fn instance_secret(&mut self, name: &str, candidate: &str) -> Result<String> {
        run!(tx self, |c| {
            sqlx::query("INSERT INTO instance_secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                .bind(name).bind(candidate).execute(&mut *c).await?;
            Ok(sqlx::query_scalar("SELECT value FROM instance_secrets WHERE name = $1")
                .bind(name).fetch_one(&mut *c).await?)
        })
    }

    /// Remembers a Message-ID as belonging to a conversation (first one wins).
    pub async fn remember_message_id(
        &mut self,
        message_id: &str,
        conversation: i64,
        message: Option<i64>,
        direction: &str,
        now: i64,
    ) -> Result<()> {
        run!(tx self, |c| sqlx::query(
            "INSERT INTO mail_message_ids (message_id, conversation, message, direction, created_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING")
            .bind(message_id).bind(conversation).bind(message).bind(direction).bind(now)
            .execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }

    /// The conversation a Message-ID belongs to, if Rapport sent or received it.
    pub async fn conversation_of_message_id(
        &mut self,
        message_id: &str,
    ) -> Result<Option<(i64, String)>> {
        run!(tx self, |c| Ok(sqlx::query_as("SELECT conversation, direction FROM mail_message_ids WHERE message_id = $1")
            .bind(message_id).fetch_optional(&mut *c).await?))
    }

    pub async fn insert_outbound_mail(&mut self, mail: &NewOutboundMail<'_>) -> Result<i64> {
        run!(tx self, |c| Ok(sqlx::query_scalar(
            "INSERT INTO outbound_mail (conversation, message, header_message_id, mail_from, recipients, raw_sha256, automatic, state, attempts, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, 'queued', 0, $8, $8) RETURNING id")
            .bind(mail.conversation).bind(mail.message).bind(mail.header_message_id).bind(mail.mail_from)
            .bind(mail.recipients).bind(mail.raw_sha256).bind(mail.automatic).bind(mail.now)
            .fetch_one(&mut *c).await?))
    }

    /// The outbound mail with this Message-ID (what a bounce refers to).
    pub async fn outbound_by_message_id(
        &mut self,
        header_message_id: &str,
    ) -> Result<Option<OutboundMailRow>> {
        run!(tx self, |c| Ok(sqlx::query_as(&format!("SELECT {OUTBOUND_COLUMNS} FROM outbound_mail WHERE header_message_id = $1"))
            .bind(header_message_id).fetch_optional(&mut *c).await?))
    }

    /// Records a delivery attempt's outcome.
    pub async fn set_outbound_state(
        &mut self,
        id: i64,
        state: &str,
        error: Option<&str>,
        count_attempt: bool,
        now: i64,
    ) -> Result<()> {
        let add = i64::from(count_attempt);
        run!(tx self, |c| sqlx::query(
            "UPDATE outbound_mail SET state = $1, last_error = $2, attempts = attempts + $3, updated_at = $4 WHERE id = $5")
            .bind(state).bind(error).bind(add).bind(now).bind(id).execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }

    /// How many automatic mails went to `recipient` since `since` (for the loop cap).
    pub async fn automatic_mails_to(&mut self, recipient: &str, since: i64) -> Result<i64> {
        run!(tx self, |c| Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM outbound_mail WHERE automatic = TRUE AND created_at >= $1 AND recipients = $2")
            .bind(since).bind(recipient).fetch_one(&mut *c).await?))
    }

    /// Marks an address undeliverable (after a hard bounce or a complaint).
    pub async fn set_address_undeliverable(
        &mut self,
        address: &str,
        reason: &str,
        now: i64,
    ) -> Result<()> {
        run!(tx self, |c| sqlx::query(
            "INSERT INTO mail_address_status (address, undeliverable, reason, updated_at) VALUES ($1, TRUE, $2, $3) \
             ON CONFLICT (address) DO UPDATE SET undeliverable = TRUE, reason = excluded.reason, updated_at = excluded.updated_at")
            .bind(address).bind(reason).bind(now).execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }

    pub async fn address_undeliverable(&mut self, address: &str) -> Result<Option<String>> {
        run!(tx self, |c| Ok(sqlx::query_scalar("SELECT reason FROM mail_address_status WHERE address = $1 AND undeliverable = TRUE")
            .bind(address).fetch_optional(&mut *c).await?))
    }

    /// Moves an IMAP folder's cursor (inserting it the first time).
    pub async fn set_imap_cursor(
        &mut self,
        account: &str,
        folder: &str,
        uid_validity: i64,
        last_uid: i64,
        now: i64,
    ) -> Result<()> {
        run!(tx self, |c| sqlx::query(
            "INSERT INTO imap_cursors (account, folder, uid_validity, last_uid, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (account, folder) DO UPDATE SET uid_validity = excluded.uid_validity, last_uid = excluded.last_uid, updated_at = excluded.updated_at")
            .bind(account).bind(folder).bind(uid_validity).bind(last_uid).bind(now).execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }
}

impl Store {
    /// Whether `address` is the customer's, or has written in conversation `number`.
    pub async fn is_mail_participant(&self, number: i64, address: &str) -> Result<bool> {
        let found: Option<i64> = run!(read self, |c| sqlx::query_scalar(
            "SELECT v.number FROM conversations v JOIN customer_identities i ON i.customer_id = v.customer_id \
             WHERE v.number = $1 AND i.kind = 'email' AND i.value = $2 \
             UNION ALL SELECT m.id FROM inbound_mail m WHERE m.conversation = $1 AND m.mail_from = $2 LIMIT 1")
            .bind(number).bind(address).fetch_optional(c).await?);
        Ok(found.is_some())
    }

    /// The conversation a Message-ID belongs to, if Rapport sent or received it.
    pub async fn conversation_of_message_id(&self, message_id: &str) -> Result<Option<i64>> {
        run!(read self, |c| Ok(sqlx::query_scalar("SELECT conversation FROM mail_message_ids WHERE message_id = $1")
            .bind(message_id).fetch_optional(c).await?))
    }

    /// Did Rapport send mail with this Message-ID? (Then a message carrying it is Rapport's own
    /// mail come back, e.g. through a list.)
    pub async fn sent_message_id(&self, message_id: &str) -> Result<bool> {
        let id: Option<i64> = run!(read self, |c| sqlx::query_scalar("SELECT id FROM outbound_mail WHERE header_message_id = $1")
            .bind(message_id).fetch_optional(c).await?);
        Ok(id.is_some())
    }

    pub async fn mailboxes(&self) -> Result<Vec<MailboxRow>> {
        run!(read self, |c| Ok(sqlx::query_as("SELECT id, address, name, group_id, acknowledge, acknowledgement, created_at FROM mailboxes ORDER BY address")
            .fetch_all(c).await?))
    }

    pub async fn inbound_mail(&self, id: i64) -> Result<Option<InboundMailRow>> {
        run!(read self, |c| Ok(sqlx::query_as(&format!("SELECT {INBOUND_COLUMNS} FROM inbound_mail WHERE id = $1"))
            .bind(id).fetch_optional(c).await?))
    }

    /// Inbound messages in one state, oldest first, after id `after` (for paging).
    pub async fn inbound_mail_in_state(
        &self,
        state: &str,
        after: i64,
        limit: i64,
    ) -> Result<Vec<InboundMailRow>> {
        run!(read self, |c| Ok(sqlx::query_as(&format!(
            "SELECT {INBOUND_COLUMNS} FROM inbound_mail WHERE state = $1 AND id > $2 ORDER BY id LIMIT $3"))
            .bind(state).bind(after).bind(limit).fetch_all(c).await?))
    }

    /// How many inbound messages are in each state.
    pub async fn inbound_mail_states(&self) -> Result<Vec<(String, i64)>> {
        run!(read self, |c| Ok(sqlx::query_as("SELECT state, COUNT(*) FROM inbound_mail GROUP BY state ORDER BY state")
            .fetch_all(c).await?))
    }

    pub async fn outbound_mail(&self, id: i64) -> Result<Option<OutboundMailRow>> {
        run!(read self, |c| Ok(sqlx::query_as(&format!("SELECT {OUTBOUND_COLUMNS} FROM outbound_mail WHERE id = $1"))
            .bind(id).fetch_optional(c).await?))
    }

    pub async fn outbound_mail_of_conversation(
        &self,
        conversation: i64,
    ) -> Result<Vec<OutboundMailRow>> {
        run!(read self, |c| Ok(sqlx::query_as(&format!("SELECT {OUTBOUND_COLUMNS} FROM outbound_mail WHERE conversation = $1 ORDER BY id"))
            .bind(conversation).fetch_all(c).await?))
    }

    /// Where polling of an IMAP folder stands: (UIDVALIDITY, last UID processed).
    pub async fn imap_cursor(&self, account: &str, folder: &str) -> Result<Option<(i64, i64)>> {
        run!(read self, |c| Ok(sqlx::query_as("SELECT uid_validity, last_uid FROM imap_cursors WHERE account = $1 AND folder = $2")
            .bind(account).bind(folder).fetch_optional(c).await?))
    }
}
