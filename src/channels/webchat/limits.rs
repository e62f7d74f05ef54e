//! The widget API's rate limits (GCRA, `governor`): requests per client address, sessions
//! created per address, messages (and files, offline forms) per visitor. Past one, the answer is
//! 429 with the seconds to wait. Each node counts for itself, like the failed-authentication
//! limits; a load balancer spreading one client over N nodes lets it N times as much.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicUsize, Ordering};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::WebchatSettings;

/// Every this many checks, keys whose limits no longer hold anything are forgotten.
const TIDY_EVERY: usize = 10_000;

pub struct Limits {
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    sessions: DefaultKeyedRateLimiter<IpAddr>,
    per_visitor: DefaultKeyedRateLimiter<String>,
    checks: AtomicUsize,
}

fn nonzero(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN)
}

impl Limits {
    pub fn new(settings: &WebchatSettings) -> Self {
        Self {
            per_address: RateLimiter::keyed(
                Quota::per_minute(nonzero(settings.requests_per_minute_per_address))
                    .allow_burst(nonzero(settings.request_burst_per_address)),
            ),
            sessions: RateLimiter::keyed(
                Quota::per_hour(nonzero(settings.sessions_per_hour_per_address))
                    .allow_burst(nonzero(settings.sessions_per_hour_per_address)),
            ),
            per_visitor: RateLimiter::keyed(
                Quota::per_minute(nonzero(settings.messages_per_minute_per_visitor))
                    .allow_burst(nonzero(settings.message_burst_per_visitor)),
            ),
            checks: AtomicUsize::new(0),
        }
    }

    /// One request from `address`: Err(seconds to wait) past the limit.
    pub fn request(&self, address: Option<IpAddr>) -> Result<(), u64> {
        self.tidy();
        match address {
            Some(address) => verdict(self.per_address.check_key(&address)),
            None => Ok(()),
        }
    }

    /// A new visitor session from `address`.
    pub fn session(&self, address: Option<IpAddr>) -> Result<(), u64> {
        match address {
            Some(address) => verdict(self.sessions.check_key(&address)),
            None => Ok(()),
        }
    }

    /// One message (file, offline form) of `visitor`.
    pub fn message(&self, visitor: &str) -> Result<(), u64> {
        verdict(self.per_visitor.check_key(&visitor.to_string()))
    }

    fn tidy(&self) {
        if self.checks.fetch_add(1, Ordering::Relaxed) % TIDY_EVERY == TIDY_EVERY - 1 {
            self.per_address.retain_recent();
            self.sessions.retain_recent();
            self.per_visitor.retain_recent();
        }
    }
}

fn verdict(
    result: Result<(), governor::NotUntil<governor::clock::QuantaInstant>>,
) -> Result<(), u64> {
    result.map_err(|not_until| {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_burst_a_visitor_waits_and_others_do_not() {
        let settings = WebchatSettings {
            messages_per_minute_per_visitor: 6,
            message_burst_per_visitor: 2,
            ..WebchatSettings::default()
        };
        let limits = Limits::new(&settings);
        assert_eq!(limits.message("ana"), Ok(()));
        assert_eq!(limits.message("ana"), Ok(()));
        let wait = limits.message("ana").expect_err("over the burst");
        assert!((1..=10).contains(&wait), "{wait}");
        assert_eq!(limits.message("bob"), Ok(()));
        let address: IpAddr = [192, 0, 2, 1].into();
        assert_eq!(limits.request(Some(address)), Ok(()));
        assert_eq!(limits.request(None), Ok(()));
    }
}
