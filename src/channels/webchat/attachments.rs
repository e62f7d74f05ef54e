//! The web chat's side of files, both ways: nothing to upload anywhere. An agent's file stays in
//! our media store under a media id of its own (`wcf:…`) and the visitor fetches it from the
//! widget API; a visitor's file is stored the same way for the agents. The types are WhatsApp's
//! (`media::limits`), within `webchat.max_file_bytes`.

use futures::FutureExt;
use futures::future::BoxFuture;

use crate::channels::{AttachmentChannel, OutgoingFile, PreparedFile, SendError};
use crate::domain::{MediaKind, MediaSource};
use crate::media::WEBCHAT_MEDIA_PREFIX;
use crate::media::limits::{self, Accepted, Refusal};

pub struct WebchatFiles {
    max_bytes: u64,
}

impl WebchatFiles {
    pub fn new(max_bytes: u64) -> Self {
        Self { max_bytes }
    }
}

impl AttachmentChannel for WebchatFiles {
    fn name(&self) -> &'static str {
        "Web chat"
    }

    fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    fn accept(&self, bytes: &[u8], declared: Option<&str>) -> Result<Accepted, Refusal> {
        let accepted = limits::classify(bytes, declared)?;
        limits::within(accepted, bytes.len() as u64, self.max_bytes)
    }

    fn accepted_types(&self) -> &'static str {
        "a JPEG or PNG image, an MP4 or 3GPP video, AAC, AMR, MP3, MP4 or OGG audio, a WebP \
         sticker, or a PDF, Office or text document"
    }

    fn caption_allowed(&self, _kind: MediaKind) -> bool {
        true
    }

    fn prepare<'a>(
        &'a self,
        _file: &'a OutgoingFile,
    ) -> BoxFuture<'a, Result<PreparedFile, SendError>> {
        async move {
            let id = format!("{WEBCHAT_MEDIA_PREFIX}{}", uuid::Uuid::now_v7().simple());
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

    #[test]
    fn files_stay_here_under_a_web_chat_media_id_within_the_channel_s_limit() {
        let files = WebchatFiles::new(10);
        let png = b"\x89PNG\r\n\x1a\n0123";
        assert!(matches!(
            files.accept(png, Some("image/png")),
            Err(Refusal::TooLarge { .. })
        ));
        let files = WebchatFiles::new(1024);
        assert_eq!(
            files.accept(png, Some("image/png")).map(|a| a.kind),
            Ok(MediaKind::Image)
        );
        let file = OutgoingFile {
            bytes: bytes::Bytes::from_static(png),
            kind: MediaKind::Image,
            mime_type: "image/png".into(),
            filename: "a.png".into(),
            blob: "00".into(),
        };
        let prepared = futures::executor::block_on(files.prepare(&file)).expect("prepared");
        assert!(prepared.media_id.starts_with(WEBCHAT_MEDIA_PREFIX));
        assert_eq!(prepared.source, MediaSource::Id(prepared.media_id.clone()));
    }
}
