-- A push subscription made in a login session ends with it (log out, log out everywhere, an
-- admin's forced logout, expiry): a browser nobody is logged in to hears nothing more.
-- Subscriptions made before, or with a personal API token, have none and are kept until removed.
ALTER TABLE push_subscriptions ADD COLUMN session_id TEXT REFERENCES sessions (id) ON DELETE CASCADE;
CREATE INDEX push_subscriptions_session ON push_subscriptions (session_id);
