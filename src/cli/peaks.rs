//! `timeside peaks <input> -o out.dat|out.json [--samples-per-pixel N | --pixels-per-second N]
//! [--bits 8|16] [--split-channels]`: waveform peaks in audiowaveform's formats, as a drop-in
//! for `audiowaveform -i <input> -o <out>` (which Debian does not package). One decoding
//! pass, in flat memory (min/max per pixel, never the samples); the file appears whole or not
//! at all.

use super::{EXIT_INPUT_FAILED, EXIT_USAGE, fail, install_interrupt};
use crate::media::Input;
use crate::peaks::{Bits, Peaks};
use crate::pipeline::{CancelToken, PipelineSpec, RunOptions, run};
use clap::Args;
use std::path::PathBuf;

#[derive(Args)]
pub struct PeaksArgs {
    /// File, URI or `launch:<description>`.
    input: String,
    /// Output: `.dat` (binary) or `.json`.
    #[arg(short, long, value_name = "FILE")]
    output: PathBuf,
    /// Samples (frames) per pixel, 1..=10000000 (audiowaveform's --zoom). Default 256.
    #[arg(long, value_name = "N", conflicts_with = "pixels_per_second")]
    samples_per_pixel: Option<u32>,
    /// Pixels per second of audio (samples per pixel = sample rate / N).
    #[arg(long, value_name = "N")]
    pixels_per_second: Option<u32>,
    /// Bits per value: 8 or 16.
    #[arg(long, default_value_t = 16)]
    bits: u8,
    /// One min/max pair per channel instead of the peaks of the mono mix.
    #[arg(long)]
    split_channels: bool,
}

pub fn peaks(args: PeaksArgs) -> i32 {
    let ext = args.output.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase);
    let json = match ext.as_deref() {
        Some("dat") => false,
        Some("json") => true,
        _ => return fail(EXIT_USAGE, format!("-o {}: the output must end in .dat or .json", args.output.display())),
    };
    let Some(bits) = Bits::parse(args.bits) else {
        return fail(EXIT_USAGE, format!("--bits {}: 8 or 16", args.bits));
    };
    let input = Input::parse(&args.input);
    let samples_per_pixel = match (args.samples_per_pixel, args.pixels_per_second) {
        (Some(n), _) => n,
        (None, Some(0)) => return fail(EXIT_USAGE, "--pixels-per-second: at least 1"),
        (None, Some(per_second)) => match crate::media::gst::media_info(&input) {
            Ok(info) => (info.samplerate / per_second).max(1),
            Err(e) => return fail(EXIT_INPUT_FAILED, e),
        },
        (None, None) => 256,
    };
    let spec = serde_json::json!({ "processors": [{ "id": "waveform", "params": {
        "samples_per_pixel": samples_per_pixel, "split_channels": args.split_channels } }] });
    let pipeline = match PipelineSpec::from_json(spec, "peaks").and_then(|s| s.compile("peaks")) {
        Ok(p) => p,
        Err(e) => return fail(EXIT_USAGE, e),
    };
    let cancel = CancelToken::default();
    install_interrupt(&cancel);
    let bar = super::input_bar(&input.to_string());
    let progress = |f: f64| bar.set_position((f * 1000.0) as u64);
    let ran = run(&pipeline, &input, &RunOptions { cancel, progress: Some(&progress), ..Default::default() });
    bar.finish_and_clear();
    let out = match ran {
        Ok(out) => out,
        Err(e) => return fail(EXIT_INPUT_FAILED, e),
    };
    if let Some(error) = out.step_errors().next() {
        return fail(EXIT_INPUT_FAILED, format!("{input}: {error}"));
    }
    let Some(result) = out.results.first() else {
        return fail(EXIT_INPUT_FAILED, "the waveform made no result");
    };
    let values = result.data_object.value.as_ref().map(|v| v.as_flat()).unwrap_or_default();
    let channels = if args.split_channels { result.audio_metadata.channels } else { 1 };
    let peaks = Peaks::from_f32(result.audio_metadata.samplerate, samples_per_pixel, channels, values);
    let bytes = if json { peaks.to_json(bits).into_bytes() } else { peaks.to_dat(bits) };
    // Written beside the target and renamed: a reader never sees half a file.
    let part = args.output.with_extension(format!("{}.part", if json { "json" } else { "dat" }));
    if let Err(e) = std::fs::write(&part, &bytes).and_then(|_| std::fs::rename(&part, &args.output)) {
        let _ = std::fs::remove_file(&part);
        return fail(EXIT_INPUT_FAILED, format!("{}: {e}", args.output.display()));
    }
    0
}
