#!/usr/bin/env bash
# Fetches the browser builds listed in assets/VERSIONS from the npm registry (npm pack) and
# checks their SHA-256 sums. Run it to check the committed files, or after changing a version
# and its sum there to upgrade.
set -euo pipefail
cd "$(dirname "$0")/assets"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
grep -v '^#' VERSIONS | while read -r file package path sum; do
  [ -n "$file" ] || continue
  tarball=$(cd "$work" && npm pack --silent "$package")
  tar -xzf "$work/$tarball" -C "$work" "package/$path"
  echo "$sum  $work/package/$path" | sha256sum --check --quiet
  cp "$work/package/$path" "$file"
  echo "$file: $package, checked"
done
