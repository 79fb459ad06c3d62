//! Improvement initiatives: a manager names a change, the day it started and the KPI it should
//! move (for the team or one group); Rapport compares the KPI in equal periods before and after
//! the start (default 28 days each, the period after capped at now) with the KPI's significance
//! test, and says whether it worked (`kpi::initiative::judge`). The verdict is computed from the
//! roll-ups each time it is asked for, so it firms up as the period after fills.

use domain::{EventPayload, Principal, Role};
use kpi::catalogue::{Computation, Polarity};
use kpi::initiative::{judge, Outcome, DEFAULT_PERIOD_DAYS};
use serde::Serialize;
use store::InitiativeRow;

use crate::{App, AppError, KpiQuery, Result};

const DAY_MS: i64 = 86_400_000;
/// A compared period is at least a week (fewer days rarely hold enough cases) and at most a year.
const PERIOD_DAYS: std::ops::RangeInclusive<i64> = 7..=366;

/// What a manager records.
#[derive(Debug, Clone, Default)]
pub struct InitiativeInput {
    pub name: String,
    pub description: String,
    /// A key of the KPI catalogue (not a live one such as the backlog).
    pub kpi: String,
    pub group_id: Option<i64>,
    /// When the change took effect (ms); periods are whole local days of the team's business
    /// calendar (its time zone, as the KPI days) from its day. Leave it 0 when giving
    /// `started_on`.
    pub started_at: i64,
    /// The day the change took effect, as a date: that local day's first instant.
    pub started_on: Option<jiff::civil::Date>,
    /// Days in each compared period (default 28).
    pub period_days: Option<i64>,
}

/// The comparison before and after the start.
#[derive(Debug, Clone, Serialize)]
pub struct InitiativeVerdict {
    pub outcome: Outcome,
    /// The outcome in a sentence, with the cases and the p-value it rests on.
    pub summary: String,
    /// The periods compared, as the starts of the team's local days in ms (`from` included, `to` excluded); the
    /// period after ends at the end of today while it is still running.
    pub before_from: i64,
    pub before_to: i64,
    pub after_from: i64,
    pub after_to: i64,
    pub before: Option<kpi::Figure>,
    pub after: Option<kpi::Figure>,
    pub test: Option<stats::significance::TestResult>,
}

/// An initiative with its verdict.
#[derive(Debug, Clone, Serialize)]
pub struct InitiativeView {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub kpi: String,
    pub kpi_name: String,
    pub polarity: Polarity,
    /// The KPI's unit (seconds, percent, …), to read the figures.
    pub unit: &'static str,
    pub group_id: Option<i64>,
    pub group_name: Option<String>,
    pub started_at: i64,
    pub period_days: i64,
    pub created_by: Option<i64>,
    pub created_at: i64,
    pub verdict: InitiativeVerdict,
}

fn may_manage_initiatives(by: &Principal) -> Result<()> {
    let allowed = match by {
        Principal::System => true,
        Principal::Agent { role, .. } => matches!(role, Role::Manager | Role::Admin),
        Principal::Token { .. } => by.can_administer(),
        Principal::Customer { .. } => false,
    };
    if allowed {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "improvement initiatives are for managers and administrators".into(),
        ))
    }
}

fn p_in_words(p: f64) -> String {
    if p < 0.001 {
        "p < 0.001".into()
    } else {
        format!("p = {p:.3}")
    }
}

impl App {
    /// Records an initiative with its `initiative_recorded` event (managers and administrators).
    pub async fn record_initiative(
        &self,
        by: &Principal,
        input: InitiativeInput,
        now: i64,
    ) -> Result<InitiativeView> {
        may_manage_initiatives(by)?;
        let name = input.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(AppError::Invalid(
                "name the change in 1 to 200 characters".into(),
            ));
        }
        let description = input.description.trim().to_string();
        if description.chars().count() > 4000 {
            return Err(AppError::Invalid(
                "the description may have at most 4000 characters".into(),
            ));
        }
        let definition = kpi::find(&input.kpi).ok_or_else(|| {
            AppError::Invalid(format!(
                "there is no KPI {:?}; use a key of the KPI catalogue (GET /api/v1/kpis)",
                input.kpi
            ))
        })?;
        if matches!(
            definition.computation,
            Computation::Backlog | Computation::BacklogAge { .. }
        ) {
            return Err(AppError::Invalid(format!(
                "{} is a live figure with no history to compare; choose a KPI counted over a period",
                definition.name
            )));
        }
        let period_days = input.period_days.unwrap_or(DEFAULT_PERIOD_DAYS);
        if !PERIOD_DAYS.contains(&period_days) {
            return Err(AppError::Invalid(format!(
                "the compared periods must be {} to {} days long, got {period_days}",
                PERIOD_DAYS.start(),
                PERIOD_DAYS.end()
            )));
        }
        let started_at = match input.started_on {
            Some(_) if input.started_at != 0 => {
                return Err(AppError::Invalid(
                    "the start is given both as an instant and as a date; give one".into(),
                ))
            }
            Some(date) => {
                let calendar = self.team_calendar().await?;
                crate::kpi::local_date_start(calendar.as_ref(), date)?
            }
            None => input.started_at,
        };
        if started_at <= 0 || started_at > now + 366 * DAY_MS {
            return Err(AppError::Invalid(
                "the start must be a date from 1970 to a year from now".into(),
            ));
        }
        if let Some(group) = input.group_id {
            if !self.store.groups().await?.iter().any(|g| g.id == group) {
                return Err(AppError::Invalid(format!("there is no group {group}")));
            }
        }
        let created_by = match by {
            Principal::Agent { id, .. } => Some(*id),
            _ => None,
        };
        let mut tx = self.store.begin().await?;
        let id = tx
            .insert_initiative(&InitiativeRow {
                id: 0,
                name: name.clone(),
                description,
                kpi: definition.key.to_string(),
                group_id: input.group_id,
                started_at,
                period_days,
                created_by,
                created_at: now,
            })
            .await?;
        crate::record(
            &mut tx,
            None,
            by.actor(),
            now,
            &EventPayload::InitiativeRecorded {
                initiative_id: id,
                name,
                kpi: definition.key.to_string(),
                started_at,
            },
        )
        .await?;
        tx.commit().await?;
        self.initiative(by, id, now).await
    }

    /// Every initiative with its verdict, the most recently started first.
    pub async fn initiatives(&self, by: &Principal, now: i64) -> Result<Vec<InitiativeView>> {
        may_manage_initiatives(by)?;
        let groups = self.store.groups().await?;
        let mut out = Vec::new();
        for row in self.store.initiatives().await? {
            out.push(self.initiative_view(by, row, &groups, now).await?);
        }
        Ok(out)
    }

    /// One initiative with its verdict.
    pub async fn initiative(&self, by: &Principal, id: i64, now: i64) -> Result<InitiativeView> {
        may_manage_initiatives(by)?;
        let row = self
            .store
            .initiative(id)
            .await?
            .ok_or_else(|| AppError::NotFound(format!("initiative {id}")))?;
        let groups = self.store.groups().await?;
        self.initiative_view(by, row, &groups, now).await
    }

    async fn initiative_view(
        &self,
        by: &Principal,
        row: InitiativeRow,
        groups: &[store::GroupRow],
        now: i64,
    ) -> Result<InitiativeView> {
        let definition = kpi::find(&row.kpi).ok_or_else(|| {
            crate::views::corrupt(format!("initiative {} names no KPI: {:?}", row.id, row.kpi))
        })?;
        let verdict = self.initiative_verdict(by, &row, &definition, now).await?;
        Ok(InitiativeView {
            id: row.id,
            kpi_name: definition.name.to_string(),
            polarity: definition.polarity,
            unit: definition.unit.as_str(),
            group_name: row
                .group_id
                .and_then(|g| groups.iter().find(|x| x.id == g).map(|x| x.name.clone())),
            name: row.name,
            description: row.description,
            kpi: row.kpi,
            group_id: row.group_id,
            started_at: row.started_at,
            period_days: row.period_days,
            created_by: row.created_by,
            created_at: row.created_at,
            verdict,
        })
    }

    async fn initiative_verdict(
        &self,
        by: &Principal,
        row: &InitiativeRow,
        definition: &kpi::KpiDefinition,
        now: i64,
    ) -> Result<InitiativeVerdict> {
        // Whole local days of the team's calendar, as the roll-ups count them.
        let calendar = self.team_calendar().await?;
        let calendar = calendar.as_ref();
        let first_day = kpi::local_day_of(calendar, row.started_at);
        let period = i32::try_from(row.period_days).unwrap_or(i32::MAX / 4);
        let day_start = |day: i32| kpi::local_day_start(calendar, day);
        let start_day = day_start(first_day);
        let planned_end = day_start(first_day.saturating_add(period));
        if now <= row.started_at {
            return Ok(InitiativeVerdict {
                outcome: Outcome::TooFewCases,
                summary: "It has not started yet: there is nothing after the start to compare."
                    .into(),
                before_from: day_start(first_day.saturating_sub(period)),
                before_to: start_day,
                after_from: start_day,
                after_to: planned_end,
                before: None,
                after: None,
                test: None,
            });
        }
        // The figure of the period after, with the period of the same length before it (the
        // KPI report's "previous period") and the test between them.
        let query = KpiQuery {
            from: Some(start_day),
            to: Some(planned_end.min(now)),
            group: row.group_id,
            ..KpiQuery::default()
        };
        let report = self.kpi_report(by, &row.kpi, &query, now).await?;
        // The report's period in local days (the previous period has as many).
        let from_day = kpi::local_day_of(calendar, report.from);
        let days = kpi::local_day_of(calendar, report.to) - from_day;
        let outcome = match &report.previous {
            _ if report.recomputing => Outcome::Recomputing,
            Some(before) => judge(definition, before, &report.figure, report.change.as_ref()),
            None => Outcome::TooFewCases,
        };
        let (n_before, n_after) = (report.previous.as_ref().map_or(0, |f| f.n), report.figure.n);
        let p = report
            .change
            .as_ref()
            .map(|t| p_in_words(t.p_value))
            .unwrap_or_default();
        let running = planned_end > now;
        let mut summary = match outcome {
            Outcome::Improved => format!(
                "{} changed for the better after the start, more than chance explains ({p}; {n_before} cases before, {n_after} after).",
                definition.name
            ),
            Outcome::Worsened => format!(
                "{} changed for the worse after the start, more than chance explains ({p}; {n_before} cases before, {n_after} after).",
                definition.name
            ),
            Outcome::NoClearChange => format!(
                "No change that can be told from chance ({p}; {n_before} cases before, {n_after} after)."
            ),
            Outcome::TooFewCases => format!(
                "Too few cases to judge: {n_before} before and {n_after} after; each side needs at least {}.",
                stats::MIN_CASES
            ),
            Outcome::Recomputing => format!("No verdict yet: {}.", crate::RECOMPUTING_NOTICE),
        };
        if running {
            summary.push_str(&format!(
                " The period after is still running ({} of {} days).",
                days, row.period_days
            ));
        }
        Ok(InitiativeVerdict {
            outcome,
            summary,
            before_from: day_start(from_day - days),
            before_to: report.from,
            after_from: report.from,
            after_to: report.to,
            before: report.previous,
            after: Some(report.figure),
            test: report.change,
        })
    }
}
