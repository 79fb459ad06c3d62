//! Reports about mail Rapport sent: bounces (delivery status notifications, RFC 3464, and the
//! common plain-text formats), spam complaints (ARF, RFC 5965) and read receipts (RFC 8098).

use mail_parser::{Message, MessageParser, PartType};
use serde::Serialize;

use crate::noise::header_text;
use crate::parse::content_type_of;

/// A machine-written report about an earlier message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "report", rename_all = "snake_case")]
pub enum Report {
    /// Delivery failed or is delayed.
    Bounce(BounceReport),
    /// A recipient marked the mail as spam.
    Complaint(Complaint),
    /// A recipient's client says the mail was displayed, deleted, …
    ReadReceipt(ReadReceipt),
}

/// A delivery status notification, standard or not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BounceReport {
    /// Message-ID of the mail that bounced (from the returned headers), to find its conversation.
    pub original_message_id: Option<String>,
    /// One entry per recipient the report is about (may be empty for an unreadable report).
    pub recipients: Vec<BounceRecipient>,
    /// `true` for RFC 3464 `message/delivery-status`; `false` when read from free text.
    pub standard: bool,
}

/// What happened to one recipient.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BounceRecipient {
    /// The recipient address.
    pub address: String,
    /// RFC 3464 action: `failed`, `delayed`, `delivered`, `relayed`, `expanded`.
    pub action: Option<String>,
    /// Enhanced status code such as `5.1.1`.
    pub status: Option<String>,
    /// A permanent failure: stop mailing this address. Delays and 4.x.x are not hard.
    pub hard: bool,
    /// What the remote server said.
    pub diagnostic: Option<String>,
}

/// An ARF feedback report: someone pressed "this is spam".
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Complaint {
    /// `abuse`, `fraud`, `virus`, `not-spam`, …
    pub feedback_type: String,
    /// The reporting software.
    pub user_agent: Option<String>,
    /// The envelope sender of the reported mail.
    pub original_mail_from: Option<String>,
    /// Who complained (often redacted by the provider).
    pub original_recipients: Vec<String>,
    /// Message-ID of the reported mail.
    pub original_message_id: Option<String>,
    /// The domain the report is about.
    pub reported_domain: Option<String>,
}

/// A message disposition notification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReadReceipt {
    /// Message-ID of the mail it is about.
    pub original_message_id: Option<String>,
    /// The disposition, e.g. `automatic-action/MDN-sent-automatically; displayed`.
    pub disposition: Option<String>,
    /// The recipient who read it.
    pub final_recipient: Option<String>,
}

/// Finds the report in a message, if it is one. `text` is the message's text body.
pub(crate) fn detect(message: &Message<'_>, text: &str) -> Option<Report> {
    let mut delivery_status = None;
    let mut feedback = None;
    let mut disposition = None;
    let mut returned_id = None;
    for part in &message.parts {
        let content_type = content_type_of(part);
        match content_type.as_str() {
            "message/delivery-status" | "message/global-delivery-status" => {
                delivery_status.get_or_insert_with(|| body_string(part.contents()));
            }
            "message/feedback-report" => {
                feedback.get_or_insert_with(|| body_string(part.contents()));
            }
            "message/disposition-notification" | "message/global-disposition-notification" => {
                disposition.get_or_insert_with(|| body_string(part.contents()));
            }
            "message/rfc822"
            | "message/global"
            | "text/rfc822-headers"
            | "message/rfc822-headers"
            | "message/global-headers"
                if returned_id.is_none() =>
            {
                returned_id = match &part.body {
                    PartType::Message(nested) => nested.message_id().map(clean_id),
                    _ => message_id_in_headers(part.contents()),
                };
            }
            _ => {}
        }
    }
    // A report sometimes arrives with only the delivery-status part as the whole message.
    if let Some(fields) = feedback {
        return Some(Report::Complaint(parse_feedback(&fields, returned_id)));
    }
    if let Some(fields) = disposition {
        let fields = Fields::parse(&fields);
        return Some(Report::ReadReceipt(ReadReceipt {
            original_message_id: fields
                .get("original-message-id")
                .map(clean_id)
                .or(returned_id),
            disposition: fields.get("disposition").map(str::to_owned),
            final_recipient: fields.get("final-recipient").map(address_of_typed),
        }));
    }
    if let Some(fields) = delivery_status {
        let mut recipients = parse_delivery_status(&fields);
        if recipients.is_empty() {
            recipients = recipients_from_text(message, text);
        }
        return Some(Report::Bounce(BounceReport {
            original_message_id: returned_id.or_else(|| message_id_in_text(text)),
            recipients,
            standard: true,
        }));
    }
    // A multipart whose boundary is broken comes out as one opaque part with no text: read
    // its raw content instead.
    let raw_body;
    let text = if text.trim().is_empty() {
        raw_body = body_string(message.root_part().contents());
        raw_body.as_str()
    } else {
        text
    };
    if looks_like_plain_bounce(message, text) {
        // Delivery-status fields pasted into the text (broken MIME) are still the best source.
        let mut recipients = parse_delivery_status(text);
        if recipients.is_empty() {
            recipients = recipients_from_text(message, text);
        }
        return Some(Report::Bounce(BounceReport {
            original_message_id: returned_id.or_else(|| message_id_in_text(notice_tail(text))),
            recipients,
            standard: false,
        }));
    }
    None
}

fn body_string(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn clean_id(id: &str) -> String {
    id.trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .to_owned()
}

fn message_id_in_headers(bytes: &[u8]) -> Option<String> {
    MessageParser::default()
        .parse_headers(bytes)
        .and_then(|m| m.message_id().map(clean_id))
        .or_else(|| message_id_in_text(&String::from_utf8_lossy(bytes)))
}

/// A `Message-ID:` line in free text (returned headers pasted into a plain-text bounce).
fn message_id_in_text(text: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let trimmed = line.trim_start();
        let (name, value) = trimmed.split_once(':')?;
        if !name.eq_ignore_ascii_case("message-id") {
            return None;
        }
        let value = value.trim();
        let inner = match (value.find('<'), value.find('>')) {
            (Some(a), Some(b)) if a < b => &value[a + 1..b],
            _ => value,
        };
        (inner.contains('@')).then(|| inner.to_owned())
    })
}

/// `name: value` fields with continuation lines unfolded; names lower-cased. Blank lines are
/// kept as `None` separators.
struct Fields {
    entries: Vec<Option<(String, String)>>,
}

impl Fields {
    fn parse(text: &str) -> Fields {
        let mut entries: Vec<Option<(String, String)>> = Vec::new();
        for line in text.lines() {
            if line.trim().is_empty() {
                entries.push(None);
            } else if line.starts_with([' ', '\t']) {
                if let Some(Some((_, value))) = entries.last_mut() {
                    value.push(' ');
                    value.push_str(line.trim());
                }
            } else if let Some((name, value)) = line.split_once(':') {
                entries.push(Some((
                    name.trim().to_ascii_lowercase(),
                    value.trim().to_owned(),
                )));
            }
        }
        Fields { entries }
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .flatten()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn all(&self, name: &str) -> Vec<&str> {
        self.entries
            .iter()
            .flatten()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

/// `rfc822; <ann@example.test>` → `ann@example.test`.
fn address_of_typed(value: &str) -> String {
    let address = match value.split_once(';') {
        Some((_, a)) => a,
        None => value,
    };
    address
        .trim()
        .trim_start_matches('<')
        .trim_end_matches('>')
        .trim()
        .to_owned()
}

/// The per-recipient blocks of a delivery-status body. A new recipient starts at each
/// Final-Recipient (or an Original-Recipient not directly followed by its Final-Recipient), so
/// reports with missing or extra blank lines read the same.
fn parse_delivery_status(body: &str) -> Vec<BounceRecipient> {
    let fields = Fields::parse(body);
    let mut blocks: Vec<Vec<(String, String)>> = Vec::new();
    let mut current: Option<Vec<(String, String)>> = None;
    for (name, value) in fields.entries.into_iter().flatten() {
        // Original-Recipient and Final-Recipient may come in either order; a second one of the
        // same name, or one after the block's Action, begins the next recipient.
        let starts_recipient = matches!(name.as_str(), "final-recipient" | "original-recipient")
            && current.as_ref().is_none_or(|c| {
                c.iter()
                    .any(|(n, _)| n == &name || n == "action" || n == "status")
            });
        if starts_recipient {
            if let Some(done) = current.take() {
                blocks.push(done);
            }
            current = Some(Vec::new());
        }
        if let Some(block) = current.as_mut() {
            block.push((name, value));
        }
    }
    blocks.extend(current);
    blocks
        .into_iter()
        .filter_map(|block| {
            let get = |n: &str| block.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
            let address = get("final-recipient")
                .or_else(|| get("original-recipient"))
                .map(|v| address_of_typed(&v))
                .filter(|a| !a.is_empty())?;
            let action = get("action").map(|a| a.to_ascii_lowercase());
            let status = get("status").and_then(|s| find_status_code(&s));
            let diagnostic = get("diagnostic-code").map(|d| match d.split_once(';') {
                Some((kind, rest)) if !kind.contains(' ') => rest.trim().to_owned(),
                _ => d,
            });
            let hard = is_hard(action.as_deref(), status.as_deref(), diagnostic.as_deref());
            Some(BounceRecipient {
                address,
                action,
                status,
                hard,
                diagnostic,
            })
        })
        .collect()
}

fn is_hard(action: Option<&str>, status: Option<&str>, diagnostic: Option<&str>) -> bool {
    if let Some("delayed" | "delivered" | "relayed" | "expanded") = action {
        return false;
    }
    match status {
        Some(s) if s.starts_with('5') => true,
        Some(_) => false,
        None => {
            action == Some("failed")
                || diagnostic.is_some_and(|d| {
                    let d = d.to_ascii_lowercase();
                    d.contains("permanent")
                        || d.contains("does not exist")
                        || d.contains("unknown user")
                        || d.contains("user unknown")
                        || d.contains("no such user")
                        || smtp_code(&d).is_some_and(|c| c.starts_with('5'))
                })
        }
    }
}

/// The first enhanced status code (`5.1.1`) in `text`.
fn find_status_code(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find(|token| {
            let pieces: Vec<&str> = token.split('.').collect();
            pieces.len() == 3
                && matches!(pieces[0], "2" | "4" | "5")
                && pieces[1..]
                    .iter()
                    .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_owned)
}

/// The first three-digit SMTP reply code (`550`) in `text`.
fn smtp_code(text: &str) -> Option<&str> {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|t| t.len() == 3 && matches!(t.as_bytes()[0], b'4' | b'5'))
}

fn parse_feedback(body: &str, returned_id: Option<String>) -> Complaint {
    let fields = Fields::parse(body);
    Complaint {
        feedback_type: fields
            .get("feedback-type")
            .unwrap_or("abuse")
            .to_ascii_lowercase(),
        user_agent: fields.get("user-agent").map(str::to_owned),
        original_mail_from: fields.get("original-mail-from").map(address_of_typed),
        original_recipients: fields
            .all("original-rcpt-to")
            .into_iter()
            .map(address_of_typed)
            .collect(),
        original_message_id: returned_id,
        reported_domain: fields.get("reported-domain").map(str::to_owned),
    }
}

/// At most this many recipients are taken from a free-text bounce.
const MAX_TEXT_RECIPIENTS: usize = 100;

const BOUNCE_SUBJECTS: &[&str] = &[
    "undeliver",
    "undelivered mail",
    "delivery status notification",
    "delivery failure",
    "delivery has failed",
    "failure notice",
    "mail delivery failed",
    "returned mail",
    "delivery notification",
    "nondeliverable",
    "non-deliverable",
    "mail system error",
    "unzustellbar",
    "non remis",
];

/// A bounce without a delivery-status part: a daemon sender (or the null sender, or
/// X-Failed-Recipients) and bounce wording in the subject or body.
fn looks_like_plain_bounce(message: &Message<'_>, text: &str) -> bool {
    let from = message
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap_or("")
        .to_ascii_lowercase();
    let local = from.split('@').next().unwrap_or("");
    let daemon_sender = matches!(local, "mailer-daemon" | "postmaster" | "mail-daemon");
    let null_sender = message
        .header_raw("Return-Path")
        .is_some_and(|v| v.trim().trim_matches(['<', '>']).trim().is_empty());
    let failed_header = message.header_raw("X-Failed-Recipients").is_some();
    let subject = message.subject().unwrap_or("").to_lowercase();
    let bounce_subject = BOUNCE_SUBJECTS.iter().any(|s| subject.contains(s));
    let lower = text.to_lowercase();
    let bounce_body = lower.contains("this is the qmail-send program")
        || lower.contains("could not be delivered to one or more")
        || lower.contains("delivery to the following recipient")
        || lower.contains("delivery has failed to these recipients")
        || lower.contains("the following address(es) failed")
        || lower.contains("delivery failed")
        || lower.contains("undeliverable");
    (daemon_sender || null_sender || failed_header) && (bounce_subject || bounce_body)
        || (failed_header && daemon_sender)
}

/// Recipients of a free-text bounce: X-Failed-Recipients if present, else the addresses the
/// common formats put on their own line (qmail and Postfix `<addr>:`, Exim's indented list,
/// Gmail's and Exchange's "following recipient" blocks, "Delivery failed …: addr"), taken from
/// the notice before the returned message.
fn recipients_from_text(message: &Message<'_>, text: &str) -> Vec<BounceRecipient> {
    let notice = notice_part(text);
    let mut addresses: Vec<String> = Vec::new();
    for header in message.root_part().headers.iter() {
        if header
            .name
            .as_str()
            .eq_ignore_ascii_case("x-failed-recipients")
        {
            for a in header_text(&header.value).split(',') {
                let a = a.trim();
                if a.contains('@') {
                    addresses.push(a.to_owned());
                }
            }
        }
    }
    if addresses.is_empty() {
        let own_recipients: Vec<String> = message
            .to()
            .map(|to| {
                to.iter()
                    .filter_map(|a| a.address())
                    .map(str::to_ascii_lowercase)
                    .collect()
            })
            .unwrap_or_default();
        for line in notice.lines() {
            let trimmed = line.trim();
            let candidate_line = trimmed.starts_with('<') && trimmed.contains('>')
                || trimmed.contains(">: ")
                || (line.starts_with([' ', '\t']) && !trimmed.contains(' '))
                || trimmed.to_ascii_lowercase().starts_with("delivery failed")
                || (!trimmed.contains(' ') && trimmed.contains('@'))
                || trimmed.contains("(mailto:")
                || trimmed.contains("<mailto:");
            if !candidate_line {
                continue;
            }
            // A bounce names a handful of recipients; a flood of addresses is not worth reading.
            if addresses.len() >= MAX_TEXT_RECIPIENTS {
                break;
            }
            for address in addresses_in(trimmed) {
                let lower = address.to_ascii_lowercase();
                let local = lower.split('@').next().unwrap_or("");
                if own_recipients.contains(&lower)
                    || matches!(local, "postmaster" | "mailer-daemon")
                    || addresses.iter().any(|a| a.eq_ignore_ascii_case(&address))
                {
                    continue;
                }
                addresses.push(address);
            }
        }
    }
    let status = find_status_code(notice);
    let diagnostic = diagnostic_line(notice);
    let delayed = {
        let l = notice.to_lowercase();
        l.contains("delayed")
            || l.contains("will retry")
            || l.contains("still being retried")
            || l.contains("temporary")
    };
    let action = if delayed { "delayed" } else { "failed" };
    addresses
        .into_iter()
        .map(|address| BounceRecipient {
            address,
            action: Some(action.to_owned()),
            hard: is_hard(
                Some(action),
                status.as_deref(),
                diagnostic.as_deref().or(Some(notice)),
            ),
            status: status.clone(),
            diagnostic: diagnostic.clone(),
        })
        .collect()
}

/// The notice text before the returned message.
fn notice_part(text: &str) -> &str {
    let lower = text.to_ascii_lowercase();
    let markers = [
        "----- original message",
        "original message follows",
        "------ this is a copy of the message",
        "--- below this line is a copy of the message",
        "----- the following addresses had",
        "original message headers:",
        "----- transcript of session follows",
    ];
    let end = markers
        .iter()
        .filter_map(|m| lower.find(m))
        .min()
        .unwrap_or(text.len());
    // `find` on the lower-cased copy: the offsets match for ASCII markers as long as lowering kept
    // the length, which to_ascii_lowercase guarantees.
    &text[..end]
}

/// The returned message after the notice (where its Message-ID is); the whole text when no
/// marker separates them. The notice's own Message-ID is in the header, not in the text.
fn notice_tail(text: &str) -> &str {
    match notice_part(text).len() {
        end if end < text.len() => &text[end..],
        _ => text,
    }
}

/// The line that says why, if one stands out.
fn diagnostic_line(notice: &str) -> Option<String> {
    notice
        .lines()
        .map(str::trim)
        .find(|l| {
            let lower = l.to_ascii_lowercase();
            smtp_code(l).is_some()
                && (lower.contains("said") || lower.starts_with('5') || lower.starts_with('4'))
                || lower.starts_with("technical details")
                || lower.starts_with("dns error")
                || lower.contains("remote server returned")
        })
        .map(str::to_owned)
}

/// Addresses in a line: tokens with one `@`, a local part and a dotted domain.
fn addresses_in(line: &str) -> Vec<String> {
    line.split(|c: char| c.is_whitespace() || "<>()[]:;,\"'".contains(c))
        .filter_map(|token| {
            let token = token.trim_matches('.');
            let token = token.strip_prefix("mailto").unwrap_or(token);
            let (local, domain) = token.split_once('@')?;
            (!local.is_empty()
                && domain.contains('.')
                && !domain.contains('@')
                && !domain.starts_with('.')
                && domain
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-'))
            .then(|| token.to_owned())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::{read_message, ReadOptions};

    fn report_of(raw: &str) -> Option<Report> {
        read_message(raw.as_bytes(), &ReadOptions::default())
            .unwrap()
            .report
    }

    fn bounce_of(raw: &str) -> BounceReport {
        match report_of(raw) {
            Some(Report::Bounce(b)) => b,
            other => panic!("not a bounce: {other:?}"),
        }
    }

    #[test]
    fn a_standard_dsn_gives_each_recipient_and_the_original_id() {
        let raw = "From: MAILER-DAEMON@mx.test\r\nSubject: Undelivered\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n\
            --b\r\nContent-Type: text/plain\r\n\r\nsorry\r\n\
            --b\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.test\r\n\r\n\
            Final-Recipient: rfc822; gone@x.test\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 no such user\r\n\r\n\
            Final-Recipient: rfc822; <slow@y.test>\r\nAction: delayed\r\nStatus: 4.4.7\r\n\r\n\
            --b\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: support@acme.test\r\nMessage-ID: <out-1@acme.test>\r\n\r\n--b--\r\n";
        let b = bounce_of(raw);
        assert!(b.standard);
        assert_eq!(b.original_message_id.as_deref(), Some("out-1@acme.test"));
        assert_eq!(b.recipients.len(), 2);
        assert_eq!(b.recipients[0].address, "gone@x.test");
        assert_eq!(b.recipients[0].status.as_deref(), Some("5.1.1"));
        assert!(b.recipients[0].hard);
        assert_eq!(
            b.recipients[0].diagnostic.as_deref(),
            Some("550 5.1.1 no such user")
        );
        assert_eq!(b.recipients[1].address, "slow@y.test");
        assert!(!b.recipients[1].hard);
    }

    #[test]
    fn recipients_split_even_without_blank_lines() {
        let recipients = parse_delivery_status(
            "Reporting-MTA: dns; a\nFinal-Recipient: rfc822; a@x.test\nAction: failed\nStatus: 5.0.0\n\
             Final-Recipient: rfc822; b@x.test\nAction: failed\nStatus: 4.0.0\n",
        );
        let got: Vec<(&str, bool)> = recipients
            .iter()
            .map(|r| (r.address.as_str(), r.hard))
            .collect();
        assert_eq!(got, vec![("a@x.test", true), ("b@x.test", false)]);
    }

    #[test]
    fn plain_text_bounces_of_the_common_formats_are_read() {
        let cases = [
            (
                "qmail",
                "From: MAILER-DAEMON@mx.test\r\nSubject: failure notice\r\n\r\nHi. This is the qmail-send program at mx.test.\r\n\
                 I'm afraid I wasn't able to deliver your message to the following addresses.\r\n\r\n\
                 <gone@x.test>:\r\n1.2.3.4 does not like recipient.\r\nRemote host said: 550 5.1.1 unknown user\r\n",
                "gone@x.test",
                true,
            ),
            (
                "exim",
                "From: Mail Delivery System <Mailer-Daemon@mx.test>\r\nSubject: Mail delivery failed: returning message to sender\r\n\r\n\
                 This message was created automatically by mail delivery software.\r\n\r\n\
                 A message that you sent could not be delivered to one or more of its\r\nrecipients. This is a permanent error. The following address(es) failed:\r\n\r\n\
                 \x20 gone@x.test\r\n    SMTP error from remote mail server after RCPT TO:<gone@x.test>:\r\n    550 5.1.1 User unknown\r\n",
                "gone@x.test",
                true,
            ),
            (
                "postfix text only",
                "From: MAILER-DAEMON@mx.test (Mail Delivery System)\r\nSubject: Undelivered Mail Returned to Sender\r\n\r\n\
                 <gone@x.test>: host mx.x.test[1.2.3.4] said: 550 5.1.1 <gone@x.test>: Recipient\r\n    address rejected\r\n",
                "gone@x.test",
                true,
            ),
            (
                "microsoft",
                "From: postmaster@outlook.test\r\nSubject: Undeliverable: hello\r\n\r\nDelivery has failed to these recipients or groups:\r\n\r\n\
                 gone@x.test (gone@x.test)<mailto:gone@x.test>\r\nThe e-mail address you entered couldn't be found.\r\n\r\n\
                 Diagnostic information for administrators:\r\nRemote Server returned '550 5.1.10 RESOLVER.ADR.RecipientNotFound'\r\n",
                "gone@x.test",
                true,
            ),
            (
                "gmail with x-failed-recipients",
                "Return-Path: <>\r\nFrom: Mail Delivery Subsystem <mailer-daemon@googlemail.com>\r\nX-Failed-Recipients: gone@x.test\r\n\
                 Subject: Delivery Status Notification (Failure)\r\n\r\nDelivery to the following recipient failed permanently:\r\n\r\n     gone@x.test\r\n\r\n\
                 Technical details of permanent failure:\r\nDNS Error: Domain name not found\r\n",
                "gone@x.test",
                true,
            ),
        ];
        for (format, raw, address, hard) in cases {
            let b = bounce_of(raw);
            assert!(!b.standard, "{format}");
            let got: Vec<&str> = b.recipients.iter().map(|r| r.address.as_str()).collect();
            assert_eq!(got, vec![address], "{format}");
            assert_eq!(b.recipients[0].hard, hard, "{format}");
        }
    }

    #[test]
    fn a_person_mentioning_delivery_is_not_a_bounce() {
        let raw = "From: ann@x.test\r\nSubject: Delivery failed?\r\n\r\nMy parcel delivery failed, help\r\n";
        assert_eq!(report_of(raw), None);
    }

    #[test]
    fn an_arf_report_is_a_complaint() {
        let raw = "From: abuse@isp.test\r\nSubject: complaint\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=b\r\n\r\n\
            --b\r\nContent-Type: text/plain\r\n\r\nspam report\r\n\
            --b\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\nUser-Agent: ISP-FBL/1.0\r\nVersion: 1\r\n\
            Original-Mail-From: <bounces@acme.test>\r\nOriginal-Rcpt-To: <ann@isp.test>\r\nReported-Domain: acme.test\r\n\r\n\
            --b\r\nContent-Type: message/rfc822\r\n\r\nFrom: support@acme.test\r\nMessage-ID: <out-9@acme.test>\r\nSubject: hi\r\n\r\nhi\r\n--b--\r\n";
        match report_of(raw) {
            Some(Report::Complaint(c)) => {
                assert_eq!(c.feedback_type, "abuse");
                assert_eq!(c.original_recipients, vec!["ann@isp.test"]);
                assert_eq!(c.original_mail_from.as_deref(), Some("bounces@acme.test"));
                assert_eq!(c.original_message_id.as_deref(), Some("out-9@acme.test"));
            }
            other => panic!("not a complaint: {other:?}"),
        }
    }
}
