//! `zhishu guard`: the lexicons on this machine, a check of a text against
//! the policy in force, the measurement on a labelled set, and training the
//! injection model. The same lexicon store, guard and question check the
//! server uses; changes are audited.

use crate::admin::Ctx;
use crate::cli::{GuardCommand, GuardPointArg};
use anyhow::{Context as _, Result, bail};
use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;
use zhishu_core::{Config, Role};
use zhishu_encoders::{EncoderWorker, TextKind};
use zhishu_guard::eval::{self, Judged};
use zhishu_guard::injection::model::{TrainOptions, train};
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
            let mut verdict = guard.check(&text, point, &ctx);
            if point == GuardPoint::Question && guard.has_injection_model() {
                // Judged as the server judges a chat question.
                let encoder = crate::ingest::encoder(config)?;
                zhishu_query::screen::weigh_question(
                    &guard,
                    Some(&encoder),
                    &text,
                    &mut verdict,
                    &ctx,
                    &guard.redactor(),
                )
                .await?;
            }
            let report = guard.report_of(&text, verdict);
            println!("{}", serde_json::to_string_pretty(&report)?);
            return Ok(!report.blocked);
        }
        GuardCommand::Eval {
            data,
            split,
            rules_only,
            misses,
        } => {
            check_split(&split)?;
            // The built-in policy over the lexicons in force.
            let lists = store(config)?;
            let guard = Guard::with_lexicons(&config.guard, Arc::new(lists))?;
            let vectors;
            let mut judged = None;
            if !rules_only && guard.has_injection_model() {
                let encoder = crate::ingest::encoder(config)?;
                let id = zhishu_query::screen::embedder_id(&encoder);
                match guard.injection_model(&id)? {
                    Some(model) => {
                        let texts = eval::model_texts(&guard, &eval::questions(&data, "all")?);
                        eprintln!("embedding {} question texts with {id}", texts.len());
                        vectors = embed(&encoder, texts).await?;
                        judged = Some(Judged {
                            model,
                            vectors: &vectors,
                        });
                    }
                    None => eprintln!(
                        "the built-in injection model does not fit {id}: measuring the rules alone"
                    ),
                }
            }
            let report = eval::run(&guard, &data, judged.as_ref())?;
            print!("{}", report.markdown(&split));
            if misses {
                for (s, row, text) in &report.misses {
                    if *s == split || split == "all" {
                        println!("MISS [{row}] {text}");
                    }
                }
            }
        }
        GuardCommand::Train {
            data,
            split,
            out,
            target_fp,
        } => {
            check_split(&split)?;
            let questions = eval::questions(&data, &split)?;
            if questions.is_empty() {
                bail!(
                    "{} holds no questions in split {split}",
                    data.join("injection.jsonl").display()
                );
            }
            // The rules are the model's evidence: the lexicons in force,
            // the built-in policy.
            let mut rules_only = config.guard.clone();
            rules_only.injection_model = "off".into();
            let guard = Guard::with_lexicons(&rules_only, Arc::new(store(config)?))?;
            let encoder = crate::ingest::encoder(config)?;
            let id = zhishu_query::screen::embedder_id(&encoder);
            eprintln!("embedding {} questions with {id}", questions.len());
            let by_text = embed(&encoder, eval::model_texts(&guard, &questions)).await?;
            let examples = eval::examples(&guard, &questions, &by_text);
            let options = TrainOptions {
                target_fp,
                set: data.join("injection.jsonl").display().to_string(),
                split: split.clone(),
                ..TrainOptions::default()
            };
            let model = train(&examples, id, &options)?;
            if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            let tmp = out.with_extension("json.tmp");
            std::fs::write(&tmp, model.to_json() + "\n")
                .and_then(|()| std::fs::rename(&tmp, &out))
                .with_context(|| format!("cannot write {}", out.display()))?;
            let ctx = Ctx::open(config).await?;
            let t = &model.trained;
            ctx.record(
                "guard.model.train",
                serde_json::json!({
                    "out": out.display().to_string(),
                    "set": t.set, "split": t.split, "questions": t.questions,
                    "attacks": t.attacks, "cv_recall": t.cv_recall, "cv_fp": t.cv_fp,
                }),
            )
            .await?;
            eprintln!(
                "{}: {} questions ({} attacks), penalty {}; cross-validated recall {:.3} at {:.3} false positives (target {target_fp})\n\
                 use it with guard.injection_model = {:?}",
                out.display(),
                t.questions,
                t.attacks,
                t.lambda,
                t.cv_recall,
                t.cv_fp,
                out.display().to_string()
            );
        }
    }
    Ok(true)
}

fn check_split(split: &str) -> Result<()> {
    if !["dev", "test", "all"].contains(&split) {
        bail!("--split {split}: use dev, test or all");
    }
    Ok(())
}

/// The query-kind embedding of each text, as retrieval and the question
/// guard compute it.
async fn embed(encoder: &EncoderWorker, texts: Vec<String>) -> Result<HashMap<String, Vec<f32>>> {
    let mut out = HashMap::new();
    for batch in texts.chunks(64) {
        let vectors = encoder
            .embed(batch.to_vec(), TextKind::Query)
            .await
            .context("cannot embed the questions")?
            .vectors;
        out.extend(batch.iter().cloned().zip(vectors));
    }
    Ok(out)
}
