//! What a clock reads of an event, as one short line of text: the log's `clock_input`
//! column, which the database derives from each event's payload (migration 0032), and which a
//! recompute reads instead of the payloads.
//!
//! An event of a kind in [`crate::CLOCK_INPUT_KINDS`] has the text below; any other event has
//! none (NULL). Words are separated by one space; values are the stable texts of the domain's
//! enums (`Status::as_str` and its kin) and whole numbers in decimal; `-` stands for no group.
//!
//! | kind               | text                                                    |
//! |--------------------|---------------------------------------------------------|
//! | `created`          | `c <channel> <status> <priority> <customer_id> <group>` |
//! | `message_added`    | `m <message_kind>`                                      |
//! | `status_changed`   | `s <to>`                                                |
//! | `priority_changed` | `p <to>`                                                |
//! | `group_changed`    | `g <to>`                                                |
//! | `tag_added`        | `+ <tag>` (the tag to the end of the text, spaces too)  |
//! | `tag_removed`      | `- <tag>`                                               |
//!
//! The database writes `?` when a payload lacks a field the clock reads: [`read_clock_input`]
//! reads no input from it (nor from any text it cannot read), and the event is left out, as
//! the live path (which reads the payload, [`crate::read_logged`]) leaves out a payload that
//! does not hold what its kind promises. The two readers agree on every payload the log's
//! writer makes (`EventPayload::to_json`); an integration test checks the database's texts
//! against [`clock_input_text`] on both databases.

use std::borrow::Cow;

use domain::{Channel, MessageKind, Priority, Status};

use crate::clock::ClockInput;

/// The text of the log's `clock_input` column for an event the clock reads as `input`.
pub fn clock_input_text(input: &ClockInput<'_>) -> String {
    let group = |group: &Option<i64>| group.map_or_else(|| "-".to_string(), |g| g.to_string());
    match input {
        ClockInput::Created {
            channel,
            status,
            priority,
            group: g,
            customer,
        } => format!("c {channel} {status} {priority} {customer} {}", group(g)),
        ClockInput::MessageAdded(kind) => format!("m {kind}"),
        ClockInput::StatusChanged(to) => format!("s {to}"),
        ClockInput::PriorityChanged(to) => format!("p {to}"),
        ClockInput::GroupChanged(to) => format!("g {}", group(to)),
        ClockInput::TagAdded(tag) => format!("+ {tag}"),
        ClockInput::TagRemoved(tag) => format!("- {tag}"),
    }
}

/// What the clock reads of an event, from the log's `clock_input` text ([`clock_input_text`]);
/// `None` for `?` and for any text that is not one of those above.
pub fn read_clock_input(text: &str) -> Option<ClockInput<'_>> {
    let (code, rest) = (text.get(..2)?, text.get(2..)?);
    Some(match code {
        "c " => {
            let mut words = rest.split(' ');
            let input = ClockInput::Created {
                channel: Channel::parse(words.next()?)?,
                status: Status::parse(words.next()?)?,
                priority: Priority::parse(words.next()?)?,
                customer: whole(words.next()?)?,
                group: group(words.next()?)?,
            };
            if words.next().is_some() {
                return None;
            }
            input
        }
        "m " => ClockInput::MessageAdded(MessageKind::parse(rest)?),
        "s " => ClockInput::StatusChanged(Status::parse(rest)?),
        "p " => ClockInput::PriorityChanged(Priority::parse(rest)?),
        "g " => ClockInput::GroupChanged(group(rest)?),
        "+ " => ClockInput::TagAdded(Cow::Borrowed(rest)),
        "- " => ClockInput::TagRemoved(Cow::Borrowed(rest)),
        _ => return None,
    })
}

/// A whole number as the database writes it: decimal digits, a leading `-` when negative.
fn whole(word: &str) -> Option<i64> {
    if word.starts_with('+') {
        return None;
    }
    word.parse().ok()
}

/// A group: a whole number, or `-` for none.
fn group(word: &str) -> Option<Option<i64>> {
    match word {
        "-" => Some(None),
        number => whole(number).map(Some),
    }
}
