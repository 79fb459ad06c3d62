//! Service standards in the product: calendars and policies are for administrators, the
//! live path gives what a recompute gives, a recompute is idempotent, the tick finds what
//! has come due, and an escalation happens once however many workers run it.

use ::sla::{Conditions, TargetRule};
use app::{App, AppError, CalendarInput, PolicyInput, SlaView};
use domain::{MessageKind, Principal, Priority, SlaBasis, SlaMetric, Status};

use crate::support::*;

fn office() -> CalendarInput {
    CalendarInput {
        name: "Office".into(),
        time_zone: "Europe/Brussels".into(),
        hours: "mon-fri 09:00-17:00".into(),
        holidays: vec!["--12-25".into()],
        exceptions: vec![],
    }
}

fn target(metric: SlaMetric, priority: Priority, minutes: u32, basis: SlaBasis) -> TargetRule {
    TargetRule {
        metric,
        priority,
        minutes,
        basis,
    }
}

/// First reply 60 min (30 when high), next reply 30 min, periodic update 120 min, all in
/// calendar time; resolution 8 business hours; warnings at half.
fn everyone(calendar_id: i64) -> PolicyInput {
    use SlaBasis::*;
    use SlaMetric::*;
    PolicyInput {
        name: "Everyone".into(),
        position: None,
        conditions: Conditions::default(),
        calendar_id: Some(calendar_id),
        targets: vec![
            target(FirstReply, Priority::Normal, 60, Calendar),
            target(FirstReply, Priority::High, 30, Calendar),
            target(NextReply, Priority::Normal, 30, Calendar),
            target(NextReply, Priority::High, 15, Calendar),
            target(PeriodicUpdate, Priority::Normal, 120, Calendar),
            target(Resolution, Priority::Normal, 480, Business),
            target(Resolution, Priority::High, 240, Business),
        ],
        warn_at_percent: Some(50),
        on_hold_pauses: true,
    }
}

async fn setup(app: &App, team: &Team) -> (i64, i64) {
    let calendar = app
        .add_sla_calendar(&team.admin, office(), T0)
        .await
        .unwrap();
    let policy = app
        .add_sla_policy(&team.admin, everyone(calendar.id), T0)
        .await
        .unwrap();
    (calendar.id, policy.id)
}

/// Opens `count` conversations for the support group, a minute apart from `start`, by
/// `{prefix}{i}@x.test`; their numbers.
async fn open(app: &App, team: &Team, prefix: &str, count: i64, start: i64) -> Vec<i64> {
    let mut numbers = Vec::new();
    for i in 0..count {
        let c = app
            .create_conversation(
                &Principal::System,
                inbound(
                    &format!("{prefix}{i}@x.test"),
                    "Hello",
                    "Hi",
                    Some(team.support),
                ),
                start + i * MIN,
            )
            .await
            .unwrap();
        numbers.push(c.number);
    }
    numbers
}

async fn sla_kinds(app: &App, number: i64) -> Vec<String> {
    app.events(&Principal::System, number)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind.starts_with("sla_"))
        .map(|e| format!("{} {}", e.kind, e.payload["metric"].as_str().unwrap_or("")))
        .collect()
}

fn metric(view: &SlaView, metric: SlaMetric) -> &app::SlaMetricView {
    view.metrics
        .iter()
        .find(|m| m.metric == metric)
        .unwrap_or_else(|| panic!("{metric:?} has not started"))
}

#[tokio::test]
async fn calendars_and_policies_are_for_administrators_and_sla_state_for_who_sees_it() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        for who in [&team.manager, &team.lead, &team.agent] {
            assert!(matches!(
                app.add_sla_calendar(who, office(), T0).await,
                Err(AppError::Forbidden(_))
            ));
            assert!(matches!(
                app.sla_policies(who).await,
                Err(AppError::Forbidden(_))
            ));
        }
        let mut bad = office();
        bad.time_zone = "Mars/Olympus".into();
        assert!(matches!(
            app.add_sla_calendar(&team.admin, bad, T0).await,
            Err(AppError::Invalid(_))
        ));
        let (calendar, policy) = setup(&app, &team).await;
        assert!(
            matches!(
                app.add_sla_policy(&team.admin, everyone(calendar + 100), T0)
                    .await,
                Err(AppError::Invalid(_))
            ),
            "a policy must name a calendar that exists"
        );
        let mut zero = everyone(calendar);
        zero.name = "Zero".into();
        zero.targets[0].minutes = 0;
        assert!(matches!(
            app.add_sla_policy(&team.admin, zero, T0).await,
            Err(AppError::Invalid(_))
        ));
        assert!(matches!(
            app.delete_sla_calendar(&team.admin, calendar, T0).await,
            Err(AppError::Conflict(_))
        ));
        let mut renamed = everyone(calendar);
        renamed.name = "All customers".into();
        let updated = app
            .update_sla_policy(&team.admin, policy, renamed, T0 + MIN)
            .await
            .unwrap();
        assert_eq!(updated.name, "All customers");
        assert_eq!(app.sla_policies(&team.admin).await.unwrap().len(), 1);
        assert_eq!(app.sla_calendars(&team.admin).await.unwrap().len(), 1);

        let c = app
            .create_conversation(
                &Principal::System,
                inbound(
                    "ann@x.test",
                    "Late parcel",
                    "Where is it?",
                    Some(team.support),
                ),
                T0,
            )
            .await
            .unwrap();
        let view = app
            .conversation_sla(&team.agent, c.number, T0 + 10 * MIN)
            .await
            .unwrap();
        let first = metric(&view, SlaMetric::FirstReply);
        assert_eq!(first.target_ms, Some(60 * MIN));
        assert_eq!(first.left_ms, Some(50 * MIN));
        assert!(matches!(
            app.conversation_sla(&team.biller, c.number, T0).await,
            Err(AppError::NotFound(_))
        ));
        app.delete_sla_policy(&team.admin, policy, T0)
            .await
            .unwrap();
        app.delete_sla_calendar(&team.admin, calendar, T0)
            .await
            .unwrap();
        assert!(app.sla_calendars(&team.admin).await.unwrap().is_empty());
        db.finish().await;
    }
}

/// Plays a conversation through the use cases with the live path and ticks in between.
async fn play(app: &App, team: &Team, email: &str, start: i64) -> i64 {
    let at = |minutes: i64| start + minutes * MIN;
    let c = app
        .create_conversation(
            &Principal::System,
            inbound(email, "Broken", "It broke", Some(team.support)),
            at(0),
        )
        .await
        .unwrap();
    let n = c.number;
    clocks_catch_up(app, 3, at(0)).await;
    app.run_sla_tick(100, at(45)).await.unwrap();
    clocks_catch_up(app, 3, at(45)).await;
    app.run_sla_tick(100, at(65)).await.unwrap();
    app.add_message(
        &team.agent,
        n,
        message(MessageKind::Reply, "Looking"),
        Some(Status::Pending),
        at(70),
    )
    .await
    .unwrap();
    clocks_catch_up(app, 3, at(70)).await;
    let customer = Principal::Customer {
        id: app
            .conversation(&Principal::System, n)
            .await
            .unwrap()
            .customer
            .id,
    };
    post_message(
        app,
        &customer,
        n,
        MessageKind::Customer,
        "Still broken",
        at(200),
    )
    .await;
    clocks_catch_up(app, 3, at(200)).await;
    app.update_conversation(
        &team.agent,
        n,
        app::Patch {
            priority: Some(Priority::High),
            ..Default::default()
        },
        at(205),
    )
    .await
    .unwrap();
    clocks_catch_up(app, 3, at(205)).await;
    app.run_sla_tick(100, at(240)).await.unwrap();
    app.add_message(
        &team.agent,
        n,
        message(MessageKind::Reply, "Fixed"),
        Some(Status::Solved),
        at(250),
    )
    .await
    .unwrap();
    clocks_catch_up(app, 3, at(250)).await;
    app.run_sla_tick(100, at(300)).await.unwrap();
    n
}

#[tokio::test]
async fn the_live_path_gives_what_a_recompute_gives() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        setup(&app, &team).await;
        let first = play(&app, &team, "a@x.test", T0).await;
        // A second conversation on a Friday afternoon: business time spans the weekend.
        let friday = T0 + 8 * 86_400_000 + 5 * 3_600_000; // 2026-01-09T15:00Z, 16:00 in Brussels
        let second = play(&app, &team, "b@x.test", friday).await;
        let end = friday + 400 * MIN;
        let live: Vec<SlaView> = vec![
            app.conversation_sla(&team.admin, first, end).await.unwrap(),
            app.conversation_sla(&team.admin, second, end)
                .await
                .unwrap(),
        ];
        let first_reply = metric(&live[0], SlaMetric::FirstReply);
        assert_eq!(first_reply.warned_at, Some(T0 + 30 * MIN));
        assert_eq!(first_reply.breached_at, Some(T0 + 60 * MIN));
        assert_eq!(first_reply.fulfilled_at, Some(T0 + 70 * MIN));
        let next_reply = metric(&live[0], SlaMetric::NextReply);
        assert_eq!(next_reply.target_ms, Some(15 * MIN), "re-targeted to high");
        assert_eq!(next_reply.breached_at, Some(T0 + 215 * MIN));
        let kinds = sla_kinds(&app, first).await;
        assert!(kinds.contains(&"sla_breached first_reply".to_string()));

        let run = app.recompute_sla(end).await.unwrap();
        assert_eq!(run.conversations, 2);
        assert_eq!(run.events_appended, 0, "the live path left nothing to add");
        assert_eq!(
            run.transitions_read, 0,
            "the live path kept each log's digest: nothing read back"
        );
        // The digests vouch for the log; reading it all back shows it lacks nothing.
        let recorded = sla_events(&app, first).await.len() + sla_events(&app, second).await.len();
        let checked = app.recompute_sla_reading_every_log(end).await.unwrap();
        assert_eq!(
            (checked.events_appended, checked.transitions_read),
            (0, recorded),
            "{}",
            db.name
        );
        assert_eq!(sla_kinds(&app, first).await, kinds);
        let recomputed = vec![
            app.conversation_sla(&team.admin, first, end).await.unwrap(),
            app.conversation_sla(&team.admin, second, end)
                .await
                .unwrap(),
        ];
        assert_eq!(recomputed, live, "{}", db.name);
        db.finish().await;
    }
}

#[tokio::test]
async fn a_recompute_after_a_policy_change_appends_once_and_then_nothing() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let (calendar, policy) = setup(&app, &team).await;
        open(&app, &team, "c", 3, T0).await;
        let first = app.recompute_sla(T0 + 10 * MIN).await.unwrap();
        assert_eq!(first.conversations, 3);
        assert!(first.events_appended > 0);
        assert_eq!(
            app.recompute_sla(T0 + 10 * MIN)
                .await
                .unwrap()
                .events_appended,
            0
        );
        let mut stricter = everyone(calendar);
        stricter.targets[0].minutes = 5;
        app.update_sla_policy(&team.admin, policy, stricter, T0 + 10 * MIN)
            .await
            .unwrap();
        let changed = app.recompute_sla(T0 + 20 * MIN).await.unwrap();
        assert!(
            changed.events_appended >= 3,
            "each conversation is re-targeted and breached"
        );
        assert!(
            changed.transitions_read > 0,
            "new transitions expected: what the log holds is read to find them"
        );
        let again = app.recompute_sla(T0 + 20 * MIN).await.unwrap();
        assert_eq!(again.events_appended, 0, "{}", db.name);
        assert_eq!(again.transitions_read, 0, "{}", db.name);
        db.finish().await;
    }
}

/// The stored digest of what the log records lets a recompute skip reading the transitions
/// back; a digest that is not known (as after migration 0029) or wrong (however it came to
/// be) only costs reading them: nothing is appended twice, and the digest is put right.
#[tokio::test]
async fn a_recompute_reads_the_log_when_the_stored_digest_cannot_vouch() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        setup(&app, &team).await;
        let numbers = open(&app, &team, "d", 4, T0).await;
        let now = T0 + 90 * MIN;
        let first = app.recompute_sla(now).await.unwrap();
        assert!(first.events_appended > 0);
        let before: Vec<Vec<(String, String)>> = {
            let mut all = Vec::new();
            for n in &numbers {
                all.push(sla_events(&app, *n).await);
            }
            all
        };
        let right = db.store.sla_state(numbers[0]).await.unwrap().unwrap();
        assert!(right.transitions_digest.is_some());
        // Forget one digest, spoil another.
        for (n, digest) in [(numbers[0], None), (numbers[2], Some(12_345))] {
            let mut state = db.store.sla_state(n).await.unwrap().unwrap();
            state.transitions_digest = digest;
            let mut tx = db.store.begin().await.unwrap();
            tx.put_sla_state(&state).await.unwrap();
            tx.commit().await.unwrap();
        }
        let run = app.recompute_sla(now).await.unwrap();
        assert_eq!(run.events_appended, 0, "{}", db.name);
        assert_eq!(run.states_written, 2, "{}", db.name);
        let recorded: usize = before[0].len() + before[2].len();
        assert_eq!(
            run.transitions_read, recorded,
            "only those two logs are read"
        );
        for (n, events) in numbers.iter().zip(&before) {
            assert_eq!(&sla_events(&app, *n).await, events, "{}", db.name);
        }
        let again = db.store.sla_state(numbers[0]).await.unwrap().unwrap();
        assert_eq!(again.transitions_digest, right.transitions_digest);
        let last = app.recompute_sla(now).await.unwrap();
        assert_eq!(
            (
                last.transitions_read,
                last.states_written,
                last.events_appended
            ),
            (0, 0, 0),
            "{}",
            db.name
        );
        db.finish().await;
    }
}

/// Random work on a few conversations (replies, customer messages, notes, status and
/// priority changes, the clocks and the tick in between, seeded so a failure repeats): the
/// digests the live path and the tick keep say what their clocks made, so a recompute
/// afterwards reads no transition back and finds none missing, and shows what they showed.
#[tokio::test]
async fn after_random_live_work_a_recompute_finds_every_digest_true() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        setup(&app, &team).await;
        let mut seed: u64 = 0x5eed_0029;
        let mut next = |bound: u64| {
            seed = seed
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % bound
        };
        let mut numbers = Vec::new();
        for n in open(&app, &team, "r", 5, T0).await {
            let customer = app
                .conversation(&Principal::System, n)
                .await
                .unwrap()
                .customer
                .id;
            numbers.push((n, customer));
        }
        let mut at = T0 + 5 * MIN;
        for _ in 0..60 {
            at += (1 + next(90) as i64) * MIN;
            let (n, customer) = numbers[next(numbers.len() as u64) as usize];
            match next(8) {
                0 | 1 => {
                    let status =
                        [Some(Status::Pending), Some(Status::Open), None][next(3) as usize];
                    allowed(
                        app.add_message(
                            &team.agent,
                            n,
                            message(MessageKind::Reply, "On it"),
                            status,
                            at,
                        )
                        .await,
                    );
                }
                2 => {
                    post_message(
                        &app,
                        &Principal::Customer { id: customer },
                        n,
                        MessageKind::Customer,
                        "And?",
                        at,
                    )
                    .await;
                }
                3 => {
                    app.add_message(&team.agent, n, message(MessageKind::Note, "Hm"), None, at)
                        .await
                        .unwrap();
                }
                4 => {
                    let priority =
                        [Priority::Normal, Priority::High, Priority::Urgent][next(3) as usize];
                    app.update_conversation(
                        &team.agent,
                        n,
                        app::Patch {
                            priority: Some(priority),
                            ..Default::default()
                        },
                        at,
                    )
                    .await
                    .unwrap();
                }
                5 => {
                    let status = [Status::Solved, Status::Open, Status::Pending][next(3) as usize];
                    allowed(
                        app.update_conversation(
                            &team.agent,
                            n,
                            app::Patch {
                                status: Some(status),
                                ..Default::default()
                            },
                            at,
                        )
                        .await,
                    );
                }
                6 => {
                    // An event no clock reads.
                    let assignee = [Some(team.agent_id), None][next(2) as usize];
                    allowed(
                        app.update_conversation(
                            &team.agent,
                            n,
                            app::Patch {
                                assignee_id: Some(assignee),
                                ..Default::default()
                            },
                            at,
                        )
                        .await,
                    );
                }
                _ => {
                    app.run_sla_tick(100, at).await.unwrap();
                }
            }
            if next(2) == 0 {
                clocks_catch_up(&app, 1 + next(4) as u32, at).await;
            }
        }
        clocks_catch_up(&app, 100, at).await;
        app.run_sla_tick(100, at).await.unwrap();
        let mut live = Vec::new();
        for (n, _) in &numbers {
            live.push(app.conversation_sla(&team.admin, *n, at).await.unwrap());
        }
        let run = app.recompute_sla(at).await.unwrap();
        assert_eq!(
            (run.events_appended, run.transitions_read),
            (0, 0),
            "{}",
            db.name
        );
        // And the log holds every transition the digests vouch for.
        let mut recorded = 0;
        for (n, _) in &numbers {
            recorded += sla_events(&app, *n).await.len();
        }
        assert!(recorded > 0);
        let checked = app.recompute_sla_reading_every_log(at).await.unwrap();
        assert_eq!(
            (checked.events_appended, checked.transitions_read),
            (0, recorded),
            "{}",
            db.name
        );
        let mut recomputed = Vec::new();
        for (n, _) in &numbers {
            recomputed.push(app.conversation_sla(&team.admin, *n, at).await.unwrap());
        }
        assert_eq!(recomputed, live, "{}", db.name);
        db.finish().await;
    }
}

/// An event of a kind no clock reads (an assignment, a custom field) changes no clock: the
/// live path neither moves the clock (not even its `through`) nor writes it, and a
/// recompute, which reads only the clocks' inputs, finds the stored clock right.
#[tokio::test]
async fn an_event_no_clock_reads_changes_no_clock() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        setup(&app, &team).await;
        let n = open(&app, &team, "q", 1, T0).await[0];
        clocks_catch_up(&app, 100, T0 + MIN).await;
        let before = db.store.sla_state(n).await.unwrap().unwrap();
        let mut fields = serde_json::Map::new();
        fields.insert("order".into(), serde_json::json!("A-1"));
        app.update_conversation(
            &team.agent,
            n,
            app::Patch {
                assignee_id: Some(Some(team.agent_id)),
                custom_fields: fields,
                ..Default::default()
            },
            T0 + 2 * MIN,
        )
        .await
        .unwrap();
        let kinds: Vec<String> = app
            .events(&Principal::System, n)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert!(kinds.iter().any(|k| k == "assignee_changed"), "{kinds:?}");
        assert!(kinds.iter().any(|k| k == "field_set"), "{kinds:?}");
        clocks_catch_up(&app, 100, T0 + 3 * MIN).await;
        let after = db.store.sla_state(n).await.unwrap().unwrap();
        assert_eq!(after, before, "{}", db.name);
        let run = app.recompute_sla(T0 + 3 * MIN).await.unwrap();
        assert_eq!(
            (
                run.events_appended,
                run.states_written,
                run.transitions_read
            ),
            (0, 0, 0),
            "{}",
            db.name
        );
        db.finish().await;
    }
}

/// A recompute takes its `now` when it starts; a tick that runs later meanwhile records a
/// breach after that instant. The recompute must not put back a clock from before the
/// breach, or the next tick records the breach a second time.
#[tokio::test]
async fn a_recompute_with_an_earlier_now_than_the_tick_does_not_turn_the_clock_back() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        setup(&app, &team).await;
        let number = open(&app, &team, "late", 1, T0).await[0];
        clocks_catch_up(&app, 10, T0).await;
        // First reply: warned at 30 minutes, breached at 60.
        app.run_sla_tick(100, T0 + 65 * MIN).await.unwrap();
        let breaches = |events: Vec<(String, String)>| {
            events
                .iter()
                .filter(|(kind, payload)| kind == "sla_breached" && payload.contains("first_reply"))
                .count()
        };
        assert_eq!(breaches(sla_events(&app, number).await), 1);
        for run in [
            app.recompute_sla(T0 + 40 * MIN).await.unwrap(),
            app.recompute_sla_reading_every_log(T0 + 40 * MIN)
                .await
                .unwrap(),
        ] {
            assert_eq!(run.events_appended, 0, "{}", db.name);
        }
        app.run_sla_tick(100, T0 + 70 * MIN).await.unwrap();
        assert_eq!(
            breaches(sla_events(&app, number).await),
            1,
            "{}: the breach is recorded once",
            db.name
        );
        db.finish().await;
    }
}

/// The recompute's check under the writer: of the clocks as its scan read them, exactly
/// those stored differently now are reported (with when they were written), on both
/// databases; a conversation that had no clock and still has none is not.
#[tokio::test]
async fn the_clocks_moved_since_the_scan_are_found_under_the_writer() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        setup(&app, &team).await;
        open(&app, &team, "m", 3, T0).await;
        app.recompute_sla(T0 + 10 * MIN).await.unwrap();
        let mut batches = db.store.scan_sla_batches(100);
        let batch = batches.recv().await.unwrap().unwrap();
        let states: Vec<store::BatchStateRef<'_>> = batch.states().collect();
        assert_eq!(states.len(), 3, "{}", db.name);
        // The live path (say) writes the second clock after the scan read it.
        let mut moved = db
            .store
            .sla_state(states[1].conversation)
            .await
            .unwrap()
            .unwrap();
        moved.updated_at += 1;
        let mut tx = db.store.begin().await.unwrap();
        tx.put_sla_state(&moved).await.unwrap();
        tx.commit().await.unwrap();
        let mut expected: Vec<(i64, Option<store::BatchStateRef<'_>>)> = states
            .iter()
            .rev()
            .map(|s| (s.conversation, Some(*s)))
            .collect();
        expected.push((1_000_000, None));
        let mut tx = db.store.begin().await.unwrap();
        let found = tx.sla_states_moved(&expected).await.unwrap();
        tx.rollback().await.unwrap();
        assert_eq!(
            found,
            vec![(states[1].conversation, Some(moved.updated_at))],
            "{}",
            db.name
        );
        // A clock read as stored that is gone, and one read as absent that is there.
        let mut tx = db.store.begin().await.unwrap();
        let found = tx
            .sla_states_moved(&[(states[0].conversation, None), (999_999, Some(states[2]))])
            .await
            .unwrap();
        tx.rollback().await.unwrap();
        let mut found = found;
        found.sort_unstable();
        assert_eq!(
            found,
            vec![
                (states[0].conversation, Some(states[0].updated_at)),
                (999_999, None)
            ],
            "{}",
            db.name
        );
        drop(batches);
        db.finish().await;
    }
}

/// A use case's answer, where a status change the workflow does not allow is an answer too.
/// A recompute writes a clock only where the stored one is still the one its scan read (on
/// SQLite a compare-and-set in the write itself): a clock the live path wrote since, and one
/// read as absent that is there now, are not written and are answered (with when the stored
/// one was written); the others are written, a clock read as absent and still absent too, on
/// both databases.
#[tokio::test]
async fn a_recompute_writes_a_clock_only_where_it_did_not_move_since_the_scan() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        setup(&app, &team).await;
        open(&app, &team, "w", 4, T0).await;
        app.recompute_sla(T0 + 10 * MIN).await.unwrap();
        let fresh = open(&app, &team, "v", 1, T0 + 11 * MIN).await[0];
        let mut batches = db.store.scan_sla_batches(100);
        let batch = batches.recv().await.unwrap().unwrap();
        let states: Vec<store::BatchStateRef<'_>> = batch.states().collect();
        assert_eq!(states.len(), 4, "{}", db.name);
        assert!(
            db.store.sla_state(fresh).await.unwrap().is_none(),
            "{}",
            db.name
        );
        let stored = |n: i64| {
            let store = db.store.clone();
            async move { store.sla_state(n).await.unwrap() }
        };
        // The live path writes the second clock after the scan read it.
        let mut moved = stored(states[1].conversation).await.unwrap();
        moved.updated_at += 1;
        let mut tx = db.store.begin().await.unwrap();
        tx.put_sla_state(&moved).await.unwrap();
        tx.commit().await.unwrap();
        let mut template = stored(states[0].conversation).await.unwrap();
        template.through_event_id += 1_000;
        template.updated_at = T0 + 20 * MIN;
        let row = |n: i64| store::SlaStateRow {
            conversation: n,
            ..template.clone()
        };
        let mut rows: Vec<(Option<store::BatchStateRef<'_>>, store::SlaStateRow)> = states
            .iter()
            .map(|s| (Some(*s), row(s.conversation)))
            .collect();
        // Read as absent, and still absent; read as absent, and there now.
        rows.push((None, row(fresh)));
        rows[3].0 = None;
        let mut tx = db.store.begin().await.unwrap();
        let found = tx.put_sla_states_unmoved(&rows).await.unwrap();
        tx.commit().await.unwrap();
        assert_eq!(
            found,
            vec![
                (states[1].conversation, Some(moved.updated_at)),
                (states[3].conversation, Some(states[3].updated_at)),
            ],
            "{}",
            db.name
        );
        for n in [states[0].conversation, states[2].conversation, fresh] {
            assert_eq!(stored(n).await, Some(row(n)), "{}: {n} written", db.name);
        }
        assert_eq!(
            stored(states[1].conversation).await,
            Some(moved.clone()),
            "{}",
            db.name
        );
        assert!(
            states[3].is(&stored(states[3].conversation).await.unwrap()),
            "{}",
            db.name
        );
        drop(batches);
        db.finish().await;
    }
}

fn allowed<T>(answer: Result<T, AppError>) {
    match answer {
        Ok(_) | Err(AppError::Transition(_)) => {}
        Err(e) => panic!("{e}"),
    }
}

/// The SLA events of a conversation as (kind, payload), in log order.
async fn sla_events(app: &App, number: i64) -> Vec<(String, String)> {
    app.events(&Principal::System, number)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind.starts_with("sla_") && e.kind != "sla_escalated")
        .map(|e| (e.kind, e.payload.to_string()))
        .collect()
}

/// `rapport sla recompute` and the live path both clock two brand-new conversations, their
/// transactions interleaved the same way every run: a third transaction holds the second
/// conversation's clock row (uncommitted) until both have clocked the first conversation as
/// far as they can and wait. Each transition is recorded once: the second to reach a
/// conversation waits for the first one's clock and sees its events.
#[tokio::test]
async fn a_recompute_racing_the_live_path_records_each_transition_once() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        setup(&app, &team).await;
        let numbers = open(&app, &team, "race", 2, T0).await;
        // First replies warned and breached by then.
        let now = T0 + 90 * MIN;
        // On PostgreSQL the live path reads below a horizon that transactions of other tests
        // can hold back for a moment: wait until it has passed these conversations' events,
        // so that the holder below (which holds the horizon too) is held only briefly.
        let last = db.store.last_event_id().await.unwrap();
        for _ in 0..2_000 {
            let cursor = db
                .store
                .cursor(app::SLA_CONSUMER)
                .await
                .unwrap()
                .unwrap_or_default();
            let readable = db.store.events_after(cursor, 10_000).await.unwrap();
            if readable.iter().any(|e| e.id >= last) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        let mut holder = db.store.begin().await.unwrap();
        holder
            .put_sla_state(&store::SlaStateRow {
                conversation: numbers[1],
                version: 0,
                through_event_id: 0,
                clock: "{}".into(),
                next_deadline_at: None,
                next_deadline_kind: None,
                next_breach_at: None,
                updated_at: now,
                transitions_digest: None,
            })
            .await
            .unwrap();
        let recompute = tokio::spawn({
            let app = app.clone();
            async move { app.recompute_sla(now).await }
        });
        // Until it has read both conversations' events (on PostgreSQL its horizon may
        // trail for a moment behind transactions of tests running beside this one).
        let live = tokio::spawn({
            let app = app.clone();
            async move { clocks_catch_up(&app, 100, now).await }
        });
        // On PostgreSQL, wait until both wait: one behind the holder, the other behind it.
        // (On SQLite the one writer runs them one after the other once the holder is done.)
        if holder.lock_waiters().await.unwrap().is_some() {
            let mut waiting = 0;
            for _ in 0..2_000 {
                waiting = holder.lock_waiters().await.unwrap().unwrap_or_default();
                if waiting >= 2 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
            assert_eq!(waiting, 2, "the recompute and the live path both wait");
        }
        holder.rollback().await.unwrap();
        recompute.await.unwrap().unwrap();
        live.await.unwrap();
        for number in &numbers {
            let events = sla_events(&app, *number).await;
            let kinds: Vec<&str> = events.iter().map(|(kind, _)| kind.as_str()).collect();
            assert!(kinds.contains(&"sla_breached"), "{}: {kinds:?}", db.name);
            let mut unique = events.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(
                unique.len(),
                events.len(),
                "{}: conversation {number} records a transition twice: {events:?}",
                db.name
            );
        }
        let again = app.recompute_sla(now).await.unwrap();
        assert_eq!(again.events_appended, 0, "{}", db.name);
        assert_eq!(again.states_written, 0, "{}: nothing changed", db.name);
        db.finish().await;
    }
}

#[tokio::test]
async fn the_tick_finds_due_warnings_and_breaches_by_their_deadline() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        setup(&app, &team).await;
        let mut numbers = Vec::new();
        for i in 0..4 {
            let c = app
                .create_conversation(
                    &Principal::System,
                    inbound(
                        &format!("t{i}@x.test"),
                        "Help",
                        "Please",
                        Some(team.support),
                    ),
                    T0 + i * 20 * MIN,
                )
                .await
                .unwrap();
            numbers.push(c.number);
            clocks_catch_up(&app, 3, T0 + i * 20 * MIN).await;
        }
        // At T0+61 the first conversation's warning (T0+30) and breach (T0+60) are due, and
        // the second one's warning (T0+50); the others' warnings fall due at T0+70 and T0+90.
        let now = T0 + 61 * MIN;
        assert_eq!(app.store.sla_due_count(now).await.unwrap(), 2);
        let recorded = app.run_sla_tick(1, now).await.unwrap();
        assert_eq!(recorded, 3, "two warnings and one breach");
        assert_eq!(app.store.sla_due_count(now).await.unwrap(), 0);
        assert_eq!(app.run_sla_tick(100, now).await.unwrap(), 0);
        let kinds = sla_kinds(&app, numbers[0]).await;
        assert!(kinds.contains(&"sla_warned first_reply".to_string()));
        assert!(kinds.contains(&"sla_breached first_reply".to_string()));
        assert!(!sla_kinds(&app, numbers[2])
            .await
            .contains(&"sla_warned first_reply".to_string()));
        db.finish().await;
    }
}

#[tokio::test]
async fn an_escalation_takes_effect_once_with_two_workers() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        setup(&app, &team).await;
        let c = app
            .create_conversation(
                &Principal::System,
                inbound("e@x.test", "Down", "All down", Some(team.support)),
                T0,
            )
            .await
            .unwrap();
        clocks_catch_up(&app, 3, T0).await;
        let now = T0 + 61 * MIN;
        assert_eq!(app.run_sla_tick(100, now).await.unwrap(), 2);
        let other = app.clone();
        let work = |app: App, name: &'static str| async move {
            let mut done = 0;
            loop {
                match app.run_one_job(name, now).await.unwrap() {
                    app::JobOutcome::Nothing => return done,
                    _ => done += 1,
                }
            }
        };
        let (a, b) = tokio::join!(work(app.clone(), "node-a"), work(other, "node-b"));
        assert_eq!(a + b, 2, "one job for the warning, one for the breach");
        // The same escalation queued again (say a job ran twice) changes nothing.
        let payload = serde_json::json!({
            "conversation": c.number, "metric": "first_reply", "cycle": 1, "reason": "breached"
        })
        .to_string();
        let mut tx = app.store.begin().await.unwrap();
        tx.enqueue_job(app::SLA_ESCALATE_JOB, &payload, now, None, 3, now)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        assert_eq!(work(app.clone(), "node-c").await, 1);

        let events = app.events(&Principal::System, c.number).await.unwrap();
        let escalated: Vec<_> = events
            .iter()
            .filter(|e| e.kind == "sla_escalated")
            .collect();
        assert_eq!(escalated.len(), 2, "{}", db.name);
        let lead_id = match team.lead {
            Principal::Agent { id, .. } => id,
            _ => unreachable!(),
        };
        assert!(escalated
            .iter()
            .all(|e| e.payload["notified"] == serde_json::json!(lead_id)));
        assert_eq!(
            events
                .iter()
                .filter(|e| e.kind == "priority_changed")
                .count(),
            1
        );
        let after = app
            .conversation(&Principal::System, c.number)
            .await
            .unwrap();
        assert_eq!(after.priority, Priority::High);
        assert_eq!(after.assignee.map(|a| a.id), Some(lead_id));
        // The raised priority re-targets the clocks on the live path.
        clocks_catch_up(&app, 3, now).await;
        let view = app
            .conversation_sla(&team.admin, c.number, now)
            .await
            .unwrap();
        assert_eq!(
            metric(&view, SlaMetric::Resolution).target_ms,
            Some(240 * MIN)
        );
        db.finish().await;
    }
}

/// Runs every due job; returns how many ran.
async fn run_jobs(app: &App, now: i64) -> usize {
    let mut done = 0;
    while !matches!(
        app.run_one_job("node-a", now).await.unwrap(),
        app::JobOutcome::Nothing
    ) {
        done += 1;
    }
    done
}

async fn escalations(app: &App, number: i64) -> Vec<String> {
    app.events(&Principal::System, number)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.kind == "sla_escalated")
        .map(|e| {
            format!(
                "{} {}",
                e.payload["reason"].as_str().unwrap_or(""),
                e.payload["metric"].as_str().unwrap_or("")
            )
        })
        .collect()
}

/// A recompute that records a warning or breach whose cycle is still in progress queues its
/// escalation, once; one whose cycle was met since is history and is not escalated; and a
/// recompute after a policy change, which records the same warning and breach again at other
/// instants, does not escalate them a second time.
#[tokio::test]
async fn a_recompute_escalates_what_is_due_now_once_and_not_history() {
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let (calendar, policy) = setup(&app, &team).await;
        let mut numbers = Vec::new();
        for email in ["waiting@x.test", "answered@x.test"] {
            let c = app
                .create_conversation(
                    &Principal::System,
                    inbound(email, "Help", "Please", Some(team.support)),
                    T0,
                )
                .await
                .unwrap();
            numbers.push(c.number);
        }
        let (waiting, answered) = (numbers[0], numbers[1]);
        // Answered late, after its first reply was warned (T0+30) and breached (T0+60).
        app.add_message(
            &team.agent,
            answered,
            message(MessageKind::Reply, "Here"),
            None,
            T0 + 90 * MIN,
        )
        .await
        .unwrap();
        // The live path has not run: the recompute is the first to record anything.
        // Before any other target's warning (the resolution's, at T0+120 once the breach's
        // escalation has raised the priority).
        let now = T0 + 100 * MIN;
        let first = app.recompute_sla(now).await.unwrap();
        assert!(first.events_appended > 0);
        assert_eq!(
            run_jobs(&app, now).await,
            2,
            "{}: the warning and the breach of the waiting one",
            db.name
        );
        let mut waiting_escalations = escalations(&app, waiting).await;
        waiting_escalations.sort();
        assert_eq!(
            waiting_escalations,
            ["breached first_reply", "warned first_reply"],
            "{}",
            db.name
        );
        assert!(
            escalations(&app, answered).await.is_empty(),
            "{}: met since, history",
            db.name
        );
        assert!(sla_kinds(&app, answered)
            .await
            .contains(&"sla_breached first_reply".to_string()));

        // The escalation raised the priority: the live path re-targets; then nothing is new.
        clocks_catch_up(&app, 100, now).await;
        assert_eq!(
            app.recompute_sla(now).await.unwrap().events_appended,
            0,
            "{}",
            db.name
        );
        assert_eq!(run_jobs(&app, now).await, 0, "{}", db.name);

        // A stricter first reply: the warning and breach fall due at other instants and are
        // recorded again, but they were escalated already.
        let mut stricter = everyone(calendar);
        for t in &mut stricter.targets {
            if t.metric == SlaMetric::FirstReply {
                t.minutes = 20;
            }
        }
        app.update_sla_policy(&team.admin, policy, stricter, now)
            .await
            .unwrap();
        let changed = app.recompute_sla(now + MIN).await.unwrap();
        assert!(changed.events_appended > 0, "{}", db.name);
        assert_eq!(
            run_jobs(&app, now + MIN).await,
            0,
            "{}: escalated before",
            db.name
        );
        assert_eq!(escalations(&app, waiting).await.len(), 2, "{}", db.name);
        assert!(escalations(&app, answered).await.is_empty(), "{}", db.name);
        db.finish().await;
    }
}

/// A policy for one organisation's customers: its condition round trips through the API, an
/// organisation that does not exist is refused, and the policy applies to the conversations
/// of that organisation's customers (matched by their e-mail domain) and no others.
#[tokio::test]
async fn a_policy_for_an_organisation_applies_to_its_customers_only() {
    use axum::http::StatusCode;
    use domain::Scope;
    use serde_json::json;
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let mut tx = db.store.begin().await.unwrap();
        let acme = tx
            .insert_organization("Acme", Some("acme.test"), T0)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        let admin = app
            .create_token(&Principal::System, "admin", &[Scope::Admin], T0)
            .await
            .unwrap()
            .secret;
        let state = web::AppState::new(app.clone(), std::sync::Arc::new(|| T0), false);
        let router = web::router(state);
        let policy = |name: &str, organisations: Vec<i64>, minutes: u32| {
            json!({"name": name, "conditions": {"organisations": organisations},
                   "targets": [{"metric": "first_reply", "priority": "normal", "minutes": minutes, "basis": "calendar"}]})
        };
        let (status, refused) = bearer_json(
            &router,
            "POST",
            "/api/v1/sla-policies",
            &admin,
            Some(policy("Nobody", vec![acme + 100], 30)),
        )
        .await;
        assert_eq!(
            (status, refused["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("validation_failed")),
            "{refused}"
        );
        for body in [
            policy("Acme", vec![acme], 30),
            policy("Everyone", vec![], 60),
        ] {
            let (status, created) =
                bearer_json(&router, "POST", "/api/v1/sla-policies", &admin, Some(body)).await;
            assert_eq!(status, StatusCode::CREATED, "{created}");
        }
        let (_, list) = bearer_json(&router, "GET", "/api/v1/sla-policies", &admin, None).await;
        assert_eq!(
            list["items"][0]["conditions"]["organisations"],
            json!([acme]),
            "{list}"
        );
        assert_eq!(list["items"][1]["conditions"]["organisations"], json!([]));

        let mut targets = Vec::new();
        for email in ["ann@acme.test", "bob@elsewhere.test"] {
            let c = app
                .create_conversation(
                    &Principal::System,
                    inbound(email, "Hello", "Hi", Some(team.support)),
                    T0,
                )
                .await
                .unwrap();
            let view = app
                .conversation_sla(&team.admin, c.number, T0 + MIN)
                .await
                .unwrap();
            targets.push(metric(&view, SlaMetric::FirstReply).target_ms);
        }
        assert_eq!(targets, vec![Some(30 * MIN), Some(60 * MIN)], "{}", db.name);
        db.finish().await;
    }
}

#[tokio::test]
async fn calendars_policies_and_sla_state_round_trip_over_http() {
    use axum::http::StatusCode;
    use domain::Scope;
    use serde_json::json;
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let admin = app
            .create_token(&Principal::System, "admin", &[Scope::Admin], T0)
            .await
            .unwrap()
            .secret;
        let reader = app
            .create_token(
                &Principal::System,
                "reader",
                &[Scope::ConversationsRead],
                T0,
            )
            .await
            .unwrap()
            .secret;
        let state = web::AppState::new(app.clone(), std::sync::Arc::new(|| T0 + 20 * MIN), false);
        let router = web::router(state);
        let calendar = json!({"name": "Office", "time_zone": "Europe/Brussels", "hours": "mon-fri 09:00-17:00",
                              "holidays": ["--12-25"]});
        let (status, _) = bearer_json(
            &router,
            "POST",
            "/api/v1/calendars",
            &reader,
            Some(calendar.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, created) = bearer_json(
            &router,
            "POST",
            "/api/v1/calendars",
            &admin,
            Some(calendar.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let calendar_id = created["id"].as_i64().unwrap();
        let (status, again) =
            bearer_json(&router, "POST", "/api/v1/calendars", &admin, Some(calendar)).await;
        assert_eq!(
            (status, again["error"]["code"].as_str()),
            (StatusCode::CONFLICT, Some("conflict"))
        );
        let (status, bad) = bearer_json(
            &router,
            "POST",
            "/api/v1/calendars",
            &admin,
            Some(json!({"name": "Bad", "time_zone": "Nowhere/Else", "hours": "mon 09:00-17:00"})),
        )
        .await;
        assert_eq!(
            (status, bad["error"]["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("validation_failed"))
        );
        let policy = json!({"name": "Everyone", "calendar_id": calendar_id, "warn_at_percent": 50,
            "targets": [{"metric": "first_reply", "priority": "normal", "minutes": 60, "basis": "calendar"},
                        {"metric": "resolution", "priority": "normal", "minutes": 480, "basis": "business"}]});
        let (status, created) = bearer_json(
            &router,
            "POST",
            "/api/v1/sla-policies",
            &admin,
            Some(policy.clone()),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        let policy_id = created["id"].as_i64().unwrap();
        let mut changed = policy.clone();
        changed["name"] = json!("All customers");
        let (status, updated) = bearer_json(
            &router,
            "PUT",
            &format!("/api/v1/sla-policies/{policy_id}"),
            &admin,
            Some(changed),
        )
        .await;
        assert_eq!(
            (status, updated["name"].as_str()),
            (StatusCode::OK, Some("All customers"))
        );
        let (status, list) =
            bearer_json(&router, "GET", "/api/v1/sla-policies", &admin, None).await;
        assert_eq!((status, list["total"].as_i64()), (StatusCode::OK, Some(1)));
        let (status, _) = bearer_json(
            &router,
            "DELETE",
            &format!("/api/v1/calendars/{calendar_id}"),
            &admin,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::CONFLICT, "a policy uses it");

        let c = app
            .create_conversation(
                &Principal::System,
                inbound("h@x.test", "Help", "Please", Some(team.support)),
                T0,
            )
            .await
            .unwrap();
        clocks_catch_up(&app, 3, T0).await;
        let (status, sla) = bearer_json(
            &router,
            "GET",
            &format!("/api/v1/conversations/{}/sla", c.number),
            &reader,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{sla}");
        let first = sla["targets"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["metric"] == "first_reply")
            .unwrap();
        assert_eq!(first["state"], "running");
        assert_eq!(first["left_seconds"], 40 * 60);
        assert_eq!(first["target_minutes"], 60);
        assert!(sla["history"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["kind"] == "applied"));
        let (status, _) = bearer_json(
            &router,
            "GET",
            "/api/v1/conversations/999999/sla",
            &reader,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = bearer_json(
            &router,
            "DELETE",
            &format!("/api/v1/sla-policies/{policy_id}"),
            &admin,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, _) = bearer_json(
            &router,
            "DELETE",
            &format!("/api/v1/calendars/{calendar_id}"),
            &admin,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        db.finish().await;
    }
}

/// The numbers of a listing, page by page (`limit` each), sorted by the next breach.
async fn sla_order(app: &App, who: &Principal, statuses: &[&str], limit: u32) -> Vec<Vec<i64>> {
    let mut pages = Vec::new();
    let mut cursor = None;
    loop {
        let list = app
            .list_conversations(
                who,
                app::ListQuery {
                    filter: app::ConversationFilter {
                        statuses: statuses.iter().map(|s| s.to_string()).collect(),
                        ..Default::default()
                    },
                    sort: app::ConversationSort::NextBreachAsc,
                    cursor,
                    limit,
                },
            )
            .await
            .unwrap();
        pages.push(list.items.iter().map(|c| c.number).collect());
        match list.next_cursor {
            Some(next) => cursor = Some(next),
            None => return pages,
        }
    }
}

#[tokio::test]
async fn the_queue_sorted_by_sla_shows_the_soonest_breach_first_and_no_target_last() {
    use axum::http::StatusCode;
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        setup(&app, &team).await;
        let open = |email: &'static str, at: i64, priority: Option<Priority>| {
            let app = app.clone();
            let support = team.support;
            async move {
                let mut input = inbound(email, "Help", "Please", Some(support));
                input.priority = priority;
                app.create_conversation(&Principal::System, input, at)
                    .await
                    .unwrap()
                    .number
            }
        };
        // First reply due: a at T0+60, b (high) at T0+35, c at T0+70; d is answered and
        // solved (no running target), e is never folded into a clock (no state yet).
        let a = open("a@x.test", T0, None).await;
        let b = open("b@x.test", T0 + 5 * MIN, Some(Priority::High)).await;
        let c = open("c@x.test", T0 + 10 * MIN, None).await;
        let d = open("d@x.test", T0 + 11 * MIN, None).await;
        app.add_message(
            &team.agent,
            d,
            message(MessageKind::Reply, "Done"),
            Some(Status::Solved),
            T0 + 12 * MIN,
        )
        .await
        .unwrap();
        app.recompute_sla(T0 + 20 * MIN).await.unwrap();
        let e = open("e@x.test", T0 + 21 * MIN, None).await;
        assert_eq!(
            db.store.sla_state(d).await.unwrap().unwrap().next_breach_at,
            None,
            "a solved conversation has no running target"
        );

        let everything = sla_order(&app, &team.admin, &[], 2).await;
        assert_eq!(
            everything,
            vec![vec![b, a], vec![c, d], vec![e]],
            "{}: soonest breach first, then the rest by number, across pages",
            db.name
        );
        // An agent's queue of unsolved conversations: one branch per status and way.
        assert_eq!(
            sla_order(&app, &team.agent, &["new", "open", "pending"], 10).await,
            vec![vec![b, a, c, e]],
            "{}",
            db.name
        );
        assert_eq!(
            sla_order(&app, &team.biller, &["new", "open"], 10).await,
            vec![Vec::<i64>::new()],
            "another group's conversations stay hidden"
        );

        // Once the first reply of b is overdue it stays first: a breach in the past sorts
        // before one still to come.
        app.run_sla_tick(100, T0 + 40 * MIN).await.unwrap();
        assert_eq!(
            db.store.sla_state(b).await.unwrap().unwrap().next_breach_at,
            Some(T0 + 35 * MIN)
        );
        assert_eq!(
            sla_order(&app, &team.agent, &["new", "open"], 10).await[0][..3],
            [b, a, c]
        );

        // Over HTTP: `sort=sla`, with the cursor handed out.
        let token = app
            .create_token(
                &Principal::System,
                "reader",
                &[domain::Scope::ConversationsRead],
                T0,
            )
            .await
            .unwrap()
            .secret;
        let router = web::router(web::AppState::new(
            app.clone(),
            std::sync::Arc::new(|| T0 + 40 * MIN),
            false,
        ));
        let (status, page) = bearer_json(
            &router,
            "GET",
            "/api/v1/conversations?sort=sla&limit=3",
            &token,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let numbers: Vec<i64> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["number"].as_i64().unwrap())
            .collect();
        assert_eq!(numbers, vec![b, a, c]);
        let cursor = page["next_cursor"].as_str().unwrap();
        let (status, rest) = bearer_json(
            &router,
            "GET",
            &format!("/api/v1/conversations?sort=sla&limit=3&cursor={cursor}"),
            &token,
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{rest}");
        let numbers: Vec<i64> = rest["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["number"].as_i64().unwrap())
            .collect();
        assert_eq!(numbers, vec![d, e]);
        db.finish().await;
    }
}

/// The log's `clock_input` column, which the database derives from each payload (migration
/// 0032) and the recompute's scan reads instead of the payloads, says what the clock reads of
/// the payload (`sla::clock_input_text` of `ClockInput::of`), on both databases: for every
/// kind the clock reads, every value of each enum, groups and none, odd tags. Events of other
/// kinds have no text, and one whose payload lacks a field the clock reads has `?`.
#[tokio::test]
async fn the_log_derives_what_the_clock_reads_of_each_event() {
    use domain::{Channel, EventPayload};
    for db in backends().await {
        let app = db.app();
        let team = team(&app).await;
        let n = open(&app, &team, "ci", 1, T0).await[0];
        let mut payloads = Vec::new();
        for (i, channel) in Channel::ALL.iter().enumerate() {
            for status in Status::ALL {
                for priority in Priority::ALL {
                    payloads.push(EventPayload::Created {
                        subject: "Quote \" and caf\u{e9}".into(),
                        channel: *channel,
                        status: *status,
                        priority: *priority,
                        customer_id: 9_007_199_254_740_993 + i as i64,
                        group_id: (i % 2 == 0).then_some(i as i64),
                        assignee_id: Some(3),
                    });
                }
            }
        }
        for kind in MessageKind::ALL {
            payloads.push(EventPayload::MessageAdded {
                message_id: 5,
                message_kind: *kind,
                channel: Channel::Chat,
            });
        }
        for to in Status::ALL {
            payloads.push(EventPayload::StatusChanged {
                from: Status::Open,
                to: *to,
            });
        }
        for to in Priority::ALL {
            payloads.push(EventPayload::PriorityChanged {
                from: Priority::Low,
                to: *to,
            });
        }
        payloads.push(EventPayload::GroupChanged {
            from: None,
            to: Some(i64::MAX),
        });
        payloads.push(EventPayload::GroupChanged {
            from: Some(1),
            to: None,
        });
        for tag in [
            "vip",
            "two words ",
            "",
            "caf\u{e9} \"q\" \\ \n\t\u{1F600}",
            "-",
        ] {
            payloads.push(EventPayload::TagAdded { tag: tag.into() });
            payloads.push(EventPayload::TagRemoved { tag: tag.into() });
        }
        payloads.push(EventPayload::AssigneeChanged {
            from: None,
            to: Some(2),
        });
        payloads.push(EventPayload::SubjectChanged {
            from: "a".into(),
            to: "b".into(),
        });
        let jsons: Vec<String> = payloads.iter().map(EventPayload::to_json).collect();
        let mut tx = db.store.begin().await.unwrap();
        for (payload, json) in payloads.iter().zip(&jsons) {
            tx.append_event(&store::NewEvent {
                conversation: Some(n),
                kind: payload.kind(),
                actor_kind: "system",
                actor_id: None,
                at: T0 + MIN,
                payload: json,
            })
            .await
            .unwrap();
        }
        // A message without its kind: the clock reads no input from it.
        tx.append_event(&store::NewEvent {
            conversation: Some(n),
            kind: "message_added",
            actor_kind: "system",
            actor_id: None,
            at: T0 + MIN,
            payload: r#"{"kind":"message_added","message_id":6,"channel":"chat"}"#,
        })
        .await
        .unwrap();
        tx.commit().await.unwrap();

        let mut batches = db.store.scan_sla_batches(100);
        let batch = batches.recv().await.unwrap().unwrap();
        let read: Vec<&str> = batch.events().map(|e| e.input).collect();
        let mut expected: Vec<String> = payloads
            .iter()
            .filter_map(::sla::ClockInput::of)
            .map(|input| ::sla::clock_input_text(&input))
            .collect();
        expected.push("?".into());
        // The conversation's own events come first.
        let created = read.len() - expected.len();
        assert_eq!(read[created..], expected, "{}", db.name);
        for text in &read[..created] {
            assert!(
                ::sla::read_clock_input(text).is_some(),
                "{}: {text}",
                db.name
            );
        }
        for (text, payload) in read[created..]
            .iter()
            .zip(payloads.iter().filter(|p| ::sla::is_clock_input(p)))
        {
            assert_eq!(
                ::sla::read_clock_input(text),
                ::sla::ClockInput::of(payload),
                "{}",
                db.name
            );
        }
        // The events come in log order, each with its own id and instant.
        let mut tx = db.store.begin().await.unwrap();
        let logged: Vec<(i64, i64)> = tx
            .events_of_conversation(n)
            .await
            .unwrap()
            .into_iter()
            .filter(|e| store::SLA_INPUT_KINDS.contains(&e.kind.as_str()))
            .map(|e| (e.id, e.at))
            .collect();
        tx.rollback().await.unwrap();
        let read: Vec<(i64, i64)> = batch.events().map(|e| (e.id, e.at)).collect();
        assert_eq!(read, logged, "{}", db.name);
        assert!(batches.recv().await.is_none(), "{}", db.name);
        db.finish().await;
    }
}
