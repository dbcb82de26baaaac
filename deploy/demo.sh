#!/usr/bin/env bash
# The demo on a fresh machine: installs the dependencies, builds lokd and
# lokctl, imports the shared CRM dataset into lokd on the embedded log and
# prints the funnel. lokd keeps serving on http://127.0.0.1:8080 until Ctrl-C.
# Arguments go to `lokctl demo` (e.g. --exit, --http 127.0.0.1:9090).
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/install-deps.sh
bash web/build.sh  # the dashboard lokd serves at http://127.0.0.1:8080/
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
cmake --preset default
cmake --build --preset default --target lokd lokctl
exec build/bin/lokctl demo "$@"
