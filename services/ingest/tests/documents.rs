//! Reading real documents the way an archive holds them: a Chinese PDF
//! typeset by XeLaTeX (CID fonts), a PDF whose first page is a scan, image
//! files (PNG, a two-page TIFF), decompression bombs and corrupt images,
//! OCR switched off, and a job cancelled mid-OCR. PDFium comes from the
//! offline assets (scripts/fetch-assets.sh) and Tesseract from the
//! distribution (scripts/test.sh installs it); nothing is mocked.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use zhishu_core::config::{IngestConfig, OcrMode};
use zhishu_ingest::parse::{BlockKind, Format, ParseError, Parsed, Reader, Watch};

fn assets() -> PathBuf {
    std::env::var("ZHISHU_ASSETS_DIR").map_or_else(
        |_| PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/zhishu/assets"),
        PathBuf::from,
    )
}

fn data(path: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/data")
        .join(path);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn reader_with(config: IngestConfig) -> Reader {
    let r = Reader::new(&config, &assets().join("pdfium/libpdfium.so"));
    let s = r.status();
    assert_eq!(s.pdf_engine, "pdfium", "{s:?}");
    if config.ocr != OcrMode::Off {
        assert!(
            s.ocr.is_some(),
            "Tesseract with chi_sim and eng is needed (scripts/test.sh installs it): {s:?}"
        );
    }
    r
}

fn reader() -> Reader {
    reader_with(IngestConfig::default())
}

fn text_of(p: &Parsed) -> String {
    p.blocks
        .iter()
        .map(|b| b.text.as_str())
        .collect::<Vec<_>>()
        .join("\n")
}

/// Characters of `want` (whitespace ignored) found in order in `got`, as
/// a share: the part of a passage OCR read correctly.
fn recall(want: &str, got: &str) -> f64 {
    let w: Vec<char> = want.chars().filter(|c| !c.is_whitespace()).collect();
    let g: Vec<char> = got.chars().filter(|c| !c.is_whitespace()).collect();
    // Longest common subsequence, two rows.
    let mut prev = vec![0usize; g.len() + 1];
    for a in &w {
        let mut row = vec![0usize; g.len() + 1];
        for (j, b) in g.iter().enumerate() {
            row[j + 1] = if a == b {
                prev[j] + 1
            } else {
                row[j].max(prev[j + 1])
            };
        }
        prev = row;
    }
    prev[g.len()] as f64 / w.len().max(1) as f64
}

#[test]
fn a_chinese_xelatex_pdf_is_read_with_pages_headings_and_boxes() {
    let p = reader()
        .parse(Format::Pdf, &data("pdf/policy-zh.pdf"), &Watch::default())
        .unwrap();
    let all = text_of(&p);
    // Lines wrapped by TeX join without spaces.
    assert!(
        all.contains("一线城市（北京、上海、广州、深圳）每人每晚不超过六百元"),
        "{all}"
    );
    assert!(all.contains("Travel by taxi is reimbursed only between 22:00 and 6:00"));
    // Section titles are headings (larger type), each on its page.
    let headings: Vec<(&str, Option<u32>)> = p
        .blocks
        .iter()
        .filter(|b| matches!(b.kind, BlockKind::Heading(_)))
        .map(|b| (b.text.as_str(), b.page))
        .collect();
    for want in [
        ("1 总则", Some(1)),
        ("2 住宿标准", Some(1)),
        ("4 报销时限", Some(2)),
    ] {
        assert!(headings.contains(&want), "{want:?} in {headings:?}");
    }
    // Every line of text has its box on the page.
    let body = p
        .blocks
        .iter()
        .find(|b| b.text.starts_with("员工出差住宿费"))
        .unwrap();
    assert_eq!(body.page, Some(1));
    assert!(body.boxes.len() >= 3, "{:?}", body.boxes);
    for r in &body.boxes {
        assert!(
            0.0 <= r.x0 && r.x0 < r.x1 && r.x1 <= 1.0 && 0.0 <= r.y0 && r.y0 < r.y1 && r.y1 <= 1.0
        );
    }
    assert!(
        body.boxes[0].y0 < body.boxes[1].y0,
        "lines go down the page"
    );
}

/// Tables typeset in a PDF (XeLaTeX `tabular` and a `longtable` over two
/// pages, booktabs rules) become tables: a header row and rows, each row's
/// box on its page; the running text around them stays paragraphs, and the
/// running head of a page is not taken for a table.
#[test]
fn tables_in_a_pdf_are_read_as_tables() {
    let p = reader()
        .parse(Format::Pdf, &data("pdf/tables-zh.pdf"), &Watch::default())
        .unwrap();
    let tables: Vec<&zhishu_ingest::parse::Block> = p
        .blocks
        .iter()
        .filter(|b| b.kind == BlockKind::Table)
        .collect();
    let pages: Vec<Option<u32>> = tables.iter().map(|t| t.page).collect();
    assert_eq!(
        pages,
        [Some(1), Some(1), Some(2), Some(3)],
        "{:#?}",
        p.blocks
    );
    assert_eq!(
        tables[0].text,
        "| 城市 | 城市级别 | 住宿上限（元/晚） | 餐补（元/天） |\n| --- | --- | --- | --- |\n\
         | 北京 | 一线城市 | 600 | 120 |\n| 上海 | 一线城市 | 600 | 120 |\n\
         | 成都 | 省会城市 | 450 | 100 |\n| 西安 | 省会城市 | 450 | 100 |\n\
         | 绵阳 | 其余地区 | 350 | 80 |"
    );
    // A box a Markdown line (the rule under the header has the header's).
    assert_eq!(tables[0].boxes.len(), tables[0].text.lines().count());
    assert!(tables[0].boxes.windows(2).all(|w| w[0].y0 <= w[1].y0));
    assert!(
        tables[1]
            .text
            .starts_with("| Grade | Flight class | Train class |\n| --- | --- | --- |\n| Director | Business | First class |"),
        "{}",
        tables[1].text
    );
    // The long table: its header repeated on each page, 60 rows in all.
    let mut rows = 0;
    for t in &tables[2..] {
        assert!(
            t.text
                .starts_with("| 工号 | 姓名 | 部门 | 年度预算（元） |"),
            "{}",
            t.text
        );
        rows += t.text.lines().count() - 2;
    }
    assert_eq!(rows, 60);
    assert!(
        tables[3]
            .text
            .contains("| E1047 | 徐军明 | 市场部 | 9000 |")
    );
    // Running text is not a table.
    let paras: Vec<&str> = p
        .blocks
        .iter()
        .filter(|b| b.kind == BlockKind::Paragraph)
        .map(|b| b.text.as_str())
        .collect();
    assert!(
        paras
            .iter()
            .any(|t| t.starts_with("员工出差的住宿费和伙食补助按城市级别执行下表标准")),
        "{paras:?}"
    );
    assert!(
        paras
            .iter()
            .any(|t| t.starts_with("Travel classes depend on"))
    );
}

/// Characters outside Unicode's basic plane (PDFium gives each as two
/// UTF-16 halves) are read whole, not dropped: mathematical italic here,
/// CJK Extension B ideographs in names the same way.
#[test]
fn characters_outside_the_basic_plane_are_kept() {
    let p = reader()
        .parse(Format::Pdf, &data("pdf/astral.pdf"), &Watch::default())
        .unwrap();
    let all = text_of(&p);
    assert!(all.contains("𝑃𝐹") && all.contains("𝑒(𝑥+𝑦)"), "{all}");
}

/// Where a box on an upright page shows once the page is turned
/// `quarters` quarter turns clockwise (fractions, from the top left).
fn turned(r: &zhishu_ingest::parse::Rect, quarters: u32) -> [f32; 4] {
    match quarters % 4 {
        1 => [1.0 - r.y1, r.x0, 1.0 - r.y0, r.x1],
        2 => [1.0 - r.x1, 1.0 - r.y1, 1.0 - r.x0, 1.0 - r.y0],
        3 => [r.y0, 1.0 - r.x1, r.y1, 1.0 - r.x0],
        _ => [r.x0, r.y0, r.x1, r.y1],
    }
}

/// Pages turned by `/Rotate` alone (as qpdf, scanners and editors leave
/// them: 90, 180 and 270 degrees) read as the upright pages do — the same
/// paragraphs, headings and tables — and each box is where its line shows
/// on the turned page: the upright box, turned with the page.
#[test]
fn pages_turned_by_rotate_read_as_upright_with_boxes_turned() {
    let r = reader();
    for (upright, rotated, turns) in [
        ("pdf/policy-zh.pdf", "pdf/policy-zh-rotated.pdf", [1, 2, 0]),
        ("pdf/tables-zh.pdf", "pdf/tables-zh-rotated.pdf", [3, 1, 2]),
    ] {
        let a = r
            .parse(Format::Pdf, &data(upright), &Watch::default())
            .unwrap();
        let b = r
            .parse(Format::Pdf, &data(rotated), &Watch::default())
            .unwrap();
        let kinds = |p: &Parsed| {
            p.blocks
                .iter()
                .map(|b| (b.kind, b.text.clone(), b.page))
                .collect::<Vec<_>>()
        };
        assert_eq!(kinds(&a), kinds(&b), "{rotated}");
        let mut compared = 0;
        for (x, y) in a.blocks.iter().zip(&b.blocks) {
            assert_eq!(x.boxes.len(), y.boxes.len());
            let q = turns[x.page.unwrap_or(1) as usize - 1];
            for (u, t) in x.boxes.iter().zip(&y.boxes) {
                let want = turned(u, q);
                let got = [t.x0, t.y0, t.x1, t.y1];
                for (w, g) in want.iter().zip(got) {
                    assert!(
                        (w - g).abs() < 0.002,
                        "{rotated} page {:?}: {got:?} != {want:?}",
                        x.page
                    );
                }
                compared += 1;
            }
        }
        assert!(compared > 10, "{compared} boxes compared");
    }
    // On a page turned a quarter, a line runs down the page.
    let p = r
        .parse(
            Format::Pdf,
            &data("pdf/policy-zh-rotated.pdf"),
            &Watch::default(),
        )
        .unwrap();
    let body = p
        .blocks
        .iter()
        .find(|b| b.text.starts_with("员工出差住宿费"))
        .unwrap();
    let first = body.boxes[0];
    assert!(first.y1 - first.y0 > first.x1 - first.x0, "{first:?}");
}

#[test]
fn a_mixed_pdf_reads_its_scan_with_ocr_and_its_text_layer_elsewhere() {
    let pages = AtomicU64::new(0);
    let micros = AtomicU64::new(0);
    let watch = Watch {
        cancel: None,
        ocr_pages: Some(&pages),
        ocr_micros: Some(&micros),
    };
    let p = reader()
        .parse(Format::Pdf, &data("pdf/mixed-scan.pdf"), &watch)
        .unwrap();
    assert_eq!(
        pages.load(Ordering::Relaxed),
        1,
        "only the scanned page is recognised"
    );
    // Its time is counted: rendering and recognising a page takes more
    // than a millisecond.
    assert!(micros.load(Ordering::Relaxed) > 1000);
    let truth: serde_json::Value = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/ocr/truth.jsonl"),
    )
    .unwrap()
    .lines()
    .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
    .find(|t| t["file"] == "scan-zh.png")
    .unwrap();
    let page1: String = p
        .blocks
        .iter()
        .filter(|b| b.page == Some(1))
        .map(|b| b.text.as_str())
        .collect();
    let r = recall(truth["text"].as_str().unwrap(), &page1);
    assert!(r > 0.9, "OCR read {r:.2} of the scanned page: {page1}");
    assert!(
        p.blocks
            .iter()
            .filter(|b| b.page == Some(1))
            .all(|b| !b.boxes.is_empty()),
        "OCR text keeps its boxes"
    );
    let page2: String = p
        .blocks
        .iter()
        .filter(|b| b.page == Some(2))
        .map(|b| b.text.as_str())
        .collect();
    assert!(page2.contains("原件保存在第三档案柜"), "{page2}");
}

#[test]
fn image_files_are_recognised_page_by_page() {
    let r = reader();
    let png = r
        .parse(Format::Image, &data("ocr/scan-zh.png"), &Watch::default())
        .unwrap();
    assert!(!png.is_empty());
    assert!(
        png.blocks
            .iter()
            .all(|b| b.page == Some(1) && !b.boxes.is_empty())
    );
    let tiff = r
        .parse(Format::Image, &data("ocr/scan-zh.tiff"), &Watch::default())
        .unwrap();
    let pages: std::collections::BTreeSet<Option<u32>> =
        tiff.blocks.iter().map(|b| b.page).collect();
    assert_eq!(pages.into_iter().collect::<Vec<_>>(), [Some(1), Some(2)]);
}

/// A PNG header claiming `w`×`h` pixels, with a little compressed data:
/// the shape of a decompression bomb.
fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    b.extend(w.to_be_bytes());
    b.extend(h.to_be_bytes());
    b.extend([8, 0, 0, 0, 0, 0, 0, 0, 0]);
    b.extend(b"\0\0\0\x10IDAT");
    b.extend([
        0x78, 0x9c, 0xed, 0xc1, 0x01, 0x0d, 0, 0, 0, 0xc2, 0xa0, 0xf7, 0x4f, 0x6d, 0x0e, 0x37,
    ]);
    b
}

#[test]
fn bombs_corrupt_images_and_limits_fail_alone_with_the_reason() {
    let r = reader();
    let w = Watch::default();
    match r.parse(Format::Image, &png_claiming(100_000, 100_000), &w) {
        Err(ParseError::TooLarge(m)) => {
            assert!(
                m.contains("ingest.max_image_pixels") && m.contains("100000×100000"),
                "{m}"
            )
        }
        other => panic!("a bomb must be refused before decoding: {other:?}"),
    }
    // A real size but no real picture: Tesseract's decoder fails, alone.
    match r.parse(Format::Image, &png_claiming(800, 600), &w) {
        Err(ParseError::Ocr(m)) => assert!(m.starts_with("OCR failed"), "{m}"),
        other => panic!("{other:?}"),
    }
    match r.parse(Format::Image, b"not an image at all", &w) {
        Err(ParseError::Invalid(m)) => assert!(m.contains("not a readable image"), "{m}"),
        other => panic!("{other:?}"),
    }
    // Page limits, from configuration.
    let small = reader_with(IngestConfig {
        max_pages: 1,
        ..IngestConfig::default()
    });
    match small.parse(Format::Pdf, &data("pdf/policy-zh.pdf"), &w) {
        Err(ParseError::TooLarge(m)) => assert!(
            m.contains("2 pages") && m.contains("ingest.max_pages"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    match small.parse(Format::Image, &data("ocr/scan-zh.tiff"), &w) {
        Err(ParseError::TooLarge(m)) => assert!(m.contains("TIFF has 2 pages"), "{m}"),
        other => panic!("{other:?}"),
    }
    // Damaged and encrypted-looking PDFs.
    let broken = std::fs::read(assets().join("pdfs/03-invalid.pdf")).unwrap();
    assert!(matches!(
        r.parse(Format::Pdf, &broken, &w),
        Err(ParseError::Invalid(_))
    ));
    match r.parse(Format::Pdf, b"%PDF-1.7\nthis is not a PDF body", &w) {
        Err(ParseError::Invalid(m)) => assert!(m.contains("damaged"), "{m}"),
        other => panic!("{other:?}"),
    }
    let mut cut = data("pdf/policy-zh.pdf");
    cut.truncate(cut.len() / 3);
    let _ = r.parse(Format::Pdf, &cut, &w); // any answer but a panic
}

#[test]
fn with_ocr_off_a_scan_fails_saying_why() {
    let r = reader_with(IngestConfig {
        ocr: OcrMode::Off,
        ..IngestConfig::default()
    });
    let w = Watch::default();
    // The mixed PDF still gives its text page.
    let p = r
        .parse(Format::Pdf, &data("pdf/mixed-scan.pdf"), &w)
        .unwrap();
    assert!(p.blocks.iter().all(|b| b.page == Some(2)));
    match r.parse(Format::Image, &data("ocr/scan-zh.png"), &w) {
        Err(e @ ParseError::Ocr(_)) => assert!(e.to_string().contains("ingest.ocr"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn cancelling_the_job_stops_ocr_at_once() {
    let r = reader();
    let cancel = AtomicBool::new(false);
    let image = data("ocr/zh-03-300-noisy.png");
    std::thread::scope(|s| {
        let job = s.spawn(|| {
            r.parse(
                Format::Image,
                &image,
                &Watch {
                    cancel: Some(&cancel),
                    ocr_pages: None,
                    ocr_micros: None,
                },
            )
        });
        std::thread::sleep(std::time::Duration::from_millis(200));
        cancel.store(true, Ordering::Relaxed);
        assert!(matches!(job.join().unwrap(), Err(ParseError::Cancelled)));
    });
}
