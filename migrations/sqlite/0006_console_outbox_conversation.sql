-- The conversation each console outbox entry comes from (the cluster's take-over appends a
-- partition's entries before its newer events; the same column in both stores).
ALTER TABLE console_outbox ADD COLUMN conversation_key TEXT;
