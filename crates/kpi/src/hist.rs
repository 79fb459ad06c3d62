//! Mergeable histograms: the roll-ups keep one per bucket so that a median or a 90th percentile
//! over any period and any slice is the merge of the buckets' histograms, never a re-read of raw
//! events.
//!
//! Durations go into logarithmic bins that grow by [`GROWTH`] (5%): the point estimate of a
//! percentile is the geometric middle of its bin, so it is within ±2.5% of the exact order
//! statistic. Scores (CSAT, CES, NPS answers) go into one bin per whole score, which is exact.
//!
//! The 95% interval of a percentile is the distribution-free order-statistic interval of
//! [`stats::quantile::percentile`], with each bounding order statistic widened to the outer edge
//! of its bin: the interval can only be wider than the exact one, never narrower.

use std::fmt::Write as _;

use stats::distributions::{binomial_isf, binomial_ppf};
use stats::{Estimate, CONFIDENCE};

/// How much wider each duration bin is than the one below it.
pub const GROWTH: f64 = 1.05;

/// How values map to bins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Binning {
    /// Seconds (or any non-negative quantity) in logarithmic bins.
    Log,
    /// Whole numbers, one bin each (survey scores).
    Whole,
}

impl Binning {
    /// The bin of a value.
    pub fn bin(self, value: f64) -> i32 {
        match self {
            Binning::Whole => value.round().clamp(i32::MIN as f64, i32::MAX as f64) as i32,
            Binning::Log => {
                if value.is_nan() || value < 1.0 {
                    0
                } else {
                    // Bin k >= 1 holds [GROWTH^(k-1), GROWTH^k).
                    (value.ln() / GROWTH.ln()).floor() as i32 + 1
                }
            }
        }
    }

    /// The lowest and highest value a bin holds.
    pub fn edges(self, bin: i32) -> (f64, f64) {
        match self {
            Binning::Whole => (f64::from(bin), f64::from(bin)),
            Binning::Log => {
                if bin <= 0 {
                    (0.0, 1.0)
                } else {
                    (GROWTH.powi(bin - 1), GROWTH.powi(bin))
                }
            }
        }
    }

    /// The value that stands for a bin: the geometric middle of a log bin, the number itself
    /// for whole numbers.
    pub fn representative(self, bin: i32) -> f64 {
        match self {
            Binning::Whole => f64::from(bin),
            Binning::Log => {
                let (low, high) = self.edges(bin);
                if bin <= 0 {
                    0.5
                } else {
                    (low * high).sqrt()
                }
            }
        }
    }
}

/// A sparse histogram: bin → number of cases, as (bin, count) pairs in bin order, every count
/// above zero (so two histograms of the same cases are equal). A sorted vector rather than a
/// tree: a bucket holds tens of bins, and the fold adds to one per observation, so a binary
/// search over one allocation beats a walk down tree nodes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Histogram {
    bins: Vec<(i32, u64)>,
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Histogram {
        Histogram::default()
    }

    /// Counts one case in `bin`.
    pub fn add_bin(&mut self, bin: i32, count: u64) {
        if count == 0 {
            return;
        }
        // Most values land at or past the last bin met when they come in order.
        match self.bins.last_mut() {
            None => return self.bins.push((bin, count)),
            Some(last) if last.0 == bin => return last.1 += count,
            Some(last) if last.0 < bin => return self.bins.push((bin, count)),
            Some(_) => {}
        }
        match self.bins.binary_search_by_key(&bin, |&(b, _)| b) {
            Ok(found) => {
                if let Some(pair) = self.bins.get_mut(found) {
                    pair.1 += count;
                }
            }
            Err(at) => self.bins.insert(at, (bin, count)),
        }
    }

    /// Adds every case of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        if other.bins.len() <= 4 || self.bins.is_empty() {
            for &(bin, count) in &other.bins {
                self.add_bin(bin, count);
            }
            return;
        }
        // Both in bin order: one pass over each.
        let mut merged = Vec::with_capacity(self.bins.len() + other.bins.len());
        let (mut mine, mut theirs) = (self.bins.iter().peekable(), other.bins.iter().peekable());
        loop {
            let next = match (mine.peek(), theirs.peek()) {
                (Some(&&(a, n)), Some(&&(b, m))) => {
                    if a == b {
                        mine.next();
                        theirs.next();
                        (a, n + m)
                    } else if a < b {
                        mine.next();
                        (a, n)
                    } else {
                        theirs.next();
                        (b, m)
                    }
                }
                (Some(&&pair), None) => {
                    mine.next();
                    pair
                }
                (None, Some(&&pair)) => {
                    theirs.next();
                    pair
                }
                (None, None) => break,
            };
            merged.push(next);
        }
        self.bins = merged;
    }

    /// The number of cases.
    pub fn total(&self) -> u64 {
        self.bins.iter().map(|&(_, count)| count).sum()
    }

    /// True when no case was counted.
    pub fn is_empty(&self) -> bool {
        self.bins.is_empty()
    }

    /// The bins with their counts, lowest first.
    pub fn iter(&self) -> impl Iterator<Item = (i32, u64)> + '_ {
        self.bins.iter().copied()
    }

    /// The number of cases in bins above `bin`.
    pub fn count_above(&self, bin: i32) -> u64 {
        let above = self.bins.partition_point(|&(b, _)| b <= bin);
        self.bins
            .get(above..)
            .unwrap_or_default()
            .iter()
            .map(|&(_, count)| count)
            .sum()
    }

    /// The bin holding the `rank`-th smallest case (1-based); `None` past the end.
    fn bin_of_rank(&self, rank: u64) -> Option<i32> {
        let mut seen = 0;
        for &(bin, count) in &self.bins {
            seen += count;
            if seen >= rank {
                return Some(bin);
            }
        }
        None
    }

    /// The `q`-quantile with its distribution-free 95% interval (see the module docs); `None`
    /// when the histogram is empty or `q` is outside 0..=1.
    pub fn percentile(&self, binning: Binning, q: f64) -> Option<Estimate> {
        let n = self.total();
        if n == 0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        // The order statistic that the point estimate stands on (1-based, nearest rank).
        let rank = ((q * n as f64).ceil() as u64).clamp(1, n);
        let value = binning.representative(self.bin_of_rank(rank)?);
        let tail = (1.0 - CONFIDENCE) / 2.0;
        let low_rank = binomial_ppf(tail, n, q).ok()?;
        let low = match low_rank {
            0 => f64::NEG_INFINITY,
            r => binning.edges(self.bin_of_rank(r)?).0,
        };
        // 0-based index of the upper bound's order statistic, i.e. 1-based rank index + 1.
        let high_index = binomial_isf(tail, n, q).ok()?;
        let high = match self.bin_of_rank(high_index + 1) {
            Some(bin) if high_index < n => binning.edges(bin).1,
            _ => f64::INFINITY,
        };
        Some(Estimate::new(
            value,
            n as usize,
            low.min(value),
            high.max(value),
        ))
    }

    /// The stored text form: `bin:count` pairs separated by `;`, lowest bin first.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(self.bins.len() * 8);
        for (i, (bin, count)) in self.bins.iter().enumerate() {
            if i > 0 {
                out.push(';');
            }
            // Writing into a String cannot fail.
            let _ = write!(out, "{bin}:{count}");
        }
        out
    }

    /// Reads the text form of [`Histogram::encode`]; a malformed pair is an error naming it.
    pub fn decode(text: &str) -> Result<Histogram, String> {
        let mut histogram = Histogram::new();
        for pair in text.split(';').filter(|p| !p.is_empty()) {
            let parsed = pair.split_once(':').and_then(|(bin, count)| {
                Some((bin.parse::<i32>().ok()?, count.parse::<u64>().ok()?))
            });
            match parsed {
                Some((bin, count)) => histogram.add_bin(bin, count),
                None => return Err(format!("a histogram pair must be bin:count, got {pair:?}")),
            }
        }
        Ok(histogram)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn log_bins_hold_their_values() {
        for value in [0.0, 0.5, 1.0, 1.04, 59.0, 60.0, 3600.0, 86_400.0 * 30.0] {
            let bin = Binning::Log.bin(value);
            let (low, high) = Binning::Log.edges(bin);
            assert!(
                low <= value && value < high,
                "{value} not in bin {bin} [{low}, {high})"
            );
        }
    }

    #[test]
    fn encoding_round_trips_and_rejects_garbage() {
        let mut h = Histogram::new();
        h.add_bin(-3, 2);
        h.add_bin(40, 7);
        assert_eq!(h.encode(), "-3:2;40:7");
        assert_eq!(Histogram::decode(&h.encode()), Ok(h));
        assert_eq!(Histogram::decode(""), Ok(Histogram::new()));
        assert!(Histogram::decode("4:x").is_err());
        assert!(Histogram::decode("4").is_err());
    }

    proptest! {
        /// The binned percentile stays within one bin of the exact one, and its interval contains
        /// the exact interval.
        #[test]
        fn binned_percentiles_bracket_the_exact_ones(
            values in prop::collection::vec(0.0f64..1.0e6, 1..400),
            q in prop::sample::select(vec![0.5, 0.9]),
        ) {
            let mut h = Histogram::new();
            for &v in &values {
                h.add_bin(Binning::Log.bin(v), 1);
            }
            let exact = stats::quantile::percentile(&values, q).unwrap();
            let binned = h.percentile(Binning::Log, q).unwrap();
            prop_assert_eq!(binned.n, exact.n);
            prop_assert!(binned.low <= exact.low, "low {} > exact {}", binned.low, exact.low);
            prop_assert!(binned.high >= exact.high, "high {} < exact {}", binned.high, exact.high);
            // The nearest-rank order statistic shares the estimate's bin.
            let mut sorted = values.clone();
            sorted.sort_by(f64::total_cmp);
            let rank = ((q * values.len() as f64).ceil() as usize).clamp(1, values.len());
            let bin = Binning::Log.bin(sorted[rank - 1]);
            prop_assert_eq!(binned.value, Binning::Log.representative(bin));
        }

        /// The sorted pairs hold what a map of bin to count holds, whatever the order the cases
        /// come in, added one by one or merged, and encode and count alike.
        #[test]
        fn the_histogram_holds_what_a_map_of_bins_holds(
            parts in prop::collection::vec(prop::collection::vec((-40i32..400, 0u64..3), 0..60), 1..6),
        ) {
            let mut model = std::collections::BTreeMap::<i32, u64>::new();
            let mut h = Histogram::new();
            for (i, part) in parts.iter().enumerate() {
                let mut other = Histogram::new();
                for &(bin, count) in part {
                    if count > 0 {
                        *model.entry(bin).or_insert(0) += count;
                    }
                    if i % 2 == 0 { h.add_bin(bin, count) } else { other.add_bin(bin, count) }
                }
                h.merge(&other);
            }
            let pairs: Vec<(i32, u64)> = model.iter().map(|(&b, &c)| (b, c)).collect();
            prop_assert_eq!(h.iter().collect::<Vec<_>>(), pairs);
            prop_assert_eq!(h.total(), model.values().sum::<u64>());
            for bin in [-41, 0, 17, 399] {
                prop_assert_eq!(h.count_above(bin), model.range(bin + 1..).map(|(_, &c)| c).sum::<u64>());
            }
            prop_assert_eq!(Histogram::decode(&h.encode()), Ok(h));
        }

        #[test]
        fn merging_equals_counting_together(a in prop::collection::vec(-5i32..50, 0..50), b in prop::collection::vec(-5i32..50, 0..50)) {
            let (mut ha, mut hb, mut all) = (Histogram::new(), Histogram::new(), Histogram::new());
            for &x in &a { ha.add_bin(x, 1); all.add_bin(x, 1); }
            for &x in &b { hb.add_bin(x, 1); all.add_bin(x, 1); }
            ha.merge(&hb);
            prop_assert_eq!(ha, all);
        }
    }
}
