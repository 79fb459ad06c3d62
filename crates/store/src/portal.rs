//! Sign-in links to the customer portal: only the hash of a link's secret is stored; a link
//! works once and until it expires.

use crate::{run, Result, Store, Tx};

stored_row! {
    /// A sign-in link as stored.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct PortalLinkRow {
        pub id: i64,
        pub token_hash: String,
        pub customer_id: i64,
        pub created_at: i64,
        pub expires_at: i64,
        pub used_at: Option<i64>,
    }
}

impl Tx {
    /// Stores a new link, and forgets links that expired more than a day ago (their story
    /// stays in the event log).
    pub async fn insert_portal_link(
        &mut self,
        token_hash: &str,
        customer_id: i64,
        now: i64,
        expires_at: i64,
    ) -> Result<i64> {
        let forget_before = now - 86_400_000;
        run!(tx self, |c| {
            sqlx::query("DELETE FROM portal_links WHERE expires_at < $1")
                .bind(forget_before).execute(&mut *c).await?;
            Ok(sqlx::query_scalar(
                "INSERT INTO portal_links (token_hash, customer_id, created_at, expires_at) VALUES ($1, $2, $3, $4) RETURNING id")
                .bind(token_hash).bind(customer_id).bind(now).bind(expires_at)
                .fetch_one(&mut *c).await?)
        })
    }

    /// Marks the link used if it is unused and unexpired, in one statement (so two clicks
    /// at once cannot both succeed). Returns its id and customer when it was.
    pub async fn use_portal_link(
        &mut self,
        token_hash: &str,
        now: i64,
    ) -> Result<Option<(i64, i64)>> {
        run!(tx self, |c| Ok(sqlx::query_as(
            "UPDATE portal_links SET used_at = $1 WHERE token_hash = $2 AND used_at IS NULL AND expires_at > $1 \
             RETURNING id, customer_id")
            .bind(now).bind(token_hash).fetch_optional(&mut *c).await?))
    }

    /// How many links a customer was sent since `since` (to cap them per address).
    pub async fn portal_links_since(&mut self, customer_id: i64, since: i64) -> Result<i64> {
        run!(tx self, |c| Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM portal_links WHERE customer_id = $1 AND created_at >= $2")
            .bind(customer_id).bind(since).fetch_one(&mut *c).await?))
    }
}

impl Store {
    pub async fn portal_link(&self, token_hash: &str) -> Result<Option<PortalLinkRow>> {
        run!(read self, |p| Ok(sqlx::query_as(
            "SELECT id, token_hash, customer_id, created_at, expires_at, used_at FROM portal_links WHERE token_hash = $1")
            .bind(token_hash).fetch_optional(p).await?))
    }
}
