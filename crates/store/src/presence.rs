//! Presence: who is viewing or replying to a conversation now (`presence`, and its change
//! counter `presence_version`, both 0021_presence.sql). Kept in the database so that every
//! node shows every agent, whichever node their page talks to. Not an event in the log:
//! presence changes nothing about a conversation.

use crate::{run, Dialect, Result, Store, Tx};

stored_row! {
    /// An agent present on a conversation, with what decides who may see the conversation.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct PresenceRow {
        pub conversation: i64,
        pub agent_id: i64,
        /// The agent's name, or their address when they have no name.
        pub name: String,
        pub state: String,
        pub expires_at: i64,
        pub group_id: Option<i64>,
        pub assignee_id: Option<i64>,
        pub customer_id: i64,
    }
}

const PRESENCE_SELECT: &str = "SELECT p.conversation, p.agent_id, \
     CASE WHEN a.name = '' THEN a.email ELSE a.name END AS name, p.state, p.expires_at, \
     c.group_id, c.assignee_id, c.customer_id \
     FROM presence p JOIN agents a ON a.id = p.agent_id JOIN conversations c ON c.number = p.conversation";

impl Tx {
    /// Takes the change counter (on PostgreSQL the row stays locked until the transaction
    /// ends, so presence changes queue up and are counted in commit order; SQLite has one
    /// writer) and returns its value.
    pub async fn lock_presence_version(&mut self) -> Result<i64> {
        let lock = if self.dialect() == Dialect::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let sql = format!("SELECT version FROM presence_version WHERE id = 1{lock}");
        run!(tx self, |c| Ok(sqlx::query_scalar(&sql).fetch_one(&mut *c).await?))
    }

    /// Counts a change of who is shown on some conversation (see [`Store::presence_version`]).
    pub async fn raise_presence_version(&mut self) -> Result<()> {
        run!(tx self, |c| sqlx::query("UPDATE presence_version SET version = version + 1 WHERE id = 1")
            .execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }

    /// What an agent's row on a conversation says (state, expires_at), expired or not.
    pub async fn presence_of(
        &mut self,
        conversation: i64,
        agent_id: i64,
    ) -> Result<Option<(String, i64)>> {
        run!(tx self, |c| Ok(sqlx::query_as(
            "SELECT state, expires_at FROM presence WHERE conversation = $1 AND agent_id = $2")
            .bind(conversation).bind(agent_id).fetch_optional(&mut *c).await?))
    }

    /// Sets (or renews) an agent's presence on a conversation.
    pub async fn put_presence(
        &mut self,
        conversation: i64,
        agent_id: i64,
        state: &str,
        expires_at: i64,
    ) -> Result<()> {
        run!(tx self, |c| sqlx::query(
            "INSERT INTO presence (conversation, agent_id, state, expires_at) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (conversation, agent_id) DO UPDATE SET state = excluded.state, expires_at = excluded.expires_at")
            .bind(conversation).bind(agent_id).bind(state).bind(expires_at)
            .execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }

    /// Removes an agent's presence on a conversation (they left).
    pub async fn delete_presence(&mut self, conversation: i64, agent_id: i64) -> Result<()> {
        run!(tx self, |c| sqlx::query("DELETE FROM presence WHERE conversation = $1 AND agent_id = $2")
            .bind(conversation).bind(agent_id).execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }

    /// Forgets presence that expired before `now` (nobody is shown it any more, so this is
    /// not a change to count).
    pub async fn delete_expired_presence(&mut self, now: i64) -> Result<()> {
        run!(tx self, |c| sqlx::query("DELETE FROM presence WHERE expires_at <= $1")
            .bind(now).execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }

    /// Everyone present on one conversation at `now`, by agent id.
    pub async fn presence_on(&mut self, conversation: i64, now: i64) -> Result<Vec<PresenceRow>> {
        let sql = format!(
            "{PRESENCE_SELECT} WHERE p.conversation = $1 AND p.expires_at > $2 ORDER BY p.agent_id"
        );
        run!(tx self, |c| Ok(sqlx::query_as(&sql).bind(conversation).bind(now).fetch_all(&mut *c).await?))
    }
}

impl Store {
    /// The presence change counter: a live poller reads `presence` again only when this moved
    /// (one row, read without a transaction, so the poller never takes SQLite's writer).
    pub async fn presence_version(&self) -> Result<i64> {
        run!(read self, |p| Ok(sqlx::query_scalar("SELECT version FROM presence_version WHERE id = 1")
            .fetch_one(p).await?))
    }

    /// Everyone present on any conversation at `now`, by conversation and agent id.
    pub async fn presence_now(&self, now: i64) -> Result<Vec<PresenceRow>> {
        let sql = format!(
            "{PRESENCE_SELECT} WHERE p.expires_at > $1 ORDER BY p.conversation, p.agent_id"
        );
        run!(read self, |p| Ok(sqlx::query_as(&sql).bind(now).fetch_all(p).await?))
    }
}
