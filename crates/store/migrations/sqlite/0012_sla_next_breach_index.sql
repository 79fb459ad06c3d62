-- The queue sorted by the next SLA breach (`sort=sla`) walks the conversations with a running
-- target in this order, soonest breach first; conversations without one follow by number.
CREATE INDEX sla_states_next_breach ON sla_states(next_breach_at, conversation) WHERE next_breach_at IS NOT NULL;
