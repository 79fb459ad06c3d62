-- Rapport's foundation schema, SQLite dialect. Keep in step with ../postgres/0001_foundation.sql:
-- same tables, same columns, same names. Instants are INTEGER milliseconds since the epoch, UTC.

CREATE TABLE organizations (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL,
    domain      TEXT UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE customers (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL,
    organization_id INTEGER REFERENCES organizations(id),
    merged_into     INTEGER REFERENCES customers(id),
    password_hash   TEXT,
    created_at      INTEGER NOT NULL
);

CREATE TABLE customer_identities (
    id           INTEGER PRIMARY KEY,
    customer_id  INTEGER NOT NULL REFERENCES customers(id),
    kind         TEXT NOT NULL,
    value        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    UNIQUE (kind, value)
);
CREATE INDEX customer_identities_customer ON customer_identities(customer_id);

CREATE TABLE groups (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE agents (
    id             INTEGER PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    role           TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    active         BOOLEAN NOT NULL DEFAULT TRUE,
    created_at     INTEGER NOT NULL
);

CREATE TABLE agent_groups (
    agent_id  INTEGER NOT NULL REFERENCES agents(id),
    group_id  INTEGER NOT NULL REFERENCES groups(id),
    PRIMARY KEY (agent_id, group_id)
);

CREATE TABLE conversations (
    number          INTEGER PRIMARY KEY,
    subject         TEXT NOT NULL,
    channel         TEXT NOT NULL,
    status          TEXT NOT NULL,
    priority        INTEGER NOT NULL,
    group_id        INTEGER REFERENCES groups(id),
    assignee_id     INTEGER REFERENCES agents(id),
    customer_id     INTEGER NOT NULL REFERENCES customers(id),
    custom_fields   TEXT NOT NULL DEFAULT '{}',
    merged_into     INTEGER REFERENCES conversations(number),
    message_count   INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    solved_at       INTEGER,
    closed_at       INTEGER
);
CREATE INDEX conversations_status_updated ON conversations(status, updated_at, number);
CREATE INDEX conversations_group_status ON conversations(group_id, status, updated_at, number);
CREATE INDEX conversations_assignee_status ON conversations(assignee_id, status, updated_at, number);
CREATE INDEX conversations_customer ON conversations(customer_id, updated_at);
CREATE INDEX conversations_updated ON conversations(updated_at, number);

CREATE TABLE conversation_tags (
    conversation  INTEGER NOT NULL REFERENCES conversations(number),
    tag           TEXT NOT NULL,
    PRIMARY KEY (conversation, tag)
);
CREATE INDEX conversation_tags_tag ON conversation_tags(tag, conversation);

CREATE TABLE messages (
    id            INTEGER PRIMARY KEY,
    conversation  INTEGER NOT NULL REFERENCES conversations(number),
    kind          TEXT NOT NULL,
    channel       TEXT NOT NULL,
    author_kind   TEXT NOT NULL,
    author_id     INTEGER,
    body_text     TEXT NOT NULL,
    body_html     TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX messages_conversation ON messages(conversation, id);

CREATE TABLE blobs (
    sha256      TEXT PRIMARY KEY,
    size        INTEGER NOT NULL,
    data        BLOB NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE attachments (
    id            INTEGER PRIMARY KEY,
    message_id    INTEGER NOT NULL REFERENCES messages(id),
    blob_sha256   TEXT NOT NULL REFERENCES blobs(sha256),
    filename      TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size          INTEGER NOT NULL
);
CREATE INDEX attachments_message ON attachments(message_id);

-- The spine. tx_pos orders events for consumers; on SQLite (one writer) ids commit in
-- order, so it is always 0 and consumers follow id alone.
CREATE TABLE events (
    id            INTEGER PRIMARY KEY,
    tx_pos        INTEGER NOT NULL DEFAULT 0,
    conversation  INTEGER,
    kind          TEXT NOT NULL,
    actor_kind    TEXT NOT NULL,
    actor_id      INTEGER,
    at            INTEGER NOT NULL,
    payload       TEXT NOT NULL
);
CREATE INDEX events_conversation ON events(conversation, id);

CREATE TABLE consumer_cursors (
    name        TEXT PRIMARY KEY,
    tx_pos      INTEGER NOT NULL,
    event_id    INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- Full-text index over subjects and message bodies, one row per message (rowid = message id),
-- kept by the search consumer.
CREATE VIRTUAL TABLE message_search USING fts5(subject, body, content='', contentless_delete=1, tokenize='unicode61 remove_diacritics 2');

CREATE TABLE jobs (
    id            INTEGER PRIMARY KEY,
    kind          TEXT NOT NULL,
    payload       TEXT NOT NULL,
    unique_key    TEXT UNIQUE,
    status        TEXT NOT NULL,
    run_at        INTEGER NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    max_attempts  INTEGER NOT NULL,
    locked_by     TEXT,
    locked_until  INTEGER,
    last_error    TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX jobs_due ON jobs(status, run_at);

CREATE TABLE api_tokens (
    id            INTEGER PRIMARY KEY,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    scopes        TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    revoked_at    INTEGER,
    last_used_at  INTEGER
);

CREATE TABLE sessions (
    id_hash         TEXT PRIMARY KEY,
    principal_kind  TEXT NOT NULL,
    principal_id    INTEGER NOT NULL,
    csrf_token      TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL
);
