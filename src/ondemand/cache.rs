//! The byte-budgeted cache of what the server renders on demand and keeps: complete transcodes
//! (`download/{ext}`) and spectrogram tiles. Everything in it can be made again, so it is
//! bounded (`storage.cache_max_mb`) and the least recently used files go first when a new one
//! would pass the budget; one request may not write more than `storage.cache_max_entry_mb`.
//!
//! "Recently used" is the file's modification time, set when the file is served ([`touch`]):
//! the file system keeps the clock, so a restart loses nothing and several server processes
//! sharing a data directory agree.
//!
//! [`touch`]: DiskCache::touch

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

const MIB: u64 = 1024 * 1024;

#[derive(Clone)]
pub struct DiskCache {
    inner: Arc<Inner>,
}

struct Inner {
    /// The folders the cache owns (each holds one folder per item).
    roots: Vec<PathBuf>,
    budget: u64,
    max_entry: u64,
    /// Bytes in the cache as last counted, plus what was added since (deletions of items make it
    /// an overestimate until the next count: that only makes a count come sooner).
    total: AtomicU64,
    /// One eviction at a time.
    evicting: std::sync::Mutex<()>,
}

/// Why something may not be cached.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{what} would write about {mib} MiB, more than one request may keep ({max} MiB, storage.cache_max_entry_mb)")]
pub struct TooLarge {
    pub what: String,
    pub mib: u64,
    pub max: u64,
}

impl DiskCache {
    /// The cache over `roots`, counting what they hold now; 0 MiB: no budget, no entry cap.
    pub fn open(roots: Vec<PathBuf>, budget_mb: u64, max_entry_mb: u64) -> DiskCache {
        let total = roots.iter().map(|r| files_under(r).iter().map(|(_, len, _)| len).sum::<u64>()).sum();
        DiskCache {
            inner: Arc::new(Inner {
                roots,
                budget: budget_mb * MIB,
                max_entry: max_entry_mb * MIB,
                total: AtomicU64::new(total),
                evicting: Default::default(),
            }),
        }
    }

    /// Refuses a request that would write `bytes` (an upper estimate) into the cache.
    pub fn admit(&self, what: &str, bytes: u64) -> Result<(), TooLarge> {
        let max = self.inner.max_entry;
        if max > 0 && bytes > max {
            return Err(TooLarge { what: what.to_string(), mib: bytes.div_ceil(MIB), max: max / MIB });
        }
        Ok(())
    }

    /// A file was put in place at `path`: counted, and the least recently used files are
    /// removed while the cache is over its budget (never `path` itself). Blocking.
    pub fn added(&self, path: &Path) {
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        let total = self.inner.total.fetch_add(len, Ordering::SeqCst) + len;
        if self.inner.budget > 0 && total > self.inner.budget {
            self.evict(path);
        }
    }

    /// `path` was served: it is now the most recently used.
    pub fn touch(&self, path: &Path) {
        if let Ok(f) = std::fs::File::options().write(true).open(path) {
            let _ = f.set_modified(std::time::SystemTime::now());
        }
    }

    /// Bytes in the cache as last counted.
    pub fn bytes(&self) -> u64 {
        self.inner.total.load(Ordering::SeqCst)
    }

    fn evict(&self, keep: &Path) {
        let _one = self.inner.evicting.lock().unwrap_or_else(|e| e.into_inner());
        let mut files: Vec<(PathBuf, u64, std::time::SystemTime)> =
            self.inner.roots.iter().flat_map(|r| files_under(r)).collect();
        let mut total: u64 = files.iter().map(|(_, len, _)| len).sum();
        files.sort_by_key(|(_, _, used)| *used);
        for (path, len, _) in files {
            if total <= self.inner.budget {
                break;
            }
            if path == keep {
                continue;
            }
            if std::fs::remove_file(&path).is_ok() {
                total -= len;
                tracing::debug!(path = %path.display(), bytes = len, "cache: evicted");
            }
        }
        self.inner.total.store(total, Ordering::SeqCst);
    }
}

/// Every file two levels under `root` (`<root>/<item>/<file>`), with its size and last use.
fn files_under(root: &Path) -> Vec<(PathBuf, u64, std::time::SystemTime)> {
    let mut out = Vec::new();
    let Ok(items) = std::fs::read_dir(root) else { return out };
    for item in items.flatten() {
        let Ok(entries) = std::fs::read_dir(item.path()) else { continue };
        for e in entries.flatten() {
            if let Ok(meta) = e.metadata()
                && meta.is_file()
            {
                out.push((e.path(), meta.len(), meta.modified().unwrap_or(std::time::UNIX_EPOCH)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_least_recently_used_go_first_and_large_entries_are_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let root = dir.path().join("tiles");
        let item = root.join("item");
        std::fs::create_dir_all(&item).expect("mkdir");
        let write = |name: &str| {
            let p = item.join(name);
            std::fs::write(&p, vec![0u8; 400 * 1024]).expect("write");
            p
        };
        let cache = DiskCache::open(vec![root.clone()], 1, 1);
        let (a, b) = (write("a.png"), write("b.png"));
        cache.added(&a);
        cache.added(&b);
        // a was used after b: b is the least recently used when c comes.
        let past = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
        for p in [&a, &b] {
            std::fs::File::options().write(true).open(p).expect("open").set_modified(past).expect("time");
        }
        cache.touch(&a);
        let c = write("c.png");
        cache.added(&c);
        assert!(a.exists() && c.exists() && !b.exists());
        assert!(cache.bytes() <= MIB, "{}", cache.bytes());
        let err = cache.admit("download/wav", 3 * MIB).expect_err("too large");
        assert!(err.to_string().contains("storage.cache_max_entry_mb"), "{err}");
        assert!(cache.admit("tile", 1000).is_ok());
    }
}
