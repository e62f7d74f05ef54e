//! Messenger's and Instagram's side of agents' attachments: their types and limits, and the
//! file uploaded with the Attachment Upload API (`POST /{page or account id}/
//! message_attachments`, reusable) so the Send API sends it by `attachment_id`.
//!
//! Limits (Meta's Messenger Platform docs): Messenger takes images, video, audio and files up
//! to 25 MB; Instagram takes PNG/JPEG images up to 8 MB, MP4 video, AAC/M4A/MP4 audio and PDF
//! files up to 25 MB. Neither shows a caption with an attachment: one is refused rather than
//! dropped.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use futures::FutureExt;
use futures::future::BoxFuture;

use super::Platform;
use super::client::{MessengerClient, attachment_type};
use crate::channels::{AttachmentChannel, OutgoingFile, PreparedFile, RetryClass, SendError};
use crate::config::MediaSettings;
use crate::domain::{MediaKind, MediaSource};
use crate::media::limits::{self, Accepted, MB, Refusal};

/// Messenger's largest attachment.
pub const MESSENGER_MAX: u64 = 25 * MB;
/// Instagram's largest image; its other attachments are up to [`MESSENGER_MAX`].
pub const INSTAGRAM_IMAGE_MAX: u64 = 8 * MB;

/// What `platform` takes: the accepted file if its type and size are allowed there. Pure.
pub fn accept_for(
    platform: Platform,
    bytes: &[u8],
    declared: Option<&str>,
) -> Result<Accepted, Refusal> {
    let (accepted, _) = limits::identify(bytes, declared)?;
    let size = bytes.len() as u64;
    match platform {
        Platform::Messenger => limits::within(accepted, size, MESSENGER_MAX),
        Platform::Instagram => {
            let limit = match (accepted.kind, accepted.mime_type.as_str()) {
                (MediaKind::Image, _) => INSTAGRAM_IMAGE_MAX,
                (MediaKind::Video, "video/mp4") => MESSENGER_MAX,
                (MediaKind::Audio, "audio/aac" | "audio/mp4") => MESSENGER_MAX,
                (MediaKind::Document, "application/pdf") => MESSENGER_MAX,
                _ => {
                    return Err(Refusal::UnsupportedType {
                        detected: Some(accepted.mime_type),
                    });
                }
            };
            limits::within(accepted, size, limit)
        }
    }
}

/// One page's (or Instagram account's) attachments.
pub struct MetaFiles {
    client: MessengerClient,
    max_bytes: u64,
    attempts: u32,
    timeout: Duration,
}

impl MetaFiles {
    pub fn new(client: MessengerClient, media: &MediaSettings, max_bytes: u64) -> Self {
        Self {
            client,
            max_bytes: max_bytes.min(MESSENGER_MAX),
            attempts: media.upload_attempts.max(1),
            timeout: Duration::from_millis(media.upload_timeout_ms.max(1)),
        }
    }
}

impl AttachmentChannel for MetaFiles {
    fn name(&self) -> &'static str {
        self.client.platform().name()
    }

    fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    fn accept(&self, bytes: &[u8], declared: Option<&str>) -> Result<Accepted, Refusal> {
        let accepted = accept_for(self.client.platform(), bytes, declared)?;
        limits::within(accepted, bytes.len() as u64, self.max_bytes)
    }

    fn accepted_types(&self) -> &'static str {
        match self.client.platform() {
            Platform::Messenger => {
                "a JPEG or PNG image, an MP4 or 3GPP video, AAC, AMR, MP3, MP4 or OGG audio, or \
                 a PDF, Office or text file, up to 25 MB"
            }
            Platform::Instagram => {
                "a JPEG or PNG image (up to 8 MB), an MP4 video, AAC or MP4 audio, or a PDF (up \
                 to 25 MB)"
            }
        }
    }

    fn caption_allowed(&self, _kind: MediaKind) -> bool {
        false
    }

    fn prepare<'a>(
        &'a self,
        file: &'a OutgoingFile,
    ) -> BoxFuture<'a, Result<PreparedFile, SendError>> {
        async move {
            let once = || {
                self.client.upload_attachment(
                    file.bytes.clone(),
                    attachment_type(file.kind),
                    &file.mime_type,
                    &file.filename,
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
                media_id: id.clone(),
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

    #[test]
    fn messenger_takes_files_up_to_25_megabytes() {
        let accepted = accept_for(Platform::Messenger, &jpeg(6 * MB as usize), None);
        assert_eq!(accepted.map(|a| a.kind), Ok(MediaKind::Image));
        assert_eq!(
            accept_for(Platform::Messenger, &jpeg(25 * MB as usize + 1), None),
            Err(Refusal::TooLarge {
                kind: "image",
                size: 25 * MB + 1,
                limit: MESSENGER_MAX
            })
        );
        let pdf = b"%PDF-1.7\n%\xe2\xe3".to_vec();
        assert_eq!(
            accept_for(Platform::Messenger, &pdf, None).map(|a| a.kind),
            Ok(MediaKind::Document)
        );
        assert!(matches!(
            accept_for(Platform::Messenger, b"<html>", Some("image/png")),
            Err(Refusal::UnsupportedType { .. })
        ));
    }

    #[test]
    fn instagram_takes_smaller_images_and_fewer_types() {
        assert!(accept_for(Platform::Instagram, &jpeg(8 * MB as usize), None).is_ok());
        assert!(matches!(
            accept_for(Platform::Instagram, &jpeg(8 * MB as usize + 1), None),
            Err(Refusal::TooLarge {
                limit: INSTAGRAM_IMAGE_MAX,
                ..
            })
        ));
        assert!(accept_for(Platform::Instagram, b"%PDF-1.7\n%\xe2\xe3", None).is_ok());
        // Plain text and MP3 are Messenger's, not Instagram's.
        assert!(matches!(
            accept_for(Platform::Instagram, b"hello", Some("text/plain")),
            Err(Refusal::UnsupportedType { .. })
        ));
        assert!(matches!(
            accept_for(Platform::Instagram, b"ID3\x03\0\0\0\0\0\0", None),
            Err(Refusal::UnsupportedType { .. })
        ));
        assert!(accept_for(Platform::Messenger, b"ID3\x03\0\0\0\0\0\0", None).is_ok());
    }
}
