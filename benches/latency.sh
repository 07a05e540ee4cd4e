#!/usr/bin/env bash
# Source-to-listener latency (see benches/latency.rs). Loopback only; about 20 s.
#   bash benches/latency.sh [CHUNK_BYTES] [normal|low] [true|false] [mp3|opus] [OPUS_PAGE_MS]
# defaults: 12288 normal true mp3 60 (an mp3 listener; the source's MP3 frames relayed to the
# mp3 mount)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
cargo bench --quiet --bench latency --no-run 2>/dev/null
bench=$(ls -t target/release/deps/latency-* | grep -v '\.d$' | head -n 1)
"$bench" --server target/release/timeside --chunk-bytes "${1:-12288}" --latency "${2:-normal}" --mp3-passthrough "${3:-true}" \
    --format "${4:-mp3}" --opus-page-ms "${5:-60}"
