//! Encoders: every format from mono and stereo inputs at 8, 22.05, 44.1 and 48 kHz decodes back
//! (GStreamer and ffprobe) with the right channels, rate and length; streamed chunks form a
//! valid file; segments and effects; the `transcode` command.

use crate::common::*;
use std::process::Command;
use std::sync::{Arc, Mutex};
use timeside::media::gst::GstSource;
use timeside::media::sink::{ByteSink, ChunkSink};
use timeside::media::synth::sine;
use timeside::media::{ArraySource, AudioFormat, DecodeOptions, Input, Source};
use timeside::pipeline::{PipelineSpec, RunOptions, run_source};
use timeside::processors::encoders::OutputFactory;

/// (encoder, params, extension, codec frame in decoded samples, decoded rate if fixed)
const ENCODERS: &[(&str, &str, &str, u64, Option<u32>)] = &[
    ("wav", "{}", "wav", 0, None),
    ("flac", "{}", "flac", 0, None),
    ("mp3", "{ bitrate_kbps = 128 }", "mp3", 1152, None),
    ("opus", "{ bitrate_kbps = 64 }", "opus", 960, Some(48000)),
    ("vorbis", "{}", "ogg", 2048, None),
    // AAC: GStreamer's mp4mux writes no edit list, so the encoder's priming (1024) and the last
    // frame's padding are decoded too: up to two frames more than the input.
    ("aac", "{ bitrate_kbps = 96 }", "m4a", 2048, None),
    ("aac", "{ bitrate_kbps = 96, container = \"adts\" }", "aac", 2048, None),
    ("webm", "{ bitrate_kbps = 64 }", "webm", 960, Some(48000)),
];

fn all_encoders_spec() -> String {
    ENCODERS
        .iter()
        .enumerate()
        .map(|(i, (id, params, ext, ..))| {
            let params = params.trim_start_matches('{').trim_end_matches('}').trim();
            let sep = if params.is_empty() { "" } else { ", " };
            format!("[[processors]]\nid = \"{id}\"\nparams = {{ file_name = \"out{i}.{ext}\"{sep}{params} }}\n")
        })
        .collect()
}

fn decoded_frames(path: &std::path::Path) -> (AudioFormat, u64) {
    let mut src = GstSource::open(&Input::File(path.to_path_buf()), &DecodeOptions::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut frames = 0;
    while let Some(b) = src.next_block().unwrap_or_else(|e| panic!("{}: {e}", path.display())) {
        frames += b.frames() as u64;
    }
    (src.format(), frames)
}

fn ffprobe_stream(path: &std::path::Path) -> (String, u32, u16) {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "a:0",
            "-show_entries",
            "stream=codec_name,sample_rate,channels",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe (apt install ffmpeg)");
    assert!(out.status.success(), "ffprobe {}: {}", path.display(), String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    let f: Vec<&str> = text.trim().split(',').collect();
    (f[0].to_string(), f[1].parse().expect("rate"), f[2].parse().expect("channels"))
}

#[test]
fn every_format_at_every_rate_decodes_back_with_the_right_length() {
    let pipeline = PipelineSpec::from_toml(&all_encoders_spec(), "test").and_then(|s| s.compile("test")).expect("spec");
    for rate in [8000u32, 22050, 44100, 48000] {
        for channels in [1u16, 2] {
            let dir = tempfile::tempdir().expect("tmp");
            let seconds = 1.5;
            let input_frames = (seconds * rate as f64) as u64;
            let format = AudioFormat { samplerate: rate, channels };
            let source = ArraySource::new(sine(440.0, 0.5, seconds, rate, channels), format, &DecodeOptions::default())
                .expect("array");
            let out = run_source(
                &pipeline,
                Box::new(source),
                &RunOptions { output_dir: Some(dir.path()), ..Default::default() },
            )
            .unwrap_or_else(|e| panic!("{rate} Hz x{channels}: {e}"));
            assert_eq!(out.files.len(), ENCODERS.len());
            for (i, (id, _, ext, frame, fixed_rate)) in ENCODERS.iter().enumerate() {
                let path = dir.path().join(format!("out{i}.{ext}"));
                let what = format!("{id} .{ext} from {rate} Hz x{channels}");
                let (fmt, frames) = decoded_frames(&path);
                // Opus decodes at 48 kHz for ffmpeg; GStreamer's opusdec picks the Opus rate
                // nearest the input rate that OpusHead announces. Either is a correct decode.
                let fixed = fixed_rate.unwrap_or(rate);
                let opus_rates = [8000, 12000, 16000, 24000, 48000];
                assert!(
                    fmt.samplerate == fixed || (fixed_rate.is_some() && opus_rates.contains(&fmt.samplerate)),
                    "{what}: {fmt:?}"
                );
                assert_eq!(fmt.channels, channels, "{what}");
                let want = input_frames * fmt.samplerate as u64 / rate as u64;
                let frame = frame * fmt.samplerate as u64 / fixed as u64;
                assert!(
                    frames.abs_diff(want) <= frame,
                    "{what}: {frames} frames decoded, {want} expected (codec frame {frame})"
                );
                let (_, probe_rate, probe_channels) = ffprobe_stream(&path);
                assert_eq!((probe_rate, probe_channels), (fixed, channels), "ffprobe {what}");
            }
        }
    }
}

/// (output name, chunk) in the order the encoders produced them.
type Chunks = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// Collects each encoder's chunks in memory, as the server will send them to listeners.
#[derive(Default)]
struct Collect(Chunks);

impl OutputFactory for Collect {
    fn open(&self, _: &str, file_name: &str) -> Result<Box<dyn ByteSink>, String> {
        let store = self.0.clone();
        let name = file_name.to_string();
        Ok(Box::new(ChunkSink::new(4096, move |chunk: Vec<u8>| {
            store.lock().expect("lock").push((name.clone(), chunk));
        })))
    }
}

#[test]
fn streamed_chunks_concatenate_to_valid_files() {
    let pipeline = PipelineSpec::from_toml(&all_encoders_spec(), "test").and_then(|s| s.compile("test")).expect("spec");
    let format = AudioFormat { samplerate: 44100, channels: 2 };
    let source = ArraySource::new(sine(440.0, 0.5, 3.0, 44100, 2), format, &DecodeOptions::default()).expect("array");
    let collect = Collect::default();
    run_source(&pipeline, Box::new(source), &RunOptions { outputs: Some(&collect), ..Default::default() })
        .expect("run");
    let chunks = collect.0.lock().expect("lock").clone();
    let dir = tempfile::tempdir().expect("tmp");
    for (i, (id, _, ext, frame, fixed_rate)) in ENCODERS.iter().enumerate() {
        let name = format!("out{i}.{ext}");
        let parts: Vec<&[u8]> = chunks.iter().filter(|(n, _)| *n == name).map(|(_, c)| c.as_slice()).collect();
        assert!(parts.len() > 1 || *id == "aac", "{name}: {} chunks: output must flow while encoding", parts.len());
        let path = dir.path().join(&name);
        std::fs::write(&path, parts.concat()).expect("write");
        let (fmt, frames) = decoded_frames(&path);
        let want_rate = fixed_rate.unwrap_or(44100);
        assert_eq!(fmt.channels, 2, "{name}");
        let want = 3 * want_rate as u64;
        // A stream cannot carry what is only known at the end (MP3's LAME tag with the encoder
        // delay and padding): lossy streams may decode up to two codec frames longer.
        assert!(frames.abs_diff(want) <= 2 * frame, "{name} streamed: {frames} frames, {want} expected");
        ffprobe_stream(&path);
    }
}

#[test]
fn segments_cut_the_right_audio() {
    let dir = tempfile::tempdir().expect("tmp");
    // 440 Hz for 1 s, then 880 Hz for 1 s.
    let mut s = sine(440.0, 0.5, 1.0, 44100, 1);
    s.extend(sine(880.0, 0.5, 1.0, 44100, 1));
    let wav = write_wav(dir.path(), "steps.wav", s, AudioFormat { samplerate: 44100, channels: 1 }, 32);
    let out = dir.path().join("cut.flac");
    let o = timeside(&[
        "transcode",
        wav.to_str().expect("p"),
        "-o",
        out.to_str().expect("p"),
        "--start",
        "0.5",
        "--duration",
        "1.0",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (_, frames) = decoded_frames(&out);
    assert_eq!(frames, 44100);
    // First half of the cut is 440 Hz, second half 880 Hz.
    let spec = PipelineSpec::from_toml(
        "[[processors]]\nid = \"spectrogram\"\nparams = { n_fft = 4410, hop_size = 4410, max_frames = 0 }",
        "t",
    )
    .and_then(|s| s.compile("t"))
    .expect("spec");
    let r = timeside::pipeline::run(&spec, &Input::File(out), &RunOptions::default()).expect("run");
    let v = r.results[0].data_object.value.clone().expect("value");
    let peak_hz =
        |row: usize| v.row(row).iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).expect("bins").0 as f64 * 10.0;
    assert_eq!(v.rows(), 10);
    for row in 0..4 {
        assert_eq!(peak_hz(row), 440.0, "frame {row}");
    }
    for row in 6..10 {
        assert_eq!(peak_hz(row), 880.0, "frame {row}");
    }
}

/// 4 s of a 440 Hz sine at -6 dBFS, 44.1 kHz stereo, 16-bit WAV.
fn four_second_sine(dir: &std::path::Path) -> std::path::PathBuf {
    write_wav(dir, "in.wav", sine(440.0, 0.5, 4.0, 44100, 2), AudioFormat { samplerate: 44100, channels: 2 }, 16)
}

/// WebM and M4A files from `transcode` carry their duration and index (Cues, moov), as
/// ffmpeg's do, so browsers show their length and seek in them (the review found WebM files
/// with `duration=N/A`).
#[test]
fn transcoded_webm_and_m4a_files_have_a_duration_and_an_index() {
    let dir = tempfile::tempdir().expect("tmp");
    let wav = four_second_sine(dir.path());
    let (webm, m4a) = (dir.path().join("a.webm"), dir.path().join("a.m4a"));
    let o = timeside(&[
        "transcode",
        wav.to_str().expect("p"),
        "-o",
        webm.to_str().expect("p"),
        "-o",
        m4a.to_str().expect("p"),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for path in [&webm, &m4a] {
        let probe = Command::new("ffprobe")
            .args(["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"])
            .arg(path)
            .output()
            .expect("ffprobe (apt install ffmpeg)");
        let text = String::from_utf8_lossy(&probe.stdout);
        let duration: f64 = text.trim().parse().unwrap_or_else(|_| panic!("{}: duration `{text}`", path.display()));
        assert!((duration - 4.0).abs() < 0.05, "{}: {duration}", path.display());
    }
    // The Matroska Cues element (ID 0x1C53BB6B) and an MP4 `moov` that is not fragmented.
    let bytes = std::fs::read(&webm).expect("read");
    assert!(bytes.windows(4).any(|w| w == [0x1C, 0x53, 0xBB, 0x6B]), "no Cues in the WebM file");
    let bytes = std::fs::read(&m4a).expect("read");
    assert!(bytes.windows(4).any(|w| w == b"moov") && !bytes.windows(4).any(|w| w == b"moof"), "fragmented M4A");
}

#[test]
fn transcode_outputs_take_their_own_parameters() {
    let dir = tempfile::tempdir().expect("tmp");
    let wav = four_second_sine(dir.path());
    let (low, high, opus) = (dir.path().join("low.mp3"), dir.path().join("high.mp3"), dir.path().join("o.opus"));
    let o = timeside(&[
        "transcode",
        wav.to_str().expect("p"),
        "-o",
        &format!("{}:bitrate=64", low.display()),
        "-o",
        &format!("{}:bitrate=192", high.display()),
        "-o",
        &format!("{}:bitrate=32,page_ms=60", opus.display()),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // CBR MP3: the file size follows the bitrate (4 s: 32 000 bytes at 64 kbit/s).
    let (low, high) = (std::fs::metadata(&low).expect("low").len(), std::fs::metadata(&high).expect("high").len());
    assert!((28_000..40_000).contains(&low), "{low}");
    assert!((high as f64 / low as f64 - 3.0).abs() < 0.3, "{low} {high}");
    assert!(std::fs::metadata(&opus).expect("opus").len() < 24_000);
    // A parameter the encoder does not have is named, with exit code 2.
    let bad = dir.path().join("bad.mp3");
    let o = timeside(&["transcode", wav.to_str().expect("p"), "-o", &format!("{}:colour=1", bad.display())]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("colour"), "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn transcode_applies_gain_tags_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().expect("tmp");
    let wav = write_wav(
        dir.path(),
        "in.wav",
        sine(440.0, 0.5, 1.0, 44100, 2),
        AudioFormat { samplerate: 44100, channels: 2 },
        16,
    );
    let mp3 = dir.path().join("out.mp3");
    let ogg = dir.path().join("out.ogg");
    let args = [
        "transcode",
        wav.to_str().expect("p"),
        "-o",
        mp3.to_str().expect("p"),
        "-o",
        ogg.to_str().expect("p"),
        "--gain-db",
        "-6",
        "--title",
        "Quiet",
    ];
    let o = timeside(&args);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for f in [&mp3, &ogg] {
        let level = analyze(f, "level", DecodeOptions::default());
        assert!((global(&level, "level.rms") - (dbfs(0.5 / 2f64.sqrt()) - 6.0)).abs() < 0.5, "{}", f.display());
        let info = timeside::media::gst::media_info(&Input::File(f.clone())).expect("info");
        assert_eq!(info.tags.get("title").map(String::as_str), Some("Quiet"), "{}", f.display());
    }
    // Again: refused, exit 2, files untouched.
    let before = std::fs::read(&mp3).expect("read");
    let o = timeside(&args);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--force"));
    assert_eq!(std::fs::read(&mp3).expect("read"), before);
}

#[test]
fn failed_transcodes_leave_no_partial_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let junk = dir.path().join("junk.wav");
    std::fs::write(&junk, vec![9u8; 4000]).expect("write");
    let out = dir.path().join("out.mp3");
    let o = timeside(&["transcode", junk.to_str().expect("p"), "-o", out.to_str().expect("p")]);
    assert_eq!(o.status.code(), Some(1));
    let left: Vec<_> = std::fs::read_dir(dir.path()).expect("dir").map(|e| e.expect("e").file_name()).collect();
    assert_eq!(left, vec![std::ffi::OsString::from("junk.wav")], "only the input remains");
    // An output folder that does not exist: a one-line error, nothing written anywhere.
    let good = write_wav(
        dir.path(),
        "ok.wav",
        sine(440.0, 0.5, 0.5, 44100, 1),
        AudioFormat { samplerate: 44100, channels: 1 },
        16,
    );
    let nowhere = dir.path().join("missing-dir").join("x.mp3");
    let o = timeside(&["transcode", good.to_str().expect("p"), "-o", nowhere.to_str().expect("p")]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("x.mp3") && err.trim().lines().count() == 1, "{err}");
    std::fs::remove_file(&good).expect("rm");
    // Integer codec settings given through --quality.
    let flac = dir.path().join("q.flac");
    let wav = write_wav(
        dir.path(),
        "in.wav",
        sine(440.0, 0.5, 0.5, 44100, 1),
        AudioFormat { samplerate: 44100, channels: 1 },
        16,
    );
    let o = timeside(&["transcode", wav.to_str().expect("p"), "-o", flac.to_str().expect("p"), "--quality", "8"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = timeside(&[
        "transcode",
        wav.to_str().expect("p"),
        "-o",
        dir.path().join("q.mp3").to_str().expect("p"),
        "--quality",
        "2.5",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("vbr_quality"));
    let o = timeside(&["transcode", junk.to_str().expect("p"), "-o", "out.xyz"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("unknown format `xyz`"));
}

#[test]
fn transcode_writes_to_stdout() {
    let dir = tempfile::tempdir().expect("tmp");
    let wav = write_wav(
        dir.path(),
        "in.wav",
        sine(440.0, 0.5, 1.0, 44100, 1),
        AudioFormat { samplerate: 44100, channels: 1 },
        16,
    );
    let o = timeside(&["transcode", wav.to_str().expect("p"), "-o", "-", "--format", "mp3"]);
    assert!(o.status.success());
    let path = dir.path().join("piped.mp3");
    std::fs::write(&path, &o.stdout).expect("write");
    let (fmt, frames) = decoded_frames(&path);
    assert_eq!(fmt.channels, 1);
    // No LAME tag on a pipe: the decoder also outputs the encoder delay and padding.
    assert!(frames.abs_diff(44100) <= 2 * 1152, "{frames}");
}

#[test]
fn sixteen_bit_sources_stay_bit_exact_in_flac_and_wav() {
    let dir = tempfile::tempdir().expect("tmp");
    let music = timeside::media::synth::demo_music(2.0, 44100);
    let src = write_wav(dir.path(), "src.wav", music, AudioFormat { samplerate: 44100, channels: 2 }, 16);
    let decode = |p: &std::path::Path| -> Vec<f32> {
        let mut s = GstSource::open(&Input::File(p.to_path_buf()), &DecodeOptions::default()).expect("open");
        let mut v = Vec::new();
        while let Some(b) = s.next_block().expect("block") {
            v.extend(b.samples);
        }
        v
    };
    let original = decode(&src);
    for ext in ["flac", "wav"] {
        let out = dir.path().join(format!("copy.{ext}"));
        let o = timeside(&["transcode", src.to_str().expect("p"), "-o", out.to_str().expect("p")]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(decode(&out) == original, "{ext}: a 16-bit source must survive a 16-bit lossless transcode unchanged");
    }
}

/// Every encoder publishes into a broadcast hub that keeps only 8 chunks; one reader subscribed
/// at the start never reads while 6 s are encoded (it falls behind), then reads what is left.
#[test]
fn late_or_lagging_readers_still_get_a_decodable_stream() {
    use timeside::media::broadcast::{Broadcast, BroadcastSink, Subscriber};
    struct Hubs(Mutex<Vec<(String, Subscriber)>>);
    impl OutputFactory for Hubs {
        fn open(&self, _: &str, file_name: &str) -> Result<Box<dyn ByteSink>, String> {
            let hub = Broadcast::new(8);
            self.0.lock().expect("lock").push((file_name.to_string(), hub.subscribe(0)));
            Ok(Box::new(BroadcastSink::new(hub, 4096)))
        }
    }
    let pipeline = PipelineSpec::from_toml(&all_encoders_spec(), "test").and_then(|s| s.compile("test")).expect("spec");
    let format = AudioFormat { samplerate: 44100, channels: 2 };
    let source = ArraySource::new(timeside::media::synth::demo_music(6.0, 44100), format, &DecodeOptions::default())
        .expect("array");
    let hubs = Hubs(Mutex::new(Vec::new()));
    run_source(&pipeline, Box::new(source), &RunOptions { outputs: Some(&hubs), ..Default::default() }).expect("run");
    let dir = tempfile::tempdir().expect("tmp");
    for (name, mut reader) in hubs.0.into_inner().expect("lock") {
        let mut bytes = Vec::new();
        while let Some(chunk) = reader.next(std::time::Duration::from_millis(10)) {
            bytes.extend_from_slice(&chunk);
        }
        assert!(reader.skipped > 0, "{name}: the reader should have fallen behind");
        let path = dir.path().join(&name);
        std::fs::write(&path, &bytes).expect("write");
        let (fmt, frames) = decoded_frames(&path);
        assert_eq!(fmt.channels, 2, "{name}");
        assert!(frames > 0 && frames < 6 * fmt.samplerate as u64, "{name}: {frames} frames from the kept tail");
    }
}
