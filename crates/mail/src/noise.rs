//! Mail written by machines: auto-replies, lists, bulk mail, read receipts, Rapport's own mail.
//!
//! Such mail is recorded with a [`Verdict::Noise`] and its reasons, and Rapport never answers it
//! automatically; that is how two auto-responders are kept from mailing each other forever
//! (RFC 3834). [`auto_reply_decision`] adds a per-address rate limit for the rest.

use mail_parser::{HeaderValue, MessagePart};
use serde::Serialize;

use crate::bounce::Report;
use crate::parse::Mailbox;

/// Why a message counts as written by a machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum NoiseReason {
    /// RFC 3834 `Auto-Submitted` with any value but `no`.
    AutoSubmitted {
        /// The header value.
        value: String,
    },
    /// `Precedence: bulk`, `junk`, `list` or `auto_reply`.
    Precedence {
        /// The header value.
        value: String,
    },
    /// Microsoft's `X-Auto-Response-Suppress`: the sender asks not to be auto-answered.
    AutoResponseSuppress {
        /// The header value.
        value: String,
    },
    /// `List-Id` or `List-Unsubscribe`: mail from a mailing list or a mass mailer.
    MailingList {
        /// Which header.
        header: String,
    },
    /// A vendor header that marks auto-replies (`X-Autoreply`, `X-Autorespond`, …).
    AutoReplyHeader {
        /// Which header.
        header: String,
    },
    /// A subject that auto-responders use ("Automatic reply:", "Out of Office", …).
    AutoReplySubject,
    /// `Return-Path: <>`, the null sender used by bounces and auto-replies.
    NullSender,
    /// A sender such as `mailer-daemon@`, `postmaster@`, `no-reply@`.
    MachineSender {
        /// The address.
        address: String,
    },
    /// Sent from one of Rapport's own addresses: answering it would loop.
    FromOwnAddress {
        /// The address.
        address: String,
    },
    /// An `X-Loop` header naming one of Rapport's own addresses: it has been here before.
    LoopHeader {
        /// The header value.
        value: String,
    },
    /// A delivery report (bounce or delay).
    DeliveryReport,
    /// A read receipt (message disposition notification).
    ReadReceipt,
    /// A spam complaint (feedback report).
    Complaint,
}

/// Was the message written by a person?
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// No sign of automation.
    Person,
    /// Written by a machine, for these reasons (at least one).
    Noise {
        /// Every rule that matched.
        reasons: Vec<NoiseReason>,
    },
}

impl Verdict {
    /// No sign of automation.
    pub fn is_person(&self) -> bool {
        matches!(self, Verdict::Person)
    }
}

/// The header fields the noise rules read, gathered once.
#[derive(Debug, Clone, Default)]
pub(crate) struct HeaderFacts {
    fields: Vec<(String, String)>,
    pub delivered_to: Vec<String>,
    pub return_path: Option<String>,
}

impl HeaderFacts {
    pub(crate) fn of(root: &MessagePart<'_>) -> Self {
        let mut facts = HeaderFacts::default();
        for header in &root.headers {
            let name = header.name.as_str().to_ascii_lowercase();
            let value = header_text(&header.value);
            match name.as_str() {
                "delivered-to" | "x-original-to" | "envelope-to" | "x-envelope-to" => {
                    let address = value.trim().trim_start_matches('<').trim_end_matches('>');
                    if !address.is_empty()
                        && !facts
                            .delivered_to
                            .iter()
                            .any(|a| a.eq_ignore_ascii_case(address))
                    {
                        facts.delivered_to.push(address.to_owned());
                    }
                }
                "return-path" if facts.return_path.is_none() => {
                    facts.return_path = Some(
                        value
                            .trim()
                            .trim_start_matches('<')
                            .trim_end_matches('>')
                            .trim()
                            .to_owned(),
                    );
                }
                _ => {}
            }
            facts.fields.push((name, value));
        }
        facts
    }

    fn get<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.fields
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A header value as one string, whatever mail-parser made of it.
pub(crate) fn header_text(value: &HeaderValue<'_>) -> String {
    match value {
        HeaderValue::Text(text) => text.to_string(),
        HeaderValue::TextList(list) => list.join(" "),
        HeaderValue::Address(address) => address
            .iter()
            .filter_map(|a| a.address())
            .collect::<Vec<_>>()
            .join(", "),
        _ => String::new(),
    }
}

const AUTO_REPLY_HEADERS: &[&str] = &[
    "x-autoreply",
    "x-autorespond",
    "x-autoresponder",
    "x-autogenerated",
    "x-auto-reply",
    "x-mail-autoreply",
    "x-vacation",
    "x-fc-machinegenerated",
    "x-ms-exchange-inbox-rules-loop",
    "x-cron-env",
];

const AUTO_REPLY_SUBJECT_PREFIXES: &[&str] = &[
    "auto:",
    "automatic reply",
    "auto reply",
    "auto-reply",
    "autoreply",
    "auto response",
    "out of office",
    "out of the office",
    "abwesenheitsnotiz",
    "automatische antwort",
    "réponse automatique",
    "respuesta automática",
    "risposta automatica",
    "resposta automática",
];

const MACHINE_LOCAL_PARTS: &[&str] = &[
    "mailer-daemon",
    "postmaster",
    "noreply",
    "no-reply",
    "no_reply",
    "donotreply",
    "do-not-reply",
    "do_not_reply",
    "bounce",
    "bounces",
];

/// Applies every rule; see [`NoiseReason`] for the list.
pub(crate) fn assess(
    headers: &HeaderFacts,
    from: Option<&Mailbox>,
    subject: &str,
    report: Option<&Report>,
    own_addresses: &[String],
) -> Verdict {
    let mut reasons = Vec::new();
    for value in headers.get("auto-submitted") {
        let token = value.split(';').next().unwrap_or("").trim();
        if !token.is_empty() && !token.eq_ignore_ascii_case("no") {
            reasons.push(NoiseReason::AutoSubmitted {
                value: value.trim().to_owned(),
            });
        }
    }
    for value in headers.get("precedence") {
        let v = value.trim().to_ascii_lowercase();
        if matches!(v.as_str(), "bulk" | "junk" | "list" | "auto_reply") {
            reasons.push(NoiseReason::Precedence { value: v });
        }
    }
    for value in headers.get("x-auto-response-suppress") {
        let v = value.trim();
        if !v.is_empty() && !v.eq_ignore_ascii_case("none") {
            reasons.push(NoiseReason::AutoResponseSuppress {
                value: v.to_owned(),
            });
        }
    }
    for header in ["list-id", "list-unsubscribe"] {
        if headers.get(header).next().is_some() {
            reasons.push(NoiseReason::MailingList {
                header: header.to_owned(),
            });
        }
    }
    for header in AUTO_REPLY_HEADERS {
        if let Some(value) = headers.get(header).next() {
            let v = value.trim().to_ascii_lowercase();
            // X-Autogenerated: Forward is a rule-forwarded person's mail, not an auto-reply.
            if v != "no" && v != "false" && v != "forward" {
                reasons.push(NoiseReason::AutoReplyHeader {
                    header: (*header).to_owned(),
                });
            }
        }
    }
    let subject = subject.trim().to_lowercase();
    if AUTO_REPLY_SUBJECT_PREFIXES
        .iter()
        .any(|p| subject.starts_with(p))
    {
        reasons.push(NoiseReason::AutoReplySubject);
    }
    if headers.return_path.as_deref() == Some("") {
        reasons.push(NoiseReason::NullSender);
    }
    if let Some(from) = from {
        let local = from
            .address
            .split('@')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        if MACHINE_LOCAL_PARTS.contains(&local.as_str()) {
            reasons.push(NoiseReason::MachineSender {
                address: from.address.clone(),
            });
        }
        if is_own_address(&from.address, own_addresses) {
            reasons.push(NoiseReason::FromOwnAddress {
                address: from.address.clone(),
            });
        }
    }
    for value in headers.get("x-loop") {
        if value
            .split([',', ' '])
            .any(|part| is_own_address(part.trim_matches(['<', '>']), own_addresses))
        {
            reasons.push(NoiseReason::LoopHeader {
                value: value.trim().to_owned(),
            });
        }
    }
    match report {
        Some(Report::Bounce(_)) => reasons.push(NoiseReason::DeliveryReport),
        Some(Report::ReadReceipt(_)) => reasons.push(NoiseReason::ReadReceipt),
        Some(Report::Complaint(_)) => reasons.push(NoiseReason::Complaint),
        None => {}
    }
    if reasons.is_empty() {
        Verdict::Person
    } else {
        Verdict::Noise { reasons }
    }
}

/// Is `address` one of `own_addresses`, ignoring case and a `+tag` in the local part
/// (`support+c12-…@acme.test` is still `support@acme.test`)?
pub fn is_own_address(address: &str, own_addresses: &[String]) -> bool {
    let base = without_plus_tag(address);
    !base.is_empty()
        && own_addresses
            .iter()
            .any(|own| without_plus_tag(own).eq_ignore_ascii_case(&base))
}

fn without_plus_tag(address: &str) -> String {
    let address = address.trim();
    match address.rsplit_once('@') {
        Some((local, domain)) => {
            let local = local.split('+').next().unwrap_or(local);
            format!("{local}@{domain}")
        }
        None => address.to_owned(),
    }
}

/// How many automatic mails (acknowledgements, out-of-hours notices) one address may get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoReplyPolicy {
    /// At most this many automatic mails to one address…
    pub max_per_window: u32,
    /// …within this many milliseconds.
    pub window_ms: i64,
}

impl Default for AutoReplyPolicy {
    /// Three a day: enough for a customer who writes three separate requests, too few for a loop
    /// to do harm.
    fn default() -> Self {
        AutoReplyPolicy {
            max_per_window: 3,
            window_ms: 24 * 60 * 60 * 1000,
        }
    }
}

impl AutoReplyPolicy {
    /// The start of the window that counts at `now_ms`: the caller counts automatic mails sent
    /// to the address at or after this instant.
    pub fn window_start(&self, now_ms: i64) -> i64 {
        now_ms.saturating_sub(self.window_ms)
    }
}

/// May Rapport send an automatic mail in answer to this message?
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum AutoReplyDecision {
    /// Yes.
    Send,
    /// The message was written by a machine: never answer it automatically.
    NeverToNoise,
    /// The address already got `sent` automatic mails in the window.
    RateLimited {
        /// Automatic mails already sent to the address in the window.
        sent: u32,
    },
    /// There is nobody to answer (no From address).
    NoRecipient,
}

/// The automatic-reply decision, given the verdict and the number of automatic mails already
/// sent to the sender since [`AutoReplyPolicy::window_start`].
pub fn auto_reply_decision(
    verdict: &Verdict,
    has_sender: bool,
    sent_in_window: u32,
    policy: &AutoReplyPolicy,
) -> AutoReplyDecision {
    if !verdict.is_person() {
        AutoReplyDecision::NeverToNoise
    } else if !has_sender {
        AutoReplyDecision::NoRecipient
    } else if sent_in_window >= policy.max_per_window {
        AutoReplyDecision::RateLimited {
            sent: sent_in_window,
        }
    } else {
        AutoReplyDecision::Send
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::{read_message, ReadOptions};

    fn verdict(headers: &str, own: &[&str]) -> Verdict {
        let raw = format!("{headers}Subject: x\r\n\r\nbody\r\n");
        let options = ReadOptions {
            own_addresses: own.iter().map(|s| s.to_string()).collect(),
            ..ReadOptions::default()
        };
        read_message(raw.as_bytes(), &options).unwrap().verdict
    }

    fn rules(v: &Verdict) -> Vec<String> {
        match v {
            Verdict::Person => vec![],
            Verdict::Noise { reasons } => reasons
                .iter()
                .map(|r| {
                    serde_json::to_value(r).unwrap()["rule"]
                        .as_str()
                        .unwrap()
                        .to_owned()
                })
                .collect(),
        }
    }

    #[test]
    fn each_noise_rule_is_recognised() {
        let own = ["support@acme.test"];
        let cases: &[(&str, &str, &[&str])] = &[
            ("a person", "From: ann@example.test\r\n", &[]),
            (
                "auto-submitted: no is a person",
                "From: a@x.test\r\nAuto-Submitted: no\r\n",
                &[],
            ),
            (
                "rfc 3834 auto-replied",
                "From: a@x.test\r\nAuto-Submitted: auto-replied\r\n",
                &["auto_submitted"],
            ),
            (
                "rfc 3834 auto-generated",
                "From: a@x.test\r\nAuto-Submitted: auto-generated; x\r\n",
                &["auto_submitted"],
            ),
            (
                "precedence bulk",
                "From: a@x.test\r\nPrecedence: bulk\r\n",
                &["precedence"],
            ),
            (
                "precedence junk",
                "From: a@x.test\r\nPrecedence: junk\r\n",
                &["precedence"],
            ),
            (
                "precedence list",
                "From: a@x.test\r\nPrecedence: list\r\n",
                &["precedence"],
            ),
            (
                "precedence normal is a person",
                "From: a@x.test\r\nPrecedence: normal\r\n",
                &[],
            ),
            (
                "x-auto-response-suppress",
                "From: a@x.test\r\nX-Auto-Response-Suppress: All\r\n",
                &["auto_response_suppress"],
            ),
            (
                "list-id",
                "From: a@x.test\r\nList-Id: <l.x.test>\r\n",
                &["mailing_list"],
            ),
            (
                "list-unsubscribe",
                "From: a@x.test\r\nList-Unsubscribe: <mailto:u@x.test>\r\n",
                &["mailing_list"],
            ),
            (
                "x-autoreply",
                "From: a@x.test\r\nX-Autoreply: yes\r\n",
                &["auto_reply_header"],
            ),
            (
                "x-autorespond",
                "From: a@x.test\r\nX-Autorespond: vacation\r\n",
                &["auto_reply_header"],
            ),
            (
                "null sender",
                "Return-Path: <>\r\nFrom: a@x.test\r\n",
                &["null_sender"],
            ),
            (
                "mailer-daemon",
                "From: MAILER-DAEMON@x.test\r\n",
                &["machine_sender"],
            ),
            (
                "no-reply",
                "From: No Reply <no-reply@x.test>\r\n",
                &["machine_sender"],
            ),
            (
                "own address",
                "From: Support <Support@ACME.test>\r\n",
                &["from_own_address"],
            ),
            (
                "own address with a plus tag",
                "From: support+c1-abc@acme.test\r\n",
                &["from_own_address"],
            ),
            (
                "x-loop with an own address",
                "From: a@x.test\r\nX-Loop: support@acme.test\r\n",
                &["loop_header"],
            ),
            (
                "x-loop with another address",
                "From: a@x.test\r\nX-Loop: other@x.test\r\n",
                &[],
            ),
        ];
        for (rule, headers, expected) in cases {
            assert_eq!(rules(&verdict(headers, &own)), *expected, "rule: {rule}");
        }
    }

    #[test]
    fn auto_reply_subjects_are_noise() {
        for subject in [
            "Automatic reply: your order",
            "Out of Office: back Monday",
            "Abwesenheitsnotiz",
        ] {
            let raw = format!("From: a@x.test\r\nSubject: {subject}\r\n\r\nx\r\n");
            let m = read_message(raw.as_bytes(), &ReadOptions::default()).unwrap();
            assert_eq!(rules(&m.verdict), ["auto_reply_subject"], "{subject}");
        }
    }

    #[test]
    fn automatic_replies_follow_the_verdict_and_the_rate_limit() {
        let policy = AutoReplyPolicy::default();
        let noise = Verdict::Noise {
            reasons: vec![NoiseReason::NullSender],
        };
        let cases = [
            (
                "a person under the limit",
                Verdict::Person,
                true,
                0,
                AutoReplyDecision::Send,
            ),
            (
                "the last one allowed",
                Verdict::Person,
                true,
                2,
                AutoReplyDecision::Send,
            ),
            (
                "at the limit",
                Verdict::Person,
                true,
                3,
                AutoReplyDecision::RateLimited { sent: 3 },
            ),
            (
                "noise is never answered",
                noise.clone(),
                true,
                0,
                AutoReplyDecision::NeverToNoise,
            ),
            (
                "nobody to answer",
                Verdict::Person,
                false,
                0,
                AutoReplyDecision::NoRecipient,
            ),
        ];
        for (rule, verdict, has_sender, sent, expected) in cases {
            assert_eq!(
                auto_reply_decision(&verdict, has_sender, sent, &policy),
                expected,
                "{rule}"
            );
        }
        assert_eq!(policy.window_start(100_000_000), 100_000_000 - 86_400_000);
    }
}
