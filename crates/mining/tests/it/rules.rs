//! The rules of the event log, the graphs and the filters, each checked on small logs written
//! out in full.

use std::io::Write;

use mining::filter::{self, AttributeMode, TimeWindowMode};
use mining::patterns::{bottlenecks, handovers, ping_pong, rework};
use mining::report::{variants_report, DfgReport};
use mining::svg::{process_map_svg, MapOptions};
use mining::{
    parse_timestamp_millis, read_csv, read_xes, write_xes, Classifier, CsvMapping, Dfg, EventLog,
    MiningError, OrgDimension, Variants,
};
use proptest::prelude::*;

/// One event: activity, minute offset from 2024-01-01T00:00Z, resource, group.
type Spec<'a> = (&'a str, i64, &'a str, &'a str);

/// A log written as XES text, so every test also goes through the importer.
fn xes_of(cases: &[(&str, &[Spec])]) -> String {
    let mut xes = String::from(r#"<?xml version="1.0" encoding="UTF-8"?><log xes.version="1.0">"#);
    for (name, events) in cases {
        xes.push_str(&format!(
            r#"<trace><string key="concept:name" value="{name}"/>"#
        ));
        for (activity, minute, resource, group) in events.iter() {
            let time = mining::format_timestamp_millis(1_704_067_200_000 + minute * 60_000);
            let activity = quick_xml::escape::escape(*activity);
            xes.push_str(&format!(
                r#"<event><string key="concept:name" value="{activity}"/><string key="lifecycle:transition" value="complete"/><date key="time:timestamp" value="{time}"/><string key="org:resource" value="{resource}"/><string key="org:group" value="{group}"/></event>"#
            ));
        }
        xes.push_str("</trace>");
    }
    xes.push_str("</log>");
    xes
}

fn log_of(cases: &[(&str, &[Spec])]) -> EventLog {
    read_xes(xes_of(cases).as_bytes()).unwrap()
}

fn activities_of_cases(log: &EventLog) -> Vec<Vec<&str>> {
    (0..log.case_count())
        .map(|case| {
            log.case_range(case)
                .map(|event| log.activities.resolve(log.activity[event]))
                .collect()
        })
        .collect()
}

fn edges_of(dfg: &Dfg) -> Vec<(String, String, u64)> {
    dfg.edges
        .iter()
        .map(|edge| {
            (
                dfg.activities[edge.from as usize].clone(),
                dfg.activities[edge.to as usize].clone(),
                edge.count,
            )
        })
        .collect()
}

#[test]
fn a_case_is_ordered_by_time_and_equal_times_keep_the_file_order() {
    let log = log_of(&[(
        "c1",
        &[
            ("C", 5, "", ""),
            ("A", 1, "", ""),
            ("B", 5, "", ""),
            ("D", 3, "", ""),
        ],
    )]);
    assert_eq!(activities_of_cases(&log), vec![vec!["A", "D", "C", "B"]]);
}

#[test]
fn each_consecutive_pair_is_one_edge_and_its_waits_are_summarised_like_numpy() {
    let log = log_of(&[
        (
            "c1",
            &[("A", 0, "", ""), ("B", 1, "", ""), ("B", 2, "", "")],
        ),
        ("c2", &[("A", 0, "", ""), ("B", 3, "", "")]),
        (
            "c3",
            &[("A", 0, "", ""), ("B", 6, "", ""), ("C", 7, "", "")],
        ),
        ("c4", &[("A", 0, "", ""), ("B", 10, "", "")]),
    ]);
    let dfg = Dfg::discover(&log, &log.classify(Classifier::Name));
    assert_eq!(
        edges_of(&dfg),
        vec![
            ("A".into(), "B".into(), 4),
            ("B".into(), "B".into(), 1),
            ("B".into(), "C".into(), 1)
        ]
    );
    // Waits A→B: 1, 3, 6, 10 minutes.
    let wait = dfg.edges[0].wait.unwrap();
    assert_eq!(wait.total_seconds, 1200.0);
    assert_eq!(wait.mean_seconds, 300.0);
    assert_eq!(wait.median_seconds, 270.0); // (3 + 6) / 2 minutes
    assert!((wait.p90_seconds - 528.0).abs() < 1e-9); // 6 + 0.7 * (10 - 6) minutes
    assert_eq!(dfg.start, vec![4, 0, 0]);
    assert_eq!(dfg.end, vec![0, 3, 1]);
    let report = serde_json::to_value(DfgReport::new(&dfg)).unwrap();
    assert_eq!(
        report,
        serde_json::json!({
            "edges": [
                {"from": "A", "to": "B", "count": 4, "median_seconds": 270.0},
                {"from": "B", "to": "B", "count": 1, "median_seconds": 60.0},
                {"from": "B", "to": "C", "count": 1, "median_seconds": 60.0}
            ],
            "start": {"A": 4},
            "end": {"B": 3, "C": 1}
        })
    );
}

#[test]
fn variants_are_most_frequent_first_and_ties_are_ordered_by_activity_names() {
    let log = log_of(&[
        ("c1", &[("B", 0, "", ""), ("A", 1, "", "")]),
        ("c2", &[("A", 0, "", ""), ("C", 1, "", "")]),
        ("c3", &[("A", 0, "", ""), ("B", 1, "", "")]),
        ("c4", &[("A", 0, "", ""), ("C", 1, "", "")]),
        ("c5", &[("A", 0, "", "")]),
    ]);
    let variants = Variants::discover(&log, &log.classify(Classifier::Name));
    let report = serde_json::to_value(variants_report(&variants)).unwrap();
    assert_eq!(
        report,
        serde_json::json!([
            {"activities": ["A", "C"], "count": 2},
            {"activities": ["A"], "count": 1},
            {"activities": ["A", "B"], "count": 1},
            {"activities": ["B", "A"], "count": 1}
        ])
    );
    assert_eq!(variants.variants[0].share, 0.4);
    assert_eq!(variants.case_variant, vec![3, 0, 2, 0, 1]);
}

#[test]
fn the_name_and_lifecycle_classifier_joins_them_with_a_plus() {
    let xes = r#"<log><trace><event><string key="concept:name" value="A"/><string key="lifecycle:transition" value="start"/></event><event><string key="concept:name" value="A"/><string key="lifecycle:transition" value="complete"/></event><event><string key="concept:name" value="B"/></event></trace></log>"#;
    let log = read_xes(xes.as_bytes()).unwrap();
    assert_eq!(log.classify(Classifier::Name).names, vec!["A", "B"]);
    assert_eq!(
        log.classify(Classifier::NameAndLifecycle).names,
        vec!["A+start", "A+complete", "B"]
    );
    assert_eq!(
        "name+lifecycle".parse::<Classifier>(),
        Ok(Classifier::NameAndLifecycle)
    );
    assert!("lifecycle"
        .parse::<Classifier>()
        .unwrap_err()
        .contains("name+lifecycle"));
}

#[test]
fn the_importer_reads_the_standard_extensions_and_skips_what_it_does_not_keep() {
    let xes = r#"<?xml version="1.0"?>
<log xes.version="1.0" xmlns="http://www.xes-standard.org/">
  <extension name="Concept" prefix="concept" uri="http://www.xes-standard.org/concept.xesext"/>
  <global scope="event"><string key="concept:name" value="GLOBAL"/></global>
  <classifier name="Activity" keys="concept:name"/>
  <string key="concept:name" value="the log's own name"/>
  <trace>
    <string key="concept:name" value="case &amp; one"/>
    <int key="priority" value="3"/>
    <event>
      <string value='Fix &lt;urgent&gt;' key='concept:name'/>
      <date key="time:timestamp" value="2024-01-01T10:00:00.250+01:00"/>
      <string key="org:resource" value="Ann"/>
      <string key="org:group" value="Tier 1"/>
      <string key="channel" value="email">
        <string key="nested" value="not kept"/>
      </string>
      <list key="tags"><values><string key="tag" value="x"/></values></list>
    </event>
    <event/>
  </trace>
  <trace></trace>
</log>"#;
    let log = read_xes(xes.as_bytes()).unwrap();
    assert_eq!(log.case_count(), 1, "an empty trace is no case");
    assert_eq!(
        log.event_count(),
        2,
        "an event without attributes still counts"
    );
    assert_eq!(log.strings.resolve(log.case_names[0]), "case & one");
    assert_eq!(log.activities.resolve(log.activity[0]), "Fix <urgent>");
    assert_eq!(log.activities.resolve(log.activity[1]), "");
    assert_eq!(
        log.timestamp[0],
        parse_timestamp_millis("2024-01-01T09:00:00.250Z").unwrap()
    );
    assert_eq!(log.timestamp[1], mining::NO_TIME);
    assert_eq!(log.strings.resolve(log.resource[0]), "Ann");
    assert_eq!(log.strings.resolve(log.group[0]), "Tier 1");
    let channel = log.event_attribute("channel").unwrap();
    assert_eq!(log.strings.resolve(channel.values[0]), "email");
    assert_eq!(channel.values[1], mining::NONE);
    assert!(log.event_attribute("nested").is_none() && log.event_attribute("tag").is_none());
    assert_eq!(log.case_attributes.len(), 1);
    assert_eq!(log.strings.resolve(log.case_attributes[0].values[0]), "3");
}

#[test]
fn broken_xes_is_refused_with_a_reason_a_person_can_act_on() {
    let cases: [(&str, &str); 2] = [
        (
            r#"<log><trace><event><date key="time:timestamp" value="last tuesday"/></event></trace></log>"#,
            "not an ISO 8601 date",
        ),
        (
            r#"<log><trace><event><string key="a" value="x></event></trace></log>"#,
            "not valid XML",
        ),
    ];
    for (xes, expected) in cases {
        let error = read_xes(xes.as_bytes()).unwrap_err().to_string();
        assert!(error.contains(expected), "{error}");
    }
}

#[test]
fn gzip_and_plain_xes_read_the_same() {
    let xes = xes_of(&[("c1", &[("A", 0, "r", "g"), ("B", 5, "s", "g")])]);
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(xes.as_bytes()).unwrap();
    let compressed = encoder.finish().unwrap();
    let from_gzip = mining::read_xes_gz(std::io::Cursor::new(compressed)).unwrap();
    let plain = read_xes(xes.as_bytes()).unwrap();
    assert_eq!(activities_of_cases(&from_gzip), activities_of_cases(&plain));
    assert_eq!(from_gzip.timestamp, plain.timestamp);
}

#[test]
fn csv_rows_in_any_order_are_grouped_by_case_and_sorted_by_time() {
    let csv = "ticket,step,at,agent,channel\n\
               T2,Reply,2024-01-01T10:05:00Z,bob,chat\n\
               T1,Open,2024-01-01 09:00:00,ann,email\n\
               T2,Open,2024-01-01T10:00:00+00:00,bob,chat\n\
               T1,Close,2024-01-01T09:30:00Z,ann,\n";
    let mapping = CsvMapping {
        case: "ticket".into(),
        activity: "step".into(),
        timestamp: "at".into(),
        resource: Some("agent".into()),
        ..CsvMapping::default()
    };
    let log = read_csv(csv.as_bytes(), &mapping).unwrap();
    assert_eq!(
        activities_of_cases(&log),
        vec![vec!["Open", "Reply"], vec!["Open", "Close"]]
    );
    assert_eq!(log.strings.resolve(log.case_names[0]), "T2");
    assert_eq!(log.strings.resolve(log.resource[0]), "bob");
    let channel = log.event_attribute("channel").unwrap();
    assert_eq!(log.strings.resolve(channel.values[2]), "email");
    assert_eq!(channel.values[3], mining::NONE, "an empty cell is no value");
}

#[test]
fn csv_problems_name_the_line_or_the_columns() {
    let mapping = CsvMapping {
        case: "case".into(),
        activity: "activity".into(),
        timestamp: "time".into(),
        ..CsvMapping::default()
    };
    let cases = [
        (
            "case,activity,when\n1,A,2024-01-01T00:00:00Z\n",
            "there is no column \"time\"; the columns are case, activity, when",
        ),
        ("case,activity,time\n1,A,soon\n", "line 2: \"soon\""),
    ];
    for (csv, expected) in cases {
        let error: MiningError = read_csv(csv.as_bytes(), &mapping).unwrap_err();
        assert!(error.to_string().contains(expected), "{error}");
    }
}

#[test]
fn time_windows_select_contained_intersecting_or_trimmed() {
    let log = log_of(&[
        ("inside", &[("A", 10, "", ""), ("B", 20, "", "")]),
        ("straddles", &[("A", 5, "", ""), ("B", 15, "", "")]),
        ("outside", &[("A", 30, "", "")]),
    ]);
    let minute = |m: i64| 1_704_067_200_000 + m * 60_000;
    let cases = [
        (TimeWindowMode::CasesContained, vec![vec!["A", "B"]]),
        (
            TimeWindowMode::CasesIntersecting,
            vec![vec!["A", "B"], vec!["A", "B"]],
        ),
        (TimeWindowMode::TrimEvents, vec![vec!["A", "B"], vec!["B"]]),
    ];
    for (mode, expected) in cases {
        let filtered = filter::time_window(&log, minute(10), minute(25), mode);
        assert_eq!(activities_of_cases(&filtered), expected, "{mode:?}");
    }
}

#[test]
fn attribute_filters_keep_cases_with_a_match_or_only_the_matching_events() {
    let log = log_of(&[
        ("c1", &[("A", 0, "ann", "t1"), ("B", 1, "bob", "t2")]),
        ("c2", &[("A", 0, "cat", "t1")]),
    ]);
    let cases = [
        (
            "org:resource",
            vec!["bob"],
            AttributeMode::CasesWithAnEvent,
            vec![vec!["A", "B"]],
        ),
        (
            "org:group",
            vec!["t1"],
            AttributeMode::Events,
            vec![vec!["A"], vec!["A"]],
        ),
        (
            "concept:name",
            vec!["B"],
            AttributeMode::Events,
            vec![vec!["B"]],
        ),
        ("unknown key", vec!["x"], AttributeMode::Events, vec![]),
    ];
    for (key, values, mode, expected) in cases {
        let filtered = filter::attribute_values(&log, key, &values, mode);
        assert_eq!(activities_of_cases(&filtered), expected, "{key}");
    }
}

#[test]
fn variant_coverage_keeps_the_fewest_most_frequent_variants_that_cover_the_share() {
    let log = log_of(&[
        ("c1", &[("A", 0, "", "")]),
        ("c2", &[("A", 0, "", "")]),
        ("c3", &[("A", 0, "", "")]),
        ("c4", &[("B", 0, "", "")]),
        ("c5", &[("C", 0, "", "")]),
    ]);
    let variants = Variants::discover(&log, &log.classify(Classifier::Name));
    for (share, expected_cases) in [(0.0, 3), (0.5, 3), (0.6, 3), (0.61, 4), (1.0, 5)] {
        let filtered = filter::variant_coverage(&log, &variants, share);
        assert_eq!(filtered.case_count(), expected_cases, "{share}");
    }
}

#[test]
fn dropping_rare_activities_joins_their_neighbours() {
    let log = log_of(&[
        (
            "c1",
            &[("A", 0, "", ""), ("rare", 1, "", ""), ("B", 2, "", "")],
        ),
        ("c2", &[("A", 0, "", ""), ("B", 1, "", "")]),
    ]);
    let view = log.classify(Classifier::Name);
    let filtered = filter::most_frequent_activities(&log, &view, 0.5);
    let dfg = Dfg::discover(&filtered, &filtered.classify(Classifier::Name));
    assert_eq!(edges_of(&dfg), vec![("A".into(), "B".into(), 2)]);
}

#[test]
fn edge_simplification_keeps_the_strongest_edges_and_one_in_and_out_per_activity() {
    let log = log_of(&[
        (
            "c1",
            &[("A", 0, "", ""), ("B", 1, "", ""), ("C", 2, "", "")],
        ),
        (
            "c2",
            &[("A", 0, "", ""), ("B", 1, "", ""), ("C", 2, "", "")],
        ),
        (
            "c3",
            &[("A", 0, "", ""), ("C", 1, "", ""), ("B", 2, "", "")],
        ),
    ]);
    let dfg = Dfg::discover(&log, &log.classify(Classifier::Name));
    assert_eq!(dfg.edges.len(), 4);
    let simplified = dfg.simplify_edges(0.0);
    assert_eq!(
        edges_of(&simplified),
        vec![
            ("A".into(), "B".into(), 2),
            ("B".into(), "C".into(), 2),
            ("C".into(), "B".into(), 1)
        ]
    );
}

#[test]
fn rework_counts_cases_and_extra_occurrences() {
    let log = log_of(&[
        (
            "c1",
            &[
                ("A", 0, "", ""),
                ("B", 1, "", ""),
                ("A", 2, "", ""),
                ("A", 3, "", ""),
            ],
        ),
        (
            "c2",
            &[("A", 0, "", ""), ("B", 1, "", ""), ("B", 2, "", "")],
        ),
        ("c3", &[("A", 0, "", "")]),
    ]);
    let view = log.classify(Classifier::Name);
    let found: Vec<(String, u64, u64)> = rework(&log, &view)
        .into_iter()
        .map(|r| (view.names[r.activity as usize].clone(), r.cases, r.repeats))
        .collect();
    assert_eq!(found, vec![("A".into(), 1, 2), ("B".into(), 1, 1)]);
}

#[test]
fn ping_pong_is_a_return_to_the_previous_owner() {
    let log = log_of(&[
        // t1 → t2 → t1 → t2: two returns (t1,t2,t1) and (t2,t1,t2).
        (
            "c1",
            &[
                ("A", 0, "a", "t1"),
                ("B", 1, "b", "t2"),
                ("C", 2, "a", "t1"),
                ("D", 3, "c", "t2"),
            ],
        ),
        // t1 stays with t1 across events: no ping-pong.
        (
            "c2",
            &[
                ("A", 0, "a", "t1"),
                ("B", 1, "a", "t1"),
                ("C", 2, "b", "t2"),
            ],
        ),
    ]);
    let found: Vec<(String, String, u64, u64)> = ping_pong(&log, OrgDimension::Group)
        .into_iter()
        .map(|p| {
            (
                log.strings.resolve(p.first).into(),
                log.strings.resolve(p.second).into(),
                p.occurrences,
                p.cases,
            )
        })
        .collect();
    assert_eq!(
        found,
        vec![
            ("t1".into(), "t2".into(), 1, 1),
            ("t2".into(), "t1".into(), 1, 1)
        ]
    );
}

#[test]
fn handovers_link_consecutive_events_of_different_owners() {
    let log = log_of(&[
        (
            "c1",
            &[
                ("A", 0, "ann", ""),
                ("B", 10, "ann", ""),
                ("C", 20, "bob", ""),
                ("D", 50, "ann", ""),
            ],
        ),
        ("c2", &[("A", 0, "ann", ""), ("B", 5, "bob", "")]),
    ]);
    let found: Vec<(String, String, u64, f64)> = handovers(&log, OrgDimension::Resource)
        .into_iter()
        .map(|h| {
            (
                log.strings.resolve(h.from).into(),
                log.strings.resolve(h.to).into(),
                h.count,
                h.wait.unwrap().median_seconds,
            )
        })
        .collect();
    assert_eq!(
        found,
        vec![
            ("ann".into(), "bob".into(), 2, 450.0),
            ("bob".into(), "ann".into(), 1, 1800.0)
        ]
    );
}

#[test]
fn bottlenecks_rank_edges_and_activities_by_total_waiting_time() {
    let log = log_of(&[
        (
            "c1",
            &[("A", 0, "", ""), ("B", 60, "", ""), ("C", 61, "", "")],
        ),
        ("c2", &[("A", 0, "", ""), ("C", 30, "", "")]),
    ]);
    let dfg = Dfg::discover(&log, &log.classify(Classifier::Name));
    let found = bottlenecks(&dfg, 2);
    let edges: Vec<(String, String)> = found
        .edges
        .iter()
        .map(|e| {
            (
                dfg.activities[e.from as usize].clone(),
                dfg.activities[e.to as usize].clone(),
            )
        })
        .collect();
    assert_eq!(
        edges,
        vec![("A".into(), "B".into()), ("A".into(), "C".into())]
    );
    let activities: Vec<(&str, f64)> = found
        .activities
        .iter()
        .map(|&(a, s)| (dfg.activities[a as usize].as_str(), s))
        .collect();
    assert_eq!(activities, vec![("B", 3600.0), ("C", 1860.0)]);
}

#[test]
fn the_process_map_is_well_formed_svg_with_every_kept_activity() {
    let log = log_of(&[
        (
            "c1",
            &[
                ("Open", 0, "", ""),
                ("Reply", 5, "", ""),
                ("Open", 6, "", ""),
                ("Close & archive", 9, "", ""),
            ],
        ),
        (
            "c2",
            &[
                ("Open", 0, "", ""),
                ("Reply", 1, "", ""),
                ("Close & archive", 2, "", ""),
            ],
        ),
        ("c3", &[("Open", 0, "", ""), ("Rare", 1, "", "")]),
    ]);
    let svg = process_map_svg(
        &log,
        &MapOptions {
            activities: 0.75,
            edges: 0.5,
            ..MapOptions::default()
        },
    );
    let mut reader = quick_xml::Reader::from_str(&svg);
    loop {
        match reader.read_event().unwrap() {
            quick_xml::events::Event::Eof => break,
            _ => continue,
        }
    }
    for expected in ["Open", "Reply", "Close &amp; archive", "start", "end"] {
        assert!(
            svg.contains(&format!(">{expected}</text>")),
            "{expected} missing"
        );
    }
    assert!(
        !svg.contains(">Rare</text>"),
        "the rarest activity is simplified away"
    );
}

fn arbitrary_log() -> impl Strategy<Value = Vec<Vec<(u8, i64, u8)>>> {
    prop::collection::vec(
        prop::collection::vec((0u8..5, 0i64..1_000_000, 0u8..4), 1..8),
        0..20,
    )
}

fn build(cases: &[Vec<(u8, i64, u8)>]) -> EventLog {
    let mut builder = mining::LogBuilder::new();
    for (number, events) in cases.iter().enumerate() {
        builder.start_case();
        let name = builder.intern(&format!("case {number}"));
        builder.set_case_name(name);
        for &(activity, seconds, resource) in events {
            let activity = builder.intern_activity(&format!("act <{activity}>"));
            let resource = builder.intern(&format!("agent & {resource}"));
            builder.push_event(mining::EventFields {
                activity,
                lifecycle: mining::NONE,
                timestamp: 1_700_000_000_000 + seconds * 1000,
                resource,
                group: mining::NONE,
            });
        }
        builder.end_case();
    }
    builder.finish()
}

proptest! {
    #[test]
    fn every_event_but_the_first_of_a_case_closes_one_edge_and_every_case_has_one_variant(cases in arbitrary_log()) {
        let log = build(&cases);
        let view = log.classify(Classifier::Name);
        let dfg = Dfg::discover(&log, &view);
        let arcs: u64 = dfg.edges.iter().map(|edge| edge.count).sum();
        prop_assert_eq!(arcs as usize, log.event_count() - log.case_count());
        prop_assert_eq!(dfg.start.iter().sum::<u64>() as usize, log.case_count());
        let variants = Variants::discover(&log, &view);
        prop_assert_eq!(variants.variants.iter().map(|v| v.count).sum::<u64>() as usize, log.case_count());
        for pair in variants.variants.windows(2) {
            prop_assert!(pair[0].count >= pair[1].count);
        }
        for case in 0..log.case_count() {
            let times = &log.timestamp[log.case_range(case)];
            prop_assert!(times.windows(2).all(|t| t[0] <= t[1]));
        }
    }

    #[test]
    fn exporting_to_xes_and_reading_it_back_gives_the_same_log(cases in arbitrary_log()) {
        let log = build(&cases);
        let mut xes = Vec::new();
        write_xes(&log, &mut xes).unwrap();
        let back = read_xes(&xes[..]).unwrap();
        prop_assert_eq!(activities_of_cases(&back), activities_of_cases(&log));
        prop_assert_eq!(&back.timestamp, &log.timestamp);
        let resources = |log: &EventLog| log.resource.iter().map(|&r| log.strings.resolve(r).to_owned()).collect::<Vec<_>>();
        prop_assert_eq!(resources(&back), resources(&log));
    }
}

#[test]
fn a_document_larger_than_one_read_chunk_reads_whole() {
    // About 6 MB of XES: the reader cuts it into several pieces at trace ends.
    let cases: Vec<Vec<(u8, i64, u8)>> = (0..6_000)
        .map(|case| {
            (0..5)
                .map(|event| ((case + event) as u8 % 5, event * 60, event as u8 % 4))
                .collect()
        })
        .collect();
    let log = build(&cases);
    let mut xes = Vec::new();
    write_xes(&log, &mut xes).unwrap();
    assert!(xes.len() > 3 << 20, "{} bytes", xes.len());
    let back = read_xes(&xes[..]).unwrap();
    assert_eq!(back.case_count(), 6_000);
    assert_eq!(activities_of_cases(&back), activities_of_cases(&log));
    let mut compressed = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    compressed.write_all(&xes).unwrap();
    let from_gzip =
        mining::read_xes_gz(std::io::Cursor::new(compressed.finish().unwrap())).unwrap();
    assert_same_log(&from_gzip, &back);
}

/// Two logs are equal column for column, string ids included.
pub fn assert_same_log(a: &EventLog, b: &EventLog) {
    let strings = |table: &mining::Interner| {
        (0..table.len() as u32)
            .map(|id| table.resolve(id).to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(strings(&a.activities), strings(&b.activities));
    assert_eq!(strings(&a.strings), strings(&b.strings));
    assert_eq!(a.case_names, b.case_names);
    assert_eq!(a.case_starts, b.case_starts);
    assert_eq!(a.activity, b.activity);
    assert_eq!(a.lifecycle, b.lifecycle);
    assert_eq!(a.timestamp, b.timestamp);
    assert_eq!(a.resource, b.resource);
    assert_eq!(a.group, b.group);
    for (x, y) in [
        (&a.event_attributes, &b.event_attributes),
        (&a.case_attributes, &b.case_attributes),
    ] {
        assert_eq!(x.len(), y.len());
        for (x, y) in x.iter().zip(y.iter()) {
            assert_eq!((x.key, x.kind, &x.values), (y.key, y.kind, &y.values));
        }
    }
}

#[test]
fn every_4_kib_block_of_an_export_decodes_on_its_own_as_pm4py_reads_it() {
    let mut builder = mining::LogBuilder::new();
    let agents: Vec<u32> = ["Frédéric", "Zoë", "Łukasz", "東京"]
        .iter()
        .map(|name| builder.intern(name))
        .collect();
    let activity = builder.intern_activity("Réponse envoyée");
    for case in 0..400 {
        builder.start_case();
        for event in 0..5 {
            builder.push_event(mining::EventFields {
                activity,
                lifecycle: mining::NONE,
                timestamp: 1_700_000_000_000 + event * 1000,
                resource: agents[(case + event as usize) % agents.len()],
                group: mining::NONE,
            });
        }
        builder.end_case();
    }
    let log = builder.finish();
    let mut xes = Vec::new();
    write_xes(&log, &mut xes).unwrap();
    for (index, block) in xes.chunks(4096).enumerate() {
        assert!(
            std::str::from_utf8(block).is_ok(),
            "block {index} splits a character"
        );
    }
    let back = read_xes(&xes[..]).unwrap();
    assert_eq!(activities_of_cases(&back), activities_of_cases(&log));
}
