#!/usr/bin/env bash
# Benchmark: how soon a file the browser cannot play as uploaded (AIFF, WMA) can start to sound:
# time to the first audio bytes of a transcode streamed as it is made (`stream.mp3`), from the
# start and from three quarters (a seek); next to the complete transcode (`download/mp3`, what
# the player plays today) in the same script.
#
#   bash benches/first_audio.sh            # 10 minutes of 44.1 kHz stereo
#   SECONDS_OF_AUDIO=3600 bash benches/first_audio.sh
#
# Needs the release build (built here), sox, ffmpeg and curl. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${SECONDS_OF_AUDIO:-600}
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cargo build --release --quiet
bin=$PWD/target/release/timeside
sox -q -n -r 44100 -c 2 -b 16 "$work/take.aiff" synth "$secs" pinknoise synth sine mix 440 vol 0.5
ffmpeg -v error -y -i "$work/take.aiff" -c:a wmav2 -b:a 128k "$work/take.wma"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'channels = []\n[server]\ndata_dir = "%s/data"\n[items]\ningest_experience = ""\n' "$work" > "$work/timeside.toml"
"$bin" serve --config "$work/timeside.toml" --listen "127.0.0.1:$port" --api-token bench-token >"$work/serve.log" 2>&1 &
pids+=("$!")
base="http://127.0.0.1:$port/api/v1"
until curl -sf "$base/health" >/dev/null; do sleep 0.2; done
auth="Authorization: Bearer bench-token"

# Seconds from the request until the first 16 KiB of audio arrived (about a second of 128k MP3:
# what a player buffers before it starts); the headers alone come at once.
first() {
  python3 - "$1" <<'PY'
import sys, time, urllib.request
started = time.monotonic()
request = urllib.request.Request(sys.argv[1], headers={"Authorization": "Bearer bench-token"})
try:
    with urllib.request.urlopen(request) as r:
        got = 0
        while got < 16384:
            chunk = r.read1(16384 - got)
            if not chunk:
                break
            got += len(chunk)
    print(f"{time.monotonic() - started:.3f}")
except Exception as e:  # a stream cut short: said, not hidden
    print(f"failed after {time.monotonic() - started:.1f} s ({type(e).__name__})", file=sys.stderr)
    print("nan")
PY
}

printf '%s s of 44.1 kHz stereo\n' "$secs"
printf '%-6s %22s %22s %24s %8s\n' file "stream.mp3 first 16K" "stream at 3/4" "download/mp3 first 16K" ratio
for f in take.aiff take.wma; do
  item=$(curl -sf -H "$auth" -F "file=@$work/$f" "$base/items" | python3 -c 'import json,sys; print(json.load(sys.stdin)["uuid"])')
  s=$(first "$base/items/$item/stream.mp3?start=0")
  seek=$(first "$base/items/$item/stream.mp3?start=$((secs * 3 / 4))")
  d=$(first "$base/items/$item/download/mp3")
  awk -v f="${f#take.}" -v s="$s" -v k="$seek" -v d="$d" \
    'BEGIN { printf "%-6s %21.3fs %21.3fs %23.3fs %7.0fx\n", f, s, k, d, d / s }'
done
