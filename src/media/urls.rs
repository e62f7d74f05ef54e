//! Customers' files that a provider gives as a link (Messenger and Instagram attachments: a CDN
//! URL, no media id), fetched without letting a webhook make the gateway reach anything else
//! (SSRF):
//!
//! - the URL is `https` (`http` only where `media.allow_http_urls`, tests), without
//!   credentials, on a host of `media.url_hosts` (a name, or `.suffix` for a domain and its
//!   subdomains); an IP address as the host must be listed itself;
//! - the name must resolve to public addresses only ([`GuardedResolver`]: private, loopback,
//!   link-local, shared, multicast... are dropped unless listed), checked when connecting, so a
//!   name cannot be re-pointed between the check and the request;
//! - redirects are followed (at most [`MAX_REDIRECTS`]) only to URLs that pass the same check;
//! - no token is sent (the link is signed by the CDN); 401/403/404/410 mean it expired, which
//!   no retry fixes ([`limits::link_failure`]);
//! - except for a channel whose links need its account ([`crate::channels::LinkAuth`], X's DM
//!   media): its own policy (its hosts only, never `media.url_hosts`) and client, and each
//!   request signed for the account (OAuth 1.0a), which therefore never goes to a host off
//!   that list (reqwest drops `Authorization` when a redirect changes host).
//!
//! The decisions are pure ([`UrlPolicy`]) and unit-tested.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::limits::{self, Failure};
use crate::config::MediaSettings;

/// Redirects followed at most, each to an allowed URL.
pub const MAX_REDIRECTS: usize = 3;
/// Longest link kept and fetched.
pub const URL_MAX: usize = 4096;

/// Which links may be fetched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UrlPolicy {
    /// Lowercase names and `.suffix`es.
    hosts: Vec<String>,
    /// Addresses listed: reachable even if private.
    addresses: Vec<IpAddr>,
    allow_http: bool,
}

impl UrlPolicy {
    pub fn new(hosts: &[String], allow_http: bool) -> Self {
        let hosts: Vec<String> = hosts
            .iter()
            .map(|h| h.trim().trim_matches(['[', ']']).to_ascii_lowercase())
            .filter(|h| !h.is_empty() && h != ".")
            .collect();
        let addresses = hosts.iter().filter_map(|h| h.parse().ok()).collect();
        Self {
            hosts,
            addresses,
            allow_http,
        }
    }

    pub fn from_settings(settings: &MediaSettings) -> Self {
        Self::new(&settings.url_hosts, settings.allow_http_urls)
    }

    /// Whether `host` (lowercase, without brackets) is one of the list's names or under one of
    /// its `.suffix`es. An IP address matches only itself.
    fn host_listed(&self, host: &str) -> bool {
        let is_ip = host.parse::<IpAddr>().is_ok();
        self.hosts
            .iter()
            .any(|allowed| match allowed.strip_prefix('.') {
                Some(domain) if !is_ip => host == domain || host.ends_with(allowed.as_str()),
                Some(_) => false,
                None => host == allowed,
            })
    }

    /// The URL to fetch, or why it may not be.
    pub fn check(&self, url: &str) -> Result<Url, String> {
        if url.len() > URL_MAX {
            return Err(format!("url_refused: longer than {URL_MAX} bytes"));
        }
        let parsed = Url::parse(url).map_err(|e| format!("url_refused: not a URL ({e})"))?;
        self.check_parsed(&parsed)?;
        Ok(parsed)
    }

    /// [`UrlPolicy::check`] of a parsed URL (a redirect's target).
    pub fn check_parsed(&self, url: &Url) -> Result<(), String> {
        match url.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            other => return Err(format!("url_refused: scheme {other} (https only)")),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("url_refused: credentials in the URL".into());
        }
        let host = match url.host_str() {
            // IPv6 addresses come in brackets; a name may end with the root's dot.
            Some(h) => h
                .trim_start_matches('[')
                .trim_end_matches(']')
                .trim_end_matches('.')
                .to_ascii_lowercase(),
            None => return Err("url_refused: no host".into()),
        };
        if !self.host_listed(&host) {
            return Err(format!(
                "url_refused: host {host} is not in media.url_hosts"
            ));
        }
        if let Ok(ip) = host.parse::<IpAddr>()
            && !self.address_allowed(ip)
        {
            return Err(format!("url_refused: address {ip} is not public"));
        }
        Ok(())
    }

    /// Whether a connection may go to `ip`: a public address, or one the list names.
    pub fn address_allowed(&self, ip: IpAddr) -> bool {
        self.addresses.contains(&ip) || is_public(ip)
    }
}

/// Whether `ip` is a public unicast address (not private, loopback, link-local, shared,
/// documentation, benchmarking, multicast, reserved or unspecified).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x0064 && s[1] == 0xff9b) // NAT64: an IPv4 behind it
                || (s[0] == 0x2002) // 6to4: an IPv4 behind it
                || s[..6] == [0; 6]) // IPv4-compatible
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

/// Resolves names for link downloads, keeping only the addresses the policy allows: nothing
/// private is connected to, whatever the name says when the connection is made.
pub struct GuardedResolver {
    policy: Arc<UrlPolicy>,
}

#[derive(Debug, thiserror::Error)]
#[error("url_refused: {0}")]
pub struct Refused(String);

impl GuardedResolver {
    /// A resolver keeping only the addresses `policy` allows (its host list is not consulted:
    /// a caller checks names itself).
    pub fn new(policy: Arc<UrlPolicy>) -> Self {
        Self { policy }
    }
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| policy.address_allowed(a.ip()))
                .collect();
            if allowed.is_empty() {
                return Err(
                    Box::new(Refused(format!("{host} resolves to no public address")))
                        as Box<dyn std::error::Error + Send + Sync>,
                );
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The client for link downloads: the guarded resolver, redirects only to allowed URLs, no
/// proxy from the environment (it would resolve names itself).
pub fn client(policy: Arc<UrlPolicy>, timeout: Duration) -> reqwest::Result<reqwest::Client> {
    let redirects = policy.clone();
    reqwest::Client::builder()
        .dns_resolver(Arc::new(GuardedResolver { policy }))
        .no_proxy()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS {
                return attempt.error(Refused("too many redirects".into()));
            }
            match redirects.check_parsed(attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(reason) => attempt.error(Refused(format!("redirect: {reason}"))),
            }
        }))
        .build()
}

/// Whether a request failed because the policy refused where it led (a redirect or a name).
fn refusal_of(err: &reqwest::Error) -> Option<String> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = source {
        if let Some(refused) = e.downcast_ref::<Refused>() {
            return Some(refused.to_string());
        }
        source = e.source();
    }
    None
}

/// The bytes behind a provider's link, at most `max`, and the type the server gave them.
/// A link the policy refuses is never requested (gone at once); an expired one is gone too.
/// `authorization`: the signature of a channel whose links need one, sent only to URLs
/// `policy` allows.
pub async fn download(
    client: &reqwest::Client,
    policy: &UrlPolicy,
    url: &str,
    authorization: Option<&str>,
    max: u64,
) -> Result<(Bytes, Option<String>), Failure> {
    let parsed = policy.check(url).map_err(Failure::Gone)?;
    let mut request = client.get(parsed);
    if let Some(value) = authorization {
        request = request.header(reqwest::header::AUTHORIZATION, value);
    }
    let response = request.send().await.map_err(|e| match refusal_of(&e) {
        Some(reason) => Failure::Gone(reason),
        None => Failure::Retry(format!("download: {}", e.without_url())),
    })?;
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(limits::link_failure(status));
    }
    let declared = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .map(|m| m.essence_str().to_string());
    let bytes = limits::read_capped(response, max, |e| e.without_url().to_string()).await?;
    Ok((bytes, declared))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> UrlPolicy {
        UrlPolicy::new(&MediaSettings::default().url_hosts, false)
    }

    #[test]
    fn only_https_links_on_meta_s_cdns_by_default() {
        let p = meta();
        assert!(
            p.check("https://scontent.xx.fbcdn.net/v/t1.15752-9/1.jpg?_nc_cat=1&oh=x")
                .is_ok()
        );
        assert!(
            p.check("https://lookaside.fbsbx.com/ig_messaging_cdn/?asset_id=1")
                .is_ok()
        );
        assert!(p.check("https://fbcdn.net/x").is_ok());
        assert!(p.check("https://SCONTENT.CDNINSTAGRAM.COM./x").is_ok());
        for (url, why) in [
            ("http://scontent.xx.fbcdn.net/1.jpg", "scheme http"),
            ("ftp://scontent.xx.fbcdn.net/1.jpg", "scheme ftp"),
            ("https://evil.example/1.jpg", "not in media.url_hosts"),
            (
                "https://fbcdn.net.evil.example/1.jpg",
                "not in media.url_hosts",
            ),
            ("https://evilfbcdn.net/1.jpg", "not in media.url_hosts"),
            ("https://user:pw@scontent.xx.fbcdn.net/1.jpg", "credentials"),
            ("https://127.0.0.1/1.jpg", "not in media.url_hosts"),
            ("https://[::1]/1.jpg", "not in media.url_hosts"),
            (
                "https://169.254.169.254/latest/meta-data",
                "not in media.url_hosts",
            ),
            ("not a url", "not a URL"),
        ] {
            let err = p.check(url).expect_err(url);
            assert!(err.starts_with("url_refused"), "{url}: {err}");
            assert!(err.contains(why), "{url}: {err}");
        }
        assert!(
            p.check(&format!("https://a.fbcdn.net/{}", "x".repeat(URL_MAX)))
                .is_err()
        );
    }

    #[test]
    fn x_s_policy_takes_x_s_dm_media_hosts_only() {
        let p = UrlPolicy::new(&crate::config::XSettings::default().media_hosts, false);
        assert!(
            p.check("https://ton.x.com/1.1/ton/data/dm/1/2/abc.jpg")
                .is_ok()
        );
        assert!(
            p.check("https://ton.twitter.com/1.1/ton/data/dm/1/2/abc.jpg")
                .is_ok()
        );
        for url in [
            "https://scontent.xx.fbcdn.net/v/1.jpg",
            "https://evil.example/ton.x.com/1.jpg",
            "https://ton.x.com.evil.example/1.jpg",
            "https://x.com/1.jpg",
            "http://ton.x.com/1.jpg",
        ] {
            assert!(p.check(url).is_err(), "{url}");
        }
    }

    #[test]
    fn a_listed_address_may_be_private_and_http_only_where_allowed() {
        let p = UrlPolicy::new(&["127.0.0.1".into(), ".cdn.test".into()], true);
        assert!(p.check("http://127.0.0.1:8080/cdn/1").is_ok());
        assert!(p.check("http://127.0.0.2:8080/cdn/1").is_err());
        assert!(p.check("http://localhost:8080/cdn/1").is_err());
        assert!(p.check("https://a.cdn.test/1").is_ok());
        assert!(p.address_allowed("127.0.0.1".parse().expect("ip")));
        assert!(!p.address_allowed("127.0.0.2".parse().expect("ip")));
        // A suffix never matches an address.
        let p = UrlPolicy::new(&[".0.0.1".into()], true);
        assert!(p.check("http://127.0.0.1/x").is_err());
    }

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for ip in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.0.8",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:10.0.0.1",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
            "2001:db8::1",
        ] {
            assert!(!is_public(ip.parse().expect(ip)), "{ip}");
        }
        for ip in [
            "157.240.1.35",
            "31.13.64.1",
            "2a03:2880:f12f:83:face:b00c::25de",
        ] {
            assert!(is_public(ip.parse().expect(ip)), "{ip}");
        }
    }

    #[test]
    fn expired_links_are_gone_and_server_errors_retried() {
        for status in [401, 403, 404, 410] {
            let failure = limits::link_failure(status);
            assert!(matches!(&failure, Failure::Gone(r) if r.starts_with("url_expired")));
        }
        assert!(matches!(limits::link_failure(503), Failure::Retry(_)));
        assert!(matches!(limits::link_failure(429), Failure::Retry(_)));
    }
}
