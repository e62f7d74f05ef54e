-- A team's own SLA policies (docs/REPORTS.md, "SLAs"), as a JSON array; empty: the
-- configured policies apply.
ALTER TABLE teams ADD COLUMN sla TEXT NOT NULL DEFAULT '[]';
