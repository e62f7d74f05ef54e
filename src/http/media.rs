//! Attachments over the console API (see docs/CONSOLE_API.md, "Media"):
//! - `GET /api/v1/media/{id}`: a message's media, to whoever may open its conversation;
//! - `POST /api/v1/conversations/{id}/attachments` (multipart `file`, optional `caption`): an
//!   agent's file, checked against the conversation's channel's types and limits, stored, made
//!   sendable by the channel (uploaded to Meta; kept here for Telegram) and sent through the
//!   usual reply path. The channel's side is [`crate::channels::AttachmentChannel`]: nothing
//!   here knows one channel from another.

use actix_multipart::Multipart;
use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::{HttpRequest, HttpResponse, web};
use bytes::{Bytes, BytesMut};
use futures::TryStreamExt;
use serde_json::json;

use super::auth::Caller;
use super::console::{act, permitted};
use super::{ApiError, AppState};
use crate::accounts::policy::Action;
use crate::channels::{AttachmentChannel, OutgoingFile};
use crate::conversation::commands::AgentAction;
use crate::domain::{MediaKind, OutboundContent};
use crate::media::limits::{self, Refusal};
use crate::media::records::MediaState;
use crate::metrics as m;

/// What a media answer may do in a browser: nothing (no script, no plugin, no framing, a
/// sandbox if opened as a document).
const MEDIA_CSP: &str = "default-src 'none'; media-src 'self'; img-src 'self'; sandbox; \
     frame-ancestors 'none'";
/// A caption part is read up to this many bytes (1,024 characters of up to 4 bytes each).
const CAPTION_BYTES: usize = limits::CAPTION_MAX * 4;

/// `GET /api/v1/media/{id}`: 200 with the bytes; 202 while it is still being downloaded;
/// 410 when it could not be; 404 for an unknown id or a conversation the caller may not open.
#[utoipa::path(
    get,
    path = "/media/{id}",
    tag = "media",
    security(("console" = [])),
    params(("id" = String, Path)),
    responses(
        (status = 200, description = "The file, with its own content type.", body = Vec<u8>, content_type = "application/octet-stream"),
    )
)]
pub async fn serve(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let not_found = || ApiError::NotFound("no such media".into());
    let row = match state.media.get(&id).await? {
        Some(row) => row,
        // Just arrived: the downloader may not have looked yet.
        None => {
            state.media.discover_recent().await?;
            state.media.get(&id).await?.ok_or_else(not_found)?
        }
    };
    permitted(&state, &caller, &row.conversation_id, Action::View)
        .await
        .map_err(|e| match e {
            ApiError::NotFound(_) => not_found(),
            other => other,
        })?;
    answer(&state, &row).await
}

/// A media row's answer: 202 while pending, 410 unavailable, else its bytes (streamed).
pub(crate) async fn answer(
    state: &AppState,
    row: &crate::media::records::MediaRow,
) -> Result<HttpResponse, ApiError> {
    match row.state() {
        MediaState::Pending => Ok(HttpResponse::Accepted()
            .insert_header((header::RETRY_AFTER, "2"))
            .json(json!({ "media": row.view() }))),
        MediaState::Unavailable => Err(ApiError::Gone(format!(
            "media unavailable: {}",
            row.reason.as_deref().unwrap_or("unknown")
        ))),
        MediaState::Ready => {
            let (size, stream) = state
                .media
                .stream(row)
                .await?
                .ok_or_else(|| ApiError::Gone("media unavailable: not in the store".into()))?;
            let mut response =
                media_response(row.mime_type.as_deref(), &row.kind, row.filename.as_deref());
            Ok(response
                .no_chunking(size)
                .streaming(futures::TryStreamExt::map_err(stream, |e| {
                    tracing::warn!(error = %e, "media: serving cut short");
                    actix_web::error::ErrorInternalServerError("media store")
                })))
        }
    }
}

/// The bytes with a type the browser will not second-guess, inline for what the console
/// plays or shows, as a download for documents (and anything of an unexpected type).
fn media_response(
    mime_type: Option<&str>,
    kind: &str,
    filename: Option<&str>,
) -> actix_web::HttpResponseBuilder {
    let mime: Option<mime::Mime> = mime_type.and_then(|t| t.parse().ok());
    let playable = mime.as_ref().is_some_and(|m| {
        matches!(m.type_(), mime::IMAGE | mime::AUDIO | mime::VIDEO) && m.subtype() != mime::SVG
    });
    let content_type = match (&mime, playable || kind == "document") {
        (Some(m), true) => m.essence_str().to_string(),
        _ => "application/octet-stream".to_string(),
    };
    let inline = playable && kind != "document";
    let mut parameters = Vec::new();
    if let Some(name) = filename.and_then(limits::clean_filename) {
        parameters.push(DispositionParam::Filename(name));
    }
    let disposition = ContentDisposition {
        disposition: if inline {
            DispositionType::Inline
        } else {
            DispositionType::Attachment
        },
        parameters,
    };
    let mut response = HttpResponse::Ok();
    response
        .insert_header((header::CONTENT_TYPE, content_type))
        .insert_header(disposition)
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CONTENT_SECURITY_POLICY, MEDIA_CSP))
        .insert_header((header::CACHE_CONTROL, "private, no-store"));
    response
}

/// The parts of an attachment form.
struct Form {
    file: Bytes,
    declared: Option<String>,
    filename: Option<String>,
    caption: Option<String>,
}

/// Read the multipart body: one `file` (at most `max` bytes, else 413), an optional
/// `caption`; anything else is refused.
async fn read_form(mut payload: Multipart, max: u64) -> Result<Form, ApiError> {
    let bad = |e: actix_multipart::MultipartError| {
        ApiError::BadRequest(format!("expected a multipart/form-data body: {e}"))
    };
    let mut file: Option<(Bytes, Option<String>, Option<String>)> = None;
    let mut caption = None;
    while let Some(mut field) = payload.try_next().await.map_err(bad)? {
        let name = field.name().unwrap_or_default().to_string();
        match name.as_str() {
            "file" => {
                if file.is_some() {
                    return Err(ApiError::BadRequest("give one `file` only".into()));
                }
                let filename = field
                    .content_disposition()
                    .and_then(|cd| cd.get_filename())
                    .map(str::to_string);
                let declared = field.content_type().map(|m| m.essence_str().to_string());
                let mut buf = BytesMut::new();
                while let Some(chunk) = field.try_next().await.map_err(bad)? {
                    if (buf.len() + chunk.len()) as u64 > max {
                        return Err(ApiError::PayloadTooLarge {
                            limit: max as usize,
                        });
                    }
                    buf.extend_from_slice(&chunk);
                }
                file = Some((buf.freeze(), declared, filename));
            }
            "caption" => {
                let mut buf = BytesMut::new();
                while let Some(chunk) = field.try_next().await.map_err(bad)? {
                    if buf.len() + chunk.len() > CAPTION_BYTES {
                        return Err(caption_too_long());
                    }
                    buf.extend_from_slice(&chunk);
                }
                let text = String::from_utf8(buf.to_vec())
                    .map_err(|_| ApiError::BadRequest("`caption` is not UTF-8 text".into()))?;
                caption = Some(text);
            }
            other => {
                return Err(ApiError::BadRequest(format!(
                    "unknown field `{other}`: give `file` and, optionally, `caption`"
                )));
            }
        }
    }
    let (file, declared, filename) =
        file.ok_or_else(|| ApiError::BadRequest("no `file` in the form".into()))?;
    Ok(Form {
        file,
        declared,
        filename,
        caption,
    })
}

fn caption_too_long() -> ApiError {
    ApiError::BadRequest(format!(
        "`caption` is longer than {} characters",
        limits::CAPTION_MAX
    ))
}

pub(crate) fn refused(channel: &dyn AttachmentChannel, refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::Empty => ApiError::BadRequest(refusal.to_string()),
        Refusal::UnsupportedType { .. } => ApiError::UnsupportedMediaType(format!(
            "{}: {refusal}: send {}",
            channel.name(),
            channel.accepted_types()
        )),
        Refusal::TooLarge { limit, .. } => ApiError::PayloadTooLarge {
            limit: limit as usize,
        },
    }
}

/// `POST /api/v1/conversations/{id}/attachments`: the same policy as a reply.
#[utoipa::path(
    post,
    path = "/conversations/{id}/attachments",
    tag = "media",
    security(("console" = [])),
    params(("id" = String, Path)),
    request_body(
        content = Object,
        content_type = "multipart/form-data",
        description = "`file`: the file; `caption`: optional text.",
    ),
    responses(
        (status = 201, description = "Created.", body = super::schemas::ConsoleReplyResponse),
    )
)]
pub async fn attach(
    req: HttpRequest,
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    payload: Multipart,
) -> Result<HttpResponse, ApiError> {
    let conversation = permitted(&state, &caller, &id, Action::Reply).await?;
    let channel = state
        .settings
        .channels
        .get(conversation.channel.as_str())
        .ok_or_else(|| ApiError::Conflict("the conversation's channel is gone".into()))?;
    let files = state
        .media
        .attachments(conversation.channel.as_str())
        .cloned()
        .ok_or_else(|| {
            ApiError::Conflict(format!(
                "attachments cannot be sent on {} channels",
                channel.kind.as_str()
            ))
        })?;
    // Each attachment holds its file in memory: a bounded number at once.
    let _slot = state.media.upload_slot().ok_or(ApiError::Overloaded {
        retry_after_seconds: 2,
    })?;
    let form = read_form(payload, files.max_bytes()).await?;
    let count = |outcome: &'static str, kind: &'static str| {
        metrics::counter!(m::MEDIA_UPLOADS, "outcome" => outcome, "kind" => kind).increment(1);
    };
    let accepted = match files.accept(&form.file, form.declared.as_deref()) {
        Ok(a) => a,
        Err(refusal) => {
            count("refused", "unknown");
            return Err(refused(files.as_ref(), refusal));
        }
    };
    let caption = form.caption.filter(|c| !c.trim().is_empty());
    if let Some(c) = &caption {
        if c.chars().count() > limits::CAPTION_MAX {
            return Err(caption_too_long());
        }
        if !files.caption_allowed(accepted.kind) {
            return Err(ApiError::BadRequest(format!(
                "{} shows no caption with {} messages",
                files.name(),
                accepted.kind.as_str()
            )));
        }
    }
    let filename = form
        .filename
        .as_deref()
        .and_then(limits::clean_filename)
        .unwrap_or_else(|| default_name(&accepted.mime_type));
    let blob = limits::digest_hex(&form.file);
    let size = form.file.len() as i64;
    state.media.blobs.put(&blob, form.file.clone()).await?;
    let file = OutgoingFile {
        bytes: form.file,
        kind: accepted.kind,
        mime_type: accepted.mime_type.clone(),
        filename: filename.clone(),
        blob: blob.clone(),
    };
    let prepared = match files.prepare(&file).await {
        Ok(prepared) => prepared,
        Err(e) => {
            count("upload_failed", accepted.kind.as_str());
            return Err(match e.class() {
                crate::channels::RetryClass::Permanent => {
                    ApiError::Upstream(format!("{} refused the file: {e}", files.name()))
                }
                _ => ApiError::Upstream(format!(
                    "{} did not take the file, retry later: {e}",
                    files.name()
                )),
            });
        }
    };
    let document = accepted.kind == MediaKind::Document;
    state
        .media
        .keep_outbound(
            &prepared.media_id,
            &conversation.id,
            conversation.channel.as_str(),
            accepted.kind,
            &accepted.mime_type,
            Some(filename.clone()),
            &blob,
            size,
        )
        .await?;
    let content = OutboundContent::Media {
        kind: accepted.kind,
        source: prepared.source,
        caption,
        filename: document.then_some(filename),
    };
    let response = act(&req, &state, &caller, &id, AgentAction::Reply(content)).await?;
    count("sent", accepted.kind.as_str());
    Ok(response)
}

/// A name for a file sent without one.
fn default_name(mime_type: &str) -> String {
    let ext = mime_type.rsplit('/').next().unwrap_or("bin");
    let ext = match ext {
        "jpeg" => "jpg",
        "mpeg" => "mp3",
        "plain" => "txt",
        "pdf" | "png" | "webp" | "mp4" | "ogg" | "aac" | "amr" => ext,
        "3gpp" => "3gp",
        _ => "bin",
    };
    format!("attachment.{ext}")
}
