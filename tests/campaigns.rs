//! Campaigns end to end over HTTP, in both modes, driven like an admin, Meta and customers would
//! (docs/CAMPAIGNS.md, "Campaigns"): a draft previewed with counts by reason, a sample and a
//! cost; started, it sends the marketing template once to each opted-in customer of the segment
//! (parameters from contact fields, defaults for those without), never to the opted out, the
//! never asked, the US number, the excluded segment or a second contact of the same number;
//! Meta's statuses with pricing, a reply and a STOP show in its counts and in the recipients'
//! CSV; pause, resume and cancel follow the states; bad input changes nothing.

mod common;

use std::time::Duration;

use common::campaigns::{consent, contact, segment, templates_sent_to, templates_to, wamid_to};
use common::console::*;
use serde_json::{Value, json};

const SUPPORT: &str = "support";
/// Opted in, in Spain (one without a name: the default).
const ANA: &str = "34600100001";
const BEA: &str = "34600100002";
const NONAME: &str = "34600100003";
/// Opted out after opting in.
const OUT: &str = "34600100004";
/// Never asked.
const NEVER: &str = "34600100005";
/// Opted in, but a United States number (Meta's pause).
const NEW_YORK: &str = "12125550199";
/// Opted in, but in the excluded segment.
const VIP: &str = "34600100006";

async fn admin(app: &common::TestApp) -> Console {
    Console::login(app, "admin@example.com", DEMO_PASSWORD).await
}

/// The demo audience: everyone tagged `spring`; VIPs excluded.
async fn audience(admin: &Console) -> (String, String) {
    for (phone, name, tags, events) in [
        (ANA, Some("Ana"), vec!["spring"], vec!["opted_in"]),
        (BEA, Some("Bea"), vec!["spring"], vec!["opted_in"]),
        (NONAME, None, vec!["spring"], vec!["opted_in"]),
        (
            OUT,
            Some("Olga"),
            vec!["spring"],
            vec!["opted_in", "opted_out"],
        ),
        (NEVER, Some("Nora"), vec!["spring"], vec![]),
        (NEW_YORK, Some("Nick"), vec!["spring"], vec!["opted_in"]),
        (VIP, Some("Vera"), vec!["spring", "vip"], vec!["opted_in"]),
    ] {
        let id = contact(admin, phone, name, &tags).await;
        for event in events {
            consent(admin, SUPPORT, &id, event).await;
        }
    }
    // A contact with no number at all.
    let upserted = admin
        .put(
            "/api/v1/contacts",
            json!({"match": {"identity": {"channel": "telegram", "address": "987654321"}}, "set": {"name": "No Phone", "tags": ["spring"]}}),
        )
        .await;
    assert!((200..300).contains(&upserted.0), "{upserted:?}");
    (
        segment(admin, "Spring", "'spring' in contact.tags").await,
        segment(admin, "VIPs", "'vip' in contact.tags").await,
    )
}

fn spec(segment: &str, exclude: &str) -> Value {
    json!({
        "name": "Spring sale",
        "channel": SUPPORT,
        "template": {"name": "spring_sale", "language": "en_US"},
        "parameters": {"body": {"first_name": {"field": "name", "default": "friend"}}},
        "audience": {"segment": segment, "exclude_segments": [exclude]},
        "frequency_cap": {"messages": 2, "days": 7}
    })
}

/// Create a draft from `body`; its id.
async fn create(admin: &Console, body: Value) -> String {
    let created = expect_status(201, admin.post("/api/v1/campaigns", body).await);
    assert_eq!(created["campaign"]["state"], "draft", "{created}");
    created["campaign"]["id"]
        .as_str()
        .expect("an id")
        .to_owned()
}

/// Start the campaign; its answer.
async fn start(admin: &Console, id: &str) -> Value {
    expect_status(
        200,
        admin
            .post(&format!("/api/v1/campaigns/{id}/start"), json!({}))
            .await,
    )
}

/// Wait until the campaign is in `state`; its view.
async fn wait_state(admin: &Console, id: &str, state: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = expect_status(200, admin.get(&format!("/api/v1/campaigns/{id}")).await);
        if got["campaign"]["state"] == state {
            return got["campaign"].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited for {state}: {got}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Wait until `f` holds for the campaign's view.
async fn wait_for(admin: &Console, id: &str, what: &str, f: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = expect_status(200, admin.get(&format!("/api/v1/campaigns/{id}")).await);
        if f(&got["campaign"]) {
            return got["campaign"].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited for {what}: {got}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn status_with_pricing(to: &str, wamid: &str, status: &str) -> Value {
    let mut s = common::status_webhook(to, wamid, status);
    s["entry"][0]["changes"][0]["value"]["statuses"][0]["pricing"] = json!({
        "billable": true, "pricing_model": "PMP", "type": "regular", "category": "marketing"
    });
    s
}

/// The whole life of a campaign: preview, start, sends, statuses, a reply, a STOP, the CSV.
async fn a_campaign_reaches_the_opted_in_once_and_counts_what_followed() {
    let app = spawn_console_app(|s| {
        s.campaigns.poll_interval_ms = 50;
    })
    .await;
    let admin = admin(&app).await;
    expect_status(200, admin.post("/api/v1/templates/sync", json!({})).await);
    let (spring, vips) = audience(&admin).await;
    // The same number again (with a +) is the same contact: no duplicate to send twice to.
    contact(&admin, &format!("+{BEA}"), Some("Bea"), &["spring"]).await;

    let id = create(&admin, spec(&spring, &vips)).await;
    let draft = expect_status(200, admin.get(&format!("/api/v1/campaigns/{id}")).await);
    assert_eq!(draft["campaign"]["counts"]["targeted"], 0, "{draft}");

    let preview = expect_status(
        200,
        admin
            .post(&format!("/api/v1/campaigns/{id}/preview"), json!({}))
            .await,
    )["preview"]
        .clone();
    assert_eq!(preview["eligible"], 3, "{preview}");
    assert_eq!(preview["category"], "MARKETING");
    let excluded = &preview["excluded"];
    assert_eq!(excluded["opted_out"], 1, "{preview}");
    assert_eq!(excluded["no_consent"], 1, "{preview}");
    assert_eq!(excluded["country_rule"], 1, "{preview}");
    assert_eq!(excluded["excluded_segment"], 1, "{preview}");
    assert_eq!(excluded["no_number"], 1, "{preview}");
    assert_eq!(excluded.get("duplicate"), None, "{preview}");
    assert_eq!(preview["audience"], 8, "{preview}");
    assert_eq!(preview["cost"]["amount"], 0.075, "{preview}");
    assert_eq!(preview["cost"]["by_country"]["ES"]["messages"], 3);
    let sample = preview["sample"].as_array().expect("a sample");
    assert_eq!(sample.len(), 3, "{preview}");
    let texts: Vec<&str> = sample
        .iter()
        .filter_map(|s| s["preview"]["body"].as_str())
        .collect();
    assert!(texts.iter().any(|t| t.contains("Ana")), "{texts:?}");
    assert!(texts.iter().any(|t| t.contains("friend")), "{texts:?}");
    // A preview changes nothing and sends nothing.
    assert!(templates_to(&app, ANA).is_empty());

    // Starting it: it sends to the three, once each, and completes.
    let started = start(&admin, &id).await;
    assert_eq!(started["campaign"]["state"], "running", "{started}");
    assert_eq!(started["campaign"]["estimate"]["eligible"], 3);
    let done = wait_state(&admin, &id, "completed").await;
    assert_eq!(done["counts"]["sent"], 3, "{done}");
    for (to, name) in [(ANA, "Ana"), (BEA, "Bea"), (NONAME, "friend")] {
        let sent = templates_sent_to(&app, to).await;
        assert_eq!(sent.len(), 1, "{to}: {sent:?}");
        assert_eq!(sent[0]["template"]["name"], "spring_sale");
        assert_eq!(
            sent[0]["template"]["components"][0]["parameters"][0]["text"], name,
            "{sent:?}"
        );
    }
    for to in [OUT, NEVER, NEW_YORK, VIP] {
        assert!(templates_to(&app, to).is_empty(), "{to} got a template");
    }
    // Starting it again is a conflict.
    let (status, body) = admin
        .post(&format!("/api/v1/campaigns/{id}/start"), json!({}))
        .await;
    assert_eq!(status, 409, "{body}");

    // Meta's statuses (with pricing), Ana's reply, Bea's STOP.
    let ana = wamid_to(&app, ANA);
    let bea = wamid_to(&app, BEA);
    for (to, wamid, status) in [
        (ANA, &ana, "delivered"),
        (ANA, &ana, "read"),
        (BEA, &bea, "delivered"),
    ] {
        assert_eq!(
            app.post_json(&status_with_pricing(to, wamid, status))
                .await
                .status(),
            200
        );
    }
    let mut failed = common::status_webhook(NONAME, &wamid_to(&app, NONAME), "failed");
    failed["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"] =
        json!([{"code": 131026, "title": "Message undeliverable"}]);
    assert_eq!(app.post_json(&failed).await.status(), 200);
    assert_eq!(
        app.post_json(&common::text_webhook(
            ANA,
            "wamid.campaign-reply-ana",
            "Is it 25% off everything?"
        ))
        .await
        .status(),
        200
    );
    assert_eq!(
        app.post_json(&common::text_webhook(
            BEA,
            "wamid.campaign-stop-bea",
            "STOP"
        ))
        .await
        .status(),
        200
    );
    let counted = wait_for(&admin, &id, "replies and opt-outs", |c| {
        c["counts"]["replied"] == 2 && c["counts"]["opted_out"] == 1
    })
    .await;
    let counts = &counted["counts"];
    assert_eq!(counts["delivered"], 2, "{counts}");
    assert_eq!(counts["read"], 1, "{counts}");
    assert_eq!(counts["failed"], 1, "{counts}");
    assert_eq!(counts["failed_by_code"]["131026"], 1, "{counts}");
    assert_eq!(counts["cost"]["actual"], 0.05, "{counts}");
    assert_eq!(counts["cost"]["estimated"], 0.075, "{counts}");
    assert_eq!(counts["excluded"]["no_consent"], 1, "{counts}");

    // The recipients' CSV: one row per contact of the audience.
    let response = reqwest::Client::new()
        .get(format!(
            "{}/api/v1/campaigns/{id}/recipients.csv",
            app.address
        ))
        .bearer_auth(admin.token())
        .send()
        .await
        .expect("the CSV answers");
    assert_eq!(response.status(), 200);
    let csv = response.text().await.expect("csv");
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    let headers = reader.headers().expect("headers").clone();
    let rows: Vec<csv::StringRecord> = reader.records().map(|r| r.expect("a row")).collect();
    assert_eq!(
        rows.len() as u64,
        preview["audience"].as_u64().unwrap_or(0),
        "{csv}"
    );
    let col = |name: &str| headers.iter().position(|h| h == name).expect(name);
    let ana_row = rows
        .iter()
        .find(|r| &r[col("address")] == ANA)
        .expect("Ana's row");
    assert_eq!(&ana_row[col("state")], "sent");
    assert_eq!(&ana_row[col("status")], "read");
    assert_eq!(&ana_row[col("pricing_category")], "marketing");
    assert!(!ana_row[col("replied_at")].is_empty(), "{csv}");
    let out_row = rows
        .iter()
        .find(|r| &r[col("address")] == OUT)
        .expect("Olga's row");
    assert_eq!(&out_row[col("reason")], "opted_out");

    // Ana's conversation shows the campaign it answers.
    let ana_contact = expect_status(200, admin.get(&format!("/api/v1/contacts/{ANA}")).await);
    let conversation = ana_contact["contact"]["conversations"][0]["id"]
        .as_str()
        .expect("Ana's conversation")
        .to_owned();
    let shown = expect_status(
        200,
        admin
            .get(&format!("/api/v1/conversations/{conversation}"))
            .await,
    );
    assert_eq!(shown["campaign"]["name"], "Spring sale", "{shown}");
    assert_eq!(shown["campaign"]["id"], id.as_str());

    let list = expect_status(200, admin.get("/api/v1/campaigns").await);
    assert_eq!(list["campaigns"][0]["id"], id.as_str(), "{list}");
}

/// Pause, resume and cancel follow the states; a paused campaign sends nothing.
async fn pause_resume_and_cancel() {
    let app = spawn_console_app(|s| {
        s.campaigns.poll_interval_ms = 50;
    })
    .await;
    let admin = admin(&app).await;
    expect_status(200, admin.post("/api/v1/templates/sync", json!({})).await);
    let (spring, vips) = audience(&admin).await;
    let mut body = spec(&spring, &vips);
    // Scheduled for tomorrow: it waits.
    body["schedule"] =
        json!({"start_at": (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339()});
    let id = create(&admin, body).await;
    let act = |action: &'static str| {
        let admin = &admin;
        let id = id.clone();
        async move {
            admin
                .post(&format!("/api/v1/campaigns/{id}/{action}"), json!({}))
                .await
        }
    };
    let (status, body) = act("pause").await;
    assert_eq!(status, 409, "a draft cannot pause: {body}");
    assert_eq!(
        expect_status(200, act("start").await)["campaign"]["state"],
        "scheduled"
    );
    assert_eq!(
        expect_status(200, act("pause").await)["campaign"]["state"],
        "paused"
    );
    assert_eq!(
        expect_status(200, act("resume").await)["campaign"]["state"],
        "scheduled"
    );
    assert_eq!(
        expect_status(200, act("cancel").await)["campaign"]["state"],
        "cancelled"
    );
    let (status, _) = act("resume").await;
    assert_eq!(status, 409);
    let (status, _) = act("launch").await;
    assert_eq!(status, 404);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        templates_to(&app, ANA).is_empty(),
        "a scheduled campaign sent"
    );
}

/// Bad input is named and changes nothing; agents and supervisors do not run campaigns.
async fn bad_campaigns_are_refused() {
    let app = spawn_console_app(|_| {}).await;
    let admin = admin(&app).await;
    expect_status(200, admin.post("/api/v1/templates/sync", json!({})).await);
    let spring = segment(&admin, "Spring", "'spring' in contact.tags").await;
    for (body, needle) in [
        (
            json!({"name": "x", "channel": SUPPORT, "template": {"name": "no_such", "language": "en_US"},
                   "audience": {"segment": spring}}),
            "no template",
        ),
        (
            json!({"name": "x", "channel": SUPPORT, "template": {"name": "winter_sale", "language": "en_US"},
                   "audience": {"segment": spring}}),
            "template_not_approved",
        ),
        (
            json!({"name": "x", "channel": SUPPORT, "template": {"name": "spring_sale", "language": "en_US"},
                   "audience": {"segment": "seg_nope"}}),
            "no segment",
        ),
        (
            json!({"name": "x", "channel": SUPPORT, "template": {"name": "spring_sale", "language": "en_US"},
                   "audience": {"segment": spring}}),
            "parameters",
        ),
        (
            json!({"name": "x", "channel": SUPPORT, "template": {"name": "spring_sale", "language": "en_US"},
                   "parameters": {"body": {"first_name": {"value": "Ana"}}},
                   "audience": {"segment": spring},
                   "schedule": {"window": {"from": "9", "to": "20:00"}}}),
            "window.from",
        ),
    ] {
        let (status, got) = admin.post("/api/v1/campaigns", body).await;
        assert_eq!(status, 422, "{got}");
        assert_eq!(got["error"]["code"], "invalid_campaign", "{got}");
        let message = got["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains(needle), "{needle}: {message}");
    }
    let (status, _) = admin.post("/api/v1/campaigns", json!({"name": 1})).await;
    assert_eq!(status, 400);
    let list = expect_status(200, admin.get("/api/v1/campaigns").await);
    assert_eq!(list["campaigns"], json!([]), "{list}");
    let agent = Console::login(&app, "alice@example.com", DEMO_PASSWORD).await;
    let (status, _) = agent.get("/api/v1/campaigns").await;
    assert_eq!(status, 403);
    let supervisor = Console::login(&app, "sam@example.com", DEMO_PASSWORD).await;
    expect_status(200, supervisor.get("/api/v1/campaigns").await);
    let (status, _) = supervisor
        .post("/api/v1/campaigns", spec(&spring, &spring))
        .await;
    assert_eq!(status, 403);
    expect_status(404, admin.get("/api/v1/campaigns/nope").await);
}

fn template_status(event: &str) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "time": 1750271000,
        "changes": [{"field": "message_template_status_update", "value": {
            "event": event, "message_template_id": 1000000000000004_u64,
            "message_template_name": "spring_sale", "message_template_language": "en_US",
            "reason": if event == "PAUSED" { "LOW_QUALITY" } else { "NONE" }}}]}]})
}

/// Meta pauses the template mid-campaign: the campaign pauses with the reason shown, the rest
/// wait; once Meta approves it again, a resume finishes it, each recipient once.
async fn a_template_paused_by_meta_pauses_its_campaign() {
    let app = spawn_console_app(|s| {
        s.campaigns.poll_interval_ms = 50;
    })
    .await;
    let admin = admin(&app).await;
    expect_status(200, admin.post("/api/v1/templates/sync", json!({})).await);
    let (spring, vips) = audience(&admin).await;
    let mut body = spec(&spring, &vips);
    body["rate"] = json!(1);
    let id = create(&admin, body).await;
    start(&admin, &id).await;
    // One a second: the first goes, then Meta pauses the template.
    wait_for(&admin, &id, "a first send", |c| c["counts"]["sent"] == 1).await;
    assert_eq!(
        app.post_json(&template_status("PAUSED")).await.status(),
        200
    );
    let paused = wait_state(&admin, &id, "paused").await;
    let reason = paused["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("PAUSED"), "{paused}");
    let sent = paused["counts"]["sent"].as_u64().unwrap_or(0);
    assert!(sent < 3, "{paused}");
    assert_eq!(
        paused["counts"]["pending"].as_u64(),
        Some(3 - sent),
        "{paused}"
    );

    assert_eq!(
        app.post_json(&template_status("APPROVED")).await.status(),
        200
    );
    let resumed = expect_status(
        200,
        admin
            .post(&format!("/api/v1/campaigns/{id}/resume"), json!({}))
            .await,
    );
    assert_eq!(resumed["campaign"]["state"], "running");
    assert_eq!(resumed["campaign"]["reason"], Value::Null);
    let done = wait_state(&admin, &id, "completed").await;
    assert_eq!(done["counts"]["sent"], 3, "{done}");
    for to in [ANA, BEA, NONAME] {
        assert_eq!(templates_sent_to(&app, to).await.len(), 1, "{to}");
    }
}

/// Configured for Meta's Marketing Messages API, a marketing campaign posts to
/// `/marketing_messages` (the same payload); a utility campaign still goes to `/messages`.
async fn marketing_goes_through_the_marketing_messages_api() {
    let app = spawn_console_app(|s| {
        s.campaigns.poll_interval_ms = 50;
        s.campaigns.marketing_messages_api = true;
    })
    .await;
    let admin = admin(&app).await;
    expect_status(200, admin.post("/api/v1/templates/sync", json!({})).await);
    let (spring, vips) = audience(&admin).await;
    let id = create(&admin, spec(&spring, &vips)).await;
    start(&admin, &id).await;
    wait_state(&admin, &id, "completed").await;
    let mut utility = spec(&spring, &vips);
    utility["name"] = json!("Parcel news");
    utility["template"] = json!({"name": "parcel_update", "language": "en_US"});
    utility["parameters"] = json!({"body": [{"field": "name", "default": "friend"}]});
    let parcel = create(&admin, utility).await;
    start(&admin, &parcel).await;
    wait_state(&admin, &parcel, "completed").await;
    let endpoints = |name: &str| -> Vec<String> {
        app.graph
            .requests()
            .into_iter()
            .filter(|r| r.accepted() && r.body["template"]["name"] == name)
            .map(|r| r.endpoint)
            .collect()
    };
    assert_eq!(endpoints("spring_sale"), vec!["marketing_messages"; 3]);
    let parcels = endpoints("parcel_update");
    assert!(
        !parcels.is_empty() && parcels.iter().all(|e| e == "messages"),
        "{parcels:?}"
    );
}

/// Meta's campaign errors, as the fake Graph API answers them: with the US pause switched off
/// here, Meta itself answers 131049 to the New York number (a later retry is scheduled, never at
/// once); 131050 to a customer who stopped promotions in WhatsApp (an opt-out in the ledger);
/// 131026 to an undeliverable number. Meta's statuses carry `pricing`: the delivered messages'
/// cost is summed.
async fn meta_s_campaign_errors_and_pricing_are_counted() {
    let app = spawn_console_app(|s| {
        s.campaigns.poll_interval_ms = 50;
        s.campaigns.us_marketing_paused = false;
    })
    .await;
    let _feed = switchboard::fakes::statuses::StatusFeed::start(
        &app.graph,
        vec![app.address.clone()],
        common::APP_SECRET,
    );
    let admin = admin(&app).await;
    expect_status(200, admin.post("/api/v1/templates/sync", json!({})).await);
    let (spring, vips) = audience(&admin).await;
    app.graph.stop_marketing(BEA);
    app.graph.set_undeliverable(NONAME);
    let id = create(&admin, spec(&spring, &vips)).await;
    let started = start(&admin, &id).await;
    // New York is no longer refused by the gateway: four to send.
    assert_eq!(started["campaign"]["estimate"]["eligible"], 4, "{started}");
    let done = wait_for(&admin, &id, "the outcomes", |c| {
        c["state"] == "completed"
            && c["counts"]["failed"] == 3
            && c["counts"]["cost"]["actual"].as_f64() > Some(0.0)
    })
    .await;
    let counts = &done["counts"];
    assert_eq!(counts["sent"], 4, "{counts}");
    for code in ["131049", "131050", "131026"] {
        assert_eq!(counts["failed_by_code"][code], 1, "{code}: {counts}");
    }
    // Ana's message was sent (the feed's `sent` status, priced as marketing in Spain).
    assert_eq!(counts["cost"]["actual"], 0.025, "{counts}");
    // Bea is opted out now, by Meta's 131050.
    let consent = expect_status(
        200,
        admin.get(&format!("/api/v1/contacts/{BEA}/consent")).await,
    );
    assert!(consent.to_string().contains("error_131050"), "{consent}");
    // New York's 131049 waits for its retry (12 h later), nothing more was sent at once.
    assert_eq!(templates_to(&app, NEW_YORK).len(), 0);
    let failed_once = app
        .graph
        .requests()
        .into_iter()
        .filter(|r| r.to() == Some(NEW_YORK))
        .count();
    assert_eq!(failed_once, 1, "one attempt only");
}

/// Live first: while customers' messages wait for their conversations on the node (more than
/// `campaigns.live_backlog`), a running campaign sends nothing; once they are processed it
/// goes on.
async fn a_campaign_waits_while_live_messages_back_up() {
    let app = spawn_console_app(|s| {
        s.campaigns.poll_interval_ms = 50;
        s.campaigns.live_backlog = 2;
    })
    .await;
    let admin = admin(&app).await;
    expect_status(200, admin.post("/api/v1/templates/sync", json!({})).await);
    let (spring, vips) = audience(&admin).await;
    let id = create(&admin, spec(&spring, &vips)).await;

    // A customer at the order lookup; the business API turns slow, so the conversation waits
    // on it while the customer writes on.
    let live = "15550004444";
    for (wamid, text) in [("wamid.l1", "hi"), ("wamid.l2", "1")] {
        assert_eq!(
            app.post_json(&common::text_webhook(live, wamid, text))
                .await
                .status(),
            200
        );
    }
    assert_eq!(
        app.wait_messages_to(live, 3, Duration::from_secs(10))
            .await
            .len(),
        3
    );
    app.graph.business().set_delay(Duration::from_secs(4));
    for (wamid, text) in [
        ("wamid.l3", "A1234"),
        ("wamid.l4", "are you there?"),
        ("wamid.l5", "hello?"),
        ("wamid.l6", "anyone?"),
    ] {
        assert_eq!(
            app.post_json(&common::text_webhook(live, wamid, text))
                .await
                .status(),
            200
        );
    }
    let backlog = |metrics: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix("switchboard_conversation_backlog "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0)
    };
    assert!(
        backlog(&app.metrics().await) > 2.0,
        "the live messages wait"
    );

    assert_eq!(start(&admin, &id).await["campaign"]["state"], "running");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Still backed up (checked after the look at the fake, so it held all along).
    let sent: usize = [ANA, BEA, NONAME]
        .iter()
        .map(|to| templates_to(&app, to).len())
        .sum();
    assert!(
        backlog(&app.metrics().await) > 2.0,
        "the business API still holds the conversation"
    );
    assert_eq!(sent, 0, "the campaign sent while live messages waited");

    // The slow step ends, the live messages are processed, then the campaign goes.
    app.graph.business().set_delay(Duration::ZERO);
    let done = wait_state(&admin, &id, "completed").await;
    assert_eq!(done["counts"]["sent"], 3, "{done}");
    for to in [ANA, BEA, NONAME] {
        assert_eq!(templates_sent_to(&app, to).await.len(), 1, "{to}");
    }
    // The order's answer came, and nothing is left waiting.
    assert!(
        app.wait_messages_to(live, 4, Duration::from_secs(10))
            .await
            .len()
            >= 4
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while backlog(&app.metrics().await) > 0.0 {
        assert!(tokio::time::Instant::now() < deadline, "a backlog is left");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

in_both_modes!(
    a_campaign_reaches_the_opted_in_once_and_counts_what_followed,
    meta_s_campaign_errors_and_pricing_are_counted,
    marketing_goes_through_the_marketing_messages_api,
    a_template_paused_by_meta_pauses_its_campaign,
    pause_resume_and_cancel,
    bad_campaigns_are_refused,
    a_campaign_waits_while_live_messages_back_up,
);
