//! On-demand server benchmark (loopback only, bounded): starts `timeside serve` (release build)
//! on a fresh data directory and measures, in one run:
//!
//! - throughput: N files of S seconds (pink noise FLAC, all different) through the `standard`
//!   experience via the API (a selection, one task), against `timeside run
//!   pipelines/standard.toml` on the same files with the same parallelism; wall time and CPU;
//! - cache: the same task again (every result reused), milliseconds per item;
//! - streams: time to first byte of `stream.mp3?start=1800` on a one-hour FLAC, and a
//!   `download/original` with `Range` against reading the file with `cat`;
//! - API: `GET /items?page_size=50` on 10 000 items (`--items N`) with 50 concurrent clients,
//!   p50/p99: first with no list page kept in the server's memory, then again with the pages
//!   kept; then keyset pages (`cursor`), each client walking the list from its first page, which
//!   no memory keeps.
//!
//!   bash benches/on_demand.sh              # 20 files of 240 s, 2 workers
//!   bash benches/on_demand.sh 4 60 2       # files, seconds, workers
//!
//! Client and server share the machine: figures are what both together get from it.

mod api;
mod common;
use api::{KeepAlive, TOKEN, add_items, cpu_seconds, json, percentile, request, run_task, synth, write_server_config};
use common::{arg, start_server};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[tokio::main]
async fn main() {
    let server_bin = arg("--server", "target/release/timeside");
    let count: usize = arg("--files", "20").parse().expect("--files");
    let seconds: u32 = arg("--seconds", "240").parse().expect("--seconds");
    let workers: usize = arg("--workers", "2").parse().expect("--workers");
    let dir = tempfile::tempdir().expect("tmp");
    let media = dir.path().join("media");
    std::fs::create_dir_all(&media).expect("mkdir");
    eprintln!("making {count} files of {seconds} s and a one-hour FLAC ...");
    let files: Vec<PathBuf> = (0..count)
        .map(|i| {
            let f = media.join(format!("noise-{i:02}.flac"));
            synth(&f, seconds, "pinknoise");
            f
        })
        .collect();
    let hour = media.join("hour.flac");
    let api_only = arg("--api-only", "no") == "yes";
    if !api_only {
        synth(&hour, 3600, "sine 440");
    }

    // `--postgres yes`: the server on a scratch PostgreSQL database instead of SQLite.
    let postgres = if arg("--postgres", "no") == "yes" {
        Some(timeside::storage::db::ScratchDatabase::create().await.expect("PostgreSQL"))
    } else {
        None
    };
    let database = postgres.as_ref().map(|d| d.url.clone());
    let config = write_server_config(dir.path(), &media, workers, database.as_deref());
    let (server, addr) = start_server(&server_bin, &config).await;
    let pid = server.id().expect("pid");
    let experiences = json(addr, "GET", "/api/v1/experiences", serde_json::Value::Null).await;
    let standard = experiences["results"]
        .as_array()
        .expect("list")
        .iter()
        .find(|e| e["title"] == "standard")
        .and_then(|e| e["uuid"].as_str())
        .expect("standard")
        .to_string();

    // `--api-only`: just the item list (quick to repeat).
    let items = if api_only {
        add_items(addr, &files[..1]).await
    } else {
        media_benchmarks(addr, &server_bin, dir.path(), &files, &hour, &standard, workers, seconds, pid).await
    };
    // The item list with 10 000 items: copies of one row, straight into the database, before
    // any list is asked for (the server keeps list pages until it changes an item itself).
    let total: usize = arg("--items", "10000").parse().expect("--items");
    fill_items(&dir.path().join("data"), database.as_deref(), total.saturating_sub(items.len())).await;
    let per_client: usize = arg("--requests", "100").parse().expect("--requests");
    println!(
        "\n## API: GET /items?page_size=50 over {total} items, {LIST_CLIENTS} clients (keep-alive) x {per_client} requests"
    );
    // The same load twice: first with no page kept (as after any change to the items: each
    // page's first requests read the database), then with every page kept; then keyset pages.
    for (round, keyset) in [
        ("numbered pages, random, first (no page kept yet)", false),
        ("numbered pages, random, again (pages kept)", false),
        ("keyset pages, each client from the first page on", true),
    ] {
        let (l, rate) = list_load(addr, per_client, keyset).await;
        println!(
            "{round}: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms, {rate:.0} requests/s",
            percentile(&l, 0.5),
            percentile(&l, 0.99),
            l[l.len() - 1],
        );
    }
    depth_latencies(addr, total).await;
    drop(server);
}

/// One client, nothing kept in the server's memory: what a page costs at a depth of the list,
/// numbered (`page`: a count and an offset scan) against keyset (`cursor`: an index seek), the
/// median of 5 requests each (pages of sizes 50 to 46, so that none was kept before).
async fn depth_latencies(addr: std::net::SocketAddr, total: usize) {
    println!("\none client, pages not kept: median of 5 requests, ms");
    println!("| page | numbered (count + offset) | keyset (cursor) |\n|---|---|---|");
    let mut conn = KeepAlive::connect(addr).await;
    let depths: Vec<usize> = [1, 10, 100, 1000].into_iter().filter(|d| d * 50 <= total).collect();
    let timed = async |conn: &mut KeepAlive, path: String| {
        let started = Instant::now();
        let (status, body) = conn.get_body(&path).await;
        assert_eq!(status, 200, "{path}");
        (started.elapsed().as_secs_f64() * 1000.0, body)
    };
    let (mut cursor, mut page) = (String::new(), 1);
    for depth in depths {
        while page < depth {
            let (_, body) = timed(&mut conn, format!("/api/v1/items?page_size=50&cursor={cursor}")).await;
            let answer: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
            cursor = answer["next_cursor"].as_str().expect("a next page").to_string();
            page += 1;
        }
        let mut numbered = Vec::new();
        let mut keyset = Vec::new();
        for size in 46..=50 {
            numbered.push(timed(&mut conn, format!("/api/v1/items?page={depth}&page_size={size}")).await.0);
            keyset.push(timed(&mut conn, format!("/api/v1/items?page_size={size}&cursor={cursor}")).await.0);
        }
        numbered.sort_by(f64::total_cmp);
        keyset.sort_by(f64::total_cmp);
        println!("| {depth} | {:.2} | {:.2} |", numbered[2], keyset[2]);
    }
}

const LIST_CLIENTS: usize = 50;

/// `LIST_CLIENTS` clients each asking for `per_client` pages of 50 items (pages 1-200 in a
/// random order of their own, or page 1 with `--first-page yes`; or with `keyset`, the pages
/// that follow from the first by their cursors): sorted latencies (ms) and requests per second.
async fn list_load(addr: std::net::SocketAddr, per_client: usize, keyset: bool) -> (Vec<f64>, f64) {
    let first_page = arg("--first-page", "no") == "yes";
    let latencies = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let t = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..LIST_CLIENTS {
        let latencies = latencies.clone();
        tasks.push(tokio::spawn(async move {
            // One keep-alive connection per client, as a browser or an API client keeps one.
            let mut conn = KeepAlive::connect(addr).await;
            let mut state = 0x9E37_79B9_7F4A_7C15u64 ^ (c as u64 + 1).wrapping_mul(0xD1B5_4A32_D192_ED03);
            let mut cursor = String::new();
            for _ in 0..per_client {
                if keyset {
                    let started = Instant::now();
                    let (status, body) = conn.get_body(&format!("/api/v1/items?page_size=50&cursor={cursor}")).await;
                    assert_eq!(status, 200);
                    latencies.lock().expect("lock").push(started.elapsed().as_secs_f64() * 1000.0);
                    let page: serde_json::Value = serde_json::from_slice(&body).expect("JSON");
                    cursor = page["next_cursor"].as_str().unwrap_or_default().to_string();
                    continue;
                }
                // xorshift: each client its own sequence, not in step with the others.
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let page = if first_page { 1 } else { 1 + state % 200 };
                let started = Instant::now();
                let status = conn.get(&format!("/api/v1/items?page={page}&page_size=50")).await;
                assert_eq!(status, 200);
                latencies.lock().expect("lock").push(started.elapsed().as_secs_f64() * 1000.0);
            }
        }));
    }
    for t in tasks {
        t.await.expect("client");
    }
    let rate = latencies.lock().expect("lock").len() as f64 / t.elapsed().as_secs_f64();
    let mut l = latencies.lock().expect("lock").clone();
    l.sort_by(f64::total_cmp);
    (l, rate)
}

/// Throughput, cache and streams (see the module's comment); returns the items added.
#[allow(clippy::too_many_arguments)]
async fn media_benchmarks(
    addr: std::net::SocketAddr,
    server_bin: &str,
    dir: &Path,
    files: &[PathBuf],
    hour: &Path,
    standard: &str,
    workers: usize,
    seconds: u32,
    pid: u32,
) -> Vec<String> {
    let count = files.len();
    let audio_s = count as f64 * seconds as f64;
    // Reference: `timeside run` with the same parallelism.
    let out = dir.join("run-out");
    let started = Instant::now();
    let mut run = std::process::Command::new(server_bin);
    run.args(["run", "pipelines/standard.toml", "-o"]).arg(&out).args(["-j", &workers.to_string()]).args(files);
    let mut child = run.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().expect("run");
    let run_pid = child.id();
    let mut run_cpu = 0.0;
    while child.try_wait().expect("wait").is_none() {
        run_cpu = cpu_seconds(run_pid).max(run_cpu);
        std::thread::sleep(Duration::from_millis(50));
    }
    let run_wall = started.elapsed().as_secs_f64();

    // The API: add the items (read in place from the media root), one task on a selection.
    let t0 = Instant::now();
    let items = add_items(addr, files).await;
    let add_s = t0.elapsed().as_secs_f64();
    let cpu0 = cpu_seconds(pid);
    let api_wall = run_task(addr, standard, &items).await.as_secs_f64();
    let api_cpu = cpu_seconds(pid) - cpu0;
    // The same again: every result comes from the cache.
    let cached = run_task(addr, standard, &items).await.as_secs_f64();

    println!("\n## Throughput: {count} files x {seconds} s through `standard`, {workers} workers");
    println!("| run | wall | x realtime | CPU |");
    println!("|---|---|---|---|");
    println!("| `timeside run -j {workers}` | {run_wall:.2} s | {:.0}x | {run_cpu:.1} s |", audio_s / run_wall);
    println!("| API task (selection) | {api_wall:.2} s | {:.0}x | {api_cpu:.1} s |", audio_s / api_wall);
    println!(
        "server overhead: {:+.1} % wall; adding the {count} items (media info + SHA-256): {add_s:.2} s",
        (api_wall / run_wall - 1.0) * 100.0
    );
    println!("cache: the same task again: {cached:.3} s, {:.1} ms per item", cached * 1000.0 / count as f64);

    // Streams.
    let hour_item = add_items(addr, &[hour.to_path_buf()]).await.remove(0);
    let mut ttfb = Vec::new();
    for _ in 0..10 {
        let (status, _, first) =
            request(addr, "GET", &format!("/api/v1/items/{hour_item}/stream.mp3?start=1800"), "").await;
        assert_eq!(status, 200);
        ttfb.push(first.as_secs_f64() * 1000.0);
    }
    ttfb.sort_by(f64::total_cmp);
    println!(
        "\n## Streams (one-hour FLAC, {:.0} MiB)",
        std::fs::metadata(hour).expect("size").len() as f64 / 1048576.0
    );
    println!(
        "stream.mp3?start=1800 time to first byte, 10 requests: median {:.1} ms, max {:.1} ms",
        percentile(&ttfb, 0.5),
        ttfb[ttfb.len() - 1]
    );
    let len = std::fs::metadata(hour).expect("size").len();
    let t = Instant::now();
    let (status, body, _) = request(addr, "GET", &format!("/api/v1/items/{hour_item}/download/original"), "").await;
    let served = t.elapsed().as_secs_f64();
    assert_eq!((status, body.len() as u64), (200, len));
    let t = Instant::now();
    let mut range_total = 0u64;
    let step = len / 8;
    for i in 0..8 {
        let (a, b) = (i * step, if i == 7 { len - 1 } else { (i + 1) * step - 1 });
        let (status, body, _) = range(addr, &format!("/api/v1/items/{hour_item}/download/original"), a, b).await;
        assert_eq!(status, 206);
        range_total += body.len() as u64;
    }
    let ranged = t.elapsed().as_secs_f64();
    assert_eq!(range_total, len);
    let t = Instant::now();
    let cat = std::process::Command::new("cat").arg(hour).output().expect("cat");
    let cat_s = t.elapsed().as_secs_f64();
    assert_eq!(cat.stdout.len() as u64, len);
    let mib = len as f64 / 1048576.0;
    println!(
        "download/original: {:.0} MiB/s whole, {:.0} MiB/s in 8 Range requests; `cat` of the file: {:.0} MiB/s",
        mib / served,
        mib / ranged,
        mib / cat_s
    );
    let t = Instant::now();
    let (status, mp3, _) = request(addr, "GET", &format!("/api/v1/items/{hour_item}/download/mp3"), "").await;
    let first_mp3 = t.elapsed().as_secs_f64();
    assert_eq!(status, 200);
    let t = Instant::now();
    let (_, again, _) = request(addr, "GET", &format!("/api/v1/items/{hour_item}/download/mp3"), "").await;
    let cached_mp3 = t.elapsed().as_secs_f64();
    assert_eq!(again.len(), mp3.len());
    println!(
        "download/mp3 of the hour: first (transcoded once) {first_mp3:.1} s ({:.0}x realtime), then from the cache {:.0} MiB/s",
        3600.0 / first_mp3,
        mp3.len() as f64 / 1048576.0 / cached_mp3
    );

    items
}

async fn range(addr: std::net::SocketAddr, path: &str, a: u64, b: u64) -> (u16, Vec<u8>, Duration) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let started = Instant::now();
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let head = format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {TOKEN}\r\nRange: bytes={a}-{b}\r\n\r\n"
    );
    s.write_all(head.as_bytes()).await.expect("send");
    let mut data = Vec::new();
    s.read_to_end(&mut data).await.expect("read");
    let at = data.windows(4).position(|w| w == b"\r\n\r\n").unwrap_or(0);
    let status =
        String::from_utf8_lossy(&data[..at]).split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, data[at + 4..].to_vec(), started.elapsed())
}

/// Copies the newest item `n` times with new ids, in one transaction (the server keeps
/// running: SQLite in WAL mode takes a second writer in turn).
async fn fill_items(data_dir: &Path, database: Option<&str>, n: usize) {
    let store = timeside::storage::Store::open(data_dir, database).await.expect("store");
    let mut tx = store.pool.begin().await.expect("begin");
    for i in 0..n {
        sqlx::query(
            "INSERT INTO items (uuid, title, description, author, is_public, source_file, source_path, source_url, file_name,
                mime_type, codec, container, bitrate, audio_duration, samplerate, channels, size_bytes, sha256, artist, album,
                tags, date_added, date_modified)
             SELECT $1, title || ' ' || $2, description, author, is_public, source_file, source_path, source_url, file_name,
                mime_type, codec, container, bitrate, audio_duration, samplerate, channels, size_bytes, sha256, artist, album,
                tags, $3, $3 FROM items ORDER BY date_added DESC LIMIT 1",
        )
        .bind(uuid::Uuid::new_v4().to_string())
        .bind(i.to_string())
        .bind(format!("2020-01-01T00:00:{:02}.{:03}Z", (i / 1000) % 60, i % 1000))
        .execute(&mut *tx)
        .await
        .expect("insert");
    }
    tx.commit().await.expect("commit");
}
