//! Key-driver analysis: which attribute ratings move overall satisfaction, and by how much.
//!
//! Overall satisfaction is regressed on the attribute ratings by ordinary least squares with an
//! intercept ([`crate::regression::ols`]). The report is the JSON contract of
//! `rapport analyze key-drivers`; outside scripts rely on its names, so fields may be added but
//! never renamed.
//!
//! Decisions:
//! - **Missing values: listwise deletion.** A row is used only when the outcome and every driver
//!   are present, so every coefficient is estimated on the same respondents (statsmodels'
//!   `missing="drop"`). The report says how many rows were dropped.
//! - **Collinear drivers** (a driver that is constant, or a linear combination of earlier ones)
//!   are an error naming the driver and its partners, never a fit with meaningless numbers.
//! - **Too few rows:** fewer than `drivers + 2` complete rows is an error (no degree of freedom
//!   left for the error variance). Fewer than `max(30, 10 × drivers)` rows fits but is flagged
//!   `too_few_cases`: the usual rule of thumb of ten cases per predictor.
//! - **Ranking:** by standardised coefficient (the change in outcome standard deviations for one
//!   standard deviation of the driver), largest first, so drivers on different scales compare.
//! - **Service standard suggested** for a driver whose coefficient is positive and significant
//!   at 5%: improving it demonstrably lifts satisfaction, so it deserves a standard to protect it.

use serde::Serialize;

use crate::{
    estimate::mean_and_variance, regression, regression::Coefficient, table::Table, StatsError,
    CONFIDENCE, MIN_CASES,
};

/// Cases per driver below which the analysis is flagged `too_few_cases`.
pub const CASES_PER_DRIVER: usize = 10;

/// The intercept of the model, as the JSON contract names its fields.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InterceptReport {
    /// The estimated intercept.
    pub coefficient: f64,
    /// Its standard error.
    pub std_error: f64,
    /// Lower bound of its 95% interval.
    pub ci_low: f64,
    /// Upper bound of its 95% interval.
    pub ci_high: f64,
    /// Two-sided p-value of "the intercept is zero".
    pub p_value: f64,
    /// Its t statistic.
    pub t_statistic: f64,
}

/// One driver's effect on the outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriverReport {
    /// The driver's column name.
    pub name: String,
    /// Change in the outcome for one point more on this driver, the others held fixed.
    pub coefficient: f64,
    /// Its standard error.
    pub std_error: f64,
    /// Lower bound of its 95% interval.
    pub ci_low: f64,
    /// Upper bound of its 95% interval.
    pub ci_high: f64,
    /// Two-sided p-value of "this driver has no effect".
    pub p_value: f64,
    /// The coefficient in standard deviations: `coefficient · sd(driver) / sd(outcome)`.
    pub standardized: f64,
    /// Its t statistic.
    pub t_statistic: f64,
    /// How much correlation with the other drivers inflates this coefficient's variance; above
    /// about 5 the drivers share their effect and this coefficient alone is unstable.
    pub variance_inflation_factor: f64,
    /// 1 for the driver that matters most (largest standardised coefficient).
    pub rank: usize,
    /// True when `p_value < 0.05`.
    pub significant: bool,
    /// True when the effect is positive and significant: a candidate for a service standard.
    pub suggest_service_standard: bool,
}

/// The result of `rapport analyze key-drivers`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyDriverReport {
    /// The outcome column.
    pub outcome: String,
    /// Complete rows used.
    pub n: usize,
    /// Rows dropped because the outcome or a driver was missing.
    pub rows_dropped_for_missing_values: usize,
    /// Share of the outcome's variance the drivers explain.
    pub r_squared: f64,
    /// R² adjusted for the number of drivers.
    pub adjusted_r_squared: f64,
    /// F statistic of "no driver has any effect".
    pub f_statistic: f64,
    /// Its p-value.
    pub f_p_value: f64,
    /// Number of drivers.
    pub df_model: usize,
    /// Residual degrees of freedom, `n − drivers − 1`.
    pub df_residual: usize,
    /// The intercept.
    pub intercept: InterceptReport,
    /// The drivers, in the order asked for.
    pub drivers: Vec<DriverReport>,
    /// Driver names from most to least important (by standardised coefficient).
    pub ranking: Vec<String>,
    /// True when `n < max(30, 10 × drivers)`: read the figures with care.
    pub too_few_cases: bool,
}

/// Regresses `outcome` on `drivers`, all columns of `table`, with listwise deletion of rows
/// that miss any of them.
pub fn analyze_key_drivers(
    table: &Table,
    outcome: &str,
    drivers: &[String],
) -> Result<KeyDriverReport, StatsError> {
    if drivers.is_empty() {
        return Err(StatsError::InvalidInput(
            "key-driver analysis needs at least one driver column".into(),
        ));
    }
    for (i, driver) in drivers.iter().enumerate() {
        if driver == outcome {
            return Err(StatsError::InvalidInput(format!(
                "`{driver}` is the outcome; it cannot also be a driver"
            )));
        }
        if drivers[..i].contains(driver) {
            return Err(StatsError::InvalidInput(format!(
                "driver `{driver}` is named twice"
            )));
        }
    }
    let outcome_column = table.numeric_column(outcome)?;
    let driver_columns = drivers
        .iter()
        .map(|d| table.numeric_column(d))
        .collect::<Result<Vec<_>, _>>()?;

    // Listwise deletion: keep a row only when every variable is present.
    let complete_rows: Vec<usize> = (0..table.row_count())
        .filter(|&row| {
            outcome_column[row].is_some() && driver_columns.iter().all(|c| c[row].is_some())
        })
        .collect();
    let pick = |column: &[Option<f64>]| -> Vec<f64> {
        complete_rows
            .iter()
            .filter_map(|&row| column[row])
            .collect()
    };
    let y = pick(&outcome_column);
    let x: Vec<Vec<f64>> = driver_columns.iter().map(|c| pick(c)).collect();
    let dropped = table.row_count() - complete_rows.len();

    let fit = regression::ols(&y, &x, drivers).map_err(|err| match err {
        StatsError::TooFewRows {
            what, needed, got, ..
        } => StatsError::TooFewRows {
            what,
            needed,
            got,
            detail: format!(
                " ({} rows in the file, {dropped} dropped because `{outcome}` or a driver is \
                 missing)",
                table.row_count()
            ),
        },
        other => other,
    })?;

    let (_, outcome_variance) = mean_and_variance(&y);
    let outcome_sd = outcome_variance.sqrt();
    let mut reports: Vec<DriverReport> = drivers
        .iter()
        .zip(&fit.slopes)
        .zip(&x)
        .zip(&fit.variance_inflation_factors)
        .map(|(((name, slope), values), &variance_inflation_factor)| {
            let (_, variance) = mean_and_variance(values);
            let standardized = slope.coefficient * variance.sqrt() / outcome_sd;
            driver_report(name, slope, standardized, variance_inflation_factor)
        })
        .collect();

    let mut order: Vec<usize> = (0..reports.len()).collect();
    order.sort_by(|&a, &b| reports[b].standardized.total_cmp(&reports[a].standardized));
    for (position, &index) in order.iter().enumerate() {
        reports[index].rank = position + 1;
    }
    let ranking = order.iter().map(|&i| reports[i].name.clone()).collect();
    let n = fit.n;
    let intercept = &fit.intercept;
    Ok(KeyDriverReport {
        outcome: outcome.to_string(),
        n,
        rows_dropped_for_missing_values: dropped,
        r_squared: fit.r_squared,
        adjusted_r_squared: fit.adjusted_r_squared,
        f_statistic: fit.f_statistic,
        f_p_value: fit.f_p_value,
        df_model: fit.df_model,
        df_residual: fit.df_residual,
        intercept: InterceptReport {
            coefficient: intercept.coefficient,
            std_error: intercept.std_error,
            ci_low: intercept.ci_low,
            ci_high: intercept.ci_high,
            p_value: intercept.p_value,
            t_statistic: intercept.t_statistic,
        },
        drivers: reports,
        ranking,
        too_few_cases: n < MIN_CASES.max(CASES_PER_DRIVER * drivers.len()),
    })
}

fn driver_report(
    name: &str,
    slope: &Coefficient,
    standardized: f64,
    variance_inflation_factor: f64,
) -> DriverReport {
    let significant = slope.p_value < 1.0 - CONFIDENCE;
    DriverReport {
        name: name.to_string(),
        coefficient: slope.coefficient,
        std_error: slope.std_error,
        ci_low: slope.ci_low,
        ci_high: slope.ci_high,
        p_value: slope.p_value,
        standardized,
        t_statistic: slope.t_statistic,
        variance_inflation_factor,
        rank: 0,
        significant,
        suggest_service_standard: significant && slope.coefficient > 0.0,
    }
}
