//! The process map for managers: Rapport's own log (`process_log.rs`) narrowed by the page's
//! filters (time window, group, variant coverage), drawn with the simplification sliders
//! (activities and edges kept), with the variants, bottlenecks, rework and ping-pong found in it,
//! and the conversations behind each row.
//!
//! Reading the whole log is the expensive part (every conversation event), so the log is kept in
//! memory for [`PROCESS_LOG_MAX_AGE_MS`] of `now` and each page's analysis for as long as its log,
//! per filter set. The page says how old its log is. Tables are computed on the filtered log
//! with every activity: the sliders simplify the picture, not the figures.

use std::borrow::Cow;
use std::sync::Arc;

use domain::Principal;
use mining::filter::{self, AttributeMode, TimeWindowMode};
use mining::svg::{process_map_svg, EdgeLabel, MapOptions};
use mining::{cases, patterns, Classifier, Dfg, EventLog, OrgDimension, Variants, NONE};
use serde::Serialize;

use crate::process_log::may_mine;
use crate::{App, AppError, Result};

/// How long a log read from the database serves the page before it is read again.
pub const PROCESS_LOG_MAX_AGE_MS: i64 = 60_000;
/// At most this many conversations behind a row are listed.
pub const PROCESS_DRILL_LIMIT: usize = 200;
/// Analyses kept per log (one per filter set seen).
const ANALYSES_KEPT: usize = 16;
/// Rows per table.
const TABLE_ROWS: usize = 10;
/// Variants listed.
const VARIANT_ROWS: usize = 20;
/// An edge must be taken this often to rank by its median wait (a single slow case is not a
/// bottleneck).
pub const MEDIAN_MIN_COUNT: u64 = 5;
/// Resources of the log that are not agents, left out of the agents' ping-pong.
const NOT_AGENTS: [&str; 3] = ["customer", "system", "api token"];

/// The page's filters and sliders.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessQuery {
    /// The share of activities drawn, most frequent first (0..=1).
    pub activities: f64,
    /// The share of edges drawn, most frequent first (0..=1).
    pub edges: f64,
    /// Keep the most frequent variants that cover this share of the conversations (0..=1).
    pub coverage: f64,
    /// Conversations with an activity at or after this instant (ms).
    pub from: Option<i64>,
    /// … and before this instant.
    pub to: Option<i64>,
    /// Conversations that were in this group at some step.
    pub group: Option<i64>,
    /// Ping-pong between groups or between agents.
    pub ping_pong_by: OrgDimension,
    /// Label the map's edges with the median wait instead of the count.
    pub wait_labels: bool,
}

impl Default for ProcessQuery {
    fn default() -> Self {
        ProcessQuery {
            activities: 1.0,
            edges: 1.0,
            coverage: 1.0,
            from: None,
            to: None,
            group: None,
            ping_pong_by: OrgDimension::Group,
            wait_labels: false,
        }
    }
}

impl ProcessQuery {
    fn check(&self) -> Result<()> {
        for (name, value) in [
            ("activities", self.activities),
            ("edges", self.edges),
            ("coverage", self.coverage),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(AppError::Invalid(format!(
                    "{name} must be a share between 0 and 1 (0% to 100%), got {value}"
                )));
            }
        }
        if let (Some(from), Some(to)) = (self.from, self.to) {
            if from >= to {
                return Err(AppError::Invalid(
                    "the time window's start must be before its end".into(),
                ));
            }
        }
        Ok(())
    }

    /// The whole query (filters and drawing), as a cache key.
    fn key(&self) -> String {
        format!("{self:?}")
    }
}

/// One variant of the page.
#[derive(Debug, Clone, Serialize)]
pub struct VariantRow {
    /// Its rank (0 = most frequent), the key of its drill-down.
    pub index: usize,
    pub activities: Vec<String>,
    pub count: u64,
    pub share: f64,
}

/// An edge of the map with its waiting times.
#[derive(Debug, Clone, Serialize)]
pub struct EdgeRow {
    pub from: String,
    pub to: String,
    pub count: u64,
    pub total_seconds: f64,
    pub median_seconds: Option<f64>,
    pub p90_seconds: Option<f64>,
}

/// An activity repeated within conversations.
#[derive(Debug, Clone, Serialize)]
pub struct ReworkRow {
    pub activity: String,
    /// Conversations where it happened more than once.
    pub cases: u64,
    /// Extra occurrences beyond the first.
    pub repeats: u64,
}

/// Work that went from one owner to another and back.
#[derive(Debug, Clone, Serialize)]
pub struct PingPongRow {
    pub first: String,
    pub second: String,
    pub occurrences: u64,
    pub cases: u64,
}

/// What the process page shows.
#[derive(Debug, Clone, Serialize)]
pub struct ProcessMap {
    /// The picture (SVG, presentation attributes only: no `style`).
    pub svg: String,
    /// Conversations and steps after the filters.
    pub cases: usize,
    pub events: usize,
    /// Conversations in the whole log.
    pub all_cases: usize,
    pub variant_count: usize,
    pub variants: Vec<VariantRow>,
    /// Edges with the largest total waiting time.
    pub bottlenecks_by_total: Vec<EdgeRow>,
    /// Edges (taken at least [`MEDIAN_MIN_COUNT`] times) with the longest median wait.
    pub bottlenecks_by_median: Vec<EdgeRow>,
    pub rework: Vec<ReworkRow>,
    pub ping_pong: Vec<PingPongRow>,
    /// When the log was read from the database.
    pub read_at: i64,
}

/// Which row's conversations to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProcessDrill {
    /// The conversations of the variant with this rank.
    Variant(usize),
    /// Where `to` directly followed `from`.
    Edge { from: String, to: String },
    /// Where the activity happened more than once.
    Rework { activity: String },
    /// Where work went `first` → `second` → `first` (groups or agents, as the query says).
    PingPong { first: String, second: String },
}

/// The conversations behind a row: how many, and the numbers of the newest
/// [`PROCESS_DRILL_LIMIT`].
#[derive(Debug, Clone, Serialize)]
pub struct ProcessCases {
    pub total: usize,
    pub numbers: Vec<i64>,
}

struct CachedLog {
    log: Arc<EventLog>,
    read_at: i64,
    generation: u64,
}

/// The in-memory cache of the log and the analyses (one per `App`, shared by its clones).
#[derive(Default)]
pub(crate) struct ProcessCache {
    log: tokio::sync::Mutex<Option<CachedLog>>,
    maps: std::sync::Mutex<Vec<(u64, String, Arc<ProcessMap>)>>,
}

/// The cases kept by the query's filters (time window, group, coverage).
fn filtered<'log>(
    log: &'log EventLog,
    query: &ProcessQuery,
    group: Option<&str>,
) -> Cow<'log, EventLog> {
    let mut kept = Cow::Borrowed(log);
    if query.from.is_some() || query.to.is_some() {
        kept = Cow::Owned(filter::time_window(
            &kept,
            query.from.unwrap_or(i64::MIN),
            query.to.unwrap_or(i64::MAX),
            TimeWindowMode::CasesIntersecting,
        ));
    }
    if let Some(group) = group {
        kept = Cow::Owned(filter::attribute_values(
            &kept,
            "org:group",
            &[group],
            AttributeMode::CasesWithAnEvent,
        ));
    }
    if query.coverage < 1.0 {
        let variants = Variants::discover(&kept, &kept.classify(Classifier::Name));
        kept = Cow::Owned(filter::variant_coverage(&kept, &variants, query.coverage));
    }
    kept
}

/// The log whose owners are the query's dimension; for agents, steps by the customer or
/// Rapport itself have no owner, so that a reply, the customer's answer and the next reply are
/// not a ping-pong.
fn owners_log<'log>(log: &'log EventLog, dimension: OrgDimension) -> Cow<'log, EventLog> {
    match dimension {
        OrgDimension::Group => Cow::Borrowed(log),
        OrgDimension::Resource => {
            let hidden: Vec<u32> = NOT_AGENTS
                .iter()
                .filter_map(|name| log.strings.get(name))
                .collect();
            let mut owned = log.clone();
            for resource in &mut owned.resource {
                if hidden.contains(resource) {
                    *resource = NONE;
                }
            }
            Cow::Owned(owned)
        }
    }
}

fn edge_row(dfg: &Dfg, edge: &mining::Edge) -> EdgeRow {
    EdgeRow {
        from: dfg.activities[edge.from as usize].clone(),
        to: dfg.activities[edge.to as usize].clone(),
        count: edge.count,
        total_seconds: edge.wait.map_or(0.0, |w| w.total_seconds),
        median_seconds: edge.wait.map(|w| w.median_seconds),
        p90_seconds: edge.wait.map(|w| w.p90_seconds),
    }
}

fn analyse(all: &EventLog, query: &ProcessQuery, group: Option<&str>, read_at: i64) -> ProcessMap {
    let log = filtered(all, query, group);
    let view = log.classify(Classifier::Name);
    let variants = Variants::discover(&log, &view);
    let dfg = Dfg::discover(&log, &view);
    let svg = process_map_svg(
        &log,
        &MapOptions {
            activities: query.activities,
            edges: query.edges,
            label: if query.wait_labels {
                EdgeLabel::MedianWait
            } else {
                EdgeLabel::Count
            },
            classifier: Classifier::Name,
        },
    );
    let by_total: Vec<EdgeRow> = patterns::bottlenecks(&dfg, TABLE_ROWS)
        .edges
        .iter()
        .filter(|e| e.wait.is_some_and(|w| w.total_seconds > 0.0))
        .map(|e| edge_row(&dfg, e))
        .collect();
    let mut by_median: Vec<EdgeRow> = dfg
        .edges
        .iter()
        .filter(|e| e.count >= MEDIAN_MIN_COUNT && e.wait.is_some_and(|w| w.median_seconds > 0.0))
        .map(|e| edge_row(&dfg, e))
        .collect();
    by_median.sort_by(|a, b| {
        b.median_seconds
            .unwrap_or(0.0)
            .total_cmp(&a.median_seconds.unwrap_or(0.0))
    });
    by_median.truncate(TABLE_ROWS);
    let owners = owners_log(&log, query.ping_pong_by);
    ProcessMap {
        svg,
        cases: log.case_count(),
        events: log.event_count(),
        all_cases: all.case_count(),
        variant_count: variants.variants.len(),
        variants: variants
            .variants
            .iter()
            .take(VARIANT_ROWS)
            .enumerate()
            .map(|(index, v)| VariantRow {
                index,
                activities: variants
                    .names_of(v)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                count: v.count,
                share: v.share,
            })
            .collect(),
        bottlenecks_by_total: by_total,
        bottlenecks_by_median: by_median,
        rework: patterns::rework(&log, &view)
            .into_iter()
            .take(TABLE_ROWS)
            .map(|r| ReworkRow {
                activity: view.names[r.activity as usize].clone(),
                cases: r.cases,
                repeats: r.repeats,
            })
            .collect(),
        ping_pong: patterns::ping_pong(&owners, query.ping_pong_by)
            .into_iter()
            .take(TABLE_ROWS)
            .map(|p| PingPongRow {
                first: owners.strings.resolve(p.first).to_owned(),
                second: owners.strings.resolve(p.second).to_owned(),
                occurrences: p.occurrences,
                cases: p.cases,
            })
            .collect(),
        read_at,
    }
}

/// The case indices behind a drill-down row (log order).
fn drill_cases(log: &EventLog, query: &ProcessQuery, drill: &ProcessDrill) -> Vec<usize> {
    let view = log.classify(Classifier::Name);
    let activity = |name: &str| log.activities.get(name);
    match drill {
        ProcessDrill::Variant(rank) => {
            let variants = Variants::discover(log, &view);
            (0..log.case_count())
                .filter(|&case| variants.case_variant[case] as usize == *rank)
                .collect()
        }
        ProcessDrill::Edge { from, to } => match (activity(from), activity(to)) {
            (Some(from), Some(to)) => cases::with_edge(log, &view, from, to),
            _ => Vec::new(),
        },
        ProcessDrill::Rework { activity: name } => match activity(name) {
            Some(id) => cases::with_rework(log, &view, id),
            None => Vec::new(),
        },
        ProcessDrill::PingPong { first, second } => {
            let owners = owners_log(log, query.ping_pong_by);
            match (owners.strings.get(first), owners.strings.get(second)) {
                (Some(first), Some(second)) => {
                    cases::with_ping_pong(&owners, query.ping_pong_by, first, second)
                }
                _ => Vec::new(),
            }
        }
    }
}

impl App {
    /// The group's name for the group filter; `Invalid` for an unknown group.
    async fn process_group(&self, group: Option<i64>) -> Result<Option<String>> {
        let Some(id) = group else { return Ok(None) };
        self.store
            .groups()
            .await?
            .into_iter()
            .find(|g| g.id == id)
            .map(|g| Some(g.name))
            .ok_or_else(|| AppError::Invalid(format!("there is no group {id}")))
    }

    /// The log, from memory when it was read less than [`PROCESS_LOG_MAX_AGE_MS`] ago. One
    /// request reads it while the others wait for it.
    async fn cached_process_log(&self, now: i64) -> Result<(Arc<EventLog>, i64, u64)> {
        let mut cached = self.process_cache.log.lock().await;
        if let Some(c) = cached.as_ref() {
            if (0..PROCESS_LOG_MAX_AGE_MS).contains(&(now - c.read_at)) {
                return Ok((c.log.clone(), c.read_at, c.generation));
            }
        }
        let log = Arc::new(self.process_log(&Principal::System).await?);
        let generation = cached.as_ref().map_or(1, |c| c.generation + 1);
        *cached = Some(CachedLog {
            log: log.clone(),
            read_at: now,
            generation,
        });
        Ok((log, now, generation))
    }

    /// The process map page: the filtered log's map, variants, bottlenecks, rework and
    /// ping-pong (managers and administrators).
    pub async fn process_map(
        &self,
        by: &Principal,
        query: &ProcessQuery,
        now: i64,
    ) -> Result<Arc<ProcessMap>> {
        may_mine(by)?;
        query.check()?;
        let group = self.process_group(query.group).await?;
        let (log, read_at, generation) = self.cached_process_log(now).await?;
        let key = query.key();
        if let Ok(maps) = self.process_cache.maps.lock() {
            if let Some((_, _, map)) = maps.iter().find(|(g, k, _)| *g == generation && *k == key) {
                return Ok(map.clone());
            }
        }
        let map = Arc::new(analyse(&log, query, group.as_deref(), read_at));
        if let Ok(mut maps) = self.process_cache.maps.lock() {
            maps.retain(|(g, _, _)| *g == generation);
            if maps.len() >= ANALYSES_KEPT {
                maps.remove(0);
            }
            maps.push((generation, key, map.clone()));
        }
        Ok(map)
    }

    /// The conversations behind a row of the process page, under the same filters: how many,
    /// and the newest [`PROCESS_DRILL_LIMIT`] numbers, newest first.
    pub async fn process_cases(
        &self,
        by: &Principal,
        query: &ProcessQuery,
        drill: &ProcessDrill,
        now: i64,
    ) -> Result<ProcessCases> {
        may_mine(by)?;
        query.check()?;
        let group = self.process_group(query.group).await?;
        let (log, _, _) = self.cached_process_log(now).await?;
        let log = filtered(&log, query, group.as_deref());
        let found = drill_cases(&log, query, drill);
        let mut numbers: Vec<i64> = found
            .iter()
            .filter_map(|&case| log.strings.resolve(log.case_names[case]).parse().ok())
            .collect();
        numbers.sort_unstable_by(|a, b| b.cmp(a));
        numbers.truncate(PROCESS_DRILL_LIMIT);
        Ok(ProcessCases {
            total: found.len(),
            numbers,
        })
    }
}
