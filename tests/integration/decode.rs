//! Decoding: every format, segments, resampling, channel mixing, live sources, HTTP, media
//! info, content hashes and bad inputs.

use crate::common::*;
use std::io::{Read, Write};
use timeside::media::gst::{GstSource, media_info};
use timeside::media::hash::sha256_file;
use timeside::media::synth::sine;
use timeside::media::{AudioFormat, DecodeOptions, Input, MediaError, Source};

const SECONDS: f64 = 2.0;
const AMP: f64 = 0.5; // -6.02 dBFS peak, -9.03 dBFS RMS

fn stereo_sine(dir: &std::path::Path) -> std::path::PathBuf {
    let fmt = AudioFormat { samplerate: RATE, channels: 2 };
    write_wav(dir, "sine.wav", sine(1000.0, AMP, SECONDS, RATE, 2), fmt, 16)
}

fn decode_all(input: &Input, options: &DecodeOptions) -> (AudioFormat, Vec<f32>, timeside::media::SourceSummary) {
    let mut src = GstSource::open(input, options).unwrap_or_else(|e| panic!("{input}: {e}"));
    let mut samples = Vec::new();
    let mut next = None;
    while let Some(b) = src.next_block().unwrap_or_else(|e| panic!("{input}: {e}")) {
        if let Some(n) = next {
            assert_eq!(b.frame, n, "blocks are contiguous");
        }
        next = Some(b.frame + b.frames() as u64);
        samples.extend_from_slice(&b.samples);
    }
    (src.format(), samples, src.summary().expect("summary"))
}

#[test]
fn every_format_decodes_with_the_right_duration_rate_channels_level_and_hash() {
    let dir = tempfile::tempdir().expect("tmp");
    let wav = stereo_sine(dir.path());
    let mut files: Vec<(std::path::PathBuf, &Format)> = FORMATS.iter().map(|f| (encode(&wav, f, &[]), f)).collect();
    let video = Format { ext: "video.webm", chain: "", lossless: false, decoded_rate: None };
    files.push((encode_video_with_audio(&wav), &video));
    for (path, f) in files {
        let input = Input::File(path.clone());
        let (fmt, samples, summary) = decode_all(&input, &DecodeOptions::default());
        let rate = f.decoded_rate.unwrap_or(RATE);
        assert_eq!(fmt, AudioFormat { samplerate: rate, channels: 2 }, "{}", f.ext);
        let duration = samples.len() as f64 / 2.0 / rate as f64;
        // Lossless formats are exact; lossy codecs may add up to one codec frame of padding.
        let tolerance = if f.lossless { 0.0 } else { 0.05 };
        assert!((duration - SECONDS).abs() <= tolerance + 1e-9, "{}: {duration} s", f.ext);
        let rms = (samples.iter().map(|x| (*x as f64).powi(2)).sum::<f64>() / samples.len() as f64).sqrt();
        let want = dbfs(AMP / 2f64.sqrt());
        // Lossy encoders change the level a little (LAME at 192 kbit/s: -0.35 dB, which sox
        // and ffmpeg read too); decoder accuracy itself is checked against sox in sox_parity.
        let level_tolerance = if f.lossless { 0.01 } else { 0.5 };
        assert!((dbfs(rms) - want).abs() < level_tolerance, "{}: rms {} dBFS, want {want}", f.ext, dbfs(rms));
        assert_eq!(summary.sha256.as_deref(), Some(sha256_file(&path).expect("sha").as_str()), "{}", f.ext);
    }
}

#[test]
fn segments_are_sample_accurate() {
    let dir = tempfile::tempdir().expect("tmp");
    // Float WAV whose every sample is its own frame index / 2^20: exact in f32.
    let rate = 8000;
    let samples: Vec<f32> = (0..rate * 3).map(|i| i as f32 / (1 << 20) as f32).collect();
    let wav = write_wav(dir.path(), "ramp.wav", samples, AudioFormat { samplerate: rate, channels: 1 }, 32);
    for (start, duration) in [(0.5, 0.25), (1.2345, 1.0), (0.0, 0.1), (2.5, 10.0)] {
        let opts = DecodeOptions { start_s: start, duration_s: Some(duration), block_size: 1000, ..Default::default() };
        let (_, got, summary) = decode_all(&Input::File(wav.clone()), &opts);
        let first = (start * rate as f64).round() as usize;
        let len = ((duration * rate as f64).round() as usize).min(3 * rate as usize - first);
        assert_eq!(got.len(), len, "segment {start}+{duration}");
        assert_eq!(got[0], first as f32 / (1 << 20) as f32, "first sample of {start}+{duration}");
        assert_eq!(*got.last().expect("samples"), (first + len - 1) as f32 / (1 << 20) as f32);
        assert_eq!(summary.start_frame, first as u64);
    }
}

/// A segment deep into a file decodes the same samples as the whole file does there, in every
/// format: the quick seek (a byte estimate from 1 s early) must never land late, and the
/// parsers that time by byte offset (MP3, AAC) are seeked accurately. ffmpeg's FLAC has no
/// seek table (GStreamer's has one), so both are checked.
#[test]
fn segments_deep_into_every_format_match_the_whole_decode() {
    let dir = tempfile::tempdir().expect("tmp");
    let rate = 44100;
    // A sweep from 200 Hz to 4 kHz under a slow tremolo: any misalignment shows as a large
    // difference; 16-bit exact for the lossless formats.
    let seconds = 40.0;
    let n = (seconds * rate as f64) as usize;
    let mut phase = 0.0f64;
    let sweep: Vec<f32> = (0..n)
        .map(|i| {
            let t = i as f64 / rate as f64;
            phase += 2.0 * std::f64::consts::PI * (200.0 + 3800.0 * t / seconds) / rate as f64;
            let v = 0.5 * phase.sin() * (0.6 + 0.4 * (t * 0.7).sin());
            ((v * 32768.0).round() / 32768.0) as f32
        })
        .collect();
    let wav = write_wav(dir.path(), "sweep.wav", sweep, AudioFormat { samplerate: rate, channels: 1 }, 16);
    let mut files: Vec<(std::path::PathBuf, bool)> =
        FORMATS.iter().map(|f| (encode(&wav, f, &[]), f.lossless)).collect();
    let ffmpeg_flac = dir.path().join("ffmpeg.flac");
    let made = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-y", "-i"])
        .arg(&wav)
        .arg(&ffmpeg_flac)
        .status()
        .expect("ffmpeg");
    assert!(made.success());
    files.push((ffmpeg_flac, true));
    for (path, lossless) in files {
        let input = Input::File(path.clone());
        let (format, whole, _) = decode_all(&input, &DecodeOptions::default());
        let channels = usize::from(format.channels);
        for (start, duration) in [(31.25, 2.0), (17.0, 0.5)] {
            let opts = DecodeOptions { start_s: start, duration_s: Some(duration), ..Default::default() };
            let (_, part, summary) = decode_all(&input, &opts);
            let first = (start * f64::from(format.samplerate)).round() as usize;
            assert_eq!(summary.start_frame, first as u64, "{}", path.display());
            assert_eq!(part.len(), (duration * f64::from(format.samplerate)).round() as usize * channels);
            // A lossy decoder restarted at a seek differs a little, mostly in its first frames.
            let skip = if lossless { 0 } else { 4096 * channels };
            let off_by = |lag: i64| -> f64 {
                let at = (first as i64 + lag) as usize * channels;
                part[skip..].iter().zip(&whole[at + skip..]).map(|(a, b)| f64::from(a - b).powi(2)).sum()
            };
            let lag = (-100..=100).min_by(|&a, &b| off_by(a).total_cmp(&off_by(b))).expect("lags");
            // Matroska times its blocks to the millisecond; every other format is sample-exact.
            let matroska = path.extension().is_some_and(|e| e == "mka" || e == "webm");
            let allowed = if matroska { i64::from(format.samplerate / 1000) } else { 0 };
            assert!(lag.abs() <= allowed, "{} at {start} s: {lag} frames off", path.display());
            let energy: f64 = part[skip..].iter().map(|&b| f64::from(b).powi(2)).sum();
            // One sample late would be -12 dB off at 1.8 kHz.
            let limit = if lossless { 0.0 } else { energy * 10f64.powf(-2.5) };
            assert!(
                off_by(lag) <= limit,
                "{} at {start} s: {:.1} dB off",
                path.display(),
                10.0 * (off_by(lag) / energy).log10()
            );
        }
    }
}

#[test]
fn resampling_and_channel_mixing() {
    let dir = tempfile::tempdir().expect("tmp");
    // Left: sine of amplitude 0.5; right: silence.
    let left = sine(1000.0, AMP, 1.0, RATE, 1);
    let interleaved: Vec<f32> = left.iter().flat_map(|&x| [x, 0.0]).collect();
    let wav = write_wav(dir.path(), "left.wav", interleaved, AudioFormat { samplerate: RATE, channels: 2 }, 32);

    let opts = DecodeOptions { samplerate: 16000, channels: 1, ..Default::default() };
    let (fmt, mono, _) = decode_all(&Input::File(wav.clone()), &opts);
    assert_eq!(fmt, AudioFormat { samplerate: 16000, channels: 1 });
    assert!((mono.len() as i64 - 16000).abs() <= 1, "{} frames", mono.len());
    // audioconvert's stereo-to-mono downmix averages the channels: half the amplitude.
    let peak = mono.iter().fold(0f32, |m, x| m.max(x.abs())) as f64;
    assert!((dbfs(peak) - dbfs(AMP / 2.0)).abs() < 0.1, "peak {} dBFS", dbfs(peak));

    let mono_wav = write_wav(dir.path(), "mono.wav", left, AudioFormat { samplerate: RATE, channels: 1 }, 32);
    let (fmt, stereo, _) = decode_all(&Input::File(mono_wav), &DecodeOptions { channels: 2, ..Default::default() });
    assert_eq!(fmt.channels, 2);
    assert!(stereo.chunks(2).all(|f| f[0] == f[1]), "upmix copies the channel");
}

#[test]
fn live_launch_source_runs_for_the_given_duration() {
    let input =
        Input::parse("launch:audiotestsrc is-live=true freq=440 volume=0.1 ! audio/x-raw,rate=32000,channels=1");
    let opts = DecodeOptions { duration_s: Some(1.0), ..Default::default() };
    let (fmt, samples, _) = decode_all(&input, &opts);
    assert_eq!(fmt, AudioFormat { samplerate: 32000, channels: 1 });
    assert_eq!(samples.len(), 32000);
    let peak = samples.iter().fold(0f32, |m, x| m.max(x.abs())) as f64;
    assert!((dbfs(peak) + 20.0).abs() < 0.05, "peak {}", dbfs(peak));
}

#[test]
fn media_info_and_tags() {
    let dir = tempfile::tempdir().expect("tmp");
    let wav = stereo_sine(dir.path());
    let expect = [("flac", "audio/x-flac", true), ("mp3", "audio/mpeg", false), ("ogg", "audio/x-vorbis", false)];
    for (ext, mime, lossless) in expect {
        let f = FORMATS.iter().find(|f| f.ext == ext).expect("format");
        let path = encode(&wav, f, &[("title", "Test Tone"), ("artist", "TimeSide")]);
        let info = media_info(&Input::File(path.clone())).unwrap_or_else(|e| panic!("{ext}: {e}"));
        assert_eq!((info.samplerate, info.channels), (RATE, 2), "{ext}");
        assert_eq!(info.mime, mime, "{ext}");
        let d = info.duration_s.expect("duration");
        // Without gapless info an MP3's duration includes encoder delay and padding (~64 ms).
        assert!((d - SECONDS).abs() < if lossless { 0.001 } else { 0.1 }, "{ext}: {d}");
        assert_eq!(info.tags.get("title").map(String::as_str), Some("Test Tone"), "{ext}: {:?}", info.tags);
        assert_eq!(info.tags.get("artist").map(String::as_str), Some("TimeSide"), "{ext}");
        assert!(info.codec.is_some(), "{ext}");
        assert_eq!(info.sha256.as_deref(), Some(sha256_file(&path).expect("sha").as_str()));
        if ext == "mp3" {
            // CBR 192 kbit/s, read from the stream or averaged over the file (tags add a little).
            let b = info.bitrate.expect("bitrate") as f64;
            assert!((b / 192000.0 - 1.0).abs() < 0.05, "{ext}: {b}");
        }
    }
}

/// Serves one file once over HTTP/1.0 on 127.0.0.1, in a thread; returns its URL.
fn serve_once(body: Vec<u8>) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    std::thread::spawn(move || {
        // souphttpsrc may connect more than once (probing); serve up to 4 connections.
        for _ in 0..4 {
            let Ok((mut stream, _)) = listener.accept() else { return };
            let mut req = [0u8; 4096];
            let _ = stream.read(&mut req);
            let head = format!(
                "HTTP/1.0 200 OK\r\nContent-Type: audio/flac\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(&body));
        }
    });
    format!("http://{addr}/tone.flac")
}

#[test]
fn http_uris_decode_and_hash() {
    let dir = tempfile::tempdir().expect("tmp");
    let wav = stereo_sine(dir.path());
    let flac = encode(&wav, &FORMATS[1], &[]);
    let url = serve_once(std::fs::read(&flac).expect("read"));
    let (fmt, samples, summary) = decode_all(&Input::parse(&url), &DecodeOptions::default());
    assert_eq!(fmt.samplerate, RATE);
    assert_eq!(samples.len() as f64 / 2.0, SECONDS * RATE as f64);
    assert_eq!(summary.sha256.as_deref(), Some(sha256_file(&flac).expect("sha").as_str()));
}

fn open_err(input: &Input) -> MediaError {
    let mut src = match GstSource::open(input, &DecodeOptions::default()) {
        Err(e) => return e,
        Ok(s) => s,
    };
    loop {
        match src.next_block() {
            Err(e) => return e,
            Ok(None) => panic!("{input}: decoded without error"),
            Ok(Some(_)) => {}
        }
    }
}

#[test]
fn bad_inputs_give_errors_that_name_the_input_and_the_cause() {
    let dir = tempfile::tempdir().expect("tmp");
    let wav = stereo_sine(dir.path());
    let flac = encode(&wav, &FORMATS[1], &[]);
    let m4a = encode(&wav, &FORMATS[5], &[]);
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).expect("write");
        p
    };
    let empty = write("empty.wav", b"");
    let noise: Vec<u8> = (0..50_000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let random = write("random.mp3", &noise);
    let flac_bytes = std::fs::read(&flac).expect("read");
    let cut_flac = write("cut.flac", &flac_bytes[..flac_bytes.len() / 2]);
    let m4a_bytes = std::fs::read(&m4a).expect("read");
    let cut_m4a = write("cut.m4a", &m4a_bytes[..m4a_bytes.len() / 2]);

    let cases: Vec<(Input, &str)> = vec![
        (Input::File(dir.path().join("missing.wav")), "no such file"),
        (Input::File(empty), "empty"),
        (Input::File(random), "not a recognised"),
        (Input::File(cut_flac), "truncated"),
        (Input::File(cut_m4a), ""),
        (Input::parse("foo://127.0.0.1/x.wav"), "unsupported URI scheme `foo`"),
        // Nothing listens on port 1 of the loopback: the connection is refused.
        (Input::parse("http://127.0.0.1:1/x.mp3"), "could not read from the server"),
        (Input::parse("launch:this-element-does-not-exist"), "invalid launch description"),
        (Input::parse("launch:videotestsrc"), "does not produce audio"),
    ];
    for (input, needle) in cases {
        let msg = open_err(&input).to_string();
        let name = input.to_string();
        assert!(msg.contains(&name), "`{msg}` does not name `{name}`");
        assert!(msg.contains(needle), "`{msg}` does not say `{needle}`");
        // GStreamer's own message, or ours when decodebin loses it (see PREROLL_IDLE_READ_TIMEOUT).
        if name.ends_with("cut.m4a") {
            assert!(msg.contains("no playable streams") || msg.contains("stopped reading"), "{msg}");
        }
        assert!(!msg.contains("stalled"), "bad input must fail fast: {msg}");
        assert!(!msg.contains('\n'), "one line: {msg}");
    }
}

#[test]
fn a_segment_past_the_end_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let wav = stereo_sine(dir.path());
    let opts = DecodeOptions { start_s: 5.0, ..Default::default() };
    let err = GstSource::open(&Input::File(wav), &opts).err().expect("error").to_string();
    assert!(err.contains("after the end"), "{err}");
}

/// Lossy formats put peaks over full scale; decoding must keep them (as float), so level,
/// clipping and true peak see what the file holds. The review found Opus peaks clipped at
/// 0.0 dBFS where ffmpeg reads more; MP3 was clipped the same way. Reference: ffmpeg's astats.
#[test]
fn lossy_peaks_over_full_scale_are_decoded_as_the_file_holds_them() {
    let dir = tempfile::tempdir().expect("tmp");
    // A 220 Hz square at 0.99: lossy coding rings over full scale at its edges.
    let format = AudioFormat { samplerate: 48000, channels: 2 };
    let square: Vec<f32> = (0..48000 * 2)
        .flat_map(|i| {
            let v = if (i as f64 * 220.0 / 48000.0).fract() < 0.5 { 0.99 } else { -0.99 };
            [v, v]
        })
        .collect();
    for (encoder, params) in [
        ("opus", serde_json::json!({ "file_name": "sq.opus", "bitrate_kbps": 96 })),
        ("mp3", serde_json::json!({ "file_name": "sq.mp3", "bitrate_kbps": 128 })),
    ] {
        let path =
            timeside::pipeline::encode_samples(square.clone(), format, encoder, params, dir.path()).expect("encode");
        let astats = std::process::Command::new("ffmpeg")
            .args(["-i", path.to_str().expect("path"), "-af", "astats=metadata=0", "-f", "null", "-"])
            .output()
            .expect("ffmpeg");
        let text = String::from_utf8_lossy(&astats.stderr);
        let reference: f64 = text
            .lines()
            .rfind(|l| l.contains("Peak level dB:"))
            .and_then(|l| l.rsplit(':').next())
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no astats peak: {text}"));
        assert!(reference > 0.1, "{encoder}: the test signal must overshoot (ffmpeg reads {reference} dBFS)");
        let out = crate::common::analyze(&path, "level", DecodeOptions::default());
        let peak = crate::common::global(&out, "level.max");
        assert!((peak - reference).abs() < 0.05, "{encoder}: level.max {peak} dBFS, ffmpeg {reference} dBFS");
    }
}
