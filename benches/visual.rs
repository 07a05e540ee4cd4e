//! Visual data benchmark (loopback only, bounded): starts `timeside serve` (release build) on a
//! fresh data directory, adds a long item (three hours by default) read in place, times its
//! ingest task (the peaks pyramid), then measures window requests with 50 concurrent clients:
//!
//! - `waveform` windows from the stored pyramid: random start, random length from 6 s to the
//!   whole item, 1000 pixels (p50, p99);
//! - `waveform` windows decoded on demand: 10 s at 2000 pixels (220 frames per pixel, finer
//!   than the pyramid), random start;
//!
//!   both closed loop (each client sends its next request when the last is answered: what the
//!   server gives at most) and paced like players (10 and 1 requests a second per client);
//! - `peaks.dat` of the whole item at 4096 frames per pixel (what peaks.js loads);
//! - `spectrogram.png` tiles of 10 s, 1024x256, first (rendered) and again (kept); tiles of
//!   one hour, drawn from the stored coarse spectrogram.
//!
//!   bash benches/visual.sh            # a three-hour item
//!   bash benches/visual.sh 1          # hours
//!
//! Client and server share the machine: figures are what both together get from it.

mod api;
mod common;
use api::{KeepAlive, add_items, music_like_flac, percentile, wait_for_ingest, write_server_config};
use common::{arg, start_server};
use std::time::{Duration, Instant};

const CLIENTS: usize = 50;

/// A small deterministic generator (no dependency for random numbers).
struct Lcg(u64);

impl Lcg {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// How each client sends its requests.
#[derive(Clone, Copy)]
enum Pace {
    /// The next as soon as the last is answered: the most the server gives (closed loop).
    Flat,
    /// One every this long (a player scrolling or zooming), or at once when the last took
    /// longer.
    Every(Duration),
}

/// `CLIENTS` keep-alive clients, each sending `per_client` requests from `path(client, rng)`:
/// sorted latencies in ms and requests per second.
async fn load(
    addr: std::net::SocketAddr,
    per_client: usize,
    pace: Pace,
    path: fn(&mut Lcg, f64) -> String,
    duration: f64,
) -> (Vec<f64>, f64) {
    let started = Instant::now();
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            tokio::spawn(async move {
                let mut rng = Lcg(c as u64 * 7919 + 1);
                let mut conn = KeepAlive::connect(addr).await;
                if let Pace::Every(interval) = pace {
                    // Spread over the interval, as independent users are.
                    tokio::time::sleep(interval * c as u32 / CLIENTS as u32).await;
                }
                let mut latencies = Vec::with_capacity(per_client);
                for _ in 0..per_client {
                    let p = path(&mut rng, duration);
                    let t = Instant::now();
                    let status = tokio::time::timeout(Duration::from_secs(60), conn.get(&p)).await.expect("in time");
                    assert_eq!(status, 200, "{p}");
                    latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                    if let Pace::Every(interval) = pace {
                        tokio::time::sleep_until((t + interval).into()).await;
                    }
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for c in clients {
        all.extend(c.await.expect("client"));
    }
    let rate = all.len() as f64 / started.elapsed().as_secs_f64();
    all.sort_by(f64::total_cmp);
    (all, rate)
}

fn report(what: &str, (l, rate): (Vec<f64>, f64)) {
    println!(
        "{what}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {rate:.0} requests/s ({} requests)",
        percentile(&l, 0.5),
        percentile(&l, 0.99),
        l[l.len() - 1],
        l.len()
    );
}

static ITEM: std::sync::OnceLock<String> = std::sync::OnceLock::new();

fn item() -> &'static str {
    ITEM.get().map(String::as_str).unwrap_or_default()
}

#[tokio::main]
async fn main() {
    let server_bin = arg("--server", "target/release/timeside");
    let hours: f64 = arg("--hours", "3").parse().expect("--hours");
    let dir = tempfile::tempdir().expect("tmp");
    let media = dir.path().join("media");
    std::fs::create_dir_all(&media).expect("mkdir");
    let seconds = (hours * 3600.0) as u32;
    let file = media.join("long.flac");
    eprintln!("making {hours} h of music-like audio ...");
    music_like_flac(&media, &file, seconds);
    let config = write_server_config(dir.path(), &media, 2, None);
    let (server, addr) = start_server(&server_bin, &config).await;

    let added = Instant::now();
    let uuid = add_items(addr, std::slice::from_ref(&file)).await.remove(0);
    wait_for_ingest(addr, &uuid).await;
    let ingest = added.elapsed().as_secs_f64();
    let stored = |ext: &str| -> u64 {
        walk(&dir.path().join("data/results"))
            .iter()
            .filter(|p| p.extension().is_some_and(|e| e == ext))
            .map(|p| p.metadata().map_or(0, |m| m.len()))
            .sum()
    };
    let (pyramid, spectrogram) = (stored("tspk"), stored("tssg"));
    let mp3 = 16_000.0 * f64::from(seconds);
    println!(
        "## Visual data: a {hours} h stereo item (44.1 kHz FLAC, {:.0} MB)",
        file.metadata().map_or(0, |m| m.len()) as f64 / 1e6
    );
    println!(
        "ingest (add by path, probe, hash, ingest task: pyramid and coarse spectrogram): {ingest:.1} s ({:.0}x realtime); \
         pyramid {:.2} MB = {:.2} % of a 128 kbit/s MP3 ({:.1} MB); coarse spectrogram {:.2} MB = {:.2} %",
        f64::from(seconds) / ingest,
        pyramid as f64 / 1e6,
        pyramid as f64 / mp3 * 100.0,
        mp3 / 1e6,
        spectrogram as f64 / 1e6,
        spectrogram as f64 / mp3 * 100.0,
    );
    ITEM.set(uuid).expect("once");
    let duration = f64::from(seconds);
    println!("\n## Window requests, {CLIENTS} clients (keep-alive)");
    let stored = |rng: &mut Lcg, d: f64| {
        let len = 6.0 * (d / 6.0).powf(rng.unit());
        let start = (d - len) * rng.unit();
        format!("/api/v1/items/{}/waveform?start={start:.3}&stop={:.3}&nb_pixels=1000", item(), start + len)
    };
    let decoded = |rng: &mut Lcg, d: f64| {
        let start = (d - 10.0) * rng.unit();
        format!("/api/v1/items/{}/waveform?start={start:.3}&stop={:.3}&nb_pixels=2000", item(), start + 10.0)
    };
    let every = |ms| Pace::Every(Duration::from_millis(ms));
    report(
        "waveform, stored levels (6 s to the whole item, 1000 px), closed loop",
        load(addr, 100, Pace::Flat, stored, duration).await,
    );
    report("waveform, stored levels, each client 10 requests/s", load(addr, 50, every(100), stored, duration).await);
    report(
        "waveform, decoded on demand (10 s, 2000 px: 220 frames per pixel), closed loop",
        load(addr, 10, Pace::Flat, decoded, duration).await,
    );
    report(
        "waveform, decoded on demand, each client 1 request/s",
        load(addr, 10, every(1000), decoded, duration).await,
    );
    report(
        "peaks.dat, whole item, 4096 frames per pixel, 8 bits",
        load(
            addr,
            4,
            Pace::Flat,
            |_, _| format!("/api/v1/items/{}/peaks.dat?samples_per_pixel=4096&bits=8", item()),
            duration,
        )
        .await,
    );
    // The same ten tiles for every client: the first requests render them, the rest read them.
    let tiles = |rng: &mut Lcg, d: f64| {
        let start = ((rng.unit() * 10.0).floor() * (d - 10.0) / 10.0).round();
        format!("/api/v1/items/{}/spectrogram.png?start={start}&stop={}&width=1024&height=256", item(), start + 10.0)
    };
    report(
        "spectrogram.png, 10 s tiles, first requests (rendered, 10 distinct tiles)",
        load(addr, 1, Pace::Flat, tiles, duration).await,
    );
    report("spectrogram.png, 10 s tiles, again (kept)", load(addr, 20, Pace::Flat, tiles, duration).await);
    // Ten one-hour tiles, or the whole item: drawn from the stored coarse spectrogram.
    let long_tiles = |rng: &mut Lcg, d: f64| {
        let len = 3600f64.min(d);
        let start = ((rng.unit() * 10.0).floor() * (d - len) / 10.0).round();
        format!("/api/v1/items/{}/spectrogram.png?start={start}&stop={}&width=1024&height=256", item(), start + len)
    };
    report(
        "spectrogram.png, 1 h tiles from the stored spectrogram, first requests (10 distinct tiles)",
        load(addr, 1, Pace::Flat, long_tiles, duration).await,
    );
    drop(server);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
