//! Panel apps (pure): what an app's registration may be, which conversations show it, and the
//! context token the console hands it.
//!
//! A panel app is a business system's page shown in the console's customer panel, in a
//! sandboxed iframe. The console gives it the context (conversation, contact, agent) as a
//! short-lived JWT signed HS256 with the app's own secret, so the app can trust who is asking
//! without calling back; the token's audience is the app's id, so a token minted for one app is
//! refused by another even if an administrator reused a secret.
//!
//! The store (`panel_app_records`), the admin API and the token endpoint (`http::panel_apps`),
//! the console page's `frame-src` (`http::webapp::index`) and the console's tab build on these
//! functions.

use jwt_simple::prelude::{
    Claims, Duration, HS256Key, JWTClaims, MACLike, UnixTimeStamp, VerificationOptions,
};
use serde::{Deserialize, Serialize};

pub use super::webhooks::validate::Invalid;

/// How long a context token is valid.
pub const TOKEN_TTL_SECONDS: u64 = 300;
/// The token's issuer.
pub const ISSUER: &str = "switchboard";
/// The longest app name accepted, in characters.
pub const MAX_NAME: usize = 80;
/// The longest URL accepted.
pub const MAX_URL: usize = 2048;
/// The prefix of an app's secret (shown once, at creation and at rotation).
pub const SECRET_PREFIX: &str = "psk_";

fn invalid(code: &'static str, message: impl Into<String>) -> Invalid {
    Invalid {
        code,
        message: message.into(),
    }
}

/// A new app secret: `psk_` and 256 random bits in hex.
pub fn new_secret() -> String {
    crate::accounts::secrets::new_token(SECRET_PREFIX)
}

/// An app's name: trimmed, 1 to [`MAX_NAME`] characters, no control characters.
pub fn name(raw: &str) -> Result<String, Invalid> {
    let name = raw.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME {
        return Err(invalid(
            "invalid_name",
            format!("`name` must have 1 to {MAX_NAME} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(invalid(
            "invalid_name",
            "`name` must not hold control characters",
        ));
    }
    Ok(name.to_string())
}

/// An app's URL: absolute `https` with a host, without credentials or a fragment (the console
/// puts nothing there; the token goes by `postMessage`). With `allow_loopback_http` (the demo
/// and test environments) also `http://127.0.0.1` and `http://localhost`. Answers it normalised.
pub fn url(raw: &str, allow_loopback_http: bool) -> Result<String, Invalid> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > MAX_URL {
        return Err(invalid(
            "invalid_url",
            format!("`url` must be an absolute https URL of at most {MAX_URL} characters"),
        ));
    }
    let parsed = reqwest::Url::parse(raw)
        .map_err(|e| invalid("invalid_url", format!("`url` is not a URL: {e}")))?;
    let host = parsed.host_str().unwrap_or("");
    if host.is_empty() {
        return Err(invalid("invalid_url", "`url` has no host"));
    }
    match parsed.scheme() {
        "https" => {}
        "http" if allow_loopback_http && matches!(host, "127.0.0.1" | "localhost") => {}
        "http" => {
            return Err(invalid(
                "invalid_url",
                "`url` must use https (http only to 127.0.0.1 in the demo and test environments)",
            ));
        }
        other => {
            return Err(invalid(
                "invalid_url",
                format!("`url` must use https, not {other}"),
            ));
        }
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid("invalid_url", "`url` must not hold credentials"));
    }
    if parsed.fragment().is_some() {
        return Err(invalid("invalid_url", "`url` must not have a fragment"));
    }
    Ok(parsed.to_string())
}

/// The origin of an app's (checked) URL, `https://crm.example.com` or `http://127.0.0.1:9090`:
/// what the console's `frame-src` allows and where it posts the token.
pub fn origin(url: &str) -> Option<String> {
    let parsed = reqwest::Url::parse(url).ok()?;
    let origin = parsed.origin();
    origin.is_tuple().then(|| origin.ascii_serialization())
}

/// An app's team filter: team ids, each one the configuration knows (`known`); answered
/// sorted, without repeats. Empty: every team.
pub fn teams(raw: &[String], known: impl Fn(&str) -> bool) -> Result<Vec<String>, Invalid> {
    let mut teams: Vec<String> = raw.iter().map(|t| t.trim().to_string()).collect();
    teams.sort();
    teams.dedup();
    if let Some(unknown) = teams.iter().find(|t| !known(t)) {
        return Err(invalid(
            "unknown_team",
            format!(
                "`teams`: no team {:?}",
                unknown.chars().take(64).collect::<String>()
            ),
        ));
    }
    Ok(teams)
}

/// Whether an app with this team filter shows in a conversation of `team` (none: not handed
/// off yet). An empty filter shows everywhere; otherwise only in those teams' conversations.
pub fn shown_in(filter: &[String], team: Option<&str>) -> bool {
    filter.is_empty() || team.is_some_and(|t| filter.iter().any(|f| f == t))
}

/// The contact as the app sees it: already masked for the calling agent (the way the contacts
/// API masks numbers).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactClaim {
    pub id: String,
    pub name: Option<String>,
    pub phone: Option<String>,
    pub channel: String,
}

/// The agent asking.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentClaim {
    pub id: String,
    pub name: String,
}

/// What the token tells the app (its custom claims).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PanelContext {
    pub conversation: String,
    pub team: Option<String>,
    pub contact: ContactClaim,
    pub agent: AgentClaim,
}

/// A context token for app `app_id`, signed with its `secret`, issued at `now_unix` (seconds),
/// valid [`TOKEN_TTL_SECONDS`]: `iss` switchboard, `aud` the app's id, `sub` the agent's id,
/// `iat`/`nbf`/`exp`, and the context. Fails only for a secret too short for HS256 (under 12
/// bytes: never one [`new_secret`] made).
pub fn mint(
    secret: &str,
    app_id: &str,
    context: PanelContext,
    now_unix: u64,
) -> Result<String, String> {
    let now = UnixTimeStamp::from_secs(now_unix);
    let subject = context.agent.id.clone();
    let mut claims = Claims::with_custom_claims(context, Duration::from_secs(TOKEN_TTL_SECONDS))
        .with_issuer(ISSUER)
        .with_audience(app_id)
        .with_subject(subject);
    claims.issued_at = Some(now);
    claims.invalid_before = Some(now);
    claims.expires_at = Some(now + Duration::from_secs(TOKEN_TTL_SECONDS));
    HS256Key::from_bytes(secret.as_bytes())
        .authenticate(claims)
        .map_err(|e| e.to_string())
}

/// What an app does with a token (the demo's panel page, the tests): the signature under its
/// secret, issuer, audience and time (as of `now_unix`, one minute's tolerance).
pub fn verify(
    secret: &str,
    app_id: &str,
    token: &str,
    now_unix: u64,
) -> Result<JWTClaims<PanelContext>, String> {
    let options = VerificationOptions {
        allowed_issuers: Some([ISSUER.to_string()].into()),
        allowed_audiences: Some([app_id.to_string()].into()),
        time_tolerance: Some(Duration::from_secs(60)),
        artificial_time: Some(UnixTimeStamp::from_secs(now_unix)),
        ..VerificationOptions::default()
    };
    HS256Key::from_bytes(secret.as_bytes())
        .verify_token::<PanelContext>(token, Some(options))
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_796_000_000;

    fn context() -> PanelContext {
        PanelContext {
            conversation: "01a24c3f-288b-75b6-b48b-2a253f789b10".into(),
            team: Some("support".into()),
            contact: ContactClaim {
                id: "c-1".into(),
                name: Some("Ana".into()),
                phone: Some("+34 6•• ••• •12".into()),
                channel: "support".into(),
            },
            agent: AgentClaim {
                id: "alice".into(),
                name: "Alice".into(),
            },
        }
    }

    #[test]
    fn a_token_carries_the_context_signed_with_the_apps_secret_for_five_minutes() {
        let secret = new_secret();
        assert!(secret.starts_with(SECRET_PREFIX) && secret.len() == 4 + 64);
        let token = mint(&secret, "orders", context(), NOW).expect("minted");
        let claims = verify(&secret, "orders", &token, NOW + 10).expect("verified");
        assert_eq!(claims.custom, context());
        assert_eq!(claims.issuer.as_deref(), Some(ISSUER));
        assert_eq!(claims.subject.as_deref(), Some("alice"));
        assert_eq!(claims.issued_at.map(|t| t.as_secs()), Some(NOW));
        assert_eq!(
            claims.expires_at.map(|t| t.as_secs()),
            Some(NOW + TOKEN_TTL_SECONDS)
        );
        // Verified by hand too: HS256 over header.payload, base64url without padding.
        let (signed, signature) = token.rsplit_once('.').expect("three parts");
        let (header, payload) = signed.split_once('.').expect("three parts");
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header: serde_json::Value =
            serde_json::from_slice(&b64.decode(header).expect("b64")).expect("json");
        assert_eq!(header["alg"], "HS256");
        let payload: serde_json::Value =
            serde_json::from_slice(&b64.decode(payload).expect("b64")).expect("json");
        assert_eq!(payload["aud"], "orders");
        assert_eq!(payload["exp"], NOW + 300);
        assert_eq!(payload["contact"]["phone"], "+34 6•• ••• •12");
        assert_eq!(payload["agent"]["name"], "Alice");
        use hmac::{KeyInit, Mac};
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any length");
        mac.update(signed.as_bytes());
        assert_eq!(
            b64.encode(mac.finalize().into_bytes()),
            signature,
            "the signature is HMAC-SHA256 with the app's secret"
        );
    }

    #[test]
    fn another_secret_another_app_or_a_late_hour_is_refused() {
        let secret = new_secret();
        let token = mint(&secret, "orders", context(), NOW).expect("minted");
        assert!(verify(&new_secret(), "orders", &token, NOW).is_err());
        assert!(verify(&secret, "crm", &token, NOW).is_err());
        // Valid to its last second (and the tolerance), refused after.
        assert!(verify(&secret, "orders", &token, NOW + TOKEN_TTL_SECONDS).is_ok());
        assert!(verify(&secret, "orders", &token, NOW + TOKEN_TTL_SECONDS + 61).is_err());
        // Nor before it was issued.
        assert!(verify(&secret, "orders", &token, NOW - 61).is_err());
        // A tampered payload fails the signature.
        let mut parts: Vec<String> = token.split('.').map(str::to_string).collect();
        parts[1] = parts[1].replacen('e', "f", 1);
        assert!(verify(&secret, "orders", &parts.join("."), NOW).is_err());
        // A secret too short for HS256 is never used.
        assert!(mint("short", "orders", context(), NOW).is_err());
    }

    #[test]
    fn the_team_filter_shows_an_app_only_in_its_teams_conversations() {
        let none: Vec<String> = vec![];
        let sales = vec!["sales".to_string()];
        let both = vec!["sales".to_string(), "support".to_string()];
        assert!(shown_in(&none, None));
        assert!(shown_in(&none, Some("support")));
        assert!(!shown_in(&sales, None));
        assert!(!shown_in(&sales, Some("support")));
        assert!(shown_in(&sales, Some("sales")));
        assert!(shown_in(&both, Some("support")));
        let known = |t: &str| t == "sales" || t == "support";
        assert_eq!(
            teams(
                &["support".into(), " sales".into(), "support".into()],
                known
            ),
            Ok(both)
        );
        assert_eq!(teams(&[], known), Ok(vec![]));
        assert_eq!(
            teams(&["billing".into()], known).map_err(|e| e.code),
            Err("unknown_team")
        );
    }

    #[test]
    fn names_and_urls_are_checked() {
        assert_eq!(name("  Orders "), Ok("Orders".into()));
        assert_eq!(name("Заказы"), Ok("Заказы".into()));
        for bad in ["", "   ", "a\u{0}b", &"x".repeat(MAX_NAME + 1)] {
            assert_eq!(
                name(bad).map_err(|e| e.code),
                Err("invalid_name"),
                "{bad:?}"
            );
        }
        assert_eq!(
            url("https://crm.example.com/panel?x=1", false),
            Ok("https://crm.example.com/panel?x=1".into())
        );
        assert_eq!(
            url("http://127.0.0.1:9090/business/panel", true),
            Ok("http://127.0.0.1:9090/business/panel".into())
        );
        for (bad, dev) in [
            ("http://127.0.0.1:9090/panel", false),
            ("http://crm.example.com/panel", true),
            ("ftp://crm.example.com/", true),
            ("javascript:alert(1)", true),
            ("https://user:pw@crm.example.com/", false),
            ("https://crm.example.com/#token", false),
            ("/relative", false),
            ("", false),
        ] {
            assert_eq!(
                url(bad, dev).map_err(|e| e.code),
                Err("invalid_url"),
                "{bad:?}"
            );
        }
        assert_eq!(
            origin("https://crm.example.com/panel?x=1").as_deref(),
            Some("https://crm.example.com")
        );
        assert_eq!(
            origin("http://127.0.0.1:9090/business/panel").as_deref(),
            Some("http://127.0.0.1:9090")
        );
        assert_eq!(
            origin("https://bücher.example:443/").as_deref(),
            Some("https://xn--bcher-kva.example")
        );
        assert_eq!(origin("not a url"), None);
        let long = format!("https://e.com/{}", "a".repeat(MAX_URL));
        assert_eq!(url(&long, false).map_err(|e| e.code), Err("invalid_url"));
    }
}
