//! Country rules and the messaging limit of template sends, end to end over HTTP, in both
//! modes, driven like a business system and Meta would (docs/CAMPAIGNS.md): a marketing
//! template never goes to a United States number while Meta's pause lasts, yet goes to a
//! Canadian +1 number; a denied country gets no marketing, a utility template still goes; and
//! once the portfolio's messaging limit of unique customers is reached outside their service
//! window, a template to a new customer is refused with 429 and Retry-After, nothing sent,
//! while customers already reached, and customers inside their window, still get theirs; and
//! a template Meta answers 131049 to is sent again after each wait, never at once.

mod common;

use std::time::Duration;

use common::console::*;
use serde_json::{Value, json};
use switchboard::campaigns::policy::{LimitSetting, MessagingLimit};
use switchboard::domain::CustomerId;
use switchboard::fakes::graph::RecordedSend;

const SUPPORT: &str = "support";
const NEW_YORK: &str = "12125550123";
const TORONTO: &str = "14165550123";
const JAMAICA: &str = "18765550123";

async fn admin(app: &common::TestApp) -> Console {
    Console::login(app, "admin@example.com", DEMO_PASSWORD).await
}

async fn send_key(admin: &Console, app: &common::TestApp) -> Console {
    let created = expect_status(
        201,
        admin
            .post(
                "/api/v1/admin/api-keys",
                json!({"name": "crm", "scopes": ["messages:send", "contacts:read"]}),
            )
            .await,
    );
    Console::new(app, created["api_key"]["token"].as_str().expect("a token"))
}

/// A contact with `phone`, opted in to marketing on the support number; its id.
async fn opted_in_contact(admin: &Console, phone: &str) -> String {
    admin
        .opted_in_contact(
            phone,
            &format!("Customer {phone}"),
            SUPPORT,
            "Signed up for offers at the shop",
        )
        .await
}

/// A send of a demo template with the parameters it takes (the fake Graph API answers 132000
/// to a template without them, as Meta does).
fn template(name: &str) -> Value {
    let components = match name {
        "parcel_update" => {
            json!([{"type": "body", "parameters": [{"type": "text", "text": "PX-1"}]}])
        }
        "spring_sale" | "winter_sale" => json!([{"type": "body", "parameters": [
            {"type": "text", "parameter_name": "first_name", "text": "Ana"}]}]),
        _ => json!([]),
    };
    json!({"channel": SUPPORT, "template": {"name": name, "language": "en_US", "components": components}})
}

async fn send(crm: &Console, contact: &str, name: &str) -> (u16, Value) {
    crm.post(
        &format!("/api/v1/contacts/{contact}/messages"),
        template(name),
    )
    .await
}

fn refused(code: &str, (status, body): (u16, Value)) {
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some(code)),
        "{body}"
    );
}

/// Wait until the fake Graph API accepted `n` template messages for `to`.
async fn wait_templates(app: &common::TestApp, to: &str, n: usize) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let sent: Vec<Value> = app
            .graph
            .messages_to(to)
            .into_iter()
            .filter(|m| m["type"] == "template")
            .collect();
        if sent.len() >= n {
            return sent;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{to}: waited for {n} templates, have {sent:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The +1 countries are told apart by number: the US pause stops marketing to New York, not to
/// Toronto; the deny list stops marketing to Jamaica; utility templates go to all.
async fn countries_decide_marketing_by_number() {
    let app = spawn_console_app(|s| {
        s.campaigns.marketing_countries.deny = vec!["jm".into()];
    })
    .await;
    let admin = admin(&app).await;
    expect_status(200, admin.post("/api/v1/templates/sync", json!({})).await);
    let crm = send_key(&admin, &app).await;
    let new_york = opted_in_contact(&admin, NEW_YORK).await;
    let toronto = opted_in_contact(&admin, TORONTO).await;
    let jamaica = opted_in_contact(&admin, JAMAICA).await;

    refused(
        "us_marketing_paused",
        send(&crm, &new_york, "spring_sale").await,
    );
    refused("country_denied", send(&crm, &jamaica, "spring_sale").await);
    expect_status(202, send(&crm, &toronto, "spring_sale").await);
    for contact in [&new_york, &jamaica] {
        expect_status(202, send(&crm, contact, "parcel_update").await);
    }

    let to_toronto = wait_templates(&app, TORONTO, 1).await;
    assert_eq!(to_toronto[0]["template"]["name"], "spring_sale");
    for to in [NEW_YORK, JAMAICA] {
        let sent = wait_templates(&app, to, 1).await;
        assert_eq!(sent.len(), 1, "{to}: {sent:?}");
        assert_eq!(sent[0]["template"]["name"], "parcel_update", "{to}");
    }
}

/// A limit of two customers: a third is refused (429, Retry-After about 24 hours) and nothing
/// leaves for them; a customer already reached is sent again; a customer who wrote (their
/// window open) gets a template without counting.
async fn the_messaging_limit_is_never_exceeded() {
    let app = spawn_console_app(|s| {
        s.campaigns.messaging_limit = LimitSetting::Fixed(MessagingLimit::Customers(2));
    })
    .await;
    let admin = admin(&app).await;
    expect_status(200, admin.post("/api/v1/templates/sync", json!({})).await);
    let crm = send_key(&admin, &app).await;
    let first = opted_in_contact(&admin, "34600700001").await;
    let second = opted_in_contact(&admin, "34600700002").await;
    let third = opted_in_contact(&admin, "34600700003").await;

    expect_status(202, send(&crm, &first, "parcel_update").await);
    expect_status(202, send(&crm, &second, "spring_sale").await);
    let (status, body) = send(&crm, &third, "parcel_update").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("messaging_limit")),
        "{body}"
    );
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("2 customers"), "{message}");
    // Retry-After: when the first customer leaves the 24-hour window.
    let response = reqwest::Client::new()
        .post(format!("{}/api/v1/contacts/{third}/messages", app.address))
        .bearer_auth(crm.token())
        .json(&template("parcel_update"))
        .send()
        .await
        .expect("the send answers");
    assert_eq!(response.status(), 429);
    let retry_after: u64 = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds");
    assert!(
        (23 * 3600..=24 * 3600).contains(&retry_after),
        "{retry_after}"
    );

    // Already reached: counted once, sent again.
    expect_status(202, send(&crm, &first, "parcel_update").await);
    assert_eq!(wait_templates(&app, "34600700001", 2).await.len(), 2);
    wait_templates(&app, "34600700002", 1).await;

    // A customer who writes opens their window: a template inside it is a reply, not reach.
    let writer = Customer::new(&app, "34600700004");
    writer.says("hola").await;
    writer.wait_for_message(0, "the greeting", |_| true).await;
    let writer_id = opted_in_contact(&admin, "34600700004").await;
    expect_status(202, send(&crm, &writer_id, "parcel_update").await);
    wait_templates(&app, "34600700004", 1).await;

    // The third customer got nothing, then or since.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(app.graph.messages_to("34600700003").is_empty());
    // Nor was a conversation opened for them.
    let opened = app
        .handle
        .store
        .customer_conversations(&CustomerId::new("34600700003"), 5)
        .await
        .expect("the store answers");
    assert!(opened.is_empty(), "{opened:?}");
    let (status, _) = send(&crm, &third, "parcel_update").await;
    assert_eq!(status, 429);
}

/// By default the limit is Meta's: the number's tier, read with the template sync. At
/// TIER_250, 250 customers get a template outside their window and the 251st does not.
async fn the_limit_is_meta_s_tier() {
    let app = spawn_console_app(|s| {
        // 251 sends in a few seconds: past the key's default request rate otherwise.
        s.api_keys.requests_per_minute = 100_000;
        s.api_keys.burst = 1_000;
    })
    .await;
    app.graph.set_messaging_limit("TIER_250");
    let admin = admin(&app).await;
    let synced = expect_status(200, admin.post("/api/v1/templates/sync", json!({})).await);
    let reports = synced["synced"].as_array().cloned().unwrap_or_default();
    assert!(
        !reports.is_empty() && reports.iter().all(|r| r["messaging_limit"] == "TIER_250"),
        "{synced}"
    );
    let crm = send_key(&admin, &app).await;
    let mut ids = Vec::new();
    for i in 0..251 {
        let upserted = admin
            .put(
                "/api/v1/contacts",
                json!({"match": {"phone": format!("34601{i:06}")}, "set": {"name": format!("C{i}")}}),
            )
            .await;
        assert!((200..300).contains(&upserted.0), "{upserted:?}");
        ids.push(
            upserted.1["contact"]["id"]
                .as_str()
                .expect("an id")
                .to_owned(),
        );
    }
    for chunk in ids[..250].chunks(25) {
        let sends = chunk.iter().map(|id| send(&crm, id, "parcel_update"));
        for (status, body) in futures::future::join_all(sends).await {
            assert_eq!(status, 202, "{body}");
        }
    }
    let (status, body) = send(&crm, &ids[250], "parcel_update").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (429, Some("messaging_limit")),
        "{body}"
    );
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("250 customers")),
        "{body}"
    );
    // Meta raises the tier: the next sync reads it, the 251st goes.
    app.graph.set_messaging_limit("TIER_2K");
    expect_status(200, admin.post("/api/v1/templates/sync", json!({})).await);
    expect_status(202, send(&crm, &ids[250], "parcel_update").await);
}

/// The template requests the fake received for `to` (accepted or not), once there are `n`.
async fn wait_requests(app: &common::TestApp, to: &str, n: usize) -> Vec<RecordedSend> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let sent: Vec<RecordedSend> = app
            .graph
            .requests()
            .into_iter()
            .filter(|r| r.to() == Some(to) && r.body["type"] == "template")
            .collect();
        if sent.len() >= n {
            return sent;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{to}: waited for {n} template requests, have {}",
            sent.len()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Meta's failed status with 131049 for the message Meta accepted as `request`.
async fn fail_with_131049(app: &common::TestApp, to: &str, request: &RecordedSend) {
    let wamid = request.wamid().expect("a wamid");
    let mut failed = common::status_webhook(to, wamid, "failed");
    failed["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"] = json!([{
        "code": 131049, "title": "This message was not delivered to maintain healthy ecosystem engagement."
    }]);
    // Delivered twice, as Meta may: still one retry.
    for _ in 0..2 {
        assert_eq!(app.post_json(&failed).await.status(), 200);
    }
}

/// 131049 (by the status webhook, or answered at once) is sent again after each wait, never at
/// once, once per failure whatever the redeliveries; after the last wait it is given up; a
/// customer who stopped marketing meanwhile gets no retry.
async fn a_131049_is_sent_again_later_never_at_once() {
    const WAITS: [u64; 2] = [300, 600];
    let app = spawn_console_app(|s| {
        s.campaigns.retry_131049_ms = WAITS.to_vec();
        s.campaigns.retry_poll_interval_ms = 50;
    })
    .await;
    let admin = admin(&app).await;
    expect_status(200, admin.post("/api/v1/templates/sync", json!({})).await);
    let crm = send_key(&admin, &app).await;

    // Through the status webhook, three times: two retries, then given up.
    let ana = "34600710001";
    let ana_id = opted_in_contact(&admin, ana).await;
    expect_status(202, send(&crm, &ana_id, "spring_sale").await);
    let mut seen = wait_requests(&app, ana, 1).await;
    for (attempt, wait) in WAITS.iter().enumerate() {
        let failed_at = std::time::Instant::now();
        fail_with_131049(&app, ana, &seen[attempt]).await;
        seen = wait_requests(&app, ana, attempt + 2).await;
        let retry = &seen[attempt + 1];
        assert!(
            retry.received >= failed_at + Duration::from_millis(*wait),
            "retry {} came {:?} after the failure, before its wait of {wait} ms",
            attempt + 1,
            retry.received - failed_at
        );
        assert_eq!(retry.body["template"], seen[0].body["template"]);
        assert_ne!(retry.wamid(), seen[attempt].wamid());
    }
    fail_with_131049(&app, ana, &seen[2]).await;
    tokio::time::sleep(Duration::from_millis(WAITS[1] * 2 + 300)).await;
    assert_eq!(wait_requests(&app, ana, 3).await.len(), 3, "given up");

    // Answered at once with 131049: the same, later.
    let bea = "34600710002";
    let bea_id = opted_in_contact(&admin, bea).await;
    app.graph.fail_next(Some(bea), 131049, 400, 1);
    let asked = std::time::Instant::now();
    expect_status(202, send(&crm, &bea_id, "spring_sale").await);
    let sent = wait_requests(&app, bea, 2).await;
    assert!(!sent[0].accepted() && sent[1].accepted(), "{sent:?}");
    assert!(sent[1].received >= asked + Duration::from_millis(WAITS[0]));

    // Opted out before the retry is due: refused, nothing more sent.
    let cai = "34600710003";
    let cai_id = opted_in_contact(&admin, cai).await;
    expect_status(202, send(&crm, &cai_id, "spring_sale").await);
    let first = wait_requests(&app, cai, 1).await;
    // STOP, a word of every language, from a customer of no known language: the bot's default
    // language confirms it.
    let customer = Customer::new(&app, cai);
    customer.says("STOP").await;
    customer
        .wait_for_message(0, "the stop confirmation", |m| {
            m["text"]["body"]
                .as_str()
                .is_some_and(|t| t.contains("no longer receive promotions"))
        })
        .await;
    fail_with_131049(&app, cai, &first[0]).await;
    tokio::time::sleep(Duration::from_millis(WAITS[0] + 500)).await;
    assert_eq!(wait_requests(&app, cai, 1).await.len(), 1);
}

in_both_modes!(
    countries_decide_marketing_by_number,
    the_messaging_limit_is_never_exceeded,
    a_131049_is_sent_again_later_never_at_once,
    the_limit_is_meta_s_tier,
);
