//! The live-chat widget over a real WebSocket, against a real server on a loopback port:
//! a chat is a conversation on the chat channel, the customer sees the team's public replies
//! live and never its notes, a token opens only its own chat, the transcript goes through
//! the outbound mail queue, and bad frames get error frames.

use std::time::Duration;

use domain::{Actor, Channel, IdentityKind, MessageKind, Principal, Status};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use crate::support::*;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

impl Server {
    async fn widget(&self) -> Widget {
        let (socket, response) =
            tokio_tungstenite::connect_async(format!("ws://{}/chat/ws", self.addr))
                .await
                .expect("the chat socket opens");
        assert_eq!(response.status(), 101);
        Widget { socket }
    }
}

/// The widget's side of the socket.
struct Widget {
    socket: Socket,
}

impl Widget {
    async fn send(&mut self, frame: Value) {
        self.socket
            .send(WsMessage::text(frame.to_string()))
            .await
            .unwrap();
    }

    async fn send_raw(&mut self, message: WsMessage) {
        self.socket.send(message).await.unwrap();
    }

    /// The next frame the server sends, as JSON (`{"type":"closed","code":…}` for a close).
    /// A socket silent for a minute fails the test instead of hanging it.
    async fn next(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(Duration::from_secs(60), self.socket.next())
                .await
                .expect("the chat socket sent nothing for a minute");
            match message {
                Some(Ok(WsMessage::Text(text))) => return serde_json::from_str(&text).unwrap(),
                Some(Ok(WsMessage::Close(frame))) => {
                    return json!({"type": "closed", "code": frame.map(|f| u16::from(f.code))})
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return json!({"type": "closed", "code": null}),
            }
        }
    }

    /// Reads until a frame of this type, returning it and every frame before it.
    async fn until(&mut self, kind: &str) -> (Value, Vec<Value>) {
        let mut before = Vec::new();
        loop {
            let frame = self.next().await;
            if frame["type"] == kind {
                return (frame, before);
            }
            assert_ne!(frame["type"], "closed", "closed while waiting for {kind}");
            before.push(frame);
        }
    }

    /// Says hello and sends the first message: returns the `started` and `ack` frames.
    async fn start(&mut self, name: &str, email: &str, text: &str) -> (Value, Value) {
        self.send(json!({"type": "hello", "name": name, "email": email}))
            .await;
        assert_eq!(self.next().await["type"], "ready");
        self.send(json!({"type": "message", "text": text, "ref": "first"}))
            .await;
        let started = self.next().await;
        assert_eq!(started["type"], "started", "{started}");
        let ack = self.next().await;
        assert_eq!(ack["type"], "ack", "{ack}");
        assert_eq!(ack["ref"], "first");
        (started, ack)
    }

    async fn say(&mut self, text: &str, reference: &str) -> Value {
        self.send(json!({"type": "message", "text": text, "ref": reference}))
            .await;
        self.next().await
    }
}

/// `by` writes an internal note at `at`, then a public reply a minute later.
async fn note_then_reply(
    app: &app::App,
    by: &Principal,
    number: i64,
    note: &str,
    reply: &str,
    at: i64,
) {
    post_message(app, by, number, MessageKind::Note, note, at).await;
    post_message(app, by, number, MessageKind::Reply, reply, at + MIN).await;
}

#[tokio::test]
async fn a_chat_is_a_conversation_whose_public_replies_reach_the_widget_live_and_notes_never() {
    for db in backends().await {
        let name = db.name;
        let (server, app, team) = Server::start_with_team(db).await;
        // Ann wrote by e-mail before; the chat gives her address, which it has not proved
        // (`typing_someone_elses_address_...` below shows how it is linked once confirmed).
        let by_mail = app
            .create_conversation(
                &Principal::System,
                inbound("ann@x.test", "Parcel", "Where is it?", Some(team.support)),
                T0,
            )
            .await
            .unwrap();

        let mut ann = server.widget().await;
        let (started, ack) = ann
            .start("Ann", " Ann@X.test ", "Hello, where is my parcel?")
            .await;
        let number = started["conversation"].as_i64().unwrap();
        let token = started["token"].as_str().unwrap().to_string();
        assert!(token.len() >= 32, "an unguessable token ({name})");
        assert_eq!(ack["message"]["from"], "customer");
        assert_eq!(ack["message"]["name"], "Ann");

        // Acknowledged means stored: the conversation is there, on the chat channel, for
        // the chat's own customer (an address typed proves nothing), with the customer as
        // the author and actor.
        let view = app.conversation(&team.admin, number).await.unwrap();
        assert_eq!(view.channel, Channel::Chat, "{name}");
        assert_eq!(view.status, Status::New);
        assert_ne!(
            view.customer.id, by_mail.customer.id,
            "not linked to the address's owner before it is confirmed ({name})"
        );
        assert_eq!(started["email_verified"], false);
        assert_eq!(started["email_code_sent"], false, "no mailbox to send it");
        let messages = app.messages(&team.admin, number).await.unwrap();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].text, "Hello, where is my parcel?");
        assert_eq!(messages[0].kind, MessageKind::Customer);
        assert_eq!(messages[0].channel, Channel::Chat);
        assert_eq!(messages[0].author, Actor::Customer(view.customer.id));
        let events = app.events(&team.admin, number).await.unwrap();
        let chat_started = events.iter().find(|e| e.kind == "chat_started").unwrap();
        assert_eq!(chat_started.actor, Actor::Customer(view.customer.id));
        assert_eq!(chat_started.payload["identity"], "chat");

        let second = ann.say("It is order 1234.", "two").await;
        assert_eq!(second["type"], "ack", "{second}");
        assert_eq!(second["ref"], "two");
        assert_eq!(app.messages(&team.admin, number).await.unwrap().len(), 2);

        // The team writes a note, then a public reply: only the reply reaches the widget.
        note_then_reply(
            &app,
            &team.admin,
            number,
            "NOTE: customer was rude last time",
            "It ships today.",
            T0 + MIN,
        )
        .await;
        let (reply, before) = ann.until("message").await;
        assert_eq!(reply["message"]["from"], "agent", "{name}");
        assert_eq!(reply["message"]["text"], "It ships today.");
        assert_eq!(reply["message"]["name"], "admin@t.test");
        assert!(
            before.iter().all(|f| !f.to_string().contains("NOTE")),
            "{before:?}"
        );
        // A note after the reply: the next frame is the next reply, never the note.
        note_then_reply(
            &app,
            &team.admin,
            number,
            "NOTE: second note",
            "Anything else?",
            T0 + 3 * MIN,
        )
        .await;
        let next = ann.next().await;
        assert_eq!(next["message"]["text"], "Anything else?", "{next}");

        // A reload resumes the chat with its token: the same lines, without the notes.
        let mut reloaded = server.widget().await;
        reloaded
            .send(json!({"type": "resume", "token": token}))
            .await;
        let state = reloaded.next().await;
        assert_eq!(state["type"], "state", "{state}");
        assert_eq!(state["conversation"], number);
        assert_eq!(state["ended"], false);
        let texts: Vec<&str> = state["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["text"].as_str().unwrap())
            .collect();
        assert_eq!(
            texts,
            [
                "Hello, where is my parcel?",
                "It is order 1234.",
                "It ships today.",
                "Anything else?"
            ]
        );
        // The resumed widget writes on the same conversation.
        assert_eq!(reloaded.say("No, thanks!", "r").await["type"], "ack");
        assert_eq!(app.messages(&team.admin, number).await.unwrap().len(), 7);

        // Bob, with no e-mail address, is a customer known by a chat handle; his token
        // opens his chat only, and he hears nothing of Ann's.
        let mut bob = server.widget().await;
        let (bob_started, _) = bob.start("Bob", "", "Hi, a question").await;
        let bob_number = bob_started["conversation"].as_i64().unwrap();
        assert_ne!(bob_number, number);
        let bob_view = app.conversation(&team.admin, bob_number).await.unwrap();
        let bob_customer = app
            .customer(&team.admin, bob_view.customer.id)
            .await
            .unwrap();
        assert_eq!(bob_customer.name, "Bob");
        assert!(
            bob_customer
                .identities
                .iter()
                .all(|(kind, _)| *kind == IdentityKind::Chat),
            "{:?}",
            bob_customer.identities
        );
        assert_eq!(
            bob_started["visitor"].as_str(),
            bob_customer
                .identities
                .first()
                .map(|(_, handle)| handle.as_str())
        );
        post_message(
            &app,
            &team.admin,
            number,
            MessageKind::Reply,
            "For Ann only",
            T0 + 5 * MIN,
        )
        .await;
        post_message(
            &app,
            &team.admin,
            bob_number,
            MessageKind::Reply,
            "Hello Bob",
            T0 + 6 * MIN,
        )
        .await;
        let bob_next = bob.next().await;
        assert_eq!(bob_next["message"]["text"], "Hello Bob", "{bob_next}");
        let bob_token = bob_started["token"].as_str().unwrap();
        let mut other = server.widget().await;
        other
            .send(json!({"type": "resume", "token": bob_token}))
            .await;
        let bob_state = other.next().await;
        assert_eq!(bob_state["conversation"], bob_number);
        assert!(
            !bob_state.to_string().contains("For Ann only")
                && !bob_state.to_string().contains("parcel"),
            "{bob_state}"
        );
        // A token that is not one: nothing, and the same answer for a near miss.
        let mut near_miss = token.clone();
        near_miss.pop();
        for wrong in [near_miss.as_str(), "", "x", &"a".repeat(10_000)] {
            let mut stranger = server.widget().await;
            stranger
                .send(json!({"type": "resume", "token": wrong}))
                .await;
            let refused = stranger.next().await;
            assert_eq!(refused["type"], "error", "{refused}");
            assert_eq!(refused["code"], "not_found");
            // And without a chat, a message is not written anywhere.
            let nothing = stranger.say("let me in", "x").await;
            assert_eq!(nothing["type"], "error", "{nothing}");
        }
        assert_eq!(app.messages(&team.admin, number).await.unwrap().len(), 8);
        server.stop().await;
    }
}

#[tokio::test]
async fn a_chat_ends_by_the_customer_or_when_solved_and_its_transcript_is_queued_by_email() {
    for db in backends().await {
        let name = db.name;
        let (server, app, team) = Server::start_with_team(db).await;
        support_mailbox(&app).await;

        let mut ann = server.widget().await;
        let (started, _) = ann.start("Ann", "ann@x.test", "My invoice is wrong").await;
        let number = started["conversation"].as_i64().unwrap();
        note_then_reply(
            &app,
            &team.admin,
            number,
            "NOTE: check the ledger",
            "Fixed, sorry!",
            T0 + MIN,
        )
        .await;
        ann.until("message").await;
        ann.send(json!({"type": "end"})).await;
        assert_eq!(ann.next().await["type"], "ended", "{name}");
        // An ended chat takes no more messages (the conversation stays for the team).
        let refused = ann.say("one more thing", "late").await;
        assert_eq!(refused["type"], "error", "{refused}");
        assert_eq!(refused["ref"], "late");
        assert!(refused["message"].as_str().unwrap().contains("ended"));
        assert_eq!(app.messages(&team.admin, number).await.unwrap().len(), 3);

        // The transcript goes to the address she gave, through the outbound queue.
        ann.send(json!({"type": "transcript"})).await;
        assert_eq!(ann.next().await["type"], "transcript_queued", "{name}");
        let events = app.events(&team.admin, number).await.unwrap();
        let ended = events.iter().find(|e| e.kind == "chat_ended").unwrap();
        assert!(matches!(ended.actor, Actor::Customer(_)));
        let queued = events
            .iter()
            .find(|e| e.kind == "chat_transcript_queued")
            .unwrap();
        let outbound_id = queued.payload["outbound_id"].as_i64().unwrap();
        assert!(events
            .iter()
            .any(|e| e.kind == "mail_queued"
                && e.payload["outbound_id"].as_i64() == Some(outbound_id)));
        let mail = app.store.outbound_mail(outbound_id).await.unwrap().unwrap();
        assert_eq!(mail.recipients, "ann@x.test");
        assert_eq!(mail.conversation, Some(number));
        assert_eq!(mail.state, "queued");
        let raw = app.store.blob(&mail.raw_sha256).await.unwrap().unwrap();
        let raw = String::from_utf8_lossy(&raw);
        assert!(raw.contains("My invoice is wrong") && raw.contains("Fixed, sorry!"));
        assert!(!raw.contains("NOTE"), "the transcript has no notes");
        // Another address may be given; at most three transcripts per chat.
        ann.send(json!({"type": "transcript", "email": "ann@home.test"}))
            .await;
        assert_eq!(ann.next().await["type"], "transcript_queued");
        ann.send(json!({"type": "transcript", "email": "not an address"}))
            .await;
        assert_eq!(ann.next().await["code"], "invalid");
        ann.send(json!({"type": "transcript"})).await;
        assert_eq!(ann.next().await["type"], "transcript_queued");
        ann.send(json!({"type": "transcript"})).await;
        let fourth = ann.next().await;
        assert_eq!(fourth["code"], "invalid", "{fourth}");
        assert!(fourth["message"].as_str().unwrap().contains("3 times"));

        // Bob gave no address: he must type one for the transcript.
        let mut bob = server.widget().await;
        let (bob_started, _) = bob.start("Bob", "", "Question").await;
        let bob_number = bob_started["conversation"].as_i64().unwrap();
        bob.send(json!({"type": "transcript"})).await;
        assert_eq!(bob.next().await["code"], "invalid");
        // The team solves Bob's conversation: his widget hears the chat has ended.
        app.update_conversation(
            &team.admin,
            bob_number,
            app::Patch {
                status: Some(Status::Solved),
                ..Default::default()
            },
            T0 + 3 * MIN,
        )
        .await
        .unwrap();
        let (_, before) = bob.until("ended").await;
        assert!(before.iter().all(|f| f["type"] == "message"), "{before:?}");
        assert_eq!(bob.say("hello?", "h").await["type"], "error");
        let mut resumed = server.widget().await;
        resumed
            .send(json!({"type": "resume", "token": bob_started["token"]}))
            .await;
        assert_eq!(resumed.next().await["ended"], true);
        server.stop().await;
    }
}

#[tokio::test]
async fn bad_frames_get_an_error_frame_and_the_chat_goes_on() {
    let server = Server::start(sqlite().await).await;
    let app = server.db.app();
    let team = team(&app).await;
    let mut widget = server.widget().await;
    let cases: Vec<(WsMessage, &str)> = vec![
        (WsMessage::text("not json"), "bad_frame"),
        (WsMessage::text("[1,2]"), "bad_frame"),
        (WsMessage::binary(vec![1u8, 2, 3]), "bad_frame"),
        (WsMessage::text(r#"{"type":"dance"}"#), "bad_frame"),
        (WsMessage::text(r#"{"text":"no type"}"#), "bad_frame"),
        (WsMessage::text(r#"{"type":"message"}"#), "bad_frame"),
        (
            WsMessage::text(r#"{"type":"message","text":"hi"}"#),
            "invalid",
        ),
        (WsMessage::text(r#"{"type":"end"}"#), "invalid"),
        (
            WsMessage::text(r#"{"type":"hello","name":"  "}"#),
            "invalid",
        ),
        (
            WsMessage::text(r#"{"type":"hello","name":"Ann","email":"ann@"}"#),
            "invalid",
        ),
    ];
    for (frame, code) in cases {
        let shown = format!("{frame:?}");
        widget.send_raw(frame).await;
        let error = widget.next().await;
        assert_eq!(error["type"], "error", "{shown}: {error}");
        assert_eq!(error["code"], code, "{shown}: {error}");
        assert!(!error["message"].as_str().unwrap().is_empty());
    }
    // Still usable: a proper hello and message start the chat.
    let (started, _) = widget.start("Ann", "", "Hello").await;
    let number = started["conversation"].as_i64().unwrap();
    // Too long or empty messages are refused with a reason, and nothing is stored.
    let long = "x".repeat(app::MAX_CHAT_MESSAGE_CHARS + 1);
    let refused = widget.say(&long, "long").await;
    assert_eq!(refused["code"], "invalid", "{refused}");
    assert_eq!(refused["ref"], "long");
    assert!(refused["message"].as_str().unwrap().contains("4000"));
    assert_eq!(widget.say("   ", "empty").await["code"], "invalid");
    assert_eq!(app.messages(&team.admin, number).await.unwrap().len(), 1);
    // Messages are rate-limited per chat: a burst of 20 (two were refused above, and the
    // limit counts attempts), then one every 1.5 s.
    let mut accepted = 1;
    let limited = loop {
        let reply = widget.say("again", "burst").await;
        if reply["type"] != "ack" {
            break reply;
        }
        accepted += 1;
        assert!(accepted < 100, "no limit");
    };
    assert_eq!(limited["code"], "rate_limited", "{limited}");
    assert_eq!(limited["retry_after_ms"], 1_500);
    assert_eq!(accepted, 19);
    server.set_time(T0 + 1_500);
    assert_eq!(widget.say("after a pause", "p").await["type"], "ack");
    // A frame over 64 KiB closes the socket with 1009 (message too big).
    widget
        .send_raw(WsMessage::text(format!(
            r#"{{"type":"message","text":"{}"}}"#,
            "y".repeat(70_000)
        )))
        .await;
    let closed = widget.next().await;
    assert_eq!(closed["type"], "closed", "{closed}");
    assert!(
        closed["code"] == 1009 || closed["code"].is_null(),
        "{closed}"
    );
    assert_eq!(app.messages(&team.admin, number).await.unwrap().len(), 20);
    server.stop().await;
}

#[tokio::test]
async fn the_chat_page_may_be_framed_by_any_site_and_every_other_page_by_none() {
    let server = Server::start(sqlite().await).await;
    let client = reqwest::Client::new();
    let chat = client
        .get(format!("http://{}/chat", server.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(chat.status(), 200);
    let policy = chat.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(policy.contains("frame-ancestors *"), "{policy}");
    assert!(policy.contains("script-src 'self'") && !policy.contains("unsafe-inline"));
    assert!(chat.headers().get("x-frame-options").is_none());
    let body = chat.text().await.unwrap();
    assert!(body.contains(r#"<script src="/assets/chat.js" defer></script>"#));
    assert!(!body.contains("<script>"), "no inline script");
    for path in ["/login", "/assets/chat.js", "/app"] {
        let response = client
            .get(format!("http://{}{path}", server.addr))
            .send()
            .await
            .unwrap();
        let policy = response.headers()["content-security-policy"]
            .to_str()
            .unwrap();
        assert!(
            policy.contains("frame-ancestors 'none'"),
            "{path}: {policy}"
        );
    }
    // The socket's address refuses a plain request with a clear status, not a page.
    let plain = client
        .get(format!("http://{}/chat/ws", server.addr))
        .send()
        .await
        .unwrap();
    assert!(plain.status().is_client_error(), "{}", plain.status());
    server.stop().await;
}

/// Two nodes on one store (two servers on the same SQLite file or PostgreSQL schema): the
/// customer's socket is on node A, the agent answers through node B (its own connections),
/// and A's live poller, which reads the log, brings the answer to the socket.
#[tokio::test]
async fn an_answer_written_on_another_node_reaches_the_chat_socket() {
    for db in backends().await {
        let name = db.name;
        let second = db.another_node().await;
        let (a, app, team) = Server::start_with_team(db).await;
        let b = Server::start(second).await;
        let mut ann = a.widget().await;
        let (started, _) = ann.start("Ann", "ann@x.test", "Hello from node A").await;
        let number = started["conversation"].as_i64().unwrap();
        // Node B sees the chat the customer started on A.
        let on_b = b.db.app();
        let seen = on_b.messages(&team.admin, number).await.unwrap();
        assert_eq!(seen.len(), 1, "{name}");
        post_message(
            &on_b,
            &team.admin,
            number,
            MessageKind::Reply,
            "Answered on node B.",
            T0 + MIN,
        )
        .await;
        let (reply, _) = ann.until("message").await;
        assert_eq!(reply["message"]["from"], "agent", "{name}");
        assert_eq!(reply["message"]["text"], "Answered on node B.", "{name}");
        drop(app);
        drop(ann);
        b.stop().await;
        a.stop().await;
    }
}

/// The code mailed for chat `number`'s address (the newest), read from the outbound queue.
async fn mailed_code(app: &app::App, by: &Principal, number: i64) -> (String, String) {
    let events = app.events(by, number).await.unwrap();
    let queued = events
        .iter()
        .rev()
        .find(|e| e.kind == "chat_email_code_queued")
        .expect("a code was queued");
    let outbound_id = queued.payload["outbound_id"].as_i64().unwrap();
    let mail = app.store.outbound_mail(outbound_id).await.unwrap().unwrap();
    let raw = app.store.blob(&mail.raw_sha256).await.unwrap().unwrap();
    let raw = String::from_utf8_lossy(&raw).to_string();
    let at = raw
        .find("Your chat code: ")
        .expect("the code in the subject")
        + 16;
    (raw[at..at + 6].to_string(), mail.recipients)
}

/// The newest transcript of chat `number`, as mailed.
async fn mailed_transcript(app: &app::App, by: &Principal, number: i64) -> String {
    let events = app.events(by, number).await.unwrap();
    let queued = events
        .iter()
        .rev()
        .find(|e| e.kind == "chat_transcript_queued")
        .expect("a transcript was queued");
    let outbound_id = queued.payload["outbound_id"].as_i64().unwrap();
    let mail = app.store.outbound_mail(outbound_id).await.unwrap().unwrap();
    let raw = app.store.blob(&mail.raw_sha256).await.unwrap().unwrap();
    String::from_utf8_lossy(&raw).to_string()
}

#[tokio::test]
async fn typing_someone_elses_address_into_the_chat_links_nothing_until_the_mailed_code_is_typed() {
    for db in backends().await {
        let name = db.name;
        let (server, app, team) = Server::start_with_team(db).await;
        support_mailbox(&app).await;
        let ann = app
            .create_conversation(
                &Principal::System,
                inbound(
                    "ann@x.test",
                    "Parcel",
                    "My address is 1 Secret Lane.",
                    Some(team.support),
                ),
                T0,
            )
            .await
            .unwrap()
            .customer
            .id;

        // Mallory types Ann's address: her chat is not Ann's, shows nothing of Ann's, and the
        // address is not added to Mallory's record; a code goes to Ann's mailbox.
        let mut mallory = server.widget().await;
        let (started, _) = mallory
            .start(
                "Mallory",
                "ann@x.test",
                "Hi, what address do you have for me?",
            )
            .await;
        let number = started["conversation"].as_i64().unwrap();
        assert_eq!(started["email_verified"], false, "{name}");
        assert_eq!(started["email_code_sent"], true, "{name}");
        let chat = app.conversation(&team.admin, number).await.unwrap();
        assert_ne!(chat.customer.id, ann, "{name}");
        let mallory_record = app.customer(&team.admin, chat.customer.id).await.unwrap();
        assert!(
            mallory_record
                .identities
                .iter()
                .all(|(kind, _)| *kind != IdentityKind::Email),
            "{:?}",
            mallory_record.identities
        );
        assert_eq!(mallory_record.conversations.len(), 1);
        let ann_record = app.customer(&team.admin, ann).await.unwrap();
        assert!(ann_record.conversations.iter().all(|c| c.number != number));
        let (code, to) = mailed_code(&app, &team.admin, number).await;
        assert_eq!(to, "ann@x.test");
        // The team sees the typed address, marked as not confirmed.
        assert_eq!(
            app.chat_addresses(&team.admin, number).await.unwrap(),
            [("ann@x.test".to_string(), false)]
        );
        assert!(app
            .chat_addresses(&Principal::Customer { id: ann }, number)
            .await
            .is_err());
        // What the widget shows after a reload: the chat's lines, nothing of Ann's.
        let token = started["token"].as_str().unwrap().to_string();
        let mut reloaded = server.widget().await;
        reloaded
            .send(json!({"type": "resume", "token": token}))
            .await;
        let state = reloaded.next().await;
        assert_eq!(state["email_verified"], false);
        assert!(!state.to_string().contains("Secret Lane"), "{state}");
        assert_eq!(state["messages"].as_array().unwrap().len(), 1);

        // Guessing: each wrong code is counted; after five even the right one is refused.
        let wrong = if code == "000000" { "111111" } else { "000000" };
        for _ in 0..app::MAX_CHAT_CODE_ATTEMPTS {
            mallory.send(json!({"type": "verify", "code": wrong})).await;
            let refused = mallory.next().await;
            assert_eq!(refused["code"], "invalid", "{refused}");
        }
        mallory.send(json!({"type": "verify", "code": code})).await;
        let refused = mallory.next().await;
        assert_eq!(refused["code"], "invalid", "{refused}");
        assert!(refused["message"].as_str().unwrap().contains("too often"));
        assert_eq!(
            app.conversation(&team.admin, number)
                .await
                .unwrap()
                .customer
                .id,
            chat.customer.id,
            "still not Ann's ({name})"
        );
        // A transcript to the unconfirmed address says so at its top.
        mallory.send(json!({"type": "transcript"})).await;
        assert_eq!(mallory.next().await["type"], "transcript_queued");
        let transcript = mailed_transcript(&app, &team.admin, number).await;
        assert!(
            transcript.contains("has not been confirmed"),
            "{transcript}"
        );
        assert!(!transcript.contains("Secret Lane"));

        // Ann herself: the code from her mailbox links the chat to her record.
        let mut real = server.widget().await;
        let (started, _) = real.start("Ann", "ann@x.test", "Hello, it is Ann.").await;
        let own = started["conversation"].as_i64().unwrap();
        let before = app
            .conversation(&team.admin, own)
            .await
            .unwrap()
            .customer
            .id;
        assert_ne!(before, ann);
        let (code, _) = mailed_code(&app, &team.admin, own).await;
        real.send(json!({"type": "verify", "code": format!(" {code} ")}))
            .await;
        let verified = real.next().await;
        assert_eq!(verified["type"], "verified", "{verified} ({name})");
        assert_eq!(
            app.conversation(&team.admin, own)
                .await
                .unwrap()
                .customer
                .id,
            ann,
            "one customer across e-mail and chat ({name})"
        );
        let ann_record = app.customer(&team.admin, ann).await.unwrap();
        assert!(ann_record.conversations.iter().any(|c| c.number == own));
        assert_eq!(
            app.chat_addresses(&team.admin, own).await.unwrap(),
            [("ann@x.test".to_string(), true)]
        );
        assert!(ann_record.conversations.iter().all(|c| c.number != number));
        let events = app.events(&team.admin, own).await.unwrap();
        let confirmed = events
            .iter()
            .find(|e| e.kind == "chat_email_verified")
            .unwrap();
        assert_eq!(confirmed.actor, Actor::Customer(ann));
        assert_eq!(confirmed.payload["customer_id"], ann);
        real.send(json!({"type": "transcript"})).await;
        assert_eq!(real.next().await["type"], "transcript_queued");
        let transcript = mailed_transcript(&app, &team.admin, own).await;
        assert!(
            !transcript.contains("has not been confirmed"),
            "{transcript}"
        );
        // Her next chat from the same widget (its handle is hers now) is hers at once.
        let handle = started["visitor"].as_str().unwrap().to_string();
        let mut again = server.widget().await;
        again
            .send(json!({"type": "hello", "name": "Ann", "email": "ann@x.test", "visitor": handle}))
            .await;
        assert_eq!(again.next().await["type"], "ready");
        again
            .send(json!({"type": "message", "text": "Me again", "ref": "1"}))
            .await;
        let started = again.next().await;
        assert_eq!(started["email_verified"], true, "{started}");
        assert_eq!(started["email_code_sent"], false);
        let next = started["conversation"].as_i64().unwrap();
        assert_eq!(
            app.conversation(&team.admin, next)
                .await
                .unwrap()
                .customer
                .id,
            ann
        );

        // An address nobody owns yet becomes the chat customer's once confirmed.
        let mut new = server.widget().await;
        let (started, _) = new.start("Nia", "nia@x.test", "First time here").await;
        let nia_chat = started["conversation"].as_i64().unwrap();
        new.send(json!({"type": "send_code"})).await;
        assert_eq!(new.next().await["type"], "code_sent");
        let (code, _) = mailed_code(&app, &team.admin, nia_chat).await;
        new.send(json!({"type": "verify", "code": code})).await;
        assert_eq!(new.next().await["type"], "verified");
        let nia = app
            .conversation(&team.admin, nia_chat)
            .await
            .unwrap()
            .customer
            .id;
        let record = app.customer(&team.admin, nia).await.unwrap();
        assert!(record
            .identities
            .contains(&(IdentityKind::Email, "nia@x.test".to_string())));
        // No more than three codes per chat.
        new.send(json!({"type": "send_code"})).await;
        assert_eq!(new.next().await["code"], "invalid", "confirmed already");
        server.stop().await;
    }
}

#[tokio::test]
async fn open_chat_sockets_are_counted_once_for_all_nodes_and_a_dead_nodes_rows_expire() {
    for db in backends().await {
        let name = db.name;
        let second = db.another_node().await;
        let (a, b) = (db.app(), second.app());
        let client = "203.0.113.7";
        // Two nodes, one count: the cap of 2 is reached on A and B together.
        let first = a.open_chat_socket("node-a", client, 2, T0).await.unwrap();
        let on_b = b.open_chat_socket("node-b", client, 2, T0).await.unwrap();
        assert!(first.is_some() && on_b.is_some(), "{name}");
        assert!(b
            .open_chat_socket("node-b", client, 2, T0)
            .await
            .unwrap()
            .is_none());
        assert!(a
            .open_chat_socket("node-a", client, 2, T0)
            .await
            .unwrap()
            .is_none());
        assert!(
            a.open_chat_socket("node-a", "198.51.100.1", 2, T0)
                .await
                .unwrap()
                .is_some(),
            "another address has its own count ({name})"
        );
        // A renews its socket on the keepalive; B dies and stops renewing: B's row stops
        // counting once it expires, and a sweep forgets it.
        let ttl = app::CHAT_SOCKET_TTL_MILLIS;
        let first = first.unwrap();
        a.renew_chat_socket(&first, None, T0 + ttl / 2)
            .await
            .unwrap();
        assert_eq!(a.open_chat_sockets(client, T0 + ttl - 1).await.unwrap(), 2);
        assert_eq!(a.open_chat_sockets(client, T0 + ttl).await.unwrap(), 1);
        let third = a
            .open_chat_socket("node-a", client, 2, T0 + ttl)
            .await
            .unwrap();
        assert!(third.is_some(), "the dead node's place is free ({name})");
        assert_eq!(a.open_chat_sockets(client, 0).await.unwrap(), 3, "{name}");
        assert!(b.sweep_chat_limits(T0 + ttl).await.unwrap() >= 1);
        assert_eq!(
            a.open_chat_sockets(client, 0).await.unwrap(),
            2,
            "the expired row was swept ({name})"
        );
        assert!(a
            .open_chat_socket("node-a", client, 2, T0 + ttl)
            .await
            .unwrap()
            .is_none());
        // A closed socket frees its place at once, on every node.
        a.close_chat_socket(&first).await.unwrap();
        assert!(b
            .open_chat_socket("node-b", client, 2, T0 + ttl)
            .await
            .unwrap()
            .is_some());

        // Openings at the same moment on two nodes take turns: with a cap of 1, one wins.
        for round in 0..10 {
            let client = format!("192.0.2.{round}");
            let (x, y) = tokio::join!(
                a.open_chat_socket("node-a", &client, 1, T0),
                b.open_chat_socket("node-b", &client, 1, T0)
            );
            let opened = [x.unwrap(), y.unwrap()].iter().flatten().count();
            assert_eq!(opened, 1, "round {round} ({name})");
        }
        second.finish().await;
        db.finish().await;
    }
}

#[tokio::test]
async fn the_chat_socket_cap_holds_across_two_servers_on_one_database() {
    for db in backends().await {
        let name = db.name;
        let second = db.another_node().await;
        let a = Server::start(db).await;
        let b = Server::start(second).await;
        // Every socket comes from 127.0.0.1; the default cap is 20 for all nodes together.
        let cap = ::ui::ChatOptions::default().max_sockets_per_address as usize;
        let mut open = Vec::new();
        for i in 0..cap {
            let server = if i % 2 == 0 { &a } else { &b };
            let mut widget = server.widget().await;
            widget
                .send(json!({"type": "hello", "name": "Visitor"}))
                .await;
            assert_eq!(widget.next().await["type"], "ready", "socket {i} ({name})");
            open.push(widget);
        }
        let mut over = b.widget().await;
        let refusal = over.next().await;
        assert_eq!(refusal["code"], "too_many_chats", "{refusal} ({name})");
        assert_eq!(over.next().await["code"], 1013);
        // One closes on A: B may open one again (the row goes when A sees the close).
        let mut closing = open.swap_remove(0);
        closing.socket.close(None).await.unwrap();
        drop(closing);
        let mut reopened = None;
        for _ in 0..200 {
            let mut widget = b.widget().await;
            widget
                .send(json!({"type": "hello", "name": "Visitor"}))
                .await;
            if widget.next().await["type"] == "ready" {
                reopened = Some(widget);
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(
            reopened.is_some(),
            "a closed socket frees its place on every node ({name})"
        );
        drop(reopened);
        drop(open);
        b.stop().await;
        a.stop().await;
    }
}

#[tokio::test]
async fn chat_rate_limits_are_shared_by_every_node() {
    for db in backends().await {
        let name = db.name;
        let second = db.another_node().await;
        let (a, b) = (db.app(), second.app());
        let limit = app::RateLimit {
            burst: 3,
            refill_millis: 1_000,
        };
        let key = "chat-start:203.0.113.9";
        // A burst of three, taken on two nodes: the fourth is refused on either.
        assert_eq!(a.take_rate_token(key, limit, T0).await.unwrap(), Ok(()));
        assert_eq!(b.take_rate_token(key, limit, T0).await.unwrap(), Ok(()));
        assert_eq!(a.take_rate_token(key, limit, T0).await.unwrap(), Ok(()));
        assert_eq!(
            b.take_rate_token(key, limit, T0).await.unwrap(),
            Err(1_000),
            "{name}"
        );
        assert_eq!(
            a.take_rate_token(key, limit, T0 + 400).await.unwrap(),
            Err(600)
        );
        // Another key has its own bucket; a refill serves one more, on either node.
        let other = "chat-start:198.51.100.9";
        assert_eq!(b.take_rate_token(other, limit, T0).await.unwrap(), Ok(()));
        assert_eq!(
            b.take_rate_token(key, limit, T0 + 1_000).await.unwrap(),
            Ok(())
        );
        assert!(a
            .take_rate_token(key, limit, T0 + 1_000)
            .await
            .unwrap()
            .is_err());
        // Takes at the same moment on two nodes never pass the burst together.
        let burst = app::RateLimit {
            burst: 5,
            refill_millis: 60_000,
        };
        let mut passed = 0;
        for _ in 0..5 {
            let (x, y) = tokio::join!(
                a.take_rate_token("chat-message:7", burst, T0),
                b.take_rate_token("chat-message:7", burst, T0)
            );
            passed += [x.unwrap(), y.unwrap()]
                .iter()
                .filter(|t| t.is_ok())
                .count();
        }
        assert_eq!(passed, 5, "{name}");
        second.finish().await;
        db.finish().await;
    }
}

/// Signs in by the API (agent or customer with a portal password): the session cookie and
/// its CSRF token.
async fn api_session(server: &Server, email: &str, password: &str) -> (String, String) {
    let outcome = server.db.app().login(email, password, T0).await.unwrap();
    (
        format!("rapport_session={}", outcome.session),
        outcome.csrf_token,
    )
}

/// `POST /api/v1/conversations/{number}/chat-email-code` with these headers: the status and
/// the JSON body.
async fn ask_for_chat_code(server: &Server, number: i64, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = server.client.post(format!(
        "{}/api/v1/conversations/{number}/chat-email-code",
        server.base
    ));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn an_agent_who_sees_a_chat_sends_its_customer_a_new_code_within_the_same_limits() {
    for db in backends().await {
        let name = db.name;
        let (server, app, team) = Server::start_with_team(db).await;
        support_mailbox(&app).await;
        // Ann, a customer known by e-mail with a portal password, has nothing to do with
        // the chat.
        let ann = app
            .create_conversation(
                &Principal::System,
                inbound("ann@x.test", "Parcel", "Where is it?", Some(team.support)),
                T0,
            )
            .await
            .unwrap()
            .customer
            .id;
        app.set_customer_password(&team.admin, ann, "ann-pw-1234")
            .await
            .unwrap();

        let mut zoe = server.widget().await;
        let (started, _) = zoe.start("Zoe", "zoe@x.test", "The code never came.").await;
        assert_eq!(started["email_code_sent"], true, "{name}");
        let number = started["conversation"].as_i64().unwrap();
        let widget_token = started["token"].as_str().unwrap().to_string();
        let (first_code, _) = mailed_code(&app, &team.admin, number).await;
        app.update_conversation(
            &team.admin,
            number,
            app::Patch {
                group_id: Some(Some(team.support)),
                ..Default::default()
            },
            T0,
        )
        .await
        .unwrap();
        let codes_queued = || async {
            app.events(&team.admin, number)
                .await
                .unwrap()
                .into_iter()
                .filter(|e| e.kind == "chat_email_code_queued")
                .collect::<Vec<_>>()
        };

        // Who may not: an agent of another group (the conversation is not there for them),
        // another customer, a token that only reads, the widget's own token, and the chat's
        // customer through the use case (they ask from the widget).
        let (biller, biller_csrf) = api_session(&server, "biller@t.test", "pw-1234").await;
        let (status, body) = ask_for_chat_code(
            &server,
            number,
            &[("cookie", &biller), ("x-csrf-token", &biller_csrf)],
        )
        .await;
        assert_eq!(status, 404, "{body} ({name})");
        let (customer, customer_csrf) = api_session(&server, "ann@x.test", "ann-pw-1234").await;
        let (status, body) = ask_for_chat_code(
            &server,
            number,
            &[("cookie", &customer), ("x-csrf-token", &customer_csrf)],
        )
        .await;
        assert_eq!(status, 404, "{body} ({name})");
        let reader = app
            .create_token(
                &Principal::System,
                "reader",
                &[domain::Scope::ConversationsRead],
                T0,
            )
            .await
            .unwrap()
            .secret;
        let (status, body) = ask_for_chat_code(
            &server,
            number,
            &[("authorization", &format!("Bearer {reader}"))],
        )
        .await;
        assert_eq!(status, 403, "{body} ({name})");
        let (status, _) = ask_for_chat_code(
            &server,
            number,
            &[("authorization", &format!("Bearer {widget_token}"))],
        )
        .await;
        assert_eq!(status, 401, "the widget's token is no API token ({name})");
        let chat_customer = app
            .conversation(&team.admin, number)
            .await
            .unwrap()
            .customer
            .id;
        let refused = app
            .resend_chat_email_code(&Principal::Customer { id: chat_customer }, number, T0)
            .await;
        assert!(
            matches!(refused, Err(app::AppError::Forbidden(_))),
            "{refused:?} ({name})"
        );
        // An agent's session without the CSRF token is refused too.
        let (agent, agent_csrf) = api_session(&server, "agent@t.test", "pw-1234").await;
        let (status, _) = ask_for_chat_code(&server, number, &[("cookie", &agent)]).await;
        assert_eq!(status, 403, "{name}");
        assert_eq!(
            codes_queued().await.len(),
            1,
            "nothing sent by a refusal ({name})"
        );

        // The agent of the conversation's group may: the code goes to the typed address, with
        // an event whose actor is the agent, and the earlier code no longer works.
        let (status, body) = ask_for_chat_code(
            &server,
            number,
            &[("cookie", &agent), ("x-csrf-token", &agent_csrf)],
        )
        .await;
        assert_eq!(status, 202, "{body} ({name})");
        assert_eq!(body["email"], "zoe@x.test");
        let queued = codes_queued().await;
        assert_eq!(queued.len(), 2, "{name}");
        assert_eq!(queued[1].actor, Actor::Agent(team.agent_id), "{name}");
        let (second_code, to) = mailed_code(&app, &team.admin, number).await;
        assert_eq!(to, "zoe@x.test");
        if second_code != first_code {
            zoe.send(json!({"type": "verify", "code": first_code}))
                .await;
            assert_eq!(zoe.next().await["code"], "invalid", "the old code ({name})");
        }

        // The workspace: the side panel offers it beside "not confirmed" (a form with the
        // CSRF token), and says where the code went.
        let page = |path: String| {
            let client = server.client.clone();
            let agent = agent.clone();
            async move {
                let response = client
                    .get(path)
                    .header("cookie", agent)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(response.status(), 200);
                response.text().await.unwrap()
            }
        };
        let html = page(format!("{}/app/conversations/{number}", server.base)).await;
        assert!(html.contains("not confirmed"), "{name}");
        assert!(
            html.contains(&format!("action=\"/app/conversations/{number}/chat-code\"")),
            "{name}"
        );
        let form = |csrf: &str| format!("csrf={csrf}");
        let posted = server
            .client
            .post(format!(
                "{}/app/conversations/{number}/chat-code",
                server.base
            ))
            .header("cookie", &agent)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form("wrong"))
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), 403, "a form without its token ({name})");
        let posted = server
            .client
            .post(format!(
                "{}/app/conversations/{number}/chat-code",
                server.base
            ))
            .header("cookie", &agent)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&agent_csrf))
            .send()
            .await
            .unwrap();
        assert_eq!(posted.status(), 303, "{name}");
        let back = posted.headers()["location"].to_str().unwrap().to_string();
        assert_eq!(back, format!("/app/conversations/{number}?chat_code=sent"));
        let html = page(format!("{}{back}", server.base)).await;
        assert!(html.contains("A new code was sent to zoe@x.test"), "{name}");
        let biller_post = server
            .client
            .post(format!(
                "{}/app/conversations/{number}/chat-code",
                server.base
            ))
            .header("cookie", &biller)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&biller_csrf))
            .send()
            .await
            .unwrap();
        assert_eq!(biller_post.status(), 404, "{name}");
        assert_eq!(codes_queued().await.len(), 3, "{name}");

        // Three codes for this chat, whoever asked: neither the agent nor the widget gets a
        // fourth.
        let (status, body) = ask_for_chat_code(
            &server,
            number,
            &[("cookie", &agent), ("x-csrf-token", &agent_csrf)],
        )
        .await;
        assert_eq!(status, 422, "{body} ({name})");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("3 codes"),
            "{body}"
        );
        zoe.send(json!({"type": "send_code"})).await;
        assert_eq!(zoe.next().await["code"], "invalid", "{name}");
        assert_eq!(codes_queued().await.len(), 3, "{name}");

        // The newest code confirms the address; then there is nothing left to send.
        let (code, _) = mailed_code(&app, &team.admin, number).await;
        zoe.send(json!({"type": "verify", "code": code})).await;
        assert_eq!(zoe.next().await["type"], "verified", "{name}");
        let (status, body) = ask_for_chat_code(
            &server,
            number,
            &[("cookie", &agent), ("x-csrf-token", &agent_csrf)],
        )
        .await;
        assert_eq!(status, 422, "{body} ({name})");
        let html = page(format!("{}/app/conversations/{number}", server.base)).await;
        assert!(!html.contains("/chat-code\""), "{name}");
        // A conversation that is no chat has no code to send.
        let (status, _) = ask_for_chat_code(
            &server,
            1,
            &[("cookie", &agent), ("x-csrf-token", &agent_csrf)],
        )
        .await;
        assert_eq!(status, 422, "{name}");
        server.stop().await;
    }
}
