//! `dissonance`: sensory roughness of each frame (Plomp & Levelt's curve in Sethares'
//! parametrisation, as Essentia's Dissonance), from 0 (consonant or a single partial) to 1
//! (partials at the roughest interval).
//!
//! The spectral peaks of a frame (Blackman window, local maxima within 40 dB of the largest,
//! between `fmin` and `fmax`, the `MAX_PEAKS` strongest, located by a parabola through the
//! log amplitudes) are taken pairwise:
//! R = Σ_{i<j} a_i·a_j·(e^{-b1·s·Δf} - e^{-b2·s·Δf}) / (R_max · Σ_{i<j} a_i·a_j), with
//! s = 0.24 / (0.0207·f_min + 18.96), b1 = 3.51, b2 = 5.75 and R_max the curve's maximum
//! (0.1799), so two equal partials a critical quarter-band apart read 1.
//! - `dissonance`: per frame; `dissonance.mean`: mean over the frames that have two peaks.
//!
//! ```toml
//! [[processors]]
//! id = "dissonance"
//! ```

use super::check_framing;
use super::series::FramewiseSeries;
use crate::features::{FeatureGraph, FeatureId, FeatureSpec, Window};
use crate::media::Block;
use crate::processors::cost::{AudioShape, Cost, fft_ops, framing};
use crate::processors::{
    AnalysisEvent, Analyzer, BuildContext, Descriptor, FinishContext, Finished, Kind, Output, ProcessError,
};
use crate::results::{FrameMetadata, ResultData, Values};
use serde::{Deserialize, Serialize};

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "dissonance",
    name: "Dissonance",
    kind: Kind::Analyzer,
    version: "1.0",
    description: "Sensory roughness of the spectral peaks of each frame (Plomp-Levelt / Sethares), 0 to 1.",
    unit: "",
    live: true,
};

const MAX_PEAKS: usize = 30;
/// Peaks more than this far under the frame's largest (amplitude ratio, -40 dB) are ignored.
const PEAK_RANGE: f32 = 0.01;
const B1: f64 = 3.51;
const B2: f64 = 5.75;

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// FFT size in samples; 16..=65536. Default 8192.
    pub n_fft: usize,
    /// Step between frames in samples; 1..=n_fft. Default 4096.
    pub hop_size: usize,
    /// Lowest peak frequency used, in Hz. Default 20.
    pub fmin: f64,
    /// Highest peak frequency used, in Hz. Default 5000.
    pub fmax: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params { n_fft: 8192, hop_size: 4096, fmin: 20.0, fmax: 5000.0 }
    }
}

impl crate::processors::Params for Params {
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        check_framing(&mut p, self.n_fft, self.hop_size);
        super::check_band(&mut p, self.fmin, self.fmax, true);
        p
    }
}

/// Sethares' roughness of two partials, before amplitude weighting and normalisation.
pub fn roughness(f1: f64, f2: f64) -> f64 {
    let (low, delta) = (f1.min(f2), (f2 - f1).abs());
    let s = 0.24 / (0.0207 * low + 18.96);
    (-B1 * s * delta).exp() - (-B2 * s * delta).exp()
}

/// The maximum of `e^{-b1 x} - e^{-b2 x}`, at x = ln(b2/b1) / (b2 - b1).
fn max_roughness() -> f64 {
    let x = (B2 / B1).ln() / (B2 - B1);
    (-B1 * x).exp() - (-B2 * x).exp()
}

pub struct Dissonance {
    spectrum: FeatureId,
    bin_hz: f64,
    bins: (usize, usize),
    peaks: Vec<(f64, f64)>,
    sum: f64,
    frames_with_peaks: u64,
    series: FramewiseSeries,
}

/// A spectrum per frame, its peaks compared pairwise (at most a few dozen); one value kept.
pub fn cost(p: &Params, audio: &AudioShape) -> Cost {
    Cost::framewise(audio, p.n_fft, p.hop_size, fft_ops(p.n_fft) + 4096.0, 1, framing(p.n_fft, p.hop_size))
}

pub fn build(p: Params, ctx: &mut BuildContext) -> Result<Dissonance, String> {
    let spectrum =
        ctx.features.request(FeatureSpec::Spectrum { size: p.n_fft, hop: p.hop_size, window: Window::Blackman });
    let bin_hz = ctx.format.samplerate as f64 / p.n_fft as f64;
    let meta = FrameMetadata { samplerate: ctx.format.samplerate, blocksize: p.n_fft, stepsize: p.hop_size };
    Ok(Dissonance {
        spectrum,
        bin_hz,
        bins: (((p.fmin / bin_hz).ceil() as usize).max(1), ((p.fmax / bin_hz) as usize).min(p.n_fft / 2 - 1)),
        peaks: Vec::with_capacity(p.n_fft / 4),
        sum: 0.0,
        frames_with_peaks: 0,
        series: FramewiseSeries::new(meta, 1, ctx.live).with_event("dissonance", "value"),
    })
}

impl Dissonance {
    /// Roughness of one amplitude spectrum; `None` with fewer than two peaks.
    fn frame(&mut self, a: &[f32]) -> Option<f64> {
        let largest = a.iter().fold(0f32, |m, &x| m.max(x));
        let floor = (largest * PEAK_RANGE).max(1e-6);
        self.peaks.clear();
        for k in self.bins.0..=self.bins.1.min(a.len().saturating_sub(2)) {
            let (l, c, r) = (a[k - 1], a[k], a[k + 1]);
            if c <= floor || c <= l || c < r {
                continue;
            }
            let (l, c, r) = ((l.max(1e-12) as f64).ln(), (c as f64).ln(), (r.max(1e-12) as f64).ln());
            let denominator = l - 2.0 * c + r;
            let offset = if denominator < 0.0 { (0.5 * (l - r) / denominator).clamp(-0.5, 0.5) } else { 0.0 };
            let amplitude = (c - 0.25 * (l - r) * offset).exp();
            self.peaks.push(((k as f64 + offset) * self.bin_hz, amplitude));
        }
        if self.peaks.len() < 2 {
            return None;
        }
        self.peaks.sort_by(|x, y| y.1.total_cmp(&x.1));
        self.peaks.truncate(MAX_PEAKS);
        let (mut rough, mut weight) = (0.0, 0.0);
        for (i, &(f1, a1)) in self.peaks.iter().enumerate() {
            for &(f2, a2) in &self.peaks[i + 1..] {
                rough += a1 * a2 * roughness(f1, f2);
                weight += a1 * a2;
            }
        }
        Some((rough / (weight * max_roughness())).clamp(0.0, 1.0))
    }
}

impl Analyzer for Dissonance {
    fn process(&mut self, _: &Block, features: &FeatureGraph) {
        for a in features.frames(self.spectrum).iter() {
            let value = self.frame(a);
            if let Some(v) = value {
                self.sum += v;
                self.frames_with_peaks += 1;
            }
            self.series.push(&[value.unwrap_or(0.0) as f32]);
        }
    }

    fn finish(self: Box<Self>, _: &FinishContext) -> Result<Finished, ProcessError> {
        let mean = if self.frames_with_peaks == 0 { 0.0 } else { self.sum / self.frames_with_peaks as f64 };
        Ok(Finished {
            results: vec![
                self.series.into_output("", "Dissonance"),
                Output::new("mean", "Dissonance (mean)", ResultData::global_value(Values::scalars(vec![mean as f32]))),
            ],
            files: vec![],
        })
    }

    fn take_events(&mut self, out: &mut Vec<AnalysisEvent>) {
        self.series.take_events(out);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{mono, run, sine};
    use super::*;
    use serde_json::json;

    fn two_sines(f1: f64, f2: f64) -> Vec<f32> {
        sine(f1, 0.3, 2.0, 44100, 1).iter().zip(sine(f2, 0.3, 2.0, 44100, 1)).map(|(a, b)| a + b).collect()
    }

    #[test]
    fn intervals_against_the_plomp_levelt_curve() {
        for (f2, name) in
            [(466.16, "semitone"), (493.88, "tone"), (554.37, "major third"), (660.0, "fifth"), (880.0, "octave")]
        {
            let r = run("dissonance", json!({}), mono(44100), &two_sines(440.0, f2));
            let got = r.scalar("mean") as f64;
            let want = roughness(440.0, f2) / max_roughness();
            assert!((got - want).abs() < 0.03, "{name}: {got} vs {want}");
        }
        // The semitone is rougher than the octave, which is near 0.
        assert!(roughness(440.0, 466.16) > 0.9 * max_roughness());
        let single = run("dissonance", json!({}), mono(44100), &sine(440.0, 0.5, 2.0, 44100, 1));
        assert_eq!(single.scalar("mean"), 0.0);
    }
}
