//! Web player benchmark in a real browser (loopback only, bounded): starts `timeside serve`
//! (release build) with the demo channel and a long item (three hours by default) read in
//! place, waits for its ingest, then runs `benches/player.mjs` in Debian's Chromium: first
//! overview, bytes before playback, zoom and scroll steps, the page's heap over MINUTES of use,
//! and the live view's receipt-to-paint latency and heap.
//!
//!   bash benches/player.sh            # three hours, ten minutes of each view
//!   bash benches/player.sh 3 2        # hours, minutes

mod api;
mod common;
use api::{TOKEN, add_items, music_like_flac, wait_for_ingest, write_server_config_with_channels};
use common::{arg, start_server};

#[tokio::main]
async fn main() {
    let server_bin = arg("--server", "target/release/timeside");
    let hours: f64 = arg("--hours", "3").parse().expect("--hours");
    let minutes = arg("--minutes", "10");
    let dir = tempfile::tempdir().expect("tmp");
    let media = dir.path().join("media");
    std::fs::create_dir_all(&media).expect("mkdir");
    let file = media.join("long.flac");
    eprintln!("making {hours} h of music-like audio ...");
    music_like_flac(&media, &file, (hours * 3600.0) as u32);
    // The bench's server, with the demo channel of the shipped config.
    let demo = "[[channels]]\nid = \"demo\"\nsource = \"demo\"\nloop = true\n";
    let config = write_server_config_with_channels(dir.path(), &media, 2, None, demo);
    let (_server, addr) = start_server(&server_bin, &config).await;
    let uuid = add_items(addr, std::slice::from_ref(&file)).await.remove(0);
    wait_for_ingest(addr, &uuid).await;
    eprintln!("item ingested; the browser runs for about {} minutes ...", 2 * minutes.parse::<u32>().unwrap_or(10));
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/benches/player.mjs");
    let status = tokio::process::Command::new("node")
        .arg(script)
        .args([&format!("http://{addr}"), TOKEN, &uuid, &minutes])
        .kill_on_drop(true)
        .status()
        .await
        .expect("node (scripts/install-deps.sh installs the npm packages)");
    assert!(status.success(), "benches/player.mjs failed");
}
