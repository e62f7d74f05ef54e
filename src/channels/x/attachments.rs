//! X's side of agents' attachments: its types and limits, and the file uploaded to X first
//! ([`XClient::upload_media`], category `dm_image`, `dm_gif` or `dm_video`) so the DM names
//! it by its media id. One file per DM, its caption as the DM's text.
//!
//! Limits (X's media upload docs): JPEG, PNG and WebP images up to 5 MB, GIFs up to 15 MB,
//! MP4 video up to 512 MB; all within `media.max_bytes`.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use futures::FutureExt;
use futures::future::BoxFuture;

use super::client::XClient;
use crate::channels::{AttachmentChannel, OutgoingFile, PreparedFile, RetryClass, SendError};
use crate::config::MediaSettings;
use crate::domain::{MediaKind, MediaSource};
use crate::media::limits::{self, Accepted, MB, Refusal};

/// Largest JPEG, PNG or WebP image.
pub const IMAGE_MAX: u64 = 5 * MB;
/// Largest GIF.
pub const GIF_MAX: u64 = 15 * MB;
/// Largest MP4 video.
pub const VIDEO_MAX: u64 = 512 * MB;

/// The prefix of the media rows of agents' files sent to X (their X media id follows).
pub const MEDIA_ID_PREFIX: &str = "xout:";

/// X's upload category for a file of type `mime_type`.
pub fn category(mime_type: &str) -> &'static str {
    match mime_type {
        "image/gif" => "dm_gif",
        "video/mp4" => "dm_video",
        _ => "dm_image",
    }
}

/// What X takes: the file if its bytes are a JPEG, PNG, WebP or GIF image or an MP4 video,
/// within X's limit for it. The declared type is not trusted. Pure.
pub fn accept(bytes: &[u8]) -> Result<Accepted, Refusal> {
    if bytes.is_empty() {
        return Err(Refusal::Empty);
    }
    let sniffed = limits::sniff(bytes);
    let (kind, limit) = match sniffed.as_deref() {
        Some("image/jpeg" | "image/png" | "image/webp") => (MediaKind::Image, IMAGE_MAX),
        Some("image/gif") => (MediaKind::Image, GIF_MAX),
        Some("video/mp4") => (MediaKind::Video, VIDEO_MAX),
        _ => return Err(Refusal::UnsupportedType { detected: sniffed }),
    };
    let accepted = Accepted {
        kind,
        mime_type: sniffed.unwrap_or_default(),
    };
    limits::within(accepted, bytes.len() as u64, limit)
}

/// One X account's attachments.
pub struct XFiles {
    client: XClient,
    max_bytes: u64,
    attempts: u32,
    timeout: Duration,
}

impl XFiles {
    pub fn new(client: XClient, media: &MediaSettings, max_bytes: u64) -> Self {
        Self {
            client,
            max_bytes: max_bytes.min(VIDEO_MAX),
            attempts: media.upload_attempts.max(1),
            timeout: Duration::from_millis(media.upload_timeout_ms.max(1)),
        }
    }
}

impl AttachmentChannel for XFiles {
    fn name(&self) -> &'static str {
        "X"
    }

    fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    fn accept(&self, bytes: &[u8], _declared: Option<&str>) -> Result<Accepted, Refusal> {
        let accepted = accept(bytes)?;
        limits::within(accepted, bytes.len() as u64, self.max_bytes)
    }

    fn accepted_types(&self) -> &'static str {
        "a JPEG, PNG or WebP image (up to 5 MB), a GIF (up to 15 MB) or an MP4 video"
    }

    fn caption_allowed(&self, _kind: MediaKind) -> bool {
        true
    }

    fn prepare<'a>(
        &'a self,
        file: &'a OutgoingFile,
    ) -> BoxFuture<'a, Result<PreparedFile, SendError>> {
        async move {
            let once = || {
                self.client.upload_media(
                    &file.bytes,
                    &file.mime_type,
                    category(&file.mime_type),
                    self.timeout,
                )
            };
            let id = once
                .retry(
                    ExponentialBuilder::new()
                        .with_min_delay(Duration::from_millis(200))
                        .with_max_delay(Duration::from_secs(5))
                        .with_jitter()
                        .with_max_times(self.attempts.saturating_sub(1) as usize),
                )
                .when(|e: &SendError| e.class() != RetryClass::Permanent)
                .await?;
            Ok(PreparedFile {
                media_id: format!("{MEDIA_ID_PREFIX}{id}"),
                source: MediaSource::Id(id),
            })
        }
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jpeg(len: usize) -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0];
        v.resize(len, 0);
        v
    }

    fn gif(len: usize) -> Vec<u8> {
        let mut v = b"GIF89a".to_vec();
        v.resize(len, 0);
        v
    }

    #[test]
    fn images_up_to_5_megabytes_gifs_up_to_15() {
        let ok = accept(&jpeg(5 * MB as usize)).expect("a 5 MB JPEG");
        assert_eq!(ok.kind, MediaKind::Image);
        assert_eq!(ok.mime_type, "image/jpeg");
        assert_eq!(category(&ok.mime_type), "dm_image");
        assert_eq!(
            accept(&jpeg(5 * MB as usize + 1)),
            Err(Refusal::TooLarge {
                kind: "image",
                size: 5 * MB + 1,
                limit: IMAGE_MAX
            })
        );
        let ok = accept(&gif(10 * MB as usize)).expect("a 10 MB GIF");
        assert_eq!(ok.mime_type, "image/gif");
        assert_eq!(category(&ok.mime_type), "dm_gif");
        assert!(matches!(
            accept(&gif(15 * MB as usize + 1)),
            Err(Refusal::TooLarge { limit: GIF_MAX, .. })
        ));
    }

    #[test]
    fn mp4_is_a_video_and_other_types_are_refused_whatever_is_declared() {
        let mut mp4 = vec![0, 0, 0, 0x18];
        mp4.extend_from_slice(b"ftypmp42");
        mp4.resize(64, 0);
        let ok = accept(&mp4).expect("an MP4");
        assert_eq!(ok.kind, MediaKind::Video);
        assert_eq!(category(&ok.mime_type), "dm_video");
        assert!(matches!(
            accept(b"%PDF-1.7\n%\xe2\xe3"),
            Err(Refusal::UnsupportedType { .. })
        ));
        assert!(matches!(
            accept(b"hello"),
            Err(Refusal::UnsupportedType { .. })
        ));
        assert_eq!(accept(b""), Err(Refusal::Empty));
    }
}
