-- Queue counters: how many conversations there are per (group, assignee, status, merged or
-- not), kept by a trigger in the same transaction as every change, so that a queue's total
-- is a sum over a few hundred rows instead of a count over millions. Rows are never unique
-- by key on purpose: a second row for the same key (two first-time keys racing) sums the
-- same. Keep in step with ../sqlite/0002_queue_counters.sql.

CREATE TABLE queue_counters (
    id           BIGSERIAL PRIMARY KEY,
    group_id     BIGINT,
    assignee_id  BIGINT,
    status       TEXT NOT NULL,
    -- NULL when the conversations are not merged, 1 when they are.
    merged_into  BIGINT,
    n            BIGINT NOT NULL
);
CREATE INDEX queue_counters_key ON queue_counters(status, group_id, assignee_id);

INSERT INTO queue_counters (group_id, assignee_id, status, merged_into, n)
SELECT group_id, assignee_id, status, CASE WHEN merged_into IS NULL THEN NULL ELSE 1 END, COUNT(*)
FROM conversations GROUP BY 1, 2, 3, 4;

CREATE FUNCTION rapport_count_conversation() RETURNS trigger LANGUAGE plpgsql AS $$
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
        UPDATE queue_counters SET n = n - 1 WHERE id = (SELECT id FROM queue_counters WHERE status = OLD.status
            AND group_id IS NOT DISTINCT FROM OLD.group_id AND assignee_id IS NOT DISTINCT FROM OLD.assignee_id
            AND merged_into IS NOT DISTINCT FROM old_merged LIMIT 1);
        IF NOT FOUND THEN
            INSERT INTO queue_counters (group_id, assignee_id, status, merged_into, n) VALUES (OLD.group_id, OLD.assignee_id, OLD.status, old_merged, -1);
        END IF;
    END IF;
    UPDATE queue_counters SET n = n + 1 WHERE id = (SELECT id FROM queue_counters WHERE status = NEW.status
        AND group_id IS NOT DISTINCT FROM NEW.group_id AND assignee_id IS NOT DISTINCT FROM NEW.assignee_id
        AND merged_into IS NOT DISTINCT FROM new_merged LIMIT 1);
    IF NOT FOUND THEN
        INSERT INTO queue_counters (group_id, assignee_id, status, merged_into, n) VALUES (NEW.group_id, NEW.assignee_id, NEW.status, new_merged, 1);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER conversations_counted AFTER INSERT OR UPDATE ON conversations
    FOR EACH ROW EXECUTE FUNCTION rapport_count_conversation();
