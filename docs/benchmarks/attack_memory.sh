#!/usr/bin/env bash
# Memory and origin connections under the two attacks of issue 18 items 2
# and 3, against a node with a small cache.memory_bytes, beside nginx
# proxy_cache on the same origin in the same run:
#
#   (a) misses: N clients at once each GET a distinct query string of one
#       large object (cache-busting), reading it whole;
#   (b) stall:  N clients with a 4 KiB receive buffer each GET an object
#       above origin.max_object_bytes and never read a byte, held for HOLD
#       seconds (longer than the send timeout).
#
#   docs/benchmarks/attack_memory.sh
#   ROUNDS=1 docs/benchmarks/attack_memory.sh                      # quick look
#   BASE_BIN=/path/to/old/cdn-edge docs/benchmarks/attack_memory.sh  # also the old binary, same run
#
# Environment:
#   ROUNDS        rounds per server and scenario; medians reported (default 3)
#   MEMORY_BYTES  cache.memory_bytes of the node (default 67108864, 64 MiB)
#   BIG_MB        size of the object of (a), MiB (default 30)
#   HUGE_MB       size of the object of (b), MiB (default 100; above origin.max_object_bytes)
#   MISSES        clients of (a) (default 40)
#   STALLED       clients of (b) (default 300)
#   SEND_TIMEOUT  limits.send_timeout of the node, nginx's send_timeout (default 10)
#   HOLD          seconds (b) holds its clients (default 20)
#   CDN_EDGE_BIN  binary to measure instead of building target/release/cdn-edge
#   BASE_BIN      a second binary measured the same way (its config has no
#                 keys newer than issue 18)
#   SERVERS       which to measure, of "cdn-edge base nginx" (default: all given)
#
# The origin is Debian's nginx serving two random files with
# "Cache-Control: public, max-age=3600" (and their Content-Length). Reported
# per server and scenario: peak RSS (VmHWM; nginx: master + workers, each
# started fresh per round), origin connections at their peak (sampled every
# 0.2 s), half a send timeout into (b)'s hold and at its end, and the
# clients served. Loopback only; every run is bounded
# in time; every process is stopped by PID.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
MEMORY_BYTES=${MEMORY_BYTES:-67108864}
BIG_MB=${BIG_MB:-30}
HUGE_MB=${HUGE_MB:-100}
MISSES=${MISSES:-40}
STALLED=${STALLED:-300}
SEND_TIMEOUT=${SEND_TIMEOUT:-10}
HOLD=${HOLD:-20}
KEEP_TMP=${KEEP_TMP:-0}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BENCH_TAG=attack_memory
# shellcheck source=lib/bench.sh
source "$HERE/lib/bench.sh"

need_with_nginx curl python3 ss
BIN=$(build_cdn_edge)

want=$((STALLED * 4 + 2048))
raise_nofile "$want"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cdn-edge-attack.XXXXXX")
chmod 755 "$TMP"
mkdir -p "$TMP/www" "$TMP/empty"
head -c $((BIG_MB << 20)) /dev/urandom >"$TMP/www/big.bin"
head -c $((HUGE_MB << 20)) /dev/urandom >"$TMP/www/huge.bin"
start_static_origin "$TMP/www" "$TMP/origin" "application/octet-stream bin;"
WORKERS=$(nproc)

# The node: a small memory cache, origin.max_object_bytes at its default
# (64 MiB: the huge object is above it, the big one below).
base_config() {
    cat <<EOF
[server]
workers = $WORKERS
[log]
access = "off"
[cache]
memory_bytes = $MEMORY_BYTES
max_object_bytes = $((MEMORY_BYTES / 16))
[limits]
max_connections = $((STALLED * 2 + 1000))
EOF
}
base_config >"$TMP/base.toml"
{ base_config; echo "send_timeout = \"${SEND_TIMEOUT}s\""; } >"$TMP/edge.toml"

USER_LINE=""
((EUID == 0)) && USER_LINE="user $(id -un) $(id -gn);"
start_nginx() { # start_nginx: nginx proxy_cache in front of the origin; sets NODE_PID, NODE_ADDR
    local port dir=$TMP/nginx _
    port=$(free_port)
    rm -rf "$dir"
    mkdir -p "$dir/cache"
    cat >"$dir/nginx.conf" <<CONF
$USER_LINE
worker_processes $WORKERS;
worker_rlimit_nofile $want;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log crit;
events { worker_connections $want; }
http {
    access_log off;
$(nginx_temp_paths "$dir")
    send_timeout ${SEND_TIMEOUT}s;
    proxy_cache_path $dir/cache levels=1:2 keys_zone=edge:10m max_size=4g inactive=60m use_temp_path=off;
    upstream origin { server 127.0.0.1:$ORIGIN_PORT; keepalive 32; }
    server {
        listen 127.0.0.1:$port backlog=4096;
        location / {
            proxy_cache edge;
            proxy_cache_lock on;
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
CONF
    "$NGINX" -p "$dir/" -c "$dir/nginx.conf" >"$dir/stdout" 2>&1 &
    NODE_PID=$!
    STARTED+=("$NODE_PID")
    NODE_ADDR=127.0.0.1:$port
    for _ in $(seq 100); do
        [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://$NODE_ADDR/none") != 000 ]] && return 0
        sleep 0.1
    done
    die "nginx did not answer (see $dir/error.log)"
}

start_server() { # start_server NAME: sets NODE_PID, NODE_ADDR
    case $1 in
    nginx) start_nginx ;;
    cdn-edge) start_node "$TMP/node.log" "$BIN" --config "$TMP/edge.toml" --root "$TMP/empty" \
        --origin "http://127.0.0.1:$ORIGIN_PORT" ;;
    base) start_node "$TMP/node.log" "$BASE_BIN" --config "$TMP/base.toml" --root "$TMP/empty" \
        --origin "http://127.0.0.1:$ORIGIN_PORT" ;;
    esac
}

hwm_kb() { proc_kb VmHWM "$1"; }

origin_conns() { # established connections to the origin now
    ss -Htn state established "( sport = :$ORIGIN_PORT )" | wc -l
}

# sample FILE: writes the peak origin connection count to FILE until killed.
sample() {
    local peak=0 n
    while :; do
        n=$(origin_conns)
        ((n > peak)) && { peak=$n; echo "$peak" >"$1"; }
        sleep 0.2
    done
}

run_sampled() { # run_sampled PEAKFILE CMD...: runs CMD with the sampler beside it
    local peak=$1 spid rc=0
    shift
    echo 0 >"$peak"
    sample "$peak" &
    spid=$!
    "$@" || rc=$?
    kill "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
    return "$rc"
}

# misses NAME ROUND: appends "hwm_mib peak_conns ok wall" to $TMP/NAME.misses
misses() {
    local name=$1 out
    start_server "$name"
    out=$(run_sampled "$TMP/peak" timeout --kill-after=5 600 \
        python3 "$HERE/attack_memory/client.py" misses "$NODE_ADDR" /big.bin "$MISSES") ||
        die "$name: misses failed"
    local ok wall
    read -r _ ok _ _ _ _ _ wall <<<"$out"
    echo "$(($(hwm_kb "$NODE_PID") / 1024)) $(cat "$TMP/peak") $ok $wall" >>"$TMP/$name.misses"
    log "$name misses: $out, VmHWM $(($(hwm_kb "$NODE_PID") / 1024)) MiB, peak origin conns $(cat "$TMP/peak")"
    stop_pid "$NODE_PID"
}

# stall NAME ROUND: appends "hwm_mib peak_conns mid_conns end_conns held" to $TMP/NAME.stall
# (mid: origin connections half a send timeout after every client is held;
# end: HOLD seconds after)
stall() {
    local name=$1 status=$TMP/stall.status mid end held
    start_server "$name"
    : >"$status"
    run_sampled "$TMP/peak" bash -c '
        timeout --kill-after=5 $(('"$HOLD"' + 120)) python3 "$1" stall "$2" /huge.bin "$3" "$4" >"$5" &
        pid=$!
        for _ in $(seq 600); do grep -q held "$5" && break; sleep 0.1; done
        sleep "$7"
        echo "mid $(ss -Htn state established "( sport = :$6 )" | wc -l)" >>"$5"
        sleep $(($4 - $7))
        echo "end $(ss -Htn state established "( sport = :$6 )" | wc -l)" >>"$5"
        wait $pid' _ "$HERE/attack_memory/client.py" "$NODE_ADDR" "$STALLED" "$HOLD" "$status" \
        "$ORIGIN_PORT" $((SEND_TIMEOUT / 2)) || die "$name: stall failed"
    held=$(awk '/^held/ { print $2 }' "$status")
    mid=$(awk '/^mid/ { print $2 }' "$status")
    end=$(awk '/^end/ { print $2 }' "$status")
    echo "$(($(hwm_kb "$NODE_PID") / 1024)) $(cat "$TMP/peak") $mid $end $held" >>"$TMP/$name.stall"
    log "$name stall: held $held, VmHWM $(($(hwm_kb "$NODE_PID") / 1024)) MiB, origin conns peak $(cat "$TMP/peak"), after $((SEND_TIMEOUT / 2))s $mid, after ${HOLD}s $end"
    stop_pid "$NODE_PID"
}

median() { # median of column $2 of file $1
    awk -v c="$2" '{ print $c }' "$1" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

if [[ -n ${SERVERS:-} ]]; then
    read -r -a servers <<<"$SERVERS"
else
    servers=(cdn-edge)
    [[ -z ${BASE_BIN:-} ]] || servers+=(base)
    servers+=(nginx)
fi
for ((r = 1; r <= ROUNDS; r++)); do
    for s in "${servers[@]}"; do
        misses "$s"
        stall "$s"
    done
done

echo
echo "(a) $MISSES concurrent misses of distinct query strings of one ${BIG_MB} MiB object;" \
    "(b) $STALLED clients that never read, asking for a ${HUGE_MB} MiB object, held ${HOLD} s."
echo "cdn-edge: cache.memory_bytes = $MEMORY_BYTES, limits.send_timeout = ${SEND_TIMEOUT}s" \
    "(base: no send timeout); nginx: proxy_cache, send_timeout ${SEND_TIMEOUT}s. Medians of $ROUNDS rounds."
echo
echo "| server | (a) peak RSS MiB | (a) peak origin conns | (a) clients served | (a) wall s | (b) peak RSS MiB | (b) peak origin conns | (b) origin conns after $((SEND_TIMEOUT / 2)) s | (b) after ${HOLD} s |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
for s in "${servers[@]}"; do
    printf '| %s | %s | %s | %s/%s | %s | %s | %s | %s | %s |\n' "$s" \
        "$(median "$TMP/$s.misses" 1)" "$(median "$TMP/$s.misses" 2)" "$(median "$TMP/$s.misses" 3)" "$MISSES" \
        "$(median "$TMP/$s.misses" 4)" \
        "$(median "$TMP/$s.stall" 1)" "$(median "$TMP/$s.stall" 2)" "$(median "$TMP/$s.stall" 3)" \
        "$(median "$TMP/$s.stall" 4)"
done
echo
echo "Versions: cdn-edge $(cd "$REPO" && git describe --always --dirty 2>/dev/null || echo '?')${BASE_BIN:+, base = $BASE_BIN};" \
    "$("$NGINX" -v 2>&1 | sed 's/^nginx version: //'); $(nproc) cores."
