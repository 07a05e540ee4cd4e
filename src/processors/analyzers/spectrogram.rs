//! `spectrogram`: amplitude spectra of windowed frames (framewise, `n_fft / 2 + 1` bins from
//! 0 Hz to Nyquist), from the shared FFT feature.
//!
//! To keep memory flat on long inputs, at most `2 * max_frames` columns are kept: when that
//! many are stored, neighbouring columns are averaged pairwise and the step doubles
//! (`frame_metadata.stepsize` says the final step). `max_frames = 0` keeps every frame.
//!
//! ```toml
//! [[processors]]
//! id = "spectrogram"
//! params = { n_fft = 2048, hop_size = 512, window = "hann" }
//! ```

use crate::features::{FeatureGraph, FeatureId, FeatureSpec, Window};
use crate::media::Block;
use crate::processors::cost::{AudioShape, Cost, fft_ops, framing};
use crate::processors::params::check;
use crate::processors::{Analyzer, BuildContext, Descriptor, FinishContext, Finished, Kind, Output, ProcessError};
use crate::results::{FrameMetadata, ResultData, Values};
use serde::{Deserialize, Serialize};

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "spectrogram",
    name: "Spectrogram",
    kind: Kind::Analyzer,
    version: "1.0",
    description: "Amplitude spectrum of windowed frames (n_fft/2+1 bins, 0 Hz to Nyquist); a sine of amplitude A on a bin reads A.",
    unit: "amplitude",
    live: true,
};

pub const DEFAULT_N_FFT: usize = 2048;
pub const DEFAULT_HOP_SIZE: usize = 512;
pub const DEFAULT_MAX_FRAMES: usize = 2048;

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// FFT size in samples (frame length); 16..=65536. Default 2048.
    pub n_fft: usize,
    /// Step between frames in samples; 1..=n_fft. Default 512.
    pub hop_size: usize,
    /// Analysis window: hann, hamming, blackman or rectangular. Default hann.
    pub window: Window,
    /// Most columns kept (between max_frames and 2 * max_frames remain; neighbours are averaged
    /// when more come); 0 keeps every frame, and memory then grows with the input. Default 2048.
    pub max_frames: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            n_fft: DEFAULT_N_FFT,
            hop_size: DEFAULT_HOP_SIZE,
            window: Window::Hann,
            max_frames: DEFAULT_MAX_FRAMES,
        }
    }
}

impl crate::processors::Params for Params {
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        check(&mut p, (16..=65536).contains(&self.n_fft), "n_fft", format!("must be 16..=65536, got {}", self.n_fft));
        check(
            &mut p,
            self.hop_size >= 1 && self.hop_size <= self.n_fft,
            "hop_size",
            format!("must be 1..=n_fft ({}), got {}", self.n_fft, self.hop_size),
        );
        p
    }
}

pub struct Spectrogram {
    spectrum: FeatureId,
    bins: usize,
    n_fft: usize,
    hop: usize,
    samplerate: u32,
    max_frames: usize,
    /// Stored columns, each the mean of `merge` consecutive frames.
    columns: Vec<f32>,
    merge: usize,
    /// Sum of the frames of the column being filled, and how many it has.
    partial: Vec<f32>,
    partial_count: usize,
}

/// A spectrum per frame; `n_fft / 2 + 1` values kept per column, for at most twice
/// `max_frames` columns (every frame when `max_frames` is 0).
pub fn cost(p: &Params, audio: &AudioShape) -> Cost {
    let bins = p.n_fft / 2 + 1;
    let drivers = format!("{}, max_frames={}", framing(p.n_fft, p.hop_size), p.max_frames);
    let mut c = Cost::framewise(audio, p.n_fft, p.hop_size, fft_ops(p.n_fft), 0, drivers);
    let frames = audio.samplerate as f64 / p.hop_size.max(1) as f64 * audio.duration_s + 1.0;
    let kept = if p.max_frames == 0 { frames } else { frames.min(2.0 * p.max_frames as f64) };
    c.memory_bytes += kept * bins as f64 * 4.0 * 2.0;
    c
}

pub fn build(p: Params, ctx: &mut BuildContext) -> Result<Spectrogram, String> {
    let spectrum = ctx.features.request(FeatureSpec::Spectrum { size: p.n_fft, hop: p.hop_size, window: p.window });
    let bins = p.n_fft / 2 + 1;
    Ok(Spectrogram {
        spectrum,
        bins,
        n_fft: p.n_fft,
        hop: p.hop_size,
        samplerate: ctx.format.samplerate,
        max_frames: p.max_frames,
        columns: Vec::new(),
        merge: 1,
        partial: vec![0.0; bins],
        partial_count: 0,
    })
}

impl Spectrogram {
    fn push_frame(&mut self, frame: &[f32]) {
        for (acc, x) in self.partial.iter_mut().zip(frame) {
            *acc += x;
        }
        self.partial_count += 1;
        if self.partial_count == self.merge {
            self.close_column();
        }
        if self.max_frames > 0 && self.columns.len() >= 2 * self.max_frames * self.bins {
            self.halve();
        }
    }

    fn close_column(&mut self) {
        let n = self.partial_count as f32;
        self.columns.extend(self.partial.iter().map(|s| s / n));
        self.partial.iter_mut().for_each(|s| *s = 0.0);
        self.partial_count = 0;
    }

    /// Averages neighbouring columns in place: half the columns, twice the step.
    fn halve(&mut self) {
        let (bins, n) = (self.bins, self.columns.len() / self.bins);
        for i in 0..n / 2 {
            for b in 0..bins {
                self.columns[i * bins + b] =
                    0.5 * (self.columns[2 * i * bins + b] + self.columns[(2 * i + 1) * bins + b]);
            }
        }
        self.columns.truncate((n / 2) * bins);
        self.merge *= 2;
    }
}

impl Analyzer for Spectrogram {
    fn process(&mut self, _: &Block, features: &FeatureGraph) {
        let batch = features.frames(self.spectrum);
        for frame in batch.iter() {
            self.push_frame(frame);
        }
    }

    fn finish(mut self: Box<Self>, _: &FinishContext) -> Result<Finished, ProcessError> {
        if self.partial_count > 0 {
            self.close_column();
        }
        let frames =
            FrameMetadata { samplerate: self.samplerate, blocksize: self.n_fft, stepsize: self.hop * self.merge };
        let columns = std::mem::take(&mut self.columns);
        Ok(Finished {
            results: vec![Output::new(
                "",
                "Spectrogram",
                ResultData::framewise_value(Values::rows_of(columns, self.bins), frames),
            )],
            files: vec![],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::AudioFormat;
    use crate::processors::FinishContext;

    fn run(samples: &[f32], p: Params) -> ResultData {
        let format = AudioFormat { samplerate: 8000, channels: 1 };
        let mut features = FeatureGraph::new();
        let mut s = Box::new(build(p, &mut BuildContext::new(format, &mut features)).expect("build"));
        for (i, chunk) in samples.chunks(1000).enumerate() {
            let block = Block { frame: (i * 1000) as u64, samples: chunk.to_vec(), format };
            features.process(&block);
            s.process(&block, &features);
        }
        features.flush();
        s.process(&Block { frame: 0, samples: vec![], format }, &features);
        let mut out = s.finish(&FinishContext { format, output_dir: None }).expect("finish");
        out.results.remove(0).data
    }

    #[test]
    fn sine_peaks_at_its_bin_with_its_amplitude() {
        // 1000 Hz at 8 kHz with n_fft 256: bin 1000 / (8000 / 256) = 32 exactly.
        let s: Vec<f32> =
            (0..8000).map(|i| 0.5 * (2.0 * std::f32::consts::PI * 1000.0 * i as f32 / 8000.0).sin()).collect();
        let data = run(&s, Params { n_fft: 256, hop_size: 128, ..Default::default() });
        let v = data.data_object.value.expect("value");
        assert_eq!(v.width(), 129);
        let row = v.row(10);
        let peak = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).expect("bins").0;
        assert_eq!(peak, 32);
        assert!((row[32] - 0.5).abs() < 0.01, "{}", row[32]);
    }

    #[test]
    fn long_inputs_are_decimated_to_bounded_columns() {
        let s = vec![0.1f32; 8000 * 10];
        let data = run(&s, Params { n_fft: 64, hop_size: 32, max_frames: 100, ..Default::default() });
        let v = data.data_object.value.expect("value");
        // 2500 frames -> merged until fewer than 200 columns remain.
        assert!(v.rows() >= 100 && v.rows() < 200, "{}", v.rows());
        let fm = data.frame_metadata.expect("frames");
        assert_eq!(fm.stepsize, 32 * 16);
        assert_eq!(v.rows(), 2500usize.div_ceil(16));
    }
}
