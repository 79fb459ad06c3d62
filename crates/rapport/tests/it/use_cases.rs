//! The use cases, on every backend: lifecycle, permissions per role, events, merge,
//! customers across channels, listing and search.

use app::{AppError, ListQuery, Patch};
use domain::{MessageKind, Principal, Status};

use crate::support::*;

#[tokio::test]
async fn a_conversation_is_created_with_its_customer_message_and_events() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let c = app
            .create_conversation(
                &Principal::System,
                inbound(
                    "Ann@Example.test",
                    "Where is my parcel?",
                    "It has been a week.",
                    Some(team.support),
                ),
                T0,
            )
            .await
            .unwrap();
        assert_eq!(c.status, Status::New, "{}", db.name);
        assert_eq!(c.customer.email.as_deref(), Some("ann@example.test"));
        assert_eq!(c.message_count, 1);
        let events = app.events(&team.agent, c.number).await.unwrap();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(kinds, ["created", "message_added"], "{}", db.name);
        assert!(events.iter().all(|e| e.actor == domain::Actor::System));
        let messages = app.messages(&team.agent, c.number).await.unwrap();
        assert_eq!(messages[0].author, domain::Actor::Customer(c.customer.id));
        assert_eq!(messages[0].html, "<p>It has been a week.</p>");
        db.finish().await;
    }
}

/// A create is answered from what it wrote, without reading it back: the answer must be
/// exactly what a read shows, names, tags and the customer's first address included.
#[tokio::test]
async fn the_answer_to_a_create_is_what_a_read_of_it_shows() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let mut first = inbound(
            "Zoe@Example.test",
            "Broken",
            "It broke.",
            Some(team.support),
        );
        first.customer.name = Some("Zoe Z".into());
        first.customer.phone = Some("+44 20 7946 0000".into());
        first.assignee_id = Some(team.agent_id);
        first.tags = vec!["b".into(), "a".into(), "b".into()];
        first.priority = Some(domain::Priority::High);
        let created = app
            .create_conversation(&Principal::System, first, T0)
            .await
            .unwrap();
        let read = app.conversation(&team.admin, created.number).await.unwrap();
        assert_eq!(created, read, "{}", db.name);
        assert_eq!(created.tags, ["a", "b"], "{}", db.name);
        assert_eq!(
            created.assignee.as_ref().map(|a| a.email.as_str()),
            Some("agent@t.test")
        );

        // The same customer by phone, with a second address: the first address stays theirs.
        let mut again = inbound("zoe.other@example.test", "Again", "Still broken.", None);
        again.customer.phone = Some("+44 20 7946 0000".into());
        let created = app
            .create_conversation(&team.agent, again, T0 + MIN)
            .await
            .unwrap();
        let read = app.conversation(&team.admin, created.number).await.unwrap();
        assert_eq!(created, read, "{}", db.name);
        assert_eq!(created.customer.email.as_deref(), Some("zoe@example.test"));
        assert_eq!(created.customer.name, "Zoe Z");

        // A customer opening one in the portal sees what they would read.
        let me = Principal::Customer {
            id: created.customer.id,
        };
        let mut own = inbound("zoe@example.test", "Portal", "From the portal.", None);
        own.tags = vec![];
        let created = app
            .create_conversation(&me, own, T0 + 2 * MIN)
            .await
            .unwrap();
        assert_eq!(
            created,
            app.conversation(&me, created.number).await.unwrap(),
            "{}",
            db.name
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn replies_open_pending_waits_and_a_customer_message_reopens_a_solved_conversation() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let n = app
            .create_conversation(
                &Principal::System,
                inbound("bo@x.test", "Refund", "Please refund.", Some(team.support)),
                T0,
            )
            .await
            .unwrap()
            .number;
        let posted =
            post_message(&app, &team.agent, n, MessageKind::Reply, "On it.", T0 + MIN).await;
        assert_eq!(posted.conversation.status, Status::Open);
        let posted = app
            .add_message(
                &team.agent,
                n,
                message(MessageKind::Reply, "Done?"),
                Some(Status::Solved),
                T0 + 2 * MIN,
            )
            .await
            .unwrap();
        assert_eq!(posted.conversation.status, Status::Solved);
        assert_eq!(posted.conversation.solved_at, Some(T0 + 2 * MIN));
        let posted = post_message(
            &app,
            &Principal::System,
            n,
            MessageKind::Customer,
            "Not yet!",
            T0 + 3 * MIN,
        )
        .await;
        assert_eq!(posted.conversation.status, Status::Open, "{}", db.name);
        assert_eq!(posted.conversation.solved_at, None);
        let changes: Vec<_> = app
            .events(&team.agent, n)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == "status_changed")
            .map(|e| (e.payload["from"].clone(), e.payload["to"].clone()))
            .collect();
        assert_eq!(
            changes,
            [
                ("new".into(), "open".into()),
                ("open".into(), "solved".into()),
                ("solved".into(), "open".into())
            ]
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn invalid_transitions_are_refused_and_closed_is_final() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let n = app
            .create_conversation(
                &Principal::System,
                inbound("c@x.test", "Hi", "Hello", Some(team.support)),
                T0,
            )
            .await
            .unwrap()
            .number;
        let err = app
            .update_conversation(
                &team.agent,
                n,
                Patch {
                    status: Some(Status::Closed),
                    ..Default::default()
                },
                T0,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::Transition(_)), "{err:?}");
        app.update_conversation(
            &team.agent,
            n,
            Patch {
                status: Some(Status::Solved),
                ..Default::default()
            },
            T0 + MIN,
        )
        .await
        .unwrap();
        app.update_conversation(
            &Principal::System,
            n,
            Patch {
                status: Some(Status::Closed),
                ..Default::default()
            },
            T0 + 2 * MIN,
        )
        .await
        .unwrap();
        let err = app
            .update_conversation(
                &team.agent,
                n,
                Patch {
                    status: Some(Status::Open),
                    ..Default::default()
                },
                T0,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, AppError::Transition(domain::TransitionError::Closed)),
            "{err:?}"
        );
        // The customer writing again starts a follow-up that points back.
        let posted = post_message(
            &app,
            &Principal::System,
            n,
            MessageKind::Customer,
            "Again",
            T0 + 3 * MIN,
        )
        .await;
        assert_ne!(posted.conversation.number, n);
        assert_eq!(posted.conversation.status, Status::New);
        let old = app.events(&team.agent, n).await.unwrap();
        assert_eq!(old.last().unwrap().kind, "follow_up_created");
        db.finish().await;
    }
}

#[tokio::test]
async fn solved_conversations_close_after_the_configured_days_by_a_job() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let n = app
            .create_conversation(
                &Principal::System,
                inbound("d@x.test", "Hi", "Hello", Some(team.support)),
                T0,
            )
            .await
            .unwrap()
            .number;
        app.update_conversation(
            &team.agent,
            n,
            Patch {
                status: Some(Status::Solved),
                ..Default::default()
            },
            T0,
        )
        .await
        .unwrap();
        let day = domain::DAY_MILLIS;
        assert_eq!(
            app.run_one_job("w", T0 + 3 * day).await.unwrap(),
            app::JobOutcome::Nothing
        );
        assert_eq!(
            app.run_one_job("w", T0 + 4 * day).await.unwrap(),
            app::JobOutcome::Done
        );
        let c = app.conversation(&team.agent, n).await.unwrap();
        assert_eq!(c.status, Status::Closed, "{}", db.name);
        let last = app.events(&team.agent, n).await.unwrap().pop().unwrap();
        assert_eq!(
            (last.kind.as_str(), last.actor),
            ("status_changed", domain::Actor::System)
        );
        db.finish().await;
    }
}

#[tokio::test]
async fn each_role_sees_only_what_it_may() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let support = app
            .create_conversation(
                &Principal::System,
                inbound("e@x.test", "S", "s", Some(team.support)),
                T0,
            )
            .await
            .unwrap()
            .number;
        let billing = app
            .create_conversation(
                &Principal::System,
                inbound("f@x.test", "B", "b", Some(team.billing)),
                T0,
            )
            .await
            .unwrap()
            .number;
        let nowhere = app
            .create_conversation(&Principal::System, inbound("g@x.test", "N", "n", None), T0)
            .await
            .unwrap()
            .number;
        let visible = |p: Principal| {
            let app = app.clone();
            async move {
                let list = app
                    .list_conversations(
                        &p,
                        ListQuery {
                            limit: 50,
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap();
                let mut numbers: Vec<i64> = list.items.iter().map(|c| c.number).collect();
                numbers.sort();
                numbers
            }
        };
        assert_eq!(visible(team.agent.clone()).await, [support]);
        assert_eq!(visible(team.biller.clone()).await, [billing]);
        assert_eq!(visible(team.lead.clone()).await, [support, nowhere]);
        assert_eq!(
            visible(team.manager.clone()).await,
            [support, billing, nowhere]
        );
        assert_eq!(
            visible(team.admin.clone()).await,
            [support, billing, nowhere]
        );
        // Reading, writing and changing what is not yours is "not found", never a leak.
        assert!(matches!(
            app.conversation(&team.agent, billing).await,
            Err(AppError::NotFound(_))
        ));
        assert!(matches!(
            app.add_message(
                &team.agent,
                billing,
                message(MessageKind::Note, "x"),
                None,
                T0
            )
            .await,
            Err(AppError::NotFound(_))
        ));
        assert!(matches!(
            app.update_conversation(&team.agent, billing, Patch::default(), T0)
                .await,
            Err(AppError::NotFound(_))
        ));
        // Assigned to me, even in another group: visible.
        app.update_conversation(
            &team.manager,
            billing,
            Patch {
                group_id: Some(Some(team.support)),
                assignee_id: Some(Some(team.agent_id)),
                ..Default::default()
            },
            T0,
        )
        .await
        .unwrap();
        assert!(app.conversation(&team.agent, billing).await.is_ok());
        db.finish().await;
    }
}

#[tokio::test]
async fn customers_see_their_own_conversations_without_notes_and_tokens_keep_to_their_scopes() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let mine = app
            .create_conversation(
                &Principal::System,
                inbound("me@x.test", "Mine", "m", Some(team.support)),
                T0,
            )
            .await
            .unwrap();
        let theirs = app
            .create_conversation(
                &Principal::System,
                inbound("them@x.test", "Theirs", "t", Some(team.support)),
                T0,
            )
            .await
            .unwrap();
        post_message(
            &app,
            &team.agent,
            mine.number,
            MessageKind::Note,
            "internal",
            T0 + MIN,
        )
        .await;
        post_message(
            &app,
            &team.agent,
            mine.number,
            MessageKind::Reply,
            "public",
            T0 + 2 * MIN,
        )
        .await;
        let me = Principal::Customer {
            id: mine.customer.id,
        };
        let texts: Vec<String> = app
            .messages(&me, mine.number)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.text)
            .collect();
        assert_eq!(texts, ["m", "public"]);
        assert!(matches!(
            app.conversation(&me, theirs.number).await,
            Err(AppError::NotFound(_))
        ));
        assert!(matches!(
            app.events(&me, mine.number).await,
            Err(AppError::Forbidden(_))
        ));
        assert!(matches!(
            app.add_message(&me, mine.number, message(MessageKind::Note, "x"), None, T0)
                .await,
            Err(AppError::Forbidden(_))
        ));
        assert!(matches!(
            app.customer(&me, theirs.customer.id).await,
            Err(AppError::NotFound(_))
        ));

        let read = Principal::Token {
            id: 1,
            scopes: vec![domain::Scope::ConversationsRead],
        };
        assert!(app.conversation(&read, theirs.number).await.is_ok());
        assert!(matches!(
            app.update_conversation(&read, theirs.number, Patch::default(), T0)
                .await,
            Err(AppError::Forbidden(_))
        ));
        assert!(matches!(
            app.create_conversation(&read, inbound("z@x.test", "a", "b", None), T0)
                .await,
            Err(AppError::Forbidden(_))
        ));
        assert!(matches!(
            app.create_token(&read, "x", &[domain::Scope::Admin], T0)
                .await,
            Err(AppError::Forbidden(_))
        ));
        db.finish().await;
    }
}

#[tokio::test]
async fn one_customer_is_recognised_across_channels_and_two_records_merge_into_one() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let mut by_phone = inbound(
            "x@x.test",
            "Call",
            "Called about my bill",
            Some(team.support),
        );
        by_phone.customer = app::CustomerInput {
            phone: Some("+32 470 12 34 56".into()),
            email: Some("Pat@Example.test".into()),
            ..Default::default()
        };
        by_phone.channel = domain::Channel::Phone;
        let a = app
            .create_conversation(&Principal::System, by_phone, T0)
            .await
            .unwrap();
        let mut chat = inbound("pat@example.test", "Chat", "Hi again", Some(team.support));
        chat.channel = domain::Channel::Chat;
        let b = app
            .create_conversation(&Principal::System, chat, T0 + MIN)
            .await
            .unwrap();
        assert_eq!(
            a.customer.id, b.customer.id,
            "{}: same e-mail, same customer",
            db.name
        );
        let other = app
            .create_conversation(
                &Principal::System,
                inbound(
                    "pat.private@else.test",
                    "Mail",
                    "From home",
                    Some(team.support),
                ),
                T0 + 2 * MIN,
            )
            .await
            .unwrap();
        assert_ne!(other.customer.id, a.customer.id);

        assert!(matches!(
            app.merge_customers(&team.agent, other.customer.id, a.customer.id, T0)
                .await,
            Err(AppError::Forbidden(_))
        ));
        let merged = app
            .merge_customers(&team.lead, other.customer.id, a.customer.id, T0 + 3 * MIN)
            .await
            .unwrap();
        let mut numbers: Vec<i64> = merged.conversations.iter().map(|c| c.number).collect();
        numbers.sort();
        assert_eq!(numbers, [a.number, b.number, other.number]);
        assert_eq!(merged.identities.len(), 3, "{:?}", merged.identities);
        // Mail from the merged address now finds the surviving customer.
        let next = app
            .create_conversation(
                &Principal::System,
                inbound("PAT.private@else.test", "Again", "x", None),
                T0 + 4 * MIN,
            )
            .await
            .unwrap();
        assert_eq!(next.customer.id, a.customer.id);
        db.finish().await;
    }
}

#[tokio::test]
async fn merging_conversations_moves_messages_and_leaves_a_pointer() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let keep = app
            .create_conversation(
                &Principal::System,
                inbound("m@x.test", "Order 1", "first", Some(team.support)),
                T0,
            )
            .await
            .unwrap()
            .number;
        let dup = app
            .create_conversation(
                &Principal::System,
                inbound("m@x.test", "Order 1 again", "second", Some(team.support)),
                T0 + MIN,
            )
            .await
            .unwrap()
            .number;
        let survivor = app
            .merge_conversations(&team.agent, dup, keep, T0 + 2 * MIN)
            .await
            .unwrap();
        assert_eq!(survivor.message_count, 2);
        let texts: Vec<String> = app
            .messages(&team.agent, keep)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.text)
            .collect();
        assert_eq!(texts, ["first", "second"]);
        let gone = app.conversation(&team.agent, dup).await.unwrap();
        assert_eq!(
            (gone.merged_into, gone.status),
            (Some(keep), Status::Closed)
        );
        let kinds: Vec<String> = app
            .events(&team.agent, keep)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert!(
            kinds.contains(&"merged_from".to_string())
                && kinds.contains(&"merged_into".to_string()),
            "{kinds:?}"
        );
        assert!(matches!(
            app.merge_conversations(&team.agent, dup, keep, T0).await,
            Err(AppError::Invalid(_))
        ));
        let list = app
            .list_conversations(
                &team.agent,
                ListQuery {
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(list.total, 1, "merged conversations leave the queues");
        db.finish().await;
    }
}

#[tokio::test]
async fn every_change_is_an_event_with_its_actor() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let n = app
            .create_conversation(
                &Principal::System,
                inbound("h@x.test", "Subject", "text", Some(team.support)),
                T0,
            )
            .await
            .unwrap()
            .number;
        let patch = Patch {
            priority: Some(domain::Priority::Urgent),
            assignee_id: Some(Some(team.agent_id)),
            subject: Some("New subject".into()),
            add_tags: vec!["VIP".into(), "refund".into()],
            custom_fields: serde_json::json!({"order": "A-17"})
                .as_object()
                .cloned()
                .unwrap(),
            ..Default::default()
        };
        let c = app
            .update_conversation(&team.lead, n, patch, T0 + MIN)
            .await
            .unwrap();
        assert_eq!(c.tags, ["refund", "vip"]);
        assert_eq!(c.custom_fields["order"], "A-17");
        // The same change again changes nothing and records nothing.
        let before = app.events(&team.lead, n).await.unwrap().len();
        app.update_conversation(
            &team.lead,
            n,
            Patch {
                priority: Some(domain::Priority::Urgent),
                add_tags: vec!["vip".into()],
                ..Default::default()
            },
            T0 + 2 * MIN,
        )
        .await
        .unwrap();
        assert_eq!(app.events(&team.lead, n).await.unwrap().len(), before);
        let events = app.events(&team.lead, n).await.unwrap();
        let by_lead: Vec<&str> = events
            .iter()
            .filter(|e| e.actor == team.lead.actor())
            .map(|e| e.kind.as_str())
            .collect();
        assert_eq!(
            by_lead,
            [
                "subject_changed",
                "priority_changed",
                "assignee_changed",
                "tag_added",
                "tag_added",
                "field_set"
            ]
        );
        // An assignee must belong to the conversation's group.
        let err = app
            .update_conversation(
                &team.lead,
                n,
                Patch {
                    assignee_id: Some(Some(team.biller_id)),
                    ..Default::default()
                },
                T0,
            )
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::Invalid(_)), "{err:?}");
        db.finish().await;
    }
}

#[tokio::test]
async fn queues_filter_sort_page_and_count() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let mut numbers = Vec::new();
        for i in 0..7 {
            let mut input = inbound(
                &format!("q{i}@x.test"),
                &format!("Question {i}"),
                "text",
                Some(team.support),
            );
            input.tags = if i % 2 == 0 {
                vec!["even".into()]
            } else {
                vec![]
            };
            numbers.push(
                app.create_conversation(&Principal::System, input, T0 + i * MIN)
                    .await
                    .unwrap()
                    .number,
            );
        }
        app.update_conversation(
            &team.agent,
            numbers[0],
            Patch {
                assignee_id: Some(Some(team.agent_id)),
                status: Some(Status::Pending),
                ..Default::default()
            },
            T0 + 10 * MIN,
        )
        .await
        .unwrap();
        let counts = app.queue_counts(&team.agent).await.unwrap();
        assert_eq!(
            (counts.mine, counts.unassigned, counts.open, counts.pending),
            (1, 6, 6, 1),
            "{}",
            db.name
        );
        assert_eq!(counts.by_tag, [("even".to_string(), 4)]);
        assert_eq!(counts.by_group, [(Some(team.support), 7)]);

        // Pages of 3, newest update first, no duplicates, the total on every page.
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = app
                .list_conversations(
                    &team.agent,
                    ListQuery {
                        limit: 3,
                        cursor: cursor.clone(),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            assert_eq!(page.total, 7);
            seen.extend(page.items.iter().map(|c| c.number));
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        let mut expected = numbers.clone();
        expected.rotate_left(1);
        expected.reverse();
        assert_eq!(seen, expected, "{}", db.name);

        // Several statuses at once page through the same order as one status at a time.
        let mut multi = Vec::new();
        let mut cursor = None;
        loop {
            let filter = app::ConversationFilter {
                statuses: vec!["pending".into(), "new".into()],
                ..Default::default()
            };
            let page = app
                .list_conversations(
                    &team.agent,
                    ListQuery {
                        filter,
                        limit: 2,
                        cursor: cursor.clone(),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
            assert_eq!(page.total, 7);
            multi.extend(page.items.iter().map(|c| c.number));
            cursor = page.next_cursor;
            if cursor.is_none() {
                break;
            }
        }
        assert_eq!(
            multi, expected,
            "{}: pending and new, merged by last update",
            db.name
        );

        let filter = app::ConversationFilter {
            tag: Some("even".into()),
            statuses: vec!["new".into()],
            ..Default::default()
        };
        let list = app
            .list_conversations(
                &team.agent,
                ListQuery {
                    filter,
                    sort: app::ConversationSort::NumberAsc,
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        let got: Vec<i64> = list.items.iter().map(|c| c.number).collect();
        assert_eq!(got, [numbers[2], numbers[4], numbers[6]]);
        assert_eq!(list.total, 3, "{}", db.name);

        // A tag queue is counted from the tag's rows: they follow a solve, a merge, a tag
        // added later and a move to another group.
        let patch = |status: Option<Status>, add_tags: Vec<String>| Patch {
            status,
            add_tags,
            ..Default::default()
        };
        app.update_conversation(
            &team.agent,
            numbers[2],
            patch(Some(Status::Solved), vec![]),
            T0 + 11 * MIN,
        )
        .await
        .unwrap();
        app.merge_conversations(&team.admin, numbers[4], numbers[6], T0 + 12 * MIN)
            .await
            .unwrap();
        app.update_conversation(
            &team.agent,
            numbers[1],
            patch(None, vec!["even".into()]),
            T0 + 13 * MIN,
        )
        .await
        .unwrap();
        let even_new = |limit| ListQuery {
            filter: app::ConversationFilter {
                tag: Some("even".into()),
                statuses: vec!["new".into()],
                ..Default::default()
            },
            sort: app::ConversationSort::NumberAsc,
            limit,
            ..Default::default()
        };
        let list = app
            .list_conversations(&team.agent, even_new(10))
            .await
            .unwrap();
        let got: Vec<i64> = list.items.iter().map(|c| c.number).collect();
        assert_eq!(got, [numbers[1], numbers[6]], "{}", db.name);
        assert_eq!(list.total, 2, "{}", db.name);
        let counts = app.queue_counts(&team.agent).await.unwrap();
        assert_eq!(counts.by_tag, [("even".to_string(), 3)], "{}", db.name);
        // Out of the agent's groups, out of the agent's tag queue.
        app.update_conversation(
            &team.admin,
            numbers[6],
            Patch {
                group_id: Some(Some(team.billing)),
                ..Default::default()
            },
            T0 + 14 * MIN,
        )
        .await
        .unwrap();
        let list = app
            .list_conversations(&team.agent, even_new(1))
            .await
            .unwrap();
        assert_eq!(list.total, 1, "{}", db.name);
        let counts = app.queue_counts(&team.agent).await.unwrap();
        assert_eq!(counts.by_tag, [("even".to_string(), 2)], "{}", db.name);
        assert!(app
            .list_conversations(
                &team.agent,
                ListQuery {
                    cursor: Some("garbage".into()),
                    limit: 3,
                    ..Default::default()
                }
            )
            .await
            .is_err());
        db.finish().await;
    }
}

#[tokio::test]
async fn full_text_search_finds_subjects_and_bodies_once_indexed() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let a = app
            .create_conversation(
                &Principal::System,
                inbound(
                    "s1@x.test",
                    "Invoice missing",
                    "I never got the invoice for March.",
                    Some(team.support),
                ),
                T0,
            )
            .await
            .unwrap()
            .number;
        let b = app
            .create_conversation(
                &Principal::System,
                inbound(
                    "s2@x.test",
                    "Parcel",
                    "The parcel arrived damaged.",
                    Some(team.support),
                ),
                T0,
            )
            .await
            .unwrap()
            .number;
        post_message(
            &app,
            &team.agent,
            b,
            MessageKind::Note,
            "Photo shows a crushed corner",
            T0 + MIN,
        )
        .await;
        let _hidden = app
            .create_conversation(
                &Principal::System,
                inbound("s3@x.test", "Invoice", "invoice please", Some(team.billing)),
                T0,
            )
            .await
            .unwrap()
            .number;
        assert!(index_everything(&app).await > 0);
        let search = |q: &str| {
            let app = app.clone();
            let agent = team.agent.clone();
            let q = q.to_string();
            async move {
                let filter = app::ConversationFilter {
                    q: Some(q),
                    ..Default::default()
                };
                let list = app
                    .list_conversations(
                        &agent,
                        ListQuery {
                            filter,
                            limit: 10,
                            ..Default::default()
                        },
                    )
                    .await
                    .unwrap();
                assert!(!list.total_is_lower_bound);
                list.items.iter().map(|c| c.number).collect::<Vec<_>>()
            }
        };
        assert_eq!(
            search("invoice").await,
            [a],
            "{}: the Billing one is not the agent's",
            db.name
        );
        assert_eq!(search("MARCH invoice").await, [a]);
        assert_eq!(
            search("crushed").await,
            [b],
            "notes are searchable for agents"
        );
        assert_eq!(search("damaged parcel").await, [b]);
        assert!(search("nothing-like-this").await.is_empty());
        assert!(
            search("\" OR * NEAR(").await.is_empty(),
            "search syntax in the query is inert"
        );
        // Running the indexer again finds nothing new: the cursor is durable.
        assert_eq!(app.run_search_indexer(100, T0).await.unwrap(), 0);
        db.finish().await;
    }
}

#[tokio::test]
async fn attachments_are_stored_once_by_content() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let n = app
            .create_conversation(
                &Principal::System,
                inbound("att@x.test", "Photo", "see attached", Some(team.support)),
                T0,
            )
            .await
            .unwrap()
            .number;
        let file = app::AttachmentInput {
            filename: "photo.jpg".into(),
            content_type: "image/jpeg".into(),
            data: vec![0xFF, 0xD8, 0xFF, 1, 2, 3],
        };
        let mut note = message(MessageKind::Note, "same file twice");
        note.attachments = vec![file.clone(), file];
        let posted = app
            .add_message(&team.agent, n, note, None, T0 + MIN)
            .await
            .unwrap();
        assert_eq!(posted.message.attachments.len(), 2);
        let (meta, data) = app
            .attachment(&team.agent, posted.message.attachments[0].id)
            .await
            .unwrap();
        assert_eq!((meta.filename.as_str(), data.len()), ("photo.jpg", 6));
        assert!(matches!(
            app.attachment(&team.biller, meta.id).await,
            Err(AppError::NotFound(_))
        ));
        db.finish().await;
    }
}

#[tokio::test]
async fn queue_counts_survive_compaction_of_their_counters_and_concurrent_creates() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        // Creates running at once: on PostgreSQL each appends its own counter row.
        let creates = (0..12).map(|i| {
            let app = app.clone();
            let group = if i % 3 == 0 {
                team.billing
            } else {
                team.support
            };
            async move {
                let input = inbound(&format!("c{i}@x.test"), "Hello", "text", Some(group));
                app.create_conversation(&Principal::System, input, T0 + i * MIN)
                    .await
                    .map(|c| c.number)
            }
        });
        let numbers: Vec<i64> = futures_util::future::try_join_all(creates).await.unwrap();
        // Three in Support, where the agent works.
        for number in [numbers[1], numbers[2], numbers[4]] {
            app.update_conversation(
                &team.admin,
                number,
                Patch {
                    assignee_id: Some(Some(team.agent_id)),
                    status: Some(Status::Pending),
                    ..Default::default()
                },
                T0 + 20 * MIN,
            )
            .await
            .unwrap();
        }
        let before = app.queue_counts(&team.admin).await.unwrap();
        assert_eq!(
            before.by_group.iter().map(|(_, n)| n).sum::<i64>(),
            12,
            "{}",
            db.name
        );
        app.store.compact_queue_counters().await.unwrap();
        assert_eq!(
            app.queue_counts(&team.admin).await.unwrap(),
            before,
            "{}",
            db.name
        );
        // Changes after the compaction count on top of the folded rows.
        app.update_conversation(
            &team.admin,
            numbers[1],
            Patch {
                status: Some(Status::Open),
                ..Default::default()
            },
            T0 + 30 * MIN,
        )
        .await
        .unwrap();
        app.store.compact_queue_counters().await.unwrap();
        let after = app.queue_counts(&team.admin).await.unwrap();
        assert_eq!(
            (after.pending, after.open),
            (before.pending - 1, before.open + 1),
            "{}",
            db.name
        );
        db.finish().await;
    }
}

/// Job leases are measured on the database's clock, so nodes whose clocks are ten days apart
/// never run one job at once, and a crashed node's job is taken over one lease later, whichever
/// way the clocks are off. (Under leases measured on the nodes' clocks, the node ten days ahead
/// took the job the node behind was running at once, and the node behind waited ten days for
/// the job of a crashed node ahead.)
#[tokio::test]
async fn job_leases_hold_and_run_out_on_the_database_clock_whatever_the_nodes_clocks_say() {
    const LEASE: i64 = 2_500;
    let day = domain::DAY_MILLIS;
    let after_the_lease = || tokio::time::sleep(std::time::Duration::from_millis(3_000));
    for db in backends().await {
        let app = db.app();
        let store = &app.store;
        let mut tx = store.begin().await.unwrap();
        // Due for every node, even one whose clock is ten days behind.
        tx.enqueue_job("test.lease", "x", T0 - 20 * day, None, 10, T0)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let claim =
            async |node: &str, clock: i64| store.claim_job(node, clock, LEASE).await.unwrap();

        // The node behind holds it: nobody else may run it, the node ahead included.
        let held = claim("behind", T0 - 10 * day).await.expect("due");
        assert_eq!(held.attempts, 1);
        for (node, clock) in [
            ("ahead", T0 + 10 * day),
            ("on-time", T0),
            ("far-ahead", T0 + 30 * day),
        ] {
            assert_eq!(
                claim(node, clock).await,
                None,
                "{}: {node} took a held job",
                db.name
            );
        }

        // It crashes; one lease later the node ahead takes over, and holds it in turn.
        after_the_lease().await;
        let taken = claim("ahead", T0 + 10 * day).await.expect("taken over");
        assert_eq!((taken.id, taken.attempts), (held.id, 2));
        for (node, clock) in [("behind", T0 - 10 * day), ("on-time", T0)] {
            assert_eq!(claim(node, clock).await, None, "{}: {node}", db.name);
        }

        // The node ahead crashes: the node ten days behind takes over one lease later.
        after_the_lease().await;
        let again = claim("behind", T0 - 10 * day)
            .await
            .expect("taken over from a node ahead");
        assert_eq!((again.id, again.attempts), (held.id, 3), "{}", db.name);

        // That one crashes too: four nodes race for it; exactly one wins.
        after_the_lease().await;
        let (a, b, c, d) = tokio::join!(
            claim("n1", T0 - 10 * day),
            claim("n2", T0 - day),
            claim("n3", T0 + day),
            claim("n4", T0 + 10 * day),
        );
        let winners: Vec<_> = [a, b, c, d].into_iter().flatten().collect();
        assert_eq!(winners.len(), 1, "{}: {winners:?}", db.name);
        assert_eq!(winners[0].attempts, 4);
        // The workers whose leases ran out come back: their word no longer counts.
        assert!(
            !store.complete_job(&again, T0).await.unwrap(),
            "{}",
            db.name
        );
        assert!(
            !store.fail_job(&taken, "late", T0).await.unwrap(),
            "{}",
            db.name
        );
        assert_eq!(
            store
                .job_status(held.id)
                .await
                .unwrap()
                .map(|s| s.0)
                .as_deref(),
            Some("running"),
            "{}",
            db.name
        );
        assert!(
            store.complete_job(&winners[0], T0).await.unwrap(),
            "{}",
            db.name
        );
        after_the_lease().await;
        assert_eq!(
            claim("n1", T0 + 10 * day).await,
            None,
            "a done job stays done"
        );

        // A worker that stops during the last attempt: the job is failed with the reason,
        // not left running for ever.
        let mut tx = store.begin().await.unwrap();
        let last = tx
            .enqueue_job("test.lease", "y", T0, None, 1, T0)
            .await
            .unwrap()
            .expect("queued");
        tx.commit().await.unwrap();
        let only = claim("n1", T0).await.expect("due");
        assert_eq!((only.attempts, only.max_attempts), (1, 1));
        after_the_lease().await;
        assert_eq!(claim("n2", T0).await, None, "{}", db.name);
        let (status, error) = store.job_status(last).await.unwrap().expect("job");
        assert_eq!(status, "failed", "{}", db.name);
        assert!(
            error.unwrap_or_default().contains("lease ran out"),
            "{}",
            db.name
        );
        db.finish().await;
    }
}

/// The newest matches of a search, however common or rare the words and wherever in the log
/// they are: PostgreSQL's search reads the newest messages in order first and then, by how
/// common the words were there, reads on in order or asks the GIN index (see
/// `Store::search_message_ids`). Small first windows drive every path on a small log; each
/// must give exactly the newest `limit` matches.
#[tokio::test]
async fn search_gives_the_newest_matches_whichever_way_it_reads() {
    type Rule = fn(usize) -> bool;
    let rules: [(&str, Rule); 7] = [
        ("alpha", |_| true),
        ("beta", |i| i % 7 == 0),
        ("gamma", |i| i < 3),
        ("delta", |i| i >= 37),
        ("epsilon", |i| i % 3 == 0 && i < 20),
        ("omega", |_| false),
        ("beta alpha", |i| i % 7 == 0),
    ];
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let mut message_ids = Vec::new();
        for i in 0..40 {
            let words: Vec<&str> = rules[..6]
                .iter()
                .filter(|(_, rule)| rule(i))
                .map(|(word, _)| *word)
                .collect();
            let number = app
                .create_conversation(
                    &Principal::System,
                    inbound(
                        &format!("w{i}@x.test"),
                        "Question",
                        &format!("hello {}", words.join(" ")),
                        Some(team.support),
                    ),
                    T0,
                )
                .await
                .unwrap()
                .number;
            let messages = app.messages(&team.agent, number).await.unwrap();
            message_ids.push(messages[0].id);
        }
        index_everything(&app).await;
        for (q, rule) in rules {
            let mut expected: Vec<i64> = (0..40)
                .filter(|i| rule(*i))
                .map(|i| message_ids[i])
                .collect();
            expected.sort_unstable_by(|a, b| b.cmp(a));
            // Shares of 0 and 2 force reading on in order and asking the index.
            for share in [0.0, store::SEARCH_WALK_SHARE, 0.3, 2.0] {
                for walk in (1..=41).chain([1000]) {
                    for limit in [1, 3, 7, 100] {
                        let got = db
                            .store
                            .search_message_ids(q, walk, share, limit)
                            .await
                            .unwrap();
                        let want: Vec<i64> =
                            expected.iter().take(limit as usize).copied().collect();
                        assert_eq!(
                            got, want,
                            "{}: {q:?}, walk {walk}, share {share}, limit {limit}",
                            db.name
                        );
                    }
                }
            }
        }
        db.finish().await;
    }
}

/// What a conversation is once opened, without what differs between two openings of the
/// same input (its number, its message's id).
async fn as_opened(app: &app::App, by: &Principal, c: &app::ConversationView) -> String {
    let mut view = c.clone();
    view.number = 0;
    let mut messages = app.messages(by, c.number).await.unwrap();
    let first = messages[0].id;
    for m in &mut messages {
        m.id -= first;
        m.conversation = 0;
    }
    let events: Vec<_> = app
        .events(by, c.number)
        .await
        .unwrap()
        .into_iter()
        .map(|e| {
            let mut payload = e.payload.clone();
            if let Some(id) = payload.get_mut("message_id") {
                *id = (id.as_i64().unwrap() - first).into();
            }
            (e.kind, e.actor, e.at, payload)
        })
        .collect();
    format!("{view:?}\n{messages:?}\n{events:?}")
}

/// Inputs that take every branch of opening a conversation: a customer's message or an
/// agent's reply or note, tags (repeated), a group and an agent, fields, priorities,
/// channels, one customer twice.
fn varied_inputs(team: &Team, tag: &str) -> Vec<app::NewConversationInput> {
    let mut inputs = Vec::new();
    for i in 0..6 {
        let mut input = inbound(
            &format!("varied{}{tag}@example.test", i % 4),
            &format!("Question {i}"),
            &format!("Text {i} <b>with</b> markup\n\nand a second paragraph"),
            (i % 2 == 0).then_some(team.support),
        );
        input.message.kind = [MessageKind::Customer, MessageKind::Reply, MessageKind::Note][i % 3];
        input.tags = match i {
            1 => vec!["billing".into(), "Billing".into(), "vip".into()],
            4 => vec!["refund".into()],
            _ => vec![],
        };
        if i == 2 {
            input.assignee_id = Some(team.agent_id);
            input.priority = Some(domain::Priority::Urgent);
            input.channel = domain::Channel::Phone;
            input
                .custom_fields
                .insert("order".into(), serde_json::json!("A-17"));
        }
        inputs.push(input);
    }
    inputs
}

/// Opening conversations together (what concurrent creates share on PostgreSQL) stores
/// exactly what opening them one by one stores: rows, messages, events, answers.
#[tokio::test]
async fn conversations_opened_together_are_what_one_by_one_gives() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let mut alone = Vec::new();
        for input in varied_inputs(&team, "") {
            let c = app
                .create_conversation(&team.admin, input, T0)
                .await
                .unwrap();
            alone.push(as_opened(&app, &team.admin, &c).await);
        }
        // The same inputs again, together: the customers are found this time, and are
        // the same ones.
        let opened = app
            .create_conversations(&team.admin, varied_inputs(&team, ""), T0)
            .await
            .unwrap();
        assert_eq!(opened.len(), alone.len(), "{}", db.name);
        for (c, expected) in opened.iter().zip(&alone) {
            assert_eq!(
                &as_opened(&app, &team.admin, c).await,
                expected,
                "{}",
                db.name
            );
        }
        let numbers: std::collections::BTreeSet<i64> = opened.iter().map(|c| c.number).collect();
        assert_eq!(
            numbers.len(),
            opened.len(),
            "{}: numbers are distinct",
            db.name
        );
        // New customers opened together: one customer for one address, however often it
        // comes, named as alone.
        let fresh = app
            .create_conversations(&team.admin, varied_inputs(&team, "-new"), T0)
            .await
            .unwrap();
        assert_eq!(fresh[0].customer.id, fresh[4].customer.id, "{}", db.name);
        assert_ne!(fresh[0].customer.id, fresh[1].customer.id, "{}", db.name);
        assert_eq!(fresh[0].customer.name, "varied0-new", "{}", db.name);
        assert_eq!(
            fresh[1].tags,
            vec!["billing".to_string(), "vip".to_string()],
            "{}",
            db.name
        );
    }
}

/// Together means all or nothing: one input that cannot be opened opens none, and says why.
#[tokio::test]
async fn conversations_opened_together_are_all_or_none() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let mut inputs = varied_inputs(&team, "");
        inputs[3].customer = app::CustomerInput {
            email: None,
            name: None,
            phone: None,
            chat: None,
        };
        let err = app
            .create_conversations(&team.admin, inputs, T0)
            .await
            .unwrap_err();
        assert!(matches!(err, AppError::Invalid(_)), "{}: {err:?}", db.name);
        let listed = app
            .list_conversations(&team.admin, ListQuery::default())
            .await
            .unwrap();
        assert_eq!(listed.total, 0, "{}", db.name);
    }
}

/// Creates that arrive together are opened together on PostgreSQL, and one that fails in
/// the database (a customer that does not exist) fails alone: the others are opened.
#[tokio::test]
async fn concurrent_creates_are_each_answered_and_one_failure_fails_alone() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let creates = (0..40).map(|i| {
            let app = app.clone();
            let (by, input) = if i == 17 {
                (
                    Principal::Customer { id: 987_654 },
                    inbound("nobody@example.test", "Ghost", "Who am I?", None),
                )
            } else {
                let mut input = inbound(
                    &format!("many{}@example.test", i % 7),
                    &format!("Many {i}"),
                    &format!("Message {i}"),
                    Some(team.support),
                );
                input.tags = vec![format!("t{}", i % 3)];
                (Principal::System, input)
            };
            async move { (i, app.create_conversation(&by, input, T0).await) }
        });
        let results = futures_util::future::join_all(creates).await;
        let mut numbers = std::collections::BTreeSet::new();
        for (i, result) in results {
            if i == 17 {
                assert!(
                    result.is_err(),
                    "{}: a missing customer opens nothing",
                    db.name
                );
                continue;
            }
            let c = result.unwrap_or_else(|e| panic!("{}: create {i}: {e}", db.name));
            assert_eq!(c.subject, format!("Many {i}"), "{}", db.name);
            assert_eq!(c.tags, vec![format!("t{}", i % 3)], "{}", db.name);
            let events = app.events(&team.admin, c.number).await.unwrap();
            let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
            assert_eq!(
                kinds,
                ["created", "tag_added", "message_added"],
                "{}",
                db.name
            );
            let messages = app.messages(&team.admin, c.number).await.unwrap();
            assert_eq!(messages.len(), 1, "{}", db.name);
            assert_eq!(messages[0].text, format!("Message {i}"), "{}", db.name);
            assert_eq!(
                events[2].payload["message_id"].as_i64(),
                Some(messages[0].id),
                "{}",
                db.name
            );
            numbers.insert(c.number);
        }
        assert_eq!(numbers.len(), 39, "{}", db.name);
        let customers: std::collections::BTreeSet<i64> = {
            let mut ids = std::collections::BTreeSet::new();
            for n in &numbers {
                ids.insert(app.conversation(&team.admin, *n).await.unwrap().customer.id);
            }
            ids
        };
        assert_eq!(customers.len(), 7, "{}: one customer per address", db.name);
    }
}

/// Opened together, an input naming two customers' addresses goes to the first owner, as
/// alone, and the other address stays its owner's for the members after it.
#[tokio::test]
async fn an_address_owned_by_another_customer_stays_theirs_when_opened_together() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let ann = app
            .create_conversation(&team.admin, inbound("ann@x.test", "A", "a", None), T0)
            .await
            .unwrap();
        let mut by_phone = inbound("bob@x.test", "B", "b", None);
        by_phone.customer.phone = Some("+44 20 7946 0001".into());
        let bob = app
            .create_conversation(&team.admin, by_phone, T0)
            .await
            .unwrap();
        let mut both = inbound("ann@x.test", "Both", "c", None);
        both.customer.phone = Some("+44 20 7946 0001".into());
        let mut phone_only = inbound("x@x.test", "Phone", "d", None);
        phone_only.customer = app::CustomerInput {
            email: None,
            name: None,
            phone: Some("+44 20 7946 0001".into()),
            chat: None,
        };
        let opened = app
            .create_conversations(&team.admin, vec![both, phone_only], T0)
            .await
            .unwrap();
        assert_eq!(opened[0].customer.id, ann.customer.id, "{}", db.name);
        assert_eq!(opened[1].customer.id, bob.customer.id, "{}", db.name);
    }
}
