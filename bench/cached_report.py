#!/usr/bin/env python3
"""CPU per request, peak RSS and the ratios to the floor for bench/run.sh's cached scenarios.

    cached_report.py row --tsv F --jsonl F --out BENCH_STDOUT --label L --scenario S --stamp T
                         --run I --ticks T0 T1 --hz HZ --hwm-kb K [--pid P]
        after one bench.sh run (-r 1 -o F): completes its TSV row (run number, then two columns:
        server CPU µs per answered request and peak RSS MB, -1 without a server PID), appends a
        JSON line and prints the two figures
    cached_report.py summary --tsv F --jsonl F --stamp T
        Markdown for summary.md (cost table and goals), and one JSON line per DropForge target
        and load shape with the medians and the ratios to the axum floor
    cached_report.py layer-row --oha-json F --tsv F --jsonl F --label L --shape S --stamp T --run I
                         --ticks T0 T1 --hz HZ --hwm-kb K
        after one fixed-rate oha run of bench/run.sh layers (oha --output-format json): appends
        its TSV row (same columns as bench.sh's, CPU and RSS columns filled) and a JSON line
    cached_report.py layers --tsv F --jsonl F --stamp T
        bench/run.sh layers: what each HTTP layer costs, as the server CPU µs per request saved
        by leaving it out (rows labelled "layers: all on", "layers: without NAME",
        "layers: without every layer"), one JSON line per layer

TSV columns (bench.sh -o, then ours): label, shape, run, rps, avg, p50, p95, p99, max (ms), errors,
srv CPU %, oha CPU %, softirq %, other %, steal %, listen drops, SYN rtx, cpu_us_per_req, peak_rss_mb.
"""
import argparse
import json
import re
import statistics
import sys

RPS, P95, P99, ERR = 0, 3, 4, 6  # indexes into the values after label, shape, run
CPU_US, RSS_MB = 14, 15


def answered(bench_stdout):
    """Responses oha received in the run: the 2xx count plus every non-2xx one."""
    text = open(bench_stdout).read()
    ok = re.search(r"^\s+run \d+\s+ok=(\d+)", text, re.M)
    n = int(ok.group(1)) if ok else 0
    for m in re.finditer(r"^\s+non-2xx: (.*)$", text, re.M):
        n += sum(int(x) for x in re.findall(r"x(\d+)", m.group(1)))
    return n


def row(a):
    lines = open(a.tsv).read().splitlines()
    if not lines:
        sys.exit("cached_report.py: empty TSV")
    parts = lines[-1].split("\t")
    if parts[0] != a.label or len(parts) != 17:
        sys.exit(f"cached_report.py: the TSV's last row is not this run's ({parts[0]!r}, {len(parts)} columns)")
    n = answered(a.out)
    cpu_us, rss_mb = -1.0, -1.0
    if a.pid and n > 0:
        cpu_us = (a.ticks[1] - a.ticks[0]) / a.hz * 1e6 / n
        rss_mb = a.hwm_kb / 1024.0
    parts[2] = str(a.run)
    parts += [f"{cpu_us:.3f}", f"{rss_mb:.3f}"]
    lines[-1] = "\t".join(parts)
    with open(a.tsv, "w") as f:
        f.write("\n".join(lines) + "\n")
    v = [float(x) for x in parts[3:]]
    rec = {"kind": "oha", "label": a.stamp, "scenario": a.scenario, "target": a.label, "shape": parts[1],
           "run": a.run, "requests": n, "rps": v[RPS], "p95_ms": v[P95], "p99_ms": v[P99],
           "errors": int(v[ERR]), "srv_cpu_pct": v[7], "cpu_us_per_req": round(cpu_us, 2),
           "peak_rss_mb": round(rss_mb, 1)}
    redis_us = -1.0
    if a.redis_ticks[1] > a.redis_ticks[0] and n > 0:
        redis_us = (a.redis_ticks[1] - a.redis_ticks[0]) / a.hz * 1e6 / n
        rec["redis_cpu_us_per_req"] = round(redis_us, 2)
    with open(a.jsonl, "a") as f:
        f.write(json.dumps(rec) + "\n")
    if a.pid:
        print(f"    server CPU {cpu_us:.1f} µs per request ({n} answered, "
              f"{(a.ticks[1] - a.ticks[0]) / a.hz:.2f} CPU-s), peak RSS {rss_mb:.1f} MB")
    if redis_us >= 0:
        print(f"    Redis CPU {redis_us:.1f} µs per request (redis-server, the limiter's decisions and any cache reads)")


def load(tsv):
    groups = {}
    for line in open(tsv):
        p = line.rstrip("\n").split("\t")
        if len(p) < 19:
            continue
        groups.setdefault((p[0], p[1]), []).append([float(x) for x in p[3:19]])
    return groups


def med(rows, i):
    vals = [r[i] for r in rows if r[i] >= 0]
    return statistics.median(vals) if vals else float("nan")


def summary(a):
    groups = load(a.tsv)
    if not groups:
        return
    print("## Cost per request (medians of this run; peak RSS: the largest run)")
    print()
    print("| target | load | runs | req/s | p95 ms | p99 ms | errors | server CPU µs/request | peak RSS MB |")
    print("|---|---|---|---|---|---|---|---|---|")
    for (label, shape), rows in groups.items():
        rss = max(r[RSS_MB] for r in rows)
        print(f"| {label} | {shape} | {len(rows)} | {med(rows, RPS):,.0f} | {med(rows, P95):.1f} | {med(rows, P99):.1f} "
              f"| {med(rows, ERR):.0f} | {med(rows, CPU_US):.1f} | {rss:.1f} |")
    print()
    print("## Goals (medians of this run)")
    print()
    for shape in dict.fromkeys(s for _, s in groups):
        peer = lambda name: next((rows for (l, s), rows in groups.items() if s == shape and l.startswith(name)), None)
        floor, express = peer("axum"), peer("express")
        for (label, s), rows in groups.items():
            if s != shape or not label.startswith("dropforge"):
                continue
            rps, cpu = med(rows, RPS), med(rows, CPU_US)
            rec = {"kind": "cached-summary", "label": a.stamp, "target": label, "shape": shape, "runs": len(rows),
                   "rps": rps, "p95_ms": med(rows, P95), "p99_ms": med(rows, P99), "errors": med(rows, ERR),
                   "cpu_us_per_req": round(cpu, 2), "peak_rss_mb": round(max(r[RSS_MB] for r in rows), 1)}
            line = (f"- **{label}**, `{shape}`: {rps:,.0f} req/s, p95 {rec['p95_ms']:.1f} ms, p99 {rec['p99_ms']:.1f} ms, "
                    f"errors {rec['errors']:.0f}, server CPU {cpu:.1f} µs/request, peak RSS {rec['peak_rss_mb']:.0f} MB")
            if floor:
                f_rps, f_cpu = med(floor, RPS), med(floor, CPU_US)
                rec.update(floor_rps=f_rps, floor_cpu_us_per_req=round(f_cpu, 2), rps_ratio_to_floor=round(rps / f_rps, 3),
                           cpu_ratio_to_floor=round(cpu / f_cpu, 2) if f_cpu > 0 else None)
                line += f"; vs axum floor: req/s x{rps / f_rps:.2f} ({f_rps:,.0f})"
                if f_cpu > 0:
                    line += f", CPU x{cpu / f_cpu:.1f} ({f_cpu:.1f} µs/request)"
            if express:
                e_rps = med(express, RPS)
                rec.update(express_rps=e_rps, rps_ratio_to_express=round(rps / e_rps, 2))
                line += f"; vs express x{rps / e_rps:.2f}"
            if "z=" in shape:
                line += " (goal: >= 0.5 x floor req/s, p99 < 50 ms, 0 errors, CPU <= 2 x floor, RSS < 150 MB)"
            else:
                line += " (goal: >= 5 x express req/s, p95 < 40 ms, p99 < 100 ms, 0 errors, RSS < 150 MB)"
            print(line)
            with open(a.jsonl, "a") as f:
                f.write(json.dumps(rec) + "\n")


LAYERS_PREFIX = "layers: "


def layer_row(a):
    doc = json.load(open(a.oha_json))
    codes = {int(k): v for k, v in doc.get("statusCodeDistribution", {}).items()}
    ok = sum(v for k, v in codes.items() if 200 <= k < 300)
    # oha counts the requests still in flight when the duration ends as "aborted due to deadline"
    errors = sum(v for k, v in codes.items() if k >= 300) + sum(
        v for k, v in doc.get("errorDistribution", {}).items() if "deadline" not in k)
    n = sum(codes.values())
    pct = doc.get("latencyPercentiles", {})
    s = doc.get("summary", {})
    ms = lambda v: (v or 0) * 1000
    cpu_s = (a.ticks[1] - a.ticks[0]) / a.hz
    cpu_us = cpu_s * 1e6 / n if n else -1
    rss_mb = a.hwm_kb / 1024.0
    vals = [s.get("requestsPerSec", 0), ms(s.get("average")), ms(pct.get("p50")), ms(pct.get("p95")),
            ms(pct.get("p99")), ms(s.get("slowest")), errors, -1, -1, -1, -1, -1, -1, -1, cpu_us, rss_mb]
    with open(a.tsv, "a") as f:
        f.write("\t".join([a.label, a.shape, str(a.run)] + [f"{v:.3f}" for v in vals]) + "\n")
    with open(a.jsonl, "a") as f:
        f.write(json.dumps({"kind": "oha", "label": a.stamp, "scenario": "layers", "target": a.label, "shape": a.shape,
                            "run": a.run, "requests": n, "ok": ok, "rps": vals[0], "p99_ms": vals[4], "errors": errors,
                            "cpu_us_per_req": round(cpu_us, 2), "peak_rss_mb": round(rss_mb, 1)}) + "\n")
    print(f"{a.label:<32} run {a.run}: {vals[0]:,.0f} req/s, p99 {vals[4]:.1f} ms, {errors} errors, "
          f"API CPU {cpu_us:.1f} µs per request ({n} answered, {cpu_s:.2f} CPU-s), peak RSS {rss_mb:.0f} MB")


def layers(a):
    groups = {label[len(LAYERS_PREFIX):]: rows for (label, _), rows in load(a.tsv).items()
              if label.startswith(LAYERS_PREFIX)}
    base = groups.get("all on")
    if not base:
        sys.exit("cached_report.py layers: no 'layers: all on' row")
    b_cpu, b_rps = med(base, CPU_US), med(base, RPS)
    print("## What each HTTP layer costs (realistic mix, limiter on, fixed request rate; medians of this run)")
    print()
    print("| configuration | runs | req/s | server CPU µs/request | cost of the layer, µs/request | share |")
    print("|---|---|---|---|---|---|")
    print(f"| all on (as shipped) | {len(base)} | {b_rps:,.0f} | {b_cpu:.1f} | | |")
    for name, rows in groups.items():
        if name == "all on":
            continue
        if name.startswith("all on"):
            print(f"| {name} | {len(rows)} | {med(rows, RPS):,.0f} | {med(rows, CPU_US):.1f} | (drift: "
                  f"{med(rows, CPU_US) - b_cpu:+.1f}) | |")
            continue
        cpu, rps = med(rows, CPU_US), med(rows, RPS)
        cost = b_cpu - cpu
        print(f"| {name} | {len(rows)} | {rps:,.0f} | {cpu:.1f} | {cost:.1f} | {cost / b_cpu:.0%} |")
        with open(a.jsonl, "a") as f:
            f.write(json.dumps({"kind": "layer-cost", "label": a.stamp, "configuration": name, "runs": len(rows),
                                "rps": rps, "cpu_us_per_req": round(cpu, 2), "all_on_cpu_us_per_req": round(b_cpu, 2),
                                "cost_us_per_req": round(cost, 2)}) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("row")
    for k in ("--tsv", "--jsonl", "--out", "--label", "--scenario", "--stamp"):
        r.add_argument(k, required=True)
    r.add_argument("--run", type=int, required=True)
    r.add_argument("--ticks", type=int, nargs=2, default=[0, 0])
    r.add_argument("--hz", type=int, default=100)
    r.add_argument("--hwm-kb", type=int, default=0)
    r.add_argument("--pid", default="")
    r.add_argument("--redis-ticks", type=int, nargs=2, default=[0, 0])
    s = sub.add_parser("summary")
    for k in ("--tsv", "--jsonl", "--stamp"):
        s.add_argument(k, required=True)
    lr = sub.add_parser("layer-row")
    for k in ("--oha-json", "--tsv", "--jsonl", "--label", "--shape", "--stamp"):
        lr.add_argument(k, required=True)
    lr.add_argument("--run", type=int, required=True)
    lr.add_argument("--ticks", type=int, nargs=2, required=True)
    lr.add_argument("--hz", type=int, default=100)
    lr.add_argument("--hwm-kb", type=int, default=0)
    lay = sub.add_parser("layers")
    for k in ("--tsv", "--jsonl", "--stamp"):
        lay.add_argument(k, required=True)
    a = ap.parse_args()
    {"row": row, "summary": summary, "layers": layers, "layer-row": layer_row}[a.cmd](a)


if __name__ == "__main__":
    main()
