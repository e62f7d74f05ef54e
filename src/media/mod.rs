//! Attachments, both ways.
//!
//! - Customer → agent: the downloader ([`Media::spawn_downloader`]) finds inbound media
//!   messages the conversation steps stored (a query on `messages`, so nothing on the webhook's
//!   or the conversation's path waits for it), records each as `pending` in `media`, then asks
//!   Meta where the bytes are, downloads them with the access token, checks the webhook's
//!   SHA-256, stores them in the media store and marks the row `ready`; failures are retried
//!   with backoff (backon's exponential schedule, kept in the row, so a restart resumes them)
//!   until `media.max_attempts`, then `unavailable` with a reason. An id Meta no longer knows,
//!   a checksum that does not match or a file over the limit is `unavailable` at once.
//!   A media's source is its provider media id (WhatsApp's, a Telegram `file_id`), or the link
//!   the provider gave instead (Messenger's and Instagram's CDN URLs, kept in `source_url`, the
//!   row named `message:<message id>`): fetched only within `media.url_hosts` ([`urls`]), or,
//!   for a channel whose links need its account's token (X's DM media,
//!   [`crate::channels::LinkAuth`]), only within that channel's hosts, with its token; an
//!   expired link is `unavailable` at once.
//! - Agent → customer: `http::media` asks the conversation's channel
//!   ([`crate::channels::AttachmentChannel`], see [`Media::attachments`]) whether it takes the
//!   file (its types and limits), stores it here, lets the channel make it sendable (uploaded
//!   to Meta for its id; left here for Telegram, which sends the bytes with the message,
//!   [`crate::channels::StoredFiles`]) and sends it through the conversation's actor.
//!
//! [`blobs::BlobStore`] is the media store seam: a directory embedded, PostgreSQL for a cluster.

pub mod blobs;
pub mod graph;
pub mod limits;
pub mod records;
pub mod urls;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBuilder};
use bytes::Bytes;
use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::Semaphore;

use self::blobs::{BlobStore, DirBlobs, PgBlobs};
use self::graph::GraphMedia;
use self::limits::Failure;
use self::records::{
    Discovered, Finish, MediaRecords, MediaRow, MediaState, PgMediaRecords, SqliteMediaRecords,
};
use self::urls::UrlPolicy;
use crate::channels::telegram::client::TelegramClient;
use crate::channels::{AttachmentChannel, StoredFile, StoredFiles};
use crate::config::Settings;
use crate::domain::{ChannelKind, MediaKind, MessageContent};
use crate::metrics as m;
use crate::store::StoreError;

/// Media ids from webhooks expire after 7 days: older messages are not looked at.
const DISCOVER_WINDOW_MS: i64 = 7 * 24 * 3600 * 1000;
/// Messages committed by other writers may carry a slightly older `updated_at` than the last
/// one seen: each look goes back this far.
const DISCOVER_SLACK_MS: i64 = 60_000;
/// How far back a console's request for an unknown file looks for it (it came with a message
/// the console just showed).
const RECENT_MS: i64 = 3_600_000;
const DISCOVER_BATCH: i64 = 200;
/// The media ids of web chat visitors' files (their bytes are in the media store already).
pub const WEBCHAT_MEDIA_PREFIX: &str = "wcf:";
/// Files are served in pieces of this size.
pub const PIECE: usize = 256 * 1024;

/// How one channel's links are fetched: its policy, a client that redirects only within it, and
/// how each request is signed.
struct ChannelLinks {
    policy: UrlPolicy,
    client: reqwest::Client,
    signing: crate::channels::LinkSigning,
}

pub struct Media {
    pub records: Arc<dyn MediaRecords>,
    pub blobs: Arc<dyn BlobStore>,
    pub graph: GraphMedia,
    /// For the channels whose files are not Meta's (a Telegram bot's).
    http: reqwest::Client,
    /// For providers' links (Messenger, Instagram): only where `links` allows.
    link_client: reqwest::Client,
    links: Arc<UrlPolicy>,
    /// For the links of channels that need their account's token (X), by channel id: their
    /// own hosts, client and token.
    channel_links: HashMap<String, ChannelLinks>,
    /// Each channel's side of agents' attachments, by channel id.
    attachments: HashMap<String, Arc<dyn AttachmentChannel>>,
    settings: Arc<Settings>,
    downloads: Arc<Semaphore>,
    uploads: Arc<Semaphore>,
}

impl Media {
    /// The media store and records of this mode: PostgreSQL when the store is PostgreSQL,
    /// else a directory and the SQLite file.
    pub async fn open(settings: Arc<Settings>, http: reqwest::Client) -> anyhow::Result<Arc<Self>> {
        let url = settings.database.url.trim();
        let (records, blobs): (Arc<dyn MediaRecords>, Arc<dyn BlobStore>) =
            if url.starts_with("postgres://") || url.starts_with("postgresql://") {
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(4)
                    .acquire_timeout(settings.database.connect_timeout())
                    .connect(url)
                    .await?;
                (
                    Arc::new(PgMediaRecords::new(pool.clone())),
                    Arc::new(PgBlobs::new(pool)),
                )
            } else {
                (
                    Arc::new(SqliteMediaRecords::open(&settings.database.sqlite_path()).await?),
                    Arc::new(DirBlobs::open(&settings.media.dir(&settings.database))?),
                )
            };
        tracing::info!(store = blobs.name(), "media store opened");
        let graph = GraphMedia::new(http.clone(), &settings.whatsapp, &settings.media);
        let links = Arc::new(UrlPolicy::from_settings(&settings.media));
        let link_client = urls::client(
            links.clone(),
            Duration::from_millis(settings.media.upload_timeout_ms.max(1)),
        )?;
        let timeout = Duration::from_millis(settings.media.upload_timeout_ms.max(1));
        let mut channel_links = HashMap::new();
        for (id, channel) in &settings.channels {
            if let Some(auth) = crate::channels::link_auth_for(&settings, channel) {
                let policy = Arc::new(UrlPolicy::new(&auth.hosts, settings.media.allow_http_urls));
                channel_links.insert(
                    id.clone(),
                    ChannelLinks {
                        policy: policy.as_ref().clone(),
                        client: urls::client(policy, timeout)?,
                        signing: auth.signing,
                    },
                );
            }
        }
        let attachments = settings
            .channels
            .iter()
            .filter_map(|(id, channel)| {
                crate::channels::attachments_for(&settings, channel, &http, &graph)
                    .map(|a| (id.clone(), a))
            })
            .collect();
        Ok(Arc::new(Self {
            records,
            blobs,
            graph,
            http,
            link_client,
            links,
            channel_links,
            attachments,
            downloads: Arc::new(Semaphore::new(settings.media.concurrency.max(1))),
            uploads: Arc::new(Semaphore::new(settings.media.max_uploads.max(1))),
            settings,
        }))
    }

    /// The delay before attempt `attempts + 1`, after `attempts` failed ones.
    fn backoff(&self, attempts: u32) -> Duration {
        let s = &self.settings.media;
        let max = Duration::from_millis(s.max_backoff_ms.max(1));
        ExponentialBuilder::new()
            .with_min_delay(Duration::from_millis(s.initial_backoff_ms.max(1)))
            .with_max_delay(max)
            .with_jitter()
            .with_max_times(s.max_attempts.max(1) as usize)
            .build()
            .nth(attempts.saturating_sub(1) as usize)
            .unwrap_or(max)
    }

    /// Look for new inbound media and due downloads every `media.poll_interval_ms`.
    pub fn spawn_downloader(self: &Arc<Self>) -> actix_rt::task::JoinHandle<()> {
        let media = self.clone();
        actix_rt::spawn(async move {
            let every = Duration::from_millis(media.settings.media.poll_interval_ms.max(10));
            let mut since = chrono::Utc::now().timestamp_millis() - DISCOVER_WINDOW_MS;
            loop {
                let now = chrono::Utc::now().timestamp_millis();
                match media.discover(since).await {
                    Ok(()) => since = now - DISCOVER_SLACK_MS,
                    Err(e) => tracing::warn!(error = %e, "media: cannot look for new media"),
                }
                if let Err(e) = media.start_due().await {
                    tracing::warn!(error = %e, "media: cannot claim due downloads");
                }
                tokio::time::sleep(every).await;
            }
        })
    }

    /// Record a pending row now for each recent inbound media message that has none (a console
    /// asking for a file that arrived since the downloader last looked).
    pub async fn discover_recent(&self) -> Result<(), StoreError> {
        self.discover(chrono::Utc::now().timestamp_millis() - RECENT_MS)
            .await
    }

    /// Record a pending row for each inbound media message that has none.
    async fn discover(&self, since: i64) -> Result<(), StoreError> {
        loop {
            let found = self.records.discover(since, DISCOVER_BATCH).await?;
            if found.is_empty() {
                return Ok(());
            }
            let now = chrono::Utc::now().timestamp_millis();
            let rows: Vec<MediaRow> = found.iter().map(|d| pending_row(d, now)).collect();
            self.records.insert(&rows, now).await?;
            if (found.len() as i64) < DISCOVER_BATCH {
                return Ok(());
            }
        }
    }

    /// Claim as many due downloads as there are free slots and start them.
    async fn start_due(self: &Arc<Self>) -> Result<(), StoreError> {
        let free = self.downloads.available_permits();
        if free == 0 {
            return Ok(());
        }
        let now = chrono::Utc::now().timestamp_millis();
        let lease = now + self.settings.media.lease_ms.max(1000) as i64;
        for row in self.records.claim_due(now, lease, free as i64).await? {
            let Ok(permit) = self.downloads.clone().try_acquire_owned() else {
                break; // the lease lapses and the row is claimed again
            };
            let media = self.clone();
            actix_rt::spawn(async move {
                media.download(row).await;
                drop(permit);
            });
        }
        Ok(())
    }

    /// One attempt at one media; records how it ended.
    async fn download(&self, row: MediaRow) {
        let attempts = u32::try_from(row.attempts).unwrap_or(u32::MAX);
        let finish = match self.fetch(&row).await {
            Ok((blob, size, mime_type)) => Finish::Ready {
                blob,
                size,
                mime_type,
            },
            Err(failure) => {
                let reason = failure.reason().to_string();
                if limits::after_failure(&failure, attempts, self.settings.media.max_attempts) {
                    let at_ms = chrono::Utc::now().timestamp_millis()
                        + self.backoff(attempts).as_millis() as i64;
                    Finish::Retry { at_ms, reason }
                } else {
                    Finish::Unavailable { reason }
                }
            }
        };
        let outcome = match &finish {
            Finish::Ready { .. } => "ready",
            Finish::Retry { .. } => "retried",
            Finish::Unavailable { .. } => "unavailable",
        };
        metrics::counter!(m::MEDIA_DOWNLOADS, "outcome" => outcome).increment(1);
        if let Finish::Retry { reason, .. } | Finish::Unavailable { reason } = &finish {
            tracing::info!(media = %row.id, attempts, outcome, %reason, "media: download failed");
        }
        if let Err(e) = self.records.finish(&row.id, &finish).await {
            // The lease lapses and another attempt is made.
            tracing::warn!(media = %row.id, error = %e, "media: cannot record the download");
        }
    }

    async fn fetch(&self, row: &MediaRow) -> Result<(String, i64, Option<String>), Failure> {
        let channel = self
            .settings
            .channels
            .get(&row.channel)
            .ok_or_else(|| Failure::Gone(format!("unknown channel {}", row.channel)))?;
        let max = self.graph.max_bytes();
        // A web chat visitor's file: its bytes were kept when it was sent; nothing to fetch.
        if channel.kind == ChannelKind::Webchat {
            let hex = row
                .expected_sha256
                .clone()
                .filter(|_| row.id.starts_with(WEBCHAT_MEDIA_PREFIX))
                .ok_or_else(|| Failure::Gone("no_media_id".into()))?;
            return match self.blobs.get(&hex).await {
                Ok(Some(bytes)) => Ok((hex, bytes.len() as i64, None)),
                Ok(None) => Err(Failure::Gone("missing from the media store".into())),
                Err(e) => Err(Failure::Retry(format!("media store: {e}"))),
            };
        }
        let (bytes, hex, meta_mime) = match (channel.kind, &channel.telegram) {
            // A provider's link: Messenger's and Instagram's without a token, within
            // media.url_hosts; a channel's that needs its token (X) only on its own hosts.
            _ if row.source_url.is_some() => {
                let url = row.source_url.as_deref().unwrap_or_default();
                let (bytes, declared) = match self.channel_links.get(&row.channel) {
                    Some(own) => {
                        // Checked before it is signed: nothing is signed for a refused link.
                        let parsed = own.policy.check(url).map_err(Failure::Gone)?;
                        let authorization =
                            own.signing.authorization(&parsed).map_err(Failure::Gone)?;
                        urls::download(&own.client, &own.policy, url, Some(&authorization), max)
                            .await?
                    }
                    None => urls::download(&self.link_client, &self.links, url, None, max).await?,
                };
                let hex = limits::digest_hex(&bytes);
                // The type from the bytes; the server's word only when they do not tell.
                let mime = limits::sniff(&bytes).or(declared);
                (bytes, hex, mime)
            }
            // A Telegram bot's file: by its file_id through the Bot API (no checksum given).
            (ChannelKind::Telegram, Some(bot)) => {
                let bytes = TelegramClient::new(self.http.clone(), &self.settings.telegram, bot)
                    .download(&row.id, max)
                    .await?;
                let hex = limits::digest_hex(&bytes);
                (bytes, hex, None)
            }
            _ => {
                let meta = self.graph.metadata(channel, &row.id).await?;
                if meta.size().is_some_and(|n| n > max) {
                    return Err(Failure::Gone(format!("too_large: over {max} bytes")));
                }
                let bytes = self.graph.download(channel, &meta.url, max).await?;
                let hex = limits::digest_hex(&bytes);
                // The webhook's checksum, else the one Meta gives with the URL.
                if let Some(expected) = row.expected_sha256.as_deref().or(meta.sha256.as_deref())
                    && !limits::checksum_matches(expected, &hex)
                {
                    return Err(Failure::Gone("checksum_mismatch".into()));
                }
                (bytes, hex, meta.mime_type)
            }
        };
        let size = bytes.len() as i64;
        self.blobs
            .put(&hex, bytes)
            .await
            .map_err(|e| Failure::Retry(format!("media store: {e}")))?;
        let mime = row.mime_type.is_none().then_some(meta_mime).flatten();
        Ok((hex, size, mime))
    }

    /// The attachment side of channel `channel` (by id), or None when it takes no files.
    pub fn attachments(&self, channel: &str) -> Option<&Arc<dyn AttachmentChannel>> {
        self.attachments.get(channel)
    }

    /// Room for one more agent's attachment on this node (held until it is sent), or None:
    /// `media.max_uploads` are in progress.
    pub fn upload_slot(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.uploads.clone().try_acquire_owned().ok()
    }

    /// A media row, if there is one under this id.
    pub async fn get(&self, id: &str) -> Result<Option<MediaRow>, StoreError> {
        self.records.get(id).await
    }

    /// A ready media's bytes as a stream of pieces of at most [`PIECE`] bytes, or None when
    /// its bytes are missing from the store. The first piece is read before answering.
    pub async fn stream(
        &self,
        row: &MediaRow,
    ) -> Result<
        Option<(
            u64,
            impl futures::Stream<Item = Result<Bytes, StoreError>> + use<>,
        )>,
        StoreError,
    > {
        let (Some(blob), MediaState::Ready) = (row.blob.clone(), row.state()) else {
            return Ok(None);
        };
        let size = u64::try_from(row.size.unwrap_or(0)).unwrap_or(0);
        let first = match self.blobs.read(&blob, 0, PIECE.min(size as usize)).await? {
            Some(first) => first,
            None => return Ok(None),
        };
        let blobs = self.blobs.clone();
        let rest = futures::stream::try_unfold(first.len() as u64, move |offset| {
            let blobs = blobs.clone();
            let blob = blob.clone();
            async move {
                if offset >= size {
                    return Ok(None);
                }
                let len = PIECE.min((size - offset) as usize);
                match blobs.read(&blob, offset, len).await? {
                    Some(piece) if !piece.is_empty() => {
                        let next = offset + piece.len() as u64;
                        Ok(Some((piece, next)))
                    }
                    _ => Err(StoreError::Corrupt(format!("media {blob} ends early"))),
                }
            }
        });
        let stream = futures::StreamExt::chain(futures::stream::once(async { Ok(first) }), rest);
        Ok(Some((size, stream)))
    }

    /// Keep an agent's attachment (already checked and in the store): its row under the media
    /// id the channel named it by, ready, so the transcript shows it.
    #[allow(clippy::too_many_arguments)]
    pub async fn keep_outbound(
        &self,
        media_id: &str,
        conversation_id: &str,
        channel: &str,
        kind: MediaKind,
        mime_type: &str,
        filename: Option<String>,
        blob: &str,
        size: i64,
    ) -> Result<(), StoreError> {
        let now = chrono::Utc::now().timestamp_millis();
        let row = MediaRow {
            id: media_id.to_string(),
            conversation_id: conversation_id.to_string(),
            message_id: None,
            channel: channel.to_string(),
            direction: "outbound".into(),
            kind: kind.as_str().into(),
            state: MediaState::Ready.as_str().into(),
            mime_type: Some(mime_type.to_string()),
            expected_sha256: None,
            blob: Some(blob.to_string()),
            size: Some(size),
            filename,
            source_url: None,
            attempts: 0,
            reason: None,
            created_at: now,
            updated_at: now,
        };
        self.records.insert(&[row], now).await
    }
}

impl StoredFiles for Media {
    fn file<'a>(
        &'a self,
        media_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<StoredFile>, StoreError>> {
        async move {
            let Some(row) = self.records.get(media_id).await? else {
                return Ok(None);
            };
            let Some(blob) = row.blob.as_deref() else {
                return Ok(None);
            };
            Ok(self.blobs.get(blob).await?.map(|bytes| StoredFile {
                bytes,
                mime_type: row.mime_type.clone(),
                filename: row.filename.clone(),
            }))
        }
        .boxed()
    }
}

/// The row for a discovered inbound media message: pending, by its provider media id or else
/// by the link the provider gave (named `message:<message id>`); unavailable at once with
/// neither.
fn pending_row(found: &Discovered, now: i64) -> MediaRow {
    let content: Option<MessageContent> = serde_json::from_str(&found.body).ok();
    let (kind, media, filename) = match content {
        Some(MessageContent::Media {
            kind,
            media,
            filename,
            ..
        }) => (kind.as_str().to_string(), Some(media), filename),
        _ => ("document".to_string(), None, None),
    };
    let media_id = media.as_ref().and_then(|m| m.id.clone());
    let link = media
        .as_ref()
        .and_then(|m| m.url.clone())
        .filter(|u| !u.is_empty() && u.len() <= urls::URL_MAX);
    let by_message = format!("message:{}", found.message_id);
    let (id, state, reason, source_url) = match (&media_id, link) {
        (Some(id), _) if !id.is_empty() && id.len() <= 256 => {
            (id.clone(), MediaState::Pending, None, None)
        }
        (_, Some(url)) => (by_message, MediaState::Pending, None, Some(url)),
        _ => (
            by_message,
            MediaState::Unavailable,
            Some("no_media_id".to_string()),
            None,
        ),
    };
    MediaRow {
        id,
        conversation_id: found.conversation_id.clone(),
        message_id: Some(found.message_id.clone()),
        channel: found.channel.clone(),
        direction: "inbound".into(),
        kind,
        state: state.as_str().into(),
        mime_type: media.as_ref().and_then(|m| m.mime_type.clone()),
        expected_sha256: media.as_ref().and_then(|m| m.sha256.clone()),
        blob: None,
        size: None,
        filename: filename.as_deref().and_then(limits::clean_filename),
        source_url,
        attempts: 0,
        reason,
        created_at: now,
        updated_at: now,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_discovered_message_becomes_a_pending_row_or_unavailable_without_an_id() {
        let body = serde_json::json!({"type": "media", "kind": "document", "media": {
            "id": "987", "mime_type": "application/pdf", "sha256": "abc", "caption": null,
            "url": null}, "filename": "../Invoice.pdf", "voice": false, "animated": false});
        let found = Discovered {
            message_id: "m1".into(),
            conversation_id: "c1".into(),
            channel: "support".into(),
            body: body.to_string(),
        };
        let row = pending_row(&found, 5);
        assert_eq!(row.id, "987");
        assert_eq!(row.state(), MediaState::Pending);
        assert_eq!(row.kind, "document");
        assert_eq!(row.filename.as_deref(), Some("Invoice.pdf"));
        assert_eq!(row.expected_sha256.as_deref(), Some("abc"));
        assert_eq!(row.message_id.as_deref(), Some("m1"));

        let mut no_id = body.clone();
        no_id["media"]["id"] = serde_json::Value::Null;
        let row = pending_row(
            &Discovered {
                body: no_id.to_string(),
                ..found
            },
            5,
        );
        assert_eq!(row.id, "message:m1");
        assert_eq!(row.state(), MediaState::Unavailable);
        assert_eq!(row.source_url, None);
    }

    #[test]
    fn a_media_given_as_a_link_is_pending_under_its_message() {
        let body = serde_json::json!({"type": "media", "kind": "image", "media": {
            "id": null, "mime_type": null, "sha256": null, "caption": null,
            "url": "https://scontent.xx.fbcdn.net/v/1.jpg?oh=x"},
            "filename": null, "voice": false, "animated": false});
        let found = Discovered {
            message_id: "m2".into(),
            conversation_id: "c1".into(),
            channel: "messenger".into(),
            body: body.to_string(),
        };
        let row = pending_row(&found, 5);
        assert_eq!(row.id, "message:m2");
        assert_eq!(row.state(), MediaState::Pending);
        assert_eq!(
            row.source_url.as_deref(),
            Some("https://scontent.xx.fbcdn.net/v/1.jpg?oh=x")
        );
        // The link is not shown to the console.
        assert!(row.view().get("source_url").is_none());
    }
}
