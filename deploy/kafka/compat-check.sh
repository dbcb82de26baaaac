#!/usr/bin/env bash
# Checks that the running broker (deploy/kafka/kafka.sh start) works with the
# system librdkafka, the client Lok links against. Run it after changing
# LOK_KAFKA_VERSION. Two parts:
#   1. kcat (built on the system librdkafka): metadata, auto-create, keyed produce
#      with every codec (and that batches really go out compressed), idempotent
#      acks=all produce, transactional produce,
#      consume, consumer group commit and rejoin, offset query.
#   2. compat_probe.c, compiled against the system librdkafka when gcc and
#      librdkafka-dev are there: admin API, idempotent and transactional
#      producers, read_committed group consumer with commit_sync.
# Prints PASS/FAIL lines and a closing 'N passed, N failed'; exits non-zero on a failure.
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
B=127.0.0.1:${LOK_KAFKA_PORT:-19092}
T=lok-compat-$(date +%s)-$RANDOM
G=$T-group
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pass=0
fail=0

check() {
  local name=$1
  shift
  if "$@" >"$work/out" 2>&1; then
    echo "PASS $name"
    pass=$((pass + 1))
  else
    echo "FAIL $name"
    sed 's/^/    /' "$work/out" | tail -n 15
    fail=$((fail + 1))
  fi
}

command -v kcat >/dev/null || { echo "compat-check: kcat not found (apt-get install -y kcat)" >&2; exit 2; }
"$here/kafka.sh" status >/dev/null || { echo "compat-check: no broker; run deploy/kafka/kafka.sh start" >&2; exit 2; }
echo "client: $(kcat -V | grep -o 'librdkafka [0-9.]*'), broker on $B, topic $T"

# Produces stdin as key:value lines with extra kcat flags; fails on any error output.
produce() {
  kcat -P -b "$B" -t "$T" -K: "$@" 2>"$work/produce.err" || { cat "$work/produce.err"; return 1; }
  ! grep -i 'error\|fail' "$work/produce.err"
}
# Counts the messages in the topic from the beginning, printing key=value.
consume_all() {
  kcat -C -b "$B" -t "$T" -o beginning -e -q -f '%k=%s\n' "$@"
}

check "metadata (-L) lists the broker" bash -c "kcat -b $B -L -m 10 | grep -q ' 1 brokers'"
check "keyed produce, no compression, auto-creates the topic" \
  produce -z none -X acks=all < <(printf 'k1:v1\nk2:v2\nk3:v3\n')
check "auto-created topic has num.partitions partitions" \
  bash -c "kcat -b $B -L -t $T -m 10 | grep -q \"$T.* ${LOK_KAFKA_PARTITIONS:-8} partitions\""
check "produce lz4" produce -z lz4 < <(printf 'k4:v4\nk5:v5\n')
check "produce gzip, snappy, zstd" bash -c "
  printf 'k6:v6\n' | kcat -P -b $B -t $T -K: -z gzip &&
  printf 'k7:v7\n' | kcat -P -b $B -t $T -K: -z snappy &&
  printf 'k8:v8\n' | kcat -P -b $B -t $T -K: -z zstd"
# KAFKA-18659: librdkafka does not fail when it thinks the broker lacks a codec,
# it logs "Broker does not support compression type X: not compressing batch" and
# sends the batch uncompressed. So look at what it sent. (A batch that does not
# shrink is sent uncompressed anyway, hence 200 compressible messages.)
compressible() {
  local i
  for ((i = 0; i < 200; i++)); do echo "k$i:$1-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-$i"; done
}
really_compressed() {
  local codec=$1
  shift
  compressible "$codec" | kcat -P -b "$B" -t "$T-z" -K: -z "$codec" "$@" -d msg 2>"$work/z.log" || return 1
  grep -m1 'Produce MessageSet' "$work/z.log"
  ! grep 'not compressing' "$work/z.log" && grep -q "Produce MessageSet.*, $codec)" "$work/z.log"
}
for codec in gzip snappy lz4 zstd; do
  check "$codec batches are really compressed" really_compressed "$codec"
done
check "idempotent acks=all lz4 batches are really compressed" \
  really_compressed lz4 -X enable.idempotence=true -X acks=all
idempotent() {
  printf 'k9:v9\nk10:v10\nk11:v11\n' |
    kcat -P -b "$B" -t "$T" -K: -X enable.idempotence=true -X acks=all -z "$1" -d eos 2>"$work/eos.log" || return 1
  grep -q 'Acquired PID' "$work/eos.log" || { echo "no producer id acquired"; tail "$work/eos.log"; return 1; }
  # A retried InitProducerId (e.g. COORDINATOR_LOAD_IN_PROGRESS) is worth seeing.
  grep 'Failed to acquire' "$work/eos.log" || true
  ! grep -i 'fatal' "$work/eos.log"
}
check "idempotent producer, acks=all, no compression" idempotent none
check "idempotent producer, acks=all, lz4" idempotent lz4
check "transactional producer commits" bash -c "
  printf 'k12:v12\n' | kcat -P -b $B -t $T -K: -X transactional.id=$T-tx 2>&1 | tee /dev/stderr | grep -q 'successfully committed'"
check "consume back all 15 messages with their keys" bash -c "
  out=\$(kcat -C -b $B -t $T -o beginning -e -q -X isolation.level=read_committed -f '%k=%s\n' | sort)
  echo \"\$out\"; [ \$(echo \"\$out\" | wc -l) -eq 15 ] && echo \"\$out\" | grep -qx 'k10=v10' && echo \"\$out\" | grep -qx 'k12=v12'"
check "consumer group (-G) reads all 15 and commits" bash -c "
  out=\$(timeout 60 kcat -b $B -G $G -X auto.offset.reset=earliest -X enable.auto.commit=true -e -q -f '%k=%s\n' $T)
  [ \$(echo \"\$out\" | wc -l) -eq 15 ]"
check "consumer group rejoin resumes at the committed offsets" bash -c "
  printf 'k13:v13\n' | kcat -P -b $B -t $T -K: &&
  out=\$(timeout 60 kcat -b $B -G $G -X auto.offset.reset=earliest -e -q -f '%k=%s\n' $T)
  echo \"\$out\"; [ \"\$out\" = 'k13=v13' ]"
check "offset query (-Q)" bash -c "kcat -b $B -Q -t $T:0:-1 | grep -q offset"

if command -v gcc >/dev/null && pkg-config --exists rdkafka 2>/dev/null; then
  read -ra rdkafka_flags < <(pkg-config --cflags --libs rdkafka)
  if gcc -O1 -o "$work/compat_probe" "$here/compat_probe.c" "${rdkafka_flags[@]}" 2>"$work/gcc.err"; then
    "$work/compat_probe" "$B" | tee "$work/probe.out" | grep -v '^RESULT'
    pass=$((pass + $(grep -c '^PASS' "$work/probe.out")))
    fail=$((fail + $(grep -c '^FAIL' "$work/probe.out")))
  else
    cat "$work/gcc.err"
    echo "FAIL compile compat_probe.c"
    fail=$((fail + 1))
  fi
else
  echo "compat-check: gcc or librdkafka-dev missing; skipped compat_probe.c"
fi

echo "compat: $pass passed, $fail failed"
((fail == 0))
