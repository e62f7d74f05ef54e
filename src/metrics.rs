//! Every metric Switchboard exports, declared in one place. Names are `switchboard_…`; labels
//! are route templates, channels, event types, outcomes and error codes, never a conversation,
//! an agent or a phone number.

use std::sync::OnceLock;

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Webhook requests, by `channel_kind` and `outcome` (ok, unauthorized, malformed, too_large,
/// overloaded, unavailable).
pub const WEBHOOK_REQUESTS: &str = "switchboard_webhook_requests_total";
/// Webhook bodies refused while they were arriving, by `reason` (idle: stopped arriving,
/// deadline: too slow in all, budget: all unfinished bodies already hold their memory limit).
pub const WEBHOOK_BODY_REFUSED: &str = "switchboard_webhook_bodies_refused_total";
/// Failed authentications, by `kind` (console_token, api_key, verify_token).
pub const AUTH_FAILURES: &str = "switchboard_auth_failures_total";
/// Requests refused with 429 after too many failed authentications, by `scope` (address,
/// credential).
pub const AUTH_THROTTLED: &str = "switchboard_auth_throttled_total";
/// Requests of API keys refused with 429 past the key's rate (`api_keys.requests_per_minute`).
pub const API_KEY_RATE_LIMITED: &str = "switchboard_api_key_rate_limited_total";
/// Inbound events recorded, by `type` (text, image, status_read, other...).
pub const INBOUND_EVENTS: &str = "switchboard_inbound_events_total";
/// Redelivered events recognised and skipped, by `type`.
pub const INBOUND_DUPLICATES: &str = "switchboard_inbound_duplicates_total";
/// Events for a business account no channel is configured for.
pub const INBOUND_UNROUTED: &str = "switchboard_inbound_unrouted_total";
/// Intake lag: from the provider's stamp on a customer's message to its conversation
/// processing it, seconds (second precision; includes the provider's own delay, a backlog
/// replayed after a restart, and clock skew, never below 0).
pub const INTAKE_LAG: &str = "switchboard_intake_lag_seconds";
/// 1 when the durable store answered the last `/metrics` scrape's ping, else 0.
pub const STORE_UP: &str = "switchboard_store_up";
/// Webhook handling latency (receive → acknowledged), seconds.
pub const WEBHOOK_LATENCY: &str = "switchboard_webhook_duration_seconds";
/// Conversation news (for team inboxes and onlookers) dropped: the queue to the other nodes was
/// full or Redis refused it; those lists catch up at their next reload.
pub const LIVE_NEWS_DROPPED: &str = "switchboard_live_news_dropped_total";
/// Live conversation actors.
pub const LIVE_CONVERSATIONS: &str = "switchboard_live_conversations";
/// Customers' events acknowledged to this node's conversations and not yet processed: intake's
/// lag behind processing, in events (what campaigns yield to; read at each scrape).
pub const CONVERSATION_BACKLOG: &str = "switchboard_conversation_backlog";
/// Conversation events processed, by `outcome` (ok, error).
pub const CONVERSATION_EVENTS: &str = "switchboard_conversation_events_total";
/// Bot handoffs to humans, by `team` (or `auto`).
pub const BOT_HANDOFFS: &str = "switchboard_bot_handoffs_total";
/// Bot HTTP action calls, by `outcome` (ok, error, timeout).
pub const BOT_HTTP_ACTIONS: &str = "switchboard_bot_http_actions_total";
/// Outbound send attempts, by `channel`, `outcome` (accepted, retried, failed; skipped: claimed
/// or settled elsewhere, not sent) and `code`.
pub const OUTBOUND_SENDS: &str = "switchboard_outbound_sends_total";
/// Event webhook delivery attempts, by `outcome` (delivered, retried, failed, gone).
pub const EVENT_WEBHOOK_ATTEMPTS: &str = "switchboard_event_webhook_attempts_total";
/// Event webhook endpoints the delivery lane disabled (410, or failing too long).
pub const EVENT_WEBHOOK_DISABLED: &str = "switchboard_event_webhook_endpoints_disabled_total";
/// Inbound media download attempts, by `outcome` (ready, retried, unavailable).
pub const MEDIA_DOWNLOADS: &str = "switchboard_media_downloads_total";
/// Agents' attachments, by `outcome` (sent, refused, upload_failed) and `kind`.
pub const MEDIA_UPLOADS: &str = "switchboard_media_uploads_total";
/// Outbound send latency to the provider, seconds.
pub const OUTBOUND_LATENCY: &str = "switchboard_outbound_send_duration_seconds";
/// Messages shed because a mailbox or queue was full, by `queue` (store, partition, mailbox,
/// outbound).
pub const MAILBOX_SHEDS: &str = "switchboard_mailbox_sheds_total";
/// Store grouped-commit latency, seconds.
pub const STORE_COMMIT_LATENCY: &str = "switchboard_store_commit_duration_seconds";
/// Writes carried per grouped commit.
pub const STORE_COMMIT_BATCH: &str = "switchboard_store_commit_batch_size";
/// Grouped commits applied a second time with a savepoint per write, because one of their
/// writes failed (SQLite).
pub const STORE_ISOLATED_COMMITS: &str = "switchboard_store_isolated_commits_total";
/// Conversations waiting in a team's queue, by `team`.
pub const QUEUE_DEPTH: &str = "switchboard_queue_depth";
/// How long the longest-waiting queued conversation has waited, by `team`, seconds.
pub const QUEUE_OLDEST_WAIT: &str = "switchboard_queue_oldest_wait_seconds";
/// Handoff to assignment (an agent has it), by `team`, seconds.
pub const TIME_TO_ASSIGN: &str = "switchboard_time_to_assign_seconds";
/// Handoff to the first agent reply, by `team`, seconds.
pub const FIRST_RESPONSE: &str = "switchboard_first_response_seconds";
/// Handoff to resolution by an agent, by `team`, seconds.
pub const RESOLUTION: &str = "switchboard_resolution_seconds";
/// SLA breaches announced, by `team` and `clock` (first_response, next_response, resolution).
pub const SLA_BREACHES: &str = "switchboard_sla_breaches_total";
/// Offers by `outcome` (offered, accepted, rejected, expired).
pub const OFFERS: &str = "switchboard_offers_total";
/// Agents by `presence` (online, away, offline).
pub const AGENTS: &str = "switchboard_agents";
/// Open console websocket sessions.
pub const WEBSOCKET_SESSIONS: &str = "switchboard_websocket_sessions";
/// Console events appended to agents' logs.
pub const CONSOLE_EVENTS: &str = "switchboard_console_events_total";
/// Routing decisions by `team` and `by` (choice, location, rule, default).
pub const ROUTING_DECISIONS: &str = "switchboard_routing_decisions_total";
/// Routing lookups into business systems, by `lookup` (configured name) and `outcome` (ok,
/// error, timeout, cached).
pub const ROUTING_LOOKUPS: &str = "switchboard_routing_lookups_total";

/// Cluster mode: partitions this node owns (serves) now.
pub const CLUSTER_PARTITIONS: &str = "switchboard_cluster_partitions_owned";
/// Cluster mode: failed Redis operations, by `op` (lease, read, publish, ack, command, ...).
pub const CLUSTER_REDIS_ERRORS: &str = "switchboard_cluster_redis_errors_total";
/// Cluster mode: partition stream entries handled by this node, by `kind` (event, command).
pub const CLUSTER_ENTRIES: &str = "switchboard_cluster_stream_entries_total";
/// Cluster mode: commands sent to the node owning a conversation, by `outcome` (ok, refused,
/// timeout, expired).
pub const CLUSTER_COMMANDS: &str = "switchboard_cluster_remote_commands_total";
/// Web Push notifications, by `kind` (offer, assignment, message) and `outcome` (sent; gone: the
/// push service said the subscription is no more, and it was removed; failed; dropped: the
/// push queue was full; unwanted: the user's settings turned this kind off).
pub const PUSH_NOTIFICATIONS: &str = "switchboard_push_notifications_total";

/// Intake lag in seconds: `now_ms` (Unix ms) minus the provider's stamp (Unix seconds), never
/// below 0 (a provider clock ahead of ours), saturating on absurd stamps.
pub fn lag_seconds(now_ms: i64, stamped_unix_s: i64) -> f64 {
    let lag_ms = now_ms.saturating_sub(stamped_unix_s.saturating_mul(1000));
    lag_ms.max(0) as f64 / 1000.0
}

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Install the Prometheus recorder once per process and describe every metric.
/// Later calls (several apps in one test process) return the same handle.
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let buckets = [
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0, 2.5, 5.0, 10.0,
            ];
            // People's times (a handoff to an agent, to their first reply) run from
            // milliseconds (an agent free at once) to a day (a queue overnight).
            let human = [
                0.005, 0.025, 0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
                3600.0, 7200.0, 14400.0, 28800.0, 86400.0,
            ];
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &buckets)
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(TIME_TO_ASSIGN.into()), &human)
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(FIRST_RESPONSE.into()), &human)
                })
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full(RESOLUTION.into()), &human))
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(INTAKE_LAG.into()),
                        &[
                            0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0,
                            3600.0, 14400.0, 86400.0,
                        ],
                    )
                })
                .and_then(|b| {
                    b.set_buckets_for_metric(
                        Matcher::Full(STORE_COMMIT_BATCH.into()),
                        &[
                            1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0,
                        ],
                    )
                })
                .map(|b| b.build_recorder());
            let handle = match recorder {
                Ok(recorder) => {
                    let handle = recorder.handle();
                    // Another recorder may already be installed (a test harness); then ours only
                    // renders what is recorded through it, which is nothing: acceptable in tests.
                    let _ = metrics::set_global_recorder(recorder);
                    handle
                }
                Err(_) => PrometheusBuilder::new().build_recorder().handle(),
            };
            describe();
            handle
        })
        .clone()
}

fn describe() {
    describe_counter!(
        WEBHOOK_REQUESTS,
        "Webhook requests by channel kind and outcome"
    );
    describe_counter!(INBOUND_EVENTS, "Inbound events recorded, by type");
    describe_counter!(
        WEBHOOK_BODY_REFUSED,
        "Webhook bodies refused while arriving, by reason (idle, deadline, budget)"
    );
    describe_counter!(AUTH_FAILURES, "Failed authentications, by kind");
    describe_counter!(
        API_KEY_RATE_LIMITED,
        "API key requests refused past the key's request rate"
    );
    describe_counter!(
        LIVE_NEWS_DROPPED,
        "Conversation news for team inboxes and onlookers dropped (queue full, Redis refused)"
    );
    describe_counter!(
        AUTH_THROTTLED,
        "Requests refused after too many failed authentications, by scope"
    );
    describe_counter!(
        INBOUND_DUPLICATES,
        "Redelivered inbound events skipped, by type"
    );
    describe_counter!(
        INBOUND_UNROUTED,
        "Inbound events for an unconfigured business account"
    );
    describe_histogram!(
        WEBHOOK_LATENCY,
        Unit::Seconds,
        "Webhook receive-to-acknowledge time"
    );
    describe_gauge!(LIVE_CONVERSATIONS, "Live conversation actors");
    describe_gauge!(
        CONVERSATION_BACKLOG,
        "Customers' events handed to this node's conversations and not yet processed"
    );
    describe_histogram!(
        INTAKE_LAG,
        Unit::Seconds,
        "Provider's stamp on a customer's message to its conversation processing it"
    );
    describe_gauge!(STORE_UP, "1 when the store answered the scrape's ping");
    describe_counter!(
        CONVERSATION_EVENTS,
        "Conversation events processed, by outcome"
    );
    describe_counter!(BOT_HANDOFFS, "Bot handoffs to a human, by team");
    describe_counter!(BOT_HTTP_ACTIONS, "Bot HTTP action calls, by outcome");
    describe_counter!(
        OUTBOUND_SENDS,
        "Outbound send attempts by channel, outcome and error code"
    );
    describe_counter!(
        MEDIA_DOWNLOADS,
        "Inbound media download attempts, by outcome"
    );
    describe_counter!(
        EVENT_WEBHOOK_ATTEMPTS,
        "Event webhook delivery attempts, by outcome"
    );
    describe_counter!(
        EVENT_WEBHOOK_DISABLED,
        "Event webhook endpoints disabled by the delivery lane"
    );
    describe_counter!(MEDIA_UPLOADS, "Agents' attachments, by outcome and kind");
    describe_histogram!(
        OUTBOUND_LATENCY,
        Unit::Seconds,
        "Provider send request time"
    );
    describe_counter!(
        MAILBOX_SHEDS,
        "Work shed because a bounded queue was full, by queue"
    );
    describe_histogram!(STORE_COMMIT_LATENCY, Unit::Seconds, "Grouped commit time");
    describe_histogram!(STORE_COMMIT_BATCH, "Writes per grouped commit");
    describe_counter!(
        STORE_ISOLATED_COMMITS,
        "Grouped commits applied again with a savepoint per write after one write failed"
    );
    describe_gauge!(QUEUE_DEPTH, "Conversations waiting in a team's queue");
    describe_gauge!(
        QUEUE_OLDEST_WAIT,
        Unit::Seconds,
        "Wait of the longest-waiting queued conversation, by team"
    );
    describe_histogram!(
        TIME_TO_ASSIGN,
        Unit::Seconds,
        "Handoff to assignment time, by team"
    );
    describe_histogram!(
        FIRST_RESPONSE,
        Unit::Seconds,
        "Handoff to first agent reply, by team"
    );
    describe_histogram!(
        RESOLUTION,
        Unit::Seconds,
        "Handoff to resolution by an agent, by team"
    );
    describe_counter!(
        SLA_BREACHES,
        "SLA breaches (a running clock past its target), by team and clock"
    );
    describe_counter!(OFFERS, "Offers to agents, by outcome");
    describe_gauge!(AGENTS, "Agents by presence");
    describe_gauge!(WEBSOCKET_SESSIONS, "Open console websocket sessions");
    describe_counter!(CONSOLE_EVENTS, "Console events appended to agents' logs");
    describe_gauge!(CLUSTER_PARTITIONS, "Partitions this node owns");
    describe_counter!(CLUSTER_REDIS_ERRORS, "Failed Redis operations, by purpose");
    describe_counter!(
        CLUSTER_ENTRIES,
        "Partition stream entries handled by this node, by kind"
    );
    describe_counter!(
        CLUSTER_COMMANDS,
        "Commands sent to the node owning a conversation, by outcome"
    );
    describe_counter!(
        PUSH_NOTIFICATIONS,
        "Web Push notifications, by kind and outcome"
    );
    describe_counter!(
        ROUTING_DECISIONS,
        "Routing decisions by team and deciding step"
    );
}

#[cfg(test)]
mod tests {
    use super::lag_seconds;

    #[test]
    fn intake_lag_is_the_time_since_the_providers_stamp_never_negative() {
        assert_eq!(lag_seconds(10_500, 10), 0.5);
        assert_eq!(lag_seconds(10_000, 10), 0.0);
        assert_eq!(lag_seconds(70_000, 10), 60.0);
        // The provider's clock ahead of ours.
        assert_eq!(lag_seconds(9_000, 10), 0.0);
        // Absurd stamps neither overflow nor go negative.
        assert_eq!(lag_seconds(1_000, i64::MAX), 0.0);
        assert!(lag_seconds(1_000, i64::MIN) > 0.0);
        assert_eq!(lag_seconds(i64::MIN, 0), 0.0);
    }
}
