-- Inbound event log: every webhook event, recorded before the webhook is acknowledged.
-- `dedupe_key` makes a redelivery recognisable; `processed` is set in the same transaction as
-- the conversation step that consumed the event, so unprocessed events replay after a crash.
CREATE TABLE inbound_events (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,
    dedupe_key       TEXT    NOT NULL UNIQUE,
    channel          TEXT,
    conversation_key TEXT,
    kind             TEXT    NOT NULL,
    payload          TEXT    NOT NULL,
    received_at      INTEGER NOT NULL,
    processed        INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX inbound_events_unprocessed ON inbound_events (conversation_key, seq) WHERE processed = 0;

CREATE TABLE contacts (
    customer   TEXT PRIMARY KEY,
    name       TEXT,
    phone      TEXT,
    language   TEXT,
    fields     TEXT    NOT NULL DEFAULT '{}',
    tags       TEXT    NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE conversations (
    id         TEXT PRIMARY KEY,
    key        TEXT    NOT NULL,
    channel    TEXT    NOT NULL,
    customer   TEXT    NOT NULL,
    status     TEXT    NOT NULL,
    team       TEXT,
    bot_state  TEXT    NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    handoff_at INTEGER,
    -- The last inbound log entry this conversation consumed: replays at or below it are skipped.
    last_seq   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX conversations_key ON conversations (key, created_at);

CREATE TABLE messages (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT    NOT NULL REFERENCES conversations (id),
    direction       TEXT    NOT NULL,
    sender          TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    body            TEXT    NOT NULL,
    provider_id     TEXT,
    reply_to        TEXT,
    status          TEXT    NOT NULL,
    error_code      INTEGER,
    error_reason    TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE UNIQUE INDEX messages_provider_id ON messages (provider_id) WHERE provider_id IS NOT NULL;
CREATE INDEX messages_conversation ON messages (conversation_id);
CREATE INDEX messages_queued ON messages (direction, status) WHERE status = 'queued';

-- Statuses that arrived before the send's response told us the provider id.
CREATE TABLE orphan_statuses (
    provider_id  TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    error_code   INTEGER,
    error_reason TEXT,
    received_at  INTEGER NOT NULL,
    PRIMARY KEY (provider_id, status)
);
