#!/usr/bin/env bash
# What deltas of pulled objects cost, under the worst input: a deploy wave
# of many versioned names through a cache far smaller than the wave.
#
# An nginx origin serves NAMES scripts (~SIZE bytes each) in two versions.
# Run "hashed": the names carry a content hash as `cdn-edge build` writes it
# (js/nK.<10 hex>.js), so the node offers v1 as a dictionary and makes dcz and
# dcb of v2 against v1 on its compression pool. Run "plain": the same bytes
# under names without a hash (js/nK-v1.js): br, zstd and gzip only. Each run:
# every v1 is requested (16 at a time) twice, the node left until its CPU
# stops (the pool drained) after each pass, then every v2 the same way. Reported per run, medians of ROUNDS:
# the node's CPU seconds (user+sys), its peak RSS (VmHWM) against
# cache.memory_bytes, and how many v2 answered a dcz request.
#
#   CDN_EDGE_BIN=target/release/cdn-edge docs/benchmarks/pull_deltas.sh
#   NAMES=1000 SIZE=60000 ROUNDS=3 MEMORY_MIB=64
#   DISK=1: each run with a fresh disk cache (cache.dir), where a v1 the wave
#   pushed out of memory is read back for its v2's delta.
set -euo pipefail
BENCH_TAG=pull-deltas
KEEP_TMP=${KEEP_TMP:-0}
REPO=$(cd "$(dirname "$0")/../.." && pwd)
NAMES=${NAMES:-1000}
SIZE=${SIZE:-60000}
ROUNDS=${ROUNDS:-3}
MEMORY_MIB=${MEMORY_MIB:-64}
DISK=${DISK:-0}
# shellcheck source=lib/bench.sh
source "$REPO/docs/benchmarks/lib/bench.sh"

BIN=${CDN_EDGE_BIN:-$(build_cdn_edge)}
TMP=$(mktemp -d /tmp/cdn-edge-pull-deltas.XXXXXX)
command -v nginx >/dev/null || command -v /usr/sbin/nginx >/dev/null || apt_install nginx

log "generating $NAMES names x 2 versions of ~$SIZE bytes"
python3 - "$TMP/root" "$NAMES" "$SIZE" <<'PY'
import hashlib, os, sys
root, names, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(f"{root}/js", exist_ok=True)
paths = {"hashed": ([], []), "plain": ([], [])}
for n in range(names):
    lines, i, total = [], 0, 0
    while total < size:
        lines.append(f"export function f{n}_{i}(x) {{ return x * {i % 97} + {n}; }}\n")
        total += len(lines[-1])
        i += 1
    for v in (1, 2):
        if v == 2:
            lines[len(lines) // 2] = f"export const changed{n} = {v};\n"
        body = "".join(lines).encode()
        h = hashlib.blake2b(body, digest_size=5).hexdigest()
        for kind, name in (("hashed", f"n{n}.{h}.js"), ("plain", f"n{n}-v{v}.js")):
            with open(f"{root}/js/{name}", "wb") as f:
                f.write(body)
            paths[kind][v - 1].append(f"/js/{name}")
for kind, (v1, v2) in paths.items():
    for v, ps in ((1, v1), (2, v2)):
        with open(f"{root}/../{kind}-v{v}.paths", "w") as f:
            f.write("\n".join(ps) + "\n")
PY
start_static_origin "$TMP/root" "$TMP/nginx" "text/javascript js;"
log "origin nginx on 127.0.0.1:$ORIGIN_PORT"

cat >"$TMP/edge.toml" <<TOML
[cache]
memory_bytes = "${MEMORY_MIB}MiB"
[origin]
url = "http://127.0.0.1:$ORIGIN_PORT"
[log]
access = "off"
TOML

fetch_all() { # fetch_all ADDR PATHS: GET each path once, 16 at a time, bounded
    timeout 600 xargs -P 16 -I{} curl -s -o /dev/null -H 'Accept-Encoding: br' \
        --max-time 30 "http://$1{}" <"$2"
}

wait_idle() { # wait_idle PID: until the process uses under 2 % CPU for 2 s (at most 300 s)
    local pid=$1 last now quiet=0 _
    last=$(proc_ticks "$pid")
    for _ in $(seq 300); do
        sleep 1
        now=$(proc_ticks "$pid")
        if ((now - last <= 2)); then quiet=$((quiet + 1)); else quiet=0; fi
        last=$now
        ((quiet >= 2)) && return 0
    done
    log "still busy after 300 s"
}

sha_b64() { openssl dgst -sha256 -binary "$1" | base64; }

RESULTS="$TMP/results"
: >"$RESULTS"
hz=$(getconf CLK_TCK)
for round in $(seq "$ROUNDS"); do
    for kind in hashed plain; do
        cfg="$TMP/edge.toml"
        if [[ $DISK == 1 ]]; then
            cfg="$TMP/edge-$kind-$round.toml"
            sed "s|^\[cache\]\$|[cache]\ndir = \"$TMP/disk-$kind-$round\"|" "$TMP/edge.toml" >"$cfg"
        fi
        start_node "$TMP/$kind-$round.log" "$BIN" --config "$cfg" --root ''
        t0=$(proc_ticks "$NODE_PID")
        s0=$(date +%s.%N)
        # Each version: the wave, the pool drained, then a second pass (what
        # the pool's full queue turned away is offered again on a later hit).
        for v in 1 2; do
            for _pass in 1 2; do
                fetch_all "$NODE_ADDR" "$TMP/$kind-v$v.paths"
                wait_idle "$NODE_PID"
            done
        done
        s1=$(date +%s.%N)
        cpu=$(echo "scale=2; ($(proc_ticks "$NODE_PID") - $t0) / $hz" | bc)
        hwm=$(peak_rss_kib "$NODE_PID")
        # How many of the last 100 v2 (the most recently stored) answer with a delta.
        deltas=0
        if [[ $kind == hashed ]]; then
            # Asked once and the pool drained first: a delta is made with the
            # object's encodings, which a wave may have left for a later hit.
            fetch_all "$NODE_ADDR" <(tail -n 100 "$TMP/hashed-v2.paths")
            wait_idle "$NODE_PID"
            paste -d' ' <(tail -n 100 "$TMP/hashed-v1.paths") <(tail -n 100 "$TMP/hashed-v2.paths") |
                while read -r p1 p2; do
                    ad=":$(sha_b64 "$TMP/root$p1"):"
                    curl -s -o /dev/null -D - --max-time 10 \
                        -H 'Accept-Encoding: dcz' -H "Available-Dictionary: $ad" "http://$NODE_ADDR$p2"
                done | grep -ci '^content-encoding: dcz' >"$TMP/deltas" || true
            deltas=$(cat "$TMP/deltas")
        fi
        # How many of the same v2 the pool compressed at all (br held).
        brs=$(tail -n 100 "$TMP/$kind-v2.paths" | while read -r p2; do
            curl -s -o /dev/null -D - --max-time 10 -H 'Accept-Encoding: br' "http://$NODE_ADDR$p2"
        done | grep -ci '^content-encoding: br' || true)
        log "round $round $kind: $brs of the last 100 v2 have br"
        printf '%s %s %s %s %s %s\n' "$round" "$kind" "$cpu" "$hwm" \
            "$(echo "$s1 - $s0" | bc)" "$deltas" >>"$RESULTS"
        log "round $round $kind: cpu ${cpu}s, VmHWM ${hwm} kB, wall $(echo "$s1 - $s0" | bc)s, dcz answers ${deltas}/100"
        stop_pid "$NODE_PID"
    done
done

python3 - "$RESULTS" "$MEMORY_MIB" "$NAMES" "$SIZE" "$DISK" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
mem = int(sys.argv[2]) * 1024
disk = ", with a disk cache" if sys.argv[5] == "1" else ""
print(f"\n{sys.argv[3]} names x 2 versions of ~{sys.argv[4]} bytes, cache.memory_bytes {sys.argv[2]} MiB{disk}, medians of {len(rows)//2} rounds\n")
print("| run | node CPU (s) | peak RSS (VmHWM) | over memory_bytes | wall to idle (s) | v2 sent as dcz (of the last 100) |")
print("|---|---:|---:|---:|---:|---:|")
for kind in ("hashed", "plain"):
    rs = [r for r in rows if r[1] == kind]
    med = lambda i: statistics.median(float(r[i]) for r in rs)
    hwm = med(3)
    print(f"| {kind} | {med(2):.2f} | {hwm/1024:.0f} MiB | {(hwm-mem)/1024:+.0f} MiB | {med(4):.1f} | {int(med(5)) if kind == 'hashed' else '-'} |")
print("\nrounds:", "; ".join(" ".join(r) for r in rows))
PY
