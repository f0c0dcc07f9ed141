//! The typed configuration tree.
//!
//! Configuration is layered: built-in defaults (the `Default` impls below)
//! → one TOML file → `ZHISHU_SECTION__KEY` environment variables. It is
//! parsed once, validated once ([`Config::validate`]) and then passed down as
//! plain data; no crate reads the environment on its own.
//!
//! Values that identify *where things live* (the database URL, the vector
//! store, the models) have no built-in default: a file or the environment must
//! name them, and a missing one is reported with the place to set it. Tuning
//! knobs (timeouts, pool sizes, limits) default to values that suit one box.

mod chat;
mod engine;
mod guard;
mod ingest;
mod load;

pub use chat::ChatConfig;
pub use engine::{AttentionKind, EngineConfig, Parallelism};
pub use guard::{GuardAction, GuardConfig, GuardPoint, GuardRule, MaskTarget, PlaceholderLanguage};
pub use ingest::{HiddenSheets, IngestConfig, OcrMode};

pub use load::{ConfigError, ConfigLoader, ENV_PREFIX};

use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The single-box configuration shipped in the repository and compiled into
/// the binary; `zhishu serve` without `--config` runs on it.
pub const EMBEDDED_DEFAULT: &str = include_str!("../../../../configs/zhishu.toml");

/// The whole configuration of a Zhishu process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// HTTP server settings.
    #[serde(default)]
    pub server: ServerConfig,
    /// Log output.
    #[serde(default)]
    pub logging: LoggingConfig,
    /// Where local state lives.
    #[serde(default)]
    pub storage: StorageConfig,
    /// The relational store (documents, jobs, users, keys, audit).
    pub database: DatabaseConfig,
    /// The vector store.
    pub vectors: VectorsConfig,
    /// The lexical (BM25) index.
    #[serde(default)]
    pub lexical: LexicalConfig,
    /// Where model files are looked up.
    #[serde(default)]
    pub models: ModelsConfig,
    /// The embedding model used for ingestion and queries.
    pub embedder: EmbedderConfig,
    /// The cross-encoder that reranks fused hits; none by default.
    #[serde(default)]
    pub reranker: Option<RerankerConfig>,
    /// Hybrid retrieval: fusion weights, candidate counts, neighbours.
    #[serde(default)]
    pub retrieval: RetrievalConfig,
    /// The generation engine.
    pub engine: EngineConfig,
    /// Retrieval-augmented chat.
    #[serde(default)]
    pub chat: ChatConfig,
    /// Ingestion limits, allowed roots and document readers.
    #[serde(default)]
    pub ingest: IngestConfig,
    /// Authentication.
    #[serde(default)]
    pub auth: AuthConfig,
    /// Rate limits.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// The audit trail.
    #[serde(default)]
    pub audit: AuditConfig,
    /// Guardrails: sensitive words, personal data, prompt injection.
    #[serde(default)]
    pub guard: GuardConfig,
}

/// Authentication.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// How long a web session lasts, in minutes. Default 720 (12 h).
    pub session_ttl_minutes: u64,
    /// Mark the session cookie `Secure` (HTTPS only). Default false; set it
    /// to true behind TLS.
    pub cookie_secure: bool,
    /// Delay added to every failed sign-in, in milliseconds. Default 1000.
    pub login_failure_delay_ms: u64,
    /// Single sign-on with OIDC bearer tokens; off when absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oidc: Option<OidcConfig>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            session_ttl_minutes: 720,
            cookie_secure: false,
            login_failure_delay_ms: 1000,
            oidc: None,
        }
    }
}

/// An OIDC identity provider whose access tokens Zhishu accepts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// Expected `iss` claim. Required.
    pub issuer: String,
    /// Expected `aud` claim. Required.
    pub audience: String,
    /// Where the provider publishes its signing keys (JWKS). Required.
    pub jwks_url: String,
    /// Claim holding the user name (dotted path). Default `preferred_username`.
    #[serde(default = "default_username_claim")]
    pub username_claim: String,
    /// Claim holding the list of Zhishu roles (dotted path, e.g.
    /// `realm_access.roles`). Default `roles`.
    #[serde(default = "default_roles_claim")]
    pub roles_claim: String,
    /// Claim holding the list of access groups. Default `groups`.
    #[serde(default = "default_groups_claim")]
    pub groups_claim: String,
    /// Sign-in in the browser (authorization code flow with PKCE): this
    /// client's id at the provider. With it, `authorization_endpoint`,
    /// `token_endpoint` and `redirect_url` are required, and the sign-in
    /// page shows a single-sign-on button.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    /// The client's secret, for confidential clients (set it from the
    /// environment: `ZHISHU_AUTH__OIDC__CLIENT_SECRET`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// The provider's authorization endpoint (its discovery document's
    /// `authorization_endpoint`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_endpoint: Option<String>,
    /// The provider's token endpoint (`token_endpoint`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint: Option<String>,
    /// This server's callback as the browser reaches it, registered at the
    /// provider: `https://zhishu.example.com/v1/auth/oidc/callback`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
    /// Scopes asked for. Default `openid profile email`.
    #[serde(default = "default_scopes")]
    pub scopes: String,
}

impl OidcConfig {
    /// Whether browser sign-in is configured (`client_id` is set).
    pub fn browser_sign_in(&self) -> bool {
        self.client_id.is_some()
    }
}

fn default_scopes() -> String {
    "openid profile email".into()
}

fn default_username_claim() -> String {
    "preferred_username".into()
}

fn default_roles_claim() -> String {
    "roles".into()
}

fn default_groups_claim() -> String {
    "groups".into()
}

/// Rate limits, per user or API key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Sustained requests per minute per principal; 0 disables. Default 600.
    pub requests_per_minute: u32,
    /// Requests a principal may make at once. Default 60.
    pub burst: u32,
    /// Sign-in attempts per minute per client address; 0 disables. Default 10.
    pub logins_per_minute: u32,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            requests_per_minute: 600,
            burst: 60,
            logins_per_minute: 10,
        }
    }
}

/// The audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// Store the whole prompt in chat events (not only its hash and size).
    /// Default false.
    pub store_prompts: bool,
    /// Store the text of questions and search queries in their events;
    /// false keeps only their SHA-256 (`question_sha256`), for deployments
    /// whose policy forbids keeping what employees asked. Default true.
    pub store_questions: bool,
    /// Events that may wait for the writer before requests wait. Default 1024.
    pub queue: usize,
    /// Days of audit events that `zhishu audit purge` keeps; 0 keeps
    /// everything (the default). Purges are themselves audited and keep the
    /// chain verifiable from a recorded anchor.
    pub retention_days: u32,
    /// Keep personal data the guards found (ID numbers, phone numbers, …)
    /// in events as it was typed. Default false: events keep the
    /// question with each value replaced by its placeholder, and the
    /// guards' decisions carry offsets, never values.
    pub store_pii: bool,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            store_pii: false,
            store_prompts: false,
            store_questions: true,
            queue: 1024,
            retention_days: 0,
        }
    }
}

/// HTTP server settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on. Default `127.0.0.1:8080` (only this machine);
    /// use `0.0.0.0:8080` in a container.
    pub listen: String,
    /// HTTP worker threads; 0 means one per core. Default 0.
    pub workers: usize,
    /// Seconds to let in-flight requests finish after SIGTERM/SIGINT. Default 30.
    pub shutdown_timeout_secs: u64,
    /// Largest accepted JSON body in bytes. Default 1 MiB.
    pub max_json_bytes: usize,
    /// Seconds a readiness check of one store may take before it counts as
    /// failed. Default 3.
    pub readiness_timeout_secs: u64,
    /// Load balancers and proxies in front of this node, as addresses or
    /// networks (`10.0.0.0/8`, `fd00::/8`, `127.0.0.1`). A request from
    /// one of them is attributed to the client its `X-Forwarded-For` names
    /// (the nearest address that is not itself a trusted proxy), for the
    /// sign-in limit per address and the audit trail; from anyone else the
    /// header is ignored, so it cannot be forged. Default none.
    pub trusted_proxies: Vec<String>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8080".into(),
            workers: 0,
            shutdown_timeout_secs: 30,
            max_json_bytes: 1 << 20,
            readiness_timeout_secs: 3,
            trusted_proxies: Vec::new(),
        }
    }
}

/// A network in `trusted_proxies`: an address, or `address/prefix`.
fn network(text: &str) -> Option<(std::net::IpAddr, u32)> {
    let (addr, len) = match text.trim().split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (text.trim(), None),
    };
    let addr: std::net::IpAddr = addr.parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        Some(l) => l.parse::<u32>().ok().filter(|l| *l <= max)?,
        None => max,
    };
    Some((addr, len))
}

/// An address as a 128-bit number (IPv4 mapped into IPv6).
fn bits(ip: std::net::IpAddr) -> u128 {
    match ip {
        std::net::IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        std::net::IpAddr::V6(v6) => u128::from(v6),
    }
}

impl ServerConfig {
    /// Whether `ip` is one of the trusted proxies (see
    /// [`ServerConfig::trusted_proxies`]).
    pub fn is_trusted_proxy(&self, ip: std::net::IpAddr) -> bool {
        self.trusted_proxies
            .iter()
            .filter_map(|t| network(t))
            .any(|(net, len)| {
                let (len, net, ip) = match net {
                    // IPv4 prefixes count within the mapped form's last 32 bits.
                    std::net::IpAddr::V4(_) => (len + 96, bits(net), bits(ip)),
                    std::net::IpAddr::V6(_) => (len, bits(net), bits(ip)),
                };
                let mask = if len == 0 {
                    0
                } else {
                    u128::MAX << (128 - len)
                };
                net & mask == ip & mask
            })
    }

    /// The client behind a request from `peer` carrying these
    /// `X-Forwarded-For` addresses (in header order): `peer` itself unless
    /// it is a trusted proxy; else the right-most forwarded address that is
    /// not a trusted proxy (the left-most when all are).
    pub fn client_address(
        &self,
        peer: std::net::IpAddr,
        forwarded: &[std::net::IpAddr],
    ) -> std::net::IpAddr {
        if !self.is_trusted_proxy(peer) {
            return peer;
        }
        forwarded
            .iter()
            .rev()
            .find(|ip| !self.is_trusted_proxy(**ip))
            .or(forwarded.first())
            .copied()
            .unwrap_or(peer)
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines (default).
    #[default]
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

/// Log output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    /// `text` or `json`. Default `text`.
    pub format: LogFormat,
    /// A `tracing` filter such as `info` or `info,zhishu_server=debug`.
    /// Default `info`.
    pub level: String,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".into(),
        }
    }
}

/// Where local state lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Root of local state (SQLite file, Qdrant Edge and Tantivy folders by
    /// default). Relative paths are relative to the working directory.
    /// Default `./data`.
    pub data_dir: PathBuf,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
        }
    }
}

/// The relational store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    /// `sqlite://PATH` (created if missing) or `postgres://USER@HOST/DB`.
    /// Required.
    pub url: String,
    /// Largest number of pooled connections. Default 8.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// Seconds to wait for a connection before failing. Default 5.
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout_secs: u64,
}

fn default_max_connections() -> u32 {
    8
}

fn default_connect_timeout() -> u64 {
    5
}

/// Which relational backend a database URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    /// An SQLite file: the single-box default.
    Sqlite,
    /// A PostgreSQL server: the production audit store.
    Postgres,
}

impl DatabaseConfig {
    /// The backend the URL selects, or `None` for an unsupported scheme.
    pub fn kind(&self) -> Option<DatabaseKind> {
        let scheme = self.url.split(':').next().unwrap_or_default();
        match scheme {
            "sqlite" => Some(DatabaseKind::Sqlite),
            "postgres" | "postgresql" => Some(DatabaseKind::Postgres),
            _ => None,
        }
    }

    /// The URL with any password replaced by `***`, for logs and `config show`.
    pub fn redacted_url(&self) -> String {
        redact_url_password(&self.url)
    }
}

/// Replaces the password of `scheme://user:password@host` with `***`.
pub fn redact_url_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// Which vector store backs dense retrieval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VectorBackend {
    /// Qdrant Edge, in-process, on local disk.
    Edge,
    /// A Qdrant server or cluster.
    Qdrant,
}

/// The vector store.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VectorsConfig {
    /// `edge` (in-process) or `qdrant` (server). Required.
    pub backend: VectorBackend,
    /// Folder of the embedded store; default `<data_dir>/qdrant`.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// URL of the Qdrant server (gRPC port, e.g. `http://qdrant:6334`);
    /// required when `backend = "qdrant"`.
    #[serde(default)]
    pub url: Option<String>,
    /// API key of the Qdrant server, if it requires one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// Collection holding the chunk vectors. Default `zhishu_chunks`.
    #[serde(default = "default_collection")]
    pub collection: String,
    /// How a new collection spreads over a Qdrant cluster, and how writes
    /// wait for it (`backend = "qdrant"`).
    #[serde(default)]
    pub cluster: ClusterConfig,
}

/// A collection's layout over a Qdrant cluster (docs/operations.md). Read
/// when Zhishu creates the collection; an existing collection keeps its
/// own, and readiness reports each replica that is not active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// Shards the collection is cut into, spread over the nodes. Default
    /// none: Qdrant's own (one per node when it is created).
    pub shard_number: Option<u32>,
    /// Copies of every shard, on different nodes: with 2 or more, searches
    /// and writes go on with a node down. Default 1.
    pub replication_factor: u32,
    /// Replicas that must have applied a write before it is acknowledged
    /// (at most `replication_factor`). Default 1.
    pub write_consistency_factor: u32,
    /// How writes are ordered across replicas: `weak`, `medium` (default:
    /// through a leader chosen per shard) or `strong` (through the
    /// permanent leader; unavailable while it is down).
    pub write_ordering: WriteOrdering,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        Self {
            shard_number: None,
            replication_factor: 1,
            write_consistency_factor: 1,
            write_ordering: WriteOrdering::Medium,
        }
    }
}

/// Qdrant's write ordering (see [`ClusterConfig::write_ordering`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteOrdering {
    /// Writes may be reordered between replicas.
    Weak,
    /// Through a leader chosen per shard.
    Medium,
    /// Through the permanent leader.
    Strong,
}

fn default_collection() -> String {
    "zhishu_chunks".into()
}

/// The lexical (BM25) index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct LexicalConfig {
    /// `tantivy` (default): an index on local disk, for one box or nodes
    /// sharing a folder; `qdrant`: BM25 as sparse vectors inside the vector
    /// store (Edge or a server/cluster), so query nodes hold no index.
    pub backend: LexicalBackend,
    /// Folder of the Tantivy index; default `<data_dir>/tantivy`.
    pub path: Option<PathBuf>,
    /// The enterprise vocabulary: words kept whole and synonyms, one per
    /// line, re-read when it changes (docs/retrieval.md). None by default.
    pub vocabulary: Option<PathBuf>,
    /// With `backend = "qdrant"`: the average number of terms per field
    /// that BM25 normalises lengths by (Tantivy counts them over its
    /// index; a sparse vector's values are fixed when written, so they are
    /// fixed here). Changing them applies to chunks written afterwards.
    pub average_terms: AverageTermsConfig,
}

/// Which engine runs BM25.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LexicalBackend {
    /// Tantivy on local disk.
    #[default]
    Tantivy,
    /// Sparse vectors with Qdrant's IDF modifier, in the vector store.
    Qdrant,
}

/// Average terms per field for BM25 inside Qdrant (see
/// [`LexicalConfig::average_terms`]), for Chinese and for other text: the
/// analyser makes several terms of every Chinese word (jieba's words, their
/// parts, bigrams), so a Chinese chunk holds about three times the terms
/// of an English one of the same token budget, and one average fits
/// neither. A field
/// is normalised by the two averages weighted by its share of Chinese
/// terms. `zhishu eval` reports what a corpus measures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AverageTermsConfig {
    /// Text whose terms are Chinese.
    pub chinese: FieldAverages,
    /// Text whose terms are not (English and other alphabetic languages).
    pub english: FieldAverages,
}

/// Average terms of each field (see [`AverageTermsConfig`]); a language's
/// table gives all four.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldAverages {
    /// Document titles.
    pub title: f32,
    /// Section paths.
    pub section: f32,
    /// Chunks (title, section path and text).
    pub body: f32,
    /// Whole documents.
    pub page: f32,
}

impl Default for AverageTermsConfig {
    /// What the shipped documentation sets measure with the default
    /// chunking (docs/retrieval.md).
    fn default() -> Self {
        Self {
            chinese: FieldAverages {
                title: 10.0,
                section: 12.0,
                body: 580.0,
                page: 1500.0,
            },
            english: FieldAverages {
                title: 3.0,
                section: 5.0,
                body: 190.0,
                page: 480.0,
            },
        }
    }
}

/// Where model files are looked up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelsConfig {
    /// Folder that relative model paths are resolved against. A leading `~`
    /// is the home directory. Default `~/.cache/zhishu/assets/models`, where
    /// `scripts/fetch-assets.sh` puts the offline models.
    pub dir: PathBuf,
}

impl Default for ModelsConfig {
    fn default() -> Self {
        Self {
            dir: PathBuf::from("~/.cache/zhishu/assets/models"),
        }
    }
}

/// The embedding model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmbedderConfig {
    /// A model folder (config.json, tokenizer.json, weights), relative to
    /// `models.dir` or absolute. Required.
    pub model: PathBuf,
    /// Text put before every query (e.g. `query: ` for e5). Default empty.
    #[serde(default)]
    pub query_prefix: String,
    /// Text put before every passage (e.g. `passage: ` for e5). Default empty.
    #[serde(default)]
    pub passage_prefix: String,
    /// Largest padded batch the encoder runs, in tokens (texts × longest
    /// text). Default 16384.
    #[serde(default = "default_max_batch_tokens")]
    pub max_batch_tokens: usize,
    /// Where it runs: `cpu` (our CPU kernel) or `cuda:N` (bf16, in a
    /// `--features cuda` build). Default `cpu`.
    #[serde(default = "default_encoder_device")]
    pub device: String,
}

fn default_encoder_device() -> String {
    "cpu".into()
}

fn default_max_batch_tokens() -> usize {
    16_384
}

/// The cross-encoder reranker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RerankerConfig {
    /// A cross-encoder folder (BERT or XLM-R sequence classification),
    /// relative to `models.dir` or absolute. Required in this section.
    pub model: PathBuf,
    /// Largest padded batch, in tokens. Default 16384.
    #[serde(default = "default_max_batch_tokens")]
    pub max_batch_tokens: usize,
    /// Where it runs: `cpu` or `cuda:N`. Default `cpu`.
    #[serde(default = "default_encoder_device")]
    pub device: String,
}

/// How passages' token vectors are packed for late interaction: in the
/// embedder's cache between searches and, on a box whose lexical index is
/// Tantivy, kept with each chunk from ingestion so a search runs no
/// forward pass over its hits. Bytes a token at 384 dimensions
/// (multilingual-e5-small): `f16` 768, `int8` 388, `int4` 194 and `sign`
/// 50 (the last two and 768 a passage); nDCG@10 on the shipped sets in
/// docs/retrieval.md.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LateVectors {
    /// Half precision.
    F16,
    /// A signed byte a value, one scale a token. The default: it ranks
    /// as f16 does, at half the bytes.
    #[default]
    Int8,
    /// A bit a value (its side of the passage's mean token), one scale a
    /// token: an eighth of int8's bytes, as good on questions in the
    /// pages' language, worse across languages (docs-en's Chinese
    /// questions 0.573 → 0.468).
    Sign,
    /// Four bits a value (steps around the passage's mean token), one
    /// scale a token: half of int8's bytes, as good within a language, a
    /// little worse across languages (eval-zh-en 0.925 → 0.920).
    Int4,
}

/// How BM25's and dense search's candidates are fused into one ranking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fusion {
    /// A weighted sum of each retriever's scores, each scaled per query so
    /// that its best candidate counts 1 and its `candidates`-th 0
    /// (min-max over the top `candidates`). Scores keep what ranks lose:
    /// how far a retriever's best stands above the rest. A paraphrase only
    /// the embedder reads gets a dense best well clear of the field and a
    /// flat BM25 list, so the dense best wins; with ranks alone BM25's
    /// first hit counted as much as dense's. The default: on the shipped
    /// sets it is the only fusion within 0.01 nDCG@10 of the better
    /// retriever in every set and language (docs/retrieval.md).
    #[default]
    Scores,
    /// Weighted reciprocal rank fusion, `weight / (rrf_k + rank)` summed
    /// over the retrievers (Elasticsearch's and OpenSearch's hybrid).
    Rrf,
}

impl Fusion {
    /// BM25's default weight for this fusion, dense search's being 1,
    /// learned on the shipped Chinese and English sets (docs/retrieval.md):
    /// 1.25 for scores (the middle of the range 1–1.75 that keeps every set
    /// and language within 0.01 of its better retriever), 0.75 for RRF.
    pub fn default_lexical_weight(self) -> f32 {
        match self {
            Fusion::Scores => 1.25,
            Fusion::Rrf => 0.75,
        }
    }
}

/// Hybrid retrieval settings. Why these defaults: score fusion is measured
/// in docs/retrieval.md; RRF's k = 60 is the value of the original paper
/// and of Elasticsearch/OpenSearch; 50 candidates per retriever leave
/// fusion room to promote a passage that only one side ranks highly, and
/// 20 reranked passages keep a CPU cross-encoder under a second.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetrievalConfig {
    /// How the two rankings are fused. Default [`Fusion::Scores`].
    pub fusion: Fusion,
    /// RRF's k (`fusion = "rrf"` only). Default 60.
    pub rrf_k: f32,
    /// Weight of BM25 in fusion, dense search's being `dense_weight`.
    /// Unset: [`Fusion::default_lexical_weight`] (1.25 for scores, 0.75
    /// for RRF); read it through [`RetrievalConfig::lexical_weight`].
    pub lexical_weight: Option<f32>,
    /// Weight of the dense ranking in fusion. Default 1.
    pub dense_weight: f32,
    /// Candidates each retriever contributes. Default 50.
    pub candidates: usize,
    /// Weight of a chunk's page in its BM25 score: each chunk counts
    /// `chunk / best chunk + page_weight · page / best page`, where `page`
    /// is its whole document's BM25 score (a page index beside the chunks).
    /// 0 scores chunks alone. Default 1: BM25 nDCG@10 on the shipped sets
    /// 0.675 → 0.778 (docs-zh) and 0.568 → 0.648 (docs-en).
    pub page_weight: f32,
    /// Fused hits the reranker rescores. Default 20.
    pub rerank_top: usize,
    /// Weight of late interaction (the embedder's MaxSim, token against
    /// token) when it rescores the fused top `late_top` of a search no
    /// cross-encoder reranks: each hit scores `fused + late_weight ·
    /// MaxSim`, both min-max scaled over those hits. 0 turns the pass
    /// off. Not run where a cross-encoder is configured. Default 4: on
    /// the shipped sets it lifts every set and language (docs-en 0.684 →
    /// 0.722, docs-zh 0.836 → 0.865, eval-zh-en 0.895 → 0.910 nDCG@10,
    /// measured with chunk text alone embedded),
    /// the largest smallest gain of the weights tried (docs/retrieval.md).
    /// It costs the question's forward pass and a matrix product per hit
    /// where the hits keep their token vectors (`late_keep`, tens of
    /// milliseconds), else a forward pass of the embedder over `late_top`
    /// passages per search (seconds on a 2-core CPU for passages not yet
    /// cached).
    pub late_weight: f32,
    /// Fused hits late interaction rescores (2–200). Default 20.
    pub late_top: usize,
    /// Tokens of each passage late interaction reads: its beginning, cut
    /// at a token boundary (16 up to the embedder's limit; above the
    /// limit reads whole passages). The pass costs a forward pass per
    /// passage, about linear in its tokens. Default 512.
    pub late_tokens: usize,
    /// How passages' token vectors are packed ([`LateVectors`]); with
    /// whole passages read (`late_tokens` at the embedder's limit),
    /// ingestion keeps them with each chunk in the lexical index. Default
    /// `int8`.
    pub late_vectors: LateVectors,
    /// Whether ingestion keeps each chunk's packed token vectors in the
    /// lexical index (when the pass runs and reads whole passages), so a
    /// search runs no forward pass over its hits. `false` saves the disk
    /// (see [`LateVectors`] for the bytes a token): chunks ingested from
    /// then on keep none, and the pass computes theirs at search time,
    /// cached between searches (vectors already kept are still read until
    /// their documents are ingested again). Default true.
    pub late_keep: bool,
    /// Character-shingle Jaccard above which two chunks are duplicates.
    /// Default 0.9.
    pub duplicate_jaccard: f32,
    /// Chunks before and after each hit attached for context. Default 0.
    pub neighbours: usize,
}

impl Default for RetrievalConfig {
    fn default() -> Self {
        Self {
            fusion: Fusion::Scores,
            rrf_k: 60.0,
            lexical_weight: None,
            dense_weight: 1.0,
            candidates: 50,
            page_weight: 1.0,
            rerank_top: 20,
            late_weight: 4.0,
            late_top: 20,
            late_tokens: 512,
            late_vectors: LateVectors::Int8,
            late_keep: true,
            duplicate_jaccard: 0.9,
            neighbours: 0,
        }
    }
}

impl RetrievalConfig {
    /// BM25's weight in fusion: the configured one, else the fusion's
    /// default ([`Fusion::default_lexical_weight`]).
    pub fn lexical_weight(&self) -> f32 {
        self.lexical_weight
            .unwrap_or_else(|| self.fusion.default_lexical_weight())
    }
}

/// Largest context any supported model allows (Qwen3 with YaRN factor 4).
pub const MAX_CONTEXT_TOKENS: u32 = 131_072;

impl Config {
    /// Checks rules that span several keys or that serde cannot express.
    ///
    /// # Errors
    /// The first rule broken, naming the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| ConfigError::Invalid {
            origin: "configuration".into(),
            key: key.into(),
            message,
        };
        self.listen_addr()?;
        self.guard
            .validate()
            .map_err(|(key, message)| invalid(&key, message))?;
        self.ingest
            .validate()
            .map_err(|(key, message)| invalid(key, message))?;
        if self.database.kind().is_none() {
            return Err(invalid(
                "database.url",
                format!(
                    "`{}` is not a supported database URL: use sqlite://PATH or postgres://USER@HOST/DB",
                    self.database.redacted_url()
                ),
            ));
        }
        if self.database.max_connections == 0 {
            return Err(invalid(
                "database.max_connections",
                "must be at least 1".into(),
            ));
        }
        let cluster = &self.vectors.cluster;
        if cluster.shard_number == Some(0) {
            return Err(invalid(
                "vectors.cluster.shard_number",
                "must be at least 1".into(),
            ));
        }
        if cluster.replication_factor == 0 {
            return Err(invalid(
                "vectors.cluster.replication_factor",
                "must be at least 1".into(),
            ));
        }
        if !(1..=cluster.replication_factor).contains(&cluster.write_consistency_factor) {
            return Err(invalid(
                "vectors.cluster.write_consistency_factor",
                format!(
                    "must be between 1 and vectors.cluster.replication_factor ({})",
                    cluster.replication_factor
                ),
            ));
        }
        if self.vectors.backend == VectorBackend::Qdrant && self.vectors.url.is_none() {
            return Err(ConfigError::Missing {
                key: "vectors.url".into(),
                reason: "vectors.backend = \"qdrant\" needs the server's address".into(),
            });
        }
        if let Some(bad) = self
            .server
            .trusted_proxies
            .iter()
            .find(|t| network(t).is_none())
        {
            return Err(invalid(
                "server.trusted_proxies",
                format!("`{bad}` is not an address or a network like 10.0.0.0/8"),
            ));
        }
        let a = &self.lexical.average_terms;
        for (language, f) in [("chinese", a.chinese), ("english", a.english)] {
            for (key, v) in [
                ("title", f.title),
                ("section", f.section),
                ("body", f.body),
                ("page", f.page),
            ] {
                if !(v > 0.0 && v.is_finite()) {
                    return Err(invalid(
                        &format!("lexical.average_terms.{language}.{key}"),
                        "must be a positive number of terms".into(),
                    ));
                }
            }
        }
        let r = &self.retrieval;
        if !(r.rrf_k > 0.0 && r.rrf_k.is_finite()) {
            return Err(invalid(
                "retrieval.rrf_k",
                "must be a positive number".into(),
            ));
        }
        let lexical = r.lexical_weight();
        let usable = |w: f32| w >= 0.0 && w.is_finite();
        if !usable(lexical) || !usable(r.dense_weight) || lexical + r.dense_weight <= 0.0 {
            return Err(invalid(
                "retrieval.lexical_weight",
                "weights must be zero or positive, and not both zero".into(),
            ));
        }
        if !(r.page_weight >= 0.0 && r.page_weight.is_finite()) {
            return Err(invalid(
                "retrieval.page_weight",
                "must be zero (chunks scored alone) or a positive number".into(),
            ));
        }
        if r.candidates == 0 || r.candidates > 1000 {
            return Err(invalid(
                "retrieval.candidates",
                "must be between 1 and 1000".into(),
            ));
        }
        if !(0.0..=1.0).contains(&r.duplicate_jaccard) {
            return Err(invalid(
                "retrieval.duplicate_jaccard",
                "must be between 0 and 1 (1 collapses only identical chunks)".into(),
            ));
        }
        if r.neighbours > 5 {
            return Err(invalid("retrieval.neighbours", "must be at most 5".into()));
        }
        if !(r.late_weight >= 0.0 && r.late_weight.is_finite()) {
            return Err(invalid(
                "retrieval.late_weight",
                "must be zero (no late interaction) or a positive number".into(),
            ));
        }
        if r.late_weight > 0.0 && !(2..=200).contains(&r.late_top) {
            return Err(invalid(
                "retrieval.late_top",
                "must be between 2 and 200 (each hit costs a forward pass of the embedder); set late_weight = 0 to turn late interaction off".into(),
            ));
        }
        if r.late_weight > 0.0 && r.late_tokens < 16 {
            return Err(invalid(
                "retrieval.late_tokens",
                "must be at least 16 (the passage tokens late interaction reads); set late_weight = 0 to turn late interaction off".into(),
            ));
        }
        if self.engine.devices.is_empty() {
            return Err(invalid(
                "engine.devices",
                "must name at least one device".into(),
            ));
        }
        let named = [("embedder.device", &self.embedder.device)]
            .into_iter()
            .chain(
                self.reranker
                    .as_ref()
                    .map(|r| ("reranker.device", &r.device)),
            )
            .chain(self.engine.devices.iter().map(|d| ("engine.devices", d)));
        for (key, device) in named {
            let ok = device == "cpu"
                || device
                    .strip_prefix("cuda:")
                    .is_some_and(|n| n.parse::<u32>().is_ok());
            if !ok {
                return Err(invalid(
                    key,
                    format!("`{device}` is not a device: use \"cpu\" or \"cuda:N\""),
                ));
            }
        }
        if self.engine.parallel != Parallelism::None && self.engine.devices.len() < 2 {
            return Err(invalid(
                "engine.parallel",
                "pipeline or tensor parallelism needs at least two engine.devices".into(),
            ));
        }
        if let Some(o) = &self.auth.oidc
            && o.browser_sign_in()
        {
            for (key, value) in [
                (
                    "auth.oidc.authorization_endpoint",
                    &o.authorization_endpoint,
                ),
                ("auth.oidc.token_endpoint", &o.token_endpoint),
                ("auth.oidc.redirect_url", &o.redirect_url),
            ] {
                match value {
                    Some(v) if v.starts_with("https://") || v.starts_with("http://") => {}
                    Some(v) => return Err(invalid(key, format!("`{v}` is not an http(s) URL"))),
                    None => {
                        return Err(invalid(
                            key,
                            "is required when auth.oidc.client_id is set (browser sign-in)".into(),
                        ));
                    }
                }
            }
        }
        if let Err((key, message)) = self.engine.check() {
            return Err(invalid(key, message));
        }
        if let Err((key, message)) = self.chat.check() {
            return Err(invalid(key, message));
        }
        if self.chat.answer_tokens >= self.engine.max_context_tokens as usize {
            return Err(invalid(
                "chat.answer_tokens",
                "must be smaller than engine.max_context_tokens".into(),
            ));
        }
        if self.engine.max_context_tokens == 0
            || self.engine.max_context_tokens > MAX_CONTEXT_TOKENS
        {
            return Err(invalid(
                "engine.max_context_tokens",
                format!("must be between 1 and {MAX_CONTEXT_TOKENS}"),
            ));
        }
        Ok(())
    }

    /// The parsed `server.listen` address.
    ///
    /// # Errors
    /// When the value is not `HOST:PORT` with a numeric host.
    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server
            .listen
            .parse()
            .map_err(|e| ConfigError::Invalid {
                origin: "configuration".into(),
                key: "server.listen".into(),
                message: format!(
                    "`{}` is not an address like 127.0.0.1:8080 ({e})",
                    self.server.listen
                ),
            })
    }

    /// Folder of the embedded vector store.
    pub fn vectors_path(&self) -> PathBuf {
        self.vectors
            .path
            .clone()
            .unwrap_or_else(|| self.storage.data_dir.join("qdrant"))
    }

    /// Folder of the Tantivy index.
    pub fn lexical_path(&self) -> PathBuf {
        self.lexical
            .path
            .clone()
            .unwrap_or_else(|| self.storage.data_dir.join("tantivy"))
    }

    /// Resolves a model path against `models.dir` unless it is absolute.
    pub fn model_path(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.models.dir.join(path)
        }
    }

    /// The configuration as TOML with secrets replaced by `***`.
    pub fn to_redacted_toml(&self) -> String {
        let mut copy = self.clone();
        copy.database.url = copy.database.redacted_url();
        if copy.vectors.api_key.is_some() {
            copy.vectors.api_key = Some("***".into());
        }
        if let Some(o) = copy.auth.oidc.as_mut()
            && o.client_secret.is_some()
        {
            o.client_secret = Some("***".into());
        }
        toml::to_string_pretty(&copy).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

#[cfg(test)]
mod tests;
