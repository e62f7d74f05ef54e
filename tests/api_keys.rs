//! Business systems' API keys, end to end over HTTP, in both modes: an admin creates, lists,
//! rotates and revokes keys (the token shown once); each route family refuses a key without
//! its scope (403) and every console route refuses any key; an unknown or revoked key is 401
//! through the failed-authentication throttle; a key past its rate is 429 with Retry-After;
//! what a key does is audited with the key as the actor; a key upserts a contact by phone, then
//! by identity, then by email; a tag a key pushes makes a routing rule match at the next
//! handoff.

mod common;

use common::console::*;
use serde_json::{Value, json};

const SUPPORT: &str = "support";

async fn admin(app: &common::TestApp) -> Console {
    Console::login(app, "admin@example.com", DEMO_PASSWORD).await
}

/// A new key with these scopes: its id and token.
async fn new_key(admin: &Console, name: &str, scopes: &[&str]) -> (String, String) {
    let created = expect_status(
        201,
        admin
            .post(
                "/api/v1/admin/api-keys",
                json!({"name": name, "scopes": scopes}),
            )
            .await,
    );
    let key = &created["api_key"];
    let id = key["id"].as_str().expect("an id").to_owned();
    let token = key["token"].as_str().expect("a token").to_owned();
    (id, token)
}

async fn audit(admin: &Console, query: &str) -> Vec<Value> {
    let body = expect_status(
        200,
        admin.get(&format!("/api/v1/admin/audit?{query}")).await,
    );
    body["entries"].as_array().cloned().unwrap_or_default()
}

async fn keys_are_created_listed_rotated_and_revoked() {
    let app = spawn_console_app(|_| {}).await;
    let admin = admin(&app).await;
    let created = expect_status(
        201,
        admin
            .post(
                "/api/v1/admin/api-keys",
                json!({"name": " Ticketing ", "scopes": ["contacts:read", "contacts:read"]}),
            )
            .await,
    );
    let key = &created["api_key"];
    let id = key["id"].as_str().expect("an id").to_owned();
    let token = key["token"].as_str().expect("a token").to_owned();
    assert!(
        token.starts_with("sbk_") && token.len() == 4 + 64,
        "{token}"
    );
    assert_eq!(key["scopes"], json!(["contacts:read"]));
    assert_eq!(key["name"], "Ticketing");
    assert_eq!(key["created_by"], "admin");

    // Bad definitions are refused and create nothing.
    for bad in [
        json!({"name": "x", "scopes": ["contacts:read", "contacts:delete"]}),
        json!({"name": "x", "scopes": []}),
        json!({"name": "", "scopes": ["contacts:read"]}),
        json!({"scopes": ["contacts:read"]}),
        json!({"name": "x", "scopes": ["contacts:read"], "owner": "me"}),
    ] {
        expect_status(400, admin.post("/api/v1/admin/api-keys", bad).await);
    }
    // Only admins manage keys, and never a key itself.
    let sam = Console::login(&app, "sam@example.com", DEMO_PASSWORD).await;
    expect_status(403, sam.get("/api/v1/admin/api-keys").await);
    expect_status(
        403,
        sam.post(
            "/api/v1/admin/api-keys",
            json!({"name": "x", "scopes": ["contacts:read"]}),
        )
        .await,
    );
    let crm = Console::new(&app, &token);
    expect_status(403, crm.get("/api/v1/admin/api-keys").await);

    // The list never shows a token again.
    let listed = expect_status(200, admin.get("/api/v1/admin/api-keys").await);
    let keys = listed["api_keys"].as_array().cloned().unwrap_or_default();
    assert_eq!(keys.len(), 1, "{listed}");
    assert!(keys[0].get("token").is_none(), "{listed}");
    assert!(!listed.to_string().contains(&token), "{listed}");
    assert_eq!(keys[0]["active"], true);
    let shown = expect_status(
        200,
        admin.get(&format!("/api/v1/admin/api-keys/{id}")).await,
    );
    assert!(!shown.to_string().contains(&token), "{shown}");
    expect_status(404, admin.get("/api/v1/admin/api-keys/key_nope").await);

    // The key works; its use is recorded (at most once a minute).
    expect_status(200, crm.get("/api/v1/contacts").await);
    let mut last_used = Value::Null;
    let until = tokio::time::Instant::now() + WAIT;
    while last_used.is_null() && tokio::time::Instant::now() < until {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let shown = expect_status(
            200,
            admin.get(&format!("/api/v1/admin/api-keys/{id}")).await,
        );
        last_used = shown["api_key"]["last_used_at"].clone();
    }
    assert!(last_used.as_i64().is_some_and(|t| t > 0), "{last_used}");

    // A rotation: a new token; the old one stops at once.
    let rotated = expect_status(
        200,
        admin
            .post_empty(&format!("/api/v1/admin/api-keys/{id}/rotate"))
            .await,
    );
    let fresh = rotated["api_key"]["token"]
        .as_str()
        .expect("a new token")
        .to_owned();
    assert_ne!(fresh, token);
    assert_eq!(rotated["api_key"]["id"], id.as_str());
    expect_status(401, crm.get("/api/v1/contacts").await);
    let crm = Console::new(&app, &fresh);
    expect_status(200, crm.get("/api/v1/contacts").await);

    // A revocation: 401 from then on; the key stays listed, inactive; it cannot come back.
    let revoked = expect_status(
        200,
        admin.delete(&format!("/api/v1/admin/api-keys/{id}")).await,
    );
    assert_eq!(revoked["api_key"]["active"], false);
    expect_status(401, crm.get("/api/v1/contacts").await);
    expect_status(
        409,
        admin.delete(&format!("/api/v1/admin/api-keys/{id}")).await,
    );
    expect_status(
        409,
        admin
            .post_empty(&format!("/api/v1/admin/api-keys/{id}/rotate"))
            .await,
    );
    expect_status(404, admin.delete("/api/v1/admin/api-keys/key_nope").await);

    // Every change is audited, by the admin who made it; the key's read, by the key.
    let changes: Vec<String> = audit(&admin, "action=api_key.")
        .await
        .iter()
        .filter(|e| e["action"] != "api_key.read")
        .map(|e| {
            assert_eq!(e["actor"], "admin", "{e}");
            assert_eq!(e["target"], id.as_str(), "{e}");
            e["action"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(
        changes,
        ["api_key.revoke", "api_key.rotate", "api_key.create"]
    );
    let reads = audit(&admin, "action=api_key.read").await;
    assert!(!reads.is_empty());
    assert!(
        reads.iter().all(|e| e["actor_kind"] == "api_key"
            && e["actor"] == id.as_str()
            && e["target"] == "/api/v1/contacts"),
        "{reads:?}"
    );
}

async fn each_route_family_wants_its_scope() {
    let app = spawn_console_app(|_| {}).await;
    let admin = admin(&app).await;
    let customer = Customer::new(&app, "34600800001");
    let conversation = customer.hands_off_to(SUPPORT).await;
    let one = format!("/api/v1/conversations/{conversation}");
    let contact = "/api/v1/contacts/34600800001";
    let upsert = json!({"match": {"phone": "34600800001"}, "set": {"tags": ["x"]}});
    let hook = json!({"url": "https://crm.example.com/hooks", "events": ["contact.updated"]});

    // Scopes with no route yet open none.
    let (_, token) = new_key(&admin, "later", &["reports:read", "campaigns:write"]).await;
    let later = Console::new(&app, &token);
    expect_status(403, later.get("/api/v1/contacts").await);
    expect_status(403, later.get(contact).await);
    expect_status(403, later.patch(contact, json!({"tags": ["x"]})).await);
    expect_status(403, later.put("/api/v1/contacts", upsert.clone()).await);
    expect_status(403, later.get("/api/v1/webhooks").await);
    expect_status(403, later.post("/api/v1/webhooks", hook.clone()).await);
    expect_status(403, later.get("/api/v1/conversations").await);
    expect_status(403, later.get(&one).await);

    // Reading is not writing.
    let (_, token) = new_key(&admin, "reader", &["contacts:read"]).await;
    let reader = Console::new(&app, &token);
    let read = expect_status(200, reader.get(contact).await);
    assert_eq!(read["contact"]["id"], "34600800001");
    expect_status(200, reader.get("/api/v1/contacts").await);
    expect_status(403, reader.patch(contact, json!({"tags": ["x"]})).await);
    expect_status(403, reader.put("/api/v1/contacts", upsert.clone()).await);
    expect_status(403, reader.get("/api/v1/webhooks").await);
    expect_status(403, reader.get("/api/v1/conversations").await);

    // Writing is not reading.
    let (_, token) = new_key(&admin, "writer", &["contacts:write"]).await;
    let writer = Console::new(&app, &token);
    expect_status(403, writer.get("/api/v1/contacts").await);
    expect_status(403, writer.get(contact).await);
    expect_status(200, writer.patch(contact, json!({"tags": ["x"]})).await);
    expect_status(200, writer.put("/api/v1/contacts", upsert.clone()).await);

    // Webhooks: created by a key, audited as the key's.
    let (hooks_id, token) = new_key(&admin, "hooks", &["webhooks:manage"]).await;
    let hooks = Console::new(&app, &token);
    expect_status(403, hooks.get("/api/v1/contacts").await);
    let created = expect_status(201, hooks.post("/api/v1/webhooks", hook).await);
    let webhook = created["webhook"]["id"].as_str().expect("an id").to_owned();
    expect_status(200, hooks.get("/api/v1/webhooks").await);
    expect_status(200, hooks.get(&format!("/api/v1/webhooks/{webhook}")).await);
    let entries = audit(&admin, "action=webhook.create").await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["actor_kind"], "api_key");
    assert_eq!(entries[0]["actor"], hooks_id.as_str());
    assert_eq!(entries[0]["token"], hooks_id.as_str());

    // No key gets a console route, whatever its scopes.
    let (_, token) = new_key(
        &admin,
        "everything",
        &[
            "contacts:read",
            "contacts:write",
            "conversations:read",
            "messages:send",
            "webhooks:manage",
            "reports:read",
            "campaigns:write",
        ],
    )
    .await;
    let all = Console::new(&app, &token);
    // conversations:read: every team's conversations, with the console's filters.
    let listed = expect_status(200, all.get("/api/v1/conversations?team=support").await);
    assert!(
        listed["conversations"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["id"] == conversation.as_str())),
        "{listed}"
    );
    let shown = expect_status(200, all.get(&one).await);
    assert_eq!(shown["conversation"]["id"], conversation.as_str());
    expect_status(400, all.get("/api/v1/conversations?assignee=me").await);
    expect_status(
        404,
        all.get("/api/v1/conversations/no-such-conversation").await,
    );
    // The console's own routes: never.
    expect_status(403, all.get("/api/v1/me").await);
    expect_status(
        403,
        all.put("/api/v1/me/presence", json!({"presence": "online"}))
            .await,
    );
    expect_status(
        403,
        all.post(&format!("{one}/notes"), json!({"text": "x"}))
            .await,
    );
    expect_status(403, all.get("/api/v1/teams").await);
    expect_status(403, all.get("/api/v1/admin/audit").await);
    expect_status(403, all.get("/api/v1/contacts/export.csv").await);
    let socket = app
        .client
        .get(format!("{}/api/v1/ws?access_token={token}", app.address))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .send()
        .await
        .expect("an answer");
    assert_eq!(socket.status().as_u16(), 403);
    // A person's route still works for people.
    expect_status(200, admin.get("/api/v1/webhooks").await);
}

/// An unknown or revoked key is 401, counted by the failed-authentication throttle (429 past
/// it, with Retry-After).
async fn unknown_keys_are_401_then_throttled() {
    let app = spawn_console_app(|s| s.security.auth_failures_per_credential = 3).await;
    let guess = format!("sbk_{}", "0".repeat(64));
    let guesser = Console::new(&app, &guess);
    for _ in 0..3 {
        expect_error(401, "unauthorized", guesser.get("/api/v1/contacts").await);
    }
    let refused = app
        .client
        .get(format!("{}/api/v1/contacts", app.address))
        .bearer_auth(&guess)
        .send()
        .await
        .expect("an answer");
    assert_eq!(refused.status().as_u16(), 429);
    assert!(refused.headers().contains_key("retry-after"));
    // On a console route too.
    expect_status(429, guesser.get("/api/v1/me").await);
}

/// Past its rate a key is 429 with Retry-After; other keys are not slowed.
async fn a_key_past_its_rate_waits() {
    let app = spawn_console_app(|s| {
        s.api_keys.requests_per_minute = 1;
        s.api_keys.burst = 2;
    })
    .await;
    let admin = admin(&app).await;
    let (_, busy) = new_key(&admin, "busy", &["contacts:read"]).await;
    let (_, calm) = new_key(&admin, "calm", &["contacts:read"]).await;
    let busy = Console::new(&app, &busy);
    expect_status(200, busy.get("/api/v1/contacts").await);
    expect_status(200, busy.get("/api/v1/contacts").await);
    let refused = app
        .client
        .get(format!("{}/api/v1/contacts", app.address))
        .bearer_auth(busy.token())
        .send()
        .await
        .expect("an answer");
    assert_eq!(refused.status().as_u16(), 429);
    let wait: u64 = refused
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("a Retry-After in seconds");
    assert!((1..=60).contains(&wait), "{wait}");
    let body: Value = refused.json().await.expect("a JSON error");
    assert_eq!(body["error"]["code"], "rate_limited");
    expect_status(200, Console::new(&app, &calm).get("/api/v1/contacts").await);
}

/// A delivery system pushes "parcel pending" onto a contact it knows by phone (created: the
/// customer never wrote), then by its WhatsApp identity, then by the email it set.
async fn a_key_upserts_by_phone_then_identity_then_email() {
    let app = spawn_console_app(|_| {}).await;
    let admin = admin(&app).await;
    let (key_id, token) = new_key(&admin, "parcels", &["contacts:write", "contacts:read"]).await;
    let parcels = Console::new(&app, &token);

    let created = expect_status(
        201,
        parcels
            .put(
                "/api/v1/contacts",
                json!({"match": {"phone": "+34 600 700 001"},
                       "set": {"tags": ["parcel-pending"], "email": "Ona@Example.com",
                               "fields": {"parcel": "PX-1"}}}),
            )
            .await,
    );
    assert_eq!(created["created"], true);
    assert_eq!(created["contact"]["id"], "34600700001");
    assert_eq!(created["contact"]["phone"], "34600700001");
    assert_eq!(created["contact"]["tags"], json!(["parcel-pending"]));

    // The same number again: the same contact.
    let again = expect_status(
        200,
        parcels
            .put(
                "/api/v1/contacts",
                json!({"match": {"phone": "34600700001"}, "set": {"name": "Ona"}}),
            )
            .await,
    );
    assert_eq!(again["created"], false);
    assert_eq!(again["contact"]["id"], "34600700001");
    assert_eq!(again["contact"]["name"], "Ona");

    // By identity on a channel, then by email: still that contact.
    let by_identity = expect_status(
        200,
        parcels
            .put(
                "/api/v1/contacts",
                json!({"match": {"identity": {"channel": "support", "address": "34600700001"}},
                       "set": {"fields": {"parcel": "PX-2"}}}),
            )
            .await,
    );
    assert_eq!(by_identity["contact"]["id"], "34600700001");
    assert_eq!(by_identity["contact"]["fields"]["parcel"], "PX-2");
    let by_email = expect_status(
        200,
        parcels
            .put(
                "/api/v1/contacts",
                json!({"match": {"email": "ona@example.com"},
                       "set": {"tags": ["parcel-pending", "open-ticket"]}}),
            )
            .await,
    );
    assert_eq!(by_email["contact"]["id"], "34600700001");
    assert_eq!(
        by_email["contact"]["tags"],
        json!(["parcel-pending", "open-ticket"])
    );

    // Bad upserts change nothing.
    expect_status(
        404,
        parcels
            .put(
                "/api/v1/contacts",
                json!({"match": {"email": "nobody@example.com"}, "set": {"tags": []}}),
            )
            .await,
    );
    expect_error(
        422,
        "unknown_channel",
        parcels
            .put(
                "/api/v1/contacts",
                json!({"match": {"identity": {"channel": "pigeon", "address": "1"}}}),
            )
            .await,
    );
    for bad in [
        json!({"match": {"phone": "34600700001", "email": "ona@example.com"}}),
        json!({"match": {}}),
        json!({"match": {"phone": "call me"}}),
        json!({"set": {"tags": []}}),
    ] {
        expect_status(400, parcels.put("/api/v1/contacts", bad).await);
    }
    expect_error(
        422,
        "invalid_contact",
        parcels
            .put(
                "/api/v1/contacts",
                json!({"match": {"phone": "34600700001"}, "set": {"email": "not an email"}}),
            )
            .await,
    );
    let read = expect_status(200, parcels.get("/api/v1/contacts/34600700001").await);
    assert_eq!(read["contact"]["fields"]["parcel"], "PX-2");
    assert_eq!(read["contact"]["email"], "Ona@Example.com");

    // Every change is the key's in the audit log.
    let entries = audit(&admin, "action=contact.").await;
    let actions: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "contact.update",
            "contact.update",
            "contact.update",
            "contact.create"
        ],
        "{entries:?}"
    );
    assert!(
        entries
            .iter()
            .all(|e| e["actor_kind"] == "api_key" && e["actor"] == key_id.as_str()),
        "{entries:?}"
    );
}

/// A ticketing system tags a contact through its key; the next handoff's routing sees it.
async fn a_tag_pushed_by_a_key_routes_the_next_handoff() {
    let app = spawn_console_app(|_| {}).await;
    let admin = admin(&app).await;
    let (_, token) = new_key(&admin, "ticketing", &["contacts:write"]).await;
    let ticketing = Console::new(&app, &token);
    let alice = Console::new(&app, ALICE);
    alice.set_presence("online").await;
    let vera = Customer::new(&app, "34600900001");
    vera.opens_the_menu().await;

    expect_status(
        200,
        ticketing
            .put(
                "/api/v1/contacts",
                json!({"match": {"phone": "34600900001"}, "set": {"tags": ["VIP"]}}),
            )
            .await,
    );

    let id = vera.chooses_team(SUPPORT).await;
    let view = alice
        .wait_conversation(&id, "assigned to alice", WAIT, |d| {
            d["conversation"]["status"] == "assigned"
        })
        .await;
    let route = &view["conversation"]["route"];
    assert_eq!(route["priority"], 10, "{view}");
    assert!(
        route["trace"]
            .as_array()
            .is_some_and(|t| t.iter().any(|s| s == "rule vip matched: priority 10")),
        "{view}"
    );
}

in_both_modes!(
    keys_are_created_listed_rotated_and_revoked,
    each_route_family_wants_its_scope,
    unknown_keys_are_401_then_throttled,
    a_key_past_its_rate_waits,
    a_key_upserts_by_phone_then_identity_then_email,
    a_tag_pushed_by_a_key_routes_the_next_handoff,
);

/// Administration › API keys, waiting for the row of the key `id`.
async fn open_keys(browser: &common::browser::Browser, id: &str) {
    browser
        .wait_css("#nav-admin")
        .await
        .click()
        .await
        .expect("admin opens");
    browser.wait_css("#admin-users").await;
    browser.screenshot("console-admin-tabs").await;
    // The tab may be scrolled out of a narrow tab strip: clicked by script.
    browser
        .wait_true(
            "the API keys tab",
            "(() => { const tab = document.getElementById('admin-keys'); \
             if (!tab) return false; tab.scrollIntoView(); tab.click(); return true; })()",
        )
        .await;
    browser
        .wait_css(&format!(".api-key-row[data-id='{id}']"))
        .await;
}

async fn token_shown(browser: &common::browser::Browser, css: &str) -> String {
    browser
        .wait_css(css)
        .await
        .prop("value")
        .await
        .expect("a value")
        .unwrap_or_default()
}

/// The admin console's key screen in a real Chromium: the keys listed, a new key with the
/// scopes ticked and its token shown once, a rotation (the new token shown, the old one
/// refused) and a revocation; on a phone in Arabic too. Screenshots in
/// target/screenshots/console-admin-api-keys*.png.
#[actix_rt::test]
async fn the_admin_screen_creates_rotates_and_revokes_keys() {
    use common::browser::Browser;
    let app = spawn_console_app(|_| {}).await;
    let admin = admin(&app).await;
    let (first, token) = new_key(&admin, "Ticketing", &["contacts:read", "contacts:write"]).await;
    // A client of its own per request: the browser's steps leave pooled connections idle
    // long enough for the server to close them.
    let api = |token: &str| Console::at(&app.address, token);
    let admin_token = admin.token().to_owned();
    expect_status(200, api(&token).get("/api/v1/contacts").await);

    let browser = Browser::start(1280, 800, "en").await;
    browser.login(&app.address, "admin@example.com", None).await;
    open_keys(&browser, &first).await;
    browser.screenshot("console-admin-api-keys").await;

    // A new key: named, webhooks:manage ticked beside the default contacts:read.
    browser
        .wait_css("#api-key-new")
        .await
        .click()
        .await
        .expect("new key");
    browser
        .wait_css("#api-key-name")
        .await
        .send_keys("Deliveries")
        .await
        .expect("name typed");
    browser
        .wait_css("#api-key-scopes input[value='webhooks:manage']")
        .await
        .click()
        .await
        .expect("scope ticked");
    browser.screenshot("console-admin-api-key-new").await;
    browser
        .wait_css("#api-key-save")
        .await
        .click()
        .await
        .expect("created");
    let made = token_shown(&browser, "#api-key-created-token").await;
    assert!(made.starts_with("sbk_"), "{made}");
    browser.screenshot("console-admin-api-key-token").await;
    expect_status(200, api(&made).get("/api/v1/webhooks").await);
    expect_status(200, api(&made).get("/api/v1/contacts").await);
    expect_status(403, api(&made).patch("/api/v1/contacts/x", json!({})).await);
    browser
        .wait_css("#api-key-created button.primary")
        .await
        .click()
        .await
        .expect("done");
    let listed = expect_status(200, api(&admin_token).get("/api/v1/admin/api-keys").await);
    let second = listed["api_keys"][0]["id"]
        .as_str()
        .expect("the new key")
        .to_owned();
    assert_eq!(listed["api_keys"][0]["name"], "Deliveries");
    browser
        .wait_css(&format!(".api-key-row[data-id='{second}']"))
        .await;

    // Rotating the first key shows its new token; the old one is refused.
    browser
        .wait_css(&format!(".api-key-row[data-id='{first}'] .api-key-rotate"))
        .await
        .click()
        .await
        .expect("rotated");
    let fresh = token_shown(&browser, "#api-key-rotated-token").await;
    assert!(fresh.starts_with("sbk_") && fresh != token, "{fresh}");
    browser.screenshot("console-admin-api-key-rotated").await;
    expect_status(401, api(&token).get("/api/v1/contacts").await);
    expect_status(200, api(&fresh).get("/api/v1/contacts").await);
    browser
        .wait_css("#api-key-rotated button.primary")
        .await
        .click()
        .await
        .expect("done");

    // Revoking the second key, confirmed: it stays listed, revoked, without actions.
    browser
        .wait_css(&format!(".api-key-row[data-id='{second}'] .api-key-revoke"))
        .await
        .click()
        .await
        .expect("revoke");
    browser
        .wait_css("#confirm-ok")
        .await
        .click()
        .await
        .expect("confirmed");
    browser
        .wait_css(&format!(
            ".api-key-row[data-id='{second}'][data-active='false']"
        ))
        .await;
    expect_status(401, api(&made).get("/api/v1/webhooks").await);
    browser.screenshot("console-admin-api-keys-revoked").await;
    browser.close().await;

    // A phone, in Arabic (right to left): nothing overflows.
    let browser = Browser::start(390, 844, "ar").await;
    browser
        .login(&app.address, "admin@example.com", Some("ar"))
        .await;
    open_keys(&browser, &first).await;
    browser
        .wait_true(
            "no horizontal overflow",
            "document.documentElement.scrollWidth <= window.innerWidth + 1",
        )
        .await;
    browser.screenshot("console-admin-api-keys-phone-ar").await;
    browser.close().await;
}
