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
