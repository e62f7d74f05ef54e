//! Notifications: the user's settings, the server's VAPID public key and the user's Web Push
//! subscriptions (one per browser or phone). See `docs/CONSOLE_API.md` and [`crate::push`].

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Caller;
use super::{ApiError, AppState};
use crate::accounts::service::Via;
use crate::push::model::{NotificationSettings, NotifyEvents, PushSubscription};
use crate::push::{SubscriptionJson, validate};

pub fn routes(api: &mut super::openapi::Api) {
    api.op(__path_get_settings, get_settings)
        .op(__path_put_settings, put_settings)
        .op(__path_key, key)
        .op(__path_list, list)
        .op(__path_subscribe, subscribe)
        .op(__path_unsubscribe, unsubscribe);
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// A subscription as the API shows it: never its endpoint (a capability) or keys.
fn view(s: &PushSubscription) -> Value {
    let service = reqwest::Url::parse(&s.endpoint)
        .ok()
        .and_then(|u| u.host_str().map(str::to_string));
    json!({
        "id": s.id,
        "service": service,
        "user_agent": s.user_agent,
        "created_at": s.created_at,
    })
}

#[utoipa::path(
    get,
    path = "/me/notifications",
    tag = "push",
    security(("console" = [])),
    responses(
        (status = 200, description = "OK.", body = super::schemas::PushGetSettingsResponse),
    )
)]
async fn get_settings(
    state: web::Data<AppState>,
    caller: Caller,
) -> Result<HttpResponse, ApiError> {
    let settings = state
        .store
        .notification_settings(caller.user())
        .await?
        .unwrap_or_default();
    Ok(HttpResponse::Ok().json(json!({ "notifications": settings })))
}

/// `PUT /me/notifications`: any of the fields; those left out keep their value.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SettingsChange {
    sound: Option<bool>,
    desktop: Option<bool>,
    events: Option<EventsChange>,
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct EventsChange {
    offer: Option<bool>,
    assignment: Option<bool>,
    message: Option<bool>,
}

/// The settings after a change (pure).
fn apply(current: NotificationSettings, change: &SettingsChange) -> NotificationSettings {
    let events = change.events.as_ref();
    NotificationSettings {
        sound: change.sound.unwrap_or(current.sound),
        desktop: change.desktop.unwrap_or(current.desktop),
        events: NotifyEvents {
            offer: events.and_then(|e| e.offer).unwrap_or(current.events.offer),
            assignment: events
                .and_then(|e| e.assignment)
                .unwrap_or(current.events.assignment),
            message: events
                .and_then(|e| e.message)
                .unwrap_or(current.events.message),
        },
    }
}

#[utoipa::path(
    put,
    path = "/me/notifications",
    tag = "push",
    security(("console" = [])),
    request_body = SettingsChange,
    responses(
        (status = 200, description = "OK.", body = super::schemas::PushPutSettingsResponse),
    )
)]
async fn put_settings(
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<SettingsChange>,
) -> Result<HttpResponse, ApiError> {
    let current = state
        .store
        .notification_settings(caller.user())
        .await?
        .unwrap_or_default();
    let settings = apply(current, &body);
    state
        .store
        .save_notification_settings(caller.user(), &settings, now_ms())
        .await?;
    Ok(HttpResponse::Ok().json(json!({ "notifications": settings })))
}

#[utoipa::path(
    get,
    path = "/push/key",
    tag = "push",
    security(("console" = [])),
    responses(
        (status = 200, description = "OK.", body = super::schemas::PushKeyResponse),
    )
)]
async fn key(state: web::Data<AppState>, _caller: Caller) -> Result<HttpResponse, ApiError> {
    let pusher = state
        .desk
        .pusher()
        .ok_or_else(|| ApiError::NotFound("Web Push is off (push.enabled)".into()))?;
    Ok(HttpResponse::Ok().json(json!({ "public_key": pusher.public_key() })))
}

#[utoipa::path(
    get,
    path = "/me/push-subscriptions",
    tag = "push",
    security(("console" = [])),
    responses(
        (status = 200, description = "OK.", body = super::schemas::PushListResponse),
    )
)]
async fn list(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let subscriptions = state.store.push_subscriptions(caller.user()).await?;
    Ok(HttpResponse::Ok().json(json!({
        "subscriptions": subscriptions.iter().map(view).collect::<Vec<_>>()
    })))
}

#[utoipa::path(
    post,
    path = "/me/push-subscriptions",
    tag = "push",
    security(("console" = [])),
    request_body = SubscriptionJson,
    responses(
        (status = 201, description = "Created.", body = super::schemas::PushSubscribeResponse),
    )
)]
async fn subscribe(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    body: web::Json<SubscriptionJson>,
) -> Result<HttpResponse, ApiError> {
    let user_agent = req
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok());
    let mut subscription = validate(
        &body,
        &state.settings.push,
        caller.user(),
        user_agent,
        now_ms(),
    )
    .map_err(ApiError::BadRequest)?;
    // Made in a login session: it ends with the session. With an API token: kept until removed.
    subscription.session = match &caller.via {
        Via::Session(id) => Some(id.clone()),
        Via::Token(_) => None,
    };
    let mine = state.store.push_subscriptions(caller.user()).await?;
    let again = mine.iter().any(|s| s.endpoint == subscription.endpoint);
    if !again && mine.len() >= state.settings.push.max_subscriptions_per_user {
        return Err(ApiError::Conflict(format!(
            "at most {} push subscriptions per user: remove one first",
            state.settings.push.max_subscriptions_per_user
        )));
    }
    let stored = state.store.save_push_subscription(&subscription).await?;
    if let Some(pusher) = state.desk.pusher() {
        pusher.subscribed(caller.user());
    }
    Ok(HttpResponse::Created().json(json!({ "subscription": view(&stored) })))
}

#[utoipa::path(
    delete,
    path = "/me/push-subscriptions/{id}",
    tag = "push",
    security(("console" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 204, description = "Done; no body."),
    )
)]
async fn unsubscribe(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    if state
        .store
        .delete_push_subscription(Some(caller.user()), &id)
        .await?
    {
        Ok(HttpResponse::NoContent().finish())
    } else {
        Err(ApiError::NotFound("no such push subscription".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_keeps_what_it_leaves_out() {
        let change: SettingsChange =
            serde_json::from_value(json!({"sound": false, "events": {"message": false}}))
                .expect("valid change");
        let after = apply(NotificationSettings::default(), &change);
        assert!(!after.sound);
        assert!(after.desktop);
        assert!(after.events.offer && after.events.assignment);
        assert!(!after.events.message);
    }

    #[test]
    fn unknown_fields_are_refused() {
        assert!(serde_json::from_value::<SettingsChange>(json!({"volume": 3})).is_err());
        assert!(
            serde_json::from_value::<SettingsChange>(json!({"events": {"typing": true}})).is_err()
        );
        assert!(serde_json::from_value::<SettingsChange>(json!({"sound": "yes"})).is_err());
    }
}
