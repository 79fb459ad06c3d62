//! The API's errors: one table of stable codes, each with its HTTP status. Every error
//! leaves the server as `{"error": {"code": "...", "message": "..."}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;

/// Every error code the API answers with. Scripts may rely on these names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The body is not valid JSON, or not the JSON this endpoint takes.
    InvalidJson,
    /// A query parameter or path segment is malformed.
    InvalidParameter,
    /// The request is well-formed but a value breaks a rule (empty subject, bad tag, ...).
    ValidationFailed,
    /// The requested status change is not allowed by the conversation lifecycle.
    InvalidTransition,
    /// No session cookie or bearer token, or one that expired or was revoked.
    Unauthenticated,
    /// Authenticated, but this principal may not do this.
    Forbidden,
    /// A cookie-authenticated write without the right X-CSRF-Token header.
    CsrfFailed,
    /// E-mail or password wrong.
    BadCredentials,
    /// The thing does not exist, or is not visible to this principal.
    NotFound,
    /// A uniqueness rule: the name or address is taken.
    Conflict,
    /// The body is larger than the server accepts.
    PayloadTooLarge,
    /// The body is not `application/json`.
    UnsupportedMediaType,
    MethodNotAllowed,
    /// Too many attempts: wait and try again.
    RateLimited,
    /// Our fault; logged with details.
    Internal,
    /// The database is unreachable.
    Unavailable,
}

impl ErrorCode {
    /// The table: (code, HTTP status).
    pub fn describe(self) -> (&'static str, StatusCode) {
        use ErrorCode::*;
        match self {
            InvalidJson => ("invalid_json", StatusCode::BAD_REQUEST),
            InvalidParameter => ("invalid_parameter", StatusCode::BAD_REQUEST),
            ValidationFailed => ("validation_failed", StatusCode::UNPROCESSABLE_ENTITY),
            InvalidTransition => ("invalid_transition", StatusCode::CONFLICT),
            Unauthenticated => ("unauthenticated", StatusCode::UNAUTHORIZED),
            Forbidden => ("forbidden", StatusCode::FORBIDDEN),
            CsrfFailed => ("csrf_failed", StatusCode::FORBIDDEN),
            BadCredentials => ("bad_credentials", StatusCode::UNAUTHORIZED),
            NotFound => ("not_found", StatusCode::NOT_FOUND),
            Conflict => ("conflict", StatusCode::CONFLICT),
            PayloadTooLarge => ("payload_too_large", StatusCode::PAYLOAD_TOO_LARGE),
            UnsupportedMediaType => ("unsupported_media_type", StatusCode::UNSUPPORTED_MEDIA_TYPE),
            MethodNotAllowed => ("method_not_allowed", StatusCode::METHOD_NOT_ALLOWED),
            RateLimited => ("rate_limited", StatusCode::TOO_MANY_REQUESTS),
            Internal => ("internal", StatusCode::INTERNAL_SERVER_ERROR),
            Unavailable => ("unavailable", StatusCode::SERVICE_UNAVAILABLE),
        }
    }
}

/// An error on its way to the client.
#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
        }
    }
}

/// The error body.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// A stable code from the error table, e.g. `not_found`, `validation_failed`.
    pub code: String,
    /// What went wrong, for a person.
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (code, status) = self.code.describe();
        let body = ErrorBody {
            error: ErrorDetail {
                code: code.to_string(),
                message: self.message,
            },
        };
        (status, Json(body)).into_response()
    }
}

impl From<app::AppError> for ApiError {
    fn from(err: app::AppError) -> Self {
        use app::AppError as E;
        let message = err.to_string();
        let code = match &err {
            E::NotFound(_) => ErrorCode::NotFound,
            E::Forbidden(_) => ErrorCode::Forbidden,
            E::Invalid(_) => ErrorCode::ValidationFailed,
            E::Transition(_) => ErrorCode::InvalidTransition,
            E::Conflict(_) => ErrorCode::Conflict,
            E::BadCredentials => ErrorCode::BadCredentials,
            E::Unauthenticated => ErrorCode::Unauthenticated,
            E::Store(err) if err.is_unavailable() => ErrorCode::Unavailable,
            E::Store(_) => ErrorCode::Internal,
        };
        if code == ErrorCode::Internal || code == ErrorCode::Unavailable {
            tracing::error!(error = %message, "request failed");
            return ApiError::new(code, "something went wrong on our side; it has been logged");
        }
        ApiError::new(code, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique() {
        use ErrorCode::*;
        let all = [
            InvalidJson,
            InvalidParameter,
            ValidationFailed,
            InvalidTransition,
            Unauthenticated,
            Forbidden,
            CsrfFailed,
            BadCredentials,
            NotFound,
            Conflict,
            PayloadTooLarge,
            UnsupportedMediaType,
            MethodNotAllowed,
            RateLimited,
            Internal,
            Unavailable,
        ];
        let mut names: Vec<&str> = all.iter().map(|c| c.describe().0).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
    }
}
