//! Credentials: the API's bearer token and source clients' passwords, compared in constant
//! time, and [`FailedLogins`], which logs every refused credential with the client's address
//! and answers 429 to an address that keeps guessing.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Refused credentials an address may send within [`WINDOW`] ...
pub const MAX_FAILURES: u32 = 10;
pub const WINDOW: Duration = Duration::from_secs(10);
/// ... before all its logins are answered 429 for this long.
pub const BLOCK_FOR: Duration = Duration::from_secs(60);
/// Addresses tracked at once; past that the stale ones are forgotten first, then the oldest.
const MAX_TRACKED: usize = 10_000;

/// Whether `given` is `expected`, in a time that depends on neither (no early return on the
/// first difference, nor on a difference of length): both are hashed, and the digests compared
/// byte by byte in full.
fn secrets_equal(given: &[u8], expected: &[u8]) -> bool {
    let (a, b) = (Sha256::digest(given), Sha256::digest(expected));
    a.iter().zip(b.iter()).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// The token of an `Authorization: Bearer <token>` header; the scheme name is
/// case-insensitive (RFC 7235).
pub fn bearer_token(header: Option<&str>) -> Option<&str> {
    let (scheme, token) = header?.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The password of an `Authorization: Basic <base64 user:password>` header (the user name is
/// not checked, as Icecast's default `source` user); the scheme name is case-insensitive.
pub fn basic_password(header: Option<&str>) -> Option<String> {
    let (scheme, encoded) = header?.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(base64_decode(encoded)?).ok()?;
    decoded.split_once(':').map(|(_, p)| p.to_string())
}

/// Decodes standard base64.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0);
    for c in text.trim().bytes().filter(|&c| c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c)? as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

struct Failures {
    window_start: Instant,
    count: u32,
    blocked_until: Option<Instant>,
}

/// Refused logins per client address (source clients, `/admin/metadata`, API writes alike).
#[derive(Default)]
pub struct FailedLogins {
    by_address: Mutex<HashMap<IpAddr, Failures>>,
}

/// Why a login was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// The address sent too many wrong secrets lately: 429, its secret is not looked at.
    TooManyFailures,
    /// Missing or wrong secret: 401.
    Wrong,
}

impl FailedLogins {
    /// The one login check: `given` against `expected` (not empty) for a client at `peer`
    /// (`login` names which, in the log). An address that keeps guessing is refused before its
    /// secret is compared; a wrong secret counts against its address.
    pub fn check(&self, peer: Option<IpAddr>, given: &str, expected: &str, login: &str) -> Result<(), Refused> {
        if peer.is_some_and(|p| self.blocked(p)) {
            return Err(Refused::TooManyFailures);
        }
        if secrets_equal(given.as_bytes(), expected.as_bytes()) {
            return Ok(());
        }
        if let Some(p) = peer {
            self.failed(p, login);
        }
        Err(Refused::Wrong)
    }

    /// Starts a password login from `peer`: refused if the address is blocked, else counted
    /// as a failure at once, in the same lock, so that concurrent guesses are all counted
    /// before any is hashed (64 at once from one address: 10 are checked, the rest refused).
    /// [`succeeded`](Self::succeeded) takes the count back.
    pub fn begin(&self, peer: IpAddr, what: &str) -> Result<(), Refused> {
        let mut map = self.by_address.lock().unwrap_or_else(|e| e.into_inner());
        if map.get(&peer).and_then(|f| f.blocked_until).is_some_and(|until| Instant::now() < until) {
            return Err(Refused::TooManyFailures);
        }
        count_failure(&mut map, peer, what);
        Ok(())
    }

    /// A login begun with [`begin`](Self::begin) was right: it does not count.
    pub fn succeeded(&self, peer: IpAddr) {
        let mut map = self.by_address.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = map.get_mut(&peer) {
            f.count = f.count.saturating_sub(1);
            if f.count < MAX_FAILURES {
                f.blocked_until = None;
            }
        }
    }

    /// Whether `peer` is blocked now.
    pub fn blocked(&self, peer: IpAddr) -> bool {
        let map = self.by_address.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&peer).and_then(|f| f.blocked_until).is_some_and(|until| Instant::now() < until)
    }

    /// Records a refused credential from `peer` (`what`: which login) and logs it.
    pub fn failed(&self, peer: IpAddr, what: &str) {
        let mut map = self.by_address.lock().unwrap_or_else(|e| e.into_inner());
        if !count_failure(&mut map, peer, what) {
            tracing::warn!(peer = %peer, login = what, "failed login");
        }
    }
}

/// Counts a failure of `peer` in `map`; whether that blocked the address (which is logged).
fn count_failure(map: &mut HashMap<IpAddr, Failures>, peer: IpAddr, what: &str) -> bool {
    let now = Instant::now();
    if map.len() >= MAX_TRACKED && !map.contains_key(&peer) {
        map.retain(|_, f| now.duration_since(f.window_start) < WINDOW || f.blocked_until.is_some_and(|u| now < u));
        if map.len() >= MAX_TRACKED
            && let Some(oldest) = map.iter().min_by_key(|(_, f)| f.window_start).map(|(ip, _)| *ip)
        {
            map.remove(&oldest);
        }
    }
    let f = map.entry(peer).or_insert(Failures { window_start: now, count: 0, blocked_until: None });
    if now.duration_since(f.window_start) >= WINDOW {
        (f.window_start, f.count) = (now, 0);
    }
    f.count += 1;
    if f.count >= MAX_FAILURES && f.blocked_until.is_none_or(|u| u <= now) {
        f.blocked_until = Some(now + BLOCK_FOR);
        tracing::warn!(peer = %peer, login = what, failures = f.count, block_s = BLOCK_FOR.as_secs(), "too many failed logins: address blocked");
        return true;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_logins_are_counted_before_they_are_checked() {
        let logins = FailedLogins::default();
        let peer: IpAddr = "192.0.2.1".parse().expect("ip");
        let begun = (0..64).filter(|_| logins.begin(peer, "token").is_ok()).count();
        assert_eq!(begun, MAX_FAILURES as usize);
        // A right password among them takes its count back (another address is unaffected).
        let other: IpAddr = "192.0.2.2".parse().expect("ip");
        for _ in 0..3 {
            logins.begin(other, "token").expect("begun");
            logins.succeeded(other);
        }
        assert!(!logins.blocked(other));
    }

    #[test]
    fn secrets_compare_whatever_their_lengths() {
        assert!(secrets_equal(b"hackme", b"hackme"));
        assert!(!secrets_equal(b"hackm", b"hackme"));
        assert!(!secrets_equal(b"", b"hackme"));
        assert!(!secrets_equal(b"hackmf", b"hackme"));
    }

    #[test]
    fn scheme_names_are_case_insensitive() {
        assert_eq!(bearer_token(Some("Bearer abc")), Some("abc"));
        assert_eq!(bearer_token(Some("bearer abc")), Some("abc"));
        assert_eq!(bearer_token(Some("BEARER  abc")), Some("abc"));
        assert_eq!(bearer_token(Some("Basic abc")), None);
        // "source:hackme"
        assert_eq!(basic_password(Some("Basic c291cmNlOmhhY2ttZQ==")).as_deref(), Some("hackme"));
        assert_eq!(basic_password(Some("BASIC c291cmNlOmhhY2ttZQ==")).as_deref(), Some("hackme"));
        assert_eq!(basic_password(None), None);
    }

    #[test]
    fn an_address_that_keeps_guessing_is_blocked_and_others_are_not() {
        let logins = FailedLogins::default();
        let (guesser, other): (IpAddr, IpAddr) = ("10.0.0.1".parse().expect("ip"), "10.0.0.2".parse().expect("ip"));
        for _ in 0..MAX_FAILURES - 1 {
            logins.failed(guesser, "test");
        }
        assert!(!logins.blocked(guesser));
        logins.failed(guesser, "test");
        assert!(logins.blocked(guesser));
        assert!(!logins.blocked(other));
        let other = Some(other);
        assert_eq!(logins.check(Some(guesser), "right", "right", "test"), Err(Refused::TooManyFailures));
        assert_eq!(logins.check(other, "right", "right", "test"), Ok(()));
        assert_eq!(logins.check(other, "wrong", "right", "test"), Err(Refused::Wrong));
    }
}
