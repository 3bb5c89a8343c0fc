#!/usr/bin/env bash
# Builds the release: a static imgprep for each platform, packed with
# LICENSE and README.md into imgprep-VERSION-OS-ARCH.tar.gz, and
# SHA256SUMS over the tarballs (check with: sha256sum -c SHA256SUMS).
# The tarballs are reproducible: fixed order, owners and times.
#
#   scripts/release.sh VERSION DIST
set -euo pipefail
version=${1:?usage: release.sh VERSION DIST}
dist=${2:?usage: release.sh VERSION DIST}
platforms=${IMGPREP_PLATFORMS:-"linux/amd64 linux/arm64"}
cd "$(dirname "$0")/.."
mkdir -p "$dist"
dist=$(cd "$dist" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# The commit's time, so that a rebuild of one commit is byte-identical.
epoch=$(git log -1 --format=%ct 2>/dev/null || echo 0)
tarballs=()
for p in $platforms; do
  os=${p%/*} arch=${p#*/}
  name=imgprep-$version-$os-$arch
  mkdir -p "$work/$name"
  CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath \
    -ldflags "-s -w -X main.version=$version" -o "$work/$name/imgprep" ./cmd/imgprep
  cp LICENSE README.md "$work/$name/"
  tar -C "$work" --sort=name --mtime="@$epoch" --owner=0 --group=0 --numeric-owner \
    -cf - "$name" | gzip -9n >"$dist/$name.tar.gz"
  tarballs+=("$name.tar.gz")
  echo "$dist/$name.tar.gz"
done
(cd "$dist" && sha256sum "${tarballs[@]}" >SHA256SUMS)
echo "$dist/SHA256SUMS"
