//! Schema migrations, one folder per dialect with the same file names.

use crate::{Pools, Result, Store};

/// (version, name, SQLite script, PostgreSQL script)
pub(crate) const MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (
        1,
        "foundation",
        include_str!("../migrations/sqlite/0001_foundation.sql"),
        include_str!("../migrations/postgres/0001_foundation.sql"),
    ),
    (
        2,
        "queue_counters",
        include_str!("../migrations/sqlite/0002_queue_counters.sql"),
        include_str!("../migrations/postgres/0002_queue_counters.sql"),
    ),
    (
        3,
        "group_assignee_index",
        include_str!("../migrations/sqlite/0003_group_assignee_index.sql"),
        include_str!("../migrations/postgres/0003_group_assignee_index.sql"),
    ),
    (
        4,
        "mail",
        include_str!("../migrations/sqlite/0004_mail.sql"),
        include_str!("../migrations/postgres/0004_mail.sql"),
    ),
    (
        5,
        "sla",
        include_str!("../migrations/sqlite/0005_sla.sql"),
        include_str!("../migrations/postgres/0005_sla.sql"),
    ),
    (
        6,
        "imap",
        include_str!("../migrations/sqlite/0006_imap.sql"),
        include_str!("../migrations/postgres/0006_imap.sql"),
    ),
    (
        7,
        "portal_links",
        include_str!("../migrations/sqlite/0007_portal_links.sql"),
        include_str!("../migrations/postgres/0007_portal_links.sql"),
    ),
    (
        8,
        "surveys",
        include_str!("../migrations/sqlite/0008_surveys.sql"),
        include_str!("../migrations/postgres/0008_surveys.sql"),
    ),
    (
        9,
        "kpi",
        include_str!("../migrations/sqlite/0009_kpi.sql"),
        include_str!("../migrations/postgres/0009_kpi.sql"),
    ),
    (
        10,
        "initiatives",
        include_str!("../migrations/sqlite/0010_initiatives.sql"),
        include_str!("../migrations/postgres/0010_initiatives.sql"),
    ),
    (
        11,
        "chat",
        include_str!("../migrations/sqlite/0011_chat.sql"),
        include_str!("../migrations/postgres/0011_chat.sql"),
    ),
    (
        12,
        "sla_next_breach_index",
        include_str!("../migrations/sqlite/0012_sla_next_breach_index.sql"),
        include_str!("../migrations/postgres/0012_sla_next_breach_index.sql"),
    ),
    (
        14,
        "kpi_local_days",
        include_str!("../migrations/sqlite/0014_kpi_local_days.sql"),
        include_str!("../migrations/postgres/0014_kpi_local_days.sql"),
    ),
    (
        15,
        "queue_counter_deltas",
        include_str!("../migrations/sqlite/0015_queue_counter_deltas.sql"),
        include_str!("../migrations/postgres/0015_queue_counter_deltas.sql"),
    ),
    (
        16,
        "tag_queue_columns",
        include_str!("../migrations/sqlite/0016_tag_queue_columns.sql"),
        include_str!("../migrations/postgres/0016_tag_queue_columns.sql"),
    ),
    (
        17,
        "channel_routes",
        include_str!("../migrations/sqlite/0017_channel_routes.sql"),
        include_str!("../migrations/postgres/0017_channel_routes.sql"),
    ),
    (
        18,
        "imap_failures_and_leases",
        include_str!("../migrations/sqlite/0018_imap_failures_and_leases.sql"),
        include_str!("../migrations/postgres/0018_imap_failures_and_leases.sql"),
    ),
    (
        21,
        "presence",
        include_str!("../migrations/sqlite/0021_presence.sql"),
        include_str!("../migrations/postgres/0021_presence.sql"),
    ),
    (
        22,
        "tag_rows_written_once",
        include_str!("../migrations/sqlite/0022_tag_rows_written_once.sql"),
        include_str!("../migrations/postgres/0022_tag_rows_written_once.sql"),
    ),
    (
        23,
        "chat_sockets_and_verified_addresses",
        include_str!("../migrations/sqlite/0023_chat_sockets_and_verified_addresses.sql"),
        include_str!("../migrations/postgres/0023_chat_sockets_and_verified_addresses.sql"),
    ),
    (
        26,
        "imap_lease_renewals",
        include_str!("../migrations/sqlite/0026_imap_lease_renewals.sql"),
        include_str!("../migrations/postgres/0026_imap_lease_renewals.sql"),
    ),
    (
        27,
        "queue_column_statistics",
        include_str!("../migrations/sqlite/0027_queue_column_statistics.sql"),
        include_str!("../migrations/postgres/0027_queue_column_statistics.sql"),
    ),
    (
        28,
        "kpi_facts_keyed_by_rowid",
        include_str!("../migrations/sqlite/0028_kpi_facts_keyed_by_rowid.sql"),
        include_str!("../migrations/postgres/0028_kpi_facts_keyed_by_rowid.sql"),
    ),
    (
        29,
        "sla_transitions_digest",
        include_str!("../migrations/sqlite/0029_sla_transitions_digest.sql"),
        include_str!("../migrations/postgres/0029_sla_transitions_digest.sql"),
    ),
    (
        30,
        "events_conversation_kind",
        include_str!("../migrations/sqlite/0030_events_conversation_kind.sql"),
        include_str!("../migrations/postgres/0030_events_conversation_kind.sql"),
    ),
    (
        31,
        "events_clock_inputs",
        include_str!("../migrations/sqlite/0031_events_clock_inputs.sql"),
        include_str!("../migrations/postgres/0031_events_clock_inputs.sql"),
    ),
    (
        32,
        "events_clock_input",
        include_str!("../migrations/sqlite/0032_events_clock_input.sql"),
        include_str!("../migrations/postgres/0032_events_clock_input.sql"),
    ),
    (
        33,
        "sla_inputs",
        include_str!("../migrations/sqlite/0033_sla_inputs.sql"),
        include_str!("../migrations/postgres/0033_sla_inputs.sql"),
    ),
];

impl Store {
    /// Applies every migration not yet applied: on SQLite each in its own transaction, on
    /// PostgreSQL all in one transaction under an advisory lock, so that several nodes
    /// starting at once apply them exactly once.
    pub async fn migrate(&self) -> Result<()> {
        const CREATE: &str = "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)";
        match &self.pools {
            Pools::Sqlite { writer, .. } => {
                let mut writer = writer.lock().await;
                writer.commit_durably().await?;
                let conn = &mut writer.conn;
                conn.batch(CREATE)?;
                for &(version, name, script, _) in MIGRATIONS {
                    conn.batch("BEGIN IMMEDIATE")?;
                    let done: Option<i64> = crate::sqlite::query_scalar(
                        "SELECT version FROM schema_migrations WHERE version = $1",
                    )
                    .bind(version)
                    .fetch_optional(&mut *conn)
                    .await?;
                    if done.is_none() {
                        if let Err(e) = conn.batch(script) {
                            let _ = conn.batch("ROLLBACK");
                            return Err(e.into());
                        }
                        crate::sqlite::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, 0)")
                            .bind(version)
                            .bind(name)
                            .execute(&mut *conn)
                            .await?;
                    }
                    conn.batch("COMMIT")?;
                }
            }
            Pools::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock(7265707)")
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(CREATE).execute(&mut *tx).await?;
                for &(version, name, _, script) in MIGRATIONS {
                    let done: Option<i64> = sqlx::query_scalar(
                        "SELECT version FROM schema_migrations WHERE version = $1",
                    )
                    .bind(version)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if done.is_none() {
                        sqlx::raw_sql(script).execute(&mut *tx).await?;
                        sqlx::query("INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, 0)")
                            .bind(version)
                            .bind(name)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                tx.commit().await?;
            }
        }
        Ok(())
    }
}
