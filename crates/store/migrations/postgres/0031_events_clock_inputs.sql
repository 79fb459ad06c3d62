-- The SLA clocks' inputs (see ../sqlite/0031): here an index of where they lie, not a copy
-- of their payloads (a PostgreSQL index entry is limited to about 2.7 kB, and a `created`
-- event holds the subject), so the recompute's scan looks up only the rows of the kinds a
-- clock reads, and none of the clocks' own events.
CREATE INDEX events_clock_inputs ON events (conversation, id)
    WHERE kind IN ('created', 'message_added', 'status_changed', 'priority_changed', 'group_changed', 'tag_added', 'tag_removed');
