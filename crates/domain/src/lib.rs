//! The help desk's pure core.
//!
//! Everything here is deterministic: no I/O, no clock (callers pass `now` as
//! milliseconds since the Unix epoch, UTC), no randomness. The store persists
//! these types; the use cases in `app` apply these rules.

pub mod actor;
pub mod compact_json;
pub mod conversation;
pub mod customer;
pub mod event;
pub mod permission;
pub mod survey;

pub use actor::Actor;
pub use conversation::{Channel, MessageKind, Priority, Status, TransitionError};
pub use customer::{normalize_identity, IdentityKind};
pub use event::{EventKind, EventPayload, SlaBasis, SlaMetric};
pub use permission::{Principal, Role, Scope};

/// Instants are stored and passed as whole milliseconds since the Unix epoch, in UTC.
pub type Millis = i64;

/// One day in milliseconds, for lifecycle rules expressed in days.
pub const DAY_MILLIS: Millis = 86_400_000;
