-- Each SLA state keeps the digest (`sla::transitions_digest`) of every transition its clock
-- has made, all of which the conversation's log records (`sla_applied` … `sla_fulfilled`),
-- written in the transaction that appends them. A recompute whose expected transitions have
-- that digest knows the log lacks none of them without reading them back. NULL: not known
-- yet; the next recompute reads the transitions from the log and fills it in.
ALTER TABLE sla_states ADD COLUMN transitions_digest INTEGER;
