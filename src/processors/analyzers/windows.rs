//! [`Windows`]: consecutive, non-overlapping windows of a fixed duration over the stream, each
//! with its own accumulator, for the analyzers that report once per window (`dc_offset`,
//! `phase_correlation`).

use crate::media::Block;
use crate::results::FrameMetadata;

pub struct Windows<A: Default> {
    /// Frames per window, and frames in the current one.
    length: u64,
    filled: u64,
    acc: A,
}

impl<A: Default> Windows<A> {
    /// Windows of `seconds` (at least one frame) at `samplerate`.
    pub fn new(seconds: f64, samplerate: u32) -> Self {
        Windows { length: ((seconds * samplerate as f64).round() as u64).max(1), filled: 0, acc: A::default() }
    }

    /// The framing of one value per window.
    pub fn frame_metadata(&self, samplerate: u32) -> FrameMetadata {
        FrameMetadata { samplerate, blocksize: self.length as usize, stepsize: self.length as usize }
    }

    /// Runs `add` on every interleaved frame of `block` and `close` on every window it
    /// completes, with the window's accumulator and frame count. An empty block is the end of
    /// the stream: the last, partial window (if any) is closed.
    pub fn feed(&mut self, block: &Block, mut add: impl FnMut(&mut A, &[f32]), mut close: impl FnMut(A, u64)) {
        if block.is_empty() {
            if self.filled > 0 {
                close(std::mem::take(&mut self.acc), std::mem::take(&mut self.filled));
            }
            return;
        }
        for frame in block.samples.chunks_exact(block.format.channels as usize) {
            add(&mut self.acc, frame);
            self.filled += 1;
            if self.filled == self.length {
                close(std::mem::take(&mut self.acc), std::mem::take(&mut self.filled));
            }
        }
    }
}
