-- Management information: roll-ups of the event log into daily buckets per slice, the facts
-- the roll-up consumer keeps per conversation, and the administrators' KPI settings.

-- One row per (slice, measure, UTC day): count, sum, sum of squares and a histogram
-- ("bin:count;…", see kpi::hist), enough to merge days and compute every catalogue KPI.
CREATE TABLE kpi_rollups (
    dim        TEXT NOT NULL,
    dim_value  TEXT NOT NULL,
    measure    TEXT NOT NULL,
    day        BIGINT NOT NULL,
    n          BIGINT NOT NULL,
    total      DOUBLE PRECISION NOT NULL,
    total_sq   DOUBLE PRECISION NOT NULL,
    hist       TEXT NOT NULL,
    PRIMARY KEY (dim, dim_value, measure, day)
);
CREATE INDEX kpi_rollups_day ON kpi_rollups (day);

-- What the fold remembers of each conversation (kpi::ConversationFacts as JSON), and the
-- instants a drill-down selects on.
CREATE TABLE kpi_conversations (
    conversation_id  BIGINT PRIMARY KEY,
    created_at       BIGINT NOT NULL,
    first_reply_at   BIGINT,
    first_solved_at  BIGINT,
    reopened_at      BIGINT,
    group_id         BIGINT,
    assignee_id      BIGINT,
    facts            TEXT NOT NULL
);
CREATE INDEX kpi_conversations_created ON kpi_conversations (created_at);
CREATE INDEX kpi_conversations_first_reply ON kpi_conversations (first_reply_at);
CREATE INDEX kpi_conversations_first_solved ON kpi_conversations (first_solved_at);

-- Targets, thresholds and owners that administrators changed (the catalogue holds defaults).
CREATE TABLE kpi_settings (
    key         TEXT PRIMARY KEY,
    target      DOUBLE PRECISION,
    amber       DOUBLE PRECISION,
    red         DOUBLE PRECISION,
    owner       TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- The last status of each KPI the alert check saw (team-wide, rolling period), so that an
-- exception alert is raised once when a KPI crosses a threshold, not on every check.
CREATE TABLE kpi_alerts (
    key         TEXT PRIMARY KEY,
    status      TEXT NOT NULL,
    value       DOUBLE PRECISION,
    changed_at  BIGINT NOT NULL
);

-- Published satisfaction figures of other sectors (ACSI, UKCSI, NCSI-UK, …) that administrators
-- import as sets, each row with its source. Shown beside the team's own figures, marked as a
-- different index.
CREATE TABLE kpi_benchmarks (
    id           BIGSERIAL PRIMARY KEY,
    set_name     TEXT NOT NULL,
    index_name   TEXT NOT NULL,
    country      TEXT NOT NULL,
    period       TEXT NOT NULL,
    level        TEXT NOT NULL,
    entity       TEXT NOT NULL,
    score        DOUBLE PRECISION NOT NULL,
    source_url   TEXT NOT NULL,
    source_kind  TEXT NOT NULL,
    note         TEXT NOT NULL,
    imported_at  BIGINT NOT NULL
);
CREATE INDEX kpi_benchmarks_set ON kpi_benchmarks (set_name);
