//! Work that follows the log: event consumers with durable cursors (search indexing now;
//! roll-ups, webhooks and scorecards later) and timed jobs (auto-close).

use domain::conversation::auto_close_due;
use domain::{EventPayload, Principal, Status};
use store::{Cursor, Job};

use crate::{App, AppError, Patch, Result};

/// The name under which the search indexer keeps its cursor.
pub const SEARCH_CONSUMER: &str = "search";
/// Closes a solved conversation after the configured number of days.
pub const AUTO_CLOSE_JOB: &str = "auto_close";

/// What happened to a claimed job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobOutcome {
    Done,
    Retried(String),
    Nothing,
}

impl App {
    /// Feeds new messages into the full-text index; returns how many events it read.
    /// Each batch commits the index rows together with the cursor, so a crash replays
    /// at most the batch that did not commit, and indexing a message twice is harmless.
    ///
    /// The events and the messages' text are read without the writer; the writer is taken
    /// only to write the index rows, after checking that the cursor has not moved meanwhile
    /// (another node indexed the batch first: then it reads again from where that one ended).
    pub async fn run_search_indexer(&self, batch: u32, now: i64) -> Result<usize> {
        let mut total = 0;
        loop {
            let cursor = self
                .store
                .cursor(SEARCH_CONSUMER)
                .await?
                .unwrap_or_default();
            let events = self.store.events_after(cursor, batch).await?;
            let Some(last) = events.last() else {
                return Ok(total);
            };
            let next = Cursor::after(last);
            let ids: Vec<i64> = events
                .iter()
                .filter(|e| e.kind == "message_added")
                .filter_map(|e| match serde_json::from_str(&e.payload) {
                    Ok(EventPayload::MessageAdded { message_id, .. }) => Some(message_id),
                    _ => None,
                })
                .collect();
            let messages = self.store.messages_for_index(&ids).await?;
            let mut tx = self.store.begin().await?;
            if tx.lock_cursor(SEARCH_CONSUMER, now).await? != cursor {
                tx.rollback().await?;
                continue;
            }
            tx.index_messages(&messages).await?;
            tx.set_cursor(SEARCH_CONSUMER, next, now).await?;
            tx.commit().await?;
            total += events.len();
            if events.len() < batch as usize {
                return Ok(total);
            }
        }
    }

    /// Claims and runs one due job; `Nothing` when none is due.
    pub async fn run_one_job(&self, worker: &str, now: i64) -> Result<JobOutcome> {
        let Some(job) = self.store.claim_job(worker, now, 60_000).await? else {
            return Ok(JobOutcome::Nothing);
        };
        match self.run_job(&job, now).await {
            Ok(()) => {
                if !self.store.complete_job(&job, now).await? {
                    tracing::warn!(job = job.id, kind = %job.kind, "job finished after its lease ran out and another worker claimed it; that claim stands");
                }
                Ok(JobOutcome::Done)
            }
            Err(err) => {
                let reason = err.to_string();
                tracing::warn!(job = job.id, kind = %job.kind, error = %reason, "job failed");
                if !self.store.fail_job(&job, &reason, now).await? {
                    tracing::warn!(job = job.id, kind = %job.kind, "job failed after its lease ran out and another worker claimed it; that claim stands");
                }
                Ok(JobOutcome::Retried(reason))
            }
        }
    }

    async fn run_job(&self, job: &Job, now: i64) -> Result<()> {
        match job.kind.as_str() {
            AUTO_CLOSE_JOB => {
                let payload: serde_json::Value = serde_json::from_str(&job.payload)
                    .map_err(|e| AppError::Invalid(format!("job payload: {e}")))?;
                let number = payload["number"]
                    .as_i64()
                    .ok_or_else(|| AppError::Invalid("job payload has no number".into()))?;
                let Some(row) = self.store.conversation(number).await? else {
                    return Ok(());
                };
                let status = Status::parse(&row.status).unwrap_or(Status::Open);
                if auto_close_due(status, row.solved_at, now, self.settings.auto_close_days)
                    && row.merged_into.is_none()
                {
                    let patch = Patch {
                        status: Some(Status::Closed),
                        ..Default::default()
                    };
                    self.update_conversation(&Principal::System, number, patch, now)
                        .await?;
                }
                Ok(())
            }
            crate::MAIL_INGEST_JOB => {
                let id: i64 = job.payload.trim().parse().map_err(|_| {
                    AppError::Invalid(format!(
                        "job payload {:?} is not an inbound id",
                        job.payload
                    ))
                })?;
                self.ingest_mail(id, now).await.map(|_| ())
            }
            crate::MAIL_SEND_JOB => self.send_outbound(job, now).await,
            crate::MAIL_ACKNOWLEDGE_JOB => self.acknowledge(job, now).await,
            crate::SLA_ESCALATE_JOB => self.run_sla_escalation(&job.payload, now).await,
            crate::SURVEY_SEND_JOB => self.run_survey_job(&job.payload, now).await,
            other => Err(AppError::Invalid(format!("unknown job kind {other:?}"))),
        }
    }
}
