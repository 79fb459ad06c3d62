//! `rapport mine`: process mining on an event log file (.xes, .xes.gz, .csv), JSON on stdout.
//! All the work is in the `mining` crate; this file only parses arguments and prints.
//! (`FILE = -`, the live database, is wired by the binary, not here.)

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use std::borrow::Cow;

use mining::filter::{time_window, variant_coverage, TimeWindowMode};
use mining::report::{variants_report, DfgReport, PatternsReport};
use mining::svg::{process_map_svg, EdgeLabel, MapOptions};
use mining::{
    parse_timestamp_millis, read_log_file, Classifier, CsvMapping, Dfg, EventLog, OrgDimension,
    Variants,
};

/// Process mining commands.
#[derive(Subcommand)]
pub enum MineCommand {
    /// Directly-follows graph: {"edges":[{"from","to","count","median_seconds"}],"start":{..},"end":{..}}.
    Dfg {
        #[command(flatten)]
        source: LogSource,
        #[command(flatten)]
        filters: LogFilters,
        /// How an activity is named: `name` (concept:name) or `name+lifecycle`.
        #[arg(long, default_value = "name")]
        classifier: Classifier,
    },
    /// Variants, most frequent first: [{"activities":[..],"count"}].
    Variants {
        #[command(flatten)]
        source: LogSource,
        #[command(flatten)]
        filters: LogFilters,
        /// How an activity is named: `name` (concept:name) or `name+lifecycle`.
        #[arg(long, default_value = "name")]
        classifier: Classifier,
    },
    /// Rework, ping-pong, bottlenecks and handovers:
    /// {"rework":[..],"ping_pong":[..],"bottlenecks":[..],"handovers":[..]}.
    Patterns {
        #[command(flatten)]
        source: LogSource,
        #[command(flatten)]
        filters: LogFilters,
        /// Ping-pong and handovers between `group`s (org:group) or `agent`s (org:resource).
        #[arg(long, default_value = "agent", value_parser = ["group", "agent"])]
        by: String,
        /// How many bottleneck edges (largest total waiting time first).
        #[arg(long, default_value_t = 20)]
        top: usize,
        /// How an activity is named: `name` (concept:name) or `name+lifecycle`.
        #[arg(long, default_value = "name")]
        classifier: Classifier,
    },
    /// Draws the process map as an SVG picture.
    Map {
        #[command(flatten)]
        source: LogSource,
        #[command(flatten)]
        filters: LogFilters,
        /// Where to write the SVG.
        #[arg(long)]
        svg: PathBuf,
        /// Share of activities shown, most frequent first (0..1).
        #[arg(long, default_value_t = 1.0)]
        activities: f64,
        /// Share of edges shown, most frequent first (0..1).
        #[arg(long, default_value_t = 1.0)]
        edges: f64,
        /// Label edges with the median waiting time instead of the count.
        #[arg(long)]
        wait_labels: bool,
        /// How an activity is named: `name` (concept:name) or `name+lifecycle`.
        #[arg(long, default_value = "name")]
        classifier: Classifier,
    },
}

/// The event log to read, and for CSV which columns hold what.
#[derive(Args)]
pub struct LogSource {
    /// The event log: .xes, .xes.gz or .csv.
    pub file: PathBuf,
    /// CSV: the case id column.
    #[arg(long)]
    pub case: Option<String>,
    /// CSV: the activity column.
    #[arg(long)]
    pub activity: Option<String>,
    /// CSV: the timestamp column (ISO 8601).
    #[arg(long)]
    pub timestamp: Option<String>,
    /// CSV: the resource (agent) column.
    #[arg(long)]
    pub resource: Option<String>,
}

/// Which cases to keep before the command's work (all, when no flag is given).
#[derive(Args)]
pub struct LogFilters {
    /// Keep cases with an event at or after this instant (RFC 3339, e.g. 2024-01-01T00:00:00Z).
    #[arg(long)]
    pub from: Option<String>,
    /// Keep cases with an event before this instant (RFC 3339).
    #[arg(long)]
    pub to: Option<String>,
    /// Keep the most frequent variants that cover this share of the cases (0..1).
    #[arg(long)]
    pub coverage: Option<f64>,
}

impl LogFilters {
    /// The log narrowed by the flags: first the time window (cases intersecting it), then the
    /// variant coverage (variants under `classifier`).
    pub fn apply<'log>(
        &self,
        log: &'log EventLog,
        classifier: Classifier,
    ) -> anyhow::Result<Cow<'log, EventLog>> {
        let instant = |text: &Option<String>, flag: &str| -> anyhow::Result<Option<i64>> {
            text.as_deref()
                .map(|t| {
                    parse_timestamp_millis(t).with_context(|| {
                        format!("--{flag} must be an RFC 3339 instant such as 2024-01-01T00:00:00Z, got {t:?}")
                    })
                })
                .transpose()
        };
        let (from, to) = (instant(&self.from, "from")?, instant(&self.to, "to")?);
        if let (Some(from), Some(to)) = (from, to) {
            anyhow::ensure!(from < to, "--from must be before --to");
        }
        let mut kept = Cow::Borrowed(log);
        if from.is_some() || to.is_some() {
            kept = Cow::Owned(time_window(
                &kept,
                from.unwrap_or(i64::MIN),
                to.unwrap_or(i64::MAX),
                TimeWindowMode::CasesIntersecting,
            ));
        }
        if let Some(coverage) = self.coverage {
            anyhow::ensure!(
                (0.0..=1.0).contains(&coverage),
                "--coverage is a share of the cases from 0 to 1, got {coverage}"
            );
            let variants = Variants::discover(&kept, &kept.classify(classifier));
            kept = Cow::Owned(variant_coverage(&kept, &variants, coverage));
        }
        Ok(kept)
    }
}

impl LogSource {
    /// Reads the file (XES, gzipped XES, or CSV with the column flags).
    pub fn read(&self) -> anyhow::Result<EventLog> {
        let mapping = match (&self.case, &self.activity, &self.timestamp) {
            (Some(case), Some(activity), Some(timestamp)) => Some(CsvMapping {
                case: case.clone(),
                activity: activity.clone(),
                timestamp: timestamp.clone(),
                resource: self.resource.clone(),
                ..CsvMapping::default()
            }),
            _ => None,
        };
        read_log_file(&self.file, mapping.as_ref())
            .with_context(|| format!("reading the event log {}", self.file.display()))
    }
}

impl MineCommand {
    /// Where the command reads its log (so the binary can serve `-` from the database).
    pub fn source(&self) -> &LogSource {
        match self {
            MineCommand::Dfg { source, .. }
            | MineCommand::Variants { source, .. }
            | MineCommand::Patterns { source, .. }
            | MineCommand::Map { source, .. } => source,
        }
    }
}

/// Runs a `rapport mine` command on the file it names and prints its answer on stdout.
pub fn run(command: MineCommand) -> anyhow::Result<()> {
    let log = command.source().read()?;
    run_on_log(command, &log)
}

/// Runs a `rapport mine` command on a log already in memory (the database source builds one
/// with `mining::LogBuilder`) and prints its answer on stdout.
pub fn run_on_log(command: MineCommand, log: &EventLog) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match command {
        MineCommand::Dfg {
            classifier,
            filters,
            ..
        } => {
            let log = filters.apply(log, classifier)?;
            let dfg = Dfg::discover(&log, &log.classify(classifier));
            serde_json::to_writer(&mut stdout, &DfgReport::new(&dfg))?;
        }
        MineCommand::Variants {
            classifier,
            filters,
            ..
        } => {
            let log = filters.apply(log, classifier)?;
            let variants = Variants::discover(&log, &log.classify(classifier));
            serde_json::to_writer(&mut stdout, &variants_report(&variants))?;
        }
        MineCommand::Patterns {
            classifier,
            filters,
            by,
            top,
            ..
        } => {
            let log = filters.apply(log, classifier)?;
            let dimension = if by == "group" {
                OrgDimension::Group
            } else {
                OrgDimension::Resource
            };
            let report = PatternsReport::new(&log, &log.classify(classifier), dimension, top);
            serde_json::to_writer(&mut stdout, &report)?;
        }
        MineCommand::Map {
            svg,
            activities,
            edges,
            wait_labels,
            classifier,
            filters,
            ..
        } => {
            let log = filters.apply(log, classifier)?;
            let options = MapOptions {
                activities,
                edges,
                label: if wait_labels {
                    EdgeLabel::MedianWait
                } else {
                    EdgeLabel::Count
                },
                classifier,
            };
            std::fs::write(&svg, process_map_svg(&log, &options))
                .with_context(|| format!("writing {}", svg.display()))?;
            serde_json::to_writer(&mut stdout, &serde_json::json!({ "svg": svg }))?;
        }
    }
    writeln!(stdout)?;
    Ok(())
}
