#!/usr/bin/env bash
# Sandbox CPU cost per call and per validation (see bench/README.md, "Sandbox CPU cost").
#
#   bench/sandbox_cost.sh
#
# Starts the release dropforge-sandbox on a free 127.0.0.1 port with DF_SANDBOX_LATENCY_SCALE=0,
# drives the worker's exact call mix of distinct-product validations (ds.product.get, then
# ds.freight.query, affiliate.productdetail.get, ds.text.search, Meta ads_archive with its pages,
# YouTube search and videos) over keep-alive connections, and reads the sandbox's utime+stime from
# /proc/<pid>/stat before and after. Only the sandbox process is measured, never the client.
#
# Environment (optional):
#   DF_SANDBOX_COST_CALLS=20000     calls per pass (validations are started until this many calls)
#   DF_SANDBOX_COST_PROCS=2         client processes (each takes every PROCS-th product)
#   DF_SANDBOX_COST_THREADS=4       threads per client process (one keep-alive connection each)
#   DF_SANDBOX_COST_PASSES=1        passes over the same products (pass 2+ shows the warm-cache cost)
#   DF_SANDBOX_COST_WARMUP=100      validations (other product ids) before measuring
#   DF_SANDBOX_COST_NONCE=271828    6-digit part of the product ids (1005 + nonce + 6-digit counter)
#   DF_SANDBOX_COST_TIMEOUT=600     hard limit of the client, seconds
#   DF_SANDBOX_BIN                  sandbox binary (default: cargo build -p dropforge-sandbox --release)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

if [[ -z "${DF_SANDBOX_BIN:-}" ]]; then
  cargo build -q -p dropforge-sandbox --release
  BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/dropforge-sandbox"
else
  BIN="$DF_SANDBOX_BIN"
fi
[[ -x "$BIN" ]] || { echo "no sandbox binary at $BIN" >&2; exit 1; }

PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
LOG="$(mktemp -t sandbox_cost.XXXXXX.log)"
DF_SANDBOX_LISTEN="127.0.0.1:$PORT" DF_SANDBOX_LATENCY_SCALE=0 "$BIN" >"$LOG" 2>&1 &
SANDBOX_PID=$!
cleanup() {
  kill "$SANDBOX_PID" 2>/dev/null || true
  wait "$SANDBOX_PID" 2>/dev/null || true
  rm -f "$LOG"
}
trap cleanup EXIT

healthy() { curl -fsS -o /dev/null "http://127.0.0.1:$PORT/__sandbox/health" 2>/dev/null; }
for _ in $(seq 1 100); do
  healthy && break
  kill -0 "$SANDBOX_PID" 2>/dev/null || { cat "$LOG" >&2; exit 1; }
  sleep 0.1
done
healthy || { echo "the sandbox did not come up on 127.0.0.1:$PORT" >&2; exit 1; }

echo "sandbox: $BIN (pid $SANDBOX_PID, 127.0.0.1:$PORT, latency 0)"
timeout "${DF_SANDBOX_COST_TIMEOUT:-600}" python3 - "$PORT" "$SANDBOX_PID" <<'PY'
import datetime, hashlib, hmac, http.client, json, multiprocessing, os, re, sys, threading, time, urllib.parse

PORT, PID = int(sys.argv[1]), int(sys.argv[2])
env = lambda k, d: int(os.environ.get(k, d))
CALLS = env("DF_SANDBOX_COST_CALLS", 20000)
PROCS = max(1, env("DF_SANDBOX_COST_PROCS", 2))
THREADS = max(1, env("DF_SANDBOX_COST_THREADS", 4))
PASSES = env("DF_SANDBOX_COST_PASSES", 1)
WARMUP = env("DF_SANDBOX_COST_WARMUP", 100)
NONCE = env("DF_SANDBOX_COST_NONCE", 271828)
SECRET = b"sandbox-secret-0001"
SHIP_TO, CURRENCY = "US", "USD"
COUNTRIES = json.dumps(["IE", "DE", "FR"], separators=(",", ":"))
META_FIELDS = "id,page_id,page_name,ad_delivery_start_time"
STOPWORDS = set(
    "and for the with new hot sale free shipping pcs set lot best top quality high original genuine brand "
    "style fashion from women men kids unisex pack piece pieces portable premium upgraded".split()
)
# The client reads only what the worker's next calls need, with regexes (cheaper than json.loads):
# answers are compact JSON with sorted members.
SUBJECT = re.compile(rb'"subject":"([^"]*)"')
SKU = re.compile(rb'"offer_sale_price":"([0-9.]+)".*?"sku_available_stock":(\d+).*?"sku_id":"(\d+)"')
NEXT = re.compile(rb'"next":"([^"]+)"')
VIDEO_ID = re.compile(rb'"videoId":"([^"]+)"')


def derive_keyword(title):
    """The worker's keyword rule (common/src/keyword.rs)."""
    out = []
    for t in re.split(r"[^0-9A-Za-z\u00c0-\uffff]", title):
        t = t.lower()
        if len(t) >= 3 and t.isascii() and t.isalpha() and t not in STOPWORDS:
            out.append(t)
            if len(out) == 3:
                break
    return " ".join(out)


class Client:
    """One keep-alive connection; counts calls per endpoint and statuses."""

    def __init__(self):
        self.conn = None
        self.calls = {}
        self.status = {}
        self.n = 0

    def request(self, label, method, path, body=None, headers=None):
        for attempt in range(3):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
                self.conn.request(method, path, body=body, headers=headers or {})
                resp = self.conn.getresponse()
                data = resp.read()
                break
            except (http.client.HTTPException, OSError):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
        self.calls[label] = self.calls.get(label, 0) + 1
        self.status[resp.status] = self.status.get(resp.status, 0) + 1
        self.n += 1
        return resp.status, data

    def ae(self, method, business):
        params = [
            ("app_key", "500001"),
            ("method", method),
            ("timestamp", str(int(time.time() * 1000))),
            ("sign_method", "sha256"),
            ("format", "json"),
            ("v", "2.0"),
        ]
        if method.startswith("aliexpress.ds."):
            params.append(("access_token", "sandbox-token"))
        if method.startswith("aliexpress.affiliate."):
            params.append(("tracking_id", "df"))
        params = [(k, v) for k, v in params + business if v]
        signed = "".join(k + v for k, v in sorted(params))
        params.append(("sign", hmac.new(SECRET, signed.encode(), hashlib.sha256).hexdigest().upper()))
        hdrs = {"Content-Type": "application/x-www-form-urlencoded"}
        return self.request(method, "POST", "/sync", urllib.parse.urlencode(params), hdrs)[1]

    def get(self, label, path, query):
        return self.request(label, "GET", path + "?" + urllib.parse.urlencode(query))[1]

    def validation(self, product_id):
        """The calls of worker/src/upstream/gather.rs for one product (no keyword cache)."""
        body = self.ae(
            "aliexpress.ds.product.get",
            [("product_id", product_id), ("ship_to_country", SHIP_TO), ("target_currency", CURRENCY),
             ("target_language", "en")],
        )
        subject = SUBJECT.search(body)
        skus = [(float(p), int(s), i.decode()) for p, s, i in SKU.findall(body)]
        if not subject or not skus:
            return
        in_stock = [s for s in skus if s[1] > 0]
        cost = min(s[0] for s in (in_stock or skus))
        sku = next((s[2] for s in in_stock if s[0] == cost), skus[0][2])
        keyword = derive_keyword(json.loads(b'"' + subject.group(1) + b'"'))
        req = json.dumps(
            {"quantity": 1, "shipToCountry": SHIP_TO, "productId": product_id, "selectedSkuId": sku,
             "language": "en_US", "locale": "en_US", "currency": CURRENCY},
            separators=(",", ":"), sort_keys=True,
        )
        self.ae("aliexpress.ds.freight.query", [("queryDeliveryReq", req)])
        self.ae(
            "aliexpress.affiliate.productdetail.get",
            [("product_ids", product_id), ("target_currency", CURRENCY), ("target_language", "EN"),
             ("country", SHIP_TO)],
        )
        if not keyword:
            return
        self.ae(
            "aliexpress.ds.text.search",
            [("keyWord", keyword), ("pageIndex", "1"), ("pageSize", "1"), ("local", "en_US"),
             ("countryCode", SHIP_TO), ("currency", CURRENCY)],
        )
        page = self.get(
            "ads_archive", "/v21.0/ads_archive",
            [("access_token", "sandbox-meta-token"), ("ad_reached_countries", COUNTRIES),
             ("search_terms", keyword), ("ad_type", "ALL"), ("ad_active_status", "ACTIVE"),
             ("fields", META_FIELDS), ("limit", "100")],
        )
        for _ in range(2):  # max_pages = 3
            nxt = NEXT.search(page)
            if not nxt or page.startswith(b'{"data":[]'):
                break
            u = urllib.parse.urlsplit(nxt.group(1).decode())
            page = self.request("ads_archive", "GET", u.path + "?" + u.query)[1]
        after = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=90)).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        found = self.get(
            "youtube.search", "/youtube/v3/search",
            [("part", "snippet"), ("q", keyword), ("type", "video"), ("order", "viewCount"),
             ("publishedAfter", after), ("maxResults", "10"), ("key", "sandbox-yt-key")],
        )
        ids = list(dict.fromkeys(i.decode() for i in VIDEO_ID.findall(found)))
        if ids:
            self.get(
                "youtube.videos", "/youtube/v3/videos",
                [("part", "snippet,statistics"), ("id", ",".join(ids)), ("key", "sandbox-yt-key")],
            )


def product_id(nonce, i):
    return f"1005{nonce % 1_000_000:06d}{i:06d}"


def cpu_ticks():
    with open(f"/proc/{PID}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def rss_kib():
    with open(f"/proc/{PID}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def run(nonce, indices, max_calls):
    """Validates `indices` (in order) on THREADS connections until `max_calls` calls; returns the
    indices done and the counters."""
    clients = [Client() for _ in range(THREADS)]
    lock = threading.Lock()
    state = {"next": 0}
    total = lambda: sum(c.n for c in clients)

    def worker(c):
        while True:
            with lock:
                k = state["next"]
                if k >= len(indices) or total() >= max_calls:
                    return
                state["next"] = k + 1
            c.validation(product_id(nonce, indices[k]))

    threads = [threading.Thread(target=worker, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    calls, status = {}, {}
    for c in clients:
        for k, v in c.calls.items():
            calls[k] = calls.get(k, 0) + v
        for k, v in c.status.items():
            status[k] = status.get(k, 0) + v
    return indices[: state["next"]], calls, status


def proc_main(p, plan, out):
    out.send(run(NONCE, plan, CALLS // PROCS))
    out.close()


def merge(results):
    done, calls, status = [], {}, {}
    for d, c, s in results:
        done.append(d)
        for k, v in c.items():
            calls[k] = calls.get(k, 0) + v
        for k, v in s.items():
            status[k] = status.get(k, 0) + v
    return done, calls, status


run((NONCE + 500_000) % 1_000_000, list(range(WARMUP)), 10**9)
tick = os.sysconf("SC_CLK_TCK")
ctx = multiprocessing.get_context("fork")
# Each process takes every PROCS-th product id.
plans = [list(range(p, 10**6, PROCS)) for p in range(PROCS)]
for n_pass in range(1, PASSES + 1):
    pipes = [ctx.Pipe(duplex=False) for _ in range(PROCS)]
    procs = [ctx.Process(target=proc_main, args=(p, plans[p], pipes[p][1])) for p in range(PROCS)]
    rss0, cpu0, t0 = rss_kib(), cpu_ticks(), time.monotonic()
    for pr in procs:
        pr.start()
    results = [pipes[p][0].recv() for p in range(PROCS)]
    for pr in procs:
        pr.join()
    cpu1, t1, rss1 = cpu_ticks(), time.monotonic(), rss_kib()
    done, calls, status = merge(results)
    plans = done  # a later pass repeats the same products
    n = sum(len(d) for d in done)
    n_calls = sum(calls.values())
    cpu_s = (cpu1 - cpu0) / tick
    per_call_us = cpu_s / n_calls * 1e6
    per_validation = n_calls / n
    print(f"pass {n_pass}: {n} validations, {n_calls} calls in {t1 - t0:.1f} s ({n_calls / (t1 - t0):.0f} calls/s), "
          f"{PROCS} x {THREADS} connections")
    print(f"  calls: {dict(sorted(calls.items()))}")
    print(f"  statuses: {status}")
    print(f"  sandbox CPU {cpu_s:.2f} s (utime+stime), RSS {rss0 // 1024} -> {rss1 // 1024} MiB")
    print(f"  sandbox CPU per call µs: {per_call_us:.1f}")
    print(f"  per validation ms: {per_validation * per_call_us / 1000:.3f} "
          f"({per_validation:.2f} calls per validation x {per_call_us:.1f} µs)")
PY
