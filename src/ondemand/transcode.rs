//! Transcodes of an item: the pipeline that encodes a segment of it to a format (for streams
//! and downloads alike), the bytes a complete transcode may take (what the cache admits before
//! one starts), and running a pass into a file of the cache.

use crate::media::{DecodeOptions, Input};
use crate::pipeline::{CompiledPipeline, PipelineSpec, RunOptions, StepSpec};
use crate::processors::encoders::formats::Format;
use std::path::Path;

/// The pipeline that encodes `decoder`'s segment to `format`, into `file_name`.
pub fn pipeline(format: &Format, decoder: DecodeOptions, file_name: &str) -> Result<CompiledPipeline, String> {
    let mut params = serde_json::json!({ "file_name": file_name });
    if let Some(c) = format.container {
        params["container"] = c.into();
    }
    PipelineSpec { decoder, processors: vec![StepSpec { id: format.encoder.into(), params }], ..Default::default() }
        .compile(format.name)
        .map_err(|e| e.to_string())
}

/// At most how many bytes a complete transcode to `format` of `seconds` of audio at `rate` and
/// `channels` holds: 16-bit PCM for the lossless formats (FLAC is smaller, never larger),
/// 320 kbit/s for the lossy ones.
pub fn max_bytes(format: &Format, seconds: f64, rate: u32, channels: u16) -> u64 {
    let per_second = match format.name {
        "wav" | "flac" => f64::from(rate.max(1)) * f64::from(channels.max(1)) * 2.0,
        _ => 40_000.0,
    };
    (seconds.max(0.0) * per_second) as u64 + 64 * 1024
}

/// Runs `pipeline` on `input` in `staging` (made, then removed) and puts the file it writes,
/// `produced`, in place at `target`: whole or not at all. Blocking.
pub fn run_into(
    pipeline: &CompiledPipeline,
    input: &Input,
    staging: &Path,
    produced: &str,
    target: &Path,
) -> Result<(), String> {
    let ran = std::fs::create_dir_all(staging).map_err(|e| e.to_string()).and_then(|_| {
        let options = RunOptions { output_dir: Some(staging), ..Default::default() };
        crate::pipeline::run(pipeline, input, &options).map_err(|e| e.to_string())
    });
    let placed = ran
        .and_then(|_| crate::storage::files::put_in_place(&staging.join(produced), target).map_err(|e| e.to_string()));
    let _ = std::fs::remove_dir_all(staging);
    placed
}
