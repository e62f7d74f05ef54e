//! The CRM's contacts over REST (docs/CONSOLE_API.md, "Contacts"):
//!
//! - `GET /api/v1/contacts?q=&tag=&language=&channel=&limit=&cursor=`: list and search
//!   (supervisors and admins), most recently changed first, `{"contacts", "next_cursor"}`;
//! - `GET /api/v1/contacts/export.csv?q=&tag=&language=&channel=`: the same contacts as CSV
//!   (supervisors and admins; streamed page by page; masked like the list; audited as
//!   `contact.export` with its filter);
//! - `GET /api/v1/contacts/{id}`, `PATCH /api/v1/contacts/{id}`: read and edit one contact
//!   (`{id}`: its id or any of its identities' addresses). Supervisors and admins any; an agent
//!   one of whose conversations they may open (else 404). An edit is checked
//!   ([`crate::crm::edit::ContactPatch`]), written field by field, audited (`contact.update`),
//!   and the contact's conversations read it again at once (routing rules, the bot and the
//!   console see the new tags and fields);
//! - `PATCH /api/v1/conversations/{id}/contact`: the same edit of a conversation's contact,
//!   for whoever may open the conversation (the console's customer panel; it works where
//!   numbers, and so contact ids, are masked);
//! - `POST /api/v1/contacts/merge {"into", "from"}` and
//!   `POST /api/v1/conversations/{id}/contact/merge {"from_conversation"}`: fold one contact
//!   into another (the same person on two channels, or twice on one). Whoever may reach both
//!   may merge them; audited (`contact.merge`); it cannot be undone (the console says so before
//!   it asks).
//!
//! - `PUT /api/v1/contacts {"match": {"phone" | "email" | "identity"}, "set": {…}}`: a business
//!   system's upsert ([`crate::crm::upsert`]): the contact the match names is edited like a
//!   PATCH, or created first (by phone or identity) when unknown; 201 when created, else 200;
//!   audited (`contact.create`, `contact.update`); its conversations read it at once, so routing
//!   rules see a tag or field pushed here at the next handoff.
//!
//! People and API keys ([`Actor`]): reading (list, one contact) takes a supervisor, an admin, an
//! agent through a conversation, or a key with `contacts:read`; editing and the upsert a
//! supervisor, an admin (an agent through a conversation for a PATCH) or a key with
//! `contacts:write`. A key sees which conversations a contact has (ids and states, not their
//! messages). Export and merges are for people.
//!
//! Numbers are masked in these views wherever masking is on for anyone (the global default or
//! any team's own setting): a contact is not one team's, so the CRM never shows in clear a
//! number some team keeps masked. Revealing one stays a conversation's audited action.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Actor, Caller};
use super::console::{facts_verdict, permitted};
use super::{ApiError, AppState};
use crate::accounts::policy::{self, Action, BusinessAction, ContactsAction, Verdict};
use crate::accounts::privacy::Masker;
use crate::crm::edit::{self, ContactPatch};
use crate::domain::{ChannelId, CustomerId};
use crate::store::{
    ContactFilter, ContactIdentity, ContactListing, ContactRecord, ConversationRecord, ListCursor,
};

/// The longest search text, tag or language accepted in a list's query.
const QUERY_MAX: usize = 100;

pub fn routes(api: &mut super::openapi::Api) {
    api.op(__path_merge_conversations, merge_conversations)
        .op(
            __path_update_through_conversation,
            update_through_conversation,
        )
        .op(__path_list, list)
        .op(__path_upsert, upsert)
        .op(__path_export, export)
        .op(
            super::contacts_import::__path_import,
            super::contacts_import::import,
        )
        .op(__path_merge, merge)
        .op(__path_read, read)
        .op(__path_update, update);
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    q: Option<String>,
    tag: Option<String>,
    language: Option<String>,
    channel: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

fn bounded(name: &str, value: &Option<String>) -> Result<Option<String>, ApiError> {
    match value.as_deref().map(str::trim) {
        None => Ok(None),
        Some("") => Err(ApiError::BadRequest(format!("`{name}` is empty"))),
        Some(v) if v.chars().count() > QUERY_MAX => Err(ApiError::BadRequest(format!(
            "`{name}` takes at most {QUERY_MAX} characters"
        ))),
        Some(v) => Ok(Some(v.to_string())),
    }
}

/// The refusal of `action` to `actor` on the whole CRM (403).
pub(super) fn refused(actor: &Actor, action: BusinessAction) -> ApiError {
    ApiError::Forbidden(match actor {
        Actor::Person(_) => "only supervisors and admins browse the contacts; agents see a \
                             contact through its conversation"
            .into(),
        Actor::Key(_) => format!("this API key lacks the scope {}", action.scope().as_str()),
    })
}

#[utoipa::path(
    get,
    path = "/contacts",
    tag = "contacts",
    security(("console" = []), ("business" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "OK.", body = super::schemas::ContactsListResponse),
    )
)]
async fn list(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    if !policy::decide_business(actor.who(), BusinessAction::ReadContacts).allowed() {
        return Err(refused(&actor, BusinessAction::ReadContacts));
    }
    actor.audit_read(&req, &state).await;
    let after = match &query.cursor {
        Some(cursor) => Some(ListCursor::decode(cursor).ok_or_else(|| {
            ApiError::BadRequest("`cursor` is not a cursor this API handed out".into())
        })?),
        None => None,
    };
    let max = state.settings.console.max_page_size as i64;
    let limit = query.limit.unwrap_or(50).clamp(1, max);
    let filter = ContactFilter {
        text: bounded("q", &query.q)?.map(|q| q.to_lowercase()),
        tag: bounded("tag", &query.tag)?.map(|t| edit::normalize_tag(&t).unwrap_or(t)),
        language: bounded("language", &query.language)?,
        channel: bounded("channel", &query.channel)?.map(ChannelId::new),
        after,
        // One more than asked: whether there is a next page.
        limit: limit + 1,
    };
    let mut listed = state.store.list_contacts(&filter).await?;
    let next_cursor = if listed.len() as i64 > limit {
        listed.truncate(limit as usize);
        listed.last().map(|l| {
            ListCursor {
                updated_at: l.updated_at,
                id: l.contact.customer.as_str().to_string(),
            }
            .encode()
        })
    } else {
        None
    };
    let contacts = listing_views(&state, &listed).await?;
    Ok(HttpResponse::Ok().json(json!({ "contacts": contacts, "next_cursor": next_cursor })))
}

/// Contacts of a list (the CRM's, a segment's members) as the CRM shows them: with their
/// identities, times and behaviour, masked ([`crm_masker`]).
pub(super) async fn listing_views(
    state: &AppState,
    listed: &[ContactListing],
) -> Result<Vec<Value>, ApiError> {
    let mut contacts = Vec::with_capacity(listed.len());
    for l in listed {
        let identities = state.store.contact_identities(&l.contact.customer).await?;
        let mut view = contact_view(state, &l.contact, &identities);
        view["created_at"] = json!(l.created_at);
        view["updated_at"] = json!(l.updated_at);
        view["first_seen"] = json!(l.behaviour.first_seen);
        view["last_inbound_at"] = json!(l.behaviour.last_inbound_at);
        view["conversations"] = json!(l.behaviour.conversations);
        crm_masker(state, &l.contact, &identities).apply(&mut view);
        contacts.push(view);
    }
    Ok(contacts)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ExportQuery {
    q: Option<String>,
    tag: Option<String>,
    language: Option<String>,
    channel: Option<String>,
}

/// Contacts written per page of an export.
const EXPORT_PAGE: i64 = 500;

#[utoipa::path(
    get,
    path = "/contacts/export.csv",
    tag = "contacts",
    security(("console" = [])),
    params(ExportQuery),
    responses(
        (status = 200, description = "The contacts, as CSV.", body = String, content_type = "text/csv"),
    )
)]
async fn export(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ExportQuery>,
) -> Result<HttpResponse, ApiError> {
    if !policy::decide_contacts(&caller.principal, ContactsAction::Browse).allowed() {
        return Err(ApiError::Forbidden(
            "only supervisors and admins export the contacts".into(),
        ));
    }
    let filter = ContactFilter {
        text: bounded("q", &query.q)?.map(|q| q.to_lowercase()),
        tag: bounded("tag", &query.tag)?.map(|t| edit::normalize_tag(&t).unwrap_or(t)),
        language: bounded("language", &query.language)?,
        channel: bounded("channel", &query.channel)?.map(ChannelId::new),
        after: None,
        limit: EXPORT_PAGE,
    };
    // Personal data leaving the gateway: who took what, before the first byte goes.
    let entry = state.accounts.entry(
        &caller,
        "contact.export",
        None,
        None,
        Some(json!({ "filter": {
            "q": query.q, "tag": query.tag, "language": query.language, "channel": query.channel,
        }})),
        &super::auth::request_meta(&req, &state),
    );
    state.store.append_audit(&entry).await?;
    let state = state.into_inner();
    // Page by page: (the next page's filter, whether the header is written yet); None: done.
    let pages = futures::stream::try_unfold(Some((filter, true)), move |next| {
        let state = state.clone();
        async move {
            let Some((filter, header)) = next else {
                return Ok::<_, actix_web::Error>(None);
            };
            let listed = state
                .store
                .list_contacts(&filter)
                .await
                .map_err(ApiError::from)?;
            let mut rows = Vec::with_capacity(listed.len());
            for l in &listed {
                let identities = state
                    .store
                    .contact_identities(&l.contact.customer)
                    .await
                    .map_err(ApiError::from)?;
                let masker = crm_masker(&state, &l.contact, &identities);
                let channels: Vec<String> = identities
                    .iter()
                    .map(|i| i.channel.as_str().to_string())
                    .collect();
                rows.push(crate::crm::export::row(l, &channels, |s| {
                    masker.text(s).unwrap_or_else(|| s.to_string())
                }));
            }
            let bytes = crate::crm::export::write(header, &rows)
                .map_err(|e| ApiError::Internal(format!("csv: {e}")))?;
            let after = (listed.len() as i64 == filter.limit)
                .then(|| listed.last())
                .flatten()
                .map(|l| ContactFilter {
                    after: Some(ListCursor {
                        updated_at: l.updated_at,
                        id: l.contact.customer.as_str().to_string(),
                    }),
                    ..filter.clone()
                });
            Ok(Some((web::Bytes::from(bytes), after.map(|f| (f, false)))))
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"contacts.csv\"",
        ))
        .streaming(pages))
}

/// A contact the caller may reach, its identities and its conversations they may open (newest
/// first): supervisors and admins any contact; an agent one with a conversation they may open.
/// 404 otherwise, as for a contact that does not exist.
pub(super) struct Reached {
    pub(super) contact: ContactRecord,
    pub(super) identities: Vec<ContactIdentity>,
    pub(super) conversations: Vec<ConversationRecord>,
}

///
/// An API key reaches every contact with the scope of `action` (`contacts:read` to read,
/// `contacts:write` to edit), and no contact without it (403).
pub(super) async fn reach(
    state: &AppState,
    actor: &Actor,
    id: &str,
    action: BusinessAction,
) -> Result<Reached, ApiError> {
    let not_found = || ApiError::NotFound("no such contact".into());
    if let Actor::Key(_) = actor
        && !policy::decide_business(actor.who(), action).allowed()
    {
        return Err(refused(actor, action));
    }
    if id.is_empty() || id.chars().count() > 512 {
        return Err(not_found());
    }
    let contact = state
        .store
        .load_contact(&CustomerId::new(id))
        .await?
        .ok_or_else(not_found)?;
    let conversations = visible_conversations(state, actor, &contact.customer).await?;
    let everyone = match actor {
        Actor::Person(caller) => {
            policy::decide_contacts(&caller.principal, ContactsAction::Edit).allowed()
        }
        Actor::Key(_) => true,
    };
    if !everyone && conversations.is_empty() {
        return Err(not_found());
    }
    let identities = state.store.contact_identities(&contact.customer).await?;
    Ok(Reached {
        contact,
        identities,
        conversations,
    })
}

/// The contact's conversations (its 50 newest) the caller may open, newest first (a key, with
/// the contacts' scope, sees which conversations a contact has: their ids and states, not
/// their messages).
async fn visible_conversations(
    state: &AppState,
    actor: &Actor,
    contact: &CustomerId,
) -> Result<Vec<ConversationRecord>, ApiError> {
    let all = state.store.customer_conversations(contact, 50).await?;
    let Actor::Person(caller) = actor else {
        return Ok(all);
    };
    let mut visible = Vec::new();
    for c in all {
        if facts_verdict(state, caller, &c, Action::View).await == Verdict::Allow {
            visible.push(c);
        }
    }
    Ok(visible)
}

#[utoipa::path(
    get,
    path = "/contacts/{id}",
    tag = "contacts",
    security(("console" = []), ("business" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "OK.", body = super::schemas::ContactsReadResponse),
    )
)]
async fn read(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let reached = reach(&state, &actor, &id, BusinessAction::ReadContacts).await?;
    actor.audit_read(&req, &state).await;
    let mut body = answer(&state, &reached);
    // Its marketing consent per WhatsApp number (the history: `GET /contacts/{id}/consent`).
    let consent =
        super::campaigns::consent_of(&state, &reached.contact, &reached.identities).await?;
    body["contact"]["consent"] = consent
        .iter()
        .map(super::campaigns::ChannelConsent::summary)
        .collect();
    Ok(HttpResponse::Ok().json(body))
}

#[utoipa::path(
    patch,
    path = "/contacts/{id}",
    tag = "contacts",
    security(("console" = []), ("business" = [])),
    params(("id" = String, Path)),
    request_body = ContactPatch,
    responses(
        (status = 200, description = "OK.", body = super::schemas::ContactsUpdateResponse),
    )
)]
async fn update(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    body: web::Json<ContactPatch>,
) -> Result<HttpResponse, ApiError> {
    let reached = reach(&state, &actor, &id, BusinessAction::WriteContacts).await?;
    let reached = apply_patch(&req, &state, &actor, reached, &body).await?;
    Ok(HttpResponse::Ok().json(answer(&state, &reached)))
}

#[utoipa::path(
    patch,
    path = "/conversations/{id}/contact",
    tag = "contacts",
    security(("console" = [])),
    params(("id" = String, Path)),
    request_body = ContactPatch,
    responses(
        (status = 200, description = "OK.", body = super::schemas::ContactsUpdateThroughConversationResponse),
    )
)]
async fn update_through_conversation(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    body: web::Json<ContactPatch>,
) -> Result<HttpResponse, ApiError> {
    let conversation = permitted(&state, &caller, &id, Action::View).await?;
    let contact = state
        .store
        .load_contact(&conversation.customer)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such contact".into()))?;
    let identities = state.store.contact_identities(&contact.customer).await?;
    let reached = Reached {
        contact,
        identities,
        conversations: Vec::new(),
    };
    let actor = Actor::Person(caller);
    let reached = apply_patch(&req, &state, &actor, reached, &body).await?;
    Ok(HttpResponse::Ok().json(through(&state, &conversation, &reached)))
}

/// `{"contact": …}` for a caller who came through `conversation`: masked as its team masks.
fn through(state: &AppState, conversation: &ConversationRecord, reached: &Reached) -> Value {
    let addresses: Vec<&str> = reached
        .identities
        .iter()
        .map(|i| i.address.as_str())
        .collect();
    let mut body = json!({ "contact": contact_view(state, &reached.contact, &reached.identities) });
    state
        .desk
        .masker(conversation, Some(&reached.contact), &addresses)
        .apply(&mut body);
    body
}

/// Check `patch` against the contact, write it field by field, audit it, and tell the
/// contact's conversations; the contact as it is now. Nothing changes on a refusal.
async fn apply_patch(
    req: &HttpRequest,
    state: &AppState,
    actor: &Actor,
    reached: Reached,
    patch: &ContactPatch,
) -> Result<Reached, ApiError> {
    let changes = patch
        .changes(&reached.contact, state.desk.directory.get().fields())
        .map_err(|e| ApiError::Unprocessable {
            code: "invalid_contact",
            message: format!("{}: {}", e.field, e.message),
        })?;
    if changes.is_empty() {
        return Ok(reached);
    }
    // `contact.updated` for the business's webhooks, in order with the contact's most recent
    // conversation (written in the same transaction as the edit).
    let via = state
        .store
        .customer_conversations(&reached.contact.customer, 1)
        .await?;
    let now = chrono::Utc::now().timestamp_millis();
    let webhooks = via
        .first()
        .map(|c| crate::integrations::webhooks::events::contact_updated(c, now))
        .into_iter()
        .collect();
    let (before, after) = state
        .store
        .update_contact(&reached.contact.customer, &changes, webhooks)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such contact".into()))?;
    let entry = actor.entry(
        state,
        "contact.update",
        Some(("contact", after.customer.as_str())),
        Some(json!({ "contact": before })),
        Some(json!({ "contact": after })),
        &super::auth::request_meta(req, state),
    );
    state.store.append_audit(&entry).await?;
    // Its conversations' actors read it again: routing rules, the bot and the views see it.
    state.desk.contact_changed(&reached.identities, None);
    Ok(Reached {
        contact: after,
        ..reached
    })
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeContactsBody {
    /// The contact that stays (its id or any of its addresses).
    into: String,
    /// The contact folded into it.
    from: String,
}

#[utoipa::path(
    post,
    path = "/contacts/merge",
    tag = "contacts",
    security(("console" = [])),
    request_body = MergeContactsBody,
    responses(
        (status = 200, description = "OK.", body = super::schemas::ContactsMergeResponse),
    )
)]
async fn merge(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    body: web::Json<MergeContactsBody>,
) -> Result<HttpResponse, ApiError> {
    let actor = Actor::Person(caller);
    let into = reach(&state, &actor, &body.into, BusinessAction::WriteContacts).await?;
    let from = reach(&state, &actor, &body.from, BusinessAction::WriteContacts).await?;
    let merged = merge_reached(&req, &state, &actor, into.contact, from.contact).await?;
    Ok(HttpResponse::Ok().json(answer(&state, &merged)))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeBody {
    /// A conversation of the contact to fold in.
    from_conversation: String,
}

#[utoipa::path(
    post,
    path = "/conversations/{id}/contact/merge",
    tag = "contacts",
    security(("console" = [])),
    params(("id" = String, Path)),
    request_body = MergeBody,
    responses(
        (status = 200, description = "OK.", body = super::schemas::ContactsMergeConversationsResponse),
    )
)]
async fn merge_conversations(
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
    let merged = merge_reached(&req, &state, &Actor::Person(caller), survivor, gone).await?;
    Ok(HttpResponse::Ok().json(through(&state, &into, &merged)))
}

/// Fold `gone` into `survivor`, audited; their conversations read the contact again.
async fn merge_reached(
    req: &HttpRequest,
    state: &AppState,
    actor: &Actor,
    survivor: ContactRecord,
    gone: ContactRecord,
) -> Result<Reached, ApiError> {
    if survivor.customer == gone.customer {
        return Err(ApiError::Unprocessable {
            code: "same_contact",
            message: "these are already the same contact".into(),
        });
    }
    let merged = state
        .store
        .merge_contacts(&survivor.customer, &gone.customer)
        .await?
        .ok_or_else(|| ApiError::NotFound("no such contact".into()))?;
    let entry = actor.entry(
        state,
        "contact.merge",
        Some(("contact", merged.customer.as_str())),
        Some(json!({ "into": survivor, "from": gone })),
        Some(json!({ "contact": merged })),
        &super::auth::request_meta(req, state),
    );
    state.store.append_audit(&entry).await?;
    let identities = state.store.contact_identities(&merged.customer).await?;
    // Their conversations' actors read the contact again (routing, the bot, the views).
    state.desk.contact_changed(&identities, None);
    let conversations = visible_conversations(state, actor, &merged.customer).await?;
    Ok(Reached {
        contact: merged,
        identities,
        conversations,
    })
}

/// `{"contact": …}` with the conversations the caller may open, masked for the CRM.
fn answer(state: &AppState, reached: &Reached) -> Value {
    let mut contact = contact_view(state, &reached.contact, &reached.identities);
    contact["conversations"] = reached
        .conversations
        .iter()
        .map(|c| {
            json!({
                "id": c.id,
                "channel": c.channel,
                "channel_kind": crate::channels::kind_of(&c.customer).as_str(),
                "status": c.status.as_str(),
                "team": c.team,
                "assignee": c.assignee,
                "created_at": c.created_at,
                "updated_at": c.updated_at,
            })
        })
        .collect();
    let mut body = json!({ "contact": contact });
    crm_masker(state, &reached.contact, &reached.identities).apply(&mut body);
    body
}

/// What the CRM shows of a contact.
pub(crate) fn contact_view(
    state: &AppState,
    contact: &ContactRecord,
    identities: &[ContactIdentity],
) -> Value {
    let number = |key: &str| contact.fields.get(key).and_then(|v| v.parse::<f64>().ok());
    let location = match (number(edit::LAT_FIELD), number(edit::LON_FIELD)) {
        (Some(latitude), Some(longitude)) => {
            json!({ "latitude": latitude, "longitude": longitude })
        }
        _ => Value::Null,
    };
    json!({
        "id": contact.customer,
        "name": contact.name,
        "phone": contact.phone,
        "email": contact.fields.get(edit::EMAIL_FIELD),
        "language": contact.language,
        "location": location,
        "tags": contact.tags,
        "fields": contact.fields,
        "identities": identities.iter().map(|i| json!({
            "channel": i.channel,
            "kind": state.settings.channels.get(i.channel.as_str()).map(|c| c.kind.as_str()),
            "address": i.address,
            "first_seen": i.first_seen,
        })).collect::<Vec<_>>(),
    })
}

/// Masks the contact's numbers (its phone, its ids and addresses that are numbers) wherever
/// masking is on for anyone: the global default or any team's own setting.
fn crm_masker(state: &AppState, contact: &ContactRecord, identities: &[ContactIdentity]) -> Masker {
    let people = state.desk.directory.get();
    let global = state.settings.security.mask_numbers;
    let masks = global || people.teams().any(|t| t.mask_numbers.unwrap_or(global));
    if !masks {
        return Masker::default();
    }
    // The numbers only: a Telegram chat's or a PSID's address is no phone number.
    let mut numbers = vec![contact.customer.as_str()];
    if let Some(phone) = contact.phone.as_deref() {
        numbers.push(phone);
    }
    numbers.extend(identities.iter().map(|i| i.address.as_str()));
    Masker::new(
        numbers
            .into_iter()
            .filter(|n| crate::accounts::privacy::phone_digits(n).is_some()),
    )
}

/// The contact `by` names, if one is known: by id or address first, else the one whose phone
/// or email it is (409 when an email names several).
pub(super) async fn find(
    state: &AppState,
    by: &crate::crm::upsert::Match,
) -> Result<Option<ContactRecord>, ApiError> {
    use crate::crm::upsert::Match;
    if let Some(id) = by.lookup()
        && let Some(found) = state.store.load_contact(&id).await?
    {
        return Ok(Some(found));
    }
    let text = match by {
        Match::Phone(digits) => digits.clone(),
        Match::Email(email) => email.clone(),
        Match::Identity { .. } => return Ok(None),
    };
    let candidates = state
        .store
        .list_contacts(&ContactFilter {
            text: Some(text),
            tag: None,
            language: None,
            channel: None,
            after: None,
            limit: 20,
        })
        .await?;
    let mut exact = candidates
        .into_iter()
        .map(|l| l.contact)
        .filter(|c| by.is(c));
    let first = exact.next();
    if first.is_some() && exact.next().is_some() {
        return Err(ApiError::Conflict(
            "several contacts match: name the contact by `phone` or `identity`".into(),
        ));
    }
    Ok(first)
}

#[utoipa::path(
    put,
    path = "/contacts",
    tag = "contacts",
    security(("console" = []), ("business" = [])),
    request_body = crate::crm::upsert::UpsertBody,
    responses(
        (status = 201, description = "Created.", body = super::schemas::ContactsUpsertResponse),
    )
)]
async fn upsert(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    body: web::Json<crate::crm::upsert::UpsertBody>,
) -> Result<HttpResponse, ApiError> {
    use crate::crm::upsert::Match;
    if !policy::decide_business(actor.who(), BusinessAction::WriteContacts).allowed() {
        return Err(refused(&actor, BusinessAction::WriteContacts));
    }
    let by = body.by.parse().map_err(ApiError::BadRequest)?;
    if let Match::Identity { channel, .. } = &by
        && !state.settings.channels.contains_key(channel)
    {
        return Err(ApiError::Unprocessable {
            code: "unknown_channel",
            message: format!("`match.identity.channel`: no channel {channel:?}"),
        });
    }
    let existing = find(&state, &by).await?;
    let (base, seed) = match existing {
        Some(found) => (found, None),
        None => match by.seed() {
            Some(seed) => (seed.clone(), Some(seed)),
            None => {
                return Err(ApiError::NotFound(
                    "no contact has this email; match by `phone` or `identity` to create one"
                        .into(),
                ));
            }
        },
    };
    let changes = body
        .set
        .changes(&base, state.desk.directory.get().fields())
        .map_err(|e| ApiError::Unprocessable {
            code: "invalid_contact",
            message: format!("{}: {}", e.field, e.message),
        })?;
    let written = write_upsert(&state, base, seed, &changes).await?;
    let created = matches!(written, Written::Created(_));
    let (before, after) = match written {
        Written::Created(after) | Written::Unchanged(after) => (None, after),
        Written::Updated { before, after } => (Some(before), after),
    };
    if created || before.is_some() {
        let action = if created {
            "contact.create"
        } else {
            "contact.update"
        };
        let entry = actor.entry(
            &state,
            action,
            Some(("contact", after.customer.as_str())),
            before.map(|base| json!({ "contact": base })),
            Some(json!({ "contact": after })),
            &super::auth::request_meta(&req, &state),
        );
        state.store.append_audit(&entry).await?;
    }
    let identities = state.store.contact_identities(&after.customer).await?;
    let conversations = visible_conversations(&state, &actor, &after.customer).await?;
    let reached = Reached {
        contact: after,
        identities,
        conversations,
    };
    let mut answered = answer(&state, &reached);
    answered["created"] = json!(created);
    Ok(if created {
        HttpResponse::Created().json(answered)
    } else {
        HttpResponse::Ok().json(answered)
    })
}

/// What writing one upsert did.
pub(super) enum Written {
    Created(ContactRecord),
    Updated {
        before: ContactRecord,
        after: ContactRecord,
    },
    Unchanged(ContactRecord),
}

/// Write checked `changes` to `base` (the contact found), or create `seed` with them; an edit
/// sends `contact.updated` to the business's webhooks. The contact's conversations read it
/// again at once (routing rules see the new tags and fields at the next handoff). Not audited:
/// the caller audits (one entry per upsert, one per import).
pub(super) async fn write_upsert(
    state: &AppState,
    base: ContactRecord,
    seed: Option<ContactRecord>,
    changes: &crate::crm::contact::ContactChanges,
) -> Result<Written, ApiError> {
    let written = if let Some(seed) = &seed {
        let (_, after) = state
            .store
            .upsert_contact(seed, changes, Vec::new())
            .await?
            .ok_or_else(|| ApiError::Internal("an upsert wrote no contact".into()))?;
        Written::Created(after)
    } else if changes.is_empty() {
        return Ok(Written::Unchanged(base));
    } else {
        // `contact.updated` for the business's webhooks, as for a person's edit.
        let via = state
            .store
            .customer_conversations(&base.customer, 1)
            .await?;
        let now = chrono::Utc::now().timestamp_millis();
        let webhooks = via
            .first()
            .map(|c| crate::integrations::webhooks::events::contact_updated(c, now))
            .into_iter()
            .collect();
        let (_, after) = state
            .store
            .update_contact(&base.customer, changes, webhooks)
            .await?
            .ok_or_else(|| ApiError::NotFound("no such contact".into()))?;
        Written::Updated {
            before: base,
            after,
        }
    };
    let after = match &written {
        Written::Created(after) | Written::Updated { after, .. } | Written::Unchanged(after) => {
            after
        }
    };
    let identities = state.store.contact_identities(&after.customer).await?;
    // Its conversations' actors read it again: routing rules see the new tags and fields.
    state.desk.contact_changed(&identities, None);
    Ok(written)
}
