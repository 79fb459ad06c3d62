-- IMAP leases without comparing clocks across nodes, SQLite dialect.
-- Keep in step with ../postgres/0026_imap_lease_renewals.sql.

-- Every take or renewal of a folder's lease adds one. A node standing by takes the lease over
-- only when it has seen the same (holder, renewals) for a whole lease on its own clock, so
-- the nodes' clocks may disagree by any amount; expires_at is kept for people to read.
ALTER TABLE imap_leases ADD COLUMN renewals BIGINT NOT NULL DEFAULT 0;
