//! Pages as pictures for the citation view: a PDF page rendered by PDFium
//! (see [`super::pdf::pdfium::render_page`]) or a page of an image file
//! (a scan: PNG, JPEG, TIFF with its pages, BMP, GIF, WebP), scaled to the
//! width asked for, with the cited lines tinted and outlined.
//!
//! Image files are decoded with image-rs's decoders: `image` for the
//! single-page formats and `tiff` for TIFF, because a scanned archive's
//! TIFFs hold several pages and are often CCITT Group 4 (fax) bilevel
//! images, which `tiff` reads page by page. The header is checked against
//! `ingest.max_image_pixels` before anything is decoded, as at ingestion.

use super::ParseError;
use super::despeckle::luma;
use super::image::{plausible_dpi, probe_or_refuse};
use std::io::Cursor;

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

/// Tallest page image sent, in pixels.
const MAX_HEIGHT: u64 = 6000;

/// Renders 1-based `page` of an image file `width` pixels wide (never
/// wider than the image itself, never taller than 6000 pixels),
/// `highlights` (`[x0, y0, x1, y1]` as
/// fractions of the page) marked.
///
/// # Errors
/// [`ParseError::Invalid`] for bytes that are not a readable image or a
/// page the file does not have; [`ParseError::TooLarge`] for an image over
/// `max_pixels`.
pub(crate) fn render_image(
    bytes: &[u8],
    page: u32,
    width: u32,
    highlights: &[[f32; 4]],
    max_pixels: u64,
) -> Result<PageImage, ParseError> {
    let info = probe_or_refuse(bytes)?;
    let count = info.pages.len();
    let index = usize::try_from(page).unwrap_or(usize::MAX);
    let Some(i) = index.checked_sub(1).filter(|&i| i < count) else {
        return Err(ParseError::Invalid(format!(
            "the {} has {count} page{}, not a page {page}",
            info.format,
            if count == 1 { "" } else { "s" }
        )));
    };
    info.check_pixels(i, max_pixels)?;
    let unreadable = |e: &dyn std::fmt::Display| {
        tracing::warn!(format = info.format, error = %e, "an image page could not be decoded");
        ParseError::Invalid(format!(
            "the {} could not be decoded (damaged, or a variant the page view does not read)",
            info.format
        ))
    };
    let full = decode_page(bytes, info.format, i)
        .map_err(|e| unreadable(&e))?
        .rgba;
    // Never enlarged, and never taller than MAX_HEIGHT (a long strip is
    // shown narrower instead).
    let (fw, fh) = (
        u64::from(full.width().max(1)),
        u64::from(full.height().max(1)),
    );
    let mut width = u64::from(width).clamp(1, fw);
    if fh * width / fw > MAX_HEIGHT {
        width = (MAX_HEIGHT * fw / fh).max(1);
    }
    let height = (fh * width / fw).clamp(1, MAX_HEIGHT) as u32;
    let width = width as u32;
    let scaled = if width == full.width() {
        full
    } else {
        ::image::imageops::resize(
            &full,
            width,
            height,
            ::image::imageops::FilterType::Triangle,
        )
    };
    let (width, height) = scaled.dimensions();
    let mut rgba = scaled.into_raw();
    highlight(&mut rgba, width, height, highlights);
    Ok(PageImage {
        width,
        height,
        rgba,
    })
}

/// A page of an image file, decoded.
pub(crate) struct Decoded {
    /// Its pixels.
    pub rgba: ::image::RgbaImage,
    /// Its resolution in dots per inch, where the file records one.
    pub dpi: Option<u32>,
}

impl Decoded {
    /// The page in grey, one byte a pixel (see [`luma`]), with its width
    /// and height.
    pub(crate) fn grey(&self) -> (Vec<u8>, usize, usize) {
        let grey = self.rgba.pixels().map(|p| luma(p.0)).collect();
        (
            grey,
            self.rgba.width() as usize,
            self.rgba.height() as usize,
        )
    }
}

/// Decodes page `index` (0-based) of an image file whose header named
/// `format` (see [`probe`]).
///
/// # Errors
/// Why the decoder could not read it.
pub(crate) fn decode_page(
    bytes: &[u8],
    format: &str,
    index: usize,
) -> Result<Decoded, Box<dyn std::error::Error + Send + Sync>> {
    if format == "TIFF" {
        let (rgba, dpi) = tiff_page(bytes, index)?;
        return Ok(Decoded { rgba, dpi });
    }
    Ok(Decoded {
        rgba: ::image::load_from_memory(bytes)?.to_rgba8(),
        dpi: super::image::dpi(bytes),
    })
}

/// Why a TIFF page could not be shown.
#[derive(Debug, thiserror::Error)]
enum TiffPageError {
    #[error("{0}")]
    Tiff(#[from] tiff::TiffError),
    #[error("its pixels ({0:?}) are in a layout the page view does not show; download the file")]
    Layout(tiff::ColorType),
}

/// Page `index` (0-based) of a TIFF, as RGBA, and its resolution in dots
/// per inch where the page records one.
fn tiff_page(
    bytes: &[u8],
    index: usize,
) -> Result<(::image::RgbaImage, Option<u32>), TiffPageError> {
    use tiff::ColorType as C;
    use tiff::decoder::{Decoder, DecodingResult as R, ifd::Value};
    use tiff::tags::Tag;
    let mut d = Decoder::new(Cursor::new(bytes))?;
    d.seek_to_image(index)?;
    let (w, h) = d.dimensions()?;
    // XResolution per ResolutionUnit (2, the default: inches; 3: cm).
    let per_unit = match d.find_tag(Tag::XResolution).ok().flatten() {
        Some(Value::Rational(n, den)) if den > 0 => Some(f64::from(n) / f64::from(den)),
        _ => None,
    };
    let unit = d
        .find_tag_unsigned::<u16>(Tag::ResolutionUnit)
        .ok()
        .flatten();
    let dpi = per_unit
        .map(|v| if unit == Some(3) { v * 2.54 } else { v })
        .and_then(plausible_dpi);
    let color = d.colortype()?;
    let pixels = d.read_image()?;
    let (w_us, h_us) = (w as usize, h as usize);
    let mut out = Vec::with_capacity(w_us * h_us * 4);
    let mut put = |v: [u8; 4]| out.extend_from_slice(&v);
    match (color, &pixels) {
        (C::Gray(1), R::U8(b)) => {
            // Bits, a row padded to whole bytes; 1 is white once the
            // decoder has applied the photometric interpretation.
            let stride = w_us.div_ceil(8);
            for y in 0..h_us {
                for x in 0..w_us {
                    let bit = b
                        .get(y * stride + x / 8)
                        .map_or(0, |v| (v >> (7 - x % 8)) & 1);
                    let g = if bit == 1 { 255 } else { 0 };
                    put([g, g, g, 255]);
                }
            }
        }
        (C::Gray(8), R::U8(b)) => b.iter().for_each(|&g| put([g, g, g, 255])),
        (C::GrayA(8), R::U8(b)) => b
            .chunks_exact(2)
            .for_each(|p| put([p[0], p[0], p[0], p[1]])),
        (C::RGB(8), R::U8(b)) => b.chunks_exact(3).for_each(|p| put([p[0], p[1], p[2], 255])),
        (C::RGBA(8), R::U8(b)) => b
            .chunks_exact(4)
            .for_each(|p| put([p[0], p[1], p[2], p[3]])),
        (C::Gray(16), R::U16(b)) => b.iter().for_each(|&g| {
            let g = (g >> 8) as u8;
            put([g, g, g, 255]);
        }),
        (C::RGB(16), R::U16(b)) => b
            .chunks_exact(3)
            .for_each(|p| put([(p[0] >> 8) as u8, (p[1] >> 8) as u8, (p[2] >> 8) as u8, 255])),
        (other, _) => return Err(TiffPageError::Layout(other)),
    }
    out.resize(w_us * h_us * 4, 255);
    let rgba = ::image::RgbaImage::from_raw(w, h, out).ok_or(TiffPageError::Layout(color))?;
    Ok((rgba, dpi))
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

#[cfg(test)]
mod tests {
    use super::*;

    fn data(path: &str) -> Vec<u8> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/data")
            .join(path);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// Share of dark pixels: ink on the page.
    fn ink(img: &PageImage) -> f64 {
        let dark = img.rgba.chunks_exact(4).filter(|p| p[0] < 128).count();
        dark as f64 / (img.width * img.height) as f64
    }

    #[test]
    fn every_page_of_a_fax_tiff_and_a_png_scan_is_shown_scaled_and_marked() {
        let tiff = data("ocr/scan-zh.tiff");
        // The pages differ in height: 1333×380 and 1333×424.
        for (page, height) in [(1, 380), (2, 424)] {
            let img = render_image(&tiff, page, 600, &[], u64::MAX).unwrap();
            assert_eq!(img.width, 600);
            assert_eq!(img.height, height * 600 / 1333);
            assert_eq!(img.rgba.len(), (600 * img.height * 4) as usize);
            // Black text on white paper, not an inverted or empty page.
            let share = ink(&img);
            assert!((0.01..0.4).contains(&share), "page {page}: ink {share}");
        }
        let png = data("ocr/scan-zh.png");
        let plain = render_image(&png, 1, 5000, &[], u64::MAX).unwrap();
        assert_eq!((plain.width, plain.height), (2000, 636), "never enlarged");
        let marked = render_image(&png, 1, 5000, &[[0.1, 0.1, 0.5, 0.3]], u64::MAX).unwrap();
        // Inside the mark the page turns yellow: blue drops, red stays.
        let at = |img: &PageImage, x: u32, y: u32| {
            let i = ((y * img.width + x) * 4) as usize;
            [img.rgba[i], img.rgba[i + 1], img.rgba[i + 2]]
        };
        let mean = |img: &PageImage, c: usize| {
            let (mut sum, mut n) = (0u64, 0u64);
            for y in 100..180 {
                for x in 300..900 {
                    sum += u64::from(at(img, x, y)[c]);
                    n += 1;
                }
            }
            sum as f64 / n as f64
        };
        assert!(mean(&marked, 2) < mean(&plain, 2) - 30.0);
        assert!(mean(&marked, 0) > mean(&plain, 0) - 5.0);
        assert_eq!(
            at(&plain, 1900, 600),
            at(&marked, 1900, 600),
            "outside the mark"
        );
    }

    #[test]
    fn missing_pages_limits_and_garbage_say_so() {
        let tiff = data("ocr/scan-zh.tiff");
        let e = render_image(&tiff, 3, 600, &[], u64::MAX).unwrap_err();
        assert_eq!(e.to_string(), "the TIFF has 2 pages, not a page 3");
        let e = render_image(&tiff, 0, 600, &[], u64::MAX).unwrap_err();
        assert!(matches!(e, ParseError::Invalid(_)));
        let e = render_image(&tiff, 1, 600, &[], 1000).unwrap_err();
        assert!(e.to_string().contains("ingest.max_image_pixels"), "{e}");
        assert!(matches!(
            render_image(b"not an image", 1, 600, &[], u64::MAX),
            Err(ParseError::Invalid(_))
        ));
        // A PNG cut short after its header: the header passes, decoding
        // fails with a message, nothing panics.
        let png = data("ocr/scan-zh.png");
        let e = render_image(&png[..200], 1, 600, &[], u64::MAX).unwrap_err();
        assert!(
            e.to_string().starts_with("the PNG could not be decoded"),
            "{e}"
        );
    }
}
