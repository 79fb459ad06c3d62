//! Every real message in ../shared/data/email through read_message: each one becomes a message,
//! a bounce, a complaint, an automatic mail, or a quarantine entry with a reason. Never a panic.
//! Also: arbitrary bytes and mutated real messages never panic.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use mail::{read_message, Disposition, ReadOptions, Report};
use proptest::prelude::*;

fn corpus_dir() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/email"
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

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// (name, raw bytes) of every message: files one each, mbox files split into their messages.
/// Skipped: licences, the index, MimeKit's TNEF `.list` expectations and `.tnef` streams (tested
/// in `tnef.rs`), and the mbox summaries.
fn corpus_messages(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut files = Vec::new();
    walk(dir, &mut files);
    let mut out = Vec::new();
    for path in files {
        let name = path
            .strip_prefix(dir)
            .unwrap()
            .to_string_lossy()
            .to_string();
        let file_name = path.file_name().unwrap().to_string_lossy().to_string();
        if file_name.starts_with("LICENSE")
            || file_name == "INDEX.tsv"
            || file_name.ends_with(".list")
            || file_name.ends_with(".tnef")
            || file_name.ends_with("-summary.txt")
            || file_name == "COPYING"
        {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        if file_name.ends_with(".mbox.txt") {
            let iterator =
                mail_parser::mailbox::mbox::MessageIterator::new(std::io::Cursor::new(bytes));
            for (i, message) in iterator.enumerate() {
                let message = message.unwrap();
                out.push((format!("{name}#{i}"), message.unwrap_contents()));
            }
        } else {
            out.push((name, bytes));
        }
    }
    out
}

#[test]
fn every_corpus_message_is_read_or_quarantined_with_a_reason() {
    let Some(dir) = corpus_dir() else { return };
    let options = ReadOptions::default();
    let messages = corpus_messages(&dir);
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    let mut lines = Vec::new();
    for (name, raw) in &messages {
        let outcome = match read_message(raw, &options) {
            Ok(m) => {
                // The summary must always serialise (it is what `rapport mail parse` prints).
                serde_json::to_string(&m.summary()).unwrap();
                // Segments cover the text.
                assert_eq!(
                    m.text_segments.last().map_or(0, |s| s.end),
                    m.text.len(),
                    "{name}"
                );
                let kind = match m.disposition() {
                    Disposition::Message => "message",
                    Disposition::Bounce => "bounce",
                    Disposition::Complaint => "complaint",
                    Disposition::Automatic => "automatic",
                };
                let detail = match &m.report {
                    Some(Report::Bounce(b)) => format!(
                        " recipients={:?} original={:?}",
                        b.recipients
                            .iter()
                            .map(|r| (&r.address, &r.status, r.hard))
                            .collect::<Vec<_>>(),
                        b.original_message_id
                    ),
                    Some(Report::Complaint(c)) => format!(
                        " type={} original={:?}",
                        c.feedback_type, c.original_message_id
                    ),
                    _ => String::new(),
                };
                lines.push(format!(
                    "{kind:9} {name} ({} attachments){detail}",
                    m.attachments.len()
                ));
                kind.to_string()
            }
            Err(q) => {
                assert!(!q.reason.is_empty());
                lines.push(format!("quarantine {name}: {}", q.reason));
                "quarantine".to_string()
            }
        };
        *counts.entry(outcome).or_default() += 1;
    }
    for line in &lines {
        println!("{line}");
    }
    println!("corpus: {} messages: {counts:?}", messages.len());
    assert!(
        messages.len() >= 190,
        "only {} messages found",
        messages.len()
    );

    // What INDEX.tsv flags as DSN / ARF must come out as bounces / complaints.
    let index = std::fs::read_to_string(dir.join("INDEX.tsv")).unwrap();
    for row in index.lines().skip(1) {
        let cols: Vec<&str> = row.split('\t').collect();
        let (path, flags) = (cols[0], cols.get(6).copied().unwrap_or(""));
        let Some(raw) = messages.iter().find(|(n, _)| n == path).map(|(_, r)| r) else {
            continue;
        };
        let flags: Vec<&str> = flags.split(' ').collect();
        let m = read_message(raw, &options);
        if flags.contains(&"ARF") {
            assert_eq!(m.unwrap().disposition(), Disposition::Complaint, "{path}");
        } else if flags.contains(&"DSN")
            && flags
                .iter()
                .any(|f| f.starts_with("REPORT:delivery-status"))
        {
            assert_eq!(m.unwrap().disposition(), Disposition::Bounce, "{path}");
        } else if flags.contains(&"MDN") {
            assert_ne!(m.unwrap().disposition(), Disposition::Message, "{path}");
        }
    }
}

#[test]
fn flanker_bounces_name_their_failed_recipients() {
    let Some(dir) = corpus_dir() else { return };
    let mut files = Vec::new();
    walk(&dir.join("flanker/bounce"), &mut files);
    for path in files {
        let raw = std::fs::read(&path).unwrap();
        let m = read_message(&raw, &ReadOptions::default()).unwrap();
        let Some(Report::Bounce(b)) = &m.report else {
            panic!("{}: not read as a bounce: {:?}", path.display(), m.verdict)
        };
        assert!(
            !b.recipients.is_empty(),
            "{}: no recipients",
            path.display()
        );
    }
}

#[test]
fn winmail_dat_bodies_and_files_are_unpacked() {
    let Some(dir) = corpus_dir() else { return };
    let ukrainian = std::fs::read(dir.join("mimekit/tnef/ukr.eml")).unwrap();
    let m = read_message(&ukrainian, &ReadOptions::default()).unwrap();
    // The HTML body is in code page 1251 inside the TNEF stream.
    assert!(
        m.html.as_deref().unwrap_or("").contains("шостий"),
        "{:?}",
        m.html
    );

    let christmas = std::fs::read(dir.join("mimekit/tnef/rich-text.eml")).unwrap();
    let m = read_message(&christmas, &ReadOptions::default()).unwrap();
    let files: Vec<(Option<&str>, &str)> = m
        .attachments
        .iter()
        .map(|a| (a.filename.as_deref(), a.content_type.as_str()))
        .collect();
    assert_eq!(
        files[0],
        (
            Some("kitten-playing-with-a-christmas-tree.jpg"),
            "image/jpeg"
        )
    );
    assert!(m.attachments.iter().all(|a| a.from_winmail_dat));
    assert!(!m
        .attachments
        .iter()
        .any(|a| a.filename.as_deref() == Some("winmail.dat")));
}

/// Inputs shaped to make quadratic code hang: they must be read in (about) linear time.
#[test]
fn hostile_shapes_are_read_in_linear_time() {
    let lines = 2_000_000;
    let blank_lines = format!(
        "From: a@x.test\r\nSubject: s\r\n\r\n> q\n{}> q\n",
        "\n".repeat(lines)
    );
    let wrote_lines = format!(
        "From: a@x.test\r\nSubject: s\r\n\r\n{}> q\n",
        "On x wrote:\n\n".repeat(lines / 4)
    );
    let images = format!(
        "From: a@x.test\r\nContent-Type: text/html\r\n\r\n{}{}",
        "<img src=\"cid:a\">".repeat(50_000),
        "<img src=\"http://x.test/\">".repeat(50_000)
    );
    let refs = format!(
        "From: a@x.test\r\nSubject: {}\r\n\r\n{}",
        "[#".repeat(10_000),
        "[ref:".repeat(400_000)
    );
    let started = std::time::Instant::now();
    for raw in [blank_lines, wrote_lines, images, refs] {
        let m = read_message(raw.as_bytes(), &ReadOptions::default()).unwrap();
        let key = mail::ThreadKey::new(b"k".to_vec());
        struct None_;
        impl mail::ThreadLookup for None_ {
            fn conversation_of_message_id(&self, _: &str) -> Option<u64> {
                None
            }
            fn conversation_exists(&self, _: u64) -> bool {
                true
            }
            fn is_participant(&self, _: u64, _: &str) -> bool {
                true
            }
        }
        let _ = mail::decide_thread(&m, &key, &None_);
    }
    println!("hostile shapes read in {:?}", started.elapsed());
}

fn sample_messages() -> Vec<Vec<u8>> {
    match corpus_dir() {
        Some(dir) => corpus_messages(&dir)
            .into_iter()
            .filter(|(_, raw)| raw.len() < 64 * 1024)
            .map(|(_, raw)| raw)
            .collect(),
        None => vec![b"From: a@x.test\r\nSubject: s\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>x</p>\r\n--b--\r\n".to_vec()],
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(raw in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = read_message(&raw, &ReadOptions::default());
    }

    #[test]
    fn arbitrary_text_with_mime_structure_never_panics(
        body in "(From: a@x\r\n|Content-Type: multipart/(mixed|report); boundary=b\r\n|Content-Transfer-Encoding: (base64|quoted-printable)\r\n|--b\r\n|--b--\r\n|\r\n|[ -~]{0,20}\r\n|=\\?utf-8\\?[bq]\\?[ -~]{0,10}\\?=|<img src=\"[ -~]{0,10}\">|Final-Recipient: rfc822; a@x\r\n|Content-Type: message/(delivery-status|rfc822|feedback-report)\r\n)*"
    ) {
        let _ = read_message(body.as_bytes(), &ReadOptions::default());
    }

    #[test]
    fn mutated_real_messages_never_panic(
        pick in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..16),
    ) {
        let samples = sample_messages();
        let mut raw = samples[pick.index(samples.len())].clone();
        for (at, byte, op) in edits {
            if raw.is_empty() { break; }
            let i = at.index(raw.len());
            match op {
                0 => raw[i] = byte,
                1 => { raw.remove(i); }
                _ => raw.insert(i, byte),
            }
        }
        let _ = read_message(&raw, &ReadOptions::default());
    }
}
