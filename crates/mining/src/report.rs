//! The JSON shapes the `rapport mine` commands print. Outside scripts rely on these names.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::dfg::Dfg;
use crate::variants::Variants;

/// `rapport mine dfg`: `{"edges":[{"from","to","count","median_seconds"}], "start":{..}, "end":{..}}`.
#[derive(Debug, Serialize)]
pub struct DfgReport {
    /// Edges, most frequent first.
    pub edges: Vec<DfgEdgeReport>,
    /// Cases starting with each activity (activities that start no case are left out).
    pub start: BTreeMap<String, u64>,
    /// Cases ending with each activity.
    pub end: BTreeMap<String, u64>,
}

/// One edge of [`DfgReport`].
#[derive(Debug, Serialize)]
pub struct DfgEdgeReport {
    /// Source activity.
    pub from: String,
    /// Target activity.
    pub to: String,
    /// How often.
    pub count: u64,
    /// Median waiting time in seconds; null when no pair had both timestamps.
    pub median_seconds: Option<f64>,
}

impl DfgReport {
    /// The report of a graph.
    pub fn new(dfg: &Dfg) -> DfgReport {
        let by_name = |counts: &[u64]| {
            counts
                .iter()
                .enumerate()
                .filter(|(_, &count)| count > 0)
                .map(|(id, &count)| (dfg.activities[id].clone(), count))
                .collect()
        };
        DfgReport {
            edges: dfg
                .edges
                .iter()
                .map(|edge| DfgEdgeReport {
                    from: dfg.activities[edge.from as usize].clone(),
                    to: dfg.activities[edge.to as usize].clone(),
                    count: edge.count,
                    median_seconds: edge.wait.map(|wait| wait.median_seconds),
                })
                .collect(),
            start: by_name(&dfg.start),
            end: by_name(&dfg.end),
        }
    }
}

/// One entry of `rapport mine variants`: `{"activities":[...], "count"}`.
#[derive(Debug, Serialize)]
pub struct VariantReport {
    /// The activity names, in case order.
    pub activities: Vec<String>,
    /// How many cases.
    pub count: u64,
}

/// The variants report, most frequent first.
pub fn variants_report(variants: &Variants) -> Vec<VariantReport> {
    variants
        .variants
        .iter()
        .map(|variant| VariantReport {
            activities: variants
                .names_of(variant)
                .into_iter()
                .map(str::to_owned)
                .collect(),
            count: variant.count,
        })
        .collect()
}

/// `rapport mine patterns`:
/// `{"rework":[..], "ping_pong":[..], "bottlenecks":[..], "handovers":[..]}`.
#[derive(Debug, Serialize)]
pub struct PatternsReport {
    /// Activities repeated within a case, most cases first.
    pub rework: Vec<ReworkReport>,
    /// A → B → A returns between owners, most occurrences first.
    pub ping_pong: Vec<PingPongReport>,
    /// Edges with the largest total waiting time, longest first.
    pub bottlenecks: Vec<BottleneckReport>,
    /// Handovers of work between owners, most frequent first.
    pub handovers: Vec<HandoverReport>,
}

/// One entry of [`PatternsReport::rework`].
#[derive(Debug, Serialize)]
pub struct ReworkReport {
    /// The repeated activity.
    pub activity: String,
    /// Cases where it happened at least twice.
    pub cases: u64,
    /// Extra occurrences beyond the first, over all cases.
    pub repeats: u64,
}

/// One entry of [`PatternsReport::ping_pong`].
#[derive(Debug, Serialize)]
pub struct PingPongReport {
    /// The owner who had the work first.
    pub first: String,
    /// The owner it went to and came back from.
    pub second: String,
    /// How many returns.
    pub occurrences: u64,
    /// In how many cases.
    pub cases: u64,
}

/// One entry of [`PatternsReport::bottlenecks`].
#[derive(Debug, Serialize)]
pub struct BottleneckReport {
    /// Source activity.
    pub from: String,
    /// Target activity.
    pub to: String,
    /// How often the edge was taken.
    pub count: u64,
    /// Total waiting time along the edge, in seconds.
    pub total_seconds: f64,
    /// Median waiting time, in seconds.
    pub median_seconds: Option<f64>,
    /// 90th percentile of the waiting time, in seconds.
    pub p90_seconds: Option<f64>,
}

/// One entry of [`PatternsReport::handovers`].
#[derive(Debug, Serialize)]
pub struct HandoverReport {
    /// The owner who handed over.
    pub from: String,
    /// The owner who took over.
    pub to: String,
    /// How many times.
    pub count: u64,
    /// Median time between the two events, in seconds.
    pub median_seconds: Option<f64>,
}

impl PatternsReport {
    /// Rework, ping-pong and handovers between owners of `dimension`, and the `top` edges with
    /// the largest total waiting time, of `log` under the activities of `view`.
    pub fn new(
        log: &crate::EventLog,
        view: &crate::ActivityView,
        dimension: crate::OrgDimension,
        top: usize,
    ) -> PatternsReport {
        use crate::patterns::{bottlenecks, handovers, ping_pong, rework};
        let activity = |id: u32| view.names[id as usize].clone();
        let owner = |id: u32| log.strings.resolve(id).to_owned();
        let dfg = Dfg::discover(log, view);
        PatternsReport {
            rework: rework(log, view)
                .into_iter()
                .map(|r| ReworkReport {
                    activity: activity(r.activity),
                    cases: r.cases,
                    repeats: r.repeats,
                })
                .collect(),
            ping_pong: ping_pong(log, dimension)
                .into_iter()
                .map(|p| PingPongReport {
                    first: owner(p.first),
                    second: owner(p.second),
                    occurrences: p.occurrences,
                    cases: p.cases,
                })
                .collect(),
            bottlenecks: bottlenecks(&dfg, top)
                .edges
                .into_iter()
                .map(|e| BottleneckReport {
                    from: dfg.activities[e.from as usize].clone(),
                    to: dfg.activities[e.to as usize].clone(),
                    count: e.count,
                    total_seconds: e.wait.map_or(0.0, |w| w.total_seconds),
                    median_seconds: e.wait.map(|w| w.median_seconds),
                    p90_seconds: e.wait.map(|w| w.p90_seconds),
                })
                .collect(),
            handovers: handovers(log, dimension)
                .into_iter()
                .map(|h| HandoverReport {
                    from: owner(h.from),
                    to: owner(h.to),
                    count: h.count,
                    median_seconds: h.wait.map(|w| w.median_seconds),
                })
                .collect(),
        }
    }
}
