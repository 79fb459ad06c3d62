-- Unassigned queues of a group walk one index range: (group, unassigned, status) in update order.
CREATE INDEX conversations_group_assignee_status ON conversations(group_id, assignee_id, status, updated_at, number);
