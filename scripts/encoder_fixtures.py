#!/usr/bin/env python3
"""Generate reference fixtures for the zhishu-encoders crate.

The Rust crate (services/encoders) must reproduce, without Python, what the
reference Python stack computes.  This script writes the ground truth:

  minilm_embeddings.json        all-MiniLM-L6-v2 (from the offline assets) on
                                50 fixed sentences (25 English, 25 Chinese):
                                token ids + mean-pooled, L2-normalised vectors,
                                computed by sentence-transformers itself.
  tiny-cross-encoder/           tiny random BertForSequenceClassification
  tiny_cross_encoder_scores.json    ... its raw logits on 20 (query, passage) pairs
  tiny-xlmr-cross-encoder/      tiny random XLMRobertaForSequenceClassification
  tiny_xlmr_cross_encoder_scores.json
  tiny-xlmr-embedder/           tiny random XLMRobertaModel, CLS pooling +
                                L2 normalise (the bge-m3 recipe), laid out as a
                                sentence-transformers folder
  tiny_xlmr_embeddings.json     ... its vectors for the same 50 sentences
  VERSIONS.txt                  the Python stack that produced all of the above

The tiny models have random weights (torch.manual_seed(0)) and a small
vocabulary built deterministically from the fixture text, so each
model.safetensors is ~170 KB and can be committed.  Their outputs are
meaningless as relevance scores; they exist to check that the Rust forward pass
(embeddings, attention, pair encoding, token types, XLM-R position ids,
pooling) matches transformers bit-for-bit up to float noise.

Everything is deterministic: running the script twice gives byte-identical
files (torch runs single-threaded, each sentence/pair is encoded alone without
padding, floats are rounded to 7 significant digits, vocabularies are built by
explicit sorting rather than by a trainer with hash-order tie breaks).

How to run (from the repository root; the venv lives outside the repo):

    python3.11 -m venv /work/venv-fixtures
    /work/venv-fixtures/bin/pip install torch==2.15.0 transformers==5.24.0 \\
        sentence-transformers==6.2.0 tokenizers==0.23.3 safetensors==0.8.0
    scripts/fetch-assets.sh            # puts all-MiniLM-L6-v2 in the cache
    /work/venv-fixtures/bin/python scripts/encoder_fixtures.py \\
        [--assets DIR] [--out services/encoders/tests/fixtures]

--assets defaults to ${ZHISHU_ASSETS_DIR:-~/.cache/zhishu/assets}; nothing is
fetched from the network (HF_HUB_OFFLINE=1).
"""

from __future__ import annotations

import os

# Never touch the network; keep tokenizers/torch single-threaded and quiet.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

import argparse
import hashlib
import json
import math
import platform
import shutil
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import safetensors
import sentence_transformers
import tokenizers
import torch
import transformers
from safetensors import safe_open
from sentence_transformers import SentenceTransformer
from tokenizers import Regex, Tokenizer, decoders, models, normalizers
from tokenizers import pre_tokenizers, processors
from transformers import (
    AutoModel,
    AutoModelForSequenceClassification,
    BertConfig,
    BertForSequenceClassification,
    PreTrainedTokenizerFast,
    XLMRobertaConfig,
    XLMRobertaForSequenceClassification,
    XLMRobertaModel,
)

# --------------------------------------------------------------------------
# Fixture text
# --------------------------------------------------------------------------

ENGLISH = [
    "Hello world.",
    "Reset my password",
    "How do I submit an expense report?",
    "The cat sat on the mat.",
    "Error 404: page not found.",
    "Mount Everest is 8,848.86 metres high.",
    "What's the Wi-Fi password for the 3rd-floor meeting room?",
    "Don't forget: the office closes at 6 p.m. on Fridays!",
    "Is the 2023 audit report available in PDF format?",
    "Café, naïve, résumé and Ångström keep their accents only in cased models.",
    "Quick test: a + b = c; x * y / z >= 0.5 (really?) [yes] {no} <maybe> ...",
    "The meeting was moved from Tuesday 10:30 to Wednesday 14:00 (UTC+8).",
    "Tokyo, Paris and New York are among the world's most visited cities.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "Emails like alice@example.com and URLs like https://example.org/docs?id=42 must not crash the tokenizer.",
    "The quarterly revenue grew by 12.5% to $4.3 million in Q3 2024, beating the forecast of $3.9 million.",
    "Please contact IT support at extension 4021 if the VPN disconnects more than twice a day.",
    "Annual leave requests must be approved by your manager at least 5 working days in advance.",
    "CEO's memo: \"We will prioritise customer trust over short-term growth.\"",
    "Machine learning models can be fine-tuned on domain-specific data to improve retrieval accuracy.",
    # ~60 words
    "Travel expenses are reimbursed only when the trip was approved beforehand. "
    "Keep every original receipt, including taxi fares and hotel invoices, and "
    "upload scans to the finance portal within 30 days of returning. Meals are "
    "covered up to 150 yuan per day in mainland China and up to 60 US dollars "
    "per day abroad; alcohol is never reimbursed.",
    # ~80 words
    "If you suspect a security incident, such as a phishing email, a lost laptop "
    "or an unexpected password reset, report it immediately to the security team "
    "through the incident form or by calling the 24-hour hotline. Do not try to "
    "investigate on your own, do not forward suspicious attachments, and do not "
    "power off an affected machine, because memory evidence may be lost. The team "
    "will acknowledge your report within 15 minutes and keep you informed until "
    "the incident is closed.",
    # ~100 words
    "Tang dynasty poetry, written between 618 and 907, is often considered the "
    "golden age of Chinese verse. Poets such as Li Bai, Du Fu and Wang Wei wrote "
    "about friendship, exile, war, wine and the changing seasons. Their regulated "
    "verse follows strict tonal patterns and parallel couplets, yet the best poems "
    "feel effortless. Collections like Three Hundred Tang Poems, compiled in the "
    "eighteenth century, are still memorised by schoolchildren today, and lines "
    "such as 'Before my bed, the bright moonlight' are known to almost everyone "
    "who grew up reading Chinese. Translating them well remains a famous challenge.",
    # ~120 words
    "Welcome to the company! During your first week you will receive a laptop, a "
    "badge and accounts for email, chat, the document library and the expense "
    "system. Please complete the mandatory security and compliance training before "
    "Friday; it takes about two hours and can be paused at any time. Your manager "
    "will schedule a one-to-one meeting to agree on goals for the first 90 days, "
    "and a buddy from a neighbouring team will answer the many small questions "
    "that every newcomer has, such as where to find the printers or how to book a "
    "meeting room. Benefits enrolment closes 30 days after your start date, so "
    "read the handbook carefully, compare the health plans, and ask the HR team "
    "if anything is unclear.",
    "A short one.",
]

CHINESE = [
    "你好，世界！",
    "报销流程 reimbursement",
    "如何重置密码？",
    "天气预报说明天有雨，记得带伞。",
    "请假需要提前五个工作日提交申请。",
    "人工智能正在改变我们的工作方式。",
    "请问会议室的Wi-Fi密码是多少？",
    "床前明月光，疑是地上霜。举头望明月，低头思故乡。",
    "春眠不觉晓，处处闻啼鸟。夜来风雨声，花落知多少。",
    "学而时习之，不亦说乎？有朋自远方来，不亦乐乎？",
    "长江是中国最长的河流，全长约6300公里。",
    "北京、上海、广州和深圳是中国的一线城市。",
    "2024年第三季度营收增长了12.5%，达到430万美元。",
    "公司的VPN在周五晚上10点到12点进行维护。",
    "差旅费用报销需要附上发票原件和行程单。",
    "数据备份每天凌晨3:00自动执行，保留30天。",
    "这个API的响应时间超过了500毫秒，需要优化。",
    "您的订单号为 #A-20240915-0087，预计3天内送达。",
    "知识库搜索 knowledge base search 支持中英文混合查询。",
    "機器學習模型可以在特定領域的數據上進行微調。",
    "新员工入职第一周需要完成安全培训和系统账号申请。",
    "请在OA系统中提交报销单，审批通过后财务会在五个工作日内打款。",
    # ~90 characters
    "差旅报销须在出差结束后三十天内提交。住宿费按城市分级标准执行，一线城市每晚不超过"
    "六百元，其他城市每晚不超过四百元。餐费补助按天计算，超出部分由个人承担，酒水一律不予报销。",
    # ~130 characters
    "信息安全是每位员工的责任。请勿在公共网络上处理涉密文件，离开座位时务必锁定电脑屏幕。"
    "如果收到可疑邮件，不要点击其中的链接或附件，应立即转发给安全团队。发现笔记本电脑丢失，"
    "请在两小时内报告，以便远程擦除数据。所有密码至少十二位，并且每九十天更换一次。",
    # > 256 tokens for the MiniLM tokenizer (one token per CJK character), so
    # truncation at max_seq_length is exercised.
    "知识管理是企业长期发展的基础。一个好的知识库不仅要收集制度文件、技术文档和会议纪要，"
    "还要让员工在需要的时候能够快速找到准确的答案。为此，我们把所有文档切分成段落，"
    "用文本向量模型计算语义向量，再结合关键词检索进行混合排序。对于中文内容，"
    "分词和字符级编码的差异会明显影响检索效果，因此需要在真实问题上反复评估。"
    "用户提出问题之后，系统先召回若干候选段落，再用交叉编码器对问题和段落逐对打分，"
    "最后把得分最高的几段交给语言模型生成回答，并在回答中标注引用来源，方便核对。"
    "为了保护隐私，所有权限检查都在检索阶段完成，员工只能看到自己有权访问的文档。"
    "系统还会记录每一次查询和反馈，管理员可以据此发现知识空白，补充缺失的内容，"
    "并定期清理过期的文件。随着使用时间的增加，知识库会越来越完善，"
    "新员工也能更快地融入团队，老员工的经验得以沉淀和传承。",
]

SENTENCES = ENGLISH + CHINESE

# (query, passage) pairs for the cross-encoders: mixed languages, some related,
# some unrelated, all short enough that no truncation happens (< 128 tokens).
PAIRS = [
    ("How do I reset my password?", "Open the account page and click 'Forgot password' to receive a reset link by email."),
    ("How do I reset my password?", "The cafeteria serves lunch from 11:30 to 13:30."),
    ("如何报销差旅费？", "差旅费用报销需要附上发票原件和行程单。"),
    ("如何报销差旅费？", "床前明月光，疑是地上霜。"),
    ("报销流程 reimbursement", "Submit the expense report in the OA system; finance pays within 5 working days."),
    ("expense reimbursement deadline", "差旅报销须在出差结束后三十天内提交。"),
    ("VPN 断线怎么办", "Please contact IT support at extension 4021 if the VPN disconnects."),
    ("Who wrote 'Quiet Night Thought'?", "《静夜思》是唐代诗人李白的作品。"),
    ("李白", "Li Bai was a Tang dynasty poet."),
    ("annual leave", "Annual leave requests must be approved at least 5 working days in advance."),
    ("年假需要提前多久申请？", "请假需要提前五个工作日提交申请。"),
    ("What is the Wi-Fi password?", "请问会议室的Wi-Fi密码是多少？"),
    ("data backup schedule", "数据备份每天凌晨3:00自动执行，保留30天。"),
    ("API latency", "这个API的响应时间超过了500毫秒，需要优化。"),
    ("security incident", "If you suspect a phishing email, report it immediately to the security team."),
    ("信息安全", "The quarterly revenue grew by 12.5% to $4.3 million."),
    ("onboarding first week", "During your first week you will receive a laptop, a badge and accounts."),
    ("新员工入职", "新员工入职第一周需要完成安全培训和系统账号申请。"),
    ("a", "b"),
    ("Mount Everest height", "Mount Everest is 8,848.86 metres high."),
]

TINY_DIMS = dict(
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=64,
    hidden_act="gelu",
)
TINY_MAX_TOKENS = 128  # longest input (incl. special tokens) of the tiny models
TINY_VOCAB_TARGET = 600  # approximate vocabulary size of the tiny tokenizers
# Larger than BERT's default 0.02 so attention is far from uniform and the
# outputs depend strongly on every weight, token type and position.
TINY_INIT_RANGE = 0.2


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def r7(x: float) -> float:
    """Round to 7 significant digits (what f32 can honestly carry)."""
    v = float(f"{float(x):.7g}")
    return 0.0 if v == 0.0 else v  # no "-0.0" in the JSON


def dump_json(obj, path: Path) -> None:
    """Write JSON readably but compactly: lists of numbers (and lists nested
    in lists, such as pairs) on one line, everything else one item per line."""

    def enc(o, indent: int, in_list: bool) -> str:
        pad, pad1 = " " * indent, " " * (indent + 1)
        if isinstance(o, dict):
            items = [f"{pad1}{json.dumps(k)}: {enc(v, indent + 1, False)}" for k, v in o.items()]
            return "{\n" + ",\n".join(items) + "\n" + pad + "}"
        if isinstance(o, (list, tuple)):
            scalar = all(not isinstance(i, (list, tuple, dict)) for i in o)
            numeric = all(isinstance(i, (int, float)) for i in o)
            if scalar and (numeric or in_list):
                return json.dumps(list(o), ensure_ascii=False, separators=(",", ":"))
            items = [pad1 + enc(i, indent + 1, True) for i in o]
            return "[\n" + ",\n".join(items) + "\n" + pad + "]"
        return json.dumps(o, ensure_ascii=False)

    path.write_text(enc(obj, 0, False) + "\n", encoding="utf-8")


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def tensor_layout(path: Path) -> list[str]:
    """'name dtype shape' for every tensor of a safetensors file, sorted."""
    out = []
    with safe_open(str(path), "pt") as f:
        for k in sorted(f.keys()):
            t = f.get_slice(k)
            out.append(f"{k} {t.get_dtype()} {list(t.get_shape())}")
    return out


def perturb_(model: torch.nn.Module, seed: int) -> None:
    """Give biases and LayerNorm parameters random values too.

    transformers initialises biases to 0 and LayerNorm to (1, 0); a Rust
    loader that forgot a bias or swapped gamma/beta would then still match.
    """
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if "LayerNorm" in name and name.endswith(".weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith(".bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))


def corpus_words(pre: pre_tokenizers.PreTokenizer, norm: normalizers.Normalizer) -> Counter:
    """Word counts of all fixture text under a tokenizer's normalizer and pre-tokenizer."""
    texts = SENTENCES + [t for pair in PAIRS for t in pair]
    words: Counter = Counter()
    for t in texts:
        for w, _ in pre.pre_tokenize_str(norm.normalize_str(t)):
            words[w] += 1
    return words


# --------------------------------------------------------------------------
# Tiny tokenizers (built deterministically from the fixture text)
# --------------------------------------------------------------------------


def build_wordpiece_tokenizer() -> Tokenizer:
    """A BERT-style uncased WordPiece tokenizer with ~TINY_VOCAB_TARGET tokens.

    Vocabulary: the 5 BERT specials, every character seen (as a word start and,
    where it occurs inside words, as a '##' continuation), then the most
    frequent multi-character words and '##' suffixes.  Ties are broken by the
    string, so the vocabulary never depends on hash order.  Characters outside
    the vocabulary (none here, but rare CJK in other input) map to [UNK].
    """
    norm = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True
    )
    pre = pre_tokenizers.BertPreTokenizer()
    words = corpus_words(pre, norm)

    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    starts, conts, suffixes = Counter(), Counter(), Counter()
    for w, n in words.items():
        starts[w[0]] += n
        for c in w[1:]:
            conts["##" + c] += n
        for k in (2, 3, 4):
            if len(w) > k + 1:
                suffixes["##" + w[-k:]] += n

    def by_freq(c: Counter) -> list[str]:
        return [k for k, _ in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))]

    vocab = specials + sorted(starts) + sorted(conts)
    budget = TINY_VOCAB_TARGET - len(vocab)
    multi = by_freq(Counter({w: n for w, n in words.items() if len(w) > 1}))
    extra = multi[: budget * 3 // 4]
    extra += [s for s in by_freq(suffixes) if s not in extra][: budget - len(extra)]
    for tok in extra:
        if tok not in vocab:
            vocab.append(tok)

    tok = Tokenizer(
        models.WordPiece(
            {t: i for i, t in enumerate(vocab)},
            unk_token="[UNK]",
            max_input_chars_per_word=100,
        )
    )
    tok.normalizer = norm
    tok.pre_tokenizer = pre
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0",
        pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", vocab.index("[CLS]")), ("[SEP]", vocab.index("[SEP]"))],
    )
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.add_special_tokens(specials)
    return tok


def build_unigram_tokenizer() -> Tokenizer:
    """An XLM-R-style SentencePiece Unigram tokenizer with ~TINY_VOCAB_TARGET pieces.

    Same shape as xlm-roberta-base / bge-m3 tokenizer.json: ids 0-3 are
    <s> <pad> </s> <unk>, <mask> is last, Metaspace ('▁') pre-tokenizer,
    RobertaProcessing post-processor (<s> A </s></s> B </s>, all type ids 0).
    The real normalizer is a precompiled SentencePiece charsmap (NFKC-like);
    plain NFKC stands in for it.  Pieces: every character and the most frequent
    '▁word' pieces and CJK bigrams, scored log(count / total), ties broken by
    the string.
    """
    norm = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    pre = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    words = corpus_words(pre, norm)

    chars, pieces = Counter(), Counter()
    for w, n in words.items():
        for c in w:
            chars[c] += n
        if len(w) > 1 and w[1:].isascii() and w[1:].isalnum():
            pieces[w] += n  # '▁word'
        for a, b in zip(w, w[1:]):
            if not a.isascii() and not b.isascii() and a.isalnum() and b.isalnum():
                pieces[a + b] += n  # CJK bigram
    del chars["▁"]

    budget = TINY_VOCAB_TARGET - 5 - 1 - len(chars)
    top = sorted(pieces.items(), key=lambda kv: (-kv[1], kv[0]))[:budget]
    total = float(sum(chars.values()) + words.total() + sum(n for _, n in top))

    def score(n: int) -> float:
        return round(math.log(n / total), 4)

    vocab = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab.append(("▁", score(words.total())))
    vocab += [(c, score(n)) for c, n in sorted(chars.items())]
    # Multi-character pieces get a bonus so that they win over spelling out.
    vocab += [(p, score(n) + 1.0) for p, n in top]
    vocab.append(("<mask>", 0.0))

    tok = Tokenizer(models.Unigram(vocab, unk_id=3, byte_fallback=False))
    tok.normalizer = norm
    tok.pre_tokenizer = pre
    tok.post_processor = processors.RobertaProcessing(
        ("</s>", 2), ("<s>", 0), trim_offsets=True, add_prefix_space=True
    )
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    return tok


def save_tokenizer(tok: Tokenizer, folder: Path, specials: dict) -> None:
    """Save tokenizer.json + tokenizer_config.json the way transformers does."""
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, model_max_length=TINY_MAX_TOKENS, **specials
    )
    fast.save_pretrained(str(folder))
    # transformers 5 writes its own class name "TokenizersBackend", which 4.x
    # cannot load; the generic fast class loads tokenizer.json as-is in both.
    cfg_path = folder / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    dump_json(cfg, cfg_path)


def encode(tok: Tokenizer, a: str, b: str | None = None, max_len: int = TINY_MAX_TOKENS):
    """Encode one sentence or pair, truncated to max_len, no padding."""
    t = Tokenizer.from_str(tok.to_str())
    t.no_padding()
    t.enable_truncation(max_len)
    return t.encode(a, b) if b is not None else t.encode(a)


def forward_ids(enc, with_types: bool) -> dict:
    ids = torch.tensor([enc.ids])
    inputs = {"input_ids": ids, "attention_mask": torch.ones_like(ids)}
    if with_types:
        inputs["token_type_ids"] = torch.tensor([enc.type_ids])
    return inputs


# --------------------------------------------------------------------------
# (a) all-MiniLM-L6-v2 reference embeddings
# --------------------------------------------------------------------------


def minilm_fixture(assets: Path, out: Path) -> dict:
    folder = assets / "models" / "all-MiniLM-L6-v2"
    if not (folder / "model.safetensors").is_file():
        sys.exit(f"missing {folder}/model.safetensors: run scripts/fetch-assets.sh first")

    st = SentenceTransformer(str(folder), device="cpu")
    st.eval()
    max_len = st.max_seq_length
    assert max_len == 256, max_len

    # The model's own pipeline: Transformer -> mean Pooling -> Normalize.
    # batch_size=1: each sentence alone, no padding, as a single Rust call.
    emb = st.encode(SENTENCES, batch_size=1, convert_to_numpy=True, show_progress_bar=False)
    assert emb.shape == (len(SENTENCES), 384), emb.shape

    # Token ids as sentence-transformers feeds them to the model.
    input_ids = [st.preprocess([s])["input_ids"][0].tolist() for s in SENTENCES]

    # Cross-check 1: the tokenizers library on tokenizer.json (what the Rust
    # `tokenizers` crate loads). NB the file itself carries truncation 128 and
    # padding to a fixed 128; the Rust side must override both, like here.
    raw = Tokenizer.from_file(str(folder / "tokenizer.json"))
    raw.no_padding()
    raw.enable_truncation(max_len)
    for s, ids in zip(SENTENCES, input_ids):
        assert raw.encode(s).ids == ids, s
    raw.no_truncation()
    untruncated = [len(raw.encode(s).ids) for s in SENTENCES]
    assert max(untruncated) > max_len, "no sentence exercises truncation"

    # Cross-check 2: plain transformers + hand-written mean pooling.
    bert = AutoModel.from_pretrained(str(folder)).eval()
    with torch.no_grad():
        for i, ids in enumerate(input_ids):
            t = torch.tensor([ids])
            h = bert(input_ids=t, attention_mask=torch.ones_like(t),
                     token_type_ids=torch.zeros_like(t)).last_hidden_state[0]
            v = h.mean(0)
            v = v / v.norm()
            assert np.abs(v.numpy() - emb[i]).max() < 1e-5, i

    data = {
        "model": "all-MiniLM-L6-v2",
        "max_seq_length": max_len,
        "normalize": True,
        "pooling": "mean",
        "note": "input_ids: no padding, truncation at max_seq_length; the model's "
        "tokenizer.json itself carries truncation 128 and Fixed(128) padding, override both",
        "sentences": SENTENCES,
        "input_ids": input_ids,
        "untruncated_lengths": untruncated,
        "embeddings": [[r7(x) for x in row] for row in emb.tolist()],
    }
    dump_json(data, out / "minilm_embeddings.json")
    return {
        "first5": data["embeddings"][0][:5],
        "layout": tensor_layout(folder / "model.safetensors"),
        "sha256": sha256(folder / "model.safetensors"),
        "untruncated_max": max(untruncated),
    }


# --------------------------------------------------------------------------
# (b) tiny random cross-encoders and embedder
# --------------------------------------------------------------------------


def score_pairs(model, tok: Tokenizer, with_types: bool) -> dict:
    scores, ids, types = [], [], []
    with torch.no_grad():
        for q, p in PAIRS:
            enc = encode(tok, q, p)
            assert len(enc.ids) < TINY_MAX_TOKENS, (q, p)  # no truncation in pairs
            logits = model(**forward_ids(enc, with_types)).logits
            assert logits.shape == (1, 1)
            scores.append(float(logits[0, 0]))
            ids.append(enc.ids)
            types.append(enc.type_ids)
    return {"scores": scores, "input_ids": ids, "token_type_ids": types}


def check_reload(folder: Path, tok: Tokenizer, result: dict, with_types: bool) -> None:
    """The saved folder, loaded back by transformers, gives the same ids and logits."""
    model = AutoModelForSequenceClassification.from_pretrained(str(folder)).eval()
    fast = PreTrainedTokenizerFast.from_pretrained(str(folder))
    again = score_pairs(model, tok, with_types)
    assert again["scores"] == result["scores"]
    for (q, p), ids in zip(PAIRS, result["input_ids"]):
        assert fast(q, p)["input_ids"] == ids, (q, p)


def tiny_bert_cross_encoder(out: Path) -> dict:
    tok = build_wordpiece_tokenizer()
    vocab = tok.get_vocab()
    config = BertConfig(
        vocab_size=tok.get_vocab_size(),
        max_position_embeddings=TINY_MAX_TOKENS,
        type_vocab_size=2,
        num_labels=1,
        pad_token_id=vocab["[PAD]"],
        initializer_range=TINY_INIT_RANGE,
        architectures=["BertForSequenceClassification"],
        **TINY_DIMS,
    )
    torch.manual_seed(0)
    model = BertForSequenceClassification(config)
    perturb_(model, seed=1)
    model.eval()

    folder = out / "tiny-cross-encoder"
    model.save_pretrained(str(folder))
    save_tokenizer(tok, folder, dict(unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]",
                                     cls_token="[CLS]", mask_token="[MASK]"))

    res = score_pairs(model, tok, with_types=True)
    check_reload(folder, tok, res, with_types=True)
    dump_json(
        {
            "model": "tiny-cross-encoder",
            "architecture": "BertForSequenceClassification",
            "max_length": TINY_MAX_TOKENS,
            "pairs": [list(p) for p in PAIRS],
            "scores": [r7(s) for s in res["scores"]],
            "input_ids": res["input_ids"],
            "token_type_ids": res["token_type_ids"],
        },
        out / "tiny_cross_encoder_scores.json",
    )
    return {"folder": folder, "vocab": tok.get_vocab_size(), "scores": res["scores"]}


def xlmr_config(tok: Tokenizer, **extra) -> XLMRobertaConfig:
    vocab = tok.get_vocab()
    return XLMRobertaConfig(
        vocab_size=tok.get_vocab_size(),
        # XLM-R positions start at padding_idx + 1 = 2, so 128 tokens need 130
        # rows (xlm-roberta-base: 514 for 512 tokens).
        max_position_embeddings=TINY_MAX_TOKENS + 2,
        type_vocab_size=1,
        layer_norm_eps=1e-5,
        pad_token_id=vocab["<pad>"],
        bos_token_id=vocab["<s>"],
        eos_token_id=vocab["</s>"],
        initializer_range=TINY_INIT_RANGE,
        **TINY_DIMS,
        **extra,
    )


XLMR_SPECIALS = dict(bos_token="<s>", eos_token="</s>", unk_token="<unk>", sep_token="</s>",
                     pad_token="<pad>", cls_token="<s>", mask_token="<mask>")


def tiny_xlmr_cross_encoder(out: Path, tok: Tokenizer) -> dict:
    config = xlmr_config(tok, num_labels=1, architectures=["XLMRobertaForSequenceClassification"])
    torch.manual_seed(0)
    model = XLMRobertaForSequenceClassification(config)
    perturb_(model, seed=1)
    model.eval()

    folder = out / "tiny-xlmr-cross-encoder"
    model.save_pretrained(str(folder))
    save_tokenizer(tok, folder, XLMR_SPECIALS)

    res = score_pairs(model, tok, with_types=False)
    check_reload(folder, tok, res, with_types=False)
    dump_json(
        {
            "model": "tiny-xlmr-cross-encoder",
            "architecture": "XLMRobertaForSequenceClassification",
            "max_length": TINY_MAX_TOKENS,
            "pairs": [list(p) for p in PAIRS],
            "scores": [r7(s) for s in res["scores"]],
            "input_ids": res["input_ids"],
            "token_type_ids": res["token_type_ids"],
        },
        out / "tiny_xlmr_cross_encoder_scores.json",
    )
    return {"folder": folder, "vocab": tok.get_vocab_size(), "scores": res["scores"]}


def tiny_xlmr_embedder(out: Path, tok: Tokenizer) -> dict:
    config = xlmr_config(tok, architectures=["XLMRobertaModel"])
    torch.manual_seed(0)
    model = XLMRobertaModel(config)
    perturb_(model, seed=1)
    model.eval()

    folder = out / "tiny-xlmr-embedder"
    model.save_pretrained(str(folder))
    save_tokenizer(tok, folder, XLMR_SPECIALS)
    # sentence-transformers layout of bge-m3: Transformer -> CLS Pooling -> Normalize.
    dump_json(
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
        folder / "modules.json",
    )
    (folder / "1_Pooling").mkdir(exist_ok=True)
    dump_json(
        {
            "word_embedding_dimension": TINY_DIMS["hidden_size"],
            "pooling_mode_cls_token": True,
            "pooling_mode_mean_tokens": False,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
        },
        folder / "1_Pooling" / "config.json",
    )
    dump_json({"max_seq_length": TINY_MAX_TOKENS, "do_lower_case": False},
              folder / "sentence_bert_config.json")

    # Reference: HF model, CLS token of last_hidden_state, L2 normalised.
    # The long sentences are truncated to TINY_MAX_TOKENS.
    ids_all, embs, untruncated = [], [], []
    with torch.no_grad():
        for s in SENTENCES:
            enc = encode(tok, s)
            h = model(**forward_ids(enc, with_types=False)).last_hidden_state[0, 0]
            embs.append((h / h.norm()).tolist())
            ids_all.append(enc.ids)
            untruncated.append(len(encode(tok, s, max_len=10**6).ids))
    assert max(untruncated) > TINY_MAX_TOKENS, "no sentence exercises truncation"

    # Cross-check: sentence-transformers loading the folder gives the same vectors.
    st = SentenceTransformer(str(folder), device="cpu")
    st_emb = st.encode(SENTENCES, batch_size=1, convert_to_numpy=True, show_progress_bar=False)
    assert np.abs(st_emb - np.array(embs)).max() < 1e-5

    dump_json(
        {
            "model": "tiny-xlmr-embedder",
            "architecture": "XLMRobertaModel",
            "max_seq_length": TINY_MAX_TOKENS,
            "normalize": True,
            "pooling": "cls",
            "sentences": SENTENCES,
            "input_ids": ids_all,
            "untruncated_lengths": untruncated,
            "embeddings": [[r7(x) for x in row] for row in embs],
        },
        out / "tiny_xlmr_embeddings.json",
    )
    return {"folder": folder, "vocab": tok.get_vocab_size(), "first5": [r7(x) for x in embs[0][:5]]}


# --------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------


def write_versions(out: Path, minilm_sha: str) -> None:
    lines = [
        "# Produced by scripts/encoder_fixtures.py with:",
        f"python {platform.python_version()}",
        f"torch {torch.__version__}",
        f"transformers {transformers.__version__}",
        f"sentence-transformers {sentence_transformers.__version__}",
        f"tokenizers {tokenizers.__version__}",
        f"safetensors {safetensors.__version__}",
        f"numpy {np.__version__}",
        f"all-MiniLM-L6-v2 model.safetensors sha256 {minilm_sha}",
        "torch threads 1, CPU, float32, batch size 1 (no padding)",
    ]
    (out / "VERSIONS.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")


def main() -> None:
    here = Path(__file__).resolve().parent.parent
    default_assets = os.environ.get("ZHISHU_ASSETS_DIR") or str(
        Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "zhishu" / "assets"
    )
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--assets", default=default_assets, help="offline assets dir (default: %(default)s)")
    ap.add_argument("--out", default=str(here / "services/encoders/tests/fixtures"),
                    help="fixtures output dir (default: %(default)s)")
    args = ap.parse_args()

    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    transformers.logging.set_verbosity_error()

    assets, out = Path(args.assets).expanduser(), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # Start the tiny model folders afresh so no stale file survives.
    for name in ("tiny-cross-encoder", "tiny-xlmr-cross-encoder", "tiny-xlmr-embedder"):
        shutil.rmtree(out / name, ignore_errors=True)

    mini = minilm_fixture(assets, out)
    bert = tiny_bert_cross_encoder(out)
    uni = build_unigram_tokenizer()
    xce = tiny_xlmr_cross_encoder(out, uni)
    xem = tiny_xlmr_embedder(out, uni)
    write_versions(out, mini["sha256"])

    # ---- summary ----
    print(f"fixtures in {out}")
    for p in sorted(out.rglob("*")):
        if p.is_file():
            print(f"  {p.stat().st_size:>9,d}  {p.relative_to(out)}")
    total = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    print(f"  {total:>9,d}  total")
    print(f"MiniLM: {len(SENTENCES)} sentences, longest untruncated {mini['untruncated_max']} tokens")
    print(f"MiniLM first embedding [:5]: {mini['first5']}")
    print(f"MiniLM tensors ({len(mini['layout'])}): first {mini['layout'][0]!r}")
    for r, name in ((bert, "tiny BERT cross-encoder"), (xce, "tiny XLM-R cross-encoder")):
        s = r["scores"]
        print(f"{name}: vocab {r['vocab']}, scores min {min(s):.4f} max {max(s):.4f}")
    print(f"tiny XLM-R embedder: vocab {xem['vocab']}, first embedding [:5] {xem['first5']}")
    for r in (bert, xce, xem):
        print(f"tensors of {r['folder'].name}:")
        for line in tensor_layout(r["folder"] / "model.safetensors"):
            print(f"    {line}")


if __name__ == "__main__":
    main()
