# Shared by benches/load.sh and benches/pull.sh (sourced; needs `die`):
# server CPU from /proc and wrk output parsing.

proc_ticks() { # utime+stime (clock ticks) summed over PIDs
    local t=0 pid v
    for pid in "$@"; do
        v=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$pid/stat") ||
            die "process $pid is gone"
        t=$((t + v))
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
