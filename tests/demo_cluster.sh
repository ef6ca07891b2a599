#!/usr/bin/env bash
# `make demo` on the local testbed: the seed's podinfo canary, run by the real controller
# (`gitflagger run`) against a real control plane, Prometheus fed by the mesh simulator, and
# Flagger's load tester. One release that promotes (6.0.1), one that rolls back (6.0.2: 30% of
# requests fail). Ends with `gitflagger history` and the config repo's git log.
#
# The tutorial's Canary is used as is, except for its pace: a 10s analysis interval instead of
# 1m, so the whole demo takes about six minutes. The testbed is started when it is not running
# (and stopped again at the end unless KEEP_TESTBED=1); the first start builds Kubernetes from
# source, which takes a while once.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
OUT=demo-out
NS=demo
CANARY=podinfo
rm -rf "$OUT" && mkdir -p "$OUT"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
note() { printf '   %s\n' "$*"; }

pids=()
started_testbed=0
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  if [[ $started_testbed == 1 && ${KEEP_TESTBED:-0} != 1 ]]; then
    "$BIN/python" -m tests.testbed down >/dev/null 2>&1 || true
    rm -rf "$GITFLAGGER_TESTBED_DIR"
  elif [[ $started_testbed == 1 ]]; then
    echo "testbed kept running: GITFLAGGER_TESTBED_DIR=$GITFLAGGER_TESTBED_DIR python -m tests.testbed down"
  fi
}
trap cleanup EXIT

# ---- the testbed -------------------------------------------------------------------------------
export GITFLAGGER_TESTBED_DIR="${GITFLAGGER_TESTBED_DIR:-$HOME/.cache/gitflagger/testbed-run}"
if ! "$BIN/python" -m tests.testbed status >/dev/null 2>&1; then
  # A testbed of its own, in a fresh directory: nothing left over from an earlier run can clash.
  GITFLAGGER_TESTBED_DIR=$(mktemp -d "${TMPDIR:-/tmp}/gitflagger-demo-testbed.XXXXXX")
  step "Starting the testbed: etcd, kube-apiserver, controllers, kwok, mesh simulator, Prometheus, git server"
  started_testbed=1
  "$BIN/python" -m tests.testbed up
fi
STATUS="$GITFLAGGER_TESTBED_DIR/status.json"
# json EXPR: evaluate a Python expression over the JSON document on stdin (bound to `d`).
json() { "$BIN/python" -c "import json, sys; d = json.load(sys.stdin); print($1)"; }
KUBECONFIG=$(json 'd["components"]["cluster"]["kubeconfig"]' <"$STATUS")
PROMETHEUS=$(json 'd["components"]["prometheus"]["url"]' <"$STATUS")
export KUBECONFIG
KUBECTL="$(tests/testbed/build.sh --print-dir)/bin/kubectl"   # built with the testbed, same version
k() { "$KUBECTL" --request-timeout=20s "$@"; }


# ---- the app -----------------------------------------------------------------------------------
step "Namespace $NS: podinfo's Deployment and HPA, and the tutorial's Canary (flagger.app/v1alpha3)"
k delete namespace "$NS" --ignore-not-found --wait=true >/dev/null
k create namespace "$NS" >/dev/null
until k -n "$NS" get serviceaccount default >/dev/null 2>&1; do sleep 0.5; done
LOADTESTER_PORT=$("$BIN/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
for f in deployment hpa canary; do
  sed -e "s/namespace: test/namespace: $NS/" \
      -e "0,/interval: 1m$/s//interval: 10s/" \
      -e "s#url: http://flagger-loadtester.test/#url: http://127.0.0.1:$LOADTESTER_PORT/#" \
      -e "s/podinfo-canary.test/podinfo-canary.$NS/" \
      "fixtures/podinfo/$f.yaml" | k apply -f - >/dev/null
done
note "the Canary's analysis: every 10s, success rate >= 99%, p99 <= 500ms, 5 failed checks to roll back"

# ---- the controller ----------------------------------------------------------------------------
step "Starting Flagger's load tester (gitflagger loadtester) and the controller (gitflagger run)"
"$BIN/gitflagger" loadtester --listen 127.0.0.1 --port "$LOADTESTER_PORT" >"$OUT/loadtester.log" 2>&1 &
pids+=($!)
"$BIN/gitflagger" run --kubeconfig "$KUBECONFIG" --namespace "$NS" --repo "$OUT/config.git" \
  --metrics-server "$PROMETHEUS" --metrics-addr 127.0.0.1:0 >"$OUT/controller.log" 2>&1 &
pids+=($!)
note "controller log (JSON lines): $OUT/controller.log; config repo: $OUT/config.git"

# Print the Canary's phase and weight each time they change, until, after leaving the phase it
# started in, it reaches one of "$@".
follow() {
  local last="" line phase first="" moved=0
  while true; do
    line=$(k -n "$NS" get canary "$CANARY" -o json 2>/dev/null |
      json '"{} weight={} failedChecks={}".format(*(lambda s: (s.get("phase") or "-", s.get("canaryWeight", 0), s.get("failedChecks", 0)))(d.get("status") or {}))' 2>/dev/null || true)
    if [[ $line != "$last" ]]; then
      printf '   %s  %s\n' "$(date +%H:%M:%S)" "$line"
      last=$line
    fi
    phase=${line%% *}
    [[ -z $first ]] && first=$phase
    [[ $phase != "$first" ]] && moved=1
    if [[ $moved == 1 ]]; then
      for want in "$@"; do [[ $phase == "$want" ]] && return 0; done
    fi
    if ! kill -0 "${pids[1]}" 2>/dev/null; then
      echo "the controller exited; its log ends with:" >&2
      tail -5 "$OUT/controller.log" >&2
      return 1
    fi
    sleep 1
  done
}

# Wait until the canary workload's last traffic has left the metrics' 1m window, so a release is
# judged on its own requests (the tutorial's 1m interval makes this happen by itself).
quiet() {
  local query="sum(rate(istio_requests_total{destination_workload_namespace=\"$NS\",destination_workload=\"$CANARY\"}[1m]))"
  note "waiting for the last release's traffic to leave the 1m metric window"
  until [[ $("$BIN/python" -c 'import sys, requests
r = requests.get(sys.argv[1] + "/api/v1/query", params={"query": sys.argv[2]}, timeout=10).json()["data"]["result"]
print(not r or float(r[0]["value"][1]) == 0)' "$PROMETHEUS" "$query") == True ]]; do
    sleep 2
  done
}

step "Initialization: the primary, Services, VirtualService and DestinationRules appear"
follow Initialized
k -n "$NS" get deployments,services,virtualservices,destinationrules,hpa -o name | sed 's/^/   /'

step "Release 6.0.1 (healthy): advances 10 -> 50 and promotes"
k -n "$NS" set image deployment/podinfo podinfod=ghcr.io/stefanprodan/podinfo:6.0.1 >/dev/null
follow Succeeded Failed
note "primary now runs: $(k -n "$NS" get deployment podinfo-primary -o jsonpath='{.spec.template.spec.containers[0].image}')"

quiet
step "Release 6.0.2 (30% of requests fail): halts on the success rate and rolls back"
k -n "$NS" set image deployment/podinfo podinfod=ghcr.io/stefanprodan/podinfo:6.0.2 >/dev/null
follow Failed Succeeded
note "primary still runs: $(k -n "$NS" get deployment podinfo-primary -o jsonpath='{.spec.template.spec.containers[0].image}')"

step "The Canary's Events"
k -n "$NS" get events --field-selector involvedObject.kind=Canary --sort-by=.firstTimestamp \
  -o custom-columns=TYPE:.type,MESSAGE:.message | sed 's/^/   /'

step "gitflagger get canaries -n $NS"
"$BIN/gitflagger" get canaries --kubeconfig "$KUBECONFIG" -n "$NS"

step "gitflagger history $NS/$CANARY --repo $OUT/config.git"
"$BIN/gitflagger" history "$NS/$CANARY" --repo "$OUT/config.git"

step "git log of the config repo: one commit per step"
git --no-pager -C "$OUT/config.git" log --format='%h %ad %s' --date=format:%H:%M:%S

step "gitflagger report $NS/$CANARY --rollout all: every rollout as one self-contained web page"
"$BIN/gitflagger" report "$NS/$CANARY" --repo "$OUT/config.git" --rollout all --out "$OUT/report.html"
note "open $OUT/report.html in a browser (no network needed)"
