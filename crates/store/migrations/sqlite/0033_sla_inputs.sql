-- The clocks' inputs by conversation: each conversation's `clock_input` texts (0032), in log
-- order, a few rows per conversation instead of one index entry per event. A recompute reads
-- every conversation's inputs, and stepping to the next row costs SQLite much the same whatever
-- the row holds: for 1M conversations with 9M inputs, reading the index of 0032 as the scan
-- read it took 1.9 CPU-s with the sqlite3 shell, reading this table 0.4.
--
-- A trigger keeps it in the transaction that appends the event, so every writer of the log
-- (the use cases, bulk loads, imports) keeps it without saying it; it replaces the index, and
-- costs more to keep: 3.2 to 3.8 µs per event appended against 0.7 for the index (1M events of
-- a bench log, 9 in 10 of them inputs, inserted with SQLite 3.51 from Python), a bulk load of
-- 3M events in 30-31 s instead of 24-27, and creating conversations over HTTP about 3 %
-- slower. A row (a chunk) holds at most 16 inputs, so appending to a long conversation
-- rewrites a short row, and a row of short texts stays on its page. Each input is `<id> <at>
-- <bytes> <text>`: the event's id and instant, the text's length in bytes, the text; the
-- inputs follow each other with nothing between them. `store::sla_scan` reads it; SQLite has
-- one writer, so chunks fill in log order.
--
-- PostgreSQL keeps the covering index (see ../postgres/0033): it reads it without the table,
-- and rewriting a row per event would leave a dead row version per event.
CREATE TABLE sla_inputs (
    conversation INTEGER NOT NULL,
    chunk        INTEGER NOT NULL,
    inputs_count INTEGER NOT NULL,
    inputs       TEXT NOT NULL,
    PRIMARY KEY (conversation, chunk)
) WITHOUT ROWID;

INSERT INTO sla_inputs (conversation, chunk, inputs_count, inputs)
SELECT conversation, chunk, count(*), group_concat(input, '' ORDER BY id)
FROM (
    SELECT conversation, id,
        (row_number() OVER (PARTITION BY conversation ORDER BY id) - 1) / 16 AS chunk,
        id || ' ' || at || ' ' || length(CAST(clock_input AS BLOB)) || ' ' || clock_input AS input
    FROM events INDEXED BY events_clock_inputs
    WHERE clock_input IS NOT NULL AND conversation IS NOT NULL
)
GROUP BY conversation, chunk;

CREATE TRIGGER events_sla_inputs AFTER INSERT ON events
WHEN new.clock_input IS NOT NULL AND new.conversation IS NOT NULL
BEGIN
    -- The conversation's last chunk, or the next one when that is full (the first: none).
    INSERT INTO sla_inputs (conversation, chunk, inputs_count, inputs)
    VALUES (
        new.conversation,
        coalesce((SELECT chunk + (inputs_count >= 16) FROM sla_inputs
                  WHERE conversation = new.conversation ORDER BY chunk DESC LIMIT 1), 0),
        1,
        new.id || ' ' || new.at || ' ' || length(CAST(new.clock_input AS BLOB)) || ' ' || new.clock_input
    )
    ON CONFLICT (conversation, chunk) DO UPDATE
    SET inputs_count = inputs_count + 1, inputs = inputs || excluded.inputs;
END;

DROP INDEX events_clock_inputs;
