//! The e-mail channel: the SMTP/LMTP listener answers 250 only once the raw message is
//! stored, checks recipients at RCPT, refuses what is too large, and survives bad input.

use std::sync::Arc;
use std::time::Duration;

use domain::Principal;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::support::{backends, team, T0};

/// A listener on a port the test picks, stopped when dropped.
struct Listener {
    address: std::net::SocketAddr,
    stop: watch::Sender<bool>,
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn start(app: &app::App, protocol: smtp::Protocol, max_bytes: usize) -> Listener {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let mut settings = smtp::Settings::new(protocol, "mx.test");
    settings.max_message_bytes = max_bytes;
    let mailboxes = smtp::Mailboxes::load(app.clone()).await.unwrap();
    let (stop, stop_rx) = watch::channel(false);
    tokio::spawn(smtp::serve(
        listener,
        app.clone(),
        mailboxes,
        settings,
        Arc::new(|| T0),
        stop_rx,
    ));
    Listener { address, stop }
}

/// A line-oriented SMTP client for the test.
struct Client {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Client {
    async fn connect(address: std::net::SocketAddr) -> Client {
        let stream = TcpStream::connect(address).await.unwrap();
        let (r, w) = stream.into_split();
        let mut client = Client {
            reader: BufReader::new(r),
            writer: w,
        };
        let greeting = client.reply().await;
        assert!(greeting.starts_with("220 "), "{greeting}");
        client
    }

    async fn send(&mut self, text: &str) {
        self.writer.write_all(text.as_bytes()).await.unwrap();
    }

    /// One complete reply (multi-line replies joined), e.g. "250 2.0.0 ok".
    async fn reply(&mut self) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(10), self.reader.read_line(&mut line))
                .await
                .expect("a reply in time")
                .unwrap();
            assert!(n > 0, "connection closed; so far: {all:?}");
            all.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return all.trim_end().to_string();
            }
        }
    }

    async fn command(&mut self, text: &str) -> String {
        self.send(&format!("{text}\r\n")).await;
        self.reply().await
    }
}

async fn with_mailbox(app: &app::App) {
    let t = team(app).await;
    let _ = t;
    app.add_mailbox(
        &Principal::System,
        "Support@Mx.Test",
        "Support",
        Some("Support"),
        true,
        T0,
    )
    .await
    .unwrap();
}

const MESSAGE: &str = "From: Ann <ann@example.org>\r\nTo: support@mx.test\r\nSubject: Printer on fire\r\nMessage-ID: <m1@example.org>\r\n\r\nHello,\r\n..a line that starts with a dot\r\n.\r\n";

#[tokio::test]
async fn smtp_answers_250_only_once_the_raw_message_is_stored() {
    for db in backends().await {
        let app = db.app();
        with_mailbox(&app).await;
        let server = start(&app, smtp::Protocol::Smtp, 1 << 20).await;
        let mut c = Client::connect(server.address).await;
        let ehlo = c.command("EHLO client.test").await;
        for extension in ["PIPELINING", "8BITMIME", "SMTPUTF8", "SIZE 1048576"] {
            assert!(ehlo.contains(extension), "{}: {ehlo}", db.name);
        }
        // Pipelined envelope (RFC 2920): three answers for three commands sent at once.
        c.send("MAIL FROM:<ann@example.org> SIZE=300\r\nRCPT TO:<nobody@mx.test>\r\nRCPT TO:<support+c12-x@mx.test>\r\nDATA\r\n")
            .await;
        assert!(c.reply().await.starts_with("250"));
        assert!(
            c.reply().await.starts_with("550 5.1.1"),
            "unknown mailbox refused at RCPT"
        );
        assert!(c.reply().await.starts_with("250"));
        assert!(c.reply().await.starts_with("354"));
        c.send(MESSAGE).await;
        let answer = c.reply().await;
        assert!(
            answer.starts_with("250 2.0.0 accepted as message "),
            "{answer}"
        );
        let id: i64 = answer.rsplit(' ').next().unwrap().parse().unwrap();
        // Durable before 250: the row and the raw bytes are there the moment 250 arrives.
        let row = app.store.inbound_mail(id).await.unwrap().expect("stored");
        assert_eq!(row.state, "received");
        assert_eq!(row.mail_from, "ann@example.org");
        assert_eq!(row.recipients, "support+c12-x@mx.test");
        let raw = app.store.blob(&row.raw_sha256).await.unwrap().unwrap();
        let expected = MESSAGE
            .strip_suffix(".\r\n")
            .unwrap()
            .replace("\r\n..a line", "\r\n.a line");
        assert_eq!(
            String::from_utf8(raw).unwrap(),
            expected,
            "kept byte for byte, dots unstuffed"
        );
        assert_eq!(c.command("QUIT").await, "221 2.0.0 bye");
        db.finish().await;
    }
}

#[tokio::test]
async fn smtp_refuses_what_is_out_of_order_too_large_or_garbled_and_keeps_serving() {
    let db = crate::support::sqlite().await;
    let app = db.app();
    with_mailbox(&app).await;
    let server = start(&app, smtp::Protocol::Smtp, 200).await;
    let mut c = Client::connect(server.address).await;
    assert!(
        c.command("MAIL FROM:<a@b.test>").await.starts_with("503"),
        "EHLO first"
    );
    assert!(c.command("EHLO x").await.starts_with("250"));
    assert!(c.command("DATA").await.starts_with("503"));
    assert!(c.command("FROBNICATE now").await.starts_with("500"));
    assert!(c
        .command("MAIL FROM:<a@b.test> SIZE=100000")
        .await
        .starts_with("552"));
    assert!(c.command("MAIL FROM:<a@b.test>").await.starts_with("250"));
    assert!(c
        .command("RCPT TO:<support@mx.test>")
        .await
        .starts_with("250"));
    assert!(c.command("DATA").await.starts_with("354"));
    let big = format!(
        "Subject: big\r\n\r\n{}\r\n.\r\n",
        "x".repeat(100).repeat(10)
    );
    c.send(&big).await;
    assert!(
        c.reply().await.starts_with("552 5.3.4"),
        "too large, read to its end then refused"
    );
    // The session goes on, and nothing was stored.
    assert!(c.command("NOOP").await.starts_with("250"));
    assert!(c.command(&"A".repeat(5000)).await.starts_with("500"));
    assert!(c.command("RSET").await.starts_with("250"));
    assert!(c.command("STARTTLS").await.starts_with("502"));
    assert_eq!(app.store.inbound_mail_states().await.unwrap(), vec![]);
    db.finish().await;
}

#[tokio::test]
async fn lmtp_answers_once_per_recipient_after_data() {
    let db = crate::support::sqlite().await;
    let app = db.app();
    with_mailbox(&app).await;
    app.add_mailbox(
        &Principal::System,
        "billing@mx.test",
        "",
        Some("Billing"),
        false,
        T0,
    )
    .await
    .unwrap();
    let server = start(&app, smtp::Protocol::Lmtp, 1 << 20).await;
    let mut c = Client::connect(server.address).await;
    assert!(
        c.command("EHLO x").await.starts_with("500"),
        "LMTP wants LHLO"
    );
    assert!(c.command("LHLO mta.test").await.starts_with("250"));
    assert!(
        c.command("MAIL FROM:<>").await.starts_with("250"),
        "null sender (bounces) allowed"
    );
    assert!(c
        .command("RCPT TO:<support@mx.test>")
        .await
        .starts_with("250"));
    assert!(c
        .command("RCPT TO:<billing@mx.test>")
        .await
        .starts_with("250"));
    assert!(c.command("DATA").await.starts_with("354"));
    c.send(MESSAGE).await;
    let first = c.reply().await;
    let second = c.reply().await;
    assert!(
        first.starts_with("250") && second.starts_with("250"),
        "{first} / {second}"
    );
    let states = app.store.inbound_mail_states().await.unwrap();
    assert_eq!(
        states,
        vec![("received".to_string(), 1)],
        "one stored message for both recipients"
    );
    db.finish().await;
}

#[tokio::test]
async fn only_administrators_configure_mailboxes_and_see_the_quarantine() {
    let db = crate::support::sqlite().await;
    let app = db.app();
    let t = team(&app).await;
    for who in [&t.agent, &t.lead, &t.manager] {
        assert!(matches!(
            app.add_mailbox(who, "x@mx.test", "", None, false, T0).await,
            Err(app::AppError::Forbidden(_))
        ));
        assert!(matches!(
            app.quarantine(who, 0, 10).await,
            Err(app::AppError::Forbidden(_))
        ));
    }
    app.add_mailbox(&t.admin, "x@mx.test", "", Some("Support"), false, T0)
        .await
        .unwrap();
    assert!(matches!(
        app.add_mailbox(&t.admin, "X@mx.test", "", None, false, T0)
            .await,
        Err(app::AppError::Conflict(_))
    ));
    assert!(matches!(
        app.add_mailbox(&t.admin, "y@mx.test", "", Some("Nope"), false, T0)
            .await,
        Err(app::AppError::Invalid(_))
    ));
    assert!(app.quarantine(&t.admin, 0, 10).await.unwrap().is_empty());
    db.finish().await;
}

fn accepted(raw: &str, from: &str) -> app::AcceptedMail {
    app::AcceptedMail {
        transport: app::Transport::Smtp,
        mail_from: from.into(),
        recipients: vec!["support@mx.test".into()],
        raw: raw.as_bytes().to_vec(),
    }
}

/// Runs every due job (the ingest jobs among them).
async fn run_jobs(app: &app::App) {
    for _ in 0..1000 {
        if app.run_one_job("test", T0 + 1).await.unwrap() == app::JobOutcome::Nothing {
            return;
        }
    }
    panic!("jobs did not finish");
}

#[tokio::test]
async fn mail_becomes_a_conversation_and_replies_thread_into_it_exactly_once() {
    for db in backends().await {
        let app = db.app();
        with_mailbox(&app).await;
        let first = "From: Ann Lee <Ann@Example.org>\r\nTo: support@mx.test\r\nSubject: Printer on fire\r\nMessage-ID: <first@example.org>\r\n\r\nIt is really on fire.\r\n";
        let id = app
            .accept_mail(accepted(first, "ann@example.org"), T0)
            .await
            .unwrap();
        // The job may run twice (a lease ran out): the second run changes nothing.
        assert_eq!(app.ingest_mail(id, T0).await.unwrap(), "message");
        assert_eq!(app.ingest_mail(id, T0).await.unwrap(), "message");
        run_jobs(&app).await;
        let row = app.store.inbound_mail(id).await.unwrap().unwrap();
        assert_eq!(row.state, "message", "{}", db.name);
        let number = row.conversation.expect("a conversation");
        let conversation = app.conversation(&Principal::System, number).await.unwrap();
        assert_eq!(conversation.subject, "Printer on fire");
        assert_eq!(conversation.channel, domain::Channel::Email);
        assert_eq!(
            conversation.group.as_ref().map(|g| g.name.as_str()),
            Some("Support")
        );
        // The answer to it (In-Reply-To) joins the same conversation, recognised by address.
        let second = "From: ann@example.org\r\nTo: support@mx.test\r\nSubject: Re: Printer on fire\r\nMessage-ID: <second@example.org>\r\nIn-Reply-To: <first@example.org>\r\n\r\nStill burning.\r\n";
        let id2 = app
            .accept_mail(accepted(second, "ann@example.org"), T0)
            .await
            .unwrap();
        run_jobs(&app).await;
        let row2 = app.store.inbound_mail(id2).await.unwrap().unwrap();
        assert_eq!(row2.conversation, Some(number), "threaded by In-Reply-To");
        let messages = app.messages(&Principal::System, number).await.unwrap();
        assert_eq!(messages.len(), 2, "each e-mail exactly once");
        // A stranger quoting the number in the subject does not get in; the customer does.
        let stranger = format!("From: eve@evil.test\r\nTo: support@mx.test\r\nSubject: [#{number}] let me in\r\nMessage-ID: <eve@evil.test>\r\n\r\nhi\r\n");
        let id3 = app
            .accept_mail(accepted(&stranger, "eve@evil.test"), T0)
            .await
            .unwrap();
        let own = format!("From: ann@example.org\r\nTo: support@mx.test\r\nSubject: [#{number}] more\r\nMessage-ID: <third@example.org>\r\n\r\nand more\r\n");
        let id4 = app
            .accept_mail(accepted(&own, "ann@example.org"), T0)
            .await
            .unwrap();
        run_jobs(&app).await;
        let row3 = app.store.inbound_mail(id3).await.unwrap().unwrap();
        assert_ne!(
            row3.conversation,
            Some(number),
            "[#n] only from a participant"
        );
        let row4 = app.store.inbound_mail(id4).await.unwrap().unwrap();
        assert_eq!(row4.conversation, Some(number));
        db.finish().await;
    }
}

#[tokio::test]
async fn automatic_mail_is_recorded_not_made_a_message_and_garbage_is_quarantined_then_released() {
    let db = crate::support::sqlite().await;
    let app = db.app();
    with_mailbox(&app).await;
    let t_admin = app.agent_principal(1).await.unwrap();
    let auto = "From: bob@example.org\r\nTo: support@mx.test\r\nSubject: Out of office\r\nAuto-Submitted: auto-replied\r\nMessage-ID: <ooo@example.org>\r\n\r\nI am away.\r\n";
    let id = app
        .accept_mail(accepted(auto, "bob@example.org"), T0)
        .await
        .unwrap();
    let garbage = "\u{0}\u{1}this is not mail at all";
    let bad = app
        .accept_mail(accepted(garbage, "x@example.org"), T0)
        .await
        .unwrap();
    run_jobs(&app).await;
    let row = app.store.inbound_mail(id).await.unwrap().unwrap();
    assert_eq!(row.state, "noise");
    assert!(
        row.reason.unwrap_or_default().contains("auto"),
        "the reason is kept"
    );
    assert_eq!(row.conversation, None);
    let quarantined = app.quarantine(&t_admin, 0, 10).await.unwrap();
    assert_eq!(quarantined.len(), 1);
    assert_eq!(quarantined[0].id, bad);
    assert!(quarantined[0]
        .reason
        .as_deref()
        .is_some_and(|r| !r.is_empty()));
    app.release_quarantined(&t_admin, bad, T0).await.unwrap();
    run_jobs(&app).await;
    let released = app.store.inbound_mail(bad).await.unwrap().unwrap();
    assert_eq!(released.state, "message", "released mail is never lost");
    let number = released.conversation.unwrap();
    let messages = app.messages(&Principal::System, number).await.unwrap();
    assert_eq!(
        messages[0].attachments.len(),
        1,
        "the original travels along"
    );
    assert!(app.quarantine(&t_admin, 0, 10).await.unwrap().is_empty());
    db.finish().await;
}

#[tokio::test]
async fn a_bounce_fails_the_outbound_message_and_marks_the_address() {
    let db = crate::support::sqlite().await;
    let app = db.app();
    with_mailbox(&app).await;
    let first = "From: ann@example.org\r\nTo: support@mx.test\r\nSubject: Hello\r\nMessage-ID: <hello@example.org>\r\n\r\nhi\r\n";
    let id = app
        .accept_mail(accepted(first, "ann@example.org"), T0)
        .await
        .unwrap();
    run_jobs(&app).await;
    let number = app
        .store
        .inbound_mail(id)
        .await
        .unwrap()
        .unwrap()
        .conversation
        .unwrap();
    let mut tx = app.store.begin().await.unwrap();
    let blob = tx.put_blob(b"sent bytes", T0).await.unwrap();
    let outbound = tx
        .insert_outbound_mail(&store::NewOutboundMail {
            conversation: Some(number),
            message: None,
            header_message_id: "reply-1@mx.test",
            mail_from: "support@mx.test",
            recipients: "ann@example.org",
            raw_sha256: &blob,
            automatic: false,
            now: T0,
        })
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let dsn = "From: MAILER-DAEMON@mx.example.org\r\nTo: support@mx.test\r\nSubject: Undelivered Mail Returned to Sender\r\nMessage-ID: <dsn1@mx.example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\nFinal-Recipient: rfc822; ann@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 user unknown\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\nFrom: support@mx.test\r\nTo: ann@example.org\r\nMessage-ID: <reply-1@mx.test>\r\nSubject: Re: Hello\r\n--B--\r\n";
    let bounce = app.accept_mail(accepted(dsn, ""), T0).await.unwrap();
    run_jobs(&app).await;
    let row = app.store.inbound_mail(bounce).await.unwrap().unwrap();
    assert_eq!(row.state, "bounce");
    assert_eq!(
        row.conversation,
        Some(number),
        "attached to the conversation of the bounced reply"
    );
    let sent = app.store.outbound_mail(outbound).await.unwrap().unwrap();
    assert_eq!(sent.state, "failed");
    assert!(sent.last_error.unwrap_or_default().contains("5.1.1"));
    let mut tx = app.store.begin().await.unwrap();
    assert!(tx
        .address_undeliverable("ann@example.org")
        .await
        .unwrap()
        .is_some());
    tx.rollback().await.unwrap();
    db.finish().await;
}

/// Every message of the shared e-mail corpus goes through the whole intake path (accept,
/// then the ingest job): each becomes a conversation message, a bounce, complaint or
/// automatic-mail record, or a quarantine entry with a reason. None is left unprocessed.
#[tokio::test]
async fn the_whole_email_corpus_goes_through_intake_and_nothing_is_left_behind() {
    let root = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/email"
    ));
    let Ok(index) = std::fs::read_to_string(root.join("INDEX.tsv")) else {
        if std::env::var("RAPPORT_REQUIRE_SHARED").is_ok_and(|v| v == "1") {
            panic!("RAPPORT_REQUIRE_SHARED=1 but {} is missing", root.display());
        }
        eprintln!("skipped: {} not found", root.display());
        return;
    };
    let db = crate::support::sqlite().await;
    let app = db.app();
    with_mailbox(&app).await;
    let mut messages: Vec<Vec<u8>> = Vec::new();
    for line in index.lines().skip(1) {
        let mut fields = line.split('\t');
        let (Some(path), Some(flags)) = (fields.next(), fields.nth(5)) else {
            continue;
        };
        let raw = std::fs::read(root.join(path)).unwrap();
        if flags.contains("MBOX") {
            // Split an mbox at its "From " separator lines.
            let text = raw;
            let mut current: Vec<u8> = Vec::new();
            for chunk in text.split_inclusive(|&b| b == b'\n') {
                if chunk.starts_with(b"From ") {
                    if !current.is_empty() {
                        messages.push(std::mem::take(&mut current));
                    }
                    continue;
                }
                current.extend_from_slice(chunk);
            }
            if !current.is_empty() {
                messages.push(current);
            }
        } else {
            messages.push(raw);
        }
    }
    for raw in &messages {
        let mail = app::AcceptedMail {
            transport: app::Transport::Import,
            mail_from: "corpus@example.org".into(),
            recipients: vec!["support@mx.test".into()],
            raw: raw.clone(),
        };
        app.accept_mail(mail, T0).await.unwrap();
    }
    run_jobs(&app).await;
    let states = app.store.inbound_mail_states().await.unwrap();
    eprintln!(
        "corpus of {} messages through intake: {states:?}",
        messages.len()
    );
    let total: i64 = states.iter().map(|(_, n)| n).sum();
    assert_eq!(total as usize, messages.len());
    for (state, _) in &states {
        assert!(
            ["message", "bounce", "complaint", "noise", "quarantined"].contains(&state.as_str()),
            "nothing is left {state}"
        );
    }
    let quarantined = app
        .store
        .inbound_mail_in_state("quarantined", 0, 1000)
        .await
        .unwrap();
    assert!(quarantined
        .iter()
        .all(|m| m.reason.as_deref().is_some_and(|r| !r.is_empty())));
    let count = |s: &str| states.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n);
    assert!(
        count("message") > 100,
        "most of the corpus is mail from people"
    );
    assert!(count("bounce") >= 5, "the DSNs are recognised");
    db.finish().await;
}

/// A real SMTP server (aiosmtpd) for outbound tests, or `None` with a notice when Python's
/// aiosmtpd is not installed (CI installs it and sets RAPPORT_REQUIRE_PEERS=1).
struct SmtpSink {
    child: std::process::Child,
    port: u16,
    dir: tempfile::TempDir,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn smtp_sink(fail_first: u32) -> Option<SmtpSink> {
    use std::io::BufRead;
    let python = std::env::var("RAPPORT_PYTHON").unwrap_or_else(|_| "python3".into());
    let has_aiosmtpd = std::process::Command::new(&python)
        .args(["-c", "import aiosmtpd"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_aiosmtpd {
        if std::env::var("RAPPORT_REQUIRE_PEERS").is_ok_and(|v| v == "1") {
            panic!("RAPPORT_REQUIRE_PEERS=1 but {python} cannot import aiosmtpd");
        }
        eprintln!("skipped: the outbound SMTP test needs Python's aiosmtpd (set RAPPORT_PYTHON)");
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tools/peers/smtp_sink.py"
    );
    let mut child = std::process::Command::new(&python)
        .arg(script)
        .arg(port.to_string())
        .arg(dir.path())
        .arg(fail_first.to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "READY");
    Some(SmtpSink { child, port, dir })
}

#[tokio::test]
async fn a_reply_goes_out_by_smtp_with_retries_and_its_answer_threads_back() {
    for db in backends().await {
        // One server per backend: its first delivery attempt fails with a 451.
        let Some(sink) = smtp_sink(1) else { return };
        let relay = smtp::Relay::new(
            &format!("127.0.0.1:{}", sink.port),
            smtp::RelaySecurity::None,
            None,
        )
        .unwrap();
        let app = db.app().with_mail_sender(Arc::new(relay));
        with_mailbox(&app).await;
        let agent = app.agent_principal(4).await.unwrap();
        let first = "From: Ann <ann@example.org>\r\nTo: support@mx.test\r\nSubject: Broken kettle\r\nMessage-ID: <k1@example.org>\r\n\r\nMy kettle is broken.\r\n";
        let id = app
            .accept_mail(accepted(first, "ann@example.org"), T0)
            .await
            .unwrap();
        app.ingest_mail(id, T0).await.unwrap();
        let number = app
            .store
            .inbound_mail(id)
            .await
            .unwrap()
            .unwrap()
            .conversation
            .unwrap();
        let posted = app
            .add_message(
                &agent,
                number,
                crate::support::message(domain::MessageKind::Reply, "We will send a new one."),
                None,
                T0,
            )
            .await
            .unwrap();
        let _ = posted;
        let mail = app.outbound_mail(&agent, number).await.unwrap();
        let reply = mail
            .iter()
            .find(|m| !m.automatic)
            .expect("the reply is queued with it");
        assert_eq!(reply.state, "queued");
        assert_eq!(reply.recipients, "ann@example.org");
        // Every job, now and after the backoff: the first attempt meets a 451, the retry is sent.
        for now in [T0 + 1, T0 + 3_600_000, T0 + 7_200_000] {
            while app.run_one_job("test", now).await.unwrap() != app::JobOutcome::Nothing {}
        }
        let mail = app.outbound_mail(&agent, number).await.unwrap();
        for m in &mail {
            assert_eq!(m.state, "sent", "{}: {m:?}", db.name);
        }
        let reply = mail.iter().find(|m| !m.automatic).unwrap();
        let ack = mail
            .iter()
            .find(|m| m.automatic)
            .expect("an acknowledgement went out");
        assert!(
            reply.attempts + ack.attempts >= 3,
            "one delivery was deferred and retried"
        );
        let events = app.events(&agent, number).await.unwrap();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert!(
            kinds.contains(&"mail_queued") && kinds.contains(&"mail_delivery"),
            "{kinds:?}"
        );
        // What the server received: threaded, tokenised, the acknowledgement marked automatic.
        let mut received = Vec::new();
        for entry in std::fs::read_dir(sink.dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "eml") {
                received.push(std::fs::read_to_string(path).unwrap());
            }
        }
        let sent_reply = received
            .iter()
            .find(|m| m.contains("We will send a new one."))
            .expect("the reply reached the server");
        assert!(
            sent_reply.contains("In-Reply-To: <k1@example.org>"),
            "{sent_reply}"
        );
        assert!(sent_reply.contains(&format!("[#{number}]")));
        assert!(received
            .iter()
            .any(|m| m.contains("Auto-Submitted: auto-replied")));
        // The customer answers our reply: it threads by In-Reply-To.
        let answer = format!(
            "From: ann@example.org\r\nTo: support@mx.test\r\nSubject: Re: Broken kettle\r\nMessage-ID: <k2@example.org>\r\nIn-Reply-To: <{}>\r\n\r\nThanks!\r\n",
            reply.header_message_id
        );
        let id2 = app
            .accept_mail(accepted(&answer, "ann@example.org"), T0)
            .await
            .unwrap();
        app.ingest_mail(id2, T0).await.unwrap();
        assert_eq!(
            app.store
                .inbound_mail(id2)
                .await
                .unwrap()
                .unwrap()
                .conversation,
            Some(number)
        );
        drop(sink);
        db.finish().await;
    }
}

/// STARTTLS with a configured certificate: offered in EHLO, the handshake succeeds, the
/// session starts again over TLS (no STARTTLS offered twice), and mail is accepted as usual.
#[tokio::test]
async fn starttls_upgrades_the_session_with_the_configured_certificate() {
    use tokio::io::AsyncReadExt;
    use tokio_rustls::rustls;
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=mx.test",
            "-addext",
            "subjectAltName=DNS:mx.test",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
            "-addext",
            "extendedKeyUsage=serverAuth",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output();
    if !made.is_ok_and(|o| o.status.success()) {
        if std::env::var("RAPPORT_REQUIRE_PEERS").is_ok_and(|v| v == "1") {
            panic!("RAPPORT_REQUIRE_PEERS=1 but openssl cannot make a test certificate");
        }
        eprintln!("skipped: the STARTTLS test needs the openssl command");
        return;
    }
    let db = crate::support::sqlite().await;
    let app = db.app();
    with_mailbox(&app).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let mut settings = smtp::Settings::new(smtp::Protocol::Smtp, "mx.test");
    settings.tls = Some(smtp::load_tls(&cert, &key).unwrap());
    let (stop, stop_rx) = watch::channel(false);
    tokio::spawn(smtp::serve(
        listener,
        app.clone(),
        smtp::Mailboxes::load(app.clone()).await.unwrap(),
        settings,
        Arc::new(|| T0),
        stop_rx,
    ));

    let mut tcp = TcpStream::connect(address).await.unwrap();
    let mut buf = vec![0u8; 4096];
    let mut read_reply = async |s: &mut (dyn tokio::io::AsyncRead + Unpin + Send)| {
        let n = s.read(&mut buf).await.unwrap();
        String::from_utf8_lossy(&buf[..n]).to_string()
    };
    assert!(read_reply(&mut tcp).await.starts_with("220 "));
    tcp.write_all(b"EHLO client.test\r\n").await.unwrap();
    assert!(read_reply(&mut tcp).await.contains("250-STARTTLS"));
    tcp.write_all(b"STARTTLS\r\n").await.unwrap();
    assert!(read_reply(&mut tcp).await.starts_with("220 2.0.0"));
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(&cert).unwrap();
    let der = rustls::pki_types::pem::PemObject::from_pem_slice(&pem).unwrap();
    roots.add(der).unwrap();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls::pki_types::ServerName::try_from("mx.test").unwrap();
    let mut tls = connector
        .connect(name, tcp)
        .await
        .expect("the handshake succeeds");
    tls.write_all(b"EHLO client.test\r\n").await.unwrap();
    let ehlo = read_reply(&mut tls).await;
    assert!(
        ehlo.starts_with("250") && !ehlo.contains("STARTTLS"),
        "{ehlo}"
    );
    tls.write_all(b"MAIL FROM:<ann@example.org>\r\nRCPT TO:<support@mx.test>\r\nDATA\r\n")
        .await
        .unwrap();
    let mut replies = String::new();
    while replies.matches("\r\n").count() < 3 {
        replies.push_str(&read_reply(&mut tls).await);
    }
    assert!(replies.contains("354"), "{replies}");
    tls.write_all(MESSAGE.as_bytes()).await.unwrap();
    assert!(read_reply(&mut tls).await.starts_with("250 2.0.0 accepted"));
    let _ = stop.send(true);
    db.finish().await;
}

/// SMTPUTF8 (RFC 6531): an envelope and headers in UTF-8, sent as 8-bit data, are taken as
/// they are; the customer and the subject come out right.
#[tokio::test]
async fn smtputf8_addresses_and_headers_arrive_unchanged() {
    let db = crate::support::sqlite().await;
    let app = db.app();
    with_mailbox(&app).await;
    let server = start(&app, smtp::Protocol::Smtp, 1 << 20).await;
    let mut c = Client::connect(server.address).await;
    assert!(c.command("EHLO client.test").await.contains("SMTPUTF8"));
    let from = c
        .command("MAIL FROM:<jörg@exämple.org> SMTPUTF8 BODY=8BITMIME")
        .await;
    assert!(from.starts_with("250"), "{from}");
    assert!(c
        .command("RCPT TO:<support@mx.test>")
        .await
        .starts_with("250"));
    assert!(c.command("DATA").await.starts_with("354"));
    c.send("From: Jörg Groß <jörg@exämple.org>\r\nTo: support@mx.test\r\nSubject: Grüße aus Köln\r\nMessage-ID: <utf8@exämple.org>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nDer Drucker läuft nicht — schöne Grüße.\r\n.\r\n")
        .await;
    let answer = c.reply().await;
    assert!(answer.starts_with("250 2.0.0 accepted"), "{answer}");
    let id: i64 = answer.rsplit(' ').next().unwrap().parse().unwrap();
    let row = app.store.inbound_mail(id).await.unwrap().unwrap();
    assert_eq!(row.mail_from, "jörg@exämple.org");
    run_jobs(&app).await;
    let row = app.store.inbound_mail(id).await.unwrap().unwrap();
    assert_eq!(row.state, "message", "{:?}", row.reason);
    let number = row.conversation.unwrap();
    let conversation = app.conversation(&Principal::System, number).await.unwrap();
    assert_eq!(conversation.subject, "Grüße aus Köln");
    let messages = app.messages(&Principal::System, number).await.unwrap();
    assert!(
        messages[0].text.contains("läuft nicht — schöne Grüße"),
        "{}",
        messages[0].text
    );
    assert_eq!(
        conversation.customer.email.as_deref(),
        Some("jörg@exämple.org")
    );
    assert_eq!(conversation.customer.name, "Jörg Groß");
    db.finish().await;
}

/// The text of the automatic acknowledgements queued for conversation `number`.
async fn acknowledgements(app: &app::App, number: i64) -> Vec<String> {
    let mut texts = Vec::new();
    for m in app.outbound_mail(&Principal::System, number).await.unwrap() {
        if m.automatic {
            let raw = app.store.blob(&m.raw_sha256).await.unwrap().unwrap();
            texts.push(String::from_utf8_lossy(&raw).to_string());
        }
    }
    texts
}

/// The automatic acknowledgement: each mailbox's own text, never to automatic mail (RFC 3834,
/// Precedence junk, Rapport's own addresses: recorded with their rule, no conversation), never
/// to list or bulk mail or X-Auto-Response-Suppress (a conversation, with the rule as its
/// reason), and at most three a day to one address.
#[tokio::test]
async fn acknowledgements_use_the_mailbox_text_skip_automatic_mail_and_stop_at_the_cap() {
    for db in backends().await {
        let app = db.app();
        with_mailbox(&app).await;
        let support = app
            .mailboxes()
            .await
            .unwrap()
            .into_iter()
            .find(|m| m.address == "support@mx.test")
            .unwrap();
        app.update_mailbox(
            &Principal::System,
            support.id,
            app::MailboxInput {
                name: "Support".into(),
                group_id: support.group_id,
                acknowledge: true,
                acknowledgement: "Support has request {number}: {subject}.".into(),
            },
            T0,
        )
        .await
        .unwrap();
        app.add_mailbox_with(
            &Principal::System,
            "billing@mx.test",
            app::MailboxInput {
                name: "Billing".into(),
                group_id: support.group_id,
                acknowledge: true,
                acknowledgement: "Billing will look at request {number}.".into(),
            },
            T0,
        )
        .await
        .unwrap();
        let send = async |from: &str, to: &str, subject: &str, extra: &str| -> i64 {
            let raw = format!("From: {from}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: <{}@example.org>\r\n{extra}\r\nHello.\r\n", subject.replace(' ', "-"));
            let mail = app::AcceptedMail {
                transport: app::Transport::Smtp,
                mail_from: from.into(),
                recipients: vec![to.into()],
                raw: raw.into_bytes(),
            };
            app.accept_mail(mail, T0).await.unwrap()
        };
        // Each mailbox acknowledges in its own words.
        let to_support = send("ann@example.org", "support@mx.test", "Printer one", "").await;
        let to_billing = send("bob@example.org", "billing@mx.test", "Invoice twice", "").await;
        run_jobs(&app).await;
        let conversation_of = async |id: i64| {
            let row = app.store.inbound_mail(id).await.unwrap().unwrap();
            (row.state, row.reason, row.conversation)
        };
        let number = conversation_of(to_support).await.2.unwrap();
        let texts = acknowledgements(&app, number).await;
        assert_eq!(texts.len(), 1);
        assert!(
            texts[0].contains(&format!("Support has request {number}: Printer one.")),
            "{}",
            texts[0]
        );
        assert!(texts[0].contains("Auto-Submitted: auto-replied"));
        let number = conversation_of(to_billing).await.2.unwrap();
        let texts = acknowledgements(&app, number).await;
        assert_eq!(texts.len(), 1);
        assert!(
            texts[0].contains(&format!("Billing will look at request {number}.")),
            "{}",
            texts[0]
        );

        let answered = async |from: &str| {
            let mut tx = app.store.begin().await.unwrap();
            let answered = tx
                .automatic_mails_to(&from.to_lowercase(), 0)
                .await
                .unwrap();
            tx.rollback().await.unwrap();
            answered
        };
        // Automatic mail is recorded with its rule and never answered.
        for (extra, from, rule) in [
            (
                "Auto-Submitted: auto-generated\r\n",
                "carl@example.org",
                "auto_submitted",
            ),
            ("Precedence: junk\r\n", "cron@example.org", "precedence"),
            (
                "Precedence: list\r\nList-Id: <users.lists.example.org>\r\nX-Autoreply: yes\r\n",
                "erin@example.org",
                "auto_reply_header",
            ),
            ("", "Support@mx.test", "from_own_address"),
        ] {
            let id = send(from, "support@mx.test", &format!("noise {rule}"), extra).await;
            run_jobs(&app).await;
            let (state, reason, conversation) = conversation_of(id).await;
            assert_eq!(state, "noise", "{}: {rule}", db.name);
            assert_eq!(conversation, None, "{rule}: not made a customer message");
            assert!(
                reason.as_deref().is_some_and(|r| r.contains(rule)),
                "{rule}: {reason:?}"
            );
            assert_eq!(answered(from).await, 0, "{rule}: never answered");
        }
        // A person's mail through a list or a mass mailer, or asking for no automatic answer, is a
        // conversation like any other, with the rule as its reason, and is never answered.
        for (extra, from, rule) in [
            ("Precedence: bulk\r\n", "news@example.org", "precedence"),
            (
                "X-Auto-Response-Suppress: All\r\n",
                "dana@example.org",
                "auto_response_suppress",
            ),
            (
                "List-Id: <users.lists.example.org>\r\nPrecedence: list\r\n",
                "list@example.org",
                "mailing_list",
            ),
        ] {
            let id = send(from, "support@mx.test", &format!("quiet {rule}"), extra).await;
            run_jobs(&app).await;
            let (state, reason, conversation) = conversation_of(id).await;
            assert_eq!(state, "message", "{}: {rule}", db.name);
            let number = conversation.expect("a conversation");
            assert!(
                reason
                    .as_deref()
                    .is_some_and(|r| r.starts_with("no automatic answer: ") && r.contains(rule)),
                "{rule}: {reason:?}"
            );
            assert!(acknowledgements(&app, number).await.is_empty(), "{rule}");
            assert_eq!(answered(from).await, 0, "{rule}: never answered");
            let events = app.events(&Principal::System, number).await.unwrap();
            let processed = events
                .iter()
                .find(|e| e.kind == "mail_processed")
                .expect("the intake is on the conversation's record");
            assert!(
                processed.payload["reason"]
                    .as_str()
                    .is_some_and(|r| r.contains(rule)),
                "{rule}: {}",
                processed.payload
            );
        }
        // Ann opens three more conversations within the day: the cap is three a day, so only two
        // more are acknowledged.
        let mut acknowledged = 0;
        for subject in ["Printer two", "Printer three", "Printer four"] {
            let id = send("ann@example.org", "support@mx.test", subject, "").await;
            run_jobs(&app).await;
            let number = conversation_of(id).await.2.expect("still a conversation");
            acknowledged += acknowledgements(&app, number).await.len();
        }
        assert_eq!(
            acknowledged, 2,
            "three acknowledgements a day to one address"
        );
        db.finish().await;
    }
}

/// Delivers `raw` over SMTP and answers the inbound id from the 250.
async fn deliver(c: &mut Client, mail_from: &str, to: &str, raw: &str) -> i64 {
    assert!(c
        .command(&format!("MAIL FROM:<{mail_from}>"))
        .await
        .starts_with("250"));
    assert!(c
        .command(&format!("RCPT TO:<{to}>"))
        .await
        .starts_with("250"));
    assert!(c.command("DATA").await.starts_with("354"));
    c.send(&format!("{raw}\r\n.\r\n")).await;
    let answer = c.reply().await;
    assert!(answer.starts_with("250 "), "{answer}");
    answer.rsplit(' ').next().unwrap().parse().unwrap()
}

/// A support address fronted by a Google Group: the customer's mail arrives through the list
/// (List-Id, Precedence: list, the list's envelope sender) and becomes a conversation, without an
/// acknowledgement and with the reason recorded. The agent's reply, echoed back by the list to
/// its members (Rapport among them) with From rewritten to the list and X-Loop stripped, is
/// recognised by its Message-ID and kept out; with X-Loop kept and the Message-ID rewritten, by
/// X-Loop. The customer's answer through the list threads onto the conversation, again without
/// an automatic answer. Nothing loops: one outbound mail, the agent's reply.
#[tokio::test]
async fn list_mail_through_smtp_is_a_conversation_without_acknowledgement_and_its_echo_does_not_loop(
) {
    for db in backends().await {
        let app = db.app();
        with_mailbox(&app).await;
        let agent = app.agent_principal(4).await.unwrap();
        let server = start(&app, smtp::Protocol::Smtp, 1 << 20).await;
        let mut c = Client::connect(server.address).await;
        assert!(c.command("EHLO lists.example.org").await.starts_with("250"));
        let list_headers = "List-Id: <help.lists.example.org>\r\nPrecedence: list\r\nList-Unsubscribe: <mailto:help+unsubscribe@lists.example.org>\r\nMailing-list: list help@lists.example.org";
        let bounces = "help+bncBAA@lists.example.org";
        let first = format!("From: Ann <ann@example.org>\r\nTo: help@lists.example.org\r\nSubject: Kettle leaks\r\nMessage-ID: <g1@example.org>\r\n{list_headers}\r\n\r\nMy kettle leaks.\r\n");
        let id = deliver(&mut c, bounces, "support@mx.test", &first).await;
        run_jobs(&app).await;
        let row = app.store.inbound_mail(id).await.unwrap().unwrap();
        assert_eq!(
            row.state, "message",
            "{}: list mail is not swallowed",
            db.name
        );
        let number = row.conversation.expect("a conversation");
        let reason = row.reason.unwrap_or_default();
        assert!(
            reason.starts_with("no automatic answer: ") && reason.contains("mailing_list"),
            "{reason}"
        );
        let conversation = app.conversation(&agent, number).await.unwrap();
        assert_eq!(
            conversation.customer.email.as_deref(),
            Some("ann@example.org"),
            "the customer is the person, not the list"
        );
        assert!(
            app.outbound_mail(&agent, number).await.unwrap().is_empty(),
            "no acknowledgement to list mail"
        );

        app.add_message(
            &agent,
            number,
            crate::support::message(domain::MessageKind::Reply, "A new kettle is on its way."),
            None,
            T0,
        )
        .await
        .unwrap();
        let sent = app.outbound_mail(&agent, number).await.unwrap();
        assert_eq!(sent.len(), 1);
        let reply_id = sent[0].header_message_id.clone();
        let messages_before = app.messages(&agent, number).await.unwrap().len();

        // The list echoes the reply: From rewritten, X-Loop gone, our Message-ID kept.
        let echo = format!("From: 'Support' via Help <help@lists.example.org>\r\nReply-To: support@mx.test\r\nTo: help@lists.example.org\r\nSubject: Re: Kettle leaks [#{number}]\r\nMessage-ID: <{reply_id}>\r\nIn-Reply-To: <g1@example.org>\r\n{list_headers}\r\n\r\nA new kettle is on its way.\r\n");
        let echoed = deliver(&mut c, bounces, "support@mx.test", &echo).await;
        // A list that rewrites the Message-ID but keeps X-Loop.
        let echo2 = format!("From: 'Support' via Help <help@lists.example.org>\r\nTo: help@lists.example.org\r\nSubject: Re: Kettle leaks [#{number}]\r\nMessage-ID: <rewritten-{reply_id}>\r\nIn-Reply-To: <g1@example.org>\r\nX-Loop: support@mx.test\r\n{list_headers}\r\n\r\nA new kettle is on its way.\r\n");
        let echoed2 = deliver(&mut c, bounces, "support@mx.test", &echo2).await;
        run_jobs(&app).await;
        for (id, rule) in [(echoed, "own_message"), (echoed2, "loop_header")] {
            let row = app.store.inbound_mail(id).await.unwrap().unwrap();
            assert_eq!(row.state, "noise", "{}: {rule}", db.name);
            assert!(
                row.reason.as_deref().is_some_and(|r| r.contains(rule)),
                "{rule}: {:?}",
                row.reason
            );
        }
        assert_eq!(
            app.messages(&agent, number).await.unwrap().len(),
            messages_before,
            "the echo is not made a customer message"
        );

        // Ann answers through the list: it threads, and is not answered automatically.
        let answer = format!("From: Ann <ann@example.org>\r\nTo: help@lists.example.org\r\nSubject: Re: Kettle leaks\r\nMessage-ID: <g2@example.org>\r\nIn-Reply-To: <{reply_id}>\r\nReferences: <g1@example.org> <{reply_id}>\r\n{list_headers}\r\n\r\nThank you!\r\n");
        let answered = deliver(&mut c, bounces, "support@mx.test", &answer).await;
        run_jobs(&app).await;
        let row = app.store.inbound_mail(answered).await.unwrap().unwrap();
        assert_eq!(row.state, "message");
        assert_eq!(row.conversation, Some(number));
        assert!(row.reason.is_some_and(|r| r.contains("mailing_list")));
        assert_eq!(
            app.messages(&agent, number).await.unwrap().len(),
            messages_before + 1
        );
        let out = app.outbound_mail(&agent, number).await.unwrap();
        assert_eq!(out.len(), 1, "only the agent's reply went out: {out:?}");
        assert!(!out[0].automatic);
        let mut tx = app.store.begin().await.unwrap();
        for address in ["ann@example.org", "help@lists.example.org", bounces] {
            assert_eq!(
                tx.automatic_mails_to(address, 0).await.unwrap(),
                0,
                "{address}"
            );
        }
        tx.rollback().await.unwrap();
        assert_eq!(c.command("QUIT").await, "221 2.0.0 bye");
        db.finish().await;
    }
}

/// `rapport mail parse | import | quarantine list | quarantine release | reparse`, as an
/// administrator runs them: parse prints how a message is read; import takes an .eml, an
/// mbox (">From " lines unquoted) and a Maildir through the whole intake and counts the
/// outcomes; the quarantine is listed with reasons and released; reparse reads a stored
/// message again from its raw bytes.
#[test]
fn the_mail_commands_parse_import_list_release_and_reparse() {
    use crate::support::{rapport, rapport_ok};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let data = data.to_str().unwrap();
    let json = |out: std::process::Output| -> serde_json::Value {
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
    };
    let write = |name: &str, text: &[u8]| -> String {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };

    // parse: the summary, a loop from an own address, and a quarantine with its reason.
    let eml = write(
        "one.eml",
        b"From: Ann <ann@example.org>\r\nTo: support@mx.test\r\nSubject: =?utf-8?q?Caf=C3=A9?= broken\r\nMessage-ID: <one@example.org>\r\nIn-Reply-To: <earlier@mx.test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nIt is broken.\r\n\r\n> what you wrote before\r\n--b\r\nContent-Type: application/pdf; name=bill.pdf\r\nContent-Disposition: attachment; filename=bill.pdf\r\n\r\n%PDF-1.4\r\n--b--\r\n",
    );
    let read = json(rapport_ok(&["mail", "parse", &eml]));
    assert_eq!(read["disposition"], "message");
    assert_eq!(read["subject"], "Café broken");
    assert_eq!(read["from"]["address"], "ann@example.org");
    assert_eq!(read["message_id"], "one@example.org");
    assert_eq!(read["in_reply_to"][0], "earlier@mx.test");
    assert_eq!(read["attachments"][0]["filename"], "bill.pdf");
    assert!(
        read["parts"].as_array().is_some_and(|p| p.len() == 3),
        "{read}"
    );
    assert!(
        read["text_segments"]
            .as_array()
            .is_some_and(|s| s.len() >= 2),
        "quoted history marked: {read}"
    );
    let own = write(
        "own.eml",
        b"From: support@mx.test\r\nSubject: hi\r\n\r\nhello\r\n",
    );
    let looped = json(rapport_ok(&[
        "mail",
        "parse",
        &own,
        "--own-address",
        "support@mx.test",
    ]));
    assert_eq!(looped["disposition"], "automatic", "{looped}");
    let empty = write("empty.eml", b"\r\n");
    let bad = json(rapport_ok(&["mail", "parse", &empty]));
    assert_eq!(bad["disposition"], "quarantine");
    assert!(bad["reason"].as_str().is_some_and(|r| !r.is_empty()));
    let missing = rapport(&["mail", "parse", "no-such-file.eml"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("could not read the message file"));

    // import needs a mailbox; then .eml, mbox and Maildir.
    let none = rapport(&["mail", "import", "--data", data, &eml]);
    assert!(String::from_utf8_lossy(&none.stderr).contains("rapport mailbox add"));
    rapport_ok(&["group", "add", "--data", data, "--name", "Support"]);
    rapport_ok(&[
        "mailbox",
        "add",
        "--data",
        data,
        "--address",
        "support@mx.test",
        "--group",
        "Support",
    ]);
    let imported = json(rapport_ok(&["mail", "import", "--data", data, &eml]));
    assert_eq!(
        imported,
        serde_json::json!({"imported": 1, "outcomes": {"message": 1}})
    );
    let mbox = write(
        "box.mbox",
        b"From ann@example.org Thu Jan  1 00:00:00 2026\nFrom: ann@example.org\nSubject: first of two\nMessage-ID: <m1@example.org>\n\nhello\n\nFrom bob@example.org Thu Jan  1 00:00:00 2026\nFrom: bob@example.org\nSubject: second of two\nMessage-ID: <m2@example.org>\n\nA line:\n>From the start it failed.\n",
    );
    let imported = json(rapport_ok(&["mail", "import", "--data", data, &mbox]));
    assert_eq!(
        imported,
        serde_json::json!({"imported": 2, "outcomes": {"message": 2}})
    );
    write(
        "maildir/cur/1.eml",
        b"From: cy@example.org\r\nSubject: in cur\r\nMessage-ID: <c1@example.org>\r\n\r\nhi\r\n",
    );
    write("maildir/new/2.eml", b"\r\n\r\n");
    write(
        "maildir/tmp/3.eml",
        b"From: half@example.org\r\nSubject: still being written\r\n\r\n",
    );
    let maildir = dir.path().join("maildir");
    let imported = json(rapport_ok(&[
        "mail",
        "import",
        "--data",
        data,
        maildir.to_str().unwrap(),
    ]));
    assert_eq!(
        imported,
        serde_json::json!({"imported": 2, "outcomes": {"message": 1, "quarantined": 1}}),
        "cur/ and new/, not tmp/"
    );

    // reparse: message 3 is the mbox's second, its ">From " line unquoted.
    let again = json(rapport_ok(&["mail", "reparse", "--data", data, "3"]));
    assert_eq!(again["subject"], "second of two");
    assert!(
        again["text"]
            .as_str()
            .is_some_and(|t| t.contains("\nFrom the start it failed.")),
        "{again}"
    );
    let nothing = rapport(&["mail", "reparse", "--data", data, "99"]);
    assert!(String::from_utf8_lossy(&nothing.stderr).contains("there is no inbound message 99"));

    // The quarantine: one line with id and reason; released, it becomes a conversation.
    let list =
        String::from_utf8(rapport_ok(&["mail", "quarantine", "list", "--data", data]).stdout)
            .unwrap();
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 1, "{list}");
    let fields: Vec<&str> = lines[0].split('\t').collect();
    assert_eq!(fields.len(), 5, "{list}");
    assert!(!fields[4].is_empty(), "the reason is shown: {list}");
    let released = String::from_utf8(
        rapport_ok(&["mail", "quarantine", "release", "--data", data, fields[0]]).stdout,
    )
    .unwrap();
    assert_eq!(released.trim(), "message");
    let list = rapport_ok(&["mail", "quarantine", "list", "--data", data]);
    assert!(list.stdout.is_empty(), "released: no longer listed");
    let twice = rapport(&["mail", "quarantine", "release", "--data", data, fields[0]]);
    assert!(!twice.status.success(), "a message is released once");

    // `rapport demo` configures the support address support@demo.test.
    let demo = dir.path().join("demo");
    crate::support::seed_demo(&demo, 10);
    let mailboxes = String::from_utf8(
        rapport_ok(&["mailbox", "list", "--data", demo.to_str().unwrap()]).stdout,
    )
    .unwrap();
    assert!(
        mailboxes
            .lines()
            .any(|l| l.starts_with("support@demo.test")),
        "{mailboxes}"
    );
}

/// Inline images and Outlook's winmail.dat through the whole intake: a `cid:` image in the
/// HTML is shown from its stored attachment, and the files inside winmail.dat (TNEF) become
/// the message's attachments in its place.
#[tokio::test]
async fn inline_cid_images_show_from_their_attachment_and_winmail_dat_is_unpacked() {
    use base64::Engine;
    let tnef_sample = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/email/mimekit/tnef/one-file.tnef"
    ));
    let tnef = match std::fs::read(tnef_sample) {
        Ok(bytes) => Some(bytes),
        Err(_) if std::env::var("RAPPORT_REQUIRE_SHARED").is_ok_and(|v| v == "1") => {
            panic!(
                "RAPPORT_REQUIRE_SHARED=1 but {} is missing",
                tnef_sample.display()
            )
        }
        Err(_) => {
            eprintln!(
                "skipped (the winmail.dat part): {} not found",
                tnef_sample.display()
            );
            None
        }
    };
    let b64 = |bytes: &[u8]| {
        let text = base64::engine::general_purpose::STANDARD.encode(bytes);
        text.as_bytes()
            .chunks(76)
            .map(|l| String::from_utf8_lossy(l).to_string())
            .collect::<Vec<_>>()
            .join("\r\n")
    };
    let png: &[u8] =
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0\x1f\x15\xc4\x89";
    let mut raw = format!(
        "From: Ann <ann@example.org>\r\nTo: support@mx.test\r\nSubject: Logo and files\r\nMessage-ID: <cid@example.org>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"outer\"\r\n\r\n--outer\r\nContent-Type: multipart/related; boundary=\"rel\"\r\n\r\n--rel\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>Our logo: <img src=\"cid:logo.1@example.org\" alt=\"logo\"></p>\r\n--rel\r\nContent-Type: image/png; name=\"logo.png\"\r\nContent-ID: <logo.1@example.org>\r\nContent-Disposition: inline; filename=\"logo.png\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n--rel--\r\n",
        b64(png)
    );
    if let Some(tnef) = &tnef {
        raw.push_str(&format!(
            "--outer\r\nContent-Type: application/ms-tnef; name=\"winmail.dat\"\r\nContent-Disposition: attachment; filename=\"winmail.dat\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{}\r\n",
            b64(tnef)
        ));
    }
    raw.push_str("--outer--\r\n");
    let db = crate::support::sqlite().await;
    let app = db.app();
    with_mailbox(&app).await;
    let id = app
        .accept_mail(accepted(&raw, "ann@example.org"), T0)
        .await
        .unwrap();
    run_jobs(&app).await;
    let row = app.store.inbound_mail(id).await.unwrap().unwrap();
    assert_eq!(row.state, "message", "{:?}", row.reason);
    let messages = app
        .messages(&Principal::System, row.conversation.unwrap())
        .await
        .unwrap();
    let message = &messages[0];
    let logo = message
        .attachments
        .iter()
        .find(|a| a.filename == "logo.png")
        .expect("the inline image is stored as an attachment");
    assert!(
        message
            .html
            .contains(&format!("<img src=\"/api/v1/attachments/{}\"", logo.id)),
        "{}",
        message.html
    );
    let names: Vec<&str> = message
        .attachments
        .iter()
        .map(|a| a.filename.as_str())
        .collect();
    if tnef.is_some() {
        assert!(
            names.contains(&"AUTHORS"),
            "unpacked from winmail.dat: {names:?}"
        );
        assert!(!names.contains(&"winmail.dat"), "{names:?}");
    }
    db.finish().await;
}
