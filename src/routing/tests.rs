use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use super::geo::{contact_location, nearest, valid_coordinates};
use super::*;
use crate::domain::CustomerId;

// ---------------------------------------------------------------------------------------------
// Fixtures

fn teams() -> BTreeMap<String, TeamSettings> {
    ["support", "sales", "billing"]
        .into_iter()
        .map(|name| {
            let team: TeamSettings =
                serde_json::from_value(json!({ "name": name })).expect("team settings");
            (name.to_string(), team)
        })
        .collect()
}

/// The demo configuration's routing (config/base.yaml), with the lookup at `lookup_base`.
fn demo_json(lookup_base: &str) -> Value {
    json!({
        "default_team": "support",
        "default_priority": 0,
        "prefer_last_agent": true,
        "max_store_distance_km": 50,
        "stores": {
            "madrid": {"name": "Madrid Gran Vía", "latitude": 40.4200, "longitude": -3.7025, "team": "sales"},
            "barcelona": {"name": "Barcelona Diagonal", "latitude": 41.3947, "longitude": 2.1480, "team": "sales"},
        },
        "lookups": {
            "open_ticket": {
                "url": format!("{lookup_base}/business/tickets?phone={{{{ contact.phone | urlencode }}}}"),
                "timeout_ms": 500,
                "cache_seconds": 60,
            }
        },
        "rules": [
            {"name": "vip", "when": "\"vip\" in contact.tags", "team": "support", "priority": 10},
            {"name": "open ticket", "when": "lookups.open_ticket != null && lookups.open_ticket.open == true", "team": "support", "priority": 5},
            {"name": "invoices", "when": "\"invoice\" in contact.fields && contact.fields.invoice != \"\"", "team": "billing"},
        ],
    })
}

fn settings(value: Value) -> RoutingSettings {
    serde_json::from_value(value).expect("routing settings")
}

fn router_from(value: Value) -> Router {
    Router::new(&settings(value), &teams(), reqwest::Client::new()).expect("router")
}

fn demo_router() -> Router {
    router_from(demo_json("http://127.0.0.1:9"))
}

fn contact() -> ContactRecord {
    ContactRecord {
        customer: CustomerId::new("34600000009"),
        name: Some("Ana".into()),
        phone: Some("34600000009".into()),
        language: Some("es".into()),
        fields: BTreeMap::new(),
        tags: Vec::new(),
    }
}

fn request(contact: ContactRecord) -> RouteRequest {
    RouteRequest {
        conversation_id: "conv-1".into(),
        channel: ChannelId::new("wa-support"),
        choice: None,
        reason: "asked for a human".into(),
        contact,
        behaviour: Default::default(),
        last_agent: None,
    }
}

fn vip() -> ContactRecord {
    ContactRecord {
        tags: vec!["vip".into()],
        ..contact()
    }
}

fn with_invoice(mut c: ContactRecord) -> ContactRecord {
    c.fields.insert("invoice".into(), "F-2026-001".into());
    c
}

fn at(mut c: ContactRecord, lat: &str, lon: &str) -> ContactRecord {
    c.fields.insert("location_lat".into(), lat.into());
    c.fields.insert("location_lon".into(), lon.into());
    c
}

fn no_lookups() -> BTreeMap<String, Value> {
    BTreeMap::new()
}

fn ticket(open: bool) -> BTreeMap<String, Value> {
    BTreeMap::from([("open_ticket".to_string(), json!({ "open": open }))])
}

fn has_line(decision: &RouteDecision, needle: &str) -> bool {
    decision.trace.iter().any(|line| line.contains(needle))
}

fn stores() -> BTreeMap<String, StoreLocation> {
    settings(demo_json("http://x")).stores
}

// ---------------------------------------------------------------------------------------------
// Geography

#[test]
fn haversine_known_distances() {
    let madrid_barcelona = haversine_km(40.4168, -3.7038, 41.3874, 2.1686);
    assert!((madrid_barcelona - 505.0).abs() < 2.0, "{madrid_barcelona}");
    // Symmetric, zero on the spot.
    let back = haversine_km(41.3874, 2.1686, 40.4168, -3.7038);
    assert!((madrid_barcelona - back).abs() < 1e-9);
    assert_eq!(haversine_km(40.0, -3.0, 40.0, -3.0), 0.0);
    // One degree of latitude along a meridian, and half the circumference.
    let degree = haversine_km(0.0, 0.0, 1.0, 0.0);
    assert!((degree - 111.195).abs() < 0.01, "{degree}");
    let antipodes = haversine_km(0.0, 0.0, 0.0, 180.0);
    assert!((antipodes - std::f64::consts::PI * geo::EARTH_RADIUS_KM).abs() < 1e-6);
    // London–New York, about 5570 km.
    let atlantic = haversine_km(51.5074, -0.1278, 40.7128, -74.0060);
    assert!((atlantic - 5570.0).abs() < 10.0, "{atlantic}");
}

#[test]
fn nearest_store_within_radius() {
    let stores = stores();
    // Puerta del Sol, ~0.9 km from the Gran Vía store.
    let (id, store, km) = nearest_store(&stores, 40.4169, -3.7035, 50.0).expect("madrid");
    assert_eq!(id, "madrid");
    assert_eq!(store.name, "Madrid Gran Vía");
    assert!(km < 1.5, "{km}");
    // Sitges, ~35 km from Barcelona.
    let (id, _, km) = nearest_store(&stores, 41.2370, 1.8059, 50.0).expect("barcelona");
    assert_eq!(id, "barcelona");
    assert!(km > 30.0 && km < 40.0, "{km}");
    // Seville is far from both; Madrid is the nearer.
    assert!(nearest_store(&stores, 37.3891, -5.9845, 50.0).is_none());
    let (id, _, km) = nearest(&stores, 37.3891, -5.9845).expect("some store");
    assert_eq!(id, "madrid");
    assert!(km > 380.0 && km < 400.0, "{km}");
    // The radius is inclusive.
    assert!(nearest_store(&stores, 41.2370, 1.8059, km_to_barcelona_from_sitges()).is_some());
}

fn km_to_barcelona_from_sitges() -> f64 {
    haversine_km(41.2370, 1.8059, 41.3947, 2.1480)
}

#[test]
fn nearest_store_rejects_invalid_input() {
    let stores = stores();
    for (lat, lon) in [
        (f64::NAN, 0.0),
        (40.0, f64::NAN),
        (f64::INFINITY, 0.0),
        (90.5, 0.0),
        (-91.0, 0.0),
        (40.0, 180.5),
        (40.0, -181.0),
    ] {
        assert!(!valid_coordinates(lat, lon));
        assert!(
            nearest_store(&stores, lat, lon, 20_000.0).is_none(),
            "{lat},{lon}"
        );
    }
    assert!(nearest_store(&stores, 40.42, -3.70, f64::NAN).is_none());
    assert!(nearest_store(&stores, 40.42, -3.70, -1.0).is_none());
    assert!(nearest_store(&BTreeMap::new(), 40.42, -3.70, 50.0).is_none());
    // A store with bad coordinates is never the nearest.
    let mut broken = stores.clone();
    broken.insert(
        "aaa".into(),
        StoreLocation {
            name: "Nowhere".into(),
            latitude: f64::NAN,
            longitude: 0.0,
            team: "sales".into(),
        },
    );
    assert_eq!(
        nearest_store(&broken, 40.42, -3.70, 50.0).map(|s| s.0),
        Some("madrid")
    );
}

#[test]
fn contact_location_from_fields() {
    assert_eq!(contact_location(&contact()), Ok(None));
    assert_eq!(
        contact_location(&at(contact(), " 40.42", "-3.70 ")),
        Ok(Some((40.42, -3.70)))
    );
    assert!(contact_location(&at(contact(), "north", "-3.70")).is_err());
    assert!(contact_location(&at(contact(), "95", "-3.70")).is_err());
    assert!(contact_location(&at(contact(), "NaN", "-3.70")).is_err());
    let mut half = contact();
    half.fields.insert("location_lat".into(), "40.0".into());
    assert!(contact_location(&half).is_err());
}

// ---------------------------------------------------------------------------------------------
// Rules: compilation

fn rule(name: &str, when: &str, team: Option<&str>, priority: Option<i32>) -> RuleSettings {
    RuleSettings {
        name: name.into(),
        when: when.into(),
        team: team.map(Into::into),
        priority,
    }
}

fn lookup_settings(names: &[&str]) -> BTreeMap<String, LookupSettings> {
    names
        .iter()
        .map(|name| {
            let settings: LookupSettings =
                serde_json::from_value(json!({ "url": "http://127.0.0.1:9/x" })).expect("lookup");
            (name.to_string(), settings)
        })
        .collect()
}

#[test]
fn compile_rejects_bad_rules() {
    let lookups = lookup_settings(&["open_ticket"]);
    let err = Rules::compile(
        &[rule("to nowhere", "true", Some("marketing"), None)],
        &teams(),
        &lookups,
    )
    .expect_err("unknown team");
    assert!(
        matches!(&err, RoutingError::UnknownRuleTeam { rule, team } if rule == "to nowhere" && team == "marketing"),
        "{err}"
    );

    let err = Rules::compile(
        &[rule("broken", "\"vip\" in contact.tags &&", None, None)],
        &teams(),
        &lookups,
    )
    .expect_err("syntax");
    assert!(matches!(&err, RoutingError::RuleSyntax { rule, .. } if rule == "broken"));
    assert!(err.to_string().contains("\"broken\""), "{err}");

    let err = Rules::compile(
        &[rule("crm", "lookups.crm.vip == true", None, Some(3))],
        &teams(),
        &lookups,
    )
    .expect_err("unknown lookup");
    assert!(
        matches!(&err, RoutingError::UnknownLookup { rule, lookup } if rule == "crm" && lookup == "crm"),
        "{err}"
    );
    let err = Rules::compile(
        &[rule("crm", "lookups['crm'] != null", None, None)],
        &teams(),
        &lookups,
    )
    .expect_err("unknown lookup by index");
    assert!(matches!(err, RoutingError::UnknownLookup { .. }), "{err}");

    let err = Rules::compile(
        &[rule("typo", "\"vip\" in contcat.tags", None, None)],
        &teams(),
        &lookups,
    )
    .expect_err("unknown variable");
    assert!(
        matches!(&err, RoutingError::UnknownVariable { rule, variable } if rule == "typo" && variable == "contcat"),
        "{err}"
    );
}

#[test]
fn compile_records_referenced_lookups() {
    let lookups = lookup_settings(&["a", "b", "c"]);
    let rules = Rules::compile(
        &[
            rule("none", "contact.tags.exists(t, t == 'vip')", None, None),
            rule(
                "select",
                "lookups.b != null && lookups.a.x == 1",
                None,
                None,
            ),
            rule("index", "lookups['c'] != null", None, None),
            rule("has", "has(lookups.a.open)", None, None),
            rule("whole", "size(lookups) > 0", None, None),
            rule("shadowed", "[1].exists(lookups, lookups > 0)", None, None),
            rule("types", "type(contact.name) == string", None, None),
        ],
        &teams(),
        &lookups,
    )
    .expect("rules");
    assert_eq!(rules.len(), 7);
    assert!(rules.lookups_of(0).is_empty());
    assert_eq!(rules.lookups_of(1), ["a", "b"]);
    assert_eq!(rules.lookups_of(2), ["c"]);
    assert_eq!(rules.lookups_of(3), ["a"]);
    assert_eq!(rules.lookups_of(4), ["a", "b", "c"]);
    assert!(rules.lookups_of(5).is_empty());
    assert!(rules.lookups_of(6).is_empty());
    assert!(rules.lookups_of(99).is_empty());
    assert_eq!(rules.name(1), "select");
}

// ---------------------------------------------------------------------------------------------
// Rules: evaluation

fn eval(
    when: &str,
    contact: ContactRecord,
    lookups: &BTreeMap<String, Value>,
) -> Result<bool, String> {
    let rules = Rules::compile(
        &[rule("r", when, None, None)],
        &teams(),
        &lookup_settings(&["open_ticket"]),
    )
    .expect("compiles");
    let req = request(contact);
    let vars = RuleVars::new(&rules, &req, lookups);
    rules.evaluate_rule(0, &vars)
}

#[test]
fn cel_over_tags_fields_location_and_lookups() {
    let vip_rule = r#""vip" in contact.tags"#;
    assert_eq!(eval(vip_rule, vip(), &no_lookups()), Ok(true));
    assert_eq!(eval(vip_rule, contact(), &no_lookups()), Ok(false));

    let invoice_rule = r#""invoice" in contact.fields && contact.fields.invoice != """#;
    assert_eq!(
        eval(invoice_rule, with_invoice(contact()), &no_lookups()),
        Ok(true)
    );
    assert_eq!(eval(invoice_rule, contact(), &no_lookups()), Ok(false));
    let mut empty_invoice = contact();
    empty_invoice.fields.insert("invoice".into(), String::new());
    assert_eq!(eval(invoice_rule, empty_invoice, &no_lookups()), Ok(false));

    let ticket_rule = "lookups.open_ticket != null && lookups.open_ticket.open == true";
    assert_eq!(eval(ticket_rule, contact(), &ticket(true)), Ok(true));
    assert_eq!(eval(ticket_rule, contact(), &ticket(false)), Ok(false));
    // Not provided (failed): null.
    assert_eq!(eval(ticket_rule, contact(), &no_lookups()), Ok(false));
    let numbers = BTreeMap::from([("open_ticket".to_string(), json!({"count": 3, "score": 1.5}))]);
    assert_eq!(
        eval(
            "lookups.open_ticket.count >= 2 && lookups.open_ticket.score > 1",
            contact(),
            &numbers
        ),
        Ok(true)
    );

    let near = "contact.location != null && contact.location.latitude > 40.0 && contact.location.longitude < 0.0";
    assert_eq!(
        eval(near, at(contact(), "40.42", "-3.70"), &no_lookups()),
        Ok(true)
    );
    assert_eq!(eval(near, contact(), &no_lookups()), Ok(false));
    // An invalid location is null.
    assert_eq!(
        eval(near, at(contact(), "400", "-3.70"), &no_lookups()),
        Ok(false)
    );

    assert_eq!(
        eval(
            "contact.name == 'Ana' && contact.language == 'es'",
            contact(),
            &no_lookups()
        ),
        Ok(true)
    );
    assert_eq!(
        eval(
            "contact.customer == '34600000009'",
            contact(),
            &no_lookups()
        ),
        Ok(true)
    );
    // The phone number's country; null without a (valid) number.
    let mut spanish = contact();
    spanish.phone = Some("34600000009".into());
    assert_eq!(
        eval("contact.country == 'ES'", spanish, &no_lookups()),
        Ok(true)
    );
    let mut canadian = contact();
    canadian.phone = Some("16135550123".into());
    assert_eq!(
        eval("contact.country in ['US', 'CA']", canadian, &no_lookups()),
        Ok(true)
    );
    let mut unknown = contact();
    unknown.phone = None;
    assert_eq!(
        eval("contact.country == null", unknown, &no_lookups()),
        Ok(true)
    );
    assert_eq!(
        eval(
            "conversation.channel == 'wa-support' && conversation.choice == null && conversation.reason.contains('human') && conversation.id == 'conv-1'",
            contact(),
            &no_lookups()
        ),
        Ok(true)
    );
    assert_eq!(
        eval(
            "contact.tags.exists(t, t.startsWith('vi'))",
            vip(),
            &no_lookups()
        ),
        Ok(true)
    );
}

#[test]
fn rules_see_what_the_contact_did_and_the_time() {
    let rules = |when: &str| {
        Rules::compile(
            &[rule("r", when, None, None)],
            &teams(),
            &lookup_settings(&[]),
        )
        .expect("compiles")
    };
    let now = chrono::Utc::now().timestamp_millis();
    let mut returning = request(contact());
    returning.behaviour = crate::crm::behaviour::ContactBehaviour {
        first_seen: Some(now - 90 * 86_400_000),
        last_inbound_at: Some(now - 60_000),
        conversations: 4,
    };
    let first = request(contact());
    for (when, for_returning, for_first) in [
        ("contact.new", Ok(false), Ok(true)),
        ("contact.conversations >= 4", Ok(true), Ok(false)),
        (
            "contact.first_seen < now - duration('720h')",
            Ok(true),
            // Never seen: null compared with a timestamp is an error, so no match.
            Err(()),
        ),
        (
            "contact.last_inbound_at > now - duration('5m')",
            Ok(true),
            Err(()),
        ),
        ("contact.last_inbound_at == null", Ok(false), Ok(true)),
    ] {
        let rules = rules(when);
        for (req, expected) in [(&returning, for_returning), (&first, for_first)] {
            let got = rules.evaluate_rule(0, &RuleVars::new(&rules, req, &no_lookups()));
            assert_eq!(got.map_err(|_| ()), expected, "{when}");
        }
    }
    // `now` is known; other names are still refused.
    assert!(
        Rules::compile(
            &[rule("r", "yesterday < now", None, None)],
            &teams(),
            &lookup_settings(&[])
        )
        .is_err()
    );
}

#[test]
fn cel_errors_and_non_booleans_are_errors() {
    let err = eval("contact.name", contact(), &no_lookups()).expect_err("string");
    assert!(err.contains("not a boolean"), "{err}");
    assert!(eval("1 + 1", contact(), &no_lookups()).is_err());
    // A key the answer lacks.
    let empty = BTreeMap::from([("open_ticket".to_string(), json!({}))]);
    let err = eval("lookups.open_ticket.open == true", contact(), &empty).expect_err("no key");
    assert!(err.contains("open"), "{err}");
    // A null name has no methods.
    let mut anonymous = contact();
    anonymous.name = None;
    assert!(eval("contact.name.startsWith('A')", anonymous, &no_lookups()).is_err());
}

// ---------------------------------------------------------------------------------------------
// Router: decisions and their precedence

#[test]
fn choice_beats_location_and_rules_but_rule_priority_applies() {
    let router = demo_router();
    let mut req = request(at(with_invoice(vip()), "41.39", "2.15"));
    req.choice = Some(TeamId::new("billing"));
    let decision = router.decide(&req, &no_lookups());
    assert_eq!(decision.team.as_str(), "billing");
    assert_eq!(decision.priority, 10, "{:?}", decision.trace);
    assert_eq!(decision.trace[0], "customer chose billing");
    assert!(
        has_line(&decision, "rule vip matched: priority 10"),
        "{:?}",
        decision.trace
    );
    assert!(!has_line(&decision, "location"), "{:?}", decision.trace);
}

#[test]
fn unknown_choice_is_ignored() {
    let router = demo_router();
    let mut req = request(contact());
    req.choice = Some(TeamId::new("marketing"));
    let decision = router.decide(&req, &no_lookups());
    assert_eq!(decision.team.as_str(), "support");
    assert!(
        has_line(&decision, "not a team, ignored"),
        "{:?}",
        decision.trace
    );
    assert!(
        has_line(&decision, "default team support"),
        "{:?}",
        decision.trace
    );
}

#[test]
fn location_beats_rules() {
    let router = demo_router();
    let req = request(at(with_invoice(vip()), "40.4169", "-3.7035"));
    let decision = router.decide(&req, &no_lookups());
    assert_eq!(decision.team.as_str(), "sales");
    assert_eq!(decision.priority, 10);
    assert!(
        decision.trace[0].starts_with("location 0.")
            && decision.trace[0].ends_with(" km from Madrid Gran Vía → sales"),
        "{:?}",
        decision.trace
    );
}

#[test]
fn location_too_far_or_invalid_falls_through() {
    let router = demo_router();
    let decision = router.decide(
        &request(at(with_invoice(contact()), "39.4699", "-0.3763")),
        &no_lookups(),
    );
    assert_eq!(decision.team.as_str(), "billing");
    assert!(
        has_line(&decision, "beyond 50 km: ignored"),
        "{:?}",
        decision.trace
    );

    let decision = router.decide(&request(at(contact(), "north", "west")), &no_lookups());
    assert_eq!(decision.team.as_str(), "support");
    assert!(
        has_line(&decision, "shared location ignored"),
        "{:?}",
        decision.trace
    );
}

#[test]
fn rules_beat_default_and_first_match_wins() {
    let router = demo_router();
    let decision = router.decide(&request(with_invoice(contact())), &no_lookups());
    assert_eq!((decision.team.as_str(), decision.priority), ("billing", 0));
    assert!(
        has_line(&decision, "rule invoices matched → billing"),
        "{:?}",
        decision.trace
    );
    assert!(has_line(&decision, "rule vip: no match"));

    let decision = router.decide(&request(with_invoice(vip())), &ticket(true));
    assert_eq!((decision.team.as_str(), decision.priority), ("support", 10));
    assert!(has_line(
        &decision,
        "rule vip matched → support, priority 10"
    ));
    assert!(!has_line(&decision, "open ticket"), "{:?}", decision.trace);

    let decision = router.decide(&request(with_invoice(contact())), &ticket(true));
    assert_eq!((decision.team.as_str(), decision.priority), ("support", 5));
}

#[test]
fn default_when_nothing_matches() {
    let mut value = demo_json("http://x");
    value["default_priority"] = json!(2);
    let router = router_from(value);
    let decision = router.decide(&request(contact()), &ticket(false));
    assert_eq!((decision.team.as_str(), decision.priority), ("support", 2));
    assert_eq!(decision.preferred_agent, None);
    assert_eq!(
        decision.trace,
        [
            "rule vip: no match",
            "rule open ticket: no match",
            "rule invoices: no match",
            "default team support"
        ]
    );
}

#[test]
fn the_priorities_a_conversation_can_get() {
    assert_eq!(demo_router().priorities(), [0, 5, 10]);
    let mut value = demo_json("http://x");
    value["default_priority"] = json!(5);
    assert_eq!(router_from(value).priorities(), [5, 10], "each once");
}

#[test]
fn failing_and_non_boolean_rules_are_skipped() {
    let mut value = demo_json("http://x");
    value["rules"].as_array_mut().expect("rules").insert(
        0,
        json!({"name": "name", "when": "contact.name", "team": "sales", "priority": 1}),
    );
    let router = router_from(value);
    // The lookup answered without `open`: that rule errors, the next one decides.
    let answers = BTreeMap::from([("open_ticket".to_string(), json!({"status": "none"}))]);
    let decision = router.decide(&request(with_invoice(contact())), &answers);
    assert_eq!((decision.team.as_str(), decision.priority), ("billing", 0));
    assert!(
        has_line(
            &decision,
            "rule name skipped: evaluated to string, not a boolean"
        ),
        "{:?}",
        decision.trace
    );
    assert!(
        has_line(&decision, "rule open ticket skipped: No such key: open"),
        "{:?}",
        decision.trace
    );
}

#[test]
fn rule_without_team_sets_only_priority() {
    let mut value = demo_json("http://x");
    value["rules"] =
        json!([{"name": "spanish", "when": "contact.language == 'es'", "priority": 4}]);
    let decision = router_from(value).decide(&request(contact()), &no_lookups());
    assert_eq!((decision.team.as_str(), decision.priority), ("support", 4));
    assert!(has_line(&decision, "rule spanish matched: priority 4"));
    assert!(has_line(&decision, "default team support"));
}

#[test]
fn rules_after_the_last_priority_are_skipped_once_decided() {
    let router = demo_router();
    let mut req = request(with_invoice(contact()));
    req.choice = Some(TeamId::new("sales"));
    let decision = router.decide(&req, &ticket(false));
    assert_eq!((decision.team.as_str(), decision.priority), ("sales", 0));
    // `invoices` sets no priority: evaluating it could change nothing.
    assert!(!has_line(&decision, "invoices"), "{:?}", decision.trace);
    assert!(has_line(&decision, "rule open ticket: no match"));
}

#[test]
fn prefers_the_last_agent_when_configured() {
    let mut req = request(contact());
    req.last_agent = Some(AgentId::new("bob"));
    let decision = demo_router().decide(&req, &no_lookups());
    assert_eq!(decision.preferred_agent, Some(AgentId::new("bob")));
    assert_eq!(
        decision.trace.last().map(String::as_str),
        Some("returning customer: prefer bob")
    );

    let mut value = demo_json("http://x");
    value["prefer_last_agent"] = json!(false);
    let decision = router_from(value).decide(&req, &no_lookups());
    assert_eq!(decision.preferred_agent, None);
    assert!(!has_line(&decision, "bob"));
}

#[test]
fn router_validates_configuration() {
    let build = |value: Value| Router::new(&settings(value), &teams(), reqwest::Client::new());

    let mut value = demo_json("http://x");
    value["default_team"] = json!("marketing");
    assert!(matches!(build(value), Err(RoutingError::UnknownDefaultTeam(t)) if t == "marketing"));

    let mut value = demo_json("http://x");
    value["stores"]["madrid"]["team"] = json!("retail");
    assert!(
        matches!(build(value), Err(RoutingError::UnknownStoreTeam { store, .. }) if store == "madrid")
    );

    let mut value = demo_json("http://x");
    value["stores"]["madrid"]["latitude"] = json!(140.0);
    assert!(matches!(
        build(value),
        Err(RoutingError::InvalidStoreLocation { .. })
    ));

    let mut value = demo_json("http://x");
    value["max_store_distance_km"] = json!(-5);
    assert!(matches!(build(value), Err(RoutingError::InvalidRadius(_))));

    let mut value = demo_json("http://x");
    value["rules"][0]["when"] = json!("\"vip\" in");
    let err = build(value).expect_err("bad CEL");
    assert!(
        err.to_string()
            .contains("routing rule \"vip\": invalid CEL expression"),
        "{err}"
    );

    let mut value = demo_json("http://x");
    value["rules"][1]["when"] = json!("lookups.crm != null");
    assert!(
        matches!(build(value), Err(RoutingError::UnknownLookup { lookup, .. }) if lookup == "crm")
    );

    let mut value = demo_json("http://x");
    value["rules"][2]["team"] = json!("accounting");
    assert!(matches!(
        build(value),
        Err(RoutingError::UnknownRuleTeam { .. })
    ));

    let mut value = demo_json("http://x");
    value["lookups"]["open_ticket"]["url"] = json!("http://x/?phone={{ contact.phone ");
    let err = build(value).expect_err("bad template");
    assert!(
        matches!(&err, RoutingError::InvalidLookup { lookup, .. } if lookup == "open_ticket"),
        "{err}"
    );

    let mut value = demo_json("http://x");
    value["lookups"]["open_ticket"]["timeout_ms"] = json!(0);
    assert!(matches!(
        build(value),
        Err(RoutingError::InvalidLookup { .. })
    ));
}

#[test]
fn router_is_shareable_and_its_future_is_send() {
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    fn assert_send<T: Send>(_: &T) {}
    let router = demo_router();
    assert_send_sync(&router);
    let req = request(contact());
    let future = router.route(&req);
    assert_send(&future);
}

#[test]
fn demo_configuration_builds_and_behaves_as_documented() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let config =
        crate::config::Settings::load_from(dir.as_path(), "test", false).expect("demo config");
    let router =
        Router::new(&config.routing, &config.teams, reqwest::Client::new()).expect("demo router");
    assert_eq!(router.rules().len(), 3);
    assert_eq!(
        router.lookups().names().collect::<Vec<_>>(),
        ["open_ticket"]
    );

    let decide = |c: ContactRecord, lookups: &BTreeMap<String, Value>| {
        let d = router.decide(&request(c), lookups);
        (d.team.as_str().to_string(), d.priority)
    };
    assert_eq!(decide(vip(), &no_lookups()), ("support".into(), 10));
    assert_eq!(decide(contact(), &ticket(true)), ("support".into(), 5));
    assert_eq!(
        decide(with_invoice(contact()), &ticket(false)),
        ("billing".into(), 0)
    );
    assert_eq!(
        decide(at(contact(), "41.40", "2.16"), &no_lookups()),
        ("sales".into(), 0)
    );
    assert_eq!(decide(contact(), &ticket(false)), ("support".into(), 0));
    let rendered = router
        .lookups()
        .render_url("open_ticket", &request(contact()))
        .expect("url");
    assert!(
        rendered.ends_with("/business/tickets?phone=34600000009"),
        "{rendered}"
    );
}

// ---------------------------------------------------------------------------------------------
// Lookups over HTTP

async fn tickets_server(response: ResponseTemplate, expected_calls: u64) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/business/tickets"))
        .respond_with(response)
        .expect(expected_calls)
        .mount(&server)
        .await;
    server
}

fn http_router(server: &MockServer, tweak: impl FnOnce(&mut Value)) -> Router {
    let mut value = demo_json(&server.uri());
    tweak(&mut value);
    router_from(value)
}

#[tokio::test]
async fn lookup_url_is_templated_and_its_answer_routes() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/business/tickets"))
        .and(query_param("phone", "+34 600/000&001"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"open": true, "ticket": "T-1"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    let router = http_router(&server, |_| {});
    let mut c = with_invoice(contact());
    c.phone = Some("+34 600/000&001".into());
    let req = request(c);
    assert_eq!(
        router
            .lookups()
            .render_url("open_ticket", &req)
            .expect("url"),
        format!(
            "{}/business/tickets?phone=%2B34%20600%2F000%26001",
            server.uri()
        )
    );
    let decision = router.route(&req).await;
    assert_eq!(
        (decision.team.as_str(), decision.priority),
        ("support", 5),
        "{:?}",
        decision.trace
    );
    assert!(has_line(&decision, "lookup open_ticket: ok"));
    assert!(has_line(
        &decision,
        "rule open ticket matched → support, priority 5"
    ));
}

#[tokio::test]
async fn lookup_is_fetched_only_when_a_rule_needs_it() {
    // The first rule decides: the lookup of the second is never fetched.
    let server = tickets_server(
        ResponseTemplate::new(200).set_body_json(json!({"open": true})),
        0,
    )
    .await;
    let router = http_router(&server, |_| {});
    let decision = router.route(&request(vip())).await;
    assert_eq!((decision.team.as_str(), decision.priority), ("support", 10));
    assert!(!has_line(&decision, "lookup"), "{:?}", decision.trace);
    // Team decided by choice, and no rule with a priority reads the lookup: nothing fetched.
    let router = http_router(&server, |v| {
        v["rules"][1]["priority"] = Value::Null;
    });
    let mut req = request(contact());
    req.choice = Some(TeamId::new("sales"));
    let decision = router.route(&req).await;
    assert_eq!((decision.team.as_str(), decision.priority), ("sales", 0));
    assert!(!has_line(&decision, "lookup"), "{:?}", decision.trace);
}

#[tokio::test]
async fn lookup_timeout_is_null_with_a_trace() {
    let slow = ResponseTemplate::new(200)
        .set_body_json(json!({"open": true}))
        .set_delay(Duration::from_millis(500));
    let server = tickets_server(slow, 1).await;
    let router = http_router(&server, |v| {
        v["lookups"]["open_ticket"]["timeout_ms"] = json!(50)
    });
    let started = std::time::Instant::now();
    let decision = router.route(&request(with_invoice(contact()))).await;
    assert!(started.elapsed() < Duration::from_millis(400));
    assert_eq!(decision.team.as_str(), "billing", "{:?}", decision.trace);
    assert!(
        has_line(
            &decision,
            "lookup open_ticket failed: timed out after 50 ms → null"
        ),
        "{:?}",
        decision.trace
    );
    assert!(has_line(&decision, "rule open ticket: no match"));
    // The failure is cached briefly: the slow system is not asked again at once.
    let decision = router.route(&request(with_invoice(contact()))).await;
    assert!(
        has_line(&decision, "lookup open_ticket failed (cached): timed out"),
        "{:?}",
        decision.trace
    );
}

#[tokio::test]
async fn lookup_non_2xx_and_non_json_are_null() {
    let server = tickets_server(
        ResponseTemplate::new(503).set_body_json(json!({"open": true})),
        2,
    )
    .await;
    // Failures not cached: each route asks again.
    let router = http_router(&server, |v| {
        v["lookups"]["open_ticket"]["failure_cache_seconds"] = json!(0)
    });
    for _ in 0..2 {
        let decision = router.route(&request(contact())).await;
        assert_eq!((decision.team.as_str(), decision.priority), ("support", 0));
        assert!(
            has_line(&decision, "lookup open_ticket failed: HTTP 503 → null"),
            "{:?}",
            decision.trace
        );
    }

    let server = tickets_server(
        ResponseTemplate::new(200).set_body_string("<html>hi</html>"),
        1,
    )
    .await;
    let router = http_router(&server, |_| {});
    let result = router
        .lookups()
        .fetch("open_ticket", &request(contact()))
        .await;
    assert_eq!(result.value, Value::Null);
    assert_eq!(result.outcome, LookupOutcome::Error);
    assert!(
        result
            .error
            .as_deref()
            .is_some_and(|e| e.starts_with("not JSON")),
        "{result:?}"
    );

    let big = json!({"open": true, "padding": "x".repeat(4096)});
    let server = tickets_server(ResponseTemplate::new(200).set_body_json(big), 1).await;
    let router = http_router(&server, |v| {
        v["lookups"]["open_ticket"]["max_body_bytes"] = json!(1024)
    });
    let result = router
        .lookups()
        .fetch("open_ticket", &request(contact()))
        .await;
    assert_eq!(result.value, Value::Null);
    assert!(
        result
            .error
            .as_deref()
            .is_some_and(|e| e.contains("larger than 1024")),
        "{result:?}"
    );
}

#[tokio::test]
async fn lookup_answers_are_cached_by_url() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/business/tickets"))
        .and(query_param("phone", "34600000009"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"open": true})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/business/tickets"))
        .and(query_param("phone", "34600000002"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"open": false})))
        .expect(1)
        .mount(&server)
        .await;
    let router = http_router(&server, |_| {});

    let first = router.route(&request(contact())).await;
    assert_eq!(first.priority, 5);
    assert!(has_line(&first, "lookup open_ticket: ok"));
    let second = router.route(&request(contact())).await;
    assert_eq!(second.priority, 5);
    assert!(
        has_line(&second, "lookup open_ticket: ok (cached)"),
        "{:?}",
        second.trace
    );

    let mut other = contact();
    other.phone = Some("34600000002".into());
    let third = router.route(&request(other)).await;
    assert_eq!(third.priority, 0);
    assert!(has_line(&third, "lookup open_ticket: ok"));
    assert!(!has_line(&third, "cached"));

    // Concurrent requests for the same URL share one call (and it is cached now anyway).
    let req = request(contact());
    let (a, b) = tokio::join!(
        router.lookups().fetch("open_ticket", &req),
        router.lookups().fetch("open_ticket", &req),
    );
    assert_eq!(
        (a.outcome, b.outcome),
        (LookupOutcome::Cached, LookupOutcome::Cached)
    );
    assert_eq!(a.value, json!({"open": true}));
}

#[tokio::test]
async fn concurrent_first_fetches_share_one_call() {
    let slow = ResponseTemplate::new(200)
        .set_body_json(json!({"open": true}))
        .set_delay(Duration::from_millis(100));
    let server = tickets_server(slow, 1).await;
    let router = http_router(&server, |_| {});
    let req = request(contact());
    let (a, b) = tokio::join!(
        router.lookups().fetch("open_ticket", &req),
        router.lookups().fetch("open_ticket", &req),
    );
    let mut outcomes = [a.outcome, b.outcome];
    outcomes.sort_by_key(|o| o.as_str());
    assert_eq!(outcomes, [LookupOutcome::Cached, LookupOutcome::Ok]);
}

#[tokio::test]
async fn lookup_template_failure_skips_the_call() {
    let server = tickets_server(
        ResponseTemplate::new(200).set_body_json(json!({"open": true})),
        0,
    )
    .await;
    let router = http_router(&server, |v| {
        v["lookups"]["open_ticket"]["url"] = json!(format!(
            "{}/business/tickets?order={{{{ contact.fields.order }}}}",
            server.uri()
        ));
    });
    let decision = router.route(&request(contact())).await;
    assert_eq!(decision.team.as_str(), "support");
    assert!(
        has_line(&decision, "lookup open_ticket failed: URL template"),
        "{:?}",
        decision.trace
    );

    let result = router.lookups().fetch("nope", &request(contact())).await;
    assert_eq!(result.outcome, LookupOutcome::Error);
}

#[tokio::test]
async fn unreachable_lookup_is_null() {
    // A port nobody listens on: bind one, then let it go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let router = router_from(demo_json(&format!("http://127.0.0.1:{port}")));
    let decision = router.route(&request(with_invoice(contact()))).await;
    assert_eq!(decision.team.as_str(), "billing");
    assert!(
        has_line(&decision, "lookup open_ticket failed: request failed"),
        "{:?}",
        decision.trace
    );
}

// ---------------------------------------------------------------------------------------------
// The actor

#[actix_rt::test]
async fn actor_routes() {
    let router = Arc::new(demo_router());
    let live = crate::reload::LiveConfig::of_router(router);
    let addr = RouterActor::start_on(&actix::Arbiter::current(), live, 8);
    let decision = addr.send(Route(request(vip()))).await.expect("answered");
    assert_eq!((decision.team.as_str(), decision.priority), ("support", 10));
    let mut req = request(at(contact(), "40.42", "-3.70"));
    req.last_agent = Some(AgentId::new("carla"));
    let decision = addr.send(Route(req)).await.expect("answered");
    assert_eq!(decision.team.as_str(), "sales");
    assert_eq!(decision.preferred_agent, Some(AgentId::new("carla")));
}
