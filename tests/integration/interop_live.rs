//! The live server with the Icecast world's real programs at their defaults: libshout's source
//! clients (ices2, ezstream, GStreamer's `shout2send`), the titles they send inside Ogg streams,
//! and Icecast itself relaying our mounts.

use crate::server::{get, load_config};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// lavfi's sine has amplitude 1/8.
const SINE_DBFS: f64 = -18.06;

/// A stereo Ogg Vorbis file of a lavfi sine with TITLE and ARTIST comments (ffmpeg).
fn vorbis_file(dir: &Path, name: &str, artist: &str, title: &str, seconds: u32) -> PathBuf {
    let path = dir.join(name);
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:sample_rate=44100:duration={seconds},pan=stereo|c0=c0|c1=c0"))
        .args(["-c:a", "libvorbis", "-q:a", "4", "-metadata"])
        .arg(format!("title={title}"))
        .arg("-metadata")
        .arg(format!("artist={artist}"))
        .arg(&path)
        .status()
        .expect("ffmpeg (scripts/install-deps.sh installs it)");
    assert!(status.success(), "ffmpeg made no {name}");
    path
}

/// The channel's status once it exists (`None` if it did not appear within `wait`).
async fn channel_status(addr: std::net::SocketAddr, id: &str, wait: Duration) -> Option<serde_json::Value> {
    let deadline = tokio::time::Instant::now() + wait;
    while tokio::time::Instant::now() < deadline {
        let (head, body) = get(addr, &format!("/api/v1/live/{id}"), Duration::from_secs(2)).await;
        if head.contains(" 200") {
            return serde_json::from_slice(&body).ok();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// Waits until the channel's now-playing title is `title`; the titles seen on the way.
async fn wait_for_title(addr: std::net::SocketAddr, id: &str, title: &str, wait: Duration) -> Result<(), Vec<String>> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + wait;
    while tokio::time::Instant::now() < deadline {
        if let Some(status) = channel_status(addr, id, Duration::from_secs(2)).await {
            let now = status["now_playing"].as_str().unwrap_or_default().to_string();
            if now == title {
                return Ok(());
            }
            if seen.last() != Some(&now) {
                seen.push(now);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(seen)
}

/// Listens to a mount for `seconds` and measures what it heard: (seconds of audio, peak dBFS).
async fn listen(addr: std::net::SocketAddr, mount: &str, seconds: f64) -> (f64, f64) {
    let (head, body) = get(addr, mount, Duration::from_secs_f64(seconds)).await;
    assert!(head.contains(" 200"), "{mount}: {head}");
    let ext = mount.rsplit('.').next().unwrap_or("mp3").to_string();
    tokio::task::spawn_blocking(move || {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join(format!("heard.{ext}"));
        std::fs::write(&path, &body).expect("write");
        let out = crate::common::analyze(&path, "level", Default::default());
        let rate = out.results[0].audio_metadata.samplerate as f64;
        (out.source.frames as f64 / rate, crate::common::global(&out, "level.max"))
    })
    .await
    .expect("decode")
}

fn spawn(program: &str, args: &[&str], log: &Path) -> tokio::process::Child {
    let log = std::fs::File::create(log).expect("log");
    tokio::process::Command::new(program)
        .args(args)
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("{program} (scripts/install-deps.sh installs it): {e}"))
}

/// ices2 2.0.3, ezstream 1.0.2 (its default TLS mode, "may") and GStreamer's shout2send all
/// go through libshout 2.4.6, which probes with `OPTIONS *` and a request without credentials
/// before it logs in. Each pushes to a mount that does not exist yet; listeners hear the
/// audio; the titles ices2 and ezstream send as Vorbis comments become now-playing titles;
/// and 15 logins in a row from one address are not taken for password guessing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn libshout_source_clients_log_in_push_and_carry_ogg_titles() {
    let dir = tempfile::tempdir().expect("tmp");
    let server =
        timeside::server::start(load_config(dir.path(), "source_password = \"secret\"", "")).await.expect("start");
    let (addr, port) = (server.addr, server.addr.port().to_string());
    let first = vorbis_file(dir.path(), "first.ogg", "Ada", "First Tune", 3);
    let second = vorbis_file(dir.path(), "second.ogg", "Bob", "Second Tune", 3);
    let playlist = dir.path().join("playlist.txt");
    std::fs::write(&playlist, format!("{}\n{}\n", first.display(), second.display())).expect("playlist");

    // ices2's playlist input sends the Ogg files as they are, titles in their comments.
    let ices_config = dir.path().join("ices.xml");
    std::fs::write(
        &ices_config,
        format!(
            "<?xml version=\"1.0\"?>\n<ices><background>0</background><logpath>{dir}</logpath>\
             <logfile>ices.log</logfile><loglevel>4</loglevel><consolelog>1</consolelog>\
             <stream><metadata><name>ices test</name></metadata>\
             <input><module>playlist</module><param name=\"type\">basic</param>\
             <param name=\"file\">{playlist}</param><param name=\"random\">0</param><param name=\"once\">0</param></input>\
             <instance><hostname>127.0.0.1</hostname><port>{port}</port><password>secret</password>\
             <mount>/ices.ogg</mount><reconnectdelay>1</reconnectdelay><reconnectattempts>3</reconnectattempts>\
             </instance></stream></ices>\n",
            dir = dir.path().display(),
            playlist = playlist.display(),
        ),
    )
    .expect("ices config");
    let _ices = spawn("ices2", &[ices_config.to_str().expect("path")], &dir.path().join("ices.out"));

    // ezstream's minimal configuration (its example), TLS left at its default.
    let ez_config = dir.path().join("ezstream.xml");
    std::fs::write(
        &ez_config,
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ezstream><servers><server>\
             <hostname>127.0.0.1</hostname><port>{port}</port><password>secret</password></server></servers>\
             <streams><stream><mountpoint>/ez.ogg</mountpoint><format>Ogg</format></stream></streams>\
             <intakes><intake><filename>{playlist}</filename></intake></intakes></ezstream>\n",
            playlist = playlist.display(),
        ),
    )
    .expect("ezstream config");
    // ezstream refuses a configuration file that others may read (it holds the password).
    std::fs::set_permissions(&ez_config, std::os::unix::fs::PermissionsExt::from_mode(0o600)).expect("chmod");
    let _ezstream = spawn("ezstream", &["-c", ez_config.to_str().expect("path")], &dir.path().join("ezstream.out"));

    let gst = format!(
        "audiotestsrc is-live=true freq=440 volume=0.125 ! audio/x-raw,channels=2 ! audioconvert ! vorbisenc ! oggmux ! \
         shout2send ip=127.0.0.1 port={port} password=secret mount=/gst.ogg"
    );
    let _shout2send = spawn("gst-launch-1.0", &gst.split(' ').collect::<Vec<_>>(), &dir.path().join("gst.out"));

    let logs = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap_or_default();
    for (id, log) in [("ices", "ices.out"), ("ez", "ezstream.out"), ("gst", "gst.out")] {
        assert!(
            channel_status(addr, id, Duration::from_secs(20)).await.is_some(),
            "{id}: the mount was not created; the client said:\n{}",
            logs(log)
        );
    }
    // Titles from the Ogg comments, in playlist order (each file plays 3 s).
    for id in ["ices", "ez"] {
        for title in ["Ada - First Tune", "Bob - Second Tune"] {
            if let Err(seen) = wait_for_title(addr, id, title, Duration::from_secs(10)).await {
                panic!("{id}: `{title}` never became the title (seen {seen:?})");
            }
        }
    }
    for id in ["ices", "ez", "gst"] {
        let (seconds, peak) = listen(addr, &format!("/live/{id}.mp3"), 2.0).await;
        assert!(seconds > 1.0, "{id}: {seconds} s of audio in 2 s of listening");
        assert!((peak - SINE_DBFS).abs() < 1.5, "{id}: a {SINE_DBFS} dBFS sine was heard at {peak} dBFS");
    }
    drop(_shout2send);

    // libshout's challenge is not a failed login: 15 logins in a row all get in (10 refused
    // logins in 10 s would lock the address out).
    tokio::time::sleep(Duration::from_millis(500)).await;
    for round in 0..15 {
        let line = format!(
            "audiotestsrc num-buffers=20 ! audioconvert ! vorbisenc ! oggmux ! \
             shout2send ip=127.0.0.1 port={port} password=secret mount=/again.ogg"
        );
        let out = tokio::process::Command::new("gst-launch-1.0")
            .args(line.split(' '))
            .output()
            .await
            .expect("gst-launch-1.0");
        assert!(
            out.status.success(),
            "login {round} of 15 failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        // The mount is free again once the server has seen the client leave.
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    tokio::time::timeout(Duration::from_secs(15), server.shutdown()).await.expect("shutdown");
}
