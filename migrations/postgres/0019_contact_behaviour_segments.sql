-- What a contact did, for routing rules and segments (`contact.last_inbound_at`,
-- `contact.conversations`, `contact.new`; `contact.first_seen` is `created_at`): kept up to date
-- by the conversation steps that cause it.
ALTER TABLE contacts ADD COLUMN last_inbound_at BIGINT;
ALTER TABLE contacts ADD COLUMN conversations BIGINT NOT NULL DEFAULT 0;
UPDATE contacts SET
    conversations = (
        SELECT count(*) FROM conversations c
         WHERE c.customer = contacts.customer
            OR c.customer IN (SELECT address FROM contact_identities i
                               WHERE i.customer = contacts.customer)
    ),
    last_inbound_at = (
        SELECT max(c.last_inbound_at) FROM conversations c
         WHERE c.customer = contacts.customer
            OR c.customer IN (SELECT address FROM contact_identities i
                               WHERE i.customer = contacts.customer)
    );

-- Segments: named, saved CEL filters over the contact variables (docs/CRM.md).
CREATE TABLE segments (
    id         TEXT    PRIMARY KEY,
    name       TEXT    NOT NULL UNIQUE,
    filter     TEXT    NOT NULL,
    created_by TEXT,
    created_at BIGINT  NOT NULL,
    updated_at BIGINT  NOT NULL
);
