#!/usr/bin/env bash
# HTTP cache conformance: runs Mark Nottingham's shared-cache test suite
# ("cache-tests", npm package http-cache-tests, https://cache-tests.fyi)
# against cdn-edge in front of the suite's origin, and compares the counts
# with the results the package ships for other caches.
#
#   docs/benchmarks/cache-tests.sh                           # builds target/release/cdn-edge
#   BIN=target/debug/cdn-edge docs/benchmarks/cache-tests.sh # an existing binary
#   ID=freshness-max-age BIN=... docs/benchmarks/cache-tests.sh  # one test, verbose
#
# Environment:
#   BIN           cdn-edge binary to test (default: cargo build --release and
#                 use target/release/cdn-edge; CDN_EDGE_BIN works too)
#   CONFIG        cdn-edge config (default docs/benchmarks/cache-tests/edge.toml)
#   OUT           where to write the suite's JSON results
#                 (default target/cache-tests/results-cdn-edge.json)
#   ID            run only this test and print the client's and the origin's
#                 requests and responses (nothing is written to OUT)
#   CT_VERSION    http-cache-tests version to install (default 0.4.5)
#   CT_DIR        use this existing install of the package (its directory,
#                 e.g. node_modules/http-cache-tests) instead of npm-installing
#                 one into the temp dir
#   SUITE_TIMEOUT seconds the suite may run (default 300; a full run takes ~20)
#   KEEP_TMP      1 = keep the temp dir (npm install, logs)
#
# Steps: npm install http-cache-tests@CT_VERSION into a temp dir (nothing is
# committed); start the suite's origin with docs/benchmarks/cache-tests/origin.mjs on
# 127.0.0.1 (a free port); start cdn-edge on 127.0.0.1 (a free port) with an
# empty --root and --origin pointing at it; run the suite's cli.mjs against
# cdn-edge. Then print, via docs/benchmarks/cache-tests/summary.mjs, one line of
# counts (pass fail optfail yes no setup retry dep untested, as classified by
# the suite) for cdn-edge and for the bundled results of ATS, httpd, Squid,
# Varnish and nginx, followed by cdn-edge's fail/optfail/setup/retry tests
# with the suite's messages.
#
# Everything binds 127.0.0.1 only; every process it starts is stopped by PID
# on exit (also on Ctrl-C); every wait is bounded.
set -euo pipefail

CT_VERSION=${CT_VERSION:-0.4.5}
SUITE_TIMEOUT=${SUITE_TIMEOUT:-300}
KEEP_TMP=${KEEP_TMP:-0}
ID=${ID:-}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CTDIR=$HERE/cache-tests
CONFIG=${CONFIG:-$CTDIR/edge.toml}
OUT=${OUT:-$REPO/target/cache-tests/results-cdn-edge.json}

BENCH_TAG=cache-tests
# shellcheck source=lib/bench.sh
source "$HERE/lib/bench.sh"

START_SECS=$SECONDS

# ----------------------------------------------------------- dependencies --
ensure_deps() {
    local -a need=()
    command -v node >/dev/null || need+=(nodejs)
    command -v npm >/dev/null || [[ -n ${CT_DIR:-} ]] || need+=(npm)
    command -v curl >/dev/null || need+=(curl)
    command -v timeout >/dev/null || need+=(coreutils)
    if ((${#need[@]} > 0)); then
        log "installing missing packages: ${need[*]}"
        apt_install "${need[@]}" || die "could not install ${need[*]}"
    fi
    local major
    major=$(node -p 'process.versions.node.split(".")[0]')
    ((major >= 16)) || die "node $(node --version) is too old (need 16 or later)"
}
ensure_deps

[[ -f $CONFIG ]] || die "no config file $CONFIG"
CONFIG=$(cd "$(dirname "$CONFIG")" && pwd)/$(basename "$CONFIG")

# ------------------------------------------------------------------ build --
CDN_EDGE_BIN=${BIN:-${CDN_EDGE_BIN:-}}
BIN=$(build_cdn_edge)
[[ $BIN == /* ]] || BIN=$PWD/$BIN

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cdn-edge-cache-tests.XXXXXX")
mkdir -p "$TMP/empty"

# ---------------------------------------------------------------- the suite --
if [[ -n ${CT_DIR:-} ]]; then
    PKG=$(cd "$CT_DIR" && pwd)
else
    log "npm install http-cache-tests@$CT_VERSION"
    mkdir -p "$TMP/npm"
    printf '{ "private": true }\n' >"$TMP/npm/package.json"
    (cd "$TMP/npm" && timeout --kill-after=10 600 \
        npm install --no-audit --no-fund --no-package-lock --ignore-scripts --omit=dev \
        "http-cache-tests@$CT_VERSION") >"$TMP/npm.log" 2>&1 ||
        { tail -n 30 "$TMP/npm.log" >&2; die "npm install http-cache-tests@$CT_VERSION failed"; }
    PKG=$TMP/npm/node_modules/http-cache-tests
fi
[[ -f $PKG/cli.mjs && -d $PKG/tests && -d $PKG/server ]] || die "$PKG is not an http-cache-tests package"
PKG_VERSION=$(node -p "require('$PKG/package.json').version")
[[ -n ${CT_DIR:-} || $PKG_VERSION == "$CT_VERSION" ]] || die "installed http-cache-tests $PKG_VERSION, wanted $CT_VERSION"
if [[ -n $ID ]]; then # the suite's CLI only crashes on an unknown id
    timeout 30 node --input-type=module -e "
        import tests from '$PKG/tests/index.mjs'
        import surrogate from '$PKG/tests/surrogate-control.mjs'
        const id = process.argv[1]
        process.exit([...tests, surrogate].some(s => s.tests.some(t => t.id === id)) ? 0 : 1)" "$ID" ||
        die "http-cache-tests $PKG_VERSION has no test '$ID'"
fi

# waits up to $3 seconds for "listening on http://ADDR" in file $2 written by
# PID $1; prints ADDR
wait_listen() {
    local pid=$1 file=$2 secs=$3 addr="" i
    for i in $(seq $((secs * 10))); do
        addr=$(grep -o 'listening on http://127\.0\.0\.1:[0-9]*' "$file" 2>/dev/null | head -n1 | sed 's|.*http://||') || true
        [[ -n $addr ]] && break
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    [[ -n $addr ]] || return 1
    echo "$addr"
}

# origin (the suite's handlers, loopback only); cwd = TMP so nothing else is in reach
(cd "$TMP" && exec node --no-warnings "$CTDIR/origin.mjs" "$PKG" 0) >"$TMP/origin.log" 2>&1 &
ORIGIN_PID=$!
STARTED+=("$ORIGIN_PID")
ORIGIN=$(wait_listen "$ORIGIN_PID" "$TMP/origin.log" 20) ||
    { cat "$TMP/origin.log" >&2; die "origin.mjs did not start"; }
log "origin (http-cache-tests $PKG_VERSION) pid $ORIGIN_PID on $ORIGIN"

# cdn-edge
"$BIN" serve --config "$CONFIG" --listen 127.0.0.1:0 --root "$TMP/empty" \
    --origin "http://$ORIGIN" >"$TMP/edge.log" 2>&1 &
EDGE_PID=$!
STARTED+=("$EDGE_PID")
EDGE=$(wait_listen "$EDGE_PID" "$TMP/edge.log" 30) ||
    { cat "$TMP/edge.log" >&2; die "cdn-edge did not start"; }
ready=0
for i in $(seq 100); do # any HTTP answer will do (this path is a 404 from the origin)
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://$EDGE/cache-tests-probe") || true
    [[ $code != 000 ]] && { ready=1; break; }
    kill -0 "$EDGE_PID" 2>/dev/null || break
    sleep 0.1
done
((ready)) || { cat "$TMP/edge.log" >&2; die "cdn-edge not answering on $EDGE"; }
log "cdn-edge $BIN pid $EDGE_PID on $EDGE (config $CONFIG)"

run_suite() { # run_suite ID OUTFILE ERRFILE: the suite's CLI, bounded and interruptible
    # cli.mjs reads npm_config_base / npm_config_id first, then
    # npm_package_config_*; the id must be set, empty for every test.
    local rc=0
    (cd "$PKG" && exec env -u npm_config_id npm_config_base="http://$EDGE" \
        npm_package_config_id="$1" \
        timeout --kill-after=5 "$SUITE_TIMEOUT" node --no-warnings cli.mjs) >"$2" 2>"$3" &
    WRK_PID=$! # bench.sh's cleanup stops the foreground job it names
    wait "$WRK_PID" || rc=$?
    WRK_PID=""
    ((rc != 124)) || die "the suite did not finish within ${SUITE_TIMEOUT}s"
    return "$rc"
}

if [[ -n $ID ]]; then
    log "running test $ID"
    rc=0
    run_suite "$ID" "$TMP/one.out" "$TMP/one.err" || rc=$?
    cat "$TMP/one.out"
    [[ -s $TMP/one.err ]] && cat "$TMP/one.err" >&2
    echo
    echo "==== Origin log (what reached the origin, as it saw it)"
    cat "$TMP/origin.log"
    echo "==== cdn-edge log"
    cat "$TMP/edge.log"
    ((rc == 0)) || die "cli.mjs exited with status $rc"
    grep -q 'Results' "$TMP/one.out" || die "no result for test '$ID' (unknown id?)"
    log "done in $((SECONDS - START_SECS)) s"
    exit 0
fi

log "running the suite against http://$EDGE (up to ${SUITE_TIMEOUT}s)"
SUITE_START=$SECONDS
rc=0
run_suite "" "$TMP/results.json" "$TMP/cli.err" || rc=$?
SUITE_SECS=$((SECONDS - SUITE_START))
if ((rc != 0)) || [[ -s $TMP/cli.err ]] ||
    ! node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$TMP/results.json" 2>/dev/null; then
    head -c 2000 "$TMP/results.json" >&2 || true
    cat "$TMP/cli.err" >&2 || true
    die "the suite's cli.mjs failed (status $rc) or printed no JSON"
fi
kill -0 "$EDGE_PID" 2>/dev/null || { tail -n 30 "$TMP/edge.log" >&2; die "cdn-edge exited during the run"; }
mkdir -p "$(dirname "$OUT")"
cp "$TMP/results.json" "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
log "suite ran in ${SUITE_SECS} s; results in $OUT"

# ---------------------------------------------------------------- summary --
echo "http-cache-tests $PKG_VERSION, cdn-edge $BIN, config $CONFIG"
summary() {
    timeout 60 node --no-warnings "$CTDIR/summary.mjs" --pkg "$PKG" "$@" \
        "cdn-edge=$OUT" \
        "ATS=$PKG/results/trafficserver.json" \
        "httpd=$PKG/results/apache.json" \
        "Squid=$PKG/results/squid.json" \
        "Varnish=$PKG/results/varnish.json" \
        "nginx=$PKG/results/nginx.json"
}
summary --failures=cdn-edge
echo
echo "As 0.4.5 publishes it (its age-parse-* tests count as required; RFC 9111 §5.1 reversed them):"
summary --as-published
log "done in $((SECONDS - START_SECS)) s"
