//! The roll-up fold's own speed (no database): events folded per second, median of 5 runs.
//! `cargo bench -p kpi --bench fold [-- EVENTS]`

use std::time::Instant;

use kpi::{apply_boxed, FactsMap, FoldEvent, FoldPayload, Rollup};

fn main() {
    let events: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let stream = kpi::synthetic::events(events, 1_767_225_600_000);
    let mut rates = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let mut facts = FactsMap::default();
        let mut rollup = Rollup::default();
        for (conversation, at, actor_kind, actor_id, payload) in &stream {
            let Some(payload) = FoldPayload::of(payload) else {
                continue;
            };
            let state = facts.entry(*conversation).or_default();
            apply_boxed(
                state,
                FoldEvent {
                    at: *at,
                    actor_kind,
                    actor_id: *actor_id,
                    payload,
                },
                None,
                &mut rollup,
            );
        }
        let seconds = started.elapsed().as_secs_f64();
        rates.push(stream.len() as f64 / seconds);
        std::hint::black_box(rollup.len());
    }
    rates.sort_by(f64::total_cmp);
    println!(
        "kpi fold: {} events, median {:.0} events/s (min {:.0}, max {:.0}) over 5 runs",
        stream.len(),
        rates[2],
        rates[0],
        rates[4]
    );
}
