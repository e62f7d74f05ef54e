//! The web console in a real Chromium (headless, driven through chromedriver), as an agent
//! would use it: log in, go online, open the conversation a customer started, read the
//! transcript as it grows over the websocket, answer; on a phone-sized window and in Arabic
//! (right to left). Screenshots go to `target/screenshots/` for people to look at.
//!
//! scripts/test installs chromium and chromium-driver where they are missing.

mod common;

use std::time::Duration;

use common::TestApp;
use common::browser::Browser;
use common::console::*;
use serde_json::{Value, json};

#[actix_rt::test]
async fn an_agent_logs_in_takes_the_conversation_and_answers_in_the_browser() {
    let app = spawn_console_app(|_| {}).await;
    let customer = Customer::new(&app, "34611122233");
    let id = customer.hands_off_to("support").await;

    let browser = Browser::start(1280, 800, "en").await;
    browser.login(&app.address, "alice@example.com", None).await;
    // Going online takes the waiting conversation: it appears in the list, live.
    browser.online_and_open(&id).await;
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
async fn the_console_resumes_after_the_gateway_restarts_missing_nothing_and_doubling_nothing() {
    let app = spawn_console_app(|_| {}).await;
    let customer = Customer::new(&app, "34611122244");
    let id = customer.hands_off_to("support").await;
    let browser = Browser::start(1280, 800, "en").await;
    browser.login(&app.address, "alice@example.com", None).await;
    browser.online_and_open(&id).await;
    let connected = "document.querySelector('#connection')?.dataset.state === 'connected'";
    browser.wait_true("the connection is live", connected).await;
    customer.says("one, before the restart").await;
    browser
        .wait_true(
            "the first message",
            "[...document.querySelectorAll('#transcript .message')].some(m => m.textContent.includes('one, before the restart'))",
        )
        .await;
    // A mark on the page: it must still be there at the end (no reload).
    browser
        .client
        .execute("window.__sameDocument = true;", vec![])
        .await
        .expect("marked");

    // The gateway stops: the console says it lost the connection.
    let port = app
        .address
        .rsplit(':')
        .next()
        .and_then(|p| p.parse::<u16>().ok())
        .expect("port");
    let (mut settings, graph, db_path, dir) = app.stop().await;
    browser
        .wait_true(
            "the console shows it is disconnected",
            "document.querySelector('#connection')?.dataset.state !== 'connected'",
        )
        .await;
    browser.screenshot("console-reconnecting").await;

    // It comes back on the same address; the customer writes twice right away.
    settings.server.port = port;
    let mut app = TestApp::start(settings, graph, db_path).await;
    app.keep_dir(dir);
    let customer = Customer::new(&app, "34611122244");
    customer.says("two, while you reconnect").await;
    customer.says("three, after the restart").await;
    browser
        .wait_true("the console reconnected by itself", connected)
        .await;
    browser
        .wait_true(
            "both new messages",
            "(t => t.includes('two, while you reconnect') && t.includes('three, after the restart'))(document.querySelector('#transcript')?.textContent || '')",
        )
        .await;
    // An answer goes through the new gateway.
    let composer = browser.wait_css("#composer").await;
    composer
        .send_keys("four, from the agent")
        .await
        .expect("typed");
    composer.send_keys("\u{E007}").await.expect("Enter");
    customer.wait_for_text("four, from the agent").await;
    browser
        .wait_true(
            "the answer in the transcript",
            "[...document.querySelectorAll('#transcript .message')].some(m => m.textContent.includes('four, from the agent'))",
        )
        .await;
    for text in [
        "one, before the restart",
        "two, while you reconnect",
        "three, after the restart",
        "four, from the agent",
    ] {
        assert_eq!(
            browser.count_messages(text).await,
            1,
            "{text:?} shown exactly once"
        );
    }
    let same = browser
        .client
        .execute("return window.__sameDocument === true;", vec![])
        .await
        .expect("asked");
    assert_eq!(same, Value::Bool(true), "the page was never reloaded");
    browser.close().await;
}

#[actix_rt::test]
async fn a_team_inbox_follows_live_and_two_agents_see_each_other_in_a_conversation() {
    let app = spawn_console_app(|_| {}).await;
    // Bob watches his team's inbox (he is not online: nothing is assigned to him).
    let bob = Browser::start(1280, 800, "en").await;
    bob.login(&app.address, "bob@example.com", None).await;
    bob.wait_css("#tab-team-support")
        .await
        .click()
        .await
        .expect("the support inbox");
    bob.wait_true(
        "connected",
        "document.querySelector('#connection')?.dataset.state === 'connected'",
    )
    .await;
    // A customer is handed off: the row appears live (the inbox's own reload is every 30 s).
    let customer = Customer::new(&app, "34611122255");
    let id = customer.hands_off_to("support").await;
    bob.wait_css(&format!(".conversation-row[data-id='{id}']"))
        .await
        .click()
        .await
        .expect("bob opens it");

    // Alice goes online, takes it and opens it: each sees the other there, and Bob sees her type.
    let alice = Browser::start(1280, 800, "en").await;
    alice.login(&app.address, "alice@example.com", None).await;
    alice.online_and_open(&id).await;
    alice
        .wait_true(
            "alice sees bob viewing",
            "(document.querySelector('#activity')?.textContent || '').includes('Bob Chen')",
        )
        .await;
    bob.wait_true(
        "bob sees alice viewing",
        "(document.querySelector('#activity')?.textContent || '').includes('Alice Martin')",
    )
    .await;
    alice
        .wait_css("#composer")
        .await
        .send_keys("Let me check")
        .await
        .expect("typed");
    bob.wait_true(
        "bob sees alice typing",
        "document.querySelector('#activity')?.classList.contains('typing')",
    )
    .await;
    bob.screenshot("console-collision").await;
    // Her answer reaches Bob's open transcript live, though it is not his conversation.
    alice
        .wait_css("#composer")
        .await
        .send_keys("\u{E007}")
        .await
        .expect("Enter");
    customer.wait_for_text("Let me check").await;
    bob.wait_true(
        "alice's answer in bob's transcript",
        "[...document.querySelectorAll('#transcript .message')].some(m => m.textContent.includes('Let me check'))",
    )
    .await;
    alice.close().await;
    bob.close().await;
}

/// A Messenger page approved for `HUMAN_AGENT`, a customer who last wrote 3 days ago: the
/// composer says replies go with the tag, and until when, in the agent's language (here
/// Spanish); the agent's reply goes out.
#[actix_rt::test]
async fn the_composer_tells_when_replies_go_with_meta_s_human_agent_tag() {
    use common::meta::{MESSENGER as M, now_ms};
    let fake = switchboard::fakes::messenger::FakeMessenger::start();
    let app = spawn_console_app(|s| {
        M.configure(s, &fake);
        if let Some(page) = s
            .channels
            .get_mut("messenger")
            .and_then(|c| c.messenger.as_mut())
        {
            page.human_agent = true;
        }
    })
    .await;
    let psid = "4444444447";
    let wrote = now_ms() - 3 * 24 * 3600 * 1000;
    let mut hi = M.text(psid, "m_late_hi", "hi");
    hi["timestamp"] = json!(wrote);
    assert_eq!(
        M.post(&app, &M.delivery(vec![hi]), Some(M.app_secret))
            .await,
        200
    );
    M.choose(
        &app,
        &fake,
        psid,
        "m_late_1",
        "main_menu/person",
        wrote + 1000,
    )
    .await;
    M.choose(
        &app,
        &fake,
        psid,
        "m_late_2",
        "choose_team/support",
        wrote + 2000,
    )
    .await;
    let id = wait_handed_off(&app, &M.customer(psid)).await;

    let browser = Browser::start(1280, 800, "es").await;
    browser
        .login(&app.address, "alice@example.com", Some("es"))
        .await;
    browser.online_and_open(&id).await;
    browser
        .wait_true(
            "the tagged-window notice",
            "document.querySelector('#window-notice')?.dataset.state === 'tagged' && document.querySelector('#window-notice').textContent.includes('HUMAN_AGENT')",
        )
        .await;
    browser.screenshot("console-window-human-agent").await;
    let composer = browser.wait_css("#composer").await;
    composer
        .send_keys("Perdón por la espera")
        .await
        .expect("typed");
    composer.send_keys("\u{E007}").await.expect("Enter");
    fake.wait_until(WAIT, |calls| {
        calls
            .iter()
            .any(|c| c.body["message"]["text"] == "Perdón por la espera")
    })
    .await;
    browser.close().await;
}

/// An agent edits the customer's contact from the panel (name, email, tags): saved for the
/// contact, shown at once; refused with the server's reason when invalid (nothing saved).
#[actix_rt::test]
async fn an_agent_edits_the_contact_from_the_customer_panel() {
    let app = spawn_console_app(|_| {}).await;
    let id = hand_off(&app, "34611122255", "support").await;
    let browser = Browser::start(1280, 800, "en").await;
    browser.login(&app.address, "alice@example.com", None).await;
    browser.online_and_open(&id).await;
    browser
        .wait_css("#edit-contact")
        .await
        .click()
        .await
        .expect("edit");
    let fill = |css: &'static str, text: &'static str| {
        let browser = &browser;
        async move {
            let input = browser.wait_css(css).await;
            input.clear().await.expect("cleared");
            input.send_keys(text).await.expect("typed");
        }
    };
    fill("#contact-name", "Lucía Pérez").await;
    fill("#contact-email", "lucia@example.com").await;
    // The browser checks the email's shape; the server the tags' (no spaces in a tag).
    fill("#contact-tags", "VIP, big spender").await;
    browser
        .wait_css("#contact-form button[type=submit]")
        .await
        .click()
        .await
        .expect("save");
    browser
        .wait_true(
            "the server's reason",
            "document.querySelector('#contact-form .error')?.textContent.includes('tags')",
        )
        .await;
    fill("#contact-tags", "VIP, wholesale").await;
    browser
        .wait_css("#contact-form button[type=submit]")
        .await
        .click()
        .await
        .expect("save");
    browser
        .wait_true(
            "the saved tags in the panel",
            "!document.querySelector('#contact-form') && [...document.querySelectorAll('#customer-panel .tag')].map(t => t.textContent).join(',') === 'vip,wholesale' && document.querySelector('#customer-panel .customer-name').textContent.includes('Lucía Pérez')",
        )
        .await;
    browser.screenshot("console-contact-edited").await;
    let alice = Console::new(&app, ALICE);
    let contact = alice.get("/api/v1/contacts/34611122255").await.1;
    assert_eq!(
        contact["contact"]["tags"],
        json!(["vip", "wholesale"]),
        "{contact}"
    );
    assert_eq!(
        contact["contact"]["email"], "lucia@example.com",
        "{contact}"
    );
    browser.close().await;
}

/// Sam (supervisor) opens the contacts, writes a segment's filter and sees its live count move
/// (and the server's reason for a broken one), saves it and lists its members; on a phone, in
/// Arabic, the same screen reads right to left.
#[actix_rt::test]
async fn a_supervisor_writes_a_segment_and_sees_its_live_count() {
    let app = spawn_console_app(|_| {}).await;
    hand_off(&app, "34611122271", "support").await;
    hand_off(&app, "34611122272", "support").await;
    let sam = Console::login(&app, "sam@example.com", DEMO_PASSWORD).await;
    sam.patch(
        "/api/v1/contacts/34611122271",
        json!({"tags": ["vip"], "name": "Lucía Pérez"}),
    )
    .await;
    let browser = Browser::start(1280, 800, "en").await;
    browser.login(&app.address, "sam@example.com", None).await;
    browser
        .wait_css("#nav-contacts")
        .await
        .click()
        .await
        .expect("the contacts open");
    browser
        .wait_true(
            "both contacts listed",
            "document.querySelectorAll('#contact-list .contact-row').length === 2",
        )
        .await;
    browser
        .wait_css("#segment-new")
        .await
        .click()
        .await
        .expect("a new segment");
    browser
        .wait_css("#segment-name")
        .await
        .send_keys("VIP")
        .await
        .expect("named");
    let filter = browser.wait_css("#segment-filter").await;
    filter
        .send_keys("'vip' in contact.tags &&")
        .await
        .expect("typed");
    browser
        .wait_true(
            "the server's reason for an unfinished filter",
            "document.querySelector('#segment-count .error')?.textContent.includes('CEL')",
        )
        .await;
    filter.send_keys(" contact.new").await.expect("typed");
    browser
        .wait_true(
            "the live count",
            "document.querySelector('#segment-count .count')?.textContent === '1' && document.querySelector('#segment-count .sample')?.textContent.includes('Lucía')",
        )
        .await;
    browser.screenshot("console-segment-editor").await;
    browser
        .wait_css("#segment-save")
        .await
        .click()
        .await
        .expect("saved");
    browser
        .wait_true(
            "the segment's members",
            "!document.querySelector('#segment-dialog') && document.querySelector('#segment-members')?.textContent.includes('1') && document.querySelectorAll('#contact-list .contact-row').length === 1",
        )
        .await;
    browser.screenshot("console-segment-members").await;
    browser.close().await;

    let phone = Browser::start(390, 844, "ar").await;
    phone
        .login(&app.address, "sam@example.com", Some("ar"))
        .await;
    phone
        .wait_css("#nav-contacts")
        .await
        .click()
        .await
        .expect("the contacts open");
    phone
        .wait_css(".segment-button[data-segment]")
        .await
        .click()
        .await
        .expect("the segment");
    phone
        .wait_true(
            "its one member, right to left",
            "document.documentElement.dir === 'rtl' && document.querySelectorAll('#contact-list .contact-row').length === 1",
        )
        .await;
    phone.screenshot("console-phone-ar-segment").await;
    phone.close().await;
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
    // Her time in status starts again, ticking (m:ss), on the refreshed board.
    browser
        .wait_true(
            "alice's time online shown",
            "(() => { const e = document.querySelector(\"#board .board-team[data-id='support'] \
             .board-agent[data-id='alice'][data-presence='online'] .board-since\"); \
             return e && /^0:[0-5][0-9]$/.test(e.textContent.trim()); })()",
        )
        .await;
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

/// A PNG of `width`×`height` drawn by the browser itself (a canvas), with `label` on it.
async fn drawn_png(
    browser: &Browser,
    width: u32,
    height: u32,
    color: &str,
    label: &str,
) -> Vec<u8> {
    use base64::Engine as _;
    let script = format!(
        "const c = document.createElement('canvas'); c.width = {width}; c.height = {height}; \
         const g = c.getContext('2d'); g.fillStyle = '{color}'; g.fillRect(0, 0, {width}, {height}); \
         g.fillStyle = '#fff'; g.font = 'bold 28px sans-serif'; g.fillText({label:?}, 20, {height} / 2); \
         return c.toDataURL('image/png').split(',')[1];"
    );
    let data = browser
        .client
        .execute(&script, vec![])
        .await
        .expect("a canvas drawn");
    base64::engine::general_purpose::STANDARD
        .decode(data.as_str().unwrap_or_default())
        .expect("a PNG")
}

#[actix_rt::test]
async fn an_agent_sees_the_customers_image_and_attaches_one_from_the_file_picker() {
    let app = spawn_console_app(|s| s.media.poll_interval_ms = 50).await;
    let id = hand_off(&app, "34611122266", "support").await;
    let alice = Console::new(&app, ALICE);
    alice.set_presence("online").await;
    alice.wait_status(&id, "assigned", AT_ONCE).await;
    let browser = Browser::start(1280, 800, "en").await;
    let photo = drawn_png(&browser, 320, 200, "#2b6cb0", "broken part").await;
    let receipt = drawn_png(&browser, 240, 160, "#2f855a", "RECEIPT").await;

    // The customer sends a photo: Meta holds it, the webhook names it.
    let planted = app.graph.plant_media(&photo, "image/png");
    let wamid = next_wamid("34611122266");
    let webhook = common::message_webhook(
        "34611122266",
        &wamid,
        json!({"type": "image", "image": {"id": planted.id, "mime_type": "image/png",
               "sha256": planted.sha256_base64(), "caption": "the broken part"}}),
    );
    Customer::new(&app, "34611122266").sends(&webhook).await;

    browser.login(&app.address, "alice@example.com", None).await;
    browser
        .wait_css(&format!(".conversation-row[data-id='{id}']"))
        .await
        .click()
        .await
        .expect("the conversation opens");
    // Inline, from the gateway's copy; a click enlarges it in a dialog.
    browser
        .wait_true(
            "the customer's image shown",
            "[...document.querySelectorAll('#transcript .message[data-direction=inbound] img.media-image')]\
             .some(i => i.complete && i.naturalWidth === 320 && i.src.startsWith('blob:'))",
        )
        .await;
    browser
        .wait_css("#transcript .message[data-direction='inbound'] .media-thumb")
        .await
        .click()
        .await
        .expect("enlarge");
    browser
        .wait_true(
            "the image in a dialog",
            "document.querySelector('dialog#media-viewer[open] img.media-full')",
        )
        .await;
    browser.screenshot("console-media-enlarged").await;
    browser
        .wait_css("dialog#media-viewer .modal-head button")
        .await
        .click()
        .await
        .expect("dialog closed");

    // The agent picks a file: previewed, sent with a caption, uploaded, shown.
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("receipt.png");
    std::fs::write(&path, &receipt).expect("file written");
    browser
        .wait_css("#attach-file")
        .await
        .send_keys(&path.to_string_lossy())
        .await
        .expect("file chosen");
    browser
        .wait_css("#attachment-preview img.attachment-thumb")
        .await;
    browser
        .wait_css("#composer")
        .await
        .send_keys("Here is your receipt")
        .await
        .expect("caption typed");
    browser.screenshot("console-media-preview").await;
    browser.wait_css("#send").await.click().await.expect("sent");
    let customer = Customer::new(&app, "34611122266");
    let sent = customer
        .wait_for_message(0, "the image", |m| m["type"] == "image")
        .await;
    assert_eq!(sent["image"]["caption"], "Here is your receipt", "{sent}");
    let uploads = app.graph.uploads();
    assert_eq!(uploads.len(), 1, "{uploads:?}");
    assert_eq!(uploads[0].filename.as_deref(), Some("receipt.png"));
    assert_eq!(uploads[0].declared_type.as_deref(), Some("image/png"));
    assert_eq!(sent["image"]["id"].as_str(), uploads[0].id.as_deref());
    browser
        .wait_true(
            "the sent image in the transcript",
            "[...document.querySelectorAll('#transcript .message[data-direction=outbound] img.media-image')]\
             .some(i => i.complete && i.naturalWidth === 240)",
        )
        .await;
    browser
        .wait_true(
            "the preview is gone",
            "!document.querySelector('#attachment-preview')",
        )
        .await;
    // (Enlarging the customer's photo scrolled the transcript up to it.)
    browser
        .wait_true(
            "the sent image scrolled into view",
            "(() => { const ms = document.querySelectorAll('#transcript .message'); \
             const last = ms[ms.length - 1]; last.scrollIntoView({block: 'end'}); \
             const r = last.getBoundingClientRect(); \
             return r.bottom <= window.innerHeight && r.top >= 0; })()",
        )
        .await;
    browser.screenshot("console-media-sent").await;

    // A pasted image is previewed (and can be taken back); a dropped file is sent.
    use base64::Engine as _;
    let encoded = base64::engine::general_purpose::STANDARD.encode(&receipt);
    let hand_over = |event: &str, name: &str| {
        format!(
            "const bytes = Uint8Array.from(atob(arguments[0]), c => c.charCodeAt(0)); \
             const dt = new DataTransfer(); \
             dt.items.add(new File([bytes], '{name}', {{type: 'image/png'}})); {event}"
        )
    };
    let paste = hand_over(
        "document.querySelector('#composer').dispatchEvent(\
         new ClipboardEvent('paste', {clipboardData: dt, bubbles: true, cancelable: true}));",
        "pasted.png",
    );
    browser
        .client
        .execute(&paste, vec![json!(encoded)])
        .await
        .expect("pasted");
    browser
        .wait_true(
            "the pasted image previewed",
            "document.querySelector('#attachment-preview')?.textContent.includes('pasted.png')",
        )
        .await;
    browser
        .wait_css("#attachment-preview .attachment-remove")
        .await
        .click()
        .await
        .expect("removed");
    browser
        .wait_true(
            "the preview is gone",
            "!document.querySelector('#attachment-preview')",
        )
        .await;
    let drop = hand_over(
        "const form = document.querySelector('form.composer'); \
         form.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true, cancelable: true})); \
         form.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));",
        "dropped.png",
    );
    browser
        .client
        .execute(&drop, vec![json!(encoded)])
        .await
        .expect("dropped");
    browser
        .wait_true(
            "the dropped file previewed",
            "document.querySelector('#attachment-preview')?.textContent.includes('dropped.png')",
        )
        .await;
    let before = customer.received().len();
    browser.wait_css("#send").await.click().await.expect("sent");
    customer
        .wait_for_message(before, "the dropped image", |m| m["type"] == "image")
        .await;
    let uploads = app.graph.uploads();
    assert_eq!(uploads.len(), 2, "{uploads:?}");
    assert_eq!(uploads[1].filename.as_deref(), Some("dropped.png"));
    browser.close().await;
}

/// The PWA: the service worker registers at `/` and keeps the shell, the manifest is served
/// and valid (its icons load), and the user menu's notification settings reach the server.
/// (Headless Chromium cannot reach a real push service: the server → push service path is
/// tests/push.rs, against the fake push service.)
#[actix_rt::test]
async fn the_console_installs_as_a_pwa_and_keeps_notification_settings_on_the_server() {
    let app = spawn_console_app(|_| {}).await;
    let browser = Browser::start(1280, 800, "en").await;
    browser.login(&app.address, "alice@example.com", None).await;

    // The service worker: registered by the console, active, scope the whole console.
    browser
        .client
        .execute(
            "navigator.serviceWorker.ready.then((r) => { window.__sw = { script: r.active && r.active.scriptURL, scope: r.scope }; });",
            vec![],
        )
        .await
        .expect("script runs");
    browser
        .wait_true(
            "an active service worker at /sw.js",
            "window.__sw && window.__sw.script && window.__sw.script.endsWith('/sw.js')",
        )
        .await;
    let sw = browser
        .client
        .execute("return window.__sw;", vec![])
        .await
        .expect("script runs");
    assert_eq!(sw["scope"], format!("{}/", app.address), "{sw}");
    // It kept the shell: the page and the hashed files.
    browser
        .client
        .execute(
            "caches.keys().then(async (names) => { const shell = names.find((n) => n.startsWith('switchboard-shell-')); const c = shell && await caches.open(shell); window.__shell = c ? (await c.keys()).map((r) => new URL(r.url).pathname) : []; });",
            vec![],
        )
        .await
        .expect("script runs");
    browser
        .wait_true(
            "the shell in the cache",
            "window.__shell && window.__shell.includes('/') && window.__shell.some((p) => /^\\/assets\\/app\\.[0-9a-f]{8}\\.js$/.test(p))",
        )
        .await;

    // The manifest, as the page links it.
    browser
        .client
        .execute(
            "fetch(document.querySelector('link[rel=manifest]').href).then(async (r) => { const m = await r.json(); const icons = await Promise.all(m.icons.map(async (i) => { const x = await fetch(i.src); return { src: i.src, sizes: i.sizes, type: i.type, status: x.status, served: x.headers.get('content-type') }; })); window.__manifest = { type: r.headers.get('content-type'), m, icons }; });",
            vec![],
        )
        .await
        .expect("script runs");
    browser.wait_true("the manifest", "window.__manifest").await;
    let manifest = browser
        .client
        .execute("return window.__manifest;", vec![])
        .await
        .expect("script runs");
    assert_eq!(manifest["type"], "application/manifest+json", "{manifest}");
    let m = &manifest["m"];
    assert_eq!(m["name"], "Switchboard");
    assert_eq!(m["start_url"], "/");
    assert_eq!(m["display"], "standalone");
    assert!(
        m["theme_color"]
            .as_str()
            .is_some_and(|c| c.starts_with('#'))
    );
    let icons = manifest["icons"].as_array().expect("icons");
    for (sizes, kind) in [
        ("192x192", "image/png"),
        ("512x512", "image/png"),
        ("any", "image/svg+xml"),
    ] {
        let icon = icons
            .iter()
            .find(|i| i["sizes"] == sizes && i["type"] == kind)
            .unwrap_or_else(|| panic!("a {sizes} {kind} icon: {manifest}"));
        assert_eq!(icon["status"], 200, "{icon}");
        assert_eq!(icon["served"], kind, "{icon}");
    }

    // Notification settings, from the user menu, kept on the server.
    browser
        .wait_css("#user-menu")
        .await
        .click()
        .await
        .expect("menu");
    browser
        .wait_css("#my-notifications")
        .await
        .click()
        .await
        .expect("notifications");
    browser.wait_css("#notifications-dialog").await;
    browser
        .wait_true(
            "the sound is on by default",
            "document.querySelector('#notify-sound')?.checked === true",
        )
        .await;
    browser
        .wait_css("#notify-message")
        .await
        .click()
        .await
        .expect("messages off");
    let alice = Console::new(&app, ALICE);
    let mut settings = Value::Null;
    for _ in 0..150 {
        settings = expect_status(200, alice.get("/api/v1/me/notifications").await);
        if settings["notifications"]["events"]["message"] == false {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        settings["notifications"]["events"]["message"], false,
        "{settings}"
    );
    assert_eq!(settings["notifications"]["events"]["offer"], true);
    browser.screenshot("console-notifications").await;
    browser.close().await;
}
