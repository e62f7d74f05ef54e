-- Reports (docs/REPORTS.md): written by conversation steps in their own transaction, so a report
-- over any range is a merge of rollups and never a scan of history.

-- One row per conversation: its times (the CSV) and what the next step needs to know.
CREATE TABLE conversation_reports (
    conversation_id   TEXT    PRIMARY KEY,
    channel           TEXT    NOT NULL,
    -- Its team and agent now ('' for none).
    team              TEXT    NOT NULL,
    agent             TEXT    NOT NULL,
    status            TEXT    NOT NULL,
    -- bot, agent or abandoned, once resolved.
    outcome           TEXT,
    opened_at         BIGINT NOT NULL,
    first_handoff_at  BIGINT,
    queued_at         BIGINT,
    first_assigned_at BIGINT,
    first_response_at BIGINT,
    resolved_at       BIGINT,
    held_since        BIGINT,
    awaiting_since    BIGINT,
    wait_ms           BIGINT NOT NULL,
    handle_ms         BIGINT NOT NULL,
    replies           BIGINT NOT NULL,
    transfers         BIGINT NOT NULL,
    reopens           BIGINT NOT NULL,
    updated_at        BIGINT NOT NULL
);
CREATE INDEX conversation_reports_opened ON conversation_reports (opened_at, conversation_id);

-- Rollups per UTC hour (unix ms of its start) × team × agent × channel × measure: the count and,
-- for a time, the sum of its durations in ms.
CREATE TABLE report_counts (
    hour    BIGINT NOT NULL,
    team    TEXT    NOT NULL,
    agent   TEXT    NOT NULL,
    channel TEXT    NOT NULL,
    measure TEXT    NOT NULL,
    n       BIGINT NOT NULL,
    sum_ms  BIGINT NOT NULL,
    PRIMARY KEY (hour, team, agent, channel, measure)
);

-- The DDSketch of a time in the same rollup: one row per bin (src/reports/sketch.rs), so sketches
-- merge by adding counts (here with an upsert, in a report with SUM).
CREATE TABLE report_bins (
    hour    BIGINT NOT NULL,
    team    TEXT    NOT NULL,
    agent   TEXT    NOT NULL,
    channel TEXT    NOT NULL,
    measure TEXT    NOT NULL,
    bin     INTEGER NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (hour, team, agent, channel, measure, bin)
);
