//! The web form channel: an embeddable contact form whose submissions become conversations
//! on the `web` channel, through the same use case as every inbound customer message. The
//! customer is recognised by their e-mail address, so one customer spans e-mail and form.
//!
//! The form is anonymous and usually embedded on another site, so there is no session to
//! bind a CSRF token to. Instead each form carries a token the server signed (HMAC-SHA256
//! with an instance secret) with the time it was issued: a post without a recent token from
//! this server is refused, so bots must fetch the form first, and an old page must be
//! reloaded. Honeypot and rate limit live in the HTTP adapter.

use domain::conversation::{check_message_text, clean_subject};
use domain::{normalize_identity, Channel, IdentityKind, MessageKind, Principal};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::Result;
use crate::{App, AppError, ConversationView, CustomerInput, MessageInput, NewConversationInput};

/// How long a rendered form may wait before it is sent.
pub const WEB_FORM_TOKEN_TTL_MILLIS: i64 = 12 * 60 * 60_000;
/// Clocks of several nodes may differ a little.
const CLOCK_SKEW_MILLIS: i64 = 60_000;

/// What a visitor typed into the form.
#[derive(Debug, Clone, Default)]
pub struct WebFormInput {
    pub name: String,
    pub email: String,
    pub subject: String,
    pub text: String,
    /// The topic chosen from the form's list (empty when the form offers none).
    pub topic: String,
}

/// What became of a message sent with the form.
#[derive(Debug, Clone)]
pub struct WebFormReceipt {
    pub conversation: ConversationView,
    /// An acknowledgement e-mail will go to the visitor (a mailbox is configured to send it).
    pub acknowledged: bool,
}

/// Signs and checks the tokens of the web form.
#[derive(Clone)]
pub struct WebFormTokens {
    key: Vec<u8>,
}

impl WebFormTokens {
    fn mac(&self, payload: &str) -> Option<Hmac<Sha256>> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).ok()?;
        mac.update(b"rapport web form\0");
        mac.update(payload.as_bytes());
        Some(mac)
    }

    /// A token for a form rendered now: `issued.nonce.signature`.
    pub fn issue(&self, now: i64, nonce: u64) -> String {
        let payload = format!("{now}.{nonce:016x}");
        let signature = self
            .mac(&payload)
            .map(|m| hex::encode(m.finalize().into_bytes()))
            .unwrap_or_default();
        format!("{payload}.{signature}")
    }

    /// Accepts a token this server signed within the last [`WEB_FORM_TOKEN_TTL_MILLIS`].
    pub fn check(&self, token: &str, now: i64) -> Result<()> {
        let expired = || {
            AppError::Invalid(
                "The form had expired or was not sent from this site's page. Please send it again."
                    .into(),
            )
        };
        let mut parts = token.trim().rsplitn(2, '.');
        let (Some(signature), Some(payload)) = (parts.next(), parts.next()) else {
            return Err(expired());
        };
        let signature = hex::decode(signature).map_err(|_| expired())?;
        let mac = self.mac(payload).ok_or_else(expired)?;
        mac.verify_slice(&signature).map_err(|_| expired())?;
        let issued: i64 = payload
            .split('.')
            .next()
            .and_then(|t| t.parse().ok())
            .ok_or_else(expired)?;
        if issued > now + CLOCK_SKEW_MILLIS || now - issued > WEB_FORM_TOKEN_TTL_MILLIS {
            return Err(expired());
        }
        Ok(())
    }
}

impl App {
    /// The signer of web form tokens, with this installation's key (made once, kept in the
    /// database so that every node and every restart agrees).
    pub async fn web_form_tokens(&self) -> Result<WebFormTokens> {
        let candidate = hex::encode(rand::random::<[u8; 32]>());
        let mut tx = self.store.begin().await?;
        let key = tx.instance_secret("web_form_key", &candidate).await?;
        tx.commit().await?;
        Ok(WebFormTokens {
            key: key.into_bytes(),
        })
    }

    /// A message sent with the web form: a new conversation on the `web` channel for the
    /// customer with that e-mail address (found, or created), in the group of the chosen
    /// topic or else the form's group (`channel_routing`). When a mailbox is configured, the
    /// `mail.acknowledge` job is queued in the same transaction, so the visitor gets the
    /// acknowledgement through the outbound queue (the mailbox of the conversation's group, or
    /// else the first). Every problem with the input is reported at once, in words the visitor
    /// understands.
    pub async fn submit_web_form(&self, input: WebFormInput, now: i64) -> Result<WebFormReceipt> {
        let mut problems = Vec::new();
        let email = input.email.trim();
        if email.is_empty() {
            problems.push("Enter your e-mail address, so that we can answer you.".to_string());
        } else if normalize_identity(IdentityKind::Email, email).is_err() {
            problems.push(format!(
                "“{email}” does not look like an e-mail address (like name@example.com)."
            ));
        }
        let name = input.name.trim();
        if name.chars().count() > 200 {
            problems.push("Your name is longer than 200 characters.".into());
        }
        if input.subject.trim().is_empty() {
            problems.push("Enter a subject: a few words about your question.".into());
        } else if let Err(e) = clean_subject(&input.subject) {
            problems.push(format!("The subject: {e}."));
        }
        if input.text.trim().is_empty() {
            problems.push("Write your message.".into());
        } else if let Err(e) = check_message_text(&input.text) {
            problems.push(format!("The message: {e}."));
        }
        let routing = self.channel_routing().await?;
        let group_id = match routing.web_group(&input.topic) {
            Ok(group) => group,
            Err(e) => {
                problems.push(e.to_string());
                None
            }
        };
        if !problems.is_empty() {
            return Err(AppError::Invalid(problems.join(" ")));
        }
        let subject = clean_subject(&input.subject)?;
        let new = NewConversationInput {
            subject: input.subject,
            customer: CustomerInput {
                email: Some(email.to_string()),
                name: Some(name.to_string()).filter(|n| !n.is_empty()),
                phone: None,
                chat: None,
            },
            message: MessageInput {
                kind: MessageKind::Customer,
                text: input.text,
                attachments: Vec::new(),
            },
            channel: Channel::Web,
            priority: None,
            group_id,
            assignee_id: None,
            tags: Vec::new(),
            custom_fields: serde_json::Map::new(),
        };
        let acknowledged = !self.store.mailboxes().await?.is_empty();
        // Two first contacts from one new address at once race to create the customer; the
        // loser sees a uniqueness conflict and tries again (as `create_conversation` does).
        let mut attempt = 0;
        let row = loop {
            attempt += 1;
            let mut tx = self.store.begin().await?;
            let created = self
                .create_in_tx(
                    &mut tx,
                    &Principal::System,
                    &new,
                    &subject,
                    &[],
                    None,
                    None,
                    now,
                )
                .await;
            let row = match created {
                Err(AppError::Conflict(_)) if attempt < 3 => continue,
                other => other?.0,
            };
            if acknowledged {
                let key = format!("mail.acknowledge:web:{}", row.number);
                tx.enqueue_job(
                    crate::MAIL_ACKNOWLEDGE_JOB,
                    &row.number.to_string(),
                    now,
                    Some(&key),
                    5,
                    now,
                )
                .await?;
            }
            match tx.commit().await {
                Err(store::StoreError::Conflict(_)) if attempt < 3 => continue,
                other => other?,
            }
            break row;
        };
        let conversation = self.conversation(&Principal::System, row.number).await?;
        Ok(WebFormReceipt {
            conversation,
            acknowledged,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_token_is_accepted_only_unaltered_and_while_fresh() {
        let tokens = WebFormTokens {
            key: b"test key".to_vec(),
        };
        let now = 1_767_261_600_000;
        let token = tokens.issue(now, 7);
        assert!(tokens.check(&token, now).is_ok());
        assert!(tokens
            .check(&token, now + WEB_FORM_TOKEN_TTL_MILLIS)
            .is_ok());
        assert!(tokens
            .check(&token, now + WEB_FORM_TOKEN_TTL_MILLIS + 1)
            .is_err());
        assert!(tokens.check(&token, now - 2 * CLOCK_SKEW_MILLIS).is_err());
        let other = WebFormTokens {
            key: b"another key".to_vec(),
        };
        assert!(other.check(&token, now).is_err(), "signed with another key");
        let forged = token.replacen(&now.to_string(), &(now + 1).to_string(), 1);
        assert!(tokens.check(&forged, now).is_err(), "issue time altered");
        for junk in ["", "abc", "1.2.3", "..", "1.2.zz"] {
            assert!(tokens.check(junk, now).is_err(), "{junk:?}");
        }
    }
}
