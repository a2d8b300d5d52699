#!/usr/bin/env bash
# Purge by tag and soft purge, measured on loopback against an nginx origin
# (its static files carry `Surrogate-Key: bench g<last digit> /o/<n>.css`:
# three tags per object, one shared by all, one by a tenth, one its own).
#
#   docs/benchmarks/tag_purge.sh                          # defaults below
#   OBJECTS=1000 ROUNDS=1 docs/benchmarks/tag_purge.sh    # quick run
#
# Measured, in one run:
#   1. memory: one node warmed with OBJECTS objects with three tags each
#      (/o/) or the same objects without (/n/, no tag field): what the memory
#      cache charges (cdn_edge_memory_cache_bytes, of which
#      cdn_edge_tag_index_bytes{store="memory"}) and the node's peak RSS
#      (VmHWM), each a fresh node, ROUNDS rounds, medians;
#   2. tag purge on a 3-node cluster: OBJECTS objects warmed on all three
#      nodes, `POST /_purge {"tags": ["bench"]}` to one node -> the time
#      until its answer (which comes once every peer has answered its part),
#      then every object asked of every node with `only-if-cached`: all must
#      miss (504). ROUNDS rounds, median;
#   3. soft purge on the cluster: WAVE_OBJECTS objects warmed, soft-purged
#      by tag, then CLIENTS clients at once each ask every one of them of one
#      node -> origin requests per object (nginx access log), for one node
#      and for all three nodes at once.
#
# Environment: OBJECTS (10000), ROUNDS (3), WAVE_OBJECTS (100), CLIENTS
# (200), CDN_EDGE_BIN (use this binary instead of building), KEEP_TMP.
# Everything binds 127.0.0.1; every process started is stopped by PID.
set -euo pipefail

OBJECTS=${OBJECTS:-10000}
ROUNDS=${ROUNDS:-3}
WAVE_OBJECTS=${WAVE_OBJECTS:-100}
CLIENTS=${CLIENTS:-200}
KEEP_TMP=${KEEP_TMP:-0}
THREADS=1
CONNECTIONS=1

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BENCH_TAG=tag_purge
# shellcheck source=lib/bench.sh
source "$HERE/lib/bench.sh"
DRIVER="python3 $HERE/tag_purge/driver.py"

for tool in nginx curl python3; do
    command -v "$tool" >/dev/null || [[ -x /usr/sbin/$tool ]] ||
        apt_install nginx-light curl python3 || die "cannot install $tool"
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
BIN=$(build_cdn_edge)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cdn-edge-tags.XXXXXX")
chmod 755 "$TMP"
USER_LINE=""
((EUID == 0)) && USER_LINE="user $(id -un) $(id -gn);"
TOKEN=bench-purge-token-$RANDOM$RANDOM
CLUSTER_TOKEN=bench-cluster-token-$RANDOM$RANDOM

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
metric() { # metric PORT SAMPLE
    curl -s "http://127.0.0.1:$1/metrics" | awk -v s="$2" '$1 == s { print $2 }'
}

# ------------------------------------------------------------------ origin --
ORIGIN_ROOT=$TMP/origin-root
mkdir -p "$ORIGIN_ROOT/o" "$TMP/origin"
python3 - "$ORIGIN_ROOT/o" "$OBJECTS" <<'PY'
import sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    open(f"{d}/{i}.css", "w").write(f".c{i} {{ color: #{i % 4096:03x}; }}\n" * 4)
PY
ORIGIN_PORT=$(free_port)
cat >"$TMP/origin/nginx.conf" <<CONF
$USER_LINE
worker_processes 1;
daemon off;
pid $TMP/origin/nginx.pid;
error_log $TMP/origin/error.log warn;
events { worker_connections 4096; }
http {
    log_format st '\$status \$uri';
    access_log $TMP/origin/access.log st;
$(nginx_temp_paths "$TMP/origin")
    types { text/css css; }
    keepalive_requests 1000000;
    map \$uri \$group { ~(?<d>[0-9])\\.css\$ g\$d; default g; }
    server {
        listen 127.0.0.1:$ORIGIN_PORT;
        root $ORIGIN_ROOT;
        location /o/ {
            add_header Cache-Control "public, max-age=3600";
            add_header Surrogate-Key "bench \$group \$uri";
        }
        location /n/ {
            alias $ORIGIN_ROOT/o/;
            add_header Cache-Control "public, max-age=3600";
        }
    }
}
CONF
"$NGINX" -p "$TMP/origin/" -c "$TMP/origin/nginx.conf" >"$TMP/origin/stdout" 2>&1 &
STARTED+=("$!")
for _ in $(seq 100); do
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$ORIGIN_PORT/o/0.css" || true) == 200 ]] && break
    sleep 0.1
done
curl -sI "http://127.0.0.1:$ORIGIN_PORT/o/17.css" | grep -qi '^surrogate-key: bench g7 /o/17.css' ||
    die "origin does not tag (see $TMP/origin/error.log)"
origin_requests() { # origin_requests: lines of the origin's log so far
    wc -l <"$TMP/origin/access.log"
}

# -------------------------------------------------------------------- nodes --
declare -A NODE_PID=() NODE_PORT=()
mkdir -p "$TMP/empty"
node_config() { # node_config NAME CLUSTER(0|1)
    cat <<TOML
[server]
listen = "127.0.0.1:${NODE_PORT[$1]}"
root = "$TMP/empty"

[origin]
url = "http://127.0.0.1:$ORIGIN_PORT"

[cache]
memory_bytes = "1 GiB"

[purge]
token = "$TOKEN"
TOML
    if [[ $2 == 1 ]]; then
        cat <<TOML

[cluster]
advertise = "http://127.0.0.1:${NODE_PORT[$1]}"
token = "$CLUSTER_TOKEN"
peers = ["http://127.0.0.1:${NODE_PORT[c1]}", "http://127.0.0.1:${NODE_PORT[c2]}", "http://127.0.0.1:${NODE_PORT[c3]}"]
TOML
    fi
}
start_edge() { # start_edge NAME CLUSTER
    local dir=$TMP/$1 _
    mkdir -p "$dir"
    [[ -n ${NODE_PORT[$1]:-} ]] || NODE_PORT[$1]=$(free_port)
    node_config "$1" "$2" >"$dir/config.toml"
    "$BIN" serve --config "$dir/config.toml" >"$dir/stdout" 2>>"$dir/stderr" &
    NODE_PID[$1]=$!
    STARTED+=("$!")
    for _ in $(seq 100); do
        [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:${NODE_PORT[$1]}/healthz" || true) != 000 ]] && return 0
        sleep 0.1
    done
    die "node $1 did not start ($dir/stderr)"
}
stop_edge() { stop_pid "${NODE_PID[$1]}"; }

# ------------------------------------------------------------ 1. memory --
log "1. memory: $OBJECTS objects, with and without three tags each, $ROUNDS rounds"
declare -a MEM_TAGGED=() MEM_PLAIN=() IDX=() HWM_TAGGED=() HWM_PLAIN=() IDX_N=()
for round in $(seq "$ROUNDS"); do
    for kind in o n; do
        start_edge "m$kind" 0
        port=${NODE_PORT[m$kind]}
        $DRIVER warm "$port" "/$kind/" "$OBJECTS" 8
        bytes=$(metric "$port" cdn_edge_memory_cache_bytes)
        idx=$(metric "$port" 'cdn_edge_tag_index_bytes{store="memory"}')
        idx_n=$(metric "$port" 'cdn_edge_tag_index_entries{store="memory"}')
        hwm=$(peak_rss_kib "${NODE_PID[m$kind]}")
        stop_edge "m$kind"
        if [[ $kind == o ]]; then
            MEM_TAGGED+=("$bytes"); IDX+=("$idx"); IDX_N+=("$idx_n"); HWM_TAGGED+=("$hwm")
        else
            MEM_PLAIN+=("$bytes"); HWM_PLAIN+=("$hwm")
        fi
        log "  round $round /$kind/: charged $bytes B, tag index $idx B ($idx_n pairs), VmHWM $hwm KiB"
    done
done
m_tagged=$(printf '%s\n' "${MEM_TAGGED[@]}" | median)
m_plain=$(printf '%s\n' "${MEM_PLAIN[@]}" | median)
m_idx=$(printf '%s\n' "${IDX[@]}" | median)
m_idx_n=$(printf '%s\n' "${IDX_N[@]}" | median)
h_tagged=$(printf '%s\n' "${HWM_TAGGED[@]}" | median)
h_plain=$(printf '%s\n' "${HWM_PLAIN[@]}" | median)
printf 'memory  charged: tagged %s B, plain %s B, per object +%.0f B (tag index %.0f B per object, %s pairs); VmHWM tagged %s KiB, plain %s KiB, per object +%.0f B\n' \
    "$m_tagged" "$m_plain" "$(echo "($m_tagged - $m_plain) / $OBJECTS" | bc -l)" \
    "$(echo "$m_idx / $OBJECTS" | bc -l)" "$m_idx_n" "$h_tagged" "$h_plain" \
    "$(echo "($h_tagged - $h_plain) * 1024 / $OBJECTS" | bc -l)"

# ---------------------------------------------------- 2. tag purge, 3 nodes --
for n in c1 c2 c3; do NODE_PORT[$n]=$(free_port); done
for n in c1 c2 c3; do start_edge "$n" 1; done
log "2. tag purge of $OBJECTS objects on 3 nodes, $ROUNDS rounds"
declare -a PURGE_MS=()
for round in $(seq "$ROUNDS"); do
    for n in c1 c2 c3; do $DRIVER warm "${NODE_PORT[$n]}" /o/ "$OBJECTS" 8; done
    for n in c1 c2 c3; do
        read -r hits misses < <($DRIVER cached "${NODE_PORT[$n]}" /o/ "$OBJECTS" 8)
        ((misses == 0)) || die "round $round: $n misses $misses objects before the purge"
    done
    read -r ms purged < <($DRIVER purge "${NODE_PORT[c2]}" "$TOKEN" '{"tags": ["bench"]}')
    for n in c1 c2 c3; do
        read -r hits misses < <($DRIVER cached "${NODE_PORT[$n]}" /o/ "$OBJECTS" 8)
        ((hits == 0)) || die "round $round: $n still holds $hits objects after the purge"
    done
    PURGE_MS+=("$ms")
    log "  round $round: purged $purged objects on 3 nodes in $ms ms; every object misses on every node"
done
printf 'tag purge  %s objects x 3 nodes: median %s ms (rounds: %s)\n' "$OBJECTS" \
    "$(printf '%s\n' "${PURGE_MS[@]}" | median)" "${PURGE_MS[*]}"

# ----------------------------------------------- 3. soft purge, 200 clients --
log "3. soft purge of $WAVE_OBJECTS objects, then $CLIENTS clients at once"
soft_wave() { # soft_wave NODES...: soft purge, then a wave on each node at once; origin requests per object
    for n in c1 c2 c3; do $DRIVER warm "${NODE_PORT[$n]}" /o/ "$WAVE_OBJECTS" 4; done
    $DRIVER purge "${NODE_PORT[c1]}" "$TOKEN" '{"tags": ["bench"], "soft": true}' >/dev/null
    local before after pids=() n
    before=$(origin_requests)
    for n in "$@"; do
        $DRIVER wave "${NODE_PORT[$n]}" /o/ "$WAVE_OBJECTS" "$CLIENTS" >"$TMP/wave-$n" &
        pids+=("$!")
    done
    for p in "${pids[@]}"; do wait "$p"; done
    for n in "$@"; do
        read -r reqs bad <"$TMP/wave-$n"
        ((bad == 0)) || die "wave on $n: $bad answers not 200"
    done
    sleep 1 # nginx writes its log line after the response
    after=$(origin_requests)
    local statuses
    statuses=$(tail -n $((after - before)) "$TMP/origin/access.log" | awk '{ print $1 }' | sort | uniq -c | tr '\n' ' ')
    printf '%s %s\n' "$(echo "($after - $before) / $WAVE_OBJECTS" | bc -l)" "$statuses"
}
read -r one one_st < <(soft_wave c1)
read -r three three_st < <(soft_wave c1 c2 c3)
printf 'soft purge  %s objects, %s clients on one node: %.2f origin requests per object (%s)\n' "$WAVE_OBJECTS" "$CLIENTS" "$one" "$one_st"
printf 'soft purge  %s objects, %s clients on each of 3 nodes: %.2f origin requests per object (%s)\n' "$WAVE_OBJECTS" "$CLIENTS" "$three" "$three_st"
