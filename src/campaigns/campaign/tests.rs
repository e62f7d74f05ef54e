use super::*;
use crate::campaigns::consent::ConsentEvent;
use crate::domain::CustomerId;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn contact() -> ContactRecord {
    ContactRecord {
        customer: CustomerId::new("34600111222"),
        name: Some("Ana".into()),
        phone: Some("34600111222".into()),
        language: None,
        fields: [("city".to_string(), "Madrid".to_string())].into(),
        tags: vec![],
    }
}

#[test]
fn every_action_in_every_state() {
    let now = at("2026-12-07T10:00:00Z");
    let later = Some(at("2026-12-08T10:00:00Z"));
    let earlier = Some(at("2026-12-06T10:00:00Z"));
    use Action::*;
    use State::*;
    let states = [Draft, Scheduled, Running, Paused, Completed, Cancelled];
    for state in states {
        for action in [Start, Pause, Resume, Cancel] {
            for start_at in [None, earlier, later] {
                let got = transition(state, action, start_at, now);
                let want = match (state, action) {
                    (Draft, Start) if start_at == later => Some(Scheduled),
                    (Draft, Start) => Some(Running),
                    (Scheduled | Running, Pause) => Some(Paused),
                    (Paused, Resume) if start_at == later => Some(Scheduled),
                    (Paused, Resume) => Some(Running),
                    (Draft | Scheduled | Running | Paused, Cancel) => Some(Cancelled),
                    _ => None,
                };
                assert_eq!(
                    got.as_ref().ok().copied(),
                    want,
                    "{state:?} {action:?} {start_at:?}"
                );
                if want.is_none() {
                    let message = got.err().unwrap_or_default();
                    assert!(message.contains(state.as_str()), "{message}");
                }
            }
        }
        assert_eq!(State::parse(state.as_str()), Some(state));
    }
    assert_eq!(State::parse("sending"), None);
    assert_eq!(Action::parse("preview"), None);
}

fn candidate<'a>() -> Candidate<'a> {
    Candidate {
        address: Some("34600111222"),
        country: Some("ES"),
        duplicate: false,
        excluded: false,
        consent: ConsentState {
            erased: false,
            last: Some(ConsentEvent::OptedIn),
        },
        recent_marketing: 0,
        parameters: Ok(()),
    }
}

#[test]
fn eligibility_names_the_first_rule_that_refuses() {
    let rules = CountryRules {
        us_marketing_paused: true,
        ..CountryRules::default()
    };
    let cap = Some(FrequencyCap {
        messages: 2,
        days: 7,
    });
    let m = Category::Marketing;
    assert_eq!(eligibility(m, &rules, cap, &candidate()), Ok(()));
    let check = |c: Candidate<'_>| eligibility(m, &rules, cap, &c);
    assert_eq!(
        check(Candidate {
            address: None,
            duplicate: true,
            ..candidate()
        }),
        Err(Exclusion::NoNumber)
    );
    assert_eq!(
        check(Candidate {
            duplicate: true,
            excluded: true,
            ..candidate()
        }),
        Err(Exclusion::Duplicate)
    );
    assert_eq!(
        check(Candidate {
            excluded: true,
            country: Some("US"),
            ..candidate()
        }),
        Err(Exclusion::ExcludedSegment)
    );
    assert_eq!(
        check(Candidate {
            address: Some("12125550100"),
            country: Some("US"),
            consent: ConsentState {
                erased: false,
                last: None
            },
            ..candidate()
        }),
        Err(Exclusion::CountryRule)
    );
    assert_eq!(
        check(Candidate {
            address: Some("53555012345"),
            country: Some("CU"),
            ..candidate()
        }),
        Err(Exclusion::CountryRule)
    );
    let never = ConsentState {
        erased: false,
        last: None,
    };
    let out = ConsentState {
        erased: false,
        last: Some(ConsentEvent::OptedOut),
    };
    assert_eq!(
        check(Candidate {
            consent: never,
            recent_marketing: 9,
            ..candidate()
        }),
        Err(Exclusion::NoConsent)
    );
    assert_eq!(
        check(Candidate {
            consent: out,
            ..candidate()
        }),
        Err(Exclusion::OptedOut)
    );
    assert_eq!(
        check(Candidate {
            recent_marketing: 2,
            parameters: Err("body.1".into()),
            ..candidate()
        }),
        Err(Exclusion::FrequencyCap)
    );
    assert_eq!(
        check(Candidate {
            recent_marketing: 1,
            parameters: Err("body.1".into()),
            ..candidate()
        }),
        Err(Exclusion::MissingParameter)
    );
    // A BSUID-only customer: no country rule, the ledger decides.
    assert_eq!(
        check(Candidate {
            address: Some("US.1502576394655843"),
            country: None,
            ..candidate()
        }),
        Ok(())
    );
    // Utility: no consent needed, no frequency cap, the US is fine; sanctions still apply.
    let u = Category::Utility;
    let plain = Candidate {
        address: Some("12125550100"),
        country: Some("US"),
        consent: out,
        recent_marketing: 50,
        ..candidate()
    };
    assert_eq!(eligibility(u, &rules, cap, &plain), Ok(()));
    assert_eq!(
        eligibility(
            u,
            &rules,
            cap,
            &Candidate {
                address: Some("989121234567"),
                country: Some("IR"),
                ..plain
            }
        ),
        Err(Exclusion::CountryRule)
    );
    for e in Exclusion::ALL {
        assert_eq!(Exclusion::parse(e.as_str()), Some(e));
    }
}

fn source(field: &str, default: Option<&str>) -> Source {
    Source {
        value: None,
        field: Some(field.into()),
        default: default.map(str::to_owned),
    }
}

#[test]
fn parameters_come_from_fields_defaults_and_values() {
    let map = ParameterMap {
        header: Some(HeaderMap {
            text: Some(source("city", None)),
            ..HeaderMap::default()
        }),
        body: Some(BodyMap::Named(
            [
                ("first_name".to_string(), source("name", Some("there"))),
                (
                    "code".to_string(),
                    Source {
                        value: Some("SPRING25".into()),
                        ..Source::default()
                    },
                ),
                ("land".to_string(), source("country", None)),
            ]
            .into(),
        )),
        buttons: vec![ButtonMap {
            index: 0,
            sub_type: "url".into(),
            value: source("phone", None),
        }],
    };
    let input = resolve(&map, &contact(), Some("ES")).expect("resolves");
    assert_eq!(input.header.and_then(|h| h.text).as_deref(), Some("Madrid"));
    assert_eq!(
        input.body,
        Some(BodyInput::Named(
            [
                ("code".to_string(), "SPRING25".to_string()),
                ("first_name".to_string(), "Ana".to_string()),
                ("land".to_string(), "ES".to_string()),
            ]
            .into()
        ))
    );
    assert_eq!(input.buttons[0].value, "34600111222");
    // No name: the default; no city and no default: the parameter is named.
    let bare = ContactRecord {
        name: Some("  ".into()),
        fields: Default::default(),
        ..contact()
    };
    assert_eq!(
        resolve(&map, &bare, Some("ES")).err().as_deref(),
        Some("header.text")
    );
    let positional = ParameterMap {
        body: Some(BodyMap::Positional(vec![
            source("name", Some("there")),
            source("missing", None),
        ])),
        ..ParameterMap::default()
    };
    assert_eq!(
        resolve(&positional, &bare, None).err().as_deref(),
        Some("body[2]")
    );
}

fn spec() -> CampaignSpec {
    serde_json::from_value(serde_json::json!({
        "name": "Spring sale",
        "channel": "wa-main",
        "template": {"name": "spring_sale", "language": "en_US"},
        "parameters": {"body": {"first_name": {"field": "name", "default": "there"}}},
        "audience": {"segment": "seg-1"},
        "schedule": {"window": {"from": "09:00", "to": "20:00", "timezone": "Europe/Madrid"}},
        "frequency_cap": {"messages": 2, "days": 7}
    }))
    .expect("a spec")
}

#[test]
fn a_spec_names_each_problem() {
    assert!(spec().problems().is_empty(), "{:?}", spec().problems());
    let mut bad = spec();
    bad.name = " ".into();
    bad.schedule.window = Some(WindowSpec {
        from: "9am".into(),
        to: "20:00".into(),
        timezone: "UTC".into(),
    });
    bad.frequency_cap = Some(FrequencyCap {
        messages: 0,
        days: 7,
    });
    bad.rate = Some(0);
    bad.parameters.body = Some(BodyMap::Positional(vec![Source {
        value: Some("x".into()),
        field: Some("name".into()),
        default: None,
    }]));
    let problems = bad.problems().join("\n");
    for needle in [
        "`name`",
        "window.from",
        "frequency_cap",
        "`rate`",
        "exactly one",
    ] {
        assert!(problems.contains(needle), "{needle} in {problems}");
    }
    let mut zone = spec();
    zone.schedule.window = Some(WindowSpec {
        from: "09:00".into(),
        to: "20:00".into(),
        timezone: "Mars/Olympus".into(),
    });
    assert!(zone.problems().join(" ").contains("IANA"));
    assert!(
        serde_json::from_value::<CampaignSpec>(serde_json::json!({
            "name": "x", "channel": "c", "template": {"name": "t", "language": "en"},
            "audience": {"segment": "s"}, "colour": "red"
        }))
        .is_err()
    );
}

#[test]
fn the_window_opens_in_each_recipients_local_time() {
    let window = Window::of(&WindowSpec {
        from: "09:00".into(),
        to: "20:00".into(),
        timezone: "Europe/Madrid".into(),
    })
    .expect("a window");
    // 10:00 UTC is 11:00 in Madrid: inside.
    let now = at("2026-12-07T10:00:00Z");
    assert_eq!(window.next_open(now, None), now);
    // 20:30 in Madrid: tomorrow at 09:00 Madrid (08:00 UTC).
    assert_eq!(
        window.next_open(at("2026-12-07T19:30:00Z"), None),
        at("2026-12-08T08:00:00Z")
    );
    // 06:00 in Madrid: today at 09:00.
    assert_eq!(
        window.next_open(at("2026-12-07T05:00:00Z"), None),
        at("2026-12-07T08:00:00Z")
    );
    // The contact's own zone wins: 10:00 UTC is 05:00 in New York.
    let ny = zone_of("America/New_York");
    assert_eq!(window.next_open(now, ny), at("2026-12-07T14:00:00Z"));
    // Across midnight: 22:00 to 06:00 UTC.
    let night = Window::of(&WindowSpec {
        from: "22:00".into(),
        to: "06:00".into(),
        timezone: "UTC".into(),
    })
    .expect("a window");
    assert_eq!(
        night.next_open(at("2026-12-07T23:00:00Z"), None),
        at("2026-12-07T23:00:00Z")
    );
    assert_eq!(
        night.next_open(at("2026-12-07T03:00:00Z"), None),
        at("2026-12-07T03:00:00Z")
    );
    assert_eq!(
        night.next_open(at("2026-12-07T12:00:00Z"), None),
        at("2026-12-07T22:00:00Z")
    );
    // A daylight-saving gap: 02:30 does not exist in Madrid on 2027-03-28; an hour later.
    let early = Window::of(&WindowSpec {
        from: "02:30".into(),
        to: "05:00".into(),
        timezone: "Europe/Madrid".into(),
    })
    .expect("a window");
    let opened = early.next_open(at("2027-03-27T23:00:00Z"), None);
    assert_eq!(opened, at("2027-03-28T01:30:00Z"));
    assert!(
        Window::of(&WindowSpec {
            from: "09:00".into(),
            to: "09:00".into(),
            timezone: "UTC".into()
        })
        .is_err()
    );
}

#[test]
fn prices_by_country_and_category() {
    let mut prices = Prices::default();
    prices.countries.insert(
        "BR".into(),
        CategoryPrices {
            marketing: 0.0625,
            utility: 0.008,
            authentication: 0.0315,
        },
    );
    assert_eq!(prices.price(Some("br"), "marketing"), 0.0625);
    assert_eq!(prices.price(Some("ES"), "MARKETING"), 0.025);
    assert_eq!(prices.price(None, "utility"), 0.004);
    assert_eq!(prices.price(Some("BR"), "service"), 0.0);
    assert!(charged(Some("regular")));
    assert!(charged(None));
    assert!(!charged(Some("free_customer_service")));
    assert!(!charged(Some("free_entry_point")));
    assert_eq!(money(0.1 + 0.2), 0.3);
}
