//! Surveys after solved conversations (settings, invitations with their one answer) and
//! priorities research (attributes, invitations, responses with per-attribute ratings).

use crate::{run, Dialect, Result, Store, Tx};

stored_row! {
    /// The survey settings (one row).
    #[derive(Debug, Clone, PartialEq)]
    pub struct SurveySettingsRow {
        pub enabled: bool,
        /// csat, ces or nps.
        pub kind: String,
        pub csat_scale_min: i64,
        pub csat_scale_max: i64,
        /// Empty: the kind's default question.
        pub question: String,
        pub delay_minutes: i64,
        /// email or portal.
        pub channel: String,
        pub sampling_rate: f64,
        pub min_days_between: i64,
        pub answer_days: i64,
        pub public_url: String,
        pub updated_at: i64,
    }
}

const SETTINGS_COLUMNS: &str =
    "enabled, kind, csat_scale_min, csat_scale_max, question, delay_minutes, channel, \
     sampling_rate, min_days_between, answer_days, public_url, updated_at";

stored_row! {
    /// A survey sent for a conversation, and its answer once given.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct SurveyInvitationRow {
        pub id: i64,
        pub conversation: i64,
        pub customer_id: i64,
        pub kind: String,
        pub scale_min: i64,
        pub scale_max: i64,
        pub question: String,
        pub channel: String,
        pub token_hash: String,
        pub outbound_id: Option<i64>,
        pub sent_at: i64,
        pub expires_at: i64,
        pub answered_at: Option<i64>,
        pub score: Option<i64>,
        pub comment: Option<String>,
        pub kudos_agent_id: Option<i64>,
    }
}

const INVITATION_COLUMNS: &str =
    "id, conversation, customer_id, kind, scale_min, scale_max, question, channel, token_hash, \
     outbound_id, sent_at, expires_at, answered_at, score, comment, kudos_agent_id";

/// A survey about to be sent.
#[derive(Debug, Clone)]
pub struct NewSurveyInvitation<'a> {
    pub conversation: i64,
    pub customer_id: i64,
    pub kind: &'a str,
    pub scale_min: i64,
    pub scale_max: i64,
    pub question: &'a str,
    pub channel: &'a str,
    pub token_hash: &'a str,
    pub sent_at: i64,
    pub expires_at: i64,
}

stored_row! {
    /// An answered survey with what a manager filters and reads it by.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct SurveyAnswerRow {
        pub id: i64,
        pub conversation: i64,
        pub subject: String,
        pub customer_id: i64,
        pub customer_name: String,
        pub kind: String,
        pub scale_min: i64,
        pub scale_max: i64,
        pub score: i64,
        pub comment: Option<String>,
        pub kudos_agent_id: Option<i64>,
        pub kudos_agent_name: Option<String>,
        pub channel: String,
        pub group_id: Option<i64>,
        pub assignee_id: Option<i64>,
        pub sent_at: i64,
        pub answered_at: i64,
    }
}

/// Which answers to list: every filter left empty matches anything. Newest first, `limit`
/// at a time, below survey id `before` (0: from the newest).
#[derive(Debug, Clone, Default)]
pub struct SurveyAnswerFilter {
    pub kind: Option<String>,
    /// Answered at or after.
    pub from: Option<i64>,
    /// Answered before.
    pub to: Option<i64>,
    pub group_id: Option<i64>,
    pub assignee_id: Option<i64>,
    pub kudos_agent_id: Option<i64>,
    pub before: i64,
    pub limit: i64,
}

stored_row! {
    /// A service attribute of priorities research.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ResearchAttributeRow {
        pub id: i64,
        pub key: String,
        pub label: String,
        pub description: String,
        pub builtin: bool,
        pub active: bool,
        pub position: i64,
        pub created_at: i64,
    }
}

const ATTRIBUTE_COLUMNS: &str =
    "id, key, label, description, builtin, active, position, created_at";

stored_row! {
    /// An invitation to priorities research.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct ResearchInvitationRow {
        pub id: i64,
        pub customer_id: i64,
        pub token_hash: String,
        pub created_at: i64,
        pub expires_at: i64,
        pub answered_at: Option<i64>,
    }
}

/// One rating of a research response: (response, attribute key, importance, performance).
pub type ResearchRating = (i64, String, Option<i64>, Option<i64>);

impl Tx {
    pub async fn survey_settings(&mut self) -> Result<SurveySettingsRow> {
        let sql = format!("SELECT {SETTINGS_COLUMNS} FROM survey_settings WHERE id = 1");
        run!(tx self, |c| Ok(sqlx::query_as(&sql).fetch_one(&mut *c).await?))
    }

    pub async fn put_survey_settings(&mut self, row: &SurveySettingsRow) -> Result<()> {
        run!(tx self, |c| sqlx::query(
            "UPDATE survey_settings SET enabled = $1, kind = $2, csat_scale_min = $3, csat_scale_max = $4, question = $5, \
             delay_minutes = $6, channel = $7, sampling_rate = $8, min_days_between = $9, answer_days = $10, public_url = $11, \
             updated_at = $12 WHERE id = 1")
            .bind(row.enabled).bind(&row.kind).bind(row.csat_scale_min).bind(row.csat_scale_max).bind(&row.question)
            .bind(row.delay_minutes).bind(&row.channel).bind(row.sampling_rate).bind(row.min_days_between)
            .bind(row.answer_days).bind(&row.public_url).bind(row.updated_at)
            .execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }

    /// Whether the conversation has been surveyed.
    pub async fn conversation_surveyed(&mut self, conversation: i64) -> Result<bool> {
        let found: Option<i64> = run!(tx self, |c| sqlx::query_scalar("SELECT id FROM survey_invitations WHERE conversation = $1")
            .bind(conversation).fetch_optional(&mut *c).await?);
        Ok(found.is_some())
    }

    /// When the customer's survey sent closest to `at` (before or after) was sent.
    pub async fn nearest_survey_to_customer(
        &mut self,
        customer_id: i64,
        at: i64,
    ) -> Result<Option<i64>> {
        run!(tx self, |c| Ok(sqlx::query_scalar(
            "SELECT sent_at FROM survey_invitations WHERE customer_id = $1 ORDER BY ABS(sent_at - $2), sent_at LIMIT 1")
            .bind(customer_id).bind(at).fetch_optional(&mut *c).await?))
    }

    pub async fn insert_survey_invitation(&mut self, new: &NewSurveyInvitation<'_>) -> Result<i64> {
        run!(tx self, |c| Ok(sqlx::query_scalar(
            "INSERT INTO survey_invitations (conversation, customer_id, kind, scale_min, scale_max, question, channel, token_hash, \
             sent_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id")
            .bind(new.conversation).bind(new.customer_id).bind(new.kind).bind(new.scale_min).bind(new.scale_max)
            .bind(new.question).bind(new.channel).bind(new.token_hash).bind(new.sent_at).bind(new.expires_at)
            .fetch_one(&mut *c).await?))
    }

    pub async fn set_survey_outbound(&mut self, id: i64, outbound_id: i64) -> Result<()> {
        run!(tx self, |c| sqlx::query("UPDATE survey_invitations SET outbound_id = $1 WHERE id = $2")
            .bind(outbound_id).bind(id).execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }

    /// A survey by its token's hash or by its id, held for this transaction (locked on
    /// PostgreSQL, so two submits of the same form take turns).
    pub async fn survey_invitation_for_update(
        &mut self,
        token_hash: Option<&str>,
        id: Option<i64>,
    ) -> Result<Option<SurveyInvitationRow>> {
        let lock = if self.dialect() == Dialect::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {INVITATION_COLUMNS} FROM survey_invitations WHERE token_hash = $1 OR id = $2{lock}"
        );
        run!(tx self, |c| Ok(sqlx::query_as(&sql).bind(token_hash).bind(id.unwrap_or(0)).fetch_optional(&mut *c).await?))
    }

    /// Writes a survey's answer; `false` when it was already answered.
    pub async fn record_survey_answer(
        &mut self,
        id: i64,
        score: i64,
        comment: Option<&str>,
        kudos_agent_id: Option<i64>,
        now: i64,
    ) -> Result<bool> {
        run!(tx self, |c| Ok(sqlx::query(
            "UPDATE survey_invitations SET answered_at = $1, score = $2, comment = $3, kudos_agent_id = $4 \
             WHERE id = $5 AND answered_at IS NULL")
            .bind(now).bind(score).bind(comment).bind(kudos_agent_id).bind(id)
            .execute(&mut *c).await?.rows_affected() == 1))
    }

    /// The agents who replied publicly in a conversation (id, name), in order of first reply.
    pub async fn public_repliers(&mut self, conversation: i64) -> Result<Vec<(i64, String)>> {
        run!(tx self, |c| Ok(sqlx::query_as(
            "SELECT a.id, a.name FROM agents a JOIN (SELECT author_id, MIN(id) AS first FROM messages \
             WHERE conversation = $1 AND kind = 'reply' AND author_kind = 'agent' GROUP BY author_id) m ON m.author_id = a.id \
             ORDER BY m.first")
            .bind(conversation).fetch_all(&mut *c).await?))
    }

    pub async fn research_attributes(&mut self) -> Result<Vec<ResearchAttributeRow>> {
        let sql =
            format!("SELECT {ATTRIBUTE_COLUMNS} FROM research_attributes ORDER BY position, id");
        run!(tx self, |c| Ok(sqlx::query_as(&sql).fetch_all(&mut *c).await?))
    }

    pub async fn insert_research_attribute(
        &mut self,
        key: &str,
        label: &str,
        description: &str,
        now: i64,
    ) -> Result<i64> {
        run!(tx self, |c| Ok(sqlx::query_scalar(
            "INSERT INTO research_attributes (key, label, description, builtin, active, position, created_at) \
             VALUES ($1, $2, $3, FALSE, TRUE, (SELECT COALESCE(MAX(position), 0) + 1 FROM research_attributes), $4) RETURNING id")
            .bind(key).bind(label).bind(description).bind(now).fetch_one(&mut *c).await?))
    }

    /// Returns whether the attribute existed.
    pub async fn update_research_attribute(
        &mut self,
        id: i64,
        label: &str,
        description: &str,
        active: bool,
    ) -> Result<bool> {
        run!(tx self, |c| Ok(sqlx::query(
            "UPDATE research_attributes SET label = $1, description = $2, active = $3 WHERE id = $4")
            .bind(label).bind(description).bind(active).bind(id)
            .execute(&mut *c).await?.rows_affected() == 1))
    }

    pub async fn insert_research_invitation(
        &mut self,
        customer_id: i64,
        token_hash: &str,
        now: i64,
        expires_at: i64,
    ) -> Result<i64> {
        run!(tx self, |c| Ok(sqlx::query_scalar(
            "INSERT INTO research_invitations (customer_id, token_hash, created_at, expires_at) VALUES ($1, $2, $3, $4) RETURNING id")
            .bind(customer_id).bind(token_hash).bind(now).bind(expires_at).fetch_one(&mut *c).await?))
    }

    /// A research invitation by its token's hash, locked on PostgreSQL.
    pub async fn research_invitation_for_update(
        &mut self,
        token_hash: &str,
    ) -> Result<Option<ResearchInvitationRow>> {
        let lock = if self.dialect() == Dialect::Postgres {
            " FOR UPDATE"
        } else {
            ""
        };
        let sql = format!(
            "SELECT id, customer_id, token_hash, created_at, expires_at, answered_at FROM research_invitations WHERE token_hash = $1{lock}"
        );
        run!(tx self, |c| Ok(sqlx::query_as(&sql).bind(token_hash).fetch_optional(&mut *c).await?))
    }

    /// Marks a research invitation answered; `false` when it already was.
    pub async fn mark_research_answered(&mut self, id: i64, now: i64) -> Result<bool> {
        run!(tx self, |c| Ok(sqlx::query("UPDATE research_invitations SET answered_at = $1 WHERE id = $2 AND answered_at IS NULL")
            .bind(now).bind(id).execute(&mut *c).await?.rows_affected() == 1))
    }

    pub async fn insert_research_response(
        &mut self,
        invitation_id: Option<i64>,
        customer_id: Option<i64>,
        overall_satisfaction: Option<i64>,
        now: i64,
    ) -> Result<i64> {
        run!(tx self, |c| Ok(sqlx::query_scalar(
            "INSERT INTO research_responses (invitation_id, customer_id, overall_satisfaction, submitted_at) VALUES ($1, $2, $3, $4) RETURNING id")
            .bind(invitation_id).bind(customer_id).bind(overall_satisfaction).bind(now).fetch_one(&mut *c).await?))
    }

    pub async fn insert_research_rating(
        &mut self,
        response_id: i64,
        attribute_id: i64,
        importance: Option<i64>,
        performance: Option<i64>,
    ) -> Result<()> {
        run!(tx self, |c| sqlx::query(
            "INSERT INTO research_ratings (response_id, attribute_id, importance, performance) VALUES ($1, $2, $3, $4)")
            .bind(response_id).bind(attribute_id).bind(importance).bind(performance)
            .execute(&mut *c).await.map(|_| ())?);
        Ok(())
    }
}

impl Store {
    /// An instance secret, if it has been created (see `Tx::instance_secret`).
    pub async fn instance_secret_value(&self, name: &str) -> Result<Option<String>> {
        run!(read self, |c| Ok(sqlx::query_scalar("SELECT value FROM instance_secrets WHERE name = $1")
            .bind(name).fetch_optional(c).await?))
    }

    pub async fn survey_settings(&self) -> Result<SurveySettingsRow> {
        let sql = format!("SELECT {SETTINGS_COLUMNS} FROM survey_settings WHERE id = 1");
        run!(read self, |c| Ok(sqlx::query_as(&sql).fetch_one(c).await?))
    }

    pub async fn survey_invitation_by_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<SurveyInvitationRow>> {
        let sql =
            format!("SELECT {INVITATION_COLUMNS} FROM survey_invitations WHERE token_hash = $1");
        run!(read self, |c| Ok(sqlx::query_as(&sql).bind(token_hash).fetch_optional(c).await?))
    }

    pub async fn survey_invitation(&self, id: i64) -> Result<Option<SurveyInvitationRow>> {
        let sql = format!("SELECT {INVITATION_COLUMNS} FROM survey_invitations WHERE id = $1");
        run!(read self, |c| Ok(sqlx::query_as(&sql).bind(id).fetch_optional(c).await?))
    }

    /// The surveys a customer can still answer at `now`, newest first.
    pub async fn open_surveys_of_customer(
        &self,
        customer_id: i64,
        now: i64,
    ) -> Result<Vec<SurveyInvitationRow>> {
        let sql = format!(
            "SELECT {INVITATION_COLUMNS} FROM survey_invitations WHERE customer_id = $1 AND answered_at IS NULL \
             AND expires_at > $2 ORDER BY sent_at DESC, id DESC LIMIT 20"
        );
        run!(read self, |c| Ok(sqlx::query_as(&sql).bind(customer_id).bind(now).fetch_all(c).await?))
    }

    /// The surveys of a conversation (at most one).
    pub async fn survey_of_conversation(
        &self,
        conversation: i64,
    ) -> Result<Option<SurveyInvitationRow>> {
        let sql =
            format!("SELECT {INVITATION_COLUMNS} FROM survey_invitations WHERE conversation = $1");
        run!(read self, |c| Ok(sqlx::query_as(&sql).bind(conversation).fetch_optional(c).await?))
    }

    /// The agents who replied publicly in a conversation (id, name), in order of first reply.
    pub async fn public_repliers(&self, conversation: i64) -> Result<Vec<(i64, String)>> {
        run!(read self, |c| Ok(sqlx::query_as(
            "SELECT a.id, a.name FROM agents a JOIN (SELECT author_id, MIN(id) AS first FROM messages \
             WHERE conversation = $1 AND kind = 'reply' AND author_kind = 'agent' GROUP BY author_id) m ON m.author_id = a.id \
             ORDER BY m.first")
            .bind(conversation).fetch_all(c).await?))
    }

    /// Answered surveys, newest first (see [`SurveyAnswerFilter`]).
    pub async fn survey_answers(&self, f: &SurveyAnswerFilter) -> Result<Vec<SurveyAnswerRow>> {
        const SQL: &str = "SELECT s.id, s.conversation, v.subject, s.customer_id, cu.name AS customer_name, s.kind, \
             s.scale_min, s.scale_max, s.score, s.comment, s.kudos_agent_id, a.name AS kudos_agent_name, s.channel, \
             v.group_id, v.assignee_id, s.sent_at, s.answered_at \
             FROM survey_invitations s JOIN conversations v ON v.number = s.conversation \
             JOIN customers cu ON cu.id = s.customer_id LEFT JOIN agents a ON a.id = s.kudos_agent_id \
             WHERE s.answered_at IS NOT NULL AND s.score IS NOT NULL \
             AND ($1 = '' OR s.kind = $1) AND s.answered_at >= $2 AND s.answered_at < $3 \
             AND ($4 = 0 OR v.group_id = $4) AND ($5 = 0 OR v.assignee_id = $5) AND ($6 = 0 OR s.kudos_agent_id = $6) \
             AND ($7 = 0 OR s.id < $7) ORDER BY s.id DESC LIMIT $8";
        let kind = f.kind.clone().unwrap_or_default();
        run!(long_read self, |c| Ok(sqlx::query_as(SQL)
            .bind(kind).bind(f.from.unwrap_or(i64::MIN)).bind(f.to.unwrap_or(i64::MAX))
            .bind(f.group_id.unwrap_or(0)).bind(f.assignee_id.unwrap_or(0)).bind(f.kudos_agent_id.unwrap_or(0))
            .bind(f.before).bind(f.limit)
            .fetch_all(c).await?))
    }

    pub async fn research_attributes(&self) -> Result<Vec<ResearchAttributeRow>> {
        let sql =
            format!("SELECT {ATTRIBUTE_COLUMNS} FROM research_attributes ORDER BY position, id");
        run!(long_read self, |c| Ok(sqlx::query_as(&sql).fetch_all(c).await?))
    }

    pub async fn research_invitation_by_token(
        &self,
        token_hash: &str,
    ) -> Result<Option<ResearchInvitationRow>> {
        run!(long_read self, |c| Ok(sqlx::query_as(
            "SELECT id, customer_id, token_hash, created_at, expires_at, answered_at FROM research_invitations WHERE token_hash = $1")
            .bind(token_hash).fetch_optional(c).await?))
    }

    /// Every research response (id, overall satisfaction), oldest first.
    pub async fn research_responses(&self) -> Result<Vec<(i64, Option<i64>)>> {
        run!(long_read self, |c| Ok(sqlx::query_as("SELECT id, overall_satisfaction FROM research_responses ORDER BY id")
            .fetch_all(c).await?))
    }

    /// Every rating of every research response, by response.
    pub async fn research_ratings(&self) -> Result<Vec<ResearchRating>> {
        run!(long_read self, |c| Ok(sqlx::query_as(
            "SELECT r.response_id, a.key, r.importance, r.performance FROM research_ratings r \
             JOIN research_attributes a ON a.id = r.attribute_id ORDER BY r.response_id, a.position, a.id")
            .fetch_all(c).await?))
    }
}
