-- The planner's estimate of a queue branch (`assignee_id = $1 AND status = 'new'`) multiplied
-- the columns' frequencies as if they were independent. They are not: new conversations are
-- unassigned and mostly in no group. With 400,000 new conversations among 1.4 million, it
-- expected tens of thousands of "new and assigned to me" and walked the (status, updated_at)
-- index filtering 430,000 rows for none: 420 ms for a first page, instead of 1 ms on the
-- (assignee_id, status, updated_at) index. Statistics on the columns together tell it.
-- Keep in step with ../sqlite/0027_queue_column_statistics.sql.
CREATE STATISTICS conversations_queue_columns (mcv, dependencies)
    ON status, group_id, assignee_id FROM conversations;
ANALYZE conversations;
