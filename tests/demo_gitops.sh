#!/usr/bin/env bash
# `make demo-gitops`: the seed's podinfo canary in git-only mode, with a real Flux applying every
# step. gitflagger (`gitflagger run --apply-mode git-only`) only commits and pushes to the testbed
# git server; Flux's source-controller fetches the repo over HTTP with credentials and its
# kustomize-controller applies two paths of it:
#
#   apps/demo/podinfo/   the app: Deployment, HPA, Canary. A release is a commit here.
#   local/               gitflagger's prefix: the primary, Services, VirtualService, ...
#
# Prints the Flux Kustomization's applied revision as it follows each commit, then
# `gitflagger history` and `git log`. Leaves demo-out/gitops/config.git (a bare clone of the
# remote) and demo-out/gitops/live/ (the live VirtualService, primary Deployment and Flux
# Kustomization, with status and managedFields). The testbed is started with --flux when it is
# not running (and stopped at the end unless KEEP_TESTBED=1).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
OUT=${DEMO_GITOPS_OUT:-demo-out/gitops}  # the test runs it into a temporary directory
NS=demo
CANARY=podinfo
PREFIX=local
APP=apps/$NS/$CANARY
FLUX_NS=flux-system
rm -rf "$OUT" && mkdir -p "$OUT/live"
OUT=$(cd "$OUT" && pwd)

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
note() { printf '   %s\n' "$*"; }

pids=()
started_testbed=0
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "${WORK:-}"  # its remote URL carries the git server's password, even when a step failed
  if [[ $started_testbed == 1 && ${KEEP_TESTBED:-0} != 1 ]]; then
    "$BIN/python" -m tests.testbed down >/dev/null 2>&1 || true
    rm -rf "$GITFLAGGER_TESTBED_DIR"
  elif [[ $started_testbed == 1 ]]; then
    echo "testbed kept running: GITFLAGGER_TESTBED_DIR=$GITFLAGGER_TESTBED_DIR python -m tests.testbed down"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT; trap 'exit 143' TERM  # a signal ends the script through cleanup, not around it

# ---- the testbed, with Flux ----------------------------------------------------------------------
export GITFLAGGER_TESTBED_DIR="${GITFLAGGER_TESTBED_DIR:-$HOME/.cache/gitflagger/testbed-run}"
json() { "$BIN/python" -c "import json, sys; d = json.load(sys.stdin); print($1)"; }
STATUS="$GITFLAGGER_TESTBED_DIR/status.json"
if "$BIN/python" -m tests.testbed status >/dev/null 2>&1; then
  if [[ $(json '"flux" in d.get("components", {})' <"$STATUS") != True ]]; then
    echo "a testbed without Flux is running in $GITFLAGGER_TESTBED_DIR: stop it (make testbed-down)" \
      "or point GITFLAGGER_TESTBED_DIR elsewhere" >&2
    exit 1
  fi
else
  GITFLAGGER_TESTBED_DIR=$(mktemp -d "${TMPDIR:-/tmp}/gitflagger-demo-gitops.XXXXXX")
  STATUS="$GITFLAGGER_TESTBED_DIR/status.json"
  step "Starting the testbed with Flux: control plane, kwok, mesh simulator, Prometheus, git server, source- and kustomize-controller"
  started_testbed=1
  "$BIN/python" -m tests.testbed up --flux
fi
KUBECONFIG=$(json 'd["components"]["cluster"]["kubeconfig"]' <"$STATUS")
PROMETHEUS=$(json 'd["components"]["prometheus"]["url"]' <"$STATUS")
REMOTE=$(json 'd["components"]["gitserver"]["http_url"]' <"$STATUS")
GIT_USER=$(json 'd["components"]["gitserver"]["username"]' <"$STATUS")
PASSWORD_FILE=$(json 'd["components"]["gitserver"]["password_file"]' <"$STATUS")
export KUBECONFIG
KUBECTL="$(tests/testbed/build.sh --print-dir)/bin/kubectl"
k() { "$KUBECTL" --request-timeout=20s "$@"; }

# ---- the config repo: the app path, pushed over HTTP with credentials ---------------------------------
WORK="$OUT/work"
AUTH_REMOTE=$("$BIN/python" - "$REMOTE" "$GIT_USER" "$PASSWORD_FILE" <<'PY'
import sys, urllib.parse
from pathlib import Path
url, user, password = sys.argv[1], sys.argv[2], Path(sys.argv[3]).read_text().strip()
parts = urllib.parse.urlsplit(url)
netloc = f"{urllib.parse.quote(user)}:{urllib.parse.quote(password)}@{parts.netloc}"
print(urllib.parse.urlunsplit(parts._replace(netloc=netloc)))
PY
)
g() { git -C "$WORK" -c user.name=demo -c user.email=demo@example.invalid "$@"; }
push() {  # commit everything under the work tree with message $1 and push; print the new id
  g add -A && g commit -q -m "$1"
  local try
  for try in 1 2 3 4 5; do  # gitflagger pushes to the same branch: rebase on its steps and retry
    g push -q origin HEAD:main 2>/dev/null && { g rev-parse HEAD; return; }
    g pull -q --rebase origin main 2>/dev/null
  done
  echo "cannot push to $REMOTE" >&2; return 1
}
nudge_source() {  # what `flux reconcile source git` does: a release should not wait for the interval
  k -n "$FLUX_NS" annotate --overwrite gitrepository config \
    "reconcile.fluxcd.io/requestedAt=$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)" >/dev/null
}
git clone -q "$AUTH_REMOTE" "$WORK" 2>/dev/null
g remote set-url origin "$AUTH_REMOTE"
mkdir -p "$WORK/$APP"
LOADTESTER_PORT=$("$BIN/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
for f in deployment hpa canary; do
  # The tutorial's objects in namespace demo, a 10s analysis interval, the local load tester.
  sed -e "s/namespace: test/namespace: $NS/" \
      -e "0,/interval: 1m$/s//interval: 10s/" \
      -e "s#url: http://flagger-loadtester.test/#url: http://127.0.0.1:$LOADTESTER_PORT/#" \
      -e "s/podinfo-canary.test/podinfo-canary.$NS/" \
      "fixtures/podinfo/$f.yaml" >"$WORK/$APP/$f.yaml"
done
printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$NS" >"$WORK/apps/$NS/namespace.yaml"

step "Release 6.0.0 to the config repo ($APP/), the way a team releases: a commit"
k delete namespace "$NS" --ignore-not-found --wait=true >/dev/null
first=$(push "podinfo: deploy 6.0.0 with a Canary")
note "pushed ${first:0:12} to $REMOTE"

# ---- Flux: one GitRepository, a Kustomization for the app and one for gitflagger's prefix --------
step "Flux: GitRepository config (HTTP, basic-auth Secret), Kustomizations podinfo-app (apps/$NS/) and gitflagger-$PREFIX ($PREFIX/)"
k -n "$FLUX_NS" create secret generic config-auth --from-literal=username="$GIT_USER" \
  --from-file=password="$PASSWORD_FILE" --dry-run=client -o yaml | k apply -f - >/dev/null
k apply -f - >/dev/null <<YAML
apiVersion: source.toolkit.fluxcd.io/v1
kind: GitRepository
metadata: {name: config, namespace: $FLUX_NS}
spec:
  url: $REMOTE
  ref: {branch: main}
  secretRef: {name: config-auth}
  interval: ${FLUX_INTERVAL:-10m}
  # What gitflagger records that is not for the cluster: the Canary with its status (the live
  # Canary comes from the app path) and the promote/abort intents.
  ignore: |
    /$PREFIX/*/*/canary.yaml
    /$PREFIX/*/.intents/
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: podinfo-app, namespace: $FLUX_NS}
spec:
  sourceRef: {kind: GitRepository, name: config}
  path: ./apps/$NS
  prune: true
  interval: ${FLUX_INTERVAL:-10m}
---
apiVersion: kustomize.toolkit.fluxcd.io/v1
kind: Kustomization
metadata: {name: gitflagger-$PREFIX, namespace: $FLUX_NS}
spec:
  sourceRef: {kind: GitRepository, name: config}
  path: ./$PREFIX
  prune: true
  interval: ${FLUX_INTERVAL:-10m}
YAML
applied() {  # applied <kustomization>: its lastAppliedRevision's commit id
  k -n "$FLUX_NS" get kustomization "$1" -o jsonpath='{.status.lastAppliedRevision}' 2>/dev/null | sed 's/.*://'
}
wait_applied() {  # wait_applied <kustomization> <commit>
  local deadline=$((SECONDS + 120))
  until [[ $(applied "$1") == "$2" ]]; do
    (( SECONDS < deadline )) || { echo "Flux did not apply ${2:0:12} with $1 in 120s:" >&2;
      k -n "$FLUX_NS" get kustomization "$1" -o yaml >&2; exit 1; }
    sleep 0.5
  done
}
wait_applied podinfo-app "$first"
note "podinfo-app applied ${first:0:12}: $(k -n "$NS" get deployment,hpa,canary -o name | tr '\n' ' ')"

# ---- the controller ----------------------------------------------------------------------------
step "Starting the load tester and gitflagger run --apply-mode git-only (it pushes and nudges; Flux applies)"
"$BIN/gitflagger" loadtester --listen 127.0.0.1 --port "$LOADTESTER_PORT" >"$OUT/loadtester.log" 2>&1 &
pids+=($!)
"$BIN/gitflagger" run --kubeconfig "$KUBECONFIG" --namespace "$NS" --apply-mode git-only \
  --repo "$REMOTE" --repo-prefix "$PREFIX" --git-username "$GIT_USER" --git-password-file "$PASSWORD_FILE" \
  --allow-insecure-http --repo-cache "$OUT/repo-cache" \
  --flux-kustomization "$FLUX_NS/gitflagger-$PREFIX" --flux-source "$FLUX_NS/config" \
  --metrics-server "$PROMETHEUS" --metrics-addr 127.0.0.1:0 >"$OUT/controller.log" 2>&1 &
pids+=($!)
note "controller log: $OUT/controller.log"

# Print the Canary's phase and weight, the live route's weights and the commit Flux last applied
# from gitflagger's prefix, each time one changes, until, after leaving the phase it started in, the
# Canary reaches one of "$@" and Flux has made the live route match its weight.
follow() {
  local last="" line phase first="" moved=0 weight route rev
  while true; do
    line=$(k -n "$NS" get canary "$CANARY" -o json 2>/dev/null |
      json '"{} weight={}".format(*(lambda s: (s.get("phase") or "-", s.get("canaryWeight", 0)))(d.get("status") or {}))' 2>/dev/null || true)
    route=$(k -n "$NS" get virtualservice "$CANARY" -o jsonpath='{.spec.http[0].route[*].weight}' 2>/dev/null || true)
    rev=$(applied "gitflagger-$PREFIX")
    line="$line  route=[${route// /,}]  flux applied ${rev:0:12}"
    if [[ $line != "$last" ]]; then
      printf '   %s  %s\n' "$(date +%H:%M:%S)" "$line"
      last=$line
    fi
    phase=${line%% *}
    weight=${line#* weight=}; weight=${weight%% *}
    [[ -z $first ]] && first=$phase
    [[ $phase != "$first" ]] && moved=1
    if [[ $moved == 1 ]]; then
      for want in "$@"; do
        [[ $phase == "$want" && $route == "$((100 - weight)) $weight" ]] && return 0
      done
    fi
    if ! kill -0 "${pids[1]}" 2>/dev/null; then
      echo "the controller exited; its log ends with:" >&2
      tail -5 "$OUT/controller.log" >&2
      return 1
    fi
    sleep 1
  done
}
quiet() {  # until the last release's traffic has left the metrics' 1m window
  local query="sum(rate(istio_requests_total{destination_workload_namespace=\"$NS\",destination_workload=\"$CANARY\"}[1m]))"
  note "waiting for the last release's traffic to leave the 1m metric window"
  until [[ $("$BIN/python" -c 'import sys, requests
r = requests.get(sys.argv[1] + "/api/v1/query", params={"query": sys.argv[2]}, timeout=10).json()["data"]["result"]
print(not r or float(r[0]["value"][1]) == 0)' "$PROMETHEUS" "$query") == True ]]; do
    sleep 2
  done
}
release() {  # release <tag>: a commit to the app path, then the source nudge
  sed -i "s#image: ghcr.io/stefanprodan/podinfo:.*#image: ghcr.io/stefanprodan/podinfo:$1#" "$WORK/$APP/deployment.yaml"
  local id; id=$(push "podinfo: release $1")
  nudge_source
  note "pushed ${id:0:12} (podinfo $1) to $APP/deployment.yaml"
}

step "Initialization: gitflagger commits the primary, Services and VirtualService; Flux applies them"
follow Initialized

step "Release 6.0.1 (healthy): advances 10 -> 50 and promotes, each step a commit Flux applies"
release 6.0.1
follow Succeeded Failed
note "primary now runs: $(k -n "$NS" get deployment podinfo-primary -o jsonpath='{.spec.template.spec.containers[0].image}')"

quiet
step "Release 6.0.2 (30% of requests fail): halts on the success rate and rolls back"
release 6.0.2
follow Failed Succeeded
note "primary still runs: $(k -n "$NS" get deployment podinfo-primary -o jsonpath='{.spec.template.spec.containers[0].image}')"

step "gitflagger history $NS/$CANARY (from the remote)"
git clone -q --bare "$AUTH_REMOTE" "$OUT/config.git" 2>/dev/null
git -C "$OUT/config.git" remote set-url origin "$REMOTE"  # no password in the clone's config
"$BIN/gitflagger" history "$NS/$CANARY" --repo "$OUT/config.git" --repo-prefix "$PREFIX"

step "git log of the remote: the releases and one commit per step"
git --no-pager -C "$OUT/config.git" log --format='%h %ad %s' --date=format:%H:%M:%S

step "Live objects, with managedFields: $OUT/live/"
k -n "$NS" get virtualservice "$CANARY" -o yaml --show-managed-fields >"$OUT/live/virtualservice-$CANARY.yaml"
k -n "$NS" get deployment "$CANARY-primary" -o yaml --show-managed-fields >"$OUT/live/deployment-$CANARY-primary.yaml"
k -n "$FLUX_NS" get kustomization "gitflagger-$PREFIX" -o yaml --show-managed-fields \
  >"$OUT/live/kustomization-gitflagger-$PREFIX.yaml"
ls "$OUT/live" | sed 's/^/   /'
note "Apply entries in the VirtualService's managedFields, by manager:"
"$BIN/python" - "$OUT/live/virtualservice-$CANARY.yaml" <<'PY'
import sys, yaml
obj = yaml.safe_load(open(sys.argv[1]))
for m in obj["metadata"].get("managedFields", []):
    print(f"     {m['manager']:24} {m['operation']:8} {m.get('subresource', '')}")
PY
rm -rf "$WORK"
