#!/usr/bin/env python3
"""Webhook delivery latency and a 50-product batch end to end, against a running stack
(python3 stdlib only; loopback only; bounded).

    jobs_extra.py --key KEY --database-url URL [--url http://127.0.0.1:8080] [-n 30] [--out FILE]

webhooks  N validations of fresh products, each with a webhook_url pointing at a local receiver
          (the stack must run with DF_WEBHOOK_ALLOW_CIDRS=127.0.0.0/8). Reports the delay from the
          job's finished_at (PostgreSQL) to the receiver getting the signed event, p50/p95/max,
          and from submit to the event.
batch     one batch of 50 fresh products; reports submit -> batch succeeded (polling GET /v1/jobs/{id}
          every 50 ms) and the job's own finished_at - created_at.
"""
import argparse
import http.server
import json
import random
import subprocess
import sys
import threading
import time
import urllib.request

LOOPBACK = ("127.0.0.1", "localhost")


def pct(vals, p):
    vals = sorted(vals)
    if not vals:
        return float("nan")
    k = min(len(vals) - 1, max(0, round(p / 100 * (len(vals) - 1))))
    return vals[k]


def request(method, url, key, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    try:
        with urllib.request.urlopen(req, timeout=40) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def psql(database_url, sql):
    out = subprocess.run(["psql", database_url, "-At", "-F", "\t", "-c", sql], capture_output=True, text=True, check=True)
    return [line.split("\t") for line in out.stdout.splitlines() if line]


class Receiver(http.server.BaseHTTPRequestHandler):
    seen = {}
    lock = threading.Lock()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        event = json.loads(body)
        with Receiver.lock:
            Receiver.seen[event["data"]["id"]] = time.time()
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_):
        pass


def fresh_ids(n):
    base = random.randint(10**6, 10**7 - 1)
    return [f"1005{base:07d}{i:05d}" for i in range(n)]


def run_webhooks(args):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{server.server_address[1]}/hook"
    submitted = {}
    for pid in fresh_ids(args.n):
        t0 = time.time()
        status, job = request("POST", f"{args.url}/v1/validations", args.key, {"product": {"id": pid}, "webhook_url": hook})
        if status not in (200, 202):
            sys.exit(f"submit failed: {status} {job}")
        submitted[job["id"]] = t0
    deadline = time.time() + 120
    while len(Receiver.seen) < len(submitted) and time.time() < deadline:
        time.sleep(0.05)
    server.shutdown()
    ids = ",".join(f"'{i}'" for i in submitted)
    rows = psql(args.database_url, f"select id, extract(epoch from finished_at) from jobs where id in ({ids})")
    finished = {r[0]: float(r[1]) for r in rows if r[1]}
    after_finish = [(Receiver.seen[i] - finished[i]) * 1000 for i in submitted if i in Receiver.seen and i in finished]
    end_to_end = [(Receiver.seen[i] - submitted[i]) * 1000 for i in submitted if i in Receiver.seen]
    return {
        "scenario": "webhook_latency",
        "jobs": len(submitted),
        "delivered": len(Receiver.seen),
        "after_finish_ms": {"p50": pct(after_finish, 50), "p95": pct(after_finish, 95), "max": max(after_finish or [0])},
        "submit_to_event_ms": {"p50": pct(end_to_end, 50), "p95": pct(end_to_end, 95), "max": max(end_to_end or [0])},
    }


def run_batch(args):
    products = [{"id": pid} for pid in fresh_ids(50)]
    t0 = time.time()
    status, batch = request("POST", f"{args.url}/v1/validations/batch", args.key, {"products": products})
    if status != 202:
        sys.exit(f"batch submit failed: {status} {batch}")
    accepted = time.time()
    deadline = t0 + 120
    doc = batch
    while doc.get("status") not in ("succeeded", "failed", "canceled") and time.time() < deadline:
        time.sleep(0.05)
        _, doc = request("GET", f"{args.url}/v1/jobs/{batch['id']}", args.key)
    done = time.time()
    row = psql(args.database_url, f"select extract(epoch from finished_at - created_at) from jobs where id = '{batch['id']}'")
    return {
        "scenario": "batch_50_uncached",
        "status": doc.get("status"),
        "progress": doc.get("progress"),
        "accept_ms": (accepted - t0) * 1000,
        "submit_to_done_ms": (done - t0) * 1000,
        "job_created_to_finished_ms": float(row[0][0]) * 1000 if row and row[0][0] else None,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default="http://127.0.0.1:8080")
    ap.add_argument("--key", required=True)
    ap.add_argument("--database-url", required=True)
    ap.add_argument("-n", type=int, default=30)
    ap.add_argument("--out")
    args = ap.parse_args()
    if urllib.parse.urlparse(args.url).hostname not in LOOPBACK:
        sys.exit("loopback targets only")
    results = [run_webhooks(args), run_batch(args)]
    for r in results:
        print(json.dumps(r))
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(r) + "\n")


if __name__ == "__main__":
    import urllib.parse  # noqa: E402  (kept next to its only use)

    main()
