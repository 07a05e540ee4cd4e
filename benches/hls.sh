#!/usr/bin/env bash
# HLS at the origin and through a cache (loopback only, about 70 s):
#  1. production: CHANNELS channels (default 8) of a live tone, each publishing HLS with 1 s
#     segments; over 20 s: segments produced per second, and the server's CPU (% of one core)
#     per channel, HLS and its mp3 mount together;
#  2. availability: for each new segment of one channel, how long after the end of its audio
#     (its #EXT-X-PROGRAM-DATE-TIME plus its duration) the playlist first lists it, polled
#     every 50 ms, as a ratio to the segment duration; a player that starts three segments
#     behind live (hls.js's default) plays that much plus three segments behind. Program dates
#     count from when the encoder gave its first frame, so this is what muxing and listing add
#     after the encoder (whose own delay, a few AAC frames, is not in it);
#  3. a cache in front: nginx with proxy_cache_lock, CLIENTS players (default 500) reading the
#     playlist and its newest segment every second for 10 s: requests that reached the origin;
#  4. LL-HLS (parts of 0.3 s, 2 s segments): how far behind the encoder hls.js in Chromium
#     plays in its low-latency mode (now minus the program date of what it plays, median of
#     3 s), as a ratio to the segment duration.
#   bash benches/hls.sh [CHANNELS] [CLIENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
channels=${1:-8}
clients=${2:-500}
cargo build --release --quiet
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
proxy=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

{
  echo "[server]"; echo "data_dir = \"$work/data\""
  echo "[live]"; echo "hls_segment_s = 1.0"
  for i in $(seq 1 "$channels"); do
    echo "[[channels]]"; echo "id = \"c$i\""
    echo "source = \"launch:audiotestsrc is-live=true freq=$((300 + 50 * i)) volume=0.1\""
    echo "formats = [\"mp3\"]"; echo "analyzers = []"
  done
} > "$work/timeside.toml"
target/release/timeside serve --config "$work/timeside.toml" --listen "127.0.0.1:$port" >"$work/serve.log" 2>&1 &
server=$!
pids+=("$server")
base="http://127.0.0.1:$port"
until curl -sf "$base/live/c1/aac-128.m3u8" >/dev/null; do sleep 0.2; done

python3 - "$base" "$channels" "$server" <<'EOF'
import sys, time, urllib.request, os
base, channels, pid = sys.argv[1], int(sys.argv[2]), sys.argv[3]
ticks = os.sysconf("SC_CLK_TCK")
def cpu():
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / ticks
def sequence(c):
    text = urllib.request.urlopen(f"{base}/live/c{c}/aac-128.m3u8").read().decode()
    listed = [l for l in text.splitlines() if l.endswith(".ts")]
    return int(listed[-1].split("/")[-1][:-3])
first = [sequence(c) for c in range(1, channels + 1)]
c0, t0 = cpu(), time.time()
time.sleep(20)
made = sum(sequence(c) - s for c, s in zip(range(1, channels + 1), first))
elapsed, used = time.time() - t0, cpu() - c0
print(f"production: {channels} channels, {made / elapsed:.2f} segments/s, "
      f"{100 * used / elapsed / channels:.2f} % of a core per channel (HLS + mp3 mount, 1 s segments)")

# Availability: when each new segment is first listed, after the end of its audio.
from datetime import datetime
seen, delays = set(), []
end = time.time() + 15
while time.time() < end:
    text = urllib.request.urlopen(f"{base}/live/c1/aac-128.m3u8").read().decode()
    now = time.time()
    date, duration, first = None, None, not seen
    for line in text.splitlines():
        if line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            date = datetime.fromisoformat(line.split(":", 1)[1].replace("Z", "+00:00")).timestamp()
        elif line.startswith("#EXTINF:"):
            duration = float(line[8:].rstrip(","))
        elif line.endswith(".ts"):
            if line not in seen and not first:
                delays.append(now - (date + duration))
            seen.add(line)
    time.sleep(0.05)
delays.sort()
if delays:
    median = delays[len(delays) // 2]
    print(f"availability: a segment is listed {median * 1000:.0f} ms after its audio ended (median of {len(delays)}, "
          f"max {delays[-1] * 1000:.0f} ms) = {median:.2f} x the segment duration; a player three segments behind "
          f"live plays {3 + median:.2f} segment durations after the audio")
EOF

# nginx's workers run as nobody: they must reach their temporary folders.
chmod 755 "$work" && mkdir -p "$work/nginx/cache" && chmod -R 777 "$work/nginx"
cat > "$work/nginx/nginx.conf" <<EOF
daemon off; worker_processes 1; worker_rlimit_nofile 8192;
pid $work/nginx/nginx.pid; error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body; proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi; uwsgi_temp_path $work/nginx/uwsgi; scgi_temp_path $work/nginx/scgi;
  proxy_cache_path $work/nginx/cache keys_zone=timeside:10m max_size=100m;
  server {
    listen 127.0.0.1:$proxy;
    location ~ ^/live/[^/]+/ { proxy_pass $base; proxy_cache timeside; proxy_cache_lock on; }
  }
}
EOF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" &
pids+=("$!")
until curl -sf "http://127.0.0.1:$proxy/live/c1/index.m3u8" >/dev/null; do sleep 0.2; done

python3 - "$base" "http://127.0.0.1:$proxy" "$clients" <<'EOF' || tail -5 "$work/nginx/error.log"
import sys, time, json, urllib.request, threading
origin, proxy, clients = sys.argv[1], sys.argv[2], int(sys.argv[3])
def served():
    return json.load(urllib.request.urlopen(f"{origin}/api/v1/live/c1"))["hls"]["segments_served"]
before, distinct, lock = served(), set(), threading.Lock()
def player():
    for _ in range(10):
        text = urllib.request.urlopen(f"{proxy}/live/c1/aac-128.m3u8").read().decode()
        newest = [l for l in text.splitlines() if l.endswith(".ts")][-1]
        urllib.request.urlopen(f"{proxy}/live/c1/{newest}").read()
        with lock:
            distinct.add(newest)
        time.sleep(1)
threads = [threading.Thread(target=player) for _ in range(clients)]
for t in threads: t.start()
for t in threads: t.join()
requests = clients * 10
print(f"through nginx: {clients} players, {requests} segment requests, {len(distinct)} distinct segments, "
      f"{served() - before} reached the origin")
EOF

# 4. LL-HLS in hls.js (needs web/node_modules and Chromium: scripts/install-deps.sh).
ll_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf '[server]\ndata_dir = "%s"\n[live]\nhls_segment_s = 2.0\nhls_part_s = 0.3\n' "$work/ll" > "$work/ll.toml"
target/release/timeside serve --config "$work/ll.toml" --listen "127.0.0.1:$ll_port" >"$work/ll.log" 2>&1 &
pids+=("$!")
until curl -sf "http://127.0.0.1:$ll_port/live/demo/aac-128.m3u8" >/dev/null; do sleep 0.2; done
node tests/browser/hls_latency.mjs "http://127.0.0.1:$ll_port/live/demo/index.m3u8" | python3 -c '
import json, sys
l = json.load(sys.stdin)["latency"]
print(f"LL-HLS: hls.js plays {l:.2f} s behind the encoder (median), {l / 2.0:.2f} x the 2 s segment; parts of 0.3 s")'
