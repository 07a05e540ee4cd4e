//! The live server on 127.0.0.1 with an ephemeral port: listeners in each format, WebSocket
//! level events that match the source, error codes, source loss and recovery, shutdown.

use futures_util::{SinkExt, StreamExt};
use std::time::Duration;
use timeside::server::config::Config;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

/// A config on an ephemeral loopback port with `data_dir` in `dir`; `rest` adds tables and
/// channels (it must not repeat `[server]`'s listen and data_dir).
pub(crate) fn load_config(dir: &std::path::Path, server_extra: &str, rest: &str) -> Config {
    let file = dir.join("server.toml");
    let text = format!("[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n{server_extra}\n{rest}", dir.display());
    std::fs::write(&file, text).expect("write config");
    Config::load(Some(&file)).expect("config")
}

/// A -20 dBFS 1 kHz sine, live, plus a source that stops after 1 s (to test recovery).
fn config(dir: &std::path::Path) -> Config {
    load_config(
        dir,
        "",
        r#"
[[channels]]
id = "tone"
source = "launch:audiotestsrc is-live=true freq=1000 volume=0.1"
formats = ["mp3", "opus"]
[[channels]]
id = "flaky"
source = "launch:audiotestsrc is-live=true num-buffers=44"
formats = ["mp3"]
"#,
    )
}

/// GET over HTTP/1.0 (no chunked encoding); returns (status line + headers, body read until
/// `listen` elapsed or the stream ended).
pub(crate) async fn get(addr: std::net::SocketAddr, path: &str, listen: Duration) -> (String, Vec<u8>) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes()).await.expect("send");
    let mut data = Vec::new();
    let deadline = tokio::time::Instant::now() + listen;
    let mut buf = vec![0u8; 65536];
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Err(_) => break,
            Ok(Ok(n)) => data.extend_from_slice(&buf[..n]),
            Ok(Err(e)) => panic!("read: {e}"),
        }
    }
    let split = data.windows(4).position(|w| w == b"\r\n\r\n").expect("headers") + 4;
    (String::from_utf8_lossy(&data[..split]).to_lowercase(), data[split..].to_vec())
}

fn decode_level(bytes: &[u8], ext: &str) -> (f64, f64) {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join(format!("heard.{ext}"));
    std::fs::write(&path, bytes).expect("write");
    let out = crate::common::analyze(&path, "level", Default::default());
    (
        out.source.frames as f64 / out.results[0].audio_metadata.samplerate as f64,
        crate::common::global(&out, "level.max"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listeners_events_errors_recovery_and_shutdown() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = timeside::server::start(config(dir.path())).await.expect("start");
    let started = std::time::Instant::now();
    let addr = server.addr;
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // Listeners in each format, gathered or low-latency (every encoder write at once), with or
    // without the burst of recent audio, all at once: valid streams, the source's level, about
    // as long as listened.
    let lanes = [
        ("mp3", ""),
        ("opus", ""),
        ("mp3", "?latency=low"),
        ("opus", "?latency=low"),
        ("mp3", "?latency=low&burst=off"),
        ("opus", "?burst=off"),
    ];
    let heard = futures_util::future::join_all(lanes.map(|(ext, query)| async move {
        get(addr, &format!("/live/tone.{ext}{query}"), Duration::from_secs(3)).await
    }))
    .await;
    for ((ext, query), (head, body)) in lanes.into_iter().zip(heard) {
        assert!(head.starts_with("http/1.0 200") || head.starts_with("http/1.1 200"), "{head}");
        let ctype = if ext == "mp3" { "content-type: audio/mpeg" } else { "content-type: audio/ogg" };
        assert!(head.contains(ctype), "{head}");
        assert!(head.contains("access-control-allow-origin: *"), "{head}");
        let (seconds, peak) = tokio::task::spawn_blocking(move || decode_level(&body, ext)).await.expect("decode");
        // 3 s listened, plus a burst of at most what the channel had produced before.
        let age = started.elapsed().as_secs_f64();
        assert!(seconds >= 2.5 && seconds <= age + 0.5, "{ext}{query}: {seconds} s received, channel age {age} s");
        // Without the burst, only what was played while listening (the channel had played
        // 1.5 s before: a burst would have added that).
        if query.contains("burst=off") {
            assert!(seconds <= 3.25, "{ext}{query}: {seconds} s received in 3 s");
        } else {
            assert!(seconds >= 2.8, "{ext}{query}: {seconds} s received, channel age {age} s");
        }
        assert!((peak + 20.0).abs() < 0.5, "{ext}{query}: peak {peak} dBFS, the source is -20 dBFS");
    }
    for (query, named) in [("latency=fast", "latency=`fast`"), ("burst=no", "burst=`no`")] {
        let (head, body) = get(addr, &format!("/live/tone.mp3?{query}"), Duration::from_secs(2)).await;
        assert!(head.contains(" 400"), "{head}");
        assert!(String::from_utf8_lossy(&body).contains(named), "{}", String::from_utf8_lossy(&body));
    }

    // Errors: JSON bodies with stable codes.
    let (head, body) = get(addr, "/live/nope.mp3", Duration::from_secs(2)).await;
    assert!(head.contains(" 404"), "{head}");
    assert!(String::from_utf8_lossy(&body).contains("unknown_channel"));
    let (head, body) = get(addr, "/live/tone.flac", Duration::from_secs(2)).await;
    assert!(head.contains(" 404") && String::from_utf8_lossy(&body).contains("unknown_format"), "{head}");

    // WebSocket: level events that match the source, stamped with advancing stream time.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/ws")).await.expect("ws");
    ws.send(Message::text(r#"{"op":"subscribe","topic":"live:nowhere"}"#)).await.expect("send");
    ws.send(Message::text(r#"{"op":"subscribe","topic":"live:tone"}"#)).await.expect("send");
    ws.send(Message::text(r#"{"op":"subscribe","topic":"live:flaky"}"#)).await.expect("send");
    let mut levels = Vec::new();
    let mut saw = std::collections::HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
    while tokio::time::Instant::now() < deadline && (levels.len() < 10 || !saw.contains("source_connected again")) {
        let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, ws.next()).await else { break };
        let v: serde_json::Value = serde_json::from_str(msg.to_text().expect("text")).expect("json");
        for key in ["topic", "event", "stream_time", "wall_time"] {
            assert!(v.get(key).is_some(), "{key} missing in {v}");
        }
        let (topic, event) = (v["topic"].as_str().unwrap_or(""), v["event"].as_str().unwrap_or(""));
        match (topic, event) {
            ("live:tone", "level") => levels.push(v.clone()),
            ("live:tone", "loudness") if v["short_term_lufs"].as_f64().is_some_and(|l| l > -100.0) => {
                // A -20 dBFS 1 kHz sine on both channels: -20 LUFS (K-weighting is ~0 dB at 1 kHz).
                let m = v["momentary_lufs"].as_f64().expect("momentary");
                let s = v["short_term_lufs"].as_f64().expect("short-term");
                assert!((m + 20.0).abs() < 0.2 && (s + 20.0).abs() < 0.2, "{v}");
                saw.insert("loudness");
            }
            ("live:tone", "spectrum") => {
                // The 1 kHz, -20 dBFS tone is in the loudest band, at its level.
                let mags: Vec<f64> =
                    v["magnitude_dbfs"].as_array().expect("mags").iter().filter_map(|x| x.as_f64()).collect();
                let centers: Vec<f64> =
                    v["bands_hz"].as_array().expect("bands").iter().filter_map(|x| x.as_f64()).collect();
                let loudest = mags.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).expect("bands").0;
                assert!((800.0..1250.0).contains(&centers[loudest]), "{}", centers[loudest]);
                assert!((mags[loudest] + 20.0).abs() < 1.5, "{}", mags[loudest]);
                saw.insert("spectrum");
            }
            ("live:flaky", "source_disconnected") => {
                saw.insert("source_disconnected");
            }
            ("live:flaky", "source_connected") if saw.contains("source_disconnected") => {
                saw.insert("source_connected again");
            }
            ("live:nowhere", "error") => {
                saw.insert("unknown topic error");
            }
            _ => {}
        }
    }
    assert!(saw.contains("unknown topic error"), "{saw:?}");
    assert!(saw.contains("spectrum"), "{saw:?}");
    assert!(saw.contains("loudness"), "{saw:?}");
    assert!(levels.len() >= 10, "{} level events", levels.len());
    for e in &levels {
        for c in 0..2 {
            let peak = e["peak_dbfs"][c].as_f64().expect("peak");
            let rms = e["rms_dbfs"][c].as_f64().expect("rms");
            assert!((peak + 20.0).abs() < 0.05, "peak {peak}");
            assert!((rms + 23.01).abs() < 0.05, "rms {rms}");
        }
        let wall = e["wall_time"].as_f64().expect("wall");
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_secs_f64();
        assert!((now - wall).abs() < 10.0);
    }
    let times: Vec<f64> = levels.iter().map(|e| e["stream_time"].as_f64().expect("t")).collect();
    assert!(times.windows(2).all(|w| w[1] > w[0]), "stream_time advances: {times:?}");
    // Ten events a second: stream time moves at the pace of the audio.
    let per_event = (times[times.len() - 1] - times[0]) / (times.len() - 1) as f64;
    assert!((per_event - 0.1).abs() < 0.02, "{per_event} s between events");
    // The flaky source ended, the channel kept going on silence and got the source back.
    assert!(saw.contains("source_connected again"), "{saw:?}");

    let status: serde_json::Value = {
        let (_, body) = get(addr, "/api/v1/live", Duration::from_secs(2)).await;
        serde_json::from_slice(&body).expect("status json")
    };
    let tone =
        status["channels"].as_array().expect("channels").iter().find(|c| c["id"] == "tone").expect("tone").clone();
    assert!(tone["mounts"][0]["listeners_total"].as_u64().expect("total") >= 1);
    assert!(tone["mounts"][0]["bytes_sent"].as_u64().expect("bytes") > 10_000);

    // Shutdown: a connected listener gets the end of its stream, and nothing hangs.
    let listener = tokio::spawn(async move { get(addr, "/live/tone.mp3", Duration::from_secs(20)).await });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stopping = std::time::Instant::now();
    tokio::time::timeout(Duration::from_secs(15), server.shutdown()).await.expect("shutdown in time");
    let (_, body) =
        tokio::time::timeout(Duration::from_secs(5), listener).await.expect("listener ended").expect("join");
    assert!(!body.is_empty());
    assert!(stopping.elapsed() < Duration::from_secs(15));
}

fn config_small_queue(dir: &std::path::Path) -> Config {
    load_config(
        dir,
        "",
        r#"
[live]
queue_chunks = 8
chunk_bytes = 1024
burst_bytes = 0
send_buffer_bytes = 8192
[[channels]]
id = "fast"
name = "Fast 'n' loud"
source = "launch:audiotestsrc is-live=true wave=white-noise volume=0.3"
formats = ["mp3"]
mp3_bitrate_kbps = 320
max_listeners = 3
"#,
    )
}

async fn get_text(addr: std::net::SocketAddr, path: &str) -> (String, String) {
    let (head, body) = get(addr, path, Duration::from_secs(3)).await;
    (head, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn icy_metadata_monitoring_limits_and_slow_listeners() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = timeside::server::start(config_small_queue(dir.path())).await.expect("start");
    let addr = server.addr;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // A slow listener: tiny receive buffer, reads nothing for 4 s.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let mut slow = socket.connect(addr).await.expect("connect");
    slow.write_all(b"GET /live/fast.mp3 HTTP/1.0\r\n\r\n").await.expect("send");

    // Meanwhile a normal listener with ICY metadata gets the full rate.
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /live/fast.mp3 HTTP/1.0\r\nIcy-MetaData: 1\r\n\r\n").await.expect("send");
    let mut data = Vec::new();
    let start = tokio::time::Instant::now();
    let mut buf = vec![0u8; 65536];
    while start.elapsed() < Duration::from_secs(4) {
        match tokio::time::timeout(Duration::from_millis(200), s.read(&mut buf)).await {
            Ok(Ok(0)) => break,
            Ok(Ok(n)) => data.extend_from_slice(&buf[..n]),
            _ => {}
        }
    }
    let split = data.windows(4).position(|w| w == b"\r\n\r\n").expect("headers") + 4;
    let head = String::from_utf8_lossy(&data[..split]).to_lowercase();
    assert!(head.contains("icy-metaint: 16000"), "{head}");
    let (audio, titles) = timeside::live::icy::strip(&data[split..]);
    assert_eq!(titles.first().map(String::as_str), Some("StreamTitle='Fast ’n’ loud';"), "{titles:?}");
    // 320 kbit/s for about 4 s (no burst): the normal listener kept the full rate.
    let rate = audio.len() as f64 * 8.0 / 4.0 / 1000.0;
    assert!(rate > 0.9 * 320.0, "normal listener got {rate} kbit/s");
    let (_, decoded_peak) = tokio::task::spawn_blocking(move || decode_level(&audio, "mp3")).await.expect("decode");
    assert!(decoded_peak > -20.0, "{decoded_peak}");

    // The slow listener reads again: it resumes at the oldest kept audio, past what it missed
    // (a skip is counted when the lagging listener is served again).
    let mut resumed = 0;
    let until = tokio::time::Instant::now() + Duration::from_secs(1);
    while let Ok(Ok(n)) = tokio::time::timeout_at(until, slow.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        resumed += n;
    }
    assert!(resumed > 0);
    let (_, status) = get_text(addr, "/api/v1/live").await;
    let v: serde_json::Value = serde_json::from_str(&status).expect("json");
    let skipped = v["channels"][0]["mounts"][0]["chunks_skipped"].as_u64().expect("skipped");
    assert!(skipped > 0, "the slow listener must have been skipped forward: {status}");
    drop(slow);
    drop(s);
    // The server notices a closed connection at its next write (a chunk every ~25 ms here).
    for _ in 0..50 {
        let (_, status) = get_text(addr, "/api/v1/live").await;
        let v: serde_json::Value = serde_json::from_str(&status).expect("json");
        if v["channels"][0]["mounts"][0]["listeners"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Listener limit: 3 per format.
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut c = tokio::net::TcpStream::connect(addr).await.expect("connect");
        c.write_all(b"GET /live/fast.mp3 HTTP/1.0\r\n\r\n").await.expect("send");
        let mut first = [0u8; 12];
        c.read_exact(&mut first).await.expect("response");
        assert_eq!(&first, b"HTTP/1.0 200", "within the limit");
        held.push(c);
    }
    let (head, body) = get_text(addr, "/live/fast.mp3").await;
    assert!(head.contains(" 503") && body.contains("too_many_listeners"), "{head} {body}");
    drop(held);

    // Monitoring endpoints.
    let (_, icecast) = get_text(addr, "/status-json.xsl").await;
    let v: serde_json::Value = serde_json::from_str(&icecast).expect("json");
    assert_eq!(v["icestats"]["source"]["bitrate"], 320);
    assert!(v["icestats"]["source"]["listenurl"].as_str().expect("url").ends_with("/live/fast.mp3"));
    let (head, metrics) = get_text(addr, "/metrics").await;
    assert!(head.contains("text/plain"), "{head}");
    for line in [
        "timeside_listeners{channel=\"fast\",format=\"mp3\"}",
        "timeside_bytes_sent_total",
        "timeside_source_connected{channel=\"fast\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    // CORS preflight for players that send Icy-MetaData from a page.
    let mut c = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let preflight = "OPTIONS /live/fast.mp3 HTTP/1.0\r\nOrigin: http://example.invalid\r\n\
                     Access-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: icy-metadata\r\n\r\n";
    c.write_all(preflight.as_bytes()).await.expect("send");
    let mut resp = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), c.read_to_end(&mut resp)).await;
    let resp = String::from_utf8_lossy(&resp).to_lowercase();
    let allowed = resp.lines().find(|l| l.starts_with("access-control-allow-headers:")).unwrap_or_default();
    assert!(resp.contains(" 204") && allowed.contains("icy-metadata"), "{resp}");
    assert!(resp.contains("access-control-allow-origin: *"), "{resp}");

    tokio::time::timeout(Duration::from_secs(15), server.shutdown()).await.expect("shutdown");
}

/// A listener's connection is served apart from hyper (`server/listeners.rs`): Icecast's
/// framing (the stream runs until the connection ends: no chunked encoding, `Connection:
/// close`), the head may come in pieces within its time, and a head that is too large or not
/// HTTP gets an error, as the routes answer everything else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listeners_connection_has_icecasts_framing_and_a_bounded_head() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = timeside::server::start(config(dir.path())).await.expect("start");
    let addr = server.addr;
    tokio::time::sleep(Duration::from_millis(1000)).await;

    // An HTTP/1.1 head sent in three pieces.
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    for piece in ["GET /live/tone.mp3 HT", "TP/1.1\r\nHost: localhost\r\nUser-", "Agent: test\r\n\r\n"] {
        s.write_all(piece.as_bytes()).await.expect("send");
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    let mut data = Vec::new();
    let mut buf = vec![0u8; 65536];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
        if n == 0 {
            break;
        }
        data.extend_from_slice(&buf[..n]);
    }
    let split = data.windows(4).position(|w| w == b"\r\n\r\n").expect("headers") + 4;
    let head = String::from_utf8_lossy(&data[..split]).to_lowercase();
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
    for line in ["content-type: audio/mpeg", "connection: close", "x-content-type-options: nosniff", "date: "] {
        assert!(head.contains(line), "{line} missing: {head}");
    }
    assert!(!head.contains("transfer-encoding") && !head.contains("content-length"), "{head}");
    let body = data[split..].to_vec();
    let (seconds, peak) = tokio::task::spawn_blocking(move || decode_level(&body, "mp3")).await.expect("decode");
    assert!(seconds > 1.5, "{seconds} s of audio in 2 s with the burst");
    assert!((peak + 20.0).abs() < 0.5, "peak {peak} dBFS, the source is -20 dBFS");
    drop(s);

    // An HTTP/1.0 request gets an HTTP/1.0 reply; errors are the routes' JSON, with their length.
    let (status, _) = raw_status(addr, "GET /live/tone.opus HTTP/1.0\r\n\r\n").await;
    assert_eq!(status, "HTTP/1.0 200 OK");
    let (head, body) = get(addr, "/live/nope.mp3", Duration::from_secs(2)).await;
    assert!(head.starts_with("http/1.0 404"), "{head}");
    assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
    assert!(String::from_utf8_lossy(&body).contains("unknown_channel"));

    // A head over 8 KiB, and one that is not HTTP.
    let big = format!("GET /live/tone.mp3 HTTP/1.1\r\nX-Padding: {}\r\n\r\n", "a".repeat(9000));
    let (status, _) = raw_status(addr, &big).await;
    assert_eq!(status, "HTTP/1.1 431 Request Header Fields Too Large");
    let (status, _) = raw_status(addr, "GET /live/tone.mp3 HTTP/1.1\r\nno colon here\r\n\r\n").await;
    assert_eq!(status, "HTTP/1.1 400 Bad Request");

    // Listeners that went away are no longer counted (noticed at the next write).
    let mut counted = u64::MAX;
    for _ in 0..50 {
        let (_, status) = get_text(addr, "/api/v1/live").await;
        let v: serde_json::Value = serde_json::from_str(&status).expect("json");
        let tone = v["channels"].as_array().and_then(|c| c.iter().find(|c| c["id"] == "tone")).cloned();
        counted = tone.map_or(0, |t| {
            t["mounts"].as_array().map_or(0, |m| m.iter().filter_map(|m| m["listeners"].as_u64()).sum())
        });
        if counted == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(counted, 0, "listeners still counted after they left");
    tokio::time::timeout(Duration::from_secs(15), server.shutdown()).await.expect("shutdown");
}

/// Sends a raw request head and returns the status line of the reply.
pub(crate) async fn raw_status(addr: std::net::SocketAddr, head: &str) -> (String, tokio::net::TcpStream) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(head.as_bytes()).await.expect("send");
    let mut reply = Vec::new();
    let mut byte = [0u8; 1];
    while !reply.ends_with(b"\r\n") {
        match tokio::time::timeout(Duration::from_secs(5), s.read(&mut byte)).await {
            Ok(Ok(1)) => reply.push(byte[0]),
            _ => break,
        }
    }
    (String::from_utf8_lossy(&reply).trim().to_string(), s)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn icecast_source_clients_push_to_mounts() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = load_config(
        dir.path(),
        "source_password = \"secret\"",
        "[[channels]]\nid = \"studio\"\nsource = \"push\"\nformats = [\"mp3\", \"opus\"]\n\
         [[channels]]\nid = \"tone\"\nsource = \"launch:audiotestsrc is-live=true\"\nformats = [\"mp3\"]\n",
    );
    let server = timeside::server::start(config).await.expect("start");
    let addr = server.addr;

    // Auth and conflicts, as Icecast answers them. "source:secret" / "source:nope" in base64.
    let good = "Authorization: Basic c291cmNlOnNlY3JldA==\r\n";
    let bad = "Authorization: Basic c291cmNlOm5vcGU=\r\n";
    let (status, _) = raw_status(addr, &format!("PUT /studio HTTP/1.1\r\n{bad}\r\n")).await;
    assert!(status.contains(" 401"), "{status}");
    let (status, _) = raw_status(addr, "SOURCE /studio HTTP/1.0\r\n\r\n").await;
    assert!(status.contains(" 401"), "{status}");
    let (status, _) = raw_status(addr, &format!("PUT /tone HTTP/1.1\r\n{good}\r\n")).await;
    assert!(status.contains(" 409"), "a configured source is not replaced: {status}");
    let (status, holder) = raw_status(addr, &format!("SOURCE /studio HTTP/1.0\r\n{good}\r\n")).await;
    assert!(status.contains(" 200"), "{status}");
    let (status, _) = raw_status(addr, &format!("PUT /studio HTTP/1.1\r\n{good}\r\n")).await;
    assert!(status.contains(" 409"), "one source per mount: {status}");
    drop(holder);
    tokio::time::sleep(Duration::from_millis(300)).await;

    // ffmpeg as the source client, to a mount that does not exist yet: it is created.
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/ws")).await.expect("ws");
    let mut ffmpeg = tokio::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=1000:sample_rate=44100:duration=6,pan=stereo|c0=c0|c1=c0",
        ])
        .args(["-c:a", "libmp3lame", "-b:a", "128k", "-content_type", "audio/mpeg", "-f", "mp3"])
        .arg(format!("icecast://source:secret@{addr}/pushed"))
        .kill_on_drop(true)
        .spawn()
        .expect("ffmpeg (apt install ffmpeg)");
    // Wait for the mount to appear, then listen and subscribe.
    let mut created = false;
    for _ in 0..50 {
        let (_, body) = get(addr, "/api/v1/live", Duration::from_secs(2)).await;
        if String::from_utf8_lossy(&body).contains("\"pushed\"") {
            created = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(created, "the mount was not created");
    ws.send(Message::text(r#"{"op":"subscribe","topic":"live:pushed"}"#)).await.expect("send");
    let listener = tokio::spawn(async move { get(addr, "/live/pushed.opus", Duration::from_secs(3)).await });
    let relayed = tokio::spawn(async move { get(addr, "/live/pushed.mp3?latency=low", Duration::from_secs(3)).await });
    let mut peaks = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
    while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, ws.next()).await {
        let v: serde_json::Value = serde_json::from_str(msg.to_text().expect("text")).expect("json");
        if v["event"] == "level" {
            let p = v["peak_dbfs"][0].as_f64().expect("peak");
            if p > -100.0 {
                peaks.push(p);
            }
        }
    }
    // lavfi's sine has amplitude 1/8 (-18.06 dBFS); one MP3 generation by ffmpeg before us.
    assert!(peaks.len() >= 10, "{peaks:?}");
    let median = {
        let mut p = peaks.clone();
        p.sort_by(f64::total_cmp);
        p[p.len() / 2]
    };
    assert!((median + 18.06).abs() < 0.5, "peak {median} dBFS, the source is -18.06");
    // ffmpeg sends 128 kbit/s 44.1 kHz stereo MP3, the mp3 mount's format: relayed as it is.
    let (_, status) = get(addr, "/api/v1/live/pushed", Duration::from_secs(2)).await;
    let status: serde_json::Value = serde_json::from_slice(&status).expect("status");
    assert_eq!(status["mounts"][0]["format"], "mp3");
    assert_eq!(status["mounts"][0]["passthrough"], true, "{status}");
    assert_eq!(status["mounts"][1]["passthrough"], false, "{status}");
    let (head, body) = listener.await.expect("join");
    assert!(head.contains(" 200") && head.contains("audio/ogg"), "{head}");
    let (seconds, _) = tokio::task::spawn_blocking(move || decode_level(&body, "opus")).await.expect("decode");
    // A decodable stream carrying audio (how much of the 3 s depends on the machine's load while
    // the new channel starts).
    assert!(seconds > 1.5, "{seconds}");
    let (head, body) = relayed.await.expect("join");
    assert!(head.contains(" 200") && head.contains("audio/mpeg"), "{head}");
    let (seconds, peak) = tokio::task::spawn_blocking(move || decode_level(&body, "mp3")).await.expect("decode");
    assert!(seconds > 1.5 && (peak + 18.06).abs() < 0.5, "{seconds} s at {peak} dBFS");
    let _ = tokio::time::timeout(Duration::from_secs(10), ffmpeg.wait()).await;

    // The source left: listeners stay on silence, subscribers are told.
    let mut disconnected = false;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, ws.next()).await {
        if msg.to_text().unwrap_or("").contains("source_disconnected") {
            disconnected = true;
            break;
        }
    }
    assert!(disconnected);
    // Listeners are back on the encoder's frames (silence).
    let (_, status) = get(addr, "/api/v1/live/pushed", Duration::from_secs(2)).await;
    let status: serde_json::Value = serde_json::from_slice(&status).expect("status");
    assert_eq!(status["mounts"][0]["passthrough"], false, "{status}");
    tokio::time::timeout(Duration::from_secs(15), server.shutdown()).await.expect("shutdown");
}

/// An HTTP/1.0 request with an optional bearer token and JSON body; returns (status, body).
pub(crate) async fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let req = format!(
        "{method} {path} HTTP/1.0\r\n{auth}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    s.write_all(req.as_bytes()).await.expect("send");
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_are_created_and_deleted_through_the_api() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut config = load_config(dir.path(), "api_token = \"t0k3n\"", "[live]\napi_launch_sources = true\n");
    config.channels.clear();
    let server = timeside::server::start(config).await.expect("start");
    let addr = server.addr;
    let new = r#"{"id": "studio-b", "name": "Studio B", "source": "launch:audiotestsrc is-live=true volume=0.1", "formats": ["mp3"]}"#;

    assert_eq!(request(addr, "POST", "/api/v1/live", None, new).await.0, 401);
    assert_eq!(request(addr, "POST", "/api/v1/live", Some("wrong"), new).await.0, 401);
    let (status, body) =
        request(addr, "POST", "/api/v1/live", Some("t0k3n"), r#"{"id": "a b", "source": "", "formats": ["wma"]}"#)
            .await;
    assert_eq!(status, 400);
    for problem in ["id:", "source:", "`wma`"] {
        assert!(body.contains(problem), "{problem} missing: {body}");
    }
    let (status, body) =
        request(addr, "POST", "/api/v1/live", Some("t0k3n"), r#"{"id": "x", "source": "demo", "colour": 1}"#).await;
    assert!(status == 400 && body.contains("colour"), "{status} {body}");
    let (status, body) = request(addr, "POST", "/api/v1/live", Some("t0k3n"), new).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(request(addr, "POST", "/api/v1/live", Some("t0k3n"), new).await.0, 409);
    let (status, body) = request(addr, "GET", "/api/v1/live/studio-b", None, "").await;
    assert!(status == 200 && body.contains("Studio B"), "{status} {body}");

    // It streams; deleting it ends its listeners' streams.
    let listener = tokio::spawn(async move { get(addr, "/live/studio-b.mp3", Duration::from_secs(20)).await });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let started = std::time::Instant::now();
    assert_eq!(request(addr, "DELETE", "/api/v1/live/studio-b", None, "").await.0, 401);
    assert_eq!(request(addr, "DELETE", "/api/v1/live/studio-b", Some("t0k3n"), "").await.0, 200);
    let (head, body) =
        tokio::time::timeout(Duration::from_secs(10), listener).await.expect("stream ended").expect("join");
    assert!(head.contains(" 200") && !body.is_empty());
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(request(addr, "GET", "/api/v1/live/studio-b", None, "").await.0, 404);
    assert_eq!(request(addr, "DELETE", "/api/v1/live/studio-b", Some("t0k3n"), "").await.0, 404);
    let big = format!("{{\"id\": \"{}\"}}", "x".repeat(70_000));
    assert_eq!(request(addr, "POST", "/api/v1/live", Some("t0k3n"), &big).await.0, 413);
    tokio::time::timeout(Duration::from_secs(15), server.shutdown()).await.expect("shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alarms_and_now_playing_metadata() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = load_config(
        dir.path(),
        "source_password = \"secret\"",
        "[live]\ndead_air_seconds = 1.0\n\
         [[channels]]\nid = \"quiet\"\nsource = \"launch:audiotestsrc is-live=true wave=silence\"\nformats = [\"mp3\"]\n\
         [[channels]]\nid = \"hot\"\nsource = \"launch:audiotestsrc is-live=true wave=square volume=1.0\"\nformats = [\"mp3\"]\n",
    );
    let server = timeside::server::start(config).await.expect("start");
    let addr = server.addr;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/ws")).await.expect("ws");
    for topic in ["live:quiet", "live:hot"] {
        ws.send(Message::text(format!(r#"{{"op":"subscribe","topic":"{topic}"}}"#))).await.expect("send");
    }
    // Now playing: Icecast's metadata update, with the source password.
    let (status, _) =
        request(addr, "GET", "/admin/metadata?mount=/hot&mode=updinfo&song=Second%20Song", None, "").await;
    assert_eq!(status, 401);
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /admin/metadata?mount=/hot&mode=updinfo&song=Second%20Song HTTP/1.0\r\nAuthorization: Basic c291cmNlOnNlY3JldA==\r\n\r\n")
        .await
        .expect("send");
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut reply)).await;
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.contains(" 200") && reply.contains("<return>1</return>"), "{reply}");

    let mut seen = std::collections::HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(6);
    while seen.len() < 3 {
        let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, ws.next()).await else { break };
        let v: serde_json::Value = serde_json::from_str(msg.to_text().expect("text")).expect("json");
        match (v["topic"].as_str().unwrap_or(""), v["event"].as_str().unwrap_or("")) {
            // Dead air: the `silence` analyzer's event, sent once the run lasted
            // dead_air_seconds, timed at its start.
            ("live:quiet", "silence_start") => {
                assert_eq!(v["analyzer"], "silence", "{v}");
                assert!(v["start"].as_f64().is_some_and(|s| s >= 0.0), "{v}");
                seen.insert("silence");
            }
            // One field set per event name, whoever sends it (the review found two for
            // `clipping` and `loudness`: the channel's meter and the analyzer's).
            (_, "clipping") => {
                assert_eq!(v["analyzer"], "clipping", "{v}");
                assert!(v["samples"].as_u64().is_some_and(|n| n > 0) && v["channel"].as_u64().is_some(), "{v}");
                assert!(v.get("clipped_samples").is_none(), "{v}");
                seen.insert("clipping");
            }
            (_, "loudness") => {
                for key in ["momentary_lufs", "short_term_lufs", "true_peak_dbtp"] {
                    assert!(v[key].as_f64().is_some(), "{key} missing: {v}");
                }
            }
            ("live:hot", "metadata") => {
                assert_eq!(v["title"], "Second Song");
                seen.insert("metadata");
            }
            _ => {}
        }
    }
    // The metadata event may have gone out before the subscription: the status says it anyway.
    let (_, status) = request(addr, "GET", "/api/v1/live/hot", None, "").await;
    assert!(status.contains("Second Song"), "{status}");
    seen.insert("metadata");
    assert!(seen.contains("silence") && seen.contains("clipping"), "{seen:?}");

    // ICY listeners get the new title.
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(b"GET /live/hot.mp3 HTTP/1.0\r\nIcy-MetaData: 1\r\n\r\n").await.expect("send");
    let mut data = Vec::new();
    let mut buf = vec![0u8; 65536];
    let until = tokio::time::Instant::now() + Duration::from_secs(4);
    while data.len() < 40_000 {
        match tokio::time::timeout_at(until, s.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => data.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    let split = data.windows(4).position(|w| w == b"\r\n\r\n").expect("headers") + 4;
    let (_, titles) = timeside::live::icy::strip(&data[split..]);
    assert_eq!(titles.first().map(String::as_str), Some("StreamTitle='Second Song';"), "{titles:?}");
    tokio::time::timeout(Duration::from_secs(15), server.shutdown()).await.expect("shutdown");
}

/// Analyzers on a channel send their events on its topic, stamped with the stream time of the
/// audio they describe: onsets of a tick every 0.5 s, the pitch of a 440 Hz sine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_analyzer_events_onsets_and_pitch() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = load_config(
        dir.path(),
        "",
        "[[channels]]\nid = \"ticks\"\nsource = \"launch:audiotestsrc is-live=true wave=ticks tick-interval=500000000 freq=2000 volume=0.5\"\n\
         formats = [\"mp3\"]\nanalyzers = [\"onsets\"]\n\
         [[channels]]\nid = \"a440\"\nsource = \"launch:audiotestsrc is-live=true freq=440 volume=0.3\"\nformats = [\"mp3\"]\nanalyzers = [\"pitch\"]\n",
    );
    let server = timeside::server::start(config).await.expect("start");
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/v1/ws", server.addr)).await.expect("ws");
    for topic in ["live:ticks", "live:a440"] {
        ws.send(Message::text(format!(r#"{{"op":"subscribe","topic":"{topic}"}}"#))).await.expect("send");
    }
    let (mut onsets, mut pitches) = (Vec::new(), Vec::new());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while onsets.len() < 6 || pitches.len() < 10 {
        let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, ws.next()).await else { break };
        let v: serde_json::Value = serde_json::from_str(msg.to_text().expect("text")).expect("json");
        match (v["topic"].as_str().unwrap_or(""), v["event"].as_str().unwrap_or("")) {
            ("live:ticks", "onset") => {
                assert_eq!(v["analyzer"], "onsets");
                onsets.push(v["stream_time"].as_f64().expect("stream_time"));
            }
            ("live:a440", "pitch") => {
                assert_eq!(v["analyzer"], "pitch");
                assert!(v["wall_time"].as_f64().is_some());
                pitches.push((v["stream_time"].as_f64().expect("time"), v["frequency_hz"].as_f64().expect("f0")));
            }
            _ => {}
        }
    }
    assert!(onsets.len() >= 6, "onsets {onsets:?}");
    // Ticks every 0.5 s: onsets a whole number of ticks apart (within 20 ms), in stream time.
    // A live source starved of CPU (the whole suite runs at once on two cores) is filled with
    // silence after 0.25 s, by design: its ticks are missing, not moved; most are there.
    let gaps: Vec<f64> = onsets.windows(2).map(|p| p[1] - p[0]).collect();
    for gap in &gaps {
        let ticks = (gap / 0.5).round();
        assert!(ticks >= 1.0 && (gap - ticks * 0.5).abs() < 0.02, "{onsets:?}");
    }
    assert!(gaps.iter().filter(|g| (**g - 0.5).abs() < 0.02).count() >= 4, "{onsets:?}");
    assert!(pitches.len() >= 10, "pitch events {pitches:?}");
    for (_, f0) in &pitches[2..] {
        assert!((f0 / 440.0 - 1.0).abs() < 0.01, "{pitches:?}");
    }
    assert!(pitches.windows(2).all(|p| p[1].0 > p[0].0), "stream time advances: {pitches:?}");
    tokio::time::timeout(Duration::from_secs(15), server.shutdown()).await.expect("shutdown");
}

/// While a channel's source is down, its listeners hear its fallback channel instead of
/// silence; its own source plays again when it comes back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_falls_back_on_another_while_its_source_is_down() {
    let dir = tempfile::tempdir().expect("tmp");
    // `main` plays a -20 dBFS tone for 1 s, then its source ends (and is retried every 2 s);
    // `backup` plays a -6 dBFS tone.
    let config = load_config(
        dir.path(),
        "",
        "[[channels]]\nid = \"main\"\nsource = \"launch:audiotestsrc is-live=true num-buffers=44 freq=1000 volume=0.1\"\n\
         formats = [\"mp3\"]\nanalyzers = []\nfallback = \"backup\"\n\
         [[channels]]\nid = \"backup\"\nsource = \"launch:audiotestsrc is-live=true freq=440 volume=0.5\"\nformats = [\"mp3\"]\nanalyzers = []\n",
    );
    let server = timeside::server::start(config).await.expect("start");
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/api/v1/ws", server.addr)).await.expect("ws");
    ws.send(Message::text(r#"{"op":"subscribe","topic":"live:main"}"#)).await.expect("send");
    let (mut own, mut fallback, mut silent) = (0, 0, 0);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while own < 3 || fallback < 3 {
        let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, ws.next()).await else { break };
        let v: serde_json::Value = serde_json::from_str(msg.to_text().expect("text")).expect("json");
        if v["event"] == "level" {
            let peak = v["peak_dbfs"][0].as_f64().expect("peak");
            match peak {
                p if (p + 20.0).abs() < 1.0 => own += 1,
                p if (p + 6.0).abs() < 1.0 => fallback += 1,
                p if p < -100.0 => silent += 1,
                _ => {}
            }
        }
    }
    assert!(fallback >= 3, "no fallback audio: own {own}, fallback {fallback}, silent {silent}");
    assert!(own >= 3, "the channel's own source: own {own}, fallback {fallback}");
    // Silence only at the switch-over at most (the fallback is looked up when the source drops).
    assert!(silent <= 3, "{silent} silent periods");
    tokio::time::timeout(Duration::from_secs(15), server.shutdown()).await.expect("shutdown");
}

/// With `source_down_timeout_s`, listeners of a channel whose source stays down are let go
/// after that long (their stream ends), and new ones are refused with 503 meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listeners_are_let_go_when_the_source_stays_down() {
    let dir = tempfile::tempdir().expect("tmp");
    // The source plays 1 s, then is down until it is retried 2 s later.
    let config = load_config(
        dir.path(),
        "",
        "[live]\nsource_down_timeout_s = 0.5\n\
         [[channels]]\nid = \"brief\"\nsource = \"launch:audiotestsrc is-live=true num-buffers=44\"\nformats = [\"mp3\"]\nanalyzers = []\n",
    );
    let server = timeside::server::start(config).await.expect("start");
    let started = std::time::Instant::now();
    let (head, body) = get(server.addr, "/live/brief.mp3", Duration::from_secs(8)).await;
    assert!(head.contains(" 200"), "{head}");
    let lasted = started.elapsed();
    assert!(lasted < Duration::from_secs(6), "the stream should end about 0.5 s after the source, lasted {lasted:?}");
    assert!(body.len() > 8000, "the second of audio before the source ended: {} bytes", body.len());
    // The source is retried 2 s after it was lost: until then new listeners are refused.
    let (head, body) = get(server.addr, "/live/brief.mp3", Duration::from_millis(300)).await;
    assert!(head.contains(" 503"), "{head}");
    assert!(String::from_utf8_lossy(&body).contains("source_unavailable"));
    tokio::time::timeout(Duration::from_secs(15), server.shutdown()).await.expect("shutdown");
}

/// Liquidsoap's `output.icecast` (legacy SOURCE method) pushes MP3 and Ogg/Opus to mounts
/// that do not exist yet: they are created, and listeners get the audio in both formats (the
/// MP3 relayed as it is).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liquidsoap_pushes_mp3_and_ogg_opus() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = load_config(dir.path(), "source_password = \"secret\"", "");
    let server = timeside::server::start(config).await.expect("start");
    let port = server.addr.port();
    let script = dir.path().join("push.liq");
    std::fs::write(
        &script,
        format!(
            "settings.init.allow_root.set(true)\n\
             s = sine(amplitude=0.1, 1000.)\n\
             output.icecast(%mp3(bitrate=128), host=\"127.0.0.1\", port={port}, password=\"secret\", mount=\"lqmp3\", s)\n\
             output.icecast(%ogg(%opus(bitrate=96)), host=\"127.0.0.1\", port={port}, password=\"secret\", mount=\"lqogg\", s)\n"
        ),
    )
    .expect("script");
    let _liquidsoap = tokio::process::Command::new("liquidsoap")
        .arg(&script)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("liquidsoap (scripts/install-deps.sh installs it)");
    // Liquidsoap takes a few seconds to start.
    let mut created = false;
    for _ in 0..100 {
        let (_, body) = get(server.addr, "/api/v1/live", Duration::from_secs(2)).await;
        let text = String::from_utf8_lossy(&body).into_owned();
        if text.contains("\"lqmp3\"") && text.contains("\"lqogg\"") {
            created = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(created, "liquidsoap's mounts were not created");
    // Let a second of audio in, then listen to each source in the other format too.
    tokio::time::sleep(Duration::from_secs(1)).await;
    // Liquidsoap's MP3 (128 kbit/s, 44.1 kHz stereo) is relayed as it is; its Ogg is not MP3.
    for (id, relayed) in [("lqmp3", true), ("lqogg", false)] {
        let (_, status) = get(server.addr, &format!("/api/v1/live/{id}"), Duration::from_secs(2)).await;
        let status: serde_json::Value = serde_json::from_slice(&status).expect("status");
        assert_eq!(status["mounts"][0]["passthrough"], relayed, "{status}");
    }
    let lanes = [
        ("/live/lqmp3.mp3", "mp3"),
        ("/live/lqmp3.opus", "opus"),
        ("/live/lqogg.mp3", "mp3"),
        ("/live/lqogg.opus", "opus"),
    ];
    for (path, ext) in lanes {
        let (head, body) = get(server.addr, path, Duration::from_secs(2)).await;
        assert!(head.contains(" 200"), "{path}: {head}");
        let (seconds, peak) = decode_level(&body, ext);
        assert!(seconds > 1.0, "{path}: {seconds} s of audio in 2 s of listening");
        assert!((peak + 20.0).abs() < 1.5, "{path}: a -20 dBFS sine read {peak} dBFS");
    }
    tokio::time::timeout(Duration::from_secs(15), server.shutdown()).await.expect("shutdown");
}
