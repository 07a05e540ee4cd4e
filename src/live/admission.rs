//! What a channel created over the network (the API) may play. The config file is the
//! operator's and trusted as it is; a client's channel may reach nothing the operator did not
//! configure:
//! - `launch:` descriptions only when `live.api_launch_sources` is on, and then only graphs
//!   whose every element is in [`LAUNCH_ALLOWED`] (checked on the parsed graph);
//! - files only under `live.media_roots` (after resolving links and `..`);
//! - URIs only http(s), never to the server itself, nor to loopback, private or link-local
//!   addresses unless `live.api_private_uris` is on.
//!
//! Limits: a host name is resolved here and again by GStreamer when it connects, so a name
//! whose address changes in between (DNS rebinding) is not caught; operators who need that
//! guarantee keep `api_private_uris` off and filter egress at the firewall.

use super::config::LiveConfig;
use crate::media::Input;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::Path;

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
        Input::File(path) => check_file(&path, &live.media_roots),
        Input::Uri(uri) => check_uri(&uri, live.api_private_uris, server),
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

pub fn check_file(path: &Path, roots: &[std::path::PathBuf]) -> Result<(), String> {
    if roots.is_empty() {
        return Err("source: files are not allowed through the API (live.media_roots is empty)".into());
    }
    let outside = || {
        let roots: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
        format!("source: `{}` is not under a media root ({})", path.display(), roots.join(", "))
    };
    // Relative paths would be relative to the server's working directory: not a root.
    if !path.is_absolute() {
        return Err(outside());
    }
    // Links and `..` resolved: what is checked is what would be opened. A path that does not
    // exist gets the same answer as one outside the roots: whether a file exists on the server
    // is none of a client's business.
    let real = std::fs::canonicalize(path).map_err(|_| outside())?;
    let inside = roots.iter().filter_map(|r| std::fs::canonicalize(r).ok()).any(|root| real.starts_with(root));
    if inside { Ok(()) } else { Err(outside()) }
}

pub fn check_uri(uri: &str, allow_private: bool, server: SocketAddr) -> Result<(), String> {
    let scheme = crate::media::input::uri_scheme(uri).unwrap_or_default().to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(format!("source: `{scheme}://` URIs are not allowed through the API (http and https only)"));
    }
    let authority = uri.split_once("://").map_or("", |(_, rest)| rest).split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let default_port = if scheme == "https" { 443 } else { 80 };
    let (host, port) =
        split_host_port(host_port, default_port).ok_or_else(|| format!("source: `{uri}` has no valid host"))?;
    let addrs: Vec<SocketAddr> =
        (host.as_str(), port).to_socket_addrs().map_err(|e| format!("source: cannot resolve `{host}`: {e}"))?.collect();
    if addrs.is_empty() {
        return Err(format!("source: `{host}` has no address"));
    }
    for addr in addrs {
        let ip = canonical(addr.ip());
        let is_server = port == server.port() && (ip.is_loopback() || ip.is_unspecified() || ip == server.ip());
        if is_server {
            return Err(format!(
                "source: `{uri}` is this server itself (a channel cannot play its own streams: it would wait on itself)"
            ));
        }
        if !allow_private && !is_public(ip) {
            return Err(format!(
                "source: `{host}` is a loopback, private or link-local address ({ip}), not allowed through the API (live.api_private_uris = false)"
            ));
        }
    }
    Ok(())
}

/// `host[:port]` or `[v6][:port]`.
fn split_host_port(text: &str, default_port: u16) -> Option<(String, u16)> {
    let (host, port) = if let Some(rest) = text.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match text.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (text, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => default_port,
    };
    (!host.is_empty()).then(|| (host.to_string(), port))
}

/// IPv4 written as IPv6 (`::ffff:a.b.c.d`, and the deprecated `::a.b.c.d`) as the IPv4
/// address it reaches, so that every check sees what is connected to.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) if v6.to_ipv4_mapped().is_some() => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V6(v6) if v6.segments()[..6].iter().all(|s| *s == 0) && !v6.is_loopback() && !v6.is_unspecified() => {
            v6.to_ipv4().map_or(ip, IpAddr::V4)
        }
        other => other,
    }
}

fn is_public(ip: IpAddr) -> bool {
    let ip = canonical(ip);
    match ip {
        IpAddr::V4(v4) => {
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.octets()[0] == 0
                // carrier-grade NAT 100.64/10
                || (v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64))
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local
                || (first & 0xffc0) == 0xfe80) // link-local
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> LiveConfig {
        crate::live::config::shipped_live_config()
    }

    const SERVER: &str = "127.0.0.1:8000";

    #[test]
    fn ipv4_written_as_ipv6_is_checked_as_ipv4() {
        let server: SocketAddr = SERVER.parse().expect("addr");
        for uri in ["http://[::ffff:127.0.0.1]:8000/x", "http://[::127.0.0.1]:8000/x"] {
            let err = check_uri(uri, true, server).expect_err("this server");
            assert!(err.contains("this server itself"), "{uri}: {err}");
        }
        for uri in ["http://[::127.0.0.1]/x", "http://[::ffff:10.0.0.1]/x", "http://[::192.168.1.1]/x"] {
            let err = check_uri(uri, false, server).expect_err("private");
            assert!(err.contains("private"), "{uri}: {err}");
        }
    }

    #[test]
    fn a_missing_file_and_one_outside_the_roots_get_one_answer() {
        let dir = tempfile::tempdir().expect("tmp");
        let roots = vec![dir.path().join("root")];
        std::fs::create_dir_all(&roots[0]).expect("mkdir");
        let missing = check_file(Path::new("/no/such/file.wav"), &roots).expect_err("missing");
        let outside = check_file(Path::new("/etc/hostname"), &roots).expect_err("outside");
        assert_eq!(missing.replace("/no/such/file.wav", "X"), outside.replace("/etc/hostname", "X"));
    }

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

    #[test]
    fn uris_only_http_and_never_the_server_itself() {
        let mut live = live();
        let server = SERVER.parse().expect("addr");
        for (uri, why) in [
            ("rtsp://example.org/x", "http and https only"),
            ("file:///etc/passwd", "media_roots"),
            ("http://127.0.0.1:8000/live/demo.mp3", "this server itself"),
            ("http://localhost:8000/live/demo.mp3", "this server itself"),
            ("http://127.0.0.1:9000/x.mp3", "loopback, private"),
            ("http://10.1.2.3/x.mp3", "loopback, private"),
            ("http://169.254.169.254/latest/meta-data", "loopback, private"),
            ("http://[::1]:9000/x", "loopback, private"),
            ("http://user:pw@192.168.1.1/x", "loopback, private"),
        ] {
            let err = check_source(uri, &live, server).expect_err(uri);
            assert!(err.contains(why), "{uri}: {err}");
        }
        live.api_private_uris = true;
        assert_eq!(check_source("http://127.0.0.1:9000/x.mp3", &live, server), Ok(()));
        let err = check_source("http://127.0.0.1:8000/live/demo.mp3", &live, server).expect_err("self");
        assert!(err.contains("this server itself"), "{err}");
        assert!(is_public("93.184.216.34".parse().expect("ip")));
    }
}
