//! OCR measured on the repository's set (tests/data/ocr, made by
//! scripts/make_ocr_fixtures.py from real documentation passages): the
//! character accuracy of Zhishu's reading (Tesseract's words with their
//! boxes, rejoined into lines and paragraphs) side by side with Tesseract's
//! own plain-text output on the same images, per language, resolution and
//! condition, and pages per second, for each language setting.
//!
//!     cargo bench -p zhishu-ingest --bench ocr

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;
use zhishu_core::config::IngestConfig;
use zhishu_ingest::parse::{Format, Reader, Watch, char_accuracy};

fn main() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/ocr");
    let truth: Vec<serde_json::Value> = std::fs::read_to_string(dir.join("truth.jsonl"))
        .expect("tests/data/ocr/truth.jsonl")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .filter(|t: &serde_json::Value| t["variant"] != "fixture")
        .collect();
    for langs in [vec!["chi_sim", "eng"], vec!["chi_sim", "chi_tra", "eng"]] {
        let config = IngestConfig {
            ocr_languages: langs.iter().map(|s| (*s).to_owned()).collect(),
            ..IngestConfig::default()
        };
        let reader = Reader::new(&config, std::path::Path::new("/nonexistent"));
        assert!(reader.status().ocr.is_some(), "{:?}", reader.status());
        let mut rows: BTreeMap<String, (Vec<f64>, Vec<f64>)> = BTreeMap::new();
        let (mut ours_s, mut raw_s) = (0.0, 0.0);
        for t in &truth {
            let file = t["file"].as_str().unwrap_or_default();
            let bytes = std::fs::read(dir.join(file)).expect("an image");
            let want = t["text"].as_str().unwrap_or_default();
            let started = Instant::now();
            let got = reader
                .parse(Format::Image, &bytes, &Watch::default())
                .map(|p| {
                    p.blocks
                        .iter()
                        .map(|b| b.text.as_str())
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .unwrap_or_default();
            ours_s += started.elapsed().as_secs_f64();
            let started = Instant::now();
            let raw = Command::new("tesseract")
                .arg(dir.join(file))
                .args(["stdout", "-l", &langs.join("+")])
                .env("OMP_THREAD_LIMIT", "1")
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            raw_s += started.elapsed().as_secs_f64();
            let key = format!(
                "{} {} dpi {}",
                t["lang"].as_str().unwrap_or(""),
                t["dpi"],
                t["variant"].as_str().unwrap_or("")
            );
            let e = rows.entry(key).or_default();
            e.0.push(char_accuracy(want, &got));
            e.1.push(char_accuracy(want, &raw));
        }
        println!("\nlanguages {} ({} images)", langs.join("+"), truth.len());
        println!("| set | images | Zhishu | tesseract text output |");
        println!("|---|---|---|---|");
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        let (mut all_o, mut all_r) = (Vec::new(), Vec::new());
        for (k, (o, r)) in &rows {
            println!("| {k} | {} | {:.3} | {:.3} |", o.len(), mean(o), mean(r));
            all_o.extend(o);
            all_r.extend(r);
        }
        println!(
            "| all | {} | {:.3} | {:.3} |",
            all_o.len(),
            mean(&all_o),
            mean(&all_r)
        );
        println!(
            "pages/s: Zhishu {:.2}, tesseract alone {:.2} (ratio {:.2})",
            truth.len() as f64 / ours_s,
            truth.len() as f64 / raw_s,
            raw_s / ours_s
        );
    }
}
