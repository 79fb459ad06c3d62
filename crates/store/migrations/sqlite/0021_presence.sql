-- Presence: who is viewing or replying to a conversation now, shared by every node, SQLite
-- dialect. Keep in step with ../postgres/0021_presence.sql.
--
-- Presence is not a business change, so it is not an event in the log: a row lives while its
-- agent's page renews it (`expires_at`) and is deleted when they leave or once it has expired.
CREATE TABLE presence (
    conversation BIGINT NOT NULL,
    agent_id     BIGINT NOT NULL,
    state        TEXT NOT NULL,
    expires_at   INTEGER NOT NULL,
    PRIMARY KEY (conversation, agent_id)
);

-- One row: raised in the transaction of every change to who is shown on a conversation (not
-- of a renewal), so each node's live poller reads one number per tick and reads `presence`
-- only when it moved (or when someone it shows may have expired). Writers take this row
-- first, so changes are counted in commit order.
CREATE TABLE presence_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
INSERT INTO presence_version (id, version) VALUES (1, 0);
