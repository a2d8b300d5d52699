# Shared by docs/benchmarks/load.sh and docs/benchmarks/pull.sh, sourced after they set
# BENCH_TAG (log prefix), KEEP_TMP, REPO, THREADS and CONNECTIONS:
# logging, cleanup of what the script started (by PID), package installs,
# the release build, and running and reading wrk.

log() { printf '[%s] %s\n' "$BENCH_TAG" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$BENCH_TAG" "$*" >&2; exit 1; }

# ---------------------------------------------------------------- cleanup --
TMP=""
declare -a STARTED=()   # PIDs of long-running processes this script started
WRK_PID=""

stop_pid() { # stop_pid PID: TERM, wait up to 5 s, then KILL
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    [[ -n $WRK_PID ]] && stop_pid "$WRK_PID"
    local pid
    for pid in "${STARTED[@]+"${STARTED[@]}"}"; do stop_pid "$pid"; done
    if [[ -n $TMP && -d $TMP ]]; then
        if [[ $KEEP_TMP == 1 ]]; then log "kept $TMP"; else rm -rf "$TMP"; fi
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'log interrupted; exit 130' INT
trap 'log terminated; exit 143' TERM

# ----------------------------------------------------------- dependencies --
SUDO=""
APT_UPDATED=0
nginx_module() { # nginx_module FILE: path of an installed nginx dynamic module (e.g. ngx_http_brotli_static_module.so)
    local d
    for d in /usr/lib/nginx/modules /usr/share/nginx/modules; do
        [[ -f $d/$1 ]] && { echo "$d/$1"; return 0; }
    done
    return 1
}

apt_install() { # apt_install PKG...: returns apt-get's status
    if ((EUID != 0)); then
        command -v sudo >/dev/null || { log "cannot install $* (not root, no sudo)"; return 1; }
        SUDO=sudo
    fi
    if ((APT_UPDATED == 0)); then
        $SUDO apt-get update || return 1
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y "$@"
}

need_with_nginx() { # need_with_nginx CMD...: installs what is missing of CMD... and nginx
    # (Debian's nginx-light), and sets NGINX to the nginx binary
    local -a need=()
    local c
    for c in "$@"; do command -v "$c" >/dev/null || need+=("$c"); done
    command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need+=(nginx-light)
    ((${#need[@]} == 0)) || apt_install "${need[@]}" || die "could not install ${need[*]}"
    NGINX=$(command -v nginx || echo /usr/sbin/nginx)
}

build_cdn_edge() { # prints the path of the cdn-edge binary to measure
    local bin
    if [[ -n ${CDN_EDGE_BIN:-} ]]; then
        bin=$CDN_EDGE_BIN
    else
        log "cargo build --release"
        (cd "$REPO" && cargo build --release >&2)
        bin=${CARGO_TARGET_DIR:-$REPO/target}/release/cdn-edge
    fi
    [[ -x $bin ]] || die "no executable at $bin"
    echo "$bin"
}

# ----------------------------------------------------------------- corpus --
npm_corpus() { # npm_corpus DIR N PACKAGES: npm-installs PACKAGES under DIR and prints N of
    # their asset files (paths relative to DIR/node_modules, ./-prefixed): four fifths spread
    # evenly over their CSS, JS, fonts and PNGs (sorted), the rest over their SVG icons
    local dir=$1 n=$2 packages=$3
    command -v npm >/dev/null || die "the npm corpus needs npm"
    log "npm install $packages"
    # shellcheck disable=SC2086
    timeout 600 npm install --prefix "$dir" --no-audit --no-fund --ignore-scripts \
        --no-save --loglevel=error $packages >/dev/null || die "npm install failed"
    spread() { # spread N FILE: N lines spread evenly over FILE
        awk -v n="$1" -v total="$(wc -l <"$2")" \
            'total <= n || int((NR - 1) * n / total) != int(NR * n / total)' "$2" | head -n "$1"
    }
    (cd "$dir/node_modules" && find . -type f \( -name '*.css' -o -name '*.js' \
        -o -name '*.mjs' -o -name '*.woff2' -o -name '*.woff' -o -name '*.ttf' \
        -o -name '*.png' \) | sort) >"$dir/assets"
    (cd "$dir/node_modules" && find . -type f -name '*.svg' | sort) >"$dir/icons"
    spread $((n * 4 / 5)) "$dir/assets" >"$dir/assets.picked"
    cat "$dir/assets.picked"
    spread $((n - $(wc -l <"$dir/assets.picked"))) "$dir/icons"
}

# ------------------------------------------------------------------- runs --
proc_ticks() { # utime+stime (clock ticks) summed over PIDs
    local t=0 pid v
    for pid in "$@"; do
        v=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat") ||
            die "process $pid is gone"
        t=$((t + v))
    done
    echo "$t"
}

peak_rss_kib() { # peak_rss_kib PID...: VmHWM summed over the processes
    local t=0 pid v
    for pid in "$@"; do
        v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null) || v=0
        t=$((t + ${v:-0}))
    done
    echo "$t"
}

# parse_wrk FILE -> "requests seconds rps p50_ms p99_ms bytes non2xx sockerr"
parse_wrk() {
    awk '
    function ms(v,   n, u) {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
        if (u == "us") return n / 1000
        if (u == "ms") return n
        if (u == "s")  return n * 1000
        if (u == "m")  return n * 60000
        if (u == "h")  return n * 3600000
        return -1
    }
    function bytes(v,   n, u) {
        n = v + 0; u = v; sub(/^[0-9.]+/, "", u); sub(/B$/, "", u)
        if (u == "K") return n * 1024
        if (u == "M") return n * 1048576
        if (u == "G") return n * 1073741824
        if (u == "T") return n * 1099511627776
        return n
    }
    / requests in / { req = $1; secs = $4; sub(/s,$/, "", secs); b = bytes($5) }
    /^ +50% / { p50 = ms($2) }
    /^ +99% / { p99 = ms($2) }
    /^Requests\/sec:/ { rps = $2 }
    /Non-2xx or 3xx responses:/ { non2xx = $NF }
    /Socket errors:/ { gsub(/,/, ""); sockerr = $4 + $6 + $8 + $10 }
    END {
        if (req == "" || rps == "") exit 1
        printf "%s %s %s %.3f %.3f %.0f %d %d\n", req, secs, rps, p50, p99, b, non2xx, sockerr
    }' "$1"
}

run_wrk() { # run_wrk OUTFILE SECONDS wrk-args...: bounded in time, interruptible
    local out=$1 secs=$2
    shift 2
    timeout --kill-after=5 $((secs + 60)) \
        wrk -t "$THREADS" -c "$CONNECTIONS" -d "${secs}s" --timeout 5s --latency "$@" >"$out" 2>&1 &
    WRK_PID=$!
    local rc=0
    wait "$WRK_PID" || rc=$?
    WRK_PID=""
    ((rc == 0)) || { cat "$out" >&2; die "wrk failed ($rc): wrk $*"; }
}

response_header() { # response_header URL FIELD [curl-args...]: FIELD (lower case) of URL's answer
    local url=$1 field=$2
    shift 2
    curl -fsS --max-time 5 -o /dev/null -D - "$@" "$url" |
        tr -d '\r' | awk -F': ' -v f="$field" 'tolower($1) == f { print $2 }'
}

wait_for_br() { # wait_for_br URL: until URL answers `Accept-Encoding: br` with br (dies after 10 s)
    local _
    for _ in $(seq 100); do
        [[ $(response_header "$1" content-encoding -H 'Accept-Encoding: br') == br ]] && return 0
        sleep 0.1
    done
    die "no br representation of $1"
}

raise_nofile() { # raise_nofile N: the soft limit of open files to N (dies if the hard one is lower)
    local hard
    hard=$(ulimit -Hn)
    [[ $hard == unlimited ]] || ((hard >= $1)) || die "ulimit -Hn is $hard; need $1"
    ulimit -n "$1"
}

wait_line() { # wait_line FILE PATTERN SECONDS: until a line of FILE matches (status 1 after SECONDS)
    local _
    for _ in $(seq $(($3 * 10))); do
        grep -q "$2" "$1" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

proc_kb() { # proc_kb FIELD PID: a /proc status field (VmRSS, VmHWM, ...), kB, summed over PID and its children (nginx workers)
    local t=0 p v
    for p in "$2" $(pgrep -P "$2" || true); do
        v=$(awk -v f="$1:" '$1 == f { print $2 }' "/proc/$p/status" 2>/dev/null || echo 0)
        t=$((t + ${v:-0}))
    done
    echo "$t"
}

nginx_temp_paths() { # nginx_temp_paths DIR: the temp-path lines of an nginx `http {}` block, under DIR
    local d=$1 kind
    for kind in client_body:cb proxy:p fastcgi:f uwsgi:u scgi:s; do
        printf '    %s_temp_path %s/%s;\n' "${kind%%:*}" "$d" "${kind#*:}"
    done
}

start_port_reporter() { # start_port_reporter NAME OUT ERR CMD...: runs CMD in the background, which
    # prints "port N" on stdout once bound (OUT; stderr to ERR); sets REPORTER_PID and REPORTER_PORT.
    local name=$1 out=$2 err=$3 _
    shift 3
    "$@" >"$out" 2>"$err" &
    REPORTER_PID=$!
    STARTED+=("$REPORTER_PID")
    REPORTER_PORT=""
    for _ in $(seq 100); do
        REPORTER_PORT=$(awk '$1 == "port" { print $2 }' "$out")
        [[ -n $REPORTER_PORT ]] && return 0
        kill -0 "$REPORTER_PID" 2>/dev/null || { cat "$err" >&2; die "$name exited"; }
        sleep 0.1
    done
    die "$name did not report its port"
}

free_port() { # a free TCP port on 127.0.0.1
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

start_static_origin() { # start_static_origin ROOT DIR TYPES: Debian nginx serving ROOT on a free
    # loopback port with "Cache-Control: public, max-age=3600" (TYPES: an nginx
    # `types` body, e.g. "text/css css;"); its files live in DIR. Sets ORIGIN_PORT.
    local root=$1 dir=$2 types=$3 user_line="" nginx
    nginx=$(command -v nginx || echo /usr/sbin/nginx)
    ((EUID == 0)) && user_line="user $(id -un) $(id -gn);"
    ORIGIN_PORT=$(free_port)
    mkdir -p "$dir"
    cat >"$dir/nginx.conf" <<CONF
$user_line
worker_processes 1;
daemon off;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
$(nginx_temp_paths "$dir")
    types { $types }
    keepalive_requests 100000;
    server {
        listen 127.0.0.1:$ORIGIN_PORT;
        root $root;
        add_header Cache-Control "public, max-age=3600";
    }
}
CONF
    "$nginx" -p "$dir/" -c "$dir/nginx.conf" >"$dir/stdout" 2>&1 &
    STARTED+=("$!")
    local _
    for _ in $(seq 100); do
        curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$ORIGIN_PORT/" 2>/dev/null && return 0
        [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "http://127.0.0.1:$ORIGIN_PORT/") != 000 ]] && return 0
        sleep 0.1
    done
    die "origin nginx did not answer (see $dir/error.log)"
}

start_node() { # start_node LOG BIN serve-args...: runs `BIN serve --listen 127.0.0.1:0 ARGS`,
    # waits for its "listening on" line; sets NODE_PID and NODE_ADDR.
    local log=$1 bin=$2 _
    shift 2
    "$bin" serve --listen 127.0.0.1:0 "$@" 2>"$log" >/dev/null &
    NODE_PID=$!
    STARTED+=("$NODE_PID")
    NODE_ADDR=""
    for _ in $(seq 300); do
        NODE_ADDR=$(grep -o 'listening on http://[0-9.]*:[0-9]*' "$log" | head -n1 | sed 's|.*http://||') || true
        [[ -n $NODE_ADDR ]] && return 0
        kill -0 "$NODE_PID" 2>/dev/null || break
        sleep 0.1
    done
    cat "$log" >&2
    die "cdn-edge did not start ($log)"
}

# ------------------------------------------------------------- A/B runs --
# The alternating A/B scripts (hits_ab.sh, pull_hits_ab.sh, rules_hits.sh):
# one wrk run measured per call, rows appended to a results file, and one
# table of medians at the end.

ab_measure() { # ab_measure RESULTS PAIR SCENARIO SIDE PID wrk-args...: one wrk run of
    # DURATION seconds; appends "PAIR SCENARIO SIDE req/s CPU-µs/req" (the node's
    # utime+stime over wrk's requests) to RESULTS; dies on a non-2xx/3xx or socket error.
    local results=$1 pair=$2 sc=$3 side=$4 pid=$5 t0 t1 req rps non2xx sockerr
    shift 5
    t0=$(proc_ticks "$pid")
    run_wrk "$TMP/wrk.txt" "$DURATION" "$@"
    t1=$(proc_ticks "$pid")
    read -r req _ rps _ _ _ non2xx sockerr < <(parse_wrk "$TMP/wrk.txt")
    ((non2xx == 0 && sockerr == 0)) || die "$side ($sc): $non2xx non-2xx/3xx, $sockerr socket errors"
    printf '%s\t%s\t%s\t%s\t%s\n' "$pair" "$sc" "$side" "$rps" \
        "$(awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v n="$req" 'BEGIN { printf "%.3f", t / hz * 1e6 / n }')" \
        >>"$results"
}

ab_table() { # ab_table RESULTS A B SCENARIO=NAME...: the Markdown table of medians, side A
    # against side B, one row per scenario, with the median of the per-pair CPU ratios.
    python3 "$(dirname "${BASH_SOURCE[0]}")/ab_table.py" "$@"
}

gen_page() { # gen_page ROOT: the page of the TLS suites under ROOT: the first $PAGE files of
    # load/gen_assets.py's mixed corpus (writes $TMP/page.paths, and $TMP/page.text for the text
    # ones, which get .br (brotli 11) and .gz (gzip -9) siblings); logs its size
    local root=$1 page_bytes page_br
    mkdir -p "$root" "$TMP/mem"
    log "generating files in $TMP"
    python3 "$HERE/load/gen_assets.py" "$root" "$TMP/mem/www"
    rm -rf "$TMP/mem"
    head -n "$PAGE" "$TMP/mixed.paths" >"$TMP/page.paths"
    sed 's|^/||' "$TMP/page.paths" | grep -Fxf - "$TMP/text.files" >"$TMP/page.text" || true
    (cd "$root" && xargs -P "$(nproc)" -I{} sh -c \
        'brotli -q 11 -f -o "$1.br" "$1" && gzip -9 -n -c "$1" > "$1.gz"' _ {} <"$TMP/page.text")
    page_bytes=$(cd "$root" && sed 's|^/||' "$TMP/page.paths" | xargs stat -c %s | awk '{ t += $1 } END { print t }')
    page_br=$(cd "$root" && sed 's|^/||; s|$|.br|' "$TMP/page.paths" | xargs stat -c %s 2>/dev/null | awk '{ t += $1 } END { print t }')
    log "page: $(wc -l <"$TMP/page.paths") assets ($(wc -l <"$TMP/page.text") text), $page_bytes B identity, $page_br B br"
}
