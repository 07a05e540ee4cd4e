#!/usr/bin/env bash
# Scale-out benchmark (see benches/scale_out.rs): PostgreSQL with 1, 2, 3 worker processes and
# SQLite with the in-process pool, then the queue's cost per job. Loopback only; bounded.
#   bash benches/scale_out.sh [FILES] [SECONDS] [WORKER_COUNTS]
#   e.g. bash benches/scale_out.sh 20 240 1,2,3
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
cargo bench --quiet --bench scale_out --no-run 2>/dev/null
bench=$(ls -t target/release/deps/scale_out-* | grep -v '\.d$' | head -n 1)
"$bench" --server target/release/timeside --files "${1:-20}" --seconds "${2:-240}" --workers "${3:-1,2,3}"
