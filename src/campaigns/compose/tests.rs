use super::*;
use crate::campaigns::templates::{APPROVED, Category};
use serde_json::json;

fn template(format: &str, components: Value) -> Template {
    Template {
        channel: "support".into(),
        id: "1".into(),
        name: "t".into(),
        language: "en_US".into(),
        category: Category::Utility,
        status: APPROVED.into(),
        components,
        parameter_format: format.into(),
        reason: None,
        updated_at: 0,
    }
}

fn input(value: Value) -> TemplateInput {
    serde_json::from_value(value).expect("an input")
}

/// The problems' codes and fields.
fn problems(t: &Template, value: Value) -> Vec<(&'static str, String)> {
    compose(t, &input(value))
        .expect_err("refused")
        .into_iter()
        .map(|p| (p.code, p.field))
        .collect()
}

fn ok(t: &Template, value: Value) -> Composed {
    match compose(t, &input(value)) {
        Ok(composed) => composed,
        Err(problems) => panic!("refused: {problems:?}"),
    }
}

/// A positional utility template: a text header with a parameter, a body with two, a footer,
/// a URL button with a suffix, a static URL, a phone number and a quick reply.
fn parcel() -> Template {
    template(
        "POSITIONAL",
        json!([
            {"type": "HEADER", "format": "TEXT", "text": "Parcel {{1}}"},
            {"type": "BODY", "text": "Hi {{1}}, your parcel {{2}} arrives today. Parcel {{2}}!"},
            {"type": "FOOTER", "text": "Parcels Inc."},
            {"type": "BUTTONS", "buttons": [
                {"type": "URL", "text": "Track", "url": "https://parcels.example/t/{{1}}"},
                {"type": "URL", "text": "Help", "url": "https://parcels.example/help"},
                {"type": "PHONE_NUMBER", "text": "Call us", "phone_number": "+34600000000"},
                {"type": "QUICK_REPLY", "text": "Stop updates"}
            ]}
        ]),
    )
}

/// A named marketing template with an image header and a coupon.
fn sale() -> Template {
    let mut t = template(
        "NAMED",
        json!([
            {"type": "HEADER", "format": "IMAGE"},
            {"type": "BODY", "text": "Hi {{first_name}}, {{discount}} off until {{day}}."},
            {"type": "BUTTONS", "buttons": [
                {"type": "COPY_CODE", "example": "SPRING20"},
                {"type": "QUICK_REPLY", "text": "Stop promotions"}
            ]}
        ]),
    );
    t.category = Category::Marketing;
    t
}

#[test]
fn a_positional_template_becomes_metas_components_and_a_preview() {
    let composed = ok(
        &parcel(),
        json!({
            "header": {"text": "PX-7"},
            "body": ["Ana", "PX-7"],
            "buttons": [{"index": 0, "sub_type": "url", "value": "PX-7"},
                        {"index": 3, "sub_type": "quick_reply", "value": "STOP_UPDATES"}]
        }),
    );
    assert_eq!(
        composed.components,
        json!([
            {"type": "header", "parameters": [{"type": "text", "text": "PX-7"}]},
            {"type": "body", "parameters": [{"type": "text", "text": "Ana"},
                                            {"type": "text", "text": "PX-7"}]},
            {"type": "button", "sub_type": "url", "index": "0",
             "parameters": [{"type": "text", "text": "PX-7"}]},
            {"type": "button", "sub_type": "quick_reply", "index": "3",
             "parameters": [{"type": "payload", "payload": "STOP_UPDATES"}]}
        ])
    );
    let preview = composed.preview;
    assert_eq!(
        preview.header,
        Some(PreviewHeader {
            format: "TEXT".into(),
            text: Some("Parcel PX-7".into()),
            media: None
        })
    );
    assert_eq!(
        preview.body,
        "Hi Ana, your parcel PX-7 arrives today. Parcel PX-7!"
    );
    assert_eq!(preview.footer.as_deref(), Some("Parcels Inc."));
    assert_eq!(preview.buttons.len(), 4);
    assert_eq!(
        preview.buttons[0].url.as_deref(),
        Some("https://parcels.example/t/PX-7")
    );
    assert_eq!(
        preview.buttons[1].url.as_deref(),
        Some("https://parcels.example/help")
    );
    assert_eq!(preview.buttons[2].kind, "PHONE_NUMBER");
    assert_eq!(preview.buttons[3].value.as_deref(), Some("STOP_UPDATES"));
    // A quick reply's payload may be left out: its text is what comes back.
    let composed = ok(
        &parcel(),
        json!({"header": {"text": "PX-7"}, "body": ["Ana", "PX-7"],
               "buttons": [{"index": 0, "sub_type": "URL", "value": "PX-7"}]}),
    );
    assert_eq!(composed.components.as_array().map(Vec::len), Some(3));
    assert_eq!(
        composed.preview.buttons[3].value.as_deref(),
        Some("Stop updates")
    );
}

#[test]
fn a_named_template_sends_parameter_names_in_the_texts_order() {
    let composed = ok(
        &sale(),
        json!({
            "header": {"image": {"link": "https://shop.example/spring.jpg"}},
            "body": {"day": "Sunday", "first_name": "Ana", "discount": "20%"},
            "buttons": [{"index": 0, "sub_type": "copy_code", "value": "SPRING20"}]
        }),
    );
    assert_eq!(
        composed.components,
        json!([
            {"type": "header", "parameters": [
                {"type": "image", "image": {"link": "https://shop.example/spring.jpg"}}]},
            {"type": "body", "parameters": [
                {"type": "text", "parameter_name": "first_name", "text": "Ana"},
                {"type": "text", "parameter_name": "discount", "text": "20%"},
                {"type": "text", "parameter_name": "day", "text": "Sunday"}]},
            {"type": "button", "sub_type": "copy_code", "index": "0",
             "parameters": [{"type": "coupon_code", "coupon_code": "SPRING20"}]}
        ])
    );
    assert_eq!(composed.preview.body, "Hi Ana, 20% off until Sunday.");
    assert_eq!(
        composed.preview.header.and_then(|h| h.media),
        Some(MediaRef {
            link: Some("https://shop.example/spring.jpg".into()),
            ..MediaRef::default()
        })
    );
}

#[test]
fn media_headers_take_a_link_or_an_id_of_their_own_kind() {
    for format in ["IMAGE", "VIDEO", "DOCUMENT"] {
        let lower = format.to_ascii_lowercase();
        let t = template(
            "POSITIONAL",
            json!([{"type": "HEADER", "format": format}, {"type": "BODY", "text": "Here."}]),
        );
        let by_id = ok(
            &t,
            json!({"header": {lower.clone(): {"id": "4490709327384033"}}}),
        );
        assert_eq!(
            by_id.components,
            json!([{"type": "header", "parameters": [
                {"type": lower, lower.clone(): {"id": "4490709327384033"}}]}]),
            "{format}"
        );
        assert_eq!(
            problems(&t, json!({})),
            vec![("missing_parameter", format!("header.{lower}"))],
            "{format}"
        );
        assert_eq!(
            problems(&t, json!({"header": {"text": "hello"}})),
            vec![("wrong_header_format", "header".into())]
        );
        assert_eq!(
            problems(&t, json!({"header": {lower.clone(): {}}})),
            vec![("invalid_media", format!("header.{lower}"))]
        );
        assert_eq!(
            problems(
                &t,
                json!({"header": {lower.clone(): {"id": "1", "link": "https://a.example/x"}}})
            ),
            vec![("invalid_media", format!("header.{lower}"))]
        );
        assert_eq!(
            problems(
                &t,
                json!({"header": {lower.clone(): {"link": "ftp://a.example/x"}}})
            ),
            vec![("invalid_media", format!("header.{lower}.link"))]
        );
        assert_eq!(
            problems(
                &t,
                json!({"header": {lower.clone(): {"link": "not a url"}}})
            ),
            vec![("invalid_media", format!("header.{lower}.link"))]
        );
        assert_eq!(
            problems(&t, json!({"header": {lower.clone(): {"id": "a b"}}})),
            vec![("invalid_media", format!("header.{lower}.id"))]
        );
        let named = json!({"header": {lower.clone(): {"link": "https://a.example/x.pdf",
                                                       "filename": "order.pdf"}}});
        if format == "DOCUMENT" {
            let composed = ok(&t, named);
            assert_eq!(
                composed.components[0]["parameters"][0]["document"]["filename"],
                "order.pdf"
            );
        } else {
            assert_eq!(
                problems(&t, named),
                vec![("invalid_media", format!("header.{lower}.filename"))]
            );
        }
    }
    // Two kinds at once.
    let t = template("POSITIONAL", json!([{"type": "HEADER", "format": "IMAGE"}]));
    assert_eq!(
        problems(
            &t,
            json!({"header": {"image": {"id": "1"}, "video": {"id": "2"}}})
        ),
        vec![("wrong_header_format", "header".into())]
    );
    // A location header is not sent from here.
    let t = template(
        "POSITIONAL",
        json!([{"type": "HEADER", "format": "LOCATION"}]),
    );
    assert_eq!(
        problems(&t, json!({})),
        vec![("unsupported_template", "header".into())]
    );
}

#[test]
fn text_headers_take_a_value_only_with_a_parameter() {
    let fixed = template(
        "POSITIONAL",
        json!([{"type": "HEADER", "format": "TEXT", "text": "Hello"},
               {"type": "BODY", "text": "Hi."}]),
    );
    let composed = ok(&fixed, json!({}));
    assert_eq!(composed.components, json!([]));
    assert_eq!(
        composed.preview.header.and_then(|h| h.text).as_deref(),
        Some("Hello")
    );
    assert_eq!(
        problems(&fixed, json!({"header": {"text": "x"}})),
        vec![("extra_parameter", "header.text".into())]
    );
    assert_eq!(
        problems(&fixed, json!({"header": {"image": {"id": "1"}}})),
        vec![("wrong_header_format", "header".into())]
    );
    assert_eq!(
        problems(&parcel(), json!({"body": ["Ana", "PX"]}))[0],
        ("missing_parameter", "header.text".into())
    );
    let long = "x".repeat(MAX_HEADER);
    assert!(
        problems(
            &parcel(),
            json!({"header": {"text": long}, "body": ["Ana", "PX"],
                   "buttons": [{"index": 0, "sub_type": "url", "value": "PX"}]})
        )
        .contains(&("too_long", "header.text".into()))
    );
    // No header at all.
    let bare = template("POSITIONAL", json!([{"type": "BODY", "text": "Hi."}]));
    assert_eq!(
        problems(&bare, json!({"header": {"text": "x"}})),
        vec![("extra_parameter", "header".into())]
    );
    // A named header's parameter is sent with its name.
    let named = template(
        "NAMED",
        json!([{"type": "HEADER", "format": "TEXT", "text": "For {{who}}"}]),
    );
    assert_eq!(
        ok(&named, json!({"header": {"text": "Ana"}})).components,
        json!([{"type": "header", "parameters": [
            {"type": "text", "parameter_name": "who", "text": "Ana"}]}])
    );
}

#[test]
fn body_parameters_missing_extra_empty_or_malformed_are_each_named() {
    let buttons = json!([{"index": 0, "sub_type": "url", "value": "PX"}]);
    let header = json!({"text": "PX"});
    let positional = |body: Value| {
        problems(
            &parcel(),
            json!({"header": header, "body": body, "buttons": buttons}),
        )
    };
    assert_eq!(
        positional(json!(["Ana"])),
        vec![("missing_parameter", "body[1]".into())]
    );
    assert_eq!(
        positional(json!([])),
        vec![
            ("missing_parameter", "body[0]".into()),
            ("missing_parameter", "body[1]".into())
        ]
    );
    assert_eq!(
        positional(json!(["Ana", "PX", "more"])),
        vec![("extra_parameter", "body[2]".into())]
    );
    assert_eq!(
        positional(json!(["Ana", " "])),
        vec![("empty_parameter", "body[1]".into())]
    );
    assert_eq!(
        positional(json!(["Ana\nB", "PX"])),
        vec![("invalid_parameter", "body[0]".into())]
    );
    assert_eq!(
        positional(json!(["Ana\tB", "PX"])),
        vec![("invalid_parameter", "body[0]".into())]
    );
    assert_eq!(
        positional(json!(["Ana     B", "PX"])),
        vec![("invalid_parameter", "body[0]".into())]
    );
    assert_eq!(
        positional(json!({"name": "Ana"})),
        vec![
            ("wrong_parameter_format", "body".into()),
            ("missing_parameter", "body[0]".into()),
            ("missing_parameter", "body[1]".into())
        ]
    );
    assert!(
        positional(json!(["Ana", "x".repeat(MAX_BODY)])).contains(&("too_long", "body".into()))
    );
    // Named.
    let image = json!({"image": {"id": "1"}});
    let named = |body: Value| {
        problems(
            &sale(),
            json!({"header": image, "body": body,
        "buttons": [{"index": 0, "sub_type": "copy_code", "value": "X"}]}),
        )
    };
    assert_eq!(
        named(json!({"first_name": "Ana", "discount": "20%"})),
        vec![("missing_parameter", "body.day".into())]
    );
    assert_eq!(
        named(json!({"first_name": "Ana", "discount": "20%", "day": "Sunday", "city": "Vigo"})),
        vec![("extra_parameter", "body.city".into())]
    );
    assert_eq!(
        named(json!({"first_name": "", "discount": "20%", "day": "Sunday"})),
        vec![("empty_parameter", "body.first_name".into())]
    );
    assert_eq!(
        named(json!(["Ana", "20%", "Sunday"]))[0],
        ("wrong_parameter_format", "body".into())
    );
    // A template without parameters takes none (an empty list or object is none).
    let plain = template("POSITIONAL", json!([{"type": "BODY", "text": "Hi."}]));
    assert_eq!(ok(&plain, json!({})).components, json!([]));
    assert_eq!(ok(&plain, json!({"body": []})).components, json!([]));
    assert_eq!(ok(&plain, json!({"body": {}})).components, json!([]));
    assert_eq!(
        problems(&plain, json!({"body": ["x"]})),
        vec![("extra_parameter", "body[0]".into())]
    );
    // Every problem at once.
    assert_eq!(
        problems(&parcel(), json!({"body": ["Ana"]})),
        vec![
            ("missing_parameter", "header.text".into()),
            ("missing_parameter", "body[1]".into()),
            ("missing_parameter", "buttons[0]".into())
        ]
    );
}

#[test]
fn buttons_take_their_own_kind_of_value() {
    let base = |buttons: Value| json!({"header": {"text": "PX"}, "body": ["Ana", "PX"], "buttons": buttons});
    let refused = |buttons: Value| problems(&parcel(), base(buttons));
    assert_eq!(
        refused(json!([])),
        vec![("missing_parameter", "buttons[0]".into())]
    );
    assert_eq!(
        refused(json!([{"index": 0, "sub_type": "quick_reply", "value": "PX"}])),
        vec![("wrong_button_type", "buttons[0].sub_type".into())]
    );
    assert_eq!(
        refused(json!([{"index": 0, "sub_type": "url", "value": ""}])),
        vec![("empty_parameter", "buttons[0].value".into())]
    );
    assert_eq!(
        refused(json!([{"index": 0, "sub_type": "url", "value": "a b"}])),
        vec![("invalid_parameter", "buttons[0].value".into())]
    );
    assert_eq!(
        refused(json!([{"index": 0, "sub_type": "url", "value": "x".repeat(MAX_URL)}])),
        vec![("too_long", "buttons[0].value".into())]
    );
    // A static URL and a phone number take nothing.
    for index in [1, 2] {
        assert_eq!(
            refused(json!([{"index": 0, "sub_type": "url", "value": "PX"},
                           {"index": index, "sub_type": "url", "value": "x"}])),
            vec![("extra_parameter", format!("buttons[{index}]"))]
        );
    }
    assert_eq!(
        refused(json!([{"index": 0, "sub_type": "url", "value": "PX"},
                       {"index": 7, "sub_type": "url", "value": "x"}])),
        vec![("unknown_button", "buttons[7]".into())]
    );
    assert_eq!(
        refused(json!([{"index": 0, "sub_type": "url", "value": "PX"},
                       {"index": 0, "sub_type": "url", "value": "PY"}])),
        vec![("duplicate_button", "buttons[1]".into())]
    );
    assert_eq!(
        refused(json!([{"index": 0, "sub_type": "url", "value": "PX"},
                       {"index": 3, "sub_type": "quick_reply", "value": "x".repeat(MAX_PAYLOAD + 1)}])),
        vec![("too_long", "buttons[3].value".into())]
    );
    // A coupon.
    let sale_input = |code: &str| {
        json!({"header": {"image": {"id": "1"}},
               "body": {"first_name": "A", "discount": "B", "day": "C"},
               "buttons": [{"index": 0, "sub_type": "copy_code", "value": code}]})
    };
    assert_eq!(
        problems(&sale(), sale_input(&"X".repeat(MAX_CODE + 1))),
        vec![("too_long", "buttons[0].value".into())]
    );
    assert!(compose(&sale(), &input(sale_input("SPRING20"))).is_ok());
    // An authentication template's code button takes the code as a URL parameter.
    let login = template(
        "POSITIONAL",
        json!([{"type": "BODY", "text": "{{1}} is your verification code."},
               {"type": "BUTTONS", "buttons": [{"type": "OTP", "otp_type": "COPY_CODE",
                                               "text": "Copy code"}]}]),
    );
    assert_eq!(
        ok(
            &login,
            json!({"body": ["123456"],
                   "buttons": [{"index": 0, "sub_type": "url", "value": "123456"}]})
        )
        .components,
        json!([
            {"type": "body", "parameters": [{"type": "text", "text": "123456"}]},
            {"type": "button", "sub_type": "url", "index": "0",
             "parameters": [{"type": "text", "text": "123456"}]}
        ])
    );
    assert_eq!(
        problems(&login, json!({"body": ["123456"]})),
        vec![("missing_parameter", "buttons[0]".into())]
    );
}

#[test]
fn a_form_says_what_a_template_asks_for() {
    let form = form(&parcel());
    assert_eq!(form.parameter_format, "POSITIONAL");
    assert_eq!(
        form.header,
        Some(HeaderForm {
            format: "TEXT".into(),
            text: Some("Parcel {{1}}".into()),
            parameter: Some("1".into())
        })
    );
    assert_eq!(form.body_parameters, vec!["1", "2"]);
    assert_eq!(form.footer.as_deref(), Some("Parcels Inc."));
    let subs: Vec<_> = form
        .buttons
        .iter()
        .map(|b| (b.kind.as_str(), b.sub_type.as_deref(), b.required))
        .collect();
    assert_eq!(
        subs,
        vec![
            ("URL", Some("url"), true),
            ("URL", None, false),
            ("PHONE_NUMBER", None, false),
            ("QUICK_REPLY", Some("quick_reply"), false)
        ]
    );
    let form = super::form(&sale());
    assert_eq!(form.body_parameters, vec!["first_name", "discount", "day"]);
    assert_eq!(form.header.map(|h| h.format).as_deref(), Some("IMAGE"));
    // Positional parameters go by number, whatever their order in the text.
    let t = template(
        "POSITIONAL",
        json!([{"type": "BODY", "text": "{{2}} then {{1}}"}]),
    );
    assert_eq!(super::form(&t).body_parameters, vec!["1", "2"]);
    let composed = ok(&t, json!({"body": ["one", "two"]}));
    assert_eq!(composed.preview.body, "two then one");
    assert_eq!(composed.components[0]["parameters"][0]["text"], "one");
    // Components Meta wrote in lower case, or none at all.
    let t = template("POSITIONAL", json!([{"type": "body", "text": "Hi {{1}}"}]));
    assert_eq!(super::form(&t).body_parameters, vec!["1"]);
    assert_eq!(super::form(&template("NAMED", json!(null))).body, "");
}

#[test]
fn metas_count_check_of_a_sent_template() {
    let t = parcel();
    let good = ok(
        &t,
        json!({"header": {"text": "PX"}, "body": ["Ana", "PX"],
               "buttons": [{"index": 0, "sub_type": "url", "value": "PX"}]}),
    );
    assert_eq!(sent_mismatch(&t, &good.components), None);
    assert!(
        sent_mismatch(&t, &json!([])).is_some_and(|m| m.contains("header") && m.contains("body"))
    );
    assert!(sent_mismatch(&t, &Value::Null).is_some());
    let mut extra = good.components.clone();
    extra[1]["parameters"]
        .as_array_mut()
        .expect("parameters")
        .push(json!({"type": "text", "text": "x"}));
    assert!(sent_mismatch(&t, &extra).is_some_and(|m| m.contains("body: expected 2, got 3")));
    let mut stray = good.components.clone();
    stray
        .as_array_mut()
        .expect("components")
        .push(json!({"type": "button", "sub_type": "url", "index": "1",
                     "parameters": [{"type": "text", "text": "x"}]}));
    assert!(sent_mismatch(&t, &stray).is_some_and(|m| m.contains("button 1")));
    let plain = template("POSITIONAL", json!([{"type": "BODY", "text": "Hi."}]));
    assert_eq!(sent_mismatch(&plain, &json!([])), None);
    assert_eq!(sent_mismatch(&plain, &Value::Null), None);
    assert!(
        sent_mismatch(
            &plain,
            &json!([{"type": "footer", "parameters": [{"type": "text", "text": "x"}]}])
        )
        .is_some()
    );
}
