#!/usr/bin/env bash
# The benchmark of issue 7: builds release binaries, measures the ceilings (raw SQLite insert loop of
# the same rows, raw TCP ping-pong), runs the standard takt-load scenarios against a fresh taktd
# (one per scenario, --durability full, loopback only), the 10-million-event metrics benchmark of
# issue 5, and writes docs/BENCHMARKS.md. Takes about 11 minutes on the 2-core dev machine.
#
#   scripts/bench.sh            full run, writes docs/BENCHMARKS.md
#   scripts/bench.sh --quick    smoke run (1-2 minutes), writes /tmp/takt-bench-quick.md
#
# Environment: TAKT_BENCH_OUT (report path), TAKT_BENCH_SCRATCH (build directory, default .build-load),
# TAKT_BENCH_KEEP=1 keeps the work directory (logs, JSON results) for inspection.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

MODE=full
case "${1:-}" in
    --quick) MODE=quick ;;
    "") ;;
    *) echo "usage: scripts/bench.sh [--quick]" >&2; exit 2 ;;
esac
if [ "$MODE" = quick ]; then OUT="${TAKT_BENCH_OUT:-/tmp/takt-bench-quick.md}"; else OUT="${TAKT_BENCH_OUT:-docs/BENCHMARKS.md}"; fi
SCRATCH="${TAKT_BENCH_SCRATCH:-.build-load}"
STARTED=$(date +%s)

log() { echo "[bench $(date +%H:%M:%S)] $*" >&2; }

# Scenario sizes: full / quick. The closed-loop scenarios pregenerate their whole run (warmup + duration at
# up to 500,000 and 40,000 events/s): events generated during the run would take the load generator's CPU
# (about 1 µs per event) from taktd on this 2-core machine.
if [ "$MODE" = full ]; then
    WARMUP=3; DURATION=20
    S1_PREGEN=12000000; S2_PREGEN=1000000; S2C_PREGEN=4500000
    RUNS=3  # scenario 1 (each followed by its SQLite ceiling), 2a and 2c: medians of this many runs
    S3_CONNECTIONS=10000; S3_WARMUP=5; S3_DURATION=30
    S4_WARMUP=10; S4_DURATION=25
    S5_EVENTS=400000
    SQLITE_ROWS_FALLBACK=8000000; SQLITE_V1_ROWS=1000000; TCP_SECONDS=3
    METRICS_EVENTS=10000000; METRICS_RUNS=41; METRICS_LONG_RUNS=5
else
    WARMUP=1; DURATION=5
    S1_PREGEN=3000000; S2_PREGEN=250000; S2C_PREGEN=1000000
    RUNS=1
    S3_CONNECTIONS=10000; S3_WARMUP=2; S3_DURATION=10
    S4_WARMUP=3; S4_DURATION=6
    S5_EVENTS=60000
    SQLITE_ROWS_FALLBACK=1000000; SQLITE_V1_ROWS=200000; TCP_SECONDS=1
    METRICS_EVENTS=1000000; METRICS_RUNS=11; METRICS_LONG_RUNS=3
fi

log "building release binaries in $SCRATCH"
BUILD_START=$(date +%s)
for product in taktd takt-load; do
    if ! swift build -c release --scratch-path "$SCRATCH" --product "$product" >&2; then
        log "build of $product failed"
        exit 1
    fi
done
BUILD_SECONDS=$(( $(date +%s) - BUILD_START ))
BIN="$ROOT/$SCRATCH/release"

WORK=$(mktemp -d /tmp/takt-bench.XXXXXX)
RES="$WORK/results"
mkdir -p "$RES"
TAKTD_PID=""
cleanup() {
    if [ -n "$TAKTD_PID" ] && kill -0 "$TAKTD_PID" 2>/dev/null; then kill -TERM "$TAKTD_PID"; wait "$TAKTD_PID" 2>/dev/null; fi
    if [ "${TAKT_BENCH_KEEP:-0}" = 1 ]; then log "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# Each gateway and each server connection is a descriptor.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" -lt 10200 ]; then log "warning: descriptor limit $(ulimit -n) is below the 10,000 gateways of scenario 3 plus margin"; fi

{
    echo "mode=$MODE"
    echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- Sources 2>/dev/null || echo ' + uncommitted changes')"
    echo "filesystem=$(df -hT "$WORK" | awk 'NR==2 {print $2 " on " $1 " (" $NF ")"}')"
    echo "load_before=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "busiest_processes=$(ps -eo pcpu=,comm= --sort=-pcpu | head -6 | awk '{printf "%s%s %s", (NR > 1 ? ", " : ""), $2, $1}')"
    echo "build_seconds=$BUILD_SECONDS"
    echo "fsync_ms=$(python3 -c '
import os, time
p = "'"$WORK"'/fsync-probe"; fd = os.open(p, os.O_WRONLY | os.O_CREAT); b = b"x" * 4096; t = time.time()
for _ in range(100): os.write(fd, b); os.fsync(fd)
print("%.2f" % ((time.time() - t) * 10)); os.close(fd); os.remove(p)' 2>/dev/null || echo '?')"
} > "$RES/meta.txt"

start_taktd() {  # NAME [extra taktd flags...]
    local name=$1; shift
    PORT=""
    DATA="$WORK/data-$name"
    mkdir -p "$DATA"
    "$BIN/taktd" --listen 127.0.0.1:0 --data-dir "$DATA" --durability full --log-level info "$@" 2> "$WORK/taktd-$name.log" &
    TAKTD_PID=$!
    for _ in $(seq 1 300); do
        PORT=$(grep -o 'port=[0-9]*' "$WORK/taktd-$name.log" 2>/dev/null | head -1 | cut -d= -f2)
        [ -n "$PORT" ] && break
        kill -0 "$TAKTD_PID" 2>/dev/null || { log "taktd exited: $(tail -3 "$WORK/taktd-$name.log")"; return 1; }
        sleep 0.1
    done
    [ -n "$PORT" ] || { log "taktd did not start listening"; return 1; }
    ADDR="127.0.0.1:$PORT"
}

stop_taktd() {
    if [ -n "$TAKTD_PID" ]; then kill -TERM "$TAKTD_PID" 2>/dev/null; wait "$TAKTD_PID" 2>/dev/null; fi
    TAKTD_PID=""
    rm -rf "$DATA"
    sync
    sleep 1
}

load() {  # NAME takt-load-arguments...
    local name=$1; shift
    "$BIN/takt-load" --server "$ADDR" --server-pid "$TAKTD_PID" --json "$@" > "$RES/$name.json" 2> "$WORK/$name.log"
    local rc=$?
    echo "$rc" > "$RES/$name.rc"
    log "$name: exit $rc; $(jq -r '"\(.eventsPerSecond | floor) events/s, " + ([.kinds[] | "\(.kind) p50 \(.latency.p50Ms) ms p99 \(.latency.p99Ms) ms"] | join("; ")) + "; " + (.verification.message | split(" - ")[1] // "")' "$RES/$name.json" 2>/dev/null || tail -2 "$WORK/$name.log")"
}

# Ceilings, with nothing else running (no taktd, no load).
log "ceiling: raw TCP ping-pong (one connection; 64 connections one in flight each)"
"$BIN/takt-load" ceiling tcp --seconds "$TCP_SECONDS" --depth 64 --connections 64 --json > "$RES/ceiling-tcp.json" 2> "$WORK/ceiling-tcp.log"
echo $? > "$RES/ceiling-tcp.rc"

log "taktd RPC round trips (Health.Check: one connection; 64 connections one in flight each)"
start_taktd rpc && "$BIN/takt-load" ceiling rpc --server "$ADDR" --seconds "$TCP_SECONDS" --depth 64 --connections 64 --json > "$RES/rpc-roundtrips.json" 2> "$WORK/rpc-roundtrips.log"
echo $? > "$RES/rpc-roundtrips.rc"
stop_taktd

# Scenario 1 and the raw SQLite ceiling alternate, $RUNS times each, and the report compares their medians:
# on a shared machine the same binary varies by ±10 % between runs minutes apart, so one run of each
# would judge the noise as much as the code. Each ceiling run inserts the rows the scenario run before it
# sent: the same seed and options, as many events as it answered (warm-up included), low-confidence ones
# left out as the server leaves them out. So both end with a database of the same size: SQLite's insert
# slows down as its index grows (about 10 % from 1 to 8 million rows here).
SQLITE_ROWS=""
for run in $(seq 1 "$RUNS"); do
    log "scenario 1 (run $run of $RUNS): batched ingest, 8 connections x 500 per batch, closed loop"
    start_taktd "s1-$run" && load "s1-$run" --connections 8 --batch 500 --warmup "$WARMUP" --duration "$DURATION" \
        --pregenerate "$S1_PREGEN" --seed 1
    stop_taktd
    rows=$(jq -r '([.serverAfter.results[]] | add) - ([.serverBefore.results[]] | add // 0)' "$RES/s1-$run.json" 2>/dev/null || echo "")
    if ! [[ "$rows" =~ ^[0-9]+$ ]] || [ "$rows" -lt 100000 ]; then rows=$SQLITE_ROWS_FALLBACK; fi
    [ -n "$SQLITE_ROWS" ] || SQLITE_ROWS=$rows
    log "ceiling (run $run of $RUNS): raw SQLite insert of scenario 1's rows ($rows events sent)"
    "$BIN/takt-load" ceiling sqlite --connections 8 --batch 500 --seed 1 --events "$rows" --dir "$WORK/ceiling" \
        --durability full --repeat 1 --json > "$RES/ceiling-sqlite-$run.json" 2> "$WORK/ceiling-sqlite-$run.log"
    echo $? > "$RES/ceiling-sqlite-$run.rc"
done
log "ceiling: the store alone (the same rows, no network), metric index off, then on"
"$BIN/takt-load" ceiling store --connections 8 --batch 500 --seed 1 --events "$SQLITE_ROWS" --dir "$WORK/ceiling" \
    --durability full --json > "$RES/ceiling-store.json" 2> "$WORK/ceiling-store.log"
echo $? > "$RES/ceiling-store.rc"
"$BIN/takt-load" ceiling store --connections 8 --batch 500 --seed 1 --events "$SQLITE_ROWS" --dir "$WORK/ceiling" \
    --durability full --metrics-index --json > "$RES/ceiling-store-index.json" 2> "$WORK/ceiling-store-index.log"
echo $? > "$RES/ceiling-store-index.rc"
log "ceiling: $SQLITE_V1_ROWS of those rows under store schema v1 (for comparison; v1 is ~4x slower)"
"$BIN/takt-load" ceiling sqlite --connections 8 --batch 500 --seed 1 --events "$SQLITE_V1_ROWS" --dir "$WORK/ceiling" \
    --durability full --repeat 2 --schema-version 1 --json > "$RES/ceiling-sqlite-v1.json" 2> "$WORK/ceiling-sqlite-v1.log"
echo $? > "$RES/ceiling-sqlite-v1.rc"

for run in $(seq 1 "$RUNS"); do
    log "scenario 2a (run $run of $RUNS): single events, 64 connections, closed loop"
    start_taktd "s2-closed-$run" && load "s2-closed-$run" --connections 64 --batch 1 --warmup "$WARMUP" --duration "$DURATION" \
        --pregenerate "$S2_PREGEN" --seed 2
    stop_taktd
done

log "scenario 2b: single events, 64 connections, open loop 20,000 events/s"
start_taktd s2-open && load s2-open --connections 64 --batch 1 --rate 20000 --warmup "$WARMUP" --duration "$DURATION" --seed 3
stop_taktd

# Issue 4 does not say how many calls each connection keeps in flight; the protocol multiplexes calls on a
# connection (as gRPC does with HTTP/2 streams), so 2c measures single events with 16 in flight on each.
for run in $(seq 1 "$RUNS"); do
    log "scenario 2c (run $run of $RUNS): single events, 64 connections, closed loop, 16 calls in flight each"
    start_taktd "s2-pipelined-$run" && load "s2-pipelined-$run" --connections 64 --batch 1 --depth 16 --warmup "$WARMUP" \
        --duration "$DURATION" --pregenerate "$S2C_PREGEN" --seed 8
    stop_taktd
done

log "scenario 2d (no target): single events, 64 connections, closed loop, 4 calls in flight each"
start_taktd s2-depth4 && load s2-depth4 --connections 64 --batch 1 --depth 4 --warmup "$WARMUP" --duration "$DURATION" \
    --pregenerate "$S2_PREGEN" --seed 7
stop_taktd

log "scenario 3: $S3_CONNECTIONS gateways, one event every 10 s each"
# Every simulated gateway connects from 127.0.0.1, so the per-address limit (default 1000) is lifted here.
start_taktd s3 --max-connections-per-address 20000 && load s3 --connections "$S3_CONNECTIONS" --batch 1 --rate $(( S3_CONNECTIONS / 10 )) --warmup "$S3_WARMUP" \
    --duration "$S3_DURATION" --connect-wave 500 --seed 4
stop_taktd

# The gateways flush every ~64 ms (batches of 20): single events at 20,000/s are scenario 2b's question.
log "scenario 4: queries (factory, workers, timeline) while ingesting 20,000 events/s"
start_taktd s4 && load s4 --connections 64 --batch 20 --rate 20000 --query-connections 4 --query-rate 40 \
    --query-mix factory,workers,timeline --warmup "$S4_WARMUP" --duration "$S4_DURATION" --seed 5
stop_taktd

log "scenario 5: duplicate storm, $S5_EVENTS events sent, then replayed 3 times"
S5_START=$(( ($(date +%s) - 10 * 86400) * 1000 / 60000 * 60000 ))
if start_taktd s5; then
    for pass in 1 2 3 4; do
        load "s5-$pass" --connections 8 --batch 500 --events "$S5_EVENTS" --seed 6 --start-ms "$S5_START"
    done
fi
stop_taktd

log "metrics: $METRICS_EVENTS-event index, query latency"
"$BIN/takt-load" metrics-bench --events "$METRICS_EVENTS" --runs "$METRICS_RUNS" --long-runs "$METRICS_LONG_RUNS" --json \
    > "$RES/metrics.json" 2> "$WORK/metrics.log"
echo $? > "$RES/metrics.rc"
tail -12 "$WORK/metrics.log" >&2

echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$RES/meta.txt"
echo "total_seconds=$(( $(date +%s) - STARTED ))" >> "$RES/meta.txt"
mkdir -p "$(dirname "$OUT")"
"$BIN/takt-load" report --results "$RES" --out "$OUT"
log "wrote $OUT in $(( $(date +%s) - STARTED )) s"
