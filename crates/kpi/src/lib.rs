//! `kpi`: management information for Rapport.
//!
//! | question | where |
//! |---|---|
//! | which KPIs exist, and what exactly does each mean? | [`catalogue::catalogue`] |
//! | how does an event become a roll-up observation? | [`fold::apply`] |
//! | what does a roll-up row hold? | [`fold::Aggregate`] |
//! | how is a median computed from roll-ups, with its interval? | [`hist::Histogram::percentile`] |
//! | how is a figure, its status and its change computed? | [`figure::figure`], [`figure::compare`] |
//! | did an improvement initiative work? | [`initiative::judge`] |
//!
//! Pure: no I/O, no clock. The consumer that feeds the fold from the log and stores the buckets
//! lives in `app` (`App::run_kpi_rollups`), the tables in `store`.

pub mod benchmarks;
pub mod catalogue;
pub mod figure;
pub mod fold;
pub mod hist;
pub mod initiative;
pub mod measure;
pub mod synthetic;

pub use catalogue::{catalogue, find, KpiDefinition, KpiSettings};
pub use figure::{compare, figure, Figure, Inputs};
pub use fold::{
    apply, apply_boxed, day_of, day_start, local_day_of, local_day_start, Aggregate, BucketKey,
    ConversationFacts, FactColumns, FactsMap, FoldEvent, FoldHasher, FoldPayload, Rollup,
    FOLDED_KINDS,
};
pub use hist::{Binning, Histogram};
pub use measure::{DimKind, Measure, Slice};

#[cfg(test)]
mod tests;
