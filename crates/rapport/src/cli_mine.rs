//! `rapport mine`: process mining on an event log file (.xes, .xes.gz, .csv), JSON on stdout.
//! All the work is in the `mining` crate; this file only parses arguments and prints.
//! (`FILE = -`, the live database, is wired by the binary, not here.)

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use mining::report::{variants_report, DfgReport};
use mining::svg::{process_map_svg, EdgeLabel, MapOptions};
use mining::{read_log_file, Classifier, CsvMapping, Dfg, EventLog, Variants};

/// Process mining commands.
#[derive(Subcommand)]
pub enum MineCommand {
    /// Directly-follows graph: {"edges":[{"from","to","count","median_seconds"}],"start":{..},"end":{..}}.
    Dfg {
        #[command(flatten)]
        source: LogSource,
        /// How an activity is named: `name` (concept:name) or `name+lifecycle`.
        #[arg(long, default_value = "name")]
        classifier: Classifier,
    },
    /// Variants, most frequent first: [{"activities":[..],"count"}].
    Variants {
        #[command(flatten)]
        source: LogSource,
        /// How an activity is named: `name` (concept:name) or `name+lifecycle`.
        #[arg(long, default_value = "name")]
        classifier: Classifier,
    },
    /// Draws the process map as an SVG picture.
    Map {
        #[command(flatten)]
        source: LogSource,
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
        MineCommand::Dfg { classifier, .. } => {
            let dfg = Dfg::discover(log, &log.classify(classifier));
            serde_json::to_writer(&mut stdout, &DfgReport::new(&dfg))?;
        }
        MineCommand::Variants { classifier, .. } => {
            let variants = Variants::discover(log, &log.classify(classifier));
            serde_json::to_writer(&mut stdout, &variants_report(&variants))?;
        }
        MineCommand::Map {
            svg,
            activities,
            edges,
            wait_labels,
            classifier,
            ..
        } => {
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
            std::fs::write(&svg, process_map_svg(log, &options))
                .with_context(|| format!("writing {}", svg.display()))?;
            serde_json::to_writer(&mut stdout, &serde_json::json!({ "svg": svg }))?;
        }
    }
    writeln!(stdout)?;
    Ok(())
}
