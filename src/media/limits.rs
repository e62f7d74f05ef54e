//! Meta's media types and sizes, and the other decisions about media, as pure functions:
//! what an uploaded file is (from its bytes, not from what the browser claims), whether Meta
//! takes it, whether a download matches the webhook's checksum, and what a failed download
//! attempt means.
//!
//! Limits (WhatsApp Cloud API, media upload): image jpeg/png 5 MB; video mp4/3gpp 16 MB; audio
//! aac/amr/mpeg/mp4/ogg 16 MB; document 100 MB; sticker webp 100 KB static, 500 KB animated.

use base64::Engine as _;

use crate::domain::MediaKind;

pub const MB: u64 = 1024 * 1024;
pub const IMAGE_MAX: u64 = 5 * MB;
pub const VIDEO_MAX: u64 = 16 * MB;
pub const AUDIO_MAX: u64 = 16 * MB;
pub const DOCUMENT_MAX: u64 = 100 * MB;
pub const STICKER_MAX: u64 = 100 * 1024;
pub const ANIMATED_STICKER_MAX: u64 = 500 * 1024;
/// Longest caption Meta takes.
pub const CAPTION_MAX: usize = 1024;
/// Longest document file name kept.
pub const FILENAME_MAX: usize = 240;

/// Document types Meta accepts besides plain text (PDF and Microsoft Office).
const DOCUMENT_TYPES: &[&str] = &[
    "application/pdf",
    "application/msword",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.ms-powerpoint",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
];

/// A file Meta will take: its kind and its type.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    pub kind: MediaKind,
    pub mime_type: String,
}

/// Why a file is refused (a 4xx for the agent).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the file is empty")]
    Empty,
    #[error("this type of file cannot be sent{}", detected.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    UnsupportedType { detected: Option<String> },
    #[error("the file is {size} bytes; {kind} files may be up to {limit} bytes")]
    TooLarge {
        kind: &'static str,
        size: u64,
        limit: u64,
    },
}

/// The type of `bytes` from their content: `infer`'s magic numbers, plus 3GPP (an ISO media
/// file whose brand starts with `3gp`, which `infer` reports as mp4 or not at all).
pub fn sniff(bytes: &[u8]) -> Option<String> {
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" && bytes[8..11].eq_ignore_ascii_case(b"3gp") {
        return Some("video/3gpp".into());
    }
    let found = infer::get(bytes)?;
    Some(
        match found.mime_type() {
            // The same containers under the names Meta uses.
            "audio/m4a" | "audio/x-m4a" => "audio/mp4",
            "audio/x-aac" => "audio/aac",
            "audio/x-amr" => "audio/amr",
            "audio/opus" => "audio/ogg",
            other => other,
        }
        .to_string(),
    )
}

/// An animated WebP: an extended header (`VP8X`) with the animation flag.
pub fn is_animated_webp(bytes: &[u8]) -> bool {
    bytes.len() >= 21 && &bytes[12..16] == b"VP8X" && bytes[20] & 0x02 != 0
}

/// What an uploaded file is and whether WhatsApp takes it. `declared` is the type the browser
/// gave: used only where the bytes cannot tell (plain text, and audio in an mp4 container).
pub fn classify(bytes: &[u8], declared: Option<&str>) -> Result<Accepted, Refusal> {
    let (accepted, limit) = identify(bytes, declared)?;
    within(accepted, bytes.len() as u64, limit)
}

/// `accepted` if `size` is at most `limit`, else [`Refusal::TooLarge`].
pub fn within(accepted: Accepted, size: u64, limit: u64) -> Result<Accepted, Refusal> {
    if size > limit {
        return Err(Refusal::TooLarge {
            kind: accepted.kind.as_str(),
            size,
            limit,
        });
    }
    Ok(accepted)
}

/// What an uploaded file is, from its bytes (the types Meta knows: JPEG/PNG images, WebP
/// stickers, MP4/3GPP video, AAC/AMR/MP3/MP4/OGG audio, PDF, Office and text documents), with
/// WhatsApp's limit for it. Each channel applies its own limits ([`within`]) to what this says.
pub fn identify(bytes: &[u8], declared: Option<&str>) -> Result<(Accepted, u64), Refusal> {
    if bytes.is_empty() {
        return Err(Refusal::Empty);
    }
    let declared = declared.map(|d| d.split(';').next().unwrap_or(d).trim().to_ascii_lowercase());
    let sniffed = sniff(bytes);
    let (kind, mime, limit) = match sniffed.as_deref() {
        Some(m @ ("image/jpeg" | "image/png")) => (MediaKind::Image, m.to_string(), IMAGE_MAX),
        Some("image/webp") => {
            let limit = if is_animated_webp(bytes) {
                ANIMATED_STICKER_MAX
            } else {
                STICKER_MAX
            };
            (MediaKind::Sticker, "image/webp".to_string(), limit)
        }
        Some("video/mp4") if declared.as_deref() == Some("audio/mp4") => {
            (MediaKind::Audio, "audio/mp4".to_string(), AUDIO_MAX)
        }
        Some(m @ ("video/mp4" | "video/3gpp")) => (MediaKind::Video, m.to_string(), VIDEO_MAX),
        Some(m @ ("audio/aac" | "audio/amr" | "audio/mpeg" | "audio/mp4" | "audio/ogg")) => {
            (MediaKind::Audio, m.to_string(), AUDIO_MAX)
        }
        Some(m) if DOCUMENT_TYPES.contains(&m) => {
            (MediaKind::Document, m.to_string(), DOCUMENT_MAX)
        }
        // Office files in a zip or compound container the sniffer names generically: trust
        // the declared Office type only then.
        Some("application/zip" | "application/x-ole-storage")
            if declared
                .as_deref()
                .is_some_and(|d| DOCUMENT_TYPES.contains(&d)) =>
        {
            (
                MediaKind::Document,
                declared.clone().unwrap_or_default(),
                DOCUMENT_MAX,
            )
        }
        None if declared.as_deref() == Some("text/plain") && std::str::from_utf8(bytes).is_ok() => {
            (MediaKind::Document, "text/plain".to_string(), DOCUMENT_MAX)
        }
        other => {
            return Err(Refusal::UnsupportedType {
                detected: other.map(str::to_string).or(declared),
            });
        }
    };
    Ok((
        Accepted {
            kind,
            mime_type: mime,
        },
        limit,
    ))
}

/// The largest file of `kind` Meta sends or takes.
pub fn max_for(kind: MediaKind) -> u64 {
    match kind {
        MediaKind::Image => IMAGE_MAX,
        MediaKind::Video => VIDEO_MAX,
        MediaKind::Audio => AUDIO_MAX,
        MediaKind::Document => DOCUMENT_MAX,
        MediaKind::Sticker => ANIMATED_STICKER_MAX,
    }
}

/// Hex SHA-256 of `bytes`: the media store's name for them.
pub fn digest_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Whether `expected` (the webhook's `sha256`: base64 in Meta's webhooks, hex in the media
/// metadata) names the bytes whose hex SHA-256 is `actual_hex`.
pub fn checksum_matches(expected: &str, actual_hex: &str) -> bool {
    let expected = expected.trim();
    if expected.eq_ignore_ascii_case(actual_hex) {
        return true;
    }
    let Ok(raw) = hex::decode(actual_hex) else {
        return false;
    };
    let standard = base64::engine::general_purpose::STANDARD.encode(&raw);
    let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&raw);
    expected == standard || expected.trim_end_matches('=') == url_safe
}

/// A file name safe to show and to put in a header: no path, no control characters, bounded.
pub fn clean_filename(name: &str) -> Option<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let cleaned: String = base
        .chars()
        .filter(|c| !c.is_control() && *c != '"')
        .take(FILENAME_MAX)
        .collect();
    let cleaned = cleaned.trim().to_string();
    (!cleaned.is_empty() && cleaned != "." && cleaned != "..").then_some(cleaned)
}

/// What one failed download attempt means.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Worth another attempt later (network, 5xx, rate limits, an expired short-lived URL).
    Retry(String),
    /// It will never work: the media id is gone, the bytes do not match, too large.
    Gone(String),
}

impl Failure {
    pub fn reason(&self) -> &str {
        match self {
            Failure::Retry(r) | Failure::Gone(r) => r,
        }
    }
}

/// After a failed attempt (the `attempts`-th, counting from 1): try again, or give up.
pub fn after_failure(failure: &Failure, attempts: u32, max_attempts: u32) -> bool {
    matches!(failure, Failure::Retry(_)) && attempts < max_attempts.max(1)
}

/// A Graph answer to `GET /{media-id}` that is not 2xx: a missing object (Graph code 100, or
/// HTTP 404/410 without an envelope) is gone for good; anything else may pass.
pub fn metadata_failure(http_status: u16, graph_code: Option<i64>, message: &str) -> Failure {
    let gone = matches!(graph_code, Some(100) | Some(131052))
        || (graph_code.is_none() && matches!(http_status, 404 | 410));
    if gone {
        Failure::Gone(format!("media_gone: {message}"))
    } else {
        Failure::Retry(format!("metadata: HTTP {http_status}: {message}"))
    }
}

/// A provider's link to a file (a Messenger or Instagram attachment's CDN URL) answered
/// `http_status`: 401/403/404/410 mean it expired, and no new one can be asked for: gone.
/// Anything else is worth another try.
pub fn link_failure(http_status: u16) -> Failure {
    match http_status {
        401 | 403 | 404 | 410 => Failure::Gone(format!("url_expired: HTTP {http_status}")),
        _ => Failure::Retry(format!("download: HTTP {http_status}")),
    }
}

/// The download URL answered `http_status`: 401/403/404/410 mean it expired (a new one is
/// asked for at the next attempt); 5xx and 429 are transient; anything else too.
pub fn download_failure(http_status: u16) -> Failure {
    match http_status {
        401 | 403 | 404 | 410 => Failure::Retry(format!("url_expired: HTTP {http_status}")),
        _ => Failure::Retry(format!("download: HTTP {http_status}")),
    }
}

/// A download's answer, read whole but never past `max` bytes: a non-2xx status is the
/// failure [`download_failure`] says, a declared or actual size over `max` is `too_large`
/// (gone), a broken stream is worth another try. `describe` turns a transport error into
/// words (without secrets in its URL).
pub async fn read_capped(
    mut response: reqwest::Response,
    max: u64,
    describe: impl Fn(reqwest::Error) -> String,
) -> Result<bytes::Bytes, Failure> {
    let status = response.status().as_u16();
    if !(200..300).contains(&status) {
        return Err(download_failure(status));
    }
    let too_large = || Failure::Gone(format!("too_large: over {max} bytes"));
    if response.content_length().is_some_and(|n| n > max) {
        return Err(too_large());
    }
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Failure::Retry(format!("download: {}", describe(e))))?
    {
        if (buf.len() + chunk.len()) as u64 > max {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub const PNG: &[u8] = &[
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, b'I', b'H', b'D', b'R', 0, 0,
        0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0,
    ];

    fn jpeg(len: usize) -> Vec<u8> {
        let mut v = vec![0xFF, 0xD8, 0xFF, 0xE0];
        v.resize(len, 0);
        v
    }

    fn webp(animated: bool, len: usize) -> Vec<u8> {
        let mut v = b"RIFF\0\0\0\0WEBPVP8X".to_vec();
        v.extend_from_slice(&[10, 0, 0, 0, if animated { 0x02 } else { 0 }]);
        v.resize(len.max(v.len()), 0);
        v
    }

    fn iso(brand: &[u8; 4]) -> Vec<u8> {
        let mut v = vec![0, 0, 0, 0x18];
        v.extend_from_slice(b"ftyp");
        v.extend_from_slice(brand);
        v.resize(64, 0);
        v
    }

    #[test]
    fn images_by_their_bytes_within_five_megabytes() {
        assert_eq!(
            classify(PNG, Some("application/octet-stream")),
            Ok(Accepted {
                kind: MediaKind::Image,
                mime_type: "image/png".into()
            })
        );
        assert_eq!(
            classify(&jpeg(100), None).map(|a| a.kind),
            Ok(MediaKind::Image)
        );
        assert!(classify(&jpeg(IMAGE_MAX as usize), None).is_ok());
        assert_eq!(
            classify(&jpeg(IMAGE_MAX as usize + 1), Some("image/jpeg")),
            Err(Refusal::TooLarge {
                kind: "image",
                size: IMAGE_MAX + 1,
                limit: IMAGE_MAX
            })
        );
    }

    #[test]
    fn the_declared_type_does_not_make_a_file_what_it_is_not() {
        // An HTML page called an image.
        let html = b"<!doctype html><script>alert(1)</script>";
        assert!(matches!(
            classify(html, Some("image/png")),
            Err(Refusal::UnsupportedType { .. })
        ));
        // An executable called a PDF.
        let elf = b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0";
        assert!(matches!(
            classify(elf, Some("application/pdf")),
            Err(Refusal::UnsupportedType { .. })
        ));
        // Plain text only when declared and valid UTF-8.
        assert_eq!(
            classify("hello".as_bytes(), Some("text/plain; charset=utf-8")).map(|a| a.mime_type),
            Ok("text/plain".into())
        );
        assert!(classify(&[0xC3, 0x28], Some("text/plain")).is_err());
        assert!(classify("hello".as_bytes(), None).is_err());
        assert_eq!(classify(b"", Some("image/png")), Err(Refusal::Empty));
    }

    #[test]
    fn stickers_videos_audio_and_documents() {
        assert_eq!(
            classify(&webp(false, 1000), None).map(|a| a.kind),
            Ok(MediaKind::Sticker)
        );
        assert!(matches!(
            classify(&webp(false, 200 * 1024), None),
            Err(Refusal::TooLarge {
                limit: STICKER_MAX,
                ..
            })
        ));
        assert!(classify(&webp(true, 200 * 1024), None).is_ok());
        assert!(classify(&webp(true, 600 * 1024), None).is_err());
        assert_eq!(
            classify(&iso(b"3gp5"), None).map(|a| a.mime_type),
            Ok("video/3gpp".into())
        );
        assert_eq!(
            classify(&iso(b"isom"), None).map(|a| (a.kind, a.mime_type)),
            Ok((MediaKind::Video, "video/mp4".into()))
        );
        assert_eq!(
            classify(b"ID3\x03\0\0\0\0\0\0", None).map(|a| (a.kind, a.mime_type)),
            Ok((MediaKind::Audio, "audio/mpeg".into()))
        );
        assert_eq!(
            classify(b"OggS\0\x02\0\0\0\0\0\0\0\0", None).map(|a| a.kind),
            Ok(MediaKind::Audio)
        );
        assert_eq!(
            classify(b"%PDF-1.7\n%\xe2\xe3", None).map(|a| (a.kind, a.mime_type)),
            Ok((MediaKind::Document, "application/pdf".into()))
        );
        let gif = b"GIF89a\x01\0\x01\0\0\0\0";
        assert!(matches!(
            classify(gif, Some("image/gif")),
            Err(Refusal::UnsupportedType { .. })
        ));
    }

    #[test]
    fn checksums_in_hex_or_base64() {
        let hex = digest_hex(b"abc");
        assert_eq!(
            hex,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert!(checksum_matches(&hex, &hex));
        assert!(checksum_matches(&hex.to_uppercase(), &hex));
        assert!(checksum_matches(
            "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=",
            &hex
        ));
        assert!(!checksum_matches(
            "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa1=",
            &hex
        ));
        assert!(!checksum_matches("", &hex));
    }

    #[test]
    fn file_names_lose_paths_and_controls() {
        assert_eq!(clean_filename("../../etc/passwd"), Some("passwd".into()));
        assert_eq!(
            clean_filename("C:\\x\\Report \"Q3\".pdf"),
            Some("Report Q3.pdf".into())
        );
        assert_eq!(clean_filename("a\r\nb.txt"), Some("ab.txt".into()));
        assert_eq!(clean_filename(".."), None);
        assert_eq!(clean_filename("   "), None);
        assert_eq!(
            clean_filename(&"x".repeat(500)).map(|n| n.len()),
            Some(FILENAME_MAX)
        );
    }

    #[test]
    fn failures_retry_until_the_last_attempt_and_gone_is_final() {
        let retry = download_failure(404);
        assert!(retry.reason().starts_with("url_expired"));
        assert!(after_failure(&retry, 1, 3));
        assert!(!after_failure(&retry, 3, 3));
        let gone = metadata_failure(400, Some(100), "Unsupported get request");
        assert!(matches!(gone, Failure::Gone(_)));
        assert!(!after_failure(&gone, 1, 3));
        assert!(matches!(
            metadata_failure(500, Some(1), "x"),
            Failure::Retry(_)
        ));
        assert!(matches!(metadata_failure(404, None, "x"), Failure::Gone(_)));
        assert!(matches!(
            metadata_failure(401, Some(190), "x"),
            Failure::Retry(_)
        ));
    }
}
