//! Raw bytes to an [`InboundMessage`], or a [`Quarantine`] with the reason.

use std::panic::AssertUnwindSafe;

use mail_parser::{
    Address, HeaderValue, Message, MessageParser, MessagePart, MimeHeaders, PartType,
};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::bounce::{self, Report};
use crate::html;
use crate::noise::{self, Verdict};
use crate::quote::{self, Segment};
use crate::tnef;

/// Bounds on what Rapport accepts; a message over any of them is quarantined, not parsed further.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Raw size in bytes.
    pub max_bytes: usize,
    /// MIME parts, counted through attached messages.
    pub max_parts: usize,
    /// Nesting of multiparts and attached messages (the top-level message is depth 0).
    pub max_depth: usize,
    /// Header fields, counted over every part.
    pub max_header_fields: usize,
}

impl Default for Limits {
    /// 50 MiB (larger than most providers accept, base64 included), 1,000 parts, depth 20,
    /// 5,000 header fields. Real mail stays far below; the limits stop hostile input.
    fn default() -> Self {
        Limits {
            max_bytes: 50 * 1024 * 1024,
            max_parts: 1_000,
            max_depth: 20,
            max_header_fields: 5_000,
        }
    }
}

/// What [`read_message`] needs besides the bytes.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Bounds on the input.
    pub limits: Limits,
    /// Rapport's own addresses (mailboxes it receives and sends from), compared case-insensitively:
    /// mail from them is a loop.
    pub own_addresses: Vec<String>,
}

/// Why a message was not accepted as mail. It is kept (the raw bytes are stored) with this
/// reason, never dropped silently.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("message quarantined: {reason}")]
pub struct Quarantine {
    /// Which rule refused it; stable, for counting and filtering.
    pub kind: QuarantineKind,
    /// A sentence for a person.
    pub reason: String,
}

/// The rule that refused a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QuarantineKind {
    /// Over [`Limits::max_bytes`].
    TooLarge,
    /// Over [`Limits::max_parts`].
    TooManyParts,
    /// Over [`Limits::max_depth`].
    TooDeep,
    /// Over [`Limits::max_header_fields`].
    TooManyHeaderFields,
    /// Not an e-mail message at all (empty, no header fields).
    NotAMessage,
    /// The MIME parser gave up.
    Unparseable,
}

impl Quarantine {
    fn new(kind: QuarantineKind, reason: impl Into<String>) -> Self {
        Quarantine {
            kind,
            reason: reason.into(),
        }
    }
}

/// A name and an address, as in `From: Ann Example <ann@example.test>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mailbox {
    /// The address as written (not lower-cased: the local part is case-sensitive in theory).
    pub address: String,
    /// The display name, decoded.
    pub name: Option<String>,
}

/// A file that came with the message, including inline images and unpacked winmail.dat contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Attachment {
    /// The file name the sender gave, decoded; `None` when there was none.
    pub filename: Option<String>,
    /// `type/subtype`, lower case.
    pub content_type: String,
    /// The Content-ID without angle brackets, for `cid:` references.
    pub content_id: Option<String>,
    /// The decoded content. For text parts this is UTF-8 (converted from the part's charset).
    #[serde(skip)]
    pub bytes: Vec<u8>,
    /// Length of `bytes`.
    pub size: usize,
    /// SHA-256 of `bytes`, hex (the blob key in the store).
    pub sha256: String,
    /// Shown inside the body (an image the HTML references, or Content-Disposition: inline).
    pub inline: bool,
    /// Unpacked from an Outlook winmail.dat (TNEF) attachment.
    pub from_winmail_dat: bool,
}

impl Attachment {
    pub(crate) fn new(
        filename: Option<String>,
        content_type: String,
        content_id: Option<String>,
        bytes: Vec<u8>,
        inline: bool,
    ) -> Self {
        let sha256 = hex::encode(Sha256::digest(&bytes));
        Attachment {
            filename,
            content_type,
            content_id,
            size: bytes.len(),
            bytes,
            sha256,
            inline,
            from_winmail_dat: false,
        }
    }
}

/// One MIME part, for showing how a message was read (`rapport mail parse`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartInfo {
    /// Nesting depth (0 = the message itself).
    pub depth: usize,
    /// `type/subtype`.
    pub content_type: String,
    /// Decoded size in bytes (0 for multiparts).
    pub size: usize,
    /// The file name, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
}

/// An e-mail as Rapport reads it. Plain data: no borrowed parser state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InboundMessage {
    /// Message-ID without angle brackets.
    pub message_id: Option<String>,
    /// In-Reply-To message ids.
    pub in_reply_to: Vec<String>,
    /// References message ids, oldest first.
    pub references: Vec<String>,
    /// The author (the first From address).
    pub from: Option<Mailbox>,
    /// Where replies should go, if different from `from`.
    pub reply_to: Vec<Mailbox>,
    /// To recipients.
    pub to: Vec<Mailbox>,
    /// Cc recipients.
    pub cc: Vec<Mailbox>,
    /// Addresses from Delivered-To, X-Original-To and Envelope-To: the address the mail was
    /// really delivered to, where a plus-addressed conversation token survives Bcc and lists.
    pub delivered_to: Vec<String>,
    /// Return-Path: `Some("")` for the null sender `<>` used by bounces and auto-replies.
    pub return_path: Option<String>,
    /// Subject, decoded (empty when missing).
    pub subject: String,
    /// The Date header, milliseconds since the epoch (UTC).
    pub date_ms: Option<i64>,
    /// The text body (the HTML converted to text when the message has no text part).
    pub text: String,
    /// The text split into what the sender wrote, quoted history and signature. The segments
    /// cover the whole text; nothing is dropped.
    pub text_segments: Vec<Segment>,
    /// The HTML body, sanitised for display (see the `html` module rules); `None` for plain text.
    pub html: Option<String>,
    /// Remote images blocked in `html`.
    pub blocked_remote_images: usize,
    /// Files, inline images and attached messages (`message/rfc822`, as `.eml` bytes).
    pub attachments: Vec<Attachment>,
    /// Person or machine, and whether it may be answered automatically: the automatic-mail
    /// verdict.
    pub verdict: Verdict,
    /// A delivery report (bounce), a complaint or a read receipt, when the message is one.
    pub report: Option<Report>,
    /// Raw size in bytes.
    pub size: usize,
    /// The MIME structure, in order.
    pub parts: Vec<PartInfo>,
    /// Things a person may want to know about how the message was read (a winmail.dat that
    /// could not be unpacked, a part with a broken encoding).
    pub notes: Vec<String>,
}

/// What Rapport does with a message, in one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Disposition {
    /// A person wrote it: it goes into a conversation (list and bulk mail too; its verdict says
    /// when it must not be answered automatically).
    Message,
    /// A delivery failure or delay report about mail Rapport sent.
    Bounce,
    /// A spam complaint (ARF feedback report).
    Complaint,
    /// Written by a machine (auto-reply, read receipt, loop): recorded, never answered.
    Automatic,
}

impl InboundMessage {
    /// What Rapport does with it; see [`Disposition`].
    pub fn disposition(&self) -> Disposition {
        match (&self.report, &self.verdict) {
            (Some(Report::Bounce(_)), _) => Disposition::Bounce,
            (Some(Report::Complaint(_)), _) => Disposition::Complaint,
            (_, Verdict::Noise { .. }) | (Some(Report::ReadReceipt(_)), _) => {
                Disposition::Automatic
            }
            (None, Verdict::Person | Verdict::NoAutoReply { .. }) => Disposition::Message,
        }
    }

    /// The JSON-ready view printed by `rapport mail parse`.
    pub fn summary(&self) -> MessageSummary<'_> {
        MessageSummary {
            disposition: self.disposition(),
            date: self
                .date_ms
                .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
                .map(|t| t.to_string()),
            message: self,
        }
    }
}

/// How Rapport reads a message, for people and scripts (serialise it with serde_json).
#[derive(Debug, Serialize)]
pub struct MessageSummary<'a> {
    /// What Rapport does with it.
    pub disposition: Disposition,
    /// The Date header in RFC 3339.
    pub date: Option<String>,
    /// Everything else.
    #[serde(flatten)]
    pub message: &'a InboundMessage,
}

/// How Rapport reads `raw`, as JSON (what `rapport mail parse FILE` prints): the
/// [`MessageSummary`], or `{"disposition": "quarantine", "kind": …, "reason": …}`.
pub fn describe(raw: &[u8], options: &ReadOptions) -> serde_json::Value {
    let value = match read_message(raw, options) {
        Ok(message) => serde_json::to_value(message.summary()),
        Err(quarantine) => serde_json::to_value(&quarantine).map(|mut v| {
            if let Some(object) = v.as_object_mut() {
                object.insert("disposition".into(), "quarantine".into());
            }
            v
        }),
    };
    // Serialising plain data to a Value cannot fail; say so rather than panic if it ever does.
    value.unwrap_or_else(|e| serde_json::json!({ "disposition": "error", "reason": e.to_string() }))
}

/// Reads one raw message (RFC 5322 bytes, as received over SMTP/LMTP or fetched over IMAP).
///
/// Every charset, encoded words, attachments, inline images, winmail.dat and attached messages
/// are handled; bounces, complaints and automatic mail are recognised. Input that is not mail, or
/// is over a [`Limits`] bound, gives `Err(Quarantine)`. Never panics.
pub fn read_message(raw: &[u8], options: &ReadOptions) -> Result<InboundMessage, Quarantine> {
    let limits = &options.limits;
    if raw.len() > limits.max_bytes {
        return Err(Quarantine::new(
            QuarantineKind::TooLarge,
            format!(
                "the message is {} bytes, over the limit of {} bytes",
                raw.len(),
                limits.max_bytes
            ),
        ));
    }
    if raw.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(Quarantine::new(
            QuarantineKind::NotAMessage,
            "the message is empty",
        ));
    }
    let raw = skip_leading_junk(raw);
    let parser = MessageParser::default();
    // mail-parser is well fuzzed, but a panic in it must still become a quarantine, not a dead
    // SMTP session: the promise is "never a panic" for any input.
    let parsed = std::panic::catch_unwind(AssertUnwindSafe(|| parser.parse(raw)));
    let message = match parsed {
        Ok(Some(message)) => message,
        Ok(None) => {
            return Err(Quarantine::new(
                QuarantineKind::Unparseable,
                "the MIME parser could not read the message",
            ))
        }
        Err(_) => {
            return Err(Quarantine::new(
                QuarantineKind::Unparseable,
                "the MIME parser failed on this message (internal error)",
            ))
        }
    };
    // mail-parser reads any first line as a header; a message needs at least one field that
    // e-mail really has.
    let has_mail_field = message.root_part().headers.iter().any(|h| {
        matches!(
            h.name.as_str().to_ascii_lowercase().as_str(),
            "from"
                | "sender"
                | "to"
                | "cc"
                | "subject"
                | "date"
                | "message-id"
                | "mime-version"
                | "content-type"
                | "received"
                | "return-path"
                | "reply-to"
                | "in-reply-to"
                | "references"
                | "delivered-to"
        )
    });
    if !has_mail_field {
        return Err(Quarantine::new(
            QuarantineKind::NotAMessage,
            "not an e-mail message: it has none of the header fields mail has (From, To, Subject, Date, …)",
        ));
    }
    let parts = check_structure(&message, limits)?;
    Ok(build(&message, raw.len(), parts, options))
}

/// Skips what sometimes precedes the header in saved or exported mail: a byte-order mark, blank
/// lines, and an mbox `From ` separator line. None of it is part of the message.
fn skip_leading_junk(mut raw: &[u8]) -> &[u8] {
    if let Some(rest) = raw.strip_prefix(b"\xEF\xBB\xBF") {
        raw = rest;
    }
    loop {
        let line_end = raw
            .iter()
            .position(|&b| b == b'\n')
            .map_or(raw.len(), |i| i + 1);
        let line = &raw[..line_end];
        let blank = line.iter().all(|b| b.is_ascii_whitespace());
        if (blank || line.starts_with(b"From ")) && line_end < raw.len() {
            raw = &raw[line_end..];
        } else {
            return raw;
        }
    }
}

/// Walks the whole part tree (with an explicit stack: hostile nesting must not overflow ours),
/// enforcing the limits and listing the parts.
fn check_structure(message: &Message<'_>, limits: &Limits) -> Result<Vec<PartInfo>, Quarantine> {
    let mut infos = Vec::new();
    let mut header_fields = 0usize;
    // (message, part id, depth)
    let mut stack: Vec<(&Message<'_>, usize, usize)> = vec![(message, 0, 0)];
    while let Some((msg, part_id, depth)) = stack.pop() {
        let Some(part) = msg.parts.get(part_id) else {
            continue;
        };
        if depth > limits.max_depth {
            return Err(Quarantine::new(
                QuarantineKind::TooDeep,
                format!(
                    "MIME parts are nested more than {} levels deep",
                    limits.max_depth
                ),
            ));
        }
        header_fields += part.headers.len();
        if header_fields > limits.max_header_fields {
            return Err(Quarantine::new(
                QuarantineKind::TooManyHeaderFields,
                format!(
                    "the message has more than {} header fields",
                    limits.max_header_fields
                ),
            ));
        }
        infos.push(PartInfo {
            depth,
            content_type: content_type_of(part),
            size: match &part.body {
                PartType::Multipart(_) => 0,
                _ => part.contents().len(),
            },
            filename: part.attachment_name().map(str::to_owned),
        });
        if infos.len() > limits.max_parts {
            return Err(Quarantine::new(
                QuarantineKind::TooManyParts,
                format!("the message has more than {} MIME parts", limits.max_parts),
            ));
        }
        match &part.body {
            PartType::Multipart(children) => {
                for &child in children.iter().rev() {
                    stack.push((msg, child as usize, depth + 1));
                }
            }
            PartType::Message(nested) => stack.push((nested, 0, depth + 1)),
            _ => {}
        }
    }
    Ok(infos)
}

fn build(
    message: &Message<'_>,
    size: usize,
    parts: Vec<PartInfo>,
    options: &ReadOptions,
) -> InboundMessage {
    let root = message.root_part();
    let mut notes = Vec::new();

    let mut text = (0..message.text_body_count())
        .filter_map(|i| message.body_text(i))
        .map(|t| t.into_owned())
        .collect::<Vec<_>>()
        .join("\n\n");
    let mut html_source: Vec<String> = message
        .html_body
        .iter()
        .filter_map(|&id| message.parts.get(id as usize))
        .filter_map(|part| match &part.body {
            PartType::Html(h) => Some(h.to_string()),
            _ => None,
        })
        .collect();
    if message.parts.iter().any(|p| p.is_encoding_problem) {
        notes.push(
            "a part had a broken transfer encoding; it was decoded as far as possible".into(),
        );
    }

    let mut attachments = Vec::new();
    for &id in &message.attachments {
        let Some(part) = message.parts.get(id as usize) else {
            continue;
        };
        let content_type = content_type_of(part);
        let filename = part.attachment_name().map(str::to_owned).or_else(|| {
            part.message()
                .map(|m| format!("{}.eml", m.subject().unwrap_or("message")))
        });
        let bytes = part.contents().to_vec();
        if tnef::is_tnef(&content_type, filename.as_deref()) {
            match tnef::unpack(&bytes) {
                Ok(unpacked) => {
                    for mut file in unpacked.attachments {
                        file.from_winmail_dat = true;
                        attachments.push(file);
                    }
                    if html_source.is_empty() {
                        if let Some(body) = unpacked.html_body {
                            html_source.push(body);
                        }
                    }
                    if text.trim().is_empty() {
                        if let Some(body) = unpacked.text_body {
                            text = body;
                        }
                    }
                    if unpacked.has_rtf_body {
                        notes.push(
                            "winmail.dat carries an RTF body, which is not shown; the text part is"
                                .into(),
                        );
                    }
                    continue;
                }
                Err(error) => notes.push(format!(
                    "winmail.dat could not be unpacked ({error}); it is kept as an attachment"
                )),
            }
        }
        let inline = part
            .content_disposition()
            .map(|d| d.is_inline())
            .unwrap_or(false);
        attachments.push(Attachment::new(
            filename,
            content_type,
            part.content_id().map(trim_angle),
            bytes,
            inline,
        ));
    }

    let mut blocked_remote_images = 0;
    let html = if html_source.is_empty() {
        None
    } else {
        let sanitised = html::sanitise(&html_source.join("\n"));
        blocked_remote_images = sanitised.remote_images;
        for cid in &sanitised.cid_references {
            for attachment in &mut attachments {
                if attachment.content_id.as_deref() == Some(cid.as_str()) {
                    attachment.inline = true;
                }
            }
        }
        Some(sanitised.html)
    };

    let from = mailboxes(message.from()).into_iter().next();
    let report = bounce::detect(message, &text);
    let headers = noise::HeaderFacts::of(root);
    let verdict = noise::assess(
        &headers,
        from.as_ref(),
        message.subject().unwrap_or(""),
        report.as_ref(),
        &options.own_addresses,
    );

    InboundMessage {
        message_id: message.message_id().map(trim_angle),
        in_reply_to: ids(message.in_reply_to()),
        references: ids(message.references()),
        from,
        reply_to: mailboxes(message.reply_to()),
        to: mailboxes(message.to()),
        cc: mailboxes(message.cc()),
        delivered_to: headers.delivered_to.clone(),
        return_path: headers.return_path.clone(),
        subject: message.subject().unwrap_or("").to_owned(),
        date_ms: message
            .date()
            .map(|d| d.to_timestamp().saturating_mul(1000)),
        text_segments: quote::segments(&text),
        text,
        html,
        blocked_remote_images,
        attachments,
        verdict,
        report,
        size,
        parts,
        notes,
    }
}

/// `type/subtype` in lower case, with MIME defaults for parts that do not say.
pub(crate) fn content_type_of(part: &MessagePart<'_>) -> String {
    match part.content_type() {
        Some(ct) => match ct.subtype() {
            Some(sub) => format!("{}/{}", ct.ctype(), sub).to_ascii_lowercase(),
            None => ct.ctype().to_ascii_lowercase(),
        },
        None => match &part.body {
            PartType::Text(_) => "text/plain".into(),
            PartType::Html(_) => "text/html".into(),
            PartType::Message(_) => "message/rfc822".into(),
            PartType::Multipart(_) => "multipart/mixed".into(),
            PartType::Binary(_) | PartType::InlineBinary(_) => "application/octet-stream".into(),
        },
    }
}

fn trim_angle(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned()
}

fn ids(value: &HeaderValue<'_>) -> Vec<String> {
    match value {
        HeaderValue::Text(id) => vec![trim_angle(id)],
        HeaderValue::TextList(list) => list.iter().map(|id| trim_angle(id)).collect(),
        _ => Vec::new(),
    }
}

pub(crate) fn mailboxes(address: Option<&Address<'_>>) -> Vec<Mailbox> {
    let Some(address) = address else {
        return Vec::new();
    };
    address
        .iter()
        .filter_map(|addr| {
            let address = addr.address()?.trim();
            if address.is_empty() {
                return None;
            }
            Some(Mailbox {
                address: address.to_owned(),
                name: addr
                    .name()
                    .map(str::trim)
                    .filter(|n| !n.is_empty())
                    .map(str::to_owned),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn read(raw: &str) -> InboundMessage {
        read_message(raw.as_bytes(), &ReadOptions::default()).unwrap()
    }

    #[test]
    fn headers_bodies_and_threading_keys_are_read() {
        let m = read(
            "From: =?utf-8?q?Ren=C3=A9e?= <renee@example.test>\r\n\
             To: support@acme.test, Bob <bob@acme.test>\r\n\
             Reply-To: other@example.test\r\n\
             Subject: =?iso-8859-1?q?Caf=E9?= order\r\n\
             Message-ID: <abc@example.test>\r\n\
             In-Reply-To: <r1@acme.test>\r\n\
             References: <r0@acme.test> <r1@acme.test>\r\n\
             Date: Tue, 1 Jul 2025 10:00:00 +0200\r\n\
             Delivered-To: support+c12-0123456789@acme.test\r\n\
             \r\n\
             Hello\r\n",
        );
        assert_eq!(m.from.as_ref().unwrap().name.as_deref(), Some("Renée"));
        assert_eq!(m.subject, "Café order");
        assert_eq!(m.message_id.as_deref(), Some("abc@example.test"));
        assert_eq!(m.in_reply_to, vec!["r1@acme.test"]);
        assert_eq!(m.references, vec!["r0@acme.test", "r1@acme.test"]);
        assert_eq!(m.to.len(), 2);
        assert_eq!(m.reply_to[0].address, "other@example.test");
        assert_eq!(m.delivered_to, vec!["support+c12-0123456789@acme.test"]);
        assert_eq!(m.date_ms, Some(1_751_356_800_000));
        assert_eq!(m.text.trim(), "Hello");
        assert_eq!(m.disposition(), Disposition::Message);
    }

    #[test]
    fn inline_cid_images_are_attachments_marked_inline() {
        let m = read(concat!(
            "From: a@example.test\r\nSubject: pic\r\nMIME-Version: 1.0\r\n",
            "Content-Type: multipart/related; boundary=b\r\n\r\n",
            "--b\r\nContent-Type: text/html\r\n\r\n<p>see <img src=\"cid:img1@x\"> and ",
            "<img src=\"http://tracker.test/p.gif\"></p>\r\n",
            "--b\r\nContent-Type: image/png\r\nContent-ID: <img1@x>\r\n",
            "Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--b--\r\n"
        ));
        assert_eq!(m.attachments.len(), 1);
        let image = &m.attachments[0];
        assert_eq!(image.content_id.as_deref(), Some("img1@x"));
        assert!(image.inline);
        assert_eq!(image.bytes, b"\x89PNG\r\n\x1a\n");
        let html = m.html.unwrap();
        assert!(html.contains("data-rapport-cid=\"img1@x\""), "{html}");
        assert_eq!(m.blocked_remote_images, 1);
    }

    #[test]
    fn attached_messages_are_kept_as_eml_attachments() {
        let m = read(concat!(
            "From: a@example.test\r\nSubject: fwd\r\nMIME-Version: 1.0\r\n",
            "Content-Type: multipart/mixed; boundary=b\r\n\r\n",
            "--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n",
            "--b\r\nContent-Type: message/rfc822\r\n\r\n",
            "From: c@example.test\r\nSubject: Inner\r\n\r\ninner body\r\n--b--\r\n"
        ));
        assert_eq!(m.attachments.len(), 1);
        assert_eq!(m.attachments[0].content_type, "message/rfc822");
        assert_eq!(m.attachments[0].filename.as_deref(), Some("Inner.eml"));
        assert!(String::from_utf8_lossy(&m.attachments[0].bytes).contains("inner body"));
    }

    #[test]
    fn describe_prints_the_summary_or_the_quarantine() {
        let ok = describe(
            b"From: a@x.test\r\nSubject: hi\r\n\r\nbody\r\n",
            &ReadOptions::default(),
        );
        assert_eq!(ok["disposition"], "message");
        assert_eq!(ok["subject"], "hi");
        assert_eq!(ok["verdict"]["verdict"], "person");
        let bad = describe(b"", &ReadOptions::default());
        assert_eq!(bad["disposition"], "quarantine");
        assert_eq!(bad["kind"], "not_a_message");
    }

    #[test]
    fn bodies_in_every_charset_come_out_as_utf8() {
        let cases: [(&str, &[u8], &str); 5] = [
            ("iso-8859-1", b"caf\xe9", "café"),
            ("windows-1251", b"\xcf\xf0\xe8\xe2\xe5\xf2", "Привет"),
            ("koi8-r", b"\xf0\xd2\xc9\xd7\xc5\xd4", "Привет"),
            (
                "shift_jis",
                b"\x82\xb1\x82\xf1\x82\xc9\x82\xbf\x82\xcd",
                "こんにちは",
            ),
            ("iso-2022-jp", b"\x1b$B$3$s$K$A$O\x1b(B", "こんにちは"),
        ];
        for (charset, body, expected) in cases {
            let mut raw = format!(
                "From: a@x.test\r\nSubject: =?{charset}?B?{}?=\r\nContent-Type: text/plain; charset={charset}\r\n\r\n",
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, body)
            )
            .into_bytes();
            raw.extend_from_slice(body);
            let m = read_message(&raw, &ReadOptions::default()).unwrap();
            assert_eq!(m.text.trim(), expected, "body in {charset}");
            assert_eq!(m.subject, expected, "encoded-word subject in {charset}");
        }
    }

    #[test]
    fn every_limit_quarantines_with_its_reason() {
        let nested = format!(
            "From: a@x\r\nContent-Type: multipart/mixed; boundary=b0\r\n\r\n{}",
            (0..30)
                .map(|i| format!(
                    "--b{i}\r\nContent-Type: multipart/mixed; boundary=b{}\r\n\r\n",
                    i + 1
                ))
                .collect::<String>()
        );
        let many_headers = format!("From: a@x\r\n{}\r\nhi\r\n", "X-A: 1\r\n".repeat(6_000));
        let many_parts = format!(
            "From: a@x\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n{}--b--\r\n",
            "--b\r\n\r\nx\r\n".repeat(1_100)
        );
        let cases: [(&str, Vec<u8>, QuarantineKind); 6] = [
            (
                "too large",
                vec![b'a'; 51 * 1024 * 1024],
                QuarantineKind::TooLarge,
            ),
            ("empty", b"\r\n \r\n".to_vec(), QuarantineKind::NotAMessage),
            (
                "no headers",
                b"just some text without a colon".to_vec(),
                QuarantineKind::NotAMessage,
            ),
            ("deep", nested.into_bytes(), QuarantineKind::TooDeep),
            (
                "headers",
                many_headers.into_bytes(),
                QuarantineKind::TooManyHeaderFields,
            ),
            (
                "parts",
                many_parts.into_bytes(),
                QuarantineKind::TooManyParts,
            ),
        ];
        for (name, raw, kind) in cases {
            let err = read_message(&raw, &ReadOptions::default()).unwrap_err();
            assert_eq!(err.kind, kind, "case {name}: {}", err.reason);
            assert!(!err.reason.is_empty());
        }
    }
}
