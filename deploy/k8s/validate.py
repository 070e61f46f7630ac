#!/usr/bin/env python3
"""Offline validation of rendered DropForge Kubernetes manifests (used by scripts/k8s-validate.sh).

    validate.py RENDERED.yaml [--k8s 1.29.0 --k8s 1.32.0] [--external-secret NAME ...]
                [--alerts prometheus/alerts.yml] [--label NAME]

1. Schema: every built-in object against the Kubernetes OpenAPI schemas of each --k8s version
   (kubernetes-validate, STRICT: unknown fields are errors); every custom resource (KEDA
   ScaledObject, prometheus-operator ServiceMonitor / PrometheusRule) against the CRD
   openAPIV3Schema excerpts in deploy/k8s/crd-schemas/ with python-jsonschema, strict the way the
   API server's strict field validation is (unknown fields rejected unless the schema says
   x-kubernetes-preserve-unknown-fields). A kind with no schema at all is an error.
2. Policy (what the schemas cannot say): security contexts, resources, probes, the shutdown
   arithmetic (grace periods vs DF_API_DRAIN_SECS + DF_REQUEST_TIMEOUT_SECS, DF_WORKER_SHUTDOWN_SECS),
   metrics ports never on a public Service, every Service / PDB / HPA / ScaledObject / ServiceMonitor
   selecting or targeting something that exists, every ConfigMap / Secret reference resolvable,
   the KEDA prometheus trigger's metadata, and the PrometheusRule equal to prometheus/alerts.yml.

Exit status 0 when everything passes, 1 otherwise (every problem is printed).
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys

import jsonschema
import yaml

try:
    import kubernetes_validate
    from kubernetes_validate.utils import SchemaNotFoundError
except ImportError:  # pragma: no cover
    sys.exit("validate.py: python module kubernetes_validate missing (pip install kubernetes-validate)")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

PROBLEMS: list[str] = []


def problem(obj: dict | None, msg: str) -> None:
    PROBLEMS.append(f"{kn(obj)}: {msg}" if obj else msg)


def kn(obj: dict | None) -> str:
    if not obj:
        return "?"
    md = obj.get("metadata") or {}
    return f"{obj.get('kind')}/{md.get('name')}" + (f" (ns {md['namespace']})" if md.get("namespace") else "")


# ---------------------------------------------------------------- CRD schemas
def strictify(schema):
    """Mirror the API server's strict field validation: objects with `properties` reject unknown
    members unless they preserve unknown fields; int-or-string and list-map markers honoured."""
    if isinstance(schema, dict):
        out = {k: strictify(v) for k, v in schema.items()}
        # Go's RE2 accepts inline flags after `^` (the CRDs use `^(?i)...`); Python wants them first
        if isinstance(out.get("pattern"), str) and out["pattern"].startswith("^(?i)"):
            out["pattern"] = "(?i)^" + out["pattern"][5:]
        if (out.get("type") == "object" and "properties" in out and "additionalProperties" not in out
                and not out.get("x-kubernetes-preserve-unknown-fields")):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strictify(v) for v in schema]
    return schema


def load_crds(directory: str) -> dict[tuple[str, str], dict]:
    crds = {}
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".json"):
            continue
        with open(os.path.join(directory, name)) as f:
            doc = json.load(f)
        group = doc["spec"]["group"]
        kind = doc["spec"]["names"]["kind"]
        for v in doc["spec"]["versions"]:
            schema = strictify(v["schema"]["openAPIV3Schema"])
            jsonschema.Draft7Validator.check_schema(schema)
            crds[(f"{group}/{v['name']}", kind)] = schema
    return crds


def list_map_keys_unique(obj, schema, path="spec"):
    """x-kubernetes-list-type: map -> the key fields must be unique (the API server enforces it)."""
    if isinstance(schema, dict) and isinstance(obj, dict):
        for k, sub in (schema.get("properties") or {}).items():
            if k in obj:
                list_map_keys_unique(obj[k], sub, f"{path}.{k}")
    if isinstance(schema, dict) and isinstance(obj, list):
        keys = schema.get("x-kubernetes-list-map-keys")
        if schema.get("x-kubernetes-list-type") == "map" and keys:
            seen = set()
            for item in obj:
                key = tuple(item.get(k) for k in keys) if isinstance(item, dict) else None
                if key in seen:
                    yield f"{path}: duplicate list-map key {key}"
                seen.add(key)
        for item in obj:
            yield from list_map_keys_unique(item, schema.get("items") or {}, path + "[]")


def check_metadata(obj: dict) -> None:
    md = obj.get("metadata")
    if not isinstance(md, dict) or not md.get("name"):
        problem(obj, "metadata.name missing")
        return
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", md["name"]) or len(md["name"]) > 253:
        problem(obj, f"metadata.name {md['name']!r} is not a DNS subdomain")
    for field in ("labels", "annotations"):
        for k, v in (md.get(field) or {}).items():
            if not isinstance(v, str):
                problem(obj, f"metadata.{field}.{k} must be a string, got {type(v).__name__}")


def validate_schema(objs, versions, crds) -> None:
    for obj in objs:
        key = (obj.get("apiVersion"), obj.get("kind"))
        if key in crds:
            check_metadata(obj)
            v = jsonschema.Draft7Validator(crds[key])
            errors = sorted(v.iter_errors(obj), key=lambda e: list(e.absolute_path))
            for e in errors:
                problem(obj, f"CRD schema {key[0]} {key[1]}: at {'.'.join(map(str, e.absolute_path)) or '/'}: {e.message}")
            for msg in list_map_keys_unique(obj.get("spec"), crds[key]["properties"]["spec"]):
                problem(obj, f"CRD schema: {msg}")
            continue
        for ver in versions:
            try:
                kubernetes_validate.validate(obj, ver, strict=True)
            except SchemaNotFoundError:
                problem(obj, f"no schema for {key[0]} {key[1]} (Kubernetes {ver}) and no CRD schema in crd-schemas/")
                break
            except kubernetes_validate.ValidationError as e:
                where = ".".join(str(p) for p in e.path) or "/"
                problem(obj, f"Kubernetes {ver} schema: at {where}: {e.message}")


# ---------------------------------------------------------------- helpers
def pod_spec(obj: dict) -> dict | None:
    k = obj.get("kind")
    if k in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        return ((obj.get("spec") or {}).get("template") or {}).get("spec")
    if k == "CronJob":
        return (((obj.get("spec") or {}).get("jobTemplate") or {}).get("spec") or {}).get("template", {}).get("spec")
    if k == "Pod":
        return obj.get("spec")
    return None


def pod_labels(obj: dict) -> dict:
    return (((obj.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}


def selector_matches(sel: dict | None, labels: dict) -> bool:
    if not sel:
        return False
    ml = sel.get("matchLabels", sel if "matchExpressions" not in sel and "matchLabels" not in sel else {})
    if any(labels.get(k) != v for k, v in (ml or {}).items()):
        return False
    for ex in sel.get("matchExpressions") or []:
        val, op, vals = labels.get(ex["key"]), ex["operator"], ex.get("values") or []
        if op == "In" and val not in vals:
            return False
        if op == "NotIn" and val in vals:
            return False
        if op == "Exists" and ex["key"] not in labels:
            return False
        if op == "DoesNotExist" and ex["key"] in labels:
            return False
    return True


def ns(obj: dict) -> str:
    return (obj.get("metadata") or {}).get("namespace") or ""


def container_env(obj: dict, container: dict, by_kind) -> dict[str, str]:
    """The environment a container gets from envFrom ConfigMaps and literal env (secrets and
    valueFrom omitted): later sources win, env over envFrom, as in the kubelet."""
    env: dict[str, str] = {}
    for src in container.get("envFrom") or []:
        ref = src.get("configMapRef")
        if ref:
            cm = by_kind.get(("ConfigMap", ns(obj), ref.get("name")))
            if cm:
                env.update({(src.get("prefix") or "") + k: v for k, v in (cm.get("data") or {}).items()})
    for e in container.get("env") or []:
        if "value" in e:
            env[e["name"]] = e["value"]
    return env


def secret_keys(obj: dict, container: dict, by_kind) -> set[str] | None:
    keys: set[str] = set()
    for src in container.get("envFrom") or []:
        ref = src.get("secretRef")
        if ref:
            sec = by_kind.get(("Secret", ns(obj), ref.get("name")))
            if sec is None:
                return None  # external: unknown keys
            keys |= set((sec.get("data") or {}).keys()) | set((sec.get("stringData") or {}).keys())
    return keys


def as_int(v, default=None):
    try:
        return int(str(v).strip())
    except (TypeError, ValueError):
        return default


def prestop_sleep(container: dict) -> int:
    pre = ((container.get("lifecycle") or {}).get("preStop") or {})
    if "sleep" in pre:
        return as_int(pre["sleep"].get("seconds"), 0)
    cmd = (pre.get("exec") or {}).get("command") or []
    if len(cmd) == 2 and os.path.basename(cmd[0]) == "sleep":
        return as_int(cmd[1], 0)
    return 0


def probe_path(container: dict, probe: str) -> str | None:
    return (((container.get(probe) or {}).get("httpGet")) or {}).get("path")


def port_names(container: dict) -> dict:
    return {p.get("name"): p.get("containerPort") for p in container.get("ports") or [] if p.get("name")}


# ---------------------------------------------------------------- policy
METRICS_PORTS = {9464, 9465}


def check_policy(objs, external_secrets: set[str], alerts_path: str | None) -> None:
    by_kind = {(o.get("kind"), ns(o), (o.get("metadata") or {}).get("name")): o for o in objs}
    workloads = [o for o in objs if pod_spec(o) is not None]

    for o in objs:
        if o.get("kind") != "Namespace" and not ns(o) and o.get("kind") not in ("ClusterRole", "ClusterRoleBinding"):
            problem(o, "no namespace (the overlay must set one)")

    # --- workloads: security, resources, references
    for w in workloads:
        ps = pod_spec(w) or {}
        psc = ps.get("securityContext") or {}
        if ps.get("automountServiceAccountToken") is not False:
            problem(w, "automountServiceAccountToken must be false (no API access needed)")
        if (psc.get("seccompProfile") or {}).get("type") != "RuntimeDefault":
            problem(w, "pod securityContext.seccompProfile.type must be RuntimeDefault")
        sa = ps.get("serviceAccountName")
        if sa and ("ServiceAccount", ns(w), sa) not in by_kind:
            problem(w, f"serviceAccountName {sa} is not rendered")
        for c in (ps.get("initContainers") or []) + (ps.get("containers") or []):
            csc = c.get("securityContext") or {}
            cname = f"container {c.get('name')}"
            if not (csc.get("runAsNonRoot") or psc.get("runAsNonRoot")):
                problem(w, f"{cname}: runAsNonRoot must be true")
            if csc.get("readOnlyRootFilesystem") is not True:
                problem(w, f"{cname}: readOnlyRootFilesystem must be true")
            if csc.get("allowPrivilegeEscalation") is not False:
                problem(w, f"{cname}: allowPrivilegeEscalation must be false")
            if csc.get("privileged"):
                problem(w, f"{cname}: privileged")
            if "ALL" not in ((csc.get("capabilities") or {}).get("drop") or []):
                problem(w, f"{cname}: capabilities.drop must contain ALL")
            if (csc.get("capabilities") or {}).get("add"):
                problem(w, f"{cname}: capabilities.add is not allowed")
            res = c.get("resources") or {}
            for part in ("requests", "limits"):
                for r in ("cpu", "memory"):
                    if r not in (res.get(part) or {}):
                        problem(w, f"{cname}: resources.{part}.{r} missing")
            if str(c.get("image", "")).endswith(":latest"):
                problem(w, f"{cname}: image tag :latest")
            for src in c.get("envFrom") or []:
                for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
                    ref = src.get(key)
                    if ref and (kind, ns(w), ref.get("name")) not in by_kind and not ref.get("optional"):
                        if kind == "Secret" and ref.get("name") in external_secrets:
                            continue
                        problem(w, f"{cname}: {key} {ref.get('name')} is neither rendered nor declared external")
            for e in c.get("env") or []:
                vf = e.get("valueFrom") or {}
                for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                    ref = vf.get(key)
                    if not ref:
                        continue
                    target = by_kind.get((kind, ns(w), ref.get("name")))
                    if target is None:
                        if not (kind == "Secret" and ref.get("name") in external_secrets) and not ref.get("optional"):
                            problem(w, f"{cname}: env {e['name']}: {kind} {ref.get('name')} missing")
                    elif ref.get("key") not in (target.get("data") or {}) and ref.get("key") not in (target.get("stringData") or {}):
                        problem(w, f"{cname}: env {e['name']}: key {ref.get('key')} not in {kind} {ref.get('name')}")
        for v in ps.get("volumes") or []:
            for kind, key, name_key in (("ConfigMap", "configMap", "name"), ("Secret", "secret", "secretName")):
                ref = v.get(key)
                if ref and (kind, ns(w), ref.get(name_key)) not in by_kind and not ref.get("optional") \
                        and not (kind == "Secret" and ref.get(name_key) in external_secrets):
                    problem(w, f"volume {v.get('name')}: {kind} {ref.get(name_key)} missing")

    # --- the DropForge processes
    def component(w):
        return pod_labels(w).get("app.kubernetes.io/component") or ((w.get("metadata") or {}).get("labels") or {}).get("app.kubernetes.io/component")

    apis = [w for w in workloads if w.get("kind") == "Deployment" and component(w) == "api"]
    workers = [w for w in workloads if w.get("kind") == "Deployment" and component(w) == "worker"]
    jobs = [w for w in workloads if w.get("kind") == "Job" and component(w) == "migrate"]
    if len(apis) != 1 or len(workers) != 1 or len(jobs) != 1:
        problem(None, f"expected one api Deployment, one worker Deployment and one migrate Job; got {len(apis)}, {len(workers)}, {len(jobs)}")
    for w in apis:
        ps = pod_spec(w)
        c = ps["containers"][0]
        env = container_env(w, c, by_kind)
        if "dropforge-api" not in (c.get("args") or []) + (c.get("command") or []):
            problem(w, "api container does not run dropforge-api")
        if c.get("command"):
            problem(w, "command overrides the image's tini ENTRYPOINT (use args)")
        if probe_path(c, "readinessProbe") != "/ready":
            problem(w, "api readinessProbe must be GET /ready")
        if probe_path(c, "livenessProbe") != "/health":
            problem(w, "api livenessProbe must be GET /health")
        drain, timeout = as_int(env.get("DF_API_DRAIN_SECS"), 2), as_int(env.get("DF_REQUEST_TIMEOUT_SECS"), 35)
        need = prestop_sleep(c) + drain + timeout
        grace = as_int(ps.get("terminationGracePeriodSeconds"), 30)
        if grace <= need:
            problem(w, f"terminationGracePeriodSeconds {grace} <= preStop {prestop_sleep(c)} + DF_API_DRAIN_SECS {drain} + DF_REQUEST_TIMEOUT_SECS {timeout}")
        listen = env.get("DF_API_LISTEN", "127.0.0.1:8080")
        mlisten = env.get("DF_API_METRICS_LISTEN", "127.0.0.1:9464")
        ports = port_names(c)
        if not listen.startswith("0.0.0.0:") or as_int(listen.rsplit(":", 1)[1]) != ports.get("http"):
            problem(w, f"DF_API_LISTEN {listen} does not match the container port http {ports.get('http')} on 0.0.0.0")
        if not mlisten.startswith("0.0.0.0:") or as_int(mlisten.rsplit(":", 1)[1]) != ports.get("metrics"):
            problem(w, f"DF_API_METRICS_LISTEN {mlisten} does not match the container port metrics {ports.get('metrics')}")
        keys = secret_keys(w, c, by_kind)
        if keys is not None and "DATABASE_URL" not in keys:
            problem(w, "DATABASE_URL not in the api's Secrets")
        for secret_var in ("DATABASE_URL", "REDIS_URL", "DF_CACHE_REDIS_URL", "DF_ALIEXPRESS_APP_SECRET",
                           "DF_ALIEXPRESS_ACCESS_TOKEN", "DF_META_ACCESS_TOKEN", "DF_YOUTUBE_API_KEY"):
            if secret_var in env:
                problem(w, f"{secret_var} is a secret (config::Secret) but comes from a ConfigMap or a literal")
    for w in workers:
        ps = pod_spec(w)
        c = ps["containers"][0]
        env = container_env(w, c, by_kind)
        if c.get("command"):
            problem(w, "command overrides the image's tini ENTRYPOINT (use args)")
        shutdown = as_int(env.get("DF_WORKER_SHUTDOWN_SECS"), 30)
        grace = as_int(ps.get("terminationGracePeriodSeconds"), 30)
        if grace <= shutdown + prestop_sleep(c):
            problem(w, f"terminationGracePeriodSeconds {grace} <= DF_WORKER_SHUTDOWN_SECS {shutdown} (+ preStop)")
        mlisten = env.get("DF_WORKER_METRICS_LISTEN", "127.0.0.1:9465")
        if not mlisten.startswith("0.0.0.0:") or as_int(mlisten.rsplit(":", 1)[1]) != port_names(c).get("metrics"):
            problem(w, f"DF_WORKER_METRICS_LISTEN {mlisten} does not match the container port metrics")
        for secret_var in ("DATABASE_URL", "REDIS_URL", "DF_ALIEXPRESS_APP_SECRET", "DF_META_ACCESS_TOKEN", "DF_YOUTUBE_API_KEY"):
            if secret_var in env:
                problem(w, f"{secret_var} is a secret (config::Secret) but comes from a ConfigMap or a literal")
    for w in jobs:
        c = pod_spec(w)["containers"][0]
        if (c.get("args") or []) != ["dropforge-api", "migrate"]:
            problem(w, "the migration Job must run `dropforge-api migrate`")

    # --- Services: selectors, ports, no metrics on a public Service
    services = [o for o in objs if o.get("kind") == "Service"]
    for s in services:
        sel = (s.get("spec") or {}).get("selector")
        targets = [w for w in workloads if ns(w) == ns(s) and w.get("kind") != "Job" and selector_matches({"matchLabels": sel}, pod_labels(w))]
        if not targets:
            problem(s, f"selector {sel} matches no workload")
            continue
        is_metrics = ((s.get("metadata") or {}).get("labels") or {}).get("dropforge.io/metrics") == "true"
        for p in (s.get("spec") or {}).get("ports") or []:
            tp = p.get("targetPort", p.get("port"))
            resolved = set()
            for w in targets:
                for c in pod_spec(w).get("containers") or []:
                    names = port_names(c)
                    if isinstance(tp, str):
                        if tp in names:
                            resolved.add(names[tp])
                    elif tp in {cp.get("containerPort") for cp in c.get("ports") or []}:
                        resolved.add(tp)
            if not resolved:
                problem(s, f"port {p.get('name')}: targetPort {tp} is not a container port of {[kn(t) for t in targets]}")
            if not is_metrics and (resolved & METRICS_PORTS or p.get("name") == "metrics" or tp == "metrics"):
                problem(s, f"public Service exposes a metrics port ({p.get('name')} -> {tp})")
        if is_metrics and (s.get("spec") or {}).get("type", "ClusterIP") != "ClusterIP":
            problem(s, "a metrics Service must be ClusterIP")
    for s in services:
        if (s.get("spec") or {}).get("type") in ("NodePort", "LoadBalancer"):
            problem(s, "NodePort/LoadBalancer Services are not expected (traffic enters through the Ingress)")

    # --- PDB / HPA / ScaledObject targets
    for o in objs:
        k = o.get("kind")
        if k == "PodDisruptionBudget":
            sel = (o.get("spec") or {}).get("selector")
            if not [w for w in workloads if ns(w) == ns(o) and w.get("kind") == "Deployment" and selector_matches(sel, pod_labels(w))]:
                problem(o, "selector matches no Deployment")
        if k in ("HorizontalPodAutoscaler", "ScaledObject"):
            ref = (o.get("spec") or {}).get("scaleTargetRef") or {}
            if ("Deployment" if ref.get("kind", "Deployment") == "Deployment" else ref.get("kind"), ns(o), ref.get("name")) not in by_kind:
                problem(o, f"scaleTargetRef {ref} not rendered")
            target = by_kind.get(("Deployment", ns(o), ref.get("name")))
            if target is not None and "replicas" in (target.get("spec") or {}):
                problem(o, f"{kn(target)} sets spec.replicas although {k} owns the count (every apply would reset it)")
        if k == "HorizontalPodAutoscaler":
            sp = o.get("spec") or {}
            if sp.get("minReplicas", 1) > sp.get("maxReplicas", 0):
                problem(o, "minReplicas > maxReplicas")
            if not any(m.get("type") == "Resource" and (m.get("resource") or {}).get("name") == "cpu" for m in sp.get("metrics") or []):
                problem(o, "the api HPA must scale on CPU")
        if k == "ScaledObject":
            sp = o.get("spec") or {}
            if sp.get("minReplicaCount", 0) > sp.get("maxReplicaCount", 100):
                problem(o, "minReplicaCount > maxReplicaCount")
            for t in sp.get("triggers") or []:
                if t.get("type") != "prometheus":
                    continue
                md = t.get("metadata") or {}
                for key in ("serverAddress", "query", "threshold"):
                    if not md.get(key):
                        problem(o, f"prometheus trigger: metadata.{key} is required")
                for key in ("threshold", "activationThreshold"):
                    if key in md:
                        try:
                            float(md[key])
                        except ValueError:
                            problem(o, f"prometheus trigger: metadata.{key} {md[key]!r} is not a number")
                if not re.match(r"^https?://[^/\s]+", md.get("serverAddress", "")):
                    problem(o, "prometheus trigger: serverAddress must be an http(s) URL")
                q = md.get("query", "")
                if "dropforge_queue_depth" not in q or not re.search(r'state\s*=\s*"queued"', q):
                    problem(o, "prometheus trigger: query must read dropforge_queue_depth{state=\"queued\"}")
                if re.search(r"^\s*sum\s*\(\s*dropforge_queue_depth", q):
                    problem(o, "prometheus trigger: summing the gauge over workers multiplies it by the replica count; take max by (kind) first")
                known = {"serverAddress", "query", "threshold", "activationThreshold", "namespace", "customHeaders",
                         "ignoreNullValues", "unsafeSsl", "authModes", "queryParameters", "timeout"}
                for key in md:
                    if key not in known:
                        problem(o, f"prometheus trigger: unknown metadata key {key!r}")

    # --- ServiceMonitor: selects the metrics Services, the port names exist, jobLabel set
    for o in objs:
        if o.get("kind") != "ServiceMonitor":
            continue
        sp = o.get("spec") or {}
        selected = [s for s in services if ns(s) == ns(o) and selector_matches(sp.get("selector"), (s.get("metadata") or {}).get("labels") or {})]
        if not selected:
            problem(o, "selector matches no Service")
        jobs_seen = set()
        for s in selected:
            names = {p.get("name") for p in (s.get("spec") or {}).get("ports") or []}
            for ep in sp.get("endpoints") or []:
                if ep.get("port") and ep["port"] not in names:
                    problem(o, f"endpoint port {ep['port']} is not a port of {kn(s)}")
            lbl = ((s.get("metadata") or {}).get("labels") or {}).get(sp.get("jobLabel", ""))
            if not lbl:
                problem(o, f"{kn(s)} has no label {sp.get('jobLabel')!r} (the job label the alert rules use)")
            jobs_seen.add(lbl)
            if ((s.get("metadata") or {}).get("labels") or {}).get("dropforge.io/metrics") != "true":
                problem(o, f"selects the non-metrics Service {kn(s)}")
        for needed in ("dropforge-api", "dropforge-worker"):
            if needed not in jobs_seen:
                problem(o, f"no scraped Service yields job={needed}")

    # --- PrometheusRule == prometheus/alerts.yml
    if alerts_path:
        with open(alerts_path) as f:
            groups = yaml.safe_load(f)["groups"]
        rules = [o for o in objs if o.get("kind") == "PrometheusRule"]
        if len(rules) != 1:
            problem(None, f"expected one PrometheusRule, got {len(rules)}")
        for o in rules:
            if (o.get("spec") or {}).get("groups") != groups:
                problem(o, f"spec.groups differ from {os.path.relpath(alerts_path, ROOT)} (run deploy/k8s/gen-prometheusrule.sh)")

    # --- settings that depend on the replica count
    cms = [o for o in objs if o.get("kind") == "ConfigMap" and (o.get("metadata") or {}).get("name", "").startswith("dropforge-config")]
    hpas = [o for o in objs if o.get("kind") == "HorizontalPodAutoscaler"]
    sos = [o for o in objs if o.get("kind") == "ScaledObject"]
    for cm in cms:
        data = cm.get("data") or {}
        cap = as_int(data.get("DF_QUEUE_CAP"), 3000)
        if not 1 <= cap <= 6000:
            problem(cm, f"DF_QUEUE_CAP {cap} outside 1..6000 (apalis-redis wedges at 8000)")
        reps = as_int(data.get("DF_RATE_LIMIT_REPLICAS"), 1)
        for h in hpas:
            lo, hi = h["spec"].get("minReplicas", 1), h["spec"]["maxReplicas"]
            if not lo <= reps <= hi:
                problem(cm, f"DF_RATE_LIMIT_REPLICAS {reps} outside the api HPA range {lo}..{hi}")
        if data.get("DF_ENV") == "production" and data.get("DF_WEBHOOK_ALLOW_CIDRS"):
            problem(cm, "DF_WEBHOOK_ALLOW_CIDRS is refused in production")
    if apis and workers and hpas and sos:
        api_pool = as_int(container_env(apis[0], pod_spec(apis[0])["containers"][0], by_kind).get("DF_DB_MAX_CONNECTIONS"), 16)
        wrk_pool = as_int(container_env(workers[0], pod_spec(workers[0])["containers"][0], by_kind).get("DF_DB_MAX_CONNECTIONS"), 16)
        total = hpas[0]["spec"]["maxReplicas"] * api_pool + sos[0]["spec"].get("maxReplicaCount", 100) * wrk_pool
        print(f"  info: PostgreSQL connections at full scale: {hpas[0]['spec']['maxReplicas']} api x {api_pool} + "
              f"{sos[0]['spec'].get('maxReplicaCount', 100)} workers x {wrk_pool} = {total} (+1 migrate x 2): keep under the server's/pooler's max_connections")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("rendered")
    ap.add_argument("--k8s", action="append", default=None, help="Kubernetes version(s) to validate against")
    ap.add_argument("--crd-schemas", default=os.path.join(HERE, "crd-schemas"))
    ap.add_argument("--external-secret", action="append", default=[])
    ap.add_argument("--alerts", default=os.path.join(ROOT, "prometheus", "alerts.yml"))
    ap.add_argument("--label", default=None)
    a = ap.parse_args()
    versions = a.k8s or ["1.29.0", "1.32.0"]
    with open(a.rendered) as f:
        objs = [o for o in yaml.safe_load_all(f) if o]
    crds = load_crds(a.crd_schemas)
    label = a.label or a.rendered
    kinds: dict[str, int] = {}
    for o in objs:
        kinds[o.get("kind")] = kinds.get(o.get("kind"), 0) + 1
    validate_schema(objs, versions, crds)
    check_policy(objs, set(a.external_secret), a.alerts)
    summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
    if PROBLEMS:
        print(f"FAIL {label}: {len(objs)} objects ({summary})")
        for p in PROBLEMS:
            print(f"  - {p}")
        return 1
    print(f"ok   {label}: {len(objs)} objects ({summary}); schemas: Kubernetes {', '.join(versions)} strict + "
          f"{len(crds)} CRD schemas; policy checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
