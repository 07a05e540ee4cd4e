//! Latency benchmark (loopback only, bounded): how long after a source client sends a sound
//! does a listener receive the bytes that carry it, and a WebSocket subscriber the events that
//! describe it? Starts `timeside serve` (release build) with a push channel, pushes a 128 kbit/s
//! MP3 of 20 ms beeps (one a second) in real time the way an Icecast source client does,
//! listens to the channel's mp3 or opus stream (`--format`), then decodes both sides and
//! matches the beeps: latency = when the listener received the bytes of a beep minus when the
//! source sent the bytes of the same beep. Both sides are located the same way (decoded sample
//! position → byte offset: at the constant bitrate for MP3, the end of the Ogg page for Opus;
//! no encoder delay trimmed on either side), so the source's codec delays cancel to within one
//! MP3 frame (26 ms) and what remains is the server: chunking (`--chunk-bytes`, or none for a
//! `?latency=low` listener: `--latency low`) and delivery, and, when the source is re-encoded
//! (always for Opus; for MP3 with `--mp3-passthrough false`), decoding, 10 ms blocks and the
//! encoder (and its pages: `--opus-page-ms`). Events: the arrival of each `level` and `onset`
//! event minus when the source sent the newest audio it describes (its `stream_time`).
//!
//!   bash benches/latency.sh [CHUNK_BYTES] [normal|low] [true|false] [mp3|opus] [OPUS_PAGE_MS]

mod common;
use common::arg;
use futures_util::{SinkExt, StreamExt};
use std::io::Write;
use std::time::{Duration, Instant};
use timeside::media::{DecodeOptions, Input};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BYTES_PER_SECOND: f64 = 128_000.0 / 8.0;
const SECONDS: f64 = 16.0;
/// The source client writes about one MP3 frame (1152 samples at 44.1 kHz, 128 kbit/s) at a
/// time, as an encoder streaming in real time does.
const SOURCE_WRITE: usize = 418;
/// Events of the source's first second, left out of the event latencies (see below).
const STARTUP_S: f64 = 1.0;
/// How early a beep may seem to arrive (one source write) before it is taken for the next one.
const ROUNDING_S: f64 = SOURCE_WRITE as f64 / BYTES_PER_SECOND;

/// Opus packets are 20 ms: 960 samples at 48 kHz.
const OPUS_PACKET: usize = 960;

/// An Ogg/Opus stream's pre-skip (48 kHz samples) and its audio pages: (end byte offset, audio
/// packets completed by the end of the page). The stream starts with its two header pages.
fn opus_pages(data: &[u8]) -> (usize, Vec<(usize, usize)>) {
    let (mut at, mut pages, mut packets, mut pre_skip) = (0, Vec::new(), 0, 0);
    while let Some(head) = data.get(at..at + 27).filter(|h| h.starts_with(b"OggS")) {
        let segments = &data[at + 27..(at + 27 + head[26] as usize).min(data.len())];
        let body = at + 27 + segments.len();
        let end = body + segments.iter().map(|&s| s as usize).sum::<usize>();
        if end > data.len() {
            break;
        }
        if data[body..].starts_with(b"OpusHead") {
            pre_skip = u16::from_le_bytes([data[body + 10], data[body + 11]]) as usize;
        } else if !data[body..].starts_with(b"OpusTags") {
            // A lacing value under 255 ends a packet.
            packets += segments.iter().filter(|&&s| s < 255).count();
            pages.push((end, packets));
        }
        at = end;
    }
    (pre_skip, pages)
}

/// `to - from` in seconds, negative when `to` came first.
fn seconds_between(from: Instant, to: Instant) -> f64 {
    to.checked_duration_since(from).map_or_else(|| -(from - to).as_secs_f64(), |d| d.as_secs_f64())
}

/// Sample positions (seconds) where a beep starts: the first loud sample after 0.5 s of quiet.
fn beeps(path: &std::path::Path) -> Vec<f64> {
    let mut source = timeside::processors::decoders::open(&Input::File(path.to_path_buf()), &DecodeOptions::default())
        .unwrap_or_else(|e| panic!("decode {}: {e}", path.display()));
    let format = source.format();
    let (ch, rate) = (format.channels as usize, format.samplerate as f64);
    let (mut found, mut quiet_since, mut position) = (Vec::new(), 0u64, 0u64);
    while let Ok(Some(block)) = source.next_block() {
        for frame in block.samples.chunks_exact(ch) {
            if frame.iter().any(|x| x.abs() > 0.1) {
                if position - quiet_since > (0.5 * rate) as u64 {
                    found.push(position as f64 / rate);
                }
                quiet_since = position;
            }
            position += 1;
        }
    }
    found
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let server_bin = arg("--server", "target/release/timeside");
    let chunk_bytes: usize = arg("--chunk-bytes", "12288").parse().expect("--chunk-bytes");
    // "low": the listener asks for `?latency=low` (every encoder write at once).
    let latency = arg("--latency", "normal");
    // "false": the mount re-encodes the source even though it is MP3 in the mount's format.
    let passthrough: bool = arg("--mp3-passthrough", "true").parse().expect("--mp3-passthrough true|false");
    // Which of the channel's streams the listener takes: "mp3" or "opus".
    let format = arg("--format", "mp3");
    let opus_page_ms = arg("--opus-page-ms", "60");
    let dir = std::env::temp_dir().join(format!("timeside-latency-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let source_mp3 = dir.join("beeps.mp3");
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("aevalsrc='if(lt(mod(t,1),0.02)*gte(t,1),0.5*sin(2*PI*1000*t),0)':s=44100:d={SECONDS}"))
        .args(["-ac", "2", "-c:a", "libmp3lame", "-b:a", "128k"])
        .arg(&source_mp3)
        .status()
        .expect("ffmpeg");
    assert!(status.success(), "ffmpeg failed");
    // The source sends bare frames, as the listener gets them: without the file's ID3 tag and
    // Info frame, whose encoder delay a decoder would trim from one side only.
    let file = std::fs::read(&source_mp3).expect("read source");
    let mut frames = Vec::new();
    timeside::media::mpeg_audio::FrameSplitter::default().push(&file, |h, f, _| {
        if !h.is_tag(f) {
            frames.extend_from_slice(f);
        }
    });
    std::fs::write(&source_mp3, frames).expect("write source");
    let sent_beeps = beeps(&source_mp3);

    let config = dir.join("latency.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\nsource_password = \"probe\"\n[live]\nchunk_bytes = {chunk_bytes}\n\
             [[channels]]\nid = \"probe\"\nsource = \"push\"\nformats = [\"mp3\", \"opus\"]\nanalyzers = [\"onsets\"]\npassthrough = {passthrough}\nopus_page_ms = {opus_page_ms}\n",
            dir.display()
        ),
    )
    .expect("config");
    let (mut child, addr) = common::start_server(&server_bin, &config).await;

    // The listener: every read with its arrival time.
    let request = format!("GET /live/probe.{format}?latency={latency} HTTP/1.0\r\n\r\n");
    let listener = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut s = tokio::net::TcpStream::connect(addr).await.expect("listen");
        s.write_all(request.as_bytes()).await.expect("request");
        let (mut data, mut arrivals) = (Vec::new(), Vec::new());
        let mut buf = vec![0u8; 65536];
        let until = Instant::now() + Duration::from_secs_f64(SECONDS);
        while let Ok(Ok(n)) = tokio::time::timeout_at(until.into(), s.read(&mut buf)).await {
            if n == 0 {
                break;
            }
            data.extend_from_slice(&buf[..n]);
            arrivals.push((data.len(), Instant::now()));
        }
        (data, arrivals)
    });

    // A WebSocket subscriber: each event's name, stream_time and arrival.
    let subscriber = tokio::spawn(async move {
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/ws")).await.expect("ws");
        let subscribe = r#"{"op":"subscribe","topic":"live:probe"}"#;
        ws.send(tokio_tungstenite::tungstenite::Message::text(subscribe)).await.expect("subscribe");
        let mut events = Vec::new();
        let until = Instant::now() + Duration::from_secs_f64(SECONDS + 1.0);
        while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(until.into(), ws.next()).await {
            let arrived = Instant::now();
            if let Ok(v) = serde_json::from_str::<serde_json::Value>(msg.to_text().unwrap_or("")) {
                let name = v["event"].as_str().unwrap_or_default().to_string();
                events.push((name, v["stream_time"].as_f64().unwrap_or(f64::NAN), arrived));
            }
        }
        events
    });
    tokio::time::sleep(Duration::from_millis(200)).await;

    // The source client: the MP3 bytes at their own rate, as an encoder would send them.
    let bytes = std::fs::read(&source_mp3).expect("read source");
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("source");
    // "source:probe" in base64.
    s.write_all(b"SOURCE /probe HTTP/1.0\r\nAuthorization: Basic c291cmNlOnByb2Jl\r\nContent-Type: audio/mpeg\r\n\r\n")
        .await
        .expect("source request");
    let mut reply = [0u8; 256];
    let _ = s.read(&mut reply).await;
    let start = Instant::now();
    for (i, piece) in bytes.chunks(SOURCE_WRITE).enumerate() {
        let due = start + Duration::from_secs_f64((i * SOURCE_WRITE) as f64 / BYTES_PER_SECOND);
        tokio::time::sleep_until(due.into()).await;
        if s.write_all(piece).await.is_err() {
            break;
        }
    }
    let (data, arrivals) = listener.await.expect("listener");
    let events = subscriber.await.expect("subscriber");
    drop(s);
    let _ = child.kill().await;

    let split = data.windows(4).position(|w| w == b"\r\n\r\n").map_or(0, |p| p + 4);
    let heard = dir.join(format!("heard.{format}"));
    std::fs::File::create(&heard).and_then(|mut f| f.write_all(&data[split..])).expect("write heard");
    let heard_beeps = beeps(&heard);
    // Where in the received bytes the audio at a decoded position (seconds) ends: at the
    // constant bitrate for MP3, at the end of the page holding it for Ogg/Opus (VBR).
    let pages = (format == "opus").then(|| opus_pages(&data[split..]));
    let byte_of = |t: f64| match &pages {
        None => Some(split + (t * BYTES_PER_SECOND) as usize),
        Some((pre_skip, pages)) => {
            let packet = ((t * 48000.0) as usize + pre_skip) / OPUS_PACKET;
            pages.iter().find(|(_, packets_before)| *packets_before > packet).map(|(end, _)| split + end - 1)
        }
    };
    // When the source wrote the bytes that decode to position `s` (seconds) of its stream.
    let written = |s: f64| {
        let write = (s.max(0.0) * BYTES_PER_SECOND) as usize / SOURCE_WRITE;
        start + Duration::from_secs_f64((write * SOURCE_WRITE) as f64 / BYTES_PER_SECOND)
    };
    let mut latencies = Vec::new();
    for t in &heard_beeps {
        let Some(offset) = byte_of(*t) else { continue };
        let Some(&(_, arrived)) = arrivals.iter().find(|(len, _)| *len > offset) else { continue };
        // When the source wrote the bytes of each beep, and the last one written before this
        // arrival (beeps are a second apart), give or take the rounding of decoded positions to
        // bytes: a relayed beep may seem to arrive a few ms before it was sent.
        let latest = sent_beeps
            .iter()
            .map(|&s| seconds_between(written(s), arrived))
            .filter(|&l| l > -ROUNDING_S)
            .min_by(f64::total_cmp);
        latencies.extend(latest);
    }
    latencies.sort_by(f64::total_cmp);
    println!(
        "MP3 128 kbit/s pushed by a source client; {format} listener, latency={latency}, chunks of {chunk_bytes} bytes, passthrough={passthrough}, opus_page_ms={opus_page_ms}: {} beeps sent, {} heard",
        sent_beeps.len(),
        heard_beeps.len()
    );
    if latencies.is_empty() {
        println!("no beep matched");
    } else {
        let p = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize] * 1000.0;
        println!("source bytes -> listener bytes: min {:.0} ms, median {:.0} ms, max {:.0} ms", p(0.0), p(0.5), p(1.0));
    }

    // Events: the source's stream starts at the channel's stream_time of `source_connected`.
    // An event is late by its arrival minus when the source sent the newest audio it describes
    // (its stream_time). Level events come 10 a second and describe the 0.1 s before them;
    // onsets come when the detector has seen enough after the onset to be sure of it. The first
    // second is left out: GStreamer finds the stream's type before it decodes anything, and the
    // blocks held meanwhile come out at once.
    let Some(offset) = events.iter().find(|(name, ..)| name == "source_connected").map(|e| e.1) else {
        println!("no source_connected event");
        return;
    };
    let late = |kind: &str| {
        let mut l: Vec<f64> = events
            .iter()
            // Only events about the source's audio: after its last byte, the channel plays
            // silence (a source that stops sending is covered after 0.25 s).
            .filter(|(name, t, _)| name == kind && *t > offset + STARTUP_S && *t <= offset + SECONDS)
            .map(|(_, t, arrived)| seconds_between(written(t - offset), *arrived))
            .collect();
        l.sort_by(f64::total_cmp);
        l
    };
    for kind in ["level", "onset"] {
        let l = late(kind);
        if l.is_empty() {
            println!("no {kind} event");
            continue;
        }
        let p = |q: f64| l[((l.len() - 1) as f64 * q).round() as usize] * 1000.0;
        println!(
            "source bytes -> WebSocket {kind} event ({} events): min {:.0} ms, median {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            l.len(),
            p(0.0),
            p(0.5),
            p(0.99),
            p(1.0)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
