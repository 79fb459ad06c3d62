-- KPI roll-ups count in days of the team's business calendar (its time zone), no longer in UTC
-- days. Forget the buckets and the facts and rewind the roll-up consumer: its next run folds
-- the whole log again into local days (as `rapport kpi rebuild` does).
DELETE FROM kpi_rollups;
DELETE FROM kpi_conversations;
DELETE FROM consumer_cursors WHERE name = 'kpi_rollups';
