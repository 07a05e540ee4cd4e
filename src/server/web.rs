//! The web player (`web/`): `GET /` (and `GET /items/{uuid}`, an item's address) is its page,
//! `GET /web/{path}` its modules and styles.
//! The files are embedded into release builds (one binary to deploy) and read from `web/` in
//! debug builds, so an edit shows on reload. No build step: the browser loads the modules as
//! they are. `web/node_modules` (the browser tests' tools) and npm's files are left out.

use uuid::Uuid;
use warp::Filter;
use warp::http::{HeaderValue, StatusCode, header};

#[derive(rust_embed::Embed)]
#[folder = "web/"]
#[exclude = "node_modules/*"]
#[exclude = "package.json"]
#[exclude = "package-lock.json"]
struct Assets;

/// The content type of a player file, by extension.
fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "json" => "application/json",
        "ico" => "image/x-icon",
        _ => "application/octet-stream",
    }
}

/// A player file with its type and an ETag (its hash): a browser revalidates and gets 304 when
/// nothing changed (`server::http_layer` answers conditional requests).
fn asset(path: &str) -> warp::reply::Response {
    // Debug builds read the folder: nothing may name a file outside it.
    let inside = !path.starts_with('/') && !path.contains('\\') && path.split('/').all(|part| part != "..");
    let Some(file) = Assets::get(path).filter(|_| inside) else {
        return super::error_reply(StatusCode::NOT_FOUND, "not_found", &format!("no player file `{path}`"));
    };
    let etag = format!("\"{}\"", file.metadata.sha256_hash().iter().map(|b| format!("{b:02x}")).collect::<String>());
    let mut response = warp::reply::Response::new(file.data.into_owned().into());
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type(path)));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    // The player runs its own code only: no inline scripts, no other origins.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob:; connect-src 'self' ws: wss:; \
             style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// `GET /` and `GET /web/{path}`.
pub fn routes() -> impl Filter<Extract = (warp::reply::Response,), Error = warp::Rejection> + Clone {
    let index = warp::path::end().and(super::get_or_head()).map(|| asset("index.html"));
    let files = warp::path("web")
        .and(warp::path::tail())
        .and(super::get_or_head())
        .map(|tail: warp::path::Tail| asset(tail.as_str()));
    // An item's own address (`/items/{uuid}`, with `#t=start,end` to play a span: the
    // manifests' `homepage`) is the player's page, which reads it.
    let item = warp::path!("items" / Uuid).and(super::get_or_head()).map(|_: Uuid| asset("index.html"));
    index.or(files).unify().or(item).unify()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_is_embedded_and_test_tools_are_not() {
        assert!(Assets::get("index.html").is_some());
        assert!(Assets::iter().all(|p| !p.starts_with("node_modules") && !p.starts_with("package")));
        assert_eq!(content_type("app/main.js"), "text/javascript; charset=utf-8");
    }
}
