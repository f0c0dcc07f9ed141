//! Plain text, and the encoding detection every text format shares.
//!
//! Chinese offices still produce GB18030/GBK files and Windows tools write
//! UTF-16: a BOM decides when there is one; valid UTF-8 is taken as is;
//! anything else goes to chardetng, which recognises GBK, Big5, Shift-JIS
//! and the single-byte code pages from byte statistics.

use super::{BlockKind, Parsed};
use encoding_rs::{Encoding, UTF_8};

/// Decodes text bytes to a string, detecting the encoding.
pub fn decode(bytes: &[u8]) -> String {
    if let Some((enc, bom)) = Encoding::for_bom(bytes) {
        return enc
            .decode_without_bom_handling(&bytes[bom..])
            .0
            .into_owned();
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return s.to_owned();
    }
    let mut det = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    det.feed(bytes, true);
    let enc = det.guess(None, chardetng::Utf8Detection::Allow);
    let enc = if enc == UTF_8 {
        encoding_rs::GB18030
    } else {
        enc
    };
    enc.decode_without_bom_handling(bytes).0.into_owned()
}

/// Paragraphs are separated by blank lines; single newlines are soft.
pub(crate) fn parse(text: &str) -> Parsed {
    let mut parsed = Parsed::default();
    let mut para = String::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            parsed.push(BlockKind::Paragraph, &para, None);
            para.clear();
        } else {
            para.push_str(line);
            para.push('\n');
        }
    }
    parsed.push(BlockKind::Paragraph, &para, None);
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_gb18030_utf16_and_utf8() {
        let text = "差旅报销：一线城市住宿标准为每晚六百元，需在出差结束后三十天内提交发票。";
        let (gbk, _, _) = encoding_rs::GB18030.encode(text);
        assert_eq!(decode(&gbk), text);
        let mut utf16 = vec![0xFF, 0xFE];
        for u in text.encode_utf16() {
            utf16.extend_from_slice(&u.to_le_bytes());
        }
        assert_eq!(decode(&utf16), text);
        assert_eq!(decode(text.as_bytes()), text);
        let mut bom = vec![0xEF, 0xBB, 0xBF];
        bom.extend_from_slice(text.as_bytes());
        assert_eq!(decode(&bom), text);
    }

    #[test]
    fn blank_lines_separate_paragraphs() {
        let p = parse("one\ntwo\n\n\nthree");
        let texts: Vec<&str> = p.blocks.iter().map(|b| b.text.as_str()).collect();
        assert_eq!(texts, ["one two", "three"]);
    }
}
