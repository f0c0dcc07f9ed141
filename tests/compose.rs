//! docker-compose.yml keeps its promises. Docker cannot run on the build
//! machines, so the file is parsed and checked instead.

mod common;

use serde_yaml_ng::Value;

fn compose() -> Value {
    let text = std::fs::read_to_string(common::repo_root().join("docker-compose.yml")).unwrap();
    let mut doc: Value = serde_yaml_ng::from_str(&text).expect("valid YAML");
    doc.apply_merge().expect("YAML merge keys resolve");
    doc
}

fn strs(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|x| x.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn services_ports_volumes_and_health_checks() {
    let doc = compose();
    let services = doc["services"].as_mapping().unwrap();
    let mut names: Vec<_> = services.keys().filter_map(|k| k.as_str()).collect();
    names.sort();
    assert_eq!(names, vec!["ingest", "lb", "postgres", "qdrant", "query"]);

    for (name, svc) in services {
        assert!(
            svc["healthcheck"]["test"].is_sequence(),
            "{name:?} has a health check"
        );
    }
    // One published address, the load balancer's; the nodes behind it
    // publish nothing, so any number of them can run.
    assert_eq!(strs(&doc["services"]["lb"]["ports"]), vec!["8080:8080"]);
    for tier in ["query", "ingest"] {
        assert!(doc["services"][tier]["ports"].is_null(), "{tier}");
        let replicas = doc["services"][tier]["deploy"]["replicas"]
            .as_str()
            .unwrap_or("");
        assert!(
            replicas.starts_with("${ZHISHU_") && replicas.contains("REPLICAS"),
            "{tier}: replicas from the environment: {replicas:?}"
        );
    }
    let nginx = doc["configs"]["nginx"]["file"].as_str().unwrap();
    let conf = std::fs::read_to_string(common::repo_root().join(nginx)).unwrap();
    for route in [
        "location /v1/ingest/ {\n            proxy_pass $ingest;",
        "location / {\n            proxy_pass $query;",
        "proxy_buffering off;",
    ] {
        assert!(conf.contains(route), "{route}");
    }
    assert!(
        doc["services"]["postgres"]["ports"].is_null(),
        "PostgreSQL is not published on the host"
    );

    // Every volume a service mounts is a named volume declared at the top.
    let declared: Vec<_> = doc["volumes"]
        .as_mapping()
        .unwrap()
        .keys()
        .filter_map(|k| k.as_str())
        .collect();
    for (name, svc) in services {
        for mount in strs(&svc["volumes"]) {
            let source = mount.split(':').next().unwrap();
            assert!(
                declared.contains(&source),
                "{name:?} mounts {source}, which is not a named volume"
            );
        }
    }
    for v in ["pgdata", "qdrant_data", "uploads", "models"] {
        assert!(declared.contains(&v), "volume {v}");
    }
}

#[test]
fn zhishu_services_are_built_here_and_wired_to_the_stores() {
    let doc = compose();
    for name in ["ingest", "query"] {
        let svc = &doc["services"][name];
        assert_eq!(svc["build"]["dockerfile"].as_str(), Some("Dockerfile"));
        let dockerfile = common::repo_root()
            .join(svc["build"]["context"].as_str().unwrap())
            .join("Dockerfile");
        assert!(dockerfile.exists(), "{name}: {dockerfile:?}");
        assert_eq!(strs(&svc["command"]), vec!["serve", "--service", name]);
        let env = &svc["environment"];
        assert!(
            env["ZHISHU_DATABASE__URL"]
                .as_str()
                .unwrap()
                .contains("@postgres:5432/")
        );
        assert_eq!(
            env["ZHISHU_VECTORS__URL"].as_str(),
            Some("http://qdrant:6334")
        );
        assert_eq!(
            env["ZHISHU_CONFIG"].as_str(),
            Some("/etc/zhishu/production.toml")
        );
        for dep in ["postgres", "qdrant"] {
            assert_eq!(
                svc["depends_on"][dep]["condition"].as_str(),
                Some("service_healthy"),
                "{name} waits for {dep}"
            );
        }
        assert!(
            strs(&svc["healthcheck"]["test"])
                .iter()
                .any(|t| t.ends_with("/readyz"))
        );
    }
    // The image ships the config the environment points at.
    assert!(common::repo_root().join("configs/production.toml").exists());
}

#[test]
fn query_service_reserves_the_gpus() {
    let doc = compose();
    // It runs the GPU build (the `cuda` feature on NVIDIA's CUDA images),
    // which the Dockerfile takes as build arguments; ingest runs the CPU one.
    let query = &doc["services"]["query"];
    let args = &query["build"]["args"];
    assert_eq!(args["FEATURES"].as_str(), Some("cuda"));
    for (arg, stage) in [("BUILD_BASE", "devel"), ("RUNTIME_BASE", "runtime")] {
        let base = args[arg].as_str().unwrap_or_default();
        assert!(
            base.starts_with("nvidia/cuda:") && base.contains(stage),
            "{arg}: {base}"
        );
    }
    assert!(doc["services"]["ingest"]["build"]["args"].is_null());
    let dockerfile =
        std::fs::read_to_string(common::repo_root().join("Dockerfile")).expect("the Dockerfile");
    for line in [
        "ARG BUILD_BASE=",
        "ARG RUNTIME_BASE=",
        "ARG FEATURES=",
        "FROM ${BUILD_BASE} AS build",
    ] {
        assert!(dockerfile.contains(line), "the Dockerfile lacks {line}");
    }
    assert!(dockerfile.contains("${FEATURES:+--features \"$FEATURES\"}"));
    let devices = &doc["services"]["query"]["deploy"]["resources"]["reservations"]["devices"][0];
    assert_eq!(devices["driver"].as_str(), Some("nvidia"));
    assert_eq!(strs(&devices["capabilities"]), vec!["gpu"]);
    assert!(
        doc["services"]["ingest"]["deploy"]["resources"].is_null(),
        "ingest needs no GPU"
    );
}
