-- The index of each conversation's log also holds the event's kind, so that a reader can
-- leave kinds out without looking their rows up: `rapport sla recompute` reads every
-- conversation's inputs and not the transitions the clocks wrote (about as many again),
-- which it vouches for by their digest (0029). Queries that used (conversation, id) use its
-- prefix as before.
DROP INDEX events_conversation;
CREATE INDEX events_conversation ON events(conversation, id, kind);
