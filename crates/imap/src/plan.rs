//! The poller's decisions that need no server: which new messages are fetched together, how
//! UIDs are written, the envelope sender of a fetched message, how long to wait.

use std::collections::HashMap;
use std::time::Duration;

use crate::Limits;

/// One step of draining a folder, in UID order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    /// Fetch these messages whole, in one command.
    Fetch(Vec<u32>),
    /// Over `max_message_bytes`: only its header is taken, into the quarantine.
    TooLarge { uid: u32, size: u64 },
    /// Fetching it failed `failures` times: only its header is taken, into the quarantine.
    GaveUp { uid: u32, failures: u32 },
}

impl Step {
    pub(crate) fn uids(&self) -> Vec<u32> {
        match self {
            Step::Fetch(uids) => uids.clone(),
            Step::TooLarge { uid, .. } | Step::GaveUp { uid, .. } => vec![*uid],
        }
    }
}

/// Splits the new messages (UID, RFC822.SIZE), in UID order, into steps: batches bounded by
/// count and bytes, so a large message is fetched alone and a huge one not at all; a message
/// whose batch failed before (`suspects`: UID → failures fetching it alone) is fetched alone,
/// and given up on after `limits.max_fetch_failures`.
pub(crate) fn plan(new: &[(u32, u64)], limits: &Limits, suspects: &HashMap<u32, u32>) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut batch: Vec<u32> = Vec::new();
    let mut batch_bytes = 0u64;
    let mut sorted = new.to_vec();
    sorted.sort_unstable();
    sorted.dedup_by_key(|(uid, _)| *uid);
    for (uid, size) in sorted {
        let alone = if size > limits.max_message_bytes {
            Some(Step::TooLarge { uid, size })
        } else {
            match suspects.get(&uid) {
                Some(&failures) if failures >= limits.max_fetch_failures => {
                    Some(Step::GaveUp { uid, failures })
                }
                Some(_) => Some(Step::Fetch(vec![uid])),
                None => None,
            }
        };
        if let Some(step) = alone {
            if !batch.is_empty() {
                steps.push(Step::Fetch(std::mem::take(&mut batch)));
                batch_bytes = 0;
            }
            steps.push(step);
            continue;
        }
        let full = batch.len() >= limits.batch_messages.max(1)
            || batch_bytes.saturating_add(size) > limits.batch_bytes;
        if full && !batch.is_empty() {
            steps.push(Step::Fetch(std::mem::take(&mut batch)));
            batch_bytes = 0;
        }
        batch.push(uid);
        batch_bytes = batch_bytes.saturating_add(size);
    }
    if !batch.is_empty() {
        steps.push(Step::Fetch(batch));
    }
    steps
}

/// A UID set as IMAP writes it: ascending, runs joined (`1:3,7,9:10`).
pub(crate) fn uid_set(uids: &[u32]) -> String {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out = String::new();
    let mut i = 0;
    while i < sorted.len() {
        let start = sorted[i];
        let mut end = start;
        while i + 1 < sorted.len() && sorted[i + 1] == end.saturating_add(1) {
            i += 1;
            end = sorted[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

/// The envelope sender the delivering server recorded in the Return-Path header (the first
/// one, in the header block only); empty when there is none or it is `<>` (a bounce).
pub(crate) fn return_path(raw: &[u8]) -> String {
    let mut lines = raw.split(|&b| b == b'\n');
    for line in &mut lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_at_checked(12) else {
            continue;
        };
        if !name.eq_ignore_ascii_case(b"return-path:") {
            continue;
        }
        let value = String::from_utf8_lossy(value);
        let value = value.trim();
        let inner = match (value.find('<'), value.rfind('>')) {
            (Some(open), Some(close)) if open < close => &value[open + 1..close],
            _ => value,
        };
        return inner.trim().to_string();
    }
    String::new()
}

/// How long to wait before reconnecting after the `attempt`-th failure in a row (from 0):
/// 1 s, doubling, at most `limits.max_backoff`.
pub(crate) fn backoff(attempt: u32, limits: &Limits) -> Duration {
    let seconds = 1u64.checked_shl(attempt.min(20)).unwrap_or(u64::MAX);
    Duration::from_secs(seconds).min(limits.max_backoff)
}

/// How long fetching `bytes` may take: the command timeout plus the time at the slowest
/// acceptable rate.
pub(crate) fn fetch_timeout(bytes: u64, limits: &Limits) -> Duration {
    let rate = limits.min_fetch_bytes_per_second.max(1);
    limits.command_timeout + Duration::from_secs(bytes / rate)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_message_bytes: 1_000,
            batch_messages: 3,
            batch_bytes: 500,
            max_fetch_failures: 3,
            ..Limits::default()
        }
    }

    #[test]
    fn small_messages_go_in_batches_bounded_by_count() {
        let new: Vec<(u32, u64)> = (1..=7).map(|uid| (uid, 10)).collect();
        assert_eq!(
            plan(&new, &limits(), &HashMap::new()),
            vec![
                Step::Fetch(vec![1, 2, 3]),
                Step::Fetch(vec![4, 5, 6]),
                Step::Fetch(vec![7])
            ]
        );
    }

    #[test]
    fn a_large_message_is_fetched_alone_and_a_huge_one_not_at_all() {
        let new = [(1, 100), (2, 450), (3, 100), (4, 900), (5, 5_000), (6, 10)];
        assert_eq!(
            plan(&new, &limits(), &HashMap::new()),
            vec![
                Step::Fetch(vec![1]),
                Step::Fetch(vec![2]),
                Step::Fetch(vec![3]),
                Step::Fetch(vec![4]),
                Step::TooLarge {
                    uid: 5,
                    size: 5_000
                },
                Step::Fetch(vec![6]),
            ]
        );
    }

    #[test]
    fn a_message_whose_batch_failed_is_fetched_alone_then_given_up_on() {
        let new = [(1, 10), (2, 10), (3, 10), (4, 10)];
        let suspects = HashMap::from([(2, 0), (3, 3)]);
        assert_eq!(
            plan(&new, &limits(), &suspects),
            vec![
                Step::Fetch(vec![1]),
                Step::Fetch(vec![2]),
                Step::GaveUp {
                    uid: 3,
                    failures: 3
                },
                Step::Fetch(vec![4]),
            ]
        );
    }

    #[test]
    fn plans_are_in_uid_order_whatever_order_the_server_answered_in() {
        let new = [(9, 10), (2, 10), (5, 10), (2, 10)];
        assert_eq!(
            plan(&new, &limits(), &HashMap::new()),
            vec![Step::Fetch(vec![2, 5, 9])]
        );
    }

    #[test]
    fn uid_sets_join_runs() {
        assert_eq!(uid_set(&[]), "");
        assert_eq!(uid_set(&[4]), "4");
        assert_eq!(uid_set(&[3, 1, 2, 7, 9, 10, 10]), "1:3,7,9:10");
        assert_eq!(
            uid_set(&[u32::MAX, u32::MAX - 1]),
            format!("{}:{}", u32::MAX - 1, u32::MAX)
        );
    }

    #[test]
    fn the_envelope_sender_comes_from_the_first_return_path_of_the_header() {
        let raw =
            b"Received: x\r\nReturn-Path: <ann@example.org>\r\nReturn-Path: <b@x>\r\n\r\nbody";
        assert_eq!(return_path(raw), "ann@example.org");
        assert_eq!(
            return_path(b"return-path:   bob@example.org  \n\nx"),
            "bob@example.org"
        );
        assert_eq!(return_path(b"Return-Path: <>\r\n\r\n"), "");
        assert_eq!(
            return_path(b"Subject: a\r\n\r\nReturn-Path: <late@x>\r\n"),
            ""
        );
        assert_eq!(return_path(b""), "");
        assert_eq!(return_path(b"Return-Pat"), "");
    }

    #[test]
    fn backoff_doubles_up_to_its_ceiling() {
        let limits = Limits::default();
        assert_eq!(backoff(0, &limits), Duration::from_secs(1));
        assert_eq!(backoff(3, &limits), Duration::from_secs(8));
        assert_eq!(backoff(1_000, &limits), limits.max_backoff);
    }

    #[test]
    fn a_large_fetch_may_take_longer() {
        let limits = Limits::default();
        assert_eq!(fetch_timeout(0, &limits), limits.command_timeout);
        assert!(fetch_timeout(100 << 20, &limits) > fetch_timeout(1 << 20, &limits));
    }
}
