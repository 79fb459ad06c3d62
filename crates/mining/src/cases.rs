//! The cases behind a figure: which cases make up an edge of the map, a rework count or a
//! ping-pong count, so a person can open them (a drill-down). Each function returns case
//! indices in log order; [`EventLog::case_names`] names them.

use crate::log::{ActivityView, EventLog, OrgDimension, NONE};

/// Cases in which `to` directly follows `from` at least once (the cases behind a DFG edge).
pub fn with_edge(log: &EventLog, view: &ActivityView, from: u32, to: u32) -> Vec<usize> {
    (0..log.case_count())
        .filter(|&case| {
            view.per_event[log.case_range(case)]
                .windows(2)
                .any(|pair| pair[0] == from && pair[1] == to)
        })
        .collect()
}

/// Cases in which `activity` happens more than once (the cases behind a rework row).
pub fn with_rework(log: &EventLog, view: &ActivityView, activity: u32) -> Vec<usize> {
    (0..log.case_count())
        .filter(|&case| {
            view.per_event[log.case_range(case)]
                .iter()
                .filter(|&&a| a == activity)
                .nth(1)
                .is_some()
        })
        .collect()
}

/// Cases in which work went `first` → `second` → `first` between owners, counted as
/// [`crate::patterns::ping_pong`] counts them (consecutive events of one owner are one stay;
/// events without an owner are ignored).
pub fn with_ping_pong(
    log: &EventLog,
    dimension: OrgDimension,
    first: u32,
    second: u32,
) -> Vec<usize> {
    let owners = log.org_column(dimension);
    let mut stays: Vec<u32> = Vec::new();
    (0..log.case_count())
        .filter(|&case| {
            stays.clear();
            for &owner in &owners[log.case_range(case)] {
                if owner != NONE && stays.last() != Some(&owner) {
                    stays.push(owner);
                }
            }
            stays
                .windows(3)
                .any(|w| w[0] == first && w[1] == second && w[2] == first)
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::log::{Classifier, EventFields, LogBuilder, NONE};

    /// Cases of (activity, group) steps, one minute apart.
    fn log_of(cases: &[&[(&str, &str)]]) -> EventLog {
        let mut builder = LogBuilder::new();
        for (index, steps) in cases.iter().enumerate() {
            builder.start_case();
            let name = builder.intern(&format!("c{index}"));
            builder.set_case_name(name);
            for (minute, (activity, group)) in steps.iter().enumerate() {
                let activity = builder.intern_activity(activity);
                let group = if group.is_empty() {
                    NONE
                } else {
                    builder.intern(group)
                };
                builder.push_event(EventFields {
                    activity,
                    lifecycle: NONE,
                    timestamp: minute as i64 * 60_000,
                    resource: NONE,
                    group,
                });
            }
            builder.end_case();
        }
        builder.finish()
    }

    #[test]
    fn an_edge_drills_to_the_cases_where_one_activity_directly_follows_the_other() {
        let log = log_of(&[
            &[("A", ""), ("B", ""), ("C", "")],
            &[("A", ""), ("C", ""), ("B", "")],
            &[("B", ""), ("A", ""), ("B", "")],
        ]);
        let view = log.classify(Classifier::Name);
        let id = |name| log.activities.get(name).unwrap();
        assert_eq!(with_edge(&log, &view, id("A"), id("B")), vec![0, 2]);
        assert_eq!(with_edge(&log, &view, id("C"), id("B")), vec![1]);
        assert!(with_edge(&log, &view, id("C"), id("A")).is_empty());
    }

    #[test]
    fn rework_drills_to_the_cases_that_repeat_the_activity() {
        let log = log_of(&[
            &[("A", ""), ("B", ""), ("A", "")],
            &[("A", ""), ("B", "")],
            &[("B", ""), ("B", ""), ("A", "")],
        ]);
        let view = log.classify(Classifier::Name);
        let id = |name| log.activities.get(name).unwrap();
        assert_eq!(with_rework(&log, &view, id("A")), vec![0]);
        assert_eq!(with_rework(&log, &view, id("B")), vec![2]);
    }

    #[test]
    fn ping_pong_drills_to_the_cases_that_returned_to_the_first_owner() {
        let log = log_of(&[
            // t1 → t2 → t1 (the unowned event in between does not break the stay).
            &[("A", "t1"), ("B", "t2"), ("C", ""), ("D", "t1")],
            // t1 → t2 only.
            &[("A", "t1"), ("B", "t1"), ("C", "t2")],
            // t2 → t1 → t2: the other direction.
            &[("A", "t2"), ("B", "t1"), ("C", "t2")],
        ]);
        let id = |name| log.strings.get(name).unwrap();
        assert_eq!(
            with_ping_pong(&log, OrgDimension::Group, id("t1"), id("t2")),
            vec![0]
        );
        assert_eq!(
            with_ping_pong(&log, OrgDimension::Group, id("t2"), id("t1")),
            vec![2]
        );
        // The counts agree with the pattern's.
        let found = crate::patterns::ping_pong(&log, OrgDimension::Group);
        assert!(found.iter().all(|p| p.cases == 1));
    }
}
