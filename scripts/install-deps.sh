#!/usr/bin/env bash
# The Debian packages gitflagger's demo, tests and image build need, in one list, so that
# `make demo`, `make test`, `make image` and CI set up a fresh Debian machine the same way.
# As root: one `apt-get update`, then `apt-get install` of only the missing packages (nothing
# at all when none is missing). Not root: stop with the exact `sudo apt-get install` line.
# Whether a package is installed is asked of dpkg, not guessed from the files on PATH.
set -euo pipefail

PACKAGES=(
  prometheus                        # the testbed's metrics server
  openssh-server openssh-client     # the git server over SSH
  hey                               # Flagger's load tester
  gnupg                             # signed-commit tests
  git                               # git http-backend, the CLI the tests read history with
  chromium chromium-driver          # report and dashboard pages in a headless browser
  graphite-carbon graphite-web      # the Graphite provider's tests
  curl unzip                        # build.sh fetches Go from the module proxy
  python3-venv                      # make venv
  ca-certificates
  mmdebstrap buildah umoci runc     # make image: the base root filesystem, the build, the run test
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [[ $status == installed ]] || missing+=("$pkg")
done

if [[ ${#missing[@]} -gt 0 ]]; then
  if [[ $(id -u) != 0 ]]; then
    echo "missing Debian packages: ${missing[*]}" >&2
    echo "install them with: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 1
  fi
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [[ $(id -u) == 0 ]]; then
  # The Debian package starts a system Prometheus on :9090; the tests start their own. Only the
  # system service is stopped (user prometheus), never a testbed's Prometheus.
  systemctl stop prometheus 2>/dev/null || service prometheus stop 2>/dev/null \
    || pkill -u prometheus -x prometheus 2>/dev/null || true
fi
