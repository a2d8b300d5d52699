#!/usr/bin/env bash
# Disk hits against memory hits, for text and for binary objects: how fast
# does the node answer from its disk cache when the memory cache is too
# small to hold the working set?
#
#   docs/benchmarks/disk_hits.sh                 # 2,000 text + 2,000 binary objects of 16 KiB
#
# Environment:
#   OBJECTS       objects of each kind (default 2000)
#   SIZE          bytes per object (default 16384)
#   DURATION      seconds per wrk run (default 5)
#   CDN_EDGE_BIN  binary to measure instead of building target/release/cdn-edge
#
# The origin (Debian nginx) serves OBJECTS text files (CSS-like, compressible)
# and OBJECTS binary files (random bytes, .png) with
# "Cache-Control: public, max-age=3600". Two nodes pull from it: "memory"
# with the default 256 MiB cache (everything fits), and "disk" with
# cache.memory_bytes = 4 MiB and a disk cache (almost every request is a
# memory miss answered from disk). Each node is filled (every object twice,
# then a pause so the text encodings are made and written beside their
# objects) and warmed (one unrecorded wrk pass over each kind), then
# wrk -t2 -c32 cycles through the text paths with
# "Accept-Encoding: gzip, br", then through the binary ones. Reported:
# req/s per node and kind, and the disk/memory ratio. Loopback only; every
# process is stopped by PID.
set -euo pipefail

OBJECTS=${OBJECTS:-2000}
SIZE=${SIZE:-16384}
DURATION=${DURATION:-5}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
KEEP_TMP=${KEEP_TMP:-0}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BENCH_TAG=disk-hits
# shellcheck source=lib/bench.sh
source "$HERE/lib/bench.sh"

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need+=(nginx)
command -v curl >/dev/null || need+=(curl)
((${#need[@]} == 0)) || apt_install "${need[@]}" || die "could not install ${need[*]}"

BIN=$(build_cdn_edge)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cdn-edge-diskhits.XXXXXX")
chmod 755 "$TMP"
mkdir -p "$TMP/www/t" "$TMP/www/b" "$TMP/empty" "$TMP/origin"

python3 - "$TMP/www" "$OBJECTS" "$SIZE" "$TMP/text.paths" "$TMP/bin.paths" <<'PY'
import os, random, sys
root, n, size, tp, bp = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
rnd = random.Random(1)
with open(tp, "w") as t, open(bp, "w") as b:
    for i in range(n):
        line = (".c%d { color: #%06x; margin: 0 auto; }\n" % (i, rnd.randrange(1 << 24))).encode()
        open("%s/t/%d.css" % (root, i), "wb").write((line * (size // len(line) + 1))[:size])
        open("%s/b/%d.png" % (root, i), "wb").write(os.urandom(size))
        t.write("/t/%d.css\n" % i)
        b.write("/b/%d.png\n" % i)
PY

start_static_origin "$TMP/www" "$TMP/origin" "text/css css; image/png png;"

node() { # node NAME CONFIG_TEXT: sets NODE_ADDR, NODE_PID
    printf '%s\n' "$2" >"$TMP/$1.toml"
    start_node "$TMP/$1.log" "$BIN" --config "$TMP/$1.toml" --root "$TMP/empty" \
        --origin "http://127.0.0.1:$ORIGIN_PORT"
}

fill() { # fill ADDR
    local p
    for _ in 1 2; do
        cat "$TMP/text.paths" "$TMP/bin.paths" | while read -r p; do
            echo "url = \"http://$1$p\""
            echo 'output = "/dev/null"'
        done >"$TMP/curl.cfg"
        curl -fsS --parallel --parallel-max 16 -H "Accept-Encoding: gzip, br" -K "$TMP/curl.cfg" ||
            die "fill failed"
    done
    sleep 5 # encodings made and written beside their objects
}

# Unrecorded passes (text twice, binary once): the steady state is
# measured, after the encodings that the fill's full compression queue left
# unmade were made (once, by threads at nice 10 that get little CPU while
# wrk runs) and written beside their objects on disk.
warm() {
    local k
    for k in text text bin; do
        run_wrk "$TMP/warm-$k-$RANDOM.txt" "$DURATION" -H "Accept-Encoding: gzip, br" \
            -s "$HERE/load/cycle.lua" "http://$NODE_ADDR/" -- "$TMP/$k.paths"
    done
    sleep 2
}

declare -A RPS=() CPU=()
run() { # run NAME KIND PATHS
    local out=$TMP/wrk-$1-$2.txt t0 t1
    t0=$(proc_ticks "$NODE_PID")
    run_wrk "$out" "$DURATION" -H "Accept-Encoding: gzip, br" -s "$HERE/load/cycle.lua" "http://$NODE_ADDR/" -- "$3"
    t1=$(proc_ticks "$NODE_PID")
    local req secs rps _rest
    read -r req secs rps _rest < <(parse_wrk "$out")
    RPS[$1-$2]=$rps
    # Clock ticks are 10 ms: node CPU (user + system) per request in µs.
    CPU[$1-$2]=$(awk -v t=$((t1 - t0)) -v r="$req" 'BEGIN { printf "%.1f", t * 10000 / r }')
    log "$1 $2: $rps req/s, ${CPU[$1-$2]} µs CPU/req"
}

node memory "[cache]
memory_bytes = 268435456"
fill "$NODE_ADDR"
warm
run memory text "$TMP/text.paths"
run memory binary "$TMP/bin.paths"
stop_pid "$NODE_PID"

node disk "[cache]
memory_bytes = 4194304
max_object_bytes = 262144
dir = \"$TMP/disk\""
fill "$NODE_ADDR"
warm
run disk text "$TMP/text.paths"
run disk binary "$TMP/bin.paths"
stop_pid "$NODE_PID"

echo
echo "$OBJECTS text + $OBJECTS binary objects of $SIZE B; wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, 'Accept-Encoding: gzip, br'."
echo
echo "| objects | memory hits req/s | disk hits req/s (4 MiB memory) | disk / memory | node CPU µs/req memory / disk |"
echo "|---|---:|---:|---:|---:|"
for k in text binary; do
    awk -v k="$k" -v m="${RPS[memory-$k]}" -v d="${RPS[disk-$k]}" -v cm="${CPU[memory-$k]}" -v cd="${CPU[disk-$k]}" \
        'BEGIN { printf "| %s | %.0f | %.0f | %.2f | %s / %s |\n", k, m, d, d / m, cm, cd }'
done
echo
echo "Versions: cdn-edge $(cd "$REPO" && git describe --always --dirty 2>/dev/null || echo '?'); $(nproc) cores."
