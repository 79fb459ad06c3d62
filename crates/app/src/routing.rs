//! Channel routing: which group a conversation opened with the web form or the chat goes
//! to, like a mailbox's group for e-mail. The web form may offer topics, each routed to a
//! group ("Billing question" → Billing); otherwise its conversations go to the form's
//! default group. Administrators set it; each change is an event with the administrator.

use domain::{EventPayload, Principal};
use store::ChannelRouteRow;

use crate::admin::must_administer;
use crate::{record, App, AppError, Result};

/// The most topics a web form offers.
pub const MAX_WEB_FORM_TOPICS: usize = 20;
/// The longest topic label.
const MAX_TOPIC_CHARS: usize = 100;

/// Where new web form and chat conversations go.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChannelRouting {
    /// The web form's group when it offers no topics (or none: no group).
    pub web_group_id: Option<i64>,
    /// The topics the web form offers, in order, each with its group.
    pub web_topics: Vec<(String, i64)>,
    /// The group of new chats.
    pub chat_group_id: Option<i64>,
}

impl ChannelRouting {
    /// The group of a web form conversation about `topic` (the label the visitor chose; empty
    /// when the form offers none). A form with topics needs one of them.
    pub fn web_group(&self, topic: &str) -> Result<Option<i64>> {
        let topic = topic.trim();
        if self.web_topics.is_empty() {
            return Ok(self.web_group_id);
        }
        if topic.is_empty() {
            return Err(AppError::Invalid(
                "Choose the topic of your message.".into(),
            ));
        }
        self.web_topics
            .iter()
            .find(|(label, _)| label == topic)
            .map(|(_, group)| Some(*group))
            .ok_or_else(|| {
                AppError::Invalid(format!(
                    "“{topic}” is not one of the topics; choose one from the list."
                ))
            })
    }

    fn from_rows(rows: Vec<ChannelRouteRow>) -> ChannelRouting {
        let mut routing = ChannelRouting::default();
        for row in rows {
            match (row.channel.as_str(), row.topic.is_empty()) {
                ("web", true) => routing.web_group_id = Some(row.group_id),
                ("web", false) => routing.web_topics.push((row.topic, row.group_id)),
                ("chat", true) => routing.chat_group_id = Some(row.group_id),
                _ => {}
            }
        }
        routing
    }

    fn to_rows(&self) -> Vec<ChannelRouteRow> {
        let route = |channel: &str, topic: &str, group_id: i64, position: usize| ChannelRouteRow {
            channel: channel.into(),
            topic: topic.into(),
            group_id,
            position: i64::try_from(position).unwrap_or(i64::MAX),
        };
        let mut rows = Vec::new();
        if let Some(group) = self.web_group_id {
            rows.push(route("web", "", group, 0));
        }
        for (i, (topic, group)) in self.web_topics.iter().enumerate() {
            rows.push(route("web", topic, *group, i + 1));
        }
        if let Some(group) = self.chat_group_id {
            rows.push(route("chat", "", group, 0));
        }
        rows
    }
}

/// Reads topic lines as an administrator types them: `Topic = Group name`, one a line
/// (blank lines skipped), with the groups by name. Every problem is reported at once.
pub fn parse_web_topics(text: &str, groups: &[(i64, String)]) -> Result<Vec<(String, i64)>> {
    let mut topics: Vec<(String, i64)> = Vec::new();
    let mut problems = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let Some((topic, group)) = line.rsplit_once('=') else {
            problems.push(format!(
                "line {}: write “Topic = Group”, like “Billing question = Billing”",
                n + 1
            ));
            continue;
        };
        let (topic, group) = (topic.trim(), group.trim());
        match groups
            .iter()
            .find(|(_, name)| name.eq_ignore_ascii_case(group))
        {
            Some((id, _)) => topics.push((topic.to_string(), *id)),
            None => problems.push(format!("line {}: there is no group “{group}”", n + 1)),
        }
    }
    if !problems.is_empty() {
        return Err(AppError::Invalid(format!(
            "the topics: {}",
            problems.join("; ")
        )));
    }
    Ok(topics)
}

impl App {
    /// Where new web form and chat conversations go (anyone may read it: the form shows the
    /// topics).
    pub async fn channel_routing(&self) -> Result<ChannelRouting> {
        Ok(ChannelRouting::from_rows(
            self.store.channel_routes().await?,
        ))
    }

    /// Sets where new web form and chat conversations go (administrators only).
    pub async fn set_channel_routing(
        &self,
        by: &Principal,
        routing: ChannelRouting,
        now: i64,
    ) -> Result<ChannelRouting> {
        must_administer(by, "route the web form and the chat")?;
        let mut problems = Vec::new();
        if routing.web_topics.len() > MAX_WEB_FORM_TOPICS {
            problems.push(format!(
                "the web form offers at most {MAX_WEB_FORM_TOPICS} topics"
            ));
        }
        let mut seen: Vec<String> = Vec::new();
        for (topic, _) in &routing.web_topics {
            if topic.trim().is_empty() {
                problems.push("a topic needs a name".to_string());
            } else if topic.chars().count() > MAX_TOPIC_CHARS {
                problems.push(format!(
                    "the topic “{topic}” is longer than {MAX_TOPIC_CHARS} characters"
                ));
            } else if seen.iter().any(|s| s.eq_ignore_ascii_case(topic.trim())) {
                problems.push(format!("the topic “{topic}” is listed twice"));
            } else {
                seen.push(topic.trim().to_string());
            }
        }
        if !problems.is_empty() {
            return Err(AppError::Invalid(format!(
                "the topics: {}",
                problems.join("; ")
            )));
        }
        let routing = ChannelRouting {
            web_topics: routing
                .web_topics
                .into_iter()
                .map(|(topic, group)| (topic.trim().to_string(), group))
                .collect(),
            ..routing
        };
        let mut tx = self.store.begin().await?;
        let groups = routing
            .web_group_id
            .into_iter()
            .chain(routing.chat_group_id)
            .chain(routing.web_topics.iter().map(|(_, g)| *g));
        for group in groups {
            if tx.group(group).await?.is_none() {
                return Err(AppError::Invalid(format!(
                    "group {group} does not exist; add it first"
                )));
            }
        }
        let before = ChannelRouting::from_rows(self.store.channel_routes().await?);
        if before == routing {
            tx.rollback().await?;
            return Ok(routing);
        }
        tx.replace_channel_routes(&routing.to_rows()).await?;
        let changed = EventPayload::ChannelRoutingChanged {
            web_group_id: routing.web_group_id,
            web_topics: routing.web_topics.clone(),
            chat_group_id: routing.chat_group_id,
        };
        record(&mut tx, None, by.actor(), now, &changed).await?;
        tx.commit().await?;
        Ok(routing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn groups() -> Vec<(i64, String)> {
        vec![(1, "Support".into()), (2, "Billing".into())]
    }

    #[test]
    fn topic_lines_name_groups_and_every_bad_line_is_reported() {
        let topics = parse_web_topics(
            "Billing question = billing\n\n  Something broke = Support  \n",
            &groups(),
        );
        assert_eq!(
            topics.ok(),
            Some(vec![
                ("Billing question".to_string(), 2),
                ("Something broke".to_string(), 1)
            ])
        );
        let refused = parse_web_topics("Billing question\nSales = Sales", &groups());
        let message = refused.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            message.contains("line 1") && message.contains("line 2"),
            "{message}"
        );
        assert!(message.contains("no group “Sales”"), "{message}");
    }

    #[test]
    fn a_form_with_topics_routes_by_the_chosen_topic_and_needs_one() {
        let plain = ChannelRouting {
            web_group_id: Some(1),
            ..Default::default()
        };
        assert_eq!(plain.web_group("").ok(), Some(Some(1)));
        assert_eq!(plain.web_group("anything").ok(), Some(Some(1)));
        let with_topics = ChannelRouting {
            web_group_id: Some(1),
            web_topics: vec![("Billing question".into(), 2)],
            chat_group_id: None,
        };
        assert_eq!(
            with_topics.web_group("Billing question").ok(),
            Some(Some(2))
        );
        assert!(with_topics.web_group("").is_err());
        assert!(with_topics.web_group("Sales").is_err());
        assert_eq!(ChannelRouting::default().web_group("").ok(), Some(None));
    }

    #[test]
    fn routing_round_trips_through_its_rows() {
        let routing = ChannelRouting {
            web_group_id: Some(1),
            web_topics: vec![("A".into(), 2), ("B".into(), 1)],
            chat_group_id: Some(2),
        };
        assert_eq!(ChannelRouting::from_rows(routing.to_rows()), routing);
    }
}
