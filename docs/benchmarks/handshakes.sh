#!/usr/bin/env bash
# TLS handshakes per second: a new TLS connection for every request.
# cdn-edge against Debian's nginx (same ECDSA P-256 certificate, TLS 1.2
# and 1.3), same run: wrk over HTTPS with `Connection: close`, so each
# request is a fresh TCP connection and TLS handshake, then one small GET.
# Two modes, each with its own pair of servers:
#   full     session resumption off on both servers, so every handshake is
#            a full one (ECDHE + a certificate signature);
#   resumed  resumption on as deployed (session cache and tickets): wrk
#            offers its last session, so handshakes resume (PSK + ECDHE in
#            TLS 1.3, no signature).
#
#   docs/benchmarks/handshakes.sh                      # defaults below
#   DURATION=3 ROUNDS=1 docs/benchmarks/handshakes.sh  # quick smoke run
#
# Environment:
#   DURATION     seconds per wrk run (default 10)
#   ROUNDS       rounds per mode; the server order alternates (default 3)
#   MODES        "full resumed" (default), or one of them
#   THREADS      wrk threads (default 1: the servers keep the other core)
#   CONNECTIONS  concurrent connections (default 32)
#   RESULTS      per-round numbers (default: a new file under ${TMPDIR:-/tmp})
#   CDN_EDGE_BIN use this binary instead of building target/release/cdn-edge
#   KEEP_TMP     1 = keep the temp dir
#
# Reported: median handshakes (= requests) per second, wrk's p50/p99
# latency, server CPU per handshake, socket errors, peak RSS; for cdn-edge
# the handshake counters of /metrics say how many were full and resumed.
# Everything binds 127.0.0.1; every process started is stopped by PID on exit.
set -euo pipefail

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
MODES=${MODES:-full resumed}
THREADS=${THREADS:-1}
CONNECTIONS=${CONNECTIONS:-32}
KEEP_TMP=${KEEP_TMP:-0}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
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
CLK_TCK=$(getconf CLK_TCK)

ROOT=$TMP/www
mkdir -p "$ROOT" "$TMP/certs"
head -c 1024 /dev/zero | tr '\0' 'x' >"$ROOT/small.js"
make_cert "$TMP/certs"

edge_handshakes() { # "ok failed resumed" from cdn-edge's /metrics
    curl -fsS --max-time 5 "http://$EDGE_PLAIN/metrics" | awk '
        /^cdn_edge_tls_handshakes_total\{result="ok"\}/ { ok = $2 }
        /^cdn_edge_tls_handshakes_total\{result="failed"\}/ { failed = $2 }
        /^cdn_edge_tls_sessions_resumed_total/ { resumed = $2 }
        END { print ok + 0, failed + 0, resumed + 0 }'
}

printf 'mode\tround\tserver\thandshakes_per_s\tp50_ms\tp99_ms\tsocket_errors\tcpu_us_per_handshake\n' >"$RESULTS"
declare -A RPS=() P50=() P99=() ERR=() CPU=() RSS=()
for mode in $MODES; do
    case $mode in
    full)
        NODE_TLS_EXTRA=$'tickets = false\nsession_cache = 0'
        NGINX_SSL_SESSIONS='ssl_session_cache off; ssl_session_tickets off;'
        ;;
    resumed)
        NODE_TLS_EXTRA=""
        NGINX_SSL_SESSIONS=""
        ;;
    *) die "unknown mode $mode" ;;
    esac
    export NODE_TLS_EXTRA NGINX_SSL_SESSIONS
    start_tls_node "$TMP/edge-$mode" "$BIN" "$ROOT" "$TMP/certs"
    EDGE_PID=$NODE_PID
    EDGE_TLS=$NODE_TLS
    EDGE_PLAIN=$NODE_ADDR
    start_tls_nginx "$TMP/nginx-$mode" "$ROOT" "$TMP/certs"
    log "$mode: cdn-edge pid $EDGE_PID on https://$EDGE_TLS; nginx pids ${NGINX_PIDS[*]} on https://$NGINX_TLS"
    addr_of() { [[ $1 == cdn-edge ]] && echo "$EDGE_TLS" || echo "$NGINX_TLS"; }
    pids_of() { [[ $1 == cdn-edge ]] && echo "$EDGE_PID" || echo "${NGINX_PIDS[*]}"; }
    for s in cdn-edge nginx; do
        [[ $(curl -fsSk --max-time 5 "https://$(addr_of "$s")/small.js" | wc -c) == 1024 ]] ||
            die "$s does not serve small.js over TLS"
    done
    for round in $(seq "$ROUNDS"); do
        order=(cdn-edge nginx)
        ((round % 2 == 0)) && order=(nginx cdn-edge)
        for s in "${order[@]}"; do
            out=$TMP/wrk.$mode.$s.$round
            [[ $s == cdn-edge ]] && read -r ok0 _ res0 < <(edge_handshakes)
            # shellcheck disable=SC2046
            t0=$(proc_ticks $(pids_of "$s"))
            run_wrk "$out" "$DURATION" -H 'Connection: close' "https://$(addr_of "$s")/small.js"
            # shellcheck disable=SC2046
            t1=$(proc_ticks $(pids_of "$s"))
            read -r req _ rps p50 p99 _ non2xx sockerr < <(parse_wrk "$out") || die "cannot read $out"
            ((non2xx == 0)) || die "$s: $non2xx non-2xx answers"
            cpu=$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$req" 'BEGIN { printf "%.1f", n ? t / hz * 1e6 / n : 0 }')
            extra=""
            if [[ $s == cdn-edge ]]; then
                read -r ok1 failed1 res1 < <(edge_handshakes)
                extra=" (node: $((ok1 - ok0)) handshakes for $req requests, $((res1 - res0)) resumed, $failed1 failed in all)"
            fi
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$mode" "$round" "$s" "$rps" "$p50" "$p99" "$sockerr" "$cpu" >>"$RESULTS"
            log "$mode round $round $s: $rps handshakes/s, p50 $p50 ms, p99 $p99 ms, $sockerr socket errors, $cpu us CPU each$extra"
            RPS[$mode.$s]+="$rps "
            P50[$mode.$s]+="$p50 "
            P99[$mode.$s]+="$p99 "
            CPU[$mode.$s]+="$cpu "
            ERR[$mode.$s]=$((${ERR[$mode.$s]:-0} + sockerr))
        done
    done
    # shellcheck disable=SC2046
    RSS[$mode.cdn-edge]=$(peak_rss_kib $(pids_of cdn-edge))
    # shellcheck disable=SC2046
    RSS[$mode.nginx]=$(peak_rss_kib $(pids_of nginx))
    stop_pid "$EDGE_PID"
    stop_pid "${NGINX_PIDS[0]}"
done

printf '\nNew TLS connection per request, %d connections, %d s x %d rounds (median)\n' \
    "$CONNECTIONS" "$DURATION" "$ROUNDS"
printf '%-8s %-10s %14s %9s %9s %12s %14s %13s\n' mode server handshakes/s p50_ms p99_ms cpu_us_each socket_errors peak_RSS_MiB
for mode in $MODES; do
    for s in cdn-edge nginx; do
        k=$mode.$s
        # shellcheck disable=SC2086
        printf '%-8s %-10s %14s %9s %9s %12s %14s %13.1f\n' "$mode" "$s" "$(median ${RPS[$k]})" \
            "$(median ${P50[$k]})" "$(median ${P99[$k]})" "$(median ${CPU[$k]})" "${ERR[$k]}" \
            "$(awk -v k="${RSS[$k]}" 'BEGIN { print k / 1024 }')"
    done
done
log "per-round results: $RESULTS"
