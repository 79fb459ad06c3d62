//! A KPI's figure for a period and a slice, computed from merged roll-ups: the value with its n,
//! its 95% interval, the too-few-cases flag and the red/amber/green status; and whether it changed
//! significantly from the previous period.

use std::collections::HashMap;

use serde::Serialize;
use stats::significance::{self, Summary, TestResult};
use stats::{Estimate, MIN_CASES};

use crate::catalogue::{Computation, KpiDefinition, KpiSettings};
use crate::fold::Aggregate;
use crate::hist::{Binning, Histogram};
use crate::measure::Measure;

/// What a figure is computed from: the roll-ups of the period and slice merged per measure,
/// and, for the live backlog KPIs, the ages (seconds) of the open conversations.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub measures: HashMap<Measure, Aggregate>,
    pub backlog_ages: Histogram,
}

impl Inputs {
    fn get(&self, measure: Measure) -> Aggregate {
        self.measures.get(&measure).cloned().unwrap_or_default()
    }
}

/// A KPI's figure, as the API returns it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figure {
    pub key: String,
    /// `None` when there is nothing to compute it from (no cases).
    pub value: Option<f64>,
    pub unit: &'static str,
    pub n: u64,
    /// The 95% interval; `None` for exact counts or when the method cannot bound it.
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    pub target: Option<f64>,
    pub status: &'static str,
    pub too_few_cases: bool,
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

fn from_estimate(
    estimate: Estimate,
    scale: f64,
) -> (Option<f64>, u64, Option<f64>, Option<f64>, bool) {
    (
        Some(estimate.value * scale),
        estimate.n as u64,
        finite(estimate.low * scale),
        finite(estimate.high * scale),
        estimate.too_few_cases,
    )
}

fn none(n: u64) -> (Option<f64>, u64, Option<f64>, Option<f64>, bool) {
    (None, n, None, None, true)
}

/// Computes `definition`'s figure from `inputs`.
pub fn figure(definition: &KpiDefinition, settings: &KpiSettings, inputs: &Inputs) -> Figure {
    let (value, n, ci_low, ci_high, too_few_cases) = match definition.computation {
        Computation::Percentile { measure, q } => {
            let agg = inputs.get(measure);
            match agg.hist.percentile(measure.binning(), q) {
                Some(e) => from_estimate(e, 1.0),
                None => none(agg.count),
            }
        }
        Computation::Proportion { measure } => {
            let agg = inputs.get(measure);
            proportion(agg.sum.round().max(0.0) as u64, agg.count)
        }
        Computation::Rate {
            numerator,
            denominator,
        } => {
            let (num, den) = (inputs.get(numerator).count, inputs.get(denominator).count);
            proportion(num.min(den), den)
        }
        Computation::Mean { measure } => {
            let agg = inputs.get(measure);
            let summary = Summary::of_sums(agg.count, agg.sum, agg.sum_sq);
            match mean_estimate(summary) {
                Some(e) => from_estimate(e, 1.0),
                None if agg.count > 0 => (Some(summary.mean), agg.count, None, None, true),
                None => none(0),
            }
        }
        Computation::Count { measure } => {
            let count = inputs.get(measure).count;
            (Some(count as f64), count, None, None, false)
        }
        Computation::NetPromoterScore => match nps(&inputs.get(Measure::Nps).hist) {
            Some(score) => from_estimate(score.score, 1.0),
            None => none(0),
        },
        Computation::Backlog => {
            let count = inputs.backlog_ages.total();
            (Some(count as f64), count, None, None, false)
        }
        Computation::BacklogAge { q } => match inputs.backlog_ages.percentile(Binning::Log, q) {
            Some(e) => from_estimate(e, 1.0),
            None => none(0),
        },
    };
    Figure {
        key: definition.key.to_string(),
        value,
        unit: definition.unit.as_str(),
        n,
        ci_low,
        ci_high,
        target: settings.target,
        status: definition.status(value, too_few_cases, settings).as_str(),
        too_few_cases,
    }
}

fn proportion(successes: u64, n: u64) -> (Option<f64>, u64, Option<f64>, Option<f64>, bool) {
    match stats::proportion::wilson(successes, n) {
        Ok(e) => from_estimate(e, 100.0),
        Err(_) => none(n),
    }
}

fn mean_estimate(summary: Summary) -> Option<Estimate> {
    if summary.n < 2 {
        return None;
    }
    let t = stats::distributions::t_quantile(0.5 + stats::CONFIDENCE / 2.0, (summary.n - 1) as f64)
        .ok()?;
    let half = t * (summary.variance / summary.n as f64).sqrt();
    Some(Estimate::new(
        summary.mean,
        summary.n as usize,
        summary.mean - half,
        summary.mean + half,
    ))
}

fn nps(hist: &Histogram) -> Option<stats::nps::NetPromoterScore> {
    let (mut promoters, mut passives, mut detractors) = (0, 0, 0);
    for (score, count) in hist.iter() {
        match score {
            9..=10 => promoters += count,
            7..=8 => passives += count,
            0..=6 => detractors += count,
            _ => {}
        }
    }
    stats::nps::net_promoter_score(promoters, passives, detractors).ok()
}

/// Did the KPI change significantly between the previous and the current period? `None` when
/// there is no test for it (live figures) or too little data to run one.
pub fn compare(
    definition: &KpiDefinition,
    previous: &Inputs,
    current: &Inputs,
) -> Option<TestResult> {
    match definition.computation {
        Computation::Percentile { measure, q } => {
            // Mood's test generalised to any quantile: is the share of cases above the pooled
            // quantile different between the periods?
            let (p, c) = (previous.get(measure), current.get(measure));
            if p.count == 0 || c.count == 0 {
                return None;
            }
            let mut pooled = p.hist.clone();
            pooled.merge(&c.hist);
            let n = pooled.total();
            let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
            let mut seen = 0;
            let bin = pooled
                .iter()
                .find(|(_, count)| {
                    seen += count;
                    seen >= rank
                })?
                .0;
            significance::two_proportion_z_test(
                (p.hist.count_above(bin), p.count),
                (c.hist.count_above(bin), c.count),
            )
            .ok()
        }
        Computation::Proportion { measure } => {
            let (p, c) = (previous.get(measure), current.get(measure));
            significance::two_proportion_z_test(
                (p.sum.round() as u64, p.count),
                (c.sum.round() as u64, c.count),
            )
            .ok()
        }
        Computation::Rate {
            numerator,
            denominator,
        } => {
            let rate = |i: &Inputs| {
                let (num, den) = (i.get(numerator).count, i.get(denominator).count);
                (num.min(den), den)
            };
            significance::two_proportion_z_test(rate(previous), rate(current)).ok()
        }
        Computation::Mean { measure } => {
            let summary = |i: &Inputs| {
                let a = i.get(measure);
                Summary::of_sums(a.count, a.sum, a.sum_sq)
            };
            significance::welch_t_test_of_summaries(summary(previous), summary(current)).ok()
        }
        Computation::Count { measure } => {
            significance::count_change_test(previous.get(measure).count, current.get(measure).count)
                .ok()
        }
        Computation::NetPromoterScore => {
            let (p, c) = (
                nps(&previous.get(Measure::Nps).hist)?,
                nps(&current.get(Measure::Nps).hist)?,
            );
            if p.score.n < MIN_CASES || c.score.n < MIN_CASES {
                return None;
            }
            significance::difference_z_test(
                (p.score.value, p.standard_error),
                (c.score.value, c.standard_error),
                "Net Promoter Score",
            )
            .ok()
        }
        Computation::Backlog | Computation::BacklogAge { .. } => None,
    }
}
