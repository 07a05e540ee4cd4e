//! The on-demand server: a real server on 127.0.0.1:0 with its real database and in-process
//! workers, media made in the tests, requests over real sockets. Every test runs twice: on
//! SQLite in the data directory (`sqlite::`) and on a scratch PostgreSQL database
//! (`postgres::`).

use crate::common::{dbfs, decode_all, write_wav};
use crate::http::{self, Resp};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use timeside::media::AudioFormat;
use timeside::media::synth::sine;
use timeside::server::RunningServer;
use timeside::server::config::Config;
use timeside::storage::db::ScratchDatabase;
use tokio_tungstenite::tungstenite::Message;

const STEREO: AudioFormat = AudioFormat { samplerate: 44100, channels: 2 };

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// A test's place: a temporary folder (the data directory is `data` in it) and, on
/// PostgreSQL, a scratch database.
pub struct Env {
    dir: tempfile::TempDir,
    database: Option<ScratchDatabase>,
}

impl Env {
    pub async fn new(engine: Engine) -> Env {
        let database = match engine {
            Engine::Sqlite => None,
            Engine::Postgres => Some(ScratchDatabase::create().await.expect("scratch PostgreSQL database")),
        };
        Env { dir: tempfile::tempdir().expect("tmp"), database }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The PostgreSQL database's URL.
    pub fn database_url(&self) -> Option<String> {
        self.database.as_ref().map(|d| d.url.clone())
    }

    /// The `[server]` line naming the database, if not the default SQLite.
    pub fn database_line(&self) -> String {
        self.database.as_ref().map(|d| format!("database = \"{}\"\n", d.url)).unwrap_or_default()
    }
}

/// A server with data in `dir/data`, no live channel, `workers` in-process workers, and
/// `extra` TOML tables (`[jobs]` and `[live]` keys are merged over the defaults). New items get
/// no ingest task unless `extra` has an `[items]` table that says so: these tests count tasks,
/// jobs and results of their own (`visual.rs` tests the ingest).
pub(crate) fn config(env: &Env, workers: usize, server_extra: &str, extra: &str) -> Config {
    let file = env.path().join("server.toml");
    let items = if extra.contains("[items]") { "" } else { "[items]\ningest_experience = \"\"\n" };
    let text = format!(
        "channels = []\n[server]\nlisten = \"127.0.0.1:0\"\ndata_dir = \"{}\"\napi_token = \"the-api-token\"\n{}{server_extra}\n{items}[jobs]\nworkers = {workers}\n{extra}",
        env.path().join("data").display(),
        env.database_line()
    );
    std::fs::write(&file, text).expect("write config");
    Config::load(Some(&file)).expect("config")
}

pub(crate) async fn start(env: &Env, workers: usize) -> RunningServer {
    timeside::server::start(config(env, workers, "", "")).await.expect("start")
}

/// Adds a user and logs in: its access token.
pub(crate) async fn user(server: &RunningServer, name: &str, admin: bool) -> String {
    let password = format!("{name}-password");
    server.state.store.add_user(name, &password, admin).await.expect("user");
    let r = http::json(server.addr, "POST", "/api/v1/token", None, &json!({ "username": name, "password": password }))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["access"].as_str().expect("access").to_string()
}

/// A 1 kHz sine at -20 dBFS in both channels, `seconds` long, as 16-bit WAV.
pub(crate) fn tone(dir: &Path, name: &str, seconds: f64) -> PathBuf {
    write_wav(dir, name, sine(1000.0, 0.1, seconds, 44100, 2), STEREO, 16)
}

pub(crate) async fn upload(addr: SocketAddr, token: &str, path: &Path, fields: &[(&str, &str)]) -> Value {
    let bytes = std::fs::read(path).expect("read media");
    let name = path.file_name().expect("name").to_string_lossy().into_owned();
    let r = http::upload(addr, Some(token), &name, &bytes, fields).await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

pub(crate) async fn experience(addr: SocketAddr, title: &str) -> String {
    let r = http::get(addr, "/api/v1/experiences?page_size=100", None).await;
    let list = r.json();
    let found = list["results"].as_array().expect("list").iter().find(|e| e["title"] == title);
    found.unwrap_or_else(|| panic!("no experience {title}"))["uuid"].as_str().expect("uuid").to_string()
}

pub(crate) async fn run_task(addr: SocketAddr, token: &str, experience: &str, target: (&str, &str)) -> Value {
    let r = http::json(
        addr,
        "POST",
        "/api/v1/tasks",
        Some(token),
        &json!({ "experience": experience, target.0: target.1 }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let task = r.json();
    assert_eq!(task["status"], "pending");
    task
}

/// Polls a task until it ends (at most `limit`).
pub(crate) async fn wait_task(addr: SocketAddr, token: &str, task: &str, limit: Duration) -> Value {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let t = http::get(addr, &format!("/api/v1/tasks/{task}"), Some(token)).await.json();
        if ["done", "done_with_errors", "failed", "cancelled"].contains(&t["status"].as_str().unwrap_or("")) {
            return t;
        }
        assert!(tokio::time::Instant::now() < deadline, "task did not end: {t}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The result data (AnalyzerResult list) of `processor` for `item`, and the result row.
pub(crate) async fn result_of(addr: SocketAddr, token: &str, item: &str, processor: &str) -> (Value, Value) {
    let list = http::get(addr, &format!("/api/v1/results?item={item}&processor={processor}"), Some(token)).await.json();
    let row = list["results"][0].clone();
    assert_eq!(row["status"], "done", "{list}");
    let data =
        http::get(addr, &format!("/api/v1/results/{}/data", row["uuid"].as_str().expect("uuid")), Some(token)).await;
    assert_eq!(data.status, 200);
    (if data.header("content-type") == Some("application/json") { data.json() } else { Value::Null }, row)
}

fn global(results: &Value, id: &str) -> f64 {
    let r = results.as_array().expect("results").iter().find(|r| r["id_metadata"]["id"] == id);
    r.unwrap_or_else(|| panic!("no {id} in {results}"))["data_object"]["value"][0].as_f64().expect("value")
}

async fn uploads_in_several_formats_run_an_experience_on_a_selection_followed_over_websocket(engine: Engine) {
    let dir = Env::new(engine).await;
    let server = start(&dir, 2).await;
    let addr = server.addr;
    let token = user(&server, "ada", false).await;
    let wav = tone(dir.path(), "tone.wav", 3.0);
    let flac = dir.path().join("tone.flac");
    crate::common::gst_launch(&format!(
        "filesrc location={} ! wavparse ! audioconvert ! flacenc ! filesink location={}",
        wav.display(),
        flac.display()
    ));
    let mut items = Vec::new();
    for (path, title) in [(&wav, "A tone"), (&flac, "")] {
        let item = upload(addr, &token, path, &[("title", title), ("description", "generated")]).await;
        assert_eq!(item["samplerate"], 44100);
        assert_eq!(item["channels"], 2);
        assert!((item["audio_duration"].as_f64().expect("duration") - 3.0).abs() < 0.01, "{item}");
        let sha = timeside::media::hash::sha256_file(path).expect("sha");
        assert_eq!(item["sha256"], sha.as_str());
        items.push(item["uuid"].as_str().expect("uuid").to_string());
    }
    let first = http::get(addr, &format!("/api/v1/items/{}", items[0]), Some(&token)).await.json();
    assert_eq!(first["title"], "A tone");
    assert_eq!(first["mime_type"], "audio/wav");
    assert_eq!(
        http::get(addr, &format!("/api/v1/items/{}", items[1]), Some(&token)).await.json()["title"],
        "tone.flac"
    );

    let r = http::json(addr, "POST", "/api/v1/selections", Some(&token), &json!({ "title": "tones", "items": items }))
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let selection = r.json()["uuid"].as_str().expect("uuid").to_string();
    let exp = experience(addr, "loudness-compliance").await;
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/ws?token={token}")).await.expect("ws");
    let task = run_task(addr, &token, &exp, ("selection", &selection)).await;
    let id = task["uuid"].as_str().expect("uuid");
    // Its items carry their titles, as created and as read back.
    let titles = |t: &Value| t["items"].as_array().map(|i| i.iter().map(|i| i["title"].clone()).collect::<Vec<_>>());
    assert_eq!(titles(&task), Some(vec![json!("A tone"), json!("tone.flac")]), "{task}");
    let read = http::get(addr, &format!("/api/v1/tasks/{id}"), Some(&token)).await.json();
    assert_eq!(titles(&read), titles(&task), "{read}");
    ws.send(Message::text(json!({ "op": "subscribe", "topic": format!("task:{id}") }).to_string()))
        .await
        .expect("send");
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, ws.next()).await {
        let Ok(text) = msg.to_text() else { continue };
        let e: Value = serde_json::from_str(text).expect("json event");
        let end = e["event"] == "task_status" && e["status"] == "done";
        events.push(e);
        if end {
            break;
        }
    }
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    assert_eq!(kinds.first(), Some(&"subscribed"), "{kinds:?}");
    assert_eq!(events.last().map(|e| e["status"].clone()), Some(json!("done")), "{events:?}");
    assert!(events.iter().all(|e| e["topic"] == format!("task:{id}") && e["wall_time"].as_f64().is_some()));
    // One result event per (item, preset): 6 presets in loudness-compliance, 2 items.
    assert_eq!(kinds.iter().filter(|k| **k == "result").count(), 12, "{kinds:?}");

    let done = wait_task(addr, &token, id, Duration::from_secs(5)).await;
    assert_eq!(done["progress"], 1.0);
    // A client that subscribes after the end gets the final status at once.
    let (mut late, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/ws?token={token}")).await.expect("ws");
    late.send(Message::text(json!({ "op": "subscribe", "topic": format!("task:{id}") }).to_string()))
        .await
        .expect("send");
    let mut first_two = Vec::new();
    while first_two.len() < 2 {
        let msg = tokio::time::timeout(Duration::from_secs(5), late.next())
            .await
            .expect("in time")
            .expect("open")
            .expect("ok");
        first_two.push(serde_json::from_str::<Value>(msg.to_text().expect("text")).expect("json"));
    }
    assert_eq!(first_two[0]["event"], "subscribed");
    assert_eq!((first_two[1]["event"].clone(), first_two[1]["status"].clone()), (json!("task_status"), json!("done")));
    // Task topics are their author's: another user, or a bad token, cannot follow them.
    let bob = user(&server, "bob", false).await;
    let (mut other, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/ws?token={bob}")).await.expect("ws");
    other
        .send(Message::text(json!({ "op": "subscribe", "topic": format!("task:{id}") }).to_string()))
        .await
        .expect("send");
    let msg =
        tokio::time::timeout(Duration::from_secs(5), other.next()).await.expect("in time").expect("open").expect("ok");
    assert_eq!(serde_json::from_str::<Value>(msg.to_text().expect("text")).expect("json")["event"], "error");
    assert!(tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/ws?token=forged")).await.is_err());
    for item in &items {
        // Level and loudness as the signal says: -20 dBFS peak, -23.01 dBFS RMS; a 1 kHz sine
        // at -20 dBFS in both channels is -20 LUFS (EBU Tech 3341's -23 dBFS case, 3 dB up).
        let (level, row) = result_of(addr, &token, item, "level").await;
        assert!((global(&level, "level.max") - dbfs(0.1)).abs() < 0.01, "{level}");
        assert!((global(&level, "level.rms") - (dbfs(0.1) - 3.0103)).abs() < 0.01, "{level}");
        assert_eq!(row["version"], "1.0");
        assert_eq!(row["mime_type"], "application/json");
        let (loudness, _) = result_of(addr, &token, item, "loudness").await;
        assert!((global(&loudness, "loudness.integrated") + 20.0).abs() < 0.1, "{loudness}");
    }
    server.shutdown().await;
}

async fn what_is_not_audio_is_refused_with_422_and_nothing_is_stored(engine: Engine) {
    let dir = Env::new(engine).await;
    let server = start(&dir, 1).await;
    let token = user(&server, "ada", false).await;
    let r = http::upload(server.addr, Some(&token), "notes.wav", b"these are not audio samples at all, only text", &[])
        .await;
    assert_eq!(r.status, 422, "{}", r.text());
    assert_eq!(r.json()["code"], "undecodable_media");
    let message = r.json()["message"].as_str().unwrap_or_default().to_string();
    assert!(message.contains("notes.wav"), "{message}");
    assert!(!message.contains(&dir.path().display().to_string()), "server paths leak: {message}");
    // An empty file, and a WAV header with no samples after it: nothing to analyze or play.
    let mut header_only = b"RIFF".to_vec();
    header_only.extend_from_slice(&36u32.to_le_bytes());
    header_only.extend_from_slice(b"WAVEfmt ");
    header_only.extend_from_slice(&16u32.to_le_bytes());
    // PCM, 2 channels, 44 100 Hz, 176 400 bytes/s, 4-byte frames, 16 bits; then no data.
    header_only.extend_from_slice(&[1, 0, 2, 0, 0x44, 0xac, 0, 0, 0x10, 0xb1, 2, 0, 4, 0, 16, 0]);
    header_only.extend_from_slice(b"data\0\0\0\0");
    for (name, bytes) in [("empty.wav", &b""[..]), ("header.wav", &header_only[..])] {
        let r = http::upload(server.addr, Some(&token), name, bytes, &[]).await;
        assert_eq!(r.status, 422, "{name}: {}", r.text());
        let message = r.json()["message"].as_str().unwrap_or_default().to_string();
        assert!(message.starts_with(name), "{message}");
    }
    let list = http::get(server.addr, "/api/v1/items", Some(&token)).await.json();
    assert_eq!(list["count"], 0);
    let media = std::fs::read_dir(dir.path().join("data/media")).expect("media dir").count();
    assert_eq!(media, 0, "a refused upload left files");
    // A multipart body without a file, and an unknown field, are 400s.
    assert_eq!(
        http::send(
            server.addr,
            "POST",
            "/api/v1/items",
            &[("Authorization", &format!("Bearer {token}")), ("Content-Type", "multipart/form-data; boundary=x")],
            b"--x--\r\n"
        )
        .await
        .status,
        400
    );
    server.shutdown().await;
}

async fn a_broken_item_fails_alone_with_its_message(engine: Engine) {
    let dir = Env::new(engine).await;
    let server = start(&dir, 2).await;
    let addr = server.addr;
    let token = user(&server, "ada", false).await;
    let good = upload(addr, &token, &tone(dir.path(), "good.wav", 1.0), &[]).await;
    let bad =
        upload(addr, &token, &write_wav(dir.path(), "bad.wav", sine(440.0, 0.5, 1.0, 44100, 2), STEREO, 16), &[]).await;
    // The bad item's file is damaged after it was accepted (a disk fault, a truncated copy).
    let bad_path = dir.path().join("data/media").join(bad["uuid"].as_str().expect("uuid")).join("bad.wav");
    std::fs::write(&bad_path, b"RIFF\x10\x00\x00\x00WAVEjunk").expect("damage");
    let items = [good["uuid"].clone(), bad["uuid"].clone()];
    let selection =
        http::json(addr, "POST", "/api/v1/selections", Some(&token), &json!({ "items": items })).await.json();
    let exp = experience(addr, "standard").await;
    let task = run_task(addr, &token, &exp, ("selection", selection["uuid"].as_str().expect("uuid"))).await;
    let done = wait_task(addr, &token, task["uuid"].as_str().expect("uuid"), Duration::from_secs(60)).await;
    // One of two items analysed: a success with errors, not a failure.
    assert_eq!(done["status"], "done_with_errors", "{done}");
    assert!(done["error"].as_str().unwrap_or("").starts_with("1 of 2 items failed"), "{done}");
    let per_item = done["items"].as_array().expect("items");
    let (ok, failed): (Vec<&Value>, Vec<&Value>) = per_item.iter().partition(|i| i["item"] == good["uuid"]);
    assert_eq!(ok[0]["status"], "done");
    assert!(ok[0]["results"].as_array().expect("results").iter().all(|r| r["status"] == "done"));
    assert_eq!(failed[0]["status"], "failed");
    let error = failed[0]["error"].as_str().unwrap_or("");
    assert!(error.contains("bad.wav"), "{done}");
    assert!(!error.contains(&dir.path().display().to_string()), "server paths leak: {error}");
    let failed_results = failed[0]["results"].as_array().expect("results");
    assert_eq!(failed_results.len(), 4, "{done}");
    assert!(failed_results.iter().all(|r| r["status"] == "failed" && !r["error"].as_str().unwrap_or("").is_empty()));
    assert!(done["error"].as_str().unwrap_or("").contains(bad["uuid"].as_str().expect("uuid")), "{done}");
    // A failed result has no data.
    let r = http::get(
        addr,
        &format!("/api/v1/results/{}/data", failed_results[0]["uuid"].as_str().expect("uuid")),
        Some(&token),
    )
    .await;
    assert_eq!(r.status, 404);
    // /metrics counts jobs by status and results by processor and status.
    assert_metrics(
        addr,
        &[
            "timeside_jobs{status=\"done\"} 1",
            "timeside_jobs{status=\"failed\"} 1",
            "timeside_jobs{status=\"pending\"} 0",
            "timeside_job_duration_seconds_count 2",
            "timeside_results{processor=\"level\",status=\"done\"} 1",
            "timeside_results{processor=\"level\",status=\"failed\"} 1",
        ],
    )
    .await;
    server.shutdown().await;
}

/// Asserts that the server's `/metrics` has each of `lines`, exactly.
pub(crate) async fn assert_metrics(addr: SocketAddr, lines: &[&str]) {
    let metrics = http::get(addr, "/metrics", None).await.text();
    for line in lines {
        assert!(metrics.lines().any(|l| l == *line), "no `{line}` in\n{metrics}");
    }
}

/// An experience whose decoding runs at the pace of the clock: a task that lasts as long as
/// its item, to catch it running.
pub(crate) async fn realtime_experience(addr: SocketAddr, token: &str) -> String {
    let preset =
        http::json(addr, "POST", "/api/v1/presets", Some(token), &json!({ "processor": "level" })).await.json();
    let r = http::json(
        addr,
        "POST",
        "/api/v1/experiences",
        Some(token),
        &json!({
        "title": "slow", "presets": [preset["uuid"]], "decoder": { "realtime": true } }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["uuid"].as_str().expect("uuid").to_string()
}

pub(crate) async fn wait_running(addr: SocketAddr, token: &str, task: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let t = http::get(addr, &format!("/api/v1/tasks/{task}"), Some(token)).await.json();
        if t["status"] == "running" && t["progress"].as_f64().unwrap_or(0.0) > 0.0 {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "never running: {t}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn cancel_stops_a_running_task_within_a_second(engine: Engine) {
    let dir = Env::new(engine).await;
    let server = start(&dir, 1).await;
    let addr = server.addr;
    let token = user(&server, "ada", false).await;
    let item = upload(addr, &token, &tone(dir.path(), "long.wav", 60.0), &[]).await;
    let exp = realtime_experience(addr, &token).await;
    let task = run_task(addr, &token, &exp, ("item", item["uuid"].as_str().expect("uuid"))).await;
    let id = task["uuid"].as_str().expect("uuid");
    wait_running(addr, &token, id).await;
    let r = http::json(addr, "POST", &format!("/api/v1/tasks/{id}/cancel"), Some(&token), &json!({})).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["status"], "cancelled");
    // The worker lets go of the job within a second: it takes the next one.
    let t0 = std::time::Instant::now();
    let next =
        run_task(addr, &token, &experience(addr, "standard").await, ("item", item["uuid"].as_str().expect("uuid")))
            .await;
    let done = wait_task(addr, &token, next["uuid"].as_str().expect("uuid"), Duration::from_secs(30)).await;
    assert_eq!(done["status"], "done");
    assert!(t0.elapsed() < Duration::from_secs(10), "the cancelled job held the worker");
    let cancelled = http::get(addr, &format!("/api/v1/tasks/{id}"), Some(&token)).await.json();
    assert_eq!(cancelled["status"], "cancelled");
    assert_eq!(cancelled["items"][0]["results"], json!([]), "a cancelled job stored results");
    // Cancelling again: it has ended.
    assert_eq!(
        http::json(addr, "POST", &format!("/api/v1/tasks/{id}/cancel"), Some(&token), &json!({})).await.status,
        409
    );
    server.shutdown().await;
}

async fn a_restart_finishes_queued_and_running_tasks(engine: Engine) {
    let dir = Env::new(engine).await;
    let server = start(&dir, 1).await;
    let addr = server.addr;
    let token = user(&server, "ada", false).await;
    let item = upload(addr, &token, &tone(dir.path(), "four.wav", 4.0), &[]).await;
    let uuid = item["uuid"].as_str().expect("uuid").to_string();
    let slow = realtime_experience(addr, &token).await;
    let running = run_task(addr, &token, &slow, ("item", &uuid)).await["uuid"].as_str().expect("uuid").to_string();
    let queued = run_task(addr, &token, &experience(addr, "standard").await, ("item", &uuid)).await["uuid"]
        .as_str()
        .expect("uuid")
        .to_string();
    wait_running(addr, &token, &running).await;
    server.shutdown().await;

    let server = start(&dir, 1).await;
    let addr = server.addr;
    let token =
        http::json(addr, "POST", "/api/v1/token", None, &json!({ "username": "ada", "password": "ada-password" }))
            .await
            .json()["access"]
            .as_str()
            .expect("token")
            .to_string();
    for task in [&running, &queued] {
        let t = wait_task(addr, &token, task, Duration::from_secs(60)).await;
        assert_eq!(t["status"], "done", "{t}");
    }
    server.shutdown().await;
}

async fn equal_content_shares_results_and_a_changed_parameter_recomputes_only_that(engine: Engine) {
    let dir = Env::new(engine).await;
    let server = start(&dir, 2).await;
    let addr = server.addr;
    let token = user(&server, "ada", false).await;
    let wav = tone(dir.path(), "same.wav", 2.0);
    let first = upload(addr, &token, &wav, &[]).await;
    let second = upload(addr, &token, &wav, &[("title", "the same bytes again")]).await;
    let (a, b) = (first["uuid"].as_str().expect("uuid"), second["uuid"].as_str().expect("uuid"));
    let standard = experience(addr, "standard").await;
    let t1 = run_task(addr, &token, &standard, ("item", a)).await;
    assert_eq!(
        wait_task(addr, &token, t1["uuid"].as_str().expect("uuid"), Duration::from_secs(60)).await["status"],
        "done"
    );
    // The second item's media is removed: its task can only finish from the cache.
    std::fs::remove_file(dir.path().join("data/media").join(b).join("same.wav")).expect("remove");
    let t2 = run_task(addr, &token, &standard, ("item", b)).await;
    let done = wait_task(addr, &token, t2["uuid"].as_str().expect("uuid"), Duration::from_secs(60)).await;
    assert_eq!(done["status"], "done", "decoded instead of reusing: {done}");
    let (_, level_a) = result_of(addr, &token, a, "level").await;
    let (_, level_b) = result_of(addr, &token, b, "level").await;
    assert_eq!(level_a["cache_key"], level_b["cache_key"]);
    assert_ne!(level_a["uuid"], level_b["uuid"]);

    // Level as before, a spectrogram with another n_fft: only the spectrogram is computed.
    let level =
        http::json(addr, "POST", "/api/v1/presets", Some(&token), &json!({ "processor": "level" })).await.json();
    let spectro = http::json(addr, "POST", "/api/v1/presets", Some(&token),
        &json!({ "processor": "spectrogram", "parameters": { "n_fft": 1024, "hop_size": 512, "window": "hann", "max_frames": 2048 } })).await.json();
    let exp = http::json(
        addr,
        "POST",
        "/api/v1/experiences",
        Some(&token),
        &json!({ "title": "changed", "presets": [level["uuid"], spectro["uuid"]] }),
    )
    .await
    .json();
    // On the item without media: the changed spectrogram needs decoding, so it fails there ...
    let t3 = run_task(addr, &token, exp["uuid"].as_str().expect("uuid"), ("item", b)).await;
    let failed = wait_task(addr, &token, t3["uuid"].as_str().expect("uuid"), Duration::from_secs(60)).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let by_processor = |t: &Value, p: &str| -> Value {
        t["items"][0]["results"]
            .as_array()
            .expect("results")
            .iter()
            .find(|r| r["processor"] == p)
            .cloned()
            .unwrap_or_default()
    };
    // ... while the unchanged level is reused from the cache all the same.
    assert_eq!(by_processor(&failed, "level")["status"], "done");
    assert_eq!(by_processor(&failed, "level")["cache_key"], level_a["cache_key"]);
    assert_eq!(by_processor(&failed, "spectrogram")["status"], "failed");
    // On the item with media it is computed, with its own key.
    let t4 = run_task(addr, &token, exp["uuid"].as_str().expect("uuid"), ("item", a)).await;
    let done = wait_task(addr, &token, t4["uuid"].as_str().expect("uuid"), Duration::from_secs(60)).await;
    assert_eq!(done["status"], "done", "{done}");
    let standard_spectro = result_of(addr, &token, a, "spectrogram").await.1;
    assert_ne!(by_processor(&done, "spectrogram")["cache_key"], standard_spectro["cache_key"]);
    server.shutdown().await;
}

async fn who_sees_and_changes_what(engine: Engine) {
    let dir = Env::new(engine).await;
    let cfg = config(&dir, 1, "access_token_s = 1\nrefresh_token_s = 60", "");
    let server = timeside::server::start(cfg).await.expect("start");
    let addr = server.addr;
    let ada = user(&server, "ada", false).await;
    let bob = user(&server, "bob", false).await;
    let root = user(&server, "root", true).await;
    let api = "the-api-token";
    let item = upload(addr, &ada, &tone(dir.path(), "private.wav", 1.0), &[]).await;
    let path = format!("/api/v1/items/{}", item["uuid"].as_str().expect("uuid"));
    assert_eq!(item["is_public"], false);
    let status = |r: Resp| r.status;
    // Reading a private item: its owner and admins only; others get 404, as if absent.
    assert_eq!(status(http::get(addr, &path, None).await), 404);
    assert_eq!(status(http::get(addr, &path, Some(&bob)).await), 404);
    assert_eq!(status(http::get(addr, &path, Some(&ada)).await), 200);
    assert_eq!(status(http::get(addr, &path, Some(&root)).await), 200);
    assert_eq!(status(http::get(addr, &path, Some(api)).await), 200);
    assert_eq!(status(http::get(addr, &format!("{path}/download/original"), None).await), 404);
    assert_eq!(status(http::get(addr, &format!("{path}/stream.mp3"), Some(&bob)).await), 404);
    // What a browser loads by URL (<audio>, <img>) may give the token as `?token=`: reads only.
    assert_eq!(status(http::get(addr, &format!("{path}/download/original?token={ada}"), None).await), 200);
    assert_eq!(status(http::get(addr, &format!("{path}/download/original?token={bob}"), None).await), 404);
    assert_eq!(status(http::get(addr, &format!("{path}?token=forged.token.x"), None).await), 401);
    let by_url = http::json(addr, "PATCH", &format!("{path}?token={ada}"), None, &json!({ "title": "x" })).await;
    assert_eq!(status(by_url), 401, "writes need the Authorization header");
    assert_eq!(http::get(addr, "/api/v1/items", Some(&bob)).await.json()["count"], 0);
    assert_eq!(http::get(addr, "/api/v1/items", Some(&root)).await.json()["count"], 1);
    // Writes need a token; another user cannot change it.
    assert_eq!(status(http::upload(addr, None, "x.wav", b"x", &[]).await), 401);
    assert_eq!(status(http::json(addr, "PATCH", &path, Some(&bob), &json!({ "title": "mine" })).await), 404);
    assert_eq!(status(http::json(addr, "PATCH", &path, Some(&ada), &json!({ "is_public": true })).await), 200);
    // Public now: anyone reads it (lists too: no list page outlives a change), only its owner
    // (or an admin) changes or deletes it.
    assert_eq!(status(http::get(addr, &path, None).await), 200);
    assert_eq!(http::get(addr, "/api/v1/items", Some(&bob)).await.json()["count"], 1);
    assert_eq!(status(http::json(addr, "PATCH", &path, Some(&bob), &json!({ "title": "mine" })).await), 403);
    assert_eq!(
        status(http::send(addr, "DELETE", &path, &[("Authorization", &format!("Bearer {bob}"))], b"").await),
        403
    );
    assert_eq!(status(http::json(addr, "PATCH", &path, Some(&root), &json!({ "title": "by admin" })).await), 200);
    assert_eq!(http::get(addr, "/api/v1/items", None).await.json()["results"][0]["title"], "by admin");
    assert_eq!(status(http::json(addr, "PATCH", &path, Some(&ada), &json!({ "bogus": 1 })).await), 400);
    // Tokens: forged, mangled, refresh as access, wrong password.
    let forged = format!("{}x", &ada[..ada.len() - 1]);
    let r = http::get(addr, "/api/v1/users/me", Some(&forged)).await;
    assert_eq!((r.status, r.json()["code"].clone()), (401, json!("invalid_token")));
    assert_eq!(http::get(addr, "/api/v1/users/me", Some(&ada)).await.json()["username"], "ada");
    let r = http::json(addr, "POST", "/api/v1/token", None, &json!({ "username": "ada", "password": "wrong" })).await;
    assert_eq!((r.status, r.json()["code"].clone()), (401, json!("invalid_credentials")));
    let pair =
        http::json(addr, "POST", "/api/v1/token", None, &json!({ "username": "ada", "password": "ada-password" }))
            .await
            .json();
    let refresh = pair["refresh"].as_str().expect("refresh");
    assert_eq!(http::get(addr, "/api/v1/users/me", Some(refresh)).await.status, 401);
    // Expired (access tokens last 1 s here), then renewed with the refresh token.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = http::get(addr, "/api/v1/users/me", Some(&ada)).await;
    assert_eq!((r.status, r.json()["code"].clone()), (401, json!("token_expired")));
    let renewed = http::json(addr, "POST", "/api/v1/token/refresh", None, &json!({ "refresh": refresh })).await;
    assert_eq!(renewed.status, 200, "{}", renewed.text());
    let fresh = renewed.json()["access"].as_str().expect("access").to_string();
    assert_eq!(http::get(addr, "/api/v1/users/me", Some(&fresh)).await.status, 200);
    // Deleting: the owner can.
    assert_eq!(http::get(addr, "/api/v1/items", Some("the-api-token")).await.json()["count"], 1);
    assert_eq!(
        status(http::send(addr, "DELETE", &path, &[("Authorization", &format!("Bearer {fresh}"))], b"").await),
        204
    );
    assert_eq!(status(http::get(addr, &path, Some(&fresh)).await), 404);
    assert_eq!(http::get(addr, "/api/v1/items", Some("the-api-token")).await.json()["count"], 0);
    server.shutdown().await;
}

async fn streams_start_at_the_offset_and_downloads_serve_ranges(engine: Engine) {
    let dir = Env::new(engine).await;
    let server = start(&dir, 1).await;
    let addr = server.addr;
    let token = user(&server, "ada", false).await;
    // Four seconds, each at its own frequency: where a stream starts is heard.
    let mut samples = Vec::new();
    for f in [300.0, 500.0, 700.0, 900.0] {
        samples.extend(sine(f, 0.25, 1.0, 44100, 2));
    }
    let source = write_wav(dir.path(), "steps.wav", samples.clone(), STEREO, 16);
    let item = upload(addr, &token, &source, &[]).await;
    let base = format!("/api/v1/items/{}", item["uuid"].as_str().expect("uuid"));

    // WAV from 2 s to 3 s: exactly the source's samples there (16-bit either way).
    let r = http::get(addr, &format!("{base}/stream.wav?start=2&stop=3"), Some(&token)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("audio/wav"));
    let got = dir.path().join("segment.wav");
    std::fs::write(&got, &r.body).expect("write");
    let decoded = crate::common::analyze(&got, "level", Default::default());
    assert_eq!(decoded.source.frames, 44100, "one second");
    let segment = decode_all(&got);
    let expected = &samples[2 * 44100 * 2..3 * 44100 * 2];
    let worst = segment.iter().zip(expected).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
    assert!(worst <= 1.0 / 32768.0 + 1e-6, "differs by {worst}");

    // MP3 from 3 s: one second of the 900 Hz step.
    let r = http::get(addr, &format!("{base}/stream.mp3?start=3"), Some(&token)).await;
    assert_eq!(r.header("content-type"), Some("audio/mpeg"));
    let mp3 = dir.path().join("tail.mp3");
    std::fs::write(&mp3, &r.body).expect("write");
    let tail: Vec<f32> = decode_all(&mp3).chunks(2).map(|f| f[0]).collect();
    let seconds = tail.len() as f64 / 44100.0;
    assert!((seconds - 1.0).abs() < 0.1, "{seconds} s");
    // The frequency from zero crossings over the middle half (away from the codec's edges).
    let middle = &tail[tail.len() / 4..tail.len() * 3 / 4];
    let crossings = middle.windows(2).filter(|w| (w[0] < 0.0) != (w[1] < 0.0)).count();
    let frequency = crossings as f64 / 2.0 / (middle.len() as f64 / 44100.0);
    assert!((frequency - 900.0).abs() < 10.0, "{frequency} Hz");
    // Bad offsets are refused.
    assert_eq!(http::get(addr, &format!("{base}/stream.mp3?start=9"), Some(&token)).await.status, 400);
    assert_eq!(http::get(addr, &format!("{base}/stream.mp3?start=2&stop=1"), Some(&token)).await.status, 400);
    assert_eq!(http::get(addr, &format!("{base}/stream.xyz"), Some(&token)).await.status, 404);

    // Downloads: whole, HEAD, ranges.
    let full = http::get(addr, &format!("{base}/download/mp3"), Some(&token)).await;
    assert_eq!(full.status, 200);
    assert_eq!(full.header("accept-ranges"), Some("bytes"));
    let len = full.body.len();
    assert_eq!(full.header("content-length").and_then(|l| l.parse().ok()), Some(len));
    let auth = format!("Bearer {token}");
    let head = http::send(addr, "HEAD", &format!("{base}/download/mp3"), &[("Authorization", &auth)], b"").await;
    assert_eq!((head.status, head.header("content-length").and_then(|l| l.parse().ok())), (200, Some(len)));
    assert!(head.body.is_empty());
    let part = http::send(
        addr,
        "GET",
        &format!("{base}/download/mp3"),
        &[("Authorization", &auth), ("Range", "bytes=100-199")],
        b"",
    )
    .await;
    assert_eq!(part.status, 206);
    assert_eq!(part.header("content-range"), Some(format!("bytes 100-199/{len}").as_str()));
    assert_eq!(part.body, full.body[100..200]);
    let end = http::send(
        addr,
        "GET",
        &format!("{base}/download/mp3"),
        &[("Authorization", &auth), ("Range", "bytes=-10")],
        b"",
    )
    .await;
    assert_eq!(end.body, full.body[len - 10..]);
    let past = http::send(
        addr,
        "GET",
        &format!("{base}/download/mp3"),
        &[("Authorization", &auth), ("Range", &format!("bytes={len}-"))],
        b"",
    )
    .await;
    assert_eq!(past.status, 416);
    let original = http::get(addr, &format!("{base}/download/original"), Some(&token)).await;
    assert_eq!(original.body, std::fs::read(&source).expect("source"));
    // The transcode is made once: the second download is the same file.
    let again = http::get(addr, &format!("{base}/download/mp3"), Some(&token)).await;
    assert_eq!(again.body, full.body);
    server.shutdown().await;
}

async fn media_by_url_and_under_media_roots_only_where_the_config_allows(engine: Engine) {
    let dir = Env::new(engine).await;
    let roots = dir.path().join("archive");
    std::fs::create_dir_all(&roots).expect("mkdir");
    let inside = tone(&roots, "inside.wav", 1.0);
    let outside = tone(dir.path(), "outside.wav", 1.0);
    // A tiny HTTP server on loopback serving the file.
    let bytes = std::fs::read(&inside).expect("read");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let file_addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut s, _)) = listener.accept().await {
            let bytes = bytes.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let head =
                    format!("HTTP/1.0 200 OK\r\nContent-Type: audio/wav\r\nContent-Length: {}\r\n\r\n", bytes.len());
                let _ = s.write_all(head.as_bytes()).await;
                let _ = s.write_all(&bytes).await;
            });
        }
    });
    let url = format!("http://{file_addr}/media/tone.wav");
    for (private_ok, root) in [(false, None), (true, Some(&roots))] {
        let sub = Env::new(engine).await;
        let live = format!(
            "[live]\napi_private_uris = {private_ok}\nmedia_roots = [{}]",
            root.map(|r| format!("\"{}\"", r.display())).unwrap_or_default()
        );
        let server = timeside::server::start(config(&sub, 1, "", &live)).await.expect("start");
        let addr = server.addr;
        let token = user(&server, "ada", false).await;
        let by_url = http::json(addr, "POST", "/api/v1/items", Some(&token), &json!({ "source_url": url })).await;
        let in_root = http::json(
            addr,
            "POST",
            "/api/v1/items",
            Some(&token),
            &json!({ "source_url": inside.display().to_string() }),
        )
        .await;
        let out_root = http::json(
            addr,
            "POST",
            "/api/v1/items",
            Some(&token),
            &json!({ "source_url": outside.display().to_string() }),
        )
        .await;
        let other = http::json(
            addr,
            "POST",
            "/api/v1/items",
            Some(&token),
            &json!({ "source_url": "ftp://example.org/x.wav" }),
        )
        .await;
        assert_eq!(out_root.status, 400, "{}", out_root.text());
        assert_eq!(other.status, 400, "{}", other.text());
        if private_ok {
            assert_eq!(by_url.status, 201, "{}", by_url.text());
            let item = by_url.json();
            assert_eq!(item["source_url"], url.as_str());
            assert_eq!(item["sha256"], timeside::media::hash::sha256_file(&inside).expect("sha").as_str());
            assert_eq!(in_root.status, 201, "{}", in_root.text());
            // Read in place: nothing copied into the data directory.
            let uuid = in_root.json()["uuid"].as_str().expect("uuid").to_string();
            assert!(!sub.path().join("data/media").join(&uuid).exists());
            let original = http::get(addr, &format!("/api/v1/items/{uuid}/download/original"), Some(&token)).await;
            assert_eq!(original.body, std::fs::read(&inside).expect("read"));
            // 23.20: the file swapped for a link out of the roots is refused where it is
            // opened, by every reader of the item's media.
            std::fs::remove_file(&inside).expect("rm");
            std::os::unix::fs::symlink(&outside, &inside).expect("symlink");
            for path in ["download/original", "download/flac", "stream.mp3", "waveform?nb_pixels=10"] {
                let r = http::get(addr, &format!("/api/v1/items/{uuid}/{path}"), Some(&token)).await;
                assert_eq!(r.status, 410, "{path}: {} {}", r.status, r.text());
                assert!(r.text().contains("media file is missing"), "{path}: {}", r.text());
            }
        } else {
            assert_eq!(by_url.status, 400, "{}", by_url.text());
            assert!(by_url.text().contains("api_private_uris"), "{}", by_url.text());
            assert_eq!(in_root.status, 400, "{}", in_root.text());
        }
        server.shutdown().await;
    }
}

async fn presets_list_every_problem_lists_are_paged_and_the_api_is_documented(engine: Engine) {
    let dir = Env::new(engine).await;
    let server = start(&dir, 0).await;
    let addr = server.addr;
    let token = user(&server, "ada", false).await;
    let r = http::json(
        addr,
        "POST",
        "/api/v1/presets",
        Some(&token),
        &json!({ "processor": "spectrogram", "parameters": { "n_fft": 8, "bogus": 1 } }),
    )
    .await;
    assert_eq!(r.status, 400);
    let message = r.json()["message"].as_str().unwrap_or_default().to_string();
    assert!(message.contains("n_fft") && message.contains("bogus"), "{message}");
    let r = http::json(addr, "POST", "/api/v1/presets", Some(&token), &json!({ "processor": "levle" })).await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("levle"));

    let processors = http::get(addr, "/api/v1/processors?page_size=100", None).await.json();
    let level =
        processors["results"].as_array().expect("list").iter().find(|p| p["pid"] == "level").cloned().expect("level");
    for field in ["name", "kind", "version", "description", "unit", "parameters_schema", "parameters_default", "live"] {
        assert!(level.get(field).is_some(), "processors lack {field}");
    }
    // Filtered by kind: exactly the analyzers of the whole list; an unknown kind is named.
    let all = processors["results"].as_array().expect("list");
    let analyzers = http::get(addr, "/api/v1/processors?kind=analyzer&page_size=100", None).await.json();
    let pids = |list: &[Value]| list.iter().map(|p| p["pid"].clone()).collect::<Vec<_>>();
    let expected: Vec<Value> = all.iter().filter(|p| p["kind"] == "analyzer").cloned().collect();
    assert_eq!(pids(analyzers["results"].as_array().expect("list")), pids(&expected));
    assert_eq!(analyzers["count"].as_u64(), Some(expected.len() as u64));
    let r = http::get(addr, "/api/v1/processors?kind=analyser", None).await;
    assert!(r.status == 400 && r.text().contains("kind=analyser"), "{}", r.text());
    // Pages: the shipped experiences, two per page.
    let p1 = http::get(addr, "/api/v1/experiences?page_size=2", None).await.json();
    assert_eq!(p1["count"], timeside::pipeline::SHIPPED.len());
    assert_eq!(p1["results"].as_array().expect("list").len(), 2);
    assert_eq!(p1["previous"], Value::Null);
    let next = p1["next"].as_str().expect("next").to_string();
    let p2 = http::get(addr, &next, None).await.json();
    assert!(p2["previous"].as_str().is_some());
    let shipped = timeside::pipeline::SHIPPED.len();
    let last =
        http::get(addr, &format!("/api/v1/experiences?page={}&page_size=2", shipped.div_ceil(2)), None).await.json();
    assert_eq!(last["results"].as_array().expect("list").len(), shipped - 2 * (shipped.div_ceil(2) - 1));
    assert_eq!(last["next"], Value::Null);
    assert_eq!(http::get(addr, "/api/v1/experiences?page=0", None).await.status, 400);
    assert_eq!(http::get(addr, "/api/v1/experiences?page_size=100000", None).await.status, 400);
    // Shipped experiences are read-only.
    let standard = experience(addr, "standard").await;
    assert_eq!(
        http::send(
            addr,
            "DELETE",
            &format!("/api/v1/experiences/{standard}"),
            &[("Authorization", &format!("Bearer {token}"))],
            b""
        )
        .await
        .status,
        403
    );
    // Errors have the one shape; unknown endpoints and methods say so.
    let r = http::get(addr, "/api/v1/nothing-here", None).await;
    assert_eq!((r.status, r.json()["code"].clone()), (404, json!("not_found")));
    let r = http::send(addr, "PUT", "/api/v1/items", &[], b"").await;
    assert_eq!(r.status, 405);
    // A path that is no route is 404 whatever the method; a route's wrong method is 405.
    for (method, path, status) in [
        ("GET", "/favicon.ico", 404),
        ("POST", "/nothing-here", 404),
        ("OPTIONS", "/nothing-here", 404),
        ("POST", "/", 405),
        ("DELETE", "/live/nothing.mp3", 405),
        ("POST", "/api/v1/health", 405),
    ] {
        let r = http::send(addr, method, path, &[], b"").await;
        assert_eq!(r.status, status, "{method} {path}: {}", r.text());
    }
    // OpenAPI from the route table, and a docs page with no outside asset.
    let served = http::get(addr, "/api/v1/openapi.json", None).await;
    let doc = served.json();
    assert_eq!(doc["openapi"], "3.1.0");
    // openapi-spec-validator (PyPI), as API tooling checks a document.
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, &served.body).expect("write");
    let validator = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/pytools/bin/openapi-spec-validator");
    let out = std::process::Command::new(&validator).arg(&file).output().expect("openapi-spec-validator");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    for (path, op) in doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(p, ops)| ops.as_object().into_iter().flatten().map(move |(m, op)| (format!("{m} {p}"), op)))
    {
        let responses = &op["responses"];
        assert!(responses["2XX"]["description"].is_string() && responses["4XX"].is_object(), "{path}: {responses}");
    }
    for path in [
        "/api/v1/items",
        "/api/v1/items/{uuid}/stream.{ext}",
        "/api/v1/tasks/{uuid}/cancel",
        "/api/v1/results/{uuid}/data",
        // One route table for everything under /api/v1 (23, architecture).
        "/api/v1/health",
        "/api/v1/live",
        "/api/v1/live/{id}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} missing");
    }
    assert!(doc["paths"]["/api/v1/live"].get("post").is_some(), "POST /live missing");
    let docs = http::get(addr, "/api/docs", None).await;
    assert_eq!(docs.status, 200);
    assert!(docs.text().contains("/api/v1/tasks"));
    let page = docs.text();
    assert!(
        !page.contains("src=") && !page.contains("<link") && !page.contains("@import"),
        "the docs page loads an asset"
    );
    server.shutdown().await;
}

async fn two_claimers_racing_for_one_job_store_one_result(engine: Engine) {
    use timeside::jobs::queue::{self, QueueConfig};
    let dir = Env::new(engine).await;
    // No workers: the test claims by hand.
    let server = start(&dir, 0).await;
    let addr = server.addr;
    let token = user(&server, "ada", false).await;
    let item = upload(addr, &token, &tone(dir.path(), "race.wav", 1.0), &[]).await;
    let task =
        run_task(addr, &token, &experience(addr, "standard").await, ("item", item["uuid"].as_str().expect("uuid")))
            .await;
    let store = server.state.store.clone();
    let quick = QueueConfig { lease_s: 1.0, max_attempts: 3, ..Default::default() };
    // Two claimers at once: one gets the job.
    let (a, b) = tokio::join!(queue::claim(&store, "a", &quick), queue::claim(&store, "b", &quick));
    let (a, b) = (a.expect("claim a"), b.expect("claim b"));
    assert!(a.is_some() != b.is_some(), "both or neither got the job");
    let (first, first_owner) = if let Some(j) = a { (j, "a") } else { (b.expect("b"), "b") };
    // Its lease runs out (no heartbeat): another claimer takes it over.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let second = queue::claim(&store, "c", &quick).await.expect("claim").expect("taken over");
    assert_eq!(second.uuid, first.uuid);
    assert_eq!(second.attempts, 2);
    // Both finish: only the holder of the lease stores its results.
    let experience = store
        .experience(
            &timeside::storage::Viewer::ADMIN,
            &uuid::Uuid::parse_str(task["experience"].as_str().expect("uuid")).expect("uuid"),
        )
        .await
        .expect("exp");
    let result = |owner: &str| timeside::storage::results::NewResult {
        item: first.item,
        preset: experience.presets[0].uuid,
        author: first.author.clone(),
        task: first.task,
        status: "done",
        error: String::new(),
        run_time: 0.1,
        processor: format!("level-{owner}"),
        version: "1.0".into(),
        parameters: json!({}),
        cache_key: format!("key-{owner}"),
        mime_type: "application/json".into(),
        data_path: None,
    };
    let (stale, current) = ([result(first_owner)], [result("c")]);
    let (late, holder) = tokio::join!(
        queue::finish(&store, &first, first_owner, "done", "", &stale),
        queue::finish(&store, &second, "c", "done", "", &current)
    );
    assert!(late.expect("finish").is_none(), "a worker without the lease stored results");
    assert_eq!(holder.expect("finish").map(|ids| ids.len()), Some(1));
    let rows = http::get(addr, &format!("/api/v1/results?task={}", task["uuid"].as_str().expect("uuid")), Some(&token))
        .await
        .json();
    assert_eq!(rows["count"], 1, "{rows}");
    assert_eq!(rows["results"][0]["processor"], "level-c");
    // A job whose workers keep dying is failed after its attempts, with a message.
    let poison = QueueConfig { lease_s: 1.0, max_attempts: 1, ..Default::default() };
    let job2 =
        run_task(addr, &token, &experience.uuid.to_string(), ("item", item["uuid"].as_str().expect("uuid"))).await;
    let claimed = queue::claim(&store, "d", &poison).await.expect("claim").expect("job");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(queue::claim(&store, "e", &poison).await.expect("claim").is_none(), "claimed past its attempts");
    let failed_tasks = queue::fail_abandoned(&store, &poison).await.expect("fail");
    assert_eq!(failed_tasks, vec![claimed.task]);
    let t = store.refresh_task(&claimed.task).await.expect("refresh").expect("changed");
    assert_eq!(t.status, "failed");
    assert!(t.items[0].error.contains("gave up after 1 attempts"), "{:?}", t.items[0]);
    assert_eq!(t.uuid.to_string(), job2["uuid"].as_str().expect("uuid"));
    server.shutdown().await;
}

async fn a_decode_that_stalls_fails_its_job_and_the_worker_goes_on(engine: Engine) {
    let dir = Env::new(engine).await;
    let cfg = config(&dir, 1, "", "stall_timeout_s = 2.0");
    let server = timeside::server::start(cfg).await.expect("start");
    let addr = server.addr;
    let token = user(&server, "ada", false).await;
    let item = upload(addr, &token, &tone(dir.path(), "slow.wav", 30.0), &[]).await;
    let uuid = item["uuid"].as_str().expect("uuid");
    // Decoded at the pace of the clock in blocks of 10 s: the first block comes after 10 s,
    // past the 2 s the watchdog allows without one. (A decoder that hangs looks the same.)
    let preset =
        http::json(addr, "POST", "/api/v1/presets", Some(&token), &json!({ "processor": "level" })).await.json();
    let r = http::json(
        addr,
        "POST",
        "/api/v1/experiences",
        Some(&token),
        &json!({
        "title": "stalls", "presets": [preset["uuid"]], "decoder": { "realtime": true, "block_size": 441000 } }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let stalls = r.json()["uuid"].as_str().expect("uuid").to_string();
    let hung = run_task(addr, &token, &stalls, ("item", uuid)).await;
    let after = run_task(addr, &token, &experience(addr, "standard").await, ("item", uuid)).await;
    let failed = wait_task(addr, &token, hung["uuid"].as_str().expect("uuid"), Duration::from_secs(30)).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    // The watchdog's message: it fired (2 s without a block), which the 10 s block would have
    // prevented had it come first. (How long it took is not asserted: a loaded machine.)
    assert!(failed["items"][0]["error"].as_str().unwrap_or("").contains("no progress"), "{failed}");
    // The one worker was not lost with the stalled pass.
    let done = wait_task(addr, &token, after["uuid"].as_str().expect("uuid"), Duration::from_secs(30)).await;
    assert_eq!(done["status"], "done", "{done}");
    server.shutdown().await;
}

async fn transcodes_at_once_are_bounded_and_a_client_that_leaves_frees_its_slot(engine: Engine) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = Env::new(engine).await;
    let server = timeside::server::start(config(&dir, 0, "max_transcodes = 1", "")).await.expect("start");
    let addr = server.addr;
    let token = user(&server, "ada", false).await;
    let item = upload(addr, &token, &tone(dir.path(), "long.wav", 30.0), &[]).await;
    let path = format!("/api/v1/items/{}/stream.wav", item["uuid"].as_str().expect("uuid"));
    // A client that asks and stops reading holds the one slot.
    let mut slow = tokio::net::TcpStream::connect(addr).await.expect("connect");
    slow.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n").as_bytes())
        .await
        .expect("send");
    let mut first = [0u8; 12];
    slow.read_exact(&mut first).await.expect("reply");
    assert_eq!(&first, b"HTTP/1.1 200");
    let r = http::get(addr, &path, Some(&token)).await;
    assert_eq!((r.status, r.json()["code"].clone()), (503, json!("too_many_transcodes")));
    // It leaves: its pass stops and the slot is free again.
    drop(slow);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let r = http::get(addr, &format!("{path}?stop=1"), Some(&token)).await;
        if r.status == 200 {
            assert!(r.body.len() > 44 * 1024 * 4 / 10, "{} bytes", r.body.len());
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the slot was never freed");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.shutdown().await;
}

/// Each test, on each engine.
/// Annotation tracks (TimeSide's fields): created on an item one sees, read by whoever sees
/// them (public) or only by their author (private), changed by their author only; annotations
/// are kept within the item and, on a track that says so, apart; the item lists its tracks;
/// deleting the item deletes them.
async fn annotation_tracks_are_their_authors(engine: Engine) {
    let dir = Env::new(engine).await;
    let server = timeside::server::start(config(&dir, 0, "", "")).await.expect("start");
    let addr = server.addr;
    let ada = user(&server, "ada", false).await;
    let bob = user(&server, "bob", false).await;
    let item = upload(addr, &ada, &tone(dir.path(), "four.wav", 4.0), &[("is_public", "true")]).await;
    let uuid = item["uuid"].as_str().expect("uuid");
    let post = |token: &str, path: &str, body: Value| {
        let (token, path) = (token.to_string(), path.to_string());
        async move { http::json(addr, "POST", &path, Some(&token), &body).await }
    };
    let r =
        post(&ada, "/api/v1/annotation_tracks", json!({ "item": uuid, "title": "verses", "overlapping": false })).await;
    assert_eq!(r.status, 201, "{}", r.text());
    let track = r.json();
    assert_eq!((track["item"].as_str(), track["is_public"].as_bool()), (Some(uuid), Some(false)));
    let track_id = track["uuid"].as_str().expect("uuid").to_string();
    // Anonymous clients cannot write; bob does not see ada's private track.
    let anonymous = http::json(addr, "POST", "/api/v1/annotation_tracks", None, &json!({ "item": uuid })).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(http::get(addr, &format!("/api/v1/annotation_tracks/{track_id}"), Some(&bob)).await.status, 404);
    // Annotations: a region and a point; spans within the item and apart on this track.
    let a = post(
        &ada,
        "/api/v1/annotations",
        json!({ "track": track_id, "title": "A", "start_time": 0.5, "stop_time": 1.5 }),
    )
    .await;
    assert_eq!(a.status, 201, "{}", a.text());
    let a_id = a.json()["uuid"].as_str().expect("uuid").to_string();
    let point =
        post(&ada, "/api/v1/annotations", json!({ "track": track_id, "title": "hit", "start_time": 2.0 })).await;
    assert_eq!(point.status, 201, "{}", point.text());
    assert_eq!(point.json()["stop_time"], 2.0, "a point stops where it starts");
    let overlap =
        post(&ada, "/api/v1/annotations", json!({ "track": track_id, "start_time": 1.0, "stop_time": 1.2 })).await;
    assert_eq!(overlap.status, 409, "{}", overlap.text());
    for (body, field) in [
        (json!({ "track": track_id, "start_time": 3.0, "stop_time": 9.0 }), "stop_time"),
        (json!({ "track": track_id, "start_time": -1.0 }), "start_time"),
        (json!({ "track": track_id, "start_time": 3.0, "stop_time": 2.5 }), "stop_time"),
        (json!({ "track": track_id }), "start_time"),
        (json!({ "track": track_id, "start_time": 3.0, "bogus": 1 }), "bogus"),
    ] {
        let r = post(&ada, "/api/v1/annotations", body.clone()).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        assert!(r.text().contains(field), "{body}: {}", r.text());
    }
    let bobs = post(&bob, "/api/v1/annotations", json!({ "track": track_id, "start_time": 3.0 })).await;
    assert_eq!(bobs.status, 404, "another's private track is not found");
    // Move and relabel; then the track lists its annotations by start time.
    let moved = http::json(
        addr,
        "PATCH",
        &format!("/api/v1/annotations/{a_id}"),
        Some(&ada),
        &json!({ "start_time": 2.5, "stop_time": 3.5, "title": "B" }),
    )
    .await;
    assert_eq!(moved.status, 200, "{}", moved.text());
    let listed = http::get(addr, &format!("/api/v1/annotations?track={track_id}"), Some(&ada)).await.json();
    let titles: Vec<&str> =
        listed["results"].as_array().expect("list").iter().filter_map(|a| a["title"].as_str()).collect();
    assert_eq!(titles, ["hit", "B"]);
    // Public: bob reads it, and it is listed with the item, but he cannot change it.
    let public = http::json(
        addr,
        "PATCH",
        &format!("/api/v1/annotation_tracks/{track_id}"),
        Some(&ada),
        &json!({ "is_public": true }),
    )
    .await;
    assert_eq!(public.status, 200, "{}", public.text());
    let seen = http::get(addr, &format!("/api/v1/annotation_tracks?item={uuid}"), Some(&bob)).await.json();
    assert_eq!(seen["count"], 1);
    assert_eq!(seen["results"][0]["annotations"].as_array().map(Vec::len), Some(2));
    let item_view = http::get(addr, &format!("/api/v1/items/{uuid}"), None).await.json();
    assert_eq!(item_view["annotation_tracks"], json!([track_id]));
    // Exported with the item: Audacity labels, and JAMS `tag_open`.
    let labels = http::get(addr, &format!("/api/v1/items/{uuid}/export.txt"), None).await.text();
    // Labelled by the track's title.
    let (hit, b) = ("2.000000\t2.000000\tverses: hit", "2.500000\t3.500000\tverses: B");
    assert!(labels.contains(hit) && labels.contains(b), "{labels}");
    let jams = http::get(addr, &format!("/api/v1/items/{uuid}/export.jams"), None).await.json();
    let tags = jams["annotations"].as_array().expect("annotations").iter().find(|a| a["namespace"] == "tag_open");
    let values: Vec<&str> =
        tags.expect("tag_open")["data"].as_array().expect("data").iter().filter_map(|o| o["value"].as_str()).collect();
    assert_eq!(values, ["hit", "B"]);
    let r = http::send(
        addr,
        "DELETE",
        &format!("/api/v1/annotations/{a_id}"),
        &[("Authorization", &format!("Bearer {bob}"))],
        b"",
    )
    .await;
    assert_eq!(r.status, 403);
    let r = http::send(
        addr,
        "DELETE",
        &format!("/api/v1/annotations/{a_id}"),
        &[("Authorization", &format!("Bearer {ada}"))],
        b"",
    )
    .await;
    assert_eq!(r.status, 204);
    // A public track of an item made private is neither listed nor counted for others.
    let item_path = format!("/api/v1/items/{uuid}");
    assert_eq!(http::json(addr, "PATCH", &item_path, Some(&ada), &json!({ "is_public": false })).await.status, 200);
    let listed = http::get(addr, "/api/v1/annotation_tracks", Some(&bob)).await.json();
    assert_eq!((listed["count"].as_i64(), listed["results"].as_array().map(Vec::len)), (Some(0), Some(0)), "{listed}");
    let own = http::get(addr, "/api/v1/annotation_tracks", Some(&ada)).await.json();
    assert_eq!(own["results"][0]["annotations"].as_array().map(Vec::len), Some(1), "{own}");
    // Deleting the item deletes its tracks and their annotations.
    let r = http::send(
        addr,
        "DELETE",
        &format!("/api/v1/items/{uuid}"),
        &[("Authorization", &format!("Bearer {ada}"))],
        b"",
    )
    .await;
    assert_eq!(r.status, 204);
    assert_eq!(http::get(addr, &format!("/api/v1/annotation_tracks/{track_id}"), Some(&ada)).await.status, 404);
    assert_eq!(http::get(addr, "/api/v1/annotation_tracks", Some(&ada)).await.json()["count"], 0);
    server.shutdown().await;
}

/// 26: a processor whose parameters do not fit an input (pitch's default `fmax`, 2000 Hz, above
/// the Nyquist frequency of a 1234 Hz file) fails alone, with an error naming the input; the
/// other processor's result is stored.
async fn a_processor_that_does_not_fit_an_input_fails_alone(engine: Engine) {
    let dir = Env::new(engine).await;
    let server = start(&dir, 1).await;
    let (addr, token) = (server.addr, user(&server, "ada", false).await);
    let low = crate::common::low_rate_sine(dir.path());
    let item = upload(addr, &token, &low, &[]).await;
    let item = item["uuid"].as_str().expect("uuid").to_string();
    let mut presets = Vec::new();
    for processor in ["level", "pitch"] {
        let body = json!({ "processor": processor });
        presets.push(http::json(addr, "POST", "/api/v1/presets", Some(&token), &body).await.json()["uuid"].clone());
    }
    let exp = http::json(
        addr,
        "POST",
        "/api/v1/experiences",
        Some(&token),
        &json!({ "title": "level and pitch", "presets": presets }),
    )
    .await
    .json();
    let task = run_task(addr, &token, exp["uuid"].as_str().expect("uuid"), ("item", &item)).await;
    let ended = wait_task(addr, &token, task["uuid"].as_str().expect("uuid"), Duration::from_secs(60)).await;
    let results = ended["items"][0]["results"].as_array().expect("results").clone();
    let by = |p: &str| results.iter().find(|r| r["processor"] == p).cloned().unwrap_or_default();
    assert_eq!(by("level")["status"], "done", "{ended}");
    assert_eq!(by("pitch")["status"], "failed", "{ended}");
    let error = by("pitch")["error"].as_str().unwrap_or_default().to_string();
    assert!(error.contains("low.wav") && error.contains("fmax") && error.contains("617"), "{error}");
    // The level of the -20 dBFS sine is there to read.
    let (level, _) = result_of(addr, &token, &item, "level").await;
    let rms = level.as_array().expect("results").iter().find(|r| r["id_metadata"]["id"] == "level.rms").expect("rms");
    assert!((rms["data_object"]["value"][0].as_f64().unwrap_or(0.0) - -23.01).abs() < 0.05, "{rms}");
    server.shutdown().await;
}

macro_rules! on_each_engine {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                super::$test(super::Engine::Sqlite).await
            })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $test() {
                super::$test(super::Engine::Postgres).await
            })*
        }
    };
}

on_each_engine!(
    uploads_in_several_formats_run_an_experience_on_a_selection_followed_over_websocket,
    what_is_not_audio_is_refused_with_422_and_nothing_is_stored,
    a_broken_item_fails_alone_with_its_message,
    cancel_stops_a_running_task_within_a_second,
    a_restart_finishes_queued_and_running_tasks,
    equal_content_shares_results_and_a_changed_parameter_recomputes_only_that,
    who_sees_and_changes_what,
    streams_start_at_the_offset_and_downloads_serve_ranges,
    media_by_url_and_under_media_roots_only_where_the_config_allows,
    presets_list_every_problem_lists_are_paged_and_the_api_is_documented,
    two_claimers_racing_for_one_job_store_one_result,
    a_decode_that_stalls_fails_its_job_and_the_worker_goes_on,
    transcodes_at_once_are_bounded_and_a_client_that_leaves_frees_its_slot,
    annotation_tracks_are_their_authors,
    a_processor_that_does_not_fit_an_input_fails_alone,
);

/// With PostgreSQL several servers share the items: each keeps list pages (once it hears
/// item changes) and drops them when any server changes an item.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_on_one_postgresql_database_drop_list_pages_when_either_changes_an_item() {
    let dir = Env::new(Engine::Postgres).await;
    let a = timeside::server::start(config(&dir, 0, "", "")).await.expect("a");
    let b = timeside::server::start(config(&dir, 0, "", "")).await.expect("b");
    let token = user(&a, "ada", false).await;
    let item = upload(a.addr, &token, &tone(dir.path(), "shared.wav", 1.0), &[("is_public", "true")]).await;
    let title_on = |addr: SocketAddr| async move {
        let list = http::get(addr, "/api/v1/items", None).await.json();
        list["results"][0]["title"].as_str().unwrap_or_default().to_string()
    };
    // B keeps its page once it listens: a change made behind both servers' backs (no
    // notification) then goes unseen on B. (Bounded wait for B's LISTEN.)
    let pool = a.state.store.pool.clone();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    for n in 0.. {
        let before = title_on(b.addr).await;
        sqlx::query("UPDATE items SET title = $1").bind(format!("behind {n}")).execute(&pool).await.expect("update");
        if title_on(b.addr).await == before {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "B never kept a page");
    }
    // A change through A: A shows it at once, B as soon as the notification arrives.
    let path = format!("/api/v1/items/{}", item["uuid"].as_str().expect("uuid"));
    let r = http::json(a.addr, "PATCH", &path, Some(&token), &json!({ "title": "through a" })).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(title_on(a.addr).await, "through a");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while title_on(b.addr).await != "through a" {
        assert!(tokio::time::Instant::now() < deadline, "B kept a stale page");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A deletion through B: gone from A's list too.
    let r = http::send(b.addr, "DELETE", &path, &[("Authorization", &format!("Bearer {token}"))], b"").await;
    assert_eq!(r.status, 204);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while http::get(a.addr, "/api/v1/items", None).await.json()["count"] != 0 {
        assert!(tokio::time::Instant::now() < deadline, "A kept a stale page");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    a.shutdown().await;
    b.shutdown().await;
}
