//! Sending a WhatsApp template from the composer in a real Chromium (see tests/browser.rs):
//! the customer-service window has closed, so the notice offers a template; the agent picks
//! one, fills its image header, body and button, sees the server's preview (the link's suffix
//! filled in), sends it, and the message appears in the transcript; the fake Graph API gets
//! Meta's components. Then on a phone in Arabic (right to left) from the composer's Template
//! button. Screenshots go to `target/screenshots/`.

mod common;

use std::time::Duration;

use common::browser::Browser;
use common::console::*;
use common::customers_wrote_ago;
use serde_json::{Value, json};

/// Pick parcel_ready in the open dialog, fill it, and wait for the server's preview.
async fn fill_parcel_ready(browser: &Browser, parcel: &str) {
    browser
        .set_value("#template-choice", "parcel_ready/en_US")
        .await;
    browser
        .set_value(
            "[data-field='header']",
            "https://parcels.example/locker.jpg",
        )
        .await;
    browser.set_value("[data-field='body:1']", "Ana").await;
    browser.set_value("[data-field='body:2']", parcel).await;
    browser.set_value("[data-field='button:0']", parcel).await;
    browser
        .wait_true(
            "the server's preview, the link's suffix filled in",
            &format!(
                "(b => !!b && document.querySelector('#template-preview-state')?.dataset.state === 'ready' \
                 && b.textContent.includes('Hi Ana, parcel {parcel} is ready at the locker.') \
                 && b.textContent.includes('https://parcels.example/t/{parcel}') \
                 && b.textContent.includes('https://parcels.example/locker.jpg') \
                 && b.textContent.includes('Parcels Inc.'))(document.querySelector('#template-bubble'))"
            ),
        )
        .await;
}

#[actix_rt::test]
async fn an_agent_picks_fills_previews_and_sends_a_template() {
    let app = spawn_console_app(|_| {}).await;
    let mut templates = app.graph.templates();
    templates.push(parcel_ready_template());
    app.graph.set_templates(templates);
    let admin = Console::login(&app, "admin@example.com", DEMO_PASSWORD).await;
    expect_status(200, admin.post("/api/v1/templates/sync", json!({})).await);
    customers_wrote_ago(Duration::from_secs(25 * 3600));
    let id = hand_off(&app, "34600610010", "support").await;
    customers_wrote_ago(Duration::ZERO);

    let browser = Browser::start(1280, 860, "en").await;
    browser.login(&app.address, "alice@example.com", None).await;
    browser.online_and_open(&id).await;
    // The window has closed: the notice offers a template.
    browser.click("#template-cta").await;
    browser.wait_css("#template-choice").await;
    browser
        .wait_true(
            "approved templates only",
            "!document.querySelector(\"#template-choice option[value='winter_sale/en_US']\") \
             && !!document.querySelector(\"#template-choice option[value='parcel_ready/en_US']\")",
        )
        .await;
    browser
        .set_value("#template-choice", "parcel_ready/en_US")
        .await;
    browser.set_value("[data-field='body:1']", "Ana").await;
    browser
        .wait_true(
            "a draft preview keeps the placeholder of what is missing",
            "(document.querySelector('#template-bubble')?.textContent || '').includes('Hi Ana, parcel {{2}}')",
        )
        .await;
    fill_parcel_ready(&browser, "PX-9").await;
    browser.screenshot("console-template-send").await;
    browser.click("#template-send").await;
    browser
        .wait_true(
            "the dialog closed and the template is in the transcript",
            "!document.querySelector('#template-dialog') \
             && [...document.querySelectorAll('#transcript .message')].some(m => m.textContent.includes('parcel_ready'))",
        )
        .await;
    browser.screenshot("console-template-sent").await;
    browser.close().await;

    let customer = Customer::new(&app, "34600610010");
    let received = customer
        .wait_for_message(0, "the template", |m| {
            m["template"]["name"] == "parcel_ready"
        })
        .await;
    assert_eq!(
        received["template"]["components"],
        parcel_ready_components("PX-9"),
        "{received}"
    );

    // On a phone in Arabic, from the composer's Template button.
    let browser = Browser::start(390, 844, "ar").await;
    browser
        .login(&app.address, "alice@example.com", Some("ar"))
        .await;
    browser.open_row(&id).await;
    browser.click("#template-open").await;
    fill_parcel_ready(&browser, "PX-10").await;
    browser
        .wait_true(
            "right to left, no horizontal overflow",
            "document.documentElement.dir === 'rtl' \
             && document.documentElement.scrollWidth <= window.innerWidth + 1 \
             && document.querySelector('#template-dialog').scrollWidth <= document.querySelector('#template-dialog').clientWidth + 1",
        )
        .await;
    browser.screenshot("console-phone-ar-template").await;
    browser
        .client
        .execute(
            "document.querySelector('#template-bubble').scrollIntoView({ block: 'center' }); return true;",
            vec![],
        )
        .await
        .expect("scrolled to the preview");
    browser
        .screenshot("console-phone-ar-template-preview")
        .await;
    browser.click("#template-send").await;
    browser
        .wait_true(
            "sent from the phone",
            "!document.querySelector('#template-dialog') \
             && [...document.querySelectorAll('#transcript .message')].filter(m => m.textContent.includes('parcel_ready')).length === 2",
        )
        .await;
    browser.screenshot("console-phone-ar-template-sent").await;
    browser.close().await;
    let sent = |m: &Value| m["template"]["name"] == "parcel_ready";
    let deadline = std::time::Instant::now() + WAIT;
    while customer.received().iter().filter(|m| sent(m)).count() < 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the second template never reached the fake: {:#?}",
            customer.received()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let last = customer.received().into_iter().rfind(|m| sent(m));
    assert_eq!(
        last.map(|m| m["template"]["components"].clone()),
        Some(parcel_ready_components("PX-10"))
    );
}
