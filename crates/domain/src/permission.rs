//! Who may see and do what. Use cases ask these questions before they touch anything;
//! the answers are pure functions of the principal and the conversation.

use serde::{Deserialize, Serialize};

use crate::actor::Actor;
use crate::conversation::MessageKind;

/// An agent's role, from least to most trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Works the conversations of their groups and those assigned to them.
    Agent,
    /// An agent who also sees the conversations that have no group yet (triage).
    Lead,
    /// Sees and works every conversation.
    Manager,
    /// A manager who also administers users, groups and tokens.
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Agent, Role::Lead, Role::Manager, Role::Admin];

    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Agent => "agent",
            Role::Lead => "lead",
            Role::Manager => "manager",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == text)
    }
}

/// What an API token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scope {
    #[serde(rename = "conversations:read")]
    ConversationsRead,
    #[serde(rename = "conversations:write")]
    ConversationsWrite,
    #[serde(rename = "customers:read")]
    CustomersRead,
    /// Everything, including administration.
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Scope::ConversationsRead,
        Scope::ConversationsWrite,
        Scope::CustomersRead,
        Scope::Admin,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Scope::ConversationsRead => "conversations:read",
            Scope::ConversationsWrite => "conversations:write",
            Scope::CustomersRead => "customers:read",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// Who is asking: a signed-in agent, a signed-in customer, an API token, or Rapport itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Agent {
        id: i64,
        role: Role,
        groups: Vec<i64>,
    },
    Customer {
        id: i64,
    },
    Token {
        id: i64,
        scopes: Vec<Scope>,
    },
    System,
}

/// The facts about a conversation that decide who may see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reach {
    pub group_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub customer_id: i64,
}

/// Which conversations a principal may list: the store turns this into a WHERE clause.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    All,
    /// In one of these groups, or assigned to this agent, or (for leads) in no group.
    Agent {
        agent_id: i64,
        groups: Vec<i64>,
        include_ungrouped: bool,
    },
    Customer(i64),
    Nothing,
}

impl Principal {
    /// The actor recorded on the events this principal causes.
    pub fn actor(&self) -> Actor {
        match self {
            Principal::Agent { id, .. } => Actor::Agent(*id),
            Principal::Customer { id } => Actor::Customer(*id),
            Principal::Token { id, .. } => Actor::ApiToken(*id),
            Principal::System => Actor::System,
        }
    }

    fn has_scope(&self, scope: Scope) -> bool {
        match self {
            Principal::Token { scopes, .. } => {
                scopes.contains(&Scope::Admin) || scopes.contains(&scope)
            }
            _ => false,
        }
    }

    /// Which conversations this principal may see.
    pub fn visibility(&self) -> Visibility {
        match self {
            Principal::System => Visibility::All,
            Principal::Agent {
                role: Role::Manager | Role::Admin,
                ..
            } => Visibility::All,
            Principal::Agent { id, role, groups } => Visibility::Agent {
                agent_id: *id,
                groups: groups.clone(),
                include_ungrouped: *role == Role::Lead,
            },
            Principal::Customer { id } => Visibility::Customer(*id),
            Principal::Token { .. }
                if self.has_scope(Scope::ConversationsRead)
                    || self.has_scope(Scope::ConversationsWrite) =>
            {
                Visibility::All
            }
            Principal::Token { .. } => Visibility::Nothing,
        }
    }

    /// Whether this principal may see the conversation.
    pub fn can_see(&self, reach: &Reach) -> bool {
        match self.visibility() {
            Visibility::All => true,
            Visibility::Nothing => false,
            Visibility::Customer(id) => reach.customer_id == id,
            Visibility::Agent {
                agent_id,
                groups,
                include_ungrouped,
            } => {
                reach.assignee_id == Some(agent_id)
                    || reach.group_id.is_some_and(|g| groups.contains(&g))
                    || (include_ungrouped && reach.group_id.is_none())
            }
        }
    }

    /// Whether this principal may change the conversation's fields (status, priority,
    /// assignment, tags, custom fields, merge). Customers may not; tokens need `conversations:write`.
    pub fn can_update(&self, reach: &Reach) -> bool {
        match self {
            Principal::Customer { .. } => false,
            Principal::Token { .. } => self.has_scope(Scope::ConversationsWrite),
            _ => self.can_see(reach),
        }
    }

    /// Whether this principal may add a message of this kind. Customers write customer
    /// messages on their own conversations; agents reply and note; tokens with
    /// `conversations:write` may post any kind (an API channel relays customers' words).
    pub fn can_add_message(&self, reach: &Reach, kind: MessageKind) -> bool {
        match self {
            Principal::Customer { .. } => kind == MessageKind::Customer && self.can_see(reach),
            Principal::Token { .. } => self.has_scope(Scope::ConversationsWrite),
            Principal::Agent { .. } | Principal::System => self.can_see(reach),
        }
    }

    /// Whether this principal may open conversations on a customer's behalf.
    pub fn can_create_conversation(&self) -> bool {
        match self {
            Principal::Agent { .. } | Principal::System | Principal::Customer { .. } => true,
            Principal::Token { .. } => self.has_scope(Scope::ConversationsWrite),
        }
    }

    /// Whether this principal may read customer records (their identities and conversations).
    pub fn can_read_customers(&self) -> bool {
        match self {
            Principal::Agent { .. } | Principal::System => true,
            Principal::Customer { .. } => false,
            Principal::Token { .. } => self.has_scope(Scope::CustomersRead),
        }
    }

    /// Whether this principal may merge customer records.
    pub fn can_merge_customers(&self) -> bool {
        match self {
            Principal::Agent { role, .. } => *role >= Role::Lead,
            Principal::System => true,
            Principal::Customer { .. } => false,
            Principal::Token { .. } => self.has_scope(Scope::Admin),
        }
    }

    /// Whether this principal administers users, groups and tokens.
    pub fn can_administer(&self) -> bool {
        match self {
            Principal::Agent { role, .. } => *role == Role::Admin,
            Principal::System => true,
            Principal::Customer { .. } => false,
            Principal::Token { .. } => self.has_scope(Scope::Admin),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GROUP_A: i64 = 1;
    const GROUP_B: i64 = 2;

    fn agent(role: Role) -> Principal {
        Principal::Agent {
            id: 10,
            role,
            groups: vec![GROUP_A],
        }
    }

    fn reach(group: Option<i64>, assignee: Option<i64>) -> Reach {
        Reach {
            group_id: group,
            assignee_id: assignee,
            customer_id: 7,
        }
    }

    #[test]
    fn each_role_sees_what_the_role_table_says() {
        // (role, own group, other group, no group, other group but assigned to me)
        let table = [
            (Role::Agent, true, false, false, true),
            (Role::Lead, true, false, true, true),
            (Role::Manager, true, true, true, true),
            (Role::Admin, true, true, true, true),
        ];
        for (role, own, other, ungrouped, assigned) in table {
            let p = agent(role);
            assert_eq!(
                p.can_see(&reach(Some(GROUP_A), None)),
                own,
                "{role:?} own group"
            );
            assert_eq!(
                p.can_see(&reach(Some(GROUP_B), None)),
                other,
                "{role:?} other group"
            );
            assert_eq!(
                p.can_see(&reach(None, None)),
                ungrouped,
                "{role:?} no group"
            );
            assert_eq!(
                p.can_see(&reach(Some(GROUP_B), Some(10))),
                assigned,
                "{role:?} assigned"
            );
            assert_eq!(p.can_administer(), role == Role::Admin);
        }
    }

    #[test]
    fn customers_see_only_their_own_and_only_write_as_customers() {
        let me = Principal::Customer { id: 7 };
        let other = Principal::Customer { id: 8 };
        let r = reach(Some(GROUP_A), None);
        assert!(me.can_see(&r));
        assert!(!other.can_see(&r));
        assert!(me.can_add_message(&r, MessageKind::Customer));
        assert!(!me.can_add_message(&r, MessageKind::Note));
        assert!(!me.can_add_message(&r, MessageKind::Reply));
        assert!(!me.can_update(&r));
        assert!(!me.can_read_customers());
    }

    #[test]
    fn tokens_do_only_what_their_scopes_allow() {
        let read = Principal::Token {
            id: 1,
            scopes: vec![Scope::ConversationsRead],
        };
        let write = Principal::Token {
            id: 2,
            scopes: vec![Scope::ConversationsWrite],
        };
        let customers = Principal::Token {
            id: 3,
            scopes: vec![Scope::CustomersRead],
        };
        let admin = Principal::Token {
            id: 4,
            scopes: vec![Scope::Admin],
        };
        let r = reach(Some(GROUP_B), None);
        assert!(read.can_see(&r) && !read.can_update(&r) && !read.can_create_conversation());
        assert!(write.can_update(&r) && write.can_create_conversation());
        assert!(!customers.can_see(&r) && customers.can_read_customers());
        assert!(admin.can_see(&r) && admin.can_update(&r) && admin.can_administer());
        assert!(!write.can_administer() && !read.can_read_customers());
    }
}
