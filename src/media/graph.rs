//! Meta's media endpoints (WhatsApp Cloud API):
//! - `GET /{version}/{media-id}?phone_number_id=…` → `{url, mime_type, sha256, file_size, id}`;
//! - `GET <url>` with the bearer token → the bytes (the URL is valid for 5 minutes);
//! - `POST /{version}/{phone-number-id}/media` (multipart `file`, `type`,
//!   `messaging_product=whatsapp`) → `{id}`.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::limits::{self, Failure};
use crate::channels::whatsapp::client::{map_reqwest_error, parse_error};
use crate::channels::{RetryClass, SendError};
use crate::config::{ChannelSettings, MediaSettings, WhatsappSettings};

/// Meta's answer to `GET /{media-id}`.
#[derive(Clone, Debug, Deserialize)]
pub struct Metadata {
    pub url: String,
    #[serde(default)]
    pub mime_type: Option<String>,
    #[serde(default)]
    pub sha256: Option<String>,
    #[serde(default)]
    pub file_size: Option<serde_json::Value>,
}

impl Metadata {
    /// `file_size` arrives as a number or a string.
    pub fn size(&self) -> Option<u64> {
        match &self.file_size {
            Some(serde_json::Value::Number(n)) => n.as_u64(),
            Some(serde_json::Value::String(s)) => s.parse().ok(),
            _ => None,
        }
    }
}

#[derive(Deserialize)]
struct Uploaded {
    id: String,
}

#[derive(Clone)]
pub struct GraphMedia {
    http: reqwest::Client,
    base: String,
    version: String,
    default_token: SecretString,
    timeout: Duration,
    upload_timeout: Duration,
    upload_attempts: u32,
    max_bytes: u64,
}

impl GraphMedia {
    pub fn new(http: reqwest::Client, whatsapp: &WhatsappSettings, media: &MediaSettings) -> Self {
        Self {
            http,
            base: whatsapp.api_base_url.trim_end_matches('/').to_string(),
            version: whatsapp.api_version.trim_matches('/').to_string(),
            default_token: whatsapp.access_token.clone(),
            timeout: Duration::from_millis(whatsapp.request_timeout_ms.max(1)),
            upload_timeout: Duration::from_millis(media.upload_timeout_ms.max(1)),
            upload_attempts: media.upload_attempts.max(1),
            max_bytes: media.max_bytes.min(limits::DOCUMENT_MAX),
        }
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    fn token<'a>(&'a self, channel: &'a ChannelSettings) -> &'a SecretString {
        channel.access_token.as_ref().unwrap_or(&self.default_token)
    }

    /// Where a media id's bytes are now (a URL valid for 5 minutes).
    pub async fn metadata(
        &self,
        channel: &ChannelSettings,
        media_id: &str,
    ) -> Result<Metadata, Failure> {
        let url = format!("{}/{}/{}", self.base, self.version, media_id);
        let response = self
            .http
            .get(&url)
            .query(&[("phone_number_id", channel.phone_number_id.as_str())])
            .bearer_auth(self.token(channel).expose_secret())
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| Failure::Retry(format!("metadata: {}", map_reqwest_error(e))))?;
        let status = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| Failure::Retry(format!("metadata: {}", map_reqwest_error(e))))?;
        if !(200..300).contains(&status) {
            return Err(match parse_error(status, &body) {
                SendError::Provider { code, message, .. } if code != i64::from(status) => {
                    limits::metadata_failure(status, Some(code), &message)
                }
                other => limits::metadata_failure(status, None, &other.to_string()),
            });
        }
        serde_json::from_slice(&body)
            .map_err(|e| Failure::Retry(format!("metadata: unreadable answer: {e}")))
    }

    /// The bytes at a media URL, read up to `max` bytes (more: gone for good, too large).
    pub async fn download(
        &self,
        channel: &ChannelSettings,
        url: &str,
        max: u64,
    ) -> Result<Bytes, Failure> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| Failure::Retry(format!("download: bad url: {e}")))?;
        if !matches!(parsed.scheme(), "https" | "http") {
            return Err(Failure::Gone("download: not an http(s) url".into()));
        }
        let response = self
            .http
            .get(parsed)
            .bearer_auth(self.token(channel).expose_secret())
            .timeout(self.upload_timeout)
            .send()
            .await
            .map_err(|e| Failure::Retry(format!("download: {}", map_reqwest_error(e))))?;
        limits::read_capped(response, max, |e| map_reqwest_error(e).to_string()).await
    }

    /// Upload a file for `channel`'s number; its media id. Transient failures (5xx, rate
    /// limits, timeouts) are retried with backoff, `media.upload_attempts` times at most.
    pub async fn upload(
        &self,
        channel: &ChannelSettings,
        bytes: Bytes,
        mime_type: &str,
        filename: &str,
    ) -> Result<String, SendError> {
        let url = format!(
            "{}/{}/{}/media",
            self.base, self.version, channel.phone_number_id
        );
        let once = || async {
            let part = reqwest::multipart::Part::stream_with_length(
                reqwest::Body::from(bytes.clone()),
                bytes.len() as u64,
            )
            .file_name(filename.to_string())
            .mime_str(mime_type)
            .map_err(|e| SendError::Transport(format!("upload: {e}")))?;
            let form = reqwest::multipart::Form::new()
                .text("messaging_product", "whatsapp")
                .text("type", mime_type.to_string())
                .part("file", part);
            let response = self
                .http
                .post(&url)
                .bearer_auth(self.token(channel).expose_secret())
                .timeout(self.upload_timeout)
                .multipart(form)
                .send()
                .await
                .map_err(map_reqwest_error)?;
            let status = response.status().as_u16();
            let body = response.bytes().await.map_err(map_reqwest_error)?;
            if !(200..300).contains(&status) {
                return Err(parse_error(status, &body));
            }
            serde_json::from_slice::<Uploaded>(&body)
                .map(|u| u.id)
                .map_err(|e| SendError::Transport(format!("upload: unreadable answer: {e}")))
        };
        once.retry(
            ExponentialBuilder::new()
                .with_min_delay(Duration::from_millis(200))
                .with_max_delay(Duration::from_secs(5))
                .with_jitter()
                .with_max_times(self.upload_attempts.saturating_sub(1) as usize),
        )
        .when(|e: &SendError| e.class() != RetryClass::Permanent)
        .await
    }
}
