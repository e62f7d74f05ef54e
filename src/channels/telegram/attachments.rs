//! Telegram's side of agents' attachments: its types and limits, and nothing to upload first:
//! the file stays in our media store ([`MediaSource::Stored`]) and the client sends its bytes
//! with the message (multipart `sendPhoto`, `sendVideo`, `sendAudio`, `sendVoice`,
//! `sendDocument`), so a retried send uploads it again.
//!
//! Limits (Bot API, multipart uploads): photos up to 10 MB, other files up to 50 MB; captions
//! up to 1,024 characters, on every kind but stickers (sent as documents).

use futures::FutureExt;
use futures::future::BoxFuture;

use crate::channels::{AttachmentChannel, OutgoingFile, PreparedFile, SendError};
use crate::domain::{MediaKind, MediaSource};
use crate::media::limits::{self, Accepted, MB, Refusal};

/// Largest photo a bot uploads.
pub const PHOTO_MAX: u64 = 10 * MB;
/// Largest other file a bot uploads.
pub const FILE_MAX: u64 = 50 * MB;

/// The prefix of the media ids of agents' files sent to Telegram (our own ids: Telegram gives
/// its file id only with the sent message).
pub const MEDIA_ID_PREFIX: &str = "tgout:";

/// What a bot takes: the file if its type is known and its size within Telegram's limit for
/// its kind. Pure.
pub fn accept(bytes: &[u8], declared: Option<&str>) -> Result<Accepted, Refusal> {
    let (accepted, _) = limits::identify(bytes, declared)?;
    let limit = match accepted.kind {
        MediaKind::Image => PHOTO_MAX,
        _ => FILE_MAX,
    };
    limits::within(accepted, bytes.len() as u64, limit)
}

pub struct TelegramFiles {
    max_bytes: u64,
}

impl TelegramFiles {
    pub fn new(max_bytes: u64) -> Self {
        Self {
            max_bytes: max_bytes.min(FILE_MAX),
        }
    }
}

impl AttachmentChannel for TelegramFiles {
    fn name(&self) -> &'static str {
        "Telegram"
    }

    fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    fn accept(&self, bytes: &[u8], declared: Option<&str>) -> Result<Accepted, Refusal> {
        let accepted = accept(bytes, declared)?;
        limits::within(accepted, bytes.len() as u64, self.max_bytes)
    }

    fn accepted_types(&self) -> &'static str {
        "a JPEG or PNG photo (up to 10 MB), an MP4 or 3GPP video, AAC, AMR, MP3, MP4 or OGG \
         audio, a WebP sticker, or a PDF, Office or text document (up to 50 MB)"
    }

    fn caption_allowed(&self, kind: MediaKind) -> bool {
        kind != MediaKind::Sticker
    }

    fn prepare<'a>(
        &'a self,
        _file: &'a OutgoingFile,
    ) -> BoxFuture<'a, Result<PreparedFile, SendError>> {
        async move {
            let id = format!("{MEDIA_ID_PREFIX}{}", uuid::Uuid::now_v7().simple());
            Ok(PreparedFile {
                media_id: id.clone(),
                source: MediaSource::Stored(id),
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
    fn photos_up_to_10_megabytes_other_files_up_to_50() {
        assert!(accept(&jpeg(10 * MB as usize), None).is_ok());
        assert_eq!(
            accept(&jpeg(10 * MB as usize + 1), None),
            Err(Refusal::TooLarge {
                kind: "image",
                size: 10 * MB + 1,
                limit: PHOTO_MAX
            })
        );
        let mut pdf = b"%PDF-1.7\n%\xe2\xe3".to_vec();
        pdf.resize(40 * MB as usize, b'a');
        assert_eq!(accept(&pdf, None).map(|a| a.kind), Ok(MediaKind::Document));
        pdf.resize(50 * MB as usize + 1, b'a');
        assert!(matches!(
            accept(&pdf, None),
            Err(Refusal::TooLarge {
                limit: FILE_MAX,
                ..
            })
        ));
        assert!(matches!(
            accept(b"\x7fELF\x02\x01\x01\0\0\0\0\0", Some("application/pdf")),
            Err(Refusal::UnsupportedType { .. })
        ));
    }

    #[tokio::test]
    async fn a_file_stays_in_our_store_under_an_id_of_its_own() {
        let files = TelegramFiles::new(100 * MB);
        assert_eq!(files.max_bytes(), FILE_MAX);
        let file = OutgoingFile {
            bytes: bytes::Bytes::from(jpeg(100)),
            kind: MediaKind::Image,
            mime_type: "image/jpeg".into(),
            filename: "a.jpg".into(),
            blob: limits::digest_hex(&jpeg(100)),
        };
        let a = files.prepare(&file).await.expect("prepared");
        let b = files.prepare(&file).await.expect("prepared");
        assert!(a.media_id.starts_with(MEDIA_ID_PREFIX));
        assert_ne!(
            a.media_id, b.media_id,
            "the same file sent twice is two media"
        );
        assert_eq!(a.source, MediaSource::Stored(a.media_id.clone()));
    }
}
