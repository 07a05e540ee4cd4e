//! Listener load benchmark (loopback only, bounded): starts `timeside serve` (release build) with
//! one live 128 kbit/s MP3 channel, then for each N: N listeners join at `--join-rate` per
//! second, everyone listens for `--seconds`, and it reports connected listeners, stalled ones
//! (received under 90 % of the stream bitrate in the steady window, less one chunk), time to first byte
//! p50/p99, the server's CPU (% of one core) and RSS, what each listener added to the RSS
//! (RSS with N listeners less RSS before the first joined, over N), the kernel's TCP buffer
//! memory (whole machine: server and clients), and WebSocket event latency (wall clock at
//! receipt minus the event's `wall_time`).
//!
//!   bash benches/listeners.sh                 # N = 1000, 5000, 10000
//!   bash benches/listeners.sh 500,2000 5      # counts, steady seconds
//!
//! The load generator runs on the same machine (2 cores here), so server and clients share the
//! CPU: figures are a lower bound of what the server does alone. It runs in worker processes
//! of at most `LISTENERS_PER_WORKER` connections each (this same program, `--worker`), so that
//! no process of the client needs more open files than one process may have.

mod common;
use common::arg;
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BITRATE_BPS: f64 = 128_000.0 / 8.0;
/// Connections per load-generating process: under the usual hard limit of open files.
const LISTENERS_PER_WORKER: usize = 8000;

/// Milliseconds since 1970: the clock workers and the coordinator share.
fn unix_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The `Instant` at `unix` milliseconds since 1970.
fn instant_at(unix: u64) -> Instant {
    let now_unix = unix_ms();
    let now = Instant::now();
    if unix >= now_unix {
        now + Duration::from_millis(unix - now_unix)
    } else {
        now - Duration::from_millis(now_unix - unix)
    }
}

/// Kernel memory of TCP buffers, whole machine, in KiB (`/proc/net/sockstat`, in pages).
fn tcp_buffers_kib() -> u64 {
    let stat = std::fs::read_to_string("/proc/net/sockstat").unwrap_or_default();
    let pages = stat
        .lines()
        .find(|l| l.starts_with("TCP:"))
        .and_then(|l| l.split_whitespace().skip_while(|w| *w != "mem").nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    pages * 4
}

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

async fn listen(addr: std::net::SocketAddr, steady_from: Instant, until: Instant) -> Listener {
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
                if Instant::now() >= steady_from {
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

/// `--worker`: runs listeners `first, first + stride, ...` below `--count` (the coordinator's
/// schedule: listener `i` joins at `origin + i / join_rate`), then prints one line per listener:
/// `ttfb_ms steady_bytes failed` (ttfb -1 when no byte came).
async fn worker() {
    let addr: std::net::SocketAddr = arg("--addr", "").parse().expect("--addr");
    let n: usize = arg("--count", "0").parse().unwrap_or(0);
    let (first, stride): (usize, usize) =
        (arg("--first", "0").parse().unwrap_or(0), arg("--stride", "1").parse().unwrap_or(1).max(1));
    let join_rate: f64 = arg("--join-rate", "500").parse().unwrap_or(500.0);
    let at = |name: &str| instant_at(arg(name, "0").parse().unwrap_or(0));
    let (origin, steady_from, until) = (at("--origin"), at("--steady-from"), at("--until"));
    let mut tasks = Vec::new();
    for i in (first..n).step_by(stride) {
        tokio::time::sleep_until((origin + Duration::from_secs_f64(i as f64 / join_rate)).into()).await;
        tasks.push(tokio::spawn(listen(addr, steady_from, until)));
    }
    let mut out = String::new();
    for t in tasks {
        let r = t.await.unwrap_or(Listener { ttfb: None, steady_bytes: 0, failed: true });
        let ttfb = r.ttfb.map_or(-1.0, |d| d.as_secs_f64() * 1000.0);
        out.push_str(&format!("{ttfb} {} {}\n", r.steady_bytes, u8::from(r.failed)));
    }
    print!("{out}");
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
    let (_, idle_rss_kib) = proc_stat(pid);
    let idle_tcp_kib = tcp_buffers_kib();

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

    // The schedule, shared with the workers as wall-clock times: everyone joins, the last ones
    // settle for a second, then the steady window.
    let origin = unix_ms() + 500;
    let steady_from = origin + (n as f64 / join_rate * 1000.0) as u64 + 1000;
    let until = steady_from + (seconds * 1000.0) as u64;
    let workers = n.div_ceil(LISTENERS_PER_WORKER).max(1);
    let exe = std::env::current_exe().expect("this program");
    let mut children = Vec::new();
    for w in 0..workers {
        let mut command = tokio::process::Command::new(&exe);
        command.arg("--worker").args(["--addr", &addr.to_string(), "--count", &n.to_string()]);
        command.args(["--first", &w.to_string(), "--stride", &workers.to_string()]);
        command.args(["--join-rate", &join_rate.to_string(), "--origin", &origin.to_string()]);
        command.args(["--steady-from", &steady_from.to_string(), "--until", &until.to_string()]);
        children.push(command.stdout(std::process::Stdio::piped()).kill_on_drop(true).spawn().expect("a worker"));
    }
    tokio::time::sleep_until(instant_at(steady_from).into()).await;
    let (ticks0, _) = proc_stat(pid);
    tokio::time::sleep_until(instant_at(until).into()).await;
    let (ticks1, rss_kib) = proc_stat(pid);
    let tcp_kib = tcp_buffers_kib();
    let mut results = Vec::with_capacity(n);
    for c in children {
        let Ok(output) = c.wait_with_output().await else { continue };
        for line in String::from_utf8_lossy(&output.stdout).lines() {
            let f: Vec<f64> = line.split_whitespace().filter_map(|v| v.parse().ok()).collect();
            if let [ttfb, steady, failed] = f[..] {
                let ttfb = (ttfb >= 0.0).then(|| Duration::from_secs_f64(ttfb / 1000.0));
                results.push(Listener { ttfb, steady_bytes: steady as u64, failed: failed != 0.0 });
            }
        }
    }
    let _ = ws_probe.join();
    let _ = child.kill().await;
    let hz = 100.0; // USER_HZ on Linux
    let window = seconds;
    let cpu = (ticks1 - ticks0) as f64 / hz / window * 100.0;
    let connected = results.iter().filter(|r| !r.failed && r.ttfb.is_some()).count();
    // Bytes come a chunk at a time: a chunk due at the window's edge may land on either side.
    let expected = 0.9 * BITRATE_BPS * window - chunk_bytes as f64;
    let stalled = results.iter().filter(|r| (r.steady_bytes as f64) < expected).count();
    let mut ttfb: Vec<f64> = results.iter().filter_map(|r| r.ttfb.map(|d| d.as_secs_f64() * 1000.0)).collect();
    ttfb.sort_by(f64::total_cmp);
    let mut lat = ws_latencies.lock().map(|l| l.clone()).unwrap_or_default();
    lat.sort_by(f64::total_cmp);
    let per_listener_kib = (rss_kib as f64 - idle_rss_kib as f64) / connected.max(1) as f64;
    println!(
        "{n:>6} {connected:>9} {stalled:>7} {:>9.1} {:>9.1} {cpu:>8.1}% {:>10.2}% {:>8.0} {:>8.2} {:>9.0} {:>9.1} {:>9.1}",
        percentile(&ttfb, 0.5),
        percentile(&ttfb, 0.99),
        cpu / (n as f64 / 1000.0),
        rss_kib as f64 / 1024.0,
        per_listener_kib,
        tcp_kib.saturating_sub(idle_tcp_kib) as f64 / 1024.0,
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    if std::env::args().any(|a| a == "--worker") {
        runtime.block_on(worker());
        return;
    }
    let server = arg("--server", "target/release/timeside");
    let counts: Vec<usize> =
        arg("--counts", "1000,5000,10000").split(',').filter_map(|c| c.trim().parse().ok()).collect();
    let seconds: f64 = arg("--seconds", "10").parse().unwrap_or(10.0);
    let join_rate: f64 = arg("--join-rate", "500").parse().unwrap_or(500.0);
    let chunk_bytes: usize = arg("--chunk-bytes", "12288").parse().unwrap_or(12288);
    println!(
        "MP3 128 kbit/s, chunks of {chunk_bytes} bytes, listeners join at {join_rate}/s, steady window {seconds} s; {} cores shared by server and clients",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0)
    );
    println!(
        "{:>6} {:>9} {:>7} {:>9} {:>9} {:>9} {:>11} {:>8} {:>8} {:>9} {:>9} {:>9}",
        "N",
        "connected",
        "stalled",
        "ttfb p50",
        "ttfb p99",
        "CPU",
        "CPU/1000",
        "RSS MiB",
        "KiB/lis",
        "TCP MiB",
        "ws p50ms",
        "ws p99ms"
    );
    for n in counts.into_iter().filter(|&n| n > 0 && n <= 50_000) {
        runtime.block_on(run(
            &server,
            n,
            seconds.clamp(1.0, 120.0),
            join_rate.clamp(1.0, 5000.0),
            chunk_bytes.clamp(256, 1 << 20),
        ));
    }
}
