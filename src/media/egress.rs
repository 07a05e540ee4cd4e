//! The egress guard of a download: a one-use HTTP proxy on loopback through which GStreamer's
//! `souphttpsrc` fetches a client's URL. The guard resolves the host itself, connects, and
//! checks the address it actually connected to against [`Egress`] before a byte of the request
//! leaves; it reaches only the host and port of that one URL. So a name that resolved to a
//! public address when the URL was checked and to a private one when GStreamer connects (DNS
//! rebinding) reaches nothing, and neither does a request for another host.
//!
//! HTTPS goes through as a `CONNECT` tunnel: TLS stays between GStreamer and the server (the
//! certificate is checked against the host name as usual); plain HTTP requests are forwarded
//! with their request line in origin form.

use super::admission::Egress;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Longest wait for a connection, and for bytes either way once connected.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const IO_TIMEOUT: Duration = Duration::from_secs(60);
/// Longest request head accepted from GStreamer.
const MAX_HEAD: usize = 16 * 1024;

/// A running guard; it stops when dropped.
pub struct Guard {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
    /// Why the guard refused a connection, if it did: the download's error says it.
    refused: Arc<Mutex<Option<String>>>,
    accept: Option<std::thread::JoinHandle<()>>,
}

impl Guard {
    /// Starts a guard that lets through connections to `host`:`port` only, on addresses
    /// `egress` allows.
    pub fn start(egress: Egress, host: &str, port: u16) -> std::io::Result<Guard> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let refused = Arc::new(Mutex::new(None));
        let target = Target { egress, host: host.to_ascii_lowercase(), port, refused: refused.clone() };
        let stop2 = stop.clone();
        let accept = std::thread::Builder::new().name("egress-guard".into()).spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let target = target.clone();
                let _ = std::thread::Builder::new().name("egress-conn".into()).spawn(move || target.serve(conn));
            }
        })?;
        Ok(Guard { addr, stop, refused, accept: Some(accept) })
    }

    /// The proxy's URL, for `souphttpsrc`'s `proxy` property.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Why a connection was refused, if one was.
    pub fn refused(&self) -> Option<String> {
        self.refused.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which then sees `stop`.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

#[derive(Clone)]
struct Target {
    egress: Egress,
    host: String,
    port: u16,
    /// The first refusal's reason (the guard's).
    refused: Arc<Mutex<Option<String>>>,
}

impl Target {
    /// Serves one proxy connection: forwards it, or records why not and answers 403.
    fn serve(&self, client: TcpStream) {
        let Ok(mut answer) = client.try_clone() else { return };
        if let Err(why) = self.forward(client) {
            // Recorded before the client hears, so the download's error can say why.
            self.refused.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(why);
            let _ = answer.write_all(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    }

    /// Forwards one proxy connection to the target; an error is why it was refused (nothing
    /// reached the target then).
    fn forward(&self, client: TcpStream) -> Result<(), String> {
        client.set_read_timeout(Some(IO_TIMEOUT)).map_err(|e| e.to_string())?;
        client.set_write_timeout(Some(IO_TIMEOUT)).map_err(|e| e.to_string())?;
        let mut reader = BufReader::new(client.try_clone().map_err(|e| e.to_string())?);
        let head = read_head(&mut reader)?;
        let mut lines = head.iter().map(String::as_str);
        let request_line = lines.next().unwrap_or_default();
        let mut parts = request_line.split(' ');
        let (method, target, version) =
            (parts.next().unwrap_or_default(), parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
        let mut client = client;
        let (authority, forwarded) = if method == "CONNECT" {
            (target.to_string(), None)
        } else {
            let rest = target.strip_prefix("http://").ok_or_else(|| format!("not a proxy request: {request_line}"))?;
            let (authority, path) = rest.find('/').map_or((rest, "/"), |i| (&rest[..i], &rest[i..]));
            let mut forwarded = format!("{method} {path} {version}\r\n");
            for line in lines.filter(|l| !l.to_ascii_lowercase().starts_with("proxy-")) {
                forwarded.push_str(line);
                forwarded.push_str("\r\n");
            }
            forwarded.push_str("\r\n");
            (authority.to_string(), Some(forwarded))
        };
        let default_port = if method == "CONNECT" { 443 } else { 80 };
        let (host, port) = split_authority(&authority, default_port);
        if host.to_ascii_lowercase() != self.host || port != self.port {
            return Err(format!("a connection to `{authority}` was asked for, not to the URL's host"));
        }
        let upstream = self.connect()?;
        let mut up = upstream.try_clone().map_err(|e| e.to_string())?;
        match forwarded {
            None => client.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n").map_err(|e| e.to_string())?,
            Some(head) => up.write_all(head.as_bytes()).map_err(|e| e.to_string())?,
        }
        // Whatever the client sent past the head, then both ways until either side ends.
        let pending = reader.buffer().to_vec();
        up.write_all(&pending).map_err(|e| e.to_string())?;
        let (mut from_client, mut to_client) = (reader.into_inner(), client);
        let mut from_up = upstream;
        let upward = std::thread::spawn(move || {
            let _ = std::io::copy(&mut from_client, &mut up);
            let _ = up.shutdown(Shutdown::Write);
        });
        let _ = std::io::copy(&mut from_up, &mut to_client);
        let _ = to_client.shutdown(Shutdown::Both);
        let _ = upward.join();
        Ok(())
    }

    /// Connects to the first allowed address of the host, checking the address connected to.
    fn connect(&self) -> Result<TcpStream, String> {
        let addrs: Vec<SocketAddr> = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve `{}`: {e}", self.host))?
            .collect();
        let mut why = format!("`{}` has no address", self.host);
        for addr in addrs {
            if let Err(e) = self.egress.check_address(&self.host, addr) {
                why = e;
                continue;
            }
            let stream = match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
                Ok(s) => s,
                Err(e) => {
                    why = format!("cannot connect to `{}` ({addr}): {e}", self.host);
                    continue;
                }
            };
            let connected = stream.peer_addr().map_err(|e| e.to_string())?;
            self.egress.check_address(&self.host, connected)?;
            stream.set_read_timeout(Some(IO_TIMEOUT)).map_err(|e| e.to_string())?;
            stream.set_write_timeout(Some(IO_TIMEOUT)).map_err(|e| e.to_string())?;
            return Ok(stream);
        }
        Err(why)
    }
}

/// The request head's lines (up to the blank line, without line ends), at most [`MAX_HEAD`]
/// bytes.
fn read_head(reader: &mut BufReader<TcpStream>) -> Result<Vec<String>, String> {
    let (mut lines, mut total) = (Vec::new(), 0);
    loop {
        let mut line = String::new();
        let n = reader.by_ref().take(MAX_HEAD as u64).read_line(&mut line).map_err(|e| e.to_string())?;
        total += n;
        if n == 0 || total > MAX_HEAD {
            return Err("the request head is incomplete or too long".into());
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            return Ok(lines);
        }
        lines.push(line.to_string());
    }
}

/// `host[:port]` or `[v6][:port]`, the host without brackets.
fn split_authority(authority: &str, default_port: u16) -> (String, u16) {
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']').unwrap_or((rest, ""));
        let port = after.strip_prefix(':').and_then(|p| p.parse().ok()).unwrap_or(default_port);
        return (host.to_string(), port);
    }
    match authority.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().unwrap_or(default_port)),
        None => (authority.to_string(), default_port),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    /// A loopback HTTP server answering `hello` to every request; counts connections.
    fn origin() -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                counter.fetch_add(1, Ordering::SeqCst);
                let mut reader = BufReader::new(conn.try_clone().expect("clone"));
                let _ = read_head(&mut reader);
                let mut conn = conn;
                let _ = conn.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello");
            }
        });
        (addr, seen)
    }

    fn through(guard: &Guard, request: &str) -> String {
        let mut conn = TcpStream::connect(guard.addr).expect("connect");
        conn.write_all(request.as_bytes()).expect("send");
        let mut reply = String::new();
        let _ = conn.read_to_string(&mut reply);
        reply
    }

    fn egress(allow_private: bool) -> Egress {
        // The server's own address is elsewhere: only the private-address rule is at stake.
        Egress { allow_private, server: "127.0.0.1:1".parse().expect("addr") }
    }

    #[test]
    fn the_guard_forwards_to_its_one_host_on_an_allowed_address() {
        let (addr, seen) = origin();
        let guard = Guard::start(egress(true), "127.0.0.1", addr.port()).expect("guard");
        let reply = through(&guard, &format!("GET http://127.0.0.1:{}/x HTTP/1.1\r\nHost: a\r\n\r\n", addr.port()));
        assert!(reply.starts_with("HTTP/1.1 200") && reply.ends_with("hello"), "{reply}");
        let reply =
            through(&guard, &format!("CONNECT 127.0.0.1:{} HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n", addr.port()));
        assert!(reply.starts_with("HTTP/1.1 200 Connection established") && reply.ends_with("hello"), "{reply}");
        assert_eq!(seen.load(Ordering::SeqCst), 2);
        // Another host or port through the same guard: refused, nothing connected.
        let reply = through(&guard, "GET http://127.0.0.2:80/x HTTP/1.1\r\n\r\n");
        assert!(reply.starts_with("HTTP/1.1 403"), "{reply}");
        let reply = through(&guard, &format!("CONNECT 127.0.0.1:{} HTTP/1.1\r\n\r\n", addr.port() + 1));
        assert!(reply.starts_with("HTTP/1.1 403"), "{reply}");
        assert_eq!(seen.load(Ordering::SeqCst), 2);
        assert!(guard.refused().expect("why").contains("not to the URL's host"));
    }

    /// 23.20: whatever a name resolved to when the URL was checked, the address connected to
    /// is checked again: a loopback address is refused before any byte reaches it.
    #[test]
    fn the_guard_checks_the_address_it_connects_to() {
        let (addr, seen) = origin();
        for host in ["127.0.0.1", "localhost"] {
            let guard = Guard::start(egress(false), host, addr.port()).expect("guard");
            let reply = through(&guard, &format!("GET http://{host}:{}/x HTTP/1.1\r\n\r\n", addr.port()));
            assert!(reply.starts_with("HTTP/1.1 403"), "{reply}");
            let why = guard.refused().expect("why");
            assert!(why.contains("loopback, private or link-local"), "{why}");
        }
        assert_eq!(seen.load(Ordering::SeqCst), 0, "the origin was reached");
        let server = Egress { allow_private: true, server: addr };
        let guard = Guard::start(server, "127.0.0.1", addr.port()).expect("guard");
        let reply = through(&guard, &format!("GET http://127.0.0.1:{}/x HTTP/1.1\r\n\r\n", addr.port()));
        assert!(reply.starts_with("HTTP/1.1 403"), "{reply}");
        assert!(guard.refused().expect("why").contains("this server itself"));
        assert_eq!(seen.load(Ordering::SeqCst), 0, "the server itself was reached");
    }
}
