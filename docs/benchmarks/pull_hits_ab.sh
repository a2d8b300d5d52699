#!/usr/bin/env bash
# A/B of pulled hits: two cdn-edge binaries in front of one nginx origin
# (an empty root, so every object is pulled), short wrk runs alternating
# between them, for a change that should not cost a pulled hit anything
# (issue 20 item 4: a request without a query must pay nothing for
# `[[rules]] query`). Both nodes run with the same config, which has a
# rule `query = "ignore"` on q/*.
#
#   BASE_BIN=/path/to/old/cdn-edge docs/benchmarks/pull_hits_ab.sh
#   BASE_BIN=... PAIRS=3 DURATION=3 docs/benchmarks/pull_hits_ab.sh
#
# Environment:
#   BASE_BIN      the binary to compare against (required)
#   CDN_EDGE_BIN  the binary measured (default: build target/release/cdn-edge)
#   PAIRS         alternating pairs of runs per scenario (default 3)
#   SCENARIOS     which of p k q h n m to run, in order (default "p k q")
#   DURATION      seconds per wrk run (default 5)
#
# Scenarios, each a hit of a pulled ~1 KB JS answered identity:
# (p) /p/app.js, no query; (k) /p/app.js?v=1, a query no rule names (the
# new binary matches the path against the rules' globs); (q) /q/app.js?v=N
# under `query = "ignore"` with N cycling over 1,000 values (the base binary
# keys each value apart: after its first round of 1,000 misses those are
# hits too); (h) /p/app.css, a ~30 KB stylesheet, "Accept-Encoding: br"
# (its br made by the node); (n) the same with If-None-Match: its ETag
# -> 304 (issue 23's hot and 304 cases); (m) pull.sh's 100 generated
# objects (CSS, JS, SVG, PNG-like, 1-100 KB) cycled with "Accept-Encoding:
# gzip, br" (its mixed case). Reported per scenario: median req/s and median CPU µs/request
# (the server's utime+stime over wrk's requests) of each binary, and the
# median of the per-pair CPU ratios. Loopback only; every process is
# stopped by PID.
set -euo pipefail

PAIRS=${PAIRS:-3}
SCENARIOS=${SCENARIOS:-p k q}
DURATION=${DURATION:-5}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
KEEP_TMP=${KEEP_TMP:-0}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BENCH_TAG=pull-hits-ab
# shellcheck source=lib/bench.sh
source "$HERE/lib/bench.sh"

[[ -n ${BASE_BIN:-} && -x ${BASE_BIN:-} ]] || die "BASE_BIN must name a cdn-edge binary"
need=()
for c in wrk curl nginx; do command -v $c >/dev/null || need+=("$c"); done
((${#need[@]} == 0)) || apt_install "${need[@]}" || die "could not install ${need[*]}"
BIN=$(build_cdn_edge)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cdn-edge-pull-hits-ab.XXXXXX")
mkdir -p "$TMP/origin/p" "$TMP/origin/q" "$TMP/empty"
head -c 768 /dev/urandom | base64 -w 76 | sed 's/^/\/\/ /' >"$TMP/origin/p/app.js"
cp "$TMP/origin/p/app.js" "$TMP/origin/q/app.js"
python3 - "$TMP/origin/p/app.css" <<'PY'
import random, sys
rng, out = random.Random(23), []
while sum(map(len, out)) < 30000:
    out.append(".c%d:hover > a { color: #%06x; margin: %dpx %dpx; }\n" % (
        rng.randrange(5000), rng.randrange(1 << 24), rng.randrange(40), rng.randrange(40)))
open(sys.argv[1], "w").write("".join(out))
PY
python3 "$HERE/pull/gen_objects.py" "$TMP/origin/m" 100 >/dev/null
sed 's|^|/m|' "$TMP/origin/objects.paths" >"$TMP/m.paths"
start_static_origin "$TMP/origin" "$TMP/nginx" \
    "application/javascript js; text/css css; image/svg+xml svg; image/png png;"
cat >"$TMP/config.toml" <<EOF
[cache]
memory_bytes = 268435456
[log]
access = "off"
[[rules]]
glob = "q/*"
query = "ignore"
EOF
for v in $(seq 0 999); do echo "/q/app.js?v=$v"; done >"$TMP/q.paths"

declare -A ADDR=() PID=() ETAG=()
for s in new base; do
    bin=$BIN
    [[ $s == base ]] && bin=$BASE_BIN
    start_node "$TMP/$s.log" "$bin" --config "$TMP/config.toml" --root "$TMP/empty" \
        --origin "http://127.0.0.1:$ORIGIN_PORT"
    ADDR[$s]=$NODE_ADDR
    PID[$s]=$NODE_PID
    curl -fsS -o /dev/null "http://$NODE_ADDR/p/app.js"
    curl -fsS -o /dev/null "http://$NODE_ADDR/p/app.js?v=1"
    run_wrk "$TMP/warmup-$s.txt" 2 -s "$HERE/load/cycle.lua" "http://$NODE_ADDR/" -- "$TMP/q.paths"
    if [[ " $SCENARIOS " == *" m "* ]]; then # each object pulled, then its encodings made
        run_wrk "$TMP/warmup-m-$s.txt" 2 -H 'Accept-Encoding: gzip, br' -s "$HERE/load/cycle.lua" \
            "http://$NODE_ADDR/" -- "$TMP/m.paths"
        sleep 2
    fi
    wait_for_br "http://$NODE_ADDR/p/app.css" # until the node has made the stylesheet's br
    ETAG[$s]=$(response_header "http://$NODE_ADDR/p/app.css" etag -H 'Accept-Encoding: br')
done

RESULTS=$TMP/results.tsv
: >"$RESULTS"
for ((p = 1; p <= PAIRS; p++)); do
    order=(new base)
    ((p % 2 == 0)) && order=(base new)
    for sc in $SCENARIOS; do
        for s in "${order[@]}"; do
            url="http://${ADDR[$s]}"
            case $sc in
            p) args=("$url/p/app.js") ;;
            k) args=("$url/p/app.js?v=1") ;;
            q) args=(-s "$HERE/load/cycle.lua" "$url/" -- "$TMP/q.paths") ;;
            h) args=(-H 'Accept-Encoding: br' "$url/p/app.css") ;;
            n) args=(-H 'Accept-Encoding: br' -H "If-None-Match: ${ETAG[$s]}" "$url/p/app.css") ;;
            m) args=(-H 'Accept-Encoding: gzip, br' -s "$HERE/load/cycle.lua" "$url/" -- "$TMP/m.paths") ;;
            *) die "unknown scenario $sc" ;;
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
ab_table "$RESULTS" new base "p=(p) pulled 1 KB JS, no query" "k=(k) pulled, ?v=1, no rule" \
    "q=(q) pulled, 1,000 ?v= under ignore" "h=(h) pulled 30 KB CSS, br" "n=(n) pulled 30 KB CSS, 304" \
    "m=(m) pulled mixed 100 objects, gzip+br"
