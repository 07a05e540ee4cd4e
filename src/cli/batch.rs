//! `timeside run <pipeline.toml | shipped name> <input>... [-o <dir>] [-j N]`: a preset over many
//! inputs.
//!
//! Each input gets `<dir>/<file name>/` with `results.json`, `results.<ext>` for each of the
//! preset's `formats`, and whatever graphers and encoders write; `<dir>/index.json` and
//! `index.csv` say which input each folder holds (path, content hash, status). The folder is
//! built under a temporary name and renamed only when the input succeeded, so a failed input
//! leaves nothing that looks complete. Inputs run N at a time; one failing does not stop the
//! others; the exit code is 1 if any failed.

use super::output::write_results_file;
use super::{DecodeArgs, EXIT_INPUT_FAILED, EXIT_USAGE, fail, install_interrupt};
use crate::media::Input;
use crate::pipeline::{CancelToken, CompiledPipeline, PipelineSpec, RunOptions, run};
use crate::results::formats::Format;
use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Args)]
pub struct RunArgs {
    /// Pipeline preset: a TOML file (e.g. pipelines/standard.toml), or the name of a shipped
    /// one: analysis, archive-master, images, ingest, loudness-compliance, standard, web.
    pipeline: PathBuf,
    /// Files or URIs.
    #[arg(required = true)]
    inputs: Vec<String>,
    /// Output folder: one sub-folder per input. Default: the current folder.
    #[arg(short, long, value_name = "DIR", default_value = ".")]
    output: PathBuf,
    /// Inputs processed in parallel.
    #[arg(short = 'j', long, default_value_t = 1, value_name = "N")]
    jobs: usize,
    /// Replace existing output folders.
    #[arg(long)]
    force: bool,
    /// Overrides of the preset's [decoder] options.
    #[command(flatten)]
    decode: DecodeArgs,
    /// Run a preset whose declared cost is over the server's default limits (see `analyze`).
    #[arg(long)]
    no_limits: bool,
}

pub(super) struct Job {
    pub(super) input: Input,
    pub(super) folder: PathBuf,
}

pub fn run_batch(args: RunArgs) -> i32 {
    let name = args.pipeline.display().to_string();
    let pipeline = match PipelineSpec::from_file_or_shipped(&args.pipeline).and_then(|mut spec| {
        spec.decoder = args.decode.apply(spec.decoder);
        spec.compile(&name)
    }) {
        Ok(p) => p,
        Err(e) => return fail(EXIT_USAGE, e),
    };
    if args.jobs == 0 {
        return fail(EXIT_USAGE, "-j must be at least 1");
    }
    if let Err(e) = std::fs::create_dir_all(&args.output) {
        return fail(EXIT_INPUT_FAILED, format!("{}: cannot create: {e}", args.output.display()));
    }
    let jobs = plan_jobs(&args.inputs, &args.output);
    if !args.force {
        let existing: Vec<String> =
            jobs.iter().filter(|j| j.folder.exists()).map(|j| j.folder.display().to_string()).collect();
        if !existing.is_empty() {
            return fail(EXIT_USAGE, format!("output folders exist (use --force to replace): {}", existing.join(", ")));
        }
    }

    let cancel = CancelToken::default();
    install_interrupt(&cancel);
    let bars = MultiProgress::new();
    let overall = bars.add(ProgressBar::new(jobs.len() as u64));
    overall.set_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:30}] {pos}/{len} inputs, {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    overall.set_prefix("total");
    let next = AtomicUsize::new(0);
    let failures: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let outcomes: Vec<Mutex<Option<Outcome>>> = jobs.iter().map(|_| Mutex::new(None)).collect();
    let started = std::time::Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..args.jobs.min(jobs.len()) {
            scope.spawn(|| {
                loop {
                    let n = next.fetch_add(1, Ordering::SeqCst);
                    let Some(job) = jobs.get(n) else { break };
                    let bar = bars.insert_before(&overall, super::input_bar(&job.input.to_string()));
                    let result = run_one(&pipeline, job, &cancel, &bar, args.force, args.no_limits);
                    bar.finish_and_clear();
                    let outcome = match result {
                        Ok(sha256) => Outcome { status: "done", error: String::new(), sha256 },
                        Err(failure) => {
                            bars.suspend(|| eprintln!("error: {}", failure.message));
                            failures.lock().unwrap_or_else(|e| e.into_inner()).push(failure.message.clone());
                            let status = if failure.partial { "done_with_errors" } else { "failed" };
                            Outcome { status, error: failure.message, sha256: failure.sha256 }
                        }
                    };
                    *outcomes[n].lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
                    overall.inc(1);
                }
            });
        }
    });
    overall.finish_and_clear();
    let outcomes: Vec<Option<Outcome>> =
        outcomes.into_iter().map(|o| o.into_inner().unwrap_or_else(|e| e.into_inner())).collect();
    if let Err(e) = write_index(&args.output, &jobs, &outcomes) {
        eprintln!("error: the run's index: {e}");
    }
    let failures = failures.into_inner().unwrap_or_else(|e| e.into_inner());
    println!(
        "{} inputs: {} succeeded, {} failed in {:.1} s; results in {}",
        jobs.len(),
        jobs.len() - failures.len(),
        failures.len(),
        started.elapsed().as_secs_f64(),
        args.output.display()
    );
    println!("index of inputs and folders: {}", args.output.join("index.csv").display());
    for f in &failures {
        println!("  failed: {f}");
    }
    if failures.is_empty() { 0 } else { EXIT_INPUT_FAILED }
}

/// One folder per input that says which input it holds: its file name (`1h.flac`); a name
/// that repeats (the same name in several folders) gets its folder's name first
/// (`box2-1h.flac`), then a number if it still repeats (`box2-1h.flac-2`).
pub(super) fn plan_jobs(inputs: &[String], out: &Path) -> Vec<Job> {
    let parsed: Vec<Input> = inputs.iter().map(|text| Input::parse(text)).collect();
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for input in &parsed {
        *seen.entry(input.name()).or_default() += 1;
    }
    let mut used = HashSet::new();
    parsed
        .into_iter()
        .map(|input| {
            let name = input.name();
            let base = match input.folder_name() {
                Some(folder) if seen[&name] > 1 => format!("{folder}-{name}"),
                _ => name,
            };
            let mut folder = base.clone();
            let mut n = 1;
            while !used.insert(folder.clone()) {
                n += 1;
                folder = format!("{base}-{n}");
            }
            Job { input, folder: out.join(folder) }
        })
        .collect()
}

/// What became of one input, as the run's index says.
struct Outcome {
    status: &'static str,
    error: String,
    /// The content hash the decoding pass computed (none when it did not get that far).
    sha256: Option<String>,
}

/// Writes `index.json` and `index.csv` in `out`: for each input its path, content hash,
/// output folder, status and error; entries of earlier runs into `out` for other folders stay.
fn write_index(out: &Path, jobs: &[Job], outcomes: &[Option<Outcome>]) -> Result<(), String> {
    let path = out.join("index.json");
    let mut entries: Vec<serde_json::Value> = std::fs::read(&path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Vec<serde_json::Value>>(&bytes).ok())
        .unwrap_or_default();
    let folder_of = |job: &Job| job.folder.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let ours: HashSet<String> = jobs.iter().map(folder_of).collect();
    entries.retain(|e| !e["folder"].as_str().is_some_and(|f| ours.contains(f)));
    for (job, outcome) in jobs.iter().zip(outcomes) {
        // Inputs not run (an interrupted run) have no entry.
        let Some(outcome) = outcome else { continue };
        // The pass hashed what it decoded; a file it could not decode is hashed here.
        let sha256 = match (&outcome.sha256, &job.input) {
            (Some(hash), _) => hash.clone(),
            (None, Input::File(p)) => crate::media::hash::sha256_file(p).unwrap_or_default(),
            (None, _) => String::new(),
        };
        entries.push(serde_json::json!({ "input": job.input.to_string(), "sha256": sha256, "folder": folder_of(job),
            "status": outcome.status, "error": outcome.error }));
    }
    let json = serde_json::to_string_pretty(&entries).unwrap_or_default();
    std::fs::write(&path, json + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
    let csv_path = out.join("index.csv");
    let mut csv = csv::Writer::from_path(&csv_path).map_err(|e| format!("{}: {e}", csv_path.display()))?;
    let fields = ["input", "sha256", "folder", "status", "error"];
    let mut rows = vec![fields.map(str::to_string).to_vec()];
    rows.extend(entries.iter().map(|e| fields.map(|f| e[f].as_str().unwrap_or_default().to_string()).to_vec()));
    for row in rows {
        csv.write_record(&row).map_err(|e| format!("{}: {e}", csv_path.display()))?;
    }
    csv.flush().map_err(|e| format!("{}: {e}", csv_path.display()))
}

fn run_one(
    pipeline: &CompiledPipeline,
    job: &Job,
    cancel: &CancelToken,
    bar: &ProgressBar,
    force: bool,
    no_limits: bool,
) -> Result<Option<String>, RunFailure> {
    let failed = |message: String| RunFailure { message, partial: false, sha256: None };
    let folder_name = job.folder.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = job.folder.with_file_name(format!(".{folder_name}.part"));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| failed(format!("{}: cannot create: {e}", tmp.display())))?;
    let progress = |f: f64| bar.set_position((f * 1000.0) as u64);
    let admit = crate::ondemand::limits::admission(pipeline, super::limits(no_limits), "--no-limits");
    let options = RunOptions {
        output_dir: Some(&tmp),
        cancel: cancel.clone(),
        progress: Some(&progress),
        admit: Some(&admit),
        ..Default::default()
    };
    let mut step_errors = Vec::new();
    let mut sha256 = None;
    let outcome = run(pipeline, &job.input, &options).map_err(|e| e.to_string()).and_then(|out| {
        step_errors = out.step_errors().map(str::to_string).collect();
        sha256 = out.source.sha256.clone();
        bar.suspend(|| super::warn_if_truncated(&job.input.to_string(), &out.source));
        // Compact: indenting puts each number of a framewise array on a line of its own, which
        // made the file 1.75 times larger (89 MB against 51 MB for 10 min of the `analysis` preset).
        write_results_file(&tmp.join("results.json"), &out.results, false)
            .map_err(|e| format!("{}: cannot write results: {e}", job.input))?;
        // The preset's other formats, beside it (TimeSide's -R).
        let media = super::output::media_of(&job.input.to_string());
        for format in pipeline.formats.iter().filter(|f| **f != Format::Json) {
            let file = tmp.join(format!("results.{}", format.extension()));
            super::output::write_format(*format, &out.results, &media, &file)?;
        }
        Ok(())
    });
    if let Err(e) = outcome {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(failed(e));
    }
    if force && job.folder.exists() {
        std::fs::remove_dir_all(&job.folder)
            .map_err(|e| failed(format!("{}: cannot replace: {e}", job.folder.display())))?;
    }
    std::fs::rename(&tmp, &job.folder).map_err(|e| failed(format!("{}: cannot rename: {e}", job.folder.display())))?;
    // A processor that did not fit this input failed alone: the others' results are in the
    // folder, and the input is reported failed.
    if step_errors.is_empty() {
        Ok(sha256)
    } else {
        let message =
            format!("{}: {} (the other results are in {})", job.input, step_errors.join("; "), job.folder.display());
        Err(RunFailure { message, partial: true, sha256 })
    }
}

/// Why an input failed; `partial`: a processor failed alone and the others' results are in the
/// input's folder.
struct RunFailure {
    message: String,
    partial: bool,
    sha256: Option<String>,
}
