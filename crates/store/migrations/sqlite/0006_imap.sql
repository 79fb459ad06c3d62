-- IMAP polling, SQLite dialect. Keep in step with ../postgres/0006_imap.sql.

-- Every message taken from a polled IMAP folder, by the SHA-256 of its bytes, so that a message
-- seen again (after a crash between the commit and the action, or after the server changed
-- UIDVALIDITY and numbered everything anew) is not accepted twice. `uid_validity` and `uid`
-- say where it was last seen; `action_pending` that the configured action (set \Seen, move,
-- delete) is still to be applied there: it is cleared once the server has confirmed it.
CREATE TABLE imap_messages (
    account        TEXT NOT NULL,
    folder         TEXT NOT NULL,
    raw_sha256     TEXT NOT NULL,
    inbound_id     INTEGER NOT NULL REFERENCES inbound_mail(id),
    uid_validity   BIGINT NOT NULL,
    uid            BIGINT NOT NULL,
    action_pending BOOLEAN NOT NULL,
    seen_at        INTEGER NOT NULL,
    PRIMARY KEY (account, folder, raw_sha256)
);
CREATE INDEX imap_messages_pending ON imap_messages(account, folder, uid_validity, uid) WHERE action_pending;
