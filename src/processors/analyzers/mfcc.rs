//! `mfcc`: mel-frequency cepstral coefficients (TimeSide's `aubio_mfcc`), from the shared mel
//! feature.
//!
//! Convention, chosen so results compare with librosa (`librosa.feature.mfcc` defaults):
//! - mel bands as `mel_energy` (Slaney mel scale and area-normalised triangles by default,
//!   `mel_scale = "htk"` for HTK's scale), 128 bands, on the power spectrum;
//! - log: `10 · log10(max(power, 1e-10))` (librosa's `power_to_db` with `ref = 1`,
//!   `amin = 1e-10`, but no `top_db` clipping, which needs the whole signal);
//! - DCT type II, orthonormal; the first `n_mfcc` coefficients, c0 included.
//!
//! Our spectrum is scaled so a sine of amplitude A reads A (librosa's is not: its power is
//! `(n_fft / 4)²` times ours with a Hann window). A constant factor on every band only shifts
//! c0, by `10 · log10(factor) · sqrt(n_mels)`; c1 and above are directly comparable.
//!
//! ```toml
//! [[processors]]
//! id = "mfcc"
//! params = { n_mfcc = 20, n_mels = 128 }
//! ```

use super::mel_energy;
use super::series::FramewiseSeries;
use crate::features::{FeatureGraph, FeatureId, MelScale, Window};
use crate::media::Block;
use crate::processors::cost::{AudioShape, Cost, fft_ops, framing};
use crate::processors::params::check;
use crate::processors::{
    AnalysisEvent, Analyzer, BuildContext, Descriptor, FinishContext, Finished, Kind, ProcessError,
};
use serde::{Deserialize, Serialize};

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "mfcc",
    name: "MFCC",
    kind: Kind::Analyzer,
    version: "1.0",
    description: "Mel-frequency cepstral coefficients: orthonormal DCT-II of 10*log10(mel power), librosa's convention.",
    unit: "",
    live: true,
};

/// Floor of the mel power before the log (librosa's `amin`).
pub const LOG_FLOOR: f32 = 1e-10;

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Coefficients kept (c0 included); 1..=n_mels. Default 20.
    pub n_mfcc: usize,
    /// Number of mel bands; 1..=512. Default 128.
    pub n_mels: usize,
    /// FFT size in samples; 16..=65536. Default 2048.
    pub n_fft: usize,
    /// Step between frames in samples; 1..=n_fft. Default 512.
    pub hop_size: usize,
    /// Analysis window: hann, hamming, blackman or rectangular. Default hann.
    pub window: Window,
    /// Lowest band edge in Hz. Default 0.
    pub fmin: u32,
    /// Highest band edge in Hz; 0 means the Nyquist frequency. Default 0.
    pub fmax: u32,
    /// Mel scale: slaney (librosa's default) or htk. Default slaney.
    pub mel_scale: MelScale,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            n_mfcc: 20,
            n_mels: 128,
            n_fft: 2048,
            hop_size: 512,
            window: Window::Hann,
            fmin: 0,
            fmax: 0,
            mel_scale: MelScale::Slaney,
        }
    }
}

impl Params {
    fn mel(&self) -> mel_energy::Params {
        mel_energy::Params {
            n_mels: self.n_mels,
            n_fft: self.n_fft,
            hop_size: self.hop_size,
            window: self.window,
            fmin: self.fmin,
            fmax: self.fmax,
            mel_scale: self.mel_scale,
        }
    }
}

impl crate::processors::Params for Params {
    fn validate(&self) -> Vec<String> {
        let mut p = self.mel().validate();
        check(
            &mut p,
            self.n_mfcc >= 1 && self.n_mfcc <= self.n_mels,
            "n_mfcc",
            format!("must be 1..=n_mels ({}), got {}", self.n_mels, self.n_mfcc),
        );
        p
    }
}

pub struct Mfcc {
    mel: FeatureId,
    /// `n_mfcc` rows of `n_mels` DCT-II (orthonormal) coefficients.
    dct: Vec<f32>,
    n_mels: usize,
    log_mel: Vec<f32>,
    coefficients: Vec<f32>,
    series: FramewiseSeries,
}

/// Orthonormal DCT-II matrix, `n_out` rows of `n_in`.
fn dct_matrix(n_out: usize, n_in: usize) -> Vec<f32> {
    let n = n_in as f64;
    let mut m = Vec::with_capacity(n_out * n_in);
    for k in 0..n_out {
        let scale = if k == 0 { (1.0 / n).sqrt() } else { (2.0 / n).sqrt() };
        for i in 0..n_in {
            m.push((scale * (std::f64::consts::PI * k as f64 * (i as f64 + 0.5) / n).cos()) as f32);
        }
    }
    m
}

/// The mel bands of each frame, then a DCT of `n_mels` into `n_mfcc`; `n_mfcc` values kept.
pub fn cost(p: &Params, audio: &AudioShape) -> Cost {
    let drivers = format!("{}, n_mels={}, n_mfcc={}", framing(p.n_fft, p.hop_size), p.n_mels, p.n_mfcc);
    let ops = fft_ops(p.n_fft) + p.n_fft as f64 + (p.n_mels * p.n_mfcc) as f64;
    Cost::framewise(audio, p.n_fft, p.hop_size, ops, p.n_mfcc, drivers)
}

pub fn build(p: Params, ctx: &mut BuildContext) -> Result<Mfcc, String> {
    let (mel, frames) = p.mel().request(ctx)?;
    Ok(Mfcc {
        mel,
        dct: dct_matrix(p.n_mfcc, p.n_mels),
        n_mels: p.n_mels,
        log_mel: Vec::with_capacity(p.n_mels),
        coefficients: Vec::with_capacity(p.n_mfcc),
        series: FramewiseSeries::new(frames, p.n_mfcc, ctx.live).with_event("mfcc", "coefficients"),
    })
}

impl Analyzer for Mfcc {
    fn process(&mut self, _: &Block, features: &FeatureGraph) {
        for bands in features.frames(self.mel).iter() {
            self.log_mel.clear();
            self.log_mel.extend(bands.iter().map(|&p| 10.0 * p.max(LOG_FLOOR).log10()));
            self.coefficients.clear();
            self.coefficients.extend(
                self.dct
                    .chunks_exact(self.n_mels)
                    .map(|row| row.iter().zip(&self.log_mel).map(|(a, b)| a * b).sum::<f32>()),
            );
            self.series.push(&self.coefficients);
        }
    }

    fn finish(self: Box<Self>, _: &FinishContext) -> Result<Finished, ProcessError> {
        Ok(Finished { results: vec![self.series.into_output("", "MFCC")], files: vec![] })
    }

    fn take_events(&mut self, out: &mut Vec<AnalysisEvent>) {
        self.series.take_events(out);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{mono, run};
    use super::*;
    use crate::features::MelBank;
    use serde_json::json;

    /// A sine exactly on bin k of a Hann-windowed FFT has amplitude A on bin k and A/2 on bins
    /// k±1 (and nothing elsewhere): the MFCC follow from the mel weights and the DCT.
    #[test]
    fn sine_on_a_bin_matches_the_coefficients_computed_from_its_spectrum() {
        let (rate, n_fft, k, amp) = (16000u32, 512usize, 40usize, 0.5f64);
        let freq = k as f64 * rate as f64 / n_fft as f64;
        let samples = super::super::testing::sine(freq, amp, 1.0, rate, 1);
        let r =
            run("mfcc", json!({ "n_fft": n_fft, "hop_size": 256, "n_mels": 32, "n_mfcc": 13 }), mono(rate), &samples);
        let got = r.values("").row(10).to_vec();

        let mut spectrum = vec![0f32; n_fft / 2 + 1];
        spectrum[k] = amp as f32;
        spectrum[k - 1] = amp as f32 / 2.0;
        spectrum[k + 1] = amp as f32 / 2.0;
        let mut bands = Vec::new();
        MelBank::new(rate, n_fft, 32, 0.0, rate as f64 / 2.0, MelScale::Slaney).apply(&spectrum, &mut bands);
        let log: Vec<f64> = bands.iter().map(|&p| 10.0 * (p.max(1e-10) as f64).log10()).collect();
        for (c, g) in got.iter().enumerate() {
            let scale = if c == 0 { (1.0 / 32f64).sqrt() } else { (2.0 / 32f64).sqrt() };
            let want: f64 = log
                .iter()
                .enumerate()
                .map(|(i, l)| l * scale * (std::f64::consts::PI * c as f64 * (i as f64 + 0.5) / 32.0).cos())
                .sum();
            assert!((*g as f64 - want).abs() < 0.05 * want.abs().max(1.0), "c{c}: {g} vs {want}");
        }
    }

    /// White noise of variance σ² has, on average, the same power on every bin: with a Hann
    /// window and our amplitude scaling (4 / N), E[a²] = (16 / N²) · σ² · Σw² = 6σ² / N. The
    /// expected MFCC follow from that flat spectrum through the mel weights and the DCT; the
    /// mean over frames must come close (the log of a noisy band sits slightly under the log of
    /// its mean, hence the tolerance).
    #[test]
    fn white_noise_matches_the_coefficients_of_its_flat_spectrum() {
        // Long frames, so even the narrowest band sums many bins and its log is steady.
        let (rate, n_fft, n_mels) = (22050u32, 8192usize, 40usize);
        let amplitude = 0.5f64;
        let mut noise = super::super::testing::Lcg(21);
        let samples: Vec<f32> = (0..rate as usize * 20).map(|_| (amplitude * noise.next()) as f32).collect();
        let r = run(
            "mfcc",
            json!({ "n_mels": n_mels, "n_mfcc": 13, "n_fft": n_fft, "hop_size": 2048 }),
            mono(rate),
            &samples,
        );
        let v = r.values("");
        let frames: Vec<&[f32]> = (4..v.rows() - 4).map(|i| v.row(i)).collect();
        let mean = |c: usize| frames.iter().map(|row| row[c] as f64).sum::<f64>() / frames.len() as f64;

        let variance = amplitude * amplitude / 3.0;
        let power = 6.0 * variance / n_fft as f64;
        let flat = vec![power.sqrt() as f32; n_fft / 2 + 1];
        let mut bands = Vec::new();
        MelBank::new(rate, n_fft, n_mels, 0.0, rate as f64 / 2.0, MelScale::Slaney).apply(&flat, &mut bands);
        let log: Vec<f64> = bands.iter().map(|&p| 10.0 * (p as f64).log10()).collect();
        for c in 0..13 {
            let scale = if c == 0 { (1.0 / n_mels as f64).sqrt() } else { (2.0 / n_mels as f64).sqrt() };
            let want: f64 = log
                .iter()
                .enumerate()
                .map(|(i, l)| l * scale * (std::f64::consts::PI * c as f64 * (i as f64 + 0.5) / n_mels as f64).cos())
                .sum();
            let tolerance = if c == 0 { 2.0 } else { 0.5 };
            assert!((mean(c) - want).abs() < tolerance, "c{c}: {:.3} vs {want:.3}", mean(c));
        }
    }

    /// A gain of g dB adds g to every log band: with an orthonormal DCT only c0 moves, by
    /// g · sqrt(n_mels).
    #[test]
    fn gain_moves_only_c0() {
        let mut noise = super::super::testing::Lcg(7);
        let quiet: Vec<f32> = (0..22050).map(|_| 0.1 * noise.next() as f32).collect();
        let loud: Vec<f32> = quiet.iter().map(|x| x * 2.0).collect();
        let params = json!({ "n_mels": 40, "n_mfcc": 13 });
        let a = run("mfcc", params.clone(), mono(22050), &quiet);
        let b = run("mfcc", params, mono(22050), &loud);
        let (ra, rb) = (a.values("").row(5), b.values("").row(5));
        let want = 20.0 * 2f64.log10() * 40f64.sqrt();
        assert!(((rb[0] - ra[0]) as f64 - want).abs() < 0.01, "{} vs {want}", rb[0] - ra[0]);
        for c in 1..13 {
            assert!((rb[c] - ra[c]).abs() < 1e-3, "c{c}: {} vs {}", ra[c], rb[c]);
        }
    }
}
