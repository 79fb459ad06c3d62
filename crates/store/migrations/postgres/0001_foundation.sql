-- Rapport's foundation schema, PostgreSQL dialect. Keep in step with ../sqlite/0001_foundation.sql:
-- same tables, same columns, same names. Instants are BIGINT milliseconds since the epoch, UTC.

CREATE TABLE organizations (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL,
    domain      TEXT UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE customers (
    id              BIGSERIAL PRIMARY KEY,
    name            TEXT NOT NULL,
    organization_id BIGINT REFERENCES organizations(id),
    merged_into     BIGINT REFERENCES customers(id),
    password_hash   TEXT,
    created_at      BIGINT NOT NULL
);

CREATE TABLE customer_identities (
    id           BIGSERIAL PRIMARY KEY,
    customer_id  BIGINT NOT NULL REFERENCES customers(id),
    kind         TEXT NOT NULL,
    value        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    UNIQUE (kind, value)
);
CREATE INDEX customer_identities_customer ON customer_identities(customer_id);

CREATE TABLE groups (
    id          BIGSERIAL PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);

CREATE TABLE agents (
    id             BIGSERIAL PRIMARY KEY,
    email          TEXT NOT NULL UNIQUE,
    name           TEXT NOT NULL,
    role           TEXT NOT NULL,
    password_hash  TEXT NOT NULL,
    active         BOOLEAN NOT NULL DEFAULT TRUE,
    created_at     BIGINT NOT NULL
);

CREATE TABLE agent_groups (
    agent_id  BIGINT NOT NULL REFERENCES agents(id),
    group_id  BIGINT NOT NULL REFERENCES groups(id),
    PRIMARY KEY (agent_id, group_id)
);

CREATE TABLE conversations (
    number          BIGSERIAL PRIMARY KEY,
    subject         TEXT NOT NULL,
    channel         TEXT NOT NULL,
    status          TEXT NOT NULL,
    priority        BIGINT NOT NULL,
    group_id        BIGINT REFERENCES groups(id),
    assignee_id     BIGINT REFERENCES agents(id),
    customer_id     BIGINT NOT NULL REFERENCES customers(id),
    custom_fields   TEXT NOT NULL DEFAULT '{}',
    merged_into     BIGINT REFERENCES conversations(number),
    message_count   BIGINT NOT NULL DEFAULT 0,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL,
    solved_at       BIGINT,
    closed_at       BIGINT
);
CREATE INDEX conversations_status_updated ON conversations(status, updated_at, number);
CREATE INDEX conversations_group_status ON conversations(group_id, status, updated_at, number);
CREATE INDEX conversations_assignee_status ON conversations(assignee_id, status, updated_at, number);
CREATE INDEX conversations_customer ON conversations(customer_id, updated_at);
CREATE INDEX conversations_updated ON conversations(updated_at, number);

CREATE TABLE conversation_tags (
    conversation  BIGINT NOT NULL REFERENCES conversations(number),
    tag           TEXT NOT NULL,
    PRIMARY KEY (conversation, tag)
);
CREATE INDEX conversation_tags_tag ON conversation_tags(tag, conversation);

CREATE TABLE messages (
    id            BIGSERIAL PRIMARY KEY,
    conversation  BIGINT NOT NULL REFERENCES conversations(number),
    kind          TEXT NOT NULL,
    channel       TEXT NOT NULL,
    author_kind   TEXT NOT NULL,
    author_id     BIGINT,
    body_text     TEXT NOT NULL,
    body_html     TEXT NOT NULL,
    created_at    BIGINT NOT NULL
);
CREATE INDEX messages_conversation ON messages(conversation, id);

CREATE TABLE blobs (
    sha256      TEXT PRIMARY KEY,
    size        BIGINT NOT NULL,
    data        BYTEA NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE attachments (
    id            BIGSERIAL PRIMARY KEY,
    message_id    BIGINT NOT NULL REFERENCES messages(id),
    blob_sha256   TEXT NOT NULL REFERENCES blobs(sha256),
    filename      TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    size          BIGINT NOT NULL
);
CREATE INDEX attachments_message ON attachments(message_id);

-- The spine. tx_pos is the writing transaction's id: ids from a sequence can commit out
-- of order, so consumers read (tx_pos, id) only below the oldest running transaction
-- (pg_snapshot_xmin), which no event can later appear under.
CREATE TABLE events (
    id            BIGSERIAL PRIMARY KEY,
    tx_pos        xid8 NOT NULL DEFAULT pg_current_xact_id(),
    conversation  BIGINT,
    kind          TEXT NOT NULL,
    actor_kind    TEXT NOT NULL,
    actor_id      BIGINT,
    at            BIGINT NOT NULL,
    payload       TEXT NOT NULL
);
CREATE INDEX events_conversation ON events(conversation, id);
CREATE INDEX events_consumer_order ON events(tx_pos, id);

CREATE TABLE consumer_cursors (
    name        TEXT PRIMARY KEY,
    tx_pos      BIGINT NOT NULL,
    event_id    BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);

-- Full-text index over subjects and message bodies, one row per message, kept by the search consumer.
CREATE TABLE message_search (
    message_id  BIGINT PRIMARY KEY,
    doc         tsvector NOT NULL
);
CREATE INDEX message_search_doc ON message_search USING GIN (doc);

CREATE TABLE jobs (
    id            BIGSERIAL PRIMARY KEY,
    kind          TEXT NOT NULL,
    payload       TEXT NOT NULL,
    unique_key    TEXT UNIQUE,
    status        TEXT NOT NULL,
    run_at        BIGINT NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0,
    max_attempts  BIGINT NOT NULL,
    locked_by     TEXT,
    locked_until  BIGINT,
    last_error    TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX jobs_due ON jobs(status, run_at);

CREATE TABLE api_tokens (
    id            BIGSERIAL PRIMARY KEY,
    name          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    scopes        TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    revoked_at    BIGINT,
    last_used_at  BIGINT
);

CREATE TABLE sessions (
    id_hash         TEXT PRIMARY KEY,
    principal_kind  TEXT NOT NULL,
    principal_id    BIGINT NOT NULL,
    csrf_token      TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    expires_at      BIGINT NOT NULL
);
