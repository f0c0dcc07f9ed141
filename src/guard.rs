//! `zhishu guard`: the lexicons on this machine, a check of a text against
//! the policy in force, and the measurement on a labelled set. The same
//! lexicon store and guard the server uses; changes are audited.

use crate::admin::Ctx;
use crate::cli::{GuardCommand, GuardPointArg};
use anyhow::{Context as _, Result, bail};
use std::io::Read;
use std::sync::Arc;
use zhishu_core::{Config, Role};
use zhishu_guard::{Context, Guard, GuardPoint, LexiconStore};

fn store(config: &Config) -> Result<LexiconStore> {
    LexiconStore::open(&config.guard.lexicons).with_context(|| {
        format!(
            "cannot load the lexicons in {} (guard.lexicons)",
            config.guard.lexicons.display()
        )
    })
}

/// Runs a `zhishu guard` command; `Ok(false)` when a checked text is
/// blocked.
pub(crate) async fn run(config: &Config, cmd: GuardCommand) -> Result<bool> {
    match cmd {
        GuardCommand::List => {
            for l in store(config)?.list() {
                println!(
                    "{:<24} {:>7} entries   rule lexicon.{}",
                    l.name, l.entries, l.name
                );
            }
        }
        GuardCommand::Show { name } => {
            print!("{}", store(config)?.get(&name)?.to_text());
        }
        GuardCommand::Add { name, entries } => {
            let s = store(config)?;
            let ctx = Ctx::open(config).await?;
            let l = s.add(&name, &entries)?;
            ctx.record(
                "guard.lexicon.write",
                serde_json::json!({"name": name, "added": entries.len()}),
            )
            .await?;
            eprintln!("lexicon.{name}: {} entries", l.entries.len());
        }
        GuardCommand::Remove { name, entries } => {
            let s = store(config)?;
            let ctx = Ctx::open(config).await?;
            let l = s.remove(&name, &entries)?;
            ctx.record(
                "guard.lexicon.write",
                serde_json::json!({"name": name, "removed": entries.len()}),
            )
            .await?;
            eprintln!("lexicon.{name}: {} entries", l.entries.len());
        }
        GuardCommand::Delete { name } => {
            let s = store(config)?;
            let ctx = Ctx::open(config).await?;
            s.delete(&name)?;
            ctx.record("guard.lexicon.delete", serde_json::json!({"name": name}))
                .await?;
            eprintln!("lexicon.{name} deleted");
        }
        GuardCommand::Check {
            text,
            point,
            collection,
            roles,
        } => {
            let text = if text == "-" {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .context("cannot read the text from standard input")?;
                s
            } else {
                text
            };
            let roles = roles
                .iter()
                .map(|r| r.parse::<Role>())
                .collect::<Result<Vec<_>, _>>()?;
            let guard = Guard::new(&config.guard)?;
            let point = match point {
                GuardPointArg::Question => GuardPoint::Question,
                GuardPointArg::Passage => GuardPoint::Passage,
                GuardPointArg::Answer => GuardPoint::Answer,
                GuardPointArg::Document => GuardPoint::Document,
            };
            let ctx = Context {
                roles,
                groups: Vec::new(),
                collections: collection.into_iter().collect(),
            };
            let report = guard.report(&text, point, &ctx);
            println!("{}", serde_json::to_string_pretty(&report)?);
            return Ok(!report.blocked);
        }
        GuardCommand::Eval { data, split } => {
            if !["dev", "test", "all"].contains(&split.as_str()) {
                bail!("--split {split}: use dev, test or all");
            }
            // The built-in policy over the lexicons in force.
            let lists = store(config)?;
            let guard = Guard::with_lexicons(&config.guard, Arc::new(lists));
            let report = zhishu_guard::eval::run(&guard, &data)?;
            print!("{}", report.markdown(&split));
        }
    }
    Ok(true)
}
