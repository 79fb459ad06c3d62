//! Customers and their identities: one customer is recognised across channels by any of
//! their e-mail addresses, phone numbers or chat handles.

use serde::{Deserialize, Serialize};

/// The kind of address by which a customer reaches us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdentityKind {
    Email,
    Phone,
    Chat,
}

impl IdentityKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            IdentityKind::Email => "email",
            IdentityKind::Phone => "phone",
            IdentityKind::Chat => "chat",
        }
    }

    pub fn parse(text: &str) -> Option<IdentityKind> {
        match text {
            "email" => Some(IdentityKind::Email),
            "phone" => Some(IdentityKind::Phone),
            "chat" => Some(IdentityKind::Chat),
            _ => None,
        }
    }
}

/// An identity value that cannot be an address of its kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("{0:?} is not an e-mail address")]
    BadEmail(String),
    #[error("{0:?} is not a phone number: use digits, optionally starting with +")]
    BadPhone(String),
    #[error("{0:?} is not a chat handle")]
    BadChat(String),
}

/// Normalises an identity so that the same person is found however they typed it:
/// e-mail addresses are trimmed and lower-cased (the local part too: mailboxes that
/// distinguish case are vanishingly rare in customer service), phone numbers keep only
/// digits and a leading `+`, chat handles are trimmed.
pub fn normalize_identity(kind: IdentityKind, value: &str) -> Result<String, IdentityError> {
    let value = value.trim();
    match kind {
        IdentityKind::Email => {
            let lower = value.to_lowercase();
            let valid = match lower.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && !domain.is_empty()
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                        && lower.len() <= 254
                        && !lower.chars().any(|c| {
                            c.is_whitespace()
                                || c.is_control()
                                || matches!(c, '<' | '>' | ',' | ';')
                        })
                }
                None => false,
            };
            if valid {
                Ok(lower)
            } else {
                Err(IdentityError::BadEmail(value.to_string()))
            }
        }
        IdentityKind::Phone => {
            let plus = value.starts_with('+');
            let digits: String = value.chars().filter(|c| c.is_ascii_digit()).collect();
            let only_separators = value
                .chars()
                .all(|c| c.is_ascii_digit() || " +-().".contains(c));
            if (4..=20).contains(&digits.len()) && only_separators {
                Ok(if plus { format!("+{digits}") } else { digits })
            } else {
                Err(IdentityError::BadPhone(value.to_string()))
            }
        }
        IdentityKind::Chat => {
            if value.is_empty() || value.len() > 200 || value.chars().any(char::is_control) {
                Err(IdentityError::BadChat(value.to_string()))
            } else {
                Ok(value.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn the_same_address_typed_differently_is_one_identity() {
        let a = normalize_identity(IdentityKind::Email, " Ann.Lee@Example.COM ");
        assert_eq!(a, Ok("ann.lee@example.com".to_string()));
        assert_eq!(
            normalize_identity(IdentityKind::Phone, "+32 (2) 555-01.00"),
            Ok("+322555010 0".replace(' ', ""))
        );
    }

    #[test]
    fn things_that_are_not_addresses_are_refused() {
        for bad in [
            "",
            "ann",
            "ann@",
            "@x.com",
            "a@b",
            "a b@c.com",
            "a@b@c.com",
            "a@.com",
        ] {
            assert!(
                normalize_identity(IdentityKind::Email, bad).is_err(),
                "{bad}"
            );
        }
        assert!(normalize_identity(IdentityKind::Phone, "call me").is_err());
    }

    proptest! {
        #[test]
        fn normalising_twice_changes_nothing(s in "\\PC{0,40}") {
            for kind in [IdentityKind::Email, IdentityKind::Phone, IdentityKind::Chat] {
                if let Ok(once) = normalize_identity(kind, &s) {
                    prop_assert_eq!(normalize_identity(kind, &once), Ok(once.clone()));
                }
            }
        }
    }
}
