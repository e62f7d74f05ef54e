-- Web chat visitors expire `webchat.visitor_days` after their last use; the retention loop
-- deletes the expired ones by `last_seen_at`.
CREATE INDEX webchat_visitors_last_seen ON webchat_visitors (last_seen_at);
