#!/usr/bin/env bash
# Visual data benchmarks (see benches/visual.rs for the server part). Loopback only; bounded.
#   bash benches/visual.sh [HOURS]    # HOURS: length of the server's item (default 3)
# First, one hour of 44.1 kHz stereo pink noise through the graphers against the tools users
# would otherwise run (same file, same machine, one after the other): spectrogram_log against
# `sox -n spectrogram`, waveform_simple against ffmpeg's showwavespic; and what the peaks
# pyramid adds to a decoding pass and weighs. Then the server: ingest and window requests.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
cargo bench --quiet --bench visual --no-run 2>/dev/null
T=target/release/timeside
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
echo "making one hour of stereo pink noise ..." >&2
sox -n -r 44100 -c 2 -b 16 "$work/hour.wav" synth 3600 pinknoise vol 0.5
sox "$work/hour.wav" "$work/hour.flac"
sox "$work/hour.wav" -c 1 "$work/mono.flac"

# Runs a command; prints "seconds peak-RSS-MB".
measure() {
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null 2>&1
  awk '{printf "%.2f %.1f", $1, $2 / 1024}' "$work/time"
}
preset() { # id [params]
  printf '[[processors]]\nid = "%s"\n%s\n' "$1" "${2:-}" > "$work/$1.toml"
  echo "$work/$1.toml"
}
row() { # label "s MB" reference-label "s MB"
  read -r s m <<<"$2"; read -r rs rm <<<"$4"
  awk -v l="$1" -v s="$s" -v m="$m" -v r="$3" -v rs="$rs" -v rm="$rm" 'BEGIN {
    printf "| %s | %.2f s, %.0f MB | %s | %.2f s, %.0f MB | %.2fx | %.2f |\n", l, s, m, r, rs, rm, rs / s, m / rm }'
}

echo "## Graphers, one hour of stereo pink noise (WAV)"
echo "| timeside | time, peak RSS | reference | time, peak RSS | speed vs reference | memory vs reference |"
echo "|---|---|---|---|---|---|"
sox_spec=$(measure sox "$work/hour.wav" -n spectrogram -o "$work/sox.png")
ours=$(measure $T run "$(preset spectrogram_log)" "$work/hour.wav" -o "$work/out-spec")
row "spectrogram_log 1024x512" "$ours" "sox spectrogram (800x257)" "$sox_spec"
ff=$(measure ffmpeg -nostdin -y -i "$work/hour.wav" -filter_complex "showwavespic=s=1024x256" -frames:v 1 "$work/ff.png")
ours=$(measure $T run "$(preset waveform_simple)" "$work/hour.wav" -o "$work/out-wave")
row "waveform_simple 1024x256" "$ours" "ffmpeg showwavespic 1024x256" "$ff"

echo
echo "## Peaks pyramid: cost in a decoding pass, size (FLAC input)"
base=$(measure $T run "$(preset dc_offset)" "$work/hour.flac" -o "$work/out-base")
printf '[[processors]]\nid = "dc_offset"\n[[processors]]\nid = "peaks_pyramid"\n' > "$work/both.toml"
both=$(measure $T run "$work/both.toml" "$work/hour.flac" -o "$work/out-both")
echo "decode + dc_offset: ${base% *} s; with peaks_pyramid: ${both% *} s ($(awk -v a="${base% *}" -v b="${both% *}" 'BEGIN {printf "%+.1f %%", (b / a - 1) * 100}'))"
$T run "$work/both.toml" "$work/mono.flac" -o "$work/out-mono" >/dev/null 2>&1
for f in "$work/out-both/hour.flac/peaks.tspk:stereo" "$work/out-mono/mono.flac/peaks.tspk:mono"; do
  size=$(stat -c %s "${f%%:*}")
  awk -v s="$size" -v l="${f##*:}" 'BEGIN {printf "pyramid of one hour of %s pink noise: %.2f MB = %.2f %% of a 128 kbit/s MP3 (57.6 MB)\n", l, s / 1e6, s / 57.6e6 * 100}'
done

echo
bench=$(ls -t target/release/deps/visual-* | grep -v '\.d$' | head -n 1)
"$bench" --server "$T" --hours "${1:-3}"
