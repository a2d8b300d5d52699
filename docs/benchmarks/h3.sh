#!/usr/bin/env bash
# HTTP/3: cdn-edge against Debian's Caddy 2.6.2 (quic-go), same certificate
# (ECDSA P-256), same files with their .br/.gz siblings, same run, driven
# by h3load (examples/h3load/, quinn + h3: Debian's h2load has no HTTP/3).
# Debian's nginx 1.22 is built without http_v3, so it is not compared.
#
#   docs/benchmarks/h3.sh                               # defaults below
#   DURATION=3 ROUNDS=1 HOLD=200 docs/benchmarks/h3.sh  # quick smoke run
#
# Environment:
#   DURATION     seconds measured per h3load run, after a 1 s warm-up (default 10)
#   ROUNDS       rounds; the server order alternates (default 3)
#   CLIENTS      QUIC connections (default 4)
#   STREAMS      concurrent requests per connection (default 32)
#   PAGE         assets in the "page": the first PAGE of the generated
#                corpus (CSS, JS, SVG, 1-100 KB, precompressed) (default 40)
#   H3THREADS    h3load's tokio threads (default 1: the servers keep the other core)
#   HOLD         idle QUIC connections held for the memory figure (default 1000; 0 = skip)
#   HOLD_SECS    seconds they are held (default 10, at most 25: both servers
#                close a connection idle for 30 s)
#   RESULTS      per-round numbers (default: a new file under ${TMPDIR:-/tmp})
#   CDN_EDGE_BIN use this binary instead of building target/release/cdn-edge
#   H3LOAD_BIN   use this h3load instead of building target/release/examples/h3load
#   LOCK         the lock every measuring run holds (default /tmp/cdn-bench.lock,
#                shared with other benchmark sessions on the machine)
#   KEEP_TMP     1 = keep the temp dir
#
# Every request asks `Accept-Encoding: gzip, deflate, br` like a browser;
# both servers answer with the .br siblings (checked first: every response
# over HTTP/3, ALPN h3, the same bytes, `content-encoding: br`). Reported per
# server: median requests/s and MB/s (body bytes), mean request time, failed
# requests, server CPU (utime+stime of all its threads) per request, peak
# RSS (VmHWM); then RSS before and while holding HOLD idle connections, and
# bytes per idle connection, each server fresh. Everything binds 127.0.0.1;
# every process started is stopped by PID on exit; every run is bounded.
set -euo pipefail

DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-4}
STREAMS=${STREAMS:-32}
PAGE=${PAGE:-40}
H3THREADS=${H3THREADS:-1}
HOLD=${HOLD:-1000}
HOLD_SECS=${HOLD_SECS:-10}
LOCK=${LOCK:-/tmp/cdn-bench.lock}
KEEP_TMP=${KEEP_TMP:-0}
((HOLD_SECS <= 25)) || { echo "HOLD_SECS: at most 25 (the idle timeout is 30 s)" >&2; exit 1; }
THREADS=1
CONNECTIONS=1
ACCEPT='Accept-Encoding: gzip, deflate, br'

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BENCH_TAG=h3
# shellcheck source=lib/bench.sh
source "$HERE/lib/bench.sh"
# shellcheck source=lib/tls.sh
source "$HERE/lib/tls.sh"

need=()
command -v caddy >/dev/null || need+=(caddy)
command -v openssl >/dev/null || need+=(openssl)
command -v brotli >/dev/null || need+=(brotli)
command -v python3 >/dev/null || need+=(python3)
command -v flock >/dev/null || need+=(util-linux)
command -v pgrep >/dev/null || need+=(procps)
if ((${#need[@]})); then
    log "installing missing packages: ${need[*]}"
    apt_install "${need[@]}" || die "could not install ${need[*]}"
fi
if nginx=$(command -v nginx || echo /usr/sbin/nginx) && [[ -x $nginx ]]; then
    if "$nginx" -V 2>&1 | grep -q http_v3_module; then
        log "note: this nginx has http_v3; this script does not compare it"
    else
        log "nginx $("$nginx" -v 2>&1 | sed 's|.*/||') is built without http_v3: not compared"
    fi
fi

BIN=$(build_cdn_edge)
if [[ -n ${H3LOAD_BIN:-} ]]; then
    H3LOAD=$H3LOAD_BIN
else
    log "cargo build --release --example h3load"
    (cd "$REPO" && cargo build --release --example h3load >&2)
    H3LOAD=${CARGO_TARGET_DIR:-$REPO/target}/release/examples/h3load
fi
[[ -x $H3LOAD ]] || die "no executable at $H3LOAD"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cdn-edge-h3.XXXXXX")
chmod 755 "$TMP"
RESULTS=${RESULTS:-${TMPDIR:-/tmp}/cdn-edge-h3-$(date +%Y%m%d-%H%M%S).tsv}

ROOT=$TMP/www
gen_page "$ROOT"

mkdir -p "$TMP/certs"
make_cert "$TMP/certs"

locked() { # locked CMD...: runs CMD (a command or function) holding $LOCK, so that
    # no other session's benchmark runs at the same time (flock(1) on the same file)
    exec 9>>"$LOCK"
    flock 9
    "$@"
    flock -u 9
    exec 9>&-
}

start_h3_node() { # start_h3_node DIR: cdn-edge with [tls] and [http3]; sets EDGE_PID, EDGE_H3
    # The [http3] table follows [tls] in the generated file (start_tls_node).
    # idle_timeout: quic-go's default, which Caddy 2.6 keeps; max_concurrent_streams
    # is 100 on both (the node's default and quic-go's).
    NODE_TLS_EXTRA=$(printf '[http3]\nlisten = "127.0.0.1:0"\nidle_timeout = "30s"\n')
    start_tls_node "$1" "$BIN" "$ROOT" "$TMP/certs"
    EDGE_PID=$NODE_PID
    wait_line "$1/stderr" 'listening on https://.*(HTTP/3' 10 || {
        cat "$1/stderr" >&2
        die "cdn-edge did not open its HTTP/3 listener ($1/stderr)"
    }
    EDGE_H3=$(grep -o 'listening on https://[0-9.]*:[0-9]* (HTTP/3' "$1/stderr" | head -n1 |
        sed 's|.*https://||; s| .*||')
}

start_caddy() { # start_caddy DIR: Caddy serving ROOT over HTTP/1.1, 2 and 3; sets CADDY_PID, CADDY_H3
    local dir=$1 port
    port=$(free_port)
    mkdir -p "$dir/home"
    # admin off, auto_https off (no ACME, no redirects, no local CA), no
    # access log (like the node's `access = "off"`); HTTP/3 on the same port, UDP.
    cat >"$dir/Caddyfile" <<CONF
{
	admin off
	auto_https off
	servers {
		protocols h1 h2 h3
	}
}
https://127.0.0.1:$port {
	bind 127.0.0.1
	tls $TMP/certs/cert.pem $TMP/certs/key.pem
	root * $ROOT
	file_server {
		precompressed br gzip
	}
}
CONF
    HOME=$dir/home XDG_DATA_HOME=$dir/home XDG_CONFIG_HOME=$dir/home \
        caddy run --config "$dir/Caddyfile" --adapter caddyfile >"$dir/log" 2>&1 &
    CADDY_PID=$!
    STARTED+=("$CADDY_PID")
    wait_line "$dir/log" 'serving initial configuration' 10 || {
        cat "$dir/log" >&2
        die "caddy did not start ($dir/log)"
    }
    grep -q 'enabling HTTP/3 listener' "$dir/log" || die "caddy has no HTTP/3 listener ($dir/log)"
    CADDY_H3=127.0.0.1:$port
}

start_servers() { # start_servers TAG: both servers, fresh
    start_h3_node "$TMP/edge.$1"
    start_caddy "$TMP/caddy.$1"
    log "cdn-edge pid $EDGE_PID on https://$EDGE_H3 (UDP); caddy pid $CADDY_PID on https://$CADDY_H3 (UDP)"
}

stop_servers() {
    stop_pid "$EDGE_PID"
    stop_pid "$CADDY_PID"
}

addr_of() { [[ $1 == cdn-edge ]] && echo "$EDGE_H3" || echo "$CADDY_H3"; }
pid_of() { [[ $1 == cdn-edge ]] && echo "$EDGE_PID" || echo "$CADDY_PID"; }
field() { # field NAME LINE: the value of NAME=... in an h3load line
    tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"
}

check_server() { # check_server NAME: one GET per path over HTTP/3: ALPN h3, 200, the
    # bytes of the .br sibling (or the file), content-encoding: br for every text file
    local s=$1 out=$TMP/list.$1 line p want n=0 br=0
    timeout --kill-after=5 60 "$H3LOAD" "https://$(addr_of "$s")" "$TMP/page.paths" --list \
        --ca "$TMP/certs/cert.pem" -H "$ACCEPT" >"$out" || die "$s: h3load --list failed"
    while read -r line; do
        p=$(field path "$line")
        [[ $(field alpn "$line") == h3 && $(field version "$line") == HTTP/3 ]] ||
            die "$s: $p not over HTTP/3: $line"
        [[ $(field status "$line") == 200 ]] || die "$s: $p: $line"
        if [[ -f $ROOT$p.br ]]; then
            want=$(sha256sum <"$ROOT$p.br" | cut -c1-64)
            [[ $(field encoding "$line") == br ]] || die "$s: $p (text) without content-encoding: br: $line"
            br=$((br + 1))
        else
            want=$(sha256sum <"$ROOT$p" | cut -c1-64)
        fi
        [[ $(field sha256 "$line") == "$want" ]] || die "$s: wrong bytes for $p"
        n=$((n + 1))
    done <"$out"
    (( n == $(wc -l <"$TMP/page.paths") )) || die "$s: $n answers for $(wc -l <"$TMP/page.paths") paths"
    log "$s: $n/$n responses over HTTP/3 (ALPN h3), the expected bytes; $br/$(wc -l <"$TMP/page.text") text files with content-encoding: br"
}

CLK_TCK=$(getconf CLK_TCK)
measure_load() { # measure_load SERVER ROUND: one h3load run; appends a row to RESULTS
    local s=$1 round=$2 out=$TMP/h3load.$1.$2 pid t0 t1 line cpu
    pid=$(pid_of "$s")
    t0=$(proc_ticks "$pid")
    timeout --kill-after=5 $((DURATION + 60)) \
        "$H3LOAD" "https://$(addr_of "$s")" "$TMP/page.paths" --connections "$CLIENTS" \
        --streams "$STREAMS" --duration "$DURATION" --warm-up 1 --threads "$H3THREADS" \
        --ca "$TMP/certs/cert.pem" -H "$ACCEPT" >"$out" 2>"$out.err" ||
        { cat "$out.err" >&2; die "h3load failed against $s"; }
    t1=$(proc_ticks "$pid")
    line=$(cat "$out")
    # server CPU (user + system, all threads) over every request of the run, warm-up included
    cpu=$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$(field all "$line")" \
        'BEGIN { printf "%.1f", n ? t / hz * 1e6 / n : 0 }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$round" "$s" "$(field rps "$line")" \
        "$(awk -v b="$(field bytes_per_s "$line")" 'BEGIN { printf "%.1f", b / 1e6 }')" \
        "$(field failed "$line")" "$(field mean_ms "$line")" "$cpu" \
        "$(field requests "$line")" "$(field br "$line")" >>"$RESULTS"
}

hold_idle() { # hold_idle SERVER: RSS before and while HOLD idle connections are held
    local s=$1 out=$TMP/hold.$1 pid hpid before held_kb n open
    pid=$(pid_of "$s")
    sleep 1
    before=$(proc_kb VmRSS "$pid")
    timeout --kill-after=5 $((HOLD_SECS + HOLD / 10 + 60)) \
        "$H3LOAD" "https://$(addr_of "$s")" "$TMP/page.paths" --hold "$HOLD" --hold-secs "$HOLD_SECS" \
        --ca "$TMP/certs/cert.pem" -H "$ACCEPT" >"$out" 2>"$out.err" &
    hpid=$!
    STARTED+=("$hpid")
    wait_line "$out" '^held=' $((HOLD / 10 + 60)) || { cat "$out.err" >&2; die "$s: the connections did not open"; }
    sleep 1
    held_kb=$(proc_kb VmRSS "$pid")
    wait "$hpid" || { cat "$out.err" >&2; die "h3load --hold failed against $s"; }
    n=$(field held "$(grep '^held=' "$out")")
    open=$(field still_open "$(grep '^released=' "$out")")
    ((open == n)) || log "warning: $s closed $((n - open)) of the $n idle connections within $HOLD_SECS s"
    printf '%s\t%s\t%s\t%s\t%s\n' "$s" "$n" "$before" "$held_kb" "$open" >>"$TMP/idle.tsv"
}

start_servers load
for s in cdn-edge caddy; do check_server "$s"; done

printf 'round\tserver\trps\tMBps\tfailed\tmean_ms\tcpu_us_per_req\trequests\tbr\n' >"$RESULTS"
declare -A RPS=() MBPS=() FAIL=() MEAN=() CPU=() REQ=() BR=()
for round in $(seq "$ROUNDS"); do
    order=(cdn-edge caddy)
    ((round % 2 == 0)) && order=(caddy cdn-edge)
    for s in "${order[@]}"; do
        locked measure_load "$s" "$round"
        read -r _ _ rps mbps failed mean cpu req br < <(tail -n1 "$RESULTS")
        log "round $round $s: $rps req/s, $mbps MB/s, mean $mean ms, $failed failed, $cpu us CPU/req, $br/$req br"
        RPS[$s]+="$rps "
        MBPS[$s]+="$mbps "
        MEAN[$s]+="$mean "
        CPU[$s]+="$cpu "
        FAIL[$s]=$((${FAIL[$s]:-0} + failed))
        REQ[$s]=$((${REQ[$s]:-0} + req))
        BR[$s]=$((${BR[$s]:-0} + br))
    done
done
declare -A PEAK=()
for s in cdn-edge caddy; do PEAK[$s]=$(peak_rss_kib "$(pid_of "$s")"); done
stop_servers

if ((HOLD > 0)); then
    start_servers idle
    : >"$TMP/idle.tsv"
    for s in cdn-edge caddy; do locked hold_idle "$s"; done
    stop_servers
fi

printf '\nHTTP/3, %s assets, %d connections x %d streams, %d s x %d rounds (median), h3load %d thread(s)\n' \
    "$PAGE" "$CLIENTS" "$STREAMS" "$DURATION" "$ROUNDS" "$H3THREADS"
printf '%-10s %12s %10s %10s %12s %8s %14s %s\n' server req/s MB/s mean_ms cpu_us/req failed peak_RSS_MiB 'br (HTTP/3 all)'
for s in cdn-edge caddy; do
    # shellcheck disable=SC2086
    printf '%-10s %12s %10s %10s %12s %8s %14.1f %s\n' "$s" "$(median ${RPS[$s]})" "$(median ${MBPS[$s]})" \
        "$(median ${MEAN[$s]})" "$(median ${CPU[$s]})" "${FAIL[$s]}" \
        "$(awk -v k="${PEAK[$s]}" 'BEGIN { print k / 1024 }')" "${BR[$s]}/${REQ[$s]}"
done
if ((HOLD > 0)); then
    printf '\nIdle QUIC connections (one GET each, then idle %d s), each server fresh\n' "$HOLD_SECS"
    printf '%-10s %8s %14s %14s %16s %12s\n' server held RSS_before_MiB RSS_held_MiB bytes_per_conn still_open
    while IFS=$'\t' read -r s n before held_kb open; do
        printf '%-10s %8s %14.1f %14.1f %16.0f %12s\n' "$s" "$n" \
            "$(awk -v k="$before" 'BEGIN { print k / 1024 }')" "$(awk -v k="$held_kb" 'BEGIN { print k / 1024 }')" \
            "$(awk -v a="$before" -v b="$held_kb" -v n="$n" 'BEGIN { print n ? (b - a) * 1024 / n : 0 }')" "$open"
    done <"$TMP/idle.tsv"
fi
log "per-round results: $RESULTS"
