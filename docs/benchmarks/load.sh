#!/usr/bin/env bash
# Load benchmark: cdn-edge vs Debian's nginx over the same generated files.
#
#   docs/benchmarks/load.sh                      # defaults: DURATION=10 ROUNDS=3
#   DURATION=3 ROUNDS=1 docs/benchmarks/load.sh  # quick smoke run
#
# Environment:
#   DURATION     seconds per wrk run (default 10)
#   ROUNDS       rounds of all scenarios (default 3); server order alternates
#   THREADS      wrk threads (default 2)
#   CONNECTIONS  wrk connections (default 64)
#   WARMUP       seconds of mixed-load warm-up per server (default 2)
#   MEMCHECK     1 = run scenario (f), the memory-bound check (default 1)
#   RESULTS      where to write the raw per-round numbers (default: a new
#                file under ${TMPDIR:-/tmp}); its path is printed
#   SCENARIOS    which of a-e to run (default "a b c d e"), e.g. SCENARIOS=d
#   CDN_EDGE_BIN use this binary instead of building target/release/cdn-edge
#   KEEP_TMP     1 = keep the temp dir (files, configs, logs, wrk outputs)
#
# Scenarios: (a) ~30 KB CSS, Accept-Encoding: br; (b) ~1 KB JS, identity;
# (c) If-None-Match with the server's own ETag -> 304; (d) 1 MiB binary,
# identity; (e) 220 mixed CSS/JS/SVG files, Accept-Encoding: gzip, br;
# (f) cdn-edge alone, memory_bytes = 8 MiB over ~26 MB of distinct files:
# peak RSS must stay under memory_bytes + 64 MiB.
#
# Everything binds 127.0.0.1 only; every process it starts is stopped by PID
# on exit (also on Ctrl-C).
set -euo pipefail

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
WARMUP=${WARMUP:-2}
MEMCHECK=${MEMCHECK:-1}
KEEP_TMP=${KEEP_TMP:-0}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
LOADDIR=$HERE/load

BENCH_TAG=load
# shellcheck source=lib/bench.sh
source "$HERE/lib/bench.sh"


# ----------------------------------------------------------- dependencies --
ensure_deps() {
    local -a need=()
    command -v wrk >/dev/null || need+=(wrk)
    command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need+=(nginx)
    command -v brotli >/dev/null || need+=(brotli)
    command -v gzip >/dev/null || need+=(gzip)
    command -v curl >/dev/null || need+=(curl)
    command -v python3 >/dev/null || need+=(python3)
    command -v pgrep >/dev/null || need+=(procps)
    nginx_module ngx_http_brotli_static_module.so >/dev/null || need+=(libnginx-mod-http-brotli-static)
    ((${#need[@]} == 0)) && return 0
    log "installing missing packages: ${need[*]}"
    apt_install "${need[@]}" || die "could not install ${need[*]}"
}

ensure_deps
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
BROTLI_SO=$(nginx_module ngx_http_brotli_static_module.so) || die "ngx_http_brotli_static_module.so not found"
CLK_TCK=$(getconf CLK_TCK)

# ------------------------------------------------------------------ build --
BIN=$(build_cdn_edge)

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cdn-edge-load.XXXXXX")
chmod 755 "$TMP"
RESULTS=${RESULTS:-${TMPDIR:-/tmp}/cdn-edge-load-$(date +%Y%m%d-%H%M%S).tsv}

# ------------------------------------------------------------------ files --
ROOT=$TMP/www
MEMROOT=$TMP/mem/www
mkdir -p "$ROOT" "$MEMROOT"
log "generating files in $TMP"
python3 "$LOADDIR/gen_assets.py" "$ROOT" "$MEMROOT"
CSS=app.0123456789abcdef.css
(cd "$ROOT" && xargs -P "$(nproc)" -I{} sh -c \
    'brotli -q 11 -f -o "$1.br" "$1" && gzip -9 -n -c "$1" > "$1.gz"' _ {} \
    < "$TMP/text.files")
log "$(wc -l < "$TMP/mixed.paths") mixed files; css $(stat -c %s "$ROOT/$CSS") B" \
    "(br $(stat -c %s "$ROOT/$CSS.br") B); main root $(du -sb "$ROOT" | cut -f1) B;" \
    "mem root $(du -sb "$MEMROOT" | cut -f1) B"

# ---------------------------------------------------------------- servers --
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_http() { # wait_http URL: until it answers (max 20 s)
    local i
    for i in $(seq 200); do
        curl -fsS -o /dev/null --max-time 1 "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

start_cdn_edge() { # start_cdn_edge NAME ROOT PROBE_PATH [args...]: sets CDN_PID, CDN_ADDR
    local name=$1 root=$2 probe=$3 errlog=$TMP/$1.stderr i
    shift 3
    "$BIN" serve --root "$root" --listen 127.0.0.1:0 "$@" 2>"$errlog" >/dev/null &
    CDN_PID=$!
    STARTED+=("$CDN_PID")
    CDN_ADDR=""
    for i in $(seq 300); do
        CDN_ADDR=$(grep -o 'listening on http://[0-9.]*:[0-9]*' "$errlog" | head -n1 | sed 's|.*http://||') || true
        [[ -n $CDN_ADDR ]] && break
        kill -0 "$CDN_PID" 2>/dev/null || { cat "$errlog" >&2; die "$name exited at start"; }
        sleep 0.1
    done
    [[ -n $CDN_ADDR ]] || { cat "$errlog" >&2; die "$name did not log its address"; }
    wait_http "http://$CDN_ADDR$probe" || die "$name not answering"
    log "$name pid $CDN_PID on $CDN_ADDR"
}

# No access log, like the nginx it is compared with (docs/benchmarks/access_log.sh
# measures what the log costs).
printf '[log]\naccess = "off"\n' >"$TMP/edge.toml"
start_cdn_edge cdn-edge "$ROOT" /small.js --config "$TMP/edge.toml"
CDN_MAIN_PID=$CDN_PID
CDN_MAIN_ADDR=$CDN_ADDR

NGINX_PORT=$(free_port)
user_line=""
((EUID == 0)) && user_line="user $(id -un) $(id -gn);"
mkdir -p "$TMP/nginx"
sed -e "s|@TMP@|$TMP/nginx|g" -e "s|@ROOT@|$ROOT|g" -e "s|@PORT@|$NGINX_PORT|g" \
    -e "s|@BROTLI_STATIC_SO@|$BROTLI_SO|g" -e "s|@USER_LINE@|$user_line|g" \
    "$LOADDIR/nginx.conf.tmpl" > "$TMP/nginx/nginx.conf"
"$NGINX" -t -q -p "$TMP/nginx/" -e "$TMP/nginx/nginx-error.log" -c "$TMP/nginx/nginx.conf" \
    || die "nginx config test failed (see $TMP/nginx/nginx.conf)"
"$NGINX" -p "$TMP/nginx/" -e "$TMP/nginx/nginx-error.log" -c "$TMP/nginx/nginx.conf" \
    >"$TMP/nginx/stdout" 2>&1 &
NGINX_PID=$!
STARTED+=("$NGINX_PID")
NGINX_ADDR=127.0.0.1:$NGINX_PORT
wait_http "http://$NGINX_ADDR/small.js" || { cat "$TMP/nginx/nginx-error.log" >&2; die "nginx not answering"; }
NGINX_PIDS=("$NGINX_PID")
for i in $(seq 50); do
    mapfile -t workers < <(pgrep -P "$NGINX_PID" || true)
    ((${#workers[@]} >= $(nproc))) && break
    sleep 0.1
done
NGINX_PIDS+=("${workers[@]}")
STARTED+=("${workers[@]}") # stopped with the master; listed in case it dies first
log "nginx master $NGINX_PID workers ${workers[*]} on $NGINX_ADDR"

addr_of() { [[ $1 == cdn-edge ]] && echo "$CDN_MAIN_ADDR" || echo "$NGINX_ADDR"; }
pids_of() { [[ $1 == cdn-edge ]] && echo "$CDN_MAIN_PID" || echo "${NGINX_PIDS[*]}"; }

# ------------------------------------------------------------ sanity checks --
sha() { sha256sum | cut -c1-64; }
fetch() { # fetch SERVER PATH [curl args]: body sha256
    local s=$1 p=$2
    shift 2
    curl -fsS --max-time 10 "$@" "http://$(addr_of "$s")$p" | sha
}
header_of() { # header_of SERVER PATH HEADER [curl args]
    local s=$1 p=$2 h=$3
    shift 3
    curl -fsS --max-time 10 -o /dev/null -D - "$@" "http://$(addr_of "$s")$p" \
        | tr -d '\r' | awk -v h="$(tr 'A-Z' 'a-z' <<<"$h")" -F': ' 'tolower($1) == h { print $2 }'
}

log "checking both servers serve the same bytes"
check_same() { # check_same PATH EXPECTED_FILE [curl args]
    local p=$1 want a b
    want=$(sha <"$2")
    shift 2
    a=$(fetch cdn-edge "$p" "$@")
    b=$(fetch nginx "$p" "$@")
    [[ $a == "$want" && $b == "$want" ]] ||
        die "bytes differ for $p $*: cdn-edge $a nginx $b file $want"
}
check_same "/$CSS" "$ROOT/$CSS"
check_same "/$CSS" "$ROOT/$CSS.br" -H 'Accept-Encoding: br'
check_same "/$CSS" "$ROOT/$CSS.gz" -H 'Accept-Encoding: gzip'
check_same /small.js "$ROOT/small.js"
check_same /big.bin "$ROOT/big.bin"
while read -r p; do
    check_same "$p" "$ROOT$p"
done < <(awk 'NR % 20 == 1' "$TMP/mixed.paths")
# what each picks for the mixed scenario's "gzip, br"
declare -A PICK=()
for s in cdn-edge nginx; do
    PICK[$s]=$(header_of "$s" "$(head -n1 "$TMP/mixed.paths")" Content-Encoding -H 'Accept-Encoding: gzip, br')
done
log "Accept-Encoding: gzip, br -> cdn-edge '${PICK[cdn-edge]:-identity}', nginx '${PICK[nginx]:-identity}'"
for s in cdn-edge nginx; do
    case ${PICK[$s]} in
    br) ext=br ;; gzip) ext=gz ;; *) ext="" ;;
    esac
    p=$(head -n1 "$TMP/mixed.paths")
    [[ $(fetch "$s" "$p" -H 'Accept-Encoding: gzip, br') == $(sha <"$ROOT$p${ext:+.$ext}") ]] ||
        die "$s: gzip, br body is not the ${ext:-identity} file for $p"
done

declare -A ETAG=()
for s in cdn-edge nginx; do
    ETAG[$s]=$(header_of "$s" "/$CSS" ETag -H 'Accept-Encoding: br')
    [[ -n ${ETAG[$s]} ]] || die "$s sent no ETag for /$CSS"
    code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -H 'Accept-Encoding: br' \
        -H "If-None-Match: ${ETAG[$s]}" "http://$(addr_of "$s")/$CSS")
    [[ $code == 304 ]] || die "$s answered $code, not 304, to If-None-Match: ${ETAG[$s]}"
    log "$s ETag ${ETAG[$s]} -> 304"
done

# ------------------------------------------------------------------- runs --


declare -A SCEN_NAME=(
    [a]="(a) 30 KB CSS, br"
    [b]="(b) 1 KB JS, identity"
    [c]="(c) If-None-Match -> 304"
    [d]="(d) 1 MiB, identity"
    [e]="(e) mixed 220 files, gzip+br"
)
read -r -a SCENARIOS <<<"${SCENARIOS:-a b c d e}"

printf 'round\torder\tscenario\tserver\trequests\tseconds\trps\tp50_ms\tp99_ms\tcpu_ticks\tcpu_us_per_req\tbytes_read\tbytes_per_resp\tnon2xx\tsocket_errors\n' >"$RESULTS"
log "raw results: $RESULTS"

measure() { # measure ROUND ORDER SCENARIO SERVER
    local round=$1 order=$2 sc=$3 s=$4 url out t0 t1 cpu
    local -a args=()
    url="http://$(addr_of "$s")"
    case $sc in
    a) args=(-H 'Accept-Encoding: br' "$url/$CSS") ;;
    b) args=("$url/small.js") ;;
    c) args=(-H 'Accept-Encoding: br' -H "If-None-Match: ${ETAG[$s]}" "$url/$CSS") ;;
    d) args=("$url/big.bin") ;;
    e) args=(-H 'Accept-Encoding: gzip, br' -s "$LOADDIR/cycle.lua" "$url/" -- "$TMP/mixed.paths") ;;
    esac
    out=$TMP/wrk-r$round-$sc-$s.txt
    # shellcheck disable=SC2046
    t0=$(proc_ticks $(pids_of "$s"))
    run_wrk "$out" "$DURATION" "${args[@]}"
    # shellcheck disable=SC2046
    t1=$(proc_ticks $(pids_of "$s"))
    local req secs rps p50 p99 b non2xx sockerr
    read -r req secs rps p50 p99 b non2xx sockerr < <(parse_wrk "$out") ||
        { cat "$out" >&2; die "cannot parse wrk output $out"; }
    ((req > 0)) || { cat "$out" >&2; die "no requests completed: $out"; }
    cpu=$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$req" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$order" "$sc" "$s" \
        "$req" "$secs" "$rps" "$p50" "$p99" $((t1 - t0)) "$cpu" "$b" $((b / req)) "$non2xx" "$sockerr" >>"$RESULTS"
    local warn=""
    ((non2xx > 0)) && warn+=" NON-2xx/3xx=$non2xx"
    ((sockerr > 0)) && warn+=" SOCKET-ERRORS=$sockerr"
    if [[ -n $warn ]]; then # keep the whole wrk output next to the results
        cp "$out" "${RESULTS%.tsv}.r$round-$sc-$s.wrk.txt"
        warn+=" (wrk output: ${RESULTS%.tsv}.r$round-$sc-$s.wrk.txt)"
    fi
    printf '[load] round %s %-30s %-8s %10.0f req/s  p50 %7.3f ms  p99 %7.3f ms  cpu %7s us/req  %s B/resp%s\n' \
        "$round" "${SCEN_NAME[$sc]}" "$s" "$rps" "$p50" "$p99" "$cpu" $((b / req)) "$warn" >&2
}

if ((WARMUP > 0)); then
    for s in cdn-edge nginx; do
        log "warm-up $s (${WARMUP}s mixed)"
        run_wrk "$TMP/warmup-$s.txt" "$WARMUP" -H 'Accept-Encoding: gzip, br' \
            -s "$LOADDIR/cycle.lua" "http://$(addr_of "$s")/" -- "$TMP/mixed.paths"
        run_wrk "$TMP/warmup-$s-id.txt" 1 -s "$LOADDIR/cycle.lua" \
            "http://$(addr_of "$s")/" -- "$TMP/mixed.paths"
    done
fi

for ((r = 1; r <= ROUNDS; r++)); do
    if ((r % 2 == 1)); then order=(cdn-edge nginx); else order=(nginx cdn-edge); fi
    for sc in "${SCENARIOS[@]}"; do
        for s in "${order[@]}"; do
            measure "$r" "${order[0]}-first" "$sc" "$s"
        done
    done
done

# make sure neither server died or restarted workers under load
# shellcheck disable=SC2046
proc_ticks $(pids_of cdn-edge) $(pids_of nginx) >/dev/null

# ---------------------------------------------------------------- summary --
summary() {
    python3 - "$RESULTS" <<'PY'
import csv, statistics, sys
rows = [r for r in csv.DictReader(open(sys.argv[1]), delimiter="\t") if r["server"] in ("cdn-edge", "nginx")]
names = {"a": "(a) 30 KB CSS, br", "b": "(b) 1 KB JS, identity", "c": "(c) If-None-Match -> 304",
         "d": "(d) 1 MiB, identity", "e": "(e) mixed 220 files, gzip+br"}
def med(sc, srv, key):
    v = [float(r[key]) for r in rows if r["scenario"] == sc and r["server"] == srv]
    return statistics.median(v) if v else float("nan")
def total(sc, srv, key):
    return sum(int(r[key]) for r in rows if r["scenario"] == sc and r["server"] == srv)
rounds = len({r["round"] for r in rows})
print()
print("Medians over %d round(s); ratio = cdn-edge / nginx." % rounds)
print()
print("| scenario | cdn-edge req/s | nginx req/s | ratio | cdn-edge p50/p99 ms | nginx p50/p99 ms | cdn-edge CPU µs/req | nginx CPU µs/req | CPU ratio |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for sc in sorted({r["scenario"] for r in rows}):
    c, n = med(sc, "cdn-edge", "rps"), med(sc, "nginx", "rps")
    cc, nc = med(sc, "cdn-edge", "cpu_us_per_req"), med(sc, "nginx", "cpu_us_per_req")
    print("| %s | %.0f | %.0f | %.2f | %.2f / %.2f | %.2f / %.2f | %.1f | %.1f | %.2f |" % (
        names.get(sc, sc), c, n, c / n if n else float("nan"),
        med(sc, "cdn-edge", "p50_ms"), med(sc, "cdn-edge", "p99_ms"),
        med(sc, "nginx", "p50_ms"), med(sc, "nginx", "p99_ms"),
        cc, nc, cc / nc if nc else float("nan")))
print()
print("Sanity (median bytes/response incl. headers, from wrk's rounded byte total; error counts summed over rounds):")
print()
print("| scenario | cdn-edge B/resp | nginx B/resp | cdn-edge non-2xx/3xx | nginx non-2xx/3xx | cdn-edge socket errors | nginx socket errors |")
print("|---|---:|---:|---:|---:|---:|---:|")
for sc in sorted({r["scenario"] for r in rows}):
    print("| %s | %.0f | %.0f | %d | %d | %d | %d |" % (
        names.get(sc, sc), med(sc, "cdn-edge", "bytes_per_resp"), med(sc, "nginx", "bytes_per_resp"),
        total(sc, "cdn-edge", "non2xx"), total(sc, "nginx", "non2xx"),
        total(sc, "cdn-edge", "socket_errors"), total(sc, "nginx", "socket_errors")))
PY
}

# ---------------------------------------------------- (f) memory-bound check --
MEM_RESULT=""
MEM_RESULTS=""
if [[ $MEMCHECK == 1 ]]; then
    MEM_BYTES=8388608
    cat >"$TMP/mem/config.toml" <<EOF
[cache]
memory_bytes = $MEM_BYTES
max_object_bytes = 1048576
EOF
    start_cdn_edge cdn-edge-mem "$MEMROOT" "$(head -n1 "$TMP/mem.paths")" --config "$TMP/mem/config.toml"
    p=$(sed -n 7p "$TMP/mem.paths")
    [[ $(curl -fsS --max-time 10 "http://$CDN_ADDR$p" | sha) == $(sha <"$MEMROOT$p") ]] ||
        die "cdn-edge-mem served wrong bytes for $p"
    kb() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$CDN_PID/status"; }
    rss0=$(kb VmRSS)
    log "(f) memory bound: $(wc -l <"$TMP/mem.paths") files, $(du -sb "$MEMROOT" | cut -f1) B, memory_bytes=$MEM_BYTES"
    out=$TMP/wrk-mem.txt
    run_wrk "$out" "$DURATION" -s "$LOADDIR/cycle.lua" "http://$CDN_ADDR/" -- "$TMP/mem.paths"
    hwm=$(kb VmHWM)
    rss1=$(kb VmRSS)
    read -r req secs rps p50 p99 b non2xx sockerr < <(parse_wrk "$out") || die "cannot parse $out"
    limit_kb=$(((MEM_BYTES + (64 << 20)) / 1024))
    verdict=PASS
    ((hwm <= limit_kb)) || verdict=FAIL
    ((req >= $(wc -l <"$TMP/mem.paths"))) || verdict="FAIL (fewer requests than files: $req)"
    ((non2xx == 0 && sockerr == 0)) || verdict="$verdict (non-2xx/3xx $non2xx, socket errors $sockerr)"
    MEM_RESULT=$(printf '(f) memory bound: %s requests (%.0f req/s, p50 %.2f ms, p99 %.2f ms, %s B/resp, errors %s/%s); VmRSS start %.1f MiB, VmHWM %.1f MiB, VmRSS end %.1f MiB; bound memory_bytes + 64 MiB = %.1f MiB -> %s' \
        "$req" "$rps" "$p50" "$p99" $((b / req)) "$non2xx" "$sockerr" \
        "$(awk -v v="$rss0" 'BEGIN{print v/1024}')" \
        "$(awk -v v="$hwm" 'BEGIN{print v/1024}')" "$(awk -v v="$rss1" 'BEGIN{print v/1024}')" \
        "$(awk -v v="$limit_kb" 'BEGIN{print v/1024}')" "$verdict")
    MEM_RESULTS=${RESULTS%.tsv}.memcheck.tsv
    printf 'requests\trps\tp50_ms\tp99_ms\tnon2xx\tsocket_errors\tmemory_bytes\tVmRSS_start_kB\tVmHWM_kB\tVmRSS_end_kB\tlimit_kB\tverdict\n%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$req" "$rps" "$p50" "$p99" "$non2xx" "$sockerr" "$MEM_BYTES" "$rss0" "$hwm" "$rss1" "$limit_kb" "$verdict" >"$MEM_RESULTS"
    stop_pid "$CDN_PID"
fi

summary
if [[ -n $MEM_RESULT ]]; then echo; echo "$MEM_RESULT"; fi
echo
echo "Setup: wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, $ROUNDS round(s); cdn-edge default config (workers = cores);" \
    "nginx worker_processes auto; $(nproc) cores; CPU = utime+stime from /proc (CLK_TCK $CLK_TCK) / wrk requests."
echo "cdn-edge ETag ${ETAG[cdn-edge]}, nginx ETag ${ETAG[nginx]}; 'gzip, br' picks: cdn-edge ${PICK[cdn-edge]:-identity}, nginx ${PICK[nginx]:-identity}."
echo "Raw per-round numbers: $RESULTS"
if [[ -n $MEM_RESULT ]]; then
    echo "Memory check numbers: $MEM_RESULTS"
    [[ $MEM_RESULT == *"-> PASS" ]] || exit 1
fi
