//! The API's documentation page (`/api/docs`) in a real Chromium (see tests/browser.rs): under
//! its own Content Security Policy the vendored Swagger UI loads, reads `/api/openapi.json` and
//! lists every operation; one opens with its answers' schemas. On a phone it fits the width.
//! Screenshots go to `target/screenshots/`.

mod common;

use common::browser::Browser;
use common::console::*;

async fn operations_in(app: &common::TestApp) -> usize {
    let doc: serde_json::Value = app
        .client
        .get(format!("{}/api/openapi.json", app.address))
        .send()
        .await
        .expect("the document")
        .json()
        .await
        .expect("JSON");
    doc["paths"]
        .as_object()
        .map(|paths| {
            paths
                .values()
                .filter_map(|item| item.as_object())
                .map(|item| item.len())
                .sum()
        })
        .unwrap_or(0)
}

#[actix_rt::test]
async fn the_docs_page_lists_every_operation() {
    let app = spawn_console_app(|_| {}).await;
    let operations = operations_in(&app).await;
    assert!(operations > 100, "{operations} operations");

    let browser = Browser::start(1280, 900, "en").await;
    browser
        .client
        .goto(&format!("{}/api/docs", app.address))
        .await
        .expect("the docs page opens");
    browser
        .wait_true(
            "the title is shown",
            "document.querySelector('.swagger-ui .info .title')?.textContent.includes('Switchboard')",
        )
        .await;
    browser
        .wait_true(
            "every operation is listed",
            &format!("document.querySelectorAll('.swagger-ui .opblock').length === {operations}"),
        )
        .await;
    let errors = browser
        .client
        .execute(
            "return document.querySelector('.swagger-ui .errors-wrapper')?.textContent ?? ''",
            vec![],
        )
        .await
        .expect("the page answers");
    assert_eq!(
        errors,
        serde_json::json!(""),
        "Swagger UI found errors in the document"
    );
    browser.screenshot("api-docs").await;

    // An operation opens with its answers and their schemas.
    browser
        .wait_css("#operations-console-me .opblock-summary-control")
        .await
        .click()
        .await
        .expect("the operation opens");
    browser
        .wait_true(
            "its answers are shown",
            "document.querySelector('#operations-console-me .responses-table') !== null",
        )
        .await;
    browser
        .client
        .execute(
            "document.querySelector('#operations-console-me .responses-wrapper').scrollIntoView()",
            vec![],
        )
        .await
        .expect("scrolled to the answers");
    browser.screenshot("api-docs-operation").await;
    browser.close().await;

    let phone = Browser::start(390, 844, "en").await;
    phone
        .client
        .goto(&format!("{}/api/docs", app.address))
        .await
        .expect("the docs page opens");
    phone
        .wait_true(
            "the operations are listed",
            "document.querySelectorAll('.swagger-ui .opblock').length > 100",
        )
        .await;
    phone
        .wait_true(
            "nothing is wider than the screen",
            "document.documentElement.scrollWidth <= window.innerWidth + 1",
        )
        .await;
    phone.screenshot("api-docs-phone").await;
    phone.close().await;
}
