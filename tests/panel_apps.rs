//! Panel apps' registrations: admins register, list, change, rotate and delete them; bad input
//! is refused and changes nothing; secrets are shown only at creation and rotation; agents may
//! not touch them; every change is in the audit log. In both modes (SQLite, PostgreSQL).

mod common;

use common::console::*;
use serde_json::{Value, json};
use switchboard::integrations::panel_apps::{self, TOKEN_TTL_SECONDS};

async fn audit(admin: &Console, action: &str) -> Vec<Value> {
    let body = expect_status(
        200,
        admin
            .get(&format!("/api/v1/admin/audit?action={action}"))
            .await,
    );
    body["entries"].as_array().cloned().unwrap_or_default()
}

async fn apps(admin: &Console) -> Vec<Value> {
    let body = expect_status(200, admin.get("/api/v1/admin/panel-apps").await);
    body["panel_apps"].as_array().cloned().unwrap_or_default()
}

/// The console page's `frame-src` (the registered apps' origins).
async fn frame_src(app: &common::TestApp) -> String {
    let page = app
        .client
        .get(format!("{}/", app.address))
        .send()
        .await
        .expect("GET /");
    let csp = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    csp.rsplit_once("; frame-src ")
        .map(|(_, frames)| frames.to_string())
        .unwrap_or_else(|| panic!("no frame-src: {csp}"))
}

async fn admins_register_change_rotate_and_delete_panel_apps() {
    let app = spawn_console_app(|_| {}).await;
    // No app: the console frames nothing.
    assert_eq!(frame_src(&app).await, "'none'");
    let admin = Console::login(&app, "admin@example.com", DEMO_PASSWORD).await;
    let alice = Console::new(&app, ALICE);
    const PATH: &str = "/api/v1/admin/panel-apps";

    // Agents may not; bad input is refused and changes nothing.
    expect_status(
        403,
        alice
            .post(
                PATH,
                json!({"name": "Orders", "url": "https://crm.example.com/panel"}),
            )
            .await,
    );
    expect_status(403, alice.get(PATH).await);
    expect_error(
        422,
        "invalid_name",
        admin
            .post(
                PATH,
                json!({"name": "  ", "url": "https://crm.example.com/panel"}),
            )
            .await,
    );
    expect_error(
        422,
        "invalid_url",
        admin
            .post(
                PATH,
                json!({"name": "Orders", "url": "ftp://crm.example.com/"}),
            )
            .await,
    );
    expect_error(
        422,
        "invalid_url",
        admin
            .post(
                PATH,
                json!({"name": "Orders", "url": "http://crm.example.com/"}),
            )
            .await,
    );
    expect_error(
        422,
        "unknown_team",
        admin
            .post(
                PATH,
                json!({"name": "Orders", "url": "https://crm.example.com/", "teams": ["nope"]}),
            )
            .await,
    );
    assert!(apps(&admin).await.is_empty());

    // Created: the secret is shown once.
    let created = expect_status(
        201,
        admin
            .post(
                PATH,
                json!({"name": " Orders ", "url": "https://crm.example.com/panel",
                       "teams": ["support", "support"]}),
            )
            .await,
    );
    let created = &created["panel_app"];
    let id = created["id"].as_str().expect("an id").to_owned();
    let secret = created["secret"].as_str().expect("a secret").to_owned();
    assert!(secret.starts_with("psk_"), "{created}");
    assert_eq!(created["name"], "Orders");
    assert_eq!(created["teams"], json!(["support"]));
    // The loopback http URL is allowed in the test environment.
    expect_status(
        201,
        admin
            .post(
                PATH,
                json!({"name": "Local", "url": "http://127.0.0.1:9/panel"}),
            )
            .await,
    );
    let listed = apps(&admin).await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    // Without a restart, the console's next load frames their origins (and only those).
    assert_eq!(
        frame_src(&app).await,
        "http://127.0.0.1:9 https://crm.example.com"
    );
    assert_eq!(listed[0]["id"], id.as_str());
    assert!(
        listed.iter().all(|a| a.get("secret").is_none()),
        "{listed:?}"
    );

    // Changed: a bad change changes nothing.
    let one = format!("{PATH}/{id}");
    expect_error(
        422,
        "invalid_url",
        admin
            .patch(&one, json!({"url": "javascript:alert(1)"}))
            .await,
    );
    assert_eq!(
        apps(&admin).await[0]["url"],
        "https://crm.example.com/panel"
    );
    let changed = expect_status(
        200,
        admin
            .patch(&one, json!({"name": "Order history", "teams": []}))
            .await,
    );
    assert_eq!(changed["panel_app"]["name"], "Order history");
    assert_eq!(changed["panel_app"]["teams"], json!([]));
    assert!(changed["panel_app"].get("secret").is_none());
    expect_status(
        404,
        admin
            .patch(&format!("{PATH}/pa_nope"), json!({"name": "x"}))
            .await,
    );

    // Rotated: a new secret, shown once.
    expect_status(403, alice.post_empty(&format!("{one}/rotate")).await);
    let rotated = expect_status(200, admin.post_empty(&format!("{one}/rotate")).await);
    let new_secret = rotated["panel_app"]["secret"].as_str().expect("a secret");
    assert!(
        new_secret.starts_with("psk_") && new_secret != secret,
        "{rotated}"
    );

    // Deleted.
    expect_status(403, alice.delete(&one).await);
    expect_status(204, admin.delete(&one).await);
    expect_status(404, admin.delete(&one).await);
    assert_eq!(apps(&admin).await.len(), 1);
    assert_eq!(frame_src(&app).await, "http://127.0.0.1:9");

    // Every change is audited, never with a secret.
    for (action, count) in [
        ("panel_app.create", 2),
        ("panel_app.update", 1),
        ("panel_app.rotate_secret", 1),
        ("panel_app.delete", 1),
    ] {
        let entries = audit(&admin, action).await;
        assert_eq!(entries.len(), count, "{action}: {entries:?}");
        let text = serde_json::to_string(&entries).unwrap_or_default();
        assert!(!text.contains("psk_"), "{action} shows a secret: {text}");
    }
}

/// An agent opening a conversation gets the apps its team shows, each with a fresh token
/// signed with that app's secret (verified here with it), valid five minutes, carrying the
/// conversation, its team, the agent and the contact masked as the team masks numbers.
async fn a_conversation_s_apps_come_with_signed_masked_context_tokens() {
    let app = spawn_console_app(|s| s.security.mask_numbers = true).await;
    let admin = Console::login(&app, "admin@example.com", DEMO_PASSWORD).await;
    let alice = Console::new(&app, ALICE);
    let create = |name: &'static str, teams: Value| {
        let admin = &admin;
        async move {
            let created = expect_status(
                201,
                admin
                    .post(
                        "/api/v1/admin/panel-apps",
                        json!({"name": name, "url": "https://crm.example.com/panel",
                               "teams": teams}),
                    )
                    .await,
            );
            (
                created["panel_app"]["id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                created["panel_app"]["secret"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        }
    };
    let (everywhere, everywhere_secret) = create("Orders", json!([])).await;
    let (support_only, support_secret) = create("Tickets", json!(["support"])).await;
    let (_sales_only, _) = create("Leads", json!(["sales"])).await;

    let id = hand_off(&app, "34612345699", "support").await;
    let before = u64::try_from(now_ms() / 1000).unwrap_or(0);
    let answer = expect_status(
        200,
        alice
            .get(&format!("/api/v1/conversations/{id}/panel-apps"))
            .await,
    );
    let shown = answer["panel_apps"].as_array().cloned().unwrap_or_default();
    let ids: Vec<&str> = shown.iter().filter_map(|a| a["id"].as_str()).collect();
    assert_eq!(
        ids,
        [everywhere.as_str(), support_only.as_str()],
        "{answer}"
    );
    assert!(!answer.to_string().contains("psk_"), "{answer}");
    for (app_json, secret) in shown.iter().zip([&everywhere_secret, &support_secret]) {
        let app_id = app_json["id"].as_str().unwrap_or_default();
        let token = app_json["token"].as_str().expect("a token");
        let claims = panel_apps::verify(secret, app_id, token, before).expect("verifies");
        let context = &claims.custom;
        assert_eq!(context.conversation, id);
        assert_eq!(context.team.as_deref(), Some("support"));
        assert_eq!(context.agent.id, "alice");
        assert!(!context.agent.name.is_empty());
        // Masked as the team masks.
        assert_ne!(context.contact.id, "34612345699", "{context:?}");
        assert!(
            !format!("{context:?}").contains("34612345699"),
            "{context:?}"
        );
        let (issued, expires) = (
            claims.issued_at.map(|t| t.as_secs()).unwrap_or(0),
            claims.expires_at.map(|t| t.as_secs()).unwrap_or(0),
        );
        assert_eq!(expires - issued, TOKEN_TTL_SECONDS);
        assert!(issued >= before.saturating_sub(1), "{issued} {before}");
        // Another app's secret or audience refuses it; so does the time after its expiry.
        let other = if secret == &everywhere_secret {
            &support_secret
        } else {
            &everywhere_secret
        };
        assert!(panel_apps::verify(other, app_id, token, before).is_err());
        assert!(panel_apps::verify(secret, "pa_other", token, before).is_err());
        assert!(panel_apps::verify(secret, app_id, token, expires + 61).is_err());
    }

    // No such conversation: 404, nothing minted.
    expect_status(
        404,
        alice.get("/api/v1/conversations/nope/panel-apps").await,
    );
}

/// The configuration's `panel_apps` seed an empty store at start, checked like the admin API;
/// once the store holds apps, a restart leaves them as admins made them.
#[actix_rt::test]
async fn the_configuration_seeds_an_empty_store_once() {
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let demo = switchboard::config::Settings::load_from(&config, "test", false)
        .expect("the demo configuration")
        .panel_apps;
    assert!(
        demo.contains_key("demo-orders"),
        "the demo seeds its orders page"
    );
    let app = spawn_console_app(move |s| s.panel_apps = demo).await;
    let admin = Console::login(&app, "admin@example.com", DEMO_PASSWORD).await;
    let listed = apps(&admin).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["id"], "demo-orders");
    assert_eq!(listed[0]["name"], "Orders");
    assert_eq!(listed[0]["url"], "http://127.0.0.1:9090/business/panel");
    assert_eq!(listed[0]["teams"], json!(["billing", "support"]));
    // Its tokens are signed with the configured secret, for its id.
    let id = hand_off(&app, "34612345677", "support").await;
    let answer = expect_status(
        200,
        Console::new(&app, ALICE)
            .get(&format!("/api/v1/conversations/{id}/panel-apps"))
            .await,
    );
    let token = answer["panel_apps"][0]["token"].as_str().expect("a token");
    let now = u64::try_from(now_ms() / 1000).unwrap_or(0);
    panel_apps::verify(
        switchboard::fakes::business::DEMO_PANEL_APP_SECRET,
        "demo-orders",
        token,
        now,
    )
    .expect("the fake business API's secret verifies it");

    // Changed by an admin, then a restart: not seeded again.
    expect_status(
        200,
        admin
            .patch(
                "/api/v1/admin/panel-apps/demo-orders",
                json!({"name": "Order history"}),
            )
            .await,
    );
    let (settings, graph, db_path, dir) = app.stop().await;
    let mut app = common::TestApp::start(settings, graph, db_path).await;
    app.keep_dir(dir);
    let admin = Console::login(&app, "admin@example.com", DEMO_PASSWORD).await;
    let listed = apps(&admin).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["name"], "Order history");

    // A seed the admin API would refuse stops the start with its key named.
    let mut bad = app.settings.clone();
    if let Some(seed) = bad.panel_apps.get_mut("demo-orders") {
        seed.teams = vec!["nope".into()];
    }
    let err = bad.validate().expect_err("an unknown team").to_string();
    assert!(err.contains("panel_apps.demo-orders"), "{err}");
}

in_both_modes!(
    admins_register_change_rotate_and_delete_panel_apps,
    a_conversation_s_apps_come_with_signed_masked_context_tokens,
);
