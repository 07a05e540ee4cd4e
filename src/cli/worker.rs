//! `timeside worker --database postgres://... --data-dir DIR [--jobs N] [--config FILE]`: a
//! process that runs the server's queued jobs. Any number of them, on any machines that share
//! the database and the data directory, take jobs from one queue (see `jobs::queue`); their
//! task events reach the servers' WebSocket clients through PostgreSQL (`jobs::relay`).
//!
//! One log line per job on stderr. SIGTERM or Ctrl-C: no more claims; running jobs finish
//! within `jobs.stop_grace_s`, or go back to the queue.

use super::{EXIT_INPUT_FAILED, EXIT_USAGE, fail};
use crate::storage::db::{Engine, redact};
use clap::Args;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

#[derive(Args)]
pub struct WorkerArgs {
    /// The server's database: postgres://USER:PASS@HOST/DB (default: server.database).
    #[arg(long, env = "TIMESIDE_DATABASE", value_name = "URL", hide_env_values = true)]
    database: Option<String>,
    /// The data directory the server uses, shared by every node (default: server.data_dir).
    #[arg(long, env = "TIMESIDE_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Jobs at a time (default: jobs.workers, else one per core).
    #[arg(long, env = "TIMESIDE_JOBS", value_name = "N")]
    jobs: Option<usize>,
    /// Configuration file (server.database, server.data_dir and the [jobs] settings).
    #[arg(long, env = "TIMESIDE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
}

pub fn worker(args: WorkerArgs) -> i32 {
    let loaded = super::server_config(args.config.as_deref(), |config| {
        if let Some(d) = args.data_dir {
            config.server.data_dir = d;
        }
        if let Some(d) = args.database {
            config.server.database = d;
        }
        if let Some(n) = args.jobs {
            config.jobs.workers = Some(n);
        }
    });
    let config = match loaded {
        Ok(c) => c,
        Err(code) => return code,
    };
    let url = config.server.database.clone();
    if url.is_empty() || Engine::of(&url).ok() != Some(Engine::Postgres) {
        return fail(
            EXIT_USAGE,
            "timeside worker needs the server's PostgreSQL database (--database postgres://USER:PASS@HOST/DB): \
             with SQLite, the server's own workers run the jobs (`serve --workers N`)",
        );
    }
    let worker_config = config.jobs.worker_config();
    if worker_config.workers == 0 {
        return fail(EXIT_USAGE, "--jobs: at least 1");
    }
    let grace = Duration::from_secs_f64(config.jobs.stop_grace_s);
    let runtime = match super::multi_thread_runtime() {
        Ok(r) => r,
        Err(code) => return code,
    };
    runtime.block_on(async move {
        let store = match crate::storage::Store::open(&config.server.data_dir, Some(&url)).await {
            Ok(s) => s.with_media_roots(&config.live.media_roots),
            Err(e) => return fail(EXIT_INPUT_FAILED, e),
        };
        let topics = Arc::new(crate::events::Topics::default());
        // This process has no WebSocket clients: it only sends.
        let mut relay = crate::jobs::relay::start(&store, &url, topics.clone(), false);
        let jobs = worker_config.workers;
        let workers = crate::jobs::Workers::start(store, topics, worker_config);
        relay.wake_on_new_jobs(&url, workers.waker());
        tracing::info!(
            target: crate::jobs::worker::LOG_TARGET,
            jobs,
            database = %redact(&url),
            data_dir = %config.server.data_dir.display(),
            "worker started"
        );
        let signal = stop_signal().await;
        tracing::info!(target: crate::jobs::worker::LOG_TARGET, signal, grace_s = grace.as_secs_f64(), "worker stopping: running jobs finish or go back to the queue");
        workers.stop(grace).await;
        relay.stop(Duration::from_secs(2)).await;
        tracing::info!(target: crate::jobs::worker::LOG_TARGET, "worker stopped");
        0
    })
}

/// Waits for SIGTERM or Ctrl-C (SIGINT); returns its name.
async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = tokio::signal::ctrl_c() => "SIGINT",
        },
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}
