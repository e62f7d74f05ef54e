-- Reports' samplers (docs/REPORTS.md, "Presence"): the instant of the last sample each one
-- recorded. A sample is written with its rollups in one transaction only if its instant is after
-- this one, so a retried or duplicate sample is never counted twice.
CREATE TABLE report_samples (
    sampler TEXT   PRIMARY KEY,
    at      BIGINT NOT NULL
);
