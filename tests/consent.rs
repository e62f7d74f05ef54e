//! Templates and the consent ledger, end to end over HTTP, in both modes, driven like Meta and a
//! business system would: templates are synced from the (fake) Graph API page by page, on demand
//! and on a schedule, and Meta's template webhooks change their status and category; a
//! customer's STOP (or BAJA) opts them out with exactly one confirmation in their language, and
//! START opts them in again; Meta's `user_preferences` and a 131050 failure opt out too; an
//! agent or admin records an opt-in with its proof; the business API sends a template only if it
//! is synced and approved and, for marketing, only to a contact opted in and not opted out
//! since; the ledger exports as CSV; changes are audited; bad input changes nothing.

mod common;

use std::time::Duration;

use common::console::*;
use serde_json::{Value, json};
use tokio::time::Instant;

const SUPPORT: &str = "support";
const WABA: &str = "102290129340398";

async fn admin(app: &common::TestApp) -> Console {
    Console::login(app, "admin@example.com", DEMO_PASSWORD).await
}

async fn new_key(admin: &Console, app: &common::TestApp, scopes: &[&str]) -> Console {
    let created = expect_status(
        201,
        admin
            .post(
                "/api/v1/admin/api-keys",
                json!({"name": "crm", "scopes": scopes}),
            )
            .await,
    );
    Console::new(app, created["api_key"]["token"].as_str().expect("a token"))
}

async fn templates(who: &Console, query: &str) -> Vec<Value> {
    let body = expect_status(200, who.get(&format!("/api/v1/templates{query}")).await);
    body["templates"].as_array().cloned().unwrap_or_default()
}

fn find<'v>(templates: &'v [Value], name: &str, language: &str) -> Option<&'v Value> {
    templates
        .iter()
        .find(|t| t["name"] == name && t["language"] == language)
}

/// A webhook of the business account (template fields carry no metadata).
fn waba_webhook(field: &str, value: Value) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": WABA, "time": 1750271000,
        "changes": [{"field": field, "value": value}]}]})
}

fn user_preferences(wa_id: &str, value: &str, timestamp: i64) -> Value {
    json!({"object": "whatsapp_business_account", "entry": [{"id": WABA, "changes": [{
        "field": "user_preferences",
        "value": {"messaging_product": "whatsapp",
                  "metadata": {"display_phone_number": "15550783881", "phone_number_id": "106540352242922"},
                  "contacts": [{"wa_id": wa_id}],
                  "user_preferences": [{"wa_id": wa_id, "detail": "User requested via the chat menu",
                                        "category": "marketing_messages", "value": value,
                                        "timestamp": timestamp}]}}]}]})
}

async fn consent_on(who: &Console, contact: &str, channel: &str) -> Value {
    let body = expect_status(
        200,
        who.get(&format!("/api/v1/contacts/{contact}/consent"))
            .await,
    );
    body["consent"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["channel"] == channel).cloned())
        .unwrap_or(Value::Null)
}

/// Wait until the contact's state on `channel` is `state` with `entries` entries in its history.
async fn wait_consent(
    who: &Console,
    contact: &str,
    channel: &str,
    state: &str,
    entries: usize,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let consent = consent_on(who, contact, channel).await;
        if consent["state"] == state && consent["history"].as_array().map(Vec::len) == Some(entries)
        {
            return consent;
        }
        assert!(
            Instant::now() < deadline,
            "{contact} on {channel}: waited for {state} ({entries} entries), have {consent}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A send of a demo template with the parameters it takes (the fake Graph API answers 132000
/// to a template without them, as Meta does).
fn template_send(name: &str, language: &str) -> Value {
    let text = |text: &str| json!({"type": "text", "text": text});
    let components = match name {
        "parcel_update" => json!([{"type": "body", "parameters": [text("PX-1")]}]),
        "spring_sale" | "winter_sale" | "oferta_primavera" => {
            json!([{"type": "body", "parameters": [
            {"type": "text", "parameter_name": "first_name", "text": "Ana"}]}])
        }
        "login_code" => json!([
            {"type": "body", "parameters": [text("123456")]},
            {"type": "button", "sub_type": "url", "index": "0", "parameters": [text("123456")]}
        ]),
        _ => json!([]),
    };
    json!({"channel": SUPPORT, "template": {"name": name, "language": language, "components": components}})
}

/// Templates come from Meta page by page; who may list and sync them; Meta's webhooks pause and
/// re-categorise them; a template gone at Meta is removed by the next sync.
async fn templates_are_synced_and_follow_meta() {
    let app = spawn_console_app(|s| s.templates.page_size = 2).await;
    let admin = admin(&app).await;
    assert!(
        templates(&admin, "").await.is_empty(),
        "nothing before a sync"
    );

    let synced = expect_status(200, admin.post("/api/v1/templates/sync", json!({})).await);
    assert_eq!(synced["failed"], json!([]), "{synced}");
    let reports = synced["synced"].as_array().expect("reports");
    // Both demo numbers belong to the demo business account.
    assert_eq!(reports.len(), 2, "{synced}");
    for report in reports {
        assert_eq!(report["templates"], 7, "{report}");
        assert_eq!(report["pages"], 4, "seven templates, two a page: {report}");
        assert_eq!(report["complete"], true);
    }
    let all = templates(&admin, &format!("?channel={SUPPORT}")).await;
    assert_eq!(all.len(), 7, "{all:#?}");
    let sale = find(&all, "spring_sale", "en_US").expect("spring_sale");
    assert_eq!(sale["category"], "MARKETING");
    assert_eq!(sale["status"], "APPROVED");
    assert_eq!(sale["parameter_format"], "NAMED");
    assert_eq!(sale["components"][1]["type"], "BODY");
    let code = find(&all, "login_code", "en_US").expect("login_code");
    assert_eq!(code["category"], "AUTHENTICATION");
    assert_eq!(
        find(&all, "winter_sale", "en_US").expect("winter")["status"],
        "PENDING"
    );
    assert_eq!(
        templates(&admin, "?category=utility").await.len(),
        6,
        "three, on two numbers"
    );
    assert_eq!(
        templates(&admin, "?status=pending&channel=sales")
            .await
            .len(),
        1
    );
    expect_error(
        400,
        "bad_request",
        admin.get("/api/v1/templates?category=PROMO").await,
    );

    // Who may: supervisors list; agents do not; keys that send (or run campaigns) list, and
    // only admins and campaigns:write keys sync.
    let sam = Console::login(&app, "sam@example.com", DEMO_PASSWORD).await;
    assert_eq!(templates(&sam, "").await.len(), 14);
    expect_error(
        403,
        "forbidden",
        sam.post("/api/v1/templates/sync", json!({})).await,
    );
    let alice = Console::login(&app, "alice@example.com", DEMO_PASSWORD).await;
    expect_error(403, "forbidden", alice.get("/api/v1/templates").await);
    let sender = new_key(&admin, &app, &["messages:send"]).await;
    assert_eq!(templates(&sender, "").await.len(), 14);
    expect_error(
        403,
        "forbidden",
        sender.post("/api/v1/templates/sync", json!({})).await,
    );
    let reader = new_key(&admin, &app, &["contacts:read"]).await;
    expect_error(403, "forbidden", reader.get("/api/v1/templates").await);
    let campaigns = new_key(&admin, &app, &["campaigns:write"]).await;
    let one = expect_status(
        200,
        campaigns
            .post("/api/v1/templates/sync", json!({"channel": "sales"}))
            .await,
    );
    assert_eq!(one["synced"].as_array().map(Vec::len), Some(1), "{one}");
    expect_error(
        422,
        "unknown_channel",
        admin
            .post("/api/v1/templates/sync", json!({"channel": "telegram"}))
            .await,
    );
    expect_error(
        400,
        "bad_request",
        admin
            .post("/api/v1/templates/sync", json!({"chanel": "sales"}))
            .await,
    );

    // Meta pauses parcel_update (en_US) and moves parcel_pending to marketing.
    let paused = waba_webhook(
        "message_template_status_update",
        json!({"event": "PAUSED", "message_template_id": 1000000000000001_u64,
               "message_template_name": "parcel_update", "message_template_language": "en_US",
               "reason": "LOW_QUALITY"}),
    );
    for _ in 0..2 {
        // A redelivery changes nothing more.
        assert_eq!(app.post_json(&paused).await.status(), 200);
    }
    let moved = waba_webhook(
        "template_category_update",
        json!({"message_template_id": "1000000000000003", "message_template_name": "parcel_pending",
               "message_template_language": "es", "previous_category": "UTILITY",
               "new_category": "MARKETING"}),
    );
    assert_eq!(app.post_json(&moved).await.status(), 200);
    for channel in [SUPPORT, "sales"] {
        let now = templates(&admin, &format!("?channel={channel}")).await;
        let update = find(&now, "parcel_update", "en_US").expect("parcel_update");
        assert_eq!(update["status"], "PAUSED", "{update}");
        assert_eq!(update["reason"], "LOW_QUALITY", "{update}");
        assert_eq!(update["category"], "UTILITY");
        let pending = find(&now, "parcel_pending", "es").expect("parcel_pending");
        assert_eq!(pending["category"], "MARKETING", "{pending}");
        assert_eq!(pending["status"], "APPROVED");
    }
    // A paused template is refused to a business system, with its reason.
    let customer = Customer::new(&app, "34600800001");
    customer.says("hi").await;
    customer.wait_for_message(0, "the greeting", |_| true).await;
    let (status, body) = sender
        .post(
            "/api/v1/contacts/34600800001/messages",
            template_send("parcel_update", "en_US"),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("template_not_approved")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("PAUSED") && m.contains("LOW_QUALITY")),
        "{body}"
    );

    // Meta deleted two templates: the next sync removes them.
    let mut kept = app.graph.templates();
    kept.retain(|t| t["name"] != "winter_sale" && t["name"] != "login_code");
    app.graph.set_templates(kept);
    let synced = expect_status(
        200,
        admin
            .post("/api/v1/templates/sync", json!({"channel": SUPPORT}))
            .await,
    );
    assert_eq!(synced["synced"][0]["removed"], 2, "{synced}");
    let now = templates(&admin, &format!("?channel={SUPPORT}")).await;
    assert_eq!(now.len(), 5);
    assert!(find(&now, "login_code", "en_US").is_none());
    // The sync is audited.
    let audit = expect_status(
        200,
        admin.get("/api/v1/admin/audit?action=templates.sync").await,
    );
    assert!(
        audit["entries"].as_array().is_some_and(|e| e.len() >= 3),
        "{audit}"
    );
}

/// The schedule syncs each number's templates without being asked, once per interval.
async fn templates_sync_on_a_schedule() {
    let app = spawn_console_app(|s| {
        s.templates.sync_interval_minutes = 60;
        s.templates.poll_interval_ms = 100;
    })
    .await;
    let admin = admin(&app).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while templates(&admin, "").await.len() < 14 {
        assert!(Instant::now() < deadline, "the schedule synced nothing");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let listings = app.graph.template_listings();
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        app.graph.template_listings(),
        listings,
        "synced once per interval, not at every poll"
    );
}

/// STOP opts out with one confirmation; a second STOP says nothing; START opts in again; the
/// business API's marketing template follows the ledger while utility templates go anyway.
async fn keywords_and_the_consent_rules_for_templates() {
    let app = spawn_console_app(|_| {}).await;
    let admin = admin(&app).await;
    expect_status(200, admin.post("/api/v1/templates/sync", json!({})).await);
    let crm = new_key(&admin, &app, &["messages:send", "contacts:read"]).await;
    let ana = Customer::new(&app, "447700900001");
    ana.says("hi").await;
    ana.wait_for_message(0, "the greeting", |_| true).await;
    // Never opted out: "start" is the bot's word (its menu), not a consent keyword.
    let before = ana.received().len();
    ana.says("start").await;
    ana.wait_for_message(before, "the bot's menu", |_| true)
        .await;
    assert!(
        !ana.texts().iter().any(|t| t.contains("promotions again")),
        "{:#?}",
        ana.texts()
    );
    let path = "/api/v1/contacts/447700900001/messages";

    // Never opted in: no marketing; utility and authentication go; unknown and pending refused.
    let refused = |code: &'static str| {
        move |(status, body): (u16, Value)| {
            assert_eq!(
                (status, body["error"]["code"].as_str()),
                (422, Some(code)),
                "{body}"
            );
        }
    };
    refused("no_consent")(crm.post(path, template_send("spring_sale", "en_US")).await);
    refused("unknown_template")(crm.post(path, template_send("spring_sale", "fr")).await);
    refused("unknown_template")(
        crm.post(path, template_send("no_such_template", "en"))
            .await,
    );
    refused("template_not_approved")(crm.post(path, template_send("winter_sale", "en_US")).await);
    expect_status(
        202,
        crm.post(path, template_send("parcel_update", "en_US"))
            .await,
    );
    expect_status(
        202,
        crm.post(path, template_send("login_code", "en_US")).await,
    );
    let consent = consent_on(&admin, "447700900001", SUPPORT).await;
    assert_eq!(consent["state"], Value::Null, "{consent}");
    assert_eq!(consent["marketing_allowed"], false);
    // The contact's view carries the state per number too.
    let contact = expect_status(200, admin.get("/api/v1/contacts/447700900001").await);
    let numbers = contact["contact"]["consent"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(numbers.len(), 2, "{contact}");
    assert!(numbers.iter().all(|c| c["state"].is_null()), "{contact}");

    // An admin records the opt-in with its proof: marketing goes.
    let recorded = expect_status(
        201,
        admin
            .post(
                "/api/v1/contacts/447700900001/consent",
                json!({"channel": SUPPORT, "proof": "Ticked 'send me offers' on the web form, order 1234"}),
            )
            .await,
    );
    assert_eq!(recorded["entry"]["event"], "opted_in", "{recorded}");
    assert_eq!(recorded["entry"]["source"], "agent");
    assert_eq!(recorded["entry"]["actor"], "user:admin");
    let before = ana.received().len();
    expect_status(
        202,
        crm.post(path, template_send("spring_sale", "en_US")).await,
    );
    ana.wait_for_message(before, "the marketing template", |m| {
        m["template"]["name"] == "spring_sale"
    })
    .await;

    // STOP: opted out, one confirmation; a second STOP: nothing more.
    let stop_reply = "You will no longer receive promotions from us.";
    ana.says("STOP").await;
    ana.wait_for_text(stop_reply).await;
    let consent = wait_consent(&admin, "447700900001", SUPPORT, "opted_out", 2).await;
    let contact = expect_status(200, crm.get("/api/v1/contacts/447700900001").await);
    assert!(
        contact["contact"]["consent"].as_array().is_some_and(|c| c
            .iter()
            .any(|c| c["channel"] == SUPPORT && c["state"] == "opted_out")),
        "{contact}"
    );
    assert_eq!(consent["history"][1]["source"], "keyword", "{consent}");
    assert_eq!(consent["history"][1]["proof"], "STOP");
    assert_eq!(consent["history"][1]["actor"], Value::Null);
    ana.says("stop!").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    wait_consent(&admin, "447700900001", SUPPORT, "opted_out", 2).await;
    let stops = ana
        .texts()
        .iter()
        .filter(|t| t.contains(stop_reply))
        .count();
    assert_eq!(stops, 1, "one confirmation: {:#?}", ana.texts());
    refused("opted_out")(crm.post(path, template_send("spring_sale", "en_US")).await);
    // Meta's stop blocks marketing only: a utility template still goes.
    expect_status(
        202,
        crm.post(path, template_send("parcel_update", "en_US"))
            .await,
    );
    // Opted out on support only: the sales number never had consent either way.
    let sales = consent_on(&admin, "447700900001", "sales").await;
    assert_eq!(sales["state"], Value::Null, "{sales}");

    // START: opted in again, confirmed.
    ana.says("Start").await;
    ana.wait_for_text("You will receive our promotions again.")
        .await;
    wait_consent(&admin, "447700900001", SUPPORT, "opted_in", 3).await;
    let before = ana.received().len();
    expect_status(
        202,
        crm.post(path, template_send("spring_sale", "en_US")).await,
    );
    let sent = ana
        .wait_for_message(before, "the marketing template again", |m| {
            m["template"]["name"] == "spring_sale"
        })
        .await;
    // Meta accepted it, then its status fails with 131050: an opt-out (once, whatever the
    // redeliveries).
    let wamid = app
        .graph
        .requests()
        .iter()
        .rev()
        .find(|r| r.body == sent)
        .and_then(|r| r.wamid().map(str::to_owned))
        .expect("the template's wamid");
    let mut failed = common::status_webhook("447700900001", &wamid, "failed");
    failed["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"] = json!([{
        "code": 131050, "title": "Unable to deliver the message", "message": "User stopped marketing messages"
    }]);
    for _ in 0..2 {
        assert_eq!(app.post_json(&failed).await.status(), 200);
    }
    let consent = wait_consent(&admin, "447700900001", SUPPORT, "opted_out", 4).await;
    assert_eq!(consent["history"][3]["source"], "error_131050", "{consent}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    wait_consent(&admin, "447700900001", SUPPORT, "opted_out", 4).await;
    // The keywords never reached the bot as answers: it said nothing else about them.
    assert!(
        !ana.texts()
            .iter()
            .any(|t| t.contains("didn't understand") || t.contains("did not understand")),
        "{:#?}",
        ana.texts()
    );
}

/// A Spanish customer's BAJA is confirmed in Spanish; Meta's user_preferences stop and resume,
/// and a 131050 failure, are in the ledger; the ledger exports; the record is audited.
async fn meta_opt_outs_and_the_export() {
    let app = spawn_console_app(|_| {}).await;
    let admin = admin(&app).await;
    expect_status(200, admin.post("/api/v1/templates/sync", json!({})).await);
    let crm = new_key(&admin, &app, &["messages:send", "contacts:write"]).await;

    let lucia = Customer::new(&app, "34600900002");
    lucia.says("BAJA").await;
    lucia
        .wait_for_text("Ya no recibirás nuestras promociones")
        .await;
    let consent = wait_consent(&admin, "34600900002", SUPPORT, "opted_out", 1).await;
    assert_eq!(consent["history"][0]["source"], "keyword");
    lucia.says("baja").await;
    lucia.says("ALTA").await;
    lucia
        .wait_for_text("Volverás a recibir nuestras promociones")
        .await;
    wait_consent(&admin, "34600900002", SUPPORT, "opted_in", 2).await;
    assert_eq!(
        lucia
            .texts()
            .iter()
            .filter(|t| t.contains("Ya no recibirás"))
            .count(),
        1
    );

    // Meta: "stop promotions", then "resume" (each redelivered once: recorded once).
    let stop = user_preferences("34600900002", "stop", 1_750_272_000);
    for _ in 0..2 {
        assert_eq!(app.post_json(&stop).await.status(), 200);
    }
    let consent = wait_consent(&admin, "34600900002", SUPPORT, "opted_out", 3).await;
    assert_eq!(
        consent["history"][2]["source"], "user_preferences",
        "{consent}"
    );
    assert_eq!(
        consent["history"][2]["proof"],
        "User requested via the chat menu"
    );
    let resume = user_preferences("34600900002", "resume", 1_750_272_100);
    assert_eq!(app.post_json(&resume).await.status(), 200);
    wait_consent(&admin, "34600900002", SUPPORT, "opted_in", 4).await;

    // The marketing template fails with 131050: an opt-out, once.
    app.graph.fail_next(Some("34600900002"), 131050, 400, 1);
    expect_status(
        202,
        crm.post(
            "/api/v1/contacts/34600900002/messages",
            template_send("oferta_primavera", "es"),
        )
        .await,
    );
    let consent = wait_consent(&admin, "34600900002", SUPPORT, "opted_out", 5).await;
    assert_eq!(consent["history"][4]["source"], "error_131050", "{consent}");

    // A key records an opt-in from its web form; a keyword source cannot be forged; bad input
    // changes nothing.
    let recorded = expect_status(
        201,
        crm.post(
            "/api/v1/contacts/34600900002/consent",
            json!({"channel": SUPPORT, "source": "web_form", "proof": "form #77, 2026-12-06"}),
        )
        .await,
    );
    assert_eq!(recorded["entry"]["source"], "web_form");
    assert!(
        recorded["entry"]["actor"]
            .as_str()
            .is_some_and(|a| a.starts_with("key:"))
    );
    for (body, status, code) in [
        (
            json!({"channel": SUPPORT, "source": "keyword", "proof": "x"}),
            400,
            "bad_request",
        ),
        (json!({"channel": SUPPORT}), 400, "bad_request"),
        (
            json!({"channel": SUPPORT, "proof": "  "}),
            400,
            "bad_request",
        ),
        (
            json!({"channel": SUPPORT, "proof": "x".repeat(2001)}),
            400,
            "bad_request",
        ),
        (
            json!({"channel": SUPPORT, "proof": "x", "extra": 1}),
            400,
            "bad_request",
        ),
        (
            json!({"channel": "nowhere", "proof": "x"}),
            422,
            "unknown_channel",
        ),
        (
            json!({"channel": "telegram", "proof": "x"}),
            422,
            "not_whatsapp",
        ),
        (
            json!({"channel": SUPPORT, "event": "maybe", "proof": "x"}),
            400,
            "bad_request",
        ),
    ] {
        expect_error(
            status,
            code,
            crm.post("/api/v1/contacts/34600900002/consent", body).await,
        );
    }
    expect_error(
        404,
        "not_found",
        crm.post(
            "/api/v1/contacts/34999999999/consent",
            json!({"channel": SUPPORT, "proof": "x"}),
        )
        .await,
    );
    wait_consent(&admin, "34600900002", SUPPORT, "opted_in", 6).await;
    // An agent without a conversation with the contact does not see it.
    let carla = Console::login(&app, "carla@example.com", DEMO_PASSWORD).await;
    expect_error(
        404,
        "not_found",
        carla.get("/api/v1/contacts/34600900002/consent").await,
    );

    // The export: every entry, admins only, audited.
    let response = reqwest::Client::new()
        .get(format!("{}/api/v1/consent.csv", app.address))
        .bearer_auth(admin.token())
        .send()
        .await
        .expect("the export answers");
    assert_eq!(response.status(), 200);
    let csv = response.text().await.expect("csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0], "seq,id,at,channel,address,event,source,proof,actor",
        "{csv}"
    );
    assert_eq!(lines.len(), 7, "{csv}");
    assert!(lines[5].contains("error_131050"), "{csv}");
    expect_error(403, "forbidden", crm.get("/api/v1/consent.csv").await);
    let sam = Console::login(&app, "sam@example.com", DEMO_PASSWORD).await;
    expect_error(403, "forbidden", sam.get("/api/v1/consent.csv").await);
    for action in ["consent.record", "consent.export"] {
        let audit = expect_status(
            200,
            admin
                .get(&format!("/api/v1/admin/audit?action={action}"))
                .await,
        );
        assert!(
            audit["entries"].as_array().is_some_and(|e| !e.is_empty()),
            "{action}: {audit}"
        );
    }
}

/// Erasing a contact keeps its ledger entries (the history of what was agreed) under the opaque
/// id, without their proof; nothing is sent to it any more.
async fn an_erased_contact_keeps_no_proof() {
    let app = spawn_console_app(|_| {}).await;
    let admin = admin(&app).await;
    let id = admin
        .opted_in_contact("34600950003", "Eva", SUPPORT, "Eva said yes on the phone")
        .await;
    let erased = expect_status(
        200,
        admin
            .post(
                &format!("/api/v1/contacts/{id}/erase"),
                json!({"reason": "the customer asked"}),
            )
            .await,
    );
    assert_eq!(erased["erased"]["consent"], 1, "{erased}");
    let opaque = erased["erased"]["id"].as_str().expect("the opaque id");
    expect_error(
        404,
        "not_found",
        admin.get(&format!("/api/v1/contacts/{id}/consent")).await,
    );
    let csv = reqwest::Client::new()
        .get(format!("{}/api/v1/consent.csv", app.address))
        .bearer_auth(admin.token())
        .send()
        .await
        .expect("the export answers")
        .text()
        .await
        .expect("csv");
    assert!(!csv.contains("34600950003"), "{csv}");
    assert!(!csv.contains("Eva said yes"), "{csv}");
    assert!(csv.contains(opaque), "{csv}");
}

in_both_modes!(
    an_erased_contact_keeps_no_proof,
    templates_are_synced_and_follow_meta,
    templates_sync_on_a_schedule,
    keywords_and_the_consent_rules_for_templates,
    meta_opt_outs_and_the_export,
);
