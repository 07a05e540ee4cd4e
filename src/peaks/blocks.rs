//! The file shape the stored visual data share (the peaks pyramid, the coarse spectrogram):
//!
//! ```text
//! header (fixed size, begins with the 4-byte magic; written last, when its counts are known)
//! blocks (deflated, appended as they are made: a writer keeps one block in memory)
//! index  (the format's own: where each block is)
//! footer: index offset:u64, magic (so that a reader finds the index from the end)
//! ```
//!
//! Little-endian throughout.

use std::io::{Seek, Write};
use std::os::unix::fs::FileExt;
use std::path::Path;

const FOOTER_LEN: u64 = 12;
/// Deflate level: 6 is within a few percent of 9's size at a third of its time.
const DEFLATE_LEVEL: u8 = 6;

/// A file being written: blocks go out as they come.
pub struct BlockWriter<W: Write + Seek> {
    out: W,
    written: u64,
}

impl<W: Write + Seek> BlockWriter<W> {
    /// Leaves room for a header of `header_len` bytes.
    pub fn new(mut out: W, header_len: usize) -> std::io::Result<Self> {
        out.write_all(&vec![0u8; header_len])?;
        Ok(BlockWriter { out, written: header_len as u64 })
    }

    /// Deflates and appends a block; its (offset, length) for the index.
    pub fn block(&mut self, raw: &[u8]) -> std::io::Result<(u64, u32)> {
        let packed = miniz_oxide::deflate::compress_to_vec(raw, DEFLATE_LEVEL);
        let at = self.written;
        self.out.write_all(&packed)?;
        self.written += packed.len() as u64;
        Ok((at, packed.len() as u32))
    }

    /// Writes `index`, the footer and then `header` (which begins with `magic`).
    pub fn finish(mut self, index: &[u8], header: &[u8], magic: &[u8; 4]) -> std::io::Result<W> {
        let index_at = self.written;
        self.out.write_all(index)?;
        self.out.write_all(&index_at.to_le_bytes())?;
        self.out.write_all(magic)?;
        self.out.seek(std::io::SeekFrom::Start(0))?;
        self.out.write_all(header)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// An index entry: where a block lies.
pub fn put_block(index: &mut Vec<u8>, (offset, length): (u64, u32)) {
    index.extend(offset.to_le_bytes());
    index.extend(length.to_le_bytes());
}

/// A file opened for reading: its header and index bytes, checked for shape only.
pub struct BlockFile {
    file: std::fs::File,
    what: &'static str,
    pub header: Vec<u8>,
    pub index: Vec<u8>,
    /// Where the index starts: no block may reach past it.
    index_at: u64,
}

impl BlockFile {
    /// Opens `path`, a `what` file (named in errors) of this shape.
    pub fn open(path: &Path, what: &'static str, magic: &[u8; 4], header_len: usize) -> std::io::Result<BlockFile> {
        let invalid = |m: &str| invalid(what, m);
        let file = std::fs::File::open(path)?;
        let len = file.metadata()?.len();
        if len < header_len as u64 + FOOTER_LEN {
            return Err(invalid("file too short"));
        }
        let mut header = vec![0u8; header_len];
        file.read_exact_at(&mut header, 0)?;
        if &header[..4] != magic {
            return Err(invalid("bad magic"));
        }
        let mut footer = [0u8; FOOTER_LEN as usize];
        file.read_exact_at(&mut footer, len - FOOTER_LEN)?;
        let index_at = u64_at(&footer, 0);
        if &footer[8..] != magic || index_at < header_len as u64 || index_at > len - FOOTER_LEN {
            return Err(invalid("bad footer"));
        }
        let mut index = vec![0u8; (len - FOOTER_LEN - index_at) as usize];
        file.read_exact_at(&mut index, index_at)?;
        Ok(BlockFile { file, what, header, index, index_at })
    }

    /// A block's (offset, length) read from the index at `at`, checked to lie before the index.
    pub fn block_at(&self, at: usize) -> std::io::Result<(u64, u32)> {
        let entry = self.index.get(at..at + 12).ok_or_else(|| invalid(self.what, "truncated index"))?;
        let (offset, length) = (u64_at(entry, 0), u32_at(entry, 8));
        if offset + u64::from(length) > self.index_at {
            return Err(invalid(self.what, "block outside the file"));
        }
        Ok((offset, length))
    }

    /// The inflated block at (offset, length), at most `limit` bytes.
    pub fn inflate(&self, (offset, length): (u64, u32), limit: usize) -> std::io::Result<Vec<u8>> {
        let mut packed = vec![0u8; length as usize];
        self.file.read_exact_at(&mut packed, offset)?;
        miniz_oxide::inflate::decompress_to_vec_with_limit(&packed, limit)
            .map_err(|e| invalid(self.what, &format!("block at {offset}: {e:?}")))
    }

    pub fn invalid(&self, message: &str) -> std::io::Error {
        invalid(self.what, message)
    }
}

fn invalid(what: &str, message: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{what}: {message}"))
}

pub fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

pub fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(w)
}
