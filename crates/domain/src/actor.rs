//! Who did something. Every event names its actor.

use serde::{Deserialize, Serialize};

/// The author of a change: a person, an API token or Rapport itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Actor {
    Agent(i64),
    Customer(i64),
    ApiToken(i64),
    /// Rapport itself: jobs such as auto-close, imports, the demo seeder.
    System,
}

impl Actor {
    /// The stored kind name.
    pub fn kind(&self) -> &'static str {
        match self {
            Actor::Agent(_) => "agent",
            Actor::Customer(_) => "customer",
            Actor::ApiToken(_) => "api_token",
            Actor::System => "system",
        }
    }

    /// The stored id (absent for the system).
    pub fn id(&self) -> Option<i64> {
        match self {
            Actor::Agent(id) | Actor::Customer(id) | Actor::ApiToken(id) => Some(*id),
            Actor::System => None,
        }
    }

    /// Rebuilds an actor from its stored kind and id; `None` when they do not fit together.
    pub fn from_parts(kind: &str, id: Option<i64>) -> Option<Actor> {
        match (kind, id) {
            ("agent", Some(id)) => Some(Actor::Agent(id)),
            ("customer", Some(id)) => Some(Actor::Customer(id)),
            ("api_token", Some(id)) => Some(Actor::ApiToken(id)),
            ("system", _) => Some(Actor::System),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actors_round_trip_through_their_stored_parts() {
        for actor in [
            Actor::Agent(3),
            Actor::Customer(9),
            Actor::ApiToken(1),
            Actor::System,
        ] {
            assert_eq!(Actor::from_parts(actor.kind(), actor.id()), Some(actor));
        }
        assert_eq!(Actor::from_parts("agent", None), None);
        assert_eq!(Actor::from_parts("robot", Some(1)), None);
    }
}
