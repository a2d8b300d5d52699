#!/usr/bin/env bash
# Runs every fuzz target (fuzz/targets/, compiled into the lib's tests) again and
# again with fresh random seeds for MINUTES minutes, on stable Rust:
# proptest as the engine, the seed corpus in fuzz/corpus/ mutated, built
# with overflow checks and debug assertions (`--profile fuzz`).
#
#   fuzz/fuzz.sh 10          # ten minutes
#   CASES=5000 fuzz/fuzz.sh 60
#
# A failing input is shrunk and its seed saved by proptest in
# fuzz/regressions/ (check it in: it is replayed first on every run,
# `cargo test` included) and the run stops with the failure. Reported:
# minutes, rounds, cases per target, crashes.
set -euo pipefail

MINUTES=${1:-${MINUTES:-5}}
CASES=${CASES:-20000}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
cd "$REPO"
log() { printf '[fuzz] %s\n' "$*" >&2; }

log "building the lib tests (--profile fuzz)"
cargo test --profile fuzz --lib --no-run 2>&1 | tail -n 1 >&2
targets=$(cargo test --profile fuzz --lib -q -- --list fuzz_ 2>/dev/null | grep -c ': test$')
log "$targets fuzz tests (targets and their seed runs); $CASES cases a target a round, for $MINUTES min"

deadline=$(($(date +%s) + MINUTES * 60))
start=$(date +%s)
rounds=0
out=$(mktemp "${TMPDIR:-/tmp}/cdn-edge-fuzz.XXXXXX")
trap 'rm -f "$out"' EXIT
while (($(date +%s) < deadline)); do
    left=$((deadline - $(date +%s)))
    # Each round is bounded: it stops with the time left (plus a margin).
    if ! PROPTEST_CASES=$CASES timeout --kill-after=10 $((left + 120)) \
        cargo test --profile fuzz --lib -q fuzz_ >"$out" 2>&1; then
        if grep -q 'test result: FAILED\|panicked' "$out"; then
            cat "$out" >&2
            log "CRASH after $rounds rounds; the shrunk input's seed is in fuzz/regressions/"
            exit 1
        fi
        log "round cut by the deadline"
        break
    fi
    rounds=$((rounds + 1))
    log "round $rounds ok ($(grep -o 'test result: ok. [0-9]* passed' "$out"), $(((deadline - $(date +%s)) / 60)) min left)"
done
elapsed=$(($(date +%s) - start))
random=$(cargo test --profile fuzz --lib -q -- --list fuzz_ 2>/dev/null | grep ': test$' | grep -vc '_seeds: test$')
printf 'fuzzed %d min %d s: %d rounds x %d random targets x %d cases = %d cases, 0 crashes\n' \
    $((elapsed / 60)) $((elapsed % 60)) "$rounds" "$random" "$CASES" $((rounds * random * CASES))
