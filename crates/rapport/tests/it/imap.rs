//! The IMAP poller against a real Dovecot that each test starts (loopback, free ports, a
//! temporary folder; `imap::dovecot`): mail becomes conversations, the cursor survives a
//! restart, a new UIDVALIDITY brings no duplicates, the actions are visible on the server,
//! an oversized message is quarantined without holding up the rest, a stop between commit and
//! action is made good, and IDLE (or polling, where IDLE is not offered) picks up new mail.
//!
//! Without Dovecot the tests print "skipped: dovecot not installed", unless
//! RAPPORT_REQUIRE_PEERS=1 (CI), which makes that a failure.

use std::sync::Arc;
use std::time::Duration;

use domain::Principal;
use imap::dovecot::Dovecot;

use crate::support::{backends, team, T0};

const USER: &str = "agent@imap.test";
const PASSWORD: &str = "imap-secret";
const SUPPORT: &str = "support@mx.test";

/// A running Dovecot and the folder it lives in (dropped in this order: stop, then remove).
struct Peer {
    dovecot: Dovecot,
    dir: tempfile::TempDir,
}

/// Starts Dovecot with `extra` configuration, or `None` (skipped) when it is not installed.
fn dovecot(extra: &str) -> Option<Peer> {
    if !dovecot_installed() {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let dovecot = Dovecot::start(dir.path(), &[(USER, PASSWORD)], extra)
        .unwrap_or_else(|e| panic!("Dovecot did not start: {e}"));
    Some(Peer { dovecot, dir })
}

/// A throwaway self-signed certificate for 127.0.0.1 (cert.pem, key.pem in `dir`), or `None`
/// (skipped) without the openssl command.
fn test_certificate(dir: &std::path::Path) -> Option<(std::path::PathBuf, std::path::PathBuf)> {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
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
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
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
        eprintln!("skipped: the IMAP TLS tests need the openssl command");
        return None;
    }
    Some((cert, key))
}

/// Dovecot with STARTTLS on `port` and IMAPS on `imaps_port`, with a throwaway certificate;
/// the certificate's file comes back to be trusted (or not) by the test.
fn dovecot_with_tls() -> Option<(Peer, std::path::PathBuf)> {
    if !dovecot_installed() {
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = test_certificate(dir.path())?;
    let dovecot = Dovecot::start_with_tls(dir.path(), &[(USER, PASSWORD)], "", &cert, &key)
        .unwrap_or_else(|e| panic!("Dovecot did not start: {e}"));
    Some((Peer { dovecot, dir }, cert))
}

/// Whether Dovecot can be run: false (skipped) when not, a failure under RAPPORT_REQUIRE_PEERS=1.
fn dovecot_installed() -> bool {
    if !Dovecot::installed() {
        if std::env::var("RAPPORT_REQUIRE_PEERS").is_ok_and(|v| v == "1") {
            panic!("RAPPORT_REQUIRE_PEERS=1 but dovecot is not installed (apt-get install dovecot-imapd)");
        }
        eprintln!("skipped: dovecot not installed");
        return false;
    }
    true
}

fn account(peer: &Peer, folder: &str, after: imap::AfterAction) -> imap::Account {
    imap::Account {
        name: format!("{USER}@127.0.0.1"),
        host: "127.0.0.1".into(),
        port: peer.dovecot.port,
        security: imap::Security::None,
        tls_ca_file: None,
        user: USER.into(),
        password: PASSWORD.into(),
        folder: folder.into(),
        mailbox: SUPPORT.into(),
        after,
        poll_interval: Duration::from_secs(3600),
        limits: imap::Limits {
            command_timeout: Duration::from_secs(20),
            ..imap::Limits::default()
        },
    }
}

fn clock() -> imap::Clock {
    Arc::new(|| T0)
}

/// A message from a customer, with CRLF line ends as IMAP serves them.
fn message(n: u32, subject: &str) -> Vec<u8> {
    format!(
        "Return-Path: <customer{n}@example.org>\r\nFrom: Customer {n} <customer{n}@example.org>\r\nTo: {SUPPORT}\r\nSubject: {subject}\r\nMessage-ID: <imap-{n}@example.org>\r\nDate: Thu, 01 Jan 2026 10:00:00 +0000\r\n\r\nHello, this is message {n}.\r\n"
    )
    .into_bytes()
}

async fn setup(app: &app::App) -> crate::support::Team {
    let t = team(app).await;
    app.add_mailbox(
        &Principal::System,
        SUPPORT,
        "Support",
        Some("Support"),
        false,
        T0,
    )
    .await
    .unwrap();
    t
}

async fn run_jobs(app: &app::App) {
    for _ in 0..10_000 {
        if app.run_one_job("test", T0 + 1).await.unwrap() == app::JobOutcome::Nothing {
            return;
        }
    }
    panic!("jobs did not finish");
}

/// A few real messages of the shared corpus (none when it is absent, unless
/// RAPPORT_REQUIRE_SHARED=1).
fn corpus_messages() -> Vec<Vec<u8>> {
    let root = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/email"
    ));
    if !root.join("INDEX.tsv").exists() {
        if std::env::var("RAPPORT_REQUIRE_SHARED").is_ok_and(|v| v == "1") {
            panic!("RAPPORT_REQUIRE_SHARED=1 but {} is missing", root.display());
        }
        eprintln!("the shared e-mail corpus is absent: synthetic messages only");
        return Vec::new();
    }
    [
        "flanker/text-only.eml",
        "flanker/multipart.eml",
        "flanker/russian-attachment-yahoo.eml",
        "flanker/iphone.eml",
        "cpython/msg_01.txt",
    ]
    .iter()
    .map(|path| std::fs::read(root.join(path)).unwrap())
    .collect()
}

#[tokio::test]
async fn mail_in_a_folder_becomes_conversations_and_a_restart_takes_only_what_is_new() {
    let Some(peer) = dovecot("") else { return };
    for db in backends().await {
        let app = db.app();
        setup(&app).await;
        let folder = format!("Support-{}", db.name);
        peer.dovecot.create_folder(USER, &folder).unwrap();
        for n in 1..=3 {
            peer.dovecot
                .save(
                    USER,
                    &folder,
                    &message(n, &format!("Printer {n} is on fire")),
                )
                .unwrap();
        }
        let corpus = corpus_messages();
        for raw in &corpus {
            peer.dovecot.save(USER, &folder, raw).unwrap();
        }
        let total = 3 + corpus.len();
        let account = account(&peer, &folder, imap::AfterAction::Seen);

        let first = imap::poll_once(&app, &account, &clock()).await.unwrap();
        assert!(
            first.started_over,
            "{}: the first poll starts the cursor",
            db.name
        );
        assert_eq!(first.accepted.len(), total, "{}", db.name);
        assert_eq!(first.acted_on, total);
        assert_eq!(first.last_uid, total as i64);
        run_jobs(&app).await;
        for n in 1..=3 {
            let number = app
                .store
                .conversation_of_message_id(&format!("imap-{n}@example.org"))
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("{}: message {n} became a conversation", db.name));
            let conversation = app.conversation(&Principal::System, number).await.unwrap();
            assert_eq!(conversation.subject, format!("Printer {n} is on fire"));
            assert_eq!(
                conversation.customer.email.as_deref(),
                Some(format!("customer{n}@example.org").as_str())
            );
        }
        for id in &first.accepted {
            let row = app.store.inbound_mail(*id).await.unwrap().unwrap();
            assert_eq!(row.transport, "imap");
            assert_eq!(row.recipients, SUPPORT);
            assert!(
                ["message", "bounce", "complaint", "noise", "quarantined"]
                    .contains(&row.state.as_str()),
                "inbound {id} was processed: {}",
                row.state
            );
        }
        let first_mail = app
            .store
            .inbound_mail(first.accepted[0])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            first_mail.mail_from, "customer1@example.org",
            "the envelope sender comes from Return-Path"
        );
        assert_eq!(first_mail.state, "message");
        assert_eq!(
            peer.dovecot.status(USER, &folder, "unseen").unwrap(),
            0,
            "every message taken in is flagged \\Seen on the server"
        );
        assert_eq!(
            peer.dovecot.status(USER, &folder, "messages").unwrap(),
            total as u64
        );

        // A restart: a new connection and poller read the stored cursor; nothing is taken twice.
        let again = imap::poll_once(&app, &account, &clock()).await.unwrap();
        assert!(!again.started_over);
        assert_eq!(
            (again.accepted.len(), again.duplicates),
            (0, 0),
            "{}",
            db.name
        );
        for n in 4..=5 {
            peer.dovecot
                .save(USER, &folder, &message(n, "More"))
                .unwrap();
        }
        let more = imap::poll_once(&app, &account, &clock()).await.unwrap();
        assert_eq!(more.accepted.len(), 2, "only the new messages come");
        assert_eq!(more.duplicates, 0);
        let uid_validity =
            i64::try_from(peer.dovecot.status(USER, &folder, "uidvalidity").unwrap()).unwrap();
        assert_eq!(
            app.imap_cursor(&account.name, &folder).await.unwrap(),
            Some((uid_validity, total as i64 + 2))
        );
        let states = app.store.inbound_mail_states().await.unwrap();
        assert_eq!(states.iter().map(|(_, n)| n).sum::<i64>(), total as i64 + 2);
        db.finish().await;
    }
}

#[tokio::test]
async fn a_new_uidvalidity_reads_the_folder_again_without_duplicates() {
    let Some(peer) = dovecot("") else { return };
    for db in backends().await {
        let app = db.app();
        setup(&app).await;
        let folder = format!("Renumbered-{}", db.name);
        peer.dovecot.create_folder(USER, &folder).unwrap();
        for n in 1..=3 {
            peer.dovecot
                .save(USER, &folder, &message(n, "Before"))
                .unwrap();
        }
        let account = account(&peer, &folder, imap::AfterAction::Seen);
        let first = imap::poll_once(&app, &account, &clock()).await.unwrap();
        assert_eq!(first.accepted.len(), 3);

        let old = peer.dovecot.status(USER, &folder, "uidvalidity").unwrap();
        let new = old + 1000;
        peer.dovecot
            .doveadm(
                &[
                    "mailbox",
                    "update",
                    "-u",
                    USER,
                    "--uid-validity",
                    &new.to_string(),
                    &folder,
                ],
                None,
            )
            .unwrap();
        // Someone marks the old messages unread again: after the renumbering they must be flagged again.
        peer.dovecot
            .doveadm(
                &[
                    "flags", "remove", "-u", USER, "\\Seen", "mailbox", &folder, "all",
                ],
                None,
            )
            .unwrap();
        peer.dovecot
            .save(USER, &folder, &message(4, "After"))
            .unwrap();

        let second = imap::poll_once(&app, &account, &clock()).await.unwrap();
        assert!(
            second.started_over,
            "{}: a new UIDVALIDITY starts over",
            db.name
        );
        assert_eq!(second.uid_validity, i64::try_from(new).unwrap());
        assert_eq!(second.accepted.len(), 1, "only the new message is accepted");
        assert_eq!(
            second.duplicates, 3,
            "the three known messages are recognised"
        );
        assert_eq!(second.acted_on, 4);
        assert_eq!(peer.dovecot.status(USER, &folder, "unseen").unwrap(), 0);
        let total: i64 = app
            .store
            .inbound_mail_states()
            .await
            .unwrap()
            .iter()
            .map(|(_, n)| n)
            .sum();
        assert_eq!(total, 4, "no message was taken twice");
        assert_eq!(
            app.store
                .imap_message_count(&account.name, &folder)
                .await
                .unwrap(),
            4
        );
        let third = imap::poll_once(&app, &account, &clock()).await.unwrap();
        assert_eq!(
            (third.started_over, third.accepted.len(), third.duplicates),
            (false, 0, 0)
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn an_oversized_message_is_quarantined_with_its_reason_and_the_next_ones_still_come() {
    let Some(peer) = dovecot("") else { return };
    let db = crate::support::sqlite().await;
    let app = db.app();
    let t = setup(&app).await;
    peer.dovecot.create_folder(USER, "Big").unwrap();
    peer.dovecot
        .save(USER, "Big", &message(1, "Small one"))
        .unwrap();
    let mut huge = message(2, "Huge one");
    huge.extend(
        std::iter::repeat_n(b'x', 76)
            .chain(*b"\r\n")
            .cycle()
            .take(20_000),
    );
    peer.dovecot.save(USER, "Big", &huge).unwrap();
    peer.dovecot
        .save(USER, "Big", &message(3, "Small two"))
        .unwrap();
    let mut account = account(&peer, "Big", imap::AfterAction::Seen);
    account.limits.max_message_bytes = 10_000;

    let report = imap::poll_once(&app, &account, &clock()).await.unwrap();
    assert_eq!(
        report.accepted.len(),
        2,
        "the small messages on both sides of the big one come"
    );
    assert_eq!(report.quarantined.len(), 1);
    assert_eq!(report.last_uid, 3, "the cursor passes the big message");
    let entry = app
        .store
        .inbound_mail(report.quarantined[0])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.state, "quarantined");
    let reason = entry.reason.clone().unwrap();
    assert!(reason.contains("over the limit of 10000"), "{reason}");
    assert!(reason.contains("UID 2"), "{reason}");
    let header = app.store.blob(&entry.raw_sha256).await.unwrap().unwrap();
    assert!(
        String::from_utf8_lossy(&header).contains("Subject: Huge one"),
        "its header is kept"
    );
    assert!(header.len() < 1_000, "only the header");
    let listed = app.quarantine(&t.admin, 0, 10).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        peer.dovecot.status(USER, "Big", "unseen").unwrap(),
        1,
        "the big message is left untouched on the server"
    );
    run_jobs(&app).await;
    for n in [1, 3] {
        assert!(app
            .store
            .conversation_of_message_id(&format!("imap-{n}@example.org"))
            .await
            .unwrap()
            .is_some());
    }
    let again = imap::poll_once(&app, &account, &clock()).await.unwrap();
    assert_eq!(
        (again.accepted.len(), again.quarantined.len()),
        (0, 0),
        "quarantined once"
    );
    db.finish().await;
}

/// Moves with UID MOVE where offered; where not (Dovecot told to hide MOVE and IDLE), with
/// COPY, \Deleted and UID EXPUNGE; `delete` removes; and without IDLE the poller polls.
#[tokio::test]
async fn processed_mail_is_moved_or_deleted_as_configured_with_or_without_move_and_idle() {
    let Some(with_move) = dovecot("") else { return };
    let Some(without) = dovecot("imap_capability = IMAP4rev1 LITERAL+ UIDPLUS") else {
        return;
    };
    let db = crate::support::sqlite().await;
    let app = db.app();
    setup(&app).await;
    for (peer, folder, seed) in [(&with_move, "Inbox-a", 10), (&without, "Inbox-b", 20)] {
        peer.dovecot.create_folder(USER, folder).unwrap();
        for n in seed..seed + 2 {
            peer.dovecot
                .save(USER, folder, &message(n, "To move"))
                .unwrap();
        }
        let account = account(
            peer,
            folder,
            imap::AfterAction::Move("Done/Imported".into()),
        );
        let report = imap::poll_once(&app, &account, &clock()).await.unwrap();
        assert_eq!(report.accepted.len(), 2);
        assert_eq!(
            peer.dovecot.status(USER, folder, "messages").unwrap(),
            0,
            "{folder}: moved out"
        );
        assert_eq!(
            peer.dovecot
                .status(USER, "Done/Imported", "messages")
                .unwrap(),
            2,
            "{folder}: moved into the folder, which was created"
        );
    }
    without.dovecot.create_folder(USER, "Trash-me").unwrap();
    without
        .dovecot
        .save(USER, "Trash-me", &message(30, "To delete"))
        .unwrap();
    let account = account(&without, "Trash-me", imap::AfterAction::Delete);
    let report = imap::poll_once(&app, &account, &clock()).await.unwrap();
    assert_eq!(report.accepted.len(), 1);
    assert_eq!(
        without
            .dovecot
            .status(USER, "Trash-me", "messages")
            .unwrap(),
        0
    );

    // No IDLE offered: the running poller looks every poll_interval.
    let mut account = account.clone();
    account.poll_interval = Duration::from_millis(300);
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let poller = tokio::spawn(imap::run(app.clone(), account.clone(), clock(), stop_rx));
    without
        .dovecot
        .save(USER, "Trash-me", &message(31, "Polled"))
        .unwrap();
    let arrived = wait_for_inbound(&app, 6).await;
    let _ = stop.send(true);
    tokio::time::timeout(Duration::from_secs(30), poller)
        .await
        .unwrap()
        .unwrap();
    assert!(arrived, "polling picked up the new message");
    assert_eq!(
        without
            .dovecot
            .status(USER, "Trash-me", "messages")
            .unwrap(),
        0
    );
    db.finish().await;
}

/// The poller stopped after the batch was durable but before the server confirmed the
/// action: the next poll applies the pending action and accepts nothing again.
#[tokio::test]
async fn an_action_left_pending_by_a_stop_is_applied_on_the_next_poll() {
    let Some(peer) = dovecot("") else { return };
    let db = crate::support::sqlite().await;
    let app = db.app();
    setup(&app).await;
    peer.dovecot.create_folder(USER, "Pending").unwrap();
    for n in 1..=2 {
        peer.dovecot
            .save(USER, "Pending", &message(n, "Half done"))
            .unwrap();
    }
    let account = account(&peer, "Pending", imap::AfterAction::Move("Archive".into()));
    let folder = app::ImapFolder {
        account: account.name.clone(),
        folder: "Pending".into(),
        uid_validity: i64::try_from(peer.dovecot.status(USER, "Pending", "uidvalidity").unwrap())
            .unwrap(),
    };
    // What a poll does up to its commit, by hand: the batch and the cursor are durable.
    app.reset_imap_cursor(&folder, T0).await.unwrap();
    let batch = (1..=2)
        .map(|n| app::ImapMessage {
            uid: i64::from(n),
            mail_from: String::new(),
            raw: message(n, "Half done"),
            quarantine: None,
        })
        .collect();
    let outcome = app
        .accept_imap_batch(&folder, SUPPORT, batch, 2, T0)
        .await
        .unwrap();
    assert_eq!(outcome.accepted.len(), 2);
    assert_eq!(
        app.imap_pending_actions(&folder, 10).await.unwrap(),
        vec![1, 2]
    );

    let report = imap::poll_once(&app, &account, &clock()).await.unwrap();
    assert_eq!(report.accepted.len(), 0, "nothing is taken twice");
    assert_eq!(report.acted_on, 2, "the pending moves are made");
    assert!(app
        .imap_pending_actions(&folder, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(peer.dovecot.status(USER, "Pending", "messages").unwrap(), 0);
    assert_eq!(peer.dovecot.status(USER, "Archive", "messages").unwrap(), 2);
    db.finish().await;
}

#[tokio::test]
async fn idle_picks_up_a_message_that_arrives_while_connected() {
    let Some(peer) = dovecot("") else { return };
    let db = crate::support::sqlite().await;
    let app = db.app();
    setup(&app).await;
    peer.dovecot.create_folder(USER, "Live").unwrap();
    let mut account = account(&peer, "Live", imap::AfterAction::Seen);
    // Neither polling nor renewing IDLE could find the message within the wait below.
    account.poll_interval = Duration::from_secs(3600);
    account.limits.idle_renew = Duration::from_secs(3600);
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let poller = tokio::spawn(imap::run(app.clone(), account.clone(), clock(), stop_rx));
    let mut connected = false;
    for _ in 0..300 {
        if app
            .imap_cursor(&account.name, "Live")
            .await
            .unwrap()
            .is_some()
        {
            connected = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(connected, "the poller connected and selected the folder");
    tokio::time::sleep(Duration::from_millis(300)).await;
    peer.dovecot
        .save(USER, "Live", &message(7, "While idling"))
        .unwrap();
    let arrived = wait_for_inbound(&app, 1).await;
    let _ = stop.send(true);
    tokio::time::timeout(Duration::from_secs(30), poller)
        .await
        .unwrap()
        .unwrap();
    assert!(
        arrived,
        "IDLE announced the new message and it was taken in"
    );
    assert_eq!(peer.dovecot.status(USER, "Live", "unseen").unwrap(), 0);
    db.finish().await;
}

/// STARTTLS before LOGIN, and TLS from the first byte (IMAPS): an untrusted certificate is
/// refused (no falling back to plain text, no login); trusted through `tls_ca_file` (here the
/// self-signed certificate itself), the session runs over TLS (Dovecot logs it).
#[tokio::test]
async fn starttls_and_tls_from_the_first_byte_are_used_before_login() {
    let Some((peer, cert)) = dovecot_with_tls() else {
        return;
    };
    let imaps_port = peer.dovecot.imaps_port.unwrap();
    let db = crate::support::sqlite().await;
    let app = db.app();
    setup(&app).await;
    for (security, port, n) in [
        (imap::Security::StartTls, peer.dovecot.port, 1),
        (imap::Security::Tls, imaps_port, 2),
    ] {
        peer.dovecot
            .save(
                USER,
                "INBOX",
                &message(n, &format!("Over TLS ({security:?})")),
            )
            .unwrap();
        let mut account = account(&peer, "INBOX", imap::AfterAction::Seen);
        account.security = security;
        account.port = port;
        let logins_before = tls_logins(&peer);
        let refused = imap::poll_once(&app, &account, &clock()).await.unwrap_err();
        assert!(
            matches!(refused, imap::Error::Tls { .. }),
            "{security:?}: {refused}"
        );
        assert!(
            refused.to_string().contains("certificate"),
            "{security:?}: the reason names the certificate: {refused}"
        );
        assert_eq!(
            peer.dovecot.status(USER, "INBOX", "unseen").unwrap(),
            1,
            "{security:?}: nothing was taken over an untrusted connection"
        );
        account.tls_ca_file = Some(cert.clone());
        let report = imap::poll_once(&app, &account, &clock()).await.unwrap();
        assert_eq!(report.accepted.len(), 1, "{security:?}");
        assert_eq!(
            tls_logins(&peer).len(),
            logins_before.len() + 1,
            "{security:?}: one more login, over TLS: {:?}",
            tls_logins(&peer)
        );
        assert_eq!(peer.dovecot.status(USER, "INBOX", "unseen").unwrap(), 0);
    }
    let log = std::fs::read_to_string(peer.dir.path().join("dovecot.log")).unwrap();
    assert!(
        !log.lines()
            .any(|l| l.contains(&format!("Login: user=<{USER}>")) && !l.contains("TLS")),
        "every login ran over TLS: {log}"
    );
    db.finish().await;
}

/// Dovecot's log lines of logins over TLS.
fn tls_logins(peer: &Peer) -> Vec<String> {
    let log = std::fs::read_to_string(peer.dir.path().join("dovecot.log")).unwrap_or_default();
    log.lines()
        .filter(|l| l.contains(&format!("Login: user=<{USER}>")) && l.contains(", TLS"))
        .map(str::to_string)
        .collect()
}

/// `rapport mail poll` with an `[[imap]]` table in the config file, through the binary.
#[tokio::test]
async fn rapport_mail_poll_takes_the_configured_folders_once() {
    let Some(peer) = dovecot("") else { return };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let rapport = env!("CARGO_BIN_EXE_rapport");
    let ok = |args: &[&str]| {
        let out = std::process::Command::new(rapport)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let data_arg = data.to_str().unwrap();
    ok(&["mailbox", "add", "--data", data_arg, "--address", SUPPORT]);
    std::fs::write(dir.path().join("password"), format!("{PASSWORD}\n")).unwrap();
    let config = dir.path().join("rapport.toml");
    std::fs::write(
        &config,
        format!(
            "[[imap]]\nname = \"cli\"\nhost = \"127.0.0.1\"\nport = {}\ntls = \"none\"\nuser = \"{USER}\"\npassword_file = \"{}\"\nfolder = \"INBOX\"\nmailbox = \"{SUPPORT}\"\nafter = \"move:Processed\"\n",
            peer.dovecot.port,
            dir.path().join("password").display()
        ),
    )
    .unwrap();
    peer.dovecot
        .save(USER, "INBOX", &message(1, "By the CLI"))
        .unwrap();
    let config_arg = config.to_str().unwrap();
    let out = ok(&["mail", "poll", "--config", config_arg, "--data", data_arg]);
    let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(line["account"], "cli");
    assert_eq!(line["accepted"], 1, "{line}");
    assert_eq!(line["outcomes"]["message"], 1, "{line}");
    assert_eq!(
        peer.dovecot.status(USER, "Processed", "messages").unwrap(),
        1
    );
    let out = ok(&["mail", "poll", "--config", config_arg, "--data", data_arg]);
    let line: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(line["accepted"], 0, "{line}");

    // A bad table is refused with every problem named.
    std::fs::write(
        &config,
        "[[imap]]\nhost = \"h\"\nuser = \"u\"\nmailbox = \"nope\"\nafter = \"archive\"\ntls = \"maybe\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(rapport)
        .args(["mail", "poll", "--config", config_arg, "--data", data_arg])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for problem in [
        "tls \"maybe\"",
        "after \"archive\"",
        "mailbox \"nope\"",
        "password or password_file is missing",
    ] {
        assert!(err.contains(problem), "{problem} in {err}");
    }
}

/// Waits (bounded) until `count` inbound messages exist; whether they did.
async fn wait_for_inbound(app: &app::App, count: i64) -> bool {
    for _ in 0..600 {
        let total: i64 = app
            .store
            .inbound_mail_states()
            .await
            .unwrap()
            .iter()
            .map(|(_, n)| n)
            .sum();
        if total >= count {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

/// Folder names go to the server in modified UTF-7 (RFC 3501 5.1.3): a folder named
/// `Entwürfe` in the configuration is selected, and mail is moved to a new folder with
/// non-ASCII letters and an `&` in its name, which is created first.
#[tokio::test]
async fn folders_with_non_ascii_names_are_selected_created_and_moved_to() {
    let Some(peer) = dovecot("") else { return };
    let db = crate::support::sqlite().await;
    let app = db.app();
    setup(&app).await;
    let (source, target) = ("Entwürfe", "Erledigt/Geschäft & Co");
    peer.dovecot.create_folder(USER, source).unwrap();
    for n in 1..=2 {
        peer.dovecot
            .save(USER, source, &message(n, "Grüße"))
            .unwrap();
    }
    let account = account(&peer, source, imap::AfterAction::Move(target.into()));
    let report = imap::poll_once(&app, &account, &clock()).await.unwrap();
    assert_eq!(report.accepted.len(), 2);
    assert_eq!(report.folder, source);
    assert_eq!(peer.dovecot.status(USER, source, "messages").unwrap(), 0);
    assert_eq!(
        peer.dovecot.status(USER, target, "messages").unwrap(),
        2,
        "moved into the folder, created under its own name"
    );
    let listed = peer
        .dovecot
        .doveadm(&["mailbox", "list", "-u", USER], None)
        .unwrap();
    assert!(
        listed.lines().any(|l| l.trim() == target),
        "the server knows the folder by its real name, not a mangled one: {listed}"
    );
    assert_eq!(
        app.imap_cursor(&account.name, source)
            .await
            .unwrap()
            .map(|(_, last)| last),
        Some(2),
        "the cursor is kept under the name people read"
    );
    // A second poll finds the target folder (LIST decodes it) rather than creating it again.
    peer.dovecot
        .save(USER, source, &message(3, "Noch eine"))
        .unwrap();
    let again = imap::poll_once(&app, &account, &clock()).await.unwrap();
    assert_eq!(again.accepted.len(), 1);
    assert_eq!(peer.dovecot.status(USER, target, "messages").unwrap(), 3);
    db.finish().await;
}

/// A message the server cannot serve (here: its file unreadable to Dovecot) fails its
/// fetch on every poll. The failures are counted in the store, so pollers that each start
/// afresh (a restart every time) still give up on it after `max_fetch_failures` and put it
/// in the quarantine with the reason, while the messages around it come in.
#[tokio::test]
async fn a_message_whose_fetch_keeps_failing_is_quarantined_with_its_reason_across_restarts() {
    let Some(peer) = dovecot("") else { return };
    for db in backends().await {
        let app = db.app();
        let t = setup(&app).await;
        let folder = format!("Broken-{}", db.name);
        peer.dovecot.create_folder(USER, &folder).unwrap();
        for n in 1..=3 {
            peer.dovecot
                .save(USER, &folder, &message(n, "Maybe readable"))
                .unwrap();
        }
        let unreadable = maildir_file_of(&peer, &folder, "imap-2@example.org");
        let status = std::process::Command::new("chown")
            .arg("root:root")
            .arg(&unreadable)
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::set_permissions(
            &unreadable,
            std::os::unix::fs::PermissionsExt::from_mode(0o000),
        )
        .unwrap();
        let mut account = account(&peer, &folder, imap::AfterAction::Seen);
        account.limits.max_fetch_failures = 2;
        let imap_folder = app::ImapFolder {
            account: account.name.clone(),
            folder: folder.clone(),
            uid_validity: i64::try_from(peer.dovecot.status(USER, &folder, "uidvalidity").unwrap())
                .unwrap(),
        };

        let mut failed_polls = 0;
        let report = loop {
            // A fresh poller each time, as after a restart: nothing is remembered in memory.
            match imap::poll_once(&app, &account, &clock()).await {
                Ok(report) => break report,
                Err(error) => {
                    failed_polls += 1;
                    assert!(
                        failed_polls <= 8,
                        "{}: still failing after {failed_polls} polls: {error}",
                        db.name
                    );
                    let failures = app.imap_fetch_failures(&imap_folder).await.unwrap();
                    assert!(
                        failures.contains_key(&2),
                        "{}: the failure is in the store: {failures:?} ({error})",
                        db.name
                    );
                }
            }
        };
        assert!(
            failed_polls >= 3,
            "{}: the batch, then the message alone twice: {failed_polls}",
            db.name
        );
        assert_eq!(report.quarantined.len(), 1, "{}", db.name);
        assert_eq!(report.last_uid, 3);
        let entry = app
            .store
            .inbound_mail(report.quarantined[0])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(entry.state, "quarantined");
        let reason = entry.reason.clone().unwrap();
        assert!(reason.contains("fetching the message failed"), "{reason}");
        assert!(reason.contains("UID 2"), "{reason}");
        assert!(
            reason.contains("(the last time: ") && reason.contains("UID FETCH"),
            "the reason carries the server's error: {reason}"
        );
        assert_eq!(app.quarantine(&t.admin, 0, 10).await.unwrap().len(), 1);
        assert!(
            app.imap_fetch_failures(&imap_folder)
                .await
                .unwrap()
                .is_empty(),
            "the cursor passed the message: its failures are forgotten"
        );
        let states = app.store.inbound_mail_states().await.unwrap();
        assert_eq!(
            states.iter().map(|(_, n)| n).sum::<i64>(),
            3,
            "{}: messages 1 and 3 and the quarantine entry: {states:?}",
            db.name
        );
        let again = imap::poll_once(&app, &account, &clock()).await.unwrap();
        assert_eq!(
            (again.accepted.len(), again.quarantined.len()),
            (0, 0),
            "quarantined once"
        );
        db.finish().await;
    }
}

/// The file under Dovecot's Maildir folder that holds the message with this Message-ID.
fn maildir_file_of(peer: &Peer, folder: &str, message_id: &str) -> std::path::PathBuf {
    let maildir = peer
        .dir
        .path()
        .join("mail")
        .join(USER)
        .join("Maildir")
        .join(format!(".{}", imap::utf7::encode(folder)));
    for sub in ["new", "cur"] {
        let Ok(entries) = std::fs::read_dir(maildir.join(sub)) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if std::fs::read_to_string(&path).is_ok_and(|text| text.contains(message_id)) {
                return path;
            }
        }
    }
    panic!("no file in {} holds {message_id}", maildir.display());
}

/// Two pollers of one folder on one store (two nodes): only the one holding the folder's
/// lease connects and fetches; the other stands by, and takes over when the first stops.
#[tokio::test]
async fn two_pollers_of_one_folder_do_not_both_fetch() {
    let Some(peer) = dovecot("") else { return };
    for db in backends().await {
        let app = db.app();
        setup(&app).await;
        let folder = format!("Shared-{}", db.name);
        peer.dovecot.create_folder(USER, &folder).unwrap();
        for n in 1..=20 {
            peer.dovecot
                .save(USER, &folder, &message(n, "For one node"))
                .unwrap();
        }
        let mut account = account(&peer, &folder, imap::AfterAction::Seen);
        account.limits.batch_messages = 3;
        account.limits.lease = Duration::from_millis(600);
        let log_before = body_fetches(&peer);

        // Another node holds the folder: a poll here is refused, and fetches nothing.
        assert!(app
            .hold_imap_lease(
                &account.name,
                &folder,
                "node-a",
                &mut app::LeaseWatch::default(),
                T0,
                60_000
            )
            .await
            .unwrap());
        let refused = imap::poll_once(&app, &account, &clock()).await.unwrap_err();
        assert!(
            matches!(refused, imap::Error::Leased { .. }),
            "{}: {refused}",
            db.name
        );
        assert_eq!(
            peer.dovecot.status(USER, &folder, "unseen").unwrap(),
            20,
            "nothing was taken"
        );
        app.release_imap_lease(&account.name, &folder, "node-a")
            .await
            .unwrap();

        // Two running pollers at once: every message is fetched exactly once.
        let (stop_first, stop_rx) = tokio::sync::watch::channel(false);
        let first = tokio::spawn(imap::run(app.clone(), account.clone(), clock(), stop_rx));
        let (stop_second, stop_rx) = tokio::sync::watch::channel(false);
        let second = tokio::spawn(imap::run(app.clone(), account.clone(), clock(), stop_rx));
        let arrived = wait_for_inbound(&app, 20).await;
        // Once all is taken, one poller idles on the folder and the other stands by.
        peer.dovecot
            .save(USER, &folder, &message(21, "While both run"))
            .unwrap();
        let arrived_while_both_run = wait_for_inbound(&app, 21).await;
        // One stops (whichever it is, the other is on duty afterwards).
        let _ = stop_first.send(true);
        tokio::time::timeout(Duration::from_secs(30), first)
            .await
            .unwrap()
            .unwrap();
        peer.dovecot
            .save(USER, &folder, &message(22, "After one stopped"))
            .unwrap();
        let arrived_after_stop = wait_for_inbound(&app, 22).await;
        let _ = stop_second.send(true);
        tokio::time::timeout(Duration::from_secs(30), second)
            .await
            .unwrap()
            .unwrap();
        assert!(arrived, "{}: the mail came in", db.name);
        assert!(
            arrived_while_both_run,
            "{}: one poller was on duty",
            db.name
        );
        assert!(
            arrived_after_stop,
            "{}: the other poller took over",
            db.name
        );
        assert_eq!(
            app.store
                .imap_message_count(&account.name, &folder)
                .await
                .unwrap(),
            22
        );
        assert_eq!(
            body_fetches(&peer) - log_before,
            22,
            "{}: Dovecot served each message's body once (no duplicate fetch by a second poller)",
            db.name
        );
        assert_eq!(
            app.store.imap_lease(&account.name, &folder).await.unwrap(),
            None,
            "a stopped poller gives up its lease"
        );
        db.finish().await;
    }
}

/// The message bodies Dovecot served, from its log lines of ended sessions (`body_count=`),
/// once every session that logged in has ended (Dovecot logs the end just after LOGOUT).
fn body_fetches(peer: &Peer) -> u64 {
    let read = || std::fs::read_to_string(peer.dir.path().join("dovecot.log")).unwrap_or_default();
    let mut log = read();
    for _ in 0..50 {
        let logins = log.lines().filter(|l| l.contains("Login: user=<")).count();
        let ended = log.lines().filter(|l| l.contains(" body_count=")).count();
        if ended >= logins {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        log = read();
    }
    log.lines()
        .filter_map(|line| {
            let (_, rest) = line.split_once(" body_count=")?;
            rest.split_whitespace().next()?.parse::<u64>().ok()
        })
        .sum()
}

/// A loopback proxy in front of Dovecot that answers NO, in Dovecot's place, to the commands
/// it is told to refuse, and passes everything else through. (Dovecot itself answers OK to
/// UID STORE and EXPUNGE even where it cannot apply them; see the read-only test below.)
struct RefusingProxy {
    port: u16,
    refuse: Arc<std::sync::Mutex<Vec<&'static str>>>,
    refused: Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl RefusingProxy {
    async fn start(upstream: u16) -> RefusingProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let refuse = Arc::new(std::sync::Mutex::new(Vec::new()));
        let refused = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (list, count) = (refuse.clone(), refused.clone());
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let server = tokio::net::TcpStream::connect(("127.0.0.1", upstream))
                    .await
                    .unwrap();
                tokio::spawn(relay(client, server, list.clone(), count.clone()));
            }
        });
        RefusingProxy {
            port,
            refuse,
            refused,
            task,
        }
    }

    /// Refuses commands that start with these words from now on (none: pass everything).
    fn refuse(&self, commands: &[&'static str]) {
        *self.refuse.lock().unwrap() = commands.to_vec();
    }

    fn refused(&self) -> usize {
        self.refused.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for RefusingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One client connection through the proxy: the server's bytes go to the client as they are;
/// the client's command lines go to the server, except those refused, which get a NO.
async fn relay(
    client: tokio::net::TcpStream,
    server: tokio::net::TcpStream,
    refuse: Arc<std::sync::Mutex<Vec<&'static str>>>,
    refused: Arc<std::sync::atomic::AtomicUsize>,
) {
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
    let (client_read, client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let client_write = Arc::new(tokio::sync::Mutex::new(client_write));
    let to_client = client_write.clone();
    let down = tokio::spawn(async move {
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            let n = match server_read.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            if to_client
                .lock()
                .await
                .write_all(&buffer[..n])
                .await
                .is_err()
            {
                return;
            }
        }
    });
    let mut lines = tokio::io::BufReader::new(client_read);
    let mut line = Vec::new();
    loop {
        line.clear();
        match lines.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line).to_string();
        let (tag, command) = text.split_once(' ').unwrap_or(("", ""));
        let command = command.to_ascii_uppercase();
        let refuse_it =
            refuse.lock().unwrap().iter().any(|c| {
                command.starts_with(c) && command[c.len()..].starts_with([' ', '\r', '\n'])
            });
        if refuse_it {
            refused.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let answer = format!("{tag} NO [CANNOT] refused by the test proxy\r\n");
            if client_write
                .lock()
                .await
                .write_all(answer.as_bytes())
                .await
                .is_err()
            {
                break;
            }
            continue;
        }
        if server_write.write_all(&line).await.is_err() {
            break;
        }
    }
    down.abort();
}

/// A server that refuses the action (NO to UID STORE, then to UID EXPUNGE) does not get its
/// mail counted as done: the mail is taken in once, its action stays pending and is tried at
/// every poll, new mail still comes in meanwhile, and once the server takes the action the
/// messages are gone. The refusals come from `RefusingProxy` in front of Dovecot.
#[tokio::test]
async fn a_refused_flag_or_expunge_leaves_the_action_pending_until_the_server_takes_it() {
    let Some(peer) = dovecot("") else { return };
    let proxy = RefusingProxy::start(peer.dovecot.port).await;
    for db in backends().await {
        let name = db.name;
        let app = db.app();
        setup(&app).await;
        let folder_name = format!("Refusing-{name}");
        peer.dovecot.create_folder(USER, &folder_name).unwrap();
        for n in 1..=3 {
            peer.dovecot
                .save(USER, &folder_name, &message(n, "Refused"))
                .unwrap();
        }
        let mut account = account(&peer, &folder_name, imap::AfterAction::Delete);
        account.port = proxy.port;
        let folder = app::ImapFolder {
            account: account.name.clone(),
            folder: folder_name.clone(),
            uid_validity: i64::try_from(
                peer.dovecot
                    .status(USER, &folder_name, "uidvalidity")
                    .unwrap(),
            )
            .unwrap(),
        };
        let messages = || peer.dovecot.status(USER, &folder_name, "messages").unwrap();

        // The \Deleted flag is refused.
        proxy.refuse(&["UID STORE"]);
        let refused_before = proxy.refused();
        let report = imap::poll_once(&app, &account, &clock()).await.unwrap();
        assert_eq!(report.accepted.len(), 3, "{name}: the mail is taken in");
        assert_eq!((report.acted_on, report.actions_refused), (0, 3), "{name}");
        assert!(
            proxy.refused() > refused_before,
            "{name}: the proxy refused"
        );
        assert_eq!(
            app.imap_pending_actions(&folder, 10).await.unwrap(),
            vec![1, 2, 3],
            "{name}: not done, so still pending"
        );
        assert_eq!(messages(), 3, "{name}");

        // The flag is taken but the expunge refused; new mail comes in all the same.
        peer.dovecot
            .save(USER, &folder_name, &message(4, "Refused"))
            .unwrap();
        proxy.refuse(&["UID EXPUNGE", "EXPUNGE"]);
        let report = imap::poll_once(&app, &account, &clock()).await.unwrap();
        assert_eq!(report.accepted.len(), 1, "{name}: only the new message");
        assert_eq!((report.acted_on, report.actions_refused), (0, 4), "{name}");
        assert_eq!(
            app.imap_pending_actions(&folder, 10).await.unwrap(),
            vec![1, 2, 3, 4],
            "{name}"
        );
        assert_eq!(messages(), 4, "{name}: nothing was expunged");

        // The server takes the action: everything pending is done, nothing taken twice.
        proxy.refuse(&[]);
        let report = imap::poll_once(&app, &account, &clock()).await.unwrap();
        assert_eq!(report.accepted.len(), 0, "{name}");
        assert_eq!((report.acted_on, report.actions_refused), (4, 0), "{name}");
        assert!(app
            .imap_pending_actions(&folder, 10)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(messages(), 0, "{name}");
        db.finish().await;
    }
}

/// A folder the server opens read-only (here: Dovecot cannot write its Maildir, so SELECT
/// answers `[READ-ONLY]`, and Dovecot then answers OK to UID STORE without keeping the flag):
/// the mail is taken in, its action is not counted as done but stays pending, and it is done
/// once the folder is writable again.
#[tokio::test]
async fn in_a_folder_opened_read_only_the_action_stays_pending_until_it_can_be_done() {
    let Some(peer) = dovecot("") else { return };
    for db in backends().await {
        let name = db.name;
        let app = db.app();
        setup(&app).await;
        let folder_name = format!("ReadOnly-{name}");
        peer.dovecot.create_folder(USER, &folder_name).unwrap();
        for n in 1..=2 {
            peer.dovecot
                .save(USER, &folder_name, &message(n, "Read-only"))
                .unwrap();
        }
        let maildir = peer
            .dir
            .path()
            .join("mail")
            .join(USER)
            .join("Maildir")
            .join(format!(".{}", imap::utf7::encode(&folder_name)));
        let set_mode = |mode: u32| {
            for sub in ["cur", "new"] {
                std::fs::set_permissions(
                    maildir.join(sub),
                    std::os::unix::fs::PermissionsExt::from_mode(mode),
                )
                .unwrap();
            }
        };
        let account = account(&peer, &folder_name, imap::AfterAction::Seen);
        let folder = app::ImapFolder {
            account: account.name.clone(),
            folder: folder_name.clone(),
            uid_validity: i64::try_from(
                peer.dovecot
                    .status(USER, &folder_name, "uidvalidity")
                    .unwrap(),
            )
            .unwrap(),
        };

        set_mode(0o555);
        let report = imap::poll_once(&app, &account, &clock()).await.unwrap();
        assert_eq!(report.accepted.len(), 2, "{name}: the mail is taken in");
        assert_eq!((report.acted_on, report.actions_refused), (0, 2), "{name}");
        assert_eq!(
            app.imap_pending_actions(&folder, 10).await.unwrap(),
            vec![1, 2],
            "{name}: not done, so still pending"
        );

        set_mode(0o700);
        let report = imap::poll_once(&app, &account, &clock()).await.unwrap();
        assert_eq!(report.accepted.len(), 0, "{name}: nothing is taken twice");
        assert_eq!((report.acted_on, report.actions_refused), (2, 0), "{name}");
        assert!(app
            .imap_pending_actions(&folder, 10)
            .await
            .unwrap()
            .is_empty());
        assert_eq!(
            peer.dovecot.status(USER, &folder_name, "unseen").unwrap(),
            0,
            "{name}: \\Seen is set now"
        );
        db.finish().await;
    }
}

/// A server without UIDPLUS (nor MOVE): deleting and moving end in a plain EXPUNGE (never
/// UID EXPUNGE or UID MOVE, which the proxy in front refuses), the processed messages are
/// gone, and a message in the folder that was not taken (too large: quarantined, left
/// untouched, so not marked \Deleted) survives the folder-wide EXPUNGE.
#[tokio::test]
async fn without_uidplus_a_plain_expunge_removes_what_was_taken_and_nothing_else() {
    let Some(peer) = dovecot("imap_capability = IMAP4rev1 LITERAL+") else {
        return;
    };
    let proxy = RefusingProxy::start(peer.dovecot.port).await;
    proxy.refuse(&["UID EXPUNGE", "UID MOVE"]);
    let db = crate::support::sqlite().await;
    let app = db.app();
    setup(&app).await;
    for (folder, after, seed) in [
        ("Plain-delete", imap::AfterAction::Delete, 40),
        (
            "Plain-move",
            imap::AfterAction::Move("Done/Plain".into()),
            50,
        ),
    ] {
        peer.dovecot.create_folder(USER, folder).unwrap();
        peer.dovecot
            .save(USER, folder, &message(seed, "Plain expunge"))
            .unwrap();
        let mut big = message(seed + 1, "Too large to take");
        big.extend(std::iter::repeat_n(b'x', 20_000));
        big.extend_from_slice(b"\r\n");
        peer.dovecot.save(USER, folder, &big).unwrap();
        for n in seed + 2..seed + 4 {
            peer.dovecot
                .save(USER, folder, &message(n, "Plain expunge"))
                .unwrap();
        }
        let mut account = account(&peer, folder, after.clone());
        account.port = proxy.port;
        account.limits.max_message_bytes = 10_000;
        let report = imap::poll_once(&app, &account, &clock()).await.unwrap();
        assert_eq!(report.accepted.len(), 3, "{folder}");
        assert_eq!(report.quarantined.len(), 1, "{folder}");
        assert_eq!(
            (report.acted_on, report.actions_refused),
            (3, 0),
            "{folder}: done by a plain EXPUNGE"
        );
        assert_eq!(
            peer.dovecot.status(USER, folder, "messages").unwrap(),
            1,
            "{folder}: the message not taken is still there"
        );
        // The next poll takes only new mail and leaves the untaken message alone.
        peer.dovecot
            .save(USER, folder, &message(seed + 4, "Plain expunge"))
            .unwrap();
        let report = imap::poll_once(&app, &account, &clock()).await.unwrap();
        assert_eq!(report.accepted.len(), 1, "{folder}");
        assert_eq!(
            (report.acted_on, report.actions_refused),
            (1, 0),
            "{folder}"
        );
        assert_eq!(peer.dovecot.status(USER, folder, "messages").unwrap(), 1);
    }
    assert_eq!(
        peer.dovecot.status(USER, "Done/Plain", "messages").unwrap(),
        4,
        "moved by COPY, \\Deleted and EXPUNGE"
    );
    assert_eq!(
        proxy.refused(),
        0,
        "UID EXPUNGE and UID MOVE were never sent"
    );
    db.finish().await;
}

/// Who polls a folder does not depend on the nodes' clocks agreeing: a lease held by another
/// node is taken over only after the taker has seen it go unrenewed for a whole lease,
/// measured on the taker's own clock. A node whose clock is days behind does not lose its
/// lease while it renews, and one whose clock is days ahead does not take a lease at once.
#[tokio::test]
async fn a_lease_is_taken_over_only_after_a_whole_lease_unrenewed_on_the_takers_clock() {
    const LEASE: i64 = 60_000;
    const DAYS: i64 = 10 * 24 * 3_600_000;
    for db in backends().await {
        let app = db.app();
        let name = db.name;
        let (mut a, mut b, mut c) = (
            app::LeaseWatch::default(),
            app::LeaseWatch::default(),
            app::LeaseWatch::default(),
        );
        let hold = async |holder: &str, watch: &mut app::LeaseWatch, now: i64| {
            app.hold_imap_lease("acct", "INBOX", holder, watch, now, LEASE)
                .await
                .unwrap()
        };
        // Node A, its clock ten days behind, takes the free lease.
        assert!(hold("node-a", &mut a, T0 - DAYS).await, "{name}");
        // Node B (the right time) stands by: A's expiry, by A's clock long past, means nothing.
        assert!(!hold("node-b", &mut b, T0).await, "{name}");
        assert!(!hold("node-b", &mut b, T0 + LEASE - 1).await, "{name}");
        // A renews (every third of a lease): B starts counting again.
        assert!(
            hold("node-a", &mut a, T0 - DAYS + LEASE / 3).await,
            "{name}"
        );
        assert!(!hold("node-b", &mut b, T0 + LEASE).await, "{name}");
        assert!(!hold("node-b", &mut b, T0 + 2 * LEASE - 1).await, "{name}");
        // Node C, its clock ten days ahead, does not take the lease at its first look.
        assert!(!hold("node-c", &mut c, T0 + DAYS).await, "{name}");
        // A stops renewing: a whole lease after B saw its last renewal, B takes over.
        assert!(hold("node-b", &mut b, T0 + 2 * LEASE).await, "{name}");
        assert!(
            !hold("node-a", &mut a, T0 - DAYS + LEASE).await,
            "{name}: A lost it"
        );
        // C saw A's renewal count, not B's: B's fresh lease restarts C's wait.
        assert!(!hold("node-c", &mut c, T0 + DAYS + LEASE).await, "{name}");
        assert!(
            hold("node-b", &mut b, T0 + 2 * LEASE + LEASE / 3).await,
            "{name}"
        );
        assert_eq!(
            app.store
                .imap_lease("acct", "INBOX")
                .await
                .unwrap()
                .map(|(holder, _)| holder),
            Some("node-b".to_string()),
            "{name}"
        );
        // Given up, the lease is free for anyone at once.
        app.release_imap_lease("acct", "INBOX", "node-b")
            .await
            .unwrap();
        assert!(
            hold("node-c", &mut c, T0 + DAYS + LEASE + 1).await,
            "{name}"
        );
        db.finish().await;
    }
}
