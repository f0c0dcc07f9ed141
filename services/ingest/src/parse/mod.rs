//! Parsers: a file's bytes → a [`Parsed`] document of structured blocks.
//!
//! Every parser keeps what chunking needs to cite a passage: headings (so a
//! chunk knows its section path), pages and, for PDFs and scans, where on
//! the page the text sits. Tables stay tables (a header and rows), so a
//! chunk of rows still carries its header. A parser never panics on
//! hostile input, and a file that claims more than the limits allow
//! (pages, pixels) fails alone, saying which limit.
//!
//! [`Reader`] holds what reading needs beyond the bytes: the PDF engine
//! (PDFium), the OCR engine (Tesseract), the limits and the policies.

mod columns;
mod despeckle;
mod docx;
mod html;
mod image;
mod layout;
mod markdown;
mod ocr;
mod page_image;
mod pdf;
mod reader;
pub(crate) mod table;
mod text;

pub use ocr::char_accuracy;
pub use page_image::PageImage;
pub use reader::{Reader, ReaderStatus, Watch};
pub use table::Table;

use serde::{Deserialize, Serialize};
use std::path::Path;

/// What a block of text is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockKind {
    /// A heading of this level (1 is the top).
    Heading(u8),
    /// Running text.
    Paragraph,
    /// A table, or rows of one, rendered as text.
    Table,
}

/// A rectangle on a page, as fractions of the page's width and height
/// measured from its top-left corner: independent of the resolution the
/// page is later shown at.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Rect {
    /// Left edge, 0 to 1.
    pub x0: f32,
    /// Top edge, 0 to 1.
    pub y0: f32,
    /// Right edge, 0 to 1.
    pub x1: f32,
    /// Bottom edge, 0 to 1.
    pub y1: f32,
}

impl Rect {
    /// The smallest rectangle holding both.
    pub fn union(self, other: Rect) -> Rect {
        Rect {
            x0: self.x0.min(other.x0),
            y0: self.y0.min(other.y0),
            x1: self.x1.max(other.x1),
            y1: self.y1.max(other.y1),
        }
    }
}

/// One block of a document.
#[derive(Debug, Clone, PartialEq)]
pub struct Block {
    /// Heading, paragraph or table.
    pub kind: BlockKind,
    /// The text, whitespace-normalised; a table is a Markdown table, one
    /// row a line, its header first.
    pub text: String,
    /// 1-based page, for paged formats.
    pub page: Option<u32>,
    /// Where the block's lines sit on its page (PDFs and scans), one
    /// rectangle a line; empty where the format has no pages.
    pub boxes: Vec<Rect>,
}

/// A parsed document.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// Title from the document's metadata or first heading, when it has one.
    pub title: Option<String>,
    /// The blocks in reading order.
    pub blocks: Vec<Block>,
    /// Characters a reader does not see but the text holds: hidden by
    /// formatting (`display:none`, white text, hidden runs in DOCX). They
    /// stay in the text — the guard reads them — and the document is
    /// flagged (`injection.hidden_text`).
    pub hidden: usize,
}

impl Parsed {
    pub(crate) fn push(&mut self, kind: BlockKind, text: &str, page: Option<u32>) {
        self.push_boxed(kind, text, page, Vec::new());
    }

    /// Pushes a block with the rectangles its lines occupy on its page.
    pub(crate) fn push_boxed(
        &mut self,
        kind: BlockKind,
        text: &str,
        page: Option<u32>,
        boxes: Vec<Rect>,
    ) {
        let text = normalise_space(text);
        if text.is_empty() {
            return;
        }
        if self.title.is_none()
            && let BlockKind::Heading(_) = kind
        {
            self.title = Some(text.clone());
        }
        self.blocks.push(Block {
            kind,
            text,
            page,
            boxes,
        });
    }

    /// Pushes a table as one Markdown block (see [`Table::markdown`]);
    /// chunking cuts it between rows and repeats the header in every chunk.
    pub(crate) fn push_table(&mut self, table: &Table, page: Option<u32>) {
        if let Some(text) = table.markdown() {
            self.blocks.push(Block {
                kind: BlockKind::Table,
                text,
                page,
                boxes: Vec::new(),
            });
        }
    }

    /// Pushes a table found on a page, already rendered as a Markdown
    /// table (see [`Table::markdown`]), with the rectangles of its rows.
    pub(crate) fn push_table_text(
        &mut self,
        markdown: String,
        page: Option<u32>,
        boxes: Vec<Rect>,
    ) {
        if !markdown.trim().is_empty() {
            self.blocks.push(Block {
                kind: BlockKind::Table,
                text: markdown,
                page,
                boxes,
            });
        }
    }

    /// True when no block holds text.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }
}

/// Why a file gave no document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not a format Zhishu reads (the file is skipped, not failed).
    #[error("unsupported file type{0}")]
    Unsupported(String),
    /// The file is damaged or not what its name says.
    #[error("{0}")]
    Invalid(String),
    /// The PDF is encrypted.
    #[error("the PDF is encrypted; decrypt it and ingest again")]
    Encrypted,
    /// The PDF has no text layer (scanned pages) and OCR could not read it:
    /// the reason says why (off, not installed, nothing recognised).
    #[error("the PDF has no extractable text (scanned images?) and {0}")]
    NoText(String),
    /// The file exceeds a configured limit (pages, pixels): the message
    /// names the limit and its key.
    #[error("{0}")]
    TooLarge(String),
    /// OCR failed on a page (the program failed or ran past its time).
    #[error("{0}")]
    Ocr(String),
    /// An engine the operation needs is not available: why.
    #[error("{0}")]
    NoEngine(String),
    /// The job was cancelled while this file was being read.
    #[error("cancelled while reading the file")]
    Cancelled,
}

/// The formats Zhishu reads, by file extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// PDF.
    Pdf,
    /// Word 2007+.
    Docx,
    /// HTML.
    Html,
    /// Markdown.
    Markdown,
    /// Plain text (UTF-8, UTF-16 with BOM, GB18030/GBK, …).
    Text,
    /// Comma-separated values.
    Csv,
    /// Excel 2007+ (and the other spreadsheet formats calamine reads).
    Spreadsheet,
    /// A picture or scan (PNG, JPEG, TIFF with its pages, BMP, WebP, GIF),
    /// read with OCR.
    Image,
}

impl Format {
    /// The format of a path, from its extension.
    ///
    /// # Errors
    /// [`ParseError::Unsupported`] naming the extension.
    pub fn of(path: &Path) -> Result<Self, ParseError> {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .unwrap_or_default();
        Ok(match ext.as_str() {
            "pdf" => Self::Pdf,
            "docx" => Self::Docx,
            "html" | "htm" | "xhtml" => Self::Html,
            "md" | "markdown" => Self::Markdown,
            "txt" | "text" | "log" | "rst" => Self::Text,
            "csv" => Self::Csv,
            "xlsx" | "xlsm" | "xls" | "ods" => Self::Spreadsheet,
            "png" | "jpg" | "jpeg" | "tif" | "tiff" | "bmp" | "webp" | "gif" => Self::Image,
            "" => return Err(ParseError::Unsupported(" (no extension)".into())),
            other => return Err(ParseError::Unsupported(format!(" (.{other})"))),
        })
    }

    /// The MIME type recorded in the registry.
    pub fn mime(self) -> &'static str {
        match self {
            Self::Pdf => "application/pdf",
            Self::Docx => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            Self::Html => "text/html",
            Self::Markdown => "text/markdown",
            Self::Text => "text/plain",
            Self::Csv => "text/csv",
            Self::Spreadsheet => {
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            }
            Self::Image => "image/*",
        }
    }
}

/// Parses a file's bytes in the given format with the default reader: no
/// PDF engine beyond the built-in fallback, no OCR. Ingestion uses a
/// configured [`Reader`]; this serves evaluation and tests of text formats.
///
/// # Errors
/// [`ParseError`] saying why the file gave no text.
pub fn parse(format: Format, bytes: &[u8]) -> Result<Parsed, ParseError> {
    Reader::plain().parse(format, bytes, &Watch::default())
}

pub use text::decode;

/// Collapses runs of whitespace to one space and trims.
pub(crate) fn normalise_space(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for word in s.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}
