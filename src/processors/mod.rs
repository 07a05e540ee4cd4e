//! The processor model: one trait per kind, a static descriptor per processor, typed
//! parameters with a JSON Schema, and the [`registry`] table that lists them all.
//!
//! A processor is built when the stream format is known ([`BuildContext`]); its settings come
//! from its parameter struct, its state is created in `build` and dropped at the end.

pub mod analyzers;
pub mod cost;
pub mod decoders;
pub mod effects;
pub mod encoders;
pub mod graphers;
pub mod params;
pub mod registry;

use crate::features::FeatureGraph;
use crate::media::{AudioFormat, Block};
use crate::results::ResultData;
use serde::Serialize;
use std::path::PathBuf;

pub use params::{ParamError, Params};
pub use registry::{ProcessorEntry, lookup, registry};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Decoder,
    Effect,
    Analyzer,
    Grapher,
    Encoder,
}

impl Kind {
    pub const ALL: [Kind; 5] = [Kind::Decoder, Kind::Effect, Kind::Analyzer, Kind::Grapher, Kind::Encoder];

    /// The kind `as_str` names.
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Decoder => "decoder",
            Kind::Effect => "effect",
            Kind::Analyzer => "analyzer",
            Kind::Grapher => "grapher",
            Kind::Encoder => "encoder",
        }
    }
}

/// What every processor says about itself.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Descriptor {
    /// Unique, lower snake case; also the file name of the processor.
    pub id: &'static str,
    pub name: &'static str,
    pub kind: Kind,
    /// The processor's own version, bumped whenever its output changes.
    pub version: &'static str,
    pub description: &'static str,
    /// Unit of the values it produces (analyzers), empty otherwise.
    pub unit: &'static str,
    /// Whether it can run on a live stream (otherwise it needs the whole signal).
    pub live: bool,
}

/// What a processor can know when it is built.
pub struct BuildContext<'a> {
    /// Format of the blocks it will see (after the effects before it).
    pub format: AudioFormat,
    /// Shared intermediate features: request them here, read them in `process`.
    pub features: &'a mut FeatureGraph,
    /// Where encoders and graphers may write files, when the run has an output folder.
    pub output_dir: Option<&'a std::path::Path>,
    /// Where encoders send their bytes instead of files in `output_dir` (e.g. HTTP streams).
    pub outputs: Option<&'a dyn encoders::OutputFactory>,
    /// A live stream that may never end: analyzers keep no per-frame history (memory stays
    /// flat) and report through their events; results at the end then hold only what needs
    /// no history.
    pub live: bool,
}

impl<'a> BuildContext<'a> {
    /// A context for a file run: no output folder, history kept.
    pub fn new(format: AudioFormat, features: &'a mut FeatureGraph) -> Self {
        BuildContext { format, features, output_dir: None, outputs: None, live: false }
    }

    /// The sink an encoder writes `file_name` to.
    pub fn open_output(&self, encoder: &str, file_name: &str) -> Result<Box<dyn encoders::ByteSink>, String> {
        match self.outputs {
            Some(f) => f.open(encoder, file_name),
            None => crate::media::sink::open_sink(self.output_dir, file_name),
        }
    }
}

/// What a processor gets at the end of the stream.
pub struct FinishContext<'a> {
    pub format: AudioFormat,
    /// Where to write files (images, peaks, encoded audio), when the run has an output folder.
    pub output_dir: Option<&'a std::path::Path>,
}

/// One result of a processor: a suffix of its id (`"max"` gives `level.max`; empty gives
/// `level`), a human name, and the data; its unit is the processor's unless it says otherwise.
pub struct Output {
    pub suffix: &'static str,
    pub name: String,
    pub data: ResultData,
    pub unit: Option<&'static str>,
}

impl Output {
    pub fn new(suffix: &'static str, name: impl Into<String>, data: ResultData) -> Self {
        Output { suffix, name: name.into(), data, unit: None }
    }

    /// A unit of its own (`pitch.confidence` has none, where `pitch` is in Hz).
    pub fn with_unit(mut self, unit: &'static str) -> Self {
        self.unit = Some(unit);
        self
    }
}

/// An incremental value of an analyzer, produced while the stream plays (live WebSocket
/// events); the final result still comes from `finish`.
#[derive(Clone, Debug, PartialEq)]
pub struct AnalysisEvent {
    /// Event type, e.g. `onset`, `pitch`, `silence_start`.
    pub event: &'static str,
    /// Stream time the event describes, in seconds since the first decoded sample.
    pub time: f64,
    /// The event's own fields (a JSON object).
    pub fields: serde_json::Value,
}

/// What a processor leaves behind: results and the files it wrote.
#[derive(Default)]
pub struct Finished {
    pub results: Vec<Output>,
    pub files: Vec<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("{processor}: {message}")]
    Failed { processor: &'static str, message: String },
    #[error("{processor}: cannot write {path}: {source}")]
    Io { processor: &'static str, path: PathBuf, source: std::io::Error },
}

/// Changes the signal in place; effects run in series before the fan-out.
pub trait Effect: Send {
    fn process(&mut self, block: &mut Block);
}

/// Measures the signal. `process` sees each block and the features computed for it; at the end
/// it is called once more with an empty block after the feature graph is flushed.
pub trait Analyzer: Send {
    fn process(&mut self, block: &Block, features: &FeatureGraph);
    fn finish(self: Box<Self>, ctx: &FinishContext) -> Result<Finished, ProcessError>;
    /// Moves the events produced since the last call to `out` (called after each `process`).
    /// Analyzers that need the whole signal produce none.
    fn take_events(&mut self, _out: &mut Vec<AnalysisEvent>) {}
}

/// Draws the signal (peaks, images). Same life cycle as an analyzer.
pub trait Grapher: Send {
    fn process(&mut self, block: &Block, features: &FeatureGraph);
    fn finish(self: Box<Self>, ctx: &FinishContext) -> Result<Finished, ProcessError>;
}

/// Encodes the signal. Output goes to a temporary file that only a successful `finish` renames
/// into place, so a failed run leaves no partial file.
pub trait Encoder: Send {
    fn process(&mut self, block: &Block) -> Result<(), ProcessError>;
    fn finish(self: Box<Self>, ctx: &FinishContext) -> Result<Finished, ProcessError>;
}
