//! Outlook's `winmail.dat` (TNEF, MS-OXTNEF) unpacked into ordinary attachments.
//!
//! mail-parser does not read TNEF (it hands `application/ms-tnef` over as bytes), and customers
//! on Exchange send it, so this small reader takes out what an agent needs: the attached files
//! (names, content types, Content-IDs, bytes) and an HTML or text body if the message carries one.
//! Every read is bounds-checked: a damaged file gives an error, never a panic.

use crate::parse::Attachment;

const SIGNATURE: u32 = 0x223E_9F78;
const LEVEL_ATTACHMENT: u8 = 0x02;

// Attribute ids (type in the high word, id in the low word).
const ATT_BODY: u32 = 0x0002_800C;
const ATT_ATTACH_DATA: u32 = 0x0006_800F;
const ATT_ATTACH_TITLE: u32 = 0x0001_8010;
const ATT_ATTACH_RENDDATA: u32 = 0x0006_9002;
const ATT_MAPI_PROPS: u32 = 0x0006_9003;
const ATT_ATTACHMENT: u32 = 0x0006_9005;
const ATT_OEM_CODEPAGE: u32 = 0x0006_9007;

// MAPI property ids.
const PR_BODY: u16 = 0x1000;
const PR_RTF_COMPRESSED: u16 = 0x1009;
const PR_BODY_HTML: u16 = 0x1013;
const PR_DISPLAY_NAME: u16 = 0x3001;
const PR_ATTACH_DATA_OBJ: u16 = 0x3701;
const PR_ATTACH_FILENAME: u16 = 0x3704;
const PR_ATTACH_LONG_FILENAME: u16 = 0x3707;
const PR_ATTACH_MIME_TAG: u16 = 0x370E;
const PR_ATTACH_CONTENT_ID: u16 = 0x3712;
const PR_INTERNET_CPID: u16 = 0x3FDE;

// MAPI property types.
const PT_OBJECT: u16 = 0x000D;
const PT_STRING8: u16 = 0x001E;
const PT_UNICODE: u16 = 0x001F;
const PT_BINARY: u16 = 0x0102;
const MV_FLAG: u16 = 0x1000;

/// Guards against a crafted file that declares millions of tiny entries.
const MAX_ATTACHMENTS: usize = 1_000;
const MAX_PROPERTIES: u32 = 100_000;

/// Is this attachment a TNEF file?
pub fn is_tnef(content_type: &str, filename: Option<&str>) -> bool {
    matches!(
        content_type,
        "application/ms-tnef" | "application/vnd.ms-tnef"
    ) || filename.is_some_and(|f| f.eq_ignore_ascii_case("winmail.dat"))
}

/// What a TNEF file held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unpacked {
    /// The attached files, in order.
    pub attachments: Vec<Attachment>,
    /// The HTML body (PR_BODY_HTML), if present.
    pub html_body: Option<String>,
    /// The plain text body (attBody or PR_BODY), if present.
    pub text_body: Option<String>,
    /// The body is (also) compressed RTF, which Rapport does not render.
    pub has_rtf_body: bool,
}

/// Why a TNEF file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TnefError {
    /// The file does not start with the TNEF signature.
    #[error("not a TNEF file (wrong signature)")]
    NotTnef,
    /// The file ends in the middle of a structure.
    #[error("the TNEF file is truncated at byte {0}")]
    Truncated(usize),
    /// A count or length is beyond what the file can hold.
    #[error("the TNEF file declares an impossible size at byte {0}")]
    BadSize(usize),
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], TnefError> {
        let end = self.at.checked_add(n).ok_or(TnefError::BadSize(self.at))?;
        let slice = self
            .bytes
            .get(self.at..end)
            .ok_or(TnefError::Truncated(self.at))?;
        self.at = end;
        Ok(slice)
    }
    fn u8(&mut self) -> Result<u8, TnefError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, TnefError> {
        let b = self.take(2)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self) -> Result<u32, TnefError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn len(&mut self) -> Result<usize, TnefError> {
        let at = self.at;
        let n = self.u32()? as usize;
        if n > self.bytes.len().saturating_sub(self.at) {
            return Err(TnefError::BadSize(at));
        }
        Ok(n)
    }
    fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.at)
    }
}

#[derive(Default)]
struct PendingAttachment {
    title: Option<String>,
    long_filename: Option<String>,
    filename: Option<String>,
    display_name: Option<String>,
    mime_tag: Option<String>,
    content_id: Option<String>,
    data: Option<Vec<u8>>,
}

impl PendingAttachment {
    fn finish(self) -> Attachment {
        let filename = self
            .long_filename
            .or(self.title)
            .or(self.filename)
            .or(self.display_name)
            .filter(|n| !n.trim().is_empty());
        let content_type = self
            .mime_tag
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| t.contains('/'))
            .unwrap_or_else(|| content_type_for(filename.as_deref()).into());
        let content_id = self.content_id.map(|c| {
            c.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        });
        Attachment::new(
            filename,
            content_type,
            content_id,
            self.data.unwrap_or_default(),
            false,
        )
    }
}

/// A content type from a file extension, for TNEF attachments that carry no MIME tag.
fn content_type_for(filename: Option<&str>) -> &'static str {
    let extension = filename
        .and_then(|f| f.rsplit_once('.'))
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match extension.as_str() {
        "jpg" | "jpeg" => "image/jpeg",
        "png" => "image/png",
        "gif" => "image/gif",
        "bmp" => "image/bmp",
        "pdf" => "application/pdf",
        "txt" | "ini" | "bat" | "sys" | "cfg" => "text/plain",
        "htm" | "html" => "text/html",
        "csv" => "text/csv",
        "rtf" => "application/rtf",
        "eml" => "message/rfc822",
        "zip" => "application/zip",
        "mp3" => "audio/mpeg",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "ppt" => "application/vnd.ms-powerpoint",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        _ => "application/octet-stream",
    }
}

/// Reads a TNEF file. Trailing garbage after the last whole attribute is ignored (Outlook writes
/// some), but a file whose structure is broken before that is an error.
pub fn unpack(bytes: &[u8]) -> Result<Unpacked, TnefError> {
    unpack_at_depth(bytes, 0)
}

/// Embedded messages (attach method 5) are TNEF streams themselves; their files are listed after
/// the attachment that holds them, down to this depth.
const MAX_EMBEDDED_DEPTH: usize = 4;

fn unpack_at_depth(bytes: &[u8], depth: usize) -> Result<Unpacked, TnefError> {
    let mut reader = Reader { bytes, at: 0 };
    if reader.u32()? != SIGNATURE {
        return Err(TnefError::NotTnef);
    }
    let _legacy_key = reader.u16()?;
    let mut out = Unpacked::default();
    let mut current: Option<PendingAttachment> = None;
    let mut finished: Vec<Attachment> = Vec::new();
    let mut embedded: Vec<Attachment> = Vec::new();
    // The code page of 8-bit strings and of an HTML body stored as bytes.
    let mut code_page: Option<u32> = None;
    let mut html_bytes: Option<Vec<u8>> = None;

    // Each attribute: level (1), id (4), length (4), data, checksum (2).
    while reader.remaining() >= 11 {
        let start = reader.at;
        let level = reader.u8()?;
        let id = reader.u32()?;
        let data = match reader.len().and_then(|n| reader.take(n)) {
            Ok(d) => d,
            // A broken tail after real content: keep what was read.
            Err(e) if !finished.is_empty() || current.is_some() => {
                let _ = (e, start);
                break;
            }
            Err(e) => return Err(e),
        };
        let _checksum = reader.u16()?;
        match (level, id) {
            (LEVEL_ATTACHMENT, ATT_ATTACH_RENDDATA) => {
                if let Some(done) = current.take() {
                    finished.push(done.finish());
                }
                finished.append(&mut embedded);
                if finished.len() >= MAX_ATTACHMENTS {
                    return Err(TnefError::BadSize(start));
                }
                current = Some(PendingAttachment::default());
            }
            (LEVEL_ATTACHMENT, ATT_ATTACH_TITLE) => {
                current.get_or_insert_with(Default::default).title = Some(string8(data));
            }
            (LEVEL_ATTACHMENT, ATT_ATTACH_DATA) => {
                current.get_or_insert_with(Default::default).data = Some(data.to_vec());
            }
            (LEVEL_ATTACHMENT, ATT_ATTACHMENT) => {
                let attachment = current.get_or_insert_with(Default::default);
                for (prop_id, value) in mapi_properties(data)? {
                    match (prop_id, value) {
                        (PR_ATTACH_LONG_FILENAME, Value::Text(s)) => {
                            attachment.long_filename = Some(s)
                        }
                        (PR_ATTACH_FILENAME, Value::Text(s)) => attachment.filename = Some(s),
                        (PR_DISPLAY_NAME, Value::Text(s)) => attachment.display_name = Some(s),
                        (PR_ATTACH_MIME_TAG, Value::Text(s)) => attachment.mime_tag = Some(s),
                        (PR_ATTACH_CONTENT_ID, Value::Text(s)) => attachment.content_id = Some(s),
                        (PR_ATTACH_DATA_OBJ, Value::Binary(b)) if attachment.data.is_none() => {
                            attachment.data = Some(b)
                        }
                        (PR_ATTACH_DATA_OBJ, Value::Object(b)) => {
                            if b.starts_with(&SIGNATURE.to_le_bytes()) && depth < MAX_EMBEDDED_DEPTH
                            {
                                // Damaged embedded messages are skipped: the outer files still count.
                                if let Ok(inner) = unpack_at_depth(&b, depth + 1) {
                                    embedded.extend(inner.attachments);
                                }
                            }
                            // The object replaces attAttachData, which for embedded messages only
                            // holds "This attachment is a MAPI 1.0 embedded message".
                            if b.starts_with(&SIGNATURE.to_le_bytes())
                                && attachment.mime_tag.is_none()
                            {
                                attachment.mime_tag = Some("application/vnd.ms-tnef".into());
                            }
                            attachment.data = Some(b);
                        }
                        _ => {}
                    }
                }
            }
            (_, ATT_BODY) => out.text_body = Some(string8(data)),
            (_, ATT_OEM_CODEPAGE) => {
                if let [a, b, c, d, ..] = data {
                    code_page = code_page.or(Some(u32::from_le_bytes([*a, *b, *c, *d])));
                }
            }
            (_, ATT_MAPI_PROPS) => {
                for (prop_id, value) in mapi_properties(data)? {
                    match (prop_id, value) {
                        (PR_BODY_HTML, Value::Text(s)) => out.html_body = Some(s),
                        (PR_BODY_HTML, Value::Binary(b)) => html_bytes = Some(b),
                        (PR_INTERNET_CPID, Value::Long(cp)) => code_page = Some(cp),
                        (PR_BODY, Value::Text(s)) if out.text_body.is_none() => {
                            out.text_body = Some(s)
                        }
                        (PR_RTF_COMPRESSED, _) => out.has_rtf_body = true,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(done) = current.take() {
        finished.push(done.finish());
    }
    finished.append(&mut embedded);
    if let Some(bytes) = html_bytes {
        out.html_body = Some(decode_code_page(trim_nuls(&bytes), code_page));
    }
    out.attachments = finished;
    Ok(out)
}

enum Value {
    Text(String),
    Binary(Vec<u8>),
    Object(Vec<u8>),
    Long(u32),
    Other,
}

/// Decodes an attMAPIProps / attAttachment blob: a count, then (type, id, [name], value)*.
fn mapi_properties(data: &[u8]) -> Result<Vec<(u16, Value)>, TnefError> {
    let mut r = Reader { bytes: data, at: 0 };
    let count = r.u32()?;
    if count > MAX_PROPERTIES {
        return Err(TnefError::BadSize(0));
    }
    let mut out = Vec::new();
    for _ in 0..count {
        let prop_type = r.u16()?;
        let prop_id = r.u16()?;
        if prop_id >= 0x8000 {
            // A named property: GUID, kind, then a number or a UTF-16 name.
            r.take(16)?;
            match r.u32()? {
                0 => {
                    r.u32()?;
                }
                _ => {
                    let n = r.len()?;
                    r.take(n)?;
                    r.take(padding(n))?;
                }
            }
        }
        let base_type = prop_type & !MV_FLAG;
        let multi = prop_type & MV_FLAG != 0;
        let value = match base_type {
            PT_STRING8 | PT_UNICODE | PT_BINARY | PT_OBJECT => {
                // Variable-size values always come with a count, even when single-valued.
                let values = r.u32()?;
                if values as usize > r.remaining() {
                    return Err(TnefError::BadSize(r.at));
                }
                let mut first = None;
                for _ in 0..values {
                    let n = r.len()?;
                    let raw = r.take(n)?;
                    r.take(padding(n).min(r.remaining()))?;
                    if first.is_none() {
                        first = Some(match base_type {
                            PT_STRING8 => Value::Text(string8(raw)),
                            PT_UNICODE => Value::Text(utf16(raw)),
                            // An embedded object starts with the interface id (16 bytes).
                            PT_OBJECT => Value::Object(raw.get(16..).unwrap_or_default().to_vec()),
                            _ => Value::Binary(raw.to_vec()),
                        });
                    }
                }
                first.unwrap_or(Value::Other)
            }
            _ => {
                let size = fixed_size(base_type).ok_or(TnefError::BadSize(r.at))?;
                let values = if multi { r.u32()? as usize } else { 1 };
                if values.saturating_mul(size) > r.remaining() {
                    return Err(TnefError::BadSize(r.at));
                }
                let raw = r.take(values * size)?;
                match (base_type, raw) {
                    (0x0003, [a, b, c, d, ..]) if !multi => {
                        Value::Long(u32::from_le_bytes([*a, *b, *c, *d]))
                    }
                    _ => Value::Other,
                }
            }
        };
        out.push((prop_id, value));
    }
    Ok(out)
}

/// Size on the wire of a fixed-size MAPI type (short and boolean are padded to 4).
fn fixed_size(prop_type: u16) -> Option<usize> {
    match prop_type {
        0x0000 | 0x0001 | 0x0002 | 0x0003 | 0x0004 | 0x000A | 0x000B => Some(4),
        0x0005 | 0x0006 | 0x0007 | 0x0014 | 0x0040 => Some(8),
        0x0048 => Some(16),
        _ => None,
    }
}

fn padding(n: usize) -> usize {
    (4 - n % 4) % 4
}

/// Bytes in a Windows code page (the message's PR_INTERNET_CPID or attOemCodepage), as text.
fn decode_code_page(bytes: &[u8], code_page: Option<u32>) -> String {
    let label = match code_page {
        Some(874) => "windows-874".to_owned(),
        Some(932) => "shift_jis".to_owned(),
        Some(936) => "gbk".to_owned(),
        Some(949) => "euc-kr".to_owned(),
        Some(950) => "big5".to_owned(),
        Some(cp @ 1250..=1258) => format!("windows-{cp}"),
        Some(cp @ 28591..=28606) => format!("iso-8859-{}", cp - 28590),
        Some(20866) => "koi8-r".to_owned(),
        Some(21866) => "koi8-u".to_owned(),
        Some(50220..=50222) => "iso-2022-jp".to_owned(),
        Some(51932) => "euc-jp".to_owned(),
        Some(866) => "ibm866".to_owned(),
        _ => "utf-8".to_owned(),
    };
    let encoding = encoding_rs::Encoding::for_label(label.as_bytes()).unwrap_or(encoding_rs::UTF_8);
    // An HTML body often is UTF-8 whatever the code page says; valid UTF-8 wins.
    match std::str::from_utf8(bytes) {
        Ok(text) => text.to_owned(),
        Err(_) => encoding.decode_without_bom_handling(bytes).0.into_owned(),
    }
}

/// An 8-bit string: UTF-8 when it is valid, else Windows-1252 read as Latin-1 (close enough
/// for file names), without the trailing NULs.
fn string8(raw: &[u8]) -> String {
    let raw = trim_nuls(raw);
    match std::str::from_utf8(raw) {
        Ok(s) => s.to_owned(),
        Err(_) => raw.iter().map(|&b| b as char).collect(),
    }
}

fn trim_nuls(raw: &[u8]) -> &[u8] {
    let end = raw.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    &raw[..end]
}

fn utf16(raw: &[u8]) -> String {
    let units: Vec<u16> = raw
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&units)
        .trim_end_matches('\0')
        .to_owned()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn tnef_dir() -> Option<std::path::PathBuf> {
        let dir = std::path::PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/email/mimekit/tnef"
        ));
        if dir.is_dir() {
            Some(dir)
        } else if std::env::var("RAPPORT_REQUIRE_SHARED").as_deref() == Ok("1") {
            panic!("{} not found and RAPPORT_REQUIRE_SHARED=1", dir.display());
        } else {
            println!("skipped: {} not found", dir.display());
            None
        }
    }

    /// MimeKit's samples with its expected attachment names (`.list`, one per line; `body.rtf`
    /// and `body.html` stand for the message body). Names MimeKit invents for nameless
    /// attachments ("Untitled Attachment") are compared by count only.
    #[test]
    fn mimekit_tnef_samples_unpack_to_the_expected_attachments() {
        let Some(dir) = tnef_dir() else { return };
        let mut checked = 0;
        let mut entries: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for path in entries {
            if path.extension().and_then(|e| e.to_str()) != Some("tnef") {
                continue;
            }
            let name = path.file_stem().unwrap().to_string_lossy().to_string();
            let expected_text = std::fs::read_to_string(path.with_extension("list")).unwrap();
            let expected: Vec<&str> = expected_text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with("body."))
                .collect();
            let bytes = std::fs::read(&path).unwrap();
            let result = unpack(&bytes);
            if expected_text.trim().is_empty() {
                // MimeKit expects nothing or an error from these (damaged) samples: no panic is
                // the requirement.
                println!("{name}: {:?}", result.as_ref().map(|u| u.attachments.len()));
                continue;
            }
            let unpacked = result.unwrap_or_else(|e| panic!("{name}: {e}"));
            // christmas.tnef holds two embedded Outlook messages; MimeKit lists them with their
            // own parts as 4 "Untitled" entries, this reader lists the 2 messages and the one
            // image file inside them.
            if name == "christmas" {
                assert_eq!(unpacked.attachments.len(), 4, "{name}");
                checked += 1;
                continue;
            }
            let got: Vec<Option<&str>> = unpacked
                .attachments
                .iter()
                .map(|a| a.filename.as_deref())
                .collect();
            // long-filename.tnef: MimeKit lists only the RTF body; this reader also returns the
            // attached file it declares. So: everything MimeKit lists must be there.
            assert!(
                got.len() >= expected.len(),
                "{name}: got {got:?}, expected {expected:?}"
            );
            // MimeKit's lists are not always in file order: compare as sets.
            for e in expected.iter().filter(|e| !e.starts_with("Untitled")) {
                assert!(
                    got.contains(&Some(*e)),
                    "{name}: got {got:?}, expected {expected:?}"
                );
            }
            if expected_text.contains("body.html") {
                assert!(unpacked.html_body.is_some(), "{name}: HTML body expected");
            }
            checked += 1;
        }
        assert!(checked >= 15, "only {checked} samples checked");
    }

    #[test]
    fn damaged_input_is_an_error_not_a_panic() {
        assert_eq!(unpack(b""), Err(TnefError::Truncated(0)));
        assert_eq!(unpack(b"not tnef at all"), Err(TnefError::NotTnef));
        let mut header = SIGNATURE.to_le_bytes().to_vec();
        header.extend([
            0, 0, 2, 0x02, 0x90, 0x06, 0x00, 0xff, 0xff, 0xff, 0x7f, 0, 0,
        ]);
        assert!(unpack(&header).is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_after_the_signature_never_panic(tail in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let mut bytes = SIGNATURE.to_le_bytes().to_vec();
            bytes.extend([0, 0]);
            bytes.extend(tail);
            let _ = unpack(&bytes);
        }
    }
}
