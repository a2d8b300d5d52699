#!/usr/bin/env bash
# HTTP/3 clients that ask and never read: what the node holds per QUIC
# connection beside its cache (quinn's send buffer, up to http3.send_window,
# and each stream's part in flight), as peak RSS over the idle node's.
#
#   docs/benchmarks/h3_stall.sh
#   CONNS=100 STREAMS=1 docs/benchmarks/h3_stall.sh        # smaller
#
# Environment:
#   CONNS        hostile connections (default 200)
#   STREAMS      requests each, all for the large file (default 10)
#   WINDOWS      http3.send_window values to measure (default "1MiB 256KiB")
#   HOLD         seconds the clients hold their requests (default 20)
#   CDN_EDGE_BIN binary to measure instead of building target/release/cdn-edge
#
# Two files: cached.bin (4 MiB, held in the memory cache: each response is
# a slice of the one body) and disk.bin (24 MiB, above the memory cache's
# largest object: each response reads the file in 64 KiB parts). The
# client is aioquic (installed with pip if missing). Loopback only; every
# run is bounded in time; every process is stopped by PID.
set -euo pipefail

CONNS=${CONNS:-200}
STREAMS=${STREAMS:-10}
WINDOWS=${WINDOWS:-"1MiB 256KiB"}
HOLD=${HOLD:-20}
KEEP_TMP=${KEEP_TMP:-0}

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BENCH_TAG=h3_stall
# shellcheck source=lib/bench.sh
source "$HERE/lib/bench.sh"

command -v openssl >/dev/null || apt_install openssl
python3 -c 'import aioquic' 2>/dev/null || python3 -m pip install --quiet aioquic
BIN=$(build_cdn_edge)
raise_nofile $((CONNS * 4 + 2048))

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cdn-edge-h3stall.XXXXXX")
mkdir -p "$TMP/www"
head -c $((4 << 20)) /dev/urandom >"$TMP/www/cached.bin"
head -c $((24 << 20)) /dev/urandom >"$TMP/www/disk.bin"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -keyout "$TMP/key.pem" -out "$TMP/cert.pem" -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost 2>/dev/null

printf '| send_window | file | connections × streams | idle RSS | peak RSS | per connection |\n'
printf '|---|---|---|---:|---:|---:|\n'
for window in $WINDOWS; do
    for file in cached.bin disk.bin; do
        port=$(free_port)
        cat >"$TMP/node.toml" <<EOC
[server]
root = "$TMP/www"
listen = "127.0.0.1:0"
[log]
access = "off"
[cache]
memory_bytes = "256 MiB"
[limits]
send_timeout = "1h"
[tls]
listen = "127.0.0.1:$port"
cert = "$TMP/cert.pem"
key = "$TMP/key.pem"
[http3]
listen = "127.0.0.1:$port"
send_window = "$window"
EOC
        "$BIN" serve --config "$TMP/node.toml" >"$TMP/node.log" 2>&1 &
        node=$!
        STARTED+=("$node")
        wait_line "$TMP/node.log" "HTTP/3, UDP" 10 || die "node did not start: $(cat "$TMP/node.log")"
        # The cached file is read into memory by a first request.
        curl -sk -o /dev/null "https://127.0.0.1:$port/$file"
        idle=$(proc_kb VmRSS "$node")
        timeout $((HOLD + 60)) python3 "$HERE/h3_stall/stall.py" "$port" "/$file" \
            "$CONNS" "$STREAMS" "$HOLD" "$TMP/cert.pem" >"$TMP/stall.out" 2>&1 &
        client=$!
        STARTED+=("$client")
        wait_line "$TMP/stall.out" "^ready" 60 || die "clients: $(tail -3 "$TMP/stall.out")"
        sleep 5
        peak=$(proc_kb VmHWM "$node")
        stop_pid "$client"
        stop_pid "$node"
        per=$(( (peak - idle) * 1024 / CONNS ))
        printf '| %s | %s | %d × %d | %d MiB | %d MiB | %d KB |\n' "$window" "$file" \
            "$CONNS" "$STREAMS" $((idle / 1024)) $((peak / 1024)) $((per / 1000))
    done
done
