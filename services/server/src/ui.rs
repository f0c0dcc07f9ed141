//! The web UI: the files Vite builds into `web/dist`, served from the
//! binary.
//!
//! A release build embeds the files, so one binary is the whole product; a
//! debug build reads them from `web/dist` at run time, so `npm run build`
//! shows up without recompiling Rust. The UI is a single-page app: any GET
//! outside the API that names no file is answered with `index.html`, and
//! the page's router takes it from there. API paths (`/v1/…`) never fall
//! back to the page: an unknown one is a JSON 404 like every API error.
//!
//! Every UI response carries a strict Content-Security-Policy (scripts and
//! styles from this origin only, no framing): answers render text written
//! by a model that read untrusted documents, so the browser is told to run
//! nothing that did not come from the build.

use crate::ApiError;
use actix_web::http::{Method, header};
use actix_web::{HttpRequest, HttpResponse};
use rust_embed::RustEmbed;

/// The built UI (`web/dist`). A checkout where it was not built still
/// compiles; `/` then explains how to build it.
#[derive(RustEmbed)]
#[folder = "../../web/dist"]
#[allow_missing = true]
struct Assets;

/// Content-Security-Policy of every UI response.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; \
    form-action 'self'; frame-ancestors 'none'";

/// What `/` says when the binary was built without the UI.
const NOT_BUILT: &str = "<!doctype html><meta charset=utf-8><title>Zhishu</title>\
    <h1>The web UI is not built</h1>\
    <p>This binary was compiled before the UI was built. Run \
    <code>./scripts/build-web.sh</code> (it needs Node.js and npm), then rebuild with \
    <code>cargo build --release</code>. The HTTP API under <code>/v1/</code> works without it.</p>";

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("woff2") => "font/woff2",
        Some("json" | "webmanifest") => "application/json",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// Whether a path belongs to the API or the operational endpoints, which
/// answer in JSON and never with the page.
fn is_api(path: &str) -> bool {
    path.starts_with("/v1/")
        || path == "/v1"
        || matches!(path, "/healthz" | "/readyz" | "/metrics" | "/openapi.json")
}

fn page(file: rust_embed::EmbeddedFile, path: &str, req: &HttpRequest) -> HttpResponse {
    let etag = format!("\"{}\"", hex(&file.metadata.sha256_hash()[..16]));
    let immutable = path.starts_with("assets/");
    let unchanged = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let mut res = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    res.insert_header((header::CONTENT_TYPE, content_type(path)))
        .insert_header((header::ETAG, etag))
        .insert_header((
            header::CACHE_CONTROL,
            if immutable {
                // Vite names these by content hash.
                "public, max-age=31536000, immutable"
            } else {
                "no-cache"
            },
        ))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"));
    if unchanged || req.method() == Method::HEAD {
        return res.finish();
    }
    // Embedded files are `'static`: send them without copying.
    match file.data {
        std::borrow::Cow::Borrowed(bytes) => res.body(bytes),
        std::borrow::Cow::Owned(bytes) => res.body(bytes),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Serves the UI for GET and HEAD requests outside the API; everything
/// else is the JSON 404 of an unknown route.
pub(crate) async fn fallback(req: HttpRequest) -> Result<HttpResponse, ApiError> {
    let path = req.path();
    if !(req.method() == Method::GET || req.method() == Method::HEAD) || is_api(path) {
        return crate::error::not_found(req).await;
    }
    let file = path.trim_start_matches('/');
    if !file.is_empty()
        && let Some(found) = Assets::get(file)
    {
        return Ok(page(found, file, &req));
    }
    // A missing asset is a 404, not the page (a stale tab asking for an
    // old bundle must not get HTML it would try to run).
    let last = file.rsplit('/').next().unwrap_or("");
    if file.starts_with("assets/") || last.contains('.') {
        return crate::error::not_found(req).await;
    }
    match Assets::get("index.html") {
        Some(index) => Ok(page(index, "index.html", &req)),
        None => Ok(HttpResponse::NotFound()
            .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
            .insert_header((header::CONTENT_SECURITY_POLICY, CSP))
            .body(NOT_BUILT)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_never_fall_back_to_the_page() {
        assert!(is_api("/v1/chat/completions"));
        assert!(is_api("/v1/nothing"));
        assert!(is_api("/healthz"));
        assert!(!is_api("/"));
        assert!(!is_api("/chat"));
        assert!(!is_api("/v1x"));
    }

    #[test]
    fn types_follow_the_extension() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type("assets/index-abc.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("favicon.svg"), "image/svg+xml");
        assert_eq!(content_type("x.bin"), "application/octet-stream");
    }
}
