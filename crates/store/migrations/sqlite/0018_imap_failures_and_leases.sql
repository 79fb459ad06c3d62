-- IMAP polling state that must outlive a process and be shared by the nodes, SQLite dialect.
-- Keep in step with ../postgres/0018_imap_failures_and_leases.sql.

-- Messages of a polled folder whose fetch failed. A failed batch puts its messages here with
-- 0 failures (they are fetched alone from then on); each failed lone fetch (or, after giving
-- up, header fetch) adds one. After `max_fetch_failures` the message goes to the quarantine
-- with `last_error`, so a message that can never be fetched stops blocking the folder even
-- across restarts. Rows at or below the cursor, or under another UIDVALIDITY, are deleted in
-- the transaction that passes them.
CREATE TABLE imap_fetch_failures (
    account      TEXT NOT NULL,
    folder       TEXT NOT NULL,
    uid_validity BIGINT NOT NULL,
    uid          BIGINT NOT NULL,
    failures     BIGINT NOT NULL,
    last_error   TEXT NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (account, folder, uid_validity, uid)
);

-- Who polls a folder: one node at a time holds the lease and renews it while it works; when
-- it stops it deletes the row, and when it dies the lease runs out and another node takes it.
CREATE TABLE imap_leases (
    account    TEXT NOT NULL,
    folder     TEXT NOT NULL,
    holder     TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (account, folder)
);
