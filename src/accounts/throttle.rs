//! Failed authentications, counted per client address and per credential.
//!
//! Each key gets a fixed window that starts at its first failure and lasts
//! `security.auth_failure_window_seconds`. Once a key has as many failures as its limit in the
//! window, every attempt with it (valid or not, so a guess cannot be confirmed) is refused until
//! the window ends. Only failures are written; a valid request costs two cache lookups. The
//! caches are bounded (`security.auth_failure_tracking`) and forget a window when it ends.
//! In cluster mode each node counts for itself: a guesser spread over N nodes gets N times the
//! limit, still far from a useful rate against 256-bit tokens.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use moka::sync::Cache;

use crate::config::SecuritySettings;

/// What a refused attempt is refused for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Address,
    Credential,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Address => "address",
            Scope::Credential => "credential",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Throttled {
    pub scope: Scope,
    /// Whole seconds until the window ends (at least 1).
    pub retry_after_seconds: u64,
}

/// A credential as the throttle knows it: a 128-bit digest, never the secret itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CredentialKey(u128);

impl CredentialKey {
    pub fn of(secret: &str) -> CredentialKey {
        CredentialKey(xxhash_rust::xxh3::xxh3_128(secret.as_bytes()))
    }
}

struct Window {
    started: Instant,
    failures: AtomicU32,
}

pub struct AuthThrottle {
    by_address: Cache<IpAddr, Arc<Window>>,
    by_credential: Cache<CredentialKey, Arc<Window>>,
    per_address: u32,
    per_credential: u32,
    window: Duration,
    /// When the last failure was counted (ms since `epoch`, 0: never): while no failure is
    /// younger than a window, nobody can be refused and `check` reads nothing.
    epoch: Instant,
    last_failure_ms: AtomicU64,
}

impl AuthThrottle {
    pub fn new(settings: &SecuritySettings) -> AuthThrottle {
        let window = Duration::from_secs(settings.auth_failure_window_seconds.max(1));
        AuthThrottle {
            by_address: windows(settings.auth_failure_tracking, window),
            by_credential: windows(settings.auth_failure_tracking, window),
            per_address: settings.auth_failures_per_address.max(1),
            per_credential: settings.auth_failures_per_credential.max(1),
            window,
            epoch: Instant::now(),
            last_failure_ms: AtomicU64::new(0),
        }
    }

    /// Whether an attempt from `address` with `credential` may be checked at all.
    pub fn check(
        &self,
        address: Option<IpAddr>,
        credential: Option<CredentialKey>,
    ) -> Result<(), Throttled> {
        let last = self.last_failure_ms.load(Ordering::Relaxed);
        if last == 0 || self.since_epoch_ms().saturating_sub(last) > self.window.as_millis() as u64
        {
            return Ok(());
        }
        if let Some(address) = address
            && let Some(window) = self.by_address.get(&address)
        {
            self.refuse(&window, self.per_address, Scope::Address)?;
        }
        if let Some(credential) = credential
            && let Some(window) = self.by_credential.get(&credential)
        {
            self.refuse(&window, self.per_credential, Scope::Credential)?;
        }
        Ok(())
    }

    /// Count a failed attempt against its address and its credential.
    pub fn failed(&self, address: Option<IpAddr>, credential: Option<CredentialKey>) {
        let now = Instant::now();
        self.last_failure_ms
            .store(self.since_epoch_ms().max(1), Ordering::Relaxed);
        let fresh = || {
            Arc::new(Window {
                started: now,
                failures: AtomicU32::new(0),
            })
        };
        if let Some(address) = address {
            let window = self.by_address.get_with(address, fresh);
            window.failures.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(credential) = credential {
            let window = self.by_credential.get_with(credential, fresh);
            window.failures.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn since_epoch_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    fn refuse(&self, window: &Window, limit: u32, scope: Scope) -> Result<(), Throttled> {
        if window.failures.load(Ordering::Relaxed) < limit {
            return Ok(());
        }
        let left = self.window.saturating_sub(window.started.elapsed());
        if left.is_zero() {
            return Ok(()); // ended; the cache forgets it shortly
        }
        Err(Throttled {
            scope,
            retry_after_seconds: left.as_secs_f64().ceil().max(1.0) as u64,
        })
    }
}

fn windows<K>(capacity: u64, window: Duration) -> Cache<K, Arc<Window>>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
{
    Cache::builder()
        .max_capacity(capacity)
        .time_to_live(window)
        .build()
}

/// The client's address: the peer's, unless the peer is a trusted proxy, then the rightmost
/// address of `X-Forwarded-For` that is not itself a trusted proxy (addresses further left
/// were written by the client and prove nothing).
pub fn client_address(
    peer: Option<IpAddr>,
    forwarded_for: Option<&str>,
    trusted_proxies: &[IpAddr],
) -> Option<IpAddr> {
    let peer = peer?;
    if !trusted_proxies.contains(&peer) {
        return Some(peer);
    }
    let Some(forwarded) = forwarded_for else {
        return Some(peer);
    };
    for hop in forwarded.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) if trusted_proxies.contains(&ip) => continue,
            Ok(ip) => return Some(ip),
            Err(_) => return Some(peer), // unparseable: trust nothing further left
        }
    }
    Some(peer)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(per_address: u32, per_credential: u32, window_seconds: u64) -> SecuritySettings {
        SecuritySettings {
            auth_failures_per_address: per_address,
            auth_failures_per_credential: per_credential,
            auth_failure_window_seconds: window_seconds,
            ..SecuritySettings::default()
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn an_address_is_refused_after_its_limit_of_failures_whatever_the_credential() {
        let throttle = AuthThrottle::new(&settings(3, 100, 60));
        let guesser = Some(ip("203.0.113.7"));
        for n in 0..3 {
            let guess = Some(CredentialKey::of(&format!("guess-{n}")));
            assert_eq!(throttle.check(guesser, guess), Ok(()), "attempt {n}");
            throttle.failed(guesser, guess);
        }
        let valid = Some(CredentialKey::of("the-real-token"));
        let refused = throttle.check(guesser, valid).expect_err("refused");
        assert_eq!(refused.scope, Scope::Address);
        assert!(
            (59..=60).contains(&refused.retry_after_seconds),
            "{refused:?}"
        );
        // Another address with the same valid token is not affected.
        assert_eq!(throttle.check(Some(ip("198.51.100.1")), valid), Ok(()));
    }

    #[test]
    fn a_credential_is_refused_after_its_limit_from_any_address() {
        let throttle = AuthThrottle::new(&settings(100, 2, 60));
        let stolen = Some(CredentialKey::of("someones-email@example.com"));
        throttle.failed(Some(ip("203.0.113.1")), stolen);
        throttle.failed(Some(ip("203.0.113.2")), stolen);
        let refused = throttle
            .check(Some(ip("203.0.113.3")), stolen)
            .expect_err("refused");
        assert_eq!(refused.scope, Scope::Credential);
        assert_eq!(
            throttle.check(Some(ip("203.0.113.3")), Some(CredentialKey::of("other"))),
            Ok(())
        );
    }

    #[test]
    fn valid_attempts_count_nothing_and_a_window_ends() {
        let throttle = AuthThrottle::new(&settings(1, 1, 1));
        let me = Some(ip("192.0.2.1"));
        let token = Some(CredentialKey::of("t"));
        for _ in 0..100 {
            assert_eq!(throttle.check(me, token), Ok(()));
        }
        throttle.failed(me, token);
        assert!(throttle.check(me, token).is_err());
        std::thread::sleep(Duration::from_millis(1_100));
        assert_eq!(throttle.check(me, token), Ok(()), "the window ended");
    }

    #[test]
    fn nothing_to_count_by_is_never_refused() {
        let throttle = AuthThrottle::new(&settings(1, 1, 60));
        throttle.failed(None, None);
        assert_eq!(throttle.check(None, None), Ok(()));
    }

    #[test]
    fn the_client_address_is_the_peer_unless_a_trusted_proxy_forwards() {
        let proxy = ip("10.0.0.2");
        let trusted = [proxy, ip("10.0.0.3")];
        let peer = Some(ip("203.0.113.9"));
        // Anyone else's X-Forwarded-For is ignored.
        assert_eq!(client_address(peer, Some("1.2.3.4"), &trusted), peer);
        assert_eq!(client_address(peer, None, &[]), peer);
        // Through the proxies: the rightmost untrusted hop.
        assert_eq!(
            client_address(
                Some(proxy),
                Some("1.2.3.4, 198.51.100.5, 10.0.0.3"),
                &trusted
            ),
            Some(ip("198.51.100.5"))
        );
        assert_eq!(
            client_address(Some(proxy), Some(" 2001:db8::1 "), &trusted),
            Some(ip("2001:db8::1"))
        );
        // Nothing usable: the proxy itself.
        assert_eq!(client_address(Some(proxy), None, &trusted), Some(proxy));
        assert_eq!(
            client_address(Some(proxy), Some("garbage, 10.0.0.3"), &trusted),
            Some(proxy)
        );
        assert_eq!(client_address(None, Some("1.2.3.4"), &trusted), None);
    }
}
