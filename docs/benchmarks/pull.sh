#!/usr/bin/env bash
# Pull-through benchmark: cdn-edge vs nginx proxy_cache vs Varnish, all three
# in front of the same origin, in one run.
#
#   docs/benchmarks/pull.sh                      # defaults: DURATION=10 ROUNDS=3
#   DURATION=3 ROUNDS=1 docs/benchmarks/pull.sh  # quick smoke run
#
# Environment:
#   DURATION      seconds per wrk run (default 10)
#   ROUNDS        rounds of both scenarios (default 3); cache order rotates
#   THREADS       wrk threads (default 2)
#   CONNECTIONS   wrk connections (default 64)
#   WARMUP        seconds of wrk warm-up per cache after the fill (default 2)
#   OBJECTS       objects on the origin (default 100)
#   STORM_CLIENTS concurrent clients per miss storm (default 200)
#   STORM_DELAY   seconds the origin waits before answering a storm path (0.5)
#   COLD_QUERIES  query strings per object in the cold-miss wave (default 20)
#   COLD_CLIENTS  clients of the cold-miss wave (default 16)
#   HITS          the hit scenarios of (a), in order (default "hot 304 mixed";
#                 "" for none): hot = one ~30 KB stylesheet with
#                 "Accept-Encoding: br"; 304 = the same with If-None-Match and
#                 the cache's own ETag for it; mixed = every object cycled with
#                 ACCEPT_ENCODING (issue 23's a, c and e)
#   STORMS        1 = run (b), the miss storms (default 1)
#   COLD          1 = run (c), the cold-miss waves (default 1)
#   ACCEPT_ENCODING  wrk's Accept-Encoding in (a) mixed (default "gzip, br"; "identity"
#                 compares equal bytes: nginx and Varnish store what the origin
#                 sent, uncompressed, while cdn-edge answers text with br)
#   CORPUS        "generated" (default) or "npm": the objects are real assets
#                 (CSS, JS, fonts, SVG/PNG) of NPM_PACKAGES, fetched from npm at
#                 run time, CORPUS_FILES of them (default 226) spread over
#                 the packages' files; the issue's cold-miss case is
#                 CORPUS=npm COLD_QUERIES=9 COLD_CLIENTS=16
#   NPM_PACKAGES  default "bootstrap@5 @fortawesome/fontawesome-free@6 bootstrap-icons@1"
#   VARNISH       0 = leave Varnish out (default 1: included when it runs)
#   RESULTS       where to write the raw per-round numbers (default: a new
#                 file under ${TMPDIR:-/tmp}); storms go to *.storm.tsv
#   VARNISHD      varnishd to run (default: the one on PATH or /usr/sbin)
#   CDN_EDGE_BIN  use this binary instead of building target/release/cdn-edge
#   KEEP_TMP      1 = keep the temp dir (files, configs, logs, wrk outputs)
#
# Origin: Debian's nginx (its own config, pid and logs) serves OBJECTS
# generated files (CSS/JS/SVG/PNG-like, 1-100 KB) with
# "Cache-Control: public, max-age=3600" and logs every request, one line each,
# so requests reaching the origin are counted per path. /storm-* is proxied
# by that nginx to docs/benchmarks/pull/slow_origin.py, which sleeps STORM_DELAY before
# answering, so a storm overlaps one slow fetch; nginx stays the one place
# that counts (the python side keeps a second count as a cross-check).
#
# Caches, each on its own port, all with an empty cache at start:
#   cdn-edge  serve --root EMPTY --origin http://ORIGIN (memory_bytes 256 MiB)
#   nginx     proxy_cache (proxy_cache_lock on, upstream keepalive 32,
#             worker_processes auto, access_log off)
#   varnish   varnishd -F -j none -b ORIGIN -s malloc,256m (builtin VCL);
#             skipped with a message if it is not installable or won't start
#
# Scenarios:
#   (a) hit throughput: fill each cache (every object twice, then once more to
#       check the bytes), WARMUP s of wrk, then per round, scenario and cache
#       wrk -tTHREADS -cCONNECTIONS -dDURATION: "hot" GETs one ~30 KB
#       stylesheet with "Accept-Encoding: br", "304" the same with
#       If-None-Match (each cache's own ETag of that answer), "mixed" cycles
#       through the objects with "Accept-Encoding: gzip, br"; medians of
#       req/s, p50/p99, the cache's CPU (utime+stime from /proc of all its
#       processes) per request, and the machine's (every core's busy time in
#       /proc/stat: the cache, wrk and the kernel's network work) per request:
#       req/s can never pass cores / machine CPU per request.
#   (b) miss storm: per round and cache, STORM_CLIENTS clients connect, wait on
#       a barrier, and GET one never-requested /storm-<cache>-<round>.css at
#       once; reported: requests the origin got for it, clients answered 200
#       with the right bytes, wall time.
#   (c) cold-miss wave: per round and cache, COLD_CLIENTS keep-alive clients
#       GET OBJECTS x COLD_QUERIES distinct never-requested URLs (every object
#       under new query strings) once each, "Accept-Encoding: gzip, br", as a
#       deploy or a purge makes them; reported: wall time, URLs/s, and
#       cdn-edge's peak RSS (VmHWM) at the end of the run.
#
# Everything binds 127.0.0.1 only; every process it starts is stopped by PID
# on exit (also on Ctrl-C); every wrk run and storm is bounded by `timeout`.
set -euo pipefail

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
WARMUP=${WARMUP:-2}
OBJECTS=${OBJECTS:-100}
STORM_CLIENTS=${STORM_CLIENTS:-200}
STORM_DELAY=${STORM_DELAY:-0.5}
COLD_QUERIES=${COLD_QUERIES:-20}
COLD_CLIENTS=${COLD_CLIENTS:-16}
ACCEPT_ENCODING=${ACCEPT_ENCODING:-gzip, br}
HITS=${HITS-hot 304 mixed}
STORMS=${STORMS:-1}
COLD=${COLD:-1}
VARNISH=${VARNISH:-1}
KEEP_TMP=${KEEP_TMP:-0}
CORPUS=${CORPUS:-generated}
NPM_PACKAGES=${NPM_PACKAGES:-bootstrap@5 @fortawesome/fontawesome-free@6 bootstrap-icons@1}
CORPUS_FILES=${CORPUS_FILES:-226}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PULLDIR=$HERE/pull
CYCLE_LUA=$HERE/load/cycle.lua # shared with docs/benchmarks/load.sh
COMMAND="DURATION=$DURATION ROUNDS=$ROUNDS THREADS=$THREADS CONNECTIONS=$CONNECTIONS WARMUP=$WARMUP OBJECTS=$OBJECTS STORM_CLIENTS=$STORM_CLIENTS STORM_DELAY=$STORM_DELAY COLD_QUERIES=$COLD_QUERIES COLD_CLIENTS=$COLD_CLIENTS CORPUS=$CORPUS HITS='$HITS' STORMS=$STORMS COLD=$COLD${ACCEPT_ENCODING:+ ACCEPT_ENCODING='$ACCEPT_ENCODING'} docs/benchmarks/pull.sh"

BENCH_TAG=pull
# shellcheck source=lib/bench.sh
source "$HERE/lib/bench.sh"


# ----------------------------------------------------------- dependencies --

ensure_deps() {
    local -a need=()
    command -v wrk >/dev/null || need+=(wrk)
    command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need+=(nginx)
    command -v curl >/dev/null || need+=(curl)
    command -v python3 >/dev/null || need+=(python3)
    command -v pgrep >/dev/null || need+=(procps)
    command -v timeout >/dev/null || need+=(coreutils)
    if ((${#need[@]} > 0)); then
        log "installing missing packages: ${need[*]}"
        apt_install "${need[@]}" || die "could not install ${need[*]}"
    fi
    if [[ $VARNISH == 1 ]] && ! command -v varnishd >/dev/null && [[ ! -x /usr/sbin/varnishd ]]; then
        log "installing varnish"
        apt_install varnish || log "could not install varnish"
    fi
}

ensure_deps
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
VARNISHD=${VARNISHD:-$(command -v varnishd || { [[ -x /usr/sbin/varnishd ]] && echo /usr/sbin/varnishd; } || true)}
CLK_TCK=$(getconf CLK_TCK)

# ------------------------------------------------------------------ build --
BIN=$(build_cdn_edge)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cdn-edge-pull.XXXXXX")
chmod 755 "$TMP"
RESULTS=${RESULTS:-${TMPDIR:-/tmp}/cdn-edge-pull-$(date +%Y%m%d-%H%M%S).tsv}
STORM_RESULTS=${RESULTS%.tsv}.storm.tsv
COLD_RESULTS=${RESULTS%.tsv}.cold.tsv

CACHES=(cdn-edge nginx)
[[ $VARNISH == 1 ]] && CACHES+=(varnish)

# ------------------------------------------------------------------ files --
ORIGIN_ROOT=$TMP/origin/www
EMPTY_ROOT=$TMP/cdn-edge/empty
mkdir -p "$ORIGIN_ROOT" "$EMPTY_ROOT"
storm_names=()
for c in cdn-edge nginx varnish; do
    for ((r = 1; r <= ROUNDS; r++)); do storm_names+=("$c-$r"); done
done
log "generating $OBJECTS objects in $ORIGIN_ROOT"
python3 "$PULLDIR/gen_objects.py" "$ORIGIN_ROOT" "$OBJECTS" "${storm_names[@]}"
PATHS=$TMP/origin/objects.paths
if [[ $CORPUS == npm ]]; then
    # CORPUS_FILES assets copied under /npm/ with their layout.
    mkdir -p "$TMP/npm"
    npm_corpus "$TMP/npm" "$CORPUS_FILES" "$NPM_PACKAGES" >"$TMP/npm/picked"
    : >"$PATHS"
    while read -r f; do
        mkdir -p "$ORIGIN_ROOT/npm/$(dirname "$f")"
        cp "$TMP/npm/node_modules/$f" "$ORIGIN_ROOT/npm/$f"
        echo "/npm/${f#./}" >>"$PATHS"
    done <"$TMP/npm/picked"
    log "npm corpus: $(wc -l <"$PATHS") files, $(du -sb "$ORIGIN_ROOT/npm" | cut -f1) B," \
        "largest $(find "$ORIGIN_ROOT/npm" -type f -printf '%s\n' | sort -n | tail -1) B"
fi
log "$(wc -l <"$PATHS") objects;" \
    "$(grep -c '\.css$' "$PATHS") css, $(grep -c '\.m\?js$' "$PATHS") js," \
    "$(grep -c '\.svg$' "$PATHS") svg, $(grep -c '\.png$' "$PATHS") png," \
    "$(grep -c '\.\(woff2\?\|ttf\)$' "$PATHS") fonts"

# ---------------------------------------------------------------- helpers --
wait_http() { # wait_http URL [SECONDS [PID]]: until it answers 2xx (default 20 s) or PID exits
    local i
    for i in $(seq $((${2:-20} * 10))); do
        curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null && return 0
        [[ -z ${3:-} ]] || kill -0 "$3" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

user_line=""
((EUID == 0)) && user_line="user $(id -un) $(id -gn);"

start_nginx() { # start_nginx NAME TEMPLATE DIR sed-args...: sets NGX_PID
    local name=$1 tmpl=$2 dir=$3
    shift 3
    mkdir -p "$dir"
    sed -e "s|@TMP@|$dir|g" -e "s|@USER_LINE@|$user_line|g" "$@" "$tmpl" >"$dir/nginx.conf"
    "$NGINX" -t -q -p "$dir/" -e "$dir/error.log" -c "$dir/nginx.conf" ||
        die "$name: nginx config test failed (see $dir/nginx.conf)"
    "$NGINX" -p "$dir/" -e "$dir/error.log" -c "$dir/nginx.conf" >"$dir/stdout" 2>&1 &
    NGX_PID=$!
    STARTED+=("$NGX_PID")
}

children_of() { # children_of PID: its child processes, minus nginx's one-shot cache loader
    local c
    for c in $(pgrep -P "$1" || true); do
        grep -q 'cache loader' "/proc/$c/cmdline" 2>/dev/null && continue
        echo "$c"
    done
}

FIRST=$(head -n1 "$PATHS")
PROBE=/probe.txt # startup probe through the caches, so that it is no object
echo ok >"$ORIGIN_ROOT$PROBE"

# ----------------------------------------------------------------- origin --
SLOW_OUT=$TMP/origin/slow.out
start_port_reporter slow_origin.py "$SLOW_OUT" "$TMP/origin/slow.err" \
    python3 "$PULLDIR/slow_origin.py" "$ORIGIN_ROOT" "$STORM_DELAY"
SLOW_PID=$REPORTER_PID SLOW_PORT=$REPORTER_PORT

ORIGIN_PORT=$(free_port)
start_nginx origin "$PULLDIR/origin-nginx.conf.tmpl" "$TMP/origin/nginx" \
    -e "s|@ROOT@|$ORIGIN_ROOT|g" -e "s|@PORT@|$ORIGIN_PORT|g" -e "s|@SLOW_PORT@|$SLOW_PORT|g"
ORIGIN_PID=$NGX_PID
ORIGIN=127.0.0.1:$ORIGIN_PORT
ORIGIN_LOG=$TMP/origin/nginx/access.log
wait_http "http://$ORIGIN$FIRST" || { cat "$TMP/origin/nginx/error.log" >&2; die "origin not answering"; }
cc=$(curl -fsS --max-time 5 -o /dev/null -D - "http://$ORIGIN$FIRST" | tr -d '\r' | awk -F': ' 'tolower($1) == "cache-control" { print $2 }')
[[ $cc == "public, max-age=3600" ]] || die "origin sends Cache-Control '$cc'"
log "origin nginx pid $ORIGIN_PID on $ORIGIN (slow_origin.py pid $SLOW_PID on 127.0.0.1:$SLOW_PORT, ${STORM_DELAY}s per storm request)"

origin_total() { wc -l <"$ORIGIN_LOG"; }
origin_count() { awk -v p="$1" '$3 == p { n++ } END { print n + 0 }' "$ORIGIN_LOG"; }

# ----------------------------------------------------------------- caches --
declare -A ADDR=() MAIN_PID=()

# cdn-edge
cat >"$TMP/cdn-edge/config.toml" <<EOF
[cache]
memory_bytes = 268435456
[log]
access = "off"   # like the nginx caches here (access_log off)
EOF
errlog=$TMP/cdn-edge/stderr
"$BIN" serve --config "$TMP/cdn-edge/config.toml" --root "$EMPTY_ROOT" --listen 127.0.0.1:0 \
    --origin "http://$ORIGIN" 2>"$errlog" >/dev/null &
MAIN_PID[cdn-edge]=$!
STARTED+=("${MAIN_PID[cdn-edge]}")
for i in $(seq 300); do
    ADDR[cdn-edge]=$(grep -o 'listening on http://[0-9.]*:[0-9]*' "$errlog" | head -n1 | sed 's|.*http://||') || true
    [[ -n ${ADDR[cdn-edge]} ]] && break
    kill -0 "${MAIN_PID[cdn-edge]}" 2>/dev/null || { cat "$errlog" >&2; die "cdn-edge exited at start"; }
    sleep 0.1
done
[[ -n ${ADDR[cdn-edge]} ]] || { cat "$errlog" >&2; die "cdn-edge did not log its address"; }
wait_http "http://${ADDR[cdn-edge]}/healthz" || die "cdn-edge not answering"
log "cdn-edge pid ${MAIN_PID[cdn-edge]} on ${ADDR[cdn-edge]}"

# nginx proxy_cache
port=$(free_port)
start_nginx nginx "$PULLDIR/edge-nginx.conf.tmpl" "$TMP/nginx" \
    -e "s|@PORT@|$port|g" -e "s|@ORIGIN_PORT@|$ORIGIN_PORT|g"
MAIN_PID[nginx]=$NGX_PID
ADDR[nginx]=127.0.0.1:$port
wait_http "http://${ADDR[nginx]}$PROBE" || { cat "$TMP/nginx/error.log" >&2; die "nginx proxy_cache not answering"; }
for i in $(seq 50); do
    (($(children_of "${MAIN_PID[nginx]}" | wc -l) >= $(nproc) + 1)) && break # workers + cache manager
    sleep 0.1
done
log "nginx proxy_cache master ${MAIN_PID[nginx]} (children $(children_of "${MAIN_PID[nginx]}" | tr '\n' ' ')) on ${ADDR[nginx]}"

# varnish
skip_varnish() {
    log "SKIPPING VARNISH: $*"
    VARNISH_SKIPPED="$*"
    CACHES=(cdn-edge nginx)
}
VARNISH_SKIPPED=""
if [[ $VARNISH != 1 ]]; then
    VARNISH_SKIPPED="VARNISH=0"
elif [[ -z $VARNISHD ]]; then
    skip_varnish "varnishd not found and could not be installed"
else
    port=$(free_port)
    mkdir -p "$TMP/varnish"
    # -j none: no privilege separation, so it runs as whoever runs this script
    # (root included); -T none: no management port.
    VARNISH_ARGS=(-F -j none -T none -a "127.0.0.1:$port" -b "$ORIGIN" -s malloc,256m -n "$TMP/varnish/work")
    "$VARNISHD" "${VARNISH_ARGS[@]}" >"$TMP/varnish/stdout" 2>&1 &
    MAIN_PID[varnish]=$!
    STARTED+=("${MAIN_PID[varnish]}")
    ADDR[varnish]=127.0.0.1:$port
    if wait_http "http://${ADDR[varnish]}$PROBE" 60 "${MAIN_PID[varnish]}" && kill -0 "${MAIN_PID[varnish]}" 2>/dev/null; then
        log "varnish manager ${MAIN_PID[varnish]} (children $(children_of "${MAIN_PID[varnish]}" | tr '\n' ' ')) on ${ADDR[varnish]}"
    else
        tail -n 20 "$TMP/varnish/stdout" >&2 || true
        stop_pid "${MAIN_PID[varnish]}"
        skip_varnish "$VARNISHD ${VARNISH_ARGS[*]} did not start or answer (its output is above)"
    fi
fi

pids_of() { # all processes of a cache, for CPU accounting
    case $1 in
    cdn-edge) echo "${MAIN_PID[cdn-edge]}" ;;
    *) echo "${MAIN_PID[$1]}" $(children_of "${MAIN_PID[$1]}") ;;
    esac
}

# ------------------------------------------------------------------- fill --
declare -A WARM_ORIGIN=() WARM_ENC=()
for s in "${CACHES[@]}"; do
    before=$(origin_total)
    out=$(timeout 120 python3 "$PULLDIR/client.py" warm "${ADDR[$s]}" "$PATHS" "$ORIGIN_ROOT") ||
        die "$s: filling the cache failed"
    WARM_ORIGIN[$s]=$(($(origin_total) - before))
    WARM_ENC[$s]=$(awk '{ print $4 }' <<<"$out")
    log "$s filled: $(awk '{ print $2 }' <<<"$out") requests, ${WARM_ORIGIN[$s]} reached the origin;" \
        "'gzip, br' answered with ${WARM_ENC[$s]}; identity bodies match the origin's files"
done

# The hot object: the stylesheet closest to 30 KB; each cache's ETag of its
# br answer (what the 304 scenario sends back).
HOT=$(while read -r p; do
    if [[ $p == *.css ]]; then echo "$(($(stat -c %s "$ORIGIN_ROOT$p") - 30720)) $p"; fi
done <"$PATHS" | awk '{ d = $1 < 0 ? -$1 : $1; print d, $2 }' | sort -n | head -n1 | cut -d' ' -f2)
[[ -n $HOT ]] || die "no stylesheet among the objects"
declare -A ETAG=()
for s in "${CACHES[@]}"; do
    ETAG[$s]=$(curl -fsS --max-time 5 -o /dev/null -D - -H 'Accept-Encoding: br' "http://${ADDR[$s]}$HOT" |
        tr -d '\r' | awk -F': ' 'tolower($1) == "etag" { print $2 }')
    [[ -n ${ETAG[$s]} ]] || die "$s: no ETag on $HOT"
    code=$(curl -sS --max-time 5 -o /dev/null -w '%{http_code}' -H 'Accept-Encoding: br' \
        -H "If-None-Match: ${ETAG[$s]}" "http://${ADDR[$s]}$HOT")
    [[ $code == 304 ]] || log "WARNING: $s answers $code, not 304, to If-None-Match: ${ETAG[$s]}"
done
log "hot object $HOT ($(stat -c %s "$ORIGIN_ROOT$HOT") B); ETags: $(for s in "${CACHES[@]}"; do printf '%s=%s ' "$s" "${ETAG[$s]}"; done)"

# ------------------------------------------------------------------- runs --


order_of_round() { # order_of_round R: the caches rotated by R-1
    local r=$1 n=${#CACHES[@]} i
    for ((i = 0; i < n; i++)); do echo "${CACHES[$(((r - 1 + i) % n))]}"; done
}

printf 'round\torder\tscenario\tcache\trequests\tseconds\trps\tp50_ms\tp99_ms\tcpu_ticks\tcpu_us_per_req\tbytes_read\tbytes_per_resp\tnon2xx\tsocket_errors\torigin_requests\tmachine_us_per_req\n' >"$RESULTS"
printf 'round\torder\tcache\tpath\tclients\torigin_requests\torigin_requests_slow_py\tok\tfail\twall_s\tp50_s\tmax_s\tcodes\n' >"$STORM_RESULTS"
log "raw results: $RESULTS and $STORM_RESULTS"

machine_busy() { # busy clock ticks of all cores since boot (/proc/stat: all but idle and iowait)
    awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat
}

wrk_args() { # wrk_args SCENARIO CACHE: sets ARGS, wrk's arguments for a hit scenario
    case $1 in
    hot) ARGS=(-H "Accept-Encoding: br" "http://${ADDR[$2]}$HOT") ;;
    304) ARGS=(-H "Accept-Encoding: br" -H "If-None-Match: ${ETAG[$2]}" "http://${ADDR[$2]}$HOT") ;;
    mixed) ARGS=(-H "Accept-Encoding: $ACCEPT_ENCODING" -s "$CYCLE_LUA" "http://${ADDR[$2]}/" -- "$PATHS") ;;
    *) die "unknown hit scenario '$1' (HITS: hot, 304, mixed)" ;;
    esac
}

measure() { # measure ROUND ORDER CACHE SCENARIO
    local round=$1 order=$2 s=$3 sc=$4 out t0 t1 m0 m1 o0 o1 cpu mcpu
    local -a pids
    out=$TMP/wrk-r$round-$sc-$s.txt
    read -r -a pids <<<"$(pids_of "$s")"
    wrk_args "$sc" "$s"
    o0=$(origin_total)
    t0=$(proc_ticks "${pids[@]}")
    m0=$(machine_busy)
    run_wrk "$out" "$DURATION" "${ARGS[@]}"
    t1=$(proc_ticks "${pids[@]}")
    m1=$(machine_busy)
    o1=$(origin_total)
    local req secs rps p50 p99 b non2xx sockerr
    read -r req secs rps p50 p99 b non2xx sockerr < <(parse_wrk "$out") ||
        { cat "$out" >&2; die "cannot parse wrk output $out"; }
    ((req > 0)) || { cat "$out" >&2; die "no requests completed: $out"; }
    cpu=$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$req" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
    mcpu=$(awk -v t=$((m1 - m0)) -v hz="$CLK_TCK" -v n="$req" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$order" "$sc" "$s" \
        "$req" "$secs" "$rps" "$p50" "$p99" $((t1 - t0)) "$cpu" "$b" $((b / req)) "$non2xx" "$sockerr" \
        $((o1 - o0)) "$mcpu" >>"$RESULTS"
    local warn=""
    ((non2xx > 0)) && warn+=" NON-2xx/3xx=$non2xx"
    ((sockerr > 0)) && warn+=" SOCKET-ERRORS=$sockerr"
    ((o1 - o0 > 0)) && warn+=" ORIGIN-REQUESTS=$((o1 - o0))"
    if [[ -n $warn ]]; then # keep the whole wrk output next to the results
        cp "$out" "${RESULTS%.tsv}.r$round-$sc-$s.wrk.txt"
        warn+=" (wrk output: ${RESULTS%.tsv}.r$round-$sc-$s.wrk.txt)"
    fi
    printf '[pull] (a) round %s %-5s %-8s %10.0f req/s  p50 %7.3f ms  p99 %7.3f ms  cpu %7s us/req (machine %s)  %s B/resp%s\n' \
        "$round" "$sc" "$s" "$rps" "$p50" "$p99" "$cpu" "$mcpu" $((b / req)) "$warn" >&2
}

storm() { # storm ROUND ORDER CACHE
    local round=$1 order=$2 s=$3 path file before out n py
    path=/storm-$s-$round.css
    file=$ORIGIN_ROOT$path
    before=$(origin_count "$path")
    ((before == 0)) || die "$path was requested before its storm"
    out=$(timeout --kill-after=5 120 python3 "$PULLDIR/client.py" storm "${ADDR[$s]}" "$path" \
        "$STORM_CLIENTS" "$file") || die "$s: storm client failed"
    sleep 0.5 # let a straggling origin fetch land in the log
    n=$(origin_count "$path")
    py=$(curl -fsS --max-time 5 "http://127.0.0.1:$SLOW_PORT/_count?path=$path")
    local ok fail wall p50 max codes
    read -r _ ok _ fail _ wall _ p50 _ max _ codes <<<"$out"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$order" "$s" "$path" \
        "$STORM_CLIENTS" "$n" "$py" "$ok" "$fail" "$wall" "$p50" "$max" "$codes" >>"$STORM_RESULTS"
    local warn=""
    ((n == py)) || warn+=" (origin nginx log $n != slow_origin.py count $py)"
    printf '[pull] (b) round %s %-8s origin requests %3s  ok %3s/%s  wall %6.3f s  p50 %6.3f s  max %6.3f s  codes %s%s\n' \
        "$round" "$s" "$n" "$ok" "$STORM_CLIENTS" "$wall" "$p50" "$max" "$codes" "$warn" >&2
}

cold() { # cold ROUND ORDER CACHE
    local round=$1 order=$2 s=$3 urls out o0 o1
    urls=$TMP/cold-$s-$round.urls
    awk -v c="$s" -v r="$round" -v q="$COLD_QUERIES" \
        '{ for (i = 1; i <= q; i++) printf "%s?cold=%s-%s-%d\n", $0, c, r, i }' "$PATHS" >"$urls"
    o0=$(origin_total)
    out=$(timeout --kill-after=5 600 python3 "$PULLDIR/client.py" wave "${ADDR[$s]}" "$urls" "$COLD_CLIENTS") ||
        die "$s: cold wave client failed"
    o1=$(origin_total)
    local n ok wall rps codes
    read -r _ n _ ok _ wall _ rps _ codes <<<"$out"
    local hwm=""
    [[ $s == cdn-edge ]] && hwm=$(awk '/VmHWM/ { print $2 }' "/proc/${MAIN_PID[cdn-edge]}/status")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$order" "$s" "$n" "$ok" "$wall" "$rps" \
        $((o1 - o0)) "$codes" "${hwm:-}" >>"$COLD_RESULTS"
    printf '[pull] (c) round %s %-8s %5s URLs  ok %5s  wall %7.3f s  %8.1f URLs/s  origin %5s%s\n' \
        "$round" "$s" "$n" "$ok" "$wall" "$rps" $((o1 - o0)) "${hwm:+  VmHWM ${hwm} kB}" >&2
}

if ((WARMUP > 0)); then
    for s in "${CACHES[@]}"; do
        log "warm-up $s (${WARMUP}s)"
        run_wrk "$TMP/warmup-$s.txt" "$WARMUP" -H "Accept-Encoding: $ACCEPT_ENCODING" -s "$CYCLE_LUA" \
            "http://${ADDR[$s]}/" -- "$PATHS"
    done
fi

for ((r = 1; r <= ROUNDS; r++)); do
    mapfile -t order < <(order_of_round "$r")
    for sc in $HITS; do
        for s in "${order[@]}"; do measure "$r" "${order[0]}-first" "$s" "$sc"; done
    done
done
for ((r = 1; r <= ROUNDS && STORMS == 1; r++)); do
    mapfile -t order < <(order_of_round "$r")
    for s in "${order[@]}"; do storm "$r" "${order[0]}-first" "$s"; done
done
printf 'round\torder\tcache\turls\tok\twall_s\turls_per_s\torigin_requests\tcodes\tvmhwm_kb\n' >"$COLD_RESULTS"
for ((r = 1; r <= ROUNDS && COLD == 1; r++)); do
    mapfile -t order < <(order_of_round "$r")
    for s in "${order[@]}"; do cold "$r" "${order[0]}-first" "$s"; done
done

# make sure no cache died under load
for s in "${CACHES[@]}"; do
    # shellcheck disable=SC2046
    proc_ticks $(pids_of "$s") >/dev/null
done

# ---------------------------------------------------------------- summary --
python3 - "$RESULTS" "$STORM_RESULTS" "$ACCEPT_ENCODING" "$(wc -l <"$PATHS")" "$COLD_RESULTS" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
storms = list(csv.DictReader(open(sys.argv[2]), delimiter="\t"))
colds = list(csv.DictReader(open(sys.argv[5]), delimiter="\t"))
order = [c for c in ("cdn-edge", "nginx", "varnish") if any(r["cache"] == c for r in rows + storms + colds)]
label = {"cdn-edge": "cdn-edge", "nginx": "nginx proxy_cache", "varnish": "Varnish"}
def med(c, key, src=rows, sc=None):
    v = [float(r[key]) for r in src if r["cache"] == c and (sc is None or r["scenario"] == sc)]
    return statistics.median(v) if v else float("nan")
def total(c, key, src=rows, sc=None):
    return sum(int(r[key]) for r in src if r["cache"] == c and (sc is None or r["scenario"] == sc))
def per_round(c, key, src):
    return " / ".join(r[key] for r in sorted((r for r in src if r["cache"] == c), key=lambda r: int(r["round"])))
def ratio(a, b):
    return a / b if b else float("nan")
scenarios = list(dict.fromkeys(r["scenario"] for r in rows))
what = {"hot": "one ~30 KB stylesheet, \"Accept-Encoding: br\"",
        "304": "the same with If-None-Match: the cache's ETag -> 304",
        "mixed": "%s objects cycled with \"Accept-Encoding: %s\"" % (sys.argv[4], sys.argv[3])}
if rows:
    rounds = len({r["round"] for r in rows})
    print()
    print("(a) Hit throughput, medians over %d round(s): %s." % (
        rounds, "; ".join("%s = %s" % (sc, what.get(sc, sc)) for sc in scenarios)))
    print()
    print("| scenario | cache | req/s | p50 ms | p99 ms | CPU µs/req | machine CPU µs/req | B/resp | non-2xx/3xx | socket errors | origin requests during runs |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for sc in scenarios:
        for c in order:
            print("| %s | %s | %.0f | %.2f | %.2f | %.1f | %.1f | %.0f | %d | %d | %d |" % (
                sc, label[c], med(c, "rps", sc=sc), med(c, "p50_ms", sc=sc), med(c, "p99_ms", sc=sc),
                med(c, "cpu_us_per_req", sc=sc), med(c, "machine_us_per_req", sc=sc),
                med(c, "bytes_per_resp", sc=sc), total(c, "non2xx", sc=sc),
                total(c, "socket_errors", sc=sc), total(c, "origin_requests", sc=sc)))
    print()
    print("| scenario | ratio | req/s | p50 | p99 | CPU µs/req |")
    print("|---|---|---:|---:|---:|---:|")
    for sc in scenarios:
        for c in order[1:]:
            print("| %s | cdn-edge / %s | %.2f | %.2f | %.2f | %.2f |" % (
                sc, label[c], ratio(med("cdn-edge", "rps", sc=sc), med(c, "rps", sc=sc)),
                ratio(med("cdn-edge", "p50_ms", sc=sc), med(c, "p50_ms", sc=sc)),
                ratio(med("cdn-edge", "p99_ms", sc=sc), med(c, "p99_ms", sc=sc)),
                ratio(med("cdn-edge", "cpu_us_per_req", sc=sc), med(c, "cpu_us_per_req", sc=sc))))
if storms:
    print()
    print("(b) Miss storm: %s clients GET one cold URL at once; the origin takes the storm delay to answer. Per round, in round order; wall time median." % storms[0]["clients"])
    print()
    print("| cache | origin requests per storm | clients OK (200, right bytes) | wall s (median) | max client latency s (median) | answers |")
    print("|---|---|---|---:|---:|---|")
    for c in order:
        codes = sorted({r["codes"] for r in storms if r["cache"] == c})
        print("| %s | %s | %s | %.3f | %.3f | %s |" % (
            label[c], per_round(c, "origin_requests", storms), per_round(c, "ok", storms),
            med(c, "wall_s", storms), med(c, "max_s", storms), "; ".join(codes)))
if colds:
    print()
    print("(c) Cold-miss wave: %s distinct URLs, each requested once by concurrent keep-alive clients; medians over %d round(s)." % (
        colds[0]["urls"], len({r["round"] for r in colds})))
    print()
    print("| cache | wall s | URLs/s | URLs/s ratio to cdn-edge | origin requests per wave | answers | cdn-edge VmHWM MiB (end of round) |")
    print("|---|---:|---:|---:|---|---|---|")
    base = med("cdn-edge", "urls_per_s", colds)
    for c in order:
        codes = sorted({r["codes"] for r in colds if r["cache"] == c})
        hwm = " / ".join("%.0f" % (int(r["vmhwm_kb"]) / 1024) for r in colds if r["cache"] == c and r["vmhwm_kb"])
        print("| %s | %.3f | %.1f | %.2f | %s | %s | %s |" % (
            label[c], med(c, "wall_s", colds), med(c, "urls_per_s", colds),
            ratio(med(c, "urls_per_s", colds), base), per_round(c, "origin_requests", colds),
            "; ".join(codes), hwm or "-"))
PY
echo
echo "Command: $COMMAND"
echo "wrk: wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s --timeout 5s --latency, hot: -H 'Accept-Encoding: br' http://CACHE$HOT; 304: the same with -H 'If-None-Match: ETAG'; mixed: -H 'Accept-Encoding: $ACCEPT_ENCODING' -s docs/benchmarks/load/cycle.lua http://CACHE/ -- objects.paths"
echo "Setup: $(nproc) cores (wrk, the caches and the origin share them); cache order rotates per round; CPU = utime+stime" \
    "from /proc (CLK_TCK $CLK_TCK) of the cache's processes (cdn-edge: its PID; nginx: master + workers + cache manager;" \
    "Varnish: manager + child) / wrk requests; origin = nginx $("$NGINX" -v 2>&1 | sed 's|.*/||')" \
    "(+ slow_origin.py for /storm-*, ${STORM_DELAY}s)."
echo "Versions: cdn-edge $(cd "$REPO" && git describe --always --dirty 2>/dev/null || echo '?'), nginx $("$NGINX" -v 2>&1 | sed 's|.*/||')$([[ -n $VARNISH_SKIPPED ]] || "$VARNISHD" -V 2>&1 | grep -o -m1 'varnish-[0-9.]*' | sed 's/^/, /')."
for s in "${CACHES[@]}"; do
    echo "Fill: $s: ${WARM_ORIGIN[$s]} origin requests for $(wc -l <"$PATHS") objects fetched 3 times; 'gzip, br' -> ${WARM_ENC[$s]}."
done
[[ -n $VARNISH_SKIPPED ]] && echo "Varnish skipped: $VARNISH_SKIPPED."
echo "Raw per-round numbers: $RESULTS, $STORM_RESULTS, $COLD_RESULTS"
