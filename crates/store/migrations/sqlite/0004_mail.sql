-- The e-mail channel, SQLite dialect. Keep in step with ../postgres/0004_mail.sql.

-- Addresses Rapport receives mail for; each routes new conversations to a group.
CREATE TABLE mailboxes (
    id            INTEGER PRIMARY KEY,
    address       TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    group_id      INTEGER REFERENCES groups(id),
    acknowledge   BOOLEAN NOT NULL DEFAULT FALSE,
    -- The acknowledgement's text ({number} and {subject} are filled in); NULL: the default.
    acknowledgement TEXT,
    created_at    INTEGER NOT NULL
);

-- Every message accepted from SMTP, LMTP, IMAP or an import, kept byte for byte (the raw
-- message is a blob). It is durable before the sender hears 250; what became of it is `state`:
-- received (not yet processed), message, bounce, complaint, noise, quarantined, released.
CREATE TABLE inbound_mail (
    id             INTEGER PRIMARY KEY,
    transport      TEXT NOT NULL,
    mail_from      TEXT NOT NULL,
    recipients     TEXT NOT NULL,
    raw_sha256     TEXT NOT NULL REFERENCES blobs(sha256),
    size           INTEGER NOT NULL,
    received_at    INTEGER NOT NULL,
    state          TEXT NOT NULL,
    reason         TEXT,
    conversation   INTEGER,
    header_message_id TEXT,
    processed_at   INTEGER
);
CREATE INDEX inbound_mail_state ON inbound_mail(state, id);

-- Message-IDs Rapport sent or received, for threading replies.
CREATE TABLE mail_message_ids (
    message_id    TEXT PRIMARY KEY,
    conversation  INTEGER NOT NULL,
    message       INTEGER,
    direction     TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX mail_message_ids_conversation ON mail_message_ids(conversation);

-- Replies going out: queued in the same transaction as the reply, then sent with retries.
-- state: queued, sent, deferred, failed.
CREATE TABLE outbound_mail (
    id             INTEGER PRIMARY KEY,
    conversation   INTEGER NOT NULL,
    message        INTEGER,
    header_message_id TEXT NOT NULL UNIQUE,
    mail_from      TEXT NOT NULL,
    recipients     TEXT NOT NULL,
    raw_sha256     TEXT NOT NULL REFERENCES blobs(sha256),
    automatic      BOOLEAN NOT NULL DEFAULT FALSE,
    state          TEXT NOT NULL,
    attempts       INTEGER NOT NULL DEFAULT 0,
    last_error     TEXT,
    created_at     INTEGER NOT NULL,
    updated_at     INTEGER NOT NULL
);
CREATE INDEX outbound_mail_conversation ON outbound_mail(conversation, id);
CREATE INDEX outbound_mail_recipient_time ON outbound_mail(automatic, created_at);

-- Addresses that bounced hard (or complained): no more mail to them until cleared.
CREATE TABLE mail_address_status (
    address       TEXT PRIMARY KEY,
    undeliverable BOOLEAN NOT NULL,
    reason        TEXT NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- IMAP polling position per account and folder: a restart neither loses nor duplicates.
CREATE TABLE imap_cursors (
    account       TEXT NOT NULL,
    folder        TEXT NOT NULL,
    uid_validity  BIGINT NOT NULL,
    last_uid      BIGINT NOT NULL,
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (account, folder)
);

-- Secrets this installation generates once and keeps (e.g. the key that signs conversation
-- tokens in outgoing mail, which must still verify after a restart or on another node).
CREATE TABLE instance_secrets (
    name        TEXT PRIMARY KEY,
    value       TEXT NOT NULL
);
