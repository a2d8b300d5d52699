#!/usr/bin/env bash
# The codings compared: the node's own encoders (brotli, zstd, gzip as
# `precompress` makes them, the pool's brotli window) over the pull
# benchmark's corpora, one file after another on one thread, as the
# compression pool makes them: the bytes each setting writes and its speed
# (MB per second of the thread's CPU time, each round at least 1 s).
#
#   docs/benchmarks/compress_codings.sh               # ROUNDS=3, both corpora
#   CORPUS=generated ROUNDS=1 docs/benchmarks/compress_codings.sh
#
# Environment:
#   ROUNDS        rounds per setting (default 3); the speed is their median
#   CORPUS        "both" (default), "generated" or "npm"
#   OBJECTS       objects of the generated corpus (default 100, as pull.sh)
#   CORPUS_FILES  files of the npm corpus before keeping the text ones (default 226, as pull.sh)
#   NPM_PACKAGES  default "bootstrap@5 @fortawesome/fontawesome-free@6 bootstrap-icons@1"
#   SETTINGS      the settings measured (default below); br:Q, zstd:L, gzip:L
#   CODINGS_BIN   use this build of the example instead of building it
#   KEEP_TMP      1 = keep the temp dir
#
# Corpora: (generated) docs/benchmarks/pull/gen_objects.py's objects that the
# node compresses (CSS, JS, SVG; not the PNG-like ones), (npm) the text files
# (CSS, JS, SVG, TTF) of pull.sh's CORPUS=npm pick of real assets. The goal
# of the pull path's zstd level: at most 1.05x brotli 5's bytes at 2x its
# speed or more.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
CORPUS=${CORPUS:-both}
OBJECTS=${OBJECTS:-100}
CORPUS_FILES=${CORPUS_FILES:-226}
NPM_PACKAGES=${NPM_PACKAGES:-bootstrap@5 @fortawesome/fontawesome-free@6 bootstrap-icons@1}
SETTINGS=${SETTINGS:-"br:5 br:11 zstd:1 zstd:2 zstd:3 zstd:4 zstd:5 zstd:6 zstd:7 zstd:8 zstd:12 zstd:19 gzip:6 gzip:9"}
KEEP_TMP=${KEEP_TMP:-0}
STEP_TIMEOUT=${STEP_TIMEOUT:-1800}   # seconds one corpus's measurement may take

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BENCH_TAG=codings
# shellcheck source=lib/bench.sh
source "$HERE/lib/bench.sh"

command -v python3 >/dev/null || die "python3 is required"
if [[ -n ${CODINGS_BIN:-} ]]; then
    BIN=$CODINGS_BIN
else
    log "cargo build --release -p cdn-edge-assets --example codings"
    (cd "$REPO" && timeout "$STEP_TIMEOUT" cargo build --release -q -p cdn-edge-assets --example codings) \
        || die "cargo build failed"
    BIN=${CARGO_TARGET_DIR:-$REPO/target}/release/examples/codings
fi
[[ -x $BIN ]] || die "no executable at $BIN"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cdn-edge-codings.XXXXXX")

corpus_list() { # corpus_list NAME: writes $TMP/NAME.list (absolute paths) and prints its summary
    local name=$1 root=$TMP/$1
    case $name in
        generated)
            python3 "$HERE/pull/gen_objects.py" "$root" "$OBJECTS" >/dev/null
            find "$root/assets" -type f \( -name '*.css' -o -name '*.js' -o -name '*.svg' \) | sort >"$TMP/$name.list"
            ;;
        npm)
            npm_corpus "$TMP/npm" "$CORPUS_FILES" "$NPM_PACKAGES" \
                | grep -E '\.(css|js|mjs|svg|ttf)$' \
                | sed "s|^\./|$TMP/npm/node_modules/|" >"$TMP/$name.list"
            ;;
        *) die "unknown corpus $name" ;;
    esac
    local n bytes
    n=$(wc -l <"$TMP/$name.list")
    bytes=$(xargs -d '\n' stat -c %s <"$TMP/$name.list" | awk '{s += $1} END {print s + 0}')
    echo "$n files, $bytes bytes"
}

# table NAME: the Markdown table of one corpus's results ($TMP/NAME.tsv).
table() {
    python3 - "$TMP/$1.tsv" <<'PY'
import statistics, sys
rows = []
for line in open(sys.argv[1]):
    f = line.rstrip("\n").split("\t")
    speeds = [float(x) for x in f[3:]]
    rows.append((f[0], int(f[1]), int(f[2]), statistics.median(speeds), speeds))
ref = next((r for r in rows if r[0] == "br:5"), rows[0])
print(f"| setting | bytes | x br:5 bytes | ratio | MB/s of CPU (median) | x br:5 speed | rounds MB/s |")
print("|---|---:|---:|---:|---:|---:|---|")
for name, inp, out, mbs, speeds in rows:
    goal = ""
    if name.startswith("zstd:"):
        ok = out <= 1.05 * ref[2] and mbs >= 2 * ref[3]
        goal = " (goal met)" if ok else ""
    print(f"| {name}{goal} | {out:,} | {out / ref[2]:.3f} | {out / inp:.3f} | {mbs:.1f} | "
          f"{mbs / ref[3]:.2f} | {' / '.join(f'{s:.1f}' for s in speeds)} |")
PY
}

case $CORPUS in
    both) CORPORA=(generated npm) ;;
    *) CORPORA=("$CORPUS") ;;
esac
for c in "${CORPORA[@]}"; do
    summary=$(corpus_list "$c")
    log "$c corpus: $summary; $ROUNDS rounds of: $SETTINGS"
    # shellcheck disable=SC2086
    timeout "$STEP_TIMEOUT" "$BIN" "$ROUNDS" "$TMP/$c.list" $SETTINGS >"$TMP/$c.tsv" \
        || die "the measurement of $c failed"
    printf '\n### %s corpus: %s\n\n' "$c" "$summary"
    table "$c"
done
printf '\n%s, %s cores, %s\n' "$(date -u +%Y-%m-%d)" "$(nproc)" "$(uname -m)"
