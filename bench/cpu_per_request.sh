#!/usr/bin/env bash
# CPU a running lokd spends per request, per endpoint: N sequential requests
# (after N/10 warm-up ones), the CPU time of lokd's threads except RocksDB's
# background ones (compactions, flushes), divided by N. Resolution: one clock
# tick (usually 10 ms) ÷ N.
#
#   bench/cpu_per_request.sh PID BASE_URL N PATH...
#   bench/cpu_per_request.sh "$(pgrep -f 'lokd --data-dir /tmp/qb')" http://127.0.0.1:8080 300 \
#       '/v1/retention?asOf=2048-04-01&limit=50' '/v1/funnel?by=salesperson'
#
# Use an asOf on or after the store's latest event day: an earlier one builds
# an as-of read model first (docs/ARCHITECTURE.md, "As-of answers").
set -euo pipefail
if [[ $# -lt 4 ]]; then
  sed -n '2,12p' "$0" >&2
  exit 2
fi
pid=$1 base=$2 n=$3
shift 3
[[ -d /proc/$pid ]] || { echo "no process $pid" >&2; exit 1; }
ticks_per_second=$(getconf CLK_TCK)

cpu_ticks() {
  local total=0 task name
  for task in /proc/"$pid"/task/*; do
    name=$(<"$task/comm")
    [[ $name == rocksdb* ]] && continue
    total=$((total + $(awk '{print $14 + $15}' "$task/stat")))
  done
  echo "$total"
}

# curl reuses one connection for all URLs given to one invocation.
requests() {
  local count=$1 url=$2 args=() i
  for ((i = 0; i < count; i++)); do args+=("$url" -o /dev/null); done
  curl -sf "${args[@]}"
}

for path in "$@"; do
  requests $((n / 10 + 1)) "$base$path"
  before=$(cpu_ticks)
  requests "$n" "$base$path"
  after=$(cpu_ticks)
  awk -v path="$path" -v ticks=$((after - before)) -v hz="$ticks_per_second" -v n="$n" \
    'BEGIN { printf "%-72s %8.3f ms\n", path, ticks * 1000 / hz / n }'
done
