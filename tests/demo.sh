#!/usr/bin/env bash
# `make demo`: the seed's podinfo canary, run through gitflagger's real decide → render → record
# stages with a scripted timeline (`gitflagger simulate`): one release that promotes, one that
# rolls back. Each ends by printing the config repo's history.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
OUT=demo-out
rm -rf "$OUT" && mkdir -p "$OUT"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

for story in promote rollback; do
  repo="$OUT/$story.git"
  step "gitflagger simulate: the '$story' timeline (fixtures/timelines/$story.yaml)"
  "$BIN/gitflagger" simulate fixtures/podinfo/deployment.yaml fixtures/podinfo/hpa.yaml fixtures/podinfo/canary.yaml \
    --timeline "fixtures/timelines/$story.yaml" --repo "$repo" --output table
  step "git log of $repo: one commit per step"
  git --no-pager -C "$repo" log --format='%h %ad %s' --date=format:%H:%M -- .
  step "gitflagger history test/podinfo --repo $repo"
  "$BIN/gitflagger" history test/podinfo --repo "$repo" --limit 12
done
step "The primary Deployment after the promotion"
git --no-pager -C "$OUT/promote.git" show HEAD:local/test/podinfo/deployment-podinfo-primary.yaml | grep -n 'image:'
