#!/usr/bin/env bash
# Benchmark: transcoding throughput per format, next to ffmpeg with the same encoder settings in
# the same script, single-threaded; then the four web formats (MP3, Vorbis, FLAC, Opus) plus the
# standard analysis in one pass, next to ffmpeg's four encodes of the same file.
#
#   bash benches/transcode.sh                     # 10 minutes of 44.1 kHz stereo
#   SECONDS_OF_AUDIO=3600 bash benches/transcode.sh
#
# Needs the release build (built here), sox, ffmpeg and GNU time (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${SECONDS_OF_AUDIO:-600}
work=${BENCH_DIR:-$(mktemp -d)}
cargo build --release --quiet
bin=$PWD/target/release/timeside
wav="$work/src-$secs.wav"
[ -f "$wav" ] || sox -q -n -r 44100 -c 2 -b 16 "$wav" synth "$secs" pinknoise synth sine mix 440 vol 0.5
out="$work/out"
mkdir -p "$out"

# Seconds taken by a command (GNU time), failing loudly.
seconds() {
  /usr/bin/time -f '%e %M' -o "$work/time.txt" "$@" >/dev/null 2>"$work/err.txt" \
    || { echo "failed: $* ($(tail -n 2 "$work/err.txt"))" >&2; exit 1; }
  cut -d' ' -f1 "$work/time.txt"
}
rss() { awk '{ printf "%.0f", $2 / 1024 }' "$work/time.txt"; }

printf '%s s of 44.1 kHz stereo; %s cores; single-threaded encoders\n' "$secs" "$(nproc)"
printf '%-34s %10s %10s %9s %9s %8s\n' format timeside ffmpeg "ratio" "x rt" "RSS MiB"
row() { # label ours theirs
  awk -v l="$1" -v a="$2" -v b="$3" -v s="$secs" -v r="$4" \
    'BEGIN { printf "%-34s %9.2fs %9.2fs %8.2fx %8.0fx %8s\n", l, a, b, a / b, s / a, r }'
}

bench() { # label ext timeside-args... -- ffmpeg-args...
  local label=$1 ext=$2; shift 2
  local ours=() theirs=()
  while [ "$1" != "--" ]; do ours+=("$1"); shift; done; shift
  theirs=("$@")
  rm -f "$out/t.$ext" "$out/f.$ext"
  local t_ours t_ff r
  t_ours=$(seconds "$bin" transcode "$wav" -o "$out/t.$ext" "${ours[@]}"); r=$(rss)
  t_ff=$(seconds ffmpeg -v error -threads 1 -y -i "$wav" "${theirs[@]}" "$out/f.$ext")
  row "$label" "$t_ours" "$t_ff" "$r"
}

bench "wav 16-bit"            wav                    -- -c:a pcm_s16le
bench "mp3 CBR 192k (LAME -q 3)" mp3 --bitrate 192    -- -c:a libmp3lame -b:a 192k -compression_level 3
bench "opus 128k (libopus, cx 10)" opus --bitrate 128 -- -c:a libopus -b:a 128k -compression_level 10
bench "vorbis q5 (libvorbis)" ogg --quality 0.5     -- -c:a libvorbis -q:a 5
bench "flac level 5"          flac --quality 5     -- -c:a flac -compression_level 5
bench "aac 160k in m4a"       m4a --bitrate 160    -- -c:a aac -b:a 160k
bench "opus 128k in webm"     webm --bitrate 128   -- -c:a libopus -b:a 128k

# Four web formats plus the standard analysis, in one decoding pass.
cat > "$work/web4.toml" <<'TOML'
[[processors]]
id = "level"
[[processors]]
id = "mean_dc_shift"
[[processors]]
id = "spectrogram"
[[processors]]
id = "waveform"
[[processors]]
id = "mp3"
params = { bitrate_kbps = 192 }
[[processors]]
id = "vorbis"
params = { quality = 0.5 }
[[processors]]
id = "flac"
[[processors]]
id = "opus"
params = { bitrate_kbps = 128 }
TOML
rm -rf "$out/web4"
t_ours=$(seconds "$bin" run "$work/web4.toml" "$wav" -o "$out/web4"); r=$(rss)
t_ff=0
for args in "-c:a libmp3lame -b:a 192k -compression_level 3 f.mp3" "-c:a libvorbis -q:a 5 f.ogg" \
            "-c:a flac -compression_level 5 f.flac" "-c:a libopus -b:a 128k -compression_level 10 f.opus"; do
  set -- $args
  n=$#; file=${!n}; set -- "${@:1:$((n-1))}"
  t=$(seconds ffmpeg -v error -threads 1 -y -i "$wav" "$@" "$out/$file")
  t_ff=$(awk -v a="$t_ff" -v b="$t" 'BEGIN { print a + b }')
done
row "4 web formats + analysis, 1 pass" "$t_ours" "$t_ff" "$r"
echo "(ffmpeg column for the last row: the sum of its four separate encodes)"
echo "files in $work (delete when done)"
