//! What a channel created over the network (the API) may play. The config file is the
//! operator's and trusted as it is; a client's channel may reach nothing the operator did not
//! configure:
//! - `launch:` descriptions only when `live.api_launch_sources` is on, and then only graphs
//!   whose every element is in [`LAUNCH_ALLOWED`] (checked on the parsed graph);
//! - files and URIs as [`crate::media::admission`] allows them (`live.media_roots`,
//!   `live.api_private_uris`): the rules items follow too.
//!
//! Limits: a channel plays its URI through GStreamer, which resolves the host again when it
//! connects, so a name whose address changes in between (DNS rebinding) is not caught here
//! (item downloads are: they go through the fetch guard); operators who need that guarantee
//! for channels keep `api_private_uris` off and filter egress at the firewall.

use super::config::LiveConfig;
use crate::media::Input;
use crate::media::admission::{Egress, check_file};
use std::net::SocketAddr;

/// Elements a launch description from the API may contain: test sources, parsers, demuxers,
/// decoders, depayloaders, converters and queues. No sinks, no element that reads or writes
/// files or opens a connection (`filesrc`, `souphttpsrc`, `tcp*`, `udp*`, `uridecodebin`, ...),
/// no capture device, no `tee` (a branch could go anywhere), no `queue2` (it can spill to disk).
pub const LAUNCH_ALLOWED: &[&str] = &[
    // the containers the parser makes
    "pipeline",
    "bin",
    // sources that make their own signal
    "audiotestsrc",
    // caps, conversion, timing
    "capsfilter",
    "audioconvert",
    "audioresample",
    "audiorate",
    "audiobuffersplit",
    "volume",
    "audiopanorama",
    "audioamplify",
    "audiochebband",
    "audiocheblimit",
    "audiowsincband",
    "audiowsinclimit",
    "queue",
    // parsers and demuxers
    "rawaudioparse",
    "wavparse",
    "mpegaudioparse",
    "aacparse",
    "flacparse",
    "opusparse",
    "vorbisparse",
    "oggdemux",
    "matroskademux",
    "qtdemux",
    "typefind",
    "decodebin",
    // decoders
    "mpg123audiodec",
    "avdec_mp3",
    "avdec_aac",
    "faad",
    "flacdec",
    "opusdec",
    "vorbisdec",
    "alawdec",
    "mulawdec",
    // RTP depayloaders (useful only behind a source, which must be configured)
    "rtpopusdepay",
    "rtpmpadepay",
    "rtpmp4adepay",
    "rtpL16depay",
    "rtpL24depay",
    "rtpjitterbuffer",
];

/// Checks the source of a channel a client asked for; `server` is the address the server
/// listens on. Blocking (it may parse a launch line and resolve a host name).
pub fn check_source(source: &str, live: &LiveConfig, server: SocketAddr) -> Result<(), String> {
    if source == super::PUSH_SOURCE || source == "demo" {
        return Ok(());
    }
    match Input::parse(source) {
        Input::Launch(desc) => check_launch(&desc, live),
        Input::File(path) => check_file(&path, &live.media_roots).map(|_| ()).map_err(|e| format!("source: {e}")),
        Input::Uri(uri) => Egress { allow_private: live.api_private_uris, server }
            .check_uri(&uri)
            .map(|_| ())
            .map_err(|e| format!("source: {e}")),
    }
}

fn check_launch(desc: &str, live: &LiveConfig) -> Result<(), String> {
    if !live.api_launch_sources {
        return Err(
            "source: `launch:` sources are not allowed through the API (live.api_launch_sources = false)".into()
        );
    }
    let elements = crate::media::gst::launch_elements(desc).map_err(|e| format!("source: {e}"))?;
    let refused: Vec<&str> =
        elements.iter().map(String::as_str).filter(|e| !LAUNCH_ALLOWED.contains(e)).collect::<Vec<_>>();
    if !refused.is_empty() {
        return Err(format!(
            "source: element{} {} not allowed in launch sources from the API (allowed: {})",
            if refused.len() > 1 { "s" } else { "" },
            refused.iter().map(|e| format!("`{e}`")).collect::<Vec<_>>().join(", "),
            LAUNCH_ALLOWED[2..].join(", ")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> LiveConfig {
        crate::live::config::shipped_live_config()
    }

    const SERVER: &str = "127.0.0.1:8000";

    #[test]
    fn launch_sources_from_the_api_are_refused_by_default() {
        let err = check_source("launch:audiotestsrc", &live(), SERVER.parse().expect("addr")).expect_err("refused");
        assert!(err.contains("api_launch_sources"), "{err}");
    }

    #[test]
    fn launch_graphs_may_hold_only_allowed_elements() {
        let mut live = live();
        live.api_launch_sources = true;
        let server = SERVER.parse().expect("addr");
        assert_eq!(check_source("launch:audiotestsrc is-live=true ! audioconvert", &live, server), Ok(()));
        // The attacks from the review: copy a file, send it out, download a payload. Also
        // hidden in a bin, and with the element named differently from its factory.
        for desc in [
            "filesrc location=/etc/shadow ! filesink location=/tmp/x",
            "audiotestsrc ! tcpclientsink host=127.0.0.1 port=9",
            "souphttpsrc location=http://127.0.0.1:1/p ! filesink location=/tmp/p",
            "bin.( filesrc name=audiotestsrc location=/etc/passwd ! decodebin )",
            "audiotestsrc ! tee name=t t. ! queue ! audioconvert t. ! queue ! fakesink",
            "uridecodebin uri=file:///etc/passwd",
        ] {
            let err = check_source(&format!("launch:{desc}"), &live, server).expect_err(desc);
            assert!(err.contains("not allowed"), "{desc}: {err}");
        }
        let err = check_source("launch:nosuchelement ! audioconvert", &live, server).expect_err("unknown");
        assert!(err.contains("nosuchelement"), "{err}");
    }

    #[test]
    fn files_only_under_media_roots() {
        let root = tempfile::tempdir().expect("tmp");
        let file = root.path().join("a.wav");
        std::fs::write(&file, b"RIFF").expect("write");
        let mut live = live();
        let server = SERVER.parse().expect("addr");
        let err = check_source(&file.display().to_string(), &live, server).expect_err("no roots");
        assert!(err.contains("media_roots"), "{err}");
        live.media_roots = vec![root.path().to_path_buf()];
        assert_eq!(check_source(&file.display().to_string(), &live, server), Ok(()));
        assert_eq!(check_source(&format!("file://{}", file.display()), &live, server), Ok(()));
        for outside in ["/etc/passwd".to_string(), format!("{}/../../etc/passwd", root.path().display())] {
            let err = check_source(&outside, &live, server).expect_err(&outside);
            assert!(err.contains("not under a media root") || err.contains("No such file"), "{err}");
        }
        // A link inside a root that points outside it.
        let link = root.path().join("link.wav");
        std::os::unix::fs::symlink("/etc/passwd", &link).expect("symlink");
        let err = check_source(&link.display().to_string(), &live, server).expect_err("link");
        assert!(err.contains("not under a media root"), "{err}");
    }

    /// Channel URIs follow `media::admission`'s rules (tested there), with live's settings.
    #[test]
    fn uris_follow_the_item_rules_with_live_settings() {
        let mut live = live();
        let server = SERVER.parse().expect("addr");
        for (uri, why) in [
            ("rtsp://example.org/x", "source: `rtsp://` URIs"),
            ("file:///etc/passwd", "media_roots"),
            ("http://10.1.2.3/x.mp3", "live.api_private_uris = false"),
        ] {
            let err = check_source(uri, &live, server).expect_err(uri);
            assert!(err.contains(why), "{uri}: {err}");
        }
        live.api_private_uris = true;
        assert_eq!(check_source("http://127.0.0.1:9000/x.mp3", &live, server), Ok(()));
        let err = check_source("http://127.0.0.1:8000/live/demo.mp3", &live, server).expect_err("self");
        assert!(err.contains("this server itself"), "{err}");
    }
}
