#!/usr/bin/env python3
"""Build the real-documentation Chinese retrieval evaluation set (docs-zh).

Writes a BEIR-format dataset whose corpus is real Simplified-Chinese product
documentation taken from Debian packages, one corpus document per HTML page,
for `zhishu eval --dataset tests/data/docs-zh`:

  tests/data/docs-zh/corpus.jsonl     {"_id", "title", "text"} per line
  tests/data/docs-zh/queries.jsonl    {"_id", "text", "kind"} per line
  tests/data/docs-zh/qrels/test.tsv   query-id <TAB> corpus-id <TAB> score
  tests/data/docs-zh/README.md        sources, licences, counts, baseline

The hand-written questions live in tests/data/docs-zh/questions.jsonl (the only
input file that is edited by hand): one JSON object per line with "_id",
"text", "kind", "answer" and "relevant" (list of corpus ids).  "answer" is a
short verbatim snippet (5-40 characters) of the text of each relevant page, or
a list with one snippet per relevant page (same order) where the pages word
the answer differently; the build fails if a snippet is not found (after
whitespace normalisation) in its page, so every judgement is checked against
the text.

How the corpus is made
----------------------
1. `apt-get download PACKAGE=VERSION` for the pinned packages below (into a
   temporary folder, or --debs DIR to keep and reuse them), SHA-256 checked.
2. `dpkg-deb -x` each package.
3. Each selected HTML page is converted to plain text with html.parser:
   <head>, <script>, <style>, navigation headers/footers, tables of contents,
   page chrome (LibreOffice's header/side bars/footer), the macOS/Windows/Unix
   variants of system-specific LibreOffice text (the default variant is kept)
   and LibreOffice's trailing "related topics" links are dropped; block
   elements become line breaks, other whitespace collapses to one space, and a
   line wrap of the HTML source between two CJK characters is removed (as a
   browser shows Chinese).  <pre> keeps its lines.
4. A page is kept if its text has at least MIN_CHARS characters, is not an
   index/TOC page (over half of its text is link text), is not licence text,
   and is mostly Chinese (CJK share, see zh_share(), at least the source's
   threshold): most of the GIMP manual in gimp-help-zh-cn is still English.

Everything is deterministic (sorted walks, no randomness); standard library
only.  Running it twice gives byte-identical files.

Usage (from the repository root):

    python3 scripts/make_docs_eval_zh.py [--out DIR] [--debs DIR] [--check]
                                         [--show-misses] [--list-pages]

--check additionally runs a small pure-Python whole-page BM25 (k1=1.2,
b=0.75; Chinese as character bigrams, Latin as lowercased words) and prints
nDCG@10 / Recall@10 / MRR@10 per query kind: the baseline a real retriever
must beat.  The same table is written into README.md on every run.
"""

from __future__ import annotations

import argparse
import hashlib
import html.parser
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field

MIN_CHARS = 200
KINDS = ["zh-question", "zh-keyword", "zh-mixed", "en-to-zh"]
MAX_QUESTIONS_PER_PAGE = 2
ANSWER_MIN, ANSWER_MAX = 5, 40


@dataclass
class Source:
    """One Debian package and the pages taken from it."""

    key: str  # prefix of the corpus ids
    package: str
    version: str
    sha256: str
    licence: str
    root: str  # folder inside the package that holds the HTML pages
    include: list  # regexes on the path relative to root; a page must match one
    exclude: list = field(default_factory=list)  # regexes; licence text, ...
    min_zh: float = 0.6  # minimum zh_share()
    suffix: str = ".html"  # stripped from the path to make the id
    kind: str = "docbook"  # docbook | libreoffice
    about: str = ""


SOURCES = [
    Source(
        key="gimp",
        package="gimp-help-zh-cn",
        version="2.10.34-2",
        sha256="4b2c2c8c0e92dde4d278d668e0ae83fd3731ef1e717d76240ae60339b703efda",
        licence="GFDL-1.2 (GNU Free Documentation License)",
        root="usr/share/gimp/2.0/help/zh_CN",
        include=[r"^[^/]+\.html$"],
        exclude=[r"^gfdl", r"^legal\.html$"],
        min_zh=0.5,
        about="GIMP 2.10 user manual",
    ),
    Source(
        key="debref",
        package="debian-reference-zh-cn",
        version="2.100",
        sha256="6d2d8d9a646397e28b04cdff23d2e4374101ebf9be348e35961af62c8a2d0977",
        licence="GPL-2+",
        root="usr/share/debian-reference",
        include=[r"^(ch\d\d|apa|pr01)\.zh-cn\.html$"],
        suffix=".zh-cn.html",
        about="Debian Reference (one page per chapter)",
    ),
    Source(
        key="maintguide",
        package="maint-guide-zh-cn",
        version="1.2.53",
        sha256="d605b60a034f63857bc44205aed5ad7ba6e17d0d2b1ba5e79179b4e7ec4ee4bc",
        licence="GPL-2+",
        root="usr/share/doc/maint-guide-zh-cn/html",
        include=[r"^[a-z]+\.zh-cn\.html$"],
        suffix=".zh-cn.html",
        about="Debian New Maintainers' Guide (one page per chapter)",
    ),
    Source(
        key="debfaq",
        package="debian-faq-zh-cn",
        version="11.1",
        sha256="3545356b1aa04d87e91dd15e8406210cf5b4f476662e597897bcb42234591758",
        licence="Debian FAQ permission notice (verbatim and modified copies allowed, notice preserved)",
        root="usr/share/doc/debian/FAQ/zh-cn",
        include=[r"^[a-z-]+\.zh-cn\.html$"],
        exclude=[r"^index\."],
        suffix=".zh-cn.html",
        about="Debian GNU/Linux FAQ (one page per chapter)",
    ),
    Source(
        key="install",
        package="installation-guide-amd64",
        version="20230508+deb12u1",
        sha256="812c43e1dc906daf671e3efe953dc023205c238e5bd5a3021ce4ca142793573a",
        licence="GPL-2",
        root="usr/share/doc/installation-guide-amd64/zh_CN",
        include=[r"^(ch|ap)[0-9a-z]+\.html$", r"^pr01\.html$"],
        exclude=[r"^apf\.html$"],  # the GPL text
        about="Debian 12 installation guide for amd64, zh_CN (one page per section)",
    ),
    Source(
        key="lo",
        package="libreoffice-help-zh-cn",
        version="4:7.4.7-1+deb12u14",
        sha256="db867cdece4c2f9c7eebe65e519c6cf386fdcf49d6e061db3dffec893b3e1dee",
        licence="MPL-2.0 (parts Apache-2.0)",
        root="usr/share/libreoffice/help/zh-CN/text",
        include=[
            r"^(shared|swriter|scalc|simpress|sdraw)/guide/[^/]+\.html$",
            r"^shared/optionen/[^/]+\.html$",
        ],
        kind="libreoffice",
        about="LibreOffice 7.4 help: the how-to guides of Writer, Calc, Impress, "
              "Draw and the shared ones, and the Tools > Options pages",
    ),
]

# --------------------------------------------------------------------------
# HTML to text

BLOCK = {
    "address", "article", "blockquote", "br", "caption", "dd", "div", "dl", "dt",
    "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "li", "ol",
    "p", "pre", "section", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul",
}
CELL = {"td", "th"}
VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
        "param", "source", "track", "wbr"}
SKIP_TAGS = {"head", "script", "style", "noscript", "header", "footer", "aside", "nav",
             "button"}
SKIP_CLASSES = {"navheader", "navfooter", "toc", "list-of-tables", "list-of-figures",
                "list-of-examples", "breadcrumbs", "relatedtopics", "noteicon",
                "MAC", "WIN", "UNIX"}
SKIP_IDS = {"TopLeftHeader", "SearchFrame", "DonationFrame", "DEBUG"}
CJK_CLASS = "\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f"
PRE_NL = "\x00"  # a line break inside <pre>
WRAP = "\x01"  # whitespace with a line break in the HTML source (a wrapped line)
WRAP_BETWEEN_CJK = re.compile(r"(?<=[%s])[ \x01]*\x01[ \x01]*(?=[%s])" % (CJK_CLASS, CJK_CLASS))


class PageParser(html.parser.HTMLParser):
    """Collects title, first <h1>, the body text and how much of it is link text."""

    def __init__(self, kind):
        super().__init__(convert_charrefs=True)
        self.kind = kind
        self.out = []
        self.stack = []  # (tag, skips[, "link"]) of the open elements
        self.skip = 0
        self.pre = 0
        self.link = 0
        self.link_chars = 0
        self.title_parts = []
        self.in_title = False
        self.h1_parts = None
        self.in_h1 = False
        self.stopped = False  # LibreOffice: everything after "related topics"

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        classes = set((a.get("class") or "").split())
        if tag == "title":
            self.in_title = True
        if self.kind == "libreoffice" and "related" in classes and tag == "p":
            self.stopped = True
        skips = (tag in SKIP_TAGS or bool(classes & SKIP_CLASSES)
                 or a.get("id") in SKIP_IDS)
        if tag not in VOID:
            self.stack.append((tag, skips))
            if skips:
                self.skip += 1
            if tag == "pre":
                self.pre += 1
            if tag == "a" and a.get("href"):
                self.link += 1
                self.stack[-1] = (tag, skips, "link")
            if tag == "h1" and self.h1_parts is None:
                self.in_h1 = True
                self.h1_parts = []
        if tag in BLOCK:
            self.out.append("\n")

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag):
        if tag == "title":
            self.in_title = False
        if tag == "h1":
            self.in_h1 = False
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                for entry in self.stack[i:]:
                    if entry[1]:
                        self.skip -= 1
                    if entry[0] == "pre":
                        self.pre -= 1
                    if len(entry) == 3:
                        self.link -= 1
                del self.stack[i:]
                break
        if tag in BLOCK:
            self.out.append("\n")
        if tag in CELL:
            self.out.append(" ")

    def handle_data(self, data):
        if self.in_title:
            self.title_parts.append(data)
            return
        if self.skip or self.stopped:
            return
        if self.in_h1:
            self.h1_parts.append(data)
        if self.pre:
            text = data.replace("\r\n", "\n").replace("\n", PRE_NL)
        else:
            text = re.sub(r"\s+", lambda m: WRAP if "\n" in m.group() else " ", data)
        if self.link:
            self.link_chars += len(text.strip())
        self.out.append(text)


def clean_line(line):
    """One output line: a wrapped line joins without a space between two CJK
    characters (as a browser shows Chinese), other whitespace becomes one space."""
    line = WRAP_BETWEEN_CJK.sub("", line)
    return re.sub(r"[ \t\u00a0\u3000\x01]+", " ", line).strip()


def html_to_text(raw, kind):
    """Returns (title, text, link_share) of one HTML page."""
    p = PageParser(kind)
    p.feed(raw)
    p.close()
    lines = []
    for block in "".join(p.out).split("\n"):
        for line in block.split(PRE_NL):
            line = clean_line(line)
            if line:
                lines.append(line)
    text = "\n".join(lines)
    title = clean_line(re.sub(r"\s+", " ", "".join(p.title_parts)))
    if not title and p.h1_parts:
        title = clean_line("".join(p.h1_parts))
    link_share = p.link_chars / max(1, len(text))
    return title, text, link_share


def zh_share(text):
    """CJK characters against CJK characters plus two per Latin word.

    A Latin word carries about as much as two Chinese characters, so a fully
    translated page with commands and file names still scores about 0.6-0.9,
    and an untranslated page near 0."""
    cjk = len(re.findall(r"[\u4e00-\u9fff]", text))
    latin = len(re.findall(r"[A-Za-z]+", text))
    return cjk / (cjk + 2 * latin) if cjk + latin else 0.0


# --------------------------------------------------------------------------
# Packages


def fetch_package(src, cache):
    """Downloads (unless already there) and checks one pinned .deb; returns (path, sha256)."""
    os.makedirs(cache, exist_ok=True)
    # apt-get download writes the epoch's colon as %3a
    name = f"{src.package}_{src.version.replace(':', '%3a')}_all.deb"
    path = os.path.join(cache, name)
    if not os.path.exists(path):
        cmd = ["apt-get", "download", f"{src.package}={src.version}"]
        res = subprocess.run(cmd, cwd=cache, capture_output=True, text=True)
        if res.returncode != 0 or not os.path.exists(path):
            sys.exit(f"`{' '.join(cmd)}` failed (run `apt-get update` first?):\n{res.stderr}")
    with open(path, "rb") as fh:
        digest = hashlib.sha256(fh.read()).hexdigest()
    if digest != src.sha256:
        sys.exit(f"{path}: sha256 {digest}, expected {src.sha256}")
    return path, digest


def extract(deb, dest):
    res = subprocess.run(["dpkg-deb", "-x", deb, dest], capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"dpkg-deb -x {deb} failed:\n{res.stderr}")


def page_id(src, rel):
    stem = rel[: -len(src.suffix)] if rel.endswith(src.suffix) else rel
    stem = stem.replace("/guide/", "/").replace("shared/optionen/", "options/")
    return f"{src.key}/{stem}"


def collect_pages(src, tree):
    """All pages of one extracted package: (kept, dropped) lists of dicts."""
    root = os.path.join(tree, src.root)
    if not os.path.isdir(root):
        sys.exit(f"{src.package}: {src.root} is not in the package")
    kept, dropped = [], []
    paths = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for f in sorted(filenames):
            rel = os.path.relpath(os.path.join(dirpath, f), root).replace(os.sep, "/")
            if any(re.search(r, rel) for r in src.include):
                paths.append(rel)
    for rel in sorted(paths):
        with open(os.path.join(root, rel), encoding="utf-8") as fh:
            title, text, link_share = html_to_text(fh.read(), src.kind)
        row = {"_id": page_id(src, rel), "title": title, "text": text}
        share = zh_share(text)
        why = None
        if any(re.search(r, rel) for r in src.exclude):
            why = "excluded (licence text or index)"
        elif len(text) < MIN_CHARS:
            why = f"short ({len(text)} chars)"
        elif link_share > 0.5:
            why = f"index/TOC page ({link_share:.0%} link text)"
        elif share < src.min_zh:
            why = f"mostly English (zh share {share:.2f})"
        info = {"path": rel, "zh": round(share, 2), "why": why, **row}
        (dropped if why else kept).append(info)
    ids = [p["_id"] for p in kept]
    assert len(ids) == len(set(ids)), f"{src.key}: duplicate ids"
    return kept, dropped


def build_corpus(cache):
    corpus, report = [], []
    with tempfile.TemporaryDirectory(prefix="docs-zh-") as tmp:
        for src in SOURCES:
            deb, _ = fetch_package(src, cache or os.path.join(tmp, "debs"))
            tree = os.path.join(tmp, src.key)
            extract(deb, tree)
            kept, dropped = collect_pages(src, tree)
            shutil.rmtree(tree)
            corpus.extend({"_id": p["_id"], "title": p["title"], "text": p["text"]} for p in kept)
            report.append((src, kept, dropped))
    return corpus, report


# --------------------------------------------------------------------------
# Questions

CJK = re.compile(r"[\u4e00-\u9fff]")
LATIN = re.compile(r"[A-Za-z]")
LATIN_WORD = re.compile(r"[A-Za-z]+")
# Names a Chinese speaker writes in Latin letters anyway; any other Latin word
# makes a query zh-mixed.
PRODUCT_NAMES = {"GIMP", "Debian", "LibreOffice", "Linux", "U"}  # U: U 盘


def norm(s):
    return re.sub(r"\s+", " ", s).strip()


def load_questions(path, corpus):
    text_of = {d["_id"]: norm(d["title"] + "\n" + d["text"]) for d in corpus}
    questions, errors = [], []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                q = json.loads(line)
            except json.JSONDecodeError as e:
                errors.append(f"{path}:{n}: {e}")
                continue
            questions.append((n, q))
    seen, uses = set(), {}
    for n, q in questions:
        where = f"{os.path.basename(path)}:{n} ({q.get('_id')})"
        if set(q) != {"_id", "text", "kind", "answer", "relevant"}:
            errors.append(f"{where}: fields must be _id, text, kind, answer, relevant")
            continue
        if q["kind"] not in KINDS:
            errors.append(f"{where}: unknown kind {q['kind']!r}")
        if not q["_id"].startswith(q["kind"] + "-"):
            errors.append(f"{where}: _id must start with the kind")
        if q["_id"] in seen:
            errors.append(f"{where}: duplicate _id")
        seen.add(q["_id"])
        t = q["text"]
        if q["kind"] in ("zh-question", "zh-keyword"):
            latin = [w for w in LATIN_WORD.findall(t) if w not in PRODUCT_NAMES]
            if latin or not CJK.search(t):
                errors.append(f"{where}: a {q['kind']} query must be Chinese "
                              f"(Latin only in product names), found {latin}")
        if q["kind"] == "zh-mixed" and not (LATIN.search(t) and CJK.search(t)):
            errors.append(f"{where}: a zh-mixed query needs Chinese and Latin")
        if q["kind"] == "en-to-zh" and CJK.search(t):
            errors.append(f"{where}: an en-to-zh query must be English")
        rel = q["relevant"]
        if not isinstance(rel, list) or not rel or len(rel) != len(set(rel)):
            errors.append(f"{where}: relevant must be a non-empty list without repeats")
            continue
        # one snippet for all relevant pages, or one per page (same order) when
        # the pages word the answer differently
        answers = q["answer"] if isinstance(q["answer"], list) else [q["answer"]] * len(rel)
        if len(answers) != len(rel):
            errors.append(f"{where}: a list answer needs one snippet per relevant page")
            continue
        for did, answer in zip(rel, answers):
            ans = norm(answer)
            if not ANSWER_MIN <= len(ans) <= ANSWER_MAX:
                errors.append(f"{where}: answer {answer!r} must be "
                              f"{ANSWER_MIN}-{ANSWER_MAX} characters")
            if did not in text_of:
                errors.append(f"{where}: {did} is not in the corpus")
                continue
            if ans not in text_of[did]:
                errors.append(f"{where}: answer {answer!r} not found in {did}")
            uses[did] = uses.get(did, 0) + 1
        if any(len(norm(t)) >= 8 and norm(t) in text_of.get(d, "") for d in rel):
            errors.append(f"{where}: the question is copied verbatim from the page")
    for did, c in sorted(uses.items()):
        if c > MAX_QUESTIONS_PER_PAGE:
            errors.append(f"{did} is relevant to {c} questions (at most {MAX_QUESTIONS_PER_PAGE})")
    if errors:
        sys.exit("questions.jsonl is not valid:\n  " + "\n  ".join(errors))
    return [q for _, q in questions]


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


# --------------------------------------------------------------------------
# BM25 baseline: whole pages, character bigrams (Chinese) + lowercased words

# The synthetic set's baseline tokenizer: character bigrams for Chinese runs,
# lowercased Latin words without English stop words.
from make_eval_set import tokenize  # noqa: E402


def bm25_rank(corpus, queries, k1=1.2, b=0.75, top=10):
    n = len(corpus)
    lengths, postings = [], {}
    for i, d in enumerate(corpus):
        toks = tokenize(d["title"] + "\n" + d["text"])
        lengths.append(len(toks))
        tf = {}
        for t in toks:
            tf[t] = tf.get(t, 0) + 1
        for t, f in tf.items():
            postings.setdefault(t, []).append((i, f))
    avgdl = sum(lengths) / n
    runs = {}
    for q in queries:
        scores = {}
        for t in tokenize(q["text"]):
            plist = postings.get(t)
            if not plist:
                continue
            idf = math.log(1 + (n - len(plist) + 0.5) / (len(plist) + 0.5))
            for i, f in plist:
                norm_ = k1 * (1 - b + b * lengths[i] / avgdl)
                scores[i] = scores.get(i, 0.0) + idf * f * (k1 + 1) / (f + norm_)
        ranked = sorted(scores.items(), key=lambda x: (-x[1], corpus[x[0]]["_id"]))
        runs[q["_id"]] = [corpus[i]["_id"] for i, _ in ranked[:top]]
    return runs


def evaluate(queries, qrels, runs, k=10):
    rel = {}
    for qid, did, score in qrels:
        rel.setdefault(qid, {})[did] = score
    per_kind = {}
    for q in queries:
        r, ranked = rel[q["_id"]], runs.get(q["_id"], [])[:k]
        dcg = sum(r.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked))
        ideal = sorted(r.values(), reverse=True)[:k]
        idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
        recall = sum(1 for d in ranked if d in r) / len(r)
        mrr = next((1 / (i + 1) for i, d in enumerate(ranked) if d in r), 0.0)
        for key in (q["kind"], "all"):
            per_kind.setdefault(key, []).append((dcg / idcg, recall, mrr))
    table = {}
    for key in KINDS + ["all"]:
        rows = per_kind.get(key, [])
        table[key] = tuple(sum(x[i] for x in rows) / max(1, len(rows)) for i in range(3)) + (len(rows),)
    return table


def format_table(table):
    lines = ["| kind | queries | nDCG@10 | Recall@10 | MRR@10 |", "|---|---:|---:|---:|---:|"]
    for key in KINDS + ["all"]:
        ndcg, rec, mrr, n = table[key]
        lines.append(f"| {key} | {n} | {ndcg:.3f} | {rec:.3f} | {mrr:.3f} |")
    return "\n".join(lines)


# --------------------------------------------------------------------------
# README

README_HEAD = """\
# docs-zh: real Chinese documentation retrieval evaluation set

Generated by `scripts/make_docs_eval_zh.py` (Python standard library, plus
`apt-get download` and `dpkg-deb`); do not edit the generated files by hand.
The only hand-written input is `questions.jsonl`. To rebuild:

    apt-get update                                # once, so the pinned versions are known
    python3 scripts/make_docs_eval_zh.py          # rewrites this folder (except questions.jsonl)
    python3 scripts/make_docs_eval_zh.py --check  # also prints the BM25 baseline

BEIR layout, so any BEIR loader and `zhishu eval --dataset tests/data/docs-zh`
read it:

- `corpus.jsonl`: `{{"_id", "title", "text"}}`, {n_docs} documents, {corpus_bytes} bytes.
  **Each document is one whole documentation page** (an HTML page converted to
  plain text, one paragraph / list item / table row per line), so the product
  under test chunks it itself and is scored at document level. Pages range
  from {min_chars} to {max_chars} characters (median {med_chars}).
- `queries.jsonl`: `{{"_id", "text", "kind"}}`, {n_queries} queries; `kind` is also
  the prefix of `_id`.
- `qrels/test.tsv`: `query-id<TAB>corpus-id<TAB>score` with a header line,
  {n_qrels} pairs, all score 1 (binary relevance).
- `questions.jsonl`: the hand-written source of the two files above:
  `{{"_id", "text", "kind", "answer", "relevant"}}`.

## Sources

Real Simplified-Chinese product documentation from Debian 12 (bookworm)
packages, downloaded with `apt-get download PACKAGE=VERSION` (pinned below, and
SHA-256 checked by the script) and unpacked with `dpkg-deb -x`. No man pages
and nothing from PostgreSQL is used (those are held out for acceptance tests).

| id prefix | package | version | licence | pages kept | what |
|---|---|---|---|---:|---|
{source_rows}

Licences: the GIMP manual is under the GNU Free Documentation License 1.2;
Debian Reference and the New Maintainers' Guide are GPL-2+; the Debian
installation guide is GPL-2; the LibreOffice help is MPL-2.0 (some files
incorporate Apache-2.0 material); the Debian FAQ carries this notice:

> Copyright (C) 1996-2003 Software in the Public Interest.
> Permission is granted to make and distribute verbatim copies of this document
> provided the copyright notice and this permission notice are preserved on all
> copies. Permission is granted to copy and distribute modified versions of this
> document under the conditions for verbatim copying, provided that the entire
> resulting derived work is distributed under the terms of a permission notice
> identical to this one. Permission is granted to copy and distribute
> translations of this document into another language, under the above
> conditions for modified versions, except that this permission notice may be
> included in translations approved by the Free Software Foundation instead of
> in the original English.

The texts here are format conversions of those pages (HTML to plain text,
navigation removed); the copyright of the content stays with its authors.

**Why not only GIMP:** `gimp-help-zh-cn` {gimp_version} ships {gimp_total} pages, but
almost all of them are still the English text: only {gimp_kept} pages (the "GIMP
history" appendix) are mostly Chinese besides the GNU FDL pages, which are
licence text. So the set adds the other Simplified-Chinese product manuals
that Debian packages: Debian Reference, the New Maintainers' Guide, the
Debian FAQ and the Debian installation guide, and the LibreOffice help, which, like the GIMP manual, is an end-user product manual with one page
per topic, and is translated.

## Which pages

From each package the pages matching the source's path patterns (see
`SOURCES` in the script) are converted; a page is dropped when its text is
shorter than {min_keep} characters, when it is an index / table-of-contents page
(over half of its text is link text), when it is licence text, or when it is
mostly English (share of CJK characters against CJK characters plus two per
Latin word below 0.5 for GIMP, 0.6 for the others). Per package:

| package | HTML pages matched | kept | too short | TOC | English | excluded |
|---|---:|---:|---:|---:|---:|---:|
{drop_rows}

The conversion drops `<head>`, scripts and styles, DocBook navigation headers,
footers and tables of contents, LibreOffice's page chrome (header, side bars,
debug footer), its trailing "related topics" links and the macOS variants of
system-specific menu paths (the default variant, e.g. 工具 - 选项, is kept).
Ids are derived from the page path: `gimp/gimp-introduction-history-2-4`,
`debref/ch02`, `maintguide/dreq`, `debfaq/pkg-basics`, `install/ch06s03`,
`lo/swriter/text_centervert` (LibreOffice `guide/` dropped),
`lo/options/01040200` (`shared/optionen/`).

## Questions

Written by hand after reading the pages, each answerable by its page. Every
question has an `answer`: a short snippet (5-40 characters) copied verbatim
from its relevant page, or a list with one snippet per relevant page where the
pages word the answer differently; the script fails unless each snippet occurs
(after whitespace normalisation) in its page, so **every** judgement is
checked against the page text ({n_multi_answer} questions use a list). A question is judged
relevant to every page that actually answers it (found by searching the
corpus for the answer and the key terms), not to pages that merely mention its
words. No page is relevant to more than {max_per_page} questions (counting every
judgement, not only the page a question was written from); {n_pages_used} different
pages are used.

| kind | queries | with 2+ relevant pages | what |
|---|---:|---:|---|
{kind_rows}

By source of the relevant pages:

| source | queries |
|---|---:|
{by_source_rows}

Relevance was checked by grepping the corpus for each answer snippet and for
the key terms, and by reading the top BM25 pages of every question. Pages that
only mention the topic, or answer a narrower case, are not judged relevant:
e.g. the installation guide's "set the package to hold in aptitude" remark
(no how-to) for the question on pinning a package version, Debian Reference's
remote-shutdown-over-SSH section for the general shutdown question, or the
installer's swap size for low-memory mode for the general swap size question.
Where a how-to page and an options page both say where a setting is (macro
recording, print data reduction, automatic captions, table column behaviour,
two-digit years), both are relevant.

Hard cases are deliberate: many pages share the topic words, and only one
answers. Examples: freezing the header row while scrolling (`lo/scalc/line_fix`)
vs. repeating it on every printed page (`lo/scalc/print_title_row`); merging
broken lines of pasted text in Writer (`lo/swriter/removing_line_breaks`) vs.
converting file line endings (`debref/ch11`); turning word completion off
(`lo/swriter/word_completion`) vs. tuning it (`lo/swriter/word_completion_adjust`)
vs. Calc's AutoInput (`lo/scalc/auto_off`); "page X of Y" in a footer
(`lo/swriter/footer_pagenumber`) vs. conditional "page/pages" text
(`lo/swriter/conditional_text2`); saving as HTML from Writer vs. from Calc;
merging reviewers' copies vs. comparing versions; rehearsed timings vs. a
looping kiosk show; `dpkg-divert`, which Debian Reference names but only the
FAQ explains. The Debian chapters (Debian Reference is one page per chapter,
3-51 thousand characters) answer many things each, so a question on them has
to be found inside a long page.

## Sanity baseline

A 50-line whole-page BM25 (k1=1.2, b=0.75; Chinese as character bigrams,
Latin as lowercased words, a few English stop words; title + text indexed),
as printed by `--check`. This is the baseline the product must beat; it is not
the product's retriever. English queries are not hopeless for it because the
Chinese pages keep commands, file names and product terms in Latin letters
(gdb, MTU, systemd, LibreOffice, ...), and some LibreOffice pages still have an
untranslated English sentence.

{table}
"""

KIND_WHAT = {
    "zh-question": "natural Chinese questions in the asker's own words (how-to, what-is, "
                   "where-is-the-setting, why)",
    "zh-keyword": "short Chinese keyword queries",
    "zh-mixed": "Chinese with the English / Latin term as people type it",
    "en-to-zh": "English questions answered by a Chinese page (cross-lingual)",
}


def readme(corpus, queries, qrels, report, table, n_multi_answer):
    sizes = sorted(len(d["text"]) for d in corpus)
    rel = {}
    for qid, did, _ in qrels:
        rel.setdefault(qid, []).append(did)
    source_rows, drop_rows = [], []
    gimp_total = gimp_kept = 0
    gimp_version = ""
    for src, kept, dropped in report:
        source_rows.append(f"| `{src.key}/` | `{src.package}` | `{src.version}` | {src.licence} | "
                           f"{len(kept)} | {src.about} |")
        cnt = {"short": 0, "index/TOC": 0, "mostly English": 0, "excluded": 0}
        for p in dropped:
            for k in cnt:
                if p["why"].startswith(k):
                    cnt[k] += 1
        drop_rows.append(f"| `{src.package}` | {len(kept) + len(dropped)} | {len(kept)} | "
                         f"{cnt['short']} | {cnt['index/TOC']} | {cnt['mostly English']} | "
                         f"{cnt['excluded']} |")
        if src.key == "gimp":
            gimp_total, gimp_kept, gimp_version = len(kept) + len(dropped), len(kept), src.version
    kind_rows = []
    for k in KINDS:
        qs = [q for q in queries if q["kind"] == k]
        multi = sum(1 for q in qs if len(rel[q["_id"]]) > 1)
        kind_rows.append(f"| {k} | {len(qs)} | {multi} | {KIND_WHAT[k]} |")
    kind_rows.append(f"| all | {len(queries)} | "
                     f"{sum(1 for q in queries if len(rel[q['_id']]) > 1)} | |")
    by_source = {}
    for q in queries:
        for key in sorted({d.split('/')[0] for d in rel[q["_id"]]}):
            by_source[key] = by_source.get(key, 0) + 1
    by_source_rows = [f"| `{s.key}/` | {by_source.get(s.key, 0)} |" for s, _, _ in report]
    used = {d for _, d, _ in qrels}
    corpus_bytes = sum(len((json.dumps(d, ensure_ascii=False) + "\n").encode()) for d in corpus)
    return README_HEAD.format(
        n_docs=len(corpus), corpus_bytes=corpus_bytes, min_chars=sizes[0], max_chars=sizes[-1],
        med_chars=sizes[len(sizes) // 2], n_queries=len(queries), n_qrels=len(qrels),
        source_rows="\n".join(source_rows), drop_rows="\n".join(drop_rows),
        gimp_total=gimp_total, gimp_kept=gimp_kept, gimp_version=gimp_version,
        min_keep=MIN_CHARS, kind_rows="\n".join(kind_rows), max_per_page=MAX_QUESTIONS_PER_PAGE,
        n_pages_used=len(used), n_multi_answer=n_multi_answer, by_source_rows="\n".join(by_source_rows),
        table=format_table(table))


# --------------------------------------------------------------------------


def main():
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=os.path.join(repo, "tests", "data", "docs-zh"))
    ap.add_argument("--debs", "--cache", dest="cache",
                    help="keep (and reuse) the downloaded .deb files in this folder")
    ap.add_argument("--check", action="store_true", help="print the BM25 baseline per kind")
    ap.add_argument("--show-misses", action="store_true",
                    help="with --check: list queries with no relevant page in the BM25 top 10")
    ap.add_argument("--list-pages", action="store_true",
                    help="print every page with its zh share and why it was dropped")
    args = ap.parse_args()

    corpus, report = build_corpus(args.cache)
    if args.list_pages:
        for src, kept, dropped in report:
            for p in sorted(kept + dropped, key=lambda p: p["path"]):
                print(f"{src.key:10} {p['zh']:.2f} {len(p['text']):6d} "
                      f"{'DROP ' + p['why'] if p['why'] else 'keep'}  {p['_id']}  {p['title']}")
    qpath = os.path.join(args.out, "questions.jsonl")
    questions = load_questions(qpath, corpus)
    queries = [{"_id": q["_id"], "text": q["text"], "kind": q["kind"]} for q in questions]
    qrels = [(q["_id"], d, 1) for q in questions for d in q["relevant"]]

    os.makedirs(os.path.join(args.out, "qrels"), exist_ok=True)
    write_jsonl(os.path.join(args.out, "corpus.jsonl"), corpus)
    write_jsonl(os.path.join(args.out, "queries.jsonl"), queries)
    with open(os.path.join(args.out, "qrels", "test.tsv"), "w", encoding="utf-8", newline="\n") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        for qid, did, score in qrels:
            fh.write(f"{qid}\t{did}\t{score}\n")
    runs = bm25_rank(corpus, queries)
    table = evaluate(queries, qrels, runs)
    with open(os.path.join(args.out, "README.md"), "w", encoding="utf-8", newline="\n") as fh:
        fh.write(readme(corpus, queries, qrels, report, table,
                         sum(isinstance(q["answer"], list) for q in questions)))

    size = os.path.getsize(os.path.join(args.out, "corpus.jsonl"))
    print(f"corpus: {len(corpus)} pages, {size} bytes; queries: {len(queries)}; qrels: {len(qrels)}")
    for src, kept, dropped in report:
        print(f"  {src.package} {src.version}: {len(kept)} kept, {len(dropped)} dropped")
    print("queries by kind: " + ", ".join(
        f"{k} {sum(1 for q in queries if q['kind'] == k)}" for k in KINDS))
    if args.check:
        print()
        print("BM25 baseline (whole pages; char bigrams for Chinese, lowercased words for Latin):")
        print(format_table(table))
        if args.show_misses:
            rel = {}
            for qid, did, _ in qrels:
                rel.setdefault(qid, set()).add(did)
            for q in queries:
                ranked = runs.get(q["_id"], [])
                if not rel[q["_id"]] & set(ranked):
                    print(f"  miss {q['_id']}: {q['text']}  [want {', '.join(sorted(rel[q['_id']]))};"
                          f" top1 {ranked[0] if ranked else '-'}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
