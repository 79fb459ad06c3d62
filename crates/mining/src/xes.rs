//! XES (IEEE 1849-2016) import and export.
//!
//! Import streams the document with quick-xml (borrowed events, no tree), reads the concept,
//! time, lifecycle and org extensions into the fixed columns and every other simple attribute
//! into an attribute column. Nested attributes, lists, containers, globals and classifiers are
//! skipped. A second thread reads (and decompresses) the file while the first one parses.
//!
//! Export writes one `<trace>` per case with the four standard extensions declared, which
//! pm4py, ProM and Disco all open.

use std::borrow::Cow;
use std::io::{Read, Write};
use std::path::Path;
use std::sync::mpsc::sync_channel;

use quick_xml::events::{BytesStart, Event};

use crate::error::MiningError;
use crate::log::{AttributeKind, EventFields, EventLog, LogBuilder, NONE, NO_TIME};
use crate::time::{format_timestamp_millis, parse_timestamp_millis};

/// Reads an XES document from a byte stream (not compressed).
pub fn read_xes(input: impl Read) -> Result<EventLog, MiningError> {
    let mut parser = XesParser::default();
    for chunk in TraceChunks::new(input) {
        parser.parse_chunk(&chunk?)?;
    }
    Ok(parser.finish())
}

/// Reads a gzip-compressed XES document, decompressing on a second thread.
pub fn read_xes_gz(compressed: impl Read + Send + 'static) -> Result<EventLog, MiningError> {
    parse_in_parallel(flate2::read::MultiGzDecoder::new(
        std::io::BufReader::with_capacity(1 << 16, compressed),
    ))
}

/// Reads a `.xes` or `.xes.gz` file (gzip is recognised by its magic bytes).
pub fn read_xes_file(path: &Path) -> Result<EventLog, MiningError> {
    let file_error = |source| MiningError::File {
        path: path.display().to_string(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(file_error)?;
    let mut magic = [0u8; 2];
    let is_gzip = file.read(&mut magic).map_err(file_error)? == 2 && magic == [0x1f, 0x8b];
    drop(file);
    let file = std::fs::File::open(path).map_err(file_error)?;
    if is_gzip {
        read_xes_gz(file)
    } else {
        parse_in_parallel(file)
    }
}

/// Reads (and decompresses) on one thread and parses the trace-aligned pieces on as many
/// threads as there are cores (at most four), then joins the pieces in document order. The
/// joined log is the one a single parser would build, string ids included.
fn parse_in_parallel(input: impl Read + Send + 'static) -> Result<EventLog, MiningError> {
    type Piece = std::io::Result<(usize, u64, Vec<u8>)>;
    let (sender, receiver) = sync_channel::<Piece>(4);
    std::thread::spawn(move || {
        let mut offset = 0u64;
        for (index, chunk) in TraceChunks::new(input).enumerate() {
            let piece = chunk.map(|chunk| {
                let start = offset;
                offset += chunk.len() as u64;
                (index, start, chunk)
            });
            let failed = piece.is_err();
            // The parsers hang up when they stop early (an XML error): then we stop too.
            if sender.send(piece).is_err() || failed {
                return;
            }
        }
    });
    let receiver = std::sync::Mutex::new(receiver);
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get().clamp(1, 4));
    let mut parts: Vec<(usize, EventLog)> = Vec::new();
    std::thread::scope(|scope| -> Result<(), MiningError> {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                scope.spawn(|| -> Result<Vec<(usize, EventLog)>, MiningError> {
                    let mut parsed = Vec::new();
                    loop {
                        let next = match receiver.lock() {
                            Ok(receiver) => receiver.recv(),
                            Err(_) => break,
                        };
                        let Ok(piece) = next else { break };
                        let (index, offset, chunk) = piece?;
                        let mut parser = XesParser {
                            bytes_before: offset,
                            ..XesParser::default()
                        };
                        parser.parse_chunk(&chunk)?;
                        parsed.push((index, parser.finish()));
                    }
                    Ok(parsed)
                })
            })
            .collect();
        let mut first_error = None;
        for handle in handles {
            match handle.join() {
                Ok(Ok(parsed)) => parts.extend(parsed),
                Ok(Err(error)) => {
                    first_error.get_or_insert(error);
                }
                Err(_) => {
                    first_error.get_or_insert(MiningError::BadValue(
                        "the XES parser stopped unexpectedly".to_owned(),
                    ));
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    })?;
    parts.sort_by_key(|(index, _)| *index);
    let mut parts = parts.into_iter().map(|(_, part)| part);
    let mut log = parts.next().unwrap_or_default();
    for part in parts {
        log.append(part);
    }
    Ok(log)
}

/// Cuts a document into pieces of about 1 MiB that end just after a `</trace>`, so each piece
/// parses on its own from a slice, with borrowed events and no copying. A trace longer than a
/// piece makes that piece longer; memory stays bounded by the largest trace.
struct TraceChunks<R> {
    input: R,
    pending: Vec<u8>,
    finished: bool,
}

const CHUNK_BYTES: usize = 1 << 20;

impl<R: Read> TraceChunks<R> {
    fn new(input: R) -> Self {
        TraceChunks {
            input,
            pending: Vec::with_capacity(CHUNK_BYTES * 2),
            finished: false,
        }
    }
}

impl<R: Read> Iterator for TraceChunks<R> {
    type Item = std::io::Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.finished {
            return None;
        }
        let mut searched_up_to: usize = 0;
        loop {
            // Read one more chunk's worth; `read_to_end` fills spare capacity without zeroing it.
            self.pending.reserve(CHUNK_BYTES);
            match (&mut self.input)
                .take(CHUNK_BYTES as u64)
                .read_to_end(&mut self.pending)
            {
                Ok(0) => self.finished = true,
                Ok(_) => {}
                Err(error) => {
                    self.finished = true;
                    return Some(Err(error));
                }
            }
            if self.finished {
                let rest = std::mem::take(&mut self.pending);
                return (!rest.is_empty()).then_some(Ok(rest));
            }
            let search_from = searched_up_to.saturating_sub(b"</trace>".len());
            if let Some(found) = memchr::memmem::rfind(&self.pending[search_from..], b"</trace>") {
                let cut = search_from + found + b"</trace>".len();
                // The chunk leaves with its buffer; the tail starts a new one of full size.
                let mut rest = Vec::with_capacity(CHUNK_BYTES * 2);
                rest.extend_from_slice(&self.pending[cut..]);
                let mut chunk = std::mem::replace(&mut self.pending, rest);
                chunk.truncate(cut);
                return Some(Ok(chunk));
            }
            searched_up_to = self.pending.len();
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Log,
    Trace,
    Event,
}

struct XesParser {
    builder: LogBuilder,
    place: Place,
    /// Depth inside an element whose content we skip (globals, nested attributes, lists).
    skipping: usize,
    event: EventFields,
    event_extra: Vec<(u32, AttributeKind, u32)>,
    /// Bytes of the document in earlier chunks, so errors give a document position.
    bytes_before: u64,
    /// The position of the next attribute within the current event.
    attribute_slot: usize,
    /// The attribute last read at each position of an event.
    recent: Vec<RecentAttribute>,
}

/// An attribute as last read at one position of an event, with its interned ids.
struct RecentAttribute {
    key: Vec<u8>,
    value: Vec<u8>,
    key_id: u32,
    value_id: u32,
}

impl Default for XesParser {
    fn default() -> Self {
        XesParser {
            builder: LogBuilder::new(),
            place: Place::Log,
            skipping: 0,
            event: blank_event(),
            event_extra: Vec::new(),
            bytes_before: 0,
            attribute_slot: 0,
            recent: Vec::new(),
        }
    }
}

fn blank_event() -> EventFields {
    EventFields {
        activity: NONE,
        lifecycle: NONE,
        timestamp: NO_TIME,
        resource: NONE,
        group: NONE,
    }
}

fn xml_error(position: u64, error: impl std::fmt::Display) -> MiningError {
    MiningError::Xml {
        position,
        message: error.to_string(),
    }
}

impl XesParser {
    fn parse_chunk(&mut self, chunk: &[u8]) -> Result<(), MiningError> {
        let mut reader = quick_xml::Reader::from_reader(chunk);
        // A chunk starts inside `<log>`, so its last chunk closes a tag it never saw open.
        reader.config_mut().check_end_names = false;
        reader.config_mut().allow_unmatched_ends = true;
        let offset = self.bytes_before;
        self.bytes_before += chunk.len() as u64;
        loop {
            let position = offset + reader.buffer_position();
            let event = reader
                .read_event()
                .map_err(|error| xml_error(position, error))?;
            match event {
                Event::Start(element) => self.open(&element, false, position)?,
                Event::Empty(element) => self.open(&element, true, position)?,
                Event::End(element) => self.close(element.local_name().as_ref()),
                Event::Eof => return Ok(()),
                _ => {}
            }
        }
    }

    fn finish(mut self) -> EventLog {
        self.builder.end_case();
        self.builder.finish()
    }

    fn open(
        &mut self,
        element: &BytesStart,
        empty: bool,
        position: u64,
    ) -> Result<(), MiningError> {
        if self.skipping > 0 {
            if !empty {
                self.skipping += 1;
            }
            return Ok(());
        }
        let name = element.local_name();
        let name = name.as_ref();
        if let Some(kind) = AttributeKind::from_element_name(name) {
            self.attribute(kind, element, position)?;
            if !empty {
                // Nested attributes (meta-data on an attribute) are not kept.
                self.skipping = 1;
            }
            return Ok(());
        }
        match (name, self.place) {
            (b"log", _) => {}
            (b"trace", Place::Log) => {
                self.builder.start_case();
                self.place = Place::Trace;
                if empty {
                    self.builder.end_case();
                    self.place = Place::Log;
                }
            }
            (b"event", Place::Trace) => {
                self.place = Place::Event;
                self.event = blank_event();
                self.attribute_slot = 0;
                self.event_extra.clear();
                if empty {
                    self.close(b"event");
                }
            }
            _ => {
                if !empty {
                    self.skipping = 1;
                }
            }
        }
        Ok(())
    }

    fn close(&mut self, name: &[u8]) {
        if self.skipping > 0 {
            self.skipping -= 1;
            return;
        }
        match (name, self.place) {
            (b"event", Place::Event) => {
                if self.event.activity == NONE {
                    // An event without concept:name still counts, under an empty name.
                    self.event.activity = self.builder.intern_activity("");
                }
                let index = self.builder.push_event(self.event);
                for &(key, kind, value) in &self.event_extra {
                    self.builder.set_event_attribute(index, key, kind, value);
                }
                self.place = Place::Trace;
            }
            (b"trace", Place::Trace) => {
                self.builder.end_case();
                self.place = Place::Log;
            }
            _ => {}
        }
    }

    fn attribute(
        &mut self,
        kind: AttributeKind,
        element: &BytesStart,
        position: u64,
    ) -> Result<(), MiningError> {
        if self.place == Place::Log {
            return Ok(());
        }
        let raw = element.attributes_raw();
        let (key, value) = match key_and_value(raw) {
            Some((key, value)) => (Cow::Borrowed(key), Cow::Borrowed(value)),
            None => {
                // Unusual spelling (spaces around `=`, other attributes): the full parser.
                let mut key = None;
                let mut value = None;
                for attribute in element.attributes() {
                    let attribute = attribute.map_err(|error| xml_error(position, error))?;
                    match attribute.key.as_ref() {
                        b"key" => key = Some(attribute.value),
                        b"value" => value = Some(attribute.value),
                        _ => {}
                    }
                }
                match (key, value) {
                    (Some(key), Some(value)) => (key, value),
                    _ => return Ok(()),
                }
            }
        };
        // Values are short: a plain loop beats memchr's set-up here.
        let value: Cow<[u8]> = if value.contains(&b'&') {
            Cow::Owned(text(&value, position)?.into_owned().into_bytes())
        } else {
            value
        };
        let utf8 = |result: Result<u32, std::str::Utf8Error>| {
            result.map_err(|error| xml_error(position, error))
        };
        match (self.place, key.as_ref()) {
            (Place::Event, b"time:timestamp") => {
                let value = text(&value, position)?;
                self.event.timestamp = parse_timestamp_millis(&value).ok_or_else(|| {
                    MiningError::BadValue(format!(
                        "the XES file has a time:timestamp that is not an ISO 8601 date near byte {position}: {value:?}"
                    ))
                })?;
            }
            (Place::Event, field) => {
                // Events of a case mostly repeat their neighbour's attributes in the same order
                // (same group, same product...): comparing with the value last seen at this
                // position is cheaper than hashing it again.
                let slot = self.attribute_slot;
                self.attribute_slot += 1;
                let cached = self
                    .recent
                    .get(slot)
                    .filter(|recent| recent.key == field && recent.value == *value)
                    .map(|recent| (recent.key_id, recent.value_id));
                let (key_id, value_id) = match cached {
                    Some(ids) => ids,
                    None => {
                        let ids = match field {
                            b"concept:name" => {
                                (NONE, utf8(self.builder.intern_activity_bytes(&value))?)
                            }
                            b"lifecycle:transition" | b"org:resource" | b"org:group" => {
                                (NONE, utf8(self.builder.intern_bytes(&value))?)
                            }
                            _ => (
                                utf8(self.builder.intern_bytes(field))?,
                                utf8(self.builder.intern_bytes(&value))?,
                            ),
                        };
                        if slot == self.recent.len() {
                            self.recent.push(RecentAttribute {
                                key: Vec::new(),
                                value: Vec::new(),
                                key_id: NONE,
                                value_id: NONE,
                            });
                        }
                        if let Some(recent) = self.recent.get_mut(slot) {
                            // Reuse the buffers: no allocation per changed value.
                            recent.key.clear();
                            recent.key.extend_from_slice(field);
                            recent.value.clear();
                            recent.value.extend_from_slice(&value);
                            (recent.key_id, recent.value_id) = ids;
                        }
                        ids
                    }
                };
                match field {
                    b"concept:name" => self.event.activity = value_id,
                    b"lifecycle:transition" => self.event.lifecycle = value_id,
                    b"org:resource" => self.event.resource = value_id,
                    b"org:group" => self.event.group = value_id,
                    _ => self.event_extra.push((key_id, kind, value_id)),
                }
            }
            (Place::Trace, b"concept:name") => {
                let name = utf8(self.builder.intern_bytes(&value))?;
                self.builder.set_case_name(name);
            }
            (Place::Trace, _) => {
                let key = utf8(self.builder.intern_bytes(&key))?;
                let value = utf8(self.builder.intern_bytes(&value))?;
                self.builder.set_case_attribute(key, kind, value);
            }
            (Place::Log, _) => {}
        }
        Ok(())
    }
}

/// Reads ` key="…" value="…"` (either order, either quote) without the general attribute
/// parser; `None` when the text has any other shape.
fn key_and_value(raw: &[u8]) -> Option<(&[u8], &[u8])> {
    // What OpenXES, ProM, pm4py and Disco write: ` key="K" value="V"` then nothing or `/`.
    if let Some(after_key) = raw.strip_prefix(b" key=\"") {
        let key_end = memchr::memchr(b'"', after_key)?;
        if let Some(after_value) = after_key[key_end..].strip_prefix(b"\" value=\"") {
            let value_end = memchr::memchr(b'"', after_value)?;
            if matches!(&after_value[value_end + 1..], b"" | b"/" | b" /") {
                return Some((&after_key[..key_end], &after_value[..value_end]));
            }
        }
    }
    let mut rest = raw;
    let mut key = None;
    let mut value = None;
    loop {
        let start = rest.iter().position(|b| !b.is_ascii_whitespace())?;
        rest = &rest[start..];
        if rest.is_empty() || rest == b"/" {
            break;
        }
        // Names and values are a few bytes long: plain loops beat memchr's set-up here.
        let equals = rest.iter().position(|&b| b == b'=')?;
        let name = &rest[..equals];
        let quote = *rest.get(equals + 1)?;
        if quote != b'"' && quote != b'\'' {
            return None;
        }
        let body = &rest[equals + 2..];
        let end = body.iter().position(|&b| b == quote)?;
        match name {
            b"key" => key = Some(&body[..end]),
            b"value" => value = Some(&body[..end]),
            _ => return None,
        }
        rest = &body[end + 1..];
        if rest.iter().all(|b| b.is_ascii_whitespace() || *b == b'/') {
            break;
        }
    }
    Some((key?, value?))
}

/// Attribute bytes as text, with XML entities resolved (only when there is one).
fn text(raw: &[u8], position: u64) -> Result<Cow<'_, str>, MiningError> {
    let raw = std::str::from_utf8(raw).map_err(|error| xml_error(position, error))?;
    if raw.contains('&') {
        quick_xml::escape::unescape(raw).map_err(|error| xml_error(position, error))
    } else {
        Ok(Cow::Borrowed(raw))
    }
}

/// Writes the log as XES 1.0 with the concept, time, lifecycle and org extensions.
///
/// Whitespace is added before an attribute line where needed so that no multi-byte UTF-8
/// character straddles a 4,096-byte boundary: pm4py's default importer (`chunk_regex`) decodes
/// every 4 KiB block on its own and fails on such a character.
pub fn write_xes(log: &EventLog, output: &mut impl Write) -> Result<(), MiningError> {
    use quick_xml::escape::escape;
    let output = &mut CountingWriter {
        inner: output,
        written: 0,
    };
    writeln!(output, r#"<?xml version="1.0" encoding="UTF-8" ?>"#)?;
    writeln!(
        output,
        r#"<log xes.version="1.0" xes.features="nested-attributes" xmlns="http://www.xes-standard.org/">"#
    )?;
    for (name, prefix, file) in [
        ("Concept", "concept", "concept"),
        ("Time", "time", "time"),
        ("Lifecycle", "lifecycle", "lifecycle"),
        ("Organizational", "org", "org"),
    ] {
        writeln!(
            output,
            r#"  <extension name="{name}" prefix="{prefix}" uri="http://www.xes-standard.org/{file}.xesext"/>"#
        )?;
    }
    writeln!(
        output,
        r#"  <classifier name="Activity" keys="concept:name"/>"#
    )?;
    writeln!(
        output,
        r#"  <classifier name="Activity and lifecycle" keys="concept:name lifecycle:transition"/>"#
    )?;
    let strings = &log.strings;
    let attribute =
        |output: &mut CountingWriter<_>, indent: &str, kind: &str, key: &str, value: &str| {
            let line = format!(
                r#"{indent}<{kind} key="{}" value="{}"/>"#,
                escape(key),
                escape(value)
            );
            if straddles_a_block(output.written, &line) {
                let to_boundary = PM4PY_BLOCK - output.written % PM4PY_BLOCK;
                output.write_all(" ".repeat(to_boundary as usize).as_bytes())?;
            }
            writeln!(output, "{line}")
        };
    for case in 0..log.case_count() {
        writeln!(output, "  <trace>")?;
        if log.case_names[case] != NONE {
            attribute(
                output,
                "    ",
                "string",
                "concept:name",
                strings.resolve(log.case_names[case]),
            )?;
        }
        for column in &log.case_attributes {
            if column.values[case] != NONE {
                attribute(
                    output,
                    "    ",
                    column.kind.element_name(),
                    strings.resolve(column.key),
                    strings.resolve(column.values[case]),
                )?;
            }
        }
        for event in log.case_range(case) {
            writeln!(output, "    <event>")?;
            let indent = "      ";
            attribute(
                output,
                indent,
                "string",
                "concept:name",
                log.activities.resolve(log.activity[event]),
            )?;
            for (key, column) in [
                ("lifecycle:transition", &log.lifecycle),
                ("org:resource", &log.resource),
                ("org:group", &log.group),
            ] {
                if column[event] != NONE {
                    attribute(
                        output,
                        indent,
                        "string",
                        key,
                        strings.resolve(column[event]),
                    )?;
                }
            }
            if log.timestamp[event] != NO_TIME {
                attribute(
                    output,
                    indent,
                    "date",
                    "time:timestamp",
                    &format_timestamp_millis(log.timestamp[event]),
                )?;
            }
            for column in &log.event_attributes {
                if column.values[event] != NONE {
                    attribute(
                        output,
                        indent,
                        column.kind.element_name(),
                        strings.resolve(column.key),
                        strings.resolve(column.values[event]),
                    )?;
                }
            }
            writeln!(output, "    </event>")?;
        }
        writeln!(output, "  </trace>")?;
    }
    writeln!(output, "</log>")?;
    Ok(())
}

/// The block size pm4py's `chunk_regex` importer decodes at a time.
const PM4PY_BLOCK: u64 = 4096;

/// Whether `line`, written at byte `offset`, puts a multi-byte character across a block edge
/// (and fits in a block, so moving it to the next block's start helps).
fn straddles_a_block(offset: u64, line: &str) -> bool {
    if line.is_ascii() || line.len() as u64 >= PM4PY_BLOCK {
        return false;
    }
    line.char_indices().any(|(index, character)| {
        let first = offset + index as u64;
        let last = first + character.len_utf8() as u64 - 1;
        first / PM4PY_BLOCK != last / PM4PY_BLOCK
    })
}

/// A writer that counts the bytes it has written.
struct CountingWriter<'a, W> {
    inner: &'a mut W,
    written: u64,
}

impl<W: Write> Write for CountingWriter<'_, W> {
    fn write(&mut self, buffer: &[u8]) -> std::io::Result<usize> {
        let written = self.inner.write(buffer)?;
        self.written += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}
