//! Events: the immutable record of every change. An event is written in the same
//! transaction as the change it explains; the audit trail, SLA clocks, roll-ups and
//! process maps are all read from them.

use serde::{Deserialize, Serialize};

use crate::conversation::{Channel, MessageKind, Priority, Status};

/// What happened, with the facts needed to replay it. The `kind` tag is the stored
/// event kind; the rest is the stored payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventPayload {
    /// A conversation began.
    Created {
        subject: String,
        channel: Channel,
        status: Status,
        priority: Priority,
        customer_id: i64,
        group_id: Option<i64>,
        assignee_id: Option<i64>,
    },
    /// A message was added: the customer's, a public reply or an internal note.
    MessageAdded {
        message_id: i64,
        message_kind: MessageKind,
        channel: Channel,
    },
    StatusChanged {
        from: Status,
        to: Status,
    },
    PriorityChanged {
        from: Priority,
        to: Priority,
    },
    GroupChanged {
        from: Option<i64>,
        to: Option<i64>,
    },
    AssigneeChanged {
        from: Option<i64>,
        to: Option<i64>,
    },
    SubjectChanged {
        from: String,
        to: String,
    },
    TagAdded {
        tag: String,
    },
    TagRemoved {
        tag: String,
    },
    /// A custom field was set (`value` is `null` when it was cleared).
    FieldSet {
        name: String,
        value: serde_json::Value,
    },
    /// This conversation was merged into `target`; it now only points there.
    MergedInto {
        target: i64,
    },
    /// Conversation `source` was merged into this one; its messages moved here.
    MergedFrom {
        source: i64,
        messages_moved: i64,
    },
    /// A closed conversation got a follow-up: the customer wrote again.
    FollowUpCreated {
        follow_up: i64,
    },
    /// Two customer records were found to be one person (no conversation: `conversation` is empty).
    CustomerMerged {
        source: i64,
        target: i64,
    },
    /// A support address was configured (no conversation).
    MailboxAdded {
        address: String,
        group_id: Option<i64>,
    },
    /// A message was accepted from SMTP, LMTP, IMAP or an import and stored raw, before the
    /// sender was told so (no conversation yet: `inbound_id` names it).
    MailReceived {
        inbound_id: i64,
        transport: String,
        size: i64,
    },
    /// What an accepted message became: a message, a bounce, a complaint, noise, or a
    /// quarantine entry, with the reason.
    MailProcessed {
        inbound_id: i64,
        outcome: String,
        reason: Option<String>,
    },
    /// An administrator released a quarantined message for processing.
    MailReleased {
        inbound_id: i64,
    },
    /// An API token was revoked (no conversation).
    TokenRevoked {
        token_id: i64,
    },
    /// An e-mail was queued for sending (a reply, or an automatic acknowledgement).
    MailQueued {
        outbound_id: i64,
        message_id: Option<i64>,
        automatic: bool,
    },
    /// A delivery attempt's outcome: sent, deferred (will retry) or failed, with the reason.
    MailDelivery {
        outbound_id: i64,
        state: String,
        error: Option<String>,
    },
    /// An SLA target now applies to a cycle of a metric (it started, or its target changed).
    /// `policy_id`, `target_ms` and `basis` are empty when no target applies any more.
    SlaApplied {
        metric: SlaMetric,
        cycle: u32,
        at: i64,
        policy_id: Option<i64>,
        target_ms: Option<i64>,
        basis: Option<SlaBasis>,
    },
    /// An SLA clock stopped counting (pending, on hold when the policy says so, solved).
    SlaPaused {
        metric: SlaMetric,
        cycle: u32,
        at: i64,
    },
    /// An SLA clock counts again.
    SlaResumed {
        metric: SlaMetric,
        cycle: u32,
        at: i64,
    },
    /// The warning share of an SLA target elapsed (`at`: when it fell due).
    SlaWarned {
        metric: SlaMetric,
        cycle: u32,
        at: i64,
    },
    /// An SLA target elapsed unmet (`at`: when it fell due).
    SlaBreached {
        metric: SlaMetric,
        cycle: u32,
        at: i64,
    },
    /// An SLA target was met.
    SlaFulfilled {
        metric: SlaMetric,
        cycle: u32,
        at: i64,
    },
    /// A warning or breach was escalated: `notified` is the group's lead who was told,
    /// and on a breach the priority was raised and the conversation handed to that lead.
    SlaEscalated {
        metric: SlaMetric,
        cycle: u32,
        /// `warned` or `breached`.
        reason: String,
        notified: Option<i64>,
    },
    /// A satisfaction survey was sent for a solved conversation.
    SurveySent {
        survey_id: i64,
        /// `csat`, `ces` or `nps`. Stored as `survey_kind`: `kind` is the event's own tag.
        #[serde(rename = "survey_kind")]
        kind: String,
        /// `email` or `portal`.
        channel: String,
    },
    /// A customer answered a survey (only a human submit records it).
    SurveyAnswered {
        survey_id: i64,
        /// `csat`, `ces` or `nps`. Stored as `survey_kind`: `kind` is the event's own tag.
        #[serde(rename = "survey_kind")]
        kind: String,
        /// On the survey's scale.
        score: i64,
        /// CSAT 1..5 by default (configurable), CES 1..7, NPS 0..10.
        scale_min: i64,
        scale_max: i64,
        comment: Option<String>,
        kudos_agent_id: Option<i64>,
    },
    /// A customer answered priorities research: importance and performance of each service
    /// attribute (no conversation).
    PrioritiesAnswered {
        response_id: i64,
        attributes_rated: i64,
    },
    /// A customer asked for a sign-in link to the portal, and one was queued by e-mail
    /// (no conversation; only a hash of the link's secret is kept).
    PortalLinkIssued {
        link_id: i64,
        outbound_id: i64,
    },
    /// A customer signed in to the portal with a sign-in link (no conversation).
    PortalLinkUsed {
        link_id: i64,
    },
    /// An administrator changed a KPI's target, thresholds or owner (no conversation).
    KpiSettingsChanged {
        key: String,
        target: Option<f64>,
        amber: Option<f64>,
        red: Option<f64>,
        owner: String,
    },
    /// A KPI crossed a threshold (team-wide, over the rolling period): an exception alert.
    /// `from` is empty the first time the KPI is judged.
    KpiAlerted {
        key: String,
        from: Option<String>,
        to: String,
        value: Option<f64>,
    },
    /// An administrator imported a set of published benchmark figures.
    BenchmarksImported {
        set_name: String,
        rows: i64,
    },
    /// An administrator changed the survey settings (no conversation): the settings now in
    /// force, which apply to conversations solved from then on.
    SurveySettingsChanged {
        enabled: bool,
        /// `csat`, `ces` or `nps`.
        survey_kind: String,
        csat_scale_min: i64,
        csat_scale_max: i64,
        /// Empty: the kind's default question.
        question: String,
        delay_minutes: i64,
        /// `email` or `portal`.
        channel: String,
        /// The share of solved conversations surveyed, 0 to 1.
        sampling_rate: f64,
        min_days_between: i64,
        answer_days: i64,
        public_url: String,
    },
    /// A manager recorded an improvement initiative: a change, when it started and the KPI it
    /// should move (no conversation).
    InitiativeRecorded {
        initiative_id: i64,
        name: String,
        kpi: String,
        started_at: i64,
    },
    /// A customer started a live chat from the widget; its first message opened the
    /// conversation (`identity`: `email` when the chat handle's customer already owned the
    /// address they gave, else `chat`: a typed address is not trusted until confirmed).
    ChatStarted {
        chat_id: i64,
        identity: String,
    },
    /// The customer ended the chat.
    ChatEnded {
        chat_id: i64,
    },
    /// The customer asked for the chat's transcript by e-mail; it was queued.
    ChatTranscriptQueued {
        chat_id: i64,
        outbound_id: i64,
    },
    /// A code to confirm the e-mail address given in a chat was queued for that address.
    ChatEmailCodeQueued {
        chat_id: i64,
        outbound_id: i64,
    },
    /// The customer typed the code: the chat's address is theirs, and the chat belongs to the
    /// customer who owns it (`customer_id`).
    ChatEmailVerified {
        chat_id: i64,
        customer_id: i64,
    },
    /// An administrator added an agent (no conversation).
    AgentAdded {
        agent_id: i64,
        email: String,
        role: String,
    },
    /// An administrator changed an agent's role (no conversation).
    AgentRoleChanged {
        agent_id: i64,
        from: String,
        to: String,
    },
    /// An administrator deactivated an agent: they can no longer sign in (no conversation).
    AgentDeactivated {
        agent_id: i64,
    },
    /// An administrator added a group (no conversation).
    GroupAdded {
        group_id: i64,
        name: String,
    },
    /// An administrator added an agent to a group (`member`) or took them out of it.
    GroupMembershipChanged {
        group_id: i64,
        agent_id: i64,
        member: bool,
    },
    /// An administrator changed a support address: its name, group or acknowledgement.
    MailboxChanged {
        mailbox_id: i64,
        address: String,
        group_id: Option<i64>,
        acknowledge: bool,
    },
    /// An administrator added, changed or deleted a business calendar (`change`:
    /// `added`, `updated` or `deleted`; no conversation).
    SlaCalendarChanged {
        calendar_id: i64,
        name: String,
        change: String,
    },
    /// An administrator added, changed or deleted an SLA policy (`change` as for calendars).
    SlaPolicyChanged {
        policy_id: i64,
        name: String,
        change: String,
    },
    /// An administrator changed where the web form's and the chat's new conversations go
    /// (no conversation): the routing now in force.
    ChannelRoutingChanged {
        web_group_id: Option<i64>,
        /// The web form's topics and their groups, in the form's order.
        web_topics: Vec<(String, i64)>,
        chat_group_id: Option<i64>,
    },
}

/// What an SLA target measures (the definitions are in the `sla` crate).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaMetric {
    /// Creation to the first public agent reply.
    FirstReply,
    /// A customer message after an agent reply, to the next public agent reply.
    NextReply,
    /// One public agent reply to the next, while the team owes the customer news.
    PeriodicUpdate,
    /// Creation to solved, with time spent solved left out after a reopen.
    Resolution,
}

impl SlaMetric {
    /// Every metric, in a fixed order.
    pub const ALL: [SlaMetric; 4] = [
        SlaMetric::FirstReply,
        SlaMetric::NextReply,
        SlaMetric::PeriodicUpdate,
        SlaMetric::Resolution,
    ];

    /// The stable text form.
    pub fn as_str(self) -> &'static str {
        match self {
            SlaMetric::FirstReply => "first_reply",
            SlaMetric::NextReply => "next_reply",
            SlaMetric::PeriodicUpdate => "periodic_update",
            SlaMetric::Resolution => "resolution",
        }
    }

    /// The metric of a text form.
    pub fn parse(text: &str) -> Option<SlaMetric> {
        SlaMetric::ALL.into_iter().find(|m| m.as_str() == text)
    }

    /// The position in [`SlaMetric::ALL`].
    pub fn index(self) -> usize {
        match self {
            SlaMetric::FirstReply => 0,
            SlaMetric::NextReply => 1,
            SlaMetric::PeriodicUpdate => 2,
            SlaMetric::Resolution => 3,
        }
    }
}

/// How an SLA target's time is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SlaBasis {
    /// Only while the policy's calendar is open.
    Business,
    /// Around the clock.
    Calendar,
}

impl SlaBasis {
    /// The stable text form.
    pub fn as_str(self) -> &'static str {
        match self {
            SlaBasis::Business => "business",
            SlaBasis::Calendar => "calendar",
        }
    }

    /// Parses the text form; `None` for anything else.
    pub fn parse(text: &str) -> Option<SlaBasis> {
        match text {
            "business" => Some(SlaBasis::Business),
            "calendar" => Some(SlaBasis::Calendar),
            _ => None,
        }
    }
}

/// The stored name of an event kind.
pub type EventKind = &'static str;

impl EventPayload {
    /// The stored kind, as in the `kind` tag.
    pub fn kind(&self) -> EventKind {
        match self {
            EventPayload::Created { .. } => "created",
            EventPayload::MessageAdded { .. } => "message_added",
            EventPayload::StatusChanged { .. } => "status_changed",
            EventPayload::PriorityChanged { .. } => "priority_changed",
            EventPayload::GroupChanged { .. } => "group_changed",
            EventPayload::AssigneeChanged { .. } => "assignee_changed",
            EventPayload::SubjectChanged { .. } => "subject_changed",
            EventPayload::TagAdded { .. } => "tag_added",
            EventPayload::TagRemoved { .. } => "tag_removed",
            EventPayload::FieldSet { .. } => "field_set",
            EventPayload::MergedInto { .. } => "merged_into",
            EventPayload::MergedFrom { .. } => "merged_from",
            EventPayload::FollowUpCreated { .. } => "follow_up_created",
            EventPayload::CustomerMerged { .. } => "customer_merged",
            EventPayload::MailboxAdded { .. } => "mailbox_added",
            EventPayload::MailReceived { .. } => "mail_received",
            EventPayload::MailProcessed { .. } => "mail_processed",
            EventPayload::MailReleased { .. } => "mail_released",
            EventPayload::SlaApplied { .. } => "sla_applied",
            EventPayload::SlaPaused { .. } => "sla_paused",
            EventPayload::SlaResumed { .. } => "sla_resumed",
            EventPayload::SlaWarned { .. } => "sla_warned",
            EventPayload::SlaBreached { .. } => "sla_breached",
            EventPayload::SlaFulfilled { .. } => "sla_fulfilled",
            EventPayload::SlaEscalated { .. } => "sla_escalated",
            EventPayload::TokenRevoked { .. } => "token_revoked",
            EventPayload::MailQueued { .. } => "mail_queued",
            EventPayload::MailDelivery { .. } => "mail_delivery",
            EventPayload::SurveySent { .. } => "survey_sent",
            EventPayload::SurveyAnswered { .. } => "survey_answered",
            EventPayload::PrioritiesAnswered { .. } => "priorities_answered",
            EventPayload::PortalLinkIssued { .. } => "portal_link_issued",
            EventPayload::PortalLinkUsed { .. } => "portal_link_used",
            EventPayload::KpiSettingsChanged { .. } => "kpi_settings_changed",
            EventPayload::KpiAlerted { .. } => "kpi_alerted",
            EventPayload::BenchmarksImported { .. } => "benchmarks_imported",
            EventPayload::SurveySettingsChanged { .. } => "survey_settings_changed",
            EventPayload::InitiativeRecorded { .. } => "initiative_recorded",
            EventPayload::ChatStarted { .. } => "chat_started",
            EventPayload::ChatEnded { .. } => "chat_ended",
            EventPayload::ChatTranscriptQueued { .. } => "chat_transcript_queued",
            EventPayload::ChatEmailCodeQueued { .. } => "chat_email_code_queued",
            EventPayload::ChatEmailVerified { .. } => "chat_email_verified",
            EventPayload::AgentAdded { .. } => "agent_added",
            EventPayload::AgentRoleChanged { .. } => "agent_role_changed",
            EventPayload::AgentDeactivated { .. } => "agent_deactivated",
            EventPayload::GroupAdded { .. } => "group_added",
            EventPayload::GroupMembershipChanged { .. } => "group_membership_changed",
            EventPayload::MailboxChanged { .. } => "mailbox_changed",
            EventPayload::SlaCalendarChanged { .. } => "sla_calendar_changed",
            EventPayload::SlaPolicyChanged { .. } => "sla_policy_changed",
            EventPayload::ChannelRoutingChanged { .. } => "channel_routing_changed",
        }
    }

    /// The payload as stored (JSON text, including the kind tag).
    pub fn to_json(&self) -> String {
        // Serialising a plain enum of strings, numbers and JSON values cannot fail.
        serde_json::to_string(self).unwrap_or_else(|_| format!("{{\"kind\":\"{}\"}}", self.kind()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kind_tag_matches_the_stored_kind() {
        let samples = [
            EventPayload::StatusChanged {
                from: Status::New,
                to: Status::Open,
            },
            EventPayload::TagAdded { tag: "vip".into() },
            EventPayload::MergedFrom {
                source: 4,
                messages_moved: 2,
            },
            EventPayload::CustomerMerged {
                source: 1,
                target: 2,
            },
            EventPayload::SlaApplied {
                metric: SlaMetric::FirstReply,
                cycle: 1,
                at: 5,
                policy_id: Some(2),
                target_ms: Some(60_000),
                basis: Some(SlaBasis::Business),
            },
            EventPayload::SlaBreached {
                metric: SlaMetric::NextReply,
                cycle: 3,
                at: 9,
            },
            EventPayload::SurveySent {
                survey_id: 1,
                kind: "csat".into(),
                channel: "email".into(),
            },
            EventPayload::SurveyAnswered {
                survey_id: 1,
                kind: "nps".into(),
                score: 9,
                scale_min: 0,
                scale_max: 10,
                comment: Some("quick".into()),
                kudos_agent_id: Some(3),
            },
            EventPayload::SurveySettingsChanged {
                enabled: true,
                survey_kind: "ces".into(),
                csat_scale_min: 1,
                csat_scale_max: 5,
                question: String::new(),
                delay_minutes: 60,
                channel: "portal".into(),
                sampling_rate: 0.5,
                min_days_between: 30,
                answer_days: 14,
                public_url: "https://help.example.test/".into(),
            },
            EventPayload::ChannelRoutingChanged {
                web_group_id: Some(1),
                web_topics: vec![("Billing question".into(), 2)],
                chat_group_id: None,
            },
        ];
        for payload in samples {
            let value: serde_json::Value =
                serde_json::from_str(&payload.to_json()).unwrap_or_default();
            assert_eq!(value["kind"], payload.kind());
            let back: EventPayload = serde_json::from_value(value)
                .unwrap_or(EventPayload::TagAdded { tag: String::new() });
            assert_eq!(back, payload);
        }
    }
}
