//! The demo's surveys: CSAT after the quarter's solved conversations, answered by part of
//! the customers, and about 150 responses to priorities research.
//!
//! Everything goes through the real use cases at the moment it would have happened: the
//! survey decision (`App::send_survey`, the job's own code) at solved + delay, each answer
//! through the link's form a few hours later. Scores fall as resolution takes longer and
//! when the customer had to write again, so the dashboards and the analyses show something.
//! A random generator of its own keeps the rest of the demo as it was.

use anyhow::Context;
use app::{AnswerOutcome, SurveyAnswer, SurveyOutcome};
use domain::survey::{Scale, SurveyChannel, SurveyKind};
use domain::{Principal, DAY_MILLIS};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

const HOUR: i64 = 3_600_000;
const DELAY_MINUTES: i64 = 120;

const COMMENTS_HAPPY: &[&str] = &[
    "Quick and friendly, thank you!",
    "Solved at the first answer. Great service.",
    "Very clear explanation, thanks.",
    "Helpful and polite, as always.",
];
const COMMENTS_MIXED: &[&str] = &[
    "It got solved in the end, but it took a while.",
    "Fine, although I had to explain twice.",
    "OK, but I would have liked an update sooner.",
];
const COMMENTS_UNHAPPY: &[&str] = &[
    "Far too slow. I waited days for an answer.",
    "I had to write again before anything happened.",
    "The first answer did not address my question.",
];

/// Sums of uniforms: a bell-shaped rating around `mean` (1–7 scale).
fn rating(rng: &mut StdRng, mean: f64) -> i64 {
    let noise: f64 = (0..3).map(|_| rng.gen_range(-1.0..1.0)).sum::<f64>() * 0.7;
    ((mean + noise).round() as i64).clamp(1, 7)
}

/// Turns surveys on (CSAT 1–5 by e-mail, two hours after the solve, 70% sampled, at most one
/// per customer per 14 days), sends the quarter's surveys at their due times, answers part of
/// them, then collects priorities research. Returns (surveys sent, answered, research responses).
pub async fn seed(app: &app::App, seed: u64, now: i64) -> anyhow::Result<(usize, usize, usize)> {
    let system = Principal::System;
    let start = (now / DAY_MILLIS - 90) * DAY_MILLIS;
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5352_5645_5953);
    app.set_survey_settings(
        &system,
        app::SurveySettings {
            enabled: true,
            kind: SurveyKind::Csat,
            csat_scale: Scale::CSAT_DEFAULT,
            question: String::new(),
            delay_minutes: DELAY_MINUTES,
            channel: SurveyChannel::Email,
            sampling_rate: 0.7,
            min_days_between: 14,
            answer_days: 14,
            public_url: "http://localhost:8080".into(),
        },
        start - DAY_MILLIS,
    )
    .await?;

    // Every conversation solved (or solved and closed), by the time its survey fell due.
    let mut numbers = Vec::new();
    let mut tx = app.store.begin().await?;
    loop {
        let page = tx
            .conversation_numbers_after(numbers.last().copied().unwrap_or(0), 1000)
            .await?;
        if page.is_empty() {
            break;
        }
        numbers.extend(page);
    }
    tx.rollback().await?;
    let mut due = Vec::new();
    let mut customers = Vec::new();
    for chunk in numbers.chunks(500) {
        for row in app.store.conversations_by_number(chunk).await? {
            customers.push(row.customer_id);
            if let Some(solved_at) = row.solved_at {
                let at = solved_at + DELAY_MINUTES * 60_000;
                if at <= now {
                    let reopened = row.message_count > 3;
                    due.push((at, row.number, solved_at, row.created_at, reopened));
                }
            }
        }
    }
    due.sort_unstable();

    let (mut sent, mut answered) = (0, 0);
    for (at, number, solved_at, created_at, long_thread) in due {
        let SurveyOutcome::Sent { token, .. } = app.send_survey(number, solved_at, at, at).await?
        else {
            continue;
        };
        sent += 1;
        // About a third answer, most within a day.
        if !rng.gen_bool(0.35) {
            continue;
        }
        let answered_at = at + (rng.gen_range(0.2f64..30.0) * HOUR as f64) as i64;
        if answered_at > now {
            continue;
        }
        let form = app.survey_form(&token, answered_at).await?;
        let hours = (solved_at - created_at) as f64 / HOUR as f64;
        let mean = 5.2 - 0.4 * (1.0 + hours).ln() - if long_thread { 0.6 } else { 0.0 };
        let noise: f64 = (0..2).map(|_| rng.gen_range(-0.9..0.9)).sum();
        let score = ((mean + noise).round() as i64).clamp(form.scale.min, form.scale.max);
        let comment = rng.gen_bool(0.3).then(|| {
            let pool = match score {
                4.. => COMMENTS_HAPPY,
                3 => COMMENTS_MIXED,
                _ => COMMENTS_UNHAPPY,
            };
            pool[rng.gen_range(0..pool.len())].to_string()
        });
        let kudos_agent_id = if score >= 4 && rng.gen_bool(0.3) {
            form.kudos_choices.choose(&mut rng).map(|c| c.agent_id)
        } else {
            None
        };
        let outcome = app
            .answer_survey(
                &token,
                &form.form_token,
                SurveyAnswer {
                    score,
                    comment,
                    kudos_agent_id,
                },
                answered_at,
            )
            .await?;
        if outcome == AnswerOutcome::Recorded {
            answered += 1;
        }
    }

    let research = seed_research(app, &mut rng, customers, start, now).await?;
    Ok((sent, answered, research))
}

/// The team's own attributes beside SERVQUAL, then ~150 customers' ratings: reliability and
/// speed matter most and fall short; empathy and tangibles do well but matter less; overall
/// satisfaction follows reliability, responsiveness and the first reply's speed.
async fn seed_research(
    app: &app::App,
    rng: &mut StdRng,
    mut customers: Vec<i64>,
    start: i64,
    now: i64,
) -> anyhow::Result<usize> {
    let system = Principal::System;
    for (key, label, description) in [
        (
            "first_reply_speed",
            "Speed of the first reply",
            "How soon we first answer your message",
        ),
        (
            "first_contact_resolution",
            "Solved at the first contact",
            "Your request solved without writing again",
        ),
    ] {
        app.add_research_attribute(
            &system,
            app::AttributeInput {
                key: key.into(),
                label: label.into(),
                description: description.into(),
            },
            start,
        )
        .await?;
    }
    // (key, mean importance, mean performance, weight in overall satisfaction)
    let profile: &[(&str, f64, f64, f64)] = &[
        ("reliability", 6.4, 4.6, 0.35),
        ("responsiveness", 6.0, 4.4, 0.25),
        ("assurance", 5.5, 5.6, 0.05),
        ("empathy", 4.8, 5.8, 0.05),
        ("tangibles", 3.5, 5.2, 0.0),
        ("first_reply_speed", 5.8, 4.2, 0.2),
        ("first_contact_resolution", 6.2, 5.0, 0.1),
    ];
    let attributes = app.research_attributes(&system).await?;
    customers.sort_unstable();
    customers.dedup();
    customers.shuffle(rng);
    customers.truncate(150);
    if customers.is_empty() {
        return Ok(0);
    }
    let invited_at = (start + 60 * DAY_MILLIS).min(now);
    let invitations = app
        .invite_to_research(&system, &customers, invited_at)
        .await?;
    let mut recorded = 0;
    for invitation in invitations {
        let at = invited_at + rng.gen_range(0..21 * DAY_MILLIS);
        if at > now {
            continue;
        }
        let form = app.research_form(&invitation.token, at).await?;
        // Each respondent is a bit more or less generous overall.
        let bias: f64 = rng.gen_range(-0.6..0.6);
        let mut ratings = Vec::new();
        let mut overall = 0.6 + bias;
        for (key, importance, performance, weight) in profile {
            let attribute = attributes
                .iter()
                .find(|a| a.key == *key)
                .context("a research attribute of the demo is missing")?;
            let p = rating(rng, performance + bias);
            overall += weight * p as f64;
            // One rating in twenty is left out: respondents skip what they cannot judge.
            let i = (!rng.gen_bool(0.05)).then(|| rating(rng, *importance));
            let p = (!rng.gen_bool(0.05)).then_some(p);
            ratings.push((attribute.id, i, p));
        }
        let overall = (overall + rng.gen_range(-0.5..0.5)).round() as i64;
        let outcome = app
            .answer_research(
                &invitation.token,
                &form.form_token,
                app::ResearchAnswer {
                    ratings,
                    overall_satisfaction: Some(overall.clamp(1, 7)),
                },
                at,
            )
            .await?;
        if outcome == AnswerOutcome::Recorded {
            recorded += 1;
        }
    }
    Ok(recorded)
}
