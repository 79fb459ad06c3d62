//! A survey table read from CSV text: named columns of numbers, some of them missing.
//!
//! The caller reads the file; this module only parses text, so the crate stays free of I/O.
//! Cells are kept as text and parsed when a column is asked for, so a table may carry columns
//! that are not numbers (a respondent id, a segment) as long as no analysis uses them.

use crate::StatsError;

/// Cell texts (compared case-insensitively, after trimming) that mean "no answer".
pub const MISSING_MARKERS: [&str; 6] = ["", "na", "n/a", "nan", "null", "none"];

/// A table of named columns, as read from CSV with a header row.
#[derive(Debug, Clone)]
pub struct Table {
    headers: Vec<String>,
    /// Row-major cell texts.
    rows: Vec<Vec<String>>,
}

impl Table {
    /// Parses CSV text whose first line names the columns. Rows must have as many cells as the
    /// header; header names must be unique.
    pub fn from_csv(text: &str) -> Result<Table, StatsError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .trim(csv::Trim::All)
            .from_reader(text.as_bytes());
        let headers: Vec<String> = reader
            .headers()
            .map_err(|e| StatsError::Csv(format!("cannot read the CSV header: {e}")))?
            .iter()
            .map(str::to_string)
            .collect();
        for (i, name) in headers.iter().enumerate() {
            if headers[..i].contains(name) {
                return Err(StatsError::Csv(format!(
                    "the CSV header names column `{name}` twice"
                )));
            }
        }
        let mut rows = Vec::new();
        for record in reader.records() {
            let record =
                record.map_err(|e| StatsError::Csv(format!("cannot read the CSV: {e}")))?;
            rows.push(record.iter().map(str::to_string).collect());
        }
        Ok(Table { headers, rows })
    }

    /// The column names, in file order.
    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    /// The number of data rows.
    pub fn row_count(&self) -> usize {
        self.rows.len()
    }

    /// The numbers of column `name`, `None` where the cell is missing (see [`MISSING_MARKERS`]).
    /// Fails, naming the line, on a cell that is neither a number nor a missing marker.
    pub fn numeric_column(&self, name: &str) -> Result<Vec<Option<f64>>, StatsError> {
        let index = self.headers.iter().position(|h| h == name).ok_or_else(|| {
            StatsError::InvalidInput(format!(
                "the CSV has no column `{name}`; its columns are: {}",
                self.headers.join(", ")
            ))
        })?;
        self.rows
            .iter()
            .enumerate()
            .map(|(row, cells)| {
                let cell = cells.get(index).map(String::as_str).unwrap_or("");
                parse_cell(cell).map_err(|()| {
                    StatsError::Csv(format!(
                        "line {} of the CSV, column `{name}`: `{cell}` is not a number (leave the \
                         cell empty or write NA for a missing answer)",
                        row + 2
                    ))
                })
            })
            .collect()
    }
}

fn parse_cell(cell: &str) -> Result<Option<f64>, ()> {
    let trimmed = cell.trim();
    if MISSING_MARKERS
        .iter()
        .any(|marker| trimmed.eq_ignore_ascii_case(marker))
    {
        return Ok(None);
    }
    match trimmed.parse::<f64>() {
        Ok(value) if value.is_finite() => Ok(Some(value)),
        _ => Err(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn empty_cells_and_na_are_missing_and_text_is_an_error_naming_the_line() {
        let table = Table::from_csv("id,a,b\nr1,1,\nr2,NA,2.5\nr3,x,3\n").unwrap();
        assert_eq!(table.row_count(), 3);
        assert_eq!(
            table.numeric_column("b").unwrap(),
            vec![None, Some(2.5), Some(3.0)]
        );
        let err = table.numeric_column("a").unwrap_err().to_string();
        assert!(err.contains("line 4") && err.contains("`x`"), "{err}");
        let err = table.numeric_column("c").unwrap_err().to_string();
        assert!(
            err.contains("no column `c`") && err.contains("id, a, b"),
            "{err}"
        );
    }

    #[test]
    fn a_header_naming_a_column_twice_is_refused() {
        assert!(Table::from_csv("a,a\n1,2\n").is_err());
    }
}
