//! Operations: the Grafana dashboard and the Prometheus alerts use only metrics the gateway
//! really exports (embedded and cluster mode, after a little traffic), and the JSON logs carry
//! the request id (echoed in `X-Request-Id`) and the conversation.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::console::*;
use common::process::{Node, ProcessConfig};
use common::*;
use serde_json::{Value, json};
use switchboard::fakes::graph::FakeGraph;

/// Series Prometheus records itself (not the gateway's to export).
const PROMETHEUS_OWN: &[&str] = &["up"];

fn deploy_file(path: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every string under a key named `key`, anywhere in `value`.
fn strings_under(value: &Value, key: &str, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::String(s) if k == key => out.push(s.clone()),
                    _ => strings_under(v, key, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| strings_under(v, key, out)),
        _ => {}
    }
}

/// The PromQL of the dashboard: its panels' queries and its variables' queries.
fn dashboard_queries() -> Vec<String> {
    let dashboard: Value =
        serde_json::from_str(&deploy_file("grafana/switchboard.json")).expect("dashboard JSON");
    let mut queries = Vec::new();
    strings_under(&dashboard, "expr", &mut queries);
    strings_under(&dashboard, "definition", &mut queries);
    assert!(queries.len() > 20, "the dashboard's queries: {queries:#?}");
    queries
}

/// The PromQL of the alerting rules (the YAML read with the `config` crate's parser).
fn rule_queries() -> Vec<String> {
    let rules: Value = config::Config::builder()
        .add_source(config::File::from_str(
            &deploy_file("prometheus/alerts.yml"),
            config::FileFormat::Yaml,
        ))
        .build()
        .and_then(|c| c.try_deserialize())
        .expect("alerts.yml parses");
    let mut queries = Vec::new();
    strings_under(&rules, "expr", &mut queries);
    assert!(queries.len() >= 8, "the rules' expressions: {queries:#?}");
    queries
}

/// Metric names in PromQL: every `switchboard_…` identifier, and any other identifier right
/// before a selector's `{` or a range's `[`.
fn metric_names(queries: &[String]) -> BTreeSet<String> {
    let ours = regex::Regex::new(r"\bswitchboard_[a-z0-9_]+\b").expect("regex");
    let selected = regex::Regex::new(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*[\{\[]").expect("regex");
    let mut names = BTreeSet::new();
    for query in queries {
        names.extend(ours.find_iter(query).map(|m| m.as_str().to_string()));
        names.extend(selected.captures_iter(query).map(|c| c[1].to_string()));
    }
    names
}

/// The series names of a Prometheus text exposition.
fn exported(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

/// Traffic that makes the dashboard's series exist: a bot conversation (webhooks, intake,
/// replies sent, commits), a handoff in support taken and answered by Alice (queues, time to
/// assign, first response, a console session), and an offer in sales accepted by Carla.
async fn drive_traffic(app: &TestApp) {
    let alice = Console::new(app, ALICE);
    let mut alice_ws = ConsoleSocket::connect(app, ALICE, None).await;
    alice.set_presence("online").await;
    let customer = Customer::new(app, "15551900001");
    let id = customer.hands_off_to("support").await;
    alice_ws.wait_for_conversation(ASSIGNED, &id, WAIT).await;
    expect_status(201, alice.reply(&id, "Hello from Alice").await);
    customer.wait_for_text("Hello from Alice").await;
    alice
        .wait_conversation(&id, "the first response recorded", WAIT, |d| {
            d["conversation"]["first_response_at"].is_i64()
        })
        .await;
    expect_status(200, alice.resolve(&id).await);
    let carla = Console::new(app, CARLA);
    let mut carla_ws = ConsoleSocket::connect(app, CARLA, None).await;
    carla.set_presence("online").await;
    let sale = hand_off(app, "15551900002", "sales").await;
    carla_ws.wait_for_conversation(OFFERED, &sale, WAIT).await;
    expect_status(200, carla.accept(&sale).await);
    carla_ws.wait_for_conversation(ASSIGNED, &sale, WAIT).await;
    // Carla does not answer within sales' first-response target (a second, see
    // `one_second_sales_sla`): the breach is counted.
    carla_ws
        .wait_for_conversation("conversation.sla_breached", &sale, WAIT)
        .await;
}

/// Sales' first response is due within a second, so the traffic breaches it.
fn one_second_sales_sla(settings: &mut switchboard::config::Settings) {
    settings.sla.policies.insert(
        0,
        switchboard::config::SlaPolicySettings {
            team: Some("sales".into()),
            priority: None,
            first_response_seconds: Some(1),
            next_response_seconds: None,
            resolution_seconds: None,
            business_hours: false,
        },
    );
}

fn assert_all_exported(used: &BTreeSet<String>, exposition: &str, mode: &str) {
    let have = exported(exposition);
    let missing: Vec<&String> = used
        .iter()
        .filter(|n| !have.contains(*n) && !PROMETHEUS_OWN.contains(&n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "used by the dashboard or the alerts but not exported ({mode}): {missing:?}\n\
         exported: {have:#?}"
    );
}

#[actix_rt::test]
async fn every_metric_the_dashboard_and_the_alerts_use_is_exported() {
    let dashboard = metric_names(&dashboard_queries());
    let rules = metric_names(&rule_queries());
    // The parse finds what it should: the SLIs the issue names.
    for name in [
        "switchboard_webhook_requests_total",
        "switchboard_webhook_duration_seconds_bucket",
        "switchboard_intake_lag_seconds_bucket",
        "switchboard_queue_depth",
        "switchboard_queue_oldest_wait_seconds",
        "switchboard_time_to_assign_seconds_bucket",
        "switchboard_first_response_seconds_bucket",
        "switchboard_resolution_seconds_bucket",
        "switchboard_outbound_sends_total",
        "switchboard_store_commit_duration_seconds_bucket",
        "switchboard_websocket_sessions",
        "switchboard_cluster_partitions_owned",
        "switchboard_sla_breaches_total",
    ] {
        assert!(dashboard.contains(name), "{name} on the dashboard");
    }
    for name in [
        "up",
        "switchboard_webhook_requests_total",
        "switchboard_store_up",
        "switchboard_cluster_redis_errors_total",
        "switchboard_cluster_partitions_owned",
        "switchboard_queue_oldest_wait_seconds",
        "switchboard_sla_breaches_total",
    ] {
        assert!(rules.contains(name), "{name} in the alerts");
    }
    let used: BTreeSet<String> = dashboard.union(&rules).cloned().collect();

    // Embedded mode: everything but the cluster's series.
    let app = spawn_console_app(one_second_sales_sla).await;
    drive_traffic(&app).await;
    let exposition = app.metrics().await;
    let embedded: BTreeSet<String> = used
        .iter()
        .filter(|n| !n.starts_with("switchboard_cluster_"))
        .cloned()
        .collect();
    assert_all_exported(&embedded, &exposition, "embedded");
    assert_eq!(
        metric_value(&exposition, "switchboard_store_up", &[]),
        Some(1.0),
        "the store answers:\n{exposition}"
    );
    let _ = app.stop().await;

    // A one-node cluster (Redis, PostgreSQL): the cluster's series too.
    use_cluster_mode();
    let app = spawn_console_app(one_second_sales_sla).await;
    drive_traffic(&app).await;
    let exposition = app.metrics().await;
    assert_all_exported(&used, &exposition, "cluster");
    let owned = metric_value(&exposition, "switchboard_cluster_partitions_owned", &[]);
    assert!(
        owned.is_some_and(|n| n >= 1.0),
        "the only node owns partitions: {owned:?}"
    );
    let _ = app.stop().await;
}

/// The JSON lines of `node`'s log containing `needle`, parsed.
fn json_lines(node: &Node, needle: &str) -> Vec<Value> {
    node.log_lines(needle)
        .iter()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[actix_rt::test]
async fn json_logs_carry_the_request_id_and_the_conversation() {
    let graph = FakeGraph::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("switchboard.db");
    let config = ProcessConfig::new(
        &graph.base_url(),
        &format!("sqlite://{}", db.display()),
        json!({"log": {"filter": "info,switchboard::http::request_id=debug", "json": true}}),
    );
    let node = Node::start(&config, &[]);
    let http = reqwest::Client::new();

    // A request id sent by a proxy is echoed and logged.
    let response = http
        .get(format!("{}/healthz", node.address))
        .header("x-request-id", "req-observability-1")
        .send()
        .await
        .expect("healthz");
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok()),
        Some("req-observability-1")
    );
    node.wait_log("req-observability-1", 1, WAIT);
    let lines = json_lines(&node, "req-observability-1");
    let line = lines
        .iter()
        .find(|l| l["fields"]["message"] == "request")
        .unwrap_or_else(|| panic!("a JSON line for the request: {lines:#?}"));
    assert_eq!(
        line["span"]["request_id"], "req-observability-1",
        "{line:#}"
    );
    assert_eq!(line["fields"]["route"], "/healthz", "{line:#}");
    assert_eq!(line["fields"]["status"], 200, "{line:#}");

    // Without one, the gateway makes one, answers it and logs it.
    let response = http
        .get(format!("{}/readyz", node.address))
        .send()
        .await
        .expect("readyz");
    let made = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .expect("an x-request-id on the answer");
    assert!(uuid::Uuid::parse_str(&made).is_ok(), "{made}");
    assert!(!node.wait_log(&made, 1, WAIT).is_empty(), "{made} logged");

    // A customer handed off: the conversation's log line carries its key and id.
    let customer = "15551900009";
    let signer = switchboard::channels::signature::SignatureVerifier::new(APP_SECRET.as_bytes())
        .expect("a key");
    for (i, text) in ["hello", "agent"].iter().enumerate() {
        let body = serde_json::to_vec(&text_webhook(customer, &format!("wamid.obs.{i}"), text))
            .expect("json");
        let response = http
            .post(format!("{}/webhooks/whatsapp", node.address))
            .header("content-type", "application/json")
            .header("x-hub-signature-256", signer.sign(&body))
            .body(body)
            .send()
            .await
            .expect("webhook");
        assert_eq!(response.status(), 200);
        assert!(response.headers().contains_key("x-request-id"));
    }
    node.wait_log("handed off and routed", 1, WAIT);
    let lines = json_lines(&node, "handed off and routed");
    let line = lines
        .first()
        .unwrap_or_else(|| panic!("the handoff logged: {lines:#?}"));
    let span = &line["span"];
    assert_eq!(span["name"], "conversation", "{line:#}");
    assert!(
        span["conversation"]
            .as_str()
            .is_some_and(|k| k.ends_with(customer)),
        "{line:#}"
    );
    assert_eq!(
        span["conversation_id"], line["fields"]["conversation"],
        "{line:#}"
    );
}
