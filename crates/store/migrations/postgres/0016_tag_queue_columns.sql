-- A queue filtered by a tag is counted from the tag rows alone. Each row carries its
-- conversation's status, group, assignee and merge, kept in step by triggers in the same
-- transaction as every change, so "unsolved with tag refund" is one index range instead of
-- a lookup of every tagged conversation. Keep in step with ../sqlite/0016_tag_queue_columns.sql.

ALTER TABLE conversation_tags
    ADD COLUMN status TEXT,
    ADD COLUMN group_id BIGINT,
    ADD COLUMN assignee_id BIGINT,
    ADD COLUMN merged_into BIGINT;

UPDATE conversation_tags t SET status = c.status, group_id = c.group_id, assignee_id = c.assignee_id,
    merged_into = c.merged_into
FROM conversations c WHERE c.number = t.conversation;

CREATE INDEX conversation_tags_queue ON conversation_tags(tag, status, group_id, assignee_id);

CREATE OR REPLACE FUNCTION rapport_tag_copies_conversation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    SELECT c.status, c.group_id, c.assignee_id, c.merged_into
        INTO NEW.status, NEW.group_id, NEW.assignee_id, NEW.merged_into
        FROM conversations c WHERE c.number = NEW.conversation;
    RETURN NEW;
END;
$$;

CREATE TRIGGER conversation_tags_copy BEFORE INSERT OR UPDATE OF conversation ON conversation_tags
    FOR EACH ROW EXECUTE FUNCTION rapport_tag_copies_conversation();

CREATE OR REPLACE FUNCTION rapport_tags_follow_conversation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE conversation_tags SET status = NEW.status, group_id = NEW.group_id,
        assignee_id = NEW.assignee_id, merged_into = NEW.merged_into
    WHERE conversation = NEW.number;
    RETURN NULL;
END;
$$;

CREATE TRIGGER conversation_tags_follow_conversation AFTER UPDATE OF status, group_id, assignee_id, merged_into ON conversations
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.group_id IS DISTINCT FROM NEW.group_id
          OR OLD.assignee_id IS DISTINCT FROM NEW.assignee_id OR OLD.merged_into IS DISTINCT FROM NEW.merged_into)
    EXECUTE FUNCTION rapport_tags_follow_conversation();
