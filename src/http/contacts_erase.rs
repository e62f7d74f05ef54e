//! `POST /api/v1/contacts/{id}/erase {"reason"}`: erase a contact's personal data on request
//! (docs/CONSOLE_API.md, "Erasing a contact"). Admins only
//! ([`ContactsAction::Erase`]); `{id}` is the contact's id or any of its identities'
//! addresses. Irreversible: the console asks the admin to type the contact's name or `ERASE`.
//!
//! One store transaction ([`crate::store::Store::erase_contact`]) removes the contact, its
//! identities and everything of it in its conversations; the conversations stay (reports do not
//! change) under an opaque id. Refused with 409 while one of its conversations is not resolved:
//! resolve it first. Then the media files no record names any more are deleted, the erasure is
//! audited (`contact.erase`: who, when, the reason and counts, under the opaque id, never an
//! erased value) and the conversations' actors drop their copy of the contact.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::auth::Caller;
use super::{ApiError, AppState};
use crate::accounts::policy::{self, ContactsAction};
use crate::domain::CustomerId;
use crate::store::Erasure;

pub fn routes(api: &mut super::openapi::Api) {
    api.op(__path_erase, erase);
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EraseBody {
    reason: Option<String>,
}

/// Erase a contact's personal data on request (admins; irreversible; refused while one of its
/// conversations is open).
#[utoipa::path(
    post,
    path = "/contacts/{id}/erase",
    tag = "contacts",
    security(("console" = [])),
    params(("id" = String, Path)),
    request_body = EraseBody,
    responses(
        (status = 200, description = "Erased: what was left, anonymous.", body = super::schemas::ContactsEraseResponse),
    )
)]
async fn erase(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Json<EraseBody>,
) -> Result<HttpResponse, ApiError> {
    if !policy::decide_contacts(&caller.principal, ContactsAction::Erase).allowed() {
        return Err(ApiError::Forbidden(
            "only admins erase a contact's personal data".into(),
        ));
    }
    let reason = crate::crm::erase::reason(body.reason.as_deref()).map_err(ApiError::BadRequest)?;
    let not_found = || ApiError::NotFound("no such contact".into());
    if id.is_empty() || id.chars().count() > 512 {
        return Err(not_found());
    }
    let erased = crate::crm::erase::erased_id();
    // Where its consent ledger entries are (each WhatsApp number and its address there), read
    // before the contact goes.
    let ledger = consent_addresses(&state, &CustomerId::new(id.as_str())).await?;
    let done = match state
        .store
        .erase_contact(&CustomerId::new(id.as_str()), &erased)
        .await?
    {
        Erasure::NoSuchContact => return Err(not_found()),
        Erasure::Open(open) => {
            return Err(ApiError::Conflict(format!(
                "the contact has {} conversation(s) not resolved yet ({}): resolve them first, \
                 then erase the contact",
                open.len(),
                open.join(", ")
            )));
        }
        Erasure::Erased(done) => done,
    };
    // Its consent ledger entries stay (the history of what it agreed to), under the opaque id
    // and without their proof.
    let mut consent = 0;
    for (channel, address) in &ledger {
        match state
            .campaigns
            .records
            .erase_consent(channel, address, erased.as_str())
            .await
        {
            Ok(n) => consent += n,
            Err(e) => tracing::warn!(channel = %channel, error = %e,
                "an erased contact's consent entries were not anonymised"),
        }
        // Its templates waiting for a retry after 131049 go (they hold its address).
        if let Err(e) = state.campaigns.records.drop_retries(channel, address).await {
            tracing::warn!(channel = %channel, error = %e,
                "an erased contact's template retries were not dropped");
        }
    }
    let summary = json!({
        "id": erased,
        "conversations": done.conversations,
        "messages": done.messages,
        "media": done.media,
        "consent": consent,
    });
    let entry = state.accounts.entry(
        &caller,
        "contact.erase",
        Some(("contact", erased.as_str())),
        None,
        Some(json!({ "reason": reason, "erased": summary })),
        &super::auth::request_meta(&req, &state),
    );
    state.store.append_audit(&entry).await?;
    for blob in &done.blobs {
        // The records are gone: a file left behind (the media store failing now) is named by
        // nothing and never served; it is logged to be removed by hand.
        if let Err(e) = state.media.blobs.delete(blob).await {
            tracing::warn!(blob = %blob, error = %e, "an erased contact's media file was not deleted");
        }
    }
    // Their actors drop what they hold of the customer.
    state.desk.contact_changed(&done.identities, None);
    Ok(HttpResponse::Ok().json(json!({ "erased": summary })))
}

/// The (WhatsApp channel, address) pairs a contact's consent is kept under: its identity on each
/// WhatsApp number, else its phone (as `GET /contacts/{id}/consent` reads them).
async fn consent_addresses(
    state: &AppState,
    customer: &CustomerId,
) -> Result<Vec<(String, String)>, ApiError> {
    let Some(contact) = state.store.load_contact(customer).await? else {
        return Ok(Vec::new());
    };
    let identities = state.store.contact_identities(&contact.customer).await?;
    Ok(state
        .settings
        .channels
        .iter()
        .filter(|(_, c)| c.kind == crate::domain::ChannelKind::Whatsapp)
        .filter_map(|(channel, _)| {
            crate::integrations::send::address_on(
                channel,
                crate::domain::ChannelKind::Whatsapp,
                &identities,
                contact.phone.as_deref(),
            )
            .map(|address| (channel.clone(), address.to_string()))
        })
        .collect())
}
