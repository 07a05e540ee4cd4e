//! The binary end to end: exit codes, messages, outputs.

use crate::common::*;
use timeside::media::AudioFormat;
use timeside::media::synth::sine;

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn tone(dir: &std::path::Path, name: &str, amp: f64) -> String {
    let fmt = AudioFormat { samplerate: RATE, channels: 2 };
    write_wav(dir, name, sine(440.0, amp, 1.0, RATE, 2), fmt, 16).display().to_string()
}

#[test]
fn list_shows_every_processor_with_its_schema() {
    let o = timeside(&["list", "--json"]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let ids: Vec<&str> = v.as_array().expect("array").iter().filter_map(|p| p["id"].as_str()).collect();
    for id in [
        "file_decoder",
        "live_decoder",
        "array_decoder",
        "fx_gain",
        "level",
        "mean_dc_shift",
        "spectrogram",
        "waveform",
        "wav",
    ] {
        assert!(ids.contains(&id), "{id} missing");
    }
    let spectro = v.as_array().expect("array").iter().find(|p| p["id"] == "spectrogram").expect("spectrogram");
    assert!(spectro["parameters"]["properties"]["n_fft"]["description"].is_string());
    assert!(stdout(&timeside(&["list"])).contains("mean_dc_shift"));
}

#[test]
fn analyze_prints_one_json_array_per_input() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = tone(dir.path(), "a.wav", 0.1);
    let o = timeside(&["analyze", &a, "-a", "level,mean_dc_shift", "-p", "level.nothing=1"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let o = timeside(&[
        "analyze",
        &a,
        "-a",
        "level,mean_dc_shift,spectrogram",
        "-p",
        "spectrogram.n_fft=1024",
        "-p",
        "spectrogram.window=hamming",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).expect("json");
    let max = v.iter().find(|r| r["id_metadata"]["id"] == "level.max").expect("level.max");
    assert!((max["data_object"]["value"][0].as_f64().expect("f64") - dbfs(0.1)).abs() < 0.01);
    let spectro = v.iter().find(|r| r["id_metadata"]["id"] == "spectrogram").expect("spectrogram");
    assert_eq!(spectro["parameters"]["window"], "hamming");

    let b = tone(dir.path(), "b.wav", 0.2);
    let out_file = dir.path().join("out.json");
    let o = timeside(&["analyze", &a, &b, "-a", "level", "-o", out_file.to_str().expect("path")]);
    assert!(o.status.success());
    let text = std::fs::read_to_string(&out_file).expect("out");
    let lines: Vec<Vec<serde_json::Value>> =
        text.lines().map(|l| serde_json::from_str(l).expect("json line")).collect();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1][0]["audio_metadata"]["uri"], b.as_str());
}

#[test]
fn usage_errors_exit_2_and_say_what_is_allowed() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = tone(dir.path(), "a.wav", 0.1);
    let o = timeside(&["analyze", &a, "-a", "levle"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("unknown processor `levle`; available: fx_gain, level"), "{}", stderr(&o));
    let o = timeside(&["analyze", &a, "-a", "spectrogram", "-p", "spectrogram.n_fft=big"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("n_fft"), "{}", stderr(&o));
    let o = timeside(&["analyze", &a, "-a", "spectrogram", "-p", "spectrogram.hop_size=0"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("hop_size"), "{}", stderr(&o));
    let o = timeside(&["analyze", &a, "-a", "level", "--samplerate", "3"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("samplerate"), "{}", stderr(&o));
}

#[test]
fn bad_inputs_exit_1_with_one_line_and_never_panic() {
    let dir = tempfile::tempdir().expect("tmp");
    let good = tone(dir.path(), "good.wav", 0.1);
    let empty = dir.path().join("empty.flac");
    std::fs::write(&empty, b"").expect("write");
    let junk = dir.path().join("junk.ogg");
    std::fs::write(&junk, (0..20_000u32).map(|i| (i * 7919 % 253) as u8).collect::<Vec<_>>()).expect("write");
    let wav_bytes = std::fs::read(&good).expect("read");
    let cut = dir.path().join("cut.wav");
    std::fs::write(&cut, &wav_bytes[..30]).expect("write");
    let missing = dir.path().join("missing.mp3");
    let bad = [
        missing.display().to_string(),
        empty.display().to_string(),
        junk.display().to_string(),
        cut.display().to_string(),
        "gopher://127.0.0.1/x".into(),
    ];
    for b in &bad {
        let o = timeside(&["analyze", b, "-a", "level"]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "{b}: {err}");
        assert!(!err.contains("panicked"), "{b}: {err}");
        assert!(!err.contains("stalled"), "{b}: bad input must fail fast: {err}");
        assert_eq!(err.trim().lines().count(), 1, "{b}: {err}");
        assert!(err.starts_with("error: ") && err.contains(b.as_str()), "{b}: {err}");
        let o = timeside(&["info", b]);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(1), "info {b}: {err}");
        assert!(err.starts_with("error: ") && err.contains(b.as_str()), "info {b}: {err}");
        assert!(!err.to_lowercase().contains("timeout") && !err.contains("stalled"), "info {b}: {err}");
    }
    // The good input among bad ones is still analysed.
    let o = timeside(&["analyze", &bad[2], &good, "-a", "level"]);
    assert_eq!(o.status.code(), Some(1));
    let v: Vec<serde_json::Value> = serde_json::from_slice(&o.stdout).expect("good results");
    assert_eq!(v[0]["audio_metadata"]["uri"], good.as_str());
}

#[test]
fn info_reports_the_format() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = tone(dir.path(), "a.wav", 0.1);
    let o = timeside(&["info", &a, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["samplerate"], RATE);
    assert_eq!(v["channels"], 2);
    assert_eq!(v["mime"], "audio/x-wav");
    assert!((v["duration_s"].as_f64().expect("duration") - 1.0).abs() < 1e-6);
    assert!(stdout(&timeside(&["info", &a])).contains("duration:    1.000 s"));
}

#[test]
fn run_processes_many_inputs_in_parallel_and_isolates_failures() {
    let dir = tempfile::tempdir().expect("tmp");
    let inputs: Vec<String> = (0..3).map(|i| tone(dir.path(), &format!("t{i}.wav"), 0.1 * (i + 1) as f64)).collect();
    let junk = dir.path().join("junk.wav");
    std::fs::write(&junk, vec![7u8; 5000]).expect("write");
    let out = dir.path().join("out");
    let preset = concat!(env!("CARGO_MANIFEST_DIR"), "/pipelines/archive-master.toml");
    let mut args = vec!["run", preset];
    args.extend(inputs.iter().map(String::as_str));
    let junk_s = junk.display().to_string();
    args.extend([junk_s.as_str(), "-o", out.to_str().expect("path"), "-j", "2"]);
    let o = timeside(&args);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stdout(&o).contains("4 inputs: 3 succeeded, 1 failed"), "{}", stdout(&o));
    assert!(stdout(&o).contains("junk.wav: not an audio or video format"), "{}", stdout(&o));
    for i in 0..3 {
        let folder = out.join(format!("t{i}.wav"));
        for f in ["results.json", "waveform.json", "waveform.png", "master.wav"] {
            assert!(folder.join(f).is_file(), "{}/{f} missing", folder.display());
        }
        let master = analyze(&folder.join("master.wav"), "level", Default::default());
        assert!((global(&master, "level.max") - dbfs(0.1 * (i + 1) as f64)).abs() < 0.01);
        assert_eq!(master.source.frames, RATE as u64);
    }
    let names: Vec<String> = std::fs::read_dir(&out)
        .expect("out")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    let mut names: Vec<String> = names.into_iter().filter(|n| !n.starts_with("index.")).collect();
    names.sort();
    assert_eq!(names, ["t0.wav", "t1.wav", "t2.wav"], "only complete folders remain");
    // The index says which input each folder holds, with its content hash, and what failed.
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).expect("index.json")).expect("JSON");
    let entries = index.as_array().expect("entries");
    assert_eq!(entries.len(), 4);
    let t1 = entries.iter().find(|e| e["folder"] == "t1.wav").expect("t1's entry");
    assert_eq!(t1["input"], inputs[1].as_str());
    assert_eq!(t1["status"], "done");
    let bytes = std::fs::read(&inputs[1]).expect("read");
    assert_eq!(t1["sha256"], timeside::media::hash::sha256_hex(&bytes).as_str());
    let bad = entries.iter().find(|e| e["input"] == junk.display().to_string().as_str()).expect("junk's entry");
    assert_eq!(bad["status"], "failed");
    assert!(bad["error"].as_str().expect("error").contains("not an audio or video format"), "{bad}");
    let csv = std::fs::read_to_string(out.join("index.csv")).expect("index.csv");
    assert!(csv.starts_with("input,sha256,folder,status,error\n") && csv.lines().count() == 5, "{csv}");

    // A second run refuses to overwrite unless --force.
    let o = timeside(&["run", preset, &inputs[0], "-o", out.to_str().expect("path")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("--force"));
    let o = timeside(&["run", preset, &inputs[0], "-o", out.to_str().expect("path"), "--force"]);
    assert!(o.status.success(), "{}", stderr(&o));

    // The same file name in two folders: each folder says which.
    for sub in ["box1", "box2"] {
        std::fs::create_dir(dir.path().join(sub)).expect("mkdir");
    }
    let one = tone(&dir.path().join("box1"), "take.wav", 0.1);
    let two = tone(&dir.path().join("box2"), "take.wav", 0.2);
    let o = timeside(&["run", preset, &one, &two, "-o", out.to_str().expect("path")]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(out.join("box1-take.wav/master.wav").is_file() && out.join("box2-take.wav/master.wav").is_file());
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("index.json")).expect("index.json")).expect("JSON");
    let folders: Vec<&str> = index.as_array().expect("entries").iter().filter_map(|e| e["folder"].as_str()).collect();
    assert_eq!(folders.len(), 6, "earlier runs' entries stay: {folders:?}");
    assert!(folders.contains(&"box2-take.wav") && folders.contains(&"t2.wav"), "{folders:?}");
}

#[test]
fn an_invalid_preset_lists_every_problem() {
    let dir = tempfile::tempdir().expect("tmp");
    let preset = dir.path().join("bad.toml");
    std::fs::write(
        &preset,
        "[[processors]]\nid = \"nope\"\n[[processors]]\nid = \"waveform\"\nparams = { samples_per_pixel = 0 }\n",
    )
    .expect("write");
    let a = tone(dir.path(), "a.wav", 0.1);
    let o = timeside(&["run", preset.to_str().expect("p"), &a, "-o", dir.path().join("o").to_str().expect("p")]);
    assert_eq!(o.status.code(), Some(2));
    let err = stderr(&o);
    assert!(
        err.contains("processors[0]")
            && err.contains("nope")
            && err.contains("processors[1]")
            && err.contains("samples_per_pixel"),
        "{err}"
    );
}

#[test]
fn demo_runs_the_standard_preset() {
    let dir = tempfile::tempdir().expect("tmp");
    let o = timeside(&["demo", "--out", dir.path().to_str().expect("p"), "--seconds", "3"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("level.max"));
    assert!(dir.path().join("waveform.png").is_file());
}

/// Every analyzer in one pass over music-like audio decoded from MP3 by GStreamer: exit 0,
/// every result well-formed (TimeSide shapes) and finite, and the musical ones plausible.
#[test]
fn analyze_runs_every_analyzer_on_music() {
    let dir = tempfile::tempdir().expect("tmp");
    let fmt = AudioFormat { samplerate: 44100, channels: 2 };
    let wav = write_wav(dir.path(), "music.wav", timeside::media::synth::demo_music(20.0, 44100), fmt, 16);
    let mp3 = encode(&wav, FORMATS.iter().find(|f| f.ext == "mp3").expect("mp3"), &[]);
    let ids: Vec<&str> = timeside::processors::registry()
        .iter()
        .filter(|e| e.descriptor.kind == timeside::processors::Kind::Analyzer)
        .map(|e| e.descriptor.id)
        .collect();
    let o = timeside(&["analyze", mp3.to_str().expect("path"), "-a", &ids.join(",")]);
    assert!(o.status.success(), "{}", stderr(&o));
    let results: Vec<timeside::results::AnalyzerResult> = serde_json::from_slice(&o.stdout).expect("results");
    for id in &ids {
        assert!(results.iter().any(|r| r.id_metadata.id.split('.').next() == Some(id)), "no result from {id}");
    }
    for r in &results {
        r.check_shape().unwrap_or_else(|e| panic!("{}: {e}", r.id_metadata.id));
        let values = r.data_object.value.iter().flat_map(|v| v.as_flat().iter().copied());
        assert!(values.clone().all(f32::is_finite), "{} has non-finite values", r.id_metadata.id);
    }
    let value = |id: &str| {
        let r = results.iter().find(|r| r.id_metadata.id == id).unwrap_or_else(|| panic!("{id}"));
        r.data_object.value.as_ref().expect("value").as_flat()[0]
    };
    // The arpeggio has a note every 0.5 s: 2 onsets per second, 120 bpm, tuned to 440 Hz.
    let onsets = results.iter().find(|r| r.id_metadata.id == "onsets").expect("onsets");
    let times = onsets.data_object.time.as_ref().expect("times");
    // MP3 adds its encoder delay (about 26 ms here), hence the 50 ms window.
    let notes_found = (0..39).filter(|i| times.iter().any(|t| (t - *i as f64 * 0.5).abs() < 0.05)).count();
    assert!(notes_found >= 37 && times.len() <= 45, "{notes_found} of 39 notes in {times:?}");
    assert!((value("tempo") - 120.0).abs() < 2.0, "tempo {}", value("tempo"));
    assert!((value("tuning") - 440.0).abs() < 2.0, "tuning {}", value("tuning"));
    assert!(value("loudness.true_peak") >= value("loudness.sample_peak"));
}

#[test]
fn user_add_reads_the_password_from_stdin_and_can_log_in() {
    use std::io::Write;
    let dir = tempfile::tempdir().expect("tmp");
    let data = dir.path().join("data");
    let add = |name: &str, password: &str, admin: bool| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_timeside"));
        cmd.args(["user", "add", name, "--data-dir"]).arg(&data);
        if admin {
            cmd.arg("--admin");
        }
        let mut child = cmd
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn");
        child.stdin.take().expect("stdin").write_all(format!("{password}\n").as_bytes()).expect("password");
        child.wait_with_output().expect("wait")
    };
    let ok = add("ada", "a long password", true);
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(stdout(&ok).contains("ada") && stdout(&ok).contains("admin"), "{}", stdout(&ok));
    // The password is nowhere but in the database, hashed.
    let db = std::fs::read(data.join("timeside.db")).expect("db");
    assert!(!db.windows(15).any(|w| w == b"a long password"));
    let short = add("bob", "short", false);
    assert_eq!(short.status.code(), Some(2), "{}", stderr(&short));
    assert!(stderr(&short).contains("at least 8"), "{}", stderr(&short));
    let bad_name = add("no spaces allowed", "a long password", false);
    assert_eq!(bad_name.status.code(), Some(2));
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let store = timeside::storage::Store::open(&data, None).await.expect("store");
        let user = store.check_password("ada", "a long password").await.expect("check").expect("ada logs in");
        assert!(user.is_admin);
        assert!(store.check_password("ada", "wrong password").await.expect("check").is_none());
        assert!(store.check_password("bob", "short").await.expect("check").is_none());
    });
}

/// Min/max per `spp` frames of `lanes` interleaved channels, as audiowaveform's 16-bit values.
fn expected_peaks(samples: &[f32], lanes: usize, spp: usize) -> Vec<i16> {
    use timeside::peaks::to_i16;
    samples
        .chunks(spp * lanes)
        .flat_map(|pixel| {
            (0..lanes).flat_map(move |c| {
                let lane = pixel.iter().skip(c).step_by(lanes);
                let lo = lane.clone().fold(f32::INFINITY, |a, &b| a.min(b));
                let hi = lane.fold(f32::NEG_INFINITY, |a, &b| a.max(b));
                [to_i16(lo), to_i16(hi)]
            })
        })
        .collect()
}

#[test]
fn peaks_writes_audiowaveform_files_equal_to_the_decoded_samples() {
    use timeside::peaks::{Bits, Peaks};
    let dir = tempfile::tempdir().expect("tmp");
    // Different signals per channel, a second and a bit (the last pixel is partial).
    let format = AudioFormat { samplerate: RATE, channels: 2 };
    let left = sine(440.0, 0.8, 1.03, RATE, 1);
    let right = sine(97.0, 0.3, 1.03, RATE, 1);
    let samples: Vec<f32> = left.iter().zip(&right).flat_map(|(l, r)| [*l, *r]).collect();
    let wav = write_wav(dir.path(), "two.wav", samples, format, 16);
    let decoded = decode_all(&wav);
    // Split channels, 16 bits, .dat version 2, at two zooms.
    for spp in [100usize, 4096] {
        let out = dir.path().join(format!("split-{spp}.dat"));
        let o = timeside(&[
            "peaks",
            &wav.display().to_string(),
            "-o",
            &out.display().to_string(),
            "--samples-per-pixel",
            &spp.to_string(),
            "--split-channels",
        ]);
        assert!(o.status.success(), "{}", stderr(&o));
        let (peaks, bits) = Peaks::from_dat(&std::fs::read(&out).expect("dat")).expect("parse");
        assert_eq!(
            (bits, peaks.channels, peaks.sample_rate, peaks.samples_per_pixel),
            (Bits::Sixteen, 2, RATE, spp as u32)
        );
        assert_eq!(peaks.data, expected_peaks(&decoded, 2, spp));
    }
    // The mono mix, 8 bits, .json at 50 pixels per second; and a mono .dat is version 1.
    let mono: Vec<f32> = decoded.chunks(2).map(|f| (f[0] + f[1]) / 2.0).collect();
    let json = dir.path().join("mono.json");
    let o = timeside(&[
        "peaks",
        &wav.display().to_string(),
        "-o",
        &json.display().to_string(),
        "--pixels-per-second",
        "50",
        "--bits",
        "8",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).expect("json")).expect("parse");
    let spp = (RATE / 50) as usize;
    assert_eq!((v["version"].as_u64(), v["channels"].as_u64(), v["bits"].as_u64()), (Some(2), Some(1), Some(8)));
    assert_eq!(v["samples_per_pixel"].as_u64(), Some(spp as u64));
    let expected: Vec<i64> = expected_peaks(&mono, 1, spp).iter().map(|&x| i64::from(x / 256)).collect();
    assert_eq!(v["length"].as_u64(), Some(expected.len() as u64 / 2));
    let data: Vec<i64> = v["data"].as_array().expect("data").iter().filter_map(|x| x.as_i64()).collect();
    assert_eq!(data, expected);
    let dat = dir.path().join("mono.dat");
    let o = timeside(&["peaks", &wav.display().to_string(), "-o", &dat.display().to_string()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(&std::fs::read(&dat).expect("dat")[..4], &1i32.to_le_bytes());
    // Bad requests say what is wrong and write nothing.
    let bad = dir.path().join("x.png");
    let o = timeside(&["peaks", &wav.display().to_string(), "-o", &bad.display().to_string()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(".dat or .json"), "{}", stderr(&o));
    let o = timeside(&["peaks", &wav.display().to_string(), "-o", &json.display().to_string(), "--bits", "12"]);
    assert!(stderr(&o).contains("8 or 16"), "{}", stderr(&o));
    let missing = dir.path().join("missing.dat");
    let o = timeside(&["peaks", "/nonexistent.wav", "-o", &missing.display().to_string()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(!missing.exists() && !dir.path().join("missing.dat.part").exists());
}

/// Issue 23.1: `analyze` and `run` refuse a pass whose declared cost is over the server's
/// default limits before decoding it, naming the parameters; `--no-limits` lifts them.
#[test]
fn analyses_over_the_cost_limits_are_refused_unless_lifted() {
    let dir = tempfile::tempdir().expect("tmp");
    let input = tone(dir.path(), "tone.wav", 0.5);
    let heavy = ["-a", "mel_energy", "-p", "mel_energy.hop_size=1", "-p", "mel_energy.n_mels=512"];
    let o = timeside(&[&["analyze", &input][..], &heavy[..]].concat());
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let message = stderr(&o);
    assert!(message.contains("hop_size=1") && message.contains("--no-limits"), "{message}");
    assert!(!stdout(&o).contains("mel_energy"), "{}", stdout(&o));
    // Lifted: one second of it runs (a lot of frames, but one second).
    let o = timeside(&[&["analyze", &input, "--no-limits", "--duration", "0.1"][..], &heavy[..]].concat());
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("mel_energy"));
    // `run` refuses the input the same way, and writes no folder for it.
    let preset = dir.path().join("heavy.toml");
    std::fs::write(&preset, "[[processors]]\nid = \"spectrogram\"\nparams = { n_fft = 65536, hop_size = 1 }\n")
        .expect("write");
    let out = dir.path().join("out");
    let o = timeside(&["run", &preset.display().to_string(), &input, "-o", &out.display().to_string()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("n_fft=65536"), "{}", stderr(&o));
    assert!(!out.join("tone.wav").exists());
}

/// Graphers given to `analyze` write their images: into `--image-dir` (a sub-folder per input
/// when there are several), or beside `-o`; the other results are printed as always.
#[test]
fn analyze_writes_the_images_of_its_graphers() {
    let dir = tempfile::tempdir().expect("tmp");
    let (a, b) = (tone(dir.path(), "a.wav", 0.1), tone(dir.path(), "b.wav", 0.5));
    let images = dir.path().join("images");
    let image_dir = images.display().to_string();
    let o = timeside(&["analyze", &a, "-a", "waveform_simple,level", "--image-dir", &image_dir]);
    assert!(o.status.success(), "{}", stderr(&o));
    let png = std::fs::read(images.join("waveform_simple.png")).expect("the grapher's image");
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    assert!(stderr(&o).contains("waveform_simple.png"), "it says what it wrote: {}", stderr(&o));
    let printed: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    assert!(printed.as_array().expect("results").iter().any(|r| r["id_metadata"]["id"] == "level.max"), "{printed}");

    // Several inputs: one folder each, named after the input.
    let o = timeside(&["analyze", &a, &b, "-a", "waveform_simple", "--image-dir", &image_dir]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(images.join("a.wav/waveform_simple.png").is_file() && images.join("b.wav/waveform_simple.png").is_file());

    // Without --image-dir: beside -o.
    let out = dir.path().join("out");
    std::fs::create_dir(&out).expect("mkdir");
    let results = out.join("r.json").display().to_string();
    let o = timeside(&["analyze", &a, "-a", "spectrogram_log", "-o", &results]);
    assert!(o.status.success(), "{}", stderr(&o));
    let written: Vec<String> = std::fs::read_dir(&out)
        .expect("out")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(written.iter().any(|f| f.ends_with(".png")), "{written:?}");
}

/// Shipped presets run by name (`timeside run standard FILE`), a name that is neither a file
/// nor a preset lists the presets, and `analyze` without `-a` runs its documented summary.
#[test]
fn presets_run_by_name_and_analyze_has_a_default() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = tone(dir.path(), "a.wav", 0.1);
    let out = dir.path().join("out");
    let o = timeside(&["run", "standard", &a, "-o", &out.display().to_string()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let results = std::fs::read_to_string(out.join("a.wav/results.json")).expect("results");
    assert!(results.contains("\"level.max\"") && results.contains("\"spectrogram\""), "{results}");
    let o = timeside(&["run", "nosuch", &a, "-o", &out.display().to_string()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("nosuch") && stderr(&o).contains("loudness-compliance"), "{}", stderr(&o));

    let o = timeside(&["analyze", &a]);
    assert!(o.status.success(), "{}", stderr(&o));
    let printed: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let ids: Vec<&str> =
        printed.as_array().expect("results").iter().filter_map(|r| r["id_metadata"]["id"].as_str()).collect();
    for id in ["level.max", "level.rms", "mean_dc_shift", "loudness.integrated"] {
        assert!(ids.contains(&id), "{id} not in {ids:?}");
    }
    assert!(ids.iter().any(|id| id.starts_with("tempo")), "{ids:?}");
    // The -20 dBFS tone (0.1 amplitude): -23.01 dBFS RMS.
    let rms = printed.as_array().expect("results").iter().find(|r| r["id_metadata"]["id"] == "level.rms").expect("rms");
    let rms = rms["data_object"]["value"][0].as_f64().expect("value");
    assert!((rms - -23.01).abs() < 0.01, "{rms}");
}

/// A processor whose parameters do not fit an input (pitch's default fmax above the Nyquist
/// frequency of a 1234 Hz file) fails alone, naming the input; the others' results are
/// printed, and the exit code says something failed.
#[test]
fn a_processor_that_does_not_fit_an_input_fails_alone() {
    let dir = tempfile::tempdir().expect("tmp");
    let low = crate::common::low_rate_sine(dir.path());
    let o = timeside(&["analyze", &low.display().to_string(), "-a", "pitch,level"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("low.wav") && stderr(&o).contains("fmax"), "{}", stderr(&o));
    let printed: serde_json::Value = serde_json::from_slice(&o.stdout).expect("json");
    let ids: Vec<&str> =
        printed.as_array().expect("results").iter().filter_map(|r| r["id_metadata"]["id"].as_str()).collect();
    assert_eq!(ids, ["level.max", "level.rms"]);
}

/// `analyze`, `transcode` and `peaks` show a progress bar with the time left on a terminal
/// (`script` gives them one), as `run` does; without a terminal, stderr has no bar.
#[test]
fn long_inputs_show_progress_with_an_eta_on_a_terminal() {
    let dir = tempfile::tempdir().expect("tmp");
    let fmt = AudioFormat { samplerate: RATE, channels: 2 };
    let long = write_wav(dir.path(), "long.wav", sine(440.0, 0.1, 120.0, RATE, 2), fmt, 16).display().to_string();
    let out = |name: &str| dir.path().join(name).display().to_string();
    let bin = env!("CARGO_BIN_EXE_timeside");
    let commands = |tag: &str| {
        [
            format!("analyze {long} -a level -o {}", out(&format!("r{tag}.json"))),
            format!("transcode {long} -o {}", out(&format!("t{tag}.flac"))),
            format!("peaks {long} -o {}", out(&format!("p{tag}.dat"))),
        ]
    };
    for (args, piped_args) in commands("-terminal").into_iter().zip(commands("-piped")) {
        let on_terminal = std::process::Command::new("script")
            .args(["-qec", &format!("{bin} {args}"), "/dev/null"])
            .output()
            .expect("script");
        assert!(on_terminal.status.success(), "{args}: {}", stdout(&on_terminal));
        assert!(stdout(&on_terminal).contains("% eta"), "{args}: no progress on a terminal: {}", stdout(&on_terminal));
        let piped: Vec<&str> = piped_args.split(' ').collect();
        let o = timeside(&piped);
        assert!(o.status.success(), "{args}: {}", stderr(&o));
        assert!(!stderr(&o).contains("eta"), "{args}: a bar without a terminal: {}", stderr(&o));
    }
}

/// `--samplerate 0` and `--channels 0` are errors naming the option (0 used to mean "keep the
/// source's", silently).
#[test]
fn a_zero_rate_or_channel_count_is_refused() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("a.wav");
    std::fs::write(&path, b"never read").expect("write");
    for (flag, value) in [("--samplerate", "0"), ("--channels", "0"), ("--channels", "65"), ("--samplerate", "999")] {
        let o = timeside(&["analyze", &path.display().to_string(), "-a", "level", flag, value]);
        assert_eq!(o.status.code(), Some(2), "{flag} {value}: {}", stdout(&o));
        assert!(stderr(&o).contains(flag) && stderr(&o).contains(value), "{}", stderr(&o));
    }
}

/// Issue 23.26: a WAV with a `fmt ` chunk, a truncated `LIST` chunk and no `data` chunk is an
/// error naming the file (it decoded as 12 frames of garbage, exit 0), as ffmpeg refuses it.
#[test]
fn a_wav_without_a_data_chunk_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut bytes = b"RIFF".to_vec();
    bytes.extend_from_slice(&100u32.to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&[1, 0, 2, 0, 0x44, 0xac, 0, 0, 0x10, 0xb1, 2, 0, 4, 0, 16, 0]);
    bytes.extend_from_slice(b"LIST");
    bytes.extend_from_slice(&400u32.to_le_bytes());
    bytes.extend_from_slice(b"INFOIART\x08\x00\x00\x00somebody");
    let path = dir.path().join("nodata.wav");
    std::fs::write(&path, &bytes).expect("write");
    let o = timeside(&["analyze", &path.display().to_string(), "-a", "level"]);
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stderr(&o).contains("nodata.wav") && stderr(&o).contains("data"), "{}", stderr(&o));
}
