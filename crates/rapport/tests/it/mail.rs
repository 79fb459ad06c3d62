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
