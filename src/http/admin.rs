//! `/api/v1/admin/*`: users, teams and memberships, API tokens, forced logout, reset links,
//! the audit log (admins only; see docs/CONSOLE_API.md). Every change is written with its
//! audit entry in one transaction and takes effect at once on every node
//! ([`crate::accounts::service::Accounts::refresh`]).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Caller, request_meta};
use super::auth_api::token_view;
use super::{ApiError, AppState};
use crate::accounts::directory::Snapshot;
use crate::accounts::model::{
    AuditFilter, MemberRole, Membership, ResetToken, Role, Team, TeamSlaPolicy, User,
};
use crate::accounts::policy::{self, AdminAction};
use crate::accounts::secrets;
use crate::assign::Strategy;
use crate::domain::{AgentId, TeamId};
use crate::reports::sla_team;
use crate::store::accounts::AccountError;

pub fn routes(api: &mut super::openapi::Api) {
    api.op(__path_list_users, list_users)
        .op(__path_create_user, create_user)
        .op(__path_get_user, get_user)
        .op(__path_update_user, update_user)
        .op(__path_deactivate_user, deactivate_user)
        .op(__path_force_logout, force_logout)
        .op(__path_reset_link, reset_link)
        .op(__path_list_teams, list_teams)
        .op(__path_create_team, create_team)
        .op(__path_update_team, update_team)
        .op(__path_delete_team, delete_team)
        .op(__path_list_tokens, list_tokens)
        .op(__path_revoke_token, revoke_token)
        .op(__path_audit, audit)
        .op(__path_reload, reload);
}

/// The store's refusal as the API's answer.
pub fn account_error(e: AccountError) -> ApiError {
    match e {
        AccountError::NotFound(m) => ApiError::NotFound(m),
        AccountError::Conflict(m) => ApiError::Conflict(m),
        AccountError::Store(e) => e.into(),
    }
}

fn admin(caller: &Caller, action: AdminAction) -> Result<(), ApiError> {
    if policy::decide_admin(&caller.principal, action).allowed() {
        Ok(())
    } else {
        Err(ApiError::Forbidden("only an admin may do this".into()))
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A user as admins see them (never the password hash).
fn admin_user_view(user: &User, people: &Snapshot) -> Value {
    json!({
        "id": user.id,
        "name": user.name,
        "email": user.email,
        "role": user.role,
        "language": user.language,
        "time_zone": user.time_zone,
        "active": user.active,
        "capacity": user.capacity,
        "teams": people.teams_of(&user.id),
        "supervises": people.supervised_by(&user.id),
        "locked_until": user.locked_until,
        "has_password": user.password_hash.is_some(),
        "created_at": user.created_at,
        "updated_at": user.updated_at,
    })
}

fn team_view(team: &Team, people: &Snapshot) -> Value {
    json!({
        "id": team.id,
        "name": team.name,
        "description": team.description,
        "strategy": team.strategy,
        "offer_timeout_seconds": team.offer_timeout_seconds,
        "overflow": team.overflow_team.as_ref().map(|t| json!({
            "team": t,
            "after_seconds": team.overflow_after_seconds,
        })),
        "max_queue": team.max_queue,
        "private": team.private,
        "mask_numbers": team.mask_numbers,
        "business_hours": team.business_hours,
        "sla": team.sla,
        "members": people.members_of(&team.id),
        "supervisors": people.supervisors_of(&team.id),
        "created_at": team.created_at,
        "updated_at": team.updated_at,
    })
}

/// Apply a change now on this node and in the assignment state (the other nodes follow
/// within a second). A failure here is logged: the change is stored, and the refresher
/// applies it on its next round.
async fn apply_now(state: &AppState) {
    if let Err(e) = state.accounts.refresh().await {
        tracing::warn!(error = %e, "people changed; applying it failed, retrying shortly");
    }
}

fn valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && id.len() <= 64
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
}

/// A user's or team's name: trimmed, 1 to 200 characters.
fn check_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::BadRequest(
            "`name` must hold 1 to 200 characters".into(),
        ));
    }
    Ok(name.to_owned())
}

fn check_email(email: &str) -> Result<String, ApiError> {
    let email = email.trim().to_lowercase();
    let ok = email.len() <= 320
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
        && !email.chars().any(char::is_whitespace);
    if ok {
        Ok(email)
    } else {
        Err(ApiError::BadRequest(format!(
            "`email` {email:?} is not an email address"
        )))
    }
}

fn check_language(language: &str) -> Result<(), ApiError> {
    let ok = (2..=35).contains(&language.len())
        && language
            .split('-')
            .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric()));
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "`language` {language:?} is not a language tag (e.g. en, es, ar, pt-BR)"
        )))
    }
}

fn check_time_zone(zone: &str) -> Result<(), ApiError> {
    zone.parse::<chrono_tz::Tz>().map(|_| ()).map_err(|_| {
        ApiError::BadRequest(format!(
            "`time_zone` {zone:?} is not an IANA time zone (e.g. Europe/Madrid)"
        ))
    })
}

fn check_teams(people: &Snapshot, field: &str, teams: &[String]) -> Result<Vec<TeamId>, ApiError> {
    let mut ids = Vec::with_capacity(teams.len());
    for team in teams {
        let id = TeamId::new(team.clone());
        if people.team(&id).is_none() {
            return Err(ApiError::BadRequest(format!(
                "`{field}`: unknown team {team}"
            )));
        }
        ids.push(id);
    }
    ids.sort();
    ids.dedup();
    Ok(ids)
}

async fn hash(password: String) -> Result<String, ApiError> {
    secrets::check_new_password(&password).map_err(ApiError::BadRequest)?;
    web::block(move || secrets::hash_password(&password))
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
        .map_err(ApiError::Internal)
}

/// Memberships of `user`: served teams, then supervised ones (supervising wins a clash).
fn memberships_of(user: &AgentId, teams: &[TeamId], supervises: &[TeamId]) -> Vec<Membership> {
    let mut all: Vec<Membership> = supervises
        .iter()
        .map(|t| Membership {
            user: user.clone(),
            team: t.clone(),
            role: MemberRole::Supervisor,
        })
        .collect();
    for t in teams {
        if !supervises.contains(t) {
            all.push(Membership {
                user: user.clone(),
                team: t.clone(),
                role: MemberRole::Member,
            });
        }
    }
    all
}

/// Whether an active admin other than `except` would remain.
fn another_admin(people: &Snapshot, except: &AgentId) -> bool {
    people
        .users()
        .any(|u| u.active && u.role == Role::Admin && u.id != *except)
}

#[utoipa::path(
    get,
    path = "/admin/users",
    tag = "admin",
    security(("console" = [])),
    responses(
        (status = 200, description = "OK.", body = super::schemas::AdminListUsersResponse),
    )
)]
async fn list_users(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    admin(&caller, AdminAction::ManageUsers)?;
    let people = state.desk.directory.get();
    let users: Vec<Value> = people
        .users()
        .map(|u| admin_user_view(u, &people))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "users": users })))
}

#[utoipa::path(
    get,
    path = "/admin/users/{id}",
    tag = "admin",
    security(("console" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "OK.", body = super::schemas::AdminGetUserResponse),
    )
)]
async fn get_user(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    admin(&caller, AdminAction::ManageUsers)?;
    let people = state.desk.directory.get();
    let user = state
        .store
        .user(&AgentId::new(id.into_inner()))
        .await?
        .ok_or_else(|| ApiError::NotFound("no such user".into()))?;
    Ok(HttpResponse::Ok().json(json!({ "user": admin_user_view(&user, &people) })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewUser {
    id: Option<String>,
    name: String,
    email: String,
    role: Option<Role>,
    language: Option<String>,
    time_zone: Option<String>,
    capacity: Option<u32>,
    password: Option<String>,
    #[serde(default)]
    teams: Vec<String>,
    #[serde(default)]
    supervises: Vec<String>,
}

const MAX_CAPACITY: u32 = 100;

/// A one-time token for `user` to set their password, and the console link that uses it.
async fn issue_reset(
    req: &HttpRequest,
    state: &AppState,
    caller: &Caller,
    user: &AgentId,
    action: &str,
) -> Result<Value, ApiError> {
    let token = secrets::new_token(secrets::RESET_PREFIX);
    let now = now_ms();
    let hours = i64::try_from(state.settings.security.reset_token_hours).unwrap_or(72);
    let record = ResetToken {
        token_sha256: secrets::digest(&token),
        user: user.clone(),
        created_at: now,
        expires_at: now + hours * 3_600_000,
    };
    let meta = request_meta(req, state);
    let entry = state.accounts.entry(
        caller,
        action,
        Some(("user", user.as_str())),
        None,
        None,
        &meta,
    );
    state
        .store
        .create_reset_token(&record, Some(&entry))
        .await?;
    let base = {
        let info = req.connection_info();
        format!("{}://{}", info.scheme(), info.host())
    };
    Ok(json!({
        "token": token,
        "url": format!("{base}/#/reset?token={token}"),
        "expires_at": record.expires_at,
    }))
}

#[utoipa::path(
    post,
    path = "/admin/users",
    tag = "admin",
    security(("console" = [])),
    request_body = NewUser,
    responses(
        (status = 201, description = "Created.", body = super::schemas::AdminCreateUserResponse),
    )
)]
async fn create_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<NewUser>,
) -> Result<HttpResponse, ApiError> {
    admin(&caller, AdminAction::ManageUsers)?;
    let body = body.into_inner();
    let people = state.desk.directory.get();
    let id = match body.id {
        Some(id) if valid_id(&id) => id,
        Some(id) => {
            return Err(ApiError::BadRequest(format!(
                "`id` {id:?}: 1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit"
            )));
        }
        None => uuid::Uuid::now_v7().simple().to_string(),
    };
    let name = check_name(&body.name)?;
    let email = check_email(&body.email)?;
    let language = body.language.unwrap_or_else(|| "en".into());
    check_language(&language)?;
    let time_zone = body.time_zone.unwrap_or_else(|| "UTC".into());
    check_time_zone(&time_zone)?;
    let capacity = body.capacity.unwrap_or(3);
    if capacity > MAX_CAPACITY {
        return Err(ApiError::BadRequest(format!(
            "`capacity` is at most {MAX_CAPACITY}"
        )));
    }
    let teams = check_teams(&people, "teams", &body.teams)?;
    let supervises = check_teams(&people, "supervises", &body.supervises)?;
    let password_hash = match body.password {
        Some(p) => Some(hash(p).await?),
        None => None,
    };
    let now = now_ms();
    let user = User {
        id: AgentId::new(id),
        name,
        email,
        role: body.role.unwrap_or(Role::Agent),
        language,
        time_zone,
        active: true,
        capacity,
        password_hash,
        failed_logins: 0,
        locked_until: None,
        created_at: now,
        updated_at: now,
    };
    let memberships = memberships_of(&user.id, &teams, &supervises);
    let meta = request_meta(&req, &state);
    let mut after = admin_user_view(&user, &people);
    after["teams"] = json!(teams);
    after["supervises"] = json!(supervises);
    let entry = state.accounts.entry(
        &caller,
        "user.create",
        Some(("user", user.id.as_str())),
        None,
        Some(after.clone()),
        &meta,
    );
    state
        .store
        .save_user(&user, true, Some(&memberships), Some(&entry))
        .await
        .map_err(account_error)?;
    apply_now(&state).await;
    let invite = if user.password_hash.is_none() {
        Some(issue_reset(&req, &state, &caller, &user.id, "user.invite").await?)
    } else {
        None
    };
    Ok(HttpResponse::Created().json(json!({ "user": after, "invite": invite })))
}

/// A PATCH: absent fields stay; `locked_until: null` lifts a lockout.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct UserPatch {
    name: Option<String>,
    email: Option<String>,
    role: Option<Role>,
    language: Option<String>,
    time_zone: Option<String>,
    capacity: Option<u32>,
    active: Option<bool>,
    password: Option<String>,
    teams: Option<Vec<String>>,
    supervises: Option<Vec<String>>,
    #[serde(default, deserialize_with = "some")]
    locked_until: Option<Option<i64>>,
}

/// A present field, even `null`, is `Some`.
fn some<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    T::deserialize(d).map(Some)
}

#[utoipa::path(
    patch,
    path = "/admin/users/{id}",
    tag = "admin",
    security(("console" = [])),
    params(("id" = String, Path)),
    request_body = UserPatch,
    responses(
        (status = 200, description = "OK.", body = super::schemas::AdminUpdateUserResponse),
    )
)]
async fn update_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Json<UserPatch>,
) -> Result<HttpResponse, ApiError> {
    admin(&caller, AdminAction::ManageUsers)?;
    let patch = body.into_inner();
    let people = state.desk.directory.get();
    let id = AgentId::new(id.into_inner());
    let before = state
        .store
        .user(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such user".into()))?;
    let mut user = before.clone();
    if let Some(name) = patch.name {
        user.name = check_name(&name)?;
    }
    if let Some(email) = patch.email {
        user.email = check_email(&email)?;
    }
    if let Some(role) = patch.role {
        user.role = role;
    }
    if let Some(language) = patch.language {
        check_language(&language)?;
        user.language = language;
    }
    if let Some(zone) = patch.time_zone {
        check_time_zone(&zone)?;
        user.time_zone = zone;
    }
    if let Some(capacity) = patch.capacity {
        if capacity > MAX_CAPACITY {
            return Err(ApiError::BadRequest(format!(
                "`capacity` is at most {MAX_CAPACITY}"
            )));
        }
        user.capacity = capacity;
    }
    if let Some(active) = patch.active {
        user.active = active;
    }
    if let Some(password) = patch.password {
        user.password_hash = Some(hash(password).await?);
    }
    if let Some(locked) = patch.locked_until {
        user.locked_until = locked;
        if locked.is_none() {
            user.failed_logins = 0;
        }
    }
    let was_admin = before.active && before.role == Role::Admin;
    let still_admin = user.active && user.role == Role::Admin;
    if was_admin && !still_admin && !another_admin(&people, &user.id) {
        return Err(ApiError::Conflict(
            "this is the last active admin; make another admin first".into(),
        ));
    }
    let memberships = if patch.teams.is_some() || patch.supervises.is_some() {
        let teams = match &patch.teams {
            Some(t) => check_teams(&people, "teams", t)?,
            None => people.teams_of(&id).to_vec(),
        };
        let supervises = match &patch.supervises {
            Some(t) => check_teams(&people, "supervises", t)?,
            None => people.supervised_by(&id).to_vec(),
        };
        Some(memberships_of(&id, &teams, &supervises))
    } else {
        None
    };
    user.updated_at = now_ms();
    let before_view = admin_user_view(&before, &people);
    let mut after_view = admin_user_view(&user, &people);
    if let Some(m) = &memberships {
        after_view["teams"] = json!(
            m.iter()
                .filter(|m| m.role == MemberRole::Member)
                .map(|m| &m.team)
                .collect::<Vec<_>>()
        );
        after_view["supervises"] = json!(
            m.iter()
                .filter(|m| m.role == MemberRole::Supervisor)
                .map(|m| &m.team)
                .collect::<Vec<_>>()
        );
    }
    let action = if before.role != user.role {
        "user.role"
    } else if before.active && !user.active {
        "user.deactivate"
    } else if before.locked_until.is_some() && user.locked_until.is_none() {
        "user.unlock"
    } else {
        "user.update"
    };
    let meta = request_meta(&req, &state);
    let entry = state.accounts.entry(
        &caller,
        action,
        Some(("user", id.as_str())),
        Some(before_view),
        Some(after_view.clone()),
        &meta,
    );
    state
        .store
        .save_user(&user, false, memberships.as_deref(), Some(&entry))
        .await
        .map_err(account_error)?;
    if before.active && !user.active {
        state
            .accounts
            .end_sessions(Some(&caller), &id, "logout.forced", &meta)
            .await?;
    }
    apply_now(&state).await;
    Ok(HttpResponse::Ok().json(json!({ "user": after_view })))
}

/// DELETE deactivates: the user can no longer log in, goes offline, and their conversations
/// go back to their teams' queues. Their history stays theirs.
#[utoipa::path(
    delete,
    path = "/admin/users/{id}",
    tag = "admin",
    security(("console" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "Done; no body."),
    )
)]
async fn deactivate_user(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    admin(&caller, AdminAction::ManageUsers)?;
    let people = state.desk.directory.get();
    let id = AgentId::new(id.into_inner());
    let before = state
        .store
        .user(&id)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such user".into()))?;
    if !before.active {
        return Ok(HttpResponse::NoContent().finish());
    }
    if before.role == Role::Admin && !another_admin(&people, &id) {
        return Err(ApiError::Conflict(
            "this is the last active admin; make another admin first".into(),
        ));
    }
    let mut user = before.clone();
    user.active = false;
    user.updated_at = now_ms();
    let meta = request_meta(&req, &state);
    let entry = state.accounts.entry(
        &caller,
        "user.deactivate",
        Some(("user", id.as_str())),
        Some(admin_user_view(&before, &people)),
        Some(admin_user_view(&user, &people)),
        &meta,
    );
    state
        .store
        .save_user(&user, false, None, Some(&entry))
        .await
        .map_err(account_error)?;
    state
        .accounts
        .end_sessions(Some(&caller), &id, "logout.forced", &meta)
        .await?;
    apply_now(&state).await;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(
    post,
    path = "/admin/users/{id}/logout",
    tag = "admin",
    security(("console" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "OK.", body = super::schemas::AdminForceLogoutResponse),
    )
)]
async fn force_logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    admin(&caller, AdminAction::ManageUsers)?;
    let id = AgentId::new(id.into_inner());
    if state.store.user(&id).await?.is_none() {
        return Err(ApiError::NotFound("no such user".into()));
    }
    let meta = request_meta(&req, &state);
    let ended = state
        .accounts
        .end_sessions(Some(&caller), &id, "logout.forced", &meta)
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "ended": ended })))
}

/// A password reset link for the admin to hand over (no mail server needed).
#[utoipa::path(
    post,
    path = "/admin/users/{id}/reset",
    tag = "admin",
    security(("console" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 201, description = "Created.", body = super::schemas::AdminResetLinkResponse),
    )
)]
async fn reset_link(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    admin(&caller, AdminAction::ManageUsers)?;
    let id = AgentId::new(id.into_inner());
    if state.store.user(&id).await?.is_none() {
        return Err(ApiError::NotFound("no such user".into()));
    }
    let reset = issue_reset(&req, &state, &caller, &id, "password.reset_issued").await?;
    Ok(HttpResponse::Created().json(json!({ "reset": reset })))
}

#[utoipa::path(
    get,
    path = "/admin/teams",
    tag = "admin",
    security(("console" = [])),
    responses(
        (status = 200, description = "OK.", body = super::schemas::AdminListTeamsResponse),
    )
)]
async fn list_teams(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    admin(&caller, AdminAction::ManageTeams)?;
    let people = state.desk.directory.get();
    let teams: Vec<Value> = people.teams().map(|t| team_view(t, &people)).collect();
    let priorities = state.reloader.live().router().priorities();
    Ok(HttpResponse::Ok().json(json!({ "teams": teams, "sla_priorities": priorities })))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct OverflowBody {
    team: String,
    after_seconds: u64,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct TeamBody {
    id: Option<String>,
    name: Option<String>,
    #[serde(default, deserialize_with = "some")]
    description: Option<Option<String>>,
    strategy: Option<Strategy>,
    offer_timeout_seconds: Option<u64>,
    #[serde(default, deserialize_with = "some")]
    overflow: Option<Option<OverflowBody>>,
    max_queue: Option<usize>,
    private: Option<bool>,
    #[serde(default, deserialize_with = "some")]
    mask_numbers: Option<Option<bool>>,
    #[serde(default, deserialize_with = "some")]
    business_hours: Option<Option<String>>,
    /// The team's own SLA policies, replacing its current ones; `[]` or `null`: none (the
    /// configured policies apply again).
    #[serde(default, deserialize_with = "some")]
    sla: Option<Option<Vec<TeamSlaPolicy>>>,
    members: Option<Vec<String>>,
    supervisors: Option<Vec<String>>,
}

/// Apply a team body to `team`; the team's memberships when the body names them.
fn apply_team(
    people: &Snapshot,
    calendars: &crate::reports::sla_rules::SlaRules,
    priorities: &[i32],
    team: &mut Team,
    body: TeamBody,
) -> Result<Option<Vec<Membership>>, ApiError> {
    if let Some(name) = body.name {
        team.name = check_name(&name)?;
    }
    if let Some(description) = body.description {
        team.description = description;
    }
    if let Some(strategy) = body.strategy {
        team.strategy = strategy;
    }
    if let Some(timeout) = body.offer_timeout_seconds {
        if timeout > 3600 {
            return Err(ApiError::BadRequest(
                "`offer_timeout_seconds` is at most 3600".into(),
            ));
        }
        team.offer_timeout_seconds = timeout;
    }
    if let Some(overflow) = body.overflow {
        match overflow {
            Some(o) => {
                let to = TeamId::new(o.team);
                if to == team.id || people.team(&to).is_none() {
                    return Err(ApiError::BadRequest(format!(
                        "`overflow.team` {to} is not another existing team"
                    )));
                }
                if o.after_seconds == 0 {
                    return Err(ApiError::BadRequest(
                        "`overflow.after_seconds` must be positive".into(),
                    ));
                }
                team.overflow_team = Some(to);
                team.overflow_after_seconds = o.after_seconds;
            }
            None => {
                team.overflow_team = None;
                team.overflow_after_seconds = 0;
            }
        }
    }
    if let Some(max) = body.max_queue {
        if max == 0 || max > 1_000_000 {
            return Err(ApiError::BadRequest(
                "`max_queue` must be 1..=1000000".into(),
            ));
        }
        team.max_queue = max;
    }
    if let Some(private) = body.private {
        team.private = private;
    }
    if let Some(mask) = body.mask_numbers {
        team.mask_numbers = mask;
    }
    if let Some(hours) = body.business_hours {
        if let Some(name) = &hours
            && !calendars.has_calendar(name)
        {
            return Err(ApiError::BadRequest(format!(
                "`business_hours` {name} is not a calendar of the configuration (business_hours)"
            )));
        }
        team.business_hours = hours;
    }
    if let Some(sla) = body.sla {
        let sla = sla.unwrap_or_default();
        sla_team::check(&sla, priorities).map_err(ApiError::BadRequest)?;
        team.sla = sla;
    }
    if body.members.is_none() && body.supervisors.is_none() {
        return Ok(None);
    }
    let check = |field: &str, ids: &Option<Vec<String>>, current: &[AgentId]| match ids {
        None => Ok(current.to_vec()),
        Some(ids) => {
            let mut out = Vec::new();
            for id in ids {
                let id = AgentId::new(id.clone());
                if people.user(&id).is_none() {
                    return Err(ApiError::BadRequest(format!(
                        "`{field}`: unknown user {id}"
                    )));
                }
                out.push(id);
            }
            out.sort();
            out.dedup();
            Ok(out)
        }
    };
    let members = check("members", &body.members, people.members_of(&team.id))?;
    let supervisors = check(
        "supervisors",
        &body.supervisors,
        people.supervisors_of(&team.id),
    )?;
    let mut all: Vec<Membership> = supervisors
        .iter()
        .map(|u| Membership {
            user: u.clone(),
            team: team.id.clone(),
            role: MemberRole::Supervisor,
        })
        .collect();
    all.extend(
        members
            .iter()
            .filter(|u| !supervisors.contains(u))
            .map(|u| Membership {
                user: u.clone(),
                team: team.id.clone(),
                role: MemberRole::Member,
            }),
    );
    Ok(Some(all))
}

#[utoipa::path(
    post,
    path = "/admin/teams",
    tag = "admin",
    security(("console" = [])),
    request_body = TeamBody,
    responses(
        (status = 201, description = "Created.", body = super::schemas::AdminCreateTeamResponse),
    )
)]
async fn create_team(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<TeamBody>,
) -> Result<HttpResponse, ApiError> {
    admin(&caller, AdminAction::ManageTeams)?;
    let body = body.into_inner();
    let people = state.desk.directory.get();
    let id = match &body.id {
        Some(id) if valid_id(id) => id.clone(),
        _ => {
            return Err(ApiError::BadRequest(
                "`id`: 1 to 64 of a-z, 0-9, '.', '_', '-', starting with a letter or digit".into(),
            ));
        }
    };
    if body.name.is_none() {
        return Err(ApiError::BadRequest("`name` is required".into()));
    }
    let now = now_ms();
    let mut team = Team {
        id: TeamId::new(id),
        name: String::new(),
        description: None,
        strategy: Strategy::default(),
        offer_timeout_seconds: 0,
        overflow_team: None,
        overflow_after_seconds: 0,
        max_queue: 10_000,
        private: false,
        mask_numbers: None,
        business_hours: None,
        sla: Vec::new(),
        created_at: now,
        updated_at: now,
    };
    let memberships = apply_team(
        &people,
        state.conversations.sla(),
        &state.reloader.live().router().priorities(),
        &mut team,
        body,
    )?;
    let meta = request_meta(&req, &state);
    let after = team_view(&team, &people);
    let entry = state.accounts.entry(
        &caller,
        "team.create",
        Some(("team", team.id.as_str())),
        None,
        Some(after),
        &meta,
    );
    state
        .store
        .save_team(&team, true, memberships.as_deref(), Some(&entry))
        .await
        .map_err(account_error)?;
    apply_now(&state).await;
    let people = state.desk.directory.get();
    let view = people
        .team(&team.id)
        .map(|t| team_view(t, &people))
        .unwrap_or_else(|| team_view(&team, &people));
    Ok(HttpResponse::Created().json(json!({ "team": view })))
}

#[utoipa::path(
    patch,
    path = "/admin/teams/{id}",
    tag = "admin",
    security(("console" = [])),
    params(("id" = String, Path)),
    request_body = TeamBody,
    responses(
        (status = 200, description = "OK.", body = super::schemas::AdminUpdateTeamResponse),
    )
)]
async fn update_team(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Json<TeamBody>,
) -> Result<HttpResponse, ApiError> {
    admin(&caller, AdminAction::ManageTeams)?;
    let body = body.into_inner();
    if body.id.is_some() {
        return Err(ApiError::BadRequest("a team's `id` cannot change".into()));
    }
    let people = state.desk.directory.get();
    let id = TeamId::new(id.into_inner());
    let before = people
        .team(&id)
        .cloned()
        .ok_or_else(|| ApiError::NotFound("no such team".into()))?;
    let mut team = before.clone();
    let memberships = apply_team(
        &people,
        state.conversations.sla(),
        &state.reloader.live().router().priorities(),
        &mut team,
        body,
    )?;
    team.updated_at = now_ms();
    let meta = request_meta(&req, &state);
    let entry = state.accounts.entry(
        &caller,
        "team.update",
        Some(("team", id.as_str())),
        Some(team_view(&before, &people)),
        Some(team_view(&team, &people)),
        &meta,
    );
    state
        .store
        .save_team(&team, false, memberships.as_deref(), Some(&entry))
        .await
        .map_err(account_error)?;
    apply_now(&state).await;
    if before.sla != team.sla {
        recheck_sla(&state, &id).await;
    }
    let people = state.desk.directory.get();
    let view = people
        .team(&id)
        .map(|t| team_view(t, &people))
        .unwrap_or_else(|| team_view(&team, &people));
    Ok(HttpResponse::Ok().json(json!({ "team": view })))
}

/// A team's SLA policies changed: each of its open conversations is checked again at its next
/// due time under the new policy (no sooner than two seconds from now, when every node reads
/// the change), so a shortened target is announced on time. A check scheduled earlier, for a
/// due time the change moved later, finds nothing and reschedules itself. A failure is
/// logged: the change stands, and the conversations' next steps schedule their checks.
async fn recheck_sla(state: &AppState, team: &TeamId) {
    let open = match state.store.open_conversations().await {
        Ok(open) => open,
        Err(e) => {
            tracing::warn!(error = %e, team = %team, "SLA policies changed; rescheduling checks failed");
            return;
        }
    };
    let now = now_ms();
    let rules = state.conversations.sla();
    for c in open.iter().filter(|c| c.team.as_ref() == Some(team)) {
        if let Some(due) = rules.next_due(c, now) {
            state.desk.schedule_sla_check(
                crate::conversation::commands::conversation_ref(c),
                due.max(now + 2_000),
            );
        }
    }
}

/// Refused (409) while the team has open conversations, or while another team overflows
/// into it, or while it is the routing's default team.
#[utoipa::path(
    delete,
    path = "/admin/teams/{id}",
    tag = "admin",
    security(("console" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "Done; no body."),
    )
)]
async fn delete_team(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    admin(&caller, AdminAction::ManageTeams)?;
    let people = state.desk.directory.get();
    let id = TeamId::new(id.into_inner());
    let before = people
        .team(&id)
        .cloned()
        .ok_or_else(|| ApiError::NotFound("no such team".into()))?;
    if state.settings.routing.default_team == id.as_str() {
        return Err(ApiError::Conflict(format!(
            "{id} is the routing's default team (routing.default_team)"
        )));
    }
    if let Some(other) = people
        .teams()
        .find(|t| t.overflow_team.as_ref() == Some(&id))
    {
        return Err(ApiError::Conflict(format!(
            "team {} overflows into {id}; change that first",
            other.id
        )));
    }
    let meta = request_meta(&req, &state);
    let entry = state.accounts.entry(
        &caller,
        "team.delete",
        Some(("team", id.as_str())),
        Some(team_view(&before, &people)),
        None,
        &meta,
    );
    state
        .store
        .delete_team(&id, Some(&entry))
        .await
        .map_err(account_error)?;
    apply_now(&state).await;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct TokensQuery {
    user: Option<String>,
}

#[utoipa::path(
    get,
    path = "/admin/tokens",
    tag = "admin",
    security(("console" = [])),
    params(TokensQuery),
    responses(
        (status = 200, description = "OK.", body = super::schemas::AdminListTokensResponse),
    )
)]
async fn list_tokens(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<TokensQuery>,
) -> Result<HttpResponse, ApiError> {
    admin(&caller, AdminAction::ManageTokens)?;
    let user = query.user.clone().map(AgentId::new);
    let tokens = state.store.api_tokens(user.as_ref()).await?;
    let views: Vec<Value> = tokens.iter().map(token_view).collect();
    Ok(HttpResponse::Ok().json(json!({ "tokens": views })))
}

#[utoipa::path(
    delete,
    path = "/admin/tokens/{id}",
    tag = "admin",
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
    admin(&caller, AdminAction::ManageTokens)?;
    let token = state
        .store
        .api_tokens(None)
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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    /// RFC 3339 or unix ms.
    from: Option<String>,
    to: Option<String>,
    /// Paging: entries older than this entry id (the previous page's `next`).
    before: Option<i64>,
    limit: Option<i64>,
}

fn time_param(field: &str, value: &Option<String>) -> Result<Option<i64>, ApiError> {
    let Some(value) = value else {
        return Ok(None);
    };
    if let Ok(ms) = value.parse::<i64>() {
        return Ok(Some(ms));
    }
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| Some(t.timestamp_millis()))
        .map_err(|_| ApiError::BadRequest(format!("`{field}` must be an RFC 3339 time or unix ms")))
}

/// The audit log, newest first, filtered and paged.
#[utoipa::path(
    get,
    path = "/admin/audit",
    tag = "admin",
    security(("console" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "OK.", body = super::schemas::AdminAuditResponse),
    )
)]
async fn audit(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    admin(&caller, AdminAction::ViewAudit)?;
    let limit = query.limit.unwrap_or(100).clamp(1, 1000);
    let filter = AuditFilter {
        actor: query.actor.clone(),
        action: query.action.clone(),
        from: time_param("from", &query.from)?,
        to: time_param("to", &query.to)?,
        before_id: query.before,
        limit,
    };
    let entries = state.store.audit_entries(&filter).await?;
    let next = (entries.len() as i64 == limit)
        .then(|| entries.last().map(|e| e.id))
        .flatten();
    Ok(HttpResponse::Ok().json(json!({ "entries": entries, "next": next })))
}

/// Reload the bot flows and routing rules from the configuration files (as SIGHUP does): the
/// new configuration is validated whole first; a refusal leaves the running one in place and
/// answers 422 with the reason. Audited either way.
#[utoipa::path(
    post,
    path = "/admin/reload",
    tag = "admin",
    security(("console" = [])),
    responses(
        (status = 200, description = "OK.", body = super::schemas::AdminReloadResponse),
    )
)]
async fn reload(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    admin(&caller, AdminAction::ReloadConfiguration)?;
    let meta = request_meta(&req, &state);
    let outcome = state.reloader.reload().await;
    let (action, after) = match &outcome {
        Ok(report) => ("config.reload", serde_json::to_value(report).ok()),
        Err(e) => (
            "config.reload_refused",
            Some(json!({ "error": e.to_string() })),
        ),
    };
    let entry = state.accounts.entry(
        &caller,
        action,
        Some(("config", "bots+routing")),
        None,
        after,
        &meta,
    );
    state.accounts.audit(&entry).await;
    match outcome {
        Ok(report) => Ok(HttpResponse::Ok().json(json!({ "reload": report }))),
        Err(crate::reload::ReloadError::Failed(e)) => Err(ApiError::Internal(e)),
        Err(e) => Err(ApiError::Unprocessable {
            code: e.code(),
            message: e.to_string(),
        }),
    }
}
