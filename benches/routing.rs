//! Routing decision cost, without I/O: the pure `Router::decide` with the demo rules (lookup
//! answers already at hand), and the nearest-store search.
//!
//! `cargo bench --bench routing -- --warm-up-time 1 --measurement-time 2`

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use switchboard::config::TeamSettings;
use switchboard::domain::{ChannelId, CustomerId};
use switchboard::routing::{RouteRequest, Router, RoutingSettings, StoreLocation, nearest_store};
use switchboard::store::ContactRecord;

fn teams() -> BTreeMap<String, TeamSettings> {
    ["support", "sales", "billing"]
        .into_iter()
        .map(|name| {
            let team = serde_json::from_value(json!({ "name": name })).expect("team");
            (name.to_string(), team)
        })
        .collect()
}

/// The demo configuration's routing rules (config/base.yaml).
fn demo_router() -> Router {
    let settings: RoutingSettings = serde_json::from_value(json!({
        "default_team": "support",
        "prefer_last_agent": true,
        "stores": {
            "madrid": {"name": "Madrid Gran Vía", "latitude": 40.4200, "longitude": -3.7025, "team": "sales"},
            "barcelona": {"name": "Barcelona Diagonal", "latitude": 41.3947, "longitude": 2.1480, "team": "sales"},
        },
        "lookups": {
            "open_ticket": {"url": "http://127.0.0.1:9090/business/tickets?phone={{ contact.phone | urlencode }}"}
        },
        "rules": [
            {"name": "vip", "when": "\"vip\" in contact.tags", "team": "support", "priority": 10},
            {"name": "open ticket", "when": "lookups.open_ticket != null && lookups.open_ticket.open == true", "team": "support", "priority": 5},
            {"name": "invoices", "when": "\"invoice\" in contact.fields && contact.fields.invoice != \"\"", "team": "billing"},
        ],
    }))
    .expect("settings");
    Router::new(&settings, &teams(), reqwest::Client::new()).expect("router")
}

fn request(tags: &[&str], fields: &[(&str, &str)]) -> RouteRequest {
    RouteRequest {
        conversation_id: "conv-1".into(),
        channel: ChannelId::new("wa-support"),
        choice: None,
        reason: "asked for a human".into(),
        contact: ContactRecord {
            customer: CustomerId::new("34600000009"),
            name: Some("Ana".into()),
            phone: Some("34600000009".into()),
            language: Some("es".into()),
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .chain([("order".to_string(), "A1234".to_string())])
                .collect(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
        },
        behaviour: Default::default(),
        last_agent: None,
    }
}

fn rules(c: &mut Criterion) {
    let router = demo_router();
    let lookups: BTreeMap<String, Value> =
        BTreeMap::from([("open_ticket".to_string(), json!({"open": false}))]);
    let cases = [
        ("first_rule", request(&["vip", "es"], &[]), "support", 10),
        (
            "last_rule",
            request(&["es"], &[("invoice", "F-2026-001")]),
            "billing",
            0,
        ),
        ("no_rule", request(&["es"], &[]), "support", 0),
    ];
    let mut group = c.benchmark_group("routing_decide");
    for (name, req, team, priority) in &cases {
        let decision = router.decide(req, &lookups);
        assert_eq!(
            (decision.team.as_str(), decision.priority),
            (*team, *priority)
        );
        group.bench_function(*name, |b| {
            b.iter(|| router.decide(black_box(req), black_box(&lookups)))
        });
    }
    group.finish();
}

fn stores(c: &mut Criterion) {
    // 100 stores on a 10 × 10 grid over the Iberian peninsula.
    let stores: BTreeMap<String, StoreLocation> = (0..100)
        .map(|i| {
            let store = StoreLocation {
                name: format!("Store {i}"),
                latitude: 36.5 + f64::from(i / 10) * 0.6,
                longitude: -8.5 + f64::from(i % 10) * 1.1,
                team: "sales".into(),
            };
            (format!("store-{i:03}"), store)
        })
        .collect();
    let found = nearest_store(&stores, 40.4169, -3.7035, 50.0);
    assert!(found.is_some());
    c.bench_function("routing_nearest_store_100", |b| {
        b.iter(|| {
            nearest_store(
                black_box(&stores),
                black_box(40.4169),
                black_box(-3.7035),
                50.0,
            )
            .map(|(id, _, km)| (id.len(), km))
        })
    });
}

criterion_group!(benches, rules, stores);
criterion_main!(benches);
