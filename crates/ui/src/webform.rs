//! The embeddable contact form (`/form`): a page another site can put in an iframe, and the
//! post that turns it into a conversation on the web channel.
//!
//! Against spam: a honeypot field (people never see it; a bot that fills it is thanked and
//! nothing is created), a token bucket per client address (429 with a clear message), and a
//! token the server signed when it rendered the form (see `app::WebFormTokens`). A CSRF
//! token is not possible here: the form is anonymous and embedded on another site, so there
//! is no session (and no first-party cookie) to bind one to; the signed token does what can
//! be done, proving the post comes from a form this server rendered recently.

use std::sync::Arc;

use app::{AppError, WebFormInput, WebFormTokens};
use askama::Template;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::Extension;
use web::AppState;

use crate::error::{PageError, PageResult};
use crate::form::Form;
use crate::limit::{ClientAddress, TokenBucket};

/// The policy of the embeddable pages: like every page's, but any site may frame them, and
/// they run no script at all.
pub const EMBED_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors *";

/// Posts per client address: a burst of 10, then one every 30 seconds.
const FORM_BURST: u32 = 10;
const FORM_REFILL_MILLIS: i64 = 30_000;
/// Sign-in link requests per client address: a burst of 5, then one a minute.
const LINK_BURST: u32 = 5;
const LINK_REFILL_MILLIS: i64 = 60_000;

/// What the anonymous forms share: the token signer (its key is read once) and the limits.
pub(crate) struct Anonymous {
    tokens: tokio::sync::OnceCell<WebFormTokens>,
    pub(crate) form_limit: TokenBucket,
    pub(crate) link_limit: TokenBucket,
}

impl Default for Anonymous {
    fn default() -> Self {
        Anonymous {
            tokens: tokio::sync::OnceCell::new(),
            form_limit: TokenBucket::new(FORM_BURST, FORM_REFILL_MILLIS),
            link_limit: TokenBucket::new(LINK_BURST, LINK_REFILL_MILLIS),
        }
    }
}

impl Anonymous {
    async fn tokens(&self, state: &AppState) -> Result<&WebFormTokens, AppError> {
        self.tokens
            .get_or_try_init(|| state.app.web_form_tokens())
            .await
    }
}

/// Headers of the embeddable pages (instead of the pages' own, which forbid framing).
pub(crate) async fn embed_headers(request: Request, next: Next) -> Response {
    framable(next.run(request).await, EMBED_CONTENT_SECURITY_POLICY)
}

/// The headers of a page any site may frame, under its own content security `policy`.
pub(crate) fn framable(response: Response, policy: &'static str) -> Response {
    framable_with(response, HeaderValue::from_static(policy))
}

/// [`framable`] with a policy made at run time (the chat's configured frame ancestors).
pub(crate) fn framable_with(mut response: Response, policy: HeaderValue) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[derive(Template)]
#[template(path = "webform.html")]
struct FormPage {
    token: String,
    name: String,
    email: String,
    subject: String,
    text: String,
    error: String,
    sent: bool,
    number: i64,
    /// The topics the form offers (empty: no choice), with the one chosen.
    topic: String,
    topics: Vec<String>,
    /// An acknowledgement e-mail is on its way.
    acknowledged: bool,
}

impl FormPage {
    fn from_input(input: &WebFormInput) -> FormPage {
        FormPage {
            token: String::new(),
            name: input.name.clone(),
            email: input.email.clone(),
            subject: input.subject.clone(),
            text: input.text.clone(),
            error: String::new(),
            sent: false,
            number: 0,
            topic: input.topic.clone(),
            topics: Vec::new(),
            acknowledged: false,
        }
    }
}

async fn render_form(
    state: &AppState,
    anonymous: &Anonymous,
    status: StatusCode,
    mut page: FormPage,
) -> PageResult<Response> {
    if !page.sent {
        page.token = anonymous
            .tokens(state)
            .await?
            .issue(state.now(), rand::random());
        page.topics = state
            .app
            .channel_routing()
            .await?
            .web_topics
            .into_iter()
            .map(|(topic, _)| topic)
            .collect();
    }
    Ok((status, Html(page.render()?)).into_response())
}

/// A 429 answer says when to try again.
pub(crate) fn with_retry_after(mut response: Response, wait_millis: i64) -> Response {
    let seconds = ((wait_millis + 999) / 1000).max(1);
    if let Ok(value) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

/// `GET /form`: the empty form.
pub(crate) async fn page(
    State(state): State<AppState>,
    Extension(anonymous): Extension<Arc<Anonymous>>,
) -> PageResult<Response> {
    render_form(
        &state,
        &anonymous,
        StatusCode::OK,
        FormPage::from_input(&WebFormInput::default()),
    )
    .await
}

/// `POST /form`: a message from the form becomes a conversation.
pub(crate) async fn submit(
    State(state): State<AppState>,
    Extension(anonymous): Extension<Arc<Anonymous>>,
    ClientAddress(client): ClientAddress,
    body: Bytes,
) -> PageResult<Response> {
    let form = Form::from_body(&body);
    let input = WebFormInput {
        name: form.raw("name").to_string(),
        email: form.raw("email").to_string(),
        subject: form.raw("subject").to_string(),
        text: form.raw("text").to_string(),
        topic: form.raw("topic").to_string(),
    };
    let now = state.now();
    if let Err(wait) = anonymous.form_limit.take(&client, now) {
        let mut page = FormPage::from_input(&input);
        page.error = format!(
            "Too many messages from your network in a short time. Please wait {} and send again.",
            wait_text(wait)
        );
        let response = render_form(&state, &anonymous, StatusCode::TOO_MANY_REQUESTS, page).await?;
        return Ok(with_retry_after(response, wait));
    }
    if form.get("website").is_some() {
        // Only a bot fills the hidden field: thank it, keep nothing.
        tracing::info!(client = %client, "web form: honeypot filled, nothing created");
        let mut page = FormPage::from_input(&input);
        page.sent = true;
        return render_form(&state, &anonymous, StatusCode::OK, page).await;
    }
    let token_check = anonymous
        .tokens(&state)
        .await?
        .check(form.raw("token"), now);
    let outcome = match token_check {
        Ok(()) => state.app.submit_web_form(input.clone(), now).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(receipt) => {
            let mut page = FormPage::from_input(&input);
            page.sent = true;
            page.number = receipt.conversation.number;
            page.acknowledged = receipt.acknowledged;
            render_form(&state, &anonymous, StatusCode::OK, page).await
        }
        Err(AppError::Invalid(message)) => {
            let mut page = FormPage::from_input(&input);
            page.error = message;
            render_form(&state, &anonymous, StatusCode::UNPROCESSABLE_ENTITY, page).await
        }
        Err(other) => Err(PageError::from(other)),
    }
}

/// "30 seconds", "2 minutes".
pub(crate) fn wait_text(millis: i64) -> String {
    let seconds = (millis + 999) / 1000;
    if seconds < 90 {
        format!("{} second{}", seconds, if seconds == 1 { "" } else { "s" })
    } else {
        format!("{} minutes", (seconds + 59) / 60)
    }
}
