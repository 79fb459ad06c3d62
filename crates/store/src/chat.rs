//! Live chats: each bound to one conversation; only the hash of the widget's token is kept.
//! The address a customer gives is confirmed by a code sent to it (only the code's hash is
//! kept). Open chat sockets are rows of `chat_sockets`, so the cap per client address is
//! counted across every node (migration 0023).

use crate::{run, Dialect, Result, Store, Tx};

stored_row! {
    /// A chat as stored.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ChatRow {
        pub id: i64,
        pub conversation: i64,
        pub visitor_name: String,
        pub email: Option<String>,
        pub created_at: i64,
        pub ended_at: Option<i64>,
        pub transcripts_sent: i64,
        /// When the customer typed the code sent to `email` (`None`: not confirmed).
        pub email_verified_at: Option<i64>,
        /// Until when the last code sent is good.
        pub email_code_expires_at: Option<i64>,
        /// Wrong codes typed since the last code was sent.
        pub email_code_attempts: i64,
        /// Codes sent for this chat.
        pub email_codes_sent: i64,
    }
}

const CHAT_COLUMNS: &str =
    "id, conversation, visitor_name, email, created_at, ended_at, transcripts_sent, \
     email_verified_at, email_code_expires_at, email_code_attempts, email_codes_sent";

impl Tx {
    /// Stores a new chat for `conversation`. Returns its id.
    pub async fn insert_chat(
        &mut self,
        token_hash: &str,
        conversation: i64,
        visitor_name: &str,
        email: Option<&str>,
        now: i64,
    ) -> Result<i64> {
        run!(tx self, |c| Ok(sqlx::query_scalar(
            "INSERT INTO chats (token_hash, conversation, visitor_name, email, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id")
            .bind(token_hash).bind(conversation).bind(visitor_name).bind(email).bind(now)
            .fetch_one(&mut *c).await?))
    }

    /// Marks the chat ended, once. Returns whether this call ended it.
    pub async fn end_chat(&mut self, id: i64, now: i64) -> Result<bool> {
        run!(tx self, |c| Ok(sqlx::query("UPDATE chats SET ended_at = $1 WHERE id = $2 AND ended_at IS NULL")
            .bind(now).bind(id).execute(&mut *c).await?.rows_affected() == 1))
    }

    /// Counts a transcript sent, if fewer than `limit` were. Returns whether it was counted
    /// (one statement, so two requests at once cannot both pass the limit).
    pub async fn count_chat_transcript(&mut self, id: i64, limit: i64) -> Result<bool> {
        run!(tx self, |c| Ok(sqlx::query(
            "UPDATE chats SET transcripts_sent = transcripts_sent + 1 WHERE id = $1 AND transcripts_sent < $2")
            .bind(id).bind(limit).execute(&mut *c).await?.rows_affected() == 1))
    }
}

impl Tx {
    /// The chat, its row held until the transaction ends (on PostgreSQL; SQLite has one
    /// writer), with the hash of the code last sent.
    pub async fn chat_for_update(&mut self, id: i64) -> Result<Option<(ChatRow, Option<String>)>> {
        let lock = if self.dialect() == Dialect::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let sql = format!("SELECT {CHAT_COLUMNS} FROM chats WHERE id = $1{lock}");
        let row: Option<ChatRow> = run!(tx self, |c| sqlx::query_as(&sql)
            .bind(id).fetch_optional(&mut *c).await?);
        let Some(row) = row else {
            return Ok(None);
        };
        let hash: String = run!(tx self, |c| sqlx::query_scalar(
            "SELECT COALESCE(email_code_hash, '') FROM chats WHERE id = $1")
            .bind(id).fetch_one(&mut *c).await?);
        Ok(Some((row, Some(hash).filter(|h| !h.is_empty()))))
    }

    /// Keeps the hash of a new code for the chat's address, good until `expires_at`, if fewer
    /// than `limit` codes were sent and the address is not confirmed yet. Returns whether it
    /// was kept (one statement, so two requests at once cannot both pass the limit).
    pub async fn put_chat_email_code(
        &mut self,
        id: i64,
        code_hash: &str,
        expires_at: i64,
        limit: i64,
    ) -> Result<bool> {
        run!(tx self, |c| Ok(sqlx::query(
            "UPDATE chats SET email_code_hash = $2, email_code_expires_at = $3, email_code_attempts = 0, \
             email_codes_sent = email_codes_sent + 1 \
             WHERE id = $1 AND email_codes_sent < $4 AND email_verified_at IS NULL AND email IS NOT NULL")
            .bind(id).bind(code_hash).bind(expires_at).bind(limit)
            .execute(&mut *c).await?.rows_affected() == 1))
    }

    /// Counts a wrong code typed for the chat.
    pub async fn count_wrong_chat_code(&mut self, id: i64) -> Result<()> {
        run!(tx self, |c| sqlx::query(
            "UPDATE chats SET email_code_attempts = email_code_attempts + 1 WHERE id = $1")
            .bind(id).execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }

    /// Marks the chat's address confirmed at `now`; the code is used up.
    pub async fn confirm_chat_email(&mut self, id: i64, now: i64) -> Result<()> {
        run!(tx self, |c| sqlx::query(
            "UPDATE chats SET email_verified_at = $2, email_code_hash = NULL, email_code_expires_at = NULL WHERE id = $1")
            .bind(id).bind(now).execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }

    /// Opens a chat socket for `client` if fewer than `cap` of its sockets are open on any
    /// node at `now` (expired rows do not count): takes the client's row first (an upsert,
    /// which holds it on PostgreSQL until the transaction ends), so openings for one address
    /// take turns across nodes. Returns whether it was opened.
    #[allow(clippy::too_many_arguments)]
    pub async fn open_chat_socket(
        &mut self,
        id: &str,
        node: &str,
        client: &str,
        cap: i64,
        now: i64,
        expires_at: i64,
    ) -> Result<bool> {
        run!(tx self, |c| {
            sqlx::query(
                "INSERT INTO chat_socket_clients (client, opened_at) VALUES ($1, $2) \
                 ON CONFLICT (client) DO UPDATE SET opened_at = excluded.opened_at")
                .bind(client).bind(now).execute(&mut *c).await?;
            let open: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM chat_sockets WHERE client = $1 AND expires_at > $2")
                .bind(client).bind(now).fetch_one(&mut *c).await?;
            if open >= cap {
                return Ok(false);
            }
            sqlx::query(
                "INSERT INTO chat_sockets (id, node, client, conversation, opened_at, expires_at) \
                 VALUES ($1, $2, $3, NULL, $4, $5)")
                .bind(id).bind(node).bind(client).bind(now).bind(expires_at)
                .execute(&mut *c).await?;
            Ok(true)
        })
    }

    /// Renews an open socket's row (its node is alive) and notes its conversation; a row
    /// swept meanwhile (its node was stalled past the expiry) is put back.
    #[allow(clippy::too_many_arguments)]
    pub async fn renew_chat_socket(
        &mut self,
        id: &str,
        node: &str,
        client: &str,
        conversation: Option<i64>,
        now: i64,
        expires_at: i64,
    ) -> Result<()> {
        run!(tx self, |c| sqlx::query(
            "INSERT INTO chat_sockets (id, node, client, conversation, opened_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (id) DO UPDATE SET conversation = excluded.conversation, expires_at = excluded.expires_at")
            .bind(id).bind(node).bind(client).bind(conversation).bind(now).bind(expires_at)
            .execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }

    /// Forgets a closed socket, and its client's row once it has no socket left.
    pub async fn close_chat_socket(&mut self, id: &str, client: &str) -> Result<()> {
        run!(tx self, |c| {
            sqlx::query("DELETE FROM chat_sockets WHERE id = $1")
                .bind(id).execute(&mut *c).await?;
            sqlx::query(
                "DELETE FROM chat_socket_clients WHERE client = $1 \
                 AND NOT EXISTS (SELECT 1 FROM chat_sockets WHERE client = $1)")
                .bind(client).execute(&mut *c).await?;
            Ok(())
        })
    }
}

impl Tx {
    /// The token bucket `key` as (thousandths of a token, updated_at), a full one
    /// (`full_milli`) when there is none, its row held until the transaction ends (an upsert,
    /// which locks it on PostgreSQL; SQLite has one writer). A bucket swept is full, as it was
    /// `now` (see [`Tx::sweep_chat_limits`]).
    pub async fn hold_rate_bucket(
        &mut self,
        key: &str,
        full_milli: i64,
        now: i64,
    ) -> Result<(i64, i64)> {
        run!(tx self, |c| Ok(sqlx::query_as(
            "INSERT INTO rate_buckets (key, tokens, updated_at, full_at) VALUES ($1, $2, $3, $3) \
             ON CONFLICT (key) DO UPDATE SET key = excluded.key RETURNING tokens, updated_at")
            .bind(key).bind(full_milli).bind(now)
            .fetch_one(&mut *c).await?))
    }

    /// Forgets what no longer says anything: socket rows expired by `now` (their node stopped
    /// renewing them), client rows without sockets, and rate buckets full again. Run in a
    /// transaction of its own: the takers and openings each hold one row and wait for nothing
    /// else, so this never waits in a cycle with them. Returns the rows deleted.
    pub async fn sweep_chat_limits(&mut self, now: i64) -> Result<u64> {
        run!(tx self, |c| {
            let sockets = sqlx::query("DELETE FROM chat_sockets WHERE expires_at <= $1")
                .bind(now).execute(&mut *c).await?.rows_affected();
            let clients = sqlx::query(
                "DELETE FROM chat_socket_clients WHERE NOT EXISTS \
                 (SELECT 1 FROM chat_sockets s WHERE s.client = chat_socket_clients.client)")
                .execute(&mut *c).await?.rows_affected();
            let buckets = sqlx::query("DELETE FROM rate_buckets WHERE full_at <= $1")
                .bind(now).execute(&mut *c).await?.rows_affected();
            Ok(sockets + clients + buckets)
        })
    }

    /// Stores the bucket `key` after a take.
    pub async fn put_rate_bucket(
        &mut self,
        key: &str,
        tokens_milli: i64,
        updated_at: i64,
        full_at: i64,
    ) -> Result<()> {
        run!(tx self, |c| sqlx::query(
            "UPDATE rate_buckets SET tokens = $2, updated_at = $3, full_at = $4 WHERE key = $1")
            .bind(key).bind(tokens_milli).bind(updated_at).bind(full_at)
            .execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }
}

impl Store {
    /// Chat sockets open for `client` at `now`, on every node.
    pub async fn open_chat_sockets(&self, client: &str, now: i64) -> Result<i64> {
        run!(read self, |p| Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM chat_sockets WHERE client = $1 AND expires_at > $2")
            .bind(client).bind(now).fetch_one(p).await?))
    }

    pub async fn chat(&self, id: i64) -> Result<Option<ChatRow>> {
        let sql = format!("SELECT {CHAT_COLUMNS} FROM chats WHERE id = $1");
        run!(read self, |p| Ok(sqlx::query_as(&sql)
            .bind(id).fetch_optional(p).await?))
    }

    /// The chats of a conversation (one, unless conversations were merged), oldest first.
    pub async fn chats_of(&self, conversation: i64) -> Result<Vec<ChatRow>> {
        let sql = format!("SELECT {CHAT_COLUMNS} FROM chats WHERE conversation = $1 ORDER BY id");
        run!(read self, |p| Ok(sqlx::query_as(&sql)
            .bind(conversation).fetch_all(p).await?))
    }

    /// The chat whose token has this hash.
    pub async fn chat_by_token(&self, token_hash: &str) -> Result<Option<ChatRow>> {
        let sql = format!("SELECT {CHAT_COLUMNS} FROM chats WHERE token_hash = $1");
        run!(read self, |p| Ok(sqlx::query_as(&sql)
            .bind(token_hash).fetch_optional(p).await?))
    }
}
