#!/usr/bin/env bash
# Benchmark (issue 23.3): 16 signed-in `stream.mp3` requests of a one-hour item whose clients
# never read take every transcoding slot (`server.max_transcodes` = 16); how long until a normal
# stream plays again (the write timeout, `server.stream_write_timeout_s`, is 5 s).
#
#   bash benches/stall.sh
#
# Needs the release build (built here), GStreamer and python3 (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
work=${BENCH_DIR:-$(mktemp -d)}
cargo build --release --quiet
bin=$PWD/target/release/timeside
port=${PORT:-18765}
rm -rf "$work/data"
cat >"$work/server.toml" <<TOML
channels = []
[server]
listen = "127.0.0.1:$port"
data_dir = "$work/data"
[items]
ingest_experience = ""
[jobs]
workers = 0
TOML
[ -f "$work/hour.flac" ] || gst-launch-1.0 -q audiotestsrc wave=silence num-buffers=155040 samplesperbuffer=1024 \
  ! audio/x-raw,rate=44100,channels=2 ! flacenc ! filesink location="$work/hour.flac"
cd "$work"
python3 - "$bin" "$port" <<'PY'
import json, socket, subprocess, sys, time, urllib.request
BIN, ADDR = sys.argv[1], ("127.0.0.1", int(sys.argv[2]))
base = "http://%s:%d" % ADDR
def call(method, path, body=None, token=None, headers={}):
    req = urllib.request.Request(base + path, data=body, method=method, headers=dict(headers))
    if token: req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=60) as r: return r.status, r.read()
    except urllib.error.HTTPError as e: return e.code, e.read()
subprocess.run([BIN, "user", "add", "ada", "--config", "server.toml"], input=b"ada-password\nada-password\n", check=True, capture_output=True)
server = subprocess.Popen([BIN, "serve", "--config", "server.toml"], stdout=subprocess.DEVNULL, stderr=open("server.log", "w"))
try:
    for _ in range(100):
        try:
            if call("GET", "/api/v1/health")[0] == 200: break
        except OSError: time.sleep(0.1)
    login = json.dumps({"username": "ada", "password": "ada-password"}).encode()
    token = json.loads(call("POST", "/api/v1/token", login, headers={"Content-Type": "application/json"})[1])["access"]
    b = "----bench"
    body = (("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"hour.flac\"\r\n"
             "Content-Type: audio/flac\r\n\r\n") % b).encode() + open("hour.flac", "rb").read() + ("\r\n--%s--\r\n" % b).encode()
    item = json.loads(call("POST", "/api/v1/items", body, token, {"Content-Type": "multipart/form-data; boundary=" + b})[1])["uuid"]
    stalled, started = [], time.time()
    for _ in range(16):
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096); s.connect(ADDR)
        s.sendall(("GET /api/v1/items/%s/stream.mp3 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n" % (item, token)).encode())
        stalled.append(s)
    # Each has started (its status line came), and reads nothing more.
    for s in stalled:
        if not s.recv(12).startswith(b"HTTP/1.1 200"): sys.exit("a stalled stream did not start")
    probe = "/api/v1/items/%s/stream.mp3?stop=1" % item
    # First every slot is taken (the sixteen take a moment to start) ...
    full = None
    while full is None and time.time() - started < 30:
        if call("GET", probe, token=token)[0] == 503: full = time.time()
        else: time.sleep(0.05)
    if full is None: sys.exit("the stalled streams never took every slot")
    # ... then a normal stream plays again once the stalled ones are let go.
    while call("GET", probe, token=token)[0] != 200:
        if time.time() - started > 120: sys.exit("the stalled streams still hold every slot after 120 s")
        time.sleep(0.25)
    played = time.time()
    print("16 stalled streams: every slot taken %.1f s after they started; a normal stream played %.1f s "
          "after that (%.1f s after they started)" % (full - started, played - full, played - started))
finally:
    server.terminate(); server.wait()
PY
