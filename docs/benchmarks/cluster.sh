#!/usr/bin/env bash
# Three cdn-edge nodes as one cache, behind the load balancers of deploy/
# (nginx round-robin and consistent hash, HAProxy), in front of an nginx
# origin, all on loopback. Two sets of three nodes run side by side: "off"
# (no [cluster]: three islands) and "on" ([cluster] naming the three).
#
#   docs/benchmarks/cluster.sh                        # defaults below
#   OBJECTS=100 DURATION=3 ROUNDS=1 docs/benchmarks/cluster.sh   # quick run
#
# Measured, in one run:
#   1. cold objects: OBJECTS new objects x 3 requests each through each LB
#      recipe -> origin requests, cluster off and on (on: one per object);
#   2. hits: wrk through the round-robin nginx LB on a warm set of HOT
#      files, routing off vs on, rounds alternating (median req/s, p99,
#      node CPU per request, peak RSS of the three nodes);
#   3. failover: a wave of distinct cold misses through the round-robin LB
#      (cluster on) for FAILOVER_SECS; one node is SIGKILLed after 2 s ->
#      failed requests seen by the client and answered 5xx by the surviving
#      nodes (their access logs);
#   4. purge: the killed node is started again, an object is warmed on all
#      three, `PURGE` is sent to one node -> the time until every node
#      answers `only-if-cached` with 504 (the object gone everywhere).
#
# Environment:
#   OBJECTS        cold objects per LB recipe and set (default 300)
#   HOT            files in the warm set for the hit runs (default 200)
#   DURATION       seconds per wrk hit run (default 5)
#   ROUNDS         hit rounds, each runs off and on (default 3)
#   CONNECTIONS    wrk connections (default 64)
#   FAILOVER_SECS  length of the failover wave (default 8)
#   CDN_EDGE_BIN   use this binary instead of building target/release/cdn-edge
#   KEEP_TMP       1 = keep the temp dir
#
# Everything binds 127.0.0.1; every process started is stopped by PID on exit.
set -euo pipefail

OBJECTS=${OBJECTS:-300}
HOT=${HOT:-200}
DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
FAILOVER_SECS=${FAILOVER_SECS:-8}
KEEP_TMP=${KEEP_TMP:-0}
THREADS=1

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BENCH_TAG=cluster
# shellcheck source=lib/bench.sh
source "$HERE/lib/bench.sh"
# shellcheck source=lib/tls.sh
source "$HERE/lib/tls.sh"

for tool in nginx wrk haproxy curl python3; do
    command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] ||
        apt_install nginx-light wrk haproxy curl python3 || die "cannot install $tool"
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)
BIN=$(build_cdn_edge)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cdn-edge-cluster.XXXXXX")
chmod 755 "$TMP"
USER_LINE=""
((EUID == 0)) && USER_LINE="user $(id -un) $(id -gn);"
TOKEN=bench-cluster-token-$RANDOM$RANDOM
PURGE_TOKEN=bench-purge-token-$RANDOM

# ------------------------------------------------------------------ origin --
ORIGIN_ROOT=$TMP/origin-root
mkdir -p "$ORIGIN_ROOT/obj" "$TMP/origin"
python3 - "$ORIGIN_ROOT/obj" "$HOT" <<'PY'
import random, sys
d, n = sys.argv[1], int(sys.argv[2])
rng = random.Random(7)
words = ["const", "let", "function", "return", "value", "export", "import", "await"]
for i in range(n):
    size = rng.randint(2_000, 20_000)
    out, total = [], 0
    while total < size:
        w = rng.choice(words) + str(rng.randint(0, 999)) + ";\n"
        out.append(w)
        total += len(w)
    open(f"{d}/{i}.js", "w").write("".join(out))
PY
ORIGIN_PORT=$(free_port)
PAD=$(head -c 1500 /dev/zero | tr '\0' 'x')
sed -e "s|@USER@|$USER_LINE|; s|@DIR@|$TMP/origin|g; s|@PORT@|$ORIGIN_PORT|; s|@ROOT@|$ORIGIN_ROOT|; s|@PAD@|$PAD|" \
    "$HERE/cluster/origin.conf.tmpl" >"$TMP/origin/nginx.conf"
"$NGINX" -p "$TMP/origin/" -c "$TMP/origin/nginx.conf" >"$TMP/origin/stdout" 2>&1 &
STARTED+=("$!")
ORIGIN_LOG=$TMP/origin/access.log
origin_count() { # origin_count PATTERN: origin requests so far whose line matches
    grep -c -- "$1" "$ORIGIN_LOG" 2>/dev/null || true
}
wait_http() { # wait_http URL WHAT
    local _
    for _ in $(seq 100); do
        [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$1" || true) != 000 ]] && return 0
        sleep 0.1
    done
    die "$2 did not answer at $1"
}
wait_http "http://127.0.0.1:$ORIGIN_PORT/obj/0.js" origin

# ------------------------------------------------------------------- nodes --
declare -A NODE_PID=() NODE_PORT=()
mkdir -p "$TMP/empty"
for set in off on; do
    for i in 1 2 3; do NODE_PORT[$set$i]=$(free_port); done
done

node_config() { # node_config SET I
    local set=$1 i=$2 p=${NODE_PORT[$1$2]}
    cat <<TOML
[server]
listen = "127.0.0.1:$p"
root = "$TMP/empty"

[origin]
url = "http://127.0.0.1:$ORIGIN_PORT"

[purge]
token = "$PURGE_TOKEN"

[log]
access = "$TMP/$set$i/access.log"
access_flush = "100ms"
TOML
    if [[ $set == on ]]; then
        cat <<TOML

[cluster]
advertise = "http://127.0.0.1:$p"
token = "$TOKEN"
peers = ["http://127.0.0.1:${NODE_PORT[on1]}", "http://127.0.0.1:${NODE_PORT[on2]}", "http://127.0.0.1:${NODE_PORT[on3]}"]
down_for = "5s"
probe_interval = "500ms"
TOML
    fi
}

start_edge() { # start_edge SET I
    local key=$1$2 dir=$TMP/$1$2
    mkdir -p "$dir"
    node_config "$1" "$2" >"$dir/config.toml"
    "$BIN" serve --config "$dir/config.toml" >"$dir/stdout" 2>>"$dir/stderr" &
    NODE_PID[$key]=$!
    STARTED+=("$!")
    wait_http "http://127.0.0.1:${NODE_PORT[$key]}/healthz" "node $key"
}

for set in off on; do
    for i in 1 2 3; do start_edge "$set" "$i"; done
done
log "origin on 127.0.0.1:$ORIGIN_PORT; nodes off: ${NODE_PORT[off1]} ${NODE_PORT[off2]} ${NODE_PORT[off3]}; on: ${NODE_PORT[on1]} ${NODE_PORT[on2]} ${NODE_PORT[on3]}"

# ---------------------------------------------------------- load balancers --
# The deploy/ files as they are, with the compose node names replaced by the
# set's loopback addresses and the listen line by a free loopback port.
declare -A LB_PORT=()
lb_sed() { # lb_sed SET PORT: sed program for a deploy/ LB file
    printf 's|edge1:8080|127.0.0.1:%s|; s|edge2:8080|127.0.0.1:%s|; s|edge3:8080|127.0.0.1:%s|; s|listen 80;|listen 127.0.0.1:%s;|; s|bind :80|bind 127.0.0.1:%s|' \
        "${NODE_PORT[${1}1]}" "${NODE_PORT[${1}2]}" "${NODE_PORT[${1}3]}" "$2" "$2"
}
start_nginx_lb() { # start_nginx_lb SET RECIPE (round-robin | consistent-hash)
    local set=$1 recipe=$2 dir=$TMP/lb-$1-$2 port
    port=$(free_port)
    mkdir -p "$dir"
    sed "$(lb_sed "$set" "$port")" "$REPO/deploy/nginx/$recipe.conf" >"$dir/site.conf"
    cat >"$dir/nginx.conf" <<CONF
$USER_LINE
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
$(nginx_temp_paths "$dir")
    keepalive_requests 100000;
    include $dir/site.conf;
}
CONF
    "$NGINX" -p "$dir/" -c "$dir/nginx.conf" >"$dir/stdout" 2>&1 &
    STARTED+=("$!")
    LB_PORT[$set-$recipe]=$port
    wait_http "http://127.0.0.1:$port/healthz" "nginx LB $set $recipe"
}
start_haproxy_lb() { # start_haproxy_lb SET
    local set=$1 dir=$TMP/lb-$1-haproxy port
    port=$(free_port)
    mkdir -p "$dir"
    sed "$(lb_sed "$set" "$port")" "$REPO/deploy/haproxy.cfg" >"$dir/haproxy.cfg"
    "$HAPROXY" -c -q -f "$dir/haproxy.cfg" || die "haproxy refused deploy/haproxy.cfg"
    "$HAPROXY" -db -f "$dir/haproxy.cfg" >"$dir/stdout" 2>&1 &
    STARTED+=("$!")
    LB_PORT[$set-haproxy]=$port
    wait_http "http://127.0.0.1:$port/healthz" "haproxy LB $set"
}
for set in off on; do
    start_nginx_lb "$set" round-robin
    start_nginx_lb "$set" consistent-hash
    start_haproxy_lb "$set"
done

# -------------------------------------------------------- 1. cold objects --
log "1. cold objects: $OBJECTS objects x 3 requests through each LB recipe"
declare -A COLD=()
for set in off on; do
    for recipe in round-robin consistent-hash haproxy; do
        prefix=/gen/cold-$set-$recipe/
        url=http://127.0.0.1:${LB_PORT[$set-$recipe]}
        for i in $(seq "$OBJECTS"); do
            for _ in 1 2 3; do printf 'url = "%s"\noutput = "/dev/null"\n' "$url$prefix$i.js"; done
        done >"$TMP/cold-$set-$recipe.curl"
        # One connection to the LB, requests in order: round-robin gives
        # the three requests of an object to three nodes.
        codes=$(curl -s -K "$TMP/cold-$set-$recipe.curl" -w '%{http_code}\n' | sort | uniq -c | tr -s ' ' | tr '\n' ',')
        COLD[$set-$recipe]=$(origin_count "$prefix")
        log "   cluster $set, $recipe: ${COLD[$set-$recipe]} origin requests for $OBJECTS objects (answers: $codes)"
    done
done

# ----------------------------------------------------------------- 2. hits --
log "2. hits through the round-robin nginx LB, $HOT warm files, $CONNECTIONS connections"
seq 0 $((HOT - 1)) | sed 's|^|/obj/|; s|$|.js|' >"$TMP/hot.paths"
for set in off on; do
    url=http://127.0.0.1:${LB_PORT[$set-round-robin]}
    for _ in 1 2 3; do sed "s|.*|url = \"$url&\"\noutput = \"/dev/null\"|" "$TMP/hot.paths"; done >"$TMP/warm-$set.curl"
    # twice, so the encodings made in the background are in place
    for _ in 1 2; do curl -s -K "$TMP/warm-$set.curl" -H 'accept-encoding: gzip, deflate, br'; done
done
CLK_TCK=$(getconf CLK_TCK)
declare -A RPS=() P99=() CPU=() ERRS=()
for round in $(seq "$ROUNDS"); do
    order=(off on)
    ((round % 2 == 0)) && order=(on off)
    for set in "${order[@]}"; do
        out=$TMP/wrk-hits-$set-$round
        pids="${NODE_PID[${set}1]} ${NODE_PID[${set}2]} ${NODE_PID[${set}3]}"
        # shellcheck disable=SC2086
        t0=$(proc_ticks $pids)
        run_wrk "$out" "$DURATION" -H 'accept-encoding: gzip, deflate, br' \
            -s "$HERE/load/cycle.lua" "http://127.0.0.1:${LB_PORT[$set-round-robin]}" -- "$TMP/hot.paths"
        # shellcheck disable=SC2086
        t1=$(proc_ticks $pids)
        read -r req _secs rps _p50 p99 _bytes non2xx sockerr < <(parse_wrk "$out") || die "cannot read $out"
        cpu=$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$req" 'BEGIN { printf "%.1f", n ? t / hz * 1e6 / n : 0 }')
        log "   round $round, cluster $set: $rps req/s, p99 $p99 ms, nodes' CPU $cpu us/req, $non2xx non-2xx, $sockerr socket errors"
        RPS[$set]+="$rps "
        P99[$set]+="$p99 "
        CPU[$set]+="$cpu "
        ERRS[$set]=$((${ERRS[$set]:-0} + non2xx + sockerr))
    done
done

declare -A RSS=()
for set in off on; do
    RSS[$set]=$(peak_rss_kib "${NODE_PID[${set}1]}" "${NODE_PID[${set}2]}" "${NODE_PID[${set}3]}")
done

# ------------------------------------------------------------- 3. failover --
log "3. failover: distinct cold misses through the round-robin LB (cluster on) for ${FAILOVER_SECS} s; SIGKILL of node on3 after 2 s"
before=()
for i in 1 2; do before+=("$(wc -l <"$TMP/on$i/access.log")"); done
out=$TMP/wrk-failover
timeout --kill-after=5 $((FAILOVER_SECS + 60)) \
    wrk -t 1 -c 32 -d "${FAILOVER_SECS}s" --timeout 10s --latency -s "$HERE/cluster/fresh.lua" \
    "http://127.0.0.1:${LB_PORT[on-round-robin]}" -- /gen/wave/ >"$out" 2>&1 &
WRK_PID=$!
sleep 2
kill -KILL "${NODE_PID[on3]}"
wait "${NODE_PID[on3]}" 2>/dev/null || true
killed_at=$(date +%s.%N)
wait "$WRK_PID" || { cat "$out" >&2; die "wrk failed in the failover run"; }
WRK_PID=""
read -r fo_req _secs fo_rps _p50 fo_p99 _bytes fo_non2xx fo_sockerr < <(parse_wrk "$out") || die "cannot read $out"
sleep 0.5 # the access logs flush every 100 ms
survivor_5xx=0
survivor_lines=0
for i in 1 2; do
    n=$(tail -n +"$((before[i - 1] + 1))" "$TMP/on$i/access.log" | awk '$9 >= 500 { bad++ } END { print bad + 0 }')
    l=$(tail -n +"$((before[i - 1] + 1))" "$TMP/on$i/access.log" | wc -l)
    survivor_5xx=$((survivor_5xx + n))
    survivor_lines=$((survivor_lines + l))
done
log "   $fo_req requests ($fo_rps req/s, p99 $fo_p99 ms): client saw $fo_non2xx non-2xx and $fo_sockerr socket errors; the surviving nodes answered $survivor_lines requests (the LB's and their peers'), $survivor_5xx of them 5xx"
log "   (node on3 killed at $(date -d "@$killed_at" +%T.%N | cut -c1-12))"

# ---------------------------------------------------------------- 4. purge --
log "4. purge: node on3 started again; an object warmed on all three; PURGE on node on1"
start_edge on 3
obj=/gen/purge/object.js
for _ in 1 2; do
    for i in 1 2 3; do curl -s -o /dev/null "http://127.0.0.1:${NODE_PORT[on$i]}$obj"; done
done
cached_on() { # cached_on I: 200 when node I holds the object, 504 when not
    curl -s -o /dev/null -w '%{http_code}\n' -H 'cache-control: only-if-cached' \
        "http://127.0.0.1:${NODE_PORT[on$1]}$obj"
}
held=$(for i in 1 2 3; do cached_on "$i"; done | tr '\n' ' ')
log "   before: only-if-cached on each node -> $held"
t0=$(date +%s%N)
purge_answer=$(curl -s -X PURGE -H "authorization: Bearer $PURGE_TOKEN" "http://127.0.0.1:${NODE_PORT[on1]}$obj")
t_answer=$(date +%s%N)
purge_ms=""
for _ in $(seq 200); do
    after=$(for i in 1 2 3; do cached_on "$i"; done | tr '\n' ' ')
    if [[ $after == "504 504 504 " ]]; then
        purge_ms=$((($(date +%s%N) - t0) / 1000000))
        break
    fi
    (($(date +%s%N) - t0 > 5000000000)) && break
    sleep 0.01
done
log "   PURGE answered in $(((t_answer - t0) / 1000000)) ms: $purge_answer"
log "   after: only-if-cached on each node -> $after"

# ---------------------------------------------------------------- summary --
echo
printf 'Cold objects: %d objects x 3 requests, origin requests\n' "$OBJECTS"
printf '%-18s %10s %10s\n' LB "cluster off" "cluster on"
for recipe in round-robin consistent-hash haproxy; do
    printf '%-18s %10s %10s\n' "$recipe" "${COLD[off-$recipe]}" "${COLD[on-$recipe]}"
done
echo
printf 'Hits through the round-robin nginx LB, %d files, %d connections, %d s x %d rounds (median)\n' \
    "$HOT" "$CONNECTIONS" "$DURATION" "$ROUNDS"
printf '%-12s %10s %8s %14s %8s %18s\n' cluster req/s p99_ms node_us/req errors nodes_peak_RSS_MiB
for set in off on; do
    # shellcheck disable=SC2086
    printf '%-12s %10s %8s %14s %8s %18s\n' "$set" "$(median ${RPS[$set]})" "$(median ${P99[$set]})" \
        "$(median ${CPU[$set]})" "${ERRS[$set]}" "$(awk -v k="${RSS[$set]}" 'BEGIN { printf "%.1f", k / 1024 }')"
done
# shellcheck disable=SC2086
ratio=$(awk -v a="$(median ${RPS[on]})" -v b="$(median ${RPS[off]})" 'BEGIN { printf "%.3f", a / b }')
printf 'routing on / off: %s (target >= 0.95)\n' "$ratio"
echo
printf 'Failover: %d requests of distinct cold objects, node 3 SIGKILLed after 2 s of %d s\n' "$fo_req" "$FAILOVER_SECS"
printf '  client: %d non-2xx, %d socket errors; surviving nodes: %d answered (LB and peers), %d of them 5xx (target 0)\n' \
    "$fo_non2xx" "$fo_sockerr" "$survivor_lines" "$survivor_5xx"
echo
if [[ -n $purge_ms ]]; then
    printf 'Purge: gone from all 3 nodes %d ms after PURGE was sent to one (target < 1000)\n' "$purge_ms"
else
    printf 'Purge: NOT gone from all 3 nodes within 5 s (only-if-cached: %s)\n' "$after"
fi
