//! Customer use cases: one customer across every channel, and merging two records of one person.

use domain::{EventPayload, IdentityKind, Principal};
use store::ConversationFilter;

use crate::{record, App, AppError, ConversationView, ListQuery, Result};

/// A customer with every address they are known by and the conversations the viewer may see.
#[derive(Debug, Clone)]
pub struct CustomerView {
    pub id: i64,
    pub name: String,
    pub organization: Option<String>,
    pub identities: Vec<(IdentityKind, String)>,
    pub conversations: Vec<ConversationView>,
    pub merged_into: Option<i64>,
    pub created_at: i64,
}

impl App {
    /// A customer and their conversations across channels (newest first, at most 100).
    pub async fn customer(&self, by: &Principal, id: i64) -> Result<CustomerView> {
        let allowed = by.can_read_customers() || *by == Principal::Customer { id };
        let row = match self.store.customer(id).await? {
            Some(row) if allowed => row,
            _ => return Err(AppError::NotFound(format!("customer {id}"))),
        };
        let organization = match row.organization_id {
            Some(org) => self.store.organization(org).await?.map(|o| o.name),
            None => None,
        };
        let identities = self
            .store
            .identities(id)
            .await?
            .into_iter()
            .filter_map(|i| IdentityKind::parse(&i.kind).map(|k| (k, i.value)))
            .collect();
        // Tokens with customers:read but no conversation scope see the customer, not the conversations.
        let list = self
            .list_conversations(
                by,
                ListQuery {
                    filter: ConversationFilter {
                        customer_id: Some(id),
                        ..Default::default()
                    },
                    limit: 100,
                    ..Default::default()
                },
            )
            .await?;
        Ok(CustomerView {
            id: row.id,
            name: row.name,
            organization,
            identities,
            conversations: list.items,
            merged_into: row.merged_into,
            created_at: row.created_at,
        })
    }

    /// Two records turn out to be one person: `source`'s addresses and conversations move
    /// to `target`, and `source` points at `target` from now on.
    pub async fn merge_customers(
        &self,
        by: &Principal,
        source: i64,
        target: i64,
        now: i64,
    ) -> Result<CustomerView> {
        if !by.can_merge_customers() {
            return Err(AppError::Forbidden(
                "merging customers is for leads, managers and admins".into(),
            ));
        }
        if source == target {
            return Err(AppError::Invalid(
                "a customer cannot be merged into themselves".into(),
            ));
        }
        let mut tx = self.store.begin().await?;
        for id in [source, target] {
            let row = tx
                .customer(id)
                .await?
                .ok_or_else(|| AppError::NotFound(format!("customer {id}")))?;
            if let Some(into) = row.merged_into {
                return Err(AppError::Invalid(format!(
                    "customer {id} was already merged into {into}"
                )));
            }
        }
        tx.merge_customers(source, target).await?;
        record(
            &mut tx,
            None,
            by.actor(),
            now,
            &EventPayload::CustomerMerged { source, target },
        )
        .await?;
        tx.commit().await?;
        self.customer(by, target).await
    }
}
