//! `POST /api/v1/contacts/import`: contacts from a CSV file (docs/CONSOLE_API.md, "Contacts").
//!
//! Supervisors and admins, or an API key with `contacts:write`. The body is `text/csv` (UTF-8,
//! an optional BOM, a header row; columns as [`crate::crm::import`] reads them), at most
//! [`import::MAX_BYTES`] bytes and [`import::MAX_ROWS`] rows (413 past either). The whole file
//! is read and its header checked before anything is written: a malformed file or an unknown
//! column is a 400 that changes nothing.
//!
//! Each row is then upserted on its own, as `PUT /api/v1/contacts` would (the same lookup, the
//! same checks of [`crate::crm::edit::ContactPatch`], the same `contact.updated` webhooks, and
//! the contact's conversations read it at once, so routing rules see imported tags at the next
//! handoff): the first of `id`, `identity`, `phone`, `email` that names a known contact is the
//! one edited; else a contact is created from the `identity` or the `phone`; a row that cannot
//! be written is rejected and the others go on. The answer (200):
//! `{"rows", "created", "updated", "unchanged", "rejected", "rejected_csv"}`, where
//! `rejected_csv` (null when no row was rejected) is CSV text of the rejected rows as given with
//! an `error` column saying why. One audit entry per import (`contact.import`, the counts).

use actix_web::web::{self, BytesMut};
use actix_web::{HttpRequest, HttpResponse};
use futures::StreamExt;
use serde_json::json;

use super::auth::Actor;
use super::contacts::{Written, find, refused, write_upsert};
use super::{ApiError, AppState};
use crate::accounts::policy::{self, BusinessAction};
use crate::crm::import::{self, Header};
use crate::crm::upsert::{ADDRESS_MAX, Match};
use crate::domain::CustomerId;
use crate::store::ContactRecord;

/// How a row went.
enum Outcome {
    Created,
    Updated,
    Unchanged,
}

/// Why a row was not written: rejected (the `error` column), or the import cannot go on (the
/// store failed).
enum Failure {
    Rejected(String),
    Fatal(ApiError),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Failure {
        match e {
            ApiError::BadRequest(why)
            | ApiError::NotFound(why)
            | ApiError::Conflict(why)
            | ApiError::Unprocessable { message: why, .. } => Failure::Rejected(why),
            other => Failure::Fatal(other),
        }
    }
}

impl From<crate::store::StoreError> for Failure {
    fn from(e: crate::store::StoreError) -> Failure {
        Failure::Fatal(e.into())
    }
}

#[derive(Default, Debug, serde::Serialize)]
struct Counts {
    rows: usize,
    created: usize,
    updated: usize,
    unchanged: usize,
    rejected: usize,
}

/// Contacts from a CSV file (the export's columns, `identity`, `field.<key>`), each row upserted
/// on its own; the rejected rows come back with an `error` column.
#[utoipa::path(
    post,
    path = "/contacts/import",
    tag = "contacts",
    security(("console" = []), ("business" = [])),
    request_body(content = String, content_type = "text/csv", description = "The contacts, a header row first."),
    responses(
        (status = 200, description = "Imported: the counts, and the rejected rows as CSV.", body = super::schemas::ContactsImportResponse),
    )
)]
pub async fn import(
    req: HttpRequest,
    state: web::Data<AppState>,
    actor: Actor,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    if !policy::decide_business(actor.who(), BusinessAction::WriteContacts).allowed() {
        return Err(refused(&actor, BusinessAction::WriteContacts));
    }
    let kind = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase());
    if kind.as_deref().is_some_and(|k| k != "text/csv") {
        return Err(ApiError::UnsupportedMediaType(
            "send the contacts as text/csv".into(),
        ));
    }
    let bytes = read(&req, payload, import::MAX_BYTES).await?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| ApiError::BadRequest("the CSV is not UTF-8 text".into()))?;
    let (names, rows) = import::records(text, import::MAX_ROWS).map_err(|e| match e {
        None => ApiError::TooLarge(format!(
            "an import takes at most {} rows; split the file",
            import::MAX_ROWS
        )),
        Some(why) => ApiError::BadRequest(why),
    })?;
    let header = import::header(&names).map_err(ApiError::BadRequest)?;

    let mut counts = Counts {
        rows: rows.len(),
        ..Counts::default()
    };
    let mut rejected = Vec::new();
    let mut fatal = None;
    for cells in rows {
        match import_row(&state, &header, &cells).await {
            Ok(Outcome::Created) => counts.created += 1,
            Ok(Outcome::Updated) => counts.updated += 1,
            Ok(Outcome::Unchanged) => counts.unchanged += 1,
            Err(Failure::Rejected(why)) => rejected.push((cells, why)),
            Err(Failure::Fatal(e)) => {
                fatal = Some(e);
                break;
            }
        }
    }
    counts.rejected = rejected.len();
    // Audited once, with what was written (also when the store failed part way).
    let mut after = json!(counts);
    if let Some(e) = &fatal {
        after["aborted"] = json!(e.to_string());
    }
    let entry = actor.entry(
        &state,
        "contact.import",
        None,
        None,
        Some(after),
        &super::auth::request_meta(&req, &state),
    );
    state.store.append_audit(&entry).await?;
    if let Some(e) = fatal {
        return Err(e);
    }
    let rejected_csv = if rejected.is_empty() {
        None
    } else {
        Some(
            import::rejected_csv(&header.names, &rejected)
                .map_err(|e| ApiError::Internal(format!("csv: {e}")))?,
        )
    };
    Ok(HttpResponse::Ok().json(json!({
        "rows": counts.rows,
        "created": counts.created,
        "updated": counts.updated,
        "unchanged": counts.unchanged,
        "rejected": counts.rejected,
        "rejected_csv": rejected_csv,
    })))
}

/// The body, whole, up to `limit` bytes (declared or actual: 413 past it).
async fn read(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: usize,
) -> Result<web::Bytes, ApiError> {
    let declared = req
        .headers()
        .get(actix_web::http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    let mut body = BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("reading body: {e}")))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::PayloadTooLarge { limit });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// One row upserted: the contact it names found or created, its edit checked and written.
async fn import_row(
    state: &AppState,
    header: &Header,
    cells: &[String],
) -> Result<Outcome, Failure> {
    let row = import::row(header, cells).map_err(Failure::Rejected)?;
    for by in &row.matches {
        if let Match::Identity { channel, .. } = by
            && !state.settings.channels.contains_key(channel)
        {
            return Err(Failure::Rejected(format!(
                "invalid identity: no channel {channel:?}"
            )));
        }
    }
    let mut found: Option<ContactRecord> = None;
    if let Some(id) = &row.id
        && id.chars().count() <= ADDRESS_MAX
    {
        found = state.store.load_contact(&CustomerId::new(id)).await?;
    }
    for by in &row.matches {
        if found.is_some() {
            break;
        }
        found = find(state, by).await?;
    }
    let (base, seed) = match found {
        Some(contact) => (contact, None),
        None => match row.matches.iter().find_map(Match::seed) {
            Some(seed) => (seed.clone(), Some(seed)),
            None => {
                let what = if row.id.is_some() { "id" } else { "email" };
                return Err(Failure::Rejected(format!(
                    "no contact has this {what}; give a phone or an identity to create one"
                )));
            }
        },
    };
    let changes = row
        .patch
        .changes(&base, state.desk.directory.get().fields())
        .map_err(|e| Failure::Rejected(import::edit_error(&e)))?;
    Ok(match write_upsert(state, base, seed, &changes).await? {
        Written::Created(_) => Outcome::Created,
        Written::Updated { .. } => Outcome::Updated,
        Written::Unchanged(_) => Outcome::Unchanged,
    })
}
