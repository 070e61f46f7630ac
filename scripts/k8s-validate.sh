#!/usr/bin/env bash
# Offline validation of the Kubernetes manifests in deploy/k8s (no cluster needed).
#
#   scripts/k8s-validate.sh            everything below; exit 0 only when all passes
#
# 1. tools: kubectl with kustomize >= v4 (else installs Debian's `kubectl` / `kubernetes-client`,
#    or uses a standalone `kustomize`), python3 with PyYAML + jsonschema, and kubernetes-validate
#    (pip) when missing
# 2. deploy/k8s/base/prometheusrule.yaml is what deploy/k8s/gen-prometheusrule.sh makes from
#    prometheus/alerts.yml right now (and promtool accepts its rules, when promtool is installed)
# 3. renders every overlay (kubectl kustomize) and validates every object: Kubernetes schemas of
#    $DF_K8S_VERSIONS in strict mode (kubernetes-validate), the KEDA / prometheus-operator CRDs
#    against deploy/k8s/crd-schemas/ (jsonschema), and the policy checks of deploy/k8s/validate.py
# 4. the rendered settings are accepted by the real config parser (target/release/dropforge-api,
#    when built: it must fail on the database, not on the configuration)
# 5. negative checks: broken copies (typo'd fields, bad durations, short grace periods, a metrics
#    port on the public Service, a writable root filesystem, a stale PrometheusRule, a broken
#    kustomization) MUST be rejected, or this script fails
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$DF_ROOT"

K8S="$DF_ROOT/deploy/k8s"
VERSIONS="${DF_K8S_VERSIONS:-1.29.0 1.32.0}"
OVERLAYS=(production dev)
# read as ${!ext_var} below
# shellcheck disable=SC2034
EXTERNAL_SECRETS_production="dropforge-datastores dropforge-upstreams"
# shellcheck disable=SC2034
EXTERNAL_SECRETS_dev=""
WORK="$(mktemp -d "${TMPDIR:-/tmp}/df-k8s-validate.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
FAILS=0
pass() { printf '  PASS  %s\n' "$*"; }
fail() { printf '  FAIL  %s\n' "$*"; FAILS=$((FAILS + 1)); }

# ---------------------------------------------------------------- 1. tools
kustomize_major() { # prints the major version of kubectl's built-in kustomize (0 if unknown)
  local v
  v="$(kubectl version --client 2>/dev/null | sed -n 's/^Kustomize Version: v\{0,1\}\([0-9]*\).*/\1/p')"
  echo "${v:-0}"
}
RENDER=()
pick_renderer() {
  if command -v kubectl >/dev/null 2>&1 && (($(kustomize_major) >= 4)); then RENDER=(kubectl kustomize); return 0; fi
  if command -v kustomize >/dev/null 2>&1; then RENDER=(kustomize build); return 0; fi
  return 1
}
if ! pick_renderer; then
  # Debian: `kubectl` where a Kubernetes apt source is configured, else `kubernetes-client`
  # (bookworm ships 1.20, whose kustomize v2 is too old for these overlays)
  for pkg in kubectl kubernetes-client; do
    if apt-cache show "$pkg" >/dev/null 2>&1; then
      ensure_packages --optional "kubectl:$pkg"
      pick_renderer && break
    fi
  done
fi
((${#RENDER[@]})) || die "no kustomize >= v4: install kubectl >= 1.21 (or kustomize) and re-run"
log "renderer: ${RENDER[*]} ($(kubectl version --client 2>/dev/null | tr '\n' ' ' || kustomize version))"
ensure_packages --optional pymod-yaml:python3-yaml
python3 -c 'import yaml' 2>/dev/null || python3 -m pip install -q pyyaml
python3 -c 'import jsonschema' 2>/dev/null || python3 -m pip install -q jsonschema
if ! python3 -c 'import kubernetes_validate' 2>/dev/null; then
  log "pip install kubernetes-validate"
  python3 -m pip install -q kubernetes-validate || die "pip install kubernetes-validate failed"
fi
log "kubernetes-validate $(python3 -c 'import importlib.metadata as m; print(m.version("kubernetes-validate"))'), jsonschema $(python3 -c 'import importlib.metadata as m; print(m.version("jsonschema"))'); Kubernetes versions: $VERSIONS"

versions_args=()
for v in $VERSIONS; do versions_args+=(--k8s "$v"); done
validate() { # validate RENDERED LABEL [extra args]
  local f="$1" label="$2"; shift 2
  python3 "$K8S/validate.py" "$f" --label "$label" "${versions_args[@]}" "$@"
}
ext_args() { local n; for n in $1; do printf '%s\n' --external-secret "$n"; done; }

# ---------------------------------------------------------------- 2. PrometheusRule up to date
echo "== PrometheusRule generated from prometheus/alerts.yml"
if "$K8S/gen-prometheusrule.sh" --stdout | diff -u "$K8S/base/prometheusrule.yaml" - >"$WORK/rule.diff"; then
  pass "deploy/k8s/base/prometheusrule.yaml is up to date"
else
  fail "deploy/k8s/base/prometheusrule.yaml is stale: run deploy/k8s/gen-prometheusrule.sh"; head -n 20 "$WORK/rule.diff"
fi
if command -v promtool >/dev/null 2>&1; then
  python3 -c 'import sys, yaml; d = yaml.safe_load(open(sys.argv[1])); yaml.safe_dump({"groups": d["spec"]["groups"]}, open(sys.argv[2], "w"), sort_keys=False)' \
    "$K8S/base/prometheusrule.yaml" "$WORK/rules-from-cr.yml"
  if promtool check rules "$WORK/rules-from-cr.yml" >"$WORK/promtool.log" 2>&1; then
    pass "promtool check rules on the PrometheusRule's groups ($(grep -o 'SUCCESS: [0-9]* rules found' "$WORK/promtool.log"))"
  else fail "promtool check rules"; cat "$WORK/promtool.log"; fi
else
  echo "  skip  promtool not installed (scripts/observability-test.sh checks prometheus/alerts.yml itself)"
fi

# ---------------------------------------------------------------- 3. render + validate
echo "== render and validate"
if "${RENDER[@]}" "$K8S/base" >"$WORK/base.yaml" 2>"$WORK/base.err"; then
  pass "base renders ($(grep -c '^kind:' "$WORK/base.yaml") objects; not deployable alone: no namespace, no secrets)"
else fail "base does not render"; cat "$WORK/base.err"; fi
for o in "${OVERLAYS[@]}"; do
  if ! "${RENDER[@]}" "$K8S/overlays/$o" >"$WORK/$o.yaml" 2>"$WORK/$o.err"; then
    fail "overlay $o does not render"; cat "$WORK/$o.err"; continue
  fi
  ext_var="EXTERNAL_SECRETS_$o"
  mapfile -t ext < <(ext_args "${!ext_var}")
  if validate "$WORK/$o.yaml" "overlays/$o" "${ext[@]}" >"$WORK/$o.out" 2>&1; then
    pass "overlay $o"; sed 's/^/        /' "$WORK/$o.out"
  else fail "overlay $o"; sed 's/^/        /' "$WORK/$o.out"; fi
done
if grep -q 'component: sandbox' "$WORK/dev.yaml" && ! grep -q 'component: sandbox' "$WORK/production.yaml"; then
  pass "the sandbox is in the dev overlay only"
else fail "the sandbox must be in the dev overlay and only there"; fi

# ---------------------------------------------------------------- 4. real config parser
echo "== settings accepted by the real config parser (common/src/config)"
API_BIN="$DF_ROOT/target/release/dropforge-api"
if [[ -x "$API_BIN" ]]; then
  for o in "${OVERLAYS[@]}"; do
    for comp in api worker; do
      # the container's environment: ConfigMap + literal env, plus placeholder secrets
      python3 - "$WORK/$o.yaml" "$comp" >"$WORK/$o-$comp.env" <<'PY'
import sys, yaml
objs = [o for o in yaml.safe_load_all(open(sys.argv[1])) if o]
cms = {o["metadata"]["name"]: o.get("data") or {} for o in objs if o["kind"] == "ConfigMap"}
secs = {o["metadata"]["name"]: o.get("data") or {} for o in objs if o["kind"] == "Secret"}
dep = next(o for o in objs if o["kind"] == "Deployment" and o["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component") == sys.argv[2])
c = dep["spec"]["template"]["spec"]["containers"][0]
env = {}
for src in c.get("envFrom") or []:
    if "configMapRef" in src:
        env.update(cms[src["configMapRef"]["name"]])
    if "secretRef" in src:   # values replaced: only the parser runs, nothing connects
        for k in secs.get(src["secretRef"]["name"], {}) or {"DATABASE_URL": 1, "REDIS_URL": 1}:
            env[k] = "placeholder"
for e in c.get("env") or []:
    if "value" in e:
        env[e["name"]] = e["value"]
env["DATABASE_URL"] = "postgres://nobody@127.0.0.1:9/none"   # discard port: refused at once
env["REDIS_URL"] = "redis://127.0.0.1:9"
env.pop("DF_CACHE_REDIS_URL", None)
for k, v in sorted(env.items()):
    print(f"{k}={v}")
PY
      mapfile -t envs <"$WORK/$o-$comp.env"
      out="$(env -i PATH="$PATH" "${envs[@]}" timeout 20 "$API_BIN" keys list 2>&1 || true)"
      if grep -qi 'invalid configuration' <<<"$out"; then
        fail "overlay $o, $comp environment: $(grep -i 'invalid configuration' <<<"$out" | head -n 1)"
      else
        pass "overlay $o, $comp environment parses ($(wc -l <"$WORK/$o-$comp.env") variables; then: $(tail -n 1 <<<"$out" | cut -c1-90))"
      fi
    done
  done
  # negative: a value the parser refuses must be caught by this step
  mapfile -t envs < <(sed 's/^DF_QUEUE_CAP=.*/DF_QUEUE_CAP=9000/' "$WORK/production-api.env")
  out="$(env -i PATH="$PATH" "${envs[@]}" timeout 20 "$API_BIN" keys list 2>&1 || true)"
  if grep -qi 'invalid configuration' <<<"$out"; then pass "negative: DF_QUEUE_CAP=9000 is refused by the parser ($(grep -io 'DF_QUEUE_CAP must[^(]*' <<<"$out"))"
  else fail "negative: DF_QUEUE_CAP=9000 was not refused"; fi
else
  echo "  skip  $API_BIN not built (cargo build --release --bins)"
fi

# ---------------------------------------------------------------- 5. negative checks
echo "== negative checks (each broken copy must be rejected)"
mutate() { # mutate IN OUT NAME: a broken copy of a rendered overlay
  python3 - "$@" <<'PY'
import sys, yaml
src, dst, name = sys.argv[1:4]
objs = [o for o in yaml.safe_load_all(open(src)) if o]
def find(kind, comp=None):
    for o in objs:
        if o["kind"] == kind and (comp is None or (o["metadata"].get("labels") or {}).get("app.kubernetes.io/component") == comp):
            return o
    raise SystemExit(f"no {kind} {comp}")
def rename(d, old, new):
    d[new] = d.pop(old)
api = find("Deployment", "api")
if name == "deployment-field-typo":        # Kubernetes schema (strict)
    rename(api["spec"]["template"]["spec"], "terminationGracePeriodSeconds", "terminationGracePeriodSecond")
elif name == "deployment-wrong-type":      # Kubernetes schema
    api["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8080"
elif name == "scaledobject-field-typo":    # KEDA CRD schema
    rename(find("ScaledObject")["spec"], "minReplicaCount", "minReplicas")
elif name == "scaledobject-missing-target":  # KEDA CRD schema (required)
    del find("ScaledObject")["spec"]["scaleTargetRef"]
elif name == "servicemonitor-bad-duration":  # prometheus-operator CRD schema (Duration pattern)
    find("ServiceMonitor")["spec"]["endpoints"][0]["interval"] = "15 seconds"
elif name == "servicemonitor-bad-scheme":    # prometheus-operator CRD schema (enum)
    find("ServiceMonitor")["spec"]["endpoints"][0]["scheme"] = "tcp"
elif name == "prometheusrule-field-typo":    # prometheus-operator CRD schema
    rename(find("PrometheusRule")["spec"]["groups"][1]["rules"][0], "expr", "exp")
elif name == "api-grace-too-short":          # policy: shutdown arithmetic
    api["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 30
elif name == "worker-grace-too-short":
    find("Deployment", "worker")["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 30
elif name == "metrics-on-public-service":    # policy
    svc = next(o for o in objs if o["kind"] == "Service" and o["metadata"]["name"] == "dropforge-api")
    svc["spec"]["ports"].append({"name": "metrics", "port": 9464, "targetPort": "metrics", "protocol": "TCP"})
elif name == "writable-root-fs":             # policy: security context
    api["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] = False
elif name == "keda-sums-over-workers":       # policy: the gauge is global, a sum over pods feeds back
    t = find("ScaledObject")["spec"]["triggers"][0]["metadata"]
    t["query"] = 'sum(dropforge_queue_depth{state="queued"})'
elif name == "secret-in-configmap":          # policy: secrets come from Secrets
    next(o for o in objs if o["kind"] == "ConfigMap")["data"]["DATABASE_URL"] = "postgres://u:p@db/x"
elif name == "missing-secret":               # policy: reference to nothing
    api["spec"]["template"]["spec"]["containers"][0]["envFrom"][1]["secretRef"]["name"] = "dropforge-datastorez"
elif name == "service-selector-typo":        # policy: a Service that selects nothing
    svc = next(o for o in objs if o["kind"] == "Service" and o["metadata"]["name"] == "dropforge-api")
    svc["spec"]["selector"]["app.kubernetes.io/component"] = "api-server"
elif name == "readiness-on-health":          # policy: readiness must be /ready
    api["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"] = "/health"
else:
    raise SystemExit(f"unknown mutation {name}")
yaml.safe_dump_all(objs, open(dst, "w"), sort_keys=False)
PY
}
mapfile -t ext < <(ext_args "$EXTERNAL_SECRETS_production")
for m in deployment-field-typo deployment-wrong-type scaledobject-field-typo scaledobject-missing-target \
  servicemonitor-bad-duration servicemonitor-bad-scheme prometheusrule-field-typo api-grace-too-short \
  worker-grace-too-short metrics-on-public-service writable-root-fs keda-sums-over-workers \
  secret-in-configmap missing-secret service-selector-typo readiness-on-health; do
  mutate "$WORK/production.yaml" "$WORK/neg-$m.yaml" "$m"
  if validate "$WORK/neg-$m.yaml" "neg-$m" "${ext[@]}" >"$WORK/neg-$m.out" 2>&1; then
    fail "$m: the broken copy was ACCEPTED"
  else
    pass "$m rejected: $(grep -m 1 '^  - ' "$WORK/neg-$m.out" | sed 's/^  - //' | cut -c1-150)"
  fi
done
# the control: an unmodified round-trip through the same dump must still pass
mutate_ok="$WORK/neg-control.yaml"
python3 -c 'import sys, yaml; yaml.safe_dump_all([o for o in yaml.safe_load_all(open(sys.argv[1])) if o], open(sys.argv[2], "w"), sort_keys=False)' "$WORK/production.yaml" "$mutate_ok"
if validate "$mutate_ok" control "${ext[@]}" >/dev/null 2>&1; then pass "control: the unmodified round-tripped copy is accepted"
else fail "control: the unmodified copy is rejected (the negative checks prove nothing)"; fi
# stale PrometheusRule: change a threshold in a copy of alerts.yml
sed 's/dropforge:http_request_duration_seconds:mean1m > 0.5/dropforge:http_request_duration_seconds:mean1m > 0.6/' \
  prometheus/alerts.yml >"$WORK/alerts-changed.yml"
if cmp -s prometheus/alerts.yml "$WORK/alerts-changed.yml"; then fail "stale-rule: the mutation did not apply"
elif "$K8S/gen-prometheusrule.sh" --stdout "$WORK/alerts-changed.yml" | diff -q "$K8S/base/prometheusrule.yaml" - >/dev/null; then
  fail "stale-rule: a changed alerts.yml was not detected"
elif validate "$WORK/production.yaml" stale "${ext[@]}" --alerts "$WORK/alerts-changed.yml" >/dev/null 2>&1; then
  fail "stale-rule: validate.py accepted a PrometheusRule that differs from the rule file"
else pass "stale-rule rejected: a changed threshold in alerts.yml makes the committed PrometheusRule stale"; fi
# a broken kustomization must not render
cp -r "$K8S" "$WORK/k8s-copy"
sed -i 's/^  - ingress.yaml$/  - ingress.yaml\n  - does-not-exist.yaml/' "$WORK/k8s-copy/overlays/production/kustomization.yaml"
if "${RENDER[@]}" "$WORK/k8s-copy/overlays/production" >/dev/null 2>&1; then fail "broken-kustomization: rendered anyway"
else pass "broken-kustomization rejected by ${RENDER[*]}"; fi

echo
if ((FAILS)); then
  echo "k8s-validate: $FAILS check(s) FAILED"
  exit 1
fi
echo "k8s-validate: all checks passed"
