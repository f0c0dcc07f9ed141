//! The fallback PDF reader, for a machine without PDFium: text per page
//! with page numbers, through pdf-extract over lopdf. It cannot read many
//! CJK PDFs (CID fonts from xdvipdfmx) nor render pages for OCR; readiness
//! says which reader runs.
//!
//! Encrypted files, damaged files and files without a text layer each get
//! their own error. Both libraries can panic on malformed input, so the
//! whole parse runs under `catch_unwind`: a broken file fails alone.

use crate::parse::{BlockKind, ParseError, Parsed, normalise_space};

pub(crate) fn parse(bytes: &[u8]) -> Result<Parsed, ParseError> {
    std::panic::catch_unwind(|| parse_inner(bytes)).unwrap_or_else(|_| {
        Err(ParseError::Invalid(
            "the PDF is damaged (the parser could not read its structure)".into(),
        ))
    })
}

fn parse_inner(bytes: &[u8]) -> Result<Parsed, ParseError> {
    let doc = lopdf::Document::load_mem(bytes)
        .map_err(|e| ParseError::Invalid(format!("the PDF is damaged: {e}")))?;
    if doc.is_encrypted() || doc.trailer.get(b"Encrypt").is_ok() {
        return Err(ParseError::Encrypted);
    }
    let title = doc
        .trailer
        .get(b"Info")
        .ok()
        .and_then(|info| info.as_reference().ok())
        .and_then(|id| doc.get_dictionary(id).ok())
        .and_then(|info| info.get(b"Title").ok())
        .and_then(|t| lopdf::decode_text_string(t).ok())
        .map(|t| normalise_space(&t))
        .filter(|t| !t.is_empty());
    let pages = pdf_extract::extract_text_from_mem_by_pages(bytes)
        .map_err(|e| ParseError::Invalid(format!("the PDF's text cannot be read: {e}")))?;
    let mut parsed = Parsed::default();
    for (i, page) in pages.iter().enumerate() {
        let number = u32::try_from(i + 1).unwrap_or(u32::MAX);
        for para in page.split("\n\n") {
            parsed.push(BlockKind::Paragraph, para, Some(number));
        }
    }
    if parsed.is_empty() {
        return Err(ParseError::NoText(
            "OCR needs PDFium to render its pages (ingest.pdfium; scripts/fetch-assets.sh places it)"
                .into(),
        ));
    }
    parsed.title = title;
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_and_truncated_files_fail_cleanly() {
        assert!(matches!(
            parse(b"%PDF-1.4\n1 0 obj <<"),
            Err(ParseError::Invalid(_))
        ));
    }
}
