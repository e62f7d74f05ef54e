//! A team's own SLA policies, set at run time through the admin API, in both modes (SQLite;
//! PostgreSQL and Redis): a new conversation of the team gets them, clearing them brings the
//! configured ones back, bad policies are refused naming the field and change nothing, and the
//! change is audited. A running conversation's clocks follow the policy in effect: a longer
//! target moves its breach later (the check due earlier finds nothing and looks again), a
//! shorter one is announced at once. In a cluster, a change made through one node is in force
//! on the others within a second.

mod common;

use std::time::Duration;

use common::cluster::TestCluster;
use common::console::*;
use serde_json::{Value, json};
use switchboard::config::{Settings, SlaPolicySettings};

const SLA_BREACHED: &str = "conversation.sla_breached";
const ADMIN: &str = "admin@example.com";

/// Support's first response is due within `seconds` (the configured policy).
fn configured_first_response(settings: &mut Settings, seconds: u64) {
    settings.sla.policies = vec![SlaPolicySettings {
        team: Some("support".into()),
        priority: None,
        first_response_seconds: Some(seconds),
        next_response_seconds: Some(600),
        resolution_seconds: Some(86_400),
        business_hours: false,
    }];
}

fn clock<'a>(conversation: &'a Value, name: &str) -> &'a Value {
    conversation["sla"]["clocks"]
        .as_array()
        .and_then(|clocks| clocks.iter().find(|c| c["clock"] == name))
        .unwrap_or(&Value::Null)
}

async fn support(admin: &Console) -> (Value, Value) {
    let body = expect_status(200, admin.get("/api/v1/admin/teams").await);
    let team = body["teams"]
        .as_array()
        .and_then(|teams| teams.iter().find(|t| t["id"] == "support"))
        .cloned()
        .expect("the support team");
    (team, body["sla_priorities"].clone())
}

async fn audit(admin: &Console, query: &str) -> Vec<Value> {
    let body = expect_status(
        200,
        admin.get(&format!("/api/v1/admin/audit?{query}")).await,
    );
    body["entries"].as_array().cloned().unwrap_or_default()
}

async fn a_team_policy_applies_and_clearing_it_restores_the_configured_one() {
    let app = spawn_console_app(|s| configured_first_response(s, 300)).await;
    let admin = Console::login(&app, ADMIN, DEMO_PASSWORD).await;
    let alice = Console::new(&app, ALICE);

    let (team, priorities) = support(&admin).await;
    assert_eq!(team["sla"], json!([]), "{team:#}");
    assert_eq!(
        priorities,
        json!([0, 5, 10]),
        "the demo routing's priorities"
    );

    // The configured policy, before any change.
    let before = hand_off(&app, "15550410101", "support").await;
    let view = alice.conversation(&before).await["conversation"].clone();
    assert_eq!(
        clock(&view, "first_response")["target_ms"],
        300_000,
        "{view:#}"
    );
    assert_eq!(clock(&view, "next_response"), &Value::Null);

    // Support's own policy: any priority, a 90 s first response and a two-hour resolution.
    let policy = json!([{
        "priority": null,
        "first_response_seconds": 90,
        "resolution_seconds": 7200,
        "business_hours": false,
    }]);
    let saved = expect_status(
        200,
        admin
            .patch("/api/v1/admin/teams/support", json!({ "sla": policy }))
            .await,
    );
    assert_eq!(saved["team"]["sla"][0]["first_response_seconds"], 90);
    assert_eq!(saved["team"]["sla"][0]["resolution_seconds"], 7200);
    assert!(saved["team"]["sla"][0]["next_response_seconds"].is_null());

    // A new conversation of the team gets it, and only it (no next-response target now).
    let after = hand_off(&app, "15550410102", "support").await;
    let view = alice.conversation(&after).await["conversation"].clone();
    assert_eq!(
        clock(&view, "first_response")["target_ms"],
        90_000,
        "{view:#}"
    );
    assert_eq!(
        clock(&view, "resolution")["target_ms"],
        7_200_000,
        "{view:#}"
    );
    // The running one is read under the policy in effect too.
    let view = alice.conversation(&before).await["conversation"].clone();
    assert_eq!(
        clock(&view, "first_response")["target_ms"],
        90_000,
        "{view:#}"
    );

    // Audited, with before and after.
    let changes = audit(&admin, "action=team.update&actor=admin").await;
    let change = changes.first().expect("the change is audited");
    assert_eq!(change["target"], "support", "{change:#}");
    assert_eq!(change["before"]["sla"], json!([]), "{change:#}");
    assert_eq!(
        change["after"]["sla"][0]["first_response_seconds"], 90,
        "{change:#}"
    );

    // Refusals name the field and change nothing.
    let refused = [
        (
            json!([{"first_response_seconds": 0}]),
            "sla[0].first_response_seconds",
        ),
        (
            json!([{"priority": 10, "resolution_seconds": 60}, {"resolution_seconds": 40_000_000}]),
            "sla[1].resolution_seconds",
        ),
        (
            json!([{"priority": 7, "first_response_seconds": 60}]),
            "sla[0].priority",
        ),
        (
            json!([{"priority": 5, "first_response_seconds": 60}, {"priority": 5, "first_response_seconds": 9}]),
            "sla[1].priority",
        ),
        (json!([{"business_hours": true}]), "sla[0]"),
    ];
    for (sla, field) in refused {
        let (status, body) = admin
            .patch("/api/v1/admin/teams/support", json!({ "sla": sla }))
            .await;
        assert_eq!(status, 400, "{sla}: {body}");
        assert!(body.to_string().contains(field), "{field}: {body}");
    }
    let (status, body) = admin
        .patch(
            "/api/v1/admin/teams/support",
            json!({ "sla": [{"first_response_seconds": 60, "minutes": 1}] }),
        )
        .await;
    assert_eq!(status, 400, "an unknown field: {body}");
    // A supervisor may not change their team's targets.
    let sam = Console::login(&app, "sam@example.com", DEMO_PASSWORD).await;
    let (status, _) = sam
        .patch("/api/v1/admin/teams/support", json!({ "sla": [] }))
        .await;
    assert_eq!(status, 403);
    let (team, _) = support(&admin).await;
    assert_eq!(team["sla"], saved["team"]["sla"], "nothing changed");

    // Cleared: the configured policy is back, for new and running conversations.
    let cleared = expect_status(
        200,
        admin
            .patch("/api/v1/admin/teams/support", json!({ "sla": null }))
            .await,
    );
    assert_eq!(cleared["team"]["sla"], json!([]));
    let last = hand_off(&app, "15550410103", "support").await;
    for id in [&last, &after] {
        let view = alice.conversation(id).await["conversation"].clone();
        assert_eq!(
            clock(&view, "first_response")["target_ms"],
            300_000,
            "{view:#}"
        );
        assert_eq!(clock(&view, "next_response"), &Value::Null);
    }
}

async fn a_running_clock_follows_a_changed_target() {
    let app = spawn_console_app(|s| configured_first_response(s, 4)).await;
    let admin = Console::login(&app, ADMIN, DEMO_PASSWORD).await;
    let sam = Console::login(&app, "sam@example.com", DEMO_PASSWORD).await;
    let mut sam_ws = ConsoleSocket::connect_to(&app.address, sam.token(), None).await;

    // Due in 4 s as configured; the team's target becomes 10 s before then.
    let longer = hand_off(&app, "15550410201", "support").await;
    expect_status(
        200,
        admin
            .patch(
                "/api/v1/admin/teams/support",
                json!({ "sla": [{"first_response_seconds": 10}] }),
            )
            .await,
    );
    let view = sam.conversation(&longer).await["conversation"].clone();
    let first = clock(&view, "first_response");
    assert_eq!(first["target_ms"], 10_000, "{view:#}");
    // The check due at 4 s finds nothing and looks again at 10 s: the one breach announced
    // is of the 10 s target.
    let event = sam_ws
        .wait_for_conversation(SLA_BREACHED, &longer, Duration::from_secs(20))
        .await;
    let announced = clock(&event["data"]["conversation"], "first_response");
    assert_eq!(announced["target_ms"], 10_000, "{event:#}");
    assert_eq!(announced["status"], "breached", "{event:#}");
    assert!(
        announced["elapsed_ms"]
            .as_i64()
            .is_some_and(|ms| ms >= 10_000),
        "{event:#}"
    );

    // A conversation due in an hour; the target becomes one second: announced at once.
    expect_status(
        200,
        admin
            .patch(
                "/api/v1/admin/teams/support",
                json!({ "sla": [{"first_response_seconds": 3600}] }),
            )
            .await,
    );
    let shorter = hand_off(&app, "15550410202", "support").await;
    expect_status(
        200,
        admin
            .patch(
                "/api/v1/admin/teams/support",
                json!({ "sla": [{"first_response_seconds": 1}] }),
            )
            .await,
    );
    let event = sam_ws
        .wait_for_conversation(SLA_BREACHED, &shorter, Duration::from_secs(10))
        .await;
    assert_eq!(event["data"]["clocks"], json!(["first_response"]));
    assert_eq!(
        clock(&event["data"]["conversation"], "first_response")["target_ms"],
        1000
    );
    let breaches: Vec<Value> = sam_ws
        .received_after(0)
        .into_iter()
        .filter(|e| e["kind"] == SLA_BREACHED && event_conversation(e) == Some(longer.as_str()))
        .collect();
    assert_eq!(breaches.len(), 1, "announced once: {breaches:#?}");
}

in_both_modes!(
    a_team_policy_applies_and_clearing_it_restores_the_configured_one,
    a_running_clock_follows_a_changed_target
);

/// Set through node A, in force on node B within a second: B's admin API shows it, and a
/// conversation handed off through B gets it.
#[actix_rt::test]
async fn a_change_through_one_node_is_in_force_on_the_other() {
    let cluster = TestCluster::start(2, |s| configured_first_response(s, 300)).await;
    let (a, b) = (cluster.node(0), cluster.node(1));
    let admin_a = Console::login(a, ADMIN, DEMO_PASSWORD).await;
    let admin_b = Console::login(b, ADMIN, DEMO_PASSWORD).await;
    expect_status(
        200,
        admin_a
            .patch(
                "/api/v1/admin/teams/support",
                json!({ "sla": [{"priority": 0, "first_response_seconds": 45}] }),
            )
            .await,
    );
    let deadline = tokio::time::Instant::now() + AT_ONCE;
    loop {
        let (team, _) = support(&admin_b).await;
        if team["sla"][0]["first_response_seconds"] == 45 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "node B never saw the change: {team:#}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let id = hand_off(b, "15550410301", "support").await;
    let view = Console::new(b, ALICE).conversation(&id).await["conversation"].clone();
    assert_eq!(
        clock(&view, "first_response")["target_ms"],
        45_000,
        "{view:#}"
    );
    assert_eq!(clock(&view, "next_response"), &Value::Null, "{view:#}");
}
