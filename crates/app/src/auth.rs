//! Signing in and out, sessions, API tokens, and administering agents and groups.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use base64::Engine;
use domain::{normalize_identity, IdentityKind, Principal, Role, Scope, DAY_MILLIS};
use rand::RngCore;
use sha2::{Digest, Sha256};
use store::SessionRow;

use crate::{App, AppError, Result};

/// A successful sign-in: the session secret for the cookie and the CSRF token.
#[derive(Debug, Clone)]
pub struct LoginOutcome {
    pub session: String,
    pub csrf_token: String,
    pub expires_at: i64,
    pub principal: Principal,
}

/// An API token as administrators see it: never its secret or hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenView {
    pub id: i64,
    pub name: String,
    pub scopes: Vec<String>,
    /// Who made it (`agent:3`, `system`, …).
    pub created_by: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// A freshly created API token: the secret is shown once and never stored.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub id: i64,
    pub secret: String,
}

/// Hashes a password with argon2id and a random salt.
pub fn hash_password(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AppError::Invalid(format!("cannot hash the password: {e}")))
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// A fresh secret: 32 random bytes, base64url.
pub(crate) fn secret() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What is stored for a secret: its SHA-256, hex. Secrets are long and random, so a
/// fast hash is enough (no dictionary to attack).
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

// A hash to verify against when the e-mail is unknown, so that the answer takes as long
// either way and does not tell which addresses exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$W2fN1RDH7g0qDnbWfNLJSqXtP5uuYZ84+Wr9a/A1h1E";

impl App {
    /// Signs in an agent, or else a customer with a portal password, by e-mail and password.
    pub async fn login(&self, email: &str, password: &str, now: i64) -> Result<LoginOutcome> {
        let email =
            normalize_identity(IdentityKind::Email, email).map_err(|_| AppError::BadCredentials)?;
        let principal = if let Some(agent) = self.store.agent_by_email(&email).await? {
            if !agent.active || !verify_password(password, &agent.password_hash) {
                return Err(AppError::BadCredentials);
            }
            self.agent_principal(agent.id).await?
        } else if let Some((customer_id, Some(hash))) = self.store.customer_login(&email).await? {
            if !verify_password(password, &hash) {
                return Err(AppError::BadCredentials);
            }
            Principal::Customer { id: customer_id }
        } else {
            let _ = verify_password(password, DUMMY_HASH);
            return Err(AppError::BadCredentials);
        };
        let mut tx = self.store.begin().await?;
        let outcome = self.start_session(&mut tx, principal, now).await?;
        tx.commit().await?;
        Ok(outcome)
    }

    /// Starts a new session for an agent or a customer, in `tx`: a fresh secret for the
    /// cookie (only its hash is stored) and a fresh CSRF token.
    pub(crate) async fn start_session(
        &self,
        tx: &mut store::Tx,
        principal: Principal,
        now: i64,
    ) -> Result<LoginOutcome> {
        let (kind, id) = match &principal {
            Principal::Agent { id, .. } => ("agent", *id),
            Principal::Customer { id } => ("customer", *id),
            _ => return Err(AppError::BadCredentials),
        };
        let session = secret();
        let csrf_token = secret();
        let expires_at = now + i64::from(self.settings.session_days) * DAY_MILLIS;
        tx.insert_session(&SessionRow {
            id_hash: secret_hash(&session),
            principal_kind: kind.into(),
            principal_id: id,
            csrf_token: csrf_token.clone(),
            created_at: now,
            expires_at,
        })
        .await?;
        Ok(LoginOutcome {
            session,
            csrf_token,
            expires_at,
            principal,
        })
    }

    /// The principal behind a session secret, with the session's CSRF token.
    pub async fn session_principal(&self, session: &str, now: i64) -> Result<(Principal, String)> {
        let row = self
            .store
            .session(&secret_hash(session))
            .await?
            .ok_or(AppError::Unauthenticated)?;
        if row.expires_at <= now {
            return Err(AppError::Unauthenticated);
        }
        let principal = match row.principal_kind.as_str() {
            "agent" => self.agent_principal(row.principal_id).await?,
            "customer" => Principal::Customer {
                id: row.principal_id,
            },
            _ => return Err(AppError::Unauthenticated),
        };
        Ok((principal, row.csrf_token))
    }

    pub async fn logout(&self, session: &str, now: i64) -> Result<()> {
        let mut tx = self.store.begin().await?;
        tx.delete_session(&secret_hash(session), now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// An agent as a principal: their role and groups as they are now.
    pub async fn agent_principal(&self, agent_id: i64) -> Result<Principal> {
        let agent = self
            .store
            .agent(agent_id)
            .await?
            .ok_or(AppError::Unauthenticated)?;
        if !agent.active {
            return Err(AppError::Unauthenticated);
        }
        let role = Role::parse(&agent.role).ok_or_else(|| {
            AppError::Store(store::StoreError::Corrupt(format!(
                "agent {agent_id} has role {:?}",
                agent.role
            )))
        })?;
        let groups = self.store.agent_groups(agent_id).await?;
        Ok(Principal::Agent {
            id: agent_id,
            role,
            groups,
        })
    }

    /// The principal behind an API token secret.
    pub async fn token_principal(&self, secret: &str) -> Result<Principal> {
        let row = self
            .store
            .token_by_hash(&secret_hash(secret))
            .await?
            .ok_or(AppError::Unauthenticated)?;
        if row.revoked_at.is_some() {
            return Err(AppError::Unauthenticated);
        }
        let scopes = row
            .scopes
            .split_whitespace()
            .filter_map(Scope::parse)
            .collect();
        Ok(Principal::Token { id: row.id, scopes })
    }

    /// Creates an API token; only administrators may. The secret is returned once.
    pub async fn create_token(
        &self,
        by: &Principal,
        name: &str,
        scopes: &[Scope],
        now: i64,
    ) -> Result<NewToken> {
        if !by.can_administer() {
            return Err(AppError::Forbidden(
                "only administrators create API tokens".into(),
            ));
        }
        let name = name.trim();
        if name.is_empty() {
            return Err(AppError::Invalid("a token needs a name".into()));
        }
        if scopes.is_empty() {
            return Err(AppError::Invalid("a token needs at least one scope: conversations:read, conversations:write, customers:read or admin".into()));
        }
        let scopes_text: Vec<&str> = scopes.iter().map(Scope::as_str).collect();
        let actor = by.actor();
        let created_by = match actor.id() {
            Some(id) => format!("{}:{id}", actor.kind()),
            None => actor.kind().to_string(),
        };
        let secret = format!("rpt_{}", secret());
        let mut tx = self.store.begin().await?;
        let id = tx
            .insert_token(
                name,
                &secret_hash(&secret),
                &scopes_text.join(" "),
                &created_by,
                now,
            )
            .await?;
        tx.commit().await?;
        Ok(NewToken { id, secret })
    }

    /// The API tokens (never their secrets or hashes), newest first; administrators only.
    pub async fn tokens(&self, by: &Principal) -> Result<Vec<TokenView>> {
        if !by.can_administer() {
            return Err(AppError::Forbidden(
                "only administrators see the API tokens".into(),
            ));
        }
        Ok(self
            .store
            .tokens()
            .await?
            .into_iter()
            .map(|t| TokenView {
                id: t.id,
                name: t.name,
                scopes: t.scopes.split_whitespace().map(str::to_string).collect(),
                created_by: t.created_by,
                created_at: t.created_at,
                revoked_at: t.revoked_at,
            })
            .collect())
    }

    /// Revokes an API token at once (its next request is refused); administrators only.
    pub async fn revoke_token(&self, by: &Principal, id: i64, now: i64) -> Result<()> {
        if !by.can_administer() {
            return Err(AppError::Forbidden(
                "only administrators revoke API tokens".into(),
            ));
        }
        let mut tx = self.store.begin().await?;
        if !tx.revoke_token(id, now).await? {
            tx.rollback().await?;
            return Err(AppError::NotFound(format!("active token {id}")));
        }
        crate::record(
            &mut tx,
            None,
            by.actor(),
            now,
            &domain::EventPayload::TokenRevoked { token_id: id },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds an agent with a role, a password and groups (by name); only administrators may.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_agent(
        &self,
        by: &Principal,
        email: &str,
        name: &str,
        role: Role,
        password: &str,
        groups: &[String],
        now: i64,
    ) -> Result<i64> {
        if !by.can_administer() {
            return Err(AppError::Forbidden("only administrators add agents".into()));
        }
        let email = normalize_identity(IdentityKind::Email, email)?;
        if password.chars().count() < 4 {
            return Err(AppError::Invalid("the password is too short: use at least 4 characters (12 or more for real accounts)".into()));
        }
        let name = if name.trim().is_empty() {
            email.clone()
        } else {
            name.trim().to_string()
        };
        let mut group_ids = Vec::new();
        for group in groups {
            let row = self
                .store
                .group_by_name(group)
                .await?
                .ok_or_else(|| AppError::NotFound(format!("group {group:?}")))?;
            group_ids.push(row.id);
        }
        let hash = hash_password(password)?;
        let mut tx = self.store.begin().await?;
        let id = tx
            .insert_agent(&email, &name, role.as_str(), &hash, now)
            .await
            .map_err(|e| match e {
                store::StoreError::Conflict(_) => {
                    AppError::Conflict(format!("an agent with e-mail {email} already exists"))
                }
                other => other.into(),
            })?;
        let added = domain::EventPayload::AgentAdded {
            agent_id: id,
            email: email.clone(),
            role: role.as_str().into(),
        };
        crate::record(&mut tx, None, by.actor(), now, &added).await?;
        for group in group_ids {
            tx.add_agent_to_group(id, group).await?;
            let joined = domain::EventPayload::GroupMembershipChanged {
                group_id: group,
                agent_id: id,
                member: true,
            };
            crate::record(&mut tx, None, by.actor(), now, &joined).await?;
        }
        tx.commit().await?;
        Ok(id)
    }

    /// Adds a group (team); only administrators may.
    pub async fn add_group(&self, by: &Principal, name: &str, now: i64) -> Result<i64> {
        if !by.can_administer() {
            return Err(AppError::Forbidden("only administrators add groups".into()));
        }
        let name = name.trim();
        if name.is_empty() {
            return Err(AppError::Invalid("a group needs a name".into()));
        }
        let mut tx = self.store.begin().await?;
        let id = tx.insert_group(name, now).await.map_err(|e| match e {
            store::StoreError::Conflict(_) => {
                AppError::Conflict(format!("a group named {name:?} already exists"))
            }
            other => other.into(),
        })?;
        let added = domain::EventPayload::GroupAdded {
            group_id: id,
            name: name.to_string(),
        };
        crate::record(&mut tx, None, by.actor(), now, &added).await?;
        tx.commit().await?;
        Ok(id)
    }

    /// Every agent: for the service team, and for tokens with `customers:read` (or `admin`).
    pub async fn agents(&self, by: &Principal) -> Result<Vec<store::AgentRow>> {
        let allowed = match by {
            Principal::Customer { .. } => false,
            Principal::Token { .. } => by.can_read_customers(),
            Principal::Agent { .. } | Principal::System => true,
        };
        if !allowed {
            return Err(AppError::Forbidden(
                "the team list is for the service team".into(),
            ));
        }
        Ok(self.store.agents().await?)
    }

    /// Every group: for anyone but customers.
    pub async fn groups(&self, by: &Principal) -> Result<Vec<store::GroupRow>> {
        if matches!(by, Principal::Customer { .. }) {
            return Err(AppError::Forbidden(
                "groups are for the service team".into(),
            ));
        }
        Ok(self.store.groups().await?)
    }

    /// Sets a customer's portal password (administrators, or the seeder).
    pub async fn set_customer_password(
        &self,
        by: &Principal,
        customer_id: i64,
        password: &str,
    ) -> Result<()> {
        if !by.can_administer() {
            return Err(AppError::Forbidden(
                "only administrators set customer passwords".into(),
            ));
        }
        let hash = hash_password(password)?;
        let mut tx = self.store.begin().await?;
        tx.set_customer_password(customer_id, &hash).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_is_a_valid_argon2_hash() {
        assert!(PasswordHash::new(DUMMY_HASH).is_ok());
    }

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let hash = hash_password("correct horse").unwrap_or_default();
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("x", "not a hash"));
    }
}
