//! Contact fields in a real Chromium (see tests/browser.rs): an admin defines a choice field in
//! the "Contact fields" tab, changes its options and deletes another field after confirming; an
//! agent edits the defined fields in the customer panel with inputs of their types, sees the
//! server's refusal of a value that does not fit, then saves good ones and sees them by their
//! labels (a field nobody defined shown as it is). Desktop, phone and Arabic screenshots go to
//! `target/screenshots/`.

mod common;

use common::browser::Browser;
use common::console::*;
use serde_json::json;

/// Set an input's value as a person would (the console listens to `input` and `change`).
#[actix_rt::test]
async fn an_admin_defines_a_field_and_an_agent_edits_it_in_the_customer_panel() {
    let app = spawn_console_app(|_| {}).await;
    let admin = Console::login(&app, "admin@example.com", DEMO_PASSWORD).await;
    for body in [
        json!({"key": "seats", "label": "Seats", "type": "number"}),
        json!({"key": "renewal", "label": "Renewal date", "type": "date"}),
        json!({"key": "paid", "label": "Paid", "type": "boolean"}),
        json!({"key": "obsolete", "label": "Old code", "type": "text"}),
    ] {
        expect_status(201, admin.post("/api/v1/admin/contact-fields", body).await);
    }
    let sheena = hand_off(&app, "16505551234", "support").await;
    let sam = Console::login(&app, "sam@example.com", DEMO_PASSWORD).await;
    expect_status(
        200,
        sam.patch(
            "/api/v1/contacts/16505551234",
            json!({"fields": {"city": "Lisbon"}}),
        )
        .await,
    );

    // The admin defines "Plan", one of Gold or Silver, then adds Platinum.
    let browser = Browser::start(1280, 900, "en").await;
    browser.login(&app.address, "admin@example.com", None).await;
    browser.click("#nav-admin").await;
    browser.click("#admin-fields").await;
    browser
        .wait_true(
            "the fields listed",
            "document.querySelectorAll('.field-row').length === 4",
        )
        .await;
    browser.click("#field-new").await;
    browser
        .wait_css("#field-label")
        .await
        .send_keys("Plan")
        .await
        .expect("label typed");
    browser
        .wait_css("#field-key")
        .await
        .send_keys("plan")
        .await
        .expect("key typed");
    browser.set_value("#field-type", "choice").await;
    browser
        .wait_css("#field-options")
        .await
        .send_keys("Gold\nSilver")
        .await
        .expect("options typed");
    browser.click("#field-save").await;
    browser
        .wait_true(
            "the plan listed with its options",
            "document.querySelector(\".field-row[data-key='plan'] .field-options\")?.textContent === 'Gold, Silver'",
        )
        .await;
    browser
        .click(".field-row[data-key='plan'] .field-edit")
        .await;
    browser
        .wait_true(
            "the key and the type cannot change",
            "document.querySelector('#field-key').disabled && document.querySelector('#field-type').disabled",
        )
        .await;
    browser
        .set_value("#field-options", "Gold\nSilver\nPlatinum")
        .await;
    browser.click("#field-save").await;
    browser
        .wait_true(
            "Platinum added",
            "document.querySelector(\".field-row[data-key='plan'] .field-options\")?.textContent === 'Gold, Silver, Platinum'",
        )
        .await;
    browser
        .click(".field-row[data-key='obsolete'] .field-delete")
        .await;
    browser.click("#confirm-ok").await;
    browser
        .wait_true(
            "the old field deleted",
            "!document.querySelector(\".field-row[data-key='obsolete']\") && document.querySelectorAll('.field-row').length === 4",
        )
        .await;
    browser.screenshot("console-admin-contact-fields").await;
    browser.close().await;
    let listed = expect_status(200, admin.get("/api/v1/admin/contact-fields").await);
    let plan = listed["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|f| f["key"] == "plan")
        .cloned()
        .expect("defined through the console");
    assert_eq!(plan["type"], "choice");
    assert_eq!(plan["options"], json!(["Gold", "Silver", "Platinum"]));

    // Alice edits the fields in the customer panel: a number that is not one is refused by
    // the server (shown, nothing saved); then good values, shown by their labels.
    let browser = Browser::start(1440, 900, "en").await;
    browser.login(&app.address, "alice@example.com", None).await;
    browser.online_and_open(&sheena).await;
    browser
        .wait_true(
            "an undefined field shown as it is",
            "document.querySelector(\"#customer-panel .contact-field[data-key='city']\")?.textContent === 'Lisbon'",
        )
        .await;
    browser.click("#edit-contact").await;
    browser
        .wait_true(
            "an input of each defined field's type",
            "document.querySelector('#contact-field-seats')?.inputMode === 'decimal' \
             && document.querySelector('#contact-field-renewal')?.type === 'date' \
             && document.querySelector('#contact-field-paid')?.type === 'checkbox' \
             && document.querySelector('#contact-field-plan')?.tagName === 'SELECT'",
        )
        .await;
    browser.set_value("#contact-field-seats", "a dozen").await;
    browser.click("#contact-form button[type='submit']").await;
    browser
        .wait_true(
            "the server's refusal shown, naming the field by its label",
            "(document.querySelector('#contact-form .error')?.textContent || '').includes('Seats: a number like 42')",
        )
        .await;
    browser.screenshot("console-contact-fields-refused").await;
    browser.set_value("#contact-field-seats", "12").await;
    browser.set_value("#contact-field-plan", "Platinum").await;
    browser
        .set_value("#contact-field-renewal", "2027-01-31")
        .await;
    browser.click("#contact-field-paid").await;
    browser.click("#contact-form button[type='submit']").await;
    browser
        .wait_true(
            "the values shown by their labels",
            "!document.querySelector('#contact-form') \
             && document.querySelector(\"#customer-panel .contact-field[data-key='seats']\")?.textContent === '12' \
             && document.querySelector(\"#customer-panel .contact-field[data-key='plan']\")?.textContent === 'Platinum' \
             && document.querySelector(\"#customer-panel .contact-field[data-key='renewal']\")?.textContent === '2027-01-31' \
             && document.querySelector(\"#customer-panel .contact-field[data-key='paid']\")?.textContent === 'Yes' \
             && [...document.querySelectorAll('#customer-panel .fact dt')].some((d) => d.textContent === 'Renewal date')",
        )
        .await;
    browser.screenshot("console-contact-fields").await;
    browser.close().await;
    let contact = expect_status(200, sam.get("/api/v1/contacts/16505551234").await);
    let fields = &contact["contact"]["fields"];
    assert_eq!(fields["seats"], "12", "{contact}");
    assert_eq!(fields["plan"], "Platinum", "{contact}");
    assert_eq!(fields["renewal"], "2027-01-31", "{contact}");
    assert_eq!(fields["paid"], "true", "{contact}");
    assert_eq!(fields["city"], "Lisbon", "{contact}");

    // On a phone, in Arabic: the form right to left, nothing wider than the screen.
    let browser = Browser::start(360, 780, "ar").await;
    browser
        .login(&app.address, "alice@example.com", Some("ar"))
        .await;
    browser.open_row(&sheena).await;
    browser.click("#show-customer").await;
    browser.click("#edit-contact").await;
    browser.wait_css("#contact-field-plan").await;
    browser
        .wait_true("right to left", "document.documentElement.dir === 'rtl'")
        .await;
    browser
        .client
        .execute(
            "document.querySelector('#contact-field-seats').scrollIntoView({ block: 'center' }); return true;",
            vec![],
        )
        .await
        .expect("scrolled to the fields");
    browser
        .wait_true(
            "no horizontal overflow",
            "document.documentElement.scrollWidth <= window.innerWidth + 1",
        )
        .await;
    browser.screenshot("console-phone-ar-contact-fields").await;
    browser.close().await;

    // The admin tab on a phone in Arabic too.
    let browser = Browser::start(360, 780, "ar").await;
    browser
        .login(&app.address, "admin@example.com", Some("ar"))
        .await;
    browser.click("#nav-admin").await;
    browser.click("#admin-fields").await;
    browser
        .wait_true(
            "the fields listed",
            "document.querySelectorAll('.field-row').length === 4",
        )
        .await;
    browser
        .wait_true(
            "no horizontal overflow",
            "document.documentElement.scrollWidth <= window.innerWidth + 1",
        )
        .await;
    browser
        .screenshot("console-phone-ar-admin-contact-fields")
        .await;
    browser.close().await;
}
