//! Listener load benchmark (loopback only, bounded): starts `timeside serve` (release build) with
//! one live 128 kbit/s MP3 channel, then for each N: N listeners join at `--join-rate` per
//! second, everyone listens for `--seconds`, and it reports connected listeners, stalled ones
//! (received under 90 % of the stream bitrate in the steady window, less one chunk), time to first byte
//! p50/p99, the server's CPU (% of one core) and RSS, and WebSocket event latency (wall clock
//! at receipt minus the event's `wall_time`).
//!
//!   bash benches/listeners.sh                 # N = 1000, 5000, 10000
//!   bash benches/listeners.sh 500,2000 5      # counts, steady seconds
//!
//! The load generator runs on the same machine (2 cores here), so server and clients share the
//! CPU: figures are a lower bound of what the server does alone.

mod common;
use common::arg;
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BITRATE_BPS: f64 = 128_000.0 / 8.0;

fn proc_stat(pid: u32) -> (u64, u64) {
    // (utime + stime in clock ticks, RSS in KiB)
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = fields.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
        + fields.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    (ticks, rss)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

struct Listener {
    ttfb: Option<Duration>,
    steady_bytes: u64,
    failed: bool,
}

async fn listen(addr: std::net::SocketAddr, steady_from: Arc<AtomicU64>, origin: Instant, until: Instant) -> Listener {
    let started = Instant::now();
    let mut out = Listener { ttfb: None, steady_bytes: 0, failed: false };
    let Ok(Ok(mut s)) = tokio::time::timeout(Duration::from_secs(10), tokio::net::TcpStream::connect(addr)).await
    else {
        out.failed = true;
        return out;
    };
    if s.write_all(b"GET /live/load.mp3 HTTP/1.0\r\n\r\n").await.is_err() {
        out.failed = true;
        return out;
    }
    let mut buf = vec![0u8; 16384];
    let mut header_done = false;
    let mut head = Vec::new();
    loop {
        let now = Instant::now();
        if now >= until {
            break;
        }
        match tokio::time::timeout(until - now, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                out.failed = true;
                break;
            }
            Err(_) => break,
            Ok(Ok(n)) => {
                let mut body = n;
                if !header_done {
                    head.extend_from_slice(&buf[..n]);
                    match head.windows(4).position(|w| w == b"\r\n\r\n") {
                        Some(i) => {
                            header_done = true;
                            body = head.len() - i - 4;
                            if !head.starts_with(b"HTTP/1.0 200") && !head.starts_with(b"HTTP/1.1 200") {
                                out.failed = true;
                                break;
                            }
                        }
                        None => continue,
                    }
                }
                if body > 0 && out.ttfb.is_none() {
                    out.ttfb = Some(started.elapsed());
                }
                let steady = steady_from.load(Ordering::Relaxed);
                if steady > 0 && Instant::now() >= origin + Duration::from_millis(steady) {
                    out.steady_bytes += body as u64;
                }
            }
        }
    }
    out
}

/// Records, for each `level` event of the channel, wall clock at receipt minus its `wall_time`.
async fn probe_ws_latency(addr: std::net::SocketAddr, latencies: Arc<std::sync::Mutex<Vec<f64>>>) {
    let Ok((mut ws, _)) = tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/ws")).await else { return };
    let _ = ws.send(tokio_tungstenite::tungstenite::Message::text(r#"{"op":"subscribe","topic":"live:load"}"#)).await;
    while let Some(Ok(msg)) = ws.next().await {
        let now =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0);
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(msg.to_text().unwrap_or(""))
            && let Some(w) = v["wall_time"].as_f64().filter(|_| v["event"] == "level")
        {
            latencies.lock().map(|mut l| l.push((now - w) * 1000.0)).ok();
        }
    }
}

async fn run(server_bin: &str, n: usize, seconds: f64, join_rate: f64, chunk_bytes: usize) {
    let dir = std::env::temp_dir().join(format!("timeside-bench-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let config = dir.join("bench.toml");
    let _ = std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\n[live]\nburst_bytes = 16384\nchunk_bytes = {chunk_bytes}\n\
             [[channels]]\nid = \"load\"\nsource = \"launch:audiotestsrc is-live=true volume=0.1\"\nformats = [\"mp3\"]\nmp3_bitrate_kbps = 128\n",
            dir.display()
        ),
    );
    let (mut child, addr) = common::start_server(server_bin, &config).await;
    let pid = child.id().unwrap_or(0);
    tokio::time::sleep(Duration::from_secs(2)).await;

    // WebSocket latency probe, on a thread and runtime of its own: the 20 000 listener tasks of
    // this load generator must not delay its reads, or it would measure the generator.
    let ws_latencies = Arc::new(std::sync::Mutex::new(Vec::new()));
    let probe_until = Instant::now() + Duration::from_secs_f64(n as f64 / join_rate + 3.0 + seconds);
    let ws_probe = std::thread::spawn({
        let lat = ws_latencies.clone();
        move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            rt.block_on(async move {
                let _ = tokio::time::timeout_at(probe_until.into(), probe_ws_latency(addr, lat)).await;
            });
        }
    });

    let origin = Instant::now();
    let join_time = n as f64 / join_rate;
    let until = origin + Duration::from_secs_f64(join_time + 1.0 + seconds);
    let steady_from = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::with_capacity(n);
    for i in 0..n {
        let due = origin + Duration::from_secs_f64(i as f64 / join_rate);
        tokio::time::sleep_until(due.into()).await;
        tasks.push(tokio::spawn(listen(addr, steady_from.clone(), origin, until)));
    }
    // Everyone joined; let the last ones settle, then measure the steady window.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let steady_start = Instant::now();
    steady_from.store(steady_start.duration_since(origin).as_millis() as u64, Ordering::Relaxed);
    let (ticks0, _) = proc_stat(pid);
    tokio::time::sleep_until(until.into()).await;
    let (ticks1, rss_kib) = proc_stat(pid);
    let window = steady_start.elapsed().as_secs_f64().min(seconds);
    let mut results = Vec::with_capacity(n);
    for t in tasks {
        if let Ok(r) = t.await {
            results.push(r);
        }
    }
    let _ = ws_probe.join();
    let _ = child.kill().await;
    let hz = 100.0; // USER_HZ on Linux
    let cpu = (ticks1 - ticks0) as f64 / hz / window * 100.0;
    let connected = results.iter().filter(|r| !r.failed && r.ttfb.is_some()).count();
    // Bytes come a chunk at a time: a chunk due at the window's edge may land on either side.
    let expected = 0.9 * BITRATE_BPS * window - chunk_bytes as f64;
    let stalled = results.iter().filter(|r| (r.steady_bytes as f64) < expected).count();
    let mut ttfb: Vec<f64> = results.iter().filter_map(|r| r.ttfb.map(|d| d.as_secs_f64() * 1000.0)).collect();
    ttfb.sort_by(f64::total_cmp);
    let mut lat = ws_latencies.lock().map(|l| l.clone()).unwrap_or_default();
    lat.sort_by(f64::total_cmp);
    println!(
        "{n:>6} {connected:>9} {stalled:>7} {:>9.1} {:>9.1} {cpu:>8.1}% {:>10.2}% {:>8.0} {:>9.1} {:>9.1}",
        percentile(&ttfb, 0.5),
        percentile(&ttfb, 0.99),
        cpu / (n as f64 / 1000.0),
        rss_kib as f64 / 1024.0,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let server = arg("--server", "target/release/timeside");
    let counts: Vec<usize> =
        arg("--counts", "1000,5000,10000").split(',').filter_map(|c| c.trim().parse().ok()).collect();
    let seconds: f64 = arg("--seconds", "10").parse().unwrap_or(10.0);
    let join_rate: f64 = arg("--join-rate", "500").parse().unwrap_or(500.0);
    let chunk_bytes: usize = arg("--chunk-bytes", "12288").parse().unwrap_or(12288);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    println!(
        "MP3 128 kbit/s, chunks of {chunk_bytes} bytes, listeners join at {join_rate}/s, steady window {seconds} s; {} cores shared by server and clients",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!(
        "{:>6} {:>9} {:>7} {:>9} {:>9} {:>9} {:>11} {:>8} {:>9} {:>9}",
        "N", "connected", "stalled", "ttfb p50", "ttfb p99", "CPU", "CPU/1000", "RSS MiB", "ws p50ms", "ws p99ms"
    );
    for n in counts.into_iter().filter(|&n| n > 0 && n <= 20_000) {
        runtime.block_on(run(
            &server,
            n,
            seconds.clamp(1.0, 120.0),
            join_rate.clamp(1.0, 5000.0),
            chunk_bytes.clamp(256, 1 << 20),
        ));
    }
}
