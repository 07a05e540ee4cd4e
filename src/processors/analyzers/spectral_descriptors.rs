//! `spectral_descriptors`: the shape of each frame's amplitude spectrum (TimeSide's
//! `aubio_specdesc` / Yaafe descriptors), one framewise result per descriptor.
//!
//! With `a_k` the amplitude of bin `k` (a sine of amplitude A on a bin reads A), `f_k` its
//! frequency and sums over every bin from 0 Hz to Nyquist:
//! - `centroid` Σ f·a / Σ a (Hz); `spread` sqrt(Σ (f - centroid)²·a / Σ a) (Hz);
//! - `skewness` Σ (f - centroid)³·a / (Σ a · spread³); `kurtosis` Σ (f - centroid)⁴·a /
//!   (Σ a · spread⁴) (3 for a Gaussian shape; not the excess);
//! - `slope`: least-squares slope of a against f, divided by Σ a (1/Hz, Peeters);
//! - `decrease`: Σ_{k≥1} (a_k - a_0) / k / Σ_{k≥1} a_k (Peeters);
//! - `rolloff`: the lowest frequency below which `rolloff` (default 95 %) of the energy Σ a² lies;
//! - `flux`: Euclidean distance to the previous frame's amplitudes;
//! - `flatness`: geometric over arithmetic mean of the power a² (1 for a flat spectrum,
//!   e^-γ ≈ 0.5615 on average for white noise, 0 for a pure tone);
//! - `crest`: max a / mean a; `energy`: Σ a²; `hfc`: Σ k·a² (high-frequency content, Masri).
//!
//! A frame of digital silence reads 0 for every descriptor.
//!
//! ```toml
//! [[processors]]
//! id = "spectral_descriptors"
//! params = { n_fft = 2048, hop_size = 512 }
//! ```

use super::check_framing;
use super::series::FramewiseSeries;
use crate::features::{FeatureGraph, FeatureId, FeatureSpec, Window};
use crate::media::Block;
use crate::processors::cost::{AudioShape, Cost};
use crate::processors::params::check;
use crate::processors::{
    AnalysisEvent, Analyzer, BuildContext, Descriptor, FinishContext, Finished, Kind, ProcessError,
};
use crate::results::FrameMetadata;
use serde::{Deserialize, Serialize};

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "spectral_descriptors",
    name: "Spectral descriptors",
    kind: Kind::Analyzer,
    // 1.1: each result says its own unit.
    version: "1.1",
    description: "Centroid, spread, skewness, kurtosis, slope, decrease, rolloff, flux, flatness, crest, energy and HFC of each frame's spectrum.",
    unit: "",
    live: true,
};

/// Result suffixes, in column order.
pub const NAMES: [&str; 12] = [
    "centroid", "spread", "skewness", "kurtosis", "slope", "decrease", "rolloff", "flux", "flatness", "crest",
    "energy", "hfc",
];

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// FFT size in samples; 16..=65536. Default 2048.
    pub n_fft: usize,
    /// Step between frames in samples; 1..=n_fft. Default 512.
    pub hop_size: usize,
    /// Analysis window: hann, hamming, blackman or rectangular. Default hann.
    pub window: Window,
    /// Fraction of the energy below the rolloff frequency; 0 < rolloff < 1. Default 0.95.
    pub rolloff: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params { n_fft: 2048, hop_size: 512, window: Window::Hann, rolloff: 0.95 }
    }
}

impl crate::processors::Params for Params {
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        check_framing(&mut p, self.n_fft, self.hop_size);
        check(
            &mut p,
            self.rolloff > 0.0 && self.rolloff < 1.0,
            "rolloff",
            format!("must be in (0, 1), got {}", self.rolloff),
        );
        p
    }
}

pub struct SpectralDescriptors {
    spectrum: FeatureId,
    bin_hz: f64,
    rolloff: f64,
    previous: Vec<f32>,
    series: FramewiseSeries,
}

/// A spectrum per frame and a few passes over its bins; the descriptors kept per frame.
pub fn cost(p: &Params, audio: &AudioShape) -> Cost {
    Cost::spectral(audio, p.n_fft, p.hop_size, 8.0, NAMES.len())
}

pub fn build(p: Params, ctx: &mut BuildContext) -> Result<SpectralDescriptors, String> {
    let spectrum = ctx.features.request(FeatureSpec::Spectrum { size: p.n_fft, hop: p.hop_size, window: p.window });
    let frames = FrameMetadata { samplerate: ctx.format.samplerate, blocksize: p.n_fft, stepsize: p.hop_size };
    Ok(SpectralDescriptors {
        spectrum,
        bin_hz: ctx.format.samplerate as f64 / p.n_fft as f64,
        rolloff: p.rolloff,
        previous: Vec::new(),
        series: FramewiseSeries::new(frames, NAMES.len(), ctx.live).with_column_event("spectral_descriptors", &NAMES),
    })
}

/// The descriptors of one amplitude spectrum, in [`NAMES`] order.
pub fn describe(a: &[f32], previous: &[f32], bin_hz: f64, rolloff: f64) -> [f64; 12] {
    let flux = if previous.len() == a.len() {
        a.iter().zip(previous).map(|(x, y)| ((x - y) as f64).powi(2)).sum::<f64>().sqrt()
    } else {
        0.0
    };
    let sum: f64 = a.iter().map(|&x| x as f64).sum();
    let energy: f64 = a.iter().map(|&x| (x as f64).powi(2)).sum();
    if sum <= 0.0 || energy <= 1e-30 {
        let mut out = [0.0; 12];
        out[7] = flux;
        return out;
    }
    let n = a.len() as f64;
    let freq = |k: usize| k as f64 * bin_hz;
    let centroid = a.iter().enumerate().map(|(k, &x)| freq(k) * x as f64).sum::<f64>() / sum;
    let moment =
        |p: i32| a.iter().enumerate().map(|(k, &x)| (freq(k) - centroid).powi(p) * x as f64).sum::<f64>() / sum;
    let spread = moment(2).sqrt();
    let (skewness, kurtosis) =
        if spread > 0.0 { (moment(3) / spread.powi(3), moment(4) / spread.powi(4)) } else { (0.0, 0.0) };
    let (sum_f, sum_f2) = (0..a.len()).fold((0.0, 0.0), |(s, s2), k| (s + freq(k), s2 + freq(k).powi(2)));
    let sum_fa: f64 = a.iter().enumerate().map(|(k, &x)| freq(k) * x as f64).sum();
    let slope = (n * sum_fa - sum_f * sum) / (n * sum_f2 - sum_f * sum_f) / sum;
    let tail: f64 = a[1..].iter().map(|&x| x as f64).sum();
    let decrease = if tail > 0.0 {
        a.iter().enumerate().skip(1).map(|(k, &x)| (x - a[0]) as f64 / k as f64).sum::<f64>() / tail
    } else {
        0.0
    };
    let mut cumulative = 0.0;
    let rolloff_bin = a.iter().position(|&x| {
        cumulative += (x as f64).powi(2);
        cumulative >= rolloff * energy
    });
    let mean_log_power = a.iter().map(|&x| ((x as f64).powi(2).max(1e-30)).ln()).sum::<f64>() / n;
    let flatness = (mean_log_power.exp() / (energy / n)).min(1.0);
    let peak = a.iter().fold(0f32, |m, &x| m.max(x)) as f64;
    let hfc: f64 = a.iter().enumerate().map(|(k, &x)| k as f64 * (x as f64).powi(2)).sum();
    [
        centroid,
        spread,
        skewness,
        kurtosis,
        slope,
        decrease,
        freq(rolloff_bin.unwrap_or(a.len() - 1)),
        flux,
        flatness,
        peak / (sum / n),
        energy,
        hfc,
    ]
}

impl Analyzer for SpectralDescriptors {
    fn process(&mut self, _: &Block, features: &FeatureGraph) {
        for a in features.frames(self.spectrum).iter() {
            let row = describe(a, &self.previous, self.bin_hz, self.rolloff).map(|v| v as f32);
            self.series.push(&row);
            self.previous.clear();
            self.previous.extend_from_slice(a);
        }
    }

    fn finish(self: Box<Self>, _: &FinishContext) -> Result<Finished, ProcessError> {
        let columns: Vec<(&'static str, &str)> = NAMES.iter().map(|n| (*n, *n)).collect();
        // Frequencies are in Hz; the shape descriptors are ratios and have no unit.
        let results = self.series.into_columns(&columns).into_iter().map(|o| match o.suffix {
            "centroid" | "spread" | "rolloff" => o.with_unit("Hz"),
            _ => o,
        });
        Ok(Finished { results: results.collect(), files: vec![] })
    }

    fn take_events(&mut self, out: &mut Vec<AnalysisEvent>) {
        self.series.take_events(out);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Lcg, mean, mono, run, sine};
    use serde_json::json;

    /// A sine on bin k: amplitudes A/2, A, A/2 on bins k-1, k, k+1 (Hann window).
    #[test]
    fn sine_on_a_bin() {
        let (rate, n_fft, k) = (16000u32, 1024usize, 64usize);
        let bin_hz = rate as f64 / n_fft as f64;
        let r = run(
            "spectral_descriptors",
            json!({ "n_fft": n_fft, "hop_size": 512 }),
            mono(rate),
            &sine(k as f64 * bin_hz, 0.5, 1.0, rate, 1),
        );
        let at = |name: &str| r.values(name).as_flat()[10] as f64;
        assert!((at("centroid") - k as f64 * bin_hz).abs() < 0.01 * bin_hz, "{}", at("centroid"));
        // Variance: (A/2 · Δ² · 2) / 2A = Δ² / 2.
        // f32 rounding leaves a floor of tiny amplitudes far from the sine, which the squared
        // distances weigh heavily: allow 10 %.
        assert!((at("spread") - bin_hz / 2f64.sqrt()).abs() < 0.1 * bin_hz, "{}", at("spread"));
        // Energy A²(1/4 + 1 + 1/4); 95 % is reached at bin k + 1.
        assert!((at("energy") - 0.25 * 1.5).abs() < 1e-3, "{}", at("energy"));
        assert!((at("rolloff") - (k + 1) as f64 * bin_hz).abs() < 1e-6, "{}", at("rolloff"));
        // Crest: A over the mean amplitude 2A / 513 bins.
        assert!((at("crest") - 513.0 / 2.0).abs() < 1.0, "{}", at("crest"));
        assert!(at("flatness") < 1e-3);
        assert!(at("flux") < 1e-3, "a steady sine does not change");
        assert!((at("hfc") - 0.25 * (0.25 * (k - 1) as f64 + k as f64 + 0.25 * (k + 1) as f64)).abs() < 0.01);
    }

    /// White noise: a flat spectrum on average, so the centroid sits at a quarter of the rate
    /// and the flatness of exponentially distributed powers averages e^-γ.
    #[test]
    fn white_noise() {
        let mut noise = Lcg(11);
        let samples: Vec<f32> = (0..44100).map(|_| 0.5 * noise.next() as f32).collect();
        let r = run("spectral_descriptors", json!({}), mono(44100), &samples);
        let centroid = mean(r.values("centroid").as_flat().iter().copied().skip(4).take(70));
        assert!((centroid / 11025.0 - 1.0).abs() < 0.02, "{centroid}");
        let flatness = mean(r.values("flatness").as_flat().iter().copied().skip(4).take(70));
        let want = (-0.5772156649f64).exp();
        assert!((flatness - want).abs() < 0.02, "{flatness} vs {want}");
        let kurtosis = mean(r.values("kurtosis").as_flat().iter().copied().skip(4).take(70));
        // Flat on [0, N]: kurtosis of a uniform distribution, 1.8.
        assert!((kurtosis - 1.8).abs() < 0.05, "{kurtosis}");
        assert_eq!(r.events[0].event, "spectral_descriptors");
        assert!(r.events[0].fields.get("centroid").is_some());
    }
}
