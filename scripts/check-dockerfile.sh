#!/usr/bin/env bash
# Checks that the Dockerfile's build stage builds, without a Docker engine: copies exactly what
# its build stage COPYs (from the build context) into an empty folder and builds there, sharing
# this checkout's target folder so dependencies are not compiled again.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
# The build stage: from the first FROM to the next FROM.
awk '/^FROM /{n++} n==1' Dockerfile | grep -E '^COPY ' | grep -v -- '--from' | while read -r _ args; do
  # COPY a b ... dest: every source into dest (relative to WORKDIR, which is the context root).
  read -r -a parts <<<"$args"
  dest=${parts[-1]}
  for src in "${parts[@]:0:${#parts[@]}-1}"; do
    if [ "$dest" = "./" ]; then cp -r "$src" "$context/"; else mkdir -p "$context/$(dirname "$dest")"; cp -r "$src" "$context/$dest"; fi
  done
done
cd "$context"
echo "dockerfile check: building from $(ls | tr '\n' ' ')"
CARGO_TARGET_DIR="$repo/target" cargo build --locked --bins -q
echo "dockerfile check: the build stage's files build"
