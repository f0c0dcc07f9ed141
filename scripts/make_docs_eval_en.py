#!/usr/bin/env python3
"""Build the English documentation retrieval evaluation set (tests/data/docs-en).

A BEIR-format dataset whose corpus is real product documentation, one
document per HTML page, with hand-written, hand-judged questions:

  tests/data/docs-en/corpus.jsonl     {"_id", "title", "text"} per line
  tests/data/docs-en/queries.jsonl    {"_id", "text", "kind"} per line
  tests/data/docs-en/qrels/test.tsv   query-id <TAB> corpus-id <TAB> score
  tests/data/docs-en/questions.jsonl  INPUT, hand-written (never rewritten)

Sources (Debian bookworm packages, pinned to exact versions and SHA-256):

  gimp-help-en     2.10.34-2     the GIMP user manual (GFDL-1.2+)
  debian-handbook  11.20220922   The Debian Administrator's Handbook, en-US
                                 part only (GPL-2+ or CC-BY-SA-3.0)

The .debs are fetched with `apt-get download <pkg>=<version>` into a
temporary directory (or --debs DIR, which is kept and reused), checked
against the pinned SHA-256 and unpacked with `dpkg-deb -x`.  Each chosen HTML
page becomes one corpus document: title from <title> (leading section numbers
such as "3.3." or "Chapter 6." removed), text = the page body as plain text
with one line per block (paragraph, list item, heading, table row, line of a
<pre>), without the navigation header/footer, tables of contents, scripts
and styles.  Pages whose text is under MIN_CHARS characters (table-of-contents
and stub pages) are dropped, as are the licence, index, glossary and
bibliography pages (see SKIP_*).  `_id` is "gimp/<file stem>" or
"handbook/<file stem without 'sect.'>".

Questions (questions.jsonl, one object per line) carry "_id", "text", "kind"
(en-question, en-keyword, zh-to-en), "relevant" (corpus ids, all judged
score 1) and "answer": a short verbatim snippet (5-60 characters) of the
answer; the build fails unless the snippet occurs (whitespace-normalised)
in the text of EVERY relevant page.  "answer" may also be a list with one
snippet per relevant page, in the same order, for questions whose relevant
pages word the answer differently.  No page may be relevant to more than
MAX_PER_PAGE questions.

Usage (from the repository root; needs apt-get and dpkg-deb, no cargo):

    python3 scripts/make_docs_eval_en.py [--out DIR] [--debs DIR] [--check]

--check additionally runs a whole-page BM25 baseline (k1=1.2, b=0.75,
lowercased words, no stemming, title + text) and prints nDCG@10 / Recall@10
/ MRR@10 per query kind and overall.  The counts table (always) and the
baseline table (with --check) are also written into README.md, between the
<!-- counts:start/end --> and <!-- baseline:start/end --> markers.

Standard library only; deterministic (files are sorted, output is
byte-identical between runs).
"""

from __future__ import annotations

import argparse
import hashlib
import html
import json
import math
import os
import re
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from html.parser import HTMLParser

PACKAGES = [
    # (package, version, sha256 of the .deb, html dir inside, id prefix)
    (
        "gimp-help-en",
        "2.10.34-2",
        "a2deec76763aaf2fcdd197bac0736cdcb0770ba993d48d233329e1c92b0bfe36",
        "usr/share/gimp/2.0/help/en",
        "gimp",
    ),
    (
        "debian-handbook",
        "11.20220922",
        "3d5dbeac1f1afc9c094eab9d0f701f6ecff99c4927d5a4794cf6c85678134faa",
        "usr/share/doc/debian-handbook/html/en-US",
        "handbook",
    ),
]

MIN_CHARS = 400  # below this a page is a stub: a title, a menu path, a figure caption
MAX_PER_PAGE = 2
KINDS = ["en-question", "en-keyword", "zh-to-en"]
MIN_QUESTIONS = 170

# Pages that are not product documentation or are lists rather than pages.
SKIP_FILES = {
    "gimp": {
        "index.html",  # title page + table of contents
        "gimp-help-index.html",  # the book index
        "glossary.html",  # one 120 KB list of definitions
        "bibliography.html",  # list of links
        "legal.html",  # GFDL
        "help-missing.html",  # "Eeek! There is missing help"
    },
    "handbook": {
        "index.html",  # title page + table of contents
        # front matter about the book itself, not about Debian
        "foreword.html",
        "preface.html",
        "sect.acknowledgments.html",
        "sect.who-is-this-book-for.html",
        "sect.book-structure.html",
        "sect.future-of-this-book.html",
    },
}
SKIP_PREFIXES = {
    "gimp": (
        "gfdl-",  # the GFDL, one section per page
        "apcs",  # appendix on how the manual itself is written (XML workflow)
    ),
    "handbook": (),
}

CJK = re.compile(r"[\u3400-\u9fff]")

# ---------------------------------------------------------------- HTML → text

BLOCK = {
    "address", "article", "aside", "blockquote", "body", "br", "caption",
    "dd", "div", "dl", "dt", "figcaption", "figure", "footer", "h1", "h2",
    "h3", "h4", "h5", "h6", "header", "hr", "html", "li", "ol", "p", "pre",
    "section", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
}
# Elements whose content is dropped entirely.
DROP_TAGS = {"script", "style", "head", "noscript"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link",
        "meta", "param", "source", "track", "wbr"}


def _dropped(tag, attrs):
    """Navigation and table-of-contents containers (DocBook XSL, publican)."""
    a = dict(attrs)
    classes = set((a.get("class") or "").split())
    if tag in DROP_TAGS:
        return True
    if classes & {"navheader", "navfooter", "toc", "docnav", "list-of-figures",
                  "list-of-tables", "list-of-examples"}:
        return True
    if a.get("id") in {"banner", "title"} and tag in {"div", "p"}:
        return True  # publican's banner and logo bar
    if tag == "a" and "reportbug" in classes:
        return True
    return False


class PageParser(HTMLParser):
    """Collects <title>, the first <h1> and the body text, one line per block."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.title = None
        self.h1 = None
        self._in_title = False
        self._title_buf = []
        self._h1_buf = None
        self._stack = []  # open elements: (tag, dropped)
        self._drop = 0  # depth of dropped elements
        self._pre = 0
        self.lines = []
        self._cur = []

    # line handling
    def _flush(self):
        if self._pre:
            text = "".join(self._cur)
            for ln in text.split("\n"):
                ln = ln.rstrip().expandtabs(8)
                if ln.strip():
                    self.lines.append(ln)
        else:
            text = re.sub(r"\s+", " ", "".join(self._cur)).strip()
            if text:
                self.lines.append(text)
        self._cur = []

    def handle_starttag(self, tag, attrs):
        if tag == "title" and self.title is None:
            self._in_title = True
        if tag in VOID:
            if not self._drop and tag in BLOCK:
                self._flush()
            return
        dropped = _dropped(tag, attrs)
        self._stack.append((tag, dropped))
        if dropped:
            self._drop += 1
            return
        if self._drop:
            return
        if tag in BLOCK:
            self._flush()
        if tag == "pre":
            self._pre += 1
        if tag == "h1" and self.h1 is None and self._h1_buf is None:
            self._h1_buf = []

    def handle_startendtag(self, tag, attrs):
        if tag in BLOCK and not self._drop:
            self._flush()

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False
            if self.title is None:
                self.title = re.sub(r"\s+", " ", "".join(self._title_buf)).strip()
        if tag in VOID:
            return
        # pop to the matching open element (tolerates unclosed inline tags)
        idx = None
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                idx = i
                break
        if idx is None:
            return
        closing = self._stack[idx:]
        del self._stack[idx:]
        was_dropping = self._drop > 0
        for t, dropped in reversed(closing):
            if dropped:
                self._drop -= 1
            elif not was_dropping:
                if t in BLOCK:
                    self._flush()
                if t == "pre":
                    self._pre -= 1
                if t == "h1" and self._h1_buf is not None and self.h1 is None:
                    self.h1 = re.sub(r"\s+", " ", "".join(self._h1_buf)).strip()
                    self._h1_buf = None

    def handle_data(self, data):
        if self._in_title:
            self._title_buf.append(data)
        if self._drop:
            return
        self._cur.append(data)
        if self._h1_buf is not None:
            self._h1_buf.append(data)

    def close(self):
        super().close()
        self._flush()


TITLE_NUMBER = re.compile(
    r"^(?:(?:Chapter|Appendix|Part)\s+[0-9A-Z]+\.?\s+|(?:[0-9]+|[A-Z]\.[0-9]+)(?:\.[0-9]+)*\.\s+)"
)


def clean_title(t):
    """Drops the section number: '3.3. Gaussian Blur' -> 'Gaussian Blur'."""
    t = re.sub(r"\s+", " ", html.unescape(t or "")).strip()
    return TITLE_NUMBER.sub("", t, count=1).strip() or t


def page_to_doc(path):
    with open(path, "r", encoding="utf-8") as f:
        raw = f.read()
    p = PageParser()
    p.feed(raw)
    p.close()
    title = clean_title(p.title or p.h1 or "")
    text = "\n".join(p.lines)
    # Typographic no-break spaces and the like: plain spaces, so snippets match.
    text = text.replace("\u00a0", " ").replace("\u200b", "")
    title = title.replace("\u00a0", " ")
    return title, text


# ---------------------------------------------------------------- sources


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fetch_and_extract(debs_dir, root):
    """Downloads (unless present) and unpacks every pinned package under root."""
    for pkg, ver, digest, _, _ in PACKAGES:
        deb = os.path.join(debs_dir, f"{pkg}_{ver.replace(':', '%3a')}_all.deb")
        if not (os.path.exists(deb) and sha256(deb) == digest):
            print(f"apt-get download {pkg}={ver}", file=sys.stderr)
            subprocess.run(["apt-get", "download", f"{pkg}={ver}"], cwd=debs_dir, check=True)
        got = sha256(deb)
        if got != digest:
            sys.exit(f"{deb}: sha256 {got}, expected {digest}")
        subprocess.run(["dpkg-deb", "-x", deb, root], check=True)


def build_corpus(root):
    corpus = []
    dropped_short = []
    for pkg, _ver, _digest, sub, prefix in PACKAGES:
        base = os.path.join(root, sub)
        names = sorted(n for n in os.listdir(base) if n.endswith(".html"))
        for name in names:
            if name in SKIP_FILES[prefix] or name.startswith(SKIP_PREFIXES[prefix]):
                continue
            stem = name[: -len(".html")]
            if prefix == "handbook" and stem.startswith("sect."):
                stem = stem[len("sect."):]
            did = f"{prefix}/{stem}"
            title, text = page_to_doc(os.path.join(base, name))
            if len(text) < MIN_CHARS:
                dropped_short.append(did)
                continue
            corpus.append({"_id": did, "title": title, "text": text})
    ids = [d["_id"] for d in corpus]
    assert len(ids) == len(set(ids)), "duplicate corpus ids"
    return corpus, dropped_short


# ---------------------------------------------------------------- questions


def norm_ws(s):
    return re.sub(r"\s+", " ", s).strip()


def load_questions(path, corpus):
    by_id = {d["_id"]: d for d in corpus}
    norm_text = {d["_id"]: norm_ws(d["text"]) for d in corpus}
    questions = []
    errors = []
    seen = set()
    seen_text = set()
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                q = json.loads(line)
            except json.JSONDecodeError as e:
                errors.append(f"line {n}: {e}")
                continue
            where = f"line {n} ({q.get('_id')})"
            for key in ("_id", "text", "kind", "answer", "relevant"):
                if key not in q:
                    errors.append(f"{where}: missing {key!r}")
            if any(k not in q for k in ("_id", "text", "kind", "answer", "relevant")):
                continue
            if q["_id"] in seen:
                errors.append(f"{where}: duplicate _id")
            seen.add(q["_id"])
            if norm_ws(q["text"]).lower() in seen_text:
                errors.append(f"{where}: duplicate question text")
            seen_text.add(norm_ws(q["text"]).lower())
            if q["kind"] not in KINDS:
                errors.append(f"{where}: kind {q['kind']!r} not in {KINDS}")
            if not q["_id"].startswith(q["kind"] + "-"):
                errors.append(f"{where}: _id must start with the kind")
            has_cjk = bool(CJK.search(q["text"]))
            if (q["kind"] == "zh-to-en") != has_cjk:
                errors.append(f"{where}: zh-to-en queries must be Chinese, the others English")
            rel = q["relevant"]
            if not rel or len(rel) != len(set(rel)):
                errors.append(f"{where}: 'relevant' must be a non-empty list without repeats")
                continue
            answers = q["answer"] if isinstance(q["answer"], list) else [q["answer"]] * len(rel)
            if len(answers) != len(rel):
                errors.append(f"{where}: 'answer' list must have one snippet per relevant page")
                continue
            for did, snippet in zip(rel, answers):
                if did not in by_id:
                    errors.append(f"{where}: unknown page {did}")
                    continue
                if not 5 <= len(snippet) <= 60:
                    errors.append(f"{where}: answer snippet must be 5-60 characters: {snippet!r}")
                if norm_ws(snippet) not in norm_text[did]:
                    errors.append(f"{where}: answer {snippet!r} not found in {did}")
            questions.append(q)
    use = Counter(d for q in questions for d in q["relevant"])
    for did, c in sorted(use.items()):
        if c > MAX_PER_PAGE:
            users = [q["_id"] for q in questions if did in q["relevant"]]
            errors.append(f"page {did} is relevant to {c} questions (max {MAX_PER_PAGE}): {users}")
    if len(questions) < MIN_QUESTIONS:
        errors.append(f"only {len(questions)} questions, need at least {MIN_QUESTIONS}")
    if errors:
        for e in errors:
            print(f"{path}: {e}", file=sys.stderr)
        sys.exit(f"{len(errors)} problem(s) in {path}")
    return questions


# ---------------------------------------------------------------- output


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def write_dataset(out, corpus, questions):
    os.makedirs(os.path.join(out, "qrels"), exist_ok=True)
    write_jsonl(os.path.join(out, "corpus.jsonl"), corpus)
    write_jsonl(
        os.path.join(out, "queries.jsonl"),
        [{"_id": q["_id"], "text": q["text"], "kind": q["kind"]} for q in questions],
    )
    with open(os.path.join(out, "qrels", "test.tsv"), "w", encoding="utf-8", newline="\n") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for q in questions:
            for did in q["relevant"]:
                f.write(f"{q['_id']}\t{did}\t1\n")


# ---------------------------------------------------------------- BM25 baseline

WORD = re.compile(r"[a-z0-9]+")


def tokenize(s):
    return WORD.findall(s.lower())


def bm25_rank(corpus, questions, k1=1.2, b=0.75, top=10):
    docs = [tokenize(d["title"] + "\n" + d["text"]) for d in corpus]
    tfs = [Counter(toks) for toks in docs]
    lens = [len(t) for t in docs]
    avgdl = sum(lens) / len(lens)
    df = Counter()
    for tf in tfs:
        df.update(tf.keys())
    n = len(docs)
    idf = {t: math.log(1 + (n - c + 0.5) / (c + 0.5)) for t, c in df.items()}
    postings = defaultdict(list)
    for i, tf in enumerate(tfs):
        for t, c in tf.items():
            postings[t].append((i, c))
    runs = {}
    for q in questions:
        scores = defaultdict(float)
        for t in tokenize(q["text"]):  # repeated query terms count again
            for i, c in postings.get(t, ()):
                scores[i] += idf[t] * c * (k1 + 1) / (c + k1 * (1 - b + b * lens[i] / avgdl))
        ranked = sorted(scores.items(), key=lambda kv: (-kv[1], corpus[kv[0]]["_id"]))
        runs[q["_id"]] = [corpus[i]["_id"] for i, _ in ranked[:top]]
    return runs


def metrics(ranked, relevant, k=10):
    dcg = sum(1 / math.log2(i + 2) for i, d in enumerate(ranked[:k]) if d in relevant)
    idcg = sum(1 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    found = sum(1 for d in ranked[:k] if d in relevant)
    rr = next((1 / (i + 1) for i, d in enumerate(ranked[:k]) if d in relevant), 0.0)
    return dcg / idcg, found / len(relevant), rr


def evaluate(questions, runs, k=10):
    per = defaultdict(list)
    for q in questions:
        m = metrics(runs[q["_id"]], set(q["relevant"]), k)
        per[q["kind"]].append(m)
        per["all"].append(m)
    table = []
    for kind in KINDS + ["all"]:
        ms = per.get(kind, [])
        if ms:
            table.append((kind, len(ms)) + tuple(sum(m[i] for m in ms) / len(ms) for i in range(3)))
    return table


def format_table(table):
    out = ["| kind | queries | nDCG@10 | Recall@10 | MRR@10 |", "|---|---:|---:|---:|---:|"]
    for kind, n, nd, r, mrr in table:
        out.append(f"| {kind} | {n} | {nd:.3f} | {r:.3f} | {mrr:.3f} |")
    return "\n".join(out)


# ---------------------------------------------------------------- README sections

MAX_CORPUS_BYTES = 5 * 1024 * 1024


def counts_table(corpus, questions, size):
    per_src = Counter(d["_id"].split("/")[0] for d in corpus)
    out = [
        f"Corpus: {len(corpus)} pages, {size} bytes of `corpus.jsonl` "
        f"({', '.join(f'{k} {v}' for k, v in sorted(per_src.items()))}).",
        "",
        "| kind | queries | on gimp pages | on handbook pages | with >1 relevant page |",
        "|---|---:|---:|---:|---:|",
    ]
    for kind in KINDS + ["all"]:
        qs = [q for q in questions if kind in (q["kind"], "all")]
        src = Counter(q["relevant"][0].split("/")[0] for q in qs)
        multi = sum(1 for q in qs if len(q["relevant"]) > 1)
        out.append(f"| {kind} | {len(qs)} | {src['gimp']} | {src['handbook']} | {multi} |")
    judged = {d for q in questions for d in q["relevant"]}
    out += ["", f"{sum(len(q['relevant']) for q in questions)} judgements (qrels lines) "
            f"on {len(judged)} distinct pages."]
    return "\n".join(out)


def update_readme(path, name, body):
    """Replaces the text between <!-- name:start --> and <!-- name:end -->."""
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8") as f:
        text = f.read()
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    i, j = text.find(start), text.find(end)
    if i < 0 or j < i:
        return
    text = text[: i + len(start)] + "\n" + body + "\n" + text[j:]
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(text)


# ---------------------------------------------------------------- main


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.join(os.path.dirname(here), "tests", "data", "docs-en")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=default_out, help="dataset folder (default: %(default)s)")
    ap.add_argument("--debs", help="folder for the downloaded .debs, kept and reused "
                    "(default: a temporary folder)")
    ap.add_argument("--check", action="store_true", help="also print the BM25 baseline")
    ap.add_argument("--misses", action="store_true",
                    help="with --check: list the queries with no relevant page in the BM25 top 10")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="docs-en-") as tmp:
        debs = args.debs or os.path.join(tmp, "debs")
        os.makedirs(debs, exist_ok=True)
        root = os.path.join(tmp, "root")
        os.makedirs(root)
        fetch_and_extract(debs, root)
        corpus, short = build_corpus(root)

    questions = load_questions(os.path.join(args.out, "questions.jsonl"), corpus)
    write_dataset(args.out, corpus, questions)

    size = os.path.getsize(os.path.join(args.out, "corpus.jsonl"))
    if size > MAX_CORPUS_BYTES:
        sys.exit(f"corpus.jsonl is {size} bytes, over the {MAX_CORPUS_BYTES} byte budget")
    readme = os.path.join(args.out, "README.md")
    update_readme(readme, "counts", counts_table(corpus, questions, size))
    per_src = Counter(d["_id"].split("/")[0] for d in corpus)
    kinds = Counter(q["kind"] for q in questions)
    pages_used = len({d for q in questions for d in q["relevant"]})
    print(f"corpus: {len(corpus)} pages ({', '.join(f'{k} {v}' for k, v in sorted(per_src.items()))}), "
          f"{size} bytes; dropped {len(short)} pages under {MIN_CHARS} characters")
    print(f"queries: {len(questions)} ({', '.join(f'{k} {kinds[k]}' for k in KINDS)}), "
          f"{sum(len(q['relevant']) for q in questions)} judgements on {pages_used} pages")

    if args.check:
        runs = bm25_rank(corpus, questions)
        table = format_table(evaluate(questions, runs))
        update_readme(readme, "baseline", table)
        print()
        print(table)
        if args.misses:
            print()
            for q in questions:
                if not set(runs[q["_id"]]) & set(q["relevant"]):
                    print(f"miss {q['_id']}: {q['text']}  ->  {q['relevant']}  got {runs[q['_id']][:3]}")


if __name__ == "__main__":
    main()
