#!/usr/bin/env bash
# Disk hits against memory hits, for text and for binary objects: how fast
# does the node answer from its disk cache when the memory cache is too
# small to hold the working set?
#
#   docs/benchmarks/disk_hits.sh                 # 2,000 text + 2,000 binary objects of 16 KiB
#   ROUNDS=5 BASELINE_BIN=/tmp/cdn-edge-before docs/benchmarks/disk_hits.sh
#                                        # five rounds, a baseline binary beside
#   SIZE=8388608 OBJECTS=8 CONNECTIONS=64 DISK_MEMORY_BYTES=67108864 FILL_PARALLEL=2 \
#     ROUNDS=3 BASELINE_BIN=/tmp/cdn-edge-before docs/benchmarks/disk_hits.sh
#                                        # large objects streamed from disk, 64 readers
#
# Environment:
#   OBJECTS       objects of each kind (default 2000)
#   SIZE          bytes per object (default 16384)
#   DURATION      seconds per wrk run (default 5)
#   ROUNDS        rounds (default 1); each starts every node afresh, in an
#                 order rotated per round, and the table gives medians
#   CDN_EDGE_BIN  binary to measure instead of building target/release/cdn-edge
#   BASELINE_BIN  a second binary (say, of the commit before a change): its
#                 disk node is measured beside, in the same rounds
#   CONNECTIONS   wrk's concurrent connections (default 32)
#   DISK_MEMORY_BYTES  cache.memory_bytes of the disk nodes (default 4 MiB;
#                 to store an object the node fetches it whole, which it
#                 does only while the fetches reserve at most half of it)
#   FILL_PARALLEL concurrent requests of the fill (default 16)
#   NGINX         1 (default) = nginx proxy_cache beside, its hits read
#                 from its cache files (identity only: nginx does not
#                 compress what it caches), 0 = leave it out
#
# The origin (Debian nginx) serves OBJECTS text files (CSS-like, compressible)
# and OBJECTS binary files (random bytes, .png) with
# "Cache-Control: public, max-age=3600". The nodes pull from it: "memory"
# with the default 256 MiB cache (everything fits), and "disk" (and
# "disk-baseline") with cache.memory_bytes = DISK_MEMORY_BYTES, objects of
# at most 256 KiB in memory, and a disk cache (almost
# every request is a memory miss answered from disk). Each node is filled
# (every object twice, then a pause so the text encodings are made and
# written beside their objects) and warmed (one unrecorded wrk pass over
# each kind), then wrk -t2 -c32 cycles through the text paths with
# "Accept-Encoding: gzip, br", then through the binary ones. Reported per
# node and kind: req/s, node CPU per request (user + system, from /proc;
# nginx: master and workers), the disk/memory ratio, and the node's peak
# RSS (VmHWM; nginx: the sum over its processes) at the end of its round.
# Loopback only; every process is stopped by PID.
set -euo pipefail

OBJECTS=${OBJECTS:-2000}
SIZE=${SIZE:-16384}
DURATION=${DURATION:-5}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-32}
KEEP_TMP=${KEEP_TMP:-0}
ROUNDS=${ROUNDS:-1}
BASELINE_BIN=${BASELINE_BIN:-}
NGINX=${NGINX:-1}
DISK_MEMORY_BYTES=${DISK_MEMORY_BYTES:-4194304}
FILL_PARALLEL=${FILL_PARALLEL:-16}

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

[[ -z $BASELINE_BIN || -x $BASELINE_BIN ]] || die "no executable at BASELINE_BIN=$BASELINE_BIN"

NODE_PIDS=() # every process of the node measured now (nginx: master and workers)

node() { # node NAME BIN CONFIG_TEXT: sets NODE_ADDR, NODE_PID, NODE_PIDS
    printf '%s\n' "$3" >"$TMP/$1.toml"
    start_node "$TMP/$1.log" "$2" --config "$TMP/$1.toml" --root "$TMP/empty" \
        --origin "http://127.0.0.1:$ORIGIN_PORT"
    NODE_PIDS=("$NODE_PID")
}

nginx_node() { # nginx proxy_cache (pull.sh's), its cache emptied: sets NODE_ADDR, NODE_PID, NODE_PIDS
    local dir=$TMP/nginx-cache user_line="" port c _
    rm -rf "$dir"
    mkdir -p "$dir"
    ((EUID == 0)) && user_line="user $(id -un) $(id -gn);"
    port=$(free_port)
    sed -e "s|@TMP@|$dir|g" -e "s|@USER_LINE@|$user_line|g" -e "s|@PORT@|$port|g" \
        -e "s|@ORIGIN_PORT@|$ORIGIN_PORT|g" "$HERE/pull/edge-nginx.conf.tmpl" >"$dir/nginx.conf"
    "$NGINX_EXE" -p "$dir/" -e "$dir/error.log" -c "$dir/nginx.conf" >"$dir/stdout" 2>&1 &
    NODE_PID=$!
    STARTED+=("$NODE_PID")
    NODE_ADDR=127.0.0.1:$port
    for _ in $(seq 100); do
        [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://$NODE_ADDR/") != 000 ]] && break
        sleep 0.1
    done
    NODE_PIDS=("$NODE_PID")
    for c in $(pgrep -P "$NODE_PID" || true); do
        grep -q 'cache loader' "/proc/$c/cmdline" 2>/dev/null || NODE_PIDS+=("$c")
    done
}
NGINX_EXE=$(command -v nginx || echo /usr/sbin/nginx)

fill() { # fill ADDR
    local p
    for _ in 1 2; do
        cat "$TMP/text.paths" "$TMP/bin.paths" | while read -r p; do
            echo "url = \"http://$1$p\""
            echo 'output = "/dev/null"'
        done >"$TMP/curl.cfg"
        curl -fsS --parallel --parallel-max "$FILL_PARALLEL" -H "Accept-Encoding: gzip, br" -K "$TMP/curl.cfg" ||
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

RESULTS=$TMP/results.tsv # round node kind rps cpu_us vmhwm_kb
: >"$RESULTS"
run() { # run ROUND NAME KIND PATHS
    local out=$TMP/wrk-$1-$2-$3.txt t0 t1
    t0=$(proc_ticks "${NODE_PIDS[@]}")
    run_wrk "$out" "$DURATION" -H "Accept-Encoding: gzip, br" -s "$HERE/load/cycle.lua" "http://$NODE_ADDR/" -- "$4"
    t1=$(proc_ticks "${NODE_PIDS[@]}")
    local req secs rps _rest cpu
    read -r req secs rps _rest < <(parse_wrk "$out")
    # Clock ticks are 10 ms: node CPU (user + system) per request in µs.
    cpu=$(awk -v t=$((t1 - t0)) -v r="$req" 'BEGIN { printf "%.1f", t * 10000 / r }')
    printf '%s\t%s\t%s\t%s\t%s\t' "$1" "$2" "$3" "$rps" "$cpu" >>"$RESULTS"
    log "round $1 $2 $3: $rps req/s, $cpu µs CPU/req"
}

measure() { # measure ROUND NAME: the node is running; each row ends with its VmHWM
    fill "$NODE_ADDR"
    warm
    run "$1" "$2" text "$TMP/text.paths"
    local kb
    kb=$(peak_rss_kib "${NODE_PIDS[@]}")
    printf '%s\n' "$kb" >>"$RESULTS"
    run "$1" "$2" binary "$TMP/bin.paths"
    kb=$(peak_rss_kib "${NODE_PIDS[@]}")
    printf '%s\n' "$kb" >>"$RESULTS"
    log "round $1 $2: VmHWM $((kb / 1024)) MiB"
    stop_pid "$NODE_PID"
}

DISK_CONFIG() { # DISK_CONFIG NAME
    printf '[cache]\nmemory_bytes = %s\nmax_object_bytes = 262144\ndir = "%s"\n' "$DISK_MEMORY_BYTES" "$TMP/disk-$1"
}

NAMES=(memory disk)
[[ -n $BASELINE_BIN ]] && NAMES+=(disk-baseline)
((NGINX == 1)) && NAMES+=(nginx)
for ((r = 1; r <= ROUNDS; r++)); do
    n=${#NAMES[@]}
    for ((k = 0; k < n; k++)); do
        name=${NAMES[$(((k + r - 1) % n))]}
        case $name in
        memory) node memory "$BIN" "$(printf '[cache]\nmemory_bytes = 268435456')" ;;
        disk) rm -rf "$TMP/disk-disk" && node disk "$BIN" "$(DISK_CONFIG disk)" ;;
        disk-baseline) rm -rf "$TMP/disk-disk-baseline" && node disk-baseline "$BASELINE_BIN" "$(DISK_CONFIG disk-baseline)" ;;
        nginx) nginx_node ;;
        esac
        measure "$r" "$name"
    done
done

echo
echo "$OBJECTS text + $OBJECTS binary objects of $SIZE B; wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, 'Accept-Encoding: gzip, br'; $ROUNDS round(s), medians (each round's figures in brackets)."
echo "disk: $BIN ($("$BIN" --version 2>/dev/null || echo '?'))"
[[ -n $BASELINE_BIN ]] && echo "disk-baseline: $BASELINE_BIN ($("$BASELINE_BIN" --version 2>/dev/null || echo '?'))"
echo
python3 - "$RESULTS" "${NAMES[@]}" <<'PY'
import statistics, sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
names = sys.argv[2:]
def vals(node, kind, col):
    return [float(r[col]) for r in rows if r[1] == node and r[2] == kind]
def med(node, kind, col):
    v = vals(node, kind, col)
    return statistics.median(v) if v else float("nan")
print("| node | objects | req/s | ratio to memory hits | node CPU µs/req | VmHWM MiB |")
print("|---|---|---:|---:|---:|---:|")
for kind in ("text", "binary"):
    for n in names:
        if not vals(n, kind, 3):
            continue
        rps = "%.0f [%s]" % (med(n, kind, 3), " / ".join("%.0f" % x for x in vals(n, kind, 3)))
        ratio = med(n, kind, 3) / med("memory", kind, 3) if vals("memory", kind, 3) else float("nan")
        cpu = "%.1f [%s]" % (med(n, kind, 4), " / ".join("%.1f" % x for x in vals(n, kind, 4)))
        hwm = "%.0f" % (med(n, kind, 5) / 1024)
        print("| %s | %s | %s | %.2f | %s | %s |" % (n, kind, rps, ratio, cpu, hwm))
PY
echo
echo "Versions: cdn-edge $(cd "$REPO" && git describe --always --dirty 2>/dev/null || echo '?'); $("$NGINX_EXE" -v 2>&1); $(nproc) cores."
