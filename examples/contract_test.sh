#!/usr/bin/env bash
# Contract test of the example publishers (docs/PUBLISHING.md): builds the
# Python, Go and Java publishers, runs each against a real Kafka broker into a
# fresh 4-partition topic that a real lokd consumes, and checks that
#   - every record of each publisher is on the partition Kafka's Java producer
#     picks for its key (murmur2), keyed by client_id;
#   - lokd applied exactly their events (GET /v1/funnel, after each publisher);
#   - nothing was dead-lettered;
#   - a republished run is dropped as duplicates and leaves the funnel alone.
# Prints "N passed, M failed" last; exits non-zero on any failure.
#
#   LOK_KAFKA_BROKERS=127.0.0.1:19092 bash examples/contract_test.sh
#
# Skips (exit 0) without LOK_KAFKA_BROKERS, unless LOK_REQUIRE_KAFKA is set.
# LOK_BIN_DIR: where lokd is (default build/bin). LOK_CONTRACT_COUNT: events
# per publisher (default 40: ten deals, each lead -> qualified -> offer -> won).
set -euo pipefail

examples=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$examples")
count=${LOK_CONTRACT_COUNT:-40}
partitions=4
passed=0
failed=0

summarised=""
summary() {
  echo "$passed passed, $failed failed${1:-}"
  summarised=1
}
abort() {  # abort MESSAGE: a failure that stops the test.
  echo "publishers_contract: FAIL: $*"
  failed=$((failed + 1))
  summary
  exit 1
}

if [[ -z "${LOK_KAFKA_BROKERS:-}" ]]; then
  [[ -z "${LOK_REQUIRE_KAFKA:-}" ]] || abort "LOK_REQUIRE_KAFKA is set but LOK_KAFKA_BROKERS is not"
  echo "publishers_contract: skipped: LOK_KAFKA_BROKERS is not set" \
    "(bash deploy/kafka/kafka.sh start; export LOK_KAFKA_BROKERS=127.0.0.1:19092)"
  summary ", 5 skipped"
  exit 0
fi
brokers=$LOK_KAFKA_BROKERS
# One run at a time: the publishers are built inside examples/ (two build
# trees' ctest runs would share them).
exec 9>"$examples/.contract.lock"
flock -w 900 9 || abort "another run holds $examples/.contract.lock"
lokd=${LOK_BIN_DIR:-$repo/build/bin}/lokd
[[ -x "$lokd" ]] || abort "no lokd at $lokd (cmake --build build --target lokd)"

work=$(mktemp -d "${TMPDIR:-/tmp}/lok-contract.XXXXXX")
topic="lok.contract.$(date +%s).$$"
lokd_pid=""
start_seconds=$SECONDS
log() { echo "[$((SECONDS - start_seconds))s] $*"; }

cleanup() {
  local status=$?
  if [[ -n "$lokd_pid" ]]; then
    kill -TERM "$lokd_pid" 2>/dev/null || true
    wait "$lokd_pid" 2>/dev/null || true
  fi
  # Background builds still running after a failure.
  local job
  for job in $(jobs -p); do kill "$job" 2>/dev/null || true; done
  if [[ -x "$examples/python/.venv/bin/python" ]]; then
    "$examples/python/.venv/bin/python" "$examples/contract/contract.py" delete-topics \
      "$brokers" "$topic" "$topic.dlq" >/dev/null 2>&1 || true
  fi
  if ((status != 0)) && [[ -z "$summarised" ]]; then  # stopped by set -e
    failed=$((failed + 1))
    summary
  fi
  if ((failed > 0 || status != 0)); then
    echo "--- lokd log (tail) ---"
    tail -n 30 "$work/lokd.log" 2>/dev/null || true
    echo "(logs kept in $work)"
  else
    rm -rf "$work"
  fi
}
trap cleanup EXIT

check() {  # check NAME COMMAND...: runs a check, counts it, never stops the script.
  local name=$1
  shift
  log "check: $name"
  if "$@"; then
    passed=$((passed + 1))
    log "PASS: $name"
  else
    failed=$((failed + 1))
    log "FAIL: $name"
  fi
}

contract() { "$examples/python/.venv/bin/python" "$examples/contract/contract.py" "$@"; }

# --- Builds: Python first (the checks run in its venv), Go and Java meanwhile.
build_python() { bash "$examples/python/build.sh"; }
build_go() {
  cd "$examples/go"
  # Go is not a Debian package here (Debian 12's 1.19 is too old): /usr/local/go.
  command -v go >/dev/null || PATH=$PATH:/usr/local/go/bin
  GOFLAGS="$(go env GOFLAGS) -mod=mod"
  export GOFLAGS
  go generate ./... && go build -o bin/publish .
}
build_java() {
  cd "$examples/java"
  mvn -B -q -Dstyle.color=never package
}

log "building the publishers (logs in $work)"
(build_go >"$work/build-go.log" 2>&1) &
go_build=$!
(build_java >"$work/build-java.log" 2>&1) &
java_build=$!
build_python >"$work/build-python.log" 2>&1 ||
  abort "the Python build, which the checks need, failed: $(cat "$work/build-python.log")"
log "built the Python publisher"

# --- A fresh topic and a lokd on it.
contract create-topic "$brokers" "$topic" "$partitions" || abort "could not create topic $topic on $brokers"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
url="http://127.0.0.1:$port"
"$lokd" --data-dir "$work/data" --http "127.0.0.1:$port" --brokers "$brokers" --topic "$topic" \
  --partitions "$partitions" --group-id "$topic" --log-level warn >"$work/lokd.log" 2>&1 &
lokd_pid=$!
for _ in $(seq 300); do
  curl -sf "$url/readyz" >/dev/null 2>&1 && break
  kill -0 "$lokd_pid" 2>/dev/null || abort "lokd exited at start"
  sleep 0.1
done
curl -sf "$url/readyz" >/dev/null || abort "lokd not ready in 30 s"
log "lokd on $url consumes $topic ($partitions partitions)"

publishers=0  # publishers whose events are on the topic, for the funnel we expect
publish_and_verify() {  # LANGUAGE BUILD_PID COMMAND...: one publisher's contract.
  local language=$1 build_pid=$2
  shift 2
  local source="contract-$language"
  if [[ "$build_pid" != "-" ]] && ! wait "$build_pid"; then
    cat "$work/build-$language.log"
    return 1
  fi
  "$@" --brokers "$brokers" --topic "$topic" --count "$count" --source "$source" || return 1
  publishers=$((publishers + 1))
  contract check-records "$brokers" "$topic" "$source" "$count" 1 || return 1
  contract wait-funnel "$url" "$count" "$publishers" 60
}

check "python publisher (confluent-kafka)" publish_and_verify python - \
  "$examples/python/.venv/bin/python" "$examples/python/publish.py"
check "go publisher (franz-go)" publish_and_verify go "$go_build" "$examples/go/bin/publish"
check "java publisher (kafka-clients)" publish_and_verify java "$java_build" \
  java -jar "$examples/java/target/lok-publisher.jar"

no_dead_letters() {
  contract wait-metric "$url" lok_events_applied_total "$((publishers * count))" 30 &&
    contract wait-metric "$url" lok_events_dead_lettered_total 0 0 &&
    ((publishers == 3))
}
check "every event applied, none dead-lettered" no_dead_letters

republish_is_deduplicated() {
  "$examples/go/bin/publish" --brokers "$brokers" --topic "$topic" --count "$count" \
    --source contract-go || return 1
  contract check-records "$brokers" "$topic" contract-go "$count" 2 &&
    contract wait-metric "$url" lok_events_duplicate_total "$count" 60 &&
    contract wait-metric "$url" lok_events_applied_total "$((publishers * count))" 0 &&
    contract wait-funnel "$url" "$count" "$publishers" 0
}
check "republished events are dropped as duplicates" republish_is_deduplicated

kill -TERM "$lokd_pid"
wait "$lokd_pid" || { log "FAIL: lokd exited with $? on SIGTERM"; failed=$((failed + 1)); }
lokd_pid=""
log "done"
summary
((failed == 0))
