//! Intermediate features shared by processors: the mono downmix, frames of a given size and
//! hop, and windowed FFT magnitudes. Each distinct parameter set is computed once per block,
//! however many processors ask for it (TimeSide's processor parents, at the feature level).
//!
//! Processors request features while they are built ([`FeatureGraph::request`]); the pipeline
//! then calls [`FeatureGraph::process`] once per block and [`FeatureGraph::flush`] at the end,
//! and processors read what the current block produced.
//!
//! Framing convention: frame `k` covers mono samples `[k*hop, k*hop + size)` counted from the
//! first decoded frame; at the end of the stream frames that start before the end are emitted
//! zero-padded, so every sample is covered.

pub mod mel;
pub mod onset;
pub mod reduce;
pub mod resample;
mod spectrum;
pub mod true_peak;
pub mod window;

use crate::media::Block;
pub use mel::{MelBank, MelScale};
pub use onset::{OdfMethod, OnsetNode};
pub use spectrum::{Complex, SpectrumNode};
use std::collections::HashMap;
pub use window::Window;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FeatureSpec {
    /// Mean of the channels, one sample per frame.
    Mono,
    /// Overlapping frames of the mono signal.
    Frames { size: usize, hop: usize },
    /// Single-sided amplitude spectrum (`size / 2 + 1` bins) of windowed frames, scaled so a
    /// sine of amplitude A centred on a bin reads A.
    Spectrum { size: usize, hop: usize, window: Window },
    /// Mel band energies (sum of weighted squared amplitudes, see [`mel`]) of that spectrum.
    /// `fmax_hz` 0 means Nyquist.
    Mel {
        size: usize,
        hop: usize,
        window: Window,
        samplerate: u32,
        bands: usize,
        fmin_hz: u32,
        fmax_hz: u32,
        scale: MelScale,
    },
    /// One onset detection value per frame (see [`onset`]), from the Hann spectrum (or the
    /// frames, for methods that need the phase).
    Onset { size: usize, hop: usize, method: OdfMethod },
}

/// Handle to a requested feature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeatureId(usize);

/// Frames produced during the current block: `count` rows of `width` values, the first of them
/// being frame number `first_index` of the stream.
#[derive(Debug, Default)]
pub struct FrameBatch {
    data: Vec<f32>,
    width: usize,
    first_index: u64,
}

impl FrameBatch {
    fn new(width: usize) -> Self {
        FrameBatch { data: Vec::new(), width, first_index: 0 }
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn len(&self) -> usize {
        self.data.len() / self.width
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn first_index(&self) -> u64 {
        self.first_index
    }

    pub fn iter(&self) -> std::slice::ChunksExact<'_, f32> {
        self.data.chunks_exact(self.width)
    }

    /// Every row, one after the other.
    pub fn as_flat(&self) -> &[f32] {
        &self.data
    }
}

enum Node {
    Mono { out: Vec<f32> },
    Frames { input: usize, size: usize, hop: usize, framer: Framer, out: FrameBatch },
    Spectrum { input: usize, node: SpectrumNode, out: FrameBatch },
    Mel { input: usize, bank: MelBank, out: FrameBatch },
    Onset { input: usize, node: OnsetNode, out: FrameBatch },
}

/// Counts of work done, to check (and show) that shared features are computed once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FeatureStats {
    pub nodes: usize,
    pub frames_cut: u64,
    pub ffts: u64,
}

#[derive(Default)]
pub struct FeatureGraph {
    nodes: Vec<Node>,
    index: HashMap<FeatureSpec, usize>,
    stats: FeatureStats,
}

impl FeatureGraph {
    pub fn new() -> Self {
        Self::default()
    }

    /// Returns the handle of `spec`, adding it (and what it depends on) the first time.
    /// Nodes are stored in dependency order, so one forward pass computes everything.
    pub fn request(&mut self, spec: FeatureSpec) -> FeatureId {
        if let Some(&i) = self.index.get(&spec) {
            return FeatureId(i);
        }
        let node = match spec {
            FeatureSpec::Mono => Node::Mono { out: Vec::new() },
            FeatureSpec::Frames { size, hop } => {
                let input = self.request(FeatureSpec::Mono).0;
                Node::Frames { input, size, hop, framer: Framer::new(size, hop), out: FrameBatch::new(size) }
            }
            FeatureSpec::Spectrum { size, hop, window } => {
                let input = self.request(FeatureSpec::Frames { size, hop }).0;
                let node = SpectrumNode::new(size, window);
                let width = node.bins();
                Node::Spectrum { input, node, out: FrameBatch::new(width) }
            }
            FeatureSpec::Mel { size, hop, window, samplerate, bands, fmin_hz, fmax_hz, scale } => {
                let input = self.request(FeatureSpec::Spectrum { size, hop, window }).0;
                let fmax = if fmax_hz == 0 { samplerate as f64 / 2.0 } else { fmax_hz as f64 };
                let bank = MelBank::new(samplerate, size, bands, fmin_hz as f64, fmax, scale);
                Node::Mel { input, out: FrameBatch::new(bank.bands()), bank }
            }
            FeatureSpec::Onset { size, hop, method } => {
                let input = if method.needs_phase() {
                    self.request(FeatureSpec::Frames { size, hop }).0
                } else {
                    self.request(FeatureSpec::Spectrum { size, hop, window: Window::Hann }).0
                };
                Node::Onset { input, node: OnsetNode::new(method, size), out: FrameBatch::new(1) }
            }
        };
        self.nodes.push(node);
        let i = self.nodes.len() - 1;
        self.index.insert(spec, i);
        self.stats.nodes = self.nodes.len();
        FeatureId(i)
    }

    /// Computes every feature for `block`.
    pub fn process(&mut self, block: &Block) {
        self.run(Some(block));
    }

    /// End of stream: emits the last, zero-padded frames (and their spectra).
    pub fn flush(&mut self) {
        self.run(None);
    }

    fn run(&mut self, block: Option<&Block>) {
        for i in 0..self.nodes.len() {
            let (done, rest) = self.nodes.split_at_mut(i);
            match &mut rest[0] {
                Node::Mono { out } => {
                    out.clear();
                    if let Some(b) = block {
                        downmix(b, out);
                    }
                }
                Node::Frames { input, framer, out, .. } => {
                    let Node::Mono { out: mono } = &done[*input] else { unreachable!("frames read mono") };
                    out.data.clear();
                    out.first_index = framer.next_index;
                    match block {
                        Some(_) => framer.push(mono, &mut out.data),
                        None => framer.flush(&mut out.data),
                    }
                    self.stats.frames_cut += out.len() as u64;
                }
                Node::Spectrum { input, node, out } => {
                    let Node::Frames { out: frames, .. } = &done[*input] else { unreachable!("spectrum reads frames") };
                    out.data.clear();
                    out.first_index = frames.first_index;
                    for frame in frames.iter() {
                        node.magnitude(frame, &mut out.data);
                    }
                    self.stats.ffts += frames.len() as u64;
                }
                Node::Onset { input, node, out } => {
                    let rows = match &done[*input] {
                        Node::Spectrum { out, .. } | Node::Frames { out, .. } => out,
                        _ => unreachable!("onsets read spectra or frames"),
                    };
                    out.data.clear();
                    out.first_index = rows.first_index;
                    node.compute(rows, &mut out.data);
                }
                Node::Mel { input, bank, out } => {
                    let Node::Spectrum { out: spectra, .. } = &done[*input] else { unreachable!("mel reads spectra") };
                    out.data.clear();
                    out.first_index = spectra.first_index;
                    for spectrum in spectra.iter() {
                        bank.apply(spectrum, &mut out.data);
                    }
                }
            }
        }
    }

    /// The mono downmix of the current block.
    pub fn mono(&self, id: FeatureId) -> &[f32] {
        match &self.nodes[id.0] {
            Node::Mono { out } => out,
            _ => panic!("feature {id:?} is not the mono downmix"),
        }
    }

    /// Frames or spectra completed during the current block.
    pub fn frames(&self, id: FeatureId) -> &FrameBatch {
        match &self.nodes[id.0] {
            Node::Frames { out, .. } | Node::Spectrum { out, .. } | Node::Mel { out, .. } | Node::Onset { out, .. } => {
                out
            }
            Node::Mono { .. } => panic!("feature {id:?} is not framed"),
        }
    }

    /// Frame size and hop of a framed feature.
    pub fn framing(&self, id: FeatureId) -> (usize, usize) {
        match &self.nodes[id.0] {
            Node::Frames { size, hop, .. } => (*size, *hop),
            Node::Spectrum { input, .. } | Node::Mel { input, .. } | Node::Onset { input, .. } => {
                self.framing(FeatureId(*input))
            }
            Node::Mono { .. } => (1, 1),
        }
    }

    pub fn stats(&self) -> FeatureStats {
        self.stats
    }
}

fn downmix(block: &Block, out: &mut Vec<f32>) {
    let ch = block.format.channels as usize;
    if ch == 1 {
        out.extend_from_slice(&block.samples);
        return;
    }
    if ch == 2 {
        // The common case, written out so it vectorises.
        out.extend(block.samples.chunks_exact(2).map(|f| (f[0] + f[1]) * 0.5));
        return;
    }
    let scale = 1.0 / ch as f32;
    out.extend(block.samples.chunks_exact(ch).map(|f| f.iter().sum::<f32>() * scale));
}

/// Cuts a continuous signal into frames of `size` every `hop` samples, keeping only the samples
/// still needed (at most `size + block` of them): memory does not grow with the stream.
struct Framer {
    size: usize,
    hop: usize,
    /// Samples from absolute position `buffer_start` on.
    buffer: Vec<f32>,
    buffer_start: u64,
    total: u64,
    next_index: u64,
}

impl Framer {
    fn new(size: usize, hop: usize) -> Self {
        Framer { size, hop, buffer: Vec::new(), buffer_start: 0, total: 0, next_index: 0 }
    }

    fn frame_start(&self, index: u64) -> u64 {
        index * self.hop as u64
    }

    fn push(&mut self, samples: &[f32], out: &mut Vec<f32>) {
        self.buffer.extend_from_slice(samples);
        self.total += samples.len() as u64;
        while self.frame_start(self.next_index) + self.size as u64 <= self.total {
            let at = (self.frame_start(self.next_index) - self.buffer_start) as usize;
            out.extend_from_slice(&self.buffer[at..at + self.size]);
            self.next_index += 1;
        }
        // Drop what no future frame reads.
        let keep_from = self.frame_start(self.next_index).min(self.total);
        let drop = (keep_from - self.buffer_start) as usize;
        if drop > 0 {
            self.buffer.drain(..drop);
            self.buffer_start = keep_from;
        }
    }

    fn flush(&mut self, out: &mut Vec<f32>) {
        while self.frame_start(self.next_index) < self.total {
            let at = (self.frame_start(self.next_index) - self.buffer_start) as usize;
            let available = &self.buffer[at.min(self.buffer.len())..];
            let take = available.len().min(self.size);
            out.extend_from_slice(&available[..take]);
            out.extend(std::iter::repeat_n(0.0, self.size - take));
            self.next_index += 1;
        }
        self.buffer.clear();
        self.buffer_start = self.total;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::AudioFormat;

    fn block(frame: u64, samples: Vec<f32>, channels: u16) -> Block {
        Block { frame, samples, format: AudioFormat { samplerate: 8000, channels } }
    }

    #[test]
    fn frames_cover_the_signal_and_are_zero_padded_at_the_end() {
        let mut g = FeatureGraph::new();
        let id = g.request(FeatureSpec::Frames { size: 4, hop: 2 });
        let mut frames: Vec<Vec<f32>> = Vec::new();
        for chunk in (0..9).map(|i| i as f32).collect::<Vec<_>>().chunks(3) {
            g.process(&block(0, chunk.to_vec(), 1));
            frames.extend(g.frames(id).iter().map(<[f32]>::to_vec));
        }
        g.flush();
        frames.extend(g.frames(id).iter().map(<[f32]>::to_vec));
        assert_eq!(
            frames,
            vec![
                vec![0., 1., 2., 3.],
                vec![2., 3., 4., 5.],
                vec![4., 5., 6., 7.],
                vec![6., 7., 8., 0.],
                vec![8., 0., 0., 0.],
            ]
        );
    }

    #[test]
    fn identical_requests_share_one_node() {
        let mut g = FeatureGraph::new();
        let spec = FeatureSpec::Spectrum { size: 256, hop: 128, window: Window::Hann };
        let a = g.request(spec);
        let b = g.request(spec);
        assert_eq!(a, b);
        let other = g.request(FeatureSpec::Spectrum { size: 256, hop: 64, window: Window::Hann });
        assert_ne!(a, other);
        // mono + 2 framings + 2 spectra
        assert_eq!(g.stats().nodes, 5);
        g.process(&block(0, vec![0.25; 1024 * 2], 2));
        assert_eq!(g.stats().ffts, 7 + 13);
    }

    #[test]
    fn downmix_averages_channels() {
        let mut g = FeatureGraph::new();
        let id = g.request(FeatureSpec::Mono);
        g.process(&block(0, vec![1.0, 0.0, 0.5, -0.5], 2));
        assert_eq!(g.mono(id), &[0.5, 0.0]);
    }
}
