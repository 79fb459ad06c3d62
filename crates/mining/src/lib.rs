//! Process mining over event logs, pure: no network, no clock, no database.
//!
//! "How is the process map built?" An [`EventLog`] (cases of events, stored by column) comes
//! from XES ([`read_xes`], streaming, `.xes.gz` decompressed on a second thread) or CSV
//! ([`read_csv`] with a [`CsvMapping`]). [`EventLog::classify`] names each event's activity
//! ([`Classifier`]); [`Dfg::discover`] counts directly-follows edges with waiting times and start
//! and end activities; [`Variants::discover`] groups cases by their activity sequence. Filters
//! ([`filter`]) narrow the log; [`patterns`] finds rework, ping-pong, bottlenecks and
//! handovers, and [`cases`] the cases behind each of them; [`svg::render_process_map`] draws
//! the map. The counts equal pm4py's (`tests/pm4py_reference.rs`).
//!
//! Reading files happens only in [`read_xes_file`] and [`read_csv_file`]: parsing is this
//! crate's job. Everything else takes the log as a value.

pub mod cases;
mod csv_import;
mod dfg;
mod error;
pub mod filter;
mod log;
pub mod patterns;
pub mod report;
pub mod svg;
mod time;
mod variants;
mod xes;

pub use csv_import::{read_csv, read_csv_file, CsvMapping};
pub use dfg::{Dfg, Edge, WaitStats};
pub use error::MiningError;
pub use log::{
    ActivityView, AttributeColumn, AttributeKind, Classifier, EventFields, EventLog, Interner,
    LogBuilder, OrgDimension, NONE, NO_TIME,
};
pub use time::{format_timestamp_millis, parse_timestamp_millis};
pub use variants::{Variant, Variants};
pub use xes::{read_xes, read_xes_file, read_xes_gz, write_xes};

/// Reads an event log from a path: `.csv` with a mapping, anything else as XES (gzip or not).
pub fn read_log_file(
    path: &std::path::Path,
    csv_mapping: Option<&CsvMapping>,
) -> Result<EventLog, MiningError> {
    let is_csv = path
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("csv"));
    match (is_csv, csv_mapping) {
        (true, Some(mapping)) => read_csv_file(path, mapping),
        (true, None) => Err(MiningError::Csv(format!(
            "{} is a CSV file: say which columns hold the case, the activity and the timestamp (--case, --activity, --timestamp)",
            path.display()
        ))),
        (false, _) => read_xes_file(path),
    }
}
