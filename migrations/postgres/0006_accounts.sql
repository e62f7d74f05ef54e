-- The people of the contact center: users, teams and memberships (the directory, versioned as a
-- whole), login sessions, personal API tokens, one-time reset tokens and the audit log. The same
-- tables and columns as the SQLite store's 0007_accounts.sql, in PostgreSQL's types.
-- Times are unix milliseconds. Secrets are kept only as SHA-256 digests (32 bytes).

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    name          TEXT    NOT NULL,
    -- Lower-cased by the caller; unique.
    email         TEXT    NOT NULL UNIQUE,
    role          TEXT    NOT NULL,
    language      TEXT    NOT NULL,
    time_zone     TEXT    NOT NULL,
    active        BOOLEAN NOT NULL,
    capacity      BIGINT  NOT NULL,
    -- argon2id PHC string; NULL: no password yet.
    password_hash TEXT,
    failed_logins BIGINT  NOT NULL DEFAULT 0,
    locked_until  BIGINT,
    created_at    BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL
);

CREATE TABLE teams (
    id                     TEXT PRIMARY KEY,
    name                   TEXT    NOT NULL,
    description            TEXT,
    -- round_robin | least_busy
    strategy               TEXT    NOT NULL,
    offer_timeout_seconds  BIGINT  NOT NULL,
    -- Not a foreign key: teams may overflow into each other, and the caller checks the name.
    overflow_team          TEXT,
    overflow_after_seconds BIGINT  NOT NULL,
    max_queue              BIGINT  NOT NULL,
    private                BOOLEAN NOT NULL,
    -- NULL: the global default.
    mask_numbers           BOOLEAN,
    business_hours         TEXT,
    created_at             BIGINT  NOT NULL,
    updated_at             BIGINT  NOT NULL
);

CREATE TABLE memberships (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    team_id TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    -- member | supervisor
    role    TEXT NOT NULL,
    PRIMARY KEY (user_id, team_id)
);
CREATE INDEX memberships_team ON memberships (team_id);

-- Bumped in the same transaction as every change to users, teams or memberships: a node
-- compares it with its copy's in one small read. Its row lock also serializes the directory's
-- writers across nodes (each takes it first).
CREATE TABLE directory_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT  NOT NULL
);
INSERT INTO directory_version (id, version) VALUES (1, 0);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    token_sha256 BYTEA  NOT NULL UNIQUE,
    user_id      TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    address      TEXT,
    user_agent   TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    token_sha256 BYTEA  NOT NULL UNIQUE,
    user_id      TEXT   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT   NOT NULL,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at   BIGINT
);
CREATE INDEX api_tokens_user ON api_tokens (user_id, created_at);

-- At most one unused one-time token per user: a new one replaces the earlier.
CREATE TABLE reset_tokens (
    token_sha256 BYTEA PRIMARY KEY,
    user_id      TEXT   NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL
);

-- Append-only: only retention deletes from it. Ids come from a sequence, never reused.
CREATE TABLE audit_log (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          BIGINT NOT NULL,
    actor_kind  TEXT   NOT NULL,
    actor       TEXT,
    token       TEXT,
    action      TEXT   NOT NULL,
    target_kind TEXT,
    target      TEXT,
    -- The record before and after the change (json, not jsonb: see 0001_init.sql).
    before_json JSON,
    after_json  JSON,
    address     TEXT,
    user_agent  TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE INDEX audit_log_action ON audit_log (action, id);
