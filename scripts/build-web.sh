#!/usr/bin/env bash
# Builds the web UI (web/) into web/dist, which `zhishu serve` serves and a
# release build embeds. Needs Node.js 20.19+ and npm; installs the exact
# packages of web/package-lock.json.
#
#   ./scripts/build-web.sh
set -euo pipefail
cd "$(dirname "$0")/../web"

die() { printf 'build-web.sh: error: %s\n' "$*" >&2; exit 1; }
command -v node >/dev/null || die "node not found: install Node.js 20.19 or later (apt-get install nodejs npm)"
command -v npm >/dev/null || die "npm not found: apt-get install npm"
node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
    || die "Node.js $(node --version) is too old: Vite needs 20.19 or later"

# Reinstall only when the lock file changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund --loglevel=error || die "npm ci failed (is the npm registry reachable?)"
fi
npm run --silent build
echo "web UI built into web/dist"
