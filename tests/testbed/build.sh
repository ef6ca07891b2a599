#!/usr/bin/env bash
# Build the testbed's real components from the Go module proxy, cached.
#
#   tests/testbed/build.sh            build what is missing, print progress
#   tests/testbed/build.sh --print-dir   print the cache directory and exit
#
# Binaries land in ~/.cache/gitflagger/testbed/<versions>/bin. A warm cache
# returns in well under a second. A failed build names the component and the
# command that failed, and leaves no half-written binary behind.
set -euo pipefail

K8S_VERSION="${K8S_VERSION:-v1.36.3}"
STAGING_VERSION="v0${K8S_VERSION#v1}"          # v1.36.3 -> v0.36.3
ETCD_VERSION="${ETCD_VERSION:-v3.6.16}"
KWOK_VERSION="${KWOK_VERSION:-v0.8.0}"
HELM_VERSION="${HELM_VERSION:-v3.21.4}"        # for the chart tests (tests/unit/charts, tests/integration)
# Flux (tests/testbed/flux.py). v1.10.x declares "go 1.27.0", so 1.9.x: the newest whose dependencies
# the module proxy serves. source-controller v1.9.4 to v1.9.6 need github.com/fluxcd/pkg/artifact
# v0.18.2/v0.18.3, whose zips the proxy refuses (403), so source-controller stays at v1.9.3.
SOURCE_CONTROLLER_VERSION="${SOURCE_CONTROLLER_VERSION:-v1.9.3}"
KUSTOMIZE_CONTROLLER_VERSION="${KUSTOMIZE_CONTROLLER_VERSION:-v1.9.6}"
FLUX_VERSION="source-controller-$SOURCE_CONTROLLER_VERSION-kustomize-controller-$KUSTOMIZE_CONTROLLER_VERSION"

CACHE_ROOT="${GITFLAGGER_CACHE:-$HOME/.cache/gitflagger}"
DIR="$CACHE_ROOT/testbed/k8s-$K8S_VERSION-etcd-$ETCD_VERSION-kwok-$KWOK_VERSION"
BIN="$DIR/bin"

if [[ "${1:-}" == "--print-dir" ]]; then echo "$DIR"; exit 0; fi

# k8s v1.36.3, etcd v3.6.16 and kwok v0.8.0 all declare "go 1.26.0" in their go.mod.
GO_MIN="1.26.0"
GO_TOOLCHAIN="${GO_TOOLCHAIN:-go1.26.8}"  # fetched from the module proxy if no go >= GO_MIN is on PATH

export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
export GOCACHE="${GOCACHE:-$CACHE_ROOT/go-build}"
mkdir -p "$BIN" "$DIR/src"

log() { printf '[testbed-build %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

go_is_new_enough() {
  command -v go >/dev/null 2>&1 || return 1
  local have; have="$(GOTOOLCHAIN=local go env GOVERSION 2>/dev/null)" || return 1
  have="${have#go}"; have="${have%%[^0-9.]*}"
  [[ "$(printf '%s\n%s\n' "$GO_MIN" "$have" | sort -V | head -n1)" == "$GO_MIN" ]]
}

# The Go toolchain is itself a module (golang.org/toolchain) on the Go module proxy, so a machine
# without a recent Go gets one from there, verified against the checksum database's h1: hash.
ensure_go() {
  go_is_new_enough && return
  local arch; case "$(uname -m)" in x86_64) arch=amd64 ;; aarch64|arm64) arch=arm64 ;; *) arch="$(uname -m)" ;; esac
  local version="v0.0.1-$GO_TOOLCHAIN.linux-$arch"
  local root="$CACHE_ROOT/toolchain/$GO_TOOLCHAIN.linux-$arch"
  if [[ ! -x "$root/bin/go" ]]; then
    local proxy="${GOPROXY:-https://proxy.golang.org}"; proxy="${proxy%%,*}"
    [[ "$proxy" == direct || "$proxy" == off ]] && proxy=https://proxy.golang.org
    log "no go >= $GO_MIN on PATH: fetching $GO_TOOLCHAIN from $proxy (golang.org/toolchain@$version)"
    local tmp; tmp="$(mktemp -d "$CACHE_ROOT/toolchain-XXXXXX")"
    if ! curl -fsSL --retry 3 -o "$tmp/go.zip" "$proxy/golang.org/toolchain/@v/$version.zip" \
        || ! curl -fsSL --retry 3 -o "$tmp/sum" "$proxy/sumdb/sum.golang.org/lookup/golang.org/toolchain@$version"; then
      rm -rf "$tmp"; log "FAILED fetching the Go toolchain $GO_TOOLCHAIN"; exit 1
    fi
    local want; want="$(awk -v m="golang.org/toolchain" -v v="$version" '$1 == m && $2 == v {print $3}' "$tmp/sum")"
    local got; got="$(python3 - "$tmp/go.zip" <<'PY'
import base64, hashlib, sys, zipfile
# Go's dirhash "h1": sha256 over the sorted "<sha256 hex>  <name>" lines of every file in the zip.
with zipfile.ZipFile(sys.argv[1]) as z:
    lines = [f"{hashlib.sha256(z.read(n)).hexdigest()}  {n}\n" for n in sorted(z.namelist())]
print("h1:" + base64.b64encode(hashlib.sha256("".join(lines).encode()).digest()).decode())
PY
)"
    if [[ -z "$want" || "$want" != "$got" ]]; then
      rm -rf "$tmp"; log "FAILED: Go toolchain checksum mismatch (sumdb: ${want:-none}, zip: $got)"; exit 1
    fi
    (cd "$tmp" && unzip -q go.zip) || { rm -rf "$tmp"; log "FAILED unpacking the Go toolchain"; exit 1; }
    chmod -R u+w "$tmp"
    rm -rf "$root"; mkdir -p "$(dirname "$root")"
    mv "$tmp/golang.org/toolchain@$version" "$root"
    rm -rf "$tmp"
  fi
  export PATH="$root/bin:$PATH"
  go_is_new_enough || { log "FAILED: $root/bin/go is not go >= $GO_MIN"; exit 1; }
  log "using $(go env GOVERSION) from $root"
}

run() {  # run <component> <command...>: fail with the component and command named
  local component="$1"; shift
  if ! "$@" >"$DIR/src/$component.log" 2>&1; then
    log "FAILED building $component: $*"
    tail -n 30 "$DIR/src/$component.log" >&2
    log "full log: $DIR/src/$component.log"
    exit 1
  fi
}

build_etcd() {
  [[ -x "$BIN/etcd" ]] && { log "etcd $ETCD_VERSION: cached"; return; }
  log "etcd $ETCD_VERSION: building (wrapper module over go.etcd.io/etcd/server/v3)"
  local src="$DIR/src/etcd"; mkdir -p "$src"
  cat >"$src/main.go" <<'GO'
// Command etcd is a thin wrapper so the testbed can build etcd from the module proxy.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  cat >"$src/go.mod" <<GOMOD
module gitflagger.testbed/etcd

go 1.24

require go.etcd.io/etcd/server/v3 $ETCD_VERSION
GOMOD
  (cd "$src" && run etcd-tidy go mod tidy)
  (cd "$src" && run etcd go build -trimpath -ldflags "-s -w" -o "$BIN/etcd.tmp" .)
  mv "$BIN/etcd.tmp" "$BIN/etcd"
  log "etcd: done"
}

build_kube() {
  if [[ -x "$BIN/kube-apiserver" && -x "$BIN/kube-controller-manager" && -x "$BIN/kube-scheduler" && -x "$BIN/kubectl" ]]; then
    log "kubernetes $K8S_VERSION: cached"; return
  fi
  log "kubernetes $K8S_VERSION: building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (the long part: ~4 min cold on 2 cores)"
  local src="$DIR/src/kube"; mkdir -p "$src"
  (cd "$src" && run kube-download go mod download -json "k8s.io/kubernetes@$K8S_VERSION")
  local upstream_mod
  upstream_mod="$(go env GOMODCACHE)/cache/download/k8s.io/kubernetes/@v/$K8S_VERSION.mod"
  [[ -f "$upstream_mod" ]] || { log "FAILED kubernetes: go.mod of k8s.io/kubernetes@$K8S_VERSION not found at $upstream_mod"; exit 1; }
  {
    echo "module gitflagger.testbed/kube"
    echo
    echo "go 1.24"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    # Every staging module k8s.io/<name> that upstream replaces with ./staging/... gets the published tag.
    grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging/src/k8s\.io/[a-z0-9-]+' "$upstream_mod" \
      | awk -v v="$STAGING_VERSION" '{print "replace " $1 " => " $1 " " v}'
  } >"$src/go.mod"
  cat >"$src/tools.go" <<'GO'
//go:build tools

// Package tools pins the commands the testbed builds.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
GO
  (cd "$src" && run kube-tidy go mod tidy)
  local pkg=k8s.io/component-base/version
  local minor; minor="$(echo "$K8S_VERSION" | cut -d. -f2)"
  local ldflags="-s -w -X $pkg.gitVersion=$K8S_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  ldflags="$ldflags -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION -X k8s.io/client-go/pkg/version.gitMajor=1 -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  local out="$DIR/src/kube-out"; mkdir -p "$out"
  (cd "$src" && run kube go build -trimpath -ldflags "$ldflags" -o "$out/" \
      k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kube-scheduler \
      k8s.io/kubernetes/cmd/kubectl)
  mv "$out"/kube-apiserver "$out"/kube-controller-manager "$out"/kube-scheduler "$out"/kubectl "$BIN/"
  log "kubernetes: done"
}

build_kwok() {
  [[ -x "$BIN/kwok" ]] && { log "kwok $KWOK_VERSION: cached"; return; }
  log "kwok $KWOK_VERSION: building"
  local src="$DIR/src/kwok"; mkdir -p "$src"
  if ! (cd "$src" && GOBIN="$src/gobin" go install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" >"$src/install.log" 2>&1); then
    log "FAILED building kwok: go install sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
    tail -n 30 "$src/install.log" >&2
    exit 1
  fi
  mv "$src/gobin/kwok" "$BIN/kwok"
  log "kwok: done"
}

build_helm() {
  # The version is not in the directory name: a binary of another version is rebuilt.
  if [[ -x "$BIN/helm" && "$("$BIN/helm" version --template '{{.Version}}' 2>/dev/null)" == "$HELM_VERSION" ]]; then
    log "helm $HELM_VERSION: cached"; return
  fi
  ensure_go
  log "helm $HELM_VERSION: building (wrapper module over helm.sh/helm/v3, ~3 min cold on 2 cores)"
  local src="$DIR/src/helm"; mkdir -p "$src"
  cat >"$src/go.mod" <<GOMOD
module gitflagger.testbed/helm

go 1.26.0

require helm.sh/helm/v3 $HELM_VERSION
GOMOD
  cat >"$src/tools.go" <<'GO'
//go:build tools

// Package tools pins the helm command the chart tests use.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
GO
  (cd "$src" && run helm-tidy go mod tidy)
  (cd "$src" && run helm go build -trimpath \
      -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
      -o "$BIN/helm.tmp" helm.sh/helm/v3/cmd/helm)
  mv "$BIN/helm.tmp" "$BIN/helm"
  log "helm: done"
}

# Flux's source-controller and kustomize-controller. Each gets a wrapper module whose go.mod is the
# upstream one (same pinned dependencies and replaces; a dependency's replaces do not apply to the
# module that requires it), minus the replace of its ./api directory, which resolves to the published
# api module of the same tag. `go build -mod=mod` fetches what the build needs only (tidy would also
# fetch the upstream tests' dependencies, some of which the proxy does not serve). The CRDs are copied from the module's own config/crd/bases/.
# The version is not in the directory name (that would rebuild Kubernetes): a stamp file holds it.
FLUX_STAMP="$BIN/.flux-version"
FLUX_CRDS="$DIR/flux-crds"
build_flux() {
  if [[ -x "$BIN/source-controller" && -x "$BIN/kustomize-controller" && -f "$FLUX_STAMP" \
        && "$(cat "$FLUX_STAMP")" == "$FLUX_VERSION" ]] && compgen -G "$FLUX_CRDS/*.yaml" >/dev/null; then
    log "flux $FLUX_VERSION: cached"; return
  fi
  ensure_go
  log "flux: building source-controller $SOURCE_CONTROLLER_VERSION and kustomize-controller $KUSTOMIZE_CONTROLLER_VERSION (cold: 7 min measured on a quiet 2-core machine, 29 min on a busy one)"
  rm -rf "$FLUX_STAMP" "$DIR"/.flux-crds-*  # a failed build's leftovers
  local crds; crds="$(mktemp -d "$DIR/.flux-crds-XXXXXX")"
  local name version
  for name in source-controller kustomize-controller; do
    version="$SOURCE_CONTROLLER_VERSION"; [[ "$name" == kustomize-controller ]] && version="$KUSTOMIZE_CONTROLLER_VERSION"
    local mod="github.com/fluxcd/$name" src="$DIR/src/$name"; rm -rf "$src"; mkdir -p "$src"
    (cd "$src" && run "$name-download" go mod download -json "$mod@$version")
    local upstream; upstream="$(go env GOMODCACHE)/cache/download/$mod/@v/$version.mod"
    [[ -f "$upstream" ]] || { log "FAILED $name: go.mod of $mod@$version not found at $upstream"; exit 1; }
    {
      echo "module gitflagger.testbed/$name"
      grep -vE '^module |^replace [^ ]+ => \./' "$upstream"
      echo
      echo "require $mod $version"
    } >"$src/go.mod"
    cat >"$src/tools.go" <<GO
//go:build tools

// Package tools pins the Flux controller the testbed builds.
package tools

import _ "$mod"
GO
    (cd "$src" && run "$name" nice -n 10 go build -mod=mod -trimpath -ldflags "-s -w" -o "$BIN/$name.tmp" "$mod")
    local moddir; moddir="$(cd "$src" && go list -m -f '{{.Dir}}' "$mod")"
    compgen -G "$moddir/config/crd/bases/*.yaml" >/dev/null \
      || { log "FAILED $name: no CRDs under $moddir/config/crd/bases"; exit 1; }
    cp "$moddir"/config/crd/bases/*.yaml "$crds/"
  done
  chmod -R u+w "$crds"
  rm -rf "$FLUX_CRDS"; mv "$crds" "$FLUX_CRDS"
  mv "$BIN/source-controller.tmp" "$BIN/source-controller"
  mv "$BIN/kustomize-controller.tmp" "$BIN/kustomize-controller"
  echo "$FLUX_VERSION" >"$FLUX_STAMP"
  log "flux: done"
}

# The standard Gateway API CRDs, from the sigs.k8s.io/gateway-api module (tests/testbed/gateway_api.py).
GATEWAY_API="$(dirname "$0")/gateway_api.py"
fetch_gateway_api() {
  local dir
  dir="$(python3 "$GATEWAY_API")" || { log "FAILED fetching the Gateway API CRDs"; exit 1; }
  log "gateway-api CRDs: $dir"
}

# KEDA's ScaledObject CRD, from the github.com/kedacore/keda/v2 module (tests/testbed/keda.py).
KEDA="$(dirname "$0")/keda.py"
fetch_keda() {
  local dir
  dir="$(python3 "$KEDA")" || { log "FAILED fetching the KEDA ScaledObject CRD"; exit 1; }
  log "keda CRD: $dir"
}

start=$(date +%s)
if [[ ! -x "$BIN/etcd" || ! -x "$BIN/kwok" || ! -x "$BIN/kube-apiserver" \
      || ! -x "$BIN/kube-controller-manager" || ! -x "$BIN/kube-scheduler" || ! -x "$BIN/kubectl" ]] \
      || ! python3 "$GATEWAY_API" --cached >/dev/null || ! python3 "$KEDA" --cached >/dev/null; then
  ensure_go
fi
build_etcd
build_kwok
build_kube
build_helm
build_flux
fetch_gateway_api
fetch_keda
log "all components ready in $BIN ($(( $(date +%s) - start ))s)"
echo "$DIR"
