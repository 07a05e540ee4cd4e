//! Counts of what each client address holds at once (anonymous streams), each taken as a
//! guard that gives its place back when dropped, wherever the holder ends.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

#[derive(Default, Clone)]
pub struct PerAddress {
    held: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One place held by an address; dropping it frees the place.
pub struct Held {
    held: Arc<Mutex<HashMap<IpAddr, usize>>>,
    address: IpAddr,
}

impl PerAddress {
    /// A place for `address` if it holds fewer than `max` (0: no limit).
    pub fn take(&self, address: IpAddr, max: usize) -> Option<Held> {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        let n = held.entry(address).or_default();
        if max > 0 && *n >= max {
            return None;
        }
        *n += 1;
        Some(Held { held: self.held.clone(), address })
    }

    /// Places `address` holds now.
    pub fn count(&self, address: IpAddr) -> usize {
        self.held.lock().unwrap_or_else(|e| e.into_inner()).get(&address).copied().unwrap_or(0)
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = held.get_mut(&self.address) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_are_given_back_when_dropped() {
        let p = PerAddress::default();
        let a: IpAddr = "127.0.0.1".parse().expect("ip");
        let b: IpAddr = "::1".parse().expect("ip");
        let first = p.take(a, 2).expect("1");
        let _second = p.take(a, 2).expect("2");
        assert!(p.take(a, 2).is_none());
        assert!(p.take(b, 2).is_some(), "another address has its own count");
        drop(first);
        assert_eq!(p.count(a), 1);
        assert!(p.take(a, 2).is_some());
        assert!(p.take(a, 0).is_some(), "0: no limit");
    }
}
