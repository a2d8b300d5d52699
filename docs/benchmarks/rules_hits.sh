#!/usr/bin/env bash
# Pull-through hits through a rule-matched path against the same hits with
# no rule: one binary, two nodes in front of one origin (Debian nginx), the
# same files; short wrk runs alternating between the nodes, so a busy or
# drifting machine weighs on both alike. Issue 20's bound: a rule-matched
# hit costs at most 1.05x the CPU of an unmatched one.
#
#   docs/benchmarks/rules_hits.sh                 # PAIRS=6 DURATION=5
#   CDN_EDGE_BIN=target/release/cdn-edge PAIRS=3 DURATION=3 docs/benchmarks/rules_hits.sh
#
# The "ruled" node has eight rules, the last two matching every path
# (edge_ttl override, stale_if_error, a Cache-Control for clients and,
# unless ADDED_HEADERS=0, two added headers), the others matching none;
# the "plain" node has none.
# Scenarios: (a) ~30 KB CSS, br (made by the node); (b) ~1 KB JS,
# identity; (c) If-None-Match -> 304. Reported: median req/s, median CPU
# µs/request (the node's utime+stime over wrk's requests), the median of
# the per-pair CPU ratios, and each node's peak RSS. Loopback only; every
# process is stopped by PID.
set -euo pipefail

PAIRS=${PAIRS:-6}
DURATION=${DURATION:-5}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
KEEP_TMP=${KEEP_TMP:-0}
ADDED_HEADERS=${ADDED_HEADERS:-1}   # 0: the matching rules add no header

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BENCH_TAG=rules-hits
# shellcheck source=lib/bench.sh
source "$HERE/lib/bench.sh"

need=()
for c in wrk curl nginx python3; do command -v $c >/dev/null || need+=("$c"); done
((${#need[@]} == 0)) || apt_install "${need[@]/python3/python3-minimal}" || die "could not install ${need[*]}"
BIN=$(build_cdn_edge)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cdn-edge-rules-hits.XXXXXX")
ROOT=$TMP/www
python3 "$HERE/load/gen_assets.py" "$ROOT" "$TMP/mem/www"
rm -rf "$TMP/mem"
CSS=/app.0123456789abcdef.css
start_static_origin "$ROOT" "$TMP/origin" "text/css css; application/javascript js; text/html html;"
mkdir -p "$TMP/empty"

cat >"$TMP/plain.toml" <<CONF
[server]
root = "$TMP/empty"
[log]
access = "off"
[origin]
url = "http://127.0.0.1:$ORIGIN_PORT"
CONF
cp "$TMP/plain.toml" "$TMP/ruled.toml"
for g in 'fonts/*' '*.woff2' 'img/*.png' 'api/*' 'docs/**/*.md' '*.map'; do
    printf '[[rules]]\nglob = "%s"\nheaders = { X-Unused = "1" }\n' "$g" >>"$TMP/ruled.toml"
done
cat >>"$TMP/ruled.toml" <<'CONF'
[[rules]]
glob = "*"
edge_ttl = "1d"
edge_ttl_mode = "override"
stale_if_error = "1d"
[[rules]]
glob = "*.{css,js}"
cache_control = "public, max-age=600"
CONF
((ADDED_HEADERS)) && echo 'headers = { X-Rule = "assets", Timing-Allow-Origin = "*" }' >>"$TMP/ruled.toml"

declare -A ADDR=() PID=() ETAG=()
for s in ruled plain; do
    start_node "$TMP/$s.log" "$BIN" --config "$TMP/$s.toml"
    ADDR[$s]=$NODE_ADDR
    PID[$s]=$NODE_PID
    # Fetched, then encoded in the background: wait for the br representation.
    wait_for_br "http://$NODE_ADDR$CSS"
    curl -fsS -o /dev/null "http://$NODE_ADDR/small.js"
    ETAG[$s]=$(response_header "http://$NODE_ADDR$CSS" etag -H 'Accept-Encoding: br')
done
curl -fsS -o /dev/null -D - "http://${ADDR[ruled]}/small.js" | tr -d '\r' | grep -qi '^cache-control: public, max-age=600' ||
    die "the ruled node does not apply its rule"

RESULTS=$TMP/results.tsv
: >"$RESULTS"
for ((p = 1; p <= PAIRS; p++)); do
    order=(ruled plain)
    ((p % 2 == 0)) && order=(plain ruled)
    for sc in a b c; do
        for s in "${order[@]}"; do
            url="http://${ADDR[$s]}"
            case $sc in
            a) args=(-H 'Accept-Encoding: br' "$url$CSS") ;;
            b) args=("$url/small.js") ;;
            c) args=(-H 'Accept-Encoding: br' -H "If-None-Match: ${ETAG[$s]}" "$url$CSS") ;;
            esac
            ab_measure "$RESULTS" "$p" "$sc" "$s" "${PID[$s]}" "${args[@]}"
        done
    done
    log "pair $p of $PAIRS done"
done

echo
echo "$PAIRS alternating pairs of wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s per scenario; $(nproc) cores;" \
    "$BIN ($(cd "$REPO" && git describe --always --dirty 2>/dev/null || echo '?')); ADDED_HEADERS=$ADDED_HEADERS;" \
    "peak RSS ruled $(proc_kb VmHWM "${PID[ruled]}") kB, plain $(proc_kb VmHWM "${PID[plain]}") kB."
echo
ab_table "$RESULTS" ruled plain "a=(a) 30 KB CSS, br" "b=(b) 1 KB JS, identity" \
    "c=(c) If-None-Match -> 304"
