//! `rapport bench smtp`: inbound mail throughput, measured against a ceiling taken in the same
//! run.
//!
//! 1. The ceiling: parse each message with mail-parser and insert its raw bytes, its fields
//!    and one event into a scratch SQLite database (WAL, synchronous=FULL), 128 per commit,
//!    in this process: no protocol, no use cases.
//! 2. Starts `rapport serve --smtp-listen` as a separate process, with a support mailbox.
//! 3. N senders (one SMTP connection each) send ~10 KiB messages for a fixed time; a message
//!    counts only once its 250 has arrived. The accept latency runs from the end of DATA
//!    (the final `.`) to the 250.
//!
//! It prints a JSON report on stdout.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use domain::Principal;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

use crate::bench::{cpu_seconds, percentile, round, rss_kib};
use crate::config::Config;
use crate::demo::{samples, Sample};
use crate::now_millis;

pub struct MailBenchOptions {
    pub senders: usize,
    pub seconds: u64,
    pub message_bytes: usize,
}

pub(crate) const MAILBOX: &str = "support@bench.test";

/// A realistic message of about `size` bytes: headers, and customer text from the demo sample.
pub(crate) fn message(texts: &[Sample], sender: usize, n: u64, size: usize) -> Vec<u8> {
    let mut body = String::new();
    let mut i = sender * 7919 + n as usize;
    while body.len() < size.saturating_sub(400) {
        body.push_str(&texts[i % texts.len()].customer_text);
        body.push_str("\r\n\r\n");
        i += 13;
    }
    format!(
        "From: Customer {sender} <customer{sender}@example.org>\r\n\
         To: Support <{MAILBOX}>\r\n\
         Subject: Question {n} from sender {sender}\r\n\
         Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n\
         Message-ID: <{sender}.{n}.bench@example.org>\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n{body}"
    )
    .into_bytes()
}

/// Dot-stuffs a message and ends it with CRLF.CRLF.
fn data_payload(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + 64);
    let mut at_line_start = true;
    for &b in raw {
        if at_line_start && b == b'.' {
            out.push(b'.');
        }
        out.push(b);
        at_line_start = b == b'\n';
    }
    if !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

pub async fn smtp(config: &Config, options: &MailBenchOptions) -> anyhow::Result<()> {
    anyhow::ensure!(
        config.database_url.is_none(),
        "`rapport bench smtp` measures the embedded SQLite store (give --data DIR)"
    );
    std::fs::create_dir_all(&config.data)?;
    let store = config.open_store().await?;
    let app = app::App::new(store.clone(), config.settings());
    if !app.mailboxes().await?.iter().any(|m| m.address == MAILBOX) {
        app.add_mailbox(
            &Principal::System,
            MAILBOX,
            "Bench",
            None,
            false,
            now_millis(),
        )
        .await?;
    }
    store.close().await;

    eprintln!("measuring the ceiling: parse + insert with 128 messages per commit, about 5 s");
    let mut reference = store::SqliteMailReference::open(&config.data).await?;
    let texts = std::sync::Arc::new(samples());
    let batch: Vec<Vec<u8>> = (0..128)
        .map(|n| message(&texts, 999, n, options.message_bytes))
        .collect();
    let started = Instant::now();
    let mut inserted = 0u64;
    let parser = mail_parser::MessageParser::default();
    while started.elapsed() < Duration::from_secs(5) {
        let parsed: Vec<_> = batch
            .iter()
            .map(|raw| {
                let m = parser.parse(raw.as_slice());
                let field = |f: Option<&str>| f.unwrap_or_default().to_string();
                (
                    raw.as_slice(),
                    field(m.as_ref().and_then(|m| m.message_id())),
                    field(
                        m.as_ref()
                            .and_then(|m| m.from())
                            .and_then(|a| a.first())
                            .and_then(|a| a.address()),
                    ),
                    field(m.as_ref().and_then(|m| m.subject())),
                )
            })
            .collect();
        let mails: Vec<store::ReferenceMail<'_>> = parsed
            .iter()
            .map(|(raw, id, from, subject)| store::ReferenceMail {
                raw,
                message_id: id,
                from,
                subject,
            })
            .collect();
        reference.insert_batch(&mails).await?;
        inserted += mails.len() as u64;
    }
    let ceiling_per_second = inserted as f64 / started.elapsed().as_secs_f64();
    reference.remove().await?;

    let (mut server, smtp_address) = spawn_mail_server(config)?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_rss_kib = rss_kib(server.id());
    let cpu_before = cpu_seconds(server.id());
    let deadline = Instant::now() + Duration::from_secs(options.seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for sender in 0..options.senders {
        let address = smtp_address.clone();
        let size = options.message_bytes;
        let texts = texts.clone();
        tasks.push(tokio::spawn(async move {
            send_until(&address, &texts, sender, size, deadline).await
        }));
    }
    let mut latencies = Vec::new();
    let mut refused = 0u64;
    for task in tasks {
        let (mut ms, bad) = task.await??;
        latencies.append(&mut ms);
        refused += bad;
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(server.id()) - cpu_before;
    let busy_rss_kib = rss_kib(server.id());
    let _ = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status();
    let _ = server.wait();
    latencies.sort_by(f64::total_cmp);
    let accepted = latencies.len() as f64;
    let per_second = accepted / seconds;
    let report = json!({
        "database": "sqlite",
        "message_bytes": options.message_bytes,
        "ceiling_parse_and_insert_per_second": round(ceiling_per_second),
        "smtp": {
            "senders": options.senders,
            "seconds": round(seconds),
            "accepted": latencies.len(),
            "refused_or_failed": refused,
            "per_second": round(per_second),
            "ratio_to_ceiling": round(per_second / ceiling_per_second),
            "accept_p50_ms": round(percentile(&latencies, 0.50)),
            "accept_p99_ms": round(percentile(&latencies, 0.99)),
            "accept_max_ms": round(latencies.last().copied().unwrap_or(f64::NAN)),
            "server_cpu_seconds_per_1000": round(cpu / accepted.max(1.0) * 1000.0),
        },
        "server_rss_mib": {
            "idle": round(idle_rss_kib as f64 / 1024.0),
            "after_load": round(busy_rss_kib as f64 / 1024.0),
        },
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    Ok(())
}

/// One sender: a connection, then messages back to back until the deadline. Returns the
/// accept latencies (ms) of the messages that got 250, and how many did not.
async fn send_until(
    address: &str,
    texts: &[Sample],
    sender: usize,
    size: usize,
    deadline: Instant,
) -> anyhow::Result<(Vec<f64>, u64)> {
    let stream = tokio::net::TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    let (read, mut write) = stream.into_split();
    let mut read = tokio::io::BufReader::new(read);
    read_reply(&mut read).await?;
    write.write_all(b"EHLO bench.test\r\n").await?;
    read_reply(&mut read).await?;
    let mut latencies = Vec::new();
    let mut refused = 0;
    let mut n = 0u64;
    while Instant::now() < deadline {
        n += 1;
        let payload = data_payload(&message(texts, sender, n, size));
        // Pipelined envelope: MAIL, RCPT and DATA in one write (RFC 2920).
        write
            .write_all(
                format!(
                    "MAIL FROM:<customer{sender}@example.org> SIZE={}\r\nRCPT TO:<{MAILBOX}>\r\nDATA\r\n",
                    payload.len()
                )
                .as_bytes(),
            )
            .await?;
        let mail = read_reply(&mut read).await?;
        let rcpt = read_reply(&mut read).await?;
        let data = read_reply(&mut read).await?;
        if !(mail.starts_with("250") && rcpt.starts_with("250") && data.starts_with("354")) {
            refused += 1;
            write.write_all(b"RSET\r\n").await?;
            read_reply(&mut read).await?;
            continue;
        }
        write.write_all(&payload).await?;
        let sent = Instant::now();
        let answer = read_reply(&mut read).await?;
        if answer.starts_with("250") {
            latencies.push(sent.elapsed().as_secs_f64() * 1000.0);
        } else {
            refused += 1;
        }
    }
    write.write_all(b"QUIT\r\n").await?;
    Ok((latencies, refused))
}

/// One complete SMTP reply (multi-line replies joined).
async fn read_reply(
    read: &mut tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> anyhow::Result<String> {
    let mut full = String::new();
    loop {
        let mut line = String::new();
        anyhow::ensure!(read.read_line(&mut line).await? > 0, "connection closed");
        full.push_str(&line);
        if line.as_bytes().get(3) != Some(&b'-') {
            return Ok(full);
        }
    }
}

fn spawn_mail_server(config: &Config) -> anyhow::Result<(std::process::Child, String)> {
    let exe = std::env::current_exe()?;
    let mut child = Command::new(exe)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--smtp-listen",
            "127.0.0.1:0",
            "--data",
        ])
        .arg(&config.data)
        .env("RAPPORT_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .context("start rapport serve")?;
    let stdout = child.stdout.take().context("server stdout")?;
    let mut lines = BufReader::new(stdout);
    for _ in 0..4 {
        let mut line = String::new();
        if lines.read_line(&mut line)? == 0 {
            break;
        }
        if let Some(address) = line.trim().strip_prefix("SMTP is listening on ") {
            return Ok((child, address.to_string()));
        }
    }
    let _ = child.kill();
    anyhow::bail!("the server did not start its SMTP listener")
}
