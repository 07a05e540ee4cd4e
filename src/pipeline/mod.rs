//! Pipelines: a spec (from TOML, JSON or the command line) is compiled once — ids resolved,
//! parameters checked, every problem reported together — and then run over any number of
//! inputs: one decoding pass each, effects in series, fan-out to analyzers, graphers and
//! encoders.

mod runner;
mod spec;

pub use runner::{CancelToken, RunError, RunOptions, RunOutput, encode_samples, run, run_source};
pub use spec::{CompiledPipeline, CompiledStep, PipelineSpec, SpecError, StepSpec};
