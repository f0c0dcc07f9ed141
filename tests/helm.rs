//! The Helm chart's rendered environment against the real configuration
//! loader: every `ZHISHU_*` variable the chart sets on a query or ingest
//! node is a key Zhishu knows, with a value it accepts, on top of
//! configs/production.toml (a typo in the chart would otherwise surface
//! only when a pod starts). scripts/check-helm.sh lints the chart and
//! validates its manifests against the Kubernetes schemas; it installs the
//! Helm this test uses.

mod common;

use common::{repo_root, run_cli};
use std::path::PathBuf;
use std::process::Command;

fn helm() -> Option<PathBuf> {
    let venv = std::env::var_os("ZHISHU_HELM_VENV").map_or_else(
        || PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cache/zhishu/venv-helm"),
        PathBuf::from,
    );
    let helm = venv.join("bin/helm");
    helm.is_file().then_some(helm)
}

/// `(name, value)` of every literal `ZHISHU_*` variable in the rendered
/// query Deployment.
fn query_env(rendered: &str) -> Vec<(String, String)> {
    let doc = rendered
        .split("\n---")
        .find(|d| d.contains("kind: Deployment") && d.contains("\"--service\", \"query\""))
        .expect("a query Deployment");
    let lines: Vec<&str> = doc.lines().map(str::trim).collect();
    let mut env = Vec::new();
    for pair in lines.windows(2) {
        if let (Some(name), Some(value)) = (
            pair[0].strip_prefix("- name: "),
            pair[1].strip_prefix("value: "),
        ) && name.starts_with("ZHISHU_")
        {
            env.push((
                name.to_owned(),
                value.trim_matches('"').replace("\\\"", "\""),
            ));
        }
    }
    env
}

#[test]
fn the_charts_environment_is_a_configuration_zhishu_accepts() {
    let Some(helm) = helm() else {
        eprintln!("helm not installed (scripts/check-helm.sh installs it): skipping");
        return;
    };
    let out = Command::new(&helm)
        .args(["template", "zhishu"])
        .arg(repo_root().join("deploy/helm/zhishu"))
        .args([
            "--set",
            "postgresql.password=pw",
            "--set",
            "qdrant.shardNumber=6",
            "--set",
            "qdrant.writeOrdering=strong",
            "--set",
            "documents.existingClaim=docs",
        ])
        .output()
        .expect("run helm");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rendered = String::from_utf8(out.stdout).unwrap();
    // GPU query pods run the GPU build of the image; ingest pods the CPU one.
    let image_of = |service: &str| {
        rendered
            .split("\n---")
            .find(|d| {
                d.contains("kind: Deployment")
                    && d.contains(&format!("\"--service\", \"{service}\""))
            })
            .and_then(|d| d.lines().find_map(|l| l.trim().strip_prefix("image: ")))
            .map(|i| i.trim_matches('"').to_owned())
    };
    assert_eq!(image_of("query").as_deref(), Some("zhishu:cuda"));
    assert_eq!(image_of("ingest").as_deref(), Some("zhishu:latest"));
    let env = query_env(&rendered);
    assert!(env.len() >= 8, "{env:?}");
    let dir = tempfile::tempdir().unwrap();
    let mut vars: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    // From the chart's Secret in a cluster.
    vars.push((
        "ZHISHU_DATABASE__URL",
        "postgres://zhishu:pw@db:5432/zhishu",
    ));
    // The image's configuration is the repository's production one.
    let production = repo_root().join("configs/production.toml");
    vars.retain(|(k, _)| *k != "ZHISHU_CONFIG");
    let (code, shown, err) = run_cli(
        &["--config", production.to_str().unwrap(), "config", "show"],
        &vars,
        dir.path(),
    );
    assert_eq!(code, 0, "{err}");
    for want in [
        "url = \"http://zhishu-qdrant:6334\"",
        "shard_number = 6",
        "replication_factor = 2",
        "write_ordering = \"strong\"",
        "roots = [\"/srv/documents\"]",
        "dir = \"/models\"",
        "listen = \"0.0.0.0:8080\"",
    ] {
        assert!(shown.contains(want), "{want} missing from:\n{shown}");
    }
    assert!(
        !shown.contains("zhishu:pw@"),
        "the database password is redacted"
    );
}
