#!/usr/bin/env bash
# Benchmark: decode + level + waveform + spectrogram on a long file, in x realtime and peak RSS,
# next to GStreamer (gst-launch ... ! fakesink) and ffmpeg (-f null) decoding the same file in
# the same script. Not part of the test suite: numbers depend on the machine.
#
#   bash benches/throughput.sh            # one hour of 44.1 kHz stereo (WAV and MP3)
#   SECONDS_OF_AUDIO=600 bash benches/throughput.sh
#
# Needs: the release build (built here), sox, ffmpeg, gst-launch-1.0, GNU time
# (scripts/install-deps.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${SECONDS_OF_AUDIO:-3600}
work=${BENCH_DIR:-$(mktemp -d)}
cargo build --release --quiet
bin=target/release/timeside

wav="$work/long.wav"
mp3="$work/long.mp3"
if [ ! -f "$wav" ]; then
  echo "generating $secs s of 44.1 kHz stereo (pink noise plus a tone) ..."
  sox -q -n -r 44100 -c 2 -b 16 "$wav" synth "$secs" pinknoise synth sine mix 440 vol 0.5
fi
if [ ! -f "$mp3" ]; then
  ffmpeg -v error -y -i "$wav" -c:a libmp3lame -b:a 192k "$mp3"
fi

# Runs a command under GNU time; prints "<seconds> <peak RSS in MiB>".
measure() {
  /usr/bin/time -f '%e %M' -o "$work/time.txt" "$@" >/dev/null 2>"$work/stderr.txt" \
    || { echo "failed: $* ($(tail -n 1 "$work/stderr.txt"))" >&2; exit 1; }
  awk '{ printf "%.2f %.1f", $1, $2 / 1024 }' "$work/time.txt"
}

row() { # label seconds rss reference_seconds
  awk -v l="$1" -v s="$2" -v r="$3" -v a="$secs" -v ref="$4" \
    'BEGIN { printf "%-44s %8.2f s %9.0fx realtime %8.1f MiB", l, s, a / s, r;
             if (ref > 0) printf "   %.2fx the time of ffmpeg decoding"  , s / ref; printf "\n" }'
}

echo "audio: $secs s, 44.1 kHz stereo; $(nproc) cores; $(date -u +%F)"
for input in "$wav" "$mp3"; do
  ext=${input##*.}
  echo "== $ext"
  read -r t_ff m_ff <<<"$(measure ffmpeg -v error -i "$input" -f null -)"
  row "ffmpeg -f null (decode only)" "$t_ff" "$m_ff" 0
  read -r t_gst m_gst <<<"$(measure gst-launch-1.0 -q filesrc location="$input" ! decodebin ! audioconvert ! audio/x-raw,format=F32LE ! fakesink)"
  row "gst-launch decodebin ! fakesink (decode only)" "$t_gst" "$m_gst" "$t_ff"
  read -r t_lvl m_lvl <<<"$(measure "$bin" analyze "$input" -a level -o /dev/null)"
  row "timeside: decode + level" "$t_lvl" "$m_lvl" "$t_ff"
  read -r t_all m_all <<<"$(measure "$bin" analyze "$input" -a level,mean_dc_shift,waveform,spectrogram -o "$work/results-$ext.json")"
  row "timeside: level+dc+waveform+spectrogram" "$t_all" "$m_all" "$t_ff"
done
echo "files in $work (delete when done)"
