//! Live chats: each bound to one conversation; only the hash of the widget's token is kept.

use crate::{run, Result, Store, Tx};

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
    }
}

const CHAT_COLUMNS: &str =
    "id, conversation, visitor_name, email, created_at, ended_at, transcripts_sent";

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

impl Store {
    pub async fn chat(&self, id: i64) -> Result<Option<ChatRow>> {
        let sql = format!("SELECT {CHAT_COLUMNS} FROM chats WHERE id = $1");
        run!(read self, |p| Ok(sqlx::query_as(&sql)
            .bind(id).fetch_optional(p).await?))
    }

    /// The chat whose token has this hash.
    pub async fn chat_by_token(&self, token_hash: &str) -> Result<Option<ChatRow>> {
        let sql = format!("SELECT {CHAT_COLUMNS} FROM chats WHERE token_hash = $1");
        run!(read self, |p| Ok(sqlx::query_as(&sql)
            .bind(token_hash).fetch_optional(p).await?))
    }
}
