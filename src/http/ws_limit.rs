//! A size check on the websocket's incoming bytes, ahead of the frame decoder.
//!
//! actix-http's decoder only compares a frame's declared length with its limit once the whole
//! frame is buffered, so a frame declared as 1 GiB is read into memory before it is refused.
//! [`FrameLimit`] sits between the connection and actix-ws: it follows the frame headers as
//! they pass (RFC 6455, section 5.2: two bytes, then 2 or 8 bytes of extended length, then the
//! 4-byte mask) and skips over payloads without holding them. As soon as a header declares a
//! frame, or a fragmented message adds up to, more than the limit, the stream ends with
//! [`PayloadError::Overflow`], which the session answers with close code 1009 (message too
//! big). It never buffers more than one header (14 bytes) itself.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_web::error::PayloadError;
use actix_web::web::Bytes;
use futures::Stream;

/// What the incoming bytes of one connection have declared so far.
#[derive(Debug, Clone)]
pub struct FrameScanner {
    max_message: u64,
    header: [u8; 14],
    header_len: usize,
    /// Payload bytes of the current frame still to skip.
    payload_left: u64,
    /// Total declared length of the data message being fragmented, if one is open.
    fragmented: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge {
    pub declared: u64,
}

impl FrameScanner {
    pub fn new(max_message: usize) -> FrameScanner {
        FrameScanner {
            max_message: max_message as u64,
            header: [0; 14],
            header_len: 0,
            payload_left: 0,
            fragmented: None,
        }
    }

    /// Follow `bytes`; an error as soon as a frame or message is declared over the limit.
    pub fn scan(&mut self, mut bytes: &[u8]) -> Result<(), TooLarge> {
        while !bytes.is_empty() {
            if self.payload_left > 0 {
                let skip = self.payload_left.min(bytes.len() as u64);
                self.payload_left -= skip;
                bytes = &bytes[skip as usize..];
                continue;
            }
            // In a header: take bytes until it is complete.
            let needed = self.header_needed();
            let take = (needed - self.header_len).min(bytes.len());
            self.header[self.header_len..self.header_len + take].copy_from_slice(&bytes[..take]);
            self.header_len += take;
            bytes = &bytes[take..];
            if self.header_len == self.header_needed() {
                self.frame_declared()?;
            }
        }
        Ok(())
    }

    /// The header's full length, as far as its bytes so far tell (2 until the second byte).
    fn header_needed(&self) -> usize {
        if self.header_len < 2 {
            return 2;
        }
        let extended = match self.header[1] & 0x7f {
            126 => 2,
            127 => 8,
            _ => 0,
        };
        let mask = if self.header[1] & 0x80 != 0 { 4 } else { 0 };
        2 + extended + mask
    }

    fn frame_declared(&mut self) -> Result<(), TooLarge> {
        let fin = self.header[0] & 0x80 != 0;
        let opcode = self.header[0] & 0x0f;
        let length = match self.header[1] & 0x7f {
            126 => u64::from(u16::from_be_bytes([self.header[2], self.header[3]])),
            127 => {
                let mut eight = [0u8; 8];
                eight.copy_from_slice(&self.header[2..10]);
                u64::from_be_bytes(eight)
            }
            n => u64::from(n),
        };
        self.header_len = 0;
        self.payload_left = length;
        if length > self.max_message {
            return Err(TooLarge { declared: length });
        }
        match opcode {
            // Continuation: adds to the open fragmented message.
            0x0 => {
                let total = self.fragmented.unwrap_or(0).saturating_add(length);
                if total > self.max_message {
                    return Err(TooLarge { declared: total });
                }
                self.fragmented = if fin { None } else { Some(total) };
            }
            // Text or binary: a whole message, or the first fragment of one.
            0x1 | 0x2 => self.fragmented = if fin { None } else { Some(length) },
            // Control frames (and reserved opcodes, which the decoder refuses) do not belong to
            // the fragmented message.
            _ => {}
        }
        Ok(())
    }
}

/// The connection's bytes, passed through while [`FrameScanner`] finds nothing too large.
pub struct FrameLimit<S> {
    inner: S,
    scanner: FrameScanner,
    done: bool,
}

impl<S> FrameLimit<S> {
    pub fn new(inner: S, max_message: usize) -> FrameLimit<S> {
        FrameLimit {
            inner,
            scanner: FrameScanner::new(max_message),
            done: false,
        }
    }
}

impl<S> Stream for FrameLimit<S>
where
    S: Stream<Item = Result<Bytes, PayloadError>> + Unpin,
{
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(bytes))) => match self.scanner.scan(&bytes) {
                Ok(()) => Poll::Ready(Some(Ok(bytes))),
                Err(_) => {
                    self.done = true;
                    Poll::Ready(Some(Err(PayloadError::Overflow)))
                }
            },
            other => other,
        }
    }
}

/// Whether a websocket stream error means "too large" (ours, or the decoder's own checks).
pub fn is_too_large(error: &actix_ws::ProtocolError) -> bool {
    match error {
        actix_ws::ProtocolError::Overflow => true,
        actix_ws::ProtocolError::Io(io) => {
            io.get_ref()
                .and_then(|inner| inner.downcast_ref::<PayloadError>())
                .is_some_and(|e| matches!(e, PayloadError::Overflow))
                || io
                    .to_string()
                    .contains("Exceeded maximum continuation size")
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A masked client frame header declaring `len` bytes.
    fn header(fin: bool, opcode: u8, len: u64) -> Vec<u8> {
        let mut h = vec![(if fin { 0x80 } else { 0 }) | opcode];
        if len < 126 {
            h.push(0x80 | len as u8);
        } else if len <= u64::from(u16::MAX) {
            h.push(0x80 | 126);
            h.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            h.push(0x80 | 127);
            h.extend_from_slice(&len.to_be_bytes());
        }
        h.extend_from_slice(&[1, 2, 3, 4]);
        h
    }

    fn frame(fin: bool, opcode: u8, len: usize) -> Vec<u8> {
        let mut f = header(fin, opcode, len as u64);
        f.extend(std::iter::repeat_n(b'x', len));
        f
    }

    #[test]
    fn frames_within_the_limit_pass_whatever_the_chunking() {
        let mut stream = Vec::new();
        stream.extend(frame(true, 1, 10));
        stream.extend(frame(true, 1, 125));
        stream.extend(frame(true, 2, 126));
        stream.extend(frame(true, 1, 1000));
        stream.extend(frame(true, 9, 4)); // ping
        stream.extend(frame(false, 1, 400));
        stream.extend(frame(true, 10, 0)); // pong between fragments
        stream.extend(frame(true, 0, 600)); // 1000 in all: at the limit
        for chunk in [1, 2, 3, 7, 13, 64, stream.len()] {
            let mut scanner = FrameScanner::new(1000);
            for piece in stream.chunks(chunk) {
                assert_eq!(scanner.scan(piece), Ok(()), "chunks of {chunk}");
            }
            assert_eq!(scanner.payload_left, 0);
            assert_eq!(scanner.header_len, 0);
            assert_eq!(scanner.fragmented, None);
        }
    }

    #[test]
    fn a_frame_declared_over_the_limit_is_refused_at_its_header() {
        for len in [1001, 70_000, 1 << 30, u64::MAX] {
            let mut scanner = FrameScanner::new(1000);
            let h = header(true, 1, len);
            // Every byte but the last of the header passes; the last one reveals it.
            assert_eq!(scanner.scan(&h[..h.len() - 1]), Ok(()));
            assert_eq!(
                scanner.scan(&h[h.len() - 1..]),
                Err(TooLarge { declared: len })
            );
        }
    }

    #[test]
    fn a_fragmented_message_adding_up_over_the_limit_is_refused() {
        let mut scanner = FrameScanner::new(1000);
        assert_eq!(scanner.scan(&frame(false, 1, 600)), Ok(()));
        assert_eq!(scanner.scan(&frame(true, 9, 10)), Ok(()));
        assert_eq!(
            scanner.scan(&header(false, 0, 401)),
            Err(TooLarge { declared: 1001 })
        );
        // A new message starts counting afresh.
        let mut scanner = FrameScanner::new(1000);
        assert_eq!(scanner.scan(&frame(false, 2, 600)), Ok(()));
        assert_eq!(scanner.scan(&frame(true, 0, 400)), Ok(()));
        assert_eq!(scanner.scan(&frame(true, 1, 1000)), Ok(()));
    }

    #[test]
    fn the_stream_ends_with_overflow_and_yields_nothing_after() {
        let chunks: Vec<Result<Bytes, PayloadError>> = vec![
            Ok(Bytes::from(frame(true, 1, 5))),
            Ok(Bytes::from(header(true, 1, 1 << 30))),
            Ok(Bytes::from(vec![0u8; 64])),
        ];
        let mut limited = FrameLimit::new(futures::stream::iter(chunks), 1000);
        let items = futures::executor::block_on(async {
            use futures::StreamExt;
            let mut items = Vec::new();
            while let Some(item) = limited.next().await {
                items.push(item.map(|b| b.len()).map_err(|e| e.to_string()));
            }
            items
        });
        assert_eq!(items.len(), 2);
        assert_eq!(items[0], Ok(frame(true, 1, 5).len()));
        assert!(items[1].is_err());
    }
}
