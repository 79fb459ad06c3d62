//! Improvement initiatives: what a manager changed, when, and which KPI it should move.

use crate::{run, Result, Store, Tx};

stored_row! {
    /// One initiative as stored.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub struct InitiativeRow {
        pub id: i64,
        pub name: String,
        pub description: String,
        /// A key of the KPI catalogue.
        pub kpi: String,
        pub group_id: Option<i64>,
        pub started_at: i64,
        /// The length of each compared period, before and after the start.
        pub period_days: i64,
        /// The agent who recorded it (none when Rapport or an API token did).
        pub created_by: Option<i64>,
        pub created_at: i64,
    }
}

const COLUMNS: &str =
    "id, name, description, kpi, group_id, started_at, period_days, created_by, created_at";

impl Tx {
    /// Stores an initiative (its `id` is ignored) and returns the new id.
    pub async fn insert_initiative(&mut self, row: &InitiativeRow) -> Result<i64> {
        run!(tx self, |c| Ok(sqlx::query_scalar(
            "INSERT INTO initiatives (name, description, kpi, group_id, started_at, period_days, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id")
            .bind(&row.name).bind(&row.description).bind(&row.kpi).bind(row.group_id).bind(row.started_at)
            .bind(row.period_days).bind(row.created_by).bind(row.created_at)
            .fetch_one(&mut *c).await?))
    }
}

impl Store {
    /// Every initiative, the most recently started first.
    pub async fn initiatives(&self) -> Result<Vec<InitiativeRow>> {
        let sql = format!("SELECT {COLUMNS} FROM initiatives ORDER BY started_at DESC, id DESC");
        run!(read self, |p| Ok(sqlx::query_as(&sql).fetch_all(p).await?))
    }

    pub async fn initiative(&self, id: i64) -> Result<Option<InitiativeRow>> {
        let sql = format!("SELECT {COLUMNS} FROM initiatives WHERE id = $1");
        run!(read self, |p| Ok(sqlx::query_as(&sql).bind(id).fetch_optional(p).await?))
    }
}
