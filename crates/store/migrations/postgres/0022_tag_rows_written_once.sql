-- A tag row is written once with its conversation's columns: the store's add_tag inserts
-- them itself, so the copy trigger of 0016 looks the conversation up only for rows inserted
-- without them (a bulk load, an older node), and still on every move to another
-- conversation. Keep in step with ../sqlite/0022_tag_rows_written_once.sql.

DROP TRIGGER conversation_tags_copy ON conversation_tags;

CREATE TRIGGER conversation_tags_copy_on_insert BEFORE INSERT ON conversation_tags
    FOR EACH ROW WHEN (NEW.status IS NULL)
    EXECUTE FUNCTION rapport_tag_copies_conversation();

CREATE TRIGGER conversation_tags_copy_on_move BEFORE UPDATE OF conversation ON conversation_tags
    FOR EACH ROW EXECUTE FUNCTION rapport_tag_copies_conversation();
