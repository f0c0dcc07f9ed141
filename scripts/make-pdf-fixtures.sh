#!/usr/bin/env bash
# Typesets the PDF fixtures in tests/data/pdf/ from their .tex sources with
# XeLaTeX and the standard Chinese TeX toolchain (ctex, xdvipdfmx, Fandol
# CID fonts): the kind of Chinese PDF the pure-Rust reader could not read.
#
#   apt-get install texlive-xetex texlive-lang-chinese qpdf   # astral.tex: lm-math (with texlive)
#   ./scripts/make-pdf-fixtures.sh
#
# mixed-scan.tex includes tests/data/ocr/scan-zh.png (scripts/make_ocr_fixtures.py).
# policy-zh-rotated.pdf is policy-zh.pdf with its first page turned a quarter
# clockwise (/Rotate 90) and its second upside down (180), as scanners and
# editors leave pages; tables-zh-rotated.pdf turns tables-zh.pdf's pages by
# 270, 90 and 180 degrees.
# The PDFs are committed; the tests need no TeX.
set -euo pipefail
cd "$(dirname "$0")/../tests/data/pdf"
command -v xelatex >/dev/null || { echo "xelatex not found: apt-get install texlive-xetex texlive-lang-chinese" >&2; exit 1; }
for tex in *.tex; do
  name=${tex%.tex}
  # SOURCE_DATE_EPOCH: the same bytes on every run. Twice, as LaTeX needs
  # for a longtable's column widths (the second run uses the first's).
  for run in 1 2; do
    SOURCE_DATE_EPOCH=1764892800 xelatex -interaction=nonstopmode -halt-on-error "$tex" >/dev/null \
      || { echo "xelatex failed on $tex (see $name.log)" >&2; exit 1; }
  done
  rm -f "$name.aux" "$name.log" "$name.out"
  echo "wrote tests/data/pdf/$name.pdf"
done
command -v qpdf >/dev/null || { echo "qpdf not found: apt-get install qpdf" >&2; exit 1; }
qpdf --deterministic-id --rotate=+90:1 --rotate=+180:2 policy-zh.pdf policy-zh-rotated.pdf
echo "wrote tests/data/pdf/policy-zh-rotated.pdf"
qpdf --deterministic-id --rotate=+270:1 --rotate=+90:2 --rotate=+180:3 tables-zh.pdf tables-zh-rotated.pdf
echo "wrote tests/data/pdf/tables-zh-rotated.pdf"
