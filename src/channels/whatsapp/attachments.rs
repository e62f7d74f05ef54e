//! WhatsApp's side of agents' attachments: Meta's types and limits ([`limits::classify`]), the
//! file uploaded to the number (`POST /{phone-number-id}/media`) and sent by its media id.

use futures::FutureExt;
use futures::future::BoxFuture;

use crate::channels::{AttachmentChannel, OutgoingFile, PreparedFile, SendError};
use crate::config::ChannelSettings;
use crate::domain::{MediaKind, MediaSource};
use crate::media::graph::GraphMedia;
use crate::media::limits::{self, Accepted, Refusal};

pub struct WhatsappFiles {
    graph: GraphMedia,
    channel: ChannelSettings,
}

impl WhatsappFiles {
    pub fn new(graph: GraphMedia, channel: ChannelSettings) -> Self {
        Self { graph, channel }
    }
}

impl AttachmentChannel for WhatsappFiles {
    fn name(&self) -> &'static str {
        "WhatsApp"
    }

    fn max_bytes(&self) -> u64 {
        self.graph.max_bytes()
    }

    fn accept(&self, bytes: &[u8], declared: Option<&str>) -> Result<Accepted, Refusal> {
        limits::classify(bytes, declared)
    }

    fn accepted_types(&self) -> &'static str {
        "a JPEG or PNG image, an MP4 or 3GPP video, AAC, AMR, MP3, MP4 or OGG audio, a WebP \
         sticker, or a PDF, Office or text document"
    }

    fn caption_allowed(&self, kind: MediaKind) -> bool {
        !matches!(kind, MediaKind::Audio | MediaKind::Sticker)
    }

    fn prepare<'a>(
        &'a self,
        file: &'a OutgoingFile,
    ) -> BoxFuture<'a, Result<PreparedFile, SendError>> {
        async move {
            let id = self
                .graph
                .upload(
                    &self.channel,
                    file.bytes.clone(),
                    &file.mime_type,
                    &file.filename,
                )
                .await?;
            Ok(PreparedFile {
                media_id: id.clone(),
                source: MediaSource::Id(id),
            })
        }
        .boxed()
    }
}
