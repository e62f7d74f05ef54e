-- A contact's identities: each channel (a WhatsApp number of the business, later Messenger,
-- Instagram, the web chat) it reached us on and its address there, from its first
-- conversation on that channel.
CREATE TABLE contact_identities (
    channel    TEXT    NOT NULL,
    address    TEXT    NOT NULL,
    customer   TEXT    NOT NULL,
    first_seen BIGINT  NOT NULL,
    PRIMARY KEY (channel, address)
);
CREATE INDEX contact_identities_customer ON contact_identities (customer);
INSERT INTO contact_identities (channel, address, customer, first_seen)
SELECT channel, customer, customer, MIN(created_at) FROM conversations GROUP BY channel, customer;
