//! The coarse spectrogram stored for every item (`spectrogram.tssg`): mean power spectra of
//! the mono mix in columns of about [`COLUMN_SECONDS`], so that spectrogram tiles of long
//! windows (up to the whole item) are drawn without decoding it. Tiles short enough to decode
//! are rendered from the audio at full resolution instead.
//!
//! Written while decoding runs, in flat memory: only the block of columns being filled is kept.
//!
//! File layout (little-endian):
//!
//! ```text
//! "TSSG" version:u32 sample_rate:u32 n_fft:u32 frames_per_column:u32 0:u32 columns:u64 (32 bytes)
//! blocks: each BLOCK_COLUMNS columns, deflated; a column is n_fft / 2 + 1 bytes, each bin's
//!         mean power as 2 × (dB + 127.5), clamped to 0..=255 (half-dB steps down to -127.5 dB)
//! index:  blocks:u32, then per block: offset:u64 length:u32
//! footer: index offset:u64 "TSSG"
//! ```
//!
//! An hour at 44.1 kHz is 9690 columns of 513 bins: 5 MB before deflating.

use super::blocks::{BlockFile, BlockWriter, put_block, u32_at, u64_at};
use std::io::{Seek, Write};
use std::path::Path;

/// FFT size (Hann window, no overlap: each column averages many spectra).
pub const N_FFT: usize = 1024;
/// Bins per column.
pub const BINS: usize = N_FFT / 2 + 1;
/// About how long a column is: a ten-minute window (the longest decoded by default) is then
/// still 1600 columns.
pub const COLUMN_SECONDS: f64 = 0.37;
/// Columns per compressed block.
const BLOCK_COLUMNS: usize = 256;
const MAGIC: &[u8; 4] = b"TSSG";
const VERSION: u32 = 1;
const HEADER_LEN: usize = 32;
/// The quietest level stored, dB below full scale.
const FLOOR_DB: f32 = -127.5;

/// Spectra per column at `sample_rate`.
pub fn spectra_per_column(sample_rate: u32) -> u32 {
    ((f64::from(sample_rate) * COLUMN_SECONDS / N_FFT as f64).round() as u32).max(1)
}

fn quantise(power: f32) -> u8 {
    let db = 10.0 * power.max(1e-30).log10();
    ((db - FLOOR_DB) * 2.0).round().clamp(0.0, 255.0) as u8
}

/// Powers of the 256 stored values.
fn power_table() -> [f32; 256] {
    std::array::from_fn(|q| 10f32.powf((q as f32 / 2.0 + FLOOR_DB) / 10.0))
}

/// Builds the file from amplitude spectra of [`N_FFT`] frames, one after the other.
pub struct CoarseSpectrogramWriter<W: Write + Seek> {
    out: BlockWriter<W>,
    sample_rate: u32,
    per_column: u32,
    /// Power sums of the column being filled.
    sums: Vec<f32>,
    in_column: u32,
    columns: u64,
    block: Vec<u8>,
    blocks: Vec<(u64, u32)>,
}

impl<W: Write + Seek> CoarseSpectrogramWriter<W> {
    pub fn new(out: W, sample_rate: u32) -> std::io::Result<Self> {
        Ok(CoarseSpectrogramWriter {
            // The header's column count is known at the end.
            out: BlockWriter::new(out, HEADER_LEN)?,
            sample_rate,
            per_column: spectra_per_column(sample_rate),
            sums: vec![0.0; BINS],
            in_column: 0,
            columns: 0,
            block: Vec::with_capacity(BLOCK_COLUMNS * BINS),
            blocks: Vec::new(),
        })
    }

    /// One amplitude spectrum ([`BINS`] values).
    pub fn push(&mut self, amplitudes: &[f32]) -> std::io::Result<()> {
        for (s, &a) in self.sums.iter_mut().zip(amplitudes) {
            *s += a * a;
        }
        self.in_column += 1;
        if self.in_column == self.per_column { self.close_column() } else { Ok(()) }
    }

    fn close_column(&mut self) -> std::io::Result<()> {
        let n = self.in_column.max(1) as f32;
        self.block.extend(self.sums.iter().map(|s| quantise(s / n)));
        self.sums.fill(0.0);
        self.in_column = 0;
        self.columns += 1;
        if self.block.len() == BLOCK_COLUMNS * BINS { self.write_block() } else { Ok(()) }
    }

    fn write_block(&mut self) -> std::io::Result<()> {
        self.blocks.push(self.out.block(&self.block)?);
        self.block.clear();
        Ok(())
    }

    /// Closes the last column (fewer spectra than the rest) and writes the index; returns the
    /// output and the number of columns.
    pub fn finish(mut self) -> std::io::Result<(W, u64)> {
        if self.in_column > 0 {
            self.close_column()?;
        }
        if !self.block.is_empty() {
            self.write_block()?;
        }
        let mut index = Vec::with_capacity(4 + self.blocks.len() * 12);
        index.extend((self.blocks.len() as u32).to_le_bytes());
        for &block in &self.blocks {
            put_block(&mut index, block);
        }
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend(MAGIC);
        header.extend(VERSION.to_le_bytes());
        header.extend(self.sample_rate.to_le_bytes());
        header.extend((N_FFT as u32).to_le_bytes());
        header.extend((self.per_column * N_FFT as u32).to_le_bytes());
        header.extend(0u32.to_le_bytes());
        header.extend(self.columns.to_le_bytes());
        let columns = self.columns;
        Ok((self.out.finish(&index, &header, MAGIC)?, columns))
    }
}

/// A stored coarse spectrogram, open for reading columns.
pub struct CoarseSpectrogram {
    file: BlockFile,
    pub sample_rate: u32,
    /// Frames of audio per column (the last column may cover fewer).
    pub frames_per_column: u32,
    pub columns: u64,
    blocks: Vec<(u64, u32)>,
}

impl CoarseSpectrogram {
    pub fn open(path: &Path) -> std::io::Result<CoarseSpectrogram> {
        let file = BlockFile::open(path, "coarse spectrogram", MAGIC, HEADER_LEN)?;
        let header = &file.header;
        if u32_at(header, 4) != VERSION {
            return Err(file.invalid(&format!("not a version {VERSION} file")));
        }
        let sample_rate = u32_at(header, 8);
        let frames_per_column = u32_at(header, 16);
        if u32_at(header, 12) != N_FFT as u32 || sample_rate == 0 || frames_per_column == 0 {
            return Err(file.invalid("unsupported header values"));
        }
        let columns = u64_at(header, 24);
        let count = if file.index.len() >= 4 { u32_at(&file.index, 0) as usize } else { 0 };
        if count as u64 != columns.div_ceil(BLOCK_COLUMNS as u64) || file.index.len() != 4 + count * 12 {
            return Err(file.invalid("the index does not match the columns"));
        }
        let blocks = (0..count).map(|k| file.block_at(4 + 12 * k)).collect::<std::io::Result<Vec<_>>>()?;
        Ok(CoarseSpectrogram { file, sample_rate, frames_per_column, columns, blocks })
    }

    /// Calls `each` with the mean powers ([`BINS`] values) of columns `first..first + count`
    /// (clipped to the file), one column at a time: a whole item is read in flat memory.
    pub fn read(&self, first: u64, count: u64, mut each: impl FnMut(&[f32])) -> std::io::Result<()> {
        let table = power_table();
        let end = (first.saturating_add(count)).min(self.columns);
        let mut powers = vec![0f32; BINS];
        let mut column = first;
        while column < end {
            let b = (column / BLOCK_COLUMNS as u64) as usize;
            let raw = self.file.inflate(self.blocks[b], BLOCK_COLUMNS * BINS)?;
            let block_first = b as u64 * BLOCK_COLUMNS as u64;
            let from = (column - block_first) as usize;
            let to = ((end - block_first) as usize).min(raw.len() / BINS);
            if from >= to {
                return Err(self.file.invalid(&format!("block {b} is short")));
            }
            for stored in raw[from * BINS..to * BINS].chunks_exact(BINS) {
                for (p, &q) in powers.iter_mut().zip(stored) {
                    *p = table[usize::from(q)];
                }
                each(&powers);
            }
            column = block_first + to as u64;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_hold_mean_power_in_half_db_steps() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("s.tssg");
        let rate = 44100;
        let per = spectra_per_column(rate) as usize;
        assert_eq!(per, 16, "an even count: half the spectra are half the column");
        let mut w = CoarseSpectrogramWriter::new(std::fs::File::create(&path).expect("create"), rate).expect("writer");
        // Column c: bin 1 at amplitude 1 in every spectrum, bin 2 at 0.1 in half of them; more
        // than a block of columns and a last column with fewer spectra.
        let columns = BLOCK_COLUMNS + 3;
        let spectra = columns * per - per / 2;
        for i in 0..spectra {
            let mut a = vec![0f32; BINS];
            a[1] = 1.0;
            a[2] = if i % 2 == 0 { 0.1 } else { 0.0 };
            w.push(&a).expect("push");
        }
        let (_, count) = w.finish().expect("finish");
        assert_eq!(count as usize, columns);
        let s = CoarseSpectrogram::open(&path).expect("open");
        assert_eq!((s.sample_rate, s.columns, s.frames_per_column as usize), (rate, columns as u64, per * N_FFT));
        let mut seen = 0;
        s.read(BLOCK_COLUMNS as u64 - 2, 4, |p| {
            seen += 1;
            assert!((10.0 * p[1].log10()).abs() < 0.26, "full scale: {}", p[1]);
            // Half the spectra at -20 dB: -23.01 dB on average.
            assert!((10.0 * p[2].log10() + 23.01).abs() < 0.5, "{}", 10.0 * p[2].log10());
            assert!(p[0] <= 10f32.powf(-12.7), "the floor");
        })
        .expect("read");
        assert_eq!(seen, 4, "a window across a block boundary, clipped to the file");
    }

    #[test]
    fn damaged_files_are_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("s.tssg");
        let mut w = CoarseSpectrogramWriter::new(std::fs::File::create(&path).expect("create"), 8000).expect("writer");
        for _ in 0..2000 {
            w.push(&[0.5; BINS]).expect("push");
        }
        w.finish().expect("finish");
        let bytes = std::fs::read(&path).expect("read");
        assert!(CoarseSpectrogram::open(&path).is_ok());
        for cut in [10, bytes.len() / 2, bytes.len() - 1] {
            std::fs::write(&path, &bytes[..cut]).expect("write");
            assert!(CoarseSpectrogram::open(&path).is_err(), "cut at {cut}");
        }
        let mut flipped = bytes.clone();
        flipped[HEADER_LEN + 2] ^= 0xff;
        std::fs::write(&path, &flipped).expect("write");
        // A damaged block: an error or some values, never a panic.
        if let Ok(s) = CoarseSpectrogram::open(&path) {
            let _ = s.read(0, 10, |_| {});
        }
    }
}
