//! Engine tests against the demo configuration (`config/base.yaml`, `bots.default`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Datelike, TimeZone, Utc, Weekday};
use serde_json::json;

use super::config::{FallbackAction, StepConfig, Text};
use super::*;
use crate::config::TeamSettings;
use crate::domain::{
    Customer, CustomerId, InboundMessage, Media, MediaKind, MessageContent, ProviderMessageId,
};
use crate::store::ContactRecord;

fn base_yaml() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config/base.yaml")
}

fn loaded() -> ::config::Config {
    ::config::Config::builder()
        .add_source(::config::File::from(base_yaml()))
        .build()
        .unwrap()
}

fn demo_config() -> BotConfig {
    loaded().get::<BotConfig>("bots.default").unwrap()
}

fn teams() -> BTreeMap<String, TeamSettings> {
    loaded().get("teams").unwrap()
}

fn demo() -> Bot {
    Bot::new(&demo_config()).unwrap()
}

fn from_yaml(yaml: &str) -> Result<BotConfig, ::config::ConfigError> {
    ::config::Config::builder()
        .add_source(::config::File::from_str(yaml, ::config::FileFormat::Yaml))
        .build()?
        .try_deserialize()
}

/// Wednesday 2026-12-02 11:00 in Madrid: open.
fn open() -> DateTime<Utc> {
    let t = Utc.with_ymd_and_hms(2026, 12, 2, 10, 0, 0).unwrap();
    assert_eq!(t.weekday(), Weekday::Wed);
    t
}

/// Saturday 2026-12-05 11:00 in Madrid: closed.
fn saturday() -> DateTime<Utc> {
    let t = Utc.with_ymd_and_hms(2026, 12, 5, 10, 0, 0).unwrap();
    assert_eq!(t.weekday(), Weekday::Sat);
    t
}

fn contact(phone: &str) -> ContactRecord {
    ContactRecord {
        customer: CustomerId::new(phone),
        phone: Some(phone.to_string()),
        ..Default::default()
    }
}

fn msg(content: MessageContent) -> InboundMessage {
    InboundMessage {
        provider_id: ProviderMessageId::new("wamid.test"),
        customer: Customer {
            id: CustomerId::new("15551234567"),
            wa_id: Some("15551234567".into()),
            user_id: None,
            name: None,
            ..Customer::default()
        },
        timestamp: 1_700_000_000,
        content,
        context: None,
        referral: None,
        handoff: None,
    }
}

fn text(body: &str) -> InboundMessage {
    msg(MessageContent::Text { body: body.into() })
}

fn button(id: &str, title: &str) -> InboundMessage {
    msg(MessageContent::ButtonReply {
        id: id.into(),
        title: title.into(),
    })
}

fn list(id: &str, title: &str) -> InboundMessage {
    msg(MessageContent::ListReply {
        id: id.into(),
        title: title.into(),
        description: None,
    })
}

fn image() -> InboundMessage {
    msg(MessageContent::Media {
        kind: MediaKind::Image,
        media: Media {
            id: Some("media-1".into()),
            mime_type: Some("image/jpeg".into()),
            sha256: None,
            caption: None,
            url: None,
        },
        filename: None,
        voice: false,
        animated: false,
    })
}

/// The text bodies of a step's replies (menus contribute their body).
fn texts(step: &BotStep) -> Vec<String> {
    step.replies
        .iter()
        .map(|r| match r {
            OutboundContent::Text { body, .. }
            | OutboundContent::Buttons { body, .. }
            | OutboundContent::List { body, .. } => body.clone(),
            other => format!("{other:?}"),
        })
        .collect()
}

fn button_ids(step: &BotStep) -> Vec<String> {
    step.replies
        .iter()
        .filter_map(|r| match r {
            OutboundContent::Buttons { buttons, .. } => {
                Some(buttons.iter().map(|b| b.id.clone()).collect::<Vec<_>>())
            }
            _ => None,
        })
        .flatten()
        .collect()
}

/// A conversation with the demo bot.
struct Chat {
    bot: Bot,
    state: BotState,
    contact: ContactRecord,
    now: DateTime<Utc>,
    /// The contact field definitions in effect.
    fields: crate::crm::fields::FieldDefs,
}

impl Chat {
    fn new(phone: &str) -> Self {
        Self::with(demo(), phone)
    }

    fn with(bot: Bot, phone: &str) -> Self {
        Self {
            bot,
            state: BotState::default(),
            contact: contact(phone),
            now: open(),
            fields: Default::default(),
        }
    }

    /// A conversation past the greeting, at the main menu.
    fn at_menu(phone: &str) -> Self {
        let mut chat = Self::new(phone);
        let step = chat.send(text("hello"));
        assert_eq!(chat.state.step.as_deref(), Some("main_menu"), "{step:?}");
        chat
    }

    fn send(&mut self, m: InboundMessage) -> BotStep {
        self.bot.on_message(
            &mut self.state,
            &mut self.contact,
            &m,
            self.now,
            &self.fields,
        )
    }

    fn say(&mut self, body: &str) -> BotStep {
        self.send(text(body))
    }

    fn result(&mut self, result: HttpResult) -> BotStep {
        self.bot
            .on_http_result(&mut self.state, &mut self.contact, result, self.now)
    }
}

// ---------------------------------------------------------------------------------------------
// Greeting and language
// ---------------------------------------------------------------------------------------------

#[test]
fn greets_in_english_and_shows_the_main_menu_as_buttons() {
    let mut chat = Chat::new("15551234567");
    let step = chat.say("hi");
    assert_eq!(step.replies.len(), 2);
    assert!(
        texts(&step)[0].starts_with("Hi! Welcome to Acme"),
        "{step:?}"
    );
    let OutboundContent::Buttons { body, buttons, .. } = &step.replies[1] else {
        panic!("expected buttons: {step:?}");
    };
    assert_eq!(body, "How can I help you today?");
    let titles: Vec<_> = buttons.iter().map(|b| b.title.as_str()).collect();
    assert_eq!(
        titles,
        ["Track my order", "Book appointment", "Talk to a person"]
    );
    assert_eq!(
        button_ids(&step),
        ["main_menu/track", "main_menu/book", "main_menu/person"]
    );
    assert!(step.http.is_none() && step.handoff.is_none());
    assert!(chat.state.greeted);
    assert_eq!(chat.state.language.as_deref(), Some("en"));
    assert_eq!(chat.contact.language.as_deref(), Some("en"));
}

#[test]
fn greets_in_spanish_by_country_code() {
    for phone in ["34612345678", "+52 1 55 1234 5678", "0034612345678"] {
        let mut chat = Chat::new(phone);
        let step = chat.say("hola");
        assert!(
            texts(&step)[0].starts_with("¡Hola! Bienvenido"),
            "{phone}: {step:?}"
        );
        assert_eq!(texts(&step)[1], "¿En qué te puedo ayudar?");
        assert_eq!(chat.contact.language.as_deref(), Some("es"));
    }
}

#[test]
fn contact_language_wins_over_phone_and_greeting_uses_the_name() {
    let mut chat = Chat::new("15551234567");
    chat.contact.language = Some("es-MX".into());
    chat.contact.name = Some("Lucía".into());
    let step = chat.say("hola");
    assert!(texts(&step)[0].starts_with("¡Hola Lucía!"), "{step:?}");
    assert_eq!(chat.state.language.as_deref(), Some("es"));

    // An unsupported language falls back to the phone, then the default.
    let mut chat = Chat::new("34612345678");
    chat.contact.language = Some("fr".into());
    chat.say("bonjour");
    assert_eq!(chat.state.language.as_deref(), Some("es"));
    assert_eq!(
        chat.contact.language.as_deref(),
        Some("fr"),
        "kept as the contact had it"
    );
    let mut chat = Chat::new("33612345678");
    chat.say("bonjour");
    assert_eq!(chat.state.language.as_deref(), Some("en"));
}

/// A channel that says which language the customer uses (Telegram's `language_code`): the
/// bot speaks it when it can, after the contact's own language and before the phone's country.
#[test]
fn the_channel_s_language_for_the_customer_comes_before_the_phone() {
    let mut chat = Chat::new("15551234567");
    let mut hola = text("hi");
    hola.customer.language = Some("es-419".into());
    chat.send(hola);
    assert_eq!(chat.state.language.as_deref(), Some("es"));

    let mut chat = Chat::new("15551234567");
    chat.contact.language = Some("en".into());
    let mut hola = text("hi");
    hola.customer.language = Some("es".into());
    chat.send(hola);
    assert_eq!(
        chat.state.language.as_deref(),
        Some("en"),
        "the contact's own wins"
    );

    let mut chat = Chat::new("34612345678");
    let mut unknown = text("hi");
    unknown.customer.language = Some("tlh".into());
    chat.send(unknown);
    assert_eq!(
        chat.state.language.as_deref(),
        Some("es"),
        "unsupported: the phone's"
    );
}

#[test]
fn language_menu_switches_language() {
    let mut chat = Chat::at_menu("15551234567");
    let step = chat.say("idioma");
    assert_eq!(chat.state.step.as_deref(), Some("language_menu"));
    assert_eq!(button_ids(&step), ["language_menu/en", "language_menu/es"]);
    let step = chat.send(button("language_menu/es", "Español"));
    assert_eq!(texts(&step), ["¿En qué te puedo ayudar?"]);
    assert_eq!(chat.contact.language.as_deref(), Some("es"));
    // Typed option title at the language menu.
    chat.say("language");
    let step = chat.say("english");
    assert_eq!(texts(&step), ["How can I help you today?"]);
    assert_eq!(chat.state.language.as_deref(), Some("en"));
}

// ---------------------------------------------------------------------------------------------
// Menus
// ---------------------------------------------------------------------------------------------

#[test]
fn menu_choice_by_button_id_typed_title_or_number() {
    let ask = "What's your order number? (e.g. A1234)";
    let mut chat = Chat::at_menu("15551234567");
    assert_eq!(
        texts(&chat.send(button("main_menu/track", "Track my order"))),
        [ask]
    );
    assert_eq!(chat.state.step.as_deref(), Some("ask_order_number"));

    let mut chat = Chat::at_menu("15551234567");
    assert_eq!(texts(&chat.say("  track MY order! ")), [ask]);

    let mut chat = Chat::at_menu("15551234567");
    assert_eq!(texts(&chat.say("1")), [ask]);

    let mut chat = Chat::at_menu("15551234567");
    let step = chat.say("2.");
    assert_eq!(
        texts(&step),
        ["Which day would you like to come? (e.g. 2026-12-03)"]
    );

    // Spanish title, accents ignored.
    let mut chat = Chat::at_menu("34612345678");
    let step = chat.say("seguir mi PEDIDO");
    assert_eq!(
        texts(&step),
        ["¿Cuál es tu número de pedido? (p. ej. A1234)"]
    );

    // A typed title in the other language works too.
    let mut chat = Chat::at_menu("34612345678");
    assert_eq!(chat.say("Track my order").replies.len(), 1);
    assert_eq!(chat.state.step.as_deref(), Some("ask_order_number"));
}

#[test]
fn old_menu_buttons_still_work_mid_question() {
    let mut chat = Chat::at_menu("15551234567");
    chat.say("1");
    assert_eq!(chat.state.step.as_deref(), Some("ask_order_number"));
    let step = chat.send(button("main_menu/book", "Book appointment"));
    assert_eq!(
        chat.state.step.as_deref(),
        Some("ask_appointment_date"),
        "{step:?}"
    );
    // An id we never sent is just not understood.
    let step = chat.send(button("nope/x", "?"));
    assert_eq!(chat.state.misunderstandings, 1, "{step:?}");
}

#[test]
fn team_menu_is_a_list() {
    let mut chat = Chat::at_menu("15551234567");
    let step = chat.send(button("main_menu/person", "Talk to a person"));
    let OutboundContent::List {
        button, sections, ..
    } = &step.replies[0]
    else {
        panic!("expected a list: {step:?}");
    };
    assert_eq!(button, "Choose a team");
    assert_eq!(sections.len(), 1);
    let rows: Vec<_> = sections[0].rows.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        rows,
        [
            "choose_team/support",
            "choose_team/sales",
            "choose_team/billing",
            "choose_team/anyone",
            "choose_team/back"
        ]
    );
    assert_eq!(
        sections[0].rows[0].description.as_deref(),
        Some("Orders, deliveries, returns")
    );
    let step = chat.send(list("choose_team/back", "Back to the menu"));
    assert_eq!(texts(&step), ["How can I help you today?"]);
}

// ---------------------------------------------------------------------------------------------
// FAQ
// ---------------------------------------------------------------------------------------------

#[test]
fn faq_in_english_then_menu_again() {
    let mut chat = Chat::at_menu("15551234567");
    let step = chat.say("When are you OPEN?");
    assert_eq!(
        texts(&step),
        [
            "We're open Monday to Friday, 9:00 to 18:00 (Madrid time).",
            "How can I help you today?"
        ]
    );
    assert!(step.handoff.is_none());
    let step = chat.say("how much is shipping to Italy?");
    assert!(texts(&step)[0].starts_with("Shipping is free from 50 €"));
    let step = chat.say("I want a refund");
    assert!(texts(&step)[0].starts_with("You can return any item"));
    assert_eq!(chat.state.step.as_deref(), Some("main_menu"));
}

#[test]
fn faq_in_spanish_with_accents_ignored() {
    let mut chat = Chat::at_menu("34612345678");
    let step = chat.say("¿Cuál es vuestro HORARIO?");
    assert_eq!(
        texts(&step)[0],
        "Abrimos de lunes a viernes, de 9:00 a 18:00 (hora de Madrid)."
    );
    let step = chat.say("cuanto cuesta el envio");
    assert!(
        texts(&step)[0].starts_with("El envío es gratis"),
        "{step:?}"
    );
    let step = chat.say("Devolución");
    assert!(texts(&step)[0].starts_with("Puedes devolver"));
}

#[test]
fn faq_on_first_contact_follows_the_greeting() {
    let mut chat = Chat::new("15551234567");
    let step = chat.say("what are your opening hours?");
    let t = texts(&step);
    assert_eq!(t.len(), 3, "{t:?}");
    assert!(t[0].starts_with("Hi!"));
    assert!(t[1].starts_with("We're open"));
    assert_eq!(t[2], "How can I help you today?");
}

// ---------------------------------------------------------------------------------------------
// Questions and HTTP steps
// ---------------------------------------------------------------------------------------------

#[test]
fn an_answer_saved_to_a_defined_field_must_fit_its_type() {
    use crate::crm::fields::{FieldDefinition, FieldDefs, FieldType};
    let mut chat = Chat::at_menu("15551234567");
    let def = |key: &str, kind: FieldType, options: &[&str]| FieldDefinition {
        key: key.into(),
        label: key.into(),
        kind,
        options: options.iter().map(|o| o.to_string()).collect(),
        description: None,
        created_at: 0,
        updated_at: 0,
    };
    chat.fields = FieldDefs::new([
        def("appointment_date", FieldType::Date, &[]),
        def("order_number", FieldType::Choice, &["A1234", "b-77"]),
    ]);
    chat.say("2");
    assert_eq!(chat.state.step.as_deref(), Some("ask_appointment_date"));
    // The question's own pattern lets it through; the field's type does not: asked again
    // with the question's invalid message, nothing saved.
    let step = chat.say("2026-02-30");
    assert!(
        texts(&step)[0].starts_with("Please write the date as YYYY-MM-DD"),
        "{step:?}"
    );
    assert_eq!(chat.state.step.as_deref(), Some("ask_appointment_date"));
    assert_eq!(chat.state.misunderstandings, 1);
    assert!(!chat.contact.fields.contains_key("appointment_date"));
    chat.say("2026-12-03");
    assert_eq!(chat.contact.fields["appointment_date"], "2026-12-03");
    assert_eq!(chat.state.misunderstandings, 0);

    // A choice stores the option as defined (the question upper-cases the answer first).
    let mut chat = Chat::at_menu("15551234568");
    chat.fields = FieldDefs::new([def("order_number", FieldType::Choice, &["A1234", "b-77"])]);
    chat.say("1");
    let step = chat.say("Z999");
    assert!(texts(&step)[0].starts_with("That doesn't look like an order number"));
    assert!(!chat.contact.fields.contains_key("order_number"));
    chat.say("b-77");
    assert_eq!(chat.contact.fields["order_number"], "b-77");
}

#[test]
fn question_reasks_on_invalid_input_then_saves_the_field_and_calls_the_api() {
    let mut chat = Chat::at_menu("15551234567");
    chat.say("1");
    let step = chat.say("#?");
    assert!(texts(&step)[0].starts_with("That doesn't look like an order number"));
    assert_eq!(chat.state.step.as_deref(), Some("ask_order_number"));
    assert_eq!(chat.state.misunderstandings, 1);
    assert!(!chat.contact.fields.contains_key("order_number"));

    let step = chat.say(" a1234 ");
    assert!(step.replies.is_empty(), "{step:?}");
    assert_eq!(chat.contact.fields["order_number"], "A1234");
    assert_eq!(chat.state.misunderstandings, 0);
    assert_eq!(chat.state.pending_http.as_deref(), Some("lookup_order"));
    assert_eq!(
        step.http,
        Some(HttpRequestSpec {
            method: "GET".into(),
            url: "http://127.0.0.1:9090/business/orders/A1234".into(),
            headers: vec![("Accept-Language".into(), "en".into())],
            body: None,
        })
    );
}

fn at_lookup(phone: &str) -> Chat {
    let mut chat = Chat::at_menu(phone);
    chat.say("1");
    let step = chat.say("A1234");
    assert!(step.http.is_some());
    chat
}

#[test]
fn order_found_answers_status_and_eta() {
    let mut chat = at_lookup("15551234567");
    let step = chat.result(HttpResult::Response {
        status: 200,
        body: json!({"number":"A1234","status":"shipped","eta":"2026-12-01","carrier":"DHL"}),
    });
    assert_eq!(
        texts(&step),
        [
            "Order A1234 is shipped with DHL. Estimated delivery: 2026-12-01.",
            "How can I help you today?"
        ]
    );
    assert!(step.http.is_none() && step.handoff.is_none());
    assert_eq!(chat.state.pending_http, None);
    assert_eq!(chat.state.step.as_deref(), Some("main_menu"));

    let mut chat = at_lookup("34612345678");
    let step = chat.result(HttpResult::Response {
        status: 200,
        body: json!({"number":"A1234","status":"shipped","eta":"2026-12-01"}),
    });
    assert_eq!(
        texts(&step)[0],
        "El pedido A1234 está enviado. Entrega estimada: 2026-12-01."
    );
}

#[test]
fn order_not_found_server_error_and_failure_have_their_own_texts() {
    let mut chat = at_lookup("15551234567");
    let step = chat.result(HttpResult::Response {
        status: 404,
        body: json!({"error": "not found"}),
    });
    assert!(
        texts(&step)[0].starts_with("I couldn't find order A1234."),
        "{step:?}"
    );
    assert_eq!(chat.state.step.as_deref(), Some("main_menu"));

    let failure = "I can't check orders right now. Please try again in a few minutes.";
    let mut chat = at_lookup("15551234567");
    let step = chat.result(HttpResult::Failed {
        reason: "timeout after 5000 ms".into(),
    });
    assert_eq!(texts(&step)[0], failure);

    // No on_error: another non-2xx status uses on_failure.
    let mut chat = at_lookup("15551234567");
    let step = chat.result(HttpResult::Response {
        status: 500,
        body: json!("Internal Server Error"),
    });
    assert_eq!(texts(&step)[0], failure);
}

#[test]
fn http_result_without_a_pending_step_is_ignored() {
    let mut chat = Chat::at_menu("15551234567");
    let before = chat.state.clone();
    let step = chat.result(HttpResult::Failed { reason: "x".into() });
    assert_eq!(step, BotStep::default());
    assert_eq!(chat.state, before);
}

#[test]
fn booking_posts_name_date_phone_and_confirms_the_id() {
    let mut chat = Chat::at_menu("34612345678");
    chat.contact.name = Some("Ana".into());
    chat.send(button("main_menu/book", "Pedir cita"));
    let step = chat.say("mañana");
    assert!(texts(&step)[0].starts_with("Escribe la fecha como AAAA-MM-DD"));
    let step = chat.say("2026-12-03");
    assert_eq!(
        step.http,
        Some(HttpRequestSpec {
            method: "POST".into(),
            url: "http://127.0.0.1:9090/business/appointments".into(),
            headers: vec![],
            body: Some(json!({"name": "Ana", "date": "2026-12-03", "phone": "34612345678"})),
        })
    );
    let step = chat.result(HttpResult::Response {
        status: 201,
        body: json!({"id": "APT-7", "date": "2026-12-03"}),
    });
    assert_eq!(
        texts(&step)[0],
        "Tienes cita el 2026-12-03. Tu referencia es APT-7."
    );

    // A refused booking hands off to support.
    chat.send(button("main_menu/book", "Pedir cita"));
    chat.say("2026-12-04");
    let step = chat.result(HttpResult::Response {
        status: 409,
        body: json!({"error": "date taken"}),
    });
    assert!(texts(&step)[0].starts_with("No he podido reservar"));
    let handoff = step.handoff.unwrap();
    assert_eq!(handoff.team, Some(TeamId::new("support")));
    assert!(handoff.reason.contains("book_appointment"), "{handoff:?}");
    assert!(chat.state.handed_off);
}

// ---------------------------------------------------------------------------------------------
// Handoff, hours, fallback
// ---------------------------------------------------------------------------------------------

#[test]
fn handoff_to_the_chosen_team_then_silence() {
    let mut chat = Chat::at_menu("15551234567");
    chat.say("Talk to a person");
    assert_eq!(chat.state.step.as_deref(), Some("choose_team"));
    let step = chat.send(list("choose_team/billing", "Billing"));
    assert_eq!(
        texts(&step),
        ["I'm passing you to a colleague, they'll reply here shortly."]
    );
    let handoff = step.handoff.unwrap();
    assert_eq!(handoff.team, Some(TeamId::new("billing")));
    assert!(handoff.reason.contains("Billing"), "{handoff:?}");
    assert!(chat.state.handed_off);
    // The caller should stop calling; if it does, nothing happens.
    assert_eq!(chat.say("hello?"), BotStep::default());
}

#[test]
fn handoff_with_automatic_routing() {
    let mut chat = Chat::at_menu("15551234567");
    chat.say("3");
    let step = chat.say("whoever is free");
    assert_eq!(step.handoff.unwrap().team, None);
}

#[test]
fn agent_keyword_works_anytime() {
    // Mid-question.
    let mut chat = Chat::at_menu("15551234567");
    chat.say("1");
    let step = chat.say("I want to talk to a HUMAN please");
    let handoff = step.handoff.unwrap();
    assert_eq!(handoff.team, None);
    assert_eq!(handoff.reason, "customer asked for a person");
    // As the very first message, in Spanish.
    let mut chat = Chat::new("34612345678");
    let step = chat.say("Agente");
    assert!(texts(&step)[0].starts_with("¡Hola!"));
    assert_eq!(
        texts(&step)[1],
        "Te paso con un compañero, te responderá aquí en breve."
    );
    assert!(step.handoff.is_some());
}

#[test]
fn out_of_hours_reply_and_queued_handoff_on_saturday() {
    let mut chat = Chat::at_menu("15551234567");
    chat.now = saturday();
    chat.say("3");
    let step = chat.send(list("choose_team/sales", "Sales"));
    assert_eq!(texts(&step).len(), 1);
    assert!(texts(&step)[0].starts_with("Our team is available Monday to Friday"));
    let handoff = step.handoff.unwrap();
    assert_eq!(handoff.team, Some(TeamId::new("sales")));
    assert!(handoff.reason.contains("outside business hours"));

    // A closed date, in Spanish.
    let mut chat = Chat::at_menu("34612345678");
    chat.now = Utc.with_ymd_and_hms(2026, 12, 25, 10, 0, 0).unwrap();
    let step = chat.say("agente");
    assert!(texts(&step)[0].starts_with("Nuestro equipo atiende"));
    assert!(step.handoff.is_some());
}

#[test]
fn out_of_hours_without_handoff_stays_with_the_bot() {
    let mut config = demo_config();
    if let Some(h) = config.hours.as_mut() {
        h.handoff_when_closed = false;
    }
    let mut chat = Chat::with(Bot::new(&config).unwrap(), "15551234567");
    chat.say("hi");
    chat.now = saturday();
    let step = chat.say("agent");
    assert!(texts(&step)[0].starts_with("Our team is available"));
    assert!(step.handoff.is_none());
    assert!(!chat.state.handed_off);
    // Always open: no hours block.
    config.hours = None;
    let mut chat = Chat::with(Bot::new(&config).unwrap(), "15551234567");
    chat.now = saturday();
    chat.say("hi");
    let step = chat.say("agent");
    assert_eq!(step.handoff.unwrap().reason, "customer asked for a person");
}

#[test]
fn fallback_hands_off_after_two_misunderstandings() {
    let mut chat = Chat::at_menu("15551234567");
    let step = chat.say("purple monkey");
    assert_eq!(
        texts(&step),
        [
            "Sorry, I didn't get that. Please pick an option below.",
            "How can I help you today?"
        ]
    );
    assert!(step.handoff.is_none());
    let step = chat.say("dishwasher");
    assert!(texts(&step)[0].starts_with("I'm having trouble understanding you"));
    let handoff = step.handoff.unwrap();
    assert_eq!(handoff.team, None);
    assert!(handoff.reason.contains("2 messages"), "{handoff:?}");
}

#[test]
fn understood_input_resets_the_counter_and_menu_fallback_is_configurable() {
    let mut chat = Chat::at_menu("15551234567");
    chat.say("purple monkey");
    chat.say("opening hours");
    assert_eq!(chat.state.misunderstandings, 0);
    assert!(chat.say("dishwasher").handoff.is_none());

    let mut config = demo_config();
    config.fallback.then = FallbackAction::Menu;
    config.fallback.after = 3;
    let mut chat = Chat::with(Bot::new(&config).unwrap(), "15551234567");
    chat.say("hi");
    chat.say("a");
    chat.say("b");
    let step = chat.say("c");
    assert!(step.handoff.is_none());
    assert!(texts(&step)[0].starts_with("I'm having trouble"));
    assert_eq!(texts(&step)[1], "How can I help you today?");
    assert_eq!(chat.state.misunderstandings, 0);
}

#[test]
fn repeated_invalid_answers_trigger_the_fallback() {
    let mut chat = Chat::at_menu("15551234567");
    chat.say("1");
    chat.say("??");
    let step = chat.say("!!");
    assert!(step.handoff.is_some());
}

// ---------------------------------------------------------------------------------------------
// Non-text inputs
// ---------------------------------------------------------------------------------------------

#[test]
fn reactions_system_and_edits_are_ignored() {
    let mut chat = Chat::at_menu("15551234567");
    let before = chat.state.clone();
    for content in [
        MessageContent::Reaction {
            message_id: ProviderMessageId::new("wamid.x"),
            emoji: Some("👍".into()),
        },
        MessageContent::Reaction {
            message_id: ProviderMessageId::new("wamid.x"),
            emoji: None,
        },
        MessageContent::System {
            body: Some("changed number".into()),
            system_type: Some("user_changed_number".into()),
            new_wa_id: None,
        },
        MessageContent::Revoke {
            original_message_id: ProviderMessageId::new("wamid.x"),
        },
        MessageContent::Edit {
            original_message_id: ProviderMessageId::new("wamid.x"),
            content: Box::new(MessageContent::Text { body: "x".into() }),
        },
    ] {
        assert_eq!(chat.send(msg(content)), BotStep::default());
    }
    assert_eq!(chat.state, before);
    // A reaction as the first event does not trigger the greeting.
    let mut chat = Chat::new("15551234567");
    let step = chat.send(msg(MessageContent::Reaction {
        message_id: ProviderMessageId::new("wamid.x"),
        emoji: Some("👍".into()),
    }));
    assert!(step.replies.is_empty());
    assert!(!chat.state.greeted);
}

#[test]
fn media_and_unknown_types_are_not_understood() {
    let mut chat = Chat::at_menu("15551234567");
    let step = chat.send(image());
    assert_eq!(
        texts(&step)[0],
        "Sorry, I didn't get that. Please pick an option below."
    );
    assert_eq!(chat.state.misunderstandings, 1);
    let step = chat.send(msg(MessageContent::Unknown {
        type_name: "hologram".into(),
    }));
    assert!(step.handoff.is_some(), "second misunderstanding: fallback");

    // Image as the first message: greeting and menu.
    let mut chat = Chat::new("15551234567");
    let step = chat.send(image());
    assert_eq!(step.replies.len(), 2);
}

#[test]
fn shared_location_is_saved() {
    let mut chat = Chat::at_menu("15551234567");
    let step = chat.send(msg(MessageContent::Location {
        latitude: 40.4168,
        longitude: -3.7038,
        name: None,
        address: None,
        url: None,
    }));
    assert_eq!(texts(&step), ["Thanks, I've saved your location."]);
    assert_eq!(chat.contact.fields["location_lat"], "40.4168");
    assert_eq!(chat.contact.fields["location_lon"], "-3.7038");
    assert_eq!(chat.state.misunderstandings, 0);
}

const MINI: &str = r#"
start: photo
texts:
  greeting: "Hello"
  not_understood: "Pardon?"
  fallback: "Let me get someone."
  error: "Oops."
steps:
  photo:
    type: question
    text: "Send a photo of the damage, or your location."
    field: damage_photo
    accept: [image, location]
    goto: thanks
  thanks:
    type: message
    text: "Got it: {{ fields.damage_photo }}"
"#;

#[test]
fn a_question_can_accept_media_or_location() {
    let bot = Bot::new(&from_yaml(MINI).unwrap()).unwrap();
    let mut chat = Chat::with(bot, "15551234567");
    chat.say("hi");
    assert_eq!(chat.state.step.as_deref(), Some("photo"));
    // Text is not accepted here.
    let step = chat.say("it's broken");
    assert_eq!(
        texts(&step),
        ["Pardon?", "Send a photo of the damage, or your location."]
    );
    let step = chat.send(image());
    assert_eq!(texts(&step), ["Got it: media-1"]);
    assert_eq!(chat.contact.fields["damage_photo"], "media-1");
    assert_eq!(chat.state.step, None);

    let bot = Bot::new(&from_yaml(MINI).unwrap()).unwrap();
    let mut chat = Chat::with(bot, "15551234567");
    chat.say("hi");
    let step = chat.send(msg(MessageContent::Location {
        latitude: 1.5,
        longitude: 2.0,
        name: None,
        address: None,
        url: None,
    }));
    assert_eq!(texts(&step), ["Got it: 1.5,2"]);
    assert_eq!(chat.contact.fields["location_lat"], "1.5");
}

// ---------------------------------------------------------------------------------------------
// State persistence
// ---------------------------------------------------------------------------------------------

#[test]
fn state_survives_a_json_round_trip_mid_flow() {
    let mut chat = Chat::at_menu("34612345678");
    chat.say("1");
    let stored = serde_json::to_string(&chat.state).unwrap();
    let contact = chat.contact.clone();

    // "Restart": a new bot from the same config, state from JSON.
    let mut resumed = Chat::new("34612345678");
    resumed.state = serde_json::from_str(&stored).unwrap();
    resumed.contact = contact;
    assert_eq!(resumed.state, chat.state);
    let step = resumed.say("B5678");
    assert_eq!(
        step.http.unwrap().url,
        "http://127.0.0.1:9090/business/orders/B5678"
    );
    // Mid-HTTP too.
    let stored = serde_json::to_value(&resumed.state).unwrap();
    resumed.state = serde_json::from_value(stored).unwrap();
    let step = resumed.result(HttpResult::Response {
        status: 200,
        body: json!({"number":"B5678","status":"processing","eta":"2026-12-10"}),
    });
    assert_eq!(
        texts(&step)[0],
        "El pedido B5678 está en preparación. Entrega estimada: 2026-12-10."
    );
    // Old or partial JSON still loads.
    let partial: BotState = serde_json::from_str(r#"{"greeted":true}"#).unwrap();
    assert!(partial.greeted && partial.step.is_none());
}

#[test]
fn a_lost_http_result_does_not_block_the_conversation() {
    let mut chat = at_lookup("15551234567");
    let step = chat.say("opening hours");
    assert!(texts(&step)[0].starts_with("We're open"));
    assert_eq!(chat.state.pending_http, None);
}

// ---------------------------------------------------------------------------------------------
// Templates at runtime
// ---------------------------------------------------------------------------------------------

#[test]
fn a_runtime_template_error_sends_the_generic_text() {
    let yaml = r#"
start: lookup
texts:
  greeting: "Hello"
  not_understood: "Pardon?"
  fallback: "Let me get someone."
  error: "Sorry, something went wrong on our side."
apis:
  crm: "https://crm.example/api"
steps:
  lookup:
    type: http
    url: "{{ apis.crm }}/x"
    on_success:
      text: "You have {{ response.body['items'] | length }} items."
    on_failure:
      text: "Down: {{ response.body }}"
"#;
    let bot = Bot::new(&from_yaml(yaml).unwrap()).unwrap();
    let mut chat = Chat::with(bot, "15551234567");
    let step = chat.say("hi");
    assert_eq!(step.http.as_ref().unwrap().url, "https://crm.example/api/x");
    let step = chat.result(HttpResult::Response {
        status: 200,
        body: json!({"items": 3}),
    });
    assert_eq!(texts(&step), ["Sorry, something went wrong on our side."]);
    chat.say("again");
    let step = chat.result(HttpResult::Response {
        status: 200,
        body: json!({"items": [1, 2]}),
    });
    assert_eq!(texts(&step), ["You have 2 items."]);
    let step = chat.say("again");
    assert!(step.http.is_some());
    let step = chat.result(HttpResult::Failed {
        reason: "timeout".into(),
    });
    assert_eq!(texts(&step), ["Down: timeout"]);
}

#[test]
fn a_goto_loop_is_cut_short() {
    let yaml = r#"
start: a
texts:
  greeting: "Hello"
  not_understood: "Pardon?"
  fallback: "Let me get someone."
  error: "Oops."
steps:
  a: { type: message, text: "A", goto: b }
  b: { type: message, text: "B", goto: a }
"#;
    let bot = Bot::new(&from_yaml(yaml).unwrap()).unwrap();
    let mut chat = Chat::with(bot, "15551234567");
    let step = chat.say("hi");
    assert_eq!(texts(&step).last().map(String::as_str), Some("Oops."));
    assert!(step.replies.len() < 30);
}

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

#[test]
fn demo_config_is_valid_and_loads_with_the_settings() {
    demo_config().validate(&teams()).unwrap();
    let dir = base_yaml().parent().unwrap().to_path_buf();
    let settings = crate::config::Settings::load_from(&dir, "test", false).unwrap();
    assert!(settings.bots.contains_key("default"));
}

#[test]
fn api_base_url_can_be_overridden_from_the_environment() {
    let env: ::config::Map<String, String> = [(
        "SWITCHBOARD__BOTS__DEFAULT__APIS__ORDERS".to_string(),
        "https://api.acme.example".to_string(),
    )]
    .into_iter()
    .collect();
    let config: BotConfig = ::config::Config::builder()
        .add_source(::config::File::from(base_yaml()))
        .add_source(
            ::config::Environment::with_prefix("SWITCHBOARD")
                .prefix_separator("__")
                .separator("__")
                .source(Some(env)),
        )
        .build()
        .unwrap()
        .get("bots.default")
        .unwrap();
    assert_eq!(config.apis["orders"], "https://api.acme.example");
    let mut chat = Chat::with(Bot::new(&config).unwrap(), "15551234567");
    chat.say("hi");
    chat.say("1");
    let step = chat.say("A1234");
    assert_eq!(
        step.http.unwrap().url,
        "https://api.acme.example/orders/A1234"
    );
}

fn error_of(config: &BotConfig) -> String {
    match config.validate(&teams()) {
        Ok(()) => panic!("expected an error"),
        Err(e) => e,
    }
}

fn main_menu(config: &mut BotConfig) -> &mut super::config::MenuConfig {
    match config.steps.get_mut("main_menu") {
        Some(StepConfig::Menu(m)) => m,
        _ => panic!("main_menu is a menu"),
    }
}

#[test]
fn validation_rejects_an_unknown_team() {
    let mut config = demo_config();
    if let Some(StepConfig::Menu(m)) = config.steps.get_mut("choose_team") {
        m.options[0].handoff = Some("marketing".into());
    }
    assert_eq!(error_of(&config), "unknown team marketing");
    let mut config = demo_config();
    config.fallback.team = Some("nobody".into());
    assert_eq!(error_of(&config), "unknown team nobody");
}

#[test]
fn validation_rejects_unknown_steps_and_intents() {
    let mut config = demo_config();
    main_menu(&mut config).options[0].goto = Some("nowhere".into());
    let e = error_of(&config);
    assert!(e.contains("goto unknown step nowhere"), "{e}");

    let mut config = demo_config();
    config.start = "nowhere".into();
    assert!(error_of(&config).contains("start"));

    let mut config = demo_config();
    config.faq[0].intent = Some("weather".into());
    assert!(error_of(&config).contains("unknown intent weather"));
}

#[test]
fn validation_enforces_whatsapp_limits() {
    let mut config = demo_config();
    let menu = main_menu(&mut config);
    menu.style = super::config::MenuStyle::Buttons;
    let extra = menu.options[0].clone();
    menu.options.push(super::config::OptionConfig {
        id: "more".into(),
        ..extra
    });
    let e = error_of(&config);
    assert!(e.contains("4 buttons, WhatsApp allows 3"), "{e}");

    let mut config = demo_config();
    main_menu(&mut config).options[0].title =
        Text::Same("A title far too long for a button".into());
    let e = error_of(&config);
    assert!(e.contains("WhatsApp allows 20"), "{e}");

    let mut config = demo_config();
    if let Some(StepConfig::Menu(m)) = config.steps.get_mut("choose_team") {
        let row = m.options[0].clone();
        for i in 0..6 {
            m.options.push(super::config::OptionConfig {
                id: format!("extra{i}"),
                ..row.clone()
            });
        }
    }
    let e = error_of(&config);
    assert!(e.contains("11 list rows"), "{e}");

    let mut config = demo_config();
    main_menu(&mut config).options[1].id = "track".into();
    assert!(error_of(&config).contains("used twice"));
}

#[test]
fn validation_rejects_broken_templates() {
    // Syntax error.
    let mut config = demo_config();
    config.texts.greeting = Text::Same("Hi {{ contact.name ".into());
    let e = error_of(&config);
    assert!(e.starts_with("template texts.greeting"), "{e}");
    // Misspelt variable: caught by the strict test render.
    let mut config = demo_config();
    config.texts.greeting = Text::Same("Hi {{ contcat.name }}".into());
    let e = error_of(&config);
    assert!(e.contains("texts.greeting"), "{e}");
    // `response` only exists in HTTP outcomes.
    let mut config = demo_config();
    config.texts.handoff = Some(Text::Same("{{ response.status }}".into()));
    assert!(error_of(&config).contains("texts.handoff"));
    // A field no question saves.
    let mut config = demo_config();
    config.texts.greeting = Text::Same("{{ fields.shoe_size }}".into());
    assert!(error_of(&config).contains("texts.greeting"));
    // Default language missing.
    let mut config = demo_config();
    config.texts.greeting = Text::PerLanguage([("es".to_string(), "Hola".to_string())].into());
    assert!(error_of(&config).contains("default language en"));
    // Bad validation regex.
    let mut config = demo_config();
    if let Some(StepConfig::Question(q)) = config.steps.get_mut("ask_order_number") {
        q.validate = Some("([A-Z".into());
    }
    assert!(error_of(&config).contains("ask_order_number.validate"));
}

#[test]
fn yaml_typos_are_rejected() {
    let typo = MINI.replace("    goto: thanks", "    gotoo: thanks");
    let e = from_yaml(&typo).unwrap_err().to_string();
    assert!(e.contains("gotoo"), "{e}");
    let bad_type = MINI.replace("type: message", "type: messge");
    assert!(from_yaml(&bad_type).is_err());
    let bad_hours = format!("{MINI}hours:\n  timezone: Mars/Olympus\n");
    let config = from_yaml(&bad_hours).unwrap();
    assert!(Bot::new(&config).is_err());
}

// ---------------------------------------------------------------------------------------------
// Flows reloaded under a conversation
// ---------------------------------------------------------------------------------------------

/// The demo bot without order tracking: no `track` option, no `ask_order_number`, no
/// `lookup_order` (as a reload could leave it).
fn demo_without_order_tracking() -> Bot {
    let mut config = demo_config();
    config.steps.remove("ask_order_number");
    config.steps.remove("lookup_order");
    if let Some(StepConfig::Menu(menu)) = config.steps.get_mut("main_menu") {
        menu.options.retain(|o| o.id != "track");
    }
    Bot::new(&config).expect("the demo bot without order tracking compiles")
}

/// A conversation waiting at the order number question, then the flows lose that step.
fn at_removed_question() -> Chat {
    let mut chat = Chat::at_menu("15551234567");
    let step = chat.say("1");
    assert_eq!(chat.state.step.as_deref(), Some("ask_order_number"));
    assert_eq!(step.restarted_from, None, "the step exists: no restart");
    chat.bot = demo_without_order_tracking();
    chat
}

#[test]
fn a_removed_step_goes_on_from_the_start_step_without_reading_the_answer() {
    let mut chat = at_removed_question();
    chat.state.misunderstandings = 1;
    let step = chat.say("A1234");
    assert_eq!(step.restarted_from.as_deref(), Some("ask_order_number"));
    assert_eq!(chat.state.step.as_deref(), Some("main_menu"), "{step:?}");
    // Only the start menu, with the new options: no "not understood", no lookup.
    assert_eq!(texts(&step), vec!["How can I help you today?".to_string()]);
    assert_eq!(
        button_ids(&step),
        vec!["main_menu/book".to_string(), "main_menu/person".to_string()]
    );
    assert!(step.http.is_none() && step.handoff.is_none());
    assert_eq!(chat.state.misunderstandings, 0, "the count starts over");
    assert!(!chat.contact.fields.contains_key("order_number"));
    // From there the flow goes on as usual.
    let step = chat.say("1");
    assert_eq!(step.restarted_from, None);
    assert_eq!(chat.state.step.as_deref(), Some("ask_appointment_date"));
}

#[test]
fn a_removed_step_still_honours_a_shortcut_or_a_tapped_option() {
    let mut chat = at_removed_question();
    let step = chat.say("agent");
    assert_eq!(step.restarted_from.as_deref(), Some("ask_order_number"));
    assert!(step.handoff.is_some(), "the shortcut hands off: {step:?}");

    let mut chat = at_removed_question();
    let step = chat.send(button("main_menu/book", "Book appointment"));
    assert_eq!(step.restarted_from.as_deref(), Some("ask_order_number"));
    assert_eq!(chat.state.step.as_deref(), Some("ask_appointment_date"));

    // A tapped option of a menu that is gone: the start step.
    let mut chat = at_removed_question();
    let step = chat.send(button("main_menu/track", "Track my order"));
    assert_eq!(step.restarted_from.as_deref(), Some("ask_order_number"));
    assert_eq!(chat.state.step.as_deref(), Some("main_menu"));
    assert_eq!(texts(&step), vec!["How can I help you today?".to_string()]);
}

#[test]
fn an_idle_conversation_uses_the_new_start_step() {
    let mut chat = Chat::at_menu("15551234567");
    let mut config = demo_config();
    config.start = "language_menu".into();
    chat.bot = Bot::new(&config).unwrap();
    chat.state.step = None;
    let step = chat.say("what?");
    assert_eq!(step.restarted_from, None, "nothing was lost");
    assert_eq!(
        chat.state.step.as_deref(),
        Some("language_menu"),
        "{step:?}"
    );
}

#[test]
fn goodbye_ends_the_conversation_anywhere_in_the_flow() {
    // At the menu.
    let mut chat = Chat::at_menu("15551234567");
    let step = chat.say("Thanks, bye!");
    assert!(step.resolve, "{step:?}");
    assert!(step.handoff.is_none() && step.http.is_none());
    assert_eq!(texts(&step), ["Thanks for writing to us. Have a good day!"]);
    assert_eq!(chat.state.step, None);
    // In the middle of a question, in Spanish.
    let mut chat = Chat::at_menu("34612345678");
    chat.send(button("main_menu/track", "Seguir mi pedido"));
    assert_eq!(chat.state.step.as_deref(), Some("ask_order_number"));
    let step = chat.say("eso es todo, gracias");
    assert!(step.resolve, "{step:?}");
    assert_eq!(
        texts(&step),
        ["Gracias por escribirnos. ¡Que tengas un buen día!"]
    );
    // Anything else does not end it.
    let mut chat = Chat::at_menu("15551234567");
    assert!(!chat.say("byebye").resolve);
    assert!(!chat.say("Track my order").resolve);
}

#[test]
fn an_end_step_without_text_resolves_silently_and_takes_no_other_field() {
    const ENDS: &str = r#"
start: thanks
texts:
  greeting: "Hello"
  not_understood: "Pardon?"
  fallback: "Let me get someone."
  error: "Oops."
steps:
  thanks:
    type: message
    text: "We got it."
    goto: done
  done:
    type: end
"#;
    let mut chat = Chat::with(Bot::new(&from_yaml(ENDS).unwrap()).unwrap(), "15551234567");
    let step = chat.say("hi");
    assert!(step.resolve, "{step:?}");
    assert_eq!(texts(&step), ["Hello", "We got it."]);
    let bad = ENDS.replace("    type: end\n", "    type: end\n    goto: thanks\n");
    assert!(from_yaml(&bad).is_err(), "an end step goes nowhere");
}
