//! A reply (or an automatic mail) to MIME bytes, with the headers that thread it.

use mail_builder::headers::address::Address;
use mail_builder::headers::message_id::MessageId;
use mail_builder::headers::raw::Raw;
use mail_builder::MessageBuilder;

use crate::parse::Mailbox;
use crate::thread::ThreadKey;

/// A file to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingAttachment {
    /// File name shown to the recipient.
    pub filename: String,
    /// `type/subtype`.
    pub content_type: String,
    /// Content.
    pub bytes: Vec<u8>,
}

/// Everything a reply says. Time and randomness come in as values.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The mailbox it is sent from (`support@acme.test`).
    pub from: Mailbox,
    /// Recipients.
    pub to: Vec<Mailbox>,
    /// Copy recipients.
    pub cc: Vec<Mailbox>,
    /// Subject; `[#number]` is added when missing.
    pub subject: String,
    /// The text body.
    pub text: String,
    /// The HTML body, when the agent wrote rich text.
    pub html: Option<String>,
    /// Files.
    pub attachments: Vec<OutgoingAttachment>,
    /// The conversation number.
    pub conversation: u64,
    /// Message-ID of the message answered (without angle brackets).
    pub in_reply_to: Option<String>,
    /// The References of the message answered plus its Message-ID, oldest first.
    pub references: Vec<String>,
    /// Sent by Rapport itself (acknowledgement, notice): marked `Auto-Submitted: auto-replied`
    /// so that well-behaved responders do not answer it.
    pub automatic: bool,
    /// The Date header, milliseconds since the epoch.
    pub date_ms: i64,
}

/// The composed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComposedMessage {
    /// Its Message-ID without angle brackets (record it: replies will point at it).
    pub message_id: String,
    /// RFC 5322 bytes with CRLF line ends, ready for SMTP.
    pub bytes: Vec<u8>,
}

/// Why a reply could not be composed.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    /// The reply has nobody to go to.
    #[error("the reply has no recipient")]
    NoRecipient,
    /// mail-builder failed to write (it writes to memory, so this is unexpected).
    #[error("could not write the message: {0}")]
    Write(#[from] std::io::Error),
}

/// A Message-ID from 16 random bytes (passed in) and the sending domain.
pub fn message_id(random: [u8; 16], domain: &str) -> String {
    format!("{}@{}", hex::encode(random), domain)
}

/// Builds the MIME message for `reply`. `random` makes the Message-ID unique.
///
/// Reply-To carries the conversation token (`support+c12-…@acme.test`), the text body ends with
/// the `[ref:…]` marker, the subject carries `[#12]`, and `X-Loop` names the sending mailbox so
/// that Rapport recognises its own mail if it comes back.
pub fn compose_reply(
    reply: &Reply,
    key: &ThreadKey,
    random: [u8; 16],
) -> Result<ComposedMessage, ComposeError> {
    if reply.to.is_empty() && reply.cc.is_empty() {
        return Err(ComposeError::NoRecipient);
    }
    let from_address = address_only(&reply.from.address);
    let domain = from_address
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or("localhost");
    let id = message_id(random, domain);
    let marker = key.body_marker(reply.conversation);
    let subject_tag = format!("[#{}]", reply.conversation);
    let subject = one_line(&reply.subject);
    let subject = if subject.contains(&subject_tag) {
        subject
    } else {
        format!("{} {subject_tag}", subject.trim_end())
    };
    let reply_to = key.reply_address(&from_address, reply.conversation);

    let mut builder = MessageBuilder::new()
        .from(address(&reply.from))
        .reply_to(Address::new_address(
            reply.from.name.as_deref().map(one_line),
            reply_to,
        ))
        .subject(subject)
        .message_id(id.clone())
        .date(reply.date_ms.div_euclid(1000))
        .header("X-Loop", Raw::new(from_address.clone()))
        .text_body(format!("{}\n\n{marker}\n", reply.text.trim_end()));
    if !reply.to.is_empty() {
        builder = builder.to(Address::new_list(reply.to.iter().map(address).collect()));
    }
    if !reply.cc.is_empty() {
        builder = builder.cc(Address::new_list(reply.cc.iter().map(address).collect()));
    }
    if let Some(in_reply_to) = &reply.in_reply_to {
        builder = builder.in_reply_to(id_only(in_reply_to));
    }
    if !reply.references.is_empty() {
        builder = builder.references(MessageId::new_list(
            reply.references.iter().map(|id| id_only(id)),
        ));
    }
    if reply.automatic {
        builder = builder
            .header("Auto-Submitted", Raw::new("auto-replied"))
            .header("X-Auto-Response-Suppress", Raw::new("All"))
            .header("Precedence", Raw::new("auto_reply"));
    }
    if let Some(html) = &reply.html {
        builder = builder.html_body(format!(
            "{html}\n<p style=\"color:#999;font-size:10px\">{marker}</p>\n"
        ));
    }
    for attachment in &reply.attachments {
        builder = builder.attachment(
            address_only(&attachment.content_type),
            one_line(&attachment.filename),
            attachment.bytes.clone(),
        );
    }
    Ok(ComposedMessage {
        message_id: id,
        bytes: builder.write_to_vec()?,
    })
}

/// A message Rapport sends about no conversation (a portal sign-in link): plain text from a
/// support mailbox, marked `Auto-Submitted: auto-generated` so that responders leave it alone.
#[derive(Debug, Clone)]
pub struct Notice {
    /// The mailbox it is sent from.
    pub from: Mailbox,
    /// The one recipient.
    pub to: Mailbox,
    /// Subject.
    pub subject: String,
    /// The text body.
    pub text: String,
    /// The Date header, milliseconds since the epoch.
    pub date_ms: i64,
}

/// Builds the MIME message of a notice. `random` makes the Message-ID unique.
pub fn compose_notice(notice: &Notice, random: [u8; 16]) -> Result<ComposedMessage, ComposeError> {
    let to = address_only(&notice.to.address);
    if to.is_empty() {
        return Err(ComposeError::NoRecipient);
    }
    let from_address = address_only(&notice.from.address);
    let domain = from_address
        .rsplit_once('@')
        .map(|(_, d)| d)
        .unwrap_or("localhost");
    let id = message_id(random, domain);
    let builder = MessageBuilder::new()
        .from(address(&notice.from))
        .to(address(&notice.to))
        .subject(one_line(&notice.subject))
        .message_id(id.clone())
        .date(notice.date_ms.div_euclid(1000))
        .header("X-Loop", Raw::new(from_address.clone()))
        .header("Auto-Submitted", Raw::new("auto-generated"))
        .header("X-Auto-Response-Suppress", Raw::new("All"))
        .text_body(format!("{}\n", notice.text.trim_end()));
    Ok(ComposedMessage {
        message_id: id,
        bytes: builder.write_to_vec()?,
    })
}

fn address(mailbox: &Mailbox) -> Address<'static> {
    Address::new_address(
        mailbox.name.as_deref().map(one_line),
        address_only(&mailbox.address),
    )
}

// mail-builder writes header values as given: a line break in a subject, a name or an id would
// start a new header (header injection, e.g. a Bcc). Every value is made single-line first.

/// Control characters (CR, LF, …) become spaces.
fn one_line(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// An address or a content type: no spaces, controls, brackets or quotes at all.
fn address_only(value: &str) -> String {
    value
        .chars()
        .filter(|c| !(c.is_control() || c.is_whitespace() || "<>\"(),;".contains(*c)))
        .collect()
}

/// A message id without angle brackets, spaces or controls.
fn id_only(value: &str) -> String {
    value
        .chars()
        .filter(|c| !(c.is_control() || c.is_whitespace() || *c == '<' || *c == '>'))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::thread::{decide_thread, Rule, ThreadDecision, ThreadLookup};
    use crate::{read_message, ReadOptions, Verdict};

    fn key() -> ThreadKey {
        ThreadKey::new(b"compose test key".to_vec())
    }

    fn reply(automatic: bool) -> Reply {
        Reply {
            from: Mailbox {
                address: "support@acme.test".into(),
                name: Some("ACME Support".into()),
            },
            to: vec![Mailbox {
                address: "ann@example.test".into(),
                name: Some("Ann Ünicode".into()),
            }],
            cc: vec![],
            subject: "Re: Refund".into(),
            text: "Your refund is on its way.\nÄ line with ümlauts.".into(),
            html: Some("<p>Your refund is on its way.</p>".into()),
            attachments: vec![OutgoingAttachment {
                filename: "receipt.pdf".into(),
                content_type: "application/pdf".into(),
                bytes: b"%PDF-1.4 fake".to_vec(),
            }],
            conversation: 1234,
            in_reply_to: Some("in-1@example.test".into()),
            references: vec!["out-0@acme.test".into(), "in-1@example.test".into()],
            automatic,
            date_ms: 1_751_356_800_000,
        }
    }

    /// The composed bytes with mail-builder's random boundaries replaced by B1, B2, … in order.
    fn with_stable_boundaries(bytes: &[u8]) -> String {
        let mut text = String::from_utf8_lossy(bytes).into_owned();
        let mut n = 0;
        while let Some(at) = text.find("boundary=\"") {
            let start = at + "boundary=\"".len();
            let Some(len) = text[start..].find('"') else {
                break;
            };
            let boundary = text[start..start + len].to_owned();
            n += 1;
            text = text.replace(
                &format!("boundary=\"{boundary}\""),
                &format!("boundary:B{n}"),
            );
            text = text.replace(&boundary, &format!("B{n}"));
        }
        text
    }

    #[test]
    fn a_composed_reply_matches_its_snapshot() {
        let composed = compose_reply(&reply(false), &key(), [7; 16]).unwrap();
        let expected = "From: \"ACME Support\" <support@acme.test>\r
Reply-To: \"ACME Support\" <support+c1234-66076abdc9@acme.test>\r
Subject: Re: Refund [#1234]\r
Message-ID: <07070707070707070707070707070707@acme.test>\r
Date: Tue, 1 Jul 2025 08:00:00 +0000\r
X-Loop: support@acme.test\r
To: \"=?utf-8?B?QW5uIMOcbmljb2Rl?=\" <ann@example.test>\r
In-Reply-To: <in-1@example.test>\r
References: <out-0@acme.test> <in-1@example.test>\r
MIME-Version: 1.0\r
Content-Type: multipart/mixed; \r
\tboundary:B1\r
\r
\r
--B1\r
Content-Type: multipart/alternative; \r
\tboundary:B2\r
\r
\r
--B2\r
Content-Type: text/plain; charset=\"utf-8\"\r
Content-Transfer-Encoding: quoted-printable\r
\r
Your refund is on its way.\r
=C3=84 line with =C3=BCmlauts.\r
\r
[ref:c1234-66076abdc9]\r
\r
--B2\r
Content-Type: text/html; charset=\"utf-8\"\r
Content-Transfer-Encoding: 7bit\r
\r
<p>Your refund is on its way.</p>\r
<p style=\"color:#999;font-size:10px\">[ref:c1234-66076abdc9]</p>\r
\r
--B2--\r
\r
--B1\r
Content-Type: application/pdf\r
Content-Disposition: attachment; filename=\"receipt.pdf\"\r
Content-Transfer-Encoding: base64\r
\r
JVBERi0xLjQgZmFrZQ==\r
\r
--B1--\r
";
        assert_eq!(with_stable_boundaries(&composed.bytes), expected);
    }

    #[test]
    fn a_composed_reply_reads_back_with_every_threading_header() {
        let composed = compose_reply(&reply(false), &key(), [7; 16]).unwrap();
        assert_eq!(
            composed.message_id,
            format!("{}@acme.test", "07".repeat(16))
        );
        let m = read_message(&composed.bytes, &ReadOptions::default()).unwrap();
        assert_eq!(m.message_id.as_deref(), Some(composed.message_id.as_str()));
        assert_eq!(m.in_reply_to, vec!["in-1@example.test"]);
        assert_eq!(m.references, vec!["out-0@acme.test", "in-1@example.test"]);
        assert_eq!(m.subject, "Re: Refund [#1234]");
        assert_eq!(m.date_ms, Some(1_751_356_800_000));
        assert_eq!(m.to[0].name.as_deref(), Some("Ann Ünicode"));
        assert_eq!(
            m.reply_to[0].address,
            key().reply_address("support@acme.test", 1234)
        );
        assert!(m.text.contains("ümlauts"));
        assert!(m.text.contains(&key().body_marker(1234)));
        assert!(m.html.as_deref().unwrap().contains("refund is on its way"));
        assert_eq!(m.attachments.len(), 1);
        assert_eq!(m.attachments[0].filename.as_deref(), Some("receipt.pdf"));
        assert_eq!(m.attachments[0].bytes, b"%PDF-1.4 fake");
        let raw = String::from_utf8_lossy(&composed.bytes);
        assert!(raw.contains("X-Loop: support@acme.test\r\n"), "{raw}");
        assert!(!raw.contains("Auto-Submitted"));
        assert_eq!(m.verdict, Verdict::Person);
    }

    #[test]
    fn automatic_mail_is_marked_and_recognised_as_noise() {
        let composed = compose_reply(&reply(true), &key(), [1; 16]).unwrap();
        let raw = String::from_utf8_lossy(&composed.bytes);
        assert!(raw.contains("Auto-Submitted: auto-replied\r\n"), "{raw}");
        let m = read_message(&composed.bytes, &ReadOptions::default()).unwrap();
        assert!(!m.verdict.is_person());
    }

    #[test]
    fn mail_that_comes_back_to_rapport_is_a_loop() {
        let composed = compose_reply(&reply(false), &key(), [2; 16]).unwrap();
        let options = ReadOptions {
            own_addresses: vec!["support@acme.test".into()],
            ..ReadOptions::default()
        };
        let m = read_message(&composed.bytes, &options).unwrap();
        assert!(!m.verdict.is_person());
    }

    #[test]
    fn the_customers_answer_threads_by_token_even_without_message_ids() {
        struct Only1234;
        impl ThreadLookup for Only1234 {
            fn conversation_of_message_id(&self, _: &str) -> Option<u64> {
                None
            }
            fn conversation_exists(&self, n: u64) -> bool {
                n == 1234
            }
            fn is_participant(&self, _: u64, _: &str) -> bool {
                false
            }
        }
        let composed = compose_reply(&reply(false), &key(), [3; 16]).unwrap();
        let sent = read_message(&composed.bytes, &ReadOptions::default()).unwrap();
        let answer = format!(
            "From: ann@example.test\r\nTo: {}\r\nSubject: Re: {}\r\n\r\nthanks\r\n",
            sent.reply_to[0].address, sent.subject
        );
        let m = read_message(answer.as_bytes(), &ReadOptions::default()).unwrap();
        assert_eq!(
            decide_thread(&m, &key(), &Only1234),
            ThreadDecision::Existing {
                number: 1234,
                by: Rule::TokenInAddress
            }
        );
    }

    #[test]
    fn line_breaks_in_fields_cannot_inject_headers() {
        let mut r = reply(false);
        r.subject = "Hi\r\nBcc: evil@x.test".into();
        r.to[0].name = Some("Ann\r\nBcc: evil@x.test".into());
        r.in_reply_to = Some("x@y>\r\nBcc: evil@x.test".into());
        let composed = compose_reply(&r, &key(), [4; 16]).unwrap();
        let raw = String::from_utf8_lossy(&composed.bytes);
        assert!(!raw.contains("\nBcc:"), "{raw}");
        let m = read_message(&composed.bytes, &ReadOptions::default()).unwrap();
        assert_eq!(m.to.len(), 1);
    }

    #[test]
    fn a_reply_without_recipients_is_refused() {
        let mut r = reply(false);
        r.to.clear();
        assert!(matches!(
            compose_reply(&r, &key(), [0; 16]),
            Err(ComposeError::NoRecipient)
        ));
    }

    #[test]
    fn a_notice_goes_to_its_one_recipient_as_automatic_plain_text() {
        let notice = Notice {
            from: Mailbox {
                address: "support@acme.test".into(),
                name: Some("Acme Support".into()),
            },
            to: Mailbox {
                address: "ann@example.org".into(),
                name: None,
            },
            subject: "Your sign-in link\r\nBcc: evil@x.test".into(),
            text: "Open https://help.acme.test/login/link/abc within 15 minutes.".into(),
            date_ms: 1_767_261_600_000,
        };
        let composed = compose_notice(&notice, [7; 16]).unwrap();
        let message = read_message(&composed.bytes, &ReadOptions::default()).unwrap();
        assert_eq!(message.to.len(), 1);
        assert_eq!(message.to[0].address, "ann@example.org");
        assert!(message
            .text
            .contains("https://help.acme.test/login/link/abc"));
        assert!(!message.verdict.is_person(), "{:?}", message.verdict);
        let raw = String::from_utf8_lossy(&composed.bytes);
        assert!(
            !raw.contains("\r\nBcc:"),
            "no header injection through the subject"
        );
        assert!(composed.message_id.ends_with("@acme.test"));
    }
}
