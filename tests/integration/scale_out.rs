//! Scale-out on PostgreSQL: `timeside worker` processes (the real binary) on a scratch database
//! and a shared data directory, beside a server that runs no jobs itself. Workers are killed
//! with SIGKILL and stopped with SIGTERM in the middle of jobs.

use crate::http;
use crate::on_demand::{Engine, Env, assert_metrics, config, run_task, tone, upload, user, wait_task};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::io::BufRead;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use timeside::server::RunningServer;
use timeside::storage::Store;
use tokio_tungstenite::tungstenite::Message;

/// A `timeside worker` process and what it logged.
struct Worker {
    child: Child,
    log: Arc<Mutex<String>>,
}

impl Worker {
    /// Starts a worker on `env`'s database and data directory, one job at a time, with the
    /// `[jobs]` settings of `config_file`.
    fn start(env: &Env, config_file: &std::path::Path) -> Worker {
        let mut child = Command::new(env!("CARGO_BIN_EXE_timeside"))
            .arg("worker")
            .args(["--database", &env.database_url().expect("PostgreSQL")])
            .arg("--data-dir")
            .arg(env.path().join("data"))
            .args(["--jobs", "1", "--config"])
            .arg(config_file)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("timeside worker");
        let log = Arc::new(Mutex::new(String::new()));
        let (stderr, sink) = (child.stderr.take().expect("stderr"), log.clone());
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().expect("log");
                log.push_str(&line);
                log.push('\n');
            }
        });
        Worker { child, log }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }

    fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    fn terminate(&self) {
        let sent = Command::new("kill").args(["-TERM", &self.pid().to_string()]).status().expect("kill");
        assert!(sent.success());
    }

    /// Waits (bounded) for the process to exit; its exit code.
    fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the worker did not exit within {limit:?}; it logged:\n{}", self.log());
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A job row as the queue holds it.
#[derive(Debug)]
struct JobRow {
    status: String,
    attempts: i64,
    /// The pid in the lease owner (`host:pid:n`), if claimed.
    owner_pid: Option<u32>,
    item: String,
}

async fn jobs_of(store: &Store, task: &str) -> Vec<JobRow> {
    use sqlx::Row;
    let rows = sqlx::query("SELECT status, attempts, lease_owner, item FROM jobs WHERE task = $1 ORDER BY date_added")
        .bind(task.to_string())
        .fetch_all(&store.pool)
        .await
        .expect("jobs");
    rows.iter()
        .map(|r| JobRow {
            status: r.get("status"),
            attempts: r.get("attempts"),
            owner_pid: r
                .get::<Option<String>, _>("lease_owner")
                .and_then(|o| o.split(':').nth(1).and_then(|p| p.parse().ok())),
            item: r.get("item"),
        })
        .collect()
}

/// Waits (bounded) until `ready` holds for the task's jobs.
async fn wait_jobs(store: &Store, task: &str, what: &str, ready: impl Fn(&[JobRow]) -> bool) -> Vec<JobRow> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let jobs = jobs_of(store, task).await;
        if ready(&jobs) {
            return jobs;
        }
        assert!(tokio::time::Instant::now() < deadline, "never {what}: {jobs:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A server with no workers of its own on a scratch PostgreSQL database, and the
/// configuration file its workers read (`[jobs]` settings in `jobs`).
async fn server(env: &Env, jobs: &str) -> (RunningServer, std::path::PathBuf) {
    let server = timeside::server::start(config(env, 0, "", jobs)).await.expect("start");
    (server, env.path().join("server.toml"))
}

/// An experience decoded at the pace of the clock with two presets: each job lasts as long as
/// its item.
async fn realtime_experience(addr: SocketAddr, token: &str) -> String {
    let mut presets = Vec::new();
    for processor in ["level", "loudness"] {
        let r = http::json(addr, "POST", "/api/v1/presets", Some(token), &json!({ "processor": processor })).await;
        presets.push(r.json()["uuid"].clone());
    }
    let r = http::json(
        addr,
        "POST",
        "/api/v1/experiences",
        Some(token),
        &json!({ "title": "paced", "presets": presets, "decoder": { "realtime": true } }),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()["uuid"].as_str().expect("uuid").to_string()
}

async fn item(addr: SocketAddr, token: &str, env: &Env, name: &str, seconds: f64) -> String {
    upload(addr, token, &tone(env.path(), name, seconds), &[]).await["uuid"].as_str().expect("uuid").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_share_a_selection_and_a_killed_one_loses_nothing() {
    let env = Env::new(Engine::Postgres).await;
    let (server, config_file) = server(&env, "lease_s = 2.0").await;
    let (addr, store) = (server.addr, server.state.store.clone());
    let token = user(&server, "ada", false).await;
    let mut items = Vec::new();
    // Different lengths: different content (equal content would share cached results).
    for i in 0..4 {
        items.push(item(addr, &token, &env, &format!("tone{i}.wav"), 3.0 + 0.1 * i as f64).await);
    }
    let r =
        http::json(addr, "POST", "/api/v1/selections", Some(&token), &json!({ "title": "four", "items": items })).await;
    let selection = r.json()["uuid"].as_str().expect("uuid").to_string();
    let paced = realtime_experience(addr, &token).await;
    let (mut a, b) = (Worker::start(&env, &config_file), Worker::start(&env, &config_file));
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://{addr}/api/v1/ws?token={token}")).await.expect("ws");
    let task = run_task(addr, &token, &paced, ("selection", &selection)).await;
    let id = task["uuid"].as_str().expect("uuid").to_string();
    ws.send(Message::text(json!({ "op": "subscribe", "topic": format!("task:{id}") }).to_string()))
        .await
        .expect("subscribe");
    // Both workers run a job of the selection at once; then one of them is killed mid-job.
    let (pa, pb) = (a.pid(), b.pid());
    let running = wait_jobs(&store, &id, "running on both workers", |jobs| {
        let on = |pid| jobs.iter().any(|j| j.status == "running" && j.owner_pid == Some(pid));
        on(pa) && on(pb)
    })
    .await;
    let killed_item = running.iter().find(|j| j.owner_pid == Some(pa)).expect("a's job").item.clone();
    a.kill();

    // The server relays the workers' events (they reach it through PostgreSQL).
    let (mut progress_at, mut kinds) = (Vec::new(), Vec::new());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while let Ok(Some(Ok(msg))) = tokio::time::timeout_at(deadline, ws.next()).await {
        let Ok(text) = msg.to_text() else { continue };
        let e: Value = serde_json::from_str(text).expect("event");
        if e["event"] == "progress" {
            progress_at.push(std::time::Instant::now());
        }
        kinds.push(e["event"].as_str().unwrap_or_default().to_string());
        if e["event"] == "task_status" && e["status"] == "done" {
            break;
        }
    }
    assert_eq!(kinds.last().map(String::as_str), Some("task_status"), "{kinds:?}");
    assert_eq!(kinds.iter().filter(|k| *k == "result").count(), 8, "{kinds:?}");
    // A job runs all along (b, then the killed job again): progress at least every second.
    let widest = progress_at.windows(2).map(|w| w[1] - w[0]).max().unwrap_or_default();
    assert!(
        progress_at.len() > 10 && widest <= Duration::from_millis(1500),
        "{} events, gap {widest:?}",
        progress_at.len()
    );

    let done = wait_task(addr, &token, &id, Duration::from_secs(5)).await;
    assert_eq!(done["status"], "done", "{done}");
    // Each (item, preset) result once, all done.
    let results = http::get(addr, &format!("/api/v1/results?task={id}&page_size=100"), Some(&token)).await.json();
    assert_eq!(results["count"], 8, "{results}");
    let pairs: std::collections::HashSet<(String, String)> = results["results"]
        .as_array()
        .expect("list")
        .iter()
        .inspect(|r| assert_eq!(r["status"], "done", "{r}"))
        .map(|r| (r["item"].as_str().unwrap_or("").to_string(), r["preset"].as_str().unwrap_or("").to_string()))
        .collect();
    assert_eq!(pairs.len(), 8);
    // The killed worker's job was taken over by the other.
    let jobs = jobs_of(&store, &id).await;
    let retaken = jobs.iter().find(|j| j.item == killed_item).expect("job");
    assert_eq!((retaken.status.as_str(), retaken.attempts, retaken.owner_pid), ("done", 2, Some(pb)), "{jobs:?}");
    // One log line per job.
    let log = b.log();
    let lines: Vec<&str> = log.lines().filter(|l| l.contains(" job ") && l.contains("outcome=done")).collect();
    assert!(lines.iter().any(|l| l.contains(&killed_item) && l.contains("presets=level,loudness")), "{log}");
    // The server's /metrics counts the workers' jobs (from the database).
    assert_metrics(
        addr,
        &[
            "timeside_jobs{status=\"done\"} 4",
            "timeside_jobs{status=\"running\"} 0",
            "timeside_job_duration_seconds_count 4",
            "timeside_results{processor=\"loudness\",status=\"done\"} 4",
        ],
    )
    .await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_workers_keep_dying_fails_after_its_attempts() {
    let env = Env::new(Engine::Postgres).await;
    let (server, config_file) = server(&env, "lease_s = 1.0\nmax_attempts = 2").await;
    let (addr, store) = (server.addr, server.state.store.clone());
    let token = user(&server, "ada", false).await;
    let uuid = item(addr, &token, &env, "long.wav", 30.0).await;
    let paced = realtime_experience(addr, &token).await;
    let task = run_task(addr, &token, &paced, ("item", &uuid)).await;
    let id = task["uuid"].as_str().expect("uuid").to_string();
    // The input kills every worker that takes it (here: SIGKILL once it runs).
    for attempt in 1..=2 {
        let mut w = Worker::start(&env, &config_file);
        let pid = w.pid();
        wait_jobs(&store, &id, "running", |jobs| jobs[0].status == "running" && jobs[0].owner_pid == Some(pid)).await;
        w.kill();
        assert_eq!(jobs_of(&store, &id).await[0].attempts, attempt);
    }
    // The next worker does not take it a third time: it fails it, with the reason.
    let survivor = Worker::start(&env, &config_file);
    let failed = wait_task(addr, &token, &id, Duration::from_secs(20)).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let error = failed["items"][0]["error"].as_str().unwrap_or_default();
    assert!(error.contains("gave up after 2 attempts"), "{failed}");
    assert_eq!(jobs_of(&store, &id).await[0].attempts, 2);
    // ... and goes on with other work.
    let quick = crate::on_demand::experience(addr, "standard").await;
    let next = run_task(addr, &token, &quick, ("item", &uuid)).await;
    let done = wait_task(addr, &token, next["uuid"].as_str().expect("uuid"), Duration::from_secs(60)).await;
    assert_eq!(done["status"], "done", "{done}\n{}", survivor.log());
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_leaves_a_job_done_or_queued_never_half_stored() {
    let env = Env::new(Engine::Postgres).await;
    let (server, short_grace) = server(&env, "stop_grace_s = 0.5").await;
    let (addr, store) = (server.addr, server.state.store.clone());
    let long_grace = env.path().join("long-grace.toml");
    let text = std::fs::read_to_string(&short_grace).expect("config");
    std::fs::write(&long_grace, text.replace("stop_grace_s = 0.5", "stop_grace_s = 30.0")).expect("config");
    let token = user(&server, "ada", false).await;
    let paced = realtime_experience(addr, &token).await;

    // A job longer than the grace: it goes back to the queue, with nothing stored.
    let long = item(addr, &token, &env, "long.wav", 8.0).await;
    let id = run_task(addr, &token, &paced, ("item", &long)).await["uuid"].as_str().expect("uuid").to_string();
    let mut w = Worker::start(&env, &short_grace);
    let pid = w.pid();
    wait_jobs(&store, &id, "running", |jobs| jobs[0].status == "running" && jobs[0].owner_pid == Some(pid)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    w.terminate();
    assert_eq!(w.wait_exit(Duration::from_secs(15)), Some(0), "{}", w.log());
    let jobs = jobs_of(&store, &id).await;
    assert_eq!((jobs[0].status.as_str(), jobs[0].attempts, jobs[0].owner_pid), ("pending", 0, None), "{jobs:?}");
    let results = http::get(addr, &format!("/api/v1/results?task={id}"), Some(&token)).await.json();
    assert_eq!(results["count"], 0, "{results}");
    assert!(w.log().contains("outcome=released"), "{}", w.log());
    // Another worker runs it.
    let next = Worker::start(&env, &short_grace);
    let done = wait_task(addr, &token, &id, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "done", "{done}\n{}", next.log());
    drop(next);

    // A job that ends within the grace: it is finished and stored, then the worker exits.
    let short = item(addr, &token, &env, "short.wav", 2.0).await;
    let id = run_task(addr, &token, &paced, ("item", &short)).await["uuid"].as_str().expect("uuid").to_string();
    let mut w = Worker::start(&env, &long_grace);
    let pid = w.pid();
    wait_jobs(&store, &id, "running", |jobs| jobs[0].status == "running" && jobs[0].owner_pid == Some(pid)).await;
    w.terminate();
    assert_eq!(w.wait_exit(Duration::from_secs(30)), Some(0), "{}", w.log());
    let jobs = jobs_of(&store, &id).await;
    assert_eq!(jobs[0].status, "done", "{jobs:?}");
    let results = http::get(addr, &format!("/api/v1/results?task={id}"), Some(&token)).await.json();
    assert_eq!(results["count"], 2, "{results}");
    server.shutdown().await;
}

#[test]
fn a_worker_refuses_sqlite_and_says_why() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = Command::new(env!("CARGO_BIN_EXE_timeside"))
        .arg("worker")
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("PostgreSQL") && err.contains("serve --workers"), "{err}");
}
