//! Browser origins: which pages may call the console API (CORS) and open its websocket. The
//! gateway's own origin (the request's `Host`) always may; others only when listed in
//! `security.allowed_origins`. A request without `Origin` is not from a page in another origin
//! (browsers send it on every cross-origin request and on every websocket handshake).

use actix_web::http::Uri;

/// `scheme://host[:port]`, lowercased, without the scheme's default port; None when `origin`
/// is not an http(s) origin.
pub fn normalize(origin: &str) -> Option<String> {
    let uri: Uri = origin.trim().trim_end_matches('/').parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let authority = uri.authority()?;
    if uri.query().is_some() || !matches!(uri.path(), "" | "/") || authority.as_str().contains('@')
    {
        return None;
    }
    let host = authority.host().to_ascii_lowercase();
    Some(match authority.port_u16() {
        Some(port) if port != default_port => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    })
}

/// Whether a page of `origin` may use the API reached through `host` (the `Host` header).
pub fn allowed(origin: &str, host: Option<&str>, allowed_origins: &[String]) -> bool {
    let Some(origin) = normalize(origin) else {
        return false;
    };
    if allowed_origins
        .iter()
        .filter_map(|o| normalize(o))
        .any(|o| o == origin)
    {
        return true;
    }
    // The gateway's own origin: the page came from this host (whatever TLS ended in front).
    let Some(host) = host else {
        return false;
    };
    let Some((scheme, _)) = origin.split_once("://") else {
        return false;
    };
    normalize(&format!("{scheme}://{host}")).is_some_and(|own| own == origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_normalized_or_refused() {
        assert_eq!(
            normalize("https://Console.Example.com").as_deref(),
            Some("https://console.example.com")
        );
        assert_eq!(
            normalize("http://127.0.0.1:8080/").as_deref(),
            Some("http://127.0.0.1:8080")
        );
        assert_eq!(
            normalize("https://example.com:443").as_deref(),
            Some("https://example.com")
        );
        for bad in [
            "",
            "null",
            "example.com",
            "ftp://example.com",
            "https://example.com/path",
            "https://example.com?x=1",
            "https://user@example.com",
        ] {
            assert_eq!(normalize(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_own_origin_and_listed_ones_are_allowed() {
        let listed = vec!["https://console.example.com".to_string()];
        assert!(allowed(
            "http://127.0.0.1:8080",
            Some("127.0.0.1:8080"),
            &[]
        ));
        assert!(allowed(
            "https://gw.example.com",
            Some("gw.example.com:443"),
            &[]
        ));
        assert!(allowed(
            "https://console.example.com",
            Some("gw.example.com"),
            &listed
        ));
        assert!(!allowed(
            "https://evil.example",
            Some("gw.example.com"),
            &listed
        ));
        assert!(!allowed(
            "http://127.0.0.1:9999",
            Some("127.0.0.1:8080"),
            &listed
        ));
        assert!(!allowed("null", Some("127.0.0.1:8080"), &listed));
        assert!(!allowed("https://gw.example.com", None, &[]));
    }
}
