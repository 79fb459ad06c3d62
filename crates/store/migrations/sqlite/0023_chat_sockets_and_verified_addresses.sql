-- Chat sockets and chat rate limits counted across nodes, and chat addresses confirmed by a code, SQLite dialect.
-- Keep in step with ../postgres/0023_chat_sockets_and_verified_addresses.sql.

-- Every open chat socket, whichever node holds it: the cap on sockets per client address
-- counts these rows, so it holds for the whole cluster, not per node. A node renews its
-- sockets' rows on each keepalive and deletes a row when its socket closes; a row whose node
-- died expires (`expires_at`), is no longer counted, and is swept by the next opening.
CREATE TABLE chat_sockets (
    id           TEXT PRIMARY KEY,
    node         TEXT NOT NULL,
    client       TEXT NOT NULL,
    conversation INTEGER,
    opened_at    INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);
CREATE INDEX chat_sockets_client ON chat_sockets(client, expires_at);
CREATE INDEX chat_sockets_expires ON chat_sockets(expires_at);

-- One row per client address with open sockets: an opening takes its row first (an upsert,
-- which locks it on PostgreSQL), so two nodes opening sockets for one address take turns and
-- cannot both pass the cap.
CREATE TABLE chat_socket_clients (
    client    TEXT PRIMARY KEY,
    opened_at INTEGER NOT NULL
);

-- The chat's rate limits, shared by every node: a token bucket per key (`chat-start:<client
-- address>`, `chat-message:<conversation>`), in thousandths of a token. A taker holds its row
-- (an upsert) while it computes. `full_at`: when the bucket is full again, so that a row that
-- says nothing more than "full" can be swept.
CREATE TABLE rate_buckets (
    key        TEXT PRIMARY KEY,
    tokens     INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    full_at    INTEGER NOT NULL
);
CREATE INDEX rate_buckets_full_at ON rate_buckets(full_at);

-- The address a customer types into the chat is theirs only once they typed the code sent to
-- it: until then the chat is not linked to the customer who owns that address.
-- `email_code_hash`: SHA-256 of the chat id and the code last sent; `email_code_attempts`:
-- wrong codes typed since; `email_codes_sent`: codes sent for this chat.
ALTER TABLE chats ADD COLUMN email_verified_at INTEGER;
ALTER TABLE chats ADD COLUMN email_code_hash TEXT;
ALTER TABLE chats ADD COLUMN email_code_expires_at INTEGER;
ALTER TABLE chats ADD COLUMN email_code_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE chats ADD COLUMN email_codes_sent INTEGER NOT NULL DEFAULT 0;
