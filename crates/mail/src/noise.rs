//! Mail written by machines, and mail that must not be answered by one.
//!
//! Two kinds of sign, two verdicts:
//! - Mail written by a machine — auto-replies (RFC 3834 `Auto-Submitted`, `Precedence:
//!   auto_reply` or `junk`, vendor headers, out-of-office subjects, the null sender), bounces,
//!   read receipts, complaints, machine senders, and Rapport's own mail coming back (its own
//!   address in From or `X-Loop`, or a Message-ID Rapport gave out, see
//!   [`NoiseReason::OwnMessage`]) — is a [`Verdict::Noise`]: recorded with its reasons, never
//!   made a customer message, never answered.
//! - A person's mail that came through a mailing list or a mass mailer (`Precedence: list` or
//!   `bulk`, `List-Id`, `List-Unsubscribe`), or whose sender asks not to be auto-answered
//!   (`X-Auto-Response-Suppress`), is a [`Verdict::NoAutoReply`]: it becomes a conversation
//!   message like any other (a support address fronted by a Google Group must not lose its
//!   customers' mail) but gets no automatic acknowledgement, and the reasons are recorded.
//!
//! Never answering either kind automatically is what keeps two auto-responders, or Rapport and
//! a list, from mailing each other forever (RFC 3834). [`auto_reply_decision`] adds a
//! per-address rate limit for the rest.

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
    /// `Precedence: bulk`, `junk`, `list` or `auto_reply`. `bulk` and `list` mark a list or a
    /// mass mailer (no automatic answer); `junk` and `auto_reply` mark a machine's mail (the
    /// classic `vacation` program and many responders send `junk`).
    Precedence {
        /// The header value.
        value: String,
    },
    /// Microsoft's `X-Auto-Response-Suppress`: the sender asks not to be auto-answered (no
    /// automatic answer; the message is still a person's).
    AutoResponseSuppress {
        /// The header value.
        value: String,
    },
    /// `List-Id` or `List-Unsubscribe`: mail through a mailing list or a mass mailer (no
    /// automatic answer; the message is still a person's).
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
    /// The Message-ID of mail Rapport sent: its own mail came back (a list that redistributes
    /// Rapport's reply to its members, Rapport among them, with From rewritten to the list).
    /// Found by the caller, which knows what was sent ([`Verdict::add`]).
    OwnMessage {
        /// The Message-ID.
        message_id: String,
    },
    /// A delivery report (bounce or delay).
    DeliveryReport,
    /// A read receipt (message disposition notification).
    ReadReceipt,
    /// A spam complaint (feedback report).
    Complaint,
}

impl NoiseReason {
    /// Does this sign say a machine wrote the message (rather than only that it must not be
    /// answered automatically)?
    pub fn means_machine(&self) -> bool {
        match self {
            NoiseReason::Precedence { value } => !matches!(value.as_str(), "bulk" | "list"),
            NoiseReason::AutoResponseSuppress { .. } | NoiseReason::MailingList { .. } => false,
            _ => true,
        }
    }
}

/// Was the message written by a person, and may Rapport answer it automatically?
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    /// No sign of automation.
    Person,
    /// A person's message that must not be answered automatically: it came through a list or a
    /// mass mailer, or its sender asked for no automatic answers. It becomes a conversation
    /// message; no acknowledgement goes out.
    NoAutoReply {
        /// Every rule that matched (none of them [`NoiseReason::means_machine`]).
        reasons: Vec<NoiseReason>,
    },
    /// Written by a machine, for these reasons (at least one): recorded, not made a message.
    Noise {
        /// Every rule that matched.
        reasons: Vec<NoiseReason>,
    },
}

impl Verdict {
    /// The verdict these signs make: none, a person; any that
    /// [`NoiseReason::means_machine`], noise; only list or suppression signs, a person's
    /// message that gets no automatic answer.
    pub fn from_reasons(reasons: Vec<NoiseReason>) -> Verdict {
        if reasons.is_empty() {
            Verdict::Person
        } else if reasons.iter().any(NoiseReason::means_machine) {
            Verdict::Noise { reasons }
        } else {
            Verdict::NoAutoReply { reasons }
        }
    }

    /// Written by a person: it becomes a conversation message (perhaps one not to be answered
    /// automatically, see [`Verdict::may_auto_reply`]).
    pub fn is_person(&self) -> bool {
        !matches!(self, Verdict::Noise { .. })
    }

    /// May an automatic mail (an acknowledgement) answer it? Only a person's mail without any
    /// sign against it.
    pub fn may_auto_reply(&self) -> bool {
        matches!(self, Verdict::Person)
    }

    /// The signs found (none for a person).
    pub fn reasons(&self) -> &[NoiseReason] {
        match self {
            Verdict::Person => &[],
            Verdict::NoAutoReply { reasons } | Verdict::Noise { reasons } => reasons,
        }
    }

    /// The verdict with one more sign, found by the caller (e.g. [`NoiseReason::OwnMessage`]).
    pub fn add(&mut self, reason: NoiseReason) {
        let mut reasons = self.reasons().to_vec();
        reasons.push(reason);
        *self = Verdict::from_reasons(reasons);
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
    Verdict::from_reasons(reasons)
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
    /// A person's message through a list or a mass mailer, or whose sender asked for no
    /// automatic answers: never answer it automatically.
    NeverToList,
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
    } else if !verdict.may_auto_reply() {
        AutoReplyDecision::NeverToList
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
        v.reasons()
            .iter()
            .map(|r| {
                serde_json::to_value(r).unwrap()["rule"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    }

    fn kind(v: &Verdict) -> String {
        serde_json::to_value(v).unwrap()["verdict"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// List and bulk mail and X-Auto-Response-Suppress are a person's mail that gets no
    /// automatic answer; auto-replies, junk, bounces and loops stay noise, also when they come
    /// through a list.
    #[test]
    fn list_mail_is_a_person_s_without_automatic_answers_and_machines_stay_noise() {
        let own = ["support@acme.test"];
        let cases: &[(&str, &str, &str)] = &[
            ("a person", "From: a@x.test\r\n", "person"),
            (
                "google group",
                "From: a@x.test\r\nPrecedence: list\r\nList-Id: <support.acme.test>\r\nList-Unsubscribe: <mailto:googlegroups-manage+1+unsubscribe@googlegroups.com>\r\n",
                "no_auto_reply",
            ),
            (
                "precedence bulk",
                "From: a@x.test\r\nPrecedence: bulk\r\n",
                "no_auto_reply",
            ),
            (
                "list-unsubscribe alone",
                "From: a@x.test\r\nList-Unsubscribe: <https://x.test/u>\r\n",
                "no_auto_reply",
            ),
            (
                "x-auto-response-suppress",
                "From: a@x.test\r\nX-Auto-Response-Suppress: OOF, AutoReply\r\n",
                "no_auto_reply",
            ),
            (
                "precedence junk",
                "From: a@x.test\r\nPrecedence: junk\r\n",
                "noise",
            ),
            (
                "precedence auto_reply",
                "From: a@x.test\r\nPrecedence: auto_reply\r\n",
                "noise",
            ),
            (
                "an auto-reply through a list",
                "From: a@x.test\r\nList-Id: <l.x.test>\r\nAuto-Submitted: auto-replied\r\n",
                "noise",
            ),
            (
                "a vacation notice through a list",
                "From: a@x.test\r\nPrecedence: list\r\nX-Vacation: yes\r\n",
                "noise",
            ),
            (
                "our own reply echoed by a list (X-Loop kept)",
                "From: 'Support' via Users <users@lists.x.test>\r\nList-Id: <users.lists.x.test>\r\nX-Loop: support@acme.test\r\n",
                "noise",
            ),
            (
                "our own address through a list",
                "From: support@acme.test\r\nList-Id: <users.lists.x.test>\r\n",
                "noise",
            ),
            (
                "a list's machine sender",
                "From: mailer-daemon@lists.x.test\r\nList-Id: <users.lists.x.test>\r\n",
                "noise",
            ),
        ];
        for (case, headers, expected) in cases {
            let v = verdict(headers, &own);
            assert_eq!(kind(&v), *expected, "{case}: {v:?}");
            assert_eq!(v.is_person(), *expected != "noise", "{case}");
            assert_eq!(v.may_auto_reply(), *expected == "person", "{case}");
            assert_eq!(v.reasons().is_empty(), *expected == "person", "{case}");
        }
    }

    /// The caller adds what only it knows (the Message-ID was one Rapport sent): list mail
    /// carrying it becomes noise, so a list echoing Rapport's reply is never taken in.
    #[test]
    fn an_own_message_id_makes_list_mail_noise() {
        let mut v = verdict(
            "From: users@lists.x.test\r\nList-Id: <users.lists.x.test>\r\n",
            &["support@acme.test"],
        );
        assert_eq!(kind(&v), "no_auto_reply");
        v.add(NoiseReason::OwnMessage {
            message_id: "r1@acme.test".into(),
        });
        assert_eq!(kind(&v), "noise");
        assert_eq!(rules(&v), ["mailing_list", "own_message"]);
        let mut person = Verdict::Person;
        person.add(NoiseReason::OwnMessage {
            message_id: "r1@acme.test".into(),
        });
        assert!(!person.is_person());
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
            (
                "list mail is never answered",
                Verdict::NoAutoReply {
                    reasons: vec![NoiseReason::MailingList {
                        header: "list-id".into(),
                    }],
                },
                true,
                0,
                AutoReplyDecision::NeverToList,
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
