//! `timeside demo`: the main job until the server lands. Generates a music-like demo signal,
//! writes it as WAV (array decoder → wav encoder), then decodes that file with GStreamer and
//! runs the standard preset on it, printing what it found and where the files are.

use super::{EXIT_INPUT_FAILED, fail};
use crate::media::{AudioFormat, Input, synth};
use crate::pipeline::{PipelineSpec, RunOptions, encode_samples, run};
use clap::Args;
use std::path::PathBuf;

pub const STANDARD_PRESET: &str = include_str!("../../pipelines/standard.toml");

#[derive(Args)]
pub struct DemoArgs {
    /// Folder for the demo audio and results.
    #[arg(long, default_value = "data/demo", value_name = "DIR")]
    out: PathBuf,
    /// Length of the generated signal, in seconds.
    #[arg(long, default_value_t = 20.0, value_name = "SECONDS")]
    seconds: f64,
}

pub fn demo(args: DemoArgs) -> i32 {
    match demo_inner(&args) {
        Ok(()) => 0,
        Err(e) => fail(EXIT_INPUT_FAILED, e),
    }
}

fn demo_inner(args: &DemoArgs) -> Result<(), String> {
    if !(1.0..=3600.0).contains(&args.seconds) {
        return Err("--seconds must be 1..=3600".into());
    }
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let format = AudioFormat { samplerate: 44100, channels: 2 };
    let samples = synth::demo_music(args.seconds, format.samplerate);
    let wav = encode_samples(samples, format, "wav", serde_json::json!({ "file_name": "demo.wav" }), &args.out)?;
    println!("generated {} ({:.0} s of stereo music-like audio)", wav.display(), args.seconds);

    let pipeline = PipelineSpec::from_toml(STANDARD_PRESET, "pipelines/standard.toml")
        .and_then(|s| s.compile("pipelines/standard.toml"))
        .map_err(|e| e.to_string())?;
    let started = std::time::Instant::now();
    let out =
        run(&pipeline, &Input::File(wav.clone()), &RunOptions { output_dir: Some(&args.out), ..Default::default() })
            .map_err(|e| e.to_string())?;
    if let Some(error) = out.step_errors().next() {
        return Err(error.to_string());
    }
    let elapsed = started.elapsed().as_secs_f64();
    let results_path = args.out.join("results.json");
    super::output::write_results_file(&results_path, &out.results, false).map_err(|e| e.to_string())?;

    println!(
        "decoded with GStreamer and analysed in one pass: {:.2} s for {:.1} s of audio ({:.0}x realtime)",
        elapsed,
        out.source.frames as f64 / 44100.0,
        out.source.frames as f64 / 44100.0 / elapsed.max(1e-9)
    );
    println!("sha256 {}", out.source.sha256.as_deref().unwrap_or("-"));
    for r in &out.results {
        let v = r.data_object.value.as_ref();
        let summary = match (r.time_mode, v) {
            (crate::results::TimeMode::Global, Some(v)) => {
                format!("{:.3} {}", v.as_flat()[0], r.id_metadata.unit)
            }
            (_, Some(v)) => format!("{} frames x {} values", v.rows(), v.width()),
            _ => String::new(),
        };
        println!("  {:<14} {}", r.id_metadata.id, summary);
    }
    println!("results: {}", results_path.display());
    for f in &out.files {
        println!("file:    {}", f.display());
    }
    Ok(())
}
