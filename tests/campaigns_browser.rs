//! Campaigns in the console, in a real Chromium (see tests/browser.rs): an admin opens
//! Campaigns, fills the wizard (the number, the approved `spring_sale`, its `first_name` from
//! the contact's name with a default, a segment less another, a frequency cap), sees the
//! server's 422 next to the form, creates the draft, reads its preview (who it reaches, who not
//! and why, the cost, a sample of the messages), starts it and watches the live page reach
//! "completed" with its counts, then follow Meta's statuses (read, failed by error code); the
//! fake Graph API got the templates. A supervisor sees the campaign without its actions. Then on a phone in Arabic (right to left): the list, the live
//! page, the wizard and a draft's preview fit the screen; the draft, edited into a new one that
//! starts in 2030, waits scheduled, pauses, resumes and is cancelled. Screenshots go to
//! `target/screenshots/`.

mod common;

use common::browser::Browser;
use common::campaigns::{consent, contact, segment, templates_sent_to, templates_to, wamid_to};
use common::console::*;
use serde_json::json;

const SUPPORT: &str = "support";
/// Opted in, tagged `spring` (one without a name: the default).
const ANA: &str = "34600200001";
const BEA: &str = "34600200002";
const NONAME: &str = "34600200003";
/// Tagged `spring`, never asked.
const NEVER: &str = "34600200004";
/// Opted in, tagged `spring` and `vip`: the excluded segment.
const VIP: &str = "34600200005";

/// The audience: five contacts tagged `spring` (three reachable), a VIP segment to leave out.
async fn audience(admin: &Console) -> (String, String) {
    for (phone, name, tags, opted_in) in [
        (ANA, Some("Ana"), vec!["spring"], true),
        (BEA, Some("Bea"), vec!["spring"], true),
        (NONAME, None, vec!["spring"], true),
        (NEVER, Some("Nora"), vec!["spring"], false),
        (VIP, Some("Vera"), vec!["spring", "vip"], true),
    ] {
        let id = contact(admin, phone, name, &tags).await;
        if opted_in {
            consent(admin, SUPPORT, &id, "opted_in").await;
        }
    }
    (
        segment(admin, "Spring", "'spring' in contact.tags").await,
        segment(admin, "VIPs", "'vip' in contact.tags").await,
    )
}

/// Fill the wizard's first fields: the name, the number, `spring_sale`, its parameter.
async fn fill_spring_sale(browser: &Browser, name: &str) {
    browser.set_value("#campaign-name", name).await;
    browser
        .wait_css(&format!("#campaign-channel option[value='{SUPPORT}']"))
        .await;
    browser.set_value("#campaign-channel", SUPPORT).await;
    browser
        .wait_true(
            "approved templates only",
            "!!document.querySelector(\"#campaign-template option[value='spring_sale/en_US']\") \
             && !document.querySelector(\"#campaign-template option[value='winter_sale/en_US']\")",
        )
        .await;
    browser
        .set_value("#campaign-template", "spring_sale/en_US")
        .await;
    browser
        .wait_true(
            "the template's category and body",
            "(document.querySelector('#campaign-template-info')?.textContent || '').includes('{{first_name}}') \
             && !!document.querySelector(\"[data-param='body:first_name']\")",
        )
        .await;
    browser
        .set_value("#param-body-first_name-source", "field:name")
        .await;
    browser
        .set_value("#param-body-first_name-default", "friend")
        .await;
}

/// No horizontal overflow on the page.
const FITS: &str = "document.documentElement.scrollWidth <= window.innerWidth + 1 \
     && [...document.querySelectorAll('#campaigns *')].every(e => e.getBoundingClientRect().right <= window.innerWidth + 1 \
        && e.getBoundingClientRect().left >= -1)";

#[actix_rt::test]
async fn an_admin_creates_previews_starts_and_follows_a_campaign() {
    let app = spawn_console_app(|s| {
        s.campaigns.poll_interval_ms = 50;
    })
    .await;
    let admin = Console::login(&app, "admin@example.com", DEMO_PASSWORD).await;
    expect_status(200, admin.post("/api/v1/templates/sync", json!({})).await);
    let (spring, vips) = audience(&admin).await;

    let browser = Browser::start(1280, 900, "en").await;
    browser.login(&app.address, "admin@example.com", None).await;
    browser.click("#nav-campaigns").await;
    browser.wait_css("#campaigns-empty").await;
    browser.click("#campaign-new").await;
    fill_spring_sale(&browser, "Spring sale").await;
    browser
        .wait_true(
            "the draft message names the field it takes",
            "(document.querySelector('#campaign-template-info .template-body')?.textContent || '').includes('Hi [Name]')",
        )
        .await;
    browser.set_value("#campaign-segment", &spring).await;
    browser
        .click(&format!("#campaign-exclude input[value='{vips}']"))
        .await;
    browser.click("#campaign-cap").await;
    browser.set_value("#campaign-cap-messages", "2").await;
    browser.set_value("#campaign-cap-days", "7").await;
    // An empty window: the server's 422, shown next to the form.
    browser.click("#campaign-window").await;
    browser.set_value("#campaign-window-from", "09:00").await;
    browser.set_value("#campaign-window-to", "09:00").await;
    browser
        .set_value("#campaign-window-tz", "Europe/Madrid")
        .await;
    browser.click("#campaign-create").await;
    browser
        .wait_true(
            "the server's reason next to the form",
            "(document.querySelector('#campaign-error')?.textContent || '').includes('`from` equals `to`')",
        )
        .await;
    browser.screenshot("console-campaign-wizard-error").await;
    browser.click("#campaign-window").await;
    browser.screenshot("console-campaign-wizard").await;
    browser.click("#campaign-create").await;

    // The draft's preview: three reachable, who not and why, a sample of what they get.
    browser
        .wait_true(
            "the preview's counts and sample",
            "document.querySelector(\"#campaign-preview [data-measure='eligible'] .stat-value\")?.textContent === '3' \
             && document.querySelector(\"#campaign-preview [data-measure='audience'] .stat-value\")?.textContent === '5' \
             && document.querySelector(\"#campaign-preview .excluded-reasons [data-reason='no_consent'] .count\")?.textContent === '1' \
             && (document.querySelector(\"#campaign-preview .excluded-reasons [data-reason='excluded_segment']\")?.textContent || '').includes('Excluded segment') \
             && document.querySelectorAll('#campaign-preview .sample-recipient').length === 3 \
             && [...document.querySelectorAll('#campaign-preview .sample-recipient .template-body')].some(b => b.textContent.includes('Hi Ana, everything is 20% off')) \
             && [...document.querySelectorAll('#campaign-preview .sample-recipient .template-body')].some(b => b.textContent.includes('Hi friend,')) \
             && (document.querySelector('#campaign-preview .preview-cost')?.textContent || '').includes('ES')",
        )
        .await;
    browser.screenshot("console-campaign-preview").await;
    assert!(
        templates_to(&app, ANA).is_empty(),
        "a preview sends nothing"
    );

    browser.click("#campaign-start").await;
    browser.wait_css("#confirm-dialog").await;
    browser.click("#confirm-ok").await;
    browser
        .wait_true(
            "the live page reaches completed with its counts",
            "document.querySelector('#campaign-page')?.dataset.state === 'completed' \
             && document.querySelector(\"#campaign-page [data-measure='sent'] .stat-value\")?.textContent === '3' \
             && document.querySelector(\"#campaign-page [data-measure='targeted'] .stat-value\")?.textContent === '5' \
             && document.querySelector('#campaign-state')?.textContent === 'Completed' \
             && !document.querySelector('#campaign-pause') && !document.querySelector('#campaign-cancel')",
        )
        .await;
    browser.screenshot("console-campaign-live").await;
    for (to, name) in [(ANA, "Ana"), (BEA, "Bea"), (NONAME, "friend")] {
        let sent = templates_sent_to(&app, to).await;
        assert_eq!(sent.len(), 1, "{to}: {sent:?}");
        assert_eq!(sent[0]["template"]["name"], "spring_sale");
        assert_eq!(
            sent[0]["template"]["components"][0]["parameters"][0]["text"], name,
            "{sent:?}"
        );
    }
    for to in [NEVER, VIP] {
        assert!(templates_to(&app, to).is_empty(), "{to} got a template");
    }

    // Meta's statuses still come after it completed: the page follows them.
    assert_eq!(
        app.post_json(&common::status_webhook(ANA, &wamid_to(&app, ANA), "read"))
            .await
            .status(),
        200
    );
    let mut failed = common::status_webhook(NONAME, &wamid_to(&app, NONAME), "failed");
    failed["entry"][0]["changes"][0]["value"]["statuses"][0]["errors"] =
        json!([{"code": 131026, "title": "Message undeliverable"}]);
    assert_eq!(app.post_json(&failed).await.status(), 200);
    browser
        .wait_true(
            "read and failed by Meta's code, with their shares",
            "document.querySelector(\"#campaign-page [data-measure='read'] .stat-value\")?.dataset.value === '1' \
             && document.querySelector(\"#campaign-page [data-measure='delivered'] .stat-value\")?.dataset.value === '1' \
             && (document.querySelector(\"#campaign-page [data-measure='failed']\")?.textContent || '').includes('33.3% of sent') \
             && (document.querySelector(\"#campaign-page .failed-codes [data-reason='131026']\")?.textContent || '').includes('Error 131026')",
        )
        .await;
    browser.screenshot("console-campaign-live-statuses").await;

    // The recipients' CSV, fetched with the token.
    browser.click("#campaign-csv").await;
    browser
        .wait_true(
            "the CSV downloaded",
            "document.querySelector('#campaign-csv-status')?.dataset.state === 'done'",
        )
        .await;

    // Back to the list: the campaign with its state and progress.
    browser.click("#campaign-back").await;
    browser
        .wait_true(
            "the campaign listed as completed",
            "document.querySelectorAll('.campaign-row').length === 1 \
             && document.querySelector('.campaign-row')?.dataset.state === 'completed' \
             && (document.querySelector('.campaign-row .campaign-progress')?.textContent || '').includes('3')",
        )
        .await;
    browser.screenshot("console-campaigns").await;

    // Ana answers and asks for a person: her conversation names the campaign it answers.
    assert_eq!(
        app.post_json(&common::text_webhook(
            ANA,
            "wamid.campaign-agent-ana",
            "agent"
        ))
        .await
        .status(),
        200
    );
    let conversation = {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let contact = expect_status(200, admin.get(&format!("/api/v1/contacts/{ANA}")).await);
            let c = &contact["contact"]["conversations"][0];
            if c["status"] == "waiting" || c["status"] == "assigned" {
                break c["id"].as_str().expect("an id").to_owned();
            }
            assert!(tokio::time::Instant::now() < deadline, "{contact}");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    browser.click("#nav-inbox").await;
    browser.click("#tab-team-support").await;
    browser.open_row(&conversation).await;
    browser
        .wait_true(
            "the conversation names its campaign",
            "(document.querySelector('#conversation-campaign')?.textContent || '') === 'Campaign: Spring sale'",
        )
        .await;
    browser.screenshot("console-conversation-campaign").await;
    browser.close().await;

    // A supervisor sees it, without the admin's actions.
    let browser = Browser::start(1280, 900, "en").await;
    browser.login(&app.address, "sam@example.com", None).await;
    browser.click("#nav-campaigns").await;
    browser.wait_css(".campaign-row .campaign-open").await;
    browser
        .wait_true(
            "no New campaign",
            "!document.querySelector('#campaign-new')",
        )
        .await;
    browser.click(".campaign-row .campaign-open").await;
    browser
        .wait_true(
            "the live page, read only",
            "document.querySelector('#campaign-page')?.dataset.state === 'completed' \
             && !document.querySelector('#campaign-page .campaign-actions button')",
        )
        .await;
    browser.close().await;

    // On a phone in Arabic: the list, the live page, the wizard and a draft's preview.
    let browser = Browser::start(390, 844, "ar").await;
    browser
        .login(&app.address, "admin@example.com", Some("ar"))
        .await;
    browser.click("#nav-campaigns").await;
    browser.wait_css(".campaign-row").await;
    browser
        .wait_true(
            "right to left, the state in Arabic, nothing wider than the screen",
            &format!(
                "document.documentElement.dir === 'rtl' \
                 && document.querySelector('.campaign-row .campaign-state')?.textContent === 'مكتملة' && {FITS}"
            ),
        )
        .await;
    browser.screenshot("console-phone-ar-campaigns").await;
    browser.click(".campaign-row .campaign-open").await;
    browser
        .wait_true(
            "the live page fits",
            &format!(
                "document.querySelector('#campaign-page')?.dataset.state === 'completed' && {FITS}"
            ),
        )
        .await;
    browser.screenshot("console-phone-ar-campaign-live").await;
    browser.click("#campaign-back").await;
    browser.click("#campaign-new").await;
    fill_spring_sale(&browser, "تخفيضات الربيع").await;
    browser.set_value("#campaign-segment", &spring).await;
    browser.wait_true("the wizard fits", FITS).await;
    browser.screenshot("console-phone-ar-campaign-wizard").await;
    browser.click("#campaign-create").await;
    browser
        .wait_true(
            "the draft's preview, fitting the screen",
            &format!(
                "document.querySelector(\"#campaign-preview [data-measure='eligible'] .stat-value\")?.dataset.value === '4' && {FITS}"
            ),
        )
        .await;
    browser
        .screenshot("console-phone-ar-campaign-preview")
        .await;
    browser
        .client
        .execute(
            "document.querySelector('#campaign-preview .sample')?.scrollIntoView({ block: 'start' }); return true;",
            vec![],
        )
        .await
        .expect("scrolled to the sample");
    browser.screenshot("console-phone-ar-campaign-sample").await;

    // Back to edit: the same fields, for a start in 2030; started, it waits (scheduled); pause,
    // resume, and cancel after a confirmation. The earlier draft stays a draft.
    browser.click("#campaign-edit").await;
    browser
        .wait_true(
            "the wizard again, with the draft's fields",
            "document.querySelector('#campaign-name')?.value === 'تخفيضات الربيع' \
             && document.querySelector('#campaign-template')?.value === 'spring_sale/en_US' \
             && document.querySelector('#param-body-first_name-default')?.value === 'friend'",
        )
        .await;
    browser.click("#campaign-when-at").await;
    browser
        .set_value("#campaign-start-at", "2030-06-01T10:00")
        .await;
    browser.click("#campaign-create").await;
    browser
        .wait_true(
            "the new draft's preview",
            "document.querySelector(\"#campaign-preview [data-measure='eligible'] .stat-value\")?.dataset.value === '4'",
        )
        .await;
    browser.click("#campaign-start").await;
    browser.click("#confirm-ok").await;
    let state = |state: &str| {
        format!(
            "document.querySelector('#campaign-page')?.dataset.state === '{state}' && !document.querySelector('#confirm-dialog')"
        )
    };
    browser.wait_true("scheduled", &state("scheduled")).await;
    browser
        .wait_true("nothing wider than the screen", FITS)
        .await;
    browser
        .screenshot("console-phone-ar-campaign-scheduled")
        .await;
    browser.click("#campaign-pause").await;
    browser.wait_true("paused", &state("paused")).await;
    browser.click("#campaign-resume").await;
    browser
        .wait_true("scheduled again", &state("scheduled"))
        .await;
    browser.click("#campaign-cancel").await;
    browser.click("#confirm-ok").await;
    browser.wait_true("cancelled", &state("cancelled")).await;
    browser.click("#campaign-back").await;
    browser
        .wait_true(
            "three campaigns: completed, a draft and the cancelled one",
            "[...document.querySelectorAll('.campaign-row')].map(r => r.dataset.state).join() === 'cancelled,draft,completed'",
        )
        .await;
    browser.close().await;
    assert_eq!(
        templates_to(&app, ANA).len(),
        1,
        "a scheduled campaign sent nothing"
    );
}
