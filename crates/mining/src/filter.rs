//! Filters: the usual simplification sliders of a process-mining tool. Each returns a new log
//! (or graph) and leaves its input alone.

use crate::log::{ActivityView, EventLog, NONE, NO_TIME};
use crate::variants::Variants;

/// How a time window selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeWindowMode {
    /// Cases that start and end inside the window.
    CasesContained,
    /// Cases with at least one event inside the window.
    CasesIntersecting,
    /// Only the events inside the window (cases are trimmed).
    TrimEvents,
}

/// Keeps what falls in `[from_ms, to_ms)` (milliseconds since the epoch, UTC).
pub fn time_window(log: &EventLog, from_ms: i64, to_ms: i64, mode: TimeWindowMode) -> EventLog {
    let inside = |time: i64| time != NO_TIME && time >= from_ms && time < to_ms;
    match mode {
        TimeWindowMode::TrimEvents => {
            let mask: Vec<bool> = log.timestamp.iter().map(|&time| inside(time)).collect();
            log.retain_events(&mask)
        }
        TimeWindowMode::CasesContained => log.retain_cases(|case| {
            log.timestamp[log.case_range(case)]
                .iter()
                .all(|&time| inside(time))
        }),
        TimeWindowMode::CasesIntersecting => log.retain_cases(|case| {
            log.timestamp[log.case_range(case)]
                .iter()
                .any(|&time| inside(time))
        }),
    }
}

/// How an attribute filter selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeMode {
    /// Whole cases having at least one event with one of the values.
    CasesWithAnEvent,
    /// Only the events with one of the values.
    Events,
}

/// Keeps what has `key` equal to one of `values`. `key` is an event attribute: `concept:name`,
/// `lifecycle:transition`, `org:resource`, `org:group` or any other attribute read.
pub fn attribute_values(
    log: &EventLog,
    key: &str,
    values: &[&str],
    mode: AttributeMode,
) -> EventLog {
    let matches: Vec<bool> = match key {
        "concept:name" => {
            let wanted: Vec<u32> = values
                .iter()
                .filter_map(|value| log.activities.get(value))
                .collect();
            log.activity.iter().map(|id| wanted.contains(id)).collect()
        }
        _ => {
            let wanted: Vec<u32> = values
                .iter()
                .filter_map(|value| log.strings.get(value))
                .collect();
            let column: Option<&[u32]> = match key {
                "lifecycle:transition" => Some(&log.lifecycle),
                "org:resource" => Some(&log.resource),
                "org:group" => Some(&log.group),
                other => log
                    .event_attribute(other)
                    .map(|column| column.values.as_slice()),
            };
            match column {
                Some(column) => column
                    .iter()
                    .map(|id| *id != NONE && wanted.contains(id))
                    .collect(),
                None => vec![false; log.event_count()],
            }
        }
    };
    match mode {
        AttributeMode::Events => log.retain_events(&matches),
        AttributeMode::CasesWithAnEvent => {
            log.retain_cases(|case| matches[log.case_range(case)].iter().any(|&m| m))
        }
    }
}

/// Keeps the cases of the most frequent variants, just enough of them to cover `fraction` of
/// the cases (at least one variant when the log is not empty).
pub fn variant_coverage(log: &EventLog, variants: &Variants, fraction: f64) -> EventLog {
    let wanted_cases = (fraction.clamp(0.0, 1.0) * log.case_count() as f64).ceil() as u64;
    let mut covered = 0u64;
    let mut kept_variants = 0usize;
    for variant in &variants.variants {
        if covered >= wanted_cases && kept_variants > 0 {
            break;
        }
        covered += variant.count;
        kept_variants += 1;
    }
    log.retain_cases(|case| (variants.case_variant[case] as usize) < kept_variants)
}

/// Keeps only the events of the most frequent activities: the top `fraction` of activities by
/// event count (at least one). Removing an activity joins its neighbours, as Disco does.
pub fn most_frequent_activities(log: &EventLog, view: &ActivityView, fraction: f64) -> EventLog {
    let mut counts = vec![0u64; view.names.len()];
    for &activity in view.per_event.iter() {
        counts[activity as usize] += 1;
    }
    let present = counts.iter().filter(|&&count| count > 0).count();
    let keep = ((present as f64 * fraction.clamp(0.0, 1.0)).ceil() as usize).max(1);
    let mut order: Vec<usize> = (0..counts.len()).filter(|&a| counts[a] > 0).collect();
    order.sort_by(|&a, &b| {
        counts[b]
            .cmp(&counts[a])
            .then_with(|| view.names[a].cmp(&view.names[b]))
    });
    let mut kept = vec![false; counts.len()];
    for &activity in order.iter().take(keep) {
        kept[activity] = true;
    }
    let mask: Vec<bool> = view.per_event.iter().map(|&a| kept[a as usize]).collect();
    log.retain_events(&mask)
}
