-- Nothing on PostgreSQL (see ../sqlite/0030): it keeps events_conversation on
-- (conversation, id), and the recompute's scan there drops the clocks' own kinds from the
-- rows it fetches (`left(kind, …) <> …`). SQLite is the database the recompute's figure is
-- measured on.
SELECT 1;
