-- The console outbox: console events a conversation step committed, in the step's own
-- transaction, until they are appended to their agent's log (agent_events, or a Redis stream
-- in a cluster). A crash between the two loses nothing: a sweep appends what is left.
CREATE TABLE console_outbox (
    id         TEXT   PRIMARY KEY,
    agent      TEXT   NOT NULL,
    kind       TEXT   NOT NULL,
    payload    JSON   NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX console_outbox_created ON console_outbox (created_at);
