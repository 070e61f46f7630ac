"""Schemathesis hooks of scripts/schemathesis.sh (loaded through SCHEMATHESIS_HOOKS).

Two values are only valid because of state the OpenAPI document cannot describe; Schemathesis
would generate schema-valid requests that the API rightly refuses, and report them as
"schema-valid request rejected". Each hook replaces such a value, right before the call, with one
that is valid in that state; every other value goes out exactly as generated.

* `Idempotency-Key`: a client sends a fresh key per logical request. Generated keys collide
  (Hypothesis favours short strings such as "0"), and a key reused with another body is a `422
  idempotency_key_reused` by design. A well-formed generated key is replaced by a fresh UUID;
  a malformed one is kept, so the `400 idempotency_key_invalid` path is still exercised.
* `webhook_url` of both POSTs: the SSRF guard resolves the host (there is no DNS here) and the
  worker delivers to it. A generated http(s) URL is replaced by the run's local receiver
  (`DF_ST_WEBHOOK_URL`, admitted by `DF_WEBHOOK_ALLOW_CIDRS`), so no event ever leaves the
  machine; anything else (not a string, another scheme) is kept, for the 422 paths.
* `cursor` of `GET /v1/jobs`: opaque, valid only when this API issued it (`next_cursor`);
  anything else is a `422`. A generated cursor is replaced by a well-formed one derived from it
  (a position in the far future, so the page starts at the newest job).
"""

import base64
import hashlib
import os
import re
import uuid

import schemathesis

# 1-255 visible ASCII characters, no `"` or `\` (api/src/edge/idempotency.rs, `parse_key`).
VALID_KEY = re.compile(r'^(?:[!#-\[\]-~]{1,255}|"[!#-\[\]-~]{1,255}")$')
# What the API (the `url` crate) would read as an http(s) URL: leading C0 controls and spaces are
# stripped, the scheme is case-insensitive, and `http:host` / `http:\\host` count too.
HTTP_URL = re.compile(r'^[\x00-\x20]*https?:', re.IGNORECASE)
WEBHOOK_URL = os.environ.get("DF_ST_WEBHOOK_URL", "http://127.0.0.1:9/")
# 2100-01-01T00:00:00Z in microseconds.
FAR_FUTURE_MICROS = 4_102_444_800_000_000


def well_formed_cursor(seed: str) -> str:
    job_id = uuid.UUID(bytes=hashlib.sha256(seed.encode("utf-8", "surrogatepass")).digest()[:16])
    raw = f"{FAR_FUTURE_MICROS}.{job_id.hex}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = case.headers
    if headers:
        for name, value in list(headers.items()):
            if name.lower() == "idempotency-key" and isinstance(value, str) and VALID_KEY.match(value.strip()):
                headers[name] = str(uuid.uuid4())
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("webhook_url"), str):
        # URL parsers drop tabs and newlines anywhere in the input
        if HTTP_URL.match(re.sub(r"[\t\n\r]", "", body["webhook_url"])):
            body["webhook_url"] = WEBHOOK_URL
    query = case.query
    if (
        case.method.upper() == "GET"
        and case.path == "/v1/jobs"
        and query
        and isinstance(query.get("cursor"), str)
    ):
        query["cursor"] = well_formed_cursor(query["cursor"])
