//! Importance–performance analysis (Martilla and James, 1977): where to concentrate.
//!
//! Each service attribute is a point: how important customers say it is, and how well they say
//! we perform on it. The crosshairs sit at the grand means (the mean over attributes of the
//! attribute means, each attribute counting once), which splits the plane into four quadrants:
//!
//! | | performance below the crosshair | performance at or above it |
//! |---|---|---|
//! | **importance at or above** | concentrate here | keep up the good work |
//! | **importance below** | low priority | possible overkill |
//!
//! Decisions:
//! - **Input:** columns `importance_<attribute>` and `performance_<attribute>`, one respondent per
//!   row; other columns are ignored. Every importance column needs its performance column.
//! - **Missing values: pairwise per attribute.** An attribute's point uses the respondents who
//!   rated both its importance and its performance, so each point stands on the same people in
//!   both directions, and a gap in one attribute costs no respondents elsewhere. Its `n` says how
//!   many.
//! - **Intervals:** each mean has a Student t 95% interval. When an interval crosses its
//!   crosshair the quadrant could be chance, and `quadrant_is_clear` is false.
//! - **Too few rows:** an attribute with fewer than 2 complete pairs is an error (no interval);
//!   fewer than [`MIN_CASES`] is flagged `too_few_cases`.
//! - **Service standard suggested** for attributes in the two important quadrants: what matters to
//!   customers deserves a standard, to fix it ("concentrate here") or to keep it ("keep up the
//!   good work").

use serde::Serialize;

use crate::{estimate, table::Table, StatsError, MIN_CASES};

const IMPORTANCE_PREFIX: &str = "importance_";
const PERFORMANCE_PREFIX: &str = "performance_";

/// Where an attribute falls relative to the crosshairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Quadrant {
    /// Important, performing below the crosshair: fix this first.
    ConcentrateHere,
    /// Important and performing well: protect it.
    KeepUpTheGoodWork,
    /// Less important and performing below the crosshair: no urgency.
    LowPriority,
    /// Less important but performing well: effort that might go elsewhere.
    PossibleOverkill,
}

impl Quadrant {
    fn of(importance: f64, performance: f64, crosshair: (f64, f64)) -> Quadrant {
        match (importance >= crosshair.0, performance >= crosshair.1) {
            (true, false) => Quadrant::ConcentrateHere,
            (true, true) => Quadrant::KeepUpTheGoodWork,
            (false, false) => Quadrant::LowPriority,
            (false, true) => Quadrant::PossibleOverkill,
        }
    }

    /// The quadrant's name as a person reads it.
    pub fn label(self) -> &'static str {
        match self {
            Quadrant::ConcentrateHere => "Concentrate here",
            Quadrant::KeepUpTheGoodWork => "Keep up the good work",
            Quadrant::LowPriority => "Low priority",
            Quadrant::PossibleOverkill => "Possible overkill",
        }
    }
}

/// One attribute's point on the grid.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttributePoint {
    /// The attribute, `<attribute>` in the column names.
    pub name: String,
    /// Respondents who rated both its importance and its performance.
    pub n: usize,
    /// Mean importance.
    pub importance_mean: f64,
    /// Lower bound of the 95% interval of the mean importance.
    pub importance_ci_low: f64,
    /// Upper bound of the 95% interval of the mean importance.
    pub importance_ci_high: f64,
    /// Mean performance.
    pub performance_mean: f64,
    /// Lower bound of the 95% interval of the mean performance.
    pub performance_ci_low: f64,
    /// Upper bound of the 95% interval of the mean performance.
    pub performance_ci_high: f64,
    /// `performance_mean − importance_mean`: negative where we fall short of what matters.
    pub gap: f64,
    /// The quadrant.
    pub quadrant: Quadrant,
    /// The quadrant as a person reads it.
    pub quadrant_label: &'static str,
    /// False when either interval crosses its crosshair, so the quadrant could be chance.
    pub quadrant_is_clear: bool,
    /// True for the important quadrants: this attribute deserves a service standard.
    pub suggest_service_standard: bool,
    /// True when `n` is below [`MIN_CASES`].
    pub too_few_cases: bool,
}

/// The result of `rapport analyze ipa`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IpaReport {
    /// The importance crosshair: the mean of the attributes' mean importances.
    pub grand_mean_importance: f64,
    /// The performance crosshair: the mean of the attributes' mean performances.
    pub grand_mean_performance: f64,
    /// Rows in the table.
    pub rows: usize,
    /// One point per attribute, in the order of the importance columns.
    pub attributes: Vec<AttributePoint>,
    /// Attribute names in the "concentrate here" quadrant, most important first.
    pub concentrate_here: Vec<String>,
}

/// Builds the importance–performance grid from the `importance_*` and `performance_*` columns
/// of `table`.
pub fn importance_performance(table: &Table) -> Result<IpaReport, StatsError> {
    let attributes: Vec<&str> = table
        .headers()
        .iter()
        .filter_map(|h| h.strip_prefix(IMPORTANCE_PREFIX))
        .collect();
    if attributes.is_empty() {
        return Err(StatsError::InvalidInput(format!(
            "importance-performance analysis needs columns named `importance_<attribute>` and \
             `performance_<attribute>`; the CSV has: {}",
            table.headers().join(", ")
        )));
    }
    for header in table.headers() {
        if let Some(attribute) = header.strip_prefix(PERFORMANCE_PREFIX) {
            if !attributes.contains(&attribute) {
                return Err(StatsError::InvalidInput(format!(
                    "column `{header}` has no matching `{IMPORTANCE_PREFIX}{attribute}` column"
                )));
            }
        }
    }

    let mut points = Vec::with_capacity(attributes.len());
    for attribute in &attributes {
        let importance_name = format!("{IMPORTANCE_PREFIX}{attribute}");
        let performance_name = format!("{PERFORMANCE_PREFIX}{attribute}");
        if !table.headers().contains(&performance_name) {
            return Err(StatsError::InvalidInput(format!(
                "column `{importance_name}` has no matching `{performance_name}` column"
            )));
        }
        let importance_column = table.numeric_column(&importance_name)?;
        let performance_column = table.numeric_column(&performance_name)?;
        // Pairwise per attribute: respondents who answered both questions about it.
        let (importance, performance): (Vec<f64>, Vec<f64>) = importance_column
            .iter()
            .zip(&performance_column)
            .filter_map(|(i, p)| Some(((*i)?, (*p)?)))
            .unzip();
        let too_few = |err| match err {
            StatsError::TooFewRows { needed, got, .. } => StatsError::TooFewRows {
                what: format!(
                    "attribute `{attribute}` (respondents who rated both its importance and its \
                     performance)"
                ),
                needed,
                got,
                detail: String::new(),
            },
            other => other,
        };
        let importance_estimate = estimate::mean(&importance).map_err(too_few)?;
        let performance_estimate = estimate::mean(&performance).map_err(too_few)?;
        points.push((
            attribute.to_string(),
            importance_estimate,
            performance_estimate,
        ));
    }

    let count = points.len() as f64;
    let grand_mean_importance = points.iter().map(|p| p.1.value).sum::<f64>() / count;
    let grand_mean_performance = points.iter().map(|p| p.2.value).sum::<f64>() / count;
    let crosshair = (grand_mean_importance, grand_mean_performance);

    let attributes: Vec<AttributePoint> = points
        .into_iter()
        .map(|(name, importance, performance)| {
            let quadrant = Quadrant::of(importance.value, performance.value, crosshair);
            let crosses = |e: &crate::Estimate, line: f64| e.low <= line && line <= e.high;
            AttributePoint {
                name,
                n: importance.n,
                importance_mean: importance.value,
                importance_ci_low: importance.low,
                importance_ci_high: importance.high,
                performance_mean: performance.value,
                performance_ci_low: performance.low,
                performance_ci_high: performance.high,
                gap: performance.value - importance.value,
                quadrant,
                quadrant_label: quadrant.label(),
                quadrant_is_clear: !crosses(&importance, crosshair.0)
                    && !crosses(&performance, crosshair.1),
                suggest_service_standard: matches!(
                    quadrant,
                    Quadrant::ConcentrateHere | Quadrant::KeepUpTheGoodWork
                ),
                too_few_cases: importance.n < MIN_CASES,
            }
        })
        .collect();

    let mut concentrate: Vec<&AttributePoint> = attributes
        .iter()
        .filter(|a| a.quadrant == Quadrant::ConcentrateHere)
        .collect();
    concentrate.sort_by(|a, b| b.importance_mean.total_cmp(&a.importance_mean));
    let concentrate_here = concentrate.iter().map(|a| a.name.clone()).collect();
    Ok(IpaReport {
        grand_mean_importance,
        grand_mean_performance,
        rows: table.row_count(),
        attributes,
        concentrate_here,
    })
}
