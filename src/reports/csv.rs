//! The conversations of a report as CSV (`GET /api/v1/reports/conversations.csv`), pure: one
//! row per conversation with its times, in the report's time zone.

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

#[cfg(test)]
mod tests {
    use super::*;

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
