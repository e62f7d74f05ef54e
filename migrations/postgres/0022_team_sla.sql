-- A team's own SLA policies (docs/REPORTS.md, "SLAs"), as JSON text (read with the team's
-- other columns); empty: the configured policies apply.
ALTER TABLE teams ADD COLUMN sla TEXT NOT NULL DEFAULT '[]';
