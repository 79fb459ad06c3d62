//! The team lead's live view: the queues now (unsolved per group and status, from the queue
//! counters), the conversations whose SLA breach is at risk (a warning stands, or the breach
//! is due within the hour; soonest first) and each agent's load (open and pending assigned,
//! solved today, oldest open). Leads see their groups; managers and administrators the whole
//! team; agents are refused. Every number has the list behind it (`team_conversations`).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use domain::permission::Visibility;
use domain::{Principal, Role, SlaMetric};
use serde::Serialize;

use crate::{App, AppError, Result};

/// A conversation whose breach is this close counts as at risk even without a warning.
pub const AT_RISK_WITHIN_MILLIS: i64 = 3_600_000;
/// At most this many running SLA clocks are judged per view (soonest breach first).
pub const AT_RISK_CANDIDATES: i64 = 2_000;

/// One group's queue (`group_id` `None`: conversations in no group).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct TeamQueue {
    pub group_id: Option<i64>,
    pub name: String,
    pub new: i64,
    pub open: i64,
    pub pending: i64,
    pub on_hold: i64,
    /// Unsolved and assigned to nobody.
    pub unassigned: i64,
}

/// A conversation whose SLA breach is near.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SlaRisk {
    pub number: i64,
    pub subject: String,
    pub group_id: Option<i64>,
    pub assignee_id: Option<i64>,
    /// The soonest breach of a running clock.
    pub breach_at: i64,
    /// The metric that breaches first, when the clock could be read.
    pub metric: Option<SlaMetric>,
    /// A warning stands for a metric not yet breached.
    pub warned: bool,
}

/// One agent's load.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AgentLoad {
    pub agent_id: i64,
    pub name: String,
    /// New, open or on hold, and assigned to the agent.
    pub open: i64,
    /// Waiting on the customer.
    pub pending: i64,
    /// Solved (and not reopened) since the start of today (in the team's time zone).
    pub solved_today: i64,
    /// The oldest open conversation: its number and when it was created.
    pub oldest_open: Option<(i64, i64)>,
}

/// What a team lead watches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TeamView {
    pub as_of: i64,
    /// The start of "today" for `solved_today`: midnight in the business calendar's time zone
    /// (UTC midnight without a calendar).
    pub day_start: i64,
    pub queues: Vec<TeamQueue>,
    pub at_risk: Vec<SlaRisk>,
    pub agents: Vec<AgentLoad>,
}

/// The lists behind the numbers that the conversation list cannot filter by itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeamList {
    /// The conversations an agent solved today.
    SolvedToday { agent: i64 },
    /// The conversations at risk of an SLA breach.
    AtRisk,
}

fn team_visibility(by: &Principal) -> Result<Visibility> {
    match by {
        Principal::System
        | Principal::Agent {
            role: Role::Manager | Role::Admin,
            ..
        } => Ok(Visibility::All),
        Principal::Agent {
            role: Role::Lead, ..
        } => Ok(by.visibility()),
        _ => Err(AppError::Forbidden(
            "the team view is for team leads, managers and administrators".into(),
        )),
    }
}

impl App {
    /// The team view at `now` (leads: their groups; managers and administrators: everyone).
    pub async fn team_view(&self, by: &Principal, now: i64) -> Result<TeamView> {
        let visibility = team_visibility(by)?;
        let day_start = self.team_day_start(now).await?;
        let groups: HashMap<i64, String> = self
            .store
            .groups()
            .await?
            .into_iter()
            .map(|g| (g.id, g.name))
            .collect();

        let mut queues: BTreeMap<(bool, String, Option<i64>), TeamQueue> = BTreeMap::new();
        for row in self.store.team_queue_counts(&visibility).await? {
            let name = match row.group_id {
                Some(g) => groups
                    .get(&g)
                    .cloned()
                    .unwrap_or_else(|| format!("Group {g}")),
                None => "No group".to_string(),
            };
            let queue = queues
                .entry((row.group_id.is_none(), name.clone(), row.group_id))
                .or_insert_with(|| TeamQueue {
                    group_id: row.group_id,
                    name,
                    ..TeamQueue::default()
                });
            match row.status.as_str() {
                "new" => queue.new += row.n,
                "open" => queue.open += row.n,
                "pending" => queue.pending += row.n,
                "on_hold" => queue.on_hold += row.n,
                _ => {}
            }
            if row.unassigned {
                queue.unassigned += row.n;
            }
        }

        let at_risk = self.sla_risks(&visibility, now).await?;
        let agents = self.agent_loads(by, &visibility, day_start).await?;
        Ok(TeamView {
            as_of: now,
            day_start,
            queues: queues.into_values().collect(),
            at_risk,
            agents,
        })
    }

    /// The conversations behind a number of the team view, as numbers (at most `limit`).
    pub async fn team_conversations(
        &self,
        by: &Principal,
        list: TeamList,
        limit: i64,
        now: i64,
    ) -> Result<Vec<i64>> {
        let visibility = team_visibility(by)?;
        let limit = limit.clamp(1, 1000);
        match list {
            TeamList::SolvedToday { agent } => {
                let day_start = self.team_day_start(now).await?;
                Ok(self
                    .store
                    .solved_since(&visibility, agent, day_start, limit)
                    .await?)
            }
            TeamList::AtRisk => Ok(self
                .sla_risks(&visibility, now)
                .await?
                .into_iter()
                .take(limit as usize)
                .map(|r| r.number)
                .collect()),
        }
    }

    /// Running SLA clocks whose breach is due within the hour or whose warning stands,
    /// soonest breach first. The stored clock is advanced to `now` in memory, so a warning
    /// or breach that the tick has not recorded yet already counts.
    async fn sla_risks(&self, visibility: &Visibility, now: i64) -> Result<Vec<SlaRisk>> {
        let rows = self
            .store
            .running_slas(visibility, now, AT_RISK_CANDIDATES)
            .await?;
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let rules = {
            let mut tx = self.store.begin().await?;
            let rules = crate::sla::load_rules(&mut tx).await?;
            tx.rollback().await?;
            rules
        };
        let mut risks = Vec::new();
        for row in rows {
            let soon = row.next_breach_at <= now + AT_RISK_WITHIN_MILLIS;
            // A clock computed under older policies is being recomputed: judge it by its
            // stored breach time only.
            let state = if row.version == rules.version {
                let mut clock = ::sla::SlaClock::decode(&row.clock).map_err(|e| {
                    crate::views::corrupt(format!(
                        "SLA clock of conversation {}: {e}",
                        row.conversation
                    ))
                })?;
                let mut ignored = Vec::new();
                clock.advance_to(&rules.policies, now, &mut ignored);
                Some(clock.state(&rules.policies, now))
            } else {
                None
            };
            let running: Vec<&::sla::MetricState> = state
                .as_ref()
                .map(|s| {
                    s.metrics
                        .iter()
                        .filter(|m| m.breached_at.is_none() && m.due_at.is_some())
                        .collect()
                })
                .unwrap_or_default();
            let warned = running.iter().any(|m| m.warned_at.is_some());
            let first = running.iter().min_by_key(|m| m.due_at);
            let breach_at = first.and_then(|m| m.due_at).unwrap_or(row.next_breach_at);
            if state.is_some() && first.is_none() {
                // Everything running has breached or stopped since the clock was stored.
                continue;
            }
            if soon || warned {
                risks.push(SlaRisk {
                    number: row.conversation,
                    subject: row.subject,
                    group_id: row.group_id,
                    assignee_id: row.assignee_id,
                    breach_at,
                    metric: first.map(|m| m.metric),
                    warned,
                });
            }
        }
        risks.sort_by_key(|r| (r.breach_at, r.number));
        Ok(risks)
    }

    /// The load of every agent the viewer leads (leads: the members of their groups and anyone
    /// with visible work; managers and administrators: every active agent), by name.
    async fn agent_loads(
        &self,
        by: &Principal,
        visibility: &Visibility,
        day_start: i64,
    ) -> Result<Vec<AgentLoad>> {
        let mut loads: HashMap<i64, AgentLoad> = HashMap::new();
        let counts = self.store.agent_status_counts(visibility).await?;
        let solved = self
            .store
            .solved_since_per_agent(visibility, day_start)
            .await?;
        let oldest = self.store.oldest_open_per_agent(visibility).await?;
        let mut listed: BTreeSet<i64> = counts.iter().map(|c| c.assignee_id).collect();
        listed.extend(solved.iter().map(|(a, _)| *a));
        let agents = self.store.agents().await?;
        match by {
            Principal::Agent {
                role: Role::Lead,
                groups,
                ..
            } => {
                for (agent, group) in self.store.group_memberships().await? {
                    if groups.contains(&group) {
                        listed.insert(agent);
                    }
                }
            }
            _ => listed.extend(agents.iter().filter(|a| a.active).map(|a| a.id)),
        }
        for agent in agents.iter().filter(|a| listed.contains(&a.id)) {
            loads.insert(
                agent.id,
                AgentLoad {
                    agent_id: agent.id,
                    name: agent.name.clone(),
                    open: 0,
                    pending: 0,
                    solved_today: 0,
                    oldest_open: None,
                },
            );
        }
        for c in counts {
            if let Some(load) = loads.get_mut(&c.assignee_id) {
                match c.status.as_str() {
                    "pending" => load.pending += c.n,
                    _ => load.open += c.n,
                }
            }
        }
        for (agent, n) in solved {
            if let Some(load) = loads.get_mut(&agent) {
                load.solved_today = n;
            }
        }
        for o in oldest {
            if let Some(load) = loads.get_mut(&o.assignee_id) {
                load.oldest_open = Some((o.number, o.created_at));
            }
        }
        let mut loads: Vec<AgentLoad> = loads.into_values().collect();
        loads.sort_by(|a, b| a.name.cmp(&b.name).then(a.agent_id.cmp(&b.agent_id)));
        Ok(loads)
    }
}
