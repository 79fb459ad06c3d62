-- Service standards, SQLite dialect. Keep in step with ../postgres/0005_sla.sql.

-- Business calendars, in the text form of `calendar::CalendarSpec` (holidays and exceptions
-- are JSON arrays of strings).
CREATE TABLE sla_calendars (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    time_zone   TEXT NOT NULL,
    hours       TEXT NOT NULL,
    holidays    TEXT NOT NULL DEFAULT '[]',
    exceptions  TEXT NOT NULL DEFAULT '[]',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- SLA policies, matched in `position` order (the first that matches applies). `conditions`
-- and `targets` are JSON (`sla::Conditions`, a list of `sla::TargetRule`).
CREATE TABLE sla_policies (
    id               INTEGER PRIMARY KEY,
    name             TEXT NOT NULL UNIQUE,
    position         INTEGER NOT NULL,
    conditions       TEXT NOT NULL,
    calendar_id      INTEGER REFERENCES sla_calendars(id),
    targets          TEXT NOT NULL,
    warn_at_percent  INTEGER,
    on_hold_pauses   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL
);
CREATE INDEX sla_policies_position ON sla_policies(position, id);

-- Bumped by every change of a calendar or a policy: a clock computed under an older
-- version is rebuilt from the log instead of advanced.
CREATE TABLE sla_config (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    version  INTEGER NOT NULL
);
INSERT INTO sla_config (id, version) VALUES (1, 1);

-- Each conversation's SLA clock (`sla::SlaClock` as JSON), the last event folded into it,
-- and its next warning or breach: the scheduler's tick walks `sla_states_due` from the
-- start up to now, one index range however many conversations are open.
CREATE TABLE sla_states (
    conversation        INTEGER PRIMARY KEY,
    version             INTEGER NOT NULL,
    through_event_id    INTEGER NOT NULL,
    clock               TEXT NOT NULL,
    next_deadline_at    INTEGER,
    next_deadline_kind  TEXT,
    next_breach_at      INTEGER,
    updated_at          INTEGER NOT NULL
);
CREATE INDEX sla_states_due ON sla_states(next_deadline_at) WHERE next_deadline_at IS NOT NULL;

-- Escalations done, so that each warning or breach is escalated exactly once even when
-- a job runs twice (the marker commits with the escalation's effects).
CREATE TABLE sla_escalations (
    conversation  INTEGER NOT NULL,
    metric        TEXT NOT NULL,
    cycle         INTEGER NOT NULL,
    reason        TEXT NOT NULL,
    at            INTEGER NOT NULL,
    PRIMARY KEY (conversation, metric, cycle, reason)
);
