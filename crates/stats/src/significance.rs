//! Did a figure really change between two periods? Three tests, each returning its statistic,
//! its two-sided p-value, and a verdict in plain words only when the change is significant at
//! the 5% level (`1 - CONFIDENCE`).
//!
//! | figure | test | matches |
//! |---|---|---|
//! | a proportion (CSAT, FCR) | two-proportion z test, pooled | statsmodels `proportions_ztest` |
//! | a time (reply, resolution) | Mann–Whitney U, normal approximation with tie and continuity corrections | scipy `mannwhitneyu(method="asymptotic")` |
//! | a mean (effort score) | Welch t test | scipy `ttest_ind(equal_var=False)` |
//!
//! Every test compares `current` with `previous`; a positive statistic means `current` is higher.

use serde::Serialize;

use crate::{distributions, estimate::mean_and_variance, StatsError, CONFIDENCE};

/// The outcome of a significance test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TestResult {
    /// Which test was run, e.g. `"two-proportion z test"`.
    pub test: &'static str,
    /// The test statistic (z, U or t). Positive z and t mean `current` is higher; U counts the
    /// pairs in which the current value is higher (ties count one half).
    pub statistic: f64,
    /// The two-sided p-value.
    pub p_value: f64,
    /// The Welch–Satterthwaite degrees of freedom (t test only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub degrees_of_freedom: Option<f64>,
    /// True when `p_value < 1 - CONFIDENCE`.
    pub significant: bool,
    /// What changed, in words a team leader understands; `None` when the change is not
    /// significant, because then there is nothing to say beyond "no clear change".
    pub verdict: Option<String>,
}

fn is_significant(p_value: f64) -> bool {
    p_value < 1.0 - CONFIDENCE
}

fn p_in_words(p_value: f64) -> String {
    if p_value < 0.001 {
        "p < 0.001".to_string()
    } else {
        format!("p = {p_value:.3}")
    }
}

fn direction(statistic: f64) -> &'static str {
    if statistic > 0.0 {
        "rose"
    } else {
        "fell"
    }
}

/// Two-proportion z test with the pooled variance: did the share of successes change between
/// `previous` and `current` (each `(successes, cases)`)?
///
/// When both periods are all successes or all failures there is no variation and no evidence of
/// change: the statistic is 0 and the p-value 1.
pub fn two_proportion_z_test(
    previous: (u64, u64),
    current: (u64, u64),
) -> Result<TestResult, StatsError> {
    for (label, (successes, n)) in [("previous", previous), ("current", current)] {
        if n == 0 {
            return Err(StatsError::TooFewRows {
                what: format!("the {label} period of a two-proportion test"),
                needed: 1,
                got: 0,
                detail: String::new(),
            });
        }
        if successes > n {
            return Err(StatsError::InvalidInput(format!(
                "the {label} period has more successes ({successes}) than cases ({n})"
            )));
        }
    }
    let (x1, n1) = (previous.0 as f64, previous.1 as f64);
    let (x2, n2) = (current.0 as f64, current.1 as f64);
    let (p1, p2) = (x1 / n1, x2 / n2);
    let pooled = (x1 + x2) / (n1 + n2);
    let standard_error = (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    let (statistic, p_value) = if standard_error > 0.0 {
        let z = (p2 - p1) / standard_error;
        (z, distributions::normal_two_sided_p(z))
    } else {
        (0.0, 1.0)
    };
    let significant = is_significant(p_value);
    let verdict = significant.then(|| {
        format!(
            "the proportion {} from {:.1}% to {:.1}% ({}); a change this large is unlikely to be chance",
            direction(statistic),
            100.0 * p1,
            100.0 * p2,
            p_in_words(p_value)
        )
    });
    Ok(TestResult {
        test: "two-proportion z test",
        statistic,
        p_value,
        degrees_of_freedom: None,
        significant,
        verdict,
    })
}

/// Mann–Whitney U test: are `current` values typically higher or lower than `previous` ones?
///
/// Distribution-free, so it suits skewed times. The p-value uses the normal approximation with
/// the tie correction and a continuity correction, as scipy's
/// `mannwhitneyu(current, previous, method="asymptotic")`; the statistic is scipy's U1, the U of
/// `current`. When every value is equal there is no evidence of change (p = 1).
pub fn mann_whitney_u(previous: &[f64], current: &[f64]) -> Result<TestResult, StatsError> {
    check_sample("previous", previous, 1)?;
    check_sample("current", current, 1)?;
    let n1 = current.len() as f64;
    let n2 = previous.len() as f64;

    // Rank the pooled sample, giving tied values their average rank.
    let mut pooled: Vec<(f64, bool)> = current
        .iter()
        .map(|&v| (v, true))
        .chain(previous.iter().map(|&v| (v, false)))
        .collect();
    pooled.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum_current = 0.0;
    let mut tie_term = 0.0;
    let mut start = 0;
    while start < pooled.len() {
        let mut end = start + 1;
        while end < pooled.len() && pooled[end].0 == pooled[start].0 {
            end += 1;
        }
        let average_rank = (start + 1 + end) as f64 / 2.0;
        let tied = (end - start) as f64;
        tie_term += tied * tied * tied - tied;
        rank_sum_current += average_rank * pooled[start..end].iter().filter(|p| p.1).count() as f64;
        start = end;
    }

    let u_current = rank_sum_current - n1 * (n1 + 1.0) / 2.0;
    let u_previous = n1 * n2 - u_current;
    let n = n1 + n2;
    let mean_u = n1 * n2 / 2.0;
    let sd_u = (n1 * n2 / 12.0 * ((n + 1.0) - tie_term / (n * (n - 1.0)))).sqrt();
    let p_value = if sd_u > 0.0 && n > 1.0 {
        // As scipy: the larger U, minus the continuity correction, into the upper tail, doubled.
        let z = (u_current.max(u_previous) - mean_u - 0.5) / sd_u;
        distributions::normal_two_sided_p(z)
    } else {
        1.0
    };
    let significant = is_significant(p_value);
    let verdict = significant.then(|| {
        let word = if u_current > mean_u {
            "higher"
        } else {
            "lower"
        };
        format!(
            "values are typically {word} than in the previous period: a current value exceeds a \
             previous one in {:.0}% of pairs ({}); a shift this large is unlikely to be chance",
            100.0 * u_current / (n1 * n2),
            p_in_words(p_value)
        )
    });
    Ok(TestResult {
        test: "Mann-Whitney U test",
        statistic: u_current,
        p_value,
        degrees_of_freedom: None,
        significant,
        verdict,
    })
}

/// Welch's t test: did the mean change between `previous` and `current`? Does not assume equal
/// variances, as scipy's `ttest_ind(current, previous, equal_var=False)`.
pub fn welch_t_test(previous: &[f64], current: &[f64]) -> Result<TestResult, StatsError> {
    check_sample("previous", previous, 2)?;
    check_sample("current", current, 2)?;
    let (mean_previous, var_previous) = mean_and_variance(previous);
    let (mean_current, var_current) = mean_and_variance(current);
    welch_t_test_of_summaries(
        Summary {
            n: previous.len() as u64,
            mean: mean_previous,
            variance: var_previous,
        },
        Summary {
            n: current.len() as u64,
            mean: mean_current,
            variance: var_current,
        },
    )
}

/// The count, mean and sample variance (divisor n − 1) of a sample, for tests run on stored
/// summaries (roll-ups) rather than raw values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// The number of values.
    pub n: u64,
    /// Their mean.
    pub mean: f64,
    /// Their sample variance.
    pub variance: f64,
}

impl Summary {
    /// The summary of a count, a sum and a sum of squares.
    pub fn of_sums(n: u64, sum: f64, sum_of_squares: f64) -> Summary {
        let nf = n as f64;
        let mean = if n > 0 { sum / nf } else { 0.0 };
        let variance = if n > 1 {
            ((sum_of_squares - nf * mean * mean) / (nf - 1.0)).max(0.0)
        } else {
            0.0
        };
        Summary { n, mean, variance }
    }
}

/// [`welch_t_test`] on two summaries: the same statistic, degrees of freedom and p-value.
pub fn welch_t_test_of_summaries(
    previous: Summary,
    current: Summary,
) -> Result<TestResult, StatsError> {
    for (label, summary) in [("previous", previous), ("current", current)] {
        if summary.n < 2 {
            return Err(StatsError::TooFewRows {
                what: format!("the {label} period of the test"),
                needed: 2,
                got: summary.n as usize,
                detail: String::new(),
            });
        }
        if !summary.mean.is_finite() || !summary.variance.is_finite() {
            return Err(StatsError::InvalidInput(format!(
                "the {label} period's summary is not finite"
            )));
        }
    }
    let (mean_previous, mean_current) = (previous.mean, current.mean);
    let (n1, n2) = (current.n as f64, previous.n as f64);
    let (v1, v2) = (current.variance / n1, previous.variance / n2);
    if v1 + v2 == 0.0 {
        return Err(StatsError::InvalidInput(
            "a t test needs some spread: every value in both periods is the same".into(),
        ));
    }
    let statistic = (mean_current - mean_previous) / (v1 + v2).sqrt();
    let df = (v1 + v2).powi(2) / (v1 * v1 / (n1 - 1.0) + v2 * v2 / (n2 - 1.0));
    let p_value = distributions::t_two_sided_p(statistic, df)?;
    let significant = is_significant(p_value);
    let verdict = significant.then(|| {
        format!(
            "the mean {} from {mean_previous:.3} to {mean_current:.3} ({}); a change this large is \
             unlikely to be chance",
            direction(statistic),
            p_in_words(p_value)
        )
    });
    Ok(TestResult {
        test: "Welch t test",
        statistic,
        p_value,
        degrees_of_freedom: Some(df),
        significant,
        verdict,
    })
}

/// z test of a change between two independent estimates with known standard errors (for
/// example two Net Promoter Scores with the standard error of [`crate::nps`]):
/// `z = (current − previous) / √(se₁² + se₂²)`.
pub fn difference_z_test(
    previous: (f64, f64),
    current: (f64, f64),
    what: &str,
) -> Result<TestResult, StatsError> {
    let ((v1, se1), (v2, se2)) = (previous, current);
    if ![v1, se1, v2, se2].iter().all(|x| x.is_finite()) || se1 < 0.0 || se2 < 0.0 {
        return Err(StatsError::InvalidInput(
            "a difference test needs finite values and non-negative standard errors".into(),
        ));
    }
    let standard_error = (se1 * se1 + se2 * se2).sqrt();
    let (statistic, p_value) = if standard_error > 0.0 {
        let z = (v2 - v1) / standard_error;
        (z, distributions::normal_two_sided_p(z))
    } else {
        (0.0, 1.0)
    };
    let significant = is_significant(p_value);
    let verdict = significant.then(|| {
        format!(
            "the {what} {} from {v1:.1} to {v2:.1} ({}); a change this large is unlikely to be chance",
            direction(statistic),
            p_in_words(p_value)
        )
    });
    Ok(TestResult {
        test: "difference z test",
        statistic,
        p_value,
        degrees_of_freedom: None,
        significant,
        verdict,
    })
}

/// Did a count (e.g. conversations per period) change between two periods of equal length?
///
/// Conditional on the total, the current count is Binomial(total, ½) when the rate did not
/// change; the test uses the normal approximation with a continuity correction. With no cases in
/// either period there is no evidence of change.
pub fn count_change_test(previous: u64, current: u64) -> Result<TestResult, StatsError> {
    let total = (previous + current) as f64;
    let (statistic, p_value) = if total > 0.0 {
        let difference = current as f64 - total / 2.0;
        let corrected = (difference.abs() - 0.5).max(0.0) * difference.signum();
        let z = corrected / (total / 4.0).sqrt();
        (z, distributions::normal_two_sided_p(z))
    } else {
        (0.0, 1.0)
    };
    let significant = is_significant(p_value);
    let verdict = significant.then(|| {
        format!(
            "the count {} from {previous} to {current} ({}); a change this large is unlikely to be chance",
            direction(statistic),
            p_in_words(p_value)
        )
    });
    Ok(TestResult {
        test: "conditional binomial test of two counts",
        statistic,
        p_value,
        degrees_of_freedom: None,
        significant,
        verdict,
    })
}

fn check_sample(label: &str, values: &[f64], needed: usize) -> Result<(), StatsError> {
    if values.len() < needed {
        return Err(StatsError::TooFewRows {
            what: format!("the {label} period of the test"),
            needed,
            got: values.len(),
            detail: String::new(),
        });
    }
    if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
        return Err(StatsError::InvalidInput(format!(
            "the {label} period holds a value that is not a finite number: {bad}"
        )));
    }
    Ok(())
}
