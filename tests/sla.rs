//! SLA clocks end to end, in both modes (SQLite; PostgreSQL and Redis): a handed-off
//! conversation carries its live SLA state in the API; when a clock comes due, the breach is
//! pushed at once to the team's supervisor and the agent who has it, counted in the metrics,
//! and its later reply is a missed target in the reports, beside met ones. A breach that comes
//! due while the gateway is down is announced after its restart (embedded mode: timers live in
//! memory). Bad SLA settings stop the start, and a team cannot name a calendar that does not
//! exist.

mod common;

use std::time::Duration;

use common::TestApp;
use common::browser::Browser;
use common::console::*;
use serde_json::{Value, json};
use switchboard::config::{Settings, SlaPolicySettings};

const SLA_BREACHED: &str = "conversation.sla_breached";

/// Support's first and next responses are due within `seconds`; resolution within an hour.
fn quick_sla(settings: &mut Settings, seconds: u64) {
    settings.sla.at_risk = 0.5;
    settings.sla.policies = vec![SlaPolicySettings {
        team: Some("support".into()),
        priority: None,
        first_response_seconds: Some(seconds),
        next_response_seconds: Some(seconds),
        resolution_seconds: Some(3600),
        business_hours: false,
    }];
}

fn clock<'a>(conversation: &'a Value, name: &str) -> &'a Value {
    conversation["sla"]["clocks"]
        .as_array()
        .and_then(|clocks| clocks.iter().find(|c| c["clock"] == name))
        .unwrap_or(&Value::Null)
}

fn today() -> String {
    let today = chrono::Utc::now().date_naive();
    let tomorrow = today + chrono::Days::new(1);
    format!("from={today}&to={tomorrow}&tz=UTC")
}

async fn breaches_are_pushed_counted_and_reported() {
    let app = spawn_console_app(|s| quick_sla(s, 2)).await;
    let sam = Console::login(&app, "sam@example.com", DEMO_PASSWORD).await;
    let mut sam_ws = ConsoleSocket::connect_to(&app.address, sam.token(), None).await;
    let alice = Console::new(&app, ALICE);
    let mut alice_ws = ConsoleSocket::connect(&app, ALICE, None).await;
    alice.set_presence("online").await;

    // A customer waits for a first answer: the clock runs, on track at first.
    let late = Customer::new(&app, "15550400101");
    let id = late.hands_off_to("support").await;
    alice_ws.wait_for_conversation(ASSIGNED, &id, WAIT).await;
    let view = alice.conversation(&id).await["conversation"].clone();
    let first = clock(&view, "first_response");
    assert_eq!(view["sla"]["business_hours"], false, "{view:#}");
    assert_eq!(first["target_ms"], 2000, "{view:#}");
    assert!(first["stopped_at"].is_null());
    let (Some(started), Some(due)) = (first["started_at"].as_i64(), first["due_at"].as_i64())
    else {
        panic!("a running first-response clock: {view:#}");
    };
    assert_eq!(due - started, 2000);
    assert_eq!(first["at_risk_at"].as_i64(), Some(started + 1000));
    assert!(clock(&view, "next_response").is_null(), "{view:#}");

    // Nobody answers: at its due time the supervisor and the agent are told, with the state.
    let event = sam_ws
        .wait_for_conversation(SLA_BREACHED, &id, Duration::from_secs(10))
        .await;
    assert_eq!(event["data"]["clocks"], json!(["first_response"]));
    assert_eq!(event["data"]["conversation"]["sla"]["status"], "breached");
    alice_ws
        .wait_for_conversation(SLA_BREACHED, &id, WAIT)
        .await;
    let view = alice.conversation(&id).await["conversation"].clone();
    assert_eq!(clock(&view, "first_response")["status"], "breached");
    // Counted (the recorder is the process's: other tests here breach too).
    let metrics = app.metrics().await;
    let counted = metric_value(
        &metrics,
        "switchboard_sla_breaches_total",
        &[("team", "support"), ("clock", "first_response")],
    );
    assert!(counted.is_some_and(|n| n >= 1.0), "{metrics}");

    // The late reply settles it as missed; the next answer comes in time; resolved in time.
    expect_status(201, alice.reply(&id, "Sorry for the wait!").await);
    let view = alice.conversation(&id).await["conversation"].clone();
    assert_eq!(
        clock(&view, "first_response")["status"],
        "missed",
        "{view:#}"
    );
    late.says("Is my parcel lost?").await;
    let view = alice
        .wait_conversation(&id, "the next-response clock", WAIT, |d| {
            !clock(&d["conversation"], "next_response").is_null()
        })
        .await["conversation"]
        .clone();
    assert_eq!(clock(&view, "next_response")["status"], "on_track");
    expect_status(201, alice.reply(&id, "It is on its way.").await);
    expect_status(200, alice.resolve(&id).await);

    // Another customer is answered at once: met.
    let quick = Customer::new(&app, "15550400102");
    let second = quick.hands_off_to("support").await;
    alice_ws
        .wait_for_conversation(ASSIGNED, &second, WAIT)
        .await;
    expect_status(201, alice.reply(&second, "Hello!").await);
    let view = alice.conversation(&second).await["conversation"].clone();
    assert_eq!(clock(&view, "first_response")["status"], "met", "{view:#}");
    assert_eq!(
        view["sla"]["status"], "on_track",
        "the resolution clock runs on"
    );

    // No breach of the second, and only one of the first (the timer is not repeated).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let breaches: Vec<Value> = sam_ws
        .received_after(0)
        .into_iter()
        .filter(|e| e["kind"] == SLA_BREACHED)
        .collect();
    assert_eq!(breaches.len(), 1, "{breaches:#?}");

    // The reports give the share met per clock.
    let report = expect_status(
        200,
        sam.get(&format!("/api/v1/reports/summary?{}", today()))
            .await,
    );
    let sla = &report["total"]["sla"];
    assert_eq!(
        sla["first_response"],
        json!({"met": 1, "missed": 1, "share_met": 0.5}),
        "{report:#}"
    );
    assert_eq!(sla["next_response"]["met"], 1, "{report:#}");
    assert_eq!(sla["next_response"]["missed"], 0, "{report:#}");
    assert_eq!(sla["resolution"]["met"], 1, "{report:#}");
    assert_eq!(
        report["total"]["counts"]["sla_first_response_missed"], 1,
        "{report:#}"
    );
}

async fn teams_name_only_configured_calendars() {
    let app = spawn_console_app(|_| {}).await;
    let admin = Console::login(&app, "admin@example.com", DEMO_PASSWORD).await;
    expect_status(
        400,
        admin
            .patch(
                "/api/v1/admin/teams/support",
                json!({"business_hours": "atlantis"}),
            )
            .await,
    );
    let team = expect_status(
        200,
        admin
            .patch(
                "/api/v1/admin/teams/support",
                json!({"business_hours": "madrid"}),
            )
            .await,
    );
    assert_eq!(team["team"]["business_hours"], "madrid", "{team:#}");
}

/// The support team's card on the board (`GET /api/v1/teams`) as Sam sees it.
async fn support_card(sam: &Console) -> Value {
    let teams = expect_status(200, sam.get("/api/v1/teams").await);
    teams["teams"]
        .as_array()
        .and_then(|teams| teams.iter().find(|t| t["id"] == "support"))
        .cloned()
        .unwrap_or_else(|| panic!("the support team on the board: {teams:#}"))
}

/// Sam's board until `done` says so (the board reads the open conversations at most every 5 s).
async fn board_until(sam: &Console, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let card = support_card(sam).await;
        if done(&card) {
            return card;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the board never showed {what}: {card:#}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The supervisor's board: each waiting customer with their wait, each agent's conversations,
/// and per team the open conversations whose SLA clocks are at risk or overdue, moving with time.
async fn the_board_shows_waits_risks_and_each_agents_conversations() {
    let app = spawn_console_app(|s| quick_sla(s, 2)).await;
    let sam = Console::login(&app, "sam@example.com", DEMO_PASSWORD).await;
    let alice = Console::new(&app, ALICE);
    let mut alice_ws = ConsoleSocket::connect(&app, ALICE, None).await;
    alice.set_presence("online").await;
    let served = Customer::new(&app, "15550400201")
        .hands_off_to("support")
        .await;
    alice_ws
        .wait_for_conversation(ASSIGNED, &served, WAIT)
        .await;
    // Nobody takes the next one: it waits in the queue.
    alice.set_presence("away").await;
    let before = chrono::Utc::now().timestamp_millis();
    let queued = Customer::new(&app, "15550400202")
        .hands_off_to("support")
        .await;

    let card = board_until(&sam, "both conversations", |card| {
        card["waiting"].as_array().is_some_and(|w| !w.is_empty())
            && card["agents"].as_array().is_some_and(|agents| {
                agents
                    .iter()
                    .any(|a| a["conversations"].as_array().is_some_and(|c| !c.is_empty()))
            })
    })
    .await;
    let waiting = &card["waiting"][0];
    assert_eq!(waiting["id"], queued.as_str(), "{card:#}");
    let since = waiting["since"].as_i64().unwrap_or_default();
    assert!(
        since >= before - 1000,
        "queued when it was handed off: {card:#}"
    );
    assert_eq!(card["queue"], json!([queued]), "{card:#}");
    let alice_row = card["agents"]
        .as_array()
        .and_then(|agents| agents.iter().find(|a| a["id"] == "alice"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        alice_row["conversations"][0]["id"],
        served.as_str(),
        "{card:#}"
    );
    assert_eq!(
        alice_row["conversations"][0]["state"], "assigned",
        "{card:#}"
    );

    // Neither is answered: both first-response clocks breach, and the counts say so.
    let card = board_until(&sam, "two overdue conversations", |card| {
        card["sla"]["breached"] == 2
    })
    .await;
    assert_eq!(card["sla"]["at_risk"], 0, "{card:#}");
    assert_eq!(card["waiting"][0]["sla"], "breached", "{card:#}");

    // Alice answers hers: its first response is settled and the resolution clock (an hour)
    // is on track, so only the waiting one stays overdue.
    expect_status(201, alice.reply(&served, "Sorry for the wait!").await);
    let card = board_until(&sam, "one overdue conversation", |card| {
        card["sla"]["breached"] == 1
    })
    .await;
    let alice_row = card["agents"]
        .as_array()
        .and_then(|agents| agents.iter().find(|a| a["id"] == "alice"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(alice_row["conversations"][0]["sla"], "on_track", "{card:#}");
}

in_both_modes!(
    breaches_are_pushed_counted_and_reported,
    teams_name_only_configured_calendars,
    the_board_shows_waits_risks_and_each_agents_conversations
);

/// Embedded mode: the check timers live in memory; a start schedules them again, so a breach
/// that came due while the gateway was down is announced once it is back.
#[actix_rt::test]
async fn a_breach_due_during_a_restart_is_announced_after_it() {
    let app = spawn_console_app(|s| quick_sla(s, 5)).await;
    let id = Customer::new(&app, "15550400201")
        .hands_off_to("support")
        .await;
    // Not due yet when the gateway stops (at risk after 2.5 s on a slow machine); due while it
    // is down.
    let view = Console::new(&app, ALICE).conversation(&id).await["conversation"].clone();
    let status = &clock(&view, "first_response")["status"];
    assert!(status == "on_track" || status == "at_risk", "{view:#}");
    let (settings, graph, db_path, dir) = app.stop().await;
    tokio::time::sleep(Duration::from_secs(6)).await;
    let mut app = TestApp::start(settings, graph, db_path).await;
    app.keep_dir(dir);
    // From the start of Sam's log: the breach may be announced before the socket opens.
    let sam = Console::login(&app, "sam@example.com", DEMO_PASSWORD).await;
    let mut sam_ws = ConsoleSocket::connect_to(&app.address, sam.token(), Some(0)).await;
    sam_ws
        .wait_for_conversation(SLA_BREACHED, &id, Duration::from_secs(10))
        .await;
    let view = sam.conversation(&id).await["conversation"].clone();
    assert_eq!(clock(&view, "first_response")["status"], "breached");
}

#[test]
fn bad_sla_settings_stop_the_start() {
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let base = || Settings::load_from(&config, "test", false).expect("the demo configuration");
    type Change = Box<dyn Fn(&mut Settings)>;
    let cases: Vec<(&str, Change)> = vec![
        ("sla.at_risk", Box::new(|s| s.sla.at_risk = 1.5)),
        (
            "sets no target",
            Box::new(|s| {
                s.sla.policies = vec![SlaPolicySettings {
                    team: None,
                    priority: None,
                    first_response_seconds: None,
                    next_response_seconds: None,
                    resolution_seconds: None,
                    business_hours: true,
                }]
            }),
        ),
        (
            "first_response_seconds must be positive",
            Box::new(|s| quick_sla(s, 0)),
        ),
        (
            "unknown timezone",
            Box::new(|s| {
                if let Some(c) = s.business_hours.get_mut("madrid") {
                    c.timezone = "Europe/Atlantis".into();
                }
            }),
        ),
        (
            "names atlantis",
            Box::new(|s| {
                if let Some(t) = s.teams.get_mut("billing") {
                    t.business_hours = Some("atlantis".into());
                }
            }),
        ),
    ];
    for (expected, change) in cases {
        let mut settings = base();
        assert!(settings.validate().is_ok(), "the demo settings are valid");
        change(&mut settings);
        match settings.validate() {
            Ok(()) => panic!("{expected}: accepted"),
            Err(e) => assert!(e.to_string().contains(expected), "{expected}: {e}"),
        }
    }
}

/// In the console: Alice sees the clock of her new conversation in its header, then the breach
/// in its header and its row (without a reload: the console's clock moves it); Sam, on a phone
/// in Arabic, sees the breach in the conversation's header.
#[actix_rt::test]
async fn the_console_shows_the_clock_and_the_breach() {
    let app = spawn_console_app(|s| quick_sla(s, 8)).await;
    let browser = Browser::start(1280, 800, "en").await;
    browser.login(&app.address, "alice@example.com", None).await;
    browser
        .wait_css("#presence option[value='online']")
        .await
        .click()
        .await
        .expect("online");
    let id = hand_off(&app, "34611122301", "support").await;
    browser.open_row(&id).await;
    browser
        .wait_true(
            "the clock on track in the header",
            "document.querySelector('.conversation-head .sla')?.dataset.sla === 'on_track' \
             && document.querySelector('.conversation-head .sla').textContent.startsWith('First response due')",
        )
        .await;
    browser.screenshot("console-sla-on-track").await;
    browser
        .wait_true(
            "the breach in the header and the row",
            "document.querySelector('.conversation-head .sla')?.dataset.sla === 'breached' \
             && document.querySelector('.conversation-row .sla')?.textContent.startsWith('Overdue')",
        )
        .await;
    browser.screenshot("console-sla-breached").await;
    browser.close().await;

    let phone = Browser::start(390, 844, "ar").await;
    phone
        .login(&app.address, "sam@example.com", Some("ar"))
        .await;
    phone
        .wait_css("#tab-team-support")
        .await
        .click()
        .await
        .expect("support's tab");
    phone.open_row(&id).await;
    phone
        .wait_true(
            "the breach in the header, right to left",
            "document.documentElement.dir === 'rtl' \
             && document.querySelector('.conversation-head .sla')?.dataset.sla === 'breached'",
        )
        .await;
    phone.screenshot("console-sla-breached-phone-ar").await;
    phone.close().await;
}

/// Sam's board in the console: the overdue counts, the waiting customer with their wait and
/// Alice's conversation, on a desktop in English and on a phone in Arabic.
#[actix_rt::test]
async fn the_board_shows_the_overdue_and_who_holds_what() {
    let app = spawn_console_app(|s| quick_sla(s, 2)).await;
    let alice = Console::new(&app, ALICE);
    let mut alice_ws = ConsoleSocket::connect(&app, ALICE, None).await;
    alice.set_presence("online").await;
    let served = hand_off(&app, "34611122311", "support").await;
    alice_ws
        .wait_for_conversation(ASSIGNED, &served, WAIT)
        .await;
    alice.set_presence("away").await;
    let queued = hand_off(&app, "34611122312", "support").await;

    for (width, height, language, name) in [
        (1280, 800, "en", "console-board-sla"),
        (390, 844, "ar", "console-board-sla-phone-ar"),
    ] {
        let browser = Browser::start(width, height, language).await;
        browser
            .login(&app.address, "sam@example.com", Some(language))
            .await;
        browser
            .wait_css("#nav-board")
            .await
            .click()
            .await
            .expect("the board opens");
        let card = "#board .board-team[data-id='support']";
        browser
            .wait_true(
                "both overdue, the wait ticking and Alice's conversation",
                &format!(
                    "document.querySelector(\"{card} .sla-breached-count\")?.textContent === '2' \
                     && document.querySelector(\"{card} .board-queue-item[data-id='{queued}'][data-sla='breached'] .board-queue-wait\") \
                     && document.querySelector(\"{card} .board-agent[data-id='alice'] .board-held-item[data-id='{served}']\")"
                ),
            )
            .await;
        browser
            .wait_true(
                "the support card in view",
                &format!("(document.querySelector(\"{card}\").scrollIntoView(), true)"),
            )
            .await;
        browser.screenshot(name).await;
        browser.close().await;
    }
}
