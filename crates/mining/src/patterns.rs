//! Patterns that cost a service time: rework, ping-pong, bottlenecks, handovers.

use crate::dfg::{directly_follows, wait_stats, Dfg, Edge, Pairs, WaitStats};
use crate::log::{ActivityView, EventLog, OrgDimension, NONE};

/// Rework of one activity: it happened more than once in some cases.
#[derive(Debug, Clone, PartialEq)]
pub struct Rework {
    /// The activity id.
    pub activity: u32,
    /// Cases where it happened at least twice.
    pub cases: u64,
    /// Extra occurrences beyond the first, over all cases.
    pub repeats: u64,
}

/// Activities repeated within a case, most cases first (ties by activity id).
pub fn rework(log: &EventLog, view: &ActivityView) -> Vec<Rework> {
    let activity_count = view.names.len();
    let mut cases = vec![0u64; activity_count];
    let mut repeats = vec![0u64; activity_count];
    let mut seen = vec![0u32; activity_count];
    let mut touched = Vec::new();
    for case in 0..log.case_count() {
        for &activity in &view.per_event[log.case_range(case)] {
            let activity = activity as usize;
            if seen[activity] == 0 {
                touched.push(activity);
            }
            seen[activity] += 1;
        }
        for &activity in &touched {
            if seen[activity] > 1 {
                cases[activity] += 1;
                repeats[activity] += u64::from(seen[activity] - 1);
            }
            seen[activity] = 0;
        }
        touched.clear();
    }
    let mut found: Vec<Rework> = (0..activity_count)
        .filter(|&a| cases[a] > 0)
        .map(|a| Rework {
            activity: a as u32,
            cases: cases[a],
            repeats: repeats[a],
        })
        .collect();
    found.sort_by(|a, b| b.cases.cmp(&a.cases).then(a.activity.cmp(&b.activity)));
    found
}

/// Ping-pong between two owners: work went A → B → A.
#[derive(Debug, Clone, PartialEq)]
pub struct PingPong {
    /// One owner (the one who had the work first), an id in [`EventLog::strings`].
    pub first: u32,
    /// The other owner.
    pub second: u32,
    /// How many A → B → A returns there were.
    pub occurrences: u64,
    /// In how many cases.
    pub cases: u64,
}

/// Finds A → B → A handovers between groups or agents. Consecutive events of the same owner
/// are one stay; events without an owner are ignored. Most occurrences first.
pub fn ping_pong(log: &EventLog, dimension: OrgDimension) -> Vec<PingPong> {
    let owners = log.org_column(dimension);
    let mut found: std::collections::BTreeMap<(u32, u32), (u64, u64)> = Default::default();
    let mut stays: Vec<u32> = Vec::new();
    let mut pairs_in_case: Vec<(u32, u32)> = Vec::new();
    for case in 0..log.case_count() {
        stays.clear();
        for &owner in &owners[log.case_range(case)] {
            if owner != NONE && stays.last() != Some(&owner) {
                stays.push(owner);
            }
        }
        pairs_in_case.clear();
        for window in stays.windows(3) {
            if window[0] == window[2] {
                let pair = (window[0], window[1]);
                found.entry(pair).or_default().0 += 1;
                if !pairs_in_case.contains(&pair) {
                    pairs_in_case.push(pair);
                }
            }
        }
        for pair in &pairs_in_case {
            found.entry(*pair).or_default().1 += 1;
        }
    }
    let mut result: Vec<PingPong> = found
        .into_iter()
        .map(|((first, second), (occurrences, cases))| PingPong {
            first,
            second,
            occurrences,
            cases,
        })
        .collect();
    result.sort_by_key(|pair| std::cmp::Reverse(pair.occurrences));
    result
}

/// Where cases wait longest.
#[derive(Debug, Clone, PartialEq)]
pub struct Bottlenecks {
    /// Edges by total waiting time, longest first.
    pub edges: Vec<Edge>,
    /// Activities by the total time cases waited before them (sum over incoming edges),
    /// longest first: `(activity id, total seconds)`.
    pub activities: Vec<(u32, f64)>,
}

/// The `top` edges and activities with the largest total waiting time.
pub fn bottlenecks(dfg: &Dfg, top: usize) -> Bottlenecks {
    let total = |edge: &Edge| edge.wait.map_or(0.0, |wait| wait.total_seconds);
    let mut edges = dfg.edges.clone();
    edges.sort_by(|a, b| total(b).total_cmp(&total(a)));
    edges.truncate(top);
    let mut waiting_before = vec![0.0f64; dfg.activities.len()];
    for edge in &dfg.edges {
        waiting_before[edge.to as usize] += total(edge);
    }
    let mut activities: Vec<(u32, f64)> = waiting_before
        .into_iter()
        .enumerate()
        .filter(|(_, seconds)| *seconds > 0.0)
        .map(|(activity, seconds)| (activity as u32, seconds))
        .collect();
    activities.sort_by(|a, b| b.1.total_cmp(&a.1));
    activities.truncate(top);
    Bottlenecks { edges, activities }
}

/// A handover of work from one owner to another.
#[derive(Debug, Clone, PartialEq)]
pub struct Handover {
    /// The owner who handed over, an id in [`EventLog::strings`].
    pub from: u32,
    /// The owner who took over.
    pub to: u32,
    /// How many times.
    pub count: u64,
    /// The time between the two events.
    pub wait: Option<WaitStats>,
}

/// The handover-of-work network: consecutive events of a case whose owners differ. Most
/// frequent first (ties by ids).
pub fn handovers(log: &EventLog, dimension: OrgDimension) -> Vec<Handover> {
    let owners = log.org_column(dimension);
    let edges = directly_follows(
        &log.case_starts,
        owners,
        &log.timestamp,
        log.strings.len(),
        Pairs::Changes,
    );
    let mut result: Vec<Handover> = edges
        .into_iter()
        .map(|edge| Handover {
            from: edge.from,
            to: edge.to,
            count: edge.count,
            wait: edge.wait,
        })
        .collect();
    result.sort_by(|a, b| {
        b.count
            .cmp(&a.count)
            .then(a.from.cmp(&b.from))
            .then(a.to.cmp(&b.to))
    });
    result
}

/// Case durations (last minus first timestamp), for summaries next to the map.
pub fn case_duration_stats(log: &EventLog) -> Option<WaitStats> {
    let mut durations: Vec<i64> = (0..log.case_count())
        .filter_map(|case| {
            let range = log.case_range(case);
            let (first, last) = (log.timestamp[range.start], log.timestamp[range.end - 1]);
            (last != crate::log::NO_TIME && first != crate::log::NO_TIME).then(|| last - first)
        })
        .collect();
    wait_stats(&mut durations)
}
