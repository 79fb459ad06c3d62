//! Signing in and out with forms, and who is asking (`Viewer`).
//!
//! The session cookie is the API's (`rapport_session`, HttpOnly, SameSite=Lax, Secure
//! when configured), so one sign-in serves both the pages and the API. Every sign-in
//! creates a new session and revokes the one the browser brought, so a planted session
//! id is never promoted (no fixation). The sign-in form itself carries a token that must
//! match a short-lived cookie (double submit), so another site cannot sign a browser in
//! to an account of its choosing; every other form carries the session's CSRF token.

use app::AppError;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use domain::Principal;
use rand::RngCore;
use web::extract::SESSION_COOKIE;
use web::AppState;

use crate::error::{PageError, PageResult};
use crate::form::{local_path, Form};
use crate::Layout;

/// The cookie that pairs with the sign-in form's hidden token.
const LOGIN_COOKIE: &str = "rapport_login";

/// The signed-in person behind a page request.
pub(crate) struct Viewer {
    pub(crate) principal: Principal,
    pub(crate) csrf: String,
    session: String,
}

impl Viewer {
    /// Refuses a form that does not carry this session's CSRF token.
    pub(crate) fn check_csrf(&self, form: &Form) -> PageResult<()> {
        if constant_time_eq(form.raw("csrf").as_bytes(), self.csrf.as_bytes()) {
            Ok(())
        } else {
            Err(PageError::Csrf)
        }
    }

    pub(crate) fn is_customer(&self) -> bool {
        matches!(self.principal, Principal::Customer { .. })
    }
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> PageResult<Viewer> {
        // After signing in, come back here; a form post cannot be replayed, so not to it.
        let next = if parts.method == axum::http::Method::GET {
            parts
                .uri
                .path_and_query()
                .map(|p| p.as_str().to_string())
                .unwrap_or_default()
        } else {
            String::new()
        };
        let Some(session) = web::extract::session_cookie(parts) else {
            return Err(PageError::SignIn { next });
        };
        match state.app.session_principal(&session, state.now()).await {
            Ok((principal, csrf)) => Ok(Viewer {
                principal,
                csrf,
                session,
            }),
            Err(AppError::Unauthenticated) => Err(PageError::SignIn { next }),
            Err(other) => Err(other.into()),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    !b.is_empty()
        && a.len() == b.len()
        && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn random_token() -> String {
    let mut bytes = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.to_string())
}

fn home_of(principal: &Principal) -> &'static str {
    match principal {
        Principal::Customer { .. } => "/portal",
        _ => "/app",
    }
}

fn with_cookies(mut response: Response, cookies: &[String]) -> Response {
    for cookie in cookies {
        if let Ok(value) = HeaderValue::from_str(cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    response
}

/// `/`: the signed-in person's home, or the sign-in page.
pub(crate) async fn home(viewer: Result<Viewer, PageError>) -> Redirect {
    match viewer {
        Ok(viewer) => Redirect::to(home_of(&viewer.principal)),
        Err(_) => Redirect::to("/login"),
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    layout: Layout,
    csrf: String,
    email: String,
    next: String,
    error: String,
}

fn login_form(
    state: &AppState,
    status: StatusCode,
    email: &str,
    next: &str,
    error: &str,
) -> PageResult<Response> {
    let token = random_token();
    let page = LoginPage {
        layout: Layout::bare("Sign in"),
        csrf: token.clone(),
        email: email.to_string(),
        next: next.to_string(),
        error: error.to_string(),
    };
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let cookie = format!(
        "{LOGIN_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600{secure}"
    );
    Ok(with_cookies(
        (status, Html(page.render()?)).into_response(),
        &[cookie],
    ))
}

/// `GET /login`: the sign-in form (or home, for someone already signed in).
pub(crate) async fn login_page(
    State(state): State<AppState>,
    viewer: Result<Viewer, PageError>,
    RawQuery(query): RawQuery,
) -> PageResult<Response> {
    if let Ok(viewer) = viewer {
        return Ok(Redirect::to(home_of(&viewer.principal)).into_response());
    }
    let query = Form::from_query(query.as_deref());
    let next = local_path(query.get("next"), "");
    login_form(&state, StatusCode::OK, "", next, "")
}

/// `POST /login`: checks the form token and the password, starts a fresh session.
pub(crate) async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult<Response> {
    let form = Form::from_body(&body);
    let email = form.get("email").unwrap_or_default();
    let next = local_path(form.get("next"), "");
    let expected = cookie_value(&headers, LOGIN_COOKIE).unwrap_or_default();
    if !constant_time_eq(form.raw("csrf").as_bytes(), expected.as_bytes()) {
        return login_form(
            &state,
            StatusCode::FORBIDDEN,
            email,
            next,
            "The sign-in form had expired. Please sign in again.",
        );
    }
    let key = email.to_lowercase();
    if !state.login_limiter.allow(&key, state.now()) {
        return login_form(
            &state,
            StatusCode::TOO_MANY_REQUESTS,
            email,
            next,
            "Too many failed sign-ins for this address. Wait a few minutes and try again.",
        );
    }
    let outcome = match state
        .app
        .login(email, form.raw("password"), state.now())
        .await
    {
        Ok(outcome) => outcome,
        Err(AppError::BadCredentials) => {
            state.login_limiter.failed(&key, state.now());
            return login_form(
                &state,
                StatusCode::UNAUTHORIZED,
                email,
                next,
                "The e-mail address or the password is wrong.",
            );
        }
        Err(other) => return Err(other.into()),
    };
    // Whatever session the browser brought ends here: the new one has a new id.
    if let Some(old) = cookie_value(&headers, SESSION_COOKIE) {
        if let Err(e) = state.app.logout(&old, state.now()).await {
            tracing::warn!(error = %e, "could not revoke the previous session at sign-in");
        }
    }
    let max_age = (outcome.expires_at - state.now()) / 1000;
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let session = format!(
        "{SESSION_COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
        outcome.session
    );
    let clear_login = format!("{LOGIN_COOKIE}=; Path=/login; HttpOnly; SameSite=Strict; Max-Age=0");
    let home = home_of(&outcome.principal);
    let target = if next.is_empty() { home } else { next };
    Ok(with_cookies(
        Redirect::to(target).into_response(),
        &[session, clear_login],
    ))
}

/// `POST /logout`: ends the session and clears the cookie.
pub(crate) async fn logout(
    State(state): State<AppState>,
    viewer: Viewer,
    body: Bytes,
) -> PageResult<Response> {
    viewer.check_csrf(&Form::from_body(&body))?;
    state.app.logout(&viewer.session, state.now()).await?;
    let cookie = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    Ok(with_cookies(
        Redirect::to("/login").into_response(),
        &[cookie],
    ))
}
