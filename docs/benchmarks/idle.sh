#!/usr/bin/env bash
# Idle connections: what an idle keep-alive connection costs in memory,
# cdn-edge against Debian's nginx, same file, same machine, same run.
#
#   docs/benchmarks/idle.sh                       # 3 rounds, 5,000 connections per mode
#   ROUNDS=1 N=1000 docs/benchmarks/idle.sh       # quick look
#
# Environment:
#   ROUNDS        rounds; the server order alternates (default 3)
#   N             idle connections held per run (default 5000)
#   MODES         what the connections speak (default "h1 h1tls h2tls":
#                 plain HTTP/1.1, HTTP/1.1 over TLS, HTTP/2 over TLS)
#   SETTLE        seconds the connections sit idle before the RSS is read
#                 (default 3)
#   CDN_EDGE_BIN  binary to measure instead of building target/release/cdn-edge
#   KEEP_TMP      1 = keep the temp dir
#
# Per round, mode and server, a fresh server (one worker per core,
# keep-alive 120 s, access log off, the same ECDSA P-256 certificate) gets
# N connections from docs/benchmarks/idle/hold.py, each sending one GET
# for a 5-byte file and then nothing. Reported: the RSS the idle
# connections add (VmRSS after SETTLE seconds of idleness minus VmRSS
# before the first connection, divided by N; nginx: master + workers) and
# the peak RSS (VmHWM) of the run, medians of the rounds. Then a second
# GET on every connection checks that the idle ones are still served.
# Loopback only; every run is bounded in time; every process started is
# stopped by PID.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
N=${N:-5000}
MODES=${MODES:-h1 h1tls h2tls}
SETTLE=${SETTLE:-3}
KEEP_TMP=${KEEP_TMP:-0}
THREADS=1
CONNECTIONS=1

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BENCH_TAG=idle
# shellcheck source=lib/bench.sh
source "$HERE/lib/bench.sh"
# shellcheck source=lib/tls.sh
source "$HERE/lib/tls.sh"

need_with_nginx curl python3 openssl
BIN=$(build_cdn_edge)

# Room for the held connections (both ends live in this machine).
want=$((N * 2 + 2048))
raise_nofile "$want"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cdn-edge-idle.XXXXXX")
chmod 755 "$TMP"
ROOT=$TMP/www
mkdir -p "$ROOT" "$TMP/certs"
echo idle >"$ROOT/idle.txt"
make_cert "$TMP/certs"
WORKERS=$(nproc)

cat >"$TMP/edge.toml" <<CONF
[server]
workers = $WORKERS
[log]
access = "off"
[limits]
max_connections = $((N + 1000))
keep_alive = "2m"
header_timeout = "10s"
[tls]
listen = "127.0.0.1:0"
cert = "$TMP/certs/cert.pem"
key = "$TMP/certs/key.pem"
CONF

USER_LINE=""
((EUID == 0)) && USER_LINE="user $(id -un) $(id -gn);"
start_edge() { # sets PIDS, PLAIN, TLS
    local dir=$TMP/edge _
    mkdir -p "$dir"
    "$BIN" serve --listen 127.0.0.1:0 --config "$TMP/edge.toml" --root "$ROOT" 2>"$dir/stderr" >/dev/null &
    PIDS=("$!")
    STARTED+=("$!")
    for _ in $(seq 300); do
        PLAIN=$(grep -o 'listening on http://[0-9.]*:[0-9]*' "$dir/stderr" | head -n1 | sed 's|.*http://||') || true
        TLS=$(grep -o 'listening on https://[0-9.]*:[0-9]*' "$dir/stderr" | head -n1 | sed 's|.*https://||') || true
        [[ -n $PLAIN && -n $TLS ]] && return 0
        kill -0 "${PIDS[0]}" 2>/dev/null || break
        sleep 0.1
    done
    cat "$dir/stderr" >&2
    die "cdn-edge did not start"
}

start_nginx() { # sets PIDS (master, workers), PLAIN, TLS
    local dir=$TMP/nginx plain tls _ workers=()
    plain=$(free_port)
    tls=$(free_port)
    mkdir -p "$dir"
    cat >"$dir/nginx.conf" <<CONF
$USER_LINE
worker_processes $WORKERS;
worker_rlimit_nofile $want;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections $((N + 1000)); }
http {
    access_log off;
$(nginx_temp_paths "$dir")
    keepalive_requests 100000;
    keepalive_timeout 120s;
    client_header_timeout 10s;
    ssl_certificate $TMP/certs/cert.pem;
    ssl_certificate_key $TMP/certs/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;
    server {
        listen 127.0.0.1:$plain backlog=1024;
        listen 127.0.0.1:$tls ssl http2 backlog=1024;
        root $ROOT;
    }
}
CONF
    "$NGINX" -p "$dir/" -e "$dir/error.log" -c "$dir/nginx.conf" >"$dir/stdout" 2>&1 &
    PIDS=("$!")
    STARTED+=("$!")
    PLAIN=127.0.0.1:$plain
    TLS=127.0.0.1:$tls
    for _ in $(seq 100); do
        curl -fsS -o /dev/null --max-time 1 "http://$PLAIN/idle.txt" 2>/dev/null && break
        sleep 0.1
    done
    for _ in $(seq 50); do
        mapfile -t workers < <(pgrep -P "${PIDS[0]}" || true)
        ((${#workers[@]} >= WORKERS)) && break
        sleep 0.1
    done
    ((${#workers[@]} >= WORKERS)) || die "nginx did not start (see $dir/error.log)"
    PIDS+=("${workers[@]}")
    STARTED+=("${workers[@]}")
}

RES=$TMP/results
: >"$RES"
# one_run SERVER MODE ROUND: appends "SERVER MODE bytes_per_conn hwm_kib held failed checked" to $RES
one_run() {
    local server=$1 mode=$2 r=$3 port status rss0 rss1 hwm hold_pid ready checked pid
    "start_$server"
    [[ $mode == h1 ]] && port=${PLAIN##*:} || port=${TLS##*:}
    # Warm up: one request of each kind, so that what the first connection
    # sets up once per process is not counted per connection.
    curl -fsS -o /dev/null --max-time 5 "http://$PLAIN/idle.txt"
    curl -fsSk -o /dev/null --max-time 5 --http1.1 "https://$TLS/idle.txt"
    curl -fsSk -o /dev/null --max-time 5 --http2 "https://$TLS/idle.txt"
    sleep 1
    rss0=$(proc_kb VmRSS "${PIDS[0]}")
    status=$TMP/$server-$mode-$r.status
    : >"$status"
    timeout --kill-after=5 $((SETTLE + 150)) \
        python3 "$HERE/idle/hold.py" "$mode" "$port" "$N" $((SETTLE + 140)) "$status" &
    hold_pid=$!
    STARTED+=("$hold_pid")
    wait_line "$status" '^ready' 100 || die "$server $mode: connections not open in 100 s"
    sleep "$SETTLE"
    rss1=$(proc_kb VmRSS "${PIDS[0]}")
    hwm=$(proc_kb VmHWM "${PIDS[0]}")
    for pid in "${PIDS[@]}"; do cp "/proc/$pid/smaps_rollup" "$TMP/$server-$mode-$r.$pid.smaps" 2>/dev/null || true; done
    echo check >"$status.cmd"
    wait_line "$status" '^checked' 60 || die "$server $mode: second GETs not done in 60 s"
    read -r _ ready failed < <(grep '^ready' "$status")
    read -r _ checked _ < <(grep '^checked' "$status")
    stop_pid "$hold_pid"
    for pid in "${PIDS[@]}"; do stop_pid "$pid"; done
    ((ready > 0)) || die "$server $mode: no connection opened"
    log "$server $mode round $r: RSS $rss0 -> $rss1 kB (peak $hwm kB) over $ready idle connections ($failed failed); second GET ok on $checked"
    echo "$server $mode $(((rss1 - rss0) * 1024 / ready)) $hwm $ready $failed $checked" >>"$RES"
}

for r in $(seq "$ROUNDS"); do
    order=(edge nginx)
    ((r % 2 == 0)) && order=(nginx edge)
    for mode in $MODES; do
        for s in "${order[@]}"; do one_run "$s" "$mode" "$r"; done
    done
done

printf '\n%-8s %-7s %18s %14s %12s %14s\n' server mode "bytes/idle conn" "peak RSS MiB" "held (min)" "2nd GET ok (min)"
for mode in $MODES; do
    for s in edge nginx; do
        awk -v s="$s" -v m="$mode" '$1 == s && $2 == m' "$RES" >"$TMP/sel"
        b=$(median $(cut -d' ' -f3 "$TMP/sel"))
        h=$(median $(cut -d' ' -f4 "$TMP/sel"))
        held=$(cut -d' ' -f5 "$TMP/sel" | sort -n | head -n1)
        ok=$(cut -d' ' -f7 "$TMP/sel" | sort -n | head -n1)
        name=$s
        [[ $s == edge ]] && name=cdn-edge
        printf '%-8s %-7s %18s %14.1f %12s %14s\n' "$name" "$mode" "$b" "$(awk -v k="$h" 'BEGIN { print k / 1024 }')" "$held" "$ok"
    done
done
printf '(%s rounds, medians; %s connections per run, one GET each, then %s s idle)\n' "$ROUNDS" "$N" "$SETTLE"
