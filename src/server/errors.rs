//! The one place where the typed errors of the layers below become HTTP statuses and stable
//! codes. REST handlers (through [`super::rest::ApiError`]'s `From`), the channel API and the
//! source-client reader all answer through [`Status`], so one error reads the same wherever it
//! comes from.

use crate::live::CreateError;
use crate::media::MediaError;
use crate::ondemand::memory::Refused;
use crate::storage::StoreError;
use warp::http::StatusCode;

/// What an error is, to an HTTP client.
pub trait Status: std::fmt::Display {
    fn status(&self) -> StatusCode;
    /// Stable, for programs (`code` in the JSON body).
    fn code(&self) -> &'static str;
    /// Seconds to wait before asking again (`Retry-After`), for 429 and 503.
    fn retry_after_s(&self) -> Option<u64> {
        None
    }
}

impl Status for StoreError {
    fn status(&self) -> StatusCode {
        match self {
            StoreError::NotFound { .. } => StatusCode::NOT_FOUND,
            StoreError::Invalid(_) => StatusCode::BAD_REQUEST,
            StoreError::Media(_) => StatusCode::UNPROCESSABLE_ENTITY,
            StoreError::Forbidden(_) => StatusCode::FORBIDDEN,
            StoreError::Gone(_) => StatusCode::GONE,
            StoreError::Conflict(_) => StatusCode::CONFLICT,
            StoreError::Quota { .. } => StatusCode::TOO_MANY_REQUESTS,
            StoreError::Io(_) | StoreError::Db(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            StoreError::NotFound { .. } => "not_found",
            StoreError::Invalid(_) => "invalid",
            StoreError::Media(_) => "undecodable_media",
            StoreError::Forbidden(_) => "forbidden",
            StoreError::Gone(_) => "media_missing",
            StoreError::Conflict(_) => "conflict",
            StoreError::Quota { .. } => "quota",
            StoreError::Io(_) | StoreError::Db(_) => "internal",
        }
    }

    fn retry_after_s(&self) -> Option<u64> {
        match self {
            StoreError::Quota { retry_after_s, .. } => Some((*retry_after_s).max(1)),
            _ => None,
        }
    }
}

impl Status for CreateError {
    fn status(&self) -> StatusCode {
        match self {
            CreateError::Exists(_) => StatusCode::CONFLICT,
            CreateError::Limit(_) => StatusCode::SERVICE_UNAVAILABLE,
            CreateError::Invalid(_) => StatusCode::BAD_REQUEST,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            CreateError::Exists(_) => "channel_exists",
            CreateError::Limit(_) => "too_many_channels",
            CreateError::Invalid(_) => "invalid_channel",
        }
    }
}

/// A request refused its memory (`ondemand::memory`): 413 when it alone is too large, 503 with
/// Retry-After when others hold the budget.
impl Status for Refused {
    fn status(&self) -> StatusCode {
        match self {
            Refused::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Refused::Busy => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            Refused::TooLarge { .. } => "too_large",
            Refused::Busy => "busy",
        }
    }

    fn retry_after_s(&self) -> Option<u64> {
        matches!(self, Refused::Busy).then_some(2)
    }
}

/// Media a client named (a URL to fetch): refused by the operator's rules (400), or not read
/// (422).
impl Status for MediaError {
    fn status(&self) -> StatusCode {
        match self {
            MediaError::Refused { .. } => StatusCode::BAD_REQUEST,
            MediaError::Init(_) => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            MediaError::Refused { .. } => "refused_source",
            MediaError::Init(_) => "internal",
            MediaError::Io { .. } => "fetch_failed",
            _ => "undecodable_media",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A channel that cannot be made reads the same from the API and from a source client
    /// (it was 400 from one and 500 from the other).
    #[test]
    fn each_error_has_one_status() {
        let invalid = CreateError::Invalid(vec!["name: too long".into()]);
        assert_eq!((invalid.status(), invalid.code()), (StatusCode::BAD_REQUEST, "invalid_channel"));
        let quota = StoreError::Quota { message: "slow down".into(), retry_after_s: 0 };
        assert_eq!((quota.status(), quota.retry_after_s()), (StatusCode::TOO_MANY_REQUESTS, Some(1)));
        let refused = MediaError::Refused { input: "u".into(), message: "private".into() };
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    }
}
