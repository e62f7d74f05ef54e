//! The web chat widget in a real Chromium: a page of another site (a tiny server on its own
//! port, with CSS that would break a widget not isolated from it) embeds
//! `<script src="http://127.0.0.1:<gateway>/widget.js" data-channel="webchat">`; a visitor in one
//! browser chats with the bot, asks for a person by its buttons, and talks live with Alice, who
//! works in the console in a second browser. A reload of the visitor's page finds the
//! conversation again; the console names the conversation's channel ("Web chat"). A visitor of
//! a page with the pre-chat form gets their name and email on their contact. Screenshots
//! (desktop, a 375 px phone, Arabic) go to `target/screenshots/`.
//!
//! scripts/test installs chromium and chromium-driver where they are missing.

mod common;

use std::time::Duration;

use common::browser::Browser;
use common::console::*;
use serde_json::Value;

const TOKEN: &str = "demo-webchat-website-token";

/// Serve a page of "another site" embedding the widget on `listener`.
fn serve_page(listener: std::net::TcpListener, gateway: &str) {
    let page = |lang: &str, prechat: &str| {
        format!(
            r#"<!doctype html><html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Acme shop</title>
<style>
  body {{ font-family: Georgia, serif; margin: 0; padding: 24px; background: #fdf6e3; }}
  /* A site's CSS that would break a widget living in the page's DOM. */
  * {{ color: #c00 !important; font-size: 30px !important; }}
  button, textarea, div {{ display: inline !important; border: 5px dotted lime !important; }}
</style></head>
<body><h1>Acme shop</h1><p>Our products, our prices.</p>
<script src="{gateway}/widget.js" data-channel="webchat" data-token="{TOKEN}" data-prechat="{prechat}" async></script>
</body></html>"#
        )
    };
    // `/ar`: the same page in Arabic (the widget follows the page's language); `/prechat`: with
    // the pre-chat form.
    let (english, arabic, prechat) = (page("en", "false"), page("ar", "false"), page("en", "true"));
    let server = actix_web::HttpServer::new(move || {
        let (english, arabic, prechat) = (english.clone(), arabic.clone(), prechat.clone());
        actix_web::App::new().default_service(actix_web::web::to(
            move |req: actix_web::HttpRequest| {
                let page = match req.path() {
                    "/ar" => arabic.clone(),
                    "/prechat" => prechat.clone(),
                    _ => english.clone(),
                };
                async move {
                    actix_web::HttpResponse::Ok()
                        .content_type("text/html; charset=utf-8")
                        .body(page)
                }
            },
        ))
    })
    .workers(1)
    .listen(listener)
    .expect("the page server listens")
    .run();
    actix_rt::spawn(server);
}

/// A JS expression over the widget's shadow root.
fn in_widget(expression: &str) -> String {
    format!(
        "(r => r && ({expression}))(document.querySelector('[data-switchboard-widget]')?.shadowRoot)"
    )
}

async fn run(browser: &Browser, script: &str) -> Value {
    browser
        .client
        .execute(script, vec![])
        .await
        .unwrap_or(Value::Null)
}

/// Type `text` in the widget's composer and send it (Enter).
async fn visitor_says(browser: &Browser, text: &str) {
    let script = format!(
        "const r = document.querySelector('[data-switchboard-widget]').shadowRoot;\
         const t = r.querySelector('textarea'); t.value = {};\
         t.dispatchEvent(new KeyboardEvent('keydown', {{key: 'Enter', bubbles: true}}));",
        serde_json::to_string(text).unwrap_or_default()
    );
    run(browser, &script).await;
}

/// Press the widget's option button titled `title`.
async fn visitor_presses(browser: &Browser, title: &str) {
    let title = serde_json::to_string(title).unwrap_or_default();
    browser
        .wait_true(
            &format!("the option {title}"),
            &in_widget(&format!(
                "[...r.querySelectorAll('.opts button')].some(b => b.textContent === {title})"
            )),
        )
        .await;
    run(
        browser,
        &format!(
            "[...document.querySelector('[data-switchboard-widget]').shadowRoot\
             .querySelectorAll('.opts button')].filter(b => b.textContent === {title}).pop().click();"
        ),
    )
    .await;
}

fn log_has(text: &str) -> String {
    in_widget(&format!(
        "(r.querySelector('.log')?.textContent || '').includes({})",
        serde_json::to_string(text).unwrap_or_default()
    ))
}

async fn open_widget(browser: &Browser) {
    browser
        .wait_true("the launcher", &in_widget("r.querySelector('.launcher')"))
        .await;
    run(
        browser,
        "document.querySelector('[data-switchboard-widget]').shadowRoot.querySelector('.launcher').click();",
    )
    .await;
    browser
        .wait_true(
            "the panel is open",
            &in_widget("!r.querySelector('.panel').hidden"),
        )
        .await;
}

#[actix_rt::test]
async fn a_visitor_on_a_site_chats_with_an_agent_in_the_console_and_finds_it_again_after_a_reload()
{
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a port for the page");
    let site = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    let origin = site.clone();
    let app = spawn_console_app(move |s| {
        if let Some(widget) = s
            .channels
            .get_mut("webchat")
            .and_then(|c| c.webchat.as_mut())
        {
            widget.origins = vec![origin];
        }
    })
    .await;
    serve_page(listener, &app.address);

    // Alice, in one browser: the console, online (the widget is `open` then).
    let agent = Browser::start(1280, 800, "en").await;
    agent.login(&app.address, "alice@example.com", None).await;
    agent
        .wait_css("#presence option[value='online']")
        .await
        .click()
        .await
        .expect("online");

    // The visitor, in a second browser: the page, the launcher, "hi".
    let visitor = Browser::start(1280, 800, "en").await;
    visitor.client.goto(&site).await.expect("the page loads");
    open_widget(&visitor).await;
    visitor
        .wait_true("the composer", &in_widget("r.querySelector('textarea')"))
        .await;
    visitor_says(&visitor, "hi").await;
    visitor
        .wait_true(
            "the bot's menu",
            &in_widget("r.querySelectorAll('.opts button').length > 0"),
        )
        .await;
    visitor.screenshot("widget-desktop-bot").await;
    // The page's CSS did not reach the widget (its launcher is still a round button).
    let radius = run(
        &visitor,
        "return getComputedStyle(document.querySelector('[data-switchboard-widget]').shadowRoot.querySelector('.launcher')).borderRadius;",
    )
    .await;
    assert_eq!(radius, Value::String("50%".into()));

    // The visitor asks for a person with the buttons: the conversation reaches Alice.
    visitor_presses(&visitor, "Talk to a person").await;
    visitor_presses(&visitor, "Customer support").await;
    let customer = run(
        &visitor,
        "return Object.keys(localStorage).filter(k => k.startsWith('switchboard-widget:'))\
         .map(k => JSON.parse(localStorage.getItem(k)).customer)[0];",
    )
    .await;
    let customer = customer
        .as_str()
        .expect("the visitor's customer id")
        .to_string();
    let deadline = tokio::time::Instant::now() + WAIT;
    let id = loop {
        let newest = app
            .handle
            .store
            .customer_conversations(&switchboard::domain::CustomerId::new(customer.clone()), 1)
            .await
            .expect("conversations")
            .pop();
        if let Some(c) = newest.filter(|c| c.status.as_str() == "assigned") {
            break c.id;
        }
        assert!(tokio::time::Instant::now() < deadline, "not assigned");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    agent.open_row(&id).await;
    // The console says what the conversation is on: the row and the header name the channel's
    // kind (the server's `channel_kind`), not only its id.
    agent
        .wait_true(
            "the row names the web chat",
            &format!(
                "document.querySelector('.conversation-row[data-id=\"{id}\"] .row-channel')?.textContent === 'Web chat'"
            ),
        )
        .await;
    agent
        .wait_true(
            "the header names the web chat",
            "document.querySelector('.conversation-head .conversation-channel')?.textContent === 'Web chat'",
        )
        .await;
    visitor_says(&visitor, "I need help with my order").await;
    agent
        .wait_true(
            "the visitor's message in the console",
            "[...document.querySelectorAll('#transcript .message')].some(m => m.textContent.includes('I need help with my order'))",
        )
        .await;
    let composer = agent.wait_css("#composer").await;
    composer
        .send_keys("Hello, I am Alice. Which order?")
        .await
        .expect("typed");
    composer.send_keys("\u{E007}").await.expect("Enter");
    visitor
        .wait_true(
            "Alice's reply, live",
            &log_has("Hello, I am Alice. Which order?"),
        )
        .await;
    visitor.screenshot("widget-desktop").await;
    agent.screenshot("widget-console-agent").await;

    // A reload (or another page of the site): the conversation is there again.
    visitor.client.refresh().await.expect("reload");
    open_widget(&visitor).await;
    visitor
        .wait_true(
            "the conversation after the reload",
            &log_has("Hello, I am Alice. Which order?"),
        )
        .await;
    visitor
        .wait_true("no doubles", &in_widget(
            "[...r.querySelectorAll('.msg')].filter(m => m.textContent.includes('Which order?')).length === 1",
        ))
        .await;
    // Still live after the reload.
    composer.send_keys("Order 1234?").await.expect("typed");
    composer.send_keys("\u{E007}").await.expect("Enter");
    visitor
        .wait_true("the next reply, live", &log_has("Order 1234?"))
        .await;
    agent.close().await;
    visitor.close().await;

    // A site with the pre-chat form (Alice still online): the name and email reach the contact
    // with the visitor's first message.
    let prechat = Browser::start(1280, 800, "en").await;
    prechat
        .client
        .goto(&format!("{site}/prechat"))
        .await
        .expect("the page loads");
    open_widget(&prechat).await;
    prechat
        .wait_true(
            "the pre-chat form",
            &in_widget(
                "r.querySelector('input[name=name]') && !r.querySelector('textarea[name=message]')",
            ),
        )
        .await;
    run(
        &prechat,
        "const r = document.querySelector('[data-switchboard-widget]').shadowRoot;\
         r.querySelector('input[name=name]').value = 'Pia Prechat';\
         r.querySelector('input[name=email]').value = 'pia@example.com';\
         r.querySelector('form').requestSubmit();",
    )
    .await;
    prechat
        .wait_true("the composer", &in_widget("r.querySelector('textarea')"))
        .await;
    visitor_says(&prechat, "hello").await;
    let customer = run(
        &prechat,
        "return Object.keys(localStorage).filter(k => k.startsWith('switchboard-widget:'))\
         .map(k => JSON.parse(localStorage.getItem(k)).customer)[0];",
    )
    .await;
    let customer =
        switchboard::domain::CustomerId::new(customer.as_str().expect("the visitor's customer id"));
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let contact = app
            .handle
            .store
            .load_contact(&customer)
            .await
            .expect("the store answers");
        if let Some(c) = contact.filter(|c| c.fields.contains_key("email")) {
            assert_eq!(c.name.as_deref(), Some("Pia Prechat"));
            assert_eq!(
                c.fields.get("email").map(String::as_str),
                Some("pia@example.com")
            );
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the pre-chat form's email never reached the contact"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    prechat.close().await;

    // Nobody online any more: a visitor on a phone, 375 px wide, in Arabic (right to left),
    // gets the offline form, filling the screen.
    Console::new(&app, ALICE).set_presence("offline").await;
    let phone = Browser::start(375, 740, "ar").await;
    phone
        .client
        .goto(&format!("{site}/ar"))
        .await
        .expect("the page loads");
    open_widget(&phone).await;
    phone
        .wait_true(
            "right to left",
            &in_widget("r.querySelector('.panel').dir === 'rtl'"),
        )
        .await;
    phone
        .wait_true(
            "the offline form",
            &in_widget(
                "r.querySelector('input[name=email]') && r.querySelector('textarea[name=message]')",
            ),
        )
        .await;
    let width = run(
        &phone,
        "return document.querySelector('[data-switchboard-widget]').shadowRoot.querySelector('.panel').getBoundingClientRect().width;",
    )
    .await;
    assert_eq!(
        width.as_f64(),
        Some(375.0),
        "the panel fills the phone's width"
    );
    phone.screenshot("widget-phone-ar-offline").await;
    phone.close().await;
}
