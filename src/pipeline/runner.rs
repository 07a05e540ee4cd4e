//! Runs a compiled pipeline over one source: the one decoding pass.
//!
//! The source is pulled on the calling thread (GStreamer decodes on its own threads and its
//! appsink queue is bounded, so decoding waits for us: memory stays flat). Each block goes
//! through the effects in series, then the shared feature graph, then every analyzer, grapher
//! and encoder. Results are stamped with identity and audio metadata only after the source
//! ended cleanly: a failed or cancelled run returns an error and no results.

use super::spec::CompiledPipeline;
use crate::features::{FeatureGraph, FeatureStats};
use crate::media::{Block, Input, MediaError, Source, SourceSummary};
use crate::processors::cost::AudioShape;
use crate::processors::registry::{BuildError, Factory};
use crate::processors::{
    AnalysisEvent, Analyzer, BuildContext, Descriptor, Effect, Encoder, FinishContext, Finished, Grapher, ProcessError,
    decoders,
};
use crate::results::{AnalyzerResult, AudioMetadata, IdMetadata};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

pub const AUTHOR: &str = "TimeSide";

/// Cooperative control of a run, checked once per block: `cancel` aborts with no results;
/// `end_input` stops reading (a live source stopped by the user) and finishes normally.
#[derive(Clone, Debug, Default)]
pub struct CancelToken {
    cancelled: Arc<AtomicBool>,
    input_ended: Arc<AtomicBool>,
}

impl CancelToken {
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    pub fn end_input(&self) {
        self.input_ended.store(true, Ordering::SeqCst);
    }

    pub fn input_ended(&self) -> bool {
        self.input_ended.load(Ordering::SeqCst)
    }
}

/// Receives a batch of one analyzer's events, with the analyzer's id.
pub type EventSink<'a> = dyn Fn(&str, &[AnalysisEvent]) + Sync + 'a;

#[derive(Default)]
pub struct RunOptions<'a> {
    /// Folder for files written by graphers and encoders; without one they write nothing
    /// (encoders then refuse to build).
    pub output_dir: Option<&'a Path>,
    pub cancel: CancelToken,
    /// Called with the fraction done (0..=1) when it changes by at least 0.1 %.
    pub progress: Option<&'a (dyn Fn(f64) + Sync)>,
    /// Sinks for encoders other than files in `output_dir` (streams); `None`: files.
    pub outputs: Option<&'a dyn crate::processors::encoders::OutputFactory>,
    /// Sees every block after the effects, before the fan-out (live meters).
    pub on_block: Option<&'a (dyn Fn(&Block) + Sync)>,
    /// Receives the analyzers' incremental events after each block, with the analyzer id.
    pub on_events: Option<&'a EventSink<'a>>,
    /// A live stream: analyzers keep no per-frame history (see [`BuildContext::live`]).
    pub live: bool,
    /// Told the decoded audio's shape once the source is open, before anything is processed;
    /// an error refuses the run (the CLI's cost limits: `ondemand::limits`).
    pub admit: Option<&'a (dyn Fn(AudioShape) -> Result<(), String> + Sync)>,
}

#[derive(Debug)]
pub struct RunOutput {
    pub source: SourceSummary,
    pub results: Vec<AnalyzerResult>,
    pub files: Vec<PathBuf>,
    /// What each step of the pipeline made, in step order: ranges of `results` and `files`.
    pub steps: Vec<StepSpan>,
    pub features: FeatureStats,
}

impl RunOutput {
    /// The messages of the steps that failed alone ("pitch: fmax (2000 Hz) must be below ...").
    pub fn step_errors(&self) -> impl Iterator<Item = &str> {
        self.steps.iter().filter_map(|s| s.error.as_deref())
    }
}

/// The results and files of one pipeline step (empty for effects), or why it failed: an
/// analyzer or grapher whose parameters do not fit the input (pitch's `fmax` above the
/// Nyquist frequency of a 1234 Hz file) fails alone, and the others' results stand.
#[derive(Clone, Debug, Default)]
pub struct StepSpan {
    pub results: std::ops::Range<usize>,
    pub files: std::ops::Range<usize>,
    pub error: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error("{input}: cancelled")]
    Cancelled { input: String },
    #[error("{input}: {message}")]
    Refused { input: String, message: String },
}

impl RunError {
    /// The same error naming its input `name` (how the client knows the file, not its path).
    pub fn named(self, name: &str) -> RunError {
        match self {
            RunError::Media(e) => RunError::Media(e.named(name)),
            RunError::Cancelled { .. } => RunError::Cancelled { input: name.to_string() },
            RunError::Refused { message, .. } => RunError::Refused { input: name.to_string(), message },
            other => other,
        }
    }
}

/// Decodes `input` once and runs every step of `pipeline` on it.
pub fn run(pipeline: &CompiledPipeline, input: &Input, options: &RunOptions) -> Result<RunOutput, RunError> {
    let source = decoders::open(input, &pipeline.decoder)?;
    run_source(pipeline, source, options)
}

/// One built processor, with what its results are stamped with.
struct Stage<T: ?Sized> {
    /// Index of the pipeline step.
    step: usize,
    descriptor: Descriptor,
    params: serde_json::Value,
    proc_uuid: String,
    processor: Box<T>,
}

#[derive(Default)]
struct Stages {
    effects: Vec<Stage<dyn Effect>>,
    analyzers: Vec<Stage<dyn Analyzer>>,
    graphers: Vec<Stage<dyn Grapher>>,
    encoders: Vec<Stage<dyn Encoder>>,
}

/// Builds every step. An analyzer or grapher that cannot be built fails alone: its error is in
/// `failed`, by step. An effect fails the run (it changes what every other step gets), and so
/// does an encoder (its file is what the run was asked for).
fn build_stages(
    pipeline: &CompiledPipeline,
    ctx: &mut BuildContext,
    failed: &mut [Option<String>],
) -> Result<Stages, BuildError> {
    let mut stages = Stages::default();
    for (index, step) in pipeline.steps.iter().enumerate() {
        let descriptor = step.entry.descriptor;
        let params = step.params.clone();
        let proc_uuid = uuid::Uuid::new_v4().to_string();
        macro_rules! stage {
            // Fails the run.
            ($list:ident, $build:expr) => {
                stages.$list.push(Stage {
                    step: index,
                    descriptor,
                    params,
                    proc_uuid,
                    processor: $build(&step.params, ctx)?,
                })
            };
            // Fails alone.
            ($list:ident, $build:expr, alone) => {
                match $build(&step.params, ctx) {
                    Ok(processor) => stages.$list.push(Stage { step: index, descriptor, params, proc_uuid, processor }),
                    Err(e) => failed[index] = Some(e.to_string()),
                }
            };
        }
        match step.entry.factory {
            Factory::Decoder => {}
            Factory::Effect(build) => stage!(effects, build),
            Factory::Encoder(build) => stage!(encoders, build),
            Factory::Analyzer(build) => stage!(analyzers, build, alone),
            Factory::Grapher(build) => stage!(graphers, build, alone),
        }
    }
    Ok(stages)
}

/// Encodes `samples` with one encoder: `id` with `params`, which name the `file_name` written
/// in `dir`. Returns that file's path. For generated audio (the demo channel, tests).
pub fn encode_samples(
    samples: Vec<f32>,
    format: crate::media::AudioFormat,
    id: &str,
    params: serde_json::Value,
    dir: &Path,
) -> Result<PathBuf, String> {
    let file_name = params["file_name"].as_str().ok_or("params: no file_name")?.to_string();
    let source = crate::media::ArraySource::new(samples, format, &Default::default()).map_err(|e| e.to_string())?;
    let spec = super::PipelineSpec {
        decoder: Default::default(),
        processors: vec![super::StepSpec { id: id.into(), params }],
        ..Default::default()
    };
    let pipeline = spec.compile(id).map_err(|e| e.to_string())?;
    run_source(&pipeline, Box::new(source), &RunOptions { output_dir: Some(dir), ..Default::default() })
        .map_err(|e| e.to_string())?;
    Ok(dir.join(file_name))
}

/// Runs `pipeline` on an already open source (the array decoder, a live source, ...).
pub fn run_source(
    pipeline: &CompiledPipeline,
    mut source: Box<dyn Source>,
    options: &RunOptions,
) -> Result<RunOutput, RunError> {
    let format = source.format();
    if let Some(admit) = options.admit {
        let duration_s = match source.expected_frames() {
            Some(frames) => frames as f64 / format.samplerate.max(1) as f64,
            // A live source: as long as the decoder's segment, else what never ends keeps no
            // history (see `RunOptions::live`): only its work per second counts.
            None => pipeline.decoder.duration_s.unwrap_or(0.0),
        };
        let shape = AudioShape { samplerate: format.samplerate, channels: format.channels, duration_s };
        if let Err(message) = admit(shape) {
            source.stop();
            return Err(RunError::Refused { input: source.summary().map(|s| s.uri).unwrap_or_default(), message });
        }
    }
    let mut features = FeatureGraph::new();
    let mut failed = vec![None; pipeline.steps.len()];
    let mut stages = build_stages(
        pipeline,
        &mut BuildContext {
            format,
            features: &mut features,
            output_dir: options.output_dir,
            outputs: options.outputs,
            live: options.live,
        },
        &mut failed,
    )?;
    let expected = source.expected_frames().filter(|&f| f > 0);
    let mut done: u64 = 0;
    let mut last_reported = -1.0;
    let mut events = Vec::new();
    while let Some(mut block) = source.next_block()? {
        if options.cancel.is_cancelled() {
            source.stop();
            return Err(RunError::Cancelled { input: source.summary().map(|s| s.uri).unwrap_or_default() });
        }
        if options.cancel.input_ended() {
            source.stop();
        }
        for e in &mut stages.effects {
            e.processor.process(&mut block);
        }
        if let Some(on_block) = options.on_block {
            on_block(&block);
        }
        features.process(&block);
        fan_out(&mut stages, &block, &features)?;
        forward_events(&mut stages, options, &mut events);
        done += block.frames() as u64;
        if let (Some(progress), Some(total)) = (options.progress, expected) {
            let fraction = (done as f64 / total as f64).min(1.0);
            if fraction - last_reported >= 0.001 {
                progress(fraction);
                last_reported = fraction;
            }
        }
    }
    features.flush();
    let tail = Block { frame: 0, samples: Vec::new(), format };
    fan_out(&mut stages, &tail, &features)?;
    forward_events(&mut stages, options, &mut events);
    let summary = source.summary()?;

    let finish = FinishContext { format, output_dir: options.output_dir };
    let audio = audio_metadata(&summary, format, pipeline);
    let mut results = Vec::new();
    let mut files = Vec::new();
    let mut steps: Vec<StepSpan> = failed.into_iter().map(|error| StepSpan { error, ..Default::default() }).collect();
    let mut collect = |step: usize,
                       descriptor: Descriptor,
                       params: serde_json::Value,
                       proc_uuid: String,
                       finished: Result<Finished, ProcessError>| {
        // A step that cannot finish (what it computed does not fit its parameters) fails
        // alone too.
        let finished = match finished {
            Ok(finished) => finished,
            Err(e) => {
                steps[step].error = Some(e.to_string());
                return;
            }
        };
        let (first_result, first_file) = (results.len(), files.len());
        files.extend(finished.files);
        for out in finished.results {
            let id = if out.suffix.is_empty() {
                descriptor.id.to_string()
            } else {
                format!("{}.{}", descriptor.id, out.suffix)
            };
            results.push(AnalyzerResult {
                id_metadata: IdMetadata {
                    id,
                    name: out.name,
                    unit: out.unit.unwrap_or(descriptor.unit).to_string(),
                    description: descriptor.description.to_string(),
                    date: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    version: descriptor.version.to_string(),
                    author: AUTHOR.to_string(),
                    proc_uuid: proc_uuid.clone(),
                    res_uuid: uuid::Uuid::new_v4().to_string(),
                },
                data_mode: out.data.data_mode,
                time_mode: out.data.time_mode,
                data_object: out.data.data_object,
                audio_metadata: audio.clone(),
                frame_metadata: out.data.frame_metadata,
                label_metadata: out.data.label_metadata,
                parameters: params.clone(),
            });
        }
        steps[step] = StepSpan { results: first_result..results.len(), files: first_file..files.len(), error: None };
    };
    for s in stages.analyzers {
        collect(s.step, s.descriptor, s.params, s.proc_uuid, s.processor.finish(&finish));
    }
    for s in stages.graphers {
        collect(s.step, s.descriptor, s.params, s.proc_uuid, s.processor.finish(&finish));
    }
    // An encoder that cannot finish its file fails the run: a file cut short is not stored.
    for s in stages.encoders {
        let finished = s.processor.finish(&finish)?;
        collect(s.step, s.descriptor, s.params, s.proc_uuid, Ok(finished));
    }
    Ok(RunOutput { source: summary, results, files, steps, features: features.stats() })
}

fn fan_out(stages: &mut Stages, block: &Block, features: &FeatureGraph) -> Result<(), ProcessError> {
    for a in &mut stages.analyzers {
        a.processor.process(block, features);
    }
    for g in &mut stages.graphers {
        g.processor.process(block, features);
    }
    if !block.is_empty() {
        for e in &mut stages.encoders {
            e.processor.process(block)?;
        }
    }
    Ok(())
}

/// Hands each analyzer's new events to `on_events` (`buffer` is reused between blocks). Events
/// are taken even when nobody listens, so they never pile up in the analyzers.
fn forward_events(stages: &mut Stages, options: &RunOptions, buffer: &mut Vec<AnalysisEvent>) {
    for a in &mut stages.analyzers {
        a.processor.take_events(buffer);
        if let Some(on_events) = options.on_events
            && !buffer.is_empty()
        {
            on_events(a.descriptor.id, buffer);
        }
        buffer.clear();
    }
}

fn audio_metadata(
    summary: &SourceSummary,
    format: crate::media::AudioFormat,
    pipeline: &CompiledPipeline,
) -> AudioMetadata {
    let rate = format.samplerate as f64;
    let mut management = Vec::new();
    if let Some(ch) = summary.source_channels.filter(|&c| c != format.channels) {
        management.push(format!("{} -> {} channels", ch, format.channels));
    }
    if let Some(sr) = summary.source_samplerate.filter(|&r| r != format.samplerate) {
        management.push(format!("resampled {} -> {} Hz", sr, format.samplerate));
    }
    AudioMetadata {
        uri: summary.uri.clone(),
        start: summary.start_frame as f64 / rate,
        duration: summary.frames as f64 / rate,
        is_segment: pipeline.decoder.is_segment(),
        sha256: summary.sha256.clone(),
        channels: format.channels,
        samplerate: format.samplerate,
        channels_management: if management.is_empty() { "source".into() } else { management.join(", ") },
    }
}
