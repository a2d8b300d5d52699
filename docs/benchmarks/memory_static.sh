#!/usr/bin/env bash
# Memory bound serving many small static files: does peak RSS stay within
# cache.memory_bytes + 64 MiB when the root holds far more small files than
# the cache (per-entry overhead, not bodies, dominates)?
#
#   docs/benchmarks/memory_static.sh                          # 250k files of 200-800 B, then 200k of 1-4 KB
#   CASES="250000:200:800" docs/benchmarks/memory_static.sh   # one case: COUNT:MIN_BYTES:MAX_BYTES
#   BASE_BIN=/path/to/other/cdn-edge docs/benchmarks/memory_static.sh
#
# Environment:
#   CASES         space-separated COUNT:MIN:MAX cases (default "250000:200:800 200000:1024:4096")
#   DURATION      seconds of wrk cycling through every file (default 15; every
#                 file is requested at least once, most several times)
#   CDN_EDGE_BIN  binary to measure instead of building target/release/cdn-edge
#   BASE_BIN      a second binary measured the same way, same files
#
# cdn-edge runs with its default config (cache.memory_bytes 256 MiB) over a
# generated root of COUNT text files (names /dNNN/fNNNNN.txt, random sizes
# in [MIN, MAX]); wrk -t2 -c64 cycles through all of them
# (docs/benchmarks/load/cycle.lua). Reported: requests, peak RSS (VmHWM), the
# cache's own count of its bytes and objects (/metrics), the bound and
# PASS/FAIL. Loopback only; every process is stopped by PID.
set -euo pipefail

CASES=${CASES:-"250000:200:800 200000:1024:4096"}
DURATION=${DURATION:-15}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
KEEP_TMP=${KEEP_TMP:-0}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BENCH_TAG=memory-static
# shellcheck source=lib/bench.sh
source "$HERE/lib/bench.sh"

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
((${#need[@]} == 0)) || apt_install "${need[@]}" || die "could not install ${need[*]}"

BIN=$(build_cdn_edge)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cdn-edge-memstatic.XXXXXX")
BOUND_KB=$((256 * 1024 + 65536))

metric() { # metric ADDR NAME
    curl -fsS --max-time 5 "http://$1/metrics" | awk -v n="$2" '$1 == n { print $2 }'
}

measure() { # measure LABEL BIN ROOT PATHS CASE
    local label=$1 bin=$2 root=$3 paths=$4 case=$5 log=$TMP/$1.log pid addr
    start_node "$log" "$bin" --root "$root"
    pid=$NODE_PID addr=$NODE_ADDR
    run_wrk "$TMP/wrk-$label.txt" "$DURATION" -s "$HERE/load/cycle.lua" "http://$addr/" -- "$paths"
    local req hwm bytes objects verdict=PASS
    read -r req _ < <(parse_wrk "$TMP/wrk-$label.txt")
    hwm=$(awk '/VmHWM/ { print $2 }' "/proc/$pid/status")
    bytes=$(metric "$addr" cdn_edge_memory_cache_bytes)
    objects=$(metric "$addr" cdn_edge_memory_cache_objects)
    ((hwm <= BOUND_KB)) || verdict=FAIL
    printf '| %s | %s | %s | %d | %d | %s | %d | %s |\n' "$case" "$label" "$req" $((hwm / 1024)) \
        $((${bytes%.*} / 1048576)) "$objects" $((BOUND_KB / 1024)) "$verdict" >>"$TMP/table"
    stop_pid "$pid"
}

echo "| files | binary | requests | peak RSS MiB (VmHWM) | counted MiB | objects held | bound MiB | |" >"$TMP/table"
echo "|---|---|---:|---:|---:|---:|---:|---|" >>"$TMP/table"
for c in $CASES; do
    IFS=: read -r count lo hi <<<"$c"
    root=$TMP/root-$count
    log "generating $count files of $lo-$hi B in $root"
    python3 - "$root" "$count" "$lo" "$hi" >"$TMP/paths-$count" <<'PY'
import os, random, sys
root, n, lo, hi = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
rnd = random.Random(n)
for i in range(n):
    d = "%s/d%03d" % (root, i // 1000)
    if i % 1000 == 0:
        os.makedirs(d, exist_ok=True)
    size = rnd.randint(lo, hi)
    with open("%s/f%06d.txt" % (d, i), "wb") as f:
        f.write((b"%06d " % i) * (size // 7 + 1))
    print("/d%03d/f%06d.txt" % (i // 1000, i))
PY
    measure cdn-edge "$BIN" "$root" "$TMP/paths-$count" "$count x $lo-$hi B"
    [[ -z ${BASE_BIN:-} ]] || measure base "$BASE_BIN" "$root" "$TMP/paths-$count" "$count x $lo-$hi B"
    rm -rf "$root"
done
echo
echo "Default config (cache.memory_bytes = 256 MiB); bound = memory_bytes + 64 MiB; wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s cycling through every file."
echo
cat "$TMP/table"
echo
echo "Versions: cdn-edge $(cd "$REPO" && git describe --always --dirty 2>/dev/null || echo '?')${BASE_BIN:+, base = $BASE_BIN}; $(nproc) cores."
