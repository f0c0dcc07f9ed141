//! The `zhishu` command line: help for every subcommand, honest refusals for
//! what is not built yet, and configuration errors that say what to fix.

mod common;

use common::{repo_root, run_cli};

const SUBCOMMANDS: [&str; 10] = [
    "serve", "ingest", "search", "ask", "audit", "eval", "users", "keys", "models", "config",
];

#[test]
fn every_subcommand_has_help() {
    let cwd = tempfile::tempdir().unwrap();
    let (code, out, _) = run_cli(&["--help"], &[], cwd.path());
    assert_eq!(code, 0);
    for sub in SUBCOMMANDS {
        assert!(out.contains(sub), "top-level help lists {sub}");
        let (code, out, err) = run_cli(&[sub, "--help"], &[], cwd.path());
        assert_eq!(code, 0, "{sub} --help: {err}");
        assert!(out.contains("Usage: zhishu"), "{sub}: {out}");
    }
}

#[test]
fn an_empty_question_is_refused_before_anything_is_opened() {
    let cwd = tempfile::tempdir().unwrap();
    let (code, out, err) = run_cli(&["ask", "  "], &[], cwd.path());
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.is_empty(), "no answer: {out}");
    assert!(err.contains("the question is empty"), "{err}");
    assert!(
        !cwd.path().join("data").exists(),
        "a refused command writes nothing"
    );
}

#[test]
fn ingesting_a_missing_path_says_so_and_writes_nothing() {
    let cwd = tempfile::tempdir().unwrap();
    let (code, out, err) = run_cli(&["ingest", "no-such-folder"], &[], cwd.path());
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("no-such-folder: no such file or folder"),
        "{err}"
    );
    assert!(!cwd.path().join("data").exists(), "nothing was opened");
}

#[test]
fn config_check_and_show_on_the_embedded_defaults() {
    let cwd = tempfile::tempdir().unwrap();
    let (code, out, err) = run_cli(&["config", "check"], &[], cwd.path());
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("configuration OK: database sqlite://./data/zhishu.db"),
        "{out}"
    );

    let (code, out, _) = run_cli(
        &["config", "show"],
        &[
            ("ZHISHU_DATABASE__URL", "postgres://z:hunter2@db/z"),
            ("ZHISHU_SERVER__LISTEN", "0.0.0.0:9000"),
        ],
        cwd.path(),
    );
    assert_eq!(code, 0);
    assert!(out.contains("listen = \"0.0.0.0:9000\""), "{out}");
    assert!(
        out.contains("postgres://z:***@db/z") && !out.contains("hunter2"),
        "{out}"
    );
}

#[test]
fn shipped_production_config_says_what_is_missing() {
    let cwd = tempfile::tempdir().unwrap();
    let prod = repo_root().join("configs/production.toml");
    let prod = prod.to_str().unwrap();
    let (code, _, err) = run_cli(&["--config", prod, "config", "check"], &[], cwd.path());
    assert_eq!(code, 78, "{err}");
    assert!(
        err.contains("missing required value `database.url`"),
        "{err}"
    );
    assert!(err.contains("ZHISHU_DATABASE__URL"), "{err}");

    let (code, out, err) = run_cli(
        &["--config", prod, "config", "check"],
        &[("ZHISHU_DATABASE__URL", "postgres://zhishu@postgres/zhishu")],
        cwd.path(),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("Qwen3-32B on cuda:0, cuda:1"), "{out}");
}

#[test]
fn bad_config_file_names_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    let text = common::config_text(dir.path(), "sqlite://x.db")
        .replace("workers = 1", "workers = \"two\"");
    std::fs::write(&path, text).unwrap();
    let (code, _, err) = run_cli(
        &["--config", path.to_str().unwrap(), "serve"],
        &[],
        dir.path(),
    );
    assert_eq!(code, 78, "{err}");
    assert!(
        err.contains(&format!(
            "{}:4:1: invalid value for `server.workers`",
            path.display()
        )),
        "{err}"
    );

    let (code, _, err) = run_cli(
        &["--config", "/no/such/file.toml", "serve"],
        &[],
        dir.path(),
    );
    assert_eq!(code, 78);
    assert!(
        err.contains("cannot read configuration file /no/such/file.toml"),
        "{err}"
    );

    let (code, _, err) = run_cli(
        &["serve"],
        &[("ZHISHU_SERVER__WORKERS", "many")],
        dir.path(),
    );
    assert_eq!(code, 78);
    assert!(
        err.contains("environment variable ZHISHU_SERVER__WORKERS"),
        "{err}"
    );
}

#[test]
fn serve_reports_an_address_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (code, _, err) = run_cli(&["serve", "--listen", &addr], &[], dir.path());
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains(&format!("cannot listen on {addr}")) && err.contains("server.listen"),
        "{err}"
    );
}

#[test]
fn models_list_says_where_models_are_expected() {
    let dir = tempfile::tempdir().unwrap();
    let (code, out, err) = run_cli(
        &["models", "list"],
        &[("ZHISHU_MODELS__DIR", "/nonexistent/models")],
        dir.path(),
    );
    assert_eq!(code, 1);
    assert!(
        out.contains("missing  /nonexistent/models/all-MiniLM-L6-v2"),
        "{out}"
    );
    assert!(
        out.contains("/nonexistent/models/SmolLM2-135M-Instruct.Q4_1.gguf"),
        "{out}"
    );
    assert!(err.contains("scripts/fetch-assets.sh"), "{err}");
}
