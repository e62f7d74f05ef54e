//! The console's reports screen in a real Chromium (see tests/browser.rs): a supervisor opens the
//! reports and reads the figures of a conversation handed off, answered and resolved; the CSV
//! button fetches the export with the token (the file itself is not saved); the table per agent
//! (online and away time, occupancy, counts) and the business-hours toggle; on a phone in
//! Arabic, right to left, nothing overflows. Screenshots go to `target/screenshots/`.

mod common;

use common::browser::Browser;
use common::console::*;

/// The figure of the counts card `measure` on the screen.
fn count_is(measure: &str, value: &str) -> String {
    format!(
        "document.querySelector(\"#reports .reports-counts [data-measure='{measure}'] dd\")\
         ?.textContent.trim() === '{value}'"
    )
}

#[actix_rt::test]
async fn a_supervisor_reads_the_reports_and_downloads_the_csv() {
    // Presence sampled every second, so Alice has online time by the time Sam looks.
    let app = spawn_console_app(|s| s.reports.presence_sample_seconds = 1).await;
    let id = hand_off(&app, "34611122266", "support").await;
    let alice = Console::new(&app, ALICE);
    alice.set_presence("online").await;
    alice.wait_status(&id, "assigned", AT_ONCE).await;
    let (status, _) = alice.reply(&id, "Hello, how can I help?").await;
    assert!(status < 300, "alice replies: {status}");
    let (status, _) = alice.resolve(&id).await;
    assert!(status < 300, "alice resolves: {status}");
    alice.wait_status(&id, "resolved", AT_ONCE).await;

    let browser = Browser::start(1280, 900, "en").await;
    browser.login(&app.address, "sam@example.com", None).await;
    browser
        .wait_css("#nav-reports")
        .await
        .click()
        .await
        .expect("the reports open");
    for (measure, value) in [
        ("handed_off", "1"),
        ("resolved_by_agent", "1"),
        ("replies", "1"),
        ("abandoned", "0"),
    ] {
        browser
            .wait_true(&format!("{measure} is {value}"), &count_is(measure, value))
            .await;
    }
    browser
        .wait_true(
            "one first response, its percentiles shown",
            "(() => { const r = document.querySelector(\"#reports .reports-times tr[data-measure='first_response']\"); \
             return r && r.querySelector('.count').textContent.trim() === '1' \
             && /^[0-9.]+ s$|^\\d+:\\d\\d$/.test(r.querySelector('.p50').textContent.trim()) \
             && /^[0-9.]+ s$|^\\d+:\\d\\d$/.test(r.querySelector('.p99').textContent.trim()); })()",
        )
        .await;
    // The demo's policy (first response within 5 minutes) was met: 100%.
    browser
        .wait_true(
            "the first response's SLA met",
            "document.querySelector(\"#reports [data-sla-clock='first_response'] dd\")?.textContent.trim() === '100%'",
        )
        .await;
    // The table per agent: Alice's row, her reply and assignment, her time online and occupancy.
    let alice_cell = |class: &str| {
        format!(
            "document.querySelector(\"#reports-agents tr[data-agent='alice'] td.{class}\")?.textContent.trim()"
        )
    };
    browser
        .wait_true(
            "Alice's row in the agents' table",
            &format!(
                "{} === '1' && {} === '1' && {} === '0' && /^[0-9.]+ s$|^\\d+:\\d\\d$/.test({} || '')                  && /%$/.test({} || '')",
                alice_cell("replies"),
                alice_cell("assigned"),
                alice_cell("transfers_in"),
                alice_cell("online"),
                alice_cell("occupancy"),
            ),
        )
        .await;
    browser
        .wait_true(
            "the agents' table in view",
            "(() => { document.querySelector('#reports-agents').scrollIntoView(); return true; })()",
        )
        .await;
    browser.screenshot("console-reports-agents").await;
    // Business hours only: support has no calendar in the demo, so no business-hours times.
    browser
        .wait_css("#reports-business-hours")
        .await
        .click()
        .await
        .expect("the business-hours toggle");
    browser
        .wait_true(
            "the times in business hours",
            "document.querySelector('#reports-times')?.dataset.hours === 'business' \
             && !!document.querySelector('#reports-business-hours-note') \
             && document.querySelector(\"#reports-times tr[data-measure='first_response'] .count\")?.textContent.trim() === '0'",
        )
        .await;
    browser
        .wait_css("#reports-business-hours")
        .await
        .click()
        .await
        .expect("back to calendar time");
    browser
        .wait_true(
            "the times in calendar time again",
            "document.querySelector('#reports-times')?.dataset.hours === 'calendar' \
             && document.querySelector(\"#reports-times tr[data-measure='first_response'] .count\")?.textContent.trim() === '1'",
        )
        .await;
    browser
        .wait_true(
            "the chart has today's bars",
            "document.querySelectorAll('#reports .reports-chart svg rect.bar-handed').length >= 1",
        )
        .await;

    // The team filter: support, Sam's team, gives the same figures.
    browser
        .wait_css("#reports-team option[value='support']")
        .await
        .click()
        .await
        .expect("support chosen");
    browser
        .wait_css("#reports-show")
        .await
        .click()
        .await
        .expect("shown");
    browser
        .wait_true("support's handoffs", &count_is("handed_off", "1"))
        .await;
    browser.screenshot("console-reports").await;
    browser
        .wait_true(
            "the chart in view",
            "(() => { document.querySelector('#reports .reports-chart').scrollIntoView(); return true; })()",
        )
        .await;
    browser.screenshot("console-reports-chart").await;

    // The CSV: fetched with the token; the blob is kept for the test, the file not saved.
    browser
        .wait_true(
            "downloads intercepted",
            "(() => { window.__csv = null; window.__saved = null; \
             const make = URL.createObjectURL.bind(URL); \
             URL.createObjectURL = (b) => { window.__csv = b; return make(b); }; \
             HTMLAnchorElement.prototype.click = function () { window.__saved = this.download; }; \
             return true; })()",
        )
        .await;
    browser
        .wait_css("#reports-csv")
        .await
        .click()
        .await
        .expect("the CSV button");
    browser
        .wait_true(
            "the CSV is fetched and offered as a file",
            "document.querySelector('#reports-csv-status')?.dataset.state === 'done' \
             && /^conversations-.*\\.csv$/.test(window.__saved || '')",
        )
        .await;
    browser
        .wait_true(
            "the CSV holds the conversation",
            &format!(
                "(() => {{ if (!window.__csv) return false; \
                 if (window.__text === undefined) {{ window.__text = null; window.__csv.text().then((t) => {{ window.__text = t; }}); }} \
                 return typeof window.__text === 'string' && window.__text.startsWith('conversation_id,') \
                 && window.__text.includes('{id}'); }})()"
            ),
        )
        .await;
    // The table per agent: a row per agent, a column per figure.
    browser
        .wait_true(
            "ready for another file",
            "(window.__csv = null, window.__saved = null, window.__text = undefined, true)",
        )
        .await;
    browser
        .wait_css("#reports-csv-agents")
        .await
        .click()
        .await
        .expect("the table's CSV button");
    browser
        .wait_true(
            "the table per agent is fetched and offered as a file",
            "(() => { if (!window.__csv || !/^summary-agent-.*\\.csv$/.test(window.__saved || '')) return false; \
             if (window.__text === undefined) { window.__text = null; window.__csv.text().then((t) => { window.__text = t; }); } \
             return typeof window.__text === 'string' && window.__text.startsWith('group,counts.') \
             && window.__text.includes('\\r\\ntotal,') && window.__text.includes('\\r\\nalice,'); })()",
        )
        .await;
    browser.close().await;

    // An agent has no reports.
    let browser = Browser::start(1280, 800, "en").await;
    browser.login(&app.address, "bob@example.com", None).await;
    browser
        .wait_true(
            "no reports for an agent",
            "!document.querySelector('#nav-reports')",
        )
        .await;
    browser.close().await;

    // On a phone, in Arabic: right to left, nothing wider than the screen.
    let browser = Browser::start(360, 780, "ar").await;
    browser
        .login(&app.address, "sam@example.com", Some("ar"))
        .await;
    browser
        .wait_css("#nav-reports")
        .await
        .click()
        .await
        .expect("the reports open");
    browser
        .wait_css("#reports .reports-times tr[data-measure='first_response']")
        .await;
    browser
        .wait_true("right to left", "document.documentElement.dir === 'rtl'")
        .await;
    browser
        .wait_true(
            "no horizontal overflow",
            "document.documentElement.scrollWidth <= window.innerWidth + 1",
        )
        .await;
    browser.screenshot("console-phone-ar-reports").await;
    // The agents' table scrolls within its frame; the page does not.
    browser
        .wait_css("#reports-agents tr[data-agent='alice']")
        .await;
    browser
        .wait_true(
            "the agents' table in view, the page no wider",
            "(() => { document.querySelector('#reports-agents').scrollIntoView(); \
             return document.documentElement.scrollWidth <= window.innerWidth + 1; })()",
        )
        .await;
    browser.screenshot("console-phone-ar-reports-agents").await;
    browser.close().await;

    // Arabic on a desktop.
    let browser = Browser::start(1280, 900, "ar").await;
    browser
        .login(&app.address, "sam@example.com", Some("ar"))
        .await;
    browser
        .wait_css("#nav-reports")
        .await
        .click()
        .await
        .expect("the reports open");
    browser
        .wait_css("#reports .reports-chart svg rect.bar-handed")
        .await;
    browser.screenshot("console-ar-reports").await;
    browser.close().await;
}
