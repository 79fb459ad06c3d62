-- Improvement initiatives: a change a manager made, when it started, and the KPI (a key of the
-- catalogue, optionally for one group) it should move. The verdict is computed when asked, from
-- the KPI roll-ups of equal periods before and after the start, so it is never stored.
CREATE TABLE initiatives (
    id           BIGSERIAL PRIMARY KEY,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL,
    kpi          TEXT NOT NULL,
    group_id     BIGINT REFERENCES groups(id),
    started_at   BIGINT NOT NULL,
    period_days  BIGINT NOT NULL,
    created_by   BIGINT REFERENCES agents(id),
    created_at   BIGINT NOT NULL
);
CREATE INDEX initiatives_started ON initiatives (started_at);
