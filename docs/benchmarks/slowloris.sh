#!/usr/bin/env bash
# Slow and idle clients: does a normal client's hit latency hold while the
# node also holds 5,000 idle keep-alive connections and 500 slowloris ones
# (a request head sent one byte every few seconds, never finished)? The
# same run measures Debian's nginx serving the same files the same way.
#
#   docs/benchmarks/slowloris.sh
#   ROUNDS=1 DURATION=5 docs/benchmarks/slowloris.sh          # quick look
#
# Environment:
#   ROUNDS        rounds per server, alternating (default 3)
#   DURATION      seconds of each wrk run (default 10)
#   IDLE          idle keep-alive connections held (default 5000)
#   SLOW          slowloris connections held (default 500)
#   INTERVAL      seconds between two slowloris bytes (default 3)
#   THREADS, CONNECTIONS   the normal client: wrk -t/-c (default 1 / 8)
#   CDN_EDGE_BIN  binary to measure instead of building target/release/cdn-edge
#
# Both servers get the same budget: keep-alive 120 s, 10 s for a request
# head, one worker per core, access log off. Per round and server: wrk on a
# 2 KB file alone (p99 "quiet"), then with the bad connections held (p99
# "loaded"), and the RSS the idle connections add, over 5,000 (cdn-edge:
# VmRSS of its process; nginx: master + workers), both started fresh for
# each round. Reported: medians of the
# rounds, the loaded/quiet p99 ratio (target: at most 2), and bytes per
# idle connection. Loopback only, bounded in time; every process is
# stopped by PID.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
IDLE=${IDLE:-5000}
SLOW=${SLOW:-500}
INTERVAL=${INTERVAL:-3}
THREADS=${THREADS:-1}
CONNECTIONS=${CONNECTIONS:-8}
KEEP_TMP=${KEEP_TMP:-0}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BENCH_TAG=slowloris
# shellcheck source=lib/bench.sh
source "$HERE/lib/bench.sh"

need_with_nginx wrk curl python3
BIN=$(build_cdn_edge)

# Room for the held connections (both ends live in this machine).
want=$(((IDLE + SLOW) * 2 + 2048))
raise_nofile "$want"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cdn-edge-slowloris.XXXXXX")
ROOT=$TMP/www
mkdir -p "$ROOT"
head -c 2048 /dev/zero | tr '\0' 'a' >"$ROOT/hit.txt"
echo idle >"$ROOT/idle.txt"
WORKERS=$(nproc)

cat >"$TMP/edge.toml" <<CONF
[server]
workers = $WORKERS
[log]
access = "off"
[limits]
max_connections = 10000
keep_alive = "2m"
header_timeout = "10s"
CONF

USER_LINE=""
((EUID == 0)) && USER_LINE="user $(id -un) $(id -gn);"
start_nginx() { # sets NGINX_PID and NODE_ADDR
    local port dir=$TMP/nginx _
    port=$(free_port)
    mkdir -p "$dir"
    cat >"$dir/nginx.conf" <<CONF
$USER_LINE
worker_processes $WORKERS;
worker_rlimit_nofile $want;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 10000; }
http {
    access_log off;
$(nginx_temp_paths "$dir")
    keepalive_requests 100000;
    keepalive_timeout 120s;
    client_header_timeout 10s;
    server {
        listen 127.0.0.1:$port backlog=1024;
        root $ROOT;
    }
}
CONF
    "$NGINX" -p "$dir/" -c "$dir/nginx.conf" >"$dir/stdout" 2>&1 &
    NGINX_PID=$!
    STARTED+=("$NGINX_PID")
    NODE_ADDR=127.0.0.1:$port
    for _ in $(seq 100); do
        curl -fsS -o /dev/null --max-time 1 "http://$NODE_ADDR/hit.txt" 2>/dev/null && return 0
        sleep 0.1
    done
    die "nginx did not answer (see $dir/error.log)"
}

rss_kb() { proc_kb VmRSS "$1"; }

# one_round NAME PID ADDR: appends "quiet_p99 loaded_p99 bytes_per_idle idle slow" to $TMP/NAME.res
one_round() {
    local name=$1 pid=$2 addr=$3 r=$4 status rss0 rss1 q l hold_pid port=${3##*:}
    run_wrk "$TMP/$name-$r-quiet.txt" "$DURATION" "http://$addr/hit.txt"
    q=$(parse_wrk "$TMP/$name-$r-quiet.txt") || die "unreadable wrk output"
    rss0=$(rss_kb "$pid")
    status=$TMP/$name-$r.status
    : >"$status"
    timeout --kill-after=5 $((DURATION + 90)) \
        python3 "$HERE/slowloris/hold.py" "$port" "$IDLE" "$SLOW" "$INTERVAL" \
        $((DURATION + 45)) "$status" &
    hold_pid=$!
    STARTED+=("$hold_pid")
    wait_line "$status" '^idle-ready' 60 || die "$name: idle connections not open in 60 s"
    sleep 2
    rss1=$(rss_kb "$pid")
    # Let the slowloris connections open and start trickling.
    sleep $((INTERVAL + 3))
    run_wrk "$TMP/$name-$r-loaded.txt" "$DURATION" "http://$addr/hit.txt"
    l=$(parse_wrk "$TMP/$name-$r-loaded.txt") || die "unreadable wrk output"
    local counts ready
    ready=$(awk '/^idle-ready/ { print $2 }' "$status")
    counts=$(grep '^open' "$status" | tail -n1)
    stop_pid "$hold_pid"
    log "$name round $r: quiet [$q] loaded [$l] rss ${rss0} -> ${rss1} kB; idle ready $ready; $counts"
    echo "$(echo "$q" | cut -d' ' -f5) $(echo "$l" | cut -d' ' -f5) $(((rss1 - rss0) * 1024 / IDLE)) $ready $counts" \
        >>"$TMP/$name.res"
    # Let the server drop what the holder left.
    sleep 2
}

# Fresh servers each round: memory an allocator keeps after the held
# connections close would hide the next round's growth.
for r in $(seq "$ROUNDS"); do
    start_node "$TMP/edge-$r.log" "$BIN" --config "$TMP/edge.toml" --root "$ROOT"
    run_wrk "$TMP/warm-edge.txt" 2 "http://$NODE_ADDR/hit.txt"
    one_round cdn-edge "$NODE_PID" "$NODE_ADDR" "$r"
    stop_pid "$NODE_PID"
    start_nginx
    run_wrk "$TMP/warm-nginx.txt" 2 "http://$NODE_ADDR/hit.txt"
    one_round nginx "$NGINX_PID" "$NODE_ADDR" "$r"
    stop_pid "$NGINX_PID"
done

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
printf '\n%-9s %12s %12s %7s %16s\n' server "p99 quiet" "p99 loaded" ratio "bytes/idle conn"
for name in cdn-edge nginx; do
    q=$(cut -d' ' -f1 "$TMP/$name.res" | median)
    l=$(cut -d' ' -f2 "$TMP/$name.res" | median)
    b=$(cut -d' ' -f3 "$TMP/$name.res" | median)
    printf '%-9s %10.2fms %10.2fms %7.2f %16s\n' "$name" "$q" "$l" "$(echo "$l / $q" | bc -l)" "$b"
done
printf '(%s rounds, medians; wrk -t%s -c%s -d%ss on a 2 KB file; %s idle + %s slowloris connections, a byte every %ss)\n' \
    "$ROUNDS" "$THREADS" "$CONNECTIONS" "$DURATION" "$IDLE" "$SLOW" "$INTERVAL"
