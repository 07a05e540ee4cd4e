#!/usr/bin/env bash
# Benchmark: the analyzers on a long file, each alone and TimeSide's 8-analyzer job in one pass
# (pipelines/analysis.toml), in x realtime and peak RSS, next to ffmpeg -f null decoding the same
# file in the same script. Not part of the test suite: numbers depend on the machine.
#
#   bash benches/analysis.sh                       # one hour of 44.1 kHz stereo WAV
#   SECONDS_OF_AUDIO=600 bash benches/analysis.sh
#
# Needs: the release build (built here), sox, ffmpeg, GNU time (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${SECONDS_OF_AUDIO:-3600}
work=${BENCH_DIR:-$(mktemp -d)}
cargo build --release --quiet
bin=target/release/timeside

wav="$work/long.wav"
if [ ! -f "$wav" ]; then
  echo "generating $secs s of 44.1 kHz stereo (pink noise, a tone, a click every 0.5 s) ..."
  sox -q -n -r 44100 -c 2 -b 16 "$work/bed.wav" synth "$secs" pinknoise synth sine mix 440 vol 0.3
  sox -q -n -r 44100 -c 2 -b 16 "$work/click.wav" synth 0.005 sine 2000 fade 0 0.005 0.004 pad 0 0.495
  sox -q "$work/click.wav" "$work/clicks.wav" repeat $((secs * 2 - 1))
  sox -q -m "$work/bed.wav" "$work/clicks.wav" "$wav" trim 0 "$secs"
  rm -f "$work/bed.wav" "$work/click.wav" "$work/clicks.wav"
fi

# Runs a command under GNU time; prints "<seconds> <peak RSS in MiB> <CPU seconds>" (CPU is
# user + system over all threads: GStreamer decodes on threads of its own).
measure() {
  /usr/bin/time -f '%e %M %U %S' -o "$work/time.txt" "$@" >/dev/null 2>"$work/stderr.txt" \
    || { echo "failed: $* ($(tail -n 1 "$work/stderr.txt"))" >&2; exit 1; }
  awk '{ printf "%.2f %.1f %.2f", $1, $2 / 1024, $3 + $4 }' "$work/time.txt"
}

row() { # label seconds rss cpu_seconds
  awk -v l="$1" -v s="$2" -v r="$3" -v c="$4" -v a="$secs" \
    'BEGIN { printf "%-46s %8.2f s %8.0fx realtime %8.1f MiB %8.2f s CPU\n", l, s, a / s, r, c }'
}

echo "audio: $secs s, 44.1 kHz stereo WAV; $(nproc) cores; $(date -u +%F)"
read -r t m c <<<"$(measure ffmpeg -v error -threads 1 -i "$wav" -f null -)"
row "ffmpeg -f null (decode only)" "$t" "$m" "$c"
read -r t m c <<<"$(measure "$bin" analyze "$wav" -a level -o /dev/null)"
row "timeside: decode + level" "$t" "$m" "$c"
for id in ${ANALYZERS:-mean_dc_shift loudness onset_detection_function onsets tempo pitch spectrogram waveform \
  mel_energy mfcc spectral_descriptors zcr chroma constant_q tuning silence clipping phase_correlation dc_offset dissonance}; do
  read -r t m c <<<"$(measure "$bin" analyze "$wav" -a "$id" -o /dev/null)"
  row "timeside: $id" "$t" "$m" "$c"
done
read -r t m c <<<"$(measure "$bin" analyze "$wav" -a onset_detection_function,onsets,tempo -o /dev/null)"
row "timeside: odf+onsets+tempo (one shared FFT)" "$t" "$m" "$c"
read -r t m c <<<"$(measure "$bin" run pipelines/analysis.toml "$wav" -o "$work/out" --force)"
row "timeside: the 8-analyzer job (analysis.toml)" "$t" "$m" "$c"
echo "files in $work (delete when done)"
