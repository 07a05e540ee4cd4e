//! The web player in a real browser: Debian's Chromium, headless, driven by playwright-core
//! scripts (`tests/browser/*.mjs`) against a real server on 127.0.0.1. `scripts/install-deps.sh`
//! installs Chromium and the npm packages (`web/package-lock.json`).

use crate::on_demand::{Engine, Env, config, tone};
use std::time::Duration;

/// Runs `node tests/browser/{script}.mjs args...` and fails with its output unless it passes.
pub(crate) async fn browser_script(script: &str, args: &[&str]) {
    let path = format!("{}/tests/browser/{script}.mjs", env!("CARGO_MANIFEST_DIR"));
    let started = std::time::Instant::now();
    let run = tokio::process::Command::new("node").arg(&path).args(args).kill_on_drop(true).output();
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .unwrap_or_else(|_| panic!("{script}: no answer in 120 s"))
        .unwrap_or_else(|e| panic!("node {path}: {e} (scripts/install-deps.sh installs Node.js packages)"));
    eprintln!("browser script {script}: {:.1} s", started.elapsed().as_secs_f64());
    assert!(
        out.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_lists_an_uploaded_file_for_its_owner() {
    let env = Env::new(Engine::Sqlite).await;
    let server = timeside::server::start(config(&env, 1, "", "")).await.expect("start");
    server.state.store.add_user("ana", "ana-password", false).await.expect("user");
    let wav = tone(env.path(), "three seconds.wav", 3.0);
    let base = format!("http://{}", server.addr);
    let shot = std::env::var("TIMESIDE_SCREENSHOTS").ok().map(|d| format!("{d}/library.png")).unwrap_or_default();
    browser_script("library", &[&base, "ana", "ana-password", wav.to_str().expect("path"), "3", &shot]).await;
    server.shutdown().await;
}

/// A collection of 130 items browses in the library: keyset pages as the list scrolls, the
/// file-name column, sorting, and filters by collection and ingest state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_browses_sorts_and_filters_a_collection() {
    const ITEMS: usize = 130;
    let env = Env::new(Engine::Sqlite).await;
    let archive = env.path().join("archive");
    std::fs::create_dir_all(&archive).expect("mkdir");
    let mut manifest = Vec::new();
    for n in 0..ITEMS {
        // Lengths differ by a sample or more: every file is an item of its own.
        let name = format!("piece{n:03}.wav");
        tone(&archive, &name, 0.05 + n as f64 / 44100.0);
        let collection = if n % 2 == 1 { "B" } else { "A" };
        manifest.push(serde_json::json!({ "path": name, "title": format!("Piece {n:03}"), "collection": collection }));
    }
    // Ingests wait for a worker that never comes (none): every item is ingesting, but the
    // first, whose ingest is cancelled.
    let extra = format!("[live]\nmedia_roots = [\"{}\"]\n[items]\ningest_experience = \"ingest\"\n", archive.display());
    let server = timeside::server::start(config(&env, 0, "", &extra)).await.expect("start");
    let addr = server.addr;
    let body = serde_json::json!({ "path": archive, "manifest": manifest, "is_public": true });
    let r = crate::http::json(addr, "POST", "/api/v1/items/import", Some("the-api-token"), &body).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let first: serde_json::Value = serde_json::from_str(r.text().lines().next().expect("a line")).expect("JSON");
    let task = first["ingest_task"].as_str().expect("an ingest task");
    let cancel = format!("/api/v1/tasks/{task}/cancel");
    let r = crate::http::json(addr, "POST", &cancel, Some("the-api-token"), &serde_json::json!({})).await;
    assert!(r.status < 300, "{}", r.text());
    browser_script("collection", &[&format!("http://{addr}"), &ITEMS.to_string()]).await;
    server.shutdown().await;
}

/// An item page opened while the item's ingest waits (PostgreSQL, no worker yet) draws the
/// item when a worker process has run the ingest: its events cross processes to the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_page_draws_itself_when_its_ingest_ends() {
    use tokio::io::AsyncBufReadExt;
    let env = Env::new(Engine::Postgres).await;
    // Windows over a second are read from the stored peaks only (as an hour-long item's are).
    let extra = "[items]\ningest_experience = \"ingest\"\ndecode_window_max_s = 1.0\n";
    let server = timeside::server::start(config(&env, 0, "", extra)).await.expect("start");
    let token = crate::on_demand::user(&server, "ana", false).await;
    // Long enough that the whole item's pixels are coarser than the stored ones.
    let wav = tone(env.path(), "later.wav", 30.0);
    let item = crate::on_demand::upload(server.addr, &token, &wav, &[("is_public", "true")]).await;
    let uuid = item["uuid"].as_str().expect("uuid");
    let path = format!("{}/tests/browser/ingest.mjs", env!("CARGO_MANIFEST_DIR"));
    let mut node = tokio::process::Command::new("node")
        .arg(&path)
        .arg(format!("http://{}", server.addr))
        .arg(uuid)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node");
    let mut lines = tokio::io::BufReader::new(node.stdout.take().expect("stdout")).lines();
    let waiting = tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await.expect("in time");
    if waiting.expect("read").as_deref() != Some("waiting") {
        let out = node.wait_with_output().await.expect("node");
        panic!("the page did not wait for the ingest:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    let mut worker = std::process::Command::new(env!("CARGO_BIN_EXE_timeside"))
        .arg("worker")
        .args(["--database", &env.database_url().expect("PostgreSQL")])
        .arg("--data-dir")
        .arg(env.path().join("data"))
        .args(["--jobs", "1", "--config"])
        .arg(env.path().join("server.toml"))
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("timeside worker");
    let out = tokio::time::timeout(Duration::from_secs(120), node.wait_with_output()).await.expect("in time");
    let _ = worker.kill();
    let _ = worker.wait();
    let out = out.expect("node");
    let task = item["ingest_task"].as_str().expect("an ingest task");
    let task = crate::http::get(server.addr, &format!("/api/v1/tasks/{task}"), Some(&token)).await.json();
    assert!(out.status.success(), "ingest.mjs failed (task: {task}):\n{}", String::from_utf8_lossy(&out.stderr));
    server.shutdown().await;
}

/// `/` is the player's page and `/web/` its files, with their types and an ETag; nothing
/// outside `web/` (debug builds read the folder) and none of its test tools are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_player_is_served_and_nothing_beside_it() {
    let env = Env::new(Engine::Sqlite).await;
    let server = timeside::server::start(config(&env, 1, "", "")).await.expect("start");
    let addr = server.addr;
    let page = crate::http::get(addr, "/", None).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(page.text().contains("/web/js/app.js"), "{}", page.text());
    let app = crate::http::get(addr, "/web/js/app.js", None).await;
    assert_eq!((app.status, app.header("content-type")), (200, Some("text/javascript; charset=utf-8")));
    let etag = app.header("etag").expect("etag").to_string();
    let again = crate::http::send(addr, "GET", "/web/js/app.js", &[("If-None-Match", &etag)], b"").await;
    assert_eq!(again.status, 304);
    for path in [
        "/web/../Cargo.toml",
        "/web/%2e%2e/Cargo.toml",
        "/web/js/../../Cargo.toml",
        "/web/package.json",
        "/web/node_modules/playwright-core/package.json",
        "/web/nothing.js",
    ] {
        let r = crate::http::get(addr, path, None).await;
        assert_eq!(r.status, 404, "{path}: {}", r.text());
    }
    server.shutdown().await;
}

/// A server with `server_extra` in its `[server]` table and items ingested, and the uuid of a
/// `seconds`-long tone that ana (password `ana-password`) uploaded.
async fn server_with_a_tone(env: &Env, server_extra: &str, seconds: f64) -> (timeside::server::RunningServer, String) {
    let server = timeside::server::start(config(env, 1, server_extra, "[items]\n")).await.expect("start");
    let token = crate::on_demand::user(&server, "ana", false).await;
    let wav = tone(env.path(), "tone.wav", seconds);
    let item = crate::on_demand::upload(server.addr, &token, &wav, &[]).await;
    let uuid = item["uuid"].as_str().expect("uuid").to_string();
    (server, uuid)
}

/// A task over two items, one damaged after it was accepted: the tasks view reads "done, 1 of
/// 2 failed", names the failed item with its error, links the other's results, says how long
/// it ran and gives its results as a zip; a running task is cancelled from the page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tasks_view_names_the_items_a_task_could_not_analyse() {
    let env = Env::new(Engine::Sqlite).await;
    let (server, good) = server_with_a_tone(&env, "", 2.0).await;
    let ana = crate::http::json(
        server.addr,
        "POST",
        "/api/v1/token",
        None,
        &serde_json::json!({ "username": "ana", "password": "ana-password" }),
    )
    .await
    .json()["access"]
        .as_str()
        .expect("token")
        .to_string();
    let bad = crate::on_demand::upload(server.addr, &ana, &tone(env.path(), "bad.wav", 1.0), &[]).await;
    let bad_uuid = bad["uuid"].as_str().expect("uuid");
    std::fs::write(env.path().join("data/media").join(bad_uuid).join("bad.wav"), b"RIFF\x10\x00\x00\x00WAVEjunk")
        .expect("damage");
    let items = serde_json::json!({ "items": [good, bad_uuid] });
    let selection = crate::http::json(server.addr, "POST", "/api/v1/selections", Some(&ana), &items).await.json();
    let experience = crate::on_demand::experience(server.addr, "standard").await;
    let target = ("selection", selection["uuid"].as_str().expect("uuid"));
    let task = crate::on_demand::run_task(server.addr, &ana, &experience, target).await;
    let task = task["uuid"].as_str().expect("uuid").to_string();
    let ended = crate::on_demand::wait_task(server.addr, &ana, &task, Duration::from_secs(60)).await;
    assert_eq!(ended["status"], "done_with_errors", "{ended}");
    // A task that runs as slowly as the audio plays (30 s), for the page to cancel.
    let long = crate::on_demand::upload(server.addr, &ana, &tone(env.path(), "long.wav", 30.0), &[]).await;
    let slow = crate::on_demand::realtime_experience(server.addr, &ana).await;
    let running =
        crate::on_demand::run_task(server.addr, &ana, &slow, ("item", long["uuid"].as_str().expect("uuid"))).await;
    let running = running["uuid"].as_str().expect("uuid").to_string();
    crate::on_demand::wait_running(server.addr, &ana, &running).await;
    let base = format!("http://{}", server.addr);
    browser_script("tasks", &[&base, "ana", "ana-password", "standard", "bad.wav", "slow"]).await;
    let cancelled = crate::on_demand::wait_task(server.addr, &ana, &running, Duration::from_secs(10)).await;
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    server.shutdown().await;
}

/// The item view draws the overview and the zoomed window from the server's data, asks for a
/// finer window when zoomed in, shows the spectrogram tile and plays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_item_view_draws_zooms_and_plays() {
    let env = Env::new(Engine::Sqlite).await;
    let (server, uuid) = server_with_a_tone(&env, "", 20.0).await;
    let base = format!("http://{}", server.addr);
    let shot = std::env::var("TIMESIDE_SCREENSHOTS").ok().map(|d| format!("{d}/item.png")).unwrap_or_default();
    browser_script("item", &[&base, "ana", "ana-password", &uuid, "20", &shot]).await;
    server.shutdown().await;
}

/// The item view goes on past its access token's life: renewed without drawing the view again,
/// and a seek the server refuses with the old token goes on with a new one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_item_view_outlives_its_access_token() {
    let env = Env::new(Engine::Sqlite).await;
    // Two minutes: the player has not read the seek target (it reads a few MB ahead).
    let (server, uuid) = server_with_a_tone(&env, "access_token_s = 8\n", 120.0).await;
    let base = format!("http://{}", server.addr);
    browser_script("renewal", &[&base, "ana", "ana-password", &uuid, "120", "8"]).await;
    server.shutdown().await;
}

/// The item view follows its events across a server restart: its WebSocket connects again,
/// and an experience run after the restart fills the progress bar.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_item_view_follows_its_events_across_a_server_restart() {
    let env = Env::new(Engine::Sqlite).await;
    let (server, uuid) = server_with_a_tone(&env, "", 5.0).await;
    let addr = server.addr;
    let signals = env.path().join("signals");
    std::fs::create_dir_all(&signals).expect("signals dir");
    let args = [
        format!("http://{addr}"),
        "ana".into(),
        "ana-password".into(),
        uuid,
        "analysis".into(),
        signals.display().to_string(),
    ];
    let script = tokio::spawn(async move {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        browser_script("restart", &args).await
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !signals.join("connected").exists() && !script.is_finished() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.shutdown().await;
    // The same address, database and token key: the page's session stays valid.
    let mut again = config(&env, 1, "", "[items]\n");
    again.server.listen = addr.to_string();
    let server = timeside::server::start(again).await.expect("restart");
    std::fs::write(signals.join("restarted"), "").expect("signal");
    if let Err(e) = script.await {
        std::panic::resume_unwind(e.into_panic());
    }
    server.shutdown().await;
}

/// Six clicks, one a second from 0.5 s: the `analysis` experience run from the page, followed
/// to 100 %, and its onsets drawn as six markers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_experience_run_from_the_page_draws_its_onsets() {
    let env = Env::new(Engine::Sqlite).await;
    let server = timeside::server::start(config(&env, 1, "", "")).await.expect("start");
    let token = crate::on_demand::user(&server, "ana", false).await;
    let rate = 44100usize;
    let clicks: Vec<f32> = (0..6 * rate)
        .map(|i| {
            let in_click = i % rate >= rate / 2 && i % rate < rate / 2 + 88;
            if in_click {
                (0.8 * (2.0 * std::f64::consts::PI * 1000.0 * i as f64 / rate as f64).sin()) as f32
            } else {
                0.0
            }
        })
        .collect();
    let format = timeside::media::AudioFormat { samplerate: rate as u32, channels: 1 };
    let wav = crate::common::write_wav(env.path(), "clicks.wav", clicks, format, 16);
    let item = crate::on_demand::upload(server.addr, &token, &wav, &[]).await;
    let uuid = item["uuid"].as_str().expect("uuid");
    let base = format!("http://{}", server.addr);
    let shot = std::env::var("TIMESIDE_SCREENSHOTS").ok().map(|d| format!("{d}/analysis.png")).unwrap_or_default();
    browser_script("analysis", &[&base, "ana", "ana-password", uuid, "analysis", "6", &shot]).await;
    server.shutdown().await;
}

/// A region dragged and labelled with the mouse is stored, reloads, and shows in another
/// browser.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_annotation_made_with_the_mouse_is_stored_and_reloads() {
    let env = Env::new(Engine::Sqlite).await;
    let server = timeside::server::start(config(&env, 1, "", "")).await.expect("start");
    let token = crate::on_demand::user(&server, "ana", false).await;
    let wav = tone(env.path(), "twenty seconds.wav", 20.0);
    let item = crate::on_demand::upload(server.addr, &token, &wav, &[]).await;
    let uuid = item["uuid"].as_str().expect("uuid");
    let base = format!("http://{}", server.addr);
    let shot = std::env::var("TIMESIDE_SCREENSHOTS").ok().map(|d| format!("{d}/annotations.png")).unwrap_or_default();
    browser_script("annotations", &[&base, "ana", "ana-password", uuid, "20", &shot]).await;
    server.shutdown().await;
}

/// The live views: the meters read a -20 dBFS test channel within 0.5 dB, the demo channel's
/// meters move, and played, its analysis follows what is heard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_live_view_meters_a_test_channel_and_follows_the_demo() {
    let dir = tempfile::tempdir().expect("tempdir");
    let channels = r#"
[[channels]]
id = "demo"
name = "Demo channel"
source = "demo"
loop = true
[[channels]]
id = "tone"
name = "Test tone, -20 dBFS"
source = "launch:audiotestsrc is-live=true freq=1000 volume=0.1"
"#;
    let server = timeside::server::start(crate::server::load_config(dir.path(), "", channels)).await.expect("start");
    let base = format!("http://{}", server.addr);
    let shot = std::env::var("TIMESIDE_SCREENSHOTS").ok().map(|d| format!("{d}/live.png")).unwrap_or_default();
    browser_script("live", &[&base, "tone", "demo", &shot]).await;
    server.shutdown().await;
}

/// peaks.js 4 (npm), on a page of another origin, draws both its views, zooms and seeks with
/// our peaks at their defaults: a public item's `peaks.dat` from the server, and the file the
/// README's `timeside peaks` recipe writes. (peaks.js refuses 16-bit data.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peaks_js_reads_our_peaks_at_their_defaults() {
    let env = Env::new(Engine::Sqlite).await;
    let server = timeside::server::start(config(&env, 1, "", "[items]\n")).await.expect("start");
    let token = crate::on_demand::user(&server, "ana", false).await;
    let wav = tone(env.path(), "tone.wav", 6.0);
    let item = crate::on_demand::upload(server.addr, &token, &wav, &[("is_public", "true")]).await;
    let uuid = item["uuid"].as_str().expect("uuid").to_string();
    let ingest = item["ingest_task"].as_str().expect("ingest task");
    let task = crate::on_demand::wait_task(server.addr, &token, ingest, Duration::from_secs(60)).await;
    assert_eq!(task["status"], "done", "{task}");
    let dat = env.path().join("cli.dat");
    let out = crate::common::timeside(&[
        "peaks",
        wav.to_str().expect("path"),
        "-o",
        dat.to_str().expect("path"),
        "--bits",
        "8",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let base = format!("http://{}", server.addr);
    browser_script("peaksjs", &[&base, &uuid, dat.to_str().expect("path"), "6"]).await;
    server.shutdown().await;
}

/// Analyses read as they mean: 20 s of clicks (10 a second), 10 s of silence, 30 s of a
/// 440 Hz sine. Onsets are a density strip over the whole item and exact markers zoomed in;
/// the spectrogram and MFCC heat maps have legends (dB with a floor the user moves, MFCC per
/// row); pitch leaves the silence empty; units are written; the spectrogram pane has its
/// axis, legend and playhead; the waveform zooms vertically and shows samples as stems.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyses_read_as_they_mean_in_the_item_view() {
    use serde_json::json;
    let env = Env::new(Engine::Sqlite).await;
    let server = timeside::server::start(config(&env, 1, "", "")).await.expect("start");
    let token = crate::on_demand::user(&server, "ana", false).await;
    let addr = server.addr;
    let rate = 44100usize;
    let samples: Vec<f32> = (0..60 * rate)
        .map(|i| {
            let t = i as f64 / rate as f64;
            let phase = 2.0 * std::f64::consts::PI * if t < 20.0 { 1000.0 } else { 440.0 } * t;
            let click = t < 20.0 && i % (rate / 10) < 88;
            if click || t >= 30.0 { ((if click { 0.8 } else { 0.1 }) * phase.sin()) as f32 } else { 0.0 }
        })
        .collect();
    let format = timeside::media::AudioFormat { samplerate: rate as u32, channels: 1 };
    let wav = crate::common::write_wav(env.path(), "readable.wav", samples, format, 16);
    let item = crate::on_demand::upload(addr, &token, &wav, &[]).await;
    let uuid = item["uuid"].as_str().expect("uuid");
    let mut presets = Vec::new();
    for processor in ["onsets", "spectrogram", "mfcc", "pitch", "loudness"] {
        let r =
            crate::http::json(addr, "POST", "/api/v1/presets", Some(&token), &json!({ "processor": processor })).await;
        presets.push(r.json()["uuid"].clone());
    }
    let body = json!({ "title": "readable", "presets": presets });
    let exp = crate::http::json(addr, "POST", "/api/v1/experiences", Some(&token), &body).await.json();
    let task = crate::on_demand::run_task(addr, &token, exp["uuid"].as_str().expect("uuid"), ("item", uuid)).await;
    let done =
        crate::on_demand::wait_task(addr, &token, task["uuid"].as_str().expect("uuid"), Duration::from_secs(120)).await;
    assert_eq!(done["status"], "done", "{done}");
    let shot = std::env::var("TIMESIDE_SCREENSHOTS").ok().map(|d| format!("{d}/readable.png")).unwrap_or_default();
    browser_script("readable", &[&format!("http://{addr}"), "ana", "ana-password", uuid, &shot]).await;
    // The layout the page kept, as the API gives it: each track with the result it draws.
    let path = format!("/api/v1/items/{uuid}/analysis_tracks");
    let layout = crate::http::get(addr, &path, Some(&token)).await.json();
    assert_eq!(layout["source"], "own", "{layout}");
    let mfcc = layout["tracks"].as_array().expect("tracks").iter().find(|t| t["result_id"] == "mfcc").cloned();
    let mfcc = mfcc.unwrap_or_else(|| panic!("mfcc is kept: {layout}"));
    let row_path = format!("/api/v1/results/{}", mfcc["result"].as_str().expect("a result"));
    let row = crate::http::get(addr, &row_path, Some(&token)).await.json();
    assert_eq!(row["processor"], "mfcc");
    // Another user sees the owner's layout once the item is shared, until they keep their own.
    let bob = crate::on_demand::user(&server, "bob", false).await;
    assert_eq!(crate::http::get(addr, &path, Some(&bob)).await.status, 404, "a private item's layout is its owner's");
    let r =
        crate::http::json(addr, "PATCH", &format!("/api/v1/items/{uuid}"), Some(&token), &json!({ "is_public": true }))
            .await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(crate::http::get(addr, &path, Some(&bob)).await.json()["source"], "owner");
    let mine = json!({ "tracks": [{ "result_id": "pitch", "color": "#4cc9f0" }] });
    let r = crate::http::json(addr, "POST", &path, Some(&bob), &mine).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["source"], "own");
    assert_eq!(crate::http::get(addr, &path, Some(&token)).await.json()["source"], "own", "the owner's stays theirs");
    let bad = json!({ "tracks": [{ "result_id": "no spaces" }] });
    let r = crate::http::json(addr, "POST", &path, Some(&bob), &bad).await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("tracks[0].result_id"), "{}", r.text());
    assert_eq!(crate::http::json(addr, "POST", &path, None, &mine).await.status, 401);
    server.shutdown().await;
}
