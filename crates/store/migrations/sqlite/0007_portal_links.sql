-- Magic-link sign-in to the customer portal, SQLite dialect. Keep in step with
-- ../postgres/0007_portal_links.sql.

-- A sign-in link sent by e-mail: only the SHA-256 of its secret is kept. It works once
-- (`used_at`) and until `expires_at`.
CREATE TABLE portal_links (
    id            INTEGER PRIMARY KEY,
    token_hash    TEXT NOT NULL UNIQUE,
    customer_id   INTEGER NOT NULL REFERENCES customers(id),
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    used_at       INTEGER
);
CREATE INDEX portal_links_customer_time ON portal_links(customer_id, created_at);

-- Mail that belongs to no conversation (a sign-in link) goes through the same outbound
-- queue, so `outbound_mail.conversation` may now be empty. SQLite cannot drop a NOT NULL,
-- so the table is rebuilt with the same columns, rows and indexes.
CREATE TABLE outbound_mail_new (
    id             INTEGER PRIMARY KEY,
    conversation   INTEGER,
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
INSERT INTO outbound_mail_new (id, conversation, message, header_message_id, mail_from, recipients,
    raw_sha256, automatic, state, attempts, last_error, created_at, updated_at)
SELECT id, conversation, message, header_message_id, mail_from, recipients,
    raw_sha256, automatic, state, attempts, last_error, created_at, updated_at FROM outbound_mail;
DROP TABLE outbound_mail;
ALTER TABLE outbound_mail_new RENAME TO outbound_mail;
CREATE INDEX outbound_mail_conversation ON outbound_mail(conversation, id);
CREATE INDEX outbound_mail_recipient_time ON outbound_mail(automatic, created_at);
