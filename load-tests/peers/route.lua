-- The route every peer of `loadtest peers` runs for each incoming message, in one round trip
-- to its own Redis (load-tests/README.md, "Peers"). It stands for what a minimal router does
-- with a customer's message: find (or open) the customer's conversation, count the message
-- against it, and queue the message for whoever works that conversation.
--
-- KEYS[1]  hash: customer wa_id -> conversation id
-- KEYS[2]  string: the last conversation id handed out
-- KEYS[3]  hash: conversation id -> messages routed to it
-- KEYS[4]  stream: routed messages (conversation, message id, number), capped
-- KEYS[5]  string: messages routed so far (what the load test reads as "processed")
-- ARGV[1]  the customer's wa_id
-- ARGV[2]  the message id (wamid)
-- ARGV[3]  the business number's phone_number_id
--
-- Returns the conversation id.
local conversation = redis.call('HGET', KEYS[1], ARGV[1])
if not conversation then
  conversation = tostring(redis.call('INCR', KEYS[2]))
  redis.call('HSET', KEYS[1], ARGV[1], conversation)
end
redis.call('HINCRBY', KEYS[3], conversation, 1)
redis.call('XADD', KEYS[4], 'MAXLEN', '~', '100000', '*',
  'conversation', conversation, 'message', ARGV[2], 'number', ARGV[3])
redis.call('INCR', KEYS[5])
return conversation
