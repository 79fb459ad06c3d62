-- Live chat, SQLite dialect. Keep in step with ../postgres/0011_chat.sql.

-- A chat from the widget: bound to the one conversation its first message opened. The
-- widget holds the chat's token (to resume after a reload); only its SHA-256 is kept.
-- `ended_at`: the customer ended it (the conversation's status is the team's business).
-- `email`: the address the customer gave, where a transcript goes unless they give another.
CREATE TABLE chats (
    id               INTEGER PRIMARY KEY,
    token_hash       TEXT NOT NULL UNIQUE,
    conversation     INTEGER NOT NULL REFERENCES conversations(number),
    visitor_name     TEXT NOT NULL,
    email            TEXT,
    created_at       INTEGER NOT NULL,
    ended_at         INTEGER,
    transcripts_sent INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX chats_conversation ON chats(conversation);
