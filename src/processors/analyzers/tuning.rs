//! `tuning`: the tuning frequency (the frequency of A4, in Hz) of the whole signal, and its
//! deviation from `reference_hz` in cents.
//!
//! Each frame's spectral peaks between `fmin` and `fmax` (local maxima within 40 dB of the
//! frame's largest, located to a fraction of a bin by a parabola through the log amplitudes)
//! give their deviation from the nearest equal-tempered semitone; the deviations are averaged
//! on the circle (a semitone is a full turn, so +49 and -49 cents are neighbours), weighted by
//! the peaks' amplitudes. A signal with no peaks reads `reference_hz`, deviation 0.
//!
//! ```toml
//! [[processors]]
//! id = "tuning"
//! ```

use crate::features::{FeatureGraph, FeatureId, FeatureSpec, Window};
use crate::media::Block;
use crate::processors::cost::{AudioShape, Cost};
use crate::processors::params::check;
use crate::processors::{
    AnalysisEvent, Analyzer, BuildContext, Descriptor, FinishContext, Finished, Kind, Output, ProcessError,
};
use crate::results::{ResultData, Values};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::f64::consts::TAU;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "tuning",
    name: "Tuning frequency",
    kind: Kind::Analyzer,
    // 1.1: each result says its own unit.
    version: "1.1",
    description: "Frequency of A4 (Hz) the signal is tuned to, and its deviation from the reference in cents.",
    unit: "Hz",
    live: true,
};

/// Seconds of audio between two `tuning` events.
const EVENT_SECONDS: f64 = 2.0;

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// FFT size in samples; 1024..=65536. Default 8192.
    pub n_fft: usize,
    /// Step between frames in samples; 1..=n_fft. Default 4096.
    pub hop_size: usize,
    /// Reference frequency of A4 in Hz; 400..=480. Default 440.
    pub reference_hz: f64,
    /// Lowest peak frequency used, in Hz. Default 80.
    pub fmin: f64,
    /// Highest peak frequency used, in Hz. Default 5000.
    pub fmax: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params { n_fft: 8192, hop_size: 4096, reference_hz: 440.0, fmin: 80.0, fmax: 5000.0 }
    }
}

impl crate::processors::Params for Params {
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        check(
            &mut p,
            (1024..=65536).contains(&self.n_fft),
            "n_fft",
            format!("must be 1024..=65536, got {}", self.n_fft),
        );
        check(
            &mut p,
            self.hop_size >= 1 && self.hop_size <= self.n_fft,
            "hop_size",
            format!("must be 1..=n_fft, got {}", self.hop_size),
        );
        super::check_reference(&mut p, self.reference_hz);
        super::check_band(&mut p, self.fmin, self.fmax, false);
        p
    }
}

pub struct Tuning {
    spectrum: FeatureId,
    bin_hz: f64,
    reference: f64,
    bins: (usize, usize),
    /// Amplitude-weighted sum of the deviations as unit vectors (a semitone = a turn).
    sum: (f64, f64),
    frames_seen: u64,
    frames_per_event: u64,
    pending: Vec<AnalysisEvent>,
    frame_seconds: f64,
}

/// A spectrum per frame and its peaks; a histogram of constant size.
pub fn cost(p: &Params, audio: &AudioShape) -> Cost {
    Cost::spectral(audio, p.n_fft, p.hop_size, 2.0, 0)
}

pub fn build(p: Params, ctx: &mut BuildContext) -> Result<Tuning, String> {
    let rate = ctx.format.samplerate as f64;
    let bin_hz = rate / p.n_fft as f64;
    let spectrum = ctx.features.request(FeatureSpec::Spectrum { size: p.n_fft, hop: p.hop_size, window: Window::Hann });
    let last = ((p.fmax.min(rate / 2.0) / bin_hz) as usize).min(p.n_fft / 2 - 1);
    Ok(Tuning {
        spectrum,
        bin_hz,
        reference: p.reference_hz,
        bins: (((p.fmin / bin_hz) as usize).max(1), last),
        sum: (0.0, 0.0),
        frames_seen: 0,
        frames_per_event: ((EVENT_SECONDS * rate / p.hop_size as f64).round() as u64).max(1),
        pending: Vec::new(),
        frame_seconds: p.hop_size as f64 / rate,
    })
}

impl Tuning {
    /// (tuning frequency in Hz, deviation in cents) of what was seen so far.
    pub fn estimate(&self) -> (f64, f64) {
        if self.sum.0.hypot(self.sum.1) < 1e-12 {
            return (self.reference, 0.0);
        }
        let semitones = self.sum.1.atan2(self.sum.0) / TAU;
        (self.reference * 2f64.powf(semitones / 12.0), semitones * 100.0)
    }

    fn add_frame(&mut self, a: &[f32]) {
        let peak = a.iter().fold(0f32, |m, &x| m.max(x));
        let floor = (peak * 0.01).max(1e-5);
        for k in self.bins.0.max(1)..=self.bins.1.min(a.len() - 2) {
            let (l, c, r) = (a[k - 1], a[k], a[k + 1]);
            if c <= floor || c <= l || c < r {
                continue;
            }
            let (l, c, r) = ((l.max(1e-12) as f64).ln(), (c as f64).ln(), (r.max(1e-12) as f64).ln());
            let denominator = l - 2.0 * c + r;
            let offset = if denominator.abs() > 1e-12 { 0.5 * (l - r) / denominator } else { 0.0 };
            let f = (k as f64 + offset.clamp(-0.5, 0.5)) * self.bin_hz;
            let semitones = 12.0 * (f / self.reference).log2();
            let deviation = semitones - semitones.round();
            let weight = a[k] as f64;
            self.sum.0 += weight * (TAU * deviation).cos();
            self.sum.1 += weight * (TAU * deviation).sin();
        }
        self.frames_seen += 1;
        if self.frames_seen.is_multiple_of(self.frames_per_event) {
            let (hz, cents) = self.estimate();
            self.pending.push(AnalysisEvent {
                event: "tuning",
                time: self.frames_seen as f64 * self.frame_seconds,
                fields: json!({ "frequency_hz": hz, "deviation_cents": cents }),
            });
        }
    }
}

impl Analyzer for Tuning {
    fn process(&mut self, _: &Block, features: &FeatureGraph) {
        let batch = features.frames(self.spectrum);
        for a in batch.iter() {
            self.add_frame(a);
        }
    }

    fn finish(self: Box<Self>, _: &FinishContext) -> Result<Finished, ProcessError> {
        let (hz, cents) = self.estimate();
        Ok(Finished {
            results: vec![
                Output::new("", "Tuning frequency (Hz)", ResultData::global_value(Values::scalars(vec![hz as f32]))),
                Output::new(
                    "cents",
                    "Deviation from the reference (cents)",
                    ResultData::global_value(Values::scalars(vec![cents as f32])),
                )
                .with_unit("cents"),
            ],
            files: vec![],
        })
    }

    fn take_events(&mut self, out: &mut Vec<AnalysisEvent>) {
        out.append(&mut self.pending);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{mono, run, sine};
    use serde_json::json;

    #[test]
    fn a_detuned_sine_and_harmonic_tone_give_their_tuning() {
        // 446 Hz: +23.4 cents. A harmonic tone on 432 Hz (harmonics 1..4 are octaves and a
        // fifth: -31.8 cents for the octaves, the just fifth 2 cents sharper).
        let rate = 44100;
        let r = run("tuning", json!({}), mono(rate), &sine(446.0, 0.5, 4.0, rate, 1));
        assert!((r.scalar("") - 446.0).abs() < 0.5, "{}", r.scalar(""));
        let want_cents = 1200.0 * (446f64 / 440.0).log2();
        assert!((r.scalar("cents") as f64 - want_cents).abs() < 2.0, "{}", r.scalar("cents"));

        let mut tone = vec![0f32; 4 * rate as usize];
        for h in 1..=4 {
            for (x, y) in tone.iter_mut().zip(sine(432.0 * h as f64, 0.3 / h as f64, 4.0, rate, 1)) {
                *x += y;
            }
        }
        let r = run("tuning", json!({}), mono(rate), &tone);
        assert!((r.scalar("") - 432.0).abs() < 432.0 * 0.01, "{}", r.scalar(""));
        assert!(!r.events.is_empty());
    }

    #[test]
    fn silence_reads_the_reference() {
        let r = run("tuning", json!({ "reference_hz": 442.0 }), mono(8000), &vec![0.0; 8000]);
        assert_eq!(r.scalar(""), 442.0);
        assert_eq!(r.scalar("cents"), 0.0);
    }
}
