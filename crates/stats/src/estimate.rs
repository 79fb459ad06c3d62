//! [`Estimate`]: a figure with its n and its 95% interval, and the `too_few_cases` rule.

use serde::Serialize;

use crate::{distributions, StatsError, CONFIDENCE};

/// The fewest cases a figure may rest on before it is flagged `too_few_cases`.
///
/// Why 30: below it the intervals of this crate are either very wide (a Wilson interval at
/// n = 29 and p = 0.8 spans about ±0.15) or rely on approximations that are not yet good (the
/// normal approximation behind NPS and the z and Mann–Whitney tests). 30 is also the usual
/// threshold in management-information practice, so a person reading "too few cases" is not
/// surprised. A figure is also flagged whenever its interval is unbounded, which for high or low
/// percentiles happens above 30 cases (the 90th percentile needs 36).
pub const MIN_CASES: usize = 30;

/// A figure with the number of cases it rests on and its 95% confidence interval.
///
/// `low <= value <= high` always holds. A bound that the method cannot give at this sample size
/// (a distribution-free percentile interval from very few cases) is infinite, and serialises to
/// JSON `null`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    /// The point estimate.
    pub value: f64,
    /// The number of cases behind it.
    pub n: usize,
    /// The lower bound of the 95% interval.
    pub low: f64,
    /// The upper bound of the 95% interval.
    pub high: f64,
    /// True when the figure should be shown as "based on too few cases" (see [`MIN_CASES`]).
    pub too_few_cases: bool,
}

impl Estimate {
    /// Builds an estimate and applies the `too_few_cases` rule: fewer than [`MIN_CASES`] cases, or
    /// an interval the method cannot bound.
    pub fn new(value: f64, n: usize, low: f64, high: f64) -> Self {
        let too_few_cases = n < MIN_CASES || !low.is_finite() || !high.is_finite();
        Estimate {
            value,
            n,
            low,
            high,
            too_few_cases,
        }
    }
}

/// The mean of `values` with its Student t 95% interval (`mean ± t(0.975, n-1) · s / √n`).
///
/// Needs at least two values: one value has no spread to build an interval from.
pub fn mean(values: &[f64]) -> Result<Estimate, StatsError> {
    let n = values.len();
    if n < 2 {
        return Err(StatsError::TooFewRows {
            what: "a mean with a confidence interval".into(),
            needed: 2,
            got: n,
            detail: String::new(),
        });
    }
    let (average, variance) = mean_and_variance(values);
    let half_width = distributions::t_quantile(0.5 + CONFIDENCE / 2.0, (n - 1) as f64)?
        * (variance / n as f64).sqrt();
    Ok(Estimate::new(
        average,
        n,
        average - half_width,
        average + half_width,
    ))
}

/// The mean and the sample variance (divisor n − 1) of `values`, by Welford's update, which
/// stays accurate when the mean is large relative to the spread. The variance is 0 for fewer than
/// two values.
pub(crate) fn mean_and_variance(values: &[f64]) -> (f64, f64) {
    let mut average = 0.0;
    let mut sum_of_squares = 0.0;
    for (i, &x) in values.iter().enumerate() {
        let delta = x - average;
        average += delta / (i + 1) as f64;
        sum_of_squares += delta * (x - average);
    }
    let variance = if values.len() > 1 {
        sum_of_squares / (values.len() - 1) as f64
    } else {
        0.0
    };
    (average, variance)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_mean_interval_matches_scipy_t_interval() {
        // scipy: stats.t.interval(0.95, 4, loc=3, scale=stats.sem([1,2,3,4,5]))
        let e = mean(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        assert!((e.value - 3.0).abs() < 1e-12);
        assert!((e.low - 1.0367568385224428).abs() < 1e-9);
        assert!((e.high - 4.963243161477557).abs() < 1e-9);
        assert!(e.too_few_cases);
    }

    #[test]
    fn a_mean_needs_two_values() {
        assert!(matches!(mean(&[1.0]), Err(StatsError::TooFewRows { .. })));
    }
}
