//! Rows as stored. Conversions into domain types live with the use cases.

stored_row! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct OrganizationRow {
        pub id: i64,
        pub name: String,
        pub domain: Option<String>,
        pub created_at: i64,
    }
}

stored_row! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct CustomerRow {
        pub id: i64,
        pub name: String,
        pub organization_id: Option<i64>,
        pub merged_into: Option<i64>,
        pub created_at: i64,
    }
}

stored_row! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct IdentityRow {
        pub id: i64,
        pub customer_id: i64,
        pub kind: String,
        pub value: String,
        pub created_at: i64,
    }
}

stored_row! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct GroupRow {
        pub id: i64,
        pub name: String,
        pub created_at: i64,
    }
}

stored_row! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct AgentRow {
        pub id: i64,
        pub email: String,
        pub name: String,
        pub role: String,
        pub password_hash: String,
        pub active: bool,
        pub created_at: i64,
    }
}

stored_row! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ConversationRow {
        pub number: i64,
        pub subject: String,
        pub channel: String,
        pub status: String,
        pub priority: i64,
        pub group_id: Option<i64>,
        pub assignee_id: Option<i64>,
        pub customer_id: i64,
        pub custom_fields: String,
        pub merged_into: Option<i64>,
        pub message_count: i64,
        pub created_at: i64,
        pub updated_at: i64,
        pub solved_at: Option<i64>,
        pub closed_at: Option<i64>,
    }
}

pub(crate) const CONVERSATION_COLUMNS: &str = "c.number, c.subject, c.channel, c.status, c.priority, c.group_id, c.assignee_id, \
     c.customer_id, c.custom_fields, c.merged_into, c.message_count, c.created_at, c.updated_at, c.solved_at, c.closed_at";

stored_row! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct MessageRow {
        pub id: i64,
        pub conversation: i64,
        pub kind: String,
        pub channel: String,
        pub author_kind: String,
        pub author_id: Option<i64>,
        pub body_text: String,
        pub body_html: String,
        pub created_at: i64,
    }
}

stored_row! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct AttachmentRow {
        pub id: i64,
        pub message_id: i64,
        pub blob_sha256: String,
        pub filename: String,
        pub content_type: String,
        pub size: i64,
    }
}

stored_row! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct EventRow {
        pub id: i64,
        pub tx_pos: i64,
        pub conversation: Option<i64>,
        pub kind: String,
        pub actor_kind: String,
        pub actor_id: Option<i64>,
        pub at: i64,
        pub payload: String,
    }
}

stored_row! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct TokenRow {
        pub id: i64,
        pub name: String,
        pub token_hash: String,
        pub scopes: String,
        pub created_by: String,
        pub created_at: i64,
        pub revoked_at: Option<i64>,
        pub last_used_at: Option<i64>,
    }
}

stored_row! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct SessionRow {
        pub id_hash: String,
        pub principal_kind: String,
        pub principal_id: i64,
        pub csrf_token: String,
        pub created_at: i64,
        pub expires_at: i64,
    }
}
