//! Medians and percentiles (reply times, resolution times) with a distribution-free interval.

use crate::{distributions, Estimate, StatsError, CONFIDENCE};

/// The `q`-quantile of `values` (`q = 0.5` is the median, `0.9` the 90th percentile) with its
/// distribution-free 95% interval.
///
/// The point estimate interpolates linearly between order statistics (numpy's default,
/// Hyndman–Fan type 7), so the median of an even count is the mean of the middle two.
///
/// The interval uses the order-statistic (binomial) method, which assumes nothing about the shape
/// of the distribution; service times are skewed, so a mean ± t interval would mislead. The
/// number of observations below the true quantile is Binomial(n, q); with `Y` that binomial and
/// `x(1) <= … <= x(n)` the sorted values, the interval is `[x(l), x(h+1)]` with
/// `l = binom.ppf(0.025)` and `h = binom.isf(0.025)`, exactly as scipy's
/// `quantile_test(x, p=q).confidence_interval(0.95)` computes it (Conover, *Practical
/// Nonparametric Statistics*, 3.2). Its coverage is at least 95%.
///
/// With few values a bound cannot be reached at 95% (the median needs 6 values for a lower bound,
/// the 90th percentile 36 for an upper bound); that bound is then infinite, and the estimate is
/// flagged `too_few_cases`.
///
/// ```
/// let times: Vec<f64> = (1..=100).map(f64::from).collect();
/// let median = stats::quantile::percentile(&times, 0.5).unwrap();
/// assert_eq!((median.value, median.low, median.high), (50.5, 40.0, 61.0));
/// ```
pub fn percentile(values: &[f64], q: f64) -> Result<Estimate, StatsError> {
    if !(0.0..=1.0).contains(&q) {
        return Err(StatsError::InvalidInput(format!(
            "a percentile must be between 0 and 1 (0.5 is the median), got {q}"
        )));
    }
    if values.is_empty() {
        return Err(StatsError::TooFewRows {
            what: "a percentile".into(),
            needed: 1,
            got: 0,
            detail: String::new(),
        });
    }
    if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
        return Err(StatsError::InvalidInput(format!(
            "a percentile needs finite numbers, got {bad}"
        )));
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let value = interpolated_quantile(&sorted, q);

    let tail = (1.0 - CONFIDENCE) / 2.0;
    // 1-based rank of the lower bound is ppf(tail); 0-based index is one less.
    let low_rank = distributions::binomial_ppf(tail, n as u64, q)? as usize;
    let low = match low_rank.checked_sub(1) {
        Some(index) => sorted[index],
        None => f64::NEG_INFINITY,
    };
    let high_index = distributions::binomial_isf(tail, n as u64, q)? as usize;
    let high = sorted.get(high_index).copied().unwrap_or(f64::INFINITY);
    // The order statistics bracket the interpolated estimate; min/max only guard the proof's
    // edge cases (q at 0 or 1).
    Ok(Estimate::new(value, n, low.min(value), high.max(value)))
}

/// The median of `values` with its distribution-free 95% interval; see [`percentile`].
pub fn median(values: &[f64]) -> Result<Estimate, StatsError> {
    percentile(values, 0.5)
}

/// Linear interpolation between order statistics at position `(n - 1) q` (type 7).
fn interpolated_quantile(sorted: &[f64], q: f64) -> f64 {
    let position = (sorted.len() - 1) as f64 * q;
    let below = position.floor() as usize;
    let above = position.ceil() as usize;
    let fraction = position - below as f64;
    sorted[below] + (sorted[above] - sorted[below]) * fraction
}
