//! PDF: PDFium reads the text layer (with each line's box) and renders
//! pages without one for OCR; a mixed file uses its text layer where it has
//! one. Without PDFium the pure-Rust fallback ([`extract`]) reads what it
//! can.

mod extract;
pub(crate) mod pdfium;

use super::layout::{Para, heading_levels};
use super::{BlockKind, ParseError, Parsed, Reader, Watch};

/// A page's paragraphs, from its text layer or from OCR.
pub(crate) struct PageText {
    /// 1-based page number.
    pub number: u32,
    /// Paragraphs in reading order.
    pub paras: Vec<Para>,
}

pub(crate) fn parse(
    reader: &Reader,
    bytes: &[u8],
    watch: &Watch<'_>,
) -> Result<Parsed, ParseError> {
    if !bytes.starts_with(b"%PDF")
        && !bytes[..bytes.len().min(1024)]
            .windows(4)
            .any(|w| w == b"%PDF")
    {
        return Err(ParseError::Invalid(
            "not a PDF file (no %PDF header)".into(),
        ));
    }
    match reader.pdfium {
        Some(engine) => pdfium::parse(engine, reader, bytes, watch),
        None => extract::parse(bytes),
    }
}

/// Blocks from pages: headings found by type size across the whole
/// document, every other paragraph as running text, each with its boxes.
pub(crate) fn assemble(title: Option<String>, pages: Vec<PageText>) -> Parsed {
    let all: Vec<&Para> = pages.iter().flat_map(|p| p.paras.iter()).collect();
    let levels = heading_levels(&all);
    let mut parsed = Parsed::default();
    let mut level = levels.into_iter();
    for page in pages {
        for para in page.paras {
            if para.table {
                level.next();
                parsed.push_table_text(para.text, Some(page.number), para.boxes);
                continue;
            }
            let kind = level
                .next()
                .flatten()
                .map_or(BlockKind::Paragraph, BlockKind::Heading);
            parsed.push_boxed(kind, &para.text, Some(page.number), para.boxes);
        }
    }
    // The document's own title beats its first heading.
    if title.is_some() {
        parsed.title = title;
    }
    parsed
}
