//! What each subcommand does.

use crate::cli::{Cli, Command, ConfigCommand, ModelsCommand, ServiceArg};
use std::process::ExitCode;
use zhishu_core::config::{ConfigLoader, ENV_PREFIX};
use zhishu_core::{Config, ConfigError};
use zhishu_server::Service;

/// Exit code of a configuration error (EX_CONFIG).
const EXIT_CONFIG: u8 = 78;

pub fn dispatch(cli: Cli) -> ExitCode {
    let config = match load_config(&cli) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("zhishu: {e}");
            return ExitCode::from(EXIT_CONFIG);
        }
    };
    match cli.command {
        Command::Serve(args) => {
            let mut config = config;
            if let Some(listen) = args.listen {
                config.server.listen = listen;
                if let Err(e) = config.validate() {
                    eprintln!("zhishu: --listen: {e}");
                    return ExitCode::from(EXIT_CONFIG);
                }
            }
            serve(config, args.service)
        }
        Command::Config(ConfigCommand::Check) => {
            println!(
                "configuration OK: database {}, vectors {:?}, engine {} on {}",
                config.database.redacted_url(),
                config.vectors.backend,
                config.engine.model.display(),
                config.engine.devices.join(", ")
            );
            ExitCode::SUCCESS
        }
        Command::Config(ConfigCommand::Show) => {
            print!("{}", config.to_redacted_toml());
            ExitCode::SUCCESS
        }
        Command::Models(ModelsCommand::List) => models_list(&config),
        Command::Models(ModelsCommand::Run(args)) => done(crate::run::run(&config, &args)),
        Command::Models(ModelsCommand::Fetch { repo }) => {
            let endpoint = std::env::var("HF_ENDPOINT").ok().filter(|e| !e.is_empty());
            let token = std::env::var("HF_TOKEN").ok().filter(|t| !t.is_empty());
            eprintln!("fetching {repo} into {}", config.models.dir.display());
            match crate::models::fetch(&repo, &config.models.dir, endpoint, token) {
                Ok(dir) => {
                    println!("{}", dir.display());
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
        Command::Ingest(args) => match block_on(crate::ingest::run(&config, args)) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => fail(e),
        },
        Command::Search(args) => done(block_on(crate::search::run(&config, args))),
        Command::Ask(args) => done(block_on(crate::ask::run(&config, args))),
        Command::Audit(cmd) => match block_on(crate::admin::audit(&config, cmd)) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => fail(e),
        },
        Command::Eval(args) => done(block_on(crate::eval::run(config, args))),
        Command::Users(cmd) => done(block_on(crate::admin::users(&config, cmd))),
        Command::Keys(cmd) => done(block_on(crate::admin::keys(&config, cmd))),
        Command::Guard(cmd) => match block_on(crate::guard::run(&config, cmd)) {
            Ok(true) => ExitCode::SUCCESS,
            Ok(false) => ExitCode::FAILURE,
            Err(e) => fail(e),
        },
    }
}

fn load_config(cli: &Cli) -> Result<Config, ConfigError> {
    let loader = ConfigLoader::new()
        .with_env(std::env::vars().filter(|(k, _)| k.starts_with(ENV_PREFIX) || k == "HOME"));
    match &cli.config {
        Some(path) => loader.load_file(path),
        None => loader.load_embedded(),
    }
}

/// Runs an async command on a small runtime of its own.
fn block_on<T>(f: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(anyhow::Error::from)?
        .block_on(f)
}

fn done(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e),
    }
}

fn fail(e: anyhow::Error) -> ExitCode {
    eprintln!("zhishu: {e:#}");
    ExitCode::FAILURE
}

fn serve(config: Config, service: ServiceArg) -> ExitCode {
    if let Err(e) = zhishu_server::telemetry::init(&config.logging) {
        eprintln!("zhishu: {e}");
        return ExitCode::from(EXIT_CONFIG);
    }
    let service = match service {
        ServiceArg::All => Service::All,
        ServiceArg::Ingest => Service::Ingest,
        ServiceArg::Query => Service::Query,
    };
    match actix_web::rt::System::new().block_on(zhishu_server::run(config, service)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "zhishu serve failed");
            eprintln!("zhishu serve: {e}");
            ExitCode::FAILURE
        }
    }
}

fn models_list(config: &Config) -> ExitCode {
    let mut rows = vec![
        (
            "embedder".to_owned(),
            config.model_path(&config.embedder.model),
        ),
        ("engine".to_owned(), config.model_path(&config.engine.model)),
    ];
    rows.extend(
        config
            .engine
            .adapters
            .iter()
            .map(|(name, dir)| (format!("adapter {name}"), config.model_path(dir))),
    );
    let mut missing = false;
    for (role, path) in rows {
        let present = path.exists();
        missing |= !present;
        println!(
            "{role:<9} {:<8} {}",
            if present { "present" } else { "missing" },
            path.display()
        );
    }
    if missing {
        eprintln!(
            "some model files are missing: run scripts/fetch-assets.sh for the offline defaults, or point models.dir / the model keys at your own"
        );
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
