//! Surveys after solved conversations (CSAT, CES or NPS) and priorities research.
//!
//! **Sending.** Solving a conversation queues a `survey.send` job due at solved + the
//! configured delay (`schedule_survey`, called by the status change). The job gathers the
//! facts and lets [`domain::survey::decide_survey`] decide: still solved (a reopen or a new
//! solve cancels it), not merged, not surveyed yet, sampled (a hash of the conversation
//! number, so reruns agree), no other survey to the customer within the minimum number of
//! days, and an address that has not bounced. A survey by e-mail is an automatic mail
//! (`Auto-Submitted`) through the outbound queue, with a link `/survey/{token}`; only the
//! token's SHA-256 is stored. Each survey sent is a `survey_sent` event.
//!
//! **Answering.** Opening a link only shows the question ([`App::survey_form`] writes
//! nothing), so mail scanners that fetch links record no answer. The form carries a form
//! token derived from an instance secret and the link's token, and the answer needs a
//! score a person chose; only that POST ([`App::answer_survey`]) records it. A survey is
//! answered **once**: a second submit records nothing and is told it was already answered
//! (the lead's roll-ups count each `survey_answered` event as one answer). Links close
//! after `answer_days`. Signed-in customers answer the same surveys in the portal. Kudos
//! may name only an agent who replied publicly in that conversation.
//!
//! **Priorities research.** Managers invite customers (a link `/research/{token}` each);
//! a respondent rates the importance and the performance of each active attribute (the five
//! SERVQUAL dimensions built in, plus the team's own) and overall satisfaction, on 1–7.
//! [`App::research_csv`] writes the responses in the CSV form `rapport analyze ipa` and
//! `rapport analyze key-drivers` read.

use domain::survey::{
    check_attribute_key, decide_survey, Reachability, Scale, SkipReason, SurveyChannel,
    SurveyFacts, SurveyKind, RESEARCH_SCALE,
};
use domain::{Actor, EventPayload, Principal, Status, DAY_MILLIS};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use store::{
    NewSurveyInvitation, ResearchAttributeRow, SurveyAnswerFilter, SurveyAnswerRow,
    SurveyInvitationRow, SurveySettingsRow, Tx,
};

use crate::auth::secret_hash;
use crate::outbound::OutgoingMail;
use crate::views::corrupt;
use crate::{record, App, AppError, Result};

/// Decides and sends the survey of a solved conversation (payload: `SurveyJob` as JSON).
pub const SURVEY_SEND_JOB: &str = "survey.send";

/// How long a research link can be answered.
const RESEARCH_ANSWER_DAYS: i64 = 30;
/// Longest comment kept.
const MAX_COMMENT_CHARS: usize = 4000;
/// Most customers invited to research in one call.
const MAX_RESEARCH_INVITATIONS: usize = 1000;

/// The survey settings as an administrator writes them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurveySettings {
    pub enabled: bool,
    pub kind: SurveyKind,
    /// The CSAT scale (CES is always 1–7, NPS 0–10).
    pub csat_scale: Scale,
    /// Empty: the kind's default question.
    pub question: String,
    /// Minutes after the solve.
    pub delay_minutes: i64,
    pub channel: SurveyChannel,
    /// The share of solved conversations surveyed, 0 to 1.
    pub sampling_rate: f64,
    /// At most one survey per customer within this many days.
    pub min_days_between: i64,
    /// How long a link can be answered.
    pub answer_days: i64,
    /// The address customers reach this server at; links in e-mails start with it.
    pub public_url: String,
}

/// The settings in force, and when they last changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SurveySettingsView {
    pub settings: SurveySettings,
    pub updated_at: i64,
}

/// What the send job decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SurveyOutcome {
    /// Sent; the link's token (the only time it is known: only its hash is stored).
    Sent {
        survey_id: i64,
        token: String,
    },
    Skipped(SkipReason),
}

/// Where a survey stands for the person holding its link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SurveyState {
    Open,
    Answered { at: i64 },
    Expired { at: i64 },
}

/// An agent a customer may give kudos to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KudosChoice {
    pub agent_id: i64,
    pub name: String,
}

/// What the survey page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveyForm {
    pub id: i64,
    pub conversation: i64,
    pub subject: String,
    pub kind: SurveyKind,
    pub question: String,
    pub scale: Scale,
    /// What the lowest and the highest score mean.
    pub scale_labels: (&'static str, &'static str),
    /// The agents who replied publicly in the conversation.
    pub kudos_choices: Vec<KudosChoice>,
    /// Goes back with the answer (see the module documentation).
    pub form_token: String,
    pub state: SurveyState,
    pub expires_at: i64,
}

/// A customer's answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SurveyAnswer {
    pub score: i64,
    pub comment: Option<String>,
    pub kudos_agent_id: Option<i64>,
}

/// What a submit did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnswerOutcome {
    Recorded,
    /// Answered before (at that time): nothing recorded.
    AlreadyAnswered {
        at: i64,
    },
    /// The link closed (at that time): nothing recorded.
    Expired {
        at: i64,
    },
}

/// A survey a signed-in customer can still answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenSurvey {
    pub id: i64,
    pub conversation: i64,
    pub subject: String,
    pub kind: SurveyKind,
    pub sent_at: i64,
    pub expires_at: i64,
}

/// Which answers a manager lists: every filter left empty matches anything.
#[derive(Debug, Clone, Default)]
pub struct SurveyAnswerQuery {
    pub kind: Option<SurveyKind>,
    /// Answered at or after this instant (ms).
    pub from: Option<i64>,
    /// Answered before this instant (ms).
    pub to: Option<i64>,
    /// Answered on or after this local day of the team's business calendar (its time zone, as
    /// the KPI days; UTC without a calendar). Instead of `from`.
    pub from_date: Option<jiff::civil::Date>,
    /// Answered before this local day (the day after the last). Instead of `to`.
    pub to_date: Option<jiff::civil::Date>,
    pub group_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub kudos_agent_id: Option<i64>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<i64>,
    /// 1 to 500 (default 50).
    pub limit: Option<u32>,
}

/// A page of answers, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SurveyAnswerPage {
    pub items: Vec<SurveyAnswerRow>,
    pub next_cursor: Option<i64>,
}

/// A team's own research attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeInput {
    pub key: String,
    pub label: String,
    pub description: String,
}

/// A customer invited to priorities research, with their link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResearchInvitation {
    pub id: i64,
    pub customer_id: i64,
    pub token: String,
    /// `public_url/research/{token}`.
    pub link: String,
    pub expires_at: i64,
}

/// What the research page shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResearchForm {
    pub attributes: Vec<ResearchAttributeRow>,
    pub scale: Scale,
    pub form_token: String,
    pub state: SurveyState,
    pub expires_at: i64,
}

/// One respondent's ratings: (attribute id, importance, performance), each 1–7 or left out.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResearchAnswer {
    pub ratings: Vec<(i64, Option<i64>, Option<i64>)>,
    pub overall_satisfaction: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize)]
struct SurveyJob {
    number: i64,
    solved_at: i64,
    due_at: i64,
}

fn invalid(message: impl Into<String>) -> AppError {
    AppError::Invalid(message.into())
}

fn must_administer(by: &Principal) -> Result<()> {
    if by.can_administer() {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "only administrators change survey settings and research attributes".into(),
        ))
    }
}

fn must_read_results(by: &Principal) -> Result<()> {
    if by.can_read_survey_results() {
        Ok(())
    } else {
        Err(AppError::Forbidden(
            "survey answers and priorities research are for managers and administrators".into(),
        ))
    }
}

fn settings_of(row: &SurveySettingsRow) -> Result<SurveySettings> {
    Ok(SurveySettings {
        enabled: row.enabled,
        kind: SurveyKind::parse(&row.kind)
            .ok_or_else(|| corrupt(format!("survey kind {:?}", row.kind)))?,
        csat_scale: Scale {
            min: row.csat_scale_min,
            max: row.csat_scale_max,
        },
        question: row.question.clone(),
        delay_minutes: row.delay_minutes,
        channel: SurveyChannel::parse(&row.channel)
            .ok_or_else(|| corrupt(format!("survey channel {:?}", row.channel)))?,
        sampling_rate: row.sampling_rate,
        min_days_between: row.min_days_between,
        answer_days: row.answer_days,
        public_url: row.public_url.clone(),
    })
}

/// Checks an administrator's settings; the URL loses a trailing slash.
fn checked(mut s: SurveySettings) -> Result<SurveySettings> {
    s.csat_scale =
        Scale::for_csat(s.csat_scale.min, s.csat_scale.max).map_err(|e| invalid(e.to_string()))?;
    s.question = s.question.trim().to_string();
    if s.question.chars().count() > 500 {
        return Err(invalid("the question is longer than 500 characters"));
    }
    if !(0..=30 * 24 * 60).contains(&s.delay_minutes) {
        return Err(invalid(
            "delay_minutes is from 0 to 43200 (30 days) after the solve",
        ));
    }
    if !s.sampling_rate.is_finite() || !(0.0..=1.0).contains(&s.sampling_rate) {
        return Err(invalid(
            "sampling_rate is a share from 0 (nobody) to 1 (every solved conversation)",
        ));
    }
    if !(0..=365).contains(&s.min_days_between) {
        return Err(invalid("min_days_between is from 0 to 365 days"));
    }
    if !(1..=90).contains(&s.answer_days) {
        return Err(invalid("answer_days is from 1 to 90 days"));
    }
    let url = s.public_url.trim().trim_end_matches('/').to_string();
    let scheme_ok = url.starts_with("http://") || url.starts_with("https://");
    if !scheme_ok
        || url.len() > 200
        || url.chars().any(|c| c.is_whitespace() || c.is_control())
        || url.split("://").nth(1).is_none_or(str::is_empty)
    {
        return Err(invalid(
            "public_url is the http:// or https:// address customers reach this server at, e.g. https://support.example.com",
        ));
    }
    s.public_url = url;
    Ok(s)
}

fn new_token() -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

/// A link's token as stored; tokens of another shape are refused before any look-up.
fn token_hash(token: &str) -> Result<String> {
    let plausible = (20..=100).contains(&token.len())
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if plausible {
        Ok(secret_hash(token))
    } else {
        Err(AppError::NotFound("survey link".into()))
    }
}

fn form_token(key: &str, purpose: &str, token_hash: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(key.as_bytes());
    hasher.update(b"|");
    hasher.update(purpose.as_bytes());
    hasher.update(b"|");
    hasher.update(token_hash.as_bytes());
    hex::encode(hasher.finalize())
}

fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

fn state_of(answered_at: Option<i64>, expires_at: i64, now: i64) -> SurveyState {
    match answered_at {
        Some(at) => SurveyState::Answered { at },
        None if now >= expires_at => SurveyState::Expired { at: expires_at },
        None => SurveyState::Open,
    }
}

fn clean_comment(comment: Option<String>) -> Result<Option<String>> {
    let Some(text) = comment else {
        return Ok(None);
    };
    let text = text.trim().replace('\0', "");
    if text.chars().count() > MAX_COMMENT_CHARS {
        return Err(invalid(format!(
            "the comment is longer than {MAX_COMMENT_CHARS} characters"
        )));
    }
    Ok(Some(text).filter(|t| !t.is_empty()))
}

/// One CSV cell: quoted when needed; text that a spreadsheet would run as a formula is
/// prefixed with `'`.
fn csv_cell(text: &str) -> String {
    let text = if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text.to_string()
    };
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn csv_number(value: Option<i64>) -> String {
    value.map(|v| v.to_string()).unwrap_or_default()
}

fn rfc3339(ms: i64) -> String {
    // Without jiff here: whole seconds, UTC, computed from the civil calendar.
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Queues the survey job of a conversation just solved at `solved_at`, when surveys are on.
pub(crate) async fn schedule_survey(tx: &mut Tx, number: i64, solved_at: i64) -> Result<()> {
    let settings = tx.survey_settings().await?;
    if !settings.enabled {
        return Ok(());
    }
    let due_at = solved_at + settings.delay_minutes * 60_000;
    let payload = serde_json::to_string(&SurveyJob {
        number,
        solved_at,
        due_at,
    })
    .map_err(|e| invalid(format!("survey job: {e}")))?;
    let key = format!("survey:{number}:{solved_at}");
    tx.enqueue_job(SURVEY_SEND_JOB, &payload, due_at, Some(&key), 5, solved_at)
        .await?;
    Ok(())
}

impl App {
    /// The survey settings (administrators).
    pub async fn survey_settings(&self, by: &Principal) -> Result<SurveySettingsView> {
        must_administer(by)?;
        let row = self.store.survey_settings().await?;
        Ok(SurveySettingsView {
            settings: settings_of(&row)?,
            updated_at: row.updated_at,
        })
    }

    /// Replaces the survey settings (administrators), recorded as an event with its actor. They
    /// apply to conversations solved from now on; surveys already sent keep their question,
    /// scale and closing date.
    pub async fn set_survey_settings(
        &self,
        by: &Principal,
        settings: SurveySettings,
        now: i64,
    ) -> Result<SurveySettingsView> {
        must_administer(by)?;
        let s = checked(settings)?;
        let row = SurveySettingsRow {
            enabled: s.enabled,
            kind: s.kind.as_str().into(),
            csat_scale_min: s.csat_scale.min,
            csat_scale_max: s.csat_scale.max,
            question: s.question.clone(),
            delay_minutes: s.delay_minutes,
            channel: s.channel.as_str().into(),
            sampling_rate: s.sampling_rate,
            min_days_between: s.min_days_between,
            answer_days: s.answer_days,
            public_url: s.public_url.clone(),
            updated_at: now,
        };
        let mut tx = self.store.begin().await?;
        tx.put_survey_settings(&row).await?;
        crate::record(
            &mut tx,
            None,
            by.actor(),
            now,
            &EventPayload::SurveySettingsChanged {
                enabled: row.enabled,
                survey_kind: row.kind.clone(),
                csat_scale_min: row.csat_scale_min,
                csat_scale_max: row.csat_scale_max,
                question: row.question.clone(),
                delay_minutes: row.delay_minutes,
                channel: row.channel.clone(),
                sampling_rate: row.sampling_rate,
                min_days_between: row.min_days_between,
                answer_days: row.answer_days,
                public_url: row.public_url.clone(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(SurveySettingsView {
            settings: s,
            updated_at: now,
        })
    }

    /// The `survey.send` job.
    pub(crate) async fn run_survey_job(&self, payload: &str, now: i64) -> Result<()> {
        let job: SurveyJob = serde_json::from_str(payload)
            .map_err(|e| invalid(format!("survey job payload {payload:?}: {e}")))?;
        let outcome = self
            .send_survey(job.number, job.solved_at, job.due_at, now)
            .await?;
        if let SurveyOutcome::Skipped(reason) = outcome {
            tracing::debug!(conversation = job.number, ?reason, "no survey sent");
        }
        Ok(())
    }

    /// Decides whether conversation `number`, solved at `solved_at` with its survey due at
    /// `due_at`, is surveyed, and if so sends the survey, all in one transaction. Running it
    /// again decides the same (or finds the survey sent). The demo seeder calls it at the
    /// moment the job would have run.
    pub async fn send_survey(
        &self,
        number: i64,
        solved_at: i64,
        due_at: i64,
        now: i64,
    ) -> Result<SurveyOutcome> {
        let settings_row = self.store.survey_settings().await?;
        let key = if settings_row.enabled && settings_row.channel == "email" {
            Some(self.mail_thread_key().await?)
        } else {
            None
        };
        let mut tx = self.store.begin().await?;
        let Some(row) = tx.conversation_for_update(number).await? else {
            tx.rollback().await?;
            return Ok(SurveyOutcome::Skipped(SkipReason::NoLongerSolved));
        };
        let settings = settings_of(&tx.survey_settings().await?)?;
        let status = Status::parse(&row.status)
            .ok_or_else(|| corrupt(format!("status {:?}", row.status)))?;
        let email = match settings.channel {
            SurveyChannel::Email => tx.customer_email(row.customer_id).await?,
            SurveyChannel::Portal => None,
        };
        let reachability = match (settings.channel, &email) {
            (SurveyChannel::Portal, _) => Reachability::NotNeeded,
            (SurveyChannel::Email, None) => Reachability::NoAddress,
            (SurveyChannel::Email, Some(address)) => {
                if tx.address_undeliverable(address).await?.is_some() {
                    Reachability::Undeliverable
                } else {
                    Reachability::Deliverable
                }
            }
        };
        let facts = SurveyFacts {
            number,
            enabled: settings.enabled,
            status,
            solved_at: row.solved_at,
            job_solved_at: solved_at,
            due_at,
            merged: row.merged_into.is_some(),
            already_surveyed: tx.conversation_surveyed(number).await?,
            nearest_invitation_to_customer: tx
                .nearest_survey_to_customer(row.customer_id, due_at)
                .await?,
            min_days_between: settings.min_days_between,
            sampling_rate: settings.sampling_rate,
            reachability,
            now,
        };
        if let Err(reason) = decide_survey(&facts) {
            tx.rollback().await?;
            return Ok(SurveyOutcome::Skipped(reason));
        }
        let kind = settings.kind;
        let scale = kind.scale(settings.csat_scale);
        let question = if settings.question.is_empty() {
            kind.default_question().to_string()
        } else {
            settings.question.clone()
        };
        let token = new_token();
        let expires_at = now + settings.answer_days * DAY_MILLIS;
        let survey_id = tx
            .insert_survey_invitation(&NewSurveyInvitation {
                conversation: number,
                customer_id: row.customer_id,
                kind: kind.as_str(),
                scale_min: scale.min,
                scale_max: scale.max,
                question: &question,
                channel: settings.channel.as_str(),
                token_hash: &secret_hash(&token),
                sent_at: now,
                expires_at,
            })
            .await?;
        if let (SurveyChannel::Email, Some(key)) = (settings.channel, &key) {
            let link = format!("{}/survey/{token}", settings.public_url);
            let text = format!(
                "Hello,\n\nyour request #{number} (\"{subject}\") was solved. We would like to know how we did:\n\n\
                 {question}\n\nAnswer here (it takes a few seconds): {link}\n\n\
                 The link works for {days} days. This is an automatic message; there is no need to reply to it.",
                subject = row.subject,
                days = settings.answer_days,
            );
            let mut mail_row = row.clone();
            mail_row.subject = format!("How did we do? {}", row.subject);
            let queued = self
                .queue_mail(
                    &mut tx,
                    &mail_row,
                    key,
                    OutgoingMail {
                        text: &text,
                        attachments: vec![],
                        message_id: None,
                        automatic: true,
                    },
                    now,
                )
                .await?;
            let Some(outbound_id) = queued else {
                // No support mailbox to send from: nothing is sent, and nothing recorded.
                tx.rollback().await?;
                return Ok(SurveyOutcome::Skipped(SkipReason::NoMailbox));
            };
            tx.set_survey_outbound(survey_id, outbound_id).await?;
        }
        record(
            &mut tx,
            Some(number),
            Actor::System,
            now,
            &EventPayload::SurveySent {
                survey_id,
                kind: kind.as_str().into(),
                channel: settings.channel.as_str().into(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(SurveyOutcome::Sent { survey_id, token })
    }

    /// The key behind form tokens, created once per installation.
    async fn survey_form_key(&self) -> Result<String> {
        const NAME: &str = "survey_form_key";
        if let Some(key) = self.store.instance_secret_value(NAME).await? {
            return Ok(key);
        }
        let candidate = hex::encode(rand::random::<[u8; 32]>());
        let mut tx = self.store.begin().await?;
        let key = tx.instance_secret(NAME, &candidate).await?;
        tx.commit().await?;
        Ok(key)
    }

    async fn survey_form_of(
        &self,
        row: SurveyInvitationRow,
        form_token: String,
        now: i64,
    ) -> Result<SurveyForm> {
        let kind =
            SurveyKind::parse(&row.kind).ok_or_else(|| corrupt(format!("kind {:?}", row.kind)))?;
        let subject = self
            .store
            .conversation(row.conversation)
            .await?
            .map(|c| c.subject)
            .unwrap_or_default();
        let kudos_choices = self
            .store
            .public_repliers(row.conversation)
            .await?
            .into_iter()
            .map(|(agent_id, name)| KudosChoice { agent_id, name })
            .collect();
        Ok(SurveyForm {
            id: row.id,
            conversation: row.conversation,
            subject,
            kind,
            question: row.question,
            scale: Scale {
                min: row.scale_min,
                max: row.scale_max,
            },
            scale_labels: kind.scale_labels(),
            kudos_choices,
            form_token,
            state: state_of(row.answered_at, row.expires_at, now),
            expires_at: row.expires_at,
        })
    }

    /// What the link `/survey/{token}` shows. Reads only: opening a link records nothing.
    pub async fn survey_form(&self, token: &str, now: i64) -> Result<SurveyForm> {
        let hash = token_hash(token)?;
        let row = self
            .store
            .survey_invitation_by_token(&hash)
            .await?
            .ok_or_else(|| AppError::NotFound("survey link".into()))?;
        let key = self.survey_form_key().await?;
        let form = form_token(&key, "survey", &hash);
        self.survey_form_of(row, form, now).await
    }

    /// Records the answer submitted from the link's form: once, before the link closes.
    pub async fn answer_survey(
        &self,
        token: &str,
        form: &str,
        answer: SurveyAnswer,
        now: i64,
    ) -> Result<AnswerOutcome> {
        let hash = token_hash(token)?;
        let key = self.survey_form_key().await?;
        let mut tx = self.store.begin().await?;
        let row = tx
            .survey_invitation_for_update(Some(&hash), None)
            .await?
            .ok_or_else(|| AppError::NotFound("survey link".into()))?;
        if !same(form, &form_token(&key, "survey", &hash)) {
            return Err(AppError::Forbidden(
                "the form has expired: open the link again and answer there".into(),
            ));
        }
        self.record_answer(tx, row, answer, now).await
    }

    /// The surveys a signed-in customer can still answer.
    pub async fn customer_surveys(&self, by: &Principal, now: i64) -> Result<Vec<OpenSurvey>> {
        let Principal::Customer { id } = by else {
            return Ok(Vec::new());
        };
        let rows = self.store.open_surveys_of_customer(*id, now).await?;
        let numbers: Vec<i64> = rows.iter().map(|r| r.conversation).collect();
        let conversations = self.store.conversations_by_number(&numbers).await?;
        rows.into_iter()
            .map(|r| {
                Ok(OpenSurvey {
                    kind: SurveyKind::parse(&r.kind)
                        .ok_or_else(|| corrupt(format!("kind {:?}", r.kind)))?,
                    subject: conversations
                        .iter()
                        .find(|c| c.number == r.conversation)
                        .map(|c| c.subject.clone())
                        .unwrap_or_default(),
                    id: r.id,
                    conversation: r.conversation,
                    sent_at: r.sent_at,
                    expires_at: r.expires_at,
                })
            })
            .collect()
    }

    async fn customer_survey_row(&self, by: &Principal, id: i64) -> Result<SurveyInvitationRow> {
        let row = match by {
            Principal::Customer { id: customer } => self
                .store
                .survey_invitation(id)
                .await?
                .filter(|r| r.customer_id == *customer),
            _ => None,
        };
        row.ok_or_else(|| AppError::NotFound(format!("survey {id}")))
    }

    /// A survey of the signed-in customer, for the portal (their session guards the form).
    pub async fn customer_survey_form(
        &self,
        by: &Principal,
        id: i64,
        now: i64,
    ) -> Result<SurveyForm> {
        let row = self.customer_survey_row(by, id).await?;
        self.survey_form_of(row, String::new(), now).await
    }

    /// Records a signed-in customer's answer from the portal.
    pub async fn answer_customer_survey(
        &self,
        by: &Principal,
        id: i64,
        answer: SurveyAnswer,
        now: i64,
    ) -> Result<AnswerOutcome> {
        self.customer_survey_row(by, id).await?;
        let mut tx = self.store.begin().await?;
        let row = tx
            .survey_invitation_for_update(None, Some(id))
            .await?
            .ok_or_else(|| AppError::NotFound(format!("survey {id}")))?;
        self.record_answer(tx, row, answer, now).await
    }

    async fn record_answer(
        &self,
        mut tx: Tx,
        row: SurveyInvitationRow,
        answer: SurveyAnswer,
        now: i64,
    ) -> Result<AnswerOutcome> {
        match state_of(row.answered_at, row.expires_at, now) {
            SurveyState::Answered { at } => {
                tx.rollback().await?;
                return Ok(AnswerOutcome::AlreadyAnswered { at });
            }
            SurveyState::Expired { at } => {
                tx.rollback().await?;
                return Ok(AnswerOutcome::Expired { at });
            }
            SurveyState::Open => {}
        }
        let scale = Scale {
            min: row.scale_min,
            max: row.scale_max,
        };
        let score = scale
            .check(answer.score)
            .map_err(|e| invalid(e.to_string()))?;
        let comment = clean_comment(answer.comment)?;
        if let Some(agent) = answer.kudos_agent_id {
            let repliers = tx.public_repliers(row.conversation).await?;
            if !repliers.iter().any(|(id, _)| *id == agent) {
                return Err(invalid(
                    "kudos can go only to an agent who replied to you in this conversation",
                ));
            }
        }
        if !tx
            .record_survey_answer(
                row.id,
                score,
                comment.as_deref(),
                answer.kudos_agent_id,
                now,
            )
            .await?
        {
            tx.rollback().await?;
            return Ok(AnswerOutcome::AlreadyAnswered { at: now });
        }
        record(
            &mut tx,
            Some(row.conversation),
            Actor::Customer(row.customer_id),
            now,
            &EventPayload::SurveyAnswered {
                survey_id: row.id,
                kind: row.kind.clone(),
                score,
                scale_min: row.scale_min,
                scale_max: row.scale_max,
                comment,
                kudos_agent_id: answer.kudos_agent_id,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(AnswerOutcome::Recorded)
    }

    /// The instants a query's bounds stand for: a date is that local day of the team's
    /// calendar, as for the KPIs.
    async fn answer_bounds(&self, query: &SurveyAnswerQuery) -> Result<(Option<i64>, Option<i64>)> {
        let calendar = if query.from_date.is_some() || query.to_date.is_some() {
            self.team_calendar().await?
        } else {
            None
        };
        let calendar = calendar.as_ref();
        Ok((
            crate::kpi::instant_or_date(query.from, query.from_date, "from", calendar)?,
            crate::kpi::instant_or_date(query.to, query.to_date, "to", calendar)?,
        ))
    }

    /// Answered surveys, newest first, a page at a time (managers and administrators).
    pub async fn survey_answers(
        &self,
        by: &Principal,
        query: &SurveyAnswerQuery,
    ) -> Result<SurveyAnswerPage> {
        must_read_results(by)?;
        let limit = i64::from(query.limit.unwrap_or(50));
        if !(1..=500).contains(&limit) {
            return Err(invalid("limit is from 1 to 500"));
        }
        let (from, to) = self.answer_bounds(query).await?;
        let filter = answer_filter(query, from, to, query.cursor.unwrap_or(0), limit + 1);
        let mut items = self.store.survey_answers(&filter).await?;
        let next_cursor = if items.len() as i64 > limit {
            items.truncate(limit as usize);
            items.last().map(|r| r.id)
        } else {
            None
        };
        Ok(SurveyAnswerPage { items, next_cursor })
    }

    /// Every answer matching the filters as CSV, newest first (managers and administrators).
    pub async fn survey_answers_csv(
        &self,
        by: &Principal,
        query: &SurveyAnswerQuery,
    ) -> Result<String> {
        must_read_results(by)?;
        let (from, to) = self.answer_bounds(query).await?;
        let agents = self.store.agents().await?;
        let groups = self.store.groups().await?;
        let agent_name = |id: Option<i64>| {
            id.and_then(|id| agents.iter().find(|a| a.id == id))
                .map(|a| a.name.clone())
                .unwrap_or_default()
        };
        let mut out = String::from(
            "survey_id,conversation,subject,customer_id,customer,kind,score,scale_min,scale_max,comment,\
             kudos_agent_id,kudos_agent,channel,group,assignee,sent_at,answered_at\n",
        );
        let mut before = 0;
        loop {
            let page = self
                .store
                .survey_answers(&answer_filter(query, from, to, before, 1000))
                .await?;
            for r in &page {
                let group = r
                    .group_id
                    .and_then(|g| groups.iter().find(|x| x.id == g))
                    .map(|g| g.name.clone())
                    .unwrap_or_default();
                let cells = [
                    r.id.to_string(),
                    r.conversation.to_string(),
                    csv_cell(&r.subject),
                    r.customer_id.to_string(),
                    csv_cell(&r.customer_name),
                    r.kind.clone(),
                    r.score.to_string(),
                    r.scale_min.to_string(),
                    r.scale_max.to_string(),
                    csv_cell(r.comment.as_deref().unwrap_or_default()),
                    csv_number(r.kudos_agent_id),
                    csv_cell(&agent_name(r.kudos_agent_id)),
                    r.channel.clone(),
                    csv_cell(&group),
                    csv_cell(&agent_name(r.assignee_id)),
                    rfc3339(r.sent_at),
                    rfc3339(r.answered_at),
                ];
                out.push_str(&cells.join(","));
                out.push('\n');
            }
            match page.last() {
                Some(last) if page.len() == 1000 => before = last.id,
                _ => return Ok(out),
            }
        }
    }

    /// The attributes of priorities research, in order (managers and administrators).
    pub async fn research_attributes(&self, by: &Principal) -> Result<Vec<ResearchAttributeRow>> {
        must_read_results(by)?;
        Ok(self.store.research_attributes().await?)
    }

    /// Adds one of the team's own research attributes (administrators).
    pub async fn add_research_attribute(
        &self,
        by: &Principal,
        input: AttributeInput,
        now: i64,
    ) -> Result<ResearchAttributeRow> {
        must_administer(by)?;
        let key = check_attribute_key(input.key.trim()).map_err(|e| invalid(e.to_string()))?;
        let (label, description) = check_attribute_text(&input.label, &input.description)?;
        let mut tx = self.store.begin().await?;
        let id = tx
            .insert_research_attribute(key, &label, &description, now)
            .await?;
        let row = tx
            .research_attributes()
            .await?
            .into_iter()
            .find(|a| a.id == id)
            .ok_or_else(|| corrupt(format!("research attribute {id} vanished")))?;
        tx.commit().await?;
        Ok(row)
    }

    /// Renames, describes, retires or brings back a research attribute (administrators).
    /// Keys never change: they name the columns of earlier exports.
    pub async fn update_research_attribute(
        &self,
        by: &Principal,
        id: i64,
        label: &str,
        description: &str,
        active: bool,
    ) -> Result<ResearchAttributeRow> {
        must_administer(by)?;
        let (label, description) = check_attribute_text(label, description)?;
        let mut tx = self.store.begin().await?;
        if !tx
            .update_research_attribute(id, &label, &description, active)
            .await?
        {
            return Err(AppError::NotFound(format!("research attribute {id}")));
        }
        let row = tx
            .research_attributes()
            .await?
            .into_iter()
            .find(|a| a.id == id)
            .ok_or_else(|| AppError::NotFound(format!("research attribute {id}")))?;
        tx.commit().await?;
        Ok(row)
    }

    /// Invites customers to priorities research: one link each, answerable once within 30
    /// days (managers and administrators). The links are returned to be sent by the team.
    pub async fn invite_to_research(
        &self,
        by: &Principal,
        customer_ids: &[i64],
        now: i64,
    ) -> Result<Vec<ResearchInvitation>> {
        must_read_results(by)?;
        if customer_ids.is_empty() || customer_ids.len() > MAX_RESEARCH_INVITATIONS {
            return Err(invalid(format!(
                "invite from 1 to {MAX_RESEARCH_INVITATIONS} customers at a time"
            )));
        }
        let settings = settings_of(&self.store.survey_settings().await?)?;
        let expires_at = now + RESEARCH_ANSWER_DAYS * DAY_MILLIS;
        let mut tx = self.store.begin().await?;
        let mut out = Vec::with_capacity(customer_ids.len());
        for &customer_id in customer_ids {
            if tx.customer(customer_id).await?.is_none() {
                return Err(AppError::NotFound(format!("customer {customer_id}")));
            }
            let token = new_token();
            let id = tx
                .insert_research_invitation(customer_id, &secret_hash(&token), now, expires_at)
                .await?;
            out.push(ResearchInvitation {
                id,
                customer_id,
                link: format!("{}/research/{token}", settings.public_url),
                token,
                expires_at,
            });
        }
        tx.commit().await?;
        Ok(out)
    }

    /// What the link `/research/{token}` shows. Reads only.
    pub async fn research_form(&self, token: &str, now: i64) -> Result<ResearchForm> {
        let hash = token_hash(token)?;
        let invitation = self
            .store
            .research_invitation_by_token(&hash)
            .await?
            .ok_or_else(|| AppError::NotFound("research link".into()))?;
        let key = self.survey_form_key().await?;
        let attributes = self
            .store
            .research_attributes()
            .await?
            .into_iter()
            .filter(|a| a.active)
            .collect();
        Ok(ResearchForm {
            attributes,
            scale: RESEARCH_SCALE,
            form_token: form_token(&key, "research", &hash),
            state: state_of(invitation.answered_at, invitation.expires_at, now),
            expires_at: invitation.expires_at,
        })
    }

    /// Records a research response submitted from the link's form: once, before it closes.
    pub async fn answer_research(
        &self,
        token: &str,
        form: &str,
        answer: ResearchAnswer,
        now: i64,
    ) -> Result<AnswerOutcome> {
        let hash = token_hash(token)?;
        let key = self.survey_form_key().await?;
        let mut tx = self.store.begin().await?;
        let invitation = tx
            .research_invitation_for_update(&hash)
            .await?
            .ok_or_else(|| AppError::NotFound("research link".into()))?;
        if !same(form, &form_token(&key, "research", &hash)) {
            return Err(AppError::Forbidden(
                "the form has expired: open the link again and answer there".into(),
            ));
        }
        match state_of(invitation.answered_at, invitation.expires_at, now) {
            SurveyState::Answered { at } => {
                tx.rollback().await?;
                return Ok(AnswerOutcome::AlreadyAnswered { at });
            }
            SurveyState::Expired { at } => {
                tx.rollback().await?;
                return Ok(AnswerOutcome::Expired { at });
            }
            SurveyState::Open => {}
        }
        let active: Vec<i64> = tx
            .research_attributes()
            .await?
            .into_iter()
            .filter(|a| a.active)
            .map(|a| a.id)
            .collect();
        let check = |value: Option<i64>, what: &str| -> Result<Option<i64>> {
            match value {
                Some(v) if !RESEARCH_SCALE.contains(v) => Err(invalid(format!(
                    "{what} is rated from {} to {}",
                    RESEARCH_SCALE.min, RESEARCH_SCALE.max
                ))),
                other => Ok(other),
            }
        };
        let mut ratings = Vec::new();
        for (attribute, importance, performance) in &answer.ratings {
            if !active.contains(attribute) {
                return Err(invalid(format!(
                    "attribute {attribute} is not part of this research"
                )));
            }
            if ratings.iter().any(|(a, _, _)| a == attribute) {
                return Err(invalid(format!("attribute {attribute} is rated twice")));
            }
            let importance = check(*importance, "importance")?;
            let performance = check(*performance, "performance")?;
            if importance.is_some() || performance.is_some() {
                ratings.push((*attribute, importance, performance));
            }
        }
        let overall = check(answer.overall_satisfaction, "overall satisfaction")?;
        if ratings.is_empty() && overall.is_none() {
            return Err(invalid("rate at least one attribute before sending"));
        }
        if !tx.mark_research_answered(invitation.id, now).await? {
            tx.rollback().await?;
            return Ok(AnswerOutcome::AlreadyAnswered { at: now });
        }
        let response_id = tx
            .insert_research_response(
                Some(invitation.id),
                Some(invitation.customer_id),
                overall,
                now,
            )
            .await?;
        for (attribute, importance, performance) in &ratings {
            tx.insert_research_rating(response_id, *attribute, *importance, *performance)
                .await?;
        }
        record(
            &mut tx,
            None,
            Actor::Customer(invitation.customer_id),
            now,
            &EventPayload::PrioritiesAnswered {
                response_id,
                attributes_rated: ratings.len() as i64,
            },
        )
        .await?;
        tx.commit().await?;
        Ok(AnswerOutcome::Recorded)
    }

    /// Every research response as CSV, one respondent per row: `respondent_id`, then
    /// `importance_<key>` and `performance_<key>` for each attribute that has ratings (in
    /// the attributes' order), then `overall_satisfaction`; a rating left out is an empty
    /// cell. This is what `rapport analyze ipa` and `rapport analyze key-drivers` read
    /// (managers and administrators).
    pub async fn research_csv(&self, by: &Principal) -> Result<String> {
        must_read_results(by)?;
        let attributes = self.store.research_attributes().await?;
        let responses = self.store.research_responses().await?;
        let ratings = self.store.research_ratings().await?;
        let rated: Vec<&ResearchAttributeRow> = attributes
            .iter()
            .filter(|a| ratings.iter().any(|(_, key, _, _)| *key == a.key))
            .collect();
        let mut out = String::from("respondent_id");
        for a in &rated {
            out.push_str(&format!(",importance_{0},performance_{0}", a.key));
        }
        out.push_str(",overall_satisfaction\n");
        let mut at = 0;
        for (response_id, overall) in responses {
            while at < ratings.len() && ratings[at].0 < response_id {
                at += 1;
            }
            let start = at;
            while at < ratings.len() && ratings[at].0 == response_id {
                at += 1;
            }
            let mine = &ratings[start..at];
            out.push_str(&format!("r{response_id}"));
            for a in &rated {
                let (importance, performance) = mine
                    .iter()
                    .find(|(_, key, _, _)| *key == a.key)
                    .map(|(_, _, i, p)| (*i, *p))
                    .unwrap_or((None, None));
                out.push_str(&format!(
                    ",{},{}",
                    csv_number(importance),
                    csv_number(performance)
                ));
            }
            out.push_str(&format!(",{}\n", csv_number(overall)));
        }
        Ok(out)
    }
}

fn answer_filter(
    query: &SurveyAnswerQuery,
    from: Option<i64>,
    to: Option<i64>,
    before: i64,
    limit: i64,
) -> SurveyAnswerFilter {
    SurveyAnswerFilter {
        kind: query.kind.map(|k| k.as_str().to_string()),
        from,
        to,
        group_id: query.group_id,
        assignee_id: query.assignee_id,
        kudos_agent_id: query.kudos_agent_id,
        before,
        limit,
    }
}

fn check_attribute_text(label: &str, description: &str) -> Result<(String, String)> {
    let label = label.trim().to_string();
    let description = description.trim().to_string();
    if label.is_empty() || label.chars().count() > 80 {
        return Err(invalid("an attribute's label is 1 to 80 characters"));
    }
    if description.chars().count() > 300 {
        return Err(invalid(
            "an attribute's description is at most 300 characters",
        ));
    }
    Ok((label, description))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_never_run_as_formulas() {
        assert_eq!(csv_cell("plain"), "plain");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_cell("=SUM(A1)"), "'=SUM(A1)");
        assert_eq!(csv_cell("line\nbreak"), "\"line\nbreak\"");
    }

    #[test]
    fn times_are_written_in_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_767_261_600_000), "2026-01-01T10:00:00Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn settings_are_checked_before_they_are_kept() {
        let good = SurveySettings {
            enabled: true,
            kind: SurveyKind::Csat,
            csat_scale: Scale { min: 1, max: 5 },
            question: String::new(),
            delay_minutes: 60,
            channel: SurveyChannel::Email,
            sampling_rate: 0.5,
            min_days_between: 30,
            answer_days: 14,
            public_url: "https://support.example.com/".into(),
        };
        assert_eq!(
            checked(good.clone()).map(|s| s.public_url).ok(),
            Some("https://support.example.com".to_string())
        );
        let bad = [
            SurveySettings {
                sampling_rate: 1.5,
                ..good.clone()
            },
            SurveySettings {
                sampling_rate: f64::NAN,
                ..good.clone()
            },
            SurveySettings {
                csat_scale: Scale { min: 1, max: 1 },
                ..good.clone()
            },
            SurveySettings {
                public_url: "ftp://x".into(),
                ..good.clone()
            },
            SurveySettings {
                public_url: "https://".into(),
                ..good.clone()
            },
            SurveySettings {
                answer_days: 0,
                ..good.clone()
            },
            SurveySettings {
                delay_minutes: -1,
                ..good
            },
        ];
        for s in bad {
            assert!(checked(s.clone()).is_err(), "{s:?}");
        }
    }

    #[test]
    fn tokens_of_the_wrong_shape_are_not_looked_up() {
        assert!(token_hash("short").is_err());
        assert!(token_hash(&"a".repeat(43)).is_ok());
        assert!(token_hash("../../etc/passwd-aaaaaaaaaaaaaaaaaaaaaaa").is_err());
    }
}
