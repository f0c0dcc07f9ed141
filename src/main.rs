//! `zhishu`: the command-line entry point.
//!
//! A thin binary: it parses the command line, loads and validates the
//! configuration once, and hands over to the library crates. Exit codes:
//! 0 success, 1 failure, 2 usage error, 78 a configuration error.

mod admin;
mod ask;
mod cli;
mod commands;
mod eval;
mod guard;
mod ingest;
mod models;
mod run;
mod search;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // SAFETY: first thing in main, before any thread is started.
    unsafe { zhishu_engine::pin_cpu_threads() };
    let cli = cli::Cli::parse();
    commands::dispatch(cli)
}
