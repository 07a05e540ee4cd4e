//! What a client may make the server read, for items (on demand) and channels (live) alike:
//! - files only under the operator's roots (`live.media_roots`, the data directory), checked
//!   on the file actually opened ([`open_file`]): a path checked once and opened later could
//!   have become a link to anywhere in between;
//! - URIs only http(s), never to the server itself, nor to loopback, private or link-local
//!   addresses unless the operator allows them ([`Egress`]). The address is checked when the
//!   name is resolved here and again on the address actually connected to, when the download
//!   goes through [`crate::media::gst::fetch`]'s guard, so a name whose address changes in
//!   between (DNS rebinding) reaches nothing it may not.
//!
//! Messages name what was refused (callers say which field it came from); a missing path gets the same answer
//! as one outside the roots (whether a file exists on the server is none of a client's
//! business).

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

/// Where a client's URIs may lead.
#[derive(Clone, Copy, Debug)]
pub struct Egress {
    /// Loopback, private and link-local addresses allowed (`live.api_private_uris`).
    pub allow_private: bool,
    /// The address this server listens on: never a source (it would wait on itself).
    pub server: SocketAddr,
}

impl Egress {
    /// Checks `uri`'s scheme and every address its host resolves to; returns the host and port
    /// it names. Blocking (it resolves the name).
    pub fn check_uri(&self, uri: &str) -> Result<(String, u16), String> {
        let scheme = crate::media::input::uri_scheme(uri).unwrap_or_default().to_ascii_lowercase();
        if scheme != "http" && scheme != "https" {
            return Err(format!("`{scheme}://` URIs are not allowed through the API (http and https only)"));
        }
        let authority = uri.split_once("://").map_or("", |(_, rest)| rest).split(['/', '?', '#']).next().unwrap_or("");
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
        let default_port = if scheme == "https" { 443 } else { 80 };
        let (host, port) =
            split_host_port(host_port, default_port).ok_or_else(|| format!("`{uri}` has no valid host"))?;
        let addrs: Vec<SocketAddr> =
            (host.as_str(), port).to_socket_addrs().map_err(|e| format!("cannot resolve `{host}`: {e}"))?.collect();
        if addrs.is_empty() {
            return Err(format!("`{host}` has no address"));
        }
        for addr in addrs {
            self.check_address(&host, addr)?;
        }
        Ok((host, port))
    }

    /// Checks one address `host` leads to (resolved, or connected to).
    pub fn check_address(&self, host: &str, addr: SocketAddr) -> Result<(), String> {
        let ip = canonical(addr.ip());
        let server = self.server;
        let is_server = addr.port() == server.port() && (ip.is_loopback() || ip.is_unspecified() || ip == server.ip());
        if is_server {
            return Err(format!(
                "`{host}` is this server itself (a source cannot be the server's own streams: it would wait on itself)"
            ));
        }
        if !self.allow_private && !is_public(ip) {
            return Err(format!(
                "`{host}` is a loopback, private or link-local address ({ip}), not allowed through the API (live.api_private_uris = false)"
            ));
        }
        Ok(())
    }
}

/// The answer for a path that is not a readable file under `roots`.
fn outside(path: &Path, roots: &[PathBuf]) -> String {
    let roots: Vec<String> = roots.iter().map(|r| r.display().to_string()).collect();
    format!("`{}` is not under a media root ({})", path.display(), roots.join(", "))
}

fn no_roots() -> String {
    "files are not allowed through the API (live.media_roots is empty)".into()
}

/// `path` with links and `..` resolved, if that is a file under one of `roots`: what a client
/// names as a source. Where the file is read, [`open_file`] checks again.
pub fn check_file(path: &Path, roots: &[PathBuf]) -> Result<PathBuf, String> {
    if roots.is_empty() {
        return Err(no_roots());
    }
    // Relative paths would be relative to the server's working directory: not a root.
    if !path.is_absolute() {
        return Err(outside(path, roots));
    }
    let real = std::fs::canonicalize(path).map_err(|_| outside(path, roots))?;
    if under_roots(&real, roots) { Ok(real) } else { Err(outside(path, roots)) }
}

fn under_roots(real: &Path, roots: &[PathBuf]) -> bool {
    roots.iter().filter_map(|r| std::fs::canonicalize(r).ok()).any(|root| real.starts_with(root))
}

/// A file opened for reading and found, once open, to be a regular file under the roots it was
/// checked against. Readers that open by path themselves (GStreamer's `filesrc`) are given
/// [`OpenedFile::path`], which names this very file whatever becomes of its path meanwhile.
#[derive(Debug)]
pub struct OpenedFile {
    file: std::fs::File,
}

impl OpenedFile {
    /// A path to the opened file, valid in this process while `self` lives.
    pub fn path(&self) -> PathBuf {
        use std::os::fd::AsRawFd;
        PathBuf::from(format!("/proc/self/fd/{}", self.file.as_raw_fd()))
    }
}

/// Opens `path` if what is opened is a regular file under one of `roots` (checked on the open
/// file, so a path swapped for a link after an earlier check is caught). Never blocks on a
/// FIFO or device.
pub fn open_file(path: &Path, roots: &[PathBuf]) -> Result<OpenedFile, String> {
    use std::os::unix::fs::OpenOptionsExt;
    if roots.is_empty() {
        return Err(no_roots());
    }
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .map_err(|_| outside(path, roots))?;
    let regular = file.metadata().map(|m| m.is_file()).unwrap_or(false);
    let opened = OpenedFile { file };
    // Where the open descriptor's file is, links resolved: what is read, whatever the path.
    let real = std::fs::read_link(opened.path()).map_err(|_| outside(path, roots))?;
    if !regular || !under_roots(&real, roots) {
        return Err(outside(path, roots));
    }
    Ok(opened)
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

    const SERVER: &str = "127.0.0.1:8000";

    fn egress(allow_private: bool) -> Egress {
        Egress { allow_private, server: SERVER.parse().expect("addr") }
    }

    #[test]
    fn ipv4_written_as_ipv6_is_checked_as_ipv4() {
        for uri in ["http://[::ffff:127.0.0.1]:8000/x", "http://[::127.0.0.1]:8000/x"] {
            let err = egress(true).check_uri(uri).expect_err("this server");
            assert!(err.contains("this server itself"), "{uri}: {err}");
        }
        for uri in ["http://[::127.0.0.1]/x", "http://[::ffff:10.0.0.1]/x", "http://[::192.168.1.1]/x"] {
            let err = egress(false).check_uri(uri).expect_err("private");
            assert!(err.contains("private"), "{uri}: {err}");
        }
        assert!(is_public("93.184.216.34".parse().expect("ip")));
    }

    #[test]
    fn a_missing_file_and_one_outside_the_roots_get_one_answer() {
        let dir = tempfile::tempdir().expect("tmp");
        let roots = vec![dir.path().join("root")];
        std::fs::create_dir_all(&roots[0]).expect("mkdir");
        let missing = check_file(Path::new("/no/such/file.wav"), &roots).expect_err("missing");
        let outside = check_file(Path::new("/etc/hostname"), &roots).expect_err("outside");
        assert_eq!(missing.replace("/no/such/file.wav", "X"), outside.replace("/etc/hostname", "X"));
        let missing = open_file(Path::new("/no/such/file.wav"), &roots).expect_err("missing");
        assert_eq!(missing.replace("/no/such/file.wav", "X"), outside.replace("/etc/hostname", "X"));
    }

    /// 23.20: a file checked when its item was made and swapped for a link afterwards is
    /// refused where it is opened; the opened file is read through its descriptor whatever
    /// happens to its path; FIFOs are refused without blocking.
    #[test]
    fn files_are_checked_on_what_is_opened() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path().join("root");
        std::fs::create_dir_all(&root).expect("mkdir");
        let roots = vec![root.clone()];
        let file = root.join("a.wav");
        std::fs::write(&file, b"RIFF-the-audio").expect("write");
        assert_eq!(check_file(&file, &roots), Ok(std::fs::canonicalize(&file).expect("real")));
        let opened = open_file(&file, &roots).expect("inside");
        std::fs::remove_file(&file).expect("rm");
        std::os::unix::fs::symlink("/etc/passwd", &file).expect("symlink");
        assert_eq!(std::fs::read(opened.path()).expect("read"), b"RIFF-the-audio", "the opened file is read");
        let err = open_file(&file, &roots).expect_err("swapped for a link");
        assert!(err.contains("not under a media root"), "{err}");
        // A link within the roots is fine: what counts is where the file is.
        std::fs::write(root.join("b.wav"), b"RIFF").expect("write");
        std::os::unix::fs::symlink(root.join("b.wav"), root.join("c.wav")).expect("symlink");
        assert!(open_file(&root.join("c.wav"), &roots).is_ok());
        let fifo = root.join("fifo.wav");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().expect("mkfifo").success());
        let err = open_file(&fifo, &roots).expect_err("fifo");
        assert!(err.contains("not under a media root"), "{err}");
        assert!(open_file(&root, &roots).is_err(), "a folder is not a file");
    }

    #[test]
    fn uris_only_http_and_never_the_server_itself() {
        for (uri, why) in [
            ("rtsp://example.org/x", "http and https only"),
            ("http://127.0.0.1:8000/live/demo.mp3", "this server itself"),
            ("http://localhost:8000/live/demo.mp3", "this server itself"),
            ("http://127.0.0.1:9000/x.mp3", "loopback, private"),
            ("http://10.1.2.3/x.mp3", "loopback, private"),
            ("http://169.254.169.254/latest/meta-data", "loopback, private"),
            ("http://[::1]:9000/x", "loopback, private"),
            ("http://user:pw@192.168.1.1/x", "loopback, private"),
        ] {
            let err = egress(false).check_uri(uri).expect_err(uri);
            assert!(err.contains(why), "{uri}: {err}");
        }
        assert_eq!(egress(true).check_uri("http://127.0.0.1:9000/x.mp3"), Ok(("127.0.0.1".into(), 9000)));
        let err = egress(true).check_uri("http://127.0.0.1:8000/live/demo.mp3").expect_err("self");
        assert!(err.contains("this server itself"), "{err}");
    }
}
