#!/usr/bin/env bash
# Build benchmark: `cdn-edge build` against the sequential command-line
# baseline (brotli -q 11 + zstd -19 + gzip -9 -n per file, one after the
# other), over real-world assets fetched from npm at run time (nothing is
# committed).
#
#   docs/benchmarks/build.sh                 # ROUNDS=3
#   ROUNDS=1 docs/benchmarks/build.sh        # quick smoke run
#
# Environment:
#   ROUNDS        rounds of (a), (b), (c) (default 3); medians are reported
#   MAX_FILES     cap on the source files copied (default 600)
#   PACKAGES      npm packages to take assets from
#                 (default "bootstrap@5 @fortawesome/fontawesome-free@6")
#   CDN_EDGE_BIN  use this binary instead of building target/release/cdn-edge
#   BUILD_ARGS    extra flags of the measured builds (e.g. "--zstd-level 15")
#   BASE_ZSTD     1 (default) = the baseline writes `zstd -19` too, as the
#                 build writes .zst; 0 = brotli and gzip only (the baseline
#                 before zstd, for a binary that writes none)
#   KEEP_TMP      1 = keep the temp dir
#   STRICT        1 = exit 1 when a target ratio is missed
#
# (a) baseline: for every compressible file, `brotli -q 11 -c f > out/f.br`,
#     `zstd -19 -q -c f > out/f.zst` (BASE_ZSTD=1) and `gzip -9 -n -c f >
#     out/f.gz`, sequentially
# (b) `cdn-edge build SRC --out DIR -q` into a fresh DIR (cold)
# (c) the same build again into the same DIR (incremental, nothing changed)
# Targets: b/a <= 0.6, c/b <= 0.05.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
MAX_FILES=${MAX_FILES:-600}
PACKAGES=${PACKAGES:-"bootstrap@5 @fortawesome/fontawesome-free@6"}
KEEP_TMP=${KEEP_TMP:-0}
STRICT=${STRICT:-0}
BUILD_ARGS=${BUILD_ARGS:-}
BASE_ZSTD=${BASE_ZSTD:-1}
STEP_TIMEOUT=${STEP_TIMEOUT:-900}   # seconds any one step may take

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

log() { printf '[build-bench] %s\n' "$*" >&2; }
die() { printf '[build-bench] ERROR: %s\n' "$*" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cdn-edge-build-bench.XXXXXX")
cleanup() {
    if [[ $KEEP_TMP == 1 ]]; then
        log "kept $TMP"
    else
        rm -rf -- "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ tools --
command -v npm >/dev/null || die "npm is required"
command -v gzip >/dev/null || die "gzip is required"
for tool in brotli zstd; do
    command -v "$tool" >/dev/null && continue
    log "installing $tool"
    if [[ $(id -u) == 0 ]]; then
        timeout 300 apt-get install -y -q "$tool" >/dev/null || die "apt-get install $tool failed"
    else
        timeout 300 sudo apt-get install -y -q "$tool" >/dev/null || die "apt-get install $tool failed"
    fi
done

if [[ -n ${CDN_EDGE_BIN:-} ]]; then
    BIN=$CDN_EDGE_BIN
else
    log "cargo build --release"
    (cd "$REPO" && timeout "$STEP_TIMEOUT" cargo build --release -q) || die "cargo build failed"
    BIN=$REPO/target/release/cdn-edge
fi
[[ -x $BIN ]] || die "no binary at $BIN"
"$BIN" build --help >/dev/null 2>&1 || die "$BIN has no working build subcommand"

# ----------------------------------------------------------------- assets --
NPM=$TMP/npm
SRC=$TMP/src
mkdir -p "$NPM" "$SRC"
log "npm install $PACKAGES"
# shellcheck disable=SC2086
timeout 600 npm install --prefix "$NPM" --no-audit --no-fund --ignore-scripts \
    --no-save --loglevel=error $PACKAGES >/dev/null \
    || die "npm install failed"
MODS=$NPM/node_modules

# Copy a package folder's css/js/map/svg/font files, keeping its layout so
# relative CSS references (../webfonts/...) still resolve.
copy_tree() { # copy_tree FROM TO [LIMIT]
    local from=$1 to=$2 limit=${3:-1000000} n=0 f rel
    [[ -d $from ]] || return 0
    while IFS= read -r -d '' f; do
        ((n >= limit)) && break
        rel=${f#"$from"/}
        mkdir -p "$to/$(dirname "$rel")"
        cp "$f" "$to/$rel"
        n=$((n + 1))
    done < <(find "$from" -type f \( -name '*.css' -o -name '*.js' -o -name '*.mjs' \
        -o -name '*.map' -o -name '*.svg' -o -name '*.woff2' -o -name '*.woff' \
        -o -name '*.ttf' -o -name '*.eot' -o -name '*.otf' \) -print0 | sort -z)
}

copy_tree "$MODS/bootstrap/dist" "$SRC/bootstrap"
FA=$MODS/@fortawesome/fontawesome-free
copy_tree "$FA/css" "$SRC/fontawesome/css"
copy_tree "$FA/js" "$SRC/fontawesome/js"
copy_tree "$FA/webfonts" "$SRC/fontawesome/webfonts"
have=$(find "$SRC" -type f | wc -l)
room=$((MAX_FILES - have))
if ((room > 0)); then
    copy_tree "$FA/svgs" "$SRC/fontawesome/svgs" "$room"
fi
NFILES=$(find "$SRC" -type f | wc -l)
((NFILES >= 200)) || die "only $NFILES asset files found (need >= 200)"

is_compressible() {
    case ${1##*.} in
        css | js | mjs | json | svg | xml | html | txt | map | wasm | ttf | otf | eot | ico) return 0 ;;
        *) return 1 ;;
    esac
}
mapfile -d '' ALL < <(cd "$SRC" && find . -type f -print0 | sort -z)
COMP=()
for f in "${ALL[@]}"; do
    f=${f#./}
    if is_compressible "$f"; then COMP+=("$f"); fi
done
sum_bytes() { find "$@" -type f -printf '%s\n' 2>/dev/null | awk '{s+=$1} END {print s+0}'; }
SRC_BYTES=$(sum_bytes "$SRC")
COMP_BYTES=$(cd "$SRC" && printf '%s\0' "${COMP[@]}" | xargs -0 stat -c %s | awk '{s+=$1} END {print s+0}')
log "$NFILES files ($SRC_BYTES bytes), ${#COMP[@]} compressible ($COMP_BYTES bytes)"

# ----------------------------------------------------------------- timing --
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

baseline() { # baseline OUT
    local out=$1 f
    for f in "${COMP[@]}"; do
        mkdir -p "$out/$(dirname "$f")"
        brotli -q 11 -c "$SRC/$f" >"$out/$f.br"
        if [[ $BASE_ZSTD == 1 ]]; then zstd -19 -q -c "$SRC/$f" >"$out/$f.zst"; fi
        gzip -9 -n -c "$SRC/$f" >"$out/$f.gz"
    done
}

# run_build DIR: one quiet build; appends its CPU seconds (user+sys) to
# $TMP/cpu when /usr/bin/time is there.
run_build() {
    # shellcheck disable=SC2086
    if [[ -x /usr/bin/time ]]; then
        /usr/bin/time -f '%U %S' -a -o "$TMP/cpu" \
            timeout "$STEP_TIMEOUT" "$BIN" build "$SRC" --out "$1" -q $BUILD_ARGS \
            || die "cdn-edge build failed"
    else
        timeout "$STEP_TIMEOUT" "$BIN" build "$SRC" --out "$1" -q $BUILD_ARGS \
            || die "cdn-edge build failed"
    fi
}
cpu_last() { [[ -s $TMP/cpu ]] && tail -n 1 "$TMP/cpu" | awk '{ printf "%.2f", $1 + $2 }' || echo "?"; }

declare -a TA=() TB=() TC=() CPUB=()
for round in $(seq "$ROUNDS"); do
    rm -rf "$TMP/base" "$TMP/dist"
    t0=$(now)
    baseline "$TMP/base"
    t1=$(now)
    TA+=("$(elapsed "$t0" "$t1")")

    t0=$(now)
    run_build "$TMP/dist"
    t1=$(now)
    TB+=("$(elapsed "$t0" "$t1")")
    CPUB+=("$(cpu_last)")

    t0=$(now)
    run_build "$TMP/dist"
    t1=$(now)
    TC+=("$(elapsed "$t0" "$t1")")
    log "round $round: baseline ${TA[-1]} s, cold ${TB[-1]} s (cpu ${CPUB[-1]} s), incremental ${TC[-1]} s"
done

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END { if (NR % 2) print v[(NR+1)/2]; else printf "%.3f\n", (v[NR/2]+v[NR/2+1])/2 }'; }
A=$(median "${TA[@]}")
B=$(median "${TB[@]}")
C=$(median "${TC[@]}")
RBA=$(awk -v a="$A" -v b="$B" 'BEGIN { printf "%.3f", (a > 0 ? b / a : 0) }')
RCB=$(awk -v b="$B" -v c="$C" 'BEGIN { printf "%.4f", (b > 0 ? c / b : 0) }')

BASE_BR=$(find "$TMP/base" -name '*.br' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
BASE_GZ=$(find "$TMP/base" -name '*.gz' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
BASE_ZST=$(find "$TMP/base" -name '*.zst' -printf '%s\n' | awk '{s+=$1} END {print s+0}')
# manifest.json: format 2 keeps the entries under "assets" (format 1: the whole file).
MANIFEST_ENTRIES=$(node -e 'const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")); console.log(Object.keys(Number.isInteger(d.version) ? d.assets : d).length)' "$TMP/dist/manifest.json")
# Sizes of the siblings of the fingerprinted files, from the manifest.
read -r OUT_BR_N OUT_BR OUT_GZ_N OUT_GZ OUT_ZST_N OUT_ZST < <(
    node -e '
        const d = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
        const m = Number.isInteger(d.version) ? d.assets : d;
        let nb = 0, sb = 0, ng = 0, sg = 0, nz = 0, sz = 0;
        for (const e of Object.values(m)) {
            const enc = e.encodings || {};
            if (enc.br !== undefined) { nb++; sb += enc.br; }
            if (enc.gzip !== undefined) { ng++; sg += enc.gzip; }
            if (enc.zstd !== undefined) { nz++; sz += enc.zstd; }
        }
        console.log(nb, sb, ng, sg, nz, sz);
    ' "$TMP/dist/manifest.json"
)
OUT_FILES=$(find "$TMP/dist" -type f -not -path '*/.cdn-edge/*' | wc -l)
CORES=$(nproc)

verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r <= t ? "met" : "MISSED") }'; }
VBA=$(verdict "$RBA" 0.6)
VCB=$(verdict "$RCB" 0.05)

cat <<EOF

cdn-edge build benchmark ($ROUNDS rounds, medians; $CORES cores)
  packages            $PACKAGES
  source files        $NFILES ($SRC_BYTES bytes), compressible $(printf '%s' "${#COMP[@]}") ($COMP_BYTES bytes)
  manifest entries    $MANIFEST_ENTRIES; files in DIR (excl. .cdn-edge) $OUT_FILES
  build flags         ${BUILD_ARGS:-(none)}
  baseline siblings   br $(find "$TMP/base" -name '*.br' | wc -l) files $BASE_BR bytes, zst $(find "$TMP/base" -name '*.zst' | wc -l) files $BASE_ZST bytes, gz $(find "$TMP/base" -name '*.gz' | wc -l) files $BASE_GZ bytes
  build siblings      br $OUT_BR_N files $OUT_BR bytes, zstd $OUT_ZST_N files $OUT_ZST bytes, gzip $OUT_GZ_N files $OUT_GZ bytes (kept: saving >= 5%)

  (a) sequential brotli -q 11 $([[ $BASE_ZSTD == 1 ]] && echo "+ zstd -19 ")+ gzip -9 -n   $A s   [${TA[*]}]
  (b) cdn-edge build, cold                   $B s   [${TB[*]}]  cpu user+sys [${CPUB[*]}]
  (c) cdn-edge build, incremental            $C s   [${TC[*]}]

  b/a = $RBA   (target <= 0.6: $VBA)
  c/b = $RCB  (target <= 0.05: $VCB; incremental $(awk -v b="$B" -v c="$C" 'BEGIN { printf "%.1f", (c > 0 ? b / c : 0) }')x faster)
EOF

if [[ $STRICT == 1 && ($VBA != met || $VCB != met) ]]; then
    exit 1
fi
