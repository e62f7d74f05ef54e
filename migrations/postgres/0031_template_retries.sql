-- Templates Meta did not deliver "to maintain healthy ecosystem engagement" (error 131049, the
-- per-user marketing limit) are sent again later, never at once (docs/CAMPAIGNS.md): the failure
-- writes a row here in its own transaction (once per failed message); a node sends it when its
-- attempt's wait has passed (campaigns.retry_131049_ms: 12 h, 24 h, 48 h), holding it by a lease,
-- with the message id chosen before the send (a crash after the send is found by it, never sent
-- twice). A retry that fails with 131049 again schedules the next attempt; past the last, the
-- row is given up.
CREATE TABLE template_retries (
    failed_message TEXT    PRIMARY KEY,
    channel        TEXT    NOT NULL,
    customer       TEXT    NOT NULL,
    content        JSON    NOT NULL,
    attempt        BIGINT NOT NULL,
    failed_at      BIGINT NOT NULL,
    -- due | sent | refused | gave_up
    state          TEXT    NOT NULL,
    lease_until    BIGINT NOT NULL DEFAULT 0,
    sent_message   TEXT,
    note           TEXT
);
CREATE INDEX template_retries_due ON template_retries (state, failed_at);
CREATE INDEX template_retries_sent ON template_retries (sent_message);
