-- Notifications: each user's choices, the server's VAPID key pair (RFC 8292; one for every node
-- and every restart) and the Web Push subscriptions of each user's browsers and phones.
-- Times are unix milliseconds.

CREATE TABLE notification_settings (
    user_id     TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sound       INTEGER NOT NULL,
    desktop     INTEGER NOT NULL,
    -- Which events notify: an offer, an assignment, a customer message in my conversations.
    offers      INTEGER NOT NULL,
    assignments INTEGER NOT NULL,
    messages    INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- One row, written once (the first node to need it wins; the others read it).
CREATE TABLE vapid_keys (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    -- The P-256 private scalar and the uncompressed public point, base64url without padding.
    private_key TEXT    NOT NULL,
    public_key  TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
);

CREATE TABLE push_subscriptions (
    id         TEXT PRIMARY KEY,
    user_id    TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The push service's URL for this browser: unique (a browser that subscribes again for
    -- another user moves its row).
    endpoint   TEXT    NOT NULL UNIQUE,
    -- The browser's P-256 public key and auth secret, base64url (RFC 8291).
    p256dh     TEXT    NOT NULL,
    auth       TEXT    NOT NULL,
    user_agent TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX push_subscriptions_user ON push_subscriptions (user_id);
