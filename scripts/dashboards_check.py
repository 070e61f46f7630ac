#!/usr/bin/env python3
"""Validate the Grafana provisioning and dashboards without a running Grafana (stdlib only).

  scripts/dashboards_check.py --static
  scripts/dashboards_check.py --prometheus http://127.0.0.1:9099 --metrics-file scrape.txt

Checks (docs/design/webhooks-and-edge.md §5.6):
  1. provisioning YAML shape: apiVersion 1; datasources have name/uid/type/url; dashboard
     providers are `type: file` with options.path (and, when docker-compose.yml exists, that
     path is where it mounts grafana/dashboards);
  2. dashboard invariants: uid present, unique, <= 40 chars; title; schemaVersion 39; panel ids
     unique; every panel has a gridPos inside the 24-column grid and no two panels overlap;
     every datasource uid (panel and target) is provisioned or a $variable; targets have refId
     and expr;
  3. PromQL syntax: every panel expression ($__rate_interval/$__interval/$__range -> 5m,
     $var -> .*) is written as a recording rule into a temporary file and checked with
     `promtool check rules`;
  4. metric names: lists every metric the dashboards use. --static: each must be in the code's
     catalogue (common/src/metric_names.rs, the sandbox's exposition, recording rules of
     prometheus/alerts.yml, Prometheus built-ins, or grafana/pending-metrics.txt).
     --prometheus URL --metrics-file FILE: each must be in the scraped exposition FILE (or be a
     recording rule whose inputs are, a built-in, or pending), and every panel query must return
     a non-empty result from Prometheus' /api/v1/query. Queries that use a pending metric are
     reported as PENDING and skipped.

Exit status 0 when everything passes; the last line is OK or FAIL with a count.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCHEMA_VERSION = 39
BUILTIN_METRICS = {
    "up", "scrape_duration_seconds", "scrape_samples_scraped", "scrape_samples_post_metric_relabeling",
    "scrape_series_added", "ALERTS", "ALERTS_FOR_STATE",
}
PROMQL_WORDS = {
    # operators and modifiers
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset",
    "inf", "nan", "atan2",
    # aggregations
    "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values", "bottomk", "topk", "quantile",
    # functions
    "abs", "absent", "absent_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "day_of_month",
    "day_of_week", "day_of_year", "days_in_month", "delta", "deriv", "exp", "floor", "histogram_count",
    "histogram_sum", "histogram_fraction", "histogram_quantile", "holt_winters", "hour", "idelta", "increase",
    "irate", "label_join", "label_replace", "ln", "log2", "log10", "minute", "month", "predict_linear", "rate",
    "resets", "round", "scalar", "sgn", "sort", "sort_desc", "sqrt", "time", "timestamp", "vector", "year",
    "avg_over_time", "min_over_time", "max_over_time", "sum_over_time", "count_over_time", "quantile_over_time",
    "stddev_over_time", "stdvar_over_time", "last_over_time", "present_over_time", "acos", "acosh", "asin",
    "asinh", "atan", "atanh", "cos", "cosh", "sin", "sinh", "tan", "tanh", "deg", "rad", "pi",
}


class Report:
    def __init__(self) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []

    def error(self, msg: str) -> None:
        self.errors.append(msg)
        print(f"ERROR: {msg}")

    def warn(self, msg: str) -> None:
        self.warnings.append(msg)
        print(f"WARN: {msg}")


# ------------------------------------------------------------------------------------ YAML
def _scalar(text: str):
    t = text.strip()
    if not t:
        return None
    if t[0] in "\"'" and t[-1] == t[0] and len(t) >= 2:
        return t[1:-1]
    if t in ("true", "True"):
        return True
    if t in ("false", "False"):
        return False
    if t in ("null", "~"):
        return None
    if re.fullmatch(r"-?\d+", t):
        return int(t)
    if re.fullmatch(r"-?\d+\.\d*", t):
        return float(t)
    if t.startswith("[") or t.startswith("{"):
        try:
            return json.loads(t)
        except ValueError:
            pass
    return t


def _strip_comment(line: str) -> str:
    out, quote = [], None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            break
        out.append(ch)
    return "".join(out).rstrip()


def parse_simple_yaml(text: str):
    """Parses the block-style subset used by Grafana provisioning files: nested mappings,
    lists of mappings/scalars, scalars, comments. Raises ValueError on anything else."""
    lines = []
    for raw in text.splitlines():
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise ValueError("tab indentation")
        s = _strip_comment(raw)
        if s.strip():
            lines.append((len(s) - len(s.lstrip(" ")), s.strip()))
    pos = 0

    def block(indent: int):
        nonlocal pos
        if pos >= len(lines):
            return None
        ind, content = lines[pos]
        if ind < indent:
            return None
        if content.startswith("- ") or content == "-":
            items = []
            base = ind
            while pos < len(lines) and lines[pos][0] == base and (lines[pos][1].startswith("- ") or lines[pos][1] == "-"):
                rest = lines[pos][1][1:].strip()
                if not rest:
                    pos += 1
                    items.append(block(base + 1))
                elif re.match(r"^[A-Za-z0-9_.-]+:(\s|$)", rest):
                    # a mapping whose first key sits on the dash line: re-indent it
                    lines[pos] = (base + 2, rest)
                    items.append(mapping(base + 2))
                else:
                    pos += 1
                    items.append(_scalar(rest))
            return items
        return mapping(ind)

    def mapping(ind: int):
        nonlocal pos
        out = {}
        while pos < len(lines) and lines[pos][0] == ind and not lines[pos][1].startswith("- "):
            m = re.match(r"^([A-Za-z0-9_.-]+):(?:\s+(.*))?$", lines[pos][1])
            if not m:
                raise ValueError(f"cannot parse line: {lines[pos][1]!r}")
            key, val = m.group(1), m.group(2)
            if key in out:
                raise ValueError(f"duplicate key {key!r}")
            pos += 1
            if val is None or val == "":
                nxt = lines[pos][0] if pos < len(lines) else -1
                if nxt > ind or (nxt == ind and pos < len(lines) and lines[pos][1].startswith("- ")):
                    out[key] = block(nxt)
                else:
                    out[key] = None
            else:
                out[key] = _scalar(val)
        if pos < len(lines) and lines[pos][0] > ind:
            raise ValueError(f"unexpected indentation at: {lines[pos][1]!r}")
        return out

    result = block(0)
    if pos != len(lines):
        raise ValueError(f"unparsed content at: {lines[pos][1]!r}")
    return result


def load_yaml(path: str, rep: Report):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        data = parse_simple_yaml(text)
    except ValueError as e:
        rep.error(f"{rel(path)}: not in the supported YAML subset: {e}")
        return None
    try:  # cross-check with PyYAML when it happens to be installed
        import yaml  # type: ignore

        if yaml.safe_load(text) != data:
            rep.error(f"{rel(path)}: the minimal YAML parser and PyYAML disagree")
    except ImportError:
        pass
    return data


def rel(path: str) -> str:
    return os.path.relpath(path, ROOT)


# ------------------------------------------------------------------------------------ provisioning
def check_provisioning(root: str, rep: Report) -> set[str]:
    uids: set[str] = set()
    ds_dir = os.path.join(root, "grafana/provisioning/datasources")
    db_dir = os.path.join(root, "grafana/provisioning/dashboards")
    ds_files = sorted(f for f in os.listdir(ds_dir) if f.endswith((".yaml", ".yml"))) if os.path.isdir(ds_dir) else []
    db_files = sorted(f for f in os.listdir(db_dir) if f.endswith((".yaml", ".yml"))) if os.path.isdir(db_dir) else []
    if not ds_files:
        rep.error("no datasource provisioning file in grafana/provisioning/datasources")
    if not db_files:
        rep.error("no dashboard provider file in grafana/provisioning/dashboards")
    for f in ds_files:
        path = os.path.join(ds_dir, f)
        d = load_yaml(path, rep)
        if not isinstance(d, dict):
            rep.error(f"{rel(path)}: not a mapping")
            continue
        if d.get("apiVersion") != 1:
            rep.error(f"{rel(path)}: apiVersion must be 1")
        dss = d.get("datasources")
        if not isinstance(dss, list) or not dss:
            rep.error(f"{rel(path)}: datasources must be a non-empty list")
            continue
        for i, ds in enumerate(dss):
            for k in ("name", "uid", "type", "url"):
                if not isinstance(ds, dict) or not ds.get(k):
                    rep.error(f"{rel(path)}: datasources[{i}] lacks {k}")
            if isinstance(ds, dict) and ds.get("uid"):
                if ds["uid"] in uids:
                    rep.error(f"{rel(path)}: duplicate datasource uid {ds['uid']}")
                uids.add(ds["uid"])
                if ds.get("type") == "prometheus" and not (ds.get("jsonData") or {}).get("timeInterval"):
                    rep.warn(f"{rel(path)}: datasource {ds['uid']} has no jsonData.timeInterval (set it to the scrape interval)")
    compose = os.path.join(root, "docker-compose.yml")
    compose_text = open(compose, encoding="utf-8").read() if os.path.exists(compose) else None
    for f in db_files:
        path = os.path.join(db_dir, f)
        d = load_yaml(path, rep)
        if not isinstance(d, dict):
            rep.error(f"{rel(path)}: not a mapping")
            continue
        if d.get("apiVersion") != 1:
            rep.error(f"{rel(path)}: apiVersion must be 1")
        provs = d.get("providers")
        if not isinstance(provs, list) or not provs:
            rep.error(f"{rel(path)}: providers must be a non-empty list")
            continue
        for i, p in enumerate(provs):
            if not isinstance(p, dict) or not p.get("name"):
                rep.error(f"{rel(path)}: providers[{i}] lacks name")
                continue
            if p.get("type") != "file":
                rep.error(f"{rel(path)}: provider {p['name']}: type must be file")
            opath = (p.get("options") or {}).get("path")
            if not opath:
                rep.error(f"{rel(path)}: provider {p['name']}: options.path missing")
            elif compose_text is not None and not re.search(r"grafana/dashboards:" + re.escape(opath) + r"(:ro)?\b", compose_text):
                rep.error(f"{rel(path)}: provider path {opath} is not where docker-compose.yml mounts ./grafana/dashboards")
    return uids


# ------------------------------------------------------------------------------------ dashboards
def iter_panels(panels):
    for p in panels or []:
        yield p
        if p.get("type") == "row":
            yield from iter_panels(p.get("panels"))


def ds_ok(ds, uids: set[str], variables: set[str]) -> bool:
    if ds is None:
        return False
    uid = ds.get("uid") if isinstance(ds, dict) else ds
    if not isinstance(uid, str):
        return False
    m = re.fullmatch(r"\$\{?(\w+)\}?", uid)
    if m:
        return m.group(1) in variables
    return uid in uids


def check_dashboards(root: str, ds_uids: set[str], rep: Report):
    """Returns [(dashboard file, dashboard uid, panel id, panel title, refId, expr)]."""
    ddir = os.path.join(root, "grafana/dashboards")
    files = sorted(f for f in os.listdir(ddir) if f.endswith(".json")) if os.path.isdir(ddir) else []
    if not files:
        rep.error("no dashboards in grafana/dashboards")
    seen_uids: dict[str, str] = {}
    targets = []
    for f in files:
        path = os.path.join(ddir, f)
        try:
            with open(path, encoding="utf-8") as fh:
                d = json.load(fh)
        except ValueError as e:
            rep.error(f"{rel(path)}: invalid JSON: {e}")
            continue
        uid = d.get("uid")
        if not isinstance(uid, str) or not uid:
            rep.error(f"{f}: uid missing")
            uid = f
        elif len(uid) > 40:
            rep.error(f"{f}: uid {uid!r} longer than 40 characters")
        if uid in seen_uids:
            rep.error(f"{f}: uid {uid} also used by {seen_uids[uid]}")
        seen_uids[uid] = f
        if not d.get("title"):
            rep.error(f"{f}: title missing")
        if d.get("schemaVersion") != SCHEMA_VERSION:
            rep.error(f"{f}: schemaVersion is {d.get('schemaVersion')!r}, expected {SCHEMA_VERSION}")
        if "id" in d and d["id"] is not None:
            rep.error(f"{f}: a provisioned dashboard must not carry a numeric id (found {d['id']})")
        variables = {v.get("name") for v in (d.get("templating") or {}).get("list", []) if v.get("name")}
        ids: set[int] = set()
        boxes = []
        panels = list(iter_panels(d.get("panels")))
        if not panels:
            rep.error(f"{f}: no panels")
        for p in panels:
            pid = p.get("id")
            where = f"{f} panel {pid} ({p.get('title', '')!r})"
            if not isinstance(pid, int):
                rep.error(f"{where}: id must be an integer")
            elif pid in ids:
                rep.error(f"{where}: duplicate panel id")
            ids.add(pid)
            if not p.get("type"):
                rep.error(f"{where}: type missing")
            gp = p.get("gridPos")
            if not isinstance(gp, dict) or not all(isinstance(gp.get(k), int) for k in ("h", "w", "x", "y")):
                rep.error(f"{where}: gridPos with integer h, w, x, y required")
            else:
                if gp["w"] <= 0 or gp["h"] <= 0 or gp["x"] < 0 or gp["y"] < 0 or gp["x"] + gp["w"] > 24:
                    rep.error(f"{where}: gridPos {gp} outside the 24-column grid")
                for other, ob in boxes:
                    if gp["x"] < ob["x"] + ob["w"] and ob["x"] < gp["x"] + gp["w"] and gp["y"] < ob["y"] + ob["h"] and ob["y"] < gp["y"] + gp["h"]:
                        rep.error(f"{where}: gridPos overlaps panel {other}")
                boxes.append((pid, gp))
            if p.get("type") == "row":
                continue
            if not ds_ok(p.get("datasource"), ds_uids, variables):
                rep.error(f"{where}: datasource {p.get('datasource')!r} is not a provisioned uid or a $variable")
            tg = p.get("targets") or []
            if not tg:
                rep.error(f"{where}: no targets")
            refs = set()
            for t in tg:
                ref = t.get("refId")
                if not ref or ref in refs:
                    rep.error(f"{where}: target refId {ref!r} missing or duplicate")
                refs.add(ref)
                if "datasource" in t and not ds_ok(t["datasource"], ds_uids, variables):
                    rep.error(f"{where} target {ref}: datasource {t['datasource']!r} not provisioned")
                expr = t.get("expr")
                if not isinstance(expr, str) or not expr.strip():
                    rep.error(f"{where} target {ref}: expr missing")
                    continue
                for var in re.findall(r"\$\{?(\w+)", expr):
                    if not var.startswith("__") and var not in variables:
                        rep.error(f"{where} target {ref}: uses ${var}, which is not a dashboard variable")
                targets.append((f, uid, pid, p.get("title", ""), ref, expr))
    return targets


def substitute(expr: str, rate_interval: str) -> str:
    e = re.sub(r"\$\{?__(rate_interval|interval|range)\}?", rate_interval, expr)
    e = re.sub(r"\$\{?__range_s\}?", "300", e)
    return re.sub(r"\$\{?\w+(?::\w+)?\}?", ".*", e)


def metric_names(expr: str) -> set[str]:
    e = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)
    e = re.sub(r"\{[^}]*\}", "{}", e)
    e = re.sub(r"\[[^\]]*\]", "[]", e)
    e = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", e)
    names = set()
    for m in re.finditer(r"(?<![\w:.])([A-Za-z_:][A-Za-z0-9_:]*)", e):
        name = m.group(1)
        rest = e[m.end():].lstrip()
        if name in PROMQL_WORDS or rest.startswith("("):
            continue
        names.add(name)
    return names


def promtool_check(exprs, rate_interval: str, promtool: str, rep: Report) -> None:
    rules = []
    for f, uid, pid, title, ref, expr in exprs:
        rules.append({"record": f"dashboard:{re.sub(r'[^A-Za-z0-9_]', '_', uid)}:panel{pid}_{ref}",
                      "expr": substitute(expr, rate_interval)})
    with tempfile.TemporaryDirectory() as td:
        path = os.path.join(td, "dashboard-queries.rules.yml")
        with open(path, "w", encoding="utf-8") as fh:
            json.dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}, fh, indent=1)
        try:
            proc = subprocess.run([promtool, "check", "rules", path], capture_output=True, text=True, timeout=120)
        except FileNotFoundError:
            rep.error(f"promtool not found ({promtool}); cannot check PromQL syntax")
            return
    out = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        rep.error("promtool check rules on the dashboard queries failed:\n" + out)
    else:
        m = re.search(r"SUCCESS: (\d+) rules found", out)
        print(f"promql: promtool check rules: SUCCESS, {m.group(1) if m else '?'} panel queries parse")


# ------------------------------------------------------------------------------------ catalogues
def recording_rules(root: str) -> dict[str, set[str]]:
    """record name -> metric names its expr uses (prometheus/*.yml except tests)."""
    out: dict[str, set[str]] = {}
    pdir = os.path.join(root, "prometheus")
    if not os.path.isdir(pdir):
        return out
    for f in sorted(os.listdir(pdir)):
        if not f.endswith((".yml", ".yaml")) or "test" in f:
            continue
        text = open(os.path.join(pdir, f), encoding="utf-8").read()
        for m in re.finditer(r"^\s*-\s*record:\s*(\S+)\s*\n\s*expr:\s*(.+)$", text, re.M):
            out[m.group(1)] = metric_names(m.group(2).strip().strip("'\""))
    return out


def code_catalogue(root: str) -> set[str]:
    """Metric names the Rust code can emit: every "dropforge_..." or "process_..." string literal (metric_names.rs
    and the per-module consts), with the histogram suffixes, plus the sandbox's hand-written
    exposition (`# TYPE name ...`)."""
    names: set[str] = set()
    for crate in ("common", "api", "worker", "sandbox"):
        for dirpath, _, files in os.walk(os.path.join(root, crate, "src")):
            for f in files:
                if not f.endswith(".rs"):
                    continue
                text = open(os.path.join(dirpath, f), encoding="utf-8").read()
                # dropforge_* names, and the standard process_* metrics (common/src/telemetry.rs)
                for n in re.findall(r'"((?:dropforge|process)_[a-z0-9_]+)"', text):
                    names |= {n, n + "_bucket", n + "_sum", n + "_count"}
                names |= set(re.findall(r"# TYPE ([a-z_:][a-z0-9_:]*) ", text))
    return names


def scraped_names(path: str) -> set[str]:
    names = set()
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            m = re.match(r"([A-Za-z_:][A-Za-z0-9_:]*)", line)
            if m:
                names.add(m.group(1))
    return names


def load_pending(root: str) -> set[str]:
    path = os.path.join(root, "grafana/pending-metrics.txt")
    if not os.path.exists(path):
        return set()
    out = set()
    for line in open(path, encoding="utf-8"):
        line = line.split("#", 1)[0].strip()
        if line:
            out.add(line)
    return out


def expand(names: set[str], rules: dict[str, set[str]], depth: int = 0) -> set[str]:
    """Metric names plus the inputs of the recording rules among them (transitively)."""
    out = set(names)
    if depth > 5:
        return out
    for n in names:
        if n in rules:
            out |= expand(rules[n], rules, depth + 1)
    return out


# ------------------------------------------------------------------------------------ live
def query(base: str, expr: str, timeout: float = 15.0):
    url = base.rstrip("/") + "/api/v1/query"
    data = urllib.parse.urlencode({"query": expr}).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/x-www-form-urlencoded"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            body = json.load(resp)
    except urllib.error.HTTPError as e:
        try:
            body = json.load(e)
        except ValueError:
            return None, f"HTTP {e.code}"
    except (urllib.error.URLError, OSError, ValueError) as e:
        return None, str(e)
    if body.get("status") != "success":
        return None, f"{body.get('errorType')}: {body.get('error')}"
    return body["data"], None


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = ap.add_mutually_exclusive_group(required=True)
    mode.add_argument("--static", action="store_true", help="no server: provisioning, invariants, PromQL syntax, catalogue")
    mode.add_argument("--prometheus", metavar="URL", help="also run every panel query against this Prometheus")
    ap.add_argument("--metrics-file", metavar="FILE", help="concatenated /metrics expositions of the scraped processes (with --prometheus)")
    ap.add_argument("--root", default=ROOT, help="repository root")
    ap.add_argument("--rate-interval", default="5m", help="value of $__rate_interval/$__interval/$__range (5m)")
    ap.add_argument("--promtool", default=os.environ.get("PROMTOOL", shutil.which("promtool") or "promtool"))
    args = ap.parse_args()
    if args.prometheus and not args.metrics_file:
        ap.error("--prometheus needs --metrics-file")
    rep = Report()
    root = os.path.abspath(args.root)

    ds_uids = check_provisioning(root, rep)
    exprs = check_dashboards(root, ds_uids, rep)
    dashboards = sorted({e[0] for e in exprs})
    print(f"dashboards: {len(dashboards)} ({', '.join(dashboards)}), {len(exprs)} panel queries, datasource uids {sorted(ds_uids)}")
    if exprs:
        promtool_check(exprs, args.rate_interval, args.promtool, rep)

    rules = recording_rules(root)
    pending = load_pending(root)
    used: dict[str, set[str]] = {}
    for f, uid, pid, title, ref, expr in exprs:
        for n in metric_names(substitute(expr, args.rate_interval)):
            used.setdefault(n, set()).add(f)

    if args.static:
        known = code_catalogue(root) | set(rules) | BUILTIN_METRICS
        label = "catalogue"
    else:
        scraped = scraped_names(args.metrics_file)
        if not scraped:
            rep.error(f"{args.metrics_file}: no metrics in the scrape file")
        known = scraped | BUILTIN_METRICS
        label = "scrape"
        for n in sorted(pending & scraped):
            rep.warn(f"{n} is listed in grafana/pending-metrics.txt but IS in the scrape: remove it from the list")
    print(f"metrics used by the dashboards ({len(used)}):")
    for n in sorted(used):
        if n in pending:
            state = "PENDING"
        elif n in rules:
            missing = expand({n}, rules) - set(rules) - known - pending
            state = "recording rule" + (f" (inputs missing from the {label}: {sorted(missing)})" if missing else "")
            if missing:
                rep.error(f"recording rule {n} (used by {sorted(used[n])}) needs {sorted(missing)}, not in the {label}")
        elif n in known:
            state = "ok"
        else:
            state = f"MISSING from the {label}"
            rep.error(f"metric {n} (used by {', '.join(sorted(used[n]))}) is not in the {label}")
        print(f"  {n:55s} {state}")

    if args.prometheus:
        ok = pend = 0
        for f, uid, pid, title, ref, expr in exprs:
            e = substitute(expr, args.rate_interval)
            names = expand(metric_names(e), rules)
            where = f"{f} panel {pid} {title!r} {ref}"
            if names & pending:
                pend += 1
                print(f"  PENDING {where}: uses {sorted(names & pending)}")
                continue
            data, err = query(args.prometheus, e)
            if err:
                rep.error(f"{where}: query failed: {err}\n    {e}")
            elif data["resultType"] in ("vector", "matrix") and not data["result"]:
                rep.error(f"{where}: empty result\n    {e}")
            else:
                ok += 1
        print(f"live: {ok} panel queries returned data, {pend} pending, {len(exprs) - ok - pend} failed")

    if rep.errors:
        print(f"FAIL: {len(rep.errors)} error(s), {len(rep.warnings)} warning(s)")
        return 1
    print(f"OK ({len(rep.warnings)} warning(s))")
    return 0


if __name__ == "__main__":
    sys.exit(main())
