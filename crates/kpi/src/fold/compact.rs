//! A reader of the compact JSON that `serde_json` writes for the payloads the fold reads: the
//! object's top-level fields, once each, with plain values (text without escapes, whole
//! numbers, `null`, `true`, `false`). [`FoldPayload::parse`] tries it first, and gives any
//! payload it does not take whole (whitespace, an escape, a nested value, a field twice, a
//! field missing or of the wrong type, an unknown value) to serde, so it decides nothing that
//! serde would decide otherwise; it only skips serde's work on the payloads the log is made of.

use std::borrow::Cow;

use domain::{Channel, MessageKind, Priority, SlaMetric, Status};

use super::{survey_measure, FoldPayload};

/// A plain top-level value.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Raw<'a> {
    Text(&'a str),
    Int(i64),
    Null,
    Other,
}

/// The values of the fields `names` of the object `json` (`None` for a field it lacks), or
/// `None` when the text is not an object this reader takes whole (see the module's note).
fn fields<'a, const N: usize>(json: &'a str, names: [&str; N]) -> Option<[Option<Raw<'a>>; N]> {
    let bytes = json.as_bytes();
    let mut at = 0;
    let mut found: [Option<Raw<'a>>; N] = [None; N];
    if bytes.first() != Some(&b'{') {
        return None;
    }
    at += 1;
    if bytes.get(at) == Some(&b'}') {
        return (at + 1 == bytes.len()).then_some(found);
    }
    loop {
        let (key, after) = text(json, at)?;
        at = after;
        if bytes.get(at) != Some(&b':') {
            return None;
        }
        at += 1;
        let (value, after) = value(json, at)?;
        at = after;
        if let Some(slot) = names.iter().position(|name| *name == key) {
            let cell = found.get_mut(slot)?;
            if cell.is_some() {
                return None; // serde refuses a field given twice.
            }
            *cell = Some(value);
        }
        match bytes.get(at) {
            Some(b',') => at += 1,
            Some(b'}') if at + 1 == bytes.len() => return Some(found),
            _ => return None,
        }
    }
}

/// The text of a string starting at `at` (its opening quote) when it has no escape and no
/// control character, and the position after it.
fn text(json: &str, at: usize) -> Option<(&str, usize)> {
    let bytes = json.as_bytes();
    if bytes.get(at) != Some(&b'"') {
        return None;
    }
    let start = at + 1;
    let mut end = start;
    loop {
        match bytes.get(end)? {
            b'"' => break,
            b'\\' => return None,
            c if *c < 0x20 => return None,
            _ => end += 1,
        }
    }
    Some((json.get(start..end)?, end + 1))
}

/// The plain value starting at `at` and the position after it.
fn value(json: &str, at: usize) -> Option<(Raw<'_>, usize)> {
    let bytes = json.as_bytes();
    match bytes.get(at)? {
        b'"' => text(json, at).map(|(text, after)| (Raw::Text(text), after)),
        b'n' => literal(json, at, "null", Raw::Null),
        b't' => literal(json, at, "true", Raw::Other),
        b'f' => literal(json, at, "false", Raw::Other),
        b'-' | b'0'..=b'9' => {
            let digits_from = at + usize::from(bytes.get(at) == Some(&b'-'));
            let mut end = digits_from;
            while bytes.get(end).is_some_and(u8::is_ascii_digit) {
                end += 1;
            }
            let digits = end - digits_from;
            // JSON whole numbers only: no leading zero, no fraction or exponent.
            if digits == 0 || (digits > 1 && bytes.get(digits_from) == Some(&b'0')) {
                return None;
            }
            if matches!(bytes.get(end), Some(b'.' | b'e' | b'E')) {
                return None;
            }
            let number = json.get(at..end)?.parse().ok()?;
            Some((Raw::Int(number), end))
        }
        _ => None,
    }
}

fn literal<'a>(json: &'a str, at: usize, word: &str, raw: Raw<'a>) -> Option<(Raw<'a>, usize)> {
    json.get(at..at + word.len())
        .filter(|w| *w == word)
        .map(|_| (raw, at + word.len()))
}

/// A required field's text.
fn required_text<'a>(raw: Option<Raw<'a>>) -> Option<&'a str> {
    match raw? {
        Raw::Text(text) => Some(text),
        _ => None,
    }
}

/// A required whole number.
fn required_int(raw: Option<Raw<'_>>) -> Option<i64> {
    match raw? {
        Raw::Int(number) => Some(number),
        _ => None,
    }
}

/// An optional whole number as serde reads `Option<i64>`: missing or `null` is `None`; the
/// outer `None` means "not taken".
fn optional_int(raw: Option<Raw<'_>>) -> Option<Option<i64>> {
    match raw {
        None | Some(Raw::Null) => Some(None),
        Some(Raw::Int(number)) => Some(Some(number)),
        Some(_) => None,
    }
}

/// What [`FoldPayload::parse`] reads from `json` for `kind`, when this reader takes the payload
/// whole: `Some(Some(payload))`, `Some(None)` for a kind the fold does not read (or a survey of
/// another kind). `None`: not taken, ask serde.
pub(super) fn parse<'a>(kind: &str, json: &'a str) -> Option<Option<FoldPayload<'a>>> {
    Some(Some(match kind {
        "created" => {
            let [channel, status, priority, group, assignee] = fields(
                json,
                ["channel", "status", "priority", "group_id", "assignee_id"],
            )?;
            FoldPayload::Created {
                channel: Channel::parse(required_text(channel)?)?,
                status: Status::parse(required_text(status)?)?,
                priority: Priority::parse(required_text(priority)?)?,
                group: optional_int(group)?,
                assignee: optional_int(assignee)?,
            }
        }
        "message_added" => {
            let [kind] = fields(json, ["message_kind"])?;
            FoldPayload::MessageAdded {
                kind: MessageKind::parse(required_text(kind)?)?,
            }
        }
        "status_changed" => {
            let [to] = fields(json, ["to"])?;
            FoldPayload::StatusChanged {
                to: Status::parse(required_text(to)?)?,
            }
        }
        "priority_changed" => {
            let [to] = fields(json, ["to"])?;
            FoldPayload::PriorityChanged {
                to: Priority::parse(required_text(to)?)?,
            }
        }
        "group_changed" => {
            let [to] = fields(json, ["to"])?;
            FoldPayload::GroupChanged {
                to: optional_int(to)?,
            }
        }
        "assignee_changed" => {
            let [to] = fields(json, ["to"])?;
            FoldPayload::AssigneeChanged {
                to: optional_int(to)?,
            }
        }
        "tag_added" => {
            let [tag] = fields(json, ["tag"])?;
            FoldPayload::TagAdded {
                tag: Cow::Borrowed(required_text(tag)?),
            }
        }
        "tag_removed" => {
            let [tag] = fields(json, ["tag"])?;
            FoldPayload::TagRemoved {
                tag: Cow::Borrowed(required_text(tag)?),
            }
        }
        "sla_breached" | "sla_fulfilled" => {
            let [metric, cycle, at] = fields(json, ["metric", "cycle", "at"])?;
            FoldPayload::SlaCycleEnded {
                metric: SlaMetric::parse(required_text(metric)?)?,
                cycle: u32::try_from(required_int(cycle)?).ok()?,
                at: required_int(at)?,
                met: kind == "sla_fulfilled",
            }
        }
        "survey_answered" => {
            let [survey_kind, score, scale_min, scale_max, kudos] = fields(
                json,
                [
                    "survey_kind",
                    "score",
                    "scale_min",
                    "scale_max",
                    "kudos_agent_id",
                ],
            )?;
            let survey_kind = required_text(survey_kind)?;
            let score = required_int(score)?;
            let scale_min = required_int(scale_min)?;
            let scale_max = required_int(scale_max)?;
            let kudos_agent = optional_int(kudos)?;
            let Some(measure) = survey_measure(survey_kind) else {
                return Some(None);
            };
            FoldPayload::SurveyAnswered {
                measure,
                score,
                scale_min,
                scale_max,
                kudos_agent,
            }
        }
        _ => return Some(None),
    }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn takes_only_what_it_reads_whole() {
        assert_eq!(
            fields(r#"{"a":1,"b":"x","c":null}"#, ["b", "a", "d"]),
            Some([Some(Raw::Text("x")), Some(Raw::Int(1)), None])
        );
        for refused in [
            r#"{"a":1,"a":2}"#,
            r#"{"a": 1}"#,
            r#" {"a":1}"#,
            r#"{"a":1} "#,
            r#"{"a":1.0}"#,
            r#"{"a":01}"#,
            r#"{"a":1e3}"#,
            r#"{"a":"x\"y"}"#,
            r#"{"a":[1]}"#,
            r#"{"a":{}}"#,
            r#"{"a":1,}"#,
            r#"{"a":-}"#,
            r#"{"a":nul}"#,
            r#"{"a":99999999999999999999}"#,
            "{\"a\":\"x\ty\"}",
            "",
            "[]",
        ] {
            assert_eq!(fields(refused, ["a"]), None, "{refused}");
        }
        assert_eq!(fields("{}", ["a"]), Some([None]));
        assert_eq!(fields("{", ["a"]), None);
        assert_eq!(
            fields(r#"{"a":-0,"b":true,"c":false}"#, ["a", "b", "c"]),
            Some([Some(Raw::Int(0)), Some(Raw::Other), Some(Raw::Other)])
        );
    }

    /// The log's own payloads (as the synthetic log writes them) are all read here, not by
    /// serde, and read as the payload says.
    #[test]
    fn reads_the_payloads_the_log_is_made_of() {
        for (_, _, _, _, payload) in crate::synthetic::events(200, 0) {
            let json = payload.to_json();
            let read = parse(payload.kind(), &json);
            assert_eq!(read, Some(FoldPayload::of(&payload)), "{json}");
        }
    }
}
