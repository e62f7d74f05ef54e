-- The consent ledger (docs/CAMPAIGNS.md): append-only, one row per opt-in or opt-out of a
-- customer (their address on the channel: a WhatsApp number's wa_id) for a business number.
-- The current state of an address on a channel is its last event. `ref` makes an automatic
-- event idempotent (a keyword message, a webhook, a failed send recorded once whatever retries).
CREATE TABLE consent_events (
    seq        BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         TEXT    NOT NULL UNIQUE,
    channel    TEXT    NOT NULL,
    address    TEXT    NOT NULL,
    -- opted_in or opted_out.
    event      TEXT    NOT NULL,
    -- bot, web_form, import, agent, keyword, user_preferences, error_131050, api.
    source     TEXT    NOT NULL,
    proof      TEXT,
    -- Who recorded it: a user or an API key (kind:id), or null for the customer's own act.
    actor      TEXT,
    ref        TEXT    UNIQUE,
    at         BIGINT  NOT NULL
);
CREATE INDEX consent_events_address ON consent_events (channel, address, seq);
