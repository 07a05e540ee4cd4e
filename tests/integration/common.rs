//! Helpers: known signals written as files, GStreamer encoders to make every format, the binary.

use gstreamer as gst;
use gstreamer::prelude::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use timeside::media::{ArraySource, AudioFormat, DecodeOptions, Input};
use timeside::pipeline::{PipelineSpec, RunOptions, RunOutput, run, run_source};

pub const RATE: u32 = 44100;

/// Writes interleaved samples as a 32-bit float WAV (exact) with the library's own encoder.
/// `low.wav`: 2 s of a 100 Hz sine at -20 dBFS, mono, at 1234 Hz (a rate too low for some
/// processors' defaults: pitch's `fmax` is above its Nyquist frequency).
pub fn low_rate_sine(dir: &Path) -> PathBuf {
    let format = AudioFormat { samplerate: 1234, channels: 1 };
    write_wav(dir, "low.wav", timeside::media::synth::sine(100.0, 0.1, 2.0, 1234, 1), format, 16)
}

pub fn write_wav(dir: &Path, name: &str, samples: Vec<f32>, format: AudioFormat, bits: u16) -> PathBuf {
    let spec = format!("[[processors]]\nid = \"wav\"\nparams = {{ bits = {bits}, file_name = \"{name}\" }}");
    let pipeline = PipelineSpec::from_toml(&spec, "test").and_then(|s| s.compile("test")).expect("wav pipeline");
    let source = ArraySource::new(samples, format, &DecodeOptions::default()).expect("array");
    run_source(&pipeline, Box::new(source), &RunOptions { output_dir: Some(dir), ..Default::default() })
        .expect("write wav");
    dir.join(name)
}

/// Runs a GStreamer launch line to EOS (for making test files with GStreamer's encoders).
pub fn gst_launch(line: &str) {
    timeside::media::gst::init().expect("gst init");
    let pipeline = gst::parse::launch(line).unwrap_or_else(|e| panic!("{line}: {e}"));
    pipeline.set_state(gst::State::Playing).expect("play");
    let bus = pipeline.bus().expect("bus");
    for msg in bus.iter_timed(gst::ClockTime::from_seconds(60)) {
        match msg.view() {
            gst::MessageView::Eos(_) => break,
            gst::MessageView::Error(e) => panic!("{line}: {}", e.error()),
            _ => {}
        }
    }
    pipeline.set_state(gst::State::Null).expect("stop");
}

/// A format we make with GStreamer: file extension and the encoder chain after `audioconvert`.
pub struct Format {
    pub ext: &'static str,
    pub chain: &'static str,
    pub lossless: bool,
    /// Rate the decoder reports (Opus always decodes at 48 kHz).
    pub decoded_rate: Option<u32>,
}

pub const FORMATS: &[Format] = &[
    Format { ext: "wav", chain: "wavenc", lossless: true, decoded_rate: None },
    Format { ext: "flac", chain: "flacenc ! flacparse", lossless: true, decoded_rate: None },
    Format {
        ext: "mp3",
        chain: "lamemp3enc target=bitrate bitrate=192 cbr=true ! xingmux ! id3v2mux",
        lossless: false,
        decoded_rate: None,
    },
    Format { ext: "ogg", chain: "vorbisenc quality=0.6 ! oggmux", lossless: false, decoded_rate: None },
    Format {
        ext: "opus",
        chain: "audioresample ! audio/x-raw,rate=48000 ! opusenc bitrate=128000 ! oggmux",
        lossless: false,
        decoded_rate: Some(48000),
    },
    Format { ext: "m4a", chain: "avenc_aac bitrate=192000 ! mp4mux", lossless: false, decoded_rate: None },
    Format {
        ext: "webm",
        chain: "audioresample ! audio/x-raw,rate=48000 ! opusenc bitrate=128000 ! webmmux",
        lossless: false,
        decoded_rate: Some(48000),
    },
    Format { ext: "mka", chain: "flacenc ! flacparse ! matroskamux", lossless: true, decoded_rate: None },
];

/// Encodes `wav` to `format` next to it, with tags given as (name, value) pairs.
pub fn encode(wav: &Path, format: &Format, tags: &[(&str, &str)]) -> PathBuf {
    let stem = wav.file_stem().expect("stem").to_string_lossy();
    let out = wav.with_file_name(format!("{stem}-enc.{}", format.ext));
    let tag = if tags.is_empty() {
        String::new()
    } else {
        let list: Vec<String> = tags.iter().map(|(k, v)| format!("{k}=\\\"{v}\\\"")).collect();
        format!("taginject tags=\"{}\" ! ", list.join(","))
    };
    gst_launch(&format!(
        "filesrc location={} ! wavparse ! audioconvert ! {tag}{} ! filesink location={}",
        wav.display(),
        format.chain,
        out.display()
    ));
    out
}

/// A video file with an audio track: VP8 video and Vorbis audio in WebM.
pub fn encode_video_with_audio(wav: &Path) -> PathBuf {
    let out = wav.with_extension("video.webm");
    gst_launch(&format!(
        "webmmux name=mux ! filesink location={out} \
         videotestsrc num-buffers=30 ! video/x-raw,width=64,height=48,framerate=30/1 ! vp8enc deadline=1 ! mux. \
         filesrc location={wav} ! wavparse ! audioconvert ! vorbisenc ! mux.",
        out = out.display(),
        wav = wav.display()
    ));
    out
}

pub fn analyze(path: &Path, ids: &str, options: DecodeOptions) -> RunOutput {
    let spec = PipelineSpec {
        decoder: options,
        processors: ids
            .split(',')
            .map(|id| timeside::pipeline::StepSpec { id: id.into(), params: serde_json::Value::Null })
            .collect(),
        ..Default::default()
    };
    let p = spec.compile("test").expect("pipeline");
    run(&p, &Input::File(path.to_path_buf()), &RunOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The single global value of result `id`.
pub fn global(out: &RunOutput, id: &str) -> f64 {
    let r = out.results.iter().find(|r| r.id_metadata.id == id).unwrap_or_else(|| panic!("no result {id}"));
    r.data_object.value.as_ref().expect("value").as_flat()[0] as f64
}

pub fn timeside(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_timeside")).args(args).output().expect("run timeside")
}

pub fn dbfs(amplitude: f64) -> f64 {
    20.0 * amplitude.log10()
}

/// Every sample of a file as TimeSide decodes it, interleaved.
pub fn decode_all(path: &Path) -> Vec<f32> {
    let input = timeside::media::Input::File(path.to_path_buf());
    let mut source = timeside::processors::decoders::open(&input, &Default::default()).expect("open");
    let mut out = Vec::new();
    while let Some(block) = source.next_block().expect("decode") {
        out.extend(block.samples);
    }
    out
}

/// A loopback port nobody listens on now (for programs that need theirs in their config).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}
