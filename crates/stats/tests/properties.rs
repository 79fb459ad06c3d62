//! Invariants of the estimators, checked on generated inputs, and the rules of the analyses,
//! checked on small tables.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use stats::{
    estimate, ipa::importance_performance, ipa::Quadrant, key_drivers::analyze_key_drivers,
    nps::net_promoter_score, nps::net_promoter_score_of_answers, proportion::wilson,
    quantile::percentile, regression::ols, significance, table::Table, StatsError,
};

proptest! {
    #[test]
    fn wilson_bounds_lie_in_zero_one_and_contain_the_proportion(
        (n, successes) in (1_u64..20_000).prop_flat_map(|n| (Just(n), 0..=n))
    ) {
        let e = wilson(successes, n).unwrap();
        prop_assert!(0.0 <= e.low && e.low <= e.value && e.value <= e.high && e.high <= 1.0,
            "{e:?}");
    }

    #[test]
    fn a_percentile_interval_contains_the_percentile(
        values in prop::collection::vec(0.0_f64..10_000.0, 1..300),
        q in 0.0_f64..=1.0,
        round in any::<bool>(),
    ) {
        // Rounding makes ties, which real reply times in whole minutes have.
        let values: Vec<f64> = if round { values.iter().map(|v| (v / 100.0).round()).collect() } else { values };
        let e = percentile(&values, q).unwrap();
        prop_assert!(e.low <= e.value && e.value <= e.high, "{e:?}");
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        prop_assert!(min <= e.value && e.value <= max);
    }

    #[test]
    fn an_nps_interval_contains_the_score_and_stays_on_the_scale(
        promoters in 0_u64..2_000, passives in 0_u64..2_000, detractors in 0_u64..2_000,
    ) {
        prop_assume!(promoters + passives + detractors > 0);
        let s = net_promoter_score(promoters, passives, detractors).unwrap().score;
        prop_assert!(-100.0 <= s.low && s.low <= s.value && s.value <= s.high && s.high <= 100.0,
            "{s:?}");
    }

    #[test]
    fn a_mean_interval_contains_the_mean(values in prop::collection::vec(-1e6_f64..1e6, 2..200)) {
        let e = estimate::mean(&values).unwrap();
        prop_assert!(e.low <= e.value && e.value <= e.high, "{e:?}");
    }

    #[test]
    fn ols_on_exactly_linear_data_recovers_the_coefficients(
        intercept in -10.0_f64..10.0,
        slopes in prop::collection::vec(-5.0_f64..5.0, 1..6),
        extra_rows in 1_usize..50,
        seed in any::<u64>(),
    ) {
        let k = slopes.len();
        let n = k + 1 + extra_rows;
        // A small deterministic generator: the regressors must be in general position, which
        // uniform values are with probability one.
        let mut state = seed | 1;
        let mut next = || { state ^= state << 13; state ^= state >> 7; state ^= state << 17; (state % 10_000) as f64 / 1_000.0 };
        let x: Vec<Vec<f64>> = (0..k).map(|_| (0..n).map(|_| next()).collect()).collect();
        let y: Vec<f64> = (0..n).map(|i| intercept + (0..k).map(|j| slopes[j] * x[j][i]).sum::<f64>()).collect();
        let names: Vec<String> = (0..k).map(|j| format!("x{j}")).collect();
        match ols(&y, &x, &names) {
            Ok(fit) => {
                prop_assert!((fit.intercept.coefficient - intercept).abs() < 1e-6, "{fit:?}");
                for (estimate, truth) in fit.slopes.iter().zip(&slopes) {
                    prop_assert!((estimate.coefficient - truth).abs() < 1e-6, "{fit:?}");
                }
                prop_assert!((fit.r_squared - 1.0).abs() < 1e-9);
            }
            // Rarely a generated design is degenerate (e.g. two rows, one constant column).
            Err(StatsError::Collinear { .. }) => {}
            Err(other) => prop_assert!(false, "{other}"),
        }
    }

    #[test]
    fn a_test_gives_a_verdict_exactly_when_it_is_significant(
        previous in prop::collection::vec(0.0_f64..100.0, 2..60),
        current in prop::collection::vec(0.0_f64..150.0, 2..60),
    ) {
        for result in [
            significance::mann_whitney_u(&previous, &current).unwrap(),
            significance::welch_t_test(&previous, &current).unwrap(),
        ] {
            prop_assert!((0.0..=1.0).contains(&result.p_value));
            prop_assert_eq!(result.verdict.is_some(), result.p_value < 0.05);
            prop_assert_eq!(result.significant, result.p_value < 0.05);
        }
    }
}

fn table(csv: &str) -> Table {
    Table::from_csv(csv).unwrap()
}

fn drivers(list: &[&str]) -> Vec<String> {
    list.iter().map(|d| d.to_string()).collect()
}

/// A small survey where `b = 2a + 1` exactly and `c` is constant.
const DEGENERATE: &str =
    "y,a,b,c,d\n1,1,3,5,2\n2,2,5,5,1\n2,3,7,5,4\n4,4,9,5,3\n5,5,11,5,5\n4,6,13,5,2\n";

#[test]
fn key_driver_analysis_refuses_what_it_cannot_answer_honestly() {
    let cases: [(&str, &[&str], &[&str]); 6] = [
        (
            "a driver that is a linear combination of another",
            &["a", "b"],
            &["`b`", "`a`", "the intercept"],
        ),
        (
            "a driver with the same value in every row",
            &["a", "c"],
            &["`c`", "same value in every row"],
        ),
        (
            "more drivers than the rows can carry",
            &["a", "d", "b", "c", "y"],
            &["outcome"],
        ),
        (
            "the outcome named as a driver",
            &["y"],
            &["`y` is the outcome"],
        ),
        (
            "a column that is not in the file",
            &["nope"],
            &["no column `nope`", "y, a, b, c, d"],
        ),
        ("a driver named twice", &["a", "a"], &["named twice"]),
    ];
    let survey = table(DEGENERATE);
    for (rule, driver_list, expected_words) in cases {
        let err = analyze_key_drivers(&survey, "y", &drivers(driver_list))
            .expect_err(rule)
            .to_string();
        for words in expected_words {
            assert!(
                err.contains(words),
                "{rule}: `{err}` should mention {words}"
            );
        }
    }
}

#[test]
fn key_driver_analysis_needs_more_complete_rows_than_coefficients() {
    // Three drivers need five complete rows: with five the fit works (and is flagged) ...
    let survey = table("y,a,b,c\n1,1,2,3\n2,2,1,1\n3,1,1,2\n2,3,,1\n5,5,4,4\n4,2,5,1\n");
    let report = analyze_key_drivers(&survey, "y", &drivers(&["a", "b", "c"])).unwrap();
    assert_eq!(
        (report.n, report.df_residual, report.too_few_cases),
        (5, 1, true)
    );
    // ... and when listwise deletion leaves four, it is refused, saying why.
    let survey = table("y,a,b,c\n1,1,2,3\n2,2,1,1\n3,1,1,2\n2,3,,1\n5,5,4,4\n");
    let err = analyze_key_drivers(&survey, "y", &drivers(&["a", "b", "c"])).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(
            err,
            StatsError::TooFewRows {
                needed: 5,
                got: 4,
                ..
            }
        ),
        "{message}"
    );
    assert!(message.contains("1 dropped"), "{message}");
}

#[test]
fn key_driver_analysis_drops_incomplete_rows_and_ranks_by_standardised_effect() {
    // y = 1 + 2a + 0.5b exactly, with a spread much wider than b: a matters most.
    let mut csv = String::from("y,a,b\n");
    for i in 0..40 {
        let a = f64::from(i % 7);
        let b = f64::from((i * 3) % 5);
        csv.push_str(&format!("{},{a},{b}\n", 1.0 + 2.0 * a + 0.5 * b));
    }
    csv.push_str("3,,1\n,2,2\n");
    let report = analyze_key_drivers(&table(&csv), "y", &drivers(&["b", "a"])).unwrap();
    assert_eq!(report.n, 40);
    assert_eq!(report.rows_dropped_for_missing_values, 2);
    assert_eq!(report.ranking, ["a", "b"]);
    assert_eq!(report.drivers[1].rank, 1);
    assert!(report.drivers.iter().all(|d| d.suggest_service_standard));
}

#[test]
fn ipa_quadrants_follow_the_crosshairs() {
    // Four attributes at the corners of a square around the crosshair (4, 4).
    let mut csv =
        String::from("importance_fast,performance_fast,importance_kind,performance_kind,");
    csv.push_str("importance_tidy,performance_tidy,importance_cheap,performance_cheap\n");
    for offset in [-1.0, 0.0, 1.0] {
        let (high, low) = (5.0 + offset, 3.0 + offset);
        csv.push_str(&format!(
            "{high},{low},{high},{high},{low},{low},{low},{high}\n"
        ));
    }
    let report = importance_performance(&table(&csv)).unwrap();
    assert_eq!(
        (report.grand_mean_importance, report.grand_mean_performance),
        (4.0, 4.0)
    );
    let quadrants: Vec<(&str, Quadrant, bool)> = report
        .attributes
        .iter()
        .map(|a| (a.name.as_str(), a.quadrant, a.suggest_service_standard))
        .collect();
    assert_eq!(
        quadrants,
        [
            ("fast", Quadrant::ConcentrateHere, true),
            ("kind", Quadrant::KeepUpTheGoodWork, true),
            ("tidy", Quadrant::LowPriority, false),
            ("cheap", Quadrant::PossibleOverkill, false),
        ]
    );
    assert_eq!(report.concentrate_here, ["fast"]);
    assert!(report.attributes.iter().all(|a| a.too_few_cases));
}

#[test]
fn ipa_uses_the_respondents_who_rated_both_sides_of_each_attribute() {
    let csv = "importance_a,performance_a,importance_b,performance_b\n\
               7,,5,5\n6,4,,3\n5,5,4,4\n3,2,2,6\n";
    let report = importance_performance(&table(csv)).unwrap();
    assert_eq!(report.attributes[0].n, 3);
    assert_eq!(report.attributes[0].importance_mean, 14.0 / 3.0);
    assert_eq!(report.attributes[1].n, 3);
    assert_eq!(report.attributes[1].performance_mean, 5.0);
}

#[test]
fn ipa_refuses_a_table_it_cannot_read_as_a_grid() {
    let cases = [
        (
            "no importance columns",
            "a,b\n1,2\n",
            "importance_<attribute>",
        ),
        (
            "an importance column without its performance column",
            "importance_a,performance_b,importance_b\n1,2,3\n4,5,6\n",
            "`performance_a`",
        ),
        (
            "a performance column without its importance column",
            "importance_a,performance_a,performance_c\n1,2,3\n4,5,6\n",
            "`importance_c`",
        ),
        (
            "an attribute with a single complete pair",
            "importance_a,performance_a\n1,2\n4,\n",
            "attribute `a`",
        ),
    ];
    for (rule, csv, expected) in cases {
        let err = importance_performance(&table(csv))
            .expect_err(rule)
            .to_string();
        assert!(
            err.contains(expected),
            "{rule}: `{err}` should mention {expected}"
        );
    }
}

#[test]
fn a_significant_change_is_described_in_plain_words() {
    let rise = significance::two_proportion_z_test((720, 1000), (785, 1000)).unwrap();
    assert_eq!(
        rise.verdict.as_deref(),
        Some("the proportion rose from 72.0% to 78.5% (p < 0.001); a change this large is unlikely to be chance")
    );
    let no_change = significance::two_proportion_z_test((45, 50), (40, 50)).unwrap();
    assert_eq!(no_change.verdict, None);
    let nothing_to_compare = significance::two_proportion_z_test((10, 10), (20, 20)).unwrap();
    assert_eq!(
        (nothing_to_compare.statistic, nothing_to_compare.p_value),
        (0.0, 1.0)
    );

    let slower: Vec<f64> = (0..50).map(|i| f64::from(i) + 30.0).collect();
    let faster: Vec<f64> = (0..50).map(f64::from).collect();
    let shift = significance::mann_whitney_u(&slower, &faster).unwrap();
    assert!(shift
        .verdict
        .unwrap()
        .starts_with("values are typically lower than in the previous period"));
    let mean_fell = significance::welch_t_test(&slower, &faster).unwrap();
    assert!(mean_fell
        .verdict
        .unwrap()
        .starts_with("the mean fell from 54.500 to 24.500"));
}

#[test]
fn a_figure_on_fewer_than_thirty_cases_is_flagged() {
    assert!(wilson(20, 29).unwrap().too_few_cases);
    assert!(!wilson(20, 30).unwrap().too_few_cases);
    // Enough cases, but the 95th percentile of 40 values has no upper bound at 95%.
    let values: Vec<f64> = (0..40).map(f64::from).collect();
    let p95 = percentile(&values, 0.95).unwrap();
    assert!(p95.high.is_infinite() && p95.too_few_cases);
    assert!(!percentile(&values, 0.5).unwrap().too_few_cases);
}

#[test]
fn nps_counts_nine_and_ten_as_promoters_seven_and_eight_as_passives_and_the_rest_as_detractors() {
    let cases: [(&[u8], f64); 5] = [
        (&[10, 9], 100.0),
        (&[8, 7], 0.0),
        (&[6, 0], -100.0),
        (&[10, 8, 6, 9], 25.0),
        (&[9, 7, 6, 5, 10, 10, 3, 8], 0.0),
    ];
    for (answers, expected) in cases {
        let score = net_promoter_score_of_answers(answers).unwrap().score;
        assert_eq!(score.value, expected, "{answers:?}");
        assert_eq!(score.n, answers.len());
    }
    assert!(net_promoter_score_of_answers(&[11]).is_err());
    assert!(net_promoter_score_of_answers(&[]).is_err());
}
