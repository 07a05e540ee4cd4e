//! Peak and RMS agree with `sox -n stats` within 0.05 dB on music-like audio in every format
//! (AAC and Opus, which Debian's sox cannot read, are piped through ffmpeg to WAV first).

use crate::common::*;
use std::process::{Command, Stdio};
use timeside::media::AudioFormat;
use timeside::media::synth::demo_music;

/// (peak dB, RMS dB) from the "Overall" column of `sox <file> -n stats`.
fn sox_stats(path: &std::path::Path, via_ffmpeg: bool) -> (f64, f64) {
    let output = if via_ffmpeg {
        let mut ffmpeg = Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(path)
            .args(["-f", "wav", "-c:a", "pcm_f32le", "-"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("ffmpeg (apt install ffmpeg)");
        let pipe = ffmpeg.stdout.take().expect("pipe");
        let out = Command::new("sox").args(["-t", "wav", "-", "-n", "stats"]).stdin(pipe).output();
        assert!(ffmpeg.wait().expect("ffmpeg").success(), "ffmpeg could not decode {}", path.display());
        out
    } else {
        Command::new("sox").arg(path).args(["-n", "stats"]).output()
    }
    .expect("sox (apt install sox libsox-fmt-all)");
    let text = String::from_utf8_lossy(&output.stderr);
    let field = |name: &str| -> f64 {
        let line = text.lines().find(|l| l.starts_with(name)).unwrap_or_else(|| panic!("no {name} in {text}"));
        line[name.len()..].split_whitespace().next().and_then(|v| v.parse().ok()).expect("number")
    };
    (field("Pk lev dB"), field("RMS lev dB"))
}

#[test]
fn level_matches_sox_stats_in_every_format() {
    let dir = tempfile::tempdir().expect("tmp");
    let wav =
        write_wav(dir.path(), "music.wav", demo_music(6.0, RATE), AudioFormat { samplerate: RATE, channels: 2 }, 16);
    for f in FORMATS.iter().filter(|f| ["wav", "flac", "mp3", "ogg", "opus", "m4a"].contains(&f.ext)) {
        let path = encode(&wav, f, &[]);
        // Debian's sox reads neither AAC nor Opus.
        let (pk, rms) = sox_stats(&path, matches!(f.ext, "m4a" | "opus"));
        let out = analyze(&path, "level,mean_dc_shift", Default::default());
        let (our_pk, our_rms) = (global(&out, "level.max"), global(&out, "level.rms"));
        assert!((our_pk - pk).abs() <= 0.05, "{}: peak {our_pk:.3} vs sox {pk}", f.ext);
        assert!((our_rms - rms).abs() <= 0.05, "{}: rms {our_rms:.3} vs sox {rms}", f.ext);
    }
}

/// Integrated loudness and loudness range agree with ffmpeg's `ebur128` filter (which prints
/// one decimal) on music-like audio.
#[test]
fn loudness_matches_ffmpeg_ebur128() {
    let dir = tempfile::tempdir().expect("tmp");
    let wav =
        write_wav(dir.path(), "music.wav", demo_music(12.0, RATE), AudioFormat { samplerate: RATE, channels: 2 }, 32);
    let out = Command::new("ffmpeg")
        .args(["-nostats", "-i"])
        .arg(&wav)
        .args(["-af", "ebur128", "-f", "null", "-"])
        .output()
        .expect("ffmpeg (apt install ffmpeg)");
    let text = String::from_utf8_lossy(&out.stderr);
    let value = |name: &str| -> f64 {
        let line = text
            .lines()
            .rev()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_else(|| panic!("no {name} in {text}"));
        line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("number")
    };
    let (ff_i, ff_lra) = (value("I:"), value("LRA:"));
    let ours = analyze(&wav, "loudness", Default::default());
    let (i, lra) = (global(&ours, "loudness.integrated"), global(&ours, "loudness.range"));
    assert!((i - ff_i).abs() <= 0.15, "integrated {i:.2} vs ffmpeg {ff_i}");
    assert!((lra - ff_lra).abs() <= 0.15, "range {lra:.2} vs ffmpeg {ff_lra}");
}
