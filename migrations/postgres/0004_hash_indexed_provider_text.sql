-- Text a provider supplies (a message id, a status, the dedupe keys made of them) is indexed
-- by hash, not by B-tree. A B-tree entry holds the value itself and cannot pass about 2.7 KB:
-- one row with a longer id fails its insert, and with it every webhook of its grouped commit.
-- A hash index entry is the value's 4-byte hash whatever its length, and answers the same
-- `=` lookups; uniqueness is kept by exclusion constraints over those hash indexes (a hash
-- collision is re-checked against the rows, so it never merges two different values).
-- The gateway also refuses ids over 256 bytes at the edge (the event is recorded as `other`);
-- this keeps the store safe whatever reaches it. SQLite has no such limit on index entries.

ALTER TABLE inbound_events DROP CONSTRAINT inbound_events_dedupe_key_key;
ALTER TABLE inbound_events ADD CONSTRAINT inbound_events_dedupe_key
    EXCLUDE USING hash (dedupe_key WITH =);

DROP INDEX messages_provider_id;
ALTER TABLE messages ADD CONSTRAINT messages_provider_id
    EXCLUDE USING hash (provider_id WITH =) WHERE (provider_id IS NOT NULL);

-- One orphan per (provider id, status): the pair as one length-prefixed text, so no two
-- different pairs make the same text.
ALTER TABLE orphan_statuses DROP CONSTRAINT orphan_statuses_pkey;
ALTER TABLE orphan_statuses ADD CONSTRAINT orphan_statuses_provider_id_status
    EXCLUDE USING hash ((length(provider_id)::text || ':' || provider_id || status) WITH =);
CREATE INDEX orphan_statuses_provider_id ON orphan_statuses USING hash (provider_id);
