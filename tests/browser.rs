//! The web console in a real Chromium (headless, driven through chromedriver), as an agent
//! would use it: log in, go online, open the conversation a customer started, read the
//! transcript as it grows over the websocket, answer; on a phone-sized window and in Arabic
//! (right to left). Screenshots go to `target/screenshots/` for people to look at.
//!
//! scripts/test installs chromium and chromium-driver where they are missing.

mod common;

use common::browser::Browser;
use common::console::*;

#[actix_rt::test]
async fn an_agent_logs_in_takes_the_conversation_and_answers_in_the_browser() {
    let app = spawn_console_app(|_| {}).await;
    let customer = Customer::new(&app, "34611122233");
    let id = customer.hands_off_to("support").await;

    let browser = Browser::start(1280, 800, "en").await;
    browser.login(&app.address, "alice@example.com", None).await;
    browser
        .wait_css("#presence option[value='online']")
        .await
        .click()
        .await
        .expect("online");
    // Going online takes the waiting conversation: it appears in the list, live.
    browser
        .wait_css(&format!(".conversation-row[data-id='{id}']"))
        .await
        .click()
        .await
        .expect("the conversation opens");
    browser
        .wait_css("#transcript .message[data-direction='inbound']")
        .await;
    browser
        .wait_true(
            "the connection is live",
            "document.querySelector('#connection')?.dataset.state === 'connected'",
        )
        .await;

    // The customer writes: it appears without a reload.
    customer.says("Is anyone there? مرحبا").await;
    browser
        .wait_true(
            "the customer's new message in the transcript",
            "[...document.querySelectorAll('#transcript .message')].some(m => m.textContent.includes('Is anyone there?'))",
        )
        .await;

    // Enter sends.
    let composer = browser.wait_css("#composer").await;
    composer
        .send_keys("Hello from the browser")
        .await
        .expect("typed");
    composer.send_keys("\u{E007}").await.expect("Enter");
    customer.wait_for_text("Hello from the browser").await;
    browser
        .wait_true(
            "the reply in the transcript",
            "[...document.querySelectorAll('#transcript .message[data-direction=outbound]')].some(m => m.textContent.includes('Hello from the browser'))",
        )
        .await;
    browser.screenshot("console-desktop").await;
    browser.close().await;
}

#[actix_rt::test]
async fn the_console_fits_a_phone_and_reads_right_to_left_in_arabic() {
    let app = spawn_console_app(|_| {}).await;
    let id = hand_off(&app, "34611122244", "support").await;
    let alice = Console::new(&app, ALICE);
    alice.set_presence("online").await;
    alice.wait_status(&id, "assigned", AT_ONCE).await;

    let browser = Browser::start(360, 780, "ar").await;
    browser
        .login(&app.address, "alice@example.com", Some("ar"))
        .await;
    browser
        .wait_true("right to left", "document.documentElement.dir === 'rtl'")
        .await;
    browser
        .wait_true("Arabic", "document.documentElement.lang === 'ar'")
        .await;
    browser
        .wait_css(&format!(".conversation-row[data-id='{id}']"))
        .await;
    // Nothing overflows the phone's width.
    browser
        .wait_true(
            "no horizontal overflow",
            "document.documentElement.scrollWidth <= window.innerWidth + 1",
        )
        .await;
    browser.screenshot("console-phone-ar-list").await;
    browser
        .wait_css(&format!(".conversation-row[data-id='{id}']"))
        .await
        .click()
        .await
        .expect("opens");
    browser.wait_css("#composer").await;
    browser.screenshot("console-phone-ar-conversation").await;
    browser.close().await;
}

#[actix_rt::test]
async fn a_supervisor_forces_presence_on_the_board_and_an_admin_sees_the_people() {
    let app = spawn_console_app(|_| {}).await;
    let waiting = hand_off(&app, "34611122255", "support").await;

    // Sam's board: support's queue holds the customer; forcing Alice online hands it to her.
    let browser = Browser::start(1280, 800, "en").await;
    browser.login(&app.address, "sam@example.com", None).await;
    browser
        .wait_css("#nav-board")
        .await
        .click()
        .await
        .expect("the board opens");
    browser
        .wait_css(&format!("#board .board-queue-item[data-id='{waiting}']"))
        .await;
    browser
        .wait_css(
            "#board .board-team[data-id='support'] .board-agent[data-id='alice'] \
             select.force-presence option[value='online']",
        )
        .await
        .click()
        .await
        .expect("alice forced online");
    let alice = Console::new(&app, ALICE);
    let conversation = alice.wait_status(&waiting, "assigned", AT_ONCE).await;
    assert_eq!(conversation["assignee"], "alice");
    browser.screenshot("console-board").await;
    browser.close().await;

    // The admin's people: every user listed; agents see no admin entry at all.
    let browser = Browser::start(1280, 800, "en").await;
    browser.login(&app.address, "admin@example.com", None).await;
    browser
        .wait_css("#nav-admin")
        .await
        .click()
        .await
        .expect("admin opens");
    browser
        .wait_css("#admin-users")
        .await
        .click()
        .await
        .expect("users");
    for user in ["admin", "sam", "alice", "bob", "carla"] {
        browser
            .wait_css(&format!("#admin .user-row[data-id='{user}']"))
            .await;
    }
    browser.screenshot("console-admin-users").await;
    browser.close().await;

    let browser = Browser::start(1280, 800, "en").await;
    browser.login(&app.address, "bob@example.com", None).await;
    browser
        .wait_true(
            "no board or admin for an agent",
            "!document.querySelector('#nav-board') && !document.querySelector('#nav-admin')",
        )
        .await;
    browser.close().await;
}
