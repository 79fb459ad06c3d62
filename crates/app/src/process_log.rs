//! Rapport's own event log as a process-mining log: a conversation is a case, and the events
//! of its audit trail map to activities by this table (events not listed are left out):
//!
//! | event | activity |
//! |---|---|
//! | `created` | Created |
//! | `message_added`, customer, after creation | Customer replied |
//! | `message_added`, reply, the first one | First reply |
//! | `message_added`, reply, later ones | Agent replied |
//! | `message_added`, note | Internal note |
//! | `status_changed` to pending / on hold / solved / closed | Pending / On hold / Solved / Closed |
//! | `status_changed` from solved or closed back to open | Reopened |
//! | `group_changed` to a group | Assigned to group NAME |
//! | `assignee_changed` to an agent | Assigned to agent |
//! | `priority_changed` | Priority raised / Priority lowered |
//! | `merged_into` | Merged |
//!
//! The resource is the agent's e-mail address, `customer`, `api token`, or `system`; the group
//! is the conversation's group at that moment.

use std::collections::HashMap;

use domain::{EventPayload, MessageKind, Principal, Status};
use mining::{EventFields, EventLog, LogBuilder, NONE};

use crate::{App, AppError, Result};

/// The kinds of event the table above maps; the log is read for these only, so the rest (SLA
/// transitions, mail, surveys, …) is skipped by the query itself.
pub(crate) const MAPPED_KINDS: &[&str] = &[
    "created",
    "message_added",
    "status_changed",
    "group_changed",
    "assignee_changed",
    "priority_changed",
    "merged_into",
];

/// Events read per page of the scan.
const PAGE: u32 = 10_000;

/// Who wrote an event, as the log row says.
#[derive(Clone, Copy)]
enum Author {
    Agent(i64),
    Customer,
    ApiToken,
    System,
}

/// One mapped event of a case, as read: its id (for the order), instant, author and payload.
type Read = (i64, i64, Author, EventPayload);

/// What the mapping remembers of a case while reading its events in order.
#[derive(Default)]
struct CaseState {
    /// The opening message (part of "Created") has been seen.
    opened: bool,
    replied: bool,
    group: Option<i64>,
}

/// Process maps and the log behind them are for managers and administrators (and Rapport).
pub(crate) fn may_mine(by: &Principal) -> Result<()> {
    let allowed = match by {
        Principal::System => true,
        Principal::Agent { role, .. } => *role >= domain::Role::Manager,
        _ => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "process maps are for managers and administrators".into(),
        ))
    }
}

impl App {
    /// The whole conversation log as an event log for process mining (managers and admins).
    pub async fn process_log(&self, by: &Principal) -> Result<EventLog> {
        may_mine(by)?;
        let groups: HashMap<i64, String> = self
            .store
            .groups()
            .await?
            .into_iter()
            .map(|g| (g.id, g.name))
            .collect();
        let agents: HashMap<i64, String> = self
            .store
            .agents()
            .await?
            .into_iter()
            .map(|a| (a.id, a.email))
            .collect();
        // Events arrive in log order, interleaved across conversations: gather each case's
        // events first (the store reads the next page on another thread meanwhile), then
        // map and build the log case by case.
        let mut cases: HashMap<i64, Vec<Read>> = HashMap::new();
        let mut pages = self.store.scan_event_pages(
            store::Cursor::default(),
            PAGE,
            store::ScanKinds::Only(MAPPED_KINDS),
        );
        while let Some(page) = pages.recv().await {
            let page = page?;
            for event in page.iter() {
                let Some(number) = event.conversation else {
                    continue;
                };
                let Ok(payload) = serde_json::from_str::<EventPayload>(event.payload) else {
                    continue;
                };
                let author = match (event.actor_kind, event.actor_id) {
                    ("agent", Some(id)) => Author::Agent(id),
                    ("customer", _) => Author::Customer,
                    ("api_token", _) => Author::ApiToken,
                    _ => Author::System,
                };
                cases
                    .entry(number)
                    .or_default()
                    .push((event.id, event.at, author, payload));
            }
            pages.recycle(page);
        }
        let mut numbers: Vec<i64> = cases.keys().copied().collect();
        numbers.sort_unstable();
        let total: usize = cases.values().map(Vec::len).sum();
        let mut builder = LogBuilder::with_capacity(total);
        for number in numbers {
            let Some(events) = cases.get_mut(&number) else {
                continue;
            };
            // On PostgreSQL the log comes in commit order; a case's steps go by event id.
            if !events.is_sorted_by_key(|read| read.0) {
                events.sort_by_key(|read| read.0);
            }
            let mut state = CaseState::default();
            let mut started = false;
            for (_, at, author, payload) in events.iter() {
                let Some(activity) = activity_of(payload, &mut state, &groups) else {
                    continue;
                };
                if !started {
                    builder.start_case();
                    let name = builder.intern(&number.to_string());
                    builder.set_case_name(name);
                    started = true;
                }
                let activity = builder.intern_activity(&activity);
                let resource = match author {
                    Author::Agent(id) => match agents.get(id) {
                        Some(email) => builder.intern(email),
                        None => builder.intern(&format!("agent {id}")),
                    },
                    Author::Customer => builder.intern("customer"),
                    Author::ApiToken => builder.intern("api token"),
                    Author::System => builder.intern("system"),
                };
                let group = match state.group.and_then(|g| groups.get(&g)) {
                    Some(name) => builder.intern(name),
                    None => NONE,
                };
                builder.push_event(EventFields {
                    activity,
                    lifecycle: NONE,
                    timestamp: *at,
                    resource,
                    group,
                });
            }
            if started {
                builder.end_case();
            }
        }
        Ok(builder.finish())
    }
}

/// The activity an event maps to (the table at the top), if any, updating what the case
/// remembers.
fn activity_of(
    payload: &EventPayload,
    state: &mut CaseState,
    groups: &HashMap<i64, String>,
) -> Option<String> {
    match payload {
        EventPayload::Created { group_id, .. } => {
            state.group = *group_id;
            Some("Created".to_string())
        }
        EventPayload::MessageAdded { message_kind, .. } => match message_kind {
            MessageKind::Customer => {
                let opening = !state.opened;
                state.opened = true;
                (!opening).then(|| "Customer replied".to_string())
            }
            MessageKind::Reply if !state.replied => {
                state.opened = true;
                state.replied = true;
                Some("First reply".to_string())
            }
            MessageKind::Reply => Some("Agent replied".to_string()),
            MessageKind::Note => Some("Internal note".to_string()),
        },
        EventPayload::StatusChanged { from, to } => match (from, to) {
            (Status::Solved | Status::Closed, Status::Open | Status::New) => {
                Some("Reopened".to_string())
            }
            (_, Status::Pending) => Some("Pending".to_string()),
            (_, Status::OnHold) => Some("On hold".to_string()),
            (_, Status::Solved) => Some("Solved".to_string()),
            (_, Status::Closed) => Some("Closed".to_string()),
            _ => None,
        },
        EventPayload::GroupChanged { to, .. } => {
            state.group = *to;
            to.map(|g| {
                format!(
                    "Assigned to group {}",
                    groups.get(&g).map_or("?", String::as_str)
                )
            })
        }
        EventPayload::AssigneeChanged { to: Some(_), .. } => Some("Assigned to agent".to_string()),
        EventPayload::PriorityChanged { from, to } => Some(if to > from {
            "Priority raised".to_string()
        } else {
            "Priority lowered".to_string()
        }),
        EventPayload::MergedInto { .. } => Some("Merged".to_string()),
        _ => None,
    }
}
