-- WhatsApp's business-scoped user ids (BSUIDs): once a message names a customer by both their
-- number and their BSUID, the BSUID keeps naming the same customer (the same conversation) when
-- later messages and statuses carry the BSUID alone.
CREATE TABLE customer_aliases (
    channel    TEXT    NOT NULL,
    alias      TEXT    NOT NULL,
    customer   TEXT    NOT NULL,
    created_at BIGINT  NOT NULL,
    PRIMARY KEY (channel, alias)
);
CREATE INDEX customer_aliases_customer ON customer_aliases (customer);
