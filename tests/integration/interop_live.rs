//! The live server with the Icecast world's real programs at their defaults: libshout's source
//! clients (ices2, ezstream, GStreamer's `shout2send`), the titles they send inside Ogg streams,
//! and Icecast itself relaying our mounts.

use crate::common::free_port;
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

/// Icecast `<relay>`s of the server at `upstream`, each `(our path, its mount)`.
fn relays_of(upstream: u16, relays: &[(&str, &str)]) -> String {
    relays
        .iter()
        .map(|(path, mount)| {
            format!(
                "<relay><server>127.0.0.1</server><port>{upstream}</port><mount>{path}</mount>\
                 <local-mount>{mount}</local-mount><on-demand>0</on-demand>\
                 <relay-shoutcast-metadata>1</relay-shoutcast-metadata></relay>"
            )
        })
        .collect()
}

/// Debian's Icecast 2.4.4 on `port` with `relays` (top-level elements of its config: relays,
/// a master), and `secret` as its source and admin password. Icecast will not run as root, so
/// it becomes `nobody`: its folder is left open to that user.
async fn start_icecast(dir: &Path, port: u16, relays: &str) -> tokio::process::Child {
    let logs = dir.join("icecast-logs");
    std::fs::create_dir_all(&logs).expect("mkdir");
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    std::fs::set_permissions(&logs, std::os::unix::fs::PermissionsExt::from_mode(0o777)).expect("chmod");
    let config = dir.join("icecast.xml");
    std::fs::write(
        &config,
        format!(
            "<icecast><location>test</location><admin>test@localhost</admin><hostname>127.0.0.1</hostname>\
             <limits><sources>8</sources></limits>\
             <authentication><source-password>secret</source-password><relay-password>secret</relay-password>\
             <admin-user>admin</admin-user><admin-password>secret</admin-password></authentication>\
             <listen-socket><port>{port}</port><bind-address>127.0.0.1</bind-address></listen-socket>{relays}\
             <paths><basedir>/usr/share/icecast2</basedir><logdir>{logs}</logdir>\
             <webroot>/usr/share/icecast2/web</webroot><adminroot>/usr/share/icecast2/admin</adminroot></paths>\
             <logging><accesslog>access.log</accesslog><errorlog>error.log</errorlog><loglevel>3</loglevel></logging>\
             <security><chroot>0</chroot><changeowner><user>nobody</user><group>nogroup</group></changeowner></security>\
             </icecast>\n",
            logs = logs.display(),
        ),
    )
    .expect("icecast config");
    let child = spawn("icecast2", &["-c", config.to_str().expect("path")], &dir.join("icecast.out"));
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    for _ in 0..50 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("icecast2 did not start: {}", std::fs::read_to_string(dir.join("icecast.out")).unwrap_or_default());
}

/// Icecast's view of its mounts (`/status-json.xsl`), by listen URL's path.
async fn icecast_mounts(addr: std::net::SocketAddr) -> Vec<serde_json::Value> {
    let (_, body) = get(addr, "/status-json.xsl", Duration::from_secs(2)).await;
    let status: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    match &status["icestats"]["source"] {
        serde_json::Value::Array(list) => list.clone(),
        serde_json::Value::Null => vec![],
        one => vec![one.clone()],
    }
}

/// The first ICY `StreamTitle` a server sends with an MP3 stream (asked with
/// `Icy-MetaData: 1`), read as a player does.
async fn icy_title(addr: std::net::SocketAddr, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(format!("GET {path} HTTP/1.0\r\nIcy-MetaData: 1\r\n\r\n").as_bytes()).await.expect("send");
    let mut data = Vec::new();
    let mut buf = [0u8; 8192];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let n = tokio::time::timeout_at(deadline, s.read(&mut buf)).await.expect("icy metadata in time").expect("read");
        assert!(n > 0, "the stream ended before its metadata");
        data.extend_from_slice(&buf[..n]);
        let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&data[..end]).to_lowercase();
        let metaint: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("icy-metaint:"))
            .unwrap_or_else(|| panic!("no icy-metaint in {head}"))
            .trim()
            .parse()
            .expect("metaint");
        let at = end + 4 + metaint;
        if let Some(&len) = data.get(at)
            && data.len() >= at + 1 + len as usize * 16
        {
            return String::from_utf8_lossy(&data[at + 1..at + 1 + len as usize * 16])
                .trim_end_matches('\0')
                .to_string();
        }
    }
}

async fn set_title(addr: std::net::SocketAddr, mount: &str, title: &str) {
    let path = format!("/admin/metadata?mount={mount}&mode=updinfo&song={}", title.replace(' ', "%20"));
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    // "source:secret"
    let head = format!("GET {path} HTTP/1.0\r\nAuthorization: Basic c291cmNlOnNlY3JldA==\r\n\r\n");
    tokio::io::AsyncWriteExt::write_all(&mut s, head.as_bytes()).await.expect("send");
    let mut reply = String::new();
    let _ =
        tokio::time::timeout(Duration::from_secs(5), tokio::io::AsyncReadExt::read_to_string(&mut s, &mut reply)).await;
    assert!(reply.contains(" 200"), "{mount}: {reply}");
}

/// What a program prints about a file.
fn run(program: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(program).args(args).output().unwrap_or_else(|e| panic!("{program}: {e}"));
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// An Opus listener that joins a running channel gets a stream that starts at time zero with
/// the title in its OpusTags, and a new chained link with the new title when it changes:
/// ffmpeg decodes it all without a stop, GStreamer's playbin (gst-play) reports both titles.
/// Icecast 2.4.4 relays both of our mounts (it refused `audio/ogg; codecs=opus`), and its own
/// listeners hear the audio with our titles; the other way round, a channel relaying an
/// Icecast MP3 mount follows its ICY titles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ogg_listeners_icecast_relays_and_titles_both_ways() {
    let dir = tempfile::tempdir().expect("tmp");
    let ice_port = free_port();
    let config = load_config(
        dir.path(),
        "source_password = \"secret\"",
        &format!(
            "[[channels]]\nid = \"tone\"\nsource = \"launch:audiotestsrc is-live=true freq=440 volume=0.125\"\n\
             formats = [\"mp3\", \"opus\"]\n\
             [[channels]]\nid = \"upstream\"\nsource = \"http://127.0.0.1:{ice_port}/up.mp3\"\nformats = [\"mp3\"]\n"
        ),
    );
    let server = timeside::server::start(config).await.expect("start");
    let addr = server.addr;
    set_title(addr, "/tone", "Ada - First").await;
    // The channel has run a while: the encoder's granule positions are far from zero.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let capture = dir.path().join("capture.opus");
    let listener = tokio::spawn(async move { get(addr, "/live/tone.opus", Duration::from_secs(5)).await });
    tokio::time::sleep(Duration::from_millis(2500)).await;
    set_title(addr, "/tone", "Bob - Second").await;
    let (head, body) = listener.await.expect("join");
    assert!(head.contains("content-type: audio/ogg\r\n"), "Ogg mounts are plain audio/ogg: {head}");
    std::fs::write(&capture, &body).expect("write");
    let path = capture.to_str().expect("path").to_string();
    // ffprobe: the first link's title, and a first packet at time zero (less the pre-skip).
    let probe = run("ffprobe", &["-v", "error", "-show_entries", "stream_tags=TITLE", "-of", "compact", &path]);
    assert!(probe.contains("TITLE=Ada - First"), "{probe}");
    let first_pts = run("ffprobe", &["-v", "error", "-show_entries", "packet=pts", "-of", "csv=p=0", &path]);
    let first_pts: i64 =
        first_pts.lines().next().and_then(|l| l.split(',').next()?.trim().parse().ok()).expect("a first packet");
    assert!((-312..=960).contains(&first_pts), "the stream starts at {first_pts} (48 kHz samples), not near zero");
    // ffmpeg decodes both links: all that was heard (5 s of listening, and the burst).
    let decoded = dir.path().join("decoded.wav");
    run("ffmpeg", &["-v", "error", "-i", &path, decoded.to_str().expect("path")]);
    let samples = crate::common::decode_all(&decoded);
    let seconds = samples.len() as f64 / 2.0 / 48000.0;
    assert!(seconds > 4.5, "ffmpeg decoded {seconds} s of a 5 s capture");
    // GStreamer's playbin, as gst-play runs it, reports each link's title.
    let uri = format!("file://{path}");
    let tags = run("gst-launch-1.0", &["-t", "playbin", &format!("uri={uri}"), "audio-sink=fakesink sync=false"]);
    for title in ["Ada - First", "Bob - Second"] {
        assert!(tags.contains(&format!("title: {title}")), "playbin did not see `{title}`: {tags}");
    }

    // Icecast relays both mounts; its listeners hear the sine and get the titles.
    let relays = relays_of(addr.port(), &[("/live/tone.mp3", "/tone.mp3"), ("/live/tone.opus", "/tone.opus")]);
    let icecast = start_icecast(dir.path(), ice_port, &relays).await;
    let ice: std::net::SocketAddr = ([127, 0, 0, 1], ice_port).into();
    let mut relayed = vec![];
    for _ in 0..100 {
        relayed = icecast_mounts(ice).await;
        if relayed.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let logs = || std::fs::read_to_string(dir.path().join("icecast-logs/error.log")).unwrap_or_default();
    assert_eq!(relayed.len(), 2, "Icecast relays {relayed:?}; its log:\n{}", logs());
    for mount in ["/tone.mp3", "/tone.opus"] {
        let (seconds, peak) = listen(ice, mount, 2.0).await;
        assert!(seconds > 1.0 && (peak - SINE_DBFS).abs() < 1.5, "Icecast's {mount}: {seconds} s at {peak} dBFS");
    }
    assert_eq!(icy_title(ice, "/tone.mp3").await, "StreamTitle='Bob - Second';");
    let (_, opus) = get(ice, "/tone.opus", Duration::from_secs(1)).await;
    assert!(String::from_utf8_lossy(&opus).contains("TITLE=Bob - Second"), "Icecast's Opus listener got no title");

    // The other way: ffmpeg pushes MP3 to Icecast, whose titles our relaying channel follows.
    let _pusher = spawn(
        "ffmpeg",
        &[
            "-v",
            "error",
            "-re",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:sample_rate=44100:duration=30,pan=stereo|c0=c0|c1=c0",
            "-c:a",
            "libmp3lame",
            "-b:a",
            "128k",
            "-content_type",
            "audio/mpeg",
            "-f",
            "mp3",
            &format!("icecast://source:secret@127.0.0.1:{ice_port}/up.mp3"),
        ],
        &dir.path().join("push.out"),
    );
    for title in ["Upstream - One", "Upstream - Two"] {
        let mut set = false;
        for _ in 0..50 {
            if icecast_mounts(ice).await.iter().any(|m| m["listenurl"].as_str().is_some_and(|u| u.ends_with("/up.mp3")))
            {
                set_title(ice, "/up.mp3", title).await;
                set = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(set, "ffmpeg's mount never appeared on Icecast");
        if let Err(seen) = wait_for_title(addr, "upstream", title, Duration::from_secs(15)).await {
            panic!("the relaying channel never showed `{title}` (seen {seen:?})");
        }
    }

    // Icecast as the origin of an edge of ours: the edge reads Icecast's list of mounts and
    // relays each (ffmpeg's /up.mp3, and the /tone mounts Icecast relays from us).
    let edge_dir = dir.path().join("edge");
    std::fs::create_dir_all(&edge_dir).expect("mkdir");
    let mut edge_config = load_config(
        &edge_dir,
        "",
        &format!("[live]\nedge_origin = \"http://127.0.0.1:{ice_port}\"\nedge_poll_s = 0.5\n"),
    );
    // No channel of its own (the demo): only what it relays.
    edge_config.channels.clear();
    let edge = timeside::server::start(edge_config).await.expect("start the edge");
    let mut relaying = false;
    for _ in 0..100 {
        let (_, body) = get(edge.addr, "/api/v1/live/up", Duration::from_secs(2)).await;
        let status: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        if status["source_connected"] == true {
            relaying = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(relaying, "the edge never relayed Icecast's /up.mp3");
    let (seconds, peak) = listen(edge.addr, "/live/up.mp3", 2.0).await;
    assert!(seconds > 1.0 && (peak - SINE_DBFS).abs() < 1.5, "the edge's /live/up.mp3: {seconds} s at {peak} dBFS");
    tokio::time::timeout(Duration::from_secs(15), edge.shutdown()).await.expect("edge shutdown");
    drop(icecast);
    tokio::time::timeout(Duration::from_secs(15), server.shutdown()).await.expect("shutdown");
}

/// Icecast's master/slave relaying: Debian's icecast2 with `<master-server>` set to us reads
/// our `/admin/streamlist.txt` (with our relay password) and relays every mount of every
/// channel under the same path, following a channel added later; its listeners hear our sine.
/// A wrong relay password gets no list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn icecast_as_a_slave_relays_every_mount_it_lists() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = load_config(
        dir.path(),
        "relay_password = \"relay-secret\"\napi_token = \"admin-token\"",
        "[[channels]]\nid = \"tone\"\nsource = \"launch:audiotestsrc is-live=true freq=440 volume=0.1\"\n\
         formats = [\"mp3\", \"ogg\"]\nhls = false\nanalyzers = []\n",
    );
    let server = timeside::server::start(config).await.expect("start");
    let addr = server.addr;
    // "relay:relay-secret" and "relay:nope" in base64.
    let (good, bad) = ("Basic cmVsYXk6cmVsYXktc2VjcmV0", "Basic cmVsYXk6bm9wZQ==");
    let listed = crate::http::send(addr, "GET", "/admin/streamlist.txt", &[("Authorization", good)], b"").await;
    assert_eq!((listed.status, listed.text()), (200, "/live/tone.mp3\n/live/tone.ogg\n".to_string()));
    let refused = crate::http::send(addr, "GET", "/admin/streamlist.txt", &[("Authorization", bad)], b"").await;
    assert_eq!(refused.status, 401, "{}", refused.text());

    let ice_port = free_port();
    let master = format!(
        "<master-server>127.0.0.1</master-server><master-server-port>{}</master-server-port>\
         <master-update-interval>1</master-update-interval><master-password>relay-secret</master-password>",
        addr.port()
    );
    let icecast = start_icecast(dir.path(), ice_port, &master).await;
    let ice: std::net::SocketAddr = ([127, 0, 0, 1], ice_port).into();
    let relayed_paths = |mounts: Vec<serde_json::Value>| -> Vec<String> {
        let mut paths: Vec<String> = mounts
            .iter()
            .filter_map(|m| m["listenurl"].as_str())
            .filter_map(|u| u.split_once("//").and_then(|(_, r)| r.find('/').map(|i| r[i..].to_string())))
            .collect();
        paths.sort();
        paths
    };
    let mut paths = vec![];
    for _ in 0..100 {
        paths = relayed_paths(icecast_mounts(ice).await);
        if paths.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(paths, ["/live/tone.mp3", "/live/tone.ogg"], "what Icecast relays");
    for mount in ["/live/tone.mp3", "/live/tone.ogg"] {
        let (seconds, peak) = listen(ice, mount, 2.0).await;
        assert!(seconds > 1.0 && (peak + 20.0).abs() < 1.5, "Icecast's {mount}: {seconds} s at {peak} dBFS");
    }

    // A channel added here is relayed there at Icecast's next look.
    let created = crate::http::send(
        addr,
        "POST",
        "/api/v1/live",
        &[("Authorization", "Bearer admin-token"), ("Content-Type", "application/json")],
        br#"{"id": "later", "source": "demo", "formats": ["mp3"], "hls": false, "analyzers": []}"#,
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let mut later = false;
    for _ in 0..100 {
        later = relayed_paths(icecast_mounts(ice).await).iter().any(|p| p == "/live/later.mp3");
        if later {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(later, "Icecast never relayed /live/later.mp3");
    drop(icecast);
    tokio::time::timeout(Duration::from_secs(15), server.shutdown()).await.expect("shutdown");
}

/// `/metrics` as Prometheus reads it (`promtool check metrics` finds nothing to say), with each
/// channel's signal: a -20 dBFS sine reads -20 dBFS peak and -20 LUFS, a silent channel
/// reads dead air and for how long; the example alert rules pass `promtool check rules`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_reads_each_channels_signal() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = load_config(
        dir.path(),
        "",
        "[live]\ndead_air_seconds = 1.0\n\
         [[channels]]\nid = \"tone\"\nsource = \"launch:audiotestsrc is-live=true freq=1000 volume=0.1\"\nformats = [\"mp3\"]\n\
         [[channels]]\nid = \"quiet\"\nsource = \"launch:audiotestsrc is-live=true wave=silence\"\nformats = [\"mp3\"]\n",
    );
    let server = timeside::server::start(config).await.expect("start");
    // The short-term loudness needs 3 s of audio, dead air 1 s of silence.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (head, body) = get(server.addr, "/metrics", Duration::from_secs(2)).await;
    assert!(head.contains(" 200"), "{head}");
    let text = String::from_utf8(body).expect("utf-8");
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (scripts/install-deps.sh installs prometheus)");
    std::io::Write::write_all(&mut promtool.stdin.take().expect("stdin"), text.as_bytes()).expect("write");
    let out = promtool.wait_with_output().expect("promtool");
    assert!(
        out.status.success(),
        "{}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let value = |series: &str| -> f64 {
        let line = text.lines().find(|l| l.starts_with(series)).unwrap_or_else(|| panic!("no {series} in\n{text}"));
        line.rsplit(' ').next().and_then(|v| v.parse().ok()).expect("value")
    };
    let peak = value("timeside_live_peak_dbfs{channel=\"tone\",audio_channel=\"0\"}");
    assert!((peak + 20.0).abs() < 0.2, "peak {peak} dBFS for a -20 dBFS sine");
    // A 1 kHz sine at -20 dBFS in both channels reads -20 LUFS (EBU Tech 3341's first case:
    // -23 dBFS reads -23 LUFS).
    let short_term = value("timeside_live_loudness_short_term_lufs{channel=\"tone\"}");
    assert!((short_term + 20.0).abs() < 0.3, "short-term {short_term} LUFS");
    assert_eq!(value("timeside_live_silence{channel=\"tone\"}"), 0.0);
    assert_eq!(value("timeside_live_silence{channel=\"quiet\"}"), 1.0);
    assert!(value("timeside_live_silence_seconds{channel=\"quiet\"}") > 1.0);
    assert_eq!(value("timeside_source_connected{channel=\"quiet\"}"), 1.0);
    let rules = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/prometheus-alerts.yml");
    let out = std::process::Command::new("promtool").args(["check", "rules"]).arg(&rules).output().expect("promtool");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    tokio::time::timeout(Duration::from_secs(15), server.shutdown()).await.expect("shutdown");
}
