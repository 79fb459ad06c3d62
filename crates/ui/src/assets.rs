//! The stylesheet and script, embedded in the binary (no CDN, no build chain).

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

const APP_CSS: &str = include_str!("../assets/app.css");
const APP_JS: &str = include_str!("../assets/app.js");
const CHAT_CSS: &str = include_str!("../assets/chat.css");
const CHAT_JS: &str = include_str!("../assets/chat.js");
/// The loader another site includes to get a floating chat button (see the file's header).
const CHAT_EMBED_JS: &str = include_str!("../assets/chat-embed.js");

pub(crate) async fn asset(Path(name): Path<String>) -> Response {
    let (body, content_type) = match name.as_str() {
        "app.css" => (APP_CSS, "text/css; charset=utf-8"),
        "app.js" => (APP_JS, "text/javascript; charset=utf-8"),
        "chat.css" => (CHAT_CSS, "text/css; charset=utf-8"),
        "chat.js" => (CHAT_JS, "text/javascript; charset=utf-8"),
        "chat-embed.js" => (CHAT_EMBED_JS, "text/javascript; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such asset").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            // Short, so that a new binary's assets are picked up soon after an upgrade.
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            ),
        ],
        body,
    )
        .into_response()
}
