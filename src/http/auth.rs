//! Console authentication: `Authorization: Bearer <token>`, a login session or a personal API
//! token ([`crate::accounts::service::Accounts::authenticate`]). Only the websocket handshake may
//! carry the token as `?access_token=` instead (browsers cannot give a websocket headers); a
//! REST request with a token in its query string is refused, since URLs end up in logs and
//! histories. Tokens are kept only as SHA-256 digests.
//!
//! Failed authentications are counted per client address and per token
//! ([`crate::accounts::throttle`]); past the limits the answer is 429 with Retry-After.
//!
//! A business system's API key (`sbk_…`, [`crate::integrations::api_keys`]) uses the same
//! header. Only the routes that take an [`Actor`] accept one; every route that takes a
//! [`Caller`] (the console's: the websocket, presence, replies, the administration) is for
//! people, and answers a valid key 403. An unknown or revoked key is 401 and counts as a failed
//! authentication like any other token; a known key past its rate is 429 with Retry-After.

use std::net::IpAddr;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures::future::LocalBoxFuture;

use super::{ApiError, AppState};
use crate::accounts::model::{ActorKind, AuditEntry};
use crate::accounts::policy::{KeyPrincipal, Who};
use crate::accounts::service::{RequestMeta, audit_entry};
use crate::accounts::throttle::{CredentialKey, client_address};
use crate::integrations::api_keys::KEY_PREFIX;
use crate::metrics as m;

/// The authenticated user of a console REST request (bearer header only): see
/// [`Caller`]. The websocket handshake uses [`SocketCaller`].
pub use crate::accounts::service::Caller;

/// The authenticated user of a websocket handshake: bearer header, or `?access_token=`.
#[derive(Clone, Debug)]
pub struct SocketCaller(pub Caller);

fn bearer(req: &HttpRequest) -> Option<Result<String, ApiError>> {
    let value = req.headers().get(actix_web::http::header::AUTHORIZATION)?;
    let parsed = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim().to_string())
        .filter(|t| !t.is_empty());
    Some(parsed.ok_or_else(|| {
        ApiError::Unauthorized("the Authorization header must be `Bearer <token>`".into())
    }))
}

fn query_token(req: &HttpRequest) -> Option<String> {
    web::Query::<std::collections::HashMap<String, String>>::from_query(req.query_string())
        .ok()
        .and_then(|q| q.get("access_token").cloned())
}

/// The client's address, for the failed-authentication limits.
pub fn client_ip(req: &HttpRequest, state: &AppState) -> Option<IpAddr> {
    let forwarded = req
        .headers()
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok());
    client_address(
        req.peer_addr().map(|a| a.ip()),
        forwarded,
        &state.settings.server.trusted_proxies,
    )
}

/// Check `secret` with `verify` unless the address or the credential is throttled; count a
/// failure. `kind` labels the failure metric.
pub fn guarded<T>(
    req: &HttpRequest,
    state: &AppState,
    kind: &'static str,
    secret: &str,
    verify: impl FnOnce(&str) -> Option<T>,
) -> Result<T, ApiError> {
    let address = client_ip(req, state);
    let credential = Some(CredentialKey::of(secret));
    if let Err(throttled) = state.auth_throttle.check(address, credential) {
        metrics::counter!(m::AUTH_THROTTLED, "scope" => throttled.scope.as_str()).increment(1);
        return Err(ApiError::TooManyRequests {
            retry_after_seconds: throttled.retry_after_seconds,
        });
    }
    match verify(secret) {
        Some(found) => Ok(found),
        None => {
            metrics::counter!(m::AUTH_FAILURES, "kind" => kind).increment(1);
            state.auth_throttle.failed(address, credential);
            Err(ApiError::Unauthorized("unknown token".into()))
        }
    }
}

async fn authenticate(req: HttpRequest, allow_query: bool) -> Result<Caller, ApiError> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Err(ApiError::Internal("no app state".into()));
    };
    let token = match bearer(&req) {
        Some(token) => token?,
        None => match query_token(&req) {
            Some(_) if !allow_query => {
                return Err(ApiError::Unauthorized(
                    "a token in the query string is accepted only on the websocket handshake; \
                     use the Authorization header"
                        .into(),
                ));
            }
            Some(token) if !token.is_empty() => token,
            _ => {
                return Err(ApiError::Unauthorized("a bearer token is required".into()));
            }
        },
    };
    if token.starts_with(KEY_PREFIX) {
        // Known or not, a key gets no person's route; an unknown one counts as a failure.
        authenticate_key(&req, &state, &token).await?;
        return Err(ApiError::Forbidden(
            "an API key may not use this route: it is for people (the console)".into(),
        ));
    }
    let address = client_ip(&req, &state);
    let credential = Some(CredentialKey::of(&token));
    if let Err(throttled) = state.auth_throttle.check(address, credential) {
        metrics::counter!(m::AUTH_THROTTLED, "scope" => throttled.scope.as_str()).increment(1);
        return Err(ApiError::TooManyRequests {
            retry_after_seconds: throttled.retry_after_seconds,
        });
    }
    match state.accounts.authenticate(&token).await? {
        Some(caller) => Ok(caller),
        None => {
            metrics::counter!(m::AUTH_FAILURES, "kind" => "console_token").increment(1);
            state.auth_throttle.failed(address, credential);
            Err(ApiError::Unauthorized("unknown or expired token".into()))
        }
    }
}

/// Where the request came from, for the audit log.
pub fn request_meta(req: &HttpRequest, state: &AppState) -> RequestMeta {
    RequestMeta {
        address: client_ip(req, state),
        user_agent: req
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.chars().take(512).collect()),
    }
}

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(authenticate(req.clone(), false))
    }
}

impl FromRequest for SocketCaller {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(req, true).await.map(SocketCaller) })
    }
}

/// The active key whose token this is, through the failed-authentication throttle: 401 for an
/// unknown or revoked key (counted as a failure).
async fn authenticate_key(
    req: &HttpRequest,
    state: &AppState,
    token: &str,
) -> Result<KeyPrincipal, ApiError> {
    let address = client_ip(req, state);
    let credential = Some(CredentialKey::of(token));
    if let Err(throttled) = state.auth_throttle.check(address, credential) {
        metrics::counter!(m::AUTH_THROTTLED, "scope" => throttled.scope.as_str()).increment(1);
        return Err(ApiError::TooManyRequests {
            retry_after_seconds: throttled.retry_after_seconds,
        });
    }
    match state.api_keys.authenticate(token).await? {
        Some(key) => Ok(key),
        None => {
            metrics::counter!(m::AUTH_FAILURES, "kind" => "api_key").increment(1);
            state.auth_throttle.failed(address, credential);
            Err(ApiError::Unauthorized("unknown or revoked API key".into()))
        }
    }
}

/// Who calls a route open to people and to business systems' API keys: a person (decided by
/// role) or a key (decided by scope), both through
/// [`crate::accounts::policy::decide_business`].
#[derive(Clone, Debug)]
pub enum Actor {
    Person(Caller),
    Key(KeyPrincipal),
}

impl Actor {
    /// As the policy function takes it.
    pub fn who(&self) -> Who<'_> {
        match self {
            Actor::Person(caller) => Who::Person(&caller.principal),
            Actor::Key(key) => Who::Key(key),
        }
    }

    pub fn person(&self) -> Option<&Caller> {
        match self {
            Actor::Person(caller) => Some(caller),
            Actor::Key(_) => None,
        }
    }

    /// An audit entry of something this actor did: a key is its own actor (`api_key`, the
    /// key's id as `actor` and `token`).
    pub fn entry(
        &self,
        state: &AppState,
        action: &str,
        target: Option<(&str, &str)>,
        before: Option<serde_json::Value>,
        after: Option<serde_json::Value>,
        meta: &RequestMeta,
    ) -> AuditEntry {
        match self {
            Actor::Person(caller) => state
                .accounts
                .entry(caller, action, target, before, after, meta),
            Actor::Key(key) => audit_entry(
                ActorKind::ApiKey,
                Some(&key.id),
                Some(&key.id),
                action,
                target,
                before,
                after,
                meta,
            ),
        }
    }

    /// A key's read, sampled: the first of each minute (per node) is audited as
    /// `api_key.read` with the route read. A person's reads are not audited.
    pub async fn audit_read(&self, req: &HttpRequest, state: &AppState) {
        let Actor::Key(key) = self else {
            return;
        };
        if !state.api_keys.sample_read(&key.id) {
            return;
        }
        let route = req.match_pattern().unwrap_or_else(|| req.path().to_owned());
        let entry = self.entry(
            state,
            "api_key.read",
            Some(("route", &route)),
            None,
            Some(serde_json::json!({ "method": req.method().as_str(), "key": key.name })),
            &request_meta(req, state),
        );
        state.accounts.audit(&entry).await;
    }
}

async fn authenticate_actor(req: HttpRequest) -> Result<Actor, ApiError> {
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Err(ApiError::Internal("no app state".into()));
    };
    let is_key = matches!(bearer(&req), Some(Ok(token)) if token.starts_with(KEY_PREFIX));
    if !is_key {
        return authenticate(req, false).await.map(Actor::Person);
    }
    let Some(Ok(token)) = bearer(&req) else {
        return Err(ApiError::Unauthorized("a bearer token is required".into()));
    };
    let key = authenticate_key(&req, &state, &token).await?;
    if let Err(retry_after_seconds) = state.api_keys.admit(&key.id) {
        metrics::counter!(m::API_KEY_RATE_LIMITED).increment(1);
        return Err(ApiError::RateLimited {
            retry_after_seconds,
        });
    }
    Ok(Actor::Key(key))
}

impl FromRequest for Actor {
    type Error = ApiError;
    type Future = LocalBoxFuture<'static, Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        Box::pin(authenticate_actor(req.clone()))
    }
}
