-- Web chat visitors: one row per visitor of a webchat channel. The visitor's token (random,
-- shown once to the widget, kept in the browser's local storage) is stored as its SHA-256.
CREATE TABLE webchat_visitors (
    token_sha256 TEXT PRIMARY KEY,
    channel      TEXT    NOT NULL,
    visitor      TEXT    NOT NULL,
    customer     TEXT    NOT NULL UNIQUE,
    name         TEXT,
    email        TEXT,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL
);
