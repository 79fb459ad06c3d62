-- SQLite keys the KPI facts by the conversation's number as its rowid (see ../sqlite/0028): its
-- BIGINT PRIMARY KEY was a second b-tree beside the table. PostgreSQL's tables are heaps with
-- their primary key an index either way: nothing changes here.
SELECT 1;
