//! The checks at the end of a run, against the gateway's store (read-only) and what the agents
//! saw: every acknowledged message is recorded exactly once (`inbound_events`, unique
//! `dedupe_key` = `m:{wamid}`), processed, and in the transcript (`messages`) exactly once;
//! every handed-off conversation was assigned exactly once (`conversation_events` of kind
//! `assigned`), to the agent whose websocket announced it, and announced exactly once.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::Serialize;
// The SQL below is formatted only with this run's LIKE patterns, made of a numeric nonce, and
// is written to run unchanged on both stores (SQLite's 0/1 and PostgreSQL's booleans alike).
use sqlx::AnyPool;
use sqlx::{AssertSqlSafe, Row};

use crate::agents::AgentStats;
use crate::customers::{FireStats, RunIds};

/// A connection to the gateway's store, SQLite (opened read-only) or PostgreSQL (only read).
pub async fn open(database_url: &str) -> Result<AnyPool> {
    let url = if database_url.starts_with("sqlite:") {
        if database_url.contains("mode=") {
            database_url.to_string()
        } else if database_url.contains('?') {
            format!("{database_url}&mode=ro")
        } else {
            format!("{database_url}?mode=ro")
        }
    } else if database_url.starts_with("postgres:") || database_url.starts_with("postgresql:") {
        database_url.to_string()
    } else {
        bail!(
            "--database-url {database_url}: expected sqlite://path/to/switchboard.db or \
             postgres://user@host:port/db"
        );
    };
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .with_context(|| format!("opening {url}"))
}

/// Unprocessed recorded events of this run.
pub async fn unprocessed(db: &AnyPool, ids: &RunIds) -> Result<i64> {
    let sql = format!(
        "SELECT COUNT(*) FROM inbound_events WHERE dedupe_key LIKE 'm:{}' AND NOT processed",
        ids.wamid_like()
    );
    Ok(sqlx::query_scalar(AssertSqlSafe(sql)).fetch_one(db).await?)
}

/// Outbound messages still waiting for the provider.
pub async fn queued_outbound(db: &AnyPool) -> Result<i64> {
    Ok(
        sqlx::query_scalar("SELECT COUNT(*) FROM messages WHERE status = 'queued'")
            .fetch_one(db)
            .await?,
    )
}

/// Wait until every recorded event of this run is processed; false on timeout.
pub async fn wait_processed(db: &AnyPool, ids: &RunIds, timeout: Duration) -> Result<bool> {
    let deadline = Instant::now() + timeout;
    loop {
        if unprocessed(db, ids).await? == 0 {
            return Ok(true);
        }
        if Instant::now() >= deadline {
            return Ok(false);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct CheckReport {
    pub acknowledged: usize,
    pub recorded: usize,
    pub recorded_not_acknowledged: usize,
    pub acknowledged_not_recorded: usize,
    pub unprocessed: usize,
    pub acknowledged_not_in_transcript: usize,
    pub in_transcript_more_than_once: usize,
    pub handoffs_acknowledged: usize,
    pub handed_off_conversations: usize,
    pub customers_without_handoff: usize,
    pub assigned_exactly_once: usize,
    pub not_assigned: usize,
    pub assigned_more_than_once: usize,
    pub announced_exactly_once: usize,
    pub announced_not_once: usize,
    pub announced_to_another_agent: usize,
    /// Handed-off conversations that waited in a queue (a `queued` event).
    pub queued_conversations: usize,
    /// Everything above that breaks an invariant, in words; empty when the run is clean.
    pub violations: Vec<String>,
}

/// At most this many examples per violation in the report.
const EXAMPLES: usize = 5;

fn examples<T: std::fmt::Debug>(items: &[T]) -> String {
    let shown: Vec<String> = items
        .iter()
        .take(EXAMPLES)
        .map(|i| format!("{i:?}"))
        .collect();
    shown.join(", ")
}

/// Run every check. `queued` gets the ids of handed-off conversations that were queued.
pub async fn check(
    db: &AnyPool,
    ids: &RunIds,
    fire: &FireStats,
    agents: Option<&AgentStats>,
    queued: &mut HashSet<String>,
) -> Result<CheckReport> {
    let mut r = CheckReport::default();

    // 1. Every acknowledged message: recorded once, processed, in the transcript once.
    let acked: HashSet<String> = fire
        .acked_ids
        .lock()
        .map(|a| {
            a.iter()
                .map(|&(c, k)| ids.wamid(c as usize, k as usize))
                .collect()
        })
        .unwrap_or_default();
    r.acknowledged = acked.len();
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT dedupe_key, CAST(CASE WHEN processed THEN 1 ELSE 0 END AS BIGINT) AS processed
         FROM inbound_events WHERE dedupe_key LIKE 'm:{}'",
        ids.wamid_like()
    )))
    .fetch_all(db)
    .await
    .context("reading inbound_events")?;
    let mut recorded = HashSet::new();
    let mut unprocessed = Vec::new();
    for row in rows {
        let key: String = row.try_get("dedupe_key")?;
        let processed: i64 = row.try_get("processed")?;
        let wamid = key.trim_start_matches("m:").to_string();
        if processed == 0 {
            unprocessed.push(wamid.clone());
        }
        recorded.insert(wamid);
    }
    r.recorded = recorded.len();
    let missing: Vec<&String> = acked.iter().filter(|w| !recorded.contains(*w)).collect();
    r.acknowledged_not_recorded = missing.len();
    r.recorded_not_acknowledged = recorded.iter().filter(|w| !acked.contains(*w)).count();
    r.unprocessed = unprocessed.len();
    if !missing.is_empty() {
        r.violations.push(format!(
            "{} acknowledged messages are not in inbound_events, e.g. {}",
            missing.len(),
            examples(&missing)
        ));
    }
    if !unprocessed.is_empty() {
        r.violations.push(format!(
            "{} recorded messages were never processed, e.g. {}",
            unprocessed.len(),
            examples(&unprocessed)
        ));
    }
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT provider_id, COUNT(*) AS n FROM messages
         WHERE direction = 'inbound' AND provider_id LIKE '{}' GROUP BY provider_id",
        ids.wamid_like()
    )))
    .fetch_all(db)
    .await
    .context("reading messages")?;
    let mut transcript: HashMap<String, i64> = HashMap::new();
    for row in rows {
        transcript.insert(row.try_get("provider_id")?, row.try_get("n")?);
    }
    let not_in: Vec<&String> = acked
        .iter()
        .filter(|w| !transcript.contains_key(*w))
        .collect();
    let twice: Vec<(&String, &i64)> = transcript.iter().filter(|(_, n)| **n > 1).collect();
    r.acknowledged_not_in_transcript = not_in.len();
    r.in_transcript_more_than_once = twice.len();
    if !not_in.is_empty() {
        r.violations.push(format!(
            "{} acknowledged messages are not in the transcript (messages), e.g. {}",
            not_in.len(),
            examples(&not_in)
        ));
    }
    if !twice.is_empty() {
        r.violations.push(format!(
            "{} messages are in the transcript more than once, e.g. {}",
            twice.len(),
            examples(&twice)
        ));
    }

    // 2. Every handed-off conversation: assigned exactly once, announced exactly once, to the
    //    agent the store names.
    let Some(agents) = agents else {
        return Ok(r);
    };
    let handoff_customers: HashSet<String> = fire
        .handoffs
        .lock()
        .map(|h| {
            h.iter()
                .filter(|(_, s)| s.acked)
                .map(|(c, _)| c.clone())
                .collect()
        })
        .unwrap_or_default();
    r.handoffs_acknowledged = handoff_customers.len();
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT c.id, c.customer,
                (SELECT COUNT(*) FROM conversation_events e
                  WHERE e.conversation_id = c.id AND e.kind = 'assigned') AS assigned,
                (SELECT COUNT(*) FROM conversation_events e
                  WHERE e.conversation_id = c.id AND e.kind = 'queued') AS queued,
                (SELECT MIN(e.agent) FROM conversation_events e
                  WHERE e.conversation_id = c.id AND e.kind = 'assigned') AS agent
         FROM conversations c
         WHERE c.customer LIKE '{}' AND c.handoff_at IS NOT NULL",
        ids.customer_like()
    )))
    .fetch_all(db)
    .await
    .context("reading conversations and conversation_events")?;
    let seen = agents
        .assigned
        .lock()
        .map(|a| a.clone())
        .unwrap_or_default();
    let mut customers_handed_off = HashSet::new();
    let (mut unassigned, mut reassigned, mut not_once, mut elsewhere) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for row in &rows {
        let id: String = row.try_get("id")?;
        let customer: String = row.try_get("customer")?;
        let assigned: i64 = row.try_get("assigned")?;
        let was_queued: i64 = row.try_get("queued")?;
        let agent: Option<String> = row.try_get("agent")?;
        customers_handed_off.insert(customer);
        if was_queued > 0 {
            queued.insert(id.clone());
        }
        match assigned {
            0 => unassigned.push(id.clone()),
            1 => r.assigned_exactly_once += 1,
            _ => reassigned.push((id.clone(), assigned)),
        }
        let announced = seen.get(&id).map(Vec::as_slice).unwrap_or_default();
        if announced.len() == 1 {
            r.announced_exactly_once += 1;
            if agent.as_deref() != Some(announced[0].agent.as_str()) {
                elsewhere.push((id.clone(), agent.clone(), announced[0].agent.clone()));
            }
        } else {
            not_once.push((id.clone(), announced.len()));
        }
    }
    r.handed_off_conversations = rows.len();
    r.queued_conversations = queued.len();
    let without: Vec<&String> = handoff_customers
        .iter()
        .filter(|c| !customers_handed_off.contains(*c))
        .collect();
    r.customers_without_handoff = without.len();
    r.not_assigned = unassigned.len();
    r.assigned_more_than_once = reassigned.len();
    r.announced_not_once = not_once.len();
    r.announced_to_another_agent = elsewhere.len();
    if !without.is_empty() {
        r.violations.push(format!(
            "{} customers' acknowledged handoff messages left no handed-off conversation, e.g. {}",
            without.len(),
            examples(&without)
        ));
    }
    if !unassigned.is_empty() {
        r.violations.push(format!(
            "{} handed-off conversations were never assigned, e.g. {}",
            unassigned.len(),
            examples(&unassigned)
        ));
    }
    if !reassigned.is_empty() {
        r.violations.push(format!(
            "{} conversations were assigned more than once, e.g. {}",
            reassigned.len(),
            examples(&reassigned)
        ));
    }
    if !not_once.is_empty() {
        r.violations.push(format!(
            "{} handed-off conversations were not announced exactly once on the agents' \
             websockets (conversation, times), e.g. {}",
            not_once.len(),
            examples(&not_once)
        ));
    }
    if !elsewhere.is_empty() {
        r.violations.push(format!(
            "{} conversations were announced to another agent than the store names \
             (conversation, store, websocket), e.g. {}",
            elsewhere.len(),
            examples(&elsewhere)
        ));
    }
    Ok(r)
}
