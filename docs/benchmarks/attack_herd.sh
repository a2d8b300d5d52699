#!/usr/bin/env bash
# The herd after a failed leader (issue 18, item 7): CLIENTS concurrent
# misses of one URL while the origin fails, against cdn-edge and against
# nginx proxy_cache with proxy_cache_lock on, same origin, same run.
#
#   docs/benchmarks/attack_herd.sh                   # defaults: CLIENTS=200 ROUNDS=3
#   ROUNDS=1 TIMEOUT=3 docs/benchmarks/attack_herd.sh  # quick look
#
# Environment:
#   CLIENTS       concurrent clients per storm (default 200)
#   ROUNDS        rounds of the three storms per cache (default 3); the
#                 cache order alternates per round
#   TIMEOUT       seconds both caches wait for the origin's response head
#                 (cdn-edge origin.first_byte_timeout, nginx
#                 proxy_read_timeout; default 10, cdn-edge's default)
#   DELAY         seconds the origin takes before its 503 or its cut body
#                 (default 1), so that every client joins the one fetch
#   RESULTS       where to write the raw per-storm numbers (default: a new
#                 file under ${TMPDIR:-/tmp})
#   CDN_EDGE_BIN  binary to measure instead of building target/release/cdn-edge
#   KEEP_TMP      1 = keep the temp dir (configs, logs)
#
# Storms, each on a never-requested URL (docs/benchmarks/attack_herd/origin.py):
#   hang   the origin accepts and never answers; both caches answer 504
#          after TIMEOUT.
#   503    the origin answers 503 after DELAY.
#   cut    the origin sends a cacheable 200 head after DELAY, 1,000 of its
#          100,000 body bytes, and closes.
# Both caches keep their default lock settings: cdn-edge
# origin.lock_timeout = "5s" (the lock age: one more request per 5 s
# without an answer); nginx proxy_cache_lock_timeout 5s (then each waiter
# goes to the origin itself) and proxy_cache_lock_age 5s.
#
# Reported per cache: the origin requests each storm caused (counted by the
# origin, per URL), the clients' statuses, wall time from the barrier to
# the last answer, the slowest client, and peak RSS (VmHWM; nginx: the sum
# over master, workers and cache manager) after the storm. Loopback only;
# every storm is bounded by `timeout`; every process started is stopped by
# PID.
set -euo pipefail

CLIENTS=${CLIENTS:-200}
ROUNDS=${ROUNDS:-3}
TIMEOUT=${TIMEOUT:-10}
DELAY=${DELAY:-1}
KEEP_TMP=${KEEP_TMP:-0}
THREADS=1 CONNECTIONS=1 # bench.sh's wrk settings (no wrk here)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BENCH_TAG=attack_herd
COMMAND="CLIENTS=$CLIENTS ROUNDS=$ROUNDS TIMEOUT=$TIMEOUT DELAY=$DELAY docs/benchmarks/attack_herd.sh"
# shellcheck source=lib/bench.sh
source "$HERE/lib/bench.sh"

need_with_nginx curl python3
BIN=$(build_cdn_edge)
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cdn-edge-herd.XXXXXX")
chmod 755 "$TMP"
RESULTS=${RESULTS:-${TMPDIR:-/tmp}/cdn-edge-herd-$(date +%Y%m%d-%H%M%S).tsv}

# ----------------------------------------------------------------- origin --
start_port_reporter origin.py "$TMP/origin.out" "$TMP/origin.err" \
    python3 "$HERE/attack_herd/origin.py" "$DELAY" $((TIMEOUT * 3 + 30))
ORIGIN_PID=$REPORTER_PID ORIGIN_PORT=$REPORTER_PORT
log "origin.py pid $ORIGIN_PID on 127.0.0.1:$ORIGIN_PORT (delay ${DELAY}s)"
origin_count() { curl -fsS --max-time 5 "http://127.0.0.1:$ORIGIN_PORT/_count?path=$1"; }

# ----------------------------------------------------------------- caches --
declare -A ADDR=() MAIN_PID=()
mkdir -p "$TMP/cdn-edge/empty"
cat >"$TMP/cdn-edge/config.toml" <<EOF
[origin]
url = "http://127.0.0.1:$ORIGIN_PORT"
first_byte_timeout = "${TIMEOUT}s"
total_timeout = "$((TIMEOUT * 3))s"
[log]
access = "off"
EOF
start_node "$TMP/cdn-edge/stderr" "$BIN" --config "$TMP/cdn-edge/config.toml" --root "$TMP/cdn-edge/empty"
MAIN_PID[cdn-edge]=$NODE_PID
ADDR[cdn-edge]=$NODE_ADDR
log "cdn-edge pid $NODE_PID on $NODE_ADDR"

user_line=""
((EUID == 0)) && user_line="user $(id -un) $(id -gn);"
NGINX_PORT=$(free_port)
mkdir -p "$TMP/nginx"
cat >"$TMP/nginx/nginx.conf" <<EOF
$user_line
worker_processes auto;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log crit;
events { worker_connections 4096; }
http {
    access_log off;
$(nginx_temp_paths "$TMP/nginx")
    proxy_cache_path $TMP/nginx/cache levels=1:2 keys_zone=edge:10m max_size=1g inactive=60m use_temp_path=off;
    upstream origin { server 127.0.0.1:$ORIGIN_PORT; keepalive 32; }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_cache edge;
            proxy_cache_lock on;
            proxy_cache_valid 200 1h;
            proxy_read_timeout ${TIMEOUT}s;
            proxy_pass http://origin;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
"$NGINX" -p "$TMP/nginx/" -c "$TMP/nginx/nginx.conf" >"$TMP/nginx/stdout" 2>&1 &
MAIN_PID[nginx]=$!
STARTED+=("${MAIN_PID[nginx]}")
ADDR[nginx]=127.0.0.1:$NGINX_PORT
for _ in $(seq 100); do
    curl -fsS -o /dev/null --max-time 1 "http://${ADDR[nginx]}/probe" 2>/dev/null && break
    kill -0 "${MAIN_PID[nginx]}" 2>/dev/null || { cat "$TMP/nginx/stdout" >&2; die "nginx exited"; }
    sleep 0.1
done
curl -fsS -o /dev/null --max-time 1 "http://${ADDR[nginx]}/probe" || die "nginx proxy_cache not answering"
log "nginx proxy_cache master ${MAIN_PID[nginx]} on ${ADDR[nginx]}"

pids_of() { # a cache's processes: cdn-edge's one, nginx's master and children
    echo "${MAIN_PID[$1]}"
    [[ $1 == nginx ]] && pgrep -P "${MAIN_PID[$1]}" || true
}
hwm_kb() { # summed VmHWM of a cache's processes
    local t=0 pid v
    for pid in $(pids_of "$1"); do
        v=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || v=0
        t=$((t + ${v:-0}))
    done
    echo "$t"
}

# ------------------------------------------------------------------- runs --
printf 'round\tcache\tstorm\tpath\tclients\torigin_requests\tok\twall_s\tp50_s\tmax_s\tcodes\tvmhwm_kb\n' >"$RESULTS"
log "raw results: $RESULTS"

storm() { # storm ROUND CACHE KIND
    local round=$1 s=$2 kind=$3 path out n
    path=/$kind-$s-$round.js
    out=$(timeout --kill-after=5 $((TIMEOUT * 3 + 60)) python3 "$HERE/pull/client.py" storm \
        "${ADDR[$s]}" "$path" "$CLIENTS" /dev/null) || die "$s: storm client failed"
    sleep 1 # let a straggling origin request land in the count
    n=$(origin_count "$path")
    local ok wall p50 max codes hwm
    read -r _ ok _ _ _ wall _ p50 _ max _ codes <<<"$out"
    hwm=$(hwm_kb "$s")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$s" "$kind" "$path" \
        "$CLIENTS" "$n" "$ok" "$wall" "$p50" "$max" "$codes" "$hwm" >>"$RESULTS"
    printf '[attack_herd] round %s %-8s %-4s origin requests %3s  wall %6.2f s  max %6.2f s  VmHWM %6s kB  codes %s\n' \
        "$round" "$s" "$kind" "$n" "$wall" "$max" "$hwm" "$codes" >&2
}

CACHES=(cdn-edge nginx)
for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2 == 1)); then order=(cdn-edge nginx); else order=(nginx cdn-edge); fi
    for s in "${order[@]}"; do
        for kind in hang busy cut; do storm "$r" "$s" "$kind"; done
    done
done
for s in "${CACHES[@]}"; do
    kill -0 "${MAIN_PID[$s]}" 2>/dev/null || die "$s died during the run"
done

# ---------------------------------------------------------------- summary --
python3 - "$RESULTS" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
label = {"cdn-edge": "cdn-edge", "nginx": "nginx proxy_cache (lock on)"}
storms = {"hang": "hanging origin", "busy": "503 storm", "cut": "truncated-body storm"}
n = rows[0]["clients"]
print()
print("%s concurrent misses of one URL per storm; per round, in round order; wall and max: medians." % n)
print()
print("| storm | cache | origin requests per storm | answers | wall s | slowest client s | VmHWM MiB after |")
print("|---|---|---|---|---:|---:|---:|")
for k in ("hang", "busy", "cut"):
    for c in ("cdn-edge", "nginx"):
        rs = sorted((r for r in rows if r["cache"] == c and r["storm"] == k), key=lambda r: int(r["round"]))
        if not rs:
            continue
        med = lambda key: statistics.median(float(r[key]) for r in rs)
        print("| %s | %s | %s | %s | %.2f | %.2f | %.1f |" % (
            storms[k], label[c], " / ".join(r["origin_requests"] for r in rs),
            "; ".join(sorted({r["codes"] for r in rs})), med("wall_s"), med("max_s"),
            max(int(r["vmhwm_kb"]) for r in rs) / 1024))
PY
echo
echo "Command: $COMMAND"
echo "Setup: $(nproc) cores shared by the clients, the caches and origin.py; cdn-edge $(cd "$REPO" && git describe --always --dirty 2>/dev/null || echo '?')" \
    "(origin.first_byte_timeout = ${TIMEOUT}s, lock_timeout default 5s), nginx $("$NGINX" -v 2>&1 | sed 's|.*/||')" \
    "(proxy_cache_lock on, proxy_read_timeout ${TIMEOUT}s, lock timeout and age default 5s, worker_processes auto)."
echo "Raw per-round numbers: $RESULTS"
