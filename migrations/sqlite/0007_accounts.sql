-- The people of the contact center: users, teams and memberships (the directory, versioned as a
-- whole), login sessions, personal API tokens, one-time reset tokens and the audit log.
-- Times are unix milliseconds. Secrets are kept only as SHA-256 digests (32-byte blobs).

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    name          TEXT    NOT NULL,
    -- Lower-cased by the caller; unique.
    email         TEXT    NOT NULL UNIQUE,
    role          TEXT    NOT NULL,
    language      TEXT    NOT NULL,
    time_zone     TEXT    NOT NULL,
    active        INTEGER NOT NULL,
    capacity      INTEGER NOT NULL,
    -- argon2id PHC string; NULL: no password yet.
    password_hash TEXT,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until  INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE TABLE teams (
    id                     TEXT PRIMARY KEY,
    name                   TEXT    NOT NULL,
    description            TEXT,
    -- round_robin | least_busy
    strategy               TEXT    NOT NULL,
    offer_timeout_seconds  INTEGER NOT NULL,
    -- Not a foreign key: teams may overflow into each other, and the caller checks the name.
    overflow_team          TEXT,
    overflow_after_seconds INTEGER NOT NULL,
    max_queue              INTEGER NOT NULL,
    private                INTEGER NOT NULL,
    -- NULL: the global default.
    mask_numbers           INTEGER,
    business_hours         TEXT,
    created_at             INTEGER NOT NULL,
    updated_at             INTEGER NOT NULL
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
-- compares it with its copy's in one small read.
CREATE TABLE directory_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO directory_version (id, version) VALUES (1, 0);

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    token_sha256 BLOB    NOT NULL UNIQUE,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    address      TEXT,
    user_agent   TEXT
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    token_sha256 BLOB    NOT NULL UNIQUE,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER
);
CREATE INDEX api_tokens_user ON api_tokens (user_id, created_at);

-- At most one unused one-time token per user: a new one replaces the earlier.
CREATE TABLE reset_tokens (
    token_sha256 BLOB PRIMARY KEY,
    user_id      TEXT    NOT NULL UNIQUE REFERENCES users (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL
);

-- Append-only: only retention deletes from it. AUTOINCREMENT: an id is never reused after a
-- prune, so paging by id stays stable.
CREATE TABLE audit_log (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          INTEGER NOT NULL,
    actor_kind  TEXT    NOT NULL,
    actor       TEXT,
    token       TEXT,
    action      TEXT    NOT NULL,
    target_kind TEXT,
    target      TEXT,
    -- JSON documents: the record before and after the change.
    before_json TEXT,
    after_json  TEXT,
    address     TEXT,
    user_agent  TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE INDEX audit_log_action ON audit_log (action, id);
