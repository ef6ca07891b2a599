#!/usr/bin/env bash
# `make image`: build the controller image from deploy/Dockerfile without a Docker daemon and
# write it as an OCI image layout archive, dist/gitflagger-oci.tar.
#
# No registry is needed: the base is a Debian 12 root filesystem with Debian's python3, git,
# and curl and hey for `gitflagger loadtester` (the load tester runs from this image), made by mmdebstrap from the Debian mirror and imported into buildah's own storage. The same
# Dockerfile builds on python:3.11-slim with `docker build`; only BASE differs.
#
# Cached under ~/.cache/gitflagger/image: the base root filesystem (keyed by its package list)
# and buildah's layer store, so a warm build with unchanged sources only re-exports the archive.
set -euo pipefail
cd "$(dirname "$0")/.."

SUITE=bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
BASE_PACKAGES=python3,python3-venv,git,ca-certificates,curl,hey
CACHE=${GITFLAGGER_IMAGE_CACHE:-$HOME/.cache/gitflagger/image}
OUT=${1:-dist/gitflagger-oci.tar}
TAG=localhost/gitflagger:dev
# The reference name inside the archive: what deploy/ and the charts pin (gitflagger:<version>),
# so `skopeo copy oci-archive:dist/gitflagger-oci.tar docker://REGISTRY/gitflagger:TAG` publishes it.
VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' pyproject.toml)
[[ -n $VERSION ]] || { echo "make image: no version in pyproject.toml" >&2; exit 1; }
REF_NAME=gitflagger:$VERSION

for tool in mmdebstrap buildah; do
  command -v "$tool" >/dev/null || { echo "make image needs $tool: run scripts/install-deps.sh" >&2; exit 1; }
done
key=$(printf '%s %s %s' "$SUITE" "$MIRROR" "$BASE_PACKAGES" | sha256sum | cut -c1-12)
BASE=localhost/gitflagger-base:$SUITE-$key
mkdir -p "$CACHE" "$(dirname "$OUT")"
# buildah keeps locks and mounts in a run directory; one per layer store.
runroot=${TMPDIR:-/tmp}/gitflagger-buildah-$(id -u)-$(printf %s "$CACHE" | sha256sum | cut -c1-8)
bah() { buildah --root "$CACHE/storage" --runroot "$runroot" --storage-driver overlay "$@"; }
start=$SECONDS

if ! bah inspect --type image "$BASE" >/dev/null 2>&1; then
  rootfs=$CACHE/base-$SUITE-$key.tar
  if [[ ! -s $rootfs ]]; then
    echo "--- base: mmdebstrap $SUITE with $BASE_PACKAGES (cold: about 3 minutes)"
    # Documentation, manual pages and locales are not needed in a controller image.
    mmdebstrap --quiet --variant=minbase --include="$BASE_PACKAGES" \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
      "$SUITE" "$rootfs.part" "$MIRROR"
    mv "$rootfs.part" "$rootfs"
  fi
  echo "--- base: importing the root filesystem as $BASE"
  ctr=$(bah from scratch)
  bah add --quiet "$ctr" "$rootfs" / >/dev/null
  bah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd /bin/bash "$ctr"
  bah commit --quiet "$ctr" "$BASE" >/dev/null
  bah rm "$ctr" >/dev/null
fi

# pip uses its own CA bundle; behind a TLS-inspecting proxy it needs the system's. The bundle is
# mounted for the build only and is not part of any layer.
ca_args=()
if [[ -s /etc/ssl/certs/ca-certificates.crt ]]; then
  ca_args=(--volume /etc/ssl/certs/ca-certificates.crt:/run/build-ca.crt:ro --build-arg PIP_CERT=/run/build-ca.crt)
fi
echo "--- build: deploy/Dockerfile on $BASE"
bah bud --quiet --force-rm --isolation chroot --network host --layers --pull-never \
  "${ca_args[@]}" --build-arg BASE="$BASE" -f deploy/Dockerfile -t "$TAG" . >/dev/null
# Name the build stage too (all cached, about a second), so that pruning unnamed images drops
# only the layers of earlier builds and the cache does not grow with every source change.
bah bud --quiet --force-rm --isolation chroot --network host --layers --pull-never \
  "${ca_args[@]}" --build-arg BASE="$BASE" -f deploy/Dockerfile --target build -t "$TAG-build" . >/dev/null
bah rmi --prune >/dev/null 2>&1 || true
rm -f "$OUT"
bah push --quiet "$TAG" "oci-archive:$OUT:$REF_NAME"
echo "--- $OUT ($REF_NAME): $(du -m "$OUT" | cut -f1) MiB in $((SECONDS - start)) s"
