-- Queue counters as appended deltas. 0002's trigger updated one row per (status, group,
-- assignee): every create in a group then waited for the previous one's commit on that row,
-- which serialised all creates on PostgreSQL. Now each change appends a row of +1 (and -1 for
-- the key it left); inserts never wait for each other. Readers already sum over the rows of a
-- key. `Store::compact_queue_counters`, run in the background, folds the rows back into one
-- per key. SQLite has one writer and keeps 0002's trigger.
CREATE OR REPLACE FUNCTION rapport_count_conversation() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    old_merged BIGINT;
    new_merged BIGINT := CASE WHEN NEW.merged_into IS NULL THEN NULL ELSE 1 END;
BEGIN
    IF TG_OP = 'UPDATE' THEN
        old_merged := CASE WHEN OLD.merged_into IS NULL THEN NULL ELSE 1 END;
        IF OLD.group_id IS NOT DISTINCT FROM NEW.group_id AND OLD.assignee_id IS NOT DISTINCT FROM NEW.assignee_id
           AND OLD.status = NEW.status AND old_merged IS NOT DISTINCT FROM new_merged THEN
            RETURN NULL;
        END IF;
        INSERT INTO queue_counters (group_id, assignee_id, status, merged_into, n)
            VALUES (OLD.group_id, OLD.assignee_id, OLD.status, old_merged, -1);
    END IF;
    INSERT INTO queue_counters (group_id, assignee_id, status, merged_into, n)
        VALUES (NEW.group_id, NEW.assignee_id, NEW.status, new_merged, 1);
    RETURN NULL;
END;
$$;
