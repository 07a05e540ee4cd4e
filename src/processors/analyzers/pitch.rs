//! `pitch`: fundamental frequency per frame with YIN (de Cheveigné & Kawahara 2002), in Hz,
//! and a confidence; TimeSide's `aubio_pitch`.
//!
//! For each frame of `frame_size` mono samples, the difference function
//! d(τ) = Σ_{j<W} (x_j - x_{j+τ})² over a window of W = frame_size - τ_max samples is computed
//! through one FFT cross-correlation (d(τ) = E_0 + E_τ - 2·r(τ)), then normalised by its
//! cumulative mean (d'). The period is the first τ between the lags of `fmax` and `fmin`
//! where d' dips under `threshold`, moved to the bottom of that dip and refined by a parabola.
//! - `pitch`: f0 in Hz, 0 for unvoiced frames (no dip under the threshold, or the frame is
//!   quieter than `silence_dbfs`);
//! - `pitch.confidence`: 1 - d'(τ), in 0..=1 (0 for silent frames).
//!
//! Live: a `pitch` event (frequency_hz, 0 when unvoiced, and confidence) up to 10 times per
//! second.
//!
//! ```toml
//! [[processors]]
//! id = "pitch"
//! params = { fmin = 50.0, fmax = 2000.0, frame_size = 2048, hop_size = 1024 }
//! ```

use super::series::FramewiseSeries;
use crate::features::{Complex, FeatureGraph, FeatureId, FeatureSpec};
use crate::media::Block;
use crate::processors::cost::{AudioShape, Cost, fft_ops};
use crate::processors::params::check;
use crate::processors::{
    AnalysisEvent, Analyzer, BuildContext, Descriptor, FinishContext, Finished, Kind, ProcessError,
};
use crate::results::FrameMetadata;
use realfft::{ComplexToReal, RealFftPlanner, RealToComplex};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "pitch",
    name: "Pitch (YIN)",
    kind: Kind::Analyzer,
    version: "1.0",
    description: "Fundamental frequency per frame in Hz (YIN; 0 when unvoiced) and its confidence (pitch.confidence).",
    unit: "Hz",
    live: true,
};

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Lowest f0 searched, in Hz; frame_size must hold two of its periods. Default 50.
    pub fmin: f64,
    /// Highest f0 searched, in Hz; below Nyquist. Default 2000.
    pub fmax: f64,
    /// Frame length in samples; 64..=65536. Default 2048.
    pub frame_size: usize,
    /// Step between frames in samples; 1..=frame_size. Default 1024 (23 ms at 44.1 kHz).
    pub hop_size: usize,
    /// YIN threshold on the normalised difference; 0 < threshold < 1. Default 0.15.
    pub threshold: f64,
    /// Frames quieter than this (RMS, dBFS) are unvoiced. Default -60.
    pub silence_dbfs: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params { fmin: 50.0, fmax: 2000.0, frame_size: 2048, hop_size: 1024, threshold: 0.15, silence_dbfs: -60.0 }
    }
}

impl crate::processors::Params for Params {
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        check(
            &mut p,
            (64..=65536).contains(&self.frame_size),
            "frame_size",
            format!("must be 64..=65536, got {}", self.frame_size),
        );
        check(
            &mut p,
            self.hop_size >= 1 && self.hop_size <= self.frame_size,
            "hop_size",
            format!("must be 1..=frame_size, got {}", self.hop_size),
        );
        super::check_band(&mut p, self.fmin, self.fmax, false);
        check(
            &mut p,
            self.threshold > 0.0 && self.threshold < 1.0,
            "threshold",
            format!("must be in (0, 1), got {}", self.threshold),
        );
        p
    }
}

pub struct Pitch {
    frames: FeatureId,
    rate: f64,
    lags: (usize, usize),
    window: usize,
    threshold: f32,
    silence_power: f32,
    forward: Arc<dyn RealToComplex<f32>>,
    inverse: Arc<dyn ComplexToReal<f32>>,
    buffers: Buffers,
    /// Rows of (f0, confidence).
    series: FramewiseSeries,
}

/// Scratch space reused for every frame.
struct Buffers {
    head: Vec<f32>,
    frame: Vec<f32>,
    head_spectrum: Vec<Complex<f32>>,
    frame_spectrum: Vec<Complex<f32>>,
    correlation: Vec<f32>,
    scratch: Vec<Complex<f32>>,
    normalised: Vec<f32>,
}

/// YIN through FFTs of the frame (two forward, one inverse of twice its size); frequency and
/// confidence kept per frame.
pub fn cost(p: &Params, audio: &AudioShape) -> Cost {
    let drivers = format!("frame_size={}, hop_size={}", p.frame_size, p.hop_size);
    Cost::framewise(
        audio,
        p.frame_size,
        p.hop_size,
        3.0 * fft_ops(2 * p.frame_size) + 4.0 * p.frame_size as f64,
        2,
        drivers,
    )
}

pub fn build(p: Params, ctx: &mut BuildContext) -> Result<Pitch, String> {
    let rate = ctx.format.samplerate as f64;
    if p.fmax >= rate / 2.0 {
        return Err(format!("fmax ({} Hz) must be below the Nyquist frequency ({} Hz)", p.fmax, rate / 2.0));
    }
    let lags = (((rate / p.fmax).floor() as usize).max(2), (rate / p.fmin).ceil() as usize + 1);
    if 2 * lags.1 > p.frame_size {
        return Err(format!(
            "frame_size {} is too short for fmin {} Hz at {} Hz: it must hold two periods ({} samples)",
            p.frame_size,
            p.fmin,
            rate,
            2 * lags.1
        ));
    }
    let mut planner = RealFftPlanner::<f32>::new();
    let (forward, inverse) = (planner.plan_fft_forward(p.frame_size), planner.plan_fft_inverse(p.frame_size));
    let frames = ctx.features.request(FeatureSpec::Frames { size: p.frame_size, hop: p.hop_size });
    let meta = FrameMetadata { samplerate: ctx.format.samplerate, blocksize: p.frame_size, stepsize: p.hop_size };
    let buffers = Buffers {
        head: forward.make_input_vec(),
        frame: forward.make_input_vec(),
        head_spectrum: forward.make_output_vec(),
        frame_spectrum: forward.make_output_vec(),
        correlation: inverse.make_output_vec(),
        scratch: forward.make_scratch_vec().into_iter().chain(inverse.make_scratch_vec()).collect(),
        normalised: vec![0.0; lags.1 + 2],
    };
    Ok(Pitch {
        frames,
        rate,
        lags,
        window: p.frame_size - lags.1 - 1,
        threshold: p.threshold as f32,
        silence_power: 10f64.powf(p.silence_dbfs / 10.0) as f32,
        forward,
        inverse,
        buffers,
        series: FramewiseSeries::new(meta, 2, ctx.live).with_column_event("pitch", &["frequency_hz", "confidence"]),
    })
}

impl Pitch {
    /// (f0 in Hz or 0, confidence) of one frame.
    fn analyse(&mut self, frame: &[f32]) -> (f32, f32) {
        let b = &mut self.buffers;
        let (n, w) = (frame.len(), self.window);
        let power = crate::features::reduce::sum_of_squares(frame) / n as f32;
        if power <= self.silence_power {
            return (0.0, 0.0);
        }
        b.frame.copy_from_slice(frame);
        b.head[..w].copy_from_slice(&frame[..w]);
        b.head[w..].fill(0.0);
        // Sizes come from the plans, so these cannot fail.
        let _ = self.forward.process_with_scratch(&mut b.head, &mut b.head_spectrum, &mut b.scratch);
        let _ = self.forward.process_with_scratch(&mut b.frame, &mut b.frame_spectrum, &mut b.scratch);
        for (h, f) in b.head_spectrum.iter_mut().zip(&b.frame_spectrum) {
            *h = h.conj() * f;
        }
        // The inverse expects real DC and Nyquist bins; they are, up to rounding.
        b.head_spectrum[0].im = 0.0;
        if let Some(last) = b.head_spectrum.last_mut() {
            last.im = 0.0;
        }
        let _ = self.inverse.process_with_scratch(&mut b.head_spectrum, &mut b.correlation, &mut b.scratch);
        let scale = 1.0 / n as f64;
        let (lo, hi) = self.lags;
        // The normalised difference d'(τ), computed only as far as the search needs: up to
        // the bottom of the first dip under the threshold (voiced frames stop early), or to
        // the longest lag. E_τ (energy of the window shifted by τ) is updated as τ grows.
        let square = |j: usize| (frame[j] as f64) * (frame[j] as f64);
        let e0: f64 = (0..w).map(square).sum();
        let (mut e_tau, mut running) = (e0, 0.0f64);
        let d = &mut b.normalised;
        d[0] = 1.0;
        let mut computed = 0;
        let mut next = |tau: usize, d: &mut Vec<f32>| {
            e_tau += square(tau - 1 + w) - square(tau - 1);
            let diff = (e0 + e_tau - 2.0 * b.correlation[tau] as f64 * scale).max(0.0);
            running += diff;
            d[tau] = if running > 0.0 { (diff * tau as f64 / running) as f32 } else { 1.0 };
        };
        let mut tau = None;
        while computed < hi + 1 {
            computed += 1;
            next(computed, d);
            if computed >= lo && computed <= hi && d[computed] < self.threshold {
                // Walk down to the bottom of the dip (one lag past it, for the parabola).
                let mut t = computed;
                loop {
                    computed += 1;
                    next(computed, d);
                    if t < hi && d[t + 1] < d[t] {
                        t += 1;
                    } else {
                        break;
                    }
                }
                tau = Some(t);
                break;
            }
        }
        let d = &b.normalised;
        let voiced = tau.is_some();
        let t = tau.unwrap_or_else(|| (lo..=hi).min_by(|&a, &b| d[a].total_cmp(&d[b])).unwrap_or(lo));
        let confidence = (1.0 - d[t]).clamp(0.0, 1.0);
        if !voiced {
            return (0.0, confidence);
        }
        let (l, c, r) = (d[t - 1] as f64, d[t] as f64, d[t + 1] as f64);
        let denominator = l - 2.0 * c + r;
        let offset = if denominator > 0.0 { (0.5 * (l - r) / denominator).clamp(-0.5, 0.5) } else { 0.0 };
        ((self.rate / (t as f64 + offset)) as f32, confidence)
    }
}

impl Analyzer for Pitch {
    fn process(&mut self, _: &Block, features: &FeatureGraph) {
        let batch = features.frames(self.frames);
        for frame in batch.iter() {
            let (f0, confidence) = self.analyse(frame);
            self.series.push(&[f0, confidence]);
        }
    }

    fn finish(self: Box<Self>, _: &FinishContext) -> Result<Finished, ProcessError> {
        Ok(Finished {
            results: self
                .series
                .into_columns(&[("", "Pitch (Hz)"), ("confidence", "Pitch confidence")])
                .into_iter()
                // The confidence is a number from 0 to 1, not Hz.
                .map(|o| if o.suffix == "confidence" { o.with_unit("") } else { o })
                .collect(),
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
    use serde_json::json;

    fn voiced_median(values: &[f32]) -> f64 {
        let mut v: Vec<f32> = values.iter().copied().filter(|&f| f > 0.0).collect();
        v.sort_by(f32::total_cmp);
        if v.is_empty() { 0.0 } else { v[v.len() / 2] as f64 }
    }

    #[test]
    fn sines_and_harmonic_tones_within_one_percent() {
        let rate = 44100;
        for f in [82.41, 196.0, 440.0, 1000.0, 1760.0] {
            let r = run("pitch", json!({}), mono(rate), &sine(f, 0.5, 1.0, rate, 1));
            let v = r.values("").as_flat();
            // Every full frame is voiced, within 1 %.
            for &got in &v[..v.len() - 5] {
                assert!((got as f64 / f - 1.0).abs() < 0.01, "sine {f} Hz read {got}");
            }
            // A harmonic tone whose fundamental is weaker than its overtones.
            let mut tone = vec![0f32; rate as usize];
            for (h, amp) in [(1, 0.1), (2, 0.3), (3, 0.3), (4, 0.2), (5, 0.1)] {
                if f * h as f64 >= 20000.0 {
                    continue;
                }
                for (x, y) in tone.iter_mut().zip(sine(f * h as f64, amp, 1.0, rate, 1)) {
                    *x += y;
                }
            }
            let r = run("pitch", json!({}), mono(rate), &tone);
            let got = voiced_median(r.values("").as_flat());
            assert!((got / f - 1.0).abs() < 0.01, "harmonic tone {f} Hz read {got}");
        }
    }

    /// TimeSide's test signal: a C4 major scale, 8 notes of 1 s separated by 0.2 s of silence.
    #[test]
    fn c4_scale_note_by_note_and_silence_unvoiced() {
        let rate = 44100;
        let notes = [261.63, 293.66, 329.63, 349.23, 392.0, 440.0, 493.88, 523.25];
        let mut s = Vec::new();
        for f in notes {
            s.extend(sine(f, 0.5, 1.0, rate, 1));
            s.extend(vec![0.0; (0.2 * rate as f64) as usize]);
        }
        let r = run("pitch", json!({}), mono(rate), &s);
        let (f0, confidence) = (r.values("").as_flat(), r.values("confidence").as_flat());
        let hop = r.get("").frame_metadata.expect("frames").stepsize as f64;
        // The frames that lie wholly inside [a, b) seconds.
        let inside = |a: f64, b: f64| {
            let first = (a * rate as f64 / hop).ceil() as usize;
            let last = ((b * rate as f64 - 2048.0) / hop).floor() as usize;
            first..last + 1
        };
        for (i, f) in notes.iter().enumerate() {
            let start = i as f64 * 1.2;
            let note = inside(start, start + 1.0);
            let got = voiced_median(&f0[note.clone()]);
            assert!((got / f - 1.0).abs() < 0.01, "note {i}: {got} vs {f}");
            assert!(f0[note].iter().all(|&x| x > 0.0), "note {i} has unvoiced frames");
            let silence = inside(start + 1.0, start + 1.2);
            assert!(!silence.is_empty());
            assert!(
                f0[silence.clone()].iter().all(|&x| x == 0.0),
                "silence after note {i}: {:?}",
                &f0[silence.clone()]
            );
            assert!(confidence[silence].iter().all(|&x| x == 0.0));
        }
        assert!(r.events.iter().any(|e| e.event == "pitch" && e.fields["frequency_hz"].as_f64() > Some(250.0)));
    }

    #[test]
    fn too_short_frames_for_fmin_are_refused() {
        let err = super::super::testing::build_error("pitch", json!({ "fmin": 20.0 }), mono(44100));
        assert!(err.contains("frame_size") && err.contains("fmin"), "{err}");
    }
}
