-- Coarser rollups (src/reports/levels.rs): per level (team_hour, team_day, team_month,
-- agent_day, agent_month, channel_day, channel_month) × UTC period × team × agent ('' but in
-- agent levels) × channel ('' but in channel levels) × measure, the count,
-- the sum of ms and, for a time, the whole sketch in `bins` (little-endian (i32 bin, i64 count)
-- pairs). Written by the same step transactions as the hourly rollups.
CREATE TABLE report_levels (
    level   TEXT    NOT NULL,
    period  INTEGER NOT NULL,
    team    TEXT    NOT NULL,
    agent   TEXT    NOT NULL,
    channel TEXT    NOT NULL,
    measure TEXT    NOT NULL,
    n       INTEGER NOT NULL,
    sum_ms  INTEGER NOT NULL,
    bins    BLOB,
    PRIMARY KEY (level, period, team, agent, channel, measure)
);

-- Hourly rollups written before this table existed are folded into it once, when the store
-- opens (src/store/levels.rs); this row asks for it and goes when it is done.
CREATE TABLE report_levels_backfill (pending INTEGER NOT NULL);
INSERT INTO report_levels_backfill SELECT 1 WHERE EXISTS (SELECT 1 FROM report_counts);
