-- A tag row is written once: the store's add_tag inserts it with its conversation's status,
-- group, assignee and merge, so the copy trigger of 0016 now runs only for rows inserted
-- without them (a bulk load, an older node). Before, every tag insert wrote its row twice.
-- Keep in step with ../postgres/0022_tag_rows_written_once.sql.

DROP TRIGGER conversation_tags_copy_on_insert;

CREATE TRIGGER conversation_tags_copy_on_insert AFTER INSERT ON conversation_tags
WHEN NEW.status IS NULL
BEGIN
    UPDATE conversation_tags SET (status, group_id, assignee_id, merged_into) =
        (SELECT c.status, c.group_id, c.assignee_id, c.merged_into FROM conversations c WHERE c.number = NEW.conversation)
    WHERE conversation = NEW.conversation AND tag = NEW.tag;
END;
