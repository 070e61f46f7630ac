#!/usr/bin/env python3
"""DropForge load generator for the job scenarios (python3 stdlib only: asyncio + raw HTTP/1.1).

    loadgen.py uncached --key KEY [--url http://127.0.0.1:8080] [-n 10000] [-c 1000] [--wait 30]
    loadgen.py pickup   --key KEY --database-url URL [-m 200] [--gap-ms 200-400]

uncached  submits N distinct products (16-digit ids: 1005 + 6-digit run nonce + 6-digit counter)
          over C keep-alive connections with `Prefer: wait=W`. A 200 completes the validation; a
          202 is polled on GET /v1/jobs/{id} until `succeeded` (its latency includes the polling).
          Reports validations completed per second (completed / wall time from the first submit
          to the last result), submit->result p50/p95/p99/max, and the 200/202/error counts.
          With --wait 0 nothing waits on the server: every job is accepted (202) and polled, so
          the connection count no longer caps throughput (Little's law: with waiting requests,
          completed/s <= C / mean latency).
batches   submits N distinct products as batches of B (POST /v1/validations/batch) from C clients;
          each client keeps --window W batches in flight (default 1: it sends a batch, waits for
          it to end with GET /v1/jobs/{id} and `Prefer: wait=5`, then sends its next one; with W
          > 1 it sends a new batch as soon as one of its W ends, so C x W x B validations are in
          flight; --open: never waits, everything at once).
          --probe K (with --open): the last K batches are held back and sent by one more client,
          one every --probe-ms (100) once the others have sent theirs, while the worker works
          through their backlog; their accept latency is reported on its own, with how many were
          sent before the backlog's last batch ended (the worker still saturated).
          Reports the accept latency of a batch (p50/p95/p99), submit->batch complete
          p50/p99, and validations completed per second.
pickup    submits M jobs one at a time, one every 200-400 ms (random), without waiting, so the
          worker is idle when each arrives; then waits for them to finish and reads
          `started_at - created_at` of those jobs from PostgreSQL (psql) and reports the
          p50/p95/p99/max pickup latency in ms.

Each run appends one JSON line to --out (bench/results/results.jsonl) and prints a summary.
Every run is bounded: --deadline seconds overall (default 300) and a fixed request count.
Targets must be loopback (127.0.0.1, localhost, [::1]).
"""
import argparse
import asyncio
import json
import os
import random
import re
import resource
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import proc_cpu  # noqa: E402

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
JOB_PATH_RE = re.compile(r"/v1/jobs/([^/?#\s]+)")


# --------------------------------------------------------------------------- HTTP/1.1 client
class HttpError(Exception):
    pass


class Conn:
    """One keep-alive HTTP/1.1 connection (reconnects when the server closes it)."""

    def __init__(self, host, port, io_timeout):
        self.host, self.port, self.io_timeout = host, port, io_timeout
        self.reader = self.writer = None

    async def _connect(self):
        self.reader, self.writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port, limit=1 << 20), self.io_timeout)

    def close(self):
        if self.writer is not None:
            try:
                self.writer.close()
            except Exception:  # noqa: BLE001 - closing a broken socket
                pass
        self.reader = self.writer = None

    async def request(self, method, path, headers, body=b"", timeout=None):
        """Returns (status, headers{lower: value}, body bytes). One retry on a stale keep-alive."""
        for attempt in (0, 1):
            fresh = self.writer is None
            if fresh:
                await self._connect()
            try:
                return await asyncio.wait_for(self._roundtrip(method, path, headers, body),
                                              timeout or self.io_timeout)
            except (ConnectionError, asyncio.IncompleteReadError, HttpError) as e:
                self.close()
                if fresh or attempt == 1:
                    raise HttpError(f"{type(e).__name__}: {e}") from e
            except BaseException:
                self.close()
                raise
        raise HttpError("unreachable")

    async def _roundtrip(self, method, path, headers, body):
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await self.writer.drain()
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("connection closed before the response")
        parts = status_line.split(None, 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1."):
            raise HttpError(f"bad status line {status_line[:80]!r}")
        status = int(parts[1])
        hdrs = {}
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n"):
                break
            if not line:
                raise ConnectionError("connection closed in the headers")
            k, _, v = line.decode("latin-1").partition(":")
            hdrs[k.strip().lower()] = v.strip()
        data = b""
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            pass
        elif hdrs.get("transfer-encoding", "").lower().endswith("chunked"):
            chunks = []
            while True:
                size = int((await self.reader.readline()).split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while (await self.reader.readline()) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            data = b"".join(chunks)
        elif "content-length" in hdrs:
            data = await self.reader.readexactly(int(hdrs["content-length"]))
        else:
            data = await self.reader.read()
            self.close()
            return status, hdrs, data
        if hdrs.get("connection", "").lower() == "close":
            self.close()
        return status, hdrs, data


class Pool:
    """Up to `size` connections, each used by one request at a time."""

    def __init__(self, host, port, size, io_timeout):
        self.free = asyncio.Queue()
        for _ in range(size):
            self.free.put_nowait(Conn(host, port, io_timeout))
        self.conns_total = size

    async def request(self, *args, **kw):
        conn = await self.free.get()
        try:
            return await conn.request(*args, **kw)
        finally:
            self.free.put_nowait(conn)

    def close(self):
        while not self.free.empty():
            self.free.get_nowait().close()


# --------------------------------------------------------------------------- helpers
def parse_target(url):
    u = urllib.parse.urlsplit(url)
    if u.scheme != "http" or u.hostname not in LOOPBACK:
        sys.exit(f"loadgen: refusing non-loopback or non-http target {url!r}")
    return u.hostname, u.port or 80, u.path.rstrip("/")


def pct(sorted_vals, p):
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not sorted_vals:
        return None
    k = max(0, min(len(sorted_vals) - 1, int(-(-p * len(sorted_vals) // 100)) - 1))
    return sorted_vals[k]


def r1(x):
    return None if x is None else round(x, 1)


def raise_nofile(need):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, max(soft, need))
    if want > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    if want < need:
        print(f"loadgen: warning: open-file limit {want} < {need} connections", file=sys.stderr)


def product_ids(n, nonce=None):
    """n distinct 16-digit numeric ids: 1005 + 6-digit run nonce + 6-digit counter."""
    if n > 1_000_000:
        sys.exit("loadgen: at most 1,000,000 products per run")
    nonce = random.SystemRandom().randrange(10**6) if nonce is None else nonce
    return [f"1005{nonce:06d}{i:06d}" for i in range(n)], nonce


def job_id_of(hdrs, body):
    loc = hdrs.get("location", "")
    m = JOB_PATH_RE.search(loc)
    if m:
        return m.group(1)
    try:
        doc = json.loads(body or b"{}")
    except ValueError:
        return None
    for obj in (doc, doc.get("job") if isinstance(doc, dict) else None):
        if isinstance(obj, dict):
            for k in ("id", "job_id", "jobId"):
                if isinstance(obj.get(k), str):
                    return obj[k]
    return None


def job_status(body):
    try:
        doc = json.loads(body or b"{}")
    except ValueError:
        return None
    if isinstance(doc, dict):
        st = doc.get("status")
        if st is None and isinstance(doc.get("job"), dict):
            st = doc["job"].get("status")
        return st
    return None


def emit(args, record):
    record = {"ts": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **record}
    if args.label:
        record["label"] = args.label
    if args.out:
        os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
        with open(args.out, "a") as f:
            f.write(json.dumps(record, sort_keys=False) + "\n")
    return record


# --------------------------------------------------------------------------- uncached
async def run_uncached(args):
    host, port, base = parse_target(args.url)
    raise_nofile(args.concurrency + 256)
    ids, nonce = product_ids(args.n)
    pool = Pool(host, port, args.concurrency, io_timeout=args.wait + 30)
    auth = {"Authorization": f"Bearer {args.key}", "Content-Type": "application/json",
            "Accept": "application/json"}
    post_hdrs = dict(auth)
    if args.wait > 0:
        post_hdrs["Prefer"] = f"wait={args.wait}"
    get_hdrs = {"Authorization": auth["Authorization"], "Accept": "application/json"}
    counts = {"http_200": 0, "http_202": 0, "cache_hits": 0, "polled": 0, "polls": 0,
              "failed_jobs": 0, "errors": 0, "timeouts": 0}
    errors = {}
    lat = []
    first_submit = [None]
    last_result = [None]
    deadline = time.monotonic() + args.deadline
    # jobs in flight: with waiting requests one per connection; without, several per connection
    # (each request still takes a pooled connection). Latency starts when a job enters flight.
    inflight = asyncio.Semaphore(args.inflight or (args.concurrency if args.wait > 0 else 4 * args.concurrency))

    samples = []

    def err(kind, detail=None):
        counts["errors"] += 1
        errors[kind] = errors.get(kind, 0) + 1
        if detail is not None and len(samples) < 5:
            samples.append(f"{kind}: {detail}"[:300])

    async def one(pid):
        async with inflight:
            body = json.dumps({"product": {"source": "aliexpress", "id": pid}}).encode()
            t0 = time.monotonic()
            if first_submit[0] is None:
                first_submit[0] = t0
            try:
                st, h, b = await pool.request("POST", base + "/v1/validations", post_hdrs, body)
            except (HttpError, OSError, asyncio.TimeoutError) as e:
                err(f"submit: {type(e).__name__}", e)
                return
            if st == 200:
                counts["http_200"] += 1
                if "hit" in h.get("cache-status", "").lower():
                    counts["cache_hits"] += 1
            elif st == 202:
                counts["http_202"] += 1
                jid = job_id_of(h, b)
                if not jid:
                    err("202 without job id")
                    return
                counts["polled"] += 1
                delay = args.poll_ms / 1000.0
                while True:
                    if time.monotonic() > deadline:
                        counts["timeouts"] += 1
                        return
                    tp = time.monotonic()
                    try:
                        gh = dict(get_hdrs)
                        if args.wait > 0:
                            gh["Prefer"] = f"wait={min(args.wait, 5)}"
                        gst, _, gb = await pool.request("GET", f"{base}/v1/jobs/{jid}", gh)
                    except (HttpError, OSError, asyncio.TimeoutError) as e:
                        err(f"poll: {type(e).__name__}", e)
                        return
                    counts["polls"] += 1
                    if gst != 200:
                        err(f"poll HTTP {gst}", gb[:200])
                        return
                    status = job_status(gb)
                    if status == "succeeded":
                        break
                    if status in ("failed", "canceled"):
                        counts["failed_jobs"] += 1
                        err(f"job {status}")
                        return
                    spent = time.monotonic() - tp
                    if spent < delay:
                        await asyncio.sleep(delay - spent)
                    delay = min(delay * 1.5, args.poll_max_ms / 1000.0)
            else:
                err(f"submit HTTP {st}", b[:200])
                return
            t1 = time.monotonic()
            lat.append((t1 - t0) * 1000.0)
            if last_result[0] is None or t1 > last_result[0]:
                last_result[0] = t1

    cpu_before = proc_cpu.snapshot(args.cpu)
    redis_before = proc_cpu.redis_commands(args.redis_url)
    tasks = [asyncio.create_task(one(pid)) for pid in ids]
    done, pending = await asyncio.wait(tasks, timeout=args.deadline + 5)
    for t in pending:
        t.cancel()
    counts["timeouts"] += len(pending)
    pool.close()
    cpu = proc_cpu.diff(cpu_before, proc_cpu.snapshot(args.cpu), max(len(lat), 1))
    redis_per = proc_cpu.commands_per(redis_before, proc_cpu.redis_commands(args.redis_url), len(lat))
    lat.sort()
    completed = len(lat)
    wall = (last_result[0] - first_submit[0]) if completed and first_submit[0] else 0.0
    rec = {
        "scenario": "uncached", "url": args.url, "n": args.n, "concurrency": args.concurrency,
        "prefer_wait_s": args.wait, "inflight": args.inflight or None, "nonce": f"{nonce:06d}", "completed": completed,
        "lost": args.n - completed, **counts, "error_kinds": errors, "error_samples": samples, "wall_s": round(wall, 3),
        "completed_per_s": round(completed / wall, 1) if wall > 0 else None,
        "p50_ms": r1(pct(lat, 50)), "p95_ms": r1(pct(lat, 95)), "p99_ms": r1(pct(lat, 99)),
        "max_ms": r1(lat[-1] if lat else None),
        "mean_ms": r1(sum(lat) / completed if completed else None),
        "cpu_ms_per_validation": {k: round(v, 4) for k, v in cpu.items()},
        "redis_commands_per_validation": redis_per,
    }
    rec = emit(args, rec)
    print(f"uncached: {completed}/{args.n} completed in {rec['wall_s']} s = {rec['completed_per_s']} validations/s | "
          f"submit->result p50 {rec['p50_ms']} p95 {rec['p95_ms']} p99 {rec['p99_ms']} max {rec['max_ms']} ms | "
          f"200: {counts['http_200']} (cache hits {counts['cache_hits']}) 202: {counts['http_202']} "
          f"polls: {counts['polls']} errors: {counts['errors']} {errors if errors else ''} timeouts: {counts['timeouts']}")
    for line in samples:
        print(f"  e.g. {line}")
    print_cpu(cpu, "validation")
    print_redis(redis_per)
    return 0 if completed == args.n else 1


def print_cpu(cpu, unit):
    if not cpu:
        return
    own = sum(v for k, v in cpu.items() if k != "sandbox")
    print(f"CPU ms per {unit}: " + ", ".join(f"{k} {v:.3f}" for k, v in cpu.items())
          + f"; DropForge (all but the sandbox) {own:.3f}")


def print_redis(per):
    if per:
        total = sum(per.values())
        print(f"Redis commands per validation: {total:.2f} (" + ", ".join(f"{k} {v}" for k, v in list(per.items())[:8]) + ")")


# --------------------------------------------------------------------------- batches
async def run_batches(args):
    host, port, base = parse_target(args.url)
    ids, nonce = product_ids(args.n)
    groups = [ids[i:i + args.batch] for i in range(0, len(ids), args.batch)]
    probes = args.probe if args.open else 0
    if probes >= len(groups):
        sys.exit("loadgen: --probe must leave batches for the clients")
    probe_groups = groups[len(groups) - probes:] if probes else []
    # Submissions and polls have connections of their own: with --open every batch is polled at
    # once, and a submission waiting for a poll's connection would count that wait as accept time.
    pool = Pool(host, port, args.concurrency * args.window, io_timeout=60)
    submit_pool = Pool(host, port, args.concurrency * args.window, io_timeout=60)
    probe_pool = Pool(host, port, 1, io_timeout=60)
    auth = {"Authorization": f"Bearer {args.key}", "Content-Type": "application/json",
            "Accept": "application/json"}
    accept, done_lat, errors = [], [], {}
    # Accept latency of the submissions after the first round: the first clients x window go out
    # together to an idle stack (cold connection pools, one tenant's row taken in turn), the rest
    # arrive as batches finish, with the worker busy.
    first_round = args.concurrency * (1 if args.open else args.window)
    accept_later, sent = [], [0]
    deadline = time.monotonic() + args.deadline
    first, last = [None], [None]
    queue = asyncio.Queue()
    for g in groups[:len(groups) - probes]:
        queue.put_nowait(g)
    # probe accept latencies with their send times; when the backlog's last batch ended
    probe_accept, probe_sent, backlog_end = [], [], [None]
    waits = []

    def err(kind):
        errors[kind] = errors.get(kind, 0) + 1

    async def wait_done(jid, t0, probe=False):
        while time.monotonic() < deadline:
            try:
                st, _, b = await pool.request("GET", f"{base}/v1/jobs/{jid}",
                                              {"Authorization": auth["Authorization"], "Prefer": "wait=5"})
            except (HttpError, OSError, asyncio.TimeoutError) as e:
                err(f"poll: {type(e).__name__}")
                await asyncio.sleep(0.2)
                continue
            if st != 200:
                err(f"poll HTTP {st}")
                return
            status = job_status(b)
            if status in ("succeeded", "failed", "canceled"):
                t1 = time.monotonic()
                done_lat.append((t1 - t0) * 1000.0)
                if not probe and (backlog_end[0] is None or t1 > backlog_end[0]):
                    backlog_end[0] = t1
                if last[0] is None or t1 > last[0]:
                    last[0] = t1
                if status != "succeeded":
                    err(f"batch {status}")
                return
            await asyncio.sleep(0.05)
        err("timeout")

    async def client():
        if args.window > 1 and not args.open:
            # one client, W batches in flight: each lane sends its next batch when its last ended
            await asyncio.gather(*(lane() for _ in range(args.window)))
        else:
            await lane()

    async def submit(via, g, what):
        """POSTs batch g over pool `via`: (t0, accept ms, HTTP status, batch id), or None when
        the request failed (counted as a `what` error)."""
        body = json.dumps({"products": [{"source": "aliexpress", "id": pid} for pid in g]}).encode()
        t0 = time.monotonic()
        try:
            st, h, b = await via.request("POST", base + "/v1/validations/batch", auth, body)
        except (HttpError, OSError, asyncio.TimeoutError) as e:
            err(f"{what}: {type(e).__name__}")
            return None
        ms = (time.monotonic() - t0) * 1000.0
        return t0, ms, st, (job_id_of(h, b) if st in (200, 202) else None)

    async def lane():
        while not queue.empty() and time.monotonic() < deadline:
            g = queue.get_nowait()
            if first[0] is None:
                first[0] = time.monotonic()
            seq = sent[0]
            sent[0] += 1
            done = await submit(submit_pool, g, "submit")
            if done is None:
                continue
            t0, ms, st, jid = done
            accept.append(ms)
            if seq >= first_round:
                accept_later.append(ms)
            if st not in (200, 202):
                err(f"submit HTTP {st}")
                continue
            if not jid:
                err("no batch id")
                continue
            if args.open:
                waits.append(asyncio.create_task(wait_done(jid, t0)))
            else:
                await wait_done(jid, t0)

    async def probe():
        for g in probe_groups:
            if time.monotonic() >= deadline:
                break
            done = await submit(probe_pool, g, "probe")
            if done is None:
                continue
            t0, ms, st, jid = done
            probe_accept.append(ms)
            probe_sent.append(t0)
            if not jid:
                err(f"probe HTTP {st}")
                continue
            waits.append(asyncio.create_task(wait_done(jid, t0, probe=True)))
            await asyncio.sleep(args.probe_ms / 1000.0)

    cpu_before = proc_cpu.snapshot(args.cpu)
    redis_before = proc_cpu.redis_commands(args.redis_url)
    await asyncio.gather(*(client() for _ in range(args.concurrency)))
    if probe_groups:
        await probe()
    if waits:
        await asyncio.gather(*waits)
    for p in (pool, submit_pool, probe_pool):
        p.close()
    accept.sort()
    accept_later.sort()
    done_lat.sort()
    in_backlog = sum(1 for t in probe_sent if backlog_end[0] is not None and t < backlog_end[0])
    probe_sorted = sorted(probe_accept)
    wall = (last[0] - first[0]) if last[0] and first[0] else 0.0
    completed = len(done_lat) * args.batch
    cpu = proc_cpu.diff(cpu_before, proc_cpu.snapshot(args.cpu), max(completed, 1))
    redis_per = proc_cpu.commands_per(redis_before, proc_cpu.redis_commands(args.redis_url), completed)
    rec = emit(args, {
        "redis_commands_per_validation": redis_per,
        "cpu_ms_per_validation": {k: round(v, 4) for k, v in cpu.items()},
        "scenario": "batches", "n": args.n, "batch": args.batch, "clients": args.concurrency,
        "open": args.open, "window": args.window, "nonce": f"{nonce:06d}", "batches_done": len(done_lat), "errors": errors,
        "wall_s": round(wall, 3), "validations_per_s": round(completed / wall, 1) if wall else None,
        "accept_ms": {"p50": r1(pct(accept, 50)), "p95": r1(pct(accept, 95)), "p99": r1(pct(accept, 99))},
        "accept_after_first_round_ms": {"n": len(accept_later), "p50": r1(pct(accept_later, 50)),
                                        "p95": r1(pct(accept_later, 95)), "p99": r1(pct(accept_later, 99))},
        "batch_done_ms": {"p50": r1(pct(done_lat, 50)), "p99": r1(pct(done_lat, 99))},
        "probe": {"n": len(probe_sorted), "every_ms": args.probe_ms, "sent_in_backlog": in_backlog,
                  "accept_p50_ms": r1(pct(probe_sorted, 50)), "accept_p95_ms": r1(pct(probe_sorted, 95)),
                  "accept_max_ms": r1(probe_sorted[-1]) if probe_sorted else None} if probes else None,
    })
    print(f"batches: {args.concurrency} clients x {'all' if args.open else args.window} in flight | "
          f"{len(done_lat)}/{len(groups)} batches of {args.batch} done in {rec['wall_s']} s = "
          f"{rec['validations_per_s']} validations/s | accept p50 {rec['accept_ms']['p50']} "
          f"p95 {rec['accept_ms']['p95']} p99 {rec['accept_ms']['p99']} ms (after the first {first_round}: "
          f"p50 {rec['accept_after_first_round_ms']['p50']} p95 {rec['accept_after_first_round_ms']['p95']} "
          f"p99 {rec['accept_after_first_round_ms']['p99']} ms) | submit->batch done "
          f"p50 {rec['batch_done_ms']['p50']} p99 {rec['batch_done_ms']['p99']} ms | errors {errors or 0}")
    if probes:
        pr = rec["probe"]
        print(f"probe: {pr['n']} batches of {args.batch}, one every {args.probe_ms:g} ms after the clients' "
              f"{len(groups) - probes}, {in_backlog} of them sent before the backlog's last batch ended | "
              f"accept p50 {pr['accept_p50_ms']} p95 {pr['accept_p95_ms']} max {pr['accept_max_ms']} ms")
    print_cpu(cpu, "validation")
    print_redis(redis_per)
    return 0 if len(done_lat) == len(groups) and not errors else 1


# --------------------------------------------------------------------------- pickup
def psql_pickup(database_url, job_ids):
    ids = [j for j in job_ids if UUID_RE.match(j)]
    if not ids:
        return {}
    arr = "{" + ",".join(ids) + "}"
    sql = (f"select id, extract(epoch from started_at - created_at) from jobs "
           f"where id = any('{arr}'::uuid[])")
    out = subprocess.run(["psql", database_url, "-XAt", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-c", sql],
                         capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError(f"psql failed: {out.stderr.strip()}")
    res = {}
    for line in out.stdout.splitlines():
        jid, _, secs = line.partition("\t")
        res[jid] = float(secs) * 1000.0 if secs else None
    return res


async def run_pickup(args):
    host, port, base = parse_target(args.url)
    lo, _, hi = args.gap_ms.partition("-")
    lo, hi = float(lo), float(hi or lo)
    ids, nonce = product_ids(args.m)
    conn = Conn(host, port, io_timeout=30)
    hdrs = {"Authorization": f"Bearer {args.key}", "Content-Type": "application/json",
            "Accept": "application/json"}
    job_ids, errors, cached, samples = [], {}, 0, []
    rnd = random.Random()
    deadline = time.monotonic() + args.deadline
    for pid in ids:
        if time.monotonic() > deadline:
            errors["deadline"] = errors.get("deadline", 0) + 1
            break
        body = json.dumps({"product": {"source": "aliexpress", "id": pid}}).encode()
        try:
            st, h, b = await conn.request("POST", base + "/v1/validations", hdrs, body)
        except (HttpError, OSError, asyncio.TimeoutError) as e:
            k = f"submit: {type(e).__name__}"
            errors[k] = errors.get(k, 0) + 1
            if len(samples) < 5:
                samples.append(f"{k}: {e}"[:300])
            continue
        if st == 202:
            jid = job_id_of(h, b)
            if jid:
                job_ids.append(jid)
            else:
                errors["202 without job id"] = errors.get("202 without job id", 0) + 1
        elif st == 200:
            cached += 1
        else:
            errors[f"HTTP {st}"] = errors.get(f"HTTP {st}", 0) + 1
            if len(samples) < 5:
                samples.append(f"HTTP {st}: {b[:200]!r}")
        await asyncio.sleep(rnd.uniform(lo, hi) / 1000.0)
    # let the last jobs start (and finish), bounded
    settle_until = time.monotonic() + args.settle
    res = {}
    while True:
        res = psql_pickup(args.database_url, job_ids)
        started = [v for v in res.values() if v is not None]
        if len(started) >= len(job_ids) or time.monotonic() > settle_until:
            break
        await asyncio.sleep(0.5)
    conn.close()
    vals = sorted(v for v in res.values() if v is not None)
    not_started = len(job_ids) - len(vals)
    rec = {
        "scenario": "pickup", "url": args.url, "m": args.m, "gap_ms": args.gap_ms, "nonce": f"{nonce:06d}",
        "submitted": len(job_ids), "cached_200": cached, "started": len(vals), "not_started": not_started,
        "errors": sum(errors.values()), "error_kinds": errors, "error_samples": samples,
        "p50_ms": r1(pct(vals, 50)), "p95_ms": r1(pct(vals, 95)), "p99_ms": r1(pct(vals, 99)),
        "max_ms": r1(vals[-1] if vals else None), "mean_ms": r1(sum(vals) / len(vals) if vals else None),
    }
    rec = emit(args, rec)
    print(f"pickup: {len(vals)}/{len(job_ids)} jobs started | enqueue->start p50 {rec['p50_ms']} p95 {rec['p95_ms']} "
          f"p99 {rec['p99_ms']} max {rec['max_ms']} ms | cached: {cached} errors: {rec['errors']} "
          f"{errors if errors else ''}")
    for line in samples:
        print(f"  e.g. {line}")
    return 0 if vals and not_started == 0 and not errors else 1


# --------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--url", default=os.environ.get("DF_API_URL", "http://127.0.0.1:8080"))
    common.add_argument("--key", default=os.environ.get("DF_BENCH_KEY"), help="API key (or $DF_BENCH_KEY)")
    common.add_argument("--out", default=None, help="append one JSON line here")
    common.add_argument("--label", default=None)
    common.add_argument("--deadline", type=float, default=300.0, help="hard bound of the run, seconds")
    common.add_argument("--cpu", nargs="*", default=[], help="NAME=PID components whose CPU is accounted")
    common.add_argument("--redis-url", default=None, help="count Redis commands (INFO commandstats) on this server")
    u = sub.add_parser("uncached", parents=[common])
    u.add_argument("-n", type=int, default=10000, help="distinct products (10000)")
    u.add_argument("-c", "--concurrency", type=int, default=1000, help="connections (1000)")
    u.add_argument("--wait", type=int, default=30, help="Prefer: wait=W on submit (30; 0 = none, poll only)")
    u.add_argument("--inflight", type=int, default=0,
                   help="jobs in flight at once (default: concurrency with --wait > 0, else 4 x concurrency)")
    u.add_argument("--poll-ms", type=float, default=50.0, help="first poll interval (50 ms, x1.5 per poll)")
    u.add_argument("--poll-max-ms", type=float, default=500.0, help="poll interval cap (500 ms)")
    b = sub.add_parser("batches", parents=[common])
    b.add_argument("-n", type=int, default=10000, help="distinct products (10000)")
    b.add_argument("--batch", type=int, default=50, help="products per batch (50)")
    b.add_argument("-c", "--concurrency", type=int, default=8, help="clients (8)")
    b.add_argument("--window", type=int, default=1, help="batches each client keeps in flight (1)")
    b.add_argument("--open", action="store_true", help="do not wait for a batch before the next")
    b.add_argument("--probe", type=int, default=0,
                   help="with --open: hold back the last K batches and send them one at a time while the worker is busy")
    b.add_argument("--probe-ms", type=float, default=100.0, help="gap between probe batches (100 ms)")
    p = sub.add_parser("pickup", parents=[common])
    p.add_argument("-m", type=int, default=200, help="jobs, one at a time (200)")
    p.add_argument("--gap-ms", default="200-400", help="random gap between submissions (200-400)")
    p.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    p.add_argument("--settle", type=float, default=60.0, help="wait at most this long for the last jobs to start")
    args = ap.parse_args()
    if not args.key:
        ap.error("--key (or DF_BENCH_KEY) is required")
    if args.cmd == "uncached":
        if args.n < 1 or args.concurrency < 1 or not 0 <= args.wait <= 30:
            ap.error("need n >= 1, concurrency >= 1, 0 <= wait <= 30")
        return asyncio.run(run_uncached(args))
    if args.cmd == "batches":
        if args.n < 1 or not 1 <= args.batch <= 50 or args.concurrency < 1 or args.window < 1:
            ap.error("need n >= 1, 1 <= batch <= 50, concurrency >= 1, window >= 1")
        return asyncio.run(run_batches(args))
    if not args.database_url:
        ap.error("pickup needs --database-url (or DATABASE_URL)")
    return asyncio.run(run_pickup(args))


if __name__ == "__main__":
    sys.exit(main())
