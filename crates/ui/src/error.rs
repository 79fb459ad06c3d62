//! What a page answers when it cannot show what was asked: an HTML page with a status
//! and a sentence a person understands, or a redirect to sign in.

use app::AppError;
use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};

use crate::form::link;
use crate::Layout;

#[derive(Debug)]
pub(crate) enum PageError {
    /// Not signed in (or the session ended): go to the sign-in page, then back to `next`.
    SignIn {
        next: String,
    },
    NotFound,
    Forbidden(String),
    /// A form without the session's CSRF token.
    Csrf,
    Invalid(String),
    Conflict(String),
    Internal,
}

pub(crate) type PageResult<T> = Result<T, PageError>;

impl From<AppError> for PageError {
    fn from(err: AppError) -> Self {
        match err {
            AppError::NotFound(_) => PageError::NotFound,
            AppError::Forbidden(message) => PageError::Forbidden(message),
            AppError::Invalid(message) => PageError::Invalid(message),
            AppError::Transition(e) => PageError::Conflict(e.to_string()),
            AppError::Conflict(message) => PageError::Conflict(message),
            AppError::BadCredentials | AppError::Unauthenticated => PageError::SignIn {
                next: String::new(),
            },
            AppError::Store(e) => {
                tracing::error!(error = %e, "a page failed");
                PageError::Internal
            }
        }
    }
}

impl From<askama::Error> for PageError {
    fn from(err: askama::Error) -> Self {
        tracing::error!(error = %err, "a template failed to render");
        PageError::Internal
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage {
    layout: Layout,
    heading: &'static str,
    message: String,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, heading, message) = match self {
            PageError::SignIn { next } => {
                let target = link("/login", &[("next", &next)]);
                let mut response = StatusCode::SEE_OTHER.into_response();
                if let Ok(value) = HeaderValue::from_str(&target) {
                    response.headers_mut().insert(header::LOCATION, value);
                }
                return response;
            }
            PageError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here, or it is not yours to see.".to_string(),
            ),
            PageError::Forbidden(message) => (StatusCode::FORBIDDEN, "Not allowed", message),
            PageError::Csrf => (
                StatusCode::FORBIDDEN,
                "The form has expired",
                "Go back, reload the page and send the form again.".to_string(),
            ),
            PageError::Invalid(message) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "Please check", message)
            }
            PageError::Conflict(message) => (StatusCode::CONFLICT, "Not possible now", message),
            PageError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Something went wrong on our side; it has been logged. Try again in a moment."
                    .to_string(),
            ),
        };
        let page = ErrorPage {
            layout: Layout::bare(heading),
            heading,
            message,
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, heading).into_response(),
        }
    }
}
