//! The HTTP adapter for people: server-rendered HTML pages for agents (the workspace
//! under `/app`) and customers (the portal under `/portal`), with sign-in at `/login`.
//!
//! Pages are askama templates checked at compile time; a little plain JavaScript
//! (`assets/app.js`) enhances them, and every page works without it. Every asset is
//! embedded in the binary, and every response carries a strict Content-Security-Policy:
//! no inline script or style, nothing from another origin. Handlers call the use cases
//! in `app`, which check the permissions; a conversation a caller may not see is a 404.

mod admin;
mod assets;
mod chat;
mod dashboard;
mod error;
mod form;
mod format;
mod initiatives;
mod limit;
mod live;
mod multipart;
mod portal;
mod process;
mod session;
mod settings;
mod survey;
mod team;
mod webform;
mod workspace;

use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Extension, Router};
use web::AppState;

pub use chat::{
    chat_content_security_policy, check_frame_ancestors, ChatOptions, CHAT_CONTENT_SECURITY_POLICY,
    DEFAULT_CHAT_FRAME_ANCESTORS, DEFAULT_CHAT_SOCKETS_PER_ADDRESS,
};
pub use live::Live;
pub use webform::EMBED_CONTENT_SECURITY_POLICY;

/// The policy on every page: scripts, styles and images only from this origin, forms
/// only to it, and no framing. E-mail bodies are sanitised HTML, and this policy keeps
/// even a sanitiser slip from running script or loading remote images.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The pages and their assets, with a live hub of their own. Merge this with
/// `web::router` (they share no path).
pub fn router(state: AppState) -> Router {
    router_with(state, &Live::default())
}

/// The pages and their assets, with the server's live hub (which the server closes when it
/// shuts down, so that open event streams do not hold it up).
pub fn router_with(state: AppState, live: &Live) -> Router {
    router_configured(state, live, &ChatOptions::default())
}

/// [`router_with`] with the chat configured (which sites may frame the widget, the cap on
/// open sockets per client address).
pub fn router_configured(state: AppState, live: &Live, chat_options: &ChatOptions) -> Router {
    let anonymous = std::sync::Arc::new(webform::Anonymous::default());
    // The contact form may be framed by any site, so it has headers of its own.
    let embeddable = Router::new()
        .route("/form", get(webform::page).post(webform::submit))
        .layer(middleware::from_fn(webform::embed_headers));
    // So may the chat widget, with its script and its socket.
    let chat = Router::new()
        .route("/chat", get(chat::page))
        .route("/chat/ws", get(chat::socket))
        .layer(middleware::from_fn(chat::chat_headers));
    Router::new()
        .route("/", get(session::home))
        .route("/login", get(session::login_page).post(session::login))
        .route(
            "/login/link",
            get(session::link_request_page).post(session::link_request),
        )
        .route(
            "/login/link/{token}",
            get(session::link_confirm_page).post(session::link_sign_in),
        )
        .route("/logout", post(session::logout))
        .route("/app", get(workspace::inbox))
        .route("/app/events", get(live::events))
        .route("/app/dashboard", get(dashboard::dashboard))
        .route("/app/team", get(team::page))
        .route(
            "/app/benchmarks",
            get(settings::benchmarks).post(settings::import_benchmarks),
        )
        .route(
            "/app/surveys/settings",
            get(settings::survey_settings).post(settings::save_survey_settings),
        )
        .route("/app/team/conversations", get(team::drill))
        .route(
            "/app/kpis/{key}",
            get(dashboard::definition).post(dashboard::update),
        )
        .route("/app/kpis/{key}/conversations", get(dashboard::drill))
        .route("/app/process", get(process::page))
        .route("/app/process/conversations", get(process::drill))
        .route(
            "/app/initiatives",
            get(initiatives::page).post(initiatives::create),
        )
        .route("/app/bulk", post(workspace::bulk))
        .route("/app/admin", get(admin::home))
        .route(
            "/app/admin/users",
            get(admin::users).post(admin::create_user),
        )
        .route("/app/admin/users/{id}/role", post(admin::set_role))
        .route("/app/admin/users/{id}/deactivate", post(admin::deactivate))
        .route(
            "/app/admin/groups",
            get(admin::groups).post(admin::create_group),
        )
        .route("/app/admin/groups/{id}/members", post(admin::membership))
        .route("/app/admin/mailboxes", get(admin::mailboxes))
        .route(
            "/app/admin/mailboxes/{id}",
            get(admin::mailbox).post(admin::save_mailbox),
        )
        .route(
            "/app/admin/routing",
            get(admin::routing).post(admin::save_routing),
        )
        .route("/app/admin/sla", get(admin::sla))
        .route(
            "/app/admin/calendars/{id}",
            get(admin::calendar).post(admin::save_calendar),
        )
        .route(
            "/app/admin/policies/{id}",
            get(admin::policy).post(admin::save_policy),
        )
        .route(
            "/app/admin/calendars/{id}/delete",
            get(admin::calendar_delete_page).post(admin::delete_calendar),
        )
        .route(
            "/app/admin/policies/{id}/delete",
            get(admin::policy_delete_page).post(admin::delete_policy),
        )
        .route(
            "/app/conversations/{number}",
            get(workspace::conversation).post(workspace::update),
        )
        .route(
            "/app/conversations/{number}/messages",
            post(workspace::post_message),
        )
        .route(
            "/app/conversations/{number}/chat-code",
            post(workspace::send_chat_code),
        )
        .route("/app/conversations/{number}/presence", post(live::presence))
        .route("/portal", get(portal::home))
        .route("/portal/new", get(portal::new_page))
        .route("/portal/conversations", post(portal::create))
        .route("/portal/conversations/{number}", get(portal::conversation))
        .route(
            "/portal/conversations/{number}/events",
            get(live::portal_events),
        )
        .route(
            "/portal/conversations/{number}/messages",
            post(portal::post_message),
        )
        .route(
            "/portal/surveys/{id}",
            get(survey::portal_show).post(survey::portal_submit),
        )
        .route("/survey/{token}", get(survey::show).post(survey::submit))
        .route(
            "/research/{token}",
            get(survey::research_show).post(survey::research_submit),
        )
        .route("/assets/{name}", get(assets::asset))
        .layer(middleware::from_fn(page_headers))
        .merge(embeddable)
        .merge(chat)
        .layer(Extension(std::sync::Arc::new(chat::ChatLimits::new(
            chat_options,
        ))))
        .layer(Extension(live.clone()))
        .layer(Extension(anonymous))
        // Pages and assets travel gzipped to browsers that ask (a 200-message conversation is
        // ~260 KB of HTML, ~10% of that gzipped); event streams are never compressed, so each
        // event still arrives at once.
        .layer(tower_http::compression::CompressionLayer::new())
        .with_state(state)
}

/// The policy of a conversation page on which the agent asked to see a message's remote
/// images: [`CONTENT_SECURITY_POLICY`] with images from any web address. Still no script,
/// style or connection to another site.
pub const REMOTE_IMAGES_CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: https: http:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Marks a page (a response extension) that shows remote images because the agent asked.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RemoteImagesShown;

async fn page_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let policy = if response.extensions().get::<RemoteImagesShown>().is_some() {
        REMOTE_IMAGES_CONTENT_SECURITY_POLICY
    } else {
        CONTENT_SECURITY_POLICY
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(policy),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    // A page may ask for less (the sign-in link page: no referrer at all).
    if !headers.contains_key(header::REFERRER_POLICY) {
        headers.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
    }
    // Pages show private data: never cache them. Assets set their own policy.
    if !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// What the frame of every page needs: the title, which area it belongs to, and for a
/// signed-in person their name and the CSRF token of the sign-out form.
pub(crate) struct Layout {
    pub(crate) title: String,
    /// `app`, `portal`, or `none` (sign-in and error pages).
    pub(crate) area: &'static str,
    pub(crate) csrf: String,
    pub(crate) user: String,
    /// The live stream this page follows (`/app/events?since=…`), or "" for none.
    pub(crate) live: String,
    /// A manager or administrator: the frame links the process map and the initiatives.
    pub(crate) manages: bool,
    /// A team lead, manager or administrator: the frame links the team view.
    pub(crate) leads: bool,
    /// An administrator: the frame links the settings pages.
    pub(crate) administers: bool,
}

impl Layout {
    pub(crate) fn bare(title: &str) -> Layout {
        Layout {
            title: title.to_string(),
            area: "none",
            csrf: String::new(),
            user: String::new(),
            live: String::new(),
            manages: false,
            leads: false,
            administers: false,
        }
    }

    pub(crate) fn signed_in(
        title: &str,
        area: &'static str,
        viewer: &session::Viewer,
        user: &str,
    ) -> Layout {
        Layout {
            title: title.to_string(),
            area,
            csrf: viewer.csrf.clone(),
            user: user.to_string(),
            live: String::new(),
            manages: matches!(
                viewer.principal,
                domain::Principal::Agent {
                    role: domain::Role::Manager | domain::Role::Admin,
                    ..
                }
            ),
            leads: matches!(
                viewer.principal,
                domain::Principal::Agent {
                    role: domain::Role::Lead | domain::Role::Manager | domain::Role::Admin,
                    ..
                }
            ),
            administers: viewer.principal.can_administer(),
        }
    }

    /// The same frame, following the live stream from `since` (a log position).
    pub(crate) fn with_live(mut self, since: store::Cursor) -> Layout {
        self.live = format!("/app/events?since={}", app::position_text(since));
        self
    }
}
