#!/usr/bin/env bash
# Text files without .br/.gz siblings: cdn-edge compresses each once in the
# background (cache.compress_local) and then serves the bytes it keeps;
# nginx compresses every response on the fly (gzip on + the brotli filter,
# at the node's own settings: brotli 5, gzip 6). Same files, same run.
#
#   docs/benchmarks/compress_local.sh                      # DURATION=10 ROUNDS=3
#   DURATION=3 ROUNDS=1 docs/benchmarks/compress_local.sh  # quick look
#   BASE_BIN=/path/to/other/cdn-edge docs/benchmarks/compress_local.sh
#
# Environment:
#   DURATION      seconds per wrk run (default 10)
#   ROUNDS        rounds; the server order alternates (default 3)
#   CDN_EDGE_BIN  binary to measure instead of building target/release/cdn-edge
#   BASE_BIN      a second cdn-edge measured the same way (e.g. one without
#                 compress_local, which serves these files identity)
#
# Files: docs/benchmarks/load/gen_assets.py's ~30 KB CSS and 220 CSS/JS/SVG files of
# 1-100 KB, without siblings. Scenarios: (a) the CSS with
# `Accept-Encoding: br`; (e) the 220 files in turn with `gzip, br`. Before
# measuring, every file is requested once and cdn-edge is polled until all
# are served br (the time that takes is reported). Reported: medians of
# req/s, CPU µs/request (the server's utime+stime over wrk's requests),
# bytes/response, and peak RSS (VmHWM). Loopback only; every process it
# starts is stopped by PID.
set -euo pipefail

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
KEEP_TMP=${KEEP_TMP:-0}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BENCH_TAG=compress-local
# shellcheck source=lib/bench.sh
source "$HERE/lib/bench.sh"

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v curl >/dev/null || need+=(curl)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need+=(nginx-light)
nginx_module ngx_http_brotli_filter_module.so >/dev/null || need+=(libnginx-mod-http-brotli-filter)
((${#need[@]} == 0)) || apt_install "${need[@]}" || die "could not install ${need[*]}"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
BROTLI_FILTER=$(nginx_module ngx_http_brotli_filter_module.so) || die "no brotli filter module"
CLK_TCK=$(getconf CLK_TCK)

BIN=$(build_cdn_edge)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cdn-edge-compress-local.XXXXXX")
chmod 755 "$TMP"
ROOT=$TMP/www
mkdir -p "$ROOT" "$TMP/mem"
python3 "$HERE/load/gen_assets.py" "$ROOT" "$TMP/mem/www"
rm -rf "$TMP/mem" "$ROOT/big.bin"
CSS=/app.0123456789abcdef.css
log "$(wc -l <"$TMP/mixed.paths") mixed files, $(du -sb "$ROOT" | cut -f1) B, no siblings"

# ---------------------------------------------------------------- servers --
declare -A ADDR=() PIDS=()
NGINX_PORT=$(free_port)
user_line=""
((EUID == 0)) && user_line="user $(id -un) $(id -gn);"
mkdir -p "$TMP/nginx"
cat >"$TMP/nginx/nginx.conf" <<CONF
load_module $BROTLI_FILTER;
$user_line
worker_processes auto;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    access_log off;
    server_tokens off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    open_file_cache max=10000 inactive=60s;
    etag on;
    gzip on;
    gzip_comp_level 6;
    gzip_types text/css application/javascript text/javascript image/svg+xml;
    brotli on;
    brotli_comp_level 5;
    brotli_types text/css application/javascript text/javascript image/svg+xml;
$(nginx_temp_paths "$TMP/nginx")
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $ROOT;
    }
}
CONF
"$NGINX" -p "$TMP/nginx/" -e "$TMP/nginx/error.log" -c "$TMP/nginx/nginx.conf" >"$TMP/nginx/stdout" 2>&1 &
STARTED+=("$!")
ADDR[nginx]=127.0.0.1:$NGINX_PORT
PIDS[nginx]=$!
for _ in $(seq 100); do
    curl -fsS -o /dev/null --max-time 1 "http://${ADDR[nginx]}$CSS" 2>/dev/null && break
    sleep 0.1
done
mapfile -t workers < <(pgrep -P "${PIDS[nginx]}" || true)
PIDS[nginx]="${PIDS[nginx]} ${workers[*]}"

encoding_of() { # encoding_of ADDR PATH: the Content-Encoding of a "gzip, br" GET
    response_header "http://$1$2" content-encoding -H 'Accept-Encoding: gzip, br'
}

SERVERS=(cdn-edge nginx)
start_cdn() { # start_cdn NAME BIN
    start_node "$TMP/$1.log" "$2" --root "$ROOT"
    ADDR[$1]=$NODE_ADDR
    PIDS[$1]=$NODE_PID
    # Every file once, then poll (one keep-alive connection) until every
    # one is served br: at most 60 s, or 10 s when none is (a binary that
    # does not compress local files).
    READY[$1]=$(python3 - "$NODE_ADDR" "$CSS" "$TMP/mixed.paths" <<'PY'
import http.client, sys, time
addr, css, listing = sys.argv[1:]
paths = [css] + [l.strip() for l in open(listing) if l.strip()]
c = http.client.HTTPConnection(addr, timeout=5)
def encoding(p, ae):
    c.request("GET", p, headers={"Accept-Encoding": ae})
    r = c.getresponse()
    r.read()
    return r.getheader("Content-Encoding")
t0 = time.monotonic()
for p in paths:
    encoding(p, "identity")
left = paths
while left:
    left = [p for p in left if encoding(p, "gzip, br") != "br"]
    t = time.monotonic() - t0
    if t > 60 or (t > 10 and len(left) == len(paths)):
        break
    if left:
        time.sleep(0.02)
print("not all br" if left else "%.2f s" % (time.monotonic() - t0))
PY
)
    log "$1: every file br after ${READY[$1]}"
}
declare -A READY=([nginx]="—")
start_cdn cdn-edge "$BIN"
if [[ -n ${BASE_BIN:-} ]]; then
    start_cdn base "$BASE_BIN"
    SERVERS+=(base)
fi
log "nginx picks '$(encoding_of "${ADDR[nginx]}" "$CSS")' for gzip, br"

# ------------------------------------------------------------------- runs --
RESULTS=$TMP/results.tsv
: >"$RESULTS"
measure() { # measure ROUND SCENARIO SERVER
    local sc=$2 s=$3 url="http://${ADDR[$3]}" out=$TMP/wrk-$1-$2-$3.txt t0 t1
    local -a args
    case $sc in
    a) args=(-H 'Accept-Encoding: br' "$url$CSS") ;;
    e) args=(-H 'Accept-Encoding: gzip, br' -s "$HERE/load/cycle.lua" "$url/" -- "$TMP/mixed.paths") ;;
    esac
    # shellcheck disable=SC2086
    t0=$(proc_ticks ${PIDS[$s]})
    run_wrk "$out" "$DURATION" "${args[@]}"
    # shellcheck disable=SC2086
    t1=$(proc_ticks ${PIDS[$s]})
    local req secs rps p50 p99 b non2xx sockerr
    read -r req secs rps p50 p99 b non2xx sockerr < <(parse_wrk "$out")
    ((non2xx == 0 && sockerr == 0)) || die "$s $sc: $non2xx non-2xx, $sockerr socket errors"
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$sc" "$s" "$rps" \
        "$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$req" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')" \
        $((b / req)) "$p99" >>"$RESULTS"
    log "round $1 ($sc) $s: $rps req/s, $((b / req)) B/resp"
}
for ((r = 1; r <= ROUNDS; r++)); do
    order=("${SERVERS[@]}")
    ((r % 2 == 0)) && mapfile -t order < <(printf '%s\n' "${SERVERS[@]}" | tac)
    for sc in a e; do
        for s in "${order[@]}"; do measure "$r" "$sc" "$s"; done
    done
done

hwm() { # peak RSS (MiB) summed over PIDS
    local t=0 p
    for p in "$@"; do t=$((t + $(awk '/VmHWM/ { print $2 }' "/proc/$p/status"))); done
    echo $((t / 1024))
}
echo
echo "Medians of $ROUNDS round(s), wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s; $(nproc) cores; cdn-edge $(cd "$REPO" && git describe --always --dirty 2>/dev/null || echo '?')${BASE_BIN:+, base = $BASE_BIN}."
echo
echo "| scenario | server | req/s | CPU µs/req | B/resp | p99 ms | peak RSS MiB | all br after |"
echo "|---|---|---:|---:|---:|---:|---:|---:|"
for sc in a e; do
    for s in "${SERVERS[@]}"; do
        # shellcheck disable=SC2086
        python3 - "$RESULTS" "$sc" "$s" "$(hwm ${PIDS[$s]})" "${READY[$s]}" <<'PY'
import csv, statistics, sys
f, sc, s, rss, ready = sys.argv[1:]
rows = [r for r in csv.reader(open(f), delimiter="\t") if r[0] == sc and r[1] == s]
med = lambda i: statistics.median(float(r[i]) for r in rows)
name = {"a": "(a) 30 KB CSS, br", "e": "(e) 220 files, gzip+br"}[sc]
print("| %s | %s | %.0f | %.1f | %.0f | %.2f | %s | %s |" % (name, s, med(2), med(3), med(4), med(5), rss, ready))
PY
    done
done
