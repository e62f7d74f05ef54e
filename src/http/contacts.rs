//! Contacts seen through their conversations: `POST /api/v1/conversations/{id}/contact/merge`
//! folds the contact of another conversation into this conversation's contact (the same person
//! on two channels, or twice on one). Whoever may open both conversations may merge them; it is
//! audited and cannot be undone (the console says so before it asks).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::auth::Caller;
use super::console::permitted;
use super::{ApiError, AppState};
use crate::accounts::policy::Action;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// A conversation of the contact to fold in.
    from_conversation: String,
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/conversations/{id}/contact/merge", web::post().to(merge));
}

async fn merge(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Json<MergeBody>,
) -> Result<HttpResponse, ApiError> {
    let into = permitted(&state, &caller, &id, Action::View).await?;
    let from = permitted(&state, &caller, &body.from_conversation, Action::View).await?;
    let (Some(survivor), Some(gone)) = (
        state.store.load_contact(&into.customer).await?,
        state.store.load_contact(&from.customer).await?,
    ) else {
        return Err(ApiError::NotFound("no such contact".into()));
    };
    if survivor.customer == gone.customer {
        return Err(ApiError::Unprocessable {
            code: "same_contact",
            message: "both conversations are already the same contact".into(),
        });
    }
    let merged = state
        .store
        .merge_contacts(&survivor.customer, &gone.customer)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such contact".into()))?;
    let entry = state.accounts.entry(
        &caller,
        "contact.merge",
        Some(("contact", merged.customer.as_str())),
        Some(json!({ "into": survivor, "from": gone })),
        Some(json!({ "contact": merged })),
        &super::auth::request_meta(&req, &state),
    );
    state.store.append_audit(&entry).await?;
    let identities = state.store.contact_identities(&merged.customer).await?;
    // Their conversations' actors read the contact again (routing, the bot, the views).
    state.desk.contact_changed(&identities, None);
    let addresses: Vec<&str> = identities.iter().map(|i| i.address.as_str()).collect();
    let mut body = json!({
        "contact": {
            "id": merged.customer,
            "name": merged.name,
            "phone": merged.phone,
            "language": merged.language,
            "tags": merged.tags,
            "fields": merged.fields,
            "identities": identities.iter().map(|i| json!({
                "channel": i.channel,
                "kind": state.settings.channels.get(i.channel.as_str()).map(|c| c.kind.as_str()),
                "address": i.address,
                "first_seen": i.first_seen,
            })).collect::<Vec<_>>(),
        }
    });
    state
        .desk
        .masker(&into, Some(&merged), &addresses)
        .apply(&mut body);
    Ok(HttpResponse::Ok().json(body))
}
