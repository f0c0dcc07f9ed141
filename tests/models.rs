//! `zhishu models fetch` against a Hugging Face compatible hub served
//! locally (as a company mirror would be, through `HF_ENDPOINT`).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;

fn fixture_model() -> PathBuf {
    common::repo_root().join("services/encoders/tests/fixtures/tiny-xlmr-embedder")
}

/// Serves the model listing and files of `acme/tiny-xlmr-embedder`.
fn hub() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let root = fixture_model();
        let mut files = vec![
            "config.json",
            "model.safetensors",
            "tokenizer.json",
            "tokenizer_config.json",
            "modules.json",
            "sentence_bert_config.json",
            "1_Pooling/config.json",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        files.push("onnx/model.onnx".into());
        for conn in listener.incoming().flatten() {
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                    break;
                }
            }
            let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
            let (status, body): (&str, Vec<u8>) = if path == "/api/models/acme/tiny-xlmr-embedder" {
                let siblings: Vec<_> = files
                    .iter()
                    .map(|f| serde_json::json!({"rfilename": f}))
                    .collect();
                (
                    "200 OK",
                    serde_json::json!({"id": "acme/tiny-xlmr-embedder", "siblings": siblings})
                        .to_string()
                        .into_bytes(),
                )
            } else if let Some(file) = path.strip_prefix("/acme/tiny-xlmr-embedder/resolve/main/") {
                match std::fs::read(root.join(file)) {
                    Ok(b) => ("200 OK", b),
                    Err(_) => ("404 Not Found", b"{}".to_vec()),
                }
            } else {
                (
                    "404 Not Found",
                    b"{\"error\":\"Repository not found\"}".to_vec(),
                )
            };
            let mut conn = conn;
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(&body);
        }
    });
    format!("http://{addr}")
}

#[test]
fn fetch_from_a_mirror_then_load() {
    let endpoint = hub();
    let dir = tempfile::tempdir().unwrap();
    let models = dir.path().join("models");
    let env = [
        ("HF_ENDPOINT", endpoint.as_str()),
        ("ZHISHU_MODELS__DIR", models.to_str().unwrap()),
    ];
    let (code, out, err) = common::run_cli(
        &["models", "fetch", "acme/tiny-xlmr-embedder"],
        &env,
        dir.path(),
    );
    assert_eq!(code, 0, "{err}");
    let folder = PathBuf::from(out.trim());
    assert_eq!(folder, models.join("tiny-xlmr-embedder"));
    assert!(folder.join("1_Pooling/config.json").is_file());
    assert!(
        !folder.join("onnx").exists(),
        "only what Zhishu loads is fetched"
    );
    let model = zhishu_encoders::Embedder::load(&folder).unwrap();
    assert_eq!(model.embed(&["年假 annual leave"]).unwrap()[0].len(), 32);

    // Fetching again finds everything present.
    let (code, _, err) = common::run_cli(
        &["models", "fetch", "acme/tiny-xlmr-embedder"],
        &env,
        dir.path(),
    );
    assert_eq!(code, 0);
    assert!(err.contains("model.safetensors: present"), "{err}");

    let (code, _, err) = common::run_cli(&["models", "fetch", "acme/missing"], &env, dir.path());
    assert_eq!(code, 1);
    assert!(
        err.contains("model acme/missing not found at http://127.0.0.1"),
        "{err}"
    );
    let (code, _, err) = common::run_cli(&["models", "fetch", "no-owner"], &env, dir.path());
    assert_eq!(code, 1);
    assert!(err.contains("use OWNER/NAME"), "{err}");
}

#[test]
fn run_streams_an_answer_with_its_speed() {
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = common::run_cli(
        &[
            "models",
            "run",
            "SmolLM2-135M-Instruct.Q4_1.gguf",
            "--prompt",
            "Passage: The capital of Veltria is Marisport.\nQuestion: What is the capital of Veltria?",
            "--max-tokens",
            "24",
        ],
        &[],
        dir.path(),
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("Marisport"), "{stdout}");
    assert!(stderr.contains("tokens/s"), "{stderr}");

    let (code, _, stderr) = common::run_cli(
        &["models", "run", "no-such-model", "--prompt", "hi"],
        &[],
        dir.path(),
    );
    assert_eq!(code, 1);
    assert!(stderr.contains("no-such-model"), "{stderr}");
}
