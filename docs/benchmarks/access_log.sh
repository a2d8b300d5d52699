#!/usr/bin/env bash
# What the access log costs: hit throughput with the log off and on (to a
# file), cdn-edge and Debian's nginx side by side over the same files.
#
#   docs/benchmarks/access_log.sh                      # defaults: DURATION=10 ROUNDS=3
#   DURATION=3 ROUNDS=1 docs/benchmarks/access_log.sh  # quick smoke run
#
# Environment:
#   DURATION     seconds per wrk run (default 10)
#   ROUNDS       rounds of every server and scenario (default 3); the
#                server order rotates each round
#   THREADS      wrk threads (default 2)
#   CONNECTIONS  wrk connections (default 64)
#   RESULTS      where to write the raw per-round numbers (default: a new
#                file under ${TMPDIR:-/tmp}); its path is printed
#   CDN_EDGE_BIN use this binary instead of building target/release/cdn-edge
#   KEEP_TMP     1 = keep the temp dir (files, configs, logs, wrk outputs)
#   INSTR        1 = also count instructions per request under valgrind
#                (default 1; see below); 0 = skip
#   INSTR_N      requests per instruction count (default 5000)
#
# Servers, each started once:
#   edge-off       cdn-edge, [log] access = "off"
#   edge-combined  cdn-edge, access log to a file, combined (the default format)
#   edge-json      cdn-edge, access log to a file, json
#   nginx-off      nginx, access_log off
#   nginx-combined nginx, access_log to a file, combined (nginx's default:
#                  one write per line)
#   nginx-buffered nginx, access_log ... combined buffer=64k flush=1s
#                  (batched like cdn-edge's)
# Scenarios: (a) 1 KB JS, identity: the most requests per second, so the
# worst case for a per-request cost; (b) 30 KB CSS, gzip.
#
# Throughput on a shared machine moves with whatever else runs there; the
# instruction count does not. So cdn-edge (one worker) also runs under
# valgrind's callgrind while one keep-alive client sends INSTR_N requests
# for the 1 KB file: instructions per request with the log off, combined
# and json (user space only: the kernel's share, the larger part of a
# request's cost, is the same either way).
#
# After every run the log files are checked (one line per request wrk
# completed, give or take the requests in flight when it stopped) and then
# truncated. Peak RSS is VmHWM from /proc (nginx: master + workers).
# Everything binds 127.0.0.1 only; every process it starts is stopped by PID
# on exit (also on Ctrl-C).
set -euo pipefail

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
KEEP_TMP=${KEEP_TMP:-0}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

BENCH_TAG=access-log
# shellcheck source=lib/bench.sh
source "$HERE/lib/bench.sh"

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need+=(nginx-light)
command -v curl >/dev/null || need+=(curl)
command -v python3 >/dev/null || need+=(python3)
command -v pgrep >/dev/null || need+=(procps)
INSTR=${INSTR:-1}
INSTR_N=${INSTR_N:-5000}
((INSTR == 0)) || command -v callgrind_control >/dev/null || need+=(valgrind)
if ((${#need[@]} > 0)); then
    log "installing missing packages: ${need[*]}"
    apt_install "${need[@]}" || die "could not install ${need[*]}"
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
CLK_TCK=$(getconf CLK_TCK)

BIN=$(build_cdn_edge)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/cdn-edge-access-log.XXXXXX")
chmod 755 "$TMP"
RESULTS=${RESULTS:-${TMPDIR:-/tmp}/cdn-edge-access-log-$(date +%Y%m%d-%H%M%S).tsv}

# ------------------------------------------------------------------ files --
ROOT=$TMP/www
mkdir -p "$ROOT"
python3 - "$ROOT" <<'PY'
import random, sys
root = sys.argv[1]
rnd = random.Random(7)
words = ["margin", "padding", "color", "display", "flex", "grid", "border", "font", "line", "width"]
with open(f"{root}/small.js", "w") as f:
    s = ""
    while len(s) < 1024:
        s += "var v%d = %d;\n" % (rnd.randrange(10**6), rnd.randrange(10**9))
    f.write(s[:1023] + "\n")
with open(f"{root}/app.0123456789abcdef.css", "w") as f:
    s = ""
    while len(s) < 30 * 1024:
        s += ".c%d { %s: %dpx; %s: #%06x; }\n" % (
            rnd.randrange(10**5), rnd.choice(words), rnd.randrange(100), rnd.choice(words), rnd.randrange(1 << 24))
    f.write(s)
PY
CSS=app.0123456789abcdef.css
gzip -9 -n -k "$ROOT/$CSS"

# ---------------------------------------------------------------- servers --
declare -A ADDR=() PIDS=() LOGFILE=()
SERVERS=(edge-off edge-combined edge-json nginx-off nginx-combined nginx-buffered)

start_edge() { # start_edge NAME ACCESS FORMAT
    local name=$1 access=$2 format=$3
    printf '[log]\naccess = "%s"\naccess_format = "%s"\n' "$access" "$format" >"$TMP/$name.toml"
    start_node "$TMP/$name.stderr" "$BIN" --root "$ROOT" --config "$TMP/$name.toml"
    ADDR[$name]=$NODE_ADDR
    PIDS[$name]=$NODE_PID
    [[ $access == off ]] || LOGFILE[$name]=$access
    log "$name pid $NODE_PID on $NODE_ADDR"
}

start_nginx() { # start_nginx NAME ACCESS_LOG_DIRECTIVE [LOGFILE]
    local name=$1 directive=$2 dir=$TMP/$1 user_line="" port pid _
    ((EUID == 0)) && user_line="user $(id -un) $(id -gn);"
    port=$(free_port)
    mkdir -p "$dir"
    cat >"$dir/nginx.conf" <<CONF
$user_line
worker_processes auto;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    $directive
    server_tokens off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    open_file_cache max=1000 inactive=60s;
    open_file_cache_valid 60s;
    gzip_static on;
$(nginx_temp_paths "$dir")
    server {
        listen 127.0.0.1:$port;
        root $ROOT;
    }
}
CONF
    "$NGINX" -p "$dir/" -e "$dir/error.log" -c "$dir/nginx.conf" >"$dir/stdout" 2>&1 &
    pid=$!
    STARTED+=("$pid")
    for _ in $(seq 100); do
        curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/small.js" 2>/dev/null && break
        sleep 0.1
    done
    curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$port/small.js" ||
        { cat "$dir/error.log" >&2; die "$name not answering"; }
    local -a workers=()
    for _ in $(seq 50); do
        mapfile -t workers < <(pgrep -P "$pid" || true)
        ((${#workers[@]} >= $(nproc))) && break
        sleep 0.1
    done
    STARTED+=("${workers[@]}")
    ADDR[$name]=127.0.0.1:$port
    PIDS[$name]="$pid ${workers[*]}"
    [[ -n ${3:-} ]] && LOGFILE[$name]=$3
    log "$name master $pid workers ${workers[*]} on 127.0.0.1:$port"
}

start_edge edge-off off combined
start_edge edge-combined "$TMP/edge-combined.log" combined
start_edge edge-json "$TMP/edge-json.log" json
start_nginx nginx-off "access_log off;"
start_nginx nginx-combined "access_log $TMP/nginx-combined.log combined;" "$TMP/nginx-combined.log"
start_nginx nginx-buffered "access_log $TMP/nginx-buffered.log combined buffer=64k flush=1s;" \
    "$TMP/nginx-buffered.log"

# Same bytes everywhere.
for s in "${SERVERS[@]}"; do
    [[ $(curl -fsS "http://${ADDR[$s]}/small.js" | sha256sum) == $(sha256sum <"$ROOT/small.js") ]] ||
        die "$s: wrong bytes for /small.js"
    [[ $(curl -fsS -H 'Accept-Encoding: gzip' "http://${ADDR[$s]}/$CSS" | sha256sum) == \
        $(sha256sum <"$ROOT/$CSS.gz") ]] || die "$s: wrong gzip bytes for /$CSS"
done
sleep 1.5 # the sanity requests' lines reach the files; then start clean
for s in "${!LOGFILE[@]}"; do
    [[ -s ${LOGFILE[$s]} ]] || die "$s wrote no access log to ${LOGFILE[$s]}"
    log "$s: $(tail -n1 "${LOGFILE[$s]}")"
    : >"${LOGFILE[$s]}"
done

# ------------------------------------------------------------------- runs --
declare -A SCEN_NAME=([a]="(a) 1 KB JS, identity" [b]="(b) 30 KB CSS, gzip")
printf 'round\tscenario\tserver\trequests\trps\tp50_ms\tp99_ms\tcpu_us_per_req\tlog_lines\tnon2xx\tsocket_errors\n' >"$RESULTS"
log "raw results: $RESULTS"

measure() { # measure ROUND SCENARIO SERVER
    local round=$1 sc=$2 s=$3 url out t0 t1 cpu lines=-
    local -a args=()
    url="http://${ADDR[$s]}"
    case $sc in
    a) args=("$url/small.js") ;;
    b) args=(-H 'Accept-Encoding: gzip' "$url/$CSS") ;;
    esac
    out=$TMP/wrk-r$round-$sc-$s.txt
    # shellcheck disable=SC2086
    t0=$(proc_ticks ${PIDS[$s]})
    run_wrk "$out" "$DURATION" "${args[@]}"
    # shellcheck disable=SC2086
    t1=$(proc_ticks ${PIDS[$s]})
    local req secs rps p50 p99 b non2xx sockerr
    read -r req secs rps p50 p99 b non2xx sockerr < <(parse_wrk "$out") ||
        { cat "$out" >&2; die "cannot parse wrk output $out"; }
    cpu=$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$req" 'BEGIN { printf "%.2f", t / hz * 1e6 / n }')
    if [[ -n ${LOGFILE[$s]:-} ]]; then
        sleep 1.5 # past both servers' flush interval
        lines=$(wc -l <"${LOGFILE[$s]}")
        : >"${LOGFILE[$s]}"
        # wrk counts completed responses; the log also has those in flight
        # when wrk stopped (at most one per connection).
        ((lines >= req && lines <= req + CONNECTIONS)) ||
            log "WARNING: $s logged $lines lines for $req requests"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$sc" "$s" "$req" "$rps" "$p50" "$p99" \
        "$cpu" "$lines" "$non2xx" "$sockerr" >>"$RESULTS"
    printf '[access-log] round %s %-24s %-15s %10.0f req/s  p50 %6.3f ms  p99 %6.3f ms  cpu %6s us/req  lines %s\n' \
        "$round" "${SCEN_NAME[$sc]}" "$s" "$rps" "$p50" "$p99" "$cpu" "$lines" >&2
}

for s in "${SERVERS[@]}"; do # warm-up
    run_wrk "$TMP/warmup-$s.txt" 1 "http://${ADDR[$s]}/small.js"
done
for s in "${!LOGFILE[@]}"; do : >"${LOGFILE[$s]}"; done
for ((r = 1; r <= ROUNDS; r++)); do
    # rotate the order so no server always runs first or last
    order=("${SERVERS[@]:$(((r - 1) % ${#SERVERS[@]}))}" "${SERVERS[@]:0:$(((r - 1) % ${#SERVERS[@]}))}")
    for sc in a b; do
        for s in "${order[@]}"; do measure "$r" "$sc" "$s"; done
    done
done

# ------------------------------------------------- instructions per request --
cat >"$TMP/drive.py" <<'PY'
import http.client, sys
host, port = sys.argv[1].rsplit(":", 1)
conn = http.client.HTTPConnection(host, int(port), timeout=120)
for _ in range(int(sys.argv[2])):
    conn.request("GET", "/small.js", headers={"User-Agent": "bench/1.0", "Referer": "http://example.com/"})
    r = conn.getresponse()
    r.read()
    if r.status != 200:
        sys.exit("status %d" % r.status)
PY
declare -A INSTR_PER_REQ=()
count_instructions() { # count_instructions NAME ACCESS FORMAT: sets INSTR_PER_REQ[NAME]
    local name=$1 dir=$TMP/vg-$1 pid addr="" _ ir
    mkdir -p "$dir"
    printf '[server]\nworkers = 1\n[log]\naccess = "%s"\naccess_format = "%s"\n' "$2" "$3" >"$dir/config.toml"
    valgrind --tool=callgrind --callgrind-out-file="$dir/cg.%p" "$BIN" serve --listen 127.0.0.1:0 \
        --root "$ROOT" --config "$dir/config.toml" 2>"$dir/stderr" >/dev/null &
    pid=$!
    STARTED+=("$pid")
    for _ in $(seq 600); do
        addr=$(grep -o 'listening on http://[0-9.]*:[0-9]*' "$dir/stderr" | head -n1 | sed 's|.*http://||') || true
        [[ -n $addr ]] && break
        sleep 0.1
    done
    [[ -n $addr ]] || { cat "$dir/stderr" >&2; die "$name did not start under valgrind"; }
    timeout 300 python3 "$TMP/drive.py" "$addr" 500 || die "$name: warm-up failed"
    sleep 1.5 # the warm-up's lines are flushed and written
    callgrind_control -z "$pid" >/dev/null
    timeout 600 python3 "$TMP/drive.py" "$addr" "$INSTR_N" || die "$name: requests failed"
    sleep 1.5 # these lines are flushed (access_flush) and written
    callgrind_control -d "$pid" >/dev/null
    stop_pid "$pid"
    ir=$(awk '/^totals:/ { print $2 }' "$dir/cg.$pid.1")
    [[ -n $ir ]] || die "$name: no callgrind totals in $dir"
    INSTR_PER_REQ[$name]=$((ir / INSTR_N))
    log "$name: ${INSTR_PER_REQ[$name]} instructions per request"
}
if ((INSTR == 1)); then
    count_instructions edge-off off combined
    count_instructions edge-combined "$TMP/vg-combined.log" combined
    count_instructions edge-json "$TMP/vg-json.log" json
fi

# ---------------------------------------------------------------- summary --
kb_hwm() { # summed VmHWM (kB) over PIDs
    local t=0 pid v
    for pid in "$@"; do
        v=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$pid/status") || die "process $pid is gone"
        t=$((t + v))
    done
    echo "$t"
}
declare -A HWM=()
for s in "${SERVERS[@]}"; do
    # shellcheck disable=SC2086
    HWM[$s]=$(kb_hwm ${PIDS[$s]})
done
DROPPED=""
for s in edge-combined edge-json; do
    d=$(curl -fsS "http://${ADDR[$s]}/metrics" | awk '$1 == "cdn_edge_access_log_dropped_lines_total" { print $2 }')
    DROPPED+="$s ${d:-?} "
done

python3 - "$RESULTS" "$(declare -p HWM)" <<'PY'
import csv, re, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
hwm = dict(re.findall(r'\[([\w-]+)\]="(\d+)"', sys.argv[2]))
names = {"a": "(a) 1 KB JS, identity", "b": "(b) 30 KB CSS, gzip"}
def med(sc, srv, key):
    v = [float(r[key]) for r in rows if r["scenario"] == sc and r["server"] == srv]
    return statistics.median(v) if v else float("nan")
rounds = len({r["round"] for r in rows})
print()
print("Medians over %d round(s); 'on/off' = req/s with the log on / req/s with it off, same server." % rounds)
print()
print("| scenario | server | log | req/s | on/off | p50 / p99 ms | CPU µs/req | CPU on/off | peak RSS MiB |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|")
logs = {"edge-off": "off", "edge-combined": "file, combined", "edge-json": "file, json",
        "nginx-off": "off", "nginx-combined": "file, combined", "nginx-buffered": "file, combined, buffer=64k"}
verdict = []
for sc in sorted({r["scenario"] for r in rows}):
    for srv in logs:
        base = "edge-off" if srv.startswith("edge") else "nginx-off"
        rps, off = med(sc, srv, "rps"), med(sc, base, "rps")
        cpu, cpu_off = med(sc, srv, "cpu_us_per_req"), med(sc, base, "cpu_us_per_req")
        ratio = rps / off if off else float("nan")
        print("| %s | %s | %s | %.0f | %s | %.2f / %.2f | %.2f | %s | %.1f |" % (
            names[sc], "cdn-edge" if srv.startswith("edge") else "nginx", logs[srv], rps,
            "—" if srv == base else "%.3f" % ratio, med(sc, srv, "p50_ms"), med(sc, srv, "p99_ms"),
            cpu, "—" if srv == base else "%.3f" % (cpu / cpu_off), int(hwm.get(srv, 0)) / 1024))
        if srv in ("edge-combined", "edge-json"):
            verdict.append((sc, srv, ratio, cpu / cpu_off))
print()
for sc, srv, ratio, cpu in verdict:
    print("%s %s: the log costs %.1f%% of hit throughput (%+.1f%% CPU per request) -> %s" % (
        names[sc], srv, (1 - ratio) * 100, (cpu - 1) * 100,
        "PASS" if ratio >= 0.90 else "FAIL (target: at most 10%)"))
PY
if ((INSTR == 1)); then
    off=${INSTR_PER_REQ[edge-off]}
    echo
    echo "Instructions per request (callgrind, one worker, $INSTR_N keep-alive requests for the 1 KB file, user space):"
    echo
    echo "| log | instructions/request | vs off |"
    echo "|---|---:|---:|"
    for s in edge-off edge-combined edge-json; do
        awk -v n="${INSTR_PER_REQ[$s]}" -v o="$off" -v s="$s" 'BEGIN {
            printf "| %s | %d | %s |\n", s, n, (s == "edge-off") ? "—" : sprintf("%+.1f%%", (n / o - 1) * 100) }'
    done
fi
echo
echo "cdn-edge access log lines dropped (from /metrics): $DROPPED"
echo "Setup: wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, $ROUNDS round(s); cdn-edge workers = cores;" \
    "nginx worker_processes auto; $(nproc) cores; CPU = utime+stime from /proc (CLK_TCK $CLK_TCK) / wrk requests."
echo "Raw per-round numbers: $RESULTS"
