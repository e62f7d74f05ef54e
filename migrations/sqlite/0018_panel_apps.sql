-- Panel apps (issue 19): business pages shown as tabs in the console's customer panel. The
-- console hands each a short-lived context token signed with the app's secret.
CREATE TABLE panel_apps (
    id          TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL,
    url         TEXT    NOT NULL,
    -- JSON array of team ids; empty: every team.
    teams       TEXT    NOT NULL,
    -- `psk_…`: needed to sign, so kept as is.
    secret      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
