//! Administering the team and the support addresses: agents' roles and deactivation,
//! group membership, mailboxes and their acknowledgements. Administrators only; each change
//! is an event with its actor. Adding agents and groups is in `auth.rs`, calendars and SLA
//! policies in `sla.rs`.

use domain::{EventPayload, Principal, Role};
use store::MailboxRow;

use crate::{record, App, AppError, Result};

/// An agent as the administration pages show them (never the password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentAdminView {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub active: bool,
    pub groups: Vec<i64>,
}

/// A group with its members (agent ids).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupAdminView {
    pub id: i64,
    pub name: String,
    pub members: Vec<i64>,
}

/// A support address's changeable settings.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MailboxInput {
    pub name: String,
    pub group_id: Option<i64>,
    pub acknowledge: bool,
    /// The acknowledgement's text (`{number}` and `{subject}` are filled in); empty: the default.
    pub acknowledgement: String,
}

pub(crate) fn must_administer(by: &Principal, what: &str) -> Result<()> {
    if by.can_administer() {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!("only administrators {what}")))
    }
}

fn not_yourself(by: &Principal, agent_id: i64, what: &str) -> Result<()> {
    match by {
        Principal::Agent { id, .. } if *id == agent_id => Err(AppError::Conflict(format!(
            "you cannot {what} your own account; ask another administrator"
        ))),
        _ => Ok(()),
    }
}

/// The acknowledgement text as stored: `None` for the standard text.
fn check_acknowledgement(text: &str) -> Result<Option<String>> {
    let text = text.trim();
    if text.chars().count() > 10_000 {
        return Err(AppError::Invalid(
            "the acknowledgement is too long: keep it under 10,000 characters".into(),
        ));
    }
    Ok(Some(text.to_string()).filter(|t| !t.is_empty()))
}

impl App {
    /// Every agent with role, state and groups (administrators only).
    pub async fn admin_agents(&self, by: &Principal) -> Result<Vec<AgentAdminView>> {
        must_administer(by, "manage agents")?;
        let memberships = self.store.group_memberships().await?;
        self.store
            .agents()
            .await?
            .into_iter()
            .map(|a| {
                let role = Role::parse(&a.role).ok_or_else(|| {
                    AppError::Store(store::StoreError::Corrupt(format!(
                        "agent {} has role {:?}",
                        a.id, a.role
                    )))
                })?;
                Ok(AgentAdminView {
                    groups: memberships
                        .iter()
                        .filter(|(agent, _)| *agent == a.id)
                        .map(|(_, group)| *group)
                        .collect(),
                    id: a.id,
                    email: a.email,
                    name: a.name,
                    role,
                    active: a.active,
                })
            })
            .collect()
    }

    /// Every group with its members (administrators only).
    pub async fn admin_groups(&self, by: &Principal) -> Result<Vec<GroupAdminView>> {
        must_administer(by, "manage groups")?;
        let memberships = self.store.group_memberships().await?;
        Ok(self
            .store
            .groups()
            .await?
            .into_iter()
            .map(|g| GroupAdminView {
                members: memberships
                    .iter()
                    .filter(|(_, group)| *group == g.id)
                    .map(|(agent, _)| *agent)
                    .collect(),
                id: g.id,
                name: g.name,
            })
            .collect())
    }

    /// Changes an agent's role (administrators only, not their own).
    pub async fn set_agent_role(
        &self,
        by: &Principal,
        agent_id: i64,
        role: Role,
        now: i64,
    ) -> Result<()> {
        must_administer(by, "change roles")?;
        not_yourself(by, agent_id, "change the role of")?;
        let mut tx = self.store.begin().await?;
        let agent = tx
            .agent(agent_id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("agent {agent_id}")))?;
        if agent.role == role.as_str() {
            tx.rollback().await?;
            return Ok(());
        }
        tx.set_agent_role(agent_id, role.as_str()).await?;
        let changed = EventPayload::AgentRoleChanged {
            agent_id,
            from: agent.role,
            to: role.as_str().into(),
        };
        record(&mut tx, None, by.actor(), now, &changed).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Deactivates an agent: their sessions stop working and they cannot sign in again;
    /// what they did stays theirs in the log (administrators only, not themselves).
    pub async fn deactivate_agent(&self, by: &Principal, agent_id: i64, now: i64) -> Result<()> {
        must_administer(by, "deactivate agents")?;
        not_yourself(by, agent_id, "deactivate")?;
        let mut tx = self.store.begin().await?;
        let agent = tx
            .agent(agent_id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("agent {agent_id}")))?;
        if !agent.active {
            tx.rollback().await?;
            return Ok(());
        }
        tx.set_agent_active(agent_id, false).await?;
        record(
            &mut tx,
            None,
            by.actor(),
            now,
            &EventPayload::AgentDeactivated { agent_id },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Puts an agent in a group (`member`) or takes them out (administrators only).
    pub async fn set_group_member(
        &self,
        by: &Principal,
        group_id: i64,
        agent_id: i64,
        member: bool,
        now: i64,
    ) -> Result<()> {
        must_administer(by, "change group membership")?;
        let mut tx = self.store.begin().await?;
        if tx.group(group_id).await?.is_none() {
            return Err(AppError::NotFound(format!("group {group_id}")));
        }
        if tx.agent(agent_id).await?.is_none() {
            return Err(AppError::NotFound(format!("agent {agent_id}")));
        }
        let changed = if member {
            tx.add_agent_to_group(agent_id, group_id).await?
        } else {
            tx.remove_agent_from_group(agent_id, group_id).await?
        };
        if changed {
            let event = EventPayload::GroupMembershipChanged {
                group_id,
                agent_id,
                member,
            };
            record(&mut tx, None, by.actor(), now, &event).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// The support addresses with their settings (administrators only).
    pub async fn admin_mailboxes(&self, by: &Principal) -> Result<Vec<MailboxRow>> {
        must_administer(by, "configure mailboxes")?;
        Ok(self.store.mailboxes().await?)
    }

    /// Configures a support address with its group and acknowledgement in one go
    /// (administrators only): `mailbox_added` names the address and the group.
    pub async fn add_mailbox_with(
        &self,
        by: &Principal,
        address: &str,
        input: MailboxInput,
        now: i64,
    ) -> Result<MailboxRow> {
        must_administer(by, "configure mailboxes")?;
        let address = domain::normalize_identity(domain::IdentityKind::Email, address)?;
        let acknowledgement = check_acknowledgement(&input.acknowledgement)?;
        let mut tx = self.store.begin().await?;
        if let Some(group) = input.group_id {
            if tx.group(group).await?.is_none() {
                return Err(AppError::Invalid(format!(
                    "group {group} does not exist; add it first"
                )));
            }
        }
        let name = match input.name.trim() {
            "" => address.clone(),
            name => name.to_string(),
        };
        let id = tx
            .insert_mailbox(&address, &name, input.group_id, input.acknowledge, now)
            .await
            .map_err(|e| match e {
                store::StoreError::Conflict(_) => {
                    AppError::Conflict(format!("the mailbox {address} is already configured"))
                }
                other => other.into(),
            })?;
        let row = MailboxRow {
            id,
            address: address.clone(),
            name,
            group_id: input.group_id,
            acknowledge: input.acknowledge,
            acknowledgement,
            created_at: now,
        };
        tx.update_mailbox(&row).await?;
        let added = EventPayload::MailboxAdded {
            address,
            group_id: input.group_id,
        };
        record(&mut tx, None, by.actor(), now, &added).await?;
        tx.commit().await?;
        Ok(row)
    }

    /// Changes a support address's name, group and acknowledgement (administrators only).
    pub async fn update_mailbox(
        &self,
        by: &Principal,
        id: i64,
        input: MailboxInput,
        now: i64,
    ) -> Result<MailboxRow> {
        must_administer(by, "configure mailboxes")?;
        let acknowledgement = check_acknowledgement(&input.acknowledgement)?;
        let mut tx = self.store.begin().await?;
        let mut row = tx
            .mailbox(id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("mailbox {id}")))?;
        if let Some(group) = input.group_id {
            if tx.group(group).await?.is_none() {
                return Err(AppError::Invalid(format!(
                    "group {group} does not exist; add it first"
                )));
            }
        }
        row.name = match input.name.trim() {
            "" => row.address.clone(),
            name => name.to_string(),
        };
        row.group_id = input.group_id;
        row.acknowledge = input.acknowledge;
        row.acknowledgement = acknowledgement;
        tx.update_mailbox(&row).await?;
        let changed = EventPayload::MailboxChanged {
            mailbox_id: id,
            address: row.address.clone(),
            group_id: row.group_id,
            acknowledge: row.acknowledge,
        };
        record(&mut tx, None, by.actor(), now, &changed).await?;
        tx.commit().await?;
        Ok(row)
    }
}
