//! Demo credentials never reach production: outside the demo environments (local, demo, test,
//! loadtest) the gateway refuses to start while any public demo secret or console token, or an
//! empty secret, is configured, and says which keys.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use switchboard::config::{DEMO_ENVIRONMENTS, Settings};

fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config")
}

const DEMO_KEYS: [&str; 19] = [
    "whatsapp.app_secret",
    "whatsapp.verify_token",
    "whatsapp.access_token",
    "channels.telegram.telegram.bot_token",
    "channels.telegram.telegram.webhook_secret",
    "channels.messenger.messenger.page_access_token",
    "messenger.app_secret",
    "messenger.verify_token",
    "channels.instagram.instagram.access_token",
    "instagram.app_secret",
    "instagram.verify_token",
    "channels.x.x.access_token",
    "x.consumer_secret",
    "channels.webchat.webchat.website_token",
    "panel_apps.demo-orders.secret",
    "push.subject",
    "agents.alice.token_sha256",
    "agents.bob.token_sha256",
    "agents.carla.token_sha256",
];

#[test]
fn production_with_the_demo_configuration_is_refused_naming_each_key() {
    let err = Settings::load_from(&config_dir(), "production", false)
        .expect_err("production with the demo's secrets must not start")
        .to_string();
    for key in DEMO_KEYS {
        assert!(err.contains(key), "{key} not named in: {err}");
    }
    assert!(err.contains("production"), "{err}");
    // Every demo environment still runs the demo.
    for environment in DEMO_ENVIRONMENTS {
        Settings::load_from(&config_dir(), environment, false)
            .unwrap_or_else(|e| panic!("{environment} refused the demo: {e}"));
    }
}

#[test]
fn only_the_keys_still_public_are_named_and_own_secrets_start() {
    let mut settings =
        Settings::load_from(&config_dir(), "test", false).expect("the demo configuration");
    settings.environment = "production".into();
    settings.whatsapp.app_secret = "a-real-app-secret".to_string().into();
    settings.whatsapp.verify_token = "".to_string().into();
    settings.whatsapp.access_token = "EAAG-real".to_string().into();
    if let Some(bot) = settings
        .channels
        .get_mut("telegram")
        .and_then(|c| c.telegram.as_mut())
    {
        bot.bot_token = "987654321:AAH-real-token".to_string().into();
    }
    settings.messenger.app_secret = "a-real-messenger-secret".to_string().into();
    if let Some(page) = settings
        .channels
        .get_mut("messenger")
        .and_then(|c| c.messenger.as_mut())
    {
        page.page_access_token = "EAAB-real-page-token".to_string().into();
    }
    settings.instagram.verify_token = "a-real-instagram-verify-token".to_string().into();
    if let Some(account) = settings
        .channels
        .get_mut("instagram")
        .and_then(|c| c.instagram.as_mut())
    {
        account.access_token = "IGAA-real-token".to_string().into();
    }
    if let Some(account) = settings.channels.get_mut("x").and_then(|c| c.x.as_mut()) {
        account.access_token = "real-x-user-token".to_string().into();
    }
    if let Some(widget) = settings
        .channels
        .get_mut("webchat")
        .and_then(|c| c.webchat.as_mut())
    {
        widget.website_token = "a-real-website-token-0123".to_string().into();
    }
    settings.agents.retain(|id, _| id == "alice");
    let err = settings.validate().expect_err("still public").to_string();
    assert!(
        !err.contains("channels.webchat.webchat.website_token"),
        "{err}"
    );
    assert!(err.contains("messenger.verify_token"), "{err}");
    assert!(!err.contains("messenger.app_secret"), "{err}");
    assert!(
        !err.contains("channels.messenger.messenger.page_access_token"),
        "{err}"
    );
    assert!(err.contains("instagram.app_secret"), "{err}");
    assert!(!err.contains("instagram.verify_token"), "{err}");
    assert!(
        !err.contains("channels.instagram.instagram.access_token"),
        "{err}"
    );
    assert!(err.contains("whatsapp.verify_token"), "{err}");
    assert!(err.contains("x.consumer_secret"), "{err}");
    assert!(!err.contains("channels.x.x.access_token"), "{err}");
    assert!(
        err.contains("channels.x.x.oauth1_access_token_secret"),
        "{err}"
    );
    assert!(err.contains("agents.alice.token_sha256"), "{err}");
    assert!(!err.contains("whatsapp.app_secret"), "{err}");
    assert!(!err.contains("whatsapp.access_token"), "{err}");
    assert!(
        err.contains("channels.telegram.telegram.webhook_secret"),
        "{err}"
    );
    assert!(
        !err.contains("channels.telegram.telegram.bot_token"),
        "{err}"
    );

    settings.whatsapp.verify_token = "a-real-verify-token".to_string().into();
    settings.messenger.verify_token = "a-real-messenger-verify-token".to_string().into();
    settings.instagram.app_secret = "a-real-instagram-secret".to_string().into();
    // The demo's panel app: its public secret, then (own secret) its http URL, refused.
    assert!(err.contains("panel_apps.demo-orders.secret"), "{err}");
    if let Some(app) = settings.panel_apps.get_mut("demo-orders") {
        app.secret = "psk_an-operators-own-panel-secret".to_string().into();
    }
    let refused = settings.validate().expect_err("still public").to_string();
    assert!(
        !refused.contains("panel_apps.demo-orders.secret"),
        "{refused}"
    );
    if let Some(app) = settings.panel_apps.get_mut("demo-orders") {
        app.url = "https://orders.example.com/panel".into();
    }
    settings.x.consumer_secret = "a-real-x-consumer-secret".to_string().into();
    if let Some(account) = settings.channels.get_mut("x").and_then(|c| c.x.as_mut()) {
        account.oauth1_access_token_secret = Some("a-real-oauth1-secret".to_string().into());
    }
    if let Some(bot) = settings
        .channels
        .get_mut("telegram")
        .and_then(|c| c.telegram.as_mut())
    {
        bot.webhook_secret = "a-real-webhook-secret".to_string().into();
    }
    assert!(err.contains("agents.alice.password_argon2"), "{err}");
    if let Some(alice) = settings.agents.get_mut("alice") {
        alice.token_sha256 = Some("ab".repeat(32));
        alice.password_argon2 = None;
    }
    // The push services' contact: an example domain reaches nobody (with push on).
    assert!(err.contains("push.subject"), "{err}");
    for nobody in [
        "mailto:ops@example.com",
        "mailto:ops@mail.EXAMPLE.org",
        "https://example.net/contact",
        "mailto:noc@acme.example",
    ] {
        settings.push.subject = nobody.into();
        let err = settings.validate().expect_err(nobody).to_string();
        assert!(err.contains("push.subject"), "{nobody}: {err}");
    }
    settings.push.enabled = false;
    settings.validate().expect("no push: no contact needed");
    settings.push.enabled = true;
    for someone in ["mailto:noc@acme.com", "https://notexample.com/push"] {
        settings.push.subject = someone.into();
        settings
            .validate()
            .unwrap_or_else(|e| panic!("{someone}: {e}"));
    }
    // The demo's plain-http panel app URL is refused in production, even with its own secret.
    let mut http = settings.clone();
    if let Some(app) = http.panel_apps.get_mut("demo-orders") {
        app.url = "http://127.0.0.1:9090/business/panel".into();
    }
    let refused = http.validate().expect_err("an http panel app").to_string();
    assert!(
        refused.contains("panel_apps.demo-orders") && refused.contains("https"),
        "{refused}"
    );
    settings
        .validate()
        .expect("own secrets start in production");
}

/// The demo points every provider at fake-graph (config/base.yaml); config/production.yaml
/// points production back at the real APIs, WhatsApp's and the other channels' alike.
#[test]
fn production_points_at_the_real_providers_and_the_demo_at_fake_graph() {
    let merged = |environment: &str| -> serde_json::Value {
        config::Config::builder()
            .add_source(config::File::from(config_dir().join("base.yaml")))
            .add_source(config::File::from(
                config_dir().join(format!("{environment}.yaml")),
            ))
            .build()
            .and_then(|c| c.try_deserialize())
            .unwrap_or_else(|e| panic!("{environment}: {e}"))
    };
    let production = merged("production");
    let local = merged("local");
    for (section, real) in [
        ("whatsapp", "https://graph.facebook.com"),
        ("telegram", "https://api.telegram.org"),
        ("messenger", "https://graph.facebook.com"),
        ("instagram", "https://graph.facebook.com"),
        ("x", "https://api.x.com"),
    ] {
        assert_eq!(production[section]["api_base_url"], real, "{section}");
        assert_eq!(
            local[section]["api_base_url"], "http://127.0.0.1:9090",
            "{section}: the demo's fake-graph"
        );
    }
}

#[test]
fn the_crash_test_halt_is_refused_outside_the_test_environments() {
    let mut settings =
        Settings::load_from(&config_dir(), "test", false).expect("the demo configuration");
    settings.conversations.halt_for_crash_test = switchboard::config::HaltPoint::AfterDecision;
    settings.validate().expect("tests may halt");
    settings.environment = "local".into();
    let err = settings.validate().expect_err("refused").to_string();
    assert!(err.contains("conversations.halt_for_crash_test"), "{err}");
}

#[test]
fn plain_http_links_are_refused_outside_the_test_environments() {
    let mut settings =
        Settings::load_from(&config_dir(), "test", false).expect("the demo configuration");
    assert!(!settings.media.allow_http_urls, "off by default");
    assert!(
        settings.media.url_hosts.iter().any(|h| h == ".fbcdn.net"),
        "{:?}",
        settings.media.url_hosts
    );
    settings.media.allow_http_urls = true;
    settings
        .validate()
        .expect("tests may fetch the fakes over http");
    settings.environment = "local".into();
    let err = settings.validate().expect_err("refused").to_string();
    assert!(err.contains("media.allow_http_urls"), "{err}");
}

/// The real binary, as an operator would start it: exit status and message.
#[test]
fn the_binary_refuses_to_start_in_production_with_demo_secrets() {
    let data = tempfile::tempdir().expect("temp dir");
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .env("SWITCHBOARD_CONFIG_DIR", config_dir())
        .env("SWITCHBOARD_ENVIRONMENT", "production")
        .env("SWITCHBOARD__SERVER__HOST", "127.0.0.1")
        .env("SWITCHBOARD__SERVER__PORT", "0")
        .env("SWITCHBOARD__DATABASE__DATA_DIR", data.path())
        .env_remove("SWITCHBOARD__WHATSAPP__APP_SECRET")
        .env_remove("SWITCHBOARD__WHATSAPP__VERIFY_TOKEN")
        .env_remove("SWITCHBOARD__WHATSAPP__ACCESS_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the switchboard binary starts");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the gateway started in production with the demo's secrets");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = child.wait_with_output().expect("output");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!status.success(), "exited successfully: {said}");
    for key in DEMO_KEYS {
        assert!(said.contains(key), "{key} not named in: {said}");
    }
}
