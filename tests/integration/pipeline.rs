//! The engine: one pass, shared features, effects before the fan-out, progress, cancellation,
//! no partial outputs.

use crate::common::*;
use std::sync::Mutex;
use timeside::media::synth::sine;
use timeside::media::{ArraySource, AudioFormat, DecodeOptions, Input};
use timeside::pipeline::{CancelToken, PipelineSpec, RunError, RunOptions, run, run_source};

fn compile(toml: &str) -> timeside::pipeline::CompiledPipeline {
    PipelineSpec::from_toml(toml, "test").and_then(|s| s.compile("test")).expect("pipeline")
}

fn array(seconds: f64, block: usize) -> Box<ArraySource> {
    let fmt = AudioFormat { samplerate: 8000, channels: 2 };
    let opts = DecodeOptions { block_size: block, ..Default::default() };
    Box::new(ArraySource::new(sine(440.0, 0.5, seconds, 8000, 2), fmt, &opts).expect("array"))
}

#[test]
fn identical_features_are_computed_once_for_all_analyzers() {
    let p = compile(
        r#"
        [[processors]]
        id = "spectrogram"
        [[processors]]
        id = "spectrogram"
        params = { max_frames = 10 }
        [[processors]]
        id = "spectrogram"
        params = { hop_size = 1024 }
        [[processors]]
        id = "waveform"
        "#,
    );
    let out = run_source(&p, array(10.0, 4096), &RunOptions::default()).expect("run");
    let frames_512 = (80_000f64 / 512.0).ceil() as u64;
    let frames_1024 = (80_000f64 / 1024.0).ceil() as u64;
    assert_eq!(out.features.ffts, frames_512 + frames_1024, "two distinct FFT settings, each computed once");
    // mono (shared with the waveform) + two framings + two spectra
    assert_eq!(out.features.nodes, 5);
    let spectro: Vec<_> = out.results.iter().filter(|r| r.id_metadata.id == "spectrogram").collect();
    assert_eq!(spectro.len(), 3);
    assert_eq!(spectro[0].data_object.value.as_ref().expect("v").rows() as u64, frames_512);
    assert_ne!(spectro[0].id_metadata.proc_uuid, spectro[1].id_metadata.proc_uuid);
}

#[test]
fn effects_apply_before_every_analyzer_and_encoder() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = compile(
        r#"
        [[processors]]
        id = "level"
        [[processors]]
        id = "fx_gain"
        params = { gain_db = -6.0 }
        [[processors]]
        id = "wav"
        params = { bits = 32, file_name = "quiet.wav" }
        "#,
    );
    let out = run_source(&p, array(1.0, 1000), &RunOptions { output_dir: Some(dir.path()), ..Default::default() })
        .expect("run");
    let want = dbfs(0.5) - 6.0;
    assert!((global(&out, "level.max") - want).abs() < 0.01, "{}", global(&out, "level.max"));
    // The encoded file went through the gain too: decode it back with GStreamer.
    let back = analyze(&dir.path().join("quiet.wav"), "level", DecodeOptions::default());
    assert!((global(&back, "level.max") - want).abs() < 0.01);
    assert_eq!(out.files, vec![dir.path().join("quiet.wav")]);
}

#[test]
fn results_carry_metadata_and_parameters() {
    let dir = tempfile::tempdir().expect("tmp");
    let wav = write_wav(
        dir.path(),
        "a.wav",
        sine(440.0, 0.5, 2.0, RATE, 2),
        AudioFormat { samplerate: RATE, channels: 2 },
        16,
    );
    let p = compile(
        "[decoder]\nstart_s = 0.5\nduration_s = 1.0\nchannels = 1\n[[processors]]\nid = \"spectrogram\"\nparams = { n_fft = 1024 }",
    );
    let out = run(&p, &Input::File(wav.clone()), &RunOptions::default()).expect("run");
    let r = &out.results[0];
    r.check_shape().expect("shape");
    assert_eq!(r.id_metadata.id, "spectrogram");
    assert_eq!(r.id_metadata.version, "1.0");
    assert_eq!(r.parameters["n_fft"], 1024);
    assert_eq!(r.parameters["hop_size"], 512);
    let a = &r.audio_metadata;
    assert_eq!((a.start, a.duration, a.is_segment, a.channels), (0.5, 1.0, true, 1));
    assert_eq!(a.channels_management, "2 -> 1 channels");
    assert_eq!(a.sha256.as_deref(), Some(timeside::media::hash::sha256_file(&wav).expect("sha").as_str()));
    let fm = r.frame_metadata.expect("frames");
    assert_eq!((fm.samplerate, fm.blocksize, fm.stepsize), (RATE, 1024, 512));
}

#[test]
fn progress_rises_to_one() {
    let p = compile("[[processors]]\nid = \"level\"");
    let seen = Mutex::new(Vec::new());
    let progress = |f: f64| seen.lock().expect("lock").push(f);
    run_source(&p, array(5.0, 1000), &RunOptions { progress: Some(&progress), ..Default::default() }).expect("run");
    let seen = seen.into_inner().expect("lock");
    assert!(seen.len() >= 10);
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(*seen.last().expect("progress"), 1.0);
}

#[test]
fn cancelling_leaves_no_results_and_no_partial_files() {
    let dir = tempfile::tempdir().expect("tmp");
    let p = compile("[[processors]]\nid = \"level\"\n[[processors]]\nid = \"wav\"");
    let cancel = CancelToken::default();
    let trigger = cancel.clone();
    let progress = move |f: f64| {
        if f > 0.3 {
            trigger.cancel();
        }
    };
    let options = RunOptions { output_dir: Some(dir.path()), cancel, progress: Some(&progress), ..Default::default() };
    let err = run_source(&p, array(5.0, 1000), &options).expect_err("cancelled");
    assert!(matches!(err, RunError::Cancelled { .. }), "{err}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").collect();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

#[test]
fn ending_a_live_input_still_gives_results() {
    let p = compile("[[processors]]\nid = \"level\"");
    let cancel = CancelToken::default();
    let stopper = cancel.clone();
    let progress = |_: f64| {};
    let input = Input::parse("launch:audiotestsrc is-live=true volume=0.1");
    let t = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(500));
        stopper.end_input();
    });
    let out = run(&p, &input, &RunOptions { cancel, progress: Some(&progress), ..Default::default() }).expect("run");
    t.join().expect("join");
    assert!((global(&out, "level.max") + 20.0).abs() < 0.05);
    assert!(out.source.frames > 0);
}

/// Every preset shipped in `pipelines/` parses and compiles (ids, parameters).
#[test]
fn every_shipped_preset_compiles() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).expect("pipelines/") {
        let path = entry.expect("entry").path();
        if path.extension().is_some_and(|e| e == "toml") {
            let spec = timeside::pipeline::PipelineSpec::from_toml_file(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            spec.compile(&path.display().to_string()).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            seen += 1;
        }
    }
    assert!(seen >= 5, "{seen} presets");
}
