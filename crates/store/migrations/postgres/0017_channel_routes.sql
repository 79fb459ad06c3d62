-- Where the web form's and the chat's new conversations go: one row per channel and topic.
-- The topic '' is the channel's default group; the web form's other topics are the choices
-- the form offers ("Billing question" → Billing), in `position` order.
CREATE TABLE channel_routes (
    channel   TEXT NOT NULL,
    topic     TEXT NOT NULL,
    group_id  BIGINT NOT NULL REFERENCES groups(id),
    position  BIGINT NOT NULL,
    PRIMARY KEY (channel, topic)
);
