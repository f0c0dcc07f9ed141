//! `zhishu models fetch REPO`: download a model from a Hugging Face
//! compatible hub (`HF_ENDPOINT` for a mirror, `HF_TOKEN` for gated models)
//! into `models.dir/<name>`.
//!
//! Only what Zhishu loads is fetched: configuration, tokenizer files and
//! weights (safetensors, or `pytorch_model.bin` when a repository has no
//! safetensors). Files land as `*.part` and are renamed when complete, so an
//! interrupted fetch never leaves a truncated file that looks whole.

use anyhow::{Context, Result, bail};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// Small files a model folder may need (a quantised release's quantiser
/// file, a LoRA adapter's configuration).
const METADATA: [&str; 13] = [
    "quantize_config.json",
    "quant_config.json",
    "adapter_config.json",
    "config.json",
    "chat_template.jinja",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "generation_config.json",
    "modules.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
    "model.safetensors.index.json",
];

fn wanted(files: &[String]) -> Vec<String> {
    let has_safetensors = files
        .iter()
        .any(|f| f.ends_with(".safetensors") && !f.contains('/'));
    files
        .iter()
        .filter(|f| {
            METADATA.contains(&f.as_str())
                || (has_safetensors && f.ends_with(".safetensors") && !f.contains('/'))
                || (!has_safetensors && f.as_str() == "pytorch_model.bin")
        })
        .cloned()
        .collect()
}

/// Fetches `repo` (`owner/name`) into `models_dir/name`; returns the folder.
pub fn fetch(
    repo: &str,
    models_dir: &Path,
    endpoint: Option<String>,
    token: Option<String>,
) -> Result<PathBuf> {
    let Some((_, name)) = repo
        .split_once('/')
        .filter(|(o, n)| !o.is_empty() && !n.is_empty() && !n.contains('/'))
    else {
        bail!("`{repo}` is not a repository name: use OWNER/NAME, e.g. BAAI/bge-m3");
    };
    let endpoint = endpoint.unwrap_or_else(|| DEFAULT_ENDPOINT.to_string());
    let endpoint = endpoint.trim_end_matches('/');
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_connect(Some(Duration::from_secs(15)))
        .http_status_as_error(false)
        .build()
        .into();
    let get = |url: &str| {
        let mut req = agent.get(url);
        if let Some(t) = &token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        req.call()
            .with_context(|| format!("cannot reach {url}; set HF_ENDPOINT to a reachable mirror"))
    };

    let api = format!("{endpoint}/api/models/{repo}");
    let mut res = get(&api)?;
    match res.status().as_u16() {
        200 => {}
        401 | 403 => bail!("{repo} at {endpoint} needs authorisation: set HF_TOKEN"),
        404 => bail!("model {repo} not found at {endpoint}"),
        s => bail!("{api} answered HTTP {s}"),
    }
    let info: serde_json::Value = res
        .body_mut()
        .read_json()
        .with_context(|| format!("{api}: not a model listing"))?;
    let files: Vec<String> = info["siblings"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter_map(|f| f["rfilename"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    let files = wanted(&files);
    if !files
        .iter()
        .any(|f| f.ends_with(".safetensors") || f == "pytorch_model.bin")
    {
        bail!("{repo} has no weights Zhishu can load (model.safetensors or pytorch_model.bin)");
    }
    let dest = models_dir.join(name);
    for file in &files {
        let target = dest.join(file);
        if target.is_file() {
            eprintln!("  {file}: present");
            continue;
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("cannot create {}", parent.display()))?;
        }
        let url = format!("{endpoint}/{repo}/resolve/main/{file}");
        let mut res = get(&url)?;
        if res.status().as_u16() != 200 {
            bail!("{url} answered HTTP {}", res.status().as_u16());
        }
        let part = target.with_extension(format!(
            "{}part",
            target
                .extension()
                .map(|e| format!("{}.", e.to_string_lossy()))
                .unwrap_or_default()
        ));
        let mut out = std::fs::File::create(&part)
            .with_context(|| format!("cannot write {}", part.display()))?;
        let bytes = std::io::copy(&mut res.body_mut().as_reader(), &mut out)
            .with_context(|| format!("download of {url} failed"))?;
        out.flush()?;
        std::fs::rename(&part, &target)?;
        eprintln!("  {file}: {bytes} bytes");
    }
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loadable_files_are_fetched() {
        let files: Vec<String> = [
            "config.json",
            "model.safetensors",
            "pytorch_model.bin",
            "onnx/model.onnx",
            "README.md",
            "1_Pooling/config.json",
            "tokenizer.json",
            "openvino/model.xml",
        ]
        .map(String::from)
        .to_vec();
        let mut w = wanted(&files);
        w.sort();
        assert_eq!(
            w,
            vec![
                "1_Pooling/config.json",
                "config.json",
                "model.safetensors",
                "tokenizer.json"
            ]
        );
        let bin_only: Vec<String> = ["config.json", "pytorch_model.bin"]
            .map(String::from)
            .to_vec();
        assert!(wanted(&bin_only).contains(&"pytorch_model.bin".to_string()));
    }

    #[test]
    fn quantised_releases_and_adapters_bring_their_own_files() {
        // Qwen/Qwen3-32B-AWQ-like shards, an older GPTQ release's
        // quantize_config.json, a PEFT adapter.
        let files: Vec<String> = [
            "config.json",
            "model-00001-of-00002.safetensors",
            "model-00002-of-00002.safetensors",
            "model.safetensors.index.json",
            "quantize_config.json",
            "adapter_config.json",
            "adapter_model.safetensors",
            "adapter_model.bin",
            "training_args.bin",
        ]
        .map(String::from)
        .to_vec();
        let mut w = wanted(&files);
        w.sort();
        assert_eq!(
            w,
            vec![
                "adapter_config.json",
                "adapter_model.safetensors",
                "config.json",
                "model-00001-of-00002.safetensors",
                "model-00002-of-00002.safetensors",
                "model.safetensors.index.json",
                "quantize_config.json",
            ]
        );
    }
}
