//! The directly-follows graph: which activity follows which within a case, how often, and how
//! long the case waited between them.
//!
//! Counting follows pm4py's `discover_dfg`: each case is ordered by timestamp (stable), and
//! every pair of consecutive events adds one to the edge between their activities, self-loops
//! included. The waiting time of a pair is the second timestamp minus the first.

use crate::log::{ActivityView, EventLog, FastMap, NONE, NO_TIME};

/// Waiting-time statistics of an edge, in seconds. Median and percentiles interpolate linearly
/// between neighbours, as numpy does, so they equal pm4py's performance DFG.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WaitStats {
    /// Sum of all waits.
    pub total_seconds: f64,
    /// Mean wait.
    pub mean_seconds: f64,
    /// Median wait.
    pub median_seconds: f64,
    /// 90th percentile of the wait.
    pub p90_seconds: f64,
}

/// One edge of the graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    /// Source activity id.
    pub from: u32,
    /// Target activity id.
    pub to: u32,
    /// How many times `to` directly followed `from`.
    pub count: u64,
    /// Waiting times, when both events of at least one pair have a timestamp.
    pub wait: Option<WaitStats>,
}

/// A directly-follows graph with frequencies, waiting times, and start and end activities.
#[derive(Debug, Clone, PartialEq)]
pub struct Dfg {
    /// Activity names by id.
    pub activities: Vec<String>,
    /// Events per activity.
    pub activity_counts: Vec<u64>,
    /// Edges, most frequent first (ties by source then target name).
    pub edges: Vec<Edge>,
    /// Cases starting with each activity.
    pub start: Vec<u64>,
    /// Cases ending with each activity.
    pub end: Vec<u64>,
}

impl Dfg {
    /// Discovers the graph of `log` under the activities of `view`.
    pub fn discover(log: &EventLog, view: &ActivityView) -> Dfg {
        let graph = directly_follows(
            &log.case_starts,
            &view.per_event,
            &log.timestamp,
            view.names.len(),
            Pairs::All,
        );
        let mut activity_counts = vec![0u64; view.names.len()];
        for &activity in view.per_event.iter() {
            activity_counts[activity as usize] += 1;
        }
        let mut start = vec![0u64; view.names.len()];
        let mut end = vec![0u64; view.names.len()];
        for case in log.case_starts.windows(2) {
            if case[1] > case[0] {
                start[view.per_event[case[0] as usize] as usize] += 1;
                end[view.per_event[case[1] as usize - 1] as usize] += 1;
            }
        }
        let mut dfg = Dfg {
            activities: view.names.clone(),
            activity_counts,
            edges: graph,
            start,
            end,
        };
        dfg.sort_edges();
        dfg
    }

    fn sort_edges(&mut self) {
        let names = &self.activities;
        self.edges.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| names[a.from as usize].cmp(&names[b.from as usize]))
                .then_with(|| names[a.to as usize].cmp(&names[b.to as usize]))
        });
    }

    /// Keeps the most frequent edges, Disco style: the top `fraction` of edges by count, plus,
    /// for every activity, its most frequent incoming and outgoing edge, so no activity is left
    /// hanging. `fraction` is clamped to 0..=1; 1 keeps every edge.
    pub fn simplify_edges(&self, fraction: f64) -> Dfg {
        let fraction = fraction.clamp(0.0, 1.0);
        let keep_top = (self.edges.len() as f64 * fraction).ceil() as usize;
        let mut keep = vec![false; self.edges.len()];
        keep[..keep_top].fill(true);
        let mut has_in = vec![false; self.activities.len()];
        let mut has_out = vec![false; self.activities.len()];
        // Edges are sorted by count, so the first one seen per activity is its strongest.
        for (index, edge) in self.edges.iter().enumerate() {
            if !has_out[edge.from as usize] {
                has_out[edge.from as usize] = true;
                keep[index] = true;
            }
            if !has_in[edge.to as usize] {
                has_in[edge.to as usize] = true;
                keep[index] = true;
            }
        }
        Dfg {
            edges: self
                .edges
                .iter()
                .zip(keep)
                .filter(|(_, keep)| *keep)
                .map(|(edge, _)| edge.clone())
                .collect(),
            ..self.clone()
        }
    }
}

/// Which consecutive pairs become edges.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pairs {
    /// Every pair (a directly-follows graph).
    All,
    /// Only pairs whose two ids differ and are both set (a handover of work).
    Changes,
}

/// Counts consecutive pairs of `ids` within each case and their waiting times.
///
/// Two passes: the first gives each pair its edge slot and counts; the second puts every wait
/// in one array grouped by edge, so medians are a selection in place, with no per-edge vectors.
pub(crate) fn directly_follows(
    case_starts: &[u32],
    ids: &[u32],
    timestamps: &[i64],
    id_count: usize,
    pairs: Pairs,
) -> Vec<Edge> {
    let dense = id_count.saturating_mul(id_count) <= 1 << 22;
    let mut matrix: Vec<u32> = if dense {
        vec![NONE; id_count * id_count]
    } else {
        Vec::new()
    };
    let mut sparse: FastMap<(u32, u32), u32> = FastMap::default();
    let mut edge_ends: Vec<(u32, u32)> = Vec::new();
    let mut counts: Vec<u64> = Vec::new();
    for case in case_starts.windows(2) {
        let (start, end) = (case[0] as usize, case[1] as usize);
        for second in start + 1..end {
            let (from, to) = (ids[second - 1], ids[second]);
            if pairs == Pairs::Changes && (from == to || from == NONE || to == NONE) {
                continue;
            }
            let slot = if dense {
                let cell = &mut matrix[from as usize * id_count + to as usize];
                if *cell == NONE {
                    *cell = edge_ends.len() as u32;
                    edge_ends.push((from, to));
                    counts.push(0);
                }
                *cell
            } else {
                *sparse.entry((from, to)).or_insert_with(|| {
                    edge_ends.push((from, to));
                    counts.push(0);
                    (edge_ends.len() - 1) as u32
                })
            };
            counts[slot as usize] += 1;
        }
    }
    // Second pass: waits grouped by slot.
    let mut offsets = Vec::with_capacity(counts.len() + 1);
    let mut running = 0usize;
    for &count in &counts {
        offsets.push(running);
        running += count as usize;
    }
    offsets.push(running);
    let mut filled = vec![0usize; counts.len()];
    let mut waits = vec![0i64; running];
    // The slot of a pair is looked up again rather than remembered per event: a second
    // matrix read is cheaper than writing and reading back a slot for each of millions of events.
    for case in case_starts.windows(2) {
        let (start, end) = (case[0] as usize, case[1] as usize);
        for second in start + 1..end {
            let (from, to) = (ids[second - 1], ids[second]);
            if pairs == Pairs::Changes && (from == to || from == NONE || to == NONE) {
                continue;
            }
            let (before, after) = (timestamps[second - 1], timestamps[second]);
            if before == NO_TIME || after == NO_TIME {
                continue;
            }
            let slot = if dense {
                matrix[from as usize * id_count + to as usize]
            } else {
                sparse.get(&(from, to)).copied().unwrap_or(NONE)
            } as usize;
            waits[offsets[slot] + filled[slot]] = after - before;
            filled[slot] += 1;
        }
    }
    edge_ends
        .iter()
        .enumerate()
        .map(|(slot, &(from, to))| Edge {
            from,
            to,
            count: counts[slot],
            wait: wait_stats(&mut waits[offsets[slot]..offsets[slot] + filled[slot]]),
        })
        .collect()
}

/// Statistics of a set of waits in milliseconds (reordered in place).
pub(crate) fn wait_stats(waits_ms: &mut [i64]) -> Option<WaitStats> {
    if waits_ms.is_empty() {
        return None;
    }
    let total_ms: i128 = waits_ms.iter().map(|&w| i128::from(w)).sum();
    let total_seconds = total_ms as f64 / 1000.0;
    Some(WaitStats {
        total_seconds,
        mean_seconds: total_seconds / waits_ms.len() as f64,
        median_seconds: percentile_ms(waits_ms, 0.5) / 1000.0,
        p90_seconds: percentile_ms(waits_ms, 0.9) / 1000.0,
    })
}

/// numpy's default (linear) percentile, by selection: O(n), no full sort.
fn percentile_ms(values: &mut [i64], quantile: f64) -> f64 {
    let position = quantile * (values.len() - 1) as f64;
    let lower_index = position.floor() as usize;
    let fraction = position - lower_index as f64;
    let (_, &mut lower, above) = values.select_nth_unstable(lower_index);
    if fraction == 0.0 || above.is_empty() {
        return lower as f64;
    }
    let upper = above.iter().copied().min().unwrap_or(lower);
    lower as f64 + (upper - lower) as f64 * fraction
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_like_numpy() {
        // numpy.percentile([1, 2, 3, 4], [50, 90]) == [2.5, 3.7]
        let cases: [(&[i64], f64, f64); 4] = [
            (&[4, 1, 3, 2], 0.5, 2.5),
            (&[4, 1, 3, 2], 0.9, 3.7),
            (&[7], 0.9, 7.0),
            (&[10, 0, 5], 0.5, 5.0),
        ];
        for (values, quantile, expected) in cases {
            let got = percentile_ms(&mut values.to_vec(), quantile);
            assert!(
                (got - expected).abs() < 1e-9,
                "{values:?} q{quantile}: {got}"
            );
        }
    }
}
