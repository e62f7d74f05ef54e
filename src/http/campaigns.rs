//! Templates and the consent ledger over HTTP (docs/CAMPAIGNS.md, docs/CONSOLE_API.md):
//!
//! - `GET /api/v1/templates?channel=&status=&category=`: the synced WhatsApp templates
//!   (supervisors, admins; keys with `messages:send` or `campaigns:write`).
//! - `POST /api/v1/templates/sync` `{"channel"?}`: sync from Meta now (admins; keys with
//!   `campaigns:write`); audited (`templates.sync`).
//! - `GET /api/v1/contacts/{id}/consent`: the contact's consent per WhatsApp number, its state
//!   and history (whoever may read the contact).
//! - `POST /api/v1/contacts/{id}/consent` `{"channel", "event"?, "source"?, "proof"}`: record
//!   an opt-in (or an opt-out) with its proof (whoever may edit the contact, and an agent of a
//!   conversation with it); audited (`consent.record`).
//! - `GET /api/v1/consent.csv`: the whole ledger as CSV (admins; keys with `campaigns:write`);
//!   audited (`consent.export`).
//! - `POST /api/v1/templates/preview` `{"channel", "name", "language", "header"?, "body"?,
//!   "buttons"?}`: a template filled with its parameters, `{"preview", "components",
//!   "category"}` or a 422 naming the problem (everyone signed in; keys with `messages:send` or
//!   `campaigns:write`).
//! - `GET /api/v1/conversations/{id}/templates`: the approved templates of the conversation's
//!   WhatsApp number and what each asks for (whoever may reply there); an agent sends one with
//!   `POST /api/v1/conversations/{id}/messages` `{"template": {...}}` ([`agent_template`]).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::auth::{Actor, Caller, request_meta};
use super::{ApiError, AppState};
use crate::accounts::policy::Action;
use crate::accounts::policy::{self, BusinessAction, CampaignAction};
use crate::campaigns::compose::{
    self, BodyInput, ButtonInput, Form, HeaderInput, Preview, Problem, TemplateInput,
};
use crate::campaigns::consent::{ConsentEvent, ConsentSource};
use crate::campaigns::records::{ConsentEntry, NewConsent};
use crate::campaigns::templates::{self, Category, Template};
use crate::campaigns::{SyncError, SyncReport};
use crate::domain::{ChannelKind, OutboundContent};
use crate::integrations::send::{Refusal, address_on, unusable_refusal};

pub fn routes(api: &mut super::openapi::Api) {
    api.op(__path_list_templates, list_templates)
        .op(__path_sync_templates, sync_templates)
        .op(__path_contact_consent, contact_consent)
        .op(__path_record_consent, record_consent)
        .op(__path_export_consent, export_consent)
        .op(__path_preview_template, preview_template)
        .op(__path_conversation_templates, conversation_templates);
}

/// The longest proof text.
pub const MAX_PROOF: usize = 2000;

fn allowed(actor: &Actor, action: CampaignAction) -> Result<(), ApiError> {
    if policy::decide_campaigns(actor.who(), action).allowed() {
        return Ok(());
    }
    Err(ApiError::Forbidden(match (actor, action) {
        (Actor::Key(_), CampaignAction::ViewTemplates) => {
            "this API key lacks the scope messages:send or campaigns:write".into()
        }
        (Actor::Key(_), _) => "this API key lacks the scope campaigns:write".into(),
        (Actor::Person(_), CampaignAction::ViewTemplates) => {
            "only supervisors and admins see the templates".into()
        }
        (Actor::Person(_), _) => "only admins do this".into(),
    }))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
struct TemplatesQuery {
    /// Only this channel's templates.
    channel: Option<String>,
    /// Only templates in this status (APPROVED, PAUSED...).
    status: Option<String>,
    /// Only templates of this category (MARKETING, UTILITY, AUTHENTICATION).
    category: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct TemplatesResponse {
    templates: Vec<Template>,
}

/// The synced WhatsApp templates.
#[utoipa::path(
    get,
    path = "/templates",
    tag = "campaigns",
    security(("console" = []), ("business" = [])),
    params(TemplatesQuery),
    responses(
        (status = 200, description = "The templates, by channel, name and language.", body = TemplatesResponse),
    )
)]
async fn list_templates(
    state: web::Data<AppState>,
    actor: Actor,
    query: web::Query<TemplatesQuery>,
) -> Result<HttpResponse, ApiError> {
    allowed(&actor, CampaignAction::ViewTemplates)?;
    let query = query.into_inner();
    let category = match query.category.as_deref() {
        None => None,
        Some(c) => Some(Category::parse(c).ok_or_else(|| {
            ApiError::BadRequest("`category` is one of MARKETING, UTILITY, AUTHENTICATION".into())
        })?),
    };
    let status = query.status.map(|s| s.trim().to_ascii_uppercase());
    let templates = state
        .campaigns
        .records
        .templates(query.channel.as_deref())
        .await?
        .into_iter()
        .filter(|t| category.is_none_or(|c| t.category == c))
        .filter(|t| status.as_ref().is_none_or(|s| &t.status == s))
        .collect();
    Ok(HttpResponse::Ok().json(TemplatesResponse { templates }))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct SyncBody {
    /// Only this channel (default: every WhatsApp channel with a `waba_id`).
    #[serde(default)]
    channel: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct SyncFailure {
    channel: String,
    error: String,
}

#[derive(Serialize, utoipa::ToSchema)]
struct SyncResponse {
    synced: Vec<SyncReport>,
    failed: Vec<SyncFailure>,
}

/// Sync the templates from Meta now (each channel's business account, every page).
#[utoipa::path(
    post,
    path = "/templates/sync",
    tag = "campaigns",
    security(("console" = []), ("business" = [])),
    request_body(content = SyncBody, description = "Optional: `{}` or no body syncs every channel."),
    responses(
        (status = 200, description = "Synced (a channel Meta failed for is listed in `failed`).", body = SyncResponse),
    )
)]
async fn sync_templates(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    allowed(&actor, CampaignAction::SyncTemplates)?;
    let body: SyncBody = if body.iter().all(u8::is_ascii_whitespace) {
        SyncBody::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("the body is not a sync request: {e}")))?
    };
    let channels = match body.channel {
        Some(channel) => {
            if !state.campaigns.synced_channels().contains(&channel) {
                return Err(ApiError::Unprocessable {
                    code: "unknown_channel",
                    message: format!(
                        "`channel`: {channel:?} is no WhatsApp channel with a `waba_id`"
                    ),
                });
            }
            vec![channel]
        }
        None => state.campaigns.synced_channels(),
    };
    let mut synced = Vec::new();
    let mut failed = Vec::new();
    for channel in channels {
        match state.campaigns.sync(&channel).await {
            Ok(report) => synced.push(report),
            Err(SyncError::Store(e)) => return Err(e.into()),
            Err(e) => failed.push(SyncFailure {
                channel,
                error: e.to_string(),
            }),
        }
    }
    let entry = actor.entry(
        &state,
        "templates.sync",
        None,
        None,
        Some(json!({
            "synced": synced.iter().map(|r| json!({"channel": r.channel, "templates": r.templates, "removed": r.removed})).collect::<Vec<_>>(),
            "failed": failed.iter().map(|f| &f.channel).collect::<Vec<_>>(),
        })),
        &request_meta(&req, &state),
    );
    state.accounts.audit(&entry).await;
    Ok(HttpResponse::Ok().json(SyncResponse { synced, failed }))
}

/// One ledger entry as the API shows it (the customer's address is not repeated).
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct ConsentEntryView {
    id: String,
    channel: String,
    event: ConsentEvent,
    source: ConsentSource,
    proof: Option<String>,
    actor: Option<String>,
    at: i64,
}

impl From<ConsentEntry> for ConsentEntryView {
    fn from(e: ConsentEntry) -> Self {
        Self {
            id: e.id,
            channel: e.channel,
            event: e.event,
            source: e.source,
            proof: e.proof,
            actor: e.actor,
            at: e.at,
        }
    }
}

/// A contact's consent on one WhatsApp number.
#[derive(Serialize, utoipa::ToSchema)]
pub(super) struct ChannelConsent {
    channel: String,
    /// The last event; null: never asked.
    state: Option<ConsentEvent>,
    /// Whether a marketing template may go to the contact on this number now.
    marketing_allowed: bool,
    /// Unix ms of the last event.
    updated_at: Option<i64>,
    /// The ledger, oldest first.
    history: Vec<ConsentEntryView>,
}

impl ChannelConsent {
    /// The state alone, as the contact's view carries it (`GET /contacts/{id}`).
    pub(super) fn summary(&self) -> serde_json::Value {
        json!({
            "channel": self.channel,
            "state": self.state,
            "marketing_allowed": self.marketing_allowed,
            "updated_at": self.updated_at,
        })
    }
}

#[derive(Serialize, utoipa::ToSchema)]
struct ConsentResponse {
    contact: String,
    consent: Vec<ChannelConsent>,
}

/// The contact's consent per WhatsApp number (numbers it cannot be reached on are left out).
pub(super) async fn consent_of(
    state: &AppState,
    contact: &crate::store::ContactRecord,
    identities: &[crate::store::ContactIdentity],
) -> Result<Vec<ChannelConsent>, ApiError> {
    let mut out = Vec::new();
    for (channel, settings) in &state.settings.channels {
        if settings.kind != ChannelKind::Whatsapp {
            continue;
        }
        let Some(address) = address_on(
            channel,
            ChannelKind::Whatsapp,
            identities,
            contact.phone.as_deref(),
        ) else {
            continue;
        };
        let history = state
            .campaigns
            .records
            .consent_history(channel, address.as_str())
            .await?;
        let last = history.last();
        let state_now = last.map(|e| e.event);
        out.push(ChannelConsent {
            channel: channel.clone(),
            state: state_now,
            marketing_allowed: state_now == Some(ConsentEvent::OptedIn),
            updated_at: last.map(|e| e.at),
            history: history.into_iter().map(Into::into).collect(),
        });
    }
    Ok(out)
}

/// A contact's consent: per WhatsApp number, the state and the history.
#[utoipa::path(
    get,
    path = "/contacts/{id}/consent",
    tag = "contacts",
    security(("console" = []), ("business" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The contact's consent per WhatsApp number.", body = ConsentResponse),
    )
)]
async fn contact_consent(
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let reached = super::contacts::reach(&state, &actor, &id, BusinessAction::ReadContacts).await?;
    let consent = consent_of(&state, &reached.contact, &reached.identities).await?;
    Ok(HttpResponse::Ok().json(ConsentResponse {
        contact: reached.contact.customer.to_string(),
        consent,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RecordBody {
    /// The WhatsApp channel (business number).
    channel: String,
    /// Default `opted_in`.
    #[serde(default)]
    event: Option<ConsentEvent>,
    /// Default: `agent` for a person, `api` for a key; also `bot`, `web_form`, `import`.
    #[serde(default)]
    source: Option<ConsentSource>,
    /// What proves it: the customer's words, the form's reference (required for an opt-in).
    #[serde(default)]
    proof: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct RecordResponse {
    entry: ConsentEntryView,
    consent: Vec<ChannelConsent>,
}

/// Record a contact's opt-in (or opt-out) on a WhatsApp number, with its proof.
#[utoipa::path(
    post,
    path = "/contacts/{id}/consent",
    tag = "contacts",
    security(("console" = []), ("business" = [])),
    params(("id" = String, Path)),
    request_body = RecordBody,
    responses(
        (status = 201, description = "Recorded.", body = RecordResponse),
    )
)]
async fn record_consent(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    id: web::Path<String>,
    body: web::Json<RecordBody>,
) -> Result<HttpResponse, ApiError> {
    let RecordBody {
        channel,
        event,
        source,
        proof,
    } = body.into_inner();
    let event = event.unwrap_or(ConsentEvent::OptedIn);
    let source = source.unwrap_or(match actor {
        Actor::Person(_) => ConsentSource::Agent,
        Actor::Key(_) => ConsentSource::Api,
    });
    if !source.recordable() {
        return Err(ApiError::BadRequest(format!(
            "`source`: {} is recorded as it happens, not by hand (use agent, api, bot, \
             web_form or import)",
            source.as_str()
        )));
    }
    let proof = proof.map(|p| p.trim().to_owned()).filter(|p| !p.is_empty());
    if proof
        .as_ref()
        .is_some_and(|p| p.chars().count() > MAX_PROOF)
    {
        return Err(ApiError::BadRequest(format!(
            "`proof` holds at most {MAX_PROOF} characters"
        )));
    }
    if event == ConsentEvent::OptedIn && proof.is_none() {
        return Err(ApiError::BadRequest(
            "`proof` is required for an opt-in: the customer's words or the form that shows \
             they agreed"
                .into(),
        ));
    }
    let Some(settings) = state.settings.channels.get(&channel) else {
        return Err(ApiError::Unprocessable {
            code: "unknown_channel",
            message: format!("`channel`: no channel {channel:?}"),
        });
    };
    if settings.kind != ChannelKind::Whatsapp {
        return Err(ApiError::Unprocessable {
            code: "not_whatsapp",
            message: format!(
                "`channel`: consent is kept per WhatsApp number; {channel:?} is not one"
            ),
        });
    }
    let reached =
        super::contacts::reach(&state, &actor, &id, BusinessAction::WriteContacts).await?;
    let Some(address) = address_on(
        &channel,
        ChannelKind::Whatsapp,
        &reached.identities,
        reached.contact.phone.as_deref(),
    ) else {
        return Err(ApiError::Unprocessable {
            code: "no_address",
            message: format!(
                "the contact has no WhatsApp number for channel {channel:?} (no identity there \
                 and no phone number)"
            ),
        });
    };
    let who = match &actor {
        Actor::Person(caller) => format!("user:{}", caller.principal.user),
        Actor::Key(key) => format!("key:{}", key.id),
    };
    let entry = state
        .campaigns
        .records
        .append_consent(&NewConsent {
            channel: channel.clone(),
            address: address.to_string(),
            event,
            source,
            proof: proof.clone(),
            actor: Some(who),
            reference: None,
            at: chrono::Utc::now().timestamp_millis(),
        })
        .await?
        .ok_or_else(|| ApiError::Internal("the consent entry was not recorded".into()))?;
    let audit = actor.entry(
        &state,
        "consent.record",
        Some(("contact", reached.contact.customer.as_str())),
        None,
        Some(json!({
            "channel": channel,
            "event": event.as_str(),
            "source": source.as_str(),
            "entry": entry.id,
        })),
        &request_meta(&req, &state),
    );
    state.store.append_audit(&audit).await?;
    let consent = consent_of(&state, &reached.contact, &reached.identities).await?;
    Ok(HttpResponse::Created().json(RecordResponse {
        entry: entry.into(),
        consent,
    }))
}

/// Rows read per page of the export.
const EXPORT_PAGE: i64 = 1000;

/// The whole consent ledger as CSV, oldest first: one row per entry.
#[utoipa::path(
    get,
    path = "/consent.csv",
    tag = "campaigns",
    security(("console" = []), ("business" = [])),
    responses(
        (status = 200, description = "The ledger, as CSV.", body = String, content_type = "text/csv"),
    )
)]
async fn export_consent(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
) -> Result<HttpResponse, ApiError> {
    allowed(&actor, CampaignAction::ExportConsent)?;
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let csv_error = |e: csv::Error| ApiError::Internal(format!("CSV: {e}"));
    out.write_record([
        "seq", "id", "at", "channel", "address", "event", "source", "proof", "actor",
    ])
    .map_err(csv_error)?;
    let mut after = 0;
    let mut rows = 0usize;
    loop {
        let page = state
            .campaigns
            .records
            .consent_page(after, EXPORT_PAGE)
            .await?;
        let Some(last) = page.last() else { break };
        after = last.seq;
        let full = page.len() as i64 == EXPORT_PAGE;
        for e in page {
            rows += 1;
            let at = chrono::DateTime::from_timestamp_millis(e.at)
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                .unwrap_or_default();
            out.write_record([
                e.seq.to_string(),
                e.id,
                at,
                e.channel,
                e.address,
                e.event.as_str().to_owned(),
                e.source.as_str().to_owned(),
                crate::crm::export::cell(e.proof.as_deref().unwrap_or("")),
                e.actor.unwrap_or_default(),
            ])
            .map_err(csv_error)?;
        }
        if !full {
            break;
        }
    }
    let bytes = out
        .into_inner()
        .map_err(|e| ApiError::Internal(format!("CSV: {e}")))?;
    let entry = actor.entry(
        &state,
        "consent.export",
        None,
        None,
        Some(json!({ "rows": rows })),
        &request_meta(&req, &state),
    );
    state.store.append_audit(&entry).await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            "attachment; filename=\"consent.csv\"",
        ))
        .body(bytes))
}

/// A template of the conversation's number as the composer offers it: what it asks for.
#[derive(Serialize, utoipa::ToSchema)]
struct OfferedTemplate {
    name: String,
    language: String,
    category: Category,
    form: Form,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ConversationTemplates {
    channel: String,
    /// The contact's language, when known (the templates in it come first).
    language: Option<String>,
    templates: Vec<OfferedTemplate>,
}

/// Whether a template's language (`en_US`) is `language` (`en`, `en-US`), or shares its base.
fn same_language(template: &str, language: &str) -> bool {
    let base = |l: &str| {
        l.split(['_', '-'])
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase()
    };
    base(template) == base(language)
}

/// The approved templates an agent may send in a conversation (its WhatsApp number's), with
/// what each asks for; those in the contact's language first.
#[utoipa::path(
    get,
    path = "/conversations/{id}/templates",
    tag = "console",
    security(("console" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The number's approved templates.", body = ConversationTemplates),
    )
)]
async fn conversation_templates(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let conversation = super::console::permitted(&state, &caller, &id, Action::Reply).await?;
    let channel = conversation.channel.as_str().to_owned();
    let language = state
        .store
        .load_contact(&conversation.customer)
        .await?
        .and_then(|c| c.language);
    let whatsapp = state
        .settings
        .channels
        .get(&channel)
        .is_some_and(|c| c.kind == ChannelKind::Whatsapp);
    let mut templates: Vec<OfferedTemplate> = if whatsapp {
        state
            .campaigns
            .records
            .templates(Some(&channel))
            .await?
            .into_iter()
            .filter(|t| templates::usable(Some(t)).is_ok())
            .map(|t| OfferedTemplate {
                form: compose::form(&t),
                name: t.name,
                language: t.language,
                category: t.category,
            })
            .collect()
    } else {
        Vec::new()
    };
    if let Some(language) = &language {
        templates.sort_by_key(|t| !same_language(&t.language, language));
    }
    Ok(HttpResponse::Ok().json(ConversationTemplates {
        channel,
        language,
        templates,
    }))
}

/// A template and its parameters, as a person fills them (docs/CAMPAIGNS.md, "Sending a
/// template").
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TemplateFill {
    name: String,
    /// The template's language code (`en_US`, `es`).
    language: String,
    #[serde(default)]
    header: Option<HeaderInput>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    body: Option<BodyInput>,
    #[serde(default)]
    buttons: Vec<ButtonInput>,
}

impl TemplateFill {
    fn input(&self) -> TemplateInput {
        TemplateInput {
            header: self.header.clone(),
            body: self.body.clone(),
            buttons: self.buttons.clone(),
        }
    }
}

/// The stored template of `channel` a fill names, if it may be sent (synced, APPROVED).
async fn usable_template(
    state: &AppState,
    channel: &str,
    fill: &TemplateFill,
) -> Result<Template, ApiError> {
    let template = state
        .campaigns
        .records
        .template(channel, &fill.name, &fill.language)
        .await?;
    match templates::usable(template.as_ref()) {
        Ok(_) => template.ok_or_else(|| ApiError::Internal("a usable template is stored".into())),
        Err(unusable) => Err(refused(unusable_refusal(
            &fill.name,
            &fill.language,
            unusable,
        ))),
    }
}

fn refused(refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::BadRequest(message) => ApiError::BadRequest(message),
        Refusal::Rule { code, message } => ApiError::Unprocessable { code, message },
    }
}

/// The input's problems as one 422: the first one's code, every one in the message.
fn problems_error(problems: &[Problem]) -> ApiError {
    let message = problems
        .iter()
        .map(|p| format!("`{}`: {}", p.field, p.message))
        .collect::<Vec<_>>()
        .join("; ");
    ApiError::Unprocessable {
        code: problems.first().map_or("invalid_parameters", |p| p.code),
        message,
    }
}

/// The template message an agent sends in `conversation`: on a WhatsApp number only, a
/// template synced and APPROVED there, the country and consent rules of a business system's
/// send ([`crate::campaigns::Campaigns::template_check`]: marketing only to a contact opted in
/// on that number), its parameters checked ([`compose`]). The window does not matter: a
/// template is what goes after it closed.
pub(super) async fn agent_template(
    state: &AppState,
    conversation: &crate::store::ConversationRecord,
    fill: &TemplateFill,
) -> Result<OutboundContent, ApiError> {
    let channel = conversation.channel.as_str();
    let kind = state.settings.channels.get(channel).map(|c| c.kind);
    if kind != Some(ChannelKind::Whatsapp) {
        return Err(ApiError::Unprocessable {
            code: "template_unsupported",
            message: format!(
                "this conversation is on {}: only WhatsApp sends templates",
                kind.map_or("an unknown channel", |k| k.as_str())
            ),
        });
    }
    let template = state
        .campaigns
        .template_check(
            channel,
            conversation.customer.as_str(),
            &fill.name,
            &fill.language,
        )
        .await?
        .map_err(refused)?;
    let composed = compose::compose(&template, &fill.input()).map_err(|p| problems_error(&p))?;
    Ok(OutboundContent::Template {
        name: template.name,
        language: template.language,
        components: composed.components,
        marketing_api: false,
        campaign: None,
    })
}

/// What the preview route takes: the number, the template and its parameters.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PreviewBody {
    channel: String,
    name: String,
    language: String,
    #[serde(default)]
    header: Option<HeaderInput>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    body: Option<BodyInput>,
    #[serde(default)]
    buttons: Vec<ButtonInput>,
}

#[derive(Serialize, utoipa::ToSchema)]
struct PreviewResponse {
    /// The message as the customer will see it.
    preview: Preview,
    /// Meta's `components`, as they would be sent.
    #[schema(value_type = Vec<Object>)]
    components: serde_json::Value,
    category: Category,
}

/// A template filled with its parameters: the preview and Meta's components, or a 422 naming
/// the first problem's code and every problem's field. Consent is not weighed here (no
/// contact): the send does.
#[utoipa::path(
    post,
    path = "/templates/preview",
    tag = "campaigns",
    security(("console" = []), ("business" = [])),
    request_body = PreviewBody,
    responses(
        (status = 200, description = "The preview and the components.", body = PreviewResponse),
    )
)]
async fn preview_template(
    state: web::Data<AppState>,
    actor: Actor,
    body: web::Json<PreviewBody>,
) -> Result<HttpResponse, ApiError> {
    allowed(&actor, CampaignAction::PreviewTemplates)?;
    let body = body.into_inner();
    if state
        .settings
        .channels
        .get(&body.channel)
        .is_none_or(|c| c.kind != ChannelKind::Whatsapp)
    {
        return Err(ApiError::Unprocessable {
            code: "unknown_channel",
            message: format!("`channel`: {:?} is no WhatsApp channel", body.channel),
        });
    }
    let fill = TemplateFill {
        name: body.name,
        language: body.language,
        header: body.header,
        body: body.body,
        buttons: body.buttons,
    };
    let template = usable_template(&state, &body.channel, &fill).await?;
    let composed = compose::compose(&template, &fill.input()).map_err(|p| problems_error(&p))?;
    Ok(HttpResponse::Ok().json(PreviewResponse {
        preview: composed.preview,
        components: composed.components,
        category: template.category,
    }))
}
