//! Ordinary least squares with an intercept, with the inference statsmodels' `OLS` reports.

use serde::Serialize;

use crate::{distributions, linalg, StatsError, CONFIDENCE};

/// One coefficient of a fitted model with its inference.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Coefficient {
    /// The estimated coefficient.
    pub coefficient: f64,
    /// Its standard error, `σ̂ √((X'X)⁻¹)ⱼⱼ`.
    pub std_error: f64,
    /// `coefficient / std_error`.
    pub t_statistic: f64,
    /// The two-sided p-value of `t_statistic` on the residual degrees of freedom.
    pub p_value: f64,
    /// The lower bound of the 95% interval, `coefficient − t(0.975, df) · std_error`.
    pub ci_low: f64,
    /// The upper bound of the 95% interval.
    pub ci_high: f64,
}

/// A fitted model `y = b0 + b1 x1 + … + bk xk + e`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OlsFit {
    /// The number of rows fitted.
    pub n: usize,
    /// The intercept `b0`.
    pub intercept: Coefficient,
    /// `b1 … bk`, in the order of the regressors given.
    pub slopes: Vec<Coefficient>,
    /// The share of the variance of y around its mean that the regressors explain.
    pub r_squared: f64,
    /// R² penalised for the number of regressors: `1 − (1 − R²)(n − 1)/(n − k − 1)`.
    pub adjusted_r_squared: f64,
    /// The F statistic of "all slopes are zero"; infinite (JSON `null`) for an exact fit.
    pub f_statistic: f64,
    /// Its p-value.
    pub f_p_value: f64,
    /// `k`, the number of regressors.
    pub df_model: usize,
    /// `n − k − 1`.
    pub df_residual: usize,
    /// The residual standard error `σ̂ = √(RSS / df_residual)`.
    pub residual_std_error: f64,
    /// One per slope: `1 / (1 − R²ⱼ)`, where R²ⱼ is how well the other regressors predict
    /// regressor j. Above about 5, correlated drivers share their effect and single coefficients
    /// are unstable (statsmodels' `variance_inflation_factor`).
    pub variance_inflation_factors: Vec<f64>,
}

/// Fits `y` on `regressors` (each as long as `y`) plus an intercept.
///
/// Needs more rows than coefficients (`n ≥ k + 2`), so that at least one residual degree of
/// freedom is left to estimate the error variance. A regressor that is constant, or (almost) a
/// linear combination of the earlier ones, is reported as [`StatsError::Collinear`] with the
/// names from `names` rather than fitted into meaningless numbers.
pub fn ols(y: &[f64], regressors: &[Vec<f64>], names: &[String]) -> Result<OlsFit, StatsError> {
    let n = y.len();
    let k = regressors.len();
    let needed = k + 2;
    if n < needed {
        return Err(StatsError::TooFewRows {
            what: format!(
                "a regression with an intercept and {k} driver{}",
                if k == 1 { "" } else { "s" }
            ),
            needed,
            got: n,
            detail: String::new(),
        });
    }
    if let Some(bad) = y
        .iter()
        .chain(regressors.iter().flatten())
        .find(|v| !v.is_finite())
    {
        return Err(StatsError::InvalidInput(format!(
            "a regression needs finite numbers, got {bad}"
        )));
    }
    let mut columns = Vec::with_capacity(k + 1);
    columns.push(vec![1.0; n]);
    columns.extend(regressors.iter().cloned());

    let fit = linalg::least_squares(&columns, y).map_err(|collinear| {
        let name_of = |index: usize| -> String {
            if index == 0 {
                "the intercept".to_string()
            } else {
                names
                    .get(index - 1)
                    .map(|name| format!("`{name}`"))
                    .unwrap_or_else(|| format!("driver {index}"))
            }
        };
        let name = names
            .get(collinear.index.saturating_sub(1))
            .cloned()
            .unwrap_or_else(|| format!("driver {}", collinear.index));
        let with = if collinear.involved == [0] {
            "the intercept (it has the same value in every row used)".to_string()
        } else if collinear.involved.is_empty() {
            "the other drivers (it is zero in every row used)".to_string()
        } else {
            collinear
                .involved
                .iter()
                .map(|&i| name_of(i))
                .collect::<Vec<_>>()
                .join(" and ")
        };
        StatsError::Collinear { name, with }
    })?;

    let mean_y = y.iter().sum::<f64>() / n as f64;
    let total_sum_of_squares: f64 = y.iter().map(|v| (v - mean_y).powi(2)).sum();
    if total_sum_of_squares == 0.0 {
        return Err(StatsError::InvalidInput(
            "the outcome has the same value in every row used, so there is nothing to explain"
                .into(),
        ));
    }
    let rss = fit.residual_sum_of_squares;
    let df_residual = n - k - 1;
    let df = df_residual as f64;
    let sigma_squared = rss / df;
    let t_critical = distributions::t_quantile(0.5 + CONFIDENCE / 2.0, df)?;

    let mut coefficients = Vec::with_capacity(k + 1);
    for (j, &coefficient) in fit.coefficients.iter().enumerate() {
        let std_error = (sigma_squared * fit.inverse_gram[j][j]).sqrt();
        let (t_statistic, p_value) = if std_error > 0.0 {
            let t = coefficient / std_error;
            (t, distributions::t_two_sided_p(t, df)?)
        } else {
            // An exact fit: no uncertainty at all.
            let t = if coefficient == 0.0 {
                0.0
            } else {
                f64::INFINITY.copysign(coefficient)
            };
            (t, if coefficient == 0.0 { 1.0 } else { 0.0 })
        };
        coefficients.push(Coefficient {
            coefficient,
            std_error,
            t_statistic,
            p_value,
            ci_low: coefficient - t_critical * std_error,
            ci_high: coefficient + t_critical * std_error,
        });
    }

    let r_squared = 1.0 - rss / total_sum_of_squares;
    let adjusted_r_squared = 1.0 - (1.0 - r_squared) * (n as f64 - 1.0) / df;
    let explained = total_sum_of_squares - rss;
    let (f_statistic, f_p_value) = if k == 0 {
        (0.0, 1.0)
    } else if rss > 0.0 {
        let f = (explained / k as f64) / sigma_squared;
        (f, distributions::f_upper_tail(f, k as f64, df)?)
    } else {
        (f64::INFINITY, 0.0)
    };
    // With an intercept in the model, VIFⱼ = ((X'X)⁻¹)ⱼⱼ · Σ(xⱼ − x̄ⱼ)².
    let variance_inflation_factors = regressors
        .iter()
        .enumerate()
        .map(|(j, values)| {
            let mean = values.iter().sum::<f64>() / n as f64;
            let centred: f64 = values.iter().map(|v| (v - mean).powi(2)).sum();
            fit.inverse_gram[j + 1][j + 1] * centred
        })
        .collect();
    let mut coefficients = coefficients.into_iter();
    let intercept = coefficients.next().ok_or_else(|| {
        StatsError::InvalidInput("internal: the fit returned no intercept".into())
    })?;
    Ok(OlsFit {
        n,
        intercept,
        slopes: coefficients.collect(),
        r_squared,
        adjusted_r_squared,
        f_statistic,
        f_p_value,
        df_model: k,
        df_residual,
        residual_std_error: sigma_squared.sqrt(),
        variance_inflation_factors,
    })
}
