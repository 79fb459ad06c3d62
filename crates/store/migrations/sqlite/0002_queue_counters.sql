-- Queue counters: how many conversations there are per (group, assignee, status, merged or
-- not), kept by triggers in the same transaction as every change, so that a queue's total is
-- a sum over a few hundred rows instead of a count over millions. Rows are never unique by
-- key on purpose: a second row for the same key (two first-time keys racing) sums the same.
-- Keep in step with ../postgres/0002_queue_counters.sql.

CREATE TABLE queue_counters (
    id           INTEGER PRIMARY KEY,
    group_id     INTEGER,
    assignee_id  INTEGER,
    status       TEXT NOT NULL,
    -- NULL when the conversations are not merged, 1 when they are.
    merged_into  INTEGER,
    n            INTEGER NOT NULL
);
CREATE INDEX queue_counters_key ON queue_counters(status, group_id, assignee_id);

INSERT INTO queue_counters (group_id, assignee_id, status, merged_into, n)
SELECT group_id, assignee_id, status, CASE WHEN merged_into IS NULL THEN NULL ELSE 1 END, COUNT(*)
FROM conversations GROUP BY 1, 2, 3, 4;

CREATE TRIGGER conversations_counted_on_insert AFTER INSERT ON conversations
BEGIN
    INSERT INTO queue_counters (group_id, assignee_id, status, merged_into, n)
    SELECT NEW.group_id, NEW.assignee_id, NEW.status, CASE WHEN NEW.merged_into IS NULL THEN NULL ELSE 1 END, 0
    WHERE NOT EXISTS (SELECT 1 FROM queue_counters WHERE status = NEW.status AND group_id IS NEW.group_id
                      AND assignee_id IS NEW.assignee_id AND merged_into IS (CASE WHEN NEW.merged_into IS NULL THEN NULL ELSE 1 END));
    UPDATE queue_counters SET n = n + 1 WHERE id = (SELECT id FROM queue_counters WHERE status = NEW.status AND group_id IS NEW.group_id
                      AND assignee_id IS NEW.assignee_id AND merged_into IS (CASE WHEN NEW.merged_into IS NULL THEN NULL ELSE 1 END) LIMIT 1);
END;

CREATE TRIGGER conversations_counted_on_update AFTER UPDATE OF group_id, assignee_id, status, merged_into ON conversations
WHEN OLD.group_id IS NOT NEW.group_id OR OLD.assignee_id IS NOT NEW.assignee_id OR OLD.status IS NOT NEW.status
     OR (OLD.merged_into IS NULL) <> (NEW.merged_into IS NULL)
BEGIN
    UPDATE queue_counters SET n = n - 1 WHERE id = (SELECT id FROM queue_counters WHERE status = OLD.status AND group_id IS OLD.group_id
                      AND assignee_id IS OLD.assignee_id AND merged_into IS (CASE WHEN OLD.merged_into IS NULL THEN NULL ELSE 1 END) LIMIT 1);
    INSERT INTO queue_counters (group_id, assignee_id, status, merged_into, n)
    SELECT NEW.group_id, NEW.assignee_id, NEW.status, CASE WHEN NEW.merged_into IS NULL THEN NULL ELSE 1 END, 0
    WHERE NOT EXISTS (SELECT 1 FROM queue_counters WHERE status = NEW.status AND group_id IS NEW.group_id
                      AND assignee_id IS NEW.assignee_id AND merged_into IS (CASE WHEN NEW.merged_into IS NULL THEN NULL ELSE 1 END));
    UPDATE queue_counters SET n = n + 1 WHERE id = (SELECT id FROM queue_counters WHERE status = NEW.status AND group_id IS NEW.group_id
                      AND assignee_id IS NEW.assignee_id AND merged_into IS (CASE WHEN NEW.merged_into IS NULL THEN NULL ELSE 1 END) LIMIT 1);
END;
