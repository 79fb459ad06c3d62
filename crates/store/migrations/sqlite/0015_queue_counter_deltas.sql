-- PostgreSQL's queue counters become appended deltas (see ../postgres/0015). SQLite has one
-- writer, so updating one row per key never makes writers wait for each other: nothing
-- changes here.
SELECT 1;
