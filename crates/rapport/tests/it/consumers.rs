//! Event consumers never skip an event, even one that commits after a later one.

use store::{Cursor, NewEvent, Store, Tx};

use crate::support::*;

fn event(at: i64) -> NewEvent<'static> {
    NewEvent {
        conversation: None,
        kind: "test",
        actor_kind: "system",
        actor_id: None,
        at,
        payload: "{}",
    }
}

/// One consumer pass: reads what is safe to read, moves the cursor, returns the ids read.
async fn consume(store: &Store, name: &str) -> Vec<i64> {
    let mut tx = store.begin().await.unwrap();
    let cursor = tx.lock_cursor(name, T0).await.unwrap();
    let events = tx.events_after(cursor, 100).await.unwrap();
    if let Some(last) = events.last() {
        tx.set_cursor(name, Cursor::after(last), T0).await.unwrap();
    }
    tx.commit().await.unwrap();
    events.iter().map(|e| e.id).collect()
}

/// Consumes until `count` events have been read. On PostgreSQL the horizon waits for
/// transactions still open in the database (other tests run at the same time).
async fn consume_until(store: &Store, name: &str, count: usize) -> Vec<i64> {
    let mut read = Vec::new();
    for _ in 0..500 {
        read.extend(consume(store, name).await);
        if read.len() >= count {
            return read;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("consumer {name} read only {} of {count} events", read.len());
}

async fn append(tx: &mut Tx) -> i64 {
    tx.append_event_now(&event(T0)).await.unwrap()
}

#[tokio::test]
async fn a_consumer_reads_every_event_once_in_order() {
    for db in backends().await {
        let mut written = Vec::new();
        for _ in 0..3 {
            let mut tx = db.store.begin().await.unwrap();
            written.push(append(&mut tx).await);
            tx.commit().await.unwrap();
        }
        assert_eq!(
            consume_until(&db.store, "c", written.len()).await,
            written,
            "{}",
            db.name
        );
        assert!(consume(&db.store, "c").await.is_empty());
        assert_eq!(
            consume_until(&db.store, "another", written.len()).await,
            written,
            "each consumer has its own cursor"
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn on_postgres_an_event_that_commits_late_is_not_skipped() {
    let Some(db) = postgres().await else { return };
    // Case 1: A takes the lower id and commits after B.
    let mut a = db.store.begin().await.unwrap();
    let id_a = append(&mut a).await;
    let mut b = db.store.begin().await.unwrap();
    let id_b = append(&mut b).await;
    assert!(id_a < id_b);
    b.commit().await.unwrap();
    let first = consume(&db.store, "late").await;
    assert!(!first.contains(&id_a), "A has not committed");
    a.commit().await.unwrap();
    let mut all = first.clone();
    all.extend(consume_until(&db.store, "late", 2 - first.len()).await);
    all.sort();
    assert_eq!(all, [id_a, id_b], "both events are consumed, none twice");

    // Case 2: B's transaction began writing first (older transaction id), A then takes the
    // lower event id, B commits, the consumer moves past B; then A commits.
    let mut b = db.store.begin().await.unwrap();
    b.insert_group("makes B's transaction id the older one", T0)
        .await
        .unwrap();
    let mut a = db.store.begin().await.unwrap();
    let id_a = append(&mut a).await;
    let id_b = append(&mut b).await;
    assert!(id_a < id_b);
    b.commit().await.unwrap();
    let first = consume(&db.store, "late").await;
    a.commit().await.unwrap();
    let mut all = first.clone();
    all.extend(consume_until(&db.store, "late", 2 - first.len()).await);
    all.sort();
    assert_eq!(all, [id_a, id_b], "the late, lower id is still consumed");
    db.finish().await;
}

#[tokio::test]
async fn a_crash_before_commit_replays_the_batch_and_indexing_it_twice_is_harmless() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let n = app
            .create_conversation(
                &domain::Principal::System,
                inbound(
                    "r@x.test",
                    "Replay",
                    "unique-word-zebra",
                    Some(team.support),
                ),
                T0,
            )
            .await
            .unwrap()
            .number;
        // A pass that reads and indexes but never commits (the process "dies"). On
        // PostgreSQL the events may wait for other tests' open transactions first.
        let mut seen = false;
        for _ in 0..500 {
            let mut tx = db.store.begin().await.unwrap();
            let cursor = tx.lock_cursor(app::SEARCH_CONSUMER, T0).await.unwrap();
            let events = tx.events_after(cursor, 100).await.unwrap();
            if let Some(first) = events.iter().find(|e| e.kind == "message_added") {
                let payload: domain::EventPayload = serde_json::from_str(&first.payload).unwrap();
                let domain::EventPayload::MessageAdded { message_id, .. } = payload else {
                    panic!()
                };
                tx.index_message(message_id, "Replay", "unique-word-zebra")
                    .await
                    .unwrap();
            }
            let found = !events.is_empty();
            tx.rollback().await.unwrap();
            if found {
                seen = true;
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        assert!(seen);
        assert!(index_everything(&app).await > 0);
        // Index the same message again by hand: still one hit.
        let mut tx = db.store.begin().await.unwrap();
        let msg = app.messages(&team.agent, n).await.unwrap()[0].id;
        tx.index_message(msg, "Replay", "unique-word-zebra")
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let filter = app::ConversationFilter {
            q: Some("zebra".into()),
            ..Default::default()
        };
        let list = app
            .list_conversations(
                &team.agent,
                app::ListQuery {
                    filter,
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(list.items.len(), 1, "{}", db.name);
        db.finish().await;
    }
}

#[tokio::test]
async fn concurrent_writers_share_commits_but_each_stays_atomic() {
    for db in backends().await {
        let mut tasks = Vec::new();
        for i in 0..40 {
            let store = db.store.clone();
            tasks.push(tokio::spawn(async move {
                let mut tx = store.begin().await.unwrap();
                tx.insert_group(&format!("group {i}"), T0).await.unwrap();
                if i % 4 == 3 {
                    // This use case fails after writing: its work must vanish, the others' stay.
                    drop(tx);
                } else if i % 4 == 2 {
                    tx.rollback().await.unwrap();
                } else {
                    tx.commit().await.unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let mut names: Vec<String> = db
            .store
            .groups()
            .await
            .unwrap()
            .into_iter()
            .map(|g| g.name)
            .collect();
        names.sort();
        let mut expected: Vec<String> = (0..40)
            .filter(|i| i % 4 < 2)
            .map(|i| format!("group {i}"))
            .collect();
        expected.sort();
        assert_eq!(names, expected, "{}", db.name);
        // A uniqueness failure inside a shared batch fails only its own use case.
        let mut tx = db.store.begin().await.unwrap();
        assert!(tx.insert_group("group 0", T0).await.is_err());
        drop(tx);
        let mut tx = db.store.begin().await.unwrap();
        tx.insert_group("after the failure", T0).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(db.store.groups().await.unwrap().len(), expected.len() + 1);
        db.finish().await;
    }
}

/// Events appended with `append_event` may be held back until COMMIT (PostgreSQL sends them in
/// one INSERT): the transaction still reads its own events, in the order it appended them, a
/// rollback leaves none, and `append_event_now` keeps the order with held-back ones.
#[tokio::test]
async fn held_back_events_are_read_by_their_transaction_in_order_and_vanish_on_rollback() {
    for db in backends().await {
        let conversation = {
            let mut tx = db.store.begin().await.unwrap();
            let mut e = event(T0);
            e.conversation = Some(1_000_000);
            let number = e.conversation.unwrap();
            for kind in ["first", "second"] {
                tx.append_event(&NewEvent { kind, ..e.clone() })
                    .await
                    .unwrap();
            }
            let third = tx
                .append_event_now(&NewEvent {
                    kind: "third",
                    ..e.clone()
                })
                .await
                .unwrap();
            tx.append_event(&NewEvent {
                kind: "fourth",
                ..e.clone()
            })
            .await
            .unwrap();
            let seen = tx.events_of_conversation(number).await.unwrap();
            let kinds: Vec<&str> = seen.iter().map(|r| r.kind.as_str()).collect();
            assert_eq!(kinds, ["first", "second", "third", "fourth"], "{}", db.name);
            assert!(seen.windows(2).all(|w| w[0].id < w[1].id), "{}", db.name);
            assert_eq!(seen[2].id, third, "{}", db.name);
            tx.append_event(&NewEvent {
                kind: "fifth",
                ..e.clone()
            })
            .await
            .unwrap();
            tx.commit().await.unwrap();
            number
        };
        let mut tx = db.store.begin().await.unwrap();
        let kinds: Vec<String> = tx
            .events_of_conversation(conversation)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.kind)
            .collect();
        assert_eq!(
            kinds,
            ["first", "second", "third", "fourth", "fifth"],
            "{}",
            db.name
        );
        tx.append_event(&NewEvent {
            kind: "rolled back",
            conversation: Some(conversation),
            ..event(T0)
        })
        .await
        .unwrap();
        tx.rollback().await.unwrap();
        let mut tx = db.store.begin().await.unwrap();
        assert_eq!(
            tx.events_of_conversation(conversation).await.unwrap().len(),
            5,
            "{}",
            db.name
        );
        tx.rollback().await.unwrap();
    }
}

/// Work that is dropped or rolled back never reaches the log, whether its use case began the
/// writer's transaction (on SQLite it then has no savepoint: its work is the whole
/// transaction) or joined one that another use case's work is in; everyone else's work does.
#[tokio::test]
async fn a_use_case_that_ends_without_committing_leaves_nothing_and_takes_nothing_with_it() {
    const CONVERSATION: i64 = 424_242;
    fn at(at: i64) -> NewEvent<'static> {
        NewEvent {
            conversation: Some(CONVERSATION),
            ..event(at)
        }
    }
    for db in backends().await {
        // Begun and dropped; begun and rolled back.
        let mut a = db.store.begin().await.unwrap();
        a.append_event(&at(1)).await.unwrap();
        drop(a);
        let mut b = db.store.begin().await.unwrap();
        b.append_event(&at(2)).await.unwrap();
        b.rollback().await.unwrap();
        // One that commits while two more queue for the writer: the first of them joins the
        // same transaction and is dropped, the second commits.
        let mut c = db.store.begin().await.unwrap();
        c.append_event(&at(3)).await.unwrap();
        let store = db.store.clone();
        let d = tokio::spawn(async move {
            let mut d = store.begin().await.unwrap();
            d.append_event(&at(4)).await.unwrap();
            drop(d);
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let store = db.store.clone();
        let e = tokio::spawn(async move {
            let mut e = store.begin().await.unwrap();
            e.append_event(&at(5)).await.unwrap();
            e.commit().await.unwrap();
        });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        c.commit().await.unwrap();
        d.await.unwrap();
        e.await.unwrap();
        let mut f = db.store.begin().await.unwrap();
        f.append_event(&at(6)).await.unwrap();
        f.commit().await.unwrap();
        let mut logged: Vec<i64> = db
            .store
            .events_of_kinds(&[CONVERSATION], &["test"])
            .await
            .unwrap()
            .iter()
            .map(|e| e.at)
            .collect();
        // In any order: on PostgreSQL an event's id is taken when its transaction sends it.
        logged.sort_unstable();
        assert_eq!(logged, [3, 5, 6], "{}", db.name);
        db.finish().await;
    }
}
