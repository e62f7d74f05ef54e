//! The reloader against a configuration directory in a temporary directory: the demo's
//! `base.yaml` and a `test.yaml` layer each test rewrites.

use std::path::Path;

use chrono::{TimeZone, Utc};
use serde_json::json;

use super::*;
use crate::bot::BotState;
use crate::domain::{
    Customer, CustomerId, InboundMessage, MessageContent, OutboundContent, ProviderMessageId,
};
use crate::routing::{Route, RouteRequest, RouterActor};
use crate::store::ContactRecord;

/// A configuration directory: the repository's base.yaml and a test.yaml layer.
struct Files {
    dir: tempfile::TempDir,
}

impl Files {
    fn new(layer: Value) -> Files {
        let dir = tempfile::tempdir().expect("temp dir");
        let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/base.yaml");
        std::fs::copy(base, dir.path().join("base.yaml")).expect("base.yaml copied");
        let files = Files { dir };
        files.layer(layer);
        files
    }

    /// Replace test.yaml (JSON is YAML).
    fn layer(&self, layer: Value) {
        self.write("test.yaml", &layer.to_string());
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.path().join(name), text).expect("written");
    }

    /// Edit base.yaml's text.
    fn edit_base(&self, from: &str, to: &str) {
        let path = self.dir.path().join("base.yaml");
        let text = std::fs::read_to_string(&path).expect("base.yaml");
        assert!(text.contains(from), "base.yaml holds {from:?}");
        std::fs::write(path, text.replace(from, to)).expect("written");
    }

    fn settings(&self) -> Settings {
        Settings::load_from(self.dir.path(), "test", false).expect("the configuration loads")
    }

    /// A reloader as start-up builds it from these files.
    fn reloader(&self) -> Reloader {
        reloader_for(self.settings())
    }
}

fn reloader_for(settings: Settings) -> Reloader {
    let http = reqwest::Client::new();
    let live = Live::compile(
        &settings.bots,
        &settings.routing,
        &settings.channels,
        &settings.teams,
        http.clone(),
        None,
    )
    .expect("the configuration compiles");
    Reloader::new(Arc::new(settings), LiveConfig::new(live), http)
}

/// The demo layer: always open (deterministic greetings).
fn layer() -> Value {
    json!({"bots": {"default": {"hours": null}}})
}

fn with_greeting(greeting: &str) -> Value {
    json!({"bots": {"default": {"hours": null, "texts": {"greeting": {"en": greeting}}}}})
}

fn support() -> ChannelId {
    ChannelId::new("support")
}

fn contact() -> ContactRecord {
    ContactRecord {
        customer: CustomerId::new("15551234567"),
        phone: Some("15551234567".into()),
        ..Default::default()
    }
}

/// What `bot` answers to a first "hello": its texts.
fn greet(bot: &Bot) -> Vec<String> {
    let mut state = BotState::default();
    let mut contact = contact();
    let message = InboundMessage {
        provider_id: ProviderMessageId::new("wamid.1"),
        customer: Customer {
            id: CustomerId::new("15551234567"),
            wa_id: Some("15551234567".into()),
            user_id: None,
            name: None,
            ..Customer::default()
        },
        timestamp: 0,
        content: MessageContent::Text {
            body: "hello".into(),
        },
        context: None,
        referral: None,
        handoff: None,
    };
    let now = Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).unwrap();
    bot.on_message(&mut state, &mut contact, &message, now, &Default::default())
        .replies
        .into_iter()
        .map(|r| match r {
            OutboundContent::Text { body, .. }
            | OutboundContent::Buttons { body, .. }
            | OutboundContent::List { body, .. } => body,
            other => format!("{other:?}"),
        })
        .collect()
}

fn current_greeting(reloader: &Reloader) -> String {
    let bot = reloader.live().bot(&support()).expect("support runs a bot");
    greet(&bot).into_iter().next().unwrap_or_default()
}

fn invalid_message(outcome: Result<ReloadReport, ReloadError>) -> String {
    match outcome {
        Err(ReloadError::Invalid(message)) => message,
        other => panic!("expected an invalid configuration, got {other:?}"),
    }
}

/// What runs is exactly what ran: the same compiled bot and router, the same fingerprint.
fn assert_untouched(reloader: &Reloader, before: &Live) {
    let now = reloader.live().snapshot();
    assert_eq!(now.fingerprint(), before.fingerprint());
    assert!(Arc::ptr_eq(now.router(), before.router()));
    assert!(Arc::ptr_eq(
        now.bot(&support()).expect("bot"),
        before.bot(&support()).expect("bot")
    ));
}

#[test]
fn an_unchanged_configuration_changes_nothing() {
    let files = Files::new(layer());
    let reloader = files.reloader();
    let before = reloader.live().snapshot();
    let report = reloader.reload_blocking().expect("reloaded");
    assert!(!report.changed());
    assert_eq!(report.fingerprint, report.previous_fingerprint);
    assert_eq!(report.fingerprint.len(), 16);
    assert!(report.flows.is_empty() && report.steps.is_empty() && report.rules.is_empty());
    assert!(report.routing.is_empty() && report.needs_restart.is_empty());
    assert_untouched(&reloader, &before);
}

#[test]
fn a_changed_greeting_is_swapped_in_for_every_channel_and_reported() {
    let files = Files::new(layer());
    let reloader = files.reloader();
    let before = reloader.live().snapshot();
    assert!(current_greeting(&reloader).starts_with("Hi! Welcome to Acme"));

    files.layer(with_greeting("Hello from the new flows"));
    let report = reloader.reload_blocking().expect("reloaded");
    assert!(report.changed());
    assert_eq!(report.previous_fingerprint, before.fingerprint());
    assert_eq!(report.fingerprint, reloader.live().fingerprint());
    assert_eq!(report.flows.changed, vec!["default".to_string()]);
    assert!(report.flows.added.is_empty() && report.flows.removed.is_empty());
    assert!(
        report.steps.is_empty(),
        "no step changed: {:?}",
        report.steps
    );
    assert!(report.rules.is_empty() && report.routing.is_empty());
    assert!(
        report.needs_restart.is_empty(),
        "{:?}",
        report.needs_restart
    );

    assert_eq!(current_greeting(&reloader), "Hello from the new flows");
    let sales = reloader.live().bot(&ChannelId::new("sales")).expect("bot");
    assert_eq!(greet(&sales)[0], "Hello from the new flows");
    // The routing did not change: the same router, lookup cache included.
    assert!(Arc::ptr_eq(&reloader.live().router(), before.router()));
    // A message that took the old snapshot finishes with it.
    let old = before.bot(&support()).expect("bot");
    assert!(greet(old)[0].starts_with("Hi! Welcome to Acme"));

    // Back to the original: the original fingerprint.
    files.layer(layer());
    let report = reloader.reload_blocking().expect("reloaded");
    assert_eq!(report.fingerprint, before.fingerprint());
}

#[test]
fn steps_rules_and_routing_changes_are_named() {
    let files = Files::new(layer());
    let reloader = files.reloader();
    let before = reloader.live().snapshot();
    files.layer(json!({
        "bots": {"default": {"hours": null, "steps": {
            "language_menu": {"text": "Pick a language"},
            "farewell": {"type": "message", "text": "Bye!"}
        }}},
        "routing": {
            "default_priority": 1,
            "lookups": {"open_ticket": {"timeout_ms": 900}},
            "rules": [
                {"name": "vip", "when": "\"vip\" in contact.tags && true", "team": "support", "priority": 10},
                {"name": "open ticket", "when": "lookups.open_ticket != null && lookups.open_ticket.open == true", "team": "support", "priority": 5},
                {"name": "invoices", "when": "\"invoice\" in contact.fields && contact.fields.invoice != \"\"", "team": "billing"},
                {"name": "spanish", "when": "contact.language == \"es\"", "team": "sales"}
            ]
        }
    }));
    let report = reloader.reload_blocking().expect("reloaded");
    assert_eq!(report.flows.changed, vec!["default".to_string()]);
    assert_eq!(report.steps.added, vec!["default.farewell".to_string()]);
    assert_eq!(
        report.steps.changed,
        vec!["default.language_menu".to_string()]
    );
    assert_eq!(report.rules.added, vec!["spanish".to_string()]);
    assert_eq!(report.rules.changed, vec!["vip".to_string()]);
    assert!(report.rules.removed.is_empty());
    assert_eq!(
        report.routing,
        vec![
            "routing.default_priority".to_string(),
            "routing.lookups.open_ticket".to_string()
        ]
    );
    let router = reloader.live().router();
    assert!(!Arc::ptr_eq(&router, before.router()), "a new router");
    assert_eq!(router.default_priority(), 1);
    assert_eq!(router.rules().len(), 4);
}

#[test]
fn a_cel_syntax_error_is_refused_and_the_running_rules_stay() {
    let files = Files::new(layer());
    let reloader = files.reloader();
    let before = reloader.live().snapshot();
    files.layer(json!({
        "bots": {"default": {"hours": null, "texts": {"greeting": {"en": "Not to be seen"}}}},
        "routing": {"rules": [{"name": "broken", "when": "\"vip\" in (", "team": "support"}]}
    }));
    let message = invalid_message(reloader.reload_blocking());
    assert!(
        message.contains("routing rule \"broken\"") && message.contains("CEL"),
        "{message}"
    );
    assert_untouched(&reloader, &before);
    assert!(current_greeting(&reloader).starts_with("Hi! Welcome to Acme"));
    assert_eq!(reloader.live().router().rules().len(), 3);
}

#[test]
fn a_flow_pointing_at_a_missing_step_is_refused() {
    let files = Files::new(layer());
    let reloader = files.reloader();
    let before = reloader.live().snapshot();
    files.layer(json!({"bots": {"default": {"hours": null, "steps": {
        "language_menu": {"options": [{"id": "en", "title": "English", "goto": "nowhere"}]}
    }}}}));
    let message = invalid_message(reloader.reload_blocking());
    assert!(
        message.contains("bot default") && message.contains("goto unknown step nowhere"),
        "{message}"
    );
    assert_untouched(&reloader, &before);
}

#[test]
fn a_template_error_and_every_settings_check_refuse_too() {
    let files = Files::new(layer());
    let reloader = files.reloader();
    let before = reloader.live().snapshot();
    // A variable no template sees.
    files.layer(with_greeting("Hi {{ fields.shoe_size }}"));
    let message = invalid_message(reloader.reload_blocking());
    assert!(message.contains("texts.greeting"), "{message}");
    // A check of `Settings::validate` outside the flows (a restart setting, invalid).
    files.layer(
        json!({"bots": {"default": {"hours": null}}, "database": {"inbound_retention_days": 1}}),
    );
    let message = invalid_message(reloader.reload_blocking());
    assert!(message.contains("inbound_retention_days"), "{message}");
    assert_untouched(&reloader, &before);
}

#[test]
fn unreadable_files_are_refused() {
    let files = Files::new(layer());
    let reloader = files.reloader();
    let before = reloader.live().snapshot();
    files.write("test.yaml", "bots: [unclosed\n");
    let outcome = reloader.reload_blocking();
    assert!(
        matches!(outcome, Err(ReloadError::Unreadable(_))),
        "{outcome:?}"
    );
    files.layer(json!({"bots": {"default": {"fallback": {"after": "often"}}}}));
    let outcome = reloader.reload_blocking();
    assert!(
        matches!(outcome, Err(ReloadError::Unreadable(_))),
        "{outcome:?}"
    );
    assert_eq!(outcome.unwrap_err().code(), "config_unreadable");
    assert_untouched(&reloader, &before);
}

#[test]
fn flows_and_rules_must_fit_the_running_channels_and_teams() {
    let files = Files::new(layer());
    let reloader = files.reloader();
    let before = reloader.live().snapshot();

    // A new team in the files, and a rule routing to it: the team is not running.
    files.layer(json!({
        "bots": {"default": {"hours": null}},
        "teams": {"vip_desk": {"name": "VIP desk"}},
        "routing": {"rules": [{"name": "vip", "when": "\"vip\" in contact.tags", "team": "vip_desk"}]}
    }));
    let message = invalid_message(reloader.reload_blocking());
    assert!(
        message.contains("routing rule \"vip\" names team vip_desk, which is not running"),
        "{message}"
    );

    // The bot the channels run, renamed (and the channels moved to it): refused.
    files.layer(layer());
    files.edit_base("bots:\n  default:\n", "bots:\n  renamed:\n");
    files.edit_base("    bot: default\n", "    bot: renamed\n");
    files.layer(json!({"bots": {"renamed": {"hours": null}}}));
    let message = invalid_message(reloader.reload_blocking());
    assert!(
        message.contains("runs bot default, which the new configuration removes"),
        "{message}"
    );
    assert_untouched(&reloader, &before);
}

#[test]
fn other_settings_are_listed_as_needing_a_restart_and_not_applied() {
    let files = Files::new(layer());
    let reloader = files.reloader();
    let before = reloader.live().snapshot();
    files.layer(json!({
        "bots": {"default": {"hours": null}},
        "server": {"port": 9999},
        "whatsapp": {"app_secret": "a-new-secret"},
        "teams": {"vip_desk": {"name": "VIP desk"}},
        "channels": {"support": {"display_phone_number": "15550000000"}}
    }));
    let report = reloader.reload_blocking().expect("reloaded");
    assert!(!report.changed());
    assert_eq!(
        report.needs_restart,
        vec![
            "channels.support".to_string(),
            "server.port".to_string(),
            "whatsapp.app_secret".to_string(),
        ],
        "people (teams, agents) are the store's, not a restart's"
    );
    assert_untouched(&reloader, &before);
    // The report names keys, never values (a secret stays out of logs and answers).
    let body = serde_json::to_string(&report).expect("serializable");
    assert!(!body.contains("a-new-secret"));
}

#[test]
fn settings_made_in_code_have_nothing_to_reload() {
    let files = Files::new(layer());
    let mut settings = files.settings();
    settings.source = None;
    let reloader = reloader_for(settings);
    let outcome = reloader.reload_blocking();
    assert!(
        matches!(outcome, Err(ReloadError::NotFromFiles)),
        "{outcome:?}"
    );
}

#[actix_rt::test]
async fn the_router_actor_routes_with_what_a_reload_swapped_in() {
    let files = Files::new(layer());
    let reloader = Arc::new(files.reloader());
    let actor = RouterActor::start_on(&actix::Arbiter::current(), reloader.live().clone(), 8);
    let request = || RouteRequest {
        conversation_id: "c1".into(),
        channel: support(),
        choice: None,
        reason: "test".into(),
        contact: contact(),
        behaviour: Default::default(),
        last_agent: None,
    };
    let decision = actor.send(Route(request())).await.expect("routed");
    assert_eq!(decision.team.as_str(), "support");

    files.layer(json!({
        "bots": {"default": {"hours": null}},
        "routing": {"default_team": "billing", "lookups": {}, "rules": []}
    }));
    let report = reloader.reload().await.expect("reloaded");
    assert_eq!(report.routing, vec!["routing.default_team".to_string()]);
    let decision = actor.send(Route(request())).await.expect("routed");
    assert_eq!(decision.team.as_str(), "billing", "{:?}", decision.trace);
}

#[test]
fn needs_restart_compares_sections_key_by_key() {
    let started = json!({
        "server": {"port": 8080, "host": "0.0.0.0"},
        "bots": {"a": 1},
        "routing": {"rules": []},
        "redis": {"url": ""},
        "log": "x"
    });
    let now = json!({
        "server": {"port": 8081, "host": "0.0.0.0", "workers": 2},
        "bots": {"a": 2},
        "routing": {"rules": [1]},
        "log": "y",
        "agents": {"dan": {}}
    });
    assert_eq!(
        needs_restart(&started, &now),
        vec!["log", "redis", "server.port", "server.workers"]
    );
    assert!(needs_restart(&started, &started).is_empty());
}

#[test]
fn rules_are_told_apart_by_name_and_position() {
    let routing = json!({"rules": [
        {"name": "a", "when": "true"},
        {"name": "b", "when": "true"},
        {"name": "a", "when": "false"}
    ]});
    let keys: Vec<String> = rules_by_name(&routing).into_keys().collect();
    assert_eq!(keys, vec!["a", "a#2", "b"]);
    let swapped = json!({"rules": [
        {"name": "b", "when": "true"},
        {"name": "a", "when": "true"},
        {"name": "a", "when": "false"}
    ]});
    let changes = Changes::between(&rules_by_name(&routing), &rules_by_name(&swapped), "");
    assert_eq!(
        changes.changed,
        vec!["a", "b"],
        "moved rules count as changed"
    );
}

#[test]
fn the_fingerprint_ignores_key_order() {
    let a = json!({"x": 1, "y": {"b": [1, 2], "a": "s"}});
    let b: Value = serde_json::from_str(r#"{"y": {"a": "s", "b": [1, 2]}, "x": 1}"#).unwrap();
    let flows = |v: &Value| BTreeMap::from([("bot".to_string(), v.clone())]);
    assert_eq!(
        fingerprint(&flows(&a), &Value::Null),
        fingerprint(&flows(&b), &Value::Null)
    );
    let c = json!({"x": 2, "y": {"b": [1, 2], "a": "s"}});
    assert_ne!(
        fingerprint(&flows(&a), &Value::Null),
        fingerprint(&flows(&c), &Value::Null)
    );
}

#[test]
fn changes_read_well_in_a_log_line() {
    assert_eq!(Changes::default().to_string(), "none");
    let changes = Changes {
        added: vec!["a".into(), "b".into()],
        removed: vec![],
        changed: vec!["c".into()],
    };
    assert_eq!(changes.to_string(), "added a, b; changed c");
}
