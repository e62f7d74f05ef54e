-- API keys of business systems (docs/ARCHITECTURE.md, "API keys"): a principal of their own,
-- not a user. The token is shown once and kept only as its SHA-256 digest; a rotation replaces
-- the digest (the old token stops working at once); a revocation is kept, not deleted, so the
-- audit log's references stay readable.
CREATE TABLE api_keys (
    id           TEXT    PRIMARY KEY,
    token_sha256 BYTEA   NOT NULL UNIQUE,
    name         TEXT    NOT NULL,
    -- JSON array of scopes (`contacts:read`, …).
    scopes       TEXT    NOT NULL,
    -- The user who created it.
    created_by   TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL,
    rotated_at   BIGINT,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_keys_created ON api_keys (created_at);
