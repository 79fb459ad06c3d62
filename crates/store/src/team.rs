//! The team lead's live view: queue counts per group and status (sums over `queue_counters`),
//! each agent's load, the running SLA clocks soonest breach first, and the lists behind those
//! numbers. Every query is narrowed to what the viewer may see (`Visibility`), like the lists.

use domain::permission::Visibility;

use crate::conversations::Where;
use crate::{bind_all, run, Result, Store};

stored_row! {
    /// Unsolved conversations of one group (`None`: no group) in one status, assigned or not.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct TeamQueueCount {
        pub group_id: Option<i64>,
        pub status: String,
        pub unassigned: bool,
        pub n: i64,
    }
}

stored_row! {
    /// Unsolved conversations assigned to one agent in one status.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct AgentStatusCount {
        pub assignee_id: i64,
        pub status: String,
        pub n: i64,
    }
}

stored_row! {
    /// An agent's oldest open (new, open or on hold) conversation.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct OldestOpen {
        pub assignee_id: i64,
        pub number: i64,
        pub created_at: i64,
    }
}

stored_row! {
    /// An unsolved conversation whose SLA clock runs towards a breach.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct RunningSla {
        pub conversation: i64,
        pub subject: String,
        pub group_id: Option<i64>,
        pub assignee_id: Option<i64>,
        pub next_breach_at: i64,
        pub version: i64,
        /// `sla::SlaClock`, as `SlaClock::encode` writes it (JSON before).
        pub clock: String,
    }
}

/// The statuses that count as an agent's open work (pending waits on the customer).
const OPEN_WORK: &str = "c.status IN ('new', 'open', 'on_hold')";
const UNSOLVED: &str = "c.status IN ('new', 'open', 'pending', 'on_hold')";

fn scope(visibility: &Visibility) -> Where {
    let mut scope = Where::default();
    scope.visibility(visibility);
    scope.push("c.merged_into IS NULL".into());
    scope
}

impl Store {
    /// Unsolved conversations per group, status and assigned-or-not, from the counters.
    pub async fn team_queue_counts(&self, visibility: &Visibility) -> Result<Vec<TeamQueueCount>> {
        let scope = scope(visibility);
        let sql = format!(
            "SELECT c.group_id AS group_id, c.status AS status, (c.assignee_id IS NULL) AS unassigned, \
             CAST(COALESCE(SUM(c.n), 0) AS BIGINT) AS n FROM queue_counters c \
             WHERE {} AND {UNSOLVED} GROUP BY c.group_id, c.status, (c.assignee_id IS NULL) \
             HAVING COALESCE(SUM(c.n), 0) > 0",
            scope.sql()
        );
        let args = &scope.args;
        run!(long_read self, |p| Ok(bind_all!(sqlx::query_as(&sql), args).fetch_all(p).await?))
    }

    /// Unsolved conversations per assignee and status, from the counters.
    pub async fn agent_status_counts(
        &self,
        visibility: &Visibility,
    ) -> Result<Vec<AgentStatusCount>> {
        let scope = scope(visibility);
        let sql = format!(
            "SELECT c.assignee_id AS assignee_id, c.status AS status, CAST(COALESCE(SUM(c.n), 0) AS BIGINT) AS n \
             FROM queue_counters c WHERE {} AND {UNSOLVED} AND c.assignee_id IS NOT NULL \
             GROUP BY c.assignee_id, c.status HAVING COALESCE(SUM(c.n), 0) > 0",
            scope.sql()
        );
        let args = &scope.args;
        run!(long_read self, |p| Ok(bind_all!(sqlx::query_as(&sql), args).fetch_all(p).await?))
    }

    /// How many conversations each assignee has solved (and not reopened) since `since`.
    pub async fn solved_since_per_agent(
        &self,
        visibility: &Visibility,
        since: i64,
    ) -> Result<Vec<(i64, i64)>> {
        let mut scope = scope(visibility);
        let at = scope.arg(crate::Arg::Int(since));
        // A solve updates `updated_at` too, so the status index bounds the walk.
        let sql = format!(
            "SELECT c.assignee_id, COUNT(*) FROM conversations c WHERE {} AND c.status IN ('solved', 'closed') \
             AND c.assignee_id IS NOT NULL AND c.updated_at >= {at} AND c.solved_at >= {at} GROUP BY c.assignee_id",
            scope.sql()
        );
        let args = &scope.args;
        run!(long_read self, |p| Ok(bind_all!(sqlx::query_as(&sql), args).fetch_all(p).await?))
    }

    /// The conversations an agent solved since `since`, latest solve first.
    pub async fn solved_since(
        &self,
        visibility: &Visibility,
        agent: i64,
        since: i64,
        limit: i64,
    ) -> Result<Vec<i64>> {
        let mut scope = scope(visibility);
        let at = scope.arg(crate::Arg::Int(since));
        let who = scope.arg(crate::Arg::Int(agent));
        let cap = scope.arg(crate::Arg::Int(limit));
        let sql = format!(
            "SELECT c.number FROM conversations c WHERE {} AND c.status IN ('solved', 'closed') \
             AND c.assignee_id = {who} AND c.updated_at >= {at} AND c.solved_at >= {at} \
             ORDER BY c.solved_at DESC, c.number DESC LIMIT {cap}",
            scope.sql()
        );
        let args = &scope.args;
        run!(long_read self, |p| Ok(bind_all!(sqlx::query_scalar(&sql), args).fetch_all(p).await?))
    }

    /// Each assignee's oldest open conversation (the lowest number when several were created
    /// at the same instant).
    pub async fn oldest_open_per_agent(&self, visibility: &Visibility) -> Result<Vec<OldestOpen>> {
        let scope = scope(visibility);
        // The same placeholders serve both the inner and the outer scope.
        let where_sql = scope.sql();
        let sql = format!(
            "SELECT c.assignee_id AS assignee_id, MIN(c.number) AS number, m.oldest AS created_at \
             FROM conversations c JOIN (SELECT c.assignee_id AS assignee_id, MIN(c.created_at) AS oldest \
               FROM conversations c WHERE {where_sql} AND {OPEN_WORK} AND c.assignee_id IS NOT NULL \
               GROUP BY c.assignee_id) m ON m.assignee_id = c.assignee_id AND m.oldest = c.created_at \
             WHERE {where_sql} AND {OPEN_WORK} GROUP BY c.assignee_id, m.oldest"
        );
        let args = &scope.args;
        run!(long_read self, |p| Ok(bind_all!(sqlx::query_as(&sql), args).fetch_all(p).await?))
    }

    /// Unsolved conversations whose SLA clock runs towards a breach after `after`, soonest
    /// first, at most `limit`.
    pub async fn running_slas(
        &self,
        visibility: &Visibility,
        after: i64,
        limit: i64,
    ) -> Result<Vec<RunningSla>> {
        let mut scope = scope(visibility);
        let from = scope.arg(crate::Arg::Int(after));
        let cap = scope.arg(crate::Arg::Int(limit));
        let sql = format!(
            "SELECT s.conversation AS conversation, c.subject AS subject, c.group_id AS group_id, \
             c.assignee_id AS assignee_id, s.next_breach_at AS next_breach_at, s.version AS version, s.clock AS clock \
             FROM sla_states s JOIN conversations c ON c.number = s.conversation \
             WHERE {} AND {UNSOLVED} AND s.next_breach_at IS NOT NULL AND s.next_breach_at > {from} \
             ORDER BY s.next_breach_at, s.conversation LIMIT {cap}",
            scope.sql()
        );
        let args = &scope.args;
        run!(long_read self, |p| Ok(bind_all!(sqlx::query_as(&sql), args).fetch_all(p).await?))
    }
}
