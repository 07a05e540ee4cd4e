#!/usr/bin/env bash
# Web player benchmark in Debian's Chromium (see benches/player.rs and benches/player.mjs).
# Loopback only; bounded.
#   bash benches/player.sh [HOURS] [MINUTES]    # item length (default 3), minutes per view (10)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
cargo bench --quiet --bench player --no-run 2>/dev/null
bench=$(ls -t target/release/deps/player-* | grep -v '\.d$' | head -n 1)
"$bench" --server target/release/timeside --hours "${1:-3}" --minutes "${2:-10}"
