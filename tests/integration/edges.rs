//! Live past one machine: an origin and two edges, three `timeside serve` processes on
//! loopback. The edges relay every channel of the origin and follow its removals; listeners on
//! each edge hear the origin's tone, in the origin's own MP3 frames, with its titles; the origin
//! is killed and started again: the edges' channels go on (silence) with their listeners
//! connected, and hear the origin again within seconds.

use crate::common::free_port;
use crate::http;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A `timeside serve` process, killed when dropped.
struct Serve(std::process::Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the binary on `port` with a config of `top` (top-level keys), `server` (keys of the
/// `[server]` table) and `rest` (other tables), and waits until it answers.
async fn serve(dir: &std::path::Path, port: u16, top: &str, server: &str, rest: &str) -> Serve {
    std::fs::create_dir_all(dir).expect("mkdir");
    let file = dir.join("timeside.toml");
    let text = format!("{top}\n[server]\ndata_dir = \"{}\"\n{server}\n{rest}", dir.display());
    std::fs::write(&file, text).expect("config");
    let serve = std::process::Command::new(env!("CARGO_BIN_EXE_timeside"))
        .args(["serve", "--config", file.to_str().expect("path"), "--listen", &format!("127.0.0.1:{port}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(dir.join("serve.log")).expect("log"))
        .spawn()
        .map(Serve)
        .expect("timeside serve");
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return serve;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "timeside serve on {port} did not start: {}",
        std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default()
    );
}

/// A listener that stays connected: what it has received, and whether its stream ended.
struct Listener {
    bytes: Arc<Mutex<Vec<u8>>>,
    ended: Arc<AtomicBool>,
}

fn listen(addr: SocketAddr, path: &str) -> Listener {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (bytes, ended) = (Arc::new(Mutex::new(Vec::new())), Arc::new(AtomicBool::new(false)));
    let (into, end) = (bytes.clone(), ended.clone());
    let head = format!("GET {path} HTTP/1.0\r\n\r\n");
    tokio::spawn(async move {
        if let Ok(mut s) = tokio::net::TcpStream::connect(addr).await {
            let _ = s.write_all(head.as_bytes()).await;
            let mut buf = vec![0u8; 16384];
            // Bounded: the test ends long before.
            for _ in 0..100_000 {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => into.lock().expect("bytes").extend_from_slice(&buf[..n]),
                }
            }
        }
        end.store(true, Ordering::SeqCst);
    });
    Listener { bytes, ended }
}

impl Listener {
    fn len(&self) -> usize {
        self.bytes.lock().expect("bytes").len()
    }

    /// The RMS (dB) of the left channel of the MP3 received since byte `from`.
    fn level_since(&self, from: usize, dir: &std::path::Path) -> f64 {
        let data = self.bytes.lock().expect("bytes")[from..].to_vec();
        let file = dir.join(format!("heard-{from}.mp3"));
        std::fs::write(&file, data).expect("write");
        let out = std::process::Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-i", file.to_str().expect("path"), "-f", "f32le", "-"])
            .output()
            .expect("ffmpeg");
        let left: Vec<f64> =
            out.stdout.chunks_exact(8).map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))).collect();
        assert!(left.len() > 44100, "{} samples decoded", left.len());
        let steady = &left[left.len() / 4..];
        10.0 * (steady.iter().map(|s| s * s).sum::<f64>() / steady.len() as f64).log10()
    }
}

/// Channel ids an edge runs, and whether each one's source is connected.
async fn channels(addr: SocketAddr) -> Vec<(String, bool)> {
    let list = http::get(addr, "/api/v1/live", None).await.json();
    let list = list["channels"].as_array().or(list.as_array()).cloned().unwrap_or_default();
    list.iter()
        .map(|c| (c["id"].as_str().unwrap_or_default().to_string(), c["source_connected"].as_bool().unwrap_or(false)))
        .collect()
}

/// Waits (at most `limit`) until `ok` holds for what `channels` says on every edge.
async fn until_edges(
    edges: &[SocketAddr],
    limit: Duration,
    what: &str,
    ok: impl Fn(&[(String, bool)]) -> bool,
) -> Duration {
    let start = Instant::now();
    loop {
        let mut all = true;
        for e in edges {
            all &= ok(&channels(*e).await);
        }
        if all {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "{what} within {limit:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn connected(list: &[(String, bool)], id: &str) -> Option<bool> {
    list.iter().find(|(c, _)| c == id).map(|(_, up)| *up)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_edges_relay_an_origin_follow_its_changes_and_outlive_its_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let (origin_port, a_port, b_port) = (free_port(), free_port(), free_port());
    let origin_server = "api_token = \"origin-token\"\nsource_password = \"secret\"";
    // 192 kbit/s, not the edges' default: they take the origin's bitrate to relay its frames.
    let origin_channels = "[[channels]]\nid = \"tone\"\nsource = \"launch:audiotestsrc is-live=true freq=440 volume=0.1\"\n\
        formats = [\"mp3\"]\nmp3_bitrate_kbps = 192\nhls = false\nanalyzers = []\n\
        [[channels]]\nid = \"extra\"\nsource = \"launch:audiotestsrc is-live=true wave=silence\"\n\
        formats = [\"mp3\"]\nhls = false\nanalyzers = []\n";
    let edge_live = format!("[live]\nedge_origin = \"http://127.0.0.1:{origin_port}\"\nedge_poll_s = 0.5\n");
    let origin_dir = dir.path().join("origin");
    let mut origin = serve(&origin_dir, origin_port, "", origin_server, origin_channels).await;
    // The edges run no channel of their own: `channels = []` replaces the demo.
    let _a = serve(&dir.path().join("edge-a"), a_port, "channels = []", "", &edge_live).await;
    let _b = serve(&dir.path().join("edge-b"), b_port, "channels = []", "", &edge_live).await;
    let edges: Vec<SocketAddr> = [a_port, b_port].map(|p| ([127, 0, 0, 1], p).into()).to_vec();
    let origin_addr: SocketAddr = ([127, 0, 0, 1], origin_port).into();

    // Both edges relay both of the origin's channels.
    until_edges(&edges, Duration::from_secs(20), "the edges relay tone and extra", |l| {
        connected(l, "tone") == Some(true) && connected(l, "extra").is_some()
    })
    .await;
    let listeners: Vec<Listener> = edges.iter().map(|e| listen(*e, "/live/tone.mp3")).collect();
    let at_origin = listen(origin_addr, "/live/tone.mp3");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let heard_at_origin = at_origin.bytes.lock().expect("bytes").clone();
    for (edge, l) in edges.iter().zip(&listeners) {
        // The origin's -20 dBFS tone, through its MP3 alone: -23.01 dB RMS.
        let level = l.level_since(0, dir.path());
        assert!((level - -23.01).abs() < 1.0, "edge {edge}: the tone at {level:.2} dB");
        // Relayed, not re-encoded: what the edge's listener got holds the origin's own bytes.
        let status = http::get(*edge, "/api/v1/live/tone", None).await.json();
        assert_eq!(status["mounts"][0]["passthrough"], true, "edge {edge}: {status}");
        assert_eq!(status["source"], format!("http://127.0.0.1:{origin_port}/live/tone.mp3"), "what it relays");
        let heard = l.bytes.lock().expect("bytes").clone();
        let window = &heard[heard.len() / 2..heard.len() / 2 + 4096];
        assert!(
            heard_at_origin.windows(window.len()).any(|w| w == window),
            "edge {edge}: 4 KiB of its stream are not in the origin's"
        );
    }

    // A title set on the origin reaches the edges (the origin's ICY metadata).
    let title = "Origin - Title";
    let update = "/admin/metadata?mount=/tone&mode=updinfo&song=Origin%20-%20Title";
    // "source:secret" in base64.
    let set = http::send(origin_addr, "GET", update, &[("Authorization", "Basic c291cmNlOnNlY3JldA==")], b"").await;
    assert_eq!(set.status, 200, "{}", set.text());
    for edge in &edges {
        let mut seen = String::new();
        for _ in 0..50 {
            seen =
                http::get(*edge, "/api/v1/live/tone", None).await.json()["now_playing"].as_str().unwrap_or("").into();
            if seen == title {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert_eq!(seen, title, "edge {edge}: the origin's title");
    }

    // A channel removed on the origin leaves the edges.
    let removed =
        http::send(origin_addr, "DELETE", "/api/v1/live/extra", &[("Authorization", "Bearer origin-token")], b"").await;
    assert_eq!(removed.status, 200, "{}", removed.text());
    until_edges(&edges, Duration::from_secs(10), "the edges drop extra", |l| connected(l, "extra").is_none()).await;

    // The origin dies: the edges' channel stays, on silence, its listeners connected.
    let _ = origin.0.kill();
    let _ = origin.0.wait();
    until_edges(&edges, Duration::from_secs(20), "the edges see the origin gone", |l| {
        connected(l, "tone") == Some(false)
    })
    .await;
    let during: Vec<usize> = listeners.iter().map(Listener::len).collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (l, before) in listeners.iter().zip(&during) {
        assert!(l.len() > *before, "listeners keep receiving (silence) while the origin is down");
    }

    // It comes back: the edges hear it again within seconds, and add its channels again.
    origin = serve(&origin_dir, origin_port, "", origin_server, origin_channels).await;
    let resumed =
        until_edges(&edges, Duration::from_secs(20), "the edges reconnect", |l| connected(l, "tone") == Some(true))
            .await;
    println!("edges reconnected {resumed:?} after the origin restarted");
    let marks: Vec<usize> = listeners.iter().map(Listener::len).collect();
    tokio::time::sleep(Duration::from_secs(3)).await;
    for ((edge, l), mark) in edges.iter().zip(&listeners).zip(marks) {
        assert!(!l.ended.load(Ordering::SeqCst), "edge {edge}: the listener stayed connected throughout");
        let level = l.level_since(mark, dir.path());
        assert!((level - -23.01).abs() < 1.0, "edge {edge}: the tone again at {level:.2} dB");
    }
    until_edges(&edges, Duration::from_secs(10), "the edges relay extra again", |l| connected(l, "extra").is_some())
        .await;
    drop(origin);
}

/// What a listener received after the response head.
fn body(bytes: &[u8]) -> &[u8] {
    bytes.windows(4).position(|w| w == b"\r\n\r\n").map_or(bytes, |at| &bytes[at + 4..])
}

/// The left channel of `bytes` (a response) as ffmpeg decodes it, and what it said on stderr
/// (errors only). Through a pipe, as a player reads a stream: given a file, ffmpeg seeks to
/// its end for a duration, and the last link of a chained Ogg stream has no header there.
fn ffmpeg_left(bytes: &[u8]) -> (Vec<f64>, String) {
    use std::io::Write;
    use std::process::Stdio;
    let mut ffmpeg = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i", "pipe:0", "-ac", "2", "-ar", "44100", "-f", "f32le", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ffmpeg");
    let (mut stdin, input) = (ffmpeg.stdin.take().expect("stdin"), body(bytes).to_vec());
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = ffmpeg.wait_with_output().expect("ffmpeg");
    let _ = writer.join();
    let left = out.stdout.chunks_exact(8).map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))).collect();
    (left, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn rms_db(samples: &[f64]) -> f64 {
    10.0 * (samples.iter().map(|s| s * s).sum::<f64>() / samples.len() as f64).log10()
}

/// The packets of an Ogg response (all its links), by the `ogg` crate's reader.
fn ogg_packets(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut reader = ogg::PacketReader::new(std::io::Cursor::new(body(bytes).to_vec()));
    let mut out = Vec::new();
    // A listener's stream ends in the middle of a page: what is whole is read.
    while let Ok(Some(p)) = reader.read_packet() {
        out.push(p.data);
    }
    out
}

/// An edge relays the origin's AAC, Vorbis, FLAC and Opus mounts without decoding them: its
/// listeners get the origin's own ADTS frames and Ogg packets (in Ogg pages of its own), and
/// play them; when the origin goes and comes back, the Ogg mounts chain to the edge's encoder
/// and back, and ffmpeg plays the whole stream through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_relays_aac_and_ogg_mounts_as_they_are() {
    let dir = tempfile::tempdir().expect("tmp");
    let (origin_port, edge_port) = (free_port(), free_port());
    let tone = "source = \"launch:audiotestsrc is-live=true freq=440 volume=0.1\"\nhls = false\nanalyzers = []\n";
    let formats = [("aac", "aac"), ("vorbis", "ogg"), ("flac", "oggflac"), ("opus", "opus")];
    let origin_channels: String =
        formats.iter().map(|(id, ext)| format!("[[channels]]\nid = \"{id}\"\nformats = [\"{ext}\"]\n{tone}")).collect();
    let edge_live = format!("[live]\nedge_origin = \"http://127.0.0.1:{origin_port}\"\nedge_poll_s = 0.5\n");
    let origin_dir = dir.path().join("origin");
    let mut origin = serve(&origin_dir, origin_port, "", "", &origin_channels).await;
    let _edge = serve(&dir.path().join("edge"), edge_port, "channels = []", "", &edge_live).await;
    let (edge, origin_addr): (SocketAddr, SocketAddr) =
        (([127, 0, 0, 1], edge_port).into(), ([127, 0, 0, 1], origin_port).into());
    until_edges(&[edge], Duration::from_secs(20), "the edge relays every channel", |l| {
        formats.iter().all(|(id, _)| connected(l, id) == Some(true))
    })
    .await;
    let path = |(id, ext): &(&str, &str)| format!("/live/{id}.{ext}");
    let at_origin: Vec<Listener> = formats.iter().map(|f| listen(origin_addr, &path(f))).collect();
    let at_edge: Vec<Listener> = formats.iter().map(|f| listen(edge, &path(f))).collect();
    tokio::time::sleep(Duration::from_secs(4)).await;

    for ((format, origin_heard), edge_heard) in formats.iter().zip(&at_origin).zip(&at_edge) {
        let (id, ext) = *format;
        let status = http::get(edge, &format!("/api/v1/live/{id}"), None).await.json();
        let mount = status["mounts"].as_array().and_then(|m| m.iter().find(|m| m["format"] == ext).cloned());
        assert_eq!(mount.as_ref().map(|m| &m["passthrough"]), Some(&serde_json::json!(true)), "{id}: {status}");
        let (from_origin, from_edge) =
            (origin_heard.bytes.lock().expect("bytes").clone(), edge_heard.bytes.lock().expect("bytes").clone());
        if ext == "aac" {
            // ADTS frames go out as they came: 4 KiB of the edge's stream are in the origin's.
            let window = &from_edge[from_edge.len() / 2..from_edge.len() / 2 + 4096];
            assert!(from_origin.windows(window.len()).any(|w| w == window), "{id}: not the origin's frames");
        } else {
            // Pages are the edge's own (its serial numbers), packets the origin's: 20 audio
            // packets in a row from the middle of the edge's stream are in the origin's.
            let (origin_packets, edge_packets) = (ogg_packets(&from_origin), ogg_packets(&from_edge));
            let middle = &edge_packets[edge_packets.len() / 2..edge_packets.len() / 2 + 20];
            assert!(origin_packets.windows(20).any(|w| w == middle), "{id}: not the origin's packets");
        }
        // And they play: the origin's -20 dBFS tone, -23.01 dB RMS (FLAC: exactly).
        let (left, errors) = ffmpeg_left(&from_edge);
        assert!(left.len() > 2 * 44100, "{id}: {} samples decoded; {errors}", left.len());
        let level = rms_db(&left[left.len() / 2..]);
        let tolerance = if ext == "oggflac" { 0.05 } else { 1.0 };
        assert!((level - -23.01).abs() < tolerance, "{id}: the tone at {level:.2} dB");
    }

    // The origin goes, and comes back: the edge's mounts go to its own encoder (silence) and
    // back to the origin's frames, listeners connected, their streams playable throughout.
    let _ = origin.0.kill();
    let _ = origin.0.wait();
    until_edges(&[edge], Duration::from_secs(20), "the edge sees the origin gone", |l| {
        formats.iter().all(|(id, _)| connected(l, id) == Some(false))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    origin = serve(&origin_dir, origin_port, "", "", &origin_channels).await;
    until_edges(&[edge], Duration::from_secs(20), "the edge reconnects", |l| {
        formats.iter().all(|(id, _)| connected(l, id) == Some(true))
    })
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    for ((id, ext), edge_heard) in formats.iter().zip(&at_edge) {
        assert!(!edge_heard.ended.load(Ordering::SeqCst), "{id}: the listener stayed connected");
        let status = http::get(edge, &format!("/api/v1/live/{id}"), None).await.json();
        let mount = status["mounts"].as_array().and_then(|m| m.iter().find(|m| m["format"] == *ext).cloned());
        assert_eq!(mount.map(|m| m["passthrough"].clone()), Some(serde_json::json!(true)), "{id} relayed again");
        let heard = edge_heard.bytes.lock().expect("bytes").clone();
        let (left, errors) = ffmpeg_left(&heard);
        // The tone, the silence while the origin was gone, the tone again (its last 2 s).
        assert!(errors.is_empty(), "{id}: ffmpeg: {errors}");
        let seconds = left.len() as f64 / 44100.0;
        assert!(seconds > 10.0, "{id}: {seconds:.1} s decoded through the switches; {errors}");
        let quiet = left.chunks_exact(22050).map(rms_db).fold(0.0, f64::min);
        assert!(quiet < -60.0, "{id}: no silence heard while the origin was gone ({quiet:.1} dB)");
        let level = rms_db(&left[left.len() - 2 * 44100..]);
        assert!((level - -23.01).abs() < 1.0, "{id}: the tone again at {level:.2} dB; {errors}");
    }
    drop(origin);
}

/// The server raises its own open-files limit to the hard limit at start (each listener is a
/// socket): started with a soft limit of 256, it runs with the hard one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_raises_its_open_files_limit() {
    let dir = tempfile::tempdir().expect("tmp");
    let port = free_port();
    let config = dir.path().join("timeside.toml");
    std::fs::write(&config, format!("channels = []\n[server]\ndata_dir = \"{}\"\n", dir.path().display()))
        .expect("config");
    let command = format!(
        "ulimit -Sn 256 && exec {} serve --config {} --listen 127.0.0.1:{port}",
        env!("CARGO_BIN_EXE_timeside"),
        config.display()
    );
    let child = std::process::Command::new("sh")
        .args(["-c", &command])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map(Serve)
        .expect("sh");
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let limits = std::fs::read_to_string(format!("/proc/{}/limits", child.0.id())).expect("limits");
    let open_files = limits.lines().find(|l| l.starts_with("Max open files")).expect("a limit");
    let fields: Vec<&str> = open_files.split_whitespace().collect();
    // "Max open files <soft> <hard> files"
    assert_eq!(fields[3], fields[4], "soft limit raised to the hard one: {open_files}");
    assert_ne!(fields[3], "256", "{open_files}");
}
