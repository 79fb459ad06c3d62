//! The `rapport` binary: its commands, configuration errors, graceful shutdown, and the
//! promise that nothing acknowledged is lost when the process is killed.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::support::{rapport, rapport_ok, seed_demo, BIN};

/// Starts `rapport serve` on a port of its choosing; returns the child and its base URL.
fn serve(data: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
        ])
        .env("RAPPORT_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start rapport serve");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let url = line
        .trim()
        .rsplit(' ')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{line}");
    (child, url)
}

fn token(data: &std::path::Path) -> String {
    let out = rapport_ok(&[
        "token",
        "create",
        "--data",
        data.to_str().unwrap(),
        "--name",
        "test",
        "--scopes",
        "admin",
    ]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "the token alone on stdout");
    stdout.trim().to_string()
}

#[test]
fn token_create_prints_the_token_alone_and_user_add_makes_an_agent() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    assert!(token(dir.path()).starts_with("rpt_"));
    rapport_ok(&["group", "add", "--data", data, "--name", "Support"]);
    rapport_ok(&[
        "user",
        "add",
        "--data",
        data,
        "--email",
        "new@t.test",
        "--role",
        "lead",
        "--password",
        "pw-1234",
        "--group",
        "Support",
    ]);
    let again = rapport(&[
        "user",
        "add",
        "--data",
        data,
        "--email",
        "NEW@t.test",
        "--password",
        "pw-1234",
    ]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    let bad_scope = rapport(&[
        "token", "create", "--data", data, "--name", "x", "--scopes", "root",
    ]);
    assert!(String::from_utf8_lossy(&bad_scope.stderr).contains("is not one of"));
}

#[test]
fn every_configuration_problem_is_reported_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["migrate", "--data", dir.path().to_str().unwrap()])
        .env("RAPPORT_LISTEN", "not an address")
        .env("RAPPORT_DATABASE_URL", "mysql://nope")
        .env("RAPPORT_AUTO_CLOSE_DAYS", "soon")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in [
        "3 problem(s)",
        "AUTO_CLOSE_DAYS",
        "listen address",
        "database_url must start with postgres://",
    ] {
        assert!(stderr.contains(expected), "{expected} in {stderr}");
    }
    let file = dir.path().join("rapport.toml");
    std::fs::write(&file, "listen = 8080\ncolour = \"blue\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["--config", file.to_str().unwrap(), "migrate"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("2 problem(s)") && stderr.contains("colour") && stderr.contains("listen"),
        "{stderr}"
    );
}

#[test]
fn the_demo_seeds_a_small_quarter_and_backup_copies_it_consistently() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    seed_demo(&data, 120);
    let again = rapport(&[
        "demo",
        "--data",
        data.to_str().unwrap(),
        "--seed-only",
        "--conversations",
        "120",
    ]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("not seeding again"));
    let copy = dir.path().join("copy.db");
    rapport_ok(&[
        "backup",
        "--data",
        data.to_str().unwrap(),
        "--to",
        copy.to_str().unwrap(),
    ]);
    let refuse = rapport(&[
        "backup",
        "--data",
        data.to_str().unwrap(),
        "--to",
        copy.to_str().unwrap(),
    ]);
    assert!(
        !refuse.status.success(),
        "an existing backup is never overwritten"
    );

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let restored = tempfile::tempdir().unwrap();
        std::fs::copy(&copy, restored.path().join("rapport.db")).unwrap();
        let original = store::Store::open_sqlite(&data).await.unwrap();
        let backup = store::Store::open_sqlite(restored.path()).await.unwrap();
        for table in [
            store::Table::Conversations,
            store::Table::Events,
            store::Table::Agents,
            store::Table::Customers,
        ] {
            let n = original.count(table).await.unwrap();
            assert!(n > 0, "{table:?}");
            assert_eq!(backup.count(table).await.unwrap(), n, "{table:?}");
        }
        // The demo logins work and the demo customer has conversations on several channels.
        let app = app::App::new(original.clone(), app::Settings::default());
        for (email, _) in [
            ("admin@demo.test", ""),
            ("lead@demo.test", ""),
            ("agent@demo.test", ""),
            ("customer@demo.test", ""),
        ] {
            assert!(app.login(email, "demo", 0).await.is_ok(), "{email}");
        }
        let casey = app
            .login("customer@demo.test", "demo", 0)
            .await
            .unwrap()
            .principal;
        let list = app
            .list_conversations(
                &casey,
                app::ListQuery {
                    limit: 50,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let channels: std::collections::BTreeSet<_> =
            list.items.iter().map(|c| c.channel).collect();
        assert!(channels.len() >= 2, "{channels:?}");
        // The contact form offers topics, each routed to one of the demo's groups.
        let routing = app.channel_routing().await.unwrap();
        let groups = app.store.groups().await.unwrap();
        assert!(routing.web_topics.len() >= 3, "{routing:?}");
        for (topic, group) in &routing.web_topics {
            assert!(groups.iter().any(|g| g.id == *group), "{topic} → {group}");
        }
        let routed: std::collections::BTreeSet<_> =
            routing.web_topics.iter().map(|(_, g)| *g).collect();
        assert!(routed.len() >= 2, "topics route to several groups");
        assert!(routing.chat_group_id.is_some());
        // A real quarter has work that goes back and forth: the seeded demo shows ping-pong
        // between groups and between agents, each row drilling to its conversations.
        let manager = app
            .login("manager@demo.test", "demo", 0)
            .await
            .unwrap()
            .principal;
        for dimension in [mining::OrgDimension::Group, mining::OrgDimension::Resource] {
            let query = app::ProcessQuery {
                ping_pong_by: dimension,
                ..Default::default()
            };
            let map = app.process_map(&manager, &query, 0).await.unwrap();
            let first = map
                .ping_pong
                .first()
                .unwrap_or_else(|| panic!("no ping-pong by {dimension:?} in the demo"));
            assert!(
                first.occurrences > 0 && first.first != first.second,
                "{dimension:?}"
            );
        }
    });
}

#[test]
fn serve_answers_and_stops_gracefully_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, url) = serve(dir.path());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let health = runtime.block_on(async {
        reqwest::get(format!("{url}/healthz"))
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()
    });
    assert_eq!(health["status"], "ok");
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = child.wait().unwrap();
    assert!(status.success(), "exit after SIGTERM: {status:?}");
}

#[test]
fn nothing_acknowledged_is_lost_when_the_server_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let secret = token(dir.path());
    let (mut child, url) = serve(dir.path());
    let acknowledged = Arc::new(Mutex::new(Vec::<i64>::new()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::new();
        let mut tasks = Vec::new();
        for worker in 0..8 {
            let (client, url, secret, acknowledged) = (client.clone(), url.clone(), secret.clone(), acknowledged.clone());
            tasks.push(tokio::spawn(async move {
                for i in 0..200 {
                    let body = json!({"subject": format!("crash {worker}-{i}"), "customer": {"email": format!("c{worker}-{i}@x.test")},
                                      "message": {"kind": "customer", "text": "hello"}});
                    let Ok(response) = client.post(format!("{url}/api/v1/conversations")).bearer_auth(&secret).json(&body).send().await else { return };
                    if response.status() == 201 {
                        if let Ok(value) = response.json::<serde_json::Value>().await {
                            acknowledged.lock().unwrap().push(value["number"].as_i64().unwrap());
                        }
                    }
                }
            }));
        }
        // Kill the server in the middle of the stream of writes.
        while acknowledged.lock().unwrap().len() < 150 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        child.kill().unwrap();
        for task in tasks {
            let _ = task.await;
        }
    });
    child.wait().unwrap();
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 150);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = store::Store::open_sqlite(dir.path()).await.unwrap();
        let found = store.conversations_by_number(&acknowledged).await.unwrap();
        assert_eq!(
            found.len(),
            acknowledged.len(),
            "every 201 survived the kill"
        );
        for row in found {
            assert_eq!(row.message_count, 1);
        }
    });
}

/// `kill -9` during sustained SMTP load: every message that got its 250 is stored exactly
/// once, byte for byte, after the restart.
#[test]
fn every_message_that_got_250_survives_a_kill_exactly_once() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    rapport_ok(&["group", "add", "--data", data, "--name", "Support"]);
    rapport_ok(&[
        "mailbox",
        "add",
        "--data",
        data,
        "--address",
        "support@crash.test",
        "--group",
        "Support",
    ]);
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--data",
            data,
            "--listen",
            "127.0.0.1:0",
            "--smtp-listen",
            "127.0.0.1:0",
        ])
        .env("RAPPORT_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap());
    let mut smtp_address = String::new();
    for _ in 0..3 {
        let mut line = String::new();
        lines.read_line(&mut line).unwrap();
        if let Some(a) = line.trim().strip_prefix("SMTP is listening on ") {
            smtp_address = a.to_string();
            break;
        }
    }
    assert!(!smtp_address.is_empty(), "the SMTP listener started");
    // (sender, n, inbound id) for every 250.
    let acknowledged = Arc::new(Mutex::new(Vec::<(usize, usize, i64)>::new()));
    let body = |sender: usize, n: usize| {
        format!("From: c{sender}@x.test\r\nTo: support@crash.test\r\nSubject: crash {sender}-{n}\r\nMessage-ID: <{sender}.{n}@x.test>\r\n\r\nmessage {sender}-{n}\r\n")
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut tasks = Vec::new();
        for sender in 0..8 {
            let (address, acknowledged) = (smtp_address.clone(), acknowledged.clone());
            tasks.push(tokio::spawn(async move {
                let Ok(stream) = tokio::net::TcpStream::connect(&address).await else { return };
                let (r, mut w) = stream.into_split();
                let mut r = tokio::io::BufReader::new(r);
                let mut line = String::new();
                if r.read_line(&mut line).await.unwrap_or(0) == 0 { return; }
                if w.write_all(b"HELO crash.test\r\n").await.is_err() { return; }
                line.clear();
                if r.read_line(&mut line).await.unwrap_or(0) == 0 { return; }
                for n in 0..400 {
                    let text = format!("MAIL FROM:<c{sender}@x.test>\r\nRCPT TO:<support@crash.test>\r\nDATA\r\n{}.\r\n", body(sender, n));
                    if w.write_all(text.as_bytes()).await.is_err() { return; }
                    let mut replies = Vec::new();
                    for _ in 0..4 {
                        line.clear();
                        if r.read_line(&mut line).await.unwrap_or(0) == 0 { return; }
                        replies.push(line.clone());
                    }
                    if let Some(id) = replies[3].strip_prefix("250 2.0.0 accepted as message ") {
                        acknowledged.lock().unwrap().push((sender, n, id.trim().parse().unwrap()));
                    }
                }
            }));
        }
        while acknowledged.lock().unwrap().len() < 300 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        child.kill().unwrap();
        for task in tasks {
            let _ = task.await;
        }
    });
    child.wait().unwrap();
    let acknowledged = acknowledged.lock().unwrap().clone();
    assert!(acknowledged.len() >= 300);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = store::Store::open_sqlite(dir.path()).await.unwrap();
        let mut seen = std::collections::HashSet::new();
        for (sender, n, id) in &acknowledged {
            let row = store
                .inbound_mail(*id)
                .await
                .unwrap()
                .expect("every 250 survived the kill");
            let raw = store.blob(&row.raw_sha256).await.unwrap().unwrap();
            assert_eq!(
                String::from_utf8(raw).unwrap(),
                body(*sender, *n),
                "byte for byte"
            );
            assert!(seen.insert(row.raw_sha256.clone()), "exactly once");
        }
        let stored: i64 = store
            .inbound_mail_states()
            .await
            .unwrap()
            .iter()
            .map(|(_, n)| n)
            .sum();
        assert!(stored as usize >= acknowledged.len());
        assert!(
            stored as usize <= acknowledged.len() + 8,
            "at most one unacknowledged message per sender"
        );
    });
}

/// The chat's settings come from the file, then `RAPPORT_*`, then the flags; what the
/// widget page's policy allows and how many sockets one address may hold follow them.
#[test]
fn the_chat_frame_ancestors_and_socket_cap_are_configured_by_file_environment_and_flag() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message as WsMessage;

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rapport.toml");
    std::fs::write(
        &file,
        "chat_frame_ancestors = \"https://file.example\"\nchat_max_sockets_per_address = 5\n",
    )
    .unwrap();
    let data = dir.path().join("data");
    let mut child = Command::new(BIN)
        .args([
            "--config",
            file.to_str().unwrap(),
            "serve",
            "--data",
            data.to_str().unwrap(),
            "--listen",
            "127.0.0.1:0",
            "--chat-max-sockets-per-address",
            "1",
        ])
        .env_remove("DATABASE_URL")
        .env("RAPPORT_LOG", "warn")
        .env(
            "RAPPORT_CHAT_FRAME_ANCESTORS",
            "'self'   https://shop.example.com",
        )
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start rapport serve");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .trim()
        .rsplit(' ')
        .next()
        .unwrap()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    assert!(address.starts_with("127.0.0.1:"), "{line}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let page = reqwest::get(format!("http://{address}/chat"))
            .await
            .unwrap();
        let policy = page.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            policy.ends_with("; frame-ancestors 'self' https://shop.example.com"),
            "the environment wins over the file: {policy}"
        );
        let login = reqwest::get(format!("http://{address}/login"))
            .await
            .unwrap();
        assert!(login.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'"));

        let url = format!("ws://{address}/chat/ws");
        let (mut first, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        first
            .send(WsMessage::text(r#"{"type":"hello","name":"Ann"}"#))
            .await
            .unwrap();
        let ready = first.next().await.unwrap().unwrap();
        assert!(ready.to_text().unwrap().contains("ready"), "{ready:?}");
        // The flag's cap of one: a second socket from the same address is told why and closed.
        let (mut second, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        let refusal = second.next().await.unwrap().unwrap();
        let refusal: serde_json::Value = serde_json::from_str(refusal.to_text().unwrap()).unwrap();
        assert_eq!(refusal["code"], "too_many_chats", "{refusal}");
        assert!(
            refusal["message"].as_str().unwrap().contains("at most 1"),
            "{refusal}"
        );
        match second.next().await {
            Some(Ok(WsMessage::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1013),
            other => panic!("expected a close frame, got {other:?}"),
        }
        // Once the first one closes, its place is free again.
        first.close(None).await.unwrap();
        while let Some(Ok(_)) = first.next().await {}
        let mut opened = false;
        for _ in 0..100 {
            let (mut again, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
            again
                .send(WsMessage::text(r#"{"type":"hello","name":"Ann"}"#))
                .await
                .unwrap();
            let answer = again.next().await.unwrap().unwrap();
            if answer.to_text().unwrap().contains("ready") {
                opened = true;
                break;
            }
            // The server may not have seen the first socket's end yet.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(opened, "a closed socket frees its place");
    });
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn bad_chat_settings_are_reported_with_the_other_problems() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rapport.toml");
    std::fs::write(
        &file,
        "chat_frame_ancestors = \"*; script-src *\"\nchat_max_sockets_per_address = 0\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["--config", file.to_str().unwrap(), "migrate"])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("2 problem(s)")
            && stderr.contains("chat_frame_ancestors")
            && stderr.contains("chat_max_sockets_per_address must be at least 1"),
        "{stderr}"
    );
    let flag = Command::new(BIN)
        .args([
            "serve",
            "--data",
            dir.path().join("data").to_str().unwrap(),
            "--chat-frame-ancestors",
            "self",
        ])
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&flag.stderr).contains("write 'self' with its single quotes"),
        "{}",
        String::from_utf8_lossy(&flag.stderr)
    );
}

/// `rapport bench sla --recompute N --rounds R` loads N conversations once, then each round
/// changes the policy, rebuilds every clock, and finds nothing to change on the second run;
/// the medians of the rounds close the report.
#[test]
fn the_recompute_bench_rebuilds_every_clock_each_round_and_then_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let out = rapport_ok(&[
        "bench",
        "sla",
        "--data",
        data,
        "--recompute",
        "300",
        "--rounds",
        "3",
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    for round in 1..=3 {
        let rebuild = text
            .lines()
            .find(|l| {
                l.contains(&format!(
                    "round {round}, rebuild after a policy change: 300 conversations"
                ))
            })
            .unwrap_or_else(|| panic!("round {round}: {text}"));
        assert!(rebuild.contains("300 clocks written"), "{rebuild}");
        let second = text
            .lines()
            .find(|l| {
                l.contains(&format!(
                    "round {round}, second run, nothing to change: 300 conversations"
                ))
            })
            .unwrap_or_else(|| panic!("round {round}: {text}"));
        assert!(
            second.contains("0 events appended, 0 clocks written"),
            "{second}"
        );
    }
    for pass in [
        "rebuild after a policy change",
        "second run, nothing to change",
    ] {
        let median = text
            .lines()
            .find(|l| l.contains(&format!("median of 3 rounds, {pass}: process CPU")))
            .unwrap_or_else(|| panic!("{pass}: {text}"));
        assert_eq!(median.matches("each round: ").count(), 1, "{median}");
    }
}
