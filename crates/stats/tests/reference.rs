//! The `stats` figures agree with statsmodels and scipy.
//!
//! The reference outputs in `tests/data/` were produced by the scripts in `tools/reference/`
//! (see its README) and are committed, so these tests need no Python. When
//! `RAPPORT_REQUIRE_PYTHON_REFS=1`, `python_references_agree_when_run_live` also runs the scripts
//! (with the interpreter named by `RAPPORT_PYTHON`, default `python3`) and compares their fresh
//! output too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use stats::{
    ipa::importance_performance, key_drivers::analyze_key_drivers, nps::net_promoter_score,
    proportion::wilson, quantile::percentile, significance, table::Table,
};

/// Numbers agree when `|ours − theirs| <= TOLERANCE · max(1, |theirs|)`: absolute 1e-6 for
/// figures up to 1 (coefficients, p-values, R²), relative 1e-6 above (an F statistic of 80).
const TOLERANCE: f64 = 1e-6;

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read_json(name: &str) -> Value {
    let text = std::fs::read_to_string(data_dir().join(name)).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn survey() -> Table {
    Table::from_csv(&std::fs::read_to_string(data_dir().join("survey.csv")).unwrap()).unwrap()
}

/// The key-driver runs that have committed references: (reference file, outcome, drivers).
const KEY_DRIVER_CASES: [(&str, &str, &str); 2] = [
    (
        "key_drivers_all_six.json",
        "overall_satisfaction",
        "performance_tangibles,performance_reliability,performance_responsiveness,\
         performance_assurance,performance_empathy,performance_ease",
    ),
    (
        "key_drivers_two.json",
        "overall_satisfaction",
        "performance_reliability,performance_responsiveness",
    ),
];

fn drivers_of(list: &str) -> Vec<String> {
    list.split(',').map(str::to_string).collect()
}

/// Every field of `expected` must be in `actual` under the same name: numbers within
/// [`TOLERANCE`], everything else equal. Extra fields in `actual` are allowed (the JSON
/// contract may grow, never rename). Returns the largest absolute difference seen.
fn assert_matches(actual: &Value, expected: &Value, path: &str) -> f64 {
    match (actual, expected) {
        (Value::Object(ours), Value::Object(theirs)) => {
            let mut largest: f64 = 0.0;
            for (key, value) in theirs {
                let Some(mine) = ours.get(key) else {
                    panic!("{path}.{key} is missing from our output: {actual}");
                };
                largest = largest.max(assert_matches(mine, value, &format!("{path}.{key}")));
            }
            largest
        }
        (Value::Array(ours), Value::Array(theirs)) => {
            assert_eq!(ours.len(), theirs.len(), "{path}: lengths differ");
            ours.iter()
                .zip(theirs)
                .enumerate()
                .map(|(i, (a, b))| assert_matches(a, b, &format!("{path}[{i}]")))
                .fold(0.0, f64::max)
        }
        (Value::Number(ours), Value::Number(theirs)) => {
            let (a, b) = (ours.as_f64().unwrap(), theirs.as_f64().unwrap());
            let difference = (a - b).abs();
            assert!(
                difference <= TOLERANCE * b.abs().max(1.0),
                "{path}: ours {a}, reference {b}, difference {difference:e}"
            );
            difference
        }
        _ => {
            assert_eq!(actual, expected, "{path}");
            0.0
        }
    }
}

fn key_driver_json(table: &Table, outcome: &str, drivers: &str) -> Value {
    serde_json::to_value(analyze_key_drivers(table, outcome, &drivers_of(drivers)).unwrap())
        .unwrap()
}

#[test]
fn key_drivers_match_statsmodels_on_the_committed_survey() {
    let table = survey();
    for (file, outcome, drivers) in KEY_DRIVER_CASES {
        let ours = key_driver_json(&table, outcome, drivers);
        let largest = assert_matches(&ours, &read_json(file), file);
        println!("{file}: largest absolute difference from statsmodels {largest:e}");
    }
}

#[test]
fn ipa_matches_scipy_on_the_committed_survey() {
    let ours = serde_json::to_value(importance_performance(&survey()).unwrap()).unwrap();
    let largest = assert_matches(&ours, &read_json("ipa.json"), "ipa");
    println!("ipa.json: largest absolute difference from scipy {largest:e}");
}

/// Our answer to every case of `estimators.json`, in the same shape, so that
/// [`assert_matches`] can compare the two documents.
fn estimators_json(reference: &Value) -> Value {
    let cases = |name: &str| reference[name].as_array().unwrap().clone();
    let numbers = |v: &Value| -> Vec<f64> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap())
            .collect()
    };
    let count = |v: &Value| v.as_u64().unwrap();
    let pair = |v: &Value| (count(&v[0]), count(&v[1]));

    let wilson_cases: Vec<Value> = cases("wilson")
        .iter()
        .map(|c| {
            let e = wilson(count(&c["successes"]), count(&c["n"])).unwrap();
            json!({"successes": c["successes"], "n": c["n"], "value": e.value, "low": e.low, "high": e.high})
        })
        .collect();
    let percentile_cases: Vec<Value> = cases("percentile")
        .iter()
        .map(|c| {
            let q = c["q"].as_f64().unwrap();
            let e = percentile(&numbers(&c["values"]), q).unwrap();
            // Infinite bounds serialise to null, as scipy's nan does in the reference.
            json!({"values": c["values"], "q": c["q"], "value": e.value, "low": e.low, "high": e.high})
        })
        .collect();
    let nps_cases: Vec<Value> = cases("nps")
        .iter()
        .map(|c| {
            let s = net_promoter_score(
                count(&c["promoters"]),
                count(&c["passives"]),
                count(&c["detractors"]),
            )
            .unwrap();
            json!({"promoters": c["promoters"], "passives": c["passives"], "detractors": c["detractors"],
                   "value": s.score.value, "standard_error": s.standard_error,
                   "low": s.score.low, "high": s.score.high})
        })
        .collect();
    let two_proportion: Vec<Value> = cases("two_proportion")
        .iter()
        .map(|c| {
            let r = significance::two_proportion_z_test(pair(&c["previous"]), pair(&c["current"]))
                .unwrap();
            json!({"previous": c["previous"], "current": c["current"],
                   "statistic": r.statistic, "p_value": r.p_value})
        })
        .collect();
    let mann_whitney: Vec<Value> = cases("mann_whitney")
        .iter()
        .map(|c| {
            let r = significance::mann_whitney_u(&numbers(&c["previous"]), &numbers(&c["current"]))
                .unwrap();
            json!({"previous": c["previous"], "current": c["current"],
                   "statistic": r.statistic, "p_value": r.p_value})
        })
        .collect();
    let welch: Vec<Value> = cases("welch")
        .iter()
        .map(|c| {
            let r = significance::welch_t_test(&numbers(&c["previous"]), &numbers(&c["current"]))
                .unwrap();
            json!({"previous": c["previous"], "current": c["current"], "statistic": r.statistic,
                   "p_value": r.p_value, "degrees_of_freedom": r.degrees_of_freedom})
        })
        .collect();
    json!({"wilson": wilson_cases, "percentile": percentile_cases, "nps": nps_cases,
           "two_proportion": two_proportion, "mann_whitney": mann_whitney, "welch": welch})
}

#[test]
fn wilson_percentile_nps_and_tests_match_scipy_and_statsmodels() {
    let reference = read_json("estimators.json");
    let ours = estimators_json(&reference);
    for section in [
        "wilson",
        "percentile",
        "nps",
        "two_proportion",
        "mann_whitney",
        "welch",
    ] {
        let largest = assert_matches(&ours[section], &reference[section], section);
        println!("{section}: largest absolute difference from the reference {largest:e}");
    }
}

fn run_python(script: &str, args: &[&str]) -> Value {
    let python = std::env::var("RAPPORT_PYTHON").unwrap_or_else(|_| "python3".to_string());
    let output = std::process::Command::new(&python)
        .arg(repo_root().join("tools/reference").join(script))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {python}: {e}"));
    assert!(
        output.status.success(),
        "{script} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn python_references_agree_when_run_live() {
    if std::env::var("RAPPORT_REQUIRE_PYTHON_REFS").as_deref() != Ok("1") {
        println!("skipped: set RAPPORT_REQUIRE_PYTHON_REFS=1 (and RAPPORT_PYTHON) to run the Python references live");
        return;
    }
    let csv = data_dir().join("survey.csv");
    let csv = csv.to_str().unwrap();
    let table = survey();
    for (file, outcome, drivers) in KEY_DRIVER_CASES {
        let live = run_python(
            "statsmodels_key_drivers.py",
            &["--csv", csv, "--outcome", outcome, "--drivers", drivers],
        );
        let largest = assert_matches(&key_driver_json(&table, outcome, drivers), &live, file);
        println!("{file} (live statsmodels): largest absolute difference {largest:e}");
    }
    let live = run_python("ipa.py", &["--csv", csv]);
    let ours = serde_json::to_value(importance_performance(&table).unwrap()).unwrap();
    let largest = assert_matches(&ours, &live, "ipa (live)");
    println!("ipa (live scipy): largest absolute difference {largest:e}");

    let live = run_python("estimators.py", &[]);
    let largest = assert_matches(&estimators_json(&live), &live, "estimators (live)");
    println!("estimators (live): largest absolute difference {largest:e}");
}
