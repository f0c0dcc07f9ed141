//! PDFium, Chrome's PDF engine, through `pdfium-render` over the shared
//! library that `scripts/fetch-assets.sh` takes from the `pypdfium2` wheel.
//!
//! Why PDFium: it reads what real archives hold — CID-keyed CJK fonts from
//! the Chinese TeX toolchain (xdvipdfmx), broken cross-reference tables,
//! odd encodings — where the pure-Rust reader panicked on one Chinese
//! manual in thirty; and the same engine renders pages for OCR and for
//! the citation view.
//!
//! PDFium is not thread-safe: `pdfium-render`'s `thread_safe` feature puts
//! every call behind one lock, so documents on several threads are read
//! one call at a time, never at once. The library is loaded once per
//! process and never unloaded.

use super::super::layout::{Glyph, lines, paragraphs, readable};
use super::super::{ParseError, Parsed, Reader, Watch};
use super::{PageText, assemble};
use pdfium_render::prelude::*;
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::Ordering;

/// The process's PDFium, loaded on first use: the path that first loaded
/// it, or why it could not be loaded.
static ENGINE: OnceLock<Result<(std::path::PathBuf, Pdfium), String>> = OnceLock::new();

/// Loads PDFium from `path` (once per process; a later call with another
/// path gets the first library).
///
/// # Errors
/// Why the library could not be loaded, with what to do.
pub(crate) fn load(path: &Path) -> Result<&'static Pdfium, String> {
    let loaded = ENGINE.get_or_init(|| {
        if !path.exists() {
            return Err(format!(
                "PDFium not found at {} (run scripts/fetch-assets.sh, or set ingest.pdfium)",
                path.display()
            ));
        }
        Pdfium::bind_to_library(path)
            .map(|b| (path.to_path_buf(), Pdfium::new(b)))
            .map_err(|e| format!("PDFium at {} could not be loaded: {e:?}", path.display()))
    });
    match loaded {
        Ok((first, engine)) => {
            if first != path {
                tracing::warn!(
                    loaded = %first.display(),
                    asked = %path.display(),
                    "PDFium is loaded once per process; keeping the first library"
                );
            }
            Ok(engine)
        }
        Err(e) => Err(e.clone()),
    }
}

fn damaged(e: PdfiumError) -> ParseError {
    match e {
        PdfiumError::PdfiumLibraryInternalError(
            PdfiumInternalError::PasswordError | PdfiumInternalError::SecurityError,
        ) => ParseError::Encrypted,
        _ => ParseError::Invalid("the PDF is damaged (PDFium could not read its structure)".into()),
    }
}

/// Reads a PDF: the text layer page by page, OCR where a page has none
/// (or on every page under `ingest.ocr = "force"`).
pub(crate) fn parse(
    pdfium: &Pdfium,
    reader: &Reader,
    bytes: &[u8],
    watch: &Watch<'_>,
) -> Result<Parsed, ParseError> {
    let doc = pdfium
        .load_pdf_from_byte_slice(bytes, None)
        .map_err(damaged)?;
    let count = doc.pages().len();
    let count = u32::try_from(count).unwrap_or(0);
    if count == 0 {
        return Err(ParseError::Invalid(
            "the PDF is damaged (PDFium found no pages in it)".into(),
        ));
    }
    if count > reader.limits.max_pages {
        return Err(ParseError::TooLarge(format!(
            "the PDF has {count} pages, over the limit of {} (ingest.max_pages)",
            reader.limits.max_pages
        )));
    }
    let title = doc
        .metadata()
        .get(PdfDocumentMetadataTagType::Title)
        .map(|t| crate::parse::normalise_space(t.value()))
        .filter(|t| !t.is_empty());
    let mut pages = Vec::new();
    let mut unread = 0u32;
    let mut recognised = 0u32;
    for (i, page) in doc.pages().iter().enumerate() {
        if watch.cancelled() {
            return Err(ParseError::Cancelled);
        }
        let number = u32::try_from(i + 1).unwrap_or(u32::MAX);
        let (width, height) = (page.width().value, page.height().value);
        let glyphs = glyphs(&page);
        let lines = lines(&glyphs, height);
        let has_text = readable(&lines);
        let scan = !has_text && has_images(&page);
        let want_ocr = match reader.ocr_mode {
            zhishu_core::config::OcrMode::Force => true,
            zhishu_core::config::OcrMode::Auto => scan,
            zhishu_core::config::OcrMode::Off => false,
        };
        match (&reader.ocr, want_ocr) {
            (Some(ocr), true) => {
                let (image, dpi) = render_gray(&page, reader)?;
                let mut got = ocr.recognise(&image, Some(dpi), 1, watch)?;
                recognised += 1;
                if let Some(w) = watch.ocr_pages {
                    w.fetch_add(1, Ordering::Relaxed);
                }
                let paras = got.pop().map(|p| p.paras).unwrap_or_default();
                // A forced OCR that reads nothing keeps the text layer.
                let paras = if paras.is_empty() && has_text {
                    paragraphs(&lines, width, height)
                } else {
                    paras
                };
                pages.push(PageText { number, paras });
            }
            _ => {
                if scan {
                    unread += 1;
                }
                if has_text {
                    pages.push(PageText {
                        number,
                        paras: paragraphs(&lines, width, height),
                    });
                }
            }
        }
    }
    let parsed = assemble(title, pages);
    if parsed.is_empty() {
        return Err(ParseError::NoText(if unread > 0 {
            reader.ocr_unavailable()
        } else if recognised > 0 {
            format!("OCR recognised no text on its {recognised} scanned pages")
        } else {
            "it draws no image to recognise either (blank pages?)".into()
        }));
    }
    if unread > 0 {
        tracing::info!(
            pages = unread,
            "scanned pages left unread: OCR is unavailable or off"
        );
    }
    Ok(parsed)
}

/// The page's characters with their boxes and sizes, in PDFium's reading
/// order (it inserts the spaces and line breaks it infers).
fn glyphs(page: &PdfPage<'_>) -> Vec<Glyph> {
    let Ok(text) = page.text() else {
        return Vec::new();
    };
    text.chars()
        .iter()
        .filter_map(|c| {
            let ch = c.unicode_char()?;
            let generated = c.is_generated().unwrap_or(false);
            let rect = if generated || ch.is_whitespace() {
                None
            } else {
                c.loose_bounds().ok().map(|r| {
                    [
                        r.left().value,
                        r.bottom().value,
                        r.right().value,
                        r.top().value,
                    ]
                })
            };
            Some(Glyph {
                ch,
                rect,
                size: c.scaled_font_size().value,
            })
        })
        .collect()
}

/// Whether the page draws any image (a scan is one).
fn has_images(page: &PdfPage<'_>) -> bool {
    page.objects()
        .iter()
        .any(|o| o.object_type() == PdfPageObjectType::Image)
}

/// The page rendered in grey at the OCR resolution — lowered where the
/// page is so large that it would exceed `ingest.max_image_pixels` — as a
/// binary PGM image, and the resolution used.
fn render_gray(page: &PdfPage<'_>, reader: &Reader) -> Result<(Vec<u8>, u32), ParseError> {
    let (w_pt, h_pt) = (page.width().value.max(1.0), page.height().value.max(1.0));
    let mut dpi = reader.limits.ocr_dpi as f32;
    let pixels = |dpi: f32| (w_pt * dpi / 72.0) as u64 * (h_pt * dpi / 72.0) as u64;
    if pixels(dpi) > reader.limits.max_image_pixels {
        dpi *= (reader.limits.max_image_pixels as f32 / pixels(dpi) as f32).sqrt();
    }
    let width = (w_pt * dpi / 72.0).round().max(1.0) as i32;
    let height = (h_pt * dpi / 72.0).round().max(1.0) as i32;
    let config = PdfRenderConfig::new()
        .set_target_width(width)
        .set_maximum_height(height)
        .use_grayscale_rendering(true)
        .render_form_data(true);
    let bitmap = page
        .render_with_config(&config)
        .map_err(|e| ParseError::Ocr(format!("the page could not be rendered for OCR: {e:?}")))?;
    let (w, h) = (bitmap.width() as usize, bitmap.height() as usize);
    let rgba = bitmap.as_rgba_bytes();
    let mut pgm = format!("P5\n{w} {h}\n255\n").into_bytes();
    pgm.reserve(w * h);
    for px in rgba.chunks_exact(4).take(w * h) {
        let (r, g, b) = (u32::from(px[0]), u32::from(px[1]), u32::from(px[2]));
        pgm.push(((r * 299 + g * 587 + b * 114) / 1000) as u8);
    }
    Ok((pgm, dpi.round() as u32))
}

/// A rendered page: RGBA pixels, row by row.
#[derive(Debug, Clone)]
pub struct PageImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// `width × height × 4` bytes, RGBA.
    pub rgba: Vec<u8>,
}

/// Renders 1-based `page` of a PDF `width` pixels wide, with `highlights`
/// (`[x0, y0, x1, y1]` as fractions of the page) tinted and outlined: the
/// citation view of a passage.
pub(crate) fn render_page(
    pdfium: &Pdfium,
    bytes: &[u8],
    page: u32,
    width: u32,
    highlights: &[[f32; 4]],
) -> Result<PageImage, ParseError> {
    let doc = pdfium
        .load_pdf_from_byte_slice(bytes, None)
        .map_err(damaged)?;
    let count = u32::try_from(doc.pages().len()).unwrap_or(0);
    if page == 0 || page > count {
        return Err(ParseError::Invalid(format!(
            "the PDF has {count} pages, not a page {page}"
        )));
    }
    let p = doc
        .pages()
        .get(i32::try_from(page - 1).unwrap_or(i32::MAX))
        .map_err(damaged)?;
    let config = PdfRenderConfig::new()
        .set_target_width(i32::try_from(width).unwrap_or(1000))
        .render_form_data(true)
        .render_annotations(true);
    let bitmap = p
        .render_with_config(&config)
        .map_err(|e| ParseError::Invalid(format!("the page could not be rendered: {e:?}")))?;
    let (w, h) = (bitmap.width().max(1) as u32, bitmap.height().max(1) as u32);
    let mut rgba = bitmap.as_rgba_bytes();
    rgba.truncate((w * h * 4) as usize);
    highlight(&mut rgba, w, h, highlights);
    Ok(PageImage {
        width: w,
        height: h,
        rgba,
    })
}

/// Tints each rectangle yellow and outlines it in orange.
pub(crate) fn highlight(rgba: &mut [u8], width: u32, height: u32, boxes: &[[f32; 4]]) {
    let (w, h) = (width as usize, height as usize);
    for b in boxes {
        let px = |f: f32, n: usize| ((f.clamp(0.0, 1.0) * n as f32).round() as usize).min(n);
        // A little room around the glyphs, as a reader's marker would.
        let (x0, y0) = (px(b[0], w).saturating_sub(2), px(b[1], h).saturating_sub(2));
        let (x1, y1) = ((px(b[2], w) + 2).min(w), (px(b[3], h) + 2).min(h));
        for y in y0..y1 {
            for x in x0..x1 {
                let i = (y * w + x) * 4;
                let Some(p) = rgba.get_mut(i..i + 4) else {
                    continue;
                };
                let edge = y < y0 + 2 || y + 2 >= y1 || x < x0 + 2 || x + 2 >= x1;
                let (tint, alpha) = if edge {
                    ([245u16, 130, 0], 200u16)
                } else {
                    ([255u16, 214, 0], 90u16)
                };
                for c in 0..3 {
                    p[c] = ((u16::from(p[c]) * (255 - alpha) + tint[c] * alpha) / 255) as u8;
                }
            }
        }
    }
}
