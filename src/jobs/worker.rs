//! Workers: claim a job, run the experience on the job's item in one decoding pass, store the
//! results. `timeside serve` runs a pool of them in process; separate worker processes run the
//! same loop on the same queue.
//!
//! A job first reuses every result whose cache key is already done (no decoding if all are),
//! then runs the rest in one pass: effects, then the fan-out. The pass runs in a process of its
//! own (`ondemand::isolated`), watched from here: the lease is renewed every [`HEARTBEAT`],
//! progress is published, and the process is killed when the task is cancelled, the lease is
//! lost, or decoding made no progress for `stall_timeout_s` (a hung input). A panic, a crash or
//! an allocation failure in the pass fails the job, never the worker or the server (and is
//! never retried as if a worker had died). A failed item fails its own results, with the
//! message; other jobs go on.

use super::cache;
use super::queue::{self, Job, Lease, QueueConfig};
use crate::events::{Body, Topics};
use crate::ondemand::{Limits, isolated};
use crate::processors::cost::AudioShape;
use crate::processors::registry::Factory;
use crate::storage::processing::{Experience, Preset};
use crate::storage::results::{NewResult, status};
use crate::storage::tasks::Task;
use crate::storage::{Store, StoreError, Viewer, files};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The log target of the per-job lines.
pub const LOG_TARGET: &str = "timeside::jobs";
/// The shipped `jobs.job_address_space_mb`: the default memory limit of a pass and room for
/// the process itself (its code, GStreamer's plugins and threads).
pub const DEFAULT_ADDRESS_SPACE_MB: u64 = 3072;
/// How often a running job renews its lease and publishes its progress.
pub const HEARTBEAT: Duration = Duration::from_millis(250);

#[derive(Clone, Debug)]
pub struct WorkerConfig {
    pub workers: usize,
    pub queue: QueueConfig,
    /// A pass that decodes nothing for this long is stopped and its job failed.
    pub stall_timeout_s: f64,
    /// How often an idle worker looks for jobs (it is also woken when a task is created).
    pub poll_every: Duration,
    /// What a pass may declare it costs (checked again before it runs).
    pub limits: Limits,
    /// The address-space limit of a job's process, in MiB (`jobs.job_address_space_mb`); 0: none.
    pub address_space_mb: u64,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
            queue: QueueConfig::default(),
            stall_timeout_s: 60.0,
            poll_every: Duration::from_secs(1),
            limits: Limits::DEFAULT,
            address_space_mb: DEFAULT_ADDRESS_SPACE_MB,
        }
    }
}

/// A pool of workers on one store.
pub struct Workers {
    /// No more claims: each worker ends after its job.
    draining: tokio::sync::watch::Sender<bool>,
    /// Running passes are stopped, their jobs released.
    stop: tokio::sync::watch::Sender<bool>,
    wake: Arc<tokio::sync::Notify>,
    handles: std::sync::Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

/// What a worker needs, shared by the pool.
struct Context {
    store: Store,
    topics: Arc<Topics>,
    config: WorkerConfig,
    /// This process's id in leases (`<host>:<pid>:<n>`).
    owner_prefix: String,
}

impl Workers {
    pub fn start(store: Store, topics: Arc<Topics>, config: WorkerConfig) -> Workers {
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let (draining, drained) = tokio::sync::watch::channel(false);
        let wake = Arc::new(tokio::sync::Notify::new());
        let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
        let ctx = Arc::new(Context { store, topics, config, owner_prefix: format!("{host}:{}", std::process::id()) });
        let handles = (0..ctx.config.workers)
            .map(|n| {
                tokio::spawn(worker_loop(
                    ctx.clone(),
                    format!("{}:{n}", ctx.owner_prefix),
                    wake.clone(),
                    drained.clone(),
                    stopped.clone(),
                ))
            })
            .collect();
        Workers { draining, stop, wake, handles: std::sync::Mutex::new(handles) }
    }

    /// A task was queued: idle workers look now instead of at their next poll.
    pub fn wake(&self) {
        self.wake.notify_waiters();
    }

    /// What [`wake`](Self::wake) does, for a listener that outlives a borrow of the pool.
    pub fn waker(&self) -> impl Fn() + Send + 'static {
        let wake = self.wake.clone();
        move || wake.notify_waiters()
    }

    /// Stops claiming; running jobs may finish for `grace`, then they are stopped and put back
    /// in the queue (whichever worker claims next runs them again).
    pub async fn stop(&self, grace: Duration) {
        let _ = self.draining.send(true);
        let handles = std::mem::take(&mut *self.handles.lock().unwrap_or_else(|e| e.into_inner()));
        let mut all = futures_util::future::join_all(handles);
        if tokio::time::timeout(grace, &mut all).await.is_err() {
            let _ = self.stop.send(true);
            all.await;
        }
    }
}

async fn worker_loop(
    ctx: Arc<Context>,
    owner: String,
    wake: Arc<tokio::sync::Notify>,
    mut draining: tokio::sync::watch::Receiver<bool>,
    mut stopped: tokio::sync::watch::Receiver<bool>,
) {
    let mut failing = Streak::default();
    loop {
        if *draining.borrow() || *stopped.borrow() {
            return;
        }
        match queue::fail_abandoned(&ctx.store, &ctx.config.queue).await {
            Ok(tasks) => {
                failing.recovered("queue: the database takes writes again");
                for t in tasks {
                    publish_task(&ctx, &t).await;
                }
            }
            Err(e) => failing.failed(&e, "queue: cannot fail abandoned jobs (logged once until it works again)"),
        }
        let claimed = queue::claim(&ctx.store, &owner, &ctx.config.queue).await;
        match claimed {
            Ok(Some(job)) => {
                run_job(&ctx, &job, &owner, &mut stopped).await;
                continue;
            }
            Ok(None) => {}
            // A busy database (another process writing): try again shortly.
            Err(e) => tracing::debug!(error = %e, "queue: claim failed"),
        }
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(ctx.config.poll_every) => {}
            _ = draining.changed() => return,
            _ = stopped.changed() => return,
        }
    }
}

/// A run of failures of the same write, logged once when it starts and once when it ends: a
/// database that refuses writes (a full disk) is one message, not one per poll.
#[derive(Default)]
struct Streak {
    failing: bool,
}

impl Streak {
    fn failed(&mut self, error: &impl std::fmt::Display, message: &'static str) {
        if !std::mem::replace(&mut self.failing, true) {
            tracing::warn!(error = %error, "{message}");
        }
    }

    fn recovered(&mut self, message: &'static str) {
        if std::mem::replace(&mut self.failing, false) {
            tracing::warn!("{message}");
        }
    }
}

/// Publishes a task's status (if it changed) on its topic and its items' topics.
async fn publish_task(ctx: &Context, task: &uuid::Uuid) {
    match ctx.store.refresh_task(task).await {
        Ok(Some(t)) => publish_status(&ctx.topics, &t),
        Ok(None) => {}
        Err(e) => tracing::warn!(task = %task, error = %e, "cannot update the task's status"),
    }
}

/// The `task_status` event of `task`, on its topic and its items'.
pub fn publish_status(topics: &Topics, task: &Task) {
    let body = || Body::TaskStatus {
        task: task.uuid.to_string(),
        status: task.status.clone(),
        progress: task.progress,
        error: task.error.clone(),
    };
    topics.publish(&format!("task:{}", task.uuid), body());
    let author = task.author.as_deref().unwrap_or_default();
    for i in &task.items {
        topics.publish_to_item(&i.item.to_string(), author, body);
    }
}

/// How a pass ended, seen from the worker.
enum Ended {
    Ran(Result<isolated::PassOutput, String>),
    Cancelled,
    Lost,
    Stalled,
    Stopping,
}

/// What became of a job.
#[derive(Clone, Copy)]
enum Verdict {
    /// Stored as `done` or `failed`.
    Store(&'static str),
    /// Nothing stored: `cancelled`, `lost` (another worker has it) or `released` (back in the
    /// queue: this worker stops).
    Unstored(&'static str),
}

async fn run_job(ctx: &Context, job: &Job, owner: &str, stopped: &mut tokio::sync::watch::Receiver<bool>) {
    let started = Instant::now();
    publish_task(ctx, &job.task).await;
    let (processors, (verdict, error, results)) = match prepare(ctx, job).await {
        Ok(prepared) => {
            let names: Vec<&str> = prepared.experience.presets.iter().map(|p| p.processor.as_str()).collect();
            (names.join(","), execute(ctx, job, owner, prepared, stopped).await)
        }
        Err(e) => ("?".to_string(), (Verdict::Store(status::FAILED), e.to_string(), Vec::new())),
    };
    // The job's one log line (shown by default, see `cli::init_logging`).
    let log = |outcome: &str| {
        let seconds = (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
        tracing::info!(target: LOG_TARGET, job = %job.uuid, item = %job.item, presets = %processors, seconds, outcome = %outcome, error = %error, "job");
    };
    let outcome = match verdict {
        Verdict::Unstored(why) => {
            log(why);
            publish_task(ctx, &job.task).await;
            return;
        }
        Verdict::Store(outcome) => outcome,
    };
    match store_outcome(ctx, job, owner, outcome, &error, &results, stopped).await {
        Some(Ok(Some(ids))) => {
            log(outcome);
            for (r, id) in results.iter().zip(ids) {
                let body = || Body::Result {
                    task: job.task.to_string(),
                    item: job.item.to_string(),
                    result: id.to_string(),
                    processor: r.processor.clone(),
                    status: r.status.to_string(),
                };
                ctx.topics.publish(&format!("task:{}", job.task), body());
                ctx.topics.publish_to_item(&job.item.to_string(), &job.author, body);
            }
        }
        Some(Ok(None)) => log("lost"),
        Some(Err(e)) => {
            log("unstored");
            tracing::warn!(job = %job.uuid, error = %e, "cannot store the job's results");
        }
        None => {
            log("released");
            if let Err(e) = queue::release(&ctx.store, job, owner).await {
                tracing::warn!(job = %job.uuid, error = %e, "cannot put the job back in the queue");
            }
        }
    }
    publish_task(ctx, &job.task).await;
}

/// Longest wait between two tries to store a job's outcome.
const STORE_RETRY_MAX: Duration = Duration::from_secs(30);

/// Stores the job's outcome, trying again while the database refuses the write for now (a full
/// disk, a database locked for longer than its busy timeout: `DbError::is_transient`; any
/// other error is final): the job keeps its lease meanwhile, so
/// it is neither left `running` nor run again. Logs the first failure and the recovery, not
/// every try. `None`: the server stops before it could be stored (the caller releases the job).
async fn store_outcome(
    ctx: &Context,
    job: &Job,
    owner: &str,
    outcome: &'static str,
    error: &str,
    results: &[NewResult],
    stopped: &mut tokio::sync::watch::Receiver<bool>,
) -> Option<Result<Option<Vec<uuid::Uuid>>, StoreError>> {
    let mut wait = Duration::from_millis(500);
    let mut failures = 0u32;
    loop {
        let attempt = queue::finish(&ctx.store, job, owner, outcome, error, results).await;
        match attempt {
            Err(StoreError::Db(e)) if e.is_transient() => {
                failures += 1;
                if failures == 1 {
                    tracing::warn!(job = %job.uuid, error = %e, "cannot store the job's outcome; trying again until the database takes it");
                }
                if *stopped.borrow() {
                    return None;
                }
                // Keeps the lease (a write too: it fails alike while the database refuses).
                let _ = queue::heartbeat(&ctx.store, job, owner, &ctx.config.queue, 1.0).await;
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stopped.changed() => return None,
                }
                wait = (wait * 2).min(STORE_RETRY_MAX);
            }
            other => {
                if failures > 0 {
                    tracing::warn!(job = %job.uuid, failures, "the job's outcome is stored after all");
                }
                return Some(other);
            }
        }
    }
}

/// What a job runs: its experience, item, and which presets are cached already.
struct Prepared {
    experience: Experience,
    /// Where the media is, and the folders it must be found in.
    media: (std::path::PathBuf, Vec<std::path::PathBuf>),
    /// The media's name as the client gave it.
    file_name: String,
    keys: Vec<Option<String>>,
    /// Results reused from the cache.
    reused: Vec<NewResult>,
    /// Presets (indices) to compute.
    to_run: Vec<usize>,
    /// The media's rate, channels and duration, when known: what the pass's cost is checked on.
    shape: Option<AudioShape>,
}

async fn prepare(ctx: &Context, job: &Job) -> Result<Prepared, StoreError> {
    let task = ctx.store.task(&Viewer::ADMIN, &job.task).await?;
    let experience = ctx.store.experience(&Viewer::ADMIN, &task.experience).await?;
    let item = ctx.store.item(&Viewer::ADMIN, &job.item).await?;
    let media = ctx
        .store
        .media_place(&item.location)
        .ok_or_else(|| StoreError::Gone(format!("{}: the item has no media file", item.file_name)))?;
    let keys = cache::keys(&experience, &item.sha256);
    let (mut reused, mut to_run) = (Vec::new(), Vec::new());
    for (i, (preset, key)) in experience.presets.iter().zip(&keys).enumerate() {
        let Some(key) = key else { continue };
        match ctx.store.cached_result(key).await? {
            Some(cached) => reused.push(NewResult {
                item: job.item,
                preset: preset.uuid,
                author: job.author.clone(),
                task: job.task,
                status: status::DONE,
                error: String::new(),
                run_time: cached.run_time,
                processor: cached.processor,
                version: cached.version,
                parameters: cached.parameters,
                cache_key: cached.cache_key,
                mime_type: cached.mime_type,
                data_path: cached.data_path,
            }),
            None => to_run.push(i),
        }
    }
    let shape = item.audio_shape();
    Ok(Prepared { experience, media, file_name: item.file_name, keys, reused, to_run, shape })
}

/// Runs what is not cached; returns what becomes of the job, its error and its results.
async fn execute(
    ctx: &Context,
    job: &Job,
    owner: &str,
    p: Prepared,
    stopped: &mut tokio::sync::watch::Receiver<bool>,
) -> (Verdict, String, Vec<NewResult>) {
    let mut results = p.reused.clone();
    if p.to_run.is_empty() {
        return (Verdict::Store(status::DONE), String::new(), results);
    }
    // The pass: every effect (they shape what follows them) and the presets to compute, in order.
    let steps: Vec<usize> =
        (0..p.experience.presets.len()).filter(|i| p.to_run.contains(i) || p.keys[*i].is_none()).collect();
    let compiled = p.experience.pass(&steps).and_then(|s| Ok((s.compile(&p.experience.title)?, s)));
    let (pipeline, spec) = match compiled {
        Ok(both) => both,
        Err(e) => return fail_all(job, &p, e.to_string(), results),
    };
    // Checked when the task was made; checked again here, as the limits may have changed since.
    if let Some(shape) = p.shape
        && let Err(e) = crate::ondemand::limits::check(&pipeline, shape, &ctx.config.limits)
    {
        return fail_all(job, &p, e.to_string(), results);
    }
    let out_dir = ctx.store.files.temp("job");
    if let Err(e) = std::fs::create_dir_all(&out_dir) {
        return fail_all(job, &p, format!("cannot make a working folder: {e}"), results);
    }
    // An item whose file turns out shorter than its container says (a truncated copy) is
    // analysed as far as it goes, and marked so (see `Store::item_truncated`).
    let mut spec = spec;
    spec.decoder.keep_truncated = true;
    let request = isolated::PassRequest {
        spec,
        input: p.media.0.clone(),
        roots: p.media.1.clone(),
        name: p.file_name.clone(),
        out_dir: out_dir.clone(),
        uri: format!("/api/v1/items/{}/download/original", job.item),
        address_space_mb: ctx.config.address_space_mb,
    };
    let started = Instant::now();
    let ended = watch_pass(ctx, job, owner, &request, stopped).await;
    let run_time = started.elapsed().as_secs_f64();
    if let Ended::Ran(Ok(out)) = &ended
        && let Some(truncation) = out.truncated
        && let Err(e) = ctx.store.item_truncated(&job.item, truncation).await
    {
        tracing::warn!(item = %job.item, error = %e, "cannot mark the item truncated");
    }
    let outcome = match ended {
        Ended::Ran(Ok(out)) => match store_outputs(ctx, job, &p, &steps, &out, &out_dir, run_time) {
            Ok(stored) => {
                // A processor that failed alone fails the job, with the others' results stored.
                let errors: Vec<String> =
                    stored.iter().filter(|r| r.status == status::FAILED).map(|r| r.error.clone()).collect();
                results.extend(stored);
                if errors.is_empty() {
                    (Verdict::Store(status::DONE), String::new(), results)
                } else {
                    (Verdict::Store(status::FAILED), errors.join("; "), results)
                }
            }
            Err(e) => fail_all(job, &p, e, results),
        },
        Ended::Ran(Err(e)) => fail_all(job, &p, e, results),
        Ended::Stalled => fail_all(
            job,
            &p,
            format!(
                "stopped: the pass made no progress for {} s (a hung input, or results too large to write in that time)",
                ctx.config.stall_timeout_s
            ),
            results,
        ),
        Ended::Cancelled => (Verdict::Unstored("cancelled"), String::new(), Vec::new()),
        Ended::Lost => (Verdict::Unstored("lost"), String::new(), Vec::new()),
        Ended::Stopping => {
            if let Err(e) = queue::release(&ctx.store, job, owner).await {
                tracing::warn!(job = %job.uuid, error = %e, "cannot put the job back in the queue");
            }
            (Verdict::Unstored("released"), String::new(), Vec::new())
        }
    };
    let _ = std::fs::remove_dir_all(&out_dir);
    outcome
}

/// The job fails: every result it was to compute fails with `error` (reused ones stay done).
fn fail_all(job: &Job, p: &Prepared, error: String, mut results: Vec<NewResult>) -> (Verdict, String, Vec<NewResult>) {
    for &i in &p.to_run {
        let preset = &p.experience.presets[i];
        let version = crate::processors::lookup(&preset.processor).map(|e| e.descriptor.version).unwrap_or_default();
        let key = p.keys[i].clone().unwrap_or_default();
        results.push(failed_result(job, preset, key, version, &error, 0.0));
    }
    (Verdict::Store(status::FAILED), error, results)
}

/// A failed result of `preset` on the job's item, saying why.
fn failed_result(
    job: &Job,
    preset: &Preset,
    cache_key: String,
    version: &str,
    error: &str,
    run_time: f64,
) -> NewResult {
    NewResult {
        item: job.item,
        preset: preset.uuid,
        author: job.author.clone(),
        task: job.task,
        status: status::FAILED,
        error: error.to_string(),
        run_time,
        processor: preset.processor.clone(),
        version: version.to_string(),
        parameters: preset.parameters.clone(),
        cache_key,
        mime_type: String::new(),
        data_path: None,
    }
}

/// Runs the pass in its own process and watches it (see the module's comment).
async fn watch_pass(
    ctx: &Context,
    job: &Job,
    owner: &str,
    request: &isolated::PassRequest,
    stopped: &mut tokio::sync::watch::Receiver<bool>,
) -> Ended {
    let started = match isolated::binary() {
        Ok(binary) => isolated::Pass::start(&binary, request).await,
        Err(e) => Err(e),
    };
    let mut pass = match started {
        Ok(pass) => pass,
        Err(e) => return Ended::Ran(Err(e)),
    };
    let topic = format!("task:{}", job.task);
    let item = job.item.to_string();
    let stall = Duration::from_secs_f64(ctx.config.stall_timeout_s);
    let mut fraction = 0.0;
    let mut last_block = Instant::now();
    let mut heartbeat = tokio::time::interval(HEARTBEAT);
    loop {
        tokio::select! {
            report = pass.next() => match report {
                Some(isolated::Report::Progress(f)) => {
                    fraction = f;
                    last_block = Instant::now();
                    continue;
                }
                Some(isolated::Report::Block) => {
                    last_block = Instant::now();
                    continue;
                }
                None => return Ended::Ran(pass.finish().await),
            },
            _ = heartbeat.tick() => {}
            _ = stopped.changed() => {
                pass.kill().await;
                return Ended::Stopping;
            }
        }
        let ending = match queue::heartbeat(&ctx.store, job, owner, &ctx.config.queue, fraction).await {
            Ok(Lease::Held) => None,
            Ok(Lease::Cancelled) => Some(Ended::Cancelled),
            Ok(Lease::Lost) => Some(Ended::Lost),
            Err(e) => {
                tracing::debug!(job = %job.uuid, error = %e, "heartbeat failed");
                None
            }
        };
        let ending = ending.or_else(|| (last_block.elapsed() > stall).then_some(Ended::Stalled));
        if let Some(ending) = ending {
            pass.kill().await;
            return ending;
        }
        let body = || Body::Progress { task: job.task.to_string(), fraction };
        ctx.topics.publish(&topic, body());
        ctx.topics.publish_to_item(&item, &job.author, body);
    }
}

/// Moves each computed preset's results and files into its content-addressed place.
fn store_outputs(
    ctx: &Context,
    job: &Job,
    p: &Prepared,
    steps: &[usize],
    out: &isolated::PassOutput,
    out_dir: &std::path::Path,
    run_time: f64,
) -> Result<Vec<NewResult>, String> {
    let mut stored = Vec::new();
    for (step, &i) in steps.iter().enumerate() {
        let Some(key) = p.keys[i].clone() else { continue };
        let preset = &p.experience.presets[i];
        let entry = crate::processors::lookup(&preset.processor).ok_or("unknown processor")?;
        let made = out.steps.get(step).ok_or("the pass made fewer steps than it was given")?;
        let version = entry.descriptor.version.to_string();
        if let Some(error) = &made.error {
            // This processor alone: its parameters do not fit the input; the others' stand.
            stored.push(failed_result(job, preset, key, &version, error, run_time));
            continue;
        }
        let staging = ctx.store.files.temp("result");
        std::fs::create_dir_all(&staging).map_err(|e| format!("cannot write results: {e}"))?;
        // The pass wrote them naming the item's URL, not the media's path on this server.
        if !made.results.starts_with(out_dir) {
            return Err("the pass wrote its results outside its folder".into());
        }
        std::fs::rename(&made.results, staging.join("results.json"))
            .map_err(|e| format!("cannot write results: {e}"))?;
        let mut primary = ("results.json".to_string(), "application/json".to_string());
        for file in &made.files {
            let name = files::safe_file_name(
                &file.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
                "data",
            );
            if !file.starts_with(out_dir) {
                continue;
            }
            std::fs::rename(file, staging.join(&name)).map_err(|e| format!("cannot move {name}: {e}"))?;
            let ext = name.rsplit('.').next().unwrap_or_default().to_ascii_lowercase();
            let mime = match (&entry.factory, ext.as_str()) {
                (Factory::Grapher(_), "png") => Some("image/png".to_string()),
                (Factory::Encoder(_), ext) => {
                    crate::processors::encoders::formats::format(ext).map(|f| f.mime.to_string())
                }
                _ => None,
            };
            if let Some(mime) = mime
                && primary.0 == "results.json"
            {
                primary = (name, mime);
            }
        }
        let place = ctx.store.files.result_dir(&key);
        files::put_in_place(&staging, &place).map_err(|e| format!("cannot store results: {e}"))?;
        stored.push(NewResult {
            item: job.item,
            preset: preset.uuid,
            author: job.author.clone(),
            task: job.task,
            status: status::DONE,
            error: String::new(),
            run_time,
            processor: preset.processor.clone(),
            version,
            parameters: preset.parameters.clone(),
            data_path: ctx.store.files.relative(&place.join(&primary.0)),
            cache_key: key,
            mime_type: primary.1,
        });
    }
    Ok(stored)
}
