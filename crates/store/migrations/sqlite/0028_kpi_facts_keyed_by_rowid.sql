-- The KPI facts table is keyed by the conversation's number as its rowid (INTEGER PRIMARY KEY)
-- instead of a BIGINT PRIMARY KEY, which SQLite keeps as a second b-tree beside the table: the
-- roll-up consumer looked every fact up in that index and then in the table, and wrote every
-- fact into both (about a fact row per ten events of the synthetic log of `rapport bench kpi`).
-- The rows are copied as they are; the drill-down's indexes are made again.
-- PostgreSQL keeps its table (see ../postgres/0028).
CREATE TABLE kpi_conversations_0028 (
    conversation_id  INTEGER PRIMARY KEY,
    created_at       BIGINT NOT NULL,
    first_reply_at   BIGINT,
    first_solved_at  BIGINT,
    reopened_at      BIGINT,
    group_id         BIGINT,
    assignee_id      BIGINT,
    facts            TEXT NOT NULL
);
INSERT INTO kpi_conversations_0028 (conversation_id, created_at, first_reply_at, first_solved_at, reopened_at, group_id, assignee_id, facts)
    SELECT conversation_id, created_at, first_reply_at, first_solved_at, reopened_at, group_id, assignee_id, facts
    FROM kpi_conversations ORDER BY conversation_id;
DROP TABLE kpi_conversations;
ALTER TABLE kpi_conversations_0028 RENAME TO kpi_conversations;
CREATE INDEX kpi_conversations_created ON kpi_conversations (created_at);
CREATE INDEX kpi_conversations_first_reply ON kpi_conversations (first_reply_at);
CREATE INDEX kpi_conversations_first_solved ON kpi_conversations (first_solved_at);
