//! Console authentication: `Authorization: Bearer <token>`, a login session or a personal API
//! token ([`crate::accounts::service::Accounts::authenticate`]). Only the websocket handshake may
//! carry the token as `?access_token=` instead (browsers cannot give a websocket headers); a
//! REST request with a token in its query string is refused, since URLs end up in logs and
//! histories. Tokens are kept only as SHA-256 digests.
//!
//! Failed authentications are counted per client address and per token
//! ([`crate::accounts::throttle`]); past the limits the answer is 429 with Retry-After.

use std::net::IpAddr;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use futures::future::LocalBoxFuture;

use super::{ApiError, AppState};
use crate::accounts::service::RequestMeta;
use crate::accounts::throttle::{CredentialKey, client_address};
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
