//! sha256 of a file's bytes, fed by the decoder as it reads them, so the file is read once.
//!
//! Demuxers read mostly in order but may jump (MP4 index at the end, ID3v1 tags, duration
//! scans). The hasher takes bytes only where they continue the hashed prefix; whatever the
//! decoder skipped or never reached (a segment that ends early) is read from disk at the end —
//! each byte is read from disk once in the usual case and at most twice when a demuxer seeks.

use sha2::{Digest, Sha256};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

#[derive(Default)]
pub struct ContentHasher {
    hasher: Sha256,
    hashed: u64,
    size: Option<u64>,
}

impl ContentHasher {
    /// A hasher for a file of `size` bytes. Bytes offered past the size are ignored: GStreamer
    /// can hand a pull-mode probe a buffer of the requested length that runs past the end of
    /// the file (seen with oggdemux on short files).
    pub fn for_size(size: u64) -> Self {
        ContentHasher { size: Some(size), ..Default::default() }
    }

    /// Offers bytes read at `offset` (None: right after the previous read, as a pure stream).
    pub fn offer(&mut self, offset: Option<u64>, data: &[u8]) {
        let offset = offset.unwrap_or(self.hashed);
        let mut end = offset + data.len() as u64;
        if let Some(size) = self.size {
            end = end.min(size);
        }
        let data = &data[..end.saturating_sub(offset) as usize];
        if offset <= self.hashed && end > self.hashed {
            let skip = (self.hashed - offset) as usize;
            self.hasher.update(&data[skip..]);
            self.hashed = end;
        }
    }

    pub fn hashed_bytes(&self) -> u64 {
        self.hashed
    }

    /// Reads what was not offered from `path` and returns the hex digest.
    pub fn finish_from_file(mut self, path: &Path) -> std::io::Result<String> {
        let mut file = std::fs::File::open(path)?;
        file.seek(SeekFrom::Start(self.hashed))?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            self.hasher.update(&buf[..n]);
        }
        Ok(hex(&self.hasher.finalize()))
    }

    /// The digest when every byte was offered (a stream read to its end).
    pub fn finish(self) -> String {
        hex(&self.hasher.finalize())
    }
}

/// sha256 of a whole file, read once.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    ContentHasher::default().finish_from_file(path)
}

/// SHA-256 of `data`, in hex (cache keys and content ids alike).
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_order_reads_still_give_the_file_hash() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("f.bin");
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&path, &data).expect("write");
        let mut h = ContentHasher::default();
        h.offer(Some(0), &data[..1000]);
        h.offer(Some(90_000), &data[90_000..]); // a jump to the end: not hashed yet
        h.offer(Some(500), &data[500..3000]); // overlaps the prefix: only the new part counts
        h.offer(None, &data[3000..4000]);
        assert_eq!(h.hashed_bytes(), 4000);
        let mut past_end = ContentHasher::for_size(data.len() as u64);
        past_end.offer(Some(0), &data[..98_000]);
        let mut overlong = data[98_000..].to_vec();
        overlong.extend([0u8; 6500]); // a buffer running past the end of the file: clipped
        past_end.offer(Some(98_000), &overlong);
        assert_eq!(past_end.hashed_bytes(), 100_000);
        assert_eq!(past_end.finish_from_file(&path).expect("hash"), sha256_file(&path).expect("hash"));
        assert_eq!(h.finish_from_file(&path).expect("hash"), sha256_file(&path).expect("hash"));
        assert_eq!(sha256_file(&path).expect("hash"), hex(&Sha256::digest(&data)),);
    }
}
