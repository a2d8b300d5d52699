#!/usr/bin/env bash
# Deploys as deltas (RFC 9842, issue 22) on real version pairs from npm:
# jquery 3.7.1 -> 3.8.0 (dist/jquery.min.js) and react-dom 18.2.0 -> 18.3.1
# (umd/react-dom.production.min.js), fetched with `npm pack` into a temp dir.
#
#   docs/benchmarks/dictionaries.sh                  # ROUNDS=5 DURATION=5
#   CDN_EDGE_BIN=target/release/cdn-edge ROUNDS=3 DURATION=3 docs/benchmarks/dictionaries.sh
#
# Environment:
#   CDN_EDGE_BIN  the binary measured (default: build target/release/cdn-edge)
#   UNDCB_BIN     the dcb decoder (default: build examples/undcb.rs, Google's
#                 brotli decoder with a raw dictionary, as the tests' oracle)
#   ROUNDS        alternating rounds of the hit runs (default 5)
#   DURATION      seconds per wrk run (default 5)
#
# Steps:
#  1. Deploy 1: `cdn-edge build` of a tree holding js/jquery.min.js and
#     js/react-dom.production.min.js at their old versions; a node serves it,
#     and each old file answers with Use-As-Dictionary (what makes a browser
#     keep it).
#  2. Deploy 2: the new versions built into the same output, under the
#     running node. Sizes: the new file, its brotli-11 (the `brotli`
#     command, and the node's own .br), its dcz and dcb deltas, and
#     `zstd -19 --patch-from` as the command line makes it.
#  3. Decoding: the dcz file's zstd frame (the 40-byte header stripped) by
#     `zstd -d --patch-from=OLD`, the dcb file by UNDCB_BIN; both must give
#     exactly the new bytes.
#  4. Serving: curl asks for each new file with the old file's SHA-256 in
#     Available-Dictionary and Chrome's Accept-Encoding (then dcz alone, dcb
#     alone, and an unknown hash); each body is decoded as in 3.
#  5. Hits: wrk against a node with access log off, the dcz, dcb and br
#     representations of each new file, ROUNDS alternating rounds;
#     medians, CPU µs/request (the node's utime+stime over wrk's requests)
#     and the node's peak RSS (VmHWM).
# Loopback only; every process is stopped by PID; every run is bounded.
set -euo pipefail

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
KEEP_TMP=${KEEP_TMP:-0}
CHROME_AE='gzip, deflate, br, zstd, dcb, dcz'

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BENCH_TAG=dictionaries
# shellcheck source=lib/bench.sh
source "$HERE/lib/bench.sh"

need=()
for c in wrk curl brotli zstd python3; do command -v $c >/dev/null || need+=("$c"); done
((${#need[@]} == 0)) || apt_install "${need[@]/python3/python3-minimal}" || die "could not install ${need[*]}"
command -v npm >/dev/null || die "npm is required (npm pack)"
BIN=$(build_cdn_edge)
if [[ -n ${UNDCB_BIN:-} ]]; then
    UNDCB=$UNDCB_BIN
else
    log "cargo build --example undcb"
    (cd "$REPO" && cargo build --example undcb >&2)
    UNDCB=${CARGO_TARGET_DIR:-$REPO/target}/debug/examples/undcb
fi
[[ -x $UNDCB ]] || die "no executable at $UNDCB"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cdn-edge-dictionaries.XXXXXX")

# ------------------------------------------------------------------ pairs --
# name package old new path-in-package logical-name
PAIRS_SPEC=(
    "jquery jquery 3.7.1 3.8.0 dist/jquery.min.js js/jquery.min.js"
    "react-dom react-dom 18.2.0 18.3.1 umd/react-dom.production.min.js js/react-dom.production.min.js"
)
mkdir -p "$TMP/npm" "$TMP/v"
for spec in "${PAIRS_SPEC[@]}"; do
    read -r name pkg old new path _ <<<"$spec"
    for ver in "$old" "$new"; do
        log "npm pack $pkg@$ver"
        tgz=$(cd "$TMP/npm" && timeout --kill-after=10 300 npm pack --silent "$pkg@$ver" | tail -n1) ||
            die "npm pack $pkg@$ver failed"
        tar -xzf "$TMP/npm/$tgz" -O "package/$path" >"$TMP/v/$name-$ver.js" ||
            die "$tgz holds no package/$path"
    done
done

sha256_b64() { python3 -c 'import base64, hashlib, sys; print(base64.b64encode(hashlib.sha256(open(sys.argv[1], "rb").read()).digest()).decode())' "$1"; }
sha256_hex() { sha256sum "$1" | cut -c1-64; }
manifest() { # manifest OUT LOGICAL EXPR: a Python expression over the entry `e`
    python3 -c 'import json, sys; e = json.load(open(sys.argv[1]))["assets"][sys.argv[2]]; print(eval(sys.argv[3]))' \
        "$1/manifest.json" "$2" "$3"
}
header() { # header FILE NAME: a field of a curl -D dump
    tr -d '\r' <"$1" | awk -F': ' -v n="$2" 'tolower($1) == n { print $2 }'
}

# ------------------------------------------------------------- deploy 1 --
SRC=$TMP/src
OUT=$TMP/out
mkdir -p "$SRC/js"
for spec in "${PAIRS_SPEC[@]}"; do
    read -r name _ old _ _ logical <<<"$spec"
    cp "$TMP/v/$name-$old.js" "$SRC/$logical"
done
deploy() { # deploy N: `cdn-edge build` SRC into OUT, its summary kept in $TMP/build-N.txt
    log "deploy $1"
    "$BIN" build "$SRC" --out "$OUT" >"$TMP/build-$1.txt" 2>&1 || { cat "$TMP/build-$1.txt" >&2; die "deploy $1 failed"; }
}
deploy 1

cat >"$TMP/check.toml" <<CONF
[server]
root = "$OUT"
[log]
access = "$TMP/access.log"
access_flush = "100ms"
CONF
start_node "$TMP/check.log" "$BIN" --config "$TMP/check.toml"
CHECK_PID=$NODE_PID
CHECK=$NODE_ADDR
declare -A OLD_FILE=() NEW_FILE=()
echo
echo "### Deploy 1: the old versions as dictionaries"
echo
for spec in "${PAIRS_SPEC[@]}"; do
    read -r name _ old _ _ logical <<<"$spec"
    OLD_FILE[$name]=$(manifest "$OUT" "$logical" 'e["file"]')
    curl -fsS --max-time 10 -D "$TMP/h" -o "$TMP/body" -H 'Accept-Encoding: br' "http://$CHECK/${OLD_FILE[$name]}"
    uad=$(header "$TMP/h" use-as-dictionary)
    [[ -n $uad ]] || die "${OLD_FILE[$name]}: no Use-As-Dictionary"
    brotli -d -c "$TMP/body" | cmp -s - "$TMP/v/$name-$old.js" || die "${OLD_FILE[$name]}: the br body is not the file"
    echo "- \`GET /${OLD_FILE[$name]}\`: \`Use-As-Dictionary: $uad\`"
done

# ------------------------------------------------------------- deploy 2 --
for spec in "${PAIRS_SPEC[@]}"; do
    read -r name _ _ new _ logical <<<"$spec"
    cp "$TMP/v/$name-$new.js" "$SRC/$logical"
done
deploy 2 # under the running node

echo
echo "### The builds (\`cdn-edge build\`'s summaries)"
echo
echo '```'
cat "$TMP/build-1.txt" "$TMP/build-2.txt"
echo '```'
echo
echo "### Deploy 2: sizes (bytes)"
echo
echo "| pair | new file | brotli -q 11 | node .br | dcz | dcb | dcz / br-11 | dcb / br-11 | zstd -19 --patch-from (CLI) |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|"
declare -A DCZ=() DCB=() HASH=()
for spec in "${PAIRS_SPEC[@]}"; do
    read -r name _ old new _ logical <<<"$spec"
    NEW_FILE[$name]=$(manifest "$OUT" "$logical" 'e["file"]')
    oldf=$OUT/${OLD_FILE[$name]}
    newf=$OUT/${NEW_FILE[$name]}
    cmp -s "$oldf" "$TMP/v/$name-$old.js" || die "$oldf is not $name $old"
    cmp -s "$newf" "$TMP/v/$name-$new.js" || die "$newf is not $name $new"
    HASH[$name]=$(sha256_b64 "$oldf")
    hex16=$(sha256_hex "$oldf" | cut -c1-16)
    DCZ[$name]=$newf.$hex16.dcz
    DCB[$name]=$newf.$hex16.dcb
    [[ -f ${DCZ[$name]} && -f ${DCB[$name]} ]] || die "$name: no deltas beside $newf"
    [[ $(manifest "$OUT" "$logical" 'e["deltas"][0]["dictionary"]') == "${HASH[$name]}" ]] ||
        die "$name: the manifest lists another dictionary"
    br11=$(brotli -q 11 -c "$newf" | wc -c)
    nodebr=$(stat -c %s "$newf.br")
    dcz=$(stat -c %s "${DCZ[$name]}")
    dcb=$(stat -c %s "${DCB[$name]}")
    patch=$(zstd -q -19 -c --patch-from="$oldf" "$newf" 2>/dev/null | wc -c) # (it prints tuning notes)
    awk -v n="$name $old → $new" -v s="$(stat -c %s "$newf")" -v b="$br11" -v nb="$nodebr" \
        -v z="$dcz" -v d="$dcb" -v p="$patch" \
        'BEGIN { printf "| %s | %d | %d | %d | %d | %d | %.3f | %.3f | %d |\n", n, s, b, nb, z, d, z / b, d / b, p }'
    awk -v z="$dcz" -v b="$br11" 'BEGIN { exit !(z <= 0.15 * b) }' || log "$name: dcz is more than 0.15x brotli-11"
done

# ------------------------------------------------------------- decoding --
echo
echo "### Decoding the files the build wrote"
echo
for spec in "${PAIRS_SPEC[@]}"; do
    name=${spec%% *}
    oldf=$OUT/${OLD_FILE[$name]}
    newf=$OUT/${NEW_FILE[$name]}
    # RFC 9842 §5: the 8-byte skippable frame magic, then the dictionary's SHA-256.
    [[ $(head -c 40 "${DCZ[$name]}" | od -An -tx1 | tr -d ' \n') == 5e2a4d1820000000$(sha256_hex "$oldf") ]] ||
        die "${DCZ[$name]}: not a dcz header for $oldf"
    tail -c +41 "${DCZ[$name]}" >"$TMP/frame.zst"
    zstd -q -d -f --patch-from="$oldf" "$TMP/frame.zst" -o "$TMP/decoded"
    cmp -s "$TMP/decoded" "$newf" || die "${DCZ[$name]}: zstd --patch-from does not give the new file"
    "$UNDCB" "${DCB[$name]}" "$oldf" >"$TMP/decoded" || die "${DCB[$name]}: undcb refused it"
    cmp -s "$TMP/decoded" "$newf" || die "${DCB[$name]}: undcb does not give the new file"
    echo "- $name: \`tail -c +41 ${DCZ[$name]##*/} | zstd -d --patch-from=${OLD_FILE[$name]##*/}\` and" \
        "\`undcb ${DCB[$name]##*/} ${OLD_FILE[$name]##*/}\` both give the new file byte for byte"
done

# -------------------------------------------------------------- serving --
echo
echo "### Served: the new file with the old one's hash in Available-Dictionary"
echo
echo "| pair | Accept-Encoding | Available-Dictionary | Content-Encoding | bytes | decodes to the new file |"
echo "|---|---|---|---|---:|---|"
decode() { # decode CODING BODY OLD: the decoded bytes on stdout
    case $1 in
    dcz) "$UNDCB" --dcz "$2" "$3" ;;
    dcb) "$UNDCB" "$2" "$3" ;;
    br) brotli -d -c "$2" ;;
    zstd) zstd -q -d -c "$2" ;;
    gzip) gzip -d -c "$2" ;;
    *) cat "$2" ;;
    esac
}
UNKNOWN=$(printf 'another version' | python3 -c 'import base64, hashlib, sys; print(base64.b64encode(hashlib.sha256(sys.stdin.buffer.read()).digest()).decode())')
for spec in "${PAIRS_SPEC[@]}"; do
    name=${spec%% *}
    url=http://$CHECK/${NEW_FILE[$name]}
    for case in "$CHROME_AE|${HASH[$name]}|dc" "dcz|${HASH[$name]}|dcz" "dcb|${HASH[$name]}|dcb" \
        "$CHROME_AE|$UNKNOWN|plain"; do
        IFS='|' read -r ae hash want <<<"$case"
        # The User-Agent names the case in the access log (workers flush in any order).
        curl -fsS --max-time 10 -D "$TMP/h" -o "$TMP/body" -A "check-$name-$want" -H "Accept-Encoding: $ae" \
            -H "Available-Dictionary: :$hash:" "$url"
        ce=$(header "$TMP/h" content-encoding)
        case $want in
        dc) [[ $ce == dcz || $ce == dcb ]] ;;
        plain) [[ $ce != dcz && $ce != dcb ]] ;;
        *) [[ $ce == "$want" ]] ;;
        esac || die "$name, Accept-Encoding: $ae: Content-Encoding ${ce:-none}"
        decode "${ce:-identity}" "$TMP/body" "$OUT/${OLD_FILE[$name]}" | cmp -s - "$OUT/${NEW_FILE[$name]}" ||
            die "$name: the $ce body does not decode to the new file"
        which=old; [[ $hash == "$UNKNOWN" ]] && which=unknown
        echo "| $name | \`$ae\` | $which version's | ${ce:-identity} | $(stat -c %s "$TMP/body") | yes |"
    done
done
for _ in $(seq 50); do # until each worker has flushed its lines (access_flush)
    (($(grep -c '"check-' "$TMP/access.log" || true) == 4 * ${#PAIRS_SPEC[@]})) && break
    sleep 0.1
done
echo
echo "The access log's lines of these requests (the User-Agent names the case; the coding sent is the last field):"
echo
echo '```'
for spec in "${PAIRS_SPEC[@]}"; do
    for want in dc dcz dcb plain; do grep -F "\"check-${spec%% *}-$want\"" "$TMP/access.log" || true; done
done
echo '```'
stop_pid "$CHECK_PID"

# ----------------------------------------------------------------- hits --
cat >"$TMP/load.toml" <<CONF
[server]
root = "$OUT"
[log]
access = "off"
CONF
start_node "$TMP/load.log" "$BIN" --config "$TMP/load.toml"
side_args() { # side_args NAME SIDE: sets ARGS to the request headers and URL of a side
    local url=http://$NODE_ADDR/${NEW_FILE[$1]}
    case $2 in
    br) ARGS=(-H 'Accept-Encoding: br' "$url") ;;
    *) ARGS=(-H "Accept-Encoding: $2" -H "Available-Dictionary: :${HASH[$1]}:" "$url") ;;
    esac
}
for spec in "${PAIRS_SPEC[@]}"; do
    name=${spec%% *}
    for s in dcz dcb br; do
        side_args "$name" "$s"
        curl -fsS --max-time 10 -D "$TMP/h" -o /dev/null "${ARGS[@]}"
        [[ $(header "$TMP/h" content-encoding) == "$s" ]] || die "$name: $s not served"
        run_wrk "$TMP/warmup.txt" 1 "${ARGS[@]}"
    done
done
HWM0=$(proc_kb VmHWM "$NODE_PID")
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)

RESULTS=$TMP/results.tsv
: >"$RESULTS"
for ((r = 1; r <= ROUNDS; r++)); do
    order=(dcz dcb br)
    ((r % 2 == 0)) && order=(br dcb dcz)
    for spec in "${PAIRS_SPEC[@]}"; do
        name=${spec%% *}
        for s in "${order[@]}"; do
            side_args "$name" "$s"
            ab_measure "$RESULTS" "$r" "$name" "$s" "$NODE_PID" "${ARGS[@]}"
        done
    done
    log "round $r of $ROUNDS done"
done

echo
echo "### Hits: $ROUNDS alternating rounds of wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s per representation"
echo
echo "$(nproc) cores, load average $LOAD0 at the start, $(cut -d' ' -f1-3 /proc/loadavg) at the end;" \
    "$("$BIN" --version);" \
    "the node's peak RSS (VmHWM) $HWM0 kB before the runs, $(proc_kb VmHWM "$NODE_PID") kB after."
echo
ab_table "$RESULTS" dcz br "jquery=jquery.min 3.8.0" "react-dom=react-dom.production.min 18.3.1"
echo
ab_table "$RESULTS" dcb br "jquery=jquery.min 3.8.0" "react-dom=react-dom.production.min 18.3.1"
echo
echo "Rounds (req/s, in round order):"
echo
for spec in "${PAIRS_SPEC[@]}"; do
    for s in dcz dcb br; do
        awk -F'\t' -v sc="${spec%% *}" -v side="$s" '$2 == sc && $3 == side { r = r sep int($4); sep = ", " }
            END { printf "- %s %s: %s\n", sc, side, r }' "$RESULTS"
    done
done
