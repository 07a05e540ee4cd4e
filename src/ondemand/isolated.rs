//! A job's pass in a process of its own (`timeside job-pass`, started by the worker), so that
//! what goes wrong in it ends that job alone: an allocation that fails aborts the process (Rust
//! and GStreamer both abort on it), a crash in a decoder or a processor kills it, and the
//! worker, the server and every other job go on. The process limits its own address space
//! (`jobs.job_address_space_mb`), so a pass that needs more than that fails at the limit
//! instead of pushing the machine into swap or the kernel's OOM killer.
//!
//! Protocol: the worker writes one JSON [`PassRequest`] on the child's stdin; the child writes
//! `progress <fraction>` and `block` lines on stdout as it decodes, each step's results into
//! `out_dir/results-<step>.json`, then `done <json PassOutput>` or `error <message>` as its last
//! line. Anything else (a panic's message, GStreamer's warnings) goes to stderr, whose tail the
//! worker keeps to say why a process died.

use crate::media::Input;
use crate::pipeline::{CancelToken, PipelineSpec, RunOptions};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// The hidden subcommand that runs a pass.
pub const SUBCOMMAND: &str = "job-pass";
/// Bytes of the child's stderr kept to explain its death.
const STDERR_TAIL: usize = 8192;
/// `block` lines at most this often (the worker only needs to know decoding moves).
const BLOCK_EVERY: Duration = Duration::from_millis(200);

/// What the worker asks of the child.
#[derive(Debug, Serialize, Deserialize)]
pub struct PassRequest {
    /// The pipeline (compiled again in the job's process: a compiled one holds the registry's
    /// functions, which do not cross a process boundary).
    pub spec: PipelineSpec,
    /// The media file, and the folders it must be in: checked on the file this process opens.
    pub input: PathBuf,
    pub roots: Vec<PathBuf>,
    /// What messages call the media (the item's file name, not its path on the server).
    pub name: String,
    /// Where steps write their files (the worker made it; it removes it).
    pub out_dir: PathBuf,
    /// What results name as their audio (`audio_metadata.uri`): the item's URL, not its path.
    pub uri: String,
    /// The child's address-space limit in MiB; 0: none.
    pub address_space_mb: u64,
}

/// What each pipeline step made, in step order.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct PassOutput {
    pub steps: Vec<StepOutput>,
    /// The media ended before the duration its container announces: the steps ran on what
    /// there was (passes decode with `keep_truncated`).
    #[serde(default)]
    pub truncated: Option<crate::media::Truncation>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct StepOutput {
    /// The step's results as a JSON list of AnalyzerResult (empty for effects and encoders).
    pub results: PathBuf,
    /// Files the step wrote (images, encoded audio), under `out_dir`.
    pub files: Vec<PathBuf>,
    /// Why the step failed alone (its parameters do not fit the input), naming the input.
    #[serde(default)]
    pub error: Option<String>,
}

/// What the running pass reports.
#[derive(Debug, PartialEq)]
pub enum Report {
    Progress(f64),
    /// Decoding moved on (a stall watchdog's clock).
    Block,
}

/// The `timeside` binary that runs passes: this one if it is `timeside`, else the one that
/// cargo builds beside a test or bench binary (`target/<profile>/timeside`, next to `deps/`).
pub fn binary() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    if exe.file_stem().is_some_and(|s| s == "timeside") {
        return Ok(exe);
    }
    exe.ancestors()
        .skip(1)
        .take(2)
        .map(|dir| dir.join("timeside"))
        .find(|p| p.is_file())
        .ok_or_else(|| format!("cannot find the `timeside` binary beside {} to run jobs in", exe.display()))
}

/// A running pass, seen from the worker.
pub struct Pass {
    child: tokio::process::Child,
    stdout: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    stderr: tokio::task::JoinHandle<Vec<u8>>,
    /// The child's last line: `done ...` or `error ...`.
    last: Option<String>,
    address_space_mb: u64,
}

impl Pass {
    /// Starts `binary job-pass` with `request` (the process is killed if this is dropped).
    pub async fn start(binary: &Path, request: &PassRequest) -> Result<Pass, String> {
        let mut child = tokio::process::Command::new(binary)
            .arg(SUBCOMMAND)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            // glibc reserves 64 MiB of address space per thread arena: two keep the address
            // space close to what the pass really uses, so the limit means memory.
            .env("MALLOC_ARENA_MAX", "2")
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot start the job's process ({}): {e}", binary.display()))?;
        let text = serde_json::to_vec(request).map_err(|e| e.to_string())?;
        let mut stdin = child.stdin.take().ok_or("the job's process has no stdin")?;
        stdin.write_all(&text).await.map_err(|e| format!("cannot hand the job to its process: {e}"))?;
        drop(stdin);
        let stdout = BufReader::new(child.stdout.take().ok_or("the job's process has no stdout")?).lines();
        let mut stderr = child.stderr.take().ok_or("the job's process has no stderr")?;
        let stderr = tokio::spawn(async move {
            let mut tail = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                tail.extend_from_slice(&buf[..n]);
                if tail.len() > 2 * STDERR_TAIL {
                    tail.drain(..tail.len() - STDERR_TAIL);
                }
            }
            tail
        });
        Ok(Pass { child, stdout, stderr, last: None, address_space_mb: request.address_space_mb })
    }

    /// The next report; `None` once the child stopped reporting (it ended: see [`finish`]).
    ///
    /// [`finish`]: Self::finish
    pub async fn next(&mut self) -> Option<Report> {
        loop {
            let line = self.stdout.next_line().await.ok().flatten()?;
            if let Some(f) = line.strip_prefix("progress ") {
                return Some(Report::Progress(f.parse().unwrap_or(0.0)));
            }
            if line == "block" {
                return Some(Report::Block);
            }
            self.last = Some(line);
        }
    }

    /// Stops the pass at once.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// Waits for the child to end; its output, or why it failed (a clear sentence for an
    /// allocation failure at the address-space limit, a crash, or the pass's own error).
    pub async fn finish(mut self) -> Result<PassOutput, String> {
        while self.next().await.is_some() {}
        let status = self.child.wait().await.map_err(|e| format!("the job's process: {e}"))?;
        let stderr = self.stderr.await.unwrap_or_default();
        let stderr = String::from_utf8_lossy(&stderr);
        match self.last.as_deref() {
            Some(done) if done.starts_with("done ") && status.success() => {
                serde_json::from_str(&done[5..]).map_err(|e| format!("the job's process answered badly: {e}"))
            }
            Some(error) if error.starts_with("error ") => Err(error[6..].to_string()),
            _ => Err(death(status, &stderr, self.address_space_mb)),
        }
    }
}

/// Why a child ended without an answer.
fn death(status: std::process::ExitStatus, stderr: &str, address_space_mb: u64) -> String {
    use std::os::unix::process::ExitStatusExt;
    // Rust's "memory allocation of N bytes failed", GLib's "failed to allocate N bytes".
    let out_of_memory = stderr.contains("memory allocation of") || stderr.contains("failed to allocate");
    if out_of_memory && address_space_mb > 0 {
        return format!(
            "out of memory at {:.1} GB (jobs.job_address_space_mb = {address_space_mb}): the pass needs more memory \
             than a job may have",
            address_space_mb as f64 / 1024.0
        );
    }
    if out_of_memory {
        return "out of memory".into();
    }
    if let Some(panic) = stderr.lines().find(|l| l.contains("panicked at")) {
        let message = stderr.lines().skip_while(|l| !l.contains("panicked at")).nth(1).unwrap_or(panic);
        return format!("internal error in a processor (panic): {}", message.trim());
    }
    match status.signal() {
        Some(signal) => format!("the job's process was killed by signal {signal} ({})", signal_name(signal)),
        None => format!("the job's process ended with {status} without an answer"),
    }
}

fn signal_name(signal: i32) -> &'static str {
    match signal {
        6 => "SIGABRT: aborted",
        9 => "SIGKILL: killed",
        11 => "SIGSEGV: a crash",
        7 => "SIGBUS: a crash",
        _ => "a crash",
    }
}

/// `timeside job-pass`: runs the pass that stdin describes (see the module's comment);
/// returns the exit code.
pub fn child_main() -> i32 {
    let mut text = Vec::new();
    if let Err(e) = std::io::Read::read_to_end(&mut std::io::stdin(), &mut text) {
        println!("error cannot read the job: {e}");
        return 1;
    }
    match serde_json::from_slice::<PassRequest>(&text).map_err(|e| format!("bad job: {e}")).and_then(|r| run(&r)) {
        Ok(output) => {
            println!("done {}", serde_json::to_string(&output).unwrap_or_default());
            0
        }
        Err(e) => {
            println!("error {}", e.replace('\n', " "));
            1
        }
    }
}

fn run(request: &PassRequest) -> Result<PassOutput, String> {
    if request.address_space_mb > 0 {
        let bytes = request.address_space_mb.saturating_mul(1024 * 1024);
        let limit = rustix::process::Rlimit { current: Some(bytes), maximum: Some(bytes) };
        rustix::process::setrlimit(rustix::process::Resource::As, limit)
            .map_err(|e| format!("cannot limit the job's memory: {e}"))?;
    }
    let name = request.name.as_str();
    let media = crate::media::admission::open_file(&request.input, &request.roots)
        .map_err(|_| format!("{name}: the media file is missing"))?;
    let pipeline = request.spec.compile(name).map_err(|e| e.to_string())?;
    let last_block = std::sync::Mutex::new(Instant::now());
    let on_progress = |f: f64| println!("progress {f}");
    let on_block = |_: &crate::media::Block| {
        let mut last = last_block.lock().unwrap_or_else(|e| e.into_inner());
        if last.elapsed() >= BLOCK_EVERY {
            *last = Instant::now();
            println!("block");
        }
    };
    let options = RunOptions {
        output_dir: Some(&request.out_dir),
        cancel: CancelToken::default(),
        progress: Some(&on_progress),
        on_block: Some(&on_block),
        ..Default::default()
    };
    let out =
        crate::pipeline::run(&pipeline, &Input::File(media.path()), &options).map_err(|e| e.named(name).to_string())?;
    let mut output = PassOutput { truncated: out.source.truncated, ..Default::default() };
    for (i, span) in out.steps.iter().enumerate() {
        let mut results = out.results[span.results.clone()].to_vec();
        for r in &mut results {
            r.audio_metadata.uri = request.uri.clone();
        }
        // Written as it is serialised: a large result is not held twice.
        let path = request.out_dir.join(format!("results-{i}.json"));
        let written = std::fs::File::create(&path).and_then(|file| {
            let mut writer = std::io::BufWriter::new(file);
            serde_json::to_writer(&mut writer, &results).map_err(std::io::Error::other)?;
            std::io::Write::flush(&mut writer)
        });
        written.map_err(|e| format!("cannot write results: {e}"))?;
        let error = span.error.as_ref().map(|e| format!("{name}: {e}"));
        output.steps.push(StepOutput { results: path, files: out.files[span.files.clone()].to_vec(), error });
    }
    Ok(output)
}
