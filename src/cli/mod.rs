//! The command line: `list`, `info`, `analyze`, `run` (batch), `transcode`, `demo`, `serve`.
//! Thin glue: it parses flags, builds pipeline specs and the server config, and prints; the
//! work is in `pipeline`, `live` and `server`.
//!
//! Exit codes: 0 success; 1 an input could not be processed (the others still were);
//! 2 the command itself is wrong (unknown processor, bad parameter, invalid pipeline file or
//! config). Ctrl-C ends live inputs (results are still written), a second one aborts, a third
//! exits at once.

mod api_client;
mod batch;
mod dataset;
mod demo;
mod items;
mod output;
mod peaks;
mod transcode;
mod user;
mod worker;

use crate::media::gst::media_info;
use crate::media::{DecodeOptions, Input};
use crate::pipeline::{CancelToken, PipelineSpec, RunOptions, StepSpec, run};
use crate::processors::params::parse_cli_value;
use crate::processors::registry;
use crate::results::formats::{Format, MediaInfo};
use crate::results::{self, AnalyzerResult};
use clap::{Args, Parser, Subcommand};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const EXIT_INPUT_FAILED: i32 = 1;
pub const EXIT_USAGE: i32 = 2;

#[derive(Parser)]
#[command(name = "timeside", version, about = "Audio processing framework: decode once, analyze, draw and encode.")]
#[command(propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List every processor: id, kind, version, unit, name (--json adds descriptions and
    /// parameter schemas).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show media info: duration, format, codec, bitrate, tags, sha256.
    Info {
        /// File path, URI (file://, http(s)://, ...).
        input: String,
        #[arg(long)]
        json: bool,
    },
    /// Run analyzers (and graphers, whose images go to --image-dir) on inputs, one decoding pass
    /// per input; print JSON results.
    Analyze(AnalyzeArgs),
    /// Run a pipeline preset (TOML, see pipelines/) over many inputs, writing one folder each.
    Run(batch::RunArgs),
    /// Run the server: the REST API (items, experiences, tasks, results) with its workers, and
    /// live channels (HTTP streams, WebSocket events) from the configuration.
    Serve(ServeArgs),
    /// Run the server's queued jobs in this process (PostgreSQL: any number of workers on
    /// machines sharing the database and the data directory).
    Worker(worker::WorkerArgs),
    /// Add items to a running server: a folder's files, with a manifest's metadata (through its
    /// API: --server, --api-token).
    Items {
        #[command(subcommand)]
        command: items::ItemsCommand,
    },
    /// Download a selection's or a task's analyses (no audio) from the server as one zip: a
    /// folder per item in the asked formats, and index.json / index.csv saying which item each
    /// holds, with its metadata.
    #[command(name = "export-dataset")]
    ExportDataset(dataset::ExportDatasetArgs),
    /// Manage the server's users (in its database).
    User {
        #[command(subcommand)]
        command: user::UserCommand,
    },
    /// Waveform peaks in audiowaveform's .dat or .json (peaks.js, waveform-data.js read them).
    Peaks(peaks::PeaksArgs),
    /// Convert results (JSON, YAML, XML or HDF5, as `analyze` writes them) to another format.
    Export(ExportArgs),
    /// Convert to one or more formats in one decoding pass (format from each extension).
    Transcode(transcode::TranscodeArgs),
    /// Generate a demo signal, analyze it with the standard preset, and show the results.
    Demo(demo::DemoArgs),
    /// Runs one job's pass that the server's worker describes on stdin (internal: see
    /// `ondemand::isolated`).
    #[command(name = "job-pass", hide = true)]
    JobPass,
}

/// Decode options shared by `analyze` and `run`.
#[derive(Args, Clone, Debug, Default)]
pub struct DecodeArgs {
    /// Start of the segment, in seconds.
    #[arg(long, value_name = "SECONDS")]
    start: Option<f64>,
    /// Length of the segment (or of a live run), in seconds.
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
    /// Resample to this rate (Hz, 1000 to 768000).
    #[arg(long, value_name = "HZ", value_parser = clap::value_parser!(u32).range(1000..=768_000))]
    samplerate: Option<u32>,
    /// Mix down or up to this many channels (1 to 64).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    channels: Option<u16>,
    /// Frames per block handed to processors (default 4096).
    #[arg(long, value_name = "FRAMES")]
    block_size: Option<usize>,
    /// Decode a file that ends before the duration its container announces (a truncated
    /// copy) as far as it goes, with a warning, instead of refusing it.
    #[arg(long)]
    keep_truncated: bool,
}

impl DecodeArgs {
    /// Overrides `base` (e.g. a preset's [decoder] table) with the options given.
    fn apply(&self, mut base: DecodeOptions) -> DecodeOptions {
        if let Some(v) = self.start {
            base.start_s = v;
        }
        if self.duration.is_some() {
            base.duration_s = self.duration;
        }
        if let Some(v) = self.samplerate {
            base.samplerate = v;
        }
        if let Some(v) = self.channels {
            base.channels = v;
        }
        if let Some(v) = self.block_size {
            base.block_size = v;
        }
        base.keep_truncated |= self.keep_truncated;
        base
    }
}

/// Says on stderr that `input` was decoded only as far as it goes (`--keep-truncated`).
pub(crate) fn warn_if_truncated(input: &str, source: &crate::media::SourceSummary) {
    if let Some(t) = &source.truncated {
        eprintln!(
            "warning: {input}: truncated: decoded {:.3} s of the {:.3} s its container announces",
            t.decoded_s, t.expected_s
        );
    }
}

#[derive(Args)]
struct ServeArgs {
    /// Configuration file, over the defaults (config/timeside.toml is what the defaults are).
    #[arg(long, env = "TIMESIDE_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address:port to listen on (overrides server.listen).
    #[arg(long, env = "TIMESIDE_LISTEN", value_name = "ADDR:PORT")]
    listen: Option<String>,
    /// Data directory (overrides server.data_dir).
    #[arg(long, env = "TIMESIDE_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Password of Icecast-style source clients (overrides server.source_password).
    #[arg(long, env = "TIMESIDE_SOURCE_PASSWORD", value_name = "SECRET", hide_env_values = true)]
    source_password: Option<String>,
    /// Bearer token for API writes (overrides server.api_token).
    #[arg(long, env = "TIMESIDE_API_TOKEN", value_name = "TOKEN", hide_env_values = true)]
    api_token: Option<String>,
    /// Database URL (overrides server.database): postgres://USER:PASS@HOST/DB; default SQLite
    /// in the data directory.
    #[arg(long, env = "TIMESIDE_DATABASE", value_name = "URL", hide_env_values = true)]
    database: Option<String>,
    /// In-process workers for tasks (overrides jobs.workers; default one per core; 0 leaves
    /// jobs to `timeside worker` processes).
    #[arg(long, env = "TIMESIDE_WORKERS", value_name = "N")]
    workers: Option<usize>,
}

#[derive(Args)]
struct AnalyzeArgs {
    /// Files, URIs, or `launch:<GStreamer launch description>` for a live source.
    #[arg(required = true)]
    inputs: Vec<String>,
    /// Processor ids, comma-separated or repeated (see `timeside list`). Default: a summary of
    /// each input: peak and RMS level, DC offset, EBU R128 loudness, tempo and beats.
    #[arg(short = 'a', long = "analyzers", value_delimiter = ',', default_value = DEFAULT_ANALYSIS, value_name = "ID")]
    analyzers: Vec<String>,
    /// A parameter: `<id>.<param>=<value>` (value as JSON, or a bare string).
    #[arg(short = 'p', long = "param", value_name = "ID.PARAM=VALUE")]
    params: Vec<String>,
    /// Write results here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Indent the JSON.
    #[arg(long)]
    pretty: bool,
    /// Output format: json, yaml, xml, hdf5, timeside-json, timeside-yaml, csv, jams, audacity, svl, eaf, textgrid, vtt.
    /// Other than json: one input, and `-o` for hdf5 and for csv of several results (one file
    /// each, `<stem>.<result id>.csv`).
    #[arg(long, default_value = "json", value_name = "FORMAT")]
    format: String,
    #[command(flatten)]
    decode: DecodeArgs,
    /// Run analyses whose declared cost is over the server's default limits (memory of a pass
    /// over 2048 MiB, or over 1000 million operations per second of audio).
    #[arg(long)]
    no_limits: bool,
    /// Where graphers write their images (and peaks files): this folder for one input, a
    /// sub-folder per input (named after its file) for several. Default: the folder of `-o`,
    /// or the current one.
    #[arg(long, value_name = "DIR")]
    image_dir: Option<PathBuf>,
}

/// A bar for one input's decoding pass, on stderr when it is a terminal (hidden otherwise, so
/// scripts and pipes see only the results and errors): percent done and the time left.
pub(super) fn input_bar(input: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(1000);
    let style = indicatif::ProgressStyle::with_template("{prefix:>8} [{bar:30}] {percent:>3}% eta {eta:>4} {msg}");
    bar.set_style(style.unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()));
    bar.set_prefix("input");
    bar.set_message(input.to_string());
    bar
}

/// What `analyze` runs without `-a`.
const DEFAULT_ANALYSIS: &str = "level,mean_dc_shift,loudness,tempo";

#[derive(Args)]
struct ExportArgs {
    /// Results as `timeside analyze` or `run` wrote them (JSON, YAML, XML or HDF5; by extension).
    results: PathBuf,
    /// json, yaml, xml, hdf5, timeside-json, timeside-yaml, csv, jams, audacity, svl, eaf, textgrid, vtt.
    #[arg(long, value_name = "FORMAT")]
    format: String,
    /// The file to write.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// Title of the media, for exports that carry one (JAMS); default: the results' file name.
    #[arg(long)]
    title: Option<String>,
}

/// The cost limits of `analyze` and `run`: the server's defaults, unless lifted.
fn limits(lifted: bool) -> crate::ondemand::Limits {
    if lifted { crate::ondemand::Limits::NONE } else { crate::ondemand::Limits::DEFAULT }
}

/// Entry point; returns the process exit code.
pub fn main() -> i32 {
    init_logging();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { EXIT_USAGE } else { 0 };
        }
    };
    match cli.command {
        Command::List { json } => list(json),
        Command::Info { input, json } => info(&input, json),
        Command::Analyze(args) => analyze(args),
        Command::Run(args) => batch::run_batch(args),
        Command::Serve(args) => serve(args),
        Command::User { command } => user::run(command),
        Command::Items { command } => items::run(command),
        Command::ExportDataset(args) => dataset::export_dataset(args),
        Command::Worker(args) => worker::worker(args),
        Command::Peaks(args) => peaks::peaks(args),
        Command::Export(args) => export(args),
        Command::Transcode(args) => transcode::transcode(args),
        Command::Demo(args) => demo::demo(args),
        Command::JobPass => crate::ondemand::isolated::child_main(),
    }
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("TIMESIDE_LOG")
        .unwrap_or_else(|_| EnvFilter::new("warn,warp::server=off,timeside::jobs=info"));
    use std::io::IsTerminal;
    use tracing_subscriber::field::MakeExt;
    // Fields carry clients' text (titles, file names, error messages): control characters are
    // escaped so that none can end a log line and forge the next.
    let fields = tracing_subscriber::fmt::format::debug_fn(|w, field, value| {
        let text = escape_controls(&format!("{value:?}"));
        if field.name() == "message" { write!(w, "{text}") } else { write!(w, "{field}={text}") }
    })
    .delimited(" ");
    let _ = tracing_subscriber::fmt()
        .fmt_fields(fields)
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init();
}

/// `text` with its control characters (newlines, carriage returns, escapes) written as escapes.
fn escape_controls(text: &str) -> String {
    text.chars().map(|c| if c.is_control() { c.escape_default().to_string() } else { c.to_string() }).collect()
}

/// Prints `error: <message>` on stderr and returns `code`.
pub(crate) fn fail(code: i32, message: impl std::fmt::Display) -> i32 {
    eprintln!("error: {message}");
    code
}

fn serve(args: ServeArgs) -> i32 {
    let loaded = server_config(args.config.as_deref(), |config| {
        if let Some(l) = args.listen {
            config.server.listen = l;
        }
        if let Some(d) = args.data_dir {
            config.server.data_dir = d;
        }
        if let Some(p) = args.source_password {
            config.server.source_password = p;
        }
        if let Some(t) = args.api_token {
            config.server.api_token = t;
        }
        if let Some(d) = args.database {
            config.server.database = d;
        }
        if let Some(w) = args.workers {
            config.jobs.workers = Some(w);
        }
    });
    let (config, runtime) = match loaded.and_then(|config| Ok((config, multi_thread_runtime()?))) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    match runtime.block_on(crate::server::serve(config)) {
        Ok(()) => 0,
        Err(e) => fail(EXIT_INPUT_FAILED, e),
    }
}

/// The server's configuration (`file` over the defaults) with a command's flags applied by
/// `flags`, checked; an exit code (the problems printed) if it is wrong.
pub(crate) fn server_config(
    file: Option<&std::path::Path>,
    flags: impl FnOnce(&mut crate::server::config::Config),
) -> Result<crate::server::config::Config, i32> {
    let mut config = crate::server::config::Config::load(file).map_err(|e| fail(EXIT_USAGE, e))?;
    flags(&mut config);
    let problems = config.problems("command line");
    if !problems.is_empty() {
        return Err(fail(EXIT_USAGE, crate::server::config::ConfigError(problems)));
    }
    Ok(config)
}

/// The runtime of the long-running commands (`serve`, `worker`).
pub(crate) fn multi_thread_runtime() -> Result<tokio::runtime::Runtime, i32> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| fail(EXIT_INPUT_FAILED, format!("cannot start the runtime: {e}")))
}

fn list(json: bool) -> i32 {
    let table = registry::registry();
    if json {
        let items: Vec<serde_json::Value> = table
            .iter()
            .map(|e| {
                let mut v = serde_json::to_value(e.descriptor).unwrap_or_default();
                v["parameters"] = (e.schema)();
                v
            })
            .collect();
        return output::print_json(&items, true);
    }
    println!("{:<16} {:<9} {:<8} {:<5} {:<10} NAME", "ID", "KIND", "VERSION", "LIVE", "UNIT");
    for e in table {
        let d = e.descriptor;
        println!(
            "{:<16} {:<9} {:<8} {:<5} {:<10} {}",
            d.id,
            d.kind.as_str(),
            d.version,
            if d.live { "yes" } else { "no" },
            d.unit,
            d.name
        );
    }
    0
}

fn info(input: &str, json: bool) -> i32 {
    let info = match media_info(&Input::parse(input)) {
        Ok(i) => i,
        Err(e) => return fail(EXIT_INPUT_FAILED, e),
    };
    if json {
        return output::print_json(&info, true);
    }
    let opt = |v: Option<String>| v.unwrap_or_else(|| "unknown".into());
    println!("uri:         {}", info.uri);
    println!("duration:    {}", opt(info.duration_s.map(|d| format!("{d:.3} s"))));
    println!("samplerate:  {} Hz", info.samplerate);
    println!("channels:    {}", info.channels);
    println!("mime:        {}", info.mime);
    println!("codec:       {}", opt(info.codec));
    println!("container:   {}", opt(info.container));
    println!("bitrate:     {}", opt(info.bitrate.map(|b| format!("{} kbit/s", b / 1000))));
    if let Some(d) = info.depth {
        println!("depth:       {d} bits");
    }
    println!("video:       {}", if info.has_video { "yes" } else { "no" });
    println!("size:        {}", opt(info.size_bytes.map(|s| format!("{s} bytes"))));
    println!("sha256:      {}", opt(info.sha256));
    for (k, v) in &info.tags {
        println!("tag {k}: {v}");
    }
    0
}

/// Builds the spec for `analyze`: the processors of `-a`, the parameters of `-p`.
fn analyze_spec(args: &AnalyzeArgs) -> Result<PipelineSpec, Vec<String>> {
    let ids: Vec<String> = args.analyzers.iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    let mut params: BTreeMap<String, serde_json::Map<String, serde_json::Value>> = BTreeMap::new();
    let mut problems = Vec::new();
    for p in &args.params {
        let parsed = p.split_once('=').and_then(|(k, v)| k.split_once('.').map(|(id, name)| (id, name, v)));
        match parsed {
            Some((id, name, value)) if !id.is_empty() && !name.is_empty() => {
                if !ids.iter().any(|i| i == id) {
                    problems.push(format!("-p {p}: processor `{id}` is not among -a {}", ids.join(",")));
                }
                params.entry(id.to_string()).or_default().insert(name.to_string(), parse_cli_value(value));
            }
            _ => problems.push(format!("-p {p}: expected <id>.<param>=<value>")),
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let processors = ids
        .into_iter()
        .map(|id| {
            let params = params.get(&id).cloned().map(serde_json::Value::Object).unwrap_or(serde_json::Value::Null);
            StepSpec { id, params }
        })
        .collect();
    Ok(PipelineSpec { decoder: args.decode.apply(DecodeOptions::default()), processors, ..Default::default() })
}

fn parse_format(name: &str) -> Result<Format, i32> {
    Format::parse(name).ok_or_else(|| fail(EXIT_USAGE, Format::unknown_message(name)))
}

fn analyze(args: AnalyzeArgs) -> i32 {
    let format = match parse_format(&args.format) {
        Ok(f) => f,
        Err(code) => return code,
    };
    if format != Format::Json && args.inputs.len() != 1 {
        return fail(EXIT_USAGE, format!("--format {}: one input (JSON writes one line per input)", format.name()));
    }
    if format == Format::Hdf5 && args.output.is_none() {
        return fail(EXIT_USAGE, "--format hdf5: give a file with -o");
    }
    let spec = match analyze_spec(&args) {
        Ok(s) => s,
        Err(problems) => return fail(EXIT_USAGE, problems.join("\n  ")),
    };
    let pipeline = match spec.compile("command line") {
        Ok(p) => p,
        Err(e) => return fail(EXIT_USAGE, e),
    };
    if let Some(step) = pipeline.steps.iter().find(|s| s.entry.descriptor.kind == crate::processors::Kind::Encoder) {
        return fail(
            EXIT_USAGE,
            format!("`{}` is an encoder: use `timeside run` with an output folder", step.entry.descriptor.id),
        );
    }
    let cancel = CancelToken::default();
    install_interrupt(&cancel);
    let admit = crate::ondemand::limits::admission(&pipeline, limits(args.no_limits), "--no-limits");
    let mut outputs = Vec::new();
    let mut failed = false;
    for (input, image_dir) in image_dirs(&args, &pipeline) {
        if let Some(dir) = &image_dir
            && let Err(e) = std::fs::create_dir_all(dir)
        {
            return fail(EXIT_USAGE, format!("--image-dir {}: {e}", dir.display()));
        }
        let bar = input_bar(&input.to_string());
        let progress = |f: f64| bar.set_position((f * 1000.0) as u64);
        let options = RunOptions {
            cancel: cancel.clone(),
            admit: Some(&admit),
            output_dir: image_dir.as_deref(),
            progress: Some(&progress),
            ..Default::default()
        };
        let ran = run(&pipeline, &input, &options);
        bar.finish_and_clear();
        match ran {
            Ok(out) => {
                warn_if_truncated(&input.to_string(), &out.source);
                out.files.iter().for_each(|f| eprintln!("wrote {}", f.display()));
                // A processor that does not fit this input fails alone; the others' results stand.
                for error in out.step_errors() {
                    failed = true;
                    eprintln!("error: {input}: {error}");
                }
                outputs.push(out.results)
            }
            Err(e) => {
                failed = true;
                eprintln!("error: {e}");
            }
        }
    }
    let code = match (format, outputs.first()) {
        (Format::Json, _) | (_, None) => output::write_results(&outputs, args.output.as_deref(), args.pretty),
        (format, Some(results)) => {
            write_formatted(format, results, &output::media_of(&args.inputs[0]), args.output.as_deref())
        }
    };
    if code != 0 {
        code
    } else if failed {
        EXIT_INPUT_FAILED
    } else {
        0
    }
}

/// Each input of `analyze`, with the folder its graphers write to (`None` without graphers).
fn image_dirs(args: &AnalyzeArgs, pipeline: &crate::pipeline::CompiledPipeline) -> Vec<(Input, Option<PathBuf>)> {
    let draws = pipeline.steps.iter().any(|s| s.entry.descriptor.kind == crate::processors::Kind::Grapher);
    let base = args.image_dir.clone().unwrap_or_else(|| {
        let beside_output = args.output.as_deref().and_then(Path::parent).filter(|p| !p.as_os_str().is_empty());
        beside_output.map_or_else(|| PathBuf::from("."), Path::to_path_buf)
    });
    if args.inputs.len() == 1 {
        return vec![(Input::parse(&args.inputs[0]), draws.then_some(base))];
    }
    batch::plan_jobs(&args.inputs, &base).into_iter().map(|job| (job.input, draws.then_some(job.folder))).collect()
}

/// Writes results in a format other than JSON to `path` (or stdout for the text formats).
fn write_formatted(format: Format, results: &[AnalyzerResult], media: &MediaInfo, path: Option<&Path>) -> i32 {
    match path {
        Some(path) => match output::write_format(format, results, media, path) {
            Ok(files) => {
                if files.len() > 1 {
                    for f in files {
                        eprintln!("wrote {}", f.display());
                    }
                }
                0
            }
            Err(e) => fail(EXIT_INPUT_FAILED, e),
        },
        None => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let written = results::formats::write(format, results, media, &mut out)
                .and_then(|_| Ok(std::io::Write::flush(&mut out)?));
            match written {
                Ok(()) => 0,
                Err(e) => fail(EXIT_INPUT_FAILED, e),
            }
        }
    }
}

/// `timeside export <results> --format F -o FILE`
fn export(args: ExportArgs) -> i32 {
    let format = match parse_format(&args.format) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let ext = args.results.extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
    let from = Format::parse(&ext).filter(|f| f.reads_back()).unwrap_or(Format::Json);
    let bytes = match std::fs::read(&args.results) {
        Ok(b) => b,
        Err(e) => return fail(EXIT_INPUT_FAILED, format!("{}: {e}", args.results.display())),
    };
    let results = match results::formats::read(from, &bytes) {
        Ok(r) => r,
        Err(e) => return fail(EXIT_INPUT_FAILED, format!("{}: {e}", args.results.display())),
    };
    let mut media = output::media_of(&args.results.display().to_string());
    media.media_url = results.first().map(|r| r.audio_metadata.uri.clone()).unwrap_or_default();
    if let Some(title) = args.title {
        media.title = title;
    }
    write_formatted(format, &results, &media, Some(&args.output))
}

/// First Ctrl-C ends the input (a live source stops and its results are written); the
/// second cancels.
pub(crate) fn install_interrupt(token: &CancelToken) {
    let token = token.clone();
    let _ = ctrlc::set_handler(move || {
        if token.is_cancelled() {
            // Whatever is still running, a third Ctrl-C ends the process.
            std::process::exit(130);
        } else if token.input_ended() {
            eprintln!("aborting (Ctrl-C again to exit at once)");
            token.cancel();
        } else {
            eprintln!("stopping input (Ctrl-C again to abort)");
            token.end_input();
        }
    });
}

#[cfg(test)]
mod tests {
    #[test]
    fn log_fields_cannot_forge_lines() {
        let forged = "title\n2026-01-01T00:00:00Z  INFO timeside::jobs: job outcome=done\r\x1b[2J";
        let escaped = super::escape_controls(forged);
        assert!(!escaped.contains('\n') && !escaped.contains('\r') && !escaped.contains('\x1b'), "{escaped}");
        assert!(escaped.contains("\\n") && escaped.contains("title"));
        assert_eq!(super::escape_controls("Élan vital"), "Élan vital");
    }
}
