//! The web console's files as the gateway serves them (the page at `/`, content-hashed assets
//! cached for a year, a strict Content-Security-Policy), and the console's own checks run with
//! Node.js: every module parses, the string catalogs hold the same keys and every key used, the
//! store's event handling, the inbox's and the campaigns' logic (unit tests), text contrast, and
//! the compressed budget.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

fn node(args: &[&str]) {
    let console = Path::new(env!("CARGO_MANIFEST_DIR")).join("console");
    let output = Command::new("node")
        .args(args)
        .current_dir(&console)
        .output()
        .expect("node runs (scripts/test installs nodejs)");
    assert!(
        output.status.success(),
        "node {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn every_module_parses_and_imports_only_relative_paths() {
    node(&["tools/check-js.mjs"]);
}

#[test]
fn every_catalog_has_every_key_and_no_unused_one() {
    node(&["tools/check-i18n.mjs"]);
}

#[test]
fn the_console_store_applies_events_in_order() {
    node(&["--test", "tools/test-model.mjs"]);
}

#[test]
fn the_console_notifies_of_offers_assignments_and_my_customers_messages() {
    node(&["--test", "tools/test-notify.mjs"]);
}

#[test]
fn the_admin_screens_model_holds() {
    node(&["--test", "tools/test-admin.mjs"]);
}

#[test]
fn the_campaigns_logic_holds() {
    node(&["--test", "tools/test-campaigns.mjs"]);
}

#[test]
fn the_inbox_logic_holds() {
    node(&["--test", "tools/test-inbox.mjs"]);
}

#[test]
fn the_console_keeps_its_contrast() {
    node(&["tools/check-contrast.mjs"]);
}

#[test]
fn the_console_stays_within_its_budget() {
    node(&["tools/check-size.mjs"]);
}

#[actix_rt::test]
async fn the_gateway_serves_the_console_with_hashed_assets_and_a_strict_policy() {
    let app = TestApp::spawn().await;
    let page = app
        .client
        .get(format!("{}/", app.address))
        .send()
        .await
        .expect("GET /");
    assert_eq!(page.status(), 200);
    let csp = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(
        page.headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-cache")
    );
    let html = page.text().await.expect("the page");
    // The page names hashed files only, and has no inline script.
    assert!(!html.contains("/assets/app.js\""), "{html}");
    let script = html
        .split("src=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a module script")
        .to_string();
    assert!(
        script.starts_with("/assets/app.") && script.ends_with(".js"),
        "{script}"
    );
    assert!(!html.contains("<script>"), "no inline script: {html}");

    // Revalidating the page (a reload) keeps the page's policy on the 304.
    let etag = page_etag(&app).await;
    let revalidated = app
        .client
        .get(format!("{}/", app.address))
        .header("if-none-match", etag)
        .send()
        .await
        .expect("GET / again");
    assert_eq!(revalidated.status(), 304);
    assert_eq!(
        revalidated
            .headers()
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok()),
        Some(csp.as_str())
    );

    let asset = app
        .client
        .get(format!("{}{script}", app.address))
        .send()
        .await
        .expect("the entry module");
    assert_eq!(asset.status(), 200);
    assert_eq!(
        asset
            .headers()
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("public, max-age=31536000, immutable")
    );
    assert!(
        asset
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/javascript"))
    );
    let etag = asset
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .expect("an etag")
        .to_string();
    let body = asset.text().await.expect("module text");
    // Its imports point at hashed names too.
    assert!(
        !body.contains("'./lib/store.js'") && !body.contains("\"./lib/store.js\""),
        "{body}"
    );
    let again = app
        .client
        .get(format!("{}{script}", app.address))
        .header("if-none-match", etag)
        .send()
        .await
        .expect("revalidation");
    assert_eq!(again.status(), 304);
    // Compressed for a browser that says it takes gzip.
    let compressed = app
        .client
        .get(format!("{}{script}", app.address))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("the entry module, compressed");
    assert_eq!(compressed.status(), 200);
    assert_eq!(
        compressed
            .headers()
            .get("content-encoding")
            .and_then(|v| v.to_str().ok()),
        Some("gzip")
    );
    let gzipped = compressed.bytes().await.expect("bytes");
    assert!(
        gzipped.len() < body.len(),
        "{} compressed bytes for {} plain",
        gzipped.len(),
        body.len()
    );

    let missing = app
        .client
        .get(format!("{}/assets/nope.js", app.address))
        .send()
        .await
        .expect("a missing asset");
    assert_eq!(missing.status(), 404);
    // The tools and notes are not served.
    let tool = app
        .client
        .get(format!("{}/assets/tools/check-js.mjs", app.address))
        .send()
        .await
        .expect("a tool");
    assert_eq!(tool.status(), 404);
}

async fn page_etag(app: &TestApp) -> String {
    app.client
        .get(format!("{}/", app.address))
        .send()
        .await
        .expect("GET /")
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .expect("the page has an etag")
        .to_string()
}
