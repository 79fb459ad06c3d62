//! `rapport demo`: a quarter of a service team's work, generated from a seed and played
//! through the real use cases, so that every conversation has a true event log (who
//! assigned, replied, waited, reopened and solved, and when).
//!
//! Customers' words come from a sample of public customer-support datasets shipped in
//! `crates/rapport/demo/` (see ATTRIBUTION.md there). Times follow business days and hours
//! in the 90 days up to now; steps that would lie in the future are not played, so the
//! newest conversations are still new, open or pending, as in a real queue.

use anyhow::Context;
use domain::{Channel, MessageKind, Principal, Priority, Role, Status, DAY_MILLIS};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const SAMPLE: &str = include_str!("../demo/support_sample.tsv");
pub(crate) const PASSWORD: &str = "demo";
const HOUR: i64 = 3_600_000;
const MINUTE: i64 = 60_000;

/// The sign-ins printed when the demo starts.
pub const LOGINS: &[(&str, &str)] = &[
    ("admin@demo.test", "admin"),
    ("manager@demo.test", "manager"),
    ("lead@demo.test", "lead (Support, Billing)"),
    ("agent@demo.test", "agent (Support only)"),
    ("customer@demo.test", "customer (portal)"),
];

/// (e-mail, name, role, groups)
const AGENTS: &[(&str, &str, Role, &[&str])] = &[
    (
        "admin@demo.test",
        "Ada Admin",
        Role::Admin,
        &["Support", "Billing", "Technical"],
    ),
    ("manager@demo.test", "Morgan Manager", Role::Manager, &[]),
    (
        "lead@demo.test",
        "Lena Lead",
        Role::Lead,
        &["Support", "Billing"],
    ),
    ("agent@demo.test", "Alex Agent", Role::Agent, &["Support"]),
    ("sam@demo.test", "Sam Okafor", Role::Agent, &["Support"]),
    ("maria@demo.test", "Maria Rossi", Role::Agent, &["Billing"]),
    ("tom@demo.test", "Tom Becker", Role::Agent, &["Technical"]),
    (
        "priya@demo.test",
        "Priya Nair",
        Role::Agent,
        &["Technical", "Billing"],
    ),
];

const GROUPS: &[&str] = &["Support", "Billing", "Technical"];

/// The support addresses the demo receives mail for (address, name, group).
const MAILBOXES: &[(&str, &str, &str)] = &[
    ("support@demo.test", "Demo Support", "Support"),
    ("billing@demo.test", "Demo Billing", "Billing"),
];

/// The topics the demo's contact form offers, each with the group it goes to.
const WEB_TOPICS: &[(&str, &str)] = &[
    ("Order or delivery", "Support"),
    ("Returns and refunds", "Billing"),
    ("Invoice or payment", "Billing"),
    ("Technical problem", "Technical"),
    ("Something else", "Support"),
];

const FIRST_NAMES: &[&str] = &[
    "Emma", "Liam", "Olivia", "Noah", "Ava", "Lucas", "Mia", "Elias", "Sofia", "Mateo", "Amara",
    "Yusuf", "Hana", "Kenji", "Chloé", "Louis", "Ines", "Jonas", "Lea", "Finn", "Zara", "Omar",
    "Freya", "Arjun", "Maya", "Leon", "Nora", "Ivan", "Elif", "Diego", "Aisha", "Tomás", "Greta",
    "Marek", "Sara", "Ravi", "Julia", "Pieter", "Anouk", "Kwame", "Lin", "Wei", "Fatima", "Oscar",
];
const LAST_NAMES: &[&str] = &[
    "Janssens",
    "Peeters",
    "Maes",
    "Smith",
    "Jones",
    "García",
    "Müller",
    "Rossi",
    "Dubois",
    "Novak",
    "Kowalski",
    "Nielsen",
    "Silva",
    "Yamamoto",
    "Okafor",
    "Haddad",
    "Khan",
    "Murphy",
    "O'Brien",
    "Van Damme",
    "De Smet",
    "Lambert",
    "Schmidt",
    "Fischer",
    "Costa",
    "Andersson",
    "Horvat",
    "Ionescu",
    "Papadopoulos",
    "Cohen",
    "Singh",
    "Nguyen",
    "Kim",
    "Martin",
    "Bernard",
    "Leclercq",
];
const COMPANIES: &[&str] = &[
    "Northwind",
    "Contoso",
    "Fabrikam",
    "Tailspin",
    "Wingtip",
    "Adventure Works",
    "Litware",
    "Proseware",
    "Lucerne",
    "Coho Vineyard",
    "Alpine Ski House",
    "Blue Yonder",
    "Margie's Travel",
    "Trey Research",
    "Woodgrove",
    "Fourth Coffee",
    "Graphic Design Institute",
    "Humongous Insurance",
    "Relecloud",
    "Wide World Importers",
];
const PERSONAL_DOMAINS: &[&str] = &["mail.test", "post.test", "inbox.test", "webmail.test"];

const NOTES: &[&str] = &[
    "Checked the order history: the payment went through on our side.",
    "Customer has written before about the same issue; see the linked conversation.",
    "Asked the warehouse for a status update.",
    "Following the refund guideline: within policy, no approval needed.",
    "Looks like a bug in the checkout flow; reported to the product team.",
    "Verified the customer's identity by the last four digits of the card.",
];
/// What a team writes when a conversation it was handed goes back where it came from.
const HANDED_BACK_NOTES: &[&str] = &[
    "Not one for us: the account side looks fine. Sending it back with what I found.",
    "Checked our logs, nothing on our end. Back to you; see the note above.",
    "This needs the original team after all; I have added the details I could find.",
];
/// What a colleague writes before giving a conversation back to the agent who asked.
const SECOND_OPINION_NOTES: &[&str] = &[
    "Had a look as asked: the order is correct. Giving it back to you to answer.",
    "I have seen this before; the refund guideline applies. Back to you.",
    "Confirmed with the warehouse. You can answer the customer now.",
];
const CUSTOMER_FOLLOW_UPS: &[&str] = &[
    "Thanks for the quick answer. I tried that but it still does not work, could you check again?",
    "Here is the extra information you asked for. Let me know if you need anything else.",
    "I did what you said and it worked. Thank you!",
    "Sorry, I still have not received anything. What should I do now?",
    "Could you confirm once this is done? Thanks.",
];
const AGENT_FOLLOW_UPS: &[&str] = &[
    "Thank you for the details. I have fixed this on our side; you should see the change within the hour. Let us know if anything is still off.",
    "Thanks for getting back to us. I have escalated this and applied the correction to your account. It is resolved now.",
    "Glad to hear it works! I will close this conversation, but just reply if you need us again.",
    "I checked again and found the problem: it is corrected now. Apologies for the trouble.",
];
const GENERIC_REPLIES: &[&str] = &[
    "Thank you for contacting us. I have looked into your account and can help with this. Could you confirm the date and amount of the transaction so I can trace it?",
    "Thanks for reaching out. This usually takes one to three business days to appear. I have checked and everything is in order on our side; I will keep this open until you confirm.",
    "I am sorry for the inconvenience. I have raised this with our payments team and you will see the correction shortly. Is there anything else I can help with?",
];

pub struct Sample {
    pub category: String,
    pub intent: String,
    pub subject: String,
    pub customer_text: String,
    pub agent_reply: Option<String>,
}

pub fn samples() -> Vec<Sample> {
    SAMPLE
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            if fields.len() != 6 {
                return None;
            }
            let unescape = |s: &str| s.replace("\\n", "\n");
            Some(Sample {
                category: fields[1].to_lowercase(),
                intent: fields[2].to_lowercase().replace(['?', ' '], ""),
                subject: fields[3].to_string(),
                customer_text: unescape(fields[4]),
                agent_reply: Some(unescape(fields[5])).filter(|s| !s.trim().is_empty()),
            })
        })
        .collect()
}

/// Which team a kind of request goes to.
fn group_for(category: &str) -> &'static str {
    match category {
        "payment" | "invoice" | "refund" | "cancellation_fee" | "card_payment" | "transfer"
        | "top_up" | "exchange" => "Billing",
        "account" | "verification" | "card" | "cash_withdrawal" | "newsletter" => "Technical",
        _ => "Support",
    }
}

struct Customer {
    name: String,
    email: String,
    phone: Option<String>,
}

fn customers(rng: &mut StdRng, count: usize) -> Vec<Customer> {
    let mut list = vec![Customer {
        name: "Casey Customer".into(),
        email: "customer@demo.test".into(),
        phone: Some("+32 470 00 00 01".into()),
    }];
    for i in 1..count {
        let first = FIRST_NAMES[rng.gen_range(0..FIRST_NAMES.len())];
        let last = LAST_NAMES[rng.gen_range(0..LAST_NAMES.len())];
        let domain = if rng.gen_bool(0.3) {
            let company = COMPANIES[rng.gen_range(0..COMPANIES.len())];
            format!("{}.test", company.to_lowercase().replace([' ', '\''], ""))
        } else {
            PERSONAL_DOMAINS[rng.gen_range(0..PERSONAL_DOMAINS.len())].to_string()
        };
        let local: String = format!("{first}.{last}{i}")
            .to_lowercase()
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '.')
            .collect();
        let phone = rng.gen_bool(0.15).then(|| {
            format!(
                "+32 4{:02} {:02} {:02} {:02}",
                rng.gen_range(70..100),
                i / 10000 % 100,
                i / 100 % 100,
                i % 100
            )
        });
        list.push(Customer {
            name: format!("{first} {last}"),
            email: format!("{local}@{domain}"),
            phone,
        });
    }
    list
}

/// A moment in business hours on a weekday (occasionally evenings and weekends, as e-mail
/// and web forms arrive then too) within `days` days after `start`.
fn contact_time(rng: &mut StdRng, start: i64, days: i64) -> i64 {
    loop {
        let day = rng.gen_range(0..days);
        let t = start + day * DAY_MILLIS;
        let weekday = (t / DAY_MILLIS + 4).rem_euclid(7); // 0 = Sunday (1970-01-01 was a Thursday)
        let weekend = weekday == 0 || weekday == 6;
        if weekend && rng.gen_bool(0.85) {
            continue;
        }
        let hour = if rng.gen_bool(0.9) {
            rng.gen_range(8..18)
        } else {
            rng.gen_range(18..23)
        };
        return t + hour * HOUR + rng.gen_range(0..60) * MINUTE + rng.gen_range(0..60) * 1000;
    }
}

/// A waiting time with a long tail: median `median`, rarely more than ten times that.
fn delay(rng: &mut StdRng, median: i64) -> i64 {
    let factor: f64 = (rng.gen_range(-1.2f64..1.6)).exp();
    ((median as f64) * factor) as i64 + rng.gen_range(0..MINUTE)
}

struct Team {
    agents: Vec<(i64, Principal, Vec<&'static str>)>,
    groups: Vec<(&'static str, i64)>,
    lead: Principal,
}

impl Team {
    fn group_id(&self, name: &str) -> Option<i64> {
        self.groups
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, id)| *id)
    }

    /// A working agent of the group (admins and managers rarely take conversations).
    fn pick_agent(&self, rng: &mut StdRng, group: &str) -> Option<(i64, Principal)> {
        let candidates: Vec<&(i64, Principal, Vec<&str>)> = self
            .agents
            .iter()
            .filter(|(_, p, groups)| {
                groups.contains(&group)
                    && !matches!(
                        p,
                        Principal::Agent {
                            role: Role::Admin | Role::Manager,
                            ..
                        }
                    )
            })
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let (id, principal, _) = candidates[rng.gen_range(0..candidates.len())];
        Some((*id, principal.clone()))
    }

    /// A working agent of the group other than `not`.
    fn pick_other_agent(
        &self,
        rng: &mut StdRng,
        group: &str,
        not: i64,
    ) -> Option<(i64, Principal)> {
        let candidates: Vec<&(i64, Principal, Vec<&str>)> = self
            .agents
            .iter()
            .filter(|(id, p, groups)| {
                *id != not
                    && groups.contains(&group)
                    && !matches!(
                        p,
                        Principal::Agent {
                            role: Role::Admin | Role::Manager,
                            ..
                        }
                    )
            })
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let (id, principal, _) = candidates[rng.gen_range(0..candidates.len())];
        Some((*id, principal.clone()))
    }
}

/// Work that goes back and forth before the first reply, as in any real quarter: the ping-pong
/// a process map should show.
#[derive(Clone, Copy, PartialEq)]
enum Handover {
    None,
    /// The agent hands it to another team, which sends it back.
    ToTeamAndBack,
    /// The agent asks a colleague of the team, who gives it back.
    ToColleagueAndBack,
}

impl Handover {
    /// About one conversation in sixteen goes to another team and back, one in twenty-five
    /// to a colleague and back.
    fn draw(rng: &mut StdRng) -> Handover {
        match rng.gen_range(0..100) {
            0..=5 => Handover::ToTeamAndBack,
            6..=9 => Handover::ToColleagueAndBack,
            _ => Handover::None,
        }
    }
}

/// The handovers draw from their own generator, so adding them left every other step of the
/// demo as it was for the same seed.
fn handover_rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed ^ 0x7069_6e67_2d70_6f6e) // "ping-pon"
}

/// Seeds the demo when the database has no agents yet; `false` when it already had data.
pub async fn seed_if_empty(
    app: &app::App,
    seed: u64,
    conversations: usize,
    now: i64,
) -> anyhow::Result<bool> {
    if app.store.count(store::Table::Agents).await? > 0 {
        return Ok(false);
    }
    app.store.set_bulk_load(true).await?;
    let result = seed_demo(app, seed, conversations, now).await;
    // Surveys of the quarter's solved conversations and priorities research
    // (`demo_surveys.rs`).
    let result = match result {
        Ok(()) => crate::demo_surveys::seed(app, seed, now).await.map(|counts| {
            let (sent, answered, research) = counts;
            eprintln!(
                "surveys: {sent} sent, {answered} answered; {research} priorities-research responses"
            );
        }),
        failed => failed,
    };
    app.store.set_bulk_load(false).await?;
    result?;
    seed_sla(app, now).await?;
    seed_initiatives(app, now).await?;
    app.run_search_indexer(2000, now).await?;
    // Last, after everything seeded: the KPI roll-ups of the whole quarter, the exception
    // alerts they raise, and the published sector figures when the shared data is at hand.
    app.run_kpi_rollups(20_000, now).await?;
    app.check_kpi_alerts(now).await?;
    let benchmarks = std::path::Path::new("../shared/data/benchmarks/csat_sector_benchmarks.csv");
    if let Ok(text) = std::fs::read_to_string(benchmarks) {
        app.import_benchmarks(
            &Principal::System,
            "Published indices (ACSI, UKCSI, NCSI-UK)",
            &text,
            now,
        )
        .await?;
    }
    Ok(true)
}

/// Two improvement initiatives recorded by the manager. The last week of the demo is busier
/// than the team can handle (see `play`), so the one that started then shows a significant
/// worsening of the first reply time; the billing one, in calm weeks, no clear change.
async fn seed_initiatives(app: &app::App, now: i64) -> anyhow::Result<()> {
    let manager = app
        .store
        .agent_by_email("manager@demo.test")
        .await?
        .context("the demo team has a manager")?;
    let manager = app.agent_principal(manager.id).await?;
    let today = now / DAY_MILLIS * DAY_MILLIS;
    let billing = app
        .store
        .groups()
        .await?
        .into_iter()
        .find(|g| g.name == "Billing")
        .map(|g| g.id);
    let initiatives = [
        app::InitiativeInput {
            name: "New starters work the queue alone".into(),
            description: "Two new agents answer without a buddy since last week, to free the seniors for escalations.".into(),
            kpi: "first_reply_median".into(),
            group_id: None,
            started_at: today - 7 * DAY_MILLIS,
            started_on: None,
            period_days: Some(7),
        },
        app::InitiativeInput {
            name: "Reply templates for billing questions".into(),
            description: "Macros for the ten most frequent invoice and refund questions.".into(),
            kpi: "first_contact_resolution".into(),
            group_id: billing,
            started_at: today - 49 * DAY_MILLIS,
            started_on: None,
            period_days: Some(28),
        },
    ];
    for input in initiatives {
        app.record_initiative(&manager, input, now).await?;
    }
    Ok(())
}

/// A business calendar (Brussels office hours with Belgian holidays) and two SLA policies,
/// then a recompute, so that every demo conversation shows its SLA state.
async fn seed_sla(app: &app::App, now: i64) -> anyhow::Result<()> {
    use domain::SlaBasis::{Business, Calendar};
    use domain::SlaMetric::{FirstReply, NextReply, PeriodicUpdate, Resolution};
    use Priority::{High, Urgent};
    let system = Principal::System;
    let holidays = [
        "--01-01", "--05-01", "--07-21", "--08-15", "--11-01", "--11-11", "--12-25",
    ];
    let calendar = app
        .add_sla_calendar(
            &system,
            app::CalendarInput {
                name: "Brussels office".into(),
                time_zone: "Europe/Brussels".into(),
                hours: "mon-fri 09:00-17:00".into(),
                holidays: holidays.iter().map(|h| h.to_string()).collect(),
                exceptions: vec![],
            },
            now,
        )
        .await?;
    let target = |metric, priority, minutes, basis| sla::TargetRule {
        metric,
        priority,
        minutes,
        basis,
    };
    let urgent = app::PolicyInput {
        name: "Urgent and high".into(),
        position: Some(1),
        conditions: sla::Conditions {
            priorities: vec![Urgent, High],
            ..Default::default()
        },
        calendar_id: Some(calendar.id),
        targets: vec![
            target(FirstReply, Urgent, 30, Calendar),
            target(FirstReply, High, 60, Business),
            target(NextReply, Urgent, 60, Calendar),
            target(NextReply, High, 120, Business),
            target(Resolution, Urgent, 480, Calendar),
            target(Resolution, High, 960, Business),
        ],
        warn_at_percent: Some(75),
        on_hold_pauses: false,
    };
    let standard = app::PolicyInput {
        name: "Standard".into(),
        position: Some(2),
        conditions: sla::Conditions::default(),
        calendar_id: Some(calendar.id),
        targets: [Priority::Low, Priority::Normal, High, Urgent]
            .into_iter()
            .flat_map(|p| {
                [
                    target(FirstReply, p, 240, Business),
                    target(NextReply, p, 480, Business),
                    target(PeriodicUpdate, p, 1440, Business),
                    target(Resolution, p, 2400, Business),
                ]
            })
            .collect(),
        warn_at_percent: Some(75),
        on_hold_pauses: true,
    };
    app.add_sla_policy(&system, urgent, now).await?;
    app.add_sla_policy(&system, standard, now).await?;
    let run = app.recompute_sla(now).await?;
    eprintln!(
        "SLA clocks: {} conversations, {} SLA events",
        run.conversations, run.events_appended
    );
    Ok(())
}

async fn seed_demo(
    app: &app::App,
    seed: u64,
    conversation_count: usize,
    now: i64,
) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut handovers = handover_rng(seed);
    let system = Principal::System;
    let start = (now / DAY_MILLIS - 90) * DAY_MILLIS;
    let setup_time = start - DAY_MILLIS;

    let mut groups = Vec::new();
    for name in GROUPS {
        groups.push((*name, app.add_group(&system, name, setup_time).await?));
    }
    for (address, name, group) in MAILBOXES {
        app.add_mailbox(&system, address, name, Some(group), true, setup_time)
            .await?;
    }
    // The contact form asks what the message is about and routes it (`WEB_TOPICS`); chats
    // go to Support.
    let group_named = |name: &str| groups.iter().find(|(n, _)| *n == name).map(|(_, id)| *id);
    let mut web_topics = Vec::new();
    for (topic, group) in WEB_TOPICS {
        let group = group_named(group).context("a demo topic names a demo group")?;
        web_topics.push((topic.to_string(), group));
    }
    app.set_channel_routing(
        &system,
        app::ChannelRouting {
            web_group_id: group_named("Support"),
            web_topics,
            chat_group_id: group_named("Support"),
        },
        setup_time,
    )
    .await?;
    let mut agents = Vec::new();
    for (email, name, role, agent_groups) in AGENTS {
        let group_names: Vec<String> = agent_groups.iter().map(|g| g.to_string()).collect();
        let id = app
            .add_agent(
                &system,
                email,
                name,
                *role,
                PASSWORD,
                &group_names,
                setup_time,
            )
            .await?;
        agents.push((id, app.agent_principal(id).await?, agent_groups.to_vec()));
    }
    let lead = agents
        .iter()
        .find(|(_, p, _)| {
            matches!(
                p,
                Principal::Agent {
                    role: Role::Lead,
                    ..
                }
            )
        })
        .map(|(_, p, _)| p.clone())
        .context("the demo team has a lead")?;
    let team = Team {
        agents,
        groups,
        lead,
    };

    let samples = samples();
    anyhow::ensure!(!samples.is_empty(), "the demo text sample is empty");
    let people = customers(&mut rng, 2000);

    // Plan every conversation first, then play them in the order they began.
    let mut plans: Vec<(i64, usize, usize, Channel)> = (0..conversation_count)
        .map(|i| {
            let created = contact_time(&mut rng, start, 90);
            // Casey (the portal customer) has a few conversations on several channels.
            let customer = if i < 4 {
                0
            } else {
                rng.gen_range(0..people.len())
            };
            let sample = rng.gen_range(0..samples.len());
            let roll = rng.gen_range(0..100);
            let channel = match i {
                0 => Channel::Email,
                1 => Channel::Web,
                2 => Channel::Chat,
                _ => match roll {
                    0..=59 => Channel::Email,
                    60..=79 => Channel::Web,
                    80..=94 => Channel::Chat,
                    _ => Channel::Phone,
                },
            };
            (created, customer, sample, channel)
        })
        .collect();
    plans.sort_by_key(|p| p.0);

    for (created, customer_index, sample_index, channel) in plans {
        if created > now {
            continue;
        }
        let person = &people[customer_index];
        let sample = &samples[sample_index];
        let handover = Handover::draw(&mut handovers);
        let plan = Plan {
            person,
            sample,
            channel,
            created,
            handover,
        };
        play(app, &team, &mut rng, &mut handovers, plan, now).await?;
    }

    let casey = app
        .store
        .customer_login("customer@demo.test")
        .await?
        .context("the demo customer exists")?;
    app.set_customer_password(&system, casey.0, PASSWORD)
        .await?;
    Ok(())
}

/// A follow-up exchange on conversation `number` after `t`: the customer writes again, then
/// the agent answers and solves it, each after its wait (`waits`, drawn by `delay`). Answers
/// the time of the answer, or `None` when the demo's `now` comes first.
async fn follow_up(
    app: &app::App,
    (customer, agent): (&Principal, &Principal),
    number: i64,
    rng: &mut StdRng,
    delay: impl Fn(&mut StdRng, i64) -> i64,
    (mut t, now): (i64, i64),
    (customer_wait, agent_wait): (i64, i64),
) -> anyhow::Result<Option<i64>> {
    for (who, wait, kind, texts, after) in [
        (
            customer,
            customer_wait,
            MessageKind::Customer,
            CUSTOMER_FOLLOW_UPS,
            None,
        ),
        (
            agent,
            agent_wait,
            MessageKind::Reply,
            AGENT_FOLLOW_UPS,
            Some(Status::Solved),
        ),
    ] {
        t += delay(rng, wait);
        if t > now {
            return Ok(None);
        }
        let text = texts[rng.gen_range(0..texts.len())].to_string();
        let message = app::MessageInput {
            kind,
            text,
            attachments: vec![],
        };
        app.add_message(who, number, message, after, t).await?;
    }
    Ok(Some(t))
}

/// One conversation to play.
struct Plan<'a> {
    person: &'a Customer,
    sample: &'a Sample,
    channel: Channel,
    created: i64,
    handover: Handover,
}

async fn play(
    app: &app::App,
    team: &Team,
    rng: &mut StdRng,
    handovers: &mut StdRng,
    plan: Plan<'_>,
    now: i64,
) -> anyhow::Result<()> {
    let Plan {
        person,
        sample,
        channel,
        created,
        handover,
    } = plan;
    let system = Principal::System;
    let group_name = group_for(&sample.category);
    let priority = match rng.gen_range(0..100) {
        0..=9 => Priority::Low,
        10..=79 => Priority::Normal,
        80..=94 => Priority::High,
        _ => Priority::Urgent,
    };
    // One in ten lands in the wrong team first and is moved: the ping-pong a process map should show.
    let misrouted = rng.gen_bool(0.1);
    let first_group = if misrouted {
        GROUPS
            .iter()
            .copied()
            .find(|g| *g != group_name)
            .unwrap_or(group_name)
    } else {
        group_name
    };
    let input = app::NewConversationInput {
        subject: sample.subject.clone(),
        customer: app::CustomerInput {
            email: Some(person.email.clone()),
            phone: if channel == Channel::Phone {
                person
                    .phone
                    .clone()
                    .or_else(|| Some("+32 2 555 01 00".into()))
            } else {
                None
            },
            chat: None,
            name: Some(person.name.clone()),
        },
        message: app::MessageInput {
            kind: MessageKind::Customer,
            text: sample.customer_text.clone(),
            attachments: vec![],
        },
        channel,
        priority: Some(priority),
        group_id: team.group_id(first_group),
        assignee_id: None,
        tags: vec![sample.category.clone(), sample.intent.clone()],
        custom_fields: serde_json::Map::new(),
    };
    let conversation = app.create_conversation(&system, input, created).await?;
    let number = conversation.number;
    let mut t = created;
    // The last week is busier than the team can handle: a backlog builds up, as in any real queue.
    let slow = if now - created < 7 * DAY_MILLIS && rng.gen_bool(0.5) {
        30
    } else {
        1
    };
    let delay = |rng: &mut StdRng, median: i64| delay(rng, median * slow);

    // Triage: a misrouted conversation is moved by the lead; then an agent of the team takes it.
    if misrouted {
        t += delay(rng, 40 * MINUTE);
        if t > now {
            return Ok(());
        }
        let patch = app::Patch {
            group_id: Some(team.group_id(group_name)),
            ..Default::default()
        };
        app.update_conversation(&team.lead, number, patch, t)
            .await?;
    }
    t += delay(rng, 20 * MINUTE);
    if t > now {
        return Ok(());
    }
    let Some((agent_id, agent)) = team.pick_agent(rng, group_name) else {
        return Ok(());
    };
    let patch = app::Patch {
        assignee_id: Some(Some(agent_id)),
        ..Default::default()
    };
    app.update_conversation(&agent, number, patch, t).await?;

    if rng.gen_bool(0.2) {
        t += delay(rng, 10 * MINUTE);
        if t > now {
            return Ok(());
        }
        let note = NOTES[rng.gen_range(0..NOTES.len())].to_string();
        app.add_message(
            &agent,
            number,
            app::MessageInput {
                kind: MessageKind::Note,
                text: note,
                attachments: vec![],
            },
            None,
            t,
        )
        .await?;
    }

    // Before the first reply, some conversations go to another team or a colleague and back.
    let handover_steps = HandoverSteps {
        app,
        team,
        number,
        group: group_name,
        agent_id,
        agent: &agent,
        slow,
        now,
    };
    let Some(back_at) = handover_steps.play(handovers, handover, t).await? else {
        return Ok(());
    };
    t = back_at;

    // First reply: solved at once (first-contact resolution) or waiting on the customer.
    t += delay(rng, 45 * MINUTE);
    if t > now {
        return Ok(());
    }
    let reply = sample
        .agent_reply
        .clone()
        .unwrap_or_else(|| GENERIC_REPLIES[rng.gen_range(0..GENERIC_REPLIES.len())].to_string());
    let solved_first = rng.gen_bool(0.45);
    let after = if solved_first {
        Status::Solved
    } else {
        Status::Pending
    };
    app.add_message(
        &agent,
        number,
        app::MessageInput {
            kind: MessageKind::Reply,
            text: reply,
            attachments: vec![],
        },
        Some(after),
        t,
    )
    .await?;

    if !solved_first {
        if rng.gen_bool(0.7) {
            let waits = (5 * HOUR, 2 * HOUR);
            let who = (&system, &agent);
            let Some(answered) = follow_up(app, who, number, rng, delay, (t, now), waits).await?
            else {
                return Ok(());
            };
            t = answered;
        } else {
            // No answer from the customer: solved after two days of waiting.
            t += 2 * DAY_MILLIS + delay(rng, HOUR);
            if t > now {
                return Ok(());
            }
            app.update_conversation(
                &agent,
                number,
                app::Patch {
                    status: Some(Status::Solved),
                    ..Default::default()
                },
                t,
            )
            .await?;
        }
    }

    // Some customers write again after the solution: the conversation reopens.
    if rng.gen_bool(0.08) {
        let waits = (20 * HOUR, 3 * HOUR);
        let who = (&system, &agent);
        let Some(answered) = follow_up(app, who, number, rng, delay, (t, now), waits).await? else {
            return Ok(());
        };
        t = answered;
    }

    // The auto-close job, played at the moment it would have run.
    let close_at = t + i64::from(app.settings.auto_close_days) * DAY_MILLIS;
    if close_at <= now {
        app.update_conversation(
            &system,
            number,
            app::Patch {
                status: Some(Status::Closed),
                ..Default::default()
            },
            close_at,
        )
        .await?;
    }
    Ok(())
}

/// The handover before the first reply of one conversation.
struct HandoverSteps<'a> {
    app: &'a app::App,
    team: &'a Team,
    number: i64,
    /// The conversation's team and its agent.
    group: &'static str,
    agent_id: i64,
    agent: &'a Principal,
    /// The busy last week's slowdown.
    slow: i64,
    now: i64,
}

impl HandoverSteps<'_> {
    /// Plays `handover` from `t`; the instant the work is back with the agent, or `None` when
    /// that lies in the future (the conversation stays where it is now).
    async fn play(
        &self,
        rng: &mut StdRng,
        handover: Handover,
        mut t: i64,
    ) -> anyhow::Result<Option<i64>> {
        let app = self.app;
        let team = self.team;
        let number = self.number;
        let wait = |rng: &mut StdRng, median: i64| delay(rng, median * self.slow);
        let note = |text: &str| app::MessageInput {
            kind: MessageKind::Note,
            text: text.to_string(),
            attachments: vec![],
        };
        match handover {
            Handover::None => Ok(Some(t)),
            Handover::ToTeamAndBack => {
                let others: Vec<&str> = GROUPS
                    .iter()
                    .copied()
                    .filter(|g| *g != self.group)
                    .collect();
                let other = others[rng.gen_range(0..others.len())];
                let Some((helper_id, helper)) = team.pick_other_agent(rng, other, self.agent_id)
                else {
                    return Ok(Some(t));
                };
                t += wait(rng, 30 * MINUTE);
                if t > self.now {
                    return Ok(None);
                }
                let to_other = app::Patch {
                    group_id: Some(team.group_id(other)),
                    assignee_id: Some(None),
                    ..Default::default()
                };
                app.update_conversation(self.agent, number, to_other, t)
                    .await?;
                t += wait(rng, 50 * MINUTE);
                if t > self.now {
                    return Ok(None);
                }
                let take = app::Patch {
                    assignee_id: Some(Some(helper_id)),
                    ..Default::default()
                };
                app.update_conversation(&helper, number, take, t).await?;
                t += wait(rng, 25 * MINUTE);
                if t > self.now {
                    return Ok(None);
                }
                let text = HANDED_BACK_NOTES[rng.gen_range(0..HANDED_BACK_NOTES.len())];
                app.add_message(&helper, number, note(text), None, t)
                    .await?;
                let back = app::Patch {
                    group_id: Some(team.group_id(self.group)),
                    assignee_id: Some(Some(self.agent_id)),
                    ..Default::default()
                };
                app.update_conversation(&helper, number, back, t + MINUTE)
                    .await?;
                Ok(Some(t + MINUTE))
            }
            Handover::ToColleagueAndBack => {
                let Some((colleague_id, colleague)) =
                    team.pick_other_agent(rng, self.group, self.agent_id)
                else {
                    return Ok(Some(t));
                };
                t += wait(rng, 15 * MINUTE);
                if t > self.now {
                    return Ok(None);
                }
                let ask = app::Patch {
                    assignee_id: Some(Some(colleague_id)),
                    ..Default::default()
                };
                app.update_conversation(self.agent, number, ask, t).await?;
                t += wait(rng, 30 * MINUTE);
                if t > self.now {
                    return Ok(None);
                }
                let text = SECOND_OPINION_NOTES[rng.gen_range(0..SECOND_OPINION_NOTES.len())];
                app.add_message(&colleague, number, note(text), None, t)
                    .await?;
                let back = app::Patch {
                    assignee_id: Some(Some(self.agent_id)),
                    ..Default::default()
                };
                app.update_conversation(&colleague, number, back, t + MINUTE)
                    .await?;
                Ok(Some(t + MINUTE))
            }
        }
    }
}
