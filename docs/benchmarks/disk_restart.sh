#!/usr/bin/env bash
# Restart benchmark of the disk cache: how soon a node restarted over a
# filled cache directory serves, and what the cache costs on disk.
#
#   docs/benchmarks/disk_restart.sh               # N = 100,000 objects
#   FULL=1 docs/benchmarks/disk_restart.sh        # also N = 1,000,000 (needs 10 GB free)
#
# Environment:
#   NS            object counts to measure (default "100000"; FULL=1 adds 1000000)
#   RESTARTS      restarts measured per count (default 3)
#   FILL_THREADS  threads of the filler (default 8)
#   TIMEOUT       seconds allowed per fill and per restart (default 900)
#   CDN_EDGE_BIN  node binary to measure (default: cargo build --release)
#   FILL_BIN      filler matching that binary's disk format (default: the
#                 fill_disk_cache example, built with it); to measure an
#                 older tree, build both from it and pass them here
#   LABEL         name of the binary in the table (default "this tree")
#   RESULTS       where to append the raw rows (default: a new file under
#                 ${TMPDIR:-/tmp})
#   KEEP_TMP      1 = keep the temp dir (cache dirs, configs, node logs)
#
# Per count N: examples/fill_disk_cache writes N objects /obj/<i>.css
# (bodies of 1-4 KB, fresh for a day) into a new cache dir through the
# library's DiskCache (what a node would have stored). Then, RESTARTS times,
# docs/benchmarks/disk/probe.py execs
#   cdn-edge serve --config CFG --cache-dir DIR --listen 127.0.0.1:0
#                  --origin http://127.0.0.1:<port with nothing listening>
# and times, from the exec: the listening line, the first 200 from
# /healthz, the first 200 for a stored object (a hit from disk: the origin
# is dead), the disk object count in /metrics reaching N (the full index),
# and (new code) the log line that the background key pass ended. Then the
# space: `du -sB1` (st_blocks of files and directories) against the bytes
# the node counts (cdn_edge_disk_cache_bytes).
#
# The page cache is warm (the files were just written, or read by the
# previous restart): a cold restart reads inodes from the device and is
# slower for whatever does per-file I/O before listening.
#
# Everything binds 127.0.0.1 only; each node is the probe's child and is
# stopped by its PID (SIGTERM, then SIGKILL), the probe by this script's
# cleanup; every fill and restart is bounded by `timeout`.
set -euo pipefail

FULL=${FULL:-0}
NS=${NS:-100000}
[[ $FULL == 1 ]] && NS="$NS 1000000"
RESTARTS=${RESTARTS:-3}
FILL_THREADS=${FILL_THREADS:-8}
TIMEOUT=${TIMEOUT:-900}
LABEL=${LABEL:-this tree}
KEEP_TMP=${KEEP_TMP:-0}
MIN_FREE_FULL=$((10 * 1000 * 1000 * 1000))

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BENCH_TAG=disk-restart
# shellcheck source=lib/bench.sh
source "$HERE/lib/bench.sh"

for tool in python3 du df timeout find; do
    command -v "$tool" >/dev/null || die "$tool is needed"
done

# ------------------------------------------------------------------ build --
TARGET=${CARGO_TARGET_DIR:-$REPO/target}
if [[ -z ${CDN_EDGE_BIN:-} || -z ${FILL_BIN:-} ]]; then
    log "cargo build --release --bin cdn-edge --example fill_disk_cache"
    (cd "$REPO" && cargo build --release --bin cdn-edge --example fill_disk_cache >&2)
fi
BIN=${CDN_EDGE_BIN:-$TARGET/release/cdn-edge}
FILL=${FILL_BIN:-$TARGET/release/examples/fill_disk_cache}
[[ -x $BIN ]] || die "no executable at $BIN"
[[ -x $FILL ]] || die "no executable at $FILL"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cdn-edge-disk-restart.XXXXXX")
RESULTS=${RESULTS:-${TMPDIR:-/tmp}/cdn-edge-disk-restart-$(date +%Y%m%d-%H%M%S).tsv}
mkdir -p "$TMP/root"
# A port with nothing listening: bound, then released.
DEAD=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

run_bounded() { # run_bounded CMD...: in the background (stoppable by cleanup), bounded
    timeout --kill-after=10 "$TIMEOUT" "$@" &
    local pid=$!
    STARTED+=("$pid")
    local rc=0
    wait "$pid" || rc=$?
    unset 'STARTED[${#STARTED[@]}-1]'
    return "$rc"
}

field() { # field JSON NAME
    python3 -c 'import json,sys; v=json.loads(sys.argv[1]).get(sys.argv[2]); print("-" if v is None else v)' "$1" "$2"
}

mb() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1e6 }'; }

declare -a ROWS=() SPACE=()
for N in $NS; do
    if ((N >= 1000000)); then
        free=$(df -B1 --output=avail "$TMP" | tail -1 | tr -d ' ')
        if ((free < MIN_FREE_FULL)); then
            log "skipping N=$N: $(mb "$free") MB free under $TMP, 10 GB needed"
            continue
        fi
    fi
    dir=$TMP/cache-$N
    log "filling $dir with $N objects"
    fill_out=$(run_bounded "$FILL" "$dir" "$N" "$FILL_THREADS" "http://127.0.0.1:$DEAD") || die "fill failed"
    log "$fill_out"
    fill_s=$(awk '{ for (i = 1; i <= NF; i++) if ($(i+1) == "s") print $i }' <<<"$fill_out" | tail -1)
    cfg=$TMP/edge-$N.toml
    printf '[server]\nroot = "%s"\n[cache]\ndisk_bytes = %d\n[origin]\nconnect_timeout = \"200ms\"\nretries = 0\n' \
        "$TMP/root" $((1 << 40)) >"$cfg"
    json=""
    for r in $(seq "$RESTARTS"); do
        obj=/obj/$(((r * 7919 + 17) % N)).css
        log "restart $r/$RESTARTS over $N objects (GET $obj)"
        json=$(run_bounded python3 "$HERE/disk/probe.py" --expect "$N" --object "$obj" \
            --timeout "$TIMEOUT" --log "$TMP/node-$N-$r.log" -- \
            "$BIN" serve --config "$cfg" --cache-dir "$dir" --origin "http://127.0.0.1:$DEAD" \
            --listen 127.0.0.1:0) || die "restart $r failed (log: $TMP/node-$N-$r.log)"
        [[ $(field "$json" hit_cache_status) == *hit* ]] || die "not a hit: $json"
        row=$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "$LABEL" "$N" "$r" \
            "$(field "$json" listen_ms)" "$(field "$json" health_ms)" "$(field "$json" hit_ms)" \
            "$(field "$json" index_ms)" "$(field "$json" keys_ms)")
        ROWS+=("$row")
        printf 'restart\t%s\t%s\n' "$row" "$json" >>"$RESULTS"
    done
    counted=$(field "$json" counted_bytes)
    blocks=$(du -sB1 "$dir" | cut -f1)
    apparent=$(du -sb "$dir" | cut -f1)
    files=$(find "$dir" -type f | wc -l)
    dirs=$(find "$dir" -type d | wc -l)
    rss=$(field "$json" rss_kb)
    ratio=$(awk -v a="$blocks" -v b="$counted" 'BEGIN { printf "%.2f", a / b }')
    row=$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "$LABEL" "$N" "$files" "$dirs" \
        "$(mb "$counted")" "$(mb "$blocks")" "$ratio" "$(mb "$apparent")" "$fill_s" \
        "$(awk -v k="$rss" 'BEGIN { printf "%.0f", k / 1024 }')")
    SPACE+=("$row")
    printf 'space\t%s\n' "$row" >>"$RESULTS"
    rm -rf "$dir"
done

echo
echo "Restart (ms from exec; warm page cache)"
{
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' binary N run listening /healthz 'first hit' 'full index' 'keys read'
    printf '%s\n' "${ROWS[@]+"${ROWS[@]}"}"
} | column -t -s $'\t'
echo
echo "Space (MB = 1e6 bytes; du = st_blocks of files and dirs; RSS at full index)"
{
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' binary N files dirs counted du du/counted apparent 'fill s' 'RSS MB'
    printf '%s\n' "${SPACE[@]+"${SPACE[@]}"}"
} | column -t -s $'\t'
echo
echo "raw rows: $RESULTS"
