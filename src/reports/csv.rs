//! Reports as CSV, pure: the conversations (`GET /api/v1/reports/conversations.csv`, one row
//! per conversation with its times, in the report's time zone) and a summary's table
//! (`GET /api/v1/reports/summary.csv`, one row for the total and one per group).

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::measures::ConversationReport;
use crate::crm::export::cell;

/// The columns, in order. Durations in seconds; empty where the conversation has none yet.
pub const HEADER: [&str; 18] = [
    "conversation_id",
    "channel",
    "team",
    "agent",
    "status",
    "outcome",
    "opened_at",
    "handed_off_at",
    "first_assigned_at",
    "first_response_at",
    "resolved_at",
    "wait_in_queue_s",
    "first_response_s",
    "resolution_s",
    "handle_time_s",
    "replies",
    "transfers",
    "reopens",
];

fn time(ms: Option<i64>, tz: Tz) -> String {
    ms.and_then(DateTime::<Utc>::from_timestamp_millis)
        .map(|t| {
            t.with_timezone(&tz)
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
        })
        .unwrap_or_default()
}

fn secs(ms: Option<i64>) -> String {
    ms.map(|ms| format!("{:.3}", ms as f64 / 1000.0))
        .unwrap_or_default()
}

/// One conversation's row.
pub fn row(r: &ConversationReport, tz: Tz) -> [String; 18] {
    let between = |a: Option<i64>, b: Option<i64>| a.zip(b).map(|(a, b)| (b - a).max(0));
    let agent_resolved = r.outcome == Some(super::measures::Outcome::Agent);
    [
        cell(&r.conversation_id),
        cell(&r.channel),
        cell(&r.team),
        cell(&r.agent),
        cell(&r.status),
        r.outcome.map(|o| o.as_str()).unwrap_or_default().into(),
        time(Some(r.opened_at), tz),
        time(r.first_handoff_at, tz),
        time(r.first_assigned_at, tz),
        time(r.first_response_at, tz),
        time(r.resolved_at, tz),
        secs(r.first_assigned_at.map(|_| r.wait_ms)),
        secs(between(r.first_handoff_at, r.first_response_at)),
        secs(between(Some(r.opened_at), r.resolved_at).filter(|_| agent_resolved)),
        secs(r.first_assigned_at.map(|_| r.handle_ms)),
        r.replies.to_string(),
        r.transfers.to_string(),
        r.reopens.to_string(),
    ]
}

/// `rows` written as CSV (RFC 4180, CRLF line ends), after the header when `header`.
pub fn write(header: bool, rows: &[[String; 18]]) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    if header {
        out.write_record(HEADER)?;
    }
    for r in rows {
        out.write_record(r)?;
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

/// A summary (the JSON of [`super::summary::summarize`]) as a table: a `group` column (`total`,
/// then each group's key), then every figure of a block, named by its path in the JSON
/// (`counts.opened`, `times.first_response.p90_s`, `sla.resolution.share_met`,
/// `presence.occupancy`, ...), in the JSON's key order. Null figures are empty cells.
pub fn summary_table(summary: &serde_json::Value) -> Result<Vec<u8>, csv::Error> {
    fn flatten(prefix: &str, value: &serde_json::Value, out: &mut Vec<(String, String)>) {
        match value {
            serde_json::Value::Object(map) => {
                for (k, v) in map {
                    if prefix.is_empty() && k == "key" {
                        continue;
                    }
                    let path = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    flatten(&path, v, out);
                }
            }
            serde_json::Value::Null => out.push((prefix.to_string(), String::new())),
            serde_json::Value::String(s) => out.push((prefix.to_string(), cell(s))),
            other => out.push((prefix.to_string(), other.to_string())),
        }
    }
    let row = |block: &serde_json::Value| {
        let mut cells = Vec::new();
        flatten("", block, &mut cells);
        cells
    };
    let total = row(&summary["total"]);
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    out.write_record(std::iter::once("group").chain(total.iter().map(|(k, _)| k.as_str())))?;
    out.write_record(std::iter::once("total").chain(total.iter().map(|(_, v)| v.as_str())))?;
    for group in summary["groups"].as_array().into_iter().flatten() {
        let cells = row(group);
        let key = cell(group["key"].as_str().unwrap_or_default());
        // Every block has the total's shape; a figure missing from one is an empty cell.
        let value = |name: &str| {
            cells
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.as_str())
                .unwrap_or_default()
        };
        out.write_record(std::iter::once(key.as_str()).chain(total.iter().map(|(k, _)| value(k))))?;
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_table_has_a_row_per_block_and_a_column_per_figure() {
        let summary = serde_json::json!({
            "total": {"counts": {"opened": 3, "handed_off": 2},
                      "times": {"first_response": {"count": 2, "p50_s": 1.5}},
                      "presence": {"occupancy": null}},
            "groups": [
                {"key": "=sales", "counts": {"opened": 1, "handed_off": 1},
                 "times": {"first_response": {"count": 1, "p50_s": 1.0}},
                 "presence": {"occupancy": 0.5}},
                {"key": "support", "counts": {"opened": 2},
                 "times": {"first_response": {"count": 1, "p50_s": 2.0}},
                 "presence": {"occupancy": null}}
            ]
        });
        let text =
            String::from_utf8(summary_table(&summary).unwrap_or_default()).unwrap_or_default();
        assert_eq!(
            text,
            "group,counts.handed_off,counts.opened,presence.occupancy,times.first_response.count,times.first_response.p50_s\r\n\
             total,2,3,,2,1.5\r\n\
             '=sales,1,1,0.5,1,1.0\r\n\
             support,,2,,1,2.0\r\n"
        );
    }

    #[test]
    fn a_row_has_its_times_in_the_zone_and_formulas_defused() {
        let r = ConversationReport {
            conversation_id: "c1".into(),
            channel: "=cmd".into(),
            team: "sales".into(),
            agent: "alice".into(),
            status: "resolved".into(),
            opened_at: 0,
            first_handoff_at: Some(60_000),
            first_assigned_at: Some(120_000),
            first_response_at: Some(180_000),
            resolved_at: Some(600_000),
            outcome: Some(super::super::measures::Outcome::Agent),
            wait_ms: 60_000,
            handle_ms: 480_000,
            replies: 2,
            ..ConversationReport::default()
        };
        let tz: Tz = "Asia/Tokyo".parse().unwrap_or(Tz::UTC);
        let row = row(&r, tz);
        assert_eq!(row[1], "'=cmd");
        assert_eq!(row[6], "1970-01-01T09:00:00+09:00");
        assert_eq!(row[11], "60.000");
        assert_eq!(row[12], "120.000");
        assert_eq!(row[13], "600.000");
        assert_eq!(row[14], "480.000");
        let bytes = write(true, &[row]).unwrap_or_default();
        let text = String::from_utf8(bytes).unwrap_or_default();
        assert!(text.starts_with("conversation_id,channel,"));
        assert!(text.ends_with("2,0,0\r\n"));
    }
}
