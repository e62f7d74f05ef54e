//! The one error type of the HTTP edge, mapped once to a stable JSON body:
//! `{"error": {"code": "...", "message": "..."}}`.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    /// It was there and is not any more (a customer's media that could not be downloaded).
    #[error("{0}")]
    Gone(String),
    /// The upload is not a type the channel takes (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The provider refused or failed what we passed on (502).
    #[error("{0}")]
    Upstream(String),
    #[error("{0}")]
    RequestTimeout(String),
    #[error("too many failed authentications, retry later")]
    TooManyRequests { retry_after_seconds: u64 },
    /// An API key past its request rate (`api_keys.requests_per_minute`).
    #[error("this API key is past its request rate, retry later")]
    RateLimited { retry_after_seconds: u64 },
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// A body within its size that holds more than a request takes (an import's rows): 413.
    #[error("{0}")]
    TooLarge(String),
    #[error("overloaded, retry later")]
    Overloaded { retry_after_seconds: u64 },
    /// The business portfolio's messaging limit (429, `messaging_limit`).
    #[error("{message}")]
    MessagingLimit {
        message: String,
        retry_after_seconds: u64,
    },
    /// All unfinished request bodies already hold the memory they may: the connection is
    /// closed with the answer, since the rest of this body is not read.
    #[error("too many request bodies arriving at once, retry later")]
    BodiesOverBudget { retry_after_seconds: u64 },
    #[error("temporarily unavailable, retry later")]
    Unavailable { retry_after_seconds: u64 },
    /// A request understood but refused by a rule (422), named by `code`: a configuration
    /// reload refused (`config_invalid`, `config_unreadable`, `config_not_from_files`), a
    /// free-form reply after the customer-service window closed (`window_closed`).
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    #[error("internal error")]
    Internal(String),
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: String,
}

impl ApiError {
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::BadRequest(_) => "bad_request",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::Gone(_) => "gone",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Upstream(_) => "upstream_failed",
            ApiError::RequestTimeout(_) => "request_timeout",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::MessagingLimit { .. } => "messaging_limit",
            ApiError::PayloadTooLarge { .. } | ApiError::TooLarge(_) => "payload_too_large",
            ApiError::Overloaded { .. } | ApiError::BodiesOverBudget { .. } => "overloaded",
            ApiError::Unavailable { .. } => "unavailable",
            ApiError::Unprocessable { code, .. } => code,
            ApiError::Internal(_) => "internal",
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Upstream(_) => StatusCode::BAD_GATEWAY,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::TooManyRequests { .. }
            | ApiError::RateLimited { .. }
            | ApiError::MessagingLimit { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::PayloadTooLarge { .. } | ApiError::TooLarge(_) => {
                StatusCode::PAYLOAD_TOO_LARGE
            }
            ApiError::Overloaded { .. } | ApiError::BodiesOverBudget { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ApiError::Internal(detail) = self {
            tracing::error!(%detail, "internal error");
        }
        let mut response = HttpResponse::build(self.status_code());
        if matches!(
            self,
            ApiError::RequestTimeout(_) | ApiError::BodiesOverBudget { .. }
        ) {
            // The rest of the body may still be on its way: end the connection.
            response.force_close();
        }
        if let ApiError::Overloaded {
            retry_after_seconds,
        }
        | ApiError::Unavailable {
            retry_after_seconds,
        }
        | ApiError::TooManyRequests {
            retry_after_seconds,
        }
        | ApiError::RateLimited {
            retry_after_seconds,
        }
        | ApiError::MessagingLimit {
            retry_after_seconds,
            ..
        }
        | ApiError::BodiesOverBudget {
            retry_after_seconds,
        } = self
            && let Ok(value) = HeaderValue::from_str(&retry_after_seconds.to_string())
        {
            response.insert_header((header::RETRY_AFTER, value));
        }
        response.json(ErrorBody {
            error: ErrorDetail {
                code: self.code(),
                message: self.to_string(),
            },
        })
    }
}

impl From<crate::conversation::commands::CommandError> for ApiError {
    fn from(e: crate::conversation::commands::CommandError) -> Self {
        use crate::conversation::commands::CommandError as E;
        match e {
            E::NotFound => ApiError::NotFound("no such conversation".into()),
            E::Forbidden(m) => ApiError::Forbidden(m),
            E::Conflict(m) => ApiError::Conflict(m),
            E::BadRequest(m) => ApiError::BadRequest(m),
            E::WindowClosed(message) => ApiError::Unprocessable {
                code: "window_closed",
                message,
            },
            E::Unavailable(_) => ApiError::Unavailable {
                retry_after_seconds: 1,
            },
            E::MessagingLimit {
                message,
                retry_after_seconds,
            } => ApiError::MessagingLimit {
                message,
                retry_after_seconds,
            },
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        if e.is_unavailable() {
            ApiError::Unavailable {
                retry_after_seconds: 1,
            }
        } else {
            ApiError::Internal(e.to_string())
        }
    }
}
