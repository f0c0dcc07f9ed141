//! A document's own pages and file: the citation view (a PDF page rendered
//! on the server with the cited passage marked), downloading the original,
//! and the per-collection switch that turns downloads off.
//!
//! Both follow the document's access groups exactly as search does — a
//! document the caller may not read does not exist for them (404) — and
//! both are audited. What is served is the file as it was indexed: a file
//! changed on disk since (its SHA-256 differs from the registry's) is not
//! served, so a citation never shows a page the answer was not drawn from.
//! Downloads are sent as attachments in a sandbox, never rendered on this
//! origin, so an HTML or SVG document cannot run script as Zhishu.

use crate::access::{Authenticated, Caller, KnowledgeAdmin, Policy};
use crate::error::{bad, parse_json};
use crate::knowledge::{knowledge, scope_of, visible};
use crate::{ApiError, AppState};
use actix_web::http::header;
use actix_web::{HttpResponse, get, put, web};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use utoipa::ToSchema;
use zhishu_audit::Outcome;
use zhishu_ingest::parse::Format;
use zhishu_store::{DocumentRecord, DocumentRegistry};

/// Registers the routes.
pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(download)
        .service(page_image)
        .service(get_collection_settings)
        .service(put_collection_settings);
}

/// The document if the caller may read it; 404 otherwise.
async fn readable<P: Policy>(
    state: &AppState,
    caller: &Caller<P>,
    id: &str,
) -> Result<DocumentRecord, ApiError> {
    let doc = state.store.document(id).await?;
    if visible(&doc, &scope_of(caller)) {
        Ok(doc)
    } else {
        Err(ApiError::NotFound(format!("document `{id}` not found")))
    }
}

/// The file's bytes as indexed: 404 when it is gone, 409 when it changed.
async fn indexed_bytes(doc: &DocumentRecord) -> Result<Vec<u8>, ApiError> {
    let bytes = tokio::fs::read(&doc.source_path).await.map_err(|_| {
        ApiError::NotFound(format!(
            "the original of document `{}` is no longer where it was indexed",
            doc.id
        ))
    })?;
    if hex::encode(Sha256::digest(&bytes)) != doc.content_hash {
        return Err(ApiError::Conflict(format!(
            "document `{}` changed since it was indexed; the next sync of its folder indexes the new version",
            doc.id
        )));
    }
    Ok(bytes)
}

/// The original file of a document, as indexed. Refused (403) when an
/// administrator turned downloads off for its collection.
#[utoipa::path(get, path = "/v1/documents/{id}/file", tag = "documents",
    params(("id" = String, Path, description = "Document id")),
    responses((status = 200, description = "The file, as an attachment", content_type = "application/octet-stream"),
        (status = 403, description = "Downloads are off for its collection", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown, not readable by the caller, or gone from disk", body = crate::error::ErrorBody),
        (status = 409, description = "The file changed since it was indexed", body = crate::error::ErrorBody)))]
#[get("/v1/documents/{id}/file")]
pub(crate) async fn download(
    state: web::Data<AppState>,
    caller: Caller<Authenticated>,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let doc = readable(&state, &caller, &id).await?;
    let settings = state.store.collection_settings(&doc.collection).await?;
    if !settings.downloads {
        let mut ev = caller.event("document.download", Outcome::Refused);
        ev.documents = vec![doc.id.clone()];
        ev.error = Some("downloads are off for the collection".into());
        state.audit.record(ev).await?;
        return Err(ApiError::Forbidden(format!(
            "an administrator turned off downloads for collection `{}`; read it through search and citations",
            doc.collection
        )));
    }
    let bytes = indexed_bytes(&doc).await?;
    let mut ev = caller.event("document.download", Outcome::Ok);
    ev.documents = vec![doc.id.clone()];
    ev.input = Some(serde_json::json!({"path": doc.source_path, "bytes": bytes.len()}));
    state.audit.record(ev).await?;
    let name = std::path::Path::new(&doc.source_path)
        .file_name()
        .map_or_else(|| doc.id.clone(), |n| n.to_string_lossy().into_owned());
    let content_type = if doc.mime_type == "application/pdf" {
        "application/pdf"
    } else {
        "application/octet-stream"
    };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            header::CONTENT_DISPOSITION,
            header::ContentDisposition::attachment(name),
        ))
        .insert_header((header::CONTENT_SECURITY_POLICY, "sandbox"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .body(bytes))
}

/// The query of a page view.
#[derive(Debug, Deserialize, ToSchema)]
pub(crate) struct PageQuery {
    /// A chunk of this document on this page: its lines are marked.
    chunk: Option<String>,
    /// Width of the image in pixels (100–2000, default 1000).
    width: Option<u32>,
}

/// A page of a PDF document or of a scanned image (PNG, JPEG, a TIFF's
/// pages, …) as a PNG image, the cited passage (`chunk`) marked on it: the
/// citation panel's view of the source.
#[utoipa::path(get, path = "/v1/documents/{id}/pages/{page}", tag = "documents",
    params(("id" = String, Path, description = "Document id"),
        ("page" = u32, Path, description = "1-based page"),
        ("chunk" = Option<String>, Query, description = "A chunk on this page to mark"),
        ("width" = Option<u32>, Query, description = "Image width in pixels, 100 to 2000 (default 1000)")),
    responses((status = 200, description = "The page", content_type = "image/png"),
        (status = 400, description = "Not a PDF or an image, or no such page", body = crate::error::ErrorBody),
        (status = 404, description = "Unknown document or chunk, or not readable by the caller", body = crate::error::ErrorBody),
        (status = 409, description = "The file changed since it was indexed", body = crate::error::ErrorBody)))]
#[get("/v1/documents/{id}/pages/{page}")]
pub(crate) async fn page_image(
    state: web::Data<AppState>,
    caller: Caller<Authenticated>,
    path: web::Path<(String, u32)>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let (id, page) = path.into_inner();
    let doc = readable(&state, &caller, &id).await?;
    let format = match Format::of(std::path::Path::new(&doc.source_path)) {
        Ok(f @ (Format::Pdf | Format::Image)) => f,
        _ => {
            return Err(bad(
                "not_paged",
                format!(
                    "page views are for PDFs and scanned images; `{}` is {}",
                    doc.title, doc.mime_type
                ),
            ));
        }
    };
    let boxes = match &query.chunk {
        None => Vec::new(),
        Some(chunk) => {
            let chunks = state.store.chunks(&doc.id).await?;
            let c = chunks
                .into_iter()
                .find(|c| &c.id == chunk && c.document_version == doc.version)
                .ok_or_else(|| {
                    ApiError::NotFound(format!("chunk `{chunk}` is not in document `{id}`"))
                })?;
            if c.page != Some(i64::from(page)) {
                return Err(bad(
                    "wrong_page",
                    format!(
                        "chunk `{chunk}` is on page {}, not {page}",
                        c.page.unwrap_or(0)
                    ),
                ));
            }
            c.boxes
        }
    };
    let width = query.width.unwrap_or(1000).clamp(100, 2000);
    let bytes = indexed_bytes(&doc).await?;
    let k = knowledge(&state)?;
    let reader = k.reader.clone();
    let _turn = RENDERING
        .acquire()
        .await
        .map_err(|e| ApiError::Internal(format!("page rendering queue closed: {e}")))?;
    let image = tokio::task::spawn_blocking(move || {
        reader.render_page(format, &bytes, page, width, &boxes)
    })
    .await
    .map_err(|e| ApiError::Internal(format!("page rendering stopped: {e}")))?
    .map_err(|e| match e {
        zhishu_ingest::parse::ParseError::NoEngine(why) => {
            tracing::warn!(reason = %why, "page view without PDFium");
            ApiError::Unavailable("page views need PDFium on this server (ingest.pdfium)")
        }
        zhishu_ingest::parse::ParseError::TooLarge(why) => {
            tracing::warn!(reason = %why, "page too large to show");
            bad(
                "page_too_large",
                "this page is too large to show here; download the file to see it",
            )
        }
        other => bad("unreadable_page", other.to_string()),
    })?;
    let image = encode_png(&image)
        .map_err(|e| ApiError::Internal(format!("the page image could not be encoded: {e}")))?;
    let mut ev = caller.event("document.page_view", Outcome::Ok);
    ev.documents = vec![doc.id.clone()];
    ev.input = Some(serde_json::json!({"page": page, "chunk": query.chunk}));
    state.audit.record(ev).await?;
    Ok(HttpResponse::Ok()
        .content_type("image/png")
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .body(image))
}

/// RGBA pixels as a PNG file.
fn encode_png(img: &zhishu_ingest::parse::PageImage) -> Result<Vec<u8>, png::EncodingError> {
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, img.width, img.height);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        enc.write_header()?.write_image_data(&img.rgba)?;
    }
    Ok(out)
}

/// Page views rendered at once: each holds a decoded page (up to
/// `ingest.max_image_pixels`), so readers cannot fill the server's memory
/// by asking for many together; the rest wait their turn.
static RENDERING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Settings of a collection.
#[utoipa::path(get, path = "/v1/collections/{name}/settings", tag = "documents",
    params(("name" = String, Path, description = "Collection")),
    responses((status = 200, description = "Its settings (the defaults if never set)", body = Object)))]
#[get("/v1/collections/{name}/settings")]
pub(crate) async fn get_collection_settings(
    state: web::Data<AppState>,
    _caller: Caller<KnowledgeAdmin>,
    name: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    Ok(HttpResponse::Ok().json(state.store.collection_settings(&name).await?))
}

/// What an administrator may change on a collection.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CollectionUpdate {
    /// Whether readers may download its original files.
    downloads: bool,
}

/// Turns downloads of a collection's original files on or off (page views
/// and passages stay available: the leak prevention of not handing out
/// the files themselves).
#[utoipa::path(put, path = "/v1/collections/{name}/settings", tag = "documents",
    params(("name" = String, Path, description = "Collection")),
    request_body = CollectionUpdate,
    responses((status = 200, description = "The new settings", body = Object),
        (status = 400, description = "Malformed body", body = crate::error::ErrorBody)))]
#[put("/v1/collections/{name}/settings")]
pub(crate) async fn put_collection_settings(
    state: web::Data<AppState>,
    caller: Caller<KnowledgeAdmin>,
    name: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let update: CollectionUpdate = parse_json(&body)?;
    let settings = state
        .store
        .set_collection_downloads(&name, update.downloads, &caller.principal.username)
        .await?;
    let mut ev = caller.event("collection.settings", Outcome::Ok);
    ev.input = Some(serde_json::json!({"collection": *name, "downloads": update.downloads}));
    state.audit.record(ev).await?;
    Ok(HttpResponse::Ok().json(settings))
}
