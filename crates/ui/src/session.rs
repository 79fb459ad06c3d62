//! Signing in and out with forms, and who is asking (`Viewer`).
//!
//! The session cookie is the API's (`rapport_session`, HttpOnly, SameSite=Lax, Secure
//! when configured), so one sign-in serves both the pages and the API. Every sign-in
//! creates a new session and revokes the one the browser brought, so a planted session
//! id is never promoted (no fixation). The sign-in form itself carries a token that must
//! match a short-lived cookie (double submit), so another site cannot sign a browser in
//! to an account of its choosing; every other form carries the session's CSRF token.
//!
//! Customers can also sign in with a link sent by e-mail (`/login/link`): asking for one
//! answers the same whether the address is known or not, and opening the link only shows a
//! button; the link is used (once) when the customer presses it.

use std::sync::Arc;

use app::AppError;
use askama::Template;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, RawQuery, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Extension;
use domain::Principal;
use rand::RngCore;
use web::extract::SESSION_COOKIE;
use web::AppState;

use crate::error::{PageError, PageResult};
use crate::form::{local_path, Form};
use crate::limit::ClientAddress;
use crate::webform::{wait_text, with_retry_after, Anonymous};
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

    /// The session secret (to check later that the session still holds).
    pub(crate) fn session(&self) -> &str {
        &self.session
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
    let mut response = signed_in(&state, &headers, &outcome).await;
    if !next.is_empty() {
        if let Ok(value) = HeaderValue::from_str(next) {
            response.headers_mut().insert(header::LOCATION, value);
        }
    }
    Ok(response)
}

/// After a sign-in: the session the browser brought ends (the new one has a new id, so a
/// planted session id is never promoted), the new session's cookie is set, and the browser
/// goes home.
async fn signed_in(state: &AppState, headers: &HeaderMap, outcome: &app::LoginOutcome) -> Response {
    if let Some(old) = cookie_value(headers, SESSION_COOKIE) {
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
    let clear_login =
        format!("{LOGIN_COOKIE}=; Path=/login; HttpOnly; SameSite=Strict; Max-Age=0{secure}");
    with_cookies(
        Redirect::to(home_of(&outcome.principal)).into_response(),
        &[session, clear_login],
    )
}

/// `POST /logout`: ends the session and clears the cookie.
pub(crate) async fn logout(
    State(state): State<AppState>,
    viewer: Viewer,
    body: Bytes,
) -> PageResult<Response> {
    viewer.check_csrf(&Form::from_body(&body))?;
    state.app.logout(&viewer.session, state.now()).await?;
    // Cleared with the attributes it was set with (a browser may refuse to let a cookie
    // without `Secure` replace one with it).
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let cookie = format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{secure}");
    Ok(with_cookies(
        Redirect::to("/login").into_response(),
        &[cookie],
    ))
}

/// What the sign-in link page shows.
#[derive(Template)]
#[template(path = "login_link.html")]
struct LinkPage {
    layout: Layout,
    /// `request` (the form), `sent`, `confirm` (the button that uses the link) or `unusable`.
    mode: &'static str,
    csrf: String,
    email: String,
    token: String,
    error: String,
}

impl LinkPage {
    fn new(mode: &'static str) -> LinkPage {
        LinkPage {
            layout: Layout::bare("Sign in with a link"),
            mode,
            csrf: String::new(),
            email: String::new(),
            token: String::new(),
            error: String::new(),
        }
    }
}

/// Renders a sign-in link page; the forms on it carry a fresh token paired with a cookie,
/// like the sign-in form (so another site cannot post them for a visitor).
fn link_page(state: &AppState, status: StatusCode, mut page: LinkPage) -> PageResult<Response> {
    let token = random_token();
    page.csrf = token.clone();
    let secure = if state.secure_cookies { "; Secure" } else { "" };
    let cookie = format!(
        "{LOGIN_COOKIE}={token}; Path=/login; HttpOnly; SameSite=Strict; Max-Age=3600{secure}"
    );
    let mut response = with_cookies((status, Html(page.render()?)).into_response(), &[cookie]);
    // The link's secret is in this page's address: never send it on as a Referer.
    response.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    Ok(response)
}

fn pairing_holds(headers: &HeaderMap, form: &Form) -> bool {
    let expected = cookie_value(headers, LOGIN_COOKIE).unwrap_or_default();
    constant_time_eq(form.raw("csrf").as_bytes(), expected.as_bytes())
}

/// `GET /login/link`: a customer asks for a sign-in link by e-mail.
pub(crate) async fn link_request_page(State(state): State<AppState>) -> PageResult<Response> {
    link_page(&state, StatusCode::OK, LinkPage::new("request"))
}

/// `POST /login/link`: sends a sign-in link if the address is a customer's. The answer is
/// the same, and as quick, whether it is or not: the work happens after the answer.
pub(crate) async fn link_request(
    State(state): State<AppState>,
    Extension(anonymous): Extension<Arc<Anonymous>>,
    ClientAddress(client): ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult<Response> {
    let form = Form::from_body(&body);
    let email = form.get("email").unwrap_or_default().to_string();
    let mut page = LinkPage::new("request");
    page.email = email.clone();
    if !pairing_holds(&headers, &form) {
        page.error = "The form had expired. Please send it again.".into();
        return link_page(&state, StatusCode::FORBIDDEN, page);
    }
    if domain::normalize_identity(domain::IdentityKind::Email, &email).is_err() {
        page.error = if email.is_empty() {
            "Enter the e-mail address you write to us from.".into()
        } else {
            format!("“{email}” does not look like an e-mail address (like name@example.com).")
        };
        return link_page(&state, StatusCode::UNPROCESSABLE_ENTITY, page);
    }
    if let Err(wait) = anonymous.link_limit.take(&client, state.now()) {
        page.error = format!(
            "Too many sign-in links were asked for from your network. Please wait {} and try again.",
            wait_text(wait)
        );
        let response = link_page(&state, StatusCode::TOO_MANY_REQUESTS, page)?;
        return Ok(with_retry_after(response, wait));
    }
    let app = state.app.clone();
    let now = state.now();
    let address = email.clone();
    tokio::spawn(async move {
        if let Err(e) = app.request_portal_link(&address, now).await {
            tracing::warn!(error = %e, "a portal sign-in link could not be sent");
        }
    });
    let mut page = LinkPage::new("sent");
    page.email = email;
    link_page(&state, StatusCode::OK, page)
}

/// `GET /login/link/{token}`: asks the customer to confirm. Opening the link signs nobody
/// in, so a mail scanner that follows links does not use it up.
pub(crate) async fn link_confirm_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
) -> PageResult<Response> {
    match state.app.check_portal_link(&token, state.now()).await {
        Ok(()) => {
            let mut page = LinkPage::new("confirm");
            page.token = token;
            link_page(&state, StatusCode::OK, page)
        }
        Err(AppError::Invalid(message)) => {
            let mut page = LinkPage::new("unusable");
            page.error = message;
            link_page(&state, StatusCode::GONE, page)
        }
        Err(other) => Err(other.into()),
    }
}

/// `POST /login/link/{token}`: uses the link (once) and starts a fresh portal session.
pub(crate) async fn link_sign_in(
    State(state): State<AppState>,
    Path(token): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> PageResult<Response> {
    let form = Form::from_body(&body);
    if !pairing_holds(&headers, &form) {
        let mut page = LinkPage::new("confirm");
        page.token = token;
        page.error = "The page had expired. Press the button again.".into();
        return link_page(&state, StatusCode::FORBIDDEN, page);
    }
    let outcome = match state
        .app
        .sign_in_with_portal_link(&token, state.now())
        .await
    {
        Ok(outcome) => outcome,
        Err(AppError::Invalid(message)) => {
            let mut page = LinkPage::new("unusable");
            page.error = message;
            return link_page(&state, StatusCode::GONE, page);
        }
        Err(other) => return Err(other.into()),
    };
    Ok(signed_in(&state, &headers, &outcome).await)
}
