//! HLS of a live channel, read by the programs that read HLS: ffmpeg decodes 20 s through the
//! master playlist without an error, at the tone's level; ffprobe finds timestamps continuous
//! across segments; hls.js in Chromium plays it and receives the ID3 title change. The
//! playlists are checked against RFC 8216's rules as they move (Apple's mediastreamvalidator
//! does not run here).

use crate::http;
use crate::server::load_config;
use std::collections::BTreeMap;
use std::time::Duration;

/// One media playlist, as RFC 8216 defines its tags.
#[derive(Debug)]
struct MediaPlaylist {
    target_duration: u64,
    media_sequence: u64,
    /// (duration, program date in ms since the epoch, URI) per segment.
    segments: Vec<(f64, i64, String)>,
    ended: bool,
}

/// Parses a media playlist, failing on anything RFC 8216 forbids in a live one of ours.
fn parse_media(text: &str) -> MediaPlaylist {
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("#EXTM3U"), "§4.3.1.1: the first line\n{text}");
    let (mut target, mut sequence, mut ended) = (None, None, false);
    let (mut segments, mut duration, mut date) = (Vec::new(), None, None);
    for line in lines {
        if let Some(v) = line.strip_prefix("#EXT-X-TARGETDURATION:") {
            assert!(target.replace(v.parse::<u64>().expect("§4.3.3.1: decimal-integer")).is_none(), "one target");
        } else if let Some(v) = line.strip_prefix("#EXT-X-MEDIA-SEQUENCE:") {
            assert!(segments.is_empty(), "§4.3.3.2: before the first segment\n{text}");
            sequence = Some(v.parse::<u64>().expect("media sequence"));
        } else if let Some(v) = line.strip_prefix("#EXTINF:") {
            let (d, _title) = v.split_once(',').expect("§4.3.2.1: #EXTINF:<duration>,[<title>]");
            duration = Some(d.parse::<f64>().expect("duration"));
        } else if let Some(v) = line.strip_prefix("#EXT-X-PROGRAM-DATE-TIME:") {
            let when = chrono::DateTime::parse_from_rfc3339(v).expect("§4.3.2.6: ISO 8601 with a time zone");
            date = Some(when.timestamp_millis());
        } else if line == "#EXT-X-ENDLIST" {
            ended = true;
        } else if line.starts_with('#') || line.is_empty() {
            continue;
        } else {
            let d = duration.take().unwrap_or_else(|| panic!("§4.3.2.1: {line} has no #EXTINF\n{text}"));
            segments.push((d, date.take().expect("a program date per segment"), line.to_string()));
        }
    }
    let target_duration = target.expect("§4.3.3.1: EXT-X-TARGETDURATION is required");
    for (d, _, uri) in &segments {
        assert!(d.round() as u64 <= target_duration, "§4.3.3.1: {uri} lasts {d} s, target {target_duration}");
    }
    MediaPlaylist { target_duration, media_sequence: sequence.unwrap_or(0), segments, ended }
}

/// The rules between two reloads of a live playlist (§6.2.1, §6.2.2): the target duration
/// never changes; a segment keeps its media sequence number and date; the sequence goes up by
/// the number of segments that left; segments are only added at the end.
fn check_reload(before: &MediaPlaylist, after: &MediaPlaylist) {
    assert_eq!(before.target_duration, after.target_duration, "§6.2.1: the target duration changed");
    assert!(after.media_sequence >= before.media_sequence, "§6.2.1: the media sequence went back");
    let numbered = |p: &MediaPlaylist| -> BTreeMap<u64, (String, i64)> {
        p.segments
            .iter()
            .enumerate()
            .map(|(i, (_, date, uri))| (p.media_sequence + i as u64, (uri.clone(), *date)))
            .collect()
    };
    let (old, new) = (numbered(before), numbered(after));
    for (n, seg) in &new {
        if let Some(was) = old.get(n) {
            assert_eq!(was, seg, "§6.2.1: media sequence number {n} names another segment");
        }
    }
    assert!(!after.ended && !before.ended, "a live channel's playlist has no EXT-X-ENDLIST");
}

/// Program dates agree with durations: each segment starts where the one before ended.
fn check_dates(p: &MediaPlaylist) {
    for pair in p.segments.windows(2) {
        let (d, date, uri) = &pair[0];
        let gap = (pair[1].1 - date) as f64 / 1000.0 - d;
        assert!(gap.abs() < 0.002, "after {uri}: program dates {gap} s off its duration");
    }
}

/// The left channel of ffmpeg's stereo f32le output, as samples.
fn left_channel(f32le: &[u8]) -> Vec<f32> {
    f32le.chunks_exact(8).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

/// RMS in dB of `samples`.
fn rms_db(samples: &[f32]) -> f64 {
    let rms = (samples.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / samples.len() as f64).sqrt();
    20.0 * rms.log10()
}

/// ffprobe's `packet=pts,duration` CSV as (pts, duration), packets without both left out.
fn probed_packets(csv: &[u8]) -> Vec<(i64, i64)> {
    String::from_utf8_lossy(csv)
        .lines()
        .filter_map(|l| l.trim_end_matches(',').split_once(','))
        .filter_map(|(p, d)| Some((p.parse().ok()?, d.parse().ok()?)))
        .collect()
}

/// What hls.js in Chromium heard playing the `tone` channel of the server at `base`
/// (`tests/browser/hls.mjs`: the title changes from "Ada - First" to "Bob - Second").
async fn hlsjs_hears(base: &str) -> serde_json::Value {
    let script = format!("{}/tests/browser/hls.mjs", env!("CARGO_MANIFEST_DIR"));
    let node = tokio::process::Command::new("node")
        .arg(script)
        .args([base, "tone", "Ada - First", "Bob - Second", "source:secret"])
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), node).await.expect("in time").expect("node");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("what hls.js heard")
}

/// A server with one channel, `tone` (a -20 dBFS 440 Hz sine, an mp3 mount), the `[live]`
/// keys `live` and the channel keys `channel`.
async fn tone_server(dir: &std::path::Path, live: &str, channel: &str) -> timeside::server::RunningServer {
    let config = load_config(
        dir,
        "source_password = \"secret\"",
        &format!(
            "[live]\n{live}\n[[channels]]\nid = \"tone\"\n\
             source = \"launch:audiotestsrc is-live=true freq=440 volume=0.1\"\nformats = [\"mp3\"]\n{channel}\n"
        ),
    );
    timeside::server::start(config).await.expect("start")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_follows_rfc_8216_and_ffmpeg_ffprobe_and_hlsjs_play_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = tone_server(
        dir.path(),
        "hls_segment_s = 1.0\nhls_window = 5",
        "name = \"Ada - First\"\nhls_bitrates_kbps = [128, 64]",
    )
    .await;
    let addr = server.addr;
    let base = format!("http://{addr}");

    // The master playlist: two AAC-LC variants, by relative URIs, in the configured order.
    let master = http::get(addr, "/live/tone/index.m3u8", None).await;
    assert_eq!((master.status, master.header("content-type")), (200, Some("application/vnd.apple.mpegurl")));
    let text = master.text();
    assert!(text.starts_with("#EXTM3U\n") && text.contains("CODECS=\"mp4a.40.2\""), "{text}");
    let variants: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(variants, ["aac-128.m3u8", "aac-64.m3u8"], "{text}");
    assert!(text.contains("BANDWIDTH=140800,") && text.contains("BANDWIDTH=70400,"), "{text}");
    let unknown = http::get(addr, "/live/tone/aac-96.m3u8", None).await;
    assert_eq!((unknown.status, unknown.json()["code"].as_str()), (404, Some("unknown_variant")), "{}", unknown.text());

    // ffmpeg and ffprobe read while the playlist is checked.
    let url = format!("{base}/live/tone/index.m3u8");
    let ffmpeg = tokio::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i", &url, "-t", "20", "-f", "f32le", "-"])
        .output();
    let ffprobe = tokio::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "a", "-show_entries", "packet=pts,duration", "-of", "csv=p=0"])
        .args(["-read_intervals", "%+8", &format!("{base}/live/tone/aac-128.m3u8")])
        .output();
    let ffmpeg = tokio::spawn(tokio::time::timeout(Duration::from_secs(90), ffmpeg));
    let ffprobe = tokio::spawn(tokio::time::timeout(Duration::from_secs(90), ffprobe));

    // The media playlist, reloaded as a player does, until the window has moved three times
    // (about 9 s: it fills for 5 s first).
    let mut previous: Option<MediaPlaylist> = None;
    let mut sequences = std::collections::BTreeSet::new();
    for _ in 0..60 {
        if sequences.len() >= 4 {
            break;
        }
        let r = http::get(addr, "/live/tone/aac-128.m3u8", None).await;
        assert_eq!(r.status, 200, "{}", r.text());
        assert!(r.header("cache-control").is_some(), "{:?}", r.headers);
        let playlist = parse_media(&r.text());
        // The other variant is aligned: the same segment numbers cover the same audio.
        let other = parse_media(&http::get(addr, "/live/tone/aac-64.m3u8", None).await.text());
        for (i, (duration, date, uri)) in other.segments.iter().enumerate() {
            let n = other.media_sequence + i as u64;
            let Some(same) = n.checked_sub(playlist.media_sequence).and_then(|k| playlist.segments.get(k as usize))
            else {
                continue;
            };
            assert_eq!((same.0, same.1), (*duration, *date), "segment {n}: {uri} and {}", same.2);
        }
        assert!(playlist.segments.len() <= 5, "the window: {playlist:?}");
        check_dates(&playlist);
        if let Some(before) = &previous {
            check_reload(before, &playlist);
        }
        sequences.insert(playlist.media_sequence);
        // Every listed segment is a whole transport stream that starts with its tables.
        let (_, _, newest) = playlist.segments.last().expect("a segment").clone();
        let segment = http::get(addr, &format!("/live/tone/{newest}"), None).await;
        assert_eq!((segment.status, segment.header("content-type")), (200, Some("video/mp2t")), "{newest}");
        assert_eq!(segment.body.len() % 188, 0, "{newest}: whole 188-byte packets");
        // Sync byte, start of a section on PID 0, payload only (the continuity counter runs on).
        assert_eq!(
            (&segment.body[..3], segment.body[3] & 0xF0),
            (&[0x47, 0x40, 0x00][..], 0x10),
            "{newest}: a PAT first"
        );
        previous = Some(playlist);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert!(sequences.len() >= 4, "the window moved: {sequences:?}");
    let gone = http::get(addr, "/live/tone/aac-128/0.ts", None).await;
    assert_eq!(gone.status, 404, "segment 0 has left the window and its spares");
    assert!(gone.text().contains("read the playlist again"), "{}", gone.text());

    // ffmpeg: 20 s decoded without a message, at the tone's level (-20 dBFS peak: -23.01 dB RMS).
    let out = ffmpeg.await.expect("join").expect("ffmpeg in time").expect("ffmpeg");
    assert!(out.status.success() && out.stderr.is_empty(), "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
    // Stereo, interleaved: the left channel.
    let samples = left_channel(&out.stdout);
    assert!(samples.len() >= 20 * 44100 - 1024, "{} samples for 20 s", samples.len());
    let rms_db = rms_db(&samples[44100..]);
    assert!((rms_db - -23.01).abs() < 0.5, "the tone at {rms_db:.2} dB RMS through AAC");

    // ffprobe: each packet starts where the one before ended, across segment boundaries. The
    // first PES's frames are skipped: ffprobe's probing gives them shifted times (one packet
    // without a duration, then one frame short), on ffmpeg's own HLS output as on ours.
    let out = ffprobe.await.expect("join").expect("ffprobe in time").expect("ffprobe");
    assert!(out.status.success(), "ffprobe: {}", String::from_utf8_lossy(&out.stderr));
    let packets = probed_packets(&out.stdout);
    assert!(packets.len() > 8 * 43 / 2, "{} packets in 8 s", packets.len());
    for pair in packets[16..].windows(2) {
        let ((pts, duration), (next, _)) = (pair[0], pair[1]);
        assert!((next - (pts + duration)).abs() <= 2, "a gap or overlap: {pts} + {duration} -> {next}");
    }

    // hls.js in Chromium, on another origin: plays, and hears the title change.
    let heard = hlsjs_hears(&base).await;
    // The analysis events rode along: the tone's loudness (a 440 Hz sine at -20 dBFS in both
    // channels: -20 LUFS, K-weighting adds a few tenths at 440 Hz), at most 4 a second.
    let loudness: Vec<&serde_json::Value> =
        heard["events"].as_array().expect("events").iter().filter(|e| e["name"] == "loudness").collect();
    assert!(loudness.len() >= 4, "{heard}");
    let late = loudness.last().expect("one");
    let lufs = late["momentary_lufs"].as_f64().expect("momentary");
    assert!((lufs - -20.0).abs() < 1.0, "momentary loudness {lufs} LUFS in {late}");
    assert_eq!(late["analyzer"], "loudness");
    let times: Vec<f64> = loudness.iter().map(|e| e["time"].as_f64().expect("time")).collect();
    assert!(times.windows(2).all(|w| w[1] - w[0] >= 0.25 - 1e-9), "4 a second at most: {times:?}");

    // Players are counted by address and User-Agent: Chromium's was still fetching segments
    // moments ago (ffmpeg and ffprobe are older than three segments by now).
    let status = http::get(addr, "/api/v1/live/tone", None).await.json();
    assert!(status["hls"]["segments_served"].as_u64().expect("counted") > 0, "{status}");
    assert!(status["hls"]["sessions"].as_u64().expect("sessions") >= 1, "{status}");
    let metrics = http::get(addr, "/metrics", None).await.text();
    assert!(
        metrics.lines().any(|l| l.starts_with("timeside_hls_sessions{channel=\"tone\",variant=\"aac-128\"}")),
        "{metrics}"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_refuses_what_it_does_not_have() {
    let dir = tempfile::tempdir().expect("tmp");
    let config = load_config(
        dir.path(),
        "",
        "[[channels]]\nid = \"quiet\"\nsource = \"launch:audiotestsrc is-live=true wave=silence\"\nhls = false\n",
    );
    let server = timeside::server::start(config).await.expect("start");
    let addr = server.addr;
    for (path, code) in [
        ("/live/quiet/index.m3u8", "no_hls"),
        ("/live/nowhere/index.m3u8", "unknown_channel"),
        ("/live/nowhere/aac-128/1.ts", "unknown_channel"),
    ] {
        let r = http::get(addr, path, None).await;
        assert_eq!((r.status, r.json()["code"].as_str()), (404, Some(code)), "{path}: {}", r.text());
    }
    server.shutdown().await;
}

/// nginx in front, as a CDN would be (its cache with `proxy_cache_lock`, so that players
/// asking at once for a segment it has not got wait for one request): 1000 players read the
/// playlist and its two newest segments through it, three times a segment apart; the origin
/// serves each segment once, and the playlist is cached for less than a segment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cache_in_front_serves_a_thousand_players_from_one_request_per_segment() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = tone_server(dir.path(), "hls_segment_s = 2.0\nhls_window = 5", "").await;
    let addr = server.addr;
    // Players join a playlist of three segments, and stay while two more come.
    for _ in 0..100 {
        let r = http::get(addr, "/live/tone/aac-128.m3u8", None).await;
        if r.status == 200 && parse_media(&r.text()).segments.len() >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let proxy_port = crate::common::free_port();
    let proxy: std::net::SocketAddr = ([127, 0, 0, 1], proxy_port).into();
    let _nginx = crate::interop_http::start_nginx(
        &dir.path().join("nginx"),
        proxy_port,
        addr,
        "proxy_cache_lock on; proxy_cache_lock_timeout 10s;",
    )
    .await;
    let served = || async {
        let status = http::get(addr, "/api/v1/live/tone", None).await.json();
        status["hls"]["segments_served"].as_u64().expect("segments served")
    };
    let before = served().await;

    let requested = std::sync::Arc::new(std::sync::Mutex::new(std::collections::BTreeSet::new()));
    let playlist_hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let at_once = std::sync::Arc::new(tokio::sync::Semaphore::new(200));
    let players: Vec<_> = (0..1000)
        .map(|_| {
            let (requested, playlist_hits, at_once) = (requested.clone(), playlist_hits.clone(), at_once.clone());
            tokio::spawn(async move {
                for _ in 0..3 {
                    let permit = at_once.acquire().await.expect("semaphore");
                    let r = http::send(proxy, "GET", "/live/tone/aac-128.m3u8", &[], b"").await;
                    assert_eq!(r.status, 200, "{}", r.text());
                    let max_age: f64 = r
                        .header("cache-control")
                        .and_then(|c| c.split("max-age=").nth(1))
                        .and_then(|a| a.parse().ok())
                        .expect("a max-age");
                    assert!(max_age < 2.0, "the playlist is cached for under a segment: {max_age} s");
                    if r.header("x-cache-status") == Some("HIT") {
                        playlist_hits.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                    let playlist = parse_media(&r.text());
                    for (_, _, uri) in playlist.segments.iter().rev().take(2) {
                        let segment = http::send(proxy, "GET", &format!("/live/tone/{uri}"), &[], b"").await;
                        assert_eq!(segment.status, 200, "{uri}: {}", segment.text());
                        assert_eq!(segment.body.len() % 188, 0);
                        requested.lock().expect("set").insert(uri.clone());
                    }
                    drop(permit);
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            })
        })
        .collect();
    for p in players {
        p.await.expect("a player");
    }
    let distinct = requested.lock().expect("set").len() as u64;
    let from_origin = served().await - before;
    let hits = playlist_hits.load(std::sync::atomic::Ordering::Relaxed);
    println!(
        "through nginx: {distinct} distinct segments, {from_origin} from the origin, {hits} of 3000 playlists cached"
    );
    assert_eq!(from_origin, distinct, "the origin served {from_origin} segments for {distinct} distinct ones");
    assert!(distinct >= 4, "players followed the live edge: {distinct} segments");
    assert!(hits > 1500, "most playlist reads came from the cache: {hits}");
    server.shutdown().await;
}

/// LL-HLS: parts of 0.3 s (each decodable alone, listed for the last segments and the one
/// being built), blocking playlist reloads, and hls.js in low-latency mode playing from the
/// parts: closer to the encoder than the three 2 s segments a player of whole segments keeps
/// (how close is a benchmark's: `benches/hls.sh`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ll_hls_parts_blocking_reloads_and_hlsjs_within_two_seconds() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = tone_server(dir.path(), "hls_segment_s = 2.0\nhls_part_s = 0.3", "").await;
    let addr = server.addr;
    let text = http::get(addr, "/live/tone/aac-128.m3u8", None).await.text();
    assert!(text.contains("#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK="), "{text}");
    let target: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-PART-INF:PART-TARGET="))
        .and_then(|v| v.parse().ok())
        .expect("a part target");
    tokio::time::sleep(Duration::from_secs(5)).await;
    let text = http::get(addr, "/live/tone/aac-128.m3u8", None).await.text();
    // Every part at most the part target; a complete segment's parts add up to it.
    let mut parts_sum = 0.0;
    let mut last_part: Option<(u64, usize)> = None;
    for line in text.lines() {
        if let Some(attrs) = line.strip_prefix("#EXT-X-PART:") {
            let duration: f64 = attrs
                .split(',')
                .find_map(|a| a.strip_prefix("DURATION="))
                .and_then(|d| d.parse().ok())
                .expect("a part duration");
            assert!(duration <= target + 1e-9, "a part of {duration} s over the target {target}");
            parts_sum += duration;
            let uri = attrs.split("URI=\"").nth(1).and_then(|u| u.split('"').next()).expect("a part URI");
            let (seq, part) = uri
                .rsplit('/')
                .next()
                .and_then(|f| f.strip_suffix(".ts"))
                .and_then(|f| f.split_once('.'))
                .expect("n.k.ts");
            last_part = Some((seq.parse().expect("n"), part.parse().expect("k")));
            let bytes = http::get(addr, &format!("/live/tone/{uri}"), None).await;
            assert_eq!(bytes.status, 200, "{uri}");
            assert_eq!(
                (&bytes.body[..3], bytes.body.len() % 188),
                (&[0x47, 0x40, 0x00][..], 0),
                "{uri}: whole packets from a PAT"
            );
        } else if let Some(d) = line.strip_prefix("#EXTINF:") {
            let d: f64 = d.trim_end_matches(',').parse().expect("duration");
            if parts_sum > 0.0 {
                assert!((parts_sum - d).abs() < 0.002, "parts add up to {parts_sum}, the segment is {d}");
            }
            parts_sum = 0.0;
        }
    }
    // A blocking reload for the part after the newest returns once it exists.
    let (seq, part) = last_part.expect("parts listed");
    let started = std::time::Instant::now();
    let blocked =
        http::get(addr, &format!("/live/tone/aac-128.m3u8?_HLS_msn={seq}&_HLS_part={}", part + 1), None).await;
    let waited = started.elapsed();
    assert_eq!(blocked.status, 200, "{}", blocked.text());
    let next_part = format!("aac-128/{seq}.{}.ts", part + 1);
    let next_segment = format!("aac-128/{}.0.ts", seq + 1);
    let listed = blocked.text();
    assert!(listed.contains(&next_part) || listed.contains(&next_segment), "{next_part} in\n{listed}");
    assert!(waited < Duration::from_secs_f64(target * 2.0 + 0.5), "blocked {waited:?} for one part");
    let bad = http::get(addr, "/live/tone/aac-128.m3u8?_HLS_msn=999999", None).await;
    assert_eq!(bad.status, 400, "{}", bad.text());

    // The preload hint names the part after the last one listed; asked for at once, it comes
    // the moment it is complete.
    let listed = http::get(addr, "/live/tone/aac-128.m3u8", None).await.text();
    let hint = listed
        .lines()
        .find_map(|l| l.strip_prefix("#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\""))
        .and_then(|u| u.strip_suffix('"'))
        .unwrap_or_else(|| panic!("a preload hint in\n{listed}"));
    let last = listed
        .lines()
        .filter_map(|l| l.strip_prefix("#EXT-X-PART:"))
        .next_back()
        .and_then(|a| a.split("URI=\"").nth(1))
        .and_then(|u| u.split('"').next())
        .expect("a part listed");
    let numbers = |uri: &str| -> (u64, usize) {
        let (n, k) =
            uri.rsplit('/').next().and_then(|f| f.strip_suffix(".ts")).and_then(|f| f.split_once('.')).expect("n.k.ts");
        (n.parse().expect("n"), k.parse().expect("k"))
    };
    let ((n, k), (last_n, last_k)) = (numbers(hint), numbers(last));
    assert!((n, k) == (last_n, last_k + 1) || (n, k) == (last_n + 1, 0), "hint {hint} after {last}");
    let started = std::time::Instant::now();
    let hinted = http::get(addr, &format!("/live/tone/{hint}"), None).await;
    let waited = started.elapsed();
    assert_eq!(hinted.status, 200, "{hint}: {}", hinted.text());
    assert_eq!((&hinted.body[..3], hinted.body.len() % 188), (&[0x47, 0x40, 0x00][..], 0), "{hint}: a whole part");
    assert!(waited < Duration::from_secs_f64(target * 2.0 + 0.5), "waited {waited:?} for the hinted part");

    // hls.js in low-latency mode plays from the parts.
    let script = format!("{}/tests/browser/hls_latency.mjs", env!("CARGO_MANIFEST_DIR"));
    let node =
        tokio::process::Command::new("node").arg(script).arg(format!("http://{addr}/live/tone/index.m3u8")).output();
    let out = tokio::time::timeout(Duration::from_secs(90), node).await.expect("in time").expect("node");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let heard: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    let latency = heard["latency"].as_f64().expect("latency");
    println!("hls.js LL-HLS latency behind the encoder: {latency:.2} s (parts of {target} s)");
    assert!(latency > 0.0 && latency < 4.0, "hls.js plays {latency:.2} s behind the encoder: {heard}");
    server.shutdown().await;
}

/// The boxes at the top of an MP4 file or segment, by type; fails on a box that overruns.
fn mp4_boxes(bytes: &[u8]) -> Vec<String> {
    let (mut at, mut names) = (0, Vec::new());
    while at + 8 <= bytes.len() {
        let size = u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        assert!(size >= 8 && at + size <= bytes.len(), "a box of {size} bytes at {at} of {}", bytes.len());
        names.push(String::from_utf8_lossy(&bytes[at + 4..at + 8]).into_owned());
        at += size;
    }
    assert_eq!(at, bytes.len(), "whole boxes");
    names
}

/// `live.hls_container = "fmp4"` (CMAF): an `init.mp4`, then `.m4s` segments and parts of
/// whole `moof` + `mdat` fragments, titles and events in `emsg` boxes. ffmpeg decodes 10 s of
/// it without a message at the tone's level, ffprobe finds its timestamps continuous, and
/// hls.js plays it (from its parts: LL-HLS) and hears the title change through the `emsg`s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cmaf_segments_play_in_ffmpeg_and_hlsjs_with_titles_in_emsg() {
    let dir = tempfile::tempdir().expect("tmp");
    let live = "hls_container = \"fmp4\"\nhls_segment_s = 2.0\nhls_part_s = 0.5\nhls_window = 5";
    let server = tone_server(dir.path(), live, "name = \"Ada - First\"").await;
    let addr = server.addr;
    let base = format!("http://{addr}");
    let url = format!("{base}/live/tone/index.m3u8");
    let ffmpeg = tokio::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i", &url, "-t", "10", "-f", "f32le", "-"])
        .output();
    let ffmpeg = tokio::spawn(tokio::time::timeout(Duration::from_secs(90), ffmpeg));

    tokio::time::sleep(Duration::from_secs(5)).await;
    let text = http::get(addr, "/live/tone/aac-128.m3u8", None).await.text();
    assert!(text.contains("#EXT-X-VERSION:6\n") && text.contains("#EXT-X-MAP:URI=\"aac-128/init.mp4\"\n"), "{text}");
    let playlist = parse_media(&text);
    check_dates(&playlist);
    let init = http::get(addr, "/live/tone/aac-128/init.mp4", None).await;
    assert_eq!((init.status, init.header("content-type")), (200, Some("audio/mp4")));
    assert_eq!(mp4_boxes(&init.body), ["ftyp", "moov"]);
    // Each segment: the title's emsg, then fragments (one per part); each part decodes alone.
    let (_, _, newest) = playlist.segments.last().expect("a segment").clone();
    assert!(newest.ends_with(".m4s"), "{newest}");
    let segment = http::get(addr, &format!("/live/tone/{newest}"), None).await;
    assert_eq!((segment.status, segment.header("content-type")), (200, Some("audio/mp4")));
    let boxes = mp4_boxes(&segment.body);
    assert_eq!(boxes[0], "emsg", "{boxes:?}");
    assert_eq!(boxes.iter().filter(|b| *b == "moof").count(), 4, "2 s in parts of 0.5 s: {boxes:?}");
    let part = text.lines().find_map(|l| l.strip_prefix("#EXT-X-PART:")).expect("parts listed");
    let uri = part.split("URI=\"").nth(1).and_then(|u| u.split('"').next()).expect("a part URI");
    assert!(uri.ends_with(".m4s"), "{uri}");
    let part = http::get(addr, &format!("/live/tone/{uri}"), None).await;
    assert!(mp4_boxes(&part.body).contains(&"moof".to_string()), "{uri}");
    // A whole file of init + segments: ffprobe reads each packet where the one before ended.
    let mut whole = init.body.clone();
    for (_, _, uri) in &playlist.segments {
        whole.extend_from_slice(&http::get(addr, &format!("/live/tone/{uri}"), None).await.body);
    }
    let file = dir.path().join("whole.mp4");
    std::fs::write(&file, &whole).expect("write");
    let probe = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "a", "-show_entries", "packet=pts,duration", "-of", "csv=p=0"])
        .arg(&file)
        .output()
        .expect("ffprobe");
    assert!(probe.status.success() && probe.stderr.is_empty(), "{}", String::from_utf8_lossy(&probe.stderr));
    let packets = probed_packets(&probe.stdout);
    assert!(packets.len() >= playlist.segments.len() * 86 - 1, "{} packets", packets.len());
    for pair in packets.windows(2) {
        let ((pts, duration), (next, _)) = (pair[0], pair[1]);
        assert_eq!(next, pts + duration, "a gap or overlap");
    }

    // ffmpeg through the master playlist: 10 s, no message, the -20 dBFS tone (-23.01 dB RMS).
    let out = ffmpeg.await.expect("join").expect("ffmpeg in time").expect("ffmpeg");
    assert!(out.status.success() && out.stderr.is_empty(), "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
    let samples = left_channel(&out.stdout);
    assert!(samples.len() >= 10 * 44100 - 1024, "{} samples for 10 s", samples.len());
    let rms_db = rms_db(&samples[44100..]);
    assert!((rms_db - -23.01).abs() < 0.5, "the tone at {rms_db:.2} dB RMS");

    // hls.js in Chromium: plays, hears the title change and the loudness events (emsg ID3).
    let heard = hlsjs_hears(&base).await;
    let loudness = heard["events"].as_array().expect("events").iter().filter(|e| e["name"] == "loudness").count();
    assert!(loudness >= 2, "{heard}");
    server.shutdown().await;
}

/// A DVR window (`live.hls_dvr_s`) longer than the live window: the playlist lists it all, the
/// live window stays in memory and the older segments go to files, which leave with the
/// window (and with the channel). Every listed segment is served, and they decode as one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dvr_window_keeps_its_older_segments_in_files() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = tone_server(dir.path(), "hls_segment_s = 0.5\nhls_window = 3\nhls_dvr_s = 5.0", "").await;
    let addr = server.addr;
    // 10 listed (5 s), 5 in memory (the window and 2 spares), 2 spares past the DVR window.
    let mut playlist = parse_media(&http::get(addr, "/live/tone/aac-128.m3u8", None).await.text());
    for _ in 0..60 {
        if playlist.media_sequence >= 4 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
        playlist = parse_media(&http::get(addr, "/live/tone/aac-128.m3u8", None).await.text());
    }
    assert!(playlist.media_sequence >= 4 && playlist.segments.len() == 10, "{playlist:?}");
    let folders: Vec<std::path::PathBuf> = std::fs::read_dir(dir.path().join("hls/tone"))
        .expect("the channel's DVR folder")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(folders.len(), 1, "one folder per variant: {folders:?}");
    let files: Vec<u64> = std::fs::read_dir(&folders[0])
        .expect("files")
        .filter_map(|e| e.ok()?.path().file_stem()?.to_str()?.parse().ok())
        .collect();
    assert!((1..=7).contains(&files.len()), "12 kept, 5 of them in memory: files {files:?}");
    let oldest_kept = playlist.media_sequence - 2;
    assert!(files.iter().all(|n| *n >= oldest_kept), "files past the window are removed: {files:?}");
    let mut whole = Vec::new();
    for (_, _, uri) in &playlist.segments {
        let segment = http::get(addr, &format!("/live/tone/{uri}"), None).await;
        assert_eq!(segment.status, 200, "{uri}");
        assert_eq!(&segment.body[..3], &[0x47, 0x40, 0x00], "{uri}: a PAT first");
        whole.extend_from_slice(&segment.body);
    }
    let file = dir.path().join("dvr.ts");
    std::fs::write(&file, &whole).expect("write");
    let out = std::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i"])
        .arg(&file)
        .args(["-f", "f32le", "-"])
        .output()
        .expect("ffmpeg");
    assert!(out.status.success() && out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    let seconds = out.stdout.len() as f64 / 8.0 / 44100.0;
    assert!(seconds > 4.9, "{seconds} s decoded from 10 segments of 0.5 s");
    server.shutdown().await;
    let folder = folders[0].clone();
    for _ in 0..20 {
        if !folder.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!folder.exists(), "the channel's DVR files are removed with it");
}

/// `hls_opus_kbps`: an Opus variant in fMP4 (`Opus` sample entry with its `dOps`) after the
/// AAC one, named by its CODECS in the master playlist. ffmpeg decodes it at the tone's level,
/// ffprobe reads 20 ms packets one after the other across segments, hls.js in Chromium plays it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opus_variant_in_fmp4_plays_in_ffmpeg_and_hlsjs() {
    let dir = tempfile::tempdir().expect("tmp");
    let server = tone_server(dir.path(), "hls_segment_s = 1.0\nhls_window = 5", "hls_opus_kbps = 96").await;
    let addr = server.addr;
    let master = http::get(addr, "/live/tone/index.m3u8", None).await.text();
    let variants: Vec<&str> = master.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(variants, ["aac-128.m3u8", "opus-96.m3u8"], "{master}");
    assert!(master.contains("CODECS=\"opus\"\nopus-96.m3u8"), "{master}");
    let url = format!("http://{addr}/live/tone/opus-96.m3u8");
    let ffmpeg = tokio::process::Command::new("ffmpeg")
        .args(["-nostdin", "-v", "error", "-i", &url, "-t", "6", "-f", "f32le", "-"])
        .output();
    let ffmpeg = tokio::spawn(tokio::time::timeout(Duration::from_secs(60), ffmpeg));

    tokio::time::sleep(Duration::from_secs(4)).await;
    let text = http::get(addr, "/live/tone/opus-96.m3u8", None).await.text();
    assert!(text.contains("#EXT-X-MAP:URI=\"opus-96/init.mp4\""), "{text}");
    let playlist = parse_media(&text);
    let init = http::get(addr, "/live/tone/opus-96/init.mp4", None).await;
    assert_eq!(mp4_boxes(&init.body), ["ftyp", "moov"]);
    assert!(init.body.windows(4).any(|w| w == b"dOps"), "an Opus sample entry");
    let mut whole = init.body.clone();
    for (_, _, uri) in &playlist.segments {
        whole.extend_from_slice(&http::get(addr, &format!("/live/tone/{uri}"), None).await.body);
    }
    let file = dir.path().join("opus.mp4");
    std::fs::write(&file, &whole).expect("write");
    let probe = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-show_entries", "stream=codec_name,sample_rate:packet=pts", "-of", "csv=p=0"])
        .arg(&file)
        .output()
        .expect("ffprobe");
    let text = String::from_utf8_lossy(&probe.stdout);
    assert!(probe.status.success() && text.contains("opus,48000"), "{text}{}", String::from_utf8_lossy(&probe.stderr));
    let pts: Vec<i64> = text.lines().filter_map(|l| l.trim_end_matches(',').parse().ok()).collect();
    assert!(pts.len() >= playlist.segments.len() * 50, "{} packets", pts.len());
    assert!(pts.windows(2).all(|w| w[1] - w[0] == 960), "20 ms packets one after the other");

    let out = ffmpeg.await.expect("join").expect("ffmpeg in time").expect("ffmpeg");
    assert!(out.status.success() && out.stderr.is_empty(), "ffmpeg: {}", String::from_utf8_lossy(&out.stderr));
    let samples = left_channel(&out.stdout);
    assert!(samples.len() >= 5 * 48000, "{} samples for 6 s", samples.len());
    let rms_db = rms_db(&samples[48000..]);
    assert!((rms_db - -23.01).abs() < 0.5, "the tone at {rms_db:.2} dB RMS through Opus");

    // hls.js in Chromium plays the Opus variant.
    let script = format!("{}/tests/browser/hls_latency.mjs", env!("CARGO_MANIFEST_DIR"));
    let node = tokio::process::Command::new("node").arg(script).arg(&url).output();
    let out = tokio::time::timeout(Duration::from_secs(90), node).await.expect("in time").expect("node");
    assert!(out.status.success(), "{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    server.shutdown().await;
}
