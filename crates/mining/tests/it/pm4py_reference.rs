//! Our directly-follows graphs, start and end activities and variants equal pm4py's on the BPI
//! Challenge 2013 logs (`../shared/data/eventlogs/bpic2013/pm4py_reference.json`, computed with
//! pm4py 2.7.23.11 and its default importer).

use std::collections::BTreeMap;
use std::path::Path;

use mining::{read_xes_file, Classifier, Dfg, Variants};
use serde_json::Value;

const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/eventlogs/bpic2013"
);

fn reference() -> Option<Value> {
    let path = Path::new(DATA).join("pm4py_reference.json");
    if !path.exists() {
        assert!(
            std::env::var("RAPPORT_REQUIRE_SHARED").as_deref() != Ok("1"),
            "{} not found and RAPPORT_REQUIRE_SHARED=1",
            path.display()
        );
        eprintln!("skipped: {} not found", path.display());
        return None;
    }
    Some(serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap())
}

fn counts(value: &Value) -> BTreeMap<String, u64> {
    value
        .as_object()
        .unwrap()
        .iter()
        .map(|(key, count)| (key.clone(), count.as_u64().unwrap()))
        .collect()
}

#[test]
fn dfg_start_end_and_variants_equal_pm4py_on_every_bpic_2013_log() {
    let Some(reference) = reference() else { return };
    let mut checked = 0;
    for (file, expected) in reference.as_object().unwrap() {
        let Some(expected) = expected.as_object() else {
            continue;
        };
        let log = read_xes_file(&Path::new(DATA).join(file)).unwrap();
        // The parallel file reader builds exactly what one parser reading in order builds.
        let compressed = std::fs::File::open(Path::new(DATA).join(file)).unwrap();
        let in_order = mining::read_xes(flate2::read::MultiGzDecoder::new(compressed)).unwrap();
        crate::rules::assert_same_log(&log, &in_order);
        assert_eq!(
            log.event_count() as u64,
            expected["rows"].as_u64().unwrap(),
            "{file} events"
        );
        assert_eq!(
            log.case_count() as u64,
            expected["cases"].as_u64().unwrap(),
            "{file} cases"
        );

        let view = log.classify(Classifier::Name);
        assert_eq!(
            view.names.len() as u64,
            expected["activities"].as_u64().unwrap(),
            "{file}"
        );
        let dfg = Dfg::discover(&log, &view);
        let ours: BTreeMap<String, u64> = dfg
            .edges
            .iter()
            .map(|edge| {
                let name = |id: u32| dfg.activities[id as usize].clone();
                (
                    format!("{} -> {}", name(edge.from), name(edge.to)),
                    edge.count,
                )
            })
            .collect();
        assert_eq!(ours, counts(&expected["dfg"]), "{file}: DFG");
        let by_name = |per_activity: &[u64]| -> BTreeMap<String, u64> {
            per_activity
                .iter()
                .enumerate()
                .filter(|(_, &count)| count > 0)
                .map(|(id, &count)| (dfg.activities[id].clone(), count))
                .collect()
        };
        assert_eq!(
            by_name(&dfg.start),
            counts(&expected["start_activities"]),
            "{file}: start"
        );
        assert_eq!(
            by_name(&dfg.end),
            counts(&expected["end_activities"]),
            "{file}: end"
        );

        let variants = Variants::discover(&log, &view);
        assert_eq!(
            variants.variants.len() as u64,
            expected["variants"].as_u64().unwrap(),
            "{file}"
        );
        // pm4py's variants are keyed by the activities joined with " , ".
        let ours: BTreeMap<String, u64> = variants
            .variants
            .iter()
            .map(|variant| (variants.names_of(variant).join(" , "), variant.count))
            .collect();
        let top = expected["top10_variants"].as_array().unwrap();
        for (rank, entry) in top.iter().enumerate() {
            let key = entry[0].as_str().unwrap();
            let count = entry[1].as_u64().unwrap();
            assert_eq!(ours.get(key), Some(&count), "{file}: variant {key}");
            assert_eq!(variants.variants[rank].count, count, "{file}: rank {rank}");
        }

        let lifecycle = &expected["classifier_name_plus_lifecycle"];
        let view = log.classify(Classifier::NameAndLifecycle);
        let dfg = Dfg::discover(&log, &view);
        assert_eq!(
            view.names.len() as u64,
            lifecycle["activities"].as_u64().unwrap(),
            "{file}"
        );
        assert_eq!(
            dfg.edges.len() as u64,
            lifecycle["dfg_edges"].as_u64().unwrap(),
            "{file}"
        );
        let arcs: u64 = dfg.edges.iter().map(|edge| edge.count).sum();
        assert_eq!(arcs, lifecycle["dfg_arc_total"].as_u64().unwrap(), "{file}");
        let variants = Variants::discover(&log, &view);
        assert_eq!(
            variants.variants.len() as u64,
            lifecycle["variants"].as_u64().unwrap(),
            "{file}"
        );
        checked += 1;
    }
    assert_eq!(checked, 3, "the reference covers three logs");
}
