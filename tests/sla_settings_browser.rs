//! The SLA section of the admin team editor, in a real Chromium: the server's refusal of a
//! policy for a priority the routing no longer sets is shown in the dialog; the admin then sets
//! a first-response target in minutes, and the API and a new conversation's SLA state carry it.
//! Screenshots (desktop, and a phone in Arabic) in target/screenshots/console-admin-sla*.png.

mod common;

use common::browser::Browser;
use common::console::*;
use serde_json::{Value, json};
use switchboard::accounts::model::TeamSlaPolicy;
use switchboard::domain::TeamId;

const ADMIN: &str = "admin@example.com";

fn clock<'a>(conversation: &'a Value, name: &str) -> &'a Value {
    conversation["sla"]["clocks"]
        .as_array()
        .and_then(|clocks| clocks.iter().find(|c| c["clock"] == name))
        .unwrap_or(&Value::Null)
}

async fn open_support_editor(browser: &Browser) {
    for css in [
        "#nav-admin",
        "#admin-teams",
        ".team-row[data-id='support'] .team-edit",
    ] {
        browser
            .wait_css(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("{css}: {e}"));
    }
    browser.wait_css("#team-sla").await;
}

/// Empty the input as a person would (End, then Backspace: each an input event), then type.
async fn type_into(browser: &Browser, css: &str, text: &str) {
    let input = browser.wait_css(css).await;
    let erase = format!("\u{e010}{}", "\u{e003}".repeat(12));
    input.send_keys(&erase).await.expect("emptied");
    input.send_keys(text).await.expect("typed");
}

#[actix_rt::test]
async fn an_admin_sets_a_teams_sla_target_in_the_console() {
    let app = spawn_console_app(|_| {}).await;
    let admin = Console::login(&app, ADMIN, DEMO_PASSWORD).await;
    expect_status(
        200,
        admin
            .patch(
                "/api/v1/admin/teams/support",
                json!({"business_hours": "madrid"}),
            )
            .await,
    );
    // A policy for priority 7, which the routing no longer sets (as after a reload), kept
    // straight in the store.
    let store = &app.handle.store;
    let mut support = store
        .directory()
        .await
        .expect("the directory")
        .teams
        .into_iter()
        .find(|t| t.id == TeamId::new("support"))
        .expect("support");
    support.sla = vec![TeamSlaPolicy {
        priority: Some(7),
        resolution_seconds: Some(7200),
        ..TeamSlaPolicy::default()
    }];
    store
        .save_team(&support, false, None, None)
        .await
        .expect("saved");
    let deadline = tokio::time::Instant::now() + AT_ONCE;
    loop {
        let teams = expect_status(200, admin.get("/api/v1/admin/teams").await);
        if teams.to_string().contains("\"priority\":7") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{teams:#}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

    let browser = Browser::start(1280, 900, "en").await;
    browser.login(&app.address, ADMIN, None).await;
    open_support_editor(&browser).await;
    browser
        .wait_true(
            "a row per priority, the stale one kept, and the team's calendar named",
            "[...document.querySelectorAll('#team-sla .sla-row')].map(r => r.dataset.priority).join() \
               === 'any,10,7,5,0' \
             && document.querySelector('#team-sla-calendar').textContent.includes('madrid') \
             && document.querySelector('#sla-2-resolution').value === '2' \
             && document.querySelector('#sla-2-resolution-unit').value === 'hours'",
        )
        .await;

    // Any priority: first response within 2 minutes, counted in business hours. The server
    // refuses the stale priority; the dialog says why.
    type_into(&browser, "#sla-0-first_response", "2").await;
    browser
        .wait_css("#sla-0-business_hours")
        .await
        .click()
        .await
        .expect("business hours");
    browser
        .wait_css("#team-submit")
        .await
        .click()
        .await
        .expect("saved");
    browser
        .wait_true(
            "the server's refusal shown",
            "document.querySelector('#team-error')?.textContent.includes('sla[1].priority')",
        )
        .await;
    browser.screenshot("console-admin-sla-refused").await;

    // The stale row emptied: saved.
    type_into(&browser, "#sla-2-resolution", "").await;
    browser
        .wait_css("#team-submit")
        .await
        .click()
        .await
        .expect("saved");
    browser
        .wait_true(
            "the dialog closed, the row says the team has its own target",
            "!document.querySelector('#team-dialog') \
             && document.querySelector(\".team-row[data-id='support'] .team-sla\")?.textContent \
                === 'Own targets: 1'",
        )
        .await;
    let teams = expect_status(200, admin.get("/api/v1/admin/teams").await);
    let saved = teams["teams"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["id"] == "support"))
        .map(|t| t["sla"].clone());
    assert_eq!(
        saved,
        Some(json!([{
            "priority": null,
            "first_response_seconds": 120,
            "next_response_seconds": null,
            "resolution_seconds": null,
            "business_hours": true,
        }]))
    );
    // A new conversation of the team runs on it.
    let id = hand_off(&app, "34611122401", "support").await;
    let view = Console::new(&app, ALICE).conversation(&id).await["conversation"].clone();
    assert_eq!(
        clock(&view, "first_response")["target_ms"],
        120_000,
        "{view:#}"
    );
    assert_eq!(clock(&view, "resolution"), &Value::Null, "{view:#}");

    // Reopened, the editor shows what is stored.
    browser
        .wait_css(".team-row[data-id='support'] .team-edit")
        .await
        .click()
        .await
        .expect("edit again");
    browser
        .wait_true(
            "the stored target shown",
            "document.querySelector('#sla-0-first_response')?.value === '2' \
             && document.querySelector('#sla-0-first_response-unit').value === 'minutes' \
             && document.querySelector('#sla-0-business_hours').checked",
        )
        .await;
    browser
        .client
        .execute(
            "document.querySelector('#team-sla').scrollIntoView()",
            vec![],
        )
        .await
        .expect("scrolled");
    browser.screenshot("console-admin-sla").await;
    browser.close().await;

    // On a phone, in Arabic: right to left, the section fits the width.
    let phone = Browser::start(390, 844, "ar").await;
    phone.login(&app.address, ADMIN, Some("ar")).await;
    open_support_editor(&phone).await;
    phone
        .client
        .execute(
            "document.querySelector('#team-sla .sla-row').scrollIntoView()",
            vec![],
        )
        .await
        .expect("scrolled");
    phone
        .wait_true(
            "right to left, nothing wider than the screen",
            "document.documentElement.dir === 'rtl' \
             && document.querySelector('#sla-0-first_response').value === '2' \
             && [...document.querySelectorAll('#team-sla .sla-input')] \
                  .every(e => e.getBoundingClientRect().left >= 0 \
                    && e.getBoundingClientRect().right <= window.innerWidth)",
        )
        .await;
    phone.screenshot("console-admin-sla-phone-ar").await;
    phone.close().await;
}
