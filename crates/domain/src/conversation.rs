//! Conversations: their states, priorities, channels, messages and the lifecycle rules.
//!
//! "What states can a conversation be in?" — [`Status`], and [`Status::can_become`] says
//! which changes are allowed:
//!
//! ```text
//! new ──▶ open ◀──▶ pending
//!  │       ▲  ▲──▶ on_hold
//!  │       │
//!  └────▶ solved ──▶ closed (final; auto-close after N days)
//! ```
//! Any of new, open, pending and on-hold can be solved; solved can be reopened; a
//! customer message reopens a solved conversation; closed is final: a customer who
//! writes again starts a follow-up conversation.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::{Millis, DAY_MILLIS};

macro_rules! string_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stable text form used in the API and the database.
            pub fn as_str(&self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the text form; `None` for anything else.
            pub fn parse(text: &str) -> Option<$name> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum! {
    /// Where a conversation stands.
    Status {
        New = "new",
        Open = "open",
        Pending = "pending",
        OnHold = "on_hold",
        Solved = "solved",
        Closed = "closed",
    }
}

string_enum! {
    /// How urgent a conversation is.
    Priority { Low = "low", Normal = "normal", High = "high", Urgent = "urgent" }
}

string_enum! {
    /// How the customer reached us.
    Channel { Email = "email", Web = "web", Chat = "chat", Api = "api", Phone = "phone", Sms = "sms", Social = "social" }
}

string_enum! {
    /// What a message is: the customer's words, an agent's public reply, or an internal note.
    MessageKind { Customer = "customer", Reply = "reply", Note = "note" }
}

/// A status change that the lifecycle does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("a conversation cannot go from {from} to {to}")]
    NotAllowed { from: Status, to: Status },
    #[error("the conversation is closed; closed conversations do not change (write a follow-up instead)")]
    Closed,
}

impl Status {
    /// Whether a conversation can be moved from `self` to `to` by a person or a rule.
    /// Staying in the same state is not a change and is not allowed here.
    pub fn can_become(self, to: Status) -> bool {
        use Status::*;
        match (self, to) {
            (a, b) if a == b => false,
            (Closed, _) | (_, New) => false,
            (Solved, Open) | (Solved, Closed) => true,
            (Solved, _) => false,
            // Only solved conversations close: closing is the end of a solved case.
            (_, Closed) => false,
            (New | Open | Pending | OnHold, Open | Pending | OnHold | Solved) => true,
        }
    }

    /// Checks a requested change, with a reason a person understands when it is refused.
    pub fn transition(self, to: Status) -> Result<Status, TransitionError> {
        if self == Status::Closed {
            return Err(TransitionError::Closed);
        }
        if self.can_become(to) {
            Ok(to)
        } else {
            Err(TransitionError::NotAllowed { from: self, to })
        }
    }

    /// Whether the conversation still needs work from the team (counts in the backlog).
    pub fn is_unsolved(self) -> bool {
        matches!(
            self,
            Status::New | Status::Open | Status::Pending | Status::OnHold
        )
    }

    /// The status after a customer writes: pending, on-hold and solved conversations become
    /// open again (solved ones are *reopened*); new and open stay as they are. `None` for a
    /// closed conversation: the message belongs in a follow-up.
    pub fn after_customer_message(self) -> Option<Status> {
        match self {
            Status::New => Some(Status::New),
            Status::Open | Status::Pending | Status::OnHold | Status::Solved => Some(Status::Open),
            Status::Closed => None,
        }
    }

    /// The status after an agent's public reply when the agent does not choose one:
    /// a new conversation becomes open; anything else keeps its status.
    pub fn after_agent_reply(self) -> Status {
        match self {
            Status::New => Status::Open,
            other => other,
        }
    }
}

/// Whether a solved conversation is due to close: it has been solved for at least
/// `after_days` whole days at `now`.
pub fn auto_close_due(
    status: Status,
    solved_at: Option<Millis>,
    now: Millis,
    after_days: u32,
) -> bool {
    match (status, solved_at) {
        (Status::Solved, Some(solved_at)) => {
            now.saturating_sub(solved_at) >= i64::from(after_days) * DAY_MILLIS
        }
        _ => false,
    }
}

/// Longest subject we keep, in characters.
pub const MAX_SUBJECT_CHARS: usize = 500;
/// Longest tag, in characters.
pub const MAX_TAG_CHARS: usize = 64;
/// Longest message text, in bytes (1 MiB of text is a long letter).
pub const MAX_MESSAGE_BYTES: usize = 1 << 20;

/// A field value that a person has to correct.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    #[error("the subject is empty")]
    EmptySubject,
    #[error("the subject is longer than {MAX_SUBJECT_CHARS} characters")]
    SubjectTooLong,
    #[error("the message text is empty")]
    EmptyMessage,
    #[error("the message text is longer than {MAX_MESSAGE_BYTES} bytes")]
    MessageTooLong,
    #[error(
        "tag {0:?} is not valid: use 1 to {MAX_TAG_CHARS} letters, digits, '-', '_', ':' or '.'"
    )]
    BadTag(String),
    #[error("custom field name {0:?} is not valid: use 1 to 64 letters, digits or '_'")]
    BadFieldName(String),
}

/// Trims a subject and collapses inner whitespace; refuses empty or overlong ones.
pub fn clean_subject(subject: &str) -> Result<String, FieldError> {
    let cleaned = subject.split_whitespace().collect::<Vec<_>>().join(" ");
    if cleaned.is_empty() {
        return Err(FieldError::EmptySubject);
    }
    if cleaned.chars().count() > MAX_SUBJECT_CHARS {
        return Err(FieldError::SubjectTooLong);
    }
    Ok(cleaned)
}

/// Checks a message text; keeps it byte for byte (only rejects empty and oversized ones).
pub fn check_message_text(text: &str) -> Result<(), FieldError> {
    if text.trim().is_empty() {
        return Err(FieldError::EmptyMessage);
    }
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(FieldError::MessageTooLong);
    }
    Ok(())
}

/// Normalises a tag: lower case, trimmed; refuses anything but letters, digits, `-_:.`.
pub fn normalize_tag(tag: &str) -> Result<String, FieldError> {
    let tag = tag.trim().to_lowercase();
    let ok = !tag.is_empty()
        && tag.chars().count() <= MAX_TAG_CHARS
        && tag
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ':' | '.'));
    if ok {
        Ok(tag)
    } else {
        Err(FieldError::BadTag(tag))
    }
}

/// Checks a custom field name.
pub fn check_field_name(name: &str) -> Result<(), FieldError> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(FieldError::BadFieldName(name.to_string()))
    }
}

/// Renders plain text as safe HTML: every character escaped, paragraphs and line
/// breaks kept. This is the sanitised HTML body of a message typed as text.
pub fn text_to_html(text: &str) -> String {
    let mut html = String::with_capacity(text.len() + 16);
    for (i, paragraph) in text
        .split("\n\n")
        .filter(|p| !p.trim().is_empty())
        .enumerate()
    {
        if i > 0 {
            html.push('\n');
        }
        html.push_str("<p>");
        for (j, line) in paragraph.trim_matches('\n').split('\n').enumerate() {
            if j > 0 {
                html.push_str("<br>");
            }
            escape_html_into(line.trim_end_matches('\r'), &mut html);
        }
        html.push_str("</p>");
    }
    html
}

/// Escapes the five HTML-significant characters.
pub fn escape_html_into(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use Status::*;

    #[test]
    fn allowed_transitions_follow_the_lifecycle() {
        let allowed = [
            (New, Open),
            (New, Pending),
            (New, OnHold),
            (New, Solved),
            (Open, Pending),
            (Open, OnHold),
            (Open, Solved),
            (Pending, Open),
            (Pending, OnHold),
            (Pending, Solved),
            (OnHold, Open),
            (OnHold, Pending),
            (OnHold, Solved),
            (Solved, Open),
            (Solved, Closed),
        ];
        for &from in Status::ALL {
            for &to in Status::ALL {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
        }
    }

    #[test]
    fn closed_is_final_and_says_so() {
        assert_eq!(Closed.transition(Open), Err(TransitionError::Closed));
        assert_eq!(
            Open.transition(Closed),
            Err(TransitionError::NotAllowed {
                from: Open,
                to: Closed
            })
        );
    }

    #[test]
    fn a_customer_message_reopens_what_waits_or_is_solved() {
        assert_eq!(New.after_customer_message(), Some(New));
        for s in [Open, Pending, OnHold, Solved] {
            assert_eq!(s.after_customer_message(), Some(Open));
        }
        assert_eq!(Closed.after_customer_message(), None);
    }

    #[test]
    fn auto_close_waits_whole_days_after_solving() {
        let solved = 1_000_000;
        assert!(!auto_close_due(
            Solved,
            Some(solved),
            solved + 4 * DAY_MILLIS - 1,
            4
        ));
        assert!(auto_close_due(
            Solved,
            Some(solved),
            solved + 4 * DAY_MILLIS,
            4
        ));
        assert!(!auto_close_due(
            Open,
            Some(solved),
            solved + 40 * DAY_MILLIS,
            4
        ));
        assert!(!auto_close_due(Solved, None, solved, 0));
    }

    #[test]
    fn text_becomes_escaped_paragraphs() {
        assert_eq!(
            text_to_html("Hi <b>\nthere\n\n& bye"),
            "<p>Hi &lt;b&gt;<br>there</p>\n<p>&amp; bye</p>"
        );
    }

    #[test]
    fn tags_are_lower_case_words() {
        assert_eq!(normalize_tag(" VIP "), Ok("vip".into()));
        assert_eq!(normalize_tag("billing:refund"), Ok("billing:refund".into()));
        assert!(normalize_tag("two words").is_err());
        assert!(normalize_tag("").is_err());
    }

    #[test]
    fn subjects_are_trimmed_and_bounded() {
        assert_eq!(
            clean_subject("  Where is   my order? "),
            Ok("Where is my order?".into())
        );
        assert_eq!(clean_subject(" \n "), Err(FieldError::EmptySubject));
        assert_eq!(
            clean_subject(&"x".repeat(501)),
            Err(FieldError::SubjectTooLong)
        );
    }

    fn any_status() -> impl Strategy<Value = Status> {
        proptest::sample::select(Status::ALL.to_vec())
    }

    #[derive(Debug, Clone)]
    enum Step {
        Set(Status),
        CustomerWrites,
        AgentReplies,
    }

    fn any_step() -> impl Strategy<Value = Step> {
        prop_oneof![
            any_status().prop_map(Step::Set),
            Just(Step::CustomerWrites),
            Just(Step::AgentReplies),
        ]
    }

    proptest! {
        /// Whatever happens, a conversation never returns to `new`, never leaves `closed`,
        /// and only reaches `closed` from `solved`.
        #[test]
        fn lifecycle_invariants_hold_for_any_sequence(steps in proptest::collection::vec(any_step(), 0..40)) {
            let mut status = New;
            let mut left_new = false;
            for step in steps {
                let before = status;
                match step {
                    Step::Set(to) => if let Ok(next) = status.transition(to) { status = next },
                    Step::CustomerWrites => if let Some(next) = status.after_customer_message() { status = next },
                    Step::AgentReplies => if status != Closed { status = status.after_agent_reply() },
                }
                if before == Closed { prop_assert_eq!(status, Closed); }
                if status == Closed && before != Closed { prop_assert_eq!(before, Solved); }
                if left_new { prop_assert_ne!(status, New); }
                left_new |= status != New;
            }
        }

        #[test]
        fn every_status_round_trips_through_text(s in any_status()) {
            prop_assert_eq!(Status::parse(s.as_str()), Some(s));
        }

        #[test]
        fn text_to_html_never_lets_markup_through(text in ".{0,200}") {
            let html = text_to_html(&text);
            let stripped = html.replace("<p>", "").replace("</p>", "").replace("<br>", "");
            prop_assert!(!stripped.contains('<'));
            prop_assert!(!stripped.contains('>'));
        }
    }
}
