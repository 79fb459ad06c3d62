//! Request extractors that answer bad input with the API's JSON errors, and the
//! authentication of every request (session cookie with CSRF, or bearer token).

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use axum::Json;
use domain::Principal;

use crate::error::{ApiError, ErrorCode};
use crate::AppState;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "rapport_session";
/// The header that carries the CSRF token on cookie-authenticated writes.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A JSON body; any failure to read it becomes a JSON error.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(match rejection {
                JsonRejection::JsonDataError(e) => {
                    ApiError::new(ErrorCode::InvalidJson, e.body_text())
                }
                JsonRejection::JsonSyntaxError(e) => {
                    ApiError::new(ErrorCode::InvalidJson, e.body_text())
                }
                JsonRejection::MissingJsonContentType(_) => ApiError::new(
                    ErrorCode::UnsupportedMediaType,
                    "send the body as JSON with Content-Type: application/json",
                ),
                JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    ApiError::new(
                        ErrorCode::PayloadTooLarge,
                        "the body is larger than this server accepts",
                    )
                }
                other => ApiError::new(ErrorCode::InvalidJson, other.body_text()),
            }),
        }
    }
}

/// Query parameters; malformed ones become a JSON error.
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    Query<T>: FromRequestParts<S, Rejection = QueryRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(value)| ApiQuery(value))
            .map_err(|e| ApiError::new(ErrorCode::InvalidParameter, e.body_text()))
    }
}

/// Who is calling: from `Authorization: Bearer TOKEN`, or else the session cookie (then a
/// write must carry the session's CSRF token in `X-CSRF-Token`).
pub struct Auth(pub Principal);

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let text = value.to_str().unwrap_or_default();
            let token = text
                .strip_prefix("Bearer ")
                .or_else(|| text.strip_prefix("bearer "))
                .ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::Unauthenticated,
                        "use `Authorization: Bearer TOKEN`",
                    )
                })?;
            let principal = state
                .app
                .token_principal(token.trim())
                .await
                .map_err(ApiError::from)?;
            return Ok(Auth(principal));
        }
        let Some(session) = session_cookie(parts) else {
            return Err(ApiError::new(
                ErrorCode::Unauthenticated,
                "sign in first (POST /api/v1/auth/login) or send a bearer token",
            ));
        };
        let (principal, csrf) = state
            .app
            .session_principal(&session, state.now())
            .await
            .map_err(ApiError::from)?;
        let safe = matches!(parts.method, Method::GET | Method::HEAD | Method::OPTIONS);
        if !safe {
            let sent = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !constant_time_eq(sent.as_bytes(), csrf.as_bytes()) {
                return Err(ApiError::new(
                    ErrorCode::CsrfFailed,
                    "send the CSRF token from sign-in in the X-CSRF-Token header",
                ));
            }
        }
        Ok(Auth(principal))
    }
}

/// The session cookie's value, if the request has one.
pub fn session_cookie(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_string())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
