-- PostgreSQL gets statistics on the queue columns together (see ../postgres/0027): its planner
-- otherwise took them as independent and walked the wrong index. SQLite's planner picks the
-- queue indexes from the equality terms each branch gives: nothing changes here.
SELECT 1;
