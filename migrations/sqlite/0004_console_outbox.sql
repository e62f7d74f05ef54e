-- The console outbox: console events a conversation step committed, in the step's own
-- transaction, until they are appended to their agent's log (agent_events, or a Redis stream
-- in a cluster). A crash between the two loses nothing: what is left is appended at start.
CREATE TABLE console_outbox (
    id         TEXT    PRIMARY KEY,
    agent      TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX console_outbox_created ON console_outbox (created_at);
