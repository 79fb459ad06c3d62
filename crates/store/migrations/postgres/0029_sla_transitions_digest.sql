-- See ../sqlite/0029: the digest of every transition each stored clock has made.
ALTER TABLE sla_states ADD COLUMN transitions_digest BIGINT;
