//! The administration pages (`/app/admin`): only administrators reach them (every other
//! role gets the 403 page, a visitor the sign-in page); each form changes what it says with
//! an event naming the administrator; a refused form comes back with the typed input and
//! the reason beside its field.

use axum::http::StatusCode;
use domain::Principal;

use crate::support::*;
use crate::ui::{Browser, Page, Ui};

const PAGES: &[&str] = &[
    "/app/admin",
    "/app/admin/users",
    "/app/admin/groups",
    "/app/admin/mailboxes",
    "/app/admin/mailboxes/new",
    "/app/admin/sla",
    "/app/admin/calendars/new",
    "/app/admin/policies/new",
];

/// Every event of the log that has no conversation, as (kind, actor id, payload).
async fn admin_events(ui: &Ui) -> Vec<(String, Option<i64>, serde_json::Value)> {
    whole_log(&ui.db.store)
        .await
        .into_iter()
        .filter(|e| e.conversation.is_none())
        .map(|e| {
            (
                e.kind,
                e.actor_id,
                serde_json::from_str(&e.payload).unwrap(),
            )
        })
        .collect()
}

/// The value attribute of the input named `name` on a page.
fn input_value<'a>(body: &'a str, name: &str) -> &'a str {
    let at = body
        .find(&format!("name=\"{name}\""))
        .unwrap_or_else(|| panic!("no field {name}"));
    let rest = &body[at..];
    let start = rest.find("value=\"").unwrap() + 7;
    let end = rest[start..].find('"').unwrap() + start;
    &rest[start..end]
}

/// The error shown beside the field `name`, if any.
fn field_error<'a>(body: &'a str, name: &str) -> Option<&'a str> {
    let marker = format!("id=\"{name}-error\">");
    let start = body.find(&marker)? + marker.len();
    let end = body[start..].find("</p>")? + start;
    Some(&body[start..end])
}

/// Posts an administration form as `who`, with the session's CSRF token first.
async fn submit(ui: &Ui, who: &Browser, path: &str, pairs: &[(&str, &str)]) -> Page {
    let mut form = vec![("csrf", who.csrf.as_str())];
    form.extend_from_slice(pairs);
    ui.post(path, who, &form).await
}

/// [`submit`] of a form that is accepted: 303 to where the change shows.
async fn saved(ui: &Ui, who: &Browser, path: &str, pairs: &[(&str, &str)]) -> Page {
    let page = submit(ui, who, path, pairs).await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    page
}

/// [`submit`] of a form that is refused: 422, with the reason beside `field`.
async fn refused(ui: &Ui, who: &Browser, path: &str, pairs: &[(&str, &str)], field: &str) -> Page {
    let page = submit(ui, who, path, pairs).await;
    assert_eq!(
        page.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        page.body
    );
    assert!(field_error(&page.body, field).is_some(), "{}", page.body);
    page
}

async fn mailbox_at(ui: &Ui, address: &str) -> store::MailboxRow {
    let mailboxes = ui.db.app().mailboxes().await.unwrap();
    mailboxes
        .into_iter()
        .find(|m| m.address == address)
        .unwrap()
}

async fn admin(ui: &Ui) -> (Team, Browser) {
    let team = team(&ui.db.app()).await;
    let browser = ui.sign_in("admin@t.test", "pw-1234").await;
    (team, browser)
}

#[tokio::test]
async fn only_administrators_reach_the_admin_pages() {
    for db in backends().await {
        let ui = Ui::new(db).await;
        let app = ui.db.app();
        team(&app).await;
        let c = app
            .create_conversation(
                &Principal::System,
                inbound("cust@x.test", "Hi", "Hello", None),
                T0,
            )
            .await
            .unwrap();
        app.set_customer_password(&Principal::System, c.customer.id, "pw-cust")
            .await
            .unwrap();
        for path in PAGES {
            let page = ui.send("GET", path, None, None).await;
            assert_eq!(page.status, StatusCode::SEE_OTHER, "{path}");
            assert!(page.location().starts_with("/login"), "{path}");
        }
        for (email, password) in [
            ("agent@t.test", "pw-1234"),
            ("lead@t.test", "pw-1234"),
            ("manager@t.test", "pw-1234"),
            ("cust@x.test", "pw-cust"),
        ] {
            let who = ui.sign_in(email, password).await;
            for path in PAGES {
                let page = ui.get(path, &who).await;
                assert_eq!(page.status, StatusCode::FORBIDDEN, "{email} {path}");
            }
            let csrf = who.csrf.clone();
            for (path, pairs) in [
                (
                    "/app/admin/users",
                    vec![
                        ("email", "new@t.test"),
                        ("role", "admin"),
                        ("password", "long-enough-pw"),
                    ],
                ),
                ("/app/admin/groups", vec![("name", "Sneaky")]),
                ("/app/admin/users/1/role", vec![("role", "admin")]),
                (
                    "/app/admin/calendars/new",
                    vec![
                        ("name", "X"),
                        ("time_zone", "UTC"),
                        ("hours", "mon 09:00-17:00"),
                    ],
                ),
            ] {
                let mut pairs = pairs;
                pairs.push(("csrf", &csrf));
                let page = ui.post(path, &who, &pairs).await;
                assert_eq!(page.status, StatusCode::FORBIDDEN, "{email} POST {path}");
            }
            if email != "cust@x.test" {
                let app_page = ui.get("/app", &who).await;
                assert!(
                    !app_page.body.contains("href=\"/app/admin\""),
                    "{email} sees no admin link"
                );
            }
        }
        assert!(ui
            .db
            .app()
            .agents(&Principal::System)
            .await
            .unwrap()
            .iter()
            .all(|a| a.email != "new@t.test"));
        let (_, admin) = (0, ui.sign_in("admin@t.test", "pw-1234").await);
        for path in PAGES {
            let page = ui.get(path, &admin).await;
            assert_eq!(page.status, StatusCode::OK, "admin {path}: {}", page.body);
            assert!(
                page.body.contains("name=\"csrf\""),
                "{path} has a form with the CSRF token"
            );
        }
        assert!(ui
            .get("/app", &admin)
            .await
            .body
            .contains("href=\"/app/admin\""));
        ui.db.finish().await;
    }
}

#[tokio::test]
async fn administrators_add_agents_change_roles_and_deactivate_them() {
    for db in backends().await {
        let ui = Ui::new(db).await;
        let (team, admin) = admin(&ui).await;
        let page = ui.get("/app/admin/users", &admin).await;
        assert!(page.body.contains("agent@t.test"));
        assert!(page
            .body
            .contains("<label for=\"email\">E-mail address</label>"));

        // Without the CSRF token nothing happens.
        let forged = ui
            .post(
                "/app/admin/users",
                &admin,
                &[
                    ("email", "x@t.test"),
                    ("role", "agent"),
                    ("password", "long-enough-pw"),
                ],
            )
            .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN);

        // Refused: the reason beside the field, what was typed kept (never the password).
        let bad = refused(
            &ui,
            &admin,
            "/app/admin/users",
            &[
                ("email", "not an address"),
                ("name", "Nora Typed"),
                ("role", "lead"),
                ("password", "long-enough-pw"),
                ("groups", &team.support.to_string()),
            ],
            "email",
        )
        .await;
        assert_eq!(input_value(&bad.body, "name"), "Nora Typed");
        assert_eq!(input_value(&bad.body, "email"), "not an address");
        assert!(bad.body.contains("<option value=\"lead\" selected>"));
        assert!(bad
            .body
            .contains("aria-invalid=\"true\" aria-describedby=\"email-error\" autofocus"));
        assert!(!bad.body.contains("long-enough-pw"));
        for (email, password, field, reason) in [
            ("nora@t.test", "short", "password", "12 characters"),
            ("agent@t.test", "long-enough-pw", "email", "already exists"),
        ] {
            let pairs = [("email", email), ("role", "agent"), ("password", password)];
            let page = refused(&ui, &admin, "/app/admin/users", &pairs, field).await;
            assert!(field_error(&page.body, field).unwrap().contains(reason));
        }

        saved(
            &ui,
            &admin,
            "/app/admin/users",
            &[
                ("email", "nora@t.test"),
                ("name", "Nora"),
                ("role", "agent"),
                ("password", "long-enough-pw"),
                ("groups", &team.support.to_string()),
            ],
        )
        .await;
        let nora = ui
            .db
            .app()
            .agents(&Principal::System)
            .await
            .unwrap()
            .into_iter()
            .find(|a| a.email == "nora@t.test")
            .unwrap();
        let nora_browser = ui.sign_in("nora@t.test", "long-enough-pw").await;
        assert_eq!(ui.get("/app", &nora_browser).await.status, StatusCode::OK);

        saved(
            &ui,
            &admin,
            &format!("/app/admin/users/{}/role", nora.id),
            &[("role", "lead")],
        )
        .await;
        // An administrator cannot demote or deactivate themselves.
        let admin_id = match team.admin {
            Principal::Agent { id, .. } => id,
            _ => unreachable!(),
        };
        let own = submit(
            &ui,
            &admin,
            &format!("/app/admin/users/{admin_id}/role"),
            &[("role", "agent")],
        )
        .await;
        assert_eq!(own.status, StatusCode::CONFLICT);
        saved(
            &ui,
            &admin,
            &format!("/app/admin/users/{}/deactivate", nora.id),
            &[],
        )
        .await;
        // Her open session stops working at once.
        let after = ui.get("/app", &nora_browser).await;
        assert_eq!(after.status, StatusCode::SEE_OTHER);
        let list = ui.get("/app/admin/users?done=deactivated", &admin).await;
        assert!(list.body.contains("Deactivated"));

        let events = admin_events(&ui).await;
        let by_admin = |kind: &str| {
            events
                .iter()
                .filter(|(k, actor, _)| k == kind && *actor == Some(admin_id))
                .map(|(_, _, p)| p.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(by_admin("agent_added").len(), 1, "{events:?}");
        assert_eq!(by_admin("agent_added")[0]["email"], "nora@t.test");
        assert_eq!(by_admin("group_membership_changed")[0]["agent_id"], nora.id);
        let roles = by_admin("agent_role_changed");
        assert_eq!(
            (roles.len(), &roles[0]["from"], &roles[0]["to"]),
            (1, &"agent".into(), &"lead".into())
        );
        assert_eq!(by_admin("agent_deactivated")[0]["agent_id"], nora.id);
        ui.db.finish().await;
    }
}

#[tokio::test]
async fn administrators_manage_groups_and_their_members() {
    for db in backends().await {
        let ui = Ui::new(db).await;
        let (team, admin) = admin(&ui).await;
        let empty = refused(&ui, &admin, "/app/admin/groups", &[("name", "  ")], "name").await;
        assert!(field_error(&empty.body, "name")
            .unwrap()
            .contains("needs a name"));
        let taken = submit(&ui, &admin, "/app/admin/groups", &[("name", "Billing")]).await;
        assert_eq!(taken.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(input_value(&taken.body, "name"), "Billing");
        saved(&ui, &admin, "/app/admin/groups", &[("name", "Returns")]).await;
        let returns = ui
            .db
            .store
            .group_by_name("Returns")
            .await
            .unwrap()
            .unwrap()
            .id;
        let agent = team.agent_id.to_string();
        saved(
            &ui,
            &admin,
            &format!("/app/admin/groups/{returns}/members"),
            &[("agent", &agent), ("member", "yes")],
        )
        .await;
        assert_eq!(
            ui.db.store.agent_groups(team.agent_id).await.unwrap(),
            vec![team.support, returns]
        );
        let page = ui.get("/app/admin/groups", &admin).await;
        assert!(
            page.body
                .contains("aria-label=\"Remove agent@t.test &#60;agent@t.test&#62; from Returns\""),
            "{}",
            page.body
        );
        saved(
            &ui,
            &admin,
            &format!("/app/admin/groups/{}/members", team.support),
            &[("agent", &agent), ("member", "no")],
        )
        .await;
        assert_eq!(
            ui.db.store.agent_groups(team.agent_id).await.unwrap(),
            vec![returns]
        );
        let missing = submit(
            &ui,
            &admin,
            "/app/admin/groups/9999/members",
            &[("agent", &agent), ("member", "yes")],
        )
        .await;
        assert_eq!(missing.status, StatusCode::NOT_FOUND);
        let events = admin_events(&ui).await;
        assert!(events
            .iter()
            .any(|(k, _, p)| k == "group_added" && p["name"] == "Returns"));
        let moves: Vec<bool> = events
            .iter()
            .filter(|(k, _, p)| {
                k == "group_membership_changed"
                    && p["agent_id"] == team.agent_id
                    && p["group_id"] != serde_json::Value::Null
            })
            .map(|(_, _, p)| p["member"].as_bool().unwrap())
            .collect();
        assert_eq!(
            moves,
            vec![true, true, false],
            "joined Support (setup), Returns, left Support"
        );
        ui.db.finish().await;
    }
}

#[tokio::test]
async fn administrators_configure_mailboxes_with_a_group_and_an_acknowledgement() {
    for db in backends().await {
        let ui = Ui::new(db).await;
        let (team, admin) = admin(&ui).await;
        let support = team.support.to_string();
        let bad = refused(
            &ui,
            &admin,
            "/app/admin/mailboxes/new",
            &[
                ("address", "help at acme"),
                ("name", "Acme Help"),
                ("group", &support),
            ],
            "address",
        )
        .await;
        assert_eq!(input_value(&bad.body, "address"), "help at acme");
        assert_eq!(input_value(&bad.body, "name"), "Acme Help");
        assert!(bad
            .body
            .contains(&format!("<option value=\"{support}\" selected>")));
        saved(
            &ui,
            &admin,
            "/app/admin/mailboxes/new",
            &[
                ("address", "help@acme.test"),
                ("name", "Acme Help"),
                ("group", &support),
                ("acknowledge", "on"),
                ("acknowledgement", "We have your request #{number}."),
            ],
        )
        .await;
        let mailbox = mailbox_at(&ui, "help@acme.test").await;
        assert_eq!(
            (mailbox.group_id, mailbox.acknowledge),
            (Some(team.support), true)
        );
        assert_eq!(
            mailbox.acknowledgement.as_deref(),
            Some("We have your request #{number}.")
        );
        let list = ui.get("/app/admin/mailboxes", &admin).await;
        assert!(list.body.contains("help@acme.test"));
        let edit = ui
            .get(&format!("/app/admin/mailboxes/{}", mailbox.id), &admin)
            .await;
        assert!(edit
            .body
            .contains("We have your request #{number}.</textarea>"));
        let billing = team.billing.to_string();
        let edit_path = format!("/app/admin/mailboxes/{}", mailbox.id);
        let pairs = [
            ("name", "Billing desk"),
            ("group", billing.as_str()),
            ("acknowledgement", ""),
        ];
        saved(&ui, &admin, &edit_path, &pairs).await;
        let mailbox = mailbox_at(&ui, "help@acme.test").await;
        assert_eq!(
            (
                mailbox.name.as_str(),
                mailbox.group_id,
                mailbox.acknowledge,
                mailbox.acknowledgement
            ),
            ("Billing desk", Some(team.billing), false, None)
        );
        let events = admin_events(&ui).await;
        assert!(events
            .iter()
            .any(|(k, _, p)| k == "mailbox_added" && p["address"] == "help@acme.test"));
        assert!(events
            .iter()
            .any(|(k, _, p)| k == "mailbox_changed" && p["group_id"] == team.billing));
        ui.db.finish().await;
    }
}

#[tokio::test]
async fn administrators_edit_calendars_and_sla_policies_with_errors_beside_the_field() {
    for db in backends().await {
        let ui = Ui::new(db).await;
        let (_, admin) = admin(&ui).await;
        let bad = refused(
            &ui,
            &admin,
            "/app/admin/calendars/new",
            &[
                ("name", "Office"),
                ("time_zone", "Mars/Olympus"),
                ("hours", "mon-fri 09:00-17:00"),
                ("holidays", "--12-25"),
            ],
            "time_zone",
        )
        .await;
        assert_eq!(input_value(&bad.body, "time_zone"), "Mars/Olympus");
        assert!(bad.body.contains("--12-25</textarea>"));
        saved(
            &ui,
            &admin,
            "/app/admin/calendars/new",
            &[
                ("name", "Office"),
                ("time_zone", "Europe/Brussels"),
                ("hours", "mon-fri 09:00-17:00"),
                ("holidays", "--12-25\n2026-04-06"),
            ],
        )
        .await;
        let app = ui.db.app();
        let calendar = app
            .sla_calendars(&Principal::System)
            .await
            .unwrap()
            .remove(0);
        assert_eq!(calendar.holidays, vec!["--12-25", "2026-04-06"]);
        let calendar_id = calendar.id.to_string();
        // Organisations come from imports and e-mail domains; the form offers them all.
        let mut tx = ui.db.store.begin().await.unwrap();
        let acme = tx
            .insert_organization("Acme", Some("acme.test"), T0)
            .await
            .unwrap();
        tx.insert_organization("Globex", None, T0).await.unwrap();
        tx.commit().await.unwrap();
        let acme_id = acme.to_string();

        let gold = |targets: &'static str| {
            vec![
                ("name", "Gold"),
                ("calendar", calendar_id.as_str()),
                ("targets", targets),
                ("warn_at_percent", "75"),
                ("priorities", "high"),
                ("organisations", acme_id.as_str()),
            ]
        };
        let new_policy = "/app/admin/policies/new";
        let form = gold("first_reply normal 60 business\nfirst_reply soon 30 business");
        let bad = refused(&ui, &admin, new_policy, &form, "targets").await;
        assert!(
            field_error(&bad.body, "targets")
                .unwrap()
                .contains("line 2"),
            "{}",
            bad.body
        );
        assert!(bad.body.contains("first_reply soon 30 business</textarea>"));
        assert!(bad.body.contains("value=\"high\" checked"));
        assert!(
            bad.body.contains(&format!(
                "name=\"organisations\" value=\"{acme}\" checked> Acme"
            )),
            "the ticked organisation is kept: {}",
            bad.body
        );
        assert!(bad.body.contains("> Globex</label>"));
        assert!(bad
            .body
            .contains(&format!("<option value=\"{calendar_id}\" selected>")));
        let mut form = gold("first_reply normal 60 business\nresolution high 240 business");
        form.extend([("on_hold_pauses", "on"), ("tags", "VIP")]);
        saved(&ui, &admin, new_policy, &form).await;
        let policy = app
            .sla_policies(&Principal::System)
            .await
            .unwrap()
            .remove(0);
        assert_eq!(policy.targets.len(), 2);
        assert_eq!(policy.warn_at_percent, Some(75));
        assert!(policy.on_hold_pauses);
        assert_eq!(policy.conditions.tags, vec!["vip"]);
        assert_eq!(policy.conditions.priorities, vec![domain::Priority::High]);
        assert_eq!(policy.conditions.organisations, vec![acme]);
        let edit = ui
            .get(&format!("/app/admin/policies/{}", policy.id), &admin)
            .await;
        assert!(
            edit.body.contains(
                "first_reply normal 60 business\nresolution high 240 business</textarea>"
            ),
            "{}",
            edit.body
        );
        assert!(edit.body.contains(&format!(
            "name=\"organisations\" value=\"{acme}\" checked> Acme"
        )));
        let edit_path = format!("/app/admin/policies/{}", policy.id);
        let pairs = [
            ("name", "Gold customers"),
            ("calendar", calendar_id.as_str()),
            ("targets", "first_reply normal 30 business"),
        ];
        saved(&ui, &admin, &edit_path, &pairs).await;
        let policies = app.sla_policies(&Principal::System).await.unwrap();
        assert!(
            policies[0].conditions.organisations.is_empty(),
            "untick every organisation: any organisation"
        );
        let sla = ui.get("/app/admin/sla", &admin).await;
        assert!(sla.body.contains("Gold customers") && sla.body.contains("Office"));
        let events = admin_events(&ui).await;
        let changes: Vec<String> = events
            .iter()
            .filter(|(k, _, _)| k == "sla_calendar_changed" || k == "sla_policy_changed")
            .map(|(k, _, p)| format!("{k} {}", p["change"].as_str().unwrap()))
            .collect();
        assert_eq!(
            changes,
            vec![
                "sla_calendar_changed added",
                "sla_policy_changed added",
                "sla_policy_changed updated"
            ]
        );
        ui.db.finish().await;
    }
}

#[tokio::test]
async fn administrators_delete_calendars_and_policies_after_confirming_and_a_used_calendar_is_kept()
{
    for db in backends().await {
        let ui = Ui::new(db).await;
        let (team, admin) = admin(&ui).await;
        let csrf = admin.csrf.clone();
        let app = ui.db.app();
        let calendar = app
            .add_sla_calendar(
                &team.admin,
                app::CalendarInput {
                    name: "Office".into(),
                    time_zone: "Europe/Brussels".into(),
                    hours: "mon-fri 09:00-17:00".into(),
                    holidays: vec![],
                    exceptions: vec![],
                },
                T0,
            )
            .await
            .unwrap();
        let policy = app
            .add_sla_policy(
                &team.admin,
                app::PolicyInput {
                    name: "Gold".into(),
                    position: None,
                    conditions: ::sla::Conditions::default(),
                    calendar_id: Some(calendar.id),
                    targets: vec![::sla::TargetRule {
                        metric: domain::SlaMetric::FirstReply,
                        priority: domain::Priority::Normal,
                        minutes: 60,
                        basis: domain::SlaBasis::Business,
                    }],
                    warn_at_percent: None,
                    on_hold_pauses: true,
                },
                T0,
            )
            .await
            .unwrap();
        let calendar_delete = format!("/app/admin/calendars/{}/delete", calendar.id);
        let policy_delete = format!("/app/admin/policies/{}/delete", policy.id);

        // The edit pages link to a confirmation page whose form carries the CSRF token.
        let edit = ui
            .get(&format!("/app/admin/calendars/{}", calendar.id), &admin)
            .await;
        assert!(edit.body.contains(&format!("href=\"{calendar_delete}\"")));
        let edit = ui
            .get(&format!("/app/admin/policies/{}", policy.id), &admin)
            .await;
        assert!(edit.body.contains(&format!("href=\"{policy_delete}\"")));
        let confirm = ui.get(&calendar_delete, &admin).await;
        assert_eq!(confirm.status, StatusCode::OK);
        assert!(confirm.body.contains("Delete the calendar Office?"));
        assert!(
            confirm.body.contains("name=\"csrf\"") && confirm.body.contains("name=\"confirm\"")
        );

        // Refused: without the CSRF token; by anyone but an administrator; unconfirmed.
        let forged = ui
            .post(&calendar_delete, &admin, &[("confirm", "yes")])
            .await;
        assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
        for (email, password) in [("manager@t.test", "pw-1234"), ("lead@t.test", "pw-1234")] {
            let who = ui.sign_in(email, password).await;
            for path in [&calendar_delete, &policy_delete] {
                assert_eq!(ui.get(path, &who).await.status, StatusCode::FORBIDDEN);
                let page = ui
                    .post(path, &who, &[("csrf", &who.csrf), ("confirm", "yes")])
                    .await;
                assert_eq!(page.status, StatusCode::FORBIDDEN, "{email} {path}");
            }
        }
        let unconfirmed = ui.post(&policy_delete, &admin, &[("csrf", &csrf)]).await;
        assert_eq!(unconfirmed.status, StatusCode::OK);
        assert!(unconfirmed.body.contains("Delete the SLA policy Gold?"));
        assert_eq!(app.sla_policies(&team.admin).await.unwrap().len(), 1);

        // A calendar a policy still uses stays, and the page says which policy.
        let used = ui
            .post(
                &calendar_delete,
                &admin,
                &[("csrf", &csrf), ("confirm", "yes")],
            )
            .await;
        assert_eq!(
            used.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            used.body
        );
        let reason = field_error(&used.body, "delete").expect("the reason is shown");
        assert!(reason.contains("Gold"), "{reason}");
        assert_eq!(app.sla_calendars(&team.admin).await.unwrap().len(), 1);

        // Policy first, then the calendar.
        let deleted = ui
            .post(
                &policy_delete,
                &admin,
                &[("csrf", &csrf), ("confirm", "yes")],
            )
            .await;
        assert_eq!(deleted.status, StatusCode::SEE_OTHER, "{}", deleted.body);
        assert_eq!(deleted.location(), "/app/admin/sla?done=deleted");
        assert!(app.sla_policies(&team.admin).await.unwrap().is_empty());
        let deleted = ui
            .post(
                &calendar_delete,
                &admin,
                &[("csrf", &csrf), ("confirm", "yes")],
            )
            .await;
        assert_eq!(deleted.status, StatusCode::SEE_OTHER, "{}", deleted.body);
        assert!(app.sla_calendars(&team.admin).await.unwrap().is_empty());
        let sla = ui.get("/app/admin/sla?done=deleted", &admin).await;
        assert!(sla.body.contains("Deleted."));
        assert_eq!(
            ui.get(&calendar_delete, &admin).await.status,
            StatusCode::NOT_FOUND
        );

        // Each deletion is an event naming the administrator.
        let admin_id = app
            .agents(&Principal::System)
            .await
            .unwrap()
            .into_iter()
            .find(|a| a.email == "admin@t.test")
            .unwrap()
            .id;
        let deletions: Vec<(String, Option<i64>, String)> = admin_events(&ui)
            .await
            .into_iter()
            .filter(|(_, _, p)| p["change"] == "deleted")
            .map(|(k, actor, p)| (k, actor, p["name"].as_str().unwrap().to_string()))
            .collect();
        assert_eq!(
            deletions,
            vec![
                ("sla_policy_changed".into(), Some(admin_id), "Gold".into()),
                (
                    "sla_calendar_changed".into(),
                    Some(admin_id),
                    "Office".into()
                ),
            ]
        );
        ui.db.finish().await;
    }
}
