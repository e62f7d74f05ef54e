-- Media of messages (see src/media): one row per provider media id. Inbound media are
-- downloaded from Meta in the background (pending -> ready | unavailable); outbound attachments
-- are stored when uploaded (ready). The bytes live in the media store (a directory under
-- database.data_dir), named by their SHA-256 (`blob`). Times are unix milliseconds.
CREATE TABLE media (
    id              TEXT PRIMARY KEY,
    conversation_id TEXT    NOT NULL,
    message_id      TEXT,
    channel         TEXT    NOT NULL,
    direction       TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    -- pending | ready | unavailable
    state           TEXT    NOT NULL,
    mime_type       TEXT,
    -- The checksum the webhook announced (base64 or hex), checked after the download.
    expected_sha256 TEXT,
    -- Hex SHA-256 of the stored bytes: the media store's key.
    blob            TEXT,
    size            INTEGER,
    filename        TEXT,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    -- A node downloading it holds it until then.
    lease_until     INTEGER NOT NULL DEFAULT 0,
    -- Why it is unavailable (or why the last attempt failed).
    reason          TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX media_due ON media (next_attempt_at) WHERE state = 'pending';
CREATE INDEX media_message ON media (message_id);
-- The downloader looks for recent inbound media messages without a media row.
CREATE INDEX messages_inbound_media ON messages (updated_at)
    WHERE direction = 'inbound' AND kind IN ('image', 'audio', 'video', 'document', 'sticker');
