//! Reading a webhook body before anyone knows who sent it.
//!
//! Nothing is allocated from a declared `Content-Length`: the buffer grows with the bytes that
//! actually arrive. A body must keep arriving (at most `server.body_idle_timeout_ms` between
//! chunks) and be complete within `server.body_deadline_ms`, or the request is answered 408 and
//! its connection closed. All unfinished bodies together hold at most
//! `server.max_pending_body_bytes` ([`BodyBudget`]); a chunk that would go over is answered
//! 503 with Retry-After. A body's share of the budget is released when its request is done.

use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpRequest;
use actix_web::web::{self, Bytes, BytesMut};
use futures::StreamExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

use super::ApiError;
use crate::config::ServerSettings;
use crate::metrics as m;

/// The bytes all unfinished webhook bodies may hold together, shared by the HTTP workers.
#[derive(Clone)]
pub struct BodyBudget {
    bytes: Arc<Semaphore>,
    idle: Duration,
    deadline: Duration,
    limit: usize,
    retry_after_seconds: u64,
}

/// A body read whole, with its share of the budget (released when dropped).
pub struct Body {
    pub bytes: Bytes,
    _held: Option<OwnedSemaphorePermit>,
}

impl BodyBudget {
    pub fn new(server: &ServerSettings, retry_after_seconds: u64) -> BodyBudget {
        BodyBudget {
            bytes: Arc::new(Semaphore::new(
                server.max_pending_body_bytes.min(Semaphore::MAX_PERMITS),
            )),
            idle: Duration::from_millis(server.body_idle_timeout_ms.max(1)),
            deadline: Duration::from_millis(server.body_deadline_ms.max(1)),
            limit: server.max_body_bytes,
            retry_after_seconds,
        }
    }

    /// Bytes of the budget not held by a body now.
    pub fn available(&self) -> usize {
        self.bytes.available_permits()
    }

    /// Read the body of `req` (up to `server.max_body_bytes`; a larger one, declared or
    /// actual, is a 413) within the idle timeout, the deadline and the budget.
    pub async fn read(
        &self,
        req: &HttpRequest,
        mut payload: web::Payload,
    ) -> Result<Body, ApiError> {
        let declared = req
            .headers()
            .get(actix_web::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > self.limit) {
            return Err(ApiError::PayloadTooLarge { limit: self.limit });
        }
        let deadline = tokio::time::Instant::now() + self.deadline;
        let mut body = BytesMut::new();
        let mut held: Option<OwnedSemaphorePermit> = None;
        loop {
            let next =
                tokio::time::timeout_at(deadline, tokio::time::timeout(self.idle, payload.next()));
            let chunk = match next.await {
                Ok(Ok(Some(chunk))) => {
                    chunk.map_err(|e| ApiError::BadRequest(format!("reading body: {e}")))?
                }
                Ok(Ok(None)) => break,
                Ok(Err(_)) => return Err(self.timed_out("idle")),
                Err(_) => return Err(self.timed_out("deadline")),
            };
            if chunk.is_empty() {
                continue;
            }
            if body.len() + chunk.len() > self.limit {
                return Err(ApiError::PayloadTooLarge { limit: self.limit });
            }
            let share = u32::try_from(chunk.len()).unwrap_or(u32::MAX);
            match self.bytes.clone().try_acquire_many_owned(share) {
                Ok(permit) => match held.as_mut() {
                    Some(all) => all.merge(permit),
                    None => held = Some(permit),
                },
                Err(TryAcquireError::NoPermits) | Err(TryAcquireError::Closed) => {
                    metrics::counter!(m::WEBHOOK_BODY_REFUSED, "reason" => "budget").increment(1);
                    return Err(ApiError::BodiesOverBudget {
                        retry_after_seconds: self.retry_after_seconds,
                    });
                }
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Body {
            bytes: body.freeze(),
            _held: held,
        })
    }

    fn timed_out(&self, reason: &'static str) -> ApiError {
        metrics::counter!(m::WEBHOOK_BODY_REFUSED, "reason" => reason).increment(1);
        ApiError::RequestTimeout(match reason {
            "idle" => format!("the body stopped arriving for {} ms", self.idle.as_millis()),
            _ => format!(
                "the body did not arrive within {} ms",
                self.deadline.as_millis()
            ),
        })
    }
}
