//! Quoted history and signatures in a text body, found so the UI can collapse them.
//!
//! Nothing is removed: [`segments`] splits the text into consecutive byte ranges that together
//! cover all of it, each labelled as what the sender wrote, quoted history or a signature.
//!
//! The rules, line by line:
//! - a line starting with `>` is quoted, and so are blank lines between quoted lines;
//! - an attribution line ("On … wrote:", "Le … a écrit :", "Am … schrieb …:", "El … escribió:",
//!   "Op … schreef …:") joins the quote that follows it;
//! - "-----Original Message-----", a line of underscores, or an Outlook header block
//!   ("From:" followed within a few lines by "Sent:"/"Date:" and "To:"/"Subject:") starts history
//!   that runs to the end of the text (Outlook does not prefix quoted lines);
//! - a signature starts at the RFC 3676 delimiter `-- ` (or `--`) or at a "Sent from my …" line
//!   and runs until quoted history starts or the text ends.

use serde::Serialize;

/// What a range of the body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SegmentKind {
    /// What the sender wrote: always shown.
    Reply,
    /// Earlier messages quoted back: collapsed.
    Quote,
    /// The sender's signature: collapsed.
    Signature,
}

/// A byte range `start..end` of the text with its kind. Ranges fall on character boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Segment {
    /// What the range is.
    pub kind: SegmentKind,
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

/// Splits `text` into reply, quote and signature segments covering all of it, in order, with no
/// gaps and no empty segments (an empty text has no segments).
pub fn segments(text: &str) -> Vec<Segment> {
    let lines: Vec<(usize, &str)> = line_starts(text);
    let mut kinds = vec![SegmentKind::Reply; lines.len()];

    // Outlook-style history: everything from the header block on.
    let history_from = (0..lines.len()).find(|&i| starts_unquoted_history(&lines, i));
    let quote_zone_end = history_from.unwrap_or(lines.len());
    if let Some(from) = history_from {
        for kind in &mut kinds[from..] {
            *kind = SegmentKind::Quote;
        }
    }

    // The nearest non-blank line before and after each line, computed once: scanning for them
    // per line would be quadratic on hostile input (millions of blank lines).
    let mut previous_non_blank = vec![None; lines.len()];
    let mut last = None;
    for (i, slot) in previous_non_blank.iter_mut().enumerate() {
        *slot = last;
        if !is_blank(lines[i].1) {
            last = Some(i);
        }
    }
    let mut next_non_blank = vec![None; lines.len()];
    let mut following = None;
    for i in (0..lines.len()).rev() {
        next_non_blank[i] = following;
        if !is_blank(lines[i].1) {
            following = Some(i);
        }
    }

    // `>` quoted lines, blank lines between them, and the attribution line before them.
    for i in 0..quote_zone_end {
        if is_quoted(lines[i].1) {
            kinds[i] = SegmentKind::Quote;
        }
    }
    for i in 0..quote_zone_end {
        if kinds[i] == SegmentKind::Reply && is_blank(lines[i].1) {
            let previous = previous_non_blank[i];
            let next = next_non_blank[i].filter(|&n| n < quote_zone_end);
            if let (Some(p), Some(n)) = (previous, next) {
                if kinds[p] == SegmentKind::Quote && kinds[n] == SegmentKind::Quote {
                    kinds[i] = SegmentKind::Quote;
                }
            }
        }
    }
    for i in 0..quote_zone_end {
        if kinds[i] != SegmentKind::Reply || !looks_like_attribution_end(lines[i].1) {
            continue;
        }
        let next = next_non_blank[i];
        if next.is_some_and(|n| kinds[n] == SegmentKind::Quote) {
            // The attribution may wrap over two lines ("On Tue, … Ann <ann@x>\nwrote:").
            let mut first = i;
            if i > 0
                && kinds[i - 1] == SegmentKind::Reply
                && !looks_like_attribution_start(lines[i].1)
                && looks_like_attribution_start(lines[i - 1].1)
            {
                first = i - 1;
            }
            for kind in &mut kinds[first..next.unwrap_or(i + 1)] {
                *kind = SegmentKind::Quote;
            }
        }
    }

    // Signature: from the delimiter to the next quote (or the end).
    let mut in_signature = false;
    for i in 0..lines.len() {
        match kinds[i] {
            SegmentKind::Quote => in_signature = false,
            _ if is_signature_start(lines[i].1) => {
                in_signature = true;
                kinds[i] = SegmentKind::Signature;
            }
            _ if in_signature => kinds[i] = SegmentKind::Signature,
            _ => {}
        }
    }

    let mut out: Vec<Segment> = Vec::new();
    for (index, &(start, line)) in lines.iter().enumerate() {
        let end = start + line.len();
        match out.last_mut() {
            Some(last) if last.kind == kinds[index] => last.end = end,
            _ => out.push(Segment {
                kind: kinds[index],
                start,
                end,
            }),
        }
    }
    out
}

/// The lines of `text` with their start offsets; each line keeps its line break, so the lines
/// concatenate back to the text.
fn line_starts(text: &str) -> Vec<(usize, &str)> {
    let mut lines = Vec::new();
    let mut start = 0;
    for (i, byte) in text.bytes().enumerate() {
        if byte == b'\n' {
            lines.push((start, &text[start..=i]));
            start = i + 1;
        }
    }
    if start < text.len() {
        lines.push((start, &text[start..]));
    }
    lines
}

fn is_blank(line: &str) -> bool {
    line.trim().is_empty()
}

fn is_quoted(line: &str) -> bool {
    line.trim_start_matches([' ', '\t']).starts_with('>')
}

fn looks_like_attribution_start(line: &str) -> bool {
    let l = line.trim().to_lowercase();
    ["on ", "le ", "am ", "el ", "op ", "il ", "em ", "den "]
        .iter()
        .any(|p| l.starts_with(p))
}

fn looks_like_attribution_end(line: &str) -> bool {
    let l = line.trim().to_lowercase();
    let l = l.trim_end_matches([':', ' ']);
    l.ends_with("wrote")
        || l.ends_with("a écrit")
        || l.ends_with("schrieb")
        || l.ends_with("escribió")
        || l.ends_with("schreef")
        || l.ends_with("ha scritto")
        || l.ends_with("escreveu")
        || l.ends_with("skrev")
        || l.contains(" schrieb ")
}

fn starts_unquoted_history(lines: &[(usize, &str)], i: usize) -> bool {
    let line = lines[i].1.trim();
    let lower = line.to_lowercase();
    if lower.starts_with("-----original message-----")
        || lower.starts_with("----- original message -----")
        || lower.starts_with("-----ursprüngliche nachricht-----")
        || lower.starts_with("-------- message d'origine --------")
    {
        return true;
    }
    let is_rule = line.len() >= 20 && line.chars().all(|c| c == '_');
    let header_block_from = if is_rule { i + 1 } else { i };
    let Some(first) = lines.get(header_block_from) else {
        return false;
    };
    let first = first.1.trim_start().to_lowercase();
    if !(first.starts_with("from:")
        || first.starts_with("von:")
        || first.starts_with("de :")
        || first.starts_with("de:"))
    {
        return false;
    }
    let following: Vec<String> = lines
        .iter()
        .skip(header_block_from + 1)
        .take(5)
        .map(|(_, l)| l.trim_start().to_lowercase())
        .collect();
    let has = |prefixes: &[&str]| {
        following
            .iter()
            .any(|l| prefixes.iter().any(|p| l.starts_with(p)))
    };
    has(&["sent:", "date:", "gesendet:", "envoyé :", "envoyé:"])
        && has(&["to:", "subject:", "an:", "betreff:", "à :", "objet :"])
}

fn is_signature_start(line: &str) -> bool {
    let without_break = line.trim_end_matches(['\r', '\n']);
    if without_break == "-- " || without_break == "--" {
        return true;
    }
    let lower = without_break.trim().to_lowercase();
    lower.starts_with("sent from my ")
        || lower.starts_with("get outlook for ")
        || lower.starts_with("envoyé de mon ")
        || lower.starts_with("von meinem ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds_of(text: &str) -> Vec<(SegmentKind, String)> {
        segments(text)
            .into_iter()
            .map(|s| (s.kind, text[s.start..s.end].to_string()))
            .collect()
    }

    use SegmentKind::{Quote, Reply, Signature};

    #[test]
    fn each_rule_labels_its_lines() {
        type Case = (&'static str, &'static str, Vec<(SegmentKind, &'static str)>);
        let cases: Vec<Case> = vec![
            ("plain text is all reply", "Hi\nthanks\n", vec![(Reply, "Hi\nthanks\n")]),
            (
                "gmail attribution joins the quote",
                "Yes.\n\nOn Tue, 1 Jul 2025 at 10:00, Ann <ann@x.test> wrote:\n> Can you?\n> Please\n",
                vec![
                    (Reply, "Yes.\n\n"),
                    (Quote, "On Tue, 1 Jul 2025 at 10:00, Ann <ann@x.test> wrote:\n> Can you?\n> Please\n"),
                ],
            ),
            (
                "wrapped attribution",
                "Ok\nOn Tue, 1 Jul 2025 at 10:00, Ann Example <ann@x.test>\nwrote:\n\n> a\n",
                vec![
                    (Reply, "Ok\n"),
                    (Quote, "On Tue, 1 Jul 2025 at 10:00, Ann Example <ann@x.test>\nwrote:\n\n> a\n"),
                ],
            ),
            (
                "interleaved answers keep the reply between quotes",
                "> q1\nanswer 1\n> q2\nanswer 2\n",
                vec![(Quote, "> q1\n"), (Reply, "answer 1\n"), (Quote, "> q2\n"), (Reply, "answer 2\n")],
            ),
            (
                "outlook history runs to the end",
                "Thanks\n\nFrom: Support <s@acme.test>\nSent: Monday\nTo: Ann\nSubject: x\n\nold text\n",
                vec![
                    (Reply, "Thanks\n\n"),
                    (Quote, "From: Support <s@acme.test>\nSent: Monday\nTo: Ann\nSubject: x\n\nold text\n"),
                ],
            ),
            (
                "original message separator",
                "Hi\n-----Original Message-----\nold\n",
                vec![(Reply, "Hi\n"), (Quote, "-----Original Message-----\nold\n")],
            ),
            (
                "rfc 3676 signature delimiter",
                "Hi\n-- \nAnn\nACME\n",
                vec![(Reply, "Hi\n"), (Signature, "-- \nAnn\nACME\n")],
            ),
            (
                "signature ends where the quote starts",
                "Hi\n--\nAnn\nOn Mon, Bob wrote:\n> x\n",
                vec![(Reply, "Hi\n"), (Signature, "--\nAnn\n"), (Quote, "On Mon, Bob wrote:\n> x\n")],
            ),
            (
                "sent from my phone",
                "Ok\n\nSent from my iPhone",
                vec![(Reply, "Ok\n\n"), (Signature, "Sent from my iPhone")],
            ),
            (
                "a line that merely mentions from: is not history",
                "From: the start it failed\nthanks\n",
                vec![(Reply, "From: the start it failed\nthanks\n")],
            ),
            ("crlf lines", "a\r\n> b\r\n", vec![(Reply, "a\r\n"), (Quote, "> b\r\n")]),
        ];
        for (rule, text, expected) in cases {
            let expected: Vec<(SegmentKind, String)> = expected
                .into_iter()
                .map(|(k, s)| (k, s.to_string()))
                .collect();
            assert_eq!(kinds_of(text), expected, "rule: {rule}");
        }
    }

    proptest::proptest! {
        #[test]
        fn segments_cover_the_text_without_gaps(text in "(?s)[a-z>\\- \\n\\r_:éO]{0,300}") {
            let segs = segments(&text);
            let mut at = 0;
            for s in &segs {
                proptest::prop_assert_eq!(s.start, at);
                proptest::prop_assert!(s.end > s.start);
                proptest::prop_assert!(text.is_char_boundary(s.start) && text.is_char_boundary(s.end));
                at = s.end;
            }
            proptest::prop_assert_eq!(at, text.len());
        }
    }
}
