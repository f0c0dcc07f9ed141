//! The command line, declared with clap. Doc comments are the help text.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Zhishu (知枢): a self-hosted enterprise knowledge assistant.
///
/// Ask questions over your company's documents and get grounded answers
/// cited to the page; every interaction is recorded in a verifiable audit
/// trail.
#[derive(Debug, Parser)]
#[command(name = "zhishu", version, propagate_version = true)]
pub struct Cli {
    /// Configuration file (TOML). Without it, the single-box configuration
    /// compiled into the binary is used. Any key can be overridden with
    /// ZHISHU_<SECTION>__<KEY> environment variables.
    #[arg(long, short, global = true, env = "ZHISHU_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the HTTP server (web UI, REST and OpenAI-compatible APIs).
    Serve(ServeArgs),
    /// Ingest files or folders into a collection.
    Ingest(IngestArgs),
    /// Hybrid search over the documents you may see.
    Search(SearchArgs),
    /// Ask a question and get a cited answer.
    Ask(AskArgs),
    /// Search, export and verify the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Evaluate retrieval on a BEIR-format dataset.
    Eval(EvalArgs),
    /// Manage local users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// List or fetch models.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Check or show the effective configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Guardrails: sensitive-word lexicons, checking a text, measuring.
    #[command(subcommand)]
    Guard(GuardCommand),
}

/// Subcommands of `zhishu guard`. Lexicon changes are written to the files
/// under `guard.lexicons` (a running server loads them within
/// `guard.reload_secs`) and recorded in the audit trail.
#[derive(Debug, Subcommand)]
pub enum GuardCommand {
    /// List the lexicons and their entry counts.
    List,
    /// Print a lexicon's entries.
    Show {
        /// The lexicon (rule `lexicon.NAME`).
        name: String,
    },
    /// Add entries to a lexicon (created if missing); `"ENTRY | word"`
    /// matches whole words only.
    Add {
        /// The lexicon.
        name: String,
        /// The entries.
        #[arg(required = true)]
        entries: Vec<String>,
    },
    /// Remove entries from a lexicon.
    Remove {
        /// The lexicon.
        name: String,
        /// The entries, as written.
        #[arg(required = true)]
        entries: Vec<String>,
    },
    /// Delete a lexicon.
    Delete {
        /// The lexicon.
        name: String,
    },
    /// Check a text (or `-` for standard input) against the guards and the
    /// policy in force, and print what they find and what the model and
    /// the user would see. Exit code 1 when the text is blocked.
    Check {
        /// The text, or `-`.
        text: String,
        /// Where the text would be checked.
        #[arg(long, value_enum, default_value_t = GuardPointArg::Question)]
        point: GuardPointArg,
        /// The collection (for per-collection rules).
        #[arg(long)]
        collection: Option<String>,
        /// Roles the text is checked for (per-role rules).
        #[arg(long = "role")]
        roles: Vec<String>,
    },
    /// Measure the guards on a labelled set (tests/data/guard): detection
    /// and false-positive rates per category and language.
    Eval {
        /// The folder with injection.jsonl and pii.jsonl.
        #[arg(long, default_value = "tests/data/guard")]
        data: PathBuf,
        /// Which split to report: dev, test or all.
        #[arg(long, default_value = "test")]
        split: String,
        /// Measure the rules alone, without the injection model.
        #[arg(long)]
        rules_only: bool,
        /// Print the texts missed or wrongly caught in the split.
        #[arg(long)]
        misses: bool,
    },
    /// Train the injection model on labelled questions with this node's
    /// embedder, and write it where guard.injection_model can name it.
    Train {
        /// The folder with injection.jsonl.
        #[arg(long, default_value = "tests/data/guard")]
        data: PathBuf,
        /// Which split to train on: dev, test or all.
        #[arg(long, default_value = "dev")]
        split: String,
        /// Where to write the model.
        #[arg(long, default_value = "configs/guard/injection-model.json")]
        out: PathBuf,
        /// The false-positive rate on benign questions to set the cut-off
        /// for (cross-validated).
        #[arg(long, default_value_t = 0.01)]
        target_fp: f64,
    },
}

/// A guard point on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum GuardPointArg {
    /// The question and history.
    Question,
    /// A retrieved passage.
    Passage,
    /// The answer.
    Answer,
    /// A document at ingestion.
    Document,
}

/// Arguments of `zhishu serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (overrides server.listen), e.g. 0.0.0.0:8080.
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Which API to serve: both, or one of them when scaled out.
    #[arg(long, value_enum, default_value_t = ServiceArg::All)]
    pub service: ServiceArg,
}

/// Which API `serve` runs.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ServiceArg {
    /// Ingestion and query.
    All,
    /// Ingestion only.
    Ingest,
    /// Query only.
    Query,
}

/// Arguments of `zhishu ingest`.
#[derive(Debug, Args)]
pub struct IngestArgs {
    /// Files or folders to ingest.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Target collection.
    #[arg(long, default_value = "default")]
    pub collection: String,
    /// Access group allowed to read the documents (repeatable). Default
    /// `public`.
    #[arg(long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,
    /// Read only the given folders, not their sub-folders.
    #[arg(long)]
    pub no_recursive: bool,
    /// Remove documents of the collection whose files are gone from the
    /// given folders.
    #[arg(long)]
    pub sync_deletes: bool,
    /// Print the summary as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Arguments of `zhishu search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    /// The query, in Chinese or English.
    pub query: String,
    /// Number of hits.
    #[arg(long, short, default_value_t = 10)]
    pub k: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Search as this access group (repeatable). Default `public`.
    #[arg(long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,
    /// Only this collection (repeatable).
    #[arg(long)]
    pub collection: Vec<String>,
    /// Retrievers: bm25, dense, hybrid or hybrid-rerank.
    #[arg(long, default_value = "hybrid")]
    pub mode: String,
}

/// Arguments of `zhishu ask`.
#[derive(Debug, Args)]
pub struct AskArgs {
    /// The question.
    pub question: String,
    /// Only this collection (repeatable).
    #[arg(long, value_name = "NAME")]
    pub collection: Vec<String>,
    /// Ask as this access group (repeatable). Default `public`.
    #[arg(long = "group", value_name = "GROUP")]
    pub groups: Vec<String>,
    /// Passages to retrieve (default `chat.sources`).
    #[arg(long)]
    pub k: Option<usize>,
    /// Most tokens in the answer (default `chat.answer_tokens`).
    #[arg(long)]
    pub max_tokens: Option<usize>,
    /// Let the model think before answering (printed dimmed before it).
    #[arg(long)]
    pub think: bool,
    /// Sampling temperature (0 = greedy, the same answer every time);
    /// default Qwen's recommendation for the mode.
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Seed for sampling, for a reproducible answer at a temperature above 0.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print the answer, citations and sources as one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Answer with this LoRA adapter (a name under `[engine.adapters]`);
    /// default the model itself.
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
}

/// `zhishu audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Search audit events, newest first.
    Search {
        /// Text contained in questions or answers.
        text: Option<String>,
        /// The filters.
        #[command(flatten)]
        filter: AuditFilterArgs,
        /// Most events to print.
        #[arg(long, default_value_t = 50)]
        limit: i64,
        /// Print JSON lines instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Export audit events (all, or those matching the filters) to stdout.
    Export {
        /// Output format.
        #[arg(long, value_enum, default_value_t = ExportFormat::Jsonl)]
        format: ExportFormat,
        /// Text contained in questions or answers.
        #[arg(long)]
        text: Option<String>,
        /// The filters.
        #[command(flatten)]
        filter: AuditFilterArgs,
    },
    /// Verify the hash chain of the whole trail; exit code 1 when broken.
    Verify,
    /// Remove events older than `audit.retention_days` (audited; the chain
    /// stays verifiable from the recorded anchor).
    Purge {
        /// Say what would be removed, remove nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// Filters of `audit search` and `audit export`.
#[derive(Debug, Args)]
pub struct AuditFilterArgs {
    /// Only this user's events.
    #[arg(long)]
    pub user: Option<String>,
    /// Only this action (a prefix ending in `.` matches a family, e.g. `auth.`).
    #[arg(long)]
    pub action: Option<String>,
    /// ok, error, refused or cancelled.
    #[arg(long)]
    pub outcome: Option<String>,
    /// From this time (YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or Unix ms).
    #[arg(long)]
    pub from: Option<String>,
    /// Before this time.
    #[arg(long)]
    pub to: Option<String>,
    /// Events with a guard decision of this rule (`pii.cn_id`), family
    /// (`injection.`) or any (`*`).
    #[arg(long)]
    pub guard: Option<String>,
    /// Events that retrieved or changed this document.
    #[arg(long)]
    pub document: Option<String>,
}

/// Export formats.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ExportFormat {
    /// One JSON object per line.
    Jsonl,
    /// Comma-separated values.
    Csv,
}

/// Arguments of `zhishu eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// BEIR dataset folder (corpus.jsonl, queries.jsonl, qrels/test.tsv).
    #[arg(long, value_name = "DIR")]
    pub dataset: PathBuf,
    /// Judgement split to score: reads qrels/SPLIT.tsv.
    #[arg(long, default_value = "test")]
    pub split: String,
    /// Cross-encoder folder for hybrid+rerank (default: [reranker] model
    /// from the configuration; without one that mode is skipped).
    #[arg(long, value_name = "DIR")]
    pub reranker: Option<PathBuf>,
    /// Hits each query asks for, as a `/v1/search` client's `k`; its
    /// documents are ranked by their best chunk. Default 100 (enough for
    /// Recall@100); 10 scores what a client asking for ten hits sees.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=100))]
    pub hits: Option<u16>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also write the JSON report to this file.
    #[arg(long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Also write every query's BM25 and dense candidates (top 100 each,
    /// unfused, with their scores and the query's votes), its fused top 20
    /// with their late-interaction scores, and every chunk's text to FILE,
    /// one JSON object a line: the input of scripts/fusion_study.py,
    /// scripts/late_blend_study.py and scripts/late_interaction_study.py.
    #[arg(long, value_name = "FILE")]
    pub candidates: Option<PathBuf>,
    /// Quality gate: fail (exit 1) when an nDCG@10 figure recorded in FILE
    /// (overall, per language, per query kind) drops by more than its
    /// tolerance.
    #[arg(long, value_name = "FILE")]
    pub gate: Option<PathBuf>,
    /// Write this run's nDCG@10 figures to FILE as a gate (maintainers,
    /// after an intended change in quality).
    #[arg(long, value_name = "FILE", conflicts_with = "gate")]
    pub record_gate: Option<PathBuf>,
}

/// `zhishu users …`
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Add a local user.
    Add {
        /// Login name.
        name: String,
        /// Role (repeatable): employee, knowledge_admin, compliance_officer, admin.
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// Access group (repeatable).
        #[arg(long = "group")]
        groups: Vec<String>,
        /// Password; prompted for when omitted (read from stdin when it is
        /// not a terminal). Users without one sign in through SSO only:
        /// pass --no-password.
        #[arg(long, conflicts_with = "no_password")]
        password: Option<String>,
        /// Create the user without a password (SSO only).
        #[arg(long)]
        no_password: bool,
        /// Name shown in the UI (default: the login name).
        #[arg(long)]
        display_name: Option<String>,
    },
    /// List users.
    List,
    /// Disable a user: sign-in, sessions and API keys stop working.
    Disable {
        /// Login name.
        name: String,
    },
}

/// `zhishu keys …`
#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Create an API key (shown once).
    Create {
        /// Owner.
        #[arg(long)]
        user: String,
        /// Role the key grants (repeatable; each must be one of the owner's).
        #[arg(long = "role", required = true)]
        roles: Vec<String>,
        /// A label, e.g. the program that uses it.
        #[arg(long, default_value = "api key")]
        name: String,
    },
    /// List API keys.
    List,
    /// Revoke an API key.
    Revoke {
        /// Key id or prefix.
        id: String,
    },
}

/// `zhishu models …`
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// List the configured models and whether their files are present.
    List,
    /// Fetch a model from a Hugging Face compatible hub (honours HF_ENDPOINT).
    Fetch {
        /// Repository, e.g. Qwen/Qwen3-32B.
        repo: String,
    },
    /// Generate from a prompt with a chat model, streaming to the terminal.
    Run(RunArgs),
}

/// Arguments of `zhishu models run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Model folder (safetensors) or .gguf file; relative paths are tried
    /// under models.dir too.
    pub model: PathBuf,
    /// The user's message.
    #[arg(long)]
    pub prompt: String,
    /// Most tokens to generate.
    #[arg(long, default_value_t = 256)]
    pub max_tokens: usize,
    /// Sampling temperature; 0 is greedy.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    /// Nucleus sampling threshold.
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f32,
    /// Seed for reproducible sampling.
    #[arg(long)]
    pub seed: Option<u64>,
    /// A system message.
    #[arg(long)]
    pub system: Option<String>,
    /// Let thinking models (Qwen3) think first.
    #[arg(long)]
    pub think: bool,
    /// Send the prompt as raw text, without the chat template.
    #[arg(long)]
    pub raw: bool,
    /// Where to run it: `cpu` or `cuda:N` (GPU builds).
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

/// `zhishu config …`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Load and validate the configuration; print a one-line summary.
    Check,
    /// Print the effective configuration as TOML, secrets redacted.
    Show,
}
