#!/usr/bin/env python3
"""A tiny stand-in for the DropForge API, only to self-test bench/loadgen.py without the real
stack (stdlib http.server, HTTP/1.1 keep-alive, 127.0.0.1 only).

    stub_api.py [--port 18080] [--database-url URL]

POST /v1/validations: a job that "runs" 50-300 ms. With `Prefer: wait=N` the answer is 200 when
the job ends within min(N, 0.2) s, else 202 + Location. GET /v1/jobs/{id} reports
queued/running/succeeded. With --database-url each job is also written to a `jobs(id uuid,
created_at timestamptz, started_at timestamptz)` table (created if missing) with a 2-15 ms
pickup delay, so `loadgen.py pickup` can be exercised end to end.
"""
import argparse
import json
import random
import re
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

JOBS = {}
LOCK = threading.Lock()
DB = None


def db_exec(sql):
    subprocess.run(["psql", DB, "-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql], check=True,
                   capture_output=True, timeout=30)


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send_json(self, code, doc, extra=None):
        body = json.dumps(doc).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.path != "/v1/validations":
            return self.send_json(404, {"code": "not_found"})
        if not self.headers.get("Authorization", "").startswith("Bearer "):
            return self.send_json(401, {"code": "unauthorized"})
        json.loads(body)
        jid = str(uuid.uuid4())
        now = time.time()
        dur = random.uniform(0.05, 0.3)
        with LOCK:
            JOBS[jid] = (now, now + dur)
        if DB:
            pick = random.uniform(0.002, 0.015)
            db_exec(f"insert into jobs(id, created_at, started_at) values ('{jid}', to_timestamp({now}), "
                    f"to_timestamp({now + pick}))")
        m = re.search(r"wait=(\d+)", self.headers.get("Prefer", ""))
        if m and dur <= min(int(m.group(1)), 0.2):
            time.sleep(dur)
            return self.send_json(200, {"id": jid, "status": "succeeded", "result": {"score": 50}},
                                  {"Cache-Status": "dropforge; fwd=miss"})
        return self.send_json(202, {"id": jid, "status": "queued"},
                              {"Location": f"/v1/jobs/{jid}", "Retry-After": "1"})

    def do_GET(self):
        m = re.fullmatch(r"/v1/jobs/([0-9a-f-]{36})", self.path)
        if not m or m.group(1) not in JOBS:
            return self.send_json(404, {"code": "not_found"})
        t0, t1 = JOBS[m.group(1)]
        st = "succeeded" if time.time() >= t1 else "running"
        return self.send_json(200, {"id": m.group(1), "status": st})


class Server(ThreadingHTTPServer):
    request_queue_size = 4096  # listen backlog (the default of 5 drops SYNs under load)
    daemon_threads = True


def main():
    global DB
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=18080)
    ap.add_argument("--database-url")
    a = ap.parse_args()
    DB = a.database_url
    if DB:
        db_exec("create table if not exists jobs (id uuid primary key, created_at timestamptz not null, "
                "started_at timestamptz)")
    srv = Server(("127.0.0.1", a.port), H)
    srv.serve_forever()


if __name__ == "__main__":
    main()
