//! Scale-out benchmark (loopback only, bounded): N files of S seconds (pink noise FLAC, all
//! different) through the `standard` experience, in one task on a selection, with
//!
//! - PostgreSQL: one `timeside serve --workers 0` and 1, 2, 3 `timeside worker --jobs 1`
//!   processes (each run on a new scratch database and data directory: nothing cached);
//! - SQLite: `timeside serve --workers 1, 2, 3` (the in-process pool);
//!
//! wall time and CPU (server + workers) per configuration; then the queue's own cost per job
//! on each engine, timed call by call: claim, one heartbeat, and finish (storing the
//! experience's results in one transaction), against what a job of one file costs.
//!
//!   bash benches/scale_out.sh              # 20 files of 240 s; 1, 2, 3 workers
//!   bash benches/scale_out.sh 4 30 1,2     # files, seconds, worker counts
//!
//! Needs the PostgreSQL that scripts/install-deps.sh starts (or TIMESIDE_TEST_POSTGRES).

mod api;
mod common;
use api::{add_items, cpu_seconds, json, run_task, synth, write_server_config};
use common::{arg, start_server};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use timeside::jobs::queue::{self, QueueConfig};
use timeside::storage::db::ScratchDatabase;
use timeside::storage::{Store, Viewer};

/// One configuration's run.
struct Run {
    label: String,
    wall_s: f64,
    cpu_s: f64,
}

/// A server (and its worker processes) on a fresh data directory.
struct Setup {
    dir: tempfile::TempDir,
    database: Option<ScratchDatabase>,
    server: tokio::process::Child,
    addr: std::net::SocketAddr,
    workers: Vec<tokio::process::Child>,
}

impl Setup {
    /// `serve` with `in_process` workers; on PostgreSQL also `processes` worker processes.
    async fn start(server_bin: &str, media: &Path, postgres: bool, in_process: usize, processes: usize) -> Setup {
        let dir = tempfile::tempdir().expect("tmp");
        let database = if postgres { Some(ScratchDatabase::create().await.expect("PostgreSQL")) } else { None };
        let config = write_server_config(dir.path(), media, in_process, database.as_ref().map(|d| d.url.as_str()));
        let (server, addr) = start_server(server_bin, &config).await;
        let workers = (0..processes)
            .map(|_| {
                tokio::process::Command::new(server_bin)
                    .args(["worker", "--jobs", "1", "--config"])
                    .arg(&config)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .kill_on_drop(true)
                    .spawn()
                    .expect("timeside worker")
            })
            .collect();
        Setup { dir, database, server, addr, workers }
    }

    fn pids(&self) -> Vec<u32> {
        std::iter::once(&self.server).chain(&self.workers).filter_map(|c| c.id()).collect()
    }

    fn cpu(&self) -> f64 {
        self.pids().into_iter().map(cpu_seconds).sum()
    }

    async fn store(&self) -> Store {
        let url = self.database.as_ref().map(|d| d.url.as_str());
        Store::open(&self.dir.path().join("data"), url).await.expect("store")
    }
}

async fn standard(addr: std::net::SocketAddr) -> String {
    let list = json(addr, "GET", "/api/v1/experiences?page_size=100", serde_json::Value::Null).await;
    list["results"].as_array().expect("list").iter().find(|e| e["title"] == "standard").expect("standard")["uuid"]
        .as_str()
        .expect("uuid")
        .to_string()
}

/// The standard experience on every file, in one task; wall time and CPU of all processes.
async fn throughput(setup: &Setup, files: &[PathBuf], label: String) -> Run {
    let items = add_items(setup.addr, files).await;
    let experience = standard(setup.addr).await;
    let cpu0 = setup.cpu();
    let wall_s = run_task(setup.addr, &experience, &items).await.as_secs_f64();
    Run { label, wall_s, cpu_s: setup.cpu() - cpu0 }
}

/// Mean milliseconds of the queue's calls over `jobs` jobs: claim, heartbeat, finish.
async fn queue_costs(setup: &Setup, file: &Path, jobs: usize) -> (f64, f64, f64) {
    let item = add_items(setup.addr, &[file.to_path_buf()]).await.remove(0);
    let experience = standard(setup.addr).await;
    for _ in 0..jobs {
        json(setup.addr, "POST", "/api/v1/tasks", serde_json::json!({ "experience": experience, "item": item })).await;
    }
    let store = setup.store().await;
    let exp = store.experience(&Viewer::ADMIN, &experience.parse().expect("uuid")).await.expect("experience");
    let config = QueueConfig::default();
    let (mut claim, mut beat, mut finish) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    for _ in 0..jobs {
        let t = Instant::now();
        let job = queue::claim(&store, "bench", &config).await.expect("claim").expect("a job");
        claim += t.elapsed();
        let t = Instant::now();
        queue::heartbeat(&store, &job, "bench", &config, 0.5).await.expect("heartbeat");
        beat += t.elapsed();
        let results: Vec<_> = exp
            .presets
            .iter()
            .map(|p| timeside::storage::results::NewResult {
                item: job.item,
                preset: p.uuid,
                author: job.author.clone(),
                task: job.task,
                status: "done",
                error: String::new(),
                run_time: 1.0,
                processor: p.processor.clone(),
                version: "bench".into(),
                parameters: p.parameters.clone(),
                cache_key: format!("bench-{}-{}", job.uuid, p.uuid),
                mime_type: "application/json".into(),
                data_path: None,
            })
            .collect();
        let t = Instant::now();
        queue::finish(&store, &job, "bench", "done", "", &results).await.expect("finish").expect("held");
        finish += t.elapsed();
    }
    let ms = |d: Duration| d.as_secs_f64() * 1000.0 / jobs as f64;
    (ms(claim), ms(beat), ms(finish))
}

#[tokio::main]
async fn main() {
    let server_bin = arg("--server", "target/release/timeside");
    let count: usize = arg("--files", "20").parse().expect("--files");
    let seconds: u32 = arg("--seconds", "240").parse().expect("--seconds");
    let counts: Vec<usize> =
        arg("--workers", "1,2,3").split(',').map(|n| n.trim().parse().expect("--workers N,N,...")).collect();
    let scratch = tempfile::tempdir().expect("tmp");
    let media = scratch.path().join("media");
    std::fs::create_dir_all(&media).expect("mkdir");
    eprintln!("making {count} files of {seconds} s ...");
    let files: Vec<PathBuf> = (0..count)
        .map(|i| {
            let f = media.join(format!("noise-{i:02}.flac"));
            synth(&f, seconds, "pinknoise");
            f
        })
        .collect();
    let audio_s = count as f64 * seconds as f64;

    let mut runs = Vec::new();
    for &n in &counts {
        eprintln!("PostgreSQL, {n} worker processes ...");
        let setup = Setup::start(&server_bin, &media, true, 0, n).await;
        runs.push(throughput(&setup, &files, format!("PostgreSQL, serve + {n} `timeside worker`")).await);
        eprintln!("SQLite, {n} in-process workers ...");
        let setup = Setup::start(&server_bin, &media, false, n, 0).await;
        runs.push(throughput(&setup, &files, format!("SQLite, serve --workers {n}")).await);
    }
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("\n## Scale-out: {count} files x {seconds} s through `standard` ({cores} cores)");
    println!("| configuration | wall | x realtime | CPU (server + workers) |");
    println!("|---|---|---|---|");
    for r in &runs {
        println!("| {} | {:.2} s | {:.0}x | {:.1} s |", r.label, r.wall_s, audio_s / r.wall_s, r.cpu_s);
    }

    // The queue's own cost, against one job's processing time (a file, on one worker).
    let per_job_s = runs.iter().find(|r| r.label.starts_with("PostgreSQL, serve + 1")).map(|r| r.wall_s / count as f64);
    println!("\n## Queue cost per job (mean of 200 jobs, no processing)");
    println!("| engine | claim | heartbeat | finish (stores the results) | per job | share of one file's job |");
    println!("|---|---|---|---|---|---|");
    for postgres in [true, false] {
        let setup = Setup::start(&server_bin, &media, postgres, 0, 0).await;
        let (claim, beat, finish) = queue_costs(&setup, &files[0], 200).await;
        // A job of one file renews its lease every 250 ms while it runs.
        let beats = per_job_s.map_or(0.0, |s| (s / 0.25).ceil());
        let per_job_ms = claim + finish + beats * beat;
        let share = per_job_s.map_or(String::from("-"), |s| format!("{:.3} %", per_job_ms / (s * 1000.0) * 100.0));
        println!(
            "| {} | {claim:.2} ms | {beat:.2} ms | {finish:.2} ms | {per_job_ms:.1} ms (claim + finish + {beats:.0} heartbeats) | {share} |",
            if postgres { "PostgreSQL" } else { "SQLite" }
        );
    }
    if let Some(s) = per_job_s {
        println!("one file's job on one worker: {:.2} s", s);
    }
}
