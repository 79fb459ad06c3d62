//! Live updates (server-sent events), presence, the web form channel and magic-link sign-in,
//! against a real server on a loopback port (event streams need a socket to stream on).

use std::time::Duration;

use domain::{MessageKind, Principal, Status};

use crate::support::*;

impl Server {
    /// A signed-in browser for `email` (the session cookie and its CSRF token).
    async fn session(&self, email: &str, password: &str) -> Session {
        let outcome = self.db.app().login(email, password, T0).await.unwrap();
        Session {
            cookie: format!("rapport_session={}", outcome.session),
            csrf: outcome.csrf_token,
        }
    }

    async fn open_stream(&self, who: &Session, last_event_id: Option<&str>) -> Stream {
        let mut request = self
            .client
            .get(format!("{}/app/events", self.base))
            .header("cookie", &who.cookie)
            .header("accept", "text/event-stream");
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream"));
        Stream {
            response,
            buffer: String::new(),
        }
    }

    async fn post_form(&self, path: &str, who: Option<&Session>, pairs: &[(&str, &str)]) -> Reply {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(pairs));
        if let Some(who) = who {
            request = request.header("cookie", &who.cookie);
        }
        Reply::from(request.send().await.unwrap()).await
    }
}

struct Session {
    cookie: String,
    csrf: String,
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Reply {
    async fn from(response: reqwest::Response) -> Reply {
        Reply {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.unwrap(),
        }
    }
}

fn form(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            let value: String = v
                .bytes()
                .map(|b| match b {
                    b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                        (b as char).to_string()
                    }
                    other => format!("%{other:02X}"),
                })
                .collect();
            format!("{k}={value}")
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// One server-sent event.
#[derive(Debug, Clone, Default)]
struct Sse {
    event: String,
    id: String,
    data: serde_json::Value,
}

/// An open event stream, read one event at a time.
struct Stream {
    response: reqwest::Response,
    buffer: String,
}

impl Stream {
    /// The next event (keep-alive comments are skipped). A stream that stays silent for a
    /// minute fails the test instead of hanging it.
    async fn next(&mut self) -> Sse {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = Sse::default();
                for line in block.lines() {
                    if let Some(value) = line.strip_prefix("event:") {
                        event.event = value.trim().to_string();
                    } else if let Some(value) = line.strip_prefix("id:") {
                        event.id = value.trim().to_string();
                    } else if let Some(value) = line.strip_prefix("data:") {
                        event.data = serde_json::from_str(value.trim()).unwrap();
                    }
                }
                if event.event.is_empty() {
                    continue;
                }
                return event;
            }
            let chunk = tokio::time::timeout(Duration::from_secs(60), self.response.chunk())
                .await
                .expect("the stream delivered nothing for a minute")
                .unwrap()
                .expect("the stream ended");
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }

    /// Reads until an event matches, returning it and every event before it.
    async fn until(&mut self, wanted: impl Fn(&Sse) -> bool) -> (Sse, Vec<Sse>) {
        let mut before = Vec::new();
        loop {
            let event = self.next().await;
            if wanted(&event) {
                return (event, before);
            }
            before.push(event);
        }
    }
}

/// Two conversations opened at T0: Ann's in Support, Bob's in Billing (numbers in that order).
async fn support_and_billing(app: &app::App, team: &Team) -> (i64, i64) {
    let open = |email: &str, subject: &str, text: &str, group: i64| {
        let input = inbound(email, subject, text, Some(group));
        app.create_conversation(&Principal::System, input, T0)
    };
    let support = open("ann@x.test", "Support parcel", "Where is it?", team.support);
    let support = support.await.unwrap().number;
    let billing = open("bob@x.test", "Billing invoice", "Wrong total", team.billing);
    let billing = billing.await.unwrap().number;
    (support, billing)
}

fn is_change(event: &Sse, conversation: i64, kind: &str) -> bool {
    event.event == "change"
        && event.data["conversation"] == conversation
        && event.data["kind"] == kind
}

#[tokio::test]
async fn a_live_stream_carries_only_what_its_agent_may_see_and_resumes_after_the_last_event() {
    for db in backends().await {
        let (server, app, team) = Server::start_with_team(db).await;
        let (support, billing) = support_and_billing(&app, &team).await;
        let agent = server.session("agent@t.test", "pw-1234").await;
        let biller = server.session("biller@t.test", "pw-1234").await;
        let mut agent_stream = server.open_stream(&agent, None).await;
        let mut biller_stream = server.open_stream(&biller, None).await;
        // On PostgreSQL a stream starts at the horizon, which other tests' open transactions
        // can hold back: the creations above may still come. What follows comes after this.
        let created = app.store.last_event_id().await.unwrap();
        let after_creation = |e: &Sse| e.data["event"].as_i64() > Some(created);

        // First a change the agent may not see (Billing), then one they may (Support).
        post_message(
            &app,
            &team.biller,
            billing,
            MessageKind::Note,
            "Refund it",
            T0 + MIN,
        )
        .await;
        post_message(
            &app,
            &team.agent,
            support,
            MessageKind::Reply,
            "On its way",
            T0 + MIN,
        )
        .await;
        let (reply, before) = agent_stream
            .until(|e| is_change(e, support, "message_added") && after_creation(e))
            .await;
        assert!(
            before.iter().all(|e| e.data["conversation"] != billing),
            "the agent got an event of a Billing conversation: {before:?}"
        );
        assert!(!reply.id.is_empty(), "every change carries its position");
        let (_, before) = biller_stream
            .until(|e| is_change(e, billing, "message_added") && after_creation(e))
            .await;
        assert!(before.iter().all(|e| e.data["conversation"] != support));
        // The Support reply comes after the Billing note in the log: the biller's stream
        // passed it over (the next Billing change arrives with nothing of Support before it).
        app.update_conversation(
            &team.biller,
            billing,
            app::Patch {
                add_tags: vec!["refund".into()],
                ..Default::default()
            },
            T0 + 2 * MIN,
        )
        .await
        .unwrap();
        let (_, before) = biller_stream
            .until(|e| is_change(e, billing, "tag_added"))
            .await;
        assert!(
            before.iter().all(|e| e.data["conversation"] != support),
            "the biller got an event of a Support conversation: {before:?}"
        );

        // A browser that reconnects with Last-Event-ID gets what happened while it was away,
        // and nothing from before.
        drop(agent_stream);
        app.update_conversation(
            &team.agent,
            support,
            app::Patch {
                status: Some(domain::Status::Pending),
                ..Default::default()
            },
            T0 + 3 * MIN,
        )
        .await
        .unwrap();
        let mut resumed = server.open_stream(&agent, Some(&reply.id)).await;
        let first = resumed.next().await;
        assert!(
            is_change(&first, support, "status_changed"),
            "after a reconnect the first event is the change made while away, got {first:?}"
        );

        // Customers, strangers and bad positions are refused.
        let customer = {
            let c = app
                .conversation(&Principal::System, support)
                .await
                .unwrap()
                .customer
                .id;
            app.set_customer_password(&Principal::System, c, "pw-cust")
                .await
                .unwrap();
            server.session("ann@x.test", "pw-cust").await
        };
        let refused = server
            .client
            .get(format!("{}/app/events", server.base))
            .header("cookie", &customer.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 403);
        let anonymous = server
            .client
            .get(format!("{}/app/events", server.base))
            .send()
            .await
            .unwrap();
        assert_eq!(anonymous.status(), 303);
        let bad = server
            .client
            .get(format!("{}/app/events", server.base))
            .header("cookie", &agent.cookie)
            .header("last-event-id", "yesterday")
            .send()
            .await
            .unwrap();
        assert_eq!(bad.status(), 422);
        assert!(bad
            .text()
            .await
            .unwrap()
            .contains("not a position in the log"));

        // Stopping the server ends the open streams (it does not wait for them forever).
        drop(biller_stream);
        let _still_open = resumed;
        server.stop().await;
    }
}

impl Server {
    /// The portal's stream of one conversation, as the page opens it.
    async fn portal_stream(&self, who: &Session, number: i64, seen: &str) -> reqwest::Response {
        self.client
            .get(format!(
                "{}/portal/conversations/{number}/events?seen={seen}",
                self.base
            ))
            .header("cookie", &who.cookie)
            .header("accept", "text/event-stream")
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn the_portal_follows_only_the_customers_own_conversation_and_never_hears_of_notes() {
    for db in backends().await {
        let (server, app, team) = Server::start_with_team(db).await;
        let (support, billing) = support_and_billing(&app, &team).await;
        let ann_id = app
            .conversation(&Principal::System, support)
            .await
            .unwrap()
            .customer
            .id;
        app.set_customer_password(&Principal::System, ann_id, "pw-cust")
            .await
            .unwrap();
        let ann = server.session("ann@x.test", "pw-cust").await;
        let ann_principal = Principal::Customer { id: ann_id };
        let digest = |n: i64| {
            let app = app.clone();
            let who = ann_principal.clone();
            async move { app.portal_digest(&who, n).await.unwrap() }
        };

        // The page names its stream with what it shows.
        let seen = digest(support).await;
        let page = server
            .client
            .get(format!("{}/portal/conversations/{support}", server.base))
            .header("cookie", &ann.cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200);
        let html = page.text().await.unwrap();
        assert!(
            html.contains(&format!("events?seen={}", seen.as_str())),
            "the page does not follow its conversation: {html}"
        );
        let response = server.portal_stream(&ann, support, seen.as_str()).await;
        assert_eq!(response.status(), 200);
        let mut stream = Stream {
            response,
            buffer: String::new(),
        };

        // A note on Ann's conversation, and a reply and a status change on Bob's: nothing
        // for Ann. Then the team's public reply to Ann: the first thing her page hears of,
        // named with the state that shows that reply.
        post_message(
            &app,
            &team.agent,
            support,
            MessageKind::Note,
            "Secret: customer is grumpy",
            T0 + MIN,
        )
        .await;
        post_message(
            &app,
            &team.biller,
            billing,
            MessageKind::Reply,
            "Bob, your refund is done",
            T0 + MIN,
        )
        .await;
        app.update_conversation(
            &team.biller,
            billing,
            app::Patch {
                status: Some(domain::Status::Solved),
                ..Default::default()
            },
            T0 + MIN,
        )
        .await
        .unwrap();
        assert_eq!(digest(support).await, seen, "a note changed what Ann sees");
        post_message(
            &app,
            &team.agent,
            support,
            MessageKind::Reply,
            "It ships today",
            T0 + 2 * MIN,
        )
        .await;
        let replied = digest(support).await;
        assert_ne!(replied, seen);
        let first = stream.next().await;
        assert_eq!(first.event, "change");
        assert_eq!(first.data, serde_json::json!({"conversation": support}));
        assert_eq!(
            first.id,
            replied.as_str(),
            "the first event Ann's page got was not the reply"
        );

        // A status change reaches her page too; another note does not.
        post_message(
            &app,
            &team.agent,
            support,
            MessageKind::Note,
            "Another secret",
            T0 + 3 * MIN,
        )
        .await;
        app.update_conversation(
            &team.agent,
            support,
            app::Patch {
                status: Some(domain::Status::Solved),
                ..Default::default()
            },
            T0 + 3 * MIN,
        )
        .await
        .unwrap();
        let solved = stream.next().await;
        assert_eq!(solved.id, digest(support).await.as_str());
        assert!(solved.id.starts_with("solved."), "{solved:?}");

        // The page refreshes itself: it shows the reply and never a note.
        let html = server
            .client
            .get(format!("{}/portal/conversations/{support}", server.base))
            .header("cookie", &ann.cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains("It ships today"));
        assert!(!html.contains("secret") && !html.contains("Secret"));

        // A page that reconnects after the last change it heard of hears nothing old; one
        // that missed a change hears of it at once.
        let stale = server.portal_stream(&ann, support, seen.as_str()).await;
        let mut stale = Stream {
            response: stale,
            buffer: String::new(),
        };
        assert_eq!(stale.next().await.id, solved.id);

        // Pages travel gzipped to a browser that asks; event streams never do (an event must
        // arrive at once, not wait in a compressor's buffer).
        let gzipped = server
            .client
            .get(format!("{}/portal/conversations/{support}", server.base))
            .header("cookie", &ann.cookie)
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(gzipped.headers()["content-encoding"], "gzip");
        let streamed = server
            .client
            .get(format!(
                "{}/portal/conversations/{support}/events?seen={}",
                server.base, solved.id
            ))
            .header("cookie", &ann.cookie)
            .header("accept-encoding", "gzip")
            .send()
            .await
            .unwrap();
        assert_eq!(streamed.status(), 200);
        assert!(streamed.headers().get("content-encoding").is_none());
        drop(streamed);

        // Bob's conversation is not Ann's: 404, however she asks. The team has no portal
        // stream, and nobody signed out has one.
        let other = digest_of_other(&app, billing).await;
        let refused = server.portal_stream(&ann, billing, &other).await;
        assert_eq!(refused.status(), 404);
        let agent = server.session("agent@t.test", "pw-1234").await;
        let refused = server.portal_stream(&agent, support, seen.as_str()).await;
        assert_eq!(refused.status(), 403);
        let anonymous = server
            .client
            .get(format!(
                "{}/portal/conversations/{support}/events",
                server.base
            ))
            .send()
            .await
            .unwrap();
        assert_ne!(anonymous.status(), 200);

        drop(stream);
        drop(stale);
        server.stop().await;
    }
}

/// The digest Bob's own page would carry (what a curious Ann could guess at best).
async fn digest_of_other(app: &app::App, number: i64) -> String {
    let bob = app
        .conversation(&Principal::System, number)
        .await
        .unwrap()
        .customer
        .id;
    app.portal_digest(&Principal::Customer { id: bob }, number)
        .await
        .unwrap()
        .as_str()
        .to_string()
}

#[tokio::test]
async fn presence_is_shown_live_to_colleagues_who_may_see_the_conversation() {
    for db in backends().await {
        let (server, app, team) = Server::start_with_team(db).await;
        let (support, billing) = support_and_billing(&app, &team).await;
        let agent = server.session("agent@t.test", "pw-1234").await;
        let lead = server.session("lead@t.test", "pw-1234").await;
        let biller = server.session("biller@t.test", "pw-1234").await;
        let manager = server.session("manager@t.test", "pw-1234").await;
        let mut lead_stream = server.open_stream(&lead, None).await;
        let mut biller_stream = server.open_stream(&biller, None).await;
        let presence = |n: i64| format!("/app/conversations/{n}/presence");

        // Without the session's token, or with a state that does not exist: refused.
        let forged = server
            .post_form(&presence(support), Some(&agent), &[("state", "viewing")])
            .await;
        assert_eq!(forged.status, 403);
        let odd = server
            .post_form(
                &presence(support),
                Some(&agent),
                &[("csrf", &agent.csrf), ("state", "dancing")],
            )
            .await;
        assert_eq!(odd.status, 422);
        assert!(odd.body.contains("viewing, typing, left"));
        // The biller may not see the Support conversation, so cannot be present on it.
        let stranger = server
            .post_form(
                &presence(support),
                Some(&biller),
                &[("csrf", &biller.csrf), ("state", "viewing")],
            )
            .await;
        assert_eq!(stranger.status, 404);

        // The agent views, then replies: the lead sees both, live.
        let viewing = server
            .post_form(
                &presence(support),
                Some(&agent),
                &[("csrf", &agent.csrf), ("state", "viewing")],
            )
            .await;
        assert_eq!(viewing.status, 200, "{}", viewing.body);
        let (seen, _) = lead_stream
            .until(|e| e.event == "presence" && e.data["conversation"] == support)
            .await;
        assert_eq!(
            seen.data["people"],
            serde_json::json!([{"name": "agent@t.test", "state": "viewing"}])
        );
        server.set_time(T0 + 5_000);
        server
            .post_form(
                &presence(support),
                Some(&agent),
                &[("csrf", &agent.csrf), ("state", "typing")],
            )
            .await;
        let (seen, _) = lead_stream
            .until(|e| e.event == "presence" && e.data["conversation"] == support)
            .await;
        assert_eq!(seen.data["people"][0]["state"], "typing");
        // Joining, the lead is told who is already there; the agent is not shown to itself.
        let joined = server
            .post_form(
                &presence(support),
                Some(&lead),
                &[("csrf", &lead.csrf), ("state", "viewing")],
            )
            .await;
        let others: serde_json::Value = serde_json::from_str(&joined.body).unwrap();
        assert_eq!(
            others["people"],
            serde_json::json!([{"name": "agent@t.test", "state": "typing"}])
        );
        let (seen, _) = lead_stream
            .until(|e| e.event == "presence" && e.data["conversation"] == support)
            .await;
        assert_eq!(
            seen.data["people"],
            serde_json::json!([{"name": "agent@t.test", "state": "typing"}]),
            "a stream does not list its own agent"
        );

        // The biller heard nothing of the Support conversation: the first presence on their
        // stream is the manager's on the Billing one, which came after all of the above.
        server
            .post_form(
                &presence(billing),
                Some(&manager),
                &[("csrf", &manager.csrf), ("state", "viewing")],
            )
            .await;
        let (seen, before) = biller_stream.until(|e| e.event == "presence").await;
        assert_eq!(seen.data["conversation"], billing, "{before:?}");
        assert_eq!(seen.data["people"][0]["name"], "manager@t.test");

        // The agent leaves: the lead sees nobody else.
        server
            .post_form(
                &presence(support),
                Some(&agent),
                &[("csrf", &agent.csrf), ("state", "left")],
            )
            .await;
        let (seen, _) = lead_stream
            .until(|e| e.event == "presence" && e.data["conversation"] == support)
            .await;
        assert_eq!(seen.data["people"], serde_json::json!([]));
        drop(lead_stream);
        drop(biller_stream);
        server.stop().await;
    }
}

/// Two nodes on one store (two servers on the same SQLite file or PostgreSQL schema, each
/// with its own connections and its own live poller): presence posted to either node is
/// shown by the other's streams, and runs out there too; a change written on one node is
/// streamed by the other.
#[tokio::test]
async fn presence_posted_on_one_node_is_shown_by_the_streams_of_another() {
    for db in backends().await {
        let name = db.name;
        let second = db.another_node().await;
        let (a, app, team) = Server::start_with_team(db).await;
        let b = Server::start(second).await;
        let (support, _) = support_and_billing(&app, &team).await;
        let agent = a.session("agent@t.test", "pw-1234").await;
        let lead = a.session("lead@t.test", "pw-1234").await;
        let presence = format!("/app/conversations/{support}/presence");
        // Presence on the Support conversation showing exactly these people.
        let showing = |people: serde_json::Value| {
            move |e: &Sse| {
                e.event == "presence"
                    && e.data["conversation"] == support
                    && e.data["people"] == people
            }
        };
        // The lead follows node B; the agent's page talks to node A.
        let mut lead_on_b = b.open_stream(&lead, None).await;
        let mut agent_on_a = a.open_stream(&agent, None).await;

        let viewing = a
            .post_form(
                &presence,
                Some(&agent),
                &[("csrf", &agent.csrf), ("state", "viewing")],
            )
            .await;
        assert_eq!(viewing.status, 200, "{name}: {}", viewing.body);
        // B shows presence posted on A (the first presence B's stream tells of).
        let (_, before) = lead_on_b
            .until(showing(
                serde_json::json!([{"name": "agent@t.test", "state": "viewing"}]),
            ))
            .await;
        assert!(
            before.iter().all(|e| e.event != "presence"),
            "{name}: {before:?}"
        );
        // The lead joins through B: B answers who is there (posted on A), and A's stream
        // shows the lead.
        let joined = b
            .post_form(
                &presence,
                Some(&lead),
                &[("csrf", &lead.csrf), ("state", "typing")],
            )
            .await;
        let others: serde_json::Value = serde_json::from_str(&joined.body).unwrap();
        assert_eq!(
            others["people"],
            serde_json::json!([{"name": "agent@t.test", "state": "viewing"}]),
            "{name}"
        );
        agent_on_a
            .until(showing(
                serde_json::json!([{"name": "lead@t.test", "state": "typing"}]),
            ))
            .await;
        // The agent leaves through A: B's stream shows nobody (the lead is not shown to
        // itself).
        a.post_form(
            &presence,
            Some(&agent),
            &[("csrf", &agent.csrf), ("state", "left")],
        )
        .await;
        lead_on_b.until(showing(serde_json::json!([]))).await;
        // Nobody renews the lead's presence: once A's clock passes its expiry, A's stream
        // says the lead is gone, though nobody wrote anything.
        a.set_time(T0 + app::PRESENCE_TTL_MILLIS + 1);
        agent_on_a.until(showing(serde_json::json!([]))).await;
        // A change written through B's store reaches A's stream (the poller reads the log).
        post_message(
            &b.db.app(),
            &team.lead,
            support,
            MessageKind::Note,
            "Written on node B",
            T0 + 2 * MIN,
        )
        .await;
        agent_on_a
            .until(|e| is_change(e, support, "message_added"))
            .await;
        drop(lead_on_b);
        drop(agent_on_a);
        b.stop().await;
        a.stop().await;
    }
}

impl Server {
    async fn get(&self, path: &str, cookie: Option<&str>) -> Reply {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        Reply::from(request.send().await.unwrap()).await
    }

    /// Posts a form with raw cookies (the pairing cookie of a sign-in page, a planted session).
    async fn post_with_cookies(&self, path: &str, cookies: &str, pairs: &[(&str, &str)]) -> Reply {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", cookies)
            .body(form(pairs))
            .send()
            .await
            .unwrap();
        Reply::from(response).await
    }

    async fn conversations(&self) -> i64 {
        self.db
            .store
            .count(store::Table::Conversations)
            .await
            .unwrap()
    }
}

impl Reply {
    /// The value of the first hidden field called `name`.
    fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker).expect("the field") + marker.len();
        let end = self.body[start..].find('"').unwrap() + start;
        self.body[start..end].to_string()
    }

    /// `name=value` of a cookie this reply sets.
    fn cookie(&self, name: &str) -> Option<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
            .find(|c| c.starts_with(&format!("{name}=")))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

#[tokio::test]
async fn the_web_form_opens_a_conversation_for_the_customer_known_by_their_address() {
    for db in backends().await {
        let (server, app, team) = Server::start_with_team(db).await;
        let by_mail = app
            .create_conversation(
                &Principal::System,
                inbound("ann@x.test", "By e-mail", "First contact by mail", None),
                T0,
            )
            .await
            .unwrap();

        // The page can be framed by any site and runs no script; it carries a signed token
        // and the honeypot.
        let page = server.get("/form", None).await;
        assert_eq!(page.status, 200);
        assert_eq!(
            page.header("content-security-policy"),
            Some(::ui::EMBED_CONTENT_SECURITY_POLICY)
        );
        assert!(page.header("x-frame-options").is_none());
        assert!(!page.body.contains("<script"));
        assert!(page.body.contains("name=\"website\""));
        let token = page.field("token");

        let before = server.conversations().await;
        let sent = server
            .post_form(
                "/form",
                None,
                &[
                    ("token", &token),
                    ("name", "Ann Lee"),
                    ("email", "Ann@X.test"),
                    ("subject", "Question from the form"),
                    ("text", "Do you ship to Norway?"),
                    ("website", ""),
                ],
            )
            .await;
        assert_eq!(sent.status, 200, "{}", sent.body);
        assert!(sent.body.contains("Thank you") && sent.body.contains("reference #"));
        assert_eq!(server.conversations().await, before + 1);
        let number = sent.body.split("reference #").nth(1).unwrap();
        let number: i64 = number[..number.find(')').unwrap()].parse().unwrap();
        let view = app.conversation(&team.lead, number).await.unwrap();
        assert_eq!(view.channel, domain::Channel::Web);
        assert_eq!(view.status, domain::Status::New);
        assert_eq!(
            view.customer.id, by_mail.customer.id,
            "one customer across e-mail and the form"
        );
        let messages = app.messages(&team.lead, number).await.unwrap();
        assert_eq!(messages[0].kind, MessageKind::Customer);
        assert_eq!(messages[0].text, "Do you ship to Norway?");
        // An agent sees it in the workspace.
        let lead = server.session("lead@t.test", "pw-1234").await;
        let list = server.get("/app?status=new", Some(&lead.cookie)).await;
        assert!(list.body.contains("Question from the form"));

        // Bad input: every problem at once, what was typed kept, nothing created.
        let bad = server
            .post_form(
                "/form",
                None,
                &[
                    ("token", &token),
                    ("name", "Bea"),
                    ("email", "not an address"),
                    ("subject", " "),
                    ("text", ""),
                ],
            )
            .await;
        assert_eq!(bad.status, 422);
        for problem in [
            "does not look like an e-mail address",
            "Enter a subject",
            "Write your message",
        ] {
            assert!(
                bad.body.contains(problem),
                "missing {problem:?}: {}",
                bad.body
            );
        }
        assert!(bad.body.contains("value=\"Bea\""));
        // No token, a forged one, or an old one: refused, with a fresh form to send again.
        let valid = [
            ("name", "Cy"),
            ("email", "cy@x.test"),
            ("subject", "Hello"),
            ("text", "Hi there"),
        ];
        for forged in ["", "1767261600000.00000000000000aa.deadbeef"] {
            let mut pairs = valid.to_vec();
            pairs.push(("token", forged));
            let refused = server.post_form("/form", None, &pairs).await;
            assert_eq!(refused.status, 422);
            assert!(refused.body.contains("The form had expired"));
            assert!(refused.body.contains("value=\"cy@x.test\""));
        }
        server.set_time(T0 + app::WEB_FORM_TOKEN_TTL_MILLIS + 1);
        let mut pairs = valid.to_vec();
        pairs.push(("token", &token));
        let stale = server.post_form("/form", None, &pairs).await;
        assert_eq!(stale.status, 422);
        let fresh = stale.field("token");
        assert_ne!(fresh, token);
        // The honeypot: a bot that fills the hidden field is thanked, and nothing is kept.
        let mut pairs = valid.to_vec();
        pairs.push(("token", &fresh));
        pairs.push(("website", "http://spam.test"));
        let trapped = server.post_form("/form", None, &pairs).await;
        assert_eq!(trapped.status, 200);
        assert!(trapped.body.contains("Thank you"));
        assert_eq!(server.conversations().await, before + 1);
        server.stop().await;
    }
}

#[tokio::test]
async fn the_web_form_is_rate_limited_per_client_address() {
    let server = Server::start(sqlite().await).await;
    let token = server.get("/form", None).await.field("token");
    let spam = [
        ("token", token.as_str()),
        ("email", "bot@x.test"),
        ("subject", "Hi"),
        ("text", "Buy now"),
        ("website", "http://spam.test"),
    ];
    for _ in 0..10 {
        assert_eq!(server.post_form("/form", None, &spam).await.status, 200);
    }
    let limited = server.post_form("/form", None, &spam).await;
    assert_eq!(limited.status, 429);
    assert!(limited.body.contains("Too many messages from your network"));
    assert_eq!(limited.header("retry-after"), Some("30"));
    // Another address has its own allowance.
    let elsewhere = reqwest::Client::builder()
        .local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
        .post(format!("{}/form", server.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&spam))
        .send()
        .await
        .unwrap();
    assert_eq!(elsewhere.status(), 200);
    // One more after the refill interval.
    server.set_time(T0 + 30_000);
    assert_eq!(server.post_form("/form", None, &spam).await.status, 200);
    assert_eq!(server.post_form("/form", None, &spam).await.status, 429);
    assert_eq!(server.conversations().await, 0, "the honeypot kept nothing");
    server.stop().await;
}

/// The sign-in link of the newest `portal_link_issued` event after `after` events, read from
/// the outbound mail queue (waits for the request, which runs after the answer).
async fn issued_link(app: &app::App, seen: usize) -> (String, domain::Actor) {
    for _ in 0..1_000 {
        let events = app
            .store
            .events_after(store::Cursor::default(), 100_000)
            .await
            .unwrap();
        let issued: Vec<_> = events
            .iter()
            .filter(|e| e.kind == "portal_link_issued")
            .collect();
        if issued.len() > seen {
            let event = issued[issued.len() - 1];
            let payload: serde_json::Value = serde_json::from_str(&event.payload).unwrap();
            let outbound = app
                .store
                .outbound_mail(payload["outbound_id"].as_i64().unwrap())
                .await
                .unwrap()
                .unwrap();
            assert_eq!(outbound.conversation, None);
            assert!(outbound.automatic);
            let raw = app.store.blob(&outbound.raw_sha256).await.unwrap().unwrap();
            let mail = mail::read_message(&raw, &mail::ReadOptions::default()).unwrap();
            let start = mail.text.find("/login/link/").expect("a link in the mail");
            let path: String = mail.text[start..]
                .chars()
                .take_while(|c| !c.is_whitespace())
                .collect();
            let actor = domain::Actor::from_parts(&event.actor_kind, event.actor_id).unwrap();
            return (path, actor);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no sign-in link was queued");
}

#[tokio::test]
async fn a_customer_signs_in_with_a_link_that_works_once_for_15_minutes_and_sees_only_their_own() {
    for db in backends().await {
        let (server, app, team) = Server::start_with_team(db).await;
        support_mailbox(&app).await;
        let ann = app
            .create_conversation(
                &Principal::System,
                inbound(
                    "ann@x.test",
                    "Ann's parcel",
                    "Where is it?",
                    Some(team.support),
                ),
                T0,
            )
            .await
            .unwrap();
        let bob = app
            .create_conversation(
                &Principal::System,
                inbound(
                    "bob@x.test",
                    "Bob's invoice",
                    "Wrong total",
                    Some(team.billing),
                ),
                T0,
            )
            .await
            .unwrap();
        app.set_customer_password(&Principal::System, bob.customer.id, "pw-bob")
            .await
            .unwrap();

        // Asking: the same answer for a known and an unknown address.
        let page = server.get("/login/link", None).await;
        assert_eq!(page.status, 200);
        let pairing = page.cookie("rapport_login").unwrap();
        let csrf = page.field("csrf");
        let known = server
            .post_with_cookies(
                "/login/link",
                &pairing,
                &[("csrf", &csrf), ("email", "ann@x.test")],
            )
            .await;
        let unknown = server
            .post_with_cookies(
                "/login/link",
                &pairing,
                &[("csrf", &csrf), ("email", "nobody@x.test")],
            )
            .await;
        assert_eq!((known.status, unknown.status), (200, 200));
        let strip = |r: &Reply| {
            r.body
                .replace("ann@x.test", "ADDRESS")
                .replace("nobody@x.test", "ADDRESS")
        };
        assert_eq!(strip(&known), strip(&unknown), "the answer does not tell");
        assert_eq!(
            app.request_portal_link("nobody@x.test", T0).await.unwrap(),
            None
        );
        let forged = server
            .post_with_cookies(
                "/login/link",
                "rapport_login=x",
                &[("csrf", "y"), ("email", "ann@x.test")],
            )
            .await;
        assert_eq!(forged.status, 403);
        let typo = server
            .post_with_cookies(
                "/login/link",
                &pairing,
                &[("csrf", &csrf), ("email", "ann at x")],
            )
            .await;
        assert_eq!(typo.status, 422);
        assert!(typo.body.contains("does not look like an e-mail address"));

        let (link, actor) = issued_link(&app, 0).await;
        assert_eq!(actor, domain::Actor::Customer(ann.customer.id));

        // Opening the link only asks to confirm (twice is fine: a scanner uses nothing up).
        for _ in 0..2 {
            let confirm = server.get(&link, None).await;
            assert_eq!(confirm.status, 200, "{}", confirm.body);
            assert!(confirm.body.contains("Sign in to your requests"));
            assert_eq!(confirm.header("referrer-policy"), Some("no-referrer"));
        }
        let confirm = server.get(&link, None).await;
        let pairing = confirm.cookie("rapport_login").unwrap();
        let csrf = confirm.field("csrf");
        // Posted from another site (no pairing cookie): refused, the link still works.
        let cross_site = server.post_form(&link, None, &[("csrf", &csrf)]).await;
        assert_eq!(cross_site.status, 403);

        // A browser that brings a session (Bob's) gets a new one for Ann; Bob's ends.
        let planted = server.session("bob@x.test", "pw-bob").await;
        let signed_in = server
            .post_with_cookies(
                &link,
                &format!("{pairing}; {}", planted.cookie),
                &[("csrf", &csrf)],
            )
            .await;
        assert_eq!(signed_in.status, 303, "{}", signed_in.body);
        assert_eq!(signed_in.header("location"), Some("/portal"));
        let session = signed_in.cookie("rapport_session").unwrap();
        assert_ne!(session, planted.cookie);
        assert_eq!(
            server.get("/portal", Some(&planted.cookie)).await.status,
            303
        );
        let used: Vec<_> = whole_log(&app.store)
            .await
            .into_iter()
            .filter(|e| e.kind == "portal_link_used")
            .collect();
        assert_eq!(used.len(), 1);
        assert_eq!(
            domain::Actor::from_parts(&used[0].actor_kind, used[0].actor_id),
            Some(domain::Actor::Customer(ann.customer.id))
        );

        // Ann sees her own request, and never Bob's: not by URL, not through the API.
        let home = server.get("/portal", Some(&session)).await;
        assert_eq!(home.status, 200);
        assert!(home.body.contains("parcel") && !home.body.contains("Bob"));
        let mine = server
            .get(
                &format!("/portal/conversations/{}", ann.number),
                Some(&session),
            )
            .await;
        assert_eq!(mine.status, 200);
        for path in [
            format!("/portal/conversations/{}", bob.number),
            format!("/api/v1/conversations/{}", bob.number),
            format!("/api/v1/conversations/{}/messages", bob.number),
        ] {
            let other = server.get(&path, Some(&session)).await;
            assert_eq!(other.status, 404, "{path}");
            assert!(!other.body.contains("Wrong total"), "{path}");
        }
        let via_app = server
            .get(
                &format!("/app/conversations/{}", bob.number),
                Some(&session),
            )
            .await;
        assert_eq!(via_app.status, 303);
        assert_eq!(
            server
                .get(via_app.header("location").unwrap(), Some(&session))
                .await
                .status,
            404
        );

        // The link works once.
        let again = server
            .post_with_cookies(&link, &pairing, &[("csrf", &csrf)])
            .await;
        assert_eq!(again.status, 410);
        assert!(again.body.contains("already been used"));
        assert!(again.cookie("rapport_session").is_none());
        assert_eq!(server.get(&link, None).await.status, 410);

        // A link expires after 15 minutes.
        app.request_portal_link("ann@x.test", T0)
            .await
            .unwrap()
            .unwrap();
        let (late, _) = issued_link(&app, 1).await;
        server.set_time(T0 + app::PORTAL_LINK_TTL_MILLIS);
        let page = server.get(&late, None).await;
        assert_eq!(page.status, 410);
        // Even with a valid pairing, posting it after the expiry signs nobody in.
        let pairing = page.cookie("rapport_login").unwrap();
        let csrf = pairing.trim_start_matches("rapport_login=").to_string();
        let expired = server
            .post_with_cookies(&late, &pairing, &[("csrf", &csrf)])
            .await;
        assert_eq!(expired.status, 410);
        assert!(expired.cookie("rapport_session").is_none());

        // At most three links per address in 15 minutes; later requests send nothing.
        assert!(app
            .request_portal_link("ann@x.test", T0)
            .await
            .unwrap()
            .is_some());
        assert_eq!(
            app.request_portal_link("ann@x.test", T0).await.unwrap(),
            None
        );
        server.stop().await;
    }
}

/// The live feed's reads (`Store::events_after` with a position kept in memory) follow the
/// consumer horizon: an event whose transaction commits after a later one is still read.
#[tokio::test]
async fn on_postgres_the_live_feed_reads_an_event_that_commits_late() {
    let Some(db) = postgres().await else { return };
    let event = store::NewEvent {
        conversation: None,
        kind: "test",
        actor_kind: "system",
        actor_id: None,
        at: T0,
        payload: "{}",
    };
    let mut position = db.store.log_head().await.unwrap();
    let mut a = db.store.begin().await.unwrap();
    let id_a = a.append_event_now(&event).await.unwrap();
    let mut b = db.store.begin().await.unwrap();
    let id_b = b.append_event_now(&event).await.unwrap();
    assert!(id_a < id_b);
    b.commit().await.unwrap();
    let mut read = Vec::new();
    for row in db.store.events_after(position, 100).await.unwrap() {
        position = store::Cursor::after(&row);
        read.push(row.id);
    }
    assert!(!read.contains(&id_a), "A has not committed");
    assert!(
        !read.contains(&id_b),
        "B is above the horizon while A is open"
    );
    a.commit().await.unwrap();
    // Other tests' transactions may hold the horizon back for a while.
    for _ in 0..1_000 {
        for row in db.store.events_after(position, 100).await.unwrap() {
            position = store::Cursor::after(&row);
            read.push(row.id);
        }
        if read.contains(&id_a) && read.contains(&id_b) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    read.retain(|id| *id == id_a || *id == id_b);
    assert_eq!(
        read,
        [id_a, id_b],
        "both are read, once, in commit-safe order"
    );
    db.finish().await;
}

/// Runs every due job.
async fn run_due_jobs(app: &app::App, now: i64) {
    for _ in 0..1000 {
        if app.run_one_job("test", now).await.unwrap() == app::JobOutcome::Nothing {
            return;
        }
    }
    panic!("jobs did not finish");
}

#[tokio::test]
async fn the_web_form_routes_by_topic_and_acknowledges_by_mail_when_a_mailbox_is_configured() {
    for db in backends().await {
        let (server, app, team) = Server::start_with_team(db).await;
        let send = |token: String, email: &'static str, topic: &'static str| {
            let server = &server;
            async move {
                server
                    .post_form(
                        "/form",
                        None,
                        &[
                            ("token", &token),
                            ("name", "Ann Lee"),
                            ("email", email),
                            ("topic", topic),
                            ("subject", "My invoice"),
                            ("text", "The total is wrong."),
                        ],
                    )
                    .await
            }
        };
        let number_of = |body: &str| -> i64 {
            let after = body.split("reference #").nth(1).expect("a reference");
            after[..after.find(')').unwrap()].parse().unwrap()
        };

        // No mailbox and no routing: a conversation with no group, and no e-mail promised.
        let token = server.get("/form", None).await.field("token");
        assert!(!server
            .get("/form", None)
            .await
            .body
            .contains("id=\"topic\""));
        let sent = send(token.clone(), "ann@x.test", "").await;
        assert_eq!(sent.status, 200, "{}", sent.body);
        assert!(!sent.body.contains("confirmation"));
        let plain = number_of(&sent.body);
        let view = app.conversation(&Principal::System, plain).await.unwrap();
        assert!(view.group.is_none());
        run_due_jobs(&app, T0 + 1).await;
        assert!(app
            .outbound_mail(&team.admin, plain)
            .await
            .unwrap()
            .is_empty());

        // An administrator routes the form by topic and the chat to Support, on the admin page.
        let admin = server.session("admin@t.test", "pw-1234").await;
        let support = team.support.to_string();
        let page = server.get("/app/admin/routing", Some(&admin.cookie)).await;
        assert_eq!(page.status, 200);
        let bad = server
            .post_form(
                "/app/admin/routing",
                Some(&admin),
                &[
                    ("csrf", &admin.csrf),
                    ("web_group", &support),
                    ("web_topics", "Billing question = Billing\nSales = Sales"),
                    ("chat_group", ""),
                ],
            )
            .await;
        assert_eq!(bad.status, 422);
        assert!(
            bad.body.contains("line 2: there is no group “Sales”"),
            "{}",
            bad.body
        );
        let saved = server
            .post_form(
                "/app/admin/routing",
                Some(&admin),
                &[
                    ("csrf", &admin.csrf),
                    ("web_group", &support),
                    (
                        "web_topics",
                        "Billing question = Billing\nSomething broke = support",
                    ),
                    ("chat_group", &support),
                ],
            )
            .await;
        assert_eq!(saved.status, 303, "{}", saved.body);
        let routing = app.channel_routing().await.unwrap();
        assert_eq!(
            routing,
            app::ChannelRouting {
                web_group_id: Some(team.support),
                web_topics: vec![
                    ("Billing question".into(), team.billing),
                    ("Something broke".into(), team.support)
                ],
                chat_group_id: Some(team.support),
            }
        );
        let events = whole_log(&app.store).await;
        let changed: Vec<_> = events
            .iter()
            .filter(|e| e.kind == "channel_routing_changed")
            .collect();
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].actor_kind, "agent");
        assert!(changed[0].conversation.is_none());
        // Only administrators route.
        let lead = server.session("lead@t.test", "pw-1234").await;
        let refused = server
            .post_form(
                "/app/admin/routing",
                Some(&lead),
                &[
                    ("csrf", &lead.csrf),
                    ("web_group", ""),
                    ("web_topics", ""),
                    ("chat_group", ""),
                ],
            )
            .await;
        assert_eq!(refused.status, 403);
        assert_eq!(app.channel_routing().await.unwrap(), routing);

        // Billing's own address, with its own acknowledgement; another address besides.
        support_mailbox(&app).await;
        app.add_mailbox_with(
            &Principal::System,
            "billing@t.test",
            app::MailboxInput {
                name: "Billing".into(),
                group_id: Some(team.billing),
                acknowledge: false,
                acknowledgement: "Billing has your message #{number} ({subject}).".into(),
            },
            T0,
        )
        .await
        .unwrap();

        // The form now asks for a topic, and routes by it.
        let form = server.get("/form", None).await;
        assert!(form.body.contains("id=\"topic\"") && form.body.contains("Billing question"));
        let token = form.field("token");
        let missing = send(token.clone(), "bob@x.test", "").await;
        assert_eq!(missing.status, 422);
        assert!(missing.body.contains("Choose the topic"));
        let unknown = send(token.clone(), "bob@x.test", "Free money").await;
        assert_eq!(unknown.status, 422);
        let sent = send(token.clone(), "bob@x.test", "Billing question").await;
        assert_eq!(sent.status, 200, "{}", sent.body);
        assert!(sent
            .body
            .contains("A confirmation with your reference is on its way"));
        let billed = number_of(&sent.body);
        let view = app.conversation(&Principal::System, billed).await.unwrap();
        assert_eq!(view.group.map(|g| g.id), Some(team.billing));
        // The acknowledgement goes through the outbound queue, from Billing's address, with
        // Billing's text.
        run_due_jobs(&app, T0 + 1).await;
        let mails = app.outbound_mail(&team.admin, billed).await.unwrap();
        assert_eq!(mails.len(), 1, "{mails:?}");
        assert!(mails[0].automatic);
        assert_eq!(mails[0].mail_from, "billing@t.test");
        assert_eq!(mails[0].recipients, "bob@x.test");
        let raw = app.store.blob(&mails[0].raw_sha256).await.unwrap().unwrap();
        let raw = String::from_utf8_lossy(&raw);
        assert!(
            raw.contains(&format!("Billing has your message #{billed} (My invoice).")),
            "{raw}"
        );

        // A chat goes to the chat's group.
        let started = app
            .start_chat(
                &app::ChatVisitor {
                    name: "Cleo".into(),
                    email: "cleo@x.test".into(),
                    visitor: None,
                },
                "Hello, is anyone there?",
                T0 + 2,
            )
            .await
            .unwrap();
        let chat = app
            .conversation(&Principal::System, started.chat.conversation())
            .await
            .unwrap();
        assert_eq!(chat.channel, domain::Channel::Chat);
        assert_eq!(chat.group.map(|g| g.id), Some(team.support));
        server.stop().await;
    }
}

/// The counts of the workspace's sidebar (`label` → count), as the page renders them in its
/// live region `queues`.
fn sidebar_counts(html: &str) -> std::collections::BTreeMap<String, i64> {
    let start = html
        .find("data-live-region=\"queues\"")
        .expect("the sidebar's live region");
    let region = &html[start..start + html[start..].find("</nav>").expect("its end")];
    region
        .split("<span>")
        .skip(1)
        .filter_map(|item| {
            let (label, rest) = item.split_once("</span>")?;
            let count = rest.split("class=\"count\">").nth(1)?.split('<').next()?;
            Some((label.to_string(), count.trim().parse().ok()?))
        })
        .collect()
}

#[tokio::test]
async fn the_sidebar_counts_follow_changes_made_by_others_without_a_reload() {
    for db in backends().await {
        let name = db.name;
        let (server, app, team) = Server::start_with_team(db).await;
        let (support, _) = support_and_billing(&app, &team).await;
        let agent = server.session("agent@t.test", "pw-1234").await;
        let mut stream = server.open_stream(&agent, None).await;
        let created = app.store.last_event_id().await.unwrap();
        let after = move |e: &Sse| e.data["event"].as_i64() > Some(created);
        // What the page's script does on a change: fetch the page again and read its
        // `queues` region.
        let counts = || async {
            let page = server.get("/app", Some(&agent.cookie)).await;
            assert_eq!(page.status, 200);
            sidebar_counts(&page.body)
        };
        let count = |counts: &std::collections::BTreeMap<String, i64>, label: &str| {
            *counts
                .get(label)
                .unwrap_or_else(|| panic!("no {label} in {counts:?}"))
        };
        let before = counts().await;
        assert_eq!(count(&before, "Mine"), 0, "{name}");
        assert_eq!(count(&before, "Unassigned"), 1, "{name}");
        assert_eq!(count(&before, "All unsolved"), 1, "{name}");
        assert_eq!(count(&before, "Group: Support"), 1, "{name}");

        // A conversation arrives in Support.
        let arrived = app
            .create_conversation(
                &Principal::System,
                inbound(
                    "cat@x.test",
                    "Broken lid",
                    "It cracked.",
                    Some(team.support),
                ),
                T0 + MIN,
            )
            .await
            .unwrap()
            .number;
        stream
            .until(|e| e.event == "change" && e.data["conversation"] == arrived && after(e))
            .await;
        let now = counts().await;
        assert_eq!(count(&now, "Unassigned"), 2, "{name}");
        assert_eq!(count(&now, "All unsolved"), 2, "{name}");
        assert_eq!(count(&now, "Group: Support"), 2, "{name}");

        // The lead assigns it to the agent.
        app.update_conversation(
            &team.lead,
            arrived,
            app::Patch {
                assignee_id: Some(Some(team.agent_id)),
                ..Default::default()
            },
            T0 + 2 * MIN,
        )
        .await
        .unwrap();
        stream
            .until(|e| is_change(e, arrived, "assignee_changed") && after(e))
            .await;
        let now = counts().await;
        assert_eq!(count(&now, "Mine"), 1, "{name}");
        assert_eq!(count(&now, "Unassigned"), 1, "{name}");

        // The lead solves it.
        app.update_conversation(
            &team.lead,
            arrived,
            app::Patch {
                status: Some(Status::Solved),
                ..Default::default()
            },
            T0 + 3 * MIN,
        )
        .await
        .unwrap();
        stream
            .until(|e| is_change(e, arrived, "status_changed") && after(e))
            .await;
        let now = counts().await;
        assert_eq!(count(&now, "Mine"), 0, "{name}");
        assert_eq!(count(&now, "All unsolved"), 1, "{name}");
        assert_eq!(count(&now, "Group: Support"), 1, "{name}");

        // The manager moves Ann's conversation to Billing: the agent no longer sees it, yet
        // hears that it left (so the count drops), and hears nothing of it afterwards.
        app.update_conversation(
            &team.manager,
            support,
            app::Patch {
                group_id: Some(Some(team.billing)),
                ..Default::default()
            },
            T0 + 4 * MIN,
        )
        .await
        .unwrap();
        stream
            .until(|e| is_change(e, support, "group_changed") && after(e))
            .await;
        let now = counts().await;
        assert_eq!(count(&now, "Unassigned"), 0, "{name}");
        assert_eq!(count(&now, "All unsolved"), 0, "{name}");
        assert_eq!(
            now.get("Group: Support").copied().unwrap_or(0),
            0,
            "{now:?} ({name})"
        );
        post_message(
            &app,
            &team.biller,
            support,
            MessageKind::Note,
            "Billing has it now",
            T0 + 5 * MIN,
        )
        .await;
        let marker = app
            .create_conversation(
                &Principal::System,
                inbound("dan@x.test", "Marker", "Last one", Some(team.support)),
                T0 + 6 * MIN,
            )
            .await
            .unwrap()
            .number;
        let (_, between) = stream
            .until(|e| e.event == "change" && e.data["conversation"] == marker)
            .await;
        assert!(
            between
                .iter()
                .all(|e| e.event != "change" || e.data["conversation"] != support),
            "a conversation out of sight stays out of the stream: {:?} ({name})",
            between.iter().map(|e| e.data.clone()).collect::<Vec<_>>()
        );
        server.stop().await;
    }
}
