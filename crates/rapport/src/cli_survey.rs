//! `rapport survey …`: surveys from the command line. The logic lives in `app`
//! (`crates/app/src/surveys.rs`); this file only wires and writes.

use std::path::PathBuf;

use anyhow::Context;
use domain::Principal;

/// Surveys and priorities research.
#[derive(clap::Subcommand)]
pub enum SurveyCommand {
    /// Priorities research (importance and performance of service attributes).
    Priorities {
        #[command(subcommand)]
        command: PrioritiesCommand,
    },
}

#[derive(clap::Subcommand)]
pub enum PrioritiesCommand {
    /// Writes every research response as CSV, one respondent per row: respondent_id,
    /// importance_<attribute> and performance_<attribute> for each rated attribute, and
    /// overall_satisfaction — the input of `rapport analyze ipa` and `rapport analyze
    /// key-drivers --outcome overall_satisfaction`.
    Export {
        #[command(flatten)]
        db: crate::DbArgs,
        /// The file to write (`-` for stdout).
        #[arg(long)]
        csv: PathBuf,
    },
}

pub async fn run(config: Option<PathBuf>, command: SurveyCommand) -> anyhow::Result<()> {
    match command {
        SurveyCommand::Priorities {
            command: PrioritiesCommand::Export { db, csv },
        } => {
            let config = crate::load(config, db, None)?;
            let store = config.open_store().await?;
            let app = app::App::new(store.clone(), config.settings());
            let text = app.research_csv(&Principal::System).await;
            store.close().await;
            let text = text.context("reading the research responses failed")?;
            let respondents = text.lines().count().saturating_sub(1);
            if csv.as_os_str() == "-" {
                use std::io::Write;
                std::io::stdout()
                    .lock()
                    .write_all(text.as_bytes())
                    .context("cannot write the CSV to stdout")?;
            } else {
                std::fs::write(&csv, text)
                    .with_context(|| format!("cannot write {}", csv.display()))?;
                eprintln!("wrote {respondents} responses to {}", csv.display());
            }
            Ok(())
        }
    }
}
