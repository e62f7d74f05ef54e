-- The conversation each console outbox entry comes from, so the node taking a partition over
-- appends the entries of that partition's conversations before any newer event of theirs.
-- NULL: an entry written before this column existed (the sweep appends it).
ALTER TABLE console_outbox ADD COLUMN conversation_key TEXT;
