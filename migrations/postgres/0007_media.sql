-- Media of messages (see src/media): the same table as the SQLite store's 0008_media.sql, and
-- the cluster's media store: the bytes themselves, named by their SHA-256, in `media_blobs`
-- (every node reaches PostgreSQL; sizes are capped by media.max_bytes, 100 MB at most).
CREATE TABLE media (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT    NOT NULL,
    message_id      TEXT,
    channel         TEXT    NOT NULL,
    direction       TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    state           TEXT    NOT NULL,
    mime_type       TEXT,
    expected_sha256 TEXT,
    blob            TEXT,
    size            BIGINT,
    filename        TEXT,
    attempts        BIGINT  NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL DEFAULT 0,
    lease_until     BIGINT  NOT NULL DEFAULT 0,
    reason          TEXT,
    created_at      BIGINT  NOT NULL,
    updated_at      BIGINT  NOT NULL
);
CREATE INDEX media_due ON media (next_attempt_at) WHERE state = 'pending';
CREATE INDEX media_message ON media (message_id);
CREATE INDEX messages_inbound_media ON messages (updated_at)
    WHERE direction = 'inbound' AND kind IN ('image', 'audio', 'video', 'document', 'sticker');

CREATE TABLE media_blobs (
    sha256     TEXT PRIMARY KEY,
    size       BIGINT NOT NULL,
    data       BYTEA  NOT NULL,
    created_at BIGINT NOT NULL
);
-- Media are compressed formats already; uncompressed out-of-line storage lets a file be read
-- in pieces (substring) without reading all of it.
ALTER TABLE media_blobs ALTER COLUMN data SET STORAGE EXTERNAL;
