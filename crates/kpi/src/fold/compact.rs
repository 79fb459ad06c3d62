//! The payloads the fold reads, read by `domain::compact_json` (the compact JSON that
//! `serde_json` writes: top-level fields, once each, with plain values). [`FoldPayload::parse`]
//! tries it first, and gives any payload it does not take whole (whitespace, an escape, a
//! nested value, a field twice, a field missing or of the wrong type, an unknown value) to
//! serde, so it decides nothing that serde would decide otherwise; it only skips serde's work
//! on the payloads the log is made of.

use std::borrow::Cow;

use domain::compact_json::{fields, optional_int, required_int, required_text};
use domain::{Channel, MessageKind, Priority, SlaMetric, Status};

use super::{survey_measure, FoldPayload};

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
