-- Fencing for several owners (a lease handed over while the old owner still works):
-- every committed step of a conversation bumps its version, and a step commits only over the
-- version it was computed from; at most one conversation per customer thread is open.
ALTER TABLE conversations ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
CREATE UNIQUE INDEX conversations_open_key ON conversations (key) WHERE status != 'resolved';

-- Outbound messages are claimed ('sending') right before their first attempt, so a message
-- recorded as queued is handed to the provider once, whoever resumes it after a crash.
DROP INDEX messages_queued;
CREATE INDEX messages_pending ON messages (status, updated_at) WHERE status IN ('queued', 'sending');

-- Retention prunes processed inbound events (the dedupe keys) and console events by age.
CREATE INDEX inbound_events_received ON inbound_events (received_at) WHERE processed = 1;
CREATE INDEX agent_events_created ON agent_events (created_at);
