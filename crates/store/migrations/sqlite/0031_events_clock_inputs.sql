-- The index of the SLA clocks' inputs: each conversation's events of the kinds a clock reads
-- (`sla::CLOCK_INPUT_KINDS`, which `store::SLA_INPUT_KINDS` repeats), in log order, with
-- their instants and payloads. `rapport sla recompute` reads every conversation's inputs
-- from this index alone: it looks up no row of `events`, and it never meets the clocks' own
-- events (`sla_*`, about as many again) nor the kinds no clock reads. Reading them through
-- 0030's index and the table cost about twice as much. The scan names the kinds in the same
-- order (`sla_scan.rs`), which is what lets SQLite use this partial index; a test checks
-- the query plan.
CREATE INDEX events_clock_inputs ON events(conversation, id, kind, at, payload)
    WHERE kind IN ('created', 'message_added', 'status_changed', 'priority_changed', 'group_changed', 'tag_added', 'tag_removed');
