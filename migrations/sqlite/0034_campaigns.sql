-- Campaigns (docs/CAMPAIGNS.md, "Campaigns"): a template broadcast to a segment. The campaign
-- row keeps what was asked (JSON texts: the parameters' mapping, the audience, the schedule, the
-- frequency cap), its state and why, the estimate made when it started, and the lease of the
-- node sending it (one node at a time; another takes over when the lease lapses).
CREATE TABLE campaigns (
    id            TEXT    PRIMARY KEY,
    name          TEXT    NOT NULL,
    channel       TEXT    NOT NULL,
    template      TEXT    NOT NULL,
    language      TEXT    NOT NULL,
    spec          TEXT    NOT NULL,
    -- draft | scheduled | running | paused | completed | cancelled
    state         TEXT    NOT NULL,
    reason        TEXT,
    -- The template's category when the campaign started (the frequency cap counts marketing).
    category      TEXT,
    estimate      TEXT,
    -- The audience is written in pages, from this contact on (NULL: done).
    audience_after TEXT,
    audience_done INTEGER NOT NULL DEFAULT 0,
    start_at      INTEGER,
    started_at    INTEGER,
    finished_at   INTEGER,
    lease_until   INTEGER NOT NULL DEFAULT 0,
    created_by    TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX campaigns_state ON campaigns (state);

-- One row per contact of a started campaign's audience: excluded (with the reason) or to be sent.
-- A recipient is claimed with its message id before the send; the message of that id (or its
-- absence) tells a node taking over whether it went. Delivery, reads, failures and cost are read
-- from that message; replies from its conversation.
CREATE TABLE campaign_recipients (
    campaign    TEXT    NOT NULL,
    contact     TEXT    NOT NULL,
    address     TEXT,
    country     TEXT,
    -- pending | claimed | sent | excluded | refused
    state       TEXT    NOT NULL,
    reason      TEXT,
    message_id  TEXT,
    -- The template's components filled for this contact (Meta's JSON), when it is to be sent.
    components  TEXT,
    -- The contact's own time zone (its `timezone` field), for a schedule's window.
    zone        TEXT,
    not_before  INTEGER NOT NULL DEFAULT 0,
    sent_at     INTEGER,
    PRIMARY KEY (campaign, contact)
);
CREATE INDEX campaign_recipients_due ON campaign_recipients (campaign, state, not_before);
CREATE INDEX campaign_recipients_message ON campaign_recipients (message_id);
CREATE INDEX campaign_recipients_address ON campaign_recipients (address, sent_at);

-- What Meta's status said the message costs: the pricing category and type (`regular` is
-- charged; `free_customer_service`, `free_entry_point` are not).
ALTER TABLE messages ADD COLUMN pricing_category TEXT;
ALTER TABLE messages ADD COLUMN pricing_type TEXT;
