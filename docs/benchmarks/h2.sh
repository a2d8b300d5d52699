#!/usr/bin/env bash
# HTTP/2 over TLS: cdn-edge against Debian's nginx (listen ... ssl http2,
# brotli_static, gzip_static), same certificate (ECDSA P-256), same files,
# same run, driven by h2load (nghttp2-client).
#
#   docs/benchmarks/h2.sh                         # defaults below
#   DURATION=3 ROUNDS=1 docs/benchmarks/h2.sh     # quick smoke run
#
# Environment:
#   DURATION     seconds per h2load run (default 10)
#   ROUNDS       rounds; the server order alternates (default 3)
#   CLIENTS      HTTP/2 connections (default 4)
#   STREAMS      concurrent streams per connection (default 32)
#   PAGE         assets in the "page": the first PAGE of the generated
#                corpus (CSS, JS, SVG, 1-100 KB, precompressed) (default 40)
#   H2THREADS    h2load threads (default 1: the servers keep the other core)
#   RESULTS      per-round numbers (default: a new file under ${TMPDIR:-/tmp})
#   CDN_EDGE_BIN use this binary instead of building target/release/cdn-edge
#   KEEP_TMP     1 = keep the temp dir
#
# Every request asks `Accept-Encoding: gzip, deflate, br` like a browser;
# both servers answer with the .br siblings. Reported: median requests/s and
# MB/s, mean request time, failed requests, peak RSS (VmHWM; nginx: master
# plus workers). Everything binds 127.0.0.1; every process started is
# stopped by PID on exit.
set -euo pipefail

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-4}
STREAMS=${STREAMS:-32}
PAGE=${PAGE:-40}
H2THREADS=${H2THREADS:-1}
KEEP_TMP=${KEEP_TMP:-0}
THREADS=1
CONNECTIONS=1

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BENCH_TAG=h2
# shellcheck source=lib/bench.sh
source "$HERE/lib/bench.sh"
# shellcheck source=lib/tls.sh
source "$HERE/lib/tls.sh"

tls_deps
BIN=$(build_cdn_edge)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cdn-edge-h2.XXXXXX")
chmod 755 "$TMP"
RESULTS=${RESULTS:-${TMPDIR:-/tmp}/cdn-edge-h2-$(date +%Y%m%d-%H%M%S).tsv}

ROOT=$TMP/www
gen_page "$ROOT"

mkdir -p "$TMP/certs"
make_cert "$TMP/certs"
start_tls_node "$TMP/edge" "$BIN" "$ROOT" "$TMP/certs"
EDGE_PID=$NODE_PID
EDGE_TLS=$NODE_TLS
start_tls_nginx "$TMP/nginx" "$ROOT" "$TMP/certs"
log "cdn-edge pid $EDGE_PID on https://$EDGE_TLS; nginx pids ${NGINX_PIDS[*]} on https://$NGINX_TLS"

addr_of() { [[ $1 == cdn-edge ]] && echo "$EDGE_TLS" || echo "$NGINX_TLS"; }
pids_of() { [[ $1 == cdn-edge ]] && echo "$EDGE_PID" || echo "${NGINX_PIDS[*]}"; }

log "checking both serve the same bytes over HTTP/2"
while read -r p; do
    want=$(if [[ -f $ROOT$p.br ]]; then sha256sum <"$ROOT$p.br"; else sha256sum <"$ROOT$p"; fi | cut -c1-64)
    for s in cdn-edge nginx; do
        got=$(curl -fsSk --http2 --max-time 10 -H 'accept-encoding: gzip, deflate, br' \
            "https://$(addr_of "$s")$p" | sha256sum | cut -c1-64)
        [[ $got == "$want" ]] || die "$s: wrong bytes for $p"
    done
    v=$(curl -sk --http2 -o /dev/null -w '%{http_version}' "https://$(addr_of cdn-edge)$p")
    [[ $v == 2 ]] || die "cdn-edge answered over HTTP/$v"
done <"$TMP/page.paths"

for s in cdn-edge nginx; do
    sed "s|^|https://$(addr_of "$s")|" "$TMP/page.paths" >"$TMP/urls.$s"
done

run_h2load() { # run_h2load SERVER OUT
    timeout --kill-after=5 $((DURATION + 60)) \
        h2load -t "$H2THREADS" -c "$CLIENTS" -m "$STREAMS" -D "$DURATION" --warm-up-time=1 \
        -H 'accept-encoding: gzip, deflate, br' -i "$TMP/urls.$1" >"$2" 2>&1 ||
        { cat "$2" >&2; die "h2load failed against $1"; }
}

parse_h2load() { # parse_h2load FILE -> "rps mbps failed mean_ms succeeded"
    awk '
    function ms(v,   n) { n = v + 0; if (v ~ /us$/) return n / 1000; if (v ~ /ms$/) return n; if (v ~ /s$/) return n * 1000; return n }
    /^finished in/ { rps = $4; mb = $6; sub(/MB\/s/, "", mb); if ($6 ~ /KB/) mb = ($6 + 0) / 1024; if ($6 ~ /GB/) mb = ($6 + 0) * 1024 }
    /^requests:/ { failed = $10 + $12; ok = $8 }
    /^time for request:/ { mean = ms($6) }
    END { if (rps == "") exit 1; printf "%s %.1f %d %.2f %d\n", rps, mb, failed, mean, ok }' "$1"
}

CLK_TCK=$(getconf CLK_TCK)
printf 'round\tserver\trps\tMBps\tfailed\tmean_ms\tcpu_us_per_req\n' >"$RESULTS"
declare -A RPS=() MBPS=() FAIL=() MEAN=() CPU=()
for round in $(seq "$ROUNDS"); do
    order=(cdn-edge nginx)
    ((round % 2 == 0)) && order=(nginx cdn-edge)
    for s in "${order[@]}"; do
        out=$TMP/h2load.$s.$round
        # shellcheck disable=SC2046
        t0=$(proc_ticks $(pids_of "$s"))
        run_h2load "$s" "$out"
        # shellcheck disable=SC2046
        t1=$(proc_ticks $(pids_of "$s"))
        read -r rps mbps failed mean done < <(parse_h2load "$out") || die "cannot read $out"
        # server CPU (user + system) per request, warm-up included
        cpu=$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$done" 'BEGIN { printf "%.1f", n ? t / hz * 1e6 / n : 0 }')
        printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$s" "$rps" "$mbps" "$failed" "$mean" "$cpu" >>"$RESULTS"
        log "round $round $s: $rps req/s, $mbps MB/s, mean $mean ms, $failed failed, $cpu us CPU/req"
        RPS[$s]+="$rps "
        MBPS[$s]+="$mbps "
        FAIL[$s]=$(( ${FAIL[$s]:-0} + failed ))
        MEAN[$s]+="$mean "
        CPU[$s]+="$cpu "
    done
done

printf '\nHTTP/2 over TLS, %s assets, %d connections x %d streams, %d s x %d rounds (median)\n' \
    "$PAGE" "$CLIENTS" "$STREAMS" "$DURATION" "$ROUNDS"
printf '%-10s %12s %10s %10s %12s %8s %14s\n' server req/s MB/s mean_ms cpu_us/req failed peak_RSS_MiB
for s in cdn-edge nginx; do
    # shellcheck disable=SC2086
    rss=$(peak_rss_kib $(pids_of "$s"))
    # shellcheck disable=SC2086
    printf '%-10s %12s %10s %10s %12s %8s %14.1f\n' "$s" "$(median ${RPS[$s]})" "$(median ${MBPS[$s]})" \
        "$(median ${MEAN[$s]})" "$(median ${CPU[$s]})" "${FAIL[$s]}" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')"
done
log "per-round results: $RESULTS"
