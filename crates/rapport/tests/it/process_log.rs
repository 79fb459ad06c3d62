//! Rapport's own log as a process-mining log: the documented mapping, and who may read it.

use domain::{MessageKind, Principal, Status};

use crate::support::{backends, inbound, message, post_message, team, T0};

#[tokio::test]
async fn the_conversation_log_maps_to_activities_and_only_managers_read_it() {
    for db in backends().await {
        let app = db.app();
        let t = team(&app).await;
        let c = app
            .create_conversation(
                &Principal::System,
                inbound("ann@x.test", "Help", "Hi", Some(t.support)),
                T0,
            )
            .await
            .unwrap();
        app.add_message(
            &t.agent,
            c.number,
            message(MessageKind::Reply, "Hello"),
            Some(Status::Pending),
            T0 + 60_000,
        )
        .await
        .unwrap();
        post_message(
            &app,
            &Principal::System,
            c.number,
            MessageKind::Customer,
            "Thanks",
            T0 + 120_000,
        )
        .await;
        app.add_message(
            &t.agent,
            c.number,
            message(MessageKind::Reply, "Done"),
            Some(Status::Solved),
            T0 + 180_000,
        )
        .await
        .unwrap();
        for who in [&t.agent, &t.lead] {
            assert!(matches!(
                app.process_log(who).await,
                Err(app::AppError::Forbidden(_))
            ));
        }
        let log = app.process_log(&t.manager).await.unwrap();
        let variants = mining::Variants::discover(&log, &log.classify(mining::Classifier::Name));
        let report = serde_json::to_value(mining::report::variants_report(&variants)).unwrap();
        assert_eq!(
            report[0]["activities"],
            serde_json::json!([
                "Created",
                "First reply",
                "Pending",
                "Customer replied",
                "Agent replied",
                "Solved"
            ]),
            "{}: {report}",
            db.name
        );
        db.finish().await;
    }
}
