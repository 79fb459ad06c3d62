//! Speed of import + directly-follows graph + variants (`cargo bench -p mining`, harness-less).
//!
//! `cargo bench -p mining --bench mining -- --xes FILE [--runs N]` times a real log and prints
//! one JSON line; `-- --synthetic EVENTS [--runs N]` times DFG + variants on a generated log and
//! reports the peak resident memory. With no arguments it does both (BPIC 2013 when present,
//! and 10,000,000 generated events).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::time::Instant;

use mining::{read_log_file, Classifier, Dfg, EventFields, EventLog, LogBuilder, Variants, NONE};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let runs: usize = value("--runs").map_or(5, |v| v.parse().unwrap());
    let xes = value("--xes");
    let synthetic = value("--synthetic");
    if let Some(path) = value("--split") {
        split_import(&path);
        return;
    }
    if xes.is_none() && synthetic.is_none() {
        let bpic = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/eventlogs/bpic2013/bpi_challenge_2013_incidents.xes.gz"
        );
        if Path::new(bpic).exists() {
            bench_file(bpic, runs);
        } else {
            eprintln!("skipped: {bpic} not found");
        }
        bench_synthetic(10_000_000, 3);
        return;
    }
    if let Some(path) = xes {
        bench_file(&path, runs);
    }
    if let Some(events) = synthetic {
        bench_synthetic(events.parse().unwrap(), runs);
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn bench_file(path: &str, runs: usize) {
    let mut totals = Vec::new();
    let mut imports = Vec::new();
    let mut cpu = Vec::new();
    let mut shape = (0, 0, 0, 0);
    for _ in 0..runs {
        let cpu_before = cpu_seconds();
        let started = Instant::now();
        let log = read_log_file(Path::new(path), None).unwrap();
        let imported = started.elapsed().as_secs_f64();
        let view = log.classify(Classifier::Name);
        let dfg = Dfg::discover(&log, &view);
        let variants = Variants::discover(&log, &view);
        totals.push(started.elapsed().as_secs_f64());
        cpu.push(cpu_seconds() - cpu_before);
        imports.push(imported);
        shape = (
            log.case_count(),
            log.event_count(),
            dfg.edges.len(),
            variants.variants.len(),
        );
    }
    println!(
        "{{\"bench\":\"import+dfg+variants\",\"file\":{path:?},\"cases\":{},\"events\":{},\"edges\":{},\"variants\":{},\"runs_s\":{totals:?},\"median_s\":{:.4},\"import_median_s\":{:.4},\"cpu_median_s\":{:.3}}}",
        shape.0, shape.1, shape.2, shape.3, median(totals.clone()), median(imports), median(cpu)
    );
}

/// A deterministic ticket process: 24 activities on a Markov chain, 200 agents in 20 groups,
/// about 10 events per case.
fn generate(events: usize) -> EventLog {
    let mut state: u64 = 0x2026_1126;
    let mut next = move || {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) as u32
    };
    let mut builder = LogBuilder::with_capacity(events);
    let activities: Vec<u32> = (0..24)
        .map(|i| builder.intern_activity(&format!("Activity {i:02}")))
        .collect();
    let agents: Vec<u32> = (0..200)
        .map(|i| builder.intern(&format!("agent {i}")))
        .collect();
    let groups: Vec<u32> = (0..20)
        .map(|i| builder.intern(&format!("group {i}")))
        .collect();
    let complete = builder.intern("complete");
    let mut produced = 0;
    let mut case_number = 0u64;
    let mut time = 1_700_000_000_000i64;
    while produced < events {
        builder.start_case();
        let name = builder.intern(&format!("case {case_number}"));
        builder.set_case_name(name);
        case_number += 1;
        let mut activity = next() as usize % 3;
        let mut case_time = time;
        time += 30_000;
        loop {
            let agent = next() as usize % agents.len();
            builder.push_event(EventFields {
                activity: activities[activity],
                lifecycle: complete,
                timestamp: case_time,
                resource: agents[agent],
                group: groups[agent % groups.len()],
            });
            produced += 1;
            case_time += i64::from(next() % 86_400) * 1000;
            let roll = next() % 100;
            if roll < 10 || produced >= events {
                break;
            }
            activity = if roll < 70 {
                (activity + 1 + next() as usize % 2) % activities.len()
            } else {
                next() as usize % activities.len()
            };
        }
        builder.end_case();
    }
    builder.finish()
}

/// CPU seconds used by this process so far (user + system), from /proc: under load from other
/// processes wall time says little, CPU time stays comparable.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    // Fields after the command name (which is in parentheses and may contain spaces).
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |index: usize| {
        fields
            .get(index)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name; 100 Hz.
    (ticks(11) + ticks(12)) / 100.0
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

fn bench_synthetic(events: usize, runs: usize) {
    let started = Instant::now();
    let log = generate(events);
    let generated = started.elapsed().as_secs_f64();
    let mut totals = Vec::new();
    let mut cpu = Vec::new();
    let mut shape = (0, 0);
    for _ in 0..runs {
        let cpu_before = cpu_seconds();
        let started = Instant::now();
        let view = log.classify(Classifier::Name);
        let dfg = Dfg::discover(&log, &view);
        let variants = Variants::discover(&log, &view);
        totals.push(started.elapsed().as_secs_f64());
        cpu.push(cpu_seconds() - cpu_before);
        shape = (dfg.edges.len(), variants.variants.len());
        assert!(dfg.edges.iter().all(|edge| edge.from != NONE));
    }
    println!(
        "{{\"bench\":\"synthetic dfg+variants\",\"events\":{},\"cases\":{},\"edges\":{},\"variants\":{},\"generate_s\":{generated:.3},\"runs_s\":{totals:?},\"median_s\":{:.4},\"cpu_median_s\":{:.3},\"peak_rss_mib\":{:.0}}}",
        log.event_count(), log.case_count(), shape.0, shape.1, median(totals.clone()), median(cpu), peak_rss_mib().unwrap_or(f64::NAN)
    );
}

/// Where import time goes: decompression alone, then parsing from memory.
fn split_import(path: &str) {
    use std::io::Read;
    for _ in 0..3 {
        let started = Instant::now();
        let mut xml = Vec::new();
        flate2::read::MultiGzDecoder::new(std::fs::File::open(path).unwrap())
            .read_to_end(&mut xml)
            .unwrap();
        let decompressed = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let log = mining::read_xes(&xml[..]).unwrap();
        let parsed = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let view = log.classify(Classifier::Name);
        let _dfg = Dfg::discover(&log, &view);
        let dfg_s = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let _variants = Variants::discover(&log, &view);
        println!(
            "decompress {decompressed:.4} parse {parsed:.4} dfg {dfg_s:.4} variants {:.4}",
            started.elapsed().as_secs_f64()
        );
    }
}
