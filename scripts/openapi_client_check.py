#!/usr/bin/env python3
"""Records answers of a live DropForge API and decodes them with a client generated from its
/openapi.json (openapi-python-client), so the document is checked the way a client uses it.

  openapi_client_check.py record-queued --api URL --key KEY --out DIR   (API up, no worker yet)
  openapi_client_check.py record --api URL --key KEY --system-key KEY --hook-port P --out DIR
  openapi_client_check.py decode --client DIR --out DIR

`record-queued` needs jobs that stay queued (no worker runs): a 202 and a cancel. `record` covers
every other operation and every job kind (validation, batch, search, suppliers, webhook, canary),
succeeded and failed. Each answer is a JSON file in --out: operation, status, headers and body.
`decode` feeds each answer to the generated operation's own response parser and checks that it
decodes into the documented type (the job's kind decides which) and that encoding the decoded
value again gives back the same document.
"""

import argparse
import datetime
import importlib
import json
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

# operation id -> module of the generated client (`api/<tag>/<operation>.py`)
MODULES = {
    "health": "operations.health",
    "ready": "operations.ready",
    "spec_json": "documentation.spec_json",
    "docs_page": "documentation.docs_page",
    "create_validation": "validations.create_validation",
    "create_batch": "validations.create_batch",
    "get_job": "jobs.get_job",
    "list_jobs": "jobs.list_jobs",
    "cancel_job": "jobs.cancel_job",
    "list_deliveries": "jobs.list_deliveries",
    "search": "products.search",
    "suppliers": "products.suppliers",
}
KINDS = ["validation", "batch", "search", "suppliers", "webhook", "canary"]
JOB_CLASS = {kind: kind.capitalize() + "Job" for kind in KINDS}
ENDED = {"succeeded", "failed", "canceled"}


class Recorder:
    def __init__(self, api, key, out):
        self.api, self.key, self.out = api.rstrip("/"), key, Path(out)
        self.out.mkdir(parents=True, exist_ok=True)

    def call(self, name, operation, method, path, body=None, headers=None, key=None, expect=None):
        """Sends one request, saves the answer as `name`, returns (status, parsed JSON or None, headers)."""
        h = dict(headers or {})
        auth = self.key if key is None else key
        if auth:
            h["Authorization"] = f"Bearer {auth}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        req = urllib.request.Request(self.api + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=40) as resp:
                status, raw, rh = resp.status, resp.read(), dict(resp.headers)
        except urllib.error.HTTPError as e:
            status, raw, rh = e.code, e.read(), dict(e.headers)
        if expect is not None and status != expect:
            sys.exit(f"{name}: {method} {path} answered {status}, expected {expect}: {raw[:500]!r}")
        text = raw.decode("utf-8", "replace")
        record = {"operation": operation, "method": method, "path": path, "status": status, "headers": rh, "body": text}
        (self.out / f"{name}.json").write_text(json.dumps(record, indent=1))
        try:
            doc = json.loads(text) if text else None
        except ValueError:
            doc = None
        return status, doc, {k.lower(): v for k, v in rh.items()}

    def job(self, name, job_id, key=None, wait=20):
        """GET /v1/jobs/{id}, waiting until it ended; saves the final answer."""
        deadline = time.monotonic() + 60
        while True:
            status, doc, _ = self.call(name, "get_job", "GET", f"/v1/jobs/{job_id}", headers={"Prefer": f"wait={wait}"}, key=key, expect=200)
            if doc["status"] in ENDED or time.monotonic() > deadline:
                return doc

    def first_of_kind(self, kind, key=None, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            _, page, _ = self.call(f"list_jobs_{kind}", "list_jobs", "GET", f"/v1/jobs?kind={kind}&limit=5", key=key, expect=200)
            if page["data"]:
                return page["data"][0]
            time.sleep(0.5)
        sys.exit(f"no {kind} job appeared within {timeout} s")


def record_queued(args):
    r = Recorder(args.api, args.key, args.out)
    product = {"product": {"source": "aliexpress", "id": "1005000000000003"}, "country": "DE"}
    _, job, _ = r.call("create_validation_202", "create_validation", "POST", "/v1/validations", product, expect=202)
    r.call("cancel_job_200", "cancel_job", "DELETE", f"/v1/jobs/{job['id']}", expect=200)
    r.call("cancel_job_409", "cancel_job", "DELETE", f"/v1/jobs/{job['id']}", expect=409)
    r.call("get_job_400", "get_job", "GET", "/v1/jobs/not-a-job", expect=400)
    r.call("get_job_404", "get_job", "GET", "/v1/jobs/019ac3b2-6c1d-7e6f-9a8b-123456789abc", expect=404)
    r.call("create_validation_401", "create_validation", "POST", "/v1/validations", product, key="", expect=401)
    r.call("create_validation_422", "create_validation", "POST", "/v1/validations", {"product": {"id": "x"}}, expect=422)
    r.call("list_jobs_422", "list_jobs", "GET", "/v1/jobs?limit=0", expect=422)
    r.call("search_422", "search", "GET", "/v1/products/search?q=x", expect=422)
    r.call("suppliers_422", "suppliers", "GET", "/v1/products/amazon/1/suppliers", expect=422)


class Hook(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's name)
        self.rfile.read(int(self.headers.get("content-length") or 0))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_):
        pass


def record(args):
    hook = ThreadingHTTPServer(("127.0.0.1", args.hook_port), Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    r = Recorder(args.api, args.key, args.out)
    r.call("health_200", "health", "GET", "/health", key="", expect=200)
    r.call("ready_200", "ready", "GET", "/ready", key="", expect=200)
    r.call("spec_json_200", "spec_json", "GET", "/openapi.json", key="", expect=200)
    r.call("docs_page_200", "docs_page", "GET", "/docs", key="", expect=200)

    # validation: the job (with a webhook, so a webhook job follows), then the cache hit
    winner = {"source": "aliexpress", "id": "1005000000000001"}
    hooked = {"product": winner, "webhook_url": f"http://127.0.0.1:{args.hook_port}/hook"}
    wait = {"Prefer": "wait=20"}
    _, job, _ = r.call("create_validation_200_job", "create_validation", "POST", "/v1/validations", hooked, wait, expect=200)
    r.call("create_validation_200_cached", "create_validation", "POST", "/v1/validations", {"product": winner}, expect=200)
    r.call("list_deliveries_200", "list_deliveries", "GET", f"/v1/jobs/{job['id']}/deliveries", expect=200)
    # a failed validation (the sandbox has no such product)
    missing = {"product": {"source": "aliexpress", "id": "1005000000000404"}}
    _, failed, _ = r.call("create_validation_failed", "create_validation", "POST", "/v1/validations", missing, wait)
    r.job("get_job_validation_failed", failed["id"])

    # search and suppliers: the job (202, then finished within Prefer: wait), then the cache hit
    q = "/v1/products/search?q=led+strip&country=US"
    r.call("search_202", "search", "GET", q, expect=202)
    r.call("search_200_job", "search", "GET", q, headers=wait, expect=200)
    r.call("search_200_cached", "search", "GET", q, expect=200)
    s = "/v1/products/aliexpress/1005000000000002/suppliers"
    r.call("suppliers_202", "suppliers", "GET", s, expect=202)
    r.call("suppliers_200_job", "suppliers", "GET", s, headers=wait, expect=200)
    r.call("suppliers_200_cached", "suppliers", "GET", s, expect=200)

    # batch: one cached item and one miss (202), read when done; then every item cached (200)
    two = {"products": [winner, {"source": "aliexpress", "id": "1005000000000005"}]}
    _, batch, _ = r.call("create_batch_202", "create_batch", "POST", "/v1/validations/batch", two, expect=202)
    done = r.job("get_job_batch", batch["id"])
    r.call("create_batch_200", "create_batch", "POST", "/v1/validations/batch", two, expect=200)
    etag = r.call("get_job_batch", "get_job", "GET", f"/v1/jobs/{done['id']}", expect=200)[2].get("etag")
    r.call("get_job_304", "get_job", "GET", f"/v1/jobs/{done['id']}", headers={"If-None-Match": etag}, expect=304)

    # every kind read on its own, and in one page
    for kind in ["validation", "search", "suppliers", "webhook"]:
        found = r.first_of_kind(kind)
        r.job(f"get_job_{kind}", found["id"])
    canary = r.first_of_kind("canary", key=args.system_key)
    r.job("get_job_canary", canary["id"], key=args.system_key)
    r.call("list_jobs_200", "list_jobs", "GET", "/v1/jobs?limit=100", expect=200)
    hook.shutdown()


def normalise(value):
    """Datetimes compared as instants (the client writes `+00:00` where the API writes `Z`)."""
    if isinstance(value, dict):
        return {k: normalise(v) for k, v in value.items()}
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, str) and len(value) >= 20 and value[4:5] == "-" and value[10:11] == "T":
        try:
            return datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    return value


def expected_class(doc):
    """The generated class a job document must decode into: the one of its kind."""
    if isinstance(doc, dict) and doc.get("kind") in JOB_CLASS and "links" in doc:
        return JOB_CLASS[doc["kind"]]
    return None


def decode(args):
    sys.path.insert(0, str(Path(args.client)))
    client_mod = importlib.import_module("gen.client")
    client = client_mod.Client(base_url="http://127.0.0.1", raise_on_unexpected_status=True)
    import httpx  # installed with openapi-python-client's generated client's dependencies

    answers = sorted(Path(args.out).glob("*.json"))
    kinds, failures = set(), []
    for path in answers:
        rec = json.loads(path.read_text())
        module = importlib.import_module(f"gen.api.{MODULES[rec['operation']]}")
        headers = {k.lower(): v for k, v in rec["headers"].items() if k.lower() in ("content-type",)}
        response = httpx.Response(rec["status"], content=rec["body"].encode(), headers=headers)
        try:
            parsed = module._parse_response(client=client, response=response)
        except Exception as e:  # an undocumented status or a body the models cannot read
            failures.append(f"{path.name}: {type(e).__name__}: {e}")
            continue
        if rec["status"] == 304 or rec["operation"] in ("docs_page", "spec_json"):
            continue
        body = json.loads(rec["body"])
        if not hasattr(parsed, "to_dict"):
            failures.append(f"{path.name}: decoded into {type(parsed).__name__}, not a model")
            continue
        top = expected_class(body)
        if top and type(parsed).__name__ != top:
            failures.append(f"{path.name}: a {body['kind']} job decoded as {type(parsed).__name__}")
        if normalise(parsed.to_dict()) != normalise(body):
            failures.append(f"{path.name}: decoding and encoding again changed the document")
        for item in body.get("data", []) if isinstance(body.get("data"), list) else []:
            kinds.add(item.get("kind"))
        for i, (item, decoded) in enumerate(zip(body.get("data", []), getattr(parsed, "data", []) or [])):
            want = expected_class(item)
            if want and type(decoded).__name__ != want:
                failures.append(f"{path.name}: data[{i}] ({item['kind']}) decoded as {type(decoded).__name__}")
        if top:
            kinds.add(body["kind"])
    missing = set(KINDS) - kinds
    if missing:
        failures.append(f"no answer carried a job of kind {sorted(missing)}")
    operations = {json.loads(p.read_text())["operation"] for p in answers}
    if set(MODULES) - operations:
        failures.append(f"operations without a recorded answer: {sorted(set(MODULES) - operations)}")
    for f in failures:
        print("FAIL", f)
    print(f"decoded {len(answers)} answers of {len(operations)} operations, job kinds {sorted(k for k in kinds if k)}: "
          f"{len(failures)} failures")
    return 1 if failures else 0


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("phase", choices=["record-queued", "record", "decode"])
    p.add_argument("--api")
    p.add_argument("--key")
    p.add_argument("--system-key")
    p.add_argument("--hook-port", type=int)
    p.add_argument("--client")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    if args.phase == "record-queued":
        record_queued(args)
    elif args.phase == "record":
        record(args)
    else:
        return decode(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
