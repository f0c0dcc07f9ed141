#!/usr/bin/env python3
"""Fusions compared offline on what Zhishu's retrievers actually return.

Reads the files `zhishu eval --candidates FILE` writes (both retrievers'
top 100 per query, unfused, with each query's votes) and scores, per set
and query language, document-level nDCG@10 of:

- BM25 alone and dense search alone;
- reciprocal rank fusion (`fusion = "rrf"`, k = 60) at BM25 weights;
- score fusion (`fusion = "scores"`, the default): each list min-max
  scaled over its top `candidates` (50), a candidate a retriever did not
  return counting as that list's lowest, summed with BM25's share of the
  votes, at BM25 weights.

Each row says which (set, language) groups fall more than 0.01 below the
better single retriever, the rule fusion must keep (docs/retrieval.md).
Standard library only.

    for s in docs-en docs-zh eval-zh-en; do
      ZHISHU_EVAL_CACHE=/tmp/$s.bin zhishu eval --dataset tests/data/$s \\
        --candidates /tmp/$s.candidates.jsonl
    done
    python3 scripts/fusion_study.py /tmp/*.candidates.jsonl
"""

import collections
import json
import math
import os
import sys

CANDIDATES = 50  # retrieval.candidates
RRF_K = 60.0


def read(path):
    """The query lines of a candidates file."""
    with open(path, encoding="utf-8") as f:
        lines = (json.loads(line) for line in f if line.strip())
        return [q for q in lines if q["type"] == "query" and q["judged"]]


def texts(path):
    """Every chunk's text of a candidates file, by (document, ordinal)."""
    with open(path, encoding="utf-8") as f:
        lines = (json.loads(line) for line in f if line.strip())
        return {(c["document"], c["ordinal"]): c["text"] for c in lines if c["type"] == "chunk"}


def ndcg10(documents, judged):
    dcg = sum(
        (2 ** judged.get(d, 0) - 1) / math.log2(i + 2)
        for i, d in enumerate(documents[:10])
    )
    ideal = sorted(judged.values(), reverse=True)[:10]
    idcg = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def documents(chunks):
    """A document's rank is that of its best chunk."""
    seen, order = set(), []
    for doc, _ordinal in chunks:
        if doc not in seen:
            seen.add(doc)
            order.append(doc)
    return order


def ranked(scores):
    return sorted(scores, key=lambda c: (-scores[c], c))


def votes(q, lexical_weight):
    """The query's votes at another base BM25 weight: the file's votes
    carry the configured one times the query's coverage."""
    coverage = min(max(q["coverage"], 0.0), 1.0)
    return lexical_weight * coverage, q["dense_vote"]


def rrf(q, lexical_weight):
    wl, wd = votes(q, lexical_weight)
    fused = collections.defaultdict(float)
    for w, hits in ((wl, q["bm25"]), (wd, q["dense"])):
        for rank, (doc, ordinal, _score) in enumerate(hits):
            fused[(doc, ordinal)] += w / (RRF_K + rank + 1)
    return ranked(fused)


def scaled(hits):
    """Min-max over the top CANDIDATES; absent = the lowest returned."""
    if not hits:
        return {}, 0.0
    scores = [s for _, _, s in hits]
    best, low = scores[0], scores[min(CANDIDATES, len(scores)) - 1]
    if best - low <= 1e-9:
        return {(d, o): 1.0 for d, o, _ in hits}, 0.0
    out = {(d, o): (s - low) / (best - low) for d, o, s in hits}
    return out, min(min(out.values()), 0.0)


def scores(q, lexical_weight):
    wl, wd = votes(q, lexical_weight)
    a = wl / (wl + wd) if wl + wd > 0 else 0.5
    (b, b_absent), (d, d_absent) = scaled(q["bm25"]), scaled(q["dense"])
    fused = {
        c: a * b.get(c, b_absent) + (1 - a) * d.get(c, d_absent)
        for c in set(b) | set(d)
    }
    return ranked(fused)


def groups(sets, rank):
    """nDCG@10 by (set, group), group 'all' or the query's language."""
    out = {}
    for name, queries in sets.items():
        by = collections.defaultdict(list)
        for q in queries:
            v = ndcg10(documents(rank(q)), q["judged"])
            by["all"].append(v)
            by[q["language"]].append(v)
        for g, vs in by.items():
            out[(name, g)] = sum(vs) / len(vs)
    return out


def main(paths):
    if not paths:
        sys.exit(__doc__)
    sets = {
        os.path.basename(p).split(".")[0]: read(p) for p in paths
    }
    bm25 = groups(sets, lambda q: [(d, o) for d, o, _ in q["bm25"]])
    dense = groups(sets, lambda q: [(d, o) for d, o, _ in q["dense"]])
    rows = [("bm25", bm25), ("dense", dense)]
    for w in (0.5, 0.75, 1.0):
        rows.append((f"rrf, BM25 {w}", groups(sets, lambda q, w=w: rrf(q, w))))
    for w in (0.75, 1.0, 1.25, 1.5, 1.75, 2.0):
        rows.append((f"scores, BM25 {w}", groups(sets, lambda q, w=w: scores(q, w))))
    keys = sorted(bm25)
    print("| fusion | " + " | ".join(f"{s} {g}" for s, g in keys) + " | short of the rule |")
    print("|---|" + "---:|" * len(keys) + "---|")
    for label, r in rows:
        short = [
            f"{s} {g} ({r[(s, g)] - max(bm25[(s, g)], dense[(s, g)]):+.3f})"
            for s, g in keys
            if label not in ("bm25", "dense")
            and r[(s, g)] < max(bm25[(s, g)], dense[(s, g)]) - 0.01
        ]
        cells = " | ".join(f"{r[k]:.3f}" for k in keys)
        print(f"| {label} | {cells} | {', '.join(short)} |")


if __name__ == "__main__":
    main(sys.argv[1:])
