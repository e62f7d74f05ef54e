//! Configuration layering: the documented `SWITCHBOARD__SECTION__KEY` overrides win over the
//! files. (One test in this binary: it sets process environment variables.)

use std::path::Path;

use secrecy::ExposeSecret;
use switchboard::config::Settings;

#[test]
fn environment_variables_override_the_files() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let base = Settings::load_from(&dir, "local", false).expect("demo configuration loads");
    assert_eq!(base.server.port, 8080);
    assert_eq!(base.whatsapp.app_secret.expose_secret(), "demo-app-secret");

    let overrides = [
        ("SWITCHBOARD__SERVER__PORT", "9123"),
        ("SWITCHBOARD__WHATSAPP__APP_SECRET", "s3cret"),
        ("SWITCHBOARD__WHATSAPP__VERIFY_TOKEN", "tok"),
        ("SWITCHBOARD__WHATSAPP__API_BASE_URL", "http://127.0.0.1:1"),
        ("SWITCHBOARD__DATABASE__URL", "sqlite:///tmp/x.db"),
        ("SWITCHBOARD__OUTBOUND__MESSAGES_PER_SECOND", "1000"),
    ];
    for (key, value) in overrides {
        // SAFETY: this test binary runs this single test, so no other thread reads the
        // environment meanwhile.
        unsafe { std::env::set_var(key, value) };
    }
    let settings = Settings::load_from(&dir, "local", true).expect("overrides load");
    assert_eq!(settings.server.port, 9123);
    assert_eq!(settings.whatsapp.app_secret.expose_secret(), "s3cret");
    assert_eq!(settings.whatsapp.verify_token.expose_secret(), "tok");
    assert_eq!(settings.whatsapp.api_base_url, "http://127.0.0.1:1");
    assert_eq!(settings.database_url(), "sqlite:///tmp/x.db");
    assert_eq!(settings.outbound.messages_per_second, 1000);
    // Secrets never show in Debug output.
    assert!(!format!("{settings:?}").contains("s3cret"));

    // An invalid value is refused at start-up with a message naming the key.
    unsafe { std::env::set_var("SWITCHBOARD__OUTBOUND__MESSAGES_PER_SECOND", "5000") };
    let err = Settings::load_from(&dir, "local", true).expect_err("5000 mps is over Meta's limit");
    assert!(err.to_string().contains("messages_per_second"), "{err}");
    for (key, _) in overrides {
        unsafe { std::env::remove_var(key) };
    }
}
