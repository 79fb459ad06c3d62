//! `stats`: honest numbers for Rapport.
//!
//! Every figure shown to a person carries its sample size and a 95% interval, and says when it
//! rests on too few cases ([`Estimate`]). This crate holds the estimators behind those figures,
//! the significance tests used to say whether a change between two periods is real, and the two
//! analyses of customer priorities: key-driver analysis ([`key_drivers`], ordinary least squares)
//! and importance–performance analysis ([`ipa`]).
//!
//! The crate is pure: no I/O, no clock, no randomness. The CLI reads a file and hands its text to
//! [`table::Table::from_csv`].
//!
//! | question | where |
//! |---|---|
//! | how is the CSAT interval computed? | [`proportion::wilson`] |
//! | how is the interval of a median reply time computed? | [`quantile::percentile`] |
//! | what is the variance of an NPS? | [`nps::net_promoter_score`] |
//! | when does a figure rest on too few cases? | [`estimate::MIN_CASES`] |
//! | did this month differ from last month? | [`significance`] |
//! | which attributes drive overall satisfaction? | [`key_drivers::analyze_key_drivers`] |
//! | where should we concentrate? | [`ipa::importance_performance`] |

// Every public item is documented (house style); the compiler keeps us to it.
#![warn(missing_docs)]

pub mod distributions;
pub mod estimate;
pub mod ipa;
pub mod key_drivers;
mod linalg;
pub mod nps;
pub mod proportion;
pub mod quantile;
pub mod regression;
pub mod significance;
pub mod table;

pub use estimate::{Estimate, MIN_CASES};

/// The confidence level of every interval this crate reports, and the significance level
/// (`1 - CONFIDENCE`) of every test verdict. One level everywhere keeps the figures comparable.
pub const CONFIDENCE: f64 = 0.95;

/// Why an analysis could not give an honest answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StatsError {
    /// Not enough usable cases to compute the figure at all (not merely "too few to trust").
    #[error("{what} needs at least {needed} usable cases but has only {got}{detail}")]
    TooFewRows {
        /// What was being computed, in words.
        what: String,
        /// The minimum number of cases the computation needs.
        needed: usize,
        /// The number of usable cases.
        got: usize,
        /// Extra context, e.g. how many rows were dropped for missing values (may be empty).
        detail: String,
    },
    /// A regressor is (almost) a linear combination of the intercept and the regressors before it,
    /// so its effect cannot be separated from theirs.
    #[error(
        "driver `{name}` is perfectly (or almost perfectly) collinear with {with}: its effect cannot \
         be separated from theirs; remove it or one of them and run the analysis again"
    )]
    Collinear {
        /// The driver that adds nothing new.
        name: String,
        /// The intercept and/or the earlier drivers it can be predicted from, in words.
        with: String,
    },
    /// A value was outside the range the computation accepts (e.g. a negative count).
    #[error("{0}")]
    InvalidInput(String),
    /// The CSV text could not be read as a table of numbers.
    #[error("{0}")]
    Csv(String),
}
