#!/usr/bin/env python3
"""The embedder baseline of scripts/gpu-check.sh: a bge-m3-shaped model
(XLM-RoBERTa large: 24 layers, hidden 1024, 16 heads, CLS pooling) with
random weights, and the chunks it embeds, made on the device machine; and
the speed of embedding them the way sentence-transformers does (transformers
in bf16, batches of 32 sorted by length, padded), in chunks/s.

    python3 scripts/gpu_encoders.py TOKENIZER_JSON OUT_DIR [--chunks 2000]

Writes OUT_DIR/model (config.json, model.safetensors, tokenizer.json and the
sentence-transformers files Zhishu's loader reads) and OUT_DIR/texts.txt
(one chunk per line, ~230 tokens of mixed Chinese and English), and prints
one JSON object. The tokenizer is XLM-R's (multilingual-e5-small's, carried
from the offline assets: the same SentencePiece vocabulary bge-m3 uses).
"""

import argparse
import json
import os
import random
import time

import torch

WORDS_EN = (
    "the employee travel policy refunds hotel nights receipts within thirty days "
    "project code database backup compressed archive retrieval answer citation page "
    "compliance officer audit log export verify access group knowledge document"
).split()
WORDS_ZH = list("公司员工差旅报销规定酒店发票项目数据库备份压缩文件检索回答引用页码合规审计日志导出访问知识文档")


def texts(n, seed=0):
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(60, 100)):
            if rng.random() < 0.5:
                parts.append(rng.choice(WORDS_EN))
            else:
                parts.append("".join(rng.choice(WORDS_ZH) for _ in range(rng.randint(2, 4))))
        out.append(" ".join(parts))
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("tokenizer")
    p.add_argument("out")
    p.add_argument("--chunks", type=int, default=2000)
    a = p.parse_args()
    from transformers import PreTrainedTokenizerFast, XLMRobertaConfig, XLMRobertaModel

    model_dir = os.path.join(a.out, "model")
    os.makedirs(os.path.join(model_dir, "1_Pooling"), exist_ok=True)
    tok = PreTrainedTokenizerFast(
        tokenizer_file=a.tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        cls_token="<s>",
        sep_token="</s>",
        mask_token="<mask>",
    )
    config = XLMRobertaConfig(
        vocab_size=len(tok),
        hidden_size=1024,
        num_hidden_layers=24,
        num_attention_heads=16,
        intermediate_size=4096,
        max_position_embeddings=8194,
        type_vocab_size=1,
        pad_token_id=1,
        layer_norm_eps=1e-5,
    )
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = XLMRobertaModel(config, add_pooling_layer=False)
    model.save_pretrained(model_dir, safe_serialization=True)
    tok.save_pretrained(model_dir)
    json.dump(
        [{"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
         {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"}],
        open(os.path.join(model_dir, "modules.json"), "w"),
    )
    json.dump({"max_seq_length": 512, "do_lower_case": False},
              open(os.path.join(model_dir, "sentence_bert_config.json"), "w"))
    json.dump({"word_embedding_dimension": 1024, "pooling_mode_cls_token": True,
               "pooling_mode_mean_tokens": False},
              open(os.path.join(model_dir, "1_Pooling", "config.json"), "w"))

    chunks = texts(a.chunks)
    with open(os.path.join(a.out, "texts.txt"), "w") as f:
        f.write("\n".join(chunks) + "\n")
    lengths = [len(tok(t)["input_ids"]) for t in chunks]

    model = model.to(torch.bfloat16).eval()
    order = sorted(range(len(chunks)), key=lambda i: -lengths[i])

    def run():
        with torch.no_grad():
            for i in range(0, len(order), 32):
                batch = [chunks[j] for j in order[i:i + 32]]
                enc = tok(batch, padding=True, truncation=True, max_length=512,
                          return_tensors="pt").to("cuda")
                out = model(**enc).last_hidden_state[:, 0]
                torch.nn.functional.normalize(out.float(), dim=-1).cpu()

    run()  # warm-up
    torch.cuda.synchronize()
    t = time.perf_counter()
    run()
    torch.cuda.synchronize()
    seconds = time.perf_counter() - t
    print(json.dumps({
        "model_dir": model_dir,
        "texts": os.path.join(a.out, "texts.txt"),
        "chunks": len(chunks),
        "mean_tokens": sum(lengths) / len(lengths),
        "transformers_bf16_chunks_s": len(chunks) / seconds,
    }))


if __name__ == "__main__":
    main()
