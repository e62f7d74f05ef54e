//! Panel apps' registrations: admins register, list, change, rotate and delete them; bad input
//! is refused and changes nothing; secrets are shown only at creation and rotation; agents may
//! not touch them; every change is in the audit log. In both modes (SQLite, PostgreSQL).

mod common;

use common::console::*;
use serde_json::{Value, json};

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

async fn admins_register_change_rotate_and_delete_panel_apps() {
    let app = spawn_console_app(|_| {}).await;
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

in_both_modes!(admins_register_change_rotate_and_delete_panel_apps);
