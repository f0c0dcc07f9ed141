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

use super::super::layout::{
    Glyph, Line, Para, garbled, lines, paragraphs, readable, reading_order, reads_forward, turn,
    words_left_to_right,
};
use super::super::{ParseError, Parsed, Reader, Watch};
use super::{PageText, assemble};
use crate::parse::despeckle::{luma, ocr_pgm};
use crate::parse::page_image::{PageImage, highlight};
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
        let (lines, turned) = upright_lines(&glyphs, quarter_turns(&page), width, height);
        let has_text = readable(&lines);
        // A scan, or a page whose text layer is glyph numbers: either shows
        // words that only OCR can read.
        let scan = !has_text && (garbled(&lines) || has_images(&page));
        let want_ocr = match reader.ocr_mode {
            zhishu_core::config::OcrMode::Force => true,
            zhishu_core::config::OcrMode::Auto => scan,
            zhishu_core::config::OcrMode::Off => false,
        };
        match (&reader.ocr, want_ocr) {
            (Some(ocr), true) => {
                let started = std::time::Instant::now();
                let (image, dpi) = render_gray(&page, reader)?;
                let mut got = ocr.recognise(&image, Some(dpi), 1, watch)?;
                watch.ocr_took(started);
                recognised += 1;
                if let Some(w) = watch.ocr_pages {
                    w.fetch_add(1, Ordering::Relaxed);
                }
                let paras = got.pop().map(|p| p.paras).unwrap_or_default();
                // A forced OCR that reads nothing keeps the text layer.
                let paras = if paras.is_empty() && has_text {
                    lay_out(&lines, turned, width, height)
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
                        paras: lay_out(&lines, turned, width, height),
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

/// How many quarter turns clockwise the page is shown at (`/Rotate`).
fn quarter_turns(page: &PdfPage<'_>) -> u8 {
    match page.rotation() {
        Ok(PdfPageRenderRotation::Degrees90) => 1,
        Ok(PdfPageRenderRotation::Degrees180) => 2,
        Ok(PdfPageRenderRotation::Degrees270) => 3,
        _ => 0,
    }
}

/// The page's lines, measured where its text reads left to right, and how
/// many quarter turns clockwise take that frame to the page as shown: 0
/// for the page as shown; the page's own turns when it was turned by
/// `/Rotate` alone (its text then runs down or upside down on screen) and
/// reads forward only once turned back.
fn upright_lines(glyphs: &[Glyph], quarters: u8, width: f32, height: f32) -> (Vec<Line>, u8) {
    if quarters == 0 {
        return (lines(glyphs), 0);
    }
    let back = 4 - quarters;
    let unturned: Vec<Glyph> = glyphs
        .iter()
        .map(|g| Glyph {
            rect: g.rect.map(|r| turn(r, back, width, height)),
            ink: g.ink.map(|r| turn(r, back, width, height)),
            ..*g
        })
        .collect();
    if reads_forward(&unturned) <= reads_forward(glyphs) {
        return (lines(glyphs), 0);
    }
    // PDFium orders the characters of such a page by where they show, so
    // its lines, and the words of a line, come out of order on the page
    // turned back.
    let mut upright = lines(&words_left_to_right(&unturned));
    reading_order(&mut upright);
    (upright, quarters)
}

/// Paragraphs of a page's lines, measured in a frame `turned` quarter
/// turns (clockwise) from the page as shown, which is `width × height`
/// points; their boxes on the page as shown.
fn lay_out(lines: &[Line], turned: u8, width: f32, height: f32) -> Vec<Para> {
    if turned == 0 {
        return paragraphs(lines, width, height);
    }
    let (w, h) = if turned % 2 == 1 {
        (height, width)
    } else {
        (width, height)
    };
    let mut paras = paragraphs(lines, w, h);
    for p in &mut paras {
        for b in &mut p.boxes {
            let [x0, y0, x1, y1] = turn([b.x0, b.y0, b.x1, b.y1], turned, 1.0, 1.0);
            *b = super::super::Rect { x0, y0, x1, y1 };
        }
    }
    paras
}

/// An affine map from PDF user space (points, y up, as text boxes come)
/// to the page as it is shown (points, y down, from the top-left corner
/// of the crop box, `/Rotate` applied): `[a, b, c, d, e, f]` with
/// `x' = a·x + c·y + e` and `y' = b·x + d·y + f`.
///
/// Why: PDFium reports characters in user space, but a rotated page
/// (`/Rotate 90`, a landscape table in a portrait document) or one whose
/// crop box does not start at the origin is shown otherwise, and
/// citations are drawn on the page as shown. The map is PDFium's own
/// page-to-device transform, sampled at three points.
pub(crate) fn display_map(page: &PdfPage<'_>) -> [f32; 6] {
    // 100 device pixels a point: the transform answers in whole pixels.
    const SCALE: f32 = 100.0;
    let config = PdfRenderConfig::new().scale_page_by_factor(SCALE);
    let at = |x: f32, y: f32| {
        page.points_to_pixels(PdfPoints::new(x), PdfPoints::new(y), &config)
            .ok()
            .map(|(px, py)| (px as f32 / SCALE, py as f32 / SCALE))
    };
    match (at(0.0, 0.0), at(1000.0, 0.0), at(0.0, 1000.0)) {
        (Some(o), Some(x), Some(y)) => [
            (x.0 - o.0) / 1000.0,
            (x.1 - o.1) / 1000.0,
            (y.0 - o.0) / 1000.0,
            (y.1 - o.1) / 1000.0,
            o.0,
            o.1,
        ],
        // No transform from the engine: an unrotated page from the origin.
        _ => [1.0, 0.0, 0.0, -1.0, 0.0, page.height().value],
    }
}

/// A user-space rectangle (left, bottom, right, top) through `m`: the
/// smallest display rectangle (left, top, right, bottom) holding it.
pub(crate) fn to_display(m: &[f32; 6], r: [f32; 4]) -> [f32; 4] {
    let p = |x: f32, y: f32| (m[0] * x + m[2] * y + m[4], m[1] * x + m[3] * y + m[5]);
    let (a, b) = (p(r[0], r[1]), p(r[2], r[3]));
    [a.0.min(b.0), a.1.min(b.1), a.0.max(b.0), a.1.max(b.1)]
}

/// The page's characters with their boxes (on the page as shown) and
/// sizes, in PDFium's reading order (it inserts the spaces and line breaks
/// it infers).
///
/// PDFium gives a character outside Unicode's basic plane (a CJK
/// Extension B ideograph such as 𠮷 in a name, mathematical letters) as
/// two UTF-16 halves at two indices; they are joined into one character
/// here, where reading each alone would drop it.
fn glyphs(page: &PdfPage<'_>) -> Vec<Glyph> {
    let Ok(text) = page.text() else {
        return Vec::new();
    };
    let map = display_map(page);
    let mut high: Option<u32> = None;
    text.chars()
        .iter()
        .filter_map(|c| {
            let v = c.unicode_value();
            let ch = match (high.take(), v) {
                (_, 0xD800..=0xDBFF) => {
                    high = Some(v);
                    return None;
                }
                (Some(h), 0xDC00..=0xDFFF) => {
                    char::from_u32(0x10000 + ((h - 0xD800) << 10) + (v - 0xDC00))
                }
                (_, v) => char::from_u32(v),
            }?;
            let generated = c.is_generated().unwrap_or(false);
            let shown = |r: PdfRect| {
                to_display(
                    &map,
                    [
                        r.left().value,
                        r.bottom().value,
                        r.right().value,
                        r.top().value,
                    ],
                )
            };
            let (rect, ink) = if generated || ch.is_whitespace() {
                (None, None)
            } else {
                (
                    c.loose_bounds().ok().map(shown),
                    c.tight_bounds().ok().map(shown),
                )
            };
            Some(Glyph {
                ch,
                rect,
                ink,
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
    let grey: Vec<u8> = rgba
        .chunks_exact(4)
        .take(w * h)
        .map(|px| luma([px[0], px[1], px[2], px[3]]))
        .collect();
    let pgm = ocr_pgm(grey, w, h);
    Ok((pgm, dpi.round() as u32))
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
