//! Variants: the distinct activity sequences of the cases, with how many cases follow each.

use crate::log::{ActivityView, EventLog, FastMap};

/// One variant.
#[derive(Debug, Clone, PartialEq)]
pub struct Variant {
    /// The activity ids, in case order.
    pub activities: Vec<u32>,
    /// How many cases follow it.
    pub count: u64,
    /// `count` divided by the number of cases.
    pub share: f64,
}

/// The variants of a log, most frequent first; equal counts are ordered by their activity names
/// (compared name by name), so the order never depends on hashing or reading order.
#[derive(Debug, Clone, PartialEq)]
pub struct Variants {
    /// Activity names by id.
    pub activity_names: Vec<String>,
    /// The variants.
    pub variants: Vec<Variant>,
    /// The variant index (into `variants`) of each case.
    pub case_variant: Vec<u32>,
}

impl Variants {
    /// Groups the cases of `log` by their activity sequence under `view`.
    pub fn discover(log: &EventLog, view: &ActivityView) -> Variants {
        // A case's events are contiguous, so its variant is a slice of the activity column:
        // hashing slices needs no copy per case. Each variant remembers the event range of its
        // first case.
        let mut index: FastMap<&[u32], u32> = FastMap::default();
        let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
        let mut counts: Vec<u64> = Vec::new();
        let mut case_variant = Vec::with_capacity(log.case_count());
        for case in log.case_starts.windows(2) {
            let range = case[0] as usize..case[1] as usize;
            let variant = *index
                .entry(&view.per_event[range.clone()])
                .or_insert_with(|| {
                    ranges.push(range);
                    counts.push(0);
                    (ranges.len() - 1) as u32
                });
            counts[variant as usize] += 1;
            case_variant.push(variant);
        }
        drop(index);
        let names = &view.names;
        // Ties compare name by name. Ranking the names once and rewriting the activity column
        // as ranks turns each comparison into comparing two `u32` slices.
        let mut by_name: Vec<usize> = (0..names.len()).collect();
        by_name.sort_by(|&a, &b| names[a].cmp(&names[b]));
        let mut name_rank = vec![0u32; names.len()];
        for (rank, &activity) in by_name.iter().enumerate() {
            name_rank[activity] = rank as u32;
        }
        // Sorting half a million variants by comparing their sequences in the activity column
        // is a cache miss per comparison. So each variant gets a sort key in place: its count
        // and its first name ranks packed into a u64 (rank + 1, 0 after the end, so a prefix
        // sorts first); only keys that tie go back to the full sequences.
        let bits = u64::BITS - (names.len() as u64 + 1).leading_zeros();
        let packed = (64 / bits.max(1)) as usize;
        let prefix_key = |range: &std::ops::Range<usize>| -> u64 {
            let mut key = 0u64;
            for position in 0..packed {
                let symbol = view.per_event[range.clone()]
                    .get(position)
                    .map_or(0, |&id| u64::from(name_rank[id as usize]) + 1);
                key = (key << bits) | symbol;
            }
            key
        };
        let mut keyed: Vec<(std::cmp::Reverse<u64>, u64, u32)> = ranges
            .iter()
            .enumerate()
            .map(|(variant, range)| {
                (
                    std::cmp::Reverse(counts[variant]),
                    prefix_key(range),
                    variant as u32,
                )
            })
            .collect();
        let ranked = |variant: u32| {
            view.per_event[ranges[variant as usize].clone()]
                .iter()
                .map(|&id| name_rank[id as usize])
        };
        keyed.sort_unstable_by(|a, b| {
            (a.0, a.1)
                .cmp(&(b.0, b.1))
                .then_with(|| ranked(a.2).cmp(ranked(b.2)))
        });
        let order: Vec<usize> = keyed
            .iter()
            .map(|&(_, _, variant)| variant as usize)
            .collect();
        let mut rank = vec![0u32; order.len()];
        for (position, &variant) in order.iter().enumerate() {
            rank[variant] = position as u32;
        }
        let cases = log.case_count().max(1) as f64;
        Variants {
            activity_names: names.clone(),
            variants: order
                .iter()
                .map(|&variant| Variant {
                    activities: view.per_event[ranges[variant].clone()].to_vec(),
                    count: counts[variant],
                    share: counts[variant] as f64 / cases,
                })
                .collect(),
            case_variant: case_variant.iter().map(|&v| rank[v as usize]).collect(),
        }
    }

    /// The names of a variant's activities.
    pub fn names_of(&self, variant: &Variant) -> Vec<&str> {
        variant
            .activities
            .iter()
            .map(|&id| self.activity_names[id as usize].as_str())
            .collect()
    }
}
