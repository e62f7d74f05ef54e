-- The business portfolio's reach (docs/CAMPAIGNS.md, "The messaging limit"): each customer sent a
-- template outside their service window, with the last time. Meta's messaging limit counts the
-- unique customers of the last 24 hours; a send that would pass it is refused before it leaves.
-- Rows older than 24 hours are removed as sends go on.
CREATE TABLE messaging_reach (
    address    TEXT    PRIMARY KEY,
    reached_at BIGINT NOT NULL
);
CREATE INDEX messaging_reach_at ON messaging_reach (reached_at);
