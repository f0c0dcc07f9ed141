#!/usr/bin/env python3
"""Writes the OCR fixtures under tests/data/ocr/ from real documentation text.

    python3 -m venv /tmp/v && /tmp/v/bin/pip install pillow
    /tmp/v/bin/python scripts/make_ocr_fixtures.py   # needs fonts-noto-cjk, fonts-dejavu

The text is taken, never written by hand: passages of the shipped retrieval
sets tests/data/docs-zh and tests/data/docs-en (real Chinese and English
documentation, see their READMEs). Each passage is typeset onto a white page
with the distribution's fonts and saved as a grey PNG at 300 or 150 dpi,
clean, rotated by a small angle (a page fed askew) or with scanner noise;
truth.jsonl holds the text of each image. Deterministic: a fixed seed picks
the passages and the noise.

It also writes the scan fixtures the ingestion tests read:
  scan-zh.tiff   two pages in one TIFF (a faxed letter)
  scan-zh.png    one page; its text is in truth.jsonl too
"""
import json, random, textwrap, unicodedata
from pathlib import Path
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests/data/ocr"
FONTS = {
    "zh": "/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc",
    "en": "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf",
}
# (dpi, variant) of each image: every language gets each once per passage set.
VARIANTS = [(300, "clean"), (150, "clean"), (300, "rotated"), (300, "noisy")]
PER_LANG = 8


def passages(lang, n, rng):
    rows = [json.loads(l) for l in open(ROOT / f"tests/data/docs-{lang}/corpus.jsonl", encoding="utf-8")]
    out = []
    for r in rng.sample(rows, len(rows)):
        body = " ".join(r["text"].split("\n")[1:]).strip()
        # Plain running text: skip code, tables, and very short passages.
        if len(body) < 120 or any(c in body for c in "{}<>|`$#\\"):
            continue
        limit = 150 if lang == "zh" else 420
        cut = body[:limit]
        end = max(cut.rfind(p) for p in ("。", "！", "？", ". ", "; "))
        out.append(cut[: end + 1].strip() if end > limit // 2 else cut.strip())
        if len(out) == n:
            return out
    raise SystemExit(f"not enough passages in docs-{lang}")


def wrap(text, lang):
    if lang == "zh":
        return [text[i : i + 26] for i in range(0, len(text), 26)]
    return textwrap.wrap(text, 62)


def page(text, lang, dpi, variant, rng):
    scale = dpi / 300
    font = ImageFont.truetype(FONTS[lang], int(42 * scale))
    lines = wrap(text, lang)
    line_h = int(66 * scale)
    w = int(2000 * scale)
    h = int((len(lines) * line_h) + 240 * scale)
    img = Image.new("L", (w, h), 255)
    d = ImageDraw.Draw(img)
    for i, line in enumerate(lines):
        d.text((int(120 * scale), int(120 * scale) + i * line_h), line, font=font, fill=0)
    if variant == "rotated":
        img = img.rotate(rng.choice([-1.5, 1.5, -2.5]), expand=True, fillcolor=255, resample=Image.BICUBIC)
    elif variant == "noisy":
        px = img.load()
        for _ in range(w * h // 60):
            x, y = rng.randrange(w), rng.randrange(h)
            px[x, y] = rng.choice([0, 90, 180])
    return img


def main():
    rng = random.Random(20261205)
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.png"):
        old.unlink()
    truth = []
    for lang in ("zh", "en"):
        texts = passages(lang, PER_LANG, rng)
        for i, text in enumerate(texts):
            dpi, variant = VARIANTS[i % len(VARIANTS)]
            name = f"{lang}-{i:02d}-{dpi}-{variant}.png"
            page(text, lang, dpi, variant, rng).save(OUT / name, dpi=(dpi, dpi), optimize=True)
            truth.append({"file": name, "lang": lang, "dpi": dpi, "variant": variant,
                          "text": unicodedata.normalize("NFC", text)})
    # Scan fixtures for ingestion: a one-page PNG and a two-page TIFF.
    extra = passages("zh", PER_LANG + 3, random.Random(7))[-3:]
    page(extra[0], "zh", 300, "clean", rng).save(OUT / "scan-zh.png", dpi=(300, 300), optimize=True)
    truth.append({"file": "scan-zh.png", "lang": "zh", "dpi": 300, "variant": "fixture", "text": extra[0]})
    pages = [page(t, "zh", 200, "clean", rng).convert("1") for t in extra[1:]]
    pages[0].save(OUT / "scan-zh.tiff", save_all=True, append_images=pages[1:], compression="group4", dpi=(200, 200))
    truth.append({"file": "scan-zh.tiff", "lang": "zh", "dpi": 200, "variant": "fixture", "text": "\n".join(extra[1:])})
    with open(OUT / "truth.jsonl", "w", encoding="utf-8") as f:
        for t in truth:
            f.write(json.dumps(t, ensure_ascii=False) + "\n")
    print(f"wrote {len(truth)} images to {OUT}")


if __name__ == "__main__":
    main()
