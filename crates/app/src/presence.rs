//! Presence: who of the team is viewing or replying to a conversation now. It lives in the
//! store (`store/src/presence.rs`), so an agent on one node sees a colleague on another, and
//! each node's live poller follows it through a change counter.
//!
//! Presence is not an event in the log: it changes nothing about a conversation, it is gone
//! after [`PRESENCE_TTL_MILLIS`] unless renewed, and the log is the audit trail of what
//! happened to conversations. A presence write is still a transaction of its own.

use std::collections::BTreeMap;

use domain::permission::Reach;
use domain::Principal;
use store::PresenceRow;

use crate::{App, AppError, Result};

/// Presence lasts this long unless renewed (the page renews it every 10 s).
pub const PRESENCE_TTL_MILLIS: i64 = 30_000;

/// What an agent is doing on a conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PresenceState {
    Viewing,
    Typing,
}

impl PresenceState {
    pub fn as_str(self) -> &'static str {
        match self {
            PresenceState::Viewing => "viewing",
            PresenceState::Typing => "typing",
        }
    }

    /// Reads a stored or posted state (`viewing`, `typing`).
    pub fn parse(text: &str) -> Option<PresenceState> {
        match text {
            "viewing" => Some(PresenceState::Viewing),
            "typing" => Some(PresenceState::Typing),
            _ => None,
        }
    }
}

/// One agent present on a conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Present {
    pub agent_id: i64,
    pub name: String,
    pub state: PresenceState,
    pub expires_at: i64,
}

/// Everyone present on one conversation, and who may see that conversation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConversationPresence {
    pub conversation: i64,
    pub reach: Reach,
    /// By agent id.
    pub people: Vec<Present>,
}

fn present(row: &PresenceRow) -> Option<Present> {
    Some(Present {
        agent_id: row.agent_id,
        name: row.name.clone(),
        state: PresenceState::parse(&row.state)?,
        expires_at: row.expires_at,
    })
}

impl App {
    /// Records what an agent does on a conversation they may see (`None`: they left) and
    /// answers everyone else present on it. The change counter moves only when who is shown,
    /// or doing what, changed; a renewal only pushes the expiry back.
    pub async fn set_presence(
        &self,
        by: &Principal,
        number: i64,
        state: Option<PresenceState>,
        now: i64,
    ) -> Result<Vec<Present>> {
        let Principal::Agent { id: agent_id, .. } = *by else {
            return Err(AppError::Forbidden(
                "presence is for agents of the service team".into(),
            ));
        };
        self.conversation_reach(by, number).await?;
        let mut tx = self.store.begin().await?;
        // Taken first: presence writes across the nodes queue up here, so no change is
        // counted before a change it overtook has committed.
        tx.lock_presence_version().await?;
        let before = tx
            .presence_of(number, agent_id)
            .await?
            .filter(|(_, expires_at)| *expires_at > now)
            .and_then(|(state, _)| PresenceState::parse(&state));
        match state {
            Some(state) => {
                tx.put_presence(number, agent_id, state.as_str(), now + PRESENCE_TTL_MILLIS)
                    .await?
            }
            None => tx.delete_presence(number, agent_id).await?,
        }
        tx.delete_expired_presence(now).await?;
        if before != state {
            tx.raise_presence_version().await?;
        }
        let others = tx
            .presence_on(number, now)
            .await?
            .iter()
            .filter(|row| row.agent_id != agent_id)
            .filter_map(present)
            .collect();
        tx.commit().await?;
        Ok(others)
    }

    /// The presence change counter: when it has not moved, nobody arrived, left or changed
    /// what they do (only expiries, which a reader knows from `expires_at`, happen then).
    pub async fn presence_version(&self) -> Result<i64> {
        Ok(self.store.presence_version().await?)
    }

    /// Everyone present anywhere at `now`, per conversation (by number), for the live
    /// poller, which decides per stream who may see it.
    pub async fn presence_now(&self, now: i64) -> Result<Vec<ConversationPresence>> {
        let mut by_conversation: BTreeMap<i64, ConversationPresence> = BTreeMap::new();
        for row in self.store.presence_now(now).await? {
            let Some(person) = present(&row) else {
                continue;
            };
            by_conversation
                .entry(row.conversation)
                .or_insert_with(|| ConversationPresence {
                    conversation: row.conversation,
                    reach: Reach {
                        group_id: row.group_id,
                        assignee_id: row.assignee_id,
                        customer_id: row.customer_id,
                    },
                    people: Vec::new(),
                })
                .people
                .push(person);
        }
        Ok(by_conversation.into_values().collect())
    }
}
