-- What an SLA clock reads of each event, as one short line of text (see ../sqlite/0032 and
-- `sla::read_clock_input`). Here a stored column (PostgreSQL has no indexed virtual ones),
-- derived from the payload by the database, so every writer of the log gets it without
-- saying it. Adding it rewrites the table once.
--
-- The index of the clocks' inputs (0031's) now includes the instant and this text, so the
-- recompute's scan can read the index alone (an index-only scan, where the visibility map
-- allows) and parses no JSON.
ALTER TABLE events ADD COLUMN clock_input TEXT GENERATED ALWAYS AS (
    CASE WHEN kind IN ('created', 'message_added', 'status_changed', 'priority_changed', 'group_changed', 'tag_added', 'tag_removed')
    THEN coalesce(CASE kind
        WHEN 'created' THEN 'c ' || (payload::jsonb ->> 'channel') || ' ' || (payload::jsonb ->> 'status')
            || ' ' || (payload::jsonb ->> 'priority') || ' ' || (payload::jsonb ->> 'customer_id')
            || ' ' || coalesce(payload::jsonb ->> 'group_id', '-')
        WHEN 'message_added' THEN 'm ' || (payload::jsonb ->> 'message_kind')
        WHEN 'status_changed' THEN 's ' || (payload::jsonb ->> 'to')
        WHEN 'priority_changed' THEN 'p ' || (payload::jsonb ->> 'to')
        WHEN 'group_changed' THEN 'g ' || coalesce(payload::jsonb ->> 'to', '-')
        WHEN 'tag_added' THEN '+ ' || (payload::jsonb ->> 'tag')
        WHEN 'tag_removed' THEN '- ' || (payload::jsonb ->> 'tag')
    END, '?') END
) STORED;
DROP INDEX events_clock_inputs;
CREATE INDEX events_clock_inputs ON events (conversation, id) INCLUDE (at, clock_input) WHERE clock_input IS NOT NULL;
