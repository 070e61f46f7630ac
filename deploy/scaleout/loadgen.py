#!/usr/bin/env python3
"""Bounded load + fault injection + accounting for scripts/scaleout-test.sh (loopback only).

    loadgen.py run    --url URL --key KEY --name NAME --duration S --concurrency C
                      [--fault-at S --fault-cmd CMD] [--source-net 127.2] --out FILE
        POST /v1/validations of DISTINCT products with `Prefer: wait`, each request from its own
        loopback source address (127.N.x.y, so the per-IP limit never applies to the load), for
        S seconds; at --fault-at runs CMD (bash) and records when it started and ended.
    loadgen.py burst  --url URL --key KEY --name NAME --count N --source-ip IP [--spoof-xff]
                      [--method POST|GET] --out FILE
        N requests from ONE source address (with a different forged X-Forwarded-For on each when
        --spoof-xff): the per-IP limit must allow exactly its quota, whichever API answers.
    loadgen.py report --psql "psql URL" --settle S FILE...
        waits until every accepted job is finished (at most S seconds), then counts per run:
        client errors by status, jobs lost (accepted, not succeeded), duplicated results
        (a product with more than one result or job), recovery time; prints a markdown table.

Every loop is bounded in count and time; only the given URL (loopback) is contacted.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse

OK = (200, 202)


def post_validation(url, key, product, source_ip, wait, xff=None, method="POST", timeout=45.0):
    u = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=timeout,
                                      source_address=(source_ip, 0) if source_ip else None)
    headers = {"Authorization": f"Bearer {key}", "Connection": "close"}
    if xff:
        headers["X-Forwarded-For"] = xff
    try:
        if method == "POST":
            body = json.dumps({"product": {"source": "aliexpress", "id": product}})
            headers["Content-Type"] = "application/json"
            if wait:
                headers["Prefer"] = f"wait={wait}"
            conn.request("POST", "/v1/validations", body=body, headers=headers)
        else:
            conn.request("GET", "/v1/jobs?limit=1", headers=headers)
        r = conn.getresponse()
        data = r.read()
        job = None
        if r.status in OK and method == "POST":
            try:
                job = json.loads(data).get("id")
            except ValueError:
                pass
        return r.status, None, job, r.getheader("Retry-After")
    except (OSError, http.client.HTTPException) as e:
        return 0, type(e).__name__, None, None
    finally:
        conn.close()


def cmd_run(a):
    stamp = int(time.time()) % 1_000_000
    records, lock = [], threading.Lock()
    counter = iter(range(10**8))
    start = time.monotonic()
    deadline = start + a.duration
    fault = {}
    net = a.source_net.split(".")

    def next_item():
        with lock:
            i = next(counter)
        # 16 digits: 7, the run's digit, a 6-digit stamp, an 8-digit counter (sandbox: every id exists)
        product = f"7{a.digit}{stamp:06d}{i:08d}"
        ip = f"{net[0]}.{net[1]}.{(i // 250) % 250}.{i % 250 + 1}"
        return product, ip

    def worker():
        while time.monotonic() < deadline and len(records) < a.max_requests:
            product, ip = next_item()
            t0 = time.monotonic() - start
            status, err, job, _ = post_validation(a.url, a.key, product, ip, a.wait)
            t1 = time.monotonic() - start
            with lock:
                records.append({"t0": round(t0, 4), "t1": round(t1, 4), "status": status, "err": err,
                                "product": product, "job": job})

    def injector():
        time.sleep(max(0.0, a.fault_at - (time.monotonic() - start)))
        fault["t"] = round(time.monotonic() - start, 4)
        p = subprocess.run(["bash", "-c", a.fault_cmd], capture_output=True, text=True, timeout=120)
        fault["t_done"] = round(time.monotonic() - start, 4)
        fault["rc"] = p.returncode
        fault["out"] = (p.stdout.strip() + (" | " + p.stderr.strip() if p.returncode else ""))[-500:]

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(a.concurrency)]
    if a.fault_cmd:
        threads.append(threading.Thread(target=injector, daemon=True))
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=a.duration + 130)
    out = {"name": a.name, "desc": a.desc, "kind": "run", "duration": a.duration, "concurrency": a.concurrency,
           "wait": a.wait, "fault": fault, "records": records}
    with open(a.out, "w") as f:
        json.dump(out, f)
    by = {}
    for r in records:
        by[r["status"]] = by.get(r["status"], 0) + 1
    print(f"{a.name}: {len(records)} requests, statuses {dict(sorted(by.items()))}, fault {fault}")
    return 0 if (not a.fault_cmd or fault.get("rc") == 0) else 1


def cmd_burst(a):
    stamp = int(time.time()) % 1_000_000
    records, lock = [], threading.Lock()
    items = iter(range(a.count))
    start = time.monotonic()

    def worker():
        while True:
            with lock:
                i = next(items, None)
            if i is None:
                return
            product = f"7{a.digit}{stamp:06d}{i:08d}"
            xff = f"198.51.100.{i % 250 + 1}" if a.spoof_xff else None
            t0 = time.monotonic() - start
            status, err, job, retry = post_validation(a.url, a.key, product, a.source_ip, a.wait, xff=xff,
                                                      method=a.method)
            with lock:
                records.append({"t0": round(t0, 4), "t1": round(time.monotonic() - start, 4), "status": status,
                                "err": err, "product": product if a.method == "POST" else None, "job": job,
                                "retry_after": retry})

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(a.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    out = {"name": a.name, "desc": a.desc, "kind": "burst", "count": a.count, "method": a.method, "source_ip": a.source_ip,
           "spoof_xff": a.spoof_xff, "fault": {}, "records": records}
    with open(a.out, "w") as f:
        json.dump(out, f)
    by = {}
    for r in records:
        by[r["status"]] = by.get(r["status"], 0) + 1
    print(f"{a.name}: {len(records)} requests from {a.source_ip}, statuses {dict(sorted(by.items()))}")
    return 0


def psql(cmd, sql):
    p = subprocess.run(cmd + ["-XAtq", "-F", "\t", "-v", "ON_ERROR_STOP=1"], input=sql, capture_output=True,
                       text=True, timeout=60)
    if p.returncode:
        raise SystemExit(f"psql failed: {p.stderr.strip()}")
    return [line.split("\t") for line in p.stdout.splitlines() if line]


def values(items):
    return ",".join(f"('{x}')" for x in items) or "(NULL)"


def cmd_report(a):
    cmd = a.psql.split()
    runs = []
    for path in a.files:
        with open(path) as f:
            runs.append(json.load(f))
    accepted = {r["job"] for run in runs for r in run["records"] if r["status"] in OK and r.get("job")}
    all_products = {r["product"] for run in runs for r in run["records"] if r.get("product")}
    # settle (bounded): every accepted job finished, and every job of a product we sent (a request
    # that failed may still have created one: it must finish too, e.g. after its lease expired)
    deadline = time.monotonic() + a.settle
    t0 = time.monotonic()
    pending = None
    while True:
        pending = 0
        if accepted:
            rows = psql(cmd, f"select count(*) from (values {values(accepted)}) v(id) left join jobs j on j.id = v.id::uuid "
                             "where j.status is null or j.status in ('queued','scheduled','running');")
            pending += int(rows[0][0])
        if all_products:
            rows = psql(cmd, "select count(*) from jobs where kind = 'validation' and status in ('queued','scheduled','running') "
                             f"and input->'product'->>'id' in (select p from (values {values(all_products)}) v(p));")
            pending += int(rows[0][0])
        if pending == 0 or time.monotonic() > deadline:
            break
        time.sleep(1)
    settled = round(time.monotonic() - t0, 1)
    table = []
    for run in runs:
        recs = run["records"]
        fault = run.get("fault") or {}
        tf = fault.get("t")
        statuses = {}
        for r in recs:
            k = r["status"] if r["status"] else f"conn:{r['err']}"
            statuses[k] = statuses.get(k, 0) + 1
        ok = sum(1 for r in recs if r["status"] in OK)
        errors = [r for r in recs if r["status"] not in OK and r["status"] != 429]
        jobs = [r["job"] for r in recs if r["status"] in OK and r.get("job")]
        lost = 0
        if jobs:
            rows = psql(cmd, f"select count(*) from (values {values(jobs)}) v(id) left join jobs j on j.id = v.id::uuid "
                             "where j.status is distinct from 'succeeded';")
            lost = int(rows[0][0])
        products = sorted({r["product"] for r in recs if r.get("product")})
        dup_results = dup_jobs = stuck = 0
        if products:
            rows = psql(cmd, f"select coalesce(sum(n - 1), 0) from (select count(*) n from validation_results "
                             f"where product_source = 'aliexpress' and product_id in (select p from (values {values(products)}) v(p)) "
                             "group by product_id having count(*) > 1) d;")
            dup_results = int(rows[0][0])
            rows = psql(cmd, "select coalesce(sum(n - 1), 0), coalesce(sum(stuck), 0) from (select count(*) n, "
                             "count(*) filter (where status in ('queued','scheduled','running')) stuck from jobs "
                             f"where kind = 'validation' and input->'product'->>'id' in (select p from (values {values(products)}) v(p)) "
                             "group by input->'product'->>'id') d;")
            dup_jobs, stuck = int(rows[0][0]), int(rows[0][1])
        failed_products = sorted({r["product"] for r in recs if r.get("product") and r["status"] not in OK})
        jobs_of_failed = 0
        if failed_products:
            rows = psql(cmd, "select count(*) from jobs where kind = 'validation' and status = 'succeeded' "
                             f"and input->'product'->>'id' in (select p from (values {values(failed_products)}) v(p));")
            jobs_of_failed = int(rows[0][0])
        row = {"name": run["name"], "jobs_of_failed_requests": jobs_of_failed, "desc": run.get("desc", ""), "kind": run.get("kind"), "requests": len(recs), "ok": ok, "statuses": statuses,
               "accepted": len(jobs), "lost": lost, "dup_results": dup_results, "dup_jobs": dup_jobs, "stuck": stuck,
               "fault": fault}
        lat = sorted(r["t1"] - r["t0"] for r in recs if r["status"] in OK)
        row["p50"] = round(lat[len(lat) // 2], 2) if lat else None
        row["max"] = round(lat[-1], 2) if lat else None
        if tf is not None:
            # the fault command runs from tf to t_done (e.g. kill, then wait until the process is
            # gone): a request is "in flight at the fault" when it was open at any moment of that
            # interval; errors of requests SENT after it ended are failures of the failover itself
            td = fault.get("t_done", tf)
            row["inflight_at_fault"] = sum(1 for r in recs if r["t0"] <= td and r["t1"] > tf)
            row["errors_started_after_fault"] = sum(1 for r in errors if r["t0"] > td)
            # recovery: from the fault until the last client error ended (None: no client error)
            row["recovery"] = round(max(0.0, max(r["t1"] for r in errors) - tf), 2) if errors else None
            row["recovery_after_restore"] = (round(max(0.0, max(r["t1"] for r in errors) - fault["t_done"]), 2)
                                             if errors and "t_done" in fault else None)
        table.append(row)
    out = {"settle_seconds": settled, "pending_after_settle": pending, "runs": table}
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(out, f, indent=1)
    if a.markdown:
        with open(a.markdown, "w") as f:
            f.write(markdown(out))
    print(json.dumps(out, indent=1))
    return 0


def fmt_statuses(st):
    return ", ".join(f"{k}: {v}" for k, v in sorted(st.items(), key=lambda kv: str(kv[0]))) or "-"


def markdown(out):
    lines = ["| Scenario | Requests | Answers by status | Client errors (not 2xx/429) | In flight at fault "
             "| Errors of requests sent after the fault command | Accepted jobs | Lost | Duplicated results / jobs "
             "| Recovery | Fault | p50 / max latency (s) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in out["runs"]:
        errs = {k: v for k, v in r["statuses"].items() if str(k) not in ("200", "202", "429")}
        fault = r.get("fault") or {}
        fdesc = fault.get("out", "") if fault else ""
        if "recovery" not in r:
            rec = "-"
        elif r["recovery"] is None:
            rec = "no client error"
        else:
            rec = f"last error {r['recovery']} s after the fault"
            if r.get("recovery_after_restore"):
                rec += f" ({r['recovery_after_restore']} s after the fault command ended)"
        lines.append("| " + " | ".join(str(x) for x in [
            f"{r['name']}: {r['desc']}", r["requests"], fmt_statuses(r["statuses"]),
            fmt_statuses(errs) if errs else "0",
            r.get("inflight_at_fault", "-"), r.get("errors_started_after_fault", "-"),
            f"{r['accepted']}" + (f" (+{r['jobs_of_failed_requests']} run for requests that got an error)"
                                  if r.get("jobs_of_failed_requests") else ""), r["lost"], f"{r['dup_results']} / {r['dup_jobs']}", rec,
            (f"at {fault.get('t')} s: {fdesc}" if fault else "-").replace("|", "/"),
            f"{r['p50']} / {r['max']}"]) + " |")
    lines.append("")
    lines.append(f"Settle: every job of every product sent (accepted or not) finished {out['settle_seconds']} s after "
                 f"the last run (still unfinished: {out['pending_after_settle']}).")
    return "\n".join(lines) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--url", required=True)
    r.add_argument("--key", required=True)
    r.add_argument("--name", required=True)
    r.add_argument("--digit", default="2")
    r.add_argument("--duration", type=float, default=20)
    r.add_argument("--concurrency", type=int, default=12)
    r.add_argument("--max-requests", type=int, default=20000)
    r.add_argument("--wait", type=int, default=10)
    r.add_argument("--fault-at", type=float, default=6)
    r.add_argument("--fault-cmd", default="")
    r.add_argument("--source-net", default="127.2")
    r.add_argument("--out", required=True)
    r.add_argument("--desc", default="")
    b = sub.add_parser("burst")
    b.add_argument("--url", required=True)
    b.add_argument("--key", required=True)
    b.add_argument("--name", required=True)
    b.add_argument("--digit", default="1")
    b.add_argument("--count", type=int, default=50)
    b.add_argument("--concurrency", type=int, default=4)
    b.add_argument("--wait", type=int, default=5)
    b.add_argument("--source-ip", required=True)
    b.add_argument("--spoof-xff", action="store_true")
    b.add_argument("--method", default="POST", choices=["POST", "GET"])
    b.add_argument("--out", required=True)
    b.add_argument("--desc", default="")
    p = sub.add_parser("report")
    p.add_argument("--psql", required=True)
    p.add_argument("--settle", type=float, default=90)
    p.add_argument("--json-out")
    p.add_argument("--markdown")
    p.add_argument("files", nargs="+")
    a = ap.parse_args()
    if a.cmd in ("run", "burst") and urllib.parse.urlsplit(a.url).hostname not in ("127.0.0.1", "localhost"):
        sys.exit("loopback only: --url must be http://127.0.0.1:PORT")
    if a.cmd == "run":
        if not a.source_net.startswith("127."):
            sys.exit("loopback only")
        return cmd_run(a)
    if a.cmd == "burst":
        if not a.source_ip.startswith("127."):
            sys.exit("loopback only")
        return cmd_burst(a)
    return cmd_report(a)


if __name__ == "__main__":
    sys.exit(main())
