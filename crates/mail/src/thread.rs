//! Which conversation does an incoming message belong to?
//!
//! The rules, strongest first (the first that matches decides):
//! 1. **In-Reply-To** names a Message-ID Rapport sent or received: that message's conversation.
//! 2. **References** (newest first) names one: that conversation.
//! 3. **Conversation token**: Rapport puts `c<number>-<mac>` in the Reply-To of its mail
//!    (`support+c1234-5f2a9c01be@acme.test`) and in a `[ref:…]` marker at the end of the body.
//!    It survives providers that rewrite Message-IDs and clients that drop References. The mac
//!    is an HMAC-SHA-256 of the number under a secret key, so nobody can write into another
//!    customer's conversation by guessing numbers.
//! 4. **Subject number** `[#1234]`: only when the sender already takes part in conversation 1234
//!    (anyone can type a number into a subject).
//! 5. Otherwise: a new conversation.

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::Sha256;

use crate::parse::InboundMessage;

/// The secret for conversation tokens. Keep it stable: changing it orphans the tokens in mail
/// already sent (rules 1, 2 and 4 still work).
#[derive(Clone)]
pub struct ThreadKey(Vec<u8>);

impl ThreadKey {
    /// A key from secret bytes (at least 16 random bytes; configuration supplies them).
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        ThreadKey(secret.into())
    }

    fn mac(&self, number: u64) -> String {
        // Hmac::new_from_slice accepts any key length; the error arm cannot happen.
        let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) else {
            return String::new();
        };
        mac.update(b"rapport-conversation:");
        mac.update(number.to_string().as_bytes());
        let digest = mac.finalize().into_bytes();
        // 40 bits: a forger needs about 2^39 tries per conversation, each one a mail to us.
        hex::encode(&digest[..5])
    }

    /// The token for a conversation: `c1234-5f2a9c01be`.
    pub fn token(&self, number: u64) -> String {
        format!("c{number}-{}", self.mac(number))
    }

    /// The conversation number in `token`, if the token is genuine. Case-insensitive, because
    /// some providers lower- or upper-case addresses.
    pub fn verify(&self, token: &str) -> Option<u64> {
        let token = token.to_ascii_lowercase();
        let rest = token.strip_prefix('c')?;
        let (number, mac) = rest.split_once('-')?;
        if number.is_empty() || number.len() > 20 || !number.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let number: u64 = number.parse().ok()?;
        let expected = self.mac(number);
        // Compare without an early exit, so timing does not reveal a correct prefix.
        let same = mac.len() == expected.len()
            && mac
                .bytes()
                .zip(expected.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        same.then_some(number)
    }

    /// `support@acme.test` → `support+c1234-5f2a9c01be@acme.test`.
    pub fn reply_address(&self, mailbox: &str, number: u64) -> String {
        match mailbox.rsplit_once('@') {
            Some((local, domain)) => {
                let local = local.split('+').next().unwrap_or(local);
                format!("{local}+{}@{domain}", self.token(number))
            }
            None => mailbox.to_owned(),
        }
    }

    /// The marker put at the end of outgoing bodies: `[ref:c1234-5f2a9c01be]`.
    pub fn body_marker(&self, number: u64) -> String {
        format!("[ref:{}]", self.token(number))
    }
}

impl std::fmt::Debug for ThreadKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ThreadKey(<secret>)")
    }
}

/// What the threading rules need to know about Rapport's records.
pub trait ThreadLookup {
    /// The conversation holding the message with this Message-ID (sent or received), if any.
    fn conversation_of_message_id(&self, message_id: &str) -> Option<u64>;
    /// Whether conversation `number` exists (a verified token for a deleted one is ignored).
    fn conversation_exists(&self, number: u64) -> bool;
    /// Whether `address` already takes part in conversation `number` (customer or cc).
    fn is_participant(&self, number: u64, address: &str) -> bool;
}

/// Which rule matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// In-Reply-To named a known message.
    InReplyTo,
    /// References named a known message.
    References,
    /// A genuine conversation token in a recipient address.
    TokenInAddress,
    /// A genuine conversation token in the body marker.
    TokenInBody,
    /// `[#1234]` in the subject, from a participant.
    SubjectNumber,
}

/// The outcome of [`decide_thread`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "thread", rename_all = "snake_case")]
pub enum ThreadDecision {
    /// Add to this conversation.
    Existing {
        /// The conversation number.
        number: u64,
        /// The rule that decided.
        by: Rule,
    },
    /// Start a new conversation.
    New,
}

/// Applies the threading rules (see the module documentation) to a parsed message.
pub fn decide_thread(
    message: &InboundMessage,
    key: &ThreadKey,
    lookup: &impl ThreadLookup,
) -> ThreadDecision {
    for id in &message.in_reply_to {
        if let Some(number) = lookup.conversation_of_message_id(id) {
            return ThreadDecision::Existing {
                number,
                by: Rule::InReplyTo,
            };
        }
    }
    for id in message.references.iter().rev() {
        if let Some(number) = lookup.conversation_of_message_id(id) {
            return ThreadDecision::Existing {
                number,
                by: Rule::References,
            };
        }
    }
    let recipients = message
        .to
        .iter()
        .chain(&message.cc)
        .map(|m| m.address.as_str())
        .chain(message.delivered_to.iter().map(String::as_str));
    for address in recipients {
        if let Some(number) = token_in_address(address, key) {
            if lookup.conversation_exists(number) {
                return ThreadDecision::Existing {
                    number,
                    by: Rule::TokenInAddress,
                };
            }
        }
    }
    let html = message.html.as_deref().unwrap_or("");
    for text in [message.text.as_str(), html] {
        if let Some(number) = token_in_body(text, key) {
            if lookup.conversation_exists(number) {
                return ThreadDecision::Existing {
                    number,
                    by: Rule::TokenInBody,
                };
            }
        }
    }
    if let (Some(number), Some(from)) = (subject_number(&message.subject), &message.from) {
        if lookup.conversation_exists(number) && lookup.is_participant(number, &from.address) {
            return ThreadDecision::Existing {
                number,
                by: Rule::SubjectNumber,
            };
        }
    }
    ThreadDecision::New
}

fn token_in_address(address: &str, key: &ThreadKey) -> Option<u64> {
    let local = address.rsplit_once('@')?.0;
    local.split('+').skip(1).find_map(|tag| key.verify(tag))
}

fn token_in_body(text: &str, key: &ThreadKey) -> Option<u64> {
    let lower = text.to_ascii_lowercase();
    let mut rest = lower.as_str();
    while let Some(at) = rest.find("[ref:") {
        let after = &rest[at + 5..];
        // No `]` after this `[ref:` means none after any later one either: stop (linear time).
        let end = after.find(']')?;
        if let Some(number) = key.verify(after[..end].trim()) {
            return Some(number);
        }
        rest = after;
    }
    None
}

/// The number in the first `[#1234]` of a subject.
pub fn subject_number(subject: &str) -> Option<u64> {
    let mut rest = subject;
    while let Some(at) = rest.find("[#") {
        let after = &rest[at + 2..];
        let end = after.find(']')?;
        let digits = &after[..end];
        if !digits.is_empty() && digits.len() <= 19 && digits.bytes().all(|b| b.is_ascii_digit()) {
            return digits.parse().ok();
        }
        rest = after;
    }
    None
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::collections::{HashMap, HashSet};

    use super::*;
    use crate::{read_message, ReadOptions};

    struct Records {
        message_ids: HashMap<&'static str, u64>,
        conversations: HashSet<u64>,
        participants: HashSet<(u64, &'static str)>,
    }

    impl ThreadLookup for Records {
        fn conversation_of_message_id(&self, message_id: &str) -> Option<u64> {
            self.message_ids.get(message_id).copied()
        }
        fn conversation_exists(&self, number: u64) -> bool {
            self.conversations.contains(&number)
        }
        fn is_participant(&self, number: u64, address: &str) -> bool {
            self.participants.contains(&(number, address))
        }
    }

    fn records() -> Records {
        Records {
            message_ids: HashMap::from([("out-7@acme.test", 7), ("in-8@x.test", 8)]),
            conversations: HashSet::from([7, 8, 9, 1234]),
            participants: HashSet::from([(1234, "ann@x.test")]),
        }
    }

    fn key() -> ThreadKey {
        ThreadKey::new(b"test secret, 16+ bytes".to_vec())
    }

    #[test]
    fn each_threading_rule_decides_in_order() {
        let k = key();
        let token9 = k.token(9);
        let forged = format!("c1234-{}", &k.token(9)[3..]);
        let cases: Vec<(&str, String, ThreadDecision)> = vec![
            (
                "in-reply-to a sent message",
                "In-Reply-To: <out-7@acme.test>\r\nSubject: Re: x".into(),
                ThreadDecision::Existing { number: 7, by: Rule::InReplyTo },
            ),
            (
                "in-reply-to beats references",
                "In-Reply-To: <out-7@acme.test>\r\nReferences: <in-8@x.test>\r\nSubject: x".into(),
                ThreadDecision::Existing { number: 7, by: Rule::InReplyTo },
            ),
            (
                "references, newest known first",
                "References: <in-8@x.test> <unknown@y> <out-7@acme.test>\r\nSubject: x".into(),
                ThreadDecision::Existing { number: 7, by: Rule::References },
            ),
            (
                "token in the plus address when message ids were rewritten",
                format!("In-Reply-To: <rewritten@provider.test>\r\nTo: support+{token9}@acme.test\r\nSubject: x"),
                ThreadDecision::Existing { number: 9, by: Rule::TokenInAddress },
            ),
            (
                "token survives upper-casing",
                format!("To: SUPPORT+{}@ACME.TEST\r\nSubject: x", token9.to_uppercase()),
                ThreadDecision::Existing { number: 9, by: Rule::TokenInAddress },
            ),
            (
                "token in the body marker",
                format!("Subject: x\r\n\r\nthanks\r\n> old text [ref:{token9}]"),
                ThreadDecision::Existing { number: 9, by: Rule::TokenInBody },
            ),
            (
                "a forged token is ignored",
                format!("To: support+{forged}@acme.test\r\nSubject: x"),
                ThreadDecision::New,
            ),
            (
                "a token for a conversation that does not exist is ignored",
                format!("To: support+{}@acme.test\r\nSubject: x", k.token(55)),
                ThreadDecision::New,
            ),
            (
                "subject number from a participant",
                "Subject: Re: [#1234] refund".into(),
                ThreadDecision::Existing { number: 1234, by: Rule::SubjectNumber },
            ),
            (
                "subject number from a stranger starts a new conversation",
                "Subject: Re: [#1234] refund".into(),
                ThreadDecision::New,
            ),
            ("nothing known", "Subject: hello".into(), ThreadDecision::New),
        ];
        for (rule, headers, expected) in cases {
            let from = if rule.contains("stranger") {
                "eve@x.test"
            } else {
                "ann@x.test"
            };
            let (headers, body) = headers.split_once("\r\n\r\n").unwrap_or((&headers, "body"));
            let raw = format!("From: {from}\r\n{headers}\r\n\r\n{body}\r\n");
            let message = read_message(raw.as_bytes(), &ReadOptions::default()).unwrap();
            assert_eq!(
                decide_thread(&message, &k, &records()),
                expected,
                "rule: {rule}"
            );
        }
    }

    #[test]
    fn tokens_verify_only_under_their_key() {
        let k = key();
        assert_eq!(k.verify(&k.token(42)), Some(42));
        assert_eq!(
            ThreadKey::new(b"another key".to_vec()).verify(&k.token(42)),
            None
        );
        for bad in [
            "",
            "c",
            "c-",
            "c42",
            "c42-",
            "x42-0000000000",
            "c42-zzzzzzzzzz",
            "c99999999999999999999-00",
        ] {
            assert_eq!(k.verify(bad), None, "{bad}");
        }
        assert_eq!(
            k.reply_address("support+old@acme.test", 42),
            format!("support+{}@acme.test", k.token(42))
        );
    }

    proptest::proptest! {
        #[test]
        fn every_number_round_trips_through_its_token(number: u64) {
            let k = key();
            proptest::prop_assert_eq!(k.verify(&k.token(number)), Some(number));
        }
    }
}
