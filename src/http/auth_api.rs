//! `/api/v1/auth/*` and the caller's own credentials (`/api/v1/me/tokens`): login, logout,
//! sessions, password change, a one-time reset, personal API tokens. See docs/CONSOLE_API.md.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Caller, request_meta};
use super::console::user_view;
use super::{ApiError, AppState};
use crate::accounts::model::{ApiToken, Session};
use crate::accounts::secrets;
use crate::accounts::service::{LoginError, Via};

pub fn routes(api: &mut super::openapi::Api) {
    api.op(__path_login, login)
        .op(__path_logout, logout)
        .op(__path_sessions, sessions)
        .op(__path_end_all_sessions, end_all_sessions)
        .op(__path_end_session, end_session)
        .op(__path_change_password, change_password)
        .op(__path_reset_password, reset_password)
        .op(__path_my_tokens, my_tokens)
        .op(__path_create_token, create_token)
        .op(__path_revoke_token, revoke_token);
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    email: String,
    password: String,
}

#[utoipa::path(
    post,
    path = "/auth/login",
    tag = "auth",
    request_body = LoginBody,
    responses(
        (status = 200, description = "OK.", body = super::schemas::AuthApiLoginResponse),
    )
)]
async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if body.email.len() > 320 || body.password.len() > secrets::MAX_PASSWORD_BYTES {
        return Err(ApiError::Unauthorized("wrong email or password".into()));
    }
    let meta = request_meta(&req, &state);
    match state
        .accounts
        .login(&body.email, &body.password, &meta)
        .await
    {
        Ok(done) => Ok(HttpResponse::Ok().json(json!({
            "token": done.token,
            "user": user_view(&done.user),
            "expires_at": done.session.expires_at,
        }))),
        Err(LoginError::Unauthorized) => {
            Err(ApiError::Unauthorized("wrong email or password".into()))
        }
        Err(LoginError::Throttled(t)) => {
            metrics::counter!(crate::metrics::AUTH_THROTTLED, "scope" => t.scope.as_str())
                .increment(1);
            Err(ApiError::TooManyRequests {
                retry_after_seconds: t.retry_after_seconds,
            })
        }
        Err(LoginError::Locked {
            retry_after_seconds,
        }) => Err(ApiError::TooManyRequests {
            retry_after_seconds,
        }),
        Err(LoginError::Store(e)) => Err(e.into()),
    }
}

#[utoipa::path(
    post,
    path = "/auth/logout",
    tag = "auth",
    security(("console" = [])),
    responses(
        (status = 204, description = "Done; no body."),
    )
)]
async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    if !matches!(caller.via, Via::Session(_)) {
        return Err(ApiError::BadRequest(
            "an API token has no session to log out of; revoke the token instead".into(),
        ));
    }
    let meta = request_meta(&req, &state);
    state.accounts.logout(&caller, &meta).await?;
    Ok(HttpResponse::NoContent().finish())
}

fn session_view(session: &Session, caller: &Caller) -> Value {
    json!({
        "id": session.id,
        "created_at": session.created_at,
        "expires_at": session.expires_at,
        "last_seen_at": session.last_seen_at,
        "address": session.address,
        "user_agent": session.user_agent,
        "current": caller.via == Via::Session(session.id.clone()),
    })
}

#[utoipa::path(
    get,
    path = "/auth/sessions",
    tag = "auth",
    security(("console" = [])),
    responses(
        (status = 200, description = "OK.", body = super::schemas::AuthApiSessionsResponse),
    )
)]
async fn sessions(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let sessions = state.store.sessions_of(caller.user()).await?;
    let views: Vec<Value> = sessions.iter().map(|s| session_view(s, &caller)).collect();
    Ok(HttpResponse::Ok().json(json!({ "sessions": views })))
}

/// "Log out all my sessions" (this one included).
#[utoipa::path(
    delete,
    path = "/auth/sessions",
    tag = "auth",
    security(("console" = [])),
    responses(
        (status = 200, description = "OK.", body = super::schemas::AuthApiEndAllSessionsResponse),
    )
)]
async fn end_all_sessions(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let meta = request_meta(&req, &state);
    let ended = state
        .accounts
        .end_sessions(Some(&caller), caller.user(), "logout.all", &meta)
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "ended": ended })))
}

#[utoipa::path(
    delete,
    path = "/auth/sessions/{id}",
    tag = "auth",
    security(("console" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "Done; no body."),
    )
)]
async fn end_session(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let mine = state
        .store
        .sessions_of(caller.user())
        .await?
        .into_iter()
        .any(|s| s.id == *id);
    if !mine {
        return Err(ApiError::NotFound("no such session".into()));
    }
    state.store.delete_session(&id).await?;
    state.accounts.forget_credentials();
    let meta = request_meta(&req, &state);
    let entry = state.accounts.entry(
        &caller,
        "logout",
        Some(("session", id.as_str())),
        None,
        None,
        &meta,
    );
    state.accounts.audit(&entry).await;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordBody {
    current_password: String,
    new_password: String,
}

/// Change one's own password (the current one is required); every other session ends.
#[utoipa::path(
    post,
    path = "/auth/password",
    tag = "auth",
    security(("console" = [])),
    request_body = PasswordBody,
    responses(
        (status = 204, description = "Done; no body."),
    )
)]
async fn change_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<PasswordBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    secrets::check_new_password(&body.new_password).map_err(ApiError::BadRequest)?;
    let user = state
        .store
        .user(caller.user())
        .await?
        .ok_or_else(|| ApiError::Unauthorized("unknown user".into()))?;
    let (current, hash, new) = (
        body.current_password,
        user.password_hash.clone(),
        body.new_password,
    );
    let (ok, new_hash) = web::block(move || {
        let ok = secrets::verify_password(&current, hash.as_deref());
        (ok, ok.then(|| secrets::hash_password(&new)))
    })
    .await
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    if !ok {
        return Err(ApiError::Forbidden("the current password is wrong".into()));
    }
    let new_hash = new_hash
        .transpose()
        .map_err(ApiError::Internal)?
        .ok_or_else(|| ApiError::Internal("no hash".into()))?;
    let mut changed = user.clone();
    changed.password_hash = Some(new_hash);
    changed.updated_at = chrono::Utc::now().timestamp_millis();
    let meta = request_meta(&req, &state);
    let entry = state.accounts.entry(
        &caller,
        "password.change",
        Some(("user", user.id.as_str())),
        None,
        None,
        &meta,
    );
    state
        .store
        .save_user(&changed, false, None, Some(&entry))
        .await
        .map_err(super::admin::account_error)?;
    // Other sessions end; this one stays.
    for session in state.store.sessions_of(&user.id).await? {
        if caller.via != Via::Session(session.id.clone()) {
            state.store.delete_session(&session.id).await?;
        }
    }
    state.accounts.forget_credentials();
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ResetBody {
    token: String,
    password: String,
}

/// Set a password with a one-time invite/reset token an admin handed over. The token is
/// throttled like any credential; every session of the user ends.
#[utoipa::path(
    post,
    path = "/auth/reset",
    tag = "auth",
    request_body = ResetBody,
    responses(
        (status = 204, description = "Done; no body."),
    )
)]
async fn reset_password(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<ResetBody>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    secrets::check_new_password(&body.password).map_err(ApiError::BadRequest)?;
    let meta = request_meta(&req, &state);
    let key = Some(crate::accounts::throttle::CredentialKey::of(&body.token));
    if let Err(t) = state.auth_throttle.check(meta.address, key) {
        return Err(ApiError::TooManyRequests {
            retry_after_seconds: t.retry_after_seconds,
        });
    }
    let now = chrono::Utc::now().timestamp_millis();
    let Some(user_id) = state
        .store
        .take_reset_token(&secrets::digest(&body.token), now)
        .await?
    else {
        state.auth_throttle.failed(meta.address, key);
        return Err(ApiError::Unauthorized(
            "the reset token is unknown, used or expired".into(),
        ));
    };
    let user = state
        .store
        .user(&user_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such user".into()))?;
    let password = body.password;
    let hash = web::block(move || secrets::hash_password(&password))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(ApiError::Internal)?;
    let mut changed = user.clone();
    changed.password_hash = Some(hash);
    changed.failed_logins = 0;
    changed.locked_until = None;
    changed.updated_at = now;
    let entry = crate::accounts::service::audit_entry(
        crate::accounts::model::ActorKind::User,
        Some(user.id.as_str()),
        None,
        "password.reset",
        Some(("user", user.id.as_str())),
        None,
        None,
        &meta,
    );
    state
        .store
        .save_user(&changed, false, None, Some(&entry))
        .await
        .map_err(super::admin::account_error)?;
    state.store.delete_sessions_of(&user.id).await?;
    state.accounts.forget_credentials();
    Ok(HttpResponse::NoContent().finish())
}

pub fn token_view(token: &ApiToken) -> Value {
    json!({
        "id": token.id,
        "user": token.user,
        "name": token.name,
        "created_at": token.created_at,
        "last_used_at": token.last_used_at,
        "revoked_at": token.revoked_at,
    })
}

#[utoipa::path(
    get,
    path = "/me/tokens",
    tag = "auth",
    security(("console" = [])),
    responses(
        (status = 200, description = "OK.", body = super::schemas::AuthApiMyTokensResponse),
    )
)]
async fn my_tokens(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let tokens = state.store.api_tokens(Some(caller.user())).await?;
    let views: Vec<Value> = tokens.iter().map(token_view).collect();
    Ok(HttpResponse::Ok().json(json!({ "tokens": views })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
}

/// A new personal API token: the answer holds it once; it is never shown again.
#[utoipa::path(
    post,
    path = "/me/tokens",
    tag = "auth",
    security(("console" = [])),
    request_body = NewToken,
    responses(
        (status = 201, description = "Created.", body = super::schemas::AuthApiCreateTokenResponse),
    )
)]
async fn create_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<NewToken>,
) -> Result<HttpResponse, ApiError> {
    let name = body.into_inner().name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::BadRequest(
            "`name` must hold 1 to 100 characters".into(),
        ));
    }
    let meta = request_meta(&req, &state);
    let (token, record) = state
        .accounts
        .create_api_token(&caller, caller.user(), &name, &meta)
        .await
        .map_err(super::admin::account_error)?;
    let mut view = token_view(&record);
    view["token"] = json!(token);
    Ok(HttpResponse::Created().json(json!({ "token": view })))
}

#[utoipa::path(
    delete,
    path = "/me/tokens/{id}",
    tag = "auth",
    security(("console" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "Done; no body."),
    )
)]
async fn revoke_token(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let token = state
        .store
        .api_tokens(Some(caller.user()))
        .await?
        .into_iter()
        .find(|t| t.id == *id)
        .ok_or_else(|| ApiError::NotFound("no such token".into()))?;
    let meta = request_meta(&req, &state);
    state
        .accounts
        .revoke_api_token(&caller, &token, &meta)
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
