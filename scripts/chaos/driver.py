#!/usr/bin/env python3
"""Load, webhook receiver and accounting for scripts/chaos.sh (Python 3 stdlib only, loopback only).

    driver.py receiver --port P --secret whsec_... --out FILE
        A webhook receiver on 127.0.0.1:P: verifies each Standard Webhooks signature, appends one
        JSON line per delivery to FILE ({"t", "webhook_id", "type", "job", "sig_ok"}), answers 204.
    driver.py load --api URL[,URL...] --key KEY --tag N --duration S --rate R --out FILE
                   [--count N] [--batch-every S --batch-size K] [--webhook-url URL --webhook-every M]
        A bounded, scheduled load: R single validations per second of DISTINCT products (every 50th
        is the pinned product 1005000000000001, a cache hit once it is known), one batch of K
        distinct products every S seconds, round-robin over the APIs, no `Prefer: wait`. At most
        --count singles (default R x S). Every M-th single carries --webhook-url. Each request's
        send time (epoch), latency, status and job id (body `id`, or `Location`/`Content-Location`
        also on an error answer) go to FILE.
    driver.py account --name NAME --load FILE --marks FILE --psql-url URL --hooks FILE --out FILE
                      [--drain-secs S]
        Waits (bounded) until every job the load created is terminal and every webhook event is
        delivered, then counts from PostgreSQL: accepted, succeeded, lost, duplicated, stuck,
        answers by status, p99 submit latency during the fault, recovery times, webhook events.
    driver.py table --out FILE.md ROW.json...
        The Markdown results table (also printed); exit 1 when any row failed.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import http.server
import json
import os
import socketserver
import subprocess
import sys
import threading
import time
import urllib.parse

PINNED = "1005000000000001"
TERMINAL = ("succeeded", "failed", "canceled")


# ------------------------------------------------------------------------------------ receiver
def cmd_receiver(a):
    secret = base64.b64decode(a.secret.split("_", 1)[1]) if a.secret else b""
    lock = threading.Lock()
    out = open(a.out, "a", buffering=1)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # noqa: N802 (http.server naming)
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n)
            wid = self.headers.get("webhook-id", "")
            ts = self.headers.get("webhook-timestamp", "")
            sigs = (self.headers.get("webhook-signature") or "").split()
            want = base64.b64encode(hmac.new(secret, f"{wid}.{ts}.".encode() + body, hashlib.sha256).digest()).decode()
            sig_ok = any(s.split(",", 1)[-1] == want for s in sigs if s.startswith("v1,"))
            try:
                doc = json.loads(body)
                typ, job = doc.get("type"), (doc.get("data") or {}).get("id")
            except ValueError:
                typ, job = None, None
            with lock:
                out.write(json.dumps({"t": time.time(), "webhook_id": wid, "type": typ, "job": job,
                                      "sig_ok": sig_ok, "path": self.path}) + "\n")
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    Server(("127.0.0.1", a.port), Handler).serve_forever()


# ------------------------------------------------------------------------------------ load
def job_from(status, body, headers):
    """The job id of an answer: the body's `id` (2xx), else Location / Content-Location."""
    if 200 <= status < 300:
        try:
            doc = json.loads(body)
            if isinstance(doc, dict) and doc.get("id") and ("status" in doc or "progress" in doc):
                return doc["id"]
        except ValueError:
            pass
    for h in ("Location", "Content-Location"):
        v = headers.get(h)
        if v and v.startswith("/v1/jobs/"):
            return v.rsplit("/", 1)[-1]
    return None


def cmd_load(a):
    apis = [urllib.parse.urlsplit(u) for u in a.api.split(",")]
    for u in apis:
        if u.hostname not in ("127.0.0.1", "localhost"):
            sys.exit("loopback only")
    n_single = a.count if a.count else int(a.rate * a.duration)
    span = n_single / a.rate
    tasks = []
    for i in range(n_single):
        product = PINNED if (i % 50 == 49) else f"8{a.tag:02d}{i:09d}"
        body = {"product": {"source": "aliexpress", "id": product}}
        hook = bool(a.webhook_url and a.webhook_every and i % a.webhook_every == 0 and product != PINNED)
        if hook:
            body["webhook_url"] = a.webhook_url
        tasks.append((i / a.rate, "single", "/v1/validations", body, [product], hook))
    if a.batch_every > 0 and a.batch_size > 0:
        nb = a.batches if a.batches else int(span / a.batch_every)
        for b in range(nb):
            prods = [f"8{a.tag:02d}{500000000 + b * 1000 + k:09d}" for k in range(a.batch_size)]
            body = {"products": [{"source": "aliexpress", "id": p} for p in prods]}
            tasks.append((b * span / max(nb, 1) + 0.25, "batch", "/v1/validations/batch", body, prods, False))
    tasks.sort(key=lambda t: t[0])
    records, lock = [], threading.Lock()
    it = iter(enumerate(tasks))
    start = time.time() + 0.2
    hard_stop = start + span + a.timeout + 30

    def worker():
        conns = {}
        while True:
            with lock:
                nxt = next(it, None)
            if nxt is None:
                break
            idx, (at, kind, path, body, prods, hook) = nxt
            delay = start + at - time.time()
            if delay > 0:
                time.sleep(delay)
            if time.time() > hard_stop:
                break
            ai = idx % len(apis)
            u = apis[ai]
            payload = json.dumps(body)
            for retry in (False, True):
                conn = conns.get(ai)
                if conn is None:
                    conn = conns[ai] = http.client.HTTPConnection(u.hostname, u.port, timeout=a.timeout)
                t0 = time.time()
                status, err, job, retry_after = 0, None, None, None
                try:
                    conn.request("POST", path, body=payload, headers={
                        "Authorization": f"Bearer {a.key}", "Content-Type": "application/json"})
                    r = conn.getresponse()
                    data = r.read()
                    status = r.status
                    job = job_from(status, data, r.headers)
                    retry_after = r.getheader("Retry-After")
                    if r.getheader("Connection", "").lower() == "close":
                        conn.close()
                        conns.pop(ai, None)
                except (OSError, http.client.HTTPException) as e:
                    err = "timeout" if isinstance(e, TimeoutError) or "timed out" in str(e) else type(e).__name__
                    conn.close()
                    conns.pop(ai, None)
                t1 = time.time()
                rec = {"t0": round(t0, 4), "lat": round(t1 - t0, 4), "kind": kind, "api": ai, "status": status,
                       "err": err, "job": job, "products": prods, "hook": hook, "retry": retry,
                       "retry_after": retry_after}
                with lock:
                    records.append(rec)
                # a client retries a 503 once, as told by Retry-After (at most 2 s): the retry must
                # join the job the first answer may have created, never make a second one. Not with a
                # webhook_url: a cache hit with one is recorded as its own (already finished) job.
                if retry or status != 503 or hook or not a.retry_503:
                    break
                try:
                    wait = min(2.0, max(0.1, float(retry_after or 1)))
                except ValueError:
                    wait = 1.0
                time.sleep(wait)
        for c in conns.values():
            c.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(a.concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=max(1.0, hard_stop - time.time() + 5))
    out = {"start": start, "end": time.time(), "records": records, "rate": a.rate, "planned": len(tasks)}
    with open(a.out, "w") as f:
        json.dump(out, f)
    by = {}
    for r in records:
        k = r["status"] or r["err"]
        by[k] = by.get(k, 0) + 1
    print(f"load tag {a.tag}: {len(records)}/{len(tasks)} requests sent, answers {by}", file=sys.stderr)
    return 0


# ------------------------------------------------------------------------------------ accounting
class Pg:
    def __init__(self, url):
        self.url = url

    def query(self, sql, ids=None, products=None, timeout=60):
        """Runs SQL with temp tables ids(id uuid) and prods(p text) loaded by COPY; rows of the last statement."""
        parts = ["\\set ON_ERROR_STOP 1", "create temp table ids (id uuid primary key);",
                 "create temp table prods (p text primary key);"]
        if ids:
            parts.append("copy ids from stdin;\n" + "\n".join(sorted(set(ids))) + "\n\\.")
        if products:
            parts.append("copy prods from stdin;\n" + "\n".join(sorted(set(products))) + "\n\\.")
        parts.append("analyze ids; analyze prods;")
        parts.append(sql)
        p = subprocess.run(["psql", self.url, "-XAtq", "-F", "\t"], input="\n".join(parts) + "\n",
                           capture_output=True, text=True, timeout=timeout)
        if p.returncode:
            raise RuntimeError(p.stderr.strip()[-500:])
        return [line.split("\t") for line in p.stdout.splitlines() if line]


def pct(values, q):
    if not values:
        return None
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]


def read_marks(path):
    marks = {"notes": []}
    if os.path.exists(path):
        for line in open(path):
            k, _, v = line.strip().partition(" ")
            if k in ("begin", "end"):
                marks.setdefault(k, float(v))
            elif k == "note":
                marks["notes"].append(v)
            elif k == "desc":
                marks["desc"] = v
    return marks


def cmd_account(a):
    load = json.load(open(a.load))
    recs = load["records"]
    marks = read_marks(a.marks)
    begin = marks.get("begin")
    end = marks.get("end", begin)
    pg = Pg(a.psql_url)
    tenant = a.tenant

    accepted = {}          # job id -> kind, for 2xx answers with a job
    orphans = set()        # jobs named by a non-2xx answer (Location): they must end too
    statuses = {}
    hits = 0
    for r in recs:
        k = str(r["status"]) if r["status"] else f"conn:{r['err']}"
        statuses[k] = statuses.get(k, 0) + 1
        if 200 <= r["status"] < 300:
            if r["job"]:
                accepted[r["job"]] = r["kind"]
            else:
                hits += 1
        elif r["job"]:
            orphans.add(r["job"])
    products = {p for r in recs for p in r["products"] if p != PINNED}
    hook_jobs_expected = {r["job"] for r in recs if r["hook"] and r["job"] and 200 <= r["status"] < 300}
    all_ids = set(accepted) | orphans

    # -------- drain: every job of this load terminal (accepted, named by errors, batch children, any
    # job of a product whose request failed), every webhook delivery of those jobs final
    drain_from = max(end or 0, load["end"])
    deadline = drain_from + a.drain_secs
    t_drained = None
    pending = None
    sql_pending = f"""
      with mine as (
        select id from ids
        union select bi.job_id from batch_items bi join ids on bi.batch_id = ids.id where bi.job_id is not null
        union select j.id from jobs j join prods on j.input->'product'->>'id' = prods.p
          where j.tenant_id = '{tenant}' and j.kind = 'validation' and j.status in ('queued','scheduled','running'))
      select (select count(*) from mine join jobs j using (id) where j.status not in ('succeeded','failed','canceled'))
           + (select count(*) from mine m left join jobs j using (id) where j.id is null),
             (select count(*) from webhook_deliveries d join mine m on d.job_id = m.id where d.status = 'pending');"""
    last_err = None
    while True:
        try:
            row = pg.query(sql_pending, ids=all_ids, products=products)[0]
            pending = {"jobs": int(row[0]), "webhooks": int(row[1])}
            last_err = None
            if pending["jobs"] == 0 and pending["webhooks"] == 0:
                t_drained = time.time()
                break
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            last_err = str(e)
        if time.time() > deadline:
            break
        time.sleep(1)
    if last_err:
        print(f"account {a.name}: PostgreSQL query failed at the drain deadline: {last_err}", file=sys.stderr)

    # -------- per job
    rows = pg.query("""
      select j.id, j.kind, j.status, extract(epoch from j.created_at), coalesce(extract(epoch from j.finished_at), 0),
             j.attempts, coalesce(j.error->>'code', ''),
             case when j.kind = 'batch' then (select count(*) from batch_items bi where bi.batch_id = j.id) else 0 end,
             case when j.kind = 'batch' then (select count(*) from batch_items bi left join jobs c on c.id = bi.job_id
                  where bi.batch_id = j.id and (bi.result is not null or c.status = 'succeeded')) else 0 end,
             case when j.kind = 'batch' then (select count(*) from batch_items bi join jobs c on c.id = bi.job_id
                  where bi.batch_id = j.id and c.status not in ('succeeded','failed','canceled')) else 0 end
      from ids left join jobs j using (id);""", ids=all_ids)
    jobs = {}
    for r in rows:
        if r[0]:
            jobs[r[0]] = {"kind": r[1], "status": r[2], "created": float(r[3]), "finished": float(r[4]),
                          "attempts": int(r[5]), "error": r[6], "items": int(r[7]), "items_ok": int(r[8]),
                          "items_open": int(r[9])}
    succeeded, failed_codes, stuck, missing = 0, {}, 0, 0
    for jid in accepted:
        j = jobs.get(jid)
        if j is None:
            missing += 1
            continue
        if j["status"] == "succeeded" and (j["kind"] != "batch" or j["items_ok"] == j["items"]):
            succeeded += 1
        elif j["status"] in TERMINAL:
            code = j["error"] or (f"batch items ok {j['items_ok']}/{j['items']}" if j["kind"] == "batch" else j["status"])
            failed_codes[code] = failed_codes.get(code, 0) + 1
        if j["status"] not in TERMINAL or j["items_open"]:
            stuck += 1
    orphan_stuck = sum(1 for o in orphans if o not in jobs or jobs[o]["status"] not in TERMINAL)
    # any other job of these products (e.g. of a request that failed without naming its job), still not terminal
    other_stuck = int(pg.query(f"""select count(*) from jobs j join prods on j.input->'product'->>'id' = prods.p
        where j.tenant_id = '{tenant}' and j.kind = 'validation' and j.status in ('queued','scheduled','running')
          and j.id not in (select id from ids);""", ids=all_ids, products=products)[0][0])
    # -------- duplicates: more than one validation job, or more than one result, for one product
    dup = pg.query(f"""
      select coalesce(sum(n - 1), 0) from (select count(*) n from jobs j join prods on j.input->'product'->>'id' = prods.p
        where j.tenant_id = '{tenant}' and j.kind = 'validation' group by prods.p having count(*) > 1) d;
      """, products=products)
    dup_jobs = int(dup[0][0])
    dup = pg.query("""
      select coalesce(sum(n - 1), 0) from (select count(*) n from validation_results v join prods on v.product_id = prods.p
        where v.product_source = 'aliexpress' group by prods.p having count(*) > 1) d;""", products=products)
    dup_results = int(dup[0][0])
    dup = pg.query("""
      select coalesce(sum(n - 1), 0) from (select count(*) n from webhook_deliveries d join ids on d.job_id = ids.id
        group by d.job_id, d.event_type having count(*) > 1) x;""", ids=all_ids)
    dup_outbox = int(dup[0][0])
    # -------- webhook events seen by the receiver
    events = {}
    bad_sig = 0
    if os.path.exists(a.hooks):
        for line in open(a.hooks):
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("job") in hook_jobs_expected:
                events.setdefault(e["job"], []).append(e)
                bad_sig += 0 if e.get("sig_ok") else 1
    hook_terminal = {j for j in hook_jobs_expected if j in jobs and jobs[j]["status"] in ("succeeded", "failed")}
    hook_missing = sum(1 for j in hook_terminal if j not in events)
    hook_dup_events = sum(len({e["webhook_id"] for e in ev}) - 1 for ev in events.values())
    hook_redelivered = sum(len(ev) - len({e["webhook_id"] for e in ev}) for ev in events.values())
    # -------- the API's view: GET /v1/jobs/{id} of a sample of accepted jobs must say what PostgreSQL says
    api_mismatch, api_checked = [], 0
    if a.api and a.key:
        apis = [urllib.parse.urlsplit(u) for u in a.api.split(",")]
        sample = sorted(accepted)[:: max(1, len(accepted) // a.api_sample)][: a.api_sample]
        for n, jid in enumerate(sample):
            u = apis[n % len(apis)]
            conn = http.client.HTTPConnection(u.hostname, u.port, timeout=10)
            try:
                conn.request("GET", f"/v1/jobs/{jid}", headers={"Authorization": f"Bearer {a.key}"})
                r = conn.getresponse()
                body = r.read()
                got = json.loads(body).get("status") if r.status == 200 else f"HTTP {r.status}"
            except (OSError, http.client.HTTPException, ValueError) as e:
                got = type(e).__name__
            finally:
                conn.close()
            api_checked += 1
            want = jobs.get(jid, {}).get("status")
            if got != want:
                api_mismatch.append(f"{jid}: API {got}, PostgreSQL {want}")
    # -------- latencies and recovery
    if begin is not None:
        w_end = end if end and end - begin >= 1 else begin + 5
        during = [r["lat"] for r in recs if begin <= r["t0"] <= w_end]
    else:
        during = []
    all_lat = [r["lat"] for r in recs]
    first_ok = drained = None
    if end is not None:
        row = pg.query(f"""select coalesce(extract(epoch from min(finished_at)), 0) from jobs
            where tenant_id = '{tenant}' and kind = 'validation' and status = 'succeeded'
              and finished_at >= to_timestamp({end});""")
        if float(row[0][0]) > 0:
            first_ok = max(0.0, float(row[0][0]) - end)
        before = [j["finished"] for j in jobs.values() if j["created"] <= end and j["finished"] > 0]
        if before:
            drained = max(0.0, max(before) - end)
    errs = [r for r in recs if not (200 <= r["status"] < 300) and r["status"] != 429]
    last_err_after = round(max(r["t0"] + r["lat"] for r in errs) - end, 2) if errs and end else None
    bad = {k: v for k, v in statuses.items()
           if not (k.isdigit() and (200 <= int(k) < 300 or int(k) in (429, 503)))}
    no_retry_after = sum(1 for r in recs if r["status"] in (429, 503) and not r.get("retry_after"))
    if no_retry_after:
        bad["503/429 without Retry-After"] = no_retry_after
    retries = [r for r in recs if r.get("retry")]
    failures = []
    lost = len(accepted) - succeeded
    if lost:
        failures.append(f"lost {lost}")
    if dup_jobs or dup_results or dup_outbox or hook_dup_events:
        failures.append("duplicates")
    if stuck or orphan_stuck or other_stuck or (pending and pending["webhooks"]):
        failures.append("stuck")
    if bad:
        failures.append("answers " + ", ".join(f"{k}: {v}" for k, v in sorted(bad.items())))
    if hook_missing:
        failures.append(f"{hook_missing} webhook events missing")
    if bad_sig:
        failures.append(f"{bad_sig} bad signatures")
    if api_mismatch:
        failures.append(f"GET /v1/jobs disagrees with PostgreSQL for {len(api_mismatch)} of {api_checked}")
    if not recs:
        failures.append("no load")
    out = {
        "name": a.name, "desc": marks.get("desc", a.name), "notes": marks["notes"],
        "fault_secs": round(end - begin, 1) if begin is not None and end is not None else None,
        "requests": len(recs), "planned": load.get("planned"), "statuses": statuses, "cache_hits_no_job": hits,
        "accepted": len(accepted), "accepted_batches": sum(1 for k in accepted.values() if k == "batch"),
        "succeeded": succeeded, "lost": lost, "failed_codes": failed_codes, "missing_rows": missing,
        "dup_jobs": dup_jobs, "dup_results": dup_results, "dup_outbox": dup_outbox,
        "stuck": stuck, "orphans": len(orphans), "orphan_stuck": orphan_stuck, "other_stuck": other_stuck,
        "pending_at_deadline": pending, "drain_wait": round((t_drained or time.time()) - drain_from, 1),
        "p99_fault": round(pct(during, 0.99), 3) if during else None, "n_fault": len(during),
        "p99_all": round(pct(all_lat, 0.99), 3) if all_lat else None,
        "max_lat": round(max(all_lat), 3) if all_lat else None,
        "first_ok_after": round(first_ok, 2) if first_ok is not None else None,
        "drained_after": round(drained, 2) if drained is not None else None,
        "last_error_after": last_err_after,
        "retried_jobs": sum(1 for j in jobs.values() if j["attempts"] > 1),
        "client_retries": len(retries), "client_retries_ok": sum(1 for r in retries if 200 <= r["status"] < 300),
        "hooks_expected": len(hook_jobs_expected), "hooks_received": len(events), "hooks_missing": hook_missing,
        "hooks_dup": hook_dup_events, "hooks_redelivered": hook_redelivered, "bad_sig": bad_sig,
        "api_checked": api_checked, "api_mismatch": api_mismatch[:10],
        "failures": failures, "ok": not failures,
    }
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
    print(f"{a.name}: {'PASS' if out['ok'] else 'FAIL ' + '; '.join(failures)} "
          f"(accepted {out['accepted']}, succeeded {succeeded}, dup {dup_jobs}/{dup_results}/{dup_outbox}/{hook_dup_events}, "
          f"stuck {stuck}+{orphan_stuck}+{other_stuck}, answers {statuses}, p99 fault {out['p99_fault']} s, "
          f"first ok +{out['first_ok_after']} s, drained +{out['drained_after']} s)", file=sys.stderr)
    return 0


# ------------------------------------------------------------------------------------ table
def fmt_s(v):
    return "–" if v is None else f"{v:.2f} s" if v < 10 else f"{v:.1f} s"


def markdown(rows):
    head = ("| Scenario | Fault | Requests | Accepted | Succeeded | Lost | Duplicated | Stuck | Answers by status "
            "| p99 submit during fault | Recovery: first completion / drained | Webhook events | Result |")
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        st = ", ".join(f"{k}: {v}" for k, v in sorted(r["statuses"].items()))
        dup = r["dup_jobs"] + r["dup_results"] + r["dup_outbox"] + r["hooks_dup"]
        stuck = r["stuck"] + r["orphan_stuck"] + r["other_stuck"] + ((r["pending_at_deadline"] or {}).get("webhooks") or 0)
        lost = f"{r['lost']}" + (" (" + ", ".join(f"{k}: {v}" for k, v in r["failed_codes"].items()) + ")"
                                 if r["failed_codes"] else "")
        acc = f"{r['accepted']}" + (f" ({r['accepted_batches']} batches)" if r["accepted_batches"] else "")
        hooks = f"{r['hooks_received']}/{r['hooks_expected']}"
        if r["hooks_redelivered"]:
            hooks += f" (+{r['hooks_redelivered']} redelivered)"
        fault = r["desc"] + (f" ({r['fault_secs']} s)" if r.get("fault_secs") else "")
        res = "pass" if r["ok"] else "**FAIL**: " + "; ".join(r["failures"])
        lines.append("| " + " | ".join(str(x).replace("|", "/") for x in [
            r["name"], fault, r["requests"], acc, r["succeeded"], lost, dup, stuck, st,
            fmt_s(r["p99_fault"]), f"{fmt_s(r['first_ok_after'])} / {fmt_s(r['drained_after'])}", hooks, res]) + " |")
    return "\n".join(lines) + "\n"


def cmd_amend(a):
    """Adds a failure (or a note) found after the accounting, e.g. by the worker probe."""
    row = json.load(open(a.row))
    if a.note:
        row["notes"].append(a.note)
    if a.failure:
        row["failures"].append(a.failure)
        row["ok"] = False
    with open(a.row, "w") as f:
        json.dump(row, f, indent=1)
    return 0


def cmd_table(a):
    rows, unreadable = [], []
    for p in a.rows:
        try:
            rows.append(json.load(open(p)))
        except (OSError, ValueError) as e:
            print(f"table: cannot read {p}: {e}", file=sys.stderr)
            unreadable.append(os.path.basename(p).split(".")[0])
    md = markdown(rows)
    if unreadable:
        md += "\n**FAIL**: no result for " + ", ".join(unreadable) + " (its accounting failed; see the log).\n"
    notes = []
    for r in rows:
        extra = list(r["notes"])
        if r["orphans"]:
            extra.append(f"{r['orphans']} job(s) named by a 503's Location, all ended" if not r["orphan_stuck"]
                         else f"{r['orphan_stuck']} of {r['orphans']} jobs named by an error answer never ended")
        if r["cache_hits_no_job"]:
            extra.append(f"{r['cache_hits_no_job']} cache hits (200, no job)")
        if r["retried_jobs"]:
            extra.append(f"{r['retried_jobs']} jobs needed more than one attempt")
        if r.get("client_retries"):
            extra.append(f"{r['client_retries']} 503s retried once by the client ({r['client_retries_ok']} then 2xx)")
        if r["last_error_after"] is not None:
            le = r["last_error_after"]
            extra.append(f"last non-2xx answer {le} s after the fault ended" if le >= 0
                         else f"last non-2xx answer {-le} s before the fault ended")
        if r.get("api_checked"):
            extra.append(f"GET /v1/jobs/{{id}} of {r['api_checked']} accepted jobs agreed with PostgreSQL"
                         if not r.get("api_mismatch") else f"GET /v1/jobs/{{id}} disagreed: {'; '.join(r['api_mismatch'][:3])}")
        extra.append(f"p99/max submit latency over the whole phase {fmt_s(r['p99_all'])} / {fmt_s(r['max_lat'])}")
        notes.append(f"- **{r['name']}**: " + "; ".join(extra) + ".")
    text = md + "\n" + "\n".join(notes) + "\n"
    with open(a.out, "w") as f:
        f.write(text)
    print(text)
    return 0 if rows and not unreadable and all(r["ok"] for r in rows) else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("receiver")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--secret", default="")
    p.add_argument("--out", required=True)
    p = sub.add_parser("load")
    p.add_argument("--api", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--tag", type=int, required=True)
    p.add_argument("--duration", type=float, default=25)
    p.add_argument("--rate", type=float, default=100)
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--batch-every", type=float, default=2.0)
    p.add_argument("--batch-size", type=int, default=10)
    p.add_argument("--batches", type=int, default=0)
    p.add_argument("--webhook-url", default="")
    p.add_argument("--webhook-every", type=int, default=10)
    p.add_argument("--concurrency", type=int, default=48)
    p.add_argument("--timeout", type=float, default=15)
    p.add_argument("--retry-503", type=int, default=1, help="retry a 503 once (1) or not (0)")
    p.add_argument("--out", required=True)
    p = sub.add_parser("account")
    p.add_argument("--name", required=True)
    p.add_argument("--load", required=True)
    p.add_argument("--marks", required=True)
    p.add_argument("--psql-url", required=True)
    p.add_argument("--tenant", required=True)
    p.add_argument("--hooks", required=True)
    p.add_argument("--drain-secs", type=float, default=90)
    p.add_argument("--api", default="", help="APIs to read a sample of jobs back from (GET /v1/jobs/{id})")
    p.add_argument("--key", default="")
    p.add_argument("--api-sample", type=int, default=50)
    p.add_argument("--out", required=True)
    p = sub.add_parser("amend")
    p.add_argument("--row", required=True)
    p.add_argument("--failure", default="")
    p.add_argument("--note", default="")
    p = sub.add_parser("table")
    p.add_argument("--out", required=True)
    p.add_argument("rows", nargs="+")
    a = ap.parse_args()
    return {"receiver": cmd_receiver, "load": cmd_load, "account": cmd_account, "amend": cmd_amend,
            "table": cmd_table}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
