#!/usr/bin/env bash
# Regenerate uv.lock and the per-service requirement files exported from it, with hashes.
#
#   deploy/requirements/export.sh            lock (pins move only where pyproject.toml changed)
#                                            and rewrite requirements-*.txt
#   deploy/requirements/export.sh --upgrade  move every pin to the newest version allowed
#   deploy/requirements/export.sh --check    fail if uv.lock or a requirements file is stale
#
# requirements-<service>.txt is the base dependencies plus that service's extra;
# requirements-core.txt is the base alone (the migration image: `aicc db upgrade`). Neither
# holds the project itself nor any dev tool. The lock is universal (every platform, Python
# 3.11+), so the files carry hashes for the manylinux wheels of x86_64 and aarch64.
#
# uv is taken from $UV, else PATH, else the one the tests install (~/.cache/aicc-test-tools/uv); get it with
# `pipx install uv` or `python3 -m pip install --user uv`.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
UV="${UV:-$(command -v uv || echo "${AICC_TEST_TOOLS:-$HOME/.cache/aicc-test-tools}/uv/bin/uv")}"
if [ ! -x "$UV" ]; then
  echo "export.sh: uv not found; install it (pipx install uv) or set UV=/path/to/uv" >&2
  exit 1
fi
SERVICES=(core monitoring recording integration auth)

mode="${1:-}"
cd "$root"
case "$mode" in
  "") "$UV" lock --quiet ;;
  --upgrade) "$UV" lock --quiet --upgrade ;;
  --check)
    if ! "$UV" lock --quiet --check; then
      echo "export.sh: uv.lock does not match pyproject.toml; run deploy/requirements/export.sh" >&2
      exit 1
    fi
    ;;
  *)
    echo "usage: deploy/requirements/export.sh [--upgrade | --check]" >&2
    exit 2
    ;;
esac

out="$here"
if [ "$mode" = --check ]; then
  out="$(mktemp -d)"
  trap 'rm -rf "$out"' EXIT
fi

for service in "${SERVICES[@]}"; do
  if [ "$service" = core ]; then
    extra=()
    what="the base dependencies (the migration image, aicc db upgrade)"
  else
    extra=(--extra "$service")
    what="the base dependencies and the $service extra (aicc serve $service)"
  fi
  {
    echo "# $what, pinned with hashes."
    echo "# Generated from uv.lock by deploy/requirements/export.sh; do not edit."
    echo "# pip install --require-hashes -r requirements-$service.txt && pip install --no-deps ."
    "$UV" export --quiet --frozen --format requirements-txt --no-header --no-emit-project \
      --no-default-groups "${extra[@]}"
  } >"$out/requirements-$service.txt"
done

[ "$mode" = --check ] || exit 0

# Requirements and hashes are compared; comments (uv's "# via" notes) are not.
pins() { sed -e '/^[[:space:]]*#/d' -e 's/[[:space:]]*\\$//' -e '/^[[:space:]]*$/d' "$1"; }
stale=()
for service in "${SERVICES[@]}"; do
  file="deploy/requirements/requirements-$service.txt"
  if [ ! -f "$file" ] || ! diff -q <(pins "$file") <(pins "$out/requirements-$service.txt") \
    >/dev/null; then
    stale+=("$file")
  fi
done
if [ "${#stale[@]}" -gt 0 ]; then
  echo "export.sh: out of date with uv.lock: ${stale[*]}; run deploy/requirements/export.sh" >&2
  exit 1
fi
