//! `[ingest]`: what ingestion reads, how it reads scans, and the limits
//! that keep one hostile file from costing more than its own failure.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// When pages are recognised with OCR.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OcrMode {
    /// Pages without a text layer (scans, photos) and image files are
    /// recognised; pages with text use it. The default.
    #[default]
    Auto,
    /// Nothing is recognised: scanned files fail, saying so.
    Off,
    /// Every PDF page is recognised, text layer or not (for PDFs whose text
    /// layer is garbage: broken font maps, bad OCR from a scanner).
    Force,
}

/// What a spreadsheet's hidden sheets become.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum HiddenSheets {
    /// Hidden sheets are not indexed (the default: hidden usually means
    /// lookup tables and scratch work nobody meant to publish).
    #[default]
    Skip,
    /// Hidden sheets are indexed like visible ones.
    Include,
}

/// Ingestion limits, allowed roots and document readers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngestConfig {
    /// Folders that folder ingestion may read under; anything outside is
    /// refused. Default empty (folder ingestion disabled until configured).
    pub roots: Vec<PathBuf>,
    /// Largest file accepted, in bytes. Default 100 MiB.
    pub max_file_bytes: u64,
    /// Most embedding-model tokens per chunk (capped at the model's own
    /// limit). Default 512.
    pub chunk_tokens: usize,
    /// Tokens repeated between consecutive chunks. Default 64.
    pub chunk_overlap_tokens: usize,
    /// Tokenizer of the chat model (a folder with `tokenizer.json`, or the
    /// file), used to record each chunk's prompt token count; relative
    /// paths are under `models.dir`. Default `../tokenizers/qwen3`.
    pub prompt_tokenizer: PathBuf,
    /// The PDFium shared library that reads and renders PDFs; relative
    /// paths are under `models.dir`. Default `../pdfium/libpdfium.so`
    /// (placed by `scripts/fetch-assets.sh`). Without it PDFs are read by
    /// a pure-Rust fallback that cannot read many CJK PDFs nor render
    /// pages for OCR; readiness says so.
    pub pdfium: PathBuf,
    /// When to recognise pages with OCR. Default `auto`.
    pub ocr: OcrMode,
    /// Tesseract languages, tried together. Default `chi_sim` and `eng`
    /// (Debian's `tesseract-ocr-chi-sim`, `-eng`). Add `chi_tra`
    /// (`tesseract-ocr-chi-tra`) for archives in traditional characters:
    /// on simplified text it gains little and costs about a third more time
    /// per page (measured in docs/benchmarks.md), so it is not on by
    /// default.
    pub ocr_languages: Vec<String>,
    /// The Tesseract program: a name looked up in `PATH`, or a path.
    /// Default `tesseract`.
    pub tesseract: PathBuf,
    /// Resolution scanned PDF pages are rendered at for OCR. Default 300,
    /// Tesseract's own recommendation.
    pub ocr_dpi: u32,
    /// Longest a single page may take in OCR, in seconds; a page over it
    /// fails the file. Default 120.
    pub ocr_page_timeout_secs: u64,
    /// Most pixels one image (an image file's page, or a PDF page rendered
    /// for OCR) may hold: a decompression bomb claims billions in a few
    /// bytes. Default 200 million (a 300 dpi A0 sheet is 139 million).
    pub max_image_pixels: u64,
    /// Most pages one document may have. Default 10,000.
    pub max_pages: u32,
    /// Hidden spreadsheet sheets: `skip` or `include`. Default `skip`.
    pub hidden_sheets: HiddenSheets,
    /// How long an ingest node holds a job it claimed without renewing its
    /// claim, in seconds (it renews every third of it while it works): a
    /// node that dies mid-job has its job resumed by another this long
    /// after. Default 30.
    pub job_lease_secs: u64,
}

impl Default for IngestConfig {
    fn default() -> Self {
        Self {
            roots: Vec::new(),
            max_file_bytes: 100 << 20,
            chunk_tokens: 512,
            chunk_overlap_tokens: 64,
            prompt_tokenizer: PathBuf::from("../tokenizers/qwen3"),
            pdfium: PathBuf::from("../pdfium/libpdfium.so"),
            ocr: OcrMode::Auto,
            ocr_languages: vec!["chi_sim".into(), "eng".into()],
            tesseract: PathBuf::from("tesseract"),
            ocr_dpi: 300,
            ocr_page_timeout_secs: 120,
            max_image_pixels: 200_000_000,
            max_pages: 10_000,
            hidden_sheets: HiddenSheets::Skip,
            job_lease_secs: 30,
        }
    }
}

impl IngestConfig {
    /// Checks the values serde cannot: the key that is wrong and why.
    pub(crate) fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(3..=3600).contains(&self.job_lease_secs) {
            return Err((
                "ingest.job_lease_secs",
                "must be between 3 and 3600 seconds".into(),
            ));
        }
        if !(72..=1200).contains(&self.ocr_dpi) {
            return Err(("ingest.ocr_dpi", "must be between 72 and 1200".into()));
        }
        if self.ocr_languages.is_empty() {
            return Err((
                "ingest.ocr_languages",
                "name at least one Tesseract language, e.g. [\"chi_sim\", \"eng\"]".into(),
            ));
        }
        // Languages become one `-l a+b` argument: only Tesseract's own
        // naming (letters, digits, `_`, `-`) may pass.
        if let Some(bad) = self.ocr_languages.iter().find(|l| {
            l.is_empty()
                || !l
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        }) {
            return Err((
                "ingest.ocr_languages",
                format!("`{bad}` is not a Tesseract language name (like chi_sim or eng)"),
            ));
        }
        if self.max_pages == 0 {
            return Err(("ingest.max_pages", "must be at least 1".into()));
        }
        if self.max_image_pixels < 1_000_000 {
            return Err((
                "ingest.max_image_pixels",
                "must be at least 1000000 (a page at 150 dpi is 2 million)".into(),
            ));
        }
        if self.ocr_page_timeout_secs == 0 {
            return Err(("ingest.ocr_page_timeout_secs", "must be at least 1".into()));
        }
        Ok(())
    }
}
