//! Every live mount format (MP3, Opus, Ogg Vorbis, FLAC in Ogg, AAC in ADTS) as players take
//! them: ffmpeg decodes each, joined mid-stream, without a message and at the tone's level,
//! and Chromium's <audio> element plays each.

use crate::http;
use crate::server::load_config;
use std::time::Duration;

const FORMATS: [(&str, &str); 5] = [
    ("mp3", "audio/mpeg"),
    ("opus", "audio/ogg"),
    ("ogg", "audio/ogg"),
    ("oggflac", "audio/ogg"),
    ("aac", "audio/aac"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_format_is_a_mount_that_ffmpeg_and_chromium_play() {
    let dir = tempfile::tempdir().expect("tmp");
    let formats: Vec<String> = FORMATS.iter().map(|(f, _)| format!("\"{f}\"")).collect();
    let config = load_config(
        dir.path(),
        "",
        &format!(
            "[[channels]]\nid = \"all\"\nsource = \"launch:audiotestsrc is-live=true freq=440 volume=0.1\"\n\
             formats = [{}]\nhls = false\n",
            formats.join(", ")
        ),
    );
    let server = timeside::server::start(config).await.expect("start");
    let addr = server.addr;
    // Listeners join a stream that has run a while.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let status = http::get(addr, "/api/v1/live/all", None).await.json();
    for (format, content_type) in FORMATS {
        let mount = status["mounts"].as_array().expect("mounts").iter().find(|m| m["format"] == format);
        let mount = mount.unwrap_or_else(|| panic!("no {format} mount: {status}"));
        assert_eq!(mount["content_type"], content_type, "{format}");
        let url = format!("http://{addr}/live/all.{format}");
        let out = tokio::process::Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-i", &url, "-t", "3", "-f", "f32le", "-"])
            .output();
        let out = tokio::time::timeout(Duration::from_secs(60), out).await.expect("in time").expect("ffmpeg");
        assert!(out.status.success() && out.stderr.is_empty(), "{format}: {}", String::from_utf8_lossy(&out.stderr));
        // Stereo interleaved; the left channel after the decoder has settled: -20 dBFS peak is
        // -23.01 dB RMS.
        let left: Vec<f64> =
            out.stdout.chunks_exact(8).map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))).collect();
        assert!(left.len() > 44100 * 2, "{format}: {} samples", left.len());
        let steady = &left[left.len() / 3..];
        let rms_db = 10.0 * (steady.iter().map(|s| s * s).sum::<f64>() / steady.len() as f64).log10();
        assert!((rms_db - -23.01).abs() < 0.5, "{format}: {rms_db:.2} dB RMS");
    }
    let script = format!("{}/tests/browser/mounts.mjs", env!("CARGO_MANIFEST_DIR"));
    let urls: Vec<String> = FORMATS.iter().map(|(f, _)| format!("http://{addr}/live/all.{f}")).collect();
    let node = tokio::process::Command::new("node").arg(script).arg(format!("http://{addr}")).args(&urls).output();
    let out = tokio::time::timeout(Duration::from_secs(150), node).await.expect("in time").expect("node");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    server.shutdown().await;
}
