#!/usr/bin/env bash
# TLS handshakes per second: a new TLS connection for every request.
# cdn-edge against Debian's nginx (same ECDSA P-256 certificate, TLS 1.2
# and 1.3, session cache and tickets on), same run: wrk over HTTPS with
# `Connection: close`, so each request is a fresh TCP connection and a full
# TLS handshake (wrk resumes no sessions), then one small GET.
#
#   benches/handshakes.sh                      # defaults below
#   DURATION=3 ROUNDS=1 benches/handshakes.sh  # quick smoke run
#
# Environment:
#   DURATION     seconds per wrk run (default 10)
#   ROUNDS       rounds; the server order alternates (default 3)
#   THREADS      wrk threads (default 1: the servers keep the other core)
#   CONNECTIONS  concurrent connections (default 32)
#   RESULTS      per-round numbers (default: a new file under ${TMPDIR:-/tmp})
#   CDN_EDGE_BIN use this binary instead of building target/release/cdn-edge
#   KEEP_TMP     1 = keep the temp dir
#
# Reported: median handshakes (= requests) per second, wrk's p50/p99
# latency, socket errors, peak RSS; for cdn-edge the handshake counters of
# /metrics confirm every request was a full handshake. Everything binds
# 127.0.0.1; every process started is stopped by PID on exit.
set -euo pipefail

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-1}
CONNECTIONS=${CONNECTIONS:-32}
KEEP_TMP=${KEEP_TMP:-0}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
BENCH_TAG=handshakes
# shellcheck source=lib/bench.sh
source "$HERE/lib/bench.sh"
# shellcheck source=lib/tls.sh
source "$HERE/lib/tls.sh"

tls_deps
BIN=$(build_cdn_edge)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cdn-edge-hs.XXXXXX")
chmod 755 "$TMP"
RESULTS=${RESULTS:-${TMPDIR:-/tmp}/cdn-edge-handshakes-$(date +%Y%m%d-%H%M%S).tsv}

ROOT=$TMP/www
mkdir -p "$ROOT" "$TMP/certs"
head -c 1024 /dev/zero | tr '\0' 'x' >"$ROOT/small.js"
make_cert "$TMP/certs"
start_tls_node "$TMP/edge" "$BIN" "$ROOT" "$TMP/certs"
EDGE_PID=$NODE_PID
EDGE_TLS=$NODE_TLS
EDGE_PLAIN=$(grep -o 'listening on http://[0-9.]*:[0-9]*' "$TMP/edge/stderr" | head -n1 | sed 's|.*http://||')
start_tls_nginx "$TMP/nginx" "$ROOT" "$TMP/certs"
log "cdn-edge pid $EDGE_PID on https://$EDGE_TLS; nginx pids ${NGINX_PIDS[*]} on https://$NGINX_TLS"

addr_of() { [[ $1 == cdn-edge ]] && echo "$EDGE_TLS" || echo "$NGINX_TLS"; }
pids_of() { [[ $1 == cdn-edge ]] && echo "$EDGE_PID" || echo "${NGINX_PIDS[*]}"; }
for s in cdn-edge nginx; do
    [[ $(curl -fsSk --max-time 5 "https://$(addr_of "$s")/small.js" | wc -c) == 1024 ]] ||
        die "$s does not serve small.js over TLS"
done

edge_handshakes() { # ok failed resumed, from cdn-edge's /metrics
    curl -fsS --max-time 5 "http://$EDGE_PLAIN/metrics" | awk '
        /^cdn_edge_tls_handshakes_total\{result="ok"\}/ { ok = $2 }
        /^cdn_edge_tls_handshakes_total\{result="failed"\}/ { failed = $2 }
        /^cdn_edge_tls_sessions_resumed_total/ { resumed = $2 }
        END { print ok + 0, failed + 0, resumed + 0 }'
}

printf 'round\tserver\thandshakes_per_s\tp50_ms\tp99_ms\tsocket_errors\n' >"$RESULTS"
declare -A RPS=() P50=() P99=() ERR=()
for round in $(seq "$ROUNDS"); do
    order=(cdn-edge nginx)
    ((round % 2 == 0)) && order=(nginx cdn-edge)
    for s in "${order[@]}"; do
        out=$TMP/wrk.$s.$round
        [[ $s == cdn-edge ]] && read -r ok0 _ res0 < <(edge_handshakes)
        run_wrk "$out" "$DURATION" -H 'Connection: close' "https://$(addr_of "$s")/small.js"
        read -r req _ rps p50 p99 _ non2xx sockerr < <(parse_wrk "$out") || die "cannot read $out"
        ((non2xx == 0)) || die "$s: $non2xx non-2xx answers"
        extra=""
        if [[ $s == cdn-edge ]]; then
            read -r ok1 failed1 res1 < <(edge_handshakes)
            extra=" (node counted $((ok1 - ok0)) handshakes for $req requests, $((res1 - res0)) resumed, $failed1 failed in all)"
        fi
        printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$s" "$rps" "$p50" "$p99" "$sockerr" >>"$RESULTS"
        log "round $round $s: $rps handshakes/s, p50 $p50 ms, p99 $p99 ms, $sockerr socket errors$extra"
        RPS[$s]+="$rps "
        P50[$s]+="$p50 "
        P99[$s]+="$p99 "
        ERR[$s]=$(( ${ERR[$s]:-0} + sockerr ))
    done
done

printf '\nNew TLS connection per request, %d connections, %d s x %d rounds (median)\n' \
    "$CONNECTIONS" "$DURATION" "$ROUNDS"
printf '%-10s %16s %10s %10s %14s %14s\n' server handshakes/s p50_ms p99_ms socket_errors peak_RSS_MiB
for s in cdn-edge nginx; do
    # shellcheck disable=SC2086
    rss=$(peak_rss_kib $(pids_of "$s"))
    # shellcheck disable=SC2086
    printf '%-10s %16s %10s %10s %14s %14.1f\n' "$s" "$(median ${RPS[$s]})" "$(median ${P50[$s]})" \
        "$(median ${P99[$s]})" "${ERR[$s]}" "$(awk -v k="$rss" 'BEGIN { print k / 1024 }')"
done
log "per-round results: $RESULTS"
