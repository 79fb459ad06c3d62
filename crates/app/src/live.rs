//! The live feed of the workspace: the log's conversation events, each with the facts that
//! decide who may see its conversation, for a server that fans them out to signed-in agents
//! (server-sent events). Reading follows the consumer horizon, like every consumer, so on
//! PostgreSQL an event that commits late is delivered late, never skipped. Who sees what is
//! decided here, with the visibility rules of `domain::permission`.

use std::collections::HashMap;

use domain::permission::{Reach, Visibility};
use domain::{Actor, Principal};
use store::Cursor;

use crate::{App, AppError, Result};

/// An event of the log as the live feed carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveEvent {
    /// Where it is in the log (to resume after it).
    pub position: Cursor,
    pub id: i64,
    pub conversation: i64,
    pub kind: String,
    pub actor: Actor,
    pub at: i64,
    /// Who may see the conversation, as it was when the event was read.
    pub reach: Reach,
    /// For a change of group or assignee: who could see the conversation just before it (the
    /// reach with the old group or assignee), so an agent who loses sight of a conversation
    /// still hears that it left their lists and counts.
    pub reach_before: Option<Reach>,
}

/// Events read from the log: those about conversations, and the position after everything
/// read (events with no conversation are passed over, not shown).
#[derive(Debug, Clone, Default)]
pub struct LiveBatch {
    pub events: Vec<LiveEvent>,
    pub next: Cursor,
    /// How many events were read, shown or not (fewer than asked: the log is exhausted).
    pub read: usize,
}

/// The reach a conversation had just before a `group_changed` or `assignee_changed` event
/// (its payload's `from` in place of the current value); `None` for every other event.
fn reach_before(kind: &str, payload: &str, now: Reach) -> Option<Reach> {
    let field = match kind {
        "group_changed" | "assignee_changed" => kind,
        _ => return None,
    };
    let payload: serde_json::Value = serde_json::from_str(payload).ok()?;
    let from = payload.get("from")?.as_i64();
    Some(if field == "group_changed" {
        Reach {
            group_id: from,
            ..now
        }
    } else {
        Reach {
            assignee_id: from,
            ..now
        }
    })
}

/// Whom a live stream is for. Built by [`App::live_audience`], which refuses whoever may not
/// follow the team's log (customers, tokens that read no conversations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveAudience {
    principal: Principal,
}

impl LiveAudience {
    /// Whether this audience may see a conversation with this reach.
    pub fn sees(&self, reach: &Reach) -> bool {
        self.principal.can_see(reach)
    }

    /// Whether this audience hears of the event: it may see the conversation now, or could
    /// just before the event moved it away (its lists and queue counts changed either way).
    pub fn hears(&self, event: &LiveEvent) -> bool {
        self.sees(&event.reach) || event.reach_before.is_some_and(|before| self.sees(&before))
    }

    /// The agent behind the stream, if it is one.
    pub fn agent_id(&self) -> Option<i64> {
        match self.principal {
            Principal::Agent { id, .. } => Some(id),
            _ => None,
        }
    }
}

/// What a customer's open conversation page shows that can change: its status and its
/// public messages (never notes). The portal's live stream compares digests and tells the page
/// to refresh only when it changed, so a note, or anything about another conversation, sends
/// the customer nothing at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortalDigest(String);

impl PortalDigest {
    /// The digest of a conversation with this status and these public messages (oldest
    /// first; notes left out by the caller).
    pub fn new(status: domain::Status, public_message_ids: &[i64]) -> PortalDigest {
        PortalDigest(format!(
            "{}.{}.{}",
            status.as_str(),
            public_message_ids.len(),
            public_message_ids.last().copied().unwrap_or_default()
        ))
    }

    /// As the page carries it (`status.public_messages.last_public_message`).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the page rendered with `seen` (a digest it carried) shows this state.
    pub fn matches(&self, seen: &str) -> bool {
        self.0 == seen.trim()
    }
}

/// A log position as text (`tx_pos.event_id`), as the live feed hands it out in event ids.
pub fn position_text(position: Cursor) -> String {
    format!("{}.{}", position.tx_pos, position.event_id)
}

/// Reads a position written by [`position_text`].
pub fn parse_position(text: &str) -> Result<Cursor> {
    let bad = || {
        AppError::Invalid(format!(
            "{text:?} is not a position in the log this server handed out"
        ))
    };
    let (tx_pos, event_id) = text.trim().split_once('.').ok_or_else(bad)?;
    let tx_pos: i64 = tx_pos.parse().map_err(|_| bad())?;
    let event_id: i64 = event_id.parse().map_err(|_| bad())?;
    if tx_pos < 0 || event_id < 0 {
        return Err(bad());
    }
    Ok(Cursor { tx_pos, event_id })
}

impl App {
    /// The audience of a live stream for `by`: the service team follows the log of the
    /// conversations it may see; customers do not (the log is the team's audit trail).
    pub fn live_audience(&self, by: &Principal) -> Result<LiveAudience> {
        match (by, by.visibility()) {
            (Principal::Customer { .. }, _) => Err(AppError::Forbidden(
                "live updates of the workspace are for the service team".into(),
            )),
            (_, Visibility::Nothing) => Err(AppError::Forbidden(
                "this token may not read conversations".into(),
            )),
            _ => Ok(LiveAudience {
                principal: by.clone(),
            }),
        }
    }

    /// Where the log ends now (below the horizon): a live reader that wants only what comes
    /// next starts here.
    pub async fn live_head(&self) -> Result<Cursor> {
        Ok(self.store.log_head().await?)
    }

    /// Up to `limit` events after `after`, with the reach of their conversations, looked up
    /// once for the whole batch (so a server reads the log once for all its streams).
    pub async fn live_events_after(&self, after: Cursor, limit: u32) -> Result<LiveBatch> {
        let rows = self.store.events_after(after, limit).await?;
        let Some(last) = rows.last() else {
            return Ok(LiveBatch {
                events: Vec::new(),
                next: after,
                read: 0,
            });
        };
        let next = Cursor::after(last);
        let mut numbers: Vec<i64> = rows.iter().filter_map(|r| r.conversation).collect();
        numbers.sort_unstable();
        numbers.dedup();
        let reaches: HashMap<i64, Reach> = self
            .store
            .conversation_reaches(&numbers)
            .await?
            .into_iter()
            .map(|(number, group_id, assignee_id, customer_id)| {
                (
                    number,
                    Reach {
                        group_id,
                        assignee_id,
                        customer_id,
                    },
                )
            })
            .collect();
        let read = rows.len();
        let events = rows
            .into_iter()
            .filter_map(|row| {
                let conversation = row.conversation?;
                let reach = *reaches.get(&conversation)?;
                let actor = Actor::from_parts(&row.actor_kind, row.actor_id)?;
                let reach_before = reach_before(&row.kind, &row.payload, reach);
                Some(LiveEvent {
                    position: Cursor::after(&row),
                    id: row.id,
                    conversation,
                    kind: row.kind,
                    actor,
                    at: row.at,
                    reach,
                    reach_before,
                })
            })
            .collect();
        Ok(LiveBatch { events, next, read })
    }

    /// The digest of a customer's own conversation as the portal shows it (`NotFound` for a
    /// conversation that is not theirs; the portal's live stream is for customers only).
    pub async fn portal_digest(&self, by: &Principal, number: i64) -> Result<PortalDigest> {
        if !matches!(by, Principal::Customer { .. }) {
            return Err(AppError::Forbidden(
                "the portal's live updates are for customers".into(),
            ));
        }
        let view = self.conversation(by, number).await?;
        let public: Vec<i64> = self
            .store
            .messages(number)
            .await?
            .into_iter()
            .filter(|m| m.kind != domain::MessageKind::Note.as_str())
            .map(|m| m.id)
            .collect();
        Ok(PortalDigest::new(view.status, &public))
    }

    /// The reach of a conversation that `by` may see (`NotFound` otherwise): what presence
    /// on a conversation is shown to.
    pub async fn conversation_reach(&self, by: &Principal, number: i64) -> Result<Reach> {
        let not_found = || AppError::NotFound(format!("conversation {number}"));
        let row = self
            .store
            .conversation(number)
            .await?
            .ok_or_else(not_found)?;
        let reach = Reach {
            group_id: row.group_id,
            assignee_id: row.assignee_id,
            customer_id: row.customer_id,
        };
        if !by.can_see(&reach) {
            return Err(not_found());
        }
        Ok(reach)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_round_trip_and_anything_else_is_refused() {
        for position in [
            Cursor::default(),
            Cursor {
                tx_pos: 0,
                event_id: 42,
            },
            Cursor {
                tx_pos: 7_000_123,
                event_id: 99,
            },
        ] {
            assert_eq!(
                parse_position(&position_text(position)).ok(),
                Some(position)
            );
        }
        for bad in ["", "12", "a.b", "1.-2", "-1.2", "1.2.3"] {
            assert!(parse_position(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_change_of_group_or_assignee_is_also_heard_by_whoever_saw_it_before() {
        let now = Reach {
            group_id: Some(2),
            assignee_id: None,
            customer_id: 9,
        };
        let moved = reach_before(
            "group_changed",
            r#"{"kind":"group_changed","from":1,"to":2}"#,
            now,
        );
        assert_eq!(
            moved,
            Some(Reach {
                group_id: Some(1),
                ..now
            })
        );
        let unassigned = reach_before(
            "assignee_changed",
            r#"{"kind":"assignee_changed","from":7,"to":null}"#,
            now,
        );
        assert_eq!(
            unassigned,
            Some(Reach {
                assignee_id: Some(7),
                ..now
            })
        );
        let from_nobody = reach_before(
            "assignee_changed",
            r#"{"kind":"assignee_changed","from":null,"to":7}"#,
            now,
        );
        assert_eq!(
            from_nobody,
            Some(Reach {
                assignee_id: None,
                ..now
            })
        );
        assert_eq!(
            reach_before("status_changed", r#"{"from":"open","to":"solved"}"#, now),
            None
        );
        assert_eq!(reach_before("group_changed", "not json", now), None);

        let agent_of_group_1 = LiveAudience {
            principal: Principal::Agent {
                id: 5,
                role: domain::Role::Agent,
                groups: vec![1],
            },
        };
        let event = |kind: &str, reach_before| LiveEvent {
            position: Cursor::default(),
            id: 1,
            conversation: 3,
            kind: kind.into(),
            actor: Actor::System,
            at: 0,
            reach: now,
            reach_before,
        };
        assert!(agent_of_group_1.hears(&event("group_changed", moved)));
        assert!(!agent_of_group_1.hears(&event("message_added", None)));
    }
}
