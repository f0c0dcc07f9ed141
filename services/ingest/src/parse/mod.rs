//! Parsers: a file's bytes → a [`Parsed`] document of structured blocks.
//!
//! Every parser keeps what chunking needs to cite a passage: headings (so a
//! chunk knows its section path) and pages (for PDFs). A parser never
//! panics on hostile input: PDF parsing runs under `catch_unwind`, because
//! a malformed file must cost one per-file error, not the job.

mod docx;
mod html;
mod markdown;
mod pdf;
mod table;
mod text;

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

/// One block of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Block {
    /// Heading, paragraph or table.
    pub kind: BlockKind,
    /// The text, whitespace-normalised.
    pub text: String,
    /// 1-based page, for paged formats.
    pub page: Option<u32>,
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
        let text = normalise_space(text);
        if text.is_empty() {
            return;
        }
        if self.title.is_none()
            && let BlockKind::Heading(_) = kind
        {
            self.title = Some(text.clone());
        }
        self.blocks.push(Block { kind, text, page });
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
    /// The PDF has no text layer (scanned pages).
    #[error("the PDF has no extractable text (scanned images?); OCR it and ingest again")]
    NoText,
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
        }
    }
}

/// Parses a file's bytes in the given format.
///
/// # Errors
/// [`ParseError`] saying why the file gave no text.
pub fn parse(format: Format, bytes: &[u8]) -> Result<Parsed, ParseError> {
    let parsed = match format {
        Format::Pdf => pdf::parse(bytes)?,
        Format::Docx => docx::parse(bytes)?,
        Format::Html => html::parse(&text::decode(bytes)),
        Format::Markdown => markdown::parse(&text::decode(bytes)),
        Format::Text => text::parse(&text::decode(bytes)),
        Format::Csv => table::parse_csv(&text::decode(bytes))?,
        Format::Spreadsheet => table::parse_spreadsheet(bytes)?,
    };
    Ok(parsed)
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
