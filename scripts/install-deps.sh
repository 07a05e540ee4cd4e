#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build, run and test TimeSide:
# GStreamer 1.22 (dev files + base/good/bad/ugly/libav plugins), cmake and pkg-config for the
# crates that build C, ffmpeg/sox/time to verify outputs and run the benchmark, and
# liquidsoap (a source client the live-server tests push with).
# Safe to run again; the Rust toolchain itself is expected (rustup, or Debian's cargo >= 1.95).
set -euo pipefail

packages=(
  pkg-config cmake build-essential
  libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
  gstreamer1.0-plugins-ugly gstreamer1.0-libav gstreamer1.0-tools
  ffmpeg sox libsox-fmt-all time liquidsoap
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

if ! command -v cargo >/dev/null 2>&1; then
  echo "cargo not found: install Rust 1.95 or newer (https://rustup.rs) and run this again" >&2
  exit 1
fi
