//! Lookups: HTTP GETs into business systems whose JSON answers the rules read as
//! `lookups.<name>`.
//!
//! Each lookup's URL is a minijinja template over `contact` and `conversation` (the same
//! shapes the rules see), compiled at construction. Rendering is strict: a template naming
//! something that is not there (`contact.fields.nope`) fails, and the lookup is `null` without
//! an HTTP call. A `urlencode` filter percent-encodes a value for a query string or a path
//! segment (`none` encodes as the empty string).
//!
//! An answer is the response's JSON body. Anything else is `null` with a reason: a non-2xx
//! status, a body that is not JSON or is larger than `max_body_bytes`, a transport error, or
//! no complete answer within `timeout_ms` (connection, headers and body).
//!
//! Caching, per lookup, keyed by the rendered URL (at most `cache_capacity` URLs): a JSON
//! answer is reused for `cache_seconds`; a failure (status, body, transport, timeout) for
//! `failure_cache_seconds` (default 5), so a slow or failing system is asked at most once per
//! URL in that window instead of delaying every handoff by the full timeout. A template that
//! fails to render is not cached. Concurrent requests for the same URL share one HTTP call.
//!
//! Every fetch is counted in `switchboard_routing_lookups_total{lookup, outcome}`, outcome
//! being `ok`, `error`, `timeout` or `cached`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use moka::Expiry;
use moka::future::Cache;
use serde_json::Value;

use crate::routing::rules::{ContactVars, ConversationVars};
use crate::routing::{LookupSettings, RouteRequest, RoutingError};
use crate::templates::{describe, from_json, urlencode};

/// How a lookup answer was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LookupOutcome {
    /// Fetched now: a JSON answer.
    Ok,
    /// Fetched now (or the template failed): no answer.
    Error,
    /// Fetched now: no complete answer within the timeout.
    Timeout,
    /// Served from the cache (the answer, or the failure, of an earlier fetch).
    Cached,
}

impl LookupOutcome {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            LookupOutcome::Ok => "ok",
            LookupOutcome::Error => "error",
            LookupOutcome::Timeout => "timeout",
            LookupOutcome::Cached => "cached",
        }
    }
}

/// One lookup's answer for one request.
#[derive(Clone, Debug, PartialEq)]
pub struct LookupResult {
    /// The JSON answer; `null` on failure.
    pub value: Value,
    pub outcome: LookupOutcome,
    /// Why there is no answer (also set for a cached failure).
    pub error: Option<String>,
}

/// A fetch result as cached.
#[derive(Debug)]
struct Fetched {
    value: Value,
    error: Option<String>,
    timed_out: bool,
}

/// Entries live `ok` when they hold an answer, `failure` when they hold an error.
struct ByOutcome {
    ok: Duration,
    failure: Duration,
}

impl Expiry<String, Arc<Fetched>> for ByOutcome {
    fn expire_after_create(
        &self,
        _key: &String,
        value: &Arc<Fetched>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(if value.error.is_none() {
            self.ok
        } else {
            self.failure
        })
    }
}

struct Lookup {
    timeout: Duration,
    max_body_bytes: usize,
    /// `None` when both durations are zero: every request fetches.
    cache: Option<Cache<String, Arc<Fetched>>>,
}

/// The configured lookups, with their compiled URL templates and caches.
pub struct Lookups {
    http: reqwest::Client,
    templates: Environment<'static>,
    lookups: BTreeMap<String, Lookup>,
}

impl std::fmt::Debug for Lookups {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lookups")
            .field("names", &self.lookups.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Lookups {
    /// Compile every lookup's URL template; `http` makes the requests (its own timeouts
    /// still apply; each lookup adds its `timeout_ms`).
    pub fn new(
        settings: &BTreeMap<String, LookupSettings>,
        http: reqwest::Client,
    ) -> Result<Lookups, RoutingError> {
        let mut templates = Environment::new();
        templates.set_undefined_behavior(UndefinedBehavior::Strict);
        templates.set_auto_escape_callback(|_| AutoEscape::None);
        templates.add_filter("urlencode", |v: minijinja::Value| urlencode(&v));
        let mut lookups = BTreeMap::new();
        for (name, lookup) in settings {
            let invalid = |reason: String| RoutingError::InvalidLookup {
                lookup: name.clone(),
                reason,
            };
            templates
                .add_template_owned(name.clone(), lookup.url.clone())
                .map_err(|e| invalid(format!("URL template: {e}")))?;
            if lookup.timeout_ms == 0 {
                return Err(invalid("timeout_ms must be positive".into()));
            }
            if lookup.cache_capacity == 0 {
                return Err(invalid("cache_capacity must be positive".into()));
            }
            let max_body_bytes = usize::try_from(lookup.max_body_bytes)
                .map_err(|_| invalid("max_body_bytes too large".into()))?;
            let expiry = ByOutcome {
                ok: Duration::from_secs(lookup.cache_seconds),
                failure: Duration::from_secs(lookup.failure_cache_seconds),
            };
            let cache = (!expiry.ok.is_zero() || !expiry.failure.is_zero()).then(|| {
                Cache::builder()
                    .max_capacity(lookup.cache_capacity)
                    .expire_after(expiry)
                    .build()
            });
            lookups.insert(
                name.clone(),
                Lookup {
                    timeout: Duration::from_millis(lookup.timeout_ms),
                    max_body_bytes,
                    cache,
                },
            );
        }
        Ok(Lookups {
            http,
            templates,
            lookups,
        })
    }

    /// The configured lookup names.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.lookups.keys().map(String::as_str)
    }

    /// The URL lookup `name` would fetch for `req`.
    pub fn render_url(&self, name: &str, req: &RouteRequest) -> Result<String, String> {
        let template = self
            .templates
            .get_template(name)
            .map_err(|_| format!("no lookup named {name}"))?;
        let contact = serde_json::to_value(ContactVars::of(&req.contact, &req.behaviour))
            .map_err(|e| format!("contact: {e}"))?;
        let conversation = serde_json::to_value(ConversationVars::of(req))
            .map_err(|e| format!("conversation: {e}"))?;
        let context = minijinja::context! {
            contact => from_json(&contact),
            conversation => from_json(&conversation),
        };
        template
            .render(context)
            .map(|url| url.trim().to_string())
            .map_err(|e| format!("URL template: {}", describe(&e)))
    }

    /// Lookup `name` for `req`: from the cache, else over HTTP. Never fails: a failure is a
    /// `null` value with a reason.
    pub async fn fetch(&self, name: &str, req: &RouteRequest) -> LookupResult {
        let result = self.fetch_uncounted(name, req).await;
        if self.lookups.contains_key(name) {
            metrics::counter!(crate::metrics::ROUTING_LOOKUPS, "lookup" => name.to_string(), "outcome" => result.outcome.as_str())
                .increment(1);
        }
        result
    }

    async fn fetch_uncounted(&self, name: &str, req: &RouteRequest) -> LookupResult {
        let failed = |error: String| LookupResult {
            value: Value::Null,
            outcome: LookupOutcome::Error,
            error: Some(error),
        };
        let Some(lookup) = self.lookups.get(name) else {
            return failed(format!("no lookup named {name}"));
        };
        let url = match self.render_url(name, req) {
            Ok(url) => url,
            Err(e) => return failed(e),
        };
        let url = match reqwest::Url::parse(&url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => url,
            Ok(url) => return failed(format!("unsupported URL scheme {}", url.scheme())),
            Err(e) => return failed(format!("invalid URL: {e}")),
        };
        let (fetched, fresh) = match &lookup.cache {
            Some(cache) => {
                let entry = cache
                    .entry(url.as_str().to_string())
                    .or_insert_with(async { Arc::new(self.get(lookup, url.clone()).await) })
                    .await;
                let fresh = entry.is_fresh();
                (entry.into_value(), fresh)
            }
            None => (Arc::new(self.get(lookup, url).await), true),
        };
        let outcome = match (fresh, &fetched.error) {
            (false, _) => LookupOutcome::Cached,
            (true, None) => LookupOutcome::Ok,
            (true, Some(_)) if fetched.timed_out => LookupOutcome::Timeout,
            (true, Some(_)) => LookupOutcome::Error,
        };
        if let Some(error) = &fetched.error {
            tracing::debug!(lookup = name, cached = !fresh, %error, "routing lookup failed");
        }
        LookupResult {
            value: fetched.value.clone(),
            outcome,
            error: fetched.error.clone(),
        }
    }

    /// One GET, bounded by the lookup's timeout and body limit.
    async fn get(&self, lookup: &Lookup, url: reqwest::Url) -> Fetched {
        let request = async {
            let mut response = self
                .http
                .get(url)
                .header(reqwest::header::ACCEPT, "application/json")
                .send()
                .await
                .map_err(|e| format!("request failed: {}", e.without_url()))?;
            let status = response.status();
            if !status.is_success() {
                return Err(format!("HTTP {}", status.as_u16()));
            }
            let too_large = || format!("body larger than {} bytes", lookup.max_body_bytes);
            if response
                .content_length()
                .is_some_and(|n| n > lookup.max_body_bytes as u64)
            {
                return Err(too_large());
            }
            let mut body = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| format!("reading body: {}", e.without_url()))?
            {
                if body.len() + chunk.len() > lookup.max_body_bytes {
                    return Err(too_large());
                }
                body.extend_from_slice(&chunk);
            }
            serde_json::from_slice::<Value>(&body).map_err(|e| format!("not JSON: {e}"))
        };
        match tokio::time::timeout(lookup.timeout, request).await {
            Ok(Ok(value)) => Fetched {
                value,
                error: None,
                timed_out: false,
            },
            Ok(Err(error)) => Fetched {
                value: Value::Null,
                error: Some(error),
                timed_out: false,
            },
            Err(_) => Fetched {
                value: Value::Null,
                error: Some(format!("timed out after {} ms", lookup.timeout.as_millis())),
                timed_out: true,
            },
        }
    }
}
