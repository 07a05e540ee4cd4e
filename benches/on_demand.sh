#!/usr/bin/env bash
# On-demand server benchmark (see benches/on_demand.rs). Loopback only; bounded in count and time.
#   bash benches/on_demand.sh [FILES] [SECONDS] [WORKERS]
#   e.g. bash benches/on_demand.sh 20 240 2
#   API_ONLY=yes bash benches/on_demand.sh 1 5   # only the item list benchmark (the bench binary
#   also takes --requests N per client and --first-page yes)
#   POSTGRES=yes API_ONLY=yes bash benches/on_demand.sh 1 5   # the server on PostgreSQL
#   ITEMS=100000 API_ONLY=yes bash benches/on_demand.sh 1 5   # the item list over 100 000 items
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
cargo bench --quiet --bench on_demand --no-run 2>/dev/null
bench=$(ls -t target/release/deps/on_demand-* | grep -v '\.d$' | head -n 1)
"$bench" --server target/release/timeside --files "${1:-20}" --seconds "${2:-240}" --workers "${3:-2}" --api-only "${API_ONLY:-no}" --postgres "${POSTGRES:-no}" --items "${ITEMS:-10000}"
