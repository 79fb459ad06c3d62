//! Magic-link sign-in for the customer portal. A customer gives their e-mail address; if it
//! is one of a customer's, a link that works once, for 15 minutes, goes out through the
//! outbound mail queue. Only the SHA-256 of the link's secret is stored. Following the link
//! starts a fresh portal session. Issuing and using a link are events with the customer as
//! actor. Nothing here tells the caller whether an address is known.

use domain::{normalize_identity, Actor, EventPayload, IdentityKind, Principal};

use crate::auth::{secret, secret_hash};
use crate::outbound::Queued;
use crate::{record, App, AppError, LoginOutcome, Result};

/// How long a sign-in link works.
pub const PORTAL_LINK_TTL_MILLIS: i64 = 15 * 60_000;
/// At most this many links per customer within [`PORTAL_LINK_TTL_MILLIS`]; more requests
/// are quietly dropped (the links already sent still work).
pub const MAX_PORTAL_LINKS_PER_WINDOW: i64 = 3;

/// Why a sign-in link cannot be used.
fn link_unusable() -> AppError {
    AppError::Invalid(
        "This sign-in link has expired or has already been used. Ask for a new one.".into(),
    )
}

impl App {
    /// Sends a sign-in link to `email` if it is a customer's address. Returns the outbound
    /// mail's id when a link was queued, `None` when not (unknown address, too many links
    /// lately, no mailbox to send from). Adapters must answer the same either way, so that
    /// nobody learns which addresses are known.
    pub async fn request_portal_link(&self, email: &str, now: i64) -> Result<Option<i64>> {
        let Ok(email) = normalize_identity(IdentityKind::Email, email) else {
            return Ok(None);
        };
        let Some((customer_id, _)) = self.store.customer_login(&email).await? else {
            return Ok(None);
        };
        let mailboxes = self.store.mailboxes().await?;
        let Some(mailbox) = mailboxes.first() else {
            tracing::warn!(
                "a customer asked for a portal sign-in link, but no mailbox is configured to send it from (add one with `rapport mailbox add`)"
            );
            return Ok(None);
        };
        let token = secret();
        let link = format!(
            "{}/login/link/{token}",
            self.settings.public_url.trim_end_matches('/')
        );
        let text = format!(
            "Hello,\n\nsomebody (we hope you) asked to sign in to your support requests with this \
             address. Open this link within 15 minutes to sign in:\n\n{link}\n\nThe link works \
             once. If you did not ask for it, ignore this message: nobody can sign in without it."
        );
        let composed = mail::compose::compose_notice(
            &mail::compose::Notice {
                from: mail::Mailbox {
                    address: mailbox.address.clone(),
                    name: Some(mailbox.name.clone()),
                },
                to: mail::Mailbox {
                    address: email.clone(),
                    name: None,
                },
                subject: "Your sign-in link".into(),
                text,
                date_ms: now,
            },
            rand::random(),
        )
        .map_err(|e| AppError::Invalid(format!("cannot compose the sign-in e-mail: {e}")))?;

        let mut tx = self.store.begin().await?;
        let recent = tx
            .portal_links_since(customer_id, now - PORTAL_LINK_TTL_MILLIS)
            .await?;
        if recent >= MAX_PORTAL_LINKS_PER_WINDOW {
            tx.rollback().await?;
            tracing::info!(
                customer = customer_id,
                "portal sign-in link not sent: too many lately"
            );
            return Ok(None);
        }
        let link_id = tx
            .insert_portal_link(
                &secret_hash(&token),
                customer_id,
                now,
                now + PORTAL_LINK_TTL_MILLIS,
            )
            .await?;
        let outbound_id = self
            .enqueue_outbound(
                &mut tx,
                &Queued {
                    conversation: None,
                    message_id: None,
                    composed: &composed,
                    from: &mailbox.address,
                    to: &email,
                    automatic: true,
                },
                now,
            )
            .await?;
        record(
            &mut tx,
            None,
            Actor::Customer(customer_id),
            now,
            &EventPayload::PortalLinkIssued {
                link_id,
                outbound_id,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(Some(outbound_id))
    }

    /// Whether a sign-in link can still be used (without using it): for the page that asks
    /// the customer to confirm, so that a link scanner that opens it signs nobody in.
    pub async fn check_portal_link(&self, token: &str, now: i64) -> Result<()> {
        match self.store.portal_link(&secret_hash(token.trim())).await? {
            Some(link) if link.used_at.is_none() && link.expires_at > now => Ok(()),
            _ => Err(link_unusable()),
        }
    }

    /// Uses a sign-in link: once, before it expires. Starts a fresh portal session for its
    /// customer (or the customer that one was merged into).
    pub async fn sign_in_with_portal_link(&self, token: &str, now: i64) -> Result<LoginOutcome> {
        let mut tx = self.store.begin().await?;
        let Some((link_id, customer_id)) =
            tx.use_portal_link(&secret_hash(token.trim()), now).await?
        else {
            tx.rollback().await?;
            return Err(link_unusable());
        };
        let mut customer = customer_id;
        for _ in 0..8 {
            match tx.customer(customer).await?.and_then(|c| c.merged_into) {
                Some(target) => customer = target,
                None => break,
            }
        }
        record(
            &mut tx,
            None,
            Actor::Customer(customer),
            now,
            &EventPayload::PortalLinkUsed { link_id },
        )
        .await?;
        let outcome = self
            .start_session(&mut tx, Principal::Customer { id: customer }, now)
            .await?;
        tx.commit().await?;
        Ok(outcome)
    }
}
