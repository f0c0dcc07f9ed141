//! Scanner noise before OCR: a page peppered with dark specks (a dirty
//! platen, a noisy sensor, a fax line) is cleaned of them, and only such a
//! page.
//!
//! Why this way, measured on `tests/data/ocr` and noisy copies of its clean
//! pages (Tesseract 5.3, chi_sim+eng; docs/benchmarks.md): Tesseract reads
//! specks as strokes, and noisy Chinese fell to 0.77 character accuracy.
//! Removing ink blobs of at most [`MAX_SPECK`] pixels brings it to 0.94
//! and English to 1.00. Median filters do as well on noise but thin
//! anti-aliased strokes — at 150 dpi, clean Chinese fell to 0.54 — and
//! Tesseract's own `textord_heavy_nr` hurts clean and rotated pages. Even
//! blob removal erases full stops and dots at 150 dpi, so it runs only on
//! pages [`speckled`] finds noisy: the share of pixels much darker than all
//! eight neighbours is at most 0.2 ‰ on clean pages at 150 and 300 dpi and
//! at least 13 ‰ on noisy ones; the threshold, 2 ‰, sits an order of
//! magnitude from both.

/// A pixel this much darker than all its neighbours is an isolated speck.
const CONTRAST: u8 = 60;

/// Share of isolated specks above which a page is noisy.
const NOISY_SHARE: f64 = 0.002;

/// Ink: grey levels below this.
const INK: u8 = 128;

/// Ink blobs of at most this many pixels (8-connected) are noise.
pub(crate) const MAX_SPECK: usize = 3;

/// The eight neighbours of a pixel.
const AROUND: [(isize, isize); 8] = [
    (-1, -1),
    (-1, 0),
    (-1, 1),
    (0, -1),
    (0, 1),
    (1, -1),
    (1, 0),
    (1, 1),
];

/// The grey level of an RGBA pixel (ITU-R 601 luma, as Leptonica
/// converts), laid on white paper where it is transparent.
pub(crate) fn luma(px: [u8; 4]) -> u8 {
    let [r, g, b, a] = px.map(u32::from);
    let y = (r * 299 + g * 587 + b * 114) / 1000;
    ((y * a + 255 * (255 - a)) / 255) as u8
}

/// A grey page ready for Tesseract: cleaned of specks when [`speckled`],
/// as a binary PGM image.
pub(crate) fn ocr_pgm(mut grey: Vec<u8>, width: usize, height: usize) -> Vec<u8> {
    grey.resize(width * height, 255);
    if speckled(&grey, width, height) {
        let n = despeckle(&mut grey, width, height);
        tracing::debug!(specks = n, "scanner noise removed before OCR");
    }
    let mut pgm = format!("P5\n{width} {height}\n255\n").into_bytes();
    pgm.extend_from_slice(&grey);
    pgm
}

/// True when a `width × height` grey page (one byte a pixel, row by row)
/// is peppered with isolated dark specks: more than 2 ‰ of its pixels are
/// [`CONTRAST`] darker than all eight neighbours.
pub(crate) fn speckled(grey: &[u8], width: usize, height: usize) -> bool {
    if width < 3 || height < 3 || grey.len() < width * height {
        return false;
    }
    let mut specks = 0usize;
    for y in 1..height - 1 {
        let row = &grey[y * width..(y + 1) * width];
        let (up, down) = (
            &grey[(y - 1) * width..y * width],
            &grey[(y + 1) * width..(y + 2) * width],
        );
        for x in 1..width - 1 {
            let lightest_needed = row[x].saturating_add(CONTRAST);
            if row[x] < 255 - CONTRAST
                && up[x - 1..=x + 1].iter().all(|&n| n > lightest_needed)
                && down[x - 1..=x + 1].iter().all(|&n| n > lightest_needed)
                && row[x - 1] > lightest_needed
                && row[x + 1] > lightest_needed
            {
                specks += 1;
            }
        }
    }
    specks as f64 > NOISY_SHARE * (width * height) as f64
}

/// Whitens every 8-connected blob of ink of at most [`MAX_SPECK`] pixels;
/// every other pixel, grey levels included, is left as it is. Returns how
/// many pixels were whitened.
pub(crate) fn despeckle(grey: &mut [u8], width: usize, height: usize) -> usize {
    let n = width * height;
    if grey.len() < n {
        return 0;
    }
    let mut seen = vec![false; n];
    let mut stack = Vec::new();
    let mut blob = Vec::new();
    let mut whitened = 0;
    for start in 0..n {
        if seen[start] || grey[start] >= INK {
            continue;
        }
        seen[start] = true;
        stack.push(start);
        blob.clear();
        while let Some(i) = stack.pop() {
            if blob.len() <= MAX_SPECK {
                blob.push(i);
            }
            let (x, y) = ((i % width) as isize, (i / width) as isize);
            for (dy, dx) in AROUND {
                let (nx, ny) = (x + dx, y + dy);
                if nx < 0 || ny < 0 || nx >= width as isize || ny >= height as isize {
                    continue;
                }
                let j = ny as usize * width + nx as usize;
                if !seen[j] && grey[j] < INK {
                    seen[j] = true;
                    stack.push(j);
                }
            }
        }
        if blob.len() <= MAX_SPECK {
            for &i in &blob {
                grey[i] = 255;
            }
            whitened += blob.len();
        }
    }
    whitened
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A white page with black strokes (horizontal bars two pixels high,
    /// like text at 150 dpi) and, when `noise`, one speck in `noise`.
    fn page(width: usize, height: usize, noise: Option<usize>) -> Vec<u8> {
        let mut g = vec![250u8; width * height];
        for y in (10..height - 10).step_by(12) {
            for x in 10..width - 10 {
                if (x / 7) % 3 != 0 {
                    g[y * width + x] = 20;
                    g[(y + 1) * width + x] = 20;
                }
            }
        }
        if let Some(every) = noise {
            let mut seed = 7u64;
            for _ in 0..width * height / every {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                let i = (seed >> 33) as usize % (width * height);
                g[i] = 0;
            }
        }
        g
    }

    #[test]
    fn only_noisy_pages_are_speckled_and_cleaning_keeps_the_strokes() {
        let (w, h) = (400, 300);
        let clean = page(w, h, None);
        assert!(!speckled(&clean, w, h));
        let noisy = page(w, h, Some(60));
        assert!(speckled(&noisy, w, h));
        let mut cleaned = noisy.clone();
        let whitened = despeckle(&mut cleaned, w, h);
        assert!(whitened > w * h / 60 / 2, "{whitened}");
        assert!(!speckled(&cleaned, w, h));
        // Every stroke pixel of the clean page is still ink.
        for (i, (&c, &d)) in clean.iter().zip(&cleaned).enumerate() {
            if c < INK {
                assert!(d < INK, "stroke pixel {i} lost");
            }
        }
        // Nothing to do on the clean page.
        let mut again = clean.clone();
        assert_eq!(despeckle(&mut again, w, h), 0);
        assert_eq!(again, clean);
    }

    #[test]
    fn transparent_pixels_are_paper_and_colours_are_luma() {
        assert_eq!(luma([0, 0, 0, 0]), 255, "transparent black is paper");
        assert_eq!(luma([0, 0, 0, 255]), 0);
        assert_eq!(luma([255, 255, 255, 255]), 255);
        assert_eq!(luma([255, 0, 0, 255]), 76);
        let pgm = ocr_pgm(vec![0; 5], 3, 2);
        assert!(pgm.starts_with(b"P5\n3 2\n255\n"));
        assert_eq!(pgm.len(), 11 + 6, "padded to the page");
    }

    #[test]
    fn tiny_and_short_pages_are_left_alone() {
        assert!(!speckled(&[0, 255], 2, 1));
        assert!(!speckled(&[0; 4], 3, 3), "buffer shorter than the page");
        let mut g = [0u8; 4];
        assert_eq!(despeckle(&mut g, 3, 3), 0);
    }

    proptest! {
        /// Cleaning only whitens ink, only in blobs of at most MAX_SPECK
        /// pixels, and is idempotent: a cleaned page has no such blob.
        #[test]
        fn despeckling_whitens_only_small_blobs_and_is_idempotent(
            (w, h, pixels) in (1usize..24, 1usize..24).prop_flat_map(|(w, h)| {
                (Just(w), Just(h), proptest::collection::vec(prop_oneof![Just(0u8), Just(100u8), Just(200u8), Just(255u8)], w * h))
            })
        ) {
            let mut g = pixels.clone();
            let n = despeckle(&mut g, w, h);
            let changed = pixels.iter().zip(&g).filter(|(a, b)| a != b).count();
            prop_assert_eq!(n, changed);
            for (a, b) in pixels.iter().zip(&g) {
                prop_assert!(a == b || (*a < INK && *b == 255));
            }
            let mut again = g.clone();
            prop_assert_eq!(despeckle(&mut again, w, h), 0);
            prop_assert_eq!(again, g);
        }
    }
}
