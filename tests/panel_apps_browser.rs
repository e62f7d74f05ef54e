//! Panel apps in a real Chromium (see tests/browser.rs): the demo's panel app (seeded from
//! config/base.yaml's `panel_apps`, served by the fake business API) is a tab of an agent's
//! customer panel; its frame gets the signed context and shows that customer's orders, and the
//! next conversation's; a message from another origin is ignored by the page; an agent of a
//! team outside the app's filter has no tab; an admin sees and registers apps. Desktop, phone
//! and Arabic screenshots go to `target/screenshots/`.

mod common;

use std::path::Path;

use common::browser::Browser;
use common::console::*;
use serde_json::{Value, json};
use switchboard::config::Settings;

const FRAME: &str = "iframe.panel-app-frame[data-app='demo-orders']";

/// The body of the panel page (inside its frame) satisfies `condition` (a JS expression over
/// `b`, the page's body).
fn panel(condition: &str) -> String {
    format!("(() => {{ const b = document.body; return !!b && ({condition}); }})()")
}

/// The panel page shows conversation `id` with these orders (and no other).
fn shows(id: &str, orders: &[&str]) -> String {
    let listed = orders
        .iter()
        .map(|o| format!("'{o}'"))
        .collect::<Vec<_>>()
        .join(",");
    panel(&format!(
        "b.dataset.state === 'shown' && b.dataset.conversation === '{id}' \
         && JSON.stringify([...document.querySelectorAll('#panel-orders .order')].map((o) => o.dataset.number)) \
            === JSON.stringify([{listed}])"
    ))
}

/// Open the demo app's tab and enter its frame.
async fn enter_the_app(browser: &Browser) {
    browser
        .wait_css("#customer-tab-app-demo-orders")
        .await
        .click()
        .await
        .expect("the app's tab");
    browser
        .wait_css(FRAME)
        .await
        .enter_frame()
        .await
        .expect("into the app's frame");
}

#[actix_rt::test]
async fn an_agent_sees_the_customers_orders_in_the_panel_app() {
    let app = spawn_console_app(|settings| {
        // The demo's seed, pointed at this test's fake business API.
        let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let mut demo = Settings::load_from(&config, "test", false)
            .expect("the demo configuration")
            .panel_apps;
        for seed in demo.values_mut() {
            seed.url = format!("{}/business/panel", settings.whatsapp.api_base_url);
        }
        settings.panel_apps = demo;
        // Sales assigns at once (no offer to accept first).
        if let Some(sales) = settings.teams.get_mut("sales") {
            sales.offer_timeout_seconds = 0;
        }
    })
    .await;
    // The panel page takes its context from this console only.
    app.graph
        .business()
        .set_panel_origins(vec![app.address.clone()]);

    // The console's page frames the app's origin, and nothing else.
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
    assert!(
        csp.ends_with(&format!("; frame-src {}", app.graph.base_url())),
        "{csp}"
    );

    // Two customers in support (the app's team), one in sales (not).
    let sheena = hand_off(&app, "16505551234", "support").await;
    let lucia = hand_off(&app, "34611122233", "support").await;
    let sales = hand_off(&app, "34600000077", "sales").await;

    let browser = Browser::start(1440, 900, "en").await;
    browser.login(&app.address, "alice@example.com", None).await;
    browser.online_and_open(&sheena).await;
    enter_the_app(&browser).await;
    browser
        .wait_true(
            "Sheena's orders, signed for her conversation",
            &shows(&sheena, &["A1234", "B5678"]),
        )
        .await;
    browser
        .wait_true(
            "the agent named in the context",
            &panel("document.getElementById('panel-who').textContent.includes('Alice Martin')"),
        )
        .await;

    // A message from another origin (here: the page itself, not its parent console) is
    // ignored, even with a valid token: Lucía's, which the fake's server would accept.
    let alice = Console::new(&app, ALICE);
    let lucias = expect_status(
        200,
        alice
            .get(&format!("/api/v1/conversations/{lucia}/panel-apps"))
            .await,
    );
    let token = lucias["panel_apps"][0]["token"]
        .as_str()
        .expect("a token for Lucía's conversation")
        .to_owned();
    let verified = app
        .client
        .post(format!("{}/business/panel/context", app.graph.base_url()))
        .json(&json!({ "token": token }))
        .send()
        .await
        .expect("the fake's server");
    assert_eq!(verified.status(), 200, "the token itself is valid");
    let verified: Value = verified.json().await.expect("json");
    assert_eq!(verified["orders"][0]["number"], "C9012");
    browser
        .client
        .execute(
            "window.postMessage({ type: 'switchboard.context', token: arguments[0] }, '*'); return true;",
            vec![Value::String(token.clone())],
        )
        .await
        .expect("a message from the wrong origin");
    browser
        .wait_true(
            "the wrong-origin message ignored, Sheena still shown",
            &format!(
                "document.body.dataset.ignored === '1' && ({})",
                shows(&sheena, &["A1234", "B5678"])
            ),
        )
        .await;
    browser.enter_parent_frame().await;
    browser.screenshot("console-panel-app").await;

    // The next conversation: its own token, its customer's orders (the tab stays chosen).
    browser.open_row(&lucia).await;
    browser
        .wait_css(FRAME)
        .await
        .enter_frame()
        .await
        .expect("the frame");
    browser
        .wait_true(
            "Lucía's orders, for her conversation",
            &shows(&lucia, &["C9012"]),
        )
        .await;
    browser.enter_parent_frame().await;
    browser.close().await;

    // Carla (sales) is outside the app's teams: no tab, only the customer's details.
    let browser = Browser::start(1440, 900, "en").await;
    browser.login(&app.address, "carla@example.com", None).await;
    browser.online_and_open(&sales).await;
    browser
        .wait_true(
            "the apps asked for: none",
            "document.querySelector(\"#customer-panel [data-panel-apps='0']\") \
             && !document.querySelector('#customer-panel .customer-tabs, #customer-panel iframe')",
        )
        .await;
    let carlas = expect_status(
        200,
        Console::new(&app, CARLA)
            .get(&format!("/api/v1/conversations/{sales}/panel-apps"))
            .await,
    );
    assert_eq!(carlas["panel_apps"], json!([]));
    browser.close().await;

    // On a phone: the customer pane, the app's tab, the orders; nothing wider than the screen.
    let browser = Browser::start(360, 780, "en").await;
    browser.login(&app.address, "alice@example.com", None).await;
    browser.open_row(&sheena).await;
    browser
        .wait_css("#show-customer")
        .await
        .click()
        .await
        .expect("the customer pane");
    enter_the_app(&browser).await;
    browser
        .wait_true(
            "the orders on a phone",
            &shows(&sheena, &["A1234", "B5678"]),
        )
        .await;
    browser.enter_parent_frame().await;
    browser
        .wait_true(
            "no horizontal overflow",
            "document.documentElement.scrollWidth <= window.innerWidth + 1",
        )
        .await;
    browser.screenshot("console-phone-panel-app").await;
    browser.close().await;

    // In Arabic, right to left.
    let browser = Browser::start(1440, 900, "ar").await;
    browser
        .login(&app.address, "alice@example.com", Some("ar"))
        .await;
    browser.open_row(&sheena).await;
    enter_the_app(&browser).await;
    browser
        .wait_true("the orders in Arabic", &shows(&sheena, &["A1234", "B5678"]))
        .await;
    browser.enter_parent_frame().await;
    browser
        .wait_true("right to left", "document.documentElement.dir === 'rtl'")
        .await;
    browser.screenshot("console-ar-panel-app").await;
    browser.close().await;

    // The admin sees the seeded app and registers another, its secret shown once.
    let browser = Browser::start(1280, 900, "en").await;
    browser.login(&app.address, "admin@example.com", None).await;
    browser
        .wait_css("#nav-admin")
        .await
        .click()
        .await
        .expect("administration");
    browser
        .wait_css("#admin-panel-apps")
        .await
        .click()
        .await
        .expect("the panel apps tab");
    browser
        .wait_true(
            "the demo's app listed",
            "document.querySelector(\".panel-app-row[data-id='demo-orders'] .panel-app-name\")?.textContent === 'Orders'",
        )
        .await;
    browser
        .wait_css("#panel-app-new")
        .await
        .click()
        .await
        .expect("a new app");
    browser
        .wait_css("#panel-app-name")
        .await
        .send_keys("Billing desk")
        .await
        .expect("name typed");
    let url = browser.wait_css("#panel-app-url").await;
    url.clear().await.expect("url cleared");
    url.send_keys("https://billing.example.com/panel")
        .await
        .expect("url typed");
    browser
        .wait_css("#panel-app-teams input[value='billing']")
        .await
        .click()
        .await
        .expect("billing chosen");
    browser
        .wait_css("#panel-app-save")
        .await
        .click()
        .await
        .expect("registered");
    browser
        .wait_true(
            "the secret shown once",
            "/^psk_[0-9a-f]{64}$/.test(document.querySelector('#panel-app-created-secret')?.value || '')",
        )
        .await;
    browser.screenshot("console-admin-panel-app-secret").await;
    let admin = Console::login(&app, "admin@example.com", DEMO_PASSWORD).await;
    let listed = expect_status(200, admin.get("/api/v1/admin/panel-apps").await);
    let billing = listed["panel_apps"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|a| a["name"] == "Billing desk")
        .cloned()
        .expect("registered through the console");
    assert_eq!(billing["url"], "https://billing.example.com/panel");
    assert_eq!(billing["teams"], json!(["billing"]));
    browser.close().await;

    // A registration applies without a restart: the console's next load frames its origin.
    let csp = app
        .client
        .get(format!("{}/", app.address))
        .send()
        .await
        .expect("GET /")
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        csp.ends_with(&format!(
            "; frame-src {} https://billing.example.com",
            app.graph.base_url()
        )),
        "{csp}"
    );
}
