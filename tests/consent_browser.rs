//! The consent section of the customer panel in a real Chromium (see tests/browser.rs): an agent
//! sees the customer never asked on their WhatsApp number, records the opt-in with the customer's
//! words, and sees it as opted in; after the customer writes STOP, a reload shows them opted out
//! by keyword. An admin syncs the templates from the Administration's Templates tab and sees
//! them with their category and status. Desktop and Arabic phone screenshots go to
//! `target/screenshots/`.

mod common;

use common::browser::Browser;
use common::console::*;

#[actix_rt::test]
async fn an_agent_records_an_opt_in_and_sees_a_stop() {
    let app = spawn_console_app(|_| {}).await;
    let sheena = hand_off(&app, "16505551234", "support").await;

    let browser = Browser::start(1440, 900, "en").await;
    browser.login(&app.address, "alice@example.com", None).await;
    browser.online_and_open(&sheena).await;
    browser
        .wait_true(
            "never asked on the support number",
            "document.querySelector(\"#consent-section li[data-channel='support']\")?.dataset.state === 'none'",
        )
        .await;
    browser.click("#record-consent").await;
    browser.set_value("#consent-channel", "support").await;
    browser
        .set_value("#consent-proof", "Customer wrote: yes, send me your offers")
        .await;
    browser
        .click("#consent-section button[type='submit']")
        .await;
    browser
        .wait_true(
            "opted in, by an agent",
            "document.querySelector(\"#consent-section li[data-channel='support']\")?.dataset.state === 'opted_in' \
             && (document.querySelector(\"#consent-section li[data-channel='support']\")?.textContent || '').includes('agent')",
        )
        .await;
    browser.screenshot("console-consent-opted-in").await;
    browser.close().await;

    let admin = Console::login(&app, "admin@example.com", DEMO_PASSWORD).await;
    let consent = expect_status(200, admin.get("/api/v1/contacts/16505551234/consent").await);
    let support = consent["consent"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["channel"] == "support")
        .cloned()
        .expect("support");
    assert_eq!(support["state"], "opted_in", "{consent}");
    assert_eq!(support["history"][0]["actor"], "user:alice");
    assert_eq!(
        support["history"][0]["proof"],
        "Customer wrote: yes, send me your offers"
    );

    // The customer writes STOP; on a phone in Arabic the panel shows them opted out.
    let customer = Customer::new(&app, "16505551234");
    customer.says("STOP").await;
    customer
        .wait_for_text("You will no longer receive promotions")
        .await;
    let browser = Browser::start(360, 780, "ar").await;
    browser
        .login(&app.address, "alice@example.com", Some("ar"))
        .await;
    browser.open_row(&sheena).await;
    browser.click("#show-customer").await;
    browser
        .wait_true(
            "opted out by keyword",
            "document.querySelector(\"#consent-section li[data-channel='support']\")?.dataset.state === 'opted_out'",
        )
        .await;
    browser
        .client
        .execute(
            "document.querySelector('#consent-section').scrollIntoView({ block: 'center' }); return true;",
            vec![],
        )
        .await
        .expect("scrolled to the consent");
    browser
        .wait_true(
            "no horizontal overflow",
            "document.documentElement.scrollWidth <= window.innerWidth + 1",
        )
        .await;
    browser.screenshot("console-phone-ar-consent").await;
    browser.close().await;
}

#[actix_rt::test]
async fn an_admin_syncs_the_templates_and_sees_their_status() {
    let app = spawn_console_app(|_| {}).await;
    let browser = Browser::start(1280, 900, "en").await;
    browser.login(&app.address, "admin@example.com", None).await;
    browser.click("#nav-admin").await;
    browser.click("#admin-templates").await;
    browser.wait_css("#templates-sync").await;
    browser.click("#templates-sync").await;
    browser
        .wait_true(
            "fourteen templates (seven on each number), the pending one marked in words",
            "document.querySelectorAll('.template-row').length === 14 \
             && document.querySelector(\".template-row[data-name='winter_sale']\")?.dataset.status === 'PENDING' \
             && document.querySelector(\".template-row[data-name='winter_sale'] .template-status\")?.textContent === 'Pending review' \
             && (document.querySelector('#templates-synced')?.textContent || '').includes('14')",
        )
        .await;
    browser.screenshot("console-admin-templates").await;
    browser.close().await;

    let browser = Browser::start(360, 780, "ar").await;
    browser
        .login(&app.address, "admin@example.com", Some("ar"))
        .await;
    browser.click("#nav-admin").await;
    browser.click("#admin-templates").await;
    browser
        .wait_true(
            "the templates listed",
            "document.querySelectorAll('.template-row').length === 14",
        )
        .await;
    browser
        .wait_true(
            "no horizontal overflow, the statuses in Arabic",
            "document.documentElement.scrollWidth <= window.innerWidth + 1 \
             && document.querySelector(\".template-row[data-name='winter_sale'] .template-status\")?.textContent === 'قيد المراجعة'",
        )
        .await;
    browser.screenshot("console-phone-ar-admin-templates").await;
    browser.close().await;
}
