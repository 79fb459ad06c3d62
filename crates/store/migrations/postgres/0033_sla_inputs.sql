-- SQLite now keeps the clocks' inputs by conversation, in a table a trigger fills (see
-- ../sqlite/0033), instead of an index of them. PostgreSQL keeps its covering index of 0032:
-- a recompute reads it without the table, and the table's row rewritten per event would
-- leave a dead row version per event. Nothing changes here.
SELECT 1;
