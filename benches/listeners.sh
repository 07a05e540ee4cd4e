#!/usr/bin/env bash
# Listener load benchmark (see benches/listeners.rs). Loopback only; bounded in count and time.
#   bash benches/listeners.sh [COUNTS] [STEADY_SECONDS] [CHUNK_BYTES]
#   e.g. bash benches/listeners.sh 1000,5000,10000 10 12288
set -euo pipefail
cd "$(dirname "$0")/.."
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
cargo build --release --quiet
cargo bench --quiet --bench listeners --no-run 2>/dev/null
bench=$(ls -t target/release/deps/listeners-* | grep -v '\.d$' | head -n 1)
"$bench" --server target/release/timeside --counts "${1:-1000,5000,10000}" --seconds "${2:-10}" --join-rate 500 --chunk-bytes "${3:-12288}"
