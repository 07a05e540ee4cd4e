//! Decoded audio and where it comes from.
//!
//! Everything downstream of a source sees [`Block`]s: interleaved `f32` samples in a fixed
//! [`AudioFormat`], stamped with the position of their first frame. A [`Source`] produces them —
//! GStreamer for files, URIs and live launch descriptions (`media::gst`, the only module that
//! imports GStreamer), or an in-memory array ([`ArraySource`]) for tests and the API.

pub mod admission;
pub mod adts;
pub mod array;
pub mod broadcast;
pub mod egress;
pub mod fmp4;
pub mod gst;
pub mod hash;
pub mod id3;
pub mod input;
pub mod mpeg_audio;
pub mod mpegts;
pub mod ogg_page;
pub mod riff;
pub mod sink;
pub mod synth;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use array::ArraySource;
pub use input::Input;

/// Sample rate and channel count of decoded audio. Samples are always `f32` in -1..1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioFormat {
    pub samplerate: u32,
    pub channels: u16,
}

/// A run of decoded frames: `samples.len() == frames * channels`, interleaved.
#[derive(Clone, Debug)]
pub struct Block {
    /// Position of the first frame, in frames since the start of the media (not of the segment).
    pub frame: u64,
    pub samples: Vec<f32>,
    pub format: AudioFormat,
}

impl Block {
    pub fn frames(&self) -> usize {
        self.samples.len() / self.format.channels.max(1) as usize
    }

    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

/// How to decode: segment, output format and block size. Zero means "as the source is".
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct DecodeOptions {
    /// Start of the segment to decode, in seconds from the start of the media.
    pub start_s: f64,
    /// Length of the segment in seconds; absent means up to the end (or, for a live source,
    /// until stopped).
    pub duration_s: Option<f64>,
    /// Output sample rate in Hz (resampled); 0 keeps the source's rate.
    pub samplerate: u32,
    /// Output channel count (down- or up-mixed); 0 keeps the source's channels.
    pub channels: u16,
    /// Frames per block handed to processors; 0 means the default (4096).
    pub block_size: usize,
    /// Decode at the pace of the clock instead of as fast as possible (a live channel playing
    /// a file). Live sources are paced by themselves. Default false.
    pub realtime: bool,
    /// A file that ends before the duration its container announces (a truncated copy) is
    /// decoded as far as it goes, and the summary says so ([`SourceSummary::truncated`]);
    /// otherwise it is an error. Default false. (Left out of the serialised options when false:
    /// result cache keys made before it existed stay the same.)
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub keep_truncated: bool,
}

pub const DEFAULT_BLOCK_SIZE: usize = 4096;

impl DecodeOptions {
    pub fn block_size(&self) -> usize {
        if self.block_size == 0 { DEFAULT_BLOCK_SIZE } else { self.block_size }
    }

    /// Every problem with these options, as messages naming the option.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.start_s.is_finite() || self.start_s < 0.0 {
            out.push(format!("start_s: must be a finite number >= 0, got {}", self.start_s));
        }
        if let Some(d) = self.duration_s
            && (!d.is_finite() || d <= 0.0)
        {
            out.push(format!("duration_s: must be a finite number > 0, got {d}"));
        }
        if self.samplerate != 0 && !(1000..=768_000).contains(&self.samplerate) {
            out.push(format!("samplerate: must be 0 or 1000..=768000 Hz, got {}", self.samplerate));
        }
        if self.channels > 64 {
            out.push(format!("channels: must be 0..=64, got {}", self.channels));
        }
        if self.block_size > 1 << 20 {
            out.push(format!("block_size: must be at most 1048576 frames, got {}", self.block_size));
        }
        out
    }

    pub fn is_segment(&self) -> bool {
        self.start_s > 0.0 || self.duration_s.is_some()
    }
}

/// What is known about a decoded source once it has been read to the end.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct SourceSummary {
    /// The input as the user gave it (path, URI or launch description).
    pub uri: String,
    /// sha256 of the file bytes, when the source is a file (or a fully read URI).
    pub sha256: Option<String>,
    /// The source's own format before any resampling or channel mixing.
    pub source_samplerate: Option<u32>,
    pub source_channels: Option<u16>,
    pub codec: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// Frames delivered to processors (after segment trimming), in the output format.
    pub frames: u64,
    /// First delivered frame, in frames since the start of the media.
    pub start_frame: u64,
    /// The media ended before the duration its container announces (decoded with
    /// [`DecodeOptions::keep_truncated`]).
    pub truncated: Option<Truncation>,
}

/// How much of a truncated file there was.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Truncation {
    /// Seconds the container announces.
    pub expected_s: f64,
    /// Seconds decoded before the file ended.
    pub decoded_s: f64,
}

/// Anything that yields blocks: a GStreamer pipeline, an array, later a network source client.
pub trait Source: Send {
    /// The output format; known as soon as the source is open.
    fn format(&self) -> AudioFormat;
    /// Expected number of output frames of the segment, when the source can tell (for progress).
    fn expected_frames(&self) -> Option<u64>;
    /// The next block, `None` at the end. Blocks have `block_size` frames except the last.
    fn next_block(&mut self) -> Result<Option<Block>, MediaError>;
    /// Stop early (cancellation or the end of a live run) and release resources.
    fn stop(&mut self);
    /// What was learned while decoding. Call after `next_block` returned `None`.
    fn summary(&mut self) -> Result<SourceSummary, MediaError>;
}

/// Why a source could not be opened or read. Every variant names the input.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("{input}: no such file")]
    NotFound { input: String },
    #[error("{input}: the file is empty")]
    Empty { input: String },
    #[error("{input}: cannot read: {message}")]
    Io { input: String, message: String },
    #[error("{input}: unsupported URI scheme `{scheme}` (this GStreamer installation reads: {supported})")]
    UnsupportedScheme { input: String, scheme: String, supported: String },
    #[error("{input}: invalid launch description: {message}")]
    Launch { input: String, message: String },
    #[error("{input}: {message}")]
    Decode { input: String, message: String },
    #[error("{input}: no audio stream in this media")]
    NoAudio { input: String },
    #[error("{input}: a WAV file without a `data` chunk (truncated or corrupt)")]
    NoWaveData { input: String },
    /// A playlist, a manifest or another format that opens other files or URLs.
    #[error(
        "{input}: `{format}` is a playlist or a format that opens other files or URLs; a file must decode from its own bytes"
    )]
    NotContained { input: String, format: String },
    #[error("{input}: not an audio or video format (its content reads as `{format}`)")]
    NotAudio { input: String, format: String },
    #[error(
        "{input}: truncated or corrupt: the container announces {expected_s:.3} s but decoding stopped at {decoded_s:.3} s"
    )]
    Truncated { input: String, expected_s: f64, decoded_s: f64 },
    #[error("{input}: the segment starts at {start_s:.3} s, at or after the end of the media ({duration_s:.3} s)")]
    SegmentOutOfRange { input: String, start_s: f64, duration_s: f64 },
    #[error("{input}: the decoder stalled (no data for {seconds} s)")]
    Stalled { input: String, seconds: u64 },
    /// A live source gave no audio within the time its caller allowed; it is still open.
    #[error("{input}: no audio yet")]
    NothingYet { input: String },
    #[error("{input}: invalid decode options: {message}")]
    Options { input: String, message: String },
    /// A source the operator's rules do not allow (see `media::admission`).
    #[error("{message}")]
    Refused { input: String, message: String },
    #[error("GStreamer could not be initialised: {0}")]
    Init(String),
}

impl MediaError {
    /// The same error naming its input `name` (how the client knows the file, not its path).
    pub fn named(self, name: &str) -> MediaError {
        use MediaError::*;
        let input = name.to_string();
        match self {
            NotFound { .. } => NotFound { input },
            Empty { .. } => Empty { input },
            Io { message, .. } => Io { input, message },
            UnsupportedScheme { scheme, supported, .. } => UnsupportedScheme { input, scheme, supported },
            Launch { message, .. } => Launch { input, message },
            Decode { message, .. } => Decode { input, message },
            NoAudio { .. } => NoAudio { input },
            NoWaveData { .. } => NoWaveData { input },
            NotContained { format, .. } => NotContained { input, format },
            NotAudio { format, .. } => NotAudio { input, format },
            Truncated { expected_s, decoded_s, .. } => Truncated { input, expected_s, decoded_s },
            SegmentOutOfRange { start_s, duration_s, .. } => SegmentOutOfRange { input, start_s, duration_s },
            Stalled { seconds, .. } => Stalled { input, seconds },
            NothingYet { .. } => NothingYet { input },
            Options { message, .. } => Options { input, message },
            Refused { message, .. } => Refused { input, message },
            Init(message) => Init(message),
        }
    }
}

/// Turns arbitrary-sized runs of interleaved samples into blocks of exactly `block_size` frames
/// (the last one may be shorter). Used by every source so processors see one block size.
#[derive(Debug)]
pub struct Reblocker {
    format: AudioFormat,
    block_size: usize,
    pending: Vec<f32>,
    pending_frame: u64,
}

impl Reblocker {
    pub fn new(format: AudioFormat, block_size: usize) -> Self {
        let cap = block_size * format.channels as usize;
        Reblocker { format, block_size, pending: Vec::with_capacity(cap), pending_frame: 0 }
    }

    /// Appends samples whose first frame is at `frame`; calls `emit` for each full block.
    /// A jump in `frame` (a gap in the source) flushes what is pending first, so each block's
    /// `frame` stays exact.
    pub fn push(&mut self, frame: u64, mut samples: &[f32], emit: &mut impl FnMut(Block)) {
        let ch = self.format.channels as usize;
        if self.pending.is_empty() {
            self.pending_frame = frame;
        } else if frame != self.pending_frame + (self.pending.len() / ch) as u64 {
            self.flush(emit);
            self.pending_frame = frame;
        }
        let block_len = self.block_size * ch;
        while !samples.is_empty() {
            let take = (block_len - self.pending.len()).min(samples.len());
            self.pending.extend_from_slice(&samples[..take]);
            samples = &samples[take..];
            if self.pending.len() == block_len {
                self.flush(emit);
            }
        }
    }

    /// Emits what is pending as a (short) block.
    pub fn flush(&mut self, emit: &mut impl FnMut(Block)) {
        if self.pending.is_empty() {
            return;
        }
        let cap = self.block_size * self.format.channels as usize;
        let samples = std::mem::replace(&mut self.pending, Vec::with_capacity(cap));
        let frames = (samples.len() / self.format.channels as usize) as u64;
        emit(Block { frame: self.pending_frame, samples, format: self.format });
        self.pending_frame += frames;
    }
}

/// The part of a run of interleaved samples starting at `frame` that lies in `segment`
/// (start frame, exclusive end frame), with the frame its first sample is at.
pub fn clip_to_segment(
    frame: u64,
    samples: &[f32],
    channels: usize,
    segment: (u64, Option<u64>),
) -> Option<(u64, &[f32])> {
    let frames = (samples.len() / channels) as u64;
    let start = frame.max(segment.0);
    let end = segment.1.map_or(frame + frames, |e| e.min(frame + frames));
    if start >= end {
        return None;
    }
    let a = ((start - frame) as usize) * channels;
    let b = ((end - frame) as usize) * channels;
    Some((start, &samples[a..b]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reblocker_makes_exact_blocks_and_keeps_positions() {
        let fmt = AudioFormat { samplerate: 8000, channels: 2 };
        let mut r = Reblocker::new(fmt, 4);
        let mut out = Vec::new();
        let data: Vec<f32> = (0..22).map(|i| i as f32).collect(); // 11 frames
        r.push(0, &data[..6], &mut |b| out.push(b));
        r.push(3, &data[6..], &mut |b| out.push(b));
        r.flush(&mut |b| out.push(b));
        let sizes: Vec<usize> = out.iter().map(Block::frames).collect();
        assert_eq!(sizes, vec![4, 4, 3]);
        assert_eq!(out.iter().map(|b| b.frame).collect::<Vec<_>>(), vec![0, 4, 8]);
        assert_eq!(out[1].samples[0], 8.0);
    }

    #[test]
    fn reblocker_restarts_at_gaps() {
        let fmt = AudioFormat { samplerate: 8000, channels: 1 };
        let mut r = Reblocker::new(fmt, 4);
        let mut out = Vec::new();
        r.push(0, &[1.0, 2.0], &mut |b| out.push(b));
        r.push(10, &[3.0, 4.0, 5.0, 6.0], &mut |b| out.push(b));
        r.flush(&mut |b| out.push(b));
        assert_eq!(out.iter().map(|b| (b.frame, b.frames())).collect::<Vec<_>>(), vec![(0, 2), (10, 4)]);
    }
}
