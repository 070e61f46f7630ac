#!/usr/bin/env python3
"""DropForge fairness benchmark: does an interactive tenant wait behind another tenant's bulk?
(python3 stdlib + psql; the HTTP client is bench/loadgen.py's).

    fairness.py run --key-a KEY --key-b KEY --database-url URL [--url http://127.0.0.1:8080]
    fairness.py rounds --scratch-url URL --api-bin target/release/dropforge-api [--sizes 10000,100000,1000000]

run     Tenant B alone: --b-n (100) single validations, open loop at --b-rate (10/s), each with
        `Prefer: wait=30` (a 202 is polled until the job ends), distinct uncached products.
        Tenant A alone (unless --skip-a-alone): --a-items (10,000) distinct products as batches of
        50 from --a-clients (8) clients, each sending its next batch as soon as the last one was
        accepted; A's drain time = first submit -> last item finished (PostgreSQL).
        Contention: A floods again; once >= --a-threshold (8,000) of A's items are queued (or, if
        the worker drains faster than that builds up, as soon as A's last batch was accepted), B
        repeats its singles.
        Reports B's submit->result p50/p95/p99/max alone and under contention (client side, and
        created_at -> finished_at from PostgreSQL), 429s and non-200 answers seen by B, A's drain
        time under contention against A alone, and the dispatch share per tenant per second from
        started_at with Jain's fairness index (below; the same from finished_at as the "finish
        share", which is what an upstream budget decides: a job may start and then wait for its
        budget inside the worker). --cancel-a cancels A's unfinished batches at
        the end (DELETE /v1/jobs/{id}) instead of waiting for A to drain (the scaled-down run).
rounds  Dispatch round time against the backlog size: a scratch database (dropped and re-created,
        migrated with `dropforge-api migrate`) is seeded with queued, undispatched validation
        rows (generate_series, 50 tenants) up to each size in turn; at each size the dispatcher's
        candidate selection is timed with EXPLAIN ANALYZE under plan_cache_mode =
        force_generic_plan (prepared statement, 15 runs, each rolled back). The statement timed is
        the select at the head of `take_due` (common/src/db/transitions.rs) with LIMIT 1000:
          with fair-scheduling columns (jobs.vft):
            select id, tenant_id, vft from jobs where kind = $1 and class = $2 and status = 'queued'
              and dispatched_at is null and next_run_at <= now() order by vft, id limit $3
              for update skip locked
          without them (the FIFO dispatcher):
            select id from jobs where kind = $1 and status = 'queued' and dispatched_at is null
              and next_run_at <= now() order by next_run_at limit $2 for update skip locked
        (pg_stat_statements is not preloaded on the development server, so the dispatcher's own
        executions cannot be read from it.)

Jain's index: per second s of the contention window, each tenant's demand d_i(s) is its jobs
that waited at some moment of s (created before s ended, not started before s began); the
capacity C(s) is all jobs started in s; the max-min fair share f_i(s) water-fills C(s) over the
demands. J(s) = (sum x_i)^2 / (n * sum x_i^2) with x_i = started_i(s) / f_i(s), over the seconds
where both tenants had demand: 1.0 is a fair split (B gets all it asks for, A the rest), 0.5 is
one tenant served alone.

Every run appends JSON lines to --out (bench/results/results.jsonl) and prints a summary table.
Bounded: --deadline seconds for a whole `run`; every target must be loopback.
"""
import argparse
import asyncio
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import loadgen  # noqa: E402
from loadgen import Conn, HttpError, Pool, job_id_of, job_status, parse_target, pct, r1  # noqa: E402


# --------------------------------------------------------------------------- psql
def psql(url, sql, timeout=120):
    out = subprocess.run(["psql", url, "-XAtq", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"psql failed: {out.stderr.strip()[:500]}")
    return [line.split("\t") for line in out.stdout.splitlines() if line]


def psql_file(url, script, timeout=600):
    out = subprocess.run(["psql", url, "-XAtq", "-v", "ON_ERROR_STOP=1"], input=script,
                         capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"psql failed: {out.stderr.strip()[:500]}")
    return out.stdout


def tenant_of_key(db, name):
    rows = psql(db, f"select id from tenants where name = '{name}'")
    if not rows:
        raise RuntimeError(f"no tenant named {name!r}")
    return rows[0][0]


def epoch(ts):
    return None if ts in (None, "") else float(ts)


def jobs_since(db, tenant, since):
    """(id, created, started, finished, status) of a tenant's validation jobs created since `since`."""
    rows = psql(db, f"""select id, extract(epoch from created_at), extract(epoch from started_at),
                               extract(epoch from finished_at), status
                        from jobs where tenant_id = '{tenant}' and kind = 'validation'
                          and created_at >= to_timestamp({since})""")
    return [(r[0], epoch(r[1]), epoch(r[2]), epoch(r[3]), r[4]) for r in rows]


def unfinished(db, tenant, since):
    rows = psql(db, f"""select count(*) filter (where status not in ('succeeded', 'failed', 'canceled')),
                               count(*) filter (where status = 'queued')
                        from jobs where tenant_id = '{tenant}' and kind = 'validation'
                          and created_at >= to_timestamp({since})""")
    return int(rows[0][0]), int(rows[0][1])


# --------------------------------------------------------------------------- tenant B: singles
async def b_singles(args, base, key, nonce, n, rate, deadline_s):
    """n singles at `rate`/s, open loop; returns latencies (ms), status counts and wall times."""
    host, port, _ = parse_target(args.url)
    pool = Pool(host, port, min(n, 200), io_timeout=args.wait + 30)
    post = {"Authorization": f"Bearer {key}", "Content-Type": "application/json",
            "Accept": "application/json", "Prefer": f"wait={args.wait}"}
    get = {"Authorization": f"Bearer {key}", "Accept": "application/json", "Prefer": "wait=5"}
    lat, codes, errors = [], {}, {}
    t_start = time.time()
    t0 = time.monotonic()

    def count(d, k):
        d[k] = d.get(k, 0) + 1

    async def one(i):
        await asyncio.sleep(max(0.0, t0 + i / rate - time.monotonic()))
        body = json.dumps({"product": {"source": "aliexpress", "id": f"1005{nonce:06d}{i:06d}"}}).encode()
        start = time.monotonic()
        end_by = start + deadline_s
        try:
            st, h, b = await pool.request("POST", base + "/v1/validations", post, body)
        except (HttpError, OSError, asyncio.TimeoutError) as e:
            count(errors, f"submit: {type(e).__name__}")
            return
        count(codes, str(st))
        if st == 202:
            jid = job_id_of(h, b)
            while jid and time.monotonic() < end_by:
                try:
                    gst, _, gb = await pool.request("GET", f"{base}/v1/jobs/{jid}", get)
                except (HttpError, OSError, asyncio.TimeoutError) as e:
                    count(errors, f"poll: {type(e).__name__}")
                    return
                status = job_status(gb) if gst == 200 else None
                if status == "succeeded":
                    break
                if status in ("failed", "canceled") or gst != 200:
                    count(errors, f"job {status or gst}")
                    return
                await asyncio.sleep(0.05)
            else:
                count(errors, "timeout" if jid else "202 without job id")
                return
        elif st != 200:
            count(errors, f"HTTP {st}")
            return
        lat.append((time.monotonic() - start) * 1000.0)

    await asyncio.gather(*(one(i) for i in range(n)))
    pool.close()
    lat.sort()
    return {"n": n, "rate_per_s": rate, "completed": len(lat), "http": codes, "errors": errors,
            "http_429": codes.get("429", 0), "t_start": t_start, "t_end": time.time(),
            "p50_ms": r1(pct(lat, 50)), "p95_ms": r1(pct(lat, 95)), "p99_ms": r1(pct(lat, 99)),
            "max_ms": r1(lat[-1] if lat else None)}


# --------------------------------------------------------------------------- tenant A: batches
async def a_flood(args, base, key, nonce, items):
    """`items` products as batches of --a-batch from --a-clients clients, back to back."""
    host, port, _ = parse_target(args.url)
    pool = Pool(host, port, args.a_clients, io_timeout=60)
    hdrs = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", "Accept": "application/json"}
    ids = [f"1005{nonce:06d}{i:06d}" for i in range(items)]
    groups = [ids[i:i + args.a_batch] for i in range(0, len(ids), args.a_batch)]
    queue = asyncio.Queue()
    for g in groups:
        queue.put_nowait(g)
    accept, codes, batches = [], {}, []
    t_start = time.time()

    async def client():
        while not queue.empty():
            g = queue.get_nowait()
            body = json.dumps({"products": [{"source": "aliexpress", "id": p} for p in g]}).encode()
            t = time.monotonic()
            try:
                st, h, b = await pool.request("POST", base + "/v1/validations/batch", hdrs, body)
            except (HttpError, OSError, asyncio.TimeoutError) as e:
                codes[type(e).__name__] = codes.get(type(e).__name__, 0) + 1
                continue
            accept.append((time.monotonic() - t) * 1000.0)
            codes[str(st)] = codes.get(str(st), 0) + 1
            jid = job_id_of(h, b)
            if st in (200, 202) and jid:
                batches.append(jid)

    await asyncio.gather(*(client() for _ in range(args.a_clients)))
    pool.close()
    accept.sort()
    return {"items": items, "batches": len(groups), "accepted": len(batches), "http": codes,
            "batch_ids": batches, "t_start": t_start, "t_submitted": time.time(),
            "accept_p50_ms": r1(pct(accept, 50)), "accept_p95_ms": r1(pct(accept, 95))}


async def cancel_batches(args, base, key, batch_ids):
    host, port, _ = parse_target(args.url)
    conn = Conn(host, port, io_timeout=30)
    done = 0
    for jid in batch_ids:
        try:
            st, _, _ = await conn.request("DELETE", f"{base}/v1/jobs/{jid}", {"Authorization": f"Bearer {key}"})
            done += st in (200, 202, 204, 409)
        except (HttpError, OSError, asyncio.TimeoutError):
            pass
    conn.close()
    return done


async def wait_drained(db, tenant, since, deadline):
    while time.monotonic() < deadline:
        left, _ = unfinished(db, tenant, since)
        if left == 0:
            return True
        await asyncio.sleep(0.5)
    return False


def drain_figures(db, tenant, since):
    rows = jobs_since(db, tenant, since)
    fin = [r[3] for r in rows if r[3] is not None]
    ok = sum(1 for r in rows if r[4] == "succeeded")
    if not fin:
        return {"jobs": len(rows), "succeeded": ok, "drain_s": None, "per_s": None}
    drain = max(fin) - since
    return {"jobs": len(rows), "succeeded": ok, "drain_s": round(drain, 2),
            "per_s": round(len(fin) / drain, 1) if drain > 0 else None}


def server_latency(db, tenant, since, until):
    rows = [r for r in jobs_since(db, tenant, since) if r[1] is not None and r[1] <= until]
    lat = sorted((r[3] - r[1]) * 1000.0 for r in rows if r[3] is not None)
    return {"jobs": len(rows), "finished": len(lat), "p50_ms": r1(pct(lat, 50)), "p95_ms": r1(pct(lat, 95)),
            "p99_ms": r1(pct(lat, 99)), "max_ms": r1(lat[-1] if lat else None)}


# --------------------------------------------------------------------------- shares, Jain
def max_min_shares(capacity, demand):
    """Water-filling of `capacity` over {tenant: demand}."""
    share, left, todo = {}, float(capacity), sorted(demand.items(), key=lambda kv: kv[1])
    while todo:
        each = left / len(todo)
        t, d = todo[0]
        if d <= each:
            share[t] = float(d)
            left -= d
            todo.pop(0)
        else:
            for t, _ in todo:
                share[t] = each
            break
    return share


def jain(xs):
    s, q = sum(xs), sum(x * x for x in xs)
    return (s * s) / (len(xs) * q) if q > 0 else None


def dispatch_shares(rows_by_tenant, t_from, t_to, col=2):
    """Per second of [t_from, t_to): jobs started (col 2; finished: col 3) per tenant, demand
    (jobs created and not yet started/finished) per tenant, Jain's index."""
    seconds = []
    s = int(t_from)
    while s < t_to:
        started, demand = {}, {}
        for name, rows in rows_by_tenant.items():
            started[name] = sum(1 for r in rows if r[col] is not None and s <= r[col] < s + 1)
            demand[name] = sum(1 for r in rows if r[1] is not None and r[1] < s + 1
                               and (r[col] is None or r[col] >= s))
        cap = sum(started.values())
        active = [n for n in demand if demand[n] > 0]
        j = None
        if len(active) >= 2 and cap > 0:
            fair = max_min_shares(cap, {n: demand[n] for n in active})
            xs = [min(started[n] / fair[n], 1.0) if fair[n] > 0 else 1.0 for n in active]
            j = jain(xs)
        seconds.append({"t": s - int(t_from), "started": started, "demand": demand,
                        "jain": None if j is None else round(j, 3)})
        s += 1
    js = [x["jain"] for x in seconds if x["jain"] is not None]
    return seconds, {"seconds_contended": len(js), "jain_mean": round(sum(js) / len(js), 3) if js else None,
                     "jain_min": min(js) if js else None}


# --------------------------------------------------------------------------- run
async def run(args):
    _, _, base = parse_target(args.url)
    deadline = time.monotonic() + args.deadline
    db = args.database_url
    ta, tb = tenant_of_key(db, args.tenant_a), tenant_of_key(db, args.tenant_b)
    nonce = loadgen.random.SystemRandom().randrange(10**6 - 10)
    rec = {"scenario": "fairness" + (f"_{args.variant}" if args.variant else ""),
           "b_n": args.b_n, "b_rate": args.b_rate, "a_items": args.a_items, "a_clients": args.a_clients,
           "a_threshold": args.a_threshold, "prefer_wait_s": args.wait, "nonce": f"{nonce:06d}"}

    def left():
        return max(5.0, deadline - time.monotonic())

    print(f"fairness: B alone, {args.b_n} singles at {args.b_rate}/s", flush=True)
    b0 = await b_singles(args, base, args.key_b, nonce, args.b_n, args.b_rate, min(left(), args.b_deadline))
    await wait_drained(db, tb, b0["t_start"], time.monotonic() + min(left(), 30))
    b0["server"] = server_latency(db, tb, b0["t_start"], b0["t_end"])
    rec["b_alone"] = b0

    if not args.skip_a_alone:
        print(f"fairness: A alone, {args.a_items} items in batches of {args.a_batch} from {args.a_clients} clients",
              flush=True)
        a0 = await a_flood(args, base, args.key_a, nonce + 1, args.a_items)
        drained = await wait_drained(db, ta, a0["t_start"], time.monotonic() + left())
        a0.update(drain_figures(db, ta, a0["t_start"]), drained=drained)
        a0.pop("batch_ids")
        rec["a_alone"] = a0

    print("fairness: A floods, then B again", flush=True)
    a_task = asyncio.create_task(a_flood(args, base, args.key_a, nonce + 2, args.a_items))
    t_a = time.time()
    queued = 0
    while time.monotonic() < deadline:
        _, queued = unfinished(db, ta, t_a - 1)
        if queued >= args.a_threshold or a_task.done():
            break
        await asyncio.sleep(0.1)
    rec["a_queued_when_b_started"] = queued
    b1 = await b_singles(args, base, args.key_b, nonce + 3, args.b_n, args.b_rate, min(left(), args.b_deadline))
    a1 = await a_task
    batch_ids = a1.pop("batch_ids")
    if args.cancel_a:
        # the scaled-down run: B's figures are in; A's backlog would take minutes at the real budget
        rows = jobs_since(db, ta, a1["t_start"])
        a1["finished_before_cancel"] = sum(1 for r in rows if r[3] is not None)
        a1["canceled_batches"] = await cancel_batches(args, base, args.key_a, batch_ids)
        await wait_drained(db, tb, b1["t_start"], time.monotonic() + 10)
    else:
        a1["drained"] = await wait_drained(db, ta, a1["t_start"], time.monotonic() + left())
        a1.update(drain_figures(db, ta, a1["t_start"]))
    b1["server"] = server_latency(db, tb, b1["t_start"], b1["t_end"])
    rec["b_contended"], rec["a_contended"] = b1, a1
    if rec.get("a_alone", {}).get("drain_s") and a1.get("drain_s"):
        rec["a_throughput_vs_alone"] = round(rec["a_alone"]["drain_s"] / a1["drain_s"], 3)
    if b0["p99_ms"] is not None and b1["p99_ms"] is not None:
        rec["b_p99_delta_ms"] = r1(b1["p99_ms"] - b0["p99_ms"])
    rec["b_429"] = b0["http_429"] + b1["http_429"]

    # dispatch shares over B's contended window (its first submit to its last result)
    rows = {"A": jobs_since(db, ta, a1["t_start"]), "B": jobs_since(db, tb, b1["t_start"])}
    rows["B"] = [r for r in rows["B"] if r[1] <= b1["t_end"]]
    b_done = [r[3] for r in rows["B"] if r[3] is not None]
    t_to = max(b_done) if b_done else b1["t_end"]
    seconds, summary = dispatch_shares(rows, b1["t_start"], t_to)
    rec["dispatch_share"] = summary
    rec["dispatch_per_second"] = [[x["t"], x["started"]["A"], x["started"]["B"], x["demand"]["A"],
                                   x["demand"]["B"], x["jain"]] for x in seconds]
    _, rec["finish_share"] = dispatch_shares(rows, b1["t_start"], t_to, col=3)
    print_run(rec)
    loadgen.emit(args, rec)
    return 0 if rec["b_429"] == 0 and b1["completed"] == args.b_n else 1


def print_run(rec):
    b0, b1 = rec["b_alone"], rec["b_contended"]
    a0, a1 = rec.get("a_alone"), rec["a_contended"]

    def f(x, unit=""):
        return "-" if x is None else f"{x:,.1f}{unit}" if isinstance(x, float) else f"{x}{unit}"

    print(f"\n## {rec['scenario']}: B = {rec['b_n']} singles at {rec['b_rate']}/s (Prefer: wait={rec['prefer_wait_s']}), "
          f"A = {rec['a_items']} items in batches from {rec['a_clients']} clients; "
          f"A's queued items when B started: {rec['a_queued_when_b_started']}\n")
    print("| | completed | client p50 / p95 / p99 / max ms | server created->finished p50 / p95 / p99 / max ms | HTTP |")
    print("|---|---|---|---|---|")
    for name, b in (("B alone", b0), ("B behind A", b1)):
        s = b["server"]
        print(f"| {name} | {b['completed']}/{b['n']} | {f(b['p50_ms'])} / {f(b['p95_ms'])} / {f(b['p99_ms'])} / "
              f"{f(b['max_ms'])} | {f(s['p50_ms'])} / {f(s['p95_ms'])} / {f(s['p99_ms'])} / {f(s['max_ms'])} | "
              f"{b['http']} {b['errors'] or ''} |")
    print()
    if a0:
        print(f"- A alone: {a0['items']} items drained in {f(a0['drain_s'], ' s')} ({f(a0['per_s'])}/s), "
              f"batch accept p50 {f(a0['accept_p50_ms'])} ms, HTTP {a0['http']}")
    if "drain_s" in a1:
        print(f"- A with B: drained in {f(a1['drain_s'], ' s')} ({f(a1['per_s'])}/s); "
              f"A keeps {f(rec.get('a_throughput_vs_alone'))} of its solo throughput (goal >= 0.95)")
    else:
        print(f"- A with B: {a1.get('finished_before_cancel')} of {a1['items']} items finished before A was "
              f"canceled ({a1.get('canceled_batches')} batches canceled)")
    print(f"- B's p99 behind A minus alone: {f(rec.get('b_p99_delta_ms'), ' ms')} (goal <= 250 ms); "
          f"429s seen by B: {rec['b_429']} (goal 0)")
    d = rec["dispatch_share"]
    print(f"- dispatch share while B was active: Jain's index (max-min fair = 1.0) mean {f(d['jain_mean'])}, "
          f"min {f(d['jain_min'])} over {d['seconds_contended']} contended seconds")
    d = rec["finish_share"]
    print(f"- finish share (the same from finished_at): Jain mean {f(d['jain_mean'])}, min {f(d['jain_min'])} "
          f"over {d['seconds_contended']} contended seconds")
    print("  dispatch per second [t, started A, started B, waiting A, waiting B, Jain]: "
          + " ".join(str(x) for x in rec["dispatch_per_second"][:20])
          + (" ..." if len(rec["dispatch_per_second"]) > 20 else ""))


# --------------------------------------------------------------------------- rounds
FAIR_SQL = ("select id, tenant_id, vft from jobs where kind = $1 and class = $2 and status = 'queued' "
            "and dispatched_at is null and next_run_at <= now() order by vft, id limit $3 for update skip locked")
FIFO_SQL = ("select id from jobs where kind = $1 and status = 'queued' and dispatched_at is null "
            "and next_run_at <= now() order by next_run_at limit $2 for update skip locked")


def rounds(args):
    url, sizes = args.scratch_url, [int(s) for s in args.sizes.split(",")]
    name = url.rsplit("/", 1)[1].split("?")[0]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    if not name.startswith(("dropforge_bench", "dropforge_fairness")):
        sys.exit(f"fairness: refusing to drop {name!r}: the scratch database must be named dropforge_fairness*")
    psql(admin, f"drop database if exists {name} with (force)")
    psql(admin, f"create database {name}")
    mig = subprocess.run([args.api_bin, "migrate"], env={**os.environ, "DATABASE_URL": url},
                         capture_output=True, text=True, timeout=300)
    if mig.returncode != 0:
        raise RuntimeError(f"migrate failed: {mig.stderr.strip()[-500:]}")
    fair = bool(psql(url, "select 1 from information_schema.columns where table_name = 'jobs' and column_name = 'vft'"))
    psql(url, "insert into tenants (id, name, webhook_secret) "
              "select gen_random_uuid(), 'round-' || g, md5(g::text) from generate_series(1, 50) g")
    sql = FAIR_SQL if fair else FIFO_SQL
    params, args_sql = ("(text, smallint, bigint)", "('validation', 1, 1000)") if fair else \
        ("(text, bigint)", "('validation', 1000)")
    results, have = [], 0
    for size in sizes:
        t = time.monotonic()
        cols = ", class, vft" if fair else ""
        vals = ", 1, (g / 50) * 1000" if fair else ""
        psql_file(url, f"""set synchronous_commit = off;
insert into jobs (id, tenant_id, kind, status, input, next_run_at, created_at{cols})
select gen_random_uuid(), t.ids[1 + g % 50], 'validation', 'queued', '{{}}'::jsonb,
       now() - interval '1 minute', now() - interval '1 minute'{vals}
from generate_series({have + 1}, {size}) g, (select array_agg(id order by name) ids from tenants) t;
analyze jobs;
""", timeout=900)
        seed_s = time.monotonic() - t
        have = size
        script = ["set plan_cache_mode = force_generic_plan;", f"prepare take_due{params} as {sql};"]
        for _ in range(args.reps):
            script += ["begin;", f"explain (analyze, format json) execute take_due{args_sql};", "rollback;"]
        out = psql_file(url, "\n".join(script) + "\n")
        times, nodes = [], set()
        for plan in _json_docs(out):
            times.append(plan[0]["Execution Time"])
            _walk(plan[0]["Plan"], nodes)
        times.sort()
        res = {"queued_rows": size, "statement": "fair" if fair else "fifo", "seed_s": round(seed_s, 1),
               "mean_ms": round(sum(times) / len(times), 3), "p50_ms": round(pct(times, 50), 3),
               "max_ms": round(times[-1], 3), "plan_nodes": sorted(nodes)}
        print(f"rounds: {size:>9,} queued rows: take_due select mean {res['mean_ms']} ms, median {res['p50_ms']} ms, "
              f"max {res['max_ms']} ms ({'seq scan!' if any('Seq Scan' in n for n in nodes) else 'index'}: "
              f"{', '.join(res['plan_nodes'])}); seeded in {res['seed_s']} s", flush=True)
        results.append(res)
    rec = {"scenario": "fairness_rounds", "statement": sql, "reps": args.reps, "rounds": results}
    if len(results) >= 2 and results[0]["mean_ms"] > 0:
        rec["growth_first_to_last"] = round(results[-1]["mean_ms"] / results[0]["mean_ms"], 2)
    loadgen.emit(args, rec)
    if not args.keep:
        psql(admin, f"drop database if exists {name} with (force)")
    return 0


def _json_docs(text):
    dec, i, out = json.JSONDecoder(), 0, []
    while True:
        j = text.find("[", i)
        if j < 0:
            return out
        doc, i = dec.raw_decode(text, j)
        out.append(doc)


def _walk(node, acc):
    acc.add(node["Node Type"] + (f" on {node['Index Name']}" if "Index Name" in node else ""))
    for child in node.get("Plans", []):
        _walk(child, acc)


# --------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--out", default=None, help="append JSON lines here")
    common.add_argument("--label", default=None)
    r = sub.add_parser("run", parents=[common])
    r.add_argument("--url", default=os.environ.get("DF_API_URL", "http://127.0.0.1:8080"))
    r.add_argument("--key-a", required=True)
    r.add_argument("--key-b", required=True)
    r.add_argument("--tenant-a", default="bench-fair-a")
    r.add_argument("--tenant-b", default="bench-fair-b")
    r.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    r.add_argument("--variant", default="", help="suffix of the scenario name (e.g. budget10)")
    r.add_argument("--b-n", type=int, default=100)
    r.add_argument("--b-rate", type=float, default=10.0)
    r.add_argument("--b-deadline", type=float, default=90.0, help="per single: give up after this many s")
    r.add_argument("--wait", type=int, default=30)
    r.add_argument("--a-items", type=int, default=10000)
    r.add_argument("--a-batch", type=int, default=50)
    r.add_argument("--a-clients", type=int, default=8)
    r.add_argument("--a-threshold", type=int, default=8000)
    r.add_argument("--skip-a-alone", action="store_true")
    r.add_argument("--cancel-a", action="store_true", help="cancel A's batches after B instead of draining")
    r.add_argument("--deadline", type=float, default=240.0, help="hard bound of the whole run, s")
    o = sub.add_parser("rounds", parents=[common])
    o.add_argument("--scratch-url", required=True, help="database to (re)create: its name must start with dropforge_fairness")
    o.add_argument("--api-bin", required=True, help="dropforge-api binary (for migrate)")
    o.add_argument("--sizes", default="10000,100000,1000000")
    o.add_argument("--reps", type=int, default=15)
    o.add_argument("--keep", action="store_true", help="keep the scratch database")
    args = ap.parse_args()
    if args.cmd == "rounds":
        return rounds(args)
    if not args.database_url:
        ap.error("run needs --database-url (or DATABASE_URL)")
    if args.b_n < 1 or args.a_items < args.a_batch or not 1 <= args.a_batch <= 50 or args.b_rate <= 0:
        ap.error("need b_n >= 1, a_items >= a_batch, 1 <= a_batch <= 50, b_rate > 0")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
