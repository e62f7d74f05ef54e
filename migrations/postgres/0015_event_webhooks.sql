-- Event webhooks (docs/WEBHOOKS.md): the endpoints business systems subscribe, the outbox a
-- conversation step writes its events to (in the step's own transaction), and the deliveries
-- the outbox's events fan out to, one per matching endpoint, with their log.
CREATE TABLE webhook_endpoints (
    id                    TEXT    PRIMARY KEY,
    url                   TEXT    NOT NULL,
    -- JSON array of event types.
    events                TEXT    NOT NULL,
    team                  TEXT,
    channel               TEXT,
    description           TEXT,
    -- `whsec_…`: needed to sign, so kept as is.
    secret                TEXT    NOT NULL,
    -- The secret before the last rotation, valid (both signatures sent) until this time.
    previous_secret       TEXT,
    previous_secret_until BIGINT,
    enabled               BOOLEAN NOT NULL DEFAULT TRUE,
    disabled_reason       TEXT,
    -- The first failed attempt since the last success (None: not failing).
    failing_since         BIGINT,
    created_at            BIGINT  NOT NULL,
    updated_at            BIGINT  NOT NULL
);

-- The outbox: deleted as soon as the event is fanned out into deliveries.
CREATE TABLE webhook_events (
    seq               BIGSERIAL PRIMARY KEY,
    id                TEXT    NOT NULL UNIQUE,
    kind              TEXT    NOT NULL,
    conversation_key  TEXT    NOT NULL,
    team              TEXT,
    channel           TEXT,
    payload           TEXT    NOT NULL,
    created_at        BIGINT  NOT NULL
);

CREATE TABLE webhook_deliveries (
    id                TEXT    PRIMARY KEY,
    endpoint_id       TEXT    NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id          TEXT    NOT NULL,
    event_seq         BIGINT  NOT NULL,
    kind              TEXT    NOT NULL,
    conversation_key  TEXT    NOT NULL,
    payload           TEXT    NOT NULL,
    -- A replay (of this delivery id): sent out of the live order.
    replay_of         TEXT,
    -- pending, delivered, failed
    state             TEXT    NOT NULL,
    attempts          BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at   BIGINT  NOT NULL,
    lease_until       BIGINT,
    response_status   BIGINT,
    latency_ms        BIGINT,
    response_excerpt  TEXT,
    error             TEXT,
    created_at        BIGINT  NOT NULL,
    updated_at        BIGINT  NOT NULL,
    delivered_at      BIGINT
);
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_order
    ON webhook_deliveries (endpoint_id, conversation_key, event_seq) WHERE state = 'pending';
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (endpoint_id, created_at);
