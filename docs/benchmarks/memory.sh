#!/usr/bin/env bash
# Memory bound in pull-through mode: does peak RSS stay within
# cache.memory_bytes + 64 MiB when far more than the cache is pulled through?
#
#   docs/benchmarks/memory.sh                        # 3,200 distinct 64 KiB text URLs through an 8 MiB cache
#   BASE_BIN=/path/to/old/cdn-edge docs/benchmarks/memory.sh   # also measure another binary, same run
#
# Environment:
#   MEMORY_BYTES  cache.memory_bytes of the node (default 8388608)
#   FILES         distinct 64 KiB text files on the origin (default 10)
#   QUERIES       query strings per file, so URLs = FILES x QUERIES (default 320)
#   CLIENTS       concurrent keep-alive clients (default 16)
#   IDLE          seconds to wait after the wave before reading RSS again (default 20)
#   CDN_EDGE_BIN  binary to measure instead of building target/release/cdn-edge
#   BASE_BIN      a second binary measured the same way after the first
#
# The origin is Debian's nginx serving FILES generated CSS-like files (each
# distinct, compressible, 64 KiB) with "Cache-Control: public, max-age=3600";
# it ignores the query string, so every URL is a distinct object for the
# cache. The wave (docs/benchmarks/pull/client.py wave) asks for every URL once with
# "Accept-Encoding: gzip, br". Reported per binary: wall time, URLs/s, peak
# RSS (VmHWM) after the wave, RSS (VmRSS) IDLE seconds later, the bound, and
# PASS/FAIL. Everything binds 127.0.0.1; every process is stopped by PID.
set -euo pipefail

MEMORY_BYTES=${MEMORY_BYTES:-8388608}
FILES=${FILES:-10}
QUERIES=${QUERIES:-320}
CLIENTS=${CLIENTS:-16}
IDLE=${IDLE:-20}
KEEP_TMP=${KEEP_TMP:-0}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BENCH_TAG=memory
# shellcheck source=lib/bench.sh
source "$HERE/lib/bench.sh"

need=()
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need+=(nginx)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
((${#need[@]} == 0)) || apt_install "${need[@]}" || die "could not install ${need[*]}"

BIN=$(build_cdn_edge)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cdn-edge-memory.XXXXXX")
chmod 755 "$TMP"
mkdir -p "$TMP/www" "$TMP/empty" "$TMP/origin"

python3 - "$TMP/www" "$FILES" <<'PY'
import random, sys
root, n = sys.argv[1], int(sys.argv[2])
for f in range(n):
    rnd = random.Random(f)
    out, size = [], 0
    while size < 65536:
        line = ".c%d-%d { color: #%06x; margin: %dpx %dpx; }\n" % (
            f, rnd.randrange(10**6), rnd.randrange(1 << 24), rnd.randrange(64), rnd.randrange(64))
        out.append(line)
        size += len(line)
    open("%s/f%d.css" % (root, f), "w").write("".join(out)[:65536])
PY
URLS=$TMP/urls
for ((f = 0; f < FILES; f++)); do
    for ((q = 1; q <= QUERIES; q++)); do echo "/f$f.css?n=$q"; done
done >"$URLS"

start_static_origin "$TMP/www" "$TMP/origin" "text/css css;"

cat >"$TMP/edge.toml" <<EOF
[cache]
memory_bytes = $MEMORY_BYTES
max_object_bytes = $((MEMORY_BYTES / 16))
EOF
BOUND_KB=$((MEMORY_BYTES / 1024 + 65536))

measure() { # measure LABEL BIN
    local label=$1 bin=$2 log=$TMP/$1.log pid addr out
    start_node "$log" "$bin" --config "$TMP/edge.toml" --root "$TMP/empty" \
        --origin "http://127.0.0.1:$ORIGIN_PORT"
    pid=$NODE_PID addr=$NODE_ADDR
    out=$(timeout --kill-after=5 900 python3 "$HERE/pull/client.py" wave "$addr" "$URLS" "$CLIENTS") ||
        die "$label: wave failed"
    local n ok wall rps codes hwm rss threads
    read -r _ n _ ok _ wall _ rps _ codes <<<"$out"
    hwm=$(awk '/VmHWM/ { print $2 }' "/proc/$pid/status")
    threads=$(awk '/Threads/ { print $2 }' "/proc/$pid/status")
    log "$label: $n URLs in $wall s ($rps/s), VmHWM $((hwm / 1024)) MiB, $threads threads; waiting ${IDLE}s"
    sleep "$IDLE"
    rss=$(awk '/VmRSS/ { print $2 }' "/proc/$pid/status")
    local verdict=PASS
    ((hwm <= BOUND_KB)) || verdict=FAIL
    printf '| %s | %s | %s | %.3f | %.1f | %d | %d | %d | %s |\n' "$label" "$n" "$ok" "$wall" "$rps" \
        $((hwm / 1024)) $((rss / 1024)) $((BOUND_KB / 1024)) "$verdict" >>"$TMP/table"
    stop_pid "$pid"
}

echo "| binary | URLs | 200s | wall s | URLs/s | peak RSS MiB (VmHWM) | RSS MiB ${IDLE}s later | bound MiB | |" >"$TMP/table"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---|" >>"$TMP/table"
measure cdn-edge "$BIN"
[[ -z ${BASE_BIN:-} ]] || measure base "$BASE_BIN"

echo
echo "$((FILES * QUERIES)) distinct 64 KiB text URLs ($((FILES * QUERIES * 64 / 1024)) MiB) pulled through cache.memory_bytes = $MEMORY_BYTES by $CLIENTS clients; bound = memory_bytes + 64 MiB."
echo
cat "$TMP/table"
echo
echo "Versions: cdn-edge $(cd "$REPO" && git describe --always --dirty 2>/dev/null || echo '?')${BASE_BIN:+, base = $BASE_BIN}; $(nproc) cores."
