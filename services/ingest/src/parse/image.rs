//! Image files: sizes read from their headers before anything decodes
//! them, so a decompression bomb (a few kilobytes claiming gigapixels)
//! fails alone, naming the limit, instead of exhausting memory in the
//! decoder. Every page of a TIFF is checked.
//!
//! Only the header fields that give the size are read, by hand: PNG's
//! IHDR, JPEG's start-of-frame, GIF's screen, BMP's info header, WebP's
//! VP8/VP8L/VP8X chunk, and TIFF's chain of image directories.

/// The pages of an image and their sizes in pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageInfo {
    /// The format's name, for messages.
    pub format: &'static str,
    /// Width and height of each page (one for every format but TIFF).
    pub pages: Vec<(u64, u64)>,
}

/// Most TIFF directories followed: a loop in the chain ends here.
const MAX_TIFF_PAGES: usize = 100_000;

fn be16(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from(u16::from_be_bytes(
        b.get(at..at + 2)?.try_into().ok()?,
    )))
}
fn be32(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from(u32::from_be_bytes(
        b.get(at..at + 4)?.try_into().ok()?,
    )))
}
fn le16(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from(u16::from_le_bytes(
        b.get(at..at + 2)?.try_into().ok()?,
    )))
}
fn le32(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from(u32::from_le_bytes(
        b.get(at..at + 4)?.try_into().ok()?,
    )))
}

/// The format and page sizes of an image, from its header; `None` when the
/// bytes are not an image this reads (or are cut short).
pub(crate) fn probe(b: &[u8]) -> Option<ImageInfo> {
    let one = |format, w, h| {
        Some(ImageInfo {
            format,
            pages: vec![(w, h)],
        })
    };
    if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        return one("PNG", be32(b, 16)?, be32(b, 20)?);
    }
    if b.starts_with(b"\xff\xd8") {
        return jpeg(b).and_then(|(w, h)| one("JPEG", w, h));
    }
    if b.starts_with(b"GIF87a") || b.starts_with(b"GIF89a") {
        return one("GIF", le16(b, 6)?, le16(b, 8)?);
    }
    if b.starts_with(b"BM") {
        let w = i32::from_le_bytes(b.get(18..22)?.try_into().ok()?);
        let h = i32::from_le_bytes(b.get(22..26)?.try_into().ok()?);
        return one(
            "BMP",
            u64::from(w.unsigned_abs()),
            u64::from(h.unsigned_abs()),
        );
    }
    if b.starts_with(b"RIFF") && b.get(8..12) == Some(b"WEBP") {
        return webp(b).and_then(|(w, h)| one("WebP", w, h));
    }
    if b.starts_with(b"II*\0") || b.starts_with(b"MM\0*") {
        return tiff(b).map(|pages| ImageInfo {
            format: "TIFF",
            pages,
        });
    }
    None
}

/// The resolution a PNG (`pHYs`) or JPEG (JFIF density) file records, in
/// dots per inch; `None` where it records none (TIFF's is read with its
/// page, see `page_image`).
pub(crate) fn dpi(b: &[u8]) -> Option<u32> {
    let dpi = if b.starts_with(b"\x89PNG\r\n\x1a\n") {
        let mut at = 8;
        loop {
            let len = be32(b, at)? as usize;
            let kind = b.get(at + 4..at + 8)?;
            if kind == b"pHYs" {
                // Pixels per unit; unit 1 is the metre.
                let ppu = be32(b, at + 8)?;
                if *b.get(at + 16)? != 1 {
                    return None;
                }
                break ppu as f64 * 0.0254;
            }
            if kind == b"IDAT" || kind == b"IEND" {
                return None;
            }
            at = at.checked_add(12 + len)?;
        }
    } else if b.starts_with(b"\xff\xd8\xff\xe0") && b.get(6..11) == Some(b"JFIF\0") {
        // Units: 1 dots per inch, 2 dots per centimetre.
        let density = be16(b, 14)? as f64;
        match *b.get(13)? {
            1 => density,
            2 => density * 2.54,
            _ => return None,
        }
    } else {
        return None;
    };
    plausible_dpi(dpi)
}

/// A resolution in dots per inch, rounded, when it is one a scan could
/// have (50 to 2400); files record nonsense too.
pub(crate) fn plausible_dpi(dpi: f64) -> Option<u32> {
    let dpi = dpi.round();
    (50.0..=2400.0).contains(&dpi).then_some(dpi as u32)
}

/// [`probe`], or why the bytes are not an image.
pub(crate) fn probe_or_refuse(b: &[u8]) -> Result<ImageInfo, super::ParseError> {
    probe(b).ok_or_else(|| {
        super::ParseError::Invalid(
            "not a readable image (PNG, JPEG, TIFF, BMP, GIF or WebP header expected)".into(),
        )
    })
}

impl ImageInfo {
    /// Refuses page `index` (0-based) when its size, from the header, is
    /// over `max_pixels` (`ingest.max_image_pixels`).
    pub(crate) fn check_pixels(
        &self,
        index: usize,
        max_pixels: u64,
    ) -> Result<(), super::ParseError> {
        match self.pages.get(index) {
            Some(&(w, h)) if w.saturating_mul(h) > max_pixels => {
                Err(super::ParseError::TooLarge(format!(
                    "the {} claims {w}×{h} pixels on page {}, over the limit of {max_pixels} pixels (ingest.max_image_pixels); a file this small claiming that much is a decompression bomb",
                    self.format,
                    index + 1
                )))
            }
            _ => Ok(()),
        }
    }
}

fn jpeg(b: &[u8]) -> Option<(u64, u64)> {
    let mut at = 2;
    loop {
        // Skip fill bytes to the next marker.
        while *b.get(at)? != 0xff {
            at += 1;
        }
        while *b.get(at)? == 0xff {
            at += 1;
        }
        let marker = *b.get(at)?;
        at += 1;
        if matches!(marker, 0xd8 | 0x01 | 0xd0..=0xd7) {
            continue;
        }
        let len = be16(b, at)? as usize;
        // Start of frame (not DHT C4, JPG C8, DAC CC).
        if matches!(marker, 0xc0..=0xcf) && !matches!(marker, 0xc4 | 0xc8 | 0xcc) {
            return Some((be16(b, at + 5)?, be16(b, at + 3)?));
        }
        if marker == 0xd9 || len < 2 {
            return None;
        }
        at += len;
    }
}

fn webp(b: &[u8]) -> Option<(u64, u64)> {
    match b.get(12..16)? {
        b"VP8 " => Some((le16(b, 26)? & 0x3fff, le16(b, 28)? & 0x3fff)),
        b"VP8L" => {
            let v = le32(b, 21)?;
            Some(((v & 0x3fff) + 1, ((v >> 14) & 0x3fff) + 1))
        }
        b"VP8X" => {
            let w = le32(b, 24)? & 0xff_ffff;
            let h = le32(b, 27)? & 0xff_ffff;
            Some((w + 1, h + 1))
        }
        _ => None,
    }
}

fn tiff(b: &[u8]) -> Option<Vec<(u64, u64)>> {
    let little = b.starts_with(b"II");
    let u16_at = |at: usize| if little { le16(b, at) } else { be16(b, at) };
    let u32_at = |at: usize| if little { le32(b, at) } else { be32(b, at) };
    let mut pages = Vec::new();
    let mut next = u32_at(4)? as usize;
    let mut seen = std::collections::HashSet::new();
    while next != 0 && pages.len() < MAX_TIFF_PAGES && seen.insert(next) {
        let entries = u16_at(next)? as usize;
        let (mut w, mut h) = (0, 0);
        for i in 0..entries {
            let e = next + 2 + i * 12;
            let tag = u16_at(e)?;
            let kind = u16_at(e + 2)?;
            // SHORT (3) values sit in the first two bytes of the field.
            let value = if kind == 3 {
                u16_at(e + 8)?
            } else {
                u32_at(e + 8)?
            };
            match tag {
                256 => w = value,
                257 => h = value,
                _ => {}
            }
        }
        pages.push((w, h));
        next = u32_at(next + 2 + entries * 12)? as usize;
    }
    (!pages.is_empty()).then_some(pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        b.extend(w.to_be_bytes());
        b.extend(h.to_be_bytes());
        b.extend([8, 0, 0, 0, 0]);
        b
    }

    fn tiff_pages(sizes: &[(u32, u32)]) -> Vec<u8> {
        let mut b = b"II*\0".to_vec();
        b.extend(8u32.to_le_bytes());
        for (i, (w, h)) in sizes.iter().enumerate() {
            let here = b.len();
            b.extend(2u16.to_le_bytes());
            for (tag, v) in [(256u16, *w), (257, *h)] {
                b.extend(tag.to_le_bytes());
                b.extend(4u16.to_le_bytes());
                b.extend(1u32.to_le_bytes());
                b.extend(v.to_le_bytes());
            }
            let next = if i + 1 < sizes.len() {
                here + 2 + 24 + 4
            } else {
                0
            };
            b.extend((next as u32).to_le_bytes());
        }
        b
    }

    #[test]
    fn sizes_come_from_headers() {
        assert_eq!(probe(&png(2480, 3508)).unwrap().pages, [(2480, 3508)]);
        // A bomb claims its size in 33 bytes.
        assert_eq!(
            probe(&png(100_000, 100_000)).unwrap().pages,
            [(100_000, 100_000)]
        );
        let t = probe(&tiff_pages(&[(100, 200), (300, 400), (5, 6)])).unwrap();
        assert_eq!(t.format, "TIFF");
        assert_eq!(t.pages, [(100, 200), (300, 400), (5, 6)]);
        let mut gif = b"GIF89a".to_vec();
        gif.extend([0x40, 0x01, 0xf0, 0x00]);
        assert_eq!(probe(&gif).unwrap().pages, [(320, 240)]);
    }

    #[test]
    fn truncated_looping_and_foreign_bytes_are_not_images() {
        assert_eq!(probe(b"\x89PNG\r\n\x1a\n\0\0"), None);
        assert_eq!(probe(b"\xff\xd8\xff\xe0\0\x10JFIF"), None);
        assert_eq!(probe(b"hello"), None);
        // A TIFF whose directory points at itself ends.
        let mut t = tiff_pages(&[(10, 10)]);
        let n = t.len();
        t[n - 4..].copy_from_slice(&8u32.to_le_bytes());
        assert_eq!(probe(&t).unwrap().pages.len(), 1);
    }
}
