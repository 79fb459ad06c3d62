//! Published satisfaction figures of other sectors (ACSI, UKCSI, NCSI-UK, …), read from CSV so
//! that administrators can import their own sets. They are shown beside the team's figures and
//! always marked as a different index: a 0–100 index score is not a CSAT percentage.

use serde::Serialize;

/// One published figure with its source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Benchmark {
    /// The index, e.g. `ACSI`.
    pub index: String,
    pub country: String,
    pub period: String,
    /// `national`, `sector`, `industry`, `company`, …
    pub level: String,
    /// What was measured, e.g. `Information sector`.
    pub entity: String,
    /// The score on the index's 0–100 scale.
    pub score: f64,
    pub source_url: String,
    pub source_kind: String,
    pub note: String,
}

/// Reads a benchmark CSV with a header row. Required columns: `index`, `entity`, `score_0_100`
/// (or `score`), `source_url`; optional: `country`, `period`, `level`, `source_kind`, `note`.
/// Every row needs a score between 0 and 100 and a source; an error names the line.
pub fn parse_csv(text: &str) -> Result<Vec<Benchmark>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| format!("the header row does not parse: {e}"))?
        .clone();
    let column = |names: &[&str]| headers.iter().position(|h| names.contains(&h.trim()));
    let (Some(index), Some(entity), Some(score), Some(source)) = (
        column(&["index"]),
        column(&["entity"]),
        column(&["score_0_100", "score"]),
        column(&["source_url"]),
    ) else {
        return Err(
            "the header must name index, entity, score_0_100 (or score) and source_url".into(),
        );
    };
    let optional = |name: &str| column(&[name]);
    let (country, period, level, kind, note) = (
        optional("country"),
        optional("period"),
        optional("level"),
        optional("source_kind"),
        optional("note"),
    );
    let mut out = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.map_err(|e| format!("line {line}: {e}"))?;
        let get = |at: Option<usize>| {
            at.and_then(|a| record.get(a))
                .unwrap_or("")
                .trim()
                .to_string()
        };
        let value: f64 = get(Some(score)).parse().map_err(|_| {
            format!(
                "line {line}: the score {:?} is not a number",
                get(Some(score))
            )
        })?;
        if !(0.0..=100.0).contains(&value) {
            return Err(format!("line {line}: the score {value} is outside 0–100"));
        }
        let row = Benchmark {
            index: get(Some(index)),
            country: get(country),
            period: get(period),
            level: get(level),
            entity: get(Some(entity)),
            score: value,
            source_url: get(Some(source)),
            source_kind: get(kind),
            note: get(note),
        };
        if row.index.is_empty() || row.entity.is_empty() {
            return Err(format!("line {line}: index and entity must not be empty"));
        }
        if !(row.source_url.starts_with("https://") || row.source_url.starts_with("http://")) {
            return Err(format!(
                "line {line}: every figure needs its source as an http(s) address"
            ));
        }
        out.push(row);
    }
    if out.is_empty() {
        return Err("the file holds no figures".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SAMPLE: &str = "index,country,period,level,entity,score_0_100,change_stated,source_url,source_kind,note\n\
        ACSI,US,Q4 2023,national,U.S. overall,77.8,+0.9%,https://www.theacsi.org/x,publisher page,\"record high; 212,512 questionnaires\"\n\
        UKCSI,UK,Jan 2024,national,UK all-sector,76.9,,https://www.instituteofcustomerservice.com/y,publisher,\n";

    #[test]
    fn reads_the_published_format_with_quoted_commas() {
        let rows = parse_csv(SAMPLE).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].score, 77.8);
        assert_eq!(rows[0].note, "record high; 212,512 questionnaires");
        assert_eq!(rows[1].index, "UKCSI");
    }

    #[test]
    fn bad_files_get_an_error_naming_the_line() {
        assert!(parse_csv("a,b\n1,2\n").unwrap_err().contains("header"));
        let bad_score = SAMPLE.replace("77.8", "seventy");
        assert!(parse_csv(&bad_score).unwrap_err().starts_with("line 2"));
        let out_of_range = SAMPLE.replace("76.9", "176.9");
        assert!(parse_csv(&out_of_range).unwrap_err().starts_with("line 3"));
        let no_source = SAMPLE.replace("https://www.theacsi.org/x", "");
        assert!(parse_csv(&no_source).unwrap_err().contains("source"));
        assert!(parse_csv("index,entity,score,source_url\n").is_err());
    }
}
