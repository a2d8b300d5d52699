#!/usr/bin/env bash
# A/B of the hit path: two cdn-edge binaries over load.sh's files (all text
# precompressed, q11 siblings), short wrk runs alternating between them, so
# a busy or drifting machine weighs on both alike. For a change that should
# not cost the hot path anything.
#
#   BASE_BIN=/path/to/old/cdn-edge docs/benchmarks/hits_ab.sh
#   BASE_BIN=... PAIRS=4 DURATION=3 docs/benchmarks/hits_ab.sh   # quick look
#
# Environment:
#   BASE_BIN      the binary to compare against (required)
#   CDN_EDGE_BIN  the binary measured (default: build target/release/cdn-edge)
#   PAIRS         alternating pairs of runs per scenario (default 8)
#   DURATION      seconds per wrk run (default 5)
#
# Scenarios (as in load.sh): (a) ~30 KB CSS, br; (b) ~1 KB JS, identity;
# (c) If-None-Match -> 304; (e) 220 mixed files, gzip+br. Reported per
# scenario: median req/s and median CPU µs/request (the server's
# utime+stime over wrk's requests) of each binary, and the median of the
# per-pair CPU ratios. Loopback only; every process is stopped by PID.
set -euo pipefail

PAIRS=${PAIRS:-8}
DURATION=${DURATION:-5}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
KEEP_TMP=${KEEP_TMP:-0}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BENCH_TAG=hits-ab
# shellcheck source=lib/bench.sh
source "$HERE/lib/bench.sh"

[[ -n ${BASE_BIN:-} && -x ${BASE_BIN:-} ]] || die "BASE_BIN must name a cdn-edge binary"
need=()
for c in wrk curl brotli gzip; do command -v $c >/dev/null || need+=("$c"); done
((${#need[@]} == 0)) || apt_install "${need[@]}" || die "could not install ${need[*]}"
BIN=$(build_cdn_edge)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cdn-edge-hits-ab.XXXXXX")
ROOT=$TMP/www
python3 "$HERE/load/gen_assets.py" "$ROOT" "$TMP/mem/www"
rm -rf "$TMP/mem"
(cd "$ROOT" && xargs -P "$(nproc)" -I{} sh -c \
    'brotli -q 11 -f -o "$1.br" "$1" && gzip -9 -n -c "$1" > "$1.gz"' _ {} <"$TMP/text.files")
CSS=/app.0123456789abcdef.css

declare -A ADDR=() PID=() ETAG=()
for s in new base; do
    bin=$BIN
    [[ $s == base ]] && bin=$BASE_BIN
    start_node "$TMP/$s.log" "$bin" --root "$ROOT"
    ADDR[$s]=$NODE_ADDR
    PID[$s]=$NODE_PID
    ETAG[$s]=$(curl -fsS -o /dev/null -D - -H 'Accept-Encoding: br' "http://$NODE_ADDR$CSS" |
        tr -d '\r' | awk -F': ' 'tolower($1) == "etag" { print $2 }')
    run_wrk "$TMP/warmup-$s.txt" 2 -H 'Accept-Encoding: gzip, br' \
        -s "$HERE/load/cycle.lua" "http://$NODE_ADDR/" -- "$TMP/mixed.paths"
done

RESULTS=$TMP/results.tsv
: >"$RESULTS"
for ((p = 1; p <= PAIRS; p++)); do
    order=(new base)
    ((p % 2 == 0)) && order=(base new)
    for sc in a b c e; do
        for s in "${order[@]}"; do
            url="http://${ADDR[$s]}"
            case $sc in
            a) args=(-H 'Accept-Encoding: br' "$url$CSS") ;;
            b) args=("$url/small.js") ;;
            c) args=(-H 'Accept-Encoding: br' -H "If-None-Match: ${ETAG[$s]}" "$url$CSS") ;;
            e) args=(-H 'Accept-Encoding: gzip, br' -s "$HERE/load/cycle.lua" "$url/" -- "$TMP/mixed.paths") ;;
            esac
            ab_measure "$RESULTS" "$p" "$sc" "$s" "${PID[$s]}" "${args[@]}"
        done
    done
    log "pair $p of $PAIRS done"
done

echo
echo "$PAIRS alternating pairs of wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s per scenario; $(nproc) cores;" \
    "new = $BIN ($(cd "$REPO" && git describe --always --dirty 2>/dev/null || echo '?')), base = $BASE_BIN."
echo
ab_table "$RESULTS" new base "a=(a) 30 KB CSS, br" "b=(b) 1 KB JS, identity" \
    "c=(c) If-None-Match -> 304" "e=(e) mixed 220 files, gzip+br"
