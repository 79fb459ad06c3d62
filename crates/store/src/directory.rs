//! Who is who: organisations, customers and their identities, agents, groups, API tokens
//! and sign-in sessions.

use crate::{
    run, AgentRow, CustomerRow, GroupRow, IdentityRow, OrganizationRow, Result, SessionRow, Store,
    TokenRow, Tx,
};

impl Tx {
    pub async fn insert_organization(
        &mut self,
        name: &str,
        domain: Option<&str>,
        now: i64,
    ) -> Result<i64> {
        run!(tx self, |c| Ok(sqlx::query_scalar("INSERT INTO organizations (name, domain, created_at) VALUES ($1, $2, $3) RETURNING id")
            .bind(name).bind(domain).bind(now).fetch_one(&mut *c).await?))
    }

    /// Which of these organisation ids exist.
    pub async fn existing_organizations(&mut self, ids: &[i64]) -> Result<Vec<i64>> {
        let mut found = Vec::new();
        for id in ids {
            let exists: Option<i64> = run!(tx self, |c| sqlx::query_scalar("SELECT id FROM organizations WHERE id = $1")
                .bind(*id).fetch_optional(&mut *c).await?);
            found.extend(exists);
        }
        Ok(found)
    }

    /// Creates a customer with identities nobody owns yet, in the organisation that owns
    /// `domain` (if one does). One round trip on PostgreSQL. An identity taken meanwhile by
    /// another transaction fails the whole statement with a uniqueness conflict.
    pub async fn insert_customer_with_identities(
        &mut self,
        name: &str,
        domain: Option<&str>,
        identities: &[(&str, &str)],
        now: i64,
    ) -> Result<i64> {
        match self {
            Tx::Sqlite(t) => {
                let c: &mut crate::sqlite::Conn = &mut *t;
                let id: i64 = crate::sqlite::query_scalar(
                    "INSERT INTO customers (name, organization_id, created_at) \
                     VALUES ($1, (SELECT id FROM organizations WHERE domain = $2), $3) RETURNING id",
                )
                .bind(name).bind(domain).bind(now).fetch_one(&mut *c).await?;
                for (kind, value) in identities {
                    crate::sqlite::query("INSERT INTO customer_identities (customer_id, kind, value, created_at) VALUES ($1, $2, $3, $4)")
                        .bind(id).bind(*kind).bind(*value).bind(now).execute(&mut *c).await?;
                }
                Ok(id)
            }
            Tx::Postgres(t) => {
                let kinds: Vec<&str> = identities.iter().map(|(k, _)| *k).collect();
                let values: Vec<&str> = identities.iter().map(|(_, v)| *v).collect();
                Ok(sqlx::query_scalar(
                    "WITH c AS (INSERT INTO customers (name, organization_id, created_at) \
                                VALUES ($1, (SELECT id FROM organizations WHERE domain = $2), $3) RETURNING id), \
                          i AS (INSERT INTO customer_identities (customer_id, kind, value, created_at) \
                                SELECT c.id, x.kind, x.value, $3 FROM c, unnest($4::text[], $5::text[]) AS x(kind, value)) \
                     SELECT id FROM c",
                )
                .bind(name).bind(domain).bind(now).bind(&kinds).bind(&values)
                .fetch_one(&mut **t).await?)
            }
        }
    }

    pub async fn insert_identity(
        &mut self,
        customer_id: i64,
        kind: &str,
        value: &str,
        now: i64,
    ) -> Result<i64> {
        run!(tx self, |c| Ok(sqlx::query_scalar(
            "INSERT INTO customer_identities (customer_id, kind, value, created_at) VALUES ($1, $2, $3, $4) RETURNING id")
            .bind(customer_id).bind(kind).bind(value).bind(now).fetch_one(&mut *c).await?))
    }

    /// The customer who owns an identity (already normalised).
    pub async fn customer_by_identity(&mut self, kind: &str, value: &str) -> Result<Option<i64>> {
        run!(tx self, |c| Ok(sqlx::query_scalar("SELECT customer_id FROM customer_identities WHERE kind = $1 AND value = $2")
            .bind(kind).bind(value).fetch_optional(&mut *c).await?))
    }

    /// Who owns each of several identities (already normalised), as `(kind, value,
    /// customer)` for those that have an owner, in no particular order. One statement on
    /// PostgreSQL.
    pub async fn customers_by_identities(
        &mut self,
        identities: &[(&str, &str)],
    ) -> Result<Vec<(String, String, i64)>> {
        match self {
            Tx::Sqlite(_) => {
                let mut owned = Vec::new();
                for (kind, value) in identities {
                    if let Some(id) = self.customer_by_identity(kind, value).await? {
                        owned.push((kind.to_string(), value.to_string(), id));
                    }
                }
                Ok(owned)
            }
            Tx::Postgres(t) => {
                let kinds: Vec<&str> = identities.iter().map(|(k, _)| *k).collect();
                let values: Vec<&str> = identities.iter().map(|(_, v)| *v).collect();
                Ok(sqlx::query_as(
                    "SELECT i.kind, i.value, i.customer_id FROM customer_identities i \
                     JOIN unnest($1::text[], $2::text[]) AS x(kind, value) ON i.kind = x.kind AND i.value = x.value",
                )
                .bind(&kinds)
                .bind(&values)
                .fetch_all(&mut **t)
                .await?)
            }
        }
    }

    pub async fn customer(&mut self, id: i64) -> Result<Option<CustomerRow>> {
        run!(tx self, |c| Ok(sqlx::query_as("SELECT id, name, organization_id, merged_into, created_at FROM customers WHERE id = $1")
            .bind(id).fetch_optional(&mut *c).await?))
    }

    pub async fn set_customer_password(&mut self, id: i64, password_hash: &str) -> Result<()> {
        run!(tx self, |c| sqlx::query("UPDATE customers SET password_hash = $1 WHERE id = $2")
            .bind(password_hash).bind(id).execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }

    /// Folds customer `source` into `target`: identities and conversations move, the
    /// source record points at the target. Returns how many conversations moved.
    pub async fn merge_customers(&mut self, source: i64, target: i64) -> Result<u64> {
        run!(tx self, |c| {
            sqlx::query("UPDATE customer_identities SET customer_id = $1 WHERE customer_id = $2")
                .bind(target).bind(source).execute(&mut *c).await?;
            let moved = sqlx::query("UPDATE conversations SET customer_id = $1 WHERE customer_id = $2")
                .bind(target).bind(source).execute(&mut *c).await?.rows_affected();
            sqlx::query("UPDATE customers SET merged_into = $1 WHERE id = $2 OR merged_into = $2")
                .bind(target).bind(source).execute(&mut *c).await?;
            Ok(moved)
        })
    }

    pub async fn insert_group(&mut self, name: &str, now: i64) -> Result<i64> {
        run!(tx self, |c| Ok(sqlx::query_scalar("INSERT INTO groups (name, created_at) VALUES ($1, $2) RETURNING id")
            .bind(name).bind(now).fetch_one(&mut *c).await?))
    }

    pub async fn insert_agent(
        &mut self,
        email: &str,
        name: &str,
        role: &str,
        password_hash: &str,
        now: i64,
    ) -> Result<i64> {
        run!(tx self, |c| Ok(sqlx::query_scalar(
            "INSERT INTO agents (email, name, role, password_hash, active, created_at) VALUES ($1, $2, $3, $4, TRUE, $5) RETURNING id")
            .bind(email).bind(name).bind(role).bind(password_hash).bind(now).fetch_one(&mut *c).await?))
    }

    /// Puts an agent in a group; `false` when they were in it already.
    pub async fn add_agent_to_group(&mut self, agent_id: i64, group_id: i64) -> Result<bool> {
        run!(tx self, |c| Ok(sqlx::query("INSERT INTO agent_groups (agent_id, group_id) VALUES ($1, $2) ON CONFLICT DO NOTHING")
            .bind(agent_id).bind(group_id).execute(&mut *c).await?.rows_affected() == 1))
    }

    /// Takes an agent out of a group; `false` when they were not in it.
    pub async fn remove_agent_from_group(&mut self, agent_id: i64, group_id: i64) -> Result<bool> {
        run!(tx self, |c| Ok(sqlx::query("DELETE FROM agent_groups WHERE agent_id = $1 AND group_id = $2")
            .bind(agent_id).bind(group_id).execute(&mut *c).await?.rows_affected() == 1))
    }

    pub async fn set_agent_role(&mut self, id: i64, role: &str) -> Result<()> {
        run!(tx self, |c| sqlx::query("UPDATE agents SET role = $1 WHERE id = $2")
            .bind(role).bind(id).execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }

    pub async fn set_agent_active(&mut self, id: i64, active: bool) -> Result<()> {
        run!(tx self, |c| sqlx::query("UPDATE agents SET active = $1 WHERE id = $2")
            .bind(active).bind(id).execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }

    pub async fn agent(&mut self, id: i64) -> Result<Option<AgentRow>> {
        run!(tx self, |c| Ok(sqlx::query_as("SELECT * FROM agents WHERE id = $1").bind(id).fetch_optional(&mut *c).await?))
    }

    pub async fn group(&mut self, id: i64) -> Result<Option<GroupRow>> {
        run!(tx self, |c| Ok(sqlx::query_as("SELECT * FROM groups WHERE id = $1").bind(id).fetch_optional(&mut *c).await?))
    }

    pub async fn insert_token(
        &mut self,
        name: &str,
        token_hash: &str,
        scopes: &str,
        created_by: &str,
        now: i64,
    ) -> Result<i64> {
        run!(tx self, |c| Ok(sqlx::query_scalar(
            "INSERT INTO api_tokens (name, token_hash, scopes, created_by, created_at) VALUES ($1, $2, $3, $4, $5) RETURNING id")
            .bind(name).bind(token_hash).bind(scopes).bind(created_by).bind(now).fetch_one(&mut *c).await?))
    }

    /// Revokes a token; `false` when there is no such token or it was already revoked.
    pub async fn revoke_token(&mut self, id: i64, now: i64) -> Result<bool> {
        run!(tx self, |c| Ok(sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now).bind(id).execute(&mut *c).await?.rows_affected() == 1))
    }

    pub async fn insert_session(&mut self, session: &SessionRow) -> Result<()> {
        run!(tx self, |c| sqlx::query(
            "INSERT INTO sessions (id_hash, principal_kind, principal_id, csrf_token, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(&session.id_hash).bind(&session.principal_kind).bind(session.principal_id)
            .bind(&session.csrf_token).bind(session.created_at).bind(session.expires_at)
            .execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }

    /// Removes a session and every expired one.
    pub async fn delete_session(&mut self, id_hash: &str, now: i64) -> Result<()> {
        run!(tx self, |c| sqlx::query("DELETE FROM sessions WHERE id_hash = $1 OR expires_at < $2")
            .bind(id_hash).bind(now).execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }
}

impl Store {
    /// Every organisation, by name.
    pub async fn organizations(&self) -> Result<Vec<OrganizationRow>> {
        run!(read self, |p| Ok(sqlx::query_as("SELECT * FROM organizations ORDER BY name, id").fetch_all(p).await?))
    }

    pub async fn organization(&self, id: i64) -> Result<Option<OrganizationRow>> {
        run!(read self, |p| Ok(sqlx::query_as("SELECT * FROM organizations WHERE id = $1").bind(id).fetch_optional(p).await?))
    }

    pub async fn customer(&self, id: i64) -> Result<Option<CustomerRow>> {
        run!(read self, |p| Ok(sqlx::query_as("SELECT id, name, organization_id, merged_into, created_at FROM customers WHERE id = $1")
            .bind(id).fetch_optional(p).await?))
    }

    pub async fn identities(&self, customer_id: i64) -> Result<Vec<IdentityRow>> {
        run!(read self, |p| Ok(sqlx::query_as("SELECT * FROM customer_identities WHERE customer_id = $1 ORDER BY id")
            .bind(customer_id).fetch_all(p).await?))
    }

    /// A customer's id and password hash by one of their e-mail addresses (for the portal).
    pub async fn customer_login(&self, email: &str) -> Result<Option<(i64, Option<String>)>> {
        run!(read self, |p| Ok(sqlx::query_as(
            "SELECT c.id, c.password_hash FROM customer_identities i JOIN customers c ON c.id = i.customer_id \
             WHERE i.kind = 'email' AND i.value = $1")
            .bind(email).fetch_optional(p).await?))
    }

    pub async fn agent(&self, id: i64) -> Result<Option<AgentRow>> {
        run!(read self, |p| Ok(sqlx::query_as("SELECT * FROM agents WHERE id = $1").bind(id).fetch_optional(p).await?))
    }

    pub async fn agent_by_email(&self, email: &str) -> Result<Option<AgentRow>> {
        run!(read self, |p| Ok(sqlx::query_as("SELECT * FROM agents WHERE email = $1").bind(email).fetch_optional(p).await?))
    }

    pub async fn agents(&self) -> Result<Vec<AgentRow>> {
        run!(read self, |p| Ok(sqlx::query_as("SELECT * FROM agents ORDER BY id").fetch_all(p).await?))
    }

    pub async fn agent_groups(&self, agent_id: i64) -> Result<Vec<i64>> {
        run!(read self, |p| Ok(sqlx::query_scalar("SELECT group_id FROM agent_groups WHERE agent_id = $1 ORDER BY group_id")
            .bind(agent_id).fetch_all(p).await?))
    }

    /// Every (agent, group) membership.
    pub async fn group_memberships(&self) -> Result<Vec<(i64, i64)>> {
        run!(read self, |p| Ok(sqlx::query_as("SELECT agent_id, group_id FROM agent_groups ORDER BY group_id, agent_id")
            .fetch_all(p).await?))
    }

    pub async fn groups(&self) -> Result<Vec<GroupRow>> {
        run!(read self, |p| Ok(sqlx::query_as("SELECT * FROM groups ORDER BY name").fetch_all(p).await?))
    }

    pub async fn group_by_name(&self, name: &str) -> Result<Option<GroupRow>> {
        run!(read self, |p| Ok(sqlx::query_as("SELECT * FROM groups WHERE name = $1").bind(name).fetch_optional(p).await?))
    }

    pub async fn token_by_hash(&self, token_hash: &str) -> Result<Option<TokenRow>> {
        run!(read self, |p| Ok(sqlx::query_as("SELECT * FROM api_tokens WHERE token_hash = $1").bind(token_hash).fetch_optional(p).await?))
    }

    /// Every API token, newest first (hashes included: callers must not show them).
    pub async fn tokens(&self) -> Result<Vec<TokenRow>> {
        run!(read self, |p| Ok(sqlx::query_as("SELECT * FROM api_tokens ORDER BY id DESC").fetch_all(p).await?))
    }

    pub async fn session(&self, id_hash: &str) -> Result<Option<SessionRow>> {
        run!(read self, |p| Ok(sqlx::query_as("SELECT * FROM sessions WHERE id_hash = $1").bind(id_hash).fetch_optional(p).await?))
    }

    /// Counts rows of the main tables (for the demo and `rapport` status output).
    pub async fn count(&self, table: Table) -> Result<i64> {
        let sql = format!("SELECT COUNT(*) FROM {}", table.name());
        run!(read self, |p| Ok(sqlx::query_scalar(&sql).fetch_one(p).await?))
    }
}

/// Tables that may be counted.
#[derive(Debug, Clone, Copy)]
pub enum Table {
    Conversations,
    Customers,
    Agents,
    Messages,
    Events,
}

impl Table {
    fn name(self) -> &'static str {
        match self {
            Table::Conversations => "conversations",
            Table::Customers => "customers",
            Table::Agents => "agents",
            Table::Messages => "messages",
            Table::Events => "events",
        }
    }
}
