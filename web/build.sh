#!/usr/bin/env bash
# Builds the dashboard into web/dist (served by lokd at /): npm ci, then
# type-check and vite build. Idempotent and quick when nothing changed: npm ci
# runs only when package-lock.json is newer than node_modules, the build only
# when a source is newer than dist/index.html.
set -euo pipefail
cd "$(dirname "$0")"

if ! command -v node >/dev/null ||
  ! node -e 'const [major, minor] = process.versions.node.split(".").map(Number);
             process.exit(major > 22 || (major === 22 && minor >= 12) || (major === 20 && minor >= 19) ? 0 : 1)'; then
  echo "web/build.sh: the dashboard needs Node.js ^20.19 or >=22.12 with npm (found: $(node --version 2>/dev/null || echo none))." >&2
  echo "  Debian 12's nodejs is 18; install NodeSource's: https://github.com/nodesource/distributions" >&2
  exit 1
fi

if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  npm ci --no-audit --no-fund
fi

if [[ -f dist/index.html ]] &&
  [[ -z "$(find index.html vite.config.ts tsconfig.json package.json package-lock.json src -newer dist/index.html -print -quit)" ]]; then
  echo "web/build.sh: dist is up to date"
  exit 0
fi
npm run build
