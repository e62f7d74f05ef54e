-- SLA clocks: each conversation's marks (cycle start, first reply, the customer's first
-- unanswered message, resolution, breaches announced), as JSON.
ALTER TABLE conversations ADD COLUMN sla JSON NOT NULL DEFAULT '{}';
