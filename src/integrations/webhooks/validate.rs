//! What an endpoint may be (pure): each refusal names its field, and nothing is stored.

use super::events::is_event_type;

/// A refusal: a stable code (the API's `error.code`) and a message for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    pub code: &'static str,
    pub message: String,
}

fn invalid(code: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        code,
        message: message.into(),
    }
}

/// The longest URL accepted.
pub const MAX_URL: usize = 2048;
/// The longest description accepted, in characters.
pub const MAX_DESCRIPTION: usize = 500;

/// An endpoint URL: absolute `https` (or `http` when `allow_http`), with a host, without
/// credentials or a fragment, and, when the host is an IP address, one `address_allowed`
/// accepts (names are checked when connecting). Answers it normalised.
pub fn url(
    raw: &str,
    allow_http: bool,
    address_allowed: impl Fn(std::net::IpAddr) -> bool,
) -> Result<String, Invalid> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > MAX_URL {
        return Err(invalid(
            "invalid_url",
            format!("`url` must be an absolute https URL of at most {MAX_URL} characters"),
        ));
    }
    let parsed = reqwest::Url::parse(raw)
        .map_err(|e| invalid("invalid_url", format!("`url` is not a URL: {e}")))?;
    match parsed.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => {
            return Err(invalid(
                "invalid_url",
                "`url` must use https (plain http is allowed only where event_webhooks.allow_http is set)",
            ));
        }
        other => {
            return Err(invalid(
                "invalid_url",
                format!("`url` must use https, not {other}"),
            ));
        }
    }
    if parsed.host_str().is_none_or(str::is_empty) {
        return Err(invalid("invalid_url", "`url` has no host"));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid(
            "invalid_url",
            "`url` must not hold credentials (the signature proves who is calling)",
        ));
    }
    if parsed.fragment().is_some() {
        return Err(invalid("invalid_url", "`url` must not have a fragment"));
    }
    if let Some(ip) = literal_address(&parsed)
        && !address_allowed(ip)
    {
        return Err(invalid(
            "invalid_url",
            format!("`url`: {ip} is not a public address"),
        ));
    }
    Ok(parsed.to_string())
}

/// The URL's host when it is an IP address.
pub fn literal_address(url: &reqwest::Url) -> Option<std::net::IpAddr> {
    url.host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// The event types: at least one, each known; answered sorted, without repeats.
pub fn event_types(events: &[String]) -> Result<Vec<String>, Invalid> {
    if events.is_empty() {
        return Err(invalid(
            "invalid_events",
            "`events` must name at least one event type",
        ));
    }
    let unknown: Vec<&str> = events
        .iter()
        .map(String::as_str)
        .filter(|e| !is_event_type(e))
        .collect();
    if !unknown.is_empty() {
        let shown: Vec<String> = unknown
            .iter()
            .take(5)
            .map(|e| format!("{:?}", e.chars().take(64).collect::<String>()))
            .collect();
        return Err(invalid(
            "unknown_event_type",
            format!(
                "unknown event type {} (known: {})",
                shown.join(", "),
                super::events::EVENT_TYPES.join(", ")
            ),
        ));
    }
    let mut events = events.to_vec();
    events.sort();
    events.dedup();
    Ok(events)
}

/// A description: trimmed, at most [`MAX_DESCRIPTION`] characters; empty is none.
pub fn description(text: Option<&str>) -> Result<Option<String>, Invalid> {
    let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > MAX_DESCRIPTION {
        return Err(invalid(
            "invalid_description",
            format!("`description` holds at most {MAX_DESCRIPTION} characters"),
        ));
    }
    Ok(Some(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn public(ip: std::net::IpAddr) -> bool {
        crate::media::urls::is_public(ip)
    }

    #[test]
    fn literal_addresses_must_be_public_or_allowed() {
        for private in [
            "https://127.0.0.1/in",
            "https://10.1.2.3/in",
            "https://169.254.169.254/latest/meta-data",
            "https://[::1]/in",
            "https://[fd00::1]/in",
        ] {
            assert_eq!(
                url(private, false, public).unwrap_err().code,
                "invalid_url",
                "{private}"
            );
        }
        assert!(url("https://8.8.8.8/in", false, public).is_ok());
        assert!(url("https://crm.internal/in", false, public).is_ok());
        let loopback: std::net::IpAddr = "127.0.0.1".parse().unwrap();
        assert!(
            url("http://127.0.0.1:9/in", true, |ip| ip == loopback
                || public(ip))
            .is_ok()
        );
    }

    #[test]
    fn urls_must_be_https_unless_http_is_allowed() {
        assert_eq!(
            url(" https://crm.example.com/hooks?x=1 ", false, public).unwrap(),
            "https://crm.example.com/hooks?x=1"
        );
        assert_eq!(
            url("https://crm.example.com", false, public).unwrap(),
            "https://crm.example.com/"
        );
        assert!(url("http://8.8.8.8:8080/in", true, public).is_ok());
        for bad in [
            "",
            "crm.example.com/hooks",
            "http://crm.example.com/hooks",
            "ftp://crm.example.com/",
            "https://user:pw@crm.example.com/",
            "https://crm.example.com/#frag",
            "file:///etc/passwd",
            "javascript:alert(1)",
        ] {
            let refused = url(bad, false, public).unwrap_err();
            assert_eq!(refused.code, "invalid_url", "{bad}");
        }
        assert!(url("ftp://crm.example.com/", true, public).is_err());
        assert!(
            url(
                &format!("https://e.com/{}", "a".repeat(MAX_URL)),
                false,
                public
            )
            .is_err()
        );
    }

    #[test]
    fn event_types_must_be_known() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            event_types(&names(&[
                "message.status",
                "message.created",
                "message.status"
            ]))
            .unwrap(),
            ["message.created", "message.status"]
        );
        assert_eq!(
            event_types(&names(&super::super::events::EVENT_TYPES))
                .unwrap()
                .len(),
            10
        );
        assert_eq!(event_types(&[]).unwrap_err().code, "invalid_events");
        let refused = event_types(&names(&["message.created", "message.deleted"])).unwrap_err();
        assert_eq!(refused.code, "unknown_event_type");
        assert!(refused.message.contains("message.deleted"));
        assert_eq!(
            event_types(&names(&["campaign.*"])).unwrap_err().code,
            "unknown_event_type"
        );
    }

    #[test]
    fn descriptions_are_trimmed_and_bounded() {
        assert_eq!(description(None).unwrap(), None);
        assert_eq!(description(Some("  ")).unwrap(), None);
        assert_eq!(description(Some(" CRM ")).unwrap().as_deref(), Some("CRM"));
        assert!(description(Some(&"x".repeat(MAX_DESCRIPTION + 1))).is_err());
    }
}
