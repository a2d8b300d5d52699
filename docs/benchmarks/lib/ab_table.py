"""The table of an alternating A/B run (lib/bench.sh `ab_table`).

Usage: ab_table.py RESULTS A B SCENARIO=NAME...
RESULTS holds rows "pair scenario side req/s cpu-us/req" (tab-separated);
each row of the table gives the medians of both sides and the median of
the per-pair CPU ratios A/B.
"""
import csv
import statistics
import sys

results, a, b, *scenarios = sys.argv[1:]
rows = list(csv.reader(open(results), delimiter="\t"))
print(f"| scenario | {a} req/s | {b} req/s | {a} CPU µs/req | {b} CPU µs/req | CPU {a}/{b} (median of pairs) |")
print("|---|---:|---:|---:|---:|---:|")
for spec in scenarios:
    sc, name = spec.split("=", 1)
    def get(side, i):
        return {r[0]: float(r[i]) for r in rows if r[1] == sc and r[2] == side}
    ra, rb, ca, cb = get(a, 3), get(b, 3), get(a, 4), get(b, 4)
    if not ca or not cb:  # a scenario this run left out
        continue
    ratio = statistics.median(ca[p] / cb[p] for p in ca)
    print("| %s | %.0f | %.0f | %.2f | %.2f | %.3f |" % (
        name, statistics.median(ra.values()), statistics.median(rb.values()),
        statistics.median(ca.values()), statistics.median(cb.values()), ratio))
