#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build, run and test TimeSide:
# GStreamer 1.22 (dev files + base/good/bad/ugly/libav plugins), cmake and pkg-config for the
# crates that build C, ffmpeg/sox/time to verify outputs and run the benchmark, and
# liquidsoap, ices2 and ezstream (source clients the live-server tests push with; GStreamer's
# shout2send comes with plugins-good) and icecast2 (which the tests make relay our mounts);
# the real clients the interop tests open our files and answers with: praat (TextGrids),
# xmllint, nginx (a caching reverse proxy in front of the server), promtool (in prometheus: it
# checks /metrics and the example alert rules); and PostgreSQL 15, started
# with a `timeside` role (password `timeside`, may create databases) that the tests make
# their databases with (TIMESIDE_TEST_POSTGRES overrides where they connect); libhdf5 for
# HDF5 results, and the Python readers the export tests use (in target/pytools); Chromium and
# the npm packages of web/package-lock.json (playwright-core: the browser tests drive Debian's
# Chromium with it, no browser download).
# Safe to run again; the Rust toolchain itself is expected (rustup, or Debian's cargo >= 1.95).
set -euo pipefail

packages=(
  pkg-config cmake build-essential
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools
  ffmpeg sox libsox-fmt-all time liquidsoap ices2 ezstream icecast2
  praat libxml2-utils nginx-light prometheus
  postgresql
  libhdf5-dev hdf5-tools python3-venv
  chromium
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "installing: ${missing[*]}"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# PostgreSQL: a cluster that runs, and the tests' role. On a machine that has its own
# PostgreSQL set-up this only adds a role; TIMESIDE_TEST_POSTGRES points the tests elsewhere.
if [ -z "${TIMESIDE_TEST_POSTGRES:-}" ]; then
  as_postgres=(runuser -u postgres --)
  [ "$(id -u)" -eq 0 ] || as_postgres=(sudo -u postgres)
  cluster=$(pg_lsclusters -h 2>/dev/null | awk 'NR==1 {print $1" "$2}')
  if [ -z "$cluster" ]; then
    echo "no PostgreSQL cluster found (pg_lsclusters)" >&2
    exit 1
  fi
  if ! pg_lsclusters -h | awk 'NR==1 {print $4}' | grep -q online; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    # shellcheck disable=SC2086
    $sudo pg_ctlcluster $cluster start
  fi
  "${as_postgres[@]}" psql -q -v ON_ERROR_STOP=1 -d postgres -c "DO \$\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'timeside') THEN
        CREATE ROLE timeside LOGIN CREATEDB PASSWORD 'timeside';
      END IF;
    END \$\$;"
fi

# The Python readers the export tests check files with (jams, pympi-ling, praatio, webvtt-py,
# h5py), from PyPI, in a virtual environment under target/ (nothing installed system-wide).
repo=$(cd "$(dirname "$0")/.." && pwd)
venv="$repo/target/pytools"
requirements="$repo/tests/python-requirements.txt"
if ! cmp -s "$requirements" "$venv/requirements.txt" 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$requirements"
  cp "$requirements" "$venv/requirements.txt"
fi

# The browser tests' npm packages, exactly as locked, when the lock file changed. Node.js 20
# and npm come with the machine (Debian's own npm would replace its Node.js).
if ! command -v npm >/dev/null 2>&1; then
  echo "npm not found: install Node.js 20 with npm and run this again" >&2
  exit 1
fi
if ! cmp -s "$repo/web/package-lock.json" "$repo/web/node_modules/.package-lock.json.installed" 2>/dev/null; then
  (cd "$repo/web" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$repo/web/package-lock.json" "$repo/web/node_modules/.package-lock.json.installed"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install Rust 1.95 or newer (https://rustup.rs) and run this again" >&2
  exit 1
fi
