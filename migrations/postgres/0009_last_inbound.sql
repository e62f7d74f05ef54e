-- When the customer last wrote (unix ms): Meta's 24-hour customer-service window runs from it.
ALTER TABLE conversations ADD COLUMN last_inbound_at BIGINT;
UPDATE conversations c SET last_inbound_at = (
    SELECT max(m.created_at) FROM messages m
     WHERE m.conversation_id = c.id AND m.direction = 'inbound'
);
-- Keyset paging of the console's lists: newest activity first.
CREATE INDEX conversations_updated ON conversations (updated_at, id);
