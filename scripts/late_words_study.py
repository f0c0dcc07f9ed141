#!/usr/bin/env python3
"""Which of a question's words late interaction should count (issue #29).

MaxSim averages, over the question's word pieces, each piece's best cosine
against the passage. Every piece counts alike: "How", "do", "I" and "?"
as much as "compressed" or "备份". `zhishu eval --candidates` writes each
piece's best cosine against each of the fused top hits (`late`: `[document,
ordinal, fused, MaxSim, maxima]`, pieces as `late_pieces`: `[piece, start,
end]`). This script recomputes MaxSim under other weightings of the pieces,
folds it into the fused order as the searcher does (both min-max scaled
over the top hits, `fused + 4 * maxsim`), and reports document-level
nDCG@10 per set, query language and kind:

- `mean`: every piece alike (as shipped until 2026-12-08);
- `subject`: pieces inside the words BM25 leaves out of a question (its
  stop words, the words that frame a question, in both languages) and
  punctuation left out, unless nothing is left;
- `idf`: each piece weighted by the inverse document frequency, over the
  set's chunks, of the word it lies in (a Chinese piece: of itself);
- `subject+idf`: both; `sqrt idf`: the root of idf;
- `served`: the weights the searcher itself gave (`late_weights`, from
  its index: framing nothing, the root of each word's IDF otherwise);
  the file's `MaxSim` is checked against them;
- `mean N`, `subject N`: the pass over the fused top N rather than 20,
  where the file holds that many (`late_top = N` in the configuration
  that wrote it).

    python3 scripts/late_words_study.py /tmp/docs-en.c.jsonl /tmp/docs-zh.c.jsonl ...

Standard library only.
"""

import collections
import math
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fusion_study  # noqa: E402
import late_blend_study  # noqa: E402

# services/retrieval/src/lexical.rs: ENGLISH_STOP_WORDS, QUESTION_WORDS,
# CHINESE_QUESTION_WORDS.
STOP = set(
    "a an and are as at be but by for if in into is it no not of on or such that the "
    "their then there these they this to was will with".split()
)
FRAMING = set(
    "what which who whom whose why how when where whether do does did doing i me my "
    "myself we our you your he him his she her its them am were been being has have "
    "had having can could should would shall might must s t d ll m re ve don doesn "
    "didn isn aren wasn couldn shouldn wouldn".split()
)
CHINESE_FRAMING = (
    "为什么 为何 怎么 怎么样 怎么办 怎样 如何 什么 哪个 哪些 哪里 哪儿 哪种 哪一个 哪一项 "
    "能不能 能否 可不可以 是否 是不是 会不会 要不要 有没有 请问 我们 我的 你们 咱们 应该"
).split()
WORD = re.compile(r"[A-Za-z0-9_]+")
BLEND = 4.0


def is_cjk(ch):
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def words_of(text):
    """(start, end, lower-cased word) of every Latin word of a text."""
    return [(m.start(), m.end(), m.group().lower()) for m in WORD.finditer(text)]


def framing_spans(text):
    """Byte spans of the words a question's BM25 query leaves out."""
    raw = text.encode("utf-8")
    spans = []
    for start, end, w in words_of(text):
        if w in STOP or w in FRAMING:
            spans.append((len(text[:start].encode()), len(text[:end].encode())))
    for word in CHINESE_FRAMING:
        b = word.encode("utf-8")
        i = raw.find(b)
        while i >= 0:
            spans.append((i, i + len(b)))
            i = raw.find(b, i + 1)
    return spans


def piece_text(q, piece):
    raw = q["text"].encode("utf-8")
    return raw[piece[1] : piece[2]].decode("utf-8", "replace")


def subject_mask(q):
    """1 for a piece that says what the question is about, else 0."""
    spans = framing_spans(q["text"])
    mask = []
    for p in q["late_pieces"]:
        s = piece_text(q, p).strip()
        # A piece's span may hold the space before its word (`▁do`).
        lead = len(piece_text(q, p)) - len(piece_text(q, p).lstrip())
        start = p[1] + lead
        inside = any(a <= start and p[2] <= b for a, b in spans)
        bare = not any(ch.isalnum() for ch in s)
        mask.append(0.0 if inside or bare else 1.0)
    return mask if sum(mask) > 0 else [1.0] * len(mask)


class Idf:
    """Inverse document frequency over a set's chunks: of a Latin word
    (the whole word a piece lies in), or of a Chinese piece's text."""

    def __init__(self, chunks):
        self.texts = [t.lower() for t in chunks.values()]
        self.n = len(self.texts)
        self.words = collections.Counter()
        for t in self.texts:
            self.words.update(set(w for _, _, w in words_of(t)))
        self.memo = {}

    def of_word(self, w):
        return math.log(1 + (self.n - self.words[w] + 0.5) / (self.words[w] + 0.5))

    def of_text(self, s):
        if s not in self.memo:
            df = sum(1 for t in self.texts if s in t)
            self.memo[s] = math.log(1 + (self.n - df + 0.5) / (df + 0.5))
        return self.memo[s]

    def weights(self, q):
        text = q["text"]
        latin = words_of(text)
        out = []
        for p in q["late_pieces"]:
            s = piece_text(q, p).strip().lower()
            if not s or not any(ch.isalnum() for ch in s):
                out.append(0.0)
                continue
            start = len(text.encode("utf-8")[: p[1]].decode("utf-8", "replace"))
            word = next((w for a, b, w in latin if a <= start < b), None)
            if word is not None:
                out.append(self.of_word(word))
            else:
                out.append(self.of_text(s))
        return out if sum(out) > 0 else [1.0] * len(out)


def served(q):
    """The weights the searcher gave the pieces (`late_weights`; files
    written before them: every piece alike)."""
    w = q.get("late_weights") or []
    if len(w) != len(q["late_pieces"]) or sum(w) <= 0:
        return [1.0] * len(q["late_pieces"])
    return w


def weighted(maxima, weights):
    total = sum(weights)
    return sum(m * w for m, w in zip(maxima, weights)) / total if total else 0.0


def rerank(q, weights, top=20):
    """The fused top `top` re-ordered by the blend, the rest as fused."""
    hits = [[h[0], h[1], h[2], weighted(h[4], weights)] for h in q["late"]]
    return late_blend_study.reorder(hits, top, BLEND)


def main(paths):
    if not paths:
        sys.exit(__doc__)
    table = collections.defaultdict(dict)
    worst = 0.0
    for path in paths:
        name = os.path.basename(path).split(".")[0]
        chunks, queries = fusion_study.texts(path), fusion_study.read(path)
        idf = Idf(chunks)
        rules = {
            "fused": lambda q: q["late"],
            "mean": lambda q: rerank(q, [1.0] * len(q["late_pieces"])),
            "subject": lambda q: rerank(q, subject_mask(q)),
            "idf": lambda q: rerank(q, idf.weights(q)),
            "subject+idf": lambda q: rerank(
                q, [a * b for a, b in zip(subject_mask(q), idf.weights(q))]
            ),
            "sqrt idf": lambda q: rerank(q, [math.sqrt(w) for w in idf.weights(q)]),
            "served": lambda q: rerank(q, served(q)),
        }
        deepest = max(len(q["late"]) for q in queries)
        for top in (30, 40, 50):
            if top <= deepest:
                rules[f"mean {top}"] = lambda q, t=top: rerank(q, [1.0] * len(q["late_pieces"]), t)
                rules[f"subject {top}"] = lambda q, t=top: rerank(q, subject_mask(q), t)
        for q in queries:
            for h in q["late"]:
                worst = max(worst, abs(weighted(h[4], served(q)) - h[3]))
            groups = ["all", q["language"]] + ([q["kind"]] if q.get("kind") else [])
            for rule, rank in rules.items():
                order = rank(q)
                docs = fusion_study.documents([(h[0], h[1]) for h in order])
                v = fusion_study.ndcg10(docs, q["judged"])
                for g in groups:
                    table[(name, g)].setdefault(rule, []).append(v)
    print(f"largest |weighted mean of maxima - MaxSim as served|: {worst:.2e}")
    rules = list(next(iter(table.values())).keys())
    print("| set | group | n | " + " | ".join(rules) + " |")
    print("|---|---|---:|" + "---:|" * len(rules))
    for (name, g), by in sorted(table.items()):
        n = len(by["fused"])
        cells = " | ".join(f"{sum(v) / len(v):.3f}" for v in by.values())
        print(f"| {name} | {g} | {n} | {cells} |")


if __name__ == "__main__":
    main(sys.argv[1:])
