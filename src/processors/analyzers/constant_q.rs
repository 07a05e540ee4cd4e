//! `constant_q`: constant-Q spectrum (Brown & Puckette's spectral-kernel method): `n_bins`
//! bins `bins_per_octave` to the octave from `fmin`, each the amplitude of the signal under a
//! Hann window whose length holds Q = 1 / (2^(1/bins_per_octave) - 1) periods of the bin's
//! frequency. A sine of amplitude A on a bin's frequency reads A.
//!
//! The kernels are FFT'd once at build time and kept sparse (coefficients under 0.54 % of
//! each kernel's peak dropped); each frame then costs one FFT of the longest kernel's size
//! (the next power of two) plus the sparse products. All kernels are centred on the middle of
//! the frame.
//!
//! ```toml
//! [[processors]]
//! id = "constant_q"
//! params = { fmin = 55.0, bins_per_octave = 12, n_bins = 84, hop_size = 2048 }  # 0: up to Nyquist
//! ```

use super::series::FramewiseSeries;
use crate::features::{Complex, FeatureGraph, FeatureId, FeatureSpec, SpectrumNode, Window};
use crate::media::Block;
use crate::processors::cost::{AudioShape, Cost, fft_ops};
use crate::processors::params::check;
use crate::processors::{
    AnalysisEvent, Analyzer, BuildContext, Descriptor, FinishContext, Finished, Kind, ProcessError,
};
use crate::results::FrameMetadata;
use serde::{Deserialize, Serialize};

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "constant_q",
    name: "Constant-Q spectrum",
    kind: Kind::Analyzer,
    version: "1.0",
    description: "Amplitude in geometrically spaced bins (bins_per_octave per octave from fmin), Brown-Puckette kernels.",
    unit: "amplitude",
    live: true,
};

/// Kernel coefficients under this fraction of the kernel's peak are dropped.
const SPARSITY: f32 = 0.0054;
/// Longest kernel accepted (2^18 samples: 5.9 s at 44.1 kHz).
const MAX_FFT: usize = 1 << 18;

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Frequency of the first bin in Hz. Default 55 (A1).
    pub fmin: f64,
    /// Bins per octave; 1..=96. Default 12.
    pub bins_per_octave: usize,
    /// Number of bins; the last must lie below Nyquist. 0: every bin below Nyquist (104 from
    /// A1 at 44.1 kHz with 12 per octave). Default 0.
    pub n_bins: usize,
    /// Step between frames in samples; >= 1. Default 2048.
    pub hop_size: usize,
}

impl Default for Params {
    fn default() -> Self {
        Params { fmin: 55.0, bins_per_octave: 12, n_bins: 0, hop_size: 2048 }
    }
}

impl crate::processors::Params for Params {
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        check(&mut p, self.fmin > 0.0, "fmin", format!("must be positive, got {}", self.fmin));
        check(
            &mut p,
            (1..=96).contains(&self.bins_per_octave),
            "bins_per_octave",
            format!("must be 1..=96, got {}", self.bins_per_octave),
        );
        check(&mut p, self.hop_size >= 1, "hop_size", "must be at least 1");
        p
    }
}

pub struct ConstantQ {
    frames: FeatureId,
    fft: SpectrumNode,
    /// Per bin: (FFT bin, conj(kernel) · 2 / N) pairs.
    kernels: Vec<Vec<(usize, Complex<f32>)>>,
    row: Vec<f32>,
    series: FramewiseSeries,
}

/// An FFT of the longest kernel per frame (its size grows as `fmin` falls), then each bin's
/// sparse kernel; `n_bins` values kept per frame.
pub fn cost(p: &Params, audio: &AudioShape) -> Cost {
    let rate = audio.samplerate as f64;
    let bpo = p.bins_per_octave as f64;
    let below_nyquist = (bpo * (rate / 2.0 / p.fmin).log2()).ceil().max(0.0) as usize;
    let n_bins = if p.n_bins == 0 { below_nyquist } else { p.n_bins };
    let q = 1.0 / (2f64.powf(1.0 / bpo) - 1.0);
    let size = ((q * rate / p.fmin).ceil().min(MAX_FFT as f64) as usize).next_power_of_two();
    // Kernels are sparse: a few bins each around their frequency, more at low frequencies.
    let kernel_bins = n_bins as f64 * (size as f64 / 64.0).max(16.0);
    let drivers =
        format!("fmin={}, bins_per_octave={}, n_bins={n_bins}, hop_size={}", p.fmin, p.bins_per_octave, p.hop_size);
    let mut c = Cost::framewise(audio, size, p.hop_size, fft_ops(size) + kernel_bins * 8.0, n_bins, drivers);
    c.memory_bytes += kernel_bins * 16.0;
    c
}

pub fn build(p: Params, ctx: &mut BuildContext) -> Result<ConstantQ, String> {
    let rate = ctx.format.samplerate as f64;
    let bpo = p.bins_per_octave as f64;
    let freq = |k: usize| p.fmin * 2f64.powf(k as f64 / bpo);
    let below_nyquist = (bpo * (rate / 2.0 / p.fmin).log2()).ceil().max(0.0) as usize;
    let n_bins = if p.n_bins == 0 { below_nyquist } else { p.n_bins };
    if n_bins == 0 {
        return Err(format!("fmin ({} Hz) must lie below the Nyquist frequency ({} Hz)", p.fmin, rate / 2.0));
    }
    let top = freq(n_bins - 1);
    if top >= rate / 2.0 {
        return Err(format!("the last bin ({top:.0} Hz) must lie below the Nyquist frequency ({} Hz)", rate / 2.0));
    }
    let q = 1.0 / (2f64.powf(1.0 / bpo) - 1.0);
    let longest = (q * rate / p.fmin).ceil() as usize;
    let size = longest.next_power_of_two();
    if size > MAX_FFT {
        return Err(format!("fmin {} Hz needs kernels of {longest} samples; at most {MAX_FFT}", p.fmin));
    }
    let mut planner = rustfft::FftPlanner::<f32>::new();
    let fft = planner.plan_fft_forward(size);
    let kernels = (0..n_bins)
        .map(|k| {
            let len = ((q * rate / freq(k)).ceil() as usize).max(2);
            let start = (size - len) / 2;
            let window = Window::Hann.coefficients(len);
            let norm: f32 = window.iter().sum();
            let mut kernel = vec![Complex::new(0f32, 0f32); size];
            for (n, w) in window.iter().enumerate() {
                let phase = 2.0 * std::f64::consts::PI * freq(k) * (start + n) as f64 / rate;
                kernel[start + n] = Complex::new(phase.cos() as f32, phase.sin() as f32) * (w / norm);
            }
            fft.process(&mut kernel);
            let peak = kernel.iter().fold(0f32, |m, c| m.max(c.norm()));
            // Only positive frequencies: the real input's spectrum is read on bins 0..=N/2.
            kernel[..=size / 2]
                .iter()
                .enumerate()
                .filter(|(_, c)| c.norm() > SPARSITY * peak)
                .map(|(j, c)| (j, c.conj() * (2.0 / size as f32)))
                .collect()
        })
        .collect();
    let frames = ctx.features.request(FeatureSpec::Frames { size, hop: p.hop_size });
    let meta = FrameMetadata { samplerate: ctx.format.samplerate, blocksize: size, stepsize: p.hop_size };
    Ok(ConstantQ {
        frames,
        fft: SpectrumNode::new(size, Window::Rectangular),
        kernels,
        row: Vec::with_capacity(n_bins),
        series: FramewiseSeries::new(meta, n_bins, ctx.live).with_event("constant_q", "amplitudes"),
    })
}

impl Analyzer for ConstantQ {
    fn process(&mut self, _: &Block, features: &FeatureGraph) {
        for frame in features.frames(self.frames).iter() {
            let spectrum = self.fft.transform(frame);
            self.row.clear();
            self.row.extend(
                self.kernels
                    .iter()
                    .map(|kernel| kernel.iter().map(|&(j, k)| spectrum[j] * k).sum::<Complex<f32>>().norm()),
            );
            self.series.push(&self.row);
        }
    }

    fn finish(self: Box<Self>, _: &FinishContext) -> Result<Finished, ProcessError> {
        Ok(Finished { results: vec![self.series.into_output("", "Constant-Q spectrum")], files: vec![] })
    }

    fn take_events(&mut self, out: &mut Vec<AnalysisEvent>) {
        self.series.take_events(out);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{mono, run, sine};
    use serde_json::json;

    #[test]
    fn a_sine_reads_its_amplitude_in_its_bin() {
        for (freq, bin) in [(440.0, 36), (880.0, 48), (110.0, 12)] {
            let r = run("constant_q", json!({}), mono(22050), &sine(freq, 0.5, 3.0, 22050, 1));
            let v = r.values("");
            // Every bin below 11025 Hz: 55 · 2^(k/12) < 11025 for k < 12 · log2(200.45) = 91.8.
            assert_eq!(v.width(), 92);
            let row = v.row(v.rows() / 2);
            let best = row.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|x| x.0);
            assert_eq!(best, Some(bin), "{freq} Hz");
            assert!((row[bin] - 0.5).abs() < 0.01, "{freq} Hz: {}", row[bin]);
            // A semitone away the Hann kernel is well down.
            assert!(row[bin + 1] < 0.5 * 0.6 && row[bin - 1] < 0.5 * 0.6, "{:?}", &row[bin - 1..=bin + 1]);
        }
    }

    #[test]
    fn bins_above_nyquist_are_refused() {
        let err = super::super::testing::build_error("constant_q", json!({ "n_bins": 84 }), mono(8000));
        assert!(err.contains("Nyquist"), "{err}");
    }
}
