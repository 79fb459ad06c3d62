//! What can go wrong when reading an event log.

/// An error reading or writing an event log, worded for the person who supplied the file.
#[derive(Debug, thiserror::Error)]
pub enum MiningError {
    /// The file could not be opened or read.
    #[error("could not read {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// Reading or writing the stream failed (a truncated .gz file, a full disk...).
    #[error("could not read or write the event log: {0}")]
    Io(#[from] std::io::Error),
    /// The XES document is not well-formed XML.
    #[error("the XES file is not valid XML near byte {position}: {message}")]
    Xml {
        /// Byte offset in the (decompressed) document.
        position: u64,
        /// What the XML parser said.
        message: String,
    },
    /// A value could not be understood.
    #[error("{0}")]
    BadValue(String),
    /// The CSV file is malformed or lacks a mapped column.
    #[error("CSV: {0}")]
    Csv(String),
}
