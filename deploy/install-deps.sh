#!/usr/bin/env bash
# Installs Lok's build and test dependencies from Debian's packages. Idempotent:
# packages already present are skipped, so a second run only checks.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config ccache git curl
  librdkafka-dev librocksdb-dev libjemalloc-dev
  libprotobuf-dev protobuf-compiler
  libboost1.81-all-dev libboost-json1.81-dev libboost-url1.81-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  libspdlog-dev libfmt-dev libcli11-dev
  openjdk-17-jdk-headless maven python3-venv
  python3
  chromium  # the dashboard's browser tests (web/tests), headless
)

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
