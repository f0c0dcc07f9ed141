//! The OCR regression gate: character accuracy on the repository's set
//! (tests/data/ocr, rendered pages of real Chinese and English
//! documentation at 300 and 150 dpi, clean, askew and noisy; see
//! scripts/make_ocr_fixtures.py) must stay above floors a little under
//! what was measured (docs/benchmarks.md, "OCR"), for each language and for
//! its noisy scans alone. A change to the page layout, the word joining,
//! the speck removal or the Tesseract call that loses text fails here.

use std::collections::BTreeMap;
use std::path::PathBuf;
use zhishu_core::config::IngestConfig;
use zhishu_ingest::parse::{Format, Reader, Watch, char_accuracy};

/// (language, floor on the mean character accuracy of its images).
/// Measured (Debian's Tesseract 5.3 with its chi_sim and eng data): zh
/// 0.932, en 0.996 (0.875 and 0.991 before noisy pages were cleaned of
/// specks).
const FLOORS: &[(&str, f64)] = &[("zh", 0.91), ("en", 0.98)];
/// (language, floor on its noisy scans alone): the speck removal's gain.
/// Measured: zh 0.966 (0.737 before), en 1.000 (0.981).
const NOISY_FLOORS: &[(&str, f64)] = &[("zh", 0.93), ("en", 0.99)];
/// No single image may fall below this.
const WORST: f64 = 0.5;

#[test]
fn ocr_character_accuracy_stays_above_its_floors() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/ocr");
    let reader = Reader::new(
        &IngestConfig::default(),
        std::path::Path::new("/nonexistent"),
    );
    assert!(
        reader.status().ocr.is_some(),
        "Tesseract with chi_sim and eng is needed (scripts/test.sh installs it): {:?}",
        reader.status()
    );
    let truth = std::fs::read_to_string(dir.join("truth.jsonl")).unwrap();
    let mut by_lang: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let mut noisy: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for line in truth.lines() {
        let t: serde_json::Value = serde_json::from_str(line).unwrap();
        if t["variant"] == "fixture" {
            continue;
        }
        let file = t["file"].as_str().unwrap();
        let bytes = std::fs::read(dir.join(file)).unwrap();
        let parsed = reader
            .parse(Format::Image, &bytes, &Watch::default())
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let got: String = parsed
            .blocks
            .iter()
            .map(|b| b.text.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        let acc = char_accuracy(t["text"].as_str().unwrap(), &got);
        println!("{file}: {acc:.3}");
        assert!(acc >= WORST, "{file}: accuracy {acc:.3} < {WORST}\n{got}");
        by_lang
            .entry(t["lang"].as_str().unwrap().to_owned())
            .or_default()
            .push(acc);
        if t["variant"] == "noisy" {
            noisy
                .entry(t["lang"].as_str().unwrap().to_owned())
                .or_default()
                .push(acc);
        }
    }
    for (set, floors, what) in [(&by_lang, FLOORS, "all"), (&noisy, NOISY_FLOORS, "noisy")] {
        for (lang, floor) in floors {
            let v = &set[*lang];
            let mean = v.iter().sum::<f64>() / v.len() as f64;
            println!(
                "{lang} ({what}): {mean:.3} over {} images (floor {floor})",
                v.len()
            );
            assert!(
                mean >= *floor,
                "{lang} ({what}): mean accuracy {mean:.3} < {floor}"
            );
        }
    }
}
