#!/usr/bin/env python3
"""How a late-interaction pass should enter the ranking (issue #29, item 6).

Reads `zhishu eval --candidates` files, whose query lines carry `late`: the
fused top hits as the searcher returned them, `[document, ordinal, fused
score, MaxSim]` (MaxSim computed by Zhishu's own encoder,
`EncoderWorker::late_scores`). For each rule it re-orders the top N and
reports document-level nDCG@10 per set and per question language:

- `fused`: as shipped, no pass;
- `maxsim N`: the top N ordered by MaxSim alone;
- `blend N b`: fused score and MaxSim, each min-max scaled over the top N,
  summed as `fused + b * maxsim`;
- `blend N b cjk<t>`: the blend only where less than `t` of the top N's
  characters are CJK ideographs (the pass hurt Chinese pages);
- `blend N b cross`: the blend only where the question and the top N are
  in different scripts (one mostly CJK, the other not): where BM25 cannot
  match a word and the multilingual model alone reads both.

    python3 scripts/late_blend_study.py /tmp/docs-en.c.jsonl /tmp/docs-zh.c.jsonl ...

Standard library only.
"""

import collections
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fusion_study  # noqa: E402


def cjk_share(texts):
    """Share of CJK ideographs among the texts' non-space characters."""
    cjk = total = 0
    for t in texts:
        for ch in t:
            if ch.isspace():
                continue
            total += 1
            if "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf":
                cjk += 1
    return cjk / total if total else 0.0


def minmax(values):
    lo, hi = min(values), max(values)
    if hi - lo <= 1e-9:
        return [1.0 for _ in values]
    return [(v - lo) / (hi - lo) for v in values]


def reorder(late, n, weight):
    """The top n re-ordered by fused + weight * MaxSim (both scaled);
    weight None: MaxSim alone."""
    top, rest = late[:n], late[n:]
    fused = minmax([h[2] for h in top])
    maxsim = minmax([h[3] for h in top])
    if weight is None:
        keys = maxsim
    else:
        keys = [f + weight * m for f, m in zip(fused, maxsim)]
    order = [h for _, _, h in sorted(zip([-k for k in keys], range(len(top)), top))]
    return order + rest


def main(paths):
    rules = [("fused", None, None, None)]
    for n in (10, 20):
        rules.append((f"maxsim {n}", n, None, None))
        for b in (1.0, 2.0, 4.0, 8.0):
            rules.append((f"blend {n} {b}", n, b, None))
            for t in (0.3, "cross"):
                name = f"blend {n} {b} cross" if t == "cross" else f"blend {n} {b} cjk<{t}"
                rules.append((name, n, b, t))
    table = collections.defaultdict(dict)
    for path in paths:
        name = os.path.basename(path).split(".")[0]
        chunks, queries = fusion_study.texts(path), fusion_study.read(path)
        results = collections.defaultdict(lambda: collections.defaultdict(list))
        for q in queries:
            late = q["late"]
            for rule, n, b, t in rules:
                if n is None:
                    order = late
                else:
                    share = cjk_share(chunks.get((h[0], h[1]), "") for h in late[:n])
                    if t == "cross":
                        skip = (cjk_share([q["text"]]) >= 0.3) == (share >= 0.3)
                    else:
                        skip = t is not None and share >= t
                    if skip:
                        order = late
                    else:
                        order = reorder(late, n, b)
                docs = fusion_study.documents((h[0], h[1]) for h in order)
                v = fusion_study.ndcg10(docs, q["judged"])
                results[rule]["all"].append(v)
                results[rule][q["language"]].append(v)
        for rule, by in results.items():
            for group, values in by.items():
                table[rule][f"{name}/{group}"] = sum(values) / len(values)
    columns = sorted({c for row in table.values() for c in row})
    print("| rule | " + " | ".join(columns) + " | min gain |")
    print("|---|" + "---:|" * (len(columns) + 1))
    base = table["fused"]
    for rule, row in table.items():
        gain = min(row.get(c, 0) - base.get(c, 0) for c in columns)
        cells = " | ".join(f"{row.get(c, 0):.3f}" for c in columns)
        print(f"| {rule} | {cells} | {gain:+.3f} |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
