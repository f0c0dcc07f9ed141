//! `zhishu models run`: one prompt through a chat model, streamed to the
//! terminal, with prefill and decode speed on stderr.

use crate::cli::RunArgs;
use anyhow::{Context, Result};
use std::io::Write;
use zhishu_core::Config;
use zhishu_engine::{ChatMessage, Engine, SamplingParams};

/// Runs `zhishu models run`.
pub fn run(config: &Config, args: &RunArgs) -> Result<()> {
    let path = if args.model.exists() {
        args.model.clone()
    } else {
        config.model_path(&args.model)
    };
    let started = std::time::Instant::now();
    let device = zhishu_engine::devices::parse(&args.device)?;
    let engine =
        Engine::load(&path, &device).with_context(|| format!("loading {}", path.display()))?;
    eprintln!(
        "loaded {} ({:?}, {} layers, {} of weights on {}) in {:.1} s",
        engine.name(),
        engine.model().config().architecture,
        engine.model().config().num_layers,
        zhishu_engine::devices::gib(engine.model().weight_bytes() as u64),
        args.device,
        started.elapsed().as_secs_f64()
    );
    let text = if args.raw {
        args.prompt.clone()
    } else {
        let mut messages = Vec::new();
        if let Some(system) = &args.system {
            messages.push(ChatMessage::new("system", system.clone()));
        }
        messages.push(ChatMessage::new("user", args.prompt.clone()));
        engine.chat_prompt(&messages, args.think)?
    };
    let prompt = engine.encode(&text)?;
    let params = SamplingParams {
        temperature: args.temperature,
        top_p: args.top_p,
        seed: args.seed,
        max_new_tokens: args.max_tokens,
        ..SamplingParams::default()
    };
    let mut out = std::io::stdout().lock();
    let g = engine.generate(&prompt, &params, |piece| {
        // A closed pipe (e.g. `| head`) is not worth a panic.
        let _ = out.write_all(piece.as_bytes());
        let _ = out.flush();
    })?;
    let _ = writeln!(out);
    eprintln!(
        "{} prompt tokens at {:.1} tokens/s; {} generated at {:.1} tokens/s ({:?})",
        g.prompt_tokens,
        g.prefill_tokens_per_second(),
        g.token_ids.len(),
        g.decode_tokens_per_second(),
        g.finish_reason
    );
    Ok(())
}
