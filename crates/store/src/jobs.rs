//! Background jobs with leases: a worker claims a due job for a while; if it dies, the
//! lease runs out and another worker takes the job. Failures are retried with backoff.
//!
//! Leases are measured on the database's clock, never a node's: `locked_until` is set from, and
//! compared with, the database's own time (PostgreSQL's `clock_timestamp()`, SQLite's
//! `julianday('now')`). All nodes share that one clock, so a node whose clock is days ahead
//! cannot take a job another node is running, and one whose clock is days behind still takes a
//! crashed node's job once its lease has run out. A running job is taken over on its lease
//! alone (it was due when first claimed); `run_at`, the time a queued job becomes due, is
//! compared with the claiming node's `now`, since it is scheduling in the use cases' time.

use crate::{run, Dialect, Result, Store, Tx};

stored_row! {
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct Job {
        pub id: i64,
        pub kind: String,
        pub payload: String,
        pub attempts: i64,
        pub max_attempts: i64,
    }
}

/// How long to wait before retry number `attempt` (1-based): 30 s, doubling, at most an hour.
pub fn retry_delay_millis(attempt: i64) -> i64 {
    let exponent = attempt.clamp(1, 8) - 1;
    (30_000_i64 << exponent).min(3_600_000)
}

impl Tx {
    /// Queues a job to run at `run_at`. With a `unique_key`, a job with the same key that
    /// is already queued is kept instead (returns `None`).
    pub async fn enqueue_job(
        &mut self,
        kind: &str,
        payload: &str,
        run_at: i64,
        unique_key: Option<&str>,
        max_attempts: i64,
        now: i64,
    ) -> Result<Option<i64>> {
        run!(tx self, |c| Ok(sqlx::query_scalar(
            "INSERT INTO jobs (kind, payload, unique_key, status, run_at, attempts, max_attempts, created_at, updated_at) \
             VALUES ($1, $2, $3, 'queued', $4, 0, $5, $6, $6) ON CONFLICT DO NOTHING RETURNING id")
            .bind(kind).bind(payload).bind(unique_key).bind(run_at).bind(max_attempts).bind(now)
            .fetch_optional(&mut *c).await?))
    }
}

/// The database's clock in milliseconds since the epoch, as SQL: the one clock every node's
/// leases are measured on.
fn database_clock(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "CAST(ROUND((julianday('now') - 2440587.5) * 86400000.0) AS INTEGER)",
        Dialect::Postgres => "CAST(EXTRACT(EPOCH FROM clock_timestamp()) * 1000 AS BIGINT)",
    }
}

impl Store {
    /// Claims the most overdue job that is due (queued with `run_at <= now`) or whose lease has
    /// run out (running with `locked_until` past on the database's clock), for `lease_millis`
    /// on the database's clock.
    pub async fn claim_job(
        &self,
        worker: &str,
        now: i64,
        lease_millis: i64,
    ) -> Result<Option<Job>> {
        let clock = database_clock(self.dialect());
        let skip_locked = match self.dialect() {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        };
        let sql = format!(
            "UPDATE jobs SET status = 'running', locked_by = $1, locked_until = {clock} + $3, attempts = attempts + 1, updated_at = $2 \
             WHERE id = (SELECT id FROM jobs WHERE attempts < max_attempts \
                         AND ((status = 'queued' AND run_at <= $2) OR (status = 'running' AND locked_until < {clock})) \
                         ORDER BY run_at, id LIMIT 1{skip_locked}) \
             RETURNING id, kind, payload, attempts, max_attempts"
        );
        // A job whose worker stopped during its last attempt is never claimed again: record
        // it as failed, with the reason, rather than leave it running for ever.
        let abandoned = format!(
            "UPDATE jobs SET status = 'failed', unique_key = NULL, locked_by = NULL, locked_until = NULL, updated_at = $1, \
             last_error = 'its worker stopped during the last attempt (the lease ran out)' \
             WHERE status = 'running' AND attempts >= max_attempts AND locked_until < {clock}"
        );
        let mut tx = self.begin().await?;
        run!(tx &mut tx, |c| sqlx::query(&abandoned).bind(now).execute(&mut *c).await.map(|_| ())?);
        let job: Option<Job> = run!(tx &mut tx, |c| sqlx::query_as(&sql).bind(worker).bind(now).bind(lease_millis)
            .fetch_optional(&mut *c).await?);
        tx.commit().await?;
        Ok(job)
    }

    /// A job's status and its last error.
    pub async fn job_status(&self, id: i64) -> Result<Option<(String, Option<String>)>> {
        run!(read self, |p| Ok(sqlx::query_as("SELECT status, last_error FROM jobs WHERE id = $1")
            .bind(id).fetch_optional(p).await?))
    }

    /// Marks a job done (and frees its unique key). Only the claim that is still current
    /// counts: a worker that overran its lease, whose job another worker has claimed since
    /// (`attempts` moved on), changes nothing. Returns whether it did.
    pub async fn complete_job(&self, job: &Job, now: i64) -> Result<bool> {
        let mut tx = self.begin().await?;
        let done = run!(tx &mut tx, |c| sqlx::query("UPDATE jobs SET status = 'done', unique_key = NULL, locked_by = NULL, locked_until = NULL, updated_at = $1 \
             WHERE id = $2 AND status = 'running' AND attempts = $3")
            .bind(now).bind(job.id).bind(job.attempts).execute(&mut *c).await?.rows_affected());
        tx.commit().await?;
        Ok(done == 1)
    }

    /// Records a failure: retried later with backoff, or failed for good after its last attempt.
    /// Like [`Store::complete_job`], only for the claim that is still current.
    pub async fn fail_job(&self, job: &Job, error: &str, now: i64) -> Result<bool> {
        let mut tx = self.begin().await?;
        let changed = if job.attempts >= job.max_attempts {
            run!(tx &mut tx, |c| sqlx::query("UPDATE jobs SET status = 'failed', unique_key = NULL, last_error = $1, locked_by = NULL, locked_until = NULL, updated_at = $2 \
                 WHERE id = $3 AND status = 'running' AND attempts = $4")
                .bind(error).bind(now).bind(job.id).bind(job.attempts).execute(&mut *c).await?.rows_affected())
        } else {
            let retry_at = now + retry_delay_millis(job.attempts);
            run!(tx &mut tx, |c| sqlx::query("UPDATE jobs SET status = 'queued', last_error = $1, run_at = $2, locked_by = NULL, locked_until = NULL, updated_at = $3 \
                 WHERE id = $4 AND status = 'running' AND attempts = $5")
                .bind(error).bind(retry_at).bind(now).bind(job.id).bind(job.attempts).execute(&mut *c).await?.rows_affected())
        };
        tx.commit().await?;
        Ok(changed == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_an_hour() {
        assert_eq!(retry_delay_millis(1), 30_000);
        assert_eq!(retry_delay_millis(2), 60_000);
        assert_eq!(retry_delay_millis(5), 480_000);
        assert_eq!(retry_delay_millis(100), 3_600_000);
    }
}
