"""The report of scripts/bench-verifier.sh: per round and as medians, the verifier's throughput,
latency and CPU per request, the transport's CPU per request beyond its signatures, and the
verifier's CPU split into crypto floor, transport and PaySeal's own.
Usage: bench_report.py STATE ROUNDS CORES CLK_TCK"""
import json
import statistics
import sys

from crypto_floor import estimate, parts as floor_parts

state, rounds, cores, tck = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])


def cpu_us(kind, r):
    """(load report, server CPU µs per request, of which in the transport's signatures) of one
    measured load."""
    load = json.load(open(f"{state}/{kind}-{r}.json"))
    before, after, busy_before, busy_after = map(int, open(f"{state}/{kind}-{r}.cpu").read().split())
    served = load["requests"] + load["errors"]
    if not served:
        return load, float("nan"), float("nan")
    return load, (after - before) / tck * 1e6 / served, (busy_after - busy_before) / served


parts = floor_parts()
floor = sum(parts.values()) if all(v is not None for v in parts.values()) else None
rows = []
print("\nround  verifier: req/s, p50, p99, errors, CPU/request   transport: req/s, CPU/request, beyond its signatures")
for r in range(1, rounds + 1):
    v, v_cpu, _ = cpu_us("verifier", r)
    t, t_cpu, busy = cpu_us("transport", r)
    rows.append((v["requests_per_second"], v["p99_ms"], v_cpu, t_cpu - busy, busy))
    print(f"{r:>5}  {v['requests_per_second']:>8,.0f} {v['p50_ms']:>7} ms {v['p99_ms']:>7} ms {v['errors']:>3} "
          f"{v_cpu:>7.1f} µs   {t['requests_per_second']:>8,.0f} {t_cpu:>7.1f} µs {t_cpu - busy:>6.1f} µs"
          f"{'  (transport errors: %d)' % t['errors'] if t['errors'] else ''}")
rps, p99, v_cpu, t_own, busy = (statistics.median(c) for c in zip(*rows))
print(f"\nper-request crypto (criterion medians, µs):")
for k, val in parts.items():
    print(f"  {k:<22} {val if val is None else round(val, 1)}")
in_process = estimate("service_verify_play_repeat")
if in_process is not None:
    print(f"  whole decision in-process, owner's repeat (service bench) {in_process:.1f}")
print(f"transport's signatures: {busy:.1f} µs of CPU per request under the load (its --busy-us {floor})")
if floor is None:
    print("criterion figures missing: run without SKIP_CRITERION")
    sys.exit(0)
ceiling = cores * 1e6 / floor
med = " (medians)" if rounds > 1 else ""
print(f"crypto-bound ceiling: {ceiling:,.0f} req/s on {cores} cores ({floor:.1f} µs/request)")
print(f"measured{med}: {rps:,.0f} req/s = {100 * rps / ceiling:.0f}% of the ceiling, p99 {p99} ms")
print(f"server CPU{med}: {v_cpu:.1f} µs/request = {v_cpu / floor:.2f}× the crypto floor of {floor:.1f} µs/request")
print(f"  = crypto floor {floor:.1f} + transport {t_own:.1f} + PaySeal's own {v_cpu - floor - t_own:.1f} µs/request; "
      f"the crypto floor and the transport alone are {(floor + t_own) / floor:.2f}× the crypto floor")
if in_process is not None:
    print(f"  PaySeal's own in-process with hot caches (service bench − crypto floor): {in_process - floor:.1f} µs/request")
