//! Proportions (CSAT, first-contact resolution, SLA attainment) with the Wilson score interval.

use crate::{distributions, Estimate, StatsError, CONFIDENCE};

/// The proportion `successes / n` with its 95% Wilson score interval.
///
/// Why Wilson and not the textbook `p ± z·√(p(1−p)/n)`: the textbook (Wald) interval collapses to
/// a point at 0% and 100% and undercovers near them, which is exactly where service figures live
/// (98% SLA attainment). Wilson's interval stays inside [0, 1], is never empty, and has close to
/// its nominal coverage even for small n. It is what statsmodels'
/// `proportion_confint(method="wilson")` computes.
///
/// ```
/// let csat = stats::proportion::wilson(45, 50).unwrap();
/// assert!((csat.value - 0.9).abs() < 1e-12);
/// assert!(csat.low > 0.78 && csat.high < 0.96);
/// ```
pub fn wilson(successes: u64, n: u64) -> Result<Estimate, StatsError> {
    if n == 0 {
        return Err(StatsError::TooFewRows {
            what: "a proportion".into(),
            needed: 1,
            got: 0,
            detail: String::new(),
        });
    }
    if successes > n {
        return Err(StatsError::InvalidInput(format!(
            "a proportion cannot have more successes ({successes}) than cases ({n})"
        )));
    }
    let z = distributions::normal_quantile(0.5 + CONFIDENCE / 2.0)?;
    let n_f = n as f64;
    let p = successes as f64 / n_f;
    let z2 = z * z;
    let denominator = 1.0 + z2 / n_f;
    let centre = (p + z2 / (2.0 * n_f)) / denominator;
    let half_width = z / denominator * (p * (1.0 - p) / n_f + z2 / (4.0 * n_f * n_f)).sqrt();
    // The clamps only absorb rounding: mathematically the interval already lies in [0, 1] and
    // contains p.
    let low = (centre - half_width).clamp(0.0, 1.0).min(p);
    let high = (centre + half_width).clamp(0.0, 1.0).max(p);
    Ok(Estimate::new(p, n as usize, low, high))
}
