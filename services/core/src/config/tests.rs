use super::*;

const PRODUCTION: &str = include_str!("../../../../configs/production.toml");

fn load(text: &str) -> Result<Config, ConfigError> {
    ConfigLoader::new().load_str(text, "test.toml")
}

fn load_env(text: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    ConfigLoader::new()
        .with_env(env.iter().map(|(k, v)| (k.to_string(), v.to_string())))
        .load_str(text, "test.toml")
}

#[test]
fn embedded_default_is_a_single_box() {
    let c = ConfigLoader::new()
        .with_env([("HOME", "/home/u")])
        .load_embedded()
        .expect("the shipped zhishu.toml loads");
    assert_eq!(c.database.kind(), Some(DatabaseKind::Sqlite));
    assert_eq!(c.vectors.backend, VectorBackend::Edge);
    assert_eq!(c.storage.data_dir, PathBuf::from("./data"));
    assert_eq!(c.vectors_path(), PathBuf::from("./data/qdrant"));
    assert_eq!(c.lexical_path(), PathBuf::from("./data/tantivy"));
    assert_eq!(c.engine.devices, vec!["cpu".to_string()]);
    assert_eq!(
        c.model_path(&c.engine.model),
        PathBuf::from("/home/u/.cache/zhishu/assets/models/SmolLM2-135M-Instruct.Q4_1.gguf")
    );
    assert_eq!(
        c.model_path(&c.embedder.model),
        PathBuf::from("/home/u/.cache/zhishu/assets/models/multilingual-e5-small")
    );
    assert_eq!(c.embedder.query_prefix, "query: ");
    assert_eq!(c.embedder.passage_prefix, "passage: ");
}

#[test]
fn production_needs_the_database_url_from_the_environment() {
    let err = ConfigLoader::new()
        .load_str(PRODUCTION, "configs/production.toml")
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(err, ConfigError::Missing { ref key, .. } if key == "database.url"),
        "{msg}"
    );
    assert!(msg.contains("[database]"), "{msg}");
    assert!(msg.contains("configs/production.toml"), "{msg}");
    assert!(msg.contains("ZHISHU_DATABASE__URL"), "{msg}");

    let c = ConfigLoader::new()
        .with_env([(
            "ZHISHU_DATABASE__URL",
            "postgres://zhishu:s3cret@db:5432/zhishu",
        )])
        .load_str(PRODUCTION, "configs/production.toml")
        .expect("production loads with the URL set");
    assert_eq!(c.database.kind(), Some(DatabaseKind::Postgres));
    assert_eq!(c.vectors.backend, VectorBackend::Qdrant);
    assert_eq!(
        c.lexical.backend,
        LexicalBackend::Qdrant,
        "production runs BM25 inside the Qdrant cluster: query nodes hold no index"
    );
    assert_eq!(c.engine.parallel, Parallelism::Tensor);
    assert_eq!(c.engine.max_context_tokens, 131_072);
    assert_eq!(
        c.reranker.as_ref().map(|r| r.model.clone()),
        Some(PathBuf::from("bge-reranker-v2-m3")),
        "production reranks with the multilingual cross-encoder"
    );
    let shown = c.to_redacted_toml();
    assert!(!shown.contains("s3cret"), "{shown}");
    assert!(
        shown.contains("postgres://zhishu:***@db:5432/zhishu"),
        "{shown}"
    );
}

const MINIMAL: &str = r#"
[database]
url = "sqlite://x.db"
[vectors]
backend = "edge"
[embedder]
model = "e"
[engine]
model = "m"
"#;

#[test]
fn defaults_fill_everything_else() {
    let c = load(MINIMAL).unwrap();
    assert_eq!(c.server, ServerConfig::default());
    assert_eq!(c.database.max_connections, 8);
    assert_eq!(c.engine.served_name, "zhishu");
}

#[test]
fn lora_adapters_are_read_and_bad_names_refused() {
    let text = format!(
        "{MINIMAL}[engine.adapters]\nlegal = \"adapters/legal-zh\"\n\"support-zh\" = \"/srv/a\"\n"
    );
    let c = load(&text).unwrap();
    assert_eq!(c.engine.adapters.len(), 2);
    assert_eq!(
        c.engine.adapters["legal"],
        std::path::PathBuf::from("adapters/legal-zh")
    );
    for (name, why) in [
        ("\"bad name\"", "not an adapter name"),
        ("zhishu", "served_name"),
    ] {
        let text = format!("{MINIMAL}[engine.adapters]\n{name} = \"a\"\n");
        let msg = load(&text).unwrap_err().to_string();
        assert!(
            msg.contains("engine.adapters") && msg.contains(why),
            "{msg}"
        );
    }
}

#[test]
fn wrong_type_names_key_and_line() {
    let text = MINIMAL.replace("[engine]", "[server]\nworkers = \"many\"\n[engine]");
    let err = load(&text).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with("test.toml:9:1: invalid value for `server.workers`"),
        "{msg}"
    );
}

#[test]
fn unknown_key_names_key_and_line() {
    let text = format!("{MINIMAL}\n[server]\nlisten = \"127.0.0.1:1\"\nprot = 8080\n");
    let msg = load(&text).unwrap_err().to_string();
    assert!(msg.contains("`server.prot`"), "{msg}");
    assert!(msg.contains("test.toml:13:1"), "{msg}");
    assert!(msg.contains("unknown field `prot`"), "{msg}");
}

#[test]
fn unknown_enum_value_is_explained() {
    let text = MINIMAL.replace("backend = \"edge\"", "backend = \"milvus\"");
    let msg = load(&text).unwrap_err().to_string();
    assert!(msg.contains("`vectors.backend`"), "{msg}");
    assert!(msg.contains("test.toml:5:1"), "{msg}");
    assert!(msg.contains("milvus"), "{msg}");
}

#[test]
fn syntax_error_names_line() {
    let text = "[server]\nlisten = \"127.0.0.1:80\nworkers = 2\n";
    let err = load(text).unwrap_err();
    assert!(matches!(err, ConfigError::Syntax { line: 2, .. }), "{err}");
}

#[test]
fn missing_section_says_where_to_set_it() {
    let text = MINIMAL.replace("[engine]\nmodel = \"m\"\n", "");
    let msg = load(&text).unwrap_err().to_string();
    assert!(msg.contains("missing required value `engine`"), "{msg}");
    assert!(msg.contains("ZHISHU_ENGINE"), "{msg}");
}

#[test]
fn qdrant_backend_needs_url() {
    let text = MINIMAL.replace("backend = \"edge\"", "backend = \"qdrant\"");
    let msg = load(&text).unwrap_err().to_string();
    assert!(
        msg.contains("missing required value `vectors.url`"),
        "{msg}"
    );
    assert!(msg.contains("under [vectors] in test.toml"), "{msg}");
    assert!(msg.contains("ZHISHU_VECTORS__URL"), "{msg}");
}

#[test]
fn environment_overrides_file() {
    let c = load_env(
        MINIMAL,
        &[
            ("ZHISHU_SERVER__LISTEN", "0.0.0.0:9999"),
            ("ZHISHU_SERVER__WORKERS", "3"),
            ("ZHISHU_ENGINE__DEVICES", "[\"cuda:0\", \"cuda:1\"]"),
            ("ZHISHU_ENGINE__PARALLEL", "pipeline"),
            ("ZHISHU_ENGINE__SERVED_NAME", "42"),
            ("ZHISHU_CONFIG", "ignored.toml"),
            ("OTHER__THING", "ignored"),
        ],
    )
    .unwrap();
    assert_eq!(c.server.listen, "0.0.0.0:9999");
    assert_eq!(c.server.workers, 3);
    assert_eq!(c.engine.devices, vec!["cuda:0", "cuda:1"]);
    assert_eq!(c.engine.parallel, Parallelism::Pipeline);
    assert_eq!(c.engine.served_name, "42");
}

#[test]
fn bad_environment_value_names_the_variable() {
    let msg = load_env(MINIMAL, &[("ZHISHU_SERVER__WORKERS", "lots")])
        .unwrap_err()
        .to_string();
    assert!(
        msg.starts_with(
            "environment variable ZHISHU_SERVER__WORKERS: invalid value for `server.workers`"
        ),
        "{msg}"
    );

    let msg = load_env(MINIMAL, &[("ZHISHU_SERVR__LISTEN", "x")])
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("ZHISHU_SERVR__LISTEN") || msg.contains("servr"),
        "{msg}"
    );
}

#[test]
fn semantic_rules_name_the_key() {
    let cases = [
        ("[server]\nlisten = \"localhost\"\n", "server.listen"),
        (
            "[engine]\nmodel = \"m\"\ndevices = [\"gpu0\"]\n",
            "engine.devices",
        ),
        (
            "[engine]\nmodel = \"m\"\nparallel = \"tensor\"\n",
            "engine.parallel",
        ),
        (
            "[engine]\nmodel = \"m\"\nmax_context_tokens = 200000\n",
            "engine.max_context_tokens",
        ),
    ];
    for (extra, key) in cases {
        let text = if extra.starts_with("[engine]") {
            MINIMAL.replace("[engine]\nmodel = \"m\"\n", extra)
        } else {
            format!("{MINIMAL}{extra}")
        };
        let msg = load(&text).unwrap_err().to_string();
        assert!(msg.contains(&format!("`{key}`")), "{key}: {msg}");
    }
    let text = MINIMAL.replace("sqlite://x.db", "mysql://u:pw@h/db");
    let msg = load(&text).unwrap_err().to_string();
    assert!(
        msg.contains("`database.url`") && !msg.contains("pw@"),
        "{msg}"
    );
}

#[test]
fn missing_file_is_reported() {
    let msg = ConfigLoader::new()
        .load_file(Path::new("/nonexistent/zhishu.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("cannot read configuration file /nonexistent/zhishu.toml"),
        "{msg}"
    );
}

#[test]
fn redaction_hides_passwords_only() {
    assert_eq!(
        redact_url_password("postgres://a:b@h:5432/d"),
        "postgres://a:***@h:5432/d"
    );
    assert_eq!(redact_url_password("postgres://a@h/d"), "postgres://a@h/d");
    assert_eq!(
        redact_url_password("sqlite://./data/z.db"),
        "sqlite://./data/z.db"
    );
}

#[test]
fn retrieval_defaults_and_reranker_from_the_environment() {
    let c = load(MINIMAL).unwrap();
    assert_eq!(c.retrieval, RetrievalConfig::default());
    assert!(c.reranker.is_none(), "no reranker unless configured");
    let c = load_env(
        MINIMAL,
        &[
            ("ZHISHU_RERANKER__MODEL", "bge-reranker-v2-m3"),
            ("ZHISHU_RETRIEVAL__NEIGHBOURS", "2"),
            ("ZHISHU_RETRIEVAL__DENSE_WEIGHT", "0.5"),
        ],
    )
    .unwrap();
    let r = c.reranker.expect("reranker set from the environment");
    assert_eq!(r.model, PathBuf::from("bge-reranker-v2-m3"));
    assert_eq!(r.max_batch_tokens, 16_384);
    assert_eq!(c.retrieval.neighbours, 2);
    assert!((c.retrieval.dense_weight - 0.5).abs() < 1e-6);
}

#[test]
fn retrieval_values_out_of_range_are_refused_by_name() {
    for (key, value, want) in [
        ("rrf_k", "0.0", "retrieval.rrf_k"),
        ("lexical_weight", "-1.0", "retrieval.lexical_weight"),
        ("candidates", "0", "retrieval.candidates"),
        ("page_weight", "-0.5", "retrieval.page_weight"),
        ("duplicate_jaccard", "1.5", "retrieval.duplicate_jaccard"),
        ("neighbours", "9", "retrieval.neighbours"),
        ("late_weight", "-1.0", "retrieval.late_weight"),
        ("late_top", "500", "retrieval.late_top"),
        ("late_top", "1", "retrieval.late_top"),
        ("late_tokens", "8", "retrieval.late_tokens"),
        ("fusion", "\"rank\"", "retrieval.fusion"),
        ("late_vectors", "\"int2\"", "retrieval.late_vectors"),
    ] {
        let text = format!("{MINIMAL}\n[retrieval]\n{key} = {value}\n");
        let msg = load(&text).unwrap_err().to_string();
        assert!(msg.contains(want), "{key}: {msg}");
    }
    let text = format!("{MINIMAL}\n[retrieval]\nlexical_weight = 0.0\ndense_weight = 0.0\n");
    assert!(load(&text).is_err(), "both weights zero");
    // Each fusion brings its own BM25 weight unless one is set.
    let text = format!("{MINIMAL}\n[retrieval]\nfusion = \"rrf\"\n");
    let r = load(&text).unwrap().retrieval;
    assert_eq!((r.fusion, r.lexical_weight()), (Fusion::Rrf, 0.75));
    let r = load(MINIMAL).unwrap().retrieval;
    assert_eq!((r.fusion, r.lexical_weight()), (Fusion::Scores, 1.25));
    assert_eq!(r.late_vectors, LateVectors::Int8);
    for (name, form) in [("sign", LateVectors::Sign), ("int4", LateVectors::Int4)] {
        let text = format!("{MINIMAL}\n[retrieval]\nlate_vectors = \"{name}\"\n");
        assert_eq!(load(&text).unwrap().retrieval.late_vectors, form);
    }
}

#[test]
fn browser_sign_in_needs_its_endpoints_and_hides_its_secret() {
    let oidc = "\n[auth.oidc]\nissuer = \"https://sso.example\"\naudience = \"zhishu\"\njwks_url = \"https://sso.example/certs\"\nclient_id = \"zhishu-web\"\nclient_secret = \"s3cret\"\nauthorization_endpoint = \"https://sso.example/auth\"\n";
    let msg = load(&format!("{MINIMAL}{oidc}")).unwrap_err().to_string();
    assert!(msg.contains("auth.oidc.token_endpoint"), "{msg}");
    assert!(msg.contains("client_id"), "{msg}");
    let full = format!(
        "{MINIMAL}{oidc}token_endpoint = \"https://sso.example/token\"\nredirect_url = \"https://zhishu.example/v1/auth/oidc/callback\"\n"
    );
    let c = load(&full).unwrap();
    let o = c.auth.oidc.as_ref().unwrap();
    assert!(o.browser_sign_in());
    assert_eq!(o.scopes, "openid profile email");
    let shown = c.to_redacted_toml();
    assert!(
        !shown.contains("s3cret") && shown.contains("client_secret = \"***\""),
        "{shown}"
    );
    let bad = full.replace("https://sso.example/token", "sso.example/token");
    let msg = load(&bad).unwrap_err().to_string();
    assert!(msg.contains("not an http(s) URL"), "{msg}");
}

#[test]
fn lexical_backend_and_average_lengths_are_read_and_checked() {
    let c = load(MINIMAL).unwrap();
    assert_eq!(
        c.lexical.backend,
        LexicalBackend::Tantivy,
        "one box: Tantivy"
    );
    let text = format!(
        "{MINIMAL}\n[lexical]\nbackend = \"qdrant\"\n[lexical.average_terms.english]\n\
         title = 4\nsection = 6\nbody = 250\npage = 900\n"
    );
    let c = load(&text).unwrap();
    assert_eq!(c.lexical.backend, LexicalBackend::Qdrant);
    assert_eq!(c.lexical.average_terms.english.body, 250.0);
    assert_eq!(
        c.lexical.average_terms.chinese,
        AverageTermsConfig::default().chinese,
        "a language not given keeps its defaults"
    );
    let bad = format!("{MINIMAL}\n[lexical]\nbackend = \"lucene\"\n");
    let msg = load(&bad).unwrap_err().to_string();
    assert!(msg.contains("lucene") && msg.contains("tantivy"), "{msg}");
    let partial = format!("{MINIMAL}\n[lexical.average_terms.chinese]\nbody = 300\n");
    let msg = load(&partial).unwrap_err().to_string();
    assert!(
        msg.contains("title"),
        "a language's table gives all four: {msg}"
    );
    for (key, value) in [("page", "0"), ("title", "-3"), ("section", "nan")] {
        let mut fields = vec![
            ("title", "4"),
            ("section", "6"),
            ("body", "250"),
            ("page", "900"),
        ];
        for f in &mut fields {
            if f.0 == key {
                f.1 = value;
            }
        }
        let table: String = fields.iter().map(|(k, v)| format!("{k} = {v}\n")).collect();
        let text = format!("{MINIMAL}\n[lexical.average_terms.chinese]\n{table}");
        let msg = load(&text).unwrap_err().to_string();
        assert!(
            msg.contains(&format!("lexical.average_terms.chinese.{key}")),
            "{key}: {msg}"
        );
    }
}

#[test]
fn a_qdrant_cluster_layout_is_read_and_checked() {
    let c = load(MINIMAL).unwrap();
    assert_eq!(c.vectors.cluster, ClusterConfig::default());
    assert_eq!(c.vectors.cluster.write_ordering, WriteOrdering::Medium);
    let text = MINIMAL.replace(
        "[embedder]",
        "[vectors.cluster]\nshard_number = 6\nreplication_factor = 2\n\
         write_consistency_factor = 2\nwrite_ordering = \"strong\"\n\n[embedder]",
    );
    let c = load(&text).unwrap();
    assert_eq!(
        c.vectors.cluster,
        ClusterConfig {
            shard_number: Some(6),
            replication_factor: 2,
            write_consistency_factor: 2,
            write_ordering: WriteOrdering::Strong,
        }
    );
    for (table, key) in [
        (
            "replication_factor = 2\nwrite_consistency_factor = 3",
            "write_consistency_factor",
        ),
        ("replication_factor = 0", "replication_factor"),
        ("shard_number = 0", "shard_number"),
    ] {
        let text = MINIMAL.replace(
            "[embedder]",
            &format!("[vectors.cluster]\n{table}\n\n[embedder]"),
        );
        let msg = load(&text).unwrap_err().to_string();
        assert!(
            msg.contains(&format!("vectors.cluster.{key}")),
            "{table}: {msg}"
        );
    }
}

#[test]
fn the_client_behind_a_trusted_proxy_is_the_one_it_forwards() {
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    let text = MINIMAL.replace(
        "[database]",
        "[server]\ntrusted_proxies = [\"10.0.0.0/8\", \"fd00::/8\", \"192.168.1.5\"]\n\n[database]",
    );
    let c = load(&text).unwrap().server;
    assert!(c.is_trusted_proxy(ip("10.1.2.3")) && c.is_trusted_proxy(ip("fd00::1")));
    assert!(c.is_trusted_proxy(ip("192.168.1.5")) && !c.is_trusted_proxy(ip("192.168.1.6")));
    assert!(!c.is_trusted_proxy(ip("11.0.0.1")));
    // From the load balancer: the nearest untrusted forwarded address.
    let fwd = [ip("203.0.113.7"), ip("198.51.100.2"), ip("10.9.9.9")];
    assert_eq!(c.client_address(ip("10.0.0.2"), &fwd), ip("198.51.100.2"));
    // From anyone else the header is ignored: it could be forged.
    assert_eq!(
        c.client_address(ip("198.51.100.9"), &fwd),
        ip("198.51.100.9")
    );
    // A trusted peer that forwards nothing is the client.
    assert_eq!(c.client_address(ip("10.0.0.2"), &[]), ip("10.0.0.2"));
    // Defaults trust nobody.
    assert!(
        !load(MINIMAL)
            .unwrap()
            .server
            .is_trusted_proxy(ip("127.0.0.1"))
    );
    let bad = MINIMAL.replace(
        "[database]",
        "[server]\ntrusted_proxies = [\"10.0.0.0/33\"]\n\n[database]",
    );
    let msg = load(&bad).unwrap_err().to_string();
    assert!(
        msg.contains("server.trusted_proxies") && msg.contains("10.0.0.0/33"),
        "{msg}"
    );
}
