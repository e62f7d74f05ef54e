-- When each WhatsApp channel's templates are synced next, and which node holds the sync: a node
-- takes a channel's due sync by moving `lease_until` past now (one node at a time, also in a
-- cluster); a node that dies mid-sync loses it when the lease lapses.
CREATE TABLE template_syncs (
    channel        TEXT    PRIMARY KEY,
    next_at        BIGINT  NOT NULL,
    lease_until    BIGINT  NOT NULL DEFAULT 0,
    last_synced_at BIGINT,
    last_error     TEXT
);
