//! The console's erase action in a real Chromium (see tests/browser.rs): an admin finds a
//! contact in the contacts view, gives a reason, types ERASE (the button waits for it) and the
//! contact is gone; on a phone in Arabic the dialog fits. Screenshots go to
//! `target/screenshots/`.

mod common;

use common::browser::Browser;
use common::console::*;

const NUMBER: &str = "34611177788";

/// Find the contact, open its erase dialog.
async fn open_erase_dialog(browser: &Browser) {
    browser
        .wait_css("#nav-contacts")
        .await
        .click()
        .await
        .expect("the contacts open");
    browser
        .wait_css("#contact-search")
        .await
        .send_keys("611177788")
        .await
        .expect("searched");
    browser
        .wait_css(&format!("#contact-list [data-erase='{NUMBER}']"))
        .await
        .click()
        .await
        .expect("the erase action");
    browser.wait_css("#erase-dialog #erase-reason").await;
}

#[actix_rt::test]
async fn an_admin_erases_a_contact_from_the_contacts_view() {
    let app = spawn_console_app(|_| {}).await;
    let id = hand_off(&app, NUMBER, "support").await;
    let alice = Console::new(&app, ALICE);
    alice.set_presence("online").await;
    alice.wait_status(&id, "assigned", AT_ONCE).await;
    let (status, _) = alice.resolve(&id).await;
    assert!(status < 300, "alice resolves: {status}");
    alice.wait_status(&id, "resolved", AT_ONCE).await;

    // A supervisor sees the contacts but no erase action.
    let browser = Browser::start(1280, 900, "en").await;
    browser.login(&app.address, "sam@example.com", None).await;
    browser
        .wait_css("#nav-contacts")
        .await
        .click()
        .await
        .expect("the contacts open");
    browser
        .wait_true(
            "the contact listed, without an erase action",
            "document.querySelectorAll('#contact-list .contact-row').length >= 1 \
             && !document.querySelector('#contact-list [data-erase]')",
        )
        .await;
    browser.close().await;

    // On a phone in Arabic, the dialog fits the screen.
    let browser = Browser::start(360, 780, "ar").await;
    browser
        .login(&app.address, "admin@example.com", Some("ar"))
        .await;
    open_erase_dialog(&browser).await;
    browser
        .wait_true(
            "right to left, nothing wider than the screen",
            "document.documentElement.dir === 'rtl' \
             && document.documentElement.scrollWidth <= window.innerWidth \
             && document.querySelector('#erase-dialog').getBoundingClientRect().width <= window.innerWidth",
        )
        .await;
    browser.screenshot("console-contact-erase-phone-ar").await;
    browser.close().await;

    // The admin erases it: the button waits for a reason and ERASE.
    let browser = Browser::start(1280, 900, "en").await;
    browser.login(&app.address, "admin@example.com", None).await;
    open_erase_dialog(&browser).await;
    browser
        .wait_css("#erase-reason")
        .await
        .send_keys("The customer asked by email")
        .await
        .expect("reason typed");
    browser
        .wait_css("#erase-confirm")
        .await
        .send_keys("erase")
        .await
        .expect("a wrong word typed");
    browser
        .wait_true(
            "not yet: the word is ERASE",
            "document.querySelector('#erase-ok').disabled === true",
        )
        .await;
    let confirm = browser.wait_css("#erase-confirm").await;
    confirm.clear().await.expect("cleared");
    confirm.send_keys("ERASE").await.expect("ERASE typed");
    browser
        .wait_true(
            "ready",
            "document.querySelector('#erase-ok').disabled === false",
        )
        .await;
    browser.screenshot("console-contact-erase").await;
    browser
        .wait_css("#erase-ok")
        .await
        .click()
        .await
        .expect("erased");
    browser
        .wait_true(
            "the dialog closes and the contact is gone from the list",
            &format!(
                "!document.querySelector('#erase-dialog') \
                 && !document.querySelector(\"#contact-list [data-erase='{NUMBER}']\")"
            ),
        )
        .await;
    browser.close().await;

    let admin = Console::login(&app, "admin@example.com", DEMO_PASSWORD).await;
    expect_status(404, admin.get(&format!("/api/v1/contacts/{NUMBER}")).await);
    let audit = expect_status(
        200,
        admin.get("/api/v1/admin/audit?action=contact.erase").await,
    );
    assert_eq!(audit["entries"][0]["actor"], "admin", "{audit}");
}
