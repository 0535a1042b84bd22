#!/usr/bin/env bash
# Replaces the vendored axe-core (internal/testenv/testdata/axe) with another
# release from the npm registry: scripts/update-axe.sh 4.14.1
# npm checks the tarball against the registry's integrity value; the script
# prints the new sums for internal/testenv/testdata/axe/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
version="${1:?usage: scripts/update-axe.sh VERSION}"
dest=internal/testenv/testdata/axe
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "update-axe: fetching axe-core@$version with npm"
(cd "$tmp" && npm pack --silent "axe-core@$version" >/dev/null)
tar -xzf "$tmp/axe-core-$version.tgz" -C "$tmp"
cp "$tmp/package/axe.min.js" "$tmp/package/LICENSE" "$tmp/package/LICENSE-3RD-PARTY.txt" "$dest/"
head -c 20 "$dest/axe.min.js"; echo
sha256sum "$dest/axe.min.js"
echo "npm integrity $(npm view "axe-core@$version" dist.integrity)"
echo "update-axe: now update $dest/README.md and the version TestAxeVersion expects"
