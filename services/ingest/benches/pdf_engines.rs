//! PDF readers side by side on real PDFs: Zhishu's PDFium reader, the
//! pure-Rust fallback (pdf-extract, the reader before PDFium) and
//! poppler's `pdftotext`, the reference most people would pick.
//!
//!     cargo bench -p zhishu-ingest --bench pdf_engines -- [--no-fallback] [FOLDER...]
//!
//! `--no-fallback` leaves out pdf-extract (slow on large sets).
//!
//! Without folders it reads the offline assets' PDFs and the repository's
//! fixtures; the numbers in docs/benchmarks.md come from the 2,066 PDFs
//! under `/usr/share/doc` with TeX Live's documentation packages installed
//! (Chinese manuals typeset with xdvipdfmx among them). For each file: whether each reader
//! gets text, seconds per page, and the word-level F1 of each reader's
//! text against pdftotext's (CJK counted per character, other scripts per
//! word, lower-cased, as multisets). A reader "has text" from a file when
//! it gives at least three words, the same test for every reader: a font
//! without a Unicode map gives control characters, which are no words.
//! OCR is off: this measures text layers.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};
use zhishu_core::config::{IngestConfig, OcrMode};
use zhishu_ingest::parse::{Format, Reader, Watch, parse};

fn assets() -> PathBuf {
    std::env::var("ZHISHU_ASSETS_DIR").map_or_else(
        |_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/zhishu/assets"),
        PathBuf::from,
    )
}

fn is_cjk(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x3040..=0x30FF | 0xAC00..=0xD7AF)
}

fn words(text: &str) -> HashMap<String, usize> {
    let mut out = HashMap::new();
    let mut word = String::new();
    let flush = |w: &mut String, out: &mut HashMap<String, usize>| {
        if !w.is_empty() {
            *out.entry(std::mem::take(w)).or_insert(0) += 1;
        }
    };
    for c in text.chars() {
        if is_cjk(c) {
            flush(&mut word, &mut out);
            *out.entry(c.to_string()).or_insert(0) += 1;
        } else if c.is_alphanumeric() {
            word.extend(c.to_lowercase());
        } else {
            flush(&mut word, &mut out);
        }
    }
    flush(&mut word, &mut out);
    out
}

/// True when a text holds at least three words (CJK characters count one
/// each): the test every reader is held to, so a reader's glyph-number
/// junk (control characters) does not count as text.
fn has_words(text: &str) -> bool {
    words(text).values().sum::<usize>() >= 3
}

fn f1(got: &HashMap<String, usize>, want: &HashMap<String, usize>) -> f64 {
    let common: usize = got
        .iter()
        .map(|(w, n)| (*n).min(want.get(w).copied().unwrap_or(0)))
        .sum();
    let (g, w): (usize, usize) = (got.values().sum(), want.values().sum());
    if g == 0 || w == 0 {
        return 0.0;
    }
    let (p, r) = (common as f64 / g as f64, common as f64 / w as f64);
    if p + r == 0.0 {
        0.0
    } else {
        2.0 * p * r / (p + r)
    }
}

fn pdftotext(path: &Path) -> Option<(String, Duration)> {
    let t = Instant::now();
    let out = Command::new("pdftotext")
        .arg(path)
        .arg("-")
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    let took = t.elapsed();
    out.status
        .success()
        .then(|| (String::from_utf8_lossy(&out.stdout).into_owned(), took))
}

fn text_of(p: &zhishu_ingest::parse::Parsed) -> (String, u32) {
    let pages = p.blocks.iter().filter_map(|b| b.page).max().unwrap_or(1);
    let t = p
        .blocks
        .iter()
        .map(|b| b.text.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    (t, pages)
}

#[derive(Default)]
struct Totals {
    files: usize,
    text: usize,
    failed: usize,
    seconds: f64,
    pages: u64,
    f1: Vec<f64>,
}

fn main() {
    let mut dirs: Vec<PathBuf> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .map(PathBuf::from)
        .collect();
    if dirs.is_empty() {
        dirs.push(assets().join("pdfs"));
        dirs.push(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/pdf"));
    }
    let mut files: Vec<PathBuf> = dirs
        .iter()
        .flat_map(|d| walkdir::WalkDir::new(d).into_iter().filter_map(Result::ok))
        .filter(|e| {
            e.path()
                .extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("pdf"))
        })
        .map(|e| e.into_path())
        .collect();
    files.sort();
    let reader = Reader::new(
        &IngestConfig {
            ocr: OcrMode::Off,
            ..IngestConfig::default()
        },
        &assets().join("pdfium/libpdfium.so"),
    );
    assert_eq!(
        reader.status().pdf_engine,
        "pdfium",
        "{:?}",
        reader.status()
    );
    let has_poppler = Command::new("pdftotext").arg("-v").output().is_ok();
    let with_fallback = !std::env::args().any(|a| a == "--no-fallback");
    let (mut ours, mut fallback, mut poppler) =
        (Totals::default(), Totals::default(), Totals::default());
    let mut worst: Vec<(f64, String)> = Vec::new();
    // Files pdftotext reads words from and PDFium does not.
    let mut missed: Vec<String> = Vec::new();
    for path in &files {
        let Ok(bytes) = std::fs::read(path) else {
            continue;
        };
        let reference = if has_poppler { pdftotext(path) } else { None };
        let want = reference.as_ref().map(|(t, _)| words(t));
        poppler.files += 1;
        if let Some((t, took)) = &reference {
            if has_words(t) {
                poppler.text += 1;
            }
            poppler.seconds += took.as_secs_f64();
        } else {
            poppler.failed += 1;
        }
        let poppler_words = reference.as_ref().is_some_and(|(t, _)| has_words(t));
        for (name, totals) in [("pdfium", &mut ours), ("pdf-extract", &mut fallback)] {
            if name == "pdf-extract" && !with_fallback {
                continue;
            }
            totals.files += 1;
            let t = Instant::now();
            let got = if name == "pdfium" {
                reader.parse(Format::Pdf, &bytes, &Watch::default())
            } else {
                parse(Format::Pdf, &bytes)
            };
            totals.seconds += t.elapsed().as_secs_f64();
            match got {
                Ok(p) => {
                    let (text, pages) = text_of(&p);
                    if has_words(&text) {
                        totals.text += 1;
                    } else if name == "pdfium" && poppler_words {
                        missed.push(path.display().to_string());
                    }
                    totals.pages += u64::from(pages);
                    if let Some(want) = &want
                        && !want.is_empty()
                    {
                        let score = f1(&words(&text), want);
                        totals.f1.push(score);
                        if name == "pdfium" {
                            worst.push((score, path.display().to_string()));
                        }
                    }
                }
                Err(_) => {
                    totals.failed += 1;
                    if name == "pdfium" && poppler_words {
                        missed.push(path.display().to_string());
                    }
                }
            }
        }
    }
    worst.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mean = |v: &[f64]| {
        if v.is_empty() {
            0.0
        } else {
            v.iter().sum::<f64>() / v.len() as f64
        }
    };
    let median = |v: &[f64]| {
        let mut v = v.to_vec();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or(0.0)
    };
    println!("{} PDFs", files.len());
    println!(
        "| reader | files with words | failed | seconds, all files | word F1 vs pdftotext (mean / median) |"
    );
    println!("|---|---|---|---|---|");
    for (name, t) in [
        ("Zhishu (PDFium)", &ours),
        ("pdf-extract (fallback)", &fallback),
        ("pdftotext (poppler)", &poppler),
    ] {
        let f = if t.f1.is_empty() {
            "—".to_owned()
        } else {
            format!("{:.3} / {:.3}", mean(&t.f1), median(&t.f1))
        };
        println!(
            "| {name} | {} | {} | {:.2} | {f} |",
            t.text, t.failed, t.seconds
        );
    }
    println!(
        "PDFium time / pdftotext time: {:.2}",
        ours.seconds / poppler.seconds.max(1e-9)
    );
    println!(
        "files pdftotext reads words from and PDFium does not: {}",
        missed.len()
    );
    for p in &missed {
        println!("  {p}");
    }
    println!("lowest PDFium F1:");
    for (s, p) in worst.iter().take(5) {
        println!("  {s:.3} {p}");
    }
}
