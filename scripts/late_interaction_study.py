#!/usr/bin/env python3
"""Late interaction with the embedder, measured offline (issue #29, item 6).

Where no cross-encoder is installed, the embedder can still rescore the
fused top 20 by late interaction (ColBERT's MaxSim): every question token's
best cosine against the passage's tokens, averaged. This runs
multilingual-e5-small's own forward pass (XLM-R, written here in numpy
from its safetensors) over the fused top 20 of every query of a
`zhishu eval --candidates` file, and reports document-level nDCG@10 per
language for: score fusion as shipped; MaxSim over all question tokens;
MaxSim over the question's own words (its `<s>`, "query:" prefix and
`</s>` left out); and pooled cosine (the dense score, as a check).

    python3 -m venv /tmp/li && /tmp/li/bin/pip install numpy safetensors tokenizers
    /tmp/li/bin/python scripts/late_interaction_study.py \\
        ~/.cache/zhishu/assets/models/multilingual-e5-small /tmp/docs-zh.candidates.jsonl

About 5 s (short passages) to 20 s (512-token chunks) per query on one
core; `--every N` takes every N-th query only.
"""

import collections
import json
import math
import os
import sys

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fusion_study  # noqa: E402

TOP = 20  # retrieval.rerank_top
LEXICAL_WEIGHT = 1.25  # retrieval.lexical_weight for score fusion


class E5:
    """XLM-R encoder forward pass: the last hidden state of every token."""

    def __init__(self, folder):
        self.w = load_file(os.path.join(folder, "model.safetensors"))
        with open(os.path.join(folder, "config.json"), encoding="utf-8") as f:
            c = json.load(f)
        self.layers, self.heads = c["num_hidden_layers"], c["num_attention_heads"]
        self.eps = c.get("layer_norm_eps", 1e-12)
        self.tok = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
        self.tok.no_padding()
        self.tok.no_truncation()

    def norm(self, x, p):
        m = x.mean(-1, keepdims=True)
        v = ((x - m) ** 2).mean(-1, keepdims=True)
        return (x - m) / np.sqrt(v + self.eps) * self.w[p + ".weight"] + self.w[p + ".bias"]

    def lin(self, x, p):
        return x @ self.w[p + ".weight"].T + self.w[p + ".bias"]

    def tokens(self, text, limit=512):
        """Unit vectors of every token of `text` (first `limit`)."""
        ids = self.tok.encode(text).ids[:limit]
        ids[-1] = 2  # </s>, also after a cut
        n, w = len(ids), self.w
        x = (
            w["embeddings.word_embeddings.weight"][ids]
            + w["embeddings.position_embeddings.weight"][np.arange(n) + 2]
            + w["embeddings.token_type_embeddings.weight"][0]
        )
        x = self.norm(x, "embeddings.LayerNorm")
        h = self.heads
        d = x.shape[1] // h
        for i in range(self.layers):
            p = f"encoder.layer.{i}."
            q, k, v = (
                self.lin(x, p + "attention.self." + m).reshape(n, h, d).transpose(1, 0, 2)
                for m in ("query", "key", "value")
            )
            a = q @ k.transpose(0, 2, 1) / math.sqrt(d)
            a = np.exp(a - a.max(-1, keepdims=True))
            a /= a.sum(-1, keepdims=True)
            o = (a @ v).transpose(1, 0, 2).reshape(n, h * d)
            x = self.norm(self.lin(o, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
            g = self.lin(x, p + "intermediate.dense")
            g = 0.5 * g * (1 + np.tanh(0.7978845608 * (g + 0.044715 * g**3)))
            x = self.norm(self.lin(g, p + "output.dense") + x, p + "output.LayerNorm")
        return x / np.linalg.norm(x, axis=1, keepdims=True), x


def main(folder, path, every=1):
    e5 = E5(folder)
    chunks, queries = fusion_study.texts(path), fusion_study.read(path)[::every]
    # <s> and the prefix's own tokens ("▁que", "ry", ":"): "query: " alone
    # ends in a bare "▁" and "</s>", which a question's first word absorbs.
    prefix = len(e5.tok.encode("query:").ids) - 1
    cache = {}
    results = collections.defaultdict(lambda: collections.defaultdict(list))
    for i, q in enumerate(queries):
        fused = fusion_study.scores(q, LEXICAL_WEIGHT)
        top, rest = fused[:TOP], fused[TOP:]
        qu, qraw = e5.tokens("query: " + q["text"])
        words = qu[prefix:-1] if len(qu) > prefix + 1 else qu
        qpool = qraw.mean(0) / np.linalg.norm(qraw.mean(0))
        rows = []
        for c in top:
            if c not in cache:
                pu, praw = e5.tokens("passage: " + chunks[c])
                cache[c] = (pu.astype(np.float32), praw.mean(0) / np.linalg.norm(praw.mean(0)))
            pu, ppool = cache[c]
            rows.append((float((qu @ pu.T).max(1).mean()), float((words @ pu.T).max(1).mean()), float(qpool @ ppool)))
        orders = {
            "score fusion": top,
            "MaxSim, all tokens": [c for _, c in sorted(zip([-r[0] for r in rows], top))],
            "MaxSim, question words": [c for _, c in sorted(zip([-r[1] for r in rows], top))],
            "pooled cosine": [c for _, c in sorted(zip([-r[2] for r in rows], top))],
        }
        for name, order in orders.items():
            v = fusion_study.ndcg10(fusion_study.documents(order + rest), q["judged"])
            results[name]["all"].append(v)
            results[name][q["language"]].append(v)
        if i % 20 == 0:
            print(f"{i}/{len(queries)}", file=sys.stderr)
    name = os.path.basename(path).split(".")[0]
    for mode, by in results.items():
        cells = " ".join(f"{g}={sum(v) / len(v):.3f}" for g, v in sorted(by.items()))
        print(f"{name} ({len(queries)} queries): {mode}: {cells}")


if __name__ == "__main__":
    args = sys.argv[1:]
    every = 1
    if len(args) == 4 and args[0] == "--every":
        every, args = int(args[1]), args[2:]
    if len(args) != 2:
        sys.exit(__doc__)
    main(args[0], args[1], every)
