//! What an attempt's result means (pure): delivered, tried again and when, given up, or the
//! endpoint disabled.

use std::time::Duration;

/// How one attempt ended, as far as the decision needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    /// The endpoint answered with this status; `retry_after`: its `Retry-After`, in seconds.
    Answered {
        status: u16,
        retry_after: Option<Duration>,
    },
    /// No answer: a timeout, a refused connection, a TLS failure.
    NoAnswer,
}

/// What to do with the delivery (and its endpoint) after an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Delivered,
    /// Try again after this long.
    Retry(Duration),
    /// Give up on this delivery (a permanent refusal, or every attempt of the schedule spent).
    Fail,
    /// 410 Gone: the endpoint asks never to be called again; it is disabled at once.
    DisableEndpoint,
}

/// Whether an attempt counts as a failure of the endpoint (for disabling it after failing long).
pub fn is_failure(decision: Decision) -> bool {
    !matches!(decision, Decision::Delivered)
}

/// The decision after attempt number `attempts` (1 for the first) ended as `attempt`.
/// 2xx delivers; 410 disables the endpoint; timeouts, 5xx, 429 and 408 are tried again after
/// `schedule[attempts - 1]`, or the endpoint's `Retry-After` when longer (at most the
/// schedule's longest step, so an endpoint cannot park a delivery forever), until the
/// schedule is spent; anything else (a 4xx, a redirect: nothing is followed) is tried again
/// the same way, since a misconfigured receiver is usually fixed within the schedule.
pub fn decide(attempt: Attempt, attempts: u32, schedule: &[Duration]) -> Decision {
    let retry_after = match attempt {
        Attempt::Answered { status, .. } if (200..300).contains(&status) => {
            return Decision::Delivered;
        }
        Attempt::Answered { status: 410, .. } => return Decision::DisableEndpoint,
        Attempt::Answered { retry_after, .. } => retry_after,
        Attempt::NoAnswer => None,
    };
    let Some(step) = usize::try_from(attempts)
        .ok()
        .and_then(|n| n.checked_sub(1))
        .and_then(|i| schedule.get(i))
    else {
        return Decision::Fail;
    };
    let longest = schedule.iter().max().copied().unwrap_or_default();
    let wait = match retry_after {
        Some(asked) => (*step).max(asked.min(longest)),
        None => *step,
    };
    Decision::Retry(wait)
}

/// `Retry-After` as seconds (the HTTP-date form is not honoured: taken as absent).
pub fn retry_after(value: Option<&str>) -> Option<Duration> {
    value?.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// Whether an endpoint failing since `failing_since` (unix ms) has failed long enough at `now`
/// to be disabled.
pub fn failed_too_long(failing_since: Option<i64>, now: i64, limit: Duration) -> bool {
    let limit = i64::try_from(limit.as_millis()).unwrap_or(i64::MAX);
    failing_since.is_some_and(|since| now.saturating_sub(since) >= limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn schedule() -> Vec<Duration> {
        [5, 300, 1800, 7200, 18000, 36000, 36000]
            .into_iter()
            .map(secs)
            .collect()
    }

    fn answered(status: u16) -> Attempt {
        Attempt::Answered {
            status,
            retry_after: None,
        }
    }

    #[test]
    fn success_delivers_on_any_attempt() {
        for status in [200, 201, 202, 204, 299] {
            for attempts in 1..=9 {
                assert_eq!(
                    decide(answered(status), attempts, &schedule()),
                    Decision::Delivered
                );
            }
        }
    }

    #[test]
    fn gone_disables_the_endpoint_at_once() {
        for attempts in 1..=9 {
            assert_eq!(
                decide(answered(410), attempts, &schedule()),
                Decision::DisableEndpoint
            );
        }
    }

    #[test]
    fn failures_follow_the_schedule_then_give_up() {
        let schedule = schedule();
        for attempt in [
            Attempt::NoAnswer,
            answered(500),
            answered(503),
            answered(429),
            answered(408),
            answered(404),
            answered(301),
        ] {
            for (i, step) in schedule.iter().enumerate() {
                let attempts = u32::try_from(i + 1).unwrap();
                assert_eq!(
                    decide(attempt, attempts, &schedule),
                    Decision::Retry(*step),
                    "{attempt:?} #{attempts}"
                );
            }
            assert_eq!(decide(attempt, 8, &schedule), Decision::Fail);
            assert_eq!(decide(attempt, 0, &schedule), Decision::Fail);
            assert_eq!(decide(attempt, 1, &[]), Decision::Fail);
        }
    }

    #[test]
    fn retry_after_is_honoured_when_longer_within_the_longest_step() {
        let schedule = schedule();
        let asked = |s| Attempt::Answered {
            status: 429,
            retry_after: Some(secs(s)),
        };
        assert_eq!(decide(asked(60), 1, &schedule), Decision::Retry(secs(60)));
        assert_eq!(decide(asked(1), 1, &schedule), Decision::Retry(secs(5)));
        assert_eq!(
            decide(asked(1_000_000), 1, &schedule),
            Decision::Retry(secs(36000))
        );
        assert_eq!(decide(asked(60), 8, &schedule), Decision::Fail);
    }

    #[test]
    fn retry_after_is_read_as_seconds() {
        assert_eq!(retry_after(Some("120")), Some(secs(120)));
        assert_eq!(retry_after(Some(" 0 ")), Some(secs(0)));
        assert_eq!(retry_after(Some("Wed, 21 Oct 2015 07:28:00 GMT")), None);
        assert_eq!(retry_after(Some("-1")), None);
        assert_eq!(retry_after(None), None);
    }

    #[test]
    fn an_endpoint_is_disabled_once_it_failed_for_the_limit() {
        let limit = secs(5 * 24 * 3600);
        let day = 24 * 3600 * 1000;
        assert!(!failed_too_long(None, 10 * day, limit));
        assert!(!failed_too_long(Some(0), 5 * day - 1, limit));
        assert!(failed_too_long(Some(0), 5 * day, limit));
        assert!(failed_too_long(Some(day), 7 * day, limit));
        assert!(!failed_too_long(Some(day), 0, limit));
        assert!(is_failure(Decision::Fail) && is_failure(Decision::Retry(secs(1))));
        assert!(is_failure(Decision::DisableEndpoint) && !is_failure(Decision::Delivered));
    }
}
