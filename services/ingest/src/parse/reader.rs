//! The [`Reader`]: the engines and limits parsing needs beyond a file's
//! bytes, built once from the configuration, and the [`Watch`] a job
//! hands it (cancellation, progress).

use super::despeckle::{ocr_pgm, speckled};
use super::ocr::Ocr;
use super::page_image::{PageImage, decode_page, render_image};
use super::{Format, ParseError, Parsed, docx, html, image, markdown, pdf, table, text};
use pdfium_render::prelude::Pdfium;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use zhishu_core::Config;
use zhishu_core::config::{HiddenSheets, IngestConfig, OcrMode};

/// What a running job lets the reader see: whether it was cancelled, and
/// where to count pages recognised with OCR.
#[derive(Debug, Default, Clone, Copy)]
pub struct Watch<'a> {
    /// Set when the job is cancelled: OCR stops at once (the Tesseract
    /// process is killed) and the file fails as cancelled.
    pub cancel: Option<&'a AtomicBool>,
    /// Incremented per page recognised.
    pub ocr_pages: Option<&'a AtomicU64>,
    /// Microseconds spent on OCR (rendering or decoding pages, cleaning
    /// them, recognising them), added as each page or file finishes.
    pub ocr_micros: Option<&'a AtomicU64>,
}

impl Watch<'_> {
    pub(crate) fn cancelled(&self) -> bool {
        self.cancel.is_some_and(|c| c.load(Ordering::Relaxed))
    }

    /// Adds the time since `start` to the OCR time.
    pub(crate) fn ocr_took(&self, start: std::time::Instant) {
        if let Some(m) = self.ocr_micros {
            let us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
            m.fetch_add(us, Ordering::Relaxed);
        }
    }
}

/// Limits one file must stay within.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub max_pages: u32,
    pub max_image_pixels: u64,
    pub ocr_dpi: u32,
}

/// Which engines a reader runs with, for readiness and the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReaderStatus {
    /// `pdfium`, or `pdf-extract` (the fallback).
    pub pdf_engine: &'static str,
    /// Why PDFium is not used, when it is not.
    pub pdf_problem: Option<String>,
    /// The OCR engine and languages, when OCR runs.
    pub ocr: Option<String>,
    /// Why OCR does not run, when it does not.
    pub ocr_problem: Option<String>,
}

/// Reads documents: PDFium for PDFs (or the fallback), Tesseract for scans
/// and images, within the configured limits.
pub struct Reader {
    pub(crate) pdfium: Option<&'static Pdfium>,
    pdf_problem: Option<String>,
    pub(crate) ocr: Option<Ocr>,
    ocr_problem: Option<String>,
    pub(crate) ocr_mode: OcrMode,
    pub(crate) limits: Limits,
    hidden_sheets: HiddenSheets,
}

impl Reader {
    /// A reader with no engines: the fallback PDF reader, no OCR, default
    /// limits. Text formats read exactly as with any reader.
    pub fn plain() -> Self {
        let d = zhishu_core::config::IngestConfig::default();
        Self {
            pdfium: None,
            pdf_problem: Some("no PDF engine configured".into()),
            ocr: None,
            ocr_problem: Some("OCR is not configured".into()),
            ocr_mode: OcrMode::Off,
            limits: Limits {
                max_pages: d.max_pages,
                max_image_pixels: d.max_image_pixels,
                ocr_dpi: d.ocr_dpi,
            },
            hidden_sheets: d.hidden_sheets,
        }
    }

    /// The reader the configuration describes. It never fails: an engine
    /// that cannot be loaded is reported by [`Reader::status`] (and in
    /// readiness), and the files that need it fail saying so.
    pub fn from_config(config: &Config) -> Self {
        Self::new(&config.ingest, &config.model_path(&config.ingest.pdfium))
    }

    /// The reader of an `[ingest]` section, with PDFium at `pdfium` (the
    /// section's path resolved). Never fails, like [`Reader::from_config`].
    pub fn new(c: &IngestConfig, pdfium: &std::path::Path) -> Self {
        let (pdfium, pdf_problem) = match pdf::pdfium::load(pdfium) {
            Ok(p) => (Some(p), None),
            Err(e) => (None, Some(e)),
        };
        let (ocr, ocr_problem) = if c.ocr == OcrMode::Off {
            (None, Some("OCR is off (ingest.ocr = \"off\")".to_owned()))
        } else {
            match Ocr::probe(
                &c.tesseract,
                &c.ocr_languages,
                Duration::from_secs(c.ocr_page_timeout_secs),
            ) {
                Ok(o) => (Some(o), None),
                Err(e) => (None, Some(e)),
            }
        };
        let reader = Self {
            pdfium,
            pdf_problem,
            ocr,
            ocr_problem,
            ocr_mode: c.ocr,
            limits: Limits {
                max_pages: c.max_pages,
                max_image_pixels: c.max_image_pixels,
                ocr_dpi: c.ocr_dpi,
            },
            hidden_sheets: c.hidden_sheets,
        };
        let s = reader.status();
        tracing::info!(
            pdf = s.pdf_engine,
            pdf_problem = s.pdf_problem.as_deref().unwrap_or(""),
            ocr = s.ocr.as_deref().unwrap_or("unavailable"),
            ocr_problem = s.ocr_problem.as_deref().unwrap_or(""),
            "document readers"
        );
        reader
    }

    /// Which engines run, and why any does not.
    pub fn status(&self) -> ReaderStatus {
        ReaderStatus {
            pdf_engine: if self.pdfium.is_some() {
                "pdfium"
            } else {
                "pdf-extract"
            },
            pdf_problem: self.pdf_problem.clone(),
            ocr: self.ocr.as_ref().map(Ocr::describe),
            ocr_problem: self.ocr_problem.clone(),
        }
    }

    /// Why scanned pages go unread, as the end of a "no text" message: OCR
    /// is off or unavailable, and the reason says which and what to do.
    /// Only asked when there is no OCR engine (with one, pages are read).
    pub(crate) fn ocr_unavailable(&self) -> String {
        self.ocr_problem
            .clone()
            .unwrap_or_else(|| "OCR is unavailable".into())
    }

    /// Parses a file's bytes in the given format.
    ///
    /// # Errors
    /// [`ParseError`] saying why the file gave no text.
    pub fn parse(
        &self,
        format: Format,
        bytes: &[u8],
        watch: &Watch<'_>,
    ) -> Result<Parsed, ParseError> {
        Ok(match format {
            Format::Pdf => pdf::parse(self, bytes, watch)?,
            Format::Docx => docx::parse(bytes)?,
            Format::Html => html::parse(&text::decode(bytes)),
            Format::Markdown => markdown::parse(&text::decode(bytes)),
            Format::Text => text::parse(&text::decode(bytes)),
            Format::Csv => table::parse_csv(&text::decode(bytes))?,
            Format::Spreadsheet => table::parse_spreadsheet(bytes, self.hidden_sheets)?,
            Format::Image => self.image(bytes, watch)?,
        })
    }

    /// Renders 1-based `page` of a PDF or an image file (a scan) `width`
    /// pixels wide (100 to 3000; an image is never enlarged) with
    /// `highlights` marked (`[x0, y0, x1, y1]`, fractions of the page).
    ///
    /// # Errors
    /// [`ParseError::NoEngine`] for a PDF without PDFium;
    /// [`ParseError::Unsupported`] for a format without pages;
    /// [`ParseError::Invalid`] for a damaged file or a page it does not
    /// have; [`ParseError::TooLarge`] for an image over
    /// `ingest.max_image_pixels`.
    pub fn render_page(
        &self,
        format: Format,
        bytes: &[u8],
        page: u32,
        width: u32,
        highlights: &[[f32; 4]],
    ) -> Result<PageImage, ParseError> {
        let width = width.clamp(100, 3000);
        match format {
            Format::Pdf => {
                let Some(pdfium) = self.pdfium else {
                    return Err(ParseError::NoEngine(
                        self.pdf_problem
                            .clone()
                            .unwrap_or_else(|| "PDFium is not loaded".into()),
                    ));
                };
                pdf::pdfium::render_page(pdfium, bytes, page, width, highlights)
            }
            Format::Image => {
                render_image(bytes, page, width, highlights, self.limits.max_image_pixels)
            }
            _ => Err(ParseError::Unsupported(
                ": page views are for PDFs and images".into(),
            )),
        }
    }

    /// An image file: its header checked against the limits, then every
    /// page recognised.
    fn image(&self, bytes: &[u8], watch: &Watch<'_>) -> Result<Parsed, ParseError> {
        let info = image::probe_or_refuse(bytes)?;
        let pages = u32::try_from(info.pages.len()).unwrap_or(u32::MAX);
        if pages > self.limits.max_pages {
            return Err(ParseError::TooLarge(format!(
                "the {} has {pages} pages, over the limit of {} (ingest.max_pages)",
                info.format, self.limits.max_pages
            )));
        }
        for (i, &(w, h)) in info.pages.iter().enumerate() {
            if w == 0 || h == 0 {
                return Err(ParseError::Invalid(format!(
                    "the {} is damaged: page {} has no size",
                    info.format,
                    i + 1
                )));
            }
            info.check_pixels(i, self.limits.max_image_pixels)?;
        }
        let Some(ocr) = &self.ocr else {
            return Err(ParseError::Ocr(format!(
                "an image needs OCR to be read, and {}",
                self.ocr_unavailable()
            )));
        };
        let started = std::time::Instant::now();
        let got = match cleaned_pages(bytes, info.format, pages, watch)? {
            // Some page is peppered with specks: every page goes to
            // Tesseract one at a time, the noisy ones cleaned first.
            Some(cleaned) => {
                let mut got = Vec::new();
                for (i, page) in cleaned.into_iter().enumerate() {
                    let page = page?;
                    let mut one = ocr.recognise(&page.pgm, page.dpi, 1, watch)?;
                    for p in &mut one {
                        p.page = u32::try_from(i + 1).unwrap_or(u32::MAX);
                    }
                    got.extend(one);
                    if let Some(w) = watch.ocr_pages {
                        w.fetch_add(1, Ordering::Relaxed);
                    }
                }
                got
            }
            None => {
                let got = ocr.recognise(bytes, None, pages, watch)?;
                if let Some(w) = watch.ocr_pages {
                    w.fetch_add(u64::from(pages), Ordering::Relaxed);
                }
                got
            }
        };
        watch.ocr_took(started);
        let mut parsed = Parsed::default();
        for page in got {
            for para in page.paras {
                parsed.push_boxed(
                    super::BlockKind::Paragraph,
                    &para.text,
                    Some(page.page),
                    para.boxes,
                );
            }
        }
        if parsed.is_empty() {
            return Err(ParseError::Invalid("OCR found no text in the image".into()));
        }
        Ok(parsed)
    }
}

/// A page ready for OCR: grey PGM bytes and the resolution to tell
/// Tesseract (a PGM carries none).
pub(crate) struct GreyPage {
    /// A binary PGM image.
    pub pgm: Vec<u8>,
    /// Dots per inch from the file, where it records them.
    pub dpi: Option<u32>,
}

/// When some page of an image file is peppered with specks (see
/// [`super::despeckle`]), an iterator over its pages decoded to grey, the
/// noisy ones cleaned; `None` when no page is noisy, or a page cannot be
/// decoded here (Tesseract then reads the file as it is, as it reads
/// formats our decoders do not).
///
/// # Errors
/// [`ParseError::Cancelled`] when the job is cancelled meanwhile.
fn cleaned_pages<'a>(
    bytes: &'a [u8],
    format: &'static str,
    pages: u32,
    watch: &Watch<'_>,
) -> Result<Option<impl Iterator<Item = Result<GreyPage, ParseError>> + 'a>, ParseError> {
    // A first pass, page by page, decides (until a noisy page is found);
    // pages are decoded again on the second so only one is held at a time.
    let mut any = false;
    for i in 0..pages as usize {
        if watch.cancelled() {
            return Err(ParseError::Cancelled);
        }
        let Ok(page) = decode_page(bytes, format, i) else {
            return Ok(None);
        };
        let (grey, w, h) = page.grey();
        if speckled(&grey, w, h) {
            any = true;
            break;
        }
    }
    if !any {
        return Ok(None);
    }
    Ok(Some((0..pages as usize).map(move |i| {
        let page = decode_page(bytes, format, i)
            .map_err(|e| ParseError::Ocr(format!("the {format} could not be decoded: {e}")))?;
        let (grey, w, h) = page.grey();
        let pgm = ocr_pgm(grey, w, h);
        Ok(GreyPage { pgm, dpi: page.dpi })
    })))
}
