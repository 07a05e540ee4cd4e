//! `onsets`: note and percussion onsets as events (TimeSide's `aubio_temporal` onsets), picked
//! online from an [`OnsetFunction`] with a short look-ahead, so they are also sent live.
//!
//! Frame `c` of the detection function `o` is an onset when
//! - `o[c]` is the largest value within ±`PEAK_RADIUS` frames,
//! - `o[c] > median(W) + threshold · mean(W)`, W being the frames from `AVERAGE_BEFORE`
//!   before to `PEAK_RADIUS` after (aubio's adaptive threshold),
//! - `o[c]` is at least `PEAK_FLOOR` of the largest recent value (a peak envelope that halves
//!   every `FLOOR_HALF_LIFE` seconds): in quiet passages the adaptive threshold falls to
//!   nothing, and this keeps the ripples of a fading note from passing for onsets,
//! - the frame is louder than `silence_dbfs` (RMS of the frame), and
//! - at least `min_interval` seconds passed since the previous onset.
//!
//! An onset is timed at the middle of the last hop of its frame: the samples that frame added
//! to the analysis. Events come `PEAK_RADIUS` frames late (17 ms with the defaults).
//! Values: the detection function at the onset.
//!
//! ```toml
//! [[processors]]
//! id = "onsets"
//! params = { method = "spectral_flux", threshold = 0.3, min_interval = 0.05 }
//! ```

use super::check_framing;
use super::onset_detection_function::{OdfMethod, OnsetFunction};
use crate::features::{FeatureGraph, FeatureId, FeatureSpec};
use crate::media::Block;
use crate::processors::cost::{AudioShape, Cost};
use crate::processors::params::check;
use crate::processors::{
    AnalysisEvent, Analyzer, BuildContext, Descriptor, FinishContext, Finished, Kind, Output, ProcessError,
};
use crate::results::{ResultData, Values};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::VecDeque;

pub const DESCRIPTOR: Descriptor = Descriptor {
    id: "onsets",
    name: "Onsets",
    kind: Kind::Analyzer,
    version: "1.0",
    description: "Onset times (events) picked from an onset detection function with an adaptive threshold.",
    unit: "s",
    live: true,
};

/// Frames on each side an onset must dominate; also the look-ahead.
const PEAK_RADIUS: usize = 3;
/// Frames before the candidate in the threshold window.
const AVERAGE_BEFORE: usize = 10;
/// Fraction of the recent largest value an onset must reach.
const PEAK_FLOOR: f32 = 0.01;
const FLOOR_HALF_LIFE: f64 = 5.0;

#[derive(Debug, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Params {
    /// Detection function: energy, hfc, complex or spectral_flux. Default spectral_flux.
    pub method: OdfMethod,
    /// FFT size in samples; 16..=65536. Default 1024.
    pub n_fft: usize,
    /// Step between frames in samples (the time resolution); 1..=n_fft. Default 256.
    pub hop_size: usize,
    /// Adaptive threshold: how far above the local median, in local means; >= 0. Default 0.3.
    pub threshold: f64,
    /// Shortest time between two onsets, in seconds; >= 0. Default 0.05.
    pub min_interval: f64,
    /// Frames quieter than this (RMS, dBFS) have no onset. Default -70.
    pub silence_dbfs: f64,
}

impl Default for Params {
    fn default() -> Self {
        Params {
            method: OdfMethod::SpectralFlux,
            n_fft: 1024,
            hop_size: 256,
            threshold: 0.3,
            min_interval: 0.05,
            silence_dbfs: -70.0,
        }
    }
}

impl crate::processors::Params for Params {
    fn validate(&self) -> Vec<String> {
        let mut p = Vec::new();
        check_framing(&mut p, self.n_fft, self.hop_size);
        check(&mut p, self.threshold >= 0.0, "threshold", format!("must be >= 0, got {}", self.threshold));
        check(&mut p, self.min_interval >= 0.0, "min_interval", format!("must be >= 0, got {}", self.min_interval));
        p
    }
}

/// Online peak picking over a detection function (see the module documentation).
pub struct PeakPicker {
    threshold: f32,
    min_gap_frames: u64,
    /// The last `AVERAGE_BEFORE + 1 + PEAK_RADIUS` (value, loud enough) pairs.
    window: VecDeque<(f32, bool)>,
    /// Index of the newest value pushed.
    newest: Option<u64>,
    last_onset: Option<u64>,
    scratch: Vec<f32>,
    /// Decaying maximum of the values, and its decay per frame.
    envelope: f32,
    decay: f32,
}

impl PeakPicker {
    pub fn new(threshold: f64, min_gap_frames: u64, frames_per_second: f64) -> Self {
        PeakPicker {
            envelope: 0.0,
            decay: 0.5f64.powf(1.0 / (FLOOR_HALF_LIFE * frames_per_second)) as f32,
            threshold: threshold as f32,
            min_gap_frames,
            window: VecDeque::with_capacity(AVERAGE_BEFORE + PEAK_RADIUS + 2),
            newest: None,
            last_onset: None,
            scratch: Vec::new(),
        }
    }

    /// Adds frame values; returns the frame index and value of an onset found `PEAK_RADIUS`
    /// frames back, if any.
    pub fn push(&mut self, value: f32, loud: bool) -> Option<(u64, f32)> {
        self.newest = Some(self.newest.map_or(0, |n| n + 1));
        self.window.push_back((value, loud));
        self.envelope = value.max(self.envelope * self.decay);
        if self.window.len() > AVERAGE_BEFORE + 1 + PEAK_RADIUS {
            self.window.pop_front();
        }
        self.check_candidate()
    }

    /// End of stream: lets the last frames be candidates (with silence after them).
    pub fn flush(&mut self) -> Vec<(u64, f32)> {
        let mut found = Vec::new();
        if self.newest.is_none() {
            return found;
        }
        for _ in 0..PEAK_RADIUS {
            found.extend(self.push(0.0, false));
        }
        found
    }

    fn check_candidate(&mut self) -> Option<(u64, f32)> {
        let newest = self.newest?;
        let c = newest.checked_sub(PEAK_RADIUS as u64)?;
        let at = self.window.len().checked_sub(PEAK_RADIUS + 1)?;
        let (value, loud) = self.window[at];
        if !loud || value <= 0.0 || value < PEAK_FLOOR * self.envelope {
            return None;
        }
        let near = self.window.iter().skip(at.saturating_sub(PEAK_RADIUS)).take(2 * PEAK_RADIUS + 1);
        if near.clone().any(|&(v, _)| v > value) {
            return None;
        }
        self.scratch.clear();
        self.scratch.extend(self.window.iter().map(|&(v, _)| v));
        let mean = self.scratch.iter().sum::<f32>() / self.scratch.len() as f32;
        self.scratch.sort_by(f32::total_cmp);
        let median = self.scratch[self.scratch.len() / 2];
        if value <= median + self.threshold * mean {
            return None;
        }
        if self.last_onset.is_some_and(|last| c - last < self.min_gap_frames) {
            return None;
        }
        self.last_onset = Some(c);
        Some((c, value))
    }
}

pub struct Onsets {
    odf: OnsetFunction,
    frames: FeatureId,
    silence_rms: f32,
    picker: PeakPicker,
    values: Vec<f32>,
    loud: Vec<bool>,
    /// Seconds from the start of frame `n` to its onset time, and the hop in seconds.
    offset: f64,
    hop_seconds: f64,
    times: Vec<f64>,
    strengths: Vec<f32>,
    /// Off on live streams: onsets are only sent as events (memory stays flat).
    keep: bool,
    pending: Vec<AnalysisEvent>,
}

/// The onset detection function (kept per frame for the adaptive threshold), and at most one
/// onset per `min_interval`.
pub fn cost(p: &Params, audio: &AudioShape) -> Cost {
    let onsets = audio.duration_s / p.min_interval.max(1.0 / audio.samplerate.max(1) as f64 * p.hop_size as f64);
    Cost::spectral(audio, p.n_fft, p.hop_size, 2.0, 2).keeping(2.0 * onsets)
}

pub fn build(p: Params, ctx: &mut BuildContext) -> Result<Onsets, String> {
    let odf = OnsetFunction::request(p.method, p.n_fft, p.hop_size, ctx);
    let frames = ctx.features.request(FeatureSpec::Frames { size: p.n_fft, hop: p.hop_size });
    let rate = ctx.format.samplerate as f64;
    let hop_seconds = p.hop_size as f64 / rate;
    Ok(Onsets {
        odf,
        frames,
        silence_rms: 10f64.powf(p.silence_dbfs / 20.0) as f32,
        picker: PeakPicker::new(p.threshold, (p.min_interval / hop_seconds).round() as u64, 1.0 / hop_seconds),
        values: Vec::new(),
        loud: Vec::new(),
        offset: (p.n_fft as f64 - p.hop_size as f64 / 2.0) / rate,
        hop_seconds,
        times: Vec::new(),
        strengths: Vec::new(),
        keep: !ctx.live,
        pending: Vec::new(),
    })
}

impl Onsets {
    fn found(&mut self, (frame, strength): (u64, f32)) {
        let time = frame as f64 * self.hop_seconds + self.offset;
        if self.keep {
            self.times.push(time);
            self.strengths.push(strength);
        }
        self.pending.push(AnalysisEvent { event: "onset", time, fields: json!({ "strength": strength }) });
    }
}

impl Analyzer for Onsets {
    fn process(&mut self, block: &Block, features: &FeatureGraph) {
        self.values.clear();
        self.odf.compute(features, &mut self.values);
        self.loud.clear();
        let silence = self.silence_rms;
        self.loud.extend(features.frames(self.frames).iter().map(|f| {
            let rms = (crate::features::reduce::sum_of_squares(f) / f.len() as f32).sqrt();
            rms > silence
        }));
        for i in 0..self.values.len() {
            if let Some(onset) = self.picker.push(self.values[i], self.loud[i]) {
                self.found(onset);
            }
        }
        if block.is_empty() {
            for onset in self.picker.flush() {
                self.found(onset);
            }
        }
    }

    fn finish(self: Box<Self>, _: &FinishContext) -> Result<Finished, ProcessError> {
        Ok(Finished {
            results: vec![Output::new(
                "",
                "Onsets",
                ResultData::event_value(self.times, Values::scalars(self.strengths)),
            )],
            files: vec![],
        })
    }

    fn take_events(&mut self, out: &mut Vec<AnalysisEvent>) {
        out.append(&mut self.pending);
    }
}

/// F-measure of `found` against `truth` with a ±`tolerance` window (each true onset matches at
/// most one found onset).
#[cfg(test)]
pub fn f_measure(found: &[f64], truth: &[f64], tolerance: f64) -> f64 {
    let mut used = vec![false; found.len()];
    let mut hits = 0;
    for t in truth {
        if let Some(i) = (0..found.len()).find(|&i| !used[i] && (found[i] - t).abs() <= tolerance) {
            used[i] = true;
            hits += 1;
        }
    }
    if found.is_empty() || truth.is_empty() {
        return 0.0;
    }
    let (precision, recall) = (hits as f64 / found.len() as f64, hits as f64 / truth.len() as f64);
    if hits == 0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Lcg, mono, run};
    use super::*;

    /// Clicks (4 ms decaying noise bursts) and 100 ms tone bursts of varied pitch and level at
    /// irregular, known times.
    fn signal(rate: u32) -> (Vec<f32>, Vec<f64>) {
        let truth: Vec<f64> = (0..24).map(|i| 0.3 + i as f64 * 0.37 + 0.05 * ((i * 7) % 5) as f64).collect();
        let mut s = vec![0f32; ((truth[truth.len() - 1] + 0.5) * rate as f64) as usize];
        let mut noise = Lcg(3);
        for (i, t) in truth.iter().enumerate() {
            let start = (t * rate as f64).round() as usize;
            let level = [0.8, 0.3, 0.1][i % 3];
            if i % 2 == 0 {
                for j in 0..(0.004 * rate as f64) as usize {
                    s[start + j] += level * (noise.next() as f32) * (-(j as f32) / (0.001 * rate as f32)).exp();
                }
            } else {
                let f = 220.0 * 2f64.powf((i % 12) as f64 / 12.0);
                let len = (0.1 * rate as f64) as usize;
                for j in 0..len {
                    // Decaying, and faded out over its last 10 ms: a cut would be a click.
                    let fade = ((len - j) as f64 / (0.01 * rate as f64)).min(1.0);
                    let env = (-(j as f64) / (0.03 * rate as f64)).exp() * fade;
                    s[start + j] +=
                        (level as f64 * env * (std::f64::consts::TAU * f * j as f64 / rate as f64).sin()) as f32;
                }
            }
        }
        (s, truth)
    }

    #[test]
    fn clicks_and_tone_bursts_are_found_within_20_ms() {
        for rate in [44100, 48000] {
            let (s, truth) = signal(rate);
            for method in ["spectral_flux", "complex", "hfc"] {
                let r = run("onsets", json!({ "method": method }), mono(rate), &s);
                let found = r.get("").data_object.time.clone().expect("times");
                let f = f_measure(&found, &truth, 0.02);
                assert!(f >= 0.95, "{method} at {rate} Hz: F = {f:.3}, found {found:?}");
                assert_eq!(r.events.len(), found.len(), "every onset is also an event");
            }
        }
    }

    #[test]
    fn silence_and_a_steady_tone_have_no_onsets() {
        let r = run("onsets", json!({}), mono(22050), &vec![0.0; 22050]);
        assert!(r.get("").data_object.time.as_ref().expect("times").is_empty());
        let mut tone = super::super::testing::sine(440.0, 0.5, 2.0, 22050, 1);
        let n = tone.len();
        for (j, x) in tone.iter_mut().enumerate() {
            // A 200 ms raised-cosine release: a cut would be a click.
            let left = ((n - j) as f32 / 4410.0).min(1.0);
            *x *= 0.5 - 0.5 * (std::f32::consts::PI * left).cos();
        }
        let r = run("onsets", json!({}), mono(22050), &tone);
        // The tone's own start (at 0) at most.
        let times = r.get("").data_object.time.clone().expect("times");
        assert!(times.len() <= 1, "{times:?} {:?}", r.values("").as_flat());
    }
}
