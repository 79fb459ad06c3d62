//! `rapport analyze`: customer-priority analyses for analysts, JSON on stdout.
//!
//! All the statistics live in the `stats` crate (`key_drivers`, `ipa`), where they are tested
//! against statsmodels and scipy; this file only reads the CSV file and prints the report. The
//! JSON field names are a contract relied on by outside scripts: fields may be added, never
//! renamed.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use stats::table::Table;

/// The analyses of customer priorities.
#[derive(Subcommand)]
pub enum AnalyzeCommand {
    /// Key-driver analysis: regresses an overall rating on attribute ratings (OLS with an
    /// intercept; rows missing any of the columns are dropped) and ranks what matters most.
    KeyDrivers {
        /// A CSV file with a header row, one respondent per row.
        #[arg(long)]
        csv: PathBuf,
        /// The column to explain, e.g. overall_satisfaction.
        #[arg(long)]
        outcome: String,
        /// The explaining columns, separated by commas.
        #[arg(long, value_delimiter = ',', required = true)]
        drivers: Vec<String>,
    },
    /// Importance–performance analysis of the columns importance_<attribute> and
    /// performance_<attribute>: means with 95% intervals and the quadrant of each attribute.
    Ipa {
        /// A CSV file with a header row, one respondent per row.
        #[arg(long)]
        csv: PathBuf,
    },
}

/// Runs the analysis and prints its JSON report on stdout.
pub fn run(cmd: AnalyzeCommand) -> anyhow::Result<()> {
    let json = match cmd {
        AnalyzeCommand::KeyDrivers {
            csv,
            outcome,
            drivers,
        } => {
            let table = read_table(&csv)?;
            let drivers: Vec<String> = drivers.iter().map(|d| d.trim().to_string()).collect();
            let report = stats::key_drivers::analyze_key_drivers(&table, outcome.trim(), &drivers)
                .with_context(|| format!("key-driver analysis of {}", csv.display()))?;
            serde_json::to_string_pretty(&report)?
        }
        AnalyzeCommand::Ipa { csv } => {
            let table = read_table(&csv)?;
            let report = stats::ipa::importance_performance(&table)
                .with_context(|| format!("importance-performance analysis of {}", csv.display()))?;
            serde_json::to_string_pretty(&report)?
        }
    };
    // Not `println!`: a closed pipe (`… | head`) is an error to report, not a panic.
    writeln!(std::io::stdout().lock(), "{json}").context("cannot write the report to stdout")?;
    Ok(())
}

fn read_table(path: &Path) -> anyhow::Result<Table> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the CSV file {}", path.display()))?;
    Table::from_csv(&text).with_context(|| format!("cannot read {} as a table", path.display()))
}
