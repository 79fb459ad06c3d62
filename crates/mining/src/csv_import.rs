//! CSV import with a column mapping: one row per event, any row order.

use std::io::Read;
use std::path::Path;

use crate::error::MiningError;
use crate::log::{AttributeKind, EventFields, EventLog, FastMap, LogBuilder, NONE};
use crate::time::parse_timestamp_millis;

/// Which CSV columns hold the standard fields. Every other column becomes a string attribute.
#[derive(Debug, Clone, Default)]
pub struct CsvMapping {
    /// The case identifier column.
    pub case: String,
    /// The activity column.
    pub activity: String,
    /// The timestamp column (ISO 8601; without an offset it is read as UTC).
    pub timestamp: String,
    /// The resource (agent) column, if any.
    pub resource: Option<String>,
    /// The group (team) column, if any.
    pub group: Option<String>,
    /// The lifecycle transition column, if any.
    pub lifecycle: Option<String>,
    /// The field delimiter (`,` when `None`).
    pub delimiter: Option<u8>,
}

/// Reads a CSV file with a header row.
pub fn read_csv_file(path: &Path, mapping: &CsvMapping) -> Result<EventLog, MiningError> {
    let file = std::fs::File::open(path).map_err(|source| MiningError::File {
        path: path.display().to_string(),
        source,
    })?;
    read_csv(std::io::BufReader::with_capacity(1 << 20, file), mapping)
}

/// Reads CSV from a stream. Cases keep the order of their first row; the events of a case are
/// sorted by timestamp, rows with equal times in file order.
pub fn read_csv(input: impl Read, mapping: &CsvMapping) -> Result<EventLog, MiningError> {
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(mapping.delimiter.unwrap_or(b','))
        .flexible(false)
        .from_reader(input);
    let headers = reader
        .headers()
        .map_err(|error| MiningError::Csv(error.to_string()))?
        .clone();
    let find = |name: &str| {
        headers
            .iter()
            .position(|header| header == name)
            .ok_or_else(|| {
                MiningError::Csv(format!(
                    "there is no column {name:?}; the columns are {}",
                    headers.iter().collect::<Vec<_>>().join(", ")
                ))
            })
    };
    let case_column = find(&mapping.case)?;
    let activity_column = find(&mapping.activity)?;
    let timestamp_column = find(&mapping.timestamp)?;
    let optional = |name: &Option<String>| name.as_deref().map(find).transpose();
    let resource_column = optional(&mapping.resource)?;
    let group_column = optional(&mapping.group)?;
    let lifecycle_column = optional(&mapping.lifecycle)?;
    let mapped = [
        Some(case_column),
        Some(activity_column),
        Some(timestamp_column),
        resource_column,
        group_column,
        lifecycle_column,
    ];
    let extra_columns: Vec<usize> = (0..headers.len())
        .filter(|column| !mapped.contains(&Some(*column)))
        .collect();

    let mut builder = LogBuilder::new();
    let extra_keys: Vec<u32> = extra_columns
        .iter()
        .map(|&column| builder.intern(&headers[column]))
        .collect();
    // Rows are kept as ids until every row is read, because a case's rows may be scattered.
    let mut case_of_name: FastMap<u32, usize> = FastMap::default();
    let mut case_names: Vec<u32> = Vec::new();
    let mut rows_of_case: Vec<Vec<usize>> = Vec::new();
    let mut events: Vec<EventFields> = Vec::new();
    let mut extras: Vec<u32> = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(error) => return Err(MiningError::Csv(error.to_string())),
        }
        let line = record.position().map_or(0, |position| position.line());
        let field = |column: usize| record.get(column).unwrap_or("");
        let case_name = builder.intern(field(case_column));
        let case = *case_of_name.entry(case_name).or_insert_with(|| {
            case_names.push(case_name);
            rows_of_case.push(Vec::new());
            case_names.len() - 1
        });
        let raw_time = field(timestamp_column);
        let timestamp = parse_timestamp_millis(raw_time).ok_or_else(|| {
            MiningError::Csv(format!(
                "line {line}: {raw_time:?} in column {:?} is not a date and time (use ISO 8601, like 2024-05-01T09:30:00Z)",
                mapping.timestamp
            ))
        })?;
        let mut optional_id = |column: Option<usize>| match column {
            Some(column) if !field(column).is_empty() => builder.intern(field(column)),
            _ => NONE,
        };
        let resource = optional_id(resource_column);
        let group = optional_id(group_column);
        let lifecycle = optional_id(lifecycle_column);
        let activity = builder.intern_activity(field(activity_column));
        rows_of_case[case].push(events.len());
        events.push(EventFields {
            activity,
            lifecycle,
            timestamp,
            resource,
            group,
        });
        for &column in &extra_columns {
            let value = field(column);
            extras.push(if value.is_empty() {
                NONE
            } else {
                builder.intern(value)
            });
        }
    }
    for (case, rows) in rows_of_case.iter().enumerate() {
        builder.start_case();
        builder.set_case_name(case_names[case]);
        for &row in rows {
            let index = builder.push_event(events[row]);
            for (position, &key) in extra_keys.iter().enumerate() {
                let value = extras[row * extra_keys.len() + position];
                if value != NONE {
                    builder.set_event_attribute(index, key, AttributeKind::String, value);
                }
            }
        }
        builder.end_case();
    }
    Ok(builder.finish())
}
