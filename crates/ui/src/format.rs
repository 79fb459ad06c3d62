//! How values read on a page: times, statuses, priorities, event descriptions.

use std::collections::HashMap;

use app::EventView;
use domain::Status;

/// `2026-01-01 10:00 UTC` (the script turns it into the reader's local time).
pub(crate) fn time(millis: i64) -> String {
    match jiff::Timestamp::from_millisecond(millis) {
        Ok(ts) => ts.strftime("%Y-%m-%d %H:%M UTC").to_string(),
        Err(_) => String::new(),
    }
}

/// RFC 3339, for `<time datetime>`.
pub(crate) fn iso(millis: i64) -> String {
    match jiff::Timestamp::from_millisecond(millis) {
        Ok(ts) => ts.to_string(),
        Err(_) => String::new(),
    }
}

pub(crate) fn status_label(status: Status) -> &'static str {
    match status {
        Status::New => "New",
        Status::Open => "Open",
        Status::Pending => "Pending",
        Status::OnHold => "On hold",
        Status::Solved => "Solved",
        Status::Closed => "Closed",
    }
}

/// What a customer reads about their request.
pub(crate) fn customer_status_label(status: Status) -> &'static str {
    match status {
        Status::New | Status::Open => "Open",
        Status::Pending => "Awaiting your reply",
        Status::OnHold => "In progress",
        Status::Solved => "Solved",
        Status::Closed => "Closed",
    }
}

pub(crate) fn size(bytes: i64) -> String {
    match bytes {
        b if b < 1024 => format!("{b} B"),
        b if b < 1024 * 1024 => format!("{} KB", b / 1024),
        b => format!("{:.1} MB", b as f64 / (1024.0 * 1024.0)),
    }
}

/// Names for the ids an event mentions.
pub(crate) struct Names {
    pub(crate) agents: HashMap<i64, String>,
    pub(crate) groups: HashMap<i64, String>,
}

impl Names {
    fn agent(&self, id: Option<i64>) -> String {
        match id {
            None => "nobody".into(),
            Some(id) => self
                .agents
                .get(&id)
                .cloned()
                .unwrap_or_else(|| format!("agent {id}")),
        }
    }

    fn group(&self, id: Option<i64>) -> String {
        match id {
            None => "no group".into(),
            Some(id) => self
                .groups
                .get(&id)
                .cloned()
                .unwrap_or_else(|| format!("group {id}")),
        }
    }

    pub(crate) fn actor(&self, actor: &domain::Actor, customer: &str) -> String {
        match actor {
            domain::Actor::Agent(id) => self.agent(Some(*id)),
            domain::Actor::Customer(_) => customer.to_string(),
            domain::Actor::ApiToken(id) => format!("API token {id}"),
            domain::Actor::System => "Rapport".into(),
        }
    }
}

/// One line about an event, or `None` for events the timeline shows otherwise (messages).
pub(crate) fn describe_event(event: &EventView, names: &Names) -> Option<String> {
    let p = &event.payload;
    let text = |key: &str| p[key].as_str().unwrap_or_default().replace('_', " ");
    let id = |key: &str| p[key].as_i64();
    Some(match event.kind.as_str() {
        "message_added" | "mail_received" | "mail_processed" => return None,
        "created" => format!("opened by {}", text("channel")),
        "status_changed" => format!("status {} → {}", text("from"), text("to")),
        "priority_changed" => format!("priority {} → {}", text("from"), text("to")),
        "group_changed" => format!(
            "group {} → {}",
            names.group(id("from")),
            names.group(id("to"))
        ),
        "assignee_changed" => format!(
            "assigned {} → {}",
            names.agent(id("from")),
            names.agent(id("to"))
        ),
        "subject_changed" => format!("subject changed to “{}”", text("to")),
        "tag_added" => format!("tag {} added", text("tag")),
        "tag_removed" => format!("tag {} removed", text("tag")),
        "field_set" => format!("field {} set to {}", text("name"), p["value"]),
        "merged_into" => format!("merged into #{}", id("target").unwrap_or_default()),
        "merged_from" => format!("#{} merged into this one", id("source").unwrap_or_default()),
        "follow_up_created" => format!("follow-up #{} opened", id("follow_up").unwrap_or_default()),
        "mail_queued" => "e-mail queued".into(),
        "chat_started" => "chat started".into(),
        "chat_ended" => "the customer ended the chat".into(),
        "chat_transcript_queued" => "chat transcript sent to the customer".into(),
        "chat_email_code_queued" => "code sent to confirm the chat's e-mail address".into(),
        "chat_email_verified" => "the customer confirmed the chat's e-mail address".into(),
        "mail_delivery" => match p["error"].as_str().filter(|e| !e.is_empty()) {
            Some(error) => format!("e-mail {}: {error}", text("state")),
            None => format!("e-mail {}", text("state")),
        },
        "survey_sent" => format!(
            "{} survey sent ({})",
            text("survey_kind").to_uppercase(),
            text("channel")
        ),
        "survey_answered" => format!(
            "{} survey answered: {} on {}–{}{}",
            text("survey_kind").to_uppercase(),
            id("score").unwrap_or_default(),
            id("scale_min").unwrap_or_default(),
            id("scale_max").unwrap_or_default(),
            match id("kudos_agent_id") {
                Some(agent) => format!(", kudos to {}", names.agent(Some(agent))),
                None => String::new(),
            }
        ),
        other => other.replace('_', " "),
    })
}

/// A length of time as a person reads it: `45m`, `2h 05m`, `3d 4h` (the sign is dropped).
pub(crate) fn duration(millis: i64) -> String {
    let minutes = millis.unsigned_abs() / 60_000;
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    if days > 0 {
        format!("{days}d {hours}h")
    } else if hours > 0 {
        format!("{hours}h {minutes:02}m")
    } else {
        format!("{minutes}m")
    }
}

pub(crate) fn sla_metric_label(metric: domain::SlaMetric) -> &'static str {
    match metric {
        domain::SlaMetric::FirstReply => "First reply",
        domain::SlaMetric::NextReply => "Next reply",
        domain::SlaMetric::PeriodicUpdate => "Periodic update",
        domain::SlaMetric::Resolution => "Resolution",
    }
}

#[cfg(test)]
mod duration_tests {
    use super::duration;

    #[test]
    fn durations_read_in_the_largest_useful_units() {
        assert_eq!(duration(0), "0m");
        assert_eq!(duration(45 * 60_000 + 59_999), "45m");
        assert_eq!(duration(-(125 * 60_000)), "2h 05m");
        assert_eq!(duration((3 * 1440 + 4 * 60 + 7) * 60_000), "3d 4h");
    }
}

#[cfg(test)]
mod event_tests {
    use super::{describe_event, Names};

    #[test]
    fn a_delivery_reads_with_its_state_and_the_reason_it_failed() {
        let names = Names {
            agents: Default::default(),
            groups: Default::default(),
        };
        let delivery = |payload: serde_json::Value| {
            let event = app::EventView {
                id: 1,
                conversation: Some(1),
                kind: "mail_delivery".into(),
                actor: domain::Actor::System,
                at: 0,
                payload,
            };
            describe_event(&event, &names)
        };
        assert_eq!(
            delivery(serde_json::json!({"outbound_id": 1, "state": "sent", "error": null})),
            Some("e-mail sent".into())
        );
        assert_eq!(
            delivery(
                serde_json::json!({"outbound_id": 1, "state": "failed", "error": "550 5.1.1 user unknown"})
            ),
            Some("e-mail failed: 550 5.1.1 user unknown".into())
        );
    }
}
