#!/usr/bin/env bash
# The whole test suite on a fresh machine: installs the dependencies, builds,
# starts a real Kafka broker on loopback, runs every test (unit and
# integration, on the embedded log and on Kafka) and stops the broker.
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/install-deps.sh
bash web/build.sh  # the dashboard (web/dist), served by lokd and tested in chromium
# ccache hits across clones in different folders (CI builds a fresh clone).
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1
cmake --preset default
cmake --build --preset default

bash deploy/kafka/kafka.sh start
trap 'bash deploy/kafka/kafka.sh stop' EXIT
export LOK_KAFKA_BROKERS="127.0.0.1:${LOK_KAFKA_PORT:-19092}"
export LOK_REQUIRE_KAFKA=1  # Kafka tests fail instead of skipping without a broker

ctest --preset default --parallel 2 "$@"
