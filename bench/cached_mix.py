#!/usr/bin/env python3
"""The realistic mix of the cached-path benchmark: N distinct products, made cached first.

    cached_mix.py bodies --out FILE [-n 200] [--first 1005200000000001]
        one JSON body per line ({"product":{"source":"aliexpress","id":"<id>"}}), for oha -Z
    cached_mix.py warm --url URL --key KEY --bodies FILE [--threads 32] [--wait 30]
        submits every body with `Prefer: wait=N` until it answers 200 (the sandbox computes the
        product once), then checks that a second request answers `Cache-Status: dropforge; hit`.
        Exit status 1 when a product is not cached at the end (429 stops at once: the rate limit
        must not bind during a benchmark).

Pure standard library; the ids are fixed, so a second run finds them cached already (24 h TTL).
"""
import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor


class Refused(Exception):
    """The API answered 429: the rate limit binds."""


def write_bodies(out, n, first):
    with open(out, "w") as f:
        for i in range(n):
            body = {"product": {"source": "aliexpress", "id": str(first + i)}}
            f.write(json.dumps(body, separators=(",", ":")) + "\n")
    print(f"{n} bodies ({first} .. {first + n - 1}) in {out}")


def post(url, key, body, wait):
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", "Accept": "application/json"}
    if wait:
        headers["Prefer"] = f"wait={wait}"
    req = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=wait + 10) as r:
            r.read()
            return r.status, r.headers.get("Cache-Status", "")
    except urllib.error.HTTPError as e:
        e.read()
        if e.code == 429:
            raise Refused(body) from e
        return e.code, e.headers.get("Cache-Status", "")
    except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
        return 0, str(e)


def warm_one(url, key, body, wait, attempts=4):
    """'' when the body is cached and answers a hit, else what went wrong."""
    status, cs = 0, ""
    for _ in range(attempts):
        status, cs = post(url, key, body, wait)
        if status == 200:
            break
        time.sleep(0.5)
    if status != 200:
        return f"{body}: HTTP {status} after {attempts} attempts ({cs})"
    status, cs = post(url, key, body, 0)
    if status != 200 or not cs.startswith("dropforge; hit"):
        return f"{body}: second request HTTP {status}, Cache-Status {cs!r} (expected 'dropforge; hit')"
    return ""


def warm(url, key, bodies_file, threads, wait):
    bodies = [line.strip() for line in open(bodies_file) if line.strip()]
    target = url.rstrip("/") + "/v1/validations"
    t0 = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        problems = [p for p in pool.map(lambda b: warm_one(target, key, b, wait), bodies) if p]
    took = time.monotonic() - t0
    if problems:
        for p in problems[:10]:
            print("  " + p, file=sys.stderr)
        print(f"{len(problems)} of {len(bodies)} products not cached ({took:.1f} s)", file=sys.stderr)
        return 1
    print(f"{len(bodies)} products cached, each answering 'Cache-Status: dropforge; hit' ({took:.1f} s)")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("bodies")
    b.add_argument("--out", required=True)
    b.add_argument("-n", type=int, default=200)
    b.add_argument("--first", type=int, default=1005200000000001)
    w = sub.add_parser("warm")
    w.add_argument("--url", required=True)
    w.add_argument("--key", required=True)
    w.add_argument("--bodies", required=True)
    w.add_argument("--threads", type=int, default=32)
    w.add_argument("--wait", type=int, default=30)
    a = ap.parse_args()
    if a.cmd == "bodies":
        write_bodies(a.out, a.n, a.first)
        return 0
    try:
        return warm(a.url, a.key, a.bodies, a.threads, a.wait)
    except Refused as e:
        print(f"429 while warming {e}: the API's rate limit binds; run with a quota that never binds", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
