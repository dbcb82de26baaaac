#!/usr/bin/env bash
# Makes .venv with the pinned packages and generates lok/v1/events_pb2.py from
# proto/ with protoc. Idempotent: a second run only regenerates the code.
#   bash build.sh && .venv/bin/python publish.py --help
set -euo pipefail
cd "$(dirname "$0")"
proto_dir=../../proto

if [[ ! -x .venv/bin/python ]]; then
  python3 -m venv .venv
fi
# Reinstall only when requirements.txt changed since the last install.
if ! cmp -s requirements.txt .venv/requirements.installed; then
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
  cp requirements.txt .venv/requirements.installed
fi
protoc --proto_path="$proto_dir" --python_out=. "$proto_dir/lok/v1/events.proto"
